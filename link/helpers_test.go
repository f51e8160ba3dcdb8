package link

import (
	"encoding/binary"
	"io"
	"math/rand/v2"
	"testing"
	"time"
)

// fcs16 is the RFC 1662 FCS-16 (reflected CRC-CCITT, init 0xFFFF),
// computed bit by bit: tests only.
func fcs16(b []byte) uint16 {
	crc := uint16(0xFFFF)
	for _, c := range b {
		crc ^= uint16(c)
		for range 8 {
			if crc&1 != 0 {
				crc = crc>>1 ^ 0x8408
			} else {
				crc >>= 1
			}
		}
	}
	return ^crc
}

// hdlcFrame appends frame (address/control onward, no FCS) to dst as an
// async HDLC frame: opening flag, escaped body and FCS-16, closing flag,
// with all control characters escaped (ACCM 0xFFFFFFFF).
func hdlcFrame(dst, frame []byte) []byte {
	f := fcs16(frame)
	body := append(append([]byte(nil), frame...), byte(f), byte(f>>8))
	dst = append(dst, Flag)
	for _, c := range body {
		if c == Flag || c == 0x7D || c < 0x20 {
			dst = append(dst, 0x7D, c^0x20)
		} else {
			dst = append(dst, c)
		}
	}
	return append(dst, Flag)
}

// randomStream returns n HDLC frames with random payloads of 1..maxLen
// bytes, each framed with its own opening and closing flag.
func randomStream(seed uint64, n, maxLen int) []byte {
	r := rand.New(rand.NewPCG(seed, 7))
	var out []byte
	buf := make([]byte, maxLen+4)
	for range n {
		l := 1 + r.IntN(maxLen)
		p := buf[:4+l]
		p[0], p[1], p[2], p[3] = 0xFF, 0x03, 0x00, 0x21
		for i := 4; i < len(p); i++ {
			p[i] = byte(r.Uint32())
		}
		out = hdlcFrame(out, p)
	}
	return out
}

// checksum is the Internet checksum (RFC 1071).
func checksum(b []byte) uint16 {
	var s uint32
	for i := 0; i+1 < len(b); i += 2 {
		s += uint32(binary.BigEndian.Uint16(b[i:]))
	}
	if len(b)%2 == 1 {
		s += uint32(b[len(b)-1]) << 8
	}
	for s > 0xFFFF {
		s = s>>16 + s&0xFFFF
	}
	return ^uint16(s)
}

// readFull reads exactly len(b) bytes or fails the test after timeout.
func readFull(t *testing.T, r io.Reader, b []byte, timeout time.Duration) {
	t.Helper()
	done := make(chan error, 1)
	go func() {
		_, err := io.ReadFull(r, b)
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("read: %v", err)
		}
	case <-time.After(timeout):
		t.Fatalf("read: timed out after %v", timeout)
	}
}
