package mariadb

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/hastack/hastack/internal/testenv"
)

// helperEnv, set, makes the test binary a stand-in for hastack: it starts
// the server configured in the file the variable names, prints its pid
// and waits to be killed.
const helperEnv = "HASTACK_MARIADB_TEST_HELPER"

func runHelper() {
	data, err := os.ReadFile(os.Getenv(helperEnv))
	var cfg Config
	if err == nil {
		err = json.Unmarshal(data, &cfg)
	}
	if err != nil {
		fmt.Println("error:", err)
		os.Exit(1)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := Start(ctx, cfg)
	if err != nil {
		fmt.Println("error:", err)
		os.Exit(1)
	}
	fmt.Println(s.Pid())
	select {}
}

func alive(pid int) bool { return syscall.Kill(pid, 0) == nil }

// TestNothingOutlivesItsServer: Stop and Kill leave no process in the data
// directory, and a server dies with the process that started it, even
// killed with SIGKILL (Pdeathsig survives the switch to the mysql account).
func TestNothingOutlivesItsServer(t *testing.T) {
	cfg := newConfig(t, 61, 61)
	for _, end := range []struct {
		name string
		end  func(*Server) error
	}{
		{"Stop", func(s *Server) error { return s.Stop(ctxFor(t, 30*time.Second)) }},
		{"Kill", func(s *Server) error { s.Kill(); return nil }},
	} {
		s := start(t, cfg)
		pid := s.Pid()
		if err := end.end(s); err != nil {
			t.Fatalf("%s: %v", end.name, err)
		}
		if !s.Exited() || alive(pid) {
			t.Errorf("%s: mariadbd %d still runs", end.name, pid)
		}
		if pids := processesIn(cfg.DataDir); len(pids) > 0 {
			t.Errorf("%s: processes %v left in %s", end.name, pids, cfg.DataDir)
		}
	}

	// A stand-in for hastack starts the server and is killed.
	dir := testenv.OpenTempDir(t, "hastack-mariadb-helper-")
	cfgFile := filepath.Join(dir, "config.json")
	data, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cfgFile, data, 0o600); err != nil {
		t.Fatal(err)
	}
	helper := exec.Command(os.Args[0], "-test.run=^$")
	helper.Env = append(os.Environ(), helperEnv+"="+cfgFile)
	helper.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	out, err := helper.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := helper.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { helper.Process.Kill(); helper.Wait() })
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatalf("the helper said nothing: %v", err)
	}
	pid, err := strconv.Atoi(line[:len(line)-1])
	if err != nil {
		t.Fatalf("the helper failed: %s", line)
	}
	if !alive(pid) {
		t.Fatal("the helper's server is not running")
	}
	helper.Process.Kill()
	helper.Wait()
	took := testenv.WaitFor(t, "the server dying with the process that started it", 10*time.Second, func() bool {
		return len(processesIn(cfg.DataDir)) == 0
	})
	t.Logf("mariadbd gone %s after its parent was killed", took.Round(time.Millisecond))
}
