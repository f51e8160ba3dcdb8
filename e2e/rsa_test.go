package e2e

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	stdtls "crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"io"
	"math/big"
	"net"
	nethttp "net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"netcard/store"
)

// newRSARig starts a card whose identity is an RSA-2048 key generated on the card (what
// `netcard init --key rsa2048` does), with its self-signed certificate and the demo site.
func newRSARig(t *testing.T, setup func(st *store.Store) error) *appRig {
	t.Helper()
	path := filepath.Join(t.TempDir(), "card.img")
	st, err := store.Create(path, 64<<10, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.GenerateKeyType(rand.Reader, store.KeyRSA2048); err != nil {
		t.Fatal(err)
	}
	st.Close()
	ar := startCard(t, path, cardProfile(), setup)
	leaf, err := x509.ParseCertificate(ar.store.Certificate()[0])
	if err != nil {
		t.Fatal(err)
	}
	if k, ok := leaf.PublicKey.(*rsa.PublicKey); !ok || k.N.BitLen() != 2048 {
		t.Fatalf("card certificate key %T", leaf.PublicKey)
	}
	return ar
}

// TestRSACard: a card with an RSA-2048 identity serves TLS 1.3 (rsa_pss_rsae_sha256) and TLS 1.2
// (ECDHE-RSA AES-GCM and ChaCha20) to Go, curl, OpenSSL s_client, GnuTLS gnutls-cli and
// Chromium, each with full certificate verification.
func TestRSACard(t *testing.T) {
	ar := newRSARig(t, putSite)
	addr := ar.forward(t, 443)
	ca := ar.certFile(t)
	_, portStr, _ := net.SplitHostPort(addr)
	base := "https://127.0.0.1:" + portStr
	index := []byte(siteFiles[0].data)

	t.Run("go", func(t *testing.T) {
		for _, v := range []uint16{stdtls.VersionTLS13, stdtls.VersionTLS12} {
			tr := &nethttp.Transport{
				DialContext: func(ctx context.Context, network, a string) (net.Conn, error) {
					return ar.ns.Net().DialContext(ctx, network, a)
				},
				TLSClientConfig: &stdtls.Config{RootCAs: ar.roots, ServerName: "netcard.local", MinVersion: v, MaxVersion: v},
			}
			cl := &nethttp.Client{Timeout: 60 * time.Second, Transport: tr}
			resp, err := cl.Get(ar.url("/"))
			if err != nil {
				t.Fatalf("%04x: %v", v, err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			tr.CloseIdleConnections()
			if resp.StatusCode != 200 || !bytes.Equal(body, index) || resp.TLS.Version != v {
				t.Fatalf("%04x: %d %q %+v", v, resp.StatusCode, body, resp.TLS)
			}
			if _, ok := resp.TLS.PeerCertificates[0].PublicKey.(*rsa.PublicKey); !ok {
				t.Fatal("not an RSA certificate")
			}
		}
	})
	t.Run("curl", func(t *testing.T) {
		curl := need(t, "curl")
		for _, v := range []string{"1.3", "1.2"} {
			r := curlFetch(t, curl, ca, base+"/", "--tlsv"+v, "--tls-max", v)
			if r.status != 200 || !bytes.Equal(r.body, index) {
				t.Fatalf("curl TLS %s: %d %q", v, r.status, r.body)
			}
		}
	})
	t.Run("openssl", func(t *testing.T) {
		openssl := need(t, "openssl")
		for _, c := range []struct{ args, want []string }{
			{[]string{"-tls1_3"}, []string{"TLSv1.3", "Peer signature type: RSA-PSS", "Peer signing digest: SHA256"}},
			{[]string{"-tls1_2", "-cipher", "ECDHE-RSA-AES128-GCM-SHA256"}, []string{"TLSv1.2", "ECDHE-RSA-AES128-GCM-SHA256", "Peer signature type: RSA-PSS"}},
			{[]string{"-tls1_2", "-cipher", "ECDHE-RSA-AES256-GCM-SHA384"}, []string{"TLSv1.2", "ECDHE-RSA-AES256-GCM-SHA384"}},
			{[]string{"-tls1_2", "-cipher", "ECDHE-RSA-CHACHA20-POLY1305"}, []string{"TLSv1.2", "ECDHE-RSA-CHACHA20-POLY1305"}},
			{[]string{"-tls1_2", "-sigalgs", "RSA+SHA256"}, []string{"TLSv1.2", "Peer signature type: RSA\n"}},
		} {
			args := append([]string{"s_client", "-connect", addr, "-CAfile", ca, "-verify_return_error",
				"-servername", "netcard.local", "-ign_eof"}, c.args...)
			out := run(t, getClose, openssl, args...)
			for _, want := range append(c.want, "Verify return code: 0 (ok)", "HTTP/1.1 200") {
				if !strings.Contains(out, want) {
					t.Fatalf("openssl %v: no %q in:\n%s", c.args, want, out)
				}
			}
		}
	})
	t.Run("gnutls", func(t *testing.T) {
		gnutls := need(t, "gnutls-cli")
		for _, c := range []struct{ prio, want string }{
			{"NORMAL:-VERS-ALL:+VERS-TLS1.3", "(TLS1.3-X.509)"},
			{"NORMAL:-VERS-ALL:+VERS-TLS1.2:-KX-ALL:+ECDHE-RSA", "(TLS1.2-X.509)-(ECDHE-X25519)-(RSA-PSS-RSAE-SHA256)"},
		} {
			out := run(t, getClose, gnutls, "--x509cafile", ca, "--port", portStr, "--priority", c.prio,
				"--sni-hostname", "netcard.local", "--verify-hostname", "netcard.local", "127.0.0.1")
			if !strings.Contains(out, "HTTP/1.1 200") || !strings.Contains(out, c.want) {
				t.Fatalf("gnutls-cli %s:\n%s", c.prio, out)
			}
		}
	})
	t.Run("chromium", func(t *testing.T) {
		bin := need(t, "chromium")
		leaf, _ := x509.ParseCertificate(ar.store.Certificate()[0])
		spki := sha256.Sum256(leaf.RawSubjectPublicKeyInfo)
		dom, stderr, err := chromium(t, bin, t.TempDir(), "--ignore-certificate-errors-spki-list="+
			base64.StdEncoding.EncodeToString(spki[:]), "--dump-dom", base+"/")
		if err != nil || !strings.Contains(dom, "card home") {
			t.Fatalf("chromium: %v\nDOM %.2000s\nstderr %.2000s", err, dom, stderr)
		}
	})
	// The card's counters saw every handshake and kept serving.
	if r := ar.do(t, "GET", "/", nil); r.status != 200 {
		t.Fatalf("card stopped serving: %d", r.status)
	}
}

// issueRSA makes an RSA-2048 server certificate for the given names, signed by ca.
func (ca *testCA) issueRSA(t *testing.T, ips []net.IP, dns []string) stdtls.Certificate {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: "rsa test server"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, IPAddresses: ips, DNSNames: dns,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	return stdtls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// opensslServerVersion is opensslServer (mutual TLS, -WWW from dir) for one protocol version
// flag (-tls1_3 or -tls1_2).
func opensslServerVersion(t *testing.T, openssl, dir, certFile, keyFile, clientCA, version string) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, openssl, "s_server", "-accept", "127.0.0.1:0", "-cert", certFile, "-key", keyFile,
		"-CAfile", clientCA, "-Verify", "1", "-verify_return_error", version, "-WWW")
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

// TestSecureClientRSA: a card with an RSA-2048 identity, as HTTPS client, fetches from
// `openssl s_server` with an RSA-2048 certificate, TLS 1.3 and TLS 1.2 only, with mutual TLS
// (the card signs CertificateVerify with its RSA key: rsa_pss_rsae_sha256 in 1.3, RSA-PSS with
// the PRF hash in 1.2); and from a crypto/tls server with an RSA certificate.
func TestSecureClientRSA(t *testing.T) {
	openssl := need(t, "openssl")
	ca := newCA(t, "e2e rsa CA")
	ar := newRSARig(t, func(st *store.Store) error {
		if err := st.SetAdminSecret([]byte(adminSecret)); err != nil {
			return err
		}
		return st.SetAnchors([][]byte{ca.cert.Raw})
	})
	srv := ca.issueRSA(t, []net.IP{net.IPv4(10, 0, 2, 2)}, []string{"server.test"})
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "hello.txt"), []byte("hello from openssl rsa\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cf, kf := writePEM(t, dir, srv)
	cardPEM := ar.certFile(t)
	for i, v := range []string{"-tls1_3", "-tls1_2"} {
		t.Run("openssl"+v, func(t *testing.T) {
			loop := opensslServerVersion(t, openssl, dir, cf, kf, cardPEM, v)
			port := uint16(4443 + i)
			bridgeTo(t, ar, port, loop)
			u := "https://10.0.2.2:" + strconv.Itoa(int(port)) + "/hello.txt"
			page, res := ar.fetch(t, u, true, nil)
			if res.Status != 200 || string(res.Body) != "hello from openssl rsa\n" {
				t.Fatalf("fetch from openssl %s = %d %q err=%q\n%s", v, res.Status, res.Body, res.Err, page)
			}
		})
	}
	t.Run("go", func(t *testing.T) {
		var hits atomic.Int64
		goServer(t, ar, 8447, &stdtls.Config{Certificates: []stdtls.Certificate{srv}, MaxVersion: stdtls.VersionTLS12}, &hits)
		_, res := ar.fetch(t, "https://10.0.2.2:8447/hello", false, nil)
		if res.Status != 200 || hits.Load() != 1 {
			t.Fatalf("fetch from crypto/tls (TLS 1.2, RSA) = %d %q err=%q", res.Status, res.Body, res.Err)
		}
	})
}
