package tls

import (
	"bytes"
	gotls "crypto/tls"
	"fmt"
	"io"
	"testing"
	"time"
)

// feed gives an engine bytes until it has consumed them all or fails.
func feed(t *testing.T, e *Engine, in []byte) error {
	t.Helper()
	for len(in) > 0 {
		n, _, err := e.Unwrap(in)
		if err != nil {
			return err
		}
		if n == 0 {
			t.Fatal("stuck")
		}
		in = in[n:]
	}
	return nil
}

// TestHandshakeBudget: with a HandshakeBudget of one slot, at most one engine holds a grown
// reassembly buffer at any time; a second big ClientHello while it is held is refused with
// internal_error (RFC 8446 §6.2: a memory allocation failure); the slot and the big buffer go
// back as soon as the big message is processed; a stalled holder loses its slot after the lease
// and fails with internal_error if it runs again; small hellos never touch the budget.
func TestHandshakeBudget(t *testing.T) {
	clock := testNow
	b := NewHandshakeBudget(1, 10*time.Second)
	cfg := serverConfig(t, false)
	cfg.HandshakeBudget, cfg.Time = b, func() time.Time { return clock }
	big := records(bigCH(t, 6800))
	const part = 3000

	a := NewServer(cfg, 0)
	own := cap(a.hsBuf)
	if err := feed(t, a, big[:part]); err != nil {
		t.Fatal(err)
	}
	if b.InUse() != 1 || !a.bigHeld {
		t.Fatalf("A holds no slot (in use %d)", b.InUse())
	}

	c := NewServer(cfg, 0)
	expectAlert(t, feed(t, c, big), AlertInternalError, false)
	if a := queuedPlainAlert(c); a != AlertInternalError {
		t.Fatalf("queued alert %d", a)
	}
	if b.Refused() != 1 || b.InUse() != 1 {
		t.Fatalf("refused %d, in use %d", b.Refused(), b.InUse())
	}

	if err := feed(t, a, big[part:]); err != nil {
		t.Fatal(err)
	}
	// once processed, the big hello's buffer is dropped and the reassembly buffer is the small area
	// of the slab that takes the client's second flight (serverMemory)
	if b.InUse() != 0 || a.bigHeld || a.hsGrown || cap(a.hsBuf) != smallHSLen || a.Pending() == 0 {
		t.Fatalf("after the hello: in use %d, buffer %d (small %d), pending %d", b.InUse(), cap(a.hsBuf), smallHSLen, a.Pending())
	}

	d := NewServer(cfg, 0)
	if err := feed(t, d, big); err != nil || d.Pending() == 0 || b.InUse() != 0 {
		t.Fatalf("a big hello after the slot came back: %v, in use %d", err, b.InUse())
	}

	// a holder that stalls loses its slot after the lease
	stall := NewServer(cfg, 0)
	if err := feed(t, stall, big[:part]); err != nil || b.InUse() != 1 {
		t.Fatal(err, b.InUse())
	}
	clock = clock.Add(9 * time.Second)
	expectAlert(t, feed(t, NewServer(cfg, 0), big), AlertInternalError, false)
	clock = clock.Add(time.Second)
	if err := feed(t, NewServer(cfg, 0), big); err != nil {
		t.Fatalf("after the lease: %v", err)
	}
	if cap(stall.hsBuf) != own {
		t.Fatalf("the stalled engine still holds a %d-byte buffer", cap(stall.hsBuf))
	}
	expectAlert(t, feed(t, stall, big[part:]), AlertInternalError, false)
	if b.InUse() != 0 {
		t.Fatalf("in use %d", b.InUse())
	}

	// a message of a type that is never big is refused at its header: no slot, no buffer
	g := b.Granted()
	h := NewServer(cfg, 0)
	expectAlert(t, feed(t, h, plainRec(recordHandshake, typeFinished, 0, 0x20, 0)), AlertDecodeError, false)
	expectAlert(t, feed(t, NewServer(cfg, 0), plainRec(recordHandshake, 77, 0, 0x20, 0)), AlertUnexpectedMessage, false)
	if b.Granted() != g || cap(h.hsBuf) != own {
		t.Fatal("a buffer grew for a bogus header")
	}

	// small hellos never take a slot
	s, cl := handshakePair(t, cfg, clientConfig(t))
	if s.State() != Established || cl.State() != Established || b.Granted() != g {
		t.Fatal("small handshake")
	}

	// a failing or closing holder gives the slot back at once
	f := NewServer(cfg, 0)
	if err := feed(t, f, big[:part]); err != nil || b.InUse() != 1 {
		t.Fatal(err)
	}
	f.Close()
	if b.InUse() != 0 || f.hsBuf != nil && cap(f.hsBuf) != own {
		t.Fatalf("after Close: in use %d", b.InUse())
	}
}

