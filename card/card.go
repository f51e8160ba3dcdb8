// Package card is the card: it allocates the whole memory budget of a
// Profile once and wires the layers — PPP, IPv4/ICMP, UDP/DNS, TCP, TLS,
// HTTP and the applications — into one event-driven machine with three
// entry points: Input (bytes from the serial line), Output (bytes to put on
// it) and Poll (timers). It owns no goroutines; Runner drives it from a real
// line.
package card

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"time"

	"netcard/apps"
	"netcard/dns"
	"netcard/http"
	"netcard/ipv4"
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

	link *ppp.Link
	ip   *ipv4.Host
	tcp  *tcp.Stack
	udp  *udp.Stack
	dns  *dns.Resolver
	app  *apps.App

	https, http *tcp.Listener
	// sess holds one session per TCP connection slot; each serves either
	// port (TLS on HTTPSPort, plain HTTP on HTTPPort) for the connection it
	// was last Reset with.
	sess []*apps.ServerSession

	// client is the secure client: allocated when a fetch starts and
	// dropped when it ends, so an idle card holds none of its buffers.
	client    *apps.ClientSession
	clientReq *apps.FetchRequest // the fetch in progress (nil when idle: allocated per fetch, like client)
	clientTCP *tcp.Conn
	redirects int // redirects followed by the current fetch

	now     time.Time
	started time.Time
	tlsCfg  *tls.Config

	// Admission control (see EvictAfter).
	at          []slotTimes // per TCP slot
	admDeferred uint64      // handshake-completing ACKs dropped for want of a slot
	adm         admission
	clientSt    clientState
	ipUp        bool
}

// cardParams is what a Card keeps of its Config after New (the rest
// configured the layers): Profile is the profile in force, Log is never nil.
type cardParams struct {
	Profile             Profile
	Store               *store.Store
	Rand                io.Reader
	Clock               func() time.Time
	Log                 *slog.Logger
	HTTPSPort, HTTPPort uint16
}

// slotTimes are the admission-control times of one TCP slot.
type slotTimes struct {
	data   time.Time // when its connection first sent data
	born   time.Time // when the gate saw its connection open
	synAck time.Time // when its first SYN-ACK went out
}

type clientState uint8

const (
	clientIdle clientState = iota
	clientResolving
	clientConnecting
)

// New builds a card from its configuration, allocating the whole memory
// budget of the profile.
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
		log = slog.New(slog.DiscardHandler)
	}
	chain := cfg.Store.Certificate()
	if len(chain) == 0 {
		return nil, errors.New("card: the store holds no certificate (personalise it with netcard init)")
	}
	signer, err := cfg.Store.Signer()
	if err != nil {
		return nil, fmt.Errorf("card: %w", err)
	}
	c := &Card{cfg: cardParams{Profile: p, Store: cfg.Store, Rand: cfg.Rand, Clock: cfg.Clock, Log: log,
		HTTPSPort: cfg.HTTPSPort, HTTPPort: cfg.HTTPPort}}
	// Session tickets make repeat handshakes cheap; the ticket key lives
	// in RAM only, so a card reset invalidates every ticket.
	ticketKey := make([]byte, 32)
	if _, err := io.ReadFull(cfg.Rand, ticketKey); err != nil {
		return nil, fmt.Errorf("card: random source: %w", err)
	}
	c.tlsCfg = &tls.Config{
		TicketKey:       ticketKey,
		Rand:            cfg.Rand,
		Time:            c.clock,
		Certificate:     chain,
		Signer:          signer,
		ALPN:            []string{"http/1.1"},
		MaxRecordOut:    p.RecordOut,
		RecordSizeLimit: p.RecordSizeLimit,
		// handshake messages up to the profile's limit (RFC 8446 gives none)
		MaxHandshakeMessage: p.MaxHandshakeMessage,
	}
	if cfg.Store.AdminKey() != nil {
		// An administrator may log in with a client certificate whose key
		// is the store's admin key; ask every client for one (optional).
		c.tlsCfg.ClientAuth = tls.RequestClientCert
	}
	c.link = ppp.New(ppp.Config{
		MRU:          p.MRU,
		LocalIP:      cfg.LocalIP,
		PeerIP:       cfg.PeerIP,
		RequireAuth:  cfg.RequireAuth,
		Secrets:      cfg.Secrets,
		User:         cfg.User,
		Secret:       cfg.Secret,
		EchoInterval: cfg.EchoInterval,
		Rand:         cfg.Rand,
		DeliverIP:    c.deliverIP,
		PullIP:       c.pullIP,
		Tap:          cfg.Tap,
		Event:        c.linkEvent,
	})
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
	c.dns = dns.NewResolver(c.udp, dns.ResolverConfig{Rand: cfg.Rand})
	c.at = make([]slotTimes, p.MaxConns)
	c.ip.Register(6, (*tcpGate)(c))
	c.ip.Register(17, c.udp)

	if c.https, err = c.tcp.Listen(cfg.HTTPSPort, p.MaxConns); err != nil {
		return nil, err
	}
	if c.http, err = c.tcp.Listen(cfg.HTTPPort, 1); err != nil {
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
	for i := 0; i < p.MaxConns; i++ {
		c.sess = append(c.sess, apps.NewServerSession(apps.SessionConfig{
			TLS: c.tlsCfg, RecordBuf: p.RecvBuf, HTTP: hcfg, Handler: c.app.Serve,
		}))
	}
	return c, nil
}

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
	return c.now
}

