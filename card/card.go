// Package card is the card: it sizes every buffer from a Profile once (each
// is lent at that size while it holds data and shed once the line has been
// quiet, Profile.ShedMs: the profile is a hard bound, and an idle card holds
// only its control state) and wires the layers — PPP, IPv4/ICMP, UDP/DNS, TCP, TLS,
// HTTP and the applications — into one event-driven machine with three
// entry points: Input (bytes from the serial line), Output (bytes to put on
// it) and Poll (timers). It owns no goroutines; Runner drives it from a real
// line.
package card

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/netip"
	"time"

	"netcard/apps"
	"netcard/dns"
	"netcard/http"
	"netcard/ipv4"
	"netcard/ipv6"
	"netcard/ppp"
	"netcard/store"
	"netcard/tcp"
	"netcard/tls"
	"netcard/udp"
)

// Config configures a card.
type Config struct {
	Profile Profile
	// Store is the card's non-volatile memory: key, certificate, PIN,
	// content. It must hold a key and a certificate.
	Store *store.Store
	// Rand is the card's random source (required): ISNs, TLS, PPP magic.
	Rand io.Reader
	// Clock tells the wall time for certificate validity checks in the
	// secure client (nil: the now of the current event).
	Clock func() time.Time

	// LocalIP is the address the card proposes in IPCP (zero: take the
	// host's). PeerIP is the address the card assigns the host if asked.
	LocalIP, PeerIP [4]byte
	// RequireAuth is what the card demands of the host (PAP or CHAP), with
	// Secrets to check it. User and Secret answer a host that demands it.
	RequireAuth  ppp.Auth
	Secrets      func(user string) (string, bool)
	User, Secret string
	// EchoInterval is the LCP keepalive period (0: off).
	EchoInterval time.Duration

	// HTTPSPort and HTTPPort are the card's listening ports (443 and 80).
	HTTPSPort, HTTPPort uint16

	// MinRTO lowers TCP's minimum retransmission timeout (simulations).
	MinRTO time.Duration

	// Tap sees every PPP frame (pcap capture).
	Tap func(sent bool, frame []byte)
	// Ethernet, when set, puts the card on an Ethernet link (frame stream)
	// instead of PPP; the PPP fields above are then unused.
	Ethernet *EthConfig
	// SpillRing is how many records' worth of NVM each slot's spill region
	// holds with Profile.SpillRecords (0: DefaultSpillRing; 1: one record,
	// every record rewriting the same blocks). The region is a ring
	// (store.Scratch.NextRecord): each streamed record starts where the
	// previous one ended, at the next 512-byte block, so a block is
	// programmed once per SpillRing records' worth of ciphertext instead of
	// once per record. Costs SpillRegion(SpillRing) bytes of NVM per slot
	// after the image; no RAM (the ring's start lives in the slot's
	// store.Scratch, 32 bytes as before). A Config field, not a Profile
	// one (TestCardSize).
	SpillRing int
	// Log receives link and TLS events (nil: discarded).
	Log *slog.Logger
	// Builtins selects the built-in applications (nil: all of
	// apps.BuiltinNames) and Apps adds further ones (package applet).
	Builtins []string
	Apps     []apps.Registered
}

// Card is one smart card's network stack.
type Card struct {
	cfg cardParams

	link *ppp.Link // nil on Ethernet
	eth  *ethFront // nil on PPP
	ip   *ipv4.Host
	auto *ipv6.SLAAC // IPv6 address autoconfiguration, on the IPv6 layer (auto.Host()); nil without Profile.IPv6
	tcp  *tcp.Stack
	udp  *udp.Stack
	dns  *dns.Resolver // lent by a fetch's lookup, nil when none runs (startFetch, serviceClient)
	app  *apps.App

	https, http *tcp.Listener
	// slots holds, per TCP connection slot, its session and its admission
	// times (one slice, not two: 24 bytes less). Each session serves
	// either port (TLS on HTTPSPort, plain HTTP on HTTPPort) for the
	// connection it was last Reset with.
	slots []connSlot

	// client is the secure client: allocated when a fetch starts and
	// dropped when it ends, so an idle card holds none of its buffers.
	client    *apps.ClientSession
	clientReq *apps.FetchRequest // the fetch in progress (nil when idle: allocated per fetch, like client)

	// now is the time of the call in progress (Start, Stop, Input,
	// Output, Poll) as Unix ns, for the layers' callbacks that get no
	// time (nowTime): 8 bytes, not a time.Time's 24.
	now     int64
	started int64 // Unix ns of Start (wall clock: the uptime shown on status)

	// Admission control (see EvictAfter).
	admDeferred uint32 // handshake-completing ACKs dropped for want of a slot (saturates)
	lastBytes   uint32 // ms after Start when a byte last crossed the line (wraps after 49 days; see shedPoll)
	adm         admission
	clientSt    clientState
	ipUp        bool
	pull        bool  // the next IP packet out tries IPv6 first
	flags       uint8 // flagV6Logged, flagOutPending
	redirects   uint8 // redirects followed by the current fetch (≤ apps.MaxRedirects)
}

