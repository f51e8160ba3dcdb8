package tls

import (
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/subtle"
	"crypto/x509"
	"io"
)

// TLS 1.2 (RFC 5246) with ECDHE_ECDSA and ECDHE_RSA AEAD suites only (RFC 5289, RFC 7905), extended master
// secret required (RFC 7627), secure renegotiation signalled but every renegotiation refused
// (RFC 5746), and the TLS 1.3 downgrade sentinel (RFC 8446 §4.1.3).

// TLS 1.2 handshake states (continuing the TLS 1.3 ones).
const (
	s12WaitCert = hsDone + 1 + iota
	s12WaitCKE
	s12WaitCV
	s12WaitCCS
	s12WaitFin
	c12WaitCert
	c12WaitSKE
	c12WaitSHD
	c12WaitCCS
	c12WaitFin
)

const (
	// AlertNoRenegotiation is the warning a TLS 1.2 peer gets when it asks to renegotiate.
	AlertNoRenegotiation uint8 = 100

	verifyData12Len = 12
	explicitNonce   = 8
	scsvRenego      = 0x00ff
)

// downgradeTLS12 is the last 8 bytes of ServerHello.random of a TLS 1.3-capable server that
// negotiates TLS 1.2 (downgradeTLS11 for older versions, checked only).
var downgradeTLS12 = [8]byte{'D', 'O', 'W', 'N', 'G', 'R', 'D', 1}
var downgradeTLS11 = [8]byte{'D', 'O', 'W', 'N', 'G', 'R', 'D', 0}

// prf12 writes the TLS 1.2 PRF (RFC 5246 §5) P_hash(secret, label + seed1 + seed2) to out, with the
// hash of the selected transcript.
func (k *keySchedule) prf12(out, secret []byte, label string, seed1, seed2 []byte) {
	// scratch on the stack, as in expandLabel; wiped before returning
	var lb [32]byte
	var tmp, tmp2 [64]byte
	s := append(lb[:0], label...)
	a := k.hmac(tmp2[:0], secret, s, seed1, seed2) // A(1)
	for done := 0; done < len(out); {
		done += copy(out[done:], k.hmac(tmp[:0], secret, a, s, seed1, seed2))
		a = k.hmac(tmp2[:0], secret, a)
	}
	clear(tmp[:])
	clear(tmp2[:])
}

// hdr12 is the room before the plaintext of a TLS 1.2 record (header and explicit nonce).
func (e *Engine) hdr12() int {
	if e.suite.chacha {
		return recordHeaderLen
	}
	return recordHeaderLen + explicitNonce
}

// setAAD12 fills the TLS 1.2 additional data (seq_num, type, version, plaintext length) into
// the scratch tail of hc's secret (tail12: 13 of its 16 bytes) and returns it.
func (hc *halfConn) setAAD12(typ byte, n int) []byte {
	aad := (*[13]byte)(hc.secret[tail12 : tail12+13])
	for i := 0; i < 8; i++ {
		aad[i] = byte(hc.seq >> (56 - 8*i))
	}
	aad[8], aad[9], aad[10], aad[11], aad[12] = typ, 3, 3, byte(n>>8), byte(n)
	return aad[:]
}

// seal12 protects rec[hdr12:hdr12+n] of type typ in place. AES-GCM uses the sequence number as
// the explicit nonce (RFC 5288); ChaCha20-Poly1305 XORs it into the IV (RFC 7905).
func (e *Engine) seal12(rec []byte, typ byte, n int) int {
	hc := &e.wr
	h := e.hdr12()
	aad := hc.setAAD12(typ, n)
	nonce := hc.nonceAt() // GCM: salt || 0 XOR seq = salt || explicit nonce
	if h > recordHeaderLen {
		copy(rec[recordHeaderLen:h], aad[:8])
	}
	body := rec[h : h+n]
	a := hc.cipher(&e.ks, e.suite)
	if a == nil {
		return 0
	}
	a.Seal(body[:0], nonce, body, aad)
	clen := h - recordHeaderLen + n + tagLen
	rec[0], rec[1], rec[2], rec[3], rec[4] = typ, 3, 3, byte(clen>>8), byte(clen)
	hc.next()
	return recordHeaderLen + clen
}

// open12 decrypts a whole TLS 1.2 record in place and returns its plaintext.
func (e *Engine) open12(rec []byte) ([]byte, bool) { return e.openWith(&e.rd, rec) }

