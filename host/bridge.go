package host

import (
	"context"
	"crypto/rand"
	"errors"
	"io"
	"net/netip"
	"time"

	"netcard/ipv6"
	"netcard/ppp"
)

// Default host-role addressing, as slirp does it: the host is 10.0.2.2 and
// assigns 10.0.2.15 to the card.
var (
	DefaultLocalIP = [4]byte{10, 0, 2, 2}
	DefaultPeerIP  = [4]byte{10, 0, 2, 15}
)

// Config configures the host side of a link.
type Config struct {
	// PPP configures our PPP end. Host is set to !Card; in the host role a
	// zero LocalIP becomes DefaultLocalIP and a zero PeerIP DefaultPeerIP;
	// a nil Rand becomes crypto/rand; VJSlots 0 becomes ppp.MaxVJSlots (VJ
	// header compression offered and accepted; negative: off). DeliverIP
	// and PullIP are set by the
	// bridge. Tap and Event, if set, are called with the driver's lock
	// held: they must not call the Bridge's methods (Do, Up, Stats…).
	PPP ppp.Config
	// MTU of the IP side (default: PPP MRU, or 1500).
	MTU int
	// QueueLen bounds the packets waiting for the line (default 256).
	QueueLen int
	// QueueBytes, if > 0, also bounds the bytes waiting for the line; a
	// packet that would exceed it is dropped (one packet is always
	// accepted). On a slow line, set it to about a second of line time
	// (LineQueueBytes) so that a flood cannot queue minutes of packets
	// ahead of everyone else's.
	QueueBytes int
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Card runs the card role of PPP instead (PPP.LocalIP must be set): a
	// stand-in card whose IP stack is gVisor, for tests and simulations.
	Card bool
	// IPv6 runs IPV6CP (RFC 5072) beside IPCP and bridges IPv6 too. In the
	// host role the bridge acts as the link's router for address
	// configuration only: after IPV6CP opens, and to every Router
	// Solicitation from the card, it sends a Router Advertisement
	// (router lifetime 0) with IPv6Prefix, from which the card forms its
	// global address (SLAAC, RFC 4862); the host side's address is
	// prefix::1.
	IPv6 bool
	// IPv6Prefix is the /64 announced to the card (default DefaultIPv6Prefix).
	IPv6Prefix netip.Prefix
}

// DefaultIPv6Prefix is the unique-local /64 (RFC 4193) a host-role bridge
// announces by default: fd00:6e63:6172:64::/64 ("ncard").
var DefaultIPv6Prefix = netip.MustParsePrefix("fd00:6e63:6172:64::/64")

// HostIP6 is the host side's IPv6 address on the link: prefix::1.
func (c *Config) HostIP6() netip.Addr {
	a := c.IPv6Prefix.Masked().Addr().As16()
	a[15] = 1
	return netip.AddrFrom16(a)
}

func (c *Config) fill() error {
	c.PPP.Host = !c.Card
	if c.Card {
		if c.PPP.LocalIP == ([4]byte{}) {
			return errors.New("host: the card role needs Config.PPP.LocalIP")
		}
	} else {
		if c.PPP.LocalIP == ([4]byte{}) {
			c.PPP.LocalIP = DefaultLocalIP
		}
		if c.PPP.PeerIP == ([4]byte{}) {
			c.PPP.PeerIP = DefaultPeerIP
		}
	}
	if c.PPP.Rand == nil {
		c.PPP.Rand = rand.Reader
	}
	if c.PPP.VJSlots == 0 {
		c.PPP.VJSlots = ppp.MaxVJSlots
	}
	if c.MTU == 0 {
		c.MTU = c.PPP.MRU
	}
	if c.MTU == 0 {
		c.MTU = 1500
	}
	if c.QueueLen == 0 {
		c.QueueLen = 256
	}
	if c.IPv6 {
		if c.PPP.IPv6 == nil {
			c.PPP.IPv6 = &ppp.IPv6Config{}
		}
		if !c.IPv6Prefix.IsValid() {
			c.IPv6Prefix = DefaultIPv6Prefix
		}
		if c.IPv6Prefix.Bits() != 64 || !c.IPv6Prefix.Addr().Is6() {
			return errors.New("host: IPv6Prefix must be an IPv6 /64")
		}
	}
	return nil
}

// LineQueueBytes is a QueueBytes for a line at baud (8N1): one second of
// line time, at least two packets of mtu bytes; 0 (no byte bound) if
// baud <= 0 (unlimited speed).
func LineQueueBytes(baud, mtu int) int {
	if baud <= 0 {
		return 0
	}
	return max(baud/10, 2*mtu)
}

// Bridge is our PPP (host role, or card role with Config.Card) on a serial
// line, run by a Driver, with a bounded queue of IP packets toward the
// line. Netstack and TUN embed it.
type Bridge struct {
	link   *ppp.Link
	drv    *Driver
	q      *packetQueue
	prefix netip.Prefix // announced to the card (host role with IPv6); invalid: none
}

