package apps

import (
	"bytes"
	"fmt"
	"math"
	"netcard/internal/count/counttest"
	"strings"
	"testing"
	"testing/cryptotest"
	"time"
	"unsafe"

	"netcard/applet"
	"netcard/http"
	"netcard/tls"
)

// cardProfileHTTP is the card profile's HTTP configuration (card.Card:
// HTTPIn 2048, HTTPOut 3584, InPlace).
var cardProfileHTTP = http.ServerConfig{InBuf: 2048, OutBuf: 3584, InPlace: true}

// aeadBytes is what tls.Engine.Shed releases for an engine of the suite
// (both directions).
func aeadBytes(suite uint16) int {
	if suite == tls.TLS_CHACHA20_POLY1305_SHA256 {
		return 2 * 32
	}
	return 2 * 768
}

// shedSession is an established TLS 1.3 session with the card profile's
// HTTP configuration, its raw client offering only suite, after one GET.
func shedSession(t testing.TB, suite uint16) (*pair, *rawClient) {
	app, s, _, pki := newTestApp(t)
	cfg := SessionConfig{TLS: serverTLS(t, s, seeded(10)), RecordBuf: testRecvBuf, Handler: app.Serve, HTTP: cardProfileHTTP}
	p := newPairCfg(cfg, testRecvBuf, testSendBuf)
	c := newRawClient(t, p, pki.cardPool)
	c.e = tls.NewClient(&tls.Config{Rand: seeded(21), Time: func() time.Time { return testNow }, Client: &tls.ClientConfig{ServerName: "card.example", Roots: pki.cardPool},
		MaxRecordOut: 16384, CipherSuites: []uint16{suite}}, testRecvBuf)
	p.pumpRaw(t, c)
	if c.e.State() != tls.Established {
		t.Fatalf("handshake: %v %v", c.e.State(), c.e.Err())
	}
	if cs := p.srv.Engine().ConnectionState(); cs.CipherSuite != suite {
		t.Fatalf("suite %04x", cs.CipherSuite)
	}
	return p, c
}

// TestSessionShed: an established idle session releases the engine's AEAD
// state, the HTTP input buffer and request state and its ConnInfo; a
// second Shed releases nothing; the next request is answered; its burst
// allocates the AEADs again (AES-GCM 2 per direction, ChaCha20-Poly1305 1),
// HTTP's two buffers and the ConnInfo, and without Shed a request
// allocates nothing.
func TestSessionShed(t *testing.T) {
	for _, suite := range []uint16{tls.TLS_AES_128_GCM_SHA256, tls.TLS_AES_256_GCM_SHA384, tls.TLS_CHACHA20_POLY1305_SHA256} {
		t.Run(fmt.Sprintf("%04x", suite), func(t *testing.T) {
			p, c := shedSession(t, suite)
			req := []byte("GET /hello.txt HTTP/1.1\r\nHost: card.example\r\n\r\n")
			round := func() {
				c.got = c.got[:0]
				c.send(p.cst, req)
				p.pumpRaw(t, c)
				if !bytes.HasSuffix(c.got, []byte("hello from the card\n")) {
					t.Fatalf("response %q", c.got)
				}
			}
			round()
			before := p.srv.Footprint()
			httpBytes := 2048 + p.srv.hc.Footprint() - 2048 // the input buffer and the request state
			if p.srv.ci == nil {
				t.Fatal("no ConnInfo lent after a request")
			}
			lent := p.srv.Lent()
			n := p.srv.Shed()
			if want := aeadBytes(suite) + httpBytes + ConnInfoSize; n != want {
				t.Fatalf("Shed released %d, want %d (AEAD %d + HTTP %d + ConnInfo %d)", n, want, aeadBytes(suite), httpBytes, ConnInfoSize)
			}
			if p.srv.ci != nil || p.srv.Lent() != lent-n {
				t.Fatalf("after Shed: ConnInfo %p, lent %d (was %d, released %d)", p.srv.ci, p.srv.Lent(), lent, n)
			}
			if n := p.srv.Shed(); n != 0 {
				t.Fatalf("second Shed released %d", n)
			}
			t.Logf("suite %04x: Shed released %d bytes (AEAD %d, HTTP %d); footprint %d → %d", suite, n,
				aeadBytes(suite), httpBytes, before, p.srv.Footprint())
			round()
			want := 2.0 * 2
			if suite == tls.TLS_CHACHA20_POLY1305_SHA256 {
				want = 2 * 1
			}
			// the server's allocations in a burst after Shed (the raw client does not shed)
			a := testing.AllocsPerRun(20, func() {
				p.srv.Shed()
				round()
				round()
			})
			if a != want+3 {
				t.Fatalf("a burst after Shed allocates %v, want %v", a, want+3)
			}
			if a := testing.AllocsPerRun(20, round); a != 0 {
				t.Fatalf("%v allocations per request without Shed", a)
			}
		})
	}
}

