package stack

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/hastack/hastack/internal/network"
	"github.com/hastack/hastack/internal/vpc"
)

func quickDomains(t *testing.T) *domains {
	t.Helper()
	plan, err := vpc.New(loadQuick(t))
	if err != nil {
		t.Fatal(err)
	}
	d, err := newDomains(plan)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// TestDomains: each failure domain of the quick example holds exactly the
// addresses of its parts.
func TestDomains(t *testing.T) {
	d := quickDomains(t)
	tests := []struct {
		domain string
		in     []string
		out    []string
	}{
		{"us-east-1", []string{"127.1.0.0", "127.1.1.10", "127.1.11.5", "127.1.12.10", "127.1.255.255"},
			[]string{"127.0.0.1", "127.2.1.10", "127.0.255.255", "127.2.0.0", "10.0.11.5"}},
		{"us-west-2", []string{"127.2.1.10", "127.2.11.5", "127.2.11.6"}, []string{"127.1.1.10", "127.3.0.1"}},
		// An AZ: its public and private subnets, less the regional load
		// balancer and database endpoints.
		{"us-east-1a", []string{"127.1.1.1", "127.1.1.11", "127.1.11.5", "127.1.11.10", "127.1.11.255"},
			[]string{"127.1.1.10", "127.1.11.6", "127.1.11.7", "127.1.2.1", "127.1.12.5", "127.1.3.1", "127.0.0.1"}},
		{"us-east-1b", []string{"127.1.2.10", "127.1.12.5", "127.1.12.10"}, []string{"127.1.11.5", "127.1.1.10", "127.2.12.5"}},
		{"us-west-2a", []string{"127.2.1.1", "127.2.11.5"}, []string{"127.2.1.10", "127.2.11.6", "127.2.11.7", "127.2.12.5"}},
		// internet: everything outside every region.
		{"internet", []string{"127.0.0.1", "127.0.53.1", "127.0.99.1", "127.0.7.7", "127.3.0.1", "127.255.255.254"},
			[]string{"127.1.1.10", "127.2.11.5", "127.1.0.0", "127.2.255.255", "10.0.0.1"}},
		{"dns", []string{"127.0.53.1", "127.0.53.254"}, []string{"127.0.0.1", "127.0.54.1", "127.1.1.10"}},
		{"witness", []string{"127.0.99.1"}, []string{"127.0.53.1", "127.0.0.1", "127.1.99.1"}},
	}
	for _, tt := range tests {
		t.Run(tt.domain, func(t *testing.T) {
			dom, err := d.lookup(tt.domain)
			if err != nil {
				t.Fatal(err)
			}
			set, err := dom.Set()
			if err != nil {
				t.Fatal(err)
			}
			for _, a := range tt.in {
				if !set.Contains(netip.MustParseAddr(a)) {
					t.Errorf("%s lacks %s (it is %s)", tt.domain, a, set)
				}
			}
			for _, a := range tt.out {
				if set.Contains(netip.MustParseAddr(a)) {
					t.Errorf("%s holds %s (it is %s)", tt.domain, a, set)
				}
			}
		})
	}
	if _, err := d.lookup("mars"); err == nil || !strings.Contains(err.Error(), `unknown failure domain "mars"`) || !strings.Contains(err.Error(), "us-east-1a") {
		t.Errorf("lookup of an unknown domain: %v", err)
	}
	if got, want := strings.Join(DomainNames(loadQuick(t)), " "), "us-east-1 us-west-2 us-east-1a us-east-1b us-west-2a us-west-2b internet dns witness"; got != want {
		t.Errorf("DomainNames = %s, want %s", got, want)
	}
	if UnknownDomain(loadQuick(t), "dns") != "" || !strings.HasPrefix(UnknownDomain(loadQuick(t), "mars"), `unknown failure domain "mars"; stack quick has us-east-1, `) {
		t.Errorf("UnknownDomain: %q, %q", UnknownDomain(loadQuick(t), "dns"), UnknownDomain(loadQuick(t), "mars"))
	}
}

// TestApart: a rule between two domains never applies inside their
// overlap.
func TestApart(t *testing.T) {
	d := quickDomains(t)
	tests := []struct {
		a, b       string
		aIn, aOut  []string // addresses the first domain keeps, loses
		bIn, bOut  []string
		wantErrSub string
	}{
		{a: "us-east-1", b: "us-west-2", aIn: []string{"127.1.11.5"}, bIn: []string{"127.2.11.5"}},
		// An AZ inside its region: the region keeps the rest of itself.
		{a: "us-east-1", b: "us-east-1a", aIn: []string{"127.1.12.5", "127.1.1.10", "127.1.11.6"}, aOut: []string{"127.1.11.5", "127.1.1.5"},
			bIn: []string{"127.1.11.5"}},
		{a: "us-east-1a", b: "us-east-1", aIn: []string{"127.1.11.5"}, bIn: []string{"127.1.12.5"}, bOut: []string{"127.1.11.5"}},
		// The checkers inside the internet.
		{a: "internet", b: "dns", aIn: []string{"127.0.0.1"}, aOut: []string{"127.0.53.1"}, bIn: []string{"127.0.53.1"}},
		{a: "us-east-1", b: "us-east-1", wantErrSub: "are the same addresses"},
	}
	for _, tt := range tests {
		t.Run(tt.a+"/"+tt.b, func(t *testing.T) {
			da, _ := d.lookup(tt.a)
			db, _ := d.lookup(tt.b)
			a, b, err := apart(da, db)
			if tt.wantErrSub != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErrSub) {
					t.Fatalf("apart: %v, want an error with %q", err, tt.wantErrSub)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			as, _ := a.Set()
			bs, _ := b.Set()
			if !as.Intersect(bs).IsEmpty() {
				t.Errorf("%s and %s still share %s", a.Name, b.Name, as.Intersect(bs))
			}
			if a.Name != tt.a || b.Name != tt.b {
				t.Errorf("names %s, %s", a.Name, b.Name)
			}
			check := func(s network.AddrSet, name string, in, out []string) {
				for _, x := range in {
					if !s.Contains(netip.MustParseAddr(x)) {
						t.Errorf("%s lacks %s", name, x)
					}
				}
				for _, x := range out {
					if s.Contains(netip.MustParseAddr(x)) {
						t.Errorf("%s holds %s", name, x)
					}
				}
			}
			check(as, tt.a, tt.aIn, tt.aOut)
			check(bs, tt.b, tt.bIn, tt.bOut)
		})
	}
}
