package tls

import (
	"crypto/sha256"
	"crypto/subtle"
	"crypto/x509"
	"io"
)

// serverMessage processes one handshake message in the server role.
func (e *Engine) serverMessage(msg []byte) uint8 {
	switch e.hs {
	case sWaitCH, sWaitCH2:
		if msg[0] != typeClientHello {
			return AlertUnexpectedMessage
		}
		return e.serverClientHello(msg)
	case sWaitCert:
		if msg[0] != typeCertificate {
			return AlertUnexpectedMessage
		}
		return e.serverClientCertificate(msg)
	case sWaitCV:
		if msg[0] != typeCertificateVerify {
			return AlertUnexpectedMessage
		}
		if a := e.checkPeerVerify(msg, clientSignatureContext); a != 0 {
			return a
		}
		e.ks.addMessage(msg)
		e.hs = sWaitFin
		return 0
	case sWaitFin:
		if msg[0] != typeFinished {
			return AlertUnexpectedMessage
		}
		if a := e.checkFinished(msg, e.ks.cHS[:]); a != 0 {
			return a
		}
		e.ks.addMessage(msg)
		if a := e.installRead(e.ks.cAP[:]); a != 0 {
			return a
		}
		e.hs = hsDone
		if e.state == Handshaking {
			e.state = Established
		}
		var a uint8
		if e.wantTickets && e.ticketsEnabled() {
			a = e.queueTicket()
		}
		e.wipeHandshakeSecrets()
		return a
	}
	return AlertUnexpectedMessage
}

