package ipv4

import (
	"testing"
	"time"
)

// TestEchoFloodDoesNotStarveTransports: with an echo request arriving before
// every Output (a ping flood) and a transport that always has a segment,
// the packets out alternate — the flood takes half the line, never all.
func TestEchoFloodDoesNotStarveTransports(t *testing.T) {
	h := newHost(t, Config{ICMPRatePerSec: -1})
	tr := &fakeT{remote: peerIP}
	h.Register(ProtoTCP, tr)
	req := gvPacket(peerIP, cardIP, 1, 1, 0, 0, gvEcho(1, 1, make([]byte, 1000)))
	icmp, tcp := 0, 0
	now := t0
	for i := 0; i < 100; i++ {
		now = now.Add(time.Millisecond)
		h.Input(req, now)
		tr.out = append(tr.out, make([]byte, 20))
		p := output(h, now)
		switch {
		case len(p) < HeaderLen:
			t.Fatalf("packet %d: nothing sent", i)
		case p[9] == 1:
			icmp++
		default:
			tcp++
		}
	}
	if tcp < 45 || icmp < 45 {
		t.Fatalf("%d ICMP and %d transport packets out of 100", icmp, tcp)
	}
}
