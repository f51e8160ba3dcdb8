package tcp

import (
	"testing"
	"unsafe"
)

// TestControlBlockSize keeps the control blocks within their Go size
// classes: a Conn in 384 bytes (472 before the buffers were lent on
// demand: issue 14) and the Stack in 640 (1,072 before: the RST queue and
// the SYN-cookie ring are allocated while used, see shed.go). The buffers
// are not part of either. A Listener fits 48 bytes (its flag after the
// port).
func TestControlBlockSize(t *testing.T) {
	c, s := unsafe.Sizeof(Conn{}), unsafe.Sizeof(Stack{})
	t.Logf("Conn control block: %d bytes; Stack: %d bytes (plus buffers, allocated while used)", c, s)
	if c > 384 || s > 640 {
		t.Fatalf("Conn %d bytes (at most 384), Stack %d bytes (at most 640)", c, s)
	}
	if n := unsafe.Sizeof(Listener{}); n > 48 {
		t.Fatalf("Listener %d bytes (at most 48)", n)
	}
}
