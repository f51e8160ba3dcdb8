package e2e

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	stdtls "crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"image/png"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"netcard/card"
)

// counter reads one of the card's status counters (in its event loop).
func (rg *rig) counter(layer, name string) uint64 {
	var v uint64
	rg.runner.Do(func(now time.Time) {
		for _, c := range rg.card.Status(now).Counters {
			if c.Layer == layer && c.Name == name {
				v = c.Value
			}
		}
	})
	return v
}

// forwardHellos is forward that also records the length field of the first
// record header each client sends (its ClientHello record).
func (rg *rig) forwardHellos(t *testing.T, port uint16) (addr string, hellos func() []int) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	var mu sync.Mutex
	var seen []int
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				hdr := make([]byte, 5)
				c.SetReadDeadline(time.Now().Add(30 * time.Second))
				if _, err := io.ReadFull(c, hdr); err != nil {
					return // a preconnected socket Chromium never used
				}
				c.SetReadDeadline(time.Time{})
				if hdr[0] == 22 {
					mu.Lock()
					seen = append(seen, int(hdr[3])<<8|int(hdr[4]))
					mu.Unlock()
				}
				ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
				cc, err := rg.ns.Net().DialContextTCPAddrPort(ctx, netip.AddrPortFrom(rg.cardIP, port))
				cancel()
				if err != nil {
					return
				}
				defer cc.Close()
				if _, err := cc.Write(hdr); err != nil {
					return
				}
				done := make(chan struct{}, 2)
				go func() { io.Copy(cc, c); cc.CloseWrite(); done <- struct{}{} }()
				go func() { io.Copy(c, cc); c.(*net.TCPConn).CloseWrite(); done <- struct{}{} }()
				<-done
				<-done
			}()
		}
	}()
	return ln.Addr().String(), func() []int {
		mu.Lock()
		defer mu.Unlock()
		return append([]int(nil), seen...)
	}
}

// TestChromiumTiny (tiny_chromium_ok): headless Chromium renders /status
// from a card on the Tiny profile (one connection slot, 1 KiB receive
// buffer). Chromium's ClientHello record (X25519MLKEM768 and GREASE key
// shares, ECH GREASE: ≈ 1.7–1.9 KB) is larger than the receive buffer and
// is taken as it streams in (tls: unprotected handshake records); BoringSSL
// does not implement record_size_limit (RFC 8449), so its request head
// (≈ 640 bytes) comes in one record larger than the 512 bytes Tiny used to
// announce: Tiny now accepts a record as large as its receive buffer holds
// (RecordSizeLimit 1003) and a request head of 1 KiB.
func TestChromiumTiny(t *testing.T) {
	bin := need(t, "chromium")
	ar := startCard(t, filepath.Join(t.TempDir(), "card.img"), tinyProfile(), nil)
	addr, hellos := ar.forwardHellos(t, 443)
	url := "https://127.0.0.1:" + strconv.Itoa(port(t, addr)) + "/status"
	leaf, err := x509.ParseCertificate(ar.store.Certificate()[0])
	if err != nil {
		t.Fatal(err)
	}
	spki := sha256.Sum256(leaf.RawSubjectPublicKeyInfo)
	trust := "--ignore-certificate-errors-spki-list=" + base64.StdEncoding.EncodeToString(spki[:])

	hsBefore, failBefore := ar.counter("TLS", "handshakes"), ar.counter("TLS", "failures")
	start := time.Now()
	dom, stderr, err := chromium(t, bin, t.TempDir(), trust, "--dump-dom", url)
	took := time.Since(start)
	if err != nil {
		t.Fatalf("chromium --dump-dom: %v\n%.2000s", err, stderr)
	}
	for _, want := range []string{"<title>netcard status</title>", "<td>tiny</td>", "connections accepted", "</table>"} {
		if !strings.Contains(dom, want) {
			t.Fatalf("DOM lacks %q: Chromium did not render /status from the Tiny card\n%.3000s", want, dom)
		}
	}
	m := handshakesRE.FindStringSubmatch(dom)
	if m == nil {
		t.Fatalf("no TLS handshakes counter in the DOM:\n%.3000s", dom)
	}
	if n, _ := strconv.ParseUint(m[1], 10, 64); n <= hsBefore {
		t.Fatalf("the DOM shows %d TLS handshakes; the card had done %d before Chromium connected", n, hsBefore)
	}
	if f := ar.counter("TLS", "failures"); f != failBefore {
		t.Errorf("%d TLS failures while Chromium loaded the page", f-failBefore)
	}
	// Rendered, not only parsed: a screenshot with ink on it (a second
	// browser run on the same profile: Chromium comes back to the one slot).
	home := t.TempDir()
	shot := filepath.Join(home, "status.png")
	if _, stderr, err := chromium(t, bin, home, trust, "--screenshot="+shot, "--window-size=800,600", "--hide-scrollbars", url); err != nil {
		t.Fatalf("chromium --screenshot: %v\n%.2000s", err, stderr)
	}
	f, err := os.Open(shot)
	if err != nil {
		t.Fatalf("no screenshot: %v", err)
	}
	img, err := png.Decode(f)
	f.Close()
	if err != nil {
		t.Fatalf("screenshot does not decode as PNG: %v", err)
	}
	if ink, colours := inked(img); ink < 0.005 || colours < 2 {
		t.Fatalf("screenshot looks blank: %.2f%% of pixels differ from the background, %d colours", ink*100, colours)
	}
	if f := ar.counter("TLS", "failures"); f != failBefore {
		t.Errorf("%d TLS failures while Chromium rendered the page", f-failBefore)
	}
	hs := hellos()
	big := 0
	for _, n := range hs {
		big = max(big, 5+n)
	}
	if big <= card.TinyProfile.RecvBuf {
		t.Fatalf("Chromium's ClientHello records %v fit Tiny's %d-byte receive buffer: the test proves nothing", hs, card.TinyProfile.RecvBuf)
	}
	// Chromium opens a second connection beside the one it sends its
	// request on; the one slot goes to whichever comes first, the other
	// waits (admission: SYN cookie, its ClientHello deferred until a slot
	// frees or it may evict, see card.EvictAfter).
	t.Logf("tiny_chromium_ok: true in %v; Chromium's ClientHello records %v bytes (+5 header) through a %d-byte receive buffer; "+
		"TCP accepted %d, deferred %d, evicted %d; TLS handshakes %d; HTTP requests %d",
		took.Round(time.Millisecond), hs, card.TinyProfile.RecvBuf, ar.counter("TCP", "connections accepted"),
		ar.counter("TCP", "handshakes deferred (no slot)"), ar.counter("TCP", "connections evicted (no slot free)"),
		ar.counter("TLS", "handshakes")-hsBefore, ar.counter("HTTP", "requests"))
}

