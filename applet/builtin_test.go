package applet_test

import (
	"crypto/rand"
	"errors"
	"testing"
	"time"

	"netcard/applet"
	"netcard/applet/applettest"
	"netcard/http"
	"netcard/store"
)

// owner is what a host's built-ins belong to (the card's apps.App).
type owner struct{ served int }

// noRoutes is an application whose routes come from its Builtin: its own
// Routes must not be called by AddBuiltin. It counts its requests in its
// owner.
type noRoutes struct{ o *owner }

func (noRoutes) Routes() []applet.Route { panic("AddBuiltin called Routes") }
func (n noRoutes) Serve(c *applet.Ctx, r *http.Request, w *http.ResponseWriter) {
	n.o.served++
	keeper{}.Serve(c, r, w)
}
func (noRoutes) Tick(c *applet.Ctx) {}

// sharedKeeper is a registration of the build, shared by every host.
var sharedKeeper = applet.Builtin{
	Manifest: applet.Manifest{Name: "keeper", Quota: 100, RAM: 12, Policy: applet.SignWithPIN, Fixed: true, Tick: time.Second},
	Routes:   []applet.Route{{Path: "/keeper"}},
	Bind:     func(o any) applet.App { return noRoutes{o.(*owner)} },
}

// TestAddBuiltinShared: two hosts registering the same Builtin keep a
// pointer to it (not a copy: it is not counted in their ControlBytes, and
// Info's routes are the table's), leave it unchanged, route to it, apply
// its manifest (Fixed, RAM, policy, Tick), call the application of their
// own owner (Bind) and keep their own per-card state (request counter,
// timer); Add's own copy is counted. A built-in without Bind or owner, or
// of another owner than the host's others, is refused.
func TestAddBuiltinShared(t *testing.T) {
	want := sharedKeeper
	var hosts [2]*applet.Host
	var owners [2]owner
	for i := range hosts {
		h := applet.NewHost(newStore(t), rand.Reader)
		h.Grow(2)
		if err := h.AddBuiltin(&owners[i], &sharedKeeper); err != nil {
			t.Fatal(err)
		}
		if err := h.AddBuiltin(&owners[i], &sharedKeeper); err == nil {
			t.Fatal("a name registered twice")
		}
		other := sharedKeeper
		other.Manifest.Name = "other"
		if err := h.AddBuiltin(&owners[1-i], &other); err == nil {
			t.Fatal("a built-in of another owner")
		}
		if err := h.AddBuiltin(nil, &other); err == nil {
			t.Fatal("a built-in without an owner")
		}
		other.Bind = nil
		if err := h.AddBuiltin(&owners[i], &other); err == nil {
			t.Fatal("a built-in without Bind")
		}
		if err := h.Add(nil, other.Manifest); err == nil {
			t.Fatal("Add without an application")
		}
		hosts[i] = h
	}
	srv := applettest.Serve(t, hosts[0], func() time.Time { return now })
	for range 2 {
		if c, m := get(t, srv.URL+"/keeper"); c != 200 {
			t.Fatalf("keeper: %d %s", c, m)
		}
	}
	if owners[0].served != 2 || owners[1].served != 0 {
		t.Fatalf("served %+v", owners)
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

// hoarder keeps its Ctx.Store past the call (which the contract forbids).
type hoarder struct{ kept **store.Space }

func (hoarder) Routes() []applet.Route { return []applet.Route{{Path: "/hoard"}} }
func (h hoarder) Serve(c *applet.Ctx, r *http.Request, w *http.ResponseWriter) {
	if err := c.Store.Put("mine", []byte("hoarded")); err != nil {
		applet.Text(w, 500, err.Error())
		return
	}
	*h.kept = c.Store
	applet.Text(w, 200, "kept\n")
}

// TestStoreOnlyDuringCall: the store space an application gets is made
// for the call; a pointer to it kept past the call reaches a namespace
// without records or quota: not the application's own records, not
// another application's (keeper's, called after it), and nothing can be
// written through it. During its calls the application has its own.
func TestStoreOnlyDuringCall(t *testing.T) {
	st := newStore(t)
	h := applet.NewHost(st, rand.Reader)
	var kept *store.Space
	h.Add(hoarder{&kept}, applet.Manifest{Name: "hoarder", Quota: 100})
	h.Add(keeper{}, applet.Manifest{Name: "keeper", Quota: 100})
	srv := applettest.Serve(t, h, func() time.Time { return now })
	if c, m := get(t, srv.URL+"/hoard"); c != 200 {
		t.Fatalf("hoard: %d %s", c, m)
	}
	if c, m := get(t, srv.URL+"/keeper"); c != 200 {
		t.Fatalf("keeper: %d %s", c, m)
	}
	if kept == nil {
		t.Fatal("no store handed to the application")
	}
	if _, ok := kept.Get("mine", nil); ok {
		t.Fatal("a kept space still reads its application's records")
	}
	if _, ok := kept.Get("secret", nil); ok {
		t.Fatal("a kept space reads another application's records")
	}
	if err := kept.Put("x", []byte("y")); !errors.Is(err, store.ErrQuota) {
		t.Fatalf("write through a kept space: %v", err)
	}
	in := h.Apps()
	if in[0].Records != 1 || in[0].StoreUsed != len("mine")+len("hoarded") || in[0].StoreQuota != 100 || in[1].Records != 1 {
		t.Fatalf("%+v", in)
	}
}
