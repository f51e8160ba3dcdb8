package tls

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/sha256"
	"crypto/sha512"
	"encoding"
	"errors"
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
	rsa    bool // TLS 1.2 ECDHE_RSA: the server authenticates with an RSA key
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

var suites = [9]suiteInfo{
	{TLS_AES_128_GCM_SHA256, 16, false, false, false, false},
	{TLS_AES_256_GCM_SHA384, 32, true, false, false, false},
	{TLS_CHACHA20_POLY1305_SHA256, 32, false, true, false, false},
	{TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, 16, false, false, true, false},
	{TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384, 32, true, false, true, false},
	{TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256, 32, false, true, true, false},
	{TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256, 16, false, false, true, true},
	{TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384, 32, true, false, true, true},
	{TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256, 32, false, true, true, true},
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

// hmacSum appends HMAC-SHA256 (or HMAC-SHA384 when sha384 is set) of the concatenated parts under
// key to dst (RFC 2104). The hash states are local to the call: the compiler keeps them (and the
// pads) on the stack, so the key schedule allocates nothing and holds no hash state between calls
// (crypto/hmac.New and crypto/hkdf allocate per key). It is the textbook construction over the
// standard library hash functions, checked against crypto/hmac, crypto/hkdf and RFC 8448 in the tests.
func hmacSum(sha384 bool, dst, key []byte, parts ...[]byte) []byte {
	if sha384 {
		return hmac384(dst, key, parts)
	}
	return hmac256(dst, key, parts)
}

func hmac256(dst, key []byte, parts [][]byte) []byte {
	const block = sha256.BlockSize
	var pad [block]byte
	h := sha256.New()
	if len(key) > block {
		h.Write(key)
		key = h.Sum(pad[:0])
		h.Reset()
	}
	k := copy(pad[:], key)
	clear(pad[k:])
	for i := range pad {
		pad[i] ^= 0x36
	}
	h.Write(pad[:])
	for _, p := range parts {
		h.Write(p)
	}
	var inner [sha256.Size]byte
	h.Sum(inner[:0])
	h.Reset()
	for i := range pad {
		pad[i] ^= 0x36 ^ 0x5c
	}
	h.Write(pad[:])
	h.Write(inner[:])
	clear(pad[:])
	return h.Sum(dst)
}

func hmac384(dst, key []byte, parts [][]byte) []byte {
	const block = sha512.BlockSize
	var pad [block]byte
	h := sha512.New384()
	if len(key) > block {
		h.Write(key)
		key = h.Sum(pad[:0])
		h.Reset()
	}
	k := copy(pad[:], key)
	clear(pad[k:])
	for i := range pad {
		pad[i] ^= 0x36
	}
	h.Write(pad[:])
	for _, p := range parts {
		h.Write(p)
	}
	var inner [sha512.Size384]byte
	h.Sum(inner[:0])
	h.Reset()
	for i := range pad {
		pad[i] ^= 0x36 ^ 0x5c
	}
	h.Write(pad[:])
	h.Write(inner[:])
	clear(pad[:])
	return h.Sum(dst)
}

// keySchedule holds the hash-specific state of the TLS 1.3 key schedule. It lives inside the Engine
// (no allocation of its own) and holds no hash object: HMAC runs on stack hash states (hmacSum) and
// the transcripts are kept as marshalled hash states in ksSecrets.
type keySchedule struct {
	th         *transcript // selected transcript (nil until the suite is known, and once released)
	*ksSecrets             // handshake-only; lives in the engine's hsState
	hlen       int32       // the hash's length (32 or 48; 0 until the suite is known)
	sha384     bool        // the selected hash is SHA-384 (HMAC and HKDF use it)
}

// ksSecrets is the handshake-only part of the key schedule (dropped with the engine's hsState; a
// KeyUpdate needs only the halfConn's own secret).
type ksSecrets struct {
	secret         [48]byte // current main secret (early → handshake → master)
	cHS, sHS       [48]byte
	cAP, sAP       [48]byte
	transcriptHash [64]byte
	fk, derived    [48]byte
	hdr            [4]byte
	// t256 is the transcript (a server's, whatever its hash: SHA-256 or SHA-384); a client
	// hashes its ClientHello with both before the suite is known, t384 then (in its clientOnly)
	t256 transcript
	t384 *transcript
}

// zeroSecret is the string of Hash.length zero bytes of the key schedule (RFC 8446 §7.1); read only.
var zeroSecret [48]byte

// Sizes of the marshalled SHA-256 and SHA-384 states (magic, chaining values, partial block, length).
const (
	sha256StateLen = 4 + 8*4 + sha256.BlockSize + 8
	sha384StateLen = 4 + 8*8 + sha512.BlockSize + 8
)

// transcript is a running SHA-256 or SHA-384 hash of the handshake messages kept as the hash's
// marshalled state (crypto/sha256 and crypto/sha512 hashes implement encoding.BinaryAppender and
// encoding.BinaryUnmarshaler), so it needs no heap object: each update restores the state into a
// hash on the stack, writes, and saves it back. The state is our own, so restoring cannot fail;
// if it ever did, the transcript would be wrong and the peer's Finished would not verify.
type transcript struct {
	on     bool
	sha384 bool
	n      int // length of the saved state, 0 before the first write
	st     [sha384StateLen]byte
}

func (t *transcript) start(sha384 bool) { *t = transcript{on: true, sha384: sha384} }

func (t *transcript) write(m []byte) {
	if t.sha384 {
		h := sha512.New384()
		t.load(h)
		h.Write(m)
		t.save(h)
		return
	}
	h := sha256.New()
	t.load(h)
	h.Write(m)
	t.save(h)
}

// sum appends the current hash to dst.
func (t *transcript) sum(dst []byte) []byte {
	if t.sha384 {
		h := sha512.New384()
		t.load(h)
		return h.Sum(dst)
	}
	h := sha256.New()
	t.load(h)
	return h.Sum(dst)
}

// load and save use the interfaces crypto/sha256.New and crypto/sha512.New384 document their
// hashes to implement. (A checked type assertion would make the hash escape to the heap:
// TestServerHandshakeAllocs notices.)
func (t *transcript) load(h hash.Hash) {
	if t.n > 0 {
		_ = h.(encoding.BinaryUnmarshaler).UnmarshalBinary(t.st[:t.n])
	}
}

func (t *transcript) save(h hash.Hash) {
	b, _ := h.(encoding.BinaryAppender).AppendBinary(t.st[:0])
	t.n = copy(t.st[:], b)
}

// newKeySchedule returns a key schedule (see init).
func newKeySchedule(lazy bool, sec *ksSecrets) *keySchedule {
	k := new(keySchedule)
	k.init(lazy, sec)
	return k
}

// init prepares k. A client must hash its ClientHello with both hashes before the suite is known;
// a server (lazy) starts only the transcript of the negotiated suite. sec holds the handshake
// secrets (nil: allocate them).
func (k *keySchedule) init(lazy bool, sec *ksSecrets) {
	if sec == nil {
		sec = new(ksSecrets)
	}
	k.ksSecrets = sec
	if !lazy {
		if sec.t384 == nil {
			sec.t384 = new(transcript)
		}
		k.t256.start(false)
		k.t384.start(true)
	}
}

// selectHash fixes the transcript hash for the negotiated suite.
func (k *keySchedule) selectHash(sha384 bool) {
	t := &k.t256
	k.hlen = 32
	if sha384 {
		k.hlen = 48
		if k.t384 != nil {
			t = k.t384
		}
	}
	if !t.on {
		t.start(sha384)
	}
	k.th, k.sha384 = t, sha384
}

// hmac appends HMAC(key, parts...) with the selected hash to dst.
func (k *keySchedule) hmac(dst, key []byte, parts ...[]byte) []byte {
	return hmacSum(k.sha384, dst, key, parts...)
}

// addMessage appends a handshake message (with its 4-byte header) to the transcript: the selected
// one, or, before the suite is known, every started one.
func (k *keySchedule) addMessage(m []byte) {
	if k.th != nil {
		k.th.write(m)
		return
	}
	if k.ksSecrets == nil {
		return
	}
	if k.t256.on {
		k.t256.write(m)
	}
	if k.t384 != nil && k.t384.on {
		k.t384.write(m)
	}
}

// hash returns the current transcript hash (valid until the next call).
func (k *keySchedule) hash() []byte { return k.th.sum(k.transcriptHash[:0]) }

// restartForHRR replaces the transcript by message_hash(Hash(ClientHello1)) (RFC 8446 §4.4.1).
func (k *keySchedule) restartForHRR() {
	h := k.hash()
	k.hdr = [4]byte{typeMessageHash, 0, 0, byte(k.hlen)}
	k.th.start(k.sha384)
	k.th.write(k.hdr[:])
	k.th.write(h)
}

// extract sets secret = HKDF-Extract(salt, ikm); a nil ikm means zeros.
func (k *keySchedule) extract(salt, ikm []byte) {
	if ikm == nil {
		ikm = zeroSecret[:k.hlen]
	}
	k.hmac(k.secret[:0], salt, ikm)
}

// expandLabel writes HKDF-Expand-Label(secret, label, context, len(out)) to out.
func (k *keySchedule) expandLabel(out, secret []byte, label string, context []byte) {
	// The label, the block and the counter live on the stack (hmacSum's hash is devirtualised, so
	// nothing escapes): an idle engine holds no scratch. The block is wiped before returning.
	var lb [32]byte
	var tmp [64]byte
	var c [1]byte
	n := len(out)
	l := lb[:0]
	l = append(l, byte(n>>8), byte(n), byte(6+len(label)))
	l = append(l, "tls13 "...)
	l = append(l, label...)
	l = append(l, byte(len(context)))
	var prev []byte
	done := 0
	for ctr := byte(1); done < n; ctr++ {
		c[0] = ctr
		t := k.hmac(tmp[:0], secret, prev, l, context, c[:])
		done += copy(out[done:], t)
		prev = t
	}
	clear(tmp[:])
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
	k.extract(zeroSecret[:h], psk)
	k.deriveSecret(k.derived[:], k.secret[:h], "res binder", k.emptyHash())
	k.expandLabel(k.fk[:h], k.derived[:h], "finished", nil)
	return k.hmac(dst, k.fk[:h], th)
}

// handshakeSecrets runs the schedule from the early secret (from psk, or zeros when psk is nil) to
// the handshake traffic secrets, with the (EC)DHE shared secret and the transcript hash through
// ServerHello.
func (k *keySchedule) handshakeSecrets(psk, shared []byte) {
	h := k.hlen
	k.extract(zeroSecret[:h], psk) // early secret
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
	return k.hmac(dst, k.fk[:k.hlen], th)
}

// halfConn is one direction of the record protection. Its AEAD is the expanded state of key
// (Go's AES-GCM holds the AES round keys and a GHASH table, 768 bytes); Engine.Shed drops it
// between bursts, and cipher builds it again from key when the next record is sealed or opened.
type halfConn struct {
	aead cipher.AEAD // nil: not keyed, or shed (rebuilt from the secret by cipher)
	// nonce is the next record's nonce: the IV XOR the padded sequence number (RFC 8446 §5.3;
	// RFC 5288 / RFC 7905 for TLS 1.2), kept up to date as seq advances (next), so no per-record
	// scratch is needed for it.
	nonce [12]byte
	seq   uint64
	// secret is the TLS 1.3 traffic secret (RFC 8446 §7.3), which KeyUpdate needs (§7.2) and the
	// key is derived from again when the AEAD is rebuilt after a Shed (keyTo), so the key itself
	// is not kept; in TLS 1.2 (no traffic secret) its front holds the key from the key block and
	// its tail (from tail12) is per-record scratch (see scratch12).
	secret [48]byte
}

// tail12 is where the TLS 1.2 scratch starts in a halfConn's secret: after the longest key (32
// bytes, AES-256 and ChaCha20); a TLS 1.2 halfConn has no traffic secret to keep there.
const tail12 = 32

// next moves to the next record's sequence number and nonce.
func (hc *halfConn) next() {
	d := hc.seq ^ (hc.seq + 1)
	hc.seq++
	for i := 0; i < 8; i++ {
		hc.nonce[4+i] ^= byte(d >> (56 - 8*i))
	}
}

// setKey installs the traffic secret (RFC 8446 §7.3).
func (hc *halfConn) setKey(k *keySchedule, s *suiteInfo, secret []byte) error {
	copy(hc.secret[:], secret[:k.hlen])
	k.expandLabel(hc.nonce[:], hc.secret[:k.hlen], "iv", nil) // sequence 0: the nonce is the IV
	hc.aead = nil
	if hc.cipher(k, s) == nil {
		return errors.New("tls: bad traffic key")
	}
	hc.seq = 0
	return nil
}

// keyTo writes this direction's traffic key to dst and returns it: TLS 1.3 derives it from the
// traffic secret ([sender]_write_key = HKDF-Expand-Label(Secret, "key", "", key_length), RFC 8446
// §7.3); TLS 1.2 keeps it in the secret's place.
func (hc *halfConn) keyTo(k *keySchedule, s *suiteInfo, dst *[32]byte) []byte {
	if s.tls12 {
		return dst[:copy(dst[:s.keyLen], hc.secret[:s.keyLen])]
	}
	k.expandLabel(dst[:s.keyLen], hc.secret[:k.hlen], "key", nil)
	return dst[:s.keyLen]
}

// cipher returns the AEAD of this direction, building it again from the key if Shed dropped it
// (nil only if that fails, which a key of the suite's length never does). The key lives on the
// stack for the time of the build and is wiped.
func (hc *halfConn) cipher(k *keySchedule, s *suiteInfo) cipher.AEAD {
	if hc.aead == nil && s != nil {
		var key [32]byte
		hc.aead, _ = s.newAEAD(hc.keyTo(k, s, &key))
		clear(key[:])
	}
	return hc.aead
}

// shed drops the expanded AEAD state and returns the bytes it held (see aeadStateSize).
func (hc *halfConn) shed(s *suiteInfo) int {
	if hc.aead == nil || s == nil {
		return 0
	}
	hc.aead = nil
	return s.aeadStateSize()
}

// aeadStateSize is the heap an AEAD of the suite holds (its size class): crypto/cipher's AES-GCM
// keeps the expanded AES key for both directions of the block cipher (2 × 240 bytes), the
// 256-byte GHASH table and its sizes in one 768-byte object, whatever the key length;
// x/crypto's ChaCha20-Poly1305 keeps only its 32-byte key. TestAEADStateSize measures both.
func (s *suiteInfo) aeadStateSize() int {
	if s.chacha {
		return 32
	}
	return 768
}

// update moves to the next traffic secret (KeyUpdate).
func (hc *halfConn) update(k *keySchedule, s *suiteInfo) error {
	var next [48]byte
	k.expandLabel(next[:k.hlen], hc.secret[:k.hlen], "traffic upd", nil)
	return hc.setKey(k, s, next[:])
}

// nonceAt returns the per-record nonce (RFC 8446 §5.3: the IV XOR the padded sequence number),
// the halfConn's own: read it, do not write it.
func (hc *halfConn) nonceAt() []byte { return hc.nonce[:] }
