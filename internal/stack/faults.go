package stack

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/hastack/hastack/internal/rds"
)

// clusterOps is what faults, recovery and promotion ask of the database.
type clusterOps interface {
	StopRegion(ctx context.Context, region string) error
	StartRegion(ctx context.Context, region string) error
	StopNode(ctx context.Context, name string) error
	RecoverNode(ctx context.Context, name string) error
	KillPrimary() error
	Promote(ctx context.Context, region string) error
	PromoteRegion(ctx context.Context, region string, force bool) (rds.Promotion, error)
	Switchover(ctx context.Context, region string) (rds.Switchover, error)
	Nodes() []rds.NodeStatus
	Rejoin(ctx context.Context) ([]string, error)
}

var _ clusterOps = (*rds.Cluster)(nil)

// Fail injects a fault and returns once it is in place; Status lists it
// until Recover undoes it. Faults, recoveries, promotions and applies run
// one at a time: a recovery racing a fault of the same region could
// otherwise leave its load balancer up and its database nodes down.
func (st *Stack) Fail(ctx context.Context, f Fault) error {
	st.opsMu.Lock()
	defer st.opsMu.Unlock()
	f, err := f.check()
	if err != nil {
		return err
	}
	if f.needsNetwork() {
		if err := st.needNetwork(); err != nil {
			return err
		}
	}
	active := st.faultsNow()
	for _, a := range active {
		if conflicts(a.Fault, f) {
			return alreadyInPlace(a.Fault)
		}
	}
	var what string
	switch f.Kind {
	case FaultRegion:
		r, err := st.region(f.Name)
		if err != nil {
			return err
		}
		if f.Mode == ModeIsolate {
			if err := st.enforce(append(plain(active), f)); err != nil {
				return err
			}
			r.setFault(ModeIsolate)
			what = fmt.Sprintf("region %s isolated: every packet between it and any address outside it is dropped; its load balancer, instances and database nodes keep running", f.Name)
			break
		}
		// The network goes dark first, so nothing the region sends from
		// now on, nor anything it had on its way, gets out.
		if st.net != nil {
			if err := st.enforce(append(plain(active), f)); err != nil {
				return err
			}
		}
		started := time.Now()
		rep, err := r.crash(func() error { return st.dbOps.StopRegion(ctx, f.Name) })
		st.record(f) // whatever failed, the region is down and recover brings it back
		if err != nil {
			return err
		}
		dark := ""
		if st.net != nil {
			dark = "; its network is dark until it is recovered"
		}
		st.events.Add("fault.inject", fmt.Sprintf("region %s crashed: its load balancer closed with every connection, SIGKILL to its %d instances (within %s) and its database nodes, all gone %s after the fault%s",
			f.Name, len(rep.Instances), rep.Spread.Round(time.Microsecond), time.Since(started).Round(time.Millisecond), dark))
		return nil
	case FaultPartition, FaultNetwork:
		if err := st.enforce(append(plain(active), f)); err != nil {
			return err
		}
		what = fmt.Sprintf("%s: %s", f, f.details())
	case FaultInstance:
		for _, r := range st.regions {
			_, group, _ := r.parts()
			if group == nil {
				continue
			}
			if err := group.Kill(f.Name); err == nil {
				st.events.Add("fault.inject", fmt.Sprintf("instance %s in %s killed (SIGKILL)", f.Name, r.spec.Name))
				return nil
			}
		}
		return fmt.Errorf("no running instance %q in stack %s (see hastack status)", f.Name, st.spec.Name)
	case FaultAZ:
		r, err := st.azRegion(f.Name)
		if err != nil {
			return err
		}
		if err := r.blockAZ(f.Name); err != nil {
			return err
		}
		for _, n := range st.dbOps.Nodes() {
			if n.AZ == f.Name && n.Running {
				if err := st.dbOps.StopNode(ctx, n.Name); err != nil {
					st.record(f)
					return fmt.Errorf("stopping database node %s: %w", n.Name, err)
				}
			}
		}
		what = fmt.Sprintf("AZ %s failed: its instances and database nodes stopped, no launches there", f.Name)
	case FaultDBPrimary:
		f.Name = st.primaryNode()
		if err := st.dbOps.KillPrimary(); err != nil {
			return err
		}
		what = fmt.Sprintf("database primary %s killed (kill -9 of its postmaster)", f.Name)
	}
	st.record(f)
	st.events.Add("fault.inject", what)
	return nil
}

