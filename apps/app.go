package apps

import (
	"bytes"
	"errors"
	"io"
	"math"
	"net/url"
	"strconv"
	"strings"
	"time"

	"netcard/applet"
	"netcard/http"
	"netcard/internal/stamp"
	"netcard/store"
)

// Config configures the applications.
type Config struct {
	// Store is the card's non-volatile memory (content, PIN, admin
	// credentials, configuration). Required.
	Store *store.Store
	// Status returns the live status for /status and /status.json (nil: an
	// empty status with the change log only).
	Status StatusFunc
	// HTTPSPort is the card's HTTPS port, used in the port-80 redirect
	// (default 443, which is left out of the URL).
	HTTPSPort int
	// Host is the authority used in redirects when a request has no usable
	// Host field (e.g. the card's IP address). The store configuration key
	// "https.authority", when set, overrides both.
	Host string
	// MaxFetchBody bounds the body of an admin fetch request (default 1024).
	MaxFetchBody int
	// MaxUpload is the largest body PUT /upload accepts (default
	// DefaultMaxUpload; negative: the route is off).
	MaxUpload int64
	// StatusStreams bounds the status pages sent piece by piece at once
	// (a page larger than the response space is streamed from a snapshot
	// the App keeps; see Footprint); beyond it a status request gets 503.
	// A session (ConnInfo) always reuses its own page, so with at least
	// as many as there are sessions none is refused (default
	// DefaultStatusStreams).
	StatusStreams int
	// Rand feeds the signatures applications make (Ctx.Sign); nil:
	// crypto/rand.
	Rand io.Reader
	// Builtins names the built-in applications to run (nil: all of
	// BuiltinNames; "admin" always runs).
	Builtins []string
	// Apps are further applications to run beside the built-ins.
	Apps []Registered
}

// Registered is an application and its manifest, for Config.Apps.
type Registered struct {
	App      applet.App
	Manifest applet.Manifest
}

// VaultPrefix is the store path prefix of vault records. Static file serving
// and the admin file API never touch paths under it.
const VaultPrefix = "vault/"

// App is the card's web applications behind one handler: redirect on port 80,
// home page and static files, status, vault, administration and the queue of
// secure-client requests. It is driven from the card's single thread.
type App struct {
	cfg appParams // cfg.Store is the card's store

	// wrong admin credentials offered (a counter only; it stops at
	// 2^32-1), beside fetchState: the App fits 80 bytes (TestAppSize)
	adminFails uint32
	fetchState FetchState
	// inCall is set during Serve and Poll: the store's clock is then
	// last (the request's ci.Now, Poll's now), and zero outside them (one
	// flag instead of a second time.Time)
	inCall bool
	// x holds the admin's latest fetch and the status pages streamed,
	// allocated at the first of either (nil: neither ever used; see
	// fetchSlot, pageList)
	x *appX

	host *applet.Host
	// last is the latest time seen (Serve or Poll), an 8-byte stamp
	// (internal/stamp), not a time.Time's 24: the App fits 80 bytes
	// (TestAppSize). It comes back Equal, in the process's location.
	last stamp.Stamp
}

// appParams is what an App keeps of its Config after New (Rand went to
// the application host, Builtins and Apps to its registry): 48 bytes, not
// 128.
type appParams struct {
	Store         *store.Store
	Status        StatusFunc
	Host          string
	MaxUpload     int32 // Config's ints in 32 bits (New bounds them; uploads up to 2 GiB): 48 bytes
	HTTPSPort     int32
	MaxFetchBody  int32
	StatusStreams int32
}

// appX is what an App holds only once the admin fetched or a status page
// was streamed (16 bytes, not 32 in every App: it fits 80 bytes,
// TestAppSize).
type appX struct {
	fetch *adminFetch   // the admin's latest fetch: allocated at the first one (nil: never fetched)
	pages []*statusPage // status pages being (or last) streamed
}

// ext returns a's appX, allocating it at the first use.
func (a *App) ext() *appX {
	if a.x == nil {
		a.x = new(appX)
	}
	return a.x
}

// adminFetch is the admin's latest outbound request, its outcome and the
// body buffer (MaxFetchBody) both use. It is allocated at the first fetch
// and then kept, so that GET /admin/fetch can show the outcome: a card
// that never fetches holds none of it (232 bytes and the body buffer).
type adminFetch struct {
	req  FetchRequest
	res  FetchResult
	body []byte
}

