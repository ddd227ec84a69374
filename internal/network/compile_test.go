package network

import (
	"errors"
	"fmt"
	"math"
	"net/netip"
	"strings"
	"syscall"
	"testing"
	"time"
)

func pfx(ss ...string) []netip.Prefix {
	out := make([]netip.Prefix, len(ss))
	for i, s := range ss {
		out[i] = netip.MustParsePrefix(s)
	}
	return out
}

func TestDomainSet(t *testing.T) {
	tests := []struct {
		name string
		d    Domain
		want string
	}{
		{"one prefix", Domain{Include: pfx("127.1.0.0/16")}, "127.1.0.0/16"},
		{"host bits are masked", Domain{Include: pfx("127.1.2.3/16")}, "127.1.0.0/16"},
		{"adjacent prefixes merge", Domain{Include: pfx("127.2.0.0/16", "127.3.0.0/16")}, "127.2.0.0/15"},
		{"overlapping prefixes merge", Domain{Include: pfx("127.1.0.0/16", "127.1.5.0/24")}, "127.1.0.0/16"},
		{"empty", Domain{}, "none"},
		{
			"internet: loopback outside the regions",
			Domain{Include: pfx("127.0.0.0/8"), Exclude: pfx("127.1.0.0/16", "127.2.0.0/16")},
			"127.0.0.0/16,127.3.0.0-127.255.255.255",
		},
		{"exclude everything", Domain{Include: pfx("127.1.0.0/16"), Exclude: pfx("127.0.0.0/8")}, "none"},
		{"exclude outside include", Domain{Include: pfx("127.1.0.0/16"), Exclude: pfx("10.0.0.0/8")}, "127.1.0.0/16"},
		{"everything", Domain{Include: pfx("0.0.0.0/0")}, "0.0.0.0/0"},
		{"a host", Domain{Include: pfx("127.9.1.10/32")}, "127.9.1.10/32"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := tt.d.Set()
			if err != nil {
				t.Fatal(err)
			}
			if got := s.String(); got != tt.want {
				t.Errorf("Set() = %s, want %s", got, tt.want)
			}
		})
	}
}

func TestDomainSetRefusesIPv6(t *testing.T) {
	_, err := Domain{Name: "v6", Include: pfx("::1/128")}.Set()
	if err == nil || !strings.Contains(err.Error(), `"::1/128" is not an IPv4 prefix`) {
		t.Fatalf("Set() error = %v, want one naming the IPv6 prefix", err)
	}
	_, err = Domain{Name: "bad", Include: []netip.Prefix{{}}}.Set()
	if err == nil {
		t.Fatal("Set() of an invalid prefix: no error")
	}
}

func TestAddrSetOps(t *testing.T) {
	a := SetOf("127.1.0.0/16", "127.5.0.0/16")
	b := SetOf("127.1.128.0/17", "127.4.0.0/15")
	for _, tt := range []struct {
		name string
		got  AddrSet
		want string
	}{
		{"union", a.Union(b), "127.1.0.0/16,127.4.0.0/15"},
		{"intersect", a.Intersect(b), "127.1.128.0/17,127.5.0.0/16"},
		{"minus", a.Minus(b), "127.1.0.0/17"},
		{"complement", SetOf("127.0.0.0/8").Complement(), "0.0.0.0-126.255.255.255,128.0.0.0/1"},
		{"complement of nothing", AddrSet{}.Complement(), "0.0.0.0/0"},
		{"complement of everything", AllAddrs().Complement(), "none"},
		{"complement touching both ends", SetOf("0.0.0.0/8", "255.0.0.0/8").Complement(), "1.0.0.0-254.255.255.255"},
		{"twice complemented", a.Complement().Complement(), a.String()},
	} {
		if got := tt.got.String(); got != tt.want {
			t.Errorf("%s = %s, want %s", tt.name, got, tt.want)
		}
	}
	if !AllAddrs().IsAll() || SetOf("0.0.0.0/1").IsAll() {
		t.Error("IsAll is wrong")
	}
	for addr, want := range map[string]bool{
		"127.0.255.255": false, "127.1.0.0": true, "127.1.255.255": true, "127.2.0.0": false,
		"127.5.3.4": true, "127.6.0.0": false, "0.0.0.0": false, "255.255.255.255": false,
	} {
		if got := a.Contains(netip.MustParseAddr(addr)); got != want {
			t.Errorf("Contains(%s) = %v, want %v", addr, got, want)
		}
	}
	if a.Contains(netip.MustParseAddr("::1")) {
		t.Error("an IPv6 address is in an IPv4 set")
	}
}

