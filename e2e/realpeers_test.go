package e2e

// The real card (the `netcard serve --link stdio` binary, or card.New +
// card.Runner in-process) against real, unmodified peers: slirp, the Linux
// kernel's PPP driver with pppd 2.4.9 in user-mode Linux, and the Linux
// kernel's TCP/IP over a TUN device (`netcard host --tun`). Clients are the
// system curl and ping, run inside a network namespace the test creates (or
// inside the UML guest); the card's own secure client fetches from a Go
// HTTPS server listening inside that namespace.
//
// Every test needs root and the peer programs (peers.Require: a skip, or a
// failure when CI=true), deletes its namespaces, and stops every process it
// started by PID.

import (
	"bufio"
	"context"
	"crypto/rand"
	stdtls "crypto/tls"
	"encoding/pem"
	"fmt"
	"io"
	"log"
	"net"
	nethttp "net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"netcard/card"
	"netcard/host"
	"netcard/host/peers"
	"netcard/host/uml"
	"netcard/ppp"
	"netcard/store"
)

// The netcard command, built once per test binary (netcardBinary) into a
// directory TestMain removes.
var (
	ncOnce sync.Once
	ncDir  string
	ncBin  string
	ncErr  error
)

// TestMain removes the netcard binary built for the real-peer tests.
func TestMain(m *testing.M) {
	code := m.Run()
	if ncDir != "" {
		os.RemoveAll(ncDir)
	}
	os.Exit(code)
}

// netcardBinary builds the netcard command (once) and returns its path.
func netcardBinary(t *testing.T) string {
	t.Helper()
	ncOnce.Do(func() {
		t0 := time.Now()
		if ncDir, ncErr = os.MkdirTemp("", "netcard-e2e-"); ncErr != nil {
			return
		}
		ncBin = filepath.Join(ncDir, "netcard")
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		out, err := exec.CommandContext(ctx, "go", "build", "-o", ncBin, "netcard/cmd/netcard").CombinedOutput()
		if err != nil {
			ncErr = fmt.Errorf("go build netcard/cmd/netcard: %v\n%s", err, out)
			return
		}
		t.Logf("built %s in %v", ncBin, time.Since(t0).Round(time.Millisecond))
	})
	if ncErr != nil {
		t.Fatal(ncErr)
	}
	return ncBin
}

// cardImage creates a personalised card image in dir (key generated on the
// card), runs setup on its store, and writes the card's certificate as PEM.
func cardImage(t *testing.T, dir string, setup func(st *store.Store) error) (img, certFile string) {
	t.Helper()
	img, certFile = filepath.Join(dir, "card.img"), filepath.Join(dir, "card.pem")
	st, err := store.Create(img, store.DefaultSize, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := card.Personalise(st, card.DefaultPersonalisation(), rand.Reader, time.Now()); err != nil {
		t.Fatal(err)
	}
	if setup != nil {
		if err := setup(st); err != nil {
			t.Fatal(err)
		}
	}
	var pemData []byte
	for _, der := range st.Certificate() {
		pemData = append(pemData, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})...)
	}
	if err := os.WriteFile(certFile, pemData, 0o644); err != nil {
		t.Fatal(err)
	}
	return img, certFile
}

// adminSetup installs the admin bearer secret and the given trust anchors.
func adminSetup(anchors ...*testCA) func(st *store.Store) error {
	return func(st *store.Store) error {
		if err := st.SetAdminSecret([]byte(adminSecret)); err != nil {
			return err
		}
		var ders [][]byte
		for _, a := range anchors {
			ders = append(ders, a.cert.Raw)
		}
		return st.SetAnchors(ders)
	}
}

// proc is a netcard process whose stderr (its slog lines) we watch.
type proc struct {
	name string
	p    *peers.Process
	mu   sync.Mutex
	log  []string
	wake chan struct{} // closed and replaced on every new line
	eof  chan struct{} // stderr reached EOF
}

// startNetcard runs bin with args, the serial line (a socket) as stdin and
// stdout, and registers its stop (SIGTERM, then SIGKILL, by PID) as a
// cleanup.
func startNetcard(t *testing.T, name string, line *os.File, bin string, args ...string) *proc {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = line, line, w
	p, err := peers.StartProcess(cmd)
	w.Close()
	if err != nil {
		r.Close()
		t.Fatal(err)
	}
	pr := &proc{name: name, p: p, wake: make(chan struct{}), eof: make(chan struct{})}
	go func() {
		defer close(pr.eof)
		defer r.Close()
		sc := bufio.NewScanner(r)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			pr.mu.Lock()
			pr.log = append(pr.log, sc.Text())
			close(pr.wake)
			pr.wake = make(chan struct{})
			pr.mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		pr.stop()
		if t.Failed() {
			t.Logf("%s stderr:\n%s", name, pr.logText())
		}
	})
	return pr
}

