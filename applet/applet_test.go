package applet_test

import (
	"crypto"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"io"
	nethttp "net/http"
	"strings"
	"testing"
	"time"

	"netcard/applet"
	"netcard/applet/applettest"
	"netcard/http"
	"netcard/store"
)

var now = time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)

// probe is an application that tries what it must not: read another
// application's records and the vault, and sign without its policy.
type probe struct {
	other   string // a key of the other application, as a path trick
	signErr error
	seen    []byte
	seenOK  bool
	priv    *store.Store
}

func (*probe) Routes() []applet.Route { return []applet.Route{{Method: "GET", Path: "/probe"}} }
func (p *probe) Serve(c *applet.Ctx, r *http.Request, w *http.ResponseWriter) {
	p.seen, p.seenOK = c.Store.Get(p.other, nil)
	d := sha256.Sum256([]byte("x"))
	_, p.signErr = c.Sign(d[:], crypto.SHA256)
	p.priv = c.Privileged()
	applet.Text(w, 200, "probed\n")
}

type keeper struct{}

func (keeper) Routes() []applet.Route { return []applet.Route{{Path: "/keeper"}} }
func (keeper) Serve(c *applet.Ctx, r *http.Request, w *http.ResponseWriter) {
	if err := c.Store.Put("secret", []byte("keeper's")); err != nil {
		applet.Text(w, 500, err.Error())
		return
	}
	applet.Text(w, 200, "kept\n")
}