// Start opens the link: the card starts negotiating LCP.
func (c *Card) Start(now time.Time) {
	c.now = now
	c.started = now
	c.link.Open(now)
}

// Stop closes the link (LCP Terminate).
func (c *Card) Stop(now time.Time) {
	c.now = now
	c.link.Close(now)
}

// Input takes bytes from the serial line.
func (c *Card) Input(b []byte, now time.Time) {
	c.now = now
	c.link.Input(b, now)
	c.service(now)
}

// Output writes bytes for the serial line into p and returns how many.
func (c *Card) Output(p []byte, now time.Time) int {
	c.now = now
	c.service(now)
	return c.link.Output(p, now)
}

// Poll runs timers and application work; it returns when it wants to be
// polled next (zero: no timer pending).
func (c *Card) Poll(now time.Time) time.Time {
	c.now = now
	next := c.link.Poll(now)
	next = earliest(next, c.ip.Poll(now))
	next = earliest(next, c.dns.Poll(now))
	c.service(now)
	next = earliest(next, c.app.Poll(now)) // the applications' timers
	for _, s := range c.sess {
		if !s.Done() {
			next = earliest(next, s.Next())
		}
	}
	if c.clientSt == clientConnecting && !c.client.Done() {
		next = earliest(next, c.client.Next())
	}
	return next
}

func earliest(a, b time.Time) time.Time {
	if a.IsZero() || (!b.IsZero() && b.Before(a)) {
		return b
	}
	return a
}

func (c *Card) deliverIP(pkt []byte) { c.ip.Input(pkt, c.now) }

func (c *Card) pullIP(dst []byte) int { return c.ip.Output(dst, c.now) }

func (c *Card) linkEvent(e ppp.Event) {
	switch e {
	case ppp.EventIPCPUp:
		l, p := c.link.LocalIP(), c.link.PeerIP()
		c.ip.SetLocal(l)
		c.ip.SetMTU(min(c.link.MTU(), c.cfg.Profile.MRU))
		var servers []ipv4.Addr
		for _, d := range c.link.DNS() {
			if d != ([4]byte{}) {
				servers = append(servers, d)
			}
		}
		c.dns.SetServers(servers)
		c.ipUp = true
		c.cfg.Log.Info("link up", "local", netip.AddrFrom4(l), "peer", netip.AddrFrom4(p), "mtu", c.link.MTU())
	case ppp.EventIPCPDown:
		c.ipUp = false
		c.cfg.Log.Info("link down")
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
		// Port 80 only redirects: one connection at a time, so that plain
		// HTTP cannot take the slots HTTPS needs.
		s := c.freeSession()
		if s == nil || c.plainBusy() {
			conn.Abort()
			continue
		}
		s.ResetPlain(conn)
	}
	for _, s := range c.sess {
		c.pump(s, now)
	}
	c.serviceClient(now)
}