func TestPrefixesCoverExactly(t *testing.T) {
	for _, s := range []AddrSet{
		SetOf("127.0.0.0/8").Complement(),
		SetOf("127.0.0.0/8").Minus(SetOf("127.1.0.0/16", "127.2.0.0/16", "127.0.0.1/32")),
		AllAddrs(),
		{spans: []span{{3, 17}}},
	} {
		back, err := setOf(s.Prefixes())
		if err != nil {
			t.Fatal(err)
		}
		if back.String() != s.String() {
			t.Errorf("prefixes of %s cover %s", s, back)
		}
	}
	if got := fmt.Sprint(SetOf("127.0.0.0/8").Complement().Prefixes()); !strings.HasPrefix(got, "[0.0.0.0/2 64.0.0.0/3") {
		t.Errorf("Prefixes() = %s, want the fewest prefixes, largest first", got)
	}
}

func TestComplementDomain(t *testing.T) {
	region := Domain{Name: "us-east-1", Include: pfx("127.1.0.0/16"), Exclude: pfx("127.1.9.0/24")}
	c, err := Complement(region)
	if err != nil {
		t.Fatal(err)
	}
	s, _ := c.Set()
	if got, want := s.String(), "0.0.0.0-127.0.255.255,127.1.9.0/24,127.2.0.0-255.255.255.255"; got != want {
		t.Errorf("Complement = %s, want %s", got, want)
	}
	if c.Name != "outside us-east-1" {
		t.Errorf("name %q", c.Name)
	}
}

// render shows a plan's rules one per line, for comparing with a table.
func render(p Plan) string {
	var b strings.Builder
	for _, r := range p.Rules {
		fmt.Fprintf(&b, "%s %s -> %s", r.Verdict, r.Src, r.Dst)
		if r.Port != 0 {
			fmt.Fprintf(&b, " tcp dport %d", r.Port)
		}
		if r.Opening {
			b.WriteString(" syn")
		}
		b.WriteString("\n")
	}
	return b.String()
}

