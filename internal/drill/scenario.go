package drill

import (
	"context"
	"fmt"
	"slices"

	"github.com/hastack/hastack/internal/stack"
)

// Controller is what a drill needs of a running stack; *stack.Client has it.
type Controller interface {
	Status(ctx context.Context) (stack.Status, error)
	Fail(ctx context.Context, kind, name string) error
	Recover(ctx context.Context, kind, name string) error
	Events(ctx context.Context) ([]stack.Event, error)
	DatabaseURL(ctx context.Context, reader bool, region string) (string, error)
}

// Scenario is one failure to rehearse.
type Scenario struct {
	Name        string
	Description string
	// Fault picks what to break in the stack as it is now: the fault kind
	// and name the control API takes.
	Fault func(st stack.Status) (kind, name string, err error)
	// Recoverable: the fault is undone with Recover once measured.
	Recoverable bool
	// SwitchesRegion: recovery means DNS naming another region.
	SwitchesRegion bool
}

// Scenarios lists the drills the stack can run today. A scenario whose
// parts are not built is not offered.
var Scenarios = []Scenario{
	{
		Name:           "region-failure",
		Description:    "the primary region's load balancer and instances stop; DNS must fail over to the secondary",
		Fault:          primaryRegion,
		Recoverable:    true,
		SwitchesRegion: true,
	},
	{
		Name:        "instance-failure",
		Description: "one serving instance of the primary region is killed (SIGKILL); its group replaces it",
		Fault:       oneInstance,
	},
}

// Find returns the named scenario.
func Find(name string) (Scenario, error) {
	i := slices.IndexFunc(Scenarios, func(s Scenario) bool { return s.Name == name })
	if i < 0 {
		var names []string
		for _, s := range Scenarios {
			names = append(names, s.Name)
		}
		return Scenario{}, fmt.Errorf("unknown scenario %q (available: %v)", name, names)
	}
	return Scenarios[i], nil
}

func primaryRegion(st stack.Status) (string, string, error) {
	for _, r := range st.Regions {
		if r.Role == "primary" {
			if r.Failed {
				return "", "", fmt.Errorf("region %s is already failed; recover it first", r.Name)
			}
			return "region", r.Name, nil
		}
	}
	return "", "", fmt.Errorf("the stack has no primary region")
}

func oneInstance(st stack.Status) (string, string, error) {
	for _, r := range st.Regions {
		if r.Role != "primary" {
			continue
		}
		for _, in := range r.Instances {
			if in.State == "in-service" {
				return "instance", in.ID, nil
			}
		}
	}
	return "", "", fmt.Errorf("the primary region has no instance in service")
}
