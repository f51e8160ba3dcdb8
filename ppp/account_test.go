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

