package drill

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hastack/hastack/internal/stack"
)

// quickStatus is the quick example as status shows it once up.
func quickStatus() stack.Status {
	return stack.Status{
		Regions: []stack.RegionStatus{
			{Name: "us-east-1", Role: "primary", Instances: []stack.InstanceStatus{{ID: "i-1", AZ: "us-east-1a", State: "in-service"}, {ID: "i-2", AZ: "us-east-1b", State: "in-service"}},
				AutoScaling: &stack.ASGStatus{Desired: 2, Max: 4}},
			{Name: "us-west-2", Role: "secondary"},
		},
		Database: stack.DatabaseStatus{MultiAZ: true, CrossRegionFailover: "manual", Nodes: []stack.NodeStatus{
			{Name: "db-us-east-1a", Region: "us-east-1", AZ: "us-east-1a", Role: "primary"},
			{Name: "db-us-east-1b", Region: "us-east-1", AZ: "us-east-1b", Role: "standby"},
			{Name: "db-us-west-2a", Region: "us-west-2", AZ: "us-west-2a", Role: "replica"},
		}},
	}
}

func TestScenarioFaults(t *testing.T) {
	tests := []struct {
		scenario string
		opts     Options
		want     string // describe() of the faults
	}{
		{"region-failure", Options{}, "region us-east-1 --mode isolate"},
		{"region-failure", Options{Mode: stack.ModeCrash}, "region us-east-1 --mode crash"},
		{"region-crash", Options{}, "region us-east-1 --mode crash"},
		{"replication-partition", Options{Duration: time.Second}, "partition us-east-1 us-west-2"},
		{"gray-failure", Options{Delay: 200 * time.Millisecond, Loss: 30}, "network us-east-1 --to internet --delay 200ms --loss 30%"},
		// The primary's AZ apart from the rest of its region, every other
		// region and the internet (which holds dns and witness).
		{"az-isolation", Options{}, "partition us-east-1a us-east-1; partition us-east-1a us-west-2; partition us-east-1a internet"},
		{"az-failure", Options{}, "az us-east-1a"},
		// Cut off from Route53's checkers, the other region and the
		// witness; the internet (clients) still reaches it.
		{"split-brain", Options{}, "partition us-east-1 dns; partition us-east-1 us-west-2; partition us-east-1 witness"},
		{"db-failover", Options{}, "db-primary"},
		{"instance-failure", Options{}, "instance i-1"},
		{"scale-out", Options{}, "cpu us-east-1"},
	}
	for _, tt := range tests {
		t.Run(tt.scenario+" "+tt.want, func(t *testing.T) {
			sc, err := Find(tt.scenario)
			if err != nil {
				t.Fatal(err)
			}
			faults, err := sc.Faults(quickStatus(), tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			if got := describe(faults); got != tt.want {
				t.Fatalf("faults = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestScenarioFaultsRefused(t *testing.T) {
	noReplica := quickStatus()
	noReplica.Database.Nodes = noReplica.Database.Nodes[:2]
	singleAZ := quickStatus()
	singleAZ.Database.MultiAZ = false
	failed := quickStatus()
	failed.Regions[0].Failed = true
	tests := []struct {
		scenario string
		st       stack.Status
		want     string
	}{
		{"replication-partition", noReplica, "no replica outside region us-east-1"},
		{"az-isolation", singleAZ, "needs multi_az = true"},
		{"region-failure", failed, "already failed"},
		{"region-failure-automatic", quickStatus(), `needs cross_region_failover = "automatic"`},
		{"split-brain", noReplica, "no replica outside region us-east-1"},
		{"split-brain", failed, "already failed"},
	}
	for _, tt := range tests {
		sc, _ := Find(tt.scenario)
		if _, err := sc.Faults(tt.st, Options{}); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: %v, want an error with %q", tt.scenario, err, tt.want)
		}
	}
	if _, err := linkDelay(noReplica, time.Second); err == nil {
		t.Error("a link delay without a replica in another region was accepted")
	}
	f, err := linkDelay(quickStatus(), 500*time.Millisecond)
	if err != nil || f.String() != "network us-east-1 --to us-west-2 --delay 500ms" {
		t.Fatalf("linkDelay = %q, %v", f, err)
	}
}

func TestOptionsCheck(t *testing.T) {
	tests := []struct {
		scenario string
		opts     Options
		want     string // "" when accepted
	}{
		{"region-failure", Options{Mode: stack.ModeCrash, LinkDelay: 500 * time.Millisecond}, ""},
		{"region-failure", Options{Mode: "pause"}, `unknown region failure mode "pause"`},
		{"region-crash", Options{Mode: stack.ModeIsolate}, "scenario region-crash takes no --mode (region-failure, failback, region-failure-automatic do)"},
		{"region-failure", Options{Duration: time.Second}, "takes no --duration (replication-partition, gray-failure do)"},
		{"replication-partition", Options{Duration: 5 * time.Second}, ""},
		{"replication-partition", Options{Loss: 10}, "takes no --loss (gray-failure do)"},
		{"gray-failure", Options{Delay: time.Second, Loss: 100}, ""},
		{"gray-failure", Options{Loss: 101}, "loss 101% is not between 0% and 100%"},
		{"gray-failure", Options{Delay: -time.Second}, "must not be negative"},
		{"db-failover", Options{LinkDelay: time.Second}, "takes no --link-delay"},
		{"az-isolation", Options{}, ""},
		{"split-brain", Options{Mode: stack.ModeCrash}, "scenario split-brain takes no --mode"},
	}
	for _, tt := range tests {
		sc, _ := Find(tt.scenario)
		err := tt.opts.Check(sc)
		if (tt.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tt.want)) {
			t.Errorf("%s %+v: %v, want %q", tt.scenario, tt.opts, err, tt.want)
		}
	}
}

func TestOptionsDefaults(t *testing.T) {
	gray, _ := Find("gray-failure")
	o := Options{}
	o.defaults(gray)
	if o.Duration != 10*time.Second || o.Delay != 200*time.Millisecond || o.Loss != 30 {
		t.Fatalf("gray-failure defaults: duration %s delay %s loss %g", o.Duration, o.Delay, o.Loss)
	}
	// Loss alone: no delay is added.
	o = Options{Loss: 5}
	o.defaults(gray)
	if o.Delay != 0 || o.Loss != 5 {
		t.Fatalf("gray-failure with --loss 5%%: delay %s loss %g", o.Delay, o.Loss)
	}
	region, _ := Find("region-failure")
	o = Options{}
	o.defaults(region)
	if o.Duration != 0 || o.Delay != 0 || o.Loss != 0 {
		t.Fatalf("region-failure took timed defaults: %+v", o)
	}
}

func TestEveryScenarioIsDescribedAndListed(t *testing.T) {
	var names []string
	for _, sc := range Scenarios {
		if sc.Description == "" || sc.Faults == nil {
			t.Errorf("scenario %q lacks a description or faults", sc.Name)
		}
		if slices.Contains(names, sc.Name) {
			t.Errorf("scenario %q twice", sc.Name)
		}
		names = append(names, sc.Name)
		if sc.Timed && !sc.Accepts(OptDuration) {
			t.Errorf("timed scenario %s takes no --duration", sc.Name)
		}
	}
	for _, want := range []string{"region-failure", "region-crash", "replication-partition", "gray-failure", "az-isolation"} {
		if !slices.Contains(names, want) {
			t.Errorf("no scenario %s", want)
		}
	}
	if _, err := Find("region-explodes"); err == nil || !strings.Contains(err.Error(), "replication-partition") {
		t.Errorf("Find of an unknown scenario: %v", err)
	}
}

func TestFaultMoment(t *testing.T) {
	for fault, want := range map[string]string{
		"region us-east-1 --mode crash": "when us-east-1 was lost",
		"partition us-east-1 us-west-2": "when us-east-1 and us-west-2 were cut apart",
		"partition us-east-1a us-east-1; partition us-east-1a us-west-2; partition us-east-1a internet": "when us-east-1a was cut off",
		"partition us-east-1 dns; partition us-east-1 us-west-2; partition us-east-1 witness":           "when us-east-1 was cut off",
		"partition a b; partition c d":    "at the fault",
		"network us-east-1 --to internet": "at the fault",
		"db-primary":                      "when the database primary was lost",
		"":                                "at the fault",
	} {
		if got := faultMoment(fault); got != want {
			t.Errorf("faultMoment(%q) = %q, want %q", fault, got, want)
		}
	}
}
