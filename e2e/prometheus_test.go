package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hastack/hastack/internal/stack"
	"github.com/hastack/hastack/internal/testenv"
	"github.com/miekg/dns"
)

// envPrometheus turns a missing Prometheus server into a failure.
const envPrometheus = "HASTACK_REQUIRE_PROMETHEUS"

// withDashboard gives the stack's dashboard a free port and returns its
// address.
func (e *env) withDashboard(extra string) string {
	e.t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		e.t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	f, err := os.OpenFile(e.file, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		e.t.Fatal(err)
	}
	defer f.Close()
	if _, err := fmt.Fprintf(f, "\ndashboard {\n  listen = %q\n%s}\n", addr, extra); err != nil {
		e.t.Fatal(err)
	}
	return addr
}

// TestPrometheusScrapesStack runs Debian's Prometheus server against a
// running stack's /metrics, with a plain scrape config (no honor_labels),
// and reads back, through Prometheus's HTTP API, that the scrape is up and
// that hastack's series carry their labels: instance_id for hastack's
// instances beside Prometheus's own instance label, the DNS queries the
// test sent by type and rcode, and each Route53 checker's verdict.
func TestPrometheusScrapesStack(t *testing.T) {
	prom, err := exec.LookPath("prometheus")
	if err != nil {
		err = errors.New("the Prometheus server is not installed (apt-get install -y prometheus)")
	}
	testenv.Require(t, envPrometheus, err)
	e := newEnv(t, "quick")
	dash := e.withDashboard("")
	e.must("up", "-d")
	defer e.must("down")
	if got := e.status().Dashboard.URL; got != "http://"+dash+"/" {
		t.Fatalf("status --json dashboard.url = %q, want http://%s/", got, dash)
	}

	dir := t.TempDir()
	cfg := fmt.Sprintf(`global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  - job_name: hastack
    static_configs:
      - targets: [%q]
`, dash)
	if err := os.WriteFile(filepath.Join(dir, "prometheus.yml"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	web := ln.Addr().String()
	ln.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cmd := exec.CommandContext(ctx, prom, "--config.file="+filepath.Join(dir, "prometheus.yml"),
		"--storage.tsdb.path="+filepath.Join(dir, "data"), "--web.listen-address="+web, "--log.level=warn")
	var logs strings.Builder
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting prometheus: %v", err)
	}
	defer func() { cancel(); _ = cmd.Wait() }()

	query := func(q string) []promSeries {
		resp, err := http.Get("http://" + web + "/api/v1/query?query=" + url.QueryEscape(q))
		if err != nil {
			return nil
		}
		defer resp.Body.Close()
		var out struct {
			Status string `json:"status"`
			Data   struct {
				Result []promSeries `json:"result"`
			} `json:"data"`
		}
		if json.NewDecoder(resp.Body).Decode(&out) != nil || out.Status != "success" {
			return nil
		}
		return out.Data.Result
	}
	// DNS queries for the metrics to count: the record, and a name that
	// does not exist.
	const answered = 3
	for range answered {
		if _, _, err := e.resolve("app.example.com"); err != nil {
			t.Fatalf("resolving app.example.com: %v", err)
		}
	}
	nx := new(dns.Msg)
	nx.SetQuestion("nope.example.com.", dns.TypeA)
	if r, _, err := (&dns.Client{Net: "udp", Timeout: time.Second}).Exchange(nx, e.dnsAddr); err != nil || r.Rcode != dns.RcodeNameError {
		t.Fatalf("nope.example.com: %v, %v; want NXDOMAIN", r, err)
	}

	var up []promSeries
	waitFor(t, "Prometheus's scrape of the stack to be up", 60*time.Second, func() bool {
		up = query(`up{job="hastack"}`)
		return len(up) == 1 && up[0].Value[1] == "1"
	})

	// The primary is db-us-east-1a unless a loaded machine made the
	// Multi-AZ standby take over (one run saw db-us-east-1b): its series
	// must carry the region and AZ the status gives that node.
	primary := query(`hastack_db_node_role{role="primary"} == 1`)
	nodes := map[string]stack.NodeStatus{}
	for _, n := range e.status().Database.Nodes {
		nodes[n.Name] = n
	}
	if n, ok := nodes[firstSeries(primary).Metric["node"]]; len(primary) != 1 || !ok ||
		primary[0].Metric["region"] != n.Region || primary[0].Metric["az"] != n.AZ || n.Region != "us-east-1" {
		t.Errorf("primary's role series = %+v, want one naming a node of us-east-1 with its region and AZ (nodes %+v)\n%s", primary, nodes, logs.String())
	}
	// Every database node, the spare included, counts what pg_rewind took
	// back from it: nothing yet.
	if discarded := query(`hastack_db_discarded_transactions_total == 0`); len(discarded) != len(nodes) {
		t.Errorf("discarded-transactions series at 0 = %+v, want one per database node (%d)", discarded, len(nodes))
	}
	answer := query(`hastack_dns_answer_info`)
	if len(answer) != 1 || answer[0].Metric["region"] != "us-east-1" || answer[0].Metric["address"] != "127.1.1.10" {
		t.Errorf("DNS answer series = %+v, want us-east-1's 127.1.1.10", answer)
	}
	// The quick example's load balancer checks its instances every 250 ms
	// with a 200 ms timeout: on a loaded machine an instance may miss two
	// checks, count unhealthy and be replaced (one run saw 3 of 4 healthy
	// just after up). Health is waited for; the labels are not.
	var healthy []promSeries
	if !settles(30*time.Second, func() bool {
		healthy = query(`hastack_instance_healthy == 1`)
		return len(healthy) == 4
	}) {
		t.Errorf("healthy instances = %+v, want 4\ninstance states: %+v\nevents: %+v", healthy, query(`hastack_instance_state`), query(`hastack_events_total`))
	}
	for _, s := range healthy {
		if s.Metric["region"] == "" || s.Metric["az"] == "" || !strings.HasPrefix(s.Metric["instance_id"], "i-") {
			t.Errorf("instance series without region, az or instance_id: %v", s.Metric)
		}
		if s.Metric["instance"] != dash {
			t.Errorf("instance series with Prometheus's instance label %q, want the target %s: %v", s.Metric["instance"], dash, s.Metric)
		}
	}
	// The queries above, counted by type and rcode (the stack may have
	// sent some of its own).
	var queries []promSeries
	waitFor(t, "Prometheus to see the DNS queries sent", 30*time.Second, func() bool {
		queries = query(fmt.Sprintf(`hastack_dns_queries_total{type="A",rcode="NOERROR"} >= %d or hastack_dns_queries_total{type="A",rcode="NXDOMAIN"} >= 1`, answered))
		return len(queries) == 2
	})
	// Each checker of each record, named by the address it connects from.
	perRecord := map[string]int{}
	if !settles(30*time.Second, func() bool {
		clear(perRecord)
		for _, s := range query(`hastack_route53_checker_healthy == 1`) {
			if strings.HasPrefix(s.Metric["checker"], "127.0.53.") {
				perRecord[s.Metric["record"]]++
			}
		}
		return perRecord["us-east-1"] == 3 && perRecord["us-west-2"] == 3 && len(perRecord) == 2
	}) {
		t.Errorf("healthy checkers named by their address per record = %v, want 3 for each of us-east-1 and us-west-2\n%+v",
			perRecord, query(`hastack_route53_checker_healthy`))
	}
	var hosts []promSeries
	if !settles(30*time.Second, func() bool {
		hosts = query(`hastack_alb_healthy_hosts{region="us-west-2"}`)
		return len(hosts) == 1 && hosts[0].Value[1] == "2"
	}) {
		t.Errorf("us-west-2's healthy hosts = %+v, want 2", hosts)
	}
}

// firstSeries is the first series of s, or none.
func firstSeries(s []promSeries) promSeries {
	if len(s) == 0 {
		return promSeries{}
	}
	return s[0]
}

// settles polls cond every 100 ms until it holds, and reports whether it
// did within d.
func settles(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		<-tick.C
	}
	return true
}

// promSeries is one series of an instant query's answer.
type promSeries struct {
	Metric map[string]string `json:"metric"`
	Value  [2]any            `json:"value"`
}
