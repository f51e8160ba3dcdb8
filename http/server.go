package http

import (
	"errors"
	"math"
	"time"
	"unsafe"

	"netcard/internal/count"
	"netcard/internal/stamp"
)

// ServerConfig configures a ServerConn.
type ServerConfig struct {
	Limits Limits
	// InBuf is the input buffer: it must hold a whole request (head and
	// encoded body), unless the body is streamed (see Body), in which case
	// it holds the head (and pipelined bytes behind the body). Default 8192.
	InBuf int
	// OutBuf is the output buffer for a response head and a body written
	// with Write (bodies given to SetBody are not copied). Default 4096,
	// minimum 256.
	OutBuf int
	// HeaderReserve is the room kept in front of a written body for the
	// response head (at most OutBuf/2). Default 512. A longer head is
	// still sent, the body moved behind it, when both fit OutBuf; only
	// one that cannot fit is answered with 500.
	HeaderReserve int
	// InPlace composes each response (head and written body) directly in
	// the dst that Output is given — e.g. the plaintext area of TLS records
	// in the transport's send buffer — instead of in an output buffer of
	// the connection: OutBuf is then the room a response is composed in,
	// not an allocation: the connection allocates only its input buffer
	// (an error response is composed in dst too, 100 Continue is sent
	// from a constant, and a chunked BodySource body is filled in dst,
	// waiting for 16 bytes of room rather than being staged). A parsed
	// request waits in the input buffer until Output offers at least
	// OutBuf bytes (or fewer once the transport reports with SetDrained
	// that it has nothing queued), and the handler runs inside that
	// Output call.
	InPlace bool
	// RequestTimeout bounds the time from the first byte of a request to
	// the end of its header section; when exceeded the connection gets 408
	// and closes (slowloris defence, as nginx's client_header_timeout and
	// Apache's mod_reqtimeout header=). Default 10s: a 2 KiB head crosses
	// a 9600-baud line in 2.4 s.
	RequestTimeout time.Duration
	// IdleTimeout closes a connection with no request in progress and no
	// output progress for this long. Default 60s.
	IdleTimeout time.Duration
	// MinRate and BodyGrace bound a request body (buffered or streamed),
	// as Apache's mod_reqtimeout body=20,MinRate=500 does: the body must
	// be complete by
	//
	//	start + BodyGrace + received/MinRate
	//
	// where start is the request's first byte and received counts every
	// byte of the request so far (head, body, and bytes of it still below
	// HTTP, see SetPending). The deadline extends only with real progress,
	// so it can never pass start + BodyGrace + (head + Content-Length) /
	// MinRate: an overall deadline proportional to the declared length,
	// capped by the largest body a route accepts. Past it the request gets
	// 408 and the connection closes. Defaults 256 B/s and 20 s: a 9600-baud
	// line carries ≈ 850 B/s of request bytes after PPP, IP, TCP and TLS
	// overheads, so a legitimate upload keeps a 3× margin and earns credit
	// for later stalls (TCP backoff after a loss), while a client dripping
	// bytes is cut after ≈ 20 s.
	MinRate   int
	BodyGrace time.Duration
	// BodyTimeout bounds a stall of a request body whatever its credit: no
	// byte of it for this long gets 408. A long upload over a lossy line
	// meets the peer's TCP retransmission backoff (up to a minute or two
	// between attempts), so the default is 3 minutes.
	//
	// A ServerConn keeps the four timeouts in whole milliseconds, rounded
	// up, at most 2^31-1 ms (24 days).
	BodyTimeout time.Duration
	// Handler answers each request. r and its slices are valid only during
	// the call.
	Handler func(r *Request, w *ResponseWriter)
	// Body, when set, is asked once for each request head that announces
	// a body (Content-Length > 0 or chunked), before any body byte is
	// read. Returning a nil sink keeps the body buffered whole, within
	// Limits.MaxBody. Returning a sink streams the body to it, piece by
	// piece as it arrives, decoded (chunked framing removed), from where
	// it lies — the bytes given to Input — without copying; max is the
	// largest body the route accepts: a larger Content-Length gets 413
	// before the body is read, a chunked body growing past it gets 413
	// when it does. A client awaiting 100 Continue gets it then. Handler
	// runs when the body has ended (r.BodyStreamed set, r.Body empty), or
	// as soon as the sink returns an error (r.BodyErr set): that response
	// closes the connection and the rest of the body is discarded (RFC
	// 9112 §9.6). Malformed chunked framing gets 400.
	Body func(r *Request) (sink BodySink, max int64)
	// Responder, when set, answers requests instead of Handler and Body
	// (both ignored): Respond as Handler, BodyFor as Body. One interface
	// value in the connection rather than two func values, which cost a
	// closure allocation each when they are method values.
	Responder Responder
}

// Responder is ServerConfig.Handler and ServerConfig.Body as one value.
type Responder interface {
	Respond(r *Request, w *ResponseWriter)
	BodyFor(r *Request) (sink BodySink, max int64)
}

// funcResponder is a Responder made of ServerConfig's Handler and Body.
type funcResponder struct {
	handler func(r *Request, w *ResponseWriter)
	body    func(r *Request) (sink BodySink, max int64)
}

func (f *funcResponder) Respond(r *Request, w *ResponseWriter) {
	if f.handler == nil {
		w.Header.Status = 404
		return
	}
	f.handler(r, w)
}

func (f *funcResponder) BodyFor(r *Request) (BodySink, int64) { return f.body(r) }