// TestSessionShedMidRequest: Shed while half a request head has arrived,
// and while half a TLS record has arrived, keeps them; the request is
// answered.
func TestSessionShedMidRequest(t *testing.T) {
	p, c := shedSession(t, tls.TLS_AES_128_GCM_SHA256)
	c.send(p.cst, []byte("GET /hello.txt HTTP/1.1\r\nHo"))
	p.pumpRaw(t, c)
	if n := p.srv.Shed(); n != aeadBytes(tls.TLS_AES_128_GCM_SHA256) {
		t.Fatalf("Shed with half a request head released %d (the AEAD state only: %d)", n, aeadBytes(tls.TLS_AES_128_GCM_SHA256))
	}
	// half a record: the session waits for the rest
	hdr, _ := c.e.Overhead()
	msg := []byte("st: card.example\r\n\r\n")
	copy(c.rec[hdr:], msg)
	n := c.e.Wrap(c.rec, len(msg))
	p.cst.tx = append(p.cst.tx, c.rec[:n/2]...)
	p.pumpRaw(t, c)
	if len(p.sst.rx) != n/2 {
		t.Fatalf("%d bytes of the record wait, want %d", len(p.sst.rx), n/2)
	}
	if k := p.srv.Shed(); k != 0 {
		t.Fatalf("second Shed released %d", k)
	}
	p.cst.tx = append(p.cst.tx, c.rec[n/2:n]...)
	c.got = c.got[:0]
	p.pumpRaw(t, c)
	if !bytes.HasPrefix(c.got, []byte("HTTP/1.1 200 OK\r\n")) || !bytes.HasSuffix(c.got, []byte("hello from the card\n")) {
		t.Fatalf("response %q", c.got)
	}
}

// shedSessionRun is a seeded keep-alive exchange (handshake, GETs of a
// page and a missing file, a HEAD, a bad request that closes: 400): the bytes the server sent, in order. With shed, the session
// sheds before every Service call.
func shedSessionRun(t *testing.T, shed bool) []byte {
	cryptotest.SetGlobalRandom(t, 7) // the card's key and its signatures (Go 1.26 ignores Config.Rand there)
	app, s, _, pki := newTestApp(t)
	cfg := SessionConfig{TLS: serverTLS(t, s, seeded(10)), RecordBuf: testRecvBuf, Handler: app.Serve, HTTP: cardProfileHTTP}
	p := newPairCfg(cfg, testRecvBuf, testSendBuf)
	c := newRawClient(t, p, pki.cardPool)
	var wire []byte
	pump := func() {
		for i := 0; i < 10000; i++ {
			prog := c.step(p.cst)
			if transfer(p.cst, p.sst) {
				prog = true
			}
			if shed {
				p.srv.Shed()
			}
			if p.srv.Service(p.now) {
				prog = true
			}
			wire = append(wire, p.sst.tx...)
			if transfer(p.sst, p.cst) {
				prog = true
			}
			p.now = p.now.Add(10 * time.Millisecond)
			if !prog {
				return
			}
		}
		t.Fatal("no quiescence")
	}
	pump()
	for _, r := range []string{
		"GET /hello.txt HTTP/1.1\r\nHost: card.example\r\n\r\n",
		"GET /nope HTTP/1.1\r\nHost: card.example\r\n\r\nHEAD /hello.txt HTTP/1.1\r\nHost: card.example\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: card.example\r\nBad Header\r\n\r\n",
	} {
		for i := 0; i < len(r); i += 40 { // each request in several records
			c.send(p.cst, []byte(r[i:min(i+40, len(r))]))
			pump()
		}
	}
	for _, st := range []string{"HTTP/1.1 200 OK\r\n", "HTTP/1.1 404 ", "HTTP/1.1 400 "} {
		if !bytes.Contains(c.got, []byte(st)) {
			t.Fatalf("no %q in the responses %q", st, c.got)
		}
	}
	if !p.sst.finSent {
		t.Fatal("the bad request did not close the connection")
	}
	return wire
}

