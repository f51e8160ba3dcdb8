package dns

import (
	"errors"
	"math"
	"netcard/internal/count/counttest"
	"strings"
	"testing"
	"time"
	"unsafe"

	"netcard/ipv4"
	"netcard/ipv6"
	"netcard/udp"
)

// TestResolverSize holds the resident Resolver to the 80-byte allocator
// class (128 before the counters went to 32 bits and the outcome to a
// byte).
func TestResolverSize(t *testing.T) {
	if n := unsafe.Sizeof(Resolver{}); n > 80 {
		t.Errorf("Resolver is %d bytes, want ≤ 80", n)
	}
}

// TestStatsWiden checks that every counter of ResolverStats is kept and
// widened, and that one wraps modulo 2^32.
func TestStatsWiden(t *testing.T) {
	counttest.CheckWiden(t, (*stats32).export, 0)
	r := NewResolver(udp.NewStack(udp.Config{}), ResolverConfig{})
	r.stats.Queries = math.MaxUint32
	if err := r.Resolve("example.com", t0); err != ErrNoServers {
		t.Fatalf("no servers: %v", err)
	}
	r.stats.Queries++
	if st := r.Stats(); st.Queries != 0 {
		t.Fatalf("after 2^32 queries: Queries %d", st.Queries)
	}
}

// TestOutcomes checks that every error a query can end with is reported
// as itself by Result and Result6, and that an unlisted one is refused.
func TestOutcomes(t *testing.T) {
	r := &Resolver{}
	for _, e := range outcomes {
		r.errc, r.done, r.addr = outcome(e), true, ipv6.Addr{}
		if _, done, err := r.Result(); err != e || !done {
			t.Errorf("Result: %v, want %v", err, e)
		}
		if _, _, err := r.Result6(); err != e {
			t.Errorf("Result6: %v, want %v", err, e)
		}
	}
	defer func() {
		if recover() == nil {
			t.Fatal("an unlisted error: no panic")
		}
	}()
	outcome(errors.New("other"))
}

// sliceReader is a generator of a non-comparable type.
type sliceReader []byte

func (s sliceReader) Read(p []byte) (int, error) { return copy(p, s), nil }

// TestResolverRand: the resolver keeps no generator of its own when it is
// the udp.Stack's (the card passes one to both) or none is given; another
// one is kept and used (IDs from it); a non-comparable one is kept, not
// compared into a panic.
func TestResolverRand(t *testing.T) {
	g := strings.NewReader("\x12\x34\x00\x05")
	u := udp.NewStack(udp.Config{Rand: g})
	if r := NewResolver(u, ResolverConfig{Rand: g}); r.own != nil || r.rng() != g {
		t.Fatal("the udp stack's generator kept twice")
	}
	if r := NewResolver(u, ResolverConfig{}); r.own != nil || r.rng() != g {
		t.Fatal("no generator: the udp stack's not used")
	}
	own := sliceReader{0xab, 0xcd, 0, 7}
	r := NewResolver(u, ResolverConfig{Rand: own, Servers: []ipv4.Addr{{10, 0, 0, 1}}, Timeout: 1500 * time.Microsecond})
	if r.own == nil {
		t.Fatal("another generator not kept")
	}
	if err := r.Resolve("example.com", t0); err != nil {
		t.Fatal(err)
	}
	if r.q.id != 0xabcd {
		t.Fatalf("query ID %#x, want 0xabcd from the resolver's own generator", r.q.id)
	}
	// 1.5 ms rounds up to 2 ms.
	if next := r.Poll(t0); !next.Equal(t0.Add(2 * time.Millisecond)) {
		t.Fatalf("retransmission at %v, want %v", next.Sub(t0), 2*time.Millisecond)
	}
	if r := NewResolver(u, ResolverConfig{Timeout: time.Nanosecond}); r.timeout != 1 {
		t.Fatalf("1 ns timeout kept as %d ms, want 1", r.timeout)
	}
}

// TestResolverTimeoutHuge: a per-attempt timeout near the largest Duration
// is kept as the longest the Resolver holds (2^32-1 ms), not wrapped by the
// rounding up into a negative value and raised to 1 ms.
func TestResolverTimeoutHuge(t *testing.T) {
	u := udp.NewStack(udp.Config{})
	for _, d := range []time.Duration{math.MaxInt64, math.MaxInt64 - time.Millisecond + 2} {
		r := NewResolver(u, ResolverConfig{Timeout: d})
		if r.timeout != math.MaxUint32 {
			t.Errorf("%d ns kept as %d ms, want %d", int64(d), r.timeout, uint32(math.MaxUint32))
		}
	}
}
