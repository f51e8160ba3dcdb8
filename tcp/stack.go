// Package tcp is the card's TCP (RFC 9293): a fixed table of connection
// control blocks with linear, zero-copy send and receive buffers, RFC 6298
// retransmission, RFC 5681/6582 congestion control, RFC 6528 ISNs, the
// RFC 5961 blind-attack defences and RFC 4987 SYN cookies. It owns no
// goroutines and takes no locks: the card's event loop calls Input, Output
// and Poll (the ipv4.Transport interface) and the layers above poll each
// Conn's state after each call. Buffers are lent, not owned: each is
// allocated at its configured size when first needed and dropped by Shed
// while it holds nothing (shed.go).
package tcp

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"io"
	"math"
	"sync/atomic"
	"time"

	"netcard/ipv4"
	"netcard/ipv6"

	"netcard/internal/count"
)

// Config sizes and tunes a Stack. Zero fields take the defaults noted.
type Config struct {
	MaxConns int // connection slots, allocated once (default 4)
	// Full, when set, is called when a SYN for a listener finds every slot
	// taken (after TIME-WAIT and half-open recycling): the layer above may
	// free one, e.g. by aborting a connection that holds no work in
	// progress, and returns true if it did.
	Full func(now time.Time) bool
	// RecvBuf is the largest receive buffer a connection can have, in
	// bytes (default 4096; the window is capped at 65535): the largest
	// record the layer above can ever find whole in Peek.
	RecvBuf int
	// SmallRecvBuf, when non-zero and smaller than RecvBuf, is the receive
	// buffer each slot owns; the stack then owns LargeRecvBufs buffers of
	// RecvBuf + MSS bytes that connections borrow while they need more room
	// (see Conn.Reserve) and give back when their data and window fit in
	// the small one again. The extra MSS lets the window cover the whole
	// segment that carries the end of a RecvBuf-sized record: senders hold
	// back a full segment that does not fit until a probe timer fires.
	// Zero: every slot owns RecvBuf bytes.
	SmallRecvBuf int
	// LargeRecvBufs is the number of pooled large buffers (used
	// only with SmallRecvBuf; 0: connections never grow; more than
	// MaxConns: every slot owns RecvBuf bytes instead; at most 255). As
	// many as MaxConns still pool them: the layer above may need a large
	// buffer only for some connections (the card streams ChaCha20-Poly1305
	// records through its store and lends one only to AES-GCM clients).
	LargeRecvBufs int
	SendBuf       int // send buffer per connection in bytes (default 4096; RecvBuf and SendBuf at most 1 GiB)
	MSS           int // our MSS: link MTU − 40 (default 536)
	// Rand supplies the ISN secret (read once in NewStack) and ephemeral
	// ports. Required.
	Rand io.Reader

	InitialRTO time.Duration // default 1 s (RFC 6298)
	MinRTO     time.Duration // default 1 s; smaller values for tests and simulations
	MaxRTO     time.Duration // default 60 s
	DelayedACK time.Duration // delayed-ACK timer (default 100 ms; at most 200 ms; negative: ACK every segment)
	TimeWait   time.Duration // 2·MSL (default 60 s)
	// UserTimeout aborts a connection whose oldest unacknowledged data (or
	// SYN/FIN) has waited this long (default 120 s).
	UserTimeout time.Duration
	SynRetries  int // retransmissions of a SYN-ACK before a half-open passive connection is dropped (default 4)

	KeepAlive         time.Duration // idle time before keepalive probes; 0: off (RFC 1122 default)
	KeepAliveInterval time.Duration // between probes (default 75 s)
	KeepAliveCount    int           // unanswered probes before abort (default 9)

	NoDelay           bool // disable Nagle's algorithm
	ChallengeACKLimit int  // RFC 5961 challenge ACKs per second and connection (default 10); see Conn.challengeOK

	// DropCookieAckWhenFull makes an ACK that completes a valid SYN cookie
	// but finds no room (backlog full of established connections, or no
	// slot even after Full) be dropped silently instead of answered with
	// RST, as Linux does when its accept queue is full: the peer
	// retransmits and each retransmission tries again while its cookie is
	// valid (64–128 s).
	DropCookieAckWhenFull bool
	// CookieQueue is how many SYN-cookie SYN-ACKs may wait for Output
	// (20 bytes each; default 32): a burst of SYNs read before Output
	// runs is answered whole up to this many.
	CookieQueue int
}

// Stats counts events of a Stack.
type Stats struct {
	SegsIn, SegsOut   uint64
	Retransmits       uint64 // segments retransmitted (timeout, fast retransmit, go-back-N)
	Timeouts          uint64 // retransmission timer expirations
	FastRetransmits   uint64
	RSTsIn, RSTsOut   uint64
	ChallengeACKs     uint64 // RFC 5961 challenge ACKs sent
	ChallengeThrottle uint64 // challenge ACKs suppressed by the rate limit
	ICMPErrors        uint64 // ICMPv6 errors about our segments (ICMPError6)
	PMTUReduced       uint64 // Packet Too Big messages that lowered a connection's MSS (RFC 8201)
	PMTUIgnored       uint64 // Packet Too Big messages quoting no segment in flight
	ConnsAccepted     uint64 // passive opens that reached ESTABLISHED
	ConnsRefused      uint64 // SYNs answered with RST (closed port, backlog full, no slot)
	ConnsDialed       uint64
	ConnsReset        uint64 // connections ended by a received RST
	ConnsTimedOut     uint64 // user timeout, keepalive or SYN retries exhausted
	SlotsRecycled     uint64 // TIME-WAIT or half-open slots taken for a new connection
	SynCookiesSent    uint64 // SYN-ACKs sent statelessly because a backlog or every slot was full (RFC 4987)
	SynCookiesOK      uint64 // connections opened by a valid SYN cookie
	SynCookiesBad     uint64 // ACKs to a listener with no valid cookie (answered with RST)
	SynCookiesFull    uint64 // ACKs with a valid cookie that found no room (RST, or dropped with DropCookieAckWhenFull)

	// Drops by reason.
	DropChecksum  uint64
	DropMalformed uint64
	DropWindow    uint64 // unacceptable sequence number (RFC 9293 §3.10.7.4)
	DropNoACK     uint64 // synchronized-state segment without ACK
	DropOOO       uint64 // out-of-order segment with no room in the range table
	DropState     uint64 // segment not expected in the connection's state
	DropRSTQueue  uint64 // RST or SYN-cookie SYN-ACK to send dropped because its queue was full
	// SYN-cookie SYN-ACKs dropped because the cookie queue was full, or
	// at Output after waiting more than 30 ms with more than 8 queued
	// (also counted in DropRSTQueue).
	DropCookieQueue uint64

	// Large receive buffers (Config.LargeRecvBufs).
	LargeBorrows uint64 // large buffers lent to a connection
	LargeWaits   uint64 // connections that found none free and had to wait
	LargeGrowths uint64 // connections that wanted one without a reservation (full or stuck)
}

