package card

import "testing"

// TestHandshakeBudgetPerProfile: the TLS handshake budget has one slot per large TCP receive
// buffer (Card: 1), none where every connection has a full-size buffer (Tiny, Host).
func TestHandshakeBudgetPerProfile(t *testing.T) {
	for _, tc := range []struct {
		p     Profile
		slots int
	}{{CardProfile, 1}, {TinyProfile, 0}, {HostProfile, 0}} {
		b := handshakeBudget(tc.p)
		switch {
		case tc.slots == 0 && b != nil:
			t.Fatalf("%s: a budget", tc.p.Name)
		case tc.slots > 0 && (b == nil || b.Slots() != tc.slots):
			t.Fatalf("%s: want %d slots", tc.p.Name, tc.slots)
		}
	}
}
