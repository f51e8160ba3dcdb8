package udp

import (
	"testing"

	"netcard/ipv4"
)

// TestNoPortSideChannel is the SADDNS attack (CVE-2020-25705) on the card's
// DNS stub: an off-path attacker spoofs a datagram from the DNS server to a
// guessed port, then sends 25 datagrams of its own to a closed port and
// counts the port unreachables it gets back from the shared ICMP token
// bucket (burst 20). Before, a closed guess drew a port unreachable to the
// server and left the attacker 19, an open one 20: the ephemeral port
// showed. Closed ports of the ephemeral range draw no port unreachable, so
// the attacker counts 20 either way; closed ports below the range are
// still answered (RFC 1122 §4.1.3.1), with or without a socket bound.
func TestNoPortSideChannel(t *testing.T) {
	server := ipv4.Addr{10, 0, 0, 53}
	attacker := ipv4.Addr{198, 51, 100, 9}
	run := func(guessOpen bool) (seen int, s *Stack, h *ipv4.Host, c *Socket) {
		s = NewStack(Config{MaxSockets: 1, QueueBytes: 600})
		h = ipv4.NewHost(ipv4.Config{Local: a2, ICMPRatePerSec: 100, ICMPBurst: 20})
		h.Register(ipv4.ProtoUDP, s)
		var err error
		if c, err = s.Bind(0); err != nil {
			t.Fatal(err)
		}
		guess := c.LocalPort()
		if !guessOpen {
			guess++
		}
		buf := make([]byte, 1500)
		pkt := func(src ipv4.Addr, sport, dport uint16) []byte {
			u := Append(nil, src, a2, sport, dport, []byte("x"))
			b := make([]byte, 20+len(u))
			ipv4.PutHeader(b, &ipv4.Fields{TotalLen: len(b), TTL: 64, Protocol: ipv4.ProtoUDP, Src: src, Dst: a2})
			copy(b[20:], u)
			return b
		}
		h.Input(pkt(server, 53, guess), t0)
		for h.Output(buf, t0) > 0 {
		}
		for i := 0; i < 25; i++ {
			h.Input(pkt(attacker, 4000, 9), t0) // port 9: closed
			if n := h.Output(buf, t0); n > 0 && buf[20] == 3 {
				seen++
			}
		}
		return seen, s, h, c
	}
	open, _, _, _ := run(true)
	closed, _, h, c := run(false)
	if open != closed {
		t.Fatalf("attacker counts %d port unreachables after an open guess, %d after a closed one", open, closed)
	}
	if open != 20 {
		t.Fatalf("attacker counts %d port unreachables, want the whole burst (20)", open)
	}
	// No socket bound: a closed ephemeral port is still not answered, a
	// closed well-known one is.
	c.Close()
	before := h.Stats().ICMPErrorsOut
	buf := make([]byte, 1500)
	u := Append(nil, a1, a2, 4000, 9, []byte("x"))
	b := make([]byte, 20+len(u))
	ipv4.PutHeader(b, &ipv4.Fields{TotalLen: len(b), TTL: 64, Protocol: ipv4.ProtoUDP, Src: a1, Dst: a2})
	copy(b[20:], u)
	h.Input(b, t0.Add(1e9))
	if n := h.Output(buf, t0.Add(1e9)); n == 0 || buf[20] != 3 || buf[21] != 3 {
		t.Fatal("no port unreachable for a closed well-known port")
	}
	u = Append(nil, a1, a2, 4000, 50000, []byte("x"))
	copy(b[20:], u)
	h.Input(b, t0.Add(1e9))
	if h.Output(buf, t0.Add(1e9)) != 0 || h.Stats().ICMPErrorsOut != before+1 {
		t.Fatal("port unreachable for a closed ephemeral port")
	}
}
