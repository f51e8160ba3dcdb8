package apps

import (
	"bytes"
	"context"
	gotls "crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	nethttp "net/http"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"netcard/http"
	"netcard/ipv4"
	"netcard/ipv6"
	"netcard/store"
	"netcard/tls"
)

// pair is a server session and a client stream joined in memory, with a
// manual clock.
type pair struct {
	srv *ServerSession
	sst *memStream // server end
	cst *memStream // client end
	now time.Time
	rx  int
	tx  int

	allocs uint64
}

func (p *pair) pump(t testing.TB, c *ClientSession) {
	t.Helper()
	for i := 0; i < 10000; i++ {
		prog := transfer(p.cst, p.sst)
		if p.srv.Service(p.now) {
			prog = true
		}
		if transfer(p.sst, p.cst) {
			prog = true
		}
		if c != nil && c.Service(p.now) {
			prog = true
		}
		if !prog {
			return
		}
	}
	t.Fatal("no quiescence")
}

const (
	testRecvBuf = 16384 + 256 + 5
	testSendBuf = 2048
)

func newPair(t testing.TB, app *App, tcfg *tls.Config) *pair {
	return newPairCfg(SessionConfig{TLS: tcfg, RecordBuf: testRecvBuf, Handler: app.Serve}, testRecvBuf, testSendBuf)
}

func newPairCfg(cfg SessionConfig, rx, tx int) *pair {
	p := &pair{now: testNow, rx: rx, tx: tx}
	p.srv = NewServerSession(cfg)
	p.reset()
	return p
}

func (p *pair) reset() {
	p.sst = newMemStream(p.rx, p.tx)
	p.cst = newMemStream(testRecvBuf, testSendBuf)
	p.srv.Reset(p.sst)
}

func TestSessionWithClientSession(t *testing.T) {
	app, s, _, pki := newTestApp(t)
	p := newPair(t, app, serverTLS(t, s, seeded(10)))
	cs := NewClientSession(ClientConfig{RecordBuf: testRecvBuf})

	fetch := func(raw string, mtls bool, body string) FetchResult {
		t.Helper()
		req, err := ParseURL(raw)
		if err != nil {
			t.Fatal(err)
		}
		if body != "" {
			req.Method, req.Body, req.ContentType = "POST", []byte(body), "text/plain"
		}
		var cfg *tls.Config
		if req.TLS {
			cfg, err = ClientTLS(s, seeded(11), func() time.Time { return testNow }, req.Host, mtls)
			if err != nil {
				t.Fatal(err)
			}
		}
		if err := cs.Start(p.cst, &req, cfg, p.now); err != nil {
			t.Fatal(err)
		}
		p.pump(t, cs)
		if !cs.Done() {
			t.Fatalf("%s: client not done", raw)
		}
		if !p.srv.Done() {
			t.Fatalf("%s: server not done", raw)
		}
		if !p.sst.closed || !p.sst.finSent {
			t.Fatal("server stream not closed")
		}
		res := cs.Result()
		p.reset()
		return res
	}
	r := fetch("https://card.example/hello.txt", false, "")
	if r.Err != "" || r.Status != 200 || string(r.Body) != "hello from the card\n" {
		t.Fatalf("fetch: %+v", r)
	}
	st := p.srv.Stats()
	if st.Handshakes != 1 || st.Requests != 1 || st.TLSFailures != 0 {
		t.Fatalf("stats %+v", st)
	}
	// Mutual TLS with the card's own certificate: not the admin key.
	if r := fetch("https://card.example/admin/", true, ""); r.Status != 403 {
		t.Fatalf("card cert as admin: %+v", r)
	}
	// Name mismatch: the client refuses the server.
	r = fetch("https://other.example/hello.txt", false, "")
	if r.Err == "" || r.Status != 0 {
		t.Fatalf("name mismatch accepted: %+v", r)
	}
	if p.srv.Stats().TLSFailures != 1 {
		t.Fatalf("server did not see the alert: %+v", p.srv.Stats())
	}
	// Unknown anchor.
	s.SetAnchors([][]byte{pki.otherCert})
	r = fetch("https://card.example/hello.txt", false, "")
	if r.Err == "" || !strings.Contains(r.Err, "unknown_ca") {
		t.Fatalf("untrusted server accepted: %+v", r)
	}
	s.SetAnchors([][]byte{pki.cardCert})
	// Plain HTTP to the TLS port is not HTTP: the handshake fails.
	if r = fetch("http://card.example/hello.txt", false, ""); r.Status != 0 {
		t.Fatalf("plain to TLS: %+v", r)
	}
}