// Card flags.
const (
	flagV6Logged   = 1 << iota // the global IPv6 address has been logged
	flagOutPending             // a layer may have a packet to send (see pendingIP)
	flagNoTimer                // the last Poll returned no deadline (see timerDue)
)

// cardParams is what a Card keeps of its Config after New (the rest
// configured the layers), Log is never nil. Of the profile in force it
// keeps only the few values used after New (48 bytes, not a 144-byte copy
// of the Profile): its name, MRU, receive buffer size, one slot's budget
// (slotBytes), the RAM budget (ramBudget, fixed once the link is known),
// the part of controlBytes fixed by the profile, and ShedMs. MaxConns is
// len(Card.slots).
type cardParams struct {
	name                                      string
	mru, recvBuf, slotBytes, budget, ctlFixed int32
	shedMs                                    uint16
	Store                                     *store.Store
	Rand                                      io.Reader
	Clock                                     func() time.Time
	Log                                       *slog.Logger
	HTTPSPort, HTTPPort                       uint16
	// pollDue is not configuration: it is the Card's (see timerDue),
	// kept in this struct's padding.
	pollDue uint32
}

// Shared read-only values: every card's TLS configuration offers the same
// ALPN list (tls.Config is never modified after use, the engine only reads
// it) and a card without a logger logs to the same discarding slog.Logger
// (a Logger has no mutable state). Sharing them saves 32 bytes per card.
var (
	alpnHTTP11 = []string{"http/1.1"}
	discardLog = slog.New(slog.DiscardHandler)
)

// connSlot is what the card keeps per TCP connection slot.
type connSlot struct {
	sess *apps.ServerSession
	at   slotTimes
}

// slotTimes are the admission-control times of one TCP slot, as Unix
// nanoseconds (time.Time.UnixNano; compared by wrapping difference, so
// only their distances matter) or never: 24 bytes a slot instead of three
// time.Time's 72.
type slotTimes struct {
	data   int64 // when its connection first sent data
	born   int64 // when the gate saw its connection open
	synAck int64 // when its first SYN-ACK went out
}

// never marks a slotTimes instant that has not happened. The one instant
// whose UnixNano it equals (in 1677) is read as never: it is not a time a
// card's clock shows.
const never = math.MinInt64

// unset is a slot's times before its connection opens.
var unset = slotTimes{data: never, born: never, synAck: never}

// before reports whether instant a is earlier than b; never is earlier
// than every instant, as the zero time.Time was.
func before(a, b int64) bool {
	if a == never || b == never {
		return a == never && b != never
	}
	return a-b < 0
}

type clientState uint8

const (
	clientIdle clientState = iota
	clientResolving
	clientConnecting
)

