package ipv6

import (
	"encoding/binary"
	"testing"
	"time"
)

var (
	iid    = [8]byte{0x02, 0, 0, 0, 0, 0, 0xca, 0x4d}
	router = LinkLocal([8]byte{7: 0xfe})
	pfx    = Addr{0: 0xfd, 1: 0x00, 2: 0x6e, 3: 0x63}
)

func ra(src, prefix Addr, valid, preferred uint32, mtu int) []byte {
	return AppendRouterAdvert(nil, src, prefix, valid, preferred, mtu)
}

func TestSLAACPPP(t *testing.T) {
	h := NewHost(Config{MTU: 1500})
	s := NewSLAAC(h, SLAACConfig{})
	s.Start(iid, t0)
	if h.LinkLocal() != LinkLocal(iid) {
		t.Fatalf("link-local %v", h.LinkLocal())
	}
	// A Router Solicitation goes out from the link-local address.
	s.Poll(t0)
	hd, m := checkICMP(t, out(t, h))
	if m[0] != TypeRouterSol || hd.Dst() != AllRouters || hd.Src() != LinkLocal(iid) || hd.HopLimit() != 255 {
		t.Fatalf("RS %x", m)
	}
	h.Input(ra(router, pfx, 3600, 1800, 1400), t0)
	want := WithPrefix(pfx, iid)
	if h.Global() != want || h.MTU() != 1400 || s.Stats().AddrsConfigured != 1 {
		t.Fatalf("global %v mtu %d %+v", h.Global(), h.MTU(), s.Stats())
	}
	// No more solicitations after an advertisement.
	s.Poll(t0.Add(5 * time.Second))
	if p := out(t, h); p != nil {
		t.Fatalf("RS after RA: %x", p)
	}
	// The two-hour rule (RFC 4862 §5.5.3 e): an advertisement cannot cut
	// the remaining lifetime below two hours... here it is 1 h, so a
	// shorter one is ignored; a longer one extends it.
	h.Input(ra(router, pfx, 60, 60, 0), t0)
	if s.addrs[1].valid != t0.Add(3600*time.Second) {
		t.Fatalf("valid %v", s.addrs[1].valid)
	}
	h.Input(ra(router, pfx, 7200, 7200, 0), t0)
	if s.addrs[1].valid != t0.Add(7200*time.Second) {
		t.Fatalf("valid %v", s.addrs[1].valid)
	}
	// Expiry.
	s.Poll(t0.Add(7201 * time.Second))
	if h.Global() != (Addr{}) || s.Stats().AddrsExpired != 1 || h.LinkLocal() == (Addr{}) {
		t.Fatalf("after expiry: %v %+v", h.Global(), s.Stats())
	}
}

// TestSLAACIgnored: RFC 4861 §6.1.2 and RFC 4862 §5.5.3 — invalid
// advertisements and unusable prefixes configure nothing.
func TestSLAACIgnored(t *testing.T) {
	bad := func(f func(p []byte)) []byte {
		p := ra(router, pfx, 3600, 1800, 0)
		f(p)
		m := p[HeaderLen:]
		m[2], m[3] = 0, 0
		h, _ := Parse(p)
		c := icmpSum(h)
		binary.BigEndian.PutUint16(m[2:], c)
		return p
	}
	for _, tc := range []struct {
		name string
		p    []byte
		bad  bool // RABad, else PrefixIgnored
	}{
		{"global source", ra(gpeer, pfx, 3600, 1800, 0), true},
		{"zero-length option", bad(func(p []byte) { p[HeaderLen+17] = 0 }), true},
		{"A flag off", bad(func(p []byte) { p[HeaderLen+19] = 0x80 }), false},
		{"link-local prefix", ra(router, LinkLocal([8]byte{}), 3600, 1800, 0), false},
		{"preferred > valid", ra(router, pfx, 100, 200, 0), false},
		{"prefix length 48", bad(func(p []byte) { p[HeaderLen+18] = 48 }), false},
		{"valid lifetime 0", ra(router, pfx, 0, 0, 0), false},
	} {
		h := NewHost(Config{})
		s := NewSLAAC(h, SLAACConfig{Solicitations: -1})
		s.Start(iid, t0)
		h.Input(tc.p, t0)
		st := s.Stats()
		if h.Global() != (Addr{}) || tc.bad && st.RABad != 1 || !tc.bad && st.PrefixIgnored != 1 {
			t.Errorf("%s: global %v, %+v", tc.name, h.Global(), st)
		}
	}
	// An MTU option above the link's MTU or below 1280 is not applied.
	h := NewHost(Config{MTU: 1500})
	s := NewSLAAC(h, SLAACConfig{Solicitations: -1})
	s.Start(iid, t0)
	h.Input(ra(router, pfx, 3600, 1800, 9000), t0)
	h.Input(ra(router, pfx, 3600, 1800, 1000), t0)
	if h.MTU() != 1500 || s.Stats().MTUSet != 0 {
		t.Fatalf("MTU %d", h.MTU())
	}
}

func icmpSum(h Header) uint16 {
	m := h.Payload()
	return ^foldSum(m, PseudoHeaderSum(h.Src(), h.Dst(), ProtoICMP, len(m)))
}

// TestSLAACEthernet: with DAD (RFC 4862 §5.4), the link-local address is
// tentative until RetransTimer after its probe; a conflicting probe from
// another node makes it a duplicate.
func TestSLAACEthernet(t *testing.T) {
	h := NewHost(Config{})
	h.SetLinkLayer([6]byte{2, 0, 0, 0, 0, 1})
	s := NewSLAAC(h, SLAACConfig{DupAddrDetectTransmits: 1})
	s.Start(iid, t0)
	next := s.Poll(t0)
	hd, m := checkICMP(t, out(t, h))
	if m[0] != TypeNeighborSol || hd.Src() != (Addr{}) || Addr(m[8:24]) != LinkLocal(iid) {
		t.Fatalf("probe %x", m)
	}
	if h.LinkLocal() != (Addr{}) || !next.Equal(t0.Add(time.Second)) {
		t.Fatalf("tentative address usable, next %v", next)
	}
	s.Poll(next)
	if h.LinkLocal() != LinkLocal(iid) {
		t.Fatal("DAD did not complete")
	}
	// RS now goes out, with the source link-layer option.
	s.Poll(next)
	_, m = checkICMP(t, out(t, h))
	if m[0] != TypeRouterSol || len(m) != 16 || m[8] != 1 {
		t.Fatalf("RS %x", m)
	}
	// A global address from an RA is tentative too; a probe from another
	// node for it: duplicate, never used.
	h.Input(ra(router, pfx, 3600, 1800, 0), next)
	g := WithPrefix(pfx, iid)
	if h.Global() != (Addr{}) || !h.ours(g, true) {
		t.Fatal("global address not tentative")
	}
	h.Input(ns(Addr{}, SolicitedNode(g), g, 255), next)
	s.Poll(next.Add(3 * time.Second))
	if h.Global() != (Addr{}) || h.ours(g, true) || s.addrs[1].addr != (Addr{}) {
		t.Fatal("duplicate global address kept")
	}
}
