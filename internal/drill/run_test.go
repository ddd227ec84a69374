package drill

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hastack/hastack/internal/rds"
	"github.com/hastack/hastack/internal/stack"
)

// fakeStack is a Controller whose stack answers every request and takes
// every fault but failOn; nothing listens at its database's address.
type fakeStack struct {
	st     stack.Status
	failOn string

	mu       sync.Mutex
	injected []string
	undone   []string
}

func (f *fakeStack) Status(context.Context) (stack.Status, error) { return f.st, nil }

func (f *fakeStack) Inject(_ context.Context, fault stack.Fault) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if fault.String() == f.failOn {
		return errors.New("refused")
	}
	f.injected = append(f.injected, fault.String())
	return nil
}

func (f *fakeStack) Undo(_ context.Context, fault stack.Fault) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.undone = append(f.undone, fault.String())
	return nil
}

func (f *fakeStack) Promote(context.Context, string) error { return nil }
func (f *fakeStack) Switchover(context.Context, string) (rds.Switchover, error) {
	return rds.Switchover{}, nil
}
func (f *fakeStack) Events(context.Context) ([]stack.Event, error) { return nil, nil }
func (f *fakeStack) DatabaseURL(context.Context, bool, string) (string, error) {
	return "postgres://app:secret@127.0.0.1:1/app", nil
}

func newFakeStack(t *testing.T) (*fakeStack, string) {
	t.Helper()
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	t.Cleanup(app.Close)
	st := quickStatus()
	st.Ready = true
	st.DNS = stack.DNSStatus{Address: "127.0.0.1:1", Name: "app.example.com"}
	for i := range st.Database.Nodes {
		st.Database.Nodes[i].Address, st.Database.Nodes[i].Running = "127.0.0.1:1", true
	}
	return &fakeStack{st: st}, app.URL
}

// TestRunUndoesWhatItBroke: when one of a scenario's faults cannot be
// injected, the drill fails and undoes those already in place, the link
// delay included, and every goroutine it started ends (TestMain checks).
func TestRunUndoesWhatItBroke(t *testing.T) {
	ctl, url := newFakeStack(t)
	ctl.failOn = "partition us-east-1a us-west-2"
	sc, _ := Find("az-isolation")
	_, err := Run(context.Background(), ctl, sc, Options{Warmup: 50 * time.Millisecond, Load: LoadConfig{URL: url}})
	if err == nil || !strings.Contains(err.Error(), "partition us-east-1a us-west-2: refused") {
		t.Fatalf("Run = %v, want the refused injection", err)
	}
	want := []string{"partition us-east-1a us-east-1"}
	if !slices.Equal(ctl.injected, want) || !slices.Equal(ctl.undone, want) {
		t.Fatalf("injected %q, undone %q; want %q undone", ctl.injected, ctl.undone, want)
	}

	ctl, url = newFakeStack(t)
	ctl.failOn = "region us-east-1 --mode crash"
	sc, _ = Find("region-crash")
	_, err = Run(context.Background(), ctl, sc, Options{Warmup: 50 * time.Millisecond, LinkDelay: 500 * time.Millisecond, Load: LoadConfig{URL: url}})
	if err == nil {
		t.Fatal("Run succeeded with a refused fault")
	}
	if want := []string{"network us-east-1 --to us-west-2 --delay 500ms"}; !slices.Equal(ctl.undone, want) {
		t.Fatalf("undone %q, want the link delay %q", ctl.undone, want)
	}
}

// TestRunRefusesBadOptions before it touches the stack.
func TestRunRefusesBadOptions(t *testing.T) {
	ctl, _ := newFakeStack(t)
	sc, _ := Find("region-crash")
	if _, err := Run(context.Background(), ctl, sc, Options{Loss: 20}); err == nil || !strings.Contains(err.Error(), "takes no --loss") {
		t.Fatalf("Run = %v", err)
	}
	if len(ctl.injected) != 0 {
		t.Fatalf("injected %q", ctl.injected)
	}
}