// New returns the applications over cfg.Store.
func New(cfg Config) *App {
	if cfg.HTTPSPort <= 0 {
		cfg.HTTPSPort = 443
	}
	if cfg.MaxFetchBody <= 0 {
		cfg.MaxFetchBody = 1024
	}
	if cfg.MaxUpload == 0 {
		cfg.MaxUpload = DefaultMaxUpload
	}
	if cfg.StatusStreams <= 0 {
		cfg.StatusStreams = DefaultStatusStreams
	}
	a := &App{cfg: appParams{Store: cfg.Store, Status: cfg.Status, Host: cfg.Host, MaxUpload: int32(min(max(cfg.MaxUpload, -1), math.MaxInt32)),
		HTTPSPort: int32(min(cfg.HTTPSPort, math.MaxUint16)), MaxFetchBody: int32(min(cfg.MaxFetchBody, math.MaxInt32)),
		StatusStreams: int32(min(cfg.StatusStreams, math.MaxInt32))}}
	a.host = applet.NewHost(cfg.Store, cfg.Rand)
	a.addBuiltins(cfg.Builtins, cfg.Apps)
	// The store times the PIN/PUK backoff and the change log with the
	// card's injected clock, as seen by the request being served.
	a.cfg.Store.SetClock(a.clock)
	return a
}

// clock is the store's clock: the time of the request being served (zero,
// i.e. no clock, outside a request).
func (a *App) clock() time.Time {
	if !a.inCall {
		return time.Time{}
	}
	return a.last.Time()
}

// Serve answers one request. Over plain HTTP everything is redirected to
// HTTPS; over TLS the application host (package applet) routes the
// request to the application whose route matches: the built-ins (home and
// static files, status, vault, admin, upload) and any the card was built
// with. Called with ci.Head set (a request announcing a body, before any
// of it is read), the application's Head decides which bodies stream
// (PUT/POST /upload) and checks the credentials of vault and admin
// requests from the head: a request they do not authorise is answered
// (401, 403, 405, 409, 429) without its body being read
// (http.RefuseBody), so nobody without the PIN or admin credential can
// make the card wait for or store a body.
func (a *App) Serve(ci *ConnInfo, r *http.Request, w *http.ResponseWriter) {
	a.last, a.inCall = stamp.Of(ci.Now), true
	defer func() { a.inCall = false }()
	hc := &ci.Conn
	hc.Info = ci
	defer func() { hc.Info = nil }()
	if !ci.TLS {
		if !ci.Head {
			a.redirect(r, w)
		}
		return
	}
	if ci.Head {
		a.host.Serve(hc, r, w) // sets hc.Sink, hc.Max: the body's stream
		return
	}
	if len(r.Path) == 0 || r.Path[0] != '/' || !a.host.Serve(hc, r, w) {
		a.text(w, 404, "not found\n")
	}
}

// Host returns the application host (to list, enable and disable
// applications).
func (a *App) Host() *applet.Host { return a.host }

// Poll runs the applications' timers that are due and returns the next
// one (zero: none).
func (a *App) Poll(now time.Time) time.Time {
	a.last, a.inCall = stamp.Of(now), true
	defer func() { a.inCall = false }()
	return a.host.Poll(now)
}

// answer is a response decided before the handler writes (e.g. from a
// request head): status 0 means "go on".
type answer struct {
	status int
	msg    string
	extra  string // extra header lines, each ending in CRLF
}

func (ans answer) applet() applet.Answer {
	return applet.Answer{Status: ans.status, Msg: ans.msg, Extra: ans.extra}
}
func fromApplet(ans applet.Answer) answer { return answer{ans.Status, ans.Msg, ans.Extra} }

func (a *App) send(w *http.ResponseWriter, ans answer) {
	if ans.status == 0 {
		ans = answer{500, "internal error\n", ""}
	}
	a.text(w, ans.status, ans.msg)
	w.Header.Extra = ans.extra
}

func (a *App) text(w *http.ResponseWriter, status int, msg string) {
	w.Header.Status = status
	w.Header.ContentType = "text/plain; charset=utf-8"
	w.Header.CacheControl = "no-store"
	w.WriteString(msg)
}

func isGetHead(r *http.Request) bool {
	m := string(r.Method)
	return m == "GET" || m == "HEAD"
}

func (a *App) methodNotAllowed(w *http.ResponseWriter, allow string) {
	a.text(w, 405, "method not allowed\n")
	w.Header.Extra = allow
}

