package applet

import (
	"testing"
	"unsafe"
)

// TestHostSize guards the size classes of the application host (160 bytes:
// the running fetch's owner is the slot flagged fetchRunning, the Ctx flags
// packed, the credential scratch on the callers' stacks) and of an application's slot (80 bytes, held by value in one
// list: its flags packed, the manifest's name and quota kept only in its
// store space, the rest of the manifest and the routes behind one pointer
// to a read-only Builtin, the timer in Unix ns, the request counter in 32
// bits).
func TestHostSize(t *testing.T) {
	if n := unsafe.Sizeof(Host{}); n > 160 {
		t.Errorf("Host takes %d bytes, past the 160-byte size class", n)
	}
	if n := unsafe.Sizeof(slot{}); n > 80 {
		t.Errorf("slot takes %d bytes, past 80", n)
	}
}