// RefuseBody, returned as the sink by ServerConfig.Body, has the request
// answered from its head alone: Handler runs at once with r.BodyErr set to
// ErrBodyRefused, no byte of the body is read (a client awaiting 100
// Continue gets the final status instead, RFC 9110 §10.1.1), and the
// response closes the connection, since the unread body cannot be
// skipped reliably (RFC 9112 §9.6). For credentials checked from the head
// (401, 403, 429) before a body is accepted.
var RefuseBody BodySink = refuseSink{}

// ErrBodyRefused is r.BodyErr for a request refused with RefuseBody.
var ErrBodyRefused = errors.New("http: request answered from its head; body not read")

type refuseSink struct{}

func (refuseSink) WriteBody([]byte) error { return ErrBodyRefused }

// BodySink consumes a streamed request body (see ServerConfig.Body).
type BodySink interface {
	// WriteBody takes the next piece of the body; p is valid only during
	// the call. An error stops the body: the handler answers at once.
	WriteBody(p []byte) error
}

// serverParams is what a ServerConn keeps of its ServerConfig (packed: the
// struct's size class is guarded by TestServerConnSize).
type serverParams struct {
	lim                   limits32
	OutBuf, HeaderReserve int32
	MinRate, InBuf        int32
	// the timeouts in whole milliseconds (rounded up, at most 2^31-1 ms:
	// 24 days), 4 bytes each, not a time.Duration's 8
	reqMS, idleMS, bodyMS, graceMS int32
	rs                             Responder // nil: every request gets 404
}

// msOf is d in whole milliseconds, rounded up, within 1 ms and 2^31-1 ms.
func msOf(d time.Duration) int32 {
	return int32(min(max((d+time.Millisecond-1)/time.Millisecond, 1), math.MaxInt32))
}

// dur is ms as a Duration.
func dur(ms int32) time.Duration { return time.Duration(ms) * time.Millisecond }

// limits32 is a ServerConn's Limits in 32 bits (16 bytes, not 32: the
// ServerConn fits the 224-byte size class, TestServerConnSize).
// NewServerConn bounds MaxHeaderBytes and MaxBody by InBuf, MaxHeaders by
// the MaxHeaders constant and MaxTarget by 2^31-1.
type limits32 struct {
	MaxTarget, MaxHeaderBytes, MaxHeaders, MaxBody int32
}

// Limits widens l for the parser.
func (l limits32) Limits() Limits {
	return Limits{MaxTarget: int(l.MaxTarget), MaxHeaderBytes: int(l.MaxHeaderBytes),
		MaxHeaders: int(l.MaxHeaders), MaxBody: int64(l.MaxBody)}
}

// ConnStats counts what a ServerConn did.
type ConnStats struct {
	Requests uint64 // requests answered by the handler
	Errors   uint64 // requests rejected with a 4xx/5xx from the parser
	Timeouts uint64 // 408s sent
}

// ServerConn is the server side of one HTTP/1.1 connection, I/O-free: feed
// it the plaintext bytes the client sent with Input, send what Output
// produces, call Poll for timeouts, and close the transport when Closed
// reports true. Requests are answered in order (pipelining); the next
// request is parsed when the previous response has been output. The output
// buffer is allocated in NewServerConn, the input buffer when a request
// starts (see Shed).
type ServerConn struct {
	cfg      serverParams
	out      []byte
	inLen    int32 // the buffers' offsets in 32 bits (InBuf and OutBuf are below 2^30)
	outStart int32
	outEnd   int32
	ready    int32       // InPlace: length of the parsed request waiting for room
	rq       *reqState   // the request in progress (nil: shed, or none yet)
	reqStart stamp.Stamp // first byte of the request in progress (8 bytes, not a time.Time's 24)
	reqBytes uint32      // bytes of it received so far (head and body; saturating)
	below    uint32      // bytes of it received below HTTP (SetPending)
	active   stamp.Stamp // last input or output progress
	stats    connStats32 // ConnStats in 32 bits (Stats widens them)

	srcChunk bool // src output is chunked (else close-delimited)
	drained  bool // InPlace: the transport has nothing queued (SetDrained)
	closing  bool // close once the output drains
	closed   bool
	sent100  bool
	started  bool
	asked    bool // Body was asked about the head in c.in
	discard  bool // the sink stopped the body: drop input
	inPlace  bool // ServerConfig.InPlace
	askBody  bool // Body or Responder.BodyFor is asked about bodies

	// InPlace: a queued error response has no buffer; it is composed
	// (again) from these at each Output, and out[outStart:outEnd] are its
	// bytes still to send (out is nil).
	errHead   bool   // the request was HEAD: no body
	errStatus uint16 // its status
	errAt     uint32 // its Date (Unix seconds; uint32 lasts until 2106)
}

// reqState is what a ServerConn needs only while a request is in progress:
// the parsed request (its 32 header offsets), the response writer and the
// chunked decoder, the request body's sink and the response body still to
// send, and the input buffer (allocated with it, held here rather than in
// the ServerConn: 24 bytes less in every connection, TestServerConnSize). It
// is allocated when the first byte of a request arrives, and Shed drops it
// and the input buffer once nothing of a request is held (so an idle
// connection holds none of them).
type reqState struct {
	in    []byte // the input buffer (InBuf bytes; nil: not allocated yet)
	req   Request
	w     ResponseWriter
	chunk ChunkedDecoder // chunked bodies

	ext []byte     // response body to send after out (SetBody), or 100 Continue
	src BodySource // response body to fill (SetBodySource)

	// Streamed request body (ServerConfig.Body).
	body     BodySink // the body is being streamed to it
	bodyLeft int64    // Content-Length bytes still to come
}

// reqStateSize is the bytes a reqState takes.
const reqStateSize = int(unsafe.Sizeof(reqState{}))

