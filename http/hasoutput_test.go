package http

import (
	"math/rand"
	"strings"
	"testing"
	"time"
)

// TestHasOutput: HasOutput false means Output writes nothing and changes
// nothing (apps.ServerSession skips asking its transport for room then,
// which would lend a shed send buffer): two connections fed the same
// pipelined requests — GETs, a HEAD, a chunked POST, a streamed upload, an
// Expect: 100-continue, a bad request that closes — in random pieces, one
// calling Output after every piece and the other only when HasOutput
// says so, send the same bytes and end in the same state; each Output
// called while HasOutput was false returned 0.
func TestHasOutput(t *testing.T) {
	in := "GET /a HTTP/1.1\r\nHost: h\r\n\r\nHEAD /file HTTP/1.1\r\nHost: h\r\n\r\n" +
		"POST /p HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\n\r\n" +
		"PUT /upload HTTP/1.1\r\nHost: h\r\nContent-Length: 3000\r\n\r\n" + string(make([]byte, 3000)) +
		"PUT /upload HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\nhello" +
		"GET /big HTTP/1.1\r\nHost: h\r\n\r\nGET / HTTP/1.1\r\nBad Header\r\n\r\n"
	now := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	for _, inPlace := range []bool{false, true} {
		for seed := int64(1); seed <= 20; seed++ {
			cfg := uploadConfig(1 << 20)
			cfg.InPlace = inPlace
			cfgB := uploadConfig(1 << 20)
			cfgB.InPlace = inPlace
			a, b := NewServerConn(cfg), NewServerConn(cfgB)
			rng := rand.New(rand.NewSource(seed))
			var outA, outB []byte
			skipped := 0
			buf := make([]byte, 1024)
			out := func(c *ServerConn, always bool, dst *[]byte) {
				for i := 0; i < 100; i++ {
					has := c.HasOutput()
					if !always && !has {
						if c.inLen > 0 || c.Streaming() {
							skipped++ // in the middle of a request
						}
						return
					}
					n := c.Output(buf, now)
					if !has && n != 0 {
						t.Fatalf("inPlace=%v seed %d: Output wrote %d bytes while HasOutput was false", inPlace, seed, n)
					}
					*dst = append(*dst, buf[:n]...)
					if n == 0 {
						return
					}
				}
			}
			for rest := []byte(in); len(rest) > 0 && !a.Closed(); {
				k := min(1+rng.Intn(200), len(rest))
				na, nb := a.Input(rest[:k], now), b.Input(rest[:k], now)
				if na != nb {
					t.Fatalf("inPlace=%v seed %d: took %d vs %d bytes", inPlace, seed, na, nb)
				}
				rest = rest[na:]
				out(a, true, &outA)
				out(b, false, &outB)
				now = now.Add(time.Millisecond)
			}
			out(a, true, &outA)
			out(b, false, &outB)
			if string(outA) != string(outB) || a.Closed() != b.Closed() || a.Idle() != b.Idle() {
				t.Fatalf("inPlace=%v seed %d: skipping Output when !HasOutput changed the connection (%d vs %d bytes, closed %v %v)",
					inPlace, seed, len(outA), len(outB), a.Closed(), b.Closed())
			}
			if skipped == 0 || !strings.Contains(string(outB), " 400 ") {
				t.Fatalf("inPlace=%v seed %d: %d skips mid-request, responses %q", inPlace, seed, skipped, outB)
			}
			if !a.Closed() {
				t.Fatalf("inPlace=%v seed %d: the bad request did not close", inPlace, seed)
			}
		}
	}
}
