package tls

import (
	"encoding/binary"
	"errors"
	"reflect"
	"unsafe"

	"golang.org/x/crypto/chacha20"
	//lint:ignore SA1019 the building block is what streaming needs: the AEAD opens a record only whole (RFC 8439 §2.8 construction, verified against chacha20poly1305 in the tests)
	"golang.org/x/crypto/poly1305"
)

// Streaming open of records larger than the receive buffer (ChaCha20-Poly1305 only).
//
// A protected record whose header announces more than the caller's small receive buffer holds
// (SetSpill) is not waited for whole: Unwrap consumes its ciphertext as it arrives, writes it to
// the spill (the card's non-volatile scratch) and into a Poly1305 MAC keyed, as the AEAD does,
// with ChaCha20 block 0 under the record nonce (RFC 8439 §2.6, §2.8: the MAC input is
// pad16(AAD) || pad16(C) || le64(len AAD) || le64(len C); the AAD is the 5-byte record header in
// TLS 1.3, RFC 8446 §5.2, and seq || type || version || length in TLS 1.2, RFC 7905 / RFC 5246
// §6.2.3.3). Once the last byte and the tag are in, the tag is verified in constant time: a bad
// tag is bad_record_mac and not one byte of the record is decrypted or released. A good tag
// lets the engine decrypt from the spill (ChaCha20 from block 1, chacha20.Cipher.SetCounter), in
// chunks, into a small buffer: first the tail to find the TLS 1.3 content type (RFC 8446 §5.4:
// the last non-zero byte), then the content, handed to the application (StreamedPlain) or to
// the handshake layer. Only ciphertext is ever written to the spill; the keys stay in RAM.
//
// AES-GCM records are always opened whole: crypto/cipher opens a record only in one piece.

// Spill is where the ciphertext of a record too large for the receive buffer waits for its tag:
// byte-addressed scratch of SpillSize bytes.
// What it holds is read back only while the record that wrote it is being released.
type Spill interface {
	ReadAt(p []byte, off int64) (int, error)
	WriteAt(p []byte, off int64) (int, error)
}

// RingSpill is a Spill that places each record anew: NextRecord is called as a record starts
// streaming, once the previous record's plaintext was all taken (its bytes are no longer read),
// and offsets of the new record count from 0 again. The card's spill (store.Scratch) is a ring
// over a region several records long, so that records spread their writes over all of its NVM
// blocks instead of rewriting the same ones (wear; card.Profile.SpillRing).
type RingSpill interface {
	Spill
	NextRecord()
}

// SpillSize is the spill a connection needs: the largest ciphertext without its tag whose
// record header the engine accepts. TLS 1.3: a TLSInnerPlaintext of 2^14+1 bytes (RFC 8446
// §5.2); TLS 1.2: the header check leaves AES-GCM's 8-byte explicit nonce of room, so a
// ChaCha20-Poly1305 record may announce 2^14+8 bytes, refused with record_overflow once its
// tag verified (as a record opened whole is).
const SpillSize = maxPlaintext + explicitNonce

// MemSpill is an in-memory Spill for tests and simulations (a card spills to its store).
type MemSpill []byte

// NewMemSpill returns a spill that holds any record.
func NewMemSpill() MemSpill { return make(MemSpill, SpillSize) }

var errSpillRange = errors.New("tls: spill access out of range")

// ReadAt implements Spill.
func (m MemSpill) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 || off+int64(len(p)) > int64(len(m)) {
		return 0, errSpillRange
	}
	return copy(p, m[off:]), nil
}

// WriteAt implements Spill.
func (m MemSpill) WriteAt(p []byte, off int64) (int, error) {
	if off < 0 || off+int64(len(p)) > int64(len(m)) {
		return 0, errSpillRange
	}
	return copy(m[off:], p), nil
}

// StreamChunk is the plaintext released at a time from a streamed record (a multiple of the
// 64-byte ChaCha20 block, so that every chunk starts on a block).
const StreamChunk = 512

