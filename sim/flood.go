package sim

import (
	"encoding/binary"
	"math/rand/v2"
	"time"

	"netcard/ipv4"
	"netcard/ppp"
	"netcard/tcp"
)

// A PacketSource writes the next packet to inject into dst and returns its
// length (0: nothing to send now). It is called only when the line can take
// a packet, so a source that always returns one floods at line rate.
type PacketSource func(dst []byte, now time.Time) int

// InjectIP makes the host's PPP link send the IPv4 packets of src to the card
// (nil stops). Injected packets and the host's own alternate, so a flood at
// line rate leaves the host peer's own traffic half of the host→card line
// when it needs it — the way a router's fair queue would.
func (w *World) InjectIP(src PacketSource) { w.host.inject = src }

// InjectFrames puts the PPP frames of src on the host→card line between the
// host's own frames (nil stops). src writes the protocol field (2 octets)
// and the information field; the simulator adds the address and control
// fields and the FCS, escapes every control character and adds the flags.
// Injected frames and the host's own alternate.
func (w *World) InjectFrames(src PacketSource) {
	w.frameSrc = src
	if src != nil && w.frameBuf == nil {
		w.frameBuf = make([]byte, 2048)
		w.raw = make([]byte, 0, 2*2048+8)
		w.hostIdle = true
	}
}

// pullIP is the host link's PullIP: the host's own packets and injected
// ones alternate.
func (h *Host) pullIP(dst []byte) int {
	if h.inject == nil {
		return h.IP.Output(dst, h.now)
	}
	if h.injTurn {
		if n := h.inject(dst, h.now); n > 0 {
			h.injTurn = false
			h.Injected++
			return n
		}
	}
	if n := h.IP.Output(dst, h.now); n > 0 {
		h.injTurn = true
		return n
	}
	if n := h.inject(dst, h.now); n > 0 {
		h.Injected++
		return n
	}
	return 0
}

// upOutput is what the host→card line pulls: the host's own line bytes,
// with injected frames inserted only between the host's frames (after a
// flag), so neither is corrupted.
func (w *World) upOutput(p []byte, now time.Time) int {
	if w.frameSrc == nil && w.rawOff >= len(w.raw) {
		n := w.host.Output(p, now)
		if n > 0 {
			w.hostIdle = p[n-1] == 0x7e
		}
		return n
	}
	n := 0
	for n < len(p) {
		if w.rawOff < len(w.raw) {
			k := copy(p[n:], w.raw[w.rawOff:])
			w.rawOff += k
			n += k
			continue
		}
		if w.hostIdle && w.injTurn && w.loadFrame(now) {
			w.injTurn = false
			continue
		}
		if k := w.host.Output(p[n:], now); k > 0 {
			w.hostIdle = p[n+k-1] == 0x7e
			n += k
			w.injTurn = true
			continue
		}
		if w.hostIdle && w.loadFrame(now) {
			continue
		}
		break
	}
	return n
}

// loadFrame takes the next frame from frameSrc and HDLC-encodes it into raw.
func (w *World) loadFrame(now time.Time) bool {
	if w.frameSrc == nil {
		return false
	}
	b := w.frameBuf
	b[0], b[1] = 0xff, 0x03
	m := w.frameSrc(b[2:len(b)-2], now)
	if m <= 0 {
		return false
	}
	end := 2 + m
	v := ^ppp.FCS16(0xffff, b[:end])
	b[end], b[end+1] = byte(v), byte(v>>8)
	end += 2
	raw := append(w.raw[:0], 0x7e)
	for _, c := range b[:end] {
		if c < 0x20 || c == 0x7e || c == 0x7d {
			raw = append(raw, 0x7d, c^0x20)
		} else {
			raw = append(raw, c)
		}
	}
	w.raw, w.rawOff = append(raw, 0x7e), 0
	w.FramesInjected++
	return true
}

// spoofed returns a pseudo-random unicast source address outside the link's
// own /24 (an attacker elsewhere on the Internet).
func spoofed(r *rand.Rand) ipv4.Addr {
	for {
		var a ipv4.Addr
		binary.BigEndian.PutUint32(a[:], r.Uint32())
		if a.IsUnicast() && a[0] != 10 && a[0] != 0 {
			return a
		}
	}
}

func putIP(dst []byte, src ipv4.Addr, proto uint8, id uint16, payload int) {
	ipv4.PutHeader(dst, &ipv4.Fields{TotalLen: ipv4.HeaderLen + payload, ID: id, TTL: 64,
		Protocol: proto, Src: src, Dst: CardIP})
}

