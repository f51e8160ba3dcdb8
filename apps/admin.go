package apps

import (
	"bytes"
	"math"
	"net/url"
	"strconv"
	"strings"

	"netcard/applet"
	"netcard/http"
	"netcard/store"
)

// adminAuth decides whether the request comes from the administrator: a
// mutual-TLS client certificate whose public key is the store's admin key,
// or "Authorization: Bearer <secret>" matching the stored admin secret
// (compared in constant time by the store). Status 0 when authorised, 401
// when no credential was offered, 403 when a credential was wrong.
//
// A wrong token is never held against the right one: there is no lockout
// or hold (an attacker pouring in wrong tokens would turn it against the
// administrator, issue 13). Online guessing is defeated by the secret's
// entropy instead: store.SetAdminSecret refuses secrets under
// store.MinAdminSecretBits (128 bits: at a million guesses a second,
// 10^25 years on average).
func (a *App) adminAuth(ci *ConnInfo, r *http.Request) answer {
	if !ci.TLS {
		return answer{403, "not the administrator\n", ""}
	}
	offered := false
	if pc := ci.PeerCertificates; len(pc) > 0 {
		offered = true
		if k := a.cfg.Store.AdminKey(); k != nil && bytes.Equal(pc[0].RawSubjectPublicKeyInfo, k) {
			return answer{}
		}
	}
	if h := r.Get("authorization"); h != nil {
		offered = true
		const pfx = "bearer "
		if len(h) > len(pfx) && strings.EqualFold(string(h[:len(pfx)]), pfx) {
			if tok := bytes.TrimSpace(h[len(pfx):]); len(tok) > 0 && a.cfg.Store.CheckAdminSecret(tok) {
				return answer{}
			}
		}
	}
	if offered {
		if a.adminFails < math.MaxUint32 {
			a.adminFails++
		}
		return answer{403, "not the administrator\n", ""}
	}
	return answer{401, "administrator credentials required\n", "WWW-Authenticate: Bearer realm=\"netcard admin\"\r\n"}
}

// AdminFailures counts the wrong admin credentials offered so far.
func (a *App) AdminFailures() uint64 { return uint64(a.adminFails) }

// serveAdmin acts on a request adminAuth authorised.
func (a *App) serveAdmin(ci *ConnInfo, r *http.Request, w *http.ResponseWriter) {
	p := string(r.Path)
	m := string(r.Method)
	switch {
	case p == "/admin" || p == "/admin/":
		if !isGetHead(r) {
			a.methodNotAllowed(w, "Allow: GET, HEAD\r\n")
			return
		}
		a.text(w, 200, "netcard admin\nPUT|DELETE /admin/files/PATH\nPUT|DELETE /admin/config/KEY\n"+
			"GET /admin/files, GET /admin/config\nPOST /admin/fetch?url=URL[&mtls=1], GET /admin/fetch\n"+
			"GET /admin/apps, POST /admin/apps/NAME?enabled=0|1\n")
	case p == "/admin/files" || p == "/admin/files/":
		if !isGetHead(r) {
			a.methodNotAllowed(w, "Allow: GET, HEAD\r\n")
			return
		}
		a.text(w, 200, "")
		for _, name := range a.cfg.Store.Files() {
			if strings.HasPrefix(name, VaultPrefix) || strings.HasPrefix(name, store.AppPrefix) {
				continue
			}
			f, _ := a.cfg.Store.File(name)
			w.WriteString(name + "\t" + strconv.Itoa(len(f.Data)) + "\t" + f.ContentType + "\t" + f.ETag + "\n")
		}
	case strings.HasPrefix(p, "/admin/files/"):
		a.adminFile(r, w, r.Path[len("/admin/files/"):], m)
	case p == "/admin/config" || p == "/admin/config/":
		if !isGetHead(r) {
			a.methodNotAllowed(w, "Allow: GET, HEAD\r\n")
			return
		}
		a.text(w, 200, "")
		for _, k := range a.cfg.Store.ConfigKeys() {
			v, _ := a.cfg.Store.Config(k)
			w.WriteString(k + "=" + v + "\n")
		}
	case strings.HasPrefix(p, "/admin/config/"):
		a.adminConfig(r, w, p[len("/admin/config/"):], m)
	case p == "/admin/fetch":
		a.adminFetch(r, w, m)
	case p == "/admin/apps" || p == "/admin/apps/":
		a.serveApps(r, w, "", m)
	case strings.HasPrefix(p, "/admin/apps/"):
		a.serveApps(r, w, p[len("/admin/apps/"):], m)
	default:
		a.text(w, 404, "not found\n")
	}
}

