package tcp

import (
	"math"
	"math/rand"
	"netcard/internal/count/counttest"
	"reflect"
	"testing"
	"time"
	"unsafe"
)

// TestControlBlockSize keeps the control blocks within their Go size
// classes: a Conn in 320 bytes (352 before its buffers were held by their
// first byte, Conn.rcvBuf and sndBuf; 384 before its RTT estimators went to 32-bit
// microseconds, its creation order and challenge-ACK second to 32 bits and
// its small counters to 16; 472 before the buffers were lent on demand:
// issue 14) and the Stack in 320 (its large-buffer pool allocated only
// with Config.LargeRecvBufs; 352 before, its profile's constants shared,
// stackConsts; 448 before, its counters in 32 bits,
// stats32; 576 before, with the allocator's 8-byte header of an object
// with pointers over 512 bytes; 1,072 before the RST queue and the
// SYN-cookie ring were allocated while used, see shed.go; 640 before it
// kept its Config compact, stackParams). The buffers are not part of
// either. A Listener fits 16 bytes (its backlog the connections that
// point to it, counted in 16 bits; 48 and a queue slice before).
func TestControlBlockSize(t *testing.T) {
	c, s := unsafe.Sizeof(Conn{}), unsafe.Sizeof(Stack{})
	t.Logf("Conn control block: %d bytes; Stack: %d bytes (plus buffers, allocated while used)", c, s)
	if c > 320 || s > 320 {
		t.Fatalf("Conn %d bytes (at most 320), Stack %d bytes (at most 320)", c, s)
	}
	if n := unsafe.Sizeof(Listener{}); n > 16 {
		t.Fatalf("Listener %d bytes (at most 16)", n)
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
	counttest.CheckWiden(t, (*stats32).export, 0)
	var c stats32
	c.SegsIn = math.MaxUint32
	c.SegsIn++
	if c.export().SegsIn != 0 {
		t.Fatal("no wrap")
	}
}

// TestConstsShared: stacks configured alike share one read-only copy of
// the profile's constants; a stack configured otherwise gets its own and
// keeps its values; the card's own values (Full, Rand) stay per stack.
// Once the table is full, a new configuration gets a private copy that
// still round-trips through Config. NewStack from many goroutines at once
// publishes one copy per configuration (go test -race).
func TestConstsShared(t *testing.T) {
	// Start from an empty table (other tests filled some of it); the
	// stacks they made keep their own pointers.
	var saved [len(consts)]*stackConsts
	for i := range consts {
		saved[i] = consts[i].Swap(nil)
	}
	t.Cleanup(func() {
		for i := range consts {
			consts[i].Store(saved[i])
		}
	})
	cfg := func(mss int) Config {
		return Config{Rand: rand.New(rand.NewSource(int64(mss))), MSS: mss, MinRTO: 700 * time.Millisecond, NoDelay: true}
	}
	a, b := NewStack(cfg(1001)), NewStack(cfg(1001))
	if a.cfg.stackConsts != b.cfg.stackConsts {
		t.Fatal("two stacks configured alike do not share their constants")
	}
	if a.cfg.Rand == b.cfg.Rand {
		t.Fatal("Rand shared")
	}
	c := NewStack(cfg(1002))
	if c.cfg.stackConsts == a.cfg.stackConsts || c.cfg.MSS != 1002 || a.cfg.MSS != 1001 {
		t.Fatalf("another configuration: shared %v, MSS %d and %d", c.cfg.stackConsts == a.cfg.stackConsts, c.cfg.MSS, a.cfg.MSS)
	}
	// Fill the table, then more.
	var stacks []*Stack
	for i := range 2 * len(consts) {
		stacks = append(stacks, NewStack(cfg(2000+i)))
	}
	for i, s := range stacks {
		if got := s.Config(); got.MSS != 2000+i || got.MinRTO != 700*time.Millisecond || !got.NoDelay {
			t.Fatalf("stack %d: %+v", i, got)
		}
	}
	for i := range consts {
		if consts[i].Load() == nil {
			t.Fatalf("table slot %d empty after %d configurations", i, len(stacks))
		}
	}
	if p := stacks[len(stacks)-1].cfg.stackConsts; p == NewStack(cfg(2000+len(stacks)-1)).cfg.stackConsts {
		t.Fatal("a configuration past the table's size shared")
	}
	// Concurrent construction: every stack of a configuration gets the
	// same pointer, whichever published it.
	done := make(chan *Stack)
	for range 8 {
		go func() { done <- NewStack(cfg(1001)) }()
	}
	for range 8 {
		if s := <-done; s.cfg.stackConsts != a.cfg.stackConsts {
			t.Fatal("a concurrent stack got its own copy of a shared configuration")
		}
	}
}

// TestPoolOnlyWithLargeBufs: a stack without large receive buffers (Tiny)
// has no pool (8 bytes of pointer, not 32 of pool) and its Shed, Lent and
// ControlBytes work without one; a stack with them counts the pool's
// header in ControlBytes.
func TestPoolOnlyWithLargeBufs(t *testing.T) {
	s := NewStack(Config{Rand: rand.New(rand.NewSource(1)), MaxConns: 1, RecvBuf: 1024})
	if s.largePool != nil || s.larges() != nil {
		t.Fatal("a pool without large buffers")
	}
	if s.Shed() != 0 || s.Lent() != 0 {
		t.Fatal("an empty stack sheds or lends")
	}
	base := s.ControlBytes()
	p := NewStack(Config{Rand: rand.New(rand.NewSource(1)), MaxConns: 2, RecvBuf: 8192, SmallRecvBuf: 1024, LargeRecvBufs: 1})
	if p.largePool == nil || len(p.larges()) != 1 || p.nfree != 1 {
		t.Fatal("no pool with one large buffer")
	}
	want := base + int(unsafe.Sizeof(Conn{})) + int(unsafe.Sizeof(largeBuf{})) + int(unsafe.Sizeof(largePool{}))
	if got := p.ControlBytes(); got != want {
		t.Fatalf("ControlBytes %d, want %d", got, want)
	}
}

// TestControlBytesPrivateConsts: a stack whose configuration came past the
// process-wide table (the 17th distinct one) holds its own copy of the
// constants, which ControlBytes counts; a stack sharing an entry does not.
// (Before: the private 128 bytes were in no count, so a card of such a
// configuration reported less RAM than it held.)
func TestControlBytesPrivateConsts(t *testing.T) {
	var saved [len(consts)]*stackConsts
	for i := range consts {
		saved[i] = consts[i].Swap(nil)
	}
	t.Cleanup(func() {
		for i := range consts {
			consts[i].Store(saved[i])
		}
	})
	cfg := func(mss int) Config {
		return Config{Rand: rand.New(rand.NewSource(int64(mss))), MSS: mss}
	}
	shared := NewStack(cfg(1100))
	base := shared.ControlBytes()
	for i := range len(consts) - 1 {
		NewStack(cfg(1101 + i))
	}
	private := NewStack(cfg(1200))
	if got, want := private.ControlBytes(), base+int(unsafe.Sizeof(stackConsts{})); got != want {
		t.Fatalf("a stack with its own constants: ControlBytes %d, want %d", got, want)
	}
	if got := NewStack(cfg(1100)).ControlBytes(); got != base {
		t.Fatalf("a stack sharing its constants: ControlBytes %d, want %d", got, base)
	}
}