// alreadyInPlace refuses a fault that conflicts with one in place.
func alreadyInPlace(a Fault) error {
	switch a.Kind {
	case FaultRegion:
		return fmt.Errorf("region %s is already failed (%s); recover it first", a.Name, a.Mode)
	case FaultAZ:
		return fmt.Errorf("AZ %s is already failed", a.Name)
	}
	undo := []string{a.Kind, a.Name}
	if a.Kind == FaultPartition || a.Other != "" {
		if a.Kind == FaultNetwork {
			undo = append(undo, "--to")
		}
		undo = append(undo, a.Other)
	}
	return fmt.Errorf("%s is already in place; undo it first with hastack recover %s", a, strings.Join(undo, " "))
}

// primaryNode names the database node that is primary now.
func (st *Stack) primaryNode() string {
	for _, n := range st.dbOps.Nodes() {
		if n.Role == "primary" {
			return n.Name
		}
	}
	return ""
}

// Recover undoes a fault in place and returns once the network is
// restored, or the recovered parts are started (not necessarily healthy
// yet). It waits for any operation in progress.
func (st *Stack) Recover(ctx context.Context, f Fault) error {
	st.opsMu.Lock()
	defer st.opsMu.Unlock()
	if f.Kind == FaultInstance {
		return fmt.Errorf("a killed instance is replaced by its group; there is nothing to recover")
	}
	if err := knownKind(f.Kind); err != nil {
		return err
	}
	var found []activeFault
	var rest []Fault
	for _, a := range st.faultsNow() {
		if matches(a.Fault, f) {
			found = append(found, a)
		} else {
			rest = append(rest, a.Fault)
		}
	}
	// A database server that stopped on its own (a crash, an OOM kill) is
	// brought back by recover db-primary too, at once rather than after its
	// restart backoff.
	var crashed []string
	if f.Kind == FaultDBPrimary {
		crashed = crashedNodes(st.dbOps.Nodes(), rest, found)
	}
	if len(found) == 0 && len(crashed) == 0 {
		return notInPlace(f)
	}
	undone := func(a Fault) bool { return matches(a, f) }
	switch f.Kind {
	case FaultRegion:
		r, err := st.region(f.Name)
		if err != nil {
			return err
		}
		if found[0].Mode == ModeIsolate {
			if err := st.enforce(rest); err != nil {
				return err
			}
			r.setFault("")
			st.forget(undone)
			st.events.Add("fault.recover", fmt.Sprintf("region %s recovered: reachable again", f.Name))
			st.healDatabase(ctx, rest)
			return nil
		}
		if err := st.enforce(rest); err != nil {
			return err
		}
		ln, err := listenTCP("load balancer", r.lbAddr())
		if err != nil {
			return err
		}
		// The database first: a former primary rejoins as a follower of the
		// new one before any instance of the region can reach it.
		if err := st.dbOps.StartRegion(ctx, f.Name); err != nil {
			ln.Close()
			return fmt.Errorf("starting the database nodes of %s: %w", f.Name, err)
		}
		if err := r.start(st.runCtx, ln); err != nil {
			return err
		}
		st.forget(undone)
		st.events.Add("fault.recover", fmt.Sprintf("region %s recovered: database nodes, load balancer and instances starting", f.Name))
		return nil
	case FaultPartition, FaultNetwork:
		if err := st.enforce(rest); err != nil {
			return err
		}
		st.forget(undone)
		st.events.Add("fault.recover", fmt.Sprintf("%s recovered: %s no more", found[0].Fault, found[0].details()))
		st.healDatabase(ctx, rest)
		return nil
	case FaultAZ:
		r, err := st.azRegion(f.Name)
		if err != nil {
			return err
		}
		if err := r.unblockAZ(f.Name); err != nil {
			return err
		}
		st.forget(undone)
		for _, n := range st.dbOps.Nodes() {
			if n.AZ == f.Name && !n.Running {
				if err := st.dbOps.RecoverNode(ctx, n.Name); err != nil {
					return fmt.Errorf("recovering database node %s: %w", n.Name, err)
				}
			}
		}
		st.events.Add("fault.recover", fmt.Sprintf("AZ %s recovered: launches resume there, its database nodes rejoin", f.Name))
		return nil
	case FaultDBPrimary:
		var recovered []string
		for _, a := range found {
			if err := st.dbOps.RecoverNode(ctx, a.Name); err != nil {
				return fmt.Errorf("recovering database node %s: %w", a.Name, err)
			}
			st.forget(func(b Fault) bool { return b == a.Fault })
			recovered = append(recovered, a.Name)
		}
		for _, name := range crashed {
			if err := st.dbOps.RecoverNode(ctx, name); err != nil {
				return fmt.Errorf("recovering database node %s: %w", name, err)
			}
			recovered = append(recovered, name)
		}
		st.events.Add("fault.recover", fmt.Sprintf("database node %s back, following the current primary", strings.Join(recovered, ", ")))
		return nil
	}
	return notInPlace(f)
}

