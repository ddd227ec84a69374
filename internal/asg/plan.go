package asg

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// State is an instance's lifecycle state, as EC2 Auto Scaling names them.
type State string

const (
	// Pending: the process runs but its port does not accept connections yet.
	Pending State = "pending"
	// InService: the port accepts connections; the instance is registered
	// with the load balancer.
	InService State = "in-service"
	// Terminating: the instance is out of service: deregistered and
	// draining, then stopped with SIGTERM and, after a timeout, SIGKILL.
	Terminating State = "terminating"
	// Terminated: the process has exited and been reaped.
	Terminated State = "terminated"
)

// Health is the group's view of an instance's health (AWS HealthStatus).
// An unhealthy instance is terminated and replaced.
type Health string

const (
	Healthy   Health = "healthy"
	Unhealthy Health = "unhealthy"
)

// Instance is one member of the group, as observed.
type Instance struct {
	ID    string // "i-" and 17 hex digits
	AZ    string
	Addr  string // host:port the instance listens on
	State State
	// Health is empty or Healthy for a healthy instance.
	Health Health
	// HealthReason says why the instance is unhealthy.
	HealthReason string
	// TargetHealth is the load balancer's last verdict on the instance
	// while in service ("initial", "healthy", "unhealthy", ...).
	TargetHealth string
	// Draining is set while a terminating instance waits for the load
	// balancer to finish its in-flight requests.
	Draining   bool
	PID        int
	LaunchedAt time.Time
	// CPU is the percent of one core the instance's process tree used
	// over the last sampling interval.
	CPU float64
}

// live reports whether the instance runs and is not being stopped.
func (i Instance) live() bool { return i.State == Pending || i.State == InService }

// ActionKind is what an Action does.
type ActionKind string

const (
	Launch    ActionKind = "launch"
	Terminate ActionKind = "terminate"
)

// Action is one step towards the desired state: launch an instance in AZ, or
// terminate instance ID (in AZ).
type Action struct {
	Kind   ActionKind
	AZ     string
	ID     string // for Terminate
	Reason string
	// Rebalance marks a launch beyond desired capacity that evens out the
	// AZs; a terminate from the fullest AZ follows once it is in service.
	Rebalance bool
}

func (a Action) String() string {
	if a.Kind == Launch {
		return fmt.Sprintf("launch in %s: %s", a.AZ, a.Reason)
	}
	return fmt.Sprintf("terminate %s in %s: %s", a.ID, a.AZ, a.Reason)
}

// Plan decides how to bring instances to desired capacity across azs, as
// EC2 Auto Scaling does:
//
//   - pending and in-service instances count towards capacity; terminating
//     and terminated ones do not;
//   - an unhealthy instance, or one in a blocked AZ or an AZ not in azs, is
//     terminated and does not count (so it is replaced);
//   - each missing instance is launched in the unblocked AZ with the fewest
//     instances, the earlier one in azs on a tie;
//   - each surplus instance is terminated from the AZ with the most
//     instances, the later one in azs on a tie; within it a pending instance
//     goes before an in-service one, then the newest. An in-service
//     instance is only terminated while the others in service still make
//     desired capacity; otherwise the surplus waits for pending ones;
//   - at desired capacity, when one unblocked AZ has two or more instances
//     more than another (say, after an AZ came back), one instance is
//     launched in the emptiest AZ beyond desired capacity (Rebalance); once
//     it is in service, the surplus rule terminates one in the fullest AZ.
//     So rebalancing never takes the group below desired capacity.
//
// Plan is pure: it reads only its arguments. blocked may be nil.
func Plan(desired int, azs []string, instances []Instance, blocked map[string]bool) []Action {
	var actions []Action
	perAZ := make(map[string][]Instance, len(azs))
	count, inService := 0, 0

	sorted := slices.Clone(instances)
	slices.SortFunc(sorted, func(a, b Instance) int { return strings.Compare(a.ID, b.ID) })
	for _, inst := range sorted {
		if !inst.live() {
			continue
		}
		reason := ""
		switch {
		case inst.Health == Unhealthy:
			reason = "unhealthy"
			if inst.HealthReason != "" {
				reason += ": " + inst.HealthReason
			}
		case !slices.Contains(azs, inst.AZ):
			reason = fmt.Sprintf("AZ %s is not one of the group's", inst.AZ)
		case blocked[inst.AZ]:
			reason = fmt.Sprintf("AZ %s is unavailable", inst.AZ)
		}
		if reason != "" {
			actions = append(actions, Action{Kind: Terminate, AZ: inst.AZ, ID: inst.ID, Reason: reason})
			continue
		}
		perAZ[inst.AZ] = append(perAZ[inst.AZ], inst)
		count++
		if inst.State == InService {
			inService++
		}
	}

	desired = max(desired, 0)
	for ; count < desired; count++ {
		az, ok := fewest(azs, perAZ, blocked)
		if !ok {
			break // every AZ is blocked
		}
		actions = append(actions, Action{Kind: Launch, AZ: az,
			Reason: fmt.Sprintf("%d of %d desired instances", count, desired)})
		perAZ[az] = append(perAZ[az], Instance{AZ: az, State: Pending})
	}
	for ; count > desired; count-- {
		az := most(azs, perAZ)
		victims := perAZ[az]
		i := victim(victims)
		if victims[i].State == InService {
			if inService-1 < desired {
				break // wait for pending instances to come into service
			}
			inService--
		}
		actions = append(actions, Action{Kind: Terminate, AZ: az, ID: victims[i].ID,
			Reason: fmt.Sprintf("%d instances, %d desired", count, desired)})
		perAZ[az] = slices.Delete(victims, i, i+1)
	}
	if count == desired && desired > 0 {
		lo, ok := fewest(azs, perAZ, blocked)
		hi := most(azs, perAZ)
		if ok && len(perAZ[hi])-len(perAZ[lo]) > 1 {
			actions = append(actions, Action{Kind: Launch, AZ: lo, Rebalance: true,
				Reason: fmt.Sprintf("rebalancing: %s has %d instances, %s has %d", hi, len(perAZ[hi]), lo, len(perAZ[lo]))})
		}
	}
	return actions
}

// fewest returns the unblocked AZ with the fewest instances, the first on a tie.
func fewest(azs []string, perAZ map[string][]Instance, blocked map[string]bool) (string, bool) {
	best, found := "", false
	for _, az := range azs {
		if blocked[az] {
			continue
		}
		if !found || len(perAZ[az]) < len(perAZ[best]) {
			best, found = az, true
		}
	}
	return best, found
}

// most returns the AZ with the most instances, the last on a tie. Only
// called while some AZ has an instance.
func most(azs []string, perAZ map[string][]Instance) string {
	best := ""
	for _, az := range azs {
		if len(perAZ[az]) > 0 && len(perAZ[az]) >= len(perAZ[best]) {
			best = az
		}
	}
	return best
}

// victim picks which of an AZ's instances to terminate first: a pending one
// (it serves nothing yet), then the newest, then the greatest ID.
func victim(insts []Instance) int {
	best := 0
	for i, inst := range insts[1:] {
		b := insts[best]
		switch {
		case (inst.State == Pending) != (b.State == Pending):
			if inst.State == Pending {
				best = i + 1
			}
		case !inst.LaunchedAt.Equal(b.LaunchedAt):
			if inst.LaunchedAt.After(b.LaunchedAt) {
				best = i + 1
			}
		case inst.ID > b.ID:
			best = i + 1
		}
	}
	return best
}
