package tcp

import (
	"encoding/binary"
	"testing"
	"time"

	"netcard/ipv6"
)

var (
	v6A = ipv6.Addr{0: 0xfd, 15: 1}
	v6B = ipv6.Addr{0: 0xfd, 15: 2}
)

// pair6 is two stacks joined over IPv6 (and IPv4 for dual-stack tests).
type pair6 struct {
	a, b *Stack
	buf  [1500]byte
	now  time.Time
	segs [][]byte // IPv6 segments A → B seen, copies (when record is set)
	rec  bool
}

func newPair6(t testing.TB) *pair6 {
	return &pair6{a: NewStack(testConfig(1)), b: NewStack(testConfig(2)), now: time.Unix(1_700_000_000, 0)}
}

// shuttle moves segments both ways, each family through its own Output,
// until both stacks are quiet; IPv4 segments must never come out of
// Output6 nor IPv6 ones out of Output.
func (p *pair6) shuttle(t testing.TB) {
	for i := 0; i < 1000; i++ {
		moved := false
		for _, d := range [2]bool{true, false} {
			from, to := p.a, p.b
			if !d {
				from, to = p.b, p.a
			}
			if n, src, dst := from.Output6(p.buf[:], p.now); n > 0 {
				if src.Is4() || dst.Is4() || Checksum6(src, dst, p.buf[:n]) != 0 {
					t.Fatalf("bad IPv6 segment %v → %v", src, dst)
				}
				if d && p.rec {
					p.segs = append(p.segs, append([]byte(nil), p.buf[:n]...))
				}
				to.Input6(src, dst, p.buf[:n], p.now)
				moved = true
			}
			local, remote := addrA, addrB
			if !d {
				local, remote = addrB, addrA
			}
			if n, dst := from.Output(p.buf[:], local, p.now); n > 0 {
				if dst != remote || Checksum(local, dst, p.buf[:n]) != 0 {
					t.Fatalf("bad IPv4 segment to %v", dst)
				}
				to.Input(local, dst, p.buf[:n], p.now)
				moved = true
			}
		}
		if !moved {
			return
		}
	}
	t.Fatal("never quiet")
}

// TestIPv6Connection: a connection over IPv6 — the checksum over the IPv6
// pseudo-header (RFC 8200 §8.1), an MSS 20 bytes below IPv4's (RFC 8200
// §3: a 40-byte header), the peer's address as it is — beside an IPv4
// connection on the same (dual-stack) listener.
func TestIPv6Connection(t *testing.T) {
	p := newPair6(t)
	l, err := p.b.Listen(443, 4)
	if err != nil {
		t.Fatal(err)
	}
	p.rec = true
	c6, err := p.a.Dial6(v6A, v6B, 443, p.now)
	if err != nil {
		t.Fatal(err)
	}
	c4, err := p.a.Dial(addrA, addrB, 443, p.now)
	if err != nil {
		t.Fatal(err)
	}
	p.shuttle(t)
	s1, s2 := l.Accept(), l.Accept()
	if s1 == nil || s2 == nil || c6.State() != Established || c4.State() != Established {
		t.Fatalf("states %v %v", c6.State(), c4.State())
	}
	syn := p.segs[0]
	if syn[13] != FlagSYN || syn[20] != 2 || binary.BigEndian.Uint16(syn[22:]) != 1460-20 {
		t.Fatalf("SYN %x", syn[:24])
	}
	// The IPv4 pseudo-header does not verify an IPv6 segment.
	if Checksum(addrA, addrB, syn) == 0 {
		t.Fatal("IPv4 checksum accepted an IPv6 segment")
	}
	var s6, s4 *Conn
	for _, s := range []*Conn{s1, s2} {
		if a, _ := s.Remote(); a == v6A {
			s6 = s
		} else if a == m4(addrA) {
			s4 = s
		}
	}
	if s6 == nil || s4 == nil {
		t.Fatal("remote addresses wrong")
	}
	if la, _ := s6.Local(); la != v6B {
		t.Fatalf("local %v", la)
	}
	c6.Write([]byte("over six"))
	c4.Write([]byte("over four"))
	p.shuttle(t)
	if string(s6.Peek()) != "over six" || string(s4.Peek()) != "over four" {
		t.Fatalf("got %q %q", s6.Peek(), s4.Peek())
	}
	if s6.sndMSS != 1440 || c6.sndMSS != 1440 || s4.sndMSS != 1460 {
		t.Fatalf("MSS %d %d %d", s6.sndMSS, c6.sndMSS, s4.sndMSS)
	}
}