// RequestStateSize is the bytes of the request state a ServerConn lends
// itself while a request is in progress (beside its input buffer; see
// Footprint and Shed): for RAM bounds.
const RequestStateSize = reqStateSize

// ErrBodyFull is returned by ResponseWriter.Write when the body does not fit
// the output buffer; the response becomes a 500.
var ErrBodyFull = errors.New("http: response body exceeds the output buffer")

// ResponseWriter collects one response. The handler sets Header fields
// (Status, ContentType, ETag, Location, ...) and writes a body with Write or
// gives one with SetBody. ServerConn adds Date, Content-Length and
// Connection; for HEAD requests it sends the head only.
type ResponseWriter struct {
	Header   ResponseHeader
	buf      []byte // body area
	n        int
	ext      []byte
	src      BodySource
	overflow bool
}

// BodySource produces a response body of unknown length, pulled as the
// connection has room (see ResponseWriter.SetBodySource).
type BodySource interface {
	// Fill writes up to len(dst) body bytes into dst and returns the count;
	// 0 ends the body.
	Fill(dst []byte) int
}

// SetBodySource makes src produce the body after the handler returns: it is
// sent with the chunked transfer coding (HTTP/1.0 clients get a body
// delimited by closing the connection). Use it for bodies larger than the
// output buffer; src is called from Output and must not use the request.
// A pointer to a long-lived value keeps this allocation-free. It replaces
// anything written.
func (w *ResponseWriter) SetBodySource(src BodySource) {
	w.n, w.ext, w.src = 0, nil, src
}

// Write appends p to the body.
func (w *ResponseWriter) Write(p []byte) (int, error) {
	if w.overflow || len(p) > len(w.buf)-w.n || w.ext != nil || w.src != nil {
		w.overflow = true
		return 0, ErrBodyFull
	}
	w.n += copy(w.buf[w.n:], p)
	return len(p), nil
}

// WriteString appends s to the body.
func (w *ResponseWriter) WriteString(s string) (int, error) {
	if w.overflow || len(s) > len(w.buf)-w.n || w.ext != nil || w.src != nil {
		w.overflow = true
		return 0, ErrBodyFull
	}
	w.n += copy(w.buf[w.n:], s)
	return len(s), nil
}

// Free returns the unused body space; write into it and call Commit.
func (w *ResponseWriter) Free() []byte { return w.buf[w.n:] }

// Commit adds n bytes written into Free to the body.
func (w *ResponseWriter) Commit(n int) {
	if n < 0 || n > len(w.buf)-w.n {
		w.overflow = true
		return
	}
	w.n += n
}

// SetBody makes data the whole body, sent from where it lies without
// copying: data must stay unchanged until the response has been output
// (store file contents are immutable and qualify). It replaces anything
// written.
func (w *ResponseWriter) SetBody(data []byte) {
	w.n, w.ext, w.src = 0, data, nil
}

// HeadWriter returns a zeroed ResponseWriter for a handler consulted
// inside a ServerConfig.Body callback (before the request is answered):
// it is the connection's own writer, which is unused until the handler
// answers the request and is then reset, so whatever is written into it
// there is discarded. It has no body room: writes fail with ErrBodyFull.
func (c *ServerConn) HeadWriter() *ResponseWriter {
	if c.rq == nil {
		c.rq = new(reqState)
	}
	c.rq.w = ResponseWriter{}
	return &c.rq.w
}

// NewServerConn returns a connection. It allocates its output buffer (none
// when InPlace); the input buffer (InBuf bytes) and the request state are
// allocated when the first byte of a request arrives, and Shed drops them
// between requests.
func NewServerConn(cfg ServerConfig) *ServerConn {
	if cfg.InBuf <= 0 {
		cfg.InBuf = 8192
	}
	if cfg.OutBuf <= 0 {
		cfg.OutBuf = 4096
	}
	cfg.OutBuf = min(max(cfg.OutBuf, 256), 1<<30) // its offsets are int32
	if cfg.HeaderReserve <= 0 {
		cfg.HeaderReserve = 512
	}
	if cfg.HeaderReserve > cfg.OutBuf/2 {
		cfg.HeaderReserve = cfg.OutBuf / 2
	}
	if cfg.RequestTimeout <= 0 {
		cfg.RequestTimeout = 10 * time.Second
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = 60 * time.Second
	}
	if cfg.BodyTimeout <= 0 {
		cfg.BodyTimeout = 3 * time.Minute
	}
	if cfg.MinRate <= 0 {
		cfg.MinRate = DefaultMinRate
	}
	if cfg.BodyGrace <= 0 {
		cfg.BodyGrace = DefaultBodyGrace
	}
	cfg.Limits = cfg.Limits.norm()
	if cfg.Limits.MaxHeaderBytes > cfg.InBuf {
		cfg.Limits.MaxHeaderBytes = cfg.InBuf
	}
	if cfg.Limits.MaxBody > int64(cfg.InBuf) {
		cfg.Limits.MaxBody = int64(cfg.InBuf)
	}
	l := cfg.Limits
	lim := limits32{MaxTarget: int32(min(l.MaxTarget, math.MaxInt32)), MaxHeaderBytes: int32(min(l.MaxHeaderBytes, math.MaxInt32)),
		MaxHeaders: int32(l.MaxHeaders), MaxBody: int32(min(l.MaxBody, math.MaxInt32))}
	c := &ServerConn{cfg: serverParams{lim: lim, InBuf: int32(min(cfg.InBuf, 1<<30)),
		OutBuf: int32(cfg.OutBuf), HeaderReserve: int32(cfg.HeaderReserve), MinRate: int32(min(cfg.MinRate, 1<<30)),
		reqMS: msOf(cfg.RequestTimeout), idleMS: msOf(cfg.IdleTimeout),
		bodyMS: msOf(cfg.BodyTimeout), graceMS: msOf(cfg.BodyGrace)}}
	c.inPlace = cfg.InPlace
	switch {
	case cfg.Responder != nil:
		c.cfg.rs, c.askBody = cfg.Responder, true
	case cfg.Handler != nil || cfg.Body != nil:
		c.cfg.rs, c.askBody = &funcResponder{cfg.Handler, cfg.Body}, cfg.Body != nil
	}
	if !cfg.InPlace {
		// InPlace has no output buffer: responses are composed in
		// Output's dst, an error response too (see errorResponse), a
		// 100 Continue is sent from a constant, and a response body from
		// a BodySource is filled in place.
		c.out = make([]byte, cfg.OutBuf)
	}
	return c
}

