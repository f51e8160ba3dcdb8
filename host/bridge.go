package host

import (
	"context"
	"crypto/rand"
	"errors"
	"io"
	"net/netip"
	"time"

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
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Card runs the card role of PPP instead (PPP.LocalIP must be set): a
	// stand-in card whose IP stack is gVisor, for tests and simulations.
	Card bool
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
	return nil
}

// Bridge is our PPP (host role, or card role with Config.Card) on a serial
// line, run by a Driver, with a bounded queue of IP packets toward the
// line. Netstack and TUN embed it.
type Bridge struct {
	link *ppp.Link
	drv  *Driver
	q    *packetQueue
}

// newBridge builds the link; deliver gets every IPv4 packet from the line
// (it aliases the receive frame: copy to keep). Call start afterwards.
func newBridge(port io.ReadWriteCloser, cfg *Config, deliver func(pkt []byte)) *Bridge {
	b := &Bridge{q: newPacketQueue(cfg.QueueLen)}
	pc := cfg.PPP
	pc.DeliverIP = deliver
	pc.PullIP = b.q.pop
	b.link = ppp.New(pc)
	b.drv = NewDriver(port, b.link, cfg.Now)
	return b
}

func (b *Bridge) start() {
	b.drv.Do(func(now time.Time) { b.link.Open(now) })
	b.drv.Start()
}

// send queues an IPv4 packet for the line (copied); false if dropped.
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