// stats32 is what a Stack keeps of its Stats: the same counters in 32 bits
// (132 bytes, not 264: the Stack fits the allocator's 448-byte class instead of 576). A counter wraps after 2^32 events; Stats widens them,
// and a reader sampling them often enough sees every increment (deltas
// modulo 2^32).
type stats32 struct {
	SegsIn            uint32
	SegsOut           uint32
	Retransmits       uint32
	Timeouts          uint32
	FastRetransmits   uint32
	RSTsIn            uint32
	RSTsOut           uint32
	ChallengeACKs     uint32
	ChallengeThrottle uint32
	ICMPErrors        uint32
	PMTUReduced       uint32
	PMTUIgnored       uint32
	ConnsAccepted     uint32
	ConnsRefused      uint32
	ConnsDialed       uint32
	ConnsReset        uint32
	ConnsTimedOut     uint32
	SlotsRecycled     uint32
	SynCookiesSent    uint32
	SynCookiesOK      uint32
	SynCookiesBad     uint32
	SynCookiesFull    uint32
	DropChecksum      uint32
	DropMalformed     uint32
	DropWindow        uint32
	DropNoACK         uint32
	DropOOO           uint32
	DropState         uint32
	DropRSTQueue      uint32
	DropCookieQueue   uint32
	LargeBorrows      uint32
	LargeWaits        uint32
	LargeGrowths      uint32
}

// export widens the counters into Stats.
func (c *stats32) export() Stats {
	var s Stats
	count.Widen(&s, c)
	return s
}

// State is a connection state (RFC 9293 §3.3.2).
type State uint8

// Connection states.
const (
	Closed State = iota
	Listen
	SynSent
	SynReceived
	Established
	FinWait1
	FinWait2
	CloseWait
	Closing
	LastAck
	TimeWait
)

var stateNames = [...]string{"CLOSED", "LISTEN", "SYN-SENT", "SYN-RECEIVED", "ESTABLISHED",
	"FIN-WAIT-1", "FIN-WAIT-2", "CLOSE-WAIT", "CLOSING", "LAST-ACK", "TIME-WAIT"}

func (s State) String() string {
	if int(s) < len(stateNames) {
		return stateNames[s]
	}
	return "INVALID"
}

// Errors reported by the Stack and by Conn.Err.
var (
	ErrNoSlot    = errors.New("tcp: no free connection slot")
	ErrPortInUse = errors.New("tcp: port already in use")
	ErrBadPort   = errors.New("tcp: invalid port")
	ErrReset     = errors.New("tcp: connection reset by peer")
	ErrRefused   = errors.New("tcp: connection refused")
	ErrTimeout   = errors.New("tcp: connection timed out")
)

const (
	oooRanges = 4 // out-of-order ranges kept per connection
	rstQueue  = 8 // pending RSTs for segments to no connection
	// cookieQueue is the default number of pending SYN-cookie SYN-ACKs
	// (Config.CookieQueue), kept apart from the RSTs so that neither
	// crowds the other out: a burst of SYNs
	// read before the event loop drains Output (the card's runner takes
	// up to a few 2 KiB reads at once, ≈ 40 SYNs each) is answered whole
	// as long as it fits (20 bytes each).
	cookieQueue = 32
	// When the line, not the queue, is the bottleneck (a flood on a
	// serial line), the queue would stay full and every SYN-ACK, a real
	// client's included, would wait for all of it. So while more than
	// cookieBacklog SYN-ACKs wait, one that has waited more than
	// cookieMaxWait is dropped at Output for the fresher ones (the
	// peer's SYN retransmission gets a new cookie): a sustained flood
	// sees the delay of an 8-deep queue, a burst read at once the depth
	// of the whole ring, and a few SYN-ACKs behind one long segment are
	// never dropped.
	cookieBacklog = 8
	cookieMaxWait = 30 // milliseconds
	defaultMSS    = 536
	minSndMSS     = 48 // the smallest MSS we send with, whatever the peer announces (see synOptions)
)

type pendingRST struct {
	laddr, raddr ipv6.Addr
	lport, rport uint16
	seq, ack     uint32
	flags        uint8
}

// pendingCookie is a SYN-ACK owed for a SYN cookie. It is written at
// Output time; its window and MSS option are the stack's own.
type pendingCookie struct {
	laddr, raddr ipv6.Addr
	lport, rport uint16
	iss, ack     uint32
	at           uint32 // when it was queued: Unix milliseconds, wrapping
}

// Stack is a TCP endpoint: a fixed table of connections and listeners.
// It implements ipv4.Transport.
type Stack struct {
	cfg       stackParams
	conns     []Conn
	listeners []*Listener
	secret    [32]byte

	// Queues of segments owed to no connection, allocated when the first
	// one is queued and dropped by Shed while empty: rstN pending RSTs,
	// and a ring of cookieN pending SYN-cookie SYN-ACKs from cookieHead
	// (Config.CookieQueue entries).
	rst        *[rstQueue]pendingRST
	cookies    []pendingCookie
	rstN       uint8
	rstTurn    bool // the last segment out came from rst or cookies
	cookieLast bool // the last queued segment out was a cookie: an RST goes next if one waits
	cookieHead uint16
	cookieN    uint16
	cookieAt   tick // when the last SYN cookie was queued (0: never)

	// Pool of large receive buffers; nil without Config.LargeRecvBufs
	// (its fields read as the Stack's: s.large, s.nfree, s.waitSeq).
	*largePool

	rr   uint32 // round-robin start for Output
	born uint32 // connections created (Conn.born), mod 2^32
	// pairBufs: a slot's receive and send buffers are one allocation (see
	// shed.go), as that wastes less to size-class rounding.
	pairBufs bool

	rbuf  [4]byte
	stats stats32
}

