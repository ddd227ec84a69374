package network

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/nftables"
	"github.com/google/nftables/userdata"
	"github.com/hastack/hastack/internal/testenv"
)

// These tests change the kernel's packet filter for addresses in
// 127.9.0.0/16 only, so they cannot disturb anything else on the machine.
var (
	hostA = "127.9.1.10" // listens
	hostB = "127.9.2.10" // dials
	hostC = "127.9.3.10" // outside both prefixes, above them
	hostD = "127.9.0.10" // outside both prefixes, below them

	domA = Domain{Name: "a", Include: pfx("127.9.1.0/24")}
	domB = Domain{Name: "b", Include: pfx("127.9.2.0/24")}
)

const (
	// blocked is how long a connection attempt may take before it counts
	// as dropped; the loopback answers in microseconds.
	blocked = 300 * time.Millisecond
	// healed bounds how long a connection takes to get through again.
	healed = 5 * time.Second
)

var stackSeq atomic.Int64

// startEnforcer runs an enforcer for a stack named after the test, and on
// cleanup stops it and checks it left no table behind.
func startEnforcer(t *testing.T) *Enforcer {
	t.Helper()
	testenv.RequireNetAdmin(t)
	stack := fmt.Sprintf("nettest-%d-%d-%s", os.Getpid(), stackSeq.Add(1), t.Name())
	e, err := New(Config{Stack: stack})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.Start(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Start: %v", err)
		}
		assertNoTable(t, e.Table())
	})
	return e
}

func assertNoTable(t *testing.T, table string) {
	t.Helper()
	left, err := Leftovers()
	if err != nil {
		t.Fatal(err)
	}
	if slices.Contains(left, "ip "+table) {
		t.Errorf("table %s is left behind", table)
	}
}

func apply(t *testing.T, e *Enforcer, s State) {
	t.Helper()
	if err := e.Apply(s); err != nil {
		t.Fatal(err)
	}
}

