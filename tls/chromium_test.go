package tls

import (
	"bufio"
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestChromiumHelloRetry: Chromium against our server when its key shares (X25519MLKEM768,
// X25519) do not match the only group the server takes (P-256): a HelloRetryRequest with a cookie,
// then Chromium's second ClientHello, which the server checks against the first (RFC 8446 §4.1.2)
// along with every other rule a hostile peer is held to. A real browser must still get its page.
func TestChromiumHelloRetry(t *testing.T) {
	chromium, err := exec.LookPath("chromium")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("CI must run this real-peer test: chromium not installed")
		}
		t.Skip("chromium not installed")
	}
	if testing.Short() {
		t.Skip("short")
	}
	cfg := serverConfig(t, false)
	cfg.Rand = seeded(77)
	cfg.Groups = []CurveID{P256}
	cfg.HRRCookie = true
	cfg.ALPN = []string{"http/1.1"}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var hrr, failed, n int
	var errs []string
	var wg sync.WaitGroup
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				c.SetDeadline(time.Now().Add(60 * time.Second))
				mu.Lock()
				n++
				ec := *cfg // each connection its own random source (a seeded reader is not shared)
				ec.Rand = seeded(uint64(100 + n))
				mu.Unlock()
				e := NewServer(&ec, 0)
				tc := NewConn(c, e)
				err := tc.Handshake()
				mu.Lock()
				if e.ConnectionState().HelloRetry {
					hrr++
				}
				if err != nil && e.Alert() != 0 && e.Alert() != AlertCloseNotify {
					failed++
					errs = append(errs, err.Error())
				}
				mu.Unlock()
				if err != nil {
					return
				}
				r := bufio.NewReader(tc)
				for {
					line, err := r.ReadString('\n')
					if err != nil {
						return
					}
					if line == "\r\n" {
						break
					}
				}
				body := "<html><body>netcard-hrr-ok</body></html>"
				fmt.Fprintf(tc, "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s", len(body), body)
				tc.Close()
			}()
		}
	}()
	defer func() { ln.Close(); wg.Wait() }()
	leaf, _ := x509.ParseCertificate(cfg.Certificate[0])
	spki := sha256.Sum256(leaf.RawSubjectPublicKeyInfo)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	url := fmt.Sprintf("https://card.example:%d/", ln.Addr().(*net.TCPAddr).Port)
	cmd := exec.CommandContext(ctx, chromium, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
		"--user-data-dir="+filepath.Join(t.TempDir(), "profile"), "--host-resolver-rules=MAP card.example 127.0.0.1",
		"--ignore-certificate-errors-spki-list="+base64.StdEncoding.EncodeToString(spki[:]), "--dump-dom", url)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("chromium: %v\n%s", err, out)
	}
	mu.Lock()
	defer mu.Unlock()
	if !strings.Contains(string(out), "netcard-hrr-ok") || hrr == 0 || failed != 0 {
		t.Fatalf("page %q; %d handshakes with HelloRetryRequest, %d failed: %v", out, hrr, failed, errs)
	}
	t.Logf("%d handshakes with HelloRetryRequest", hrr)
}

// TestChromiumHelloInSlab: Chromium's ClientHello (X25519MLKEM768 and X25519 shares, GREASE, ECH
// GREASE, ALPN: ≈ 1.8 KB) fits the ClientHello area of a server's handshake slab with the card's
// groups (serverMemory): the X25519MLKEM768 handshake completes without a grown reassembly buffer
// (no HandshakeBudget slot taken), and the page loads.
func TestChromiumHelloInSlab(t *testing.T) {
	chromium, err := exec.LookPath("chromium")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("CI must run this real-peer test: chromium not installed")
		}
		t.Skip("chromium not installed")
	}
	if testing.Short() {
		t.Skip("short")
	}
	cfg := serverConfig(t, false)
	cfg.ALPN = []string{"http/1.1"}
	cfg.MaxRecordOut = 2048
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var hybrid, granted, n int
	var errs []string
	var wg sync.WaitGroup
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				c.SetDeadline(time.Now().Add(60 * time.Second))
				mu.Lock()
				n++
				ec := *cfg // each connection its own random source and budget (one goroutine each)
				ec.Rand = seeded(uint64(200 + n))
				ec.HandshakeBudget = NewHandshakeBudget(1, 0)
				mu.Unlock()
				e := NewServer(&ec, 0)
				tc := NewConn(c, e)
				err := tc.Handshake()
				mu.Lock()
				if e.ConnectionState().Group == X25519MLKEM768 {
					hybrid++
				}
				granted += int(ec.HandshakeBudget.Granted())
				if err != nil && e.Alert() != 0 && e.Alert() != AlertCloseNotify {
					errs = append(errs, err.Error())
				}
				mu.Unlock()
				if err != nil {
					return
				}
				r := bufio.NewReader(tc)
				for {
					line, err := r.ReadString('\n')
					if err != nil {
						return
					}
					if line == "\r\n" {
						break
					}
				}
				body := "<html><body>netcard-slab-ok</body></html>"
				fmt.Fprintf(tc, "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s", len(body), body)
				tc.Close()
			}()
		}
	}()
	defer func() { ln.Close(); wg.Wait() }()
	leaf, _ := x509.ParseCertificate(cfg.Certificate[0])
	spki := sha256.Sum256(leaf.RawSubjectPublicKeyInfo)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	url := fmt.Sprintf("https://card.example:%d/", ln.Addr().(*net.TCPAddr).Port)
	cmd := exec.CommandContext(ctx, chromium, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
		"--user-data-dir="+filepath.Join(t.TempDir(), "profile"), "--host-resolver-rules=MAP card.example 127.0.0.1",
		"--ignore-certificate-errors-spki-list="+base64.StdEncoding.EncodeToString(spki[:]), "--dump-dom", url)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("chromium: %v\n%s", err, out)
	}
	mu.Lock()
	defer mu.Unlock()
	if !strings.Contains(string(out), "netcard-slab-ok") || hybrid == 0 || granted != 0 || len(errs) != 0 {
		t.Fatalf("page %q; %d X25519MLKEM768 handshakes, %d grown buffers: %v", out, hybrid, granted, errs)
	}
	t.Logf("%d X25519MLKEM768 handshakes, none with a grown buffer", hybrid)
}