func TestPlainSessionRedirect(t *testing.T) {
	app, _, _, _ := newTestApp(t)
	p := newPair(t, app, nil)
	cs := NewClientSession(ClientConfig{})
	req, _ := ParseURL("http://card.example/status")
	if err := cs.Start(p.cst, &req, nil, p.now); err != nil {
		t.Fatal(err)
	}
	p.pump(t, cs)
	r := cs.Result()
	if r.Status != 301 || string(cs.Response().Get("location")) != "https://card.example/status" || !p.srv.Done() {
		t.Fatalf("redirect: %+v", r)
	}
}

// rawClient drives the tls package's client engine by hand over the pair,
// keeping the connection open (keep-alive).
type rawClient struct {
	e   *tls.Engine
	rec []byte
	got []byte
}

func newRawClient(t testing.TB, s *pair, roots *x509.CertPool) *rawClient {
	cfg := &tls.Config{Rand: seeded(21), Time: func() time.Time { return testNow }, Client: &tls.ClientConfig{ServerName: "card.example", Roots: roots}, MaxRecordOut: 16384}
	c := &rawClient{e: tls.NewClient(cfg, testRecvBuf), rec: make([]byte, 16384+64), got: make([]byte, 0, 65536)}
	return c
}

// step moves client records both ways; it reports progress.
func (c *rawClient) step(st *memStream) bool {
	p := false
	for c.e.Pending() > 0 && len(st.Free()) > 0 {
		st.Commit(c.e.Output(st.Free()))
		p = true
	}
	for {
		n, plain, err := c.e.Unwrap(st.Peek())
		if err != nil || n == 0 {
			return p
		}
		c.got = append(c.got, plain...)
		st.Consume(n)
		p = true
	}
}

func (c *rawClient) send(st *memStream, msg []byte) {
	hdr, _ := c.e.Overhead()
	copy(c.rec[hdr:], msg)
	n := c.e.Wrap(c.rec, len(msg))
	st.tx = append(st.tx, c.rec[:n]...)
}

func (p *pair) pumpRaw(t testing.TB, c *rawClient) {
	for i := 0; i < 10000; i++ {
		prog := c.step(p.cst)
		if transfer(p.cst, p.sst) {
			prog = true
		}
		if p.srv.Service(p.now) {
			prog = true
		}
		if transfer(p.sst, p.cst) {
			prog = true
		}
		if !prog {
			return
		}
	}
	t.Fatal("no quiescence")
}

func TestKeepAliveAllocs(t *testing.T) {
	app, s, _, pki := newTestApp(t)
	p := newPair(t, app, serverTLS(t, s, seeded(10)))
	c := newRawClient(t, p, pki.cardPool)
	p.pumpRaw(t, c)
	if c.e.State() != tls.Established {
		t.Fatalf("handshake: %v %v", c.e.State(), c.e.Err())
	}
	req := []byte("GET /hello.txt HTTP/1.1\r\nHost: card.example\r\n\r\n")
	want := "hello from the card\n"
	round := func() {
		c.got = c.got[:0]
		c.send(p.cst, req)
		p.pumpRaw(t, c)
	}
	round()
	if !bytes.HasPrefix(c.got, []byte("HTTP/1.1 200 OK\r\n")) || !bytes.HasSuffix(c.got, []byte(want)) {
		t.Fatalf("response %q", c.got)
	}
	allocs := testing.AllocsPerRun(200, round)
	if !bytes.HasSuffix(c.got, []byte(want)) {
		t.Fatalf("response %q", c.got)
	}
	t.Logf("allocs per keep-alive GET round trip (client+server): %v; session footprint %d bytes", allocs, p.srv.Footprint())
	if allocs != 0 {
		t.Errorf("allocs per request = %v, want 0", allocs)
	}
	if st := p.srv.Stats(); st.RecordsIn < 200 || p.srv.Done() {
		t.Fatalf("stats %+v", st)
	}
}

func BenchmarkKeepAliveGET(b *testing.B) {
	for _, size := range []int{20, 1024, 16384} {
		b.Run(itoa(size), func(b *testing.B) {
			app, s, _, pki := newTestApp(b)
			body := bytes.Repeat([]byte("0123456789abcdef"), 1024)[:size]
			s.PutFile("k.bin", "application/octet-stream", body)
			p := newPair(b, app, serverTLS(b, s, seeded(10)))
			c := newRawClient(b, p, pki.cardPool)
			p.pumpRaw(b, c)
			req := []byte("GET /k.bin HTTP/1.1\r\nHost: card.example\r\n\r\n")
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			for b.Loop() {
				c.got = c.got[:0]
				c.send(p.cst, req)
				p.pumpRaw(b, c)
			}
			if !bytes.HasSuffix(c.got, body) {
				b.Fatalf("response %q", c.got)
			}
		})
	}
}

