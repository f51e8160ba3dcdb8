package apps

import (
	"errors"
	"testing"
	"time"

	"netcard/http"
	"netcard/tls"
)

// TestSessionEndReleasesHandshakeBudget: a connection that ends in the
// middle of a large ClientHello — evicted for a newcomer (card admission),
// reset by the peer, or at the handshake timeout — gives the shared
// tls.HandshakeBudget slot back at once, not when its lease runs out: else
// one peer starting big hellos on connections it then drops keeps every
// other large hello refused.
func TestSessionEndReleasesHandshakeBudget(t *testing.T) {
	_, s, _, _ := newTestApp(t)
	for _, end := range []string{"evict", "peer reset", "handshake timeout"} {
		cfg := serverTLS(t, s, seeded(12))
		budget := tls.NewHandshakeBudget(1, 10*time.Second)
		cfg.HandshakeBudget = budget
		srv := NewServerSession(SessionConfig{TLS: cfg, RecordBuf: testRecvBuf, HandshakeTimeout: 5 * time.Second,
			Handler: func(*ConnInfo, *http.Request, *http.ResponseWriter) {}})
		m := newMemStream(testRecvBuf, 4096)
		srv.Reset(m)
		// The first 1,000 bytes of a 16,000-byte ClientHello.
		rec := []byte{22, 3, 1, 0x03, 0xe8, 1, 0, 0x3e, 0x80, 3, 3}
		rec = append(rec, make([]byte, 5+1000-len(rec))...)
		m.rx = append(m.rx, rec...)
		now := testNow
		srv.Service(now)
		if budget.InUse() != 1 {
			t.Fatalf("%s: the partial large hello holds no budget slot (in use %d)", end, budget.InUse())
		}
		switch end {
		case "evict":
			srv.Evict()
		case "peer reset":
			m.err = errors.New("connection reset")
			srv.Service(now)
		case "handshake timeout":
			for i := 0; i < 100 && !srv.Done(); i++ {
				now = now.Add(time.Second)
				srv.Service(now)
			}
		}
		if !srv.Done() {
			t.Fatalf("%s: session not done", end)
		}
		if budget.InUse() != 0 {
			t.Errorf("%s: the budget slot is still held after the session ended", end)
		}
	}
}
