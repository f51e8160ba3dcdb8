package ipv4

import (
	"math/rand"
	"testing"
)

// refChecksum is the plain RFC 1071 algorithm, word by word.
func refChecksum(b []byte, initial uint32) uint16 {
	s := uint64(initial)
	for i := 0; i+1 < len(b); i += 2 {
		s += uint64(b[i])<<8 | uint64(b[i+1])
	}
	if len(b)%2 == 1 {
		s += uint64(b[len(b)-1]) << 8
	}
	for s>>16 != 0 {
		s = s>>16 + s&0xffff
	}
	return ^uint16(s)
}

func TestChecksumRFC1071Example(t *testing.T) {
	// RFC 1071 §3: the words 0001 f203 f4f5 f6f7 sum to ddf2.
	b := []byte{0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7}
	if got := Fold(Sum(b, 0)); got != 0xddf2 {
		t.Fatalf("sum = %#04x, want 0xddf2", got)
	}
	if got := Checksum(b, 0); got != ^uint16(0xddf2) {
		t.Fatalf("checksum = %#04x", got)
	}
}

func TestChecksumKnownIPv4Header(t *testing.T) {
	// A well-known header (Wikipedia "IPv4 header checksum"): checksum b861.
	h := []byte{0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11,
		0x00, 0x00, 0xc0, 0xa8, 0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7}
	if got := Checksum(h, 0); got != 0xb861 {
		t.Fatalf("checksum = %#04x, want 0xb861", got)
	}
	h[10], h[11] = 0xb8, 0x61
	if got := Checksum(h, 0); got != 0 {
		t.Fatalf("verify = %#04x, want 0", got)
	}
}

func TestChecksumMatchesReference(t *testing.T) {
	r := rand.New(rand.NewSource(1))
	buf := make([]byte, 2000)
	for i := 0; i < 3000; i++ {
		n := r.Intn(len(buf))
		b := buf[:n]
		r.Read(b)
		if i%7 == 0 { // stress the carries
			for j := range b {
				b[j] = 0xff
			}
		}
		init := r.Uint32()
		if i%5 == 0 {
			init = 0xffffffff
		}
		if got, want := Checksum(b, init), refChecksum(b, init); got != want {
			t.Fatalf("len %d init %#x: got %#04x want %#04x", n, init, got, want)
		}
		// Chaining even-length pieces gives the same result.
		k := r.Intn(n+1) &^ 1
		if got, want := Checksum(b[k:], Sum(b[:k], init)), refChecksum(b, init); got != want {
			t.Fatalf("chained len %d split %d: got %#04x want %#04x", n, k, got, want)
		}
	}
}

func TestPseudoHeaderSum(t *testing.T) {
	src := Addr{192, 168, 0, 1}
	dst := Addr{10, 1, 2, 3}
	ph := []byte{192, 168, 0, 1, 10, 1, 2, 3, 0, 17, 0x12, 0x34}
	if got, want := Fold(PseudoHeaderSum(src, dst, 17, 0x1234)), ^refChecksum(ph, 0); got != want {
		t.Fatalf("pseudo-header sum %#04x want %#04x", got, want)
	}
}

func BenchmarkChecksum1500(b *testing.B) {
	buf := make([]byte, 1500)
	for i := range buf {
		buf[i] = byte(i * 7)
	}
	b.SetBytes(int64(len(buf)))
	b.ReportAllocs()
	var s uint16
	for i := 0; i < b.N; i++ {
		s += Checksum(buf, 0)
	}
	_ = s
}
