package stack

import (
	"context"
	"errors"
	"math/rand/v2"
	"net"
	"net/http"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hastack/hastack/internal/rds"
	"github.com/hastack/hastack/internal/spec"
	"github.com/hastack/hastack/internal/vpc"
)

// fakeDB stands in for the database: it records which regions' nodes are
// stopped, and each regional operation takes delay, like a real one.
type fakeDB struct {
	delay time.Duration
	// hold, when set, makes StopRegion wait for it to close; stopping is
	// closed once StopRegion has started.
	hold, stopping chan struct{}

	mu      sync.Mutex
	stopped map[string]bool
	// stopCtxErr is the context's error as StopRegion finished.
	stopCtxErr error
	stops      int
}

func newFakeDB(delay time.Duration) *fakeDB {
	return &fakeDB{delay: delay, stopped: map[string]bool{}}
}

func (f *fakeDB) StopRegion(ctx context.Context, region string) error {
	if f.stopping != nil {
		close(f.stopping)
	}
	if f.hold != nil {
		<-f.hold
	}
	time.Sleep(f.delay) // the work a real stop does
	f.mu.Lock()
	defer f.mu.Unlock()
	f.stopped[region] = true
	f.stopCtxErr = ctx.Err()
	f.stops++
	return nil
}

func (f *fakeDB) StartRegion(_ context.Context, region string) error {
	time.Sleep(f.delay)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.stopped[region] = false
	return nil
}

func (f *fakeDB) regionStopped(region string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.stopped[region]
}

func (f *fakeDB) StopNode(context.Context, string) error    { return nil }
func (f *fakeDB) RecoverNode(context.Context, string) error { return nil }
func (f *fakeDB) KillPrimary() error                        { return nil }
func (f *fakeDB) Promote(context.Context, string) error     { return nil }
func (f *fakeDB) Nodes() []rds.NodeStatus                   { return nil }
func (f *fakeDB) Rejoin(context.Context) ([]string, error)  { return nil, nil }

func (f *fakeDB) PromoteRegion(context.Context, string, bool) (rds.Promotion, error) {
	return rds.Promotion{}, nil
}

func (f *fakeDB) Switchover(context.Context, string) (rds.Switchover, error) {
	return rds.Switchover{}, nil
}

// newTestStack builds the quick example's stack around db. With start its
// lbTestPort is a port free on every one of addrs, below the kernel's
// ephemeral range: a port the kernel hands out (":0") may be taken a
// moment later as the source port of a connection from one of them, such
// as a load balancer's to its targets in a test running beside this one.
func lbTestPort(t *testing.T, addrs ...string) int {
	t.Helper()
	for range 100 {
		port := 20000 + rand.IntN(12000)
		free := true
		for _, a := range addrs {
			ln, err := net.Listen("tcp", net.JoinHostPort(a, strconv.Itoa(port)))
			if err != nil {
				free = false
				break
			}
			ln.Close()
		}
		if free {
			return port
		}
	}
	t.Fatalf("no port free on %v", addrs)
	return 0
}

// regions run until the test ends, with empty groups run as the current
// user and load balancers on a free port; without, nothing runs and the
// stack file is the example's own.
func newTestStack(t *testing.T, db clusterOps, start bool) *Stack {
	t.Helper()
	s := loadQuick(t)
	if start {
		s = testSpec(t, lbTestPort(t, "127.1.1.10", "127.2.1.10"))
	}
	plan, err := vpc.New(s)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	st := &Stack{spec: s, plan: plan, opts: Options{Executable: "/bin/true"}, paths: Paths{Dir: t.TempDir()},
		logger: discardLogger(), events: &eventLog{logger: discardLogger()}, dbOps: db, runCtx: ctx,
		started: time.Now(), registry: prometheus.NewRegistry()}
	if err := st.paths.prepare(); err != nil {
		t.Fatal(err)
	}
	for i := range s.Regions {
		st.regions = append(st.regions, &region{spec: &s.Regions[i], plan: &plan.Regions[i], st: st})
	}
	t.Cleanup(func() {
		for _, r := range st.regions {
			r.close()
		}
		cancel()
	})
	if start {
		for _, r := range st.regions {
			ln, err := listenTCP("load balancer", r.lbAddr())
			if err != nil {
				t.Fatal(err)
			}
			if err := r.start(ctx, ln); err != nil {
				t.Fatal(err)
			}
		}
	}
	return st
}

// testSpec is the quick example with empty groups run as the current
// user and load balancers on port.
func testSpec(t *testing.T, port int) *spec.Stack {
	s := loadQuick(t)
	for i := range s.Regions {
		r := &s.Regions[i]
		r.AutoScaling.Min, r.AutoScaling.Desired, r.AutoScaling.Max = 0, 0, 1
		r.AutoScaling.LaunchTemplate.User = "root"
		r.LoadBalancer.Port = port
	}
	return s
}