// New builds a card from its configuration: the layers' control state now,
// their buffers (sized by the profile) when first needed.
func New(cfg Config) (*Card, error) {
	if cfg.Store == nil {
		return nil, errors.New("card: no store")
	}
	if cfg.Rand == nil {
		return nil, errors.New("card: no random source")
	}
	if cfg.HTTPSPort == 0 {
		cfg.HTTPSPort = 443
	}
	if cfg.HTTPPort == 0 {
		cfg.HTTPPort = 80
	}
	p := cfg.Profile
	if p.Name == "" {
		p = CardProfile
	}
	log := cfg.Log
	if log == nil {
		log = discardLog
	}
	chain := cfg.Store.Certificate()
	if len(chain) == 0 {
		return nil, errors.New("card: the store holds no certificate (personalise it with netcard init)")
	}
	signer, err := cfg.Store.Signer()
	if err != nil {
		return nil, fmt.Errorf("card: %w", err)
	}
	c := &Card{cfg: cardParams{name: p.Name, mru: int32(p.MRU), recvBuf: int32(p.RecvBuf), slotBytes: int32(p.slotBytes()),
		shedMs: p.ShedMs, Store: cfg.Store, Rand: cfg.Rand, Clock: cfg.Clock, Log: log,
		HTTPSPort: cfg.HTTPSPort, HTTPPort: cfg.HTTPPort}}
	// Session tickets make repeat handshakes cheap; the ticket key lives
	// in RAM only, so a card reset invalidates every ticket.
	var ticketKey [32]byte // inline in the tls.Config: no allocation of its own
	if _, err := io.ReadFull(cfg.Rand, ticketKey[:]); err != nil {
		return nil, fmt.Errorf("card: random source: %w", err)
	}
	// The TLS clock is the configured one itself when there is one (as
	// c.clock would return it): no closure to allocate.
	tlsTime := cfg.Clock
	if tlsTime == nil {
		tlsTime = c.clock
	}
	tlsCfg := &tls.Config{
		TicketKey:       ticketKey,
		Rand:            cfg.Rand,
		Time:            tlsTime,
		Certificate:     chain,
		Signer:          signer,
		ALPN:            alpnHTTP11,
		MaxRecordOut:    sat16(p.RecordOut),
		RecordSizeLimit: sat16(p.RecordSizeLimit),
		// handshake messages up to the profile's limit (RFC 8446 gives none)
		MaxHandshakeMessage: int32(min(p.MaxHandshakeMessage, math.MaxInt32)),
		// as many grown reassembly buffers at once as TCP has large receive buffers to lend (big
		// records arrive through them); a stalled holder loses its slot after the handshake timeout
		HandshakeBudget: handshakeBudget(p),
		PreferChaCha:    p.ChaChaFirst,
	}
	if cfg.Store.AdminKey() != nil {
		// An administrator may log in with a client certificate whose key
		// is the store's admin key; ask every client for one (optional).
		// Only the leaf's public key is kept (the admin check needs no
		// more): a client's chain costs no RAM after its message.
		tlsCfg.ClientAuth = tls.RequestClientCert
		tlsCfg.PeerKeyOnly = true
	}
	if cfg.Ethernet == nil {
		c.newPPP(cfg, p)
	}
	c.ip = ipv4.NewHost(ipv4.Config{

		MTU:             p.MRU,
		ReassemblySlots: orNeg(p.ReassemblySlots),
		ReassemblyBytes: p.ReassemblyBytes,
		Rand:            cfg.Rand,
	})
	c.tcp = tcp.NewStack(tcp.Config{
		MaxConns: p.MaxConns,
		RecvBuf:  p.RecvBuf,
		SendBuf:  p.SendBuf,
		MSS:      p.MRU - 40,
		Rand:     cfg.Rand,
		MinRTO:   cfg.MinRTO,
		Full:     c.evict,
		// Small receive buffers per slot, large ones shared (tcp.Conn.Reserve).
		SmallRecvBuf: p.SmallRecvBuf, LargeRecvBufs: p.LargeRecvBufs,
		// An ACK completing a SYN cookie that still finds no slot (after
		// tcpGate and evict) is dropped, not reset, as Linux does with a
		// full accept queue: the client retransmits and its cookie stays
		// valid for a minute or more.
		DropCookieAckWhenFull: true,
		CookieQueue:           8 * p.MaxConns, // 32 for the Card profile, 8 for Tiny
	})
	c.udp = udp.NewStack(udp.Config{MaxSockets: p.UDPSockets, QueueBytes: p.UDPQueue, Rand: cfg.Rand})
	c.slots = make([]connSlot, p.MaxConns)
	c.ip.Register(6, (*tcpGate)(c))
	c.ip.Register(17, c.udp)
	c.newIPv6(p, cfg.Ethernet != nil)
	if cfg.Ethernet != nil {
		if c.eth, err = newEthFront(c, *cfg.Ethernet, p, cfg.Rand); err != nil {
			return nil, err
		}
	}

	if c.https, err = c.tcp.Listen(cfg.HTTPSPort, p.MaxConns); err != nil {
		return nil, err
	}
	if c.http, err = c.tcp.Listen(cfg.HTTPPort, p.MaxConns); err != nil {
		return nil, err
	}
	// One streamed status page per connection slot at most: a page a
	// connection abandoned mid-stream is reclaimed by its own session's next
	// status request, and the others always find one (no 503).
	c.app = apps.New(apps.Config{Store: cfg.Store, Status: c.Status, HTTPSPort: int(cfg.HTTPSPort),
		StatusStreams: p.MaxConns, Rand: cfg.Rand, Builtins: cfg.Builtins, Apps: cfg.Apps})
	// Responses are composed in place, in the TCP send buffer (inside the
	// plaintext area of TLS records): HTTPOut is room there, not a buffer.
	hcfg := http.ServerConfig{InBuf: p.HTTPIn, OutBuf: p.HTTPOut, InPlace: true}
	// A TCP connection slot is all a session can serve, so there is one
	// session per slot, whichever port the connection arrived on.
	serve := c.app.Serve
	for i := range c.slots {
		c.slots[i] = connSlot{at: unset, sess: apps.NewServerSession(apps.SessionConfig{
			TLS: tlsCfg, RecordBuf: p.RecvBuf, HTTP: hcfg, Handler: serve,
			Spill: spillRegion(cfg.Store, p, cfg.SpillRing, i, log), StreamAbove: p.SlotRecvBuf(),
		})}
	}
	c.cfg.budget = int32(budgetOf(p, c.eth != nil))
	if c.link != nil {
		c.cfg.ctlFixed += int32(ppp.VJRAM(p.VJStates()))
	}
	return c, nil
}