func (e *Engine) openWith(hc *halfConn, rec []byte) ([]byte, bool) {
	h := e.hdr12()
	if len(rec) < h+tagLen {
		return nil, false
	}
	ct := rec[h:]
	aad := hc.setAAD12(rec[0], len(ct)-tagLen)
	nonce := hc.nonceAt()
	if h > recordHeaderLen {
		// GCM (RFC 5288 §3): the salt and the explicit nonce the record carries, whatever the
		// sender chose; built in the secret's scratch tail after the AAD (13 + 12 > 16 bytes:
		// so in the other direction's tail, unused while this record is opened).
		other := &e.wr
		if hc == &e.wr {
			other = &e.rd
		}
		n := (*[12]byte)(other.secret[tail12+4 : tail12+16])
		copy(n[:4], hc.nonce[:4])
		copy(n[4:], rec[recordHeaderLen:h])
		nonce = n[:]
	}
	a := hc.cipher(&e.ks, e.suite)
	if a == nil {
		return nil, false
	}
	pt, err := a.Open(ct[:0], nonce, ct, aad)
	if err != nil {
		return nil, false
	}
	hc.next()
	return pt, true
}

// install12 sets a TLS 1.2 write or read key from the key block.
func (e *Engine) install12(hc *halfConn, key, iv []byte) uint8 {
	clear(hc.secret[:])
	copy(hc.secret[:], key) // TLS 1.2 has no traffic secret: the key takes its place (keyTo)
	clear(hc.nonce[:])      // sequence 0: the nonce is the IV (GCM: the salt, then zeros)
	copy(hc.nonce[:], iv)
	hc.aead, hc.seq = nil, 0
	if len(key) != e.suite.keyLen || hc.cipher(&e.ks, e.suite) == nil {
		return AlertInternalError
	}
	return 0
}

// keys12 derives the master secret (extended, RFC 7627, over the transcript through
// ClientKeyExchange) and the key block.
func (e *Engine) keys12(pms []byte) {
	k := &e.ks
	k.prf12(k.secret[:48], pms, "extended master secret", k.hash(), nil)
	cr, sr := e.randoms12()
	k.prf12(e.kb[:e.kbLen()], k.secret[:48], "key expansion", sr, cr)
}

func (e *Engine) kbLen() int {
	iv := 4
	if e.suite.chacha {
		iv = 12
	}
	return 2 * (e.suite.keyLen + iv)
}

// installKey12 installs our write key (write) or the peer's (read) from the key block.
func (e *Engine) installKey12(write bool) uint8 {
	kl := e.suite.keyLen
	iv := (e.kbLen() - 2*kl) / 2
	clientSide := write == e.client
	hc := &e.rd
	if write {
		hc = &e.wr
	}
	var a uint8
	if clientSide {
		a = e.install12(hc, e.kb[:kl], e.kb[2*kl:2*kl+iv])
	} else {
		a = e.install12(hc, e.kb[kl:2*kl], e.kb[2*kl+iv:2*kl+2*iv])
	}
	if write {
		e.wrOn = true
	} else {
		e.rdOn = true
	}
	return a
}

func (e *Engine) randoms12() (client, server []byte) {
	if e.client {
		return e.random[:], e.peerRandom[:]
	}
	return e.peerRandom[:], e.random[:]
}

// finished12 appends the TLS 1.2 verify_data of the current transcript.
func (e *Engine) finished12(dst []byte, client bool) []byte {
	label := "server finished"
	if client {
		label = "client finished"
	}
	at := len(dst)
	dst = append(dst, make([]byte, verifyData12Len)...)
	e.ks.prf12(dst[at:], e.ks.secret[:48], label, e.ks.hash(), nil)
	return dst
}

// checkFinished12 verifies the peer's Finished in constant time.
func (e *Engine) checkFinished12(msg []byte) uint8 {
	if len(msg) != 4+verifyData12Len {
		return AlertDecodeError
	}
	want := e.finished12(e.verifyBuf[:0], !e.client)
	if subtle.ConstantTimeCompare(msg[4:], want) != 1 {
		return AlertDecryptError
	}
	e.ks.addMessage(msg)
	return 0
}

