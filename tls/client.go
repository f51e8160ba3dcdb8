package tls

import (
	"crypto/x509"
	"io"
	"net/netip"
)

// clientStart generates the random, session id and key share and queues the ClientHello.
func (e *Engine) clientStart() {
	if _, err := io.ReadFull(e.cfg.Rand, e.random[:]); err != nil {
		e.fail(AlertInternalError)
		return
	}
	if _, err := io.ReadFull(e.cfg.Rand, e.sessionID[:]); err != nil {
		e.fail(AlertInternalError)
		return
	}
	e.sidLen = 32
	g := e.cfg.groups(false)[0]
	if a := e.sendClientHello(g); a != 0 {
		e.fail(a)
	}
}

// mflCode returns the RFC 6066 code for a max_fragment_length in bytes, 0 if none or invalid.
func mflCode(n int) int {
	switch n {
	case 512:
		return 1
	case 1024:
		return 2
	case 2048:
		return 3
	case 4096:
		return 4
	}
	return 0
}

// sniName returns the SNI host name, "" for none (IP literals are not sent).
func (e *Engine) sniName() string {
	if e.cfg.client().ServerName == "" {
		return ""
	}
	if _, err := netip.ParseAddr(e.cfg.client().ServerName); err == nil {
		return ""
	}
	return e.cfg.client().ServerName
}

