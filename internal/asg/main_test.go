package asg

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// The test binary doubles as the instance program: with
// HASTACK_ASG_TEST_HELPER set it runs a helper instead of the tests.
//
//	1      serve HTTP on $HASTACK_LISTEN: GET /env (JSON of the environment),
//	       GET /child (PID of the grandchild, with HASTACK_ASG_TEST_CHILD=1);
//	       HASTACK_ASG_TEST_IGNORE_TERM=1 ignores SIGTERM;
//	       HASTACK_ASG_TEST_TERM_LOG=1 ignores it too, printing
//	       "helper got SIGTERM at <unix nanoseconds>" on each;
//	       HASTACK_ASG_TEST_TERM_DIR=dir handles it by writing the file
//	       dir/<instance ID> and exiting with status 0;
//	       while the file $HASTACK_ASG_TEST_BURN_FILE exists, burn CPU
//	       (a whole core, or the scheduler's share of one)
//	sleep  ignore SIGTERM and never listen
//	exit   exit with status 3 at once
func TestMain(m *testing.M) {
	switch os.Getenv("HASTACK_ASG_TEST_HELPER") {
	case "":
		goleak.VerifyTestMain(m)
	case "1":
		os.Exit(serveHelper())
	case "sleep":
		signal.Ignore(syscall.SIGTERM)
		time.Sleep(time.Hour)
	case "exit":
		fmt.Println("helper exiting with status 3")
		os.Exit(3)
	default:
		os.Exit(2)
	}
}

func serveHelper() int {
	id := os.Getenv("HASTACK_INSTANCE_ID")
	if os.Getenv("HASTACK_ASG_TEST_IGNORE_TERM") == "1" {
		signal.Ignore(syscall.SIGTERM)
	}
	if os.Getenv("HASTACK_ASG_TEST_TERM_LOG") == "1" {
		terms := make(chan os.Signal, 1)
		signal.Notify(terms, syscall.SIGTERM)
		go func() {
			for range terms {
				fmt.Printf("helper got SIGTERM at %d\n", time.Now().UnixNano())
			}
		}()
	}
	if dir := os.Getenv("HASTACK_ASG_TEST_TERM_DIR"); dir != "" {
		terms := make(chan os.Signal, 1)
		signal.Notify(terms, syscall.SIGTERM)
		go func() {
			<-terms
			if err := os.WriteFile(filepath.Join(dir, id), []byte("SIGTERM\n"), 0o644); err != nil {
				fmt.Fprintln(os.Stderr, "helper:", err)
				os.Exit(1)
			}
			os.Exit(0)
		}()
	}
	if path := os.Getenv("HASTACK_ASG_TEST_BURN_FILE"); path != "" {
		go burnWhileExists(path)
	}
	child := 0
	if os.Getenv("HASTACK_ASG_TEST_CHILD") == "1" {
		c := exec.Command(os.Args[0])
		c.Env = append(os.Environ(), "HASTACK_ASG_TEST_HELPER=sleep")
		c.Stdout, c.Stderr = os.Stdout, os.Stderr
		if err := c.Start(); err != nil {
			fmt.Fprintln(os.Stderr, "helper: starting child:", err)
			return 1
		}
		child = c.Process.Pid
	}
	// Both lines are in the log before the port accepts connections.
	fmt.Printf("helper %s starting on %s\n", id, os.Getenv("HASTACK_LISTEN"))
	fmt.Fprintf(os.Stderr, "helper %s stderr\n", id)

	ln, err := net.Listen("tcp", os.Getenv("HASTACK_LISTEN"))
	if err != nil {
		fmt.Fprintln(os.Stderr, "helper:", err)
		return 1
	}
	env := map[string]string{"LISTENER": ln.Addr().String()}
	for _, kv := range os.Environ() {
		k, v, _ := strings.Cut(kv, "=")
		env[k] = v
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /env", func(w http.ResponseWriter, _ *http.Request) {
		_ = json.NewEncoder(w).Encode(env)
	})
	mux.HandleFunc("GET /child", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprint(w, strconv.Itoa(child))
	})
	err = http.Serve(ln, mux)
	fmt.Fprintln(os.Stderr, "helper:", err)
	return 1
}

// burnWhileExists keeps one core busy while path exists. It never
// yields on purpose: on a loaded machine it still gets its fair share,
// which stays well above the test's thresholds.
func burnWhileExists(path string) {
	for {
		if _, err := os.Stat(path); err != nil {
			time.Sleep(50 * time.Millisecond)
			continue
		}
		for end := time.Now().Add(50 * time.Millisecond); time.Now().Before(end); {
		}
	}
}
