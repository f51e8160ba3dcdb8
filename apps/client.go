package apps

import (
	"crypto/x509"
	"errors"
	"io"
	"strings"
	"time"
	"unsafe"

	"netcard/http"
	"netcard/store"
	"netcard/tls"
)

// ClientConfig configures a ClientSession.
type ClientConfig struct {
	// RecordBuf is the stream's receive buffer size, the largest TLS record
	// the server may send us whole (0: tls.DefaultRecordBuf).
	RecordBuf int
	// Buf receives the response (head and body); nil: 16 KiB allocated once.
	// A response that does not fit fails the fetch.
	Buf []byte
	// ReqBuf bounds the request head and body (default 2048).
	ReqBuf int
	// Timeout bounds a whole exchange from Start (default 30s).
	Timeout time.Duration
	// UserAgent is sent when non-empty (default "netcard").
	UserAgent string
}

// Client errors.
var (
	ErrRequestTooLarge  = errors.New("apps: request does not fit the request buffer")
	ErrResponseTooLarge = errors.New("apps: response does not fit the response buffer")
	ErrTruncated        = errors.New("apps: connection closed before the response was complete")
	ErrTimeout          = errors.New("apps: fetch timed out")
	ErrSchemeMismatch   = errors.New("apps: https needs a TLS configuration, http must not have one")
)

// ClientSession makes one HTTP(S) request from the card over a Stream,
// without I/O of its own: Start it on a connected (or connecting) stream,
// call Service after every event until Done, then read Result. It is reusable
// with another Start.
type ClientSession struct {
	cfg  ClientConfig
	st   Stream
	eng  *tls.Engine
	req  []byte
	rOff int
	head bool // the request is HEAD: no body in the response
	buf  []byte
	n    int
	resp http.Response

	start    time.Time
	deadline time.Time
	peerDone bool
	done     bool
	err      error
	status   int
}

// Lent returns the bytes the session holds now, for reporting: its struct,
// request and response buffers and its TLS engine (tls.Engine.Lent).
func (c *ClientSession) Lent() int {
	n := int(unsafe.Sizeof(*c)) + cap(c.req) + cap(c.buf)
	if c.eng != nil {
		n += c.eng.Lent()
	}
	return n
}

// NewClientSession allocates the request and response buffers.
func NewClientSession(cfg ClientConfig) *ClientSession {
	if cfg.RecordBuf <= 0 {
		cfg.RecordBuf = tls.DefaultRecordBuf
	}
	if cfg.ReqBuf <= 0 {
		cfg.ReqBuf = 2048
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 30 * time.Second
	}
	if cfg.UserAgent == "" {
		cfg.UserAgent = "netcard"
	}
	if cfg.Buf == nil {
		cfg.Buf = make([]byte, 16384)
	}
	return &ClientSession{cfg: cfg, req: make([]byte, 0, cfg.ReqBuf), buf: cfg.Buf, done: true}
}

// ClientTLS builds the TLS configuration for an outbound connection from the
// card: the server is verified against the store's trust anchors and
// serverName; with clientCert the card presents its own certificate (mutual
// TLS), signing with its identity key inside the store.
func ClientTLS(st *store.Store, rand io.Reader, clock func() time.Time, serverName string, clientCert bool) (*tls.Config, error) {
	roots := x509.NewCertPool()
	for _, der := range st.Anchors() {
		c, err := x509.ParseCertificate(der)
		if err != nil {
			return nil, err
		}
		roots.AddCert(c)
	}
	cfg := &tls.Config{Rand: rand, Time: clock, Client: &tls.ClientConfig{ServerName: serverName, Roots: roots}}
	if clientCert {
		sg, err := st.Signer()
		if err != nil {
			return nil, err
		}
		chain := st.Certificate()
		if chain == nil {
			return nil, errors.New("apps: the card has no certificate")
		}
		cfg.Certificate, cfg.Signer = chain, sg
	}
	return cfg, nil
}

