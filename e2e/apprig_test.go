package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	stdtls "crypto/tls"
	"crypto/x509"
	"io"
	"net"
	nethttp "net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"netcard/apps"
	"netcard/card"
	"netcard/host"
	"netcard/link"
	"netcard/store"
)

// appRig is a rig whose card runs on a store image file that outlives it:
// stop it and start another card on the same path to simulate a restart
// (the card pulled out of the reader and put back).
type appRig struct {
	*rig
	skew     *atomic.Int64 // the card clock's lead on the host's, ns
	path     string
	stopOnce sync.Once
	stopFn   func()
}

// adminSecret is the administrator bearer token the app rigs install (at
// least store.MinAdminSecretBits).
const adminSecret = "e2e-Adm1n-s3cret-7f3a-Qx9Lw2Zk"

// rigPersonalisation is the rigs' card: the default names and the test
// PIN and PUK (there are no default ones).
func rigPersonalisation() card.Personalisation {
	p := card.DefaultPersonalisation()
	p.PIN, p.PUK = rightPIN, rightPUK
	return p
}

// startCard starts a card on the store image at path (created and
// personalised when it does not exist). setup, if non-nil, runs on the store
// before the card is built (admin secret, anchors, content). The card is
// stopped at the end of the test, or earlier with stop.
func startCard(t *testing.T, path string, prof card.Profile, setup func(st *store.Store) error) *appRig {
	t.Helper()
	return startCardPaced(t, path, prof, 0, setup)
}

// startCardPaced is startCard on a serial line paced at baud (0: unlimited).
func startCardPaced(t *testing.T, path string, prof card.Profile, baud int, setup func(st *store.Store) error) *appRig {
	t.Helper()
	var (
		st  *store.Store
		err error
	)
	if _, statErr := os.Stat(path); statErr == nil {
		st, err = store.Open(path)
	} else {
		st, err = store.Create(path, 64<<10, rand.Reader)
	}
	if err != nil {
		t.Fatal(err)
	}
	return startCardOn(t, st, path, prof, baud, setup)
}

// startCardOn starts a card on an open store (closed when the card stops),
// on a serial line paced at baud (0: unlimited).
func startCardOn(t *testing.T, st *store.Store, path string, prof card.Profile, baud int, setup func(st *store.Store) error) *appRig {
	t.Helper()
	return startCardApps(t, st, path, prof, baud, setup, nil)
}

// startCardApps is startCardOn with further applications (package applet).
func startCardApps(t *testing.T, st *store.Store, path string, prof card.Profile, baud int, setup func(st *store.Store) error, extra []apps.Registered) *appRig {
	t.Helper()
	if err := card.Personalise(st, rigPersonalisation(), rand.Reader, time.Now()); err != nil {
		st.Close()
		t.Fatal(err)
	}
	if setup != nil {
		if err := setup(st); err != nil {
			st.Close()
			t.Fatal(err)
		}
	}
	// The card's clock runs skew ahead of the host's: a test moves it on
	// (advance) past a PIN/PUK backoff instead of sleeping through it.
	skew := new(atomic.Int64)
	clock := func() time.Time { return time.Now().Add(time.Duration(skew.Load())) }
	st.SetClock(clock)
	c, err := card.New(card.Config{Profile: prof, Store: st, Rand: rand.Reader, Clock: clock, Apps: extra})
	if err != nil {
		st.Close()
		t.Fatal(err)
	}
	a, b := link.Pipe(8192)
	var ca, hb link.Port = a, b
	if baud > 0 {
		ca, hb = link.Pace(a, baud), link.Pace(b, baud)
	}
	r := card.NewRunner(c, ca, clock)
	r.Do(func(now time.Time) { c.Start(now) })
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	ns, err := host.NewNetstack(hb, host.Config{})
	if err != nil {
		cancel()
		ca.Close()
		<-done
		st.Close()
		t.Fatal(err)
	}
	ar := &appRig{path: path, skew: skew}
	ar.stopFn = func() {
		ns.Close()
		cancel()
		ca.Close()
		<-done
		st.Close()
	}
	t.Cleanup(ar.stop)
	wctx, wcancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer wcancel()
	if err := ns.WaitUp(wctx); err != nil {
		t.Fatalf("link did not come up: %v", err)
	}
	roots := x509.NewCertPool()
	leaf, err := x509.ParseCertificate(st.Certificate()[0])
	if err != nil {
		t.Fatal(err)
	}
	roots.AddCert(leaf)
	rg := &rig{card: c, runner: r, ns: ns, store: st, roots: roots, cardIP: ns.PeerIP()}
	rg.client = &nethttp.Client{
		Timeout: 60 * time.Second,
		Transport: &nethttp.Transport{
			DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
				return ns.Net().DialContext(ctx, network, addr)
			},
			TLSClientConfig: &stdtls.Config{RootCAs: roots, ServerName: "netcard.local"},
		},
	}
	ar.rig = rg
	return ar
}

// advance moves the card's clock d ahead (its timers see the jump; idle
// client connections are dropped so that none is reused across it).
func (ar *appRig) advance(d time.Duration) {
	ar.skew.Add(int64(d))
	ar.client.CloseIdleConnections()
}

// newAppRig starts a card on a fresh store in a temporary directory.
func newAppRig(t *testing.T, setup func(st *store.Store) error) *appRig {
	t.Helper()
	return startCard(t, filepath.Join(t.TempDir(), "card.img"), cardProfile(), setup)
}

// stop shuts the card down and closes its store (idempotent).
func (ar *appRig) stop() { ar.stopOnce.Do(ar.stopFn) }

// withStore runs f on the card's store inside the card's event loop (the
// store belongs to the card's single thread of control).
func (ar *appRig) withStore(f func(st *store.Store)) {
	ar.runner.Do(func(time.Time) { f(ar.store) })
}

// response is a fully read HTTP response.
type response struct {
	status int
	header nethttp.Header
	body   []byte
}

// do sends one request to the card over gVisor with Go's client. hdr holds
// "Name: value" pairs.
func (ar *appRig) do(t *testing.T, method, path string, body []byte, hdr ...string) response {
	t.Helper()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := nethttp.NewRequest(method, ar.url(path), rd)
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range hdr {
		k, v, _ := strings.Cut(h, ":")
		req.Header.Set(strings.TrimSpace(k), strings.TrimSpace(v))
	}
	resp, err := ar.client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading body: %v", method, path, err)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: b}
}

// bearer is the admin Authorization header.
func bearer(secret string) string { return "Authorization: Bearer " + secret }

// runCmd runs a program with a deadline and returns its combined output
// and error.
func runCmd(t *testing.T, timeout time.Duration, dir string, env []string, name string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	if env != nil {
		cmd.Env = append(os.Environ(), env...)
	}
	cmd.WaitDelay = 5 * time.Second
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// port returns the port of a host:port address.
func port(t *testing.T, addr string) int {
	t.Helper()
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	n, err := strconv.Atoi(p)
	if err != nil {
		t.Fatal(err)
	}
	return n
}
