package tls

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/subtle"
	"crypto/x509"
	"io"
	"time"
)

// Session is a resumable TLS 1.3 session held by a client: a ticket from the server and the PSK
// derived for it. Get it from Engine.Session after a handshake and put it in Config.Session to
// offer it (psk_dhe_ke) in a later handshake with the same server.
type Session struct {
	suite      uint16
	psk        [48]byte
	ticket     []byte
	ageAdd     uint32
	received   time.Time
	lifetime   time.Duration
	serverName string
	certs      []*x509.Certificate
}

// Expires returns the end of the ticket's lifetime.
func (s *Session) Expires() time.Time { return s.received.Add(s.lifetime) }

const (
	ticketVersion   = 1
	defaultLifetime = 24 * time.Hour
	// ticket plaintext: version(1) suite(2) issued(8) psk(48)
	ticketPlainLen = 1 + 2 + 8 + 48
	ticketLen      = 12 + ticketPlainLen + 16
)

func (e *Engine) ticketsEnabled() bool {
	return e.cfg.TicketKey != [32]byte{} && e.cfg.Time != nil
}

func (e *Engine) ticketAEAD() (cipher.AEAD, error) {
	b, err := aes.NewCipher(e.cfg.TicketKey[:])
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(b)
}

func (e *Engine) lifetime() time.Duration {
	if e.cfg.TicketLifetime > 0 && e.cfg.TicketLifetime <= 7*24*time.Hour {
		return e.cfg.TicketLifetime
	}
	return defaultLifetime
}

// queueTicket sends one NewSessionTicket after the handshake (server role).
func (e *Engine) queueTicket() uint8 {
	var resMaster, psk [48]byte
	e.ks.resumptionMaster(resMaster[:])
	h := e.ks.hlen
	nonce := [1]byte{0}
	e.ks.expandLabel(psk[:h], resMaster[:h], "resumption", nonce[:])
	a, err := e.ticketAEAD()
	if err != nil {
		return AlertInternalError
	}
	var pt [ticketPlainLen]byte
	pt[0] = ticketVersion
	pt[1], pt[2] = byte(e.suite.id>>8), byte(e.suite.id)
	issued := uint64(e.cfg.Time().Unix())
	for i := 0; i < 8; i++ {
		pt[3+i] = byte(issued >> (56 - 8*i))
	}
	copy(pt[11:], psk[:h])
	var rnd [16]byte
	if _, err := io.ReadFull(e.cfg.Rand, rnd[:]); err != nil {
		return AlertInternalError
	}
	life := uint32(e.lifetime() / time.Second)
	m := e.stage()
	bodyLen := 4 + 4 + 2 + 2 + ticketLen + 2
	m = append(m, typeNewSessionTicket, 0, byte(bodyLen>>8), byte(bodyLen),
		byte(life>>24), byte(life>>16), byte(life>>8), byte(life), rnd[12], rnd[13], rnd[14], rnd[15],
		1, 0, byte(ticketLen>>8), byte(ticketLen))
	m = append(m, rnd[:12]...) // ticket AEAD nonce
	m = a.Seal(m, rnd[:12], pt[:], nil)
	m = append(m, 0, 0)
	e.st = m
	return e.flushStaging()
}

// openTicket decrypts a ticket and returns its PSK, or nil if the ticket is not acceptable.
func (e *Engine) openTicket(ticket []byte, dst []byte) []byte {
	if len(ticket) != ticketLen {
		return nil
	}
	a, err := e.ticketAEAD()
	if err != nil {
		return nil
	}
	var buf [ticketPlainLen + 16]byte
	pt, err := a.Open(buf[:0], ticket[:12], ticket[12:], nil)
	if err != nil || pt[0] != ticketVersion {
		return nil
	}
	id := uint16(pt[1])<<8 | uint16(pt[2])
	ts := suiteByID(id)
	if ts == nil || ts.sha384 != e.suite.sha384 {
		return nil
	}
	var issued uint64
	for i := 0; i < 8; i++ {
		issued = issued<<8 | uint64(pt[3+i])
	}
	now := e.cfg.Time().Unix()
	if int64(issued) > now+60 || now-int64(issued) > int64(e.lifetime()/time.Second) {
		return nil
	}
	return append(dst, pt[11:11+e.ks.hlen]...)
}

