package metrics

import (
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// The test binary doubles as the measured program: with
// HASTACK_METRICS_TEST_HELPER set it runs a helper instead of the tests.
//
//	burn    spin one core until killed
//	parent  start a "burn" child (in this process group) and sleep
//	idle    sleep until killed
func TestMain(m *testing.M) {
	switch os.Getenv("HASTACK_METRICS_TEST_HELPER") {
	case "":
		goleak.VerifyTestMain(m)
	case "burn":
		for x := 0; ; x++ {
			_ = x * x
		}
	case "parent":
		c := exec.Command(os.Args[0])
		c.Env = append(os.Environ(), "HASTACK_METRICS_TEST_HELPER=burn")
		c.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		if err := c.Start(); err != nil {
			os.Exit(1)
		}
		time.Sleep(time.Hour)
	case "idle":
		time.Sleep(time.Hour)
	default:
		os.Exit(2)
	}
}
