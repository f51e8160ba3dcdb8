package e2e

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	stdtls "crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"io"
	"log"
	"math/big"
	"net"
	nethttp "net/http"
	"net/netip"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"netcard/apps"
	"netcard/store"
)

// hostIP is the host's PPP address: where the card reaches the netstack.
var hostIP = netip.AddrFrom4([4]byte{10, 0, 2, 2})

// testCA is a throwaway certificate authority.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

func newCA(t *testing.T, cn string) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature, BasicConstraintsValid: true, IsCA: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	return &testCA{cert: c, key: key}
}

// issue makes a server certificate for the given names.
func (ca *testCA) issue(t *testing.T, ips []net.IP, dns []string) stdtls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: "test server"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses: ips, DNSNames: dns,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	return stdtls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// writePEM writes a certificate and its key as PEM files.
func writePEM(t *testing.T, dir string, c stdtls.Certificate) (certFile, keyFile string) {
	t.Helper()
	certFile, keyFile = filepath.Join(dir, "srv.pem"), filepath.Join(dir, "srv.key")
	kd, err := x509.MarshalPKCS8PrivateKey(c.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Certificate[0]}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kd}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}

// goServer serves HTTPS with crypto/tls on the host's netstack address
// (10.0.2.2:port), where the card can reach it. It counts the requests it
// answered.
func goServer(t *testing.T, ar *appRig, port uint16, cfg *stdtls.Config, hits *atomic.Int64) {
	t.Helper()
	ln, err := ar.ns.Net().ListenTCPAddrPort(netip.AddrPortFrom(hostIP, port))
	if err != nil {
		t.Fatal(err)
	}
	srv := &nethttp.Server{
		TLSConfig: cfg,
		Handler: nethttp.HandlerFunc(func(w nethttp.ResponseWriter, r *nethttp.Request) {
			hits.Add(1)
			if strings.HasPrefix(r.URL.Path, "/redirect/") {
				// /redirect/N redirects N times, then lands on /landed.
				n, _ := strconv.Atoi(strings.TrimPrefix(r.URL.Path, "/redirect/"))
				if n <= 1 {
					nethttp.Redirect(w, r, "/landed", nethttp.StatusFound)
				} else {
					nethttp.Redirect(w, r, "/redirect/"+strconv.Itoa(n-1), nethttp.StatusMovedPermanently)
				}
				return
			}
			body, _ := io.ReadAll(r.Body)
			w.Header().Set("Content-Type", "text/plain")
			fmt.Fprintf(w, "hello card: %s %s host=%s", r.Method, r.URL.Path, r.Host)
			if len(body) > 0 {
				fmt.Fprintf(w, " body=%q", body)
			}
			if r.TLS != nil && len(r.TLS.PeerCertificates) > 0 {
				h := sha256.Sum256(r.TLS.PeerCertificates[0].RawSubjectPublicKeyInfo)
				fmt.Fprintf(w, " client-spki=%s", hex.EncodeToString(h[:8]))
			}
			fmt.Fprintf(w, "\n")
		}),
		ErrorLog: log.New(io.Discard, "", 0), // refused handshakes are the point of some tests
	}
	go srv.ServeTLS(ln, "", "")
	t.Cleanup(func() { srv.Close() })
}

