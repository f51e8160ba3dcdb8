package apps

import (
	"testing"
	"unsafe"
)

// TestAppSize guards the App's size class (160 bytes): it keeps of its
// Config only what it uses after New (appParams, 64 bytes: not Rand, which
// went to the application host, nor Builtins and Apps, which went to its
// registry), the admin's fetch state only once it has fetched, its
// failure counter in 32 bits beside the fetch state.
func TestAppSize(t *testing.T) {
	if n := unsafe.Sizeof(App{}); n > 160 {
		t.Errorf("App takes %d bytes, past the 160-byte size class", n)
	}
	if n := unsafe.Sizeof(appParams{}); n > 64 {
		t.Errorf("appParams takes %d bytes, past 64", n)
	}
}