// stackParams is what a Stack keeps of its Config (defaults filled in):
// the card's own values (Full, Rand) and a pointer to the profile's
// constants, stackConsts, which every stack configured alike shares
// (interned, read-only: ROM on a card): 32 bytes, not 128 (184 before the
// counts went to 32 bits). Field access is unchanged (s.cfg.MinRTO: the
// pointer is embedded).
type stackParams struct {
	*stackConsts
	Full func(now time.Time) bool
	Rand io.Reader
}

// stackConsts is the per-profile part of a Stack's Config: the counts in
// 32 bits (RecvBuf and SendBuf are at most 2³⁰, MSS 65535, LargeRecvBufs
// 255, CookieQueue 1024; SynRetries, KeepAliveCount and ChallengeACKLimit
// are clamped to MaxInt32, which the int32 counters they bound could not
// pass anyway) and MaxConns only as len(conns). Never written after
// intern: stacks share it.
type stackConsts struct {
	InitialRTO, MinRTO, MaxRTO, DelayedACK, TimeWait   time.Duration
	UserTimeout, KeepAlive, KeepAliveInterval          time.Duration
	RecvBuf, SmallRecvBuf, LargeRecvBufs, SendBuf, MSS int32
	SynRetries, KeepAliveCount, ChallengeACKLimit      int32
	CookieQueue                                        int32
	NoDelay, DropCookieAckWhenFull                     bool
}

// consts holds the interned stackConsts: one per distinct configuration
// (a card has one per profile), read-only once published. A bounded table
// of atomic pointers, lock-free: a configuration past the first
// len(consts) gets a private copy instead.
var consts [16]atomic.Pointer[stackConsts]

// intern returns the shared copy of c, publishing it if it is new.
func intern(c stackConsts) *stackConsts {
	for i := range consts {
		p := consts[i].Load()
		if p == nil {
			if consts[i].CompareAndSwap(nil, &c) {
				return &c
			}
			p = consts[i].Load() // another stack published first
		}
		if *p == c {
			return p
		}
	}
	return &c
}

// clamp32 is n, at most MaxInt32.
func clamp32(n int) int32 { return int32(min(n, math.MaxInt32)) }

// largePool is the stack's pool of large receive buffers (large[i].owner:
// the connection it is lent to, nil: free); nfree counts the free ones.
// waitSeq orders the connections waiting for one (first come, first
// served). Allocated by NewStack only with Config.LargeRecvBufs: a stack
// without (Tiny) holds 8 bytes for it, not 32.
type largePool struct {
	large   []largeBuf
	nfree   int32
	waitSeq uint32
}

// larges returns the pool's buffers (none without a pool).
func (s *Stack) larges() []largeBuf {
	if s.largePool == nil {
		return nil
	}
	return s.large
}

// largeBuf is one of the stack's large receive buffers: b is nil until it
// is first lent, and again after Shed while it is free.
type largeBuf struct {
	b     []byte
	owner *Conn
}

var (
	_ ipv4.Transport = (*Stack)(nil)
	_ ipv6.Transport = (*Stack)(nil)
)

// NewStack allocates every connection slot; the buffers are allocated when
// first used and may be shed when empty (Stack.Shed). It panics if
// cfg.Rand is nil or fails (the card cannot run without a random source).
func NewStack(cfg Config) *Stack {
	if cfg.MaxConns <= 0 {
		cfg.MaxConns = 4
	}
	if cfg.RecvBuf <= 0 {
		cfg.RecvBuf = 4096
	}
	if cfg.SendBuf <= 0 {
		cfg.SendBuf = 4096
	}
	// Offsets into the buffers are kept in 32 bits.
	cfg.RecvBuf, cfg.SendBuf = min(cfg.RecvBuf, 1<<30), min(cfg.SendBuf, 1<<30)
	if cfg.SmallRecvBuf <= 0 || cfg.SmallRecvBuf >= cfg.RecvBuf || cfg.LargeRecvBufs > cfg.MaxConns {
		// No pool, or more large buffers than slots: every slot owns one.
		cfg.SmallRecvBuf = cfg.RecvBuf
		cfg.LargeRecvBufs = 0
	}
	cfg.LargeRecvBufs = min(max(cfg.LargeRecvBufs, 0), 255)
	if cfg.MSS <= 0 {
		cfg.MSS = defaultMSS
	}
	cfg.MSS = min(max(cfg.MSS, 64), 0xffff) // the MSS option has 16 bits (RFC 9293 §3.7.1)
	if cfg.InitialRTO <= 0 {
		cfg.InitialRTO = time.Second
	}
	if cfg.MinRTO <= 0 {
		cfg.MinRTO = time.Second
	}
	if cfg.MaxRTO <= 0 {
		cfg.MaxRTO = 60 * time.Second
	}
	if cfg.DelayedACK == 0 {
		cfg.DelayedACK = 100 * time.Millisecond
	}
	if cfg.DelayedACK > 200*time.Millisecond {
		cfg.DelayedACK = 200 * time.Millisecond
	}
	if cfg.TimeWait <= 0 {
		cfg.TimeWait = 60 * time.Second
	}
	if cfg.UserTimeout <= 0 {
		cfg.UserTimeout = 120 * time.Second
	}
	if cfg.SynRetries <= 0 {
		cfg.SynRetries = 4
	}
	if cfg.KeepAliveInterval <= 0 {
		cfg.KeepAliveInterval = 75 * time.Second
	}
	if cfg.KeepAliveCount <= 0 {
		cfg.KeepAliveCount = 9
	}
	if cfg.ChallengeACKLimit <= 0 {
		cfg.ChallengeACKLimit = 10
	}
	if cfg.CookieQueue <= 0 {
		cfg.CookieQueue = cookieQueue
	}
	cfg.CookieQueue = min(cfg.CookieQueue, 1024)
	if cfg.Rand == nil {
		panic("tcp: Config.Rand is nil")
	}
	s := &Stack{cfg: stackParams{Full: cfg.Full, Rand: cfg.Rand, stackConsts: intern(stackConsts{
		InitialRTO: cfg.InitialRTO, MinRTO: cfg.MinRTO, MaxRTO: cfg.MaxRTO, DelayedACK: cfg.DelayedACK,
		TimeWait: cfg.TimeWait, UserTimeout: cfg.UserTimeout, KeepAlive: cfg.KeepAlive,
		KeepAliveInterval: cfg.KeepAliveInterval,
		RecvBuf:           int32(cfg.RecvBuf), SmallRecvBuf: int32(cfg.SmallRecvBuf),
		LargeRecvBufs: int32(cfg.LargeRecvBufs), SendBuf: int32(cfg.SendBuf), MSS: int32(cfg.MSS),
		SynRetries: clamp32(cfg.SynRetries), KeepAliveCount: clamp32(cfg.KeepAliveCount),
		ChallengeACKLimit: clamp32(cfg.ChallengeACKLimit), CookieQueue: int32(cfg.CookieQueue),
		NoDelay: cfg.NoDelay, DropCookieAckWhenFull: cfg.DropCookieAckWhenFull,
	})}}
	if _, err := io.ReadFull(cfg.Rand, s.secret[:]); err != nil {
		panic("tcp: reading ISN secret: " + err.Error())
	}
	// Buffers are allocated when first used (see Shed).
	r, w := cfg.SmallRecvBuf, cfg.SendBuf
	s.pairBufs = allocSize(r+w) < allocSize(r)+allocSize(w)
	s.conns = make([]Conn, cfg.MaxConns)
	for i := range s.conns {
		s.conns[i].s = s
	}
	if n := cfg.LargeRecvBufs; n > 0 {
		s.largePool = &largePool{large: make([]largeBuf, n), nfree: int32(n)}
	}
	return s
}

