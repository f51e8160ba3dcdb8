package tcp

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"hash"
	"math/rand"
	"sort"
	"testing"
	"time"

	"netcard/ipv4"
	"netcard/ipv6"
)

var (
	addrA = ipv4.Addr{10, 0, 0, 1}
	addrB = ipv4.Addr{10, 0, 0, 2}
	t0    = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
)

// seededRand is a deterministic io.Reader for Config.Rand.
type seededRand struct{ r *rand.Rand }

func (s seededRand) Read(p []byte) (int, error) { return s.r.Read(p) }

func newRand(seed int64) seededRand { return seededRand{rand.New(rand.NewSource(seed))} }

func testConfig(seed int64) Config {
	return Config{
		MaxConns: 4, RecvBuf: 8192, SendBuf: 8192, MSS: 1460,
		Rand:   newRand(seed),
		MinRTO: 200 * time.Millisecond, InitialRTO: 500 * time.Millisecond,
		TimeWait: 2 * time.Second,
	}
}

type packet struct {
	at       time.Time
	seq      int // tie-breaker keeping FIFO order
	src, dst ipv4.Addr
	data     []byte
}

// wire carries segments between two stacks on a virtual clock.
type wire struct {
	t       testing.TB
	now     time.Time
	stacks  [2]*Stack
	addrs   [2]ipv4.Addr
	queue   []packet
	nseq    int
	rng     *rand.Rand
	delay   time.Duration
	loss    float64
	dup     float64
	reorder float64
	corrupt float64 // probability of one flipped bit in a delivered copy
	// drop, if set, decides the fate of each segment before the random faults.
	drop  func(from int, h Header, payload []byte) bool
	trace bool
	buf   [1500]byte
	sent  [2]int
	apps  []func()
	wake  func() time.Time // optional application timer
	// shed calls Stack.Shed on both stacks before and after every Input,
	// Output and Poll (TestShedEverywhereIdentical); shedBytes adds up
	// what it released.
	shed      bool
	shedBytes int
	// out hashes every segment each stack sent, in order.
	out [2]hash.Hash
}

func newWire(t testing.TB, a, b Config, seed int64) *wire {
	return &wire{
		t: t, now: t0,
		stacks: [2]*Stack{NewStack(a), NewStack(b)},
		addrs:  [2]ipv4.Addr{addrA, addrB},
		rng:    rand.New(rand.NewSource(seed)),
		delay:  5 * time.Millisecond,
		out:    [2]hash.Hash{sha256.New(), sha256.New()},
	}
}

// maybeShed sheds both stacks' empty buffers in shed mode (and, with
// poisonShed, overwrites every buffer Shed dropped: a view kept into one
// would then read 0xA5 bytes, not the data it expects).
func (w *wire) maybeShed() {
	if w.shed {
		for _, s := range w.stacks {
			if !poisonShed {
				w.shedBytes += s.Shed()
				continue
			}
			var held [][]byte
			for i := range s.conns {
				held = append(held, s.conns[i].rcvBuf(), s.conns[i].sndBuf())
			}
			for i := range s.larges() {
				held = append(held, s.large[i].b)
			}
			w.shedBytes += s.Shed()
			k := 0
			for i := range s.conns {
				for _, b := range [][]byte{s.conns[i].rcvBuf(), s.conns[i].sndBuf()} {
					if held[k] != nil && b == nil {
						poison(held[k])
					}
					k++
				}
			}
			for i := range s.larges() {
				if held[k] != nil && s.large[i].b == nil {
					poison(held[k])
				}
				k++
			}
		}
	}
}

// poisonShed makes wire.maybeShed overwrite the buffers Shed drops
// (TestShedPoisoned).
var poisonShed bool

func poison(b []byte) {
	b = b[:cap(b)]
	for i := range b {
		b[i] = 0xa5
	}
}

// sums returns the SHA-256 of each stack's segments so far.
func (w *wire) sums() [2]string {
	return [2]string{string(w.out[0].Sum(nil)), string(w.out[1].Sum(nil))}
}

func (w *wire) enqueue(from int, seg []byte) {
	h, err := ParseHeader(seg)
	if err != nil {
		w.t.Fatalf("stack %d sent malformed segment: %v", from, err)
	}
	if Checksum(w.addrs[from], w.addrs[1-from], seg) != 0 {
		w.t.Fatalf("stack %d sent bad checksum", from)
	}
	payload := seg[h.DataOff:]
	w.out[from].Write(seg)
	if w.trace {
		w.t.Logf("%v %d→ %s seq=%d ack=%d win=%d len=%d", w.now.Sub(t0), from, flagString(h.Flags), h.Seq, h.Ack, h.Window, len(payload))
	}
	if w.drop != nil && w.drop(from, h, payload) {
		return
	}
	copies := 1
	if w.loss > 0 && w.rng.Float64() < w.loss {
		copies = 0
	} else if w.dup > 0 && w.rng.Float64() < w.dup {
		copies = 2
	}
	for i := 0; i < copies; i++ {
		d := w.delay
		if w.reorder > 0 && w.rng.Float64() < w.reorder {
			d += time.Duration(w.rng.Int63n(int64(3 * w.delay)))
		}
		w.nseq++
		cp := append([]byte(nil), seg...)
		if w.corrupt > 0 && w.rng.Float64() < w.corrupt {
			bit := w.rng.Intn(len(cp) * 8)
			cp[bit/8] ^= 1 << (bit % 8)
		}
		w.queue = append(w.queue, packet{at: w.now.Add(d), seq: w.nseq, src: w.addrs[from], dst: w.addrs[1-from],
			data: cp})
	}
	sort.Slice(w.queue, func(i, j int) bool {
		if !w.queue[i].at.Equal(w.queue[j].at) {
			return w.queue[i].at.Before(w.queue[j].at)
		}
		return w.queue[i].seq < w.queue[j].seq
	})
}

