package apps

import (
	"strconv"
	"strings"
	"unsafe"

	"netcard/applet"
	"netcard/http"
)

// BuiltinNames are the built-in applications, each an applet.App like any
// other: home (home page and static files), status, vault, admin (with the
// secure client, /admin/fetch) and upload.
var BuiltinNames = []string{"home", "status", "vault", "admin", "upload"}

// addBuiltins registers the built-in applications Config.Builtins selects
// (only) and then Config.Apps (others).
func (a *App) addBuiltins(only []string, others []Registered) {
	want := func(n string) bool {
		if only == nil || n == "admin" {
			return true
		}
		for _, b := range only {
			if b == n {
				return true
			}
		}
		return false
	}
	a.host.Grow(len(builtins) + len(others)) // the built-ins below at most, and the others
	for i := range builtins {
		if b := &builtins[i]; want(b.Manifest.Name) {
			if err := a.host.AddBuiltin(a, b); err != nil {
				panic(err) // built-in names are valid and distinct
			}
		}
	}
	for _, r := range others {
		if err := a.host.Add(r.App, r.Manifest); err != nil {
			panic(err)
		}
	}
}

// builtins are the built-ins' manifests, routes and applications (Bind:
// the App's, without allocating), in BuiltinNames' order: a table of the
// build, shared read-only by every card (ROM on a real card;
// applet.Host.AddBuiltin keeps pointers to it). Only the per-card state of
// each (its timer, request counter, flags) is in the card's application
// host.
var builtins = [...]applet.Builtin{
	{Manifest: applet.Manifest{Name: "home"}, Routes: homeRoutes,
		Bind: func(o any) applet.App { return homeApp{o.(*App)} }},
	{Manifest: applet.Manifest{Name: "status"}, Routes: statusRoutes,
		Bind: func(o any) applet.App { return statusApp{o.(*App)} }},
	{Manifest: applet.Manifest{Name: "vault", Privileged: true}, Routes: vaultRoutes,
		Bind: func(o any) applet.App { return vaultApp{o.(*App)} }},
	{Manifest: applet.Manifest{Name: "admin", Privileged: true, Fixed: true}, Routes: adminRoutes,
		Bind: func(o any) applet.App { return adminApp{o.(*App)} }},
	{Manifest: applet.Manifest{Name: "upload", RAM: int(unsafe.Sizeof(upload{}))}, Routes: uploadRoutes,
		Bind: func(o any) applet.App { return uploadApp{o.(*App)} }},
}

// The built-ins' routes, shared by every card (read only).
var (
	homeRoutes   = []applet.Route{{Path: "/"}}
	statusRoutes = []applet.Route{{Path: "/status"}, {Path: "/status.json"}}
	vaultRoutes  = []applet.Route{{Path: "/vault"}}
	adminRoutes  = []applet.Route{{Path: "/admin"}}
	uploadRoutes = []applet.Route{{Path: "/upload"}}
)

func connInfo(c *applet.Ctx) *ConnInfo {
	ci, _ := c.Conn().(*ConnInfo)
	if ci == nil {
		ci = &ConnInfo{Conn: applet.Conn{TLS: c.TLS, Now: c.Now, Remote: c.Remote}}
	}
	return ci
}

// homeApp serves the home page and static store files.
type homeApp struct{ a *App }

func (homeApp) Routes() []applet.Route { return homeRoutes }
func (h homeApp) Serve(c *applet.Ctx, r *http.Request, w *http.ResponseWriter) {
	h.a.serveStatic(r, w)
}

// statusApp serves /status and /status.json.
type statusApp struct{ a *App }

func (statusApp) Routes() []applet.Route { return statusRoutes }
func (s statusApp) Serve(c *applet.Ctx, r *http.Request, w *http.ResponseWriter) {
	switch string(r.Path) {
	case "/status":
		s.a.serveStatus(connInfo(c), r, w, false)
	case "/status.json":
		s.a.serveStatus(connInfo(c), r, w, true)
	default:
		s.a.serveStatic(r, w) // "/status/…": a store file, as before
	}
}
func (s statusApp) Footprint() int { return len(s.a.pageList())*statusPageSize + s.a.pagesHeld() }

