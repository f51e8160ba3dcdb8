package ppp

import (
	"math/rand"
	"testing"
	"time"
)

// end is one side of the in-memory harness.
type end struct {
	name   string
	l      *Link
	events []Event
	got    [][]byte // delivered IPv4 packets (copies)
	queue  [][]byte // packets for PullIP
	sent   map[string]bool
	badRx  int // good-FCS frames never sent by the peer
	peer   *end
}

func (e *end) has(ev Event) bool {
	for _, x := range e.events {
		if x == ev {
			return true
		}
	}
	return false
}

// harness shuttles Output of each link into Input of the other on a
// virtual clock, with an optional fault function on the byte stream.
type harness struct {
	t     testing.TB
	now   time.Time
	a, b  *end
	fault func(fromA bool, p []byte) []byte
	cut   bool // the line is dead: nothing gets through
	chunk int
	buf   [4096]byte
}

func newEnd(name string, cfg Config, seed int64) *end {
	e := &end{name: name, sent: map[string]bool{}}
	if cfg.Rand == nil {
		cfg.Rand = rand.New(rand.NewSource(seed))
	}
	cfg.Event = func(ev Event) { e.events = append(e.events, ev) }
	cfg.DeliverIP = func(p []byte) { e.got = append(e.got, append([]byte(nil), p...)) }
	cfg.PullIP = func(dst []byte) int {
		if len(e.queue) == 0 {
			return 0
		}
		n := copy(dst, e.queue[0])
		e.queue = e.queue[1:]
		return n
	}
	cfg.Tap = func(sent bool, fr []byte) {
		if sent {
			e.sent[string(fr)] = true
		} else if !e.peer.sent[string(fr)] {
			e.badRx++
		}
	}
	e.l = New(cfg)
	return e
}

// cardConfig and hostConfig are the two roles used by most tests.
func cardConfig() Config { return Config{} }

func hostConfig() Config {
	return Config{
		Host:    true,
		LocalIP: [4]byte{10, 0, 2, 2},
		PeerIP:  [4]byte{10, 0, 2, 15},
		DNS:     [2][4]byte{{10, 0, 2, 3}, {10, 0, 2, 4}},
	}
}

func newHarness(t testing.TB, card, host Config) *harness {
	h := &harness{t: t, now: time.Unix(1000, 0), chunk: 333}
	h.a = newEnd("card", card, 1)
	h.b = newEnd("host", host, 2)
	h.a.peer, h.b.peer = h.b, h.a
	return h
}

func (h *harness) open() {
	h.a.l.Open(h.now)
	h.b.l.Open(h.now)
}

// pump moves bytes both ways until both links are quiet.
func (h *harness) pump() {
	for i := 0; i < 10000; i++ {
		moved := false
		for _, dir := range [2]bool{true, false} {
			src, dst := h.a, h.b
			if !dir {
				src, dst = h.b, h.a
			}
			n := src.l.Output(h.buf[:h.chunk], h.now)
			if n == 0 {
				continue
			}
			moved = true
			p := h.buf[:n]
			if h.cut {
				continue
			}
			if h.fault != nil {
				p = h.fault(dir, p)
			}
			dst.l.Input(p, h.now)
		}
		if !moved {
			return
		}
	}
	h.t.Fatal("pump: links never went quiet")
}

// step pumps, runs the timers and advances the clock to the next deadline.
func (h *harness) step() {
	h.pump()
	na := h.a.l.Poll(h.now)
	nb := h.b.l.Poll(h.now)
	h.pump()
	next := h.now.Add(time.Second)
	for _, t := range []time.Time{na, nb} {
		if !t.IsZero() && t.Before(next) {
			next = t
		}
	}
	if !next.After(h.now) {
		next = h.now.Add(time.Millisecond)
	}
	h.now = next
}

// run steps until cond holds or the virtual time limit passes.
func (h *harness) run(limit time.Duration, cond func() bool) bool {
	end := h.now.Add(limit)
	for h.now.Before(end) {
		if cond() {
			return true
		}
		h.step()
	}
	return cond()
}

func (h *harness) bothUp() bool { return h.a.l.Up() && h.b.l.Up() }

// ipPacket makes a recognisable IPv4-looking packet carrying seq.
func ipPacket(seq, size int) []byte {
	p := make([]byte, size)
	p[0] = 0x45
	p[2], p[3] = byte(size>>8), byte(size)
	p[4], p[5] = byte(seq>>8), byte(seq)
	for i := 20; i < size; i++ {
		p[i] = byte(seq*7 + i) // includes 0x7e, 0x7d and control characters
	}
	return p
}

var testNow = time.Unix(1000, 0)

// fu returns the callbacks of a link configured without Config.Upper, for
// tests that replace them on a running link.
func (l *Link) fu() *funcUpper { return l.cfg.up.(*funcUpper) }

// queued returns the control packets queued (nil while the queue is shed).
func (l *Link) queued() []byte {
	if l.ctrlq == nil {
		return nil
	}
	return l.ctrlq[l.ctrlH:l.ctrlT]
}

// setTap replaces the link's Tap in a copy of its extras (never in the
// shared noExtras).
func (l *Link) setTap(f func(sent bool, frame []byte)) {
	x := *l.cfg.linkExtras
	x.Tap = f
	l.cfg.linkExtras = &x
}