func TestCompile(t *testing.T) {
	east := Domain{Name: "us-east-1", Include: pfx("127.1.0.0/16")}
	west := Domain{Name: "us-west-2", Include: pfx("127.2.0.0/16")}
	internet := Domain{Name: "internet", Include: pfx("127.0.0.0/8"), Exclude: pfx("127.1.0.0/16", "127.2.0.0/16")}
	outsideEast, _ := Complement(east)
	tests := []struct {
		name  string
		state State
		want  string
	}{
		{"nothing", State{}, ""},
		{
			"partition both ways",
			State{Partitions: []Partition{{A: east, B: west}}},
			"drop 127.1.0.0/16 -> 127.2.0.0/16\ndrop 127.2.0.0/16 -> 127.1.0.0/16\n",
		},
		{
			"one way",
			State{Partitions: []Partition{{A: east, B: internet, OneWay: true}}},
			"drop 127.1.0.0/16 -> 127.0.0.0/16,127.3.0.0-127.255.255.255\n",
		},
		{
			"region isolation",
			State{Partitions: []Partition{{A: east, B: outsideEast}}},
			"drop 127.1.0.0/16 -> 0.0.0.0-127.0.255.255,127.2.0.0-255.255.255.255\n" +
				"drop 0.0.0.0-127.0.255.255,127.2.0.0-255.255.255.255 -> 127.1.0.0/16\n",
		},
		{
			"several partitions",
			State{Partitions: []Partition{{A: east, B: west, OneWay: true}, {A: west, B: internet, OneWay: true}}},
			"drop 127.1.0.0/16 -> 127.2.0.0/16\ndrop 127.2.0.0/16 -> 127.0.0.0/16,127.3.0.0-127.255.255.255\n",
		},
		{
			"an empty domain partitions nothing",
			State{Partitions: []Partition{{A: east, B: Domain{Name: "dns"}}}},
			"",
		},
		{
			"security group: instance port only from the load balancer",
			State{SecurityGroups: []SecurityGroup{{
				Name: "instance", Dest: pfx("127.1.1.20/32"), Port: 8080,
				Allow: []Domain{Prefixes(pfx("127.1.0.5/32")...)},
			}}},
			"drop 0.0.0.0-127.1.0.4,127.1.0.6-255.255.255.255 -> 127.1.1.20/32 tcp dport 8080 syn\n",
		},
		{
			"security group: database from its VPC, a peer and the operator",
			State{SecurityGroups: []SecurityGroup{{
				Name: "db", Dest: pfx("127.1.1.30/32", "127.1.2.30/32"), Port: 5432,
				Allow: []Domain{east, Prefixes(pfx("127.2.1.30/32", "127.0.0.1/32")...)},
			}}},
			"drop 0.0.0.0-127.0.0.0,127.0.0.2-127.0.255.255,127.2.0.0-127.2.1.29,127.2.1.31-255.255.255.255 -> 127.1.1.30/32,127.1.2.30/32 tcp dport 5432 syn\n",
		},
		{
			"security group allowing nothing drops every new connection",
			State{SecurityGroups: []SecurityGroup{{Name: "closed", Dest: pfx("127.1.1.20/32"), Port: 22}}},
			"drop 0.0.0.0/0 -> 127.1.1.20/32 tcp dport 22 syn\n",
		},
		{
			"security group allowing everything drops nothing",
			State{SecurityGroups: []SecurityGroup{{Name: "open", Dest: pfx("127.1.1.20/32"), Port: 80, Allow: []Domain{Prefixes(pfx("0.0.0.0/0")...)}}}},
			"",
		},
		{
			"shape between two regions",
			State{Shapes: []Shape{{A: east, B: &west, Delay: 32 * time.Millisecond}}},
			"impair 127.1.0.0/16 -> 127.2.0.0/16\nimpair 127.2.0.0/16 -> 127.1.0.0/16\n",
		},
		{
			"shape to everything else",
			State{Shapes: []Shape{{A: Prefixes(pfx("127.1.0.5/32")...), Loss: 20}}},
			"impair 127.1.0.5/32 -> 0.0.0.0-127.1.0.4,127.1.0.6-255.255.255.255\nimpair 0.0.0.0-127.1.0.4,127.1.0.6-255.255.255.255 -> 127.1.0.5/32\n",
		},
		{
			"a shape that changes nothing is left out",
			State{Shapes: []Shape{{A: east, B: &west}}},
			"",
		},
		{
			"drops before impairments",
			State{
				Shapes:         []Shape{{A: east, B: &west, Delay: time.Millisecond}},
				SecurityGroups: []SecurityGroup{{Name: "x", Dest: pfx("127.1.1.1/32"), Port: 1, Allow: []Domain{east}}},
				Partitions:     []Partition{{A: east, B: internet, OneWay: true}},
			},
			"drop 127.1.0.0/16 -> 127.0.0.0/16,127.3.0.0-127.255.255.255\n" +
				"drop 0.0.0.0-127.0.255.255,127.2.0.0-255.255.255.255 -> 127.1.1.1/32 tcp dport 1 syn\n" +
				"impair 127.1.0.0/16 -> 127.2.0.0/16\nimpair 127.2.0.0/16 -> 127.1.0.0/16\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := Compile(tt.state)
			if err != nil {
				t.Fatal(err)
			}
			if got := render(p); got != tt.want {
				t.Errorf("rules:\n%s\nwant:\n%s", got, tt.want)
			}
		})
	}
}

