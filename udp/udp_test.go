package udp

import (
	"bytes"
	"encoding/binary"
	"math/rand"
	"testing"
	"time"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/checksum"
	"gvisor.dev/gvisor/pkg/tcpip/header"

	"netcard/ipv4"
)

var (
	a1 = ipv4.Addr{10, 0, 0, 1}
	a2 = ipv4.Addr{10, 0, 0, 2}
	t0 = time.Unix(1_000_000, 0)
)

// TestGoldenChecksum checks a vector computed by hand:
// pseudo-header 0a00+0001+0a00+0002+0011+000a, header 04d2+0035+000a+0000,
// payload 6869 ("hi") sum to 8198, so the checksum is ^8198 = 7e67.
func TestGoldenChecksum(t *testing.T) {
	got := Append(nil, a1, a2, 1234, 53, []byte("hi"))
	want := []byte{0x04, 0xd2, 0x00, 0x35, 0x00, 0x0a, 0x7e, 0x67, 'h', 'i'}
	if !bytes.Equal(got, want) {
		t.Fatalf("got %x want %x", got, want)
	}
	h, err := Parse(got)
	if err != nil || !h.VerifyChecksum(a1, a2) || h.SrcPort() != 1234 || h.DstPort() != 53 || h.Length() != 10 ||
		h.Checksum() != 0x7e67 || string(h.Payload()) != "hi" {
		t.Fatal("parse of golden datagram")
	}
	if h.VerifyChecksum(a1, ipv4.Addr{10, 0, 0, 3}) {
		t.Fatal("checksum ignores the pseudo-header")
	}
}

func TestInteropGVisor(t *testing.T) {
	r := rand.New(rand.NewSource(2))
	for i := 0; i < 200; i++ {
		p := make([]byte, r.Intn(600))
		r.Read(p)
		src := ipv4.Addr{byte(r.Intn(223) + 1), byte(r.Int()), byte(r.Int()), byte(r.Int())}
		ours := Append(nil, src, a2, uint16(r.Int()), uint16(r.Int()), p)
		u := header.UDP(ours)
		xsum := checksum.Checksum(p, 0)
		if !u.IsChecksumValid(tcpip.AddrFrom4(src), tcpip.AddrFrom4(a2), xsum) {
			t.Fatalf("gVisor rejects our checksum (len %d)", len(p))
		}
		// gVisor-built datagram verified by us.
		g := make([]byte, 8+len(p))
		gu := header.UDP(g)
		gu.Encode(&header.UDPFields{SrcPort: 7, DstPort: 9, Length: uint16(len(g))})
		copy(g[8:], p)
		ph := header.PseudoHeaderChecksum(header.UDPProtocolNumber, tcpip.AddrFrom4(src), tcpip.AddrFrom4(a2), uint16(len(g)))
		gu.SetChecksum(^gu.CalculateChecksum(checksum.Combine(ph, xsum)))
		h, err := Parse(g)
		if err != nil || !h.VerifyChecksum(src, a2) {
			t.Fatalf("we reject gVisor's checksum %x", g[:8])
		}
	}
}

func TestParseErrors(t *testing.T) {
	if _, err := Parse([]byte{1, 2, 3}); err != ErrShort {
		t.Fatal(err)
	}
	if _, err := Parse([]byte{0, 1, 0, 2, 0, 7, 0, 0}); err != ErrLength {
		t.Fatal(err)
	}
	if _, err := Parse([]byte{0, 1, 0, 2, 0, 9, 0, 0}); err != ErrLength {
		t.Fatal(err)
	}
	h, err := Parse([]byte{0, 1, 0, 2, 0, 9, 0, 0, 'x', 'p', 'a', 'd'})
	if err != nil || string(h.Payload()) != "x" {
		t.Fatal("trailing bytes not trimmed")
	}
	if !h.VerifyChecksum(a1, a2) {
		t.Fatal("zero checksum (none) rejected")
	}
}

func newStack() *Stack {
	return NewStack(Config{MaxSockets: 2, QueueBytes: 64, SendBytes: 64, Rand: rand.New(rand.NewSource(3))})
}

