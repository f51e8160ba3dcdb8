package sim

import (
	"bytes"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/mlkem"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/binary"
	"errors"
	"fmt"
	"math/big"
	"math/rand/v2"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"testing/cryptotest"
	"time"

	"netcard/card"
	"netcard/ipv4"
	"netcard/ppp"
	"netcard/store"
	"netcard/tcp"
	"netcard/tls"
)

// The hostile-load test of RAMBound (issue 14: "a hard bound nothing can
// exceed"). Since buffers are lent from the heap on first use and shed
// after Profile.ShedMs of quiet, an attacker's lever is to make the card
// lend everything at once, again and again: bursts of every attack below at
// once, separated by quiet spells of ShedMs (so the card sheds mid-state,
// with half-finished handshakes, reassemblies and out-of-order data held,
// and the next burst lends it all again). The card's live heap is
// attributed after every one of its calls that allocated (cardHeap, as in
// MeasurePeakRAM: the between-calls peak is exact), and must never exceed
// RAMBound.

// Attacker connection kinds (hostileBot.kind).
const (
	botFullHello  = iota // the largest legal ClientHello, valid shares: the card sends its flight and waits
	botHRR               // the largest ClientHello with an empty key_share: HelloRetryRequest, then silence
	botHalfHello         // the first half of the largest ClientHello, then silence
	botAnnounce          // a record header announcing 16 KiB and 256 bytes of it, then silence
	botDrip              // the largest ClientHello, one byte every hostileDrip
	botClientCert        // a whole handshake with a 10-certificate client chain, then idle
	botKinds
)

var botNames = [botKinds]string{"full hello", "HRR", "half hello", "16 KiB announced", "drip", "client cert"}

const (
	hostileDrip    = 20 * time.Millisecond
	hostileLife    = 1500 * time.Millisecond // an attacker connection is dropped and replaced after this
	hostileRecvBuf = 20 << 10
)

// hostile is the attacker: connections from its own TCP/IP stack (one
// address), raw TCP that fills reassembly out of order (another address),
// and raw IPv4 and PPP floods, all paused while quiet.
type hostile struct {
	w     *World
	p     card.Profile
	r     *rand.Rand
	own   *ownStack
	quiet bool
	conns int // attacker connections kept open

	// ClientHello records: the largest the card reassembles (a grown
	// buffer, under the card's tls.HandshakeBudget: the others are refused
	// with internal_error meanwhile) and the largest that fit the engine's
	// usual reassembly buffer (every slot can hold one at once).
	full, hrr, fullFit, hrrFit []byte
	ccfg                       *tls.Config
	bots                       []*hostileBot
	n                          int
	discard                    []byte

	raw    *rawOOO
	floods []PacketSource
	turn   int

	// Counters.
	opened, answered, endedByCard [botKinds]int
	ccEstablished, hrrSeen        int
	replies                       map[string]int // first answer by bot kind
}

// hrrRandom is the random of a HelloRetryRequest: SHA-256 of
// "HelloRetryRequest" (RFC 8446 §4.1.3).
var hrrRandom = sha256.Sum256([]byte("HelloRetryRequest"))

type hostileBot struct {
	kind       int
	c          *tcp.Conn
	data       []byte
	sent       int
	eng        *tls.Engine
	born       time.Time
	nextTx     time.Time
	est        bool
	got        int
	counted    bool
	hsDone     bool
	head       [43]byte // the card's first bytes: record header, handshake header, version, random
	classified bool
	fit        bool // its hello fits the engine's usual reassembly buffer
}

func (a *hostile) start() {
	w := a.w
	src := ipv4.Addr{198, 51, 100, 9}
	o := &ownStack{}
	o.ip = ipv4.NewHost(ipv4.Config{Local: src, Rand: NewRand(w.opt.Seed, "hostileip")})
	o.tcp = tcp.NewStack(tcp.Config{MaxConns: 4 * a.conns, RecvBuf: hostileRecvBuf, SendBuf: 20 << 10, MSS: 1460,
		Rand: NewRand(w.opt.Seed, "hostiletcp")})
	o.ip.Register(6, o.tcp)
	a.own = o
	a.raw = &rawOOO{src: ipv4.Addr{198, 51, 100, 10}, hello: a.full, r: rand.New(rand.NewPCG(w.opt.Seed, 0x4f4f))}
	w.InjectIP(a.inject)
	w.DownTap(func(at time.Time, b []byte) {
		o.tap(w, src, at, b)
		a.raw.rx.tap(w, a.raw.src, at, b)
	})
	w.InjectFrames(a.frames(w.opt.Seed))
}

// inject is the attacker's IPv4 packets: its stack's, the raw prober's,
// then one flood packet in turn (none while quiet).
func (a *hostile) inject(dst []byte, now time.Time) int {
	if n := a.own.ip.Output(dst, now); n > 0 {
		return n
	}
	if n := a.raw.output(dst); n > 0 {
		return n
	}
	if a.quiet {
		return 0
	}
	for k := range a.floods {
		i := (a.turn + k) % len(a.floods)
		if n := a.floods[i](dst, now); n > 0 {
			a.turn = i + 1
			return n
		}
	}
	return 0
}

