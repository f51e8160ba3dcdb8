package apps

import (
	"crypto/x509"
	"io"
	"net/netip"
	"time"
	"unsafe"

	"netcard/applet"
	"netcard/http"
	"netcard/ipv6"
	"netcard/tls"

	"netcard/internal/count"
	"netcard/internal/stamp"
)

// Handler answers one request on behalf of a session. ci describes the
// connection; r and w are those of http.ServerConn (valid during the call).
type Handler func(ci *ConnInfo, r *http.Request, w *http.ResponseWriter)

// ConnInfo describes the connection a request arrived on.
type ConnInfo struct {
	// (The fields are ordered by alignment, the flags last, so that the
	// struct, held in every session, has no padding between them.)

	// PeerCertificates is the client certificate chain a mutual-TLS
	// administrator presented (TLS only; with tls.Config.PeerKeyOnly, the
	// leaf's public key alone). The rest of the negotiated connection is
	// not held per session (it is the engine's): ServerSession.TLSState
	// builds it on demand.
	PeerCertificates []*x509.Certificate

	// Conn is the application host's view of the request, kept between
	// a request's head and its answer (see App.Serve) and shared with the
	// session rather than copied (64 bytes a session: Now, Remote, TLS
	// and Head are held once). Its fields, promoted:
	//
	//   - Now is the time of the Service call that runs the handler;
	//   - Remote is the peer's address and port (zero when the Stream
	//     does not report it);
	//   - TLS is true when the request came over TLS (port 443), false on
	//     the plain HTTP port;
	//   - Head is set when the handler is consulted about a request whose
	//     body has not been read yet (only requests announcing one, before
	//     any byte of it): the handler must not act on the request then,
	//     only decide whether to call StreamBody; w is a dummy. It is
	//     called again, with Head clear, to answer (after the body).
	//
	// Its Sink and Max are the body stream a Head call chose (StreamBody).
	applet.Conn

	up   *upload        // PUT /upload state, kept with the ConnInfo (dropped with it by Shed and Release)
	sess *ServerSession // the session that lends it (nil: none)
}

// ConnInfoSize is the bytes of the ConnInfo a ServerSession lends itself
// while it serves requests (from a request's first byte until Shed finds
// the connection holding none, or Release; see Footprint): for RAM bounds.
const ConnInfoSize = int(unsafe.Sizeof(ConnInfo{}))

// owner is what a status page is kept for (statusPageFor): the session
// that lends ci, which lends a new ConnInfo after a Release, else ci.
func (ci *ConnInfo) owner() any {
	if ci.sess != nil {
		return ci.sess
	}
	return ci
}

// SessionConfig configures a ServerSession.
type SessionConfig struct {
	// TLS is the server configuration; nil makes a plain HTTP session.
	TLS *tls.Config
	// RecordBuf is the stream's receive buffer size, i.e. the largest TLS
	// record that can ever sit in Peek (0: tls.DefaultRecordBuf).
	RecordBuf int
	// Spill, when set, lets the engine stream ChaCha20-Poly1305 records
	// whose header and body exceed StreamAbove bytes (the slot's own
	// receive buffer) through it instead of waiting for them whole in a
	// large receive buffer (tls.Engine.SetSpill): their plaintext reaches
	// HTTP only once the tag verified, in tls.StreamChunk pieces. One per
	// session: a connection slot's region of the card's store.
	Spill       tls.Spill
	StreamAbove int
	// HTTP configures the HTTP connection (its Handler field is ignored).
	HTTP http.ServerConfig
	// Handler answers requests (usually (*App).Serve).
	Handler Handler
	// HandshakeTimeout bounds the TLS handshake (default 10s).
	HandshakeTimeout time.Duration
	// Linger bounds the wait for the peer's FIN after ours (default 2s);
	// then the connection is closed anyway.
	Linger time.Duration
	// SendStallTimeout ends (RST) a connection whose peer has acknowledged
	// none of our queued output for this long (default 60s): a client that
	// stops reading keeps its TCP window closed and answers the probes, and
	// TCP itself must wait for it forever (RFC 1122 §4.2.2.17). After
	// StallIdleAfter such a connection also counts as idle (Idle), so a
	// newcomer may evict it when every slot is taken.
	SendStallTimeout time.Duration
}

// StallIdleAfter is how long queued output must have waited, with nothing
// acknowledged, before the connection counts as idle (evictable).
const StallIdleAfter = 8 * time.Second

// SessionStats counts what sessions did (cumulative across Reset).
type SessionStats struct {
	Connections   uint64 // connections started with Reset
	Handshakes    uint64 // TLS handshakes completed
	TLSFailures   uint64 // connections ended by a TLS alert (sent or received)
	Timeouts      uint64 // handshake timeouts
	RecordsIn     uint64 // application data records opened
	RecordsOut    uint64 // application data records sealed
	BytesIn       uint64 // plaintext bytes given to HTTP
	BytesOut      uint64 // plaintext bytes taken from HTTP
	Requests      uint64 // requests answered (from http.ConnStats)
	HTTPErrors    uint64 // requests rejected by the parser
	HTTPTimeouts  uint64 // 408s and idle closes
	ClosesClean   uint64 // close_notify received from the peer
	ClosesDirty   uint64 // transport ended without close_notify (TLS only)
	StreamFailure uint64 // connections reset or timed out underneath
	Evicted       uint64 // connections reset to make room for a new one (card admission policy)
	SendStalls    uint64 // connections reset after SendStallTimeout without the peer taking output
}

