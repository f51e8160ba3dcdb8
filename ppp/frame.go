package ppp

// HDLC-like framing for asynchronous lines (RFC 1662 section 4): frames are
// delimited by Flag Sequences (0x7e); a Control Escape (0x7d) makes the next
// octet be taken XOR 0x20; flags, escapes and the control characters flagged
// in the sender's Async-Control-Character-Map are always escaped.

const (
	flagSeq    = 0x7e
	ctrlEscape = 0x7d
	escXor     = 0x20

	hdrRoom = 4 // address, control and a two-octet protocol in front of the information field
	fcsRoom = 4 // room for the widest FCS
)

// rxResult says how a call to deframer.next ended.
type rxResult uint8

const (
	rxMore     rxResult = iota // all input consumed, no frame ended
	rxFrame                    // a good frame is in frame()
	rxBadFCS                   // a frame failed its FCS
	rxRunt                     // a frame was too short to hold a protocol and an FCS
	rxOversize                 // a frame was longer than the receive buffer
	rxAbort                    // a frame was aborted by 7d 7e
	rxNeedBuf                  // a frame's first octet arrived and buf is nil: lend one, call again
)

// deframer un-escapes received octets in place into one frame buffer and
// checks the FCS when a flag ends the frame.
type deframer struct {
	buf     []byte // nil while shed (Link.Shed): lent at a frame's first octet
	n       int32  // octets stored of the frame being received
	flen    int32  // length of the last good frame (without FCS)
	accm    uint32 // receive ACCM: flagged control characters received unescaped are discarded
	wide    bool   // FCS-32 instead of FCS-16
	inFrame bool   // a flag has been seen: octets belong to a frame
	esc     bool   // the previous octet was a Control Escape
	over    bool   // the current frame overflowed buf
}

// specialSet holds the octets that are not ordinary data under an ACCM: a
// flag, a Control Escape, or (receiving) a control character flagged in the
// ACCM, or (sending) one that must be escaped — only 0x7d, 0x7e and the
// control characters can be. A 256-bit set built on the stack per call:
// a lookup without branches (comparisons mispredict on random data, about
// one octet in eight being a control character) and no 256-byte tables
// per link.
type specialSet [4]uint64

func specials(accm uint32) specialSet {
	return specialSet{uint64(accm), 1<<(ctrlEscape-64) | 1<<(flagSeq-64), 0, 0}
}

func (s *specialSet) has(c byte) bool { return s[c>>6]>>(c&63)&1 != 0 }

func (d *deframer) reset() {
	d.n, d.esc, d.over = 0, false, false
}

// frame returns the last good frame (address/control and protocol fields,
// information, no FCS). It is valid until the next call to next.
func (d *deframer) frame() []byte { return d.buf[:d.flen] }

// next consumes octets of b until a frame ends (a flag after at least one
// octet) and returns how many it consumed and what ended. Octets before the
// first flag ever seen are not part of any frame and are skipped.
func (d *deframer) next(b []byte) (int, rxResult) {
	i := 0
	if !d.inFrame {
		for i < len(b) && b[i] != flagSeq {
			i++
		}
		if i == len(b) {
			return i, rxMore
		}
		i++
		d.inFrame = true
		d.reset()
	}
	buf, n, sp := d.buf, int(d.n), specials(d.accm)
	for i < len(b) {
		c := b[i]
		i++
		if sp.has(c) {
			if c == flagSeq {
				if d.esc {
					d.reset()
					return i, rxAbort
				}
				if n == 0 && !d.over {
					continue // inter-frame fill or the opening flag
				}
				r := d.end(n)
				d.reset()
				return i, r
			}
			if c == ctrlEscape {
				d.esc = true
				continue
			}
			continue // flagged in accm: inserted by the line (e.g. XON/XOFF): discard
		}
		if n >= len(buf) {
			if buf == nil {
				// No buffer lent (Link.Shed): the caller lends one and
				// calls again from this octet, which is not consumed.
				d.n = int32(n)
				return i - 1, rxNeedBuf
			}
			d.over = true
			d.esc = false
			continue
		}
		if d.esc {
			c ^= escXor
			d.esc = false
		}
		buf[n] = c
		n++
	}
	d.n = int32(n)
	return i, rxMore
}

// idle reports whether the receive buffer holds nothing a later call
// needs: no octet of a frame is stored (an escape seen is state, not data).
func (d *deframer) idle() bool { return d.n == 0 && !d.over }

// end classifies the n octets of a completed frame.
func (d *deframer) end(n int) rxResult {
	if d.over {
		return rxOversize
	}
	if d.wide {
		if n < 6 {
			return rxRunt
		}
		if FCS32(fcs32Init, d.buf[:n]) != fcs32Good {
			return rxBadFCS
		}
		d.flen = int32(n - 4)
		return rxFrame
	}
	if n < 4 {
		return rxRunt
	}
	if FCS16(fcs16Init, d.buf[:n]) != fcs16Good {
		return rxBadFCS
	}
	d.flen = int32(n - 2)
	return rxFrame
}

// framer holds one unescaped frame and streams it escaped, in as many
// pieces as the caller's buffers require.
type framer struct {
	buf    []byte // nil while shed (Link.Shed): lent when a frame is loaded
	pos    int32  // next octet of buf to send
	end    int32  // end of the frame (FCS included)
	accm   uint32 // ACCM for this frame
	wide   bool   // FCS-32
	phase  uint8  // txIdle, txOpen, txBody, txClose
	escPnd bool   // the escaped value of buf[pos-1] is still to be sent
}

const (
	txIdle = iota
	txOpen
	txBody
	txClose
)

// load appends the FCS to buf[start:end] and makes it the frame to send.
func (f *framer) load(start, end int, accm uint32) {
	if f.wide {
		v := ^FCS32(fcs32Init, f.buf[start:end])
		f.buf[end], f.buf[end+1], f.buf[end+2], f.buf[end+3] = byte(v), byte(v>>8), byte(v>>16), byte(v>>24)
		end += 4
	} else {
		v := ^FCS16(fcs16Init, f.buf[start:end])
		f.buf[end], f.buf[end+1] = byte(v), byte(v>>8)
		end += 2
	}
	f.pos, f.end, f.accm, f.phase, f.escPnd = int32(start), int32(end), accm, txOpen, false
}

// emit writes as much of the escaped frame into p as fits and returns the
// number of octets written. The frame is complete when phase is txIdle.
func (f *framer) emit(p []byte) int {
	n := 0
	for n < len(p) {
		switch f.phase {
		case txIdle:
			return n
		case txOpen:
			p[n] = flagSeq
			n++
			f.phase = txBody
		case txBody:
			if f.escPnd {
				p[n] = f.buf[f.pos-1] ^ escXor
				n++
				f.escPnd = false
				continue
			}
			buf, pos, end, sp := f.buf, int(f.pos), int(f.end), specials(f.accm)
			for pos < end && n < len(p) {
				c := buf[pos]
				pos++
				if sp.has(c) {
					p[n] = ctrlEscape
					n++
					if n == len(p) {
						f.escPnd = true
						break
					}
					c ^= escXor
				}
				p[n] = c
				n++
			}
			f.pos = int32(pos)
			if pos == end && !f.escPnd {
				f.phase = txClose
			}
		case txClose:
			p[n] = flagSeq
			n++
			f.phase = txIdle
		}
	}
	return n
}
