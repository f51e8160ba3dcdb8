package tcp

import (
	"testing"
	"unsafe"
)

func TestControlBlockSize(t *testing.T) {
	t.Logf("Conn control block: %d bytes; Stack: %d bytes (plus buffers)", unsafe.Sizeof(Conn{}), unsafe.Sizeof(Stack{}))
}
