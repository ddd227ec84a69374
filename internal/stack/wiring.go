package stack

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"sort"
	"time"

	"github.com/hastack/hastack/internal/rds"
	"github.com/hastack/hastack/internal/route53"
	"github.com/hastack/hastack/internal/spec"
)

// startDatabase starts the database tier as the stack file lays it out:
// the primary in the primary region's first AZ, with multi_az a
// synchronous standby in its second AZ, one asynchronous replica per
// replica region (with multi_az, and a spare in its second AZ that
// becomes the standby if the primary moves there), and writer and reader
// endpoints in every region. Each node starts in the role the cluster
// state gives it, which after a failover is not the stack file's.
func (st *Stack) startDatabase(ctx context.Context) error {
	nodes, endpoints, err := st.databaseLayout()
	if err != nil {
		return err
	}
	newLease, err := st.startWitness()
	if err != nil {
		return err
	}
	db, err := rds.New(rds.Config{
		StateDir:  st.paths.Dir,
		Database:  st.spec.Database,
		Nodes:     nodes,
		Endpoints: endpoints,
		Logger:    st.logger.With("part", "rds"),
		NewLease:  newLease,
		OnEvent:   st.events.Add,
	})
	if err != nil {
		st.stopWitness()
		return fmt.Errorf("database: %w", err)
	}
	if err := db.Start(ctx); err != nil {
		st.stopWitness()
		return err
	}
	for _, n := range db.Nodes() {
		st.step("%-10s %s %s on %s", "database", n.Role, n.Name, n.Address)
	}
	st.db, st.dbOps = db, db
	st.step("%-10s writer endpoint %s ready", "database", hostOfURL(db.WriterURL("")))
	return nil
}

// databaseLayout places the database nodes and endpoints on the address plan.
func (st *Stack) databaseLayout() ([]rds.NodeConfig, []rds.EndpointConfig, error) {
	place := func(region string, azIndex int, role rds.Role) (rds.NodeConfig, error) {
		r := st.spec.Region(region)
		az := r.VPC.AZs[azIndex]
		addr, ok := st.plan.Region(region).DatabaseAddr(az)
		if !ok {
			return rds.NodeConfig{}, fmt.Errorf("region %s has no room for a database node in %s", region, az)
		}
		return rds.NodeConfig{Name: "db-" + az, Region: region, AZ: az, Role: role, Addr: addr}, nil
	}
	prim := st.spec.Primary()
	var nodes []rds.NodeConfig
	n, err := place(prim.Name, 0, rds.RolePrimary)
	if err != nil {
		return nil, nil, err
	}
	nodes = append(nodes, n)
	if st.spec.Database.MultiAZ {
		if n, err = place(prim.Name, 1, rds.RoleStandby); err != nil {
			return nil, nil, err
		}
		nodes = append(nodes, n)
	}
	for _, rep := range st.spec.Database.Replicas {
		if n, err = place(rep.Region, 0, rds.RoleReplica); err != nil {
			return nil, nil, err
		}
		nodes = append(nodes, n)
		// With Multi-AZ, a replica promoted gets a standby in its region's
		// second AZ: a spare, without server or data until then.
		if st.spec.Database.MultiAZ && len(st.spec.Region(rep.Region).VPC.AZs) > 1 {
			if n, err = place(rep.Region, 1, rds.RoleSpare); err != nil {
				return nil, nil, err
			}
			nodes = append(nodes, n)
		}
	}
	var endpoints []rds.EndpointConfig
	for _, r := range st.plan.Regions {
		endpoints = append(endpoints, rds.EndpointConfig{Region: r.Name, Writer: r.WriterEndpoint(), Reader: r.ReaderEndpoint()})
	}
	return nodes, endpoints, nil
}

func (st *Stack) stopDatabase() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := st.db.Stop(ctx); err != nil {
		st.events.Add("error", fmt.Sprintf("stopping the database: %v", err))
	}
	st.stopWitness()
}