func BenchmarkHandshake(b *testing.B) {
	app, s, _, pki := newTestApp(b)
	p := newPair(b, app, serverTLS(b, s, seeded(10)))
	b.ReportAllocs()
	for b.Loop() {
		c := newRawClient(b, p, pki.cardPool)
		p.pumpRaw(b, c)
		if c.e.State() != tls.Established {
			b.Fatal("handshake failed")
		}
		p.reset()
	}
}

// bridge runs a ServerSession behind a net.Conn: a goroutine owns the
// session and shuttles bytes between the net.Pipe and the memory streams.
type bridge struct {
	conn net.Conn // the client's end
	done chan struct{}
	mu   sync.Mutex
	stat SessionStats
}

func startBridge(t *testing.T, srv *ServerSession) *bridge {
	cEnd, sEnd := net.Pipe()
	sst := newMemStream(testRecvBuf, testSendBuf)
	srv.Reset(sst)
	br := &bridge{conn: cEnd}
	br.done = drive(t, sEnd, sst, srv.Service, srv.Done, func() {
		br.mu.Lock()
		br.stat = srv.Stats()
		br.mu.Unlock()
	})
	return br
}

// drive is the card's loop for one connection in a test: a reader goroutine
// moves bytes from conn into st, and the loop goroutine calls svc and writes
// what st queued back to conn, until done. The returned channel closes at
// the end (after atEnd ran).
func drive(t testing.TB, conn net.Conn, st *memStream, svc func(time.Time) bool, done func() bool, atEnd func()) chan struct{} {
	finished := make(chan struct{})
	in := make(chan []byte, 64)
	go func() {
		defer close(in)
		for {
			b := make([]byte, 4096)
			n, err := conn.Read(b)
			if n > 0 {
				in <- b[:n]
			}
			if err != nil {
				return
			}
		}
	}()
	go func() {
		defer close(finished)
		defer conn.Close()
		now := testNow
		var pend []byte
		eof, wclosed := false, false
		first := true
		for !done() {
			if len(pend) == 0 && !eof && !first {
				select {
				case b, ok := <-in:
					if !ok {
						eof = true
					}
					pend = b
				case <-time.After(30 * time.Second):
					t.Error("drive: no input for 30s")
					return
				}
			}
			first = false
			k := copy(st.rx[len(st.rx):cap(st.rx)], pend)
			st.rx = st.rx[:len(st.rx)+k]
			pend = pend[k:]
			if eof && len(pend) == 0 {
				st.finRcvd = true
			}
			now = now.Add(time.Millisecond)
			for {
				prog := svc(now)
				if len(st.tx) > 0 {
					if _, err := conn.Write(st.tx); err != nil {
						st.err = err
					}
					st.tx = st.tx[:0]
					prog = true
				}
				if !prog {
					break
				}
			}
			if st.finSent && len(st.tx) == 0 && !wclosed {
				wclosed = true
				if tc, ok := conn.(*net.TCPConn); ok {
					tc.CloseWrite()
				} else {
					conn.Close()
				}
			}
		}
		if atEnd != nil {
			atEnd()
		}
	}()
	return finished
}