// spillRegion is slot i's spill for records larger than its receive
// buffer (Profile.SpillRecords), or nil: not asked for, or no room on the
// store's medium.
func spillRegion(st *store.Store, p Profile, ring, i int, log *slog.Logger) tls.Spill {
	if !p.SpillRecords {
		return nil
	}
	if ring == 0 {
		ring = DefaultSpillRing
	}
	r, err := st.Scratch(i, SpillRegion(ring))
	if err != nil {
		if i == 0 {
			log.Warn("card: no spill region for large TLS records; they need the large receive buffers", "err", err)
		}
		return nil
	}
	return r
}

func (c *Card) newPPP(cfg Config, p Profile) {
	c.link = ppp.New(ppp.Config{
		IPv6:         p.pppIPv6(),
		MRU:          p.LinkMRU(),
		VJSlots:      p.VJStates(),
		LocalIP:      cfg.LocalIP,
		PeerIP:       cfg.PeerIP,
		RequireAuth:  cfg.RequireAuth,
		Secrets:      cfg.Secrets,
		User:         cfg.User,
		Secret:       cfg.Secret,
		EchoInterval: cfg.EchoInterval,
		Rand:         cfg.Rand,
		Tap:          cfg.Tap,
		Upper:        (*linkUpper)(c), // no method values: 64 bytes of closures less
	})
}

// linkUpper is the card as the PPP link's upper layer (ppp.Upper).
type linkUpper Card

func (u *linkUpper) DeliverIP(pkt []byte)  { (*Card)(u).deliverIP(pkt) }
func (u *linkUpper) PullIP(dst []byte) int { return (*Card)(u).pullIP(dst) }
func (u *linkUpper) PendingIP() bool       { return (*Card)(u).pendingIP() }
func (u *linkUpper) Event(e ppp.Event)     { (*Card)(u).linkEvent(e) }

func orNeg(n int) int {
	if n == 0 {
		return -1
	}
	return n
}

func (c *Card) clock() time.Time {
	if c.cfg.Clock != nil {
		return c.cfg.Clock()
	}
	return c.nowTime()
}

// nowTime is the time of the call in progress: its wall clock, in UTC
// (no monotonic reading: times compare by their wall clocks).
func (c *Card) nowTime() time.Time { return time.Unix(0, c.now).UTC() }

// Start opens the link: the card starts negotiating LCP.
func (c *Card) Start(now time.Time) {
	c.now = now.UnixNano()
	c.started = now.UnixNano()
	if c.eth != nil {
		c.eth.start(now)
		return
	}
	c.link.Open(now)
}

// Stop closes the link (LCP Terminate).
func (c *Card) Stop(now time.Time) {
	c.now = now.UnixNano()
	if c.eth != nil {
		c.eth.stop(now)
		return
	}
	c.link.Close(now)
}

// Input takes bytes from the serial line.
func (c *Card) Input(b []byte, now time.Time) {
	c.now = now.UnixNano()
	if len(b) > 0 {
		c.lastBytes = c.msSinceStart(now)
		c.flags |= flagOutPending
	}
	if c.eth != nil {
		c.eth.link.Input(b, now)
	} else {
		c.link.Input(b, now)
	}
	c.service(now)
}

// Output writes bytes for the serial line into p and returns how many.
func (c *Card) Output(p []byte, now time.Time) int {
	c.now = now.UnixNano()
	c.service(now)
	var n int
	if c.eth != nil {
		n = c.eth.link.Output(p, now)
	} else {
		n = c.link.Output(p, now)
	}
	if n > 0 {
		c.lastBytes = c.msSinceStart(now)
	}
	return n
}

