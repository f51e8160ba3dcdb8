package dhcp

import (
	"bytes"
	"testing"
	"time"
)

var (
	srvIP  = [4]byte{10, 0, 3, 1}
	cliIP  = [4]byte{10, 0, 3, 2}
	mask   = [4]byte{255, 255, 255, 0}
	macA   = [6]byte{2, 0, 0, 0, 0, 0xa}
	macB   = [6]byte{2, 0, 0, 0, 0, 0xb}
	bcast  = [4]byte{255, 255, 255, 255}
	t0     = time.Unix(1_700_000_000, 0)
	noAddr = [4]byte{}
)

// msg builds a client message with options given as code, value pairs.
func msg(typ uint8, mac [6]byte, xid uint32, flags uint16, ciaddr [4]byte, opts ...any) []byte {
	b := make([]byte, MaxMessage)
	n := Begin(b, &Fixed{Op: BootRequest, XID: xid, Flags: flags, CIAddr: ciaddr, CHAddr: mac}, typ)
	for i := 0; i < len(opts); i += 2 {
		code := uint8(opts[i].(int))
		switch v := opts[i+1].(type) {
		case [4]byte:
			n = PutAddr(b, n, code, v)
		case []byte:
			n = PutOption(b, n, code, v)
		}
	}
	return b[:End(b, n)]
}

func newSrv() *Server {
	return NewServer(ServerConfig{ServerIP: srvIP, ClientIP: cliIP, Mask: mask, Lease: time.Hour})
}

func out(t *testing.T, s *Server) (Message, Reply) {
	t.Helper()
	b := make([]byte, MaxMessage)
	r := s.Output(b, t0)
	if r.N == 0 {
		return Message{}, r
	}
	m, err := Parse(b[:r.N])
	if err != nil {
		t.Fatalf("server sent an invalid message: %v", err)
	}
	if m.Op() != BootReply || r.N < 300 {
		t.Fatalf("op %d, %d bytes", m.Op(), r.N)
	}
	return m, r
}

func TestDiscoverOfferRequestAck(t *testing.T) {
	s := newSrv()
	s.Input(msg(Discover, macA, 77, 0, noAddr), t0)
	m, r := out(t, s)
	if m.Type() != Offer || m.XID() != 77 || m.YIAddr() != cliIP || m.CHAddr() != macA {
		t.Fatalf("offer: type %d xid %d yiaddr %v", m.Type(), m.XID(), m.YIAddr())
	}
	// RFC 2131 §4.1: no broadcast bit, no ciaddr: unicast to yiaddr at chaddr.
	if r.Dst != cliIP || !r.Learn || r.MAC != macA {
		t.Fatalf("offer sent to %+v", r)
	}
	if id, _ := m.Addr(OptServerID); id != srvIP {
		t.Fatal("server id")
	}
	if l, _ := m.Seconds(OptLeaseTime); l != 3600 {
		t.Fatal("lease", l)
	}
	if t1, _ := m.Seconds(OptRenewalT1); t1 != 1800 {
		t.Fatal("T1", t1)
	}
	if t2, _ := m.Seconds(OptRebindingT2); t2 != 3150 {
		t.Fatal("T2", t2)
	}
	if mk, _ := m.Addr(OptSubnetMask); mk != mask {
		t.Fatal("mask")
	}
	if _, ok := m.Option(OptRouter); ok {
		t.Fatal("router offered by default")
	}
	s.Input(msg(Request, macA, 78, FlagBroadcast, noAddr, OptServerID, srvIP, OptRequestedIP, cliIP), t0)
	m, r = out(t, s)
	if m.Type() != Ack || m.XID() != 78 || m.YIAddr() != cliIP || r.Dst != bcast || r.Learn {
		t.Fatalf("ack: type %d to %+v", m.Type(), r)
	}
	if mac, ok := s.Leased(t0); !ok || mac != macA {
		t.Fatal("no lease")
	}
	// The lease ends after its time unless renewed.
	if _, ok := s.Leased(t0.Add(time.Hour)); ok {
		t.Fatal("lease outlived its time")
	}
}

func TestRequestWrongAddressNak(t *testing.T) {
	s := newSrv()
	wrong := [4]byte{10, 0, 3, 9}
	for _, req := range [][]byte{
		msg(Request, macA, 1, 0, noAddr, OptServerID, srvIP, OptRequestedIP, wrong), // SELECTING
		msg(Request, macA, 2, 0, noAddr, OptRequestedIP, wrong),                     // INIT-REBOOT, other network
		msg(Request, macA, 3, 0, wrong),                                             // RENEWING a lease we never gave
	} {
		s.Input(req, t0)
		m, r := out(t, s)
		// RFC 2131 §4.1: a NAK is broadcast, yiaddr and ciaddr zero.
		if m.Type() != Nak || r.Dst != bcast || m.YIAddr() != noAddr || m.CIAddr() != noAddr {
			t.Fatalf("want a broadcast NAK, got type %d to %+v", m.Type(), r)
		}
	}
	if s.Stats().Naks != 3 || s.Stats().Acks != 0 {
		t.Fatalf("%+v", s.Stats())
	}
}