// TestSessionShedSameBytes: a session that sheds before every Service call
// sends exactly the bytes of one that never sheds (handshake, responses,
// errors, the close).
func TestSessionShedSameBytes(t *testing.T) {
	shedSessionRun(t, false) // one-time state that draws randomness
	want := shedSessionRun(t, false)
	if again := shedSessionRun(t, false); !bytes.Equal(again, want) {
		t.Fatal("the exchange is not deterministic")
	}
	got := shedSessionRun(t, true)
	if !bytes.Equal(got, want) {
		i := 0
		for i < min(len(got), len(want)) && got[i] == want[i] {
			i++
		}
		t.Fatalf("with Shed the server's bytes differ from byte %d (%d vs %d bytes)", i, len(got), len(want))
	}
	t.Logf("%d bytes from the server", len(want))
}

// TestSessionSize guards the size classes of a session (its struct within
// 176 bytes, its ConnInfo and upload hasher lent per request burst, the
// record offsets in 16 bits, no allocator header under 512: its two instants as 8-byte
// stamps (internal/stamp), its timeouts in 32-bit milliseconds, only the client certificate
// chain of the TLS state kept (TLSState builds the rest), the ConnInfo and applet.Conn
// flags packed, the start and linger times in one field, ConnInfo's time,
// peer, flags and body stream (Sink, Max) those of its embedded
// applet.Conn (144 bytes: the head's verdict status in 32 bits), the counters in 32
// bits) and of the App (80 bytes, TestAppSize: it keeps the store only in its Config,
// the admin's fetch state only once it has fetched, no credential
// scratch, its failure counter in 32 bits beside the fetch state).
func TestSessionSize(t *testing.T) {
	if n := unsafe.Sizeof(ServerSession{}); n > 176 {
		t.Errorf("ServerSession takes %d bytes, past the 176-byte size class", n)
	}
	if ConnInfoSize > 192 {
		t.Errorf("ConnInfo takes %d bytes, past the 192-byte size class", ConnInfoSize)
	}
	if n := unsafe.Sizeof(applet.Conn{}); n > 144 {
		t.Errorf("applet.Conn takes %d bytes, past 144", n)
	}
	if n := unsafe.Sizeof(App{}); n > 80 {
		t.Errorf("App takes %d bytes, past the 80-byte size class", n)
	}
}

// TestSessionStatsWiden: the session keeps every SessionStats counter, by
// name, in 32 bits and Stats widens each one (a counter added to
// SessionStats alone fails here); the admin failure counter stops at
// 2^32-1 rather than wrap.
func TestSessionStatsWiden(t *testing.T) {
	counttest.CheckWiden(t, (*sessionStats32).export, 0)
	app, _, _, _ := newTestApp(t)
	h := newRouteHarness(app, true)
	app.adminFails = math.MaxUint32 - 1
	for i := 0; i < 2; i++ {
		if r := h.do(t, "GET", "/admin/", []string{"Authorization: Bearer guess"}, nil); r.StatusCode != 403 {
			t.Fatalf("guess: %d", r.StatusCode)
		}
	}
	if n := app.AdminFailures(); n != math.MaxUint32 {
		t.Fatalf("admin failures %d after 2^32 wrong tokens", n)
	}
}

// TestAdminFetchStateOnDemand: an App that has not fetched holds no fetch
// state; showing the idle state or refusing a bad request allocates none;
// the first queued fetch does, and keeps it for GET /admin/fetch.
func TestAdminFetchStateOnDemand(t *testing.T) {
	app, _, _, _ := newTestApp(t)
	h := newRouteHarness(app, true)
	auth := []string{"Authorization: Bearer Zq3-vT8pL0xW_m4RkY7nB2cH"}
	if app.fetchHeld() {
		t.Fatal("a new App holds fetch state")
	}
	if r := h.do(t, "GET", "/admin/fetch", auth, nil); !strings.Contains(string(r.body), "state: idle") {
		t.Fatalf("idle: %q", r.body)
	}
	if r := h.do(t, "POST", "/admin/fetch?url=ftp://x/", auth, nil); r.StatusCode != 400 {
		t.Fatalf("bad scheme: %d", r.StatusCode)
	}
	if st, req, res := app.Fetch(); app.fetchHeld() || st != FetchIdle || req.URL != "" || res.Status != 0 {
		t.Fatalf("after idle GET and a refused POST: held %v, state %v", app.fetchHeld(), st)
	}
	if r := h.do(t, "POST", "/admin/fetch?url=https://example.org/", auth, nil); r.StatusCode != 202 {
		t.Fatalf("queue: %d %q", r.StatusCode, r.body)
	}
	if st, req, _ := app.Fetch(); !app.fetchHeld() || st != FetchQueued || req.URL != "https://example.org/" {
		t.Fatalf("queued: state %v, request %+v", st, req)
	}
}