// newBridge builds the link; deliver gets every IPv4 packet from the line
// (it aliases the receive frame: copy to keep). Call start afterwards.
func newBridge(port io.ReadWriteCloser, cfg *Config, deliver func(pkt []byte)) *Bridge {
	b := &Bridge{q: newPacketQueue(cfg.QueueLen, cfg.QueueBytes)}
	pc := cfg.PPP
	pc.DeliverIP = deliver
	pc.PullIP = b.q.pop
	if cfg.IPv6 && !cfg.Card {
		b.prefix = cfg.IPv6Prefix
		pc.DeliverIP = func(pkt []byte) {
			// A Router Solicitation from the card (RFC 4861 §6.3.7) is
			// answered here; the IP side never sees it.
			if len(pkt) >= 48 && pkt[0]>>4 == 6 && pkt[6] == 58 && pkt[40] == 133 {
				b.advertise()
				return
			}
			deliver(pkt)
		}
		user := pc.Event
		pc.Event = func(e ppp.Event) {
			if e == ppp.EventIPV6CPUp {
				b.advertise()
			}
			if user != nil {
				user(e)
			}
		}
	}
	b.link = ppp.New(pc)
	b.drv = NewDriver(port, b.link, cfg.Now)
	return b
}

func (b *Bridge) start() {
	b.drv.Do(func(now time.Time) { b.link.Open(now) })
	b.drv.Start()
}

// advertise queues a Router Advertisement of the prefix (inside the
// driver: the link's callbacks).
func (b *Bridge) advertise() {
	var buf [128]byte
	src := ipv6.LinkLocal(b.link.LocalIID())
	b.q.push(ipv6.AppendRouterAdvert(buf[:0], src, ipv6.FromNetip(b.prefix.Addr()), 0xffffffff, 0xffffffff, 0))
}

// Up6 reports whether IPV6CP is Opened.
func (b *Bridge) Up6() bool {
	var up bool
	b.drv.Do(func(time.Time) { up = b.link.Up6() })
	return up
}

// PeerIP6 is the card's global IPv6 address: the announced prefix with the
// interface identifier the card negotiated in IPV6CP (invalid without
// IPv6 or before IPV6CP opens).
func (b *Bridge) PeerIP6() netip.Addr {
	var iid [8]byte
	var up bool
	b.drv.Do(func(time.Time) { iid, up = b.link.PeerIID(), b.link.Up6() })
	if !up || !b.prefix.IsValid() {
		return netip.Addr{}
	}
	return ipv6.WithPrefix(ipv6.FromNetip(b.prefix.Addr()), iid).Netip()
}

// send queues an IP packet for the line (copied); false if dropped.
func (b *Bridge) send(pkt []byte) bool {
	ok := b.q.push(pkt)
	b.drv.Kick()
	return ok
}

// WaitUp waits until IPCP is Opened (the card is reachable), the line
// fails, or ctx ends.
func (b *Bridge) WaitUp(ctx context.Context) error {
	return b.drv.WaitFor(ctx, func(time.Time) bool { return b.link.Up() })
}

// Up reports whether IPCP is Opened.
func (b *Bridge) Up() bool {
	var up bool
	b.drv.Do(func(time.Time) { up = b.link.Up() })
	return up
}

// LocalIP is our negotiated address.
func (b *Bridge) LocalIP() netip.Addr {
	var a [4]byte
	b.drv.Do(func(time.Time) { a = b.link.LocalIP() })
	return netip.AddrFrom4(a)
}

// PeerIP is the peer's (in the host role: the card's) negotiated address.
func (b *Bridge) PeerIP() netip.Addr {
	var a [4]byte
	b.drv.Do(func(time.Time) { a = b.link.PeerIP() })
	return netip.AddrFrom4(a)
}

// Stats returns the PPP counters and the number of IP packets dropped
// because the queue toward the line was full.
func (b *Bridge) Stats() (s ppp.Stats, queueDrops uint64) {
	b.drv.Do(func(time.Time) { s = b.link.Stats() })
	_, queueDrops = b.q.stats()
	return s, queueDrops
}

// Do runs f on the link with the driver's lock held.
func (b *Bridge) Do(f func(l *ppp.Link, now time.Time)) {
	b.drv.Do(func(now time.Time) { f(b.link, now) })
}

// Driver returns the goroutine driver of the link.
func (b *Bridge) Driver() *Driver { return b.drv }

// close terminates the link politely (LCP Terminate-Request, given up to
// 300 ms to reach the line) and stops the driver, closing the port.
func (b *Bridge) close() error {
	b.drv.Do(func(now time.Time) { b.link.Close(now) })
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	_ = b.drv.WaitFor(ctx, func(time.Time) bool { return !b.link.Up() })
	cancel()
	return b.drv.Close()
}
