package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
)

// Format constants.
const (
	// Version is the image format version this package reads and writes.
	Version = 1
	// DefaultSize is the default image size (64 KiB).
	DefaultSize = 64 << 10
	// MinSize and MaxSize bound the image size accepted by Create.
	MinSize = 2 << 10
	MaxSize = 16 << 20

	superLen    = 64
	slotHdrLen  = 24
	secSlotSize = 128
	secOff      = superLen
	dataOff     = secOff + 2*secSlotSize
)

var magic = [8]byte{'N', 'C', 'S', 'T', 'O', 'R', 'E', 0}
var slotMagic = [4]byte{'S', 'L', 'O', 'T'}
var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Errors returned by Open for images it cannot use. They are wrapped with
// details; test with errors.Is.
var (
	ErrNotImage  = errors.New("store: not a netcard store image")
	ErrVersion   = errors.New("store: unsupported image version")
	ErrTruncated = errors.New("store: image truncated")
	ErrCorrupt   = errors.New("store: image corrupt")
)

// geometry is the decoded superblock.
type geometry struct {
	size     uint32
	secOff   uint32
	secSlot  uint32
	dataOff  uint32
	dataSlot uint32
}

func newGeometry(size int) geometry {
	ds := (uint32(size) - dataOff) / 2 &^ 15
	return geometry{size: uint32(size), secOff: secOff, secSlot: secSlotSize, dataOff: dataOff, dataSlot: ds}
}

func (g geometry) encode() []byte {
	b := make([]byte, superLen)
	copy(b, magic[:])
	binary.BigEndian.PutUint16(b[8:], Version)
	binary.BigEndian.PutUint16(b[10:], superLen)
	binary.BigEndian.PutUint32(b[12:], g.size)
	binary.BigEndian.PutUint32(b[16:], g.secOff)
	binary.BigEndian.PutUint32(b[20:], g.secSlot)
	binary.BigEndian.PutUint32(b[24:], g.dataOff)
	binary.BigEndian.PutUint32(b[28:], g.dataSlot)
	binary.BigEndian.PutUint32(b[60:], crc32.Checksum(b[:60], castagnoli))
	return b
}

func decodeGeometry(b []byte, mediumSize int64) (geometry, error) {
	var g geometry
	if len(b) < superLen {
		return g, fmt.Errorf("%w: %d bytes, superblock needs %d", ErrTruncated, len(b), superLen)
	}
	if [8]byte(b[:8]) != magic {
		return g, fmt.Errorf("%w: bad magic %q", ErrNotImage, b[:8])
	}
	if v := binary.BigEndian.Uint16(b[8:]); v != Version {
		return g, fmt.Errorf("%w: %d (this build reads %d)", ErrVersion, v, Version)
	}
	if got, want := binary.BigEndian.Uint32(b[60:]), crc32.Checksum(b[:60], castagnoli); got != want {
		return g, fmt.Errorf("%w: superblock checksum %08x, want %08x", ErrCorrupt, got, want)
	}
	g.size = binary.BigEndian.Uint32(b[12:])
	g.secOff = binary.BigEndian.Uint32(b[16:])
	g.secSlot = binary.BigEndian.Uint32(b[20:])
	g.dataOff = binary.BigEndian.Uint32(b[24:])
	g.dataSlot = binary.BigEndian.Uint32(b[28:])
	if binary.BigEndian.Uint16(b[10:]) != superLen || g.size < MinSize || g.size > MaxSize ||
		g != newGeometry(int(g.size)) {
		return g, fmt.Errorf("%w: inconsistent geometry", ErrCorrupt)
	}
	if mediumSize < int64(g.size) {
		return g, fmt.Errorf("%w: medium holds %d bytes, image is %d", ErrTruncated, mediumSize, g.size)
	}
	return g, nil
}

// area is one shadow-slot pair on the medium.
type area struct {
	off, slot uint32 // first slot offset, slot size
	cur       int    // current slot index (0 or 1)
	seq       uint64 // sequence number of the current slot
}

func (a *area) capacity() int { return int(a.slot) - slotHdrLen }

// slotHeader validates a commit record and returns the sequence number,
// body length and body CRC.
func slotHeader(h []byte, capacity int) (seq uint64, n int, crc uint32, ok bool) {
	if [4]byte(h[:4]) != slotMagic ||
		binary.BigEndian.Uint32(h[20:]) != crc32.Checksum(h[:20], castagnoli) {
		return 0, 0, 0, false
	}
	seq = binary.BigEndian.Uint64(h[4:])
	n64 := binary.BigEndian.Uint32(h[12:])
	if n64 > uint32(capacity) || seq == 0 {
		return 0, 0, 0, false
	}
	return seq, int(n64), binary.BigEndian.Uint32(h[16:]), true
}

// load reads both slots of the area and returns the body of the newest valid
// one. name is used in errors.
func (a *area) load(m Medium, name string) ([]byte, error) {
	var bodies [2][]byte
	var seqs [2]uint64
	for i := 0; i < 2; i++ {
		buf := make([]byte, a.slot)
		if _, err := m.ReadAt(buf, int64(a.off)+int64(i)*int64(a.slot)); err != nil {
			return nil, fmt.Errorf("store: reading %s slot %d: %w", name, i, err)
		}
		seq, n, crc, ok := slotHeader(buf[:slotHdrLen], a.capacity())
		if !ok {
			continue
		}
		body := buf[slotHdrLen : slotHdrLen+n]
		if crc32.Checksum(body, castagnoli) != crc {
			continue
		}
		bodies[i], seqs[i] = body, seq
	}
	switch {
	case seqs[0] == 0 && seqs[1] == 0:
		return nil, fmt.Errorf("%w: no valid %s slot", ErrCorrupt, name)
	case seqs[0] == seqs[1]:
		return nil, fmt.Errorf("%w: %s slots share sequence number %d", ErrCorrupt, name, seqs[0])
	case seqs[0] > seqs[1]:
		a.cur, a.seq = 0, seqs[0]
	default:
		a.cur, a.seq = 1, seqs[1]
	}
	return bodies[a.cur], nil
}

// commit writes body as the next state of the area into the slot that is not
// current: body first, sync, then the commit record, sync. Only when the
// record is complete does the new state exist.
func (a *area) commit(m Medium, body []byte) error {
	if len(body) > a.capacity() {
		return fmt.Errorf("%w: %d bytes, area holds %d", ErrFull, len(body), a.capacity())
	}
	next := 1 - a.cur
	off := int64(a.off) + int64(next)*int64(a.slot)
	if _, err := m.WriteAt(body, off+slotHdrLen); err != nil {
		return err
	}
	if err := m.Sync(); err != nil {
		return err
	}
	var h [slotHdrLen]byte
	copy(h[:], slotMagic[:])
	binary.BigEndian.PutUint64(h[4:], a.seq+1)
	binary.BigEndian.PutUint32(h[12:], uint32(len(body)))
	binary.BigEndian.PutUint32(h[16:], crc32.Checksum(body, castagnoli))
	binary.BigEndian.PutUint32(h[20:], crc32.Checksum(h[:20], castagnoli))
	if _, err := m.WriteAt(h[:], off); err != nil {
		return err
	}
	if err := m.Sync(); err != nil {
		return err
	}
	a.cur, a.seq = next, a.seq+1
	return nil
}