// Service implements Actor.
func (a *hostile) Service(now time.Time) (bool, time.Time) {
	if a.own == nil {
		a.start()
	}
	progress, next := a.own.service(now)
	if p, nx := a.raw.service(now, a.quiet); p {
		progress = true
		next = earliest(next, nx)
	} else {
		next = earliest(next, nx)
	}
	for i := 0; i < len(a.bots); i++ {
		b := a.bots[i]
		if b.c.State() == tcp.Established || b.c.State() == tcp.CloseWait {
			b.est = true
		}
		if b.eng != nil {
			progress = a.driveEngine(b) || progress
		} else {
			for len(b.c.Peek()) > 0 {
				k := b.c.Read(a.discard)
				if b.got < len(b.head) {
					copy(b.head[b.got:], a.discard[:k])
				}
				b.got += k
				a.classify(b, false)
				progress = true
			}
		}
		if b.got > 0 && !b.counted {
			b.counted = true
			a.answered[b.kind]++
		}
		end := false
		switch {
		case b.c.Err() != nil || b.c.EOF():
			a.endedByCard[b.kind]++
			end = true
		case !now.Before(b.born.Add(hostileLife)):
			end = true
		}
		if end {
			a.classify(b, true)

			b.c.Abort()
			a.bots = append(a.bots[:i], a.bots[i+1:]...)
			i--
			progress = true
			continue
		}
		if a.quiet || !b.est || b.data == nil || b.sent >= len(b.data) {
			continue
		}
		if b.kind != botDrip {
			k := b.c.Write(b.data[b.sent:])
			b.sent += k
			progress = progress || k > 0
		} else if !now.Before(b.nextTx) {
			if b.c.Write(b.data[b.sent:b.sent+1]) == 1 {
				b.sent++
				b.nextTx = now.Add(hostileDrip)
				progress = true
			}
		}
		if b.kind == botDrip && b.sent < len(b.data) {
			next = earliest(next, b.nextTx)
		}
	}
	for _, b := range a.bots {
		next = earliest(next, b.born.Add(hostileLife))
	}
	for !a.quiet && len(a.bots) < a.conns {
		c, err := a.own.tcp.Dial(ipv4.Addr{198, 51, 100, 9}, CardIP, 443, now)
		if err != nil {
			break
		}
		b := &hostileBot{kind: a.n % botKinds, c: c, born: now, nextTx: now}
		full, hrr := a.full, a.hrr
		if a.n/botKinds%2 == 1 {
			full, hrr, b.fit = a.fullFit, a.hrrFit, true
		}
		a.n++
		switch b.kind {
		case botFullHello, botDrip:
			b.data = full
		case botHRR:
			b.data = hrr
		case botHalfHello:
			b.data = full[:len(full)/2]
		case botAnnounce:
			b.data = append([]byte{22, 3, 1, 0x40, 0}, a.full[9:9+256]...)
		case botClientCert:
			if a.ccfg == nil {
				b.kind = botFullHello
				b.data = a.full
				break
			}
			b.eng = tls.NewClient(a.ccfg, 0)
		}
		a.opened[b.kind]++
		a.bots = append(a.bots, b)
		progress = true
	}
	return progress, next
}

// classify counts what the card answered a bot first (its record header,
// then its alert or handshake message): once its first 43 bytes are in, or
// when the connection ends.
func (a *hostile) classify(b *hostileBot, last bool) {
	if b.classified || b.got == 0 || (b.got < len(b.head) && !last) {
		return
	}
	b.classified = true
	h, what := b.head[:min(b.got, len(b.head))], "other"
	switch {
	case len(h) >= 7 && h[0] == 21:
		what = fmt.Sprintf("alert %d", h[6])
	case len(h) >= 43 && h[0] == 22 && h[5] == 2 && bytes.Equal(h[11:43], hrrRandom[:]):
		what = "HelloRetryRequest" // RFC 8446 §4.1.3
		if b.kind == botHRR {
			a.hrrSeen++
		}
	case len(h) >= 6 && h[0] == 22 && h[5] == 2:
		what = "ServerHello"
	}
	if a.replies == nil {
		a.replies = map[string]int{}
	}
	size := "largest"
	if b.fit {
		size = "4 KiB"
	}
	a.replies[botNames[b.kind]+" ("+size+"): "+what]++
}

// driveEngine runs a client-certificate bot: its engine's output out, the
// card's records in; once established it stays idle.
func (a *hostile) driveEngine(b *hostileBot) bool {
	p := false
	if !b.est {
		return false
	}
	for b.eng.Pending() > 0 && !a.quiet {
		f := b.c.Free()
		if len(f) == 0 {
			break
		}
		b.c.Commit(b.eng.Output(f))
		p = true
	}
	for {
		in := b.c.Peek()
		if len(in) == 0 {
			break
		}
		n, _, err := b.eng.Unwrap(in)
		b.got += n
		if n > 0 {
			b.c.Consume(n)
			p = true
		}
		if err != nil || n == 0 {
			break
		}
	}
	if b.eng.State() == tls.Established && !b.hsDone {
		b.hsDone = true
		a.ccEstablished++
	}
	return p
}

