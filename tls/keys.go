package tls

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/sha256"
	"crypto/sha512"
	"hash"

	"golang.org/x/crypto/chacha20poly1305"
)

// suiteInfo describes a cipher suite (TLS 1.3, or TLS 1.2 when tls12 is set).
type suiteInfo struct {
	id     uint16
	keyLen int
	sha384 bool
	chacha bool
	tls12  bool
}

// suiteByID returns a TLS 1.3 suite, or nil.
func suiteByID(id uint16) *suiteInfo {
	if s := suiteInfoByID(id); s != nil && !s.tls12 {
		return s
	}
	return nil
}

// suite12ByID returns a TLS 1.2 suite, or nil.
func suite12ByID(id uint16) *suiteInfo {
	if s := suiteInfoByID(id); s != nil && s.tls12 {
		return s
	}
	return nil
}

func suiteInfoByID(id uint16) *suiteInfo {
	for i := range suites {
		if suites[i].id == id {
			return &suites[i]
		}
	}
	return nil
}

var suites = [6]suiteInfo{
	{TLS_AES_128_GCM_SHA256, 16, false, false, false},
	{TLS_AES_256_GCM_SHA384, 32, true, false, false},
	{TLS_CHACHA20_POLY1305_SHA256, 32, false, true, false},
	{TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, 16, false, false, true},
	{TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384, 32, true, false, true},
	{TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256, 32, false, true, true},
}

func (s *suiteInfo) newAEAD(key []byte) (cipher.AEAD, error) {
	if s.chacha {
		return chacha20poly1305.New(key)
	}
	b, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(b)
}

// macState computes HMAC (RFC 2104) over two reusable hash states, so that the key schedule does
// not allocate (crypto/hmac.New allocates per key). It is the textbook construction over the
// standard library hash functions, checked against crypto/hmac in the tests.
type macState struct {
	inner, outer hash.Hash
	block        int
	pad          [128]byte
	sum          [64]byte
}

func newMacState(h func() hash.Hash) *macState {
	m := &macState{inner: h(), outer: h()}
	m.block = m.inner.BlockSize()
	return m
}

func (m *macState) init(key []byte) {
	if len(key) > m.block {
		m.outer.Reset()
		m.outer.Write(key)
		key = m.outer.Sum(m.sum[:0])
	}
	for i := 0; i < m.block; i++ {
		var k byte
		if i < len(key) {
			k = key[i]
		}
		m.pad[i] = k ^ 0x36
	}
	m.inner.Reset()
	m.inner.Write(m.pad[:m.block])
	for i := 0; i < m.block; i++ {
		m.pad[i] ^= 0x36 ^ 0x5c
	}
	m.outer.Reset()
	m.outer.Write(m.pad[:m.block])
}

func (m *macState) write(p []byte) { m.inner.Write(p) }

// finish appends the MAC to dst.
func (m *macState) finish(dst []byte) []byte {
	s := m.inner.Sum(m.sum[:0])
	m.outer.Write(s)
	return m.outer.Sum(dst)
}

// keySchedule holds the hash-specific state of the TLS 1.3 key schedule.
type keySchedule struct {
	h256, h384 hash.Hash // transcripts
	m256, m384 *macState
	th         hash.Hash // selected transcript (nil until the suite is known)
	mac        *macState
	hlen       int
	label      [32]byte // HKDF label prefix / TLS 1.2 PRF label (the context or seeds are MACed separately)
	tmp        [64]byte
	tmp2       [64]byte
	*ksSecrets // handshake-only; lives in the engine's hsState
}

// ksSecrets is the handshake-only part of the key schedule (dropped with the engine's hsState; a
// KeyUpdate needs only the MAC, the label buffer and the halfConn's own secret).
type ksSecrets struct {
	secret         [48]byte // current main secret (early → handshake → master)
	cHS, sHS       [48]byte
	cAP, sAP       [48]byte
	zero           [48]byte
	transcriptHash [64]byte
	fk, derived    [48]byte
	hdr            [4]byte
}