// SYNFlood returns a source of TCP SYNs (with an MSS option) to the card's
// port from random spoofed addresses and ports.
func SYNFlood(seed uint64, port uint16) PacketSource {
	r := rand.New(rand.NewPCG(seed, 0x5359))
	return func(dst []byte, _ time.Time) int {
		const n = ipv4.HeaderLen + 24
		if len(dst) < n {
			return 0
		}
		src := spoofed(r)
		seg := dst[ipv4.HeaderLen:n]
		clear(seg)
		binary.BigEndian.PutUint16(seg[0:], uint16(1024+r.IntN(60000)))
		binary.BigEndian.PutUint16(seg[2:], port)
		binary.BigEndian.PutUint32(seg[4:], r.Uint32())
		seg[12] = 6 << 4
		seg[13] = tcp.FlagSYN
		binary.BigEndian.PutUint16(seg[14:], 64240)
		seg[20], seg[21], seg[22], seg[23] = 2, 4, 0x05, 0xb4 // MSS 1460
		binary.BigEndian.PutUint16(seg[16:], tcp.Checksum(src, CardIP, seg))
		putIP(dst, src, 6, uint16(r.Uint32()), len(seg))
		return n
	}
}

// ICMPFlood returns a source of ICMP echo requests of size bytes (IPv4
// header included) from random spoofed addresses.
func ICMPFlood(seed uint64, size int) PacketSource {
	r := rand.New(rand.NewPCG(seed, 0x4943))
	return func(dst []byte, _ time.Time) int {
		n := max(size, ipv4.HeaderLen+8)
		if len(dst) < n {
			return 0
		}
		src := spoofed(r)
		m := dst[ipv4.HeaderLen:n]
		m[0], m[1], m[2], m[3] = 8, 0, 0, 0
		binary.BigEndian.PutUint32(m[4:], r.Uint32())
		for i := 8; i < len(m); i++ {
			m[i] = byte(i)
		}
		binary.BigEndian.PutUint16(m[2:], ipv4.Checksum(m, 0))
		putIP(dst, src, 1, uint16(r.Uint32()), len(m))
		return n
	}
}

// FragmentFlood returns a source of IPv4 fragments that never complete:
// first fragments (MF set) and middle fragments of UDP datagrams with fresh
// identifications and spoofed sources, payload bytes each.
func FragmentFlood(seed uint64, payload int) PacketSource {
	r := rand.New(rand.NewPCG(seed, 0x4652))
	payload &^= 7
	return func(dst []byte, _ time.Time) int {
		n := ipv4.HeaderLen + payload
		if len(dst) < n || payload < 8 {
			return 0
		}
		src := spoofed(r)
		off := 0
		if r.IntN(2) == 1 {
			off = 8 * (1 + r.IntN(100))
		}
		for i := ipv4.HeaderLen; i < n; i++ {
			dst[i] = byte(r.Uint32())
		}
		ipv4.PutHeader(dst, &ipv4.Fields{TotalLen: n, ID: uint16(r.Uint32()), MF: true, FragOff: off,
			TTL: 64, Protocol: 17, Src: src, Dst: CardIP})
		return n
	}
}

// LCPStorm returns a source of PPP frames: LCP Configure-Requests with
// random identifiers and options (MRU, ACCM, magic number, PFC, ACFC,
// sometimes an unknown or malformed option).
func LCPStorm(seed uint64) PacketSource {
	r := rand.New(rand.NewPCG(seed, 0x4c43))
	return func(dst []byte, _ time.Time) int {
		if len(dst) < 64 {
			return 0
		}
		dst[0], dst[1] = byte(ppp.ProtoLCP>>8), byte(ppp.ProtoLCP&0xff)
		p := dst[2:]
		p[0], p[1] = 1, byte(r.Uint32()) // Configure-Request, identifier
		n := 4
		if r.IntN(2) == 0 {
			p[n], p[n+1] = 1, 4 // MRU
			binary.BigEndian.PutUint16(p[n+2:], uint16(64+r.IntN(1500)))
			n += 4
		}
		if r.IntN(2) == 0 {
			p[n], p[n+1] = 2, 6 // ACCM
			binary.BigEndian.PutUint32(p[n+2:], r.Uint32())
			n += 6
		}
		p[n], p[n+1] = 5, 6 // magic number
		binary.BigEndian.PutUint32(p[n+2:], r.Uint32())
		n += 6
		if r.IntN(2) == 0 {
			p[n], p[n+1], p[n+2], p[n+3] = 7, 2, 8, 2 // PFC, ACFC
			n += 4
		}
		switch r.IntN(8) {
		case 0:
			p[n], p[n+1], p[n+2], p[n+3] = byte(30+r.IntN(200)), 4, 0, 0 // unknown option
			n += 4
		case 1:
			p[n], p[n+1] = 1, byte(r.IntN(3)) // malformed length
			n += 2
		}
		binary.BigEndian.PutUint16(p[2:], uint16(n))
		return 2 + n
	}
}

