package http

import (
	"bytes"
	"context"
	"io"
	"math/rand/v2"
	nethttp "net/http"
	"net/http/httptrace"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

func randomBody(seed uint64, n int) []byte {
	r := rand.New(rand.NewPCG(seed, 1))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// TestNetHTTPUpload: Go's net/http client uploads 1 MiB to a streaming
// route (Content-Length, chunked, Expect: 100-continue) over loopback and
// gets the body's SHA-256 back; a too large declared body gets 413 without
// being sent; keep-alive survives the uploads.
func TestNetHTTPUpload(t *testing.T) {
	addr, conns := serveLoopback(t, uploadConfig(2<<20))
	tr := &nethttp.Transport{MaxIdleConnsPerHost: 1, DisableCompression: true, ExpectContinueTimeout: 20 * time.Second}
	defer tr.CloseIdleConnections()
	cl := &nethttp.Client{Transport: tr, Timeout: 30 * time.Second}
	data := randomBody(1, 1<<20)
	want := strconv.Itoa(len(data)) + " " + hexSum(data)
	do := func(req *nethttp.Request) (int, string) {
		t.Helper()
		res, err := cl.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, err := io.ReadAll(res.Body)
		if err != nil {
			t.Fatal(err)
		}
		return res.StatusCode, string(b)
	}
	// Content-Length.
	req, _ := nethttp.NewRequest("PUT", "http://"+addr+"/upload", bytes.NewReader(data))
	if code, body := do(req); code != 200 || body != want {
		t.Fatalf("PUT: %d %q, want %q", code, body, want)
	}
	// Chunked (unknown length).
	req, _ = nethttp.NewRequest("POST", "http://"+addr+"/upload", io.MultiReader(bytes.NewReader(data)))
	req.ContentLength = -1
	if code, body := do(req); code != 200 || body != want {
		t.Fatalf("chunked POST: %d %q", code, body)
	}
	// Expect: 100-continue: the client waits (up to 20 s) for the 100.
	got100 := false
	trace := &httptrace.ClientTrace{Got100Continue: func() { got100 = true }}
	req, _ = nethttp.NewRequestWithContext(httptrace.WithClientTrace(context.Background(), trace),
		"PUT", "http://"+addr+"/upload", bytes.NewReader(data))
	req.Header.Set("Expect", "100-continue")
	if code, body := do(req); code != 200 || body != want || !got100 {
		t.Fatalf("Expect PUT: %d %q, 100 received: %v", code, body, got100)
	}
	if n := conns.Load(); n != 1 {
		t.Fatalf("%d connections for three uploads", n)
	}
	// Over the route's limit: 413 before the body, which is never sent.
	got100 = false
	big := &countingReader{r: bytes.NewReader(make([]byte, 3<<20))}
	req, _ = nethttp.NewRequestWithContext(httptrace.WithClientTrace(context.Background(), trace),
		"PUT", "http://"+addr+"/upload", big)
	req.ContentLength = 3 << 20
	req.Header.Set("Expect", "100-continue")
	if code, _ := do(req); code != 413 || got100 || big.n != 0 {
		t.Fatalf("over the limit: %d, 100 received: %v, %d body bytes read", code, got100, big.n)
	}
}

type countingReader struct {
	r io.Reader
	n int
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}

// TestCurlUpload: curl uploads 1 MiB + 1 byte (curl then sends Expect:
// 100-continue) with PUT -T, and chunked, to a streaming route.
func TestCurlUpload(t *testing.T) {
	if _, err := exec.LookPath("curl"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("CI must run this real-peer test:", "curl not installed")
		}
		t.Skip("curl not installed")
	}
	addr, _ := serveLoopback(t, uploadConfig(2<<20))
	data := randomBody(2, 1<<20+1)
	f := filepath.Join(t.TempDir(), "up.bin")
	if err := os.WriteFile(f, data, 0o600); err != nil {
		t.Fatal(err)
	}
	want := strconv.Itoa(len(data)) + " " + hexSum(data)
	for _, args := range [][]string{
		{"-T", f},
		{"-H", "Transfer-Encoding: chunked", "--data-binary", "@" + f},
		{"-H", "Expect: 100-continue", "-X", "PUT", "--data-binary", "@" + f},
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		out, err := exec.CommandContext(ctx, "curl", append([]string{"-sS", "--expect100-timeout", "15", "-v"},
			append(args, "http://"+addr+"/upload")...)...).CombinedOutput()
		cancel()
		if err != nil || !strings.HasSuffix(string(out), want) {
			t.Fatalf("curl %v: %v\n%s", args, err, out)
		}
		expect := strings.Contains(string(out), "> Expect: 100-continue")
		if expect != strings.Contains(string(out), "< HTTP/1.1 100 Continue") || args[0] != "-T" && args[1] == "Expect: 100-continue" && !expect {
			t.Fatalf("curl %v: no 100 Continue\n%s", args, out)
		}
	}
}
