package apps

import (
	"testing"
	"time"
	"unsafe"

	"netcard/applet"
	"netcard/http"
)

// TestAppSize guards the App's size class (96 bytes): it keeps of its
// Config only what it uses after New (appParams, 56 bytes, its ints in 32
// bits: not Rand, which went to the application host, nor Builtins and
// Apps, which went to its registry), the admin's fetch state only once it has fetched, its
// status pages' list only once one was streamed, its
// failure counter in 32 bits beside the fetch state, and one time (the
// latest seen, the store's clock during a call, as an 8-byte stamp) with
// a flag, not two.
func TestAppSize(t *testing.T) {
	if n := unsafe.Sizeof(App{}); n > 96 {
		t.Errorf("App takes %d bytes, past the 96-byte size class", n)
	}
	if n := unsafe.Sizeof(appParams{}); n > 56 {
		t.Errorf("appParams takes %d bytes, past 56", n)
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
