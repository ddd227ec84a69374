package spec

import (
	"slices"

	"github.com/hashicorp/hcl/v2"
)

// The checks here combine several settings. Each runs only when the
// settings it compares were valid on their own, and reports at the first
// of them that is written in the file.

// pick is where to report a problem involving the named attributes: the
// first of them written in sec, else sec's header.
func pick(sec *section, names ...string) hcl.Range {
	for _, name := range names {
		if sec.attr(name) != nil {
			return sec.at(name)
		}
	}
	return sec.at("")
}

// checkTargetHealth requires a check to time out before the next one is due,
// as ALB does.
func (d *decoder) checkTargetHealth(hc TargetHealthCheck, sec *section) {
	if d.valid(sec, "timeout", "interval") && hc.Timeout >= hc.Interval {
		d.errorf(pick(sec, "timeout", "interval"), "timeout (%s) must be shorter than interval (%s).",
			hc.Timeout, hc.Interval)
	}
}

// checkAutoScaling requires min_size <= desired_capacity <= max_size and
// sound alarms.
func (d *decoder) checkAutoScaling(a AutoScaling, sec *section) {
	sizes := d.valid(sec, "min_size", "max_size", "desired_capacity")
	switch {
	case sizes && a.Min > a.Max:
		d.errorf(pick(sec, "min_size", "max_size"), "min_size (%d) is greater than max_size (%d).", a.Min, a.Max)
	case sizes && (a.Desired < a.Min || a.Desired > a.Max):
		d.errorf(pick(sec, "desired_capacity", "min_size", "max_size"),
			"desired_capacity (%d) must be between min_size (%d) and max_size (%d).", a.Desired, a.Min, a.Max)
	}
	d.checkPolicy(a.ScaleOut, sec.block("scale_out"))
	d.checkPolicy(a.ScaleIn, sec.block("scale_in"))
}

// checkPolicy requires the alarm's datapoints to fit its evaluation window.
func (d *decoder) checkPolicy(p ScalingPolicy, sec *section) {
	if d.valid(sec, "datapoints_to_alarm", "evaluation_periods") && p.DatapointsToAlarm > p.EvaluationPeriods {
		d.errorf(pick(sec, "datapoints_to_alarm", "evaluation_periods"),
			"datapoints_to_alarm (%d) is greater than evaluation_periods (%d).", p.DatapointsToAlarm, p.EvaluationPeriods)
	}
}

// checkRegions requires at least one region, unique names, exactly one
// primary and VPCs that do not overlap. regions[i] is where s.Regions[i]
// was written; start is where to report that there is none.
func (d *decoder) checkRegions(s *Stack, regions []*section, start hcl.Range) {
	if len(regions) == 0 {
		d.errorf(start, "at least one region block is required, e.g. region \"us-east-1\" { ... }.")
		return
	}
	d.checkRegionNames(s, regions)
	d.checkPrimary(s, regions)
	d.checkVPCOverlap(s, regions)
}

func (d *decoder) checkRegionNames(s *Stack, regions []*section) {
	first := make(map[string]int)
	for i, r := range s.Regions {
		j, dup := first[r.Name]
		if !dup {
			first[r.Name] = i
			continue
		}
		d.errorf(regions[i].labelR, "region %q is declared twice; the first is at line %d.",
			r.Name, regions[j].def.Start.Line)
	}
}

func (d *decoder) checkPrimary(s *Stack, regions []*section) {
	primary := -1
	for i, r := range s.Regions {
		if !d.valid(regions[i], "role") || regions[i].attr("role") == nil {
			return // already reported; the count would mislead
		}
		if r.Role != Primary {
			continue
		}
		if primary < 0 {
			primary = i
			continue
		}
		d.errorf(regions[i].at("role"), "region %q is also primary; only one region can be, and region %q (line %d) already is.",
			r.Name, s.Regions[primary].Name, regions[primary].def.Start.Line)
	}
	if primary < 0 {
		d.errorf(regions[0].def, "no region has role = \"primary\"; exactly one must.")
	}
}