func TestGoClientInterop(t *testing.T) {
	app, s, _, pki := newTestApp(t)
	s.PutFile("big.bin", "application/octet-stream", bytes.Repeat([]byte("netcard "), 2000))
	srv := NewServerSession(SessionConfig{TLS: serverTLS(t, s, seeded(10)), RecordBuf: testRecvBuf, Handler: app.Serve})
	br := startBridge(t, srv)
	used := false
	ac, _ := x509.ParseCertificate(pki.adminCert)
	tr := &nethttp.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			if used {
				return nil, errors.New("only one connection")
			}
			used = true
			return br.conn, nil
		},
		TLSClientConfig: &gotls.Config{RootCAs: pki.cardPool, ServerName: "card.example", Time: func() time.Time { return testNow },
			Certificates: []gotls.Certificate{{Certificate: [][]byte{pki.adminCert}, PrivateKey: pki.adminKey, Leaf: ac}}},
		ForceAttemptHTTP2: false,
	}
	cl := &nethttp.Client{Transport: tr, Timeout: 10 * time.Second}
	get := func(path string, hdr ...string) (*nethttp.Response, string) {
		t.Helper()
		req, _ := nethttp.NewRequest("GET", "https://card.example"+path, nil)
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		resp, err := cl.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp, string(b)
	}
	for i := 0; i < 100; i++ {
		if r, b := get("/hello.txt"); r.StatusCode != 200 || b != "hello from the card\n" {
			t.Fatalf("req %d: %d %q", i, r.StatusCode, b)
		}
	}
	if r, b := get("/big.bin"); r.StatusCode != 200 || len(b) != 16000 {
		t.Fatalf("big: %d %d", r.StatusCode, len(b))
	}
	if r, b := get("/big.bin", "Range", "bytes=8-15"); r.StatusCode != 206 || b != "netcard " {
		t.Fatalf("range: %d %q", r.StatusCode, b)
	}
	f, _ := s.File("hello.txt")
	if r, _ := get("/hello.txt", "If-None-Match", f.ETag); r.StatusCode != 304 {
		t.Fatalf("conditional: %d", r.StatusCode)
	}
	// The Go client presented the admin certificate: mutual-TLS admin.
	req, _ := nethttp.NewRequest("PUT", "https://card.example/admin/files/new.txt", strings.NewReader("uploaded"))
	req.Header.Set("Content-Type", "text/plain")
	resp, err := cl.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 201 {
		t.Fatalf("mTLS admin put: %d", resp.StatusCode)
	}
	if r, b := get("/new.txt"); r.StatusCode != 200 || b != "uploaded" {
		t.Fatalf("uploaded: %d %q", r.StatusCode, b)
	}
	// Chunked request body to the vault.
	req, _ = nethttp.NewRequest("PUT", "https://card.example/vault/note", io.MultiReader(strings.NewReader("chunked "), strings.NewReader("body")))
	req.SetBasicAuth("me", "4711")
	req.ContentLength = -1
	resp, err = cl.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 201 {
		t.Fatalf("vault put: %d", resp.StatusCode)
	}
	if f, _ := s.File("vault/note"); string(f.Data) != "chunked body" {
		t.Fatalf("vault record %q", f.Data)
	}
	if r, b := get("/status"); r.StatusCode != 200 || !strings.Contains(b, "new.txt") {
		t.Fatalf("status: %d", r.StatusCode)
	}
	tr.CloseIdleConnections()
	select {
	case <-br.done:
	case <-time.After(10 * time.Second):
		t.Fatal("session did not finish after the client closed")
	}
	br.mu.Lock()
	st := br.stat
	br.mu.Unlock()
	if st.Handshakes != 1 || st.Requests != 107 || st.ClosesClean != 1 || st.TLSFailures != 0 {
		t.Fatalf("stats %+v", st)
	}
	if !srv.Info().TLS || len(srv.Info().PeerCertificates) != 1 {
		t.Fatal("client certificate not recorded")
	}
	// the full TLS state is built from the engine on demand, not held per session
	if cs := srv.TLSState(); cs.Version != tls.VersionTLS13 || cs.CipherSuite == 0 || len(cs.PeerCertificates) != 1 ||
		cs.PeerCertificates[0] != srv.Info().PeerCertificates[0] {
		t.Fatalf("TLSState %+v", cs)
	}
	_ = http.MaxHeaders
}

// TestSmallBuffers runs pipelined requests through a Tiny-like session:
// 512-byte send buffer, 256-byte records, a 1 KiB HTTP input buffer that
// cannot take the whole decrypted record at once.
func TestSmallBuffers(t *testing.T) {
	for _, inPlace := range []bool{false, true} {
		t.Run(map[bool]string{false: "buffered", true: "in-place"}[inPlace], func(t *testing.T) {
			testSmallBuffers(t, inPlace)
		})
	}
}

func testSmallBuffers(t *testing.T, inPlace bool) {
	app, s, _, pki := newTestApp(t)
	big := bytes.Repeat([]byte("0123456789"), 500)
	s.PutFile("big.txt", "text/plain", big)
	tcfg := serverTLS(t, s, seeded(10))
	tcfg.MaxRecordOut = 256
	p := newPairCfg(SessionConfig{TLS: tcfg, RecordBuf: testRecvBuf, Handler: app.Serve,
		HTTP: http.ServerConfig{InBuf: 1024, OutBuf: 1024, HeaderReserve: 256, InPlace: inPlace}}, testRecvBuf, 512)
	c := newRawClient(t, p, pki.cardPool)
	p.pumpRaw(t, c)
	var reqs []byte
	for i := 0; i < 12; i++ {
		path := "/hello.txt"
		if i%4 == 3 {
			path = "/big.txt"
		}
		reqs = append(reqs, "GET "+path+" HTTP/1.1\r\nHost: card.example\r\nUser-Agent: a-rather-long-user-agent-string-to-fill-the-buffer\r\n\r\n"...)
	}
	if len(reqs) <= 1024 {
		t.Fatalf("pipeline of %d bytes does not overflow the input buffer", len(reqs))
	}
	c.got = c.got[:0]
	c.send(p.cst, reqs)
	p.pumpRaw(t, c)
	got := c.got
	for i := 0; i < 12; i++ {
		want := []byte("hello from the card\n")
		if i%4 == 3 {
			want = big
		}
		j := bytes.Index(got, []byte("\r\n\r\n"))
		if j < 0 || !bytes.HasPrefix(got, []byte("HTTP/1.1 200 OK\r\n")) {
			t.Fatalf("response %d: %.80q", i, got)
		}
		got = got[j+4:]
		if !bytes.HasPrefix(got, want) {
			t.Fatalf("response %d body: %.80q", i, got)
		}
		got = got[len(want):]
	}
	if len(got) != 0 || p.srv.Stats().RecordsOut < uint64(3*len(big)/256) {
		t.Fatalf("left %d bytes, stats %+v", len(got), p.srv.Stats())
	}
}

