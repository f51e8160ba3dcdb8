package applet

import (
	"testing"
	"unsafe"
)

// TestHostSize guards the size classes of the application host (192 bytes:
// the store space of the application being called, made per call, and the
// built-ins' owner; the Ctx's connection information read from its Conn;
// the running fetch's owner is the slot flagged fetchRunning, the Ctx flags
// packed, the credential scratch on the callers' stacks) and of an application's slot (24 bytes, held by value in one
// list: five built-ins in the 128-byte size class; its flags packed, its timer and outbound
// request in a slotX of 16 bytes allocated at their first use, the application, the manifest (name and quota
// too: the store space is made per call) and the routes behind one pointer
// to a read-only Builtin, the timer in Unix ns, the request counter in 32
// bits).
func TestHostSize(t *testing.T) {
	if n := unsafe.Sizeof(Host{}); n > 192 {
		t.Errorf("Host takes %d bytes, past the 192-byte size class", n)
	}
	if n := unsafe.Sizeof(slot{}); n > 24 {
		t.Errorf("slot takes %d bytes, past 24", n)
	}
	if n := unsafe.Sizeof(slotX{}); n > 16 {
		t.Errorf("slotX takes %d bytes, past 16", n)
	}
}
