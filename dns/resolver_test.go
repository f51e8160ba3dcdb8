package dns

import (
	"math/rand"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/net/dns/dnsmessage"

	"netcard/ipv4"
	"netcard/udp"
)

var (
	card = ipv4.Addr{10, 64, 64, 2}
	ns1  = ipv4.Addr{10, 64, 64, 1}
	ns2  = ipv4.Addr{192, 0, 2, 53}
	t0   = time.Unix(1_000_000, 0)
)

// peer is a fake DNS server on the far side of the UDP stack.
type peer struct {
	t   *testing.T
	s   *udp.Stack
	r   *Resolver
	buf [1500]byte
}

type sentQuery struct {
	to    ipv4.Addr
	sport uint16
	id    uint16
	name  string
	ok    bool
}

func newPeer(t *testing.T, servers ...ipv4.Addr) *peer {
	s := udp.NewStack(udp.Config{})
	r := NewResolver(s, ResolverConfig{Servers: servers, Rand: rand.New(rand.NewSource(7)), Timeout: time.Second, Attempts: 4})
	return &peer{t: t, s: s, r: r}
}

// sent returns the next query datagram the card sends.
func (p *peer) sent(now time.Time) sentQuery {
	n, remote := p.s.Output(p.buf[:], card, now)
	if n == 0 {
		return sentQuery{}
	}
	h, err := udp.Parse(p.buf[:n])
	if err != nil || !h.VerifyChecksum(card, remote) || h.DstPort() != 53 {
		p.t.Fatal("bad query datagram")
	}
	var xp dnsmessage.Parser
	xh, err := xp.Start(h.Payload())
	if err != nil {
		p.t.Fatal(err)
	}
	q, err := xp.Question()
	if err != nil || q.Type != dnsmessage.TypeA || !xh.RecursionDesired {
		p.t.Fatal("x/net rejects the query")
	}
	return sentQuery{to: remote, sport: h.SrcPort(), id: xh.ID, name: q.Name.String(), ok: true}
}

// reply delivers msg from src:sport to the query's port.
func (p *peer) reply(q sentQuery, src ipv4.Addr, sport uint16, msg []byte, now time.Time) {
	d := udp.Append(nil, src, card, sport, q.sport, msg)
	p.s.Input(src, card, d, now)
}

func TestResolveFirstTry(t *testing.T) {
	p := newPeer(t, ns1, ns2)
	if err := p.r.Resolve("www.example.com", t0); err != nil {
		t.Fatal(err)
	}
	if err := p.r.Resolve("other", t0); err != ErrBusy {
		t.Fatal("second query accepted")
	}
	q := p.sent(t0)
	if !q.ok || q.to != ns1 || q.name != "www.example.com." || q.sport < 49152 {
		t.Fatalf("query %+v", q)
	}
	if _, done, _ := p.r.Result(); done {
		t.Fatal("done too early")
	}
	p.reply(q, ns1, 53, buildResponse(t, q.id, dnsmessage.RCodeSuccess, "WWW.example.COM.", cnameA), t0)
	if next := p.r.Poll(t0.Add(10 * time.Millisecond)); !next.IsZero() {
		t.Fatal("timer left after the answer")
	}
	a, done, err := p.r.Result()
	if !done || err != nil || a != (ipv4.Addr{93, 184, 216, 34}) {
		t.Fatalf("result %v %v %v", a, done, err)
	}
	if p.s.Wants(q.sport) {
		t.Fatal("query socket not closed")
	}
}

func TestResolveRetriesAcrossServers(t *testing.T) {
	p := newPeer(t, ns1, ns2)
	p.r.Resolve("example.com", t0)
	q1 := p.sent(t0)
	now := t0
	if next := p.r.Poll(now); !next.Equal(t0.Add(time.Second)) {
		t.Fatalf("deadline %v", next)
	}
	now = now.Add(time.Second)
	p.r.Poll(now)
	q2 := p.sent(now)
	if q2.to != ns2 || q2.id != q1.id || q2.sport != q1.sport {
		t.Fatalf("retry %+v after %+v", q2, q1)
	}
	// A late answer from the first server is still accepted.
	p.reply(q1, ns1, 53, buildResponse(t, q1.id, dnsmessage.RCodeSuccess, "example.com.", func(b *dnsmessage.Builder) {
		b.StartAnswers()
		b.AResource(rh("example.com.", dnsmessage.TypeA), dnsmessage.AResource{A: [4]byte{1, 2, 3, 4}})
	}), now)
	p.r.Poll(now)
	if a, done, err := p.r.Result(); !done || err != nil || a != (ipv4.Addr{1, 2, 3, 4}) {
		t.Fatalf("%v %v %v", a, done, err)
	}
	if p.r.Stats().Sent != 2 {
		t.Fatal("sent count")
	}
}