// frames is the PPP noise the attacker injects: LCP echo and discard
// requests, an unknown LCP code (Code-Reject), unknown protocols and
// control protocols of features the card lacks (Protocol-Reject), paced.
func (a *hostile) frames(seed uint64) PacketSource {
	r := rand.New(rand.NewPCG(seed, 0x5050))
	var next time.Time
	return func(dst []byte, now time.Time) int {
		if a.quiet || now.Before(next) || len(dst) < 1200 {
			return 0
		}
		next = now.Add(5 * time.Millisecond)
		proto, code, data := uint16(ppp.ProtoLCP), byte(9), 4+r.IntN(200) // Echo-Request: magic + data
		switch r.IntN(6) {
		case 1:
			code = 11 // Discard-Request
		case 2:
			code = byte(20 + r.IntN(200)) // unknown code: Code-Reject
		case 3:
			proto, code, data = uint16(0x4000+2*r.IntN(0x1000))|1, 1, r.IntN(1100) // unknown protocol
		case 4:
			proto, code, data = ppp.ProtoIPV6CP, 1, 10 // IPV6CP Configure-Request (no IPv6: Protocol-Reject)
		case 5:
			proto, code, data = 0x80fd, 1, 4+r.IntN(300) // CCP Configure-Request: Protocol-Reject
		}
		binary.BigEndian.PutUint16(dst, proto)
		p := dst[2:]
		p[0], p[1] = code, byte(r.Uint32())
		binary.BigEndian.PutUint16(p[2:], uint16(4+data))
		for i := 4; i < 4+data; i++ {
			p[i] = byte(r.Uint32())
		}
		if proto == uint16(ppp.ProtoLCP) && code == 9 {
			clear(p[4:8]) // magic number 0
		}
		return 2 + 4 + data
	}
}

// paceSrc passes src's packets at most one every d, none while quiet.
func (a *hostile) paceSrc(src PacketSource, d time.Duration) PacketSource {
	var next time.Time
	return func(dst []byte, now time.Time) int {
		if a.quiet || now.Before(next) {
			return 0
		}
		n := src(dst, now)
		if n > 0 {
			next = now.Add(d)
		}
		return n
	}
}

// udpFlood returns a source of UDP datagrams to the card from spoofed
// addresses: DNS queries to port 53, to the DNS stub's ephemeral range and
// to random ports (ICMP port unreachable, rate-limited).
func udpFlood(seed uint64) PacketSource {
	r := rand.New(rand.NewPCG(seed, 0x5544))
	return func(dst []byte, _ time.Time) int {
		pl := 12 + 5 + 4 + r.IntN(480)
		n := ipv4.HeaderLen + 8 + pl
		if len(dst) < n {
			return 0
		}
		src := spoofed(r)
		u := dst[ipv4.HeaderLen:n]
		binary.BigEndian.PutUint16(u[0:], uint16(1024+r.IntN(60000)))
		port := []uint16{53, uint16(49152 + r.IntN(16384)), uint16(r.Uint32()), 5353}[r.IntN(4)]
		binary.BigEndian.PutUint16(u[2:], port)
		binary.BigEndian.PutUint16(u[4:], uint16(8+pl))
		binary.BigEndian.PutUint16(u[6:], 0) // no checksum (RFC 768)
		q := u[8:]
		binary.BigEndian.PutUint16(q, uint16(r.Uint32()))
		q[2], q[3] = 1, 0 // a query, RD
		if r.IntN(2) == 0 {
			q[2] = 0x81 // a response
		}
		binary.BigEndian.PutUint16(q[4:], 1)
		clear(q[6:12])
		for i := 12; i < len(q); i++ {
			q[i] = byte('a' + r.IntN(26))
		}
		putIP(dst, src, 17, uint16(r.Uint32()), 8+pl)
		return n
	}
}

// rawOOO is a raw TCP prober: it opens a connection by hand, sends the
// first 261 bytes of a 16 KiB ClientHello record in order and then segments
// of the record out of order (a 1-byte hole first), to fill the card's
// reassembly ranges and receive buffer, and stalls; after hostileLife it
// starts again from a new port.
type rawOOO struct {
	src      ipv4.Addr
	r        *rand.Rand
	hello    []byte
	rx       ownStack // deframes the card's packets for src (its ip and tcp stay nil)
	out      [][]byte
	port     uint16
	iss, irs uint32
	state    int // 0: idle, 1: SYN sent, 2: data sent
	born     time.Time
	segs     int // out-of-order segments sent
}

func (o *rawOOO) seg(seq, ack uint32, flags uint8, data []byte) {
	b := make([]byte, ipv4.HeaderLen+20+len(data))
	s := b[ipv4.HeaderLen:]
	binary.BigEndian.PutUint16(s[0:], o.port)
	binary.BigEndian.PutUint16(s[2:], 443)
	binary.BigEndian.PutUint32(s[4:], seq)
	binary.BigEndian.PutUint32(s[8:], ack)
	s[12] = 5 << 4
	s[13] = flags
	binary.BigEndian.PutUint16(s[14:], 65535)
	copy(s[20:], data)
	binary.BigEndian.PutUint16(s[16:], tcp.Checksum(o.src, CardIP, s))
	putIP(b, o.src, 6, uint16(o.r.Uint32()), len(s))
	o.out = append(o.out, b)
}

func (o *rawOOO) output(dst []byte) int {
	if len(o.out) == 0 {
		return 0
	}
	n := copy(dst, o.out[0])
	o.out = o.out[1:]
	return n
}

