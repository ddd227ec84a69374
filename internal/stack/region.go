package stack

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"sync"

	"github.com/hastack/hastack/internal/alb"
	"github.com/hastack/hastack/internal/asg"
	"github.com/hastack/hastack/internal/spec"
	"github.com/hastack/hastack/internal/vpc"
)

// region runs one region's data plane: its load balancer and its group.
// Failing the region stops both; recovering starts fresh ones.
type region struct {
	spec *spec.Region
	plan *vpc.Region
	st   *Stack

	mu     sync.Mutex
	lb     *alb.LB
	group  *asg.Group
	cancel context.CancelFunc
	wg     sync.WaitGroup
	failed bool
}

func (r *region) lbAddr() string {
	return net.JoinHostPort(r.plan.LoadBalancer.String(), strconv.Itoa(r.spec.LoadBalancer.Port))
}

// start serves the load balancer on ln and launches the group. It returns
// at once; the parts run until stop.
func (r *region) start(parent context.Context, ln net.Listener) error {
	s := r.st
	lb, err := alb.New(alb.Config{Name: r.spec.Name, LB: r.spec.LoadBalancer, Logger: s.logger.With("region", r.spec.Name, "part", "alb"), OnEvent: s.events.Add})
	if err != nil {
		ln.Close()
		return fmt.Errorf("region %s: load balancer: %w", r.spec.Name, err)
	}
	var azs []asg.AZ
	for _, az := range r.spec.VPC.AZs {
		azs = append(azs, asg.AZ{Name: az, Addrs: r.plan.InstanceAddrs(az)})
	}
	cmd, args := s.launchCommand(r.spec.AutoScaling.LaunchTemplate)
	group, err := asg.New(asg.Config{
		Region:  r.spec.Name,
		Group:   r.spec.AutoScaling,
		AZs:     azs,
		Command: cmd,
		Args:    args,
		Env:     s.instanceEnv(r.spec.Name),
		LogDir:  s.paths.LogDir(),
		Targets: lb,
		Logger:  s.logger.With("region", r.spec.Name, "part", "asg"),
		OnEvent: s.events.Add,
	})
	if err != nil {
		ln.Close()
		return fmt.Errorf("region %s: auto scaling group: %w", r.spec.Name, err)
	}
	ctx, cancel := context.WithCancel(parent)
	r.mu.Lock()
	r.lb, r.group, r.cancel, r.failed = lb, group, cancel, false
	r.mu.Unlock()
	r.wg.Add(2)
	go func() {
		defer r.wg.Done()
		if err := lb.Serve(ctx, ln); err != nil {
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
	r.mu.Unlock()
	if cancel != nil {
		cancel()
	}
	r.wg.Wait()
}

// parts returns the running load balancer and group, nil while failed.
func (r *region) parts() (*alb.LB, *asg.Group, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cancel == nil {
		return nil, nil, r.failed
	}
	return r.lb, r.group, r.failed
}

// targetHealthy is the load balancer's own verdict, for Route53's
// evaluate_target_health: a running LB with no healthy target counts as
// down. A stopped LB gives no verdict (true): in a real outage its target
// health is not known outside the region, so the HTTP health checks alone
// must notice, and take their interval x threshold to do so.
func (r *region) targetHealthy() bool {
	lb, _, _ := r.parts()
	return lb == nil || lb.HealthyCount() > 0
}

// ready reports whether the group is at desired capacity and every
// instance passes the load balancer's health check.
func (r *region) ready() bool {
	lb, group, failed := r.parts()
	if failed || lb == nil {
		return false
	}
	inService := 0
	for _, in := range group.Instances() {
		if in.State == asg.InService {
			inService++
		}
	}
	return inService >= r.spec.AutoScaling.Desired && lb.HealthyCount() >= r.spec.AutoScaling.Desired
}

func (r *region) lbIP() netip.Addr { return r.plan.LoadBalancer }