// The defaults of ServerConfig.MinRate and BodyGrace (see there).
const (
	DefaultMinRate   = 256
	DefaultBodyGrace = 20 * time.Second
)

// continue100 is the interim response sent (read only) for Expect:
// 100-continue.
var continue100 = []byte("HTTP/1.1 100 Continue\r\n\r\n")

// maxErrorResponse bounds an error response (head and text): the longest
// is under 200 bytes (TestInPlaceErrorsFit).
const maxErrorResponse = 256

// Reset prepares c for a new connection, keeping its buffers.
func (c *ServerConn) Reset() {
	c.inLen, c.outStart, c.outEnd = 0, 0, 0
	if c.rq != nil {
		c.rq.ext, c.rq.src, c.rq.body, c.rq.bodyLeft = nil, nil, nil, 0
	}
	c.ready, c.drained = 0, false
	c.closing, c.closed, c.sent100, c.started = false, false, false, false
	c.asked, c.discard = false, false
	c.reqStart, c.active = 0, 0
	c.reqBytes, c.below = 0, 0
	c.stats = connStats32{}
}

// Stats returns the connection's counters.
func (c *ServerConn) Stats() ConnStats {
	var st ConnStats
	count.Widen(&st, &c.stats)
	return st
}

// connStats32 is ConnStats in 32 bits (a connection's counters; they wrap
// after 2^32), field for field.
type connStats32 struct {
	Requests, Errors, Timeouts uint32
}

// Closed reports that the connection is finished: everything to send has
// been returned by Output and the transport should close.
func (c *ServerConn) Closed() bool { return c.closed }

// Buffered reports the request bytes waiting in the input buffer.
func (c *ServerConn) Buffered() int { return int(c.inLen) }

// Waiting reports that a complete request waits for Output room to be
// answered in, or a BodySource body for room for its next chunk (InPlace):
// the connection is not idle.
func (c *ServerConn) Waiting() bool {
	return c.ready > 0 && !c.closing && !c.closed || c.out == nil && c.rq != nil && c.rq.src != nil && !c.closed
}

// minChunkRoom is the least room an InPlace connection fills with a chunk
// of a BodySource body (the size line and CRLFs take 8 bytes).
const minChunkRoom = 16

// Streaming reports that a request body is being streamed to a BodySink.
func (c *ServerConn) Streaming() bool { return c.rq != nil && c.rq.body != nil }

// Idle reports that the connection is between requests: no request bytes
// buffered, none waiting, no response output pending. LastActive is the
// time of its last input or output progress.
func (c *ServerConn) Idle() bool {
	return c.inLen == 0 && c.ready == 0 && !c.pending() && !c.closing && !c.closed
}

// HasOutput reports whether Output may write anything now: a response
// (or part of one) pending, a request waiting to be answered, or a close
// to complete. A connection receiving a request (its head, or its body)
// has nothing to output: its caller need not find room for Output (which
// may lend a shed send buffer, only for Output to write nothing).
func (c *ServerConn) HasOutput() bool {
	return c.pending() || c.ready > 0 || c.closing && !c.closed
}

// Receiving reports whether a request is being received (its head not yet
// complete, or its body still arriving: nothing of it answered yet), since
// when (its first byte), and whether it lags: it has taken longer than
// grace plus its bytes at MinRate (see ServerConfig.MinRate). With grace =
// BodyGrace a lagging body is the one Poll answers with 408; a shorter
// grace tells a caller (the card's slot admission) which requests fall
// short of the minimum rate early.
func (c *ServerConn) Receiving(now time.Time, grace time.Duration) (since time.Time, lagging, ok bool) {
	if !c.receiving() {
		return time.Time{}, false, false
	}
	return c.reqStart.Time(), !now.Before(c.rateDeadline(grace)), true
}

// addBytes counts n bytes of the request in progress (saturating).
func (c *ServerConn) addBytes(n int) {
	c.reqBytes = uint32(min(int64(c.reqBytes)+int64(n), 1<<32-1))
}

func (c *ServerConn) receiving() bool {
	return c.inLen > 0 && !c.pending() && !c.closing && !c.closed && c.ready == 0
}

// rateDeadline is when the request in progress must be complete to keep
// MinRate after grace.
func (c *ServerConn) rateDeadline(grace time.Duration) time.Time {
	n := int64(c.reqBytes) + int64(c.below)
	return c.reqStart.Time().Add(grace + time.Duration(n*int64(time.Second)/int64(c.cfg.MinRate)))
}

// SetPending tells the connection how many bytes of the request in
// progress have been received below HTTP and not yet given to Input (a
// TLS record still arriving): they count as progress for MinRate.
func (c *ServerConn) SetPending(n int) {
	if n > 0 && c.receiving() {
		c.below = uint32(min(n, 1<<30))
		return
	}
	c.below = 0
}