func (o *rawOOO) service(now time.Time, quiet bool) (bool, time.Time) {
	progress := false
	for len(o.rx.q) > 0 && !o.rx.q[0].at.After(now) {
		pkt := o.rx.q[0].pkt
		o.rx.q = o.rx.q[1:]
		progress = true
		if len(pkt) < ipv4.HeaderLen+20 || pkt[9] != 6 {
			continue
		}
		h, err := tcp.ParseHeader(pkt[ipv4.HeaderLen:])
		if err != nil || h.DstPort != o.port {
			continue
		}
		switch {
		case h.Flags&tcp.FlagRST != 0:
			o.state = 0
		case o.state == 1 && h.Flags&(tcp.FlagSYN|tcp.FlagACK) == tcp.FlagSYN|tcp.FlagACK:
			o.irs = h.Seq + 1
			seq := o.iss + 1
			o.seg(seq, o.irs, tcp.FlagACK|tcp.FlagPSH, o.hello[:261])
			for k := 0; k < 12; k++ {
				off := 262 + k*700
				o.seg(seq+uint32(off), o.irs, tcp.FlagACK, o.hello[off:off+600])
				o.segs++
			}
			o.state = 2
		}
	}
	if !quiet && (o.state == 0 || !now.Before(o.born.Add(hostileLife))) {
		if o.state != 0 {
			o.seg(o.iss+1, o.irs, tcp.FlagRST, nil)
		}
		o.port = uint16(20000 + o.r.IntN(40000))
		o.iss = o.r.Uint32()
		o.seg(o.iss, 0, tcp.FlagSYN, nil)
		o.state, o.born = 1, now
		progress = true
	}
	var next time.Time
	if !quiet { // while quiet an expired probe waits for the next burst, not for time
		next = o.born.Add(hostileLife)
	}
	if len(o.rx.q) > 0 {
		next = earliest(next, o.rx.q[0].at)
	}
	return progress, next
}

// bigHello returns a TLS 1.3 ClientHello handshake message of exactly size
// bytes (header included), as large as the card reassembles: GREASE (RFC
// 8701) in the cipher suites, groups, versions, signature algorithms and
// two extensions; key shares for X25519MLKEM768 and X25519 beside a GREASE
// one (valid keys: the card completes the exchange) or, when shares is
// false, none at all (RFC 8446 §4.2.8: the client asks for a
// HelloRetryRequest); a long ALPN list ending in http/1.1; padding (RFC
// 7685) to the size.
func bigHello(r *rand.Rand, size int, shares bool) []byte {
	grease := func() uint16 { g := uint16(r.IntN(16)); return g<<12 | 0x0a00 | g<<4 | 0x0a }
	u16 := func(b []byte, v uint16) []byte { return binary.BigEndian.AppendUint16(b, v) }
	ext := func(b []byte, typ uint16, body []byte) []byte {
		return append(u16(u16(b, typ), uint16(len(body))), body...)
	}
	list16 := func(vs ...uint16) []byte {
		b := u16(nil, uint16(2*len(vs)))
		for _, v := range vs {
			b = u16(b, v)
		}
		return b
	}
	var exts []byte
	ge := grease()
	exts = ext(exts, ge, nil)
	sni := []byte(longServerName) // the longest host name (the engine keeps a copy)
	exts = ext(exts, 0, append(u16(append(u16(nil, uint16(len(sni)+3)), 0), uint16(len(sni))), sni...))
	exts = ext(exts, 23, nil)           // extended_master_secret
	exts = ext(exts, 0xff01, []byte{0}) // renegotiation_info
	gg := grease()                      // the GREASE group: its key share must name a group listed (RFC 8446 §4.2.8)
	exts = ext(exts, 10, list16(gg, uint16(tls.X25519MLKEM768), uint16(tls.X25519), uint16(tls.P256)))
	exts = ext(exts, 11, []byte{1, 0}) // ec_point_formats
	exts = ext(exts, 35, nil)          // session_ticket
	exts = ext(exts, 13, list16(grease(), 0x0403, 0x0804, 0x0401, 0x0503, 0x0805, 0x0501, 0x0806, 0x0601, 0x0807))
	exts = ext(exts, 5, []byte{1, 0, 0, 0, 0}) // status_request
	exts = ext(exts, 18, nil)                  // signed_certificate_timestamp
	var ks []byte
	if shares {
		ks = u16(u16(ks, gg), 1)
		ks = append(ks, 0)
		dk, err := mlkem.GenerateKey768()
		if err != nil {
			panic(err)
		}
		xk, err := ecdh.X25519().GenerateKey(nil)
		if err != nil {
			panic(err)
		}
		share := append(dk.EncapsulationKey().Bytes(), xk.PublicKey().Bytes()...)
		ks = append(u16(u16(ks, uint16(tls.X25519MLKEM768)), uint16(len(share))), share...)
		xk2, _ := ecdh.X25519().GenerateKey(nil)
		ks = append(u16(u16(ks, uint16(tls.X25519)), 32), xk2.PublicKey().Bytes()...)
	}
	exts = ext(exts, 51, append(u16(nil, uint16(len(ks))), ks...))
	exts = ext(exts, 45, []byte{1, 1})                      // psk_key_exchange_modes: psk_dhe_ke
	exts = ext(exts, 43, []byte{6, 0x7a, 0x7a, 3, 4, 3, 3}) // supported_versions
	exts = ext(exts, 27, []byte{2, 0, 2})                   // compress_certificate (brotli)
	head := []byte{1, 0, 0, 0, 3, 3}
	for range 32 {
		head = append(head, byte(r.Uint32()))
	}
	head = append(head, 32)
	for range 32 {
		head = append(head, byte(r.Uint32()))
	}
	head = append(head, list16(grease(), 0x1301, 0x1302, 0x1303, 0xc02b, 0xc02f, 0xc02c, 0xc030, 0xcca9, 0xcca8)...)
	head = append(head, 1, 0)
	// ALPN: names of 200 bytes, then http/1.1; the GREASE extension last
	// (1 byte), and padding to the size.
	fixed := len(head) + 2 + len(exts) + 4 + 1 + 4 // + extensions length, + final GREASE extension
	room := size - fixed - 4 - 2 - 9 - 4           // ALPN extension header, list length, http/1.1, padding header
	var alpn []byte
	for room-len(alpn) >= 201 && len(alpn) < 60000 {
		alpn = append(alpn, 200)
		for range 200 {
			alpn = append(alpn, byte('a'+r.IntN(26)))
		}
	}
	alpn = append(alpn, 8)
	alpn = append(alpn, "http/1.1"...)
	exts = ext(exts, 16, append(u16(nil, uint16(len(alpn))), alpn...))
	pad := size - (len(head) + 2 + len(exts) + 4 + 1 + 4)
	exts = ext(exts, 21, make([]byte, pad))
	exts = ext(exts, ge^0x1010, []byte{0}) // another GREASE value: no extension twice (RFC 8446 §4.2)
	m := append(u16(head, uint16(len(exts))), exts...)
	if len(m) != size {
		panic(fmt.Sprintf("bigHello: %d bytes, want %d", len(m), size))
	}
	n := size - 4
	m[1], m[2], m[3] = byte(n>>16), byte(n>>8), byte(n)
	return m
}

