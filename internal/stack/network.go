package stack

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"sort"
	"time"

	"github.com/hastack/hastack/internal/network"
	"github.com/hastack/hastack/internal/route53"
)

// enforcer is what the stack asks of the network layer: make the kernel
// enforce this state, in place of the previous one.
type enforcer interface {
	Apply(network.State) error
}

var _ enforcer = (*network.Enforcer)(nil)

// startNetwork lays the failure domains on the address plan and, given
// CAP_NET_ADMIN, starts enforcing the stack's network: the security groups
// and the distance between regions. It removes what a killed hastack of
// the same stack left in the kernel first. Without the capability the
// stack runs without them, says so in one progress line, and refuses
// network faults. The returned stop removes the stack's table.
func (st *Stack) startNetwork() (stop func(), err error) {
	if st.domains, err = newDomains(st.plan); err != nil {
		return nil, fmt.Errorf("laying out the failure domains: %w", err)
	}
	nodes, endpoints, err := st.databaseLayout()
	if err != nil {
		return nil, err
	}
	groups, err := securityGroups(st.spec, st.plan, nodes, endpoints)
	if err != nil {
		return nil, fmt.Errorf("security groups: %w", err)
	}
	st.netBase = network.State{SecurityGroups: groups, Shapes: distance(st.spec.Network, st.domains.regions)}

	e, err := network.New(network.Config{Stack: st.spec.Name, Logger: st.logger.With("part", "network")})
	if err != nil {
		st.netOff = err
		if !errors.Is(err, network.ErrNoNetAdmin) {
			st.netOff = fmt.Errorf("the network is not enforced: %w", err)
		}
		st.step("%-10s security groups and inter-region latency are off: %v", "network", st.netOff)
		st.events.Add("network.off", st.netOff.Error())
		return func() {}, nil
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := e.Start(ctx); err != nil {
			st.events.Add("error", fmt.Sprintf("network enforcement stopped: %v", err))
		}
	}()
	stop = func() { cancel(); <-done }
	st.net = e
	if err := st.enforce(nil); err != nil {
		stop()
		return nil, err
	}
	st.step("%-10s security groups enforced in nftables table %s; %s", "network", e.Table(), describeDistance(st.netBase.Shapes))
	return stop, nil
}

// describeDistance says how far apart the regions are.
func describeDistance(shapes []network.Shape) string {
	if len(shapes) == 0 {
		return "no delay between regions"
	}
	s := "round trip"
	for i, sh := range shapes {
		if i > 0 {
			s += ","
		}
		s += fmt.Sprintf(" %s <-> %s %s", sh.A.Name, sh.B.Name, 2*sh.Delay)
	}
	return s
}

// enforce makes the kernel match the base network with faults in place,
// and remembers the state for reachable. Without an enforcer only the
// state is kept (it then has no rules a fault could add).
func (st *Stack) enforce(faults []Fault) error {
	state, err := networkState(st.netBase, faults, st.domains)
	if err != nil {
		return err
	}
	if st.net != nil {
		if err := st.net.Apply(state); err != nil {
			return fmt.Errorf("changing the network: %w", err)
		}
	}
	st.faultsMu.Lock()
	st.netState = state
	st.faultsMu.Unlock()
	return nil
}

// needNetwork refuses a fault made of packet filter rules when the
// network is not enforced.
func (st *Stack) needNetwork() error {
	if st.net != nil {
		return nil
	}
	if st.netOff != nil {
		return st.netOff
	}
	return network.ErrNoNetAdmin
}

// reachableFromDNS reports whether the Route53 health checkers and addr
// can reach each other now.
func (st *Stack) reachableFromDNS(addr netip.Addr) bool {
	checker := route53.CheckerAddrs(1)[0]
	st.faultsMu.Lock()
	state := st.netState
	st.faultsMu.Unlock()
	return reachable(state, checker, addr) && reachable(state, addr, checker)
}

// faultsNow lists the faults in place, oldest first.
func (st *Stack) faultsNow() []activeFault {
	st.faultsMu.Lock()
	defer st.faultsMu.Unlock()
	return append([]activeFault(nil), st.faults...)
}

// plain drops the times from active faults.
func plain(active []activeFault) []Fault {
	out := make([]Fault, len(active))
	for i, a := range active {
		out[i] = a.Fault
	}
	return out
}

// record adds a fault now in place.
func (st *Stack) record(f Fault) {
	st.faultsMu.Lock()
	st.faults = append(st.faults, activeFault{Fault: f, since: time.Now()})
	st.faultsMu.Unlock()
}

// forget removes the faults match says are undone.
func (st *Stack) forget(match func(Fault) bool) {
	st.faultsMu.Lock()
	defer st.faultsMu.Unlock()
	kept := st.faults[:0]
	for _, a := range st.faults {
		if !match(a.Fault) {
			kept = append(kept, a)
		}
	}
	st.faults = kept
}

// NetworkStatus says whether the network is enforced, and how far apart
// the regions are.
type NetworkStatus struct {
	// Enforced: security groups, distance and network faults are in the
	// kernel. Otherwise Reason says why not.
	Enforced bool   `json:"enforced"`
	Reason   string `json:"reason,omitempty"`
	// Table is the stack's nftables table.
	Table       string           `json:"table,omitempty"`
	InterRegion []DistanceStatus `json:"inter_region,omitempty"`
}

// DistanceStatus is the round trip added between two regions.
type DistanceStatus struct {
	A          string  `json:"a"`
	B          string  `json:"b"`
	RTTSeconds float64 `json:"rtt_seconds"`
}

func (st *Stack) networkStatus() NetworkStatus {
	ns := NetworkStatus{Enforced: st.net != nil}
	if st.netOff != nil {
		ns.Reason = st.netOff.Error()
	}
	if ns.Enforced {
		ns.Table = network.TableName(st.spec.Name)
		for _, sh := range st.netBase.Shapes {
			ns.InterRegion = append(ns.InterRegion, DistanceStatus{A: sh.A.Name, B: sh.B.Name, RTTSeconds: (2 * sh.Delay).Seconds()})
		}
	}
	sort.Slice(ns.InterRegion, func(i, j int) bool {
		return ns.InterRegion[i].A+ns.InterRegion[i].B < ns.InterRegion[j].A+ns.InterRegion[j].B
	})
	return ns
}
