package cli

import (
	"bytes"
	"strings"
	"testing"
)

// TestFaultExitCodes: bad fault settings are usage errors (exit 2), told
// in one sentence before the stack is asked; settings that are fine reach
// the stack, whose refusals exit 1.
func TestFaultExitCodes(t *testing.T) {
	t.Setenv("HASTACK_STATE_DIR", t.TempDir())
	const file = "../../examples/quick/stack.hcl"
	tests := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"fail", "network", "mars", "--delay", "1s"}, ExitUsage, `unknown failure domain "mars"; stack quick has us-east-1,`},
		{[]string{"fail", "partition", "us-east-1", "pluto"}, ExitUsage, `unknown failure domain "pluto"`},
		{[]string{"fail", "network", "us-east-1", "--to", "pluto", "--delay", "1s"}, ExitUsage, `unknown failure domain "pluto"`},
		{[]string{"fail", "network", "us-east-1", "--loss", "100.1%"}, ExitUsage, "must be between 0% and 100%"},
		{[]string{"fail", "network", "us-east-1", "--loss", "-3"}, ExitUsage, "must be between 0% and 100%"},
		{[]string{"fail", "network", "us-east-1", "--delay", "-200ms"}, ExitUsage, "--delay -200ms is negative"},
		{[]string{"fail", "network", "us-east-1"}, ExitUsage, "fail network needs --delay, --jitter or --loss"},
		{[]string{"fail", "network", "dns", "--to", "dns", "--loss", "5"}, ExitUsage, "--to dns is TARGET itself"},
		{[]string{"fail", "region", "us-east-1", "--mode", "gentle"}, ExitUsage, `--mode "gentle" is not one of isolate, crash`},
		{[]string{"fail", "partition", "internet"}, ExitUsage, "accepts 2 arg(s), received 1"},
		{[]string{"recover", "network", "us-east-1", "--delay", "1s"}, ExitUsage, "unknown flag: --delay"},
		{[]string{"fail", "partition", "us-east-1", "internet", "--one-way"}, ExitFailure, "stack quick is not running"},
		{[]string{"fail", "network", "us-east-1", "--to", "us-west-2", "--delay", "500ms", "--jitter", "5ms", "--loss", "20%"}, ExitFailure, "stack quick is not running"},
		{[]string{"recover", "partition", "us-east-1", "internet"}, ExitFailure, "stack quick is not running"},
		{[]string{"fail", "region", "us-east-1", "--mode", "crash"}, ExitFailure, "stack quick is not running"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := Main(append(tt.args, "-f", file), &stdout, &stderr)
			first, _, _ := strings.Cut(stderr.String(), "\n")
			if code != tt.code || !strings.Contains(first, tt.want) {
				t.Fatalf("exit %d, stderr %q; want exit %d and %q", code, stderr.String(), tt.code, tt.want)
			}
			if strings.Contains(stderr.String(), "panic") || stdout.Len() != 0 {
				t.Fatalf("stdout %q, stderr %q", stdout.String(), stderr.String())
			}
		})
	}
}