// Start begins the request described by req on st (TLS when tcfg is
// non-nil, which must agree with req.TLS).
func (c *ClientSession) Start(st Stream, req *FetchRequest, tcfg *tls.Config, now time.Time) error {
	if (tcfg != nil) != req.TLS {
		return ErrSchemeMismatch
	}
	method := req.Method
	if method == "" {
		method = "GET"
	}
	h := http.RequestHeader{Method: method, Target: req.Target, Host: req.HostPort(),
		ContentType: req.ContentType, ContentLength: -1, Close: true, Accept: "*/*",
		UserAgent: c.cfg.UserAgent, Extra: req.Extra}
	if len(req.Body) > 0 || method == "POST" || method == "PUT" {
		h.ContentLength = int64(len(req.Body))
	}
	b := http.AppendRequestHeader(c.req[:0], &h)
	if cap(b) != cap(c.req) || len(b)+len(req.Body) > cap(c.req) {
		return ErrRequestTooLarge
	}
	c.req = append(b, req.Body...)
	c.st, c.rOff, c.n, c.head = st, 0, 0, method == "HEAD"
	c.start, c.deadline = now, now.Add(c.cfg.Timeout)
	c.peerDone, c.done, c.err, c.status = false, false, nil, 0
	c.resp = http.Response{}
	c.eng = nil
	if tcfg != nil {
		c.eng = tls.NewClient(tcfg, c.cfg.RecordBuf)
		if c.eng.State() == tls.Failed {
			c.fail(c.eng.Err())
		}
	}
	return nil
}

// StartFetch starts req (typically from App.NextFetch) on st: for https it
// builds the TLS configuration with ClientTLS (the store's anchors, req.Host
// as the verified name, the card's certificate when req.ClientCert).
func (c *ClientSession) StartFetch(st Stream, req *FetchRequest, s *store.Store, rand io.Reader, clock func() time.Time, now time.Time) error {
	var cfg *tls.Config
	if req.TLS {
		var err error
		if cfg, err = ClientTLS(s, rand, clock, req.Host, req.ClientCert); err != nil {
			return err
		}
		// Announce what our receive buffer holds (RFC 8449); this also lets
		// the server tell us its own limit.
		cfg.RecordSizeLimit = uint16(min(max(c.cfg.RecordBuf-21, 64), 16385))
	}
	return c.Start(st, req, cfg, now)
}

// MaxRedirects is the number of redirects a card fetch should follow.
const MaxRedirects = 5

// Redirect returns the request to make next when the finished exchange for
// prev ended in a redirect (301, 302, 303, 307, 308) with a usable Location:
// relative references keep prev's origin; the method follows RFC 9110
// (303, and 301/302 after POST, become GET without a body). A redirect from
// https to http is refused. The caller bounds the chain (MaxRedirects) and
// opens a new connection for the returned request.
func (c *ClientSession) Redirect(prev *FetchRequest) (FetchRequest, bool) {
	if !c.done || c.err != nil || !http.IsRedirect(c.status) {
		return FetchRequest{}, false
	}
	loc := c.resp.Get("location")
	if loc == nil {
		return FetchRequest{}, false
	}
	var buf [1024]byte
	base := prev.Target
	if i := strings.IndexByte(base, '?'); i >= 0 {
		base = base[:i]
	}
	l, ok := http.ParseLocation(loc, base, buf[:0])
	if !ok {
		return FetchRequest{}, false
	}
	next := *prev
	if l.Host != nil {
		scheme := "https"
		if l.Scheme != nil {
			scheme = strings.ToLower(string(l.Scheme))
		} else if !prev.TLS {
			scheme = "http"
		}
		u, err := ParseURL(scheme + "://" + string(l.Host) + string(l.Path))
		if err != nil {
			return FetchRequest{}, false
		}
		next.TLS, next.Host, next.Port, next.Target = u.TLS, u.Host, u.Port, u.Target
	} else {
		next.Target = string(l.Path)
	}
	if prev.TLS && !next.TLS {
		return FetchRequest{}, false
	}
	scheme := "http://"
	if next.TLS {
		scheme = "https://"
	}
	next.URL = scheme + next.HostPort() + next.Target
	if m := http.RedirectMethod(c.status, prev.Method); m != prev.Method {
		next.Method, next.Body, next.ContentType = m, nil, ""
	}
	return next, true
}

// Done reports that the exchange ended (see Result) and the stream was closed.
func (c *ClientSession) Done() bool { return c.done }

// Next returns the deadline by which Service must run again.
func (c *ClientSession) Next() time.Time {
	if c.done {
		return time.Time{}
	}
	return c.deadline
}

// Engine returns the TLS engine of the exchange (nil for plain HTTP).
func (c *ClientSession) Engine() *tls.Engine { return c.eng }

// Response returns the parsed response once Done without error; its slices
// alias the session's buffer until the next Start.
func (c *ClientSession) Response() *http.Response { return &c.resp }

// Err returns why the exchange failed, or nil.
func (c *ClientSession) Err() error { return c.err }

// Result summarises the exchange; Body aliases the session's buffer.
func (c *ClientSession) Result() FetchResult {
	r := FetchResult{}
	if c.err != nil {
		r.Err = c.err.Error()
		return r
	}
	r.Status = c.status
	r.ContentType = string(c.resp.Get("content-type"))
	r.Body = c.resp.Body
	return r
}

