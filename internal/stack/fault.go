package stack

import (
	"fmt"
	"math"
	"strings"
	"time"
)

// Fault kinds the control API accepts; an unknown kind is refused, never
// faked.
const (
	FaultRegion    = "region"
	FaultInstance  = "instance"
	FaultAZ        = "az"
	FaultDBPrimary = "db-primary"
	FaultPartition = "partition"
	FaultNetwork   = "network"
)

// How `fail region` takes a region out.
const (
	// ModeIsolate drops every packet between the region's addresses and
	// any address outside it; everything inside keeps running and talking.
	ModeIsolate = "isolate"
	// ModeCrash kills every process of the region at once, as a power
	// loss: no drain, no graceful stop. Where the network is enforced, the
	// region's network goes dark with it until it is recovered: what it
	// had on its way out (held by a link delay) is lost, and the resets
	// the kernel sends for the killed processes' connections never
	// arrive, so peers time out as they would on a power loss.
	ModeCrash = "crash"
)

// Fault is one fault to inject or undo, as `hastack fail` and `hastack
// recover` name it.
type Fault struct {
	Kind string `json:"kind"`
	// Name is what the fault hits: a region, an AZ, an instance ID, the
	// first domain of a partition, the TARGET of a network fault.
	Name string `json:"name,omitempty"`
	// Other is the second domain of a partition, or a network fault's
	// --to; "" for a network fault means everything outside Name.
	Other string `json:"other,omitempty"`
	// Mode is a region fault's: ModeIsolate (the default) or ModeCrash.
	Mode string `json:"mode,omitempty"`
	// OneWay drops only packets from Name to Other.
	OneWay bool `json:"one_way,omitempty"`
	// Delay (one way), Jitter and Loss (percent, 0–100) of a network fault.
	Delay  time.Duration `json:"delay,omitempty"`
	Jitter time.Duration `json:"jitter,omitempty"`
	Loss   float64       `json:"loss,omitempty"`
}

// check completes a fault to inject with its defaults and refuses what
// makes no sense, in one sentence. Names are checked against the stack
// elsewhere.
func (f Fault) check() (Fault, error) {
	switch f.Kind {
	case FaultRegion:
		if f.Mode == "" {
			f.Mode = ModeIsolate
		}
		if f.Mode != ModeIsolate && f.Mode != ModeCrash {
			return f, fmt.Errorf("unknown region failure mode %q (supported: %s, %s)", f.Mode, ModeIsolate, ModeCrash)
		}
	case FaultPartition:
		if f.Name == "" || f.Other == "" {
			return f, fmt.Errorf("a partition needs two failure domains")
		}
		if f.Name == f.Other {
			return f, fmt.Errorf("a partition needs two different failure domains, not %s twice", f.Name)
		}
	case FaultNetwork:
		switch {
		case f.Name == "":
			return f, fmt.Errorf("a network fault needs a target failure domain")
		case f.Name == f.Other:
			return f, fmt.Errorf("a network fault between %s and itself changes nothing; name another domain with --to", f.Name)
		case f.Delay < 0 || f.Jitter < 0:
			return f, fmt.Errorf("delay and jitter must not be negative")
		case math.IsNaN(f.Loss) || f.Loss < 0 || f.Loss > 100:
			return f, fmt.Errorf("loss %g%% is not between 0%% and 100%%", f.Loss)
		case f.Delay == 0 && f.Jitter == 0 && f.Loss == 0:
			return f, fmt.Errorf("a network fault needs a delay, a jitter or a loss")
		}
	default:
		return f, knownKind(f.Kind)
	}
	return f, nil
}

// knownKind refuses a kind of fault there is none of.
func knownKind(kind string) error {
	switch kind {
	case FaultRegion, FaultInstance, FaultAZ, FaultDBPrimary, FaultPartition, FaultNetwork:
		return nil
	}
	return fmt.Errorf("unknown fault %q (supported: region, instance, az, db-primary, partition, network)", kind)
}

// links are the ordered pairs of domains a partition or network fault
// occupies: a one-way partition only its own direction, the others both.
// Two faults of a kind conflict when they share a link, and a recover
// undoes the fault holding its link.
func (f Fault) links() [][2]string {
	switch {
	case f.Kind == FaultPartition && f.OneWay:
		return [][2]string{{f.Name, f.Other}}
	case f.Kind == FaultPartition || f.Kind == FaultNetwork:
		return [][2]string{{f.Name, f.Other}, {f.Other, f.Name}}
	}
	return nil
}

