package rds

import (
	"bufio"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// A relay takes libpq's connections on a Unix socket in the node
// directory (or under /tmp when that path is too long) and connects to
// the primary from the follower's own address; its socket belongs to the
// server's account and goes when it closes.
func TestRelay(t *testing.T) {
	acct, err := runAsAccount()
	if err != nil {
		t.Fatal(err)
	}
	// The primary stand-in answers with the address a connection came from.
	ln, err := net.Listen("tcp", "127.0.96.55:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			io.WriteString(conn, conn.RemoteAddr().(*net.TCPAddr).IP.String()+"\n")
			conn.Close()
		}
	}()
	primary := netip.MustParseAddrPort(ln.Addr().String())

	for _, tt := range []struct {
		name string
		dir  func(t *testing.T) string
		temp bool
	}{
		{"in the node directory", stateDir, false},
		{"under /tmp for a long path", func(t *testing.T) string {
			long := filepath.Join(stateDir(t), strings.Repeat("d", 80))
			if err := os.Mkdir(long, 0o755); err != nil {
				t.Fatal(err)
			}
			return long
		}, true},
	} {
		t.Run(strings.ReplaceAll(tt.name, " ", "_"), func(t *testing.T) {
			n := &node{cfg: NodeConfig{Name: "db-us-east-1b", Addr: netip.MustParseAddr("127.0.96.56")}, port: 5432}
			n.layout = nodeLayout(tt.dir(t), n.cfg.Name)
			r := newRelay(n, acct, &Cluster{log: slog.New(slog.DiscardHandler)})
			if err := r.listen(); err != nil {
				t.Fatal(err)
			}
			defer r.close()
			r.lead(route{node: "primary", addr: primary})
			dir := r.socketDir()
			if temp := strings.HasPrefix(dir, "/tmp/hastack-relay-"); temp != tt.temp || (!temp && dir != n.layout.path(relayDirName)) {
				t.Fatalf("socket directory %s", dir)
			}
			sock := socketPath(dir, n.port)
			fi, err := os.Lstat(sock)
			if err != nil || fi.Mode()&os.ModeSocket == 0 || !acct.owns(fi) {
				t.Fatalf("socket %s: %v, %v; want a socket of user %s", sock, fi, err, acct.name)
			}
			conn, err := net.Dial("unix", sock)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			conn.SetDeadline(time.Now().Add(5 * time.Second))
			got, err := bufio.NewReader(conn).ReadString('\n')
			if err != nil || got != "127.0.96.56\n" {
				t.Errorf("the primary saw the relayed connection come from %q (%v), want the follower's address", got, err)
			}
			r.close()
			if _, err := os.Lstat(sock); !os.IsNotExist(err) {
				t.Errorf("socket %s left after close (%v)", sock, err)
			}
			if _, err := os.Lstat(dir); tt.temp && !os.IsNotExist(err) {
				t.Errorf("temporary directory %s left after close (%v)", dir, err)
			}
		})
	}
}

// A TCP relay (MariaDB's, which has no MASTER_BIND) takes the server's
// connection on the follower's address, the port after the server's, and
// connects to the primary from the follower's address.
func mustDial(t *testing.T, ap netip.AddrPort) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", ap.String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func TestTCPRelay(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.96.57:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			io.WriteString(conn, conn.RemoteAddr().(*net.TCPAddr).IP.String()+"\n")
			conn.Close()
		}
	}()
	n := &node{cfg: NodeConfig{Name: "db-us-east-1b", Addr: netip.MustParseAddr("127.0.96.58")}, port: 3306}
	r := newTCPRelay(n, &Cluster{log: slog.New(slog.DiscardHandler)})
	if want := netip.MustParseAddrPort("127.0.96.58:3307"); r.tcpAddr() != want {
		t.Fatalf("relay address %s, want %s", r.tcpAddr(), want)
	}
	if err := r.listen(); err != nil {
		t.Fatal(err)
	}
	defer r.close()
	r.lead(route{node: "primary", addr: netip.MustParseAddrPort(ln.Addr().String())})
	conn, err := net.Dial("tcp", r.tcpAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	got, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil || got != "127.0.96.58\n" {
		t.Errorf("the primary saw the relayed connection come from %q (%v), want the follower's address", got, err)
	}

	// Its node promoted, the relay leads nowhere: a reconnecting follower
	// is closed at once, not held (its promotion waits for that), and so
	// is the stream it had.
	r.lead(route{node: "gone", addr: netip.MustParseAddrPort("127.0.96.57:1")}) // refuses: held
	held := mustDial(t, r.tcpAddr())
	r.leadNowhere()
	begin := time.Now()
	for _, c := range []net.Conn{held, mustDial(t, r.tcpAddr())} {
		c.SetDeadline(time.Now().Add(5 * time.Second))
		if n, err := c.Read(make([]byte, 64)); err == nil {
			t.Errorf("read %d bytes through a relay that leads nowhere", n)
		}
	}
	if took := time.Since(begin); took >= relayHold {
		t.Errorf("clients of a relay leading nowhere were closed after %s, the hold", took)
	}
	r.close()
	if c, err := net.DialTimeout("tcp", r.tcpAddr().String(), time.Second); err == nil {
		c.Close()
		t.Error("the relay still listens after close")
	}
}

// A link planted where the relay's directory belongs is not followed.
func TestRelayRefusesLink(t *testing.T) {
	acct, err := runAsAccount()
	if err != nil {
		t.Fatal(err)
	}
	dir := stateDir(t)
	n := &node{cfg: NodeConfig{Name: "db-us-east-1b", Addr: netip.MustParseAddr("127.0.96.56")}, port: 5432}
	n.layout = nodeLayout(dir, n.cfg.Name)
	if err := os.MkdirAll(n.layout.nodeDir, 0o700); err != nil {
		t.Fatal(err)
	}
	elsewhere := filepath.Join(dir, "elsewhere")
	if err := os.Mkdir(elsewhere, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(elsewhere, n.layout.path(relayDirName)); err != nil {
		t.Fatal(err)
	}
	r := newRelay(n, acct, &Cluster{log: slog.New(slog.DiscardHandler)})
	err = r.listen()
	if err == nil {
		r.close()
		t.Fatal("the relay listened through a link")
	}
	if !strings.Contains(err.Error(), "is a symbolic link or not what hastack created there") {
		t.Errorf("error %q", err)
	}
	if entries, _ := os.ReadDir(elsewhere); len(entries) != 0 {
		t.Errorf("something was made through the link: %v", entries)
	}
}