func TestStackReceive(t *testing.T) {
	s := newStack()
	c, err := s.Bind(5353)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Bind(5353); err != ErrPortInUse {
		t.Fatal("double bind")
	}
	if !s.Wants(5353) || s.Wants(5354) {
		t.Fatal("Wants")
	}
	d := Append(nil, a1, a2, 1000, 5353, []byte("hello world, this is 30 bytes"))
	if !s.Input(a1, a2, d, t0) {
		t.Fatal("refused")
	}
	if !s.Input(a1, a2, Append(nil, a1, a2, 1001, 5353, []byte("second")), t0) {
		t.Fatal("refused")
	}
	// Queue of 64 bytes holds 8+29 and 8+6; a third does not fit.
	s.Input(a1, a2, Append(nil, a1, a2, 1002, 5353, []byte("third datagram!!")), t0)
	if st := s.Stats(); st.InQueueFull != 1 || st.InDelivered != 2 || c.Pending() != 2 {
		t.Fatalf("stats %+v", st)
	}
	buf := make([]byte, 100)
	n, from, port, ok := c.RecvFrom(buf)
	if !ok || string(buf[:n]) != "hello world, this is 30 bytes" || from != a1 || port != 1000 {
		t.Fatalf("recv %q %v %d", buf[:n], from, port)
	}
	// Now the third fits, wrapping around the ring.
	s.Input(a1, a2, Append(nil, a1, a2, 1002, 5353, []byte("third datagram!!")), t0)
	n, _, port, _ = c.RecvFrom(buf[:3])
	if string(buf[:n]) != "sec" || port != 1001 || s.Stats().RecvTruncated != 1 {
		t.Fatal("truncated read")
	}
	n, _, _, _ = c.RecvFrom(buf)
	if string(buf[:n]) != "third datagram!!" {
		t.Fatalf("wrapped datagram %q", buf[:n])
	}
	if _, _, _, ok := c.RecvFrom(buf); ok {
		t.Fatal("empty queue returned data")
	}
	// Drops.
	bad := Append(nil, a1, a2, 1000, 5353, []byte("x"))
	bad[8]++
	s.Input(a1, a2, bad, t0)
	if s.Input(a1, a2, Append(nil, a1, a2, 1, 9999, nil), t0) {
		t.Fatal("unbound port accepted")
	}
	s.Input(a1, a2, []byte{1}, t0)
	s.Input(a1, a2, []byte{0, 1, 0, 2, 0, 99, 0, 0}, t0)
	if st := s.Stats(); st.InBadChecksum != 1 || st.InNoPort != 1 || st.InShort != 1 || st.InBadLength != 1 {
		t.Fatalf("stats %+v", st)
	}
	c.Close()
	if s.Wants(5353) {
		t.Fatal("closed socket still bound")
	}
}

func TestStackSend(t *testing.T) {
	s := newStack()
	c, _ := s.Bind(0)
	if p := c.LocalPort(); p < 49152 {
		t.Fatalf("ephemeral port %d", p)
	}
	c2, _ := s.Bind(0)
	if c2.LocalPort() == c.LocalPort() {
		t.Fatal("same ephemeral port")
	}
	if _, err := s.Bind(0); err != ErrNoSockets {
		t.Fatal("socket limit")
	}
	if err := c.SendTo(a1, 53, []byte("query-one")); err != nil {
		t.Fatal(err)
	}
	if err := c2.SendTo(a1, 54, []byte("query-two-longer-payload")); err != nil {
		t.Fatal(err)
	}
	if err := c.SendTo(a1, 53, []byte("no room for this one...")); err != ErrQueueFull {
		t.Fatal(err)
	}
	if err := c.SendTo(a1, 53, make([]byte, 100)); err != ErrTooBig {
		t.Fatal(err)
	}
	buf := make([]byte, 1500)
	n, remote := s.Output(buf, a2, t0)
	h, err := Parse(buf[:n])
	if err != nil || remote != a1 || h.DstPort() != 53 || h.SrcPort() != c.LocalPort() || string(h.Payload()) != "query-one" || !h.VerifyChecksum(a2, a1) || h.Checksum() == 0 {
		t.Fatalf("first datagram %x", buf[:n])
	}
	// The second does not fit a 20-byte buffer: dropped, counted.
	if n, _ := s.Output(buf[:20], a2, t0); n != 0 || s.Stats().OutTooBig != 1 {
		t.Fatal("oversized datagram not dropped")
	}
	// Wrap-around of the send ring.
	for i := 0; i < 20; i++ {
		msg := bytes.Repeat([]byte{byte(i)}, 5+i%13)
		if err := c.SendTo(a1, 53, msg); err != nil {
			t.Fatal(i, err)
		}
		n, _ := s.Output(buf, a2, t0)
		h, _ := Parse(buf[:n])
		if !bytes.Equal(h.Payload(), msg) || !h.VerifyChecksum(a2, a1) {
			t.Fatalf("round %d", i)
		}
	}
	c.Close()
	if err := c.SendTo(a1, 53, nil); err != ErrClosed {
		t.Fatal("send on closed socket")
	}
}