// Config returns the configuration in use (defaults filled in; SynRetries,
// KeepAliveCount and ChallengeACKLimit at most MaxInt32).
func (s *Stack) Config() Config {
	p := &s.cfg
	return Config{
		MaxConns: len(s.conns), Full: p.Full, RecvBuf: int(p.RecvBuf), SmallRecvBuf: int(p.SmallRecvBuf),
		LargeRecvBufs: int(p.LargeRecvBufs), SendBuf: int(p.SendBuf), MSS: int(p.MSS), Rand: p.Rand,
		InitialRTO: p.InitialRTO, MinRTO: p.MinRTO, MaxRTO: p.MaxRTO, DelayedACK: p.DelayedACK,
		TimeWait: p.TimeWait, UserTimeout: p.UserTimeout, SynRetries: int(p.SynRetries),
		KeepAlive: p.KeepAlive, KeepAliveInterval: p.KeepAliveInterval, KeepAliveCount: int(p.KeepAliveCount),
		NoDelay: p.NoDelay, ChallengeACKLimit: int(p.ChallengeACKLimit),
		DropCookieAckWhenFull: p.DropCookieAckWhenFull, CookieQueue: int(p.CookieQueue),
	}
}

// Stats returns a snapshot of the counters.
func (s *Stack) Stats() Stats { return s.stats.export() }

// Conn returns connection slot i (0 ≤ i < MaxConns) for inspection, and
// whether it is in use.
func (s *Stack) Conn(i int) (*Conn, bool) {
	c := &s.conns[i]
	return c, c.inUse
}

// Listener accepts passive connections on one port.
//
// Its backlog is not a queue of its own: the connections in it are the
// slots whose Conn.lst is the listener, in creation order (Conn.born), and
// the listener counts them. 16 bytes, one allocation (48 bytes and a queue
// slice before).
type Listener struct {
	s       *Stack
	backlog uint16 // at most 65535 (Listen)
	n       uint16 // connections in the backlog: half-open and established, not yet accepted
	port    uint16
	closed  bool
}

// Listen opens a listener on port with at most backlog connections waiting
// to be accepted (half-open ones included). When the backlog is full a new
// SYN replaces the oldest half-open entry; if all entries are established
// (or no slot is free) the SYN is answered with RST.
func (s *Stack) Listen(port uint16, backlog int) (*Listener, error) {
	if port == 0 {
		return nil, ErrBadPort
	}
	for _, l := range s.listeners {
		if l.port == port {
			return nil, ErrPortInUse
		}
	}
	backlog = min(max(backlog, 1), math.MaxUint16)
	l := &Listener{s: s, port: port, backlog: uint16(backlog)}
	s.listeners = append(s.listeners, l)
	return l, nil
}

// Port returns the listening port.
func (l *Listener) Port() uint16 { return l.port }

// Pending returns the number of connections in the backlog (half-open or
// ready to accept).
func (l *Listener) Pending() int { return int(l.n) }

// Accept returns the next established connection (the oldest in the
// backlog), or nil when none is ready.
func (l *Listener) Accept() *Conn {
	var next *Conn
	for i := range l.s.conns {
		c := &l.s.conns[i]
		if c.lst == l && c.state >= Established && (next == nil || int32(c.born-next.born) < 0) {
			next = c
		}
	}
	if next != nil {
		l.drop(next)
	}
	return next
}

// add puts c in the backlog.
func (l *Listener) add(c *Conn) {
	c.lst = l
	l.n++
}

// drop takes c out of the backlog.
func (l *Listener) drop(c *Conn) {
	if c.lst == l {
		l.n--
	}
	c.lst = nil
}

// oldest returns the backlog's oldest connection (nil: none).
func (l *Listener) oldest() *Conn {
	var old *Conn
	for i := range l.s.conns {
		if c := &l.s.conns[i]; c.lst == l && (old == nil || int32(c.born-old.born) < 0) {
			old = c
		}
	}
	return old
}

