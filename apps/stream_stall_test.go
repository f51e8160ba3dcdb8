package apps

import (
	"bytes"
	"fmt"
	"io"
	"testing"
	"time"

	"netcard/tls"
)

// TestStreamedStallIsIdle: a peer that sends the first bytes of a record
// and then stalls holds its slot no longer when the record is streamed
// (ChaCha20-Poly1305, larger than StreamAbove) than when it would be
// received whole: in both cases nothing of a request has reached HTTP, so
// the session is idle since its last progress (Idle), and the card's
// admission policy may give the slot to a newcomer after EvictAfter. Before
// the fix a record being absorbed counted as work in progress (Idle false)
// while HTTP saw no request (Receiving false): the slot was evictable by no
// rule, held until HTTP's IdleTimeout. Without a newcomer, HTTP's IdleTimeout
// (60 s) closes it either way.
func TestStreamedStallIsIdle(t *testing.T) {
	for _, tc := range []struct{ streamed, timeout bool }{{false, false}, {true, false}, {false, true}, {true, true}} {
		streamed, timeout := tc.streamed, tc.timeout
		t.Run(fmt.Sprintf("streamed=%v/idle-timeout=%v", streamed, timeout), func(t *testing.T) {
			app, s, m, pki := newTestApp(t)
			m.B = append(m.B, make([]byte, tls.SpillSize)...)
			spill, err := s.Scratch(0, tls.SpillSize)
			if err != nil {
				t.Fatal(err)
			}
			tcfg := serverTLS(t, s, seeded(10))
			tcfg.PreferChaCha = true
			cfg := SessionConfig{TLS: tcfg, RecordBuf: testRecvBuf, Handler: app.Serve, HTTP: cardHTTP}
			if streamed {
				cfg.Spill, cfg.StreamAbove = spill, 512
			}
			p := newPairCfg(cfg, testRecvBuf, testSendBuf)
			cl := tls.NewClient(&tls.Config{Rand: seeded(11), Time: func() time.Time { return testNow },
				Client: &tls.ClientConfig{ServerName: "card.example", Roots: pki.cardPool}, MaxRecordOut: 16384}, 0)
			drive := func() {
				for i := 0; i < 10000; i++ {
					prog := false
					if f := p.cst.Free(); len(f) > 0 {
						if n := cl.Output(f); n > 0 {
							p.cst.Commit(n)
							prog = true
						}
					}
					prog = transfer(p.cst, p.sst) || prog
					prog = p.srv.Service(p.now) || prog
					prog = transfer(p.sst, p.cst) || prog
					for len(p.cst.rx) > 0 {
						c, _, err := cl.Unwrap(p.cst.rx)
						if err == io.EOF {
							break // the card may answer and close (the last step)
						}
						if err != nil {
							t.Fatalf("client: %v (server stats %+v)", err, p.srv.Stats())
						}
						if c == 0 {
							break
						}
						p.cst.Consume(c)
						prog = true
					}
					if !prog {
						return
					}
				}
				t.Fatal("no quiescence")
			}
			drive()
			if cl.State() != tls.Established {
				t.Fatal("handshake")
			}
			req := "GET / HTTP/1.1\r\nHost: card.example\r\nX-Pad: " + string(bytes.Repeat([]byte("a"), 8000)) + "\r\n\r\n"
			hdr, tail := cl.Overhead()
			rec := make([]byte, hdr+len(req)+tail)
			copy(rec[hdr:], req)
			if n := cl.Wrap(rec, len(req)); n != len(rec) {
				t.Fatalf("Wrap %d", n)
			}
			p.cst.tx = append(p.cst.tx, rec[:1000]...) // then the peer stalls
			drive()
			if e := p.srv.Engine(); streamed != (e.StreamedPending() > 0) {
				t.Fatalf("streamed %v, pending %d", streamed, e.StreamedPending())
			}
			since, idle := p.srv.Idle()
			if !idle || since.After(p.now) {
				t.Fatalf("a session stalled in the first record of a request is not idle (%v, %v)", since, idle)
			}
			if _, _, receiving := p.srv.Receiving(p.now.Add(3*time.Second), 2*time.Second); receiving {
				t.Fatal("receiving: no request byte reached HTTP")
			}
			if !timeout {
				// the rest of the record arrives: the request is served all the same
				p.now = p.now.Add(time.Second)
				p.cst.tx = append(p.cst.tx, rec[1000:]...)
				drive()
				if p.srv.Stats().BytesIn == 0 || p.srv.Stats().TLSFailures != 0 {
					t.Fatalf("the completed record was not taken: %+v", p.srv.Stats())
				}
				return
			}
			// Without a newcomer, HTTP's IdleTimeout (60 s) closes the stalled connection: FIN sent.
			t0 := p.now
			p.now = t0.Add(59 * time.Second)
			drive()
			if p.sst.finSent {
				t.Fatal("closed before the idle timeout")
			}
			p.now = t0.Add(61 * time.Second)
			drive()
			if !p.sst.finSent {
				t.Fatal("a connection stalled in a record outlived HTTP's IdleTimeout")
			}
		})
	}
}
