package card

import (
	"testing"
	"unsafe"
)

// TestCardSize guards the Card's size class (288 bytes): it keeps only
// what it needs of its Config after New (cardParams: a few values of the
// profile, not a copy of it; the TLS configuration
// only in its sessions), a slot's session and admission times in one
// slice, and the secure client's request is allocated per fetch.
func TestCardSize(t *testing.T) {
	if n := unsafe.Sizeof(Card{}); n > 288 {
		t.Fatalf("Card is %d bytes, past the 288-byte size class", n)
	}
}