// Close stops listening and resets the connections not yet accepted.
func (l *Listener) Close() {
	if l.closed {
		return
	}
	l.closed = true
	for c := l.oldest(); c != nil; c = l.oldest() {
		l.drop(c)
		c.Abort()
	}
	for i, x := range l.s.listeners {
		if x == l {
			l.s.listeners = append(l.s.listeners[:i], l.s.listeners[i+1:]...)
			break
		}
	}
}

func (s *Stack) listener(port uint16) *Listener {
	for _, l := range s.listeners {
		if l.port == port {
			return l
		}
	}
	return nil
}

func (s *Stack) lookup(raddr, laddr ipv6.Addr, rport, lport uint16) *Conn {
	for i := range s.conns {
		c := &s.conns[i]
		if c.inUse && c.state != Closed && c.lport == lport && c.rport == rport &&
			c.raddr == raddr && c.laddr == laddr {
			return c
		}
	}
	return nil
}

// alloc takes a free slot; failing that it recycles the oldest released
// TIME-WAIT connection, and for a passive open the oldest half-open one.
func (s *Stack) alloc(passive bool) *Conn {
	var tw, half *Conn
	for i := range s.conns {
		c := &s.conns[i]
		if !c.inUse {
			c.inUse = true
			return c
		}
		if c.state == TimeWait && c.released && (tw == nil || c.timeWaitAt < tw.timeWaitAt) {
			tw = c
		}
		if passive && c.state == SynReceived && c.passive && (half == nil || int32(c.born-half.born) < 0) {
			half = c
		}
	}
	victim := tw
	if victim == nil {
		victim = half
	}
	if victim == nil {
		return nil
	}
	s.stats.SlotsRecycled++
	if victim.lst != nil {
		victim.lst.drop(victim)
	}
	victim.free()
	victim.inUse = true
	return victim
}

// isn computes an RFC 6528 initial sequence number: a 4 µs clock plus a
// keyed hash of the connection 4-tuple.
func (s *Stack) isn(laddr, raddr ipv6.Addr, lport, rport uint16, now time.Time) uint32 {
	var b [36 + 32]byte
	n := putTuple(b[:], laddr, raddr, lport, rport)
	n += copy(b[n:], s.secret[:])
	h := sha256.Sum256(b[:n])
	return binary.BigEndian.Uint32(h[:4]) + uint32(now.UnixNano()/4000)
}

// Dial starts an active open from local to remote:port with an ephemeral
// local port drawn from Rand. The SYN goes out on the next Output; the
// connection is usable (Free/Commit may queue data) at once. A zero local
// address takes the address the first segment is sent from.
func (s *Stack) Dial(local, remote ipv4.Addr, port uint16, now time.Time) (*Conn, error) {
	return s.Dial6(ipv6.From4(local), ipv6.From4(remote), port, now)
}

// Dial6 is Dial for either family: IPv6 addresses, or IPv4-mapped ones
// (the same as Dial). An IPv6 local address must be given (the caller
// selects the source, ipv6.Host.Source).
func (s *Stack) Dial6(local, remote ipv6.Addr, port uint16, now time.Time) (*Conn, error) {
	if port == 0 {
		return nil, ErrBadPort
	}
	var lport uint16
	for try := 0; ; try++ {
		if try == 16 {
			return nil, ErrPortInUse
		}
		if _, err := io.ReadFull(s.cfg.Rand, s.rbuf[:2]); err != nil {
			return nil, err
		}
		lport = 49152 + binary.BigEndian.Uint16(s.rbuf[:2])%16384
		if s.lookup(remote, local, port, lport) == nil && s.listener(lport) == nil {
			break
		}
	}
	c := s.alloc(false)
	if c == nil {
		return nil, ErrNoSlot
	}
	c.init(local, remote, lport, port, now)
	c.state = SynSent
	s.stats.ConnsDialed++
	return c, nil
}

// Input processes one TCP segment (ipv4.Transport). It always returns true:
// segments to no connection are answered with RST by TCP itself.
func (s *Stack) Input(src, dst ipv4.Addr, seg []byte, now time.Time) bool {
	return s.Input6(ipv6.From4(src), ipv6.From4(dst), seg, now)
}

// Input6 is Input for either family (ipv6.Transport): IPv6 addresses, or
// IPv4-mapped ones. Connections, listeners, SYN cookies, the RFC 5961
// defences and the RST queue are shared: a listener is dual-stack.
func (s *Stack) Input6(src, dst ipv6.Addr, seg []byte, now time.Time) bool {
	s.stats.SegsIn++
	if Checksum6(src, dst, seg) != 0 {
		s.stats.DropChecksum++
		return true
	}
	h, err := ParseHeader(seg)
	if err != nil || h.SrcPort == 0 || h.DstPort == 0 {
		s.stats.DropMalformed++
		return true
	}
	data := seg[h.DataOff:]
	if h.Flags&FlagRST != 0 {
		s.stats.RSTsIn++
	}
	if c := s.lookup(src, dst, h.SrcPort, h.DstPort); c != nil {
		// RFC 1122 §4.2.2.13: a new SYN above the old sequence space may
		// reopen a connection in TIME-WAIT.
		if c.state == TimeWait && h.Flags&(FlagSYN|FlagACK|FlagRST) == FlagSYN &&
			seqGT(h.Seq, c.rcvNxt) && c.released && s.listener(h.DstPort) != nil {
			c.free()
			s.stats.SlotsRecycled++
		} else {
			c.input(&h, data, now)
			return true
		}
	}
	if l := s.listener(h.DstPort); l != nil {
		s.listenInput(l, src, dst, &h, data, now)
		return true
	}
	if h.Flags&(FlagSYN|FlagACK|FlagRST) == FlagSYN {
		s.stats.ConnsRefused++
	}
	s.replyClosed(src, dst, &h, len(data))
	return true
}

