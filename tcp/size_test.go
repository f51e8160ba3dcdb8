package tcp

import (
	"math"
	"math/rand"
	"reflect"
	"testing"
	"time"
	"unsafe"
)

// TestControlBlockSize keeps the control blocks within their Go size
// classes: a Conn in 384 bytes (472 before the buffers were lent on
// demand: issue 14) and the Stack in 448 (its counters in 32 bits,
// stats32; 576 before, with the allocator's 8-byte header of an object
// with pointers over 512 bytes; 1,072 before the RST queue and the
// SYN-cookie ring were allocated while used, see shed.go; 640 before it
// kept its Config compact, stackParams). The buffers are not part of
// either. A Listener fits 48 bytes (its flag after the port).
func TestControlBlockSize(t *testing.T) {
	c, s := unsafe.Sizeof(Conn{}), unsafe.Sizeof(Stack{})
	t.Logf("Conn control block: %d bytes; Stack: %d bytes (plus buffers, allocated while used)", c, s)
	if c > 384 || s > 448 {
		t.Fatalf("Conn %d bytes (at most 384), Stack %d bytes (at most 448)", c, s)
	}
	if n := unsafe.Sizeof(Listener{}); n > 48 {
		t.Fatalf("Listener %d bytes (at most 48)", n)
	}
}

// TestConfigRoundTrip: Config returns what the stack was given, defaults
// filled in, though the stack keeps it compact; counts past 32 bits come
// back clamped to MaxInt32.
func TestConfigRoundTrip(t *testing.T) {
	full := func(time.Time) bool { return false }
	in := Config{MaxConns: 3, Full: full, RecvBuf: 9000, SmallRecvBuf: 2000, LargeRecvBufs: 1, SendBuf: 3000,
		MSS: 1200, Rand: rand.New(rand.NewSource(1)), InitialRTO: 2 * time.Second, MinRTO: 300 * time.Millisecond,
		MaxRTO: 30 * time.Second, DelayedACK: 50 * time.Millisecond, TimeWait: 5 * time.Second,
		UserTimeout: 40 * time.Second, SynRetries: 6, KeepAlive: time.Minute, KeepAliveInterval: 10 * time.Second,
		KeepAliveCount: 3, NoDelay: true, ChallengeACKLimit: 7, DropCookieAckWhenFull: true, CookieQueue: 12}
	out := NewStack(in).Config()
	if out.Full == nil || out.Rand != in.Rand {
		t.Fatal("Full or Rand lost")
	}
	out.Full, in.Full = nil, nil
	if !reflect.DeepEqual(out, in) {
		t.Fatalf("Config() = %+v, want %+v", out, in)
	}
	big := Config{Rand: rand.New(rand.NewSource(1)), SynRetries: math.MaxInt32 + 1, KeepAliveCount: math.MaxInt64,
		ChallengeACKLimit: math.MaxInt32 + 5}
	if c := NewStack(big).Config(); c.SynRetries != math.MaxInt32 || c.KeepAliveCount != math.MaxInt32 ||
		c.ChallengeACKLimit != math.MaxInt32 {
		t.Fatalf("clamped counts: %d %d %d", c.SynRetries, c.KeepAliveCount, c.ChallengeACKLimit)
	}
}

// TestStatsWiden: the Stack keeps every Stats counter, by name, in 32 bits
// and Stats widens each one (a counter added to Stats alone fails here);
// a counter at 2^32-1 wraps to 0, as documented.
func TestStatsWiden(t *testing.T) {
	wide, narrow := reflect.TypeOf(Stats{}), reflect.TypeOf(stats32{})
	if wide.NumField() != narrow.NumField() {
		t.Fatalf("Stats has %d counters, the Stack keeps %d", wide.NumField(), narrow.NumField())
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
	c.SegsIn = math.MaxUint32
	c.SegsIn++
	if c.export().SegsIn != 0 {
		t.Fatal("no wrap")
	}
}
