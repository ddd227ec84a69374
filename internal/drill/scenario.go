package drill

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/hastack/hastack/internal/rds"
	"github.com/hastack/hastack/internal/stack"
)

// Controller is what a drill needs of a running stack; *stack.Client has it.
type Controller interface {
	Status(ctx context.Context) (stack.Status, error)
	Inject(ctx context.Context, f stack.Fault) error
	Undo(ctx context.Context, f stack.Fault) error
	Promote(ctx context.Context, region string) error
	Events(ctx context.Context) ([]stack.Event, error)
	DatabaseURL(ctx context.Context, reader bool, region string) (string, error)
	Switchover(ctx context.Context, region string) (rds.Switchover, error)
}

var _ Controller = (*stack.Client)(nil)

// faultCPU is the drill's own fault: CPU load it drives itself on the
// region named by the fault.
const faultCPU = "cpu"

// The options a scenario may take beyond the common ones, named as the
// command line's flags.
const (
	OptMode      = "mode"
	OptDuration  = "duration"
	OptDelay     = "delay"
	OptLoss      = "loss"
	OptLinkDelay = "link-delay"
)

// Scenario is one failure to rehearse.
type Scenario struct {
	Name        string
	Description string
	// Faults picks what to break in the stack as it is now, with the
	// drill's options: the faults the control API takes (or faultCPU),
	// injected in order and undone in reverse.
	Faults func(st stack.Status, o Options) ([]stack.Fault, error)
	// Takes lists the options (Opt*) the scenario uses; others are refused.
	Takes []string
	// Recoverable: the faults are undone once measured.
	Recoverable bool
	// Timed: the faults are held for Options.Duration whatever happens,
	// then undone; the drill measures what clients saw meanwhile.
	Timed bool
	// SwitchesRegion: recovery means DNS naming another region.
	SwitchesRegion bool
	// Promotes: recovery also means a new database primary.
	Promotes bool
	// HoldsRegion: recovery means clients served by the primary region
	// again; served by another one (DNS failed over) they wait still.
	HoldsRegion bool
	// ByAZ: the report counts, by AZ, the instances that served clients
	// while the fault was in place.
	ByAZ bool
	// SplitBrain: the report measures two writers (Report.SplitBrain).
	SplitBrain bool
	// FailsBack: once restored, the drill brings the primary home with a
	// switchover and measures both ways (Report.Failback).
	FailsBack bool
	// Operator, if set, acts while the drill waits for recovery, as the
	// on-call engineer would (the seed's manual replica promotion). It is
	// called every tick until it reports done.
	Operator func(ctx context.Context, d *driver, st stack.Status, fault time.Time) (done bool, err error)
	// Recovered, if set, replaces the default recovery test (clients
	// served again) with the scenario's own.
	Recovered func(ctx context.Context, d *driver, st stack.Status) bool
	// Expect, if set, states what must have held besides recovery and the
	// objectives, from what the drill recorded.
	Expect func(f Facts) []Check
}

// Accepts reports whether the scenario uses option (one of Opt*).
func (sc Scenario) Accepts(option string) bool { return slices.Contains(sc.Takes, option) }

var regionOptions = []string{OptMode, OptLinkDelay}

