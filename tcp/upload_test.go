package tcp_test

import (
	"bytes"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"netcard/card"
	"netcard/link"
	"netcard/sim"
	"netcard/tcp"
	"netcard/tls"
)

// bigRecordClient is an HTTPS client inside the simulation that sends its
// requests (pipelined, padded to ~1.6 KB each) in full 16 KiB TLS records,
// as uploads from mainstream clients do, and collects the responses.
type bigRecordClient struct {
	w    *sim.World
	conn *tcp.Conn
	eng  *tls.Engine
	out  []byte // plaintext still to send
	resp []byte
	done bool
	err  error
}

func newBigRecordClient(t *testing.T, w *sim.World, requests int) *bigRecordClient {
	cfg, err := w.ClientTLS()
	if err != nil {
		t.Fatal(err)
	}
	cfg.MaxRecordOut = 16384
	conn, err := w.Host().TCP.Dial(sim.HostIP, sim.CardIP, 443, w.Now())
	if err != nil {
		t.Fatal(err)
	}
	c := &bigRecordClient{w: w, conn: conn, eng: tls.NewClient(cfg, tls.DefaultRecordBuf)}
	pad := strings.Repeat("p", 1500)
	for i := 0; i < requests; i++ {
		hdr := ""
		if i == requests-1 {
			hdr = "Connection: close\r\n"
		}
		c.out = fmt.Appendf(c.out, "GET /a.txt?%d HTTP/1.1\r\nHost: netcard.local\r\nX-Pad: %s\r\n%s\r\n", i, pad, hdr)
	}
	return c
}

// Service implements sim.Actor.
func (c *bigRecordClient) Service(now time.Time) (bool, time.Time) {
	if c.done {
		return false, time.Time{}
	}
	if err := c.conn.Err(); err != nil {
		c.err, c.done = err, true
		return true, time.Time{}
	}
	p := false
	for c.eng.Pending() > 0 && len(c.conn.Free()) > 0 {
		c.conn.Commit(c.eng.Output(c.conn.Free()))
		p = true
	}
	if c.eng.State() == tls.Established && len(c.out) > 0 {
		hdr, tail := c.eng.Overhead()
		n := min(len(c.out), c.eng.MaxPlaintext())
		if f := c.conn.Free(); len(f) >= hdr+n+tail {
			copy(f[hdr:], c.out[:n])
			c.conn.Commit(c.eng.Wrap(f, n))
			c.out = c.out[n:]
			p = true
		}
	}
	for {
		n, plain, err := c.eng.Unwrap(c.conn.Peek())
		c.resp = append(c.resp, plain...)
		if n > 0 {
			c.conn.Consume(n)
			p = true
		}
		if err == io.EOF || (err == nil && n == 0 && c.conn.EOF()) {
			c.done = true
			c.conn.Close()
			return true, time.Time{}
		}
		if err != nil {
			c.err, c.done = err, true
			return true, time.Time{}
		}
		if n == 0 {
			return p, time.Time{}
		}
	}
}

// TestCardAcceptsFullRecords: four clients at once send 16 KiB TLS records
// (three each) to a Card-profile card, whose slots own small receive
// buffers and share one large one. Every request is answered: the
// session reserves room for each record whose header it sees (no
// connection has to fill its small buffer first), the connections take
// turns with the large buffer, and none deadlocks — on a clean line and
// on one that drops and duplicates PPP frames both ways (seed 60 once
// deadlocked: zero windows both ways with data in flight, see
// TestZeroWindowAcceptsACKs and TestWindowFromAdvancingACK).
//
// The clients offer only AES-GCM: a ChaCha20-Poly1305 record is streamed
// through the card's store instead (card.Profile.SpillRecords) and needs
// no large buffer, as the chacha runs check (no loan at all).
func TestCardAcceptsFullRecords(t *testing.T) {
	t.Run("clean", func(t *testing.T) { cardAcceptsFullRecords(t, 7, nil, card.CardProfile.MaxConns, true) })
	t.Run("clean-chacha", func(t *testing.T) { cardAcceptsFullRecords(t, 7, nil, card.CardProfile.MaxConns, false) })
	t.Run("lossy-chacha-60", func(t *testing.T) {
		cardAcceptsFullRecords(t, 60, &link.Faults{DropFrame: 0.05, Dup: 0.01}, card.CardProfile.MaxConns, false)
	})
	// Two uploaders on the lossy line: four that take turns record by
	// record can make one wait longer than HTTP's RequestTimeout (10 s)
	// between two records a request spans (a 408, not a TCP failure).
	for _, seed := range []uint64{1, 2, 3, 4, 60} {
		t.Run(fmt.Sprint("lossy-", seed), func(t *testing.T) {
			cardAcceptsFullRecords(t, seed, &link.Faults{DropFrame: 0.05, Dup: 0.01}, 2, true)
		})
	}
}