// sessionStats32 is what a ServerSession keeps of its SessionStats: the
// same counters in 32 bits (64 bytes, not 128: the session fits the
// allocator's 512-byte class instead of 576). They wrap after 2^32 —
// BytesIn and BytesOut after 4 GiB through the slot —; a reader sampling
// them often enough sees every increment (deltas modulo 2^32). Stats
// widens them.
type sessionStats32 struct {
	Connections   uint32
	Handshakes    uint32
	TLSFailures   uint32
	Timeouts      uint32
	RecordsIn     uint32
	RecordsOut    uint32
	BytesIn       uint32
	BytesOut      uint32
	Requests      uint32
	HTTPErrors    uint32
	HTTPTimeouts  uint32
	ClosesClean   uint32
	ClosesDirty   uint32
	StreamFailure uint32
	Evicted       uint32
	SendStalls    uint32
}

// export widens the counters into SessionStats.
func (c *sessionStats32) export() SessionStats {
	var s SessionStats
	count.Widen(&s, c)
	return s
}

// ServerSession runs TLS (or plain) HTTP over one Stream. It is allocated once
// per connection slot and reused with Reset; it never blocks and performs no
// I/O: call Service after every event (bytes arrived, buffer space freed,
// timer) until Done.
type ServerSession struct {
	cfg sessionParams
	st  Stream
	eng *tls.Engine
	hc  *http.ServerConn
	// ci is lent from a request's first byte until Shed finds HTTP
	// holding no request (http.ServerConn.Holding) or Release: a session
	// idle between requests holds none of it (ConnInfoSize). Its TLS flag
	// is eng != nil, its peer the Stream's, its client certificates the
	// engine's (lend).
	ci *ConnInfo

	// at is when the connection started (first Service) until our FIN is
	// queued (wrClosed), then the end of the linger: the handshake
	// timeout and Idle need the start only before, closeStep the linger
	// only after (one field: the struct stays within the 176-byte size
	// class, TestSessionSize).
	at    stamp.Stamp
	next  stamp.Stamp // Next (8-byte stamps, internal/stamp, not time.Time's 24)
	stats sessionStats32
	// the record whose plaintext is still being fed to HTTP and the
	// offsets of that plaintext inside Peek(), in 16 bits: a record the
	// engine takes is at most 5 + 2^14 + 2048 bytes (RFC 8446 §5.2, RFC
	// 5246 §6.2.3; longer ones fail with record_overflow)
	recLen   uint16
	plainOff uint16
	plainEnd uint16

	hsDone   bool
	inEOF    bool // the peer sent everything (FIN or close_notify)
	failed   bool // TLS failed: the alert is queued
	closing  bool // close_notify queued
	wrClosed bool // FIN queued; waiting for the peer's
	httpIdle bool // the last output pass found HTTP with nothing to send
	done     bool
	counted  bool // HTTP stats folded into stats
}

// sessionParams is what a ServerSession keeps of its SessionConfig (the
// HTTP part lives in the http.ServerConn).
type sessionParams struct {
	TLS       *tls.Config
	spill     *tls.SpillConfig // nil: no streaming (the engine refers to it, SetSpillConfig)
	Handler   Handler
	RecordBuf int32
	// the timeouts in milliseconds (rounded up; see ms): 4 bytes each,
	// not a time.Duration's 8
	hsMS, lingerMS, stallMS int32
}

// ms is d in whole milliseconds, rounded up, within 1 ms and 2^31-1 ms
// (24 days): what a session keeps of its timeouts.
func ms(d time.Duration) int32 {
	q := d / time.Millisecond
	if d%time.Millisecond > 0 {
		q++ // rounded up without adding to d (no overflow near the largest Duration)
	}
	return int32(min(max(q, 1), 1<<31-1))
}

// HandshakeTimeout, Linger and SendStall are the session's timeouts.
func (p *sessionParams) HandshakeTimeout() time.Duration {
	return time.Duration(p.hsMS) * time.Millisecond
}
func (p *sessionParams) Linger() time.Duration    { return time.Duration(p.lingerMS) * time.Millisecond }
func (p *sessionParams) SendStall() time.Duration { return time.Duration(p.stallMS) * time.Millisecond }