// LastActive is the time of the connection's last input or output progress.
func (c *ServerConn) LastActive() time.Time { return c.active.Time() }

// SetDrained tells an InPlace connection whether the transport has nothing
// queued, so the dst of the next Output calls is as large as it will ever
// get: a waiting request is then answered even in less than OutBuf (the
// body space shrinks accordingly).
func (c *ServerConn) SetDrained(drained bool) { c.drained = drained }

// Footprint returns the bytes of the connection's buffers and request
// state held now (see Shed).
func (c *ServerConn) Footprint() int {
	n := cap(c.inb()) + cap(c.out)
	if c.rq != nil {
		n += reqStateSize
	}
	return n
}

// Shed drops the input buffer and the request state when they hold nothing
// of a request — no request byte buffered, none parsed and waiting, no body
// being streamed, no response being output — and returns the bytes
// released (0 otherwise, and on a second call). The first byte of the next
// request allocates them again (two allocations), at the same sizes, so the
// connection behaves exactly as if they had stayed. It never allocates.
func (c *ServerConn) Shed() int {
	if c.inLen > 0 || c.ready > 0 || c.Streaming() || c.pending() {
		return 0
	}
	n := cap(c.inb())
	if c.rq != nil {
		n += reqStateSize
	}
	c.rq = nil
	return n
}

// inb is the input buffer (nil: not allocated).
func (c *ServerConn) inb() []byte {
	if c.rq == nil {
		return nil
	}
	return c.rq.in
}

// Holding reports whether the connection holds a request's buffers (its
// input buffer or request state): false before the first request byte and
// after a Shed that dropped them, until the next request byte. A transport
// that lends its own per-request state may drop it with them.
func (c *ServerConn) Holding() bool { return c.rq != nil }

func (c *ServerConn) pending() bool {
	return c.outStart < c.outEnd || c.rq != nil && (len(c.rq.ext) > 0 || c.rq.src != nil)
}

// dropOutput drops the response output still to send.
func (c *ServerConn) dropOutput() {
	c.outStart, c.outEnd = 0, 0
	if c.rq != nil {
		c.rq.ext, c.rq.src = nil, nil
	}
}

// Input takes bytes received from the client and returns how many it
// accepted (fewer when the input buffer is full while a response is being
// sent: offer the rest later). After the connection has decided to close,
// input is discarded. Bytes of a streamed body go from b to the BodySink
// without being copied (b is not modified).
func (c *ServerConn) Input(b []byte, now time.Time) int {
	if !c.started {
		c.started, c.active = true, stamp.Of(now)
	}
	if c.closing || c.closed || c.discard {
		return len(b)
	}
	fed := 0
	if c.Streaming() {
		var fin bool
		fed, fin = c.feed(b, now)
		if fed > 0 {
			c.active = stamp.Of(now)
			c.addBytes(fed)
		}
		if fin {
			c.complete(c.rq.req.HeadLen, now)
		}
		if c.closing || c.discard {
			return len(b)
		}
		b = b[fed:]
		if c.Streaming() || len(b) == 0 {
			c.process(now)
			return fed
		}
	}
	if c.inLen == 0 && len(b) > 0 {
		c.reqStart, c.reqBytes = stamp.Of(now), 0
		if c.rq == nil {
			c.rq = new(reqState)
		}
		if c.rq.in == nil {
			c.rq.in = make([]byte, c.cfg.InBuf)
		}
	}
	n := copy(c.inb()[c.inLen:], b)
	c.inLen += int32(n)
	if n > 0 {
		c.active = stamp.Of(now)
		c.addBytes(n)
	}
	c.process(now)
	return fed + n
}

// feed hands the streamed body bytes at the start of p to the sink and
// returns how many p held, and whether the body ended (or the sink stopped
// it): the request is then to be answered.
func (c *ServerConn) feed(p []byte, now time.Time) (int, bool) {
	used := 0
	for c.rq.body != nil && used < len(p) {
		var data []byte
		done := false
		if c.rq.req.Chunked {
			d, k, dn, err := c.rq.chunk.Next(p[used:])
			if err != nil {
				status := 400
				if e, ok := err.(*Error); ok {
					status = e.Status
				}
				c.stats.Errors++
				c.errorResponse(status, now)
				return len(p), false
			}
			data, used, done = d, used+k, dn
		} else {
			k := int(min(int64(len(p)-used), c.rq.bodyLeft))
			data = p[used : used+k]
			used += k
			c.rq.bodyLeft -= int64(k)
			done = c.rq.bodyLeft == 0
		}
		if len(data) > 0 {
			if err := c.rq.body.WriteBody(data); err != nil {
				c.rq.req.BodyErr, c.rq.req.Close = err, true
				c.rq.body, c.discard = nil, true
				return len(p), true
			}
		}
		if done {
			c.rq.body = nil
			return used, true
		}
	}
	return used, false
}