// streamState is what a record being streamed needs: lent to the engine by the first streamed
// record and dropped by Shed once no record is in progress and its plaintext was all taken.
type streamState struct {
	mac   *poly1305.MAC // allocated once with the state; reset per record (resetMAC)
	key   [32]byte      // the read key of the record (KeyUpdate may change e.rd before release ends)
	nonce [12]byte
	tag   [tagLen]byte
	hdr   [13]byte // the additional data: TLS 1.3 header (5 bytes) or TLS 1.2 AAD (13)
	aadN  uint8
	typ   byte  // TLS 1.2: the header's type; TLS 1.3: the inner type once verified
	on    bool  // absorbing a record
	clen  int32 // ciphertext length, tag excluded
	got   int32 // body bytes (ciphertext and tag) absorbed
	wb    int32 // while absorbing: ciphertext bytes gathered in chunk, not yet written to the spill
	// plaintext released to the application: [off, end) of the spill is still to be decrypted;
	// the current chunk is chunk[at:n]
	off, end int32
	at, n    int32
	chunk    [StreamChunk]byte
}

// streamStateSize is what the lent streaming state costs: the state (640-byte size class), the
// Poly1305 state (96) and its 8-byte wrapper (TestStreamStateSize).
const streamStateSize = 640 + 96 + 8

// StreamStateSize is the RAM an engine borrows while it streams records (Footprint counts it;
// Shed gives it back).
const StreamStateSize = streamStateSize

// SetSpill lets the engine stream protected ChaCha20-Poly1305 records whose header and
// ciphertext (5+length) exceed above bytes (the caller's receive buffer, or less) through sp
// instead of waiting for them whole (see the package comment on streaming above). Call it
// before the first Unwrap; nil turns streaming off.
func (e *Engine) SetSpill(sp Spill, above int) {
	e.spill = nil
	if sp != nil {
		e.spill = &SpillConfig{Spill: sp, Above: above}
	}
}

// SpillConfig is a Spill and the size (header and ciphertext) above which records are streamed
// through it, as SetSpill takes them.
type SpillConfig struct {
	Spill Spill
	Above int
}

// SetSpillConfig is SetSpill with both kept in c, which the engine refers to rather than copies
// (one per connection slot serves each engine of the slot in turn, with no allocation); c must
// not change while the engine is in use. nil, or a nil Spill, turns streaming off.
func (e *Engine) SetSpillConfig(c *SpillConfig) { e.spill = c }

// streams reports whether a protected record of n body bytes is streamed.
func (e *Engine) streams(n int) bool {
	return e.spill != nil && e.spill.Spill != nil && e.suite != nil && e.suite.chacha && e.hs == hsDone &&
		recordHeaderLen+n > max(e.spill.Above, recordHeaderLen+tagLen+1) && n > tagLen
}

// StreamedPlain returns the verified plaintext of a streamed application data record that the
// application has not taken yet (TakeStreamed), decrypting the next chunk from the spill when the
// current one is used up; nil when there is none. Unwrap processes no further record until it is
// all taken. The slice is valid until the next call of the engine.
func (e *Engine) StreamedPlain() []byte {
	st := e.sp
	if st == nil || st.on || e.state == Failed {
		return nil // (while a record is absorbed, chunk gathers its ciphertext)
	}
	if st.at < st.n {
		return st.chunk[st.at:st.n]
	}
	if st.off >= st.end {
		return nil
	}
	k := min(StreamChunk, int(st.end-st.off))
	if !e.decryptSpill(st.chunk[:k], int(st.off)) {
		e.fail(AlertInternalError)
		return nil
	}
	st.off += int32(k)
	st.at, st.n = 0, int32(k)
	return st.chunk[:k]
}

// TakeStreamed marks the first n bytes StreamedPlain returned as taken.
func (e *Engine) TakeStreamed(n int) {
	st := e.sp
	if st == nil || n <= 0 {
		return
	}
	st.at = min(st.at+int32(n), st.n)
	if st.at == st.n && st.off >= st.end {
		st.at, st.n, st.off, st.end = 0, 0, 0, 0
		clear(st.chunk[:])
	}
}

// StreamedPending returns the bytes of a streamed record received but not yet taken by the
// application: the body absorbed so far of a record in progress, or the plaintext still waiting.
func (e *Engine) StreamedPending() int {
	st := e.sp
	if st == nil {
		return 0
	}
	if st.on {
		return int(st.got)
	}
	return int(st.end-st.off) + int(st.n-st.at)
}

// StreamedReady returns the verified plaintext of a streamed record still waiting for the
// application (0 while a record is being absorbed: its bytes are not data yet, as those of a
// record still arriving whole in the receive buffer are not).
func (e *Engine) StreamedReady() int {
	st := e.sp
	if st == nil || st.on {
		return 0
	}
	return int(st.end-st.off) + int(st.n-st.at)
}

