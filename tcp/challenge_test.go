package tcp

import (
	"math/rand"
	"testing"
	"time"
)

// challengeProbe plays the off-path attack of CVE-2016-5696 (Cao et al.,
// "Off-Path TCP Exploits", USENIX Security 2016) against stack 1 of a wire
// with two established connections from stack 0: the attacker's own
// (port 80) and a victim's (port 81). Within one second it sends `probes`
// spoofed RSTs to the victim's 4-tuple, in the victim's receive window when
// hit is set (each would draw a challenge ACK to the victim) and outside it
// otherwise (silently dropped); then `own` in-window, inexact RSTs on its
// own connection, and counts the challenge ACKs it receives. The seed
// varies the ISNs, the spacing of the probes (injected randomness) and the
// offset in the window. It returns the attacker's count and the number of
// challenge ACKs sent to the victim.
func challengeProbe(t *testing.T, seed int64, hit bool, probes, own int) (seen, victim int) {
	t.Helper()
	w := newWire(t, testConfig(seed), testConfig(seed+1000), seed)
	atk, satk, _ := w.connect(80)
	vic, svic, _ := w.connect(81)
	w.settle(time.Second)
	s := w.stacks[1]
	rng := rand.New(rand.NewSource(seed))
	now := w.now
	var buf [1500]byte
	collect := func() {
		for {
			n, _ := s.Output(buf[:], addrB, now)
			if n == 0 {
				return
			}
			h, _ := ParseHeader(buf[:n])
			if h.Flags != FlagACK {
				continue
			}
			switch h.DstPort {
			case atk.lport:
				seen++
			case vic.lport:
				victim++
			}
		}
	}
	for i := 0; i < probes; i++ {
		seq := svic.rcvNxt + 1 + uint32(rng.Intn(1000))
		if !hit {
			seq = svic.rcvNxt + 1<<30 + uint32(rng.Intn(1000))
		}
		s.Input(addrA, addrB, craft(addrA, addrB, vic.lport, 81, seq, 0, FlagRST, 1000, nil), now)
		now = now.Add(time.Duration(rng.Intn(20)) * time.Millisecond)
		collect()
	}
	for i := 0; i < own; i++ {
		seq := satk.rcvNxt + 1 + uint32(rng.Intn(1000))
		s.Input(addrA, addrB, craft(addrA, addrB, atk.lport, 80, seq, 0, FlagRST, 1000, nil), now)
		now = now.Add(time.Duration(rng.Intn(20)) * time.Millisecond)
		collect()
	}
	if satk.State() != Established || svic.State() != Established {
		t.Fatalf("seed %d: a connection was reset: %v %v", seed, satk.State(), svic.State())
	}
	return seen, victim
}

// TestChallengeACKSideChannel is the regression test for CVE-2016-5696:
// the number of challenge ACKs an attacker draws on its own connection must
// not depend on whether its spoofed probes hit another connection's window
// (RFC 5961 §7 limits challenge ACKs; a budget shared by all connections
// turns that limit into a counter anyone can read). Over many seeds, with
// randomised probe timing and window offsets, the attacker's count has the
// same distribution — here, the same value for every seed — whether the
// probes hit or miss, while the hits do draw challenge ACKs to the victim.
func TestChallengeACKSideChannel(t *testing.T) {
	const seeds, probes, own = 40, 5, 30
	var sumHit, sumMiss, victimHits int
	for seed := int64(1); seed <= seeds; seed++ {
		h, vh := challengeProbe(t, seed, true, probes, own)
		m, vm := challengeProbe(t, seed, false, probes, own)
		if vm != 0 {
			t.Fatalf("seed %d: out-of-window probes drew %d challenge ACKs", seed, vm)
		}
		if h != m {
			t.Errorf("seed %d: attacker sees %d challenge ACKs when the probes hit, %d when they miss", seed, h, m)
		}
		sumHit += h
		sumMiss += m
		victimHits += vh
	}
	t.Logf("attacker's challenge ACKs over %d seeds: %d (probes hit) vs %d (miss); victim drew %d",
		seeds, sumHit, sumMiss, victimHits)
	if victimHits == 0 {
		t.Fatal("in-window probes drew no challenge ACK: the test does not probe anything")
	}
}

// TestChallengeACKPerConnection checks the per-connection limit itself: a
// connection sends at most ChallengeACKLimit challenge ACKs per second
// (RFC 5961 §7), and another connection's budget is untouched by it.
func TestChallengeACKPerConnection(t *testing.T) {
	cfg := testConfig(2)
	cfg.ChallengeACKLimit = 4
	w := newWire(t, testConfig(1), cfg, 1)
	a, sa, _ := w.connect(80)
	b, sb, _ := w.connect(81)
	w.settle(time.Second)
	s := w.stacks[1]
	count := func(c *Conn, sc *Conn, port uint16, n int) int {
		got := 0
		for i := 0; i < n; i++ {
			s.Input(addrA, addrB, craft(addrA, addrB, c.lport, port, sc.rcvNxt+7, 0, FlagRST, 1000, nil), w.now)
			for _, h := range drain(s, addrB, w.now) {
				if h.Flags == FlagACK && h.DstPort == c.lport {
					got++
				}
			}
		}
		return got
	}
	if n := count(a, sa, 80, 10); n != 4 {
		t.Fatalf("connection a: %d challenge ACKs in one second, want 4", n)
	}
	if n := count(b, sb, 81, 10); n != 4 {
		t.Fatalf("connection b: %d challenge ACKs after a's were spent, want 4", n)
	}
	w.now = w.now.Add(time.Second)
	if n := count(a, sa, 80, 10); n != 4 {
		t.Fatalf("connection a, next second: %d challenge ACKs, want 4", n)
	}
	st := s.Stats()
	if st.ChallengeACKs != 12 || st.ChallengeThrottle != 18 {
		t.Fatalf("stats: %d sent, %d throttled; want 12, 18", st.ChallengeACKs, st.ChallengeThrottle)
	}
}