func (a *App) adminFile(r *http.Request, w *http.ResponseWriter, name []byte, m string) {
	if !validName(name) {
		a.text(w, 400, "bad file path\n")
		return
	}
	if bytes.HasPrefix(name, []byte(VaultPrefix)) {
		a.text(w, 403, "the vault is the cardholder's\n")
		return
	}
	if bytes.HasPrefix(name, []byte(store.AppPrefix)) {
		// Application records are each application's own (see
		// GET /admin/apps for their size).
		a.text(w, 403, "application records are the application's\n")
		return
	}
	path := string(name)
	switch m {
	case "PUT":
		ct := string(r.Get("content-type"))
		if ct == "" {
			ct = http.MIMEType(path)
		}
		if len(ct) > store.MaxContentTypeLen {
			a.text(w, 400, "content type too long\n")
			return
		}
		_, existed := a.cfg.Store.File(path)
		if err := a.cfg.Store.PutFile(path, ct, r.Body); err != nil {
			a.storeError(w, err)
			return
		}
		if existed {
			a.text(w, 200, "replaced /"+path+"\n")
		} else {
			a.text(w, 201, "created /"+path+"\n")
			w.Header.Location = "/" + path
		}
	case "DELETE":
		if err := a.cfg.Store.DeleteFile(path); err != nil {
			a.storeError(w, err)
			return
		}
		a.text(w, 200, "deleted /"+path+"\n")
	case "GET", "HEAD":
		f, ok := a.cfg.Store.File(path)
		if !ok {
			a.text(w, 404, "not found\n")
			return
		}
		http.ServeContent(w, r, f.ContentType, f.ETag, f.Data)
	default:
		a.methodNotAllowed(w, "Allow: GET, HEAD, PUT, DELETE\r\n")
	}
}

