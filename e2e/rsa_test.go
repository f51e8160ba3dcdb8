package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	stdtls "crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"io"
	"net"
	nethttp "net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"netcard/store"
)

// newRSARig starts a card whose identity is an RSA-2048 key generated on the card (what
// `netcard init --key rsa2048` does), with its self-signed certificate and the demo site.
func newRSARig(t *testing.T) *appRig {
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
	ar := startCard(t, path, cardProfile(), putSite)
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
	ar := newRSARig(t)
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
