package dhcp

import (
	"time"
)

// ServerConfig configures the server of a point-to-point link: one client,
// one address.
type ServerConfig struct {
	ServerIP [4]byte // the card's address (option 54, server identifier)
	ClientIP [4]byte // the one address leased
	Mask     [4]byte // subnet mask (option 1)
	// Router, when set, offers the card as the client's router (option 3).
	// Off by default: a USB link to a card must not take the host's
	// default route; the subnet route the mask gives reaches the card.
	Router bool
	Lease  time.Duration // lease time (option 51); default 1 h
}

// ServerStats counts the server's messages.
type ServerStats struct {
	In         uint64
	Malformed  uint64 // not a DHCP message (Parse failed)
	NotRequest uint64 // BOOTREPLY, or a type a server does not take (OFFER, ACK, NAK)
	Relayed    uint64 // giaddr set: a relay agent, which a point-to-point link has none of
	Busy       uint64 // the address is leased to another client: no offer
	OtherSrv   uint64 // REQUEST naming another server: our offer withdrawn
	Discovers  uint64
	Requests   uint64
	Offers     uint64
	Acks       uint64
	Naks       uint64
	Declines   uint64
	Releases   uint64
	Informs    uint64
}

type leaseState uint8

const (
	leaseFree leaseState = iota
	leaseOffered
	leaseBound
)

// offerHold is how long an offered address stays reserved for the client
// it was offered to (RFC 2131 §4.3.1: "the server SHOULD reserve the
// offered network address").
const offerHold = 60 * time.Second

// Reply is where Server.Output's message goes: Dst:68, and when Learn is
// set the link must send to Dst at MAC without asking ARP (the client has
// no address yet, RFC 2131 §4.1).
type Reply struct {
	N     int
	Dst   [4]byte
	MAC   [6]byte
	Learn bool
}

// Server is the DHCP server machine. Input takes the UDP payloads that
// arrived on port 67, Output produces the replies for port 68.
type Server struct {
	cfg ServerConfig

	state  leaseState
	mac    [6]byte
	expiry time.Time

	// The reply waiting for Output: at most one (a newer request replaces
	// it; the client retransmits).
	pending bool
	typ     uint8
	fixed   Fixed
	reply   Reply

	stats ServerStats
}

// NewServer makes a server.
func NewServer(cfg ServerConfig) *Server {
	if cfg.Lease <= 0 {
		cfg.Lease = time.Hour
	}
	return &Server{cfg: cfg}
}

// Stats returns the counters.
func (s *Server) Stats() ServerStats { return s.stats }

// Leased returns the client holding the address, if bound.
func (s *Server) Leased(now time.Time) ([6]byte, bool) {
	s.expire(now)
	return s.mac, s.state == leaseBound
}

func (s *Server) expire(now time.Time) {
	if s.state != leaseFree && !now.Before(s.expiry) {
		s.state = leaseFree
	}
}

// mine reports whether the address is free or held by mac.
func (s *Server) mine(mac [6]byte) bool { return s.state == leaseFree || s.mac == mac }

// Input handles one message sent to port 67.
func (s *Server) Input(b []byte, now time.Time) {
	s.stats.In++
	m, err := Parse(b)
	if err != nil {
		s.stats.Malformed++
		return
	}
	if m.Op() != BootRequest {
		s.stats.NotRequest++
		return
	}
	if m.GIAddr() != ([4]byte{}) {
		s.stats.Relayed++
		return
	}
	s.expire(now)
	mac := m.CHAddr()
	switch m.Type() {
	case Discover:
		s.stats.Discovers++
		if !s.mine(mac) {
			s.stats.Busy++
			return
		}
		if s.state == leaseFree {
			s.state, s.mac, s.expiry = leaseOffered, mac, now.Add(offerHold)
		}
		s.answer(m, Offer)
	case Request:
		s.stats.Requests++
		s.request(m, now)
	case Decline:
		// RFC 2131 §4.3.3: the client found the address in use. The link
		// has only this one: free it and count.
		s.stats.Declines++
		if id, ok := m.Addr(OptServerID); ok && id == s.cfg.ServerIP && s.mac == mac {
			s.state = leaseFree
		}
	case Release:
		s.stats.Releases++
		if s.mac == mac && m.CIAddr() == s.cfg.ClientIP {
			s.state = leaseFree
		}
	case Inform:
		// RFC 2131 §4.3.5: parameters only, no lease, unicast to ciaddr.
		s.stats.Informs++
		if m.CIAddr() != ([4]byte{}) {
			s.answer(m, Ack)
			s.fixed.YIAddr = [4]byte{}
		}
	default:
		s.stats.NotRequest++
	}
}

