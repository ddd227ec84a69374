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
	// Terminating: the group is stopping the process.
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
	PID          int
	LaunchedAt   time.Time
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
//     goes before an in-service one, then the newest.
//
// Plan is pure: it reads only its arguments. blocked may be nil.
func Plan(desired int, azs []string, instances []Instance, blocked map[string]bool) []Action {
	var actions []Action
	perAZ := make(map[string][]Instance, len(azs))
	count := 0

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
		actions = append(actions, Action{Kind: Terminate, AZ: az, ID: victims[i].ID,
			Reason: fmt.Sprintf("%d instances, %d desired", count, desired)})
		perAZ[az] = slices.Delete(victims, i, i+1)
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