// Poll runs timers and application work; it returns when it wants to be
// polled next (zero: no timer pending).
func (c *Card) Poll(now time.Time) time.Time {
	c.now = now.UnixNano()
	if c.timerDue(now) {
		c.flags |= flagOutPending // timers may queue packets
	}
	var next time.Time
	if c.eth != nil {
		next = c.eth.poll(now)
	} else {
		next = c.link.Poll(now)
	}
	next = earliest(next, c.ip.Poll(now))
	next = earliest(next, c.pollIPv6(now))
	if c.dns != nil {
		next = earliest(next, c.dns.Poll(now))
	}
	c.service(now)
	next = earliest(next, c.app.Poll(now)) // the applications' timers
	for i := range c.slots {
		s := c.slots[i].sess
		if !s.Done() {
			next = earliest(next, s.Next())
		}
	}
	if c.clientSt == clientConnecting && !c.client.Done() {
		next = earliest(next, c.client.Next())
	}
	c.setPollDue(next) // the layers' deadlines: shedding (below) queues no packet
	return earliest(next, c.shedPoll(now))
}

// timerDue reports whether a deadline the last Poll returned has come: only
// then can the layers' timers have queued a packet, and only then does Poll
// tell the link so (pendingIP). A Poll before any deadline (a driver woken
// by input, which sets the flag itself, or polling early) must not: the
// link, its transmit frame shed, would lend the 1.6 KB frame to ask PullIP
// for nothing and drop it again at every such Poll
// (sim: TestShedIdlePollAllocatesNothing). The deadline is kept in
// milliseconds after Start, rounded down, so a Poll at or after it always
// finds it due (one a little early may too: that only costs one lend);
// the difference wraps after 24 days, beyond any timer of the stack.
func (c *Card) timerDue(now time.Time) bool {
	if c.flags&flagNoTimer != 0 {
		return false
	}
	return int32(c.msSinceStart(now)-c.cfg.pollDue) >= 0
}

// setPollDue records the deadline Poll returns (zero: none) for timerDue.
func (c *Card) setPollDue(next time.Time) {
	if next.IsZero() {
		c.flags |= flagNoTimer
		return
	}
	c.flags &^= flagNoTimer
	c.cfg.pollDue = c.msSinceStart(next)
}

// msSinceStart is now in milliseconds after Start, modulo 2³².
func (c *Card) msSinceStart(now time.Time) uint32 {
	return uint32((now.UnixNano() - c.started) / int64(time.Millisecond))
}

// shedPoll sheds the buffers that hold no data once the line has been
// quiet for Profile.ShedMs, and otherwise says when it will have been.
// The quiet time is a wrapping 32-bit millisecond difference: after 49
// days of silence a wrap can delay one shed by at most ShedMs, which costs
// nothing but memory held a little longer. Shedding is idempotent and
// only drops empty buffers, so being called again while quiet is
// harmless.
func (c *Card) shedPoll(now time.Time) time.Time {
	d := uint32(c.cfg.shedMs)
	if d == 0 {
		return time.Time{}
	}
	quiet := c.msSinceStart(now) - c.lastBytes
	if quiet < d {
		return now.Add(time.Duration(d-quiet) * time.Millisecond)
	}
	c.Shed()
	return time.Time{}
}

// Shed drops every buffer of every layer that holds no data right now
// (see Profile.ShedMs) and returns the bytes released. Each buffer is
// allocated again, at its profile size, when it is next needed.
func (c *Card) Shed() int {
	n := 0
	if c.link != nil {
		n += c.link.Shed()
	}
	if c.eth != nil {
		n += c.eth.link.Shed()
	}
	n += c.ip.Shed()
	if c.auto != nil {
		n += c.auto.Host().Shed()
	}
	n += c.tcp.Shed()
	n += c.udp.Shed()
	for i := range c.slots {
		s := c.slots[i].sess
		n += s.Shed()
	}
	return n
}

// handshakeBudget bounds the TLS handshake messages reassembled beyond the engines' usual buffer
// at once (tls.HandshakeBudget): one per large TCP receive buffer (Card: 1, so 16,388 B at worst
// instead of one per connection); none for a profile with one receive buffer size for all (Tiny
// has one connection; Host is not short of RAM).
func handshakeBudget(p Profile) *tls.HandshakeBudget {
	if p.LargeRecvBufs <= 0 {
		return nil
	}
	return tls.NewHandshakeBudget(p.LargeRecvBufs, 10*time.Second)
}