func TestResolveTimeout(t *testing.T) {
	p := newPeer(t, ns1, ns2)
	p.r.Resolve("example.com", t0)
	now := t0
	var to []ipv4.Addr
	for i := 0; i < 10; i++ {
		if q := p.sent(now); q.ok {
			to = append(to, q.to)
		}
		next := p.r.Poll(now)
		if next.IsZero() {
			break
		}
		now = next
	}
	if len(to) != 4 || to[0] != ns1 || to[1] != ns2 || to[2] != ns1 || to[3] != ns2 {
		t.Fatalf("queries went to %v", to)
	}
	if _, done, err := p.r.Result(); !done || err != ErrTimeout || !now.Equal(t0.Add(4*time.Second)) {
		t.Fatalf("%v %v at %v", done, err, now.Sub(t0))
	}
}

func TestResolveRejectsForgeries(t *testing.T) {
	p := newPeer(t, ns1)
	p.r.Resolve("example.com", t0)
	q := p.sent(t0)
	good := func(id uint16, name string) []byte {
		return buildResponse(t, id, dnsmessage.RCodeSuccess, name, func(b *dnsmessage.Builder) {
			b.StartAnswers()
			b.AResource(rh(name, dnsmessage.TypeA), dnsmessage.AResource{A: [4]byte{6, 6, 6, 6}})
		})
	}
	p.reply(q, ns1, 53, good(q.id+1, "example.com."), t0)                // wrong ID
	p.reply(q, ns2, 53, good(q.id, "example.com."), t0)                  // wrong server
	p.reply(q, ns1, 5353, good(q.id, "example.com."), t0)                // wrong port
	p.reply(q, ns1, 53, good(q.id, "example.org."), t0)                  // wrong question
	p.reply(q, ns1, 53, []byte{byte(q.id >> 8), byte(q.id)}, t0)         // malformed
	p.reply(q, ns1, 53, AppendQuery(nil, q.id, &p.r.q.qname, TypeA), t0) // not a response
	trunc := good(q.id, "example.com.")
	p.reply(q, ns1, 53, trunc[:len(trunc)-2], t0) // cut inside the answer
	p.r.Poll(t0)
	if _, done, _ := p.r.Result(); done {
		t.Fatal("forged response accepted")
	}
	if st := p.r.Stats(); st.Ignored != 7 {
		t.Fatalf("ignored %d", st.Ignored)
	}
	p.reply(q, ns1, 53, good(q.id, "example.com."), t0)
	p.r.Poll(t0)
	if a, done, err := p.r.Result(); !done || err != nil || a != (ipv4.Addr{6, 6, 6, 6}) {
		t.Fatal("genuine answer refused")
	}
}

func TestResolveErrors(t *testing.T) {
	cases := []struct {
		rcode dnsmessage.RCode
		build func(b *dnsmessage.Builder)
		err   error
	}{
		{dnsmessage.RCodeNameError, nil, ErrNXDomain},
		{dnsmessage.RCodeSuccess, nil, ErrNoAnswer},
		{dnsmessage.RCodeSuccess, func(b *dnsmessage.Builder) { // CNAME loop
			b.StartAnswers()
			b.CNAMEResource(rh("example.com.", dnsmessage.TypeCNAME), dnsmessage.CNAMEResource{CNAME: dnsmessage.MustNewName("b.example.")})
			b.CNAMEResource(rh("b.example.", dnsmessage.TypeCNAME), dnsmessage.CNAMEResource{CNAME: dnsmessage.MustNewName("example.com.")})
		}, ErrNoAnswer},
		{dnsmessage.RCodeFormatError, nil, ErrServerFailure},
	}
	for _, c := range cases {
		p := newPeer(t, ns1)
		p.r.Resolve("example.com", t0)
		q := p.sent(t0)
		p.reply(q, ns1, 53, buildResponse(t, q.id, c.rcode, "example.com.", c.build), t0)
		p.r.Poll(t0)
		if _, done, err := p.r.Result(); !done || err != c.err {
			t.Errorf("rcode %v: %v %v", c.rcode, done, err)
		}
	}
	// SERVFAIL moves to the next server at once.
	p := newPeer(t, ns1, ns2)
	p.r.Resolve("example.com", t0)
	q := p.sent(t0)
	p.reply(q, ns1, 53, buildResponse(t, q.id, dnsmessage.RCodeServerFailure, "example.com.", nil), t0)
	p.r.Poll(t0)
	if q2 := p.sent(t0); q2.to != ns2 {
		t.Fatal("SERVFAIL did not move to the next server")
	}
	// Truncated answers are an error (no TCP fallback).
	p = newPeer(t, ns1)
	p.r.Resolve("example.com", t0)
	q = p.sent(t0)
	msg := buildResponse(t, q.id, dnsmessage.RCodeSuccess, "example.com.", nil)
	msg[2] |= 0x02
	p.reply(q, ns1, 53, msg, t0)
	p.r.Poll(t0)
	if _, _, err := p.r.Result(); err != ErrTruncated {
		t.Fatal(err)
	}
	// Configuration errors.
	p = newPeer(t)
	if p.r.Resolve("example.com", t0) != ErrNoServers {
		t.Fatal("no servers")
	}
	p.r.SetServers([]ipv4.Addr{{0, 0, 0, 0}, ns1})
	if p.r.Resolve("bad..name", t0) != ErrBadName {
		t.Fatal("bad name")
	}
	if err := p.r.Resolve("ok.example", t0); err != nil {
		t.Fatal(err)
	}
	p.r.Cancel()
	if _, done, err := p.r.Result(); !done || err != ErrCanceled {
		t.Fatal("cancel")
	}
	// Servers withdrawn during a query: it times out without panicking.
	p.r.Resolve("ok.example", t0)
	p.r.SetServers(nil)
	now := t0
	for i := 0; i < 10 && !now.IsZero(); i++ {
		now = p.r.Poll(now)
	}
	if _, done, err := p.r.Result(); !done || err != ErrTimeout {
		t.Fatal("withdrawn servers", err)
	}
}