func TestAllocs(t *testing.T) {
	s := NewStack(Config{})
	c, _ := s.Bind(4000)
	d := Append(nil, a1, a2, 1000, 4000, make([]byte, 200))
	buf := make([]byte, 1500)
	payload := make([]byte, 200)
	allocs := testing.AllocsPerRun(1000, func() {
		s.Input(a1, a2, d, t0)
		c.RecvFrom(buf)
		if err := c.SendTo(a1, 1000, payload); err != nil {
			panic(err)
		}
		s.Output(buf, a2, t0)
	})
	if allocs != 0 {
		t.Fatalf("%v allocs", allocs)
	}
}

// TestWithHost runs the stack under ipv4.Host: delivery, port unreachable
// through the early filter, and the datagram's IP header.
func TestWithHost(t *testing.T) {
	h := ipv4.NewHost(ipv4.Config{Local: a2})
	s := NewStack(Config{})
	h.Register(ipv4.ProtoUDP, s)
	c, _ := s.Bind(7)
	pkt := make([]byte, 20)
	ipv4.PutHeader(pkt, &ipv4.Fields{TotalLen: 20 + 12, TTL: 64, Protocol: ipv4.ProtoUDP, Src: a1, Dst: a2})
	pkt = Append(pkt, a1, a2, 3333, 7, []byte("echo"))
	h.Input(pkt, t0)
	buf := make([]byte, 100)
	n, from, port, ok := c.RecvFrom(buf)
	if !ok || string(buf[:n]) != "echo" || from != a1 || port != 3333 {
		t.Fatal("not delivered through the host")
	}
	c.SendTo(from, port, buf[:n])
	out := make([]byte, 1500)
	n = h.Output(out, t0)
	ip, err := ipv4.Parse(out[:n])
	if err != nil || ip.Dst() != a1 || ip.Protocol() != ipv4.ProtoUDP || ip.DF() {
		t.Fatal("bad IP header")
	}
	u, _ := Parse(ip.Payload())
	if u.DstPort() != 3333 || !u.VerifyChecksum(a2, a1) {
		t.Fatal("bad UDP reply")
	}
	// Unbound port: the host's filter drops it and answers port unreachable.
	binary.BigEndian.PutUint16(pkt[22:24], 8)
	h.Input(pkt, t0)
	n = h.Output(out, t0)
	if n == 0 || out[20] != 3 || out[21] != 3 || h.Stats().InFiltered != 1 {
		t.Fatalf("no port unreachable: %x", out[:n])
	}
}

func BenchmarkReceive(b *testing.B) {
	s := NewStack(Config{})
	c, _ := s.Bind(4000)
	d := Append(nil, a1, a2, 1000, 4000, make([]byte, 512))
	buf := make([]byte, 1500)
	b.SetBytes(512)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		s.Input(a1, a2, d, t0)
		c.RecvFrom(buf)
	}
}

func BenchmarkSend(b *testing.B) {
	s := NewStack(Config{})
	c, _ := s.Bind(4000)
	payload := make([]byte, 512)
	buf := make([]byte, 1500)
	b.SetBytes(512)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		c.SendTo(a1, 1000, payload)
		s.Output(buf, a2, t0)
	}
}

// TestRingModel checks the receive and send rings against a simple queue
// model with random sizes, so records wrap at every possible offset.
func TestRingModel(t *testing.T) {
	r := rand.New(rand.NewSource(9))
	s := NewStack(Config{MaxSockets: 1, QueueBytes: 97, SendBytes: 89})
	c, _ := s.Bind(9)
	var rxModel, txModel [][]byte
	buf := make([]byte, 200)
	for i := 0; i < 20000; i++ {
		p := make([]byte, r.Intn(60))
		r.Read(p)
		switch r.Intn(4) {
		case 0:
			s.Input(a1, a2, Append(nil, a1, a2, 1, 9, p), t0)
			used := 0
			for _, m := range rxModel {
				used += rxMeta + len(m)
			}
			if used+rxMeta+len(p) <= 97 {
				rxModel = append(rxModel, p)
			}
		case 1:
			n, _, _, ok := c.RecvFrom(buf)
			if ok != (len(rxModel) > 0) {
				t.Fatalf("step %d: recv ok=%v with %d queued", i, ok, len(rxModel))
			}
			if ok {
				if !bytes.Equal(buf[:n], rxModel[0]) {
					t.Fatalf("step %d: recv mismatch", i)
				}
				rxModel = rxModel[1:]
			}
		case 2:
			err := c.SendTo(a1, 7, p)
			used := 0
			for _, m := range txModel {
				used += txMeta + len(m)
			}
			if (err == nil) != (used+txMeta+len(p) <= 89) {
				t.Fatalf("step %d: send err %v with %d used", i, err, used)
			}
			if err == nil {
				txModel = append(txModel, p)
			}
		case 3:
			n, _ := s.Output(buf, a2, t0)
			if (n > 0) != (len(txModel) > 0) {
				t.Fatalf("step %d: output %d with %d queued", i, n, len(txModel))
			}
			if n > 0 {
				h, _ := Parse(buf[:n])
				if !bytes.Equal(h.Payload(), txModel[0]) {
					t.Fatalf("step %d: output mismatch", i)
				}
				txModel = txModel[1:]
			}
		}
	}
}

