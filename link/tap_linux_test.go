package link

import (
	"bytes"
	"encoding/binary"
	"testing"

	"netcard/host/peers"
)

// TestTAPFrameStream: the kernel behind a TAP device in a fresh namespace
// answers an ARP request written as frame-stream bytes split at awkward
// places (the prefix across two writes, a bogus zero-length frame first);
// its reply is read back as one prefixed frame.
func TestTAPFrameStream(t *testing.T) {
	peers.Require(t, "ip", "/dev/net/tun")
	ns := peers.TestNetns(t)
	tap, err := OpenTAP("nctapl0", ns.Name)
	if err != nil {
		t.Fatal(err)
	}
	defer tap.Close()
	for _, a := range [][]string{{"addr", "add", "10.9.0.1/24", "dev", "nctapl0"}, {"link", "set", "nctapl0", "up"}} {
		if _, err := ns.Run("ip", a...); err != nil {
			t.Fatal(err)
		}
	}
	mine := []byte{2, 0, 0, 0, 0, 9}
	req := make([]byte, 42)
	copy(req, []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
	copy(req[6:], mine)
	req[12], req[13] = 0x08, 0x06
	copy(req[14:], []byte{0, 1, 8, 0, 6, 4, 0, 1})
	copy(req[22:], mine)
	copy(req[28:], []byte{10, 9, 0, 2})
	copy(req[38:], []byte{10, 9, 0, 1})
	stream := []byte{0, 0} // an empty frame: skipped
	stream = binary.BigEndian.AppendUint16(stream, uint16(len(req)))
	stream = append(stream, req...)
	for _, part := range [][]byte{stream[:3], stream[3:10], stream[10:]} {
		if n, err := tap.Write(part); err != nil || n != len(part) {
			t.Fatalf("write: %d %v", n, err)
		}
	}
	buf := make([]byte, 2048)
	for i := 0; i < 20; i++ { // skip the kernel's own traffic (IPv6 router solicitations...)
		n, err := tap.Read(buf)
		if err != nil {
			t.Fatal(err)
		}
		l := int(binary.BigEndian.Uint16(buf))
		if l != n-2 {
			t.Fatalf("read %d bytes, prefix says %d", n, l)
		}
		f := buf[2:n]
		if len(f) >= 42 && f[12] == 0x08 && f[13] == 0x06 && f[21] == 2 {
			if !bytes.Equal(f[:6], mine) || !bytes.Equal(f[38:42], []byte{10, 9, 0, 2}) {
				t.Fatalf("ARP reply %x", f)
			}
			return
		}
	}
	t.Fatal("no ARP reply from the kernel")
}