// TestResolveThroughHost runs the resolver over udp and the IPv4 host, the
// way the card wires them, with the server answering whole IP packets.
func TestResolveThroughHost(t *testing.T) {
	h := ipv4.NewHost(ipv4.Config{Local: card, Rand: rand.New(rand.NewSource(1))})
	s := udp.NewStack(udp.Config{Rand: rand.New(rand.NewSource(2))})
	h.Register(ipv4.ProtoUDP, s)
	r := NewResolver(s, ResolverConfig{Servers: []ipv4.Addr{ns2}, Rand: rand.New(rand.NewSource(3))})
	if err := r.Resolve("card.example", t0); err != nil {
		t.Fatal(err)
	}
	pkt := make([]byte, 1500)
	n := h.Output(pkt, t0)
	ip, err := ipv4.Parse(pkt[:n])
	if err != nil || ip.Dst() != ns2 || ip.Src() != card || ip.Protocol() != ipv4.ProtoUDP {
		t.Fatal("bad query packet")
	}
	u, err := udp.Parse(ip.Payload())
	if err != nil || !u.VerifyChecksum(card, ns2) {
		t.Fatal("bad query datagram")
	}
	var xp dnsmessage.Parser
	xh, _ := xp.Start(u.Payload())
	resp := buildResponse(t, xh.ID, dnsmessage.RCodeSuccess, "card.example.", func(b *dnsmessage.Builder) {
		b.StartAnswers()
		b.AResource(rh("card.example.", dnsmessage.TypeA), dnsmessage.AResource{A: [4]byte{10, 9, 8, 7}})
	})
	in := make([]byte, ipv4.HeaderLen)
	ipv4.PutHeader(in, &ipv4.Fields{TotalLen: ipv4.HeaderLen + udp.HeaderLen + len(resp), TTL: 60, Protocol: ipv4.ProtoUDP, Src: ns2, Dst: card})
	in = udp.Append(in, ns2, card, 53, u.SrcPort(), resp)
	h.Input(in, t0)
	r.Poll(t0)
	if a, done, err := r.Result(); !done || err != nil || a != (ipv4.Addr{10, 9, 8, 7}) {
		t.Fatalf("%v %v %v", a, done, err)
	}
	// A late duplicate now meets a closed port of the ephemeral range: it
	// is dropped without an ICMP port unreachable (udp.Stack.PortHidden:
	// such answers would let an attacker find a query's port, SADDNS).
	h.Input(in, t0)
	if n := h.Output(pkt, t0); n != 0 || h.Stats().InFiltered != 1 {
		t.Fatalf("late duplicate to the closed query port: %d bytes out, %+v", n, h.Stats())
	}
}

// TestIdleResolverHoldsNothing: the query state and the UDP queues exist
// only while a query runs; Resolve allocates a bounded few objects, an idle
// Poll none.
func TestIdleResolverHoldsNothing(t *testing.T) {
	p := newPeer(t, ns1)
	if p.s.Footprint() != 0 || p.r.q != nil {
		t.Fatal("state before the first query")
	}
	round := func() {
		if err := p.r.Resolve("www.example.com", t0); err != nil {
			panic(err)
		}
		q := p.sent(t0)
		p.reply(q, ns1, 53, buildResponse(t, q.id, dnsmessage.RCodeSuccess, "www.example.com.", cnameA), t0)
		p.r.Poll(t0)
	}
	round()
	if a, done, err := p.r.Result(); !done || err != nil || a != (ipv4.Addr{93, 184, 216, 34}) {
		t.Fatalf("result %v %v %v", a, done, err)
	}
	if p.r.q != nil || p.s.Footprint() != 0 {
		t.Fatalf("after the query: state kept, UDP footprint %d", p.s.Footprint())
	}
	if a := testing.AllocsPerRun(100, func() { p.r.Poll(t0) }); a != 0 {
		t.Fatalf("idle Poll: %v allocs", a)
	}
	// A query that times out releases everything too.
	p.r.Resolve("example.org", t0)
	for now := t0; !now.IsZero(); now = p.r.Poll(now) {
		p.sent(now)
	}
	if _, done, err := p.r.Result(); !done || err != ErrTimeout || p.r.q != nil || p.s.Footprint() != 0 {
		t.Fatalf("after a timeout: %v, footprint %d", err, p.s.Footprint())
	}
	if unsafe.Sizeof(Resolver{}) > 128 {
		t.Fatalf("resident Resolver is %d bytes", unsafe.Sizeof(Resolver{}))
	}
}