func (e *Engine) serverClientHello(msg []byte) uint8 {
	// The parsed hello lives on the stack: only this call (and the ones it makes) reads it, and
	// its slices alias msg, which is dead once it returns (serverMemory stages the flight over it).
	var chv clientHello
	ch := &chv
	if a := parseClientHello(msg[4:], ch); a != 0 {
		return a
	}
	second := e.hs == sWaitCH2
	if !second {
		switch e.pickVersion(ch) {
		case 0:
			return AlertProtocolVersion
		case VersionTLS12:
			return e.server12Hello(msg, ch)
		}
	}
	if !ch.has(extSupportedVersions) || !containsU16(ch.versions, VersionTLS13) {
		return AlertProtocolVersion
	}
	if len(ch.compression) != 1 || ch.compression[0] != 0 {
		return AlertIllegalParameter
	}
	if second {
		if len(ch.sessionID) != int(e.sidLen) || string(ch.sessionID) != string(e.sessionID[:e.sidLen]) ||
			!containsU16(ch.suites, e.suite.id) || ch.has(extEarlyData) {
			return AlertIllegalParameter
		}
	} else {
		e.sidLen = uint8(copy(e.sessionID[:], ch.sessionID))
		e.cfg.pickSuite(ch.suites, e.cfg.suites(), func(id uint16) bool {
			e.suite = suiteByID(id)
			return e.suite != nil
		})
		if e.suite == nil {
			return AlertHandshakeFailure
		}
	}
	if !ch.has(extSignatureAlgorithms) {
		return AlertMissingExtension
	}
	if !e.pickOwnScheme(ch.sigAlgs, false) {
		return AlertHandshakeFailure
	}
	if !ch.has(extSupportedGroups) || !ch.has(extKeyShare) {
		return AlertMissingExtension
	}
	// §4.2.8: "Clients MUST NOT offer any KeyShareEntry values for groups not listed in the
	// client's supported_groups extension" (servers MAY check: we do).
	if !sharesListed(ch.keyShares, ch.groups) {
		return AlertIllegalParameter
	}
	var share []byte
	if second {
		// §4.1.2: ClientHello2 replaces the shares "with a list containing a single KeyShareEntry
		// from the indicated group" (servers may check: we do, as Go's crypto/tls and OpenSSL).
		share = findShare(ch.keyShares, e.group)
		if share == nil || len(ch.keyShares) != 4+len(share) {
			return AlertIllegalParameter
		}
		if e.cookieSent {
			if !ch.has(extCookie) {
				return AlertMissingExtension
			}
			if sum := sha256.Sum256(ch.cookie); subtle.ConstantTimeCompare(sum[:], e.cookieSum[:]) != 1 {
				return AlertIllegalParameter
			}
		}
		// §4.1.2: ClientHello2 repeats ClientHello1 but for key_share, cookie, early_data (dropped),
		// pre_shared_key and padding.
		if clientHelloSum(msg[4:]) != e.ch1Sum {
			return AlertIllegalParameter
		}
	} else {
		for _, g := range e.cfg.groups(true) {
			if groupSupported(g) && containsU16(ch.groups, uint16(g)) {
				if share = findShare(ch.keyShares, g); share != nil {
					e.group = g
					break
				}
			}
		}
		if share == nil {
			for _, g := range e.cfg.groups(true) {
				if groupSupported(g) && containsU16(ch.groups, uint16(g)) {
					e.group = g
					break
				}
			}
			if e.group == 0 {
				return AlertHandshakeFailure
			}
		}
	}
	if a := e.selectALPN(ch.alpn); a != 0 {
		return a
	}
	e.setServerName(ch.serverName)

	if !second {
		e.ks.selectHash(e.suite.sha384)
		if ch.has(extEarlyData) {
			e.earlySkip = maxEarlySkip // 0-RTT is never accepted: skip it (§4.2.10)
		}
		if share == nil || e.cfg.hooks().hrrAlways {
			e.ch1Sum = clientHelloSum(msg[4:])
			e.ks.addMessage(msg)
			return e.sendHelloRetryRequest(share == nil)
		}
	} else {
		e.earlySkip = 0 // no early data after a HelloRetryRequest
	}
	if a := e.serverCheckPSK(msg, ch); a != 0 {
		return a
	}
	for _, m := range ch.pskModes {
		e.wantTickets = e.wantTickets || m == 1
	}

	// Key exchange and ServerHello. The ServerHello is staged over the ClientHello (serverMemory),
	// from its first byte; from here on only the key share is read of it. What is written before
	// serverKex (52 bytes and the legacy_session_id_echo) ends before the share starts (at least
	// 57 bytes and the legacy_session_id: the hello's header and fixed fields, an extension, a list
	// and an entry header). serverKex reads the share whole (parses the ML-KEM encapsulation key
	// and encapsulates; copies the ECDH share) before it appends what answers it, and the ML-KEM
	// ciphertext (1,088 bytes) then ends before the client's X25519 share (1,184 bytes after the
	// share's start), which is read before our own X25519 share is appended.
	var ss []byte
	var err error
	st := e.stageHello()
	st = append(st, typeServerHello, 0, 0, 0, 3, 3)
	if _, err = io.ReadFull(e.cfg.Rand, e.random[:]); err != nil {
		return AlertInternalError
	}
	st = append(st, e.random[:]...)
	st = append(st, byte(e.sidLen))
	st = append(st, e.sessionID[:e.sidLen]...)
	st = append(st, byte(e.suite.id>>8), byte(e.suite.id), 0)
	extAt := len(st)
	st = append(st, 0, 0, 0, extKeyShare, 0, 0, byte(e.group>>8), byte(e.group), 0, 0)
	shareAt := len(st)
	st, ss, err = serverKex(e.group, share, e.cfg.Rand, e.scratch[:], st, e.ss[:0])
	if err == errBadShare {
		return AlertIllegalParameter
	} else if err != nil {
		return AlertInternalError
	}
	sl := len(st) - shareAt
	st[shareAt-2], st[shareAt-1] = byte(sl>>8), byte(sl)
	st[shareAt-6], st[shareAt-5] = byte((sl+4)>>8), byte(sl+4)
	st = append(st, 0, extSupportedVersions, 0, 2, 3, 4)
	if e.resumed {
		st = append(st, 0, extPreSharedKey, 0, 2, 0, 0)
	}
	el := len(st) - extAt - 2
	st[extAt], st[extAt+1] = byte(el>>8), byte(el)
	ml := len(st) - 4
	st[1], st[2], st[3] = byte(ml>>16), byte(ml>>8), byte(ml)
	e.st = st
	e.ks.addMessage(st)
	if a := e.flushStaging(); a != 0 {
		return a
	}
	e.queueCCS()

	if e.resumed {
		e.ks.handshakeSecrets(e.psk[:e.ks.hlen], ss)
	} else {
		e.ks.handshakeSecrets(nil, ss)
	}
	if a := e.installWrite(e.ks.sHS[:]); a != 0 {
		return a
	}
	if a := e.installRead(e.ks.cHS[:]); a != 0 {
		return a
	}

	// EncryptedExtensions
	st = e.stage()
	st = append(st, typeEncryptedExtensions, 0, 0, 0, 0, 0)
	if ch.serverName != nil {
		st = append(st, 0, extServerName, 0, 0)
	}
	if e.alpn >= 0 {
		p := e.cfg.ALPN[e.alpn]
		st = append(st, 0, extALPN, byte((len(p)+3)>>8), byte(len(p)+3), byte((len(p)+1)>>8), byte(len(p)+1), byte(len(p)))
		st = append(st, p...)
	}
	if ch.recordSizeLimit > 0 {
		lim := e.inLimit
		st = append(st, 0, extRecordSizeLimit, 0, 2, byte(lim>>8), byte(lim))
		e.peerRSL = uint16(min(ch.recordSizeLimit, maxPlaintext+1))
	} else if ch.mfl > 0 {
		st = append(st, 0, extMaxFragmentLength, 0, 1, byte(ch.mfl))
		e.mfl = 256 << ch.mfl
	}
	el = len(st) - 6
	st[1], st[2], st[3], st[4], st[5] = byte((el+2)>>16), byte((el+2)>>8), byte(el+2), byte(el>>8), byte(el)
	// CertificateRequest
	if e.resumed {
		e.ks.addMessage(st) // EncryptedExtensions
		finAt := len(st)
		st = e.appendFinished(st, e.ks.sHS[:])
		e.ks.addMessage(st[finAt:])
		e.st = st
		return e.serverSendFlight()
	}
	if e.cfg.ClientAuth != NoClientCert {
		e.certReq = true
		at := len(st)
		st = append(st, typeCertificateRequest, 0, 0, 0, 0, 0, 0)
		st = appendSigAlgs(st, false)
		n := len(st) - at - 4
		st[at+3] = byte(n)
		st[at+6] = byte(n - 3)
	}
	st = e.appendCertificate(st, nil, true)
	e.ks.addMessage(st)
	cvAt := len(st)
	st, err = e.appendCertificateVerify(st, serverSignatureContext)
	if err != nil {
		return AlertInternalError
	}
	e.ks.addMessage(st[cvAt:])
	finAt := len(st)
	st = e.appendFinished(st, e.ks.sHS[:])
	e.ks.addMessage(st[finAt:])
	e.st = st
	return e.serverSendFlight()
}

