package spec_test

import (
	"errors"
	"go/parser"
	"go/token"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/hcl/v2"

	"github.com/hastack/hastack/internal/spec"
)

// base is a valid two-region stack. Error cases put their snippet before it,
// so positions in a snippet count from line 1.
const base = `
name = "t"
dns {
  domain = "app.example.com"
}
region "us-east-1" {
  role = "primary"
  vpc {
    cidr            = "10.0.0.0/16"
    azs             = ["us-east-1a", "us-east-1b"]
    public_subnets  = ["10.0.1.0/24", "10.0.2.0/24"]
    private_subnets = ["10.0.11.0/24", "10.0.12.0/24"]
  }
}
region "us-west-2" {
  role = "secondary"
  vpc {
    cidr            = "10.1.0.0/16"
    azs             = ["us-west-2a", "us-west-2b"]
    public_subnets  = ["10.1.1.0/24", "10.1.2.0/24"]
    private_subnets = ["10.1.11.0/24", "10.1.12.0/24"]
  }
}
`

// withBase returns snippet followed by the valid base stack.
func withBase(snippet string) string {
	return snippet + "\n" + base
}

// withDNS adds lines to base's dns block; they start on line 5.
func withDNS(lines string) string {
	const domain = "  domain = \"app.example.com\"\n"
	return strings.Replace(base, domain, domain+lines+"\n", 1)
}

// parse parses src as stack.hcl.
func parse(t *testing.T, src string) (*spec.Stack, hcl.Diagnostics) {
	t.Helper()
	return spec.Parse("stack.hcl", []byte(src))
}

func mustParse(t *testing.T, src string) *spec.Stack {
	t.Helper()
	s, diags := parse(t, src)
	if len(diags) > 0 {
		t.Fatalf("unexpected diagnostics:\n%s", spec.FormatDiagnostics(diags))
	}
	return s
}

func TestExamples(t *testing.T) {
	tests := []struct {
		file                 string
		name                 string
		ttl                  uint32
		lbPort               int
		lbInterval, dnsEvery time.Duration
		cooldown             time.Duration
		scaleOutCPU          float64
		engine               string
		dbPort               int
	}{
		{"../../examples/two-region/stack.hcl", "two-region", 60, 80, 30 * time.Second, 30 * time.Second, 300 * time.Second, 70, "mysql", 3306},
		{"../../examples/quick/stack.hcl", "quick", 1, 8080, 250 * time.Millisecond, 500 * time.Millisecond, 5 * time.Second, 25, "postgres", 5432},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := spec.Load(tt.file)
			if err != nil {
				t.Fatal(err)
			}
			if s.Name != tt.name || s.Filename != tt.file {
				t.Errorf("name, filename = %q, %q", s.Name, s.Filename)
			}
			if s.DNS.Domain != "app.example.com" || s.DNS.Zone != "example.com" || s.DNS.TTL != tt.ttl {
				t.Errorf("dns = %+v", s.DNS)
			}
			if s.DNS.HealthCheck.Interval != tt.dnsEvery || s.DNS.HealthCheck.FailureThreshold != 3 {
				t.Errorf("dns health check = %+v", s.DNS.HealthCheck)
			}
			if len(s.Regions) != 2 || s.Primary().Name != "us-east-1" || s.Region("us-west-2").Role != spec.Secondary {
				t.Fatalf("regions = %+v", s.Regions)
			}
			for _, r := range s.Regions {
				lb, asg := r.LoadBalancer, r.AutoScaling
				if lb.Port != tt.lbPort || lb.HealthCheck.Interval != tt.lbInterval || lb.HealthCheck.HealthyThreshold != 2 {
					t.Errorf("%s: load balancer = %+v", r.Name, lb)
				}
				if asg.Min != 2 || asg.Max != 4 || asg.Desired != 2 || asg.HealthCheckType != "ELB" {
					t.Errorf("%s: autoscaling = %+v", r.Name, asg)
				}
				if asg.ScaleOut.CPUThreshold != tt.scaleOutCPU || asg.ScaleIn.Adjustment != -1 || asg.ScaleOut.Cooldown != tt.cooldown {
					t.Errorf("%s: policies = %+v %+v", r.Name, asg.ScaleOut, asg.ScaleIn)
				}
				if asg.LaunchTemplate.Port != 8080 {
					t.Errorf("%s: launch template = %+v", r.Name, asg.LaunchTemplate)
				}
			}
			db := s.Database
			if db.Engine != tt.engine || db.Port != tt.dbPort {
				t.Errorf("database engine, port = %q, %d, want %q, %d", db.Engine, db.Port, tt.engine, tt.dbPort)
			}
			if !db.MultiAZ || db.CrossRegionFailover != "manual" || len(db.Replicas) != 1 || db.Replicas[0].Region != "us-west-2" {
				t.Errorf("database = %+v", db)
			}
		})
	}
}