// Scenarios lists the drills hastack offers.
var Scenarios = []Scenario{
	{
		Name: "region-failure",
		Description: "the primary region is cut off from everything outside it (--mode isolate, the default: it keeps running) or crashes " +
			"(--mode crash); DNS fails over to the secondary and, with cross_region_failover = \"manual\", the drill promotes the replica there as an operator would",
		Faults:         primaryRegion(""),
		Takes:          regionOptions,
		Recoverable:    true,
		SwitchesRegion: true,
		Operator:       promoteAfterDNSSwitch,
	},
	{
		Name: "region-crash",
		Description: "every process of the primary region is killed at once, as in a power loss; DNS fails over and, with " +
			"cross_region_failover = \"manual\", the drill promotes the replica in the secondary region as an operator would",
		Faults:         primaryRegion(stack.ModeCrash),
		Takes:          []string{OptLinkDelay},
		Recoverable:    true,
		SwitchesRegion: true,
		Operator:       promoteAfterDNSSwitch,
	},
	{
		Name: "split-brain",
		Description: "the primary region is cut off from Route53's checkers (dns), from the other region and from the fencing witness, while internet clients " +
			"still reach it through cached DNS answers and kept-alive connections; DNS fails over and, with cross_region_failover = \"manual\", the drill " +
			"promotes the replica as an operator would; once healed, the old primary rejoins as a follower. It counts the writes the old primary acknowledged " +
			"after the promotion (divergent: fencing = \"none\" lets it, as on AWS; \"lease\" stops it) and every acknowledged write missing from the final primary",
		Faults:         cutOffPrimary,
		Recoverable:    true,
		SwitchesRegion: true,
		SplitBrain:     true,
		Operator:       promoteAfterDNSSwitch,
		Expect:         expectSplitBrain,
	},
	{
		Name: "failback",
		Description: "the whole way out and back: the primary region fails (--mode isolate or crash), DNS fails over and the replica is promoted " +
			"(by the drill as an operator would, or by hastack with cross_region_failover = \"automatic\"); the region recovers, its nodes rejoin as " +
			"replicas with pg_rewind, and a switchover brings the primary home. It reports the RTO and the writes lost each way, what pg_rewind took back, " +
			"and whether the stack ends as it started",
		Faults:         primaryRegion(""),
		Takes:          regionOptions,
		Recoverable:    true,
		SwitchesRegion: true,
		FailsBack:      true,
		Operator:       promoteAfterDNSSwitch,
		Expect:         expectFailback,
	},
	{
		Name:           "region-failure-automatic",
		Description:    "the primary region is lost (isolated, or crashed with --mode crash); DNS fails over and hastack promotes the replica by itself",
		Faults:         automaticRegion,
		Takes:          regionOptions,
		Recoverable:    true,
		SwitchesRegion: true,
	},
	{
		Name: "replication-partition",
		Description: "the link between the primary region and the replica's region is cut for --duration: the replica falls behind, " +
			"nothing fails over, and once the link is back the replica catches up with its data kept",
		Faults:      replicationLink,
		Takes:       []string{OptDuration},
		Recoverable: true,
		Timed:       true,
		Expect:      expectPartitionHealed,
	},
	{
		Name: "gray-failure",
		Description: "the primary region's load balancer is slow and lossy from the internet (--delay each way, --loss) for --duration: " +
			"whether and when Route53 fails over, and what clients see meanwhile",
		Faults:      grayFrontDoor,
		Takes:       []string{OptDuration, OptDelay, OptLoss},
		Recoverable: true,
		Timed:       true,
	},
	{
		Name: "az-isolation",
		Description: "the database primary's AZ is cut off from everything outside it while it keeps running: the Multi-AZ standby " +
			"takes over inside the region and the instances of the other AZ keep serving",
		Faults:      isolatePrimaryAZ,
		Recoverable: true,
		Promotes:    true,
		HoldsRegion: true,
		ByAZ:        true,
		Expect:      expectAZIsolated,
	},
	{
		Name:        "az-failure",
		Description: "the primary region's first AZ is lost: its instances and its database node (the primary) stop; the standby takes over and the group relaunches in the other AZ",
		Faults:      firstAZ,
		Recoverable: true,
		HoldsRegion: true,
		ByAZ:        true,
	},
	{
		Name:        "db-failover",
		Description: "the database primary's postmaster is killed (kill -9); the Multi-AZ standby takes over",
		Faults:      dbPrimary,
		Recoverable: true,
	},
	{
		Name:        "instance-failure",
		Description: "one serving instance of the primary region is killed (SIGKILL); its group replaces it",
		Faults:      oneInstance,
	},
	{
		Name:        "scale-out",
		Description: "CPU load through the load balancer until the primary region's group reaches its maximum; recovery is reaching it",
		Faults:      cpuLoad,
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

// primaryRegion takes the primary region out in mode, or in the mode the
// options ask for when mode is "".
func primaryRegion(mode string) func(stack.Status, Options) ([]stack.Fault, error) {
	return func(st stack.Status, o Options) ([]stack.Fault, error) {
		r, err := primaryOf(st)
		if err != nil {
			return nil, err
		}
		m := cmp.Or(mode, o.Mode, stack.ModeIsolate)
		return []stack.Fault{{Kind: stack.FaultRegion, Name: r.Name, Mode: m}}, nil
	}
}

func automaticRegion(st stack.Status, o Options) ([]stack.Fault, error) {
	if st.Database.CrossRegionFailover != "automatic" {
		return nil, fmt.Errorf("needs cross_region_failover = \"automatic\" in the stack file's database block (it is %q)", st.Database.CrossRegionFailover)
	}
	return primaryRegion("")(st, o)
}

// replicaRegion is the region of the database replica outside the primary
// region that a region failover would promote: the first one.
func replicaRegion(st stack.Status, primary string) (string, error) {
	for _, n := range st.Database.Nodes {
		if n.Role == "replica" && n.Region != primary {
			return n.Region, nil
		}
	}
	return "", fmt.Errorf("the database has no replica outside region %s; add a replica block to the stack file's database block", primary)
}

// linkDelay is the network fault that puts the options' LinkDelay on the
// link between the primary region and the replica's region.
func linkDelay(st stack.Status, delay time.Duration) (stack.Fault, error) {
	r, err := primaryOf(st)
	if err != nil {
		return stack.Fault{}, err
	}
	other, err := replicaRegion(st, r.Name)
	if err != nil {
		return stack.Fault{}, err
	}
	return stack.Fault{Kind: stack.FaultNetwork, Name: r.Name, Other: other, Delay: delay}, nil
}

func replicationLink(st stack.Status, _ Options) ([]stack.Fault, error) {
	r, err := primaryOf(st)
	if err != nil {
		return nil, err
	}
	other, err := replicaRegion(st, r.Name)
	if err != nil {
		return nil, err
	}
	return []stack.Fault{{Kind: stack.FaultPartition, Name: r.Name, Other: other}}, nil
}

// grayFrontDoor delays and drops the packets between the primary region
// and the internet: its load balancer as clients and Route53's checkers
// reach it. Traffic inside the region and to the other regions is spared.
func grayFrontDoor(st stack.Status, o Options) ([]stack.Fault, error) {
	r, err := primaryOf(st)
	if err != nil {
		return nil, err
	}
	return []stack.Fault{{Kind: stack.FaultNetwork, Name: r.Name, Other: stack.DomainInternet, Delay: o.Delay, Loss: o.Loss}}, nil
}

// primaryAZ is the AZ of the database primary, for scenarios that need a
// standby to take over.
func primaryAZ(st stack.Status) (stack.NodeStatus, error) {
	if !st.Database.MultiAZ {
		return stack.NodeStatus{}, fmt.Errorf("needs multi_az = true in the stack file's database block, or losing the primary's AZ loses the database")
	}
	for _, n := range st.Database.Nodes {
		if n.Role == "primary" {
			return n, nil
		}
	}
	return stack.NodeStatus{}, fmt.Errorf("the database has no primary")
}

// isolatePrimaryAZ partitions the primary's AZ from every other failure
// domain: the rest of its region, every other region and the internet
// (which holds the DNS checkers and the witness).
func isolatePrimaryAZ(st stack.Status, _ Options) ([]stack.Fault, error) {
	n, err := primaryAZ(st)
	if err != nil {
		return nil, err
	}
	var faults []stack.Fault
	for _, r := range st.Regions {
		faults = append(faults, stack.Fault{Kind: stack.FaultPartition, Name: n.AZ, Other: r.Name})
	}
	return append(faults, stack.Fault{Kind: stack.FaultPartition, Name: n.AZ, Other: stack.DomainInternet}), nil
}

func firstAZ(st stack.Status, _ Options) ([]stack.Fault, error) {
	n, err := primaryAZ(st)
	if err != nil {
		return nil, err
	}
	return []stack.Fault{{Kind: stack.FaultAZ, Name: n.AZ}}, nil
}

func dbPrimary(st stack.Status, _ Options) ([]stack.Fault, error) {
	if !st.Database.MultiAZ {
		return nil, fmt.Errorf("needs multi_az = true in the stack file's database block: without a standby nothing takes over")
	}
	return []stack.Fault{{Kind: stack.FaultDBPrimary}}, nil
}

func oneInstance(st stack.Status, _ Options) ([]stack.Fault, error) {
	r, err := primaryOf(st)
	if err != nil {
		return nil, err
	}
	for _, in := range r.Instances {
		if in.State == "in-service" {
			return []stack.Fault{{Kind: stack.FaultInstance, Name: in.ID}}, nil
		}
	}
	return nil, fmt.Errorf("the primary region has no instance in service")
}

func cpuLoad(st stack.Status, _ Options) ([]stack.Fault, error) {
	r, err := primaryOf(st)
	if err != nil {
		return nil, err
	}
	if r.AutoScaling == nil || r.AutoScaling.Desired >= r.AutoScaling.Max {
		return nil, fmt.Errorf("region %s's group is already at its maximum", r.Name)
	}
	return []stack.Fault{{Kind: faultCPU, Name: r.Name}}, nil
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

// describe words the faults of a drill as the command line would, e.g.
// "region us-east-1 --mode isolate".
func describe(faults []stack.Fault) string {
	var s string
	for i, f := range faults {
		if i > 0 {
			s += "; "
		}
		if f.Kind == faultCPU {
			s += faultCPU + " " + f.Name
			continue
		}
		s += f.String()
	}
	return s
}