// helloRecords frames a handshake message in TLS records of at most 16 KiB.
func helloRecords(m []byte) []byte {
	var out []byte
	for len(m) > 0 {
		k := min(len(m), 16384)
		out = append(out, 22, 3, 1, byte(k>>8), byte(k))
		out = append(out, m[:k]...)
		m = m[k:]
	}
	return out
}

// clientChain returns a chain of n certificates (ECDSA P-256; the leaf's
// key signs) each padded with an extension so that the chain's
// Certificate message stays under limit bytes.
func clientChain(r *rand.Rand, n, limit int) ([][]byte, *ecdsa.PrivateKey, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), nil)
	if err != nil {
		return nil, nil, err
	}
	per := (limit-64)/n - 7 - 500 // the certificate's own fields ≈ 500 bytes
	var chain [][]byte
	for i := range n {
		pad := make([]byte, max(per, 0))
		for j := range pad {
			pad[j] = byte(r.Uint32())
		}
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(int64(i + 1)),
			Subject:      pkix.Name{CommonName: fmt.Sprintf("hostile %d", i)},
			NotBefore:    Epoch.Add(-time.Hour), NotAfter: Epoch.Add(24 * time.Hour),
			ExtKeyUsage:     []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
			ExtraExtensions: []pkix.Extension{{Id: []int{1, 3, 6, 1, 4, 1, 55555, 1}, Value: pad}},
		}
		der, err := x509.CreateCertificate(nil, tmpl, tmpl, &key.PublicKey, key)
		if err != nil {
			return nil, nil, err
		}
		chain = append(chain, der)
	}
	return chain, key, nil
}

// hostileResult is one profile's run.
type hostileResult struct {
	peak, bound int64
	phase       string
	calls       int
	samples     int
	bursts      int
	shedMid     int // quiet spells after which the card had shed with connections open
	wall        time.Duration
	h           *hostile
}