// validHost reports whether h is a plausible host[:port] authority.
func validHost(h []byte) bool {
	if len(h) == 0 || len(h) > 255 {
		return false
	}
	for _, c := range h {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
			c == '.' || c == '-' || c == ':' || c == '[' || c == ']') {
			return false
		}
	}
	return true
}

// stripPort removes a ":port" from an authority (IPv6 literals keep their
// brackets).
func stripPort(h []byte) []byte {
	if len(h) > 0 && h[0] == '[' {
		if i := bytes.IndexByte(h, ']'); i >= 0 {
			return h[:i+1]
		}
		return h
	}
	if i := bytes.LastIndexByte(h, ':'); i >= 0 {
		return h[:i]
	}
	return h
}

// Authority returns the HTTPS authority ("host" or "host:port") for a
// request's Host field.
func (a *App) Authority(host []byte) string {
	if v, ok := a.cfg.Store.Config("https.authority"); ok && v != "" {
		return v
	}
	var h string
	if validHost(host) {
		h = string(stripPort(host))
	}
	if h == "" {
		h = a.cfg.Host
	}
	if h == "" {
		return ""
	}
	if a.cfg.HTTPSPort != 443 {
		h += ":" + strconv.Itoa(int(a.cfg.HTTPSPort))
	}
	return h
}

// redirect answers a plain-HTTP request with a permanent redirect to HTTPS:
// 301 for GET and HEAD, 308 (method kept) otherwise.
func (a *App) redirect(r *http.Request, w *http.ResponseWriter) {
	auth := a.Authority(r.Host)
	if auth == "" {
		a.text(w, 400, "no host\n")
		return
	}
	target := r.Path
	if len(target) == 0 || target[0] != '/' {
		target = []byte("/")
	}
	loc := "https://" + auth + string(target)
	if r.Query != nil {
		loc += "?" + string(r.Query)
	}
	w.Header.Status = 308
	if isGetHead(r) {
		w.Header.Status = 301
	}
	w.Header.Location = loc
	w.Header.ContentType = "text/plain; charset=utf-8"
	w.WriteString("moved to ")
	w.WriteString(loc)
	w.WriteString("\n")
}

// defaultHome is the built-in home page used when the store has no
// index.html.
const defaultHome = `<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>netcard</title></head>
<body><h1>netcard</h1>
<p>This page is served by a smart card over PPP, TCP and TLS&nbsp;1.3.</p>
<ul><li><a href="/status">Status</a> (<a href="/status.json">JSON</a>)</li>
<li><a href="/vault/">Vault</a> (PIN)</li></ul>
</body></html>
`

// defaultHomeETag is a fixed validator for the built-in home page.
const defaultHomeETag = `"netcard-home-1"`

var defaultHomeBytes = []byte(defaultHome)

// serveStatic serves store files (GET and HEAD, conditional and Range
// requests); "/" and paths ending in "/" map to index.html.
func (a *App) serveStatic(r *http.Request, w *http.ResponseWriter) {
	if !isGetHead(r) {
		a.methodNotAllowed(w, "Allow: GET, HEAD\r\n")
		return
	}
	p := r.Path[1:]
	var f store.File
	var ok bool
	switch {
	case len(p) == 0:
		f, ok = a.cfg.Store.File("index.html")
		if !ok {
			http.ServeContent(w, r, "text/html; charset=utf-8", defaultHomeETag, defaultHomeBytes)
			return
		}
	case p[len(p)-1] == '/':
		if bytes.HasPrefix(p, []byte(VaultPrefix)) || bytes.HasPrefix(p, []byte(store.AppPrefix)) {
			break
		}
		var buf [store.MaxPathLen + 16]byte
		if len(p)+len("index.html") <= len(buf) {
			n := copy(buf[:], p)
			n += copy(buf[n:], "index.html")
			f, ok = a.cfg.Store.File(string(buf[:n]))
		}
	default:
		if !bytes.HasPrefix(p, []byte(VaultPrefix)) && !bytes.HasPrefix(p, []byte(store.AppPrefix)) {
			f, ok = a.cfg.Store.File(string(p))
		}
	}
	if !ok {
		a.text(w, 404, "not found\n")
		return
	}
	ct := f.ContentType
	if ct == "" {
		ct = http.MIMEType(f.Path)
	}
	http.ServeContent(w, r, ct, f.ETag, f.Data)
}

// ---- vault ----