// queueCCS12 queues the TLS 1.2 change_cipher_spec and switches to the write key.
func (e *Engine) queueCCS12() uint8 {
	if h := e.cfg.hooks().queue; h != nil { // a hostile test peer may rewrite or drop it
		if !e.queueHooked(h, recordCCS, []byte{1}) {
			return AlertInternalError
		}
		return e.installKey12(true)
	}
	if !e.room(6) {
		return AlertInternalError
	}
	e.out = append(e.out, recordCCS, 3, 3, 0, 1, 1)
	return e.installKey12(true)
}

// ccs12 handles a received change_cipher_spec in TLS 1.2: it turns the read key on.
func (e *Engine) ccs12() error {
	if (e.hs != s12WaitCCS && e.hs != c12WaitCCS) || len(e.hsBuf) > 0 || e.plainLeft > 0 {
		return e.fail(AlertUnexpectedMessage)
	}
	if a := e.installKey12(false); a != 0 {
		return e.fail(a)
	}
	if e.client {
		e.hs = c12WaitFin
	} else {
		e.hs = s12WaitFin
	}
	return nil
}

// pickVersion chooses the protocol version for a ClientHello (0: none in common).
func (e *Engine) pickVersion(ch *clientHello) uint16 {
	if ch.has(extSupportedVersions) {
		for _, v := range [2]uint16{VersionTLS13, VersionTLS12} {
			if e.cfg.allows(v) && containsU16(ch.versions, v) {
				return v
			}
		}
		return 0
	}
	if ch.legacyVersion >= int(VersionTLS12) && e.cfg.allows(VersionTLS12) {
		return VersionTLS12
	}
	return 0
}

// selectALPN picks the first of our protocols the client offers.
func (e *Engine) selectALPN(list []byte) uint8 {
	e.alpn = -1
	if list == nil || len(e.cfg.ALPN) == 0 {
		return 0
	}
	for i, p := range e.cfg.ALPN {
		l := reader{b: list}
		for len(l.b) > 0 && e.alpn < 0 {
			if string(l.vec8()) == p {
				e.alpn = int32(i)
			}
		}
		if e.alpn >= 0 {
			return 0
		}
	}
	return AlertNoApplicationProtocol
}

// inLimit12 is the largest TLS 1.2 plaintext we accept: with a configured record_size_limit, the
// limit shrinks by the explicit nonce so that a record still fits the same receive buffer. A client
// that offers both versions announces the smaller of this and its TLS 1.3 limit.
//
// GnuTLS refuses a TLS 1.2 record_size_limit below 512 (the smallest max_fragment_length), so the
// limit is raised to 512 whenever the receive buffer can hold such a record.
func (e *Engine) inLimit12() int {
	if e.cfg.RecordSizeLimit == 0 {
		return maxPlaintext
	}
	l := max(64, int(e.inLimit)-explicitNonce)
	if l < 512 && int(e.recordBuf) >= recordHeaderLen+explicitNonce+512+tagLen {
		l = 512
	}
	return min(l, maxPlaintext)
}

