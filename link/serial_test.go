package link

import (
	"bytes"
	"runtime"
	"testing"
	"time"
)

// TestSerialOnPTY drives the serial driver on the slave side of a pty (a
// tty like any UART, minus the wire): 8N1 settings apply and binary bytes
// pass both ways.
func TestSerialOnPTY(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("pty ports are linux-only")
	}
	m, path, err := OpenPTY()
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	s, err := OpenSerial(path, 115200)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	go s.Write(binaryBytes)
	got := make([]byte, len(binaryBytes))
	readFull(t, m, got, 5*time.Second)
	if !bytes.Equal(got, binaryBytes) {
		t.Fatalf("serial→pty changed bytes:\n% x", got)
	}
	go m.Write(binaryBytes)
	readFull(t, s, got, 5*time.Second)
	if !bytes.Equal(got, binaryBytes) {
		t.Fatalf("pty→serial changed bytes:\n% x", got)
	}
	p, info, err := ParseSpec("serial:" + path + "@9600")
	if err != nil {
		t.Fatal(err)
	}
	p.Close()
	if info != path+" 9600 8N1" {
		t.Errorf("info %q", info)
	}
	if _, err := OpenSerial(path, 0); err == nil {
		t.Error("baud 0 accepted")
	}
}
