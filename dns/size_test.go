package dns

import (
	"errors"
	"math"
	"reflect"
	"testing"
	"unsafe"

	"netcard/ipv6"
	"netcard/udp"
)

// TestResolverSize holds the resident Resolver to the 96-byte allocator
// class (128 before the counters went to 32 bits and the outcome to a
// byte).
func TestResolverSize(t *testing.T) {
	if n := unsafe.Sizeof(Resolver{}); n > 96 {
		t.Errorf("Resolver is %d bytes, want ≤ 96", n)
	}
}

// TestStatsWiden checks that every counter of ResolverStats is kept and
// widened, and that one wraps modulo 2^32.
func TestStatsWiden(t *testing.T) {
	wide, narrow := reflect.TypeOf(ResolverStats{}), reflect.TypeOf(stats32{})
	if wide.NumField() != narrow.NumField() {
		t.Fatalf("ResolverStats has %d counters, the Resolver keeps %d", wide.NumField(), narrow.NumField())
	}
	var c stats32
	v := reflect.ValueOf(&c).Elem()
	for i := 0; i < v.NumField(); i++ {
		if wide.Field(i).Name != narrow.Field(i).Name {
			t.Fatalf("counter %d: %s kept as %s", i, wide.Field(i).Name, narrow.Field(i).Name)
		}
		v.Field(i).SetUint(uint64(1000 + i))
	}
	got := reflect.ValueOf(c.export())
	for i := 0; i < got.NumField(); i++ {
		if got.Field(i).Uint() != uint64(1000+i) {
			t.Errorf("%s = %d, want %d", wide.Field(i).Name, got.Field(i).Uint(), 1000+i)
		}
	}
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
