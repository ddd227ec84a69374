package stack

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/hastack/hastack/internal/rds"
)

// regionDB records the promotions and switchovers it is asked for.
type regionDB struct {
	*fakeDB
	mu    sync.Mutex
	calls []string
	err   error
}

func (d *regionDB) record(call string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.calls = append(d.calls, call)
	return d.err
}

func (d *regionDB) PromoteRegion(_ context.Context, region string, force bool) (rds.Promotion, error) {
	call := "promote " + region
	if force {
		call += " --force"
	}
	return rds.Promotion{Region: region, Node: "db-" + region + "a", Lag: &rds.Lag{Bytes: 8192, Seconds: 0.25}, Forced: force}, d.record(call)
}

func (d *regionDB) Switchover(_ context.Context, region string) (rds.Switchover, error) {
	return rds.Switchover{Region: region, To: "db-" + region + "a", WriteDowntimeSeconds: 0.3}, d.record("switchover " + region)
}

// TestRegionOperationsOverTheAPI: promote (with --force carried) and
// switchover reach the database through the control API and answer
// with its report; an unknown region is refused before, a refusal of
// the database comes back as its sentence.
func TestRegionOperationsOverTheAPI(t *testing.T) {
	db := &regionDB{fakeDB: newFakeDB(0)}
	st := newTestStack(t, db, false)
	sock := filepath.Join(st.paths.Dir, "control.sock")
	ln, err := listenControl(sock)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done, _ := st.serveAPI(ctx, ln)
	defer func() { cancel(); <-done }()
	c := &Client{paths: st.paths, http: unixClient(sock)}

	p, err := c.PromoteRegion(ctx, "us-west-2", true)
	if err != nil || p.Node != "db-us-west-2a" || !p.Forced || p.Lag == nil || p.Lag.Bytes != 8192 {
		t.Fatalf("PromoteRegion: %+v, %v", p, err)
	}
	if err := c.Promote(ctx, "us-west-2"); err != nil {
		t.Fatalf("Promote, as drills ask for it: %v", err)
	}
	s, err := c.Switchover(ctx, "us-east-1")
	if err != nil || s.To != "db-us-east-1a" || s.WriteDowntimeSeconds != 0.3 {
		t.Fatalf("Switchover: %+v, %v", s, err)
	}
	if _, err := c.Switchover(ctx, "mars"); err == nil || !strings.Contains(err.Error(), `no region named "mars"`) {
		t.Fatalf("a switchover to an unknown region: %v", err)
	}
	if _, err := c.PromoteRegion(ctx, "venus", false); err == nil || !strings.Contains(err.Error(), `no region named "venus"`) {
		t.Fatalf("promoting an unknown region: %v", err)
	}
	refusal := errors.New("refusing to promote db-us-west-2a in us-west-2: it does not answer")
	db.mu.Lock()
	db.err = refusal
	db.mu.Unlock()
	if _, err := c.PromoteRegion(ctx, "us-west-2", false); err == nil || err.Error() != refusal.Error() {
		t.Fatalf("a refused promotion: %v", err)
	}
	want := []string{"promote us-west-2 --force", "promote us-west-2", "switchover us-east-1", "promote us-west-2"}
	db.mu.Lock()
	defer db.mu.Unlock()
	if strings.Join(db.calls, "; ") != strings.Join(want, "; ") {
		t.Fatalf("calls %q, want %q", db.calls, want)
	}
}