// sendClientHello builds a ClientHello with a key share for g (and the HRR cookie) and queues it.
func (e *Engine) sendClientHello(g CurveID) uint8 {
	st := e.stage()
	st = append(st, typeClientHello, 0, 0, 0, 3, 3)
	st = append(st, e.random[:]...)
	st = append(st, byte(e.sidLen))
	st = append(st, e.sessionID[:e.sidLen]...)
	var cs, cs12 []uint16
	v13, v12 := e.cfg.allows(VersionTLS13), e.cfg.allows(VersionTLS12)
	if v13 {
		cs = e.cfg.suites()
	}
	if v12 {
		cs12 = e.cfg.suites12()
	}
	n := len(cs) + len(cs12)
	st = append(st, byte(2*n>>8), byte(2*n))
	for _, s := range cs {
		st = append(st, byte(s>>8), byte(s))
	}
	for _, s := range cs12 {
		st = append(st, byte(s>>8), byte(s))
	}
	st = append(st, 1, 0)
	extAt := len(st)
	st = append(st, 0, 0)
	sent := extBit(extSupportedVersions) | extBit(extSupportedGroups) | extBit(extSignatureAlgorithms)
	if name := e.sniName(); name != "" {
		sent |= extBit(extServerName)
		n := len(name)
		st = append(st, 0, extServerName, byte((n+5)>>8), byte(n+5), byte((n+3)>>8), byte(n+3), 0, byte(n>>8), byte(n))
		st = append(st, name...)
	}
	switch {
	case v13 && v12:
		st = append(st, 0, extSupportedVersions, 0, 5, 4, 3, 4, 3, 3)
	case v13:
		st = append(st, 0, extSupportedVersions, 0, 3, 2, 3, 4)
	default:
		st = append(st, 0, extSupportedVersions, 0, 3, 2, 3, 3)
	}
	if v12 {
		st = appendClient12Ext(st)
		sent |= extBit(extEMS) | extBit(extRenegotiationInfo) | extBit(extECPointFormats)
	}
	// A ClientHello that cannot negotiate TLS 1.3 offers only the groups TLS 1.2 can use
	// (RFC 8422 §5.1.1; X25519MLKEM768 is defined for TLS 1.3 only).
	glAt := len(st)
	st = append(st, 0, extSupportedGroups, 0, 0, 0, 0)
	for _, gg := range e.cfg.groups(false) {
		if v13 || gg == X25519 || gg == P256 {
			st = append(st, byte(gg>>8), byte(gg))
		}
	}
	gl := len(st) - glAt - 6
	st[glAt+2], st[glAt+3], st[glAt+4], st[glAt+5] = byte((gl+2)>>8), byte(gl+2), byte(gl>>8), byte(gl)
	st = appendSigAlgs(st, v12) // rsa_pkcs1_* only when TLS 1.2 is offered (RFC 8446 §4.2.3)
	if len(e.cfg.ALPN) > 0 {
		sent |= extBit(extALPN)
		n := 0
		for _, p := range e.cfg.ALPN {
			n += 1 + len(p)
		}
		st = append(st, 0, extALPN, byte((n+2)>>8), byte(n+2), byte(n>>8), byte(n))
		for _, p := range e.cfg.ALPN {
			st = append(st, byte(len(p)))
			st = append(st, p...)
		}
	}
	if e.cfg.RecordSizeLimit > 0 {
		lim := e.inLimit
		if v12 {
			lim = min(lim, int32(e.inLimit12())) // a TLS 1.2 record also carries the explicit nonce
		}
		st = append(st, 0, extRecordSizeLimit, 0, 2, byte(lim>>8), byte(lim))
		sent |= extBit(extRecordSizeLimit)
	}
	if c := mflCode(e.cfg.client().MaxFragmentLength); c > 0 {
		st = append(st, 0, extMaxFragmentLength, 0, 1, byte(c))
		sent |= extBit(extMaxFragmentLength)
	}
	if e.cookieLen > 0 {
		sent |= extBit(extCookie)
		n := e.cookieLen
		st = append(st, 0, extCookie, byte((n+2)>>8), byte(n+2), byte(n>>8), byte(n))
		st = append(st, e.cookie[:n]...)
	}
	if e.cfg.hooks().earlyData && v13 && e.cookieLen == 0 && !e.hrr {
		st = append(st, 0, extEarlyData, 0, 0)
	}
	if e.cfg.Time != nil && v13 {
		st = append(st, 0, extPSKModes, 0, 2, 1, 1) // psk_dhe_ke: we can use tickets
		sent |= extBit(extPSKModes)
	}
	if v13 {
		sent |= extBit(extKeyShare)
		st = append(st, 0, extKeyShare, 0, 0, 0, 0, byte(g>>8), byte(g), 0, 0)
		shareAt := len(st)
		var err error
		if e.kex.group == g && e.kex.ec != nil {
			// a HelloRetryRequest without key_share (§4.1.2): the same share again
			st = e.kex.appendShare(st)
		} else {
			st, err = e.kex.generate(g, e.cfg.Rand, e.scratch[:], st)
		}
		if err != nil {
			return AlertInternalError
		}
		sl := len(st) - shareAt
		st[shareAt-2], st[shareAt-1] = byte(sl>>8), byte(sl)
		st[shareAt-6], st[shareAt-5] = byte((sl+4)>>8), byte(sl+4)
		st[shareAt-8], st[shareAt-7] = byte((sl+6)>>8), byte(sl+6)
	}
	binderAt := -1
	e.pskOffered = v13 && e.clientSessionUsable()
	if e.pskOffered {
		st, binderAt = e.appendPSK(st) // pre_shared_key is the last extension
		sent |= extBit(extPreSharedKey)
	}
	e.sentExt = sent
	el := len(st) - extAt - 2
	st[extAt], st[extAt+1] = byte(el>>8), byte(el)
	ml := len(st) - 4
	st[1], st[2], st[3] = byte(ml>>16), byte(ml>>8), byte(ml)
	e.st = st
	if binderAt < 0 {
		e.ks.addMessage(st)
		return e.flushStaging()
	}
	// The binder covers the ClientHello up to the binders list (RFC 8446 §4.2.11.2).
	cut := binderAt - 3
	e.ks.addMessage(st[:cut])
	ks := &e.ks
	unselected := ks.th == nil
	if unselected {
		ks.selectHash(suiteByID(e.cfg.client().Session.suite).sha384)
	}
	ks.binder(st[binderAt:binderAt], e.cfg.client().Session.psk[:ks.hlen], ks.hash())
	if unselected {
		ks.th, ks.sha384, ks.hlen = nil, false, 0 // both transcripts continue
	}
	e.ks.addMessage(st[cut:])
	return e.flushStaging()
}