func TestCompileComments(t *testing.T) {
	west := Domain{Name: "us-west-2", Include: pfx("127.2.0.0/16")}
	p, err := Compile(State{
		Partitions:     []Partition{{A: Domain{Name: "dns", Include: pfx("127.0.53.0/24")}, B: west, OneWay: true}},
		SecurityGroups: []SecurityGroup{{Name: "db us-west-2", Dest: pfx("127.2.1.1/32"), Port: 5432}},
		Shapes:         []Shape{{A: west, Delay: 100 * time.Millisecond, Jitter: 10 * time.Millisecond, Loss: 5}},
	})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range p.Rules {
		got = append(got, r.Comment)
	}
	want := []string{
		"partition dns -> us-west-2",
		"security group db us-west-2 port 5432",
		"shape us-west-2 <-> everything else delay 100ms jitter 10ms loss 5%",
		"shape us-west-2 <-> everything else delay 100ms jitter 10ms loss 5%",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("comments:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestCompileRefuses(t *testing.T) {
	east := Domain{Name: "us-east-1", Include: pfx("127.1.0.0/16")}
	v6 := Domain{Name: "v6", Include: pfx("::1/128")}
	tests := []struct {
		name  string
		state State
		want  string
	}{
		{"IPv6 in a partition", State{Partitions: []Partition{{A: east, B: v6}}}, `partition us-east-1/v6: domain v6: "::1/128" is not an IPv4 prefix`},
		{"IPv6 in a shape", State{Shapes: []Shape{{A: v6, Delay: 1}}}, "shape v6 <-> everything else: domain v6"},
		{"IPv6 allowed", State{SecurityGroups: []SecurityGroup{{Name: "g", Dest: pfx("127.1.1.1/32"), Port: 1, Allow: []Domain{v6}}}}, "security group g: domain v6"},
		{"no port", State{SecurityGroups: []SecurityGroup{{Name: "g", Dest: pfx("127.1.1.1/32")}}}, "security group g: no port"},
		{"no destination", State{SecurityGroups: []SecurityGroup{{Name: "g", Port: 1}}}, "security group g: no destination address"},
		{"loss over 100", State{Shapes: []Shape{{A: east, Loss: 101}}}, "loss 101% is not between 0 and 100"},
		{"negative loss", State{Shapes: []Shape{{A: east, Loss: -1}}}, "loss -1% is not between 0 and 100"},
		{"NaN loss", State{Shapes: []Shape{{A: east, Loss: math.NaN()}}}, "is not between 0 and 100"},
		{"negative delay", State{Shapes: []Shape{{A: east, Delay: -time.Millisecond}}}, "delay and jitter must not be negative"},
		{"negative jitter", State{Shapes: []Shape{{A: east, Jitter: -time.Millisecond}}}, "delay and jitter must not be negative"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Compile(tt.state)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Compile() error = %v, want one containing %q", err, tt.want)
			}
		})
	}
}

func TestEffectOn(t *testing.T) {
	east := Domain{Name: "us-east-1", Include: pfx("127.1.0.0/16")}
	west := Domain{Name: "us-west-2", Include: pfx("127.2.0.0/16")}
	lb := Domain{Name: "lb", Include: pfx("127.1.0.5/32")}
	p, err := Compile(State{Shapes: []Shape{
		{A: east, B: &west, Delay: 32 * time.Millisecond},
		{A: east, B: &west, Delay: 500 * time.Millisecond, Jitter: 50 * time.Millisecond},
		{A: lb, Loss: 20},
		{A: lb, Loss: 50},
	}})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		src, dst string
		want     Effect
	}{
		{"127.1.1.1", "127.2.1.1", Effect{Delay: 532 * time.Millisecond, Jitter: 50 * time.Millisecond}},
		{"127.2.1.1", "127.1.1.1", Effect{Delay: 532 * time.Millisecond, Jitter: 50 * time.Millisecond}},
		{"127.1.1.1", "127.1.2.2", Effect{}},         // inside a region: undelayed
		{"127.0.0.1", "127.2.1.1", Effect{}},         // from the internet: undelayed
		{"127.0.0.1", "127.1.0.5", Effect{Loss: 60}}, // 1 - 0.8*0.5
		{"127.1.0.5", "127.2.0.9", Effect{Delay: 532 * time.Millisecond, Jitter: 50 * time.Millisecond, Loss: 60}},
		{"127.1.0.5", "127.1.0.5", Effect{}}, // to itself: not "everything else"
	}
	for _, tt := range tests {
		got := p.EffectOn(netip.MustParseAddr(tt.src), netip.MustParseAddr(tt.dst))
		if got.Delay != tt.want.Delay || got.Jitter != tt.want.Jitter || math.Abs(got.Loss-tt.want.Loss) > 1e-9 {
			t.Errorf("EffectOn(%s, %s) = %+v, want %+v", tt.src, tt.dst, got, tt.want)
		}
	}
	if got := p.EffectOn(netip.MustParseAddr("::1"), netip.MustParseAddr("127.1.0.5")); !got.IsZero() {
		t.Errorf("IPv6 packet effect %+v, want none", got)
	}
}

