package card

import (
	"testing"
	"unsafe"
)

// TestCardSize guards the Card's size class (256 bytes): it keeps only
// what it needs of its Config after New (cardParams: a few values of the
// profile, not a copy of it; the TLS configuration
// only in its sessions), a slot's session and admission times in one
// slice, the time of the call in progress in Unix ns, and the secure
// client's request is allocated per fetch.
func TestCardSize(t *testing.T) {
	if n := unsafe.Sizeof(Card{}); n > 256 {
		t.Fatalf("Card is %d bytes, past the 256-byte size class", n)
	}
}
