package eth

import (
	"bytes"
	"encoding/binary"
	"testing"
	"time"
)

var (
	cardMAC = MAC{0x02, 0, 0, 0, 0, 1}
	hostMAC = MAC{0x02, 0, 0, 0, 0, 2}
	cardIP  = [4]byte{10, 0, 3, 1}
	hostIP  = [4]byte{10, 0, 3, 2}
	mask24  = [4]byte{255, 255, 255, 0}
	t0      = time.Unix(1_700_000_000, 0)
)

// rig is a link with a scripted IP layer: delivered packets are recorded,
// queued ones are pulled.
type rig struct {
	l         *Link
	delivered [][]byte
	queue     [][]byte
}

func newRig(t *testing.T, cfg Config) *rig {
	r := &rig{}
	cfg.MAC = cardMAC
	cfg.Deliver = func(p []byte, now time.Time) { r.delivered = append(r.delivered, append([]byte(nil), p...)) }
	cfg.Pull = func(dst []byte, now time.Time) int {
		if len(r.queue) == 0 {
			return 0
		}
		n := copy(dst, r.queue[0])
		r.queue = r.queue[1:]
		return n
	}
	r.l = New(cfg)
	r.l.SetAddr(cardIP, mask24, [4]byte{}, t0)
	// drain the two announcements
	for _, at := range []time.Duration{0, time.Second} {
		if r.out(t0.Add(at)) == nil {
			t.Fatal("no announcement")
		}
	}
	return r
}

// out returns the next frame (stream form checked and stripped).
func (r *rig) out(now time.Time) []byte {
	buf := make([]byte, 2048)
	n := r.l.Output(buf, now)
	if n == 0 {
		return nil
	}
	if int(binary.BigEndian.Uint16(buf)) != n-2 {
		panic("bad stream length")
	}
	return buf[2:n]
}

func stream(frame []byte) []byte {
	return append(binary.BigEndian.AppendUint16(nil, uint16(len(frame))), frame...)
}

func arpFrame(op uint16, dst, sha MAC, spa [4]byte, tha MAC, tpa [4]byte) []byte {
	f := make([]byte, HeaderLen+ARPLen)
	PutHeader(f, dst, sha, TypeARP)
	PutARP(f[HeaderLen:], op, sha, spa, tha, tpa)
	return f
}

func ipPacket(dst [4]byte, size int) []byte {
	p := make([]byte, size)
	p[0] = 0x45
	binary.BigEndian.PutUint16(p[2:], uint16(size))
	copy(p[12:], cardIP[:])
	copy(p[16:], dst[:])
	return p
}

func TestAnnounceOnAddressChange(t *testing.T) {
	l := New(Config{MAC: cardMAC})
	l.SetAddr(cardIP, mask24, [4]byte{}, t0)
	buf := make([]byte, 2048)
	n := l.OutputFrame(buf, t0)
	f, _ := Parse(buf[:n])
	a, err := ParseARP(f.Payload())
	if err != nil || f.Dst() != Broadcast || a.Op() != ARPRequest || a.SenderIP() != cardIP || a.TargetIP() != cardIP || n != minFrame {
		t.Fatalf("announcement: %x %v", buf[:n], err)
	}
	if l.OutputFrame(buf, t0.Add(500*time.Millisecond)) != 0 {
		t.Fatal("second announcement before a second")
	}
	if l.OutputFrame(buf, t0.Add(time.Second)) == 0 || l.OutputFrame(buf, t0.Add(3*time.Second)) != 0 {
		t.Fatal("want exactly two announcements")
	}
	if l.Stats().ARPGratuitous != 2 {
		t.Fatal(l.Stats())
	}
	// The same address again: no new announcement.
	l.SetAddr(cardIP, mask24, [4]byte{}, t0.Add(4*time.Second))
	if l.OutputFrame(buf, t0.Add(5*time.Second)) != 0 {
		t.Fatal("announced an unchanged address")
	}
}

