package apps

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/sha256"
	gotls "crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"io"
	"log"
	"math/big"
	"net"
	nethttp "net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"netcard/store"
)

// remotePKI is a CA and a server certificate for server.example / 127.0.0.1.
type remotePKI struct {
	caDER   []byte
	srvCert gotls.Certificate
	srvKey  *ecdsa.PrivateKey
	srvDER  []byte
}

func newRemotePKI(t testing.TB) *remotePKI {
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), seeded(30))
	ca := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "remote CA"},
		NotBefore: testNow.Add(-time.Hour), NotAfter: testNow.Add(24 * time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature}
	caDER, err := x509.CreateCertificate(seeded(31), ca, ca, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, _ := x509.ParseCertificate(caDER)
	srvKey, _ := ecdsa.GenerateKey(elliptic.P256(), seeded(32))
	leaf := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "server.example"},
		NotBefore: testNow.Add(-time.Hour), NotAfter: testNow.Add(24 * time.Hour), DNSNames: []string{"server.example"},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	srvDER, err := x509.CreateCertificate(seeded(33), leaf, caCert, &srvKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	return &remotePKI{caDER: caDER, srvKey: srvKey, srvDER: srvDER,
		srvCert: gotls.Certificate{Certificate: [][]byte{srvDER, caDER}, PrivateKey: srvKey}}
}

// fetchOver runs one ClientSession exchange over a real TCP connection.
func fetchOver(t *testing.T, s *store.Store, addr, raw string, mtls bool, body string) FetchResult {
	t.Helper()
	req, err := ParseURL(raw)
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Method, req.Body, req.ContentType = "POST", []byte(body), "text/plain"
	}
	req.ClientCert = mtls
	return fetchReq(t, s, addr, req)
}

func fetchReq(t *testing.T, s *store.Store, addr string, req FetchRequest) FetchResult {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	st := newMemStream(testRecvBuf, testSendBuf)
	cs := NewClientSession(ClientConfig{RecordBuf: testRecvBuf})
	if err := cs.StartFetch(st, &req, s, seeded(40), func() time.Time { return testNow }, testNow); err != nil {
		t.Fatal(err)
	}
	select {
	case <-drive(t, conn, st, cs.Service, cs.Done, nil):
	case <-time.After(20 * time.Second):
		t.Fatal("fetch did not finish")
	}
	return cs.Result()
}