// newDNS builds the DNS server and the Route53 controller. The initial
// answer is the PRIMARY record; nothing is served or checked until
// serveDNS.
func (st *Stack) newDNS() {
	d := st.spec.DNS
	listenIP, _ := netip.ParseAddrPort(d.Listen)
	st.dns = route53.NewServer(route53.Config{Zone: d.Zone, Domain: d.Domain, TTL: d.TTL, NSAddr: listenIP.Addr(), Logger: st.logger.With("part", "route53")})
	targets := make([]route53.Target, 0, len(st.regions))
	for _, r := range orderedForFailover(st.regions) {
		role := route53.RoleSecondary
		if r.spec.Role == spec.Primary {
			role = route53.RolePrimary
		}
		t := route53.Target{SetID: r.spec.Name, Role: role, Addr: r.lbIP(), HealthCheckAddr: r.lbAddr()}
		if d.EvaluateTargetHealth {
			t.TargetHealthy = r.targetHealthy
		}
		targets = append(targets, t)
	}
	st.dnsCtl = route53.NewController(st.dns, d.HealthCheck, targets, st.logger.With("part", "route53"), st.events.Add)
}

// serveDNS answers queries and runs the Route53 health checks until ctx is
// done; the returned channel closes when both have stopped.
func (st *Stack) serveDNS(ctx context.Context, pc net.PacketConn, ln net.Listener) <-chan struct{} {
	done := make(chan struct{})
	serveDone := make(chan struct{})
	go func() {
		defer close(serveDone)
		if err := st.dns.Serve(ctx, pc, ln); err != nil {
			st.events.Add("error", fmt.Sprintf("DNS server stopped: %v", err))
		}
	}()
	go func() {
		st.dnsCtl.Run(ctx)
		<-serveDone
		close(done)
	}()
	d := st.spec.DNS
	st.step("%-10s %s answers %s on %s (TTL %ds)", "dns", d.Domain, st.dns.Answer(), d.Listen, d.TTL)
	return done
}

// orderedForFailover lists the primary region first; Route53 has one
// PRIMARY and one SECONDARY record, extra regions follow as secondaries.
func orderedForFailover(regions []*region) []*region {
	out := append([]*region(nil), regions...)
	sort.SliceStable(out, func(i, j int) bool {
		return out[i].spec.Role == spec.Primary && out[j].spec.Role != spec.Primary
	})
	return out
}

// launchCommand resolves a launch template: no command means the bundled
// demo app inside this very binary.
func (st *Stack) launchCommand(lt spec.LaunchTemplate) (string, []string) {
	if lt.Command == "" {
		return st.opts.Executable, append([]string{"webapp"}, lt.Args...)
	}
	return lt.Command, lt.Args
}

// instanceEnv is the environment every instance of a region starts with:
// a few basics of hastack's own and the database endpoints, as an
// RDS-backed app would get them. Nothing else of the operator's shell
// leaks into instances.
func (st *Stack) instanceEnv(region string) []string {
	var env []string
	for _, k := range []string{"PATH", "HOME", "LANG", "TZ"} {
		if v, ok := os.LookupEnv(k); ok {
			env = append(env, k+"="+v)
		}
	}
	if st.db != nil {
		// Each region's apps use their own region's endpoints, as with RDS.
		env = append(env, "DATABASE_URL="+st.db.WriterURL(region), "DATABASE_READ_URL="+st.db.ReaderURL(region))
	}
	return env
}

// DatabaseURL is a URL with credentials for the writer endpoint, or for the
// reader endpoint of region ("" means the primary region).
func (st *Stack) DatabaseURL(reader bool, region string) (string, error) {
	if st.db == nil {
		return "", fmt.Errorf("the database is not running")
	}
	if region != "" && st.spec.Region(region) == nil {
		return "", fmt.Errorf("no region named %q in stack %s", region, st.spec.Name)
	}
	if reader {
		if region == "" {
			region = st.spec.Primary().Name
		}
		return st.db.ReaderURL(region), nil
	}
	return st.db.WriterURL(region), nil
}