func TestShapeCountsOnceWhenDomainsOverlap(t *testing.T) {
	all := Domain{Name: "loopback", Include: pfx("127.0.0.0/8")}
	p, err := Compile(State{Shapes: []Shape{{A: all, B: &all, Delay: 10 * time.Millisecond}}})
	if err != nil {
		t.Fatal(err)
	}
	if got := p.EffectOn(netip.MustParseAddr("127.1.1.1"), netip.MustParseAddr("127.2.2.2")).Delay; got != 10*time.Millisecond {
		t.Errorf("delay %s, want 10ms once", got)
	}
}

func TestDecide(t *testing.T) {
	tests := []struct {
		name      string
		e         Effect
		u1, u2    float64
		drop      bool
		wantDelay time.Duration
	}{
		{"nothing", Effect{}, 0, 0.5, false, 0},
		{"delay", Effect{Delay: 50 * time.Millisecond}, 0, 0.5, false, 50 * time.Millisecond},
		{"jitter low end", Effect{Delay: 50 * time.Millisecond, Jitter: 10 * time.Millisecond}, 0, 0, false, 40 * time.Millisecond},
		{"jitter middle", Effect{Delay: 50 * time.Millisecond, Jitter: 10 * time.Millisecond}, 0, 0.5, false, 50 * time.Millisecond},
		{"jitter high end", Effect{Delay: 50 * time.Millisecond, Jitter: 10 * time.Millisecond}, 0, 0.75, false, 55 * time.Millisecond},
		{"jitter never below zero", Effect{Delay: 5 * time.Millisecond, Jitter: 10 * time.Millisecond}, 0, 0, false, 0},
		{"lost", Effect{Loss: 20}, 0.19, 0.5, true, 0},
		{"not lost", Effect{Loss: 20}, 0.2, 0.5, false, 0},
		{"all lost", Effect{Loss: 100}, 0.999999, 0.5, true, 0},
		{"none lost", Effect{Delay: time.Millisecond}, 0, 0.5, false, time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			drop, delay := decide(tt.e, tt.u1, tt.u2)
			if drop != tt.drop || delay != tt.wantDelay {
				t.Errorf("decide = %v, %s; want %v, %s", drop, delay, tt.drop, tt.wantDelay)
			}
		})
	}
}

func TestSequencerKeepsOrder(t *testing.T) {
	var s sequencer
	t0 := time.Unix(1000, 0)
	k := pairKey{1, 2}
	first := s.release(k, t0, 60*time.Millisecond)
	second := s.release(k, t0.Add(time.Millisecond), 40*time.Millisecond) // jitter would overtake
	if second.Before(first) {
		t.Errorf("second packet released at %s, before the first at %s", second.Sub(t0), first.Sub(t0))
	}
	other := s.release(pairKey{2, 1}, t0.Add(time.Millisecond), 40*time.Millisecond)
	if got := other.Sub(t0); got != 41*time.Millisecond {
		t.Errorf("another path waited for the first: released at %s, want 41ms", got)
	}
	third := s.release(k, t0.Add(time.Second), 10*time.Millisecond)
	if got := third.Sub(t0); got != 1010*time.Millisecond {
		t.Errorf("a later packet released at %s, want 1.01s", got)
	}
}

func TestWaitRoom(t *testing.T) {
	w := newWaitRoom()
	t0 := time.Unix(1000, 0)
	pkt := func(id uint32) queuedPacket { return queuedPacket{id: id, src: 10 + id, dst: 20 + id, ipv4: true} }
	w.hold(pkt(1), t0.Add(30*time.Millisecond))
	w.hold(pkt(2), t0.Add(10*time.Millisecond))
	w.hold(pkt(3), t0.Add(10*time.Millisecond))
	w.hold(pkt(4), t0.Add(50*time.Millisecond))
	ids := func(pkts []held) string {
		var out []string
		for _, p := range pkts {
			if p.src != 10+p.id || p.dst != 20+p.id {
				t.Errorf("packet %d held with addresses %d -> %d", p.id, p.src, p.dst)
			}
			out = append(out, fmt.Sprint(p.id))
		}
		return "[" + strings.Join(out, " ") + "]"
	}
	got, next := w.due(t0.Add(5 * time.Millisecond))
	if len(got) != 0 || !next.Equal(t0.Add(10*time.Millisecond)) {
		t.Fatalf("due(5ms) = %v, next %s", ids(got), next.Sub(t0))
	}
	got, next = w.due(t0.Add(30 * time.Millisecond))
	if ids(got) != "[2 3 1]" || !next.Equal(t0.Add(50*time.Millisecond)) {
		t.Fatalf("due(30ms) = %v, next %s; want [2 3 1], 50ms", ids(got), next.Sub(t0))
	}
	if got := w.len(); got != 1 {
		t.Fatalf("len = %d, want 1", got)
	}
	if got := ids(w.all()); got != "[4]" {
		t.Fatalf("all = %v", got)
	}
	if _, next := w.due(t0.Add(time.Hour)); !next.IsZero() {
		t.Fatalf("next %s with nothing held", next)
	}
}

