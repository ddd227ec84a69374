package terraform

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/hastack/hastack/internal/spec"
)

// Versions the generated configuration pins.
const (
	// terraformVersion is the first Terraform with S3-native state
	// locking (use_lockfile) generally available.
	terraformVersion = ">= 1.11"
	// providerVersion pins the AWS provider's major version in the
	// calling configuration.
	providerVersion = "~> 6.0"
	// moduleProviderVersion is what the modules need: nothing newer than 5.0.
	moduleProviderVersion = ">= 5.0"
)

// Options are the deployment choices a stack file does not make. The zero
// value is valid: every field has a default.
type Options struct {
	// InstanceType of the web instances (default "t3.micro").
	InstanceType string
	// AMI per region name (default: the latest Amazon Linux 2023 for
	// x86_64 in each region, looked up at plan time).
	AMI map[string]string
	// CertificateARN per region name: an ACM certificate of that region,
	// which adds an HTTPS listener on port 443 (default: HTTP only).
	CertificateARN map[string]string
	// DBInstanceClass of the database instances (default "db.t3.micro").
	DBInstanceClass string
	// StateBucket is the S3 bucket holding the Terraform state (default
	// NAME-tfstate); it must exist before terraform init.
	StateBucket string
	// UserData is every instance's boot script (default: one that starts
	// the stack's launch template command, or a stand-in that serves the
	// health check paths when it has none).
	UserData string
}

// Error lists every stack setting that AWS cannot express, one sentence each.
type Error struct {
	Stack    string
	Problems []string
}

func (e *Error) Error() string {
	return fmt.Sprintf("stack %s cannot be exported to Terraform for AWS:\n  %s",
		e.Stack, strings.Join(e.Problems, "\n  "))
}

// Export renders s as Terraform for AWS: relative path → file content. The
// same stack and options always give byte-identical files. A stack with
// settings AWS cannot express gets an *Error naming each of them.
func Export(s *spec.Stack, opts Options) (map[string][]byte, error) {
	if err := checkOptions(s, opts); err != nil {
		return nil, err
	}
	if problems := refusals(s, opts); len(problems) > 0 {
		return nil, &Error{Stack: s.Name, Problems: problems}
	}
	l := newLayout(s, opts)
	files := map[string][]byte{}
	for _, m := range modules() {
		dir := "modules/" + m.name + "/"
		files[dir+"main.tf"] = m.main()
		files[dir+"variables.tf"] = variablesFile(m.vars)
		files[dir+"outputs.tf"] = outputsFile(m.outs)
	}
	files[envDir+"provider.tf"] = l.providerFile()
	files[envDir+"backend.tf"] = l.backendFile()
	files[envDir+"main.tf"] = l.mainFile()
	files[envDir+"variables.tf"] = variablesFile(l.variables())
	files[envDir+"outputs.tf"] = outputsFile(l.outputs())
	files[envDir+"terraform.tfvars"] = l.tfvarsFile()
	files["README.md"] = l.readme()
	return files, nil
}

// Paths returns the paths of files in sorted order.
func Paths(files map[string][]byte) []string {
	return slices.Sorted(maps.Keys(files))
}

// envDir is the calling configuration, where terraform runs.
const envDir = "envs/prod/"

// checkOptions rejects options that name regions the stack does not have.
func checkOptions(s *spec.Stack, opts Options) error {
	for _, o := range []struct {
		what string
		m    map[string]string
	}{{"AMI", opts.AMI}, {"certificate ARN", opts.CertificateARN}} {
		for _, r := range slices.Sorted(maps.Keys(o.m)) {
			if s.Region(r) == nil {
				return fmt.Errorf("%s given for region %s, which stack %s does not have", o.what, r, s.Name)
			}
		}
	}
	return nil
}

// layout is a stack ready to render: two regions, names made valid for AWS.
type layout struct {
	s         *spec.Stack
	opts      Options
	name      string // prefix of AWS resource names
	primary   side
	secondary side
	replica   bool // the secondary region holds a read replica
}

// side is one region of the failover pair.
type side struct {
	role  string // "primary" or "secondary"
	alias string // provider alias
	r     *spec.Region
}

func newLayout(s *spec.Stack, opts Options) *layout {
	if opts.InstanceType == "" {
		opts.InstanceType = "t3.micro"
	}
	if opts.DBInstanceClass == "" {
		opts.DBInstanceClass = "db.t3.micro"
	}
	l := &layout{s: s, opts: opts, name: resourceName(s.Name)}
	if l.opts.StateBucket == "" {
		l.opts.StateBucket = l.name + "-tfstate"
	}
	for i := range s.Regions {
		r := &s.Regions[i]
		sd := side{role: string(r.Role), alias: providerAlias(r.Name), r: r}
		if r.Role == spec.Primary {
			l.primary = sd
		} else {
			l.secondary = sd
		}
	}
	for _, rep := range s.Database.Replicas {
		if rep.Region == l.secondary.r.Name {
			l.replica = true
		}
	}
	return l
}

func (l *layout) sides() []side { return []side{l.primary, l.secondary} }

// resourceName turns a stack name into a prefix AWS accepts in every name
// it is used in: lower-case letters, digits and single hyphens, starting
// with a letter, at most 14 characters so that NAME-REGION fits a load
// balancer's 32.
func resourceName(stack string) string {
	var b strings.Builder
	for _, c := range strings.ToLower(stack) {
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
			b.WriteRune(c)
		case b.Len() > 0 && !strings.HasSuffix(b.String(), "-"):
			b.WriteByte('-')
		}
	}
	n := b.String()
	if n == "" || n[0] < 'a' || n[0] > 'z' {
		n = "hs-" + n
	}
	if len(n) > 14 {
		n = n[:14]
	}
	return strings.TrimRight(n, "-")
}

// providerAlias is a region name as a Terraform identifier: us-east-1 → us_east_1.
func providerAlias(region string) string {
	return strings.NewReplacer("-", "_", ".", "_").Replace(region)
}

func dashed(s string) string { return strings.ReplaceAll(s, "_", "-") }

func upper(s string) string { return strings.ToUpper(s) }