// fetch asks the card (as its administrator) to fetch u and waits for the
// result; it returns the text of GET /admin/fetch and the raw result.
func (ar *appRig) fetch(t *testing.T, u string, mtls bool, body []byte) (string, apps.FetchResult) {
	t.Helper()
	q := "/admin/fetch?url=" + url.QueryEscape(u)
	if mtls {
		q += "&mtls=1"
	}
	hdr := []string{bearer(adminSecret)}
	if body != nil {
		hdr = append(hdr, "Content-Type: text/plain")
	}
	r := ar.do(t, "POST", q, body, hdr...)
	if r.status != 202 {
		t.Fatalf("POST %s = %d %q", q, r.status, r.body)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
	defer cancel()
	var res apps.FetchResult
	err := ar.runner.WaitFor(ctx, func(time.Time) bool {
		st, _, rr := ar.card.App().Fetch()
		res = rr
		if st == apps.FetchDone {
			res.Body = append([]byte(nil), rr.Body...)
			return true
		}
		return false
	})
	if err != nil {
		t.Fatalf("fetch %s did not finish: %v", u, err)
	}
	page := ar.do(t, "GET", "/admin/fetch", nil, bearer(adminSecret))
	if page.status != 200 || !strings.Contains(string(page.body), "state: done") {
		t.Fatalf("GET /admin/fetch = %d %q", page.status, page.body)
	}
	return string(page.body), res
}

// bridgeTo listens on the host's netstack address at port and splices each
// connection the card opens to a loopback address (a peer program).
func bridgeTo(t *testing.T, ar *appRig, port uint16, loop string) {
	t.Helper()
	ln, err := ar.ns.Net().ListenTCPAddrPort(netip.AddrPortFrom(hostIP, port))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				p, err := net.DialTimeout("tcp", loop, 10*time.Second)
				if err != nil {
					return
				}
				defer p.Close()
				done := make(chan struct{}, 2)
				go func() { io.Copy(p, c); p.(*net.TCPConn).CloseWrite(); done <- struct{}{} }()
				go func() { io.Copy(c, p); c.Close(); done <- struct{}{} }()
				<-done
				<-done
			}()
		}
	}()
}

// opensslServer starts `openssl s_server` on a loopback port serving files
// from dir (-WWW), with mutual TLS: the client must present a certificate
// that chains to clientCA (-Verify 1). It returns the loopback address.
func opensslServer(t *testing.T, openssl, dir, certFile, keyFile, clientCA string) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, openssl, "s_server", "-accept", "127.0.0.1:0", "-cert", certFile, "-key", keyFile,
		"-CAfile", clientCA, "-Verify", "1", "-verify_return_error", "-tls1_3", "-WWW")
	cmd.Dir = dir
	cmd.WaitDelay = 5 * time.Second
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); cmd.Wait() })
	ready := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if a, ok := strings.CutPrefix(sc.Text(), "ACCEPT "); ok {
				ready <- a
			}
		}
		io.Copy(io.Discard, out)
	}()
	select {
	case a := <-ready:
		return a
	case <-time.After(20 * time.Second):
		t.Fatal("openssl s_server did not report ACCEPT")
	}
	return ""
}