// echoServer echoes every byte it reads, on host, and returns its address.
func echoServer(t *testing.T, host string) string {
	t.Helper()
	ln, err := net.Listen("tcp", host+":0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, _ = io.Copy(c, c)
			}()
		}
	}()
	t.Cleanup(func() {
		_ = ln.Close()
		mu.Lock()
		for _, c := range conns {
			_ = c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return ln.Addr().String()
}

// dial connects from the source address src.
func dial(src, addr string, timeout time.Duration) (net.Conn, error) {
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: timeout}
	return d.Dial("tcp", addr)
}

// connects reports whether a connection from src to addr is accepted
// within timeout.
func connects(src, addr string, timeout time.Duration) bool {
	c, err := dial(src, addr, timeout)
	if err != nil {
		return false
	}
	_ = c.Close()
	return true
}

// echo sends one byte and waits for it to come back, returning the round
// trip.
func echo(c net.Conn, timeout time.Duration) (time.Duration, error) {
	start := time.Now()
	if err := c.SetDeadline(start.Add(timeout)); err != nil {
		return 0, err
	}
	if _, err := c.Write([]byte{'x'}); err != nil {
		return 0, err
	}
	b := make([]byte, 1)
	if _, err := io.ReadFull(c, b); err != nil {
		return 0, err
	}
	return time.Since(start), nil
}

func TestPartitionDropsBothWays(t *testing.T) {
	e := startEnforcer(t)
	atA := echoServer(t, hostA)
	atB := echoServer(t, hostB)
	if !connects(hostB, atA, healed) {
		t.Fatal("no connection before the partition")
	}
	established, err := dial(hostB, atA, healed)
	if err != nil {
		t.Fatal(err)
	}
	defer established.Close()

	apply(t, e, State{Partitions: []Partition{{A: domA, B: domB}}})
	if connects(hostB, atA, blocked) {
		t.Error("B connected to A across the partition")
	}
	if connects(hostA, atB, blocked) {
		t.Error("A connected to B across the partition")
	}
	if _, err := echo(established, blocked); err == nil {
		t.Error("an established connection still got through the partition")
	}
	for _, h := range []string{hostC, hostD} {
		if !connects(h, atA, healed) {
			t.Errorf("%s, outside the partition, could not reach A", h)
		}
	}
	if !connects("127.9.1.11", atA, healed) {
		t.Error("traffic inside A was cut")
	}

	apply(t, e, State{})
	if !connects(hostB, atA, healed) {
		t.Error("B cannot reach A after the partition was removed")
	}
	if err := established.SetDeadline(time.Now().Add(healed)); err != nil {
		t.Fatal(err)
	}
	// The byte written during the partition is retransmitted once healed.
	b := make([]byte, 1)
	if _, err := io.ReadFull(established, b); err != nil {
		t.Errorf("the established connection did not recover: %v", err)
	}
}

func TestOneWayPartition(t *testing.T) {
	e := startEnforcer(t)
	a := udpListener(t, hostA)
	b := udpListener(t, hostB)
	apply(t, e, State{Partitions: []Partition{{A: domA, B: domB, OneWay: true}}})

	if udpGetsThrough(t, hostA, b) {
		t.Error("a datagram from A reached B through a one-way partition A -> B")
	}
	if !udpGetsThrough(t, hostB, a) {
		t.Error("a datagram from B did not reach A: only A -> B is cut")
	}
	if connects(hostB, a.LocalAddr().String(), blocked) {
		t.Error("TCP from B to A connected although A's replies are dropped")
	}
}

func udpListener(t *testing.T, host string) *net.UDPConn {
	t.Helper()
	c, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(netip.MustParseAddr(host), 0)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// udpGetsThrough sends datagrams from src to the listener and reports
// whether one arrives within blocked.
func udpGetsThrough(t *testing.T, src string, to *net.UDPConn) bool {
	t.Helper()
	from := udpListener(t, src)
	payload := []byte(t.Name() + src)
	deadline := time.Now().Add(blocked)
	buf := make([]byte, 512)
	for time.Now().Before(deadline) {
		if _, err := from.WriteToUDP(payload, to.LocalAddr().(*net.UDPAddr)); err != nil {
			t.Fatalf("sending from %s: %v (a drop on the way must not fail the send)", src, err)
		}
		wait := time.Now().Add(20 * time.Millisecond)
		if wait.After(deadline) {
			wait = deadline
		}
		if err := to.SetReadDeadline(wait); err != nil {
			t.Fatal(err)
		}
		n, addr, err := to.ReadFromUDP(buf)
		if err == nil && string(buf[:n]) == string(payload) && addr.IP.String() == src {
			return true
		}
	}
	return false
}

func TestSecurityGroup(t *testing.T) {
	e := startEnforcer(t)
	guarded := echoServer(t, hostA)
	open := echoServer(t, hostA)
	_, guardedPort, _ := net.SplitHostPort(guarded)
	var port uint16
	if _, err := fmt.Sscan(guardedPort, &port); err != nil {
		t.Fatal(err)
	}
	// A connection from C opened before the group exists stays up: the
	// group only judges new connections, as AWS's stateful groups do, even
	// though no connection tracking was on when it was opened.
	before, err := dial(hostC, guarded, healed)
	if err != nil {
		t.Fatal(err)
	}
	defer before.Close()

	apply(t, e, State{SecurityGroups: []SecurityGroup{{
		Name: "instance", Dest: pfx(hostA + "/32"), Port: port,
		Allow: []Domain{domB, Prefixes(pfx("127.0.0.1/32")...)},
	}}})

	allowed, err := dial(hostB, guarded, healed)
	if err != nil {
		t.Fatalf("the allowed source was refused: %v", err)
	}
	defer allowed.Close()
	if _, err := echo(allowed, healed); err != nil {
		t.Errorf("the allowed connection's replies did not come back: %v", err)
	}
	if connects(hostC, guarded, blocked) {
		t.Error("a source outside the group connected")
	}
	if !connects("127.0.0.1", guarded, healed) {
		t.Error("the operator address was refused")
	}
	if !connects(hostC, open, healed) {
		t.Error("another port on the same address was refused")
	}
	if _, err := echo(before, healed); err != nil {
		t.Errorf("a connection established before the group was cut: %v", err)
	}

	apply(t, e, State{})
	if !connects(hostC, guarded, healed) {
		t.Error("still refused after the group was removed")
	}
}

func TestRegionIsolation(t *testing.T) {
	e := startEnforcer(t)
	outside, err := Complement(domA)
	if err != nil {
		t.Fatal(err)
	}
	atA := echoServer(t, hostA)
	atB := echoServer(t, hostB)
	apply(t, e, State{Partitions: []Partition{{A: domA, B: outside}}})
	if connects(hostB, atA, blocked) || connects(hostD, atA, blocked) {
		t.Error("an address outside the region reached it")
	}
	if connects(hostA, atB, blocked) {
		t.Error("the region reached an address outside it")
	}
	if !connects("127.9.1.11", atA, healed) {
		t.Error("traffic inside the isolated region was cut")
	}
	if !connects(hostC, atB, healed) {
		t.Error("traffic between two other addresses was cut")
	}
}

// minRTT is the smallest of n echo round trips over one connection.
func minRTT(t *testing.T, src, addr string, n int) time.Duration {
	t.Helper()
	c, err := dial(src, addr, healed)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	best := time.Duration(1<<63 - 1)
	for i := 0; i < n; i++ {
		d, err := echo(c, healed)
		if err != nil {
			t.Fatal(err)
		}
		best = min(best, d)
	}
	return best
}

func TestDelay(t *testing.T) {
	e := startEnforcer(t)
	atA := echoServer(t, hostA)
	apply(t, e, State{Shapes: []Shape{{A: domA, B: &domB, Delay: 50 * time.Millisecond}}})

	shaped := minRTT(t, hostB, atA, 5)
	if shaped < 100*time.Millisecond || shaped > 150*time.Millisecond {
		t.Errorf("round trip between the shaped prefixes %s, want 100ms (+ a little)", shaped)
	}
	unshaped := minRTT(t, hostC, atA, 5)
	if unshaped > 20*time.Millisecond {
		t.Errorf("round trip from outside the shape %s, want about 0", unshaped)
	}
	t.Logf("round trip shaped %s, unshaped %s", shaped, unshaped)
	if s := e.Stats(); s.Delayed == 0 {
		t.Errorf("stats %+v: nothing delayed", s)
	}

	apply(t, e, State{})
	if d := minRTT(t, hostB, atA, 3); d > 20*time.Millisecond {
		t.Errorf("round trip %s after the shape was removed", d)
	}
}

// Packets held on a delayed path when a partition cuts it are lost with
// the link: a region that loses power loses what it had queued too.
func TestCutDropsHeldPackets(t *testing.T) {
	e := startEnforcer(t)
	shape := Shape{A: domA, B: &domB, Delay: 400 * time.Millisecond}
	apply(t, e, State{Shapes: []Shape{shape}})
	to := udpListener(t, hostA)
	from := udpListener(t, hostB)
	const sent = 5
	for i := range sent {
		if _, err := from.WriteToUDP([]byte{byte(i)}, to.LocalAddr().(*net.UDPAddr)); err != nil {
			t.Fatal(err)
		}
	}
	testenv.WaitFor(t, "the datagrams held", healed, func() bool { return e.Stats().Waiting == sent })
	apply(t, e, State{Shapes: []Shape{shape}, Partitions: []Partition{{A: domA, B: domB}}})
	if err := to.SetReadDeadline(time.Now().Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 16)
	if n, _, err := to.ReadFromUDP(buf); err == nil {
		t.Fatalf("a datagram held when the path was cut arrived (%d bytes)", n)
	}
	if s := e.Stats(); s.CutOff != sent || s.Waiting != 0 {
		t.Errorf("stats %+v, want %d cut off and none waiting", s, sent)
	}

	// Once the cut is lifted, held packets go through again.
	apply(t, e, State{Shapes: []Shape{shape}})
	if !udpGetsThrough(t, hostB, to) && !udpArrives(t, to, 2*time.Second) {
		t.Error("nothing gets through the delayed path after the cut was lifted")
	}
}

// Removing any hooked chain in the network namespace (another stack's
// table going away, say) makes the kernel drop every packet queued there,
// ours too. The verdicts later given for them are refused, each with an
// error on the queue's socket; that must not stop the enforcer, however
// many packets it held.
func TestPacketsDroppedByTheKernelDoNotStopTheEnforcer(t *testing.T) {
	e := startEnforcer(t)
	shape := Shape{A: domA, B: &domB, Delay: 500 * time.Millisecond}
	apply(t, e, State{Shapes: []Shape{shape}})
	to := udpListener(t, hostA)
	from := udpListener(t, hostB)
	const sent = 3 * maxReadFailures
	for i := range sent {
		if _, err := from.WriteToUDP([]byte{byte(i)}, to.LocalAddr().(*net.UDPAddr)); err != nil {
			t.Fatal(err)
		}
	}
	testenv.WaitFor(t, "the datagrams held", healed, func() bool { return e.Stats().Waiting == sent })

	other, err := New(Config{Stack: fmt.Sprintf("nettest-%d-%d-other", os.Getpid(), stackSeq.Add(1))})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- other.Start(ctx) }()
	if err := other.Apply(State{Partitions: []Partition{{A: domA, B: Domain{Name: "d", Include: pfx(hostD + "/32")}}}}); err != nil {
		cancel()
		<-done
		t.Fatal(err)
	}
	cancel() // its table and hooks go: the kernel drops what was queued
	if err := <-done; err != nil {
		t.Fatalf("the other stack's enforcer: %v", err)
	}

	// The verdicts given once the held datagrams fall due are refused;
	// the enforcer keeps delaying afterwards.
	testenv.WaitFor(t, "the verdicts refused", healed, func() bool { return e.Stats().Refused == sent })
	if err := e.Apply(State{Shapes: []Shape{shape}}); err != nil {
		t.Fatalf("after the kernel dropped what it held: %v", err)
	}
	if !udpGetsThrough(t, hostB, to) && !udpArrives(t, to, 2*time.Second) {
		t.Error("nothing gets through the delayed path after the kernel dropped the held packets")
	}
}

// udpArrives reports whether a datagram arrives on c within d.
func udpArrives(t *testing.T, c *net.UDPConn, d time.Duration) bool {
	t.Helper()
	if err := c.SetReadDeadline(time.Now().Add(d)); err != nil {
		t.Fatal(err)
	}
	_, _, err := c.ReadFromUDP(make([]byte, 512))
	return err == nil
}

func TestJitterStaysInBounds(t *testing.T) {
	e := startEnforcer(t)
	atA := echoServer(t, hostA)
	apply(t, e, State{Shapes: []Shape{{A: domA, B: &domB, Delay: 30 * time.Millisecond, Jitter: 20 * time.Millisecond}}})
	c, err := dial(hostB, atA, healed)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	lo, hi := time.Duration(1<<63-1), time.Duration(0)
	for i := 0; i < 20; i++ {
		d, err := echo(c, healed)
		if err != nil {
			t.Fatal(err)
		}
		lo, hi = min(lo, d), max(hi, d)
	}
	t.Logf("round trips %s to %s", lo, hi)
	// Each packet waits 10–50 ms; the upper bound leaves room for a busy
	// machine.
	if lo < 20*time.Millisecond || hi > 200*time.Millisecond {
		t.Errorf("round trips %s to %s, want within 2×(30ms ± 20ms), plus scheduling", lo, hi)
	}
	if hi-lo < 5*time.Millisecond {
		t.Errorf("round trips %s to %s: no jitter", lo, hi)
	}
}

func TestTotalLossDrops(t *testing.T) {
	e := startEnforcer(t)
	atA := echoServer(t, hostA)
	apply(t, e, State{Shapes: []Shape{{A: domA, B: &domB, Loss: 100}}})
	if connects(hostB, atA, blocked) {
		t.Error("connected through 100% loss")
	}
	if s := e.Stats(); s.Dropped == 0 {
		t.Errorf("stats %+v: nothing dropped", s)
	}
	if !connects(hostC, atA, healed) {
		t.Error("traffic outside the shape was lost")
	}
}

func TestPartialLoss(t *testing.T) {
	e := startEnforcer(t)
	a := udpListener(t, hostA)
	from := udpListener(t, hostB)
	apply(t, e, State{Shapes: []Shape{{A: domA, B: &domB, Loss: 50}}})

	const sent = 400
	for i := 0; i < sent; i++ {
		if _, err := from.WriteToUDP([]byte{byte(i)}, a.LocalAddr().(*net.UDPAddr)); err != nil {
			t.Fatal(err)
		}
	}
	got := 0
	buf := make([]byte, 16)
	for {
		if err := a.SetReadDeadline(time.Now().Add(blocked)); err != nil {
			t.Fatal(err)
		}
		if _, err := a.Read(buf); err != nil {
			break
		}
		got++
	}
	// 50% of 400: mean 200, standard deviation 10.
	if got < 140 || got > 260 {
		t.Errorf("%d of %d datagrams arrived through 50%% loss", got, sent)
	}
}

func TestRemoveLeavesNothing(t *testing.T) {
	testenv.RequireNetAdmin(t)
	stack := fmt.Sprintf("nettest-%d-remove", os.Getpid())
	e, err := New(Config{Stack: stack})
	if err != nil {
		t.Fatal(err)
	}
	atA := echoServer(t, hostA)
	if err := e.Apply(State{Partitions: []Partition{{A: domA, B: domB}}}); err != nil {
		t.Fatal(err)
	}
	left, err := Leftovers()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(left, "ip "+TableName(stack)) {
		t.Fatalf("leftovers %v do not list the stack's table", left)
	}
	// As after a killed hastack up: the process is gone, its table is not.
	if err := Remove(stack); err != nil {
		t.Fatal(err)
	}
	assertNoTable(t, TableName(stack))
	if !connects(hostB, atA, healed) {
		t.Error("the partition outlived its table")
	}
	if err := Remove(stack); err != nil {
		t.Errorf("removing an absent table: %v", err)
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	if err := e.Apply(State{}); !errors.Is(err, errStopped) {
		t.Errorf("Apply after Close: %v, want it refused", err)
	}
}

func TestNewClearsWhatAKilledStackLeft(t *testing.T) {
	testenv.RequireNetAdmin(t)
	stack := fmt.Sprintf("nettest-%d-restart", os.Getpid())
	first, err := New(Config{Stack: stack})
	if err != nil {
		t.Fatal(err)
	}
	atA := echoServer(t, hostA)
	if err := first.Apply(State{Partitions: []Partition{{A: domA, B: domB}}}); err != nil {
		t.Fatal(err)
	}
	// The first enforcer's process "dies": its queue goes, its table stays.
	if err := first.q.close(); err != nil {
		t.Fatal(err)
	}
	second, err := New(Config{Stack: stack})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := second.Close(); err != nil {
			t.Error(err)
		}
		assertNoTable(t, TableName(stack))
	}()
	if !connects(hostB, atA, healed) {
		t.Error("the dead stack's partition is still enforced after New")
	}
}

func TestQueueBypassWithoutListener(t *testing.T) {
	testenv.RequireNetAdmin(t)
	stack := fmt.Sprintf("nettest-%d-bypass", os.Getpid())
	e, err := New(Config{Stack: stack})
	if err != nil {
		t.Fatal(err)
	}
	atA := echoServer(t, hostA)
	if err := e.Apply(State{Shapes: []Shape{{A: domA, B: &domB, Loss: 100}}}); err != nil {
		t.Fatal(err)
	}
	// Nobody reads the queue any more: the rules' bypass flag lets the
	// packets through instead of stalling the link.
	if err := e.q.close(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := Remove(stack); err != nil {
			t.Error(err)
		}
		assertNoTable(t, TableName(stack))
	}()
	if !connects(hostB, atA, healed) {
		t.Error("impaired traffic stalled once the enforcer was gone")
	}
}

func TestTwoStacksAtOnce(t *testing.T) {
	one := startEnforcer(t)
	two := startEnforcer(t)
	if one.q.num == two.q.num {
		t.Fatalf("both stacks bound queue %d", one.q.num)
	}
	atA := echoServer(t, hostA)
	apply(t, one, State{Shapes: []Shape{{A: domA, B: &domB, Delay: 20 * time.Millisecond}}})
	apply(t, two, State{Shapes: []Shape{{A: domA, B: &domB, Delay: 20 * time.Millisecond}}})
	// A packet passes both tables, and each stack's enforcer delays it.
	if d := minRTT(t, hostB, atA, 3); d < 80*time.Millisecond {
		t.Errorf("round trip %s, want both stacks' 2×20ms", d)
	}
	if !strings.HasPrefix(one.Table(), TablePrefix) {
		t.Errorf("table %s", one.Table())
	}
}

func TestApplyIsAtomicUnderTraffic(t *testing.T) {
	e := startEnforcer(t)
	atA := echoServer(t, hostA)
	c, err := dial(hostC, atA, healed)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// Rewriting rules that do not concern C never disturbs C's connection.
	for i := 0; i < 20; i++ {
		s := State{Partitions: []Partition{{A: domA, B: domB}}}
		if i%2 == 1 {
			s.Shapes = []Shape{{A: domA, B: &domB, Delay: time.Duration(i) * time.Millisecond}}
		}
		apply(t, e, s)
		if d, err := echo(c, healed); err != nil || d > 50*time.Millisecond {
			t.Fatalf("echo %d: %s, %v", i, d, err)
		}
	}
	if len(e.Plan().Rules) != 4 { // the last state: the partition and the shape
		t.Errorf("plan %+v", e.Plan())
	}
}

func TestQueueNumberTaken(t *testing.T) {
	testenv.RequireNetAdmin(t)
	first, err := openQueue(queueBase+queueRange+7, 3)
	if err != nil {
		t.Fatal(err)
	}
	defer first.close()
	second, err := openQueue(first.num, 3)
	if err != nil {
		t.Fatal(err)
	}
	defer second.close()
	if second.num != first.num+1 {
		t.Errorf("second queue bound %d, want the next free one, %d", second.num, first.num+1)
	}
	q, err := openQueue(first.num, 2)
	if err == nil {
		q.close()
		t.Fatal("bound a queue although both numbers were taken")
	}
	if !strings.Contains(err.Error(), "are all taken") {
		t.Errorf("no free queue: error %q", err)
	}
}

// kernelRules reads back the comments of the rules in the stack's chain.
func kernelRules(t *testing.T, table string) []string {
	t.Helper()
	nftMu.Lock()
	defer nftMu.Unlock()
	c, err := nftables.New()
	if err != nil {
		t.Fatal(err)
	}
	tab := &nftables.Table{Family: nftables.TableFamilyIPv4, Name: table}
	rules, err := c.GetRules(tab, &nftables.Chain{Name: chainName, Table: tab})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, r := range rules {
		comment, _ := userdata.GetString(r.UserData, userdata.TypeComment)
		out = append(out, comment)
	}
	return out
}

func TestApplyReplacesTheRuleSet(t *testing.T) {
	e := startEnforcer(t)
	s := State{
		Partitions:     []Partition{{A: domA, B: domB, OneWay: true}},
		SecurityGroups: []SecurityGroup{{Name: "db", Dest: pfx(hostA + "/32"), Port: 5432, Allow: []Domain{domB}}},
		Shapes:         []Shape{{A: domA, B: &domB, Delay: time.Millisecond}},
	}
	want := []string{
		"partition a -> b",
		"security group db port 5432",
		"shape a <-> b delay 1ms jitter 0s loss 0%",
		"shape a <-> b delay 1ms jitter 0s loss 0%",
	}
	for range 3 { // applying the same state again changes nothing
		apply(t, e, s)
		if got := kernelRules(t, e.Table()); !slices.Equal(got, want) {
			t.Fatalf("kernel rules %q, want %q", got, want)
		}
	}
	if n := kernelSets(t, e.Table()); n != 8 { // a source and a destination set per rule
		t.Errorf("%d address sets for the full state, want 8", n)
	}
	apply(t, e, State{Partitions: s.Partitions})
	if got := kernelRules(t, e.Table()); !slices.Equal(got, want[:1]) {
		t.Fatalf("kernel rules %q after removing the group and the shape", got)
	}
	apply(t, e, State{})
	if got := kernelRules(t, e.Table()); len(got) != 0 {
		t.Fatalf("kernel rules %q for an empty state", got)
	}
	if n := kernelSets(t, e.Table()); n != 0 {
		t.Errorf("%d address sets outlived their rules", n)
	}
}

func kernelSets(t *testing.T, table string) int {
	t.Helper()
	nftMu.Lock()
	defer nftMu.Unlock()
	c, err := nftables.New()
	if err != nil {
		t.Fatal(err)
	}
	sets, err := c.GetSets(&nftables.Table{Family: nftables.TableFamilyIPv4, Name: table})
	if err != nil {
		t.Fatal(err)
	}
	return len(sets)
}
