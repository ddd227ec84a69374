package stack

import (
	"fmt"
	"reflect"
	"sort"
	"strings"
	"time"
	"unicode"

	"github.com/hastack/hastack/internal/spec"
)

// Change is one setting that differs between the running stack file and a
// new one.
type Change struct {
	Region string `json:"region,omitempty"`
	Path   string `json:"path"`
	Old    string `json:"old"`
	New    string `json:"new"`
	// Live: apply changes it on the running stack without restarting
	// anything else. Otherwise Reason says why it cannot be applied.
	Live   bool   `json:"live"`
	Reason string `json:"reason,omitempty"`
}

// Diff compares two stack files setting by setting. It is pure: what
// apply would do, decided without touching the stack.
func Diff(old, new *spec.Stack) []Change {
	var out []Change
	add := func(region, prefix string, a, b any) {
		oldFlat, newFlat := flatten(prefix, a), flatten(prefix, b)
		keys := map[string]bool{}
		for k := range oldFlat {
			keys[k] = true
		}
		for k := range newFlat {
			keys[k] = true
		}
		for k := range keys {
			if oldFlat[k] != newFlat[k] {
				live, reason := liveChange(k)
				out = append(out, Change{Region: region, Path: k, Old: oldFlat[k], New: newFlat[k], Live: live, Reason: reason})
			}
		}
	}
	add("", "dns", old.DNS, new.DNS)
	add("", "database", old.Database, new.Database)
	add("", "objectives", old.Objectives, new.Objectives)
	add("", "network", old.Network, new.Network)
	var oldNames, newNames []string
	for _, r := range old.Regions {
		oldNames = append(oldNames, r.Name+"="+string(r.Role))
	}
	for _, r := range new.Regions {
		newNames = append(newNames, r.Name+"="+string(r.Role))
	}
	if strings.Join(oldNames, ",") != strings.Join(newNames, ",") {
		out = append(out, Change{Path: "regions", Old: strings.Join(oldNames, ", "), New: strings.Join(newNames, ", "),
			Reason: "adding, removing or re-roling regions needs a new stack (hastack down, then up)"})
	} else {
		for i := range old.Regions {
			o, n := old.Regions[i], new.Regions[i]
			add(o.Name, "vpc", o.VPC, n.VPC)
			add(o.Name, "load_balancer", o.LoadBalancer, n.LoadBalancer)
			add(o.Name, "autoscaling", o.AutoScaling, n.AutoScaling)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Region != out[j].Region {
			return out[i].Region < out[j].Region
		}
		return out[i].Path < out[j].Path
	})
	return out
}

// liveChange says whether a setting can change on a running stack. Load
// balancer and Auto Scaling settings can; the addresses things listen on,
// the network, the database and DNS cannot without a restart.
func liveChange(path string) (bool, string) {
	switch {
	case path == "load_balancer.port":
		return false, "the listener port cannot change while the stack runs; restart it (hastack down, then up)"
	case strings.HasPrefix(path, "load_balancer."):
		return true, ""
	case strings.HasPrefix(path, "autoscaling.launch_template"):
		return false, "a new launch template needs the instances replaced; restart the stack (hastack down, then up)"
	case strings.HasPrefix(path, "autoscaling."):
		return true, ""
	case strings.HasPrefix(path, "objectives."):
		return true, ""
	case strings.HasPrefix(path, "network."):
		return true, ""
	case strings.HasPrefix(path, "vpc."):
		return false, "the network cannot change while the stack runs; restart it (hastack down, then up)"
	case strings.HasPrefix(path, "database."):
		return false, "database settings cannot change while the stack runs; restart it (hastack down, then up)"
	default:
		return false, "DNS settings cannot change while the stack runs; restart it (hastack down, then up)"
	}
}

// flatten turns a settings struct into path → printed value, with paths in
// snake_case ("autoscaling.health_check_grace_period").
func flatten(prefix string, v any) map[string]string {
	out := map[string]string{}
	flattenValue(prefix, reflect.ValueOf(v), out)
	return out
}