func TestHandshakeTimeoutAndIdleClose(t *testing.T) {
	app, s, _, pki := newTestApp(t)
	p := newPairCfg(SessionConfig{TLS: serverTLS(t, s, seeded(10)), Handler: app.Serve, HandshakeTimeout: 5 * time.Second,
		Linger: time.Second, HTTP: http.ServerConfig{IdleTimeout: 30 * time.Second}}, testRecvBuf, testSendBuf)
	// A client that connects and says nothing.
	p.srv.Service(p.now)
	if nx := p.srv.Next(); !nx.Equal(p.now.Add(5 * time.Second)) {
		t.Fatalf("next %v", nx)
	}
	p.now = p.now.Add(5 * time.Second)
	p.pump(t, nil)
	if !p.sst.finSent || p.srv.Done() {
		t.Fatal("no FIN after the handshake timeout")
	}
	p.now = p.now.Add(time.Second)
	p.pump(t, nil)
	if !p.srv.Done() || !p.sst.closed || p.srv.Stats().Timeouts != 1 {
		t.Fatalf("not closed after linger: %+v", p.srv.Stats())
	}
	// An idle established connection: close_notify, FIN, and the peer's FIN.
	p.now = testNow
	p.reset()
	c := newRawClient(t, p, pki.cardPool)
	p.pumpRaw(t, c)
	c.send(p.cst, []byte("GET /hello.txt HTTP/1.1\r\nHost: x\r\n\r\n"))
	p.pumpRaw(t, c)
	p.now = p.now.Add(31 * time.Second)
	p.pumpRaw(t, c)
	if _, _, err := c.e.Unwrap(p.cst.Peek()); err != io.EOF && c.e.State() != tls.Closed {
		t.Fatalf("client did not get close_notify: %v %v", err, c.e.State())
	}
	if !p.cst.finRcvd || p.srv.Done() {
		t.Fatal("no FIN after idle timeout")
	}
	p.cst.CloseWrite()
	p.pumpRaw(t, c)
	if !p.srv.Done() || !p.sst.closed {
		t.Fatal("not done after the peer's FIN")
	}
}

func TestStreamReset(t *testing.T) {
	app, s, _, _ := newTestApp(t)
	p := newPair(t, app, serverTLS(t, s, seeded(10)))
	p.sst.err = errors.New("reset")
	if !p.srv.Service(p.now) || !p.srv.Done() || !p.sst.closed {
		t.Fatal("reset stream not released")
	}
}

type remoteStream struct{ *memStream }

func (remoteStream) Remote() (ipv6.Addr, uint16) { return ipv6.From4(ipv4.Addr{10, 0, 0, 1}), 40000 }

func TestConnInfoRemote(t *testing.T) {
	var seen ConnInfo
	srv := NewServerSession(SessionConfig{Handler: func(ci *ConnInfo, r *http.Request, w *http.ResponseWriter) {
		seen = *ci
		w.Header.Status = 204
	}})
	st := newMemStream(4096, 4096)
	srv.Reset(remoteStream{st})
	st.rx = append(st.rx, "GET / HTTP/1.1\r\nHost: x\r\n\r\n"...)
	srv.Service(testNow)
	if seen.TLS || seen.Remote.String() != "10.0.0.1:40000" || !seen.Now.Equal(testNow) ||
		!bytes.HasPrefix(st.tx, []byte("HTTP/1.1 204 ")) {
		t.Fatalf("%+v %q", seen, st.tx)
	}
	st.finRcvd = true
	srv.Service(testNow)
	if !srv.Done() || !st.closed {
		t.Fatal("plain session not closed after the peer's FIN")
	}
	if c := srv.Stats(); c.Requests != 1 || len(c.AppendCounters(nil)) == 0 {
		t.Fatalf("%+v", c)
	}
}