// server12Hello answers a ClientHello that negotiated TLS 1.2: ServerHello, Certificate,
// ServerKeyExchange, [CertificateRequest], ServerHelloDone.
func (e *Engine) server12Hello(msg []byte, ch *clientHello) uint8 {
	e.v12 = true
	nullComp := false
	for _, c := range ch.compression {
		nullComp = nullComp || c == 0
	}
	if !nullComp {
		return AlertIllegalParameter
	}
	// RFC 5746: the client signals secure renegotiation (an empty renegotiation_info or the SCSV).
	if ch.has(extRenegotiationInfo) {
		if len(ch.renegInfo) != 0 {
			return AlertHandshakeFailure
		}
	} else if !containsU16(ch.suites, scsvRenego) {
		return AlertHandshakeFailure
	}
	if !ch.has(extEMS) {
		return AlertHandshakeFailure // RFC 7627 required
	}
	// Only suites of our key's family can be served (RFC 5246 §7.4.2, RFC 8422 §2).
	e.cfg.pickSuite(ch.suites, e.cfg.suites12(), func(id uint16) bool {
		if si := suite12ByID(id); si != nil && si.rsa == e.ownRSA {
			e.suite = si
		}
		return e.suite != nil
	})
	if e.suite == nil {
		return AlertHandshakeFailure
	}
	// Without signature_algorithms a TLS 1.2 client only accepts SHA-1 signatures: not supported.
	if !ch.has(extSignatureAlgorithms) || !e.pickOwnScheme(ch.sigAlgs, true) {
		return AlertHandshakeFailure
	}
	// RFC 8422 §5.1: in TLS 1.2 supported_groups also covers the curve of an ECDSA certificate.
	if e.ownScheme == ECDSAWithP256AndSHA256 && ch.has(extSupportedGroups) && !containsU16(ch.groups, uint16(P256)) {
		return AlertHandshakeFailure
	}
	if ch.has(extECPointFormats) && !containsByte(ch.pointFormats, 0) {
		return AlertIllegalParameter
	}
	for _, g := range e.cfg.groups(true) {
		if (g == X25519 || g == P256) && containsU16(ch.groups, uint16(g)) {
			e.group = g
			break
		}
	}
	if e.group == 0 {
		return AlertHandshakeFailure
	}
	if a := e.selectALPN(ch.alpn); a != 0 {
		return a
	}
	e.setServerName(ch.serverName)
	copy(e.peerRandom[:], ch.random)
	e.ks.selectHash(e.suite.sha384)
	e.ks.addMessage(msg)

	// ServerHello
	if _, err := io.ReadFull(e.cfg.Rand, e.random[:]); err != nil {
		return AlertInternalError
	}
	if e.cfg.maxVersion() >= VersionTLS13 {
		copy(e.random[24:], downgradeTLS12[:])
	}
	st := e.stage()
	st = append(st, typeServerHello, 0, 0, 0, 3, 3)
	st = append(st, e.random[:]...)
	st = append(st, 0, byte(e.suite.id>>8), byte(e.suite.id), 0)
	extAt := len(st)
	st = append(st, 0, 0, byte(extRenegotiationInfo>>8), byte(extRenegotiationInfo&0xff), 0, 1, 0, 0, extEMS, 0, 0)
	if ch.has(extECPointFormats) {
		st = append(st, 0, extECPointFormats, 0, 2, 1, 0)
	}
	if ch.serverName != nil {
		st = append(st, 0, extServerName, 0, 0)
	}
	if e.alpn >= 0 {
		p := e.cfg.ALPN[e.alpn]
		st = append(st, 0, extALPN, byte((len(p)+3)>>8), byte(len(p)+3), byte((len(p)+1)>>8), byte(len(p)+1), byte(len(p)))
		st = append(st, p...)
	}
	if ch.recordSizeLimit > 0 {
		lim := e.inLimit12()
		st = append(st, 0, extRecordSizeLimit, 0, 2, byte(lim>>8), byte(lim))
		e.peerRSL = uint16(min(ch.recordSizeLimit, maxPlaintext) + 1)
	} else if ch.mfl > 0 {
		st = append(st, 0, extMaxFragmentLength, 0, 1, byte(ch.mfl))
		e.mfl = 256 << ch.mfl
	}
	el := len(st) - extAt - 2
	st[extAt], st[extAt+1] = byte(el>>8), byte(el)
	st[3] = byte(len(st) - 4)
	e.ks.addMessage(st)

	// Certificate
	at := len(st)
	st = e.appendCertificate12(st, true)
	e.ks.addMessage(st[at:])

	// ServerKeyExchange: ECParameters and our ephemeral point, signed with the card's key.
	at = len(st)
	st = append(st, typeServerKeyExchange, 0, 0, 0, 3, byte(e.group>>8), byte(e.group), 0)
	ptAt := len(st)
	var err error
	if st, err = e.kex.generate(e.group, e.cfg.Rand, e.scratch[:], st); err != nil {
		return AlertInternalError
	}
	st[ptAt-1] = byte(len(st) - ptAt)
	var sig []byte
	if sig, err = e.sign(e.ownScheme, e.ske12Content(st[at+4:])); err != nil {
		return AlertInternalError
	}
	st = append(st, byte(e.ownScheme>>8), byte(e.ownScheme), byte(len(sig)>>8), byte(len(sig)))
	st = append(st, sig...)
	n := len(st) - at - 4
	st[at+2], st[at+3] = byte(n>>8), byte(n)
	e.ks.addMessage(st[at:])

	// CertificateRequest: rsa_sign and ecdsa_sign, each with the transcript hash of the suite (the
	// CertificateVerify is checked against the running transcript hash; no full transcript is kept).
	if e.cfg.ClientAuth != NoClientCert {
		e.certReq = true
		cv := e.cvSchemes12()
		at = len(st)
		st = append(st, typeCertificateRequest, 0, 0, 13, 2, 1, 64, 0, 6)
		for _, s := range cv {
			st = append(st, byte(s>>8), byte(s))
		}
		st = append(st, 0, 0)
		e.ks.addMessage(st[at:])
	}
	at = len(st)
	st = append(st, typeServerHelloDone, 0, 0, 0)
	e.ks.addMessage(st[at:])
	e.st = st
	e.applyLimits()
	if a := e.flushStaging(); a != 0 {
		return a
	}
	if e.certReq {
		e.hs = s12WaitCert
	} else {
		e.hs = s12WaitCKE
	}
	return 0
}