func TestClientSessionGoServer(t *testing.T) {
	s, _, _ := newCard(t)
	rp := newRemotePKI(t)
	s.SetAnchors([][]byte{rp.caDER})
	cardPool := x509.NewCertPool()
	cc, _ := x509.ParseCertificate(s.Certificate()[0])
	cardPool.AddCert(cc)
	h := nethttp.HandlerFunc(func(w nethttp.ResponseWriter, r *nethttp.Request) {
		who := "anonymous"
		if len(r.TLS.PeerCertificates) > 0 {
			who = r.TLS.PeerCertificates[0].Subject.CommonName
		}
		b, _ := io.ReadAll(r.Body)
		switch r.URL.Path {
		case "/moved":
			nethttp.Redirect(w, r, "/a?b=c", nethttp.StatusFound)
			return
		case "/away":
			nethttp.Redirect(w, r, "https://127.0.0.1:"+strings.Split(r.Host, ":")[1]+"/a?x", nethttp.StatusPermanentRedirect)
			return
		case "/down":
			nethttp.Redirect(w, r, "http://server.example/", nethttp.StatusMovedPermanently)
			return
		}
		if r.URL.Path == "/chunked" {
			for i := 0; i < 3; i++ {
				fmt.Fprintf(w, "part%d;", i)
				w.(nethttp.Flusher).Flush()
			}
			return
		}
		fmt.Fprintf(w, "%s %s from %s: %s", r.Method, r.URL.RequestURI(), who, b)
	})
	srv := httptest.NewUnstartedServer(h)
	srv.TLS = &gotls.Config{Certificates: []gotls.Certificate{rp.srvCert}, ClientAuth: gotls.VerifyClientCertIfGiven,
		ClientCAs: cardPool, Time: func() time.Time { return testNow }}
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.StartTLS()
	defer srv.Close()
	addr := srv.Listener.Addr().String()
	port := addr[strings.LastIndexByte(addr, ':')+1:]

	r := fetchOver(t, s, addr, "https://server.example:"+port+"/a?b=c", false, "")
	if r.Err != "" || r.Status != 200 || string(r.Body) != "GET /a?b=c from anonymous: " {
		t.Fatalf("GET: %+v %q", r, r.Body)
	}
	r = fetchOver(t, s, addr, "https://server.example:"+port+"/attest", true, "signed statement")
	if r.Err != "" || string(r.Body) != "POST /attest from card.example: signed statement" {
		t.Fatalf("mTLS POST: %+v %q", r, r.Body)
	}
	r = fetchOver(t, s, addr, "https://127.0.0.1:"+port+"/chunked", false, "")
	if r.Err != "" || string(r.Body) != "part0;part1;part2;" {
		t.Fatalf("chunked: %+v %q", r, r.Body)
	}
	// Redirects: relative (POST becomes GET), absolute to another name, and a
	// refused downgrade to http.
	req, _ := ParseURL("https://server.example:" + port + "/moved")
	req.Method, req.Body = "POST", []byte("x")
	cs := NewClientSession(ClientConfig{RecordBuf: testRecvBuf})
	n := 0
	for ; n < MaxRedirects; n++ {
		st := newMemStream(testRecvBuf, testSendBuf)
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		if err := cs.StartFetch(st, &req, s, seeded(41), func() time.Time { return testNow }, testNow); err != nil {
			t.Fatal(err)
		}
		<-drive(t, conn, st, cs.Service, cs.Done, nil)
		next, ok := cs.Redirect(&req)
		if !ok {
			break
		}
		req = next
	}
	if res := cs.Result(); n != 1 || string(res.Body) != "GET /a?b=c from anonymous: " || req.URL != "https://server.example:"+port+"/a?b=c" {
		t.Fatalf("redirect: %d %+v %q", n, req, res.Body)
	}
	req, _ = ParseURL("https://server.example:" + port + "/away")
	if r = fetchReq(t, s, addr, req); r.Status != 308 {
		t.Fatalf("away: %+v", r)
	}
	st := newMemStream(testRecvBuf, testSendBuf)
	conn, _ := net.Dial("tcp", addr)
	cs.StartFetch(st, &req, s, seeded(42), func() time.Time { return testNow }, testNow)
	<-drive(t, conn, st, cs.Service, cs.Done, nil)
	if next, ok := cs.Redirect(&req); !ok || next.Host != "127.0.0.1" || next.Target != "/a?x" || !next.TLS {
		t.Fatalf("absolute redirect: %+v", next)
	}
	req, _ = ParseURL("https://server.example:" + port + "/down")
	st = newMemStream(testRecvBuf, testSendBuf)
	conn, _ = net.Dial("tcp", addr)
	cs.StartFetch(st, &req, s, seeded(43), func() time.Time { return testNow }, testNow)
	<-drive(t, conn, st, cs.Service, cs.Done, nil)
	if _, ok := cs.Redirect(&req); ok || cs.Result().Status != 301 {
		t.Fatal("https to http redirect followed")
	}

	// The admin flow: POST /admin/fetch queues, the card loop runs it, GET
	// /admin/fetch shows the result.
	app := New(Config{Store: s})
	rh := newRouteHarness(app, true)
	auth := []string{"Authorization: Bearer Zq3-vT8pL0xW_m4RkY7nB2cH", "Content-Type: text/plain"}
	if res := rh.do(t, "POST", "/admin/fetch?mtls=1&url=https://server.example:"+port+"/hook", auth, []byte("ping")); res.StatusCode != 202 {
		t.Fatalf("queue: %d", res.StatusCode)
	}
	req, ok := app.NextFetch()
	if !ok {
		t.Fatal("nothing queued")
	}
	r = fetchReq(t, s, addr, req)
	app.SetFetchResult(r)
	if res := rh.do(t, "GET", "/admin/fetch", auth, nil); !strings.Contains(string(res.body), "status: 200") ||
		!strings.HasSuffix(string(res.body), "POST /hook from card.example: ping") {
		t.Fatalf("fetch result: %q", res.body)
	}
	// Wrong name, and a server not chaining to the anchors: refused.
	if r = fetchOver(t, s, addr, "https://wrong.example:"+port+"/", false, ""); r.Err == "" || r.Status != 0 {
		t.Fatalf("name mismatch accepted: %+v", r)
	}
	s.SetAnchors([][]byte{s.Certificate()[0]})
	if r = fetchOver(t, s, addr, "https://server.example:"+port+"/", false, ""); !strings.Contains(r.Err, "unknown_ca") {
		t.Fatalf("untrusted server accepted: %+v", r)
	}
}