func TestDefaults(t *testing.T) {
	s := mustParse(t, base)
	want := spec.DNS{
		Domain: "app.example.com", Zone: "example.com", TTL: 60, Listen: "127.0.0.1:5353", EvaluateTargetHealth: true,
		HealthCheck: spec.DNSHealthCheck{
			Path: "/health", Interval: 30 * time.Second, FailureThreshold: 3,
			ConnectTimeout: 4 * time.Second, ResponseTimeout: 2 * time.Second, Checkers: 3,
		},
	}
	if !reflect.DeepEqual(s.DNS, want) {
		t.Errorf("dns = %+v, want %+v", s.DNS, want)
	}
	wantLB := spec.LoadBalancer{
		Port: 80, Algorithm: "round_robin", DeregistrationDelay: 300 * time.Second, IdleTimeout: 60 * time.Second, MaxConnections: 10000,
		HealthCheck: spec.TargetHealthCheck{
			Path: "/health", Port: 0, Interval: 30 * time.Second, Timeout: 5 * time.Second,
			HealthyThreshold: 2, UnhealthyThreshold: 2, Matcher: "200",
		},
	}
	wantASG := spec.AutoScaling{
		Min: 2, Max: 4, Desired: 2, HealthCheckType: "ELB", HealthCheckGracePeriod: 300 * time.Second,
		LaunchTemplate: spec.LaunchTemplate{Port: 8080},
		ScaleOut: spec.ScalingPolicy{CPUThreshold: 70, Period: time.Minute, EvaluationPeriods: 2,
			DatapointsToAlarm: 2, Adjustment: 1, Cooldown: 300 * time.Second},
		ScaleIn: spec.ScalingPolicy{CPUThreshold: 30, Period: time.Minute, EvaluationPeriods: 2,
			DatapointsToAlarm: 2, Adjustment: -1, Cooldown: 300 * time.Second},
	}
	for _, r := range s.Regions {
		if !reflect.DeepEqual(r.LoadBalancer, wantLB) {
			t.Errorf("%s: load balancer = %+v, want %+v", r.Name, r.LoadBalancer, wantLB)
		}
		if !reflect.DeepEqual(r.AutoScaling, wantASG) {
			t.Errorf("%s: autoscaling = %+v, want %+v", r.Name, r.AutoScaling, wantASG)
		}
	}
	wantDB := spec.Database{Engine: "postgres", Port: 5432, Name: "app", Username: "hastack", CrossRegionFailover: "manual",
		FailoverDetection: 10 * time.Second, RegionFailoverAfter: time.Minute, Fencing: "none", FencingLease: 3 * time.Second, CrossRegionCommit: "async"}
	if !reflect.DeepEqual(s.Database, wantDB) {
		t.Errorf("database = %+v, want %+v", s.Database, wantDB)
	}
	if want := (spec.Network{InterRegionAuto: true}); s.Network != want {
		t.Errorf("network = %+v, want %+v", s.Network, want)
	}
	if want := (spec.Objectives{}); s.Objectives != want {
		t.Errorf("objectives = %+v, want none set %+v", s.Objectives, want)
	}
	vpc := s.Region("us-east-1").VPC
	if vpc.CIDR != netip.MustParsePrefix("10.0.0.0/16") || len(vpc.PublicSubnets) != 2 || vpc.PrivateSubnets[1] != netip.MustParsePrefix("10.0.12.0/24") {
		t.Errorf("vpc = %+v", vpc)
	}
	if r := s.Region("us-east-1").DeclRange; r.Start.Line != 6 || r.Start.Column != 1 {
		t.Errorf("region DeclRange = %v", r)
	}
}

func TestDerivedDefaults(t *testing.T) {
	tests := []struct {
		name, snippet string
		check         func(*spec.Stack) bool
	}{
		{"desired follows min", "autoscaling {\n  min_size = 3\n}", func(s *spec.Stack) bool {
			return s.Regions[0].AutoScaling.Desired == 3
		}},
		{"datapoints follow evaluation periods", "autoscaling {\n  scale_out {\n    evaluation_periods = 5\n  }\n}", func(s *spec.Stack) bool {
			return s.Regions[0].AutoScaling.ScaleOut.DatapointsToAlarm == 5
		}},
		{"matcher list and range", "load_balancer {\n  health_check {\n    matcher = \"200,202,300-399\"\n  }\n}", func(s *spec.Stack) bool {
			return s.Regions[0].LoadBalancer.HealthCheck.Matcher == "200,202,300-399"
		}},
		{"least outstanding requests", "load_balancer {\n  algorithm = \"least_outstanding_requests\"\n}", func(s *spec.Stack) bool {
			return s.Regions[1].LoadBalancer.Algorithm == "least_outstanding_requests"
		}},
		{"launch template", "autoscaling {\n  launch_template {\n    command = \"/bin/app\"\n    args = [\"-v\"]\n    env = { MODE = \"demo\" }\n  }\n}", func(s *spec.Stack) bool {
			lt := s.Regions[0].AutoScaling.LaunchTemplate
			return lt.Command == "/bin/app" && reflect.DeepEqual(lt.Args, []string{"-v"}) && lt.Env["MODE"] == "demo"
		}},
		{"MySQL's default port", "database {\n  engine = \"mysql\"\n}", func(s *spec.Stack) bool {
			return s.Database.Port == 3306
		}},
		{"MySQL on a port of its own", "database {\n  engine = \"mysql\"\n  port = 3307\n}", func(s *spec.Stack) bool {
			return s.Database.Port == 3307
		}},
		{"PostgreSQL's default port", "database {\n  engine = \"postgres\"\n}", func(s *spec.Stack) bool {
			return s.Database.Port == 5432
		}},
		{"null means default", "load_balancer {\n  port = null\n}", func(s *spec.Stack) bool {
			return s.Regions[0].LoadBalancer.Port == 80
		}},
		{"lease fencing", "database {\n  fencing = \"lease\"\n  fencing_lease = \"1500ms\"\n}", func(s *spec.Stack) bool {
			return s.Database.Fencing == "lease" && s.Database.FencingLease == 1500*time.Millisecond
		}},
		{"synchronous cross-region commits", "database {\n  cross_region_commit = \"sync\"\n}", func(s *spec.Stack) bool {
			return s.Database.CrossRegionCommit == "sync"
		}},
		{"the seed's engine", "database {\n  engine = \"mysql\"\n}", func(s *spec.Stack) bool {
			return s.Database.Engine == "mysql"
		}},
		{"lease fencing with the default lease", "database {\n  fencing = \"lease\"\n}", func(s *spec.Stack) bool {
			return s.Database.Fencing == "lease" && s.Database.FencingLease == 3*time.Second
		}},
		{"fixed inter-region latency", "network {\n  inter_region_latency = \"40ms\"\n}", func(s *spec.Stack) bool {
			return s.Network == spec.Network{InterRegionLatency: 40 * time.Millisecond}
		}},
		{"no inter-region latency", "network {\n  inter_region_latency = \"0s\"\n}", func(s *spec.Stack) bool {
			return s.Network == spec.Network{}
		}},
		{"auto inter-region latency", "network {\n  inter_region_latency = \"auto\"\n}", func(s *spec.Stack) bool {
			return s.Network == spec.Network{InterRegionAuto: true}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if s := mustParse(t, withBase(tt.snippet)); !tt.check(s) {
				t.Errorf("unexpected stack: %+v", s)
			}
		})
	}
}

