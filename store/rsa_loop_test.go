package store

import (
	"crypto/rand"
	"math/big"
	"testing"
	"time"
)

// cyclicReader repeats one block forever: a broken random source.
type cyclicReader struct {
	b   []byte
	off int
}

func (c *cyclicReader) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = c.b[c.off]
		c.off = (c.off + 1) % len(c.b)
	}
	return len(p), nil
}

// TestRSAKeyBrokenSourceEnds: a random source that repeats one block which
// happens to pass as a prime makes p = q on every draw; key generation
// must fail with an error, not loop forever (every loop bounded).
func TestRSAKeyBrokenSourceEnds(t *testing.T) {
	var p *big.Int
	src := seeded(5)
	for {
		var err error
		if p, err = rand.Prime(src, 1024); err != nil {
			t.Fatal(err)
		}
		pm1 := new(big.Int).Sub(p, bigOne)
		if b := p.Bytes(); b[0]&0xc0 == 0xc0 && new(big.Int).GCD(nil, nil, pm1, big.NewInt(rsaExponent)).Cmp(bigOne) == 0 {
			break
		}
	}
	done := make(chan error, 1)
	go func() {
		_, err := newRSAKey(&cyclicReader{b: p.Bytes()}, 2048)
		done <- err
	}()
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("a key from a source that repeats one prime")
		}
	case <-time.After(120 * time.Second):
		t.Fatal("newRSAKey still looping after 120 s on a source that repeats one prime")
	}
}
