package applet_test

import (
	"crypto/rand"
	"testing"
	"time"

	"netcard/applet"
	"netcard/applet/applettest"
)

// noRoutes is an application whose routes come from its Builtin: its own
// Routes must not be called by AddBuiltin.
type noRoutes struct{ keeper }

func (noRoutes) Routes() []applet.Route { panic("AddBuiltin called Routes") }
func (noRoutes) Tick(c *applet.Ctx)     {}

// sharedKeeper is a registration of the build, shared by every host.
var sharedKeeper = applet.Builtin{
	Manifest: applet.Manifest{Name: "keeper", Quota: 100, RAM: 12, Policy: applet.SignWithPIN, Fixed: true, Tick: time.Second},
	Routes:   []applet.Route{{Path: "/keeper"}},
}

// TestAddBuiltinShared: two hosts registering the same Builtin keep a
// pointer to it (not a copy: it is not counted in their ControlBytes, and
// Info's routes are the table's), leave it unchanged, route to it, apply
// its manifest (Fixed, RAM, policy, Tick) and keep their own per-card
// state (request counter, timer); Add's own copy is counted.
func TestAddBuiltinShared(t *testing.T) {
	want := sharedKeeper
	var hosts [2]*applet.Host
	for i := range hosts {
		h := applet.NewHost(newStore(t), rand.Reader)
		h.Grow(2)
		if err := h.AddBuiltin(noRoutes{}, &sharedKeeper); err != nil {
			t.Fatal(err)
		}
		if err := h.AddBuiltin(noRoutes{}, &sharedKeeper); err == nil {
			t.Fatal("a name registered twice")
		}
		hosts[i] = h
	}
	srv := applettest.Serve(t, hosts[0], func() time.Time { return now })
	for range 2 {
		if c, m := get(t, srv.URL+"/keeper"); c != 200 {
			t.Fatalf("keeper: %d %s", c, m)
		}
	}
	for i, h := range hosts {
		in := h.Apps()
		if len(in) != 1 || in[0].Name != "keeper" || in[0].RAM != 12 || in[0].Policy != applet.SignWithPIN ||
			len(in[0].Routes) != 1 || &in[0].Routes[0] != &sharedKeeper.Routes[0] || in[0].Requests != uint64(2-2*i) {
			t.Fatalf("host %d: %+v", i, in)
		}
		if err := h.SetEnabled("keeper", false); err == nil {
			t.Fatal("a Fixed built-in was disabled")
		}
	}
	if sharedKeeper.Manifest != want.Manifest || len(sharedKeeper.Routes) != 1 || sharedKeeper.Routes[0] != want.Routes[0] {
		t.Fatalf("the shared table changed: %+v", sharedKeeper)
	}
	// Tick from the shared manifest, timer per host.
	if next := hosts[1].Poll(now); !next.Equal(now.Add(time.Second)) {
		t.Fatalf("timer %v", next)
	}
	// A copy made by Add is the host's own RAM; a shared table is not.
	h := applet.NewHost(newStore(t), rand.Reader)
	h.Grow(2) // as the hosts above: the same list
	base := h.ControlBytes()
	if err := h.Add(keeper{}, sharedKeeper.Manifest); err != nil {
		t.Fatal(err)
	}
	if own, shared := h.ControlBytes()-base, hosts[0].ControlBytes()-base; own <= shared || shared != 0 {
		t.Fatalf("ControlBytes: Add adds %d, AddBuiltin %d", own, shared)
	}
}
