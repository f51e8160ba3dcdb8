package card

import (
	"testing"
	"unsafe"
)

// TestCardSize guards the Card's size class (384 bytes): it keeps only
// what it needs of its Config after New (cardParams; the TLS configuration
// only in its sessions), a slot's session and admission times in one
// slice, and the secure client's request is allocated per fetch.
func TestCardSize(t *testing.T) {
	if n := unsafe.Sizeof(Card{}); n > 384 {
		t.Fatalf("Card is %d bytes, past the 384-byte size class", n)
	}
}
