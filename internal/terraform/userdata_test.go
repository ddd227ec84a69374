package terraform

import (
	"strings"
	"testing"
)

// TestUserData: the launch template's command, arguments and environment
// reach the boot script intact, through the heredoc's escaping.
func TestUserData(t *testing.T) {
	s := example(t, "two-region")
	lt := &s.Primary().AutoScaling.LaunchTemplate
	lt.Command = "/opt/shop/server"
	lt.Args = []string{"--greeting", "it's ${HOME} at 100%{x}"}
	lt.Env = map[string]string{"B": "two words", "A": "1"}
	files := mustExport(t, s, Options{})
	c, err := parseConfig(files)
	if err != nil {
		t.Fatal(err)
	}
	vals, err := c.dirs["envs/prod"].tfvarsValues()
	if err != nil {
		t.Fatal(err)
	}
	got := vals["primary_user_data"].AsString()
	want := `set -euo pipefail
export PORT=8080
export HASTACK_LISTEN=0.0.0.0:8080
export HASTACK_REGION=us-east-1
export A=1
export B='two words'
nohup /opt/shop/server --greeting 'it'\''s ${HOME} at 100%{x}' >>/var/log/app.log 2>&1 &
`
	if !strings.HasPrefix(got, "#!/bin/bash\n") || !strings.HasSuffix(got, want) {
		t.Errorf("primary user data:\n%s\nwant it to end with:\n%s", got, want)
	}

	// Without a command, a stand-in serves both health check paths.
	s = example(t, "two-region")
	s.DNS.HealthCheck.Path = "/status/dns"
	s.Primary().LoadBalancer.HealthCheck.Port = 8081
	files = mustExport(t, s, Options{})
	text := string(files["envs/prod/terraform.tfvars"])
	for _, w := range []string{
		"echo ok >/opt/app/www/health\n",
		"mkdir -p /opt/app/www/status\necho ok >/opt/app/www/status/dns\n",
		"python3 -m http.server --directory /opt/app/www 8080 ",
		"python3 -m http.server --directory /opt/app/www 8081 ",
	} {
		if !strings.Contains(text, w) {
			t.Errorf("tfvars has no %q", w)
		}
	}
}
