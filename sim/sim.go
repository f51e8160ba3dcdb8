// Package sim is a deterministic whole-card simulation: a card (card.New,
// personalised in an in-memory store) on an emulated serial line to a host
// peer built from the project's own packages in host role (ppp host, ipv4,
// tcp and the tls client engine), driven by a virtual clock.
//
// The line model: each direction transmits at Baud (10 bits per byte, 8N1;
// 0 = unlimited); a byte sent at t arrives at t + wire time + Latency. A
// sender's Output is pulled only when its line is idle, in chunks of about
// Chunk of line time, so queueing on the line is realistic. Faults are
// injected per direction with link.Injector (frame-aware, seeded). The event
// loop advances the clock to the next event (a line delivery, a line going
// idle, a machine's Poll deadline): it never sleeps and never reads the wall
// clock, so a simulated minute takes milliseconds.
//
// Attacks are injected from the host side (flood.go): raw IPv4 packets
// through the host's PPP link (InjectIP, with generators such as SYNFlood,
// ICMPFlood, FragmentFlood), raw PPP frames (InjectFrames, LCPStorm), and
// real TCP connections from the host's stack (ConnFlood: connection
// exhaustion, slowloris, malformed ClientHellos).
//
// The benchmark figures (Run, `netcard bench`) are measured here too. The
// card's RAM three ways: MeasureRAM, the live heap per card of n cards
// with an established HTTPS session idle for IdleBeforeRAM (GC twice and
// divide); MeasurePeakRAM, one card's peak live heap over handshake, GET /,
// a 64 KiB download and a 1 MiB upload in full records, attributed to the
// card by allocation stack and observed after every call of the card that
// allocated (peak.go); and RAMBound, the hard bound by construction
// (bound.go). TestPeakRAM checks idle ≤ peak ≤ bound.
//
// Everything is seeded from Options.Seed; the only nondeterminism left is
// what Go's crypto primitives draw from the system's secure random source
// (Go 1.26 ignores caller-supplied readers for key generation and ECDSA):
// use testing/cryptotest.SetGlobalRandom in a test for bit-exact runs.
package sim

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"time"

	"netcard/card"
	"netcard/ipv4"
	"netcard/link"
	"netcard/ppp"
	"netcard/store"
	"netcard/tcp"
)

// Epoch is the virtual time at which every World starts.
var Epoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// Addresses used on the simulated link.
var (
	HostIP = [4]byte{10, 64, 0, 1}
	CardIP = [4]byte{10, 64, 0, 2}
)

