package ipv4

import (
	"testing"
	"time"
)

// TestTokenBucketNarrow: the 16-byte bucket (RFC 1812 §4.3.2.8 rate
// limiting) keeps the rate exactly when messages come at sub-millisecond
// spacing (whole milliseconds counted between refills: nothing lost to
// rounding), across the wrap of its 32-bit millisecond clock, with a clock
// going backwards (a refill, at most the burst), and clamps a huge burst;
// the zero value and perSec ≤ 0 allow everything.
func TestTokenBucketNarrow(t *testing.T) {
	count := func(b *TokenBucket, start time.Time, step time.Duration, n int) int {
		k := 0
		for i := 0; i < n; i++ {
			if b.Allow(start.Add(time.Duration(i) * step)) {
				k++
			}
		}
		return k
	}
	// 10 a second, burst 1: asked every 0.3 ms for 10 s, 100 (+1 burst).
	b := NewTokenBucket(10, 1)
	if k := count(&b, t0, 300*time.Microsecond, 33334); k < 100 || k > 101 {
		t.Fatalf("sub-ms spacing: %d allowed in 10 s at 10/s", k)
	}
	// Across the wrap of UnixMilli mod 2^32.
	wrap := time.UnixMilli(1<<32*400 - 5000) // 5 s before a wrap
	b = NewTokenBucket(10, 1)
	if k := count(&b, wrap, 300*time.Microsecond, 33334); k < 100 || k > 101 {
		t.Fatalf("across the wrap: %d allowed in 10 s at 10/s", k)
	}
	// The clock goes back: at most the burst.
	b = NewTokenBucket(10, 3)
	if k := count(&b, t0, 0, 10); k != 3 {
		t.Fatalf("burst: %d", k)
	}
	if k := count(&b, t0.Add(-time.Hour), 0, 10); k != 3 {
		t.Fatalf("clock back: %d", k)
	}
	// A long quiet period refills only up to the burst.
	if k := count(&b, t0.Add(24*time.Hour), 0, 10); k != 3 {
		t.Fatalf("after a day: %d", k)
	}
	// A burst too large for 32-bit microseconds is clamped, not wrapped.
	b = NewTokenBucket(1, 1<<30)
	if b.burst <= 0 || count(&b, t0, 0, 1000) != 1000 {
		t.Fatalf("huge burst: %d µs", b.burst)
	}
	var zero TokenBucket
	none := NewTokenBucket(0, 5)
	fast := NewTokenBucket(2_000_000, 1)
	if count(&zero, t0, 0, 100) != 100 || count(&none, t0, 0, 100) != 100 || count(&fast, t0, 0, 100) != 100 {
		t.Fatal("an unlimited bucket refused")
	}
}