func containsByte(b []byte, v byte) bool {
	for _, x := range b {
		if x == v {
			return true
		}
	}
	return false
}

// cvSchemes12 are the schemes accepted in a TLS 1.2 client CertificateVerify, which signs the
// running transcript hash: ECDSA, RSA-PSS and RSASSA-PKCS1-v1_5 with the hash of the suite's PRF.
func (e *Engine) cvSchemes12() [3]SignatureScheme {
	if e.suite.sha384 {
		return [3]SignatureScheme{ECDSAWithP384AndSHA384, PSSWithSHA384, PKCS1WithSHA384}
	}
	return [3]SignatureScheme{ECDSAWithP256AndSHA256, PSSWithSHA256, PKCS1WithSHA256}
}

// ske12Content builds client_random + server_random + ServerECDHParams in e.sigContent.
func (e *Engine) ske12Content(params []byte) []byte {
	cr, sr := e.randoms12()
	b := append(e.sigContent[:0], cr...)
	b = append(b, sr...)
	return append(b, params...)
}

// appendCertificate12 appends a TLS 1.2 Certificate message (our chain, or an empty list).
func (e *Engine) appendCertificate12(dst []byte, send bool) []byte {
	list := 0
	if send {
		for _, c := range e.cfg.Certificate {
			list += 3 + len(c)
		}
	}
	n := 3 + list
	dst = append(dst, typeCertificate, byte(n>>16), byte(n>>8), byte(n), byte(list>>16), byte(list>>8), byte(list))
	if send {
		for _, c := range e.cfg.Certificate {
			dst = append(dst, byte(len(c)>>16), byte(len(c)>>8), byte(len(c)))
			dst = append(dst, c...)
		}
	}
	return dst
}

// parseCertificate12 validates a TLS 1.2 Certificate body and returns its certificate_list.
func parseCertificate12(body []byte) ([]byte, uint8) {
	r := reader{b: body}
	list := r.vec24()
	if !r.done() {
		return nil, AlertDecodeError
	}
	l := reader{b: list}
	for len(l.b) > 0 {
		if c := l.vec24(); l.bad || len(c) == 0 {
			return nil, AlertDecodeError
		}
	}
	return list, 0
}

