package dhcp

import (
	"math/rand/v2"
	"testing"
	"time"
)

type seeded struct{ r *rand.ChaCha8 }

func (s seeded) Read(p []byte) (int, error) { return s.r.Read(p) }

func newCli() *Client {
	return NewClient(ClientConfig{MAC: macA, Rand: seeded{rand.NewChaCha8([32]byte{1})}, Hostname: "netcard"})
}

// exchange runs client and server against each other until the client
// sends nothing more at now; it returns the messages the client sent.
func exchange(t *testing.T, c *Client, s *Server, now time.Time) (sent []Reply) {
	t.Helper()
	b := make([]byte, MaxMessage)
	for i := 0; i < 10; i++ {
		c.Poll(now)
		r, _ := c.Output(b, now)
		if r.N == 0 {
			return sent
		}
		sent = append(sent, r)
		if s == nil {
			continue
		}
		s.Input(b[:r.N], now)
		if rr := s.Output(b, now); rr.N > 0 {
			c.Input(b[:rr.N], now)
		}
	}
	t.Fatal("endless exchange")
	return nil
}

func TestClientBindsRenewsRebindsExpires(t *testing.T) {
	c, s := newCli(), newSrv()
	c.Start(t0)
	now := c.Poll(t0)
	if now.Sub(t0) >= time.Second {
		t.Fatalf("first DISCOVER after %v", now.Sub(t0))
	}
	sent := exchange(t, c, s, now)
	if len(sent) != 2 || c.State() != Bound || c.TakeEvent() != EventBound {
		t.Fatalf("sent %d, state %v", len(sent), c.State())
	}
	l := c.Lease()
	if l.Addr != cliIP || l.Mask != mask || l.Server != srvIP || l.T1 != now.Add(30*time.Minute) || l.T2 != now.Add(3150*time.Second) {
		t.Fatalf("lease %+v", l)
	}
	// Nothing before T1; at T1 a unicast REQUEST renews.
	if next := c.Poll(now.Add(time.Minute)); next != l.T1 {
		t.Fatalf("next %v", next)
	}
	sent = exchange(t, c, s, l.T1)
	if len(sent) != 1 || sent[0].Dst != srvIP || c.State() != Bound || c.TakeEvent() != EventNone {
		t.Fatalf("renew: %+v, %v", sent, c.State())
	}
	// The server goes silent: RENEWING retransmits, at T2 REBINDING broadcasts,
	// at the end the lease is lost.
	l = c.Lease()
	sent = exchange(t, c, nil, l.T1)
	if len(sent) != 1 || sent[0].Dst != srvIP || c.State() != Renewing {
		t.Fatalf("renewing: %+v %v", sent, c.State())
	}
	sent = exchange(t, c, nil, l.T2)
	if len(sent) != 1 || sent[0].Dst != bcast || c.State() != Rebinding {
		t.Fatalf("rebinding: %+v %v", sent, c.State())
	}
	c.Poll(l.End)
	if c.State() != Init || c.TakeEvent() != EventLost || c.Stats().Expired != 1 {
		t.Fatalf("after expiry: %v", c.State())
	}
}

func TestClientNakRestarts(t *testing.T) {
	c, s := newCli(), newSrv()
	c.Start(t0)
	exchange(t, c, s, t0.Add(time.Second))
	c.TakeEvent()
	// The server forgets the lease and another client takes the address:
	// the renewal is refused.
	s.state = leaseFree
	s.Input(msg(Request, macB, 1, 0, noAddr, OptRequestedIP, cliIP), t0)
	s.Output(make([]byte, MaxMessage), t0)
	exchange(t, c, s, c.Lease().T1)
	if c.State() != Init || c.TakeEvent() != EventLost || c.Stats().Naks != 1 {
		t.Fatalf("state %v, %+v", c.State(), c.Stats())
	}
}

func TestClientIgnoresStrangers(t *testing.T) {
	c := newCli()
	c.Start(t0)
	b := make([]byte, MaxMessage)
	c.Poll(t0.Add(time.Second))
	c.Output(b, t0)
	offer := func(xid uint32, mac [6]byte, op uint8, opts ...any) []byte {
		m := msg(Offer, mac, xid, 0, noAddr, opts...)
		m[0] = op
		copy(m[offYIAddr:], cliIP[:])
		return m
	}
	lease := []byte{0, 0, 14, 16}
	for _, m := range [][]byte{
		offer(c.xid+1, macA, BootReply, OptServerID, srvIP, OptLeaseTime, lease), // other xid
		offer(c.xid, macB, BootReply, OptServerID, srvIP, OptLeaseTime, lease),   // other chaddr
		offer(c.xid, macA, BootRequest, OptServerID, srvIP, OptLeaseTime, lease), // a request
		offer(c.xid, macA, BootReply, OptLeaseTime, lease),                       // no server id
		offer(c.xid, macA, BootReply, OptServerID, srvIP),                        // no lease time
	} {
		c.Input(m, t0)
	}
	if c.State() != Selecting || c.Stats().Ignored != 5 {
		t.Fatalf("state %v, %+v", c.State(), c.Stats())
	}
	c.Input(offer(c.xid, macA, BootReply, OptServerID, srvIP, OptLeaseTime, lease), t0)
	if c.State() != Requesting {
		t.Fatal("good offer not taken")
	}
}