// NewServerSession allocates a session and its HTTP buffers. The TLS engine
// is created by each Reset (the tls package has no engine reuse).
func NewServerSession(cfg SessionConfig) *ServerSession {
	if cfg.RecordBuf <= 0 {
		cfg.RecordBuf = tls.DefaultRecordBuf
	}
	if cfg.HandshakeTimeout <= 0 {
		cfg.HandshakeTimeout = 10 * time.Second
	}
	if cfg.Linger <= 0 {
		cfg.Linger = 2 * time.Second
	}
	if cfg.SendStallTimeout <= 0 {
		cfg.SendStallTimeout = 60 * time.Second
	}
	var sp *tls.SpillConfig
	if cfg.Spill != nil {
		sp = &tls.SpillConfig{Spill: cfg.Spill, Above: cfg.StreamAbove}
	}
	s := &ServerSession{cfg: sessionParams{TLS: cfg.TLS, spill: sp, RecordBuf: int32(min(cfg.RecordBuf, 1<<30)), Handler: cfg.Handler,
		hsMS: ms(cfg.HandshakeTimeout), lingerMS: ms(cfg.Linger), stallMS: ms(cfg.SendStallTimeout)}, done: true, counted: true}
	hcfg := cfg.HTTP
	hcfg.Handler, hcfg.Body = nil, nil
	hcfg.Responder = (*sessionResponder)(s) // no closures (s.serve, s.body: 16 B each)
	s.hc = http.NewServerConn(hcfg)
	return s
}

// sessionResponder is a session as its connection's http.Responder.
type sessionResponder ServerSession

func (x *sessionResponder) Respond(r *http.Request, w *http.ResponseWriter) {
	(*ServerSession)(x).serve(r, w)
}

func (x *sessionResponder) BodyFor(r *http.Request) (http.BodySink, int64) {
	return (*ServerSession)(x).body(r)
}

func (s *ServerSession) serve(r *http.Request, w *http.ResponseWriter) {
	if s.cfg.Handler == nil {
		w.Header.Status = 404
		return
	}
	s.lent().Handler(s.ci, r, w)
}

// body asks the handler, in a Head call, whether to stream r's body.
func (s *ServerSession) body(r *http.Request) (http.BodySink, int64) {
	if s.cfg.Handler == nil {
		return nil, 0
	}
	return askBody(s.lent().Handler, s.ci, r, s.hc.HeadWriter()) // a dummy writer: the connection's, idle until the answer
}

// lent makes sure the ConnInfo is lent for a handler call (it always is:
// the request's bytes came through feed, and Shed keeps it while HTTP
// holds them) and returns the session's parameters.
func (s *ServerSession) lent() *sessionParams {
	if s.ci == nil {
		s.lend(time.Time{}) // (not reached: Service lends it while HTTP holds a request)
	}
	return &s.cfg
}

// lend lends the session a ConnInfo (or refills the one it holds) for
// the connection at now.
func (s *ServerSession) lend(now time.Time) {
	if s.ci == nil {
		s.ci = new(ConnInfo)
	}
	*s.ci = ConnInfo{up: s.ci.up, sess: s}
	s.ci.Now, s.ci.TLS, s.ci.Remote = now, s.eng != nil, s.Remote()
	if s.eng != nil && s.hsDone {
		s.ci.PeerCertificates = s.eng.ConnectionState().PeerCertificates
	}
}

// feed gives HTTP the request bytes b, lending the ConnInfo first if b
// starts a request burst.
func (s *ServerSession) feed(b []byte, now time.Time) int {
	if len(b) > 0 && s.ci == nil {
		s.lend(now)
	}
	return s.hc.Input(b, now)
}

// Remote returns the peer's address and port (zero without a connection,
// or when the Stream does not report it).
func (s *ServerSession) Remote() netip.AddrPort {
	if r, ok := s.st.(remoter); ok && r != nil {
		a, p := r.Remote()
		return netip.AddrPortFrom(a.Netip(), p)
	}
	return netip.AddrPort{}
}

// askBody makes h's Head call for r: whether (and where) to stream its
// body. hw is the dummy writer h gets.
func askBody(h Handler, ci *ConnInfo, r *http.Request, hw *http.ResponseWriter) (http.BodySink, int64) {
	ci.Head, ci.Sink, ci.Max = true, nil, 0
	*hw = http.ResponseWriter{}
	h(ci, r, hw)
	ci.Head = false
	sink, max := ci.Sink, ci.Max
	ci.Sink, ci.Max = nil, 0
	return sink, max
}

// remoter is implemented by *tcp.Conn.
type remoter interface {
	Remote() (ipv6.Addr, uint16)
}

// Reset starts serving a new connection on st, reusing the session's
// buffers. In TLS mode it creates a fresh server engine (this allocates).
func (s *ServerSession) Reset(st Stream) { s.reset(st, s.cfg.TLS != nil) }

// ResetPlain is Reset for a plain HTTP connection, even on a session
// configured with TLS: one session per connection slot can then serve
// both the HTTPS and the HTTP port with the same buffers.
func (s *ServerSession) ResetPlain(st Stream) { s.reset(st, false) }

