package store

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"errors"
	"fmt"
	"io"
	"os"
	"time"
)

// ErrBroken is returned by every operation after a write to the medium
// failed (for example a simulated tear): the in-memory view may be ahead of
// the medium, so the image must be reopened.
var ErrBroken = errors.New("store: a write failed; reopen the image")

// Limits on object sizes.
const (
	MaxPathLen        = 255
	MaxContentTypeLen = 127
	MaxConfigKeyLen   = 64
	MaxConfigValueLen = 1024
)

// Store is an open card image.
type Store struct {
	m     Medium
	geo   geometry
	sec   area
	data  area
	ss    secState
	ds    *dataState
	priv  crypto.Signer // decoded ds.key (*ecdsa.PrivateKey) or ds.rsaKey (*rsa.PrivateKey), never exported
	used  int           // encoded size of ds
	err   error         // sticky write failure
	clock func() time.Time
	// scratch counts what the scratch regions wrote (ScratchStats); they
	// are outside the image, and nothing of this is stored.
	scratch ScratchStats
}

// Create makes a new image file of size bytes (0 means DefaultSize) at path,
// which must not exist, and opens it. rand supplies the image's salt.
func Create(path string, size int, rand io.Reader) (*Store, error) {
	if size == 0 {
		size = DefaultSize
	}
	if size < MinSize || size > MaxSize {
		return nil, fmt.Errorf("store: size %d outside [%d, %d]", size, MinSize, MaxSize)
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, err
	}
	if err := f.Truncate(int64(size)); err != nil {
		f.Close()
		os.Remove(path)
		return nil, err
	}
	s, err := CreateMedium(NewFileMedium(f), size, rand)
	if err != nil {
		f.Close()
		os.Remove(path)
		return nil, err
	}
	return s, nil
}

// CreateMedium formats m (at least size bytes; 0 means DefaultSize) as an
// empty image and opens it. Formatting is not a transaction: a tear during
// Create leaves an image that Open rejects.
func CreateMedium(m Medium, size int, rand io.Reader) (*Store, error) {
	if size == 0 {
		size = DefaultSize
	}
	if size < MinSize || size > MaxSize {
		return nil, fmt.Errorf("store: size %d outside [%d, %d]", size, MinSize, MaxSize)
	}
	if ms, err := m.Size(); err != nil {
		return nil, err
	} else if ms < int64(size) {
		return nil, fmt.Errorf("store: medium holds %d bytes, need %d", ms, size)
	}
	var ss secState
	if _, err := io.ReadFull(rand, ss.salt[:]); err != nil {
		return nil, fmt.Errorf("store: reading random salt: %w", err)
	}
	g := newGeometry(size)
	// Invalidate everything first, superblock last: a torn Create is never
	// mistaken for an image.
	zero := make([]byte, size)
	if _, err := m.WriteAt(zero, 0); err != nil {
		return nil, err
	}
	s := &Store{m: m, geo: g, ss: ss, ds: &dataState{files: map[string]*File{}, config: map[string]string{}}}
	s.sec = area{off: g.secOff, slot: g.secSlot, cur: 1}
	s.data = area{off: g.dataOff, slot: g.dataSlot, cur: 1}
	if err := s.sec.commit(m, ss.encode()); err != nil {
		return nil, err
	}
	body := s.ds.encode()
	if err := s.data.commit(m, body); err != nil {
		return nil, err
	}
	s.used = len(body)
	if _, err := m.WriteAt(g.encode(), 0); err != nil {
		return nil, err
	}
	if err := m.Sync(); err != nil {
		return nil, err
	}
	return s, nil
}

// Open opens an existing image file read-write.
func Open(path string) (*Store, error) {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return nil, err
	}
	s, err := OpenMedium(NewFileMedium(f))
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return s, nil
}