// newKeySchedule allocates the hash states. A client must hash its ClientHello with both hashes
// before the suite is known; a server (lazy) allocates only the one of the negotiated suite. sec
// holds the handshake secrets (nil: allocate them).
func newKeySchedule(lazy bool, sec *ksSecrets) *keySchedule {
	if sec == nil {
		sec = new(ksSecrets)
	}
	if lazy {
		return &keySchedule{ksSecrets: sec}
	}
	return &keySchedule{h256: sha256.New(), h384: sha512.New384(),
		m256: newMacState(sha256.New), m384: newMacState(sha512.New384), ksSecrets: sec}
}

// selectHash fixes the transcript hash for the negotiated suite.
func (k *keySchedule) selectHash(sha384 bool) {
	if sha384 && k.h384 == nil {
		k.h384, k.m384 = sha512.New384(), newMacState(sha512.New384)
	}
	if !sha384 && k.h256 == nil {
		k.h256, k.m256 = sha256.New(), newMacState(sha256.New)
	}
	if sha384 {
		k.th, k.mac, k.hlen = k.h384, k.m384, 48
	} else {
		k.th, k.mac, k.hlen = k.h256, k.m256, 32
	}
}

// addMessage appends a handshake message (with its 4-byte header) to the transcript.
func (k *keySchedule) addMessage(m []byte) {
	if k.th != nil {
		k.th.Write(m)
		return
	}
	if k.h256 != nil {
		k.h256.Write(m)
		k.h384.Write(m)
	}
}

// hash returns the current transcript hash (valid until the next call).
func (k *keySchedule) hash() []byte { return k.th.Sum(k.transcriptHash[:0]) }

// restartForHRR replaces the transcript by message_hash(Hash(ClientHello1)) (RFC 8446 §4.4.1).
func (k *keySchedule) restartForHRR() {
	h := k.hash()
	k.hdr = [4]byte{typeMessageHash, 0, 0, byte(k.hlen)}
	k.th.Reset()
	k.th.Write(k.hdr[:])
	k.th.Write(h)
}

// extract sets secret = HKDF-Extract(salt, ikm); a nil ikm means zeros.
func (k *keySchedule) extract(salt, ikm []byte) {
	if ikm == nil {
		ikm = k.zero[:k.hlen]
	}
	k.mac.init(salt)
	k.mac.write(ikm)
	k.mac.finish(k.secret[:0])
}

// expandLabel writes HKDF-Expand-Label(secret, label, context, len(out)) to out.
func (k *keySchedule) expandLabel(out, secret []byte, label string, context []byte) {
	n := len(out)
	l := k.label[:0]
	l = append(l, byte(n>>8), byte(n), byte(6+len(label)))
	l = append(l, "tls13 "...)
	l = append(l, label...)
	l = append(l, byte(len(context)))
	var prev []byte
	done := 0
	for ctr := byte(1); done < n; ctr++ {
		k.mac.init(secret)
		k.mac.write(prev)
		k.mac.write(l)
		k.mac.write(context)
		k.tmp2[0] = ctr
		k.mac.write(k.tmp2[:1])
		t := k.mac.finish(k.tmp[:0])
		done += copy(out[done:], t)
		prev = t
	}
}

// deriveSecret writes Derive-Secret(secret, label, transcript) to out, using the transcript hash h.
func (k *keySchedule) deriveSecret(out, secret []byte, label string, h []byte) {
	k.expandLabel(out[:k.hlen], secret, label, h)
}

// emptyHash returns Hash("") for the selected hash.
func (k *keySchedule) emptyHash() []byte {
	if k.hlen == 48 {
		return emptySHA384[:]
	}
	return emptySHA256[:]
}

var emptySHA256 = sha256.Sum256(nil)
var emptySHA384 = sha512.Sum384(nil)

