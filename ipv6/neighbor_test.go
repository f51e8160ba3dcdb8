package ipv6

import (
	"testing"
	"time"
)

var (
	ourMAC  = [6]byte{2, 0, 0, 0, 0, 1}
	peerMAC = [6]byte{2, 0, 0, 0, 0, 2}
)

func na(src, dst, target Addr, flags byte, mac *[6]byte) []byte {
	body := make([]byte, 20)
	body[0] = flags
	copy(body[4:], target[:])
	if mac != nil {
		body = append(body, 2, 1)
		body = append(body, mac[:]...)
	}
	return pkt(src, dst, ProtoICMP, 255, icmp(src, dst, TypeNeighborAdv, 0, body))
}

func nbHost(n int) (*Host, *Neighbors, *SLAAC) {
	h := NewHost(Config{MTU: 1500})
	h.SetLinkLayer(ourMAC)
	s := NewSLAAC(h, SLAACConfig{Solicitations: -1})
	nb := NewNeighbors(h, n)
	nb.Next = s
	s.Start([8]byte{7: 1}, t0)
	return h, nb, s
}

func TestNeighborResolve(t *testing.T) {
	h, nb, _ := nbHost(2)
	toPeer := echoReq(card, peer, 1, 1, nil)
	if _, ok := nb.Resolve(toPeer, t0); ok {
		t.Fatal("unknown neighbour resolved")
	}
	hd, m := checkICMP(t, out(t, h))
	if m[0] != TypeNeighborSol || hd.Dst() != SolicitedNode(peer) || Addr(m[8:24]) != peer || len(m) != 32 || [6]byte(m[26:32]) != ourMAC {
		t.Fatalf("NS %x", m)
	}
	// A second packet while INCOMPLETE: no new solicitation before RetransTimer.
	if _, ok := nb.Resolve(toPeer, t0); ok || out(t, h) != nil {
		t.Fatal("second NS at once")
	}
	h.Input(na(peer, card, peer, 0x60, &peerMAC), t0)
	mac, ok := nb.Resolve(toPeer, t0)
	if !ok || mac != peerMAC || nb.Stats().Confirmed != 1 {
		t.Fatalf("after NA: %v %v %+v", mac, ok, nb.Stats())
	}
	// Multicast: RFC 2464 §7 mapping, no cache.
	if mac, ok := nb.Resolve(echoReq(card, AllNodes, 1, 1, nil), t0); !ok || mac != [6]byte{0x33, 0x33, 0, 0, 0, 1} {
		t.Fatalf("multicast %x", mac)
	}
	// Off-link without a router: nothing to send to.
	if _, ok := nb.Resolve(echoReq(card, gpeer, 1, 1, nil), t0); ok || nb.Stats().NoEntry != 1 {
		t.Fatal("off-link resolved without a router")
	}
}

// TestNeighborBounds: solicitations stop after MaxMulticastSolicit; a full
// table of INCOMPLETE entries resolves nothing new; a complete entry is
// replaced least-recently-used first.
func TestNeighborBounds(t *testing.T) {
	h, nb, _ := nbHost(2)
	other := LinkLocal([8]byte{7: 3})
	third := LinkLocal([8]byte{7: 4})
	nb.Resolve(echoReq(card, peer, 1, 1, nil), t0)
	out(t, h)
	nb.Resolve(echoReq(card, other, 1, 1, nil), t0)
	out(t, h)
	if _, ok := nb.Resolve(echoReq(card, third, 1, 1, nil), t0); ok || nb.Stats().NoEntry != 1 {
		t.Fatalf("full table: %+v", nb.Stats())
	}
	now := t0
	sent := 2
	for i := 0; i < 6; i++ {
		now = now.Add(time.Second)
		nb.Poll(now)
		for out(t, h) != nil {
			sent++
		}
		nb.Poll(now)
		for out(t, h) != nil {
			sent++
		}
	}
	if sent != 6 || nb.Stats().Failed != 2 {
		t.Fatalf("sent %d NS, %+v", sent, nb.Stats())
	}
	// Two complete entries; a third destination replaces the older.
	h.Input(ns(peer, SolicitedNode(card), card, 255), now) // no SLLA option: learns nothing
	h.Input(pkt(peer, SolicitedNode(card), ProtoICMP, 255, icmp(peer, SolicitedNode(card), TypeNeighborSol, 0, append(append(make([]byte, 4), card[:]...), 1, 1, 2, 0, 0, 0, 0, 2))), now)
	h.Input(pkt(other, SolicitedNode(card), ProtoICMP, 255, icmp(other, SolicitedNode(card), TypeNeighborSol, 0, append(append(make([]byte, 4), card[:]...), 1, 1, 2, 0, 0, 0, 0, 3))), now.Add(time.Millisecond))
	if nb.Stats().Learned != 2 {
		t.Fatalf("%+v", nb.Stats())
	}
	nb.Resolve(echoReq(card, third, 1, 1, nil), now.Add(time.Second))
	if nb.find(peer) != nil || nb.find(other) == nil || nb.Stats().Replaced != 1 {
		t.Fatal("LRU replacement wrong")
	}
}

