package card_test

import (
	"bytes"
	"math/rand/v2"
	"testing"
	"time"
	"unsafe"

	"netcard/applet"
	"netcard/apps"
	"netcard/card"
	"netcard/dns"
	"netcard/http"
	"netcard/ipv4"
	"netcard/ppp"
	"netcard/sim"
	"netcard/udp"
)

// fetcher is an application that fetches "https://dns.test/" each time its
// timer fires (Manifest.Tick, then every second) and records the outcomes.
type fetcher struct {
	req  applet.FetchRequest
	res  []applet.FetchResult
	stop bool
}

func (f *fetcher) Routes() []applet.Route                                       { return nil }
func (f *fetcher) Serve(c *applet.Ctx, r *http.Request, w *http.ResponseWriter) {}
func (f *fetcher) FetchDone(c *applet.Ctx, res applet.FetchResult)              { f.res = append(f.res, res) }
func (f *fetcher) Tick(c *applet.Ctx) {
	if !f.stop {
		c.Fetch(&f.req)
	}
	c.After(time.Second)
}

// pppRig is a Tiny card behind a host-role PPP link that offers a DNS
// server (RFC 1877); the test sees the card's IP packets and injects its
// own.
type pppRig struct {
	t      *testing.T
	c      *card.Card
	host   *ppp.Link
	now    time.Time
	got    [][]byte // IP packets from the card
	inject [][]byte // IP packets to the card
	buf    []byte
}

var dnsServer = ipv4.Addr{10, 0, 0, 53}

func newPPPRig(t *testing.T, f *fetcher) *pppRig {
	st, err := sim.NewStore(4, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	r := &pppRig{t: t, now: time.Unix(1_800_000_000, 0), buf: make([]byte, 4096)}
	r.c, err = card.New(card.Config{Profile: card.TinyProfile, Store: st, Rand: chacha{rand.NewChaCha8([32]byte{9})},
		Clock: func() time.Time { return r.now },
		Apps:  []apps.Registered{{App: f, Manifest: applet.Manifest{Name: "fetcher", Tick: 5 * time.Second}}}})
	if err != nil {
		t.Fatal(err)
	}
	r.host = ppp.New(ppp.Config{Host: true, LocalIP: ipv4.Addr{10, 0, 0, 1}, PeerIP: ipv4.Addr{10, 0, 0, 2},
		DNS: [2][4]byte{dnsServer}, Rand: chacha{rand.NewChaCha8([32]byte{10})},
		DeliverIP: func(p []byte) { r.got = append(r.got, bytes.Clone(p)) },
		PullIP: func(dst []byte) int {
			if len(r.inject) == 0 {
				return 0
			}
			n := copy(dst, r.inject[0])
			r.inject = r.inject[1:]
			return n
		}})
	r.c.Start(r.now)
	r.host.Open(r.now)
	return r
}

// step exchanges bytes both ways until the line is quiet, then moves the
// clock by d.
func (r *pppRig) step(d time.Duration) {
	for i := 0; i < 100; i++ {
		r.c.Poll(r.now)
		r.host.Poll(r.now)
		moved := false
		if n := r.c.Output(r.buf, r.now); n > 0 {
			r.host.Input(r.buf[:n], r.now)
			moved = true
		}
		if n := r.host.Output(r.buf, r.now); n > 0 {
			r.c.Input(r.buf[:n], r.now)
			moved = true
		}
		if !moved {
			break
		}
	}
	r.now = r.now.Add(d)
}

// query returns the DNS query the card sent last, with its source port.
func (r *pppRig) query() ([]byte, uint16, bool) {
	for i := len(r.got) - 1; i >= 0; i-- {
		h, err := ipv4.Parse(r.got[i])
		if err != nil || h.Protocol() != ipv4.ProtoUDP || h.Dst() != dnsServer {
			continue
		}
		u, err := udp.Parse(h.Payload())
		if err != nil || u.DstPort() != 53 {
			continue
		}
		return bytes.Clone(u.Payload()), u.SrcPort(), true
	}
	return nil, 0, false
}

// answer queues the NXDOMAIN answer to query q (from port 53 of the server
// to the card's port).
func (r *pppRig) answer(q []byte, port uint16) {
	a := bytes.Clone(q)
	a[2], a[3] = 0x81, 0x83 // QR, RD, RA, RCODE 3 (RFC 1035 §4.1.1)
	seg := udp.Append(nil, dnsServer, r.c.IP().Local(), 53, port, a)
	pkt := ipv4.AppendHeader(nil, &ipv4.Fields{TotalLen: ipv4.HeaderLen + len(seg), TTL: 64, Protocol: ipv4.ProtoUDP,
		Src: dnsServer, Dst: r.c.IP().Local()})
	r.inject = append(r.inject, append(pkt, seg...))
}

// TestLookupLendsResolver: an idle card holds no resolver and no UDP
// socket table (Card.Lent does not count them); a lookup lends them, a
// Shed in the middle of it leaves the lookup running, the answer ends it
// and returns them; a second lookup after the Shed works the same; an
// answer arriving with no lookup pending is dropped (filtered by the IP
// layer, counted in InFiltered, no ICMP error: the ephemeral port is
// hidden) and lends nothing.
func TestLookupLendsResolver(t *testing.T) {
	f := &fetcher{req: applet.FetchRequest{URL: "https://dns.test/", TLS: true, Host: "dns.test", Port: 443,
		Method: "GET", Target: "/"}}
	r := newPPPRig(t, f)
	for i := 0; i < 20 && !r.c.Up(); i++ {
		r.step(100 * time.Millisecond)
	}
	if !r.c.Up() {
		t.Fatal("link not up")
	}
	r.c.Shed()
	idle := r.c.Lent()
	lookup := int(unsafe.Sizeof(dns.Resolver{})) + dns.LookupBytes + udp.TableBytes(card.TinyProfile.UDPSockets)
	for round := 0; round < 2; round++ {
		r.got = nil
		for i := 0; i < 60; i++ {
			if _, _, ok := r.query(); ok {
				break
			}
			r.step(100 * time.Millisecond)
		}
		q, port, ok := r.query()
		if !ok {
			t.Fatalf("round %d: no DNS query", round)
		}
		// A lookup in progress survives a Shed: only its empty queues go.
		r.c.Shed()
		if l := r.c.Lent(); l != idle+lookup {
			t.Fatalf("round %d: lookup in progress after Shed: Lent %d, want idle %d + lookup %d", round, l, idle, lookup)
		}
		f.stop = round == 1
		r.answer(q, port)
		r.step(0)
		r.step(0)
		if len(f.res) != round+1 || !bytes.Contains([]byte(f.res[round].Err), []byte(dns.ErrNXDomain.Error())) {
			t.Fatalf("round %d: results %+v", round, f.res)
		}
		r.c.Shed()
		if l := r.c.Lent(); l != idle {
			t.Fatalf("round %d: after the lookup Lent %d, idle %d", round, l, idle)
		}
		// The same answer again, with nothing pending: dropped, counted.
		before := r.c.IP().Stats()
		r.answer(q, port)
		r.step(0)
		after := r.c.IP().Stats()
		if after.InFiltered != before.InFiltered+1 || after.InDelivered != before.InDelivered || after.ICMPErrorsOut != before.ICMPErrorsOut {
			t.Fatalf("round %d: late answer: before %+v, after %+v", round, before, after)
		}
		r.c.Shed() // the link's frame buffers the answer came in
		if l := r.c.Lent(); l != idle {
			t.Fatalf("round %d: late answer lent %d", round, l-idle)
		}
		r.step(time.Second)
	}
}