func basicPassword(h []byte, buf []byte) ([]byte, bool) { return applet.BasicPassword(h, buf) }

func tooSoon(we *store.WaitError) answer { return fromApplet(applet.TooSoon(we)) }

var (
	ansNoPIN   = fromApplet(applet.AnsNoPIN)
	ansBlocked = fromApplet(applet.AnsBlocked)
)

// vaultAuth checks the PIN given as the Basic password: status 0 when it
// was right (the same check every application gets, applet.PINAnswer).
func (a *App) vaultAuth(r *http.Request) answer {
	var buf [applet.CredentialBuf]byte // cleared by PINAnswer
	return fromApplet(applet.PINAnswer(a.cfg.Store, r, buf[:]))
}

// vaultCheck decides everything about a vault request that its head
// tells: the route and method, the record name, and the credentials (the
// PIN, checked once; for /vault/unblock, that the PIN is blocked and no
// PUK backoff runs). Status 0: serveVault may act.
func (a *App) vaultCheck(r *http.Request) answer {
	p, m := string(r.Path), string(r.Method)
	switch p {
	case "/vault/unblock":
		if m != "POST" {
			return answer{405, "method not allowed\n", "Allow: POST\r\n"}
		}
		var we *store.WaitError
		switch err := a.cfg.Store.UnblockReady(); {
		case err == nil:
			return answer{}
		case errors.Is(err, store.ErrPINNotSet):
			return ansNoPIN
		case errors.Is(err, store.ErrPINNotBlocked):
			return answer{409, "the PIN is not blocked: nothing to unblock (no PUK try was used)\n", ""}
		case errors.As(err, &we):
			return tooSoon(we)
		default:
			return answer{503, "card memory failure\n", ""}
		}
	case "/vault/pin", "/vault/puk":
		if m != "POST" {
			return answer{405, "method not allowed\n", "Allow: POST\r\n"}
		}
		return a.vaultAuth(r)
	case "/vault", "/vault/":
		if !isGetHead(r) {
			return answer{405, "method not allowed\n", "Allow: GET, HEAD\r\n"}
		}
		return a.vaultAuth(r)
	}
	if !validName(r.Path[len("/vault/"):]) {
		return answer{400, "bad record name\n", ""}
	}
	if m != "GET" && m != "HEAD" && m != "PUT" && m != "DELETE" {
		return answer{405, "method not allowed\n", "Allow: GET, HEAD, PUT, DELETE\r\n"}
	}
	return a.vaultAuth(r)
}

// validName reports whether a record or file path is acceptable: non-empty,
// bounded, printable, no empty, "." or ".." segments.
func validName(p []byte) bool {
	if len(p) == 0 || len(p) > store.MaxPathLen-len(VaultPrefix) {
		return false
	}
	for _, c := range p {
		if c <= ' ' || c >= 0x7f || c == '\\' || c == '"' || c == '<' || c == '>' {
			return false
		}
	}
	for seg := range strings.SplitSeq(string(p), "/") {
		if seg == "" || seg == "." || seg == ".." {
			return false
		}
	}
	return true
}

// serveVault acts on a vault request vaultCheck passed.
func (a *App) serveVault(r *http.Request, w *http.ResponseWriter) {
	p := r.Path
	m := string(r.Method)
	switch string(p) {
	case "/vault/unblock":
		a.vaultUnblock(r, w)
		return
	case "/vault/pin":
		a.vaultChangePIN(r, w)
		return
	case "/vault/puk":
		a.vaultChangePUK(r, w)
		return
	case "/vault", "/vault/":
		a.text(w, 200, "")
		for _, f := range a.cfg.Store.Files() {
			if strings.HasPrefix(f, VaultPrefix) {
				w.WriteString(f[len(VaultPrefix):])
				w.WriteString("\n")
			}
		}
		return
	}
	path := VaultPrefix + string(p[len("/vault/"):])
	switch m {
	case "GET", "HEAD":
		f, ok := a.cfg.Store.File(path)
		if !ok {
			a.text(w, 404, "no such record\n")
			return
		}
		w.Header.CacheControl = "no-store"
		http.ServeContent(w, r, f.ContentType, f.ETag, f.Data)
	case "PUT":
		ct := string(r.Get("content-type"))
		if ct == "" || len(ct) > store.MaxContentTypeLen {
			ct = "application/octet-stream"
		}
		_, existed := a.cfg.Store.File(path)
		if err := a.cfg.Store.PutFile(path, ct, r.Body); err != nil {
			a.storeError(w, err)
			return
		}
		if existed {
			a.text(w, 200, "record replaced\n")
		} else {
			a.text(w, 201, "record created\n")
		}
	case "DELETE":
		if err := a.cfg.Store.DeleteFile(path); err != nil {
			a.storeError(w, err)
			return
		}
		a.text(w, 200, "record deleted\n")
	}
}