// vaultApp is the PIN-protected record store (and PIN/PUK management).
type vaultApp struct{ a *App }

func (vaultApp) Routes() []applet.Route { return vaultRoutes }
func (v vaultApp) Head(c *applet.Ctx, r *http.Request) applet.Answer {
	return v.a.vaultCheck(r).applet()
}
func (v vaultApp) Serve(c *applet.Ctx, r *http.Request, w *http.ResponseWriter) {
	v.a.serveVault(r, w)
}

// adminApp is the administration API and the secure client.
type adminApp struct{ a *App }

func (adminApp) Routes() []applet.Route { return adminRoutes }
func (d adminApp) Head(c *applet.Ctx, r *http.Request) applet.Answer {
	return d.a.adminAuth(connInfo(c), r).applet()
}
func (d adminApp) Serve(c *applet.Ctx, r *http.Request, w *http.ResponseWriter) {
	before := d.a.fetchState
	d.a.serveAdmin(connInfo(c), r, w)
	if d.a.fetchState == FetchQueued && before != FetchQueued {
		// The secure client runs through the same handle as any
		// application's outbound request.
		if c.Fetch(&d.a.x.fetch.req) != nil {
			d.a.fetchState = FetchIdle
		}
	}
}
func (d adminApp) FetchDone(c *applet.Ctx, res applet.FetchResult) { d.a.recordFetch(res) }
func (d adminApp) Footprint() int                                  { return d.a.fetchBodyCap() }

// uploadApp hashes PUT/POST /upload bodies as they stream.
type uploadApp struct{ a *App }

func (uploadApp) Routes() []applet.Route { return uploadRoutes }
func (u uploadApp) Head(c *applet.Ctx, r *http.Request) applet.Answer {
	if c.Head {
		u.a.uploadHead(connInfo(c), r)
	}
	return applet.Answer{}
}
func (u uploadApp) Serve(c *applet.Ctx, r *http.Request, w *http.ResponseWriter) {
	if string(r.Path) != "/upload" || u.a.cfg.MaxUpload <= 0 {
		u.a.serveStatic(r, w) // the route is off: as before, a static path
		return
	}
	u.a.serveUpload(connInfo(c), r, w)
}

// serveApps answers GET /admin/apps (the list, with each application's
// store and RAM use) and POST /admin/apps/NAME?enabled=0|1.
func (a *App) serveApps(r *http.Request, w *http.ResponseWriter, name, m string) {
	if name == "" {
		if !isGetHead(r) {
			a.methodNotAllowed(w, "Allow: GET, HEAD\r\n")
			return
		}
		a.text(w, 200, "")
		w.WriteString("name\tenabled\tstore_used\tstore_quota\trecords\tram\trequests\troutes\n")
		for _, in := range a.host.Apps() {
			var rs []string
			for _, rt := range in.Routes {
				rs = append(rs, strings.TrimSpace(rt.Method+" "+rt.Path))
			}
			w.WriteString(in.Name + "\t" + strconv.FormatBool(in.Enabled) + "\t" + strconv.Itoa(in.StoreUsed) + "\t" +
				strconv.Itoa(in.StoreQuota) + "\t" + strconv.Itoa(in.Records) + "\t" + strconv.Itoa(in.RAM) + "\t" +
				strconv.FormatUint(in.Requests, 10) + "\t" + strings.Join(rs, ",") + "\n")
		}
		return
	}
	if m != "POST" {
		a.methodNotAllowed(w, "Allow: POST\r\n")
		return
	}
	var on bool
	switch q := string(r.Query); q {
	case "enabled=1":
		on = true
	case "enabled=0":
	default:
		a.text(w, 400, "query enabled=0 or enabled=1 required\n")
		return
	}
	if err := a.host.SetEnabled(name, on); err != nil {
		if strings.Contains(err.Error(), "no application") {
			a.text(w, 404, "no such application\n")
			return
		}
		a.text(w, 409, err.Error()+"\n")
		return
	}
	a.text(w, 200, name+" enabled="+strconv.FormatBool(on)+"\n")
}
