package tcp

import (
	"testing"
	"time"
)

// TestISNs checks the RFC 6528 generator: ISN = M + F(4-tuple, secret),
// with M a 4 µs clock. Different connections at the same instant get
// unrelated ISNs, the same connection later gets the clock's advance, and
// two stacks (two secrets from Rand) disagree.
func TestISNs(t *testing.T) {
	s1, s2 := NewStack(testConfig(1)), NewStack(testConfig(2))
	seen := map[uint32]bool{}
	for p := uint16(1000); p < 1100; p++ {
		isn := s1.isn(m4(addrA), m4(addrB), 80, p, t0)
		if seen[isn] {
			t.Fatalf("port %d: ISN %#x repeated", p, isn)
		}
		seen[isn] = true
	}
	a := s1.isn(m4(addrA), m4(addrB), 80, 1000, t0)
	b := s1.isn(m4(addrA), m4(addrB), 80, 1000, t0.Add(time.Second))
	if b-a != 250000 {
		t.Fatalf("one second advanced the ISN by %d, want 250000 (4 µs clock)", b-a)
	}
	if s2.isn(m4(addrA), m4(addrB), 80, 1000, t0) == a {
		t.Fatal("two secrets give the same ISN")
	}
	// Consecutive connections of one peer are not predictable from each
	// other: the hash part differs by more than the clock's step.
	x, y := s1.isn(m4(addrA), m4(addrB), 80, 1000, t0), s1.isn(m4(addrA), m4(addrB), 80, 1001, t0)
	if d := int64(int32(x - y)); d > -1<<16 && d < 1<<16 {
		t.Fatalf("neighbouring ports give close ISNs: %#x %#x", x, y)
	}
}
