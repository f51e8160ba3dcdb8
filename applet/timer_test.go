package applet_test

import (
	"crypto/rand"
	"math"
	"testing"
	"time"

	"netcard/applet"
	"netcard/http"
)

// farTicker re-arms its timer d ahead at every Tick.
type farTicker struct {
	d time.Duration
	n int
}

func (*farTicker) Routes() []applet.Route                                 { return nil }
func (*farTicker) Serve(*applet.Ctx, *http.Request, *http.ResponseWriter) {}
func (f *farTicker) Tick(c *applet.Ctx) {
	f.n++
	c.After(f.d)
}

// TestTimerFarAhead: a Tick period or After so long that the instant is
// past what Unix nanoseconds hold (beyond 2262) is not due at once: the
// host keeps the timer as its largest instant instead of an overflowed
// (negative) one, which made Poll run Tick at every call and report it
// due again (a busy loop).
func TestTimerFarAhead(t *testing.T) {
	for _, d := range []time.Duration{math.MaxInt64, 250 * 365 * 24 * time.Hour} {
		h := applet.NewHost(newStore(t), rand.Reader)
		tk := &farTicker{d: d}
		if err := h.Add(tk, applet.Manifest{Name: "far", Tick: d}); err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 3; i++ {
			next := h.Poll(now.Add(time.Duration(i) * time.Hour))
			if tk.n != 0 || !next.After(now.Add(200*365*24*time.Hour)) {
				t.Fatalf("%v: poll %d: %d ticks, next %v", d, i, tk.n, next)
			}
		}
	}
	// After(huge) from a Tick behaves the same
	h := applet.NewHost(newStore(t), rand.Reader)
	tk := &farTicker{d: math.MaxInt64}
	if err := h.Add(tk, applet.Manifest{Name: "far", Tick: time.Second}); err != nil {
		t.Fatal(err)
	}
	h.Poll(now)
	h.Poll(now.Add(time.Second))
	for i := 2; i < 5; i++ {
		if next := h.Poll(now.Add(time.Duration(i) * time.Second)); tk.n != 1 || !next.After(now.Add(200*365*24*time.Hour)) {
			t.Fatalf("after After(max): %d ticks, next %v", tk.n, next)
		}
	}
}