func TestZone(t *testing.T) {
	tests := []struct{ dns, zone string }{
		{`domain = "app.example.com"`, "example.com"},
		{`domain = "App.Example.COM."`, "example.com"},
		{`domain = "localhost"`, "localhost"},
		{"domain = \"a.b.example.com\"\n  zone = \"example.com\"", "example.com"},
		{"domain = \"example.com\"\n  zone = \"example.com\"", "example.com"},
	}
	for _, tt := range tests {
		src := strings.Replace(base, `domain = "app.example.com"`, tt.dns, 1)
		if s := mustParse(t, src); s.DNS.Zone != tt.zone {
			t.Errorf("%s: zone = %q, want %q", tt.dns, s.DNS.Zone, tt.zone)
		}
	}
}

// TestOverrides checks that a region's load_balancer and autoscaling blocks
// override the shared ones attribute by attribute, nested blocks included.
func TestOverrides(t *testing.T) {
	src := withBase(`
load_balancer {
  port = 8081
  health_check {
    interval = "10s"
    timeout  = "3s"
  }
}
autoscaling {
  min_size = 1
  max_size = 6
  scale_out {
    cpu_threshold = 60
    cooldown      = "30s"
  }
}
region "eu-west-1" {
  role = "secondary"
  vpc {
    cidr            = "10.2.0.0/16"
    azs             = ["eu-west-1a"]
    public_subnets  = ["10.2.1.0/24"]
    private_subnets = ["10.2.11.0/24"]
  }
  load_balancer {
    algorithm = "least_outstanding_requests"
    health_check {
      timeout = "1s"
      path    = "/ready"
    }
  }
  autoscaling {
    max_size = 3
    scale_out {
      cooldown = "10s"
    }
  }
}`)
	s := mustParse(t, src)

	shared := s.Region("us-east-1")
	if lb := shared.LoadBalancer; lb.Port != 8081 || lb.Algorithm != "round_robin" ||
		lb.HealthCheck.Interval != 10*time.Second || lb.HealthCheck.Timeout != 3*time.Second || lb.HealthCheck.Path != "/health" {
		t.Errorf("shared load balancer = %+v", lb)
	}
	if asg := shared.AutoScaling; asg.Min != 1 || asg.Max != 6 || asg.Desired != 1 ||
		asg.ScaleOut.CPUThreshold != 60 || asg.ScaleOut.Cooldown != 30*time.Second {
		t.Errorf("shared autoscaling = %+v", asg)
	}

	over := s.Region("eu-west-1")
	lb := over.LoadBalancer
	if lb.Port != 8081 || lb.Algorithm != "least_outstanding_requests" {
		t.Errorf("overridden load balancer = %+v", lb)
	}
	if hc := lb.HealthCheck; hc.Interval != 10*time.Second || hc.Timeout != time.Second || hc.Path != "/ready" || hc.Matcher != "200" {
		t.Errorf("overridden health check = %+v", hc)
	}
	asg := over.AutoScaling
	if asg.Min != 1 || asg.Max != 3 || asg.ScaleOut.CPUThreshold != 60 || asg.ScaleOut.Cooldown != 10*time.Second ||
		asg.ScaleIn.CPUThreshold != 30 {
		t.Errorf("overridden autoscaling = %+v", asg)
	}
}