// stop ends the process by its PID (SIGTERM: the card terminates the link).
func (pr *proc) stop() {
	pr.p.Stop(3*time.Second, false)
	select {
	case <-pr.eof:
	case <-time.After(3 * time.Second):
	}
}

func (pr *proc) logText() string {
	pr.mu.Lock()
	defer pr.mu.Unlock()
	return strings.Join(pr.log, "\n")
}

// waitLog waits for the n-th stderr line (counting from 1) containing s and
// returns it; it fails early when the process exits.
func (pr *proc) waitLog(ctx context.Context, s string, n int) (string, error) {
	for {
		pr.mu.Lock()
		k := 0
		for _, l := range pr.log {
			if strings.Contains(l, s) {
				if k++; k == n {
					pr.mu.Unlock()
					return l, nil
				}
			}
		}
		wake := pr.wake
		pr.mu.Unlock()
		select {
		case <-wake:
		case <-pr.eof:
			return "", fmt.Errorf("%s exited before logging %q (#%d)", pr.name, s, n)
		case <-ctx.Done():
			return "", fmt.Errorf("waiting for %s to log %q (#%d): %w", pr.name, s, n, ctx.Err())
		}
	}
}

// nsRun runs a program inside the namespace with a deadline and returns
// its combined output.
func nsRun(ctx context.Context, ns *peers.Netns, timeout time.Duration, prog string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", ns.Name, prog}, args...)...)
	cmd.WaitDelay = 2 * time.Second
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("%s %s: %v\n%s", prog, strings.Join(args, " "), err, out)
	}
	return string(out), nil
}

// curlTrailer is appended to curl's output with -w: the HTTP status and the
// certificate verification result (0 = verified).
const curlTrailer = "\n@@ %{http_code} %{ssl_verify_result}\n"

// curlIn runs curl in the namespace; it returns the body and the HTTP status
// and fails the test when curl fails or the certificate was not verified.
func curlIn(t *testing.T, ctx context.Context, ns *peers.Netns, args ...string) (string, string) {
	t.Helper()
	t0 := time.Now()
	args = append([]string{"-sS", "--max-time", "20", "-w", curlTrailer}, args...)
	out, err := nsRun(ctx, ns, 25*time.Second, "curl", args...)
	if err != nil {
		t.Fatal(err)
	}
	i := strings.LastIndex(out, "\n@@ ")
	if i < 0 {
		t.Fatalf("curl output without trailer: %q", out)
	}
	f := strings.Fields(out[i+4:])
	if len(f) != 2 {
		t.Fatalf("curl trailer %q", out[i:])
	}
	if f[1] != "0" {
		t.Fatalf("curl: certificate verification result %s", f[1])
	}
	t.Logf("curl %s -> %s (%v)", args[len(args)-1], f[0], time.Since(t0).Round(time.Millisecond))
	return out[:i], f[0]
}

// helloServer serves HTTPS (cert; plain HTTP if cert is empty) on ln (a listener created inside the
// test namespace) and counts the requests it answered.
func helloServer(t *testing.T, ln net.Listener, cert stdtls.Certificate, hits *atomic.Int64) {
	t.Helper()
	srv := &nethttp.Server{
		TLSConfig: &stdtls.Config{Certificates: []stdtls.Certificate{cert}},
		Handler: nethttp.HandlerFunc(func(w nethttp.ResponseWriter, r *nethttp.Request) {
			hits.Add(1)
			w.Header().Set("Content-Type", "text/plain")
			fmt.Fprintf(w, "hello card: %s %s host=%s tls=%v\n", r.Method, r.URL.Path, r.Host, r.TLS != nil)
		}),
		ErrorLog: log.New(io.Discard, "", 0),
	}
	if cert.Certificate == nil {
		srv.TLSConfig = nil
		go srv.Serve(ln)
	} else {
		go srv.ServeTLS(ln, "", "")
	}
	t.Cleanup(func() { srv.Close() })
}

