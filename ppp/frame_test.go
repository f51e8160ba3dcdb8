package ppp

import (
	"bytes"
	"encoding/hex"
	"math/rand"
	"testing"
)

func unhex(s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}

func TestFCSVectors(t *testing.T) {
	// RFC 1662 C.2 table entries, and the standard check values of the
	// CRC-16/X-25 (= PPP FCS-16) and CRC-32 (= PPP FCS-32) for "123456789".
	if fcs16Tab[1] != 0x1189 || fcs16Tab[2] != 0x2312 || fcs16Tab[255] != 0x0f78 {
		t.Errorf("fcs16 table %04x %04x %04x", fcs16Tab[1], fcs16Tab[2], fcs16Tab[255])
	}
	if fcs32Tab[1] != 0x77073096 || fcs32Tab[255] != 0x2d02ef8d {
		t.Errorf("fcs32 table %08x %08x", fcs32Tab[1], fcs32Tab[255])
	}
	if v := ^FCS16(fcs16Init, []byte("123456789")); v != 0x906e {
		t.Errorf("FCS-16 check %04x", v)
	}
	if v := ^FCS32(fcs32Init, []byte("123456789")); v != 0xcbf43926 {
		t.Errorf("FCS-32 check %08x", v)
	}
	// The good residues: a frame followed by its complemented FCS, LSB first.
	b := []byte("123456789")
	v := ^FCS16(fcs16Init, b)
	if r := FCS16(fcs16Init, append(b, byte(v), byte(v>>8))); r != fcs16Good {
		t.Errorf("FCS-16 residue %04x", r)
	}
	w := ^FCS32(fcs32Init, b)
	if r := FCS32(fcs32Init, append(b[:9:9], byte(w), byte(w>>8), byte(w>>16), byte(w>>24))); r != fcs32Good {
		t.Errorf("FCS-32 residue %08x", r)
	}
}

// The expected encodings were computed with an independent bitwise CRC.
var frameVectors = []struct {
	name  string
	frame string
	accm  uint32
	wide  bool
	wire  string
}{
	{"LCP Term-Req default ACCM", "ff03c02101010004", 0xffffffff, false, "7eff7d23c0217d217d217d207d24d1b57e"},
	{"ACCM 0", "2145007e7d0011131f20", 0, false, "7e2145007d5e7d5d0011131f2092927e"},
	{"ACCM XON/XOFF", "2145007e7d0011131f20", 0x000a0000, false, "7e2145007d5e7d5d007d317d331f2092927e"},
	{"ACCM all", "2145007e7d0011131f20", 0xffffffff, false, "7e21457d207d5e7d5d7d207d317d337d3f2092927e"},
	{"FCS-32", "2145007e7d0011131f20", 0xffffffff, true, "7e21457d207d5e7d5d7d207d317d337d3f203cf07d2adc7e"},
}

func TestFrameVectors(t *testing.T) {
	for _, v := range frameVectors {
		fr := unhex(v.frame)
		for chunk := 1; chunk <= 40; chunk++ {
			f := framer{buf: make([]byte, 64), wide: v.wide}
			copy(f.buf[4:], fr)
			f.load(4, 4+len(fr), v.accm)
			var wire []byte
			p := make([]byte, chunk)
			for f.phase != txIdle {
				n := f.emit(p)
				wire = append(wire, p[:n]...)
			}
			if hex.EncodeToString(wire) != v.wire {
				t.Fatalf("%s chunk %d: % x, want %s", v.name, chunk, wire, v.wire)
			}
		}
		// And back, in pieces of every size, with line noise before.
		for chunk := 1; chunk <= 40; chunk++ {
			d := deframer{buf: make([]byte, 64), accm: v.accm, wide: v.wide}
			in := append([]byte("SLiRP Ready\r\n"), unhex(v.wire)...)
			var got []byte
			for len(in) > 0 {
				c := min(chunk, len(in))
				part := in[:c]
				in = in[c:]
				for len(part) > 0 {
					n, r := d.next(part)
					part = part[n:]
					if r == rxFrame {
						got = append([]byte(nil), d.frame()...)
					} else if r != rxMore {
						t.Fatalf("%s: result %d", v.name, r)
					}
				}
			}
			if !bytes.Equal(got, fr) {
				t.Fatalf("%s chunk %d: deframed % x", v.name, chunk, got)
			}
		}
	}
}

func TestFrameRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewSource(7))
	for i := 0; i < 500; i++ {
		accm := rng.Uint32()
		if i%3 == 0 {
			accm = 0
		}
		wide := i%5 == 0
		fr := make([]byte, 2+rng.Intn(300)) // shorter ones are runts
		rng.Read(fr)
		f := framer{buf: make([]byte, 320), wide: wide}
		copy(f.buf[4:], fr)
		f.load(4, 4+len(fr), accm)
		wire := make([]byte, 0, 700)
		p := make([]byte, 1+rng.Intn(50))
		for f.phase != txIdle {
			wire = append(wire, p[:f.emit(p)]...)
		}
		for _, c := range wire[1 : len(wire)-1] {
			if c == flagSeq || (c < 0x20 && accm&(1<<c) != 0) {
				t.Fatalf("unescaped %02x with ACCM %08x", c, accm)
			}
		}
		d := deframer{buf: make([]byte, 320), accm: accm, wide: wide}
		n, r := d.next(wire)
		if r != rxFrame || n != len(wire) || !bytes.Equal(d.frame(), fr) {
			t.Fatalf("round trip %d: r=%d n=%d/%d", i, r, n, len(wire))
		}
	}
}