// serverSendFlight sends the staged encrypted flight and moves to the application write key.
func (e *Engine) serverSendFlight() uint8 {
	e.applyLimits()
	if a := e.flushStaging(); a != 0 {
		return a
	}
	e.ks.appSecrets()
	if a := e.installWrite(e.ks.sAP[:]); a != 0 {
		return a
	}
	if e.certReq {
		e.hs = sWaitCert
	} else {
		e.hs = sWaitFin
	}
	return 0
}

// sendHelloRetryRequest asks the client for a key share for e.group (withGroup), and/or to echo a
// cookie.
func (e *Engine) sendHelloRetryRequest(withGroup bool) uint8 {
	e.hrr = true
	e.ks.restartForHRR()
	st := e.stageHello()
	st = append(st, typeServerHello, 0, 0, 0, 3, 3)
	st = append(st, hrrRandom[:]...)
	st = append(st, byte(e.sidLen))
	st = append(st, e.sessionID[:e.sidLen]...)
	st = append(st, byte(e.suite.id>>8), byte(e.suite.id), 0)
	extAt := len(st)
	// Extensions in the order of RFC 8448 §5: key_share, cookie, supported_versions.
	st = append(st, 0, 0)
	if withGroup {
		st = append(st, 0, extKeyShare, 0, 2, byte(e.group>>8), byte(e.group))
	}
	if e.cfg.HRRCookie {
		// The cookie is a fresh random value the server compares (in constant time, by its SHA-256)
		// with the one ClientHello2 echoes; it carries no state. Tests may fix its bytes (the
		// hrrCookie test hook).
		c := e.cfg.hooks().hrrCookie
		if len(c) == 0 || len(c) > 256 {
			if _, err := io.ReadFull(e.cfg.Rand, e.scratch[:32]); err != nil {
				return AlertInternalError
			}
			c = e.scratch[:32]
		}
		n := len(c)
		st = append(st, 0, extCookie, byte((n+2)>>8), byte(n+2), byte(n>>8), byte(n))
		st = append(st, c...)
		e.cookieSum, e.cookieSent = sha256.Sum256(c), true
	}
	st = append(st, 0, extSupportedVersions, 0, 2, 3, 4)
	el := len(st) - extAt - 2
	st[extAt], st[extAt+1] = byte(el>>8), byte(el)
	ml := len(st) - 4
	st[1], st[2], st[3] = byte(ml>>16), byte(ml>>8), byte(ml)
	e.st = st
	e.ks.addMessage(st)
	if a := e.flushStaging(); a != 0 {
		return a
	}
	e.queueCCS()
	e.hs = sWaitCH2
	return 0
}

// serverClientCertificate handles the client's Certificate after a CertificateRequest.
func (e *Engine) serverClientCertificate(msg []byte) uint8 {
	ctx, list, a := parseCertificate(msg[4:], 0)
	if a != 0 {
		return a
	}
	if len(ctx) != 0 {
		return AlertIllegalParameter
	}
	e.ks.addMessage(msg)
	if len(list) == 0 {
		if e.cfg.ClientAuth == RequireAnyClientCert || e.cfg.ClientAuth == RequireAndVerifyClientCert {
			return AlertCertificateRequired
		}
		e.hs = sWaitFin
		return 0
	}
	certs, a := readPeerCertificates(list)
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
	e.setCerts(certs)
	if e.cfg.PeerKeyOnly {
		e.setCerts([]*x509.Certificate{KeptPeerCertificate(certs[0])}) // the chain is dropped
	}
	e.hs = sWaitCV
	return 0
}