// Options configures a World.
type Options struct {
	// Profile is the card's memory budget (zero: card.CardProfile).
	Profile card.Profile
	// Baud is the line rate of each direction in bit/s, 10 bits per byte
	// (0: unlimited).
	Baud int
	// Latency is added to every byte in each direction.
	Latency time.Duration
	// Jitter adds a seeded random delay in [0, Jitter) to every chunk on
	// the line; bytes are never reordered (a later chunk never arrives
	// before an earlier one).
	Jitter time.Duration
	// Chunk is the line time of one pull from a sender (default 10 ms; with
	// an unlimited line, 4 KiB per pull).
	Chunk time.Duration
	// Faults are injected on the card→host (Down) and host→card (Up)
	// directions; a zero Seed there is derived from Seed.
	Down, Up *link.Faults
	// Seed seeds every random source of the world.
	Seed uint64
	// Files are put into the card's store before the card starts.
	Files map[string][]byte
	// StoreSize is the size of the card's store (0: large enough for Files).
	StoreSize int
	// Store, when non-nil, is used instead of a fresh personalised store
	// (it must hold a key and certificate; Files is ignored). Cards may
	// share one store when nothing writes it.
	Store *store.Store
	// MinRTO is the minimum TCP retransmission timeout of both ends
	// (0: the tcp package's default, 1 s).
	MinRTO time.Duration
	// HostRecvBuf and HostSendBuf size the host peer's TCP buffers
	// (default 65535 and 16384).
	HostRecvBuf, HostSendBuf int
	// HostDelayedACK is the host peer's delayed-ACK timer (tcp.Config
	// semantics: 0 = 100 ms, negative = ACK every segment).
	HostDelayedACK time.Duration
	// HostVJSlots > 0 lets the host peer negotiate Van Jacobson header
	// compression (RFC 1144) with the card (ppp.Config.VJSlots); the card
	// does whenever its profile has VJSlots.
	HostVJSlots int
	// NoStart leaves the link closed until Start is called.
	NoStart bool
	// CardTap sees every PPP frame of the card (sent or received).
	CardTap func(sent bool, frame []byte)
	// HostMaxConns is the host peer's TCP connection slots (default 8).
	HostMaxConns int
	// EchoInterval turns on LCP keepalive (dead-peer detection) on both
	// ends (0: off, like pppd's default).
	EchoInterval time.Duration
	// ClientRecordSizeLimit, when non-zero, is the record_size_limit (RFC
	// 8449) the host's HTTPS clients announce: the card's own limit (the
	// tiny profile's) then applies to what they send.
	ClientRecordSizeLimit int
	// ClientRecordOut, when non-zero, is the plaintext size of every record
	// the host's HTTPS clients send (capped by the card's record_size_limit
	// when ClientRecordSizeLimit makes them honour it), the last excepted: a
	// client waits until its TCP send buffer has room for a whole record, as
	// curl sends a body in full 16 KiB records. HostSendBuf must hold one
	// (16,384 + 22 bytes for 16 KiB). 0: records as large as the send room
	// allows, at most the tls package's default of 1 KiB.
	ClientRecordOut int
	// ClientSuites, when set, are the cipher suites the host's HTTPS
	// clients offer (nil: the tls package's default, AES-128-GCM first).
	ClientSuites []uint16
}

// World is one simulation: a card, a host peer and the line between them.
type World struct {
	opt  Options
	now  time.Time
	card *card.Card
	st   *store.Store
	host *Host
	down *line // card → host
	up   *line // host → card

	cardNext, hostNext time.Time
	clients            []*Client
	actors             []actorState
	steps              uint64
	// wrap, when set, replaces the card's Input, Poll and Output in settle
	// (MeasurePeakRAM observes the heap after each call).
	wrap *cardCalls

	// Frame injection (InjectFrames).
	frameSrc          PacketSource
	frameBuf, raw     []byte
	rawOff            int
	hostIdle, injTurn bool
	// FramesInjected counts the PPP frames injected with InjectFrames.
	FramesInjected uint64
}

// Host is the host peer: PPP in host role, IPv4 and TCP from this project.
type Host struct {
	Link *ppp.Link
	IP   *ipv4.Host
	TCP  *tcp.Stack
	now  time.Time

	inject  PacketSource
	injTurn bool
	// Injected counts the IPv4 packets injected with InjectIP.
	Injected uint64
}

// Input implements card.Machine.
func (h *Host) Input(b []byte, now time.Time) { h.now = now; h.Link.Input(b, now) }

// Output implements card.Machine.
func (h *Host) Output(p []byte, now time.Time) int { h.now = now; return h.Link.Output(p, now) }

// Poll implements card.Machine.
func (h *Host) Poll(now time.Time) time.Time {
	h.now = now
	return earliest(h.Link.Poll(now), h.IP.Poll(now))
}

// SpillSlots is how many connection slots' spill regions the medium of a
// NewStore holds after the image (card.CardProfile.MaxConns).
const SpillSlots = 4

// NewStore creates an in-memory store personalised like a real card
// (card.DefaultPersonalisation, certificate valid from Epoch), holding files.
func NewStore(seed uint64, size int, files map[string][]byte) (*store.Store, error) {
	if size == 0 {
		size = 64 << 10
		total := 0
		for _, b := range files {
			total += len(b) + 256
		}
		for size < 2*total+32<<10 {
			size *= 2
		}
	}
	r := NewRand(seed, "store")
	// the medium holds the image and, after it, the spill regions of a
	// Card's four connection slots (card.Profile.SpillRecords, store.Scratch),
	// each a ring of card.DefaultSpillRing records
	st, err := store.CreateMedium(store.NewMemMedium(size+SpillSlots*card.SpillRegion(card.DefaultSpillRing)), size, r)
	if err != nil {
		return nil, err
	}
	p := card.DefaultPersonalisation()
	p.IPs = append(p.IPs, net.IP(CardIP[:]))
	if err := card.Personalise(st, p, r, Epoch); err != nil {
		return nil, err
	}
	for name, b := range files {
		if err := st.PutFile(name, "application/octet-stream", b); err != nil {
			return nil, fmt.Errorf("sim: put %s: %w", name, err)
		}
	}
	return st, nil
}