func TestDeframeErrors(t *testing.T) {
	good := unhex("7eff7d23c0217d217d217d207d24d1b57e")
	cases := []struct {
		name string
		in   []byte
		want []rxResult
	}{
		{"good", good, []rxResult{rxFrame}},
		{"bad FCS", unhex("7eff7d23c0217d217d217d207d24d1b67e"), []rxResult{rxBadFCS}},
		{"runt", unhex("7e21d17e"), []rxResult{rxRunt}},
		{"abort", unhex("7eff03c0217d7e"), []rxResult{rxAbort}},
		{"abort then good", append(unhex("7eff03c0217d7e"), good[1:]...), []rxResult{rxAbort, rxFrame}},
		{"oversize", append(append([]byte{0x7e}, bytes.Repeat([]byte{0x41}, 100)...), 0x7e), []rxResult{rxOversize}},
		{"flags only", unhex("7e7e7e7e"), nil},
		{"garbage before first flag", append([]byte("CONNECT 115200\r\n\x7d\x03"), good...), []rxResult{rxFrame}},
		// A control character flagged in our ACCM but received unescaped was
		// inserted by the line (XON here) and is discarded.
		{"discard unescaped 0x11", nil, nil},
	}
	// Build the XON case properly: insert 0x11 in the middle of the good frame.
	xon := append(append(append([]byte{}, good[:5]...), 0x11), good[5:]...)
	cases[len(cases)-1].in, cases[len(cases)-1].want = xon, []rxResult{rxFrame}
	for _, c := range cases {
		d := deframer{buf: make([]byte, 64), accm: 0xffffffff}
		var got []rxResult
		in := c.in
		for len(in) > 0 {
			n, r := d.next(in)
			in = in[n:]
			if r != rxMore {
				got = append(got, r)
			}
		}
		if len(got) != len(c.want) {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
			continue
		}
		for i := range got {
			if got[i] != c.want[i] {
				t.Errorf("%s: %v, want %v", c.name, got, c.want)
			}
		}
	}
}

// TestCompression checks the address/control and protocol fields sent under
// ACFC and PFC, and that receive accepts both forms.
func TestCompression(t *testing.T) {
	l := New(Config{})
	cases := []struct {
		proto     uint16
		acfc, pfc bool
		want      string
	}{
		{ProtoIP, false, false, "ff030021"},
		{ProtoIP, true, false, "0021"},
		{ProtoIP, false, true, "ff0321"},
		{ProtoIP, true, true, "21"},
		{ProtoIPCP, true, true, "8021"}, // PFC applies only to protocols below 0x100
	}
	l.lendTx()
	for _, c := range cases {
		start := l.putHeader(hdrRoom, c.proto, c.acfc, c.pfc)
		if got := hex.EncodeToString(l.tx.buf[start:hdrRoom]); got != c.want {
			t.Errorf("%04x acfc=%v pfc=%v: %s, want %s", c.proto, c.acfc, c.pfc, got, c.want)
		}
	}
	// Receive: all four header forms of an IP packet are delivered.
	var got int
	l = New(Config{DeliverIP: func(p []byte) {
		if string(p) == "\x45ab" {
			got++
		}
	}})
	l.ipUp = true
	for _, hdr := range []string{"ff030021", "0021", "ff0321", "21"} {
		l.receive(append(unhex(hdr), "\x45ab"...), testNow)
	}
	if got != 4 {
		t.Errorf("delivered %d of 4", got)
	}
	l.receive(unhex("ff0121"), testNow) // bad control field
	l.receive(unhex("0020"), testNow)   // even protocol
	if s := l.Stats(); s.BadHeader != 2 {
		t.Errorf("bad headers %d", s.BadHeader)
	}
}

// TestFCS16Slicing: the slicing-by-8 FCS-16 equals the octet-at-a-time
// definition for every length up to 64 at every alignment and for random
// frames, from any starting value.
func TestFCS16Slicing(t *testing.T) {
	slow := func(fcs uint16, p []byte) uint16 {
		for _, c := range p {
			fcs = fcs>>8 ^ fcs16Tab[byte(fcs)^c]
		}
		return fcs
	}
	r := rand.New(rand.NewSource(16))
	b := make([]byte, 1600)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	for off := 0; off < 8; off++ {
		for n := 0; n <= 64; n++ {
			for _, init := range []uint16{fcs16Init, 0, 0x1234} {
				if got, want := FCS16(init, b[off:off+n]), slow(init, b[off:off+n]); got != want {
					t.Fatalf("off %d len %d init %04x: %04x, want %04x", off, n, init, got, want)
				}
			}
		}
	}
	for i := 0; i < 1000; i++ {
		n := r.Intn(len(b))
		init := uint16(r.Uint32())
		if got, want := FCS16(init, b[:n]), slow(init, b[:n]); got != want {
			t.Fatalf("len %d init %04x: %04x, want %04x", n, init, got, want)
		}
	}
}
