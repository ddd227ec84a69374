package rds

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// A follower's replication — its WAL receiver, pg_basebackup, pg_rewind
// — goes through its relay: libpq cannot choose the address it connects
// from, so it connects to a Unix socket in the follower's node
// directory, and the relay connects to the primary over TCP from the
// follower's own address. Replication thus leaves from the follower's
// failure domain, and a cut between the follower's address and the
// primary's stops it, as it would between two hosts. The relay is an
// endpoint (the same proxy, leading where it is told) that listens on a
// Unix socket; it belongs to the follower and is closed with its region.

// relayDirName is the relay's socket directory in the node directory.
const relayDirName = "relay"

// relayHold is how long the relay holds a connection while the primary
// refuses or cannot be reached; libpq gives up after connect_timeout (2 s)
// anyway, and the WAL receiver tries again.
const relayHold = 2 * time.Second

// replicationUserTimeout closes a replication connection, at both ends
// (the relay's socket and, through the connection's startup options, the
// WAL sender's), once data sent on it has gone unacknowledged this long.
// Without it a cut link costs more than the cut: each end retransmits
// with exponential backoff, so after a cut of T seconds the stream may
// stay silent for up to about T more, while the WAL sender keeps the
// replication slot until its wal_sender_timeout. With it, a cut longer
// than this ends both sides; the WAL receiver dials again through the
// relay every second or so, and streams within about a second of the
// heal. A shorter cut leaves the connection up, and TCP's own
// retransmission resumes it at most about this long after the heal.
const replicationUserTimeout = 4 * time.Second

// relay is one node's replication relay.
type relay struct {
	*endpoint
	n    *node
	acct account

	mu  sync.Mutex
	dir string // the socket directory; "" until a temporary one is made
}

func newRelay(n *node, acct account, c *Cluster) *relay {
	r := &relay{n: n, acct: acct}
	if natural := n.layout.path(relayDirName); len(socketPath(natural, n.port)) <= maxSocketPath {
		r.dir = natural
	}
	r.endpoint = &endpoint{
		name: "replication relay of " + n.cfg.Name, from: n.cfg.Addr, hold: relayHold, userTimeout: replicationUserTimeout, log: c.log,
		refuseNowhere: true, changed: make(chan struct{}), conns: map[*proxied]struct{}{},
		open: r.open,
	}
	return r
}

// newTCPRelay is the relay for a server that connects to its primary
// over TCP only (MariaDB, which has no MASTER_BIND): it listens on the
// follower's own address, on the port after the server's, and connects
// on from that address as newRelay's does. The server's connection to it
// stays on the follower's host.
func newTCPRelay(n *node, c *Cluster) *relay {
	r := &relay{n: n}
	addr := r.tcpAddr()
	r.endpoint = &endpoint{
		name: "replication relay of " + n.cfg.Name, from: n.cfg.Addr, hold: relayHold, userTimeout: replicationUserTimeout, log: c.log,
		refuseNowhere: true, changed: make(chan struct{}), conns: map[*proxied]struct{}{},
		open: func() (net.Listener, error) { return net.Listen("tcp", addr.String()) },
	}
	return r
}

// tcpAddr is where a TCP relay listens, for the server's CHANGE MASTER.
func (r *relay) tcpAddr() netip.AddrPort {
	return netip.AddrPortFrom(r.n.cfg.Addr, uint16(r.n.port+1))
}

// socketDir is where the relay's socket is, for libpq's host.
func (r *relay) socketDir() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.dir
}