// runHostile runs the hostile load against a card of profile p for bursts
// bursts and returns the card's peak live heap between calls.
func runHostile(t *testing.T, p card.Profile, st *store.Store, bursts int, seed uint64) hostileResult {
	t.Helper()
	start := time.Now()
	res := hostileResult{}
	b, err := RAMBound(p, st) // also warms process-wide crypto state before the baseline
	if err != nil {
		t.Fatal(err)
	}
	res.bound = b.Bytes
	for _, part := range b.Parts {
		t.Logf("  bound part %7d B  %s", part.Bytes, part.Name)
	}
	r := rand.New(rand.NewPCG(seed, 0x484f))
	limit := p.MaxHandshakeMessage
	if limit <= 0 {
		limit = tls.DefaultMaxHandshakeMessage
	}
	a := &hostile{p: p, r: r, conns: p.MaxConns + 2, discard: make([]byte, 4096)}
	a.full = helloRecords(bigHello(r, limit, true))
	a.hrr = helloRecords(bigHello(r, limit, false))
	fit := min(limit, cardHelloRoom(t, p, st)) // the ClientHello area of the server's handshake slab
	a.fullFit = helloRecords(bigHello(r, fit, true))
	a.hrrFit = helloRecords(bigHello(r, fit, false))
	if st.AdminKey() != nil {
		chain, key, err := clientChain(r, 10, limit-4)
		if err != nil {
			t.Fatal(err)
		}
		a.ccfg = &tls.Config{Rand: NewRand(seed, "hostilecc"), Client: &tls.ClientConfig{InsecureSkipVerify: true}, Certificate: chain,
			Signer: key, ALPN: []string{"http/1.1"}, Time: func() time.Time { return Epoch }}
	}
	a.floods = []PacketSource{
		a.paceSrc(SYNFlood(seed, 443), time.Millisecond),
		a.paceSrc(SYNFlood(seed+1, 80), 3*time.Millisecond),
		a.paceSrc(ICMPFlood(seed, p.MRU), 2*time.Millisecond),
		a.paceSrc(FragmentFlood(seed, p.MRU-ipv4.HeaderLen), 2*time.Millisecond),
		a.paceSrc(udpFlood(seed), 2*time.Millisecond),
	}

	old := runtime.MemProfileRate
	runtime.MemProfileRate = 1
	defer func() { runtime.MemProfileRate = old }()
	detachStore(st)
	h := &cardHeap{kind: map[[32]uintptr]uint8{}, mark: cardFrame}
	h.base = h.snapshot()
	phase := "start"
	sample := func() {
		live, _ := h.card()
		res.samples++
		if live > res.peak {
			res.peak, res.phase = live, phase
			if os.Getenv("NETCARD_PEAKDUMP") != "" {
				h.dump(os.Stderr, phase)
			}
		}
	}
	var ms runtime.MemStats
	var m0 uint64
	before := func() { runtime.ReadMemStats(&ms); m0 = ms.Mallocs }
	after := func() {
		res.calls++
		runtime.ReadMemStats(&ms)
		if ms.Mallocs != m0 {
			sample()
		}
	}
	w, err := New(Options{Profile: p, Store: st, Seed: seed, Baud: 2_000_000, Chunk: time.Millisecond,
		HostSendBuf: 40 << 10, ClientRecordOut: 16384, ClientRecordSizeLimit: 16385})
	if err != nil {
		t.Fatal(err)
	}
	sample()
	w.wrap = &cardCalls{
		input: func(b []byte, now time.Time) { before(); w.card.Input(b, now); after() },
		poll: func(now time.Time) time.Time {
			before()
			next := w.card.Poll(now)
			after()
			return next
		},
		output: func(b []byte, now time.Time) int { before(); n := w.card.Output(b, now); after(); return n },
	}
	phase = "handshake"
	if _, err := w.HandshakeIdle(10 * time.Second); err != nil {
		t.Fatal(err)
	}
	a.w = w
	w.AddActor(a)
	shed := time.Duration(p.ShedMs) * time.Millisecond
	run := func(d time.Duration) { // time passes: nothing may keep the world spinning at one instant
		if err := w.RunUntil(nil, d); !errors.Is(err, ErrLimit) {
			t.Fatalf("%s at %v: %v", phase, w.Elapsed(), err)
		}
	}
	body := RandomFile(seed, 48<<10)
	var legit *Client
	legitOK, legitTried := 0, 0
	for i := range bursts {
		res.bursts++
		phase = fmt.Sprintf("burst %d", i)
		a.quiet = false
		if legit == nil || legit.Done() {
			if legit != nil {
				legitTried++
				if legit.Err() == nil && legit.Status == 200 {
					legitOK++
				}
			}
			if i%2 == 0 {
				legit, err = w.StartPut("/upload", body, 20*time.Second)
			} else {
				legit, err = w.StartGet("/status.json", 20*time.Second)
			}
			if err != nil {
				legit = nil
			}
		}
		run(time.Duration(200+r.IntN(1000)) * time.Millisecond)
		// A quiet spell: the attackers stop until the card sheds — ShedMs
		// after the line's last byte, with everything above half done —
		// and the next burst lends it all again at once. One spell in four
		// ends a millisecond before the card would shed.
		phase = fmt.Sprintf("quiet %d", i)
		a.quiet = true
		_ = w.RunUntil(func() bool { return w.up.idle(w.now) && w.down.idle(w.now) }, 2*time.Second)
		lent := w.card.Lent()
		if i%4 == 3 {
			run(shed - time.Millisecond)
		} else {
			err := w.RunUntil(func() bool { return w.card.Lent() < lent }, 3*time.Second)
			if err != nil && !errors.Is(err, ErrLimit) {
				t.Fatalf("%s at %v: %v", phase, w.Elapsed(), err)
			}
			if err == nil && len(w.card.Status(w.now).Conns) > 0 {
				res.shedMid++ // the card shed with connections open
			}
		}
	}
	a.quiet = false
	w.RemoveActor(a)
	ts, is, ps := w.card.TCP().Stats(), w.card.IP().Stats(), w.card.Link().Stats()
	t.Logf("%s: card: TCP segs in %d, SYN cookies sent %d, slots recycled %d, challenge ACKs %d, dup ACKs/OOO kept %d/%d; "+
		"IP fragments %d (no slot %d, timed out %d), ICMP echo in %d, out %d, rate-limited %d; PPP frames in %d, "+
		"echo requests %d, Protocol-Rejects %d, discarded %d",
		p.Name, ts.SegsIn, ts.SynCookiesSent, ts.SlotsRecycled, ts.ChallengeACKs, ts.DropOOO, a.raw.segs,
		is.FragIn, is.FragNoSlot, is.FragTimeout, is.ICMPEchoIn, is.ICMPEchoOut, is.ICMPRateLimited, ps.FramesIn,
		ps.EchoReqRecv, ps.ProtoRejectsSent, ps.Discarded)
	runtime.KeepAlive(w)
	res.wall = time.Since(start)
	res.h = a
	t.Logf("%s: legitimate exchanges %d of %d succeeded during the storm", p.Name, legitOK, legitTried)
	return res
}