// clientMessage processes one handshake message in the client role.
func (e *Engine) clientMessage(msg []byte) uint8 {
	switch e.hs {
	case cWaitSH, cWaitSH2:
		if msg[0] == typeHelloRequest && len(msg) == 4 && e.cfg.allows(VersionTLS12) {
			return 0 // a TLS 1.2 server may send HelloRequest at any time; ignored while negotiating
		}
		if msg[0] != typeServerHello {
			return AlertUnexpectedMessage
		}
		return e.clientServerHello(msg)
	case cWaitEE:
		if msg[0] != typeEncryptedExtensions {
			return AlertUnexpectedMessage
		}
		ee := &e.ee
		if a := parseEncryptedExtensions(msg[4:], ee, e.sentExt); a != 0 {
			return a
		}
		if ee.mfl != 0 {
			if ee.mfl != mflCode(e.cfg.client().MaxFragmentLength) {
				return AlertIllegalParameter
			}
			if ee.recordSizeLimit == 0 {
				e.mfl = 256 << ee.mfl
				e.applyLimits()
			}
		}
		if ee.alpn != nil {
			for i, p := range e.cfg.ALPN {
				if p == string(ee.alpn) {
					e.alpn = int32(i)
				}
			}
			if e.alpn < 0 {
				return AlertIllegalParameter
			}
		}
		if ee.recordSizeLimit > 0 {
			e.peerRSL = uint16(min(ee.recordSizeLimit, maxPlaintext+1))
			e.applyLimits()
		}
		e.ks.addMessage(msg)
		e.hs = cWaitCertCR
		if e.resumed {
			e.setCerts(e.cfg.client().Session.certs)
			e.hs = cWaitFin
		}
		return 0
	case cWaitCertCR, cWaitCert:
		if msg[0] == typeCertificateRequest && e.hs == cWaitCertCR {
			ctx, algs, a := parseCertificateRequest(msg[4:])
			if a != 0 {
				return a
			}
			if len(ctx) != 0 {
				return AlertIllegalParameter // §4.3.2: zero length unless post-handshake
			}
			e.certReq = true
			e.certReqAlgs = e.reqAlgsBuf[:0]
			if e.ownCert && e.pickOwnScheme(algs, false) {
				e.certReqAlgs = append(e.certReqAlgs, byte(e.ownScheme>>8), byte(e.ownScheme))
			}
			e.ks.addMessage(msg)
			e.hs = cWaitCert
			return 0
		}
		if msg[0] != typeCertificate {
			return AlertUnexpectedMessage
		}
		ctx, list, a := parseCertificate(msg[4:], e.sentExt)
		if a != 0 {
			return a
		}
		if len(ctx) != 0 {
			return AlertIllegalParameter
		}
		if len(list) == 0 {
			return AlertDecodeError
		}
		certs, a := readPeerCertificates(list)
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
		e.setCerts(certs)
		e.ks.addMessage(msg)
		e.hs = cWaitCV
		return 0
	case cWaitCV:
		if msg[0] != typeCertificateVerify {
			return AlertUnexpectedMessage
		}
		if a := e.checkPeerVerify(msg, serverSignatureContext); a != 0 {
			return a
		}
		e.ks.addMessage(msg)
		e.hs = cWaitFin
		return 0
	case cWaitFin:
		if msg[0] != typeFinished {
			return AlertUnexpectedMessage
		}
		if a := e.checkFinished(msg, e.ks.sHS[:]); a != 0 {
			return a
		}
		e.ks.addMessage(msg)
		e.ks.appSecrets()
		return e.clientSecondFlight()
	}
	return AlertUnexpectedMessage
}

// clientSecondFlight sends [Certificate, CertificateVerify,] Finished and switches to traffic keys.
func (e *Engine) clientSecondFlight() uint8 {
	e.queueCCS()
	st := e.stage()
	if e.certReq {
		send := e.ownCert && len(e.certReqAlgs) > 0
		st = e.appendCertificate(st, nil, send)
		e.ks.addMessage(st)
		if send {
			cvAt := len(st)
			var err error
			if st, err = e.appendCertificateVerify(st, clientSignatureContext); err != nil {
				return AlertInternalError
			}
			e.ks.addMessage(st[cvAt:])
		}
	}
	finAt := len(st)
	st = e.appendFinished(st, e.ks.cHS[:])
	e.ks.addMessage(st[finAt:])
	e.ks.resumptionMaster(e.resMaster[:])
	e.st = st
	if a := e.flushStaging(); a != 0 {
		return a
	}
	if a := e.installWrite(e.ks.cAP[:]); a != 0 {
		return a
	}
	if a := e.installRead(e.ks.sAP[:]); a != 0 {
		return a
	}
	e.hs = hsDone
	e.state = Established
	e.wipeHandshakeSecrets()
	return 0
}