// server12Message processes one TLS 1.2 handshake message in the server role.
func (e *Engine) server12Message(msg []byte) uint8 {
	switch e.hs {
	case s12WaitCert:
		if msg[0] != typeCertificate {
			return AlertUnexpectedMessage
		}
		list, a := parseCertificate12(msg[4:])
		if a != 0 {
			return a
		}
		e.ks.addMessage(msg)
		e.hs = s12WaitCKE
		if len(list) == 0 {
			if e.cfg.ClientAuth == RequireAnyClientCert || e.cfg.ClientAuth == RequireAndVerifyClientCert {
				return AlertHandshakeFailure
			}
			return 0
		}
		certs, a := readCertList(list, false)
		if a != 0 {
			return a
		}
		if e.cfg.ClientAuth >= VerifyClientCertIfGiven {
			if a := verifyChain(certs, e.cfg.ClientCAs, "", e.now(), x509.ExtKeyUsageClientAuth); a != 0 {
				return a
			}
		}
		if a := checkPeerLeaf(certs[0]); a != 0 {
			return a
		}
		if _, ok := certs[0].PublicKey.(ed25519.PublicKey); ok {
			return AlertUnsupportedCert // Ed25519 signs messages, not the running transcript hash
		}
		e.setCerts(certs)
		if e.cfg.PeerKeyOnly {
			e.setCerts([]*x509.Certificate{KeptPeerCertificate(certs[0])}) // the chain is dropped
		}
		return 0
	case s12WaitCKE:
		if msg[0] != typeClientKeyExchange {
			return AlertUnexpectedMessage
		}
		r := reader{b: msg[4:]}
		pt := r.vec8()
		if !r.done() || len(pt) == 0 {
			return AlertDecodeError
		}
		if len(pt) != clientShareLen(e.group) {
			return AlertIllegalParameter
		}
		ss, err := e.kex.finish(pt, e.ss[:0])
		if err != nil {
			return AlertIllegalParameter
		}
		e.ks.addMessage(msg)
		e.keys12(ss)
		if e.certs() != nil {
			e.hs = s12WaitCV
		} else {
			e.hs = s12WaitCCS
		}
		return 0
	case s12WaitCV:
		if msg[0] != typeCertificateVerify {
			return AlertUnexpectedMessage
		}
		scheme, sig, a := parseCertificateVerify(msg[4:])
		if a != 0 {
			return a
		}
		cv := e.cvSchemes12()
		pub := e.certs()[0].PublicKey
		if !containsScheme(cv[:], scheme) || !schemeFitsKey(pub, scheme, true) {
			return AlertIllegalParameter // not one we requested, or not for this key (RFC 5246 §7.4.8)
		}
		if !verifyDigest(pub, scheme, e.ks.hash(), sig) {
			return AlertDecryptError
		}
		e.peerScheme = scheme
		e.ks.addMessage(msg)
		e.hs = s12WaitCCS
		return 0
	case s12WaitFin:
		if msg[0] != typeFinished {
			return AlertUnexpectedMessage
		}
		if a := e.checkFinished12(msg); a != 0 {
			return a
		}
		if a := e.queueCCS12(); a != 0 {
			return a
		}
		st := append(e.stage(), typeFinished, 0, 0, verifyData12Len)
		e.st = e.finished12(st, false)
		if a := e.flushStaging(); a != 0 {
			return a
		}
		return e.done12()
	}
	return AlertUnexpectedMessage
}

// done12 completes a TLS 1.2 handshake.
func (e *Engine) done12() uint8 {
	e.hs = hsDone
	if e.state == Handshaking {
		e.state = Established
	}
	clear(e.kb[:])
	e.wipeHandshakeSecrets()
	return 0
}

// appendClient12Ext appends the TLS 1.2 extensions of our ClientHello: extended master secret,
// empty renegotiation_info and uncompressed point formats.
func appendClient12Ext(st []byte) []byte {
	return append(st, 0, extEMS, 0, 0, byte(extRenegotiationInfo>>8), byte(extRenegotiationInfo&0xff), 0, 1, 0,
		0, extECPointFormats, 0, 2, 1, 0)
}

// client12ServerHello handles a ServerHello that selected TLS 1.2.
func (e *Engine) client12ServerHello(msg []byte) uint8 {
	sh := &e.sh
	if !e.cfg.allows(VersionTLS12) || sh.legacyVersion != int(VersionTLS12) {
		return AlertProtocolVersion
	}
	if e.hs == cWaitSH2 || sh.hrr {
		return AlertIllegalParameter
	}
	// RFC 8446 §4.1.3: a client that offered TLS 1.3 refuses a downgrade signalled by the server.
	if e.cfg.maxVersion() >= VersionTLS13 {
		tail := string(sh.random[24:])
		if tail == string(downgradeTLS12[:]) || tail == string(downgradeTLS11[:]) {
			return AlertIllegalParameter
		}
	}
	if sh.compression != 0 || sh.hasKeyShare || sh.hasPSK || sh.cookie != nil {
		return AlertIllegalParameter
	}
	if e.sidLen > 0 && string(sh.sessionID) == string(e.sessionID[:e.sidLen]) {
		return AlertIllegalParameter // resumption was not offered
	}
	for _, s := range e.cfg.suites12() {
		if s == sh.suite {
			e.suite = suite12ByID(s)
		}
	}
	if e.suite == nil {
		return AlertIllegalParameter
	}
	if sh.renegInfo == nil || len(sh.renegInfo) != 0 || !sh.ems {
		return AlertHandshakeFailure
	}
	if sh.sni && e.sniName() == "" {
		return AlertUnsupportedExtension
	}
	if sh.alpn != nil {
		for i, p := range e.cfg.ALPN {
			if p == string(sh.alpn) {
				e.alpn = int32(i)
			}
		}
		if e.alpn < 0 {
			return AlertIllegalParameter
		}
	}
	if sh.recordSizeLimit > 0 && sh.mfl != 0 {
		return AlertIllegalParameter // RFC 8449 §5
	}
	if sh.recordSizeLimit > 0 {
		if e.cfg.RecordSizeLimit == 0 {
			return AlertUnsupportedExtension
		}
		e.peerRSL = uint16(min(sh.recordSizeLimit, maxPlaintext) + 1)
	} else if sh.mfl != 0 {
		if sh.mfl != mflCode(e.cfg.client().MaxFragmentLength) {
			return AlertIllegalParameter
		}
		e.mfl = 256 << sh.mfl
	}
	e.applyLimits()
	e.v12 = true
	copy(e.peerRandom[:], sh.random)
	e.ks.selectHash(e.suite.sha384)
	e.ks.addMessage(msg)
	e.hs = c12WaitCert
	return 0
}

