package stack

import (
	"context"
	"fmt"
	"net/netip"
	"time"

	"github.com/hastack/hastack/internal/lease"
	"github.com/hastack/hastack/internal/rds"
)

// witnessAddr is where the lease witness of a stack with fencing = "lease"
// listens: in the witness failure domain, outside every region, as the
// global control plane (ARC's routing controls, on AWS) would be.
var witnessAddr = netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 0, 99, 1}), 7099)

// startWitness serves the lease witness when the stack file asks for
// lease fencing, and returns how the database makes each region's lease;
// nil without fencing.
func (st *Stack) startWitness() (rds.NewLeaseFunc, error) {
	if st.spec.Database.Fencing != "lease" {
		return nil, nil
	}
	d := st.spec.Database.FencingLease
	w, err := lease.NewWitness(lease.WitnessConfig{
		Duration: d,
		// Every database process starts and dies with the stack: no lease
		// of an earlier run can be outstanding.
		Fresh:  true,
		Logger: st.logger.With("part", "witness"),
	})
	if err != nil {
		return nil, fmt.Errorf("lease witness: %w", err)
	}
	ln, err := listenTCP("lease witness", witnessAddr.String())
	if err != nil {
		return nil, err
	}
	go func() { _ = w.Serve(ln) }()
	st.witness = w
	st.step("%-10s lease witness on %s: a region takes writes only while it holds a %s lease", "fencing", witnessAddr, d)
	return func(region string, source netip.Addr, onChange func(bool)) (rds.Lease, error) {
		k, err := lease.NewKeeper(lease.KeeperConfig{
			Region:   region,
			Witness:  witnessAddr.String(),
			Source:   source,
			Duration: d,
			OnChange: onChange,
			Logger:   st.logger.With("part", "lease", "region", region),
		})
		if err != nil {
			return nil, err
		}
		st.keepers = append(st.keepers, k)
		return keeperLease{k}, nil
	}, nil
}

// leaseStatus is the write lease now; nil without lease fencing.
func (st *Stack) leaseStatus() *LeaseStatus {
	if st.witness == nil {
		return nil
	}
	l := st.witness.Lease()
	s := &LeaseStatus{Witness: witnessAddr.String(), LeaseSeconds: st.spec.Database.FencingLease.Seconds(), Holder: l.Holder, Epoch: l.Epoch}
	if l.Holder != "" {
		s.ExpiresInSecs = max(time.Until(l.Expires).Seconds(), 0)
	}
	for _, k := range st.keepers {
		ks := k.Status()
		s.Regions = append(s.Regions, RegionLease{Region: ks.Region, Held: ks.Held, Renewals: ks.Renewals, Failures: ks.Failures, LastError: ks.LastError})
	}
	return s
}

// stopWitness closes the witness, after the database has stopped.
func (st *Stack) stopWitness() {
	if st.witness != nil {
		_ = st.witness.Close()
	}
}

// keeperLease is a region's lease.Keeper as the database uses it.
type keeperLease struct{ *lease.Keeper }

// Reach asks the witness who holds the lease, over the network.
func (k keeperLease) Reach(ctx context.Context) error {
	_, err := k.Lease(ctx)
	return err
}