func (d *decoder) checkVPCOverlap(s *Stack, regions []*section) {
	for i, r := range s.Regions {
		for j, prev := range s.Regions[:i] {
			if !r.VPC.CIDR.IsValid() || !prev.VPC.CIDR.IsValid() || !r.VPC.CIDR.Overlaps(prev.VPC.CIDR) {
				continue
			}
			d.errorf(regions[i].block("vpc").at("cidr"), "cidr (%q) of region %q overlaps region %q's (%q, line %d).",
				r.VPC.CIDR, r.Name, prev.Name, prev.VPC.CIDR, regions[j].block("vpc").at("cidr").Start.Line)
		}
	}
}

// checkDatabase requires each replica in a distinct secondary region, two
// AZs for a Multi-AZ primary, and a replica to promote for automatic
// cross-region failover. sec is the database block, or nil.
func (d *decoder) checkDatabase(s *Stack, sec *section) {
	if sec == nil {
		return
	}
	d.checkReplicas(s, sec.blocks["replica"])
	if p := s.Primary(); p != nil && s.Database.MultiAZ && len(p.VPC.AZs) < 2 && d.valid(sec, "multi_az") {
		d.errorf(sec.at("multi_az"), "multi_az needs at least two azs in the primary region %q.", p.Name)
	}
	if s.Database.CrossRegionFailover == "automatic" && len(s.Database.Replicas) == 0 {
		d.errorf(sec.at("cross_region_failover"), "cross_region_failover = \"automatic\" needs a replica block to promote.")
	}
	// MariaDB's semi-synchronous replication waits for any one replica,
	// so a commit cannot wait for both the standby and a cross-region one.
	if s.Database.Engine == "mysql" && s.Database.CrossRegionCommit == "sync" && d.valid(sec, "cross_region_commit") {
		d.errorf(sec.at("cross_region_commit"), "cross_region_commit = \"sync\" needs engine = \"postgres\": MySQL's semi-synchronous replication waits for one replica, not for the standby and a cross-region one.")
	}
}

func (d *decoder) checkReplicas(s *Stack, replicas []*section) {
	first := make(map[string]int)
	for i, rep := range s.Database.Replicas {
		name, at := rep.Region, replicas[i].at("region")
		if name == "" {
			continue // missing or invalid, already reported
		}
		region := s.Region(name)
		j, dup := first[name]
		switch {
		case region == nil:
			d.errorf(at, "replica region %q is not a region of this stack.", name)
		case region.Role == Primary:
			d.errorf(at, "replica region %q is the primary region; a cross-region replica must be in another region.", name)
		case dup:
			d.errorf(at, "replica region %q is listed twice; the first is at line %d.", name, replicas[j].def.Start.Line)
		}
		if !dup {
			first[name] = i
		}
	}
}

// reservedDomains name failure domains outside the regions; faults and
// partitions address a region or an AZ by its name, so none may take one
// of these.
var reservedDomains = []string{"internet", "dns", "witness"}

// checkDomainNames requires every region and AZ name to name one failure
// domain only: AZ names are unique across the stack, differ from every
// region name and, like region names, are none of the reserved ones.
func (d *decoder) checkDomainNames(s *Stack, regions []*section) {
	for i, r := range s.Regions {
		if slices.Contains(reservedDomains, r.Name) {
			d.errorf(regions[i].labelR, "region name %q is reserved for the failure domain outside the regions; choose another.", r.Name)
		}
	}
	type place struct{ region, line int }
	seen := make(map[string]place)
	for i, r := range s.Regions {
		vpc := regions[i].block("vpc")
		if vpc == nil || !d.valid(vpc, "azs") {
			continue
		}
		for _, az := range r.VPC.AZs {
			switch prev, dup := seen[az]; {
			case slices.Contains(reservedDomains, az):
				d.errorf(vpc.at("azs"), "AZ name %q is reserved for the failure domain outside the regions; choose another.", az)
			case s.Region(az) != nil:
				d.errorf(vpc.at("azs"), "AZ name %q is also a region's name; each failure domain needs a name of its own.", az)
			case dup && prev.region != i:
				d.errorf(vpc.at("azs"), "AZ %q is also in region %q (line %d); AZ names must be unique across the stack.",
					az, s.Regions[prev.region].Name, prev.line)
			case !dup:
				seen[az] = place{i, vpc.at("azs").Start.Line}
			}
		}
	}
}
