package ppp

import (
	"math"
	"math/rand"
	"netcard/internal/count/counttest"
	"testing"
	"time"
	"unsafe"
)

// TestSpecialMatchesRFC1662: the escape set (specials) is the RFC 1662
// rule (flag, Control Escape, and the control characters flagged in the
// ACCM) for every octet under several maps.
func TestSpecialMatchesRFC1662(t *testing.T) {
	for _, accm := range []uint32{0, 0xffffffff, 0x000a0000, 0x80000001, 0x12345678} {
		for c := 0; c < 256; c++ {
			want := c == 0x7e || c == 0x7d || c < 0x20 && accm&(1<<c) != 0
			if sp := specials(accm); sp.has(byte(c)) != want {
				t.Fatalf("specials: accm %08x octet %02x: %v", accm, c, !want)
			}
		}
	}
}

// TestOptionsFitMaxOptLen: our fullest Configure-Requests fit the option
// buffers (maxOptLen) the automata keep.
func TestOptionsFitMaxOptLen(t *testing.T) {
	l := New(Config{MRU: 1000, ACCM: 0x000a0000, RequireAuth: AuthCHAP, Rand: rand.New(rand.NewSource(1))})
	var big [256]byte
	(*lcpHandler)(l).resetCI()
	if n := (*lcpHandler)(l).addCI(big[:]); n != 25 || n > maxOptLen {
		t.Fatalf("LCP request %d bytes (room %d)", n, maxOptLen)
	}
	(*ipcpHandler)(l).resetCI()
	if n := (*ipcpHandler)(l).addCI(big[:]); n != 18 || n > maxOptLen {
		t.Fatalf("IPCP request %d bytes (room %d)", n, maxOptLen)
	}
}

// queuedCodes lists the codes of the control packets waiting in the queue.
func queuedCodes(l *Link) []byte {
	var codes []byte
	for q := l.queued(); len(q) > 0; {
		n := int(q[0])<<8 | int(q[1])
		codes = append(codes, q[4])
		q = q[n:]
	}
	return codes
}

// TestAckNeverTruncated: a Configure-Request whose Ack would not fit the
// control queue gets no Ack at all (a cut one would not match the request);
// an ordinary one is acked.
func TestAckNeverTruncated(t *testing.T) {
	req := func(nopts int) []byte {
		p := []byte{codeConfReq, 7, 0, 0}
		for i := 0; i < nopts; i++ {
			p = append(p, optACCM, 6, 0, 0, 0, 0)
		}
		p[2], p[3] = byte(len(p)>>8), byte(len(p))
		return p
	}
	for _, tc := range []struct {
		nopts int
		ack   bool
	}{{1, true}, {30, true}, {60, false}} {
		l := New(Config{Rand: rand.New(rand.NewSource(1))})
		l.Open(testNow)
		l.ctrlH, l.ctrlT = 0, 0 // drop our own request: the queue is empty
		l.lcpInput(req(tc.nopts), testNow)
		codes := queuedCodes(l)
		acked := false
		for _, c := range codes {
			acked = acked || c == codeConfAck
		}
		if acked != tc.ack {
			t.Fatalf("%d options (%d bytes; queue %d): acked %v, queued %v", tc.nopts, 4+6*tc.nopts, ctrlQueueSize, acked, codes)
		}
		if !tc.ack && l.stats.CtrlDropped == 0 {
			t.Fatal("dropped Ack not counted")
		}
	}
}

// TestLinkSize guards the Link's size class: 480 bytes (512 before a host's
// offered DNS servers took the card's learned ones' place, the re-try and
// echo timers became one, Link.lcpAt, the upper layer's flags left the
// Config copy and the loop count went 8-bit; 576 before its
// profile's constants were shared and its rarely set fields moved out,
// linkConsts and linkExtras; 704 before its
// automata counters became 8-bit, the control queue an array pointer, the
// authentication timers and challenge lent, the Config copy narrower and
// the fallback generator an allocation of Rand-less links only; 768 before its
// counters but the line octets became 32-bit, stats32; 1,024 before its
// timers became 8-byte deadlines and the frame counters 32-bit; 896 before
// the automata lost their handler field, their request options became lent
// and the Config copy compact), of which the allocator's header takes 8 for
// an object with pointers over 512 bytes.
func TestLinkSize(t *testing.T) {
	if n := unsafe.Sizeof(Link{}); n > 480 {
		t.Fatalf("Link takes %d bytes, past the 480-byte size class", n)
	}
}