func newStore(t *testing.T) *store.Store {
	st, err := store.CreateMedium(store.NewMemMedium(store.DefaultSize), store.DefaultSize, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	st.SetClock(func() time.Time { return now })
	if err := st.GenerateKey(rand.Reader); err != nil {
		t.Fatal(err)
	}
	st.InitPIN([]byte("4711"), []byte("31415926"))
	st.PutFile("vault/diary", "text/plain", []byte("dear diary"))
	return st
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	res, err := nethttp.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

// TestIsolation: an application cannot read another's records or the
// vault's through its namespace, cannot sign under policy NoKey nor under
// SignWithPIN without this request's PIN, and gets no store.
func TestIsolation(t *testing.T) {
	for _, pol := range []applet.Policy{applet.NoKey, applet.SignWithPIN} {
		for _, other := range []string{"../keeper/secret", "../../vault/diary", "/../keeper/secret", "secret"} {
			st := newStore(t)
			h := applet.NewHost(st, rand.Reader)
			p := &probe{other: other}
			if err := h.Add(keeper{}, applet.Manifest{Name: "keeper", Quota: 100}); err != nil {
				t.Fatal(err)
			}
			if err := h.Add(p, applet.Manifest{Name: "probe", Quota: 100, Policy: pol}); err != nil {
				t.Fatal(err)
			}
			srv := applettest.Serve(t, h, func() time.Time { return now })
			left := st.PINTriesLeft()
			if c, m := get(t, srv.URL+"/keeper"); c != 200 {
				t.Fatalf("keeper: %d %s", c, m)
			}
			if c, _ := get(t, srv.URL+"/probe"); c != 200 {
				t.Fatal(c)
			}
			if p.seenOK {
				t.Fatalf("policy %d: probe read %q through %q", pol, p.seen, other)
			}
			if !errors.Is(p.signErr, applet.ErrPolicy) {
				t.Fatalf("policy %d: signing without the PIN: %v", pol, p.signErr)
			}
			if p.priv != nil {
				t.Fatal("an unprivileged application got the store")
			}
			if st.PINTriesLeft() != left {
				t.Fatal("PIN tries moved")
			}
		}
	}
}

// TestAdminDisable: a disabled application answers 503 and is not called;
// a Fixed one cannot be disabled; an unknown name is an error.
func TestAdminDisable(t *testing.T) {
	st := newStore(t)
	h := applet.NewHost(st, rand.Reader)
	h.Add(keeper{}, applet.Manifest{Name: "keeper", Quota: 100})
	h.Add(keeper2{}, applet.Manifest{Name: "fixed", Fixed: true})
	srv := applettest.Serve(t, h, func() time.Time { return now })
	if err := h.SetEnabled("keeper", false); err != nil {
		t.Fatal(err)
	}
	if c, m := get(t, srv.URL+"/keeper"); c != 503 || !strings.Contains(m, "disabled") {
		t.Fatalf("disabled: %d %q", c, m)
	}
	if err := h.SetEnabled("fixed", false); err == nil {
		t.Fatal("a Fixed application was disabled")
	}
	if err := h.SetEnabled("nobody", false); err == nil {
		t.Fatal("unknown application")
	}
	h.SetEnabled("keeper", true)
	if c, _ := get(t, srv.URL+"/keeper"); c != 200 {
		t.Fatalf("re-enabled: %d", c)
	}
	in := h.Apps()
	if len(in) != 2 || in[0].Name != "keeper" || in[0].StoreUsed != len("secret")+len("keeper's") || in[0].Requests != 1 {
		t.Fatalf("%+v", in)
	}
	if c, _ := get(t, srv.URL+"/nothing"); c != 404 {
		t.Fatalf("no route: %d", c)
	}
}

type keeper2 struct{ keeper }

func (keeper2) Routes() []applet.Route { return []applet.Route{{Path: "/fixed"}} }

// ticker counts its ticks and re-arms every 10 s.
type ticker struct{ n int }

func (*ticker) Routes() []applet.Route                                       { return nil }
func (*ticker) Serve(c *applet.Ctx, r *http.Request, w *http.ResponseWriter) {}
func (t *ticker) Tick(c *applet.Ctx) {
	t.n++
	c.After(10 * time.Second)
	if t.n == 2 {
		c.Fetch(&applet.FetchRequest{URL: "https://x/", Host: "x", Port: 443, TLS: true, Method: "GET", Target: "/"})
	}
}
func (t *ticker) FetchDone(c *applet.Ctx, res applet.FetchResult) { t.n += 100 * res.Status }

// TestTimerAndFetch: Tick runs when due (injected clock) and its
// outbound request is handed to the client and answered to FetchDone.
func TestTimerAndFetch(t *testing.T) {
	st := newStore(t)
	h := applet.NewHost(st, rand.Reader)
	tk := &ticker{}
	h.Add(tk, applet.Manifest{Name: "ticker", Tick: 5 * time.Second})
	if next := h.Poll(now); !next.Equal(now.Add(5*time.Second)) || tk.n != 0 {
		t.Fatalf("armed at %v, n %d", next, tk.n)
	}
	h.Poll(now.Add(4 * time.Second))
	if tk.n != 0 {
		t.Fatal("ticked early")
	}
	if next := h.Poll(now.Add(5 * time.Second)); tk.n != 1 || !next.Equal(now.Add(15*time.Second)) {
		t.Fatalf("n %d next %v", tk.n, next)
	}
	if _, ok := h.NextFetch(); ok {
		t.Fatal("fetch before one was asked")
	}
	h.Poll(now.Add(15 * time.Second))
	req, ok := h.NextFetch()
	if !ok || req.Host != "x" || h.FetchOwner() != "ticker" {
		t.Fatalf("%v %+v", ok, req)
	}
	h.SetFetchResult(now.Add(16*time.Second), applet.FetchResult{Status: 204})
	if tk.n != 2+100*204 {
		t.Fatalf("n %d", tk.n)
	}
}

type hello struct{}

func (hello) Routes() []applet.Route                            { return []applet.Route{{Method: "GET", Path: "/hello"}} }
func (hello) Head(c *applet.Ctx, r *http.Request) applet.Answer { return applet.Answer{} }
func (hello) Serve(c *applet.Ctx, r *http.Request, w *http.ResponseWriter) {
	w.Header.Status = 200
	w.WriteString("hello\n")
}

// TestServeNoAlloc: routing a request to an application, its head check
// and its answer allocate nothing.
func TestServeNoAlloc(t *testing.T) {
	st := newStore(t)
	h := applet.NewHost(st, rand.Reader)
	h.Add(keeper{}, applet.Manifest{Name: "keeper", Quota: 100})
	h.Add(hello{}, applet.Manifest{Name: "hello-with-a-rather-long-name-32"})
	r := &http.Request{Method: []byte("GET"), Path: []byte("/hello")}
	var c applet.Conn
	c.TLS, c.Now = true, now
	var w http.ResponseWriter
	if n := testing.AllocsPerRun(100, func() {
		w = http.ResponseWriter{}
		if !h.Serve(&c, r, &w) || w.Header.Status != 200 {
			t.Fatal("not served")
		}
	}); n != 0 {
		t.Fatalf("%v allocations per request", n)
	}
}

// TestAddChecksManifest: a manifest whose policy is none of the three, or
// whose RAM does not fit the slot's 32 bits, is refused — it is not
// narrowed into another policy or a wrong RAM figure — and registers
// nothing; the three policies register.
func TestAddChecksManifest(t *testing.T) {
	st := newStore(t)
	h := applet.NewHost(st, rand.Reader)
	for _, m := range []applet.Manifest{
		{Name: "p-neg", Policy: -1},
		{Name: "p-big", Policy: applet.SignAlways + 1},
		{Name: "p-wrap", Policy: 256 + applet.SignAlways}, // would be SignAlways in 8 bits
		{Name: "ram-neg", RAM: -1},
		{Name: "ram-big", RAM: 1 << 31},
	} {
		if err := h.Add(keeper{}, m); err == nil {
			t.Errorf("%s: registered", m.Name)
		}
	}
	if n := len(h.Apps()); n != 0 {
		t.Fatalf("%d applications registered", n)
	}
	for i, p := range []applet.Policy{applet.NoKey, applet.SignWithPIN, applet.SignAlways} {
		name := []string{"a", "b", "c"}[i]
		if err := h.Add(keeper{}, applet.Manifest{Name: name, Policy: p, RAM: 1<<31 - 1}); err != nil {
			t.Fatal(err)
		}
	}
	if got := h.Apps(); got[0].Policy != applet.NoKey || got[1].Policy != applet.SignWithPIN || got[2].Policy != applet.SignAlways {
		t.Fatalf("policies %v %v %v", got[0].Policy, got[1].Policy, got[2].Policy)
	}
}

// refuser refuses every request with a body from its head with its Answer.
type refuser struct{ ans applet.Answer }

func (refuser) Routes() []applet.Route { return []applet.Route{{Path: "/refuse"}} }
func (f refuser) Head(c *applet.Ctx, r *http.Request) applet.Answer {
	if r.ContentLength == 0 {
		return applet.Answer{}
	}
	return f.ans
}
func (refuser) Serve(c *applet.Ctx, r *http.Request, w *http.ResponseWriter) {
	w.Header.Status = 200
}

// TestHeadVerdictKept: the Conn keeps the head's refusal (its status in
// 32 bits beside the flags) until the answer call sends it: status, extra
// header lines; a status past 32 bits is clamped, never truncated to 0
// ("go on"), so the body stays refused.
func TestHeadVerdictKept(t *testing.T) {
	for _, tc := range []struct{ status, want int }{{418, 418}, {1 << 40, 1<<31 - 1}, {-(1 << 40), -1 << 31}} {
		st := newStore(t)
		h := applet.NewHost(st, rand.Reader)
		h.Add(refuser{applet.Answer{Status: tc.status, Msg: "no\n", Extra: "X-Why: test\r\n"}}, applet.Manifest{Name: "refuser"})
		r := &http.Request{Method: []byte("PUT"), Path: []byte("/refuse"), ContentLength: 5}
		var c applet.Conn
		c.TLS, c.Now, c.Head = true, now, true
		var w http.ResponseWriter
		if !h.Serve(&c, r, &w) || c.Sink != http.RefuseBody || c.Max != 0 {
			t.Fatalf("status %d: the head did not refuse the body (sink %v)", tc.status, c.Sink)
		}
		c.Head, c.Sink = false, nil
		r.BodyErr = http.ErrBodyRefused
		w = http.ResponseWriter{}
		if !h.Serve(&c, r, &w) || w.Header.Status != tc.want || w.Header.Extra != "X-Why: test\r\n" {
			t.Fatalf("status %d: answered %d %q, want %d", tc.status, w.Header.Status, w.Header.Extra, tc.want)
		}
		// The verdict belongs to that request only.
		r = &http.Request{Method: []byte("GET"), Path: []byte("/refuse")}
		w = http.ResponseWriter{}
		if !h.Serve(&c, r, &w) || w.Header.Status != 200 {
			t.Fatalf("status %d: the next request got %d", tc.status, w.Header.Status)
		}
	}
}

// TestTimerStateOnUse: an application that never arms a timer nor
// fetches holds no timer state (ControlBytes: the slot only); the first
// arming allocates it (16 bytes, counted), re-arming and ticking then
// allocate nothing.
func TestTimerStateOnUse(t *testing.T) {
	st := newStore(t)
	h := applet.NewHost(st, rand.Reader)
	h.Add(hello{}, applet.Manifest{Name: "hello"})
	base := h.ControlBytes()
	h.Poll(now)
	if h.ControlBytes() != base {
		t.Fatalf("a Poll without timers grew the host: %d → %d", base, h.ControlBytes())
	}
	tk := &ticker{}
	h.Add(tk, applet.Manifest{Name: "ticker", Tick: 5 * time.Second})
	withTicker := h.ControlBytes()
	h.Poll(now)
	if got := h.ControlBytes(); got != withTicker+16 {
		t.Fatalf("armed timer: ControlBytes %d, want %d", got, withTicker+16)
	}
	at := now
	if a := testing.AllocsPerRun(50, func() {
		at = at.Add(10 * time.Second)
		tk.n = 10 // no fetch
		h.Poll(at)
	}); a != 0 {
		t.Fatalf("%v allocations per tick", a)
	}
}