// startBody begins streaming the body of the request whose head (n bytes)
// is at the start of c.in to sink, feeding it the body bytes already
// there.
func (c *ServerConn) startBody(n int, sink BodySink, limit int64, now time.Time) {
	r := &c.rq.req
	if r.ContentLength > limit || limit <= 0 {
		c.stats.Errors++
		c.errorResponse(413, now)
		return
	}
	r.BodyStreamed, r.Body = true, c.inb()[n:n:n]
	c.rq.body, c.rq.bodyLeft = sink, r.ContentLength
	c.rq.chunk = ChunkedDecoder{Max: limit, MaxTrailer: int(c.cfg.lim.MaxHeaderBytes)}
	if r.Expect100 && int(c.inLen) == n && !c.sent100 {
		c.sent100 = true
		c.rq.ext = continue100
	}
	// Body bytes that came with the head are fed from the input buffer;
	// what follows the body (pipelined requests) moves up behind the head.
	k, fin := c.feed(c.inb()[n:c.inLen], now)
	if c.closing {
		return
	}
	if c.discard {
		k = int(c.inLen) - n
	}
	copy(c.inb()[n:], c.inb()[n+k:c.inLen])
	c.inLen -= int32(k)
	if fin {
		c.complete(n, now)
	}
}

// refuse answers the request whose head (n bytes) is at the start of c.in
// without reading its body (RefuseBody): the body bytes already received
// and all later input are dropped, and the answer closes the connection.
func (c *ServerConn) refuse(n int, now time.Time) {
	r := &c.rq.req
	r.BodyStreamed, r.Body = true, c.inb()[n:n:n]
	r.BodyErr, r.Close = ErrBodyRefused, true
	c.discard = true
	c.inLen = int32(n)
	c.complete(n, now)
}

// complete answers the request whose head (and buffered body) are the
// first n bytes of c.in: now, or (InPlace) when Output has room.
func (c *ServerConn) complete(n int, now time.Time) {
	if c.inPlace {
		c.ready = int32(n) // answered by Output, in its dst
		return
	}
	if c.pending() {
		// A 100 Continue is still being output: answer after it.
		c.ready = int32(n)
		return
	}
	if k := c.respond(now, c.out); k >= 0 {
		c.outStart, c.outEnd = 0, int32(k)
	}
	if int(c.inLen) >= n { // errorResponse may have discarded the input
		c.consume(n, now)
	}
}

// Output writes response bytes into dst and returns the count.
func (c *ServerConn) Output(dst []byte, now time.Time) int {
	total := 0
	for len(dst) > 0 {
		if c.outStart < c.outEnd {
			var k int
			if c.out == nil {
				var tmp [maxErrorResponse]byte // on the stack
				k = copy(dst, c.composeError(tmp[:0])[c.outStart:c.outEnd])
			} else {
				k = copy(dst, c.out[c.outStart:c.outEnd])
			}
			c.outStart += int32(k)
			dst, total = dst[k:], total+k
			continue
		}
		if rq := c.rq; rq != nil && len(rq.ext) > 0 {
			k := copy(dst, rq.ext)
			rq.ext = rq.ext[k:]
			dst, total = dst[k:], total+k
			continue
		}
		if c.rq != nil && c.rq.src != nil {
			if c.out == nil && c.srcChunk && len(dst) < minChunkRoom {
				break // InPlace: wait for room (Waiting reports it)
			}
			if len(dst) < 64 && c.out != nil {
				// Small room: stage the next piece in the output buffer.
				c.outStart, c.outEnd = 0, int32(c.fill(c.out))
				continue
			}
			k := c.fill(dst) // large room: fill in place
			dst, total = dst[k:], total+k
			continue
		}
		c.dropOutput()
		if c.closing {
			c.closed = true
			break
		}
		if c.ready > 0 && !c.inPlace {
			n := int(c.ready)
			c.ready = 0
			c.complete(n, now)
			continue
		}
		if c.ready > 0 {
			room := min(len(dst), int(c.cfg.OutBuf))
			if room < int(c.cfg.OutBuf) && (!c.drained || room < minInPlace) {
				break // wait for room
			}
			n := int(c.ready)
			c.drained = false // dst is being filled: the room shrinks
			k := c.respond(now, dst[:room])
			if int(c.inLen) >= n { // errorResponse may have discarded the input
				c.consume(n, now)
			}
			c.ready = 0
			if k > 0 {
				dst, total = dst[k:], total+k
			}
			continue
		}
		c.process(now)
		if !c.pending() && c.ready == 0 {
			break
		}
	}
	if total > 0 {
		c.active = stamp.Of(now)
	}
	if !c.pending() && c.closing {
		c.closed = true
	}
	return total
}

// Poll applies the timeouts and returns the next deadline (zero: none).
// A request head not complete within RequestTimeout of its first byte, or
// a body stalled for IdleTimeout, gets 408 and the connection closes; a connection without progress (no request in
// progress and no output taken, or output not taken even while closing) for
// IdleTimeout is closed, dropping any unsent output.
func (c *ServerConn) Poll(now time.Time) time.Time {
	if !c.started { // the idle clock starts at the first Input or Poll
		c.started, c.active = true, stamp.Of(now)
	}
	if c.closed {
		return time.Time{}
	}
	if c.inLen > 0 && !c.pending() && !c.closing && c.ready == 0 {
		// Header section: a fixed deadline from the request's first byte.
		// Body (buffered or streamed): MinRate after BodyGrace, and never
		// a stall of BodyTimeout.
		dl := c.reqStart.Time().Add(dur(c.cfg.reqMS))
		if c.Streaming() || c.rq.req.HeadLen > 0 {
			dl = c.rateDeadline(dur(c.cfg.graceMS))
			if s := c.active.Time().Add(dur(c.cfg.bodyMS)); s.Before(dl) {
				dl = s
			}
		}
		if !now.Before(dl) {
			c.stats.Timeouts++
			c.rq.req.Method = nil
			c.errorResponse(408, now)
			c.active = stamp.Of(now)
			return now.Add(dur(c.cfg.idleMS))
		}
		return dl
	}
	dl := c.active.Time().Add(dur(c.cfg.idleMS))
	if !now.Before(dl) {
		c.dropOutput()
		c.closing, c.closed = true, true
		return time.Time{}
	}
	return dl
}

