package store

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"sort"
	"time"
)

// ErrFull is returned when an update does not fit in the image.
var ErrFull = errors.New("store: image full")

// Retry limits.
const (
	PINTries = 3 // tries before the PIN blocks (the PUK unblocks it)
	// PUKTries was the PUK's limit in format 1 images, after which the card
	// was dead for good; a format 1 counter is read as that many minus the
	// failures. The PUK no longer blocks: wrong ones are slowed (PUKDelay).
	PUKTries = 10
	// MaxChanges is the number of entries the change log keeps.
	MaxChanges = 16
)

// secState is the secure area: PIN and PUK with their retry counters and
// backoff times.
type secState struct {
	pinSet   bool
	pinTries uint8
	pukFails uint8 // consecutive wrong PUKs (saturates at 255)
	salt     [16]byte
	pinHash  [32]byte
	pukHash  [32]byte
	pinWait  int64 // Unix ms: no PIN comparison before this (0: none)
	pukWait  int64 // Unix ms: no PUK comparison before this (0: none)
}

// Secure area body formats: 1 (PUK tries left, no backoff) is read; 2 is
// written.
const (
	secBodyLen1 = 4 + 16 + 32 + 32
	secBodyLen  = secBodyLen1 + 16
)

func (s *secState) encode() []byte {
	b := make([]byte, secBodyLen)
	b[0] = 2 // body format
	if s.pinSet {
		b[1] = 1
	}
	b[2], b[3] = s.pinTries, s.pukFails
	copy(b[4:], s.salt[:])
	copy(b[20:], s.pinHash[:])
	copy(b[52:], s.pukHash[:])
	binary.BigEndian.PutUint64(b[84:], uint64(s.pinWait))
	binary.BigEndian.PutUint64(b[92:], uint64(s.pukWait))
	return b
}

func decodeSec(b []byte) (secState, error) {
	var s secState
	bad := func(what string) (secState, error) {
		return secState{}, fmt.Errorf("%w: secure area: %s", ErrCorrupt, what)
	}
	switch {
	case len(b) == secBodyLen1 && b[0] == 1:
		if b[3] > PUKTries {
			return bad("PUK counter out of range")
		}
		s.pukFails = PUKTries - b[3]
	case len(b) == secBodyLen && b[0] == 2:
		s.pukFails = b[3]
		s.pinWait = int64(binary.BigEndian.Uint64(b[84:]))
		s.pukWait = int64(binary.BigEndian.Uint64(b[92:]))
		if s.pinWait < 0 || s.pukWait < 0 {
			return bad("negative backoff time")
		}
	default:
		return bad("unknown body format or length")
	}
	if b[1] > 1 || b[2] > PINTries {
		return bad("PIN state out of range")
	}
	s.pinSet = b[1] == 1
	s.pinTries = b[2]
	copy(s.salt[:], b[4:])
	copy(s.pinHash[:], b[20:])
	copy(s.pukHash[:], b[52:])
	return s, nil
}

// File is a named content file. Data aliases the store's memory and must not
// be modified.
type File struct {
	Path        string
	ContentType string
	Data        []byte
	ETag        string // strong entity tag, quoted: "\"<16 hex digits of SHA-256>\""
}

func etag(data []byte) string {
	h := sha256.Sum256(data)
	var b [18]byte
	b[0], b[17] = '"', '"'
	hex.Encode(b[1:17], h[:8])
	return string(b[:])
}

// Change is one entry of the change log.
type Change struct {
	Seq     uint64    // increases by one per logged change, never reused
	Time    time.Time // from the clock set with SetClock; zero if none
	Op      string    // e.g. "put", "delete", "config", "key", "cert"
	Subject string    // e.g. the file path or configuration key
}

// dataState is the data area. Byte slices inside are immutable once stored;
// clone copies containers only.
type dataState struct {
	key         []byte // P-256 scalar, 32 bytes, or nil
	rsaKey      []byte // RSA private key, PKCS #1 DER (RFC 8017 A.1.2), or nil; never both keys
	cert        []byte
	chain       [][]byte
	anchors     [][]byte
	files       map[string]*File
	config      map[string]string
	adminKey    []byte
	adminSecret []byte // sha256(salt || "admin" || secret), or nil
	log         []Change
	logSeq      uint64
}

func (d *dataState) clone() *dataState {
	n := *d
	n.chain = append([][]byte(nil), d.chain...)
	n.anchors = append([][]byte(nil), d.anchors...)
	n.files = make(map[string]*File, len(d.files))
	for k, v := range d.files {
		n.files[k] = v
	}
	n.config = make(map[string]string, len(d.config))
	for k, v := range d.config {
		n.config[k] = v
	}
	n.log = append([]Change(nil), d.log...)
	return &n
}

func (d *dataState) addLog(now time.Time, op, subject string) {
	d.logSeq++
	if len(d.log) >= MaxChanges {
		d.log = append(d.log[:0], d.log[len(d.log)-MaxChanges+1:]...)
	}
	d.log = append(d.log, Change{Seq: d.logSeq, Time: now, Op: op, Subject: subject})
}

// Record types of the data area body.
const (
	recKey = 1 + iota
	recCert
	recChain
	recAnchor
	recFile
	recConfig
	recAdminKey
	recAdminSecret
	recLog
	recLogSeq
	recKeyRSA // added with RSA identities; images without it read as before
)

// maxRSAKeyRecord bounds an RSA key record: the PKCS #1 DER of a 4096-bit key is about 2.35 KB.
const maxRSAKeyRecord = 2560

