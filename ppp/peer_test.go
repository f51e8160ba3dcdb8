package ppp

import (
	"bytes"
	"encoding/hex"
	"testing"
)

// encodeFrame escapes a frame (from FF 03 or the protocol on) with FCS-16.
func encodeFrame(fr []byte, accm uint32) []byte {
	f := framer{buf: make([]byte, len(fr)+8)}
	copy(f.buf[4:], fr)
	f.load(4, 4+len(fr), accm)
	out := make([]byte, 2*len(fr)+16)
	return out[:f.emit(out)]
}

// scripted drives one Link against hand-written peer frames.
type scripted struct {
	t  *testing.T
	l  *Link
	d  deframer
	ip [][]byte
}

func newScripted(t *testing.T, cfg Config) *scripted {
	s := &scripted{t: t, d: deframer{buf: make([]byte, 2000)}}
	cfg.DeliverIP = func(p []byte) { s.ip = append(s.ip, append([]byte(nil), p...)) }
	s.l = New(cfg)
	return s
}

// out returns the frames the link sends now (no FCS).
func (s *scripted) out() [][]byte {
	var buf [4096]byte
	var frames [][]byte
	for {
		n := s.l.Output(buf[:], testNow)
		if n == 0 {
			return frames
		}
		in := buf[:n]
		for len(in) > 0 {
			m, r := s.d.next(in)
			in = in[m:]
			if r == rxFrame {
				frames = append(frames, append([]byte(nil), s.d.frame()...))
			} else if r != rxMore {
				s.t.Fatalf("link sent a bad frame: %d", r)
			}
		}
	}
}

func (s *scripted) in(hexFrame string) {
	s.l.Input(encodeFrame(unhex(hexFrame), 0xffffffff), testNow)
}

// expect checks that the link sent exactly these frames (hex, "*" = any tail).
func (s *scripted) expect(want ...string) {
	s.t.Helper()
	got := s.out()
	if len(got) != len(want) {
		s.t.Fatalf("sent %d frames, want %d:\n%s", len(got), len(want), dump(got))
	}
	for i, w := range want {
		g := hex.EncodeToString(got[i])
		if p, ok := bytes.CutSuffix([]byte(w), []byte("*")); ok {
			if !bytes.HasPrefix([]byte(g), p) {
				s.t.Fatalf("frame %d: %s, want %s", i, g, w)
			}
		} else if g != w {
			s.t.Fatalf("frame %d: %s, want %s", i, g, w)
		}
	}
}

func dump(fs [][]byte) string {
	var b bytes.Buffer
	for _, f := range fs {
		b.WriteString(hex.EncodeToString(f) + "\n")
	}
	return b.String()
}

// TestSlirpScript replays what slirp sends (lab README, measured on the
// wire): LCP with MRU/magic/PFC/ACFC, IPCP with 0.0.0.0 and Van Jacobson,
// CCP, and the address Nak of 10.0.2.15.
func TestSlirpScript(t *testing.T) {
	s := newScripted(t, Config{Rand: bytes.NewReader(bytes.Repeat([]byte{0x11, 0x22, 0x33, 0x44}, 50))})
	s.l.Input([]byte("SLiRP Ready ...\r\n"), testNow) // banner before the first flag
	s.l.Open(testNow)
	// Card LCP Conf-Req: ACCM 0, magic, PFC, ACFC.
	s.expect("ff03c021010000140206000000000506112233440702" + "0802")
	// slirp's Conf-Req: MRU 1500, magic, PFC, ACFC. The card acks it as is.
	s.in("ff03c02101010012010405dc0506deadbeef07020802")
	s.expect("ff03c02102010012010405dc0506deadbeef07020802")
	// slirp acks ours: LCP Opened, IPCP starts (addr 0, DNS 0, DNS 0), compressed header.
	s.in("ff03c021020000140206000000000506112233440702" + "0802")
	if s.l.lcp.state != Opened {
		t.Fatalf("LCP %v", s.l.lcp.state)
	}
	s.expect("8021010000160306000000008106000000008306" + "00000000")
	// slirp's IPCP Conf-Req: 0.0.0.0 and VJ (002d, max-slot 15, comp-slot 1):
	// VJ is rejected (the Reject carries only it).
	s.in("ff038021010100100306000000000206002d0f01")
	s.expect("80210401000a" + "0206002d0f01")
	// CCP Conf-Req: Protocol-Reject (LCP, full header).
	s.in("ff0380fd01010004")
	s.expect("ff03c02108*")
	// slirp asks 0.0.0.0 again: the card assigns the placeholder (slirp
	// closes IPCP if it has no address).
	s.in("ff038021010200" + "0a" + "030600000000")
	s.expect("80210302000a" + "03060a404040")
	s.in("ff038021010300" + "0a" + "03060a404040")
	s.expect("80210203000a" + "03060a404040")
	// slirp Naks our address with 10.0.2.15 and rejects the DNS options.
	s.in("ff038021030000" + "0a" + "03060a00020f")
	s.expect("8021010100160306" + "0a00020f" + "8106000000008306" + "00000000")
	s.in("ff03802104010010" + "810600000000" + "830600000000")
	s.expect("8021010200" + "0a" + "03060a00020f")
	s.in("ff0380210202000a" + "03060a00020f")
	if !s.l.Up() || s.l.LocalIP() != [4]byte{10, 0, 2, 15} || s.l.PeerIP() != PlaceholderPeerIP || s.l.DNS() != [2][4]byte{} {
		t.Fatalf("up=%v local %v peer %v dns %v", s.l.Up(), s.l.LocalIP(), s.l.PeerIP(), s.l.DNS())
	}
	// An IP packet from slirp with PFC+ACFC, then one from the card.
	s.in("21" + "450000140000000040010000" + "0a0002020a00020f")
	if len(s.ip) != 1 || len(s.ip[0]) != 20 {
		t.Fatalf("ip %v", s.ip)
	}
	st := s.l.Stats()
	if st.ProtoRejectsSent != 1 || st.BadFCS != 0 {
		t.Errorf("stats %+v", st)
	}
}