func TestIdleAfterHandshake(t *testing.T) {
	app, s, _, pki := newTestApp(t)
	p := newPairCfg(SessionConfig{TLS: serverTLS(t, s, seeded(10)), Handler: app.Serve,
		HTTP: http.ServerConfig{IdleTimeout: 30 * time.Second}}, testRecvBuf, testSendBuf)
	c := newRawClient(t, p, pki.cardPool)
	p.pumpRaw(t, c)
	if c.e.State() != tls.Established {
		t.Fatal("no handshake")
	}
	if nx := p.srv.Next(); !nx.Equal(testNow.Add(30 * time.Second)) {
		t.Fatalf("next %v", nx)
	}
	p.now = p.now.Add(30 * time.Second)
	p.pumpRaw(t, c)
	if !p.cst.finRcvd {
		t.Fatal("silent client kept its slot")
	}
}

// TestServerHandshakeAllocs counts what the server side allocates per
// connection (engine creation at Reset plus the handshake), apart from the
// client's allocations.
func TestServerHandshakeAllocs(t *testing.T) {
	app, s, _, pki := newTestApp(t)
	tcfg := serverTLS(t, s, seeded(10))
	tcfg.ClientAuth = tls.NoClientCert
	p := newPair(t, app, tcfg)
	var ms runtime.MemStats
	count := func(f func() bool) bool {
		runtime.ReadMemStats(&ms)
		before := ms.Mallocs
		r := f()
		runtime.ReadMemStats(&ms)
		p.allocs += ms.Mallocs - before
		return r
	}
	const conns = 10
	for i := 0; i < conns; i++ {
		c := newRawClient(t, p, pki.cardPool)
		for j := 0; j < 100; j++ {
			prog := c.step(p.cst)
			prog = transfer(p.cst, p.sst) || prog
			prog = count(func() bool { return p.srv.Service(p.now) }) || prog
			prog = transfer(p.sst, p.cst) || prog
			if !prog {
				break
			}
		}
		if c.e.State() != tls.Established {
			t.Fatal("no handshake")
		}
		count(func() bool { p.reset(); return true })
	}
	t.Logf("server allocations per connection (engine + handshake): %d", p.allocs/conns)
}

// TestTinyProfile runs the card's smallest profile end to end: a 1 KiB
// receive buffer (the TLS record buffer), record_size_limit 512 announced,
// 256-byte records out of a 512-byte send buffer, small HTTP buffers; the
// card's own client engine honours the limit.
func TestTinyProfile(t *testing.T) {
	app, s, _, _ := newTestApp(t)
	tcfg := serverTLS(t, s, seeded(10))
	tcfg.RecordSizeLimit, tcfg.MaxRecordOut, tcfg.ClientAuth = 512, 256, tls.NoClientCert
	p := newPairCfg(SessionConfig{TLS: tcfg, RecordBuf: 1024, Handler: app.Serve,
		HTTP: http.ServerConfig{InBuf: 1536, OutBuf: 768, HeaderReserve: 256}}, 1024, 512)
	cs := NewClientSession(ClientConfig{RecordBuf: testRecvBuf})
	body := strings.Repeat("tiny ", 200)
	req, _ := ParseURL("https://card.example/vault/tiny")
	req.Method, req.Body, req.ContentType = "PUT", []byte(body), "text/plain"
	req.Extra = "Authorization: Basic dTo0NzEx\r\n"
	if err := cs.Start(p.cst, &req, mustClientTLS(t, s), p.now); err != nil {
		t.Fatal(err)
	}
	p.pump(t, cs)
	if r := cs.Result(); r.Status != 201 {
		t.Fatalf("tiny PUT: %+v", r)
	}
	if cs.Engine().ConnectionState().PeerRecordLimit > 511 {
		t.Fatalf("client ignored record_size_limit: %d", cs.Engine().ConnectionState().PeerRecordLimit)
	}
	p.reset()
	req, _ = ParseURL("https://card.example/vault/tiny")
	req.Extra = "Authorization: Basic dTo0NzEx\r\n"
	cs.Start(p.cst, &req, mustClientTLS(t, s), p.now)
	p.pump(t, cs)
	if r := cs.Result(); r.Status != 200 || string(r.Body) != body {
		t.Fatalf("tiny GET: %+v", r)
	}
}

func mustClientTLS(t testing.TB, s *store.Store) *tls.Config {
	cfg, err := ClientTLS(s, seeded(12), func() time.Time { return testNow }, "card.example", false)
	if err != nil {
		t.Fatal(err)
	}
	cfg.RecordSizeLimit = 16385
	return cfg
}