func (s *ServerSession) reset(st Stream, useTLS bool) {
	s.fold()
	s.st = st
	s.hc.Reset()
	s.eng = nil
	if useTLS {
		s.eng = tls.NewServer(s.cfg.TLS, int(s.cfg.RecordBuf))
		s.eng.SetSpillConfig(s.cfg.spill)
	}
	s.at, s.next = 0, 0
	s.hsDone, s.recLen, s.plainOff, s.plainEnd = false, 0, 0, 0
	if s.ci != nil {
		s.lend(time.Time{}) // the new connection's (Service sets Now)
	}
	s.inEOF, s.failed, s.closing, s.wrClosed, s.httpIdle = false, false, false, false, false
	s.done, s.counted = false, false
	s.stats.Connections++
}

// fold adds the finished connection's HTTP counters to the session stats.
func (s *ServerSession) fold() {
	if s.counted {
		return
	}
	s.counted = true
	hs := s.hc.Stats()
	s.stats.Requests += uint32(hs.Requests)
	s.stats.HTTPErrors += uint32(hs.Errors)
	s.stats.HTTPTimeouts += uint32(hs.Timeouts)
}

// Done reports that the connection is finished and the Stream was closed:
// the session may be Reset for another connection.
func (s *ServerSession) Done() bool { return s.done }

// Stream returns the stream being served (nil before the first Reset).
func (s *ServerSession) Stream() Stream { return s.st }

// Info returns the connection description handed to the handler. The
// session lends it only while it serves requests (see ConnInfoSize): Info
// lends it for a running connection that holds none (one allocation, kept
// until the next Shed), and returns nil before the first Reset and after
// Release. Remote is the peer without it.
func (s *ServerSession) Info() *ConnInfo {
	if s.ci == nil && s.st != nil && !s.done {
		s.lend(time.Time{})
	}
	return s.ci
}

// TLSState returns the negotiated TLS connection, built from the engine
// (the zero value on the plain HTTP port or before a Reset).
func (s *ServerSession) TLSState() tls.ConnectionState {
	if s.eng == nil {
		return tls.ConnectionState{}
	}
	return s.eng.ConnectionState()
}

// Footprint returns the bytes the session holds for its connection: the
// HTTP buffers (http.ServerConn.Footprint) and, in TLS mode, the engine's
// own footprint (tls.Engine.Footprint), the ConnInfo it lends itself from
// Reset to Release (ConnInfoSize), and the upload hasher once PUT /upload
// was used. The Stream's buffers belong to TCP.
func (s *ServerSession) Footprint() int {
	n := s.hc.Footprint()
	if s.eng != nil {
		n += s.eng.Footprint()
	}
	if s.ci != nil {
		n += ConnInfoSize
	}
	if s.ci != nil && s.ci.up != nil {
		n += uploadFootprint
	}
	return n
}

// Lent is Footprint with the TLS engine's Lent (its AEAD states
// included): what the session holds now, for reporting.
func (s *ServerSession) Lent() int {
	n := s.hc.Footprint()
	if s.eng != nil {
		n += s.eng.Lent()
	}
	if s.ci != nil {
		n += ConnInfoSize
	}
	if s.ci != nil && s.ci.up != nil {
		n += uploadFootprint
	}
	return n
}

// Shed drops what the connection holds and an idle session does not
// need — the TLS engine's expanded AEAD state (tls.Engine.Shed), the
// HTTP input buffer and request state (http.ServerConn.Shed) and, once
// HTTP holds no request, the ConnInfo with the upload hasher — and returns
// the bytes released.
// Nothing that describes data is dropped (keys, sequence numbers, a
// partial request): the connection behaves byte for byte as without it,
// and the next burst allocates the state again (AES-GCM: 2 allocations per
// direction; ChaCha20-Poly1305: 1; HTTP: 3 at the next request, the
// ConnInfo with them). Safe between any two calls, it never allocates, and a second
// call returns 0. The card calls it once the link has been quiet.
func (s *ServerSession) Shed() int {
	n := s.hc.Shed()
	if s.eng != nil {
		n += s.eng.Shed()
	}
	if s.ci != nil && !s.hc.Holding() {
		if s.ci.up != nil {
			n += uploadFootprint
		}
		s.ci = nil
		n += ConnInfoSize
	}
	return n
}

// Release drops the TLS engine of a finished connection (its keys and
// handshake state), its ConnInfo and the upload hasher, so an idle session
// holds only its HTTP buffers (the next Reset lends a ConnInfo again: one
// allocation). It does nothing while the session is running.
func (s *ServerSession) Release() {
	if s.done {
		s.eng = nil
		s.ci = nil
	}
}

// Engine returns the TLS engine of the current connection (nil in plain mode).
func (s *ServerSession) Engine() *tls.Engine { return s.eng }

// Stats returns the cumulative counters (the current connection's HTTP
// counters are included once it is done).
func (s *ServerSession) Stats() SessionStats { return s.stats.export() }

// Next returns when Service must run again even without events (zero: no
// deadline).
func (s *ServerSession) Next() time.Time { return s.next.Time() }

