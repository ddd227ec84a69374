package e2e

import (
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/hastack/hastack/internal/testenv"
)

// TestMySQLPrimaryAlone: the quick stack with engine = "mysql" and its
// primary alone (no standby, no replica) runs on MariaDB. The instances
// write through the load balancer with the mysql:// URL they are given,
// db-url prints that URL, hastack sql runs the mariadb client on the
// writer endpoint, and a primary killed by `fail db-primary` serves
// again after `recover db-primary`.
func TestMySQLPrimaryAlone(t *testing.T) {
	testenv.RequireMariaDB(t)
	e := newEnv(t, "quick")
	src, err := os.ReadFile(e.file)
	if err != nil {
		t.Fatal(err)
	}
	text := string(src)
	for _, r := range [][2]string{
		{`engine   = "postgres"`, `engine   = "mysql"`},
		{"multi_az = true", "multi_az = false"},
		{"port     = 5432", "port     = 3306"},
		{"  replica {\n    region = \"us-west-2\"\n  }\n", ""},
	} {
		if !strings.Contains(text, r[0]) {
			t.Fatalf("examples/quick/stack.hcl has no %q to change", r[0])
		}
		text = strings.Replace(text, r[0], r[1], 1)
	}
	if err := os.WriteFile(e.file, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	e.must("up", "-d")

	st := e.status()
	if n := st.Database.Nodes; len(n) != 1 || n[0].Role != "primary" || !n[0].Running {
		t.Fatalf("database nodes %+v, want one running primary", n)
	}
	if url := strings.TrimSpace(e.must("db-url")); !strings.HasPrefix(url, "mysql://hastack@") || !strings.HasSuffix(url, ":3306/app") {
		t.Fatalf("db-url printed %q, want the mysql:// URL of the writer endpoint", url)
	}
	if out := e.must("sql", "-N", "-e", "SELECT 40+2"); out != "42\n" {
		t.Fatalf("hastack sql -e 'SELECT 40+2' printed %q", out)
	}

	ip, _, err := e.resolve("app.example.com")
	if err != nil {
		t.Fatal(err)
	}
	_, lbPort, _ := net.SplitHostPort(st.Regions[0].LoadBalancer.Address)
	base := "http://" + net.JoinHostPort(ip.String(), lbPort)
	value := "written on MariaDB at " + time.Now().Format(time.RFC3339Nano)
	put(t, base+"/kv/mysql", value)
	if _, body := get(t, base+"/kv/mysql"); body != value {
		t.Fatalf("read back %q, want %q", body, value)
	}

	e.must("fail", "db-primary")
	e.must("recover", "db-primary")
	testenv.WaitFor(t, "writes through the load balancer after the primary came back", 60*time.Second, func() bool {
		return tryPut(base+"/kv/mysql", "after the recovery")
	})
	if _, body := get(t, base+"/kv/mysql"); body != "after the recovery" {
		t.Fatalf("read back %q after the recovery", body)
	}
	e.must("down")
}

// tryPut reports whether a PUT of body to url succeeded.
func tryPut(url, body string) bool {
	req, _ := http.NewRequest(http.MethodPut, url, strings.NewReader(body))
	resp, err := httpClient.Do(req)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}