func validKey(k string) bool {
	if k == "" || len(k) > store.MaxConfigKeyLen {
		return false
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

func (a *App) adminConfig(r *http.Request, w *http.ResponseWriter, key, m string) {
	if !validKey(key) {
		a.text(w, 400, "bad configuration key\n")
		return
	}
	switch m {
	case "PUT":
		v := strings.TrimRight(string(r.Body), "\r\n")
		if len(v) > store.MaxConfigValueLen {
			a.text(w, 413, "value too long\n")
			return
		}
		if err := a.cfg.Store.SetConfig(key, v); err != nil {
			a.storeError(w, err)
			return
		}
		a.text(w, 200, "set "+key+"\n")
	case "DELETE":
		if err := a.cfg.Store.DeleteConfig(key); err != nil {
			a.storeError(w, err)
			return
		}
		a.text(w, 200, "deleted "+key+"\n")
	case "GET", "HEAD":
		v, ok := a.cfg.Store.Config(key)
		if !ok {
			a.text(w, 404, "not set\n")
			return
		}
		a.text(w, 200, v+"\n")
	default:
		a.methodNotAllowed(w, "Allow: GET, HEAD, PUT, DELETE\r\n")
	}
}

// ---- secure client queue ----

// FetchState is the state of the admin-requested outbound fetch.
type FetchState uint8

// Fetch states.
const (
	FetchIdle    FetchState = iota // nothing requested
	FetchQueued                    // waiting for the card loop (NextFetch)
	FetchRunning                   // taken by the card loop
	FetchDone                      // result recorded with SetFetchResult
)

func (s FetchState) String() string {
	return [...]string{"idle", "queued", "running", "done"}[s&3]
}

// FetchRequest is an outbound request an application (the admin's
// secure client, or any other through applet.Ctx.Fetch) asks the card to
// make with its secure client.
type FetchRequest = applet.FetchRequest

// FetchResult is the outcome of a fetch, shown by GET /admin/fetch.
type FetchResult = applet.FetchResult

// ParseURL splits an http or https URL into a FetchRequest for a GET.
func ParseURL(raw string) (FetchRequest, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return FetchRequest{}, err
	}
	req := FetchRequest{URL: raw, Method: "GET"}
	switch u.Scheme {
	case "https":
		req.TLS, req.Port = true, 443
	case "http":
		req.Port = 80
	default:
		return FetchRequest{}, &url.Error{Op: "parse", URL: raw, Err: errScheme}
	}
	req.Host = u.Hostname()
	if req.Host == "" || u.User != nil {
		return FetchRequest{}, &url.Error{Op: "parse", URL: raw, Err: errHost}
	}
	if ps := u.Port(); ps != "" {
		n, err := strconv.ParseUint(ps, 10, 16)
		if err != nil || n == 0 {
			return FetchRequest{}, &url.Error{Op: "parse", URL: raw, Err: errHost}
		}
		req.Port = uint16(n)
	}
	req.Target = u.EscapedPath()
	if req.Target == "" {
		req.Target = "/"
	}
	if u.RawQuery != "" {
		req.Target += "?" + u.RawQuery
	}
	return req, nil
}

type strErr string

func (e strErr) Error() string { return string(e) }

const (
	errScheme = strErr("scheme must be http or https")
	errHost   = strErr("bad host or port")
)

func (a *App) adminFetch(r *http.Request, w *http.ResponseWriter, m string) {
	switch m {
	case "POST":
		q, err := url.ParseQuery(string(r.Query))
		if err != nil || q.Get("url") == "" {
			a.text(w, 400, "?url= required\n")
			return
		}
		req, err := ParseURL(q.Get("url"))
		if err != nil {
			a.text(w, 400, err.Error()+"\n")
			return
		}
		if a.fetchState == FetchQueued || a.fetchState == FetchRunning {
			a.text(w, 409, "a fetch is already in progress\n")
			return
		}
		if len(r.Body) > int(a.cfg.MaxFetchBody) {
			a.text(w, 413, "fetch body too large\n")
			return
		}
		req.ClientCert = q.Get("mtls") == "1"
		if len(r.Body) > 0 {
			req.Method = "POST"
			f := a.fetchSlot()
			f.body = append(a.fetchBuf(), r.Body...)
			req.Body = f.body
			req.ContentType = string(r.Get("content-type"))
		}
		f := a.fetchSlot()
		f.req, f.res, a.fetchState = req, FetchResult{}, FetchQueued
		a.text(w, 202, "queued "+req.Method+" "+req.URL+"\n")
		w.Header.Location = "/admin/fetch"
	case "GET", "HEAD":
		a.text(w, 200, "state: "+a.fetchState.String()+"\n")
		if a.fetchState == FetchIdle {
			return
		}
		w.WriteString("url: " + a.x.fetch.req.URL + "\n")
		if a.fetchState != FetchDone {
			return
		}
		res := &a.x.fetch.res
		if res.Err != "" {
			w.WriteString("error: " + res.Err + "\n")
		}
		if res.Status != 0 {
			w.WriteString("status: " + strconv.Itoa(res.Status) + "\ncontent-type: " + res.ContentType + "\n\n")
			w.Write(res.Body)
		}
	default:
		a.methodNotAllowed(w, "Allow: GET, HEAD, POST\r\n")
	}
}

// NextFetch hands the next queued outbound request of any application
// (the admin's fetch, or one made through applet.Ctx.Fetch) to the card
// loop, which runs it with a ClientSession and reports with
// SetFetchResult. The request's Body stays valid until then.
func (a *App) NextFetch() (FetchRequest, bool) {
	req, ok := a.host.NextFetch()
	if ok && a.host.FetchOwner() == "admin" && a.fetchState == FetchQueued {
		a.fetchState = FetchRunning
	}
	return req, ok
}

// fetchSlot returns the admin's fetch state, allocated at the first fetch.
func (a *App) fetchSlot() *adminFetch {
	x := a.ext()
	if x.fetch == nil {
		x.fetch = new(adminFetch)
	}
	return x.fetch
}

// fetchBuf returns the empty fetch body buffer, allocated (MaxFetchBody)
// at the first fetch: a card that never fetches does not hold it.
func (a *App) fetchBuf() []byte {
	f := a.fetchSlot()
	if f.body == nil {
		f.body = make([]byte, 0, a.cfg.MaxFetchBody)
	}
	return f.body[:0]
}

// fetchBodyCap is the capacity of the fetch body buffer (0: never fetched).
func (a *App) fetchBodyCap() int {
	if a.x == nil || a.x.fetch == nil {
		return 0
	}
	return cap(a.x.fetch.body)
}

// SetFetchResult hands the outcome of the running fetch to the
// application that asked for it.
func (a *App) SetFetchResult(res FetchResult) { a.host.SetFetchResult(a.last.Time(), res) }

// recordFetch records the outcome of the admin's fetch (the body is
// copied, up to the size of the app's fetch buffer).
func (a *App) recordFetch(res FetchResult) {
	n := min(len(res.Body), int(a.cfg.MaxFetchBody))
	f := a.fetchSlot()
	f.body = append(a.fetchBuf(), res.Body[:n]...)
	res.Body = f.body
	f.res, a.fetchState = res, FetchDone
}

// Fetch returns the state, request and result of the latest fetch.
func (a *App) Fetch() (FetchState, FetchRequest, FetchResult) {
	if a.x == nil || a.x.fetch == nil {
		return a.fetchState, FetchRequest{}, FetchResult{}
	}
	return a.fetchState, a.x.fetch.req, a.x.fetch.res
}