// listenIn creates a TCP listener inside the namespace.
func listenIn(t *testing.T, ns *peers.Netns, addr string) net.Listener {
	t.Helper()
	var ln net.Listener
	if err := ns.Do(func() (err error) {
		ln, err = net.Listen("tcp", addr)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln
}

// cardFetch asks the card (admin bearer over HTTPS via base, a curl
// --resolve/--cacert prefix) to fetch target, waits for the card to log the
// end of the fetch, and returns GET /admin/fetch.
func cardFetch(t *testing.T, ctx context.Context, ns *peers.Netns, pr *proc, n int, base []string, cardURL, target string) string {
	t.Helper()
	t0 := time.Now()
	auth := "Authorization: Bearer " + adminSecret
	args := append(append([]string{}, base...), "-X", "POST", "-H", auth, cardURL+"/admin/fetch?url="+url.QueryEscape(target))
	body, code := curlIn(t, ctx, ns, args...)
	if code != "202" {
		t.Fatalf("POST /admin/fetch = %s %q", code, body)
	}
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	line, err := pr.waitLog(wctx, "fetch done", n)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("card: %s", line)
	args = append(append([]string{}, base...), "-H", auth, cardURL+"/admin/fetch")
	page, code := curlIn(t, ctx, ns, args...)
	if code != "200" || !strings.Contains(page, "state: done") {
		t.Fatalf("GET /admin/fetch = %s %q", code, page)
	}
	t.Logf("fetch %s: %v", target, time.Since(t0).Round(time.Millisecond))
	return page
}

// TestRealSlirp: `netcard serve --link stdio` is slirp's PPP peer (one
// socketpair: slirp's stdin/stdout on one end, the card's on the other).
// From inside the namespace, curl reaches HTTPS on the card through slirp's
// port redirection with full verification (the certificate's DNS name
// netcard.local), and port 80's redirect; the card's secure client fetches
// through slirp's NAT (10.0.2.2 = the namespace's loopback) from a Go HTTPS
// server whose certificate chains to the card's anchors.
func TestRealSlirp(t *testing.T) {
	peers.Require(t, "ip", "curl", peers.SlirpProgram)
	t0 := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	dir := t.TempDir()
	bin := netcardBinary(t)
	tStart := time.Now()
	ca := newCA(t, "slirp test CA")
	img, certFile := cardImage(t, dir, adminSetup(ca))
	ns := peers.TestNetns(t)

	ln := listenIn(t, ns, "127.0.0.1:0")
	var hits atomic.Int64
	helloServer(t, ln, ca.issue(t, []net.IP{net.IPv4(10, 0, 2, 2)}, nil), &hits)
	plainLn := listenIn(t, ns, "127.0.0.1:0")
	helloServer(t, plainLn, stdtls.Certificate{}, new(atomic.Int64))

	slirpDir := filepath.Join(dir, "slirp")
	if err := os.Mkdir(slirpDir, 0o755); err != nil {
		t.Fatal(err)
	}
	s, err := peers.StartSlirp(ns, peers.SlirpConfig{Dir: slirpDir,
		Redirs: []peers.Redir{{HostPort: 18443, GuestPort: 443}, {HostPort: 18080, GuestPort: 80}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		s.Close()
		if t.Failed() {
			b, _ := os.ReadFile(s.Log)
			t.Logf("slirp: %s\nslirp stderr:\n%s", s.CommandLine(), b)
		}
	})
	line, err := peers.File(s.Conn)
	if err != nil {
		t.Fatal(err)
	}
	cardPcap := filepath.Join(dir, "card.pcap")
	pr := startNetcard(t, "netcard serve", line, bin, "serve", "--link", "stdio", "--store", img, "--pcap", cardPcap)
	line.Close()
	defer checkVJFrames(t, cardPcap) // the card and slirp compress TCP/IP headers both ways (RFC 1144)
	wctx, wcancel := context.WithTimeout(ctx, 20*time.Second)
	up, err := pr.waitLog(wctx, "link up", 1)
	wcancel()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(up, "local=10.0.2.15") {
		t.Errorf("slirp should have given the card 10.0.2.15: %s", up)
	}
	t.Logf("PPP up with slirp %v after start: %s", time.Since(tStart).Round(time.Millisecond), up)

	base := []string{"--cacert", certFile, "--resolve", "netcard.local:18443:" + peers.HostAddr}
	const cardURL = "https://netcard.local:18443"
	t.Run("curl-https-status", func(t *testing.T) {
		body, code := curlIn(t, ctx, ns, append(base, cardURL+"/status")...)
		if code != "200" || !strings.Contains(body, "netcard") {
			t.Fatalf("GET /status = %s %q", code, body)
		}
	})
	t.Run("curl-http-redirect", func(t *testing.T) {
		body, code := curlIn(t, ctx, ns, "http://"+peers.HostAddr+":18080/status")
		if !strings.HasPrefix(code, "30") {
			t.Fatalf("GET http://…:18080/status = %s %q, want a redirect to HTTPS", code, body)
		}
	})
	t.Run("card-fetches-through-NAT", func(t *testing.T) {
		target := fmt.Sprintf("https://10.0.2.2:%d/through-slirp", ln.Addr().(*net.TCPAddr).Port)
		page := cardFetch(t, ctx, ns, pr, 1, base, cardURL, target)
		if !strings.Contains(page, "status: 200") || !strings.Contains(page, "hello card: GET /through-slirp") {
			t.Fatalf("fetch result:\n%s", page)
		}
		if hits.Load() != 1 {
			t.Fatalf("server answered %d requests, want 1", hits.Load())
		}
	})
	t.Run("card-fetches-plain-http-through-NAT", func(t *testing.T) {
		target := fmt.Sprintf("http://10.0.2.2:%d/plain", plainLn.Addr().(*net.TCPAddr).Port)
		page := cardFetch(t, ctx, ns, pr, 2, base, cardURL, target)
		if !strings.Contains(page, "status: 200") || !strings.Contains(page, "hello card: GET /plain host=10.0.2.2:") ||
			!strings.Contains(page, "tls=false") {
			t.Fatalf("fetch result:\n%s", page)
		}
	})
	t.Logf("TestRealSlirp: %v total (%v after the build)", time.Since(t0).Round(time.Millisecond), time.Since(tStart).Round(time.Millisecond))
}

// TestRealUMLPPPD: the card on the host end of user-mode Linux's serial
// line, pppd (the real Linux PPP driver) with default options in the guest,
// pppd assigning 10.0.2.15 to the card. The guest curls HTTPS from the card
// with full verification (by IP and by DNS name) and pings it. One boot for
// two runs: the `netcard serve --link stdio` binary (card profile), then an
// in-process card.Runner with the tiny profile (MRU 296, 1 KiB receive
// buffer).
func TestRealUMLPPPD(t *testing.T) {
	if testing.Short() {
		t.Skip("boots user-mode Linux")
	}
	peers.Require(t, "ip", uml.Kernel, "pppd", "curl", "ping")
	t0 := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	dir := t.TempDir()
	bin := netcardBinary(t)
	img, certFile := cardImage(t, dir, nil)
	// UML runs in a namespace of its own (only lo), so nothing started in it
	// can reach any network outside.
	ns := peers.TestNetns(t)
	tBoot := time.Now()
	u, err := uml.Boot(ctx, uml.Config{Dir: filepath.Join(dir, "uml"), NS: ns})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Log(u.Diagnostics())
		}
		u.Close()
	})
	t.Logf("UML booted in %v", time.Since(tBoot).Round(time.Millisecond))

	// The guest sees the host's / through hostfs: certFile is readable there.
	// guestCmd curls the card by address and by DNS name (-w reports each
	// status and verification result, 0 = ok), then pings it. With one
	// curl process (they start slowly in UML) the first connection stays
	// open in curl's pool while the second is made; the tiny profile has a
	// single TCP connection, so there each transfer gets its own process.
	guestCmd := func(page string, oneProcess bool) string {
		curl := fmt.Sprintf("curl -sS --max-time 20 --cacert %s --resolve netcard.local:443:10.0.2.15 "+
			"-w 'got %%{url_effective} %%{http_code} %%{ssl_verify_result} %%{size_download}\\n' -o /dev/null ", certFile)
		curls := curl + "https://10.0.2.15/ -o /dev/null https://netcard.local" + page
		if !oneProcess {
			curls = curl + "https://10.0.2.15/\n" + curl + "https://netcard.local" + page
		}
		return `set -e
up() { echo "uptime $(cut -d' ' -f1 /proc/uptime) $1"; }
up start
` + curls + `
up curl-done
ping -c 3 -i 0.3 -W 3 10.0.2.15
up ping-done
`
	}

	check := func(t *testing.T, sess *uml.Session, page string) {
		t.Helper()
		tRun := time.Now()
		up, err := sess.WaitUp(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if up.Remote != "10.0.2.15" {
			t.Errorf("pppd assigned the card %s, want 10.0.2.15", up.Remote)
		}
		t.Logf("pppd ip-up after %v: %+v", time.Since(tRun).Round(time.Millisecond), up)
		tUp := time.Now()
		rc, out, err := sess.CmdResult(ctx)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("guest commands done %v after ip-up:\n%s", time.Since(tUp).Round(time.Millisecond), out)
		if rc != "0" || !strings.Contains(out, "got https://10.0.2.15/ 200 0 ") ||
			!strings.Contains(out, "got https://netcard.local"+page+" 200 0 ") ||
			!strings.Contains(out, "3 packets transmitted, 3 received") {
			t.Errorf("guest commands exited %s:\n%s\npppd log:\n%s", rc, out, sess.Log())
		}
		if rc, err := sess.Stop(ctx); err != nil || (rc != "0" && rc != "5") {
			t.Errorf("pppd stop: rc=%q err=%v", rc, err)
		}
	}

	t.Run("serve-binary", func(t *testing.T) {
		t1 := time.Now()
		line, err := peers.File(u.Line())
		if err != nil {
			t.Fatal(err)
		}
		cardPcap := filepath.Join(t.TempDir(), "card.pcap")
		pr := startNetcard(t, "netcard serve", line, bin, "serve", "--link", "stdio", "--store", img, "--pcap", cardPcap)
		line.Close()
		sess, err := u.Start(uml.Run{Options: []string{"10.0.2.2:10.0.2.15"}, Cmd: guestCmd("/status", true)})
		if err != nil {
			t.Fatal(err)
		}
		check(t, sess, "/status")
		pr.stop()
		checkVJFrames(t, cardPcap) // the card and Linux compress TCP/IP headers both ways (RFC 1144)
		t.Logf("serve-binary: %v", time.Since(t1).Round(time.Millisecond))
	})
	t.Run("in-process-tiny", func(t *testing.T) {
		t1 := time.Now()
		st, err := store.Open(img)
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		st.SetClock(time.Now)
		c, err := card.New(card.Config{Profile: card.TinyProfile, Store: st, Rand: rand.Reader, Clock: time.Now})
		if err != nil {
			t.Fatal(err)
		}
		port := peers.Borrow(u.Line())
		r := card.NewRunner(c, port, nil)
		r.Do(func(now time.Time) { c.Start(now) })
		rctx, rcancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- r.Run(rctx) }()
		defer func() {
			rcancel()
			port.Close()
			<-done
		}()
		// The tiny profile's 512-byte HTTP output buffer cannot hold the
		// /status page (it answers 500 by design): fetch the home page.
		sess, err := u.Start(uml.Run{Options: []string{"10.0.2.2:10.0.2.15"}, Cmd: guestCmd("/", false)})
		if err != nil {
			t.Fatal(err)
		}
		check(t, sess, "/")
		var vj ppp.VJStats
		r.Do(func(time.Time) { vj = c.Link().VJStats() })
		if vj.CompIn == 0 || vj.CompOut == 0 || vj.Errors != 0 { // (pppd has gone: IPCP is down now)
			t.Errorf("tiny card, VJ with pppd (1 state for 16 slot ids): %+v", vj)
		}
		t.Logf("in-process-tiny: %v; VJ %+v", time.Since(t1).Round(time.Millisecond), vj)
	})
	t.Logf("TestRealUMLPPPD: %v total", time.Since(t0).Round(time.Millisecond))
}