// Counted wraps src and counts the packets it produced into *n.
func Counted(src PacketSource, n *uint64) PacketSource {
	return func(dst []byte, now time.Time) int {
		k := src(dst, now)
		if k > 0 {
			*n++
		}
		return k
	}
}

// An Actor takes part in the simulation: the world calls Service after
// every event; it reports whether it made progress and when it wants to be
// called again (zero: only after other events).
type Actor interface {
	Service(now time.Time) (progress bool, next time.Time)
}

// AddActor adds a to the simulation.
func (w *World) AddActor(a Actor) { w.actors = append(w.actors, actorState{a: a}) }

// RemoveActor removes a from the simulation.
func (w *World) RemoveActor(a Actor) {
	for i, x := range w.actors {
		if x.a == a {
			w.actors = append(w.actors[:i], w.actors[i+1:]...)
			return
		}
	}
}

type actorState struct {
	a    Actor
	next time.Time
}

// ConnFlood is an attacker with real TCP connections from the host peer's
// stack (the host's own address): it keeps Conns connections to the card's
// Port open and, on each, sends Payload — at once, or one byte every Drip
// (slowloris). A connection ends when the card closes or resets it, or after
// MaxLife; a new one replaces it, until Total connections were opened
// (0: forever).
type ConnFlood struct {
	W     *World
	Port  uint16
	Conns int
	Total int
	// Payload writes the bytes to send on connection number i into dst and
	// returns how many (nil: send nothing, hold the connection idle).
	Payload func(i int, dst []byte) int
	Drip    time.Duration
	// DripFrom bytes of the payload are sent at once before the drip
	// starts (a request head before a slow body).
	DripFrom int
	MaxLife  time.Duration // default 120 s
	// Src, when set, is the attacker's own address (a machine elsewhere on
	// the Internet, behind the host): its connections come from a TCP/IP
	// stack of its own whose packets are injected with InjectIP (so the
	// world's InjectIP and DownTap are taken) and which receives the
	// card's packets for Src from the card→host line. Zero: the host
	// peer's own stack and address, the legitimate client's.
	Src ipv4.Addr

	// Counters.
	Opened, DialErrors, ClosedByCard, ResetByCard, Expired, Refused int
	BytesFromCard                                                   int64

	live []*floodConn
	n    int
	buf  []byte
	own  *ownStack
}

// ownStack is a ConnFlood's TCP/IP stack when it has an address of its own.
type ownStack struct {
	ip   *ipv4.Host
	tcp  *tcp.Stack
	fr   []byte // the card→host frame being deframed
	esc  bool
	q    []inFlight // packets for Src on their way down the line
	free [][]byte
}

type inFlight struct {
	at  time.Time
	pkt []byte
}

// start builds the attacker's stack and hooks it to the world.
func (f *ConnFlood) start() {
	w := f.W
	o := &ownStack{}
	o.ip = ipv4.NewHost(ipv4.Config{Local: f.Src, Rand: NewRand(w.opt.Seed, "attackerip")})
	o.tcp = tcp.NewStack(tcp.Config{MaxConns: 2 * f.Conns, RecvBuf: 4096, SendBuf: 4096, MSS: 1460,
		Rand: NewRand(w.opt.Seed, "attackertcp"), MinRTO: w.opt.MinRTO})
	o.ip.Register(6, o.tcp)
	f.own = o
	w.InjectIP(func(dst []byte, now time.Time) int { return o.ip.Output(dst, now) })
	w.DownTap(func(at time.Time, b []byte) { o.tap(w, f.Src, at, b) })
}

// tap deframes the card's line bytes (HDLC, RFC 1662) and queues the IPv4
// packets for src, each due when its last byte has crossed the line.
func (o *ownStack) tap(w *World, src ipv4.Addr, at time.Time, b []byte) {
	for k, x := range b {
		switch {
		case x == 0x7e:
			o.frame(w, src, at.Add(w.lineTime(k+1)+w.opt.Latency))
			o.fr, o.esc = o.fr[:0], false
		case x == 0x7d:
			o.esc = true
		default:
			if o.esc {
				x ^= 0x20
				o.esc = false
			}
			o.fr = append(o.fr, x)
		}
	}
}

func (o *ownStack) frame(w *World, src ipv4.Addr, due time.Time) {
	p := o.fr
	if len(p) < 4 || ppp.FCS16(0xffff, p) != 0xf0b8 {
		return
	}
	p = p[:len(p)-2]
	if len(p) >= 2 && p[0] == 0xff && p[1] == 0x03 {
		p = p[2:]
	}
	switch {
	case len(p) >= 1 && p[0] == 0x21:
		p = p[1:]
	case len(p) >= 2 && p[0] == 0 && p[1] == 0x21:
		p = p[2:]
	default:
		return
	}
	if len(p) < ipv4.HeaderLen || ipv4.Addr(p[16:20]) != src {
		return
	}
	var b []byte
	if n := len(o.free); n > 0 {
		b, o.free = o.free[n-1][:0], o.free[:n-1]
	}
	o.q = append(o.q, inFlight{at: due, pkt: append(b, p...)})
}

