package ppp

import (
	"testing"
	"unsafe"
)

// TestAuthPendAccounted: the Authentication phase's state (authPend), lent
// while a link authenticates, is counted where the link's RAM is: Lent
// while it is held, and RAM and ControlBufs (the hard bound) for a link
// that may authenticate (it demands authentication, or has credentials
// to answer a peer that does). A link that can never authenticate is not
// charged for it. (Before: the 34-byte object lived outside every count.)
func TestAuthPendAccounted(t *testing.T) {
	sum := func(b []int) (n int) {
		for _, x := range b {
			n += x
		}
		return n
	}
	plain := New(Config{})
	base, baseBufs := plain.RAM(), sum(plain.ControlBufs())
	l := New(Config{RequireAuth: AuthCHAP, Secrets: secrets(nil)})
	if got := l.RAM(); got != base+authPendSize {
		t.Fatalf("RAM of an authenticating link %d, want %d", got, base+authPendSize)
	}
	if got := sum(l.ControlBufs()); got != baseBufs+authPendSize {
		t.Fatalf("ControlBufs of an authenticating link %d, want %d", got, baseBufs+authPendSize)
	}
	if c := New(Config{User: "u", Secret: "s"}); c.RAM() != base+authPendSize {
		t.Fatalf("a link with credentials: RAM %d, want %d", c.RAM(), base+authPendSize)
	}
	l.lo.auth = AuthCHAP
	l.lcp.state = Opened
	before := l.Lent()
	l.authStart(testNow)
	if l.aup == nil {
		t.Fatal("no state lent for the Authentication phase")
	}
	if got := l.Lent() - before; got < authPendSize {
		t.Fatalf("Lent grew by %d while authenticating, want ≥ %d (authPend)", got, authPendSize)
	}
	if authPendSize != int(unsafe.Sizeof(authPend{})) {
		t.Fatal("authPendSize")
	}
}

// TestOwnParams: what a link holds of its Config beside its struct is
// reported for the card's control bytes: its own linkExtras when it has
// credentials (a card demanding or answering authentication), and its own
// copy of the profile's constants when the process-wide table was full
// (a 17th distinct configuration); a link sharing both reports nothing.
func TestOwnParams(t *testing.T) {
	var saved [len(consts)]*linkConsts
	for i := range consts {
		saved[i] = consts[i].Swap(nil)
	}
	t.Cleanup(func() {
		for i := range consts {
			consts[i].Store(saved[i])
		}
	})
	if x, c := New(Config{MRU: 500}).OwnParams(); x != 0 || c != 0 {
		t.Fatalf("a shared link reports extras %d, constants %d", x, c)
	}
	if x, c := New(Config{MRU: 500, User: "u", Secret: "s"}).OwnParams(); x != int(unsafe.Sizeof(linkExtras{})) || c != 0 {
		t.Fatalf("a link with credentials reports extras %d, constants %d", x, c)
	}
	for i := range len(consts) {
		New(Config{MRU: 600 + i})
	}
	l := New(Config{MRU: 599}) // the 17th configuration: a private copy
	if x, c := l.OwnParams(); x != 0 || c != int(unsafe.Sizeof(linkConsts{})) || l.cfg.MRU != 599 {
		t.Fatalf("a link past the table reports extras %d, constants %d (MRU %d)", x, c, l.cfg.MRU)
	}
}