func TestARPReplyToRequestForUs(t *testing.T) {
	r := newRig(t, Config{})
	r.l.Input(stream(arpFrame(ARPRequest, Broadcast, hostMAC, hostIP, MAC{}, cardIP)), t0)
	f := r.out(t0)
	fr, _ := Parse(f)
	a, err := ParseARP(fr.Payload())
	if err != nil || fr.Dst() != hostMAC || a.Op() != ARPReply || a.SenderMAC() != cardMAC || a.SenderIP() != cardIP ||
		a.TargetMAC() != hostMAC || a.TargetIP() != hostIP {
		t.Fatalf("reply %x %v", f, err)
	}
	if m, ok := r.l.Neighbor(hostIP); !ok || m != hostMAC {
		t.Fatal("requester not learnt")
	}
}

func TestARPForOtherAddressIgnored(t *testing.T) {
	r := newRig(t, Config{})
	other := [4]byte{10, 0, 3, 9}
	r.l.Input(stream(arpFrame(ARPRequest, Broadcast, hostMAC, hostIP, MAC{}, other)), t0)
	if f := r.out(t0); f != nil {
		t.Fatalf("answered a request for another address: %x", f)
	}
	if _, ok := r.l.Neighbor(hostIP); ok {
		t.Fatal("learnt a sender from a request not for us")
	}
	if r.l.Stats().ARPNotForUs != 1 {
		t.Fatal(r.l.Stats())
	}
}

func TestARPMalformedCounted(t *testing.T) {
	r := newRig(t, Config{})
	good := arpFrame(ARPRequest, Broadcast, hostMAC, hostIP, MAC{}, cardIP)
	bad := [][]byte{
		good[:HeaderLen+20], // short
		func() []byte { b := bytes.Clone(good); b[HeaderLen+1] = 6; return b }(),  // hrd 6
		func() []byte { b := bytes.Clone(good); b[HeaderLen+7] = 9; return b }(),  // op 9
		func() []byte { b := bytes.Clone(good); b[HeaderLen+4] = 8; return b }(),  // hln 8
		func() []byte { b := bytes.Clone(good); b[HeaderLen+8] |= 1; return b }(), // group sender
	}
	for _, b := range bad {
		r.l.Input(stream(b), t0)
	}
	if f := r.out(t0); f != nil {
		t.Fatalf("answered a malformed request: %x", f)
	}
	if s := r.l.Stats(); s.ARPMalformed != uint64(len(bad)) {
		t.Fatalf("malformed %d, want %d", s.ARPMalformed, len(bad))
	}
	// The link still works.
	r.l.Input(stream(good), t0)
	if r.out(t0) == nil {
		t.Fatal("no reply after malformed packets")
	}
}

func TestARPConflictDefended(t *testing.T) {
	r := newRig(t, Config{})
	claim := arpFrame(ARPRequest, Broadcast, hostMAC, cardIP, MAC{}, cardIP)
	r.l.Input(stream(claim), t0.Add(10*time.Second))
	f := r.out(t0.Add(10 * time.Second))
	fr, _ := Parse(f)
	a, _ := ParseARP(fr.Payload())
	if f == nil || a.SenderIP() != cardIP || a.TargetIP() != cardIP {
		t.Fatalf("no defence: %x", f)
	}
	// A second claim within 10 s is not answered (RFC 5227 §2.4).
	r.l.Input(stream(claim), t0.Add(15*time.Second))
	if f := r.out(t0.Add(15 * time.Second)); f != nil {
		t.Fatalf("defended twice in 10 s: %x", f)
	}
	if r.l.Stats().ARPConflicts != 2 {
		t.Fatal(r.l.Stats())
	}
}