// Touch records progress made below HTTP: the transport is still
// delivering earlier output (unacknowledged or unsent bytes), so the
// connection is not idle. The transport's own timeouts bound that wait.
func (c *ServerConn) Touch(now time.Time) {
	if c.started && !c.closed {
		c.active = stamp.Of(now)
	}
}

// consume drops the first n input bytes.
func (c *ServerConn) consume(n int, now time.Time) {
	copy(c.inb(), c.inb()[n:c.inLen])
	c.inLen -= int32(n)
	c.sent100, c.asked = false, false
	c.reqStart, c.reqBytes, c.below = stamp.Of(now), uint32(c.inLen), 0
}

func (c *ServerConn) process(now time.Time) {
	for !c.pending() && !c.closing && c.inLen > 0 && c.ready == 0 && !c.Streaming() {
		if c.askBody && !c.asked {
			// Ask about a body before reading it: the head is parsed
			// without the buffered-body limit.
			lim := c.cfg.lim.Limits()
			lim.MaxBody = 1 << 62
			n, err := ParseRequestHead(c.inb()[:c.inLen], lim, &c.rq.req)
			if err == nil {
				c.asked = true
				if c.rq.req.ContentLength > 0 || c.rq.req.Chunked {
					if sink, limit := c.cfg.rs.BodyFor(&c.rq.req); sink == RefuseBody {
						c.refuse(n, now)
						continue
					} else if sink != nil {
						c.startBody(n, sink, limit, now)
						continue
					}
				}
			}
		}
		n, err := ParseRequest(c.inb()[:c.inLen], c.cfg.lim.Limits(), &c.rq.req)
		if err == ErrIncomplete {
			if int(c.inLen) == len(c.inb()) {
				if c.rq.req.HeadLen > 0 {
					c.errorResponse(413, now)
				} else {
					c.errorResponse(431, now)
				}
				c.stats.Errors++
				return
			}
			if c.rq.req.HeadLen > 0 && c.rq.req.Expect100 && !c.sent100 {
				c.sent100 = true
				c.rq.ext = continue100
			}
			return
		}
		if err != nil {
			status := 400
			if e, ok := err.(*Error); ok {
				status = e.Status
			}
			c.stats.Errors++
			c.errorResponse(status, now)
			return
		}
		c.complete(n, now)
	}
}

// minInPlace is the smallest room an InPlace response is composed in.
const minInPlace = 256

// respond runs the handler for c.rq.req and composes the response head and a
// written body in buf (the head in front, within HeaderReserve); a body
// given with SetBody or SetBodySource is left in c.rq.ext or c.rq.src. It
// returns the bytes composed in buf, or -1 when it queued an error
// response in c.out instead.
func (c *ServerConn) respond(now time.Time, buf []byte) int {
	r := &c.rq.req
	res := min(int(c.cfg.HeaderReserve), len(buf)/2)
	c.rq.w = ResponseWriter{Header: ResponseHeader{Status: 200}, buf: buf[res:]}
	w := &c.rq.w
	if c.cfg.rs != nil {
		c.cfg.rs.Respond(r, w)
	} else {
		w.Header.Status = 404
	}
	c.stats.Requests++
	h := &w.Header
	if w.overflow {
		*h = ResponseHeader{Status: 500}
		w.n, w.ext, w.src = 0, nil, nil
	}
	if h.Status < 200 || h.Status > 999 {
		h.Status = 500
	}
	body := w.buf[:w.n]
	if w.ext != nil {
		body = w.ext
	}
	// The body area is the transport's buffer (InPlace: the TCP send
	// buffer). Forget it now: a writer kept with c.rq until the next request
	// would keep that buffer reachable after the transport shed or freed it,
	// and the transport's next buffer would be a second one in RAM.
	w.buf = nil
	h.Date = now
	h.Chunked = false
	h.ContentLength = int64(len(body))
	if h.Status == 204 || h.Status == 304 {
		h.ContentLength = -1
		body = nil
	}
	src := w.src
	if src != nil {
		h.ContentLength = -1
		if r.Minor == 1 {
			h.Chunked = true
		} else {
			h.Close = true // HTTP/1.0: the body ends with the connection
		}
	}
	if r.IsHEAD() || h.Status == 204 || h.Status == 304 {
		body, src = nil, nil
	}
	h.Close = r.Close || r.BodyErr != nil || h.Close
	h.KeepAlive = r.KeepAlive10 && !h.Close
	if h.Close {
		c.closing = true
	}
	hd := AppendResponseHeader(buf[:0:res], h)
	inBuf := w.ext == nil && body != nil // a written body, at buf[res:]
	if len(hd) > res || &hd[0] != &buf[0] {
		// The head outgrew its reserve (AppendResponseHeader reallocated:
		// this rare path allocates). If head and written body still fit
		// the room, the body moves behind the head (copy handles the
		// overlap): a small profile's head reserve (Tiny: 224 bytes) must
		// not turn a long head — a 401 with its challenge and Connection:
		// close takes 238 — into 500 (TestHeadOutgrowsReserve).
		need := len(hd)
		if inBuf {
			need += len(body)
		}
		if need > len(buf) {
			c.errorResponse(500, now)
			return -1
		}
		moved := 0
		if inBuf {
			moved = copy(buf[len(hd):], body) // before the head overwrites its start
		} else {
			c.rq.ext = body
		}
		copy(buf, hd)
		c.rq.src, c.srcChunk = src, h.Chunked
		return len(hd) + moved
	}
	c.rq.src, c.srcChunk = src, h.Chunked
	if !inBuf {
		c.rq.ext = body
		return len(hd)
	}
	return len(hd) + copy(buf[len(hd):], body)
}