func TestCuts(t *testing.T) {
	a := Domain{Name: "a", Include: pfx("127.9.1.0/24")}
	b := Domain{Name: "b", Include: pfx("127.9.2.0/24")}
	ip := netip.MustParseAddr
	tests := []struct {
		name     string
		state    State
		src, dst string
		want     bool
	}{
		{"nothing in force", State{}, "127.9.1.1", "127.9.2.1", false},
		{"partition", State{Partitions: []Partition{{A: a, B: b}}}, "127.9.1.1", "127.9.2.1", true},
		{"partition, the other way", State{Partitions: []Partition{{A: a, B: b}}}, "127.9.2.1", "127.9.1.1", true},
		{"one-way partition, the way it cuts", State{Partitions: []Partition{{A: a, B: b, OneWay: true}}}, "127.9.1.1", "127.9.2.1", true},
		{"one-way partition, the way back", State{Partitions: []Partition{{A: a, B: b, OneWay: true}}}, "127.9.2.1", "127.9.1.1", false},
		{"outside the partition", State{Partitions: []Partition{{A: a, B: b}}}, "127.9.3.1", "127.9.2.1", false},
		{"a security group judges new connections only", State{SecurityGroups: []SecurityGroup{{Name: "sg", Dest: pfx("127.9.2.0/24"), Port: 80, Allow: []Domain{b}}}}, "127.9.1.1", "127.9.2.1", false},
		{"a shape delays, it does not cut", State{Shapes: []Shape{{A: a, B: &b, Delay: time.Second}}}, "127.9.1.1", "127.9.2.1", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := Compile(tt.state)
			if err != nil {
				t.Fatal(err)
			}
			if got := p.Cuts(ip(tt.src), ip(tt.dst)); got != tt.want {
				t.Errorf("Cuts(%s, %s) = %v, want %v", tt.src, tt.dst, got, tt.want)
			}
		})
	}
}

func TestHasNetAdmin(t *testing.T) {
	tests := []struct {
		name, status string
		want         bool
		err          bool
	}{
		{"root", "Name:\tx\nCapInh:\t0000000000000000\nCapEff:\t000001ffffffffff\n", true, false},
		{"only CAP_NET_ADMIN", "CapEff:\t0000000000001000\n", true, false},
		{"everything but CAP_NET_ADMIN", "CapEff:\t000001ffffffefff\n", false, false},
		{"unprivileged", "CapPrm:\t0000000000000000\nCapEff:\t0000000000000000\n", false, false},
		{"no CapEff line", "Name:\tx\n", false, true},
		{"garbage", "CapEff:\tzz\n", false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := hasNetAdmin(tt.status)
			if got != tt.want || (err != nil) != tt.err {
				t.Errorf("hasNetAdmin = %v, %v; want %v, error %v", got, err, tt.want, tt.err)
			}
		})
	}
}

func TestNoNetAdminMessage(t *testing.T) {
	msg := ErrNoNetAdmin.Error()
	if !strings.Contains(msg, "CAP_NET_ADMIN") {
		t.Errorf("%q does not name the capability", msg)
	}
	if strings.ContainsAny(msg, "\n") || strings.Count(msg, ". ") > 0 {
		t.Errorf("%q is not one sentence", msg)
	}
	for _, err := range []error{step("listing", fmt.Errorf("netlink receive: %w", errEPERM())), step("listing", errEPERM())} {
		if err != ErrNoNetAdmin {
			t.Errorf("step(EPERM) = %v, want ErrNoNetAdmin itself", err)
		}
	}
	if err := step("listing nftables tables", errors.New("boom")); err.Error() != "listing nftables tables: boom" {
		t.Errorf("step(other) = %v", err)
	}
}

