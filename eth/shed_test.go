package eth

import (
	"bytes"
	"math/rand"
	"testing"
	"time"
	"unsafe"
)

// nd6 is a scripted Resolver6: addresses in known resolve at once, those
// in pending are being resolved.
type nd6 struct {
	known   map[byte]MAC // by the destination's last byte
	pending map[byte]bool
}

func (n *nd6) Resolve(pkt []byte, now time.Time) ([6]byte, bool) {
	m, ok := n.known[pkt[39]]
	if !ok {
		n.pending[pkt[39]] = true
	}
	return m, ok
}

func (n *nd6) Lookup(pkt []byte, now time.Time) ([6]byte, bool, bool) {
	m, ok := n.known[pkt[39]]
	return m, ok, n.pending[pkt[39]]
}

func ip6Packet(last byte, size int) []byte {
	p := make([]byte, size)
	p[0] = 0x60
	p[5] = byte(size - 40)
	p[6] = 17
	p[24], p[39] = 0xfe, last // fe..::last, never multicast
	for i := 40; i < size; i++ {
		p[i] = byte(i)
	}
	return p
}

// TestShedIdle: a new link has lent nothing; once its receive frame, an
// ARP hold and the IPv6 hold have been used and emptied, Shed releases
// them all (Footprint less the ARP cache) and a second Shed nothing.
func TestShedIdle(t *testing.T) {
	for _, mtu := range []int{1500, 296} { // Card and Tiny profiles
		nd := &nd6{known: map[byte]MAC{}, pending: map[byte]bool{}}
		r := newRig(t, Config{MTU: mtu, ND: nd})
		if r.l.Lent() != 0 || r.l.Shed() != 0 {
			t.Fatalf("MTU %d: lent %d after New", mtu, r.l.Lent())
		}
		// A packet for an unresolved neighbour is held; the reply sends it.
		r.queue = [][]byte{ipPacket(hostIP, 100), ip6Packet(2, 80)}
		for r.out(t0) != nil {
		}
		r.l.Input(stream(arpFrame(ARPReply, cardMAC, hostMAC, hostIP, cardMAC, cardIP)), t0)
		nd.known[2] = MAC(hostMAC)
		n := 0
		for r.out(t0) != nil {
			n++
		}
		if n != 2 {
			t.Fatalf("MTU %d: %d held packets sent", mtu, n)
		}
		want := (HeaderLen + mtu) + mtu + mtu
		if r.l.Lent() != want || r.l.Footprint() != want+4*40 {
			t.Fatalf("MTU %d: lent %d, footprint %d, want %d", mtu, r.l.Lent(), r.l.Footprint(), want)
		}
		if got := r.l.Shed(); got != want {
			t.Fatalf("MTU %d: Shed released %d, want %d", mtu, got, want)
		}
		if got := r.l.Shed(); got != 0 || r.l.Lent() != 0 {
			t.Fatalf("MTU %d: second Shed released %d", mtu, got)
		}
		t.Logf("MTU %d: Shed releases %d bytes", mtu, want)
	}
}

// TestShedKeepsData: a frame partly received, a packet held for ARP and
// one held for ND keep their buffers through Shed, and all complete.
func TestShedKeepsData(t *testing.T) {
	nd := &nd6{known: map[byte]MAC{}, pending: map[byte]bool{}}
	r := newRig(t, Config{ND: nd})
	f := make([]byte, HeaderLen+300)
	PutHeader(f, cardMAC, hostMAC, TypeIPv4)
	copy(f[HeaderLen:], ipPacket(cardIP, 300))
	s := stream(f)
	r.l.Input(s[:2], t0) // the length alone: nothing in the frame buffer yet
	if got := r.l.Shed(); got != 0 || r.l.Lent() != 0 {
		t.Fatalf("lent %d before the frame's first byte", r.l.Lent())
	}
	r.l.Input(s[2:100], t0)
	if got := r.l.Shed(); got != 0 {
		t.Fatalf("Shed of a partial frame released %d", got)
	}
	r.l.Input(s[100:], t0)
	if len(r.delivered) != 1 || !bytes.Equal(r.delivered[0], f[HeaderLen:]) {
		t.Fatal("frame lost")
	}
	p4, p6 := ipPacket(hostIP, 200), ip6Packet(9, 200)
	r.queue = [][]byte{p4, p6}
	for r.out(t0) != nil {
	}
	if got := r.l.Shed(); got != HeaderLen+1500 {
		t.Fatalf("Shed with two packets held released %d", got)
	}
	r.l.Input(stream(arpFrame(ARPReply, cardMAC, hostMAC, hostIP, cardMAC, cardIP)), t0)
	nd.known[9] = MAC(hostMAC)
	var sent [][]byte
	for fr := r.out(t0); fr != nil; fr = r.out(t0) {
		sent = append(sent, fr[HeaderLen:])
	}
	if len(sent) != 2 || !bytes.Equal(sent[0], p4) || !bytes.Equal(sent[1], p6) {
		t.Fatalf("held packets: %d sent", len(sent))
	}
}