func appendRec(b []byte, typ byte, parts ...[]byte) []byte {
	n := 0
	for i, p := range parts {
		if i < len(parts)-1 {
			n += 2
		}
		n += len(p)
	}
	b = append(b, typ)
	b = binary.BigEndian.AppendUint32(b, uint32(n))
	for i, p := range parts {
		if i < len(parts)-1 {
			b = binary.BigEndian.AppendUint16(b, uint16(len(p)))
		}
		b = append(b, p...)
	}
	return b
}

func sortedKeys[V any](m map[string]V) []string {
	k := make([]string, 0, len(m))
	for s := range m {
		k = append(k, s)
	}
	sort.Strings(k)
	return k
}

func (d *dataState) encode() []byte {
	b := []byte{1} // body format
	if d.key != nil {
		b = appendRec(b, recKey, d.key)
	}
	if d.rsaKey != nil {
		b = appendRec(b, recKeyRSA, d.rsaKey)
	}
	if d.cert != nil {
		b = appendRec(b, recCert, d.cert)
	}
	for _, c := range d.chain {
		b = appendRec(b, recChain, c)
	}
	for _, c := range d.anchors {
		b = appendRec(b, recAnchor, c)
	}
	for _, p := range sortedKeys(d.files) {
		f := d.files[p]
		b = appendRec(b, recFile, []byte(f.Path), []byte(f.ContentType), f.Data)
	}
	for _, k := range sortedKeys(d.config) {
		b = appendRec(b, recConfig, []byte(k), []byte(d.config[k]))
	}
	if d.adminKey != nil {
		b = appendRec(b, recAdminKey, d.adminKey)
	}
	if d.adminSecret != nil {
		b = appendRec(b, recAdminSecret, d.adminSecret)
	}
	for _, c := range d.log {
		var h [16]byte
		binary.BigEndian.PutUint64(h[:], c.Seq)
		if !c.Time.IsZero() {
			binary.BigEndian.PutUint64(h[8:], uint64(c.Time.Unix()))
		}
		b = appendRec(b, recLog, h[:], []byte(c.Op), []byte(c.Subject))
	}
	var s [8]byte
	binary.BigEndian.PutUint64(s[:], d.logSeq)
	b = appendRec(b, recLogSeq, s[:])
	return b
}

// splitParts splits a record payload into k parts, the first k-1 prefixed by
// a 16-bit length.
func splitParts(p []byte, k int) ([][]byte, bool) {
	out := make([][]byte, 0, k)
	for i := 0; i < k-1; i++ {
		if len(p) < 2 {
			return nil, false
		}
		n := int(binary.BigEndian.Uint16(p))
		if len(p)-2 < n {
			return nil, false
		}
		out = append(out, p[2:2+n])
		p = p[2+n:]
	}
	return append(out, p), true
}

func decodeData(b []byte) (*dataState, error) {
	bad := func(what string) (*dataState, error) {
		return nil, fmt.Errorf("%w: data area: %s", ErrCorrupt, what)
	}
	d := &dataState{files: map[string]*File{}, config: map[string]string{}}
	if len(b) < 1 || b[0] != 1 {
		return bad("unknown body format")
	}
	b = b[1:]
	for len(b) > 0 {
		if len(b) < 5 {
			return bad("truncated record header")
		}
		typ, n := b[0], binary.BigEndian.Uint32(b[1:])
		if uint64(n) > uint64(len(b)-5) {
			return bad("truncated record")
		}
		p := b[5 : 5+n : 5+n]
		b = b[5+n:]
		switch typ {
		case recKey:
			if d.key != nil || d.rsaKey != nil || len(p) != 32 {
				return bad("bad key record")
			}
			d.key = p
		case recKeyRSA:
			if d.key != nil || d.rsaKey != nil || len(p) == 0 || len(p) > maxRSAKeyRecord {
				return bad("bad RSA key record")
			}
			d.rsaKey = p
		case recCert:
			if d.cert != nil {
				return bad("duplicate certificate")
			}
			d.cert = p
		case recChain:
			d.chain = append(d.chain, p)
		case recAnchor:
			d.anchors = append(d.anchors, p)
		case recFile:
			parts, ok := splitParts(p, 3)
			if !ok || len(parts[0]) == 0 || d.files[string(parts[0])] != nil {
				return bad("bad file record")
			}
			f := &File{Path: string(parts[0]), ContentType: string(parts[1]), Data: parts[2], ETag: etag(parts[2])}
			d.files[f.Path] = f
		case recConfig:
			parts, ok := splitParts(p, 2)
			if !ok {
				return bad("bad config record")
			}
			if _, dup := d.config[string(parts[0])]; dup {
				return bad("duplicate config key")
			}
			d.config[string(parts[0])] = string(parts[1])
		case recAdminKey:
			if d.adminKey != nil {
				return bad("duplicate admin key")
			}
			d.adminKey = p
		case recAdminSecret:
			if d.adminSecret != nil || len(p) != 32 {
				return bad("bad admin secret")
			}
			d.adminSecret = p
		case recLog:
			parts, ok := splitParts(p, 3)
			if !ok || len(parts[0]) != 16 || len(d.log) >= MaxChanges {
				return bad("bad log record")
			}
			c := Change{Seq: binary.BigEndian.Uint64(parts[0]), Op: string(parts[1]), Subject: string(parts[2])}
			if t := int64(binary.BigEndian.Uint64(parts[0][8:])); t != 0 {
				c.Time = time.Unix(t, 0).UTC()
			}
			d.log = append(d.log, c)
		case recLogSeq:
			if len(p) != 8 {
				return bad("bad log sequence")
			}
			d.logSeq = binary.BigEndian.Uint64(p)
		default:
			return bad(fmt.Sprintf("unknown record type %d", typ))
		}
	}
	return d, nil
}
