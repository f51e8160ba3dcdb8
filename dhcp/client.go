package dhcp

import (
	"encoding/binary"
	"io"
	"time"
)

// ClientState is a state of RFC 2131 §4.4's client diagram.
type ClientState uint8

// Client states (RFC 2131 figure 5; INIT-REBOOT and REBOOTING are not used:
// the card keeps no lease across resets).
const (
	Init ClientState = iota
	Selecting
	Requesting
	Bound
	Renewing
	Rebinding
)

func (s ClientState) String() string {
	return [...]string{"INIT", "SELECTING", "REQUESTING", "BOUND", "RENEWING", "REBINDING"}[s]
}

// ClientConfig configures a DHCP client.
type ClientConfig struct {
	MAC  [6]byte
	Rand io.Reader // transaction IDs and retransmission jitter (required)
	// Hostname, when set, is sent as option 12.
	Hostname string
}

// Lease is what the client holds when bound.
type Lease struct {
	Addr, Mask, Router, Server [4]byte
	DNS                        [2][4]byte // option 6, the first two (zero: none)
	Start                      time.Time
	T1, T2, End                time.Time
}

// ClientStats counts the client's messages.
type ClientStats struct {
	In, Malformed, Ignored uint64 // Ignored: wrong xid, chaddr, op or type for the state
	Sent                   uint64
	Offers, Acks, Naks     uint64
	Declined               uint64 // ACKs without a usable address, and addresses found in use (Decline)
	Expired                uint64 // leases that ran out (REBINDING got no answer)
}

// Event is what the client tells its user after Input or Poll.
type Event uint8

const (
	EventNone  Event = iota
	EventBound       // a new or changed lease: configure Lease()
	EventLost        // the lease ended (NAK or expiry): deconfigure
)

// Client is the DHCP client machine (RFC 2131 §4.4). Input takes the UDP
// payloads that arrived on port 68, Output produces the messages for port
// 67 and says where they go, Poll runs its timers. Retransmissions back off
// exponentially from 4 s to 64 s with ±1 s of random jitter (§4.1).
type Client struct {
	cfg   ClientConfig
	state ClientState
	xid   uint32
	start time.Time // when the current exchange began (secs field)

	offer   Lease // the offer being requested (SELECTING → REQUESTING)
	lease   Lease
	event   Event
	send    bool // a message is due now
	release bool // the due message is a RELEASE
	// A DECLINE due: the address found in use and its server (zero: none).
	declineAddr, declineSrv [4]byte
	next                    time.Time // next retransmission or state timer
	tries                   int
	stats                   ClientStats
	rnd                     [4]byte
}

// NewClient makes a client in INIT; Start begins discovery.
func NewClient(cfg ClientConfig) *Client { return &Client{cfg: cfg} }

// State is the current state.
func (c *Client) State() ClientState { return c.state }

// Lease is the lease held (valid in BOUND, RENEWING, REBINDING).
func (c *Client) Lease() Lease { return c.lease }

// Stats returns the counters.
func (c *Client) Stats() ClientStats { return c.stats }

// TakeEvent returns and clears the last event.
func (c *Client) TakeEvent() Event {
	e := c.event
	c.event = EventNone
	return e
}

// Start enters INIT and sends a DISCOVER at once... after a random delay of
// up to 1 s ("wait a random time between one and ten seconds to
// desynchronize" is §4.4.1's advice for many clients starting together;
// one card is one client, so the delay is kept short).
func (c *Client) Start(now time.Time) {
	c.state = Init
	c.newXID(now)
	c.tries = 0
	c.next = now.Add(c.jitter(time.Second))
	c.send = false
}

func (c *Client) random() uint32 {
	if _, err := io.ReadFull(c.cfg.Rand, c.rnd[:]); err != nil {
		return 0
	}
	return binary.BigEndian.Uint32(c.rnd[:])
}

// jitter returns a random duration in [0, d).
func (c *Client) jitter(d time.Duration) time.Duration {
	if d <= 0 {
		return 0
	}
	return time.Duration(uint64(c.random()) % uint64(d))
}

func (c *Client) newXID(now time.Time) {
	c.xid = c.random()
	c.start = now
}

// backoff is RFC 2131 §4.1: "a delay of 4 seconds before the first
// retransmission ... doubled on each subsequent retransmission up to a
// maximum of 64 seconds ... randomized by the value of a uniform random
// number chosen from the range -1 to +1".
func (c *Client) backoff(now time.Time) time.Time {
	d := 4 * time.Second << min(c.tries, 4)
	c.tries++
	return now.Add(d - time.Second + c.jitter(2*time.Second))
}