// TestNeighborInvalid: RFC 4861 §7.1 — a source link-layer option from the
// unspecified address, a solicited advertisement to a multicast address and
// a zero-length option are ignored; an unsolicited advertisement creates
// no entry.
func TestNeighborInvalid(t *testing.T) {
	h, nb, _ := nbHost(4)
	h.Input(pkt(Addr{}, SolicitedNode(card), ProtoICMP, 255, icmp(Addr{}, SolicitedNode(card), TypeNeighborSol, 0, append(append(make([]byte, 4), card[:]...), 1, 1, 2, 0, 0, 0, 0, 2))), t0)
	h.Input(na(peer, AllNodes, peer, 0x60, &peerMAC), t0)
	h.Input(pkt(peer, card, ProtoICMP, 255, icmp(peer, card, TypeNeighborAdv, 0, append(append([]byte{0x60, 0, 0, 0}, peer[:]...), 2, 0, 0, 0, 0, 0, 0, 0))), t0)
	h.Input(na(peer, card, peer, 0x20, &peerMAC), t0) // unsolicited, no entry: ignored
	if nb.Stats().BadOptions != 3 || nb.Stats().Learned != 0 || nb.find(peer) != nil {
		t.Fatalf("%+v", nb.Stats())
	}
}

// TestNeighborRouter: a router advertisement with a router lifetime, its
// source link-layer address and an on-link prefix: off-link packets go to
// the router, on-link ones to the destination, and SLAAC (chained) forms
// the global address.
func TestNeighborRouter(t *testing.T) {
	h, nb, _ := nbHost(4)
	p := ra(router, pfx, 3600, 1800, 0)
	m := p[HeaderLen:]
	m[6], m[7] = 0x07, 0x08 // router lifetime 1800 s
	p = append(p, 1, 1, 2, 0, 0, 0, 0, 0xfe)
	b := p[HeaderLen:]
	b[2], b[3] = 0, 0
	hd, _ := Parse(append(p[:4:4], append([]byte{byte(len(b) >> 8), byte(len(b))}, p[6:]...)...))
	p = hd.Bytes()
	c := icmpSum(Header{b: p})
	p[HeaderLen+2], p[HeaderLen+3] = byte(c>>8), byte(c)
	h.Input(p, t0)
	if h.Global() != WithPrefix(pfx, [8]byte{7: 1}) {
		t.Fatalf("no SLAAC through the chain: %v", h.Global())
	}
	if mac, ok := nb.Resolve(echoReq(h.Global(), gpeer, 1, 1, nil), t0); !ok || mac != [6]byte{2, 0, 0, 0, 0, 0xfe} {
		t.Fatalf("off-link via router: %x %v", mac, ok)
	}
	onlink := WithPrefix(pfx, [8]byte{7: 9})
	if nb.NextHop(onlink, t0) != onlink {
		t.Fatal("on-link prefix not used")
	}
	if nb.NextHop(gpeer, t0.Add(2*time.Hour)) != (Addr{}) {
		t.Fatal("router kept past its lifetime")
	}
}