// startStream begins streaming the protected record whose header is in[:5] (n body bytes).
func (e *Engine) startStream(in []byte, n int) (int, []byte, error) {
	if e.sp == nil {
		e.sp = &streamState{mac: poly1305.New(new([32]byte))}
	}
	st := e.sp
	s := e.suite
	if r, ok := e.spill.Spill.(RingSpill); ok {
		r.NextRecord()
	}
	e.rd.keyTo(&e.ks, s, &st.key)
	st.nonce = e.rd.nonce
	st.clen, st.got, st.wb, st.on, st.typ = int32(n-tagLen), 0, 0, true, in[0]
	if e.v12 {
		st.aadN = uint8(copy(st.hdr[:], e.rd.setAAD12(in[0], n-tagLen)))
	} else {
		st.aadN = uint8(copy(st.hdr[:], in[:recordHeaderLen]))
	}
	// the one-time Poly1305 key: ChaCha20 block 0 under the record nonce (RFC 8439 §2.6)
	var pk [32]byte
	c, err := chacha20.NewUnauthenticatedCipher(st.key[:], st.nonce[:])
	if err != nil {
		return 0, nil, e.fail(AlertInternalError)
	}
	c.XORKeyStream(pk[:], pk[:])
	resetMAC(st.mac, &pk)
	clear(pk[:])
	st.mac.Write(st.hdr[:st.aadN])
	st.mac.Write(zeros16[:pad16(int(st.aadN))])
	e.rd.next() // the record's sequence number is used, whatever its fate
	k, _, err := e.absorb(in[recordHeaderLen:])
	if err != nil {
		return 0, nil, err
	}
	return recordHeaderLen + k, nil, nil
}

var zeros16 [16]byte

func pad16(n int) int { return (16 - n%16) % 16 }

// absorb takes the next bytes of the record being streamed from in.
func (e *Engine) absorb(in []byte) (int, []byte, error) {
	st := e.sp
	total := int(st.clen) + tagLen
	k := min(len(in), total-int(st.got))
	p := in[:k]
	if c := min(k, max(int(st.clen)-int(st.got), 0)); c > 0 {
		st.mac.Write(p[:c])
		// The ciphertext is gathered in chunk (unused while a record is absorbed) and written in
		// whole StreamChunk blocks, the last excepted: the spill is EEPROM, programmed a page at a
		// time, and a peer cutting the record into 1-byte segments must not make each byte a
		// write of its own (a page program per few line bytes).
		for q := p[:c]; len(q) > 0; {
			m := copy(st.chunk[st.wb:], q)
			q = q[m:]
			st.wb += int32(m)
			st.got += int32(m)
			if int(st.wb) == len(st.chunk) || st.got == st.clen {
				w, err := e.spill.Spill.WriteAt(st.chunk[:st.wb], int64(st.got-st.wb))
				if err != nil || w != int(st.wb) {
					st.on, st.wb = false, 0
					return 0, nil, e.fail(AlertInternalError)
				}
				st.wb = 0
			}
		}
		p = p[c:]
	}
	if len(p) > 0 {
		copy(st.tag[int(st.got)-int(st.clen):], p)
		st.got += int32(len(p))
	}
	if int(st.got) < total {
		return k, nil, nil
	}
	st.on = false
	return k, nil, e.finishStream()
}