// Service moves bytes between the stream, TLS and HTTP, applies timeouts and
// runs the closing sequence. It reports whether anything happened.
func (s *ServerSession) Service(now time.Time) bool {
	if s.done || s.st == nil {
		return false
	}
	if s.at.IsZero() {
		s.at = stamp.Of(now)
		if s.eng == nil {
			s.hc.Input(nil, now) // start the idle clock
		}
	}
	if s.ci == nil && s.hc.Holding() {
		s.lend(now) // (feed lends it with a request's first byte)
	}
	if s.ci != nil {
		s.ci.Now = now
	}
	if s.st.Err() != nil {
		s.stats.StreamFailure++
		s.finish()
		return true
	}
	progress := false
	if s.eng != nil && !s.hsDone && !s.wrClosed && !s.failed &&
		!now.Before(s.at.Time().Add(s.cfg.HandshakeTimeout())) {
		// Nothing useful to say to a peer that stalls the handshake.
		s.stats.Timeouts++
		s.st.CloseWrite()
		s.wrClosed, s.at, progress = true, stamp.Of(now.Add(s.cfg.Linger())), true
	}
	if since, waiting := s.st.SendWaitSince(); waiting && !now.Before(since.Add(s.cfg.SendStall())) {
		// The peer has taken none of our output for SendStall: a
		// reader that stopped reading. Nothing more can be said to it.
		s.stats.SendStalls++
		s.abort()
		return true
	}
	if s.st.Queued() > 0 {
		// TCP is still delivering our output (perhaps retransmitting
		// after loss): that is progress, not an idle connection.
		s.hc.Touch(now)
	}
	s.hc.SetPending(s.pendingBelow())
	s.hc.Poll(now)
	for i := 0; i < 1024; i++ {
		p := s.input(now)
		if s.output(now) {
			p = true
		}
		if s.closeStep(now) {
			p = true
		}
		progress = progress || p
		if !p || s.done {
			break
		}
	}
	s.shedRecvInHandshake()
	var next time.Time
	if !s.done {
		hcNext := s.hc.Poll(now)
		switch {
		case s.wrClosed:
			next = s.at.Time() // the end of the linger
		case s.eng != nil && !s.hsDone:
			next = s.at.Time().Add(s.cfg.HandshakeTimeout())
		default:
			next = hcNext
		}
		if since, waiting := s.st.SendWaitSince(); waiting {
			if d := since.Add(s.cfg.SendStall()); next.IsZero() || d.Before(next) {
				next = d
			}
		}
	}
	s.next = stamp.Of(next)
	return progress
}

// recvShedder is a Stream that can drop its empty receive buffer alone
// (tcp.Conn.ShedRecv).
type recvShedder interface{ ShedRecv() int }

// shedRecvInHandshake drops the stream's empty receive buffer while the
// server's handshake flight waits to be sent: the ClientHello is in the
// engine's reassembly buffer by then, and the client sends nothing more
// until it has our flight, so the buffer would sit empty beside the
// handshake slab — the Tiny profile's peak (1,024 bytes of 14,248). Its
// next segment lends it again: one allocation per handshake, none per
// packet (the condition never holds once the handshake is done).
func (s *ServerSession) shedRecvInHandshake() {
	if s.eng == nil || s.hsDone || s.done || s.eng.State() != tls.Handshaking || s.eng.Pending() == 0 {
		return
	}
	if r, ok := s.st.(recvShedder); ok && len(s.st.Peek()) == 0 {
		r.ShedRecv()
	}
}