// serverCheckPSK decides whether to resume with the offered ticket; it writes the ClientHello to
// the transcript (split around the binders when a PSK is checked).
func (e *Engine) serverCheckPSK(msg []byte, ch *clientHello) uint8 {
	e.resumed = false
	if !ch.has(extPreSharedKey) {
		e.ks.addMessage(msg)
		return 0
	}
	if !ch.has(extPSKModes) {
		return AlertMissingExtension
	}
	dhe := false
	for _, m := range ch.pskModes {
		dhe = dhe || m == 1
	}
	var psk []byte
	if dhe && e.ticketsEnabled() && len(ch.pskBinder) == int(e.ks.hlen) {
		psk = e.openTicket(ch.pskIdentity, e.psk[:0])
	}
	cut := len(msg) - ch.bindersLen
	e.ks.addMessage(msg[:cut])
	if psk != nil {
		want := e.ks.binder(e.verifyBuf[:0], psk, e.ks.hash())
		if subtle.ConstantTimeCompare(want, ch.pskBinder) != 1 {
			return AlertDecryptError
		}
		e.resumed = true
	}
	e.ks.addMessage(msg[cut:])
	return 0
}

// clientSessionUsable reports whether cfg.client().Session can be offered in this ClientHello.
func (e *Engine) clientSessionUsable() bool {
	s := e.cfg.client().Session
	if s == nil || len(s.ticket) == 0 || len(s.ticket) > 4096 || s.serverName != e.cfg.client().ServerName || e.cfg.Time == nil {
		return false
	}
	ts := suiteByID(s.suite)
	if ts == nil || !e.cfg.Time().Before(s.Expires()) {
		return false
	}
	if e.suite != nil && e.suite.sha384 != ts.sha384 {
		return false // after a HelloRetryRequest with a suite of another hash
	}
	for _, id := range e.cfg.suites() {
		if id == s.suite {
			return true
		}
	}
	return false
}

// appendPSK appends pre_shared_key (with a zero binder) to a
// ClientHello being built; it returns the offset of the binder.
func (e *Engine) appendPSK(st []byte) ([]byte, int) {
	s := e.cfg.client().Session
	hl := 32
	if suiteByID(s.suite).sha384 {
		hl = 48
	}
	age := uint32(e.cfg.Time().Sub(s.received)/time.Millisecond) + s.ageAdd
	idLen := 2 + len(s.ticket) + 4
	extLen := 2 + idLen + 2 + 1 + hl
	st = append(st, 0, extPreSharedKey, byte(extLen>>8), byte(extLen), byte(idLen>>8), byte(idLen),
		byte(len(s.ticket)>>8), byte(len(s.ticket)))
	st = append(st, s.ticket...)
	st = append(st, byte(age>>24), byte(age>>16), byte(age>>8), byte(age), 0, byte(1+hl), byte(hl))
	at := len(st)
	st = append(st, zeroBinder[:hl]...)
	return st, at
}

// clientTicket handles a NewSessionTicket (client role, after the handshake).
func (e *Engine) clientTicket(msg []byte) uint8 {
	life, ageAdd, nonce, ticket, a := parseNewSessionTicket(msg[4:])
	if a != 0 {
		return a
	}
	if life > 7*24*3600 {
		return AlertIllegalParameter
	}
	if life == 0 || e.cfg.Time == nil || len(ticket) > 4096 {
		return 0
	}
	s := &Session{suite: e.suite.id, ticket: append([]byte(nil), ticket...), ageAdd: ageAdd,
		received: e.cfg.Time(), lifetime: time.Duration(life) * time.Second, serverName: e.cfg.client().ServerName,
		certs: e.certs()}
	h := e.ks.hlen
	e.ks.expandLabel(s.psk[:h], e.resMaster[:h], "resumption", nonce)
	e.session = s
	return 0
}

// Session returns the most recent resumable session received from the server (client role), or nil.
func (e *Engine) Session() *Session {
	if e.hsState == nil { // a server (it drops hsState after the handshake)
		return nil
	}
	return e.session
}
