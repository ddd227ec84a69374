package asg

import (
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"time"

	"github.com/hastack/hastack/internal/metrics"
	"github.com/hastack/hastack/internal/spec"
)

// Targets is what the group needs of a load balancer: it registers an
// instance once its port accepts connections, reads the load balancer's
// verdict on it (health check type ELB), and deregisters it before
// stopping it or once it has exited.
type Targets interface {
	// Register adds the instance listening at addr (host:port).
	Register(id, addr string)
	// Deregister stops new requests to the instance. The channel closes
	// once its in-flight requests are done or the deregistration delay ran
	// out (nil: nothing to wait for).
	Deregister(id string) <-chan struct{}
	// TargetHealth is the load balancer's verdict: "initial", "healthy",
	// "unhealthy", "draining" or "unused".
	TargetHealth(id string) string
}

// CPU measures how much CPU each instance uses: Sample returns, for each
// process-group leader in pids, the percent of one core its process tree
// used since the previous Sample that included it (none the first time).
// *metrics.Sampler is one.
type CPU interface {
	Sample(pids []int) map[int]float64
}

var _ CPU = (*metrics.Sampler)(nil)

// Health check types (spec.AutoScaling.HealthCheckType).
const (
	HealthCheckEC2 = "EC2" // the process is alive (the default)
	HealthCheckELB = "ELB" // and the load balancer does not report it unhealthy
)

// AZ is an availability zone the group may launch into.
type AZ struct {
	Name string
	// Addrs are the private addresses instances in this AZ may take, in
	// order of preference. They bound how many instances the AZ holds.
	Addrs []netip.Addr
}

// Config configures a Group.
type Config struct {
	Region string
	// Group is the stack file's auto_scaling block: capacity, health check
	// type and grace period, the LaunchTemplate's Env and Port, and the
	// ScaleOut and ScaleIn policies (a policy with a zero Period is off).
	Group spec.AutoScaling
	AZs   []AZ
	// Command is the resolved executable to run; it replaces
	// Group.LaunchTemplate.Command.
	Command string
	Args    []string
	// Env is the instance's base environment ("K=V"). The parent's
	// environment is not inherited; include os.Environ() to pass it on.
	Env []string
	// LogDir holds each instance's stdout and stderr in <instance-id>.log.
	LogDir string
	// BinDir is where hastack's own executable is copied (root-owned, mode
	// 0755) when it is the Command and the instances' user cannot reach it
	// where it is, e.g. under /root. Empty: such a Command is refused.
	BinDir string
	// Targets is told about instances entering and leaving service; may be
	// nil, except with health check type ELB.
	Targets Targets
	// Logger receives every event and problems that are not events
	// (default: discard).
	Logger *slog.Logger
	// OnEvent is called for every event, from the group's goroutines and
	// from callers of its methods; must be safe for concurrent use; may be nil.
	OnEvent func(kind, message string)
	// StartTimeout bounds how long a new instance may take to accept
	// connections on its port before it is marked unhealthy and replaced
	// (default 60s).
	StartTimeout time.Duration
	// StopTimeout is how long a terminating instance has between SIGTERM and
	// SIGKILL (default 5s).
	StopTimeout time.Duration
	// ProbeFrom is the source address of the check that a new instance
	// accepts connections: an address of the instance's region (the load
	// balancer's), so a security group admitting only the load balancer
	// admits it too. Zero leaves the choice to the kernel.
	ProbeFrom netip.Addr
	// DrainTimeout bounds the wait for the load balancer to drain a
	// deregistered instance before it gets SIGTERM (default 305s: ALB's
	// default deregistration delay and 5s). Set it a little above the load
	// balancer's deregistration delay.
	DrainTimeout time.Duration
	// HealthCheckInterval is how often the group reads the load balancer's
	// verdicts with health check type ELB (default 500ms).
	HealthCheckInterval time.Duration
	// CPU measures the instances' CPU (default metrics.NewSampler()).
	CPU CPU
	// SampleInterval is how often CPU is sampled and the alarms evaluated
	// (default a quarter of the shortest policy period, at most 1s).
	SampleInterval time.Duration
}

const (
	defaultStartTimeout        = 60 * time.Second
	defaultStopTimeout         = 5 * time.Second
	defaultDrainTimeout        = 305 * time.Second
	defaultHealthCheckInterval = 500 * time.Millisecond
	maxSampleInterval          = time.Second
)

// validate reports the first problem with cfg.
func validate(cfg Config) error {
	a := cfg.Group
	switch {
	case cfg.Region == "":
		return errors.New("region is empty")
	case cfg.Command == "":
		return errors.New("command is empty")
	case cfg.LogDir == "":
		return errors.New("log directory is empty")
	case len(cfg.AZs) == 0:
		return errors.New("no availability zones")
	case a.LaunchTemplate.Port < 1 || a.LaunchTemplate.Port > 65535:
		return fmt.Errorf("port %d is out of range", a.LaunchTemplate.Port)
	}
	if err := validateGroup(a, cfg.Targets != nil); err != nil {
		return err
	}
	seen := map[string]bool{}
	for _, az := range cfg.AZs {
		switch {
		case az.Name == "":
			return errors.New("availability zone without a name")
		case seen[az.Name]:
			return fmt.Errorf("availability zone %s listed twice", az.Name)
		case len(az.Addrs) == 0:
			return fmt.Errorf("availability zone %s has no addresses", az.Name)
		}
		seen[az.Name] = true
		for _, ip := range az.Addrs {
			if !ip.IsValid() {
				return fmt.Errorf("availability zone %s has an invalid address", az.Name)
			}
		}
	}
	return nil
}

// validateGroup reports the first problem with the parts of a group's
// settings that Update may change.
func validateGroup(a spec.AutoScaling, haveTargets bool) error {
	if err := checkCapacity(a.Min, a.Max, a.Desired); err != nil {
		return err
	}
	switch a.HealthCheckType {
	case "", HealthCheckEC2:
	case HealthCheckELB:
		if !haveTargets {
			return errors.New("health check type ELB needs a load balancer")
		}
	default:
		return fmt.Errorf("unknown health check type %q (want EC2 or ELB)", a.HealthCheckType)
	}
	if a.HealthCheckGracePeriod < 0 {
		return fmt.Errorf("health check grace period %s is negative", a.HealthCheckGracePeriod)
	}
	for _, p := range policies(a) {
		if p.Period == 0 {
			continue
		}
		if _, err := metrics.NewAlarm(p.alarm("check"), time.Time{}); err != nil {
			return fmt.Errorf("%s policy: %w", p.name, err)
		}
		if p.Cooldown < 0 {
			return fmt.Errorf("%s policy: cooldown %s is negative", p.name, p.Cooldown)
		}
	}
	return nil
}

func checkCapacity(minSize, maxSize, desired int) error {
	switch {
	case minSize < 0 || maxSize < minSize:
		return fmt.Errorf("min %d and max %d are not a range", minSize, maxSize)
	case desired < minSize || desired > maxSize:
		return fmt.Errorf("desired capacity %d is outside min %d and max %d", desired, minSize, maxSize)
	}
	return nil
}

// orDefault returns d, or def when d is not positive.
func orDefault(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}
