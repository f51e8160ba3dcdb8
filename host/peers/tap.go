package peers

import (
	"io"
	"sync"
)

// Deframer splits an RFC 1662 async HDLC byte stream into frames: it drops
// bytes outside 0x7E-delimited frames' content rules only as far as needed to
// find the flags, removes control escapes, and checks FCS-16. It is a test
// observer of real sessions, independent of the ppp package.
type Deframer struct {
	buf []byte
	esc bool
	// Frame is called for every frame of at least 4 bytes: the unescaped
	// bytes without flags, including the 2 FCS bytes; ok reports a good
	// FCS-16. frame aliases an internal buffer.
	Frame func(frame []byte, ok bool)
}

// Write feeds stream bytes; it never fails.
func (d *Deframer) Write(p []byte) (int, error) {
	for _, c := range p {
		switch {
		case c == 0x7e:
			if len(d.buf) >= 4 && d.Frame != nil && !d.esc {
				d.Frame(d.buf, FCS16(d.buf) == 0xf0b8)
			}
			d.buf, d.esc = d.buf[:0], false
		case c == 0x7d:
			d.esc = true
		default:
			if d.esc {
				c ^= 0x20
				d.esc = false
			}
			if len(d.buf) < 1<<16 {
				d.buf = append(d.buf, c)
			}
		}
	}
	return len(p), nil
}

// FCS16 is the RFC 1662 16-bit frame check sequence over b (0xf0b8 when b
// includes a correct FCS).
func FCS16(b []byte) uint16 {
	fcs := uint16(0xffff)
	for _, c := range b {
		fcs ^= uint16(c)
		for i := 0; i < 8; i++ {
			if fcs&1 != 0 {
				fcs = fcs>>1 ^ 0x8408
			} else {
				fcs >>= 1
			}
		}
	}
	return fcs
}

// Relay copies bytes both ways between a and b until either side fails or
// closes, passing a copy of each direction through aToB and bToA (which may
// be nil). It returns when both directions have stopped; when one
// direction ends it closes both a and b.
func Relay(a, b io.ReadWriteCloser, aToB, bToA io.Writer) {
	var wg sync.WaitGroup
	cp := func(dst, src io.ReadWriteCloser, tap io.Writer) {
		defer wg.Done()
		buf := make([]byte, 4096)
		for {
			n, err := src.Read(buf)
			if n > 0 {
				if tap != nil {
					tap.Write(buf[:n])
				}
				if _, werr := dst.Write(buf[:n]); werr != nil {
					a.Close()
					b.Close()
					return
				}
			}
			if err != nil {
				a.Close()
				b.Close()
				return
			}
		}
	}
	wg.Add(2)
	go cp(b, a, aToB)
	go cp(a, b, bToA)
	wg.Wait()
}

// EncodeFrame appends frame (from the address field on, without FCS) to dst
// as an async HDLC frame: opening flag, FCS-16, all control characters
// escaped, closing flag. For hand-made probes in tests.
func EncodeFrame(dst, frame []byte) []byte {
	fcs := ^FCS16(frame)
	dst = append(dst, 0x7e)
	for _, c := range append(frame[:len(frame):len(frame)], byte(fcs), byte(fcs>>8)) {
		if c < 0x20 || c == 0x7e || c == 0x7d {
			dst = append(dst, 0x7d, c^0x20)
		} else {
			dst = append(dst, c)
		}
	}
	return append(dst, 0x7e)
}
