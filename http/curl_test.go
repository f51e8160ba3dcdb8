package http

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// curl (an independent client) against ServerConn over loopback: two URLs
// on one keep-alive connection, HEAD, Range, If-None-Match, a chunked POST.
func TestCurlAgainstServerConn(t *testing.T) {
	if _, err := exec.LookPath("curl"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("CI must run this real-peer test:", "curl not installed")
		}
		t.Skip("curl not installed")
	}
	addr, conns := serveLoopback(t, ServerConfig{Handler: testHandler})
	base := "http://" + addr
	run := func(args ...string) string {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		out, err := exec.CommandContext(ctx, "curl", append([]string{"-sS", "--no-progress-meter"}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("curl %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	before := conns.Load()
	if out := run(base+"/one", base+"/two"); out != "<p>/one</p><p>/two</p>" {
		t.Fatalf("%q", out)
	}
	if n := conns.Load() - before; n != 1 {
		t.Fatalf("curl used %d connections for two URLs", n)
	}
	if out := run(base + "/stream"); out != pattern(streamLen) {
		t.Fatalf("stream: %d bytes", len(out))
	}
	if out := run("-I", base+"/file"); !strings.Contains(out, "Content-Length: 36") || !strings.Contains(out, `ETag: "v1"`) {
		t.Fatalf("HEAD %q", out)
	}
	if out := run("-r", "10-13", base+"/file"); out != "abcd" {
		t.Fatalf("Range %q", out)
	}
	if out := run("-o", "/dev/null", "-w", "%{http_code}", "-H", `If-None-Match: "v1"`, base+"/file"); out != "304" {
		t.Fatalf("If-None-Match %q", out)
	}
	if out := run("-H", "Transfer-Encoding: chunked", "--data-binary", "chunked via curl", base+"/echo"); out != "chunked via curl" {
		t.Fatalf("chunked POST %q", out)
	}
	if out := run("-o", "/dev/null", "-w", "%{http_code}", "-H", "X-Big: "+strings.Repeat("y", 5000), base+"/"); out != "431" {
		t.Fatalf("431 %q", out)
	}
}
