package ppp

import "testing"

// TestIPFamilyMatchesProtocol: a frame's PPP protocol decides the family
// its packet goes to (RFC 1332 §1 for 0x0021, RFC 5072 §3 for 0x0057, sent
// only with IPV6CP Opened): an IPv6 packet inside an IPv4 frame, or an
// IPv4 one inside an IPv6 frame, is discarded, not handed to the card's
// other stack (which dispatches on the version nibble) behind the back of
// its control protocol.
func TestIPFamilyMatchesProtocol(t *testing.T) {
	v6 := append([]byte{0x60}, make([]byte, 39)...)
	v4 := append([]byte{0x45}, make([]byte, 19)...)
	for _, tc := range []struct {
		name  string
		l     *Link
		proto uint16
		pkt   []byte
	}{
		{"IPv6 in 0x0021 (IPCP up, no IPV6CP)", fuzzVJLink(t), ProtoIP, v6},
		{"IPv4 in 0x0057 (IPV6CP up, no IPCP)", fuzzUp6(t), ProtoIPv6, v4},
	} {
		var got int
		tc.l.fu().deliver = func([]byte) { got++ }
		before := tc.l.Stats().Discarded
		tc.l.Input(encodeFrame(append([]byte{0xff, 0x03, byte(tc.proto >> 8), byte(tc.proto)}, tc.pkt...), 0xffffffff), testNow)
		if got != 0 || tc.l.Stats().Discarded != before+1 {
			t.Errorf("%s: delivered %d, discarded %d", tc.name, got, tc.l.Stats().Discarded-before)
		}
	}
}

// outFrames runs l.Output until it is quiet and returns the protocols of
// the frames it sent.
func outFrames(t *testing.T, l *Link) []uint16 {
	var buf [2048]byte
	var protos []uint16
	d := deframer{buf: make([]byte, 2000), accm: 0}
	for i := 0; i < 100; i++ {
		n := l.Output(buf[:], testNow)
		if n == 0 {
			return protos
		}
		for in := buf[:n]; len(in) > 0; {
			m, r := d.next(in)
			in = in[m:]
			if r == rxFrame {
				f := d.frame()
				p := f[2:]
				if f[0] != 0xff { // address and control compressed
					p = f
				}
				proto := uint16(p[0])
				if proto&1 == 0 {
					proto = proto<<8 | uint16(p[1])
				}
				protos = append(protos, proto)
			}
		}
	}
	t.Fatal("link never stops sending")
	return nil
}

// TestIPv6OnlyLinkSends: with IPV6CP Opened and IPCP not (a peer that
// runs IPv6 only), the IPv6 packets the card has to send go out (RFC 5072
// does not depend on IPCP), and an IPv4 packet is not sent while IPCP is
// not Opened (RFC 1661 §3.4: network-layer packets only with their NCP
// Opened).
func TestIPv6OnlyLinkSends(t *testing.T) {
	l := fuzzUp6(t)
	queue := [][]byte{
		append([]byte{0x45}, make([]byte, 19)...),
		append([]byte{0x60}, make([]byte, 39)...),
	}
	l.pull = true
	l.fu().pull = func(dst []byte) int {
		if len(queue) == 0 {
			return 0
		}
		n := copy(dst, queue[0])
		queue = queue[1:]
		return n
	}
	before := l.Stats().Discarded
	got := outFrames(t, l)
	if len(got) != 1 || got[0] != ProtoIPv6 || l.Stats6().IP6Out != 1 || l.Stats().IPOut != 0 || l.Stats().Discarded != before+1 {
		t.Fatalf("frames out %#04x (IPv6 out %d, IPv4 out %d, discarded %d)", got, l.Stats6().IP6Out, l.Stats().IPOut, l.Stats().Discarded-before)
	}
}