func TestErrors(t *testing.T) {
	tests := []struct {
		name string
		src  string
		want string
	}{
		// Structure.
		{"syntax error", withBase("load_balancer {\n  port = 80 +\n}"),
			`stack.hcl:2:14: Invalid expression: Expected the start of an expression, but found an invalid expression token.`},
		{"unknown attribute", withBase(`nmae = "t"`),
			`stack.hcl:1:1: unknown attribute "nmae" at the top level; did you mean "name"?`},
		{"unknown nested attribute", withBase("load_balancer {\n  health_check {\n    intervall = \"5s\"\n  }\n}"),
			`stack.hcl:3:5: unknown attribute "intervall" in the health_check block; did you mean "interval"?`},
		{"unknown block", withBase("alarm {\n}"),
			`stack.hcl:1:1: unknown block "alarm" at the top level.`},
		{"attribute written as block", withDNS("  ttl {\n  }"),
			"stack.hcl:5:3: ttl is an attribute, not a block; write ttl = <value>."},
		{"block written as attribute", withBase("database = {\n  engine = \"postgres\"\n}"),
			`stack.hcl:1:1: database is a block, not an attribute; write database { ... }.`},
		{"repeated block", withBase("database {\n}\ndatabase {\n}"),
			`stack.hcl:3:1: only one database block is allowed at the top level; the first is at line 1.`},
		{"label on a plain block", withBase("database \"main\" {\n}"),
			`stack.hcl:1:10: a database block takes no label; write database { ... }.`},
		{"region without label", withBase("region {\n  role = \"secondary\"\n}"),
			`stack.hcl:1:1: a region block needs exactly one label, its name, as in region "us-east-1" { ... }.`},

		// Required settings.
		{"missing name", strings.Replace(base, `name = "t"`, "", 1),
			`stack.hcl:1:1: name is required, e.g. name = "shop".`},
		{"missing dns block", strings.Replace(base, "dns {\n  domain = \"app.example.com\"\n}", "", 1),
			`stack.hcl:1:1: a dns block is required, e.g. dns { domain = "app.example.com" }.`},
		{"missing domain", strings.Replace(base, `domain = "app.example.com"`, "ttl = 5", 1),
			`stack.hcl:3:1: domain is required in the dns block, e.g. domain = "app.example.com".`},
		{"no region", "name = \"t\"\ndns {\n  domain = \"app.example.com\"\n}\n",
			`stack.hcl:1:1: at least one region block is required, e.g. region "us-east-1" { ... }.`},
		{"missing role", strings.Replace(base, `role = "secondary"`, "", 1),
			`stack.hcl:15:1: role is required in region "us-west-2": "primary" or "secondary".`},
		{"missing vpc", withBase("region \"eu-west-1\" {\n  role = \"secondary\"\n}"),
			`stack.hcl:1:1: region "eu-west-1" needs a vpc block.`},
		{"missing vpc settings", withBase("region \"eu-west-1\" {\n  role = \"secondary\"\n  vpc {\n    cidr = \"10.2.0.0/16\"\n  }\n}"),
			"stack.hcl:3:3: azs is required in the vpc block.\n" +
				"stack.hcl:3:3: public_subnets is required in the vpc block.\n" +
				"stack.hcl:3:3: private_subnets is required in the vpc block."},
		{"missing replica region", withBase("database {\n  replica {\n  }\n}"),
			`stack.hcl:2:3: region is required in the replica block, e.g. region = "us-west-2".`},

		// Types.
		{"string for number", withDNS(`  ttl = "sixty"`),
			"stack.hcl:5:9: ttl must be a whole number, not a string."},
		{"number for string", strings.Replace(base, `name = "t"`, `name = 5`, 1),
			`stack.hcl:2:8: name must be a string, not a number.`},
		{"fraction for whole number", withBase("load_balancer {\n  port = 80.5\n}"),
			`stack.hcl:2:10: port must be a whole number, not 80.5.`},
		{"huge number", withBase("load_balancer {\n  port = 1e30\n}"),
			`stack.hcl:2:10: port (1e+30) is out of range.`},
		{"string for bool", withBase("database {\n  multi_az = \"yes\"\n}"),
			`stack.hcl:2:14: multi_az must be true or false, not a string.`},
		{"string for list", strings.Replace(base, `["us-east-1a", "us-east-1b"]`, `"us-east-1a"`, 1),
			`stack.hcl:10:23: azs must be a list of strings, not a string.`},
		{"number in map of strings", withBase("autoscaling {\n  launch_template {\n    env = { PORT = 80 }\n  }\n}"),
			`stack.hcl:3:11: env.PORT must be a string, not a number.`},
		{"number for duration", withBase("autoscaling {\n  scale_in {\n    period = 60\n  }\n}"),
			`stack.hcl:3:14: period must be a duration string such as "30s", not a number.`},
		{"variable", withBase("load_balancer {\n  port = http\n}"),
			`stack.hcl:2:10: Variables not allowed: Variables may not be used here.`},

		// Sizes.
		{"min above max", withBase("autoscaling {\n  min_size = 5\n}"),
			`stack.hcl:2:14: min_size (5) is greater than max_size (4).`},
		{"desired above max", withBase("autoscaling {\n  desired_capacity = 9\n}"),
			`stack.hcl:2:22: desired_capacity (9) must be between min_size (2) and max_size (4).`},
		{"desired below min", withBase("autoscaling {\n  min_size = 2\n  desired_capacity = 1\n}"),
			`stack.hcl:3:22: desired_capacity (1) must be between min_size (2) and max_size (4).`},
		{"negative min", withBase("autoscaling {\n  min_size = -1\n}"),
			`stack.hcl:2:14: min_size (-1) must be at least 0.`},

		// Addresses.
		{"malformed vpc cidr", strings.Replace(base, `"10.1.0.0/16"`, `"10.1.0.0/33"`, 1),
			`stack.hcl:18:23: cidr ("10.1.0.0/33") is not a CIDR block (use e.g. "10.0.0.0/16").`},
		{"host bits in vpc cidr", strings.Replace(base, `"10.1.0.0/16"`, `"10.1.0.1/16"`, 1),
			`stack.hcl:18:23: cidr ("10.1.0.1/16") has host bits set; did you mean "10.1.0.0/16"?`},
		{"ipv6 vpc cidr", strings.Replace(base, `"10.1.0.0/16"`, `"fd00::/16"`, 1),
			`stack.hcl:18:23: cidr ("fd00::/16") must be an IPv4 CIDR block.`},
		{"vpc larger than /16", strings.Replace(base, `"10.1.0.0/16"`, `"10.0.0.0/8"`, 1),
			`stack.hcl:18:23: cidr ("10.0.0.0/8") is larger than a /16; hastack maps each VPC onto a 127.R.0.0/16 loopback block.`},
		{"malformed subnet", strings.Replace(base, `"10.1.2.0/24"`, `"10.1.2.0"`, 1),
			`stack.hcl:20:39: public_subnets[1] ("10.1.2.0") is not a CIDR block (use e.g. "10.0.0.0/16").`},
		{"overlapping vpcs", strings.Replace(base, `"10.1.0.0/16"`, `"10.0.0.0/16"`, 1),
			"stack.hcl:18:23: cidr (\"10.0.0.0/16\") of region \"us-west-2\" overlaps region \"us-east-1\"'s (\"10.0.0.0/16\", line 9).\n" +
				`stack.hcl:20:24: public_subnets[0] ("10.1.1.0/24") is outside the VPC's cidr ("10.0.0.0/16").` + "\n" +
				`stack.hcl:20:39: public_subnets[1] ("10.1.2.0/24") is outside the VPC's cidr ("10.0.0.0/16").` + "\n" +
				`stack.hcl:21:24: private_subnets[0] ("10.1.11.0/24") is outside the VPC's cidr ("10.0.0.0/16").` + "\n" +
				`stack.hcl:21:40: private_subnets[1] ("10.1.12.0/24") is outside the VPC's cidr ("10.0.0.0/16").`},
		{"overlapping subnets", strings.Replace(base, `"10.1.11.0/24"`, `"10.1.0.0/22"`, 1),
			`stack.hcl:21:24: private_subnets[0] ("10.1.0.0/22") overlaps public_subnets[0] ("10.1.1.0/24").` + "\n" +
				`stack.hcl:21:24: private_subnets[0] ("10.1.0.0/22") overlaps public_subnets[1] ("10.1.2.0/24").`},
		{"subnet outside vpc", strings.Replace(base, `"10.1.12.0/24"`, `"10.2.12.0/24"`, 1),
			`stack.hcl:21:40: private_subnets[1] ("10.2.12.0/24") is outside the VPC's cidr ("10.1.0.0/16").`},
		{"fewer azs than public subnets", strings.Replace(base, `["us-west-2a", "us-west-2b"]`, `["us-west-2a"]`, 1),
			"stack.hcl:20:23: public_subnets has 2 entries but azs has 1; give each availability zone one subnet.\n" +
				"stack.hcl:21:23: private_subnets has 2 entries but azs has 1; give each availability zone one subnet."},
		{"fewer private subnets than azs", strings.Replace(base, `["10.1.11.0/24", "10.1.12.0/24"]`, `["10.1.11.0/24"]`, 1),
			`stack.hcl:21:23: private_subnets has 1 entries but azs has 2; give each availability zone one subnet.`},
		{"no az", strings.Replace(base, `["us-west-2a", "us-west-2b"]`, `[]`, 1),
			`stack.hcl:19:23: azs must list at least one availability zone.`},
		{"repeated az", strings.Replace(base, `["us-west-2a", "us-west-2b"]`, `["us-west-2a", "us-west-2a"]`, 1),
			`stack.hcl:19:23: azs lists "us-west-2a" twice.`},

		// Regions.
		{"no primary", strings.Replace(base, `role = "primary"`, `role = "secondary"`, 1),
			`stack.hcl:6:1: no region has role = "primary"; exactly one must.`},
		{"two primaries", strings.Replace(base, `role = "secondary"`, `role = "primary"`, 1),
			`stack.hcl:16:10: region "us-west-2" is also primary; only one region can be, and region "us-east-1" (line 6) already is.`},
		{"bad role", strings.Replace(base, `role = "secondary"`, `role = "standby"`, 1),
			`stack.hcl:16:10: role ("standby") must be "primary" or "secondary".`},
		{"repeated region", strings.Replace(base, `region "us-west-2"`, `region "us-east-1"`, 1),
			`stack.hcl:15:8: region "us-east-1" is declared twice; the first is at line 6.`},
		{"bad region name", strings.Replace(base, `region "us-west-2"`, `region "US West"`, 1),
			`stack.hcl:15:8: region name "US West" must be lower-case letters, digits and hyphens, e.g. "us-east-1".`},

		// Replicas.
		{"replica in primary region", withBase("database {\n  replica {\n    region = \"us-east-1\"\n  }\n}"),
			`stack.hcl:3:14: replica region "us-east-1" is the primary region; a cross-region replica must be in another region.`},
		{"replica in unknown region", withBase("database {\n  replica {\n    region = \"eu-west-1\"\n  }\n}"),
			`stack.hcl:3:14: replica region "eu-west-1" is not a region of this stack.`},
		{"repeated replica", withBase("database {\n  replica {\n    region = \"us-west-2\"\n  }\n  replica {\n    region = \"us-west-2\"\n  }\n}"),
			`stack.hcl:6:14: replica region "us-west-2" is listed twice; the first is at line 2.`},

		// Durations.
		{"malformed duration", withDNS("  health_check {\n    request_interval = \"3x\"\n  }"),
			`stack.hcl:6:24: request_interval: "3x" is not a duration (use e.g. "500ms", "30s").`},
		{"zero interval", withBase("load_balancer {\n  health_check {\n    interval = \"0s\"\n  }\n}"),
			`stack.hcl:3:16: interval (0s) must be longer than zero.`},
		{"negative period", withBase("autoscaling {\n  scale_out {\n    period = \"-1m\"\n  }\n}"),
			`stack.hcl:3:14: period (-1m0s) must be longer than zero.`},
		{"negative cooldown", withBase("autoscaling {\n  scale_out {\n    cooldown = \"-1s\"\n  }\n}"),
			`stack.hcl:3:16: cooldown (-1s) must not be negative.`},
		{"negative deregistration delay", withBase("load_balancer {\n  deregistration_delay = \"-5s\"\n}"),
			`stack.hcl:2:26: deregistration_delay (-5s) must not be negative.`},
		{"idle timeout zero", withBase("load_balancer {\n  idle_timeout = \"0s\"\n}"),
			`stack.hcl:2:18: idle_timeout (0s) must be longer than zero.`},
		{"retry flag not a bool", withBase("load_balancer {\n  retry_on_connect_failure = \"yes\"\n}"),
			`stack.hcl:2:30: retry_on_connect_failure must be true or false, not a string.`},
		{"error rate above one", withBase("objectives {\n  max_error_rate = 5\n}"),
			`stack.hcl:2:20: max_error_rate (5) must be between 0 and 1, e.g. 0.01 for 1%.`},
		{"rto not a duration", withBase("objectives {\n  rto = \"fast\"\n}"),
			`stack.hcl:2:9: rto: "fast" is not a duration (use e.g. "500ms", "30s").`},
		{"timeout not below interval", withBase("load_balancer {\n  health_check {\n    interval = \"5s\"\n  }\n}"),
			`stack.hcl:3:16: timeout (5s) must be shorter than interval (5s).`},

		// Ports.
		{"load balancer port 0", withBase("load_balancer {\n  port = 0\n}"),
			`stack.hcl:2:10: port (0) must be between 1 and 65535.`},
		{"health check port too high", withBase("load_balancer {\n  health_check {\n    port = 70000\n  }\n}"),
			`stack.hcl:3:12: port (70000) must be between 1 and 65535, or 0 for the traffic port.`},
		{"launch port negative", withBase("autoscaling {\n  launch_template {\n    port = -1\n  }\n}"),
			`stack.hcl:3:12: port (-1) must be between 1 and 65535.`},
		{"database port too high", withBase("database {\n  port = 65536\n}"),
			`stack.hcl:2:10: port (65536) must be between 1 and 65535.`},

		// Thresholds and matchers.
		{"zero failure threshold", withDNS("  health_check {\n    failure_threshold = 0\n  }"),
			`stack.hcl:6:25: failure_threshold (0) must be at least 1.`},
		{"zero healthy threshold", withBase("load_balancer {\n  health_check {\n    healthy_threshold = 0\n  }\n}"),
			`stack.hcl:3:25: healthy_threshold (0) must be at least 1.`},
		{"zero evaluation periods", withBase("autoscaling {\n  scale_in {\n    evaluation_periods = 0\n  }\n}"),
			`stack.hcl:3:26: evaluation_periods (0) must be at least 1.`},
		{"matcher syntax", withBase("load_balancer {\n  health_check {\n    matcher = \"2xx\"\n  }\n}"),
			`stack.hcl:3:15: matcher ("2xx") must list HTTP codes from 100 to 599, as in "200", "200,202" or "200-299".`},
		{"matcher code out of range", withBase("load_balancer {\n  health_check {\n    matcher = \"200,600\"\n  }\n}"),
			`stack.hcl:3:15: matcher ("200,600") must list HTTP codes from 100 to 599, as in "200", "200,202" or "200-299".`},
		{"matcher range reversed", withBase("load_balancer {\n  health_check {\n    matcher = \"299-200\"\n  }\n}"),
			`stack.hcl:3:15: matcher ("299-200") must list HTTP codes from 100 to 599, as in "200", "200,202" or "200-299".`},
		{"cpu threshold above 100", withBase("autoscaling {\n  scale_out {\n    cpu_threshold = 120\n  }\n}"),
			`stack.hcl:3:21: cpu_threshold (120) must be between 0 and 100.`},
		{"datapoints above evaluation periods", withBase("autoscaling {\n  scale_out {\n    datapoints_to_alarm = 3\n  }\n}"),
			`stack.hcl:3:27: datapoints_to_alarm (3) is greater than evaluation_periods (2).`},
		{"scale out adjustment not positive", withBase("autoscaling {\n  scale_out {\n    adjustment = 0\n  }\n}"),
			`stack.hcl:3:18: adjustment (0) must be positive in scale_out.`},
		{"scale in adjustment not negative", withBase("autoscaling {\n  scale_in {\n    adjustment = 1\n  }\n}"),
			`stack.hcl:3:18: adjustment (1) must be negative in scale_in.`},

		// Choices.
		{"health check type", withBase("autoscaling {\n  health_check_type = \"EC3\"\n}"),
			`stack.hcl:2:23: health_check_type ("EC3") must be "EC2" or "ELB".`},
		{"algorithm", withBase("load_balancer {\n  algorithm = \"random\"\n}"),
			`stack.hcl:2:15: algorithm ("random") must be "round_robin" or "least_outstanding_requests".`},
		{"engine", withBase("database {\n  engine = \"oracle\"\n}"),
			`stack.hcl:2:12: engine ("oracle") must be "postgres" or "mysql".`},
		{"synchronous cross-region commits on MySQL", withBase("database {\n  engine = \"mysql\"\n  cross_region_commit = \"sync\"\n}"),
			`stack.hcl:3:25: cross_region_commit = "sync" needs engine = "postgres": MySQL's semi-synchronous replication waits for one replica, not for the standby and a cross-region one.`},
		{"cross region failover", withBase("database {\n  cross_region_failover = \"auto\"\n}"),
			`stack.hcl:2:27: cross_region_failover ("auto") must be "manual" or "automatic".`},
		{"automatic failover without replica", withBase("database {\n  cross_region_failover = \"automatic\"\n}"),
			`stack.hcl:2:27: cross_region_failover = "automatic" needs a replica block to promote.`},
		{"cross-region commit", withBase("database {\n  cross_region_commit = \"semi\"\n}"),
			`stack.hcl:2:25: cross_region_commit ("semi") must be "async" or "sync".`},
		{"fencing", withBase("database {\n  fencing = \"stonith\"\n}"),
			`stack.hcl:2:13: fencing ("stonith") must be "none" or "lease".`},
		{"fencing not a string", withBase("database {\n  fencing = true\n}"),
			`stack.hcl:2:13: fencing must be a string, not true or false.`},
		{"fencing lease zero", withBase("database {\n  fencing_lease = \"0s\"\n}"),
			`stack.hcl:2:19: fencing_lease (0s) must be at least 100ms: the region renews its lease every third of it over the network.`},
		{"fencing lease too short", withBase("database {\n  fencing = \"lease\"\n  fencing_lease = \"50ms\"\n}"),
			`stack.hcl:3:19: fencing_lease (50ms) must be at least 100ms: the region renews its lease every third of it over the network.`},
		{"fencing lease not a duration", withBase("database {\n  fencing_lease = \"long\"\n}"),
			`stack.hcl:2:19: fencing_lease: "long" is not a duration (use e.g. "500ms", "30s").`},
		{"multi-az with one az", withBase("region \"eu-west-1\" {\n  role = \"primary\"\n  vpc {\n    cidr = \"10.2.0.0/16\"\n    azs = [\"eu-west-1a\"]\n    public_subnets = [\"10.2.1.0/24\"]\n    private_subnets = [\"10.2.2.0/24\"]\n  }\n}\ndatabase {\n  multi_az = true\n}"),
			`stack.hcl:11:14: multi_az needs at least two azs in the primary region "eu-west-1".` + "\n" +
				`stack.hcl:19:10: region "us-east-1" is also primary; only one region can be, and region "eu-west-1" (line 1) already is.`},

		// Names.
		{"listen not loopback", withDNS(`  listen = "0.0.0.0:53"`),
			`stack.hcl:5:12: listen ("0.0.0.0:53") must be IP:port with a loopback IP in 127.0.0.0/8, e.g. "127.0.0.1:5353".`},
		{"listen without port", withDNS(`  listen = "127.0.0.2"`),
			`stack.hcl:5:12: listen ("127.0.0.2") must be IP:port with a loopback IP in 127.0.0.0/8, e.g. "127.0.0.1:5353".`},
		{"bad domain", strings.Replace(base, `"app.example.com"`, `"app_1.example.com"`, 1),
			`stack.hcl:4:12: domain ("app_1.example.com") is not a valid DNS name.`},
		{"zone not a parent", withDNS(`  zone = "example.org"`),
			`stack.hcl:5:10: zone ("example.org") must be the domain "app.example.com" or a parent of it.`},
		{"zone suffix but not parent", withDNS(`  zone = "le.com"`),
			`stack.hcl:5:10: zone ("le.com") must be the domain "app.example.com" or a parent of it.`},
		{"bad stack name", strings.Replace(base, `name = "t"`, `name = "my stack"`, 1),
			`stack.hcl:2:8: name ("my stack") must be 1 to 63 letters, digits, "-" or "_", starting with a letter or digit.`},
		{"bad database name", withBase("database {\n  name = \"App-DB\"\n}"),
			`stack.hcl:2:10: name ("App-DB") must be 1 to 63 lower-case letters, digits or "_", not starting with a digit.`},
		{"bad health path", withBase("load_balancer {\n  health_check {\n    path = \"health\"\n  }\n}"),
			`stack.hcl:3:12: path ("health") must be a URL path starting with "/", e.g. "/health".`},

		// Network and failure domains.
		{"latency not a duration", withBase("network {\n  inter_region_latency = \"far\"\n}"),
			`stack.hcl:2:26: inter_region_latency must be "auto" (the measured round trip between the AWS regions) or a round trip such as "40ms" or "0s", not "far".`},
		{"latency a number", withBase("network {\n  inter_region_latency = 40\n}"),
			`stack.hcl:2:26: inter_region_latency must be "auto" (the measured round trip between the AWS regions) or a round trip such as "40ms" or "0s", not a number.`},
		{"negative latency", withBase("network {\n  inter_region_latency = \"-5ms\"\n}"),
			`stack.hcl:2:26: inter_region_latency (-5ms) must not be negative.`},
		{"unknown network attribute", withBase("network {\n  latency = \"5ms\"\n}"),
			`stack.hcl:2:3: unknown attribute "latency" in the network block.`},
		{"reserved region name", strings.Replace(base, `region "us-west-2"`, `region "internet"`, 1),
			`stack.hcl:15:8: region name "internet" is reserved for the failure domain outside the regions; choose another.`},
		{"reserved AZ name", strings.Replace(base, `"us-west-2a", "us-west-2b"`, `"dns", "us-west-2b"`, 1),
			`stack.hcl:19:23: AZ name "dns" is reserved for the failure domain outside the regions; choose another.`},
		{"AZ named like a region", strings.Replace(base, `"us-west-2a", "us-west-2b"`, `"us-east-1", "us-west-2b"`, 1),
			`stack.hcl:19:23: AZ name "us-east-1" is also a region's name; each failure domain needs a name of its own.`},
		{"AZ in two regions", strings.Replace(base, `"us-west-2a", "us-west-2b"`, `"us-east-1a", "us-west-2b"`, 1),
			`stack.hcl:19:23: AZ "us-east-1a" is also in region "us-east-1" (line 10); AZ names must be unique across the stack.`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, diags := parse(t, tt.src)
			if got := spec.FormatDiagnostics(diags); got != tt.want {
				t.Errorf("diagnostics:\n got: %s\nwant: %s", strings.ReplaceAll(got, "\n", "\n      "), strings.ReplaceAll(tt.want, "\n", "\n      "))
			}
			if s != nil {
				t.Errorf("stack = %+v, want nil on error", s)
			}
		})
	}
}