// Poll runs the timers: (re)transmissions, T1, T2 and lease end. It
// returns when it next wants to be called.
func (c *Client) Poll(now time.Time) time.Time {
	if c.next.IsZero() || now.Before(c.next) {
		return c.next
	}
	switch c.state {
	case Init:
		c.state = Selecting
		c.send = true
		c.next = c.backoff(now)
	case Selecting:
		c.send = true
		c.next = c.backoff(now)
	case Requesting:
		if c.tries >= 4 { // §4.4.1: give up and restart after a few requests
			c.Start(now)
			return c.next
		}
		c.send = true
		c.next = c.backoff(now)
	case Bound:
		// T1: RENEWING, unicast to the server.
		c.state = Renewing
		c.newXID(now)
		c.tries = 0
		c.send = true
		c.next = c.halfway(now, c.lease.T2)
	case Renewing:
		if !now.Before(c.lease.T2) {
			c.state = Rebinding
			c.newXID(now)
		}
		c.send = true
		if c.state == Renewing {
			c.next = c.halfway(now, c.lease.T2)
		} else {
			c.next = c.halfway(now, c.lease.End)
		}
	case Rebinding:
		if !now.Before(c.lease.End) {
			// §4.4.5: the lease expired: back to INIT, stop using the address.
			c.stats.Expired++
			c.lease = Lease{}
			c.event = EventLost
			c.Start(now)
			return c.next
		}
		c.send = true
		c.next = c.halfway(now, c.lease.End)
	}
	return c.next
}

// halfway is §4.4.5's retransmission in RENEWING and REBINDING: "wait one-
// half of the remaining time until T2 (in RENEWING state) and one-half of
// the remaining lease time (in REBINDING state), down to a minimum of 60
// seconds" — or the deadline itself when closer.
func (c *Client) halfway(now, deadline time.Time) time.Time {
	d := deadline.Sub(now) / 2
	if d < 60*time.Second {
		d = 60 * time.Second
	}
	if t := now.Add(d); t.Before(deadline) {
		return t
	}
	return deadline
}

// Input handles one message that arrived on port 68.
func (c *Client) Input(b []byte, now time.Time) {
	c.stats.In++
	m, err := Parse(b)
	if err != nil {
		c.stats.Malformed++
		return
	}
	if m.Op() != BootReply || m.XID() != c.xid || m.CHAddr() != c.cfg.MAC {
		c.stats.Ignored++
		return
	}
	switch {
	case m.Type() == Offer && c.state == Selecting:
		l, ok := c.leaseOf(m, now)
		if !ok {
			c.stats.Ignored++
			return
		}
		// §4.4.1: take the first acceptable offer; REQUEST it, broadcast,
		// with the same xid.
		c.stats.Offers++
		c.offer = l
		c.state = Requesting
		c.tries = 0
		c.send = true
		c.next = c.backoff(now)
	case m.Type() == Ack && (c.state == Requesting || c.state == Renewing || c.state == Rebinding):
		l, ok := c.leaseOf(m, now)
		if !ok || (c.state == Requesting && l.Addr != c.offer.Addr) {
			c.stats.Declined++
			return
		}
		c.stats.Acks++
		changed := c.lease.Addr != l.Addr || c.lease.Mask != l.Mask || c.lease.Router != l.Router || c.lease.DNS != l.DNS
		c.lease = l
		c.state = Bound
		c.next = l.T1
		c.send = false
		if changed {
			c.event = EventBound
		}
	case m.Type() == Nak && (c.state == Requesting || c.state == Renewing || c.state == Rebinding):
		// §4.4.1/§4.4.5: DHCPNAK: stop using the address, restart.
		c.stats.Naks++
		if c.lease.Addr != ([4]byte{}) {
			c.event = EventLost
		}
		c.lease = Lease{}
		c.Start(now)
	default:
		c.stats.Ignored++
	}
}

// leaseOf reads an OFFER or ACK: yiaddr must be a unicast address and the
// server identifier present; the lease time defaults to none (refused).
func (c *Client) leaseOf(m Message, now time.Time) (Lease, bool) {
	l := Lease{Addr: m.YIAddr(), Start: now}
	if l.Addr[0] == 0 || l.Addr[0] >= 224 || l.Addr[0] == 127 {
		return Lease{}, false
	}
	var ok bool
	if l.Server, ok = m.Addr(OptServerID); !ok {
		return Lease{}, false
	}
	secs, ok := m.Seconds(OptLeaseTime)
	if !ok || secs == 0 {
		return Lease{}, false
	}
	if l.Mask, ok = m.Addr(OptSubnetMask); !ok {
		l.Mask = [4]byte{255, 255, 255, 0} // RFC 1122 §3.3.1.1 leaves it to configuration
	}
	if v, ok := m.Option(OptRouter); ok && len(v) >= 4 {
		l.Router = [4]byte(v[:4])
	}
	if v, ok := m.Option(OptDNS); ok {
		for i := 0; i < len(l.DNS) && len(v) >= 4*(i+1); i++ {
			l.DNS[i] = [4]byte(v[4*i : 4*i+4])
		}
	}
	lease := time.Duration(secs) * time.Second
	if secs == 0xffffffff {
		lease = 100 * 365 * 24 * time.Hour // infinite (RFC 2132 §9.2)
	}
	t1, t2 := lease/2, lease/8*7 // §4.4.5 defaults
	if s, ok := m.Seconds(OptRenewalT1); ok && time.Duration(s)*time.Second < lease {
		t1 = time.Duration(s) * time.Second
	}
	if s, ok := m.Seconds(OptRebindingT2); ok && time.Duration(s)*time.Second < lease {
		t2 = time.Duration(s) * time.Second
	}
	if t1 > t2 {
		t1 = t2
	}
	l.T1, l.T2, l.End = now.Add(t1), now.Add(t2), now.Add(lease)
	return l, true
}

