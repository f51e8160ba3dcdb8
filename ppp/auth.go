package ppp

import (
	"crypto/md5"
	"crypto/subtle"
	"time"
	"unsafe"
)

// PAP (RFC 1334) and CHAP with MD5 (RFC 1994), both as authenticator (we
// demand Config.RequireAuth and check with Config.Secrets) and as
// authenticatee (the peer demands it; we answer with Config.User/Secret).

const (
	papReq  = 1
	papAck  = 2
	papNak  = 3
	chapChl = 1
	chapRsp = 2
	chapOK  = 3
	chapNo  = 4

	chapLen = 16 // challenge and MD5 response length
)

// authState is what a Link keeps of authentication for the whole LCP
// session: who must do what and whether it is done, and the last
// identifiers (a duplicate Request after our Ack or Success was lost is
// answered again; the peer may re-challenge us at any time, RFC 1994 §2.3).
// 6 bytes; the timers, retry counts and our challenge are an authPend,
// lent for the Authentication phase only.
type authState struct {
	srv     Auth // what the peer must do for us
	srvDone bool // the peer authenticated
	chalID  uint8
	cli     Auth // what we must do for the peer
	cliDone bool
	cliID   uint8
}

// authPend is the Authentication phase's working state: lent by authStart
// when either side must authenticate, dropped as soon as both are done
// (or the phase fails or restarts). 34 bytes a link holds only while it
// authenticates, instead of always.
type authPend struct {
	srvAt    deadline // CHAP: retransmit the challenge; PAP: give up waiting
	cliAt    deadline // PAP: retransmit the request; CHAP: give up waiting
	srvTries int8     // ≤ maxConfigure
	cliTries int8
	chal     [chapLen]byte
}

// authPendSize is what a link lends itself for the Authentication phase
// (Lent while held; RAM and ControlBufs for a link that may authenticate).
const authPendSize = int(unsafe.Sizeof(authPend{}))

func (l *Link) authReset() {
	l.au = authState{chalID: l.au.chalID, cliID: l.au.cliID}
	l.aup = nil
}

// authTimers returns the phase's deadlines (zero when none runs).
func (l *Link) authTimers() (srv, cli deadline) {
	if l.aup == nil {
		return 0, 0
	}
	return l.aup.srvAt, l.aup.cliAt
}

// authStart begins the Authentication phase once LCP is Opened.
func (l *Link) authStart(now time.Time) {
	a := &l.au
	l.authReset()
	if l.cfg.RequireAuth != AuthNone {
		a.srv = l.lo.auth
	}
	a.cli = l.lo.hisAuth
	a.srvDone, a.cliDone = a.srv == AuthNone, a.cli == AuthNone
	if !a.srvDone || !a.cliDone {
		l.aup = &authPend{} // lent for the phase (authCheck drops it)
	}
	switch a.srv {
	case AuthPAP:
		l.aup.srvAt = at(now.Add(authTimeout))
	case AuthCHAP:
		l.aup.srvTries = maxConfigure
		a.chalID++
		l.random(l.aup.chal[:])
		l.sendChallenge(now)
	}
	switch a.cli {
	case AuthPAP:
		l.aup.cliTries = maxConfigure
		a.cliID++
		l.sendPAPRequest(now)
	case AuthCHAP:
		l.aup.cliAt = at(now.Add(authTimeout))
	}
	l.authCheck(now)
}

// authCheck enters the Network phase when both directions are done.
func (l *Link) authCheck(now time.Time) {
	if l.au.srvDone && l.au.cliDone {
		l.aup = nil // the phase is over: nothing left to time or check
	}
	if l.au.srvDone && l.au.cliDone && !l.network && l.lcp.state == Opened {
		l.network = true
		l.ipcp.up(now)
		if l.v6 != nil {
			l.v6.fsm.up(now)
		}
	}
}

// authFail ends the link after a failed authentication (self: ours).
func (l *Link) authFail(self bool, now time.Time) {
	if self {
		l.event(EventAuthFailed)
	} else {
		l.event(EventPeerAuthFailed)
	}
	l.aup = nil
	l.authFailed = true
	l.lcp.close(now)
}