// OpenMedium opens the image on m. A wrong, truncated or corrupt image gives
// an error wrapping ErrNotImage, ErrVersion, ErrTruncated or ErrCorrupt.
func OpenMedium(m Medium) (*Store, error) {
	ms, err := m.Size()
	if err != nil {
		return nil, err
	}
	if ms < superLen {
		return nil, fmt.Errorf("%w: %d bytes", ErrTruncated, ms)
	}
	sb := make([]byte, superLen)
	if _, err := m.ReadAt(sb, 0); err != nil {
		return nil, fmt.Errorf("store: reading superblock: %w", err)
	}
	g, err := decodeGeometry(sb, ms)
	if err != nil {
		return nil, err
	}
	s := &Store{m: m, geo: g}
	s.sec = area{off: g.secOff, slot: g.secSlot}
	s.data = area{off: g.dataOff, slot: g.dataSlot}
	body, err := s.sec.load(m, "secure")
	if err != nil {
		return nil, err
	}
	if s.ss, err = decodeSec(body); err != nil {
		return nil, err
	}
	if body, err = s.data.load(m, "data"); err != nil {
		return nil, err
	}
	if s.ds, err = decodeData(body); err != nil {
		return nil, err
	}
	s.used = len(body)
	if s.ds.key != nil {
		if s.priv, err = ecdsa.ParseRawPrivateKey(elliptic.P256(), s.ds.key); err != nil {
			return nil, fmt.Errorf("%w: identity key: %v", ErrCorrupt, err)
		}
	}
	if s.ds.rsaKey != nil {
		if s.priv, err = parseRSAKey(s.ds.rsaKey); err != nil {
			return nil, fmt.Errorf("%w: identity key: %v", ErrCorrupt, err)
		}
	}
	return s, nil
}

// Close closes the medium if it is an io.Closer. All committed state is
// already on the medium.
func (s *Store) Close() error {
	if c, ok := s.m.(io.Closer); ok {
		return c.Close()
	}
	return nil
}

// SetClock sets the clock used to time-stamp change-log entries and to time
// the backoff after wrong PINs and PUKs (without one, wrong attempts are
// counted but not slowed).
func (s *Store) SetClock(now func() time.Time) { s.clock = now }

func (s *Store) now() time.Time {
	if s.clock == nil {
		return time.Time{}
	}
	return s.clock()
}

// Size is the image size in bytes.
func (s *Store) Size() int { return int(s.geo.size) }

// Used reports the bytes of the data area in use (keys, certificates,
// files, configuration, log).
func (s *Store) Used() int { return s.used }

// Capacity reports the bytes the data area can hold: a little under half
// the image, as every state is written to one of two shadow slots.
func (s *Store) Capacity() int { return s.data.capacity() }

// Seq is the sequence number of the committed data area state; it grows by
// one per data transaction.
func (s *Store) Seq() uint64 { return s.data.seq }

// updateData runs one data-area transaction: fn mutates a copy of the state;
// the copy becomes current only when committed.
func (s *Store) updateData(op, subject string, fn func(d *dataState) error) error {
	if s.err != nil {
		return s.err
	}
	d := s.ds.clone()
	if err := fn(d); err != nil {
		return err
	}
	if op != "" {
		d.addLog(s.now(), op, subject)
	}
	body := d.encode()
	if len(body) > s.data.capacity() {
		return fmt.Errorf("%w: needs %d bytes, data area holds %d", ErrFull, len(body), s.data.capacity())
	}
	if err := s.data.commit(s.m, body); err != nil {
		s.err = fmt.Errorf("%w: %v", ErrBroken, err)
		return s.err
	}
	s.ds, s.used = d, len(body)
	return nil
}

// updateSec runs one secure-area transaction with the new state ns.
func (s *Store) updateSec(ns secState) error {
	if s.err != nil {
		return s.err
	}
	if err := s.sec.commit(s.m, ns.encode()); err != nil {
		s.err = fmt.Errorf("%w: %v", ErrBroken, err)
		return s.err
	}
	s.ss = ns
	return nil
}

// PutFile stores (or replaces) a content file in one transaction.
func (s *Store) PutFile(path, contentType string, data []byte) error {
	if path == "" || len(path) > MaxPathLen || len(contentType) > MaxContentTypeLen {
		return fmt.Errorf("store: bad file path or content type length")
	}
	f := &File{Path: path, ContentType: contentType, Data: append([]byte(nil), data...), ETag: etag(data)}
	return s.updateData("put", path, func(d *dataState) error {
		d.files[path] = f
		return nil
	})
}

// ErrNotFound is returned when deleting a file or key that does not exist.
var ErrNotFound = errors.New("store: not found")

// DeleteFile removes a content file in one transaction.
func (s *Store) DeleteFile(path string) error {
	if _, ok := s.ds.files[path]; !ok {
		return ErrNotFound
	}
	return s.updateData("delete", path, func(d *dataState) error {
		delete(d.files, path)
		return nil
	})
}

