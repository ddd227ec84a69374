package spec

import (
	"net/netip"
	"time"

	"github.com/hashicorp/hcl/v2"
)

// Stack is the whole stack file, decoded, defaulted and validated. The
// runtime, the drills and the Terraform exporter all read this one model.
type Stack struct {
	// Name identifies the stack; it names the default state directory.
	Name string
	// Filename is the stack file this was parsed from.
	Filename string

	DNS        DNS
	Regions    []Region
	Database   Database
	Network    Network
	Objectives Objectives
	Dashboard  Dashboard
}

// Network is the network between the stack's failure domains.
type Network struct {
	// InterRegionAuto delays traffic between two regions by the measured
	// round trip between those AWS regions (inter_region_latency = "auto",
	// the default).
	InterRegionAuto bool
	// InterRegionLatency is the round trip between any two regions when
	// not InterRegionAuto; half of it each way, 0 for none.
	InterRegionLatency time.Duration
}

// Objectives are what a drill must meet; a zero value sets no objective.
type Objectives struct {
	// RTO: longest time users may go without service (0: none set).
	RTO time.Duration
	// RPO: most recent writes that may be lost, as time (0 with RPOSet: none may be lost).
	RPO    time.Duration
	RPOSet bool
	// MaxErrorRate: the highest share of failed requests, 0..1, when MaxErrorRateSet.
	MaxErrorRate    float64
	MaxErrorRateSet bool
}

// Role is a region's place in the failover pair.
type Role string

const (
	Primary   Role = "primary"
	Secondary Role = "secondary"
)

// DNS is the Route53 part: a hosted zone with one failover record pair.
type DNS struct {
	// Domain is the failover record's name, e.g. "app.example.com".
	Domain string
	// Zone is the hosted zone apex (default: Domain without its first label).
	Zone string
	// TTL of the failover answers in seconds (default 60, as in the seed).
	TTL uint32
	// Listen is the DNS server's UDP and TCP address (default 127.0.0.1:5353).
	Listen string
	// EvaluateTargetHealth also counts a region unhealthy when its load
	// balancer has no healthy target (default true, as in the seed).
	EvaluateTargetHealth bool
	HealthCheck          DNSHealthCheck
}

// DNSHealthCheck is a Route53 HTTP health check against each region's load balancer.
type DNSHealthCheck struct {
	// Path requested on the load balancer (default "/health").
	Path string
	// Interval between requests of each checker (request_interval, default 30s).
	Interval time.Duration
	// FailureThreshold consecutive results flip a checker (default 3).
	FailureThreshold int
	// ConnectTimeout for the TCP connection (default 4s, as Route53).
	ConnectTimeout time.Duration
	// ResponseTimeout for the status line after connecting (default 2s, as Route53).
	ResponseTimeout time.Duration
	// Checkers probing independently (default 3); the endpoint is healthy
	// while more than 18% of them report healthy, as Route53 decides.
	Checkers int
}

// Region is one AWS region: its network, load balancer and instance group.
type Region struct {
	Name         string
	Role         Role
	VPC          VPC
	LoadBalancer LoadBalancer
	AutoScaling  AutoScaling
	// DeclRange is where the region block starts in the stack file.
	DeclRange hcl.Range
}

// VPC is a region's network: one public and one private subnet per AZ.
type VPC struct {
	CIDR           netip.Prefix
	AZs            []string
	PublicSubnets  []netip.Prefix
	PrivateSubnets []netip.Prefix
}

// LoadBalancer is an Application Load Balancer with one HTTP listener and
// one target group.
type LoadBalancer struct {
	// Port the listener accepts HTTP on (default 80).
	Port int
	// Algorithm picks a target: "round_robin" (default).
	Algorithm   string
	HealthCheck TargetHealthCheck
	// DeregistrationDelay is how long a removed target keeps its in-flight
	// requests (default 300s, as ALB).
	DeregistrationDelay time.Duration
	// IdleTimeout bounds how long a target may take to answer before the
	// client gets 504 (default 60s, as ALB's idle timeout).
	IdleTimeout time.Duration
	// RetryOnConnectFailure retries a request once on another healthy
	// target when connecting to the chosen one fails before any byte was
	// sent. Beyond ALB, which never retries (default false).
	RetryOnConnectFailure bool
	// AccessLogs writes one JSON line per request (default false, as ALB).
	AccessLogs bool
	// MaxConnections caps the client connections the listener holds open
	// at once; further connections wait in the kernel's accept queue
	// (default 10000). ALB scales instead; a local stack must not run out
	// of file descriptors.
	MaxConnections int
}

