package ppp

import "time"

// LCP configuration options (RFC 1661 section 6).
const (
	optMRU   = 1
	optACCM  = 2
	optAuth  = 3
	optMagic = 5
	optPFC   = 7
	optACFC  = 8
)

// lcpOpts holds our wanted LCP options and the peer's acknowledged ones.
type lcpOpts struct {
	accm     uint32
	magic    uint32
	hisACCM  uint32
	hisMagic uint32
	mru      uint16 // MRUs are 16-bit options (RFC 1661 §6.1)
	hisMRU   uint16
	auth     Auth
	hisAuth  Auth
	mruNeg   bool
	accmNeg  bool
	authNeg  bool
	magicNeg bool
	pfc      bool
	acfc     bool
	hisPFC   bool
	hisACFC  bool
}

// myMagic is the Magic-Number we negotiated, or 0.
func (o *lcpOpts) myMagic() uint32 {
	if o.magicNeg {
		return o.magic
	}
	return 0
}

// lcpHandler is the Link seen as LCP's option handler.
type lcpHandler Link

// lcpInput checks a received LCP packet for loopback, then runs the automaton.
func (l *Link) lcpInput(p []byte, now time.Time) {
	if len(p) >= 4 && p[0] == codeConfReq && l.lo.magicNeg {
		n := int(p[2])<<8 | int(p[3])
		if n >= 4 && n <= len(p) {
			for o := p[4:n]; len(o) >= 2 && o[1] >= 2 && int(o[1]) <= len(o); o = o[o[1]:] {
				if o[0] == optMagic && o[1] == 6 && get32(o[2:]) == l.lo.magic {
					l.loops = min(l.loops+1, 100) // saturates: 3 is reached once
					if l.loops == 3 {
						// Our own requests come back: give up this attempt.
						l.event(EventLoopback)
						l.lcp.close(now)
						return
					}
				}
			}
		}
	}
	if len(p) >= 4 && p[0] == codeConfReq && l.lcp.state == Opened && l.holdUntil.after(now) {
		l.stats.ConfReqDamped++
		return
	}
	if len(p) >= 1 && p[0] == codeTermReq && l.lcp.state >= ReqSent {
		l.event(EventTerminated)
	}
	l.lcp.input(p, now)
}

func (h *lcpHandler) resetCI() {
	l := (*Link)(h)
	o := &l.lo
	o.mru, o.mruNeg = l.cfg.MRU, l.cfg.MRU != 1500
	o.accm, o.accmNeg = l.cfg.ACCM, true
	o.auth, o.authNeg = l.cfg.RequireAuth, l.cfg.RequireAuth != AuthNone
	o.magic, o.magicNeg = l.random32(), true
	o.pfc, o.acfc = true, true
}

func (h *lcpHandler) addCI(dst []byte) int {
	o := &(*Link)(h).lo
	n := 0
	if o.mruNeg {
		dst[0], dst[1], dst[2], dst[3] = optMRU, 4, byte(o.mru>>8), byte(o.mru)
		n += 4
	}
	if o.accmNeg {
		dst[n], dst[n+1] = optACCM, 6
		put32(dst[n+2:], o.accm)
		n += 6
	}
	if o.authNeg {
		n += putAuthOpt(dst[n:], o.auth)
	}
	if o.magicNeg {
		dst[n], dst[n+1] = optMagic, 6
		put32(dst[n+2:], o.magic)
		n += 6
	}
	if o.pfc {
		dst[n], dst[n+1] = optPFC, 2
		n += 2
	}
	if o.acfc {
		dst[n], dst[n+1] = optACFC, 2
		n += 2
	}
	return n
}

// putAuthOpt writes an Authentication-Protocol option for a.
func putAuthOpt(dst []byte, a Auth) int {
	if a == AuthPAP {
		dst[0], dst[1], dst[2], dst[3] = optAuth, 4, ProtoPAP>>8, ProtoPAP&0xff
		return 4
	}
	dst[0], dst[1], dst[2], dst[3], dst[4] = optAuth, 5, ProtoCHAP>>8, ProtoCHAP&0xff, 5
	return 5
}