// clientServerHello handles a ServerHello or HelloRetryRequest.
func (e *Engine) clientServerHello(msg []byte) uint8 {
	sh := &e.sh
	if a := parseServerHello(msg[4:], sh, e.sentExt); a != 0 {
		return a
	}
	if sh.version == 0 {
		return e.client12ServerHello(msg) // TLS 1.2 or older
	}
	if sh.legacyVersion != int(VersionTLS12) {
		return AlertProtocolVersion // §4.1.3: legacy_version MUST be 0x0303
	}
	if sh.version != int(VersionTLS13) || !e.cfg.allows(VersionTLS13) || sh.ext12 {
		return AlertIllegalParameter
	}
	if sh.compression != 0 || len(sh.sessionID) != int(e.sidLen) || string(sh.sessionID) != string(e.sessionID[:e.sidLen]) {
		return AlertIllegalParameter
	}
	offered := false
	for _, s := range e.cfg.suites() {
		if s == sh.suite {
			offered = true
		}
	}
	if !offered || (e.suite != nil && e.suite.id != sh.suite) {
		return AlertIllegalParameter
	}
	if e.suite == nil {
		e.suite = suiteByID(sh.suite)
		if e.suite == nil {
			return AlertIllegalParameter
		}
		e.ks.selectHash(e.suite.sha384)
	}
	if sh.hrr {
		if e.hs == cWaitSH2 {
			return AlertUnexpectedMessage // §4.1.4: a second HelloRetryRequest
		}
		g := e.kex.group
		if sh.hasKeyShare {
			// §4.2.8: the group must be one we offered, and not the one we sent a share for.
			ok := false
			for _, gg := range e.cfg.groups(false) {
				if gg == sh.group && groupSupported(gg) {
					ok = true
				}
			}
			if !ok || sh.group == e.kex.group {
				return AlertIllegalParameter
			}
			g = sh.group
		} else if sh.cookie == nil {
			return AlertIllegalParameter // §4.1.4: it would not change the ClientHello
		}
		if len(sh.cookie) > len(e.cookie) {
			return AlertIllegalParameter
		}
		e.cookieLen = copy(e.cookie[:], sh.cookie)
		e.hrr = true
		e.ks.restartForHRR()
		e.ks.addMessage(msg)
		e.queueCCS()
		e.hs = cWaitSH2
		return e.sendClientHello(g)
	}
	if !sh.hasKeyShare {
		if sh.hasPSK {
			return AlertIllegalParameter // §4.2.11: psk_dhe_ke requires the server's key_share
		}
		return AlertMissingExtension // only psk_dhe_ke is offered (§4.2.9)
	}
	if sh.group != e.kex.group {
		return AlertIllegalParameter
	}
	if sh.hasPSK {
		if !e.pskOffered || sh.pskIdentity != 0 || suiteByID(e.cfg.client().Session.suite).sha384 != e.suite.sha384 {
			return AlertIllegalParameter
		}
		e.resumed = true
	}
	ss, err := e.kex.finish(sh.share, e.ss[:0])
	if err != nil {
		return AlertIllegalParameter
	}
	e.group = sh.group
	e.ks.addMessage(msg)
	if e.resumed {
		e.ks.handshakeSecrets(e.cfg.client().Session.psk[:e.ks.hlen], ss)
	} else {
		e.ks.handshakeSecrets(nil, ss)
	}
	if a := e.installRead(e.ks.sHS[:]); a != 0 {
		return a
	}
	if a := e.installWrite(e.ks.cHS[:]); a != 0 {
		return a
	}
	e.hs = cWaitEE
	return 0
}