func TestNotRestored(t *testing.T) {
	before := quickStatus()
	before.DNS.Answer = "127.1.1.10"
	before.Database.SyncStandby = true
	for i := range before.Database.Nodes {
		before.Database.Nodes[i].Running = true
	}
	for i := range before.Regions {
		before.Regions[i].LoadBalancer.HealthyTargets = 2
	}
	tests := []struct {
		name   string
		change func(st *stack.Status)
		want   string
	}{
		{"as before", func(*stack.Status) {}, ""},
		{"roles swapped", func(st *stack.Status) {
			st.Database.Nodes[0].Role, st.Database.Nodes[1].Role = "standby", "primary"
		}, ""},
		{"DNS elsewhere", func(st *stack.Status) { st.DNS.Answer = "127.2.1.10" }, "DNS answers 127.2.1.10, answered 127.1.1.10"},
		{"a region still failed", func(st *stack.Status) { st.Regions[0].Failed = true }, "region us-east-1 still failed"},
		{"no healthy target", func(st *stack.Status) { st.Regions[1].LoadBalancer.HealthyTargets = 0 }, "no healthy target behind the load balancer of us-west-2"},
		{"another desired capacity", func(st *stack.Status) { st.Regions[0].AutoScaling = &stack.ASGStatus{Desired: 3} }, "the group of us-east-1 wants 3 instances, wanted 2"},
		// The old primary, fenced after a failover, never came back.
		{"a database node still down", func(st *stack.Status) { st.Database.Nodes[0].Running = false }, "database node db-us-east-1a not running"},
		// A promotion could not reach it, and it has not rejoined.
		{"a former primary still runs as one", func(st *stack.Status) {
			st.Database.Nodes[0].Fenced = true
			st.Database.Nodes[0].Role, st.Database.Nodes[2].Role = "replica", "primary"
		}, "former primary db-us-east-1a still runs as a primary"},
		{"no synchronous standby any more", func(st *stack.Status) { st.Database.SyncStandby = false }, "commits wait for no synchronous standby"},
		// A replica promoted in another region has no standby there.
		{"primary in another region, no synchronous standby", func(st *stack.Status) {
			st.Database.SyncStandby = false
			st.Database.Nodes[0].Role, st.Database.Nodes[2].Role = "replica", "primary"
		}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			now := before
			now.Regions = slices.Clone(before.Regions)
			now.Database.Nodes = slices.Clone(before.Database.Nodes)
			tt.change(&now)
			if got := NotRestored(before, now); got != tt.want {
				t.Fatalf("NotRestored = %q, want %q", got, tt.want)
			}
		})
	}
}

// TestUndoAllOrder: the link delay goes first, so recovering the faults
// does not pay for it; then the faults, newest first, past a failure.
func TestUndoAllOrder(t *testing.T) {
	ctl, _ := newFakeStack(t)
	d := &driver{ctl: ctl,
		env:     []stack.Fault{{Kind: stack.FaultNetwork, Name: "us-east-1", Other: "us-west-2", Delay: time.Second}},
		inPlace: []stack.Fault{{Kind: stack.FaultPartition, Name: "a", Other: "b"}, {Kind: stack.FaultPartition, Name: "a", Other: "c"}},
	}
	if err := d.undoAll(); err != nil {
		t.Fatal(err)
	}
	want := []string{"network us-east-1 --to us-west-2 --delay 1s", "partition a c", "partition a b"}
	if !slices.Equal(ctl.undone, want) {
		t.Fatalf("undone %q, want %q", ctl.undone, want)
	}
	if err := d.undoAll(); err != nil || len(ctl.undone) != 3 {
		t.Fatalf("a second undoAll: %v, undone %q", err, ctl.undone)
	}
}

// TestRunLeavesUnrecoverableFaults: a killed instance is its group's to
// replace; the drill does not ask the stack to recover it.
func TestRunLeavesUnrecoverableFaults(t *testing.T) {
	ctl, _ := newFakeStack(t)
	d := &driver{ctl: ctl}
	if _, err := d.inject(context.Background(), []stack.Fault{{Kind: stack.FaultInstance, Name: "i-1"}}, false); err != nil {
		t.Fatal(err)
	}
	if err := d.undoAll(); err != nil || len(ctl.undone) != 0 {
		t.Fatalf("undoAll: %v, undone %q", err, ctl.undone)
	}
}

// TestNotRecoveredUntilUndone: in a region scenario, clients served again
// only once the drill has undone the fault, after its timeout, is no
// failover: the drill fails rather than timing the undo.
func TestNotRecoveredUntilUndone(t *testing.T) {
	ctl, _ := newFakeStack(t)
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctl.mu.Lock()
		down := len(ctl.injected) > len(ctl.undone)
		ctl.mu.Unlock()
		if down {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	t.Cleanup(app.Close)
	sc, _ := Find("region-crash")
	rep, err := Run(context.Background(), ctl, sc, Options{
		Warmup: 200 * time.Millisecond, Timeout: 600 * time.Millisecond, Sustain: 100 * time.Millisecond, Settle: 300 * time.Millisecond,
		Load: LoadConfig{URL: app.URL},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(ctl.undone) == 0 {
		t.Fatal("the fault was not undone")
	}
	if rep.Recovered || rep.Passed {
		t.Fatalf("recovered %v (RTO %.2f s), passed %v: the clients were served again only after the fault was undone", rep.Recovered, rep.RTOSeconds, rep.Passed)
	}
}
