package http

import (
	"strings"
	"testing"
	"time"
)

// TestHeadOutgrowsReserve: a response whose head outgrows HeaderReserve
// (Tiny: OutBuf 448, so 224 bytes — a 401 with its Basic challenge,
// Cache-Control and Connection: close takes 238) while head and body
// together fit the output room is sent as the handler wrote it, its body
// moved behind the head; observed before the fix: 500 Internal Server
// Error, the handler's status and text lost (a wrong PIN on the Tiny
// profile answered 500, not "wrong PIN: 2 tries left"). A head and body
// that cannot fit together still get 500.
func TestHeadOutgrowsReserve(t *testing.T) {
	const challenge = "WWW-Authenticate: Basic realm=\"netcard vault\", charset=\"UTF-8\"\r\n"
	now := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	for _, inPlace := range []bool{false, true} {
		for _, tc := range []struct {
			body string
			want string
		}{
			{"wrong PIN: 2 tries left; next try in 2 s\n", "HTTP/1.1 401 Unauthorized\r\n"},
			{strings.Repeat("x", 300), "HTTP/1.1 500 "}, // 238 + 300 > 448: cannot fit
		} {
			c := NewServerConn(ServerConfig{InBuf: 1024, OutBuf: 448, InPlace: inPlace,
				Handler: func(r *Request, w *ResponseWriter) {
					w.Header.Status = 401
					w.Header.ContentType = "text/plain; charset=utf-8"
					w.Header.CacheControl = "no-store"
					w.Header.Extra = challenge
					w.WriteString(tc.body)
				}})
			c.Input([]byte("GET /vault/x HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n"), now)
			got := drainInPlace(c, 448, now)
			if !strings.HasPrefix(got, tc.want) {
				t.Fatalf("inPlace=%v body %d: %q", inPlace, len(tc.body), got)
			}
			if tc.want[9:12] == "401" && (!strings.HasSuffix(got, "\r\n\r\n"+tc.body) || !strings.Contains(got, challenge) ||
				!strings.Contains(got, "Connection: close\r\n") || len(got)-len(tc.body) <= 224) {
				t.Fatalf("inPlace=%v: %q", inPlace, got)
			}
		}
	}
}
