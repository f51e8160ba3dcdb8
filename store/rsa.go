package store

import (
	"crypto/rsa"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"math/big"
)

// RSA identity keys: generated here from the injected random source (the
// package never reads crypto/rand; since Go 1.26 rsa.GenerateKey ignores its
// reader, so primes are drawn here) and stored as PKCS #1 DER in one
// transaction.

const (
	rsaBits     = 2048
	rsaExponent = 65537
	// minRSABits and maxRSABits bound a stored RSA key (the TLS engine signs
	// with 2048 to 4096 bits).
	minRSABits = 2048
	maxRSABits = 4096
	// maxPrimeDraws bounds the candidates drawn per prime: a random odd
	// 1024-bit number is prime with probability about 1/355, so 20000 draws
	// fail with probability below 1e-24; a broken random source (all zeros)
	// fails fast instead of looping.
	maxPrimeDraws = 20000
	// maxKeyDraws bounds the prime pairs drawn per key: a real source
	// fails the |p - q| check with probability about 2^-99, so only a
	// broken one (repeating one block: p = q every time) reaches it.
	maxKeyDraws = 32
)

var bigOne = big.NewInt(1)

// randomPrime draws a prime p of bits bits from rand (FIPS 186-5 B.3.3 by
// way of A.1.3): the two top bits are set, so that the product of two such
// primes has exactly 2·bits bits and p > √2·2^(bits-1); gcd(p-1, e) = 1;
// primality by Miller-Rabin with 20 random bases plus Baillie-PSW
// (big.Int.ProbablyPrime), beyond FIPS 186-5 Table B.1 for 1024-bit primes.
func randomPrime(rand io.Reader, bits int) (*big.Int, error) {
	buf := make([]byte, bits/8)
	p, pm1, g := new(big.Int), new(big.Int), new(big.Int)
	e := big.NewInt(rsaExponent)
	for i := 0; i < maxPrimeDraws; i++ {
		if _, err := io.ReadFull(rand, buf); err != nil {
			return nil, fmt.Errorf("store: reading randomness: %w", err)
		}
		buf[0] |= 0xc0
		buf[len(buf)-1] |= 1
		p.SetBytes(buf)
		if !p.ProbablyPrime(20) {
			continue
		}
		pm1.Sub(p, bigOne)
		if g.GCD(nil, nil, pm1, e).Cmp(bigOne) != 0 {
			continue
		}
		return p, nil
	}
	return nil, errors.New("store: no prime found; is the random source broken?")
}

// newRSAKey generates an RSA key of bits bits with e = 65537 from rand.
func newRSAKey(rand io.Reader, bits int) (*rsa.PrivateKey, error) {
	// FIPS 186-5 A.1.3: |p - q| > 2^(bits/2 - 100).
	minDiff := new(big.Int).Lsh(bigOne, uint(bits/2-100))
	for range maxKeyDraws {
		p, err := randomPrime(rand, bits/2)
		if err != nil {
			return nil, err
		}
		q, err := randomPrime(rand, bits/2)
		if err != nil {
			return nil, err
		}
		if d := new(big.Int).Sub(p, q); d.Abs(d).Cmp(minDiff) <= 0 {
			continue
		}
		n := new(big.Int).Mul(p, q)
		pm1, qm1 := new(big.Int).Sub(p, bigOne), new(big.Int).Sub(q, bigOne)
		lambda := new(big.Int).Mul(pm1, qm1)
		lambda.Quo(lambda, new(big.Int).GCD(nil, nil, pm1, qm1))
		d := new(big.Int).ModInverse(big.NewInt(rsaExponent), lambda)
		// FIPS 186-5 A.1.1: d > 2^(bits/2); with e = 65537 this practically always holds.
		if d == nil || d.BitLen() <= bits/2 || n.BitLen() != bits {
			continue
		}
		k := &rsa.PrivateKey{PublicKey: rsa.PublicKey{N: n, E: rsaExponent}, D: d, Primes: []*big.Int{p, q}}
		k.Precompute()
		if err := k.Validate(); err != nil {
			return nil, fmt.Errorf("store: generated RSA key: %w", err)
		}
		return k, nil
	}
	return nil, errors.New("store: no RSA key found; is the random source broken?")
}

// parseRSAKey decodes a stored RSA key (PKCS #1 DER) and checks its size.
func parseRSAKey(der []byte) (*rsa.PrivateKey, error) {
	k, err := x509.ParsePKCS1PrivateKey(der)
	if err != nil {
		return nil, err
	}
	if b := k.N.BitLen(); b < minRSABits || b > maxRSABits {
		return nil, fmt.Errorf("RSA key of %d bits (%d to %d accepted)", b, minRSABits, maxRSABits)
	}
	return k, nil
}

// generateRSA generates an RSA-2048 identity key and stores it in one
// transaction (see GenerateKeyType).
func (s *Store) generateRSA(rand io.Reader) error {
	k, err := newRSAKey(rand, rsaBits)
	if err != nil {
		return err
	}
	return s.setRSAKey(k)
}

// setRSAKey stores k as the identity key in one transaction.
func (s *Store) setRSAKey(k *rsa.PrivateKey) error {
	der := x509.MarshalPKCS1PrivateKey(k)
	if err := s.updateData("key", "identity rsa2048", func(ds *dataState) error {
		ds.key, ds.rsaKey, ds.cert, ds.chain = nil, der, nil, nil
		return nil
	}); err != nil {
		return err
	}
	s.priv = k
	return nil
}