func TestResolveHoldsOnePacket(t *testing.T) {
	r := newRig(t, Config{})
	p1, p2 := ipPacket(hostIP, 100), ipPacket(hostIP, 120)
	r.queue = [][]byte{p1, p2}
	f := r.out(t0)
	fr, _ := Parse(f)
	a, err := ParseARP(fr.Payload())
	if err != nil || a.Op() != ARPRequest || a.TargetIP() != hostIP || fr.Dst() != Broadcast {
		t.Fatalf("want a request: %x %v", f, err)
	}
	// p2 is pulled next and dropped: one packet per neighbour.
	if f := r.out(t0); f != nil {
		t.Fatalf("sent %x", f)
	}
	if r.l.Stats().ARPHoldDrops != 1 {
		t.Fatal(r.l.Stats())
	}
	// Rate limit: no second request within ARPRetry.
	if f := r.out(t0.Add(500 * time.Millisecond)); f != nil {
		t.Fatalf("second request too early: %x", f)
	}
	r.l.Input(stream(arpFrame(ARPReply, cardMAC, hostMAC, hostIP, cardMAC, cardIP)), t0.Add(600*time.Millisecond))
	f = r.out(t0.Add(600 * time.Millisecond))
	fr, _ = Parse(f)
	if fr.Dst() != hostMAC || fr.Type() != TypeIPv4 || !bytes.Equal(fr.Payload(), p1) {
		t.Fatalf("held packet: %x", f)
	}
	// Resolved: the next packet goes out at once.
	r.queue = [][]byte{p2}
	if fr, _ = Parse(r.out(t0.Add(time.Second))); !bytes.Equal(fr.Payload(), p2) {
		t.Fatal("p2 not sent")
	}
}

func TestResolveGivesUp(t *testing.T) {
	r := newRig(t, Config{ARPRetries: 3})
	r.queue = [][]byte{ipPacket(hostIP, 100)}
	requests := 0
	for i := 0; i < 10; i++ {
		now := t0.Add(time.Duration(i) * time.Second)
		for f := r.out(now); f != nil; f = r.out(now) {
			requests++
		}
	}
	if requests != 3 || r.l.Stats().ARPFailed != 1 {
		t.Fatalf("requests %d, stats %+v", requests, r.l.Stats())
	}
	if r.l.holdLen[0] != 0 {
		t.Fatal("hold buffer not released")
	}
}

func TestCacheFullAndAging(t *testing.T) {
	r := newRig(t, Config{ARPEntries: 2, ARPReachable: 30 * time.Second})
	for i := byte(2); i < 5; i++ {
		ip := [4]byte{10, 0, 3, i}
		r.l.Input(stream(arpFrame(ARPRequest, Broadcast, MAC{2, 0, 0, 0, 1, i}, ip, MAC{}, cardIP)), t0.Add(time.Duration(i)*time.Second))
		r.out(t0)
	}
	// Two entries: the oldest (10.0.3.2) made room for 10.0.3.4.
	if _, ok := r.l.Neighbor([4]byte{10, 0, 3, 2}); ok {
		t.Fatal("oldest entry kept")
	}
	if _, ok := r.l.Neighbor([4]byte{10, 0, 3, 4}); !ok {
		t.Fatal("newest entry missing")
	}
	// Two neighbours being resolved fill the cache: a third finds no entry.
	r.l.SetAddr(cardIP, mask24, [4]byte{}, t0) // same address: cache kept
	r.queue = [][]byte{ipPacket([4]byte{10, 0, 3, 7}, 60), ipPacket([4]byte{10, 0, 3, 8}, 60), ipPacket([4]byte{10, 0, 3, 9}, 60)}
	for f := r.out(t0.Add(5 * time.Second)); f != nil; f = r.out(t0.Add(5 * time.Second)) {
	}
	if r.l.Stats().ARPCacheFull != 1 {
		t.Fatalf("%+v", r.l.Stats())
	}
	// Entries age out.
	r2 := newRig(t, Config{ARPReachable: 30 * time.Second})
	r2.l.Learn(hostIP, hostMAC, t0)
	if next := r2.l.Poll(t0); !next.Equal(t0.Add(30 * time.Second)) {
		t.Fatalf("poll %v", next)
	}
	r2.out(t0.Add(30 * time.Second))
	if _, ok := r2.l.Neighbor(hostIP); ok || r2.l.Stats().ARPExpired != 1 {
		t.Fatal("entry did not age out")
	}
}