func earliest(a, b time.Time) time.Time {
	if a.IsZero() || (!b.IsZero() && b.Before(a)) {
		return b
	}
	return a
}

func (c *Card) deliverIP(pkt []byte) {
	if !c.deliverIPv6(pkt) {
		c.ip.Input(pkt, c.nowTime())
	}
}

func (c *Card) pullIP(dst []byte) int {
	var n int
	if c.auto != nil && c.link.Up6() {
		n = c.pullDual(dst)
	} else {
		n = c.ip.Output(dst, c.nowTime())
	}
	if n <= 0 {
		c.flags &^= flagOutPending
	}
	return n
}

// pendingIP is ppp.Config.PendingIP: asked only while the link's transmit
// buffer is shed, it tells the link whether to lend the buffer to pullIP.
// It is true from any event that can queue a packet (bytes in, a timer,
// work done by a session or the secure client) until pullIP finds nothing:
// never false while a packet waits, and an idle link's Output allocates
// nothing.
func (c *Card) pendingIP() bool { return c.flags&flagOutPending != 0 }

func (c *Card) linkEvent(e ppp.Event) {
	c.flags |= flagOutPending // a family going up may have packets waiting
	switch e {
	case ppp.EventIPCPUp:
		l, p := c.link.LocalIP(), c.link.PeerIP()
		c.ip.SetLocal(l)
		c.ip.SetMTU(min(c.link.MTU(), int(c.cfg.mru)))
		if c.dns != nil { // a lookup in progress asks the new servers next
			var buf [dns.MaxServers]ipv4.Addr
			c.dns.SetServers(c.dnsServers(buf[:0]))
		}
		c.ipUp = true
		c.cfg.Log.Info("link up", "local", netip.AddrFrom4(l), "peer", netip.AddrFrom4(p), "mtu", c.link.MTU())
	case ppp.EventIPCPDown:
		c.ipUp = false
		c.cfg.Log.Info("link down")
	case ppp.EventIPV6CPUp, ppp.EventIPV6CPDown:
		c.ipv6Event(e)
	default:
		c.cfg.Log.Debug("ppp event", "event", int(e))
	}
}

// service runs the applications after every event: accept connections,
// pump the sessions, run the secure client.
func (c *Card) service(now time.Time) {
	for {
		conn := c.https.Accept()
		if conn == nil {
			break
		}
		c.flags |= flagOutPending
		s := c.freeSession()
		if s == nil {
			conn.Abort()
			continue
		}
		s.Reset(conn)
	}
	for {
		conn := c.http.Accept()
		if conn == nil {
			break
		}
		// Port 80 only redirects; its connections take slots under the
		// same admission policy as HTTPS (see EvictAfter), so an idle
		// one is evicted like any other.
		c.flags |= flagOutPending
		s := c.freeSession()
		if s == nil {
			conn.Abort()
			continue
		}
		s.ResetPlain(conn)
	}
	for i := range c.slots {
		s := c.slots[i].sess
		if c.pump(s, now) {
			c.flags |= flagOutPending
		}
	}
	if c.clientSt != clientIdle {
		c.flags |= flagOutPending // a fetch in progress: DNS or TCP may send
	}
	c.serviceClient(now)
	if c.clientSt != clientIdle {
		c.flags |= flagOutPending
	}
}

func (c *Card) pump(s *apps.ServerSession, now time.Time) (progress bool) {
	if s.Done() {
		return false
	}
	for i := 0; i < 64 && s.Service(now); i++ {
		progress = true
	}
	if s.Done() {
		if e := s.Engine(); e != nil && e.State() == tls.Failed {
			c.cfg.Log.Info("tls failed", "alert", e.Alert(), "err", e.Err())
		}
		s.Release() // an idle slot keeps no TLS state
		progress = true
	}
	return progress
}

// serviceClient runs the secure client (the card's own outbound HTTPS).
func (c *Card) serviceClient(now time.Time) {
	switch c.clientSt {
	case clientIdle:
		if !c.ipUp {
			return
		}
		req, ok := c.app.NextFetch()
		if !ok {
			return
		}
		r := req // to the heap only here, once per fetch (not per Poll)
		c.clientReq = &r
		c.redirects = 0
		c.startFetch(now)
	case clientResolving:
		addr, done, err := c.dns.Result()
		if !done {
			return
		}
		c.cfg.Log.Debug("dns lookup done", "host", c.clientReq.Host, "stats", c.dns.Stats())
		c.dns = nil // the resolver goes with its lookup (its socket closed by then)
		if err != nil {
			c.finishFetch(apps.FetchResult{Err: "resolve " + c.clientReq.Host + ": " + err.Error()})
			return
		}
		c.connect(addr, now)
	case clientConnecting:
		for i := 0; i < 64 && c.client.Service(now); i++ {
		}
		if !c.client.Done() {
			return
		}
		if next, ok := c.client.Redirect(c.clientReq); ok && int(c.redirects) < apps.MaxRedirects {
			// Follow the redirect on a new connection (RFC 9110 §15.4).
			c.redirects++
			c.cfg.Log.Info("fetch redirected", "from", c.clientReq.URL, "to", next.URL)
			r := next
			c.clientReq = &r
			c.clientSt = clientIdle
			c.startFetch(now)
			return
		}
		c.finishFetch(c.client.Result())
	}
}

