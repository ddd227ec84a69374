package stack

import (
	"context"
	"fmt"
	"strings"

	"github.com/hastack/hastack/internal/rds"
)

// Fault kinds the control API accepts. More come with later parts (az,
// instance, db-primary); an unknown kind is refused, never faked.
const (
	FaultRegion    = "region"
	FaultInstance  = "instance"
	FaultAZ        = "az"
	FaultDBPrimary = "db-primary"
)

// clusterOps is what faults, recovery and promotion ask of the database.
type clusterOps interface {
	StopRegion(ctx context.Context, region string) error
	StartRegion(ctx context.Context, region string) error
	StopNode(ctx context.Context, name string) error
	RecoverNode(ctx context.Context, name string) error
	KillPrimary() error
	Promote(ctx context.Context, region string) error
	Nodes() []rds.NodeStatus
}

var _ clusterOps = (*rds.Cluster)(nil)

// Fail injects a fault and returns once it is in place. Faults,
// recoveries, promotions and applies run one at a time: a recovery racing
// a fault of the same region could otherwise leave its load balancer up
// and its database nodes down.
func (st *Stack) Fail(ctx context.Context, kind, name string) error {
	st.opsMu.Lock()
	defer st.opsMu.Unlock()
	switch kind {
	case FaultRegion:
		r, err := st.region(name)
		if err != nil {
			return err
		}
		r.mu.Lock()
		already := r.failed
		r.failed = true
		r.mu.Unlock()
		if already {
			return fmt.Errorf("region %s is already failed", name)
		}
		r.stop()
		if err := st.dbOps.StopRegion(ctx, name); err != nil {
			return fmt.Errorf("stopping the database nodes of %s: %w", name, err)
		}
		st.events.Add("fault.inject", fmt.Sprintf("region %s failed: load balancer, instances and database nodes stopped", name))
		return nil
	case FaultInstance:
		for _, r := range st.regions {
			_, group, _ := r.parts()
			if group == nil {
				continue
			}
			if err := group.Kill(name); err == nil {
				st.events.Add("fault.inject", fmt.Sprintf("instance %s in %s killed (SIGKILL)", name, r.spec.Name))
				return nil
			}
		}
		return fmt.Errorf("no running instance %q in stack %s (see hastack status)", name, st.spec.Name)
	case FaultAZ:
		r, err := st.azRegion(name)
		if err != nil {
			return err
		}
		if err := r.blockAZ(name); err != nil {
			return err
		}
		for _, n := range st.dbOps.Nodes() {
			if n.AZ == name && n.Running {
				if err := st.dbOps.StopNode(ctx, n.Name); err != nil {
					return fmt.Errorf("stopping database node %s: %w", n.Name, err)
				}
			}
		}
		st.events.Add("fault.inject", fmt.Sprintf("AZ %s failed: its instances and database nodes stopped, no launches there", name))
		return nil
	case FaultDBPrimary:
		primary := st.primaryNode()
		if err := st.dbOps.KillPrimary(); err != nil {
			return err
		}
		st.faultyNodes.Store(primary, true)
		st.events.Add("fault.inject", fmt.Sprintf("database primary %s killed (kill -9 of its postmaster)", primary))
		return nil
	default:
		return fmt.Errorf("unknown fault %q (supported: region, instance, az, db-primary)", kind)
	}
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

// Recover undoes a fault and returns once the recovered parts are started
// (not necessarily healthy yet). It waits for any operation in progress.
func (st *Stack) Recover(ctx context.Context, kind, name string) error {
	st.opsMu.Lock()
	defer st.opsMu.Unlock()
	switch kind {
	case FaultRegion:
		r, err := st.region(name)
		if err != nil {
			return err
		}
		r.mu.Lock()
		failed := r.failed
		r.mu.Unlock()
		if !failed {
			return fmt.Errorf("region %s is not failed", name)
		}
		ln, err := listenTCP("load balancer", r.lbAddr())
		if err != nil {
			return err
		}
		// The database first: a former primary rejoins as a follower of the
		// new one before any instance of the region can reach it.
		if err := st.dbOps.StartRegion(ctx, name); err != nil {
			ln.Close()
			return fmt.Errorf("starting the database nodes of %s: %w", name, err)
		}
		if err := r.start(st.runCtx, ln); err != nil {
			return err
		}
		st.events.Add("fault.recover", fmt.Sprintf("region %s recovered: database nodes, load balancer and instances starting", name))
		return nil
	case FaultInstance:
		return fmt.Errorf("a killed instance is replaced by its group; there is nothing to recover")
	case FaultAZ:
		r, err := st.azRegion(name)
		if err != nil {
			return err
		}
		if err := r.unblockAZ(name); err != nil {
			return err
		}
		for _, n := range st.dbOps.Nodes() {
			if n.AZ == name && !n.Running {
				if err := st.dbOps.RecoverNode(ctx, n.Name); err != nil {
					return fmt.Errorf("recovering database node %s: %w", n.Name, err)
				}
			}
		}
		st.events.Add("fault.recover", fmt.Sprintf("AZ %s recovered: launches resume there, its database nodes rejoin", name))
		return nil
	case FaultDBPrimary:
		var recovered []string
		for node := range st.faultyNodes.Range {
			if err := st.dbOps.RecoverNode(ctx, node.(string)); err != nil {
				return fmt.Errorf("recovering database node %s: %w", node, err)
			}
			st.faultyNodes.Delete(node)
			recovered = append(recovered, node.(string))
		}
		if len(recovered) == 0 {
			return fmt.Errorf("no killed database primary to recover")
		}
		st.events.Add("fault.recover", fmt.Sprintf("database node %s back, following the current primary", strings.Join(recovered, ", ")))
		return nil
	default:
		return fmt.Errorf("unknown fault %q (supported: region, az, db-primary)", kind)
	}
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
// DNS no longer answers with the primary region: Route53 has failed over.
func (st *Stack) regionLost() bool {
	prim := st.spec.Primary()
	for _, r := range st.regions {
		if r.spec.Name == prim.Name {
			return st.dns.Answer() != r.lbIP()
		}
	}
	return false
}