// input feeds received bytes to TLS and HTTP.
func (s *ServerSession) input(now time.Time) bool {
	st := s.st
	if s.wrClosed || s.closing || s.failed {
		// Nobody listens any more: drop what arrives until the peer's FIN.
		if in := st.Peek(); len(in) > 0 {
			st.Consume(len(in))
			s.recLen, s.plainOff, s.plainEnd = 0, 0, 0
			return true
		}
		return false
	}
	if s.inEOF {
		return false
	}
	if s.hc.Waiting() {
		// A request waits for send room to be answered in (InPlace HTTP):
		// read nothing more — not even the peer's close_notify, after
		// which the engine could not send the response — until it is.
		return false
	}
	if s.eng == nil {
		in := st.Peek()
		if len(in) == 0 {
			if st.EOF() {
				s.inEOF = true
				return true
			}
			return false
		}
		n := s.feed(in, now)
		s.stats.BytesIn += uint32(n)
		st.Consume(n)
		return n > 0
	}
	if s.plainEnd > s.plainOff {
		in := st.Peek()
		n := s.feed(in[s.plainOff:s.plainEnd], now)
		s.plainOff += uint16(n)
		s.stats.BytesIn += uint32(n)
		if s.plainOff < s.plainEnd {
			return n > 0
		}
		st.Consume(int(s.recLen))
		s.recLen, s.plainOff, s.plainEnd = 0, 0, 0
		return true
	}
	if p := s.eng.StreamedPlain(); p != nil {
		// A streamed record, verified: its plaintext comes from the spill
		// a chunk at a time; HTTP may take part of one (back-pressure).
		k := s.feed(p, now)
		s.eng.TakeStreamed(k)
		s.stats.BytesIn += uint32(k)
		if k > 0 && s.eng.StreamedPending() == 0 {
			s.stats.RecordsIn++
		}
		return k > 0
	}
	in := st.Peek()
	if len(in) == 0 {
		if st.EOF() {
			s.inEOF = true
			s.stats.ClosesDirty++
			return true
		}
		return false
	}
	n, plain, err := s.eng.Unwrap(in)
	if err != nil {
		if n > 0 {
			st.Consume(n)
		}
		if err == io.EOF {
			s.inEOF = true
			s.stats.ClosesClean++
		} else {
			s.failed = true
			s.stats.TLSFailures++
		}
		return true
	}
	if n == 0 {
		if len(in) >= 5 {
			st.Reserve(5 + (int(in[3])<<8 | int(in[4]))) // the whole record (header: type, version, length)
		}
		if st.EOF() { // the peer closed in the middle of a record
			s.inEOF = true
			s.stats.ClosesDirty++
			return true
		}
		return false
	}
	if !s.hsDone && s.eng.State() == tls.Established {
		s.hsDone = true
		if s.ci != nil {
			s.ci.PeerCertificates = s.eng.ConnectionState().PeerCertificates
		}
		s.stats.Handshakes++
		s.hc.Input(nil, now) // start the idle clock
	}
	if len(plain) == 0 {
		st.Consume(n)
		return true
	}
	s.stats.RecordsIn++
	off := cap(in) - cap(plain)
	k := s.feed(plain, now)
	s.stats.BytesIn += uint32(k)
	if k == len(plain) {
		st.Consume(n)
	} else {
		s.recLen, s.plainOff, s.plainEnd = uint16(n), uint16(off+k), uint16(off+len(plain)) // records < 2^16
	}
	return true
}

// minRecord is the smallest room worth sealing a record into.
const minRecord = 128

// output moves handshake records and HTTP responses into the send buffer.
func (s *ServerSession) output(now time.Time) bool {
	st := s.st
	s.httpIdle = false
	if s.wrClosed {
		return false
	}
	p := false
	// With InPlace HTTP, a waiting response may take less room than
	// HTTPOut once the send buffer is empty (it can grow no further). A
	// Stream that does not report Queued must offer HTTPOut bytes.
	s.hc.SetDrained(st.Queued() == 0)
	if s.eng == nil {
		for {
			if !s.hc.HasOutput() {
				// Nothing to say (idle, or a request being received): do
				// not ask for the send buffer, which may be shed (Free
				// would lend it again, and the next quiet Poll shed it:
				// TestShedMidBodyPollLendsNothing).
				s.httpIdle = true
				return p
			}
			f := st.Free()
			if len(f) == 0 {
				return p
			}
			n := s.hc.Output(f, now)
			if n == 0 {
				s.httpIdle = !s.hc.Waiting()
				return p
			}
			s.stats.BytesOut += uint32(n)
			st.Commit(n)
			p = true
		}
	}
	e := s.eng
	for e.Pending() > 0 {
		f := st.Free()
		if len(f) == 0 {
			return p
		}
		st.Commit(e.Output(f))
		p = true
	}
	if !s.hsDone && e.State() == tls.Established {
		// A server is established once it has sent its flight; the first
		// record from the client finishes the handshake.
		return p
	}
	if e.State() != tls.Established || s.closing || s.failed {
		s.httpIdle = true
		return p
	}
	hdr, tail := e.Overhead()
	maxPT := e.MaxPlaintext()
	for {
		if !s.hc.HasOutput() {
			// Nothing to say (idle, or a request being received): do not
			// ask for the send buffer, which may be shed (Free would lend
			// it again, and the next quiet Poll shed it:
			// TestShedMidBodyPollLendsNothing).
			s.httpIdle = true
			return p
		}
		f := st.Free()
		room := plainRoom(len(f), hdr, tail, maxPT)
		if room < min(maxPT, minRecord) {
			return p
		}
		all := room
		if room%maxPT != 0 && fullRecordsOnly(len(f), st.Queued(), hdr+maxPT+tail, st.SRTT()) {
			room -= room % maxPT
			if room == 0 {
				return p // the next acknowledgment makes room for a full record
			}
		}
		// HTTP writes its response straight into the send buffer, as
		// one run of plaintext; sealRun then cuts it into records in place.
		n := s.hc.Output(f[hdr:hdr+room], now)
		if n == 0 && room < all {
			// A response waits to be composed in HTTPOut bytes of room:
			// give it all there is rather than wait for an acknowledgment
			// (the first response after the handshake, its session ticket
			// still queued, would wait a round trip).
			room = all
			n = s.hc.Output(f[hdr:hdr+room], now)
		}
		if n == 0 {
			s.httpIdle = !s.hc.Waiting()
			return p
		}
		rl, recs := sealRun(e, f, n, hdr, tail, maxPT)
		if rl == 0 {
			// Cannot happen with the checks above; never send plaintext.
			s.failed = true
			return true
		}
		st.Commit(rl)
		s.stats.RecordsOut += uint32(recs)
		s.stats.BytesOut += uint32(n)
		p = true
	}
}