// startFetch resolves c.clientReq's host if needed and connects.
func (c *Card) startFetch(now time.Time) {
	if a, err := netip.ParseAddr(c.clientReq.Host); err == nil && a.Is4() {
		c.connect(a.As4(), now)
		return
	}
	// The resolver is lent for this lookup only (80 bytes an idle card does
	// not hold), with the servers the link gave now.
	var buf [dns.MaxServers]ipv4.Addr
	r := dns.NewResolver(c.udp, dns.ResolverConfig{Rand: c.cfg.Rand, Servers: c.dnsServers(buf[:0])})
	if err := r.Resolve(c.clientReq.Host, now); err != nil {
		c.finishFetch(apps.FetchResult{Err: err.Error()})
		return
	}
	c.dns = r
	c.clientSt = clientResolving
}

// dnsServers appends the DNS servers the link gave to buf: IPCP's on PPP
// (RFC 1877), the DHCP lease's on Ethernet (option 6, once the lease's
// address check is done).
func (c *Card) dnsServers(buf []ipv4.Addr) []ipv4.Addr {
	var list [2][4]byte
	if c.eth != nil {
		list = c.eth.dns
	} else {
		list = c.link.DNS()
	}
	for _, d := range list {
		if d != ([4]byte{}) {
			buf = append(buf, d)
		}
	}
	return buf
}

func (c *Card) connect(addr ipv4.Addr, now time.Time) {
	conn, err := c.tcp.Dial(c.ip.Local(), addr, c.clientReq.Port, now)
	if err != nil {
		c.finishFetch(apps.FetchResult{Err: err.Error()})
		return
	}
	var tcfg *tls.Config
	if c.clientReq.TLS {
		tcfg, err = apps.ClientTLS(c.cfg.Store, c.cfg.Rand, c.clock, c.clientReq.Host, c.clientReq.ClientCert)
		if err != nil {
			conn.Abort()
			c.finishFetch(apps.FetchResult{Err: err.Error()})
			return
		}
	}
	if c.client == nil {
		c.client = apps.NewClientSession(apps.ClientConfig{RecordBuf: int(c.cfg.recvBuf)})
	}
	if err := c.client.Start(conn, c.clientReq, tcfg, now); err != nil {
		conn.Abort()
		c.finishFetch(apps.FetchResult{Err: err.Error()})
		return
	}
	c.clientSt = clientConnecting
}

func (c *Card) finishFetch(r apps.FetchResult) {
	c.clientSt = clientIdle
	c.client = nil // r was copied by SetFetchResult below; the buffers go
	c.cfg.Log.Info("fetch done", "url", c.clientReq.URL, "status", r.Status, "err", r.Err)
	c.clientReq = nil
	c.app.SetFetchResult(r)
}

// App returns the card's applications (to queue a secure-client fetch).
func (c *Card) App() *apps.App { return c.app }

// Link returns the card's PPP link.
func (c *Card) Link() *ppp.Link { return c.link }

// TCP returns the card's TCP stack.
func (c *Card) TCP() *tcp.Stack { return c.tcp }

// IP returns the card's IPv4 host layer.
func (c *Card) IP() *ipv4.Host { return c.ip }

// Up reports whether the link is up (IPCP Opened).
func (c *Card) Up() bool {
	if c.eth != nil {
		return c.ipUp
	}
	return c.link.Up()
}