// BenchmarkShedGET is a keep-alive GET of a small file on the card
// profile's HTTP configuration, with (shed) or without a Shed of the
// server session before each: the difference is what a burst after an idle
// Shed costs (rebuilding the AEAD states, allocating the HTTP buffers).
func BenchmarkShedGET(b *testing.B) {
	for _, suite := range []uint16{tls.TLS_AES_128_GCM_SHA256, tls.TLS_CHACHA20_POLY1305_SHA256} {
		for _, shed := range []bool{false, true} {
			b.Run(fmt.Sprintf("%04x/shed=%v", suite, shed), func(b *testing.B) {
				p, c := shedSession(b, suite)
				req := []byte("GET /hello.txt HTTP/1.1\r\nHost: card.example\r\n\r\n")
				b.ReportAllocs()
				for b.Loop() {
					if shed {
						p.srv.Shed()
					}
					c.got = c.got[:0]
					c.send(p.cst, req)
					p.pumpRaw(b, c)
				}
				if !bytes.HasSuffix(c.got, []byte("hello from the card\n")) {
					b.Fatalf("response %q", c.got)
				}
			})
		}
	}
}

// TestSessionTimeoutsMS: a session keeps its timeouts in 32-bit
// milliseconds: whole milliseconds exactly (the defaults and every
// configured value in the tree), a fraction rounded up (never a shorter
// timeout), and at least 1 ms, at most 2^31-1 ms.
func TestSessionTimeoutsMS(t *testing.T) {
	for _, c := range []struct {
		d    time.Duration
		want time.Duration
	}{{10 * time.Second, 10 * time.Second}, {2 * time.Second, 2 * time.Second}, {time.Minute, time.Minute},
		{1500 * time.Microsecond, 2 * time.Millisecond}, {time.Nanosecond, time.Millisecond},
		{100 * 24 * time.Hour, (1<<31 - 1) * time.Millisecond}} {
		p := sessionParams{hsMS: ms(c.d), lingerMS: ms(c.d), stallMS: ms(c.d)}
		if p.HandshakeTimeout() != c.want || p.Linger() != c.want || p.SendStall() != c.want {
			t.Errorf("%v kept as %v, want %v", c.d, p.HandshakeTimeout(), c.want)
		}
	}
	s := NewServerSession(SessionConfig{})
	if s.cfg.HandshakeTimeout() != 10*time.Second || s.cfg.Linger() != 2*time.Second || s.cfg.SendStall() != time.Minute {
		t.Fatalf("defaults %v %v %v", s.cfg.HandshakeTimeout(), s.cfg.Linger(), s.cfg.SendStall())
	}
}

// TestSessionTimeoutHuge: a timeout near the largest Duration (a
// configuration meaning "never") is kept as the longest, 2^31-1 ms, not
// wrapped by the rounding up into a negative value and raised to 1 ms
// (which timed every session out at once).
func TestSessionTimeoutHuge(t *testing.T) {
	for _, d := range []time.Duration{math.MaxInt64, math.MaxInt64 - time.Millisecond + 2, 1<<63 - 1 - 500*time.Microsecond} {
		if got := ms(d); got != 1<<31-1 {
			t.Errorf("%d ns kept as %d ms, want %d", int64(d), got, 1<<31-1)
		}
	}
	s := NewServerSession(SessionConfig{HandshakeTimeout: math.MaxInt64, Linger: math.MaxInt64, SendStallTimeout: math.MaxInt64})
	if want := (1<<31 - 1) * time.Millisecond; s.cfg.HandshakeTimeout() != want || s.cfg.Linger() != want || s.cfg.SendStall() != want {
		t.Fatalf("timeouts %v %v %v", s.cfg.HandshakeTimeout(), s.cfg.Linger(), s.cfg.SendStall())
	}
}

// fetchHeld reports whether the App holds an admin fetch's state.
func (a *App) fetchHeld() bool { return a.x != nil && a.x.fetch != nil }