func writePEM(t *testing.T, dir, name, typ string, der []byte) string {
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestCurlInterop(t *testing.T) {
	curl, err := exec.LookPath("curl")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("CI must run this real-peer test:", "curl not installed")
		}
		t.Skip("curl not installed")
	}
	app, s, _, pki := newTestApp(t)
	s.PutFile("big.bin", "application/octet-stream", bytes.Repeat([]byte("0123456789abcdef"), 1024))
	dir := t.TempDir()
	ca := writePEM(t, dir, "card.pem", "CERTIFICATE", pki.cardCert)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	tcfg := serverTLS(t, s, seeded(10))
	srv := NewServerSession(SessionConfig{TLS: tcfg, RecordBuf: testRecvBuf, Handler: app.Serve})
	var mu sync.Mutex
	stopped := serveTCPPool(t, ln, []*ServerSession{srv}, &mu)
	base := fmt.Sprintf("https://card.example:%d", port)
	run := func(args ...string) string {
		t.Helper()
		args = append([]string{"-sS", "--max-time", "20", "--cacert", ca, "--resolve", fmt.Sprintf("card.example:%d:127.0.0.1", port)}, args...)
		out, err := exec.Command(curl, args...).CombinedOutput()
		if err != nil {
			t.Fatalf("curl %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	// Keep-alive: three URLs on one connection; HEAD; Range; conditional.
	out := run(base+"/hello.txt", base+"/hello.txt", base+"/status.json")
	if !strings.HasPrefix(out, "hello from the card\nhello from the card\n{\"uptime_s\"") {
		t.Fatalf("GETs: %q", out)
	}
	if out = run("-I", base+"/big.bin"); !strings.Contains(out, "Content-Length: 16384") || !strings.Contains(out, "ETag: ") {
		t.Fatalf("HEAD: %q", out)
	}
	if out = run("-r", "16-31", base+"/big.bin"); out != "0123456789abcdef" {
		t.Fatalf("range: %q", out)
	}
	mu.Lock()
	f, _ := s.File("hello.txt")
	mu.Unlock()
	if out = run("-o", "/dev/null", "-w", "%{http_code}", "-H", "If-None-Match: "+f.ETag, base+"/hello.txt"); out != "304" {
		t.Fatalf("conditional: %q", out)
	}
	if out = run(base + "/big.bin"); len(out) != 16384 {
		t.Fatalf("big: %d bytes", len(out))
	}
	// Chunked upload to the vault, then admin upload with the bearer secret.
	if out = run("-u", "me:4711", "-X", "PUT", "--data-binary", "from curl", "-H", "Transfer-Encoding: chunked", base+"/vault/curl"); !strings.Contains(out, "created") {
		t.Fatalf("vault: %q", out)
	}
	mu.Lock()
	f, _ = s.File("vault/curl")
	mu.Unlock()
	if string(f.Data) != "from curl" {
		t.Fatalf("vault record %q", f.Data)
	}
	if out = run("-X", "PUT", "--data-binary", "<p>curl</p>", "-H", "Content-Type: text/html", "-H", "Authorization: Bearer Zq3-vT8pL0xW_m4RkY7nB2cH",
		base+"/admin/files/index.html"); !strings.Contains(out, "created") {
		t.Fatalf("admin: %q", out)
	}
	if out = run(base + "/"); out != "<p>curl</p>" {
		t.Fatalf("home: %q", out)
	}
	if out = run("-o", "/dev/null", "-w", "%{http_code}", "-X", "PUT", "--data-binary", "x", base+"/admin/files/index.html"); out != "401" {
		t.Fatalf("unauthorised admin: %q", out)
	}
	ln.Close()
	<-stopped
	st := srv.Stats()
	if st.TLSFailures != 0 || st.Handshakes < 9 {
		t.Fatalf("stats %+v", st)
	}
	t.Logf("curl: %+v", st)
}

// TestClientSessionOpenSSL fetches from openssl s_server with mutual TLS:
// the server demands and verifies the card's certificate (-Verify) and
// answers with its -www status page (HTTP/1.0, body delimited by close).
func TestClientSessionOpenSSL(t *testing.T) {
	ossl, err := exec.LookPath("openssl")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("CI must run this real-peer test:", "openssl not installed")
		}
		t.Skip("openssl not installed")
	}
	s, _, _ := newCard(t)
	rp := newRemotePKI(t)
	s.SetAnchors([][]byte{rp.caDER})
	dir := t.TempDir()
	certFile := writePEM(t, dir, "srv.pem", "CERTIFICATE", rp.srvDER)
	kd, _ := x509.MarshalECPrivateKey(rp.srvKey)
	keyFile := writePEM(t, dir, "srv.key", "EC PRIVATE KEY", kd)
	cardFile := writePEM(t, dir, "card.pem", "CERTIFICATE", s.Certificate()[0])
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	cmd := exec.Command(ossl, "s_server", "-accept", addr, "-cert", certFile, "-key", keyFile, "-CAfile", cardFile,
		"-Verify", "1", "-www", "-tls1_3", "-naccept", "1")
	stdout, _ := cmd.StdoutPipe()
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	ready := make(chan string, 1)
	go func() {
		var acc []byte
		b := make([]byte, 512)
		for {
			n, err := stdout.Read(b)
			acc = append(acc, b[:n]...)
			if bytes.Contains(acc, []byte("ACCEPT")) {
				ready <- string(acc)
				io.Copy(io.Discard, stdout)
				return
			}
			if err != nil {
				ready <- string(acc)
				return
			}
		}
	}()
	select {
	case out := <-ready:
		if !strings.Contains(out, "ACCEPT") {
			t.Fatalf("s_server: %s", out)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("s_server did not start")
	}
	port := addr[strings.LastIndexByte(addr, ':')+1:]
	r := fetchOver(t, s, addr, "https://server.example:"+port+"/", true, "")
	if r.Err != "" || r.Status != 200 || !bytes.Contains(r.Body, []byte("Client certificate")) ||
		!bytes.Contains(r.Body, []byte("card.example")) {
		t.Fatalf("openssl: %+v\n%s", r, r.Body)
	}
}

// serveTCPPool serves concurrent connections with a pool of preallocated
// sessions; one lock stands for the card's single thread of control.
func serveTCPPool(t *testing.T, ln net.Listener, pool []*ServerSession, mu *sync.Mutex) chan struct{} {
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		var wg sync.WaitGroup
		defer wg.Wait()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			var srv *ServerSession
			for _, s := range pool {
				if s.Done() {
					srv = s
					break
				}
			}
			st := newMemStream(testRecvBuf, testSendBuf)
			if srv != nil {
				srv.Reset(st)
			}
			mu.Unlock()
			if srv == nil {
				c.Close() // all slots busy
				continue
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-drive(t, c, st, func(now time.Time) bool {
					mu.Lock()
					defer mu.Unlock()
					return srv.Service(now)
				}, func() bool {
					mu.Lock()
					defer mu.Unlock()
					return srv.Done()
				}, nil)
			}()
		}
	}()
	return stopped
}