// bigALPN makes a client's ClientHello about 27 × 251 bytes bigger (≈ 7.5 KB, ECH-sized), and the
// server accept the last name.
func bigALPN(client bool) func(c *Config) {
	return func(c *Config) {
		var names []string
		for i := 0; i < 27; i++ {
			names = append(names, fmt.Sprintf("%03d%s", i, bytes.Repeat([]byte{'p'}, 247)))
		}
		if !client {
			names = names[26:]
		}
		c.ALPN = names
	}
}

// TestHandshakeBudgetHostile: whole handshakes under a one-slot budget: the peer's 7.5 KB
// ClientHello passes (also in 1-byte records), and the slot is back once it is processed.
func TestHandshakeBudgetHostile(t *testing.T) {
	b := NewHandshakeBudget(1, 10*time.Second)
	dut := func(c *Config) { bigALPN(false)(c); c.HandshakeBudget = b }
	runHostile(t, []hcase{
		{name: "ECH-sized ClientHello under a budget", rule: "budget", dut: dut, peer: bigALPN(true),
			check: func(t *testing.T, h *hostile) {
				h.established()
				if b.InUse() != 0 || b.Granted() != 1 {
					t.Fatalf("in use %d, granted %d", b.InUse(), b.Granted())
				}
			}},
		{name: "1-byte records of an ECH-sized ClientHello under a budget", rule: "budget", dut: dut, peer: bigALPN(true),
			script: splitRecords(typeClientHello, 1),
			check: func(t *testing.T, h *hostile) {
				h.established()
				if b.InUse() != 0 || b.Granted() != 2 {
					t.Fatalf("in use %d, granted %d", b.InUse(), b.Granted())
				}
			}},
	})
}

// TestHandshakeBudgetGoClient: crypto/tls clients with a 7.5 KB ClientHello, one after the other,
// against our server with a one-slot budget: every handshake completes and the slot is free after each.
func TestHandshakeBudgetGoClient(t *testing.T) {
	b := NewHandshakeBudget(1, 10*time.Second)
	cfg := serverConfig(t, false)
	bigALPN(false)(cfg)
	cfg.HandshakeBudget = b
	for i := 0; i < 3; i++ {
		a, c := tcpPair(t)
		srv := NewConn(a, NewServer(cfg, 0))
		wait := runPeer(func() error { return ourServerEcho(srv, 5) })
		gc := goClientConfig(t)
		cc := &Config{}
		bigALPN(true)(cc)
		gc.NextProtos = cc.ALPN
		cl := gotls.Client(c, gc)
		if _, err := cl.Write([]byte("hello")); err != nil {
			t.Fatal(err)
		}
		got := make([]byte, 5)
		if _, err := io.ReadFull(cl, got); err != nil {
			t.Fatal(err)
		}
		if err := wait(); err != nil {
			t.Fatal(err)
		}
		cl.Close()
		if b.InUse() != 0 {
			t.Fatalf("in use %d", b.InUse())
		}
	}
	if b.Granted() != 3 || b.Refused() != 0 {
		t.Fatalf("granted %d, refused %d", b.Granted(), b.Refused())
	}
}

// TestHandshakeBudgetAllocs: the budget costs no allocation — a server reading a 6.8 KB ClientHello
// allocates as much with it as without it (the grown buffer), and a small hello nothing more.
func TestHandshakeBudgetAllocs(t *testing.T) {
	big := records(bigCH(t, 6800))
	small := records(bigCH(t, 600))
	count := func(b *HandshakeBudget, in []byte) float64 {
		cfg := serverConfig(t, false)
		cfg.HandshakeBudget = b
		return testing.AllocsPerRun(20, func() {
			if err := feed(t, NewServer(cfg, 0), in); err != nil {
				t.Fatal(err)
			}
		})
	}
	b := NewHandshakeBudget(1, time.Second)
	for _, tc := range []struct {
		name string
		in   []byte
	}{{"6.8 KB hello", big}, {"600 B hello", small}} {
		without, with := count(nil, tc.in), count(b, tc.in)
		t.Logf("%s: %.0f allocations without a budget, %.0f with", tc.name, without, with)
		if with > without {
			t.Fatalf("%s: %.0f allocations with a budget, %.0f without", tc.name, with, without)
		}
	}
	if b.InUse() != 0 {
		t.Fatal("slot not returned")
	}
}