// fullRecordsOnly reports whether output should wait for room for a full
// record (full bytes with its overhead) instead of sealing a short one into
// the free bytes left: while output is still queued (the line is busy with
// it, and its acknowledgment brings more room) and the send buffer holds
// two full records, so that one can be sealed while the other crosses.
// Each record costs its header and tag (22 bytes in TLS 1.3) however short
// it is: sealing whatever room an acknowledgment of one segment frees
// would cut the records down to a segment each (issue 14 measured 1.3 KB
// records from a 2 KiB limit over Linux, 2.9 % of the line in record
// overhead instead of 1.1 %). A send buffer smaller than two full records
// keeps sealing short records: waiting there would leave the line idle.
//
// Only on a slow path (a smoothed round-trip time of at least slowPathRTT):
// there the line is the bottleneck and a segment is built when the line
// pulls it, by which time the full record is queued, so waiting costs no
// line time. On a fast path acknowledgments come back at once and the line
// pulls each segment as soon as it is committed: waiting for two of them
// to make a full record then only splits records across segments (more,
// smaller frames: unpaced over the real kernel path 48–51 MiB/s and
// 19–20 ns/B with per-acknowledgment records against 25–39 MiB/s and
// 24–27 ns/B with full ones, issue 14).
func fullRecordsOnly(free, queued, full int, srtt time.Duration) bool {
	return queued > 0 && free+queued >= 2*full && srtt >= slowPathRTT
}

// slowPathRTT is the round-trip time from which output waits for room for
// full records (fullRecordsOnly): a full 1,460-byte segment alone takes
// 127 ms at 115200 baud and 1.2 ms at 12 Mbit/s.
const slowPathRTT = 10 * time.Millisecond

// plainRoom returns how much plaintext fits in free bytes of send buffer
// as records of at most maxPT bytes, each with hdr and tail bytes of
// overhead.
func plainRoom(free, hdr, tail, maxPT int) int {
	full := hdr + maxPT + tail
	k := free / full
	return k*maxPT + max(free-k*full-hdr-tail, 0)
}

// sealRun seals the n plaintext bytes at f[hdr:hdr+n] into records of at
// most maxPT bytes laid end to end from f[0]: the pieces after the first
// are moved (last first, so nothing unmoved is overwritten) to make room
// for each record's header and tail, then each is sealed in place. It
// returns the bytes of records and their count, or 0 if sealing failed.
func sealRun(e *tls.Engine, f []byte, n, hdr, tail, maxPT int) (int, int) {
	recs := (n + maxPT - 1) / maxPT
	full := hdr + maxPT + tail
	for i := recs - 1; i > 0; i-- {
		from := hdr + i*maxPT
		k := min(maxPT, n-i*maxPT)
		copy(f[i*full+hdr:i*full+hdr+k], f[from:from+k])
	}
	total := 0
	for i := 0; i < recs; i++ {
		k := min(maxPT, n-i*maxPT)
		if rl := e.Wrap(f[i*full:], k); rl != hdr+k+tail {
			return 0, 0
		}
		total += hdr + k + tail
	}
	return total, recs
}

// closeStep runs the closing sequence: close_notify (or the queued alert),
// then our FIN, then the peer's FIN or the linger timeout, then Close.
func (s *ServerSession) closeStep(now time.Time) bool {
	st := s.st
	if s.wrClosed {
		if st.EOF() || st.Err() != nil || !now.Before(s.at.Time()) {
			s.finish()
			return true
		}
		return false
	}
	want := s.failed || s.closing || s.hc.Closed() || (s.inEOF && s.httpIdle)
	if !want {
		return false
	}
	p := false
	if s.eng != nil && !s.failed && !s.closing {
		s.closing = true
		s.eng.Close()
		p = true
		for s.eng.Pending() > 0 {
			f := st.Free()
			if len(f) == 0 {
				break
			}
			st.Commit(s.eng.Output(f))
		}
	}
	if s.eng != nil && s.eng.Pending() > 0 {
		return p // the alert waits for send space
	}
	st.CloseWrite()
	s.wrClosed, s.at = true, stamp.Of(now.Add(s.cfg.Linger()))
	if st.EOF() {
		s.finish()
	}
	return true
}

