package apps

import (
	"testing"
	"time"
	"unsafe"

	"netcard/applet"
	"netcard/http"
)

// TestAppSize guards the App's size class (80 bytes): it keeps of its
// Config only what it uses after New (appParams, 48 bytes, its ints in 32
// bits: not Rand, which went to the application host, nor Builtins and
// Apps, which went to its registry), the admin's fetch state only once it has fetched, its
// status pages' list only once one was streamed (both in one appX), its
// failure counter in 32 bits beside the fetch state, and one time (the
// latest seen, the store's clock during a call, as an 8-byte stamp) with
// a flag, not two.
func TestAppSize(t *testing.T) {
	if n := unsafe.Sizeof(App{}); n > 80 {
		t.Errorf("App takes %d bytes, past the 80-byte size class", n)
	}
	if n := unsafe.Sizeof(appParams{}); n > 48 {
		t.Errorf("appParams takes %d bytes, past 48", n)
	}
}

// clockProbe records the store's clock as an application sees it.
type clockProbe struct {
	app  **App
	seen *time.Time
}

func (clockProbe) Routes() []applet.Route { return []applet.Route{{Path: "/clock"}} }
func (p clockProbe) Serve(c *applet.Ctx, r *http.Request, w *http.ResponseWriter) {
	*p.seen = (*p.app).clock()
	applet.Text(w, 200, "ok\n")
}

// TestStoreClockInCall: the store's clock (App.clock) is the request's
// time during Serve and Poll's time during Poll, and zero outside them
// (the App keeps one time and a flag).
func TestStoreClockInCall(t *testing.T) {
	s, _, _ := newCard(t)
	var app *App
	var seen time.Time
	app = New(Config{Store: s, Status: testStatus, Host: "10.0.0.2",
		Apps: []Registered{{App: clockProbe{&app, &seen}, Manifest: applet.Manifest{Name: "clock"}}}})
	if !app.clock().IsZero() {
		t.Fatal("a clock before any call")
	}
	h := newRouteHarness(app, true)
	if r := h.do(t, "GET", "/clock", nil, nil); r.StatusCode != 200 || !seen.Equal(testNow) {
		t.Fatalf("%d: clock %v during a request at %v", r.StatusCode, seen, testNow)
	}
	if !app.clock().IsZero() {
		t.Fatal("a clock after the request")
	}
	app.Poll(testNow.Add(time.Hour))
	if !app.clock().IsZero() || !app.last.Time().Equal(testNow.Add(time.Hour)) {
		t.Fatalf("after Poll: clock %v, last %v", app.clock(), app.last.Time())
	}
}

// TestMaxUploadBounds: Config.MaxUpload is kept in 32 bits: a limit past
// 2^31-1 bytes is 2^31-1 (never truncated to a small or negative one), a
// negative one stays negative (the route is off), 0 is the default.
func TestMaxUploadBounds(t *testing.T) {
	s, _, _ := newCard(t)
	for _, c := range []struct{ in, want int64 }{{1 << 40, 1<<31 - 1}, {1<<32 + 5, 1<<31 - 1}, {-(1 << 40), -1}, {0, DefaultMaxUpload}, {100, 100}} {
		if got := New(Config{Store: s, MaxUpload: c.in}).cfg.MaxUpload; int64(got) != c.want {
			t.Errorf("MaxUpload %d kept as %d, want %d", c.in, got, c.want)
		}
	}
}

// TestStatusPageSize guards a streamed status page's size class: 888
// bytes and the allocator's 8-byte header within 896 (its owner, an
// interface, is the session that lends ConnInfos; its offsets in 32 bits).
func TestStatusPageSize(t *testing.T) {
	if n := statusPageSize + 8; n > 896 {
		t.Errorf("statusPage takes %d bytes with the header, past the 896-byte size class", n)
	}
}
