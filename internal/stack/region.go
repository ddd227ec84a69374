package stack

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/hastack/hastack/internal/alb"
	"github.com/hastack/hastack/internal/asg"
	"github.com/hastack/hastack/internal/spec"
	"github.com/hastack/hastack/internal/vpc"
)

// region runs one region's data plane: its load balancer and its group.
// Crashing the region kills both; recovering starts fresh ones. An
// isolated region keeps running.
type region struct {
	spec *spec.Region
	plan *vpc.Region
	st   *Stack

	mu     sync.Mutex
	lb     *alb.LB
	ln     *killableListener
	group  *asg.Group
	cancel context.CancelFunc
	wg     sync.WaitGroup
	// fault is the region fault in place: "", ModeIsolate or ModeCrash.
	fault string
	// capacity survives a region outage: the recovered group starts with
	// the capacity the old one had, as an ASG's settings outlive its
	// instances.
	capacity *asg.Capacity
	// blockedAZs are AZs failed with `fail az`; they stay blocked across
	// a region outage and recovery.
	blockedAZs map[string]bool
	// accessLog is the load balancer's access log file, when enabled.
	accessLog *alb.AccessLogFile
}

func (r *region) lbAddr() string {
	return net.JoinHostPort(r.plan.LoadBalancer.String(), strconv.Itoa(r.spec.LoadBalancer.Port))
}

// start serves the load balancer on ln and launches the group. It returns
// at once; the parts run until stop.
func (r *region) start(parent context.Context, ln net.Listener) error {
	s := r.st
	lbCfg := alb.Config{Name: r.spec.Name, LB: r.spec.LoadBalancer, Logger: s.logger.With("region", r.spec.Name, "part", "alb"), OnEvent: s.events.Add, Metrics: s.lbMetrics,
		// Target connections and health checks leave from the load
		// balancer's own address, inside its region.
		SourceAddr: r.plan.LoadBalancer}
	if r.spec.LoadBalancer.AccessLogs && r.accessLog == nil {
		f, err := alb.OpenAccessLog(filepath.Join(s.paths.LogDir(), "alb-"+r.spec.Name+".access.log"), 0)
		if err != nil {
			ln.Close()
			return fmt.Errorf("region %s: opening the access log: %w", r.spec.Name, err)
		}
		r.accessLog = f
	}
	if r.accessLog != nil {
		lbCfg.AccessLog = r.accessLog
	}
	lb, err := alb.New(lbCfg)
	if err != nil {
		ln.Close()
		return fmt.Errorf("region %s: load balancer: %w", r.spec.Name, err)
	}
	var azs []asg.AZ
	for _, az := range r.spec.VPC.AZs {
		azs = append(azs, asg.AZ{Name: az, Addrs: r.plan.InstanceAddrs(az)})
	}
	cmd, args := s.launchCommand(r.spec.AutoScaling.LaunchTemplate)
	groupSpec := r.spec.AutoScaling
	if r.capacity != nil {
		groupSpec.Min, groupSpec.Max, groupSpec.Desired = r.capacity.Min, r.capacity.Max, r.capacity.Desired
	}
	group, err := asg.New(asg.Config{
		Region:  r.spec.Name,
		Group:   groupSpec,
		AZs:     azs,
		Command: cmd,
		Args:    args,
		Env:     s.instanceEnv(r.spec.Name),
		LogDir:  s.paths.LogDir(),
		BinDir:  filepath.Join(s.paths.Dir, "bin"),
		Targets: lb,
		// The group checks a new instance from the load balancer's
		// address, which the instances' security group admits.
		ProbeFrom: r.plan.LoadBalancer,
		// Give the load balancer its whole deregistration delay to drain.
		DrainTimeout: r.spec.LoadBalancer.DeregistrationDelay + 5*time.Second,
		Logger:       s.logger.With("region", r.spec.Name, "part", "asg"),
		OnEvent:      s.events.Add,
	})
	if err != nil {
		ln.Close()
		return fmt.Errorf("region %s: auto scaling group: %w", r.spec.Name, err)
	}
	for az := range r.blockedAZs {
		if err := group.BlockAZ(az); err != nil {
			ln.Close()
			return fmt.Errorf("region %s: %w", r.spec.Name, err)
		}
	}
	ctx, cancel := context.WithCancel(parent)
	kl := newKillable(ln)
	r.mu.Lock()
	r.lb, r.ln, r.group, r.cancel, r.fault = lb, kl, group, cancel, ""
	r.mu.Unlock()
	r.wg.Add(2)
	go func() {
		defer r.wg.Done()
		if err := lb.Serve(ctx, kl); err != nil && !errors.Is(err, errCrashed) {
			s.events.Add("error", fmt.Sprintf("%s load balancer stopped: %v", r.spec.Name, err))
		}
	}()
	go func() {
		defer r.wg.Done()
		if err := group.Run(ctx); err != nil {
			s.events.Add("error", fmt.Sprintf("%s auto scaling group stopped: %v", r.spec.Name, err))
		}
	}()
	return nil
}

