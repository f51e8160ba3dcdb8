// Package applet is the card's application API: an application declares
// the routes it answers (method and path prefix), is consulted with the
// request head (it may refuse the request before any of its body is read,
// or stream the body through a sink), and answers in place in the response
// space the profile gives the connection. It may arm a timer and make
// outbound HTTP(S) requests through an event-driven handle; it keeps its
// records in its own store namespace (store.Space) under a quota, and it
// can use the card key only through Ctx.Sign, gated by the policy its
// Manifest declares. It gets no *store.Store: not the PIN, the PUK, any
// private key, nor another application's records.
//
// The rules are the protocol packages' rules: an application runs on the
// card's single thread (no goroutines, no locks, no blocking calls), takes
// the time from Ctx.Now (the injected clock, never time.Now), keeps what it
// needs from start-up (no allocation per request in steady state), and
// answers every request it is given.
//
// A Host holds the registered applications and routes requests to them;
// the card's sessions (package apps) and the test harness (applettest)
// drive it.
package applet

import (
	"bytes"
	"crypto"
	"errors"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"netcard/http"
	"netcard/store"
)

// Route is a request an application answers: Method ("" for any) and
// Path, a path prefix: "/x" matches "/x" and "/x/…", "/x/" matches
// everything under "/x/", "/" matches every path. The longest matching
// prefix of an enabled application wins.
type Route struct {
	Method string
	Path   string
}

func (rt Route) match(m, p []byte) bool {
	if rt.Method != "" && string(m) != rt.Method {
		return false
	}
	n := len(rt.Path)
	if len(p) < n || string(p[:n]) != rt.Path {
		return false
	}
	return len(p) == n || rt.Path[n-1] == '/' || p[n] == '/'
}

// Answer is a response decided before the handler writes (e.g. from the
// head): Status 0 means "go on".
type Answer struct {
	Status int
	Msg    string // text/plain body
	Extra  string // extra header lines, each ending in CRLF
}

// Write sends the answer on w (a zero Answer is a 500).
func (a Answer) Write(w *http.ResponseWriter) {
	if a.Status == 0 {
		a = Answer{500, "internal error\n", ""}
	}
	Text(w, a.Status, a.Msg)
	w.Header.Extra = a.Extra
}

// Text answers status with a plain-text, uncached body.
func Text(w *http.ResponseWriter, status int, msg string) {
	w.Header.Status = status
	w.Header.ContentType = "text/plain; charset=utf-8"
	w.Header.CacheControl = "no-store"
	w.WriteString(msg)
}

// App is a card application.
type App interface {
	// Routes are the requests the application answers (called once, at
	// Host.Add; Host.AddBuiltin takes them from its Builtin instead).
	Routes() []Route
	// Serve answers a request (its body read, or streamed to the sink the
	// Head call chose). r and its slices are valid only during the call.
	Serve(c *Ctx, r *http.Request, w *http.ResponseWriter)
}

// HeadChecker is implemented by an application that decides from a
// request's head, before any of its body is read: a non-zero Answer
// refuses the request (its body is not read); Ctx.StreamBody routes the
// body to a sink. Serve is not called again for what the head decided
// (a PIN checked there stays checked: Ctx.PINVerified).
type HeadChecker interface {
	Head(c *Ctx, r *http.Request) Answer
}

// Ticker is implemented by an application with a timer: Tick runs on the
// card's thread once the time set with Ctx.After (or Manifest.Tick at
// start) has come; it re-arms with Ctx.After.
type Ticker interface {
	Tick(c *Ctx)
}

// Fetcher is implemented by an application that makes outbound requests
// (Ctx.Fetch): FetchDone gets each one's outcome.
type Fetcher interface {
	FetchDone(c *Ctx, res FetchResult)
}

// Footprinter is implemented by an application that reports the RAM it
// holds (otherwise Manifest.RAM is reported).
type Footprinter interface {
	Footprint() int
}

// Policy is what an application must show to use the card key.
type Policy int

const (
	// NoKey: the application cannot sign.
	NoKey Policy = iota
	// SignWithPIN: Ctx.Sign works only while serving a request whose PIN
	// was verified (Ctx.CheckPIN) in that same request.
	SignWithPIN
	// SignAlways: the application signs without the PIN (a reporting
	// card's own readings); for applications the issuer trusts.
	SignAlways
)

