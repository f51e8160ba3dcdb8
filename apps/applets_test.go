package apps

import (
	"strings"
	"testing"

	"netcard/applet"
	"netcard/http"
)

// notes is a third-party application with records of its own.
type notes struct{}

func (notes) Routes() []applet.Route { return []applet.Route{{Path: "/notes"}} }
func (notes) Serve(c *applet.Ctx, r *http.Request, w *http.ResponseWriter) {
	if err := c.Store.Put("n1", []byte("private note")); err != nil {
		applet.Text(w, 507, err.Error())
		return
	}
	applet.Text(w, 200, "noted\n")
}

// TestAdminApps: the admin lists the applications with their store use,
// disables and enables one (a disabled one answers 503), cannot disable
// the admin, and only the admin may do any of it.
func TestAdminApps(t *testing.T) {
	s, _, _ := newCard(t)
	app := New(Config{Store: s, Status: testStatus, Host: "10.0.0.2",
		Apps: []Registered{{App: notes{}, Manifest: applet.Manifest{Name: "notes", Quota: 100}}}})
	h := newRouteHarness(app, true)
	auth := []string{adminAuthz}
	if r := h.do(t, "GET", "/notes", nil, nil); r.StatusCode != 200 {
		t.Fatalf("notes: %d %q", r.StatusCode, r.body)
	}
	if r := h.do(t, "GET", "/admin/apps", nil, nil); r.StatusCode != 401 {
		t.Fatalf("no credentials: %d", r.StatusCode)
	}
	r := h.do(t, "GET", "/admin/apps", auth, nil)
	if r.StatusCode != 200 {
		t.Fatalf("list: %d %q", r.StatusCode, r.body)
	}
	for _, want := range []string{"home\ttrue", "status\ttrue", "vault\ttrue", "admin\ttrue", "upload\ttrue",
		"notes\ttrue\t" + itoa(len("n1")+len("private note")) + "\t100\t1\t"} {
		if !strings.Contains(string(r.body), want) {
			t.Fatalf("list lacks %q:\n%s", want, r.body)
		}
	}
	if r := h.do(t, "POST", "/admin/apps/notes?enabled=0", []string{"Authorization: Basic dTo0NzEx"}, nil); r.StatusCode != 403 {
		t.Fatalf("the PIN holder disabled an application: %d", r.StatusCode)
	}
	if r := h.do(t, "POST", "/admin/apps/vault?enabled=0", auth, nil); r.StatusCode != 200 {
		t.Fatalf("disable vault: %d %q", r.StatusCode, r.body)
	}
	if r := h.do(t, "GET", "/vault/", []string{basic("4711")}, nil); r.StatusCode != 503 {
		t.Fatalf("disabled vault: %d %q", r.StatusCode, r.body)
	}
	if r := h.do(t, "POST", "/admin/apps/admin?enabled=0", auth, nil); r.StatusCode != 409 {
		t.Fatalf("disable admin: %d %q", r.StatusCode, r.body)
	}
	if r := h.do(t, "POST", "/admin/apps/nobody?enabled=0", auth, nil); r.StatusCode != 404 {
		t.Fatalf("unknown: %d", r.StatusCode)
	}
	if r := h.do(t, "POST", "/admin/apps/vault?enabled=maybe", auth, nil); r.StatusCode != 400 {
		t.Fatalf("bad query: %d", r.StatusCode)
	}
	// The setting is in the store: a new App on it keeps the vault off.
	app2 := New(Config{Store: s, Status: testStatus, Host: "10.0.0.2"})
	if app2.Host().Enabled("vault") {
		t.Fatal("the vault came back on after a restart")
	}
	if r := h.do(t, "POST", "/admin/apps/vault?enabled=1", auth, nil); r.StatusCode != 200 {
		t.Fatalf("enable vault: %d", r.StatusCode)
	}
	if r := h.do(t, "GET", "/vault/", []string{basic("4711")}, nil); r.StatusCode != 200 {
		t.Fatalf("re-enabled vault: %d %q", r.StatusCode, r.body)
	}
}