// FuzzServerSession feeds arbitrary bytes to a TLS server session: it must
// fail cleanly (alert, FIN, Close) and never panic, with the session shed
// (Shed) before every other Service call.
func FuzzServerSession(f *testing.F) {
	f.Add([]byte("\x16\x03\x01\x00\x05\x01\x00\x00\x01\x00"))
	f.Add([]byte("\x17\x03\x03\x00\x20" + strings.Repeat("x", 32)))
	f.Add([]byte("GET / HTTP/1.1\r\n\r\n"))
	app, s, _, _ := newTestApp(f)
	p := newPair(f, app, serverTLS(f, s, seeded(10)))
	f.Fuzz(func(t *testing.T, in []byte) {
		p.reset()
		p.sst.rx = append(p.sst.rx, in[:min(len(in), cap(p.sst.rx))]...)
		p.sst.finRcvd = true
		for i := 0; i < 10 && !p.srv.Done(); i++ {
			if i%2 == 1 {
				p.srv.Shed()
			}
			p.srv.Service(p.now)
			p.sst.tx = p.sst.tx[:0]
			p.now = p.now.Add(3 * time.Second)
		}
		if !p.srv.Done() || !p.sst.closed {
			t.Fatal("session did not end")
		}
	})
}

// TestInPlaceResponses composes responses in the send buffer (Card-like:
// 3,835-byte send buffer, 1 KiB records): a written body larger than one
// record is cut into records in place, over keep-alive, without
// allocating.
func TestInPlaceResponses(t *testing.T) {
	app, s, _, pki := newTestApp(t)
	tcfg := serverTLS(t, s, seeded(10))
	tcfg.MaxRecordOut = 1024
	p := newPairCfg(SessionConfig{TLS: tcfg, RecordBuf: testRecvBuf, Handler: app.Serve,
		HTTP: http.ServerConfig{InBuf: 2048, OutBuf: 3584, InPlace: true}}, testRecvBuf, 3835)
	c := newRawClient(t, p, pki.cardPool)
	p.pumpRaw(t, c)
	for _, path := range []string{"/status", "/status.json", "/hello.txt"} {
		c.got = c.got[:0]
		c.send(p.cst, []byte("GET "+path+" HTTP/1.1\r\nHost: card.example\r\n\r\n"))
		p.pumpRaw(t, c)
		j := bytes.Index(c.got, []byte("\r\n\r\n"))
		if j < 0 || !bytes.HasPrefix(c.got, []byte("HTTP/1.1 200 OK\r\n")) {
			t.Fatalf("%s: %.200q", path, c.got)
		}
		var cl int
		for _, line := range strings.Split(string(c.got[:j]), "\r\n") {
			if v, ok := strings.CutPrefix(line, "Content-Length: "); ok {
				cl, _ = strconv.Atoi(v)
			}
		}
		if body := c.got[j+4:]; cl == 0 || len(body) != cl {
			t.Fatalf("%s: content-length %d, body %d bytes", path, cl, len(body))
		}
		if path == "/status" && cl < 1024 {
			t.Fatalf("status page of %d bytes does not span records", cl)
		}
	}
	if st := p.srv.Stats(); st.RecordsOut < 4 {
		t.Fatalf("stats %+v", st)
	}
	req := []byte("GET /hello.txt HTTP/1.1\r\nHost: card.example\r\n\r\n")
	allocs := testing.AllocsPerRun(100, func() {
		c.got = c.got[:0]
		c.send(p.cst, req)
		p.pumpRaw(t, c)
	})
	if allocs != 0 || !bytes.HasSuffix(c.got, []byte("hello from the card\n")) {
		t.Fatalf("allocs %v, response %q", allocs, c.got)
	}
}

// TestInPlaceWaitBeforeCloseNotify: a pipelined request that must wait for
// send room is still answered when the client's close_notify follows it in
// the same flight (the session reads nothing more until it is answered).
func TestInPlaceWaitBeforeCloseNotify(t *testing.T) {
	app, s, _, pki := newTestApp(t)
	tcfg := serverTLS(t, s, seeded(10))
	tcfg.MaxRecordOut = 1024
	p := newPairCfg(SessionConfig{TLS: tcfg, RecordBuf: testRecvBuf, Handler: app.Serve,
		HTTP: http.ServerConfig{InBuf: 2048, OutBuf: 3584, InPlace: true}}, testRecvBuf, 3835)
	c := newRawClient(t, p, pki.cardPool)
	p.pumpRaw(t, c)
	c.got = c.got[:0]
	c.send(p.cst, []byte("GET /hello.txt HTTP/1.1\r\nHost: card.example\r\n\r\n"))
	c.send(p.cst, []byte("GET /hello.txt HTTP/1.1\r\nHost: card.example\r\nConnection: close\r\n\r\n"))
	c.e.Close()
	c.step(p.cst)
	p.pumpRaw(t, c)
	if n := bytes.Count(c.got, []byte("HTTP/1.1 200 OK\r\n")); n != 2 {
		t.Fatalf("%d responses: %q", n, c.got)
	}
}