func cardAcceptsFullRecords(t *testing.T, seed uint64, faults *link.Faults, clients int, aes bool) {
	p := card.CardProfile
	var suites []uint16
	if aes {
		suites = []uint16{tls.TLS_AES_128_GCM_SHA256}
	}
	if p.SmallRecvBuf >= p.RecvBuf || p.LargeRecvBufs >= p.MaxConns {
		t.Fatalf("the Card profile shares no large receive buffer: %+v", p)
	}
	w, err := sim.New(sim.Options{Profile: p, Seed: seed, HostSendBuf: 40000, Up: faults, Down: faults,
		MinRTO: 200 * time.Millisecond, Files: map[string][]byte{"a.txt": []byte("hello")}, ClientSuites: suites})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.RunUntil(w.Up, time.Minute); err != nil {
		t.Fatal(err)
	}
	const perConn = 30 // 30 × ~1.6 KB: three full records, then a short one
	var cs []*bigRecordClient
	for i := 0; i < clients; i++ {
		c := newBigRecordClient(t, w, perConn)
		cs = append(cs, c)
		w.AddActor(c)
	}
	err = w.RunUntil(func() bool {
		for _, c := range cs {
			if !c.done {
				return false
			}
		}
		return true
	}, 10*time.Minute)
	if err != nil {
		t.Fatalf("stuck after %v: %v", w.Elapsed(), err)
	}
	for i, c := range cs {
		if c.err != nil {
			t.Fatalf("client %d: %v", i, c.err)
		}
		if c.eng.MaxPlaintext() < 16384 {
			t.Fatalf("client %d sent records of %d bytes", i, c.eng.MaxPlaintext())
		}
		if n := bytes.Count(c.resp, []byte("HTTP/1.1 200 ")); n != perConn {
			t.Fatalf("client %d: %d responses of %d", i, n, perConn)
		}
	}
	st := w.Card().TCP().Stats()
	t.Logf("virtual %v; large buffer lent %d times, %d waits, %d growths; %d retransmissions",
		w.Elapsed(), st.LargeBorrows, st.LargeWaits, st.LargeGrowths, st.Retransmits)
	if !aes {
		if st.LargeBorrows != 0 || st.LargeGrowths != 0 {
			t.Fatalf("ChaCha20-Poly1305 records: large buffer lent %d times, %d growths (not streamed)",
				st.LargeBorrows, st.LargeGrowths)
		}
		return
	}
	if faults != nil {
		if st.Retransmits == 0 {
			t.Fatal("no retransmission on the lossy line")
		}
		return
	}
	if st.LargeBorrows < uint64(3*clients) || st.LargeWaits == 0 {
		t.Fatalf("large buffer lent %d times, %d waits", st.LargeBorrows, st.LargeWaits)
	}
	if st.LargeGrowths != 0 {
		t.Fatalf("%d records were not announced with Reserve", st.LargeGrowths)
	}
	// 12 records, one at a time: ≈ 10 s. A window that ends inside the
	// segment carrying a record's last byte costs a persist timeout (1 s)
	// per record (≈ 18 s): the large buffer's extra MSS avoids it.
	if w.Elapsed() > 15*time.Second {
		t.Fatalf("uploads took %v", w.Elapsed())
	}
}