// TestTinyRecordLimitGo: a real client that, like BoringSSL, does not
// implement record_size_limit (Go's crypto/tls) sends its request in one
// record. A record as large as Tiny's receive buffer (1,024 bytes: 1,003
// bytes of TLSInnerPlaintext, 1,002 of request) is served; one byte more is
// answered with record_overflow (RFC 8446 §5.2 names the alert; the card's
// receive space is the limit, the one it announces to clients that offer
// record_size_limit, RFC 8449 §4), and the card keeps serving.
func TestTinyRecordLimitGo(t *testing.T) {
	rg := newRig(t, tinyProfile(), 0)
	p := card.TinyProfile
	if p.RecordSizeLimit+5+16 != p.RecvBuf || p.HTTPIn < p.RecordSizeLimit-1 {
		t.Fatalf("Tiny: record_size_limit %d + 21 != receive buffer %d, or request space %d below a record's plaintext",
			p.RecordSizeLimit, p.RecvBuf, p.HTTPIn)
	}
	// get sends a request head of exactly size bytes in one TLS record.
	get := func(size int) (string, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		raw, err := rg.ns.Net().DialContextTCPAddrPort(ctx, netip.AddrPortFrom(rg.cardIP, 443))
		if err != nil {
			t.Fatal(err)
		}
		defer raw.Close()
		raw.SetDeadline(time.Now().Add(30 * time.Second))
		tc := stdtls.Client(raw, &stdtls.Config{RootCAs: rg.roots, ServerName: "netcard.local", MinVersion: stdtls.VersionTLS13})
		if err := tc.Handshake(); err != nil {
			t.Fatal(err)
		}
		head := "GET / HTTP/1.1\r\nHost: netcard.local\r\nConnection: close\r\nX-Pad: "
		head += strings.Repeat("p", size-len(head)-4) + "\r\n\r\n"
		if _, err := tc.Write([]byte(head)); err != nil { // one record: Go's first records hold up to 1,186 bytes
			return "", err
		}
		resp, err := io.ReadAll(bufio.NewReader(tc))
		return string(resp), err
	}
	fails := rg.counter("TLS", "failures")
	resp, err := get(p.RecordSizeLimit - 1)
	if err != nil || !strings.HasPrefix(resp, "HTTP/1.1 200") {
		t.Fatalf("a %d-byte request in a record that fills the receive buffer: %v\n%.300s", p.RecordSizeLimit-1, err, resp)
	}
	_, err = get(p.RecordSizeLimit)
	if err == nil || !strings.Contains(err.Error(), "remote error: tls: record overflow") {
		t.Fatalf("a record one byte over the limit: %v, want alert record_overflow from the card", err)
	}
	if f := rg.counter("TLS", "failures"); f != fails+1 {
		t.Fatalf("TLS failures %d → %d, want one", fails, f)
	}
	if resp, err := get(200); err != nil || !bytes.HasPrefix([]byte(resp), []byte("HTTP/1.1 200")) {
		t.Fatalf("after the refused record, the card no longer serves: %v %.200s", err, resp)
	}
}
