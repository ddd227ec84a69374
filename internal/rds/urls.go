package rds

import (
	"net/netip"
)

// WriterURL is the writer endpoint of region ("" for the region of the
// configured primary) with the master user's credentials, e.g.
// postgres://hastack:PASSWORD@127.1.11.6:5432/app?sslmode=disable. With
// no endpoint for the region it is that of the configured primary's
// region; with no endpoints at all, the current primary itself.
func (c *Cluster) WriterURL(region string) string {
	if ep := c.endpointFor(c.writers, region); ep != nil {
		return c.url(ep.addr)
	}
	return c.DirectURL(c.snapshot().Primary)
}

// ReaderURL is the reader endpoint of region, which leads to a healthy
// replica there, else to the primary. With no endpoint for the region it
// is that of the configured primary's region; with no endpoints at all,
// such a node itself at the time of the call.
func (c *Cluster) ReaderURL(region string) string {
	if ep := c.endpointFor(c.readers, region); ep != nil {
		return c.url(ep.addr)
	}
	c.mu.Lock()
	st, obs := c.state, c.obs
	c.mu.Unlock()
	return c.DirectURL(readerFor(region, st, obs, c.cfg.Nodes))
}

// DirectURL leads straight to the named node, bypassing the endpoints;
// "" for an unknown node.
func (c *Cluster) DirectURL(node string) string {
	n, ok := c.byName[node]
	if !ok {
		return ""
	}
	return c.url(n.addrPort())
}

// PasswordFile is the file holding the master password.
func (c *Cluster) PasswordFile() string {
	return passwordPath(c.cfg.StateDir)
}

func (c *Cluster) endpointFor(eps map[string]*endpoint, region string) *endpoint {
	if ep, ok := eps[region]; ok {
		return ep
	}
	return eps[c.primaryRegion()]
}

// primaryRegion is the region of the configured primary.
func (c *Cluster) primaryRegion() string {
	for _, n := range c.cfg.Nodes {
		if n.Role == RolePrimary {
			return n.Region
		}
	}
	return ""
}

func (c *Cluster) url(ap netip.AddrPort) string {
	return c.eng.clientURL(ap, c.cfg.Database.Username, c.password, c.cfg.Database.Name)
}

// regions lists the regions with endpoints, in configuration order.
func (c *Cluster) regions() []string {
	var out []string
	for _, ep := range c.cfg.Endpoints {
		out = append(out, ep.Region)
	}
	return out
}

func (c *Cluster) endpoints() []*endpoint {
	var out []*endpoint
	for _, r := range c.regions() {
		out = append(out, c.writers[r], c.readers[r])
	}
	return out
}

func (c *Cluster) startEndpoints(region string) error {
	for _, ep := range []*endpoint{c.writers[region], c.readers[region]} {
		if ep == nil {
			continue
		}
		if err := ep.listen(); err != nil {
			return err
		}
	}
	return nil
}