func (c *ClientSession) fail(err error) {
	if c.err == nil {
		c.err = err
	}
	c.finish()
}

// finish sends close_notify if possible and releases the stream.
func (c *ClientSession) finish() {
	if c.done {
		return
	}
	if c.eng != nil {
		c.eng.Close()
		for c.eng.Pending() > 0 {
			f := c.st.Free()
			if len(f) == 0 {
				break
			}
			c.st.Commit(c.eng.Output(f))
		}
	}
	c.st.CloseWrite()
	c.st.Close()
	c.done = true
}

// Service advances the exchange; it reports whether anything happened.
func (c *ClientSession) Service(now time.Time) bool {
	if c.done {
		return false
	}
	if err := c.st.Err(); err != nil {
		c.fail(err)
		return true
	}
	if !now.Before(c.deadline) {
		c.fail(ErrTimeout)
		return true
	}
	progress := false
	for i := 0; i < 1024 && !c.done; i++ {
		p := c.output()
		if c.input() {
			p = true
		}
		if !p {
			break
		}
		progress = true
	}
	return progress
}

func (c *ClientSession) output() bool {
	st, p := c.st, false
	if c.eng == nil {
		if c.rOff < len(c.req) {
			n := copy(st.Free(), c.req[c.rOff:])
			st.Commit(n)
			c.rOff += n
			p = n > 0
		}
		return p
	}
	e := c.eng
	for e.Pending() > 0 {
		f := st.Free()
		if len(f) == 0 {
			return p
		}
		st.Commit(e.Output(f))
		p = true
	}
	if e.State() != tls.Established {
		return p
	}
	hdr, tail := e.Overhead()
	for c.rOff < len(c.req) {
		f := st.Free()
		room := min(len(f)-hdr-tail, e.MaxPlaintext(), len(c.req)-c.rOff)
		if room <= 0 || room < min(minRecord, len(c.req)-c.rOff) {
			return p
		}
		copy(f[hdr:], c.req[c.rOff:c.rOff+room])
		rl := e.Wrap(f, room)
		if rl == 0 {
			c.fail(errors.New("apps: TLS refused to seal"))
			return true
		}
		st.Commit(rl)
		c.rOff += room
		p = true
	}
	return p
}

// input collects response bytes and parses when something arrived.
func (c *ClientSession) input() bool {
	st := c.st
	in := st.Peek()
	got := false
	switch {
	case len(in) == 0:
		if st.EOF() && !c.peerDone {
			c.peerDone = true
			got = true
		}
	case c.eng == nil:
		k := copy(c.buf[c.n:], in)
		c.n += k
		st.Consume(k)
		got = k > 0
		if k == 0 {
			c.fail(ErrResponseTooLarge)
			return true
		}
	default:
		n, plain, err := c.eng.Unwrap(in)
		if err != nil {
			if n > 0 {
				st.Consume(n)
			}
			if err == io.EOF {
				c.peerDone = true
				got = true
				break
			}
			c.fail(err)
			return true
		}
		if n == 0 {
			// Ask for room for the whole record (like the server session):
			// on a slot with a small receive buffer TCP lends a large one
			// and opens the window at once, instead of growing only when
			// the small buffer is full (a stall of about one
			// retransmission timeout per large record).
			if len(in) >= 5 {
				st.Reserve(5 + (int(in[3])<<8 | int(in[4]))) // header: type, version, length
			}
			if st.EOF() && !c.peerDone {
				c.peerDone = true // closed in the middle of a record
				got = true
			}
			break
		}
		if len(plain) > len(c.buf)-c.n {
			c.fail(ErrResponseTooLarge)
			return true
		}
		c.n += copy(c.buf[c.n:], plain)
		st.Consume(n)
		got = true
	}
	if got {
		c.parse()
	}
	return got
}

// parse checks whether the buffered bytes hold the whole response.
func (c *ClientSession) parse() {
	for c.n > 0 {
		n, err := http.ParseResponseFor(c.buf[:c.n], c.head, &c.resp)
		if err == http.ErrIncomplete {
			if c.peerDone {
				c.fail(ErrTruncated)
			} else if c.n == len(c.buf) {
				c.fail(ErrResponseTooLarge)
			}
			return
		}
		if err != nil {
			c.fail(err)
			return
		}
		if c.resp.Status < 200 { // interim response: drop it
			c.n = copy(c.buf, c.buf[n:c.n])
			continue
		}
		if c.resp.UntilClose && !c.peerDone {
			if c.n == len(c.buf) {
				c.fail(ErrResponseTooLarge)
			}
			return
		}
		c.status = c.resp.Status
		c.finish()
		return
	}
	if c.peerDone {
		c.fail(ErrTruncated)
	}
}