// Manifest declares an application.
type Manifest struct {
	// Name is the application's name ([a-z0-9-], see store.ValidAppName):
	// its store namespace and its key in the admin list.
	Name string
	// Quota is its store namespace's byte quota (0: no records).
	Quota int
	// Policy gates Ctx.Sign.
	Policy Policy
	// RAM is the memory it holds, as reported in status and by the admin.
	RAM int
	// Tick, when non-zero, arms the timer that long after the first Poll.
	Tick time.Duration
	// Fixed marks an application the administrator cannot disable (admin).
	Fixed bool
	// Privileged hands the application the whole store through
	// Ctx.Privileged (the built-in vault and admin). Only the card
	// vendor's code sets it.
	Privileged bool
}

// Errors of the application handle.
var (
	ErrPolicy   = errors.New("applet: the application's key policy forbids this signature")
	ErrNoKey    = errors.New("applet: the card holds no key")
	ErrBusy     = errors.New("applet: an outbound request is already pending")
	ErrDisabled = errors.New("applet: application disabled")
)

// Conn is the per-connection state the host keeps between the head call of
// a request and its answer call. A transport keeps one per connection and
// passes it to Host.Serve (its zero value is ready).
type Conn struct {
	// (The fields are ordered by alignment, the flags last, so that the
	// struct, held in every session, has no padding.)

	// Now is the time of the call (the injected clock).
	Now time.Time
	// Remote is the peer (zero when unknown).
	Remote netip.AddrPort
	// Info is the transport's own connection information (the card's
	// sessions: *apps.ConnInfo), for built-ins that need it.
	Info any
	// Sink and Max are set by a head call that streams the body
	// (http.RefuseBody when the head refused the request).
	Sink http.BodySink
	Max  int64

	// the head call's verdict (an Answer, its status in 32 bits beside
	// the flags: 144 bytes, not 152, TestConnSize)
	vMsg, vExtra string
	slot         *slot // the application the head chose
	vStatus      int32

	// TLS is true on the card's HTTPS port.
	TLS bool
	// Head is set for the head call of a request announcing a body.
	Head bool

	checked bool // the head call checked this request
	pin     bool // the head call verified the PIN
}

// Ctx is an application's handle for one call.
type Ctx struct {
	// (The fields are ordered by alignment, the flags last: no padding
	// between them.)

	// Now is the time of the call (the card's injected clock).
	Now time.Time
	// Remote is the requesting peer (zero in Tick and FetchDone calls).
	Remote netip.AddrPort
	// Store is the application's namespace, valid during the call only
	// (the host makes it for each call; a pointer kept past the call
	// reaches a namespace without records or quota).
	Store *store.Space

	h    *Host
	s    *slot
	conn *Conn

	// TLS is true when the request came over HTTPS (false in Tick and
	// FetchDone calls).
	TLS bool
	// Head is set in the head call (see HeadChecker).
	Head bool

	pin bool
}

// Conn is the transport's connection information (Conn.Info; nil outside
// a request). A method, not a field: the host's one Ctx is 16 bytes
// smaller.
func (c *Ctx) Conn() any {
	if c.conn == nil {
		return nil
	}
	return c.conn.Info
}

// Name is the application's name.
func (c *Ctx) Name() string { return c.s.reg.Manifest.Name }

// StreamBody, in a head call, routes the request's body to sink (at most
// max bytes; more gets 413) instead of buffering it.
func (c *Ctx) StreamBody(sink http.BodySink, max int64) {
	if c.Head && c.conn != nil {
		c.conn.Sink, c.conn.Max = sink, max
	}
}

// CheckPIN verifies the PIN given as the HTTP Basic password of r (any user
// name). A wrong PIN counts down the tries and starts the backoff as for
// the vault. A zero Answer means it was right: the PIN then counts as
// verified for the rest of this request (see Policy).
func (c *Ctx) CheckPIN(r *http.Request) Answer {
	ans := c.h.pinAnswer(r)
	if ans.Status == 0 {
		c.pin = true
		if c.conn != nil && c.Head {
			c.conn.pin = true
		}
	}
	return ans
}