func (c *Card) pump(s *apps.ServerSession, now time.Time) {
	if s.Done() {
		return
	}
	for i := 0; i < 64 && s.Service(now); i++ {
	}
	if s.Done() {
		if e := s.Engine(); e != nil && e.State() == tls.Failed {
			c.cfg.Log.Info("tls failed", "alert", e.Alert(), "err", e.Err())
		}
		s.Release() // an idle slot keeps no TLS state
	}
}

// Admission under connection exhaustion. The Card profile has a handful of
// TCP slots, and anyone who can complete a TCP handshake can try to hold
// them all. The card's policy, applied when a connection attempt finds
// every slot busy:
//
//   - A bare SYN never evicts anything: it is answered with a SYN cookie
//     (RFC 4987) and the card keeps no state.
//   - The ACK that completes a cookie handshake is admitted by eviction only
//     if it shows progress — it carries the start of a request, sent at
//     once (see showsProgress: a ClientHello record, whole or 256 bytes of
//     it; a request line). Until a victim exists it is silently dropped,
//     not reset (as Linux does when its accept queue overflows): the peer
//     retransmits its data, each retransmission is another try, and its
//     cookie stays valid for 64–128 s. An idle or byte-dripping attacker can thus take only
//     slots that are free; it never takes one from a client that came with
//     its request.
//   - The freed slot goes to the segment whose arrival evicted (tcp
//     Config.Full is called from inside that segment's processing). A
//     half-open connection keeps its slot for halfOpenAfter after its
//     SYN-ACK went out; then TCP may recycle it for a peer that showed
//     progress (spoofed SYNs never answer).
//   - Victims hold no work in progress (apps.ServerSession.Idle: no request
//     being received or answered, nothing queued for sending). Eligible:
//     a TLS connection that has sent no byte for SilentAfter; one whose
//     handshake has not completed within EvictAfter; one that completed its
//     handshake and has waited EvictAfter for a request; and, when an
//     address holds at least two slots more than the newcomer's, any of its
//     connections without work in progress older than FairAfter
//     (per-source fairness). The victim is taken from the address holding
//     most slots, then silent before handshaking before idle-after-handshake
//     connections, then the oldest.
const (
	// EvictAfter is the handshake budget and the idle time after which a
	// connection may lose its slot to a newcomer that made progress. It
	// does not cut short a handshake that is merely slow on a serial line
	// (≈ 0.2 s at 115200 baud, ≈ 2 s at 9600) when no one is waiting.
	EvictAfter = 2 * time.Second
	// SilentAfter is how long a TLS connection may hold a slot without
	// sending a single byte when a newcomer is waiting.
	SilentAfter = time.Second
	// FairAfter is the age after which an address holding two slots more
	// than a newcomer's loses one without work in progress.
	FairAfter = 500 * time.Millisecond
)

// tcpGate is the card's TCP as the IPv4 layer sees it: it records which
// connections have sent data, and applies the admission policy (see
// EvictAfter) before TCP answers a handshake-completing ACK with RST.
type tcpGate Card

// admission is the context of the segment TCP is processing, for evict.
type admission struct {
	active   bool // a segment is inside tcp.Stack.Input
	syn      bool
	progress bool // it carries the start of a request
	src      ipv4.Addr
}