// TestAppRecordsNotServed: application records are served neither as
// static files nor through the admin file API.
func TestAppRecordsNotServed(t *testing.T) {
	s, _, _ := newCard(t)
	app := New(Config{Store: s, Status: testStatus, Host: "10.0.0.2",
		Apps: []Registered{{App: notes{}, Manifest: applet.Manifest{Name: "notes", Quota: 100}}}})
	h := newRouteHarness(app, true)
	h.do(t, "GET", "/notes", nil, nil)
	for _, p := range []string{"/app/notes/n1", "/app/notes/", "/app/"} {
		if r := h.do(t, "GET", p, nil, nil); r.StatusCode != 404 {
			t.Fatalf("GET %s: %d %q", p, r.StatusCode, r.body)
		}
	}
	auth := []string{adminAuthz}
	if r := h.do(t, "GET", "/admin/files/app/notes/n1", auth, nil); r.StatusCode != 403 {
		t.Fatalf("admin file API read an application record: %d %q", r.StatusCode, r.body)
	}
	if r := h.do(t, "PUT", "/admin/files/app/notes/n1", auth, []byte("forged")); r.StatusCode != 403 {
		t.Fatalf("admin file API wrote an application record: %d", r.StatusCode)
	}
	if r := h.do(t, "GET", "/admin/files", auth, nil); strings.Contains(string(r.body), "app/") {
		t.Fatalf("file list shows application records:\n%s", r.body)
	}
}

// TestBuiltinRoutesKeepStaticPaths: paths under a built-in's prefix that
// the built-in does not answer are still store files, as before the
// applications had routes.
func TestBuiltinRoutesKeepStaticPaths(t *testing.T) {
	s, _, _ := newCard(t)
	app := New(Config{Store: s, Status: testStatus, Host: "10.0.0.2"})
	h := newRouteHarness(app, true)
	for _, p := range []string{"status/old.html", "upload/readme.txt", "statusx"} {
		if err := s.PutFile(p, "text/plain", []byte("file "+p)); err != nil {
			t.Fatal(err)
		}
		if r := h.do(t, "GET", "/"+p, nil, nil); r.StatusCode != 200 || string(r.body) != "file "+p {
			t.Fatalf("GET /%s: %d %q", p, r.StatusCode, r.body)
		}
	}
}

// TestBuiltinTableShared: the built-ins' manifests and routes are one
// read-only table of the build (builtins, in BuiltinNames' order) that
// every card's host points to, not a copy per card: two Apps list the
// table's own routes; each keeps its own request counters; the upload
// built-in still reports its RAM.
func TestBuiltinTableShared(t *testing.T) {
	if len(builtins) != len(BuiltinNames) {
		t.Fatalf("%d built-ins in the table, %d names", len(builtins), len(BuiltinNames))
	}
	s, _, _ := newCard(t)
	a1 := New(Config{Store: s, Status: testStatus, Host: "10.0.0.2"})
	a2 := New(Config{Store: s, Status: testStatus, Host: "10.0.0.2"})
	h := newRouteHarness(a1, true)
	if r := h.do(t, "GET", "/status.json", nil, nil); r.StatusCode != 200 {
		t.Fatalf("status: %d", r.StatusCode)
	}
	for k, a := range []*App{a1, a2} {
		in := a.Host().Apps()
		if len(in) != len(builtins) {
			t.Fatalf("app %d: %d applications", k, len(in))
		}
		for i, b := range builtins {
			if in[i].Name != BuiltinNames[i] || b.Manifest.Name != BuiltinNames[i] || &in[i].Routes[0] != &b.Routes[0] {
				t.Fatalf("app %d, built-in %d: %+v (table %+v)", k, i, in[i], b)
			}
		}
		if want := uint64(1 - k); in[1].Requests != want {
			t.Fatalf("app %d: status requests %d, want %d", k, in[1].Requests, want)
		}
		if in[4].RAM == 0 {
			t.Fatal("upload reports no RAM")
		}
	}
}
