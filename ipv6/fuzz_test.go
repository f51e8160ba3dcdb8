package ipv6

import (
	"encoding/binary"
	"testing"
	"time"
)

// FuzzParse: any bytes → a header and a chain, or an error; never a panic,
// and a chain always lies within the packet.
func FuzzParse(f *testing.F) {
	f.Add(echoReq(peer, card, 1, 1, []byte("seed")))
	f.Add(pkt(peer, card, ProtoDstOpts, 64, []byte{ProtoICMP, 0, 0x80, 4, 0, 0, 0, 0}))
	f.Add(pkt(peer, card, ProtoHopByHop, 64, []byte{ProtoRouting, 0, 5, 2, 0, 0, 1, 0, ProtoFragment, 0, 4, 1, 0, 0, 0, 0, ProtoTCP, 0, 0, 9, 0, 0, 0, 1}))
	f.Add(frag(peer, card, 1, 8, true, make([]byte, 16)))
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := Parse(b)
		if err != nil {
			return
		}
		ch, prob := Walk(h)
		if prob.Err == nil && (ch.Off < HeaderLen || ch.Off > len(h.Bytes())) {
			t.Fatalf("chain offset %d of %d", ch.Off, len(h.Bytes()))
		}
		if prob.Send && int(prob.Pointer) >= len(h.Bytes()) {
			t.Fatalf("pointer %d beyond %d", prob.Pointer, len(h.Bytes()))
		}
		if _, off := upperLayer(h.Bytes()); off > len(h.Bytes())+8*255 {
			t.Fatalf("upper layer at %d", off)
		}
	})
}

// fuzzHost is a host with SLAAC on, an address, a transport that takes
// everything.
func fuzzHost() (*Host, *SLAAC) {
	h := NewHost(Config{MTU: 1500, ICMPRatePerSec: -1})
	h.SetLinkLayer([6]byte{2, 0, 0, 0, 0, 1})
	s := NewSLAAC(h, SLAACConfig{DupAddrDetectTransmits: 1})
	nb := NewNeighbors(h, 4) // the Ethernet chain: neighbour cache, then SLAAC
	nb.Next = s
	s.Start([8]byte{7: 1}, t0)
	h.SetPreferred(card)
	h.Register(ProtoUDP, sink{})
	return h, s
}

type sink struct{}

func (sink) Input6(src, dst Addr, p []byte, now time.Time) bool { return len(p) > 0 && p[0]&1 == 0 }
func (sink) Output6([]byte, time.Time) (int, Addr, Addr)        { return 0, Addr{}, Addr{} }

// drainHost takes every packet out and checks each is a valid IPv6 packet
// from one of our addresses (or the unspecified one: DAD) within the MTU.
func drainHost(t *testing.T, h *Host) {
	var buf [2048]byte
	for i := 0; i < 16; i++ {
		n := h.Output(buf[:], t0)
		if n == 0 {
			return
		}
		hd, err := Parse(buf[:n])
		if err != nil || n > h.MTU() || hd.Src() != (Addr{}) && !h.ours(hd.Src(), true) {
			t.Fatalf("bad packet out: %v %x", err, buf[:n])
		}
	}
	t.Fatal("host never drained")
}

// FuzzHost feeds whole packets to a host (ICMPv6, ND, SLAAC, fragments,
// extension headers, UDP).
func FuzzHost(f *testing.F) {
	f.Add(echoReq(peer, card, 1, 1, []byte("seed")))
	f.Add(ns(peer, SolicitedNode(card), card, 255))
	f.Add(ra(router, pfx, 3600, 1800, 1400))
	f.Add(frag(peer, card, 9, 0, true, make([]byte, 16)))
	f.Add(pkt(peer, card, ProtoUDP, 64, []byte{0, 53, 0, 53, 0, 8, 0, 0}))
	f.Fuzz(func(t *testing.T, b []byte) {
		h, s := fuzzHost()
		h.Input(b, t0)
		h.Shed()
		drainHost(t, h)
		h.Shed()
		s.Poll(t0.Add(2 * time.Second))
		h.Poll(t0.Add(61 * time.Second))
		drainHost(t, h)
	})
}

// FuzzICMPv6 feeds one ICMPv6 message body (type, code and the rest; the
// checksum is made valid) from a link-local neighbour with hop limit 255,
// so the fuzzer reaches the ND and SLAAC option parsers.
func FuzzICMPv6(f *testing.F) {
	f.Add(ra(router, pfx, 3600, 1800, 1400)[HeaderLen:], true)
	f.Add(ns(peer, SolicitedNode(card), card, 255)[HeaderLen:], false)
	f.Add(icmp(peer, card, TypeNeighborAdv, 0, make([]byte, 20)), false)
	f.Add(icmp(peer, card, TypePacketTooBig, 0, append([]byte{0, 0, 5, 0}, echoReq(card, peer, 1, 1, nil)...)), false)
	f.Add(icmp(peer, card, TypeEchoRequest, 0, []byte{0, 1, 0, 1}), false)
	f.Fuzz(func(t *testing.T, m []byte, multicast bool) {
		if len(m) < 4 || len(m) > 1400 {
			return
		}
		dst := card
		if multicast {
			dst = AllNodes
		}
		m = append([]byte(nil), m...)
		m[2], m[3] = 0, 0
		binary.BigEndian.PutUint16(m[2:], ^foldSum(m, PseudoHeaderSum(router, dst, ProtoICMP, len(m))))
		h, s := fuzzHost()
		h.Input(pkt(router, dst, ProtoICMP, 255, m), t0)
		drainHost(t, h)
		h.ND.(*Neighbors).Resolve(echoReq(card, gpeer, 1, 1, nil), t0)
		drainHost(t, h)
		s.Poll(t0.Add(10 * time.Second))
		drainHost(t, h)
		if h.MTU() < MinMTU || h.MTU() > 1500 {
			t.Fatalf("MTU %d", h.MTU())
		}
	})
}