// Input implements ipv4.Transport.
func (g *tcpGate) Input(src, dst ipv4.Addr, seg []byte, now time.Time) bool {
	c := (*Card)(g)
	h, err := tcp.ParseHeader(seg)
	if err != nil || h.DataOff > len(seg) {
		return c.tcp.Input(src, dst, seg, now)
	}
	data := seg[h.DataOff:]
	i := c.connSlot(src, dst, h.SrcPort, h.DstPort)
	reopen := false // a SYN reopening a connection in TIME-WAIT
	if i >= 0 {
		conn, _ := c.tcp.Conn(i)
		reopen = conn.State() == tcp.TimeWait && h.Flags&tcp.FlagSYN != 0
	}
	listening := h.DstPort == c.cfg.HTTPSPort || h.DstPort == c.cfg.HTTPPort
	adm := admission{active: true, syn: h.Flags&tcp.FlagSYN != 0, src: src}
	if i < 0 && listening && h.Flags&(tcp.FlagSYN|tcp.FlagRST|tcp.FlagACK) == tcp.FlagACK {
		// Completes a handshake answered with a SYN cookie (or is stray).
		adm.progress = c.showsProgress(h.DstPort, data)
		if !c.admissible(src, adm.progress, now) && tcp.Checksum(src, dst, seg) == 0 {
			c.admDeferred++
			return true // dropped, not reset: the peer retransmits and tries again
		}
	}
	c.adm = adm
	ok := c.tcp.Input(src, dst, seg, now)
	c.adm = admission{}
	if j := c.connSlot(src, dst, h.SrcPort, h.DstPort); j >= 0 {
		switch {
		case j != i || reopen: // a new connection in slot j
			c.at[j] = slotTimes{born: now}
			if len(data) > 0 {
				c.at[j].data = now
			}
		case len(data) > 0 && c.at[j].data.IsZero() && tcp.Checksum(src, dst, seg) == 0:
			c.at[j].data = now
		}
	}
	return ok
}

// Output implements ipv4.Transport. It notes when each half-open
// connection's SYN-ACK went out.
func (g *tcpGate) Output(dst []byte, local ipv4.Addr, now time.Time) (int, ipv4.Addr) {
	c := (*Card)(g)
	n, a := c.tcp.Output(dst, local, now)
	if n >= tcp.HeaderLen && dst[13]&(tcp.FlagSYN|tcp.FlagACK) == tcp.FlagSYN|tcp.FlagACK {
		lport, rport := binary.BigEndian.Uint16(dst[0:]), binary.BigEndian.Uint16(dst[2:])
		if j := c.connSlot(a, local, rport, lport); j >= 0 && c.at[j].synAck.IsZero() {
			c.at[j].synAck = now
		}
	}
	return n, a
}

// Poll implements ipv4.Transport.
func (g *tcpGate) Poll(now time.Time) time.Time { return (*Card)(g).tcp.Poll(now) }

// showsProgress reports whether the first data of a connection is the
// start of a request that a client sends at once, not dripped: on the HTTPS
// port a ClientHello record whose first segment carries the whole record or
// at least progressBytes of it; on the HTTP port a complete request line.
func (c *Card) showsProgress(port uint16, data []byte) bool {
	if port == c.cfg.HTTPSPort {
		if len(data) < 9 || data[0] != 22 || data[1] != 3 || data[5] != 1 {
			return false
		}
		rec := 5 + (int(data[3])<<8 | int(data[4]))
		if rec < 5+minHelloBody {
			return false // no real ClientHello is that short
		}
		return len(data) >= min(rec, progressBytes)
	}
	return bytes.IndexByte(data, '\n') >= 0
}

// progressBytes is how much of a ClientHello the first segment must carry to
// show progress: less than any MSS a peer may use (536 by default), more
// than a byte-dripping client accumulates in minutes.
const progressBytes = 256

// minHelloBody is a lower bound on a ClientHello handshake message: header
// (4), version (2), random (32), session id, suites, compression and the
// extensions any TLS 1.2/1.3 client sends. A shorter record cannot evict.
const minHelloBody = 64

// connSlot returns the TCP slot of the connection a segment belongs to, or -1.
func (c *Card) connSlot(src, dst ipv4.Addr, sport, dport uint16) int {
	for i := 0; i < c.cfg.Profile.MaxConns; i++ {
		conn, ok := c.tcp.Conn(i)
		if !ok || conn.State() == tcp.Closed {
			continue
		}
		ra, rp := conn.Remote()
		la, lp := conn.Local()
		if rp == sport && lp == dport && ra == src && la == dst {
			return i
		}
	}
	return -1
}