// TestHostileRAMBound: under every attack at once (attacker connections
// beyond MaxConns holding the largest legal ClientHellos half-sent, stalled
// after the card's flight or after a HelloRetryRequest, dripping, announcing
// 16 KiB records; a client-certificate chain of 10; raw TCP out of order;
// SYN floods on both ports; ICMP echo, IPv4 fragment and UDP/DNS floods;
// PPP control noise), in bursts separated by quiet spells of ShedMs (the
// card sheds mid-state and lends everything again), the card's live heap
// never exceeds RAMBound — for the 4-slot Card profile (client
// authentication on: the store holds an admin key), the one-slot card and
// Tiny.
func TestHostileRAMBound(t *testing.T) {
	cryptotest.SetGlobalRandom(t, 14)
	bursts := 24
	if testing.Short() {
		bursts = 8
	}
	for _, c := range []struct {
		p     card.Profile
		admin bool
	}{{card.CardProfile, true}, {OneConnCard(), false}, {card.TinyProfile, false}, {card.TinyProfile.WithIPv6(), false}} {
		t.Run(c.p.Name, func(t *testing.T) {
			st, err := NewStore(14, 0, nil)
			if err != nil {
				t.Fatal(err)
			}
			if c.admin {
				k, err := ecdsa.GenerateKey(elliptic.P256(), nil)
				if err != nil {
					t.Fatal(err)
				}
				spki, err := x509.MarshalPKIXPublicKey(&k.PublicKey)
				if err != nil {
					t.Fatal(err)
				}
				if err := st.SetAdminKey(spki); err != nil {
					t.Fatal(err)
				}
			}
			res := runHostile(t, c.p, st, bursts, hostileSeed())
			a := res.h
			var kinds []string
			for k := range botKinds {
				kinds = append(kinds, fmt.Sprintf("%s %d/%d/%d", botNames[k], a.opened[k], a.answered[k], a.endedByCard[k]))
			}
			t.Logf("%s: attacker connections opened/answered/ended by the card: %s; HelloRetryRequests %d, client cert handshakes %d",
				c.p.Name, strings.Join(kinds, ", "), a.hrrSeen, a.ccEstablished)
			var rs []string
			for k, v := range a.replies {
				rs = append(rs, fmt.Sprintf("%s ×%d", k, v))
			}
			slices.Sort(rs)
			t.Logf("%s: the card's first answers: %s", c.p.Name, strings.Join(rs, "; "))
			t.Logf("%s: peak %d B in %s; bound %d B (%+d), budget %d B; %d bursts (%d quiet spells ended in a shed with connections open), %d calls, %d samples, %v",
				c.p.Name, res.peak, res.phase, res.bound, res.bound-res.peak, c.p.Budget(), res.bursts, res.shedMid, res.calls, res.samples,
				res.wall.Round(time.Millisecond))
			// The attacks are real: on the 4-slot card every kind of attacker
			// connection got an answer (the card's flight, an HRR, an alert or
			// a reset) and client certificates were taken.
			for k := range botKinds {
				if c.p.MaxConns > 1 && a.answered[k] == 0 {
					t.Errorf("%s: no %s connection was answered", c.p.Name, botNames[k])
				}
			}
			if c.p.MaxConns > 1 && a.hrrSeen == 0 {
				t.Errorf("%s: no HelloRetryRequest", c.p.Name)
			}
			if c.admin && a.ccEstablished == 0 {
				t.Errorf("%s: no handshake with a client certificate", c.p.Name)
			}
			if res.shedMid == 0 {
				t.Errorf("%s: the card never shed mid-state", c.p.Name)
			}
			if res.peak > res.bound {
				t.Errorf("%s: live heap %d B exceeds RAMBound %d B by %d B", c.p.Name, res.peak, res.bound, res.peak-res.bound)
			}
		})
	}
}

// cardHelloRoom is the ClientHello area of a server engine configured as
// the card of profile p (tls.Engine.HelloRoom).
func cardHelloRoom(t *testing.T, p card.Profile, st *store.Store) int {
	t.Helper()
	signer, err := st.Signer()
	if err != nil {
		t.Fatal(err)
	}
	cfg := &tls.Config{TicketKey: [32]byte{1}, Rand: NewRand(1, "room"), Time: func() time.Time { return Epoch },
		Certificate: st.Certificate(), Signer: signer, ALPN: []string{"http/1.1"}, MaxRecordOut: uint16(p.RecordOut),
		MaxHandshakeMessage: int32(p.MaxHandshakeMessage), RecordSizeLimit: uint16(p.RecordSizeLimit)}
	n := tls.NewServer(cfg, p.RecvBuf).HelloRoom()
	if n < 512 {
		t.Fatalf("%s: ClientHello area %d B", p.Name, n)
	}
	return n
}