// fill writes the next piece of a BodySource body into dst (at least 64
// bytes): one chunk with a fixed-width size line (leading zeros are valid
// chunk-size digits), or the last chunk.
func (c *ServerConn) fill(dst []byte) int {
	if !c.srcChunk {
		n := min(c.rq.src.Fill(dst), len(dst))
		if n <= 0 {
			c.rq.src = nil
			return 0
		}
		return n
	}
	const hexw = 4
	room := min(len(dst)-(hexw+4), 0xffff)
	n := min(c.rq.src.Fill(dst[hexw+2:hexw+2+room]), room)
	if n <= 0 {
		c.rq.src = nil
		return copy(dst, "0\r\n\r\n")
	}
	const digits = "0123456789abcdef"
	for i := 0; i < hexw; i++ {
		dst[i] = digits[(n>>(4*(hexw-1-i)))&15]
	}
	dst[hexw], dst[hexw+1] = '\r', '\n'
	dst[hexw+2+n], dst[hexw+3+n] = '\r', '\n'
	return hexw + 4 + n
}

// errorResponse queues a short error response and closes the connection.
func (c *ServerConn) errorResponse(status int, now time.Time) {
	// best effort: the method is known once the request line parsed
	c.errStatus, c.errHead, c.errAt = uint16(status), c.rq != nil && c.rq.req.IsHEAD(), uint32(now.Unix())
	var n int
	if c.out == nil {
		var tmp [maxErrorResponse]byte // on the stack
		n = len(c.composeError(tmp[:0]))
	} else {
		b := c.composeError(c.out[:0])
		if len(b) > 0 && &b[0] != &c.out[0] { // outgrew the output buffer
			b = b[:copy(c.out, b)]
		}
		n = len(b)
	}
	c.dropOutput()
	c.outEnd = int32(n)
	c.ready = 0
	c.closing = true
	c.inLen = 0
	if c.rq != nil {
		c.rq.body = nil
	}
}

// composeError appends the queued error response to dst (within its
// capacity: longer is cut) and returns it; it gives the same bytes each
// time for the same error.
func (c *ServerConn) composeError(dst []byte) []byte {
	status := int(c.errStatus)
	h := ResponseHeader{Status: status, Date: time.Unix(int64(c.errAt), 0), ContentType: "text/plain; charset=utf-8", Close: true}
	text := StatusText(status)
	h.ContentLength = int64(len(text) + 1)
	b := AppendResponseHeader(dst, &h)
	if !c.errHead {
		b = append(b, text...)
		b = append(b, '\n')
	}
	if len(b) > cap(dst) {
		b = append(dst[:0], b[:cap(dst)]...) // never happens: maxErrorResponse
	}
	return b
}

// ServeContent answers a GET or HEAD for a stored representation: 304 when
// If-None-Match matches etag, 206 for a satisfiable single byte Range (if
// any If-Range matches etag), 416 for an unsatisfiable one, else 200 with
// the whole data. data is sent without copying (see SetBody).
func ServeContent(w *ResponseWriter, r *Request, contentType, etag string, data []byte) {
	h := &w.Header
	h.ContentType, h.ETag, h.AcceptRanges = contentType, etag, true
	if inm := r.Get("if-none-match"); inm != nil && MatchETag(inm, etag) {
		h.Status = 304
		w.SetBody(nil)
		return
	}
	if rg := r.Get("range"); rg != nil && string(r.Method) == "GET" {
		ir := r.Get("if-range")
		if ir == nil || etag != "" && etag[0] == '"' && string(trimOWS(ir)) == etag {
			size := int64(len(data))
			first, last, res := ParseRange(rg, size)
			switch res {
			case RangeOK:
				h.Status = 206
				h.RangeFirst, h.RangeLast, h.RangeSize = first, last, size
				w.SetBody(data[first : last+1])
				return
			case RangeUnsatisfiable:
				h.Status = 416
				h.RangeFirst, h.RangeSize = -1, size
				w.SetBody(nil)
				return
			}
		}
	}
	h.Status = 200
	w.SetBody(data)
}

// RedirectHTTPS is a handler for the plain-HTTP port: it answers every
// request with a redirect to the same target on https://<Host> (the port,
// if any, removed): 301 for GET and HEAD, 308 otherwise (method kept).
// Requests without a Host (HTTP/1.0) get 400.
func RedirectHTTPS(r *Request, w *ResponseWriter) {
	host := r.Host
	// Strip ":port" (after any IPv6 literal's closing bracket).
	for i := len(host) - 1; i >= 0; i-- {
		if host[i] == ':' {
			host = host[:i]
			break
		}
		if host[i] < '0' || host[i] > '9' {
			break
		}
	}
	if len(host) == 0 || r.Path == nil || r.Target[0] != '/' {
		w.Header.Status = 400
		return
	}
	// The Location line is composed in the (unused) body area: the head is
	// composed apart from it, in the head reserve, which it must then fit.
	const pre, post = "Location: https://", "\r\n"
	b := w.Free()
	if len(pre)+len(host)+len(r.Target)+len(post) > len(b) {
		w.overflow = true // 500, as for a head outgrowing its reserve
		return
	}
	k := copy(b, pre)
	k += copy(b[k:], host)
	k += copy(b[k:], r.Target)
	k += copy(b[k:], post)
	w.Header.ExtraBytes = b[:k:k]
	w.Header.Status = 308
	if string(r.Method) == "GET" || string(r.Method) == "HEAD" {
		w.Header.Status = 301
	}
}