// admissible reports whether TCP can open a passive connection for a
// handshake-completing ACK: with a free slot or one in TIME-WAIT; by
// recycling the oldest half-open connection (which TCP does before it
// asks the card), only for an ACK that shows progress and only if that
// connection has had halfOpenAfter to complete its handshake (a client's
// SYN-ACK may still be on the line, or its answer); otherwise by evicting
// a victim.
func (c *Card) admissible(src ipv4.Addr, progress bool, now time.Time) bool {
	half := -1
	for i := 0; i < c.cfg.Profile.MaxConns; i++ {
		conn, ok := c.tcp.Conn(i)
		if !ok {
			return true
		}
		switch conn.State() {
		case tcp.TimeWait: // (CLOSED but in use: not yet released, not free)
			return true
		case tcp.SynReceived:
			if half < 0 || c.at[i].born.Before(c.at[half].born) {
				half = i
			}
		}
	}
	if half >= 0 {
		sent := c.at[half].synAck
		return progress && !sent.IsZero() && now.Sub(sent) >= halfOpenAfter
	}
	return c.victim(src, progress, now) != nil
}

// halfOpenAfter is how long after its SYN-ACK went out a half-open
// connection keeps its slot against a peer that completed a SYN-cookie
// handshake with its request: a client answers within a round trip.
const halfOpenAfter = 250 * time.Millisecond

// dataSince returns when the connection of a session first sent data (zero:
// never).
func (c *Card) dataSince(s *apps.ServerSession) time.Time {
	conn, ok := s.Stream().(*tcp.Conn)
	if !ok {
		return time.Time{}
	}
	for i := 0; i < c.cfg.Profile.MaxConns; i++ {
		if x, _ := c.tcp.Conn(i); x == conn {
			return c.at[i].data
		}
	}
	return time.Time{}
}

// slotsHeld counts the sessions serving connections from a.
func (c *Card) slotsHeld(a ipv4.Addr) int {
	n := 0
	for _, s := range c.sess {
		if !s.Done() && s.Info().Remote.Addr().As4() == a {
			n++
		}
	}
	return n
}

// victim returns the session whose connection a newcomer from src may
// evict under the admission policy (see EvictAfter), or nil.
func (c *Card) victim(src ipv4.Addr, progress bool, now time.Time) *apps.ServerSession {
	if !progress {
		return nil
	}
	mine := c.slotsHeld(src)
	var best *apps.ServerSession
	var bestHeld, bestRank int
	var bestSince time.Time
	for _, s := range c.sess {
		since, ok := s.Idle()
		if !ok {
			continue // work in progress
		}
		age := now.Sub(since)
		rank := 2 // idle after its handshake (or plain HTTP), waiting for a request
		if e := s.Engine(); e != nil && e.State() == tls.Handshaking {
			rank = 1
			if c.dataSince(s).IsZero() {
				rank = 0
			}
		}
		held := c.slotsHeld(s.Info().Remote.Addr().As4())
		eligible := age >= EvictAfter || (rank == 0 && age >= SilentAfter) ||
			(held >= mine+2 && age >= FairAfter)
		if !eligible {
			continue
		}
		better := best == nil || held > bestHeld ||
			held == bestHeld && (rank < bestRank || rank == bestRank && since.Before(bestSince))
		if better {
			best, bestHeld, bestRank, bestSince = s, held, rank, since
		}
	}
	return best
}

// evict is TCP's Config.Full: it frees a slot for the segment being
// processed if the admission policy allows (see EvictAfter).
func (c *Card) evict(now time.Time) bool {
	if !c.adm.active || c.adm.syn {
		return false // a bare SYN gets a SYN cookie
	}
	v := c.victim(c.adm.src, c.adm.progress, now)
	if v == nil {
		return false
	}
	since, _ := v.Idle()
	c.cfg.Log.Debug("evicting a connection without work in progress", "remote", v.Info().Remote, "for", c.adm.src, "age", now.Sub(since))
	v.Evict()
	v.Release()
	return true
}

func (c *Card) freeSession() *apps.ServerSession {
	for _, s := range c.sess {
		if s.Done() {
			return s
		}
	}
	return nil
}

