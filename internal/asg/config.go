package asg

import (
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"time"

	"github.com/hastack/hastack/internal/spec"
)

// Targets is what the group needs of a load balancer: it registers an
// instance once its port accepts connections and deregisters it before
// stopping it or once it has exited.
type Targets interface {
	Register(id, addr string)
	Deregister(id string)
}

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
	// Group is the stack file's auto_scaling block: Min, Max, Desired and
	// the LaunchTemplate's Env and Port are used.
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
	// Targets is told about instances entering and leaving service; may be nil.
	Targets Targets
	// Logger receives every event and problems that are not events
	// (default: discard).
	Logger *slog.Logger
	// OnEvent is called on the group's goroutine for every event; may be nil.
	OnEvent func(kind, message string)
	// StartTimeout bounds how long a new instance may take to accept
	// connections on its port before it is marked unhealthy and replaced
	// (default 60s).
	StartTimeout time.Duration
	// StopTimeout is how long a terminating instance has between SIGTERM and
	// SIGKILL (default 5s).
	StopTimeout time.Duration
}

const (
	defaultStartTimeout = 60 * time.Second
	defaultStopTimeout  = 5 * time.Second
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
	case a.Min < 0 || a.Max < a.Min:
		return fmt.Errorf("min %d and max %d are not a range", a.Min, a.Max)
	case a.Desired < a.Min || a.Desired > a.Max:
		return fmt.Errorf("desired capacity %d is outside min %d and max %d", a.Desired, a.Min, a.Max)
	case a.LaunchTemplate.Port < 1 || a.LaunchTemplate.Port > 65535:
		return fmt.Errorf("port %d is out of range", a.LaunchTemplate.Port)
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

// orDefault returns d, or def when d is not positive.
func orDefault(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}