// Status reports the card's live state (the status page).
func (c *Card) Status(now time.Time) apps.Status {
	st := apps.Status{
		Uptime:    now.Sub(time.Unix(0, c.started)),
		LinkUp:    c.Up(),
		Profile:   c.cfg.name,
		RAMBudget: c.ramBudget(),
		RAMUsed:   c.ramBudget() - len(c.slots)*int(c.cfg.slotBytes),
		RAMLent:   c.Lent(),
	}
	ws := c.cfg.Store.ScratchStats()
	st.SpillBytesWritten, st.SpillBlockWrites = ws.BytesWritten, ws.BlockWrites
	var ps ppp.Stats
	if c.eth != nil {
		st.LinkState = "Ethernet " + c.eth.link.MAC().String()
		if st.LinkUp {
			st.LocalIP = netip.AddrFrom4(c.ip.Local())
		}
	} else {
		ps = c.link.Stats()
		st.LinkState = fmt.Sprintf("LCP %v, IPCP %v", ps.LCPState, ps.IPCPState)
		if st.LinkUp {
			st.LocalIP = netip.AddrFrom4(c.link.LocalIP())
			st.PeerIP = netip.AddrFrom4(c.link.PeerIP())
		}
	}
	for i := range c.slots {
		conn, ok := c.tcp.Conn(i)
		if !ok {
			continue
		}
		st.RAMUsed += int(c.cfg.slotBytes) // this slot's buffers hold a connection
		ra, rp := conn.Remote()
		_, lp := conn.Local()
		st.Conns = append(st.Conns, apps.ConnStatus{
			Local: lp, Remote: netip.AddrPortFrom(ra.Netip(), rp),
			State: conn.State().String(), TLS: lp == c.cfg.HTTPSPort,
		})
	}
	add := func(layer, name string, v uint64) {
		st.Counters = append(st.Counters, apps.Counter{Layer: layer, Name: name, Value: v})
	}
	if c.eth != nil {
		c.eth.status(add)
	} else {
		add("PPP", "frames in", ps.FramesIn)
		add("PPP", "frames out", ps.FramesOut)
		add("PPP", "line bytes in", ps.BytesIn)
		add("PPP", "line bytes out", ps.BytesOut)
		add("PPP", "bad FCS", ps.BadFCS)
		add("PPP", "echo requests answered", ps.EchoReqRecv)
	}
	is := c.ip.Stats()
	add("IP", "packets in", is.InPackets)
	add("IP", "packets out", is.OutPackets)
	add("IP", "dropped bad checksum", is.InBadChecksum)
	add("IP", "filtered", is.InFiltered)
	add("ICMP", "echo replies", is.ICMPEchoOut)
	ts := c.tcp.Stats()
	add("TCP", "segments in", ts.SegsIn)
	add("TCP", "segments out", ts.SegsOut)
	add("TCP", "retransmits", ts.Retransmits)
	add("TCP", "connections accepted", ts.ConnsAccepted)
	add("TCP", "connections refused", ts.ConnsRefused)
	add("TCP", "SYN cookies sent", ts.SynCookiesSent)
	add("TCP", "SYN cookies accepted", ts.SynCookiesOK)
	add("TCP", "handshakes deferred (no slot)", uint64(c.admDeferred))
	add("TCP", "replies dropped (queue full)", ts.DropRSTQueue)
	var ss apps.SessionStats
	for i := range c.slots {
		s := c.slots[i].sess
		x := s.Stats()
		ss.Handshakes += x.Handshakes
		ss.TLSFailures += x.TLSFailures
		ss.RecordsIn += x.RecordsIn
		ss.RecordsOut += x.RecordsOut
		ss.Requests += x.Requests
		ss.Evicted += x.Evicted
		ss.SendStalls += x.SendStalls
	}
	add("TCP", "connections evicted (no slot free)", ss.Evicted)
	add("TCP", "stalled readers reset", ss.SendStalls)
	add("TLS", "handshakes", ss.Handshakes)
	add("TLS", "failures", ss.TLSFailures)
	add("TLS", "records in", ss.RecordsIn)
	add("TLS", "records out", ss.RecordsOut)
	add("HTTP", "requests", ss.Requests)
	// Each application's RAM and store use (issue 15: reported in status,
	// to the administrator; GET /admin/apps lists more). Last, so that the
	// public page can cut them off (apps.AppCounterPrefix).
	if h := c.app.Host(); h != nil {
		h.Use(func(_ int, name string, ram, store int) {
			add(apps.AppCounterPrefix+name, "RAM bytes", uint64(ram))
			add(apps.AppCounterPrefix+name, "store bytes", uint64(store))
		})
	}
	return st
}

// sat16 narrows a profile size to a tls.Config field, saturating: tls caps
// both record sizes far below 65535 (RFC 8446 §5.1, RFC 8449 §4), so a
// bigger value means the same as 65535.
func sat16(v int) uint16 {
	return uint16(min(max(v, 0), math.MaxUint16))
}
