package spec_test

import (
	"strings"
	"testing"

	"github.com/hastack/hastack/internal/spec"
)

func TestDashboard(t *testing.T) {
	tests := []struct {
		name string
		src  string
		want spec.Dashboard
	}{
		{"default", base, spec.Dashboard{Listen: "127.0.0.1:8400", Enabled: true}},
		{"empty block", withBase("dashboard {\n}"), spec.Dashboard{Listen: "127.0.0.1:8400", Enabled: true}},
		{"address", withBase("dashboard {\n  listen = \"127.0.0.2:9000\"\n}"), spec.Dashboard{Listen: "127.0.0.2:9000", Enabled: true, ListenSet: true}},
		{"port 0 turns it off", withBase("dashboard {\n  listen = \"127.0.0.1:0\"\n}"), spec.Dashboard{Listen: "127.0.0.1:0", ListenSet: true}},
		{"read only", withBase("dashboard {\n  read_only = true\n}"), spec.Dashboard{Listen: "127.0.0.1:8400", Enabled: true, ReadOnly: true}},
		{"null is the default", withBase("dashboard {\n  listen = null\n}"), spec.Dashboard{Listen: "127.0.0.1:8400", Enabled: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := mustParse(t, tt.src).Dashboard; got != tt.want {
				t.Errorf("dashboard = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestDashboardErrors(t *testing.T) {
	tests := []struct {
		name string
		src  string
		want string
	}{
		{"not loopback", withBase("dashboard {\n  listen = \"0.0.0.0:8400\"\n}"),
			`stack.hcl:2:12: listen ("0.0.0.0:8400") must be IP:port with a loopback IP in 127.0.0.0/8, e.g. "127.0.0.1:8400", or port 0 to turn the dashboard off.`},
		{"no port", withBase("dashboard {\n  listen = \"127.0.0.1\"\n}"),
			`stack.hcl:2:12: listen ("127.0.0.1") must be IP:port with a loopback IP in 127.0.0.0/8, e.g. "127.0.0.1:8400", or port 0 to turn the dashboard off.`},
		{"wrong type", withBase("dashboard {\n  read_only = \"yes\"\n}"),
			`stack.hcl:2:15: read_only must be true or false, not a string.`},
		{"unknown attribute", withBase("dashboard {\n  port = 8400\n}"),
			`stack.hcl:2:3: unknown attribute "port" in the dashboard block.`},
		{"repeated", withBase("dashboard {\n}\ndashboard {\n}"),
			`stack.hcl:3:1: only one dashboard block is allowed at the top level; the first is at line 1.`},
		{"DNS address", withDNS("  listen = \"127.0.0.1:5400\"") + "dashboard {\n  listen = \"127.0.0.1:5400\"\n}",
			`stack.hcl:26:12: listen ("127.0.0.1:5400") is the DNS server's address; the dashboard needs a port of its own, e.g. "127.0.0.1:8400".`},
		{"DNS on the default", withDNS("  listen = \"127.0.0.1:8400\""),
			`stack.hcl:5:12: listen ("127.0.0.1:8400") is the dashboard's default address; move one of them, e.g. dashboard { listen = "127.0.0.1:8401" }.`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, diags := parse(t, tt.src)
			if got := spec.FormatDiagnostics(diags); got != tt.want {
				t.Errorf("diagnostics:\n got: %s\nwant: %s", strings.ReplaceAll(got, "\n", "\n      "), tt.want)
			}
			if s != nil {
				t.Errorf("stack = %+v, want nil on error", s)
			}
		})
	}
}
