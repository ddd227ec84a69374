package drill

import (
	"context"
	"net/netip"
	"sync"
	"time"
)

// ProbeOptions shape a black-box probe of any endpoint.
type ProbeOptions struct {
	Load     LoadConfig // URL is required; Resolver optional
	Duration time.Duration
	// Name is the DNS name to watch for answer changes (default: the URL's host).
	Name     string
	Sustain  time.Duration
	Progress func(Progress)
}

// Probe runs only the load and the measurements against an endpoint that
// someone else fails over (for example the real AWS deployment). The
// outage is measured from the first failed request.
func Probe(ctx context.Context, opts ProbeOptions) (*Report, error) {
	if opts.Sustain <= 0 {
		opts.Sustain = 2 * time.Second
	}
	if opts.Duration <= 0 {
		opts.Duration = time.Minute
	}
	load, err := NewLoad(opts.Load)
	if err != nil {
		return nil, err
	}
	d := &driver{load: load, opts: Options{Progress: opts.Progress}, start: time.Now()}
	runCtx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { load.Run(runCtx) })
	if opts.Load.Resolver != nil {
		name := opts.Name
		if name == "" {
			name = load.base.Hostname()
		}
		wg.Go(func() { d.watchDNS(runCtx, opts.Load.Resolver, name) })
	}
	err = d.phase(ctx, "probe", opts.Duration, nil)
	stop()
	wg.Wait()
	if err != nil {
		return nil, err
	}
	rep := &Report{Scenario: "probe", Description: "black-box probe of " + opts.Load.URL, Fault: "none injected", StartedAt: d.start, EndedAt: time.Now()}
	samples := load.Samples()
	rep.FaultAt = rep.EndedAt
	for _, s := range byStart(samples, d.start) {
		if !s.OK {
			rep.FaultAt = s.Start
			rep.Fault = "first failed request"
			break
		}
	}
	regions := map[netip.Addr]string{}
	for _, a := range d.dnsAnswers() {
		regions[a.Addr] = a.Addr.String()
	}
	rep.fill(samples, d.dnsAnswers(), nil, nil, regions, Options{Sustain: opts.Sustain})
	return rep, nil
}