// New builds a world: a personalised card, the host peer and the line. The
// card's link is opened at Epoch unless NoStart.
func New(o Options) (*World, error) {
	if o.Profile.Name == "" {
		o.Profile = card.CardProfile
	}
	if o.Chunk <= 0 {
		o.Chunk = 10 * time.Millisecond
	}
	if o.HostRecvBuf == 0 {
		o.HostRecvBuf = 65535
	}
	if o.HostSendBuf == 0 {
		o.HostSendBuf = 16384
	}
	w := &World{opt: o, now: Epoch, hostIdle: true}
	st := o.Store
	if st == nil {
		var err error
		if st, err = NewStore(o.Seed, o.StoreSize, o.Files); err != nil {
			return nil, err
		}
	}
	w.st = st
	c, err := newCard(o, st)
	if err != nil {
		return nil, err
	}
	w.card = c
	h := &Host{}
	h.IP = ipv4.NewHost(ipv4.Config{Local: HostIP, Rand: NewRand(o.Seed, "hostip")})
	h.TCP = tcp.NewStack(tcp.Config{
		MaxConns: max(o.HostMaxConns, 8), RecvBuf: o.HostRecvBuf, SendBuf: o.HostSendBuf, MSS: 1460,
		Rand: NewRand(o.Seed, "hosttcp"), MinRTO: o.MinRTO, DelayedACK: o.HostDelayedACK,
	})
	h.IP.Register(6, h.TCP)
	h.Link = ppp.New(ppp.Config{
		Host: true, LocalIP: HostIP, PeerIP: CardIP,
		Rand: NewRand(o.Seed, "hostppp"), EchoInterval: o.EchoInterval, VJSlots: o.HostVJSlots,
		DeliverIP: func(pkt []byte) { h.IP.Input(pkt, h.now) },
		PullIP:    h.pullIP,
	})
	w.host = h
	w.down = newLine(o, o.Down, o.Seed*2+1)
	w.up = newLine(o, o.Up, o.Seed*2+2)
	if !o.NoStart {
		w.Start()
	}
	return w, nil
}

// newCard builds the world's card: everything the card holds is allocated
// inside this function (its random source included) or inside the card's own
// calls, which is how MeasurePeakRAM tells the card's heap from the rest
// (cardFrame).
//
//go:noinline
func newCard(o Options, st *store.Store) (*card.Card, error) {
	return card.New(card.Config{
		Profile: o.Profile, Store: st, Rand: NewRand(o.Seed, "card"),
		PeerIP: HostIP, MinRTO: o.MinRTO, Tap: o.CardTap, EchoInterval: o.EchoInterval,
	})
}

// Start opens both ends of the link at the current virtual time.
func (w *World) Start() {
	w.card.Start(w.now)
	w.host.Link.Open(w.now)
}

// Now returns the virtual time.
func (w *World) Now() time.Time { return w.now }

// Elapsed returns the virtual time since Epoch.
func (w *World) Elapsed() time.Duration { return w.now.Sub(Epoch) }

// Card returns the simulated card.
func (w *World) Card() *card.Card { return w.card }

// Store returns the card's store.
func (w *World) Store() *store.Store { return w.st }

// Host returns the host peer.
func (w *World) Host() *Host { return w.host }

// Up reports whether both ends of the link have IPCP opened.
func (w *World) Up() bool { return w.card.Up() && w.host.Link.Up() }

// LineStats counts line bytes in each direction.
type LineStats struct {
	Down, Up             uint64        // bytes put on the line (card→host, host→card)
	DownBusy, UpBusy     time.Duration // line time spent transmitting
	DownFaults, UpFaults link.InjectorStats
	Steps                uint64 // event-loop iterations
}

