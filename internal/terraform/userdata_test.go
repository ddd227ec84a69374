package terraform

import (
	"os"
	"os/exec"
	"path/filepath"
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

// hostile are values that would run a command, or add one, if the boot
// script did not quote them; each tries to create the file $CANARY.
var hostile = []string{
	"plain",
	"two words",
	"it's",
	`'; touch "$CANARY"; '`,
	"$(touch \"$CANARY\")",
	"`touch \"$CANARY\"`",
	"x; touch \"$CANARY\"",
	"x\ntouch \"$CANARY\"\n",
	"x\r\ntouch \"$CANARY\"",
	"'\n touch \"$CANARY\" #",
	"$'\\n'; touch \"$CANARY\"",
	"a\\'b\\\\",
	"${CANARY:?}${HOME}",
	"EOT\ntouch \"$CANARY\"\nEOT",
	"%{x}${y}",
	"\x01\x1b[31m\x7f",
	"tab\there",
	"ünïcode ✓",
	"",
}

// TestUserDataHostile: whatever the launch template's command, arguments
// and environment hold, the boot script has the same lines, bash parses
// it, and running it gives the program exactly those values and runs
// nothing else.
func TestUserDataHostile(t *testing.T) {
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Fatalf("bash is needed to check the boot script: %v", err)
	}
	benign := bootScript(t, "/opt/shop/server", []string{"a", "b"}, map[string]string{"A": "a", "B": "b"})
	for i, v := range hostile {
		env := map[string]string{"A": v, "B": "b" + v}
		script := bootScript(t, "/opt/shop/"+v, []string{v, "--flag=" + v}, env)
		if got, want := strings.Count(script, "\n"), strings.Count(benign, "\n"); got != want {
			t.Errorf("value %q: the boot script has %d lines, want %d:\n%s", v, got, want, script)
		}
		dir := t.TempDir()
		file := filepath.Join(dir, "user_data.sh")
		// The script logs to /var/log/app.log; the test keeps its log.
		text := strings.ReplaceAll(script, "/var/log/app.log", filepath.Join(dir, "app.log"))
		if err := os.WriteFile(file, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		if out, err := exec.Command(bash, "-n", file).CombinedOutput(); err != nil {
			t.Errorf("value %q: bash -n: %v\n%s\n%s", v, err, out, script)
			continue
		}
		// nohup starts the program: a function in its place records the
		// arguments and environment it is given.
		canary := filepath.Join(dir, "canary")
		cmd := exec.Command(bash, "-c", `nohup() { printf '%s\0' "$@" >"$DIR/args"; printf '%s\0' "$A" "$B" >"$DIR/env"; }; source "$1"; wait`, "test", file)
		cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "DIR=" + dir, "CANARY=" + canary, "HOME=/nonexistent"}
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("value %q: running the boot script: %v\n%s", v, err, out)
			continue
		}
		if _, err := os.Stat(canary); err == nil {
			t.Errorf("value %q ran a command", v)
		}
		args, _ := os.ReadFile(filepath.Join(dir, "args"))
		if got, want := string(args), "/opt/shop/"+v+"\x00"+v+"\x00--flag="+v+"\x00"; got != want {
			t.Errorf("value %d %q: the program got arguments %q, want %q", i, v, got, want)
		}
		envs, _ := os.ReadFile(filepath.Join(dir, "env"))
		if got, want := string(envs), v+"\x00b"+v+"\x00"; got != want {
			t.Errorf("value %d %q: the program got environment %q, want %q", i, v, got, want)
		}
	}
}

// bootScript exports the two-region example with this launch template and
// returns the primary region's user data.
func bootScript(t *testing.T, command string, args []string, env map[string]string) string {
	t.Helper()
	s := example(t, "two-region")
	lt := &s.Primary().AutoScaling.LaunchTemplate
	lt.Command, lt.Args, lt.Env = command, args, env
	c, err := parseConfig(mustExport(t, s, Options{}))
	if err != nil {
		t.Fatal(err)
	}
	vals, err := c.dirs["envs/prod"].tfvarsValues()
	if err != nil {
		t.Fatal(err)
	}
	return vals["primary_user_data"].AsString()
}

// TestUserDataRefusesBadEnvNames: a name that is not a shell identifier
// is refused, even when the stack did not come from a checked file.
func TestUserDataRefusesBadEnvNames(t *testing.T) {
	s := example(t, "two-region")
	s.Primary().AutoScaling.LaunchTemplate.Env = map[string]string{"A;touch x": "1"}
	_, err := Export(s, Options{})
	if err == nil || !strings.Contains(err.Error(), `launch_template.env has the name "A;touch x" in us-east-1, but the boot script can only export shell identifiers.`) {
		t.Fatalf("Export: %v", err)
	}
}
