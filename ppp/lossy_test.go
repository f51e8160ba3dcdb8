package ppp

import (
	"bytes"
	"math/rand"
	"testing"
	"time"
)

// lineFaults returns a seeded fault function for the harness: each frame
// (octets after a flag) is dropped with probability drop, and every bit is
// flipped with probability ber. flips counts the corrupted octets.
func lineFaults(seed int64, drop, ber float64, flips *int) func(bool, []byte) []byte {
	rng := rand.New(rand.NewSource(seed))
	dropping := [2]bool{}
	out := make([]byte, 0, 8192)
	return func(fromA bool, p []byte) []byte {
		d := 0
		if fromA {
			d = 1
		}
		out = out[:0]
		for _, c := range p {
			if c == flagSeq {
				out = append(out, c)
				dropping[d] = rng.Float64() < drop
				continue
			}
			if dropping[d] {
				continue
			}
			for bit := 0; bit < 8; bit++ {
				if rng.Float64() < ber {
					c ^= 1 << bit
					*flips++
				}
			}
			out = append(out, c)
		}
		return out
	}
}

func TestLossyLink(t *testing.T) {
	for seed := int64(1); seed <= 5; seed++ {
		cc := cardConfig()
		cc.EchoInterval = 10 * time.Second
		cc.EchoFailure = 5
		cc.RequireAuth = AuthCHAP
		cc.Secrets = secrets(map[string]string{"host": "pw"})
		hc := hostConfig()
		hc.User, hc.Secret = "host", "pw"
		h := newHarness(t, cc, hc)
		flips := 0
		h.fault = lineFaults(seed, 0.2, 1e-4, &flips)
		h.open()
		if !h.run(5*time.Minute, h.bothUp) {
			t.Fatalf("seed %d: not up: card %v/%v host %v/%v", seed, h.a.l.lcp.state, h.a.l.ipcp.state, h.b.l.lcp.state, h.b.l.ipcp.state)
		}
		// Traffic: every delivered packet must be one that was sent, intact.
		want := map[string]bool{}
		for i := 0; i < 300; i++ {
			p := ipPacket(i, 40+(i*37)%1400)
			want[string(p)] = true
			if i%2 == 0 {
				h.a.queue = append(h.a.queue, p)
			} else {
				h.b.queue = append(h.b.queue, p)
			}
		}
		h.run(time.Minute, func() bool { return false })
		for _, e := range []*end{h.a, h.b} {
			for _, p := range e.got {
				if !want[string(p)] {
					t.Fatalf("seed %d: %s got a corrupted packet", seed, e.name)
				}
			}
			if e.badRx != 0 {
				t.Fatalf("seed %d: %s accepted %d frames that were never sent", seed, e.name, e.badRx)
			}
		}
		sa, sb := h.a.l.Stats(), h.b.l.Stats()
		errs := sa.BadFCS + sb.BadFCS + sa.Runts + sb.Runts + sa.Aborts + sb.Aborts + sa.Oversize + sb.Oversize
		t.Logf("seed %d: up at +%v, bit flips %d, bad FCS %d+%d, runts %d, aborts %d, delivered %d+%d of 300",
			seed, time.Duration(0), flips, sa.BadFCS, sb.BadFCS, sa.Runts+sb.Runts, sa.Aborts+sb.Aborts, len(h.a.got), len(h.b.got))
		if flips == 0 || errs == 0 {
			t.Errorf("seed %d: the fault function did nothing (flips %d, errors %d)", seed, flips, errs)
		}
		if len(h.a.got)+len(h.b.got) < 100 {
			t.Errorf("seed %d: only %d packets delivered", seed, len(h.a.got)+len(h.b.got))
		}
	}
	_ = bytes.Equal
}
