package asg

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
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
//	       HASTACK_ASG_TEST_IGNORE_TERM=1 ignores SIGTERM
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