// File returns the content file at path.
func (s *Store) File(path string) (File, bool) {
	f, ok := s.ds.files[path]
	if !ok {
		return File{}, false
	}
	return *f, true
}

// Files returns the paths of all content files, sorted.
func (s *Store) Files() []string { return sortedKeys(s.ds.files) }

// SetConfig sets a configuration value in one transaction.
func (s *Store) SetConfig(key, value string) error {
	if key == "" || len(key) > MaxConfigKeyLen || len(value) > MaxConfigValueLen {
		return fmt.Errorf("store: bad configuration key or value length")
	}
	return s.updateData("config", key, func(d *dataState) error {
		d.config[key] = value
		return nil
	})
}

// DeleteConfig removes a configuration key in one transaction.
func (s *Store) DeleteConfig(key string) error {
	if _, ok := s.ds.config[key]; !ok {
		return ErrNotFound
	}
	return s.updateData("unset", key, func(d *dataState) error {
		delete(d.config, key)
		return nil
	})
}

// Config returns a configuration value.
func (s *Store) Config(key string) (string, bool) {
	v, ok := s.ds.config[key]
	return v, ok
}

// ConfigBytes is Config for a key held in a byte slice (no allocation).
func (s *Store) ConfigBytes(key []byte) (string, bool) {
	v, ok := s.ds.config[string(key)]
	return v, ok
}

// ConfigKeys returns all configuration keys, sorted.
func (s *Store) ConfigKeys() []string { return sortedKeys(s.ds.config) }

// Changes returns the change log, oldest first (at most MaxChanges entries).
func (s *Store) Changes() []Change { return append([]Change(nil), s.ds.log...) }

// Batch groups content and configuration changes into one transaction.
// Its methods stage changes; nothing is written until the Update function
// returns nil.
type Batch struct {
	d   *dataState
	ops int
	err error
}

// PutFile stages storing a content file.
func (b *Batch) PutFile(path, contentType string, data []byte) {
	if path == "" || len(path) > MaxPathLen || len(contentType) > MaxContentTypeLen {
		b.err = fmt.Errorf("store: bad file path or content type length")
		return
	}
	b.d.files[path] = &File{Path: path, ContentType: contentType, Data: append([]byte(nil), data...), ETag: etag(data)}
	b.ops++
}

// DeleteFile stages removing a content file (no error if absent).
func (b *Batch) DeleteFile(path string) {
	delete(b.d.files, path)
	b.ops++
}

// SetConfig stages setting a configuration value.
func (b *Batch) SetConfig(key, value string) {
	if key == "" || len(key) > MaxConfigKeyLen || len(value) > MaxConfigValueLen {
		b.err = fmt.Errorf("store: bad configuration key or value length")
		return
	}
	b.d.config[key] = value
	b.ops++
}

// DeleteConfig stages removing a configuration key (no error if absent).
func (b *Batch) DeleteConfig(key string) {
	delete(b.d.config, key)
	b.ops++
}

// Update runs fn on a batch and commits all its changes as one transaction
// (logged as one change, op "batch", with the given subject). If fn returns
// an error, or the changes do not fit, nothing changes.
func (s *Store) Update(subject string, fn func(b *Batch) error) error {
	return s.updateData("batch", subject, func(d *dataState) error {
		b := &Batch{d: d}
		if err := fn(b); err != nil {
			return err
		}
		return b.err
	})
}

// Info summarises the store for a status page. It contains no secrets.
type Info struct {
	Size, Used, Capacity int    // image bytes; data area bytes used and available
	Seq                  uint64 // data transactions committed
	Files, ConfigKeys    int
	HasKey, HasCert      bool
	PINSet               bool
	PINTriesLeft         int
	PUKFailures          int    // consecutive wrong PUKs (the PUK never blocks)
	Changes              uint64 // changes logged since creation
}

// Info returns the current summary.
func (s *Store) Info() Info {
	return Info{
		Size: s.Size(), Used: s.Used(), Capacity: s.Capacity(), Seq: s.Seq(),
		Files: len(s.ds.files), ConfigKeys: len(s.ds.config),
		HasKey: s.priv != nil, HasCert: s.ds.cert != nil,
		PINSet: s.ss.pinSet, PINTriesLeft: int(s.ss.pinTries), PUKFailures: int(s.ss.pukFails),
		Changes: s.ds.logSeq,
	}
}