// healDatabase runs once a network fault is lifted. A former primary
// that a promotion could not reach, still running, rejoins as a follower
// (pg_rewind discards what it took since), and a node that stopped while
// it was cut off comes back, unless a fault still in place (rest) keeps
// it down. What cannot be done yet, because another cut is still in
// place, is said in an event; the monitor and the next recover retry.
func (st *Stack) healDatabase(ctx context.Context, rest []Fault) {
	if st.dbOps == nil {
		return
	}
	rejoined, err := st.dbOps.Rejoin(ctx)
	if len(rejoined) > 0 {
		st.events.Add("fault.recover", fmt.Sprintf("database node %s rejoined as a follower of the current primary", strings.Join(rejoined, ", ")))
	}
	if err != nil {
		st.events.Add("error", fmt.Sprintf("rejoining former primaries: %v", err))
	}
	for _, name := range crashedNodes(st.dbOps.Nodes(), rest, nil) {
		if err := st.dbOps.RecoverNode(ctx, name); err != nil {
			st.events.Add("error", fmt.Sprintf("recovering database node %s: %v", name, err))
			continue
		}
		st.events.Add("fault.recover", fmt.Sprintf("database node %s back, following the current primary", name))
	}
}

// notInPlace refuses to recover a fault that is not in place.
func notInPlace(f Fault) error {
	switch f.Kind {
	case FaultRegion:
		return fmt.Errorf("region %s is not failed", f.Name)
	case FaultAZ:
		return fmt.Errorf("AZ %s is not failed", f.Name)
	case FaultDBPrimary:
		return fmt.Errorf("no killed database primary to recover")
	case FaultPartition:
		return fmt.Errorf("there is no partition between %s and %s to recover (see hastack status)", f.Name, f.Other)
	case FaultNetwork:
		if f.Other == "" {
			return fmt.Errorf("there is no network fault on %s to recover (see hastack status)", f.Name)
		}
		return fmt.Errorf("there is no network fault between %s and %s to recover (see hastack status)", f.Name, f.Other)
	}
	return fmt.Errorf("no %s fault to recover", f.Kind)
}

// azRegion finds the region an AZ belongs to.
func (st *Stack) azRegion(az string) (*region, error) {
	for _, r := range st.regions {
		for _, a := range r.spec.VPC.AZs {
			if a == az {
				return r, nil
			}
		}
	}
	return nil, fmt.Errorf("no AZ named %q in stack %s", az, st.spec.Name)
}

func (st *Stack) region(name string) (*region, error) {
	for _, r := range st.regions {
		if r.spec.Name == name {
			return r, nil
		}
	}
	return nil, fmt.Errorf("no region named %q in stack %s", name, st.spec.Name)
}

// Promote promotes the database replica in region to primary, fencing
// the old primary: the seed's manual cross-region failover.
func (st *Stack) Promote(ctx context.Context, region string) error {
	st.opsMu.Lock()
	defer st.opsMu.Unlock()
	if _, err := st.region(region); err != nil {
		return err
	}
	return st.dbOps.Promote(ctx, region)
}

// regionLost tells the database's automatic cross-region failover that
// Route53 counts region, the one that holds the database primary, as
// unhealthy: its record's health check fails. It asks about the record,
// not about DNS's answer: once the primary has moved to the secondary
// region and the primary region has recovered, DNS answers the primary
// region again, though the region holding the database is well.
func (st *Stack) regionLost(region string) bool {
	if st.dnsCtl == nil {
		return false
	}
	for _, t := range st.dnsCtl.Status() {
		if t.SetID == region {
			return !t.Healthy
		}
	}
	return false
}

// crashedNodes names the database nodes that are down though no fault in
// place stopped them: not killed by fail db-primary (killed), not in a
// crashed region, not in a failed AZ.
func crashedNodes(nodes []rds.NodeStatus, faults []Fault, killed []activeFault) []string {
	var out []string
	for _, n := range nodes {
		if n.Running || n.Role == rds.RoleSpare {
			continue
		}
		stopped := false
		for _, k := range killed {
			stopped = stopped || k.Name == n.Name
		}
		for _, f := range faults {
			switch {
			case f.Kind == FaultRegion && f.Mode == ModeCrash && f.Name == n.Region,
				f.Kind == FaultAZ && f.Name == n.AZ,
				f.Kind == FaultDBPrimary && f.Name == n.Name:
				stopped = true
			}
		}
		if !stopped {
			out = append(out, n.Name)
		}
	}
	return out
}