func (l *Link) authPoll(now time.Time) {
	a, p := &l.au, l.aup
	if p == nil {
		return
	}
	if p.srvAt.due(now) {
		p.srvAt = 0
		if a.srv == AuthCHAP && p.srvTries > 0 && !a.srvDone {
			l.sendChallenge(now)
		} else if !a.srvDone {
			l.authFail(false, now)
			return
		}
	}
	if p.cliAt.due(now) {
		p.cliAt = 0
		if a.cli == AuthPAP && p.cliTries > 0 && !a.cliDone {
			l.sendPAPRequest(now)
		} else if !a.cliDone {
			l.authFail(true, now)
		}
	}
}

func (l *Link) chapName() string {
	if l.cfg.User != "" {
		return l.cfg.User
	}
	return "netcard"
}

func (l *Link) sendChallenge(now time.Time) {
	p := l.aup // lent: we wait for the peer's Response
	p.srvTries--
	p.srvAt = at(now.Add(restartTime))
	d := l.ctrlBegin(ProtoCHAP, chapChl, l.au.chalID)
	if len(d) < 1+chapLen {
		l.ctrlAbort()
		return
	}
	d[0] = chapLen
	copy(d[1:], p.chal[:])
	l.ctrlCommit(1 + chapLen + copy(d[1+chapLen:], l.chapName()))
}

func (l *Link) sendPAPRequest(now time.Time) {
	a, p := &l.au, l.aup // lent: we wait for the peer's Ack
	p.cliTries--
	p.cliAt = at(now.Add(restartTime))
	u, s := l.cfg.User, l.cfg.Secret
	if len(u) > 255 {
		u = u[:255]
	}
	if len(s) > 255 {
		s = s[:255]
	}
	d := l.ctrlBegin(ProtoPAP, papReq, a.cliID)
	if len(d) < 2+len(u)+len(s) {
		l.ctrlAbort()
		return
	}
	d[0] = byte(len(u))
	copy(d[1:], u)
	d[1+len(u)] = byte(len(s))
	copy(d[2+len(u):], s)
	l.ctrlCommit(2 + len(u) + len(s))
}

// sendAuthReply sends a PAP Ack/Nak or CHAP Success/Failure with a message.
func (l *Link) sendAuthReply(proto uint16, code, id byte, msg string) {
	d := l.ctrlBegin(proto, code, id)
	if d == nil {
		return
	}
	if proto == ProtoPAP {
		if len(d) < 1+len(msg) {
			l.ctrlAbort()
			return
		}
		d[0] = byte(len(msg))
		l.ctrlCommit(1 + copy(d[1:], msg))
		return
	}
	l.ctrlCommit(copy(d, msg))
}

// authPacket splits a PAP/CHAP packet into code, identifier and data.
func authPacket(p []byte) (code, id byte, data []byte, ok bool) {
	if len(p) < 4 {
		return 0, 0, nil, false
	}
	n := int(p[2])<<8 | int(p[3])
	if n < 4 || n > len(p) {
		return 0, 0, nil, false
	}
	return p[0], p[1], p[4:n], true
}

// parsePAPRequest splits an Authenticate-Request into peer id and password.
func parsePAPRequest(d []byte) (user, pass []byte, ok bool) {
	if len(d) < 1 || len(d) < 1+int(d[0])+1 {
		return nil, nil, false
	}
	user = d[1 : 1+d[0]]
	d = d[1+int(d[0]):]
	if len(d) < 1+int(d[0]) {
		return nil, nil, false
	}
	return user, d[1 : 1+d[0]], true
}

// parseCHAP splits a Challenge or Response into value and name.
func parseCHAP(d []byte) (value, name []byte, ok bool) {
	if len(d) < 1 || d[0] == 0 || len(d) < 1+int(d[0]) {
		return nil, nil, false
	}
	return d[1 : 1+d[0]], d[1+int(d[0]):], true
}