// open makes the relay's socket, without following a link: the node
// directory belongs to the account, which may have put one anywhere in
// it. The socket directory is created (or checked) by walking from the
// node directory with O_NOFOLLOW and held open; the socket is bound
// through that descriptor and given to the account, which must be able
// to connect to it.
func (r *relay) open() (net.Listener, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	l := r.n.layout
	sock := filepath.Base(socketPath("", r.n.port))
	var dfd int
	temp := ""
	if r.dir == l.path(relayDirName) {
		if err := os.MkdirAll(filepath.Dir(l.nodeDir), 0o755); err != nil {
			return nil, fmt.Errorf("creating %s: %w", filepath.Dir(l.nodeDir), err)
		}
		if err := mkdirOwned(l.nodeDir, r.acct); err != nil {
			return nil, err
		}
		files := l.files(r.acct)
		if err := files.mkdir(relayDirName, false); err != nil {
			return nil, err
		}
		fd, _, err := files.parent(filepath.Join(relayDirName, sock))
		if err != nil {
			return nil, err
		}
		dfd = fd
	} else {
		// The natural path would not fit in sun_path: a private directory
		// under /tmp, removed when the relay closes.
		dir, err := os.MkdirTemp("/tmp", "hastack-relay-")
		if err != nil {
			return nil, fmt.Errorf("creating the relay's socket directory: %w", err)
		}
		if err := r.acct.chown(dir); err != nil {
			os.RemoveAll(dir)
			return nil, err
		}
		fd, err := unix.Open(dir, unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC|unix.O_RDONLY, 0)
		if err != nil {
			os.RemoveAll(dir)
			return nil, fmt.Errorf("opening %s: %w", dir, err)
		}
		dfd, temp, r.dir = fd, dir, dir
	}
	ln, err := listenUnixAt(dfd, sock, r.acct)
	if err != nil {
		unix.Close(dfd)
		if temp != "" {
			os.RemoveAll(temp)
		}
		return nil, fmt.Errorf("listening on %s: %w", filepath.Join(r.dir, sock), err)
	}
	return &unixListener{UnixListener: ln, dfd: dfd, name: sock, temp: temp}, nil
}

// listenUnixAt binds a Unix socket named name in the directory open as
// dfd (replacing a socket left by a killed run) and gives it to the
// account.
func listenUnixAt(dfd int, name string, a account) (*net.UnixListener, error) {
	if err := unix.Unlinkat(dfd, name, 0); err != nil && !errors.Is(err, unix.ENOENT) {
		return nil, err
	}
	// The kernel resolves /proc/self/fd/N to the directory itself.
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: fmt.Sprintf("/proc/self/fd/%d/%s", dfd, name), Net: "unix"})
	if err != nil {
		return nil, err
	}
	ln.SetUnlinkOnClose(false)
	if a.switchUser {
		if err := unix.Fchownat(dfd, name, int(a.uid), int(a.gid), unix.AT_SYMLINK_NOFOLLOW); err != nil {
			ln.Close()
			unix.Unlinkat(dfd, name, 0)
			return nil, fmt.Errorf("giving the socket to user %s: %w", a.name, err)
		}
	}
	return ln, nil
}

// unixListener removes its socket, through the directory it was bound
// in, when it closes.
type unixListener struct {
	*net.UnixListener
	dfd  int
	name string
	temp string
	once sync.Once
}

func (l *unixListener) Close() error {
	err := l.UnixListener.Close()
	l.once.Do(func() {
		unix.Unlinkat(l.dfd, l.name, 0)
		unix.Close(l.dfd)
		if l.temp != "" {
			os.RemoveAll(l.temp)
		}
	})
	return err
}

// pointRelay makes n's relay lead to the primary of st, or nowhere when
// n is the primary.
func (c *Cluster) pointRelay(n *node, st State) {
	r := c.relays[n.cfg.Name]
	if n.cfg.Name == st.Primary {
		r.lead(route{})
		return
	}
	prim := c.byName[st.Primary]
	r.lead(route{node: prim.cfg.Name, addr: prim.addrPort()})
}

// relayLeadsTo reports whether n's relay leads to the node named primary.
func (c *Cluster) relayLeadsTo(n *node, primary string) bool {
	r, _ := c.relays[n.cfg.Name].current()
	return r.node == primary
}