// matches reports whether active is the fault that undo names: the same
// kind and target, and for partitions and network faults the same pair of
// domains, in either order unless the partition is one-way.
func matches(active, undo Fault) bool {
	if active.Kind != undo.Kind {
		return false
	}
	switch active.Kind {
	case FaultDBPrimary:
		return true
	case FaultPartition, FaultNetwork:
		for _, l := range active.links() {
			if l == [2]string{undo.Name, undo.Other} {
				return true
			}
		}
		return false
	default:
		return active.Name == undo.Name
	}
}

// conflicts reports whether b cannot be injected while a is active: the
// same region or AZ again, or a partition or network fault on a pair of
// domains that already has one.
func conflicts(a, b Fault) bool {
	if a.Kind != b.Kind {
		return false
	}
	switch a.Kind {
	case FaultPartition, FaultNetwork:
		for _, la := range a.links() {
			for _, lb := range b.links() {
				if la == lb {
					return true
				}
			}
		}
		return false
	case FaultRegion, FaultAZ:
		return a.Name == b.Name
	}
	return false
}

// needsNetwork reports whether the fault is made of packet filter rules.
func (f Fault) needsNetwork() bool {
	return f.Kind == FaultPartition || f.Kind == FaultNetwork || (f.Kind == FaultRegion && f.Mode == ModeIsolate)
}

// String names the fault as the command line does, e.g.
// "partition us-east-1 internet --one-way".
func (f Fault) String() string {
	parts := []string{f.Kind}
	if f.Name != "" {
		parts = append(parts, f.Name)
	}
	switch f.Kind {
	case FaultRegion:
		if f.Mode != "" {
			parts = append(parts, "--mode", f.Mode)
		}
	case FaultPartition:
		parts = append(parts, f.Other)
		if f.OneWay {
			parts = append(parts, "--one-way")
		}
	case FaultNetwork:
		if f.Other != "" {
			parts = append(parts, "--to", f.Other)
		}
		if f.Delay > 0 {
			parts = append(parts, "--delay", f.Delay.String())
		}
		if f.Jitter > 0 {
			parts = append(parts, "--jitter", f.Jitter.String())
		}
		if f.Loss > 0 {
			parts = append(parts, "--loss", fmt.Sprintf("%g%%", f.Loss))
		}
	}
	return strings.Join(parts, " ")
}

// details says in a phrase what the fault does.
func (f Fault) details() string {
	switch f.Kind {
	case FaultRegion:
		if f.Mode == ModeCrash {
			return fmt.Sprintf("every process of %s killed at once (load balancer, instances, database nodes), its network dark", f.Name)
		}
		return fmt.Sprintf("every packet between %s and any address outside it dropped; everything inside keeps running", f.Name)
	case FaultAZ:
		return fmt.Sprintf("the instances and database nodes of %s stopped, no launches there", f.Name)
	case FaultDBPrimary:
		return fmt.Sprintf("database primary %s killed (kill -9 of its postmaster)", f.Name)
	case FaultPartition:
		if f.OneWay {
			return fmt.Sprintf("every packet from %s to %s dropped; the other way passes", f.Name, f.Other)
		}
		return fmt.Sprintf("every packet between %s and %s dropped, both ways", f.Name, f.Other)
	case FaultNetwork:
		other := "everything outside it"
		if f.Other != "" {
			other = f.Other
		}
		var effects []string
		if f.Delay > 0 || f.Jitter > 0 {
			e := "delay " + f.Delay.String()
			if f.Jitter > 0 {
				e += " ± " + f.Jitter.String()
			}
			effects = append(effects, e+" each way")
		}
		if f.Loss > 0 {
			effects = append(effects, fmt.Sprintf("loss %g%%", f.Loss))
		}
		return fmt.Sprintf("%s on the packets between %s and %s", strings.Join(effects, ", "), f.Name, other)
	}
	return f.String()
}

// FaultStatus is one active fault, as status lists it.
type FaultStatus struct {
	Kind   string `json:"kind"`
	Target string `json:"target"`
	// Other is a partition's second domain, or a network fault's --to.
	Other         string    `json:"other,omitempty"`
	Mode          string    `json:"mode,omitempty"`
	OneWay        bool      `json:"one_way,omitempty"`
	DelaySeconds  float64   `json:"delay_seconds,omitempty"`
	JitterSeconds float64   `json:"jitter_seconds,omitempty"`
	LossPercent   float64   `json:"loss_percent,omitempty"`
	Details       string    `json:"details"`
	Since         time.Time `json:"since"`
}

// activeFault is a fault in place, and since when.
type activeFault struct {
	Fault
	since time.Time
}

func (a activeFault) status() FaultStatus {
	return FaultStatus{
		Kind: a.Kind, Target: a.Name, Other: a.Other, Mode: a.Mode, OneWay: a.OneWay,
		DelaySeconds: a.Delay.Seconds(), JitterSeconds: a.Jitter.Seconds(), LossPercent: a.Loss,
		Details: a.details(), Since: a.since,
	}
}