func (l *Link) papInput(p []byte, now time.Time) {
	code, id, d, ok := authPacket(p)
	if !ok {
		return
	}
	a := &l.au
	switch code {
	case papReq:
		if a.srv != AuthPAP {
			return
		}
		if a.srvDone { // our Ack was lost
			l.sendAuthReply(ProtoPAP, papAck, id, "")
			return
		}
		user, pass, ok := parsePAPRequest(d)
		if !ok {
			return
		}
		if l.checkSecret(user, func(secret string) bool {
			return subtle.ConstantTimeCompare([]byte(secret), pass) == 1
		}) {
			l.sendAuthReply(ProtoPAP, papAck, id, "")
			a.srvDone, l.aup.srvAt = true, 0
			l.event(EventPeerAuthOK)
			l.authCheck(now)
			return
		}
		l.sendAuthReply(ProtoPAP, papNak, id, "bad")
		l.authFail(false, now)
	case papAck, papNak:
		if a.cli != AuthPAP || a.cliDone || id != a.cliID {
			return
		}
		l.aup.cliAt = 0
		if code == papNak {
			l.authFail(true, now)
			return
		}
		a.cliDone = true
		l.event(EventAuthOK)
		l.authCheck(now)
	}
}

// checkSecret looks up user's secret and applies the comparison.
func (l *Link) checkSecret(user []byte, match func(secret string) bool) bool {
	if l.cfg.Secrets == nil {
		return false
	}
	secret, ok := l.cfg.Secrets(string(user))
	ok2 := match(secret)
	return ok && ok2
}

// chapHash is MD5(id || secret || challenge) (RFC 1994 section 4.1).
func chapHash(id byte, secret string, chal []byte) [chapLen]byte {
	h := md5.New()
	h.Write([]byte{id})
	h.Write([]byte(secret))
	h.Write(chal)
	var out [chapLen]byte
	h.Sum(out[:0])
	return out
}

func (l *Link) chapInput(p []byte, now time.Time) {
	code, id, d, ok := authPacket(p)
	if !ok {
		return
	}
	a := &l.au
	switch code {
	case chapChl:
		if a.cli != AuthCHAP {
			return
		}
		val, _, ok := parseCHAP(d)
		if !ok {
			return
		}
		sum := chapHash(id, l.cfg.Secret, val)
		a.cliID = id
		if !a.cliDone {
			l.aup.cliAt = at(now.Add(authTimeout))
		}
		r := l.ctrlBegin(ProtoCHAP, chapRsp, id)
		if len(r) < 1+chapLen {
			l.ctrlAbort()
			return
		}
		r[0] = chapLen
		copy(r[1:], sum[:])
		l.ctrlCommit(1 + chapLen + copy(r[1+chapLen:], l.chapName()))
	case chapRsp:
		if a.srv != AuthCHAP || id != a.chalID {
			return
		}
		if a.srvDone { // our Success was lost
			l.sendAuthReply(ProtoCHAP, chapOK, id, "Welcome")
			return
		}
		val, name, ok := parseCHAP(d)
		if !ok {
			return
		}
		good := len(val) == chapLen && l.checkSecret(name, func(secret string) bool {
			want := chapHash(id, secret, l.aup.chal[:])
			return subtle.ConstantTimeCompare(want[:], val) == 1
		})
		if good {
			l.sendAuthReply(ProtoCHAP, chapOK, id, "Welcome")
			a.srvDone, l.aup.srvAt = true, 0
			l.event(EventPeerAuthOK)
			l.authCheck(now)
			return
		}
		l.sendAuthReply(ProtoCHAP, chapNo, id, "Access denied")
		l.authFail(false, now)
	case chapOK, chapNo:
		if a.cli != AuthCHAP || a.cliDone || id != a.cliID {
			return
		}
		l.aup.cliAt = 0
		if code == chapNo {
			l.authFail(true, now)
			return
		}
		a.cliDone = true
		l.event(EventAuthOK)
		l.authCheck(now)
	}
}