// TargetHealthCheck is the target group's active health check.
type TargetHealthCheck struct {
	// Path requested on each target (default "/health", as in the seed).
	Path string
	// Port to check; 0 means the traffic port (default).
	Port int
	// Interval between checks of one target (default 30s).
	Interval time.Duration
	// Timeout of one check (default 5s).
	Timeout time.Duration
	// HealthyThreshold consecutive passes make an unhealthy target healthy (default 2, as in the seed).
	HealthyThreshold int
	// UnhealthyThreshold consecutive failures make a target unhealthy (default 2).
	UnhealthyThreshold int
	// Matcher lists passing status codes: "200", "200,202", "200-299" (default "200").
	Matcher string
}

// AutoScaling is an Auto Scaling group with its launch template and CPU alarms.
type AutoScaling struct {
	Min     int // default 2
	Max     int // default 4
	Desired int // default Min
	// HealthCheckType is "EC2" (process alive) or "ELB" (the load balancer's
	// verdict; default, as in the seed).
	HealthCheckType string
	// HealthCheckGracePeriod before ELB health counts for a new instance (default 300s).
	HealthCheckGracePeriod time.Duration
	LaunchTemplate         LaunchTemplate
	ScaleOut               ScalingPolicy
	ScaleIn                ScalingPolicy
}

// LaunchTemplate says how an instance process is started.
type LaunchTemplate struct {
	// Command to run; empty runs the bundled demo web app.
	Command string
	Args    []string
	// Env is added to the instance's environment.
	Env map[string]string
	// Port every instance listens on, on its own address (default 8080).
	Port int
	// User the instances run as when hastack runs as root: "" (default)
	// is the unprivileged system user "hastack", created if missing;
	// "root" or another existing user name runs them as that user.
	// Ignored when hastack does not run as root.
	User string
}

// ScalingPolicy is a simple scaling policy fired by a CPU alarm.
type ScalingPolicy struct {
	// CPUThreshold in percent of one core, averaged over the group
	// (default 70 for scale-out, 30 for scale-in).
	CPUThreshold float64
	// Period over which CPU is averaged (default 60s).
	Period time.Duration
	// EvaluationPeriods considered (default 2).
	EvaluationPeriods int
	// DatapointsToAlarm of those that must breach (default EvaluationPeriods).
	DatapointsToAlarm int
	// Adjustment to desired capacity (default +1 for scale-out, -1 for scale-in).
	Adjustment int
	// Cooldown after a scaling activity (default 300s).
	Cooldown time.Duration
}

// Database is the RDS tier: a primary in the primary region, optionally a
// Multi-AZ standby, and cross-region read replicas.
type Database struct {
	// Engine is "postgres" (default) or "mysql", RDS's engine names.
	Engine string
	// MultiAZ adds a synchronous standby in another AZ (default false).
	MultiAZ bool
	// Port every node listens on, on its own address (default RDS's:
	// 5432 for PostgreSQL, 3306 for MySQL).
	Port int
	// Name of the application database (default "app").
	Name string
	// Username of the master user (default "hastack").
	Username string
	// Replicas are cross-region read replicas.
	Replicas []Replica
	// CrossRegionFailover is "manual" (default, as in the seed) or "automatic".
	CrossRegionFailover string
	// FailoverDetection is how long the primary may be unreachable before
	// the Multi-AZ standby is promoted (default 10s).
	FailoverDetection time.Duration
	// RegionFailoverAfter is how long, with cross_region_failover =
	// "automatic", the primary region must be lost (DNS failed over and the
	// primary unreachable) before a replica is promoted (default 60s).
	RegionFailoverAfter time.Duration
	// Fencing is "none" (default, as on AWS: nothing stops an old primary
	// that a promotion could not reach) or "lease": a primary accepts
	// writes only while its region holds a lease from the witness, and a
	// promotion first takes that lease. Beyond AWS.
	Fencing string
	// FencingLease is the lease's duration with fencing = "lease" (default
	// 3s): how long writes may pause when the primary region is cut off,
	// and about how long a promotion waits for the old lease to run out.
	FencingLease time.Duration
	// CrossRegionCommit is "async" (default, as on AWS: a cross-region
	// replica trails its primary) or "sync": a commit is acknowledged only
	// once a replica in another region also has it, so a promotion there
	// loses no acknowledged write, at the cost of an inter-region round
	// trip per commit, and of writes while no such replica streams. Beyond
	// AWS.
	CrossRegionCommit string
}

// Replica is a cross-region read replica.
type Replica struct {
	Region    string
	DeclRange hcl.Range
}

// Primary returns the region with role primary.
func (s *Stack) Primary() *Region {
	for i := range s.Regions {
		if s.Regions[i].Role == Primary {
			return &s.Regions[i]
		}
	}
	return nil
}

// Region returns the named region, or nil.
func (s *Stack) Region(name string) *Region {
	for i := range s.Regions {
		if s.Regions[i].Name == name {
			return &s.Regions[i]
		}
	}
	return nil
}