// client12Message processes one TLS 1.2 handshake message in the client role.
func (e *Engine) client12Message(msg []byte) uint8 {
	if msg[0] == typeHelloRequest && len(msg) == 4 {
		return 0 // ignored while negotiating (RFC 5246 §7.4.1.1), not part of the transcript
	}
	switch e.hs {
	case c12WaitCert:
		if msg[0] != typeCertificate {
			return AlertUnexpectedMessage
		}
		list, a := parseCertificate12(msg[4:])
		if a != 0 {
			return a
		}
		if len(list) == 0 {
			return AlertDecodeError
		}
		certs, a := readCertList(list, false)
		if a != 0 {
			return a
		}
		if !e.cfg.client().InsecureSkipVerify {
			if a := verifyChain(certs, e.cfg.client().Roots, e.cfg.client().ServerName, e.now(), x509.ExtKeyUsageServerAuth); a != 0 {
				return a
			}
		}
		if a := checkPeerLeaf(certs[0]); a != 0 {
			return a
		}
		// The key must be of the suite's family: RSA for ECDHE_RSA, ECDSA or EdDSA for ECDHE_ECDSA
		// (RFC 5246 §7.4.2, RFC 8422 §5.3).
		_, isRSA := certs[0].PublicKey.(*rsa.PublicKey)
		_, isPSSKey := certs[0].PublicKey.(*RSAPSSPublicKey)
		if (isRSA || isPSSKey) != e.suite.rsa {
			return AlertUnsupportedCert
		}
		e.setCerts(certs)
		e.ks.addMessage(msg)
		e.hs = c12WaitSKE
		return 0
	case c12WaitSKE:
		if msg[0] != typeServerKeyExchange {
			return AlertUnexpectedMessage
		}
		r := reader{b: msg[4:]}
		ctype := r.u8()
		g := CurveID(r.u16())
		pt := r.vec8()
		paramsLen := len(msg) - 4 - len(r.b)
		scheme := SignatureScheme(r.u16())
		sig := r.vec16()
		if !r.done() || len(pt) == 0 || len(sig) == 0 {
			return AlertDecodeError
		}
		offered := false
		for _, gg := range e.cfg.groups(false) {
			offered = offered || gg == g
		}
		if ctype != 3 || (g != X25519 && g != P256) || !offered || len(pt) != clientShareLen(g) || len(pt) > len(e.peerShare) {
			return AlertIllegalParameter
		}
		// RFC 5246 §7.4.3 / RFC 8422 §5.4: the scheme must be one we offered and fit the key (in TLS
		// 1.2 an ECDSA scheme names the hash only, so a P-256 key may sign with SHA-384).
		pub := e.certs()[0].PublicKey
		if !containsScheme(verifySchemes12, scheme) || !schemeFitsKey(pub, scheme, true) {
			return AlertIllegalParameter
		}
		if !verifySignature(pub, scheme, e.ske12Content(msg[4:4+paramsLen]), sig, true, e.verifyBuf[:]) {
			return AlertDecryptError
		}
		e.peerScheme = scheme
		e.group = g
		e.peerShareLen = copy(e.peerShare[:], pt)
		e.ks.addMessage(msg)
		e.hs = c12WaitSHD
		return 0
	case c12WaitSHD:
		if msg[0] == typeCertificateRequest && !e.certReq {
			r := reader{b: msg[4:]}
			types := r.vec8()
			algs := r.vec16()
			cas := r.vec16() // RFC 5246 §7.4.4: DistinguishedName certificate_authorities<0..2^16-1>
			if !r.done() || len(types) == 0 || len(algs) < 2 || len(algs)%2 != 0 || checkDNs(cas) != 0 {
				return AlertDecodeError
			}
			e.certReq = true
			e.certReqAlgs = e.reqAlgsBuf[:0]
			// Our CertificateVerify signs the running transcript hash, so only a scheme with the hash
			// of the suite's PRF can be used: ECDSA P-256 (ecdsa_sign), or RSA-PSS before PKCS1 (rsa_sign).
			cv := e.cvSchemes12()
			if e.ownCert {
				for _, s := range cv {
					fits := (s == cv[0] && e.ownScheme == ECDSAWithP256AndSHA256 && containsByte(types, 64)) ||
						(s != cv[0] && e.ownRSA && containsByte(types, 1))
					if fits && containsU16(algs, uint16(s)) {
						e.certReqAlgs = append(e.certReqAlgs, byte(s>>8), byte(s))
						break
					}
				}
			}
			e.ks.addMessage(msg)
			return 0
		}
		if msg[0] != typeServerHelloDone {
			return AlertUnexpectedMessage
		}
		if len(msg) != 4 {
			return AlertDecodeError
		}
		e.ks.addMessage(msg)
		return e.client12Flight()
	case c12WaitFin:
		if msg[0] != typeFinished {
			return AlertUnexpectedMessage
		}
		if a := e.checkFinished12(msg); a != 0 {
			return a
		}
		return e.done12()
	}
	return AlertUnexpectedMessage
}

