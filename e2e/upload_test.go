package e2e

// PUT/POST /upload (apps/upload.go: the body streams through SHA-256, the
// answer is {"length":n,"sha256":"hex"}, bodies above apps.DefaultMaxUpload
// get 413) through the whole card stack, against real clients: curl (with
// and without Expect: 100-continue, chunked), Go's net/http over TLS 1.3
// with several uploads at once (the Card profile's TCP slots have 3,926-byte
// receive buffers; ChaCha20-Poly1305 records that do not fit stream through
// each slot's spill region of the store, tls/stream.go, and AES-GCM ones
// share ONE large buffer: tcp/pool.go), OpenSSL's s_client and GnuTLS's gnutls-cli, and
// gnutls-cli with 512-byte records to the Tiny profile. Two networks: the
// in-process card behind gVisor (host.Netstack), and the netcard binary
// behind the Linux kernel's TCP/IP over TUN in a namespace the test creates.

import (
	"bytes"
	"context"
	"crypto/sha256"
	stdtls "crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	nethttp "net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"netcard/apps"
	"netcard/host"
	"netcard/host/peers"
	"netcard/tcp"
)

// upTarget is a card reachable by curl, openssl, gnutls-cli (run through
// argv) and by Go (dial).
type upTarget struct {
	argv    func(prog string, args ...string) []string // how to run a client program
	url     string                                     // https://netcard.local[:port]
	resolve string                                     // curl --resolve for netcard.local
	addr    string                                     // host:port for openssl and gnutls-cli
	ca      string                                     // the card's certificate (PEM)
	dial    func(ctx context.Context) (net.Conn, error)
	stats   func() tcp.Stats // the card's TCP counters; nil for the binary
}

// seeded returns n deterministic pseudo-random bytes.
func seeded(seed byte, n int) []byte {
	var key [32]byte
	key[0] = seed
	b := make([]byte, n)
	rand.NewChaCha8(key).Read(b)
	return b
}

