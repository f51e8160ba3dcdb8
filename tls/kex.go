package tls

import (
	"crypto/ecdh"
	"crypto/mlkem"
	"errors"
	"io"
)

const (
	mlkemEKLen = mlkem.EncapsulationKeySize768 // 1184
	mlkemCTLen = mlkem.CiphertextSize768       // 1088
)

func groupSupported(g CurveID) bool { return g == X25519 || g == P256 || g == X25519MLKEM768 }

// serverShareLen is the length of a server's key share for group g (X25519MLKEM768: the ML-KEM
// ciphertext and the X25519 share, draft-ietf-tls-ecdhe-mlkem §4.1).
func serverShareLen(g CurveID) int {
	if g == X25519MLKEM768 {
		return mlkemCTLen + 32
	}
	return clientShareLen(g)
}

// clientShareLen is the length of a valid client key share for group g.
func clientShareLen(g CurveID) int {
	switch g {
	case X25519:
		return 32
	case P256:
		return 65
	case X25519MLKEM768:
		return mlkemEKLen + 32
	}
	return -1
}

// ecdhKey generates an ECDH private key from bytes of rand (deterministic for a seeded rand).
func ecdhKey(curve ecdh.Curve, rand io.Reader, buf []byte) (*ecdh.PrivateKey, error) {
	for i := 0; i < 8; i++ {
		if _, err := io.ReadFull(rand, buf[:32]); err != nil {
			return nil, err
		}
		k, err := curve.NewPrivateKey(buf[:32])
		if err == nil {
			return k, nil
		}
	}
	return nil, errors.New("tls: cannot generate key")
}

// kexState is the client's ephemeral key material for one group.
type kexState struct {
	group CurveID
	ec    *ecdh.PrivateKey
	dk    *mlkem.DecapsulationKey768
}

// generate creates the client key share and appends it to dst.
func (k *kexState) generate(g CurveID, rand io.Reader, scratch []byte, dst []byte) ([]byte, error) {
	k.group, k.dk = g, nil
	var err error
	switch g {
	case X25519:
		k.ec, err = ecdhKey(ecdh.X25519(), rand, scratch)
	case P256:
		k.ec, err = ecdhKey(ecdh.P256(), rand, scratch)
	case X25519MLKEM768:
		if _, err = io.ReadFull(rand, scratch[:64]); err != nil {
			return dst, err
		}
		if k.dk, err = mlkem.NewDecapsulationKey768(scratch[:64]); err != nil {
			return dst, err
		}
		dst = append(dst, k.dk.EncapsulationKey().Bytes()...)
		k.ec, err = ecdhKey(ecdh.X25519(), rand, scratch)
	default:
		return dst, errors.New("tls: unsupported group")
	}
	if err != nil {
		return dst, err
	}
	return append(dst, k.ec.PublicKey().Bytes()...), nil
}

// appendShare appends the key share generate made for k.group again (a ClientHello after a
// HelloRetryRequest that asks for no other group keeps its shares, RFC 8446 §4.1.2).
func (k *kexState) appendShare(dst []byte) []byte {
	if k.dk != nil {
		dst = append(dst, k.dk.EncapsulationKey().Bytes()...)
	}
	return append(dst, k.ec.PublicKey().Bytes()...)
}

// finish computes the shared secret from the server's share, appending it to dst.
// A malformed share returns errBadShare.
func (k *kexState) finish(share []byte, dst []byte) ([]byte, error) {
	if k.group == X25519MLKEM768 {
		if len(share) != mlkemCTLen+32 {
			return dst, errBadShare
		}
		ss, err := k.dk.Decapsulate(share[:mlkemCTLen])
		if err != nil {
			return dst, errBadShare
		}
		dst = append(dst, ss...)
		share = share[mlkemCTLen:]
	}
	pub, err := k.ec.Curve().NewPublicKey(share)
	if err != nil {
		return dst, errBadShare
	}
	ss, err := k.ec.ECDH(pub)
	if err != nil {
		return dst, errBadShare
	}
	return append(dst, ss...), nil
}

var errBadShare = errors.New("tls: invalid key share")

// serverKex answers the client's share for group g: it appends the server share to shareOut and the
// shared secret to ssOut.
func serverKex(g CurveID, clientShare []byte, rand io.Reader, scratch []byte, shareOut, ssOut []byte) ([]byte, []byte, error) {
	if len(clientShare) != clientShareLen(g) {
		return shareOut, ssOut, errBadShare
	}
	var curve ecdh.Curve
	switch g {
	case X25519MLKEM768:
		ek, err := mlkem.NewEncapsulationKey768(clientShare[:mlkemEKLen])
		if err != nil {
			return shareOut, ssOut, errBadShare
		}
		ss, ct := ek.Encapsulate()
		shareOut = append(shareOut, ct...)
		ssOut = append(ssOut, ss...)
		clientShare = clientShare[mlkemEKLen:]
		curve = ecdh.X25519()
	case X25519:
		curve = ecdh.X25519()
	case P256:
		curve = ecdh.P256()
	default:
		return shareOut, ssOut, errBadShare
	}
	pub, err := curve.NewPublicKey(clientShare)
	if err != nil {
		return shareOut, ssOut, errBadShare
	}
	priv, err := ecdhKey(curve, rand, scratch)
	if err != nil {
		return shareOut, ssOut, err
	}
	ss, err := priv.ECDH(pub)
	if err != nil {
		return shareOut, ssOut, errBadShare
	}
	return append(shareOut, priv.PublicKey().Bytes()...), append(ssOut, ss...), nil
}
