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
		tc.l.cfg.DeliverIP = func([]byte) { got++ }
		before := tc.l.Stats().Discarded
		tc.l.Input(encodeFrame(append([]byte{0xff, 0x03, byte(tc.proto >> 8), byte(tc.proto)}, tc.pkt...), 0xffffffff), testNow)
		if got != 0 || tc.l.Stats().Discarded != before+1 {
			t.Errorf("%s: delivered %d, discarded %d", tc.name, got, tc.l.Stats().Discarded-before)
		}
	}
}
