package e2e

import (
	"context"
	"encoding/pem"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// need returns the path of an external peer program. In CI a missing peer
// is a failure, never a silent skip.
func need(t *testing.T, prog string) string {
	t.Helper()
	p, err := exec.LookPath(prog)
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s is not installed (.ci/run installs it)", prog)
		}
		t.Skipf("%s is not installed", prog)
	}
	return p
}

// forward listens on loopback and splices each connection into a TCP
// connection through the host's gVisor stack to the card's port: the
// loopback side of the demo. TLS still ends in the card.
func (rg *rig) forward(t *testing.T, port uint16) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
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
				ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
				cc, err := rg.ns.Net().DialContextTCPAddrPort(ctx, netip.AddrPortFrom(rg.cardIP, port))
				cancel()
				if err != nil {
					return
				}
				defer cc.Close()
				done := make(chan struct{}, 2)
				go func() { io.Copy(cc, c); cc.CloseWrite(); done <- struct{}{} }()
				go func() { io.Copy(c, cc); c.(*net.TCPConn).CloseWrite(); done <- struct{}{} }()
				<-done
				<-done
			}()
		}
	}()
	return ln.Addr().String()
}

func (rg *rig) certFile(t *testing.T) string {
	t.Helper()
	f := filepath.Join(t.TempDir(), "card.pem")
	if err := os.WriteFile(f, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: rg.store.Certificate()[0]}), 0o644); err != nil {
		t.Fatal(err)
	}
	return f
}

func run(t *testing.T, stdin string, name string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Stdin = strings.NewReader(stdin)
	out, _ := cmd.CombinedOutput()
	return string(out)
}

const getClose = "GET / HTTP/1.1\r\nHost: netcard.local\r\nConnection: close\r\n\r\n"

func TestOpenSSLClient(t *testing.T) {
	openssl := need(t, "openssl")
	rg := newRig(t, cardProfile(), 0)
	addr := rg.forward(t, 443)
	ca := rg.certFile(t)
	suites := []string{"TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384", "TLS_CHACHA20_POLY1305_SHA256"}
	groups := []string{"X25519", "P-256"}
	for _, s := range suites {
		for _, g := range groups {
			t.Run(s+"/"+g, func(t *testing.T) {
				out := run(t, getClose, openssl, "s_client", "-connect", addr, "-tls1_3", "-ciphersuites", s,
					"-groups", g, "-CAfile", ca, "-verify_return_error", "-servername", "netcard.local", "-ign_eof")
				for _, want := range []string{"Verify return code: 0 (ok)", "HTTP/1.1 200", s, "TLSv1.3"} {
					if !strings.Contains(out, want) {
						t.Fatalf("openssl s_client: no %q in:\n%s", want, out)
					}
				}
			})
		}
	}
	for _, c := range []string{"ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-ECDSA-AES256-GCM-SHA384", "ECDHE-ECDSA-CHACHA20-POLY1305"} {
		t.Run("tls1.2/"+c, func(t *testing.T) {
			out := run(t, getClose, openssl, "s_client", "-connect", addr, "-tls1_2", "-cipher", c,
				"-CAfile", ca, "-verify_return_error", "-servername", "netcard.local", "-ign_eof")
			for _, want := range []string{"Verify return code: 0 (ok)", "HTTP/1.1 200", c, "TLSv1.2", "Extended master secret: yes"} {
				if !strings.Contains(out, want) {
					t.Fatalf("openssl s_client -tls1_2: no %q in:\n%s", want, out)
				}
			}
		})
	}
	t.Run("maxfraglen512", func(t *testing.T) {
		out := run(t, getClose, openssl, "s_client", "-connect", addr, "-tls1_3", "-maxfraglen", "512", "-tlsextdebug",
			"-CAfile", ca, "-verify_return_error", "-servername", "netcard.local", "-ign_eof")
		if !strings.Contains(out, "HTTP/1.1 200") || !strings.Contains(out, "max fragment length") {
			t.Fatalf("openssl -maxfraglen 512:\n%s", out)
		}
	})
	t.Run("hello-retry", func(t *testing.T) {
		// Offer P-256 first but a key share only for it: a server preferring
		// another group answers with HelloRetryRequest or accepts P-256.
		out := run(t, getClose, openssl, "s_client", "-connect", addr, "-tls1_3", "-groups", "P-384:X25519",
			"-CAfile", ca, "-verify_return_error", "-servername", "netcard.local", "-ign_eof")
		if !strings.Contains(out, "HTTP/1.1 200") {
			t.Fatalf("openssl with an unsupported first group:\n%s", out)
		}
	})
}

func TestCurl(t *testing.T) {
	curl := need(t, "curl")
	rg := newRig(t, cardProfile(), 0)
	addr := rg.forward(t, 443)
	ca := rg.certFile(t)
	url := "https://netcard.local:" + strings.Split(addr, ":")[1] + "/"
	resolve := "netcard.local:" + strings.Split(addr, ":")[1] + ":127.0.0.1"
	out := run(t, "", curl, "-sS", "--fail", "--max-time", "60", "--cacert", ca, "--resolve", resolve, url+"status.json")
	if !strings.Contains(out, `"link_up":true`) {
		t.Fatalf("curl status.json: %s", out)
	}
	out = run(t, "", curl, "-sS", "-I", "--max-time", "60", "--cacert", ca, "--resolve", resolve, url)
	if !strings.Contains(out, "HTTP/1.1 200") {
		t.Fatalf("curl -I: %s", out)
	}
}

func TestGnuTLSRecordSize(t *testing.T) {
	gnutls := need(t, "gnutls-cli")
	rg := newRig(t, cardProfile(), 0)
	addr := rg.forward(t, 443)
	ca := rg.certFile(t)
	host, port, _ := net.SplitHostPort(addr)
	_ = host
	out := run(t, getClose, gnutls, "--x509cafile", ca, "--recordsize=512", "--port", port,
		"--priority", "NORMAL:-VERS-ALL:+VERS-TLS1.3", "--sni-hostname", "netcard.local", "--verify-hostname", "netcard.local", "127.0.0.1")
	if !strings.Contains(out, "HTTP/1.1 200") || !strings.Contains(out, "TLS1.3") {
		t.Fatalf("gnutls-cli:\n%s", out)
	}
}

// TestTinyProfileGnuTLS runs the few-KiB Tiny profile against a client
// that honours record_size_limit (RFC 8449).
func TestTinyProfileGnuTLS(t *testing.T) {
	gnutls := need(t, "gnutls-cli")
	rg := newRig(t, tinyProfile(), 0)
	addr := rg.forward(t, 443)
	ca := rg.certFile(t)
	_, port, _ := net.SplitHostPort(addr)
	out := run(t, getClose, gnutls, "--x509cafile", ca, "--recordsize=512", "--port", port,
		"--priority", "NORMAL:-VERS-ALL:+VERS-TLS1.3", "--sni-hostname", "netcard.local", "--verify-hostname", "netcard.local", "127.0.0.1")
	if !strings.Contains(out, "HTTP/1.1 200") {
		t.Fatalf("gnutls-cli against the Tiny profile:\n%s", out)
	}
}
