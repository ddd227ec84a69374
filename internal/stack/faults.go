package stack

import (
	"context"
	"fmt"
)

// Fault kinds the control API accepts. More come with later parts (az,
// instance, db-primary); an unknown kind is refused, never faked.
const (
	FaultRegion   = "region"
	FaultInstance = "instance"
)

// Fail injects a fault and returns once it is in place.
func (st *Stack) Fail(ctx context.Context, kind, name string) error {
	switch kind {
	case FaultRegion:
		r := st.region(name)
		if r == nil {
			return fmt.Errorf("no region named %q in stack %s", name, st.spec.Name)
		}
		r.mu.Lock()
		already := r.failed
		r.failed = true
		r.mu.Unlock()
		if already {
			return fmt.Errorf("region %s is already failed", name)
		}
		r.stop()
		st.events.Add("fault.inject", fmt.Sprintf("region %s failed: load balancer and instances stopped", name))
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
	default:
		return fmt.Errorf("unknown fault %q (supported: region, instance)", kind)
	}
}

// Recover undoes a fault and returns once the recovered parts are started
// (not necessarily healthy yet).
func (st *Stack) Recover(ctx context.Context, kind, name string) error {
	switch kind {
	case FaultRegion:
		r := st.region(name)
		if r == nil {
			return fmt.Errorf("no region named %q in stack %s", name, st.spec.Name)
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
		if err := r.start(st.runCtx, ln); err != nil {
			return err
		}
		st.events.Add("fault.recover", fmt.Sprintf("region %s recovered: load balancer and instances starting", name))
		return nil
	case FaultInstance:
		return fmt.Errorf("a killed instance is replaced by its group; there is nothing to recover")
	default:
		return fmt.Errorf("unknown fault %q (supported: region)", kind)
	}
}

func (st *Stack) region(name string) *region {
	for _, r := range st.regions {
		if r.spec.Name == name {
			return r
		}
	}
	return nil
}