// lineTime is the wire time of n bytes on the world's line.
func (w *World) lineTime(n int) time.Duration {
	if w.opt.Baud <= 0 {
		return 0
	}
	return time.Duration(int64(n) * 10 * int64(time.Second) / int64(w.opt.Baud))
}

// service delivers the packets due and runs the stack's timers.
func (o *ownStack) service(now time.Time) (bool, time.Time) {
	moved := false
	for len(o.q) > 0 && !o.q[0].at.After(now) {
		o.ip.Input(o.q[0].pkt, now)
		o.free = append(o.free, o.q[0].pkt)
		o.q = o.q[1:]
		moved = true
	}
	next := o.ip.Poll(now)
	if len(o.q) > 0 {
		next = earliest(next, o.q[0].at)
	}
	return moved, next
}

type floodConn struct {
	c       *tcp.Conn
	born    time.Time
	data    []byte
	sent    int
	nextTx  time.Time
	est     bool
	discard [256]byte
}

// Service implements Actor.
func (f *ConnFlood) Service(now time.Time) (bool, time.Time) {
	if f.MaxLife == 0 {
		f.MaxLife = 120 * time.Second
	}
	progress := false
	var next time.Time
	stack, src := f.W.host.TCP, ipv4.Addr(HostIP)
	if f.Src != (ipv4.Addr{}) {
		if f.own == nil {
			f.start()
		}
		progress, next = f.own.service(now)
		stack, src = f.own.tcp, f.Src
	}
	for i := 0; i < len(f.live); i++ {
		fc := f.live[i]
		c := fc.c
		if c.State() == tcp.Established || c.State() == tcp.CloseWait {
			fc.est = true
		}
		for len(c.Peek()) > 0 {
			k := c.Read(fc.discard[:])
			f.BytesFromCard += int64(k)
			progress = true
		}
		end := false
		switch {
		case c.Err() != nil:
			if fc.est {
				f.ResetByCard++
			} else {
				f.Refused++
			}
			end = true
		case c.EOF():
			f.ClosedByCard++
			end = true
		case !now.Before(fc.born.Add(f.MaxLife)):
			f.Expired++
			end = true
		}
		if end {
			c.Abort()
			f.live = append(f.live[:i], f.live[i+1:]...)
			i--
			progress = true
			continue
		}
		if fc.est && fc.sent < len(fc.data) {
			if f.Drip <= 0 || fc.sent < f.DripFrom {
				end := len(fc.data)
				if f.Drip > 0 {
					end = min(end, f.DripFrom)
				}
				k := c.Write(fc.data[fc.sent:end])
				fc.sent += k
				progress = progress || k > 0
			} else if !now.Before(fc.nextTx) {
				if c.Write(fc.data[fc.sent:fc.sent+1]) == 1 {
					fc.sent++
					fc.nextTx = now.Add(f.Drip)
					progress = true
				}
			}
			if f.Drip > 0 && fc.sent < len(fc.data) && fc.nextTx.After(now) {
				next = earliest(next, fc.nextTx)
			}
		}
		next = earliest(next, fc.born.Add(f.MaxLife))
	}
	for len(f.live) < f.Conns && (f.Total == 0 || f.n < f.Total) {
		c, err := stack.Dial(src, CardIP, f.Port, now)
		if err != nil {
			f.DialErrors++
			break
		}
		fc := &floodConn{c: c, born: now, nextTx: now}
		if f.Payload != nil {
			if f.buf == nil {
				f.buf = make([]byte, 4096)
			}
			k := f.Payload(f.n, f.buf)
			fc.data = append([]byte(nil), f.buf[:k]...)
		}
		f.n++
		f.Opened++
		f.live = append(f.live, fc)
		progress = true
	}
	return progress, next
}

// Done reports that Total connections were opened and all have ended.
func (f *ConnFlood) Done() bool { return f.Total > 0 && f.n >= f.Total && len(f.live) == 0 }

// Stop aborts the live connections and opens no more (Done reports true
// afterwards).
func (f *ConnFlood) Stop() {
	for _, fc := range f.live {
		fc.c.Abort()
	}
	f.live = f.live[:0]
	f.Total, f.n = 1, 1
	if f.own != nil {
		// The RSTs of the aborted connections still go out through the
		// injection source; nothing is received any more.
		f.W.DownTap(nil)
	}
}