// replyClosed answers a segment that reached no connection (RFC 9293
// §3.10.7.1).
func (s *Stack) replyClosed(src, dst ipv6.Addr, h *Header, dlen int) {
	if h.Flags&FlagRST != 0 {
		return
	}
	if h.Flags&FlagACK != 0 {
		s.queueRST(dst, src, h.DstPort, h.SrcPort, h.Ack, 0, FlagRST)
		return
	}
	n := uint32(dlen)
	if h.Flags&FlagSYN != 0 {
		n++
	}
	if h.Flags&FlagFIN != 0 {
		n++
	}
	s.queueRST(dst, src, h.DstPort, h.SrcPort, 0, h.Seq+n, FlagRST|FlagACK)
}

func (s *Stack) queueRST(laddr, raddr ipv6.Addr, lport, rport uint16, seq, ack uint32, flags uint8) {
	if s.rstN == rstQueue {
		s.stats.DropRSTQueue++
		return
	}
	if s.rst == nil {
		s.rst = new([rstQueue]pendingRST)
	}
	s.rst[s.rstN] = pendingRST{laddr: laddr, raddr: raddr, lport: lport, rport: rport, seq: seq, ack: ack, flags: flags}
	s.rstN++
}

// listenInput handles a segment for a listening port (RFC 9293 §3.10.7.2).
func (s *Stack) listenInput(l *Listener, src, dst ipv6.Addr, h *Header, data []byte, now time.Time) {
	switch {
	case h.Flags&FlagRST != 0:
		return
	case h.Flags&FlagACK != 0:
		if h.Flags&FlagSYN == 0 {
			opened, full := s.cookieAccept(l, src, dst, h, data, now)
			if opened || full && s.cfg.DropCookieAckWhenFull {
				return
			}
		}
		s.queueRST(dst, src, h.DstPort, h.SrcPort, h.Ack, 0, FlagRST)
		return
	case h.Flags&FlagSYN == 0:
		s.stats.DropState++
		return
	}
	if l.n >= l.backlog && l.oldestHalfOpen() != nil {
		// A backlog full of half-open connections is a SYN flood (or
		// looks like one): answer with a SYN cookie (RFC 4987) and keep no
		// state; a peer that completes the handshake gets a slot then.
		s.sendCookie(l, src, dst, h, now)
		return
	}
	var c *Conn
	if l.n < l.backlog {
		// A free or TIME-WAIT slot first; then the layer above may free
		// one. A half-open connection is not recycled for a bare SYN: a
		// flood of SYNs would otherwise reset every real client between
		// its SYN and its ACK.
		c = s.alloc(false)
		if c == nil && s.cfg.Full != nil && s.cfg.Full(now) {
			c = s.alloc(false)
		}
		if c == nil && s.cfg.Full != nil {
			// Every slot is busy: answer statelessly (RFC 4987). A peer
			// that completes the handshake gets a slot if one has freed
			// up by then, and an RST otherwise; it is never left hanging.
			s.sendCookie(l, src, dst, h, now)
			return
		}
		if c == nil {
			c = s.alloc(true)
		}
	}
	if c == nil {
		s.stats.ConnsRefused++
		s.replyClosed(src, dst, h, len(data))
		return
	}
	c.init(dst, src, h.DstPort, h.SrcPort, now)
	c.passive = true
	c.state = SynReceived
	c.synOptions(h)
	l.add(c)
	// Data carried on the SYN is not queued (RFC 9293 allows either); the
	// peer retransmits it once the connection is established.
}

// oldestHalfOpen returns the listener's oldest SYN-RECEIVED connection.
func (l *Listener) oldestHalfOpen() *Conn {
	var old *Conn
	for i := range l.s.conns {
		if q := &l.s.conns[i]; q.lst == l && q.state == SynReceived && (old == nil || int32(q.born-old.born) < 0) {
			old = q
		}
	}
	return old
}

// SYN cookies (RFC 4987 §3.6): the ISN of a stateless SYN-ACK is
// 5 bits of a 64 s time slot, 2 bits of MSS index and a 25-bit keyed hash
// of the 4-tuple, the peer's ISN, the slot and the index. An ACK that
// acknowledges a valid cookie of the current or previous slot opens the
// connection; cookies are checked only while the stack has sent some in the
// last two slots. Only the MSS option survives (the stack negotiates no other).
var cookieMSS = [4]int{536, 1200, 1440, 1460}

const cookieSlot = 64 // seconds

func (s *Stack) cookie(laddr, raddr ipv6.Addr, lport, rport uint16, peerISN, slot, mssIdx uint32) uint32 {
	var b [48 + 32]byte
	n := putTuple(b[:], laddr, raddr, lport, rport)
	binary.BigEndian.PutUint32(b[n:], peerISN)
	binary.BigEndian.PutUint32(b[n+4:], slot)
	binary.BigEndian.PutUint32(b[n+8:], mssIdx)
	n += 12
	n += copy(b[n:], s.secret[:])
	h := sha256.Sum256(b[:n])
	return (slot&31)<<27 | (mssIdx&3)<<25 | binary.BigEndian.Uint32(h[:4])&(1<<25-1)
}

// putTuple writes the 4-tuple that keys ISNs and cookies: 4-byte addresses
// for IPv4 (the same hash input, so the same values, as before IPv6),
// 16-byte ones for IPv6. It returns the bytes written.
func putTuple(b []byte, laddr, raddr ipv6.Addr, lport, rport uint16) int {
	n := 0
	if laddr.Is4() && raddr.Is4() {
		n += copy(b, laddr[12:])
		n += copy(b[n:], raddr[12:])
	} else {
		n += copy(b, laddr[:])
		n += copy(b[n:], raddr[:])
	}
	binary.BigEndian.PutUint16(b[n:], lport)
	binary.BigEndian.PutUint16(b[n+2:], rport)
	return n + 4
}

func cookieSlotOf(now time.Time) uint32 { return uint32(now.Unix() / cookieSlot) }

