package udp

import (
	"encoding/binary"
	"testing"
	"time"

	"netcard/ipv4"
	"netcard/ipv6"
)

var (
	me6   = ipv6.Addr{0: 0xfd, 15: 1}
	peer6 = ipv6.Addr{0: 0xfd, 15: 2}
	t6    = time.Unix(1_700_000_000, 0)
)

// TestIPv6Datagrams: one socket serves both families; IPv6 datagrams carry
// the IPv6 pseudo-header checksum (RFC 8200 §8.1), come out of Output6
// only, and keep their 16-byte addresses through the queues; an IPv4
// datagram queued behind waits for Output.
func TestIPv6Datagrams(t *testing.T) {
	s := NewStack(Config{})
	c, err := s.Bind(5353)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.SendTo6(me6, peer6, 53, []byte("six")); err != nil {
		t.Fatal(err)
	}
	if err := c.SendTo(ipv4.Addr{10, 0, 0, 2}, 53, []byte("four")); err != nil {
		t.Fatal(err)
	}
	var buf [256]byte
	if n, _ := s.Output(buf[:], ipv4.Addr{10, 0, 0, 1}, t6); n != 0 {
		t.Fatal("IPv6 datagram left through Output")
	}
	n, src, dst := s.Output6(buf[:], t6)
	h, err := Parse(buf[:n])
	if err != nil || src != me6 || dst != peer6 || string(h.Payload()) != "six" || !h.VerifyChecksum6(me6, peer6) || h.VerifyChecksum6(ipv6.From4(ipv4.Addr{10, 0, 0, 1}), ipv6.From4(ipv4.Addr{10, 0, 0, 2})) {
		t.Fatalf("IPv6 datagram %x %v→%v", buf[:n], src, dst)
	}
	if n, _, _ := s.Output6(buf[:], t6); n != 0 {
		t.Fatal("IPv4 datagram left through Output6")
	}
	if n, r := s.Output(buf[:], ipv4.Addr{10, 0, 0, 1}, t6); n != HeaderLen+4 || r != (ipv4.Addr{10, 0, 0, 2}) {
		t.Fatal("IPv4 datagram lost")
	}
	// Receive both families on the one socket.
	d6 := make([]byte, HeaderLen+5)
	copy(d6[HeaderLen:], "hello")
	PutHeader6(d6, peer6, me6, 53, 5353)
	if !s.Input6(peer6, me6, d6, t6) {
		t.Fatal("IPv6 datagram refused")
	}
	d4 := Append(nil, ipv4.Addr{10, 0, 0, 2}, ipv4.Addr{10, 0, 0, 1}, 53, 5353, []byte("hi"))
	s.Input(ipv4.Addr{10, 0, 0, 2}, ipv4.Addr{10, 0, 0, 1}, d4, t6)
	n, from, port, ok := c.RecvFrom6(buf[:])
	if !ok || from != peer6 || port != 53 || string(buf[:n]) != "hello" {
		t.Fatalf("got %q from %v:%d", buf[:n], from, port)
	}
	n, from4, _, ok := c.RecvFrom(buf[:])
	if !ok || from4 != (ipv4.Addr{10, 0, 0, 2}) || string(buf[:n]) != "hi" {
		t.Fatalf("got %q from %v", buf[:n], from4)
	}
}

// TestIPv6ZeroChecksum: RFC 8200 §8.1 — over IPv6 a zero UDP checksum is
// not allowed and the datagram is dropped (over IPv4 it means "none").
func TestIPv6ZeroChecksum(t *testing.T) {
	s := NewStack(Config{})
	if _, err := s.Bind(5353); err != nil {
		t.Fatal(err)
	}
	d := make([]byte, HeaderLen+2)
	binary.BigEndian.PutUint16(d[0:], 53)
	binary.BigEndian.PutUint16(d[2:], 5353)
	binary.BigEndian.PutUint16(d[4:], uint16(len(d)))
	s.Input6(peer6, me6, d, t6)
	if st := s.Stats(); st.InBadChecksum != 1 || st.InDelivered != 0 {
		t.Fatalf("%+v", st)
	}
	s.Input(ipv4.Addr{10, 0, 0, 2}, ipv4.Addr{10, 0, 0, 1}, d, t6)
	if st := s.Stats(); st.InDelivered != 1 {
		t.Fatalf("IPv4 datagram without checksum refused: %+v", st)
	}
}