// Stats returns the line counters.
func (w *World) Stats() LineStats {
	s := LineStats{Down: w.down.sent, Up: w.up.sent, Steps: w.steps, DownBusy: w.down.busy, UpBusy: w.up.busy}
	if w.down.inj != nil {
		s.DownFaults = w.down.inj.Stats()
	}
	if w.up.inj != nil {
		s.UpFaults = w.up.inj.Stats()
	}
	return s
}

// SetLineUp connects or disconnects the line: while down, every byte sent
// in either direction is lost (a cable pulled out).
func (w *World) SetLineUp(up bool) {
	w.down.cut, w.up.cut = !up, !up
}

// DownTap sets a function that sees every chunk of bytes the card puts on
// the line (before fault injection), with the time it starts on the line.
func (w *World) DownTap(f func(at time.Time, b []byte)) { w.down.tap = f }

// UpTap is DownTap for the bytes the host puts on the line toward the card.
func (w *World) UpTap(f func(at time.Time, b []byte)) { w.up.tap = f }

// ErrStuck is returned by RunUntil when no event is pending and the
// condition is false.
var ErrStuck = errors.New("sim: no pending event: the simulation is stuck")

// ErrLimit is returned by RunUntil when the limit passes first.
var ErrLimit = errors.New("sim: time limit reached")

// RunUntil runs the simulation until cond is true (checked after every
// event) or limit of virtual time has passed.
func (w *World) RunUntil(cond func() bool, limit time.Duration) error {
	end := w.now.Add(limit)
	spins := 0
	for {
		w.settle()
		if cond != nil && cond() {
			return nil
		}
		next := w.nextEvent()
		if next.IsZero() {
			return ErrStuck
		}
		if next.After(end) {
			w.now = end
			w.settle()
			if cond != nil && cond() {
				return nil
			}
			return fmt.Errorf("%w (%v)", ErrLimit, limit)
		}
		if next.After(w.now) {
			w.now, spins = next, 0
		} else if spins++; spins > 100000 {
			return fmt.Errorf("%w at %v", ErrLivelock, w.Elapsed())
		}
	}
}

// ErrLivelock is returned by RunUntil when a machine keeps asking to be
// polled at the current time without the clock being able to advance.
var ErrLivelock = errors.New("sim: livelock: events keep falling due without time advancing")

// Run advances the simulation by d.
func (w *World) Run(d time.Duration) {
	_ = w.RunUntil(nil, d)
}

// settle processes everything due at the current time until nothing moves.
func (w *World) settle() {
	if w.wrap != nil {
		w.settleWith(w.wrap.input, w.wrap.poll, w.wrap.output)
		return
	}
	for i := 0; ; i++ {
		w.steps++
		moved := false
		if w.up.deliver(w.now, w.card.Input) {
			moved = true
		}
		if w.down.deliver(w.now, w.host.Input) {
			moved = true
		}
		w.cardNext = w.card.Poll(w.now)
		w.hostNext = w.host.Poll(w.now)
		for _, c := range w.clients {
			if c.service(w.now) {
				moved = true
			}
		}
		for i := range w.actors {
			p, next := w.actors[i].a.Service(w.now)
			w.actors[i].next = next
			if p {
				moved = true
			}
		}
		if w.down.pull(w.now, w.card.Output) {
			moved = true
		}
		if w.up.pull(w.now, w.upOutput) {
			moved = true
		}
		if !moved || i > 10000 {
			return
		}
	}
}

func (w *World) nextEvent() time.Time {
	next := earliest(w.cardNext, w.hostNext)
	next = earliest(next, w.down.next(w.now))
	next = earliest(next, w.up.next(w.now))
	for _, c := range w.clients {
		if !c.Done() {
			next = earliest(next, c.deadline)
		}
	}
	for _, a := range w.actors {
		next = earliest(next, a.next)
	}
	if !next.IsZero() && next.Before(w.now) {
		next = w.now
	}
	return next
}