// Output writes the message due, if any, into b (at least MaxMessage
// bytes): Reply.Dst is the server (RENEWING) or the broadcast address, and
// src is the address to send from (0.0.0.0 until bound, §4.1).
func (c *Client) Output(b []byte, now time.Time) (r Reply, src [4]byte) {
	if !c.send || len(b) < MaxMessage {
		return Reply{}, src
	}
	c.send = false
	secs := uint16(min(now.Sub(c.start)/time.Second, 0xffff))
	f := Fixed{Op: BootRequest, XID: c.xid, Secs: secs, CHAddr: c.cfg.MAC}
	r.Dst = [4]byte{255, 255, 255, 255}
	var n int
	switch {
	case c.declineAddr != ([4]byte{}):
		n = Begin(b, &f, Decline)
		n = PutAddr(b, n, OptRequestedIP, c.declineAddr)
		n = PutAddr(b, n, OptServerID, c.declineSrv)
		c.declineAddr, c.declineSrv = [4]byte{}, [4]byte{}
		c.stats.Sent++
		r.N = End(b, n)
		for r.N < minBOOTP {
			b[r.N] = OptPad
			r.N++
		}
		return r, src
	case c.release:
		// §4.4.6: ciaddr is the address, the server identified by option 54.
		c.release = false
		f.CIAddr, src, r.Dst = c.lease.Addr, c.lease.Addr, c.lease.Server
		n = Begin(b, &f, Release)
		n = PutAddr(b, n, OptServerID, c.lease.Server)
		c.lease = Lease{}
		c.stats.Sent++
		r.N = End(b, n)
		for r.N < minBOOTP {
			b[r.N] = OptPad
			r.N++
		}
		return r, src
	case c.state == Selecting:
		n = Begin(b, &f, Discover)
	case c.state == Requesting:
		// §4.3.2 SELECTING: server identifier and requested IP, ciaddr 0.
		n = Begin(b, &f, Request)
		n = PutAddr(b, n, OptServerID, c.offer.Server)
		n = PutAddr(b, n, OptRequestedIP, c.offer.Addr)
	case c.state == Renewing || c.state == Rebinding:
		// RENEWING: unicast to the server; REBINDING: broadcast. ciaddr is
		// the lease, no server identifier or requested IP.
		f.CIAddr = c.lease.Addr
		src = c.lease.Addr
		n = Begin(b, &f, Request)
		if c.state == Renewing {
			r.Dst = c.lease.Server
		}
	default:
		return Reply{}, src
	}
	n = PutOption(b, n, OptParamList, []byte{OptSubnetMask, OptRouter, OptDNS, OptLeaseTime, OptRenewalT1, OptRebindingT2})
	if h := c.cfg.Hostname; h != "" && len(h) < 64 {
		b[n], b[n+1] = OptHostName, byte(len(h))
		n += 2 + copy(b[n+2:], h)
	}
	n = End(b, n)
	for n < minBOOTP {
		b[n] = OptPad
		n++
	}
	c.stats.Sent++
	r.N = n
	return r, src
}

// Release gives the lease back (RFC 2131 §4.4.6: "the client may choose
// to relinquish its lease by sending a DHCPRELEASE message to the
// server"), as a card being stopped does, and stops the client: one
// RELEASE is sent, unicast to the server; nothing more until Start.
func (c *Client) Release(now time.Time) {
	if c.state != Bound && c.state != Renewing && c.state != Rebinding {
		c.state, c.next, c.send = Init, time.Time{}, false
		return
	}
	c.newXID(now)
	c.state, c.next, c.send, c.release = Init, time.Time{}, true, true
}

// Decline refuses the lease just bound because the address is in use (RFC
// 2131 §4.4.1: "the client MUST send a DHCPDECLINE message to the server
// and restarts the configuration process. The client SHOULD wait a
// minimum of ten seconds before restarting"). The DECLINE is broadcast.
func (c *Client) Decline(now time.Time) {
	if c.state != Bound {
		return
	}
	c.stats.Declined++
	c.newXID(now)
	c.declineAddr, c.declineSrv, c.lease = c.lease.Addr, c.lease.Server, Lease{}
	c.send = true
	c.state, c.tries = Init, 0
	c.next = now.Add(10 * time.Second)
}

// Pending reports whether a message is due.
func (c *Client) Pending() bool { return c.send }