// stop ends the load balancer and terminates the instances, and waits.
func (r *region) stop() {
	r.mu.Lock()
	cancel := r.cancel
	r.cancel = nil
	if r.group != nil {
		c := r.group.Status().Capacity
		r.capacity = &c
	}
	r.mu.Unlock()
	if cancel != nil {
		cancel()
	}
	r.wg.Wait()
}

// crash is a power loss of the region: its load balancer's listener and
// every client connection close with a reset, its instances get SIGKILL
// (asg.Group.Crash) and killDB kills its database nodes, all started in
// the same instant; nothing is drained or deregistered. It returns once
// every part is gone, with what the group's crash did.
func (r *region) crash(killDB func() error) (asg.CrashReport, error) {
	r.mu.Lock()
	cancel, ln, group := r.cancel, r.ln, r.group
	r.cancel, r.fault = nil, ModeCrash
	if group != nil && cancel != nil {
		c := group.Status().Capacity
		r.capacity = &c
	}
	r.mu.Unlock()
	start := make(chan struct{})
	var wg sync.WaitGroup
	var rep asg.CrashReport
	var groupErr, dbErr error
	if cancel != nil {
		wg.Go(func() { <-start; ln.kill() })
		wg.Go(func() { <-start; rep, groupErr = group.Crash() })
	}
	wg.Go(func() { <-start; dbErr = killDB() })
	close(start)
	wg.Wait()
	if cancel != nil {
		// With nothing left to stop, the load balancer and the group
		// return at once.
		cancel()
		r.wg.Wait()
	}
	if groupErr != nil {
		groupErr = fmt.Errorf("crashing the instances of %s: %w", r.spec.Name, groupErr)
	}
	if dbErr != nil {
		dbErr = fmt.Errorf("killing the database nodes of %s: %w", r.spec.Name, dbErr)
	}
	return rep, errors.Join(groupErr, dbErr)
}

// setFault records the region fault in place ("" for none) on a running
// region.
func (r *region) setFault(mode string) {
	r.mu.Lock()
	r.fault = mode
	r.mu.Unlock()
}

// close releases what outlives restarts of the region (its access log).
func (r *region) close() {
	r.stop()
	if r.accessLog != nil {
		r.accessLog.Close()
		r.accessLog = nil
	}
}

// parts returns the running load balancer and group, nil while crashed,
// and whether a region fault is in place.
func (r *region) parts() (*alb.LB, *asg.Group, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cancel == nil {
		return nil, nil, r.fault != ""
	}
	return r.lb, r.group, r.fault != ""
}

// faultMode is the region fault in place: "", ModeIsolate or ModeCrash.
func (r *region) faultMode() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.fault
}

// targetHealthy is the load balancer's own verdict, for Route53's
// evaluate_target_health: a running LB with no healthy target counts as
// down. A stopped LB, or one Route53 cannot reach, gives no verdict
// (true): in a real outage its target health is not known outside the
// region, so the HTTP health checks alone must notice, and take their
// interval x threshold to do so.
func (r *region) targetHealthy() bool {
	lb, _, _ := r.parts()
	if lb == nil || !r.st.reachableFromDNS(r.plan.LoadBalancer) {
		return true
	}
	return lb.HealthyCount() > 0
}

// ready reports whether the group is at desired capacity and every
// instance passes the load balancer's health check.
func (r *region) ready() bool {
	lb, group, failed := r.parts()
	if failed || lb == nil {
		return false
	}
	gs := group.Status()
	return gs.InService >= gs.Desired && lb.HealthyCount() >= gs.Desired
}

func (r *region) lbIP() netip.Addr { return r.plan.LoadBalancer }

// blockAZ fails an AZ: its instances die and no launch goes there, now and
// after the region restarts, until unblockAZ.
func (r *region) blockAZ(az string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.blockedAZs[az] {
		return fmt.Errorf("AZ %s is already failed", az)
	}
	if r.group != nil && r.cancel != nil {
		if err := r.group.BlockAZ(az); err != nil {
			return err
		}
	}
	if r.blockedAZs == nil {
		r.blockedAZs = map[string]bool{}
	}
	r.blockedAZs[az] = true
	return nil
}

func (r *region) unblockAZ(az string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.blockedAZs[az] {
		return fmt.Errorf("AZ %s is not failed", az)
	}
	if r.group != nil && r.cancel != nil {
		if err := r.group.UnblockAZ(az); err != nil {
			return err
		}
	}
	delete(r.blockedAZs, az)
	return nil
}

// apply changes the running load balancer and group to new settings.
func (r *region) apply(n *spec.Region) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.spec.LoadBalancer, r.spec.AutoScaling = n.LoadBalancer, n.AutoScaling
	c := asg.Capacity{Min: n.AutoScaling.Min, Max: n.AutoScaling.Max, Desired: n.AutoScaling.Desired}
	r.capacity = &c
	if r.cancel == nil {
		return nil // failed region: the new settings apply when it recovers
	}
	if err := r.lb.SetConfig(n.LoadBalancer); err != nil {
		return fmt.Errorf("region %s: load balancer: %w", n.Name, err)
	}
	if err := r.group.Update(n.AutoScaling); err != nil {
		return fmt.Errorf("region %s: %w", n.Name, err)
	}
	return nil
}
