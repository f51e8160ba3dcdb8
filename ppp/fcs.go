package ppp

// Frame Check Sequences of RFC 1662 (section C.2 and C.3): the 16-bit FCS
// (CRC-CCITT, reflected polynomial 0x8408, the default) and the 32-bit FCS
// (reflected polynomial 0xEDB88320). Both start from all ones, are sent
// complemented, least significant octet first, and a frame received intact
// (FCS included) leaves the good residue.

const (
	fcs16Init = 0xffff // initial FCS-16 value
	fcs16Good = 0xf0b8 // FCS-16 residue of an intact frame
	fcs32Init = 0xffffffff
	fcs32Good = 0xdebb20e3
)

var (
	fcs16Tab = makeFCS16Table()
	fcs16Sl8 = makeFCS16Slices(&fcs16Tab)
	fcs32Tab = makeFCS32Table()
)

// makeFCS16Slices returns the tables of the slicing-by-8 FCS-16: row k
// is the FCS contribution of an octet followed by k zero octets. 4 KiB,
// read-only and shared by every link in the process (a card would keep it
// in ROM with the code).
func makeFCS16Slices(t0 *[256]uint16) (t [8][256]uint16) {
	t[0] = *t0
	for k := 1; k < 8; k++ {
		for b := 0; b < 256; b++ {
			v := t[k-1][b]
			t[k][b] = v>>8 ^ t0[byte(v)]
		}
	}
	return t
}

func makeFCS16Table() (t [256]uint16) {
	for b := 0; b < 256; b++ {
		v := uint16(b)
		for i := 0; i < 8; i++ {
			if v&1 != 0 {
				v = v>>1 ^ 0x8408
			} else {
				v >>= 1
			}
		}
		t[b] = v
	}
	return t
}

func makeFCS32Table() (t [256]uint32) {
	for b := 0; b < 256; b++ {
		v := uint32(b)
		for i := 0; i < 8; i++ {
			if v&1 != 0 {
				v = v>>1 ^ 0xedb88320
			} else {
				v >>= 1
			}
		}
		t[b] = v
	}
	return t
}

// FCS16 updates the running 16-bit FCS fcs over p (RFC 1662 C.2). Start with
// 0xffff; the value to send is the complement of the result, low octet first.
// Run over a received frame including its FCS, an intact frame gives 0xf0b8.
func FCS16(fcs uint16, p []byte) uint16 {
	t := &fcs16Sl8
	for len(p) >= 8 { // eight octets per step (slicing-by-8)
		fcs ^= uint16(p[0]) | uint16(p[1])<<8
		fcs = t[7][byte(fcs)] ^ t[6][fcs>>8] ^ t[5][p[2]] ^ t[4][p[3]] ^
			t[3][p[4]] ^ t[2][p[5]] ^ t[1][p[6]] ^ t[0][p[7]]
		p = p[8:]
	}
	for _, c := range p {
		fcs = fcs>>8 ^ fcs16Tab[byte(fcs)^c]
	}
	return fcs
}

// FCS32 updates the running 32-bit FCS fcs over p (RFC 1662 C.3). Start with
// 0xffffffff; the value to send is the complement of the result, low octet
// first. Run over a received frame including its FCS, an intact frame gives
// 0xdebb20e3.
func FCS32(fcs uint32, p []byte) uint32 {
	for _, c := range p {
		fcs = fcs>>8 ^ fcs32Tab[byte(fcs)^c]
	}
	return fcs
}
