package main

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestDemoJunkDoesNotWedge is issue 13 item 8's reproduction against the
// real binary at the demo's default line rate: 300 connections one after
// another, each sending up to 2 KB of random bytes (every other one behind
// a TLS handshake record header) and closing. Both directions of the
// in-memory line fill at once (junk up, alerts and resets down); before the
// fix the two Runners each waited in Write, with their lock held, for a
// reader that waited for that lock, and the demo never answered again nor
// stopped on SIGTERM. Afterwards a legitimate HTTPS request must succeed and
// SIGTERM must end the process within a bound.
func TestDemoJunkDoesNotWedge(t *testing.T) {
	bin := buildBinary(t)
	dir := t.TempDir()
	cmd, url, stderr := startDemo(t, bin, dir, "--baud", "115200")
	addr := strings.TrimSuffix(strings.TrimPrefix(url, "https://"), "/")

	rng := rand.New(rand.NewPCG(13, 8))
	junk := make([]byte, 2048+5)
	for i := 0; i < 300; i++ {
		n := 1 + rng.IntN(2048)
		for j := range junk {
			junk[j] = byte(rng.Uint32())
		}
		msg := junk[:n]
		if i%2 == 0 && n > 5 {
			// A TLS 1.0-versioned handshake record header (RFC 8446 §5.1)
			// over random contents.
			msg[0], msg[1], msg[2] = 0x16, 0x03, 0x01
			binary.BigEndian.PutUint16(msg[3:5], uint16(n-5))
		}
		c, err := net.DialTimeout("tcp", addr, 10*time.Second)
		if err != nil {
			t.Fatalf("connection %d: %v", i, err)
		}
		c.SetDeadline(time.Now().Add(10 * time.Second))
		c.Write(msg) // the card may reset first: not an error here
		c.Close()
	}

	// A legitimate client (Go's net/http, verifying the card's certificate)
	// is served: the card may still be finishing the junk, so the client
	// retries as a browser would, within one bound.
	pemBytes, err := os.ReadFile(filepath.Join(dir, "netcard-cert.pem"))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pemBytes)
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool}, DisableKeepAlives: true}}
	start := time.Now()
	for {
		resp, err := client.Get(url + "status")
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == 200 && strings.Contains(string(body), "netcard status") {
				t.Logf("legitimate request served %v after the junk", time.Since(start).Round(time.Millisecond))
				break
			}
			err = errStatus(resp.StatusCode)
		}
		if time.Since(start) > 120*time.Second {
			// Go on to SIGTERM: a wedged demo ignores it too.
			t.Errorf("no legitimate request served within 120 s after the junk: %v\nstderr tail:\n%s", err, tail(stderr.String(), 2000))
			break
		}
		t.Logf("legitimate request: %v (retrying)", err)
	}

	// SIGTERM ends the demo within a bound, cleanly.
	cmd.Process.Signal(syscall.SIGTERM)
	sig := time.Now()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("exit after SIGTERM: %v\n%s", err, tail(stderr.String(), 2000))
		}
		t.Logf("exited %v after SIGTERM", time.Since(sig).Round(time.Millisecond))
	case <-time.After(20 * time.Second):
		cmd.Process.Signal(syscall.SIGQUIT) // the goroutine dump, for the log
		<-done
		t.Fatalf("netcard did not stop within 20 s of SIGTERM\n%s", tail(stderr.String(), 20000))
	}
}

type errStatus int

func (e errStatus) Error() string { return "HTTP status " + http.StatusText(int(e)) }

func tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}
