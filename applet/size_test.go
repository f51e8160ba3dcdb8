package applet

import (
	"testing"
	"unsafe"
)

// TestHostSize guards the size classes of the application host (160 bytes:
// the running fetch's owner is the slot flagged fetchRunning, the Ctx flags
// packed, the credential scratch on the callers' stacks) and of an application's slot (144 bytes: its flags packed, the
// manifest's name and quota kept only in its store space).
func TestHostSize(t *testing.T) {
	if n := unsafe.Sizeof(Host{}); n > 160 {
		t.Errorf("Host takes %d bytes, past the 160-byte size class", n)
	}
	if n := unsafe.Sizeof(slot{}); n > 144 {
		t.Errorf("slot takes %d bytes, past the 144-byte size class", n)
	}
}