// writeSeeded writes seeded(seed, n) into a temporary file.
func writeSeeded(t *testing.T, seed byte, n int) (string, []byte) {
	t.Helper()
	data := seeded(seed, n)
	f := filepath.Join(t.TempDir(), fmt.Sprintf("up%d-%d.bin", seed, n))
	if err := os.WriteFile(f, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return f, data
}

// checkDigest checks that an /upload answer reports data's length and
// SHA-256.
func checkDigest(t *testing.T, what string, answer []byte, data []byte) {
	t.Helper()
	var a struct {
		Length int64  `json:"length"`
		SHA256 string `json:"sha256"`
	}
	if err := json.Unmarshal(answer, &a); err != nil {
		t.Fatalf("%s: answer %q is not JSON: %v", what, answer, err)
	}
	sum := sha256.Sum256(data)
	if a.Length != int64(len(data)) || a.SHA256 != hex.EncodeToString(sum[:]) {
		t.Fatalf("%s: card says length %d sha256 %s; sent %d bytes, sha256 %x", what, a.Length, a.SHA256, len(data), sum)
	}
}

// gvisorTarget starts the in-process card (Card profile) behind gVisor;
// command-line clients reach it through a loopback forwarder.
func gvisorTarget(t *testing.T) *upTarget {
	t.Helper()
	ar := newAppRig(t, nil)
	addr := ar.forward(t, 443)
	p := strconv.Itoa(port(t, addr))
	return &upTarget{
		argv:    func(prog string, args ...string) []string { return append([]string{prog}, args...) },
		url:     "https://netcard.local:" + p,
		resolve: "netcard.local:" + p + ":127.0.0.1",
		addr:    addr,
		ca:      ar.certFile(t),
		dial: func(ctx context.Context) (net.Conn, error) {
			return ar.ns.Net().DialContext(ctx, "tcp", ar.cardIP.String()+":443")
		},
		stats: func() tcp.Stats {
			var s tcp.Stats
			ar.runner.Do(func(time.Time) { s = ar.card.TCP().Stats() })
			return s
		},
	}
}

// tunTarget starts `netcard serve --link stdio --profile prof` with our PPP
// in host role on a TUN device in a fresh namespace: the clients run in the
// namespace and talk to the Linux kernel's TCP/IP, which reaches the card at
// 10.64.0.2.
func tunTarget(t *testing.T, prof string) (*upTarget, *peers.Netns) {
	t.Helper()
	peers.Require(t, "ip", "/dev/net/tun")
	bin := netcardBinary(t)
	img, certFile := cardImage(t, t.TempDir(), nil)
	ns := peers.TestNetns(t)
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	cardEnd, hostEnd := os.NewFile(uintptr(fds[0]), "card-line"), os.NewFile(uintptr(fds[1]), "host-line")
	pr := startNetcard(t, "netcard serve", cardEnd, bin, "serve", "--link", "stdio", "--store", img, "--profile", prof)
	cardEnd.Close()
	conn, err := net.FileConn(hostEnd)
	hostEnd.Close()
	if err != nil {
		t.Fatal(err)
	}
	var cfg host.TUNConfig
	cfg.Netns = ns.Name
	cfg.PPP.LocalIP, cfg.PPP.PeerIP = [4]byte{10, 64, 0, 1}, [4]byte{10, 64, 0, 2}
	tun, err := host.NewTUN(conn, "nc0", cfg)
	if err != nil {
		conn.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() { tun.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := tun.WaitUp(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := pr.waitLog(ctx, "link up", 1); err != nil {
		t.Fatal(err)
	}
	return &upTarget{
		argv: func(prog string, args ...string) []string {
			return append([]string{"ip", "netns", "exec", ns.Name, prog}, args...)
		},
		url:     "https://netcard.local",
		resolve: "netcard.local:443:10.64.0.2",
		addr:    "10.64.0.2:443",
		ca:      certFile,
		dial: func(ctx context.Context) (net.Conn, error) {
			var c net.Conn
			err := ns.Do(func() (err error) {
				c, err = (&net.Dialer{}).DialContext(ctx, "tcp", "10.64.0.2:443")
				return err
			})
			return c, err
		},
	}, ns
}

// exec runs a client program against the target with a deadline.
func (tg *upTarget) exec(t *testing.T, timeout time.Duration, stdin io.Reader, prog string, args ...string) (stdout, stderr []byte, err error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	argv := tg.argv(prog, args...)
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Stdin = stdin
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	cmd.WaitDelay = 5 * time.Second
	err = cmd.Run()
	return o.Bytes(), e.Bytes(), err
}

// curlUp is one curl upload's outcome.
type curlUp struct {
	code    int
	sent    int64 // body bytes curl uploaded (%{size_upload})
	body    []byte
	verbose string // curl -v: "> " request and "< " response header lines
	took    time.Duration
}

// curl runs curl -v with full verification against path; curl failing
// (exit status) fails the test unless mayFail.
func (tg *upTarget) curl(t *testing.T, path string, mayFail bool, args ...string) curlUp {
	t.Helper()
	dir := t.TempDir()
	vf, bf := filepath.Join(dir, "verbose"), filepath.Join(dir, "body")
	all := append([]string{"-sS", "-v", "--stderr", vf, "-o", bf, "-w", "%{http_code} %{size_upload}", "--max-time", "60",
		"--cacert", tg.ca, "--resolve", tg.resolve}, args...)
	all = append(all, tg.url+path)
	t0 := time.Now()
	out, _, err := tg.exec(t, 90*time.Second, nil, "curl", all...)
	r := curlUp{took: time.Since(t0)}
	v, _ := os.ReadFile(vf)
	r.verbose = string(v)
	r.body, _ = os.ReadFile(bf)
	if err != nil && !mayFail {
		t.Fatalf("curl %v: %v\n%s\n%s", all, err, out, lastLines(r.verbose, 30))
	}
	if f := strings.Fields(string(out)); len(f) == 2 {
		r.code, _ = strconv.Atoi(f[0])
		r.sent, _ = strconv.ParseInt(f[1], 10, 64)
	}
	return r
}

// lastLines returns the last n lines of s.
func lastLines(s string, n int) string {
	l := strings.Split(s, "\n")
	if len(l) > n {
		l = l[len(l)-n:]
	}
	return strings.Join(l, "\n")
}

// has reports whether curl -v logged a header line (e.g. "> Expect:
// 100-continue", "< HTTP/1.1 100 Continue"), ignoring case and CR.
func (r curlUp) has(line string) bool {
	for _, l := range strings.Split(r.verbose, "\n") {
		if strings.EqualFold(strings.TrimSpace(l), line) {
			return true
		}
	}
	return false
}

// curlUploads: curl uploads 1 MiB with PUT (-T) and POST (--data-binary),
// by default, with Expect: 100-continue forced and disabled, and chunked;
// each answer's digest is the file's. Then MaxUpload+1 bytes get 413.
func curlUploads(t *testing.T, tg *upTarget) {
	need(t, "curl")
	f, data := writeSeeded(t, 1, 1<<20)
	type expect int
	const (
		dflt expect = iota
		with
		without
	)
	cases := []struct {
		name   string
		expect expect
		args   []string
	}{
		{"PUT-T", dflt, []string{"-T", f}},
		{"PUT-T-expect", with, []string{"-T", f, "-H", "Expect: 100-continue"}},
		{"PUT-T-no-expect", without, []string{"-T", f, "-H", "Expect:"}},
		{"POST", dflt, []string{"--data-binary", "@" + f}},
		{"POST-expect", with, []string{"--data-binary", "@" + f, "-H", "Expect: 100-continue"}},
		{"POST-no-expect", without, []string{"--data-binary", "@" + f, "-H", "Expect:"}},
		{"PUT-T-chunked", dflt, []string{"-T", f, "-H", "Transfer-Encoding: chunked"}},
		{"POST-chunked", dflt, []string{"--data-binary", "@" + f, "-H", "Transfer-Encoding: chunked"}},
		{"PUT-chunked-expect", with, []string{"-T", f, "-H", "Transfer-Encoding: chunked", "-H", "Expect: 100-continue"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := tg.curl(t, "/upload", false, c.args...)
			if r.code != 200 {
				t.Fatalf("status %d, body %q\n%s", r.code, r.body, lastLines(r.verbose, 30))
			}
			checkDigest(t, c.name, r.body, data)
			chunked := r.has("> Transfer-Encoding: chunked")
			// Chunked framing counts in curl's size_upload.
			if r.sent != int64(len(data)) && !(chunked && r.sent > int64(len(data))) {
				t.Fatalf("curl reports %d bytes uploaded, want %d", r.sent, len(data))
			}
			sentExpect, got100 := r.has("> Expect: 100-continue"), r.has("< HTTP/1.1 100 Continue")
			switch c.expect {
			case with:
				if !sentExpect || !got100 {
					t.Fatalf("Expect sent %v, 100 Continue received %v\n%s", sentExpect, got100, lastLines(r.verbose, 30))
				}
			case without:
				if sentExpect || got100 {
					t.Fatalf("Expect sent %v, 100 Continue received %v", sentExpect, got100)
				}
			default:
				if sentExpect != got100 {
					t.Fatalf("Expect sent %v but 100 Continue received %v", sentExpect, got100)
				}
			}
			if strings.Contains(c.name, "chunked") != chunked {
				t.Fatalf("chunked framing: %v", chunked)
			}
			t.Logf("%s: 1 MiB in %v (%.0f KiB/s); Expect sent %v, 100 Continue %v, chunked %v",
				c.name, r.took.Round(time.Millisecond), 1024/r.took.Seconds(), sentExpect, got100, chunked)
		})
	}

	// curl offers ChaCha20-Poly1305, which the card prefers: its full
	// records stream through the slot's spill region of the store (no
	// large buffer lent); offering only AES-GCM (--tls13-ciphers), it gets
	// the large buffer lent for every full record, as before streaming.
	for _, aes := range []bool{false, true} {
		name := "PUT-T-16KiB-records"
		extra := []string{}
		if aes {
			name, extra = name+"-aes-gcm", []string{"--tls13-ciphers", "TLS_AES_128_GCM_SHA256"}
		}
		t.Run(name, func(t *testing.T) {
			// curl's OpenSSL writes its 64 KiB upload buffer as full 16 KiB
			// records; --trace logs each record header curl sent.
			tr := filepath.Join(t.TempDir(), "trace")
			var before tcp.Stats
			if tg.stats != nil {
				before = tg.stats()
			}
			r := tg.curl(t, "/upload", false, append([]string{"-T", f, "--trace", tr}, extra...)...)
			if r.code != 200 {
				t.Fatalf("status %d %q", r.code, r.body)
			}
			checkDigest(t, "curl --trace", r.body, data)
			b, err := os.ReadFile(tr)
			if err != nil {
				t.Fatal(err)
			}
			sizes := curlRecordSizes(string(b))
			full := 0
			for _, n := range sizes {
				if n == 16384+17 {
					full++
				}
			}
			t.Logf("curl sent %d application data records, %d of them full (16,401 B), 1 MiB in %v", len(sizes), full,
				r.took.Round(time.Millisecond))
			if full < 60 {
				t.Fatalf("only %d full records: %v", full, sizes)
			}
			if tg.stats != nil {
				n := tg.stats().LargeBorrows - before.LargeBorrows
				t.Logf("card: large buffer lent %d times", n)
				if aes && n < uint64(full) {
					t.Fatalf("AES-GCM: %d full records, large buffer lent %d times", full, n)
				}
				if !aes && n != 0 {
					t.Fatalf("ChaCha20-Poly1305: %d full records, large buffer lent %d times (not streamed)", full, n)
				}
			}
		})
	}
	t.Run("at-limit", func(t *testing.T) {
		f, data := writeSeeded(t, 7, apps.DefaultMaxUpload)
		r := tg.curl(t, "/upload", false, "-T", f)
		if r.code != 200 {
			t.Fatalf("%d bytes: status %d %q", len(data), r.code, r.body)
		}
		checkDigest(t, "at the limit", r.body, data)
		t.Logf("-T %d bytes (the limit): 200 in %v", len(data), r.took.Round(time.Millisecond))
	})
	t.Run("over-limit", func(t *testing.T) {
		big, _ := writeSeeded(t, 2, apps.DefaultMaxUpload+1)
		// The card answers the head: with Expect, curl never sends the body.
		for _, m := range [][]string{{"-T", big}, {"--data-binary", "@" + big}} {
			var before tcp.Stats
			if tg.stats != nil {
				before = tg.stats()
			}
			r := tg.curl(t, "/upload", false, append(m, "-H", "Expect: 100-continue")...)
			if r.code != 413 || r.has("< HTTP/1.1 100 Continue") || r.sent != 0 {
				t.Fatalf("%v: status %d, 100 Continue %v, %d body bytes sent\n%s", m, r.code, r.has("< HTTP/1.1 100 Continue"),
					r.sent, lastLines(r.verbose, 30))
			}
			segs := uint64(0)
			if tg.stats != nil {
				segs = tg.stats().SegsIn - before.SegsIn
				// 4 MiB of body is ≥ 2,873 full segments; a handshake and a
				// head are a few dozen.
				if segs > 100 {
					t.Fatalf("%v: 413, but the card received %d segments: it read the body", m, segs)
				}
			}
			t.Logf("%v (%d bytes, Expect): 413 in %v, no body byte sent, card received %d segments (0: not measured)", m[0],
				apps.DefaultMaxUpload+1, r.took.Round(time.Millisecond), segs)
		}
		// Without Expect, curl starts sending at once; the card must still
		// answer 413 (curl may report the reset of the rest of its upload).
		r := tg.curl(t, "/upload", true, "-T", big, "-H", "Expect:")
		if r.code != 413 {
			t.Fatalf("no Expect: status %d\n%s", r.code, lastLines(r.verbose, 30))
		}
		t.Logf("-T without Expect: 413 in %v; curl's size_upload %d of %d body bytes", r.took.Round(time.Millisecond), r.sent,
			apps.DefaultMaxUpload+1)
		// A chunked body has no announced length: 413 once it grows past.
		r = tg.curl(t, "/upload", true, "-T", big, "-H", "Transfer-Encoding: chunked", "-H", "Expect:")
		if r.code != 413 {
			t.Fatalf("chunked: status %d\n%s", r.code, lastLines(r.verbose, 30))
		}
		t.Logf("chunked over the limit: 413 in %v; curl's size_upload %d", r.took.Round(time.Millisecond), r.sent)
	})
}

// goConcurrentUploads: Go's net/http over TLS 1.3 runs n 1 MiB uploads at
// once, each on its own connection (they take turns on the card's one large
// receive buffer), while (if withGet) another client keeps GETting
// /status.json on a connection of its own. Returns the time all uploads
// took.
func goConcurrentUploads(t *testing.T, tg *upTarget, n int, withGet, aesOnly bool) time.Duration {
	t.Helper()
	roots := x509Pool(t, tg.ca)
	// Every client's idle connection is closed at the end: on the card it
	// would hold a slot until evicted.
	var clients []*nethttp.Client
	var cmu sync.Mutex
	defer func() {
		for _, c := range clients {
			c.CloseIdleConnections()
		}
	}()
	newClient := func() *nethttp.Client {
		cmu.Lock()
		defer cmu.Unlock()
		clients = append(clients, &nethttp.Client{Transport: &nethttp.Transport{
			DialContext:         func(ctx context.Context, _, _ string) (net.Conn, error) { return tg.dial(ctx) },
			TLSClientConfig:     goUploadTLS(roots, aesOnly),
			MaxIdleConnsPerHost: 1,
		}})
		return clients[len(clients)-1]
	}
	var before tcp.Stats
	if tg.stats != nil {
		before = tg.stats()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	// The GET client's connection is made (and its first answer read)
	// before the uploads start: the card has 4 slots.
	getter := newClient()
	get := func() (time.Duration, error) {
		t0 := time.Now()
		req, _ := nethttp.NewRequestWithContext(ctx, "GET", "https://netcard.local/status.json", nil)
		resp, err := getter.Do(req)
		if err != nil {
			return 0, err
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err == nil && (resp.StatusCode != 200 || !bytes.Contains(b, []byte(`"link_up":true`))) {
			err = fmt.Errorf("GET /status.json = %d %.100q", resp.StatusCode, b)
		}
		return time.Since(t0), err
	}
	if withGet {
		if _, err := get(); err != nil {
			t.Fatal(err)
		}
	}

	datas := make([][]byte, n)
	for i := range datas {
		datas[i] = seeded(byte(10+i), 1<<20)
	}
	stop := make(chan struct{})
	var (
		gets    int
		maxGet  time.Duration
		getErr  error
		getDone = make(chan struct{})
	)
	go func() {
		defer close(getDone)
		for withGet {
			select {
			case <-stop:
				return
			default:
			}
			d, err := get()
			if err != nil {
				getErr = err
				return
			}
			gets++
			maxGet = max(maxGet, d)
		}
	}()

	type result struct {
		took time.Duration
		body []byte
		code int
		tls  uint16
		err  error
	}
	res := make([]result, n)
	var wg sync.WaitGroup
	t0 := time.Now()
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			t1 := time.Now()
			method := "PUT"
			if i%2 == 1 {
				method = "POST"
			}
			req, _ := nethttp.NewRequestWithContext(ctx, method, "https://netcard.local/upload", bytes.NewReader(datas[i]))
			resp, err := newClient().Do(req)
			if err != nil {
				res[i].err = err
				return
			}
			res[i].body, res[i].err = io.ReadAll(resp.Body)
			resp.Body.Close()
			res[i].code, res[i].tls, res[i].took = resp.StatusCode, resp.TLS.Version, time.Since(t1)
		}()
	}
	wg.Wait()
	all := time.Since(t0)
	close(stop)
	<-getDone
	for i, r := range res {
		if r.err != nil {
			t.Fatalf("upload %d: %v", i, r.err)
		}
		if want := goUploadTLS(nil, aesOnly).MinVersion; r.code != 200 || r.tls != want {
			t.Fatalf("upload %d: status %d, TLS version %x, %q", i, r.code, r.tls, r.body)
		}
		checkDigest(t, fmt.Sprintf("upload %d", i), r.body, datas[i])
		t.Logf("upload %d: 1 MiB in %v", i, r.took.Round(time.Millisecond))
	}
	if getErr != nil {
		t.Fatalf("GET during the uploads: %v", getErr)
	}
	if withGet && gets == 0 {
		t.Fatalf("no GET answered during %v of uploads", all)
	}
	t.Logf("%d concurrent 1 MiB uploads in %v (%.0f KiB/s in all); meanwhile %d GETs answered, slowest %v",
		n, all.Round(time.Millisecond), float64(n)*1024/all.Seconds(), gets, maxGet.Round(time.Millisecond))
	if tg.stats != nil {
		s := tg.stats()
		borrows, waits := s.LargeBorrows-before.LargeBorrows, s.LargeWaits-before.LargeWaits
		t.Logf("card: large buffer lent %d times, %d waits, %d growths", borrows, waits, s.LargeGrowths-before.LargeGrowths)
		// AES-GCM: each 1 MiB upload is ≥ 64 full records, each needing
		// the large buffer; with several at once some must have waited.
		// ChaCha20-Poly1305: every record streams through its slot's
		// spill region; no large buffer is lent.
		if aesOnly && (borrows < uint64(n*64) || waits == 0) {
			t.Fatalf("large buffer lent %d times with %d waits: the uploads did not take turns on it", borrows, waits)
		}
		if !aesOnly && borrows != 0 {
			t.Fatalf("ChaCha20-Poly1305 uploads: large buffer lent %d times (not streamed)", borrows)
		}
	}
	return all
}

// goUploadTLS is the Go clients' TLS configuration: TLS 1.3 (Go offers
// ChaCha20-Poly1305, which the card selects), or with aesOnly TLS 1.2 with
// only the AES-GCM suites (Go's TLS 1.3 suites cannot be restricted).
func goUploadTLS(roots *x509.CertPool, aesOnly bool) *stdtls.Config {
	if aesOnly {
		return &stdtls.Config{RootCAs: roots, ServerName: "netcard.local", MinVersion: stdtls.VersionTLS12,
			MaxVersion: stdtls.VersionTLS12, CipherSuites: []uint16{stdtls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
				stdtls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256}}
	}
	return &stdtls.Config{RootCAs: roots, ServerName: "netcard.local", MinVersion: stdtls.VersionTLS13}
}

// x509Pool reads a PEM certificate file into a pool.
func x509Pool(t *testing.T, pemFile string) *x509.CertPool {
	t.Helper()
	b, err := os.ReadFile(pemFile)
	if err != nil {
		t.Fatal(err)
	}
	p := x509.NewCertPool()
	if !p.AppendCertsFromPEM(b) {
		t.Fatalf("no certificate in %s", pemFile)
	}
	return p
}

// rawUpload is a hand-made PUT /upload request with its body, closing the
// connection after the answer.
func rawUpload(data []byte) []byte {
	head := fmt.Sprintf("PUT /upload HTTP/1.1\r\nHost: netcard.local\r\nContent-Length: %d\r\nConnection: close\r\n\r\n", len(data))
	return append([]byte(head), data...)
}

// answerBody returns the body of a raw HTTP response in out (after the
// final response's head) and checks its status.
func answerBody(t *testing.T, what string, out []byte) []byte {
	t.Helper()
	i := bytes.Index(out, []byte("HTTP/1.1 200"))
	if i < 0 {
		t.Fatalf("%s: no HTTP/1.1 200 in %.2000q", what, out)
	}
	j := bytes.Index(out[i:], []byte("\r\n\r\n"))
	if j < 0 {
		t.Fatalf("%s: no end of head in %.2000q", what, out[i:])
	}
	body := out[i+j+4:]
	if k := bytes.IndexByte(body, '\n'); k >= 0 {
		body = body[:k+1]
	}
	return body
}

// opensslUpload: OpenSSL's s_client (TLS 1.3, full verification) uploads
// 1 MiB piped into it; its -msg trace shows the sizes of the records it
// sent, which must include full 16 KiB ones.
func opensslUpload(t *testing.T, tg *upTarget) {
	need(t, "openssl")
	data := seeded(3, 1<<20)
	msg := filepath.Join(t.TempDir(), "msg")
	var before tcp.Stats
	if tg.stats != nil {
		before = tg.stats()
	}
	t0 := time.Now()
	out, errOut, err := tg.exec(t, 2*time.Minute, bytes.NewReader(rawUpload(data)), "openssl", "s_client",
		"-connect", tg.addr, "-servername", "netcard.local", "-CAfile", tg.ca, "-verify_return_error",
		"-tls1_3", "-quiet", "-msg", "-msgfile", msg)
	took := time.Since(t0)
	if err != nil {
		t.Fatalf("openssl s_client: %v\n%s\n%.2000s", err, errOut, out)
	}
	checkDigest(t, "openssl s_client", answerBody(t, "openssl s_client", out), data)
	trace, _ := os.ReadFile(msg)
	sizes := sentRecordSizes(string(trace))
	// s_client reads its input 8 KiB at a time (BUFSIZZ): records of
	// 8,209 bytes, beyond the Card profile's 3,926-byte slot buffers.
	full, largest := 0, 0
	for _, n := range sizes {
		largest = max(largest, n)
		if n > 3926 {
			full++
		}
	}
	t.Logf("openssl s_client: 1 MiB in %v; sent %d records, %d of them larger than a slot's buffer (largest %d B)",
		took.Round(time.Millisecond), len(sizes), full, largest)
	if full < 120 {
		t.Fatalf("openssl sent only %d records larger than 3,926 B (of %d: %v)", full, len(sizes), sizes)
	}
	if tg.stats != nil {
		// s_client offers ChaCha20-Poly1305: its records stream through the
		// slot's spill region, no large buffer is lent.
		b := tg.stats().LargeBorrows - before.LargeBorrows
		t.Logf("card: large buffer lent %d times", b)
		if b != 0 {
			t.Fatalf("%d records above a slot's buffer, large buffer lent %d times (not streamed)", full, b)
		}
	}
}

// curlRecordSizes parses a curl --trace file for the lengths of the
// application data records curl sent: "=> Send SSL data, 5 bytes" followed
// by the header "0000: 17 03 03 hh ll".
func curlRecordSizes(trace string) []int {
	var sizes []int
	lines := strings.Split(trace, "\n")
	for i := 0; i+1 < len(lines); i++ {
		if !strings.HasPrefix(lines[i], "=> Send SSL data, 5 bytes") {
			continue
		}
		f := strings.Fields(lines[i+1])
		if len(f) < 6 || f[0] != "0000:" || f[1] != "17" {
			continue
		}
		hi, err1 := strconv.ParseUint(f[4], 16, 8)
		lo, err2 := strconv.ParseUint(f[5], 16, 8)
		if err1 == nil && err2 == nil {
			sizes = append(sizes, int(hi)<<8|int(lo))
		}
	}
	return sizes
}

// sentRecordSizes parses an s_client -msg trace for the lengths of the TLS
// records it sent (">>> ... RecordHeader" followed by the five header bytes
// in hex).
func sentRecordSizes(trace string) []int {
	var sizes []int
	lines := strings.Split(trace, "\n")
	for i := 0; i+1 < len(lines); i++ {
		if !strings.HasPrefix(lines[i], ">>> ") || !strings.Contains(lines[i], "RecordHeader") {
			continue
		}
		f := strings.Fields(lines[i+1])
		if len(f) < 5 {
			continue
		}
		hi, err1 := strconv.ParseUint(f[3], 16, 8)
		lo, err2 := strconv.ParseUint(f[4], 16, 8)
		if err1 == nil && err2 == nil {
			sizes = append(sizes, int(hi)<<8|int(lo))
		}
	}
	return sizes
}

// gnutlsUpload: gnutls-cli (TLS 1.3, full verification) uploads n bytes
// piped into it. It reads its input 4 KiB at a time: records of about
// 4,118 bytes, beyond the Card profile's 3,926-byte slot buffers.
func gnutlsUpload(t *testing.T, tg *upTarget, n int) {
	need(t, "gnutls-cli")
	data := seeded(4, n)
	host, port, _ := net.SplitHostPort(tg.addr)
	var before tcp.Stats
	if tg.stats != nil {
		before = tg.stats()
	}
	t0 := time.Now()
	out, errOut, err := tg.exec(t, 2*time.Minute, bytes.NewReader(rawUpload(data)), "gnutls-cli",
		"--x509cafile", tg.ca, "--port", port, "--priority", "NORMAL:-VERS-ALL:+VERS-TLS1.3",
		"--sni-hostname", "netcard.local", "--verify-hostname", "netcard.local", host)
	took := time.Since(t0)
	if err != nil && !bytes.Contains(out, []byte("HTTP/1.1 200")) {
		t.Fatalf("gnutls-cli: %v\n%s\n%.2000s", err, errOut, out)
	}
	checkDigest(t, "gnutls-cli", answerBody(t, "gnutls-cli", out), data)
	t.Logf("gnutls-cli: %d KiB in %v (%.0f KiB/s)", n>>10, took.Round(time.Millisecond), float64(n)/1024/took.Seconds())
	if tg.stats != nil {
		// ~4 KiB ChaCha20-Poly1305 records (gnutls-cli offers it) stream
		// through the slot's spill region: no large buffer is lent.
		b := tg.stats().LargeBorrows - before.LargeBorrows
		t.Logf("card: large buffer lent %d times", b)
		if b != 0 {
			t.Fatalf("%d bytes in ~4 KiB records, large buffer lent %d times (not streamed)", n, b)
		}
	}
}

// TestUploadCurl: curl's uploads to the in-process card behind gVisor.
func TestUploadCurl(t *testing.T) {
	curlUploads(t, gvisorTarget(t))
}

// TestUploadConcurrentGo: three concurrent 1 MiB uploads (the Card
// profile's four slots: the fourth is the GET client's, served throughout)
// take turns on the one large buffer, behind gVisor; then four at once.
func TestUploadConcurrentGo(t *testing.T) {
	tg := gvisorTarget(t)
	t.Run("3-and-GET", func(t *testing.T) {
		if d := goConcurrentUploads(t, tg, 3, true, false); d > 2*time.Minute {
			t.Fatalf("uploads took %v", d)
		}
	})
	t.Run("4", func(t *testing.T) {
		if d := goConcurrentUploads(t, tg, 4, false, false); d > 2*time.Minute {
			t.Fatalf("uploads took %v", d)
		}
	})
	t.Run("3-and-GET-aes-gcm", func(t *testing.T) {
		if d := goConcurrentUploads(t, tg, 3, true, true); d > 2*time.Minute {
			t.Fatalf("uploads took %v", d)
		}
	})
}

// TestUploadOpenSSLGnuTLS: OpenSSL's s_client (8 KiB records) and GnuTLS's
// gnutls-cli (4 KiB records) upload to the Card profile behind gVisor: both
// record sizes exceed a slot's buffer. (Full 16 KiB records: curl, which
// uses OpenSSL, in curlUploads.)
func TestUploadOpenSSLGnuTLS(t *testing.T) {
	tg := gvisorTarget(t)
	t.Run("openssl", func(t *testing.T) { opensslUpload(t, tg) })
	t.Run("gnutls", func(t *testing.T) { gnutlsUpload(t, tg, 1<<20) })
}

// TestUploadTinyGnuTLS: the Tiny profile (1 KiB receive buffer, one
// connection, record_size_limit 512) behind gVisor takes a 1 MiB upload
// from gnutls-cli --recordsize=512 (RFC 8449).
func TestUploadTinyGnuTLS(t *testing.T) {
	need(t, "gnutls-cli")
	rg := newRig(t, tinyProfile(), 0)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	tg := &upTarget{
		argv: func(prog string, args ...string) []string { return append([]string{prog}, args...) },
		ca:   rg.certFile(t),
		dial: func(ctx context.Context) (net.Conn, error) {
			return rg.ns.Net().DialContext(ctx, "tcp", rg.cardIP.String()+":443")
		},
	}
	tinyGnuTLSUpload(t, tg, ln)
}

// tinyGnuTLSUpload uploads 1 MiB with gnutls-cli --recordsize=512 through
// a forwarder listening on ln (reached by tg.argv's programs) that dials the
// card with tg.dial and counts the TLS records passing to it.
//
// gnutls-cli sends only one record's worth of each read of its input (it
// ignores gnutls_record_send's short count, silently dropping the rest),
// so the request is fed one record's worth (511 bytes: record_size_limit
// counts TLS 1.3's content type byte) at a time, each after the previous
// one's record has passed the forwarder.
func tinyGnuTLSUpload(t *testing.T, tg *upTarget, ln net.Listener) {
	t.Helper()
	records := countingForward(t, ln, tg.dial)
	data := seeded(6, 1<<20)
	req := rawUpload(data)
	const chunk = 511
	host, p, _ := net.SplitHostPort(ln.Addr().String())
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	argv := tg.argv("gnutls-cli", "--x509cafile", tg.ca, "--recordsize=512", "--port", p,
		"--priority", "NORMAL:-VERS-ALL:+VERS-TLS1.3", "--sni-hostname", "netcard.local",
		"--verify-hostname", "netcard.local", host)
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.WaitDelay = 5 * time.Second
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out := &watchedBuffer{wake: make(chan struct{})}
	cmd.Stdout = out
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	t0 := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waitErr := make(chan error, 1)
	go func() { waitErr <- cmd.Wait() }()
	fail := func(format string, args ...any) {
		t.Helper()
		stdin.Close()
		cancel()
		<-waitErr
		t.Fatalf(format+"\ngnutls-cli stdout:\n%s\nstderr:\n%s", append(args, out.String(), stderr.String())...)
	}
	if err := out.waitFor(ctx, "Simple Client Mode"); err != nil {
		fail("handshake: %v", err)
	}
	// The client's first encrypted record is its Finished; then one record
	// per chunk.
	for i, k := 0, int64(1); i < len(req); i, k = i+chunk, k+1 {
		if _, err := stdin.Write(req[i:min(i+chunk, len(req))]); err != nil {
			fail("writing to gnutls-cli: %v", err)
		}
		if err := records.waitAtLeast(ctx, k+1); err != nil {
			fail("record %d did not reach the card (%d passed): %v", k, records.load(), err)
		}
	}
	if err := out.waitFor(ctx, "\"}"); err != nil {
		fail("no answer: %v", err)
	}
	took := time.Since(t0)
	stdin.Close()
	select {
	case <-waitErr:
	case <-ctx.Done():
		t.Fatal("gnutls-cli did not exit")
	}
	checkDigest(t, "gnutls-cli to Tiny", answerBody(t, "gnutls-cli to Tiny", []byte(out.String())), data)
	t.Logf("Tiny profile, gnutls-cli --recordsize=512: %d KiB in %d records, %v with the handshake (%.0f KiB/s)",
		len(data)>>10, (len(req)+chunk-1)/chunk, took.Round(time.Millisecond), float64(len(data))/1024/took.Seconds())
}

// watchedBuffer is a program's output that can be waited on.
type watchedBuffer struct {
	mu   sync.Mutex
	b    bytes.Buffer
	wake chan struct{}
}

func (w *watchedBuffer) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	close(w.wake)
	w.wake = make(chan struct{})
	return w.b.Write(p)
}

func (w *watchedBuffer) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.String()
}

// waitFor waits until the output contains s.
func (w *watchedBuffer) waitFor(ctx context.Context, s string) error {
	for {
		w.mu.Lock()
		found, wake := strings.Contains(w.b.String(), s), w.wake
		w.mu.Unlock()
		if found {
			return nil
		}
		select {
		case <-wake:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// byteCount is a counter that can be waited on.
type byteCount struct {
	mu   sync.Mutex
	n    int64
	wake chan struct{}
}

func (c *byteCount) add(k int) {
	c.mu.Lock()
	c.n += int64(k)
	close(c.wake)
	c.wake = make(chan struct{})
	c.mu.Unlock()
}

func (c *byteCount) load() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n
}

// waitAtLeast waits until the count reaches n.
func (c *byteCount) waitAtLeast(ctx context.Context, n int64) error {
	for {
		c.mu.Lock()
		ok, wake := c.n >= n, c.wake
		c.mu.Unlock()
		if ok {
			return nil
		}
		select {
		case <-wake:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// recordCounter passes a TLS stream to w and counts the complete
// application_data (type 23) records in it.
type recordCounter struct {
	w    io.Writer
	c    *byteCount
	hdr  [5]byte
	nhdr int // header bytes seen of the current record
	left int // body bytes of the current record still to come
}

func (rc *recordCounter) Write(p []byte) (int, error) {
	n, err := rc.w.Write(p)
	for q := p[:n]; len(q) > 0; {
		if rc.nhdr < 5 {
			k := copy(rc.hdr[rc.nhdr:], q)
			rc.nhdr += k
			q = q[k:]
			if rc.nhdr == 5 {
				rc.left = int(rc.hdr[3])<<8 | int(rc.hdr[4])
			}
		} else {
			k := min(rc.left, len(q))
			rc.left -= k
			q = q[k:]
		}
		if rc.nhdr == 5 && rc.left == 0 {
			if rc.hdr[0] == 23 {
				rc.c.add(1)
			}
			rc.nhdr = 0
		}
	}
	return n, err
}

// countingForward accepts connections on ln, one at a time, and splices
// each into a connection to the card made with dial, counting the
// application_data records the client sends.
func countingForward(t *testing.T, ln net.Listener, dial func(ctx context.Context) (net.Conn, error)) *byteCount {
	t.Helper()
	cnt := &byteCount{wake: make(chan struct{})}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			func() {
				defer c.Close()
				ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
				cc, err := dial(ctx)
				cancel()
				if err != nil {
					return
				}
				defer cc.Close()
				done := make(chan struct{}, 2)
				go func() {
					io.Copy(&recordCounter{w: cc, c: cnt}, c)
					if cw, ok := cc.(interface{ CloseWrite() error }); ok {
						cw.CloseWrite()
					}
					done <- struct{}{}
				}()
				go func() {
					io.Copy(c, cc)
					if cw, ok := c.(interface{ CloseWrite() error }); ok {
						cw.CloseWrite()
					}
					done <- struct{}{}
				}()
				<-done
				<-done
			}()
		}
	}()
	return cnt
}

// TestUploadKernelTUN: the same clients against the netcard binary through
// the Linux kernel's TCP/IP (TUN in a namespace).
func TestUploadKernelTUN(t *testing.T) {
	tg, _ := tunTarget(t, "card")
	t.Run("curl", func(t *testing.T) { curlUploads(t, tg) })
	t.Run("go-concurrent", func(t *testing.T) {
		if d := goConcurrentUploads(t, tg, 3, true, false); d > 2*time.Minute {
			t.Fatalf("uploads took %v", d)
		}
	})
	t.Run("openssl", func(t *testing.T) { opensslUpload(t, tg) })
	t.Run("gnutls", func(t *testing.T) { gnutlsUpload(t, tg, 1<<20) })
}

// TestUploadTinyKernelTUN: the netcard binary with the Tiny profile behind
// the Linux kernel's TCP/IP (TUN in a namespace) takes a 1 MiB upload from
// gnutls-cli --recordsize=512 run in the namespace.
func TestUploadTinyKernelTUN(t *testing.T) {
	need(t, "gnutls-cli")
	tg, ns := tunTarget(t, "tiny")
	tinyGnuTLSUpload(t, tg, listenIn(t, ns, "127.0.0.1:0"))
}