// TestRealTUN: the Linux kernel's TCP/IP as the peer, over a TUN device in
// a namespace the test creates, with our PPP in host role between the TUN
// and the card binary (`netcard serve --link stdio`). Two variants: the host
// side in-process (host.NewTUN), and the `netcard host --link stdio --tun
// --netns` binary. From inside the namespace ping and curl (full
// verification) reach the card at 10.64.0.2; the card's secure client
// fetches from a Go HTTPS server listening in the namespace (10.64.0.1).
func TestRealTUN(t *testing.T) {
	peers.Require(t, "ip", "curl", "ping", "/dev/net/tun")
	t0 := time.Now()
	bin := netcardBinary(t)
	ca := newCA(t, "tun test CA")
	srvCert := ca.issue(t, []net.IP{net.IPv4(10, 64, 0, 1)}, nil)

	run := func(t *testing.T, binaryHost bool) {
		t1 := time.Now()
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		img, certFile := cardImage(t, t.TempDir(), adminSetup(ca))
		ns := peers.TestNetns(t)
		ln := listenIn(t, ns, "0.0.0.0:0")
		var hits atomic.Int64
		helloServer(t, ln, srvCert, &hits)
		plainLn := listenIn(t, ns, "0.0.0.0:0")
		helloServer(t, plainLn, stdtls.Certificate{}, new(atomic.Int64))

		fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
		if err != nil {
			t.Fatal(err)
		}
		cardEnd, hostEnd := os.NewFile(uintptr(fds[0]), "card-line"), os.NewFile(uintptr(fds[1]), "host-line")
		defer hostEnd.Close()
		pr := startNetcard(t, "netcard serve", cardEnd, bin, "serve", "--link", "stdio", "--store", img)
		cardEnd.Close()
		wctx, wcancel := context.WithTimeout(ctx, 20*time.Second)
		defer wcancel()
		if binaryHost {
			hp := startNetcard(t, "netcard host", hostEnd, bin, "host", "--link", "stdio", "--tun", "nc0", "--netns", ns.Name)
			hostEnd.Close()
			if _, err := hp.waitLog(wctx, "link up", 1); err != nil {
				t.Fatal(err)
			}
		} else {
			conn, err := net.FileConn(hostEnd)
			if err != nil {
				t.Fatal(err)
			}
			hostEnd.Close()
			var cfg host.TUNConfig
			cfg.Netns = ns.Name
			cfg.PPP.LocalIP, cfg.PPP.PeerIP = [4]byte{10, 64, 0, 1}, [4]byte{10, 64, 0, 2}
			tun, err := host.NewTUN(conn, "nc0", cfg)
			if err != nil {
				conn.Close()
				t.Fatal(err)
			}
			t.Cleanup(func() { tun.Close() })
			if err := tun.WaitUp(wctx); err != nil {
				t.Fatal(err)
			}
		}
		up, err := pr.waitLog(wctx, "link up", 1)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(up, "local=10.64.0.2") {
			t.Errorf("the card should be 10.64.0.2: %s", up)
		}
		t.Logf("PPP up after %v: %s", time.Since(t1).Round(time.Millisecond), up)

		tp := time.Now()
		out, err := nsRun(ctx, ns, 15*time.Second, "ping", "-c", "3", "-i", "0.2", "-W", "3", "10.64.0.2")
		if err != nil || !strings.Contains(out, "3 packets transmitted, 3 received") {
			t.Fatalf("ping: %v\n%s", err, out)
		}
		t.Logf("ping -c 3: %v", time.Since(tp).Round(time.Millisecond))
		body, code := curlIn(t, ctx, ns, "--cacert", certFile, "https://10.64.0.2/")
		if code != "200" || !strings.Contains(body, "netcard") {
			t.Fatalf("GET https://10.64.0.2/ = %s %q", code, body)
		}
		base := []string{"--cacert", certFile}
		target := fmt.Sprintf("https://10.64.0.1:%d/through-tun", ln.Addr().(*net.TCPAddr).Port)
		page := cardFetch(t, ctx, ns, pr, 1, base, "https://10.64.0.2", target)
		if !strings.Contains(page, "status: 200") || !strings.Contains(page, "hello card: GET /through-tun") {
			t.Fatalf("fetch result:\n%s", page)
		}
		if hits.Load() != 1 {
			t.Fatalf("server answered %d requests, want 1", hits.Load())
		}
		target = fmt.Sprintf("http://10.64.0.1:%d/plain", plainLn.Addr().(*net.TCPAddr).Port)
		page = cardFetch(t, ctx, ns, pr, 2, base, "https://10.64.0.2", target)
		if !strings.Contains(page, "status: 200") || !strings.Contains(page, "hello card: GET /plain") || !strings.Contains(page, "tls=false") {
			t.Fatalf("fetch result:\n%s", page)
		}
		t.Logf("variant total %v", time.Since(t1).Round(time.Millisecond))
	}
	t.Run("host-in-process", func(t *testing.T) { run(t, false) })
	t.Run("host-binary", func(t *testing.T) { run(t, true) })
	t.Logf("TestRealTUN: %v total", time.Since(t0).Round(time.Millisecond))
}
