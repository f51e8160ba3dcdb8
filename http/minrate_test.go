package http

import (
	"strings"
	"testing"
	"time"
)

// TestBodyMinRateDrip: issue 13's slow body — PUT with Content-Length
// 4 MiB and one body byte every 20 s — is cut with 408 at start +
// BodyGrace + received/MinRate (≈ 20 s), not kept alive by each byte.
func TestBodyMinRateDrip(t *testing.T) {
	for _, streamed := range []bool{false, true} {
		sink := &hashSink{}
		c := NewServerConn(ServerConfig{InBuf: 512, OutBuf: 512, Handler: testHandler,
			Body: func(*Request) (BodySink, int64) {
				if streamed {
					return sink, 4 << 20
				}
				return nil, 0
			}})
		head := "PUT /upload HTTP/1.1\r\nHost: h\r\nContent-Length: 4194304\r\n\r\n"
		if !streamed {
			head = "PUT /vault/x HTTP/1.1\r\nHost: h\r\nContent-Length: 400\r\n\r\n"
		}
		c.Input([]byte(head), t0)
		now := t0
		cut := time.Time{}
		for i := 0; i < 10 && cut.IsZero(); i++ {
			now = now.Add(20 * time.Second)
			c.Poll(now)
			if out := drain(c, now); out != "" {
				if !strings.HasPrefix(out, "HTTP/1.1 408 ") || !c.Closed() {
					t.Fatalf("streamed=%v: %q", streamed, out)
				}
				cut = now
				break
			}
			c.Input([]byte("x"), now)
		}
		if cut.IsZero() || cut.Sub(t0) > 40*time.Second {
			t.Fatalf("streamed=%v: dripping body not cut within 40 s (cut at %v)", streamed, cut.Sub(t0))
		}
		if c.Stats().Timeouts != 1 {
			t.Fatalf("timeouts %d", c.Stats().Timeouts)
		}
	}
}

// TestBodyMinRate9600: a 4 MiB upload at a 9600-baud line's ≈ 850 B/s
// (one piece every 0.5 s), with a 30 s stall half way (TCP backoff after a
// loss), completes: the deadline grows with every byte.
func TestBodyMinRate9600(t *testing.T) {
	sink := &hashSink{}
	c := NewServerConn(ServerConfig{InBuf: 512, OutBuf: 512, Handler: testHandler,
		Body: func(*Request) (BodySink, int64) { return sink, 4 << 20 }})
	const size = 4 << 20
	c.Input([]byte("PUT /upload HTTP/1.1\r\nHost: h\r\nContent-Length: 4194304\r\n\r\n"), t0)
	piece := make([]byte, 425)
	now := t0
	sent := 0
	for sent < size {
		now = now.Add(500 * time.Millisecond)
		if sent >= size/2 && sent < size/2+len(piece) {
			now = now.Add(30 * time.Second)
		}
		c.Poll(now)
		if c.Closed() || c.Stats().Timeouts > 0 {
			t.Fatalf("upload cut after %d bytes, %v", sent, now.Sub(t0))
		}
		k := min(len(piece), size-sent)
		c.Input(piece[:k], now)
		sent += k
		if _, lag, ok := c.Receiving(now, 2*time.Second); ok && lag && now.Sub(t0) > 5*time.Second && sent < size/2 {
			t.Fatalf("steady 850 B/s upload lags MinRate at %v", now.Sub(t0))
		}
	}
	if out := drain(c, now); !strings.HasPrefix(out, "HTTP/1.1 404 ") && !strings.HasPrefix(out, "HTTP/1.1 200 ") {
		t.Fatalf("%.80q", out)
	}
	if sink.n != size {
		t.Fatalf("sink got %d", sink.n)
	}
	t.Logf("4 MiB at 850 B/s: %v", now.Sub(t0).Round(time.Second))
}

// TestReceivingLags: Receiving reports a request in progress and whether
// it lags MinRate after the caller's grace; a complete request, an idle
// connection and a response in progress are not receiving. Bytes still
// below HTTP (SetPending) count as progress.
func TestReceivingLags(t *testing.T) {
	c := NewServerConn(ServerConfig{Handler: testHandler})
	if _, _, ok := c.Receiving(t0, 0); ok {
		t.Fatal("fresh connection receiving")
	}
	c.Input([]byte("GET / HTTP/1.1\r\n"), t0) // 16 bytes: 62.5 ms at 256 B/s
	since, lag, ok := c.Receiving(t0.Add(2*time.Second), 2*time.Second)
	if !ok || lag || !since.Equal(t0) {
		t.Fatal(since, lag, ok)
	}
	if _, lag, _ = c.Receiving(t0.Add(2*time.Second+62500*time.Microsecond), 2*time.Second); !lag {
		t.Fatal("slow head does not lag")
	}
	c.SetPending(512) // a TLS record on its way: 2 s more at 256 B/s
	if _, lag, _ = c.Receiving(t0.Add(4*time.Second), 2*time.Second); lag {
		t.Fatal("pending bytes not counted")
	}
	c.SetPending(0)
	c.Input([]byte("Host: h\r\n\r\n"), t0.Add(3*time.Second))
	if _, _, ok := c.Receiving(t0.Add(3*time.Second), 0); ok {
		t.Fatal("answered request still receiving")
	}
}