func flattenValue(path string, v reflect.Value, out map[string]string) {
	if v.Type() == reflect.TypeOf(time.Duration(0)) {
		out[path] = v.Interface().(time.Duration).String()
		return
	}
	switch v.Kind() {
	case reflect.Struct:
		if v.Type().PkgPath() != reflect.TypeOf(spec.Stack{}).PkgPath() {
			return // positions (hcl.Range) are not settings
		}
		for i := 0; i < v.NumField(); i++ {
			f := v.Type().Field(i)
			if f.Name == "DeclRange" {
				continue
			}
			flattenValue(path+"."+snake(f.Name), v.Field(i), out)
		}
	case reflect.Slice:
		parts := make([]string, v.Len())
		for i := range parts {
			if v.Index(i).Kind() == reflect.Struct {
				flattenValue(fmt.Sprintf("%s[%d]", path, i), v.Index(i), out)
				continue
			}
			parts[i] = fmt.Sprint(v.Index(i).Interface())
		}
		if v.Len() == 0 || v.Index(0).Kind() != reflect.Struct {
			out[path] = "[" + strings.Join(parts, ", ") + "]"
		}
	case reflect.Map:
		keys := v.MapKeys()
		sort.Slice(keys, func(i, j int) bool { return keys[i].String() < keys[j].String() })
		var parts []string
		for _, k := range keys {
			parts = append(parts, fmt.Sprintf("%v=%v", k.Interface(), v.MapIndex(k).Interface()))
		}
		out[path] = "{" + strings.Join(parts, ", ") + "}"
	default:
		out[path] = fmt.Sprint(v.Interface())
	}
}

// snake turns a Go field name into the stack file's style:
// HealthCheckGracePeriod → health_check_grace_period, CPUThreshold → cpu_threshold.
func snake(name string) string {
	var sb strings.Builder
	runes := []rune(name)
	for i, r := range runes {
		if unicode.IsUpper(r) && i > 0 && (unicode.IsLower(runes[i-1]) || (i+1 < len(runes) && unicode.IsLower(runes[i+1]))) {
			sb.WriteByte('_')
		}
		sb.WriteRune(unicode.ToLower(r))
	}
	return sb.String()
}

// Apply changes the running stack to new settings, all or nothing: if any
// change cannot be made live, nothing is changed and the error lists why.
// dryRun only reports the changes.
func (st *Stack) Apply(n *spec.Stack, dryRun bool) ([]Change, error) {
	if !dryRun {
		st.opsMu.Lock()
		defer st.opsMu.Unlock()
	}
	st.specMu.Lock()
	defer st.specMu.Unlock()
	changes := Diff(st.spec, n)
	if refused := refusals(changes); len(refused) > 0 {
		return changes, fmt.Errorf("cannot apply: %s", strings.Join(refused, "; "))
	}
	if dryRun || len(changes) == 0 {
		return changes, nil
	}
	if n.Network != st.spec.Network && st.domains != nil {
		// The distance first: it is the only change that can be refused.
		base := st.netBase
		st.netBase.Shapes = distance(n.Network, st.domains.regions)
		if err := st.enforce(plain(st.faultsNow())); err != nil {
			st.netBase = base
			return changes, err
		}
	}
	st.spec.Network = n.Network
	for i, r := range st.regions {
		if err := r.apply(&n.Regions[i]); err != nil {
			return changes, err
		}
	}
	st.spec.Objectives = n.Objectives
	st.events.Add("stack.apply", fmt.Sprintf("applied %d changes from %s", len(changes), n.Filename))
	return changes, nil
}

// refusals names, one phrase each, the changes that cannot be made live;
// apply makes none of them unless this is empty.
func refusals(changes []Change) []string {
	var out []string
	for _, c := range changes {
		if !c.Live {
			out = append(out, fmt.Sprintf("%s%s: %s", regionPrefix(c.Region), c.Path, c.Reason))
		}
	}
	return out
}

func regionPrefix(region string) string {
	if region == "" {
		return ""
	}
	return region + " "
}