// sendCookie answers a SYN with a stateless SYN-ACK.
func (s *Stack) sendCookie(l *Listener, src, dst ipv6.Addr, h *Header, now time.Time) {
	mss := int(h.MSS)
	if mss == 0 {
		mss = defaultMSS
	}
	idx := uint32(0)
	for i, m := range cookieMSS {
		if m <= mss {
			idx = uint32(i)
		}
	}
	if int32(s.cookieN) == s.cfg.CookieQueue {
		s.stats.DropCookieQueue++
		s.stats.DropRSTQueue++
		return
	}
	if s.cookies == nil {
		s.cookies = make([]pendingCookie, s.cfg.CookieQueue)
	}
	i := int(s.cookieHead) + int(s.cookieN)
	if i >= len(s.cookies) {
		i -= len(s.cookies)
	}
	s.cookies[i] = pendingCookie{laddr: dst, raddr: src, lport: h.DstPort, rport: h.SrcPort,
		iss: s.cookie(dst, src, h.DstPort, h.SrcPort, h.Seq, cookieSlotOf(now), idx), ack: h.Seq + 1, at: uint32(now.UnixMilli())}
	s.cookieN++
	s.cookieAt = tickOf(now)
}

// cookieAccept opens a connection for an ACK that carries a valid SYN
// cookie, making room in the backlog by dropping its oldest half-open
// connection (a peer that answered is worth more than a SYN). It reports
// whether it did, and whether the cookie was valid but found no room.
func (s *Stack) cookieAccept(l *Listener, src, dst ipv6.Addr, h *Header, data []byte, now time.Time) (opened, full bool) {
	if s.cookieAt == 0 || time.Duration(tickOf(now)-s.cookieAt) > 2*cookieSlot*time.Second {
		return false, false // no cookie sent lately: nothing to guess at
	}
	iss := h.Ack - 1
	slot, idx := iss>>27, iss>>25&3
	cur := cookieSlotOf(now)
	ok := false
	for d := uint32(0); d < 2 && !ok; d++ {
		t := cur - d
		ok = t&31 == slot && s.cookie(dst, src, h.DstPort, h.SrcPort, h.Seq-1, t, idx) == iss
	}
	if !ok {
		s.stats.SynCookiesBad++
		return false, false
	}
	if l.n >= l.backlog {
		old := l.oldestHalfOpen()
		if old == nil {
			s.stats.SynCookiesFull++
			return false, true
		}
		s.stats.SlotsRecycled++
		l.drop(old)
		old.free()
	}
	c := s.alloc(true)
	if c == nil && s.cfg.Full != nil && s.cfg.Full(now) {
		c = s.alloc(true)
	}
	if c == nil {
		s.stats.SynCookiesFull++
		return false, true
	}
	c.init(dst, src, h.DstPort, h.SrcPort, now)
	c.passive = true
	c.state = SynReceived
	c.iss = iss
	c.sndUna, c.sndNxt, c.sndMax = iss, iss+1, iss+1
	c.sndBase, c.recover, c.smallEnd, c.rtxEnd = iss+1, iss, iss, iss
	c.irs = h.Seq - 1
	c.rcvNxt = h.Seq
	c.rcvAdv = c.rcvNxt + uint32(c.maxWnd())
	c.sndMSS = uint16(min(cookieMSS[idx], s.familyMSS(src)))
	c.sndWnd = uint32(h.Window)
	c.maxSndWnd = c.sndWnd
	c.sndWl1, c.sndWl2 = h.Seq-1, h.Ack
	l.add(c)
	s.stats.SynCookiesOK++
	c.input(h, data, now) // SYN-RECEIVED → ESTABLISHED, with any data
	return true, false
}

// Output writes the next segment to an IPv4 peer into dst, with its
// checksum over the pseudo-header (local → remote), and returns its length
// and the remote address (ipv4.Transport). Pending SYN cookies and RSTs go
// first (alternately when both wait), then the connections in round-robin
// order, one segment per call — except right after a queued segment, when
// the connections go first.
func (s *Stack) Output(dst []byte, local ipv4.Addr, now time.Time) (int, ipv4.Addr) {
	n, _, r := s.output(dst, false, ipv6.From4(local), now)
	return n, r.As4()
}

// Output6 is Output for IPv6 peers (ipv6.Transport): it also returns the
// segment's source, the address the connection (or the segment an RST or
// SYN cookie answers) was sent to. A queued RST or SYN-ACK of the other
// family waits in its queue for that family's Output (the card alternates
// the two) without holding back this family's.
func (s *Stack) Output6(dst []byte, now time.Time) (int, ipv6.Addr, ipv6.Addr) {
	return s.output(dst, true, ipv6.Addr{}, now)
}

// output writes the next segment of one family (v6, or IPv4 from local).
func (s *Stack) output(dst []byte, v6 bool, local ipv6.Addr, now time.Time) (int, ipv6.Addr, ipv6.Addr) {
	if len(dst) < HeaderLen+4 {
		return 0, ipv6.Addr{}, ipv6.Addr{}
	}
	if s.largePool != nil && s.nfree > 0 {
		s.grant()
	}
	if s.rstTurn {
		// The last segment out was a queued RST or SYN cookie: the
		// connections go first now, so a flood answered from the queue
		// takes at most half of the segments out.
		s.rstTurn = false
		if n, l, a := s.connOutput(dst, v6, local, now); n > 0 {
			return n, l, a
		}
	}
	ms := uint32(now.UnixMilli())
	for s.cookieN > cookieBacklog && ms-s.cookies[s.cookieHead].at > cookieMaxWait {
		s.popCookie()
		s.stats.DropCookieQueue++
		s.stats.DropRSTQueue++
	}
	// Each family takes its own oldest entry: one owed to a family whose
	// Output is not being called (IPV6CP down) must not hold back the
	// other's.
	ck, rk := s.cookieFor(v6), s.rstFor(v6)
	cookieOK, rstOK := ck >= 0, rk >= 0
	if cookieOK && (!rstOK || !s.cookieLast) {
		s.rstTurn, s.cookieLast = true, true
		r := s.takeCookie(ck)
		src := r.laddr
		if !v6 {
			src = local
		}
		wnd := uint16(min(s.cfg.SmallRecvBuf, 0xffff)) // what the connection will have
		n := putHeader(dst, r.lport, r.rport, r.iss, r.ack, FlagSYN|FlagACK, wnd, s.familyMSS(r.raddr))
		setChecksum(src, r.raddr, dst[:n])
		s.stats.SegsOut++
		s.stats.SynCookiesSent++
		return n, src, r.raddr
	}
	if rstOK {
		s.rstTurn, s.cookieLast = true, false
		r := s.rst[rk]
		copy(s.rst[rk:], s.rst[rk+1:s.rstN])
		s.rstN--
		src := r.laddr
		if !v6 {
			src = local
		}
		n := putHeader(dst, r.lport, r.rport, r.seq, r.ack, r.flags, 0, 0)
		setChecksum(src, r.raddr, dst[:n])
		s.stats.SegsOut++
		s.stats.RSTsOut++
		return n, src, r.raddr
	}
	return s.connOutput(dst, v6, local, now)
}