// TestHostileHellosAreLegal: the attacker's largest ClientHellos are ones
// the card must serve: a server engine configured as the card's answers
// the one with key shares with its ServerHello and flight, and the one
// without with a HelloRetryRequest; each exactly fills the server's
// ClientHello area (tls.Engine.HelloRoom) while the handshake budget is
// taken, or is exactly MaxHandshakeMessage bytes with the budget free.
func TestHostileHellosAreLegal(t *testing.T) {
	cryptotest.SetGlobalRandom(t, 15)
	st, err := NewStore(15, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := st.Signer()
	if err != nil {
		t.Fatal(err)
	}
	p := card.CardProfile
	r := rand.New(rand.NewPCG(15, 15))
	// The card's handshake budget, its one slot taken by a stalled big hello:
	// the hellos that fit the usual buffer need none.
	budget := tls.NewHandshakeBudget(1, 10*time.Second)
	cfg := &tls.Config{TicketKey: [32]byte{1}, Rand: NewRand(15, "hello"), Time: func() time.Time { return Epoch },
		Certificate: st.Certificate(), Signer: signer, ALPN: []string{"http/1.1"}, MaxRecordOut: uint16(p.RecordOut),
		MaxHandshakeMessage: int32(p.MaxHandshakeMessage), HandshakeBudget: budget}
	big := helloRecords(bigHello(r, p.MaxHandshakeMessage, true))
	staller := tls.NewServer(cfg, p.RecvBuf)
	if n, _, err := staller.Unwrap(big[:8000]); err != nil || budget.InUse() != 1 {
		t.Fatalf("staller: %d %v, budget in use %d", n, err, budget.InUse())
	}
	fit := tls.NewServer(cfg, p.RecvBuf).HelloRoom()
	for _, shares := range []bool{true, false} {
		for i := range 8 { // GREASE values and ALPN names vary
			helloIsLegal(t, cfg, p.RecvBuf, bigHello(r, fit, shares), shares, i == 0)
		}
	}
	runtime.KeepAlive(staller)
	cfg.HandshakeBudget = nil
	for _, shares := range []bool{true, false} {
		for i := range 8 {
			helloIsLegal(t, cfg, p.RecvBuf, bigHello(r, p.MaxHandshakeMessage, shares), shares, i == 0)
		}
	}
}

func helloIsLegal(t *testing.T, cfg *tls.Config, recvBuf int, m []byte, shares, log bool) {
	t.Helper()
	{
		if int(m[1])<<16|int(m[2])<<8|int(m[3]) != len(m)-4 {
			t.Fatalf("hello of %d bytes", len(m))
		}
		e := tls.NewServer(cfg, recvBuf)
		for in := helloRecords(m); len(in) > 0; {
			n, _, err := e.Unwrap(in)
			if err != nil || n == 0 {
				t.Fatalf("shares %v: %d, %v", shares, n, err)
			}
			in = in[n:]
		}
		out := make([]byte, 32<<10)
		n := e.Output(out)
		hrr := n >= 43 && bytes.Equal(out[11:43], hrrRandom[:])
		if e.State() != tls.Handshaking || n < 43 || out[0] != 22 || out[5] != 2 || hrr == shares {
			t.Fatalf("shares %v: %v, %d bytes %x, HRR %v", shares, e.State(), n, out[:min(n, 16)], hrr)
		}
		if log {
			t.Logf("shares %v: %d-byte ClientHello answered with %d bytes (HRR %v)", shares, len(m), n, hrr)
		}
	}
}

// hostileSeed is the hostile test's seed: 14, or $NETCARD_HOSTILE_SEED
// (to explore other schedules).
func hostileSeed() uint64 {
	if s, err := strconv.ParseUint(os.Getenv("NETCARD_HOSTILE_SEED"), 10, 64); err == nil {
		return s
	}
	return 14
}

// TestPeerKeyOnlyBoundsTheSession: what a server engine configured as the
// card's holds between calls during and after a handshake in which the
// client sends a 10-certificate chain of 16 KiB is, with
// tls.Config.PeerKeyOnly (the card's setting), at most the TLS session
// and kept-key parts RAMBound counts per slot; without it the parsed chain
// stays (the negative: tens of KB more, which RAMBound does not count).
func TestPeerKeyOnlyBoundsTheSession(t *testing.T) {
	cryptotest.SetGlobalRandom(t, 16)
	p := OneConnCard()
	st, err := NewStore(16, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	k, err := ecdsa.GenerateKey(elliptic.P256(), nil)
	if err != nil {
		t.Fatal(err)
	}
	spki, err := x509.MarshalPKIXPublicKey(&k.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.SetAdminKey(spki); err != nil {
		t.Fatal(err)
	}
	b, err := RAMBound(p, st)
	if err != nil {
		t.Fatal(err)
	}
	var perSlot int64
	for _, part := range b.Parts {
		if strings.HasPrefix(part.Name, "TLS session") || strings.HasPrefix(part.Name, "client's public key") ||
			strings.HasPrefix(part.Name, "grown handshake") {
			perSlot += part.Bytes
		}
	}
	chain, key, err := clientChain(rand.New(rand.NewPCG(16, 16)), 10, p.MaxHandshakeMessage-4)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := st.Signer()
	if err != nil {
		t.Fatal(err)
	}
	old := runtime.MemProfileRate
	runtime.MemProfileRate = 1
	defer func() { runtime.MemProfileRate = old }()
	peak := map[bool]int64{}
	for _, keyOnly := range []bool{true, false, true} {
		scfg := &tls.Config{TicketKey: [32]byte{1}, Rand: NewRand(16, "s"), Time: func() time.Time { return Epoch },
			Certificate: st.Certificate(), Signer: signer, ALPN: []string{"http/1.1"}, MaxRecordOut: uint16(p.RecordOut),
			MaxHandshakeMessage: int32(p.MaxHandshakeMessage), ClientAuth: tls.RequestClientCert, PeerKeyOnly: keyOnly}
		ccfg := &tls.Config{Rand: NewRand(16, "c"), Client: &tls.ClientConfig{InsecureSkipVerify: true}, Certificate: chain, Signer: key,
			ALPN: []string{"http/1.1"}, Time: func() time.Time { return Epoch }}
		h := &cardHeap{kind: map[[32]uintptr]uint8{}, mark: serverFrame}
		h.base = h.snapshot()
		pk, err := serverHandshake(scfg, ccfg, p, h)
		if err != nil {
			t.Fatal(err)
		}
		peak[keyOnly] = pk // the first run (unobserved warm-up of the parser) is overwritten by the third
	}
	t.Logf("server session with a 10-certificate client chain: %d B with PeerKeyOnly, %d B without; RAMBound per slot (session, kept key, grown handshake buffer) %d B",
		peak[true], peak[false], perSlot)
	if peak[true] > perSlot {
		t.Errorf("with PeerKeyOnly the session holds %d B, more than RAMBound's %d B per slot", peak[true], perSlot)
	}
	if peak[false]-peak[true] < 8<<10 {
		t.Errorf("without PeerKeyOnly the session holds only %d B more", peak[false]-peak[true])
	}
}