// binder returns the PSK binder (RFC 8446 §4.2.11) for the resumption PSK over the transcript hash
// th, appended to dst. It leaves the early secret in k.secret.
func (k *keySchedule) binder(dst, psk, th []byte) []byte {
	h := k.hlen
	k.extract(k.zero[:h], psk)
	k.deriveSecret(k.derived[:], k.secret[:h], "res binder", k.emptyHash())
	k.expandLabel(k.fk[:h], k.derived[:h], "finished", nil)
	k.mac.init(k.fk[:h])
	k.mac.write(th)
	return k.mac.finish(dst)
}

// handshakeSecrets runs the schedule from the early secret (from psk, or zeros when psk is nil) to
// the handshake traffic secrets, with the (EC)DHE shared secret and the transcript hash through
// ServerHello.
func (k *keySchedule) handshakeSecrets(psk, shared []byte) {
	h := k.hlen
	k.extract(k.zero[:h], psk) // early secret
	derived := k.derived[:]
	k.deriveSecret(derived, k.secret[:h], "derived", k.emptyHash())
	k.extract(derived[:h], shared) // handshake secret
	th := k.hash()
	k.deriveSecret(k.cHS[:], k.secret[:h], "c hs traffic", th)
	k.deriveSecret(k.sHS[:], k.secret[:h], "s hs traffic", th)
	k.deriveSecret(derived, k.secret[:h], "derived", k.emptyHash())
	k.extract(derived[:h], nil) // master secret
}

// appSecrets derives the application traffic secrets from the transcript through server Finished.
func (k *keySchedule) appSecrets() {
	th := k.hash()
	k.deriveSecret(k.cAP[:], k.secret[:k.hlen], "c ap traffic", th)
	k.deriveSecret(k.sAP[:], k.secret[:k.hlen], "s ap traffic", th)
}

// resumptionMaster derives the resumption master secret into out from the transcript through the
// client Finished.
func (k *keySchedule) resumptionMaster(out []byte) {
	k.deriveSecret(out, k.secret[:k.hlen], "res master", k.hash())
}

// finished appends verify_data for the base key and the current transcript to dst.
func (k *keySchedule) finished(dst, base []byte) []byte {
	k.expandLabel(k.fk[:k.hlen], base[:k.hlen], "finished", nil)
	th := k.hash()
	k.mac.init(k.fk[:k.hlen])
	k.mac.write(th)
	return k.mac.finish(dst)
}

// halfConn is one direction of the record protection.
type halfConn struct {
	aead   cipher.AEAD
	iv     [12]byte
	nonce  [12]byte
	seq    uint64
	secret [48]byte
	key    [32]byte
	aad    [13]byte // TLS 1.2 additional data
}

// setKey installs the traffic secret (RFC 8446 §7.3).
func (hc *halfConn) setKey(k *keySchedule, s *suiteInfo, secret []byte) error {
	copy(hc.secret[:], secret[:k.hlen])
	k.expandLabel(hc.key[:s.keyLen], hc.secret[:k.hlen], "key", nil)
	k.expandLabel(hc.iv[:], hc.secret[:k.hlen], "iv", nil)
	a, err := s.newAEAD(hc.key[:s.keyLen])
	if err != nil {
		return err
	}
	hc.aead = a
	hc.seq = 0
	return nil
}

// update moves to the next traffic secret (KeyUpdate).
func (hc *halfConn) update(k *keySchedule, s *suiteInfo) error {
	var next [48]byte
	k.expandLabel(next[:k.hlen], hc.secret[:k.hlen], "traffic upd", nil)
	return hc.setKey(k, s, next[:])
}

func (hc *halfConn) makeNonce() []byte {
	hc.nonce = hc.iv
	for i := 0; i < 8; i++ {
		hc.nonce[4+i] ^= byte(hc.seq >> (56 - 8*i))
	}
	return hc.nonce[:]
}
