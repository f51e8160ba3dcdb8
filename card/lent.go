package card

import (
	"unsafe"

	"netcard/apps"
	"netcard/dns"
	"netcard/http"
	"netcard/ppp"
	"netcard/tls"
	"netcard/udp"
)

// Lent returns the RAM the card holds now, in bytes (the status page's
// ram_lent): its control state (controlBytes) and every buffer the layers
// have lent and not shed (Profile.ShedMs) — the link's frames and control
// queue (ppp.Link.Lent, or the Ethernet link's), IPv4's and IPv6's
// reassembly and ICMP buffers, TCP's slot, large, RST and SYN-cookie
// buffers (tcp.Stack.Lent), UDP's queues, each session's HTTP buffers and
// request state and its TLS engine with its AEAD states
// (apps.ServerSession.Lent), the applications' status pages and fetch body
// (apps.App.Footprint) and the secure client during a fetch
// (apps.ClientSession.Lent). Sizes are what was asked of the allocator
// (capacities and struct sizes), not its size classes; Go's crypto objects
// held only during a TLS handshake (transcript hashes, key shares) are not
// known to the layers and not counted. sim.TestLentMatchesHeap compares it
// with the card's live heap. It allocates nothing.
func (c *Card) Lent() int {
	n := c.controlBytes()
	if c.link != nil {
		n += c.link.Lent()
	}
	if c.eth != nil {
		n += c.eth.link.Lent()
	}
	n += c.ip.Lent()
	if c.auto != nil {
		n += c.auto.Host().Lent()
	}
	n += c.tcp.Lent() + c.udp.Footprint()
	for i := range c.slots {
		n += c.slots[i].sess.Lent()
	}
	n += c.app.Footprint()
	if c.client != nil {
		n += c.client.Lent()
	}
	return n
}

// controlBytes is the card's control state, allocated by New and held for
// its lifetime: the structs of the card and its layers (unsafe.Sizeof of
// the real types; the layers' ControlBytes), the slot tables, the VJ
// compression tables, one session and HTTP connection per slot, the
// applications' registry, and the TLS configuration with its ticket key.
func (c *Card) controlBytes() int {
	p := &c.cfg.Profile
	n := int(unsafe.Sizeof(Card{})+unsafe.Sizeof(udp.Stack{})+unsafe.Sizeof(dns.Resolver{})+unsafe.Sizeof(apps.App{})+
		unsafe.Sizeof(tls.Config{})) + 32 + c.ip.ControlBytes() + c.tcp.ControlBytes() +
		p.UDPSockets*int(unsafe.Sizeof(udp.Socket{}))
	if c.link != nil {
		n += int(unsafe.Sizeof(ppp.Link{})) + ppp.VJRAM(p.VJStates())
	}
	if h := c.app.Host(); h != nil {
		n += h.ControlBytes()
	}
	slot := unsafe.Sizeof(connSlot{}) + unsafe.Sizeof(apps.ServerSession{}) + unsafe.Sizeof(http.ServerConn{})
	return n + len(c.slots)*int(slot)
}