func (a *App) storeError(w *http.ResponseWriter, err error) {
	switch {
	case errors.Is(err, store.ErrNotFound):
		a.text(w, 404, "not found\n")
	case errors.Is(err, store.ErrFull):
		a.text(w, 507, "card memory full\n")
	case errors.Is(err, store.ErrBroken):
		a.text(w, 503, "card memory failure\n")
	default:
		a.text(w, 400, "rejected by the store\n")
	}
}

// vaultChangePIN handles POST /vault/pin: the current PIN as the Basic
// password (checked by vaultCheck, which restored the tries) and the form
// field "pin=" with the new one, set directly (no second comparison).
func (a *App) vaultChangePIN(r *http.Request, w *http.ResponseWriter) {
	q, err := url.ParseQuery(string(r.Body))
	if err != nil || q.Get("pin") == "" {
		a.text(w, 400, "form field pin required\n")
		return
	}
	var buf [applet.CredentialBuf]byte
	old, ok := basicPassword(r.Get("authorization"), buf[:])
	if !ok {
		clear(buf[:])
		a.text(w, 401, "PIN required\n")
		return
	}
	err = a.cfg.Store.ChangePIN(old, []byte(q.Get("pin")))
	clear(buf[:])
	a.pinResult(w, err, "PIN changed\n")
}

// vaultChangePUK handles POST /vault/puk: the PIN as the Basic password
// (checked by vaultCheck: only the cardholder can spend PUK attempts) and
// the form fields "puk=" (the current PUK, checked, counted and slowed as
// for unblocking) and "newpuk=".
func (a *App) vaultChangePUK(r *http.Request, w *http.ResponseWriter) {
	q, err := url.ParseQuery(string(r.Body))
	if err != nil || q.Get("puk") == "" || q.Get("newpuk") == "" {
		a.text(w, 400, "form fields puk and newpuk required\n")
		return
	}
	err = a.cfg.Store.ChangePUK([]byte(q.Get("puk")), []byte(q.Get("newpuk")))
	a.pinResult(w, err, "PUK changed\n")
}

// vaultUnblock handles POST /vault/unblock with a form body "puk=…&pin=…"
// (vaultCheck found the PIN blocked and no PUK backoff running).
func (a *App) vaultUnblock(r *http.Request, w *http.ResponseWriter) {
	q, err := url.ParseQuery(string(r.Body))
	if err != nil || q.Get("puk") == "" || q.Get("pin") == "" {
		a.text(w, 400, "form fields puk and pin required\n")
		return
	}
	err = a.cfg.Store.UnblockPIN([]byte(q.Get("puk")), []byte(q.Get("pin")))
	a.pinResult(w, err, "PIN reset; card unblocked\n")
}

// pinResult answers a PIN or PUK operation's outcome.
func (a *App) pinResult(w *http.ResponseWriter, err error, ok string) {
	var pe *store.PINError
	var we *store.WaitError
	switch {
	case err == nil:
		a.text(w, 200, ok)
	case errors.As(err, &pe) && pe.PUK:
		a.text(w, 403, "wrong PUK ("+strconv.Itoa(pe.Failures)+" in a row): next PUK try in "+pe.Wait.String()+"\n")
	case errors.As(err, &pe):
		a.text(w, 403, "wrong PIN: "+strconv.Itoa(pe.Remaining)+" tries left\n")
	case errors.As(err, &we):
		a.send(w, tooSoon(we))
	case errors.Is(err, store.ErrPINNotBlocked):
		a.text(w, 409, "the PIN is not blocked: nothing to unblock (no PUK try was used)\n")
	case errors.Is(err, store.ErrPINBlocked):
		a.send(w, ansBlocked)
	case errors.Is(err, store.ErrBadPIN):
		a.text(w, 400, "new PIN (4-16) or PUK (8-16) length out of range\n")
	case errors.Is(err, store.ErrWeakPIN):
		a.text(w, 400, "new PIN or PUK too easy to guess (one digit repeated, or a run like 1234)\n")
	default:
		a.storeError(w, err)
	}
}
