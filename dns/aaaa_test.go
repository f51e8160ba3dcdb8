package dns

import (
	"testing"
	"time"

	"golang.org/x/net/dns/dnsmessage"

	"netcard/ipv6"
	"netcard/udp"
)

// aaaaResponse builds a response to an AAAA question with x/net's dnsmessage.
func aaaaResponse(t *testing.T, id uint16, qtype dnsmessage.Type, build func(b *dnsmessage.Builder)) []byte {
	b := dnsmessage.NewBuilder(nil, dnsmessage.Header{ID: id, Response: true, RecursionDesired: true, RecursionAvailable: true})
	b.EnableCompression()
	b.StartQuestions()
	b.Question(dnsmessage.Question{Name: dnsmessage.MustNewName("v6.example.com."), Type: qtype, Class: dnsmessage.ClassINET})
	b.StartAnswers()
	build(&b)
	msg, err := b.Finish()
	if err != nil {
		t.Fatal(err)
	}
	return msg
}

// sentAAAA returns the query the resolver sent, checked by x/net.
func sentAAAA(t *testing.T, p *peer) sentQuery {
	n, remote := p.s.Output(p.buf[:], card, t0)
	h, err := udp.Parse(p.buf[:n])
	if err != nil {
		t.Fatal(err)
	}
	var xp dnsmessage.Parser
	xh, err := xp.Start(h.Payload())
	if err != nil {
		t.Fatal(err)
	}
	q, err := xp.Question()
	if err != nil || q.Type != dnsmessage.TypeAAAA {
		t.Fatalf("question %+v %v", q, err)
	}
	return sentQuery{to: remote, sport: h.SrcPort(), id: xh.ID, name: q.Name.String(), ok: true}
}

var v6addr = [16]byte{0x20, 0x01, 0x0d, 0xb8, 15: 0x42}

// TestResolveAAAA: the stub asks AAAA (RFC 3596) and takes the 16-byte
// answer, following a CNAME; Result6 gives it, Result (IPv4) does not.
func TestResolveAAAA(t *testing.T) {
	p := newPeer(t, ns1)
	if err := p.r.ResolveAAAA("v6.example.com", t0); err != nil {
		t.Fatal(err)
	}
	q := sentAAAA(t, p)
	p.reply(q, ns1, 53, aaaaResponse(t, q.id, dnsmessage.TypeAAAA, func(b *dnsmessage.Builder) {
		b.CNAMEResource(rh("v6.example.com.", dnsmessage.TypeCNAME), dnsmessage.CNAMEResource{CNAME: dnsmessage.MustNewName("edge.example.net.")})
		b.AResource(rh("edge.example.net.", dnsmessage.TypeA), dnsmessage.AResource{A: [4]byte{192, 0, 2, 1}})
		b.AAAAResource(rh("edge.example.net.", dnsmessage.TypeAAAA), dnsmessage.AAAAResource{AAAA: v6addr})
	}), t0)
	p.r.Poll(t0)
	a, done, err := p.r.Result6()
	if !done || err != nil || a != ipv6.Addr(v6addr) || a.Is4() {
		t.Fatalf("result %v %v %v", a, done, err)
	}
}

// TestResolveAAAARejects: an A record does not answer an AAAA question, nor
// an IPv4-mapped AAAA; a response echoing the A question is ignored.
func TestResolveAAAARejects(t *testing.T) {
	for _, tc := range []struct {
		name  string
		qtype dnsmessage.Type
		build func(b *dnsmessage.Builder)
		want  error
	}{
		{"A only", dnsmessage.TypeAAAA, func(b *dnsmessage.Builder) {
			b.AResource(rh("v6.example.com.", dnsmessage.TypeA), dnsmessage.AResource{A: [4]byte{192, 0, 2, 1}})
		}, ErrNoAnswer},
		{"mapped", dnsmessage.TypeAAAA, func(b *dnsmessage.Builder) {
			b.AAAAResource(rh("v6.example.com.", dnsmessage.TypeAAAA), dnsmessage.AAAAResource{AAAA: [16]byte{10: 0xff, 11: 0xff, 12: 192, 15: 1}})
		}, ErrNoAnswer},
		{"question A", dnsmessage.TypeA, func(b *dnsmessage.Builder) {
			b.AAAAResource(rh("v6.example.com.", dnsmessage.TypeAAAA), dnsmessage.AAAAResource{AAAA: v6addr})
		}, ErrTimeout},
	} {
		p := newPeer(t, ns1)
		p.r.attempts = 1
		if err := p.r.ResolveAAAA("v6.example.com", t0); err != nil {
			t.Fatal(err)
		}
		q := sentAAAA(t, p)
		p.reply(q, ns1, 53, aaaaResponse(t, q.id, tc.qtype, tc.build), t0)
		p.r.Poll(t0)
		p.r.Poll(t0.Add(2 * time.Second))
		if _, done, err := p.r.Result6(); !done || err != tc.want {
			t.Errorf("%s: done %v err %v, want %v", tc.name, done, err, tc.want)
		}
	}
}