// ethRun drives a link with a seeded mix: ARP requests and replies from
// several neighbours, IPv4 and IPv6 frames to us and to others, bad stream
// lengths, packets pulled for resolved, unresolved and silent neighbours
// (held, sent, given up), time passing; the stream is cut at random
// points. With shed, the link is shed between every call. It returns
// everything sent and delivered.
func ethRun(t *testing.T, seed int64, shed bool) ([]byte, Stats, int) {
	nd := &nd6{known: map[byte]MAC{}, pending: map[byte]bool{}}
	r := newRig(t, Config{ND: nd, ARPHold: 2})
	var got []byte
	r.l.cfg.Deliver = func(p []byte, now time.Time) { got = append(append(got, 'D'), p...) }
	r.l.cfg.Deliver6 = func(p []byte, now time.Time) { got = append(append(got, '6'), p...) }
	rng := rand.New(rand.NewSource(seed))
	shedBytes := 0
	sh := func() {
		if shed {
			shedBytes += r.l.Shed()
		}
	}
	now := t0
	var pending []byte
	buf := make([]byte, 2048)
	for round := 0; round < 800; round++ {
		sh()
		peer := byte(2 + rng.Intn(5))
		pip, pmac := [4]byte{10, 0, 3, peer}, MAC{0x02, 0, 0, 0, 0, peer}
		switch rng.Intn(7) {
		case 0:
			pending = append(pending, stream(arpFrame(ARPReply, cardMAC, pmac, pip, cardMAC, cardIP))...)
		case 1:
			pending = append(pending, stream(arpFrame(ARPRequest, Broadcast, pmac, pip, MAC{}, cardIP))...)
		case 2:
			f := make([]byte, HeaderLen+20+rng.Intn(1480))
			dst := cardMAC
			if rng.Intn(4) == 0 {
				dst = MAC{0x02, 9, 9, 9, 9, 9}
			}
			typ := uint16(TypeIPv4)
			if rng.Intn(3) == 0 {
				typ = TypeIPv6
			}
			PutHeader(f, dst, pmac, typ)
			rng.Read(f[HeaderLen:])
			pending = append(pending, stream(f)...)
		case 3:
			k := rng.Intn(14) // a bad length: that many bytes skipped
			pending = append(append(pending, 0, byte(k)), make([]byte, k)...)
		case 4:
			if rng.Intn(2) == 0 {
				r.queue = append(r.queue, ipPacket(pip, 20+rng.Intn(1480)))
			} else {
				if rng.Intn(2) == 0 {
					nd.known[peer] = pmac
				}
				r.queue = append(r.queue, ip6Packet(peer, 40+rng.Intn(1460)))
			}
		case 5:
			now = now.Add(time.Duration(rng.Intn(1500)) * time.Millisecond)
			r.l.Poll(now)
		default:
			if len(pending) > 0 {
				k := 1 + rng.Intn(len(pending))
				r.l.Input(pending[:k], now)
				pending = pending[k:]
			}
		}
		for k := rng.Intn(3); k > 0; k-- {
			sh()
			n := r.l.Output(buf[:1+rng.Intn(2048)], now)
			got = append(append(got, 'O', byte(n>>8), byte(n)), buf[:n]...)
		}
	}
	return got, r.l.Stats(), shedBytes
}

// TestShedByteIdentical: the same seeded traffic gives the same frames out,
// the same packets delivered and the same counters whether or not the link
// is shed between every call.
func TestShedByteIdentical(t *testing.T) {
	for seed := int64(1); seed <= 4; seed++ {
		o0, s0, _ := ethRun(t, seed, false)
		o1, s1, shed := ethRun(t, seed, true)
		if !bytes.Equal(o0, o1) || s0 != s1 {
			t.Fatalf("seed %d: differs (%d vs %d bytes)\n%+v\n%+v", seed, len(o0), len(o1), s0, s1)
		}
		if shed == 0 || s0.InIPv4 == 0 || s0.InIPv6 == 0 || s0.OutIPv6 == 0 || s0.ARPRequestsOut == 0 || s0.ARPRepliesOut == 0 {
			t.Fatalf("seed %d: too little happened: shed %d, %+v", seed, shed, s0)
		}
	}
}

// TestShedAllocsPerBurst: after a Shed, a burst (a frame in, a frame out)
// lends the receive frame again: one allocation; none in the steady state.
func TestShedAllocsPerBurst(t *testing.T) {
	r := newRig(t, Config{})
	r.l.Learn(hostIP, hostMAC, t0)
	pkt := ipPacket(hostIP, 1500)
	in := stream(arpFrame(ARPRequest, Broadcast, hostMAC, hostIP, MAC{}, cardIP))
	buf := make([]byte, 2048)
	r.l.cfg.Deliver = func([]byte, time.Time) {}
	r.l.cfg.Pull = func(dst []byte, now time.Time) int { return copy(dst, pkt) }
	burst := func() {
		r.l.Input(in, t0)
		r.l.Output(buf, t0)
		r.l.Output(buf, t0)
	}
	if a := testing.AllocsPerRun(100, burst); a != 0 {
		t.Fatalf("steady state: %v allocations", a)
	}
	if a := testing.AllocsPerRun(100, func() { r.l.Shed(); burst() }); a != 1 {
		t.Fatalf("after Shed: %v allocations per burst, want 1", a)
	}
}

// TestLinkSize: the Link stays in the 640-byte size class (8 bytes of it
// the allocator's header): 680 bytes before its three times became 8-byte
// nanos.
func TestLinkSize(t *testing.T) {
	if n := unsafe.Sizeof(Link{}) + 8; n > 640 {
		t.Fatalf("Link takes %d bytes, past the 640-byte size class", n)
	}
}