func TestFrameFilter(t *testing.T) {
	r := newRig(t, Config{})
	pkt := ipPacket(cardIP, 40)
	mk := func(dst, src MAC, typ uint16) []byte {
		f := make([]byte, HeaderLen+len(pkt))
		PutHeader(f, dst, src, typ)
		copy(f[HeaderLen:], pkt)
		return f
	}
	r.l.Input(stream(mk(cardMAC, hostMAC, TypeIPv4)), t0)
	r.l.Input(stream(mk(IPv4Multicast([4]byte{224, 0, 0, 251}), hostMAC, TypeIPv4)), t0)
	r.l.Input(stream(mk(MAC{2, 9, 9, 9, 9, 9}, hostMAC, TypeIPv4)), t0)  // not for us
	r.l.Input(stream(mk(cardMAC, Broadcast, TypeIPv4)), t0)              // group source
	r.l.Input(stream(mk(cardMAC, hostMAC, TypeIPv6)), t0)                // unknown
	r.l.Input(stream(mk(cardMAC, hostMAC, 0x0100)), t0)                  // 802.3
	r.l.Input([]byte{0, 5, 1, 2, 3, 4, 5}, t0)                           // bad length, skipped
	r.l.Input(stream(mk(cardMAC, hostMAC, TypeIPv4)[:HeaderLen+20]), t0) // resync after the skip
	s := r.l.Stats()
	if len(r.delivered) != 3 || s.InNotForUs != 1 || s.InBadSource != 1 || s.InUnknownType != 1 || s.InNot2 != 1 || s.InStreamBadLength != 1 {
		t.Fatalf("delivered %d, %+v", len(r.delivered), s)
	}
}

func TestStreamSplitAnywhere(t *testing.T) {
	r := newRig(t, Config{})
	f := make([]byte, HeaderLen+100)
	PutHeader(f, cardMAC, hostMAC, TypeIPv4)
	s := append(stream(f), stream(f)...)
	for i := range s {
		r.l.Input(s[i:i+1], t0)
	}
	if len(r.delivered) != 2 {
		t.Fatal(len(r.delivered))
	}
}

func TestZeroAllocs(t *testing.T) {
	r := newRig(t, Config{})
	r.l.Learn(hostIP, hostMAC, t0)
	pkt := ipPacket(hostIP, 1500)
	in := stream(arpFrame(ARPRequest, Broadcast, hostMAC, hostIP, MAC{}, cardIP))
	buf := make([]byte, 2048)
	r.l.cfg.Deliver = func([]byte, time.Time) {}
	r.l.cfg.Pull = func(dst []byte, now time.Time) int { return copy(dst, pkt) }
	allocs := testing.AllocsPerRun(100, func() {
		r.l.Input(in, t0)
		r.l.Output(buf, t0)
		r.l.Output(buf, t0)
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per frame", allocs)
	}
}

// TestProbe: an address check sends one ARP probe (sender 0.0.0.0) and
// reports a conflict when another host answers for the address or probes
// for it too; silence means the address is free.
func TestProbe(t *testing.T) {
	l := New(Config{MAC: cardMAC})
	offered := [4]byte{10, 0, 3, 50}
	buf := make([]byte, 2048)
	for _, c := range []struct {
		name     string
		in       []byte
		conflict bool
	}{
		{"silence", nil, false},
		{"reply", arpFrame(ARPReply, cardMAC, hostMAC, offered, cardMAC, [4]byte{}), true},
		{"other probe", arpFrame(ARPRequest, Broadcast, hostMAC, [4]byte{}, MAC{}, offered), true},
		{"unrelated", arpFrame(ARPRequest, Broadcast, hostMAC, hostIP, MAC{}, cardIP), false},
	} {
		l.Probe(offered, t0)
		n := l.OutputFrame(buf, t0)
		f, _ := Parse(buf[:n])
		a, err := ParseARP(f.Payload())
		if err != nil || a.Op() != ARPRequest || a.SenderIP() != ([4]byte{}) || a.TargetIP() != offered || a.SenderMAC() != cardMAC || f.Dst() != Broadcast {
			t.Fatalf("%s: probe %x %v", c.name, buf[:n], err)
		}
		if c.in != nil {
			l.Input(stream(c.in), t0)
		}
		if got := l.ProbeConflict(); got != c.conflict {
			t.Errorf("%s: conflict %v", c.name, got)
		}
	}
}