// TestChromiumStatus loads the status page in headless Chromium trusting the
// card's certificate and checks the DOM shows the live counters.
func TestChromiumStatus(t *testing.T) {
	chromium, err := exec.LookPath("chromium")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("CI must run this real-peer test:", "chromium not installed")
		}
		t.Skip("chromium not installed")
	}
	if testing.Short() {
		t.Skip("short")
	}
	app, s, _, pki := newTestApp(t)
	s.PutFile("favicon.ico", "image/vnd.microsoft.icon", []byte{0, 0, 1, 0})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	tcfg := serverTLS(t, s, seeded(10))
	pool := make([]*ServerSession, 6)
	for i := range pool {
		pool[i] = NewServerSession(SessionConfig{TLS: tcfg, RecordBuf: testRecvBuf, Handler: app.Serve})
	}
	var mu sync.Mutex
	stopped := serveTCPPool(t, ln, pool, &mu)
	defer func() { ln.Close(); <-stopped }()
	cc, _ := x509.ParseCertificate(pki.cardCert)
	spki := sha256.Sum256(cc.RawSubjectPublicKeyInfo)
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	url := fmt.Sprintf("https://card.example:%d/status", port)
	cmd := exec.CommandContext(ctx, chromium, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
		"--user-data-dir="+filepath.Join(dir, "profile"), "--host-resolver-rules=MAP card.example 127.0.0.1",
		"--ignore-certificate-errors-spki-list="+base64.StdEncoding.EncodeToString(spki[:]),
		"--screenshot="+filepath.Join(dir, "status.png"), "--window-size=900,700", url)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("chromium screenshot: %v\n%s", err, out)
	}
	if d := os.Getenv("NETCARD_SCREENSHOT_DIR"); d != "" {
		b, _ := os.ReadFile(filepath.Join(dir, "status.png"))
		os.WriteFile(filepath.Join(d, "status.png"), b, 0o644)
	}
	if fi, err := os.Stat(filepath.Join(dir, "status.png")); err != nil || fi.Size() < 1000 {
		t.Fatalf("screenshot: %v", err)
	}
	cmd = exec.CommandContext(ctx, chromium, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
		"--user-data-dir="+filepath.Join(dir, "profile"), "--host-resolver-rules=MAP card.example 127.0.0.1",
		"--ignore-certificate-errors-spki-list="+base64.StdEncoding.EncodeToString(spki[:]), "--dump-dom", url)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("chromium dump-dom: %v\n%s", err, out)
	}
	dom := string(out)
	// A browser without the admin credential gets the public page.
	for _, want := range []string{"netcard status", "frames_in</td><td>42", "10.0.0.2", "connections open"} {
		if !strings.Contains(dom, want) {
			t.Fatalf("DOM lacks %q:\n%s", want, dom)
		}
	}
}