// TestFullRecordsOnly: a short record waits for room for a full one only
// while output is queued and the send buffer holds two full records; an
// empty queue (nothing on the line: waiting would idle it) or a buffer
// too small for two full records seals whatever fits, as before.
func TestFullRecordsOnly(t *testing.T) {
	const full = 5 + 2048 + 17
	for _, c := range []struct {
		free, queued int
		want         bool
	}{
		{free: 1500, queued: 2654, want: true},     // Card profile: 4,154 bytes, an ACK freed one segment
		{free: 2500, queued: 1654, want: true},     // a full record fits, the rest waits
		{free: 4154, queued: 0, want: false},       // nothing queued: seal what fits
		{free: 1500, queued: 2335, want: false},    // 3,835 bytes: two full records do not fit
		{free: 0, queued: 2 * full, want: true},    // full: nothing to seal anyway
		{free: 2*full - 2, queued: 1, want: false}, // one byte short of two records
	} {
		if got := fullRecordsOnly(c.free, c.queued, full, time.Second); got != c.want {
			t.Errorf("fullRecordsOnly(free %d, queued %d) = %v, want %v", c.free, c.queued, got, c.want)
		}
		// A fast path (or no round-trip sample yet) never waits.
		for _, rtt := range []time.Duration{0, time.Millisecond, slowPathRTT - 1} {
			if fullRecordsOnly(c.free, c.queued, full, rtt) {
				t.Errorf("fullRecordsOnly(free %d, queued %d, srtt %v) waits on a fast path", c.free, c.queued, rtt)
			}
		}
	}
}

// shedStream is a memStream that records ShedRecv calls (tcp.Conn's: drop
// the empty receive buffer) with the server engine's state at each.
type shedStream struct {
	*memStream
	srv                 *ServerSession
	calls, bad, afterHS int
}

func (s *shedStream) ShedRecv() int {
	s.calls++
	e := s.srv.Engine()
	if len(s.rx) != 0 || e == nil || e.Pending() == 0 {
		s.bad++
	}
	if e == nil || e.State() != tls.Handshaking {
		s.afterHS++
	}
	return 0
}

// TestShedRecvInHandshake: a TLS server session drops its stream's receive
// buffer (ShedRecv) only while its handshake flight waits to be sent and
// nothing is unread — once a handshake, Tiny's buffers (1,024 / 512) —
// and never after the handshake (no allocation per packet then), across
// a PUT and a GET; both are served.
func TestShedRecvInHandshake(t *testing.T) {
	app, s, _, _ := newTestApp(t)
	tcfg := serverTLS(t, s, seeded(10))
	tcfg.RecordSizeLimit, tcfg.MaxRecordOut, tcfg.ClientAuth = 512, 256, tls.NoClientCert
	p := newPairCfg(SessionConfig{TLS: tcfg, RecordBuf: 1024, Handler: app.Serve,
		HTTP: http.ServerConfig{InBuf: 1536, OutBuf: 768, HeaderReserve: 256}}, 1024, 512)
	cs := NewClientSession(ClientConfig{RecordBuf: testRecvBuf})
	body := strings.Repeat("tiny ", 200)
	for i, method := range []string{"PUT", "GET"} {
		ss := &shedStream{memStream: newMemStream(1024, 512), srv: p.srv}
		p.sst, p.cst = ss.memStream, newMemStream(testRecvBuf, testSendBuf)
		p.srv.Reset(ss)
		req, _ := ParseURL("https://card.example/vault/tiny")
		req.Extra = "Authorization: Basic dTo0NzEx\r\n"
		if method == "PUT" {
			req.Method, req.Body, req.ContentType = "PUT", []byte(body), "text/plain"
		}
		if err := cs.Start(p.cst, &req, mustClientTLS(t, s), p.now); err != nil {
			t.Fatal(err)
		}
		p.pump(t, cs)
		r := cs.Result()
		if want := []int{201, 200}[i]; r.Status != want || method == "GET" && string(r.Body) != body {
			t.Fatalf("%s: %+v", method, r)
		}
		if ss.calls == 0 || ss.bad != 0 || ss.afterHS != 0 {
			t.Fatalf("%s: ShedRecv called %d times, %d with bytes unread or no flight pending, %d after the handshake",
				method, ss.calls, ss.bad, ss.afterHS)
		}
	}
}
