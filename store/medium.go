package store

import (
	"errors"
	"io"
	"os"
)

// Medium is the byte-addressed non-volatile memory under a Store. Writes are
// persistent once Sync returns nil. A Medium that loses power mid-write keeps
// any prefix of the bytes written.
type Medium interface {
	ReadAt(p []byte, off int64) (int, error)
	WriteAt(p []byte, off int64) (int, error)
	Sync() error
	// Size reports the number of bytes the medium holds.
	Size() (int64, error)
}

// FileMedium is a Medium kept in an operating-system file.
type FileMedium struct{ f *os.File }

// NewFileMedium wraps an open file (read-write) as a Medium.
func NewFileMedium(f *os.File) *FileMedium { return &FileMedium{f: f} }

// ReadAt implements Medium.
func (m *FileMedium) ReadAt(p []byte, off int64) (int, error) { return m.f.ReadAt(p, off) }

// WriteAt implements Medium.
func (m *FileMedium) WriteAt(p []byte, off int64) (int, error) { return m.f.WriteAt(p, off) }

// Sync implements Medium (fsync).
func (m *FileMedium) Sync() error { return m.f.Sync() }

// Size implements Medium.
func (m *FileMedium) Size() (int64, error) {
	fi, err := m.f.Stat()
	if err != nil {
		return 0, err
	}
	return fi.Size(), nil
}

// Close closes the file.
func (m *FileMedium) Close() error { return m.f.Close() }

// MemMedium is an in-memory Medium, for tests and simulations.
type MemMedium struct{ B []byte }

// NewMemMedium returns a zero-filled in-memory medium of size bytes.
func NewMemMedium(size int) *MemMedium { return &MemMedium{B: make([]byte, size)} }

var errOutOfRange = errors.New("store: access beyond the end of the medium")

// ReadAt implements Medium.
func (m *MemMedium) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 || off > int64(len(m.B)) {
		return 0, errOutOfRange
	}
	n := copy(p, m.B[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// WriteAt implements Medium. The medium does not grow.
func (m *MemMedium) WriteAt(p []byte, off int64) (int, error) {
	if off < 0 || off+int64(len(p)) > int64(len(m.B)) {
		return 0, errOutOfRange
	}
	return copy(m.B[off:], p), nil
}

// Sync implements Medium.
func (m *MemMedium) Sync() error { return nil }

// Size implements Medium.
func (m *MemMedium) Size() (int64, error) { return int64(len(m.B)), nil }