// TestSecureClient: the card, as an HTTPS client, fetches from a Go crypto/tls
// server and from openssl s_server with mutual TLS, and refuses servers whose
// certificate does not chain to its anchors or does not match the name.
func TestSecureClient(t *testing.T) {
	ca := newCA(t, "e2e test CA")
	other := newCA(t, "unknown CA")
	ar := newAppRig(t, func(st *store.Store) error {
		if err := st.SetAdminSecret([]byte(adminSecret)); err != nil {
			return err
		}
		return st.SetAnchors([][]byte{ca.cert.Raw})
	})
	cardLeaf, err := x509.ParseCertificate(ar.store.Certificate()[0])
	if err != nil {
		t.Fatal(err)
	}
	cardSPKI := sha256.Sum256(cardLeaf.RawSubjectPublicKeyInfo)
	cardPool := x509.NewCertPool()
	cardPool.AddCert(cardLeaf)

	good := ca.issue(t, []net.IP{net.IPv4(10, 0, 2, 2)}, []string{"server.test"})
	var hits, mhits, badHits atomic.Int64
	goServer(t, ar, 8443, &stdtls.Config{Certificates: []stdtls.Certificate{good}}, &hits)
	goServer(t, ar, 8444, &stdtls.Config{Certificates: []stdtls.Certificate{good},
		ClientAuth: stdtls.RequireAndVerifyClientCert, ClientCAs: cardPool}, &mhits)
	goServer(t, ar, 8445, &stdtls.Config{Certificates: []stdtls.Certificate{
		ca.issue(t, []net.IP{net.IPv4(10, 9, 9, 9)}, []string{"other.test"})}}, &badHits)
	goServer(t, ar, 8446, &stdtls.Config{Certificates: []stdtls.Certificate{
		other.issue(t, []net.IP{net.IPv4(10, 0, 2, 2)}, []string{"server.test"})}}, &badHits)

	t.Run("go-GET", func(t *testing.T) {
		page, res := ar.fetch(t, "https://10.0.2.2:8443/hello", false, nil)
		if res.Status != 200 || !strings.Contains(string(res.Body), "hello card: GET /hello host=10.0.2.2:8443") ||
			!strings.Contains(page, "status: 200") || !strings.Contains(page, "hello card") {
			t.Fatalf("fetch = %+v\n%s", res, page)
		}
		if strings.Contains(string(res.Body), "client-spki") {
			t.Errorf("the card presented a certificate without mtls=1")
		}
	})
	t.Run("go-redirects", func(t *testing.T) {
		_, res := ar.fetch(t, "https://10.0.2.2:8443/redirect/3", false, nil)
		if res.Status != 200 || !strings.Contains(string(res.Body), "hello card: GET /landed") {
			t.Fatalf("fetch through 3 redirects = %d %q err=%q", res.Status, res.Body, res.Err)
		}
		// More than apps.MaxRedirects: the card stops and reports the redirect.
		_, res = ar.fetch(t, "https://10.0.2.2:8443/redirect/9", false, nil)
		if res.Status != 301 {
			t.Fatalf("fetch through 9 redirects = %d %q err=%q, want the 6th answer (301)", res.Status, res.Body, res.Err)
		}
	})
	t.Run("go-POST-mTLS", func(t *testing.T) {
		_, res := ar.fetch(t, "https://10.0.2.2:8444/attest", true, []byte("signed attestation"))
		want := fmt.Sprintf(`hello card: POST /attest host=10.0.2.2:8444 body="signed attestation" client-spki=%s`, hex.EncodeToString(cardSPKI[:8]))
		if res.Status != 200 || !strings.Contains(string(res.Body), want) {
			t.Fatalf("fetch = %d %q err=%q, want %q", res.Status, res.Body, res.Err, want)
		}
	})
	t.Run("go-mTLS-required-without-cert", func(t *testing.T) {
		n := mhits.Load()
		_, res := ar.fetch(t, "https://10.0.2.2:8444/attest", false, nil)
		if res.Err == "" || res.Status != 0 || mhits.Load() != n {
			t.Fatalf("a server demanding a client certificate answered the card without one: %+v", res)
		}
	})
	t.Run("wrong-name", func(t *testing.T) {
		_, res := ar.fetch(t, "https://10.0.2.2:8445/", false, nil)
		if res.Err == "" || res.Status != 0 {
			t.Fatalf("the card accepted a certificate for another name: %+v", res)
		}
		t.Logf("refused: %s", res.Err)
	})
	t.Run("untrusted-CA", func(t *testing.T) {
		_, res := ar.fetch(t, "https://10.0.2.2:8446/", false, nil)
		if res.Err == "" || res.Status != 0 {
			t.Fatalf("the card accepted a certificate from an unknown CA: %+v", res)
		}
		t.Logf("refused: %s", res.Err)
	})
	if n := badHits.Load(); n != 0 {
		t.Errorf("servers with bad certificates received %d requests from the card", n)
	}

	t.Run("openssl-mTLS", func(t *testing.T) {
		openssl := need(t, "openssl")
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "hello.txt"), []byte("hello from openssl s_server\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		cf, kf := writePEM(t, dir, good)
		cardPEM := ar.certFile(t)
		loop := opensslServer(t, openssl, dir, cf, kf, cardPEM)
		bridgeTo(t, ar, 4433, loop)

		page, res := ar.fetch(t, "https://10.0.2.2:4433/hello.txt", true, nil)
		if res.Status != 200 || string(res.Body) != "hello from openssl s_server\n" {
			t.Fatalf("fetch from openssl = %d %q err=%q\n%s", res.Status, res.Body, res.Err, page)
		}
		_, res = ar.fetch(t, "https://10.0.2.2:4433/hello.txt", false, nil)
		if res.Err == "" || res.Status == 200 {
			t.Fatalf("openssl -Verify 1 served the card without a client certificate: %+v", res)
		}
		t.Logf("without a client certificate: %s", res.Err)
	})
}