func (h *lcpHandler) checkCI(typ byte, val []byte, nak []byte) (byte, int) {
	l := (*Link)(h)
	switch typ {
	case optMRU:
		if len(val) != 2 {
			return codeConfRej, 0
		}
		if int(val[0])<<8|int(val[1]) < 64 {
			nak[0], nak[1], nak[2], nak[3] = optMRU, 4, 0, 64
			return codeConfNak, 4
		}
		return codeConfAck, 0
	case optACCM:
		if len(val) != 4 {
			return codeConfRej, 0
		}
		return codeConfAck, 0
	case optAuth:
		if len(val) < 2 || (l.cfg.User == "" && l.cfg.Secret == "") {
			return codeConfRej, 0
		}
		p := uint16(val[0])<<8 | uint16(val[1])
		if p == ProtoPAP && len(val) == 2 || p == ProtoCHAP && len(val) == 3 && val[2] == 5 {
			return codeConfAck, 0
		}
		return codeConfNak, putAuthOpt(nak, AuthCHAP)
	case optMagic:
		if len(val) != 4 {
			return codeConfRej, 0
		}
		v := get32(val)
		if v == 0 || (l.lo.magicNeg && v == l.lo.magic) {
			m := l.random32()
			for m == l.lo.magic {
				m = l.random32()
			}
			nak[0], nak[1] = optMagic, 6
			put32(nak[2:], m)
			return codeConfNak, 6
		}
		return codeConfAck, 0
	case optPFC, optACFC:
		if len(val) != 0 {
			return codeConfRej, 0
		}
		return codeConfAck, 0
	}
	return codeConfRej, 0
}

func (h *lcpHandler) resetPeerCI() {
	o := &(*Link)(h).lo
	o.hisMRU, o.hisACCM, o.hisAuth, o.hisMagic, o.hisPFC, o.hisACFC = 1500, 0xffffffff, AuthNone, 0, false, false
}

func (h *lcpHandler) applyCI(typ byte, val []byte) {
	o := &(*Link)(h).lo
	switch typ {
	case optMRU:
		o.hisMRU = uint16(val[0])<<8 | uint16(val[1])
	case optACCM:
		o.hisACCM = get32(val)
	case optAuth:
		if uint16(val[0])<<8|uint16(val[1]) == ProtoPAP {
			o.hisAuth = AuthPAP
		} else {
			o.hisAuth = AuthCHAP
		}
	case optMagic:
		o.hisMagic = get32(val)
	case optPFC:
		o.hisPFC = true
	case optACFC:
		o.hisACFC = true
	}
}

func (h *lcpHandler) nakCI(typ byte, val []byte) {
	l := (*Link)(h)
	o := &l.lo
	switch typ {
	case optMRU:
		if !o.mruNeg {
			return
		}
		if len(val) == 2 {
			if v := int(val[0])<<8 | int(val[1]); v >= 64 && v <= int(l.cfg.MRU) {
				o.mru = uint16(v)
				return
			}
		}
		o.mruNeg = false // fall back to the default 1500
	case optACCM:
		if o.accmNeg && len(val) == 4 {
			o.accm |= get32(val) // escaping more is always possible
		}
	case optAuth:
		// Never downgrade; PAP may be upgraded to CHAP-MD5 (Secrets serves both).
		if o.authNeg && o.auth == AuthPAP && len(val) == 3 &&
			uint16(val[0])<<8|uint16(val[1]) == ProtoCHAP && val[2] == 5 {
			o.auth = AuthCHAP
		}
	case optMagic:
		if o.magicNeg {
			m := l.random32()
			for len(val) == 4 && m == get32(val) {
				m = l.random32()
			}
			o.magic = m
		}
	}
}

func (h *lcpHandler) rejCI(typ byte) {
	o := &(*Link)(h).lo
	switch typ {
	case optMRU:
		o.mruNeg = false
	case optACCM:
		o.accmNeg = false
	case optAuth:
		o.authNeg = false
	case optMagic:
		o.magicNeg = false
	case optPFC:
		o.pfc = false
	case optACFC:
		o.acfc = false
	}
}