// TestOverrideErrors checks where problems in shared and overriding blocks
// are reported: once, at the attribute that is written.
func TestOverrideErrors(t *testing.T) {
	tests := []struct {
		name, snippet, want string
	}{
		{"shared min above a region's max", `autoscaling {
  min_size = 3
}
region "eu-west-1" {
  role = "secondary"
  vpc {
    cidr            = "10.2.0.0/16"
    azs             = ["eu-west-1a"]
    public_subnets  = ["10.2.1.0/24"]
    private_subnets = ["10.2.11.0/24"]
  }
  autoscaling {
    max_size = 2
  }
}`, `stack.hcl:2:14: min_size (3) is greater than max_size (2).`},
		{"bad shared value overridden everywhere", `load_balancer {
  port = 0
}
region "eu-west-1" {
  role = "secondary"
  vpc {
    cidr            = "10.2.0.0/16"
    azs             = ["eu-west-1a"]
    public_subnets  = ["10.2.1.0/24"]
    private_subnets = ["10.2.11.0/24"]
  }
  load_balancer {
    port = 81
  }
}`, `stack.hcl:2:10: port (0) must be between 1 and 65535.`},
		{"bad nested override", `load_balancer {
  health_check {
    interval = "10s"
  }
}
region "eu-west-1" {
  role = "secondary"
  vpc {
    cidr            = "10.2.0.0/16"
    azs             = ["eu-west-1a"]
    public_subnets  = ["10.2.1.0/24"]
    private_subnets = ["10.2.11.0/24"]
  }
  load_balancer {
    health_check {
      timeout = "20s"
    }
  }
}`, `stack.hcl:16:17: timeout (20s) must be shorter than interval (10s).`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, diags := parse(t, withBase(tt.snippet))
			if got := spec.FormatDiagnostics(diags); got != tt.want {
				t.Errorf("diagnostics:\n got: %s\nwant: %s", got, tt.want)
			}
		})
	}
}