func TestRequestOtherServerWithdrawsOffer(t *testing.T) {
	s := newSrv()
	s.Input(msg(Discover, macA, 1, 0, noAddr), t0)
	out(t, s)
	s.Input(msg(Request, macA, 1, 0, noAddr, OptServerID, [4]byte{10, 0, 3, 254}, OptRequestedIP, [4]byte{10, 0, 3, 50}), t0)
	if m, _ := out(t, s); m.b != nil {
		t.Fatalf("answered a request for another server: type %d", m.Type())
	}
	// The offer is withdrawn: another client gets the address.
	s.Input(msg(Discover, macB, 2, 0, noAddr), t0)
	if m, _ := out(t, s); m.Type() != Offer || m.CHAddr() != macB {
		t.Fatal("address not offered to the next client")
	}
}

func TestSecondClientNotServed(t *testing.T) {
	s := newSrv()
	s.Input(msg(Request, macA, 1, 0, noAddr, OptRequestedIP, cliIP), t0) // INIT-REBOOT
	if m, _ := out(t, s); m.Type() != Ack {
		t.Fatal("init-reboot not acked")
	}
	s.Input(msg(Discover, macB, 2, 0, noAddr), t0)
	if m, _ := out(t, s); m.b != nil {
		t.Fatal("offered a leased address to another client")
	}
	s.Input(msg(Request, macB, 3, 0, noAddr, OptRequestedIP, cliIP), t0)
	if m, _ := out(t, s); m.Type() != Nak {
		t.Fatal("another client's request for the leased address not refused")
	}
	if s.Stats().Busy != 1 {
		t.Fatalf("%+v", s.Stats())
	}
	// Released: now B may have it.
	s.Input(msg(Release, macA, 4, 0, cliIP, OptServerID, srvIP), t0)
	s.Input(msg(Discover, macB, 5, 0, noAddr), t0)
	if m, _ := out(t, s); m.Type() != Offer {
		t.Fatal("released address not offered")
	}
}

func TestRenewUnicastToCiaddr(t *testing.T) {
	s := newSrv()
	s.Input(msg(Request, macA, 1, 0, noAddr, OptRequestedIP, cliIP), t0)
	out(t, s)
	s.Input(msg(Request, macA, 9, 0, cliIP), t0.Add(30*time.Minute))
	m, r := out(t, s)
	if m.Type() != Ack || r.Dst != cliIP || r.Learn || m.CIAddr() != cliIP {
		t.Fatalf("renew: type %d to %+v", m.Type(), r)
	}
	if _, ok := s.Leased(t0.Add(80 * time.Minute)); !ok {
		t.Fatal("renewal did not extend the lease")
	}
}

func TestServerIgnoresBadMessages(t *testing.T) {
	s := newSrv()
	good := msg(Discover, macA, 1, 0, noAddr)
	reply := bytes.Clone(good)
	reply[0] = BootReply
	relayed := bytes.Clone(good)
	relayed[offGIAddr] = 10
	offer := msg(Offer, macA, 1, 0, noAddr)
	for _, b := range [][]byte{good[:200], reply, relayed, offer, append(bytes.Clone(good[:HeaderLen]), OptMessageType, 5)} {
		s.Input(b, t0)
		if m, _ := out(t, s); m.b != nil {
			t.Fatalf("answered %x", b)
		}
	}
	st := s.Stats()
	if st.Malformed != 2 || st.NotRequest != 2 || st.Relayed != 1 {
		t.Fatalf("%+v", st)
	}
}

func TestParseTotal(t *testing.T) {
	good := msg(Discover, macA, 1, 0, noAddr, OptHostName, []byte("h"))
	cases := map[string]struct {
		b   []byte
		err error
	}{
		"short":    {good[:239], ErrShort},
		"op":       {func() []byte { b := bytes.Clone(good); b[0] = 3; return b }(), ErrOp},
		"htype":    {func() []byte { b := bytes.Clone(good); b[1] = 6; return b }(), ErrHardware},
		"cookie":   {func() []byte { b := bytes.Clone(good); b[236] = 0; return b }(), ErrCookie},
		"overrun":  {append(bytes.Clone(good[:HeaderLen+3]), OptHostName, 9, 'x'), ErrOptions},
		"no type":  {append(bytes.Clone(good[:HeaderLen]), OptEnd), ErrType},
		"bad type": {append(bytes.Clone(good[:HeaderLen]), OptMessageType, 1, 9), ErrType},
		"type len": {append(bytes.Clone(good[:HeaderLen]), OptMessageType, 2, 1, 1), ErrType},
	}
	for name, c := range cases {
		if _, err := Parse(c.b); err != c.err {
			t.Errorf("%s: %v, want %v", name, err, c.err)
		}
	}
	m, err := Parse(good)
	if err != nil {
		t.Fatal(err)
	}
	if v, ok := m.Option(OptHostName); !ok || string(v) != "h" {
		t.Fatal("option")
	}
}

func TestServerZeroAllocs(t *testing.T) {
	s := newSrv()
	req := msg(Request, macA, 1, 0, noAddr, OptRequestedIP, cliIP)
	b := make([]byte, MaxMessage)
	if n := testing.AllocsPerRun(100, func() { s.Input(req, t0); s.Output(b, t0) }); n != 0 {
		t.Fatalf("%v allocations", n)
	}
}