// request is RFC 2131 §4.3.2: a REQUEST in SELECTING, INIT-REBOOT,
// RENEWING or REBINDING state, told apart by the server identifier,
// requested address and ciaddr.
func (s *Server) request(m Message, now time.Time) {
	mac := m.CHAddr()
	id, hasID := m.Addr(OptServerID)
	want, hasWant := m.Addr(OptRequestedIP)
	switch {
	case hasID: // SELECTING
		if id != s.cfg.ServerIP {
			// The client took another server's offer.
			s.stats.OtherSrv++
			if s.state == leaseOffered && s.mac == mac {
				s.state = leaseFree
			}
			return
		}
		if !hasWant || want != s.cfg.ClientIP || !s.mine(mac) {
			s.answer(m, Nak)
			return
		}
	case hasWant: // INIT-REBOOT: "DHCPNAK if the requested address is incorrect"
		if want != s.cfg.ClientIP || !s.mine(mac) {
			s.answer(m, Nak)
			return
		}
	default: // RENEWING (unicast) or REBINDING (broadcast): ciaddr is the lease
		if m.CIAddr() != s.cfg.ClientIP || !s.mine(mac) {
			s.answer(m, Nak)
			return
		}
	}
	s.state, s.mac, s.expiry = leaseBound, mac, now.Add(s.cfg.Lease)
	s.answer(m, Ack)
}

// answer prepares a reply of type typ to m, addressed as RFC 2131 §4.1
// says: a NAK is broadcast; a reply to a client with an address (ciaddr) is
// unicast to it; with the broadcast bit set, broadcast; otherwise unicast
// to yiaddr at chaddr.
func (s *Server) answer(m Message, typ uint8) {
	s.pending, s.typ = true, typ
	s.fixed = Fixed{Op: BootReply, XID: m.XID(), Flags: m.Flags(), CIAddr: m.CIAddr(), CHAddr: m.CHAddr()}
	if typ != Nak {
		s.fixed.YIAddr = s.cfg.ClientIP
	}
	bcast := [4]byte{255, 255, 255, 255}
	s.reply = Reply{Dst: bcast}
	switch {
	case typ == Nak:
		s.fixed.CIAddr = [4]byte{}
	case m.CIAddr() != ([4]byte{}):
		s.reply.Dst = m.CIAddr()
	case m.Flags()&FlagBroadcast != 0:
	default:
		s.reply = Reply{Dst: s.cfg.ClientIP, MAC: m.CHAddr(), Learn: true}
	}
	switch typ {
	case Offer:
		s.stats.Offers++
	case Ack:
		s.stats.Acks++
	case Nak:
		s.stats.Naks++
	}
}

// minBOOTP is the shortest message sent: RFC 1542 §3.3 — some clients
// drop BOOTP messages shorter than 300 bytes.
const minBOOTP = 300

// Output writes the pending reply, if any, into b (at least MaxMessage
// bytes) and says where it goes; Reply.N is 0 when there is none.
func (s *Server) Output(b []byte, now time.Time) Reply {
	if !s.pending || len(b) < MaxMessage {
		return Reply{}
	}
	s.pending = false
	n := Begin(b, &s.fixed, s.typ)
	n = PutAddr(b, n, OptServerID, s.cfg.ServerIP)
	if s.typ != Nak {
		if s.fixed.YIAddr != ([4]byte{}) { // not INFORM
			lease := uint32(s.cfg.Lease / time.Second)
			n = PutSeconds(b, n, OptLeaseTime, lease)
			n = PutSeconds(b, n, OptRenewalT1, lease/2)     // RFC 2131 §4.4.5: T1 = 0.5 × lease
			n = PutSeconds(b, n, OptRebindingT2, lease/8*7) // T2 = 0.875 × lease
		}
		n = PutAddr(b, n, OptSubnetMask, s.cfg.Mask)
		if s.cfg.Router {
			n = PutAddr(b, n, OptRouter, s.cfg.ServerIP)
		}
	}
	n = End(b, n)
	for n < minBOOTP {
		b[n] = OptPad
		n++
	}
	r := s.reply
	r.N = n
	return r
}

// Pending reports whether Output has a reply.
func (s *Server) Pending() bool { return s.pending }
