package tcp

import (
	"testing"

	"netcard/ipv4"
	"netcard/ipv6"
)

// craft6 builds a segment from src to dst (either family) with a correct
// checksum.
func craft6(src, dst ipv6.Addr, sport, dport uint16, seq uint32, flags uint8) []byte {
	b := make([]byte, 24)
	n := putHeader(b, sport, dport, seq, 0, flags, 1000, 0)
	b = b[:n]
	setChecksum(src, dst, b)
	return b
}

// TestQueuedRSTOtherFamilyDoesNotBlock: an RST owed to an IPv6 peer that
// nobody sends (IPV6CP went down: the card no longer calls Output6) must
// not hold back the IPv4 RSTs queued behind it (RFC 9293 §3.10.7.1: a
// segment to a closed port is answered with a reset).
func TestQueuedRSTOtherFamilyDoesNotBlock(t *testing.T) {
	s := NewStack(testConfig(1))
	peer6 := ipv6.Addr{0: 0xfd, 15: 9}
	s.Input6(peer6, v6A, craft6(peer6, v6A, 4000, 81, 1, FlagSYN), t0)
	src := ipv4.Addr{198, 51, 100, 7}
	s.Input(src, addrB, craft(src, addrB, 4001, 81, 1, 0, FlagSYN, 1000, nil), t0)
	out := drain(s, addrB, t0)
	if len(out) != 1 || out[0].Flags&FlagRST == 0 || out[0].DstPort != 4001 {
		t.Fatalf("IPv4 output behind a queued IPv6 RST: %+v", out)
	}
	var buf [1500]byte
	if n, _, dst := s.Output6(buf[:], t0); n == 0 || dst != peer6 {
		t.Fatalf("the IPv6 RST is still owed: n=%d to %v", n, dst)
	}
}

// TestQueuedCookieOtherFamilyDoesNotBlock: the same for SYN-cookie
// SYN-ACKs: one owed to an IPv6 peer must not hold back the IPv4 ones.
func TestQueuedCookieOtherFamilyDoesNotBlock(t *testing.T) {
	s := NewStack(testConfig(1))
	if _, err := s.Listen(80, 1); err != nil {
		t.Fatal(err)
	}
	a := ipv4.Addr{198, 51, 100, 200}
	s.Input(a, addrB, craft(a, addrB, 1000, 80, 1, 0, FlagSYN, 1000, nil), t0)
	if out := drain(s, addrB, t0); len(out) != 1 { // a half-open connection fills the backlog
		t.Fatalf("SYN-ACK of the half-open connection: %+v", out)
	}
	peer6 := ipv6.Addr{0: 0xfd, 15: 9}
	s.Input6(peer6, v6A, craft6(peer6, v6A, 4000, 80, 1, FlagSYN), t0) // cookie for IPv6
	for k := 0; k < 3; k++ {
		src := ipv4.Addr{198, 51, 100, byte(k)}
		s.Input(src, addrB, craft(src, addrB, uint16(2000+k), 80, 1, 0, FlagSYN, 1000, nil), t0)
	}
	out := drain(s, addrB, t0)
	if len(out) != 3 || out[0].DstPort != 2000 || out[2].DstPort != 2002 {
		t.Fatalf("IPv4 SYN-ACKs behind a queued IPv6 one: %+v", out)
	}
	var buf [1500]byte
	if n, _, dst := s.Output6(buf[:], t0); n == 0 || dst != peer6 {
		t.Fatalf("the IPv6 SYN-ACK is still owed: n=%d to %v", n, dst)
	}
	if st := s.Stats(); st.SynCookiesSent != 4 {
		t.Fatalf("stats %+v", st)
	}
}