// finishStream verifies the tag of the record just absorbed and dispatches its content.
func (e *Engine) finishStream() error {
	st := e.sp
	var lens [16]byte
	binary.LittleEndian.PutUint64(lens[:8], uint64(st.aadN))
	binary.LittleEndian.PutUint64(lens[8:], uint64(st.clen))
	st.mac.Write(zeros16[:pad16(int(st.clen))])
	st.mac.Write(lens[:])
	if !st.mac.Verify(st.tag[:]) { // constant time (subtle.ConstantTimeCompare)
		return e.fail(AlertBadRecordMAC)
	}
	n := int(st.clen) // TLS 1.2: the content; TLS 1.3: the TLSInnerPlaintext
	if e.v12 && (n > e.inLimit12() || (e.mfl > 0 && n > int(e.mfl))) {
		return e.fail(AlertRecordOverflow) // as unwrap12
	}
	if !e.v12 {
		// RFC 8446 §5.4: the content type is the last non-zero byte; all zeros is
		// unexpected_message. Decrypt the tail backwards, chunk by chunk.
		i := -1
		for end := n; end > 0 && i < 0; {
			from := (max(end-StreamChunk, 0) + 63) &^ 63
			b := st.chunk[:end-from]
			if !e.decryptSpill(b, from) {
				return e.fail(AlertInternalError)
			}
			for j := len(b) - 1; j >= 0; j-- {
				if b[j] != 0 {
					i = from + j
					st.typ = b[j]
					break
				}
			}
			end = from
		}
		clear(st.chunk[:])
		if i < 0 {
			return e.fail(AlertUnexpectedMessage)
		}
		if n > int(e.inLimit) {
			return e.fail(AlertRecordOverflow)
		}
		n = i
	}
	switch st.typ {
	case recordAppData:
		if !e.v12 && e.interleaved() {
			return e.fail(AlertUnexpectedMessage) // §5.1
		}
		if err := e.progress(n > 0); err != nil {
			return err
		}
		st.off, st.end, st.at, st.n = 0, int32(n), 0, 0
		return nil
	case recordHandshake:
		if n == 0 {
			return e.fail(AlertUnexpectedMessage)
		}
		// the content goes to the handshake layer chunk by chunk; plainLeft tells it that the
		// record goes on (a KeyUpdate must end its record, §5.1)
		for off := 0; off < n; {
			k := min(StreamChunk, n-off)
			if !e.decryptSpill(st.chunk[:k], off) {
				return e.fail(AlertInternalError)
			}
			off += k
			e.plainLeft = int32(n - off)
			err := e.handleHandshake(st.chunk[:k])
			e.plainLeft = 0
			if err != nil {
				clear(st.chunk[:])
				return err
			}
		}
		clear(st.chunk[:])
		return nil
	case recordAlert:
		if n != 2 {
			return e.fail(AlertDecodeError) // an alert is two bytes (handleAlert)
		}
		if !e.decryptSpill(st.chunk[:2], 0) {
			return e.fail(AlertInternalError)
		}
		return e.handleAlert(st.chunk[:2])
	}
	return e.fail(AlertUnexpectedMessage)
}

// decryptSpill reads len(dst) ciphertext bytes at off (a multiple of 64) from the spill and
// decrypts them into dst: ChaCha20 from block 1 + off/64 (block 0 keyed the MAC).
func (e *Engine) decryptSpill(dst []byte, off int) bool {
	st := e.sp
	if r, err := e.spill.Spill.ReadAt(dst, int64(off)); err != nil || r != len(dst) {
		return false
	}
	c, err := chacha20.NewUnauthenticatedCipher(st.key[:], st.nonce[:])
	if err != nil {
		return false
	}
	c.SetCounter(uint32(1 + off/64))
	c.XORKeyStream(dst, dst)
	return true
}

// shedStream drops the streaming state when no record is in progress and nothing waits to be
// taken, and returns the bytes released.
func (e *Engine) shedStream() int {
	if e.sp == nil || e.sp.on || e.StreamedPending() > 0 {
		return 0
	}
	clear(e.sp.key[:])
	e.sp = nil
	return streamStateSize
}

// resetMAC starts m afresh under key without allocating: x/crypto's poly1305.MAC keeps its
// state behind a pointer and has no Reset, so a fresh state made on the stack (poly1305.New
// inlines and does not escape) is copied over the one m points to. The state holds no pointers
// (checked once, macPlain); should that ever change, m gets a new state (an allocation).
func resetMAC(m *poly1305.MAC, key *[32]byte) {
	f := poly1305.New(key)
	if macPlain > 0 {
		dst := *(*unsafe.Pointer)(unsafe.Pointer(m))
		src := *(*unsafe.Pointer)(unsafe.Pointer(f))
		copy(unsafe.Slice((*byte)(dst), macPlain), unsafe.Slice((*byte)(src), macPlain))
		return
	}
	*m = *poly1305.New(key)
}

// macPlain is the size of the state a poly1305.MAC points to when that state holds no pointer
// and the MAC is just that pointer; 0 otherwise.
var macPlain = func() int {
	t := reflect.TypeOf(poly1305.MAC{})
	if t.NumField() != 1 || t.Size() != unsafe.Sizeof(uintptr(0)) || t.Field(0).Type.Kind() != reflect.Pointer {
		return 0
	}
	in := t.Field(0).Type.Elem()
	if hasPointers(in) {
		return 0
	}
	return int(in.Size())
}()

func hasPointers(t reflect.Type) bool {
	switch t.Kind() {
	case reflect.Struct:
		for i := 0; i < t.NumField(); i++ {
			if hasPointers(t.Field(i).Type) {
				return true
			}
		}
		return false
	case reflect.Array:
		return hasPointers(t.Elem())
	case reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return false
	}
	return true
}