func earliest(a, b time.Time) time.Time {
	if a.IsZero() || (!b.IsZero() && b.Before(a)) {
		return b
	}
	return a
}

// line is one direction of the serial line.
type line struct {
	baud    int
	latency time.Duration
	jitter  time.Duration
	rng     *rand.Rand
	last    time.Time // arrival time of the latest chunk (no reordering)
	chunk   int
	inj     *link.Injector
	cut     bool

	busyUntil time.Time // the line is transmitting until then
	rem       int64     // sub-nanosecond remainder of wire time (bits·1e9 mod baud)
	buf       []byte    // pull buffer
	data      []byte    // bytes in flight
	q         []flight  // deliveries in flight, in order
	qh        int
	sent      uint64
	busy      time.Duration
	tap       func(at time.Time, b []byte)
	at        time.Time // arrival time of the chunk being injected
}

type flight struct {
	at     time.Time
	off, n int
}

func newLine(o Options, f *link.Faults, seed uint64) *line {
	l := &line{baud: o.Baud, latency: o.Latency, jitter: o.Jitter}
	if o.Jitter > 0 {
		l.rng = rand.New(rand.NewPCG(o.Seed, seed))
	}
	if o.Baud > 0 {
		l.chunk = int(int64(o.Baud) / 10 * int64(o.Chunk) / int64(time.Second))
		l.chunk = max(l.chunk, 16)
	} else {
		l.chunk = 4096
	}
	l.buf = make([]byte, l.chunk)
	l.data = make([]byte, 0, 4*l.chunk+4096)
	l.q = make([]flight, 0, 64)
	if f != nil {
		ff := *f
		if ff.Seed == 0 {
			ff.Seed = int64(seed)
		}
		l.inj = link.NewInjector(ff)
	}
	return l
}

// pull takes one chunk from the sender when the line is idle.
func (l *line) pull(now time.Time, output func([]byte, time.Time) int) bool {
	if l.busyUntil.After(now) {
		return false
	}
	n := output(l.buf, now)
	if n == 0 {
		return false
	}
	l.sent += uint64(n)
	if l.tap != nil {
		l.tap(now, l.buf[:n])
	}
	var wire time.Duration
	if l.baud > 0 {
		bits := int64(n)*10*int64(time.Second) + l.rem
		wire = time.Duration(bits / int64(l.baud))
		l.rem = bits % int64(l.baud)
	}
	l.busyUntil = now.Add(wire)
	l.busy += wire
	l.at = l.busyUntil.Add(l.latency)
	if l.rng != nil {
		l.at = l.at.Add(time.Duration(l.rng.Int64N(int64(l.jitter))))
	}
	if l.at.Before(l.last) {
		l.at = l.last
	}
	l.last = l.at
	if l.cut {
		return true
	}
	if l.inj != nil {
		l.inj.Process(l.buf[:n], l.enqueue)
	} else {
		l.enqueue(l.buf[:n])
	}
	return true
}

func (l *line) enqueue(b []byte) {
	if len(b) == 0 {
		return
	}
	if l.qh == len(l.q) {
		l.q, l.qh, l.data = l.q[:0], 0, l.data[:0]
	}
	off := len(l.data)
	l.data = append(l.data, b...)
	l.q = append(l.q, flight{at: l.at, off: off, n: len(b)})
}

// deliver hands every chunk due by now to the receiver.
func (l *line) deliver(now time.Time, input func([]byte, time.Time)) bool {
	moved := false
	for l.qh < len(l.q) && !l.q[l.qh].at.After(now) {
		f := l.q[l.qh]
		l.qh++
		input(l.data[f.off:f.off+f.n], now)
		moved = true
	}
	if l.qh == len(l.q) {
		l.q, l.qh, l.data = l.q[:0], 0, l.data[:0]
	}
	return moved
}

// next is the line's next event: a delivery, or the line going idle.
func (l *line) next(now time.Time) time.Time {
	var t time.Time
	if l.qh < len(l.q) {
		t = l.q[l.qh].at
	}
	if l.busyUntil.After(now) {
		t = earliest(t, l.busyUntil)
	}
	return t
}