func TestClientBackoff(t *testing.T) {
	c := newCli()
	c.Start(t0)
	now := c.Poll(t0)
	var gaps []time.Duration
	for i := 0; i < 6; i++ {
		next := c.Poll(now)
		gaps = append(gaps, next.Sub(now))
		now = next
	}
	// 4, 8, 16, 32, 64, 64 s, each ±1 s (RFC 2131 §4.1).
	want := []time.Duration{4, 8, 16, 32, 64, 64}
	for i, g := range gaps {
		if d := g - want[i]*time.Second; d < -time.Second || d >= time.Second {
			t.Fatalf("gaps %v", gaps)
		}
	}
}

func fuzzClient(t *testing.T, b []byte) {
	c := newCli()
	c.Start(t0)
	c.Poll(t0.Add(time.Second))
	buf := make([]byte, MaxMessage)
	c.Output(buf, t0)
	if len(b) >= HeaderLen {
		// Let the fuzzer's message match the transaction.
		b[offXID], b[offXID+1], b[offXID+2], b[offXID+3] = byte(c.xid>>24), byte(c.xid>>16), byte(c.xid>>8), byte(c.xid)
		copy(b[offCHAddr:], macA[:])
	}
	c.Input(b, t0)
	c.Poll(t0.Add(time.Hour))
	if r, _ := c.Output(buf, t0.Add(time.Hour)); r.N > 0 {
		if _, err := Parse(buf[:r.N]); err != nil {
			t.Fatalf("client sent an invalid message: %v", err)
		}
	}
}

// TestClientRelease: a stopped client sends one RELEASE, unicast to the
// server with its address in ciaddr; the server frees the lease.
func TestClientRelease(t *testing.T) {
	c, s := newCli(), newSrv()
	c.Start(t0)
	exchange(t, c, s, t0.Add(time.Second))
	if _, ok := s.Leased(t0.Add(2 * time.Second)); !ok {
		t.Fatal("not leased")
	}
	c.Release(t0.Add(2 * time.Second))
	sent := exchange(t, c, s, t0.Add(2*time.Second))
	if len(sent) != 1 || sent[0].Dst != srvIP || c.State() != Init {
		t.Fatalf("release: %+v %v", sent, c.State())
	}
	if _, ok := s.Leased(t0.Add(2 * time.Second)); ok || s.Stats().Releases != 1 {
		t.Fatalf("lease not freed: %+v", s.Stats())
	}
	if next := c.Poll(t0.Add(time.Hour)); !next.IsZero() {
		t.Fatalf("stopped client wants polling at %v", next)
	}
}

// TestClientDecline: an address found in use is declined by broadcast
// (requested IP and server identifier, ciaddr 0) and discovery starts
// again after ten seconds, not before.
func TestClientDecline(t *testing.T) {
	c, s := newCli(), newSrv()
	c.Start(t0)
	now := t0.Add(time.Second)
	exchange(t, c, s, now)
	c.TakeEvent()
	c.Decline(now)
	b := make([]byte, MaxMessage)
	r, src := c.Output(b, now)
	m, err := Parse(b[:r.N])
	if err != nil || m.Type() != Decline || r.Dst != bcast || src != noAddr || m.CIAddr() != noAddr {
		t.Fatalf("decline: %v to %+v from %v", err, r, src)
	}
	if a, _ := m.Addr(OptRequestedIP); a != cliIP {
		t.Fatal("requested IP", a)
	}
	if id, _ := m.Addr(OptServerID); id != srvIP {
		t.Fatal("server id", id)
	}
	s.Input(b[:r.N], now)
	if _, ok := s.Leased(now); ok || s.Stats().Declines != 1 {
		t.Fatalf("server kept the declined lease: %+v", s.Stats())
	}
	if next := c.Poll(now); next.Sub(now) != 10*time.Second || c.State() != Init {
		t.Fatalf("restart in %v, state %v", next.Sub(now), c.State())
	}
	if sent := exchange(t, c, s, now.Add(10*time.Second)); len(sent) == 0 {
		t.Fatal("no new discovery after ten seconds")
	}
}

// TestClientLeaseDNS: option 6 gives the lease's DNS servers (the first
// two); a short option is ignored.
func TestClientLeaseDNS(t *testing.T) {
	c := newCli()
	for _, tc := range []struct {
		v    []byte
		want [2][4]byte
	}{
		{[]byte{1, 1, 1, 1, 8, 8, 8, 8, 9, 9, 9, 9}, [2][4]byte{{1, 1, 1, 1}, {8, 8, 8, 8}}},
		{[]byte{1, 1, 1, 1, 8}, [2][4]byte{{1, 1, 1, 1}}},
		{[]byte{1, 1}, [2][4]byte{}},
	} {
		b := msg(Ack, macA, 1, 0, noAddr, OptServerID, srvIP, OptLeaseTime, []byte{0, 0, 1, 0}, OptDNS, tc.v)
		b[0] = BootReply
		copy(b[offYIAddr:], cliIP[:])
		m, err := Parse(b)
		if err != nil {
			t.Fatal(err)
		}
		l, ok := c.leaseOf(m, t0)
		if !ok || l.DNS != tc.want {
			t.Errorf("%v: %v %v", tc.v, l.DNS, ok)
		}
	}
}
