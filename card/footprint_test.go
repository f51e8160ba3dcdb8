package card

import (
	"testing"
	"unsafe"
)

// TestCardSize guards the Card's size class (416 bytes): it keeps only
// what it needs of its Config after New (cardParams), and the secure
// client's request is allocated per fetch.
func TestCardSize(t *testing.T) {
	if n := unsafe.Sizeof(Card{}); n > 416 {
		t.Fatalf("Card is %d bytes, past the 416-byte size class", n)
	}
}
