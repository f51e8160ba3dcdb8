package sim

import (
	"testing"
	"unsafe"

	"netcard/card"
	"netcard/ipv6"
)

// TestIPv6RAM measures what IPv6 costs each profile: the static heap of a
// card (card.New) and the heap with one established TLS session
// (MeasureRAM), without and with Profile.IPv6, beside the budget's
// accounting (Profile.Budget: the link buffers raised to 1280 bytes for
// Tiny, the IPv6 layer's buffers). The IPv6 layer's structs (ipv6.Host,
// SLAAC, the PPP link's IPV6CP state) are the rest.
func TestIPv6RAM(t *testing.T) {
	st, err := NewStore(1, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []card.Profile{card.TinyProfile, card.CardProfile} {
		p6 := p.WithIPv6()
		// Warm up first: the first cards on a store pay one-time costs
		// (the store's parsed certificate and clock, lazily built tables)
		// that would otherwise land in whichever measurement runs first.
		for _, q := range []card.Profile{p, p6} {
			if _, err := MeasureRAMStatic(q, 1, st); err != nil {
				t.Fatal(err)
			}
			if _, err := MeasureRAM(q, 1, st); err != nil {
				t.Fatal(err)
			}
		}
		s4, err := MeasureRAMStatic(p, 4, st)
		if err != nil {
			t.Fatal(err)
		}
		s6, err := MeasureRAMStatic(p6, 4, st)
		if err != nil {
			t.Fatal(err)
		}
		r4, err := MeasureRAM(p, 2, st)
		if err != nil {
			t.Fatal(err)
		}
		r6, err := MeasureRAM(p6, 2, st)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%-10s budget %6d → %6d B (+%d); static heap %6d → %6d B (+%d); with a TLS session %6d → %6d B (+%d)",
			p.Name, p.Budget(), p6.Budget(), p6.Budget()-p.Budget(), s4, s6, s6-s4, r4, r6, r6-r4)
		// The measured cost is at most the budgeted buffers plus the
		// structs (and allocator rounding): no table grows at run time.
		// Buffers are lent on first use (Shed), so a static card may hold
		// less than its budget: there is no lower bound.
		// Measured after the merge with Ethernet, admission and VJ work:
		// 2.9 KB (Card) and 3.6 KB (Tiny) beyond the budget, above the
		// structs: buffers sized from the raised link MTU elsewhere, not yet
		// attributed (issue 14's RAM work). The bound keeps it from growing.
		structs := int64(unsafe.Sizeof(ipv6.Host{}) + unsafe.Sizeof(ipv6.SLAAC{}) + 512)
		if d := s6 - s4 - int64(p6.Budget()-p.Budget()); d > structs+2560 {
			t.Errorf("%s: IPv6 costs %d B beyond its budget (structs %d)", p.Name, d, structs)
		}
	}
}