func TestTableName(t *testing.T) {
	for stack, want := range map[string]string{
		"quick":          "hastack_quick",
		"two-region":     "hastack_two-region",
		"a b/c.d":        "hastack_a_b_c_d",
		"région":         "hastack_r_gion",
		"already_snake1": "hastack_already_snake1",
	} {
		if got := TableName(stack); got != want {
			t.Errorf("TableName(%q) = %q, want %q", stack, got, want)
		}
	}
}

func TestSetElements(t *testing.T) {
	var got []string
	for _, e := range setElements(SetOf("127.1.0.0/16", "255.255.255.0/24")) {
		a := netip.AddrFrom4([4]byte(e.Key))
		got = append(got, fmt.Sprintf("%s end=%v", a, e.IntervalEnd))
	}
	want := "127.1.0.0 end=false|127.2.0.0 end=true|255.255.255.0 end=false"
	if strings.Join(got, "|") != want {
		t.Errorf("elements %s, want %s (a range reaching the last address has no end element)", strings.Join(got, "|"), want)
	}
}

func errEPERM() error { return syscall.EPERM }

func TestRTT(t *testing.T) {
	tests := []struct {
		a, b     string
		min, max time.Duration
		known    bool
	}{
		{"us-east-1", "us-west-2", 60 * time.Millisecond, 70 * time.Millisecond, true},
		{"us-west-2", "us-east-1", 60 * time.Millisecond, 70 * time.Millisecond, true},
		{"us-east-1", "us-east-2", 10 * time.Millisecond, 20 * time.Millisecond, true},
		{"us-east-1", "eu-west-1", 65 * time.Millisecond, 80 * time.Millisecond, true},
		{"eu-west-1", "eu-central-1", 20 * time.Millisecond, 35 * time.Millisecond, true},
		{"ap-southeast-1", "ap-northeast-1", 60 * time.Millisecond, 80 * time.Millisecond, true},
		{"us-east-1", "us-east-1", 0, 0, true},
		{"us-east-1", "mars-north-1", DefaultRTT, DefaultRTT, false},
	}
	for _, tt := range tests {
		got, known := RTT(tt.a, tt.b)
		if got < tt.min || got > tt.max || known != tt.known {
			t.Errorf("RTT(%s, %s) = %s, %v; want %s–%s, %v", tt.a, tt.b, got, known, tt.min, tt.max, tt.known)
		}
	}
	for pair, ms := range rttMillis {
		if pair[0] == pair[1] || ms <= 0 {
			t.Errorf("table entry %v = %d", pair, ms)
		}
		if _, dup := rttMillis[[2]string{pair[1], pair[0]}]; dup {
			t.Errorf("pair %v is in the table both ways", pair)
		}
	}
}

func TestInterRegion(t *testing.T) {
	regions := map[string]Domain{
		"us-west-2": {Name: "us-west-2", Include: pfx("127.2.0.0/16")},
		"us-east-1": {Name: "us-east-1", Include: pfx("127.1.0.0/16")},
		"eu-west-1": {Name: "eu-west-1", Include: pfx("127.3.0.0/16")},
	}
	var got []string
	for _, s := range InterRegion(regions, MeasuredRTT) {
		got = append(got, s.String())
	}
	want := []string{
		"eu-west-1 <-> us-east-1: delay 35ms jitter 0s loss 0%",
		"eu-west-1 <-> us-west-2: delay 59ms jitter 0s loss 0%",
		"us-east-1 <-> us-west-2: delay 32ms jitter 0s loss 0%",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("InterRegion:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if n := len(InterRegion(regions, FixedRTT(0))); n != 0 {
		t.Errorf("a zero latency gave %d shapes", n)
	}
	fixed := InterRegion(regions, FixedRTT(40*time.Millisecond))
	if len(fixed) != 3 || fixed[0].Delay != 20*time.Millisecond {
		t.Errorf("fixed 40ms: %v", fixed)
	}
}

func TestRTTTableIsComplete(t *testing.T) {
	regions := map[string]bool{}
	for pair := range rttMillis {
		regions[pair[0]], regions[pair[1]] = true, true
	}
	for a := range regions {
		for b := range regions {
			if _, known := RTT(a, b); !known {
				t.Errorf("no round trip for %s <-> %s", a, b)
			}
		}
	}
	if len(regions) != 16 {
		t.Errorf("%d regions in the table, the README says 16", len(regions))
	}
}