// TestFailRecoverRace: `fail region --mode crash` and `recover region` at
// the same time leave the region whole one way or the other: its load
// balancer runs exactly when its database nodes do.
func TestFailRecoverRace(t *testing.T) {
	db := newFakeDB(2 * time.Millisecond)
	st := newTestStack(t, db, true)
	r := st.regions[0]
	name := r.spec.Name
	ctx := context.Background()
	for i := range 30 {
		var wg sync.WaitGroup
		start := make(chan struct{})
		wg.Go(func() { <-start; _ = st.Fail(ctx, Fault{Kind: FaultRegion, Name: name, Mode: ModeCrash}) })
		wg.Go(func() { <-start; _ = st.Recover(ctx, Fault{Kind: FaultRegion, Name: name}) })
		close(start)
		wg.Wait()
		lb, _, failed := r.parts()
		lbUp, dbUp := lb != nil, !db.regionStopped(name)
		if lbUp != dbUp || failed == lbUp {
			t.Fatalf("round %d: load balancer running %v, database nodes running %v, region failed %v", i, lbUp, dbUp, failed)
		}
		if failed {
			if err := st.Recover(ctx, Fault{Kind: FaultRegion, Name: name}); err != nil {
				t.Fatalf("round %d: recovering: %v", i, err)
			}
		}
	}
}

// TestOperationOutlivesCaller: a fault asked for over the control API runs
// to its end, with a live context, after the caller hangs up (Ctrl-C).
func TestOperationOutlivesCaller(t *testing.T) {
	db := newFakeDB(0)
	db.hold, db.stopping = make(chan struct{}), make(chan struct{})
	st := newTestStack(t, db, true)
	sock := filepath.Join(st.paths.Dir, "control.sock")
	ln, err := listenControl(sock)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done, _ := st.serveAPI(ctx, ln)
	defer func() { cancel(); <-done }()

	c, err := Dial(st.paths.Dir)
	if !errors.Is(err, ErrNotRunning) {
		t.Fatalf("Dial without a lock: %v", err)
	}
	c = &Client{paths: st.paths, http: unixClient(sock)}
	callCtx, hangUp := context.WithCancel(context.Background())
	callErr := make(chan error, 1)
	go func() { callErr <- c.Inject(callCtx, Fault{Kind: FaultRegion, Name: "us-east-1", Mode: ModeCrash}) }()
	<-db.stopping
	hangUp()
	if err := <-callErr; !errors.Is(err, context.Canceled) {
		t.Fatalf("the interrupted call returned %v", err)
	}
	close(db.hold)
	waitUntil(t, "the fault completes", func() bool { return db.regionStopped("us-east-1") })
	db.mu.Lock()
	ctxErr := db.stopCtxErr
	db.mu.Unlock()
	if ctxErr != nil {
		t.Fatalf("the operation's context ended with the caller: %v", ctxErr)
	}
	if _, _, failed := st.regions[0].parts(); !failed {
		t.Fatal("the region is not marked failed")
	}
}

// TestApplyWaitsForOperations: an apply waits for a fault in progress.
func TestApplyWaitsForOperations(t *testing.T) {
	db := newFakeDB(0)
	db.hold, db.stopping = make(chan struct{}), make(chan struct{})
	st := newTestStack(t, db, true)
	failed := make(chan error, 1)
	go func() {
		failed <- st.Fail(context.Background(), Fault{Kind: FaultRegion, Name: "us-east-1", Mode: ModeCrash})
	}()
	<-db.stopping
	n := testSpec(t, st.spec.Regions[0].LoadBalancer.Port)
	n.Regions[0].AutoScaling.Max = 3
	applied := make(chan error, 1)
	go func() { _, err := st.Apply(n, false); applied <- err }()
	select {
	case err := <-applied:
		t.Fatalf("apply ran during a fault: %v", err)
	case <-time.After(50 * time.Millisecond):
	}
	close(db.hold)
	if err := <-failed; err != nil {
		t.Fatal(err)
	}
	if err := <-applied; err != nil {
		t.Fatalf("apply after the fault: %v", err)
	}
	if got := st.spec.Regions[0].AutoScaling.Max; got != 3 {
		t.Fatalf("max_size after apply = %d, want 3", got)
	}
}

func unixClient(sock string) *http.Client {
	return &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", sock)
	}}}
}

// waitUntil polls cond until it holds, failing the test after 10s.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		<-tick.C
	}
}