func containsScheme(list []SignatureScheme, s SignatureScheme) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// client12Flight sends [Certificate,] ClientKeyExchange, [CertificateVerify,] ChangeCipherSpec and
// Finished.
func (e *Engine) client12Flight() uint8 {
	st := e.stage()
	send := e.certReq && e.ownCert && len(e.certReqAlgs) > 0
	if e.certReq {
		st = e.appendCertificate12(st, send)
		e.ks.addMessage(st)
	}
	at := len(st)
	st = append(st, typeClientKeyExchange, 0, 0, 0, 0)
	var err error
	if e.kex.ec == nil || e.kex.group != e.group {
		st, err = e.kex.generate(e.group, e.cfg.Rand, e.scratch[:], st)
	} else {
		st = append(st, e.kex.ec.PublicKey().Bytes()...)
	}
	if err != nil {
		return AlertInternalError
	}
	n := len(st) - at - 4
	st[at+3], st[at+4] = byte(n), byte(n-1)
	ss, err := e.kex.finish(e.peerShare[:e.peerShareLen], e.ss[:0])
	if err != nil {
		return AlertIllegalParameter
	}
	e.ks.addMessage(st[at:])
	e.keys12(ss)
	if send {
		s := SignatureScheme(e.certReqAlgs[0])<<8 | SignatureScheme(e.certReqAlgs[1])
		sig, err := e.signDigest(s, e.ks.hash())
		if err != nil {
			return AlertInternalError
		}
		at = len(st)
		st = append(st, typeCertificateVerify, 0, byte((len(sig)+4)>>8), byte(len(sig)+4), byte(s>>8), byte(s),
			byte(len(sig)>>8), byte(len(sig)))
		st = append(st, sig...)
		e.ks.addMessage(st[at:])
	}
	e.st = st
	if a := e.flushStaging(); a != 0 {
		return a
	}
	if a := e.queueCCS12(); a != 0 {
		return a
	}
	st = append(e.stage(), typeFinished, 0, 0, verifyData12Len)
	st = e.finished12(st, true)
	e.ks.addMessage(st)
	e.st = st
	if a := e.flushStaging(); a != 0 {
		return a
	}
	e.hs = c12WaitCCS
	return 0
}

// postHandshake12 refuses renegotiation (RFC 5746 allows the no_renegotiation warning) and every
// other post-handshake message.
func (e *Engine) postHandshake12(msg []byte) uint8 {
	if (e.client && msg[0] == typeHelloRequest && len(msg) == 4) || (!e.client && msg[0] == typeClientHello) {
		if !e.closeTx {
			a := [2]byte{1, AlertNoRenegotiation}
			if !e.queue(recordAlert, a[:]) {
				return AlertInternalError
			}
		}
		return 0
	}
	return AlertUnexpectedMessage
}