// TestIPv6Defences: RFC 9293's reset for a closed port and RFC 5961's
// challenge ACK for an in-window RST work over IPv6, from the address the
// segment was sent to; a segment with a wrong checksum is dropped.
func TestIPv6Defences(t *testing.T) {
	p := newPair6(t)
	// A SYN to a closed port: RST|ACK back, from the destination address.
	var syn [HeaderLen + 4]byte
	n := putHeader(syn[:], 5555, 81, 1000, 0, FlagSYN, 1000, 1440)
	setChecksum(v6A, v6B, syn[:n])
	p.b.Input6(v6A, v6B, syn[:n], p.now)
	n2, src, dst := p.b.Output6(p.buf[:], p.now)
	if n2 == 0 || src != v6B || dst != v6A || p.buf[13] != FlagRST|FlagACK || Checksum6(src, dst, p.buf[:n2]) != 0 {
		t.Fatalf("reset %v→%v %x", src, dst, p.buf[:n2])
	}
	// The same SYN with its checksum broken: dropped, counted, no reply.
	syn[n-1] ^= 0xff
	p.b.Input6(v6A, v6B, syn[:n], p.now)
	if n, _, _ := p.b.Output6(p.buf[:], p.now); n != 0 || p.b.Stats().DropChecksum != 1 {
		t.Fatal("bad checksum answered")
	}
	// An RST in the window but not at RCV.NXT: a challenge ACK.
	if _, err := p.b.Listen(443, 4); err != nil {
		t.Fatal(err)
	}
	c, _ := p.a.Dial6(v6A, v6B, 443, p.now)
	p.shuttle(t)
	before := p.b.Stats().ChallengeACKs
	var rst [HeaderLen]byte
	_, lport := c.Local()
	n = putHeader(rst[:], lport, 443, c.sndNxt+100, 0, FlagRST, 0, 0)
	setChecksum(v6A, v6B, rst[:n])
	p.b.Input6(v6A, v6B, rst[:n], p.now)
	n2, src, dst = p.b.Output6(p.buf[:], p.now)
	if n2 == 0 || p.buf[13] != FlagACK || src != v6B || dst != v6A || p.b.Stats().ChallengeACKs != before+1 {
		t.Fatalf("no challenge ACK: %x %+v", p.buf[:n2], p.b.Stats())
	}
	// No IPv6 segment leaks out of the IPv4 Output.
	if n, _ := p.b.Output(p.buf[:], addrB, p.now); n != 0 {
		t.Fatal("IPv6 segment out of Output")
	}
}

// TestIPv6SteadyStateAllocs: a data segment in and its ACK out over IPv6
// allocate nothing.
func TestIPv6SteadyStateAllocs(t *testing.T) {
	p := newPair6(t)
	if _, err := p.b.Listen(443, 4); err != nil {
		t.Fatal(err)
	}
	c, _ := p.a.Dial6(v6A, v6B, 443, p.now)
	p.shuttle(t)
	sc := p.b.listeners[0].Accept()
	data := make([]byte, 2*1440)
	step := func() {
		c.Write(data)
		for i := 0; i < 2; i++ {
			n, src, dst := p.a.Output6(p.buf[:], p.now)
			if n != HeaderLen+1440 {
				t.Fatalf("segment %d bytes", n)
			}
			p.b.Input6(src, dst, p.buf[:n], p.now)
		}
		sc.Consume(len(sc.Peek()))
		n, src, dst := p.b.Output6(p.buf[:], p.now)
		p.a.Input6(src, dst, p.buf[:n], p.now)
		p.now = p.now.Add(time.Millisecond)
		p.a.Poll(p.now)
		p.b.Poll(p.now)
	}
	step()
	if allocs := testing.AllocsPerRun(500, step); allocs != 0 {
		t.Fatalf("%v allocs per round", allocs)
	}
}

// TestPacketTooBig: RFC 8201 — a Packet Too Big quoting a segment in
// flight lowers the connection's MSS (never below what a 1,280-byte MTU
// allows) and the retransmission is sent in smaller segments; one quoting
// a sequence number outside the flight is ignored.
func TestPacketTooBig(t *testing.T) {
	p := newPair6(t)
	if _, err := p.b.Listen(443, 4); err != nil {
		t.Fatal(err)
	}
	c, _ := p.a.Dial6(v6A, v6B, 443, p.now)
	p.shuttle(t)
	c.Write(make([]byte, 1440))
	n, _, _ := p.a.Output6(p.buf[:], p.now) // lost on a 1280-byte hop
	if n != HeaderLen+1440 {
		t.Fatalf("segment %d", n)
	}
	quoted := append([]byte(nil), p.buf[:8]...)
	bad := append([]byte(nil), quoted...)
	binary.BigEndian.PutUint32(bad[4:], c.sndNxt+5000)
	p.a.ICMPError6(2, 0, v6A, v6B, bad, 1280, p.now)
	if c.sndMSS != 1440 || p.a.Stats().PMTUIgnored != 1 {
		t.Fatalf("blind Packet Too Big taken: MSS %d", c.sndMSS)
	}
	p.a.ICMPError6(2, 0, v6A, v6B, quoted, 600, p.now) // below 1280: 1280 is used
	if c.sndMSS != 1220 || p.a.Stats().PMTUReduced != 1 {
		t.Fatalf("MSS %d", c.sndMSS)
	}
	p.now = p.now.Add(2 * time.Second)
	p.a.Poll(p.now)
	var got []int
	for {
		n, src, dst := p.a.Output6(p.buf[:], p.now)
		if n == 0 {
			break
		}
		got = append(got, n-HeaderLen)
		p.b.Input6(src, dst, p.buf[:n], p.now)
		p.shuttle(t)
	}
	for i := 0; i < 10 && c.Queued() > 0; i++ { // delayed ACKs
		p.now = p.now.Add(300 * time.Millisecond)
		p.a.Poll(p.now)
		p.b.Poll(p.now)
		p.shuttle(t)
	}
	if len(got) == 0 || got[0] != 1220 || c.Queued() != 0 {
		t.Fatalf("retransmitted %v, queued %d", got, c.Queued())
	}
}