// hostPair is a Host with this Stack registered and a ready-made incoming
// datagram for port 4000.
func hostPair(tb testing.TB, size int) (*ipv4.Host, *Socket, []byte) {
	h := ipv4.NewHost(ipv4.Config{Local: a2})
	s := NewStack(Config{QueueBytes: 2048})
	h.Register(ipv4.ProtoUDP, s)
	c, err := s.Bind(4000)
	if err != nil {
		tb.Fatal(err)
	}
	pkt := make([]byte, ipv4.HeaderLen)
	ipv4.PutHeader(pkt, &ipv4.Fields{TotalLen: ipv4.HeaderLen + HeaderLen + size, TTL: 64, Protocol: ipv4.ProtoUDP, Src: a1, Dst: a2})
	pkt = Append(pkt, a1, a2, 1000, 4000, make([]byte, size))
	return h, c, pkt
}

func TestAllocsThroughHost(t *testing.T) {
	h, c, pkt := hostPair(t, 200)
	buf := make([]byte, 1500)
	allocs := testing.AllocsPerRun(1000, func() {
		h.Input(pkt, t0)
		n, from, port, ok := c.RecvFrom(buf)
		if !ok {
			panic("not received")
		}
		c.SendTo(from, port, buf[:n])
		if h.Output(buf, t0) != len(pkt) {
			panic("no reply")
		}
	})
	if allocs != 0 {
		t.Fatalf("%v allocs", allocs)
	}
}

func BenchmarkEchoThroughHost(b *testing.B) {
	h, c, pkt := hostPair(b, 512)
	buf := make([]byte, 1500)
	b.SetBytes(512)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		h.Input(pkt, t0)
		n, from, port, _ := c.RecvFrom(buf)
		c.SendTo(from, port, buf[:n])
		h.Output(buf, t0)
	}
}

// TestQueuesOnlyWhileBound: no queue is resident; a socket's receive queue
// lives from Bind to Close, the send queue from the first SendTo until it
// has drained with no socket bound; a bound socket's traffic allocates
// nothing more.
func TestQueuesOnlyWhileBound(t *testing.T) {
	s := NewStack(Config{MaxSockets: 2, QueueBytes: 600, SendBytes: 300})
	if s.Footprint() != 0 || s.MaxFootprint() != 2*600+300 {
		t.Fatalf("footprint %d, max %d", s.Footprint(), s.MaxFootprint())
	}
	c, err := s.Bind(0)
	if err != nil || s.Footprint() != 600 {
		t.Fatalf("after Bind: %v, footprint %d", err, s.Footprint())
	}
	if err := c.SendTo(a1, 53, make([]byte, 300)); err != ErrTooBig {
		t.Fatalf("oversized datagram: %v", err)
	}
	if err := c.SendTo(a1, 53, []byte("query")); err != nil || s.Footprint() != 900 {
		t.Fatalf("after SendTo: %v, footprint %d", err, s.Footprint())
	}
	port := c.LocalPort()
	c.Close() // the query is still sent
	if s.Footprint() != 300 || s.Wants(port) {
		t.Fatalf("after Close: footprint %d", s.Footprint())
	}
	buf := make([]byte, 100)
	if n, _ := s.Output(buf, a2, t0); n != HeaderLen+5 || s.Footprint() != 0 {
		t.Fatalf("output %d, footprint %d", n, s.Footprint())
	}
	// A datagram for the closed port is refused, not queued anywhere.
	if s.Input(a1, a2, Append(nil, a1, a2, 53, port, []byte("late")), t0) {
		t.Fatal("datagram for a closed socket accepted")
	}
	// A lookup's worth: Bind, send, receive, Close — four allocations (the
	// socket table and its socket slice, the two queues), none per datagram.
	d := Append(nil, a1, a2, 53, 4000, []byte("answer"))
	allocs := testing.AllocsPerRun(100, func() {
		c, _ := s.Bind(4000)
		c.SendTo(a1, 53, []byte("query"))
		s.Output(buf, a2, t0)
		s.Input(a1, a2, d, t0)
		if n, _, _, ok := c.RecvFrom(buf); !ok || string(buf[:n]) != "answer" {
			panic("not received")
		}
		c.Close()
	})
	if allocs != 4 || s.Footprint() != 0 || s.Lent() != 0 {
		t.Fatalf("%v allocations per lookup, footprint %d after", allocs, s.Footprint())
	}
}