// TestStatsWiden: Stats gives every counter the Link keeps, by name —
// the line octets in 64 bits, the others widened from 32 (a counter
// added to Stats alone fails here) — and the automata's states; a 32-bit
// counter at 2^32-1 wraps to 0, as documented.
func TestStatsWiden(t *testing.T) {
	counttest.CheckWiden(t, (*stats32).export, 2) // LCPState, IPCPState
	var c stats32
	c.BytesIn, c.FramesIn = math.MaxUint32, math.MaxUint32
	c.BytesIn++
	c.FramesIn++
	if e := c.export(); e.BytesIn != 1<<32 || e.FramesIn != 0 {
		t.Fatalf("BytesIn %d, FramesIn %d", e.BytesIn, e.FramesIn)
	}
}

// TestVJStatsWiden: the VJ state fits the allocator's 128-byte class (its
// counters in 32 bits, its slot counts and ids in 8, the receive area
// found from the frame buffer, Link.vjArea; 144, and 192 before) and VJStats widens every counter it keeps, by name
// (a counter added to VJStats alone fails here: VJStats has the four
// negotiated-state fields besides).
func TestVJStatsWiden(t *testing.T) {
	if n := unsafe.Sizeof(vjState{}); n > 128 {
		t.Fatalf("vjState takes %d bytes, past the 128-byte size class", n)
	}
	counttest.CheckWiden(t, (*vjStats32).export, 4)
}

// TestParamsShared: links configured alike share one read-only copy of the
// profile's constants, another configuration gets its own (and past the
// table's 16, a private copy); the card's own values stay per link; a link
// that sets no credentials, Tap or IPv6 points at the shared empty extras,
// one that sets any gets its own, and the shared one stays empty.
func TestParamsShared(t *testing.T) {
	var saved [len(consts)]*linkConsts
	for i := range consts {
		saved[i] = consts[i].Swap(nil)
	}
	t.Cleanup(func() {
		for i := range consts {
			consts[i].Store(saved[i])
		}
	})
	a := New(Config{MRU: 296, VJSlots: 1, EchoInterval: 5 * time.Second, LocalIP: [4]byte{10, 0, 0, 1}})
	b := New(Config{MRU: 296, VJSlots: 1, EchoInterval: 5 * time.Second, LocalIP: [4]byte{10, 0, 0, 2}})
	if a.cfg.linkConsts != b.cfg.linkConsts || a.cfg.LocalIP == b.cfg.LocalIP {
		t.Fatalf("alike: constants shared %v; addresses %v %v", a.cfg.linkConsts == b.cfg.linkConsts, a.cfg.LocalIP, b.cfg.LocalIP)
	}
	if a.cfg.linkExtras != noExtras || b.cfg.linkExtras != noExtras {
		t.Fatal("a link without extras has its own")
	}
	c := New(Config{MRU: 1500, User: "u", Secret: "s"})
	if c.cfg.linkConsts == a.cfg.linkConsts || c.cfg.MRU != 1500 || a.cfg.MRU != 296 || a.MTU() != 296 {
		t.Fatalf("another configuration: MRU %d and %d", c.cfg.MRU, a.cfg.MRU)
	}
	if c.cfg.linkExtras == noExtras || c.cfg.User != "u" || c.cfg.Secret != "s" || c.chapName() != "u" {
		t.Fatal("credentials lost")
	}
	var links []*Link
	for i := range 2 * len(consts) {
		links = append(links, New(Config{MRU: 100 + i}))
	}
	for i, l := range links {
		if l.cfg.MRU != uint16(100+i) || l.cfg.EchoFailure != defaultEcho || l.cfg.RenegotiateHold != DefaultRenegotiateHold {
			t.Fatalf("link %d: MRU %d EchoFailure %d", i, l.cfg.MRU, l.cfg.EchoFailure)
		}
	}
	last := links[len(links)-1]
	if last.cfg.linkConsts == New(Config{MRU: int(last.cfg.MRU)}).cfg.linkConsts {
		t.Fatal("a configuration past the table's size shared")
	}
	if noExtras.Secrets != nil || noExtras.User != "" || noExtras.Secret != "" || noExtras.Tap != nil || noExtras.IPv6 != nil {
		t.Fatal("the shared empty extras were written")
	}
	done := make(chan *Link)
	for range 8 {
		go func() { done <- New(Config{MRU: 296, VJSlots: 1, EchoInterval: 5 * time.Second}) }()
	}
	for range 8 {
		if l := <-done; l.cfg.linkConsts != a.cfg.linkConsts {
			t.Fatal("a concurrent link got its own copy of a shared configuration")
		}
	}
}