// plainBusy reports whether a session is serving a plain HTTP connection.
func (c *Card) plainBusy() bool {
	for _, s := range c.sess {
		if !s.Done() && !s.Info().TLS {
			return true
		}
	}
	return false
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
		if next, ok := c.client.Redirect(c.clientReq); ok && c.redirects < apps.MaxRedirects {
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
	if err := c.dns.Resolve(c.clientReq.Host, now); err != nil {
		c.finishFetch(apps.FetchResult{Err: err.Error()})
		return
	}
	c.clientSt = clientResolving
}

func (c *Card) connect(addr ipv4.Addr, now time.Time) {
	conn, err := c.tcp.Dial(c.link.LocalIP(), addr, c.clientReq.Port, now)
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
		c.client = apps.NewClientSession(apps.ClientConfig{RecordBuf: c.cfg.Profile.RecvBuf})
	}
	if err := c.client.Start(conn, c.clientReq, tcfg, now); err != nil {
		conn.Abort()
		c.finishFetch(apps.FetchResult{Err: err.Error()})
		return
	}
	c.clientTCP = conn
	c.clientSt = clientConnecting
}

func (c *Card) finishFetch(r apps.FetchResult) {
	c.clientSt = clientIdle
	c.clientTCP = nil
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
func (c *Card) Up() bool { return c.link.Up() }

// Status reports the card's live state (the status page).
func (c *Card) Status(now time.Time) apps.Status {
	st := apps.Status{
		Uptime:    now.Sub(c.started),
		LinkUp:    c.link.Up(),
		Profile:   c.cfg.Profile.Name,
		RAMBudget: c.cfg.Profile.Budget(),
		RAMUsed:   c.cfg.Profile.Budget() - c.cfg.Profile.MaxConns*c.cfg.Profile.slotBytes(),
	}
	ps := c.link.Stats()
	st.LinkState = fmt.Sprintf("LCP %v, IPCP %v", ps.LCPState, ps.IPCPState)
	if st.LinkUp {
		st.LocalIP = netip.AddrFrom4(c.link.LocalIP())
		st.PeerIP = netip.AddrFrom4(c.link.PeerIP())
	}
	for i := 0; i < c.cfg.Profile.MaxConns; i++ {
		conn, ok := c.tcp.Conn(i)
		if !ok {
			continue
		}
		st.RAMUsed += c.cfg.Profile.slotBytes() // this slot's buffers hold a connection
		ra, rp := conn.Remote()
		_, lp := conn.Local()
		st.Conns = append(st.Conns, apps.ConnStatus{
			Local: lp, Remote: netip.AddrPortFrom(netip.AddrFrom4(ra), rp),
			State: conn.State().String(), TLS: lp == c.cfg.HTTPSPort,
		})
	}
	add := func(layer, name string, v uint64) {
		st.Counters = append(st.Counters, apps.Counter{Layer: layer, Name: name, Value: v})
	}
	add("PPP", "frames in", ps.FramesIn)
	add("PPP", "frames out", ps.FramesOut)
	add("PPP", "line bytes in", ps.BytesIn)
	add("PPP", "line bytes out", ps.BytesOut)
	add("PPP", "bad FCS", ps.BadFCS)
	add("PPP", "echo requests answered", ps.EchoReqRecv)
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
	add("TCP", "handshakes deferred (no slot)", c.admDeferred)
	add("TCP", "replies dropped (queue full)", ts.DropRSTQueue)
	var ss apps.SessionStats
	for _, s := range c.sess {
		x := s.Stats()
		ss.Handshakes += x.Handshakes
		ss.TLSFailures += x.TLSFailures
		ss.RecordsIn += x.RecordsIn
		ss.RecordsOut += x.RecordsOut
		ss.Requests += x.Requests
		ss.Evicted += x.Evicted
		ss.SendStalls += x.SendStalls
	}
	add("TCP", "idle connections evicted", ss.Evicted)
	add("TCP", "stalled readers reset", ss.SendStalls)
	add("TLS", "handshakes", ss.Handshakes)
	add("TLS", "failures", ss.TLSFailures)
	add("TLS", "records in", ss.RecordsIn)
	add("TLS", "records out", ss.RecordsOut)
	add("HTTP", "requests", ss.Requests)
	return st
}
