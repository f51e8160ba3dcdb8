package apps

import (
	"bytes"
	"encoding/base64"
	"errors"
	"net/url"
	"strconv"
	"strings"
	"time"

	"netcard/http"
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
}

// VaultPrefix is the store path prefix of vault records. Static file serving
// and the admin file API never touch paths under it.
const VaultPrefix = "vault/"

// App is the card's web applications behind one handler: redirect on port 80,
// home page and static files, status, vault, administration and the queue of
// secure-client requests. It is driven from the card's single thread.
type App struct {
	cfg     Config
	st      *store.Store
	authBuf [128]byte

	adminFails int       // consecutive wrong admin secrets
	adminHold  time.Time // no bearer attempts before this

	fetchState FetchState
	fetchReq   FetchRequest
	fetchRes   FetchResult
	fetchBody  []byte

	pages []*statusPage // status pages being (or last) streamed
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
	return &App{cfg: cfg, st: cfg.Store}
}

// Serve answers one request. Over plain HTTP everything is redirected to
// HTTPS; over TLS the path selects the application. Called with ci.Head
// set, it only decides which bodies stream (PUT/POST /upload).
func (a *App) Serve(ci *ConnInfo, r *http.Request, w *http.ResponseWriter) {
	if ci.Head {
		a.uploadHead(ci, r)
		return
	}
	if !ci.TLS {
		a.redirect(r, w)
		return
	}
	p := r.Path
	switch {
	case len(p) == 0 || p[0] != '/':
		a.text(w, 404, "not found\n")
	case string(p) == "/status":
		a.serveStatus(ci, r, w, false)
	case string(p) == "/status.json":
		a.serveStatus(ci, r, w, true)
	case string(p) == "/vault" || bytes.HasPrefix(p, []byte("/vault/")):
		a.serveVault(r, w)
	case string(p) == "/admin" || bytes.HasPrefix(p, []byte("/admin/")):
		a.serveAdmin(ci, r, w)
	case string(p) == "/upload" && a.cfg.MaxUpload > 0:
		a.serveUpload(ci, r, w)
	default:
		a.serveStatic(r, w)
	}
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
	if v, ok := a.st.Config("https.authority"); ok && v != "" {
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
		h += ":" + strconv.Itoa(a.cfg.HTTPSPort)
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
		f, ok = a.st.File("index.html")
		if !ok {
			http.ServeContent(w, r, "text/html; charset=utf-8", defaultHomeETag, defaultHomeBytes)
			return
		}
	case p[len(p)-1] == '/':
		if bytes.HasPrefix(p, []byte(VaultPrefix)) {
			break
		}
		var buf [store.MaxPathLen + 16]byte
		if len(p)+len("index.html") <= len(buf) {
			n := copy(buf[:], p)
			n += copy(buf[n:], "index.html")
			f, ok = a.st.File(string(buf[:n]))
		}
	default:
		if !bytes.HasPrefix(p, []byte(VaultPrefix)) {
			f, ok = a.st.File(string(p))
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

// basicPassword extracts the password of an HTTP Basic Authorization field
// into buf (the user name is ignored).
func basicPassword(h []byte, buf []byte) ([]byte, bool) {
	const pfx = "basic "
	if len(h) < len(pfx) || !strings.EqualFold(string(h[:len(pfx)]), pfx) {
		return nil, false
	}
	v := bytes.TrimSpace(h[len(pfx):])
	if base64.StdEncoding.DecodedLen(len(v)) > len(buf) {
		return nil, false
	}
	n, err := base64.StdEncoding.Decode(buf, v)
	if err != nil {
		return nil, false
	}
	d := buf[:n]
	i := bytes.IndexByte(d, ':')
	if i < 0 {
		return nil, false
	}
	return d[i+1:], true
}

// vaultAuth checks the PIN given as the Basic password. It answers the
// request itself and returns false unless the PIN was right.
func (a *App) vaultAuth(r *http.Request, w *http.ResponseWriter) bool {
	if !a.st.PINSet() {
		a.text(w, 403, "vault not initialised: no PIN set\n")
		return false
	}
	if a.st.PINTriesLeft() == 0 {
		a.text(w, 403, "card blocked: PIN tries exhausted; unblock with the PUK (POST /vault/unblock)\n")
		return false
	}
	h := r.Get("authorization")
	pin, ok := basicPassword(h, a.authBuf[:])
	if !ok {
		a.text(w, 401, "PIN required (HTTP Basic, any user name, password = PIN)\n")
		w.Header.Extra = "WWW-Authenticate: Basic realm=\"netcard vault\", charset=\"UTF-8\"\r\n"
		return false
	}
	err := a.st.VerifyPIN(pin)
	clear(a.authBuf[:])
	var pe *store.PINError
	switch {
	case err == nil:
		return true
	case errors.As(err, &pe):
		if pe.Remaining == 0 {
			a.text(w, 403, "wrong PIN: card blocked; unblock with the PUK (POST /vault/unblock)\n")
			return false
		}
		a.text(w, 401, "wrong PIN: "+strconv.Itoa(pe.Remaining)+" tries left\n")
		w.Header.Extra = "WWW-Authenticate: Basic realm=\"netcard vault\", charset=\"UTF-8\"\r\n"
		return false
	case errors.Is(err, store.ErrPINBlocked):
		a.text(w, 403, "card blocked: PIN tries exhausted; unblock with the PUK (POST /vault/unblock)\n")
		return false
	}
	a.text(w, 500, "store error\n")
	return false
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

func (a *App) serveVault(r *http.Request, w *http.ResponseWriter) {
	p := r.Path
	m := string(r.Method)
	if string(p) == "/vault/unblock" {
		if m != "POST" {
			a.methodNotAllowed(w, "Allow: POST\r\n")
			return
		}
		a.vaultUnblock(r, w)
		return
	}
	if string(p) == "/vault/pin" {
		if m != "POST" {
			a.methodNotAllowed(w, "Allow: POST\r\n")
			return
		}
		a.vaultChangePIN(r, w)
		return
	}
	name := []byte(nil)
	if len(p) > len("/vault/") {
		name = p[len("/vault/"):]
	}
	if name == nil {
		if !isGetHead(r) {
			a.methodNotAllowed(w, "Allow: GET, HEAD\r\n")
			return
		}
		if !a.vaultAuth(r, w) {
			return
		}
		a.text(w, 200, "")
		for _, f := range a.st.Files() {
			if strings.HasPrefix(f, VaultPrefix) {
				w.WriteString(f[len(VaultPrefix):])
				w.WriteString("\n")
			}
		}
		return
	}
	if !validName(name) {
		a.text(w, 400, "bad record name\n")
		return
	}
	if m != "GET" && m != "HEAD" && m != "PUT" && m != "DELETE" {
		a.methodNotAllowed(w, "Allow: GET, HEAD, PUT, DELETE\r\n")
		return
	}
	if !a.vaultAuth(r, w) {
		return
	}
	path := VaultPrefix + string(name)
	switch m {
	case "GET", "HEAD":
		f, ok := a.st.File(path)
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
		_, existed := a.st.File(path)
		if err := a.st.PutFile(path, ct, r.Body); err != nil {
			a.storeError(w, err)
			return
		}
		if existed {
			a.text(w, 200, "record replaced\n")
		} else {
			a.text(w, 201, "record created\n")
		}
	case "DELETE":
		if err := a.st.DeleteFile(path); err != nil {
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
// password (checked like any vault access) and the form field "pin=" with the
// new one.
func (a *App) vaultChangePIN(r *http.Request, w *http.ResponseWriter) {
	q, err := url.ParseQuery(string(r.Body))
	if err != nil || q.Get("pin") == "" {
		a.text(w, 400, "form field pin required\n")
		return
	}
	newPIN := q.Get("pin")
	if len(newPIN) < store.MinPINLen || len(newPIN) > store.MaxPINLen {
		a.text(w, 400, "new PIN length out of range\n")
		return
	}
	if !a.vaultAuth(r, w) {
		return
	}
	// The old PIN was just verified (tries restored); ChangePIN checks it
	// again and commits the new one in one transaction.
	old, _ := basicPassword(r.Get("authorization"), a.authBuf[:])
	err = a.st.ChangePIN(old, []byte(newPIN))
	clear(a.authBuf[:])
	if err != nil {
		a.storeError(w, err)
		return
	}
	a.text(w, 200, "PIN changed\n")
}

// vaultUnblock handles POST /vault/unblock with a form body "puk=…&pin=…".
func (a *App) vaultUnblock(r *http.Request, w *http.ResponseWriter) {
	if !a.st.PINSet() {
		a.text(w, 403, "vault not initialised: no PIN set\n")
		return
	}
	q, err := url.ParseQuery(string(r.Body))
	if err != nil || q.Get("puk") == "" || q.Get("pin") == "" {
		a.text(w, 400, "form fields puk and pin required\n")
		return
	}
	err = a.st.UnblockPIN([]byte(q.Get("puk")), []byte(q.Get("pin")))
	var pe *store.PINError
	switch {
	case err == nil:
		a.text(w, 200, "PIN reset; card unblocked\n")
	case errors.As(err, &pe):
		if pe.Remaining == 0 {
			a.text(w, 403, "wrong PUK: PUK blocked, the card is locked\n")
			return
		}
		a.text(w, 403, "wrong PUK: "+strconv.Itoa(pe.Remaining)+" tries left\n")
	case errors.Is(err, store.ErrPUKBlocked):
		a.text(w, 403, "PUK blocked: the card is locked\n")
	case errors.Is(err, store.ErrBadPIN):
		a.text(w, 400, "new PIN length out of range\n")
	default:
		a.text(w, 500, "store error\n")
	}
}