// CheckAdmin checks that r carries the administrator's bearer token
// (RFC 6750 §2.1): a zero Answer when it does. Nothing else of the admin
// credentials is exposed.
func (c *Ctx) CheckAdmin(r *http.Request) Answer {
	h := r.Get("authorization")
	const pfx = "bearer "
	if len(h) > len(pfx) && strings.EqualFold(string(h[:len(pfx)]), pfx) {
		if tok := bytes.TrimSpace(h[len(pfx):]); len(tok) > 0 && c.h.st.CheckAdminSecret(tok) {
			return Answer{}
		}
		return Answer{403, "not the administrator\n", ""}
	}
	return Answer{401, "administrator credentials required\n", "WWW-Authenticate: Bearer realm=\"netcard admin\"\r\n"}
}

// PINVerified reports whether this request's PIN was verified.
func (c *Ctx) PINVerified() bool { return c.pin }

// Sign signs digest with the card key, if the application's policy allows
// it now (ErrPolicy otherwise). opts as for crypto.Signer (crypto.SHA256
// for ECDSA; *rsa.PSSOptions for an RSA card key).
func (c *Ctx) Sign(digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	switch c.s.reg.Manifest.Policy {
	case SignAlways:
	case SignWithPIN:
		if !c.pin {
			return nil, ErrPolicy
		}
	default:
		return nil, ErrPolicy
	}
	sg, err := c.h.st.Signer()
	if err != nil {
		return nil, ErrNoKey
	}
	return sg.Sign(c.h.rand, digest, opts)
}

// Public returns the card's public key (nil without one).
func (c *Ctx) Public() crypto.PublicKey {
	k, err := c.h.st.Public()
	if err != nil {
		return nil
	}
	return k
}

// Certificate returns the card's certificate chain (DER, leaf first).
func (c *Ctx) Certificate() [][]byte { return c.h.st.Certificate() }

// After arms the application's timer: Tick runs d from now (replacing an
// earlier setting; d <= 0 disarms it).
func (c *Ctx) After(d time.Duration) {
	if d <= 0 {
		if c.s.x != nil {
			c.s.x.timer = 0
		}
		return
	}
	c.s.ext().timer = timerAt(c.Now.Add(d))
}

// Fetch queues one outbound HTTP(S) request, made by the card's secure
// client (DNS, TCP, TLS with the server's certificate verified against
// the store's trust anchors); its outcome comes to FetchDone. One request
// per application is pending at a time (ErrBusy).
//
// req is the application's own (it stays valid, with its Body, until
// FetchDone): the host keeps only the pointer.
func (c *Ctx) Fetch(req *FetchRequest) error {
	if c.s.fetchPending {
		return ErrBusy
	}
	c.s.ext().fetch, c.s.fetchPending = req, true
	return nil
}

// Privileged returns the whole store for an application whose manifest is
// Privileged (the built-ins), nil for any other.
func (c *Ctx) Privileged() *store.Store {
	if !c.s.reg.Manifest.Privileged {
		return nil
	}
	return c.h.st
}

// FetchRequest is one outbound request (see Ctx.Fetch).
type FetchRequest struct {
	URL         string
	TLS         bool   // https
	Host        string // DNS name or IP literal (to resolve / dial, and the TLS server name)
	Port        uint16
	Target      string // origin-form: path and query
	Method      string // "GET", or "POST" when Body is non-empty
	ContentType string
	Body        []byte
	ClientCert  bool   // present the card's certificate (mutual TLS)
	Extra       string // extra request header lines, each ending in CRLF
}

// FetchResult is the outcome of a fetch.
type FetchResult struct {
	Status      int
	ContentType string
	Body        []byte
	Err         string
}

// HostPort returns the authority for the Host field ("host" or "host:port").
func (f *FetchRequest) HostPort() string {
	h := f.Host
	if strings.IndexByte(h, ':') >= 0 {
		h = "[" + h + "]"
	}
	if f.TLS && f.Port == 443 || !f.TLS && f.Port == 80 {
		return h
	}
	return h + ":" + strconv.Itoa(int(f.Port))
}
