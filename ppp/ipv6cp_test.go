package ppp

import (
	"testing"
	"time"
)

// with6 turns IPv6 on for an end's config and records IPv6 packets.
func with6(cfg Config) Config {
	cfg.IPv6 = &IPv6Config{}
	return cfg
}

func TestIPV6CPUp(t *testing.T) {
	h := newHarness(t, with6(cardConfig()), with6(hostConfig()))
	h.open()
	if !h.run(30*time.Second, func() bool { return h.a.l.Up6() && h.b.l.Up6() && h.bothUp() }) {
		t.Fatalf("IPV6CP not up: card %v host %v", h.a.l.Stats6(), h.b.l.Stats6())
	}
	h.b.queue = append(h.b.queue, append([]byte{0x60}, "hello six"...))
	h.run(time.Second, func() bool { return len(h.a.got) > 0 })
	got6 := h.a.got
	a, b := h.a.l, h.b.l
	if a.LocalIID() == ([8]byte{}) || a.LocalIID() == b.LocalIID() {
		t.Fatalf("IIDs %x %x: must be non-zero and differ (RFC 5072 §4.1)", a.LocalIID(), b.LocalIID())
	}
	if a.LocalIID() != b.PeerIID() || b.LocalIID() != a.PeerIID() {
		t.Fatalf("IIDs disagree: card %x/%x host %x/%x", a.LocalIID(), a.PeerIID(), b.LocalIID(), b.PeerIID())
	}
	if len(got6) != 1 || string(got6[0][1:]) != "hello six" || a.Stats6().IP6In != 1 || b.Stats6().IP6Out != 1 || a.Stats().IPIn != 0 {
		t.Fatalf("IPv6 packet: %q, stats %+v", got6, a.Stats6())
	}
}

// TestIPV6CPCheckCI: the peer's identifier is judged per RFC 5072 §4.1 —
// zero or equal to ours gets a Nak with a different non-zero suggestion;
// a malformed length or any other option (IPv6-Compression-Protocol) is
// rejected.
func TestIPV6CPCheckCI(t *testing.T) {
	l := New(Config{IPv6: &IPv6Config{LocalIID: [8]byte{1, 2, 3, 4, 5, 6, 7, 8}}})
	hd := (*ipv6cpHandler)(l)
	hd.resetCI()
	var nak [16]byte
	for _, tc := range []struct {
		name string
		typ  byte
		val  []byte
		want byte
	}{
		{"zero", optIfaceID, make([]byte, 8), codeConfNak},
		{"ours", optIfaceID, []byte{1, 2, 3, 4, 5, 6, 7, 8}, codeConfNak},
		{"good", optIfaceID, []byte{9, 9, 9, 9, 9, 9, 9, 9}, codeConfAck},
		{"short", optIfaceID, []byte{1, 2, 3}, codeConfRej},
		{"compression", 2, []byte{0, 0x4f}, codeConfRej},
	} {
		v, n := hd.checkCI(tc.typ, tc.val, nak[:])
		if v != tc.want {
			t.Errorf("%s: verdict %d, want %d", tc.name, v, tc.want)
		}
		if v == codeConfNak {
			s := [8]byte(nak[2:10])
			if n != 10 || nak[0] != optIfaceID || s == ([8]byte{}) || s == l.v6.iid {
				t.Errorf("%s: Nak suggests %x (n=%d)", tc.name, s, n)
			}
		}
	}
	// A Nak of ours: a configured identifier is kept; a random one takes
	// the suggestion unless it is zero.
	hd.nakCI(optIfaceID, []byte{7, 7, 7, 7, 7, 7, 7, 7})
	if l.v6.iid != l.cfg.IPv6.LocalIID {
		t.Fatalf("configured IID replaced by a Nak")
	}
	r := New(with6(Config{}))
	rh := (*ipv6cpHandler)(r)
	rh.resetCI()
	rh.nakCI(optIfaceID, []byte{7, 7, 7, 7, 7, 7, 7, 7})
	if r.v6.iid != [8]byte{7, 7, 7, 7, 7, 7, 7, 7} {
		t.Fatalf("suggestion not taken: %x", r.v6.iid)
	}
	rh.nakCI(optIfaceID, make([]byte, 8))
	if r.v6.iid == ([8]byte{}) {
		t.Fatal("zero suggestion taken")
	}
}

// TestIPV6CPRejected: a peer without IPv6 answers IPV6CP with a
// Protocol-Reject; IPV6CP stops and IPv4 stays up (the link is not closed
// for want of IPv6).
func TestIPV6CPRejected(t *testing.T) {
	h := newHarness(t, cardConfig(), with6(hostConfig()))
	h.open()
	if !h.run(30*time.Second, func() bool { return h.bothUp() && h.b.l.Stats6().IPV6CPState == Stopped }) {
		t.Fatalf("host IPV6CP %v, up %v", h.b.l.Stats6().IPV6CPState, h.bothUp())
	}
	if h.a.l.Stats().ProtoRejectsSent == 0 || h.b.l.Stats().ProtoRejectsRecv == 0 {
		t.Fatalf("no Protocol-Reject: %+v", h.a.l.Stats())
	}
	h.run(10*time.Second, func() bool { return false })
	if !h.bothUp() || h.b.l.Up6() {
		t.Fatalf("after reject: up %v up6 %v", h.bothUp(), h.b.l.Up6())
	}
}

// fuzzUp6 returns a card link with LCP and IPV6CP Opened.
func fuzzUp6(t testing.TB) *Link {
	l := scriptLink(t, Config{IPv6: &IPv6Config{}}, "020600000000050601020304")
	ackOwn(t, l, ProtoIPV6CP)
	l.Input(encodeFrame(unhex("ff038057010100"+"0e"+"010a0011223344556677"), 0xffffffff), testNow)
	if !l.Up6() {
		t.Fatalf("scripted IPV6CP not up: %v", l.Stats6().IPV6CPState)
	}
	drain(l)
	return l
}

// FuzzIPV6CP parses arbitrary IPV6CP packets while negotiating and opened,
// then checks the link still carries IPv6.
func FuzzIPV6CP(f *testing.F) {
	for _, s := range []string{
		"0101000e010a0011223344556677", // pppd's request
		"0101000e010a0000000000000000", // zero identifier
		"0301000e010a1122334455667788", // Nak with a suggestion
		"0401000a0206004f0000",         // Reject of compression
		"0101000c010a00112233",         // truncated option
		"05010004", "06010004", "07010008ff010004",
	} {
		f.Add(unhex(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		wire := encodeFrame(append([]byte{0xff, 0x03, 0x80, 0x57}, data...), 0xffffffff)
		l := scriptLink(t, Config{IPv6: &IPv6Config{}}, "020600000000050601020304")
		l.Input(wire, testNow)
		drain(l)
		l.Poll(testNow.Add(10 * time.Second))
		drain(l)
		l = fuzzUp6(t)
		l.Input(wire, testNow)
		drain(l)
		l.Poll(testNow.Add(10 * time.Second))
		drain(l)
		if l.Up6() && (l.LocalIID() == ([8]byte{}) || l.LocalIID() == l.PeerIID()) {
			t.Fatalf("IPV6CP up with identifiers %x %x", l.LocalIID(), l.PeerIID())
		}
	})
}
