package drill

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/hastack/hastack/internal/stack"
)

// Controller is what a drill needs of a running stack; *stack.Client has it.
type Controller interface {
	Status(ctx context.Context) (stack.Status, error)
	Fail(ctx context.Context, kind, name string) error
	Recover(ctx context.Context, kind, name string) error
	Promote(ctx context.Context, region string) error
	Events(ctx context.Context) ([]stack.Event, error)
	DatabaseURL(ctx context.Context, reader bool, region string) (string, error)
}

// faultCPU is the drill's own fault: CPU load it drives itself.
const faultCPU = "cpu"

// Scenario is one failure to rehearse.
type Scenario struct {
	Name        string
	Description string
	// Fault picks what to break in the stack as it is now: the fault kind
	// and name the control API takes (or faultCPU).
	Fault func(st stack.Status) (kind, name string, err error)
	// Recoverable: the fault is undone with Recover once measured.
	Recoverable bool
	// SwitchesRegion: recovery means DNS naming another region.
	SwitchesRegion bool
	// Operator, if set, acts while the drill waits for recovery, as the
	// on-call engineer would (the seed's manual replica promotion). It is
	// called every tick until it reports done.
	Operator func(ctx context.Context, d *driver, st stack.Status, fault time.Time) (done bool, err error)
	// Recovered, if set, replaces the default recovery test (clients
	// served again) with the scenario's own.
	Recovered func(ctx context.Context, d *driver, st stack.Status) bool
}

// Scenarios lists the drills hastack offers.
var Scenarios = []Scenario{
	{
		Name: "region-failure",
		Description: "the primary region's load balancer, instances and database nodes stop; DNS fails over to the secondary " +
			"and, with cross_region_failover = \"manual\", the drill promotes the replica there as an operator would",
		Fault:          primaryRegion,
		Recoverable:    true,
		SwitchesRegion: true,
		Operator:       promoteAfterDNSSwitch,
	},
	{
		Name:           "region-failure-automatic",
		Description:    "the primary region is lost; DNS fails over and hastack promotes the replica by itself",
		Fault:          automaticRegion,
		Recoverable:    true,
		SwitchesRegion: true,
	},
	{
		Name:        "az-failure",
		Description: "the primary region's first AZ is lost: its instances and its database node (the primary) stop; the standby takes over and the group relaunches in the other AZ",
		Fault:       firstAZ,
		Recoverable: true,
	},
	{
		Name:        "db-failover",
		Description: "the database primary's postmaster is killed (kill -9); the Multi-AZ standby takes over",
		Fault:       dbPrimary,
		Recoverable: true,
	},
	{
		Name:        "instance-failure",
		Description: "one serving instance of the primary region is killed (SIGKILL); its group replaces it",
		Fault:       oneInstance,
	},
	{
		Name:        "scale-out",
		Description: "CPU load through the load balancer until the primary region's group reaches its maximum; recovery is reaching it",
		Fault:       cpuLoad,
		Recoverable: true,
		Recovered:   atMax,
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

func primaryOf(st stack.Status) (stack.RegionStatus, error) {
	for _, r := range st.Regions {
		if r.Role == "primary" {
			if r.Failed {
				return r, fmt.Errorf("region %s is already failed; recover it first", r.Name)
			}
			return r, nil
		}
	}
	return stack.RegionStatus{}, fmt.Errorf("the stack has no primary region")
}

func primaryRegion(st stack.Status) (string, string, error) {
	r, err := primaryOf(st)
	return "region", r.Name, err
}

func automaticRegion(st stack.Status) (string, string, error) {
	if st.Database.CrossRegionFailover != "automatic" {
		return "", "", fmt.Errorf("needs cross_region_failover = \"automatic\" in the stack file's database block (it is %q)", st.Database.CrossRegionFailover)
	}
	return primaryRegion(st)
}

func firstAZ(st stack.Status) (string, string, error) {
	if !st.Database.MultiAZ {
		return "", "", fmt.Errorf("needs multi_az = true in the stack file's database block, or losing the primary's AZ loses the database")
	}
	for _, n := range st.Database.Nodes {
		if n.Role == "primary" {
			return "az", n.AZ, nil
		}
	}
	return "", "", fmt.Errorf("the database has no primary")
}

func dbPrimary(st stack.Status) (string, string, error) {
	if !st.Database.MultiAZ {
		return "", "", fmt.Errorf("needs multi_az = true in the stack file's database block: without a standby nothing takes over")
	}
	return "db-primary", "", nil
}

func oneInstance(st stack.Status) (string, string, error) {
	r, err := primaryOf(st)
	if err != nil {
		return "", "", err
	}
	for _, in := range r.Instances {
		if in.State == "in-service" {
			return "instance", in.ID, nil
		}
	}
	return "", "", fmt.Errorf("the primary region has no instance in service")
}

func cpuLoad(st stack.Status) (string, string, error) {
	r, err := primaryOf(st)
	if err != nil {
		return "", "", err
	}
	if r.AutoScaling == nil || r.AutoScaling.Desired >= r.AutoScaling.Max {
		return "", "", fmt.Errorf("region %s's group is already at its maximum", r.Name)
	}
	return faultCPU, r.Name, nil
}

// promoteAfterDNSSwitch is the on-call engineer of the seed: once DNS has
// moved users to the other region, promote the database replica there.
// With automatic cross-region failover there is nothing to do.
func promoteAfterDNSSwitch(ctx context.Context, d *driver, st stack.Status, fault time.Time) (bool, error) {
	if st.Database.CrossRegionFailover == "automatic" {
		return true, nil
	}
	_, to, ok := DNSSwitch(d.dnsAnswers(), fault)
	if !ok {
		return false, nil
	}
	region := regionsByAddr(st)[to]
	d.mark(Marker{At: time.Now(), Kind: "operator", Label: "operator promotes the replica in " + region})
	if err := d.ctl.Promote(ctx, region); err != nil {
		return false, fmt.Errorf("promoting the replica in %s: %w", region, err)
	}
	return true, nil
}

// atMax: the group the CPU load hits has scaled to its maximum.
func atMax(ctx context.Context, d *driver, before stack.Status) bool {
	st, err := d.ctl.Status(ctx)
	if err != nil {
		return false
	}
	for _, r := range st.Regions {
		if r.Role == "primary" && r.AutoScaling != nil {
			return r.AutoScaling.Desired == r.AutoScaling.Max && r.AutoScaling.InService >= r.AutoScaling.Max
		}
	}
	return false
}