// ICMPError6 implements ipv6.ErrorReceiver6. A Packet Too Big (RFC 8201
// §4) about a segment of a connection lowers the connection's MSS to the
// reported MTU — never below IPv6's minimum of 1,280 bytes (§4: a node
// MUST NOT go lower) — less the IPv6 and TCP headers; the segment is
// resent, smaller, when its retransmission timer fires (no immediate
// resend). The quoted segment must be in flight: its sequence number
// between SND.UNA and SND.NXT, which an off-path attacker must guess
// (RFC 5927 §4.1). Other errors are counted only.
func (s *Stack) ICMPError6(typ, code uint8, local, remote ipv6.Addr, quoted []byte, info uint32, now time.Time) {
	s.stats.ICMPErrors++
	if typ != 2 || len(quoted) < 8 {
		return
	}
	lport, rport := binary.BigEndian.Uint16(quoted[0:]), binary.BigEndian.Uint16(quoted[2:])
	c := s.lookup(remote, local, rport, lport)
	if c == nil {
		return
	}
	seq := binary.BigEndian.Uint32(quoted[4:])
	if seqLT(seq, c.sndUna) || !seqLT(seq, c.sndNxt) {
		s.stats.PMTUIgnored++
		return
	}
	mss := int(max(info, 1280)) - 60
	if mss < int(c.sndMSS) {
		c.sndMSS = uint16(max(mss, minSndMSS))
		s.stats.PMTUReduced++
	}
}

// familyMSS is the largest MSS toward a: Config.MSS for IPv4, 20 bytes
// less for IPv6 (its header is 40 bytes, not 20).
func (s *Stack) familyMSS(a ipv6.Addr) int {
	if a.Is4() {
		return int(s.cfg.MSS)
	}
	return max(int(s.cfg.MSS)-20, 64)
}

// cookieFor returns the position (from the head) of the oldest pending
// SYN-cookie SYN-ACK to a peer of the family (v6, or IPv4), or -1.
func (s *Stack) cookieFor(v6 bool) int {
	i := int(s.cookieHead)
	for k := 0; k < int(s.cookieN); k++ {
		if s.cookies[i].raddr.Is4() != v6 {
			return k
		}
		if i++; i == len(s.cookies) {
			i = 0
		}
	}
	return -1
}

// rstFor returns the index of the oldest pending RST to a peer of the
// family, or -1.
func (s *Stack) rstFor(v6 bool) int {
	for k := 0; k < int(s.rstN); k++ {
		if s.rst[k].raddr.Is4() != v6 {
			return k
		}
	}
	return -1
}

// takeCookie takes the k-th pending SYN-cookie SYN-ACK (from the head)
// off the ring; the older ones move up one place, keeping their order.
func (s *Stack) takeCookie(k int) pendingCookie {
	n := len(s.cookies)
	at := func(k int) int {
		if i := int(s.cookieHead) + k; i < n {
			return i
		}
		return int(s.cookieHead) + k - n
	}
	r := s.cookies[at(k)]
	for ; k > 0; k-- {
		s.cookies[at(k)] = s.cookies[at(k-1)]
	}
	s.popCookie()
	return r
}

// popCookie takes the oldest pending SYN-cookie SYN-ACK off the ring.
func (s *Stack) popCookie() *pendingCookie {
	r := &s.cookies[s.cookieHead]
	s.cookieHead++
	if int(s.cookieHead) == len(s.cookies) {
		s.cookieHead = 0
	}
	s.cookieN--
	return r
}

// connOutput writes the next segment of the connections of one family,
// round robin.
func (s *Stack) connOutput(dst []byte, v6 bool, local ipv6.Addr, now time.Time) (int, ipv6.Addr, ipv6.Addr) {
	nc := len(s.conns)
	for i := 0; i < nc; i++ {
		k := int(s.rr) + i
		if k >= nc {
			k -= nc
		}
		c := &s.conns[k]
		if !c.inUse || c.raddr.Is4() == v6 {
			continue
		}
		if n := c.output(dst, now); n > 0 {
			src := c.laddr
			if !v6 {
				if c.laddr == unspecified4 {
					// Dialled before the link had an address: the
					// connection takes the address its first segment
					// leaves from, so the peer's answers find it.
					c.laddr = local
				}
				src = local
			}
			s.rr = uint32(k + 1)
			if int(s.rr) == nc {
				s.rr = 0
			}
			setChecksum(src, c.raddr, dst[:n])
			s.stats.SegsOut++
			return n, src, c.raddr
		}
	}
	return 0, ipv6.Addr{}, ipv6.Addr{}
}

// unspecified4 is 0.0.0.0 in the IPv4-mapped form.
var unspecified4 = ipv6.From4(ipv4.Addr{})

// Poll runs the timers of every connection and returns the earliest next
// deadline (zero: none). Clocks must lie between the years 1678 and 2262
// (times are kept as Unix nanoseconds). Call it after Input and after draining Output, as
// both can arm timers.
func (s *Stack) Poll(now time.Time) time.Time {
	var next tick
	for i := range s.conns {
		c := &s.conns[i]
		if !c.inUse {
			continue
		}
		if t := c.poll(now); t != 0 && (next == 0 || t < next) {
			next = t
		}
	}
	if next == 0 {
		return time.Time{}
	}
	return time.Unix(0, int64(next)).In(now.Location())
}
