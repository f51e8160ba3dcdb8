package http

import "math"

// ChunkedDecoder decodes the chunked transfer coding (RFC 9112 §7.1)
// incrementally and in place, with a few words of state: feed it the bytes
// as they arrive; the chunk data is moved to the front of each buffer given.
// Chunk extensions are skipped (bounded) and trailer fields are validated
// and discarded (bounded by MaxTrailer). Chunk framing lines must end in
// CRLF: a bare LF is rejected, as Go's net/http does, so that parsers in
// front of the card cannot frame the body differently.
type ChunkedDecoder struct {
	Max        int64 // maximum decoded body size (0: unlimited)
	MaxTrailer int   // maximum trailer section bytes (0: 1024)

	state   uint8
	digits  uint8
	colon   bool   // the current trailer line has its name and colon
	named   bool   // the current trailer line has a name character
	ext     int32  // bytes of chunk extension on this line (at most maxChunkExt+1)
	trailer int32  // bytes of trailer section (saturating at 2^31-1)
	size    uint64 // chunk size being read / data left in the current chunk
	total   int64  // decoded bytes so far
	errBad  *Error
	errBig  *Error
}

const (
	csSize = iota
	csSizeWS
	csExt
	csSizeLF
	csData
	csDataCR
	csDataLF
	csLineStart // start of a trailer line or the final CRLF
	csTrailer
	csTrailerLF
	csEndLF
	csDone
)

const maxChunkExt = 256

// Reset prepares d for a new body, keeping the limits.
func (d *ChunkedDecoder) Reset() {
	*d = ChunkedDecoder{Max: d.Max, MaxTrailer: d.MaxTrailer, errBad: d.errBad, errBig: d.errBig}
}

// Done reports whether the last chunk and trailer section have been read.
func (d *ChunkedDecoder) Done() bool { return d.state == csDone }

// Total is the number of decoded body bytes so far.
func (d *ChunkedDecoder) Total() int64 { return d.total }

// Decode consumes encoded bytes from b and moves the decoded data to
// b[:data]. consumed is len(b) unless the body ended (done), in which case
// b[consumed:] is what follows the body. Errors are *Error (400, or 413 when
// Max is exceeded); after an error the decoder must be Reset.
func (d *ChunkedDecoder) Decode(b []byte) (data, consumed int, done bool, err error) {
	return d.scan(b, scanWrite)
}

// Next decodes encoded bytes from b up to the end of the first run of chunk
// data and returns that run (aliasing b: nothing is moved or written), the
// bytes consumed and whether the body ended. Call it again with
// b[consumed:] while bytes remain; a run may be empty. It is how a body is
// streamed from where it lies (e.g. the TLS plaintext) to its consumer.
// Errors are as for Decode.
func (d *ChunkedDecoder) Next(b []byte) (data []byte, consumed int, done bool, err error) {
	start, end, done, err := d.scan(b, scanRun)
	if err != nil {
		return nil, end, false, err
	}
	return b[start:end:end], end, done, nil
}

// scan modes.
const (
	scanCheck = iota // validate only
	scanWrite        // move the data to the front of b
	scanRun          // stop after the first run of data; out is its start
)

func (d *ChunkedDecoder) bad() *Error {
	if d.errBad != nil {
		return d.errBad
	}
	return ErrBadChunk
}

func unhex(c byte) (uint64, bool) {
	switch {
	case '0' <= c && c <= '9':
		return uint64(c - '0'), true
	case 'a' <= c && c <= 'f':
		return uint64(c-'a') + 10, true
	case 'A' <= c && c <= 'F':
		return uint64(c-'A') + 10, true
	}
	return 0, false
}

