package store

import (
	"errors"
	"fmt"
)

// Scratch is a region of the medium outside the image: the bytes after the
// image's end (the superblock's size). Nothing in the image refers to it and
// Open never reads it, so whatever a tear leaves there is never taken for
// data; it is written without Sync, as nothing needs it to outlive the call
// that reads it back. The card spills there the ciphertext of TLS records
// too large for a connection's receive buffer until their tag verifies
// (tls.Spill): only ciphertext, never a key or plaintext.
//
// A region is also a ring (NextRecord): each record a caller writes starts
// where the previous one ended, rounded up to a ScratchBlock, and offsets
// wrap around the region's end, so that records smaller than the region
// spread their writes over all of its blocks instead of rewriting its first
// ones (NVM wears per block). Offsets given to ReadAt and WriteAt are the
// record's own, from 0; the mapping onto the medium is the region's.
type Scratch struct {
	s    *Store // the medium, and the wear counters (ScratchStats)
	off  int64  // the region's first byte on the medium
	n    int32  // the region's length (≤ MaxSize)
	base int32  // where the current record starts in the region (ring)
	used int32  // bytes from base the current record has written
}

// ScratchBlock is the NVM block a scratch write programs at a time: the
// card writes a spill in whole, aligned blocks of this size (tls.StreamChunk)
// and counts the blocks a write touches (ScratchStats).
const ScratchBlock = 512

// ScratchStats is what the scratch regions of a store have written since
// it was opened: payload bytes, and ScratchBlock-sized blocks of the medium
// programmed (a write touching part of a block counts the block).
type ScratchStats struct {
	BytesWritten uint64
	BlockWrites  uint64
}

// ScratchStats returns the wear counters of the store's scratch regions.
func (s *Store) ScratchStats() ScratchStats { return s.scratch }

// ErrNoScratch is returned by Scratch when the medium cannot hold the
// region: it ends before and cannot grow (a MemMedium does not grow; a
// FileMedium grows on write).
var ErrNoScratch = errors.New("store: the medium has no room for scratch after the image")

// Scratch returns the i-th region of n bytes after the image (i ≥ 0):
// bytes [size + i·n, size + (i+1)·n) of the medium.
func (s *Store) Scratch(i, n int) (*Scratch, error) {
	if i < 0 || n <= 0 || n > MaxSize {
		return nil, fmt.Errorf("store: scratch region %d of %d bytes", i, n)
	}
	off := int64(s.geo.size) + int64(i)*int64(n)
	if _, grows := s.m.(*FileMedium); !grows {
		ms, err := s.m.Size()
		if err != nil {
			return nil, err
		}
		if ms < off+int64(n) {
			return nil, ErrNoScratch
		}
	}
	return &Scratch{s: s, off: off, n: int32(n)}, nil
}

var errScratchRange = errors.New("store: access beyond a scratch region")

// Size is the region's length.
func (r *Scratch) Size() int { return int(r.n) }

// NextRecord starts a new record: it begins at the first ScratchBlock
// boundary (counted from the region's start) after the bytes the previous
// record wrote, wrapping at the region's end. The previous record's bytes
// may then be overwritten. A region that is a whole number of blocks keeps
// every record's blocks aligned, so a record written in whole blocks never
// programs a block twice for one record (tls.Spill's writes are).
func (r *Scratch) NextRecord() {
	adv := (int64(r.used) + ScratchBlock - 1) / ScratchBlock * ScratchBlock
	r.base = int32((int64(r.base) + adv) % int64(r.n))
	r.used = 0
}

// split maps [off, off+k) of the current record onto the region: the part
// at region offset a (k1 bytes) and, past the region's end, the rest at 0.
func (r *Scratch) split(off int64, k int) (a int64, k1 int, err error) {
	if off < 0 || off+int64(k) > int64(r.n) {
		return 0, 0, errScratchRange
	}
	a = int64(r.base) + off
	if a >= int64(r.n) {
		a -= int64(r.n)
	}
	return a, int(min(int64(k), int64(r.n)-a)), nil
}

// ReadAt reads len(p) bytes at off of the current record.
func (r *Scratch) ReadAt(p []byte, off int64) (int, error) {
	a, k1, err := r.split(off, len(p))
	if err != nil {
		return 0, err
	}
	n, err := r.s.m.ReadAt(p[:k1], r.off+a)
	if err != nil || k1 == len(p) {
		return n, err
	}
	m, err := r.s.m.ReadAt(p[k1:], r.off)
	return n + m, err
}

// WriteAt writes p at off of the current record (no Sync: see Scratch),
// counting the bytes and the blocks written (Store.ScratchStats).
func (r *Scratch) WriteAt(p []byte, off int64) (int, error) {
	a, k1, err := r.split(off, len(p))
	if err != nil {
		return 0, err
	}
	r.used = int32(max(int64(r.used), off+int64(len(p))))
	n, err := r.write(p[:k1], a)
	if err != nil || k1 == len(p) {
		return n, err
	}
	m, err := r.write(p[k1:], 0)
	return n + m, err
}

func (r *Scratch) write(p []byte, a int64) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	at := r.off + a
	c := &r.s.scratch
	c.BytesWritten += uint64(len(p))
	c.BlockWrites += uint64((at+int64(len(p))-1)/ScratchBlock - at/ScratchBlock + 1)
	return r.s.m.WriteAt(p, at)
}
