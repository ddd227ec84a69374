package rds

import (
	"context"
	"errors"
	"log/slog"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hastack/hastack/internal/testenv"
)

// flakyEngine fails the first dials (a login that times out on a loaded
// machine), then gives sessions that record what they were told. It
// does nothing on nodes' files and processes (the embedded nil engine).
type flakyEngine struct {
	engine
	mu       sync.Mutex
	failures int
	readOnly []bool
}

func (e *flakyEngine) handshake(context.Context, netip.Addr, netip.AddrPort) error { return nil }

func (e *flakyEngine) dial(context.Context, netip.Addr, *node, time.Duration) (session, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.failures > 0 {
		e.failures--
		return nil, errors.New("failed SASL auth: timeout")
	}
	return recordingSession{e}, nil
}

func (e *flakyEngine) told() []bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]bool(nil), e.readOnly...)
}

type recordingSession struct{ e *flakyEngine }

func (s recordingSession) setReadOnly(_ context.Context, on bool) error {
	s.e.mu.Lock()
	defer s.e.mu.Unlock()
	s.e.readOnly = append(s.e.readOnly, on)
	return nil
}

func (recordingSession) ping(context.Context) error { return nil }
func (recordingSession) close(context.Context)      {}
func (recordingSession) closed() bool               { return false }
func (recordingSession) observe(context.Context, serverConf) (engineObs, error) {
	return engineObs{}, nil
}
func (recordingSession) written(context.Context) (Position, error) { return Position{}, nil }
func (recordingSession) replayed(context.Context) (Position, float64, error) {
	return Position{}, 0, nil
}
func (recordingSession) promote(context.Context) (int, error) { return 0, nil }
func (recordingSession) checkpoint(context.Context) error     { return nil }
func (recordingSession) shutdown(context.Context)             {}

// TestLeaseLossRetriesReadOnly: when its region loses the write lease
// and the primary cannot be made read-only at once, it is tried again
// until it is, and said so; when the lease comes back meanwhile, the
// retries stop.
func TestLeaseLossRetriesReadOnly(t *testing.T) {
	rec := newRecorder()
	eng := &flakyEngine{failures: 3}
	prim := &node{cfg: NodeConfig{Name: "db-a", Region: "east", Addr: netip.MustParseAddr("127.0.79.5")}, port: 5432}
	c := &Cluster{
		cfg: Config{OnEvent: rec.onEvent}, log: slog.New(slog.DiscardHandler), eng: eng, probe: 100 * time.Millisecond,
		byName: map[string]*node{prim.cfg.Name: prim}, writers: map[string]*endpoint{}, problems: map[string]string{},
		fence: &fencing{lost: map[string]bool{}, released: map[string]bool{}},
		state: State{Primary: prim.cfg.Name},
	}
	c.bgCtx, c.bgCancel = context.WithCancel(context.Background())
	defer c.bgCancel()

	c.leaseChanged("east", false)
	testenv.WaitFor(t, "the primary made read-only after failed attempts", 10*time.Second, func() bool {
		return strings.Contains(eventsOnly(rec), "primary db-a is read-only now: east lost its write lease")
	})
	if got := eng.told(); len(got) != 1 || !got[0] {
		t.Errorf("the primary was told read-only %v, want once true", got)
	}
	if events := eventsOnly(rec); !strings.Contains(events, "could not be made read-only yet (failed SASL auth: timeout)") {
		t.Errorf("the first failure is not said:\n%s", events)
	}

	// Lost again, and held again before any retry gets through: the
	// retries for read-only stop, and the primary is opened.
	eng.mu.Lock()
	eng.failures, eng.readOnly = 1, nil
	eng.mu.Unlock()
	c.leaseChanged("east", false)
	c.leaseChanged("east", true)
	testenv.WaitFor(t, "the primary opened again", 10*time.Second, func() bool {
		got := eng.told()
		return len(got) > 0 && !got[len(got)-1]
	})
	// The retry for read-only ends by itself, seeing the lease held.
	drained := make(chan struct{})
	go func() { c.bg.Wait(); close(drained) }()
	select {
	case <-drained:
	case <-time.After(10 * time.Second):
		t.Fatal("the retries for read-only go on after the lease came back")
	}
	if got := eng.told(); len(got) != 1 || got[0] {
		t.Errorf("after the lease came back the primary was told %v, want only writable", got)
	}
}