func TestMultipleErrors(t *testing.T) {
	src := `name = "t"
dns {
  domain = "app.example.com"
  ttl    = -1
}
load_balancer {
  port = 0
}
autoscaling {
  min_size = 5
  scale_in {
    adjustment = 1
  }
}
region "us-east-1" {
  role = "primary"
  vpc {
    cidr            = "10.0.0.0/16"
    azs             = ["us-east-1a"]
    public_subnets  = ["10.0.1.0/24"]
    private_subnets = ["10.1.1.0/24"]
  }
}
database {
  engine = "mssql"
  replica {
    region = "us-east-1"
  }
}
`
	want := `stack.hcl:4:12: ttl (-1) must be between 0 and 2147483647 seconds.
stack.hcl:7:10: port (0) must be between 1 and 65535.
stack.hcl:10:14: min_size (5) is greater than max_size (4).
stack.hcl:12:18: adjustment (1) must be negative in scale_in.
stack.hcl:21:24: private_subnets[0] ("10.1.1.0/24") is outside the VPC's cidr ("10.0.0.0/16").
stack.hcl:25:12: engine ("mssql") must be "postgres" or "mysql".
stack.hcl:27:14: replica region "us-east-1" is the primary region; a cross-region replica must be in another region.`
	_, diags := parse(t, src)
	if got := spec.FormatDiagnostics(diags); got != want {
		t.Errorf("diagnostics:\n got:\n%s\nwant:\n%s", got, want)
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "bad.hcl")
	if err := os.WriteFile(file, []byte(withBase("load_balancer {\n  port = 0\n}")), 0o644); err != nil {
		t.Fatal(err)
	}
	s, err := spec.Load(file)
	var specErr *spec.Error
	if s != nil || !errors.As(err, &specErr) {
		t.Fatalf("Load = %v, %v; want nil, *spec.Error", s, err)
	}
	want := file + ":2:10: port (0) must be between 1 and 65535."
	if err.Error() != want || len(specErr.Diags) != 1 {
		t.Errorf("error = %q, want %q", err, want)
	}

	_, err = spec.Load(filepath.Join(dir, "missing.hcl"))
	if !errors.Is(err, os.ErrNotExist) || errors.As(err, &specErr) {
		t.Errorf("missing file: error = %v", err)
	}
}

