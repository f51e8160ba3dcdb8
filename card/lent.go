package card

import (
	"unsafe"

	"netcard/apps"
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
// buffers (tcp.Stack.Lent), UDP's socket table and queues (udp.Stack.Lent)
// and the resolver of a lookup in progress (dns.Resolver.Lent), each session's HTTP buffers and
// request state and its TLS engine with its AEAD states
// (apps.ServerSession.Lent), the applications' status pages and fetch body
// (apps.App.Footprint) and the secure client during a fetch
// (apps.ClientSession.Lent). Sizes are what was asked of the allocator
// (capacities and struct sizes), not its size classes, but for the structs
// the card allocates itself (controlBytes); Go's crypto objects
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
	n += c.tcp.Lent() + c.udp.Lent()
	if c.dns != nil {
		n += c.dns.Lent()
	}
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
// the real types, those the card allocates itself at their allocator size
// class, allocClass; the layers' ControlBytes), the slot tables, the VJ
// compression tables, one session and HTTP connection per slot, the
// applications' registry, and the TLS configuration (its ticket key inline).
func (c *Card) controlBytes() int {
	n := allocClass(unsafe.Sizeof(Card{})) + allocClass(unsafe.Sizeof(udp.Stack{})) +
		allocClass(unsafe.Sizeof(apps.App{})) + allocClass(unsafe.Sizeof(tls.Config{})) + c.ip.ControlBytes() + c.tcp.ControlBytes() +
		int(c.cfg.ctlFixed) // the VJ tables (set by New)
	if c.link != nil {
		n += allocClass(unsafe.Sizeof(ppp.Link{}))
		// its credentials (and Tap, IPv6) and, if the process-wide table
		// was full, its own copy of the profile's constants
		x, k := c.link.OwnParams()
		for _, b := range [...]int{x, k} {
			if b > 0 {
				n += allocClass(uintptr(b))
			}
		}
	}
	if h := c.app.Host(); h != nil {
		n += h.ControlBytes()
	}
	slot := int(unsafe.Sizeof(connSlot{})) + allocClass(unsafe.Sizeof(apps.ServerSession{})) + allocClass(unsafe.Sizeof(http.ServerConn{}))
	return n + len(c.slots)*slot
}

// allocClasses are the Go allocator's size classes up to 1,024 bytes
// (runtime/sizeclasses.go).
var allocClasses = [...]uint16{8, 16, 24, 32, 48, 64, 80, 96, 112, 128, 144, 160, 176, 192, 208, 224, 240, 256, 288,
	320, 352, 384, 416, 448, 480, 512, 576, 640, 704, 768, 896, 1024}

// allocClass is what the allocator takes for one struct of n bytes that
// holds pointers: its size class, after the 8-byte header it puts before
// such an object over 512 bytes (runtime/mbitmap.go, mallocHeaderSize).
// Above 1,024 bytes it returns n with the header.
func allocClass(n uintptr) int {
	if n > 512 {
		n += 8
	}
	for _, c := range allocClasses {
		if n <= uintptr(c) {
			return int(c)
		}
	}
	return int(n)
}