// TestPPPDScript replays pppd with require-chap: LCP Conf-Req with ACCM 0,
// CHAP-MD5, magic, PFC, ACFC; then a CHAP challenge the card must answer
// with MD5(id || secret || challenge) (checked against Python's hashlib).
func TestPPPDScript(t *testing.T) {
	s := newScripted(t, Config{User: "card", Secret: "secret",
		Rand: bytes.NewReader(bytes.Repeat([]byte{0x11, 0x22, 0x33, 0x44}, 50))})
	s.l.Open(testNow)
	s.expect("ff03c021010000140206000000000506112233440702" + "0802")
	s.in("ff03c02101010019020600000000" + "0305c22305" + "050601020304" + "07020802")
	s.expect("ff03c02102010019020600000000" + "0305c22305" + "050601020304" + "07020802")
	s.in("ff03c021020000140206000000000506112233440702" + "0802")
	// Authentication phase: no IPCP yet. An early IPCP request is discarded.
	s.in("ff038021010100" + "0a" + "03060a000202")
	s.expect()
	s.in("ff03c223010100" + "18" + "10" + "101112131415161718191a1b1c1d1e1f" + "756d6c")
	s.expect("c22302010019" + "10" + "aacca27f54fb91502be69929e1f76133" + "63617264")
	// Success: network phase; IPCP Conf-Req goes out.
	s.in("ff03c22303010004")
	s.expect("8021010000160306000000008106000000008306" + "00000000")
	// pppd sends its address; the card acks it. pppd Naks our 0.0.0.0 and DNS.
	s.in("ff038021010100" + "0a" + "03060a000202")
	s.expect("80210201000a03060a000202")
	s.in("ff038021030000" + "16" + "03060a00020f" + "810608080808" + "830608080404")
	s.expect("8021010100" + "16" + "03060a00020f" + "810608080808" + "830608080404")
	s.in("ff038021020100" + "16" + "03060a00020f" + "810608080808" + "830608080404")
	if !s.l.Up() || s.l.LocalIP() != [4]byte{10, 0, 2, 15} || s.l.PeerIP() != [4]byte{10, 0, 2, 2} ||
		s.l.DNS() != [2][4]byte{{8, 8, 8, 8}, {8, 8, 4, 4}} {
		t.Fatalf("up=%v %v %v %v", s.l.Up(), s.l.LocalIP(), s.l.PeerIP(), s.l.DNS())
	}
	// IPV6CP: Protocol-Reject. Unknown LCP code: Code-Reject. Echo: Reply with our magic.
	s.in("ff03805701010004")
	s.expect("ff03c021080" + "*")
	s.in("ff03c0212a070004")
	s.expect("ff03c0210702" + "00082a070004")
	s.in("ff03c021090500080102030" + "4")
	s.expect("ff03c0210a050008" + "11223344")
	// Terminate-Request from pppd: Ack, link down.
	s.in("ff03c02105090004")
	s.expect("ff03c02106090004")
	if s.l.Up() || s.l.lcp.state != Stopping {
		t.Fatalf("after terminate: up=%v lcp %v", s.l.Up(), s.l.lcp.state)
	}
}