func flagString(f uint8) string {
	var b bytes.Buffer
	for i, n := range []string{"F", "S", "R", "P", "A"} {
		if f&(1<<i) != 0 {
			b.WriteString(n)
		}
	}
	return b.String()
}

// step does one round of work at the current time; it reports whether
// anything happened.
func (w *wire) step() bool {
	progress := false
	for _, app := range w.apps {
		app()
	}
	for i, s := range w.stacks {
		w.maybeShed()
		s.Poll(w.now)
		for {
			w.maybeShed()
			n, remote := s.Output(w.buf[:], w.addrs[i], w.now)
			w.maybeShed()
			if n == 0 {
				break
			}
			if remote != w.addrs[1-i] {
				w.t.Fatalf("stack %d sent to %v", i, remote)
			}
			w.sent[i]++
			w.enqueue(i, w.buf[:n])
			progress = true
		}
	}
	for len(w.queue) > 0 && !w.queue[0].at.After(w.now) {
		p := w.queue[0]
		w.queue = w.queue[1:]
		to := 0
		if p.dst == w.addrs[1] {
			to = 1
		}
		w.maybeShed()
		w.stacks[to].Input(p.src, p.dst, p.data, w.now)
		w.maybeShed()
		progress = true
	}
	return progress
}

// advance moves the clock to the next event; false when there is none.
func (w *wire) advance() bool {
	var next time.Time
	for _, s := range w.stacks {
		if t := s.Poll(w.now); !t.IsZero() && (next.IsZero() || t.Before(next)) {
			next = t
		}
	}
	if len(w.queue) > 0 && (next.IsZero() || w.queue[0].at.Before(next)) {
		next = w.queue[0].at
	}
	if w.wake != nil {
		if t := w.wake(); !t.IsZero() && t.After(w.now) && (next.IsZero() || t.Before(next)) {
			next = t
		}
	}
	if next.IsZero() {
		return false
	}
	if next.After(w.now) {
		w.now = next
	}
	return true
}

// run advances until cond holds, failing after limit of virtual time.
func (w *wire) run(cond func() bool, limit time.Duration) {
	w.t.Helper()
	end := w.now.Add(limit)
	for i := 0; !cond(); i++ {
		if w.now.After(end) || i > 50_000_000 {
			w.t.Fatalf("condition not reached after %v (virtual)", w.now.Sub(t0))
		}
		if w.step() {
			continue
		}
		if cond() {
			return
		}
		if !w.advance() {
			w.t.Fatalf("stalled at %v: no event pending\n%s", w.now.Sub(t0), w.dump())
		}
	}
}

// settle runs until nothing is in flight and no timer is due within d.
func (w *wire) settle(d time.Duration) {
	end := w.now.Add(d)
	for {
		if w.step() {
			continue
		}
		if !w.advance() || w.now.After(end) {
			return
		}
	}
}

// connect dials from stack 0 to a listener on stack 1 and returns both ends.
func (w *wire) connect(port uint16) (*Conn, *Conn, *Listener) {
	w.t.Helper()
	l, err := w.stacks[1].Listen(port, 2)
	if err != nil {
		w.t.Fatal(err)
	}
	c, err := w.stacks[0].Dial(addrA, addrB, port, w.now)
	if err != nil {
		w.t.Fatal(err)
	}
	var sc *Conn
	w.run(func() bool {
		if sc == nil {
			sc = l.Accept()
		}
		return sc != nil && c.State() == Established
	}, 10*time.Second)
	return c, sc, l
}

// craft builds a segment from src to dst with a correct checksum.
func craft(src, dst ipv4.Addr, sport, dport uint16, seq, ack uint32, flags uint8, wnd uint16, payload []byte) []byte {
	b := make([]byte, 24+len(payload))
	n := putHeader(b, sport, dport, seq, ack, flags, wnd, 0)
	n += copy(b[n:], payload)
	b = b[:n]
	setChecksum(m4(src), m4(dst), b)
	return b
}

// drain collects everything a stack has to send.
func drain(s *Stack, local ipv4.Addr, now time.Time) []Header {
	var out []Header
	var buf [1500]byte
	for {
		n, _ := s.Output(buf[:], local, now)
		if n == 0 {
			return out
		}
		h, _ := ParseHeader(buf[:n])
		out = append(out, h)
	}
}

func (w *wire) dump() string {
	var b bytes.Buffer
	for i, s := range w.stacks {
		for k := range s.conns {
			c := &s.conns[k]
			if !c.inUse {
				continue
			}
			fmt.Fprintf(&b, "stack %d slot %d %v una=%d nxt=%d max=%d base=%d sndLen=%d fin=%v wnd=%d cwnd=%d | rcvNxt=%d adv=%d rcvLen=%d ooo=%d finRcvd=%v ack=%v rel=%v\n",
				i, k, c.state, c.sndUna-c.iss, c.sndNxt-c.iss, c.sndMax-c.iss, c.sndBase-c.iss, c.sndLen, c.finQueued, c.sndWnd, c.cwnd,
				c.rcvNxt-c.irs, c.rcvAdv-c.irs, c.rcvLen, c.nooo, c.finRcvd, c.ackNow, c.released)
		}
	}
	return b.String()
}

// m4 is a's IPv4-mapped form, the form the stack keeps addresses in.
func m4(a ipv4.Addr) ipv6.Addr { return ipv6.From4(a) }
