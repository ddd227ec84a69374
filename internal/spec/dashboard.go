package spec

import (
	"fmt"
	"net/netip"
)

// Dashboard is the live web page of a running stack and its /metrics.
type Dashboard struct {
	// Listen is the page's HTTP address, IP:port on loopback (default
	// 127.0.0.1:8400); Enabled is false when its port is 0.
	Listen  string
	Enabled bool
	// ListenSet says the stack file wrote listen: only the default may
	// fall back to another port when it is taken.
	ListenSet bool
	// ReadOnly hides the page's actions and refuses them (default false).
	ReadOnly bool
}

// DefaultDashboardListen is where the dashboard listens unless the stack
// file says otherwise.
const DefaultDashboardListen = "127.0.0.1:8400"

// dashboard decodes the dashboard block; absent, every default holds.
// dnsSec is the dns block, where a clash with the default address is
// reported.
func (d *decoder) dashboard(sec, dnsSec *section, dns DNS) Dashboard {
	out := Dashboard{
		Listen:   get(d, sec, "listen", "", asString, loopbackAddrOrOff),
		ReadOnly: get(d, sec, "read_only", false, asBool),
	}
	out.ListenSet = out.Listen != ""
	if !out.ListenSet {
		out.Listen = DefaultDashboardListen
	}
	ap, err := netip.ParseAddrPort(out.Listen)
	out.Enabled = err == nil && ap.Port() != 0
	switch {
	case !out.Enabled || out.Listen != dns.Listen || !d.valid(sec, "listen"):
	case out.ListenSet:
		d.errorf(sec.at("listen"), "listen (%q) is the DNS server's address; the dashboard needs a port of its own, e.g. \"127.0.0.1:8400\".", out.Listen)
	default:
		d.errorf(dnsSec.at("listen"), "listen (%q) is the dashboard's default address; move one of them, e.g. dashboard { listen = \"127.0.0.1:8401\" }.", out.Listen)
	}
	return out
}

// loopbackAddrOrOff accepts IP:port with an IP in 127.0.0.0/8, port 0
// included (it turns the dashboard off).
func loopbackAddrOrOff(name string, v string) string {
	ap, err := netip.ParseAddrPort(v)
	if err != nil || !loopback.Contains(ap.Addr()) {
		return fmt.Sprintf("%s (%q) must be IP:port with a loopback IP in 127.0.0.0/8, e.g. \"127.0.0.1:8400\", or port 0 to turn the dashboard off.", name, v)
	}
	return ""
}
