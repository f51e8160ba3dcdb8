package sim

import (
	"crypto/sha256"
	"encoding/binary"
	"io"
)

// NewRand returns a deterministic io.Reader for seed and stream: SHA-256
// in counter mode over a 32-byte key (the seed and the stream's name).
//
// It stands in for a card's hardware random number generator, which holds
// no RAM, so it keeps only its key and counter (48 bytes, the allocator's
// class for 40): no output buffer. Each Read hashes key‖counter once per
// 32 bytes asked and drops what is left of the last block, so a stream is
// the same for the same sequence of Read sizes (a seeded simulation calls
// it the same way every run). It is not for production keys.
func NewRand(seed uint64, stream string) io.Reader {
	r := &drbg{}
	binary.LittleEndian.PutUint64(r.key[:], seed)
	copy(r.key[8:], stream)
	return r
}

type drbg struct {
	key [32]byte
	ctr uint64
}

func (r *drbg) Read(p []byte) (int, error) {
	n := len(p)
	var in [40]byte
	copy(in[:], r.key[:])
	for len(p) > 0 {
		binary.LittleEndian.PutUint64(in[32:], r.ctr)
		r.ctr++
		b := sha256.Sum256(in[:])
		p = p[copy(p, b[:]):]
	}
	return n, nil
}