func TestFormatDiagnostics(t *testing.T) {
	at := &hcl.Range{Filename: "s.hcl", Start: hcl.Pos{Line: 3, Column: 7, Byte: 20}}
	diags := hcl.Diagnostics{
		{Severity: hcl.DiagError, Summary: "min_size (5) is greater than max_size (4).", Subject: at},
		{Severity: hcl.DiagError, Summary: "Unsupported thing", Detail: "It is not\nsupported.", Subject: at},
		{Severity: hcl.DiagWarning, Summary: "no position."},
	}
	want := "s.hcl:3:7: min_size (5) is greater than max_size (4).\n" +
		"s.hcl:3:7: Unsupported thing: It is not supported.\n" +
		"warning: no position."
	if got := spec.FormatDiagnostics(diags); got != want {
		t.Errorf("got:\n%s\nwant:\n%s", got, want)
	}
	if got := (&spec.Error{Diags: diags}).Error(); got != want {
		t.Errorf("Error() = %q", got)
	}
}

// TestReadmeExample keeps the README's example stack valid.
func TestReadmeExample(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, found := strings.Cut(string(readme), "```hcl\n")
	example, _, closed := strings.Cut(rest, "```")
	if !found || !closed {
		t.Fatal("README.md has no hcl example")
	}
	s := mustParse(t, example)
	if west := s.Region("us-west-2").AutoScaling; west.Min != 2 || west.Max != 3 {
		t.Errorf("us-west-2 autoscaling = %+v", west)
	}
	if east := s.Region("us-east-1").AutoScaling; east.Max != 6 {
		t.Errorf("us-east-1 autoscaling = %+v", east)
	}
}

// TestPackageDoc checks that exactly one file documents the package.
func TestPackageDoc(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	var documented []string
	for _, file := range files {
		f, err := parser.ParseFile(token.NewFileSet(), file, nil, parser.PackageClauseOnly|parser.ParseComments)
		if err != nil {
			t.Fatal(err)
		}
		if f.Doc != nil && !strings.HasSuffix(f.Name.Name, "_test") {
			documented = append(documented, file)
		}
	}
	if len(documented) != 1 || documented[0] != "doc.go" {
		t.Errorf("package doc comments in %v, want only doc.go", documented)
	}
}