// scan runs the state machine over b; in scanWrite mode it moves data bytes
// to the front of b; in scanRun mode it returns after the first run of data,
// with out its start and i its end (out == i when no data was met).
func (d *ChunkedDecoder) scan(b []byte, mode int) (out, i int, done bool, err error) {
	maxTrailer := d.MaxTrailer
	if maxTrailer <= 0 {
		maxTrailer = 1024
	}
	for i < len(b) {
		c := b[i]
		switch d.state {
		case csSize:
			if v, ok := unhex(c); ok {
				if d.digits >= 15 {
					return out, i, false, d.bad()
				}
				d.size = d.size<<4 | v
				d.digits++
				i++
				continue
			}
			if d.digits == 0 {
				return out, i, false, d.bad()
			}
			switch c {
			case ';':
				d.state, d.ext = csExt, 0
			case ' ', '\t':
				d.state, d.ext = csSizeWS, 0
			case '\r':
				d.state = csSizeLF
			default:
				return out, i, false, d.bad()
			}
			i++
		case csSizeWS: // BWS before ";"
			switch c {
			case ';':
				d.state = csExt
			case ' ', '\t':
				d.ext++
				if d.ext > maxChunkExt {
					return out, i, false, d.bad()
				}
			default:
				return out, i, false, d.bad()
			}
			i++
		case csExt:
			switch {
			case c == '\r':
				d.state = csSizeLF
			case c < 0x20 && c != '\t' || c == 0x7f:
				return out, i, false, d.bad()
			default:
				d.ext++
				if d.ext > maxChunkExt {
					return out, i, false, d.bad()
				}
			}
			i++
		case csSizeLF:
			if c != '\n' {
				return out, i, false, d.bad()
			}
			if err := d.endSizeLine(); err != nil {
				return out, i, false, err
			}
			i++
		case csData:
			k := len(b) - i
			if uint64(k) > d.size {
				k = int(d.size)
			}
			if mode == scanWrite {
				copy(b[out:], b[i:i+k])
			}
			d.size -= uint64(k)
			if d.size == 0 {
				d.state = csDataCR
			}
			if mode == scanRun && k > 0 {
				return i, i + k, false, nil
			}
			out += k
			i += k
		case csDataCR:
			if c != '\r' {
				return out, i, false, d.bad()
			}
			d.state = csDataLF
			i++
		case csDataLF:
			if c != '\n' {
				return out, i, false, d.bad()
			}
			d.state, d.size, d.digits = csSize, 0, 0
			i++
		case csLineStart:
			switch c {
			case '\r':
				d.state = csEndLF
			case '\n', ' ', '\t':
				return out, i, false, d.bad() // obs-fold in trailer
			default:
				d.state, d.colon, d.named = csTrailer, false, false
				continue
			}
			i++
		case csTrailer, csTrailerLF:
			d.trailer = min(d.trailer, math.MaxInt32-1) + 1
			if int(d.trailer) > maxTrailer {
				return out, i, false, d.bad()
			}
			switch {
			case d.state == csTrailerLF:
				if c != '\n' {
					return out, i, false, d.bad()
				}
				d.state = csLineStart
			case c == '\r':
				if !d.colon {
					return out, i, false, d.bad()
				}
				d.state = csTrailerLF
			case c == '\n':
				return out, i, false, d.bad()
			case !d.colon:
				// field-name ":" — the name is a token.
				if c == ':' && d.named {
					d.colon = true
				} else if !tchar[c] {
					return out, i, false, d.bad()
				}
				d.named = true
			case c < 0x20 && c != '\t' || c == 0x7f:
				return out, i, false, d.bad()
			}
			i++
		case csEndLF:
			if c != '\n' {
				return out, i, false, d.bad()
			}
			d.state = csDone
			if mode == scanRun {
				out = i + 1
			}
			return out, i + 1, true, nil
		case csDone:
			if mode == scanRun {
				out = i
			}
			return out, i, true, nil
		}
	}
	if mode == scanRun {
		out = i
	}
	return out, i, d.state == csDone, nil
}

// endSizeLine finishes a chunk-size line: last chunk or data follows.
func (d *ChunkedDecoder) endSizeLine() error {
	if d.size == 0 {
		d.state = csLineStart
		return nil
	}
	if d.Max > 0 && (d.size > uint64(d.Max) || d.total+int64(d.size) > d.Max) {
		if d.errBig != nil {
			return d.errBig
		}
		return ErrBodyTooLarge
	}
	d.total += int64(d.size)
	d.state = csData
	return nil
}