// Idle reports whether the connection holds no work in progress, and since
// when: still in the TLS handshake (since the connection started), or
// between requests with nothing queued below (since the last progress), or
// with output the peer has not acknowledged any of (since StallIdleAfter
// after the stall began: a time in the future while it is younger).
// The card evicts such connections first when every TCP slot is taken.
func (s *ServerSession) Idle() (since time.Time, ok bool) {
	if s.done || s.st == nil || s.failed || s.closing || s.wrClosed {
		return time.Time{}, false
	}
	if s.eng != nil && !s.hsDone {
		return s.at.Time(), true
	}
	if s.st.Queued() > 0 {
		// Output in flight is work in progress, unless the peer has
		// taken none of it for StallIdleAfter (a reader that stopped):
		// idle from then on.
		if since, waiting := s.st.SendWaitSince(); waiting {
			return since.Add(StallIdleAfter), true // (in the future while the stall is young)
		}
		return time.Time{}, false
	}
	// A streamed record still arriving is no work in progress, as a record
	// still arriving whole is not: only its verified plaintext waiting for
	// HTTP is (else a peer stalling mid-record would hold its slot against
	// every eviction rule until HTTP's IdleTimeout).
	if s.recLen > 0 || !s.hc.Idle() || (s.eng != nil && s.eng.StreamedReady() > 0) {
		return time.Time{}, false
	}
	return s.hc.LastActive(), true
}

// Receiving reports whether the connection is in the middle of receiving a
// request (its head or body; see http.ServerConn.Receiving), since when,
// and whether it lags the minimum rate (http.ServerConfig.MinRate) after
// grace. Bytes of a TLS record still arriving count as progress. The card
// makes a lagging request, or one older than its limit, evictable when a
// newcomer needs the slot.
func (s *ServerSession) Receiving(now time.Time, grace time.Duration) (since time.Time, lagging, ok bool) {
	if s.done || s.st == nil || s.failed || s.closing || s.wrClosed || s.hc.Waiting() {
		return time.Time{}, false, false
	}
	s.hc.SetPending(s.pendingBelow())
	return s.hc.Receiving(now, grace)
}

// pendingBelow returns the request bytes received but not yet given to
// HTTP: a TLS record still arriving (or, in plain mode, bytes HTTP has
// not taken).
func (s *ServerSession) pendingBelow() int {
	n := len(s.st.Peek())
	if s.recLen > 0 {
		n -= int(s.recLen)
	}
	if s.eng != nil {
		n += s.eng.StreamedPending() // a streamed record: absorbed, or verified and waiting
	}
	return max(n, 0)
}

// aborter is implemented by *tcp.Conn: reset and release the connection.
type aborter interface{ Abort() }

// Evict ends the connection at once (RST) to free its slot for a new one.
func (s *ServerSession) Evict() {
	if s.done || s.st == nil {
		return
	}
	s.stats.Evicted++
	s.abort()
}

// abort resets the connection (RST) and ends the session.
func (s *ServerSession) abort() {
	if a, ok := s.st.(aborter); ok {
		a.Abort()
	} else {
		s.st.Close()
	}
	s.done = true
	s.next = 0
	s.fold()
	s.endTLS()
}

// finish releases the stream.
func (s *ServerSession) finish() {
	s.st.Close()
	s.done = true
	s.next = 0
	s.fold()
	s.endTLS()
}

// endTLS closes the engine of a connection that ended (nothing it queues
// is sent): a handshake message it was reassembling in a shared
// tls.HandshakeBudget slot gives the slot back now, not when its lease
// runs out.
func (s *ServerSession) endTLS() {
	if s.eng != nil {
		s.eng.Close()
	}
}

// AppendCounters appends the session counters for the status page (layers
// "TLS" and "HTTP").
func (st *SessionStats) AppendCounters(dst []Counter) []Counter {
	return append(dst,
		Counter{"TLS", "connections", st.Connections},
		Counter{"TLS", "handshakes", st.Handshakes},
		Counter{"TLS", "failures", st.TLSFailures},
		Counter{"TLS", "handshake_timeouts", st.Timeouts},
		Counter{"TLS", "records_in", st.RecordsIn},
		Counter{"TLS", "records_out", st.RecordsOut},
		Counter{"TLS", "close_notify_in", st.ClosesClean},
		Counter{"TLS", "truncated_in", st.ClosesDirty},
		Counter{"HTTP", "bytes_in", st.BytesIn},
		Counter{"HTTP", "bytes_out", st.BytesOut},
		Counter{"HTTP", "requests", st.Requests},
		Counter{"HTTP", "errors", st.HTTPErrors},
		Counter{"HTTP", "timeouts", st.HTTPTimeouts},
		Counter{"TCP", "connections_evicted", st.Evicted},
		Counter{"TCP", "stalled_readers_reset", st.SendStalls},
	)
}

// Add accumulates o into st (to total the sessions of all slots).
func (st *SessionStats) Add(o SessionStats) {
	st.Connections += o.Connections
	st.Handshakes += o.Handshakes
	st.TLSFailures += o.TLSFailures
	st.Timeouts += o.Timeouts
	st.RecordsIn += o.RecordsIn
	st.RecordsOut += o.RecordsOut
	st.BytesIn += o.BytesIn
	st.BytesOut += o.BytesOut
	st.Requests += o.Requests
	st.HTTPErrors += o.HTTPErrors
	st.HTTPTimeouts += o.HTTPTimeouts
	st.ClosesClean += o.ClosesClean
	st.ClosesDirty += o.ClosesDirty
	st.StreamFailure += o.StreamFailure
	st.Evicted += o.Evicted
	st.SendStalls += o.SendStalls
}
