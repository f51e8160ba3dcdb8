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
type Scratch struct {
	m   Medium
	off int64
	n   int64
}

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
	return &Scratch{m: s.m, off: off, n: int64(n)}, nil
}

var errScratchRange = errors.New("store: access beyond a scratch region")

// Size is the region's length.
func (r *Scratch) Size() int { return int(r.n) }

// ReadAt reads len(p) bytes at off of the region.
func (r *Scratch) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 || off+int64(len(p)) > r.n {
		return 0, errScratchRange
	}
	return r.m.ReadAt(p, r.off+off)
}

// WriteAt writes p at off of the region (no Sync: see Scratch).
func (r *Scratch) WriteAt(p []byte, off int64) (int, error) {
	if off < 0 || off+int64(len(p)) > r.n {
		return 0, errScratchRange
	}
	return r.m.WriteAt(p, r.off+off)
}
