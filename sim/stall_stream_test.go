package sim

import (
	"testing"
	"testing/cryptotest"
	"time"

	"netcard/card"
	"netcard/tls"
)

// TestStalledStreamedRecords: four HTTPS clients complete their handshake, each sends the first
// 2,000 bytes of an 8 KB ChaCha20-Poly1305 record — larger than its slot's receive buffer, so the
// card streams it through the slot's spill region — and stalls. They hold all four slots. A
// newcomer must get one after EvictAfter, as it would from peers stalled in a record received
// whole (the card's admission policy, card.EvictAfter): a record still arriving is no work in
// progress. Before the fix such a session was neither idle (a streamed record was pending) nor
// receiving (HTTP had no byte of a request): no rule could evict it and the newcomer waited for
// HTTP's IdleTimeout (60 s).
func TestStalledStreamedRecords(t *testing.T) {
	cryptotest.SetGlobalRandom(t, 9)
	w := newWorld(t, Options{Profile: card.CardProfile, Baud: 115200, Seed: 3, ClientRecordOut: 16384, HostSendBuf: 40 << 10})
	if err := w.RunUntil(w.Up, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 4; i++ {
		c, err := w.Handshake(time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		if cs := c.eng.ConnectionState().CipherSuite; cs != tls.TLS_CHACHA20_POLY1305_SHA256 {
			t.Fatalf("suite %04x", cs)
		}
		hdr, tail := c.eng.Overhead()
		rec := make([]byte, hdr+8000+tail)
		if c.eng.Wrap(rec, 8000) != len(rec) {
			t.Fatal("wrap")
		}
		f := c.conn.Free()
		c.conn.Commit(copy(f, rec[:2000]))
		if err := w.RunUntil(func() bool { return c.conn.Queued() == 0 }, 10*time.Second); err != nil {
			t.Fatal(err)
		}
	}
	w.Run(time.Second)
	for i := 0; i < 4; i++ {
		x, ok := w.Card().TCP().Conn(i)
		if !ok {
			t.Fatalf("slot %d empty", i)
		}
		t.Logf("slot %d: %v", i, x.State())
	}
	start := w.Now()
	code, _, err := w.Get("/", 30*time.Second)
	if err != nil || code != 200 {
		t.Fatalf("GET / with four slots stalled in streamed records: %d %v", code, err)
	}
	took := w.Now().Sub(start)
	t.Logf("GET / answered after %v", took)
	if took > card.EvictAfter+3*time.Second {
		t.Errorf("GET took %v", took)
	}
}
