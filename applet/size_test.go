package applet

import (
	"testing"
	"unsafe"
)

// TestHostSize guards the size classes of the application host (160 bytes:
// the running fetch's owner is the slot flagged fetchRunning, the Ctx flags
// packed, the credential scratch on the callers' stacks) and of an application's slot (128 bytes: its flags packed, the
// manifest's name and quota kept only in its store space, its RAM and
// request counter in 32 bits, its policy in 8).
func TestHostSize(t *testing.T) {
	if n := unsafe.Sizeof(Host{}); n > 160 {
		t.Errorf("Host takes %d bytes, past the 160-byte size class", n)
	}
	if n := unsafe.Sizeof(slot{}); n > 128 {
		t.Errorf("slot takes %d bytes, past the 128-byte size class", n)
	}
}