func (h *lcpHandler) catastrophic(code byte) bool {
	l := (*Link)(h)
	if code == codeEchoReq {
		l.echoOff = true // the peer does not do keepalive
		if l.lcp.state == Opened {
			l.lcpAt = 0 // the echo timer (not a pending re-try: see Link.lcpAt)
		}
	}
	return code >= codeConfReq && code <= codeCodeRej
}

func (h *lcpHandler) extCode(code, id byte, data []byte, now time.Time) bool {
	l := (*Link)(h)
	opened := l.lcp.state == Opened
	switch code {
	case codeProtoRej:
		if opened && len(data) >= 2 {
			l.stats.ProtoRejectsRecv++
			switch uint16(data[0])<<8 | uint16(data[1]) {
			case ProtoIPCP:
				l.ipcp.rxjMinus(now)
			case ProtoIPV6CP:
				if l.v6 != nil {
					l.v6.fsm.rxjMinus(now)
				}
			case ProtoPAP, ProtoCHAP:
				if !l.network {
					l.authFail(l.au.cli != AuthNone && !l.au.cliDone, now)
				}
			}
		}
	case codeEchoReq:
		if !opened || len(data) < 4 {
			return true
		}
		if m := l.lo.myMagic(); m != 0 && get32(data) == m {
			return true // looped back
		}
		l.stats.EchoReqRecv++
		d := l.ctrlBegin(ProtoLCP, codeEchoReply, id)
		if len(d) < 4 {
			l.ctrlAbort()
			return true
		}
		put32(d, l.lo.myMagic())
		l.ctrlCommit(4 + copy(d[4:], data[4:]))
	case codeEchoReply:
		if !opened || len(data) < 4 {
			return true
		}
		if m := l.lo.myMagic(); m != 0 && get32(data) == m {
			return true
		}
		l.stats.EchoRecv++
		l.echoPend = 0
	case codeDiscard:
	default:
		return false
	}
	return true
}

func (h *lcpHandler) up(now time.Time) {
	l := (*Link)(h)
	o := &l.lo
	l.txACCM, l.txPFC, l.txACFC = o.hisACCM, o.hisPFC, o.hisACFC
	l.peerMRU = o.hisMRU
	if o.accmNeg {
		l.rx.accm = o.accm
	} else {
		l.rx.accm = 0xffffffff
	}
	l.loops = 0
	l.stats.LCPOpens++
	if l.cfg.RenegotiateHold > 0 {
		l.holdUntil = at(now.Add(l.cfg.RenegotiateHold))
	}
	l.echoPend, l.echoOff = 0, false
	l.lcpAt = 0 // a re-try still pending is moot once Opened
	if l.cfg.EchoInterval > 0 {
		l.lcpAt = at(now.Add(l.cfg.EchoInterval))
	}
	l.event(EventLCPUp)
	if l.cfg.RequireAuth != AuthNone && !o.authNeg {
		// The peer refused to authenticate itself.
		l.event(EventPeerAuthFailed)
		l.authFailed = true
		l.lcp.close(now)
		return
	}
	l.authStart(now)
}

func (h *lcpHandler) down(now time.Time) {
	l := (*Link)(h)
	l.ipcp.down(now)
	if l.v6 != nil {
		l.v6.fsm.down(now)
	}
	l.network = false
	l.authReset()
	l.lcpAt = 0
	l.lcpDefaults()
	l.event(EventLCPDown)
}

func (h *lcpHandler) started(time.Time) {}

func (h *lcpHandler) finished(now time.Time) {
	l := (*Link)(h)
	l.network = false
	l.loops = 0
	l.event(EventLCPFinished)
	if l.adminOpen {
		if l.authFailed {
			l.lcpAt = at(now.Add(authHoldoff))
		} else {
			l.lcpAt = at(now.Add(holdoff))
		}
	}
	l.authFailed = false
}
