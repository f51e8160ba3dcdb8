package tcp

import "unsafe"

// Lend, don't own: every buffer the stack sizes from its Config is
// allocated when it is first needed, at exactly its configured size (one
// make, never larger, never grown), and dropped again by Shed when it holds
// nothing:
//
//   - a slot's receive buffer (Config.SmallRecvBuf bytes, or RecvBuf without
//     a pool), when a segment brings data for it;
//   - a slot's send buffer (Config.SendBuf), when the application asks for
//     room (Free, Commit, Write);
//   - a large receive buffer (RecvBuf + MSS), when it is first lent (see
//     pool.go);
//   - the RST queue and the SYN-cookie ring (Config.CookieQueue entries),
//     when a segment is first queued there.
//
// A slot's receive and send buffers are one allocation (the receive buffer
// first, then the send buffer, each slice of exactly its size) when the Go
// allocator rounds their sum up less than it rounds them separately: in the
// one-slot Card profile 16,645 + 3,835 bytes fill the 20,480-byte size
// class exactly, where apart they take 18,432 + 4,096. Both are then
// allocated together and shed together (when both are empty).
//
// Nothing a peer can see depends on whether a buffer is allocated: windows,
// room checks and the pool's decisions are computed from the configured
// sizes, so a connection behaves byte for byte the same with or without
// Shed calls in between (TestShedEverywhereIdentical). A slot that is freed
// drops its buffers at once. The hard bound is unchanged: the same buffers,
// each rounded up to its Go size class instead of one arena.

// Shed drops every buffer of the stack that holds nothing right now: each
// connection slot's empty receive and send buffers (Conn.Shed), each large
// receive buffer not lent, and the RST queue and SYN-cookie ring when
// empty. It returns the bytes released (the buffers' capacity). It never
// allocates and may be called between any two calls of Input, Output and
// Poll; a second call returns 0. The next burst allocates its buffers again
// (one allocation per buffer, not per packet).
func (s *Stack) Shed() int {
	n := 0
	for i := range s.conns {
		n += s.conns[i].Shed()
	}
	for i := range s.larges() {
		if l := &s.large[i]; l.owner == nil && l.b != nil {
			n += cap(l.b)
			l.b = nil
		}
	}
	if s.rst != nil && s.rstN == 0 {
		n += int(unsafe.Sizeof(*s.rst))
		s.rst = nil
	}
	if s.cookies != nil && s.cookieN == 0 {
		n += cap(s.cookies) * int(unsafe.Sizeof(pendingCookie{}))
		s.cookies, s.cookieHead = nil, 0
	}
	return n
}

// Lent returns the bytes of buffers the stack holds now: every slot's
// receive and send buffers, the large receive buffers allocated, the RST
// queue and the SYN-cookie ring (capacities, not size classes). It
// allocates nothing.
func (s *Stack) Lent() int {
	n := 0
	for i := range s.conns {
		n += cap(s.conns[i].rcvBuf()) + cap(s.conns[i].sndBuf())
	}
	for i := range s.larges() {
		n += cap(s.large[i].b)
	}
	if s.rst != nil {
		n += int(unsafe.Sizeof(*s.rst))
	}
	return n + cap(s.cookies)*int(unsafe.Sizeof(pendingCookie{}))
}

// ControlBytes returns the bytes of the stack's control state, held for
// its lifetime: its struct, the connection slots, the large buffers' table
// and the listeners, and its own copy of the profile's constants when it
// shares none (a configuration past the process-wide table).
func (s *Stack) ControlBytes() int {
	n := int(unsafe.Sizeof(*s)) + len(s.conns)*int(unsafe.Sizeof(Conn{})) + len(s.larges())*int(unsafe.Sizeof(largeBuf{})) +
		len(s.listeners)*int(unsafe.Sizeof(Listener{}))
	if s.largePool != nil {
		n += int(unsafe.Sizeof(largePool{}))
	}
	if !s.sharesConsts() {
		n += int(unsafe.Sizeof(stackConsts{})) // its own copy: the table was full
	}
	return n
}

// sharesConsts reports whether the stack's constants are an entry of the
// process-wide table (else a private copy, see intern).
func (s *Stack) sharesConsts() bool {
	for i := range consts {
		if consts[i].Load() == s.cfg.stackConsts {
			return true
		}
	}
	return false
}

// ControlBufs returns the sizes of the stack's control buffers, each one
// allocation lent on first use and shed when empty: the RST queue and the
// SYN-cookie ring (Config.CookieQueue entries). The slots' and the large
// receive buffers are the profile's (Config sizes).
func (s *Stack) ControlBufs() (rst, cookies int) {
	return int(unsafe.Sizeof([rstQueue]pendingRST{})), int(s.cfg.CookieQueue) * int(unsafe.Sizeof(pendingCookie{}))
}

// Shed drops the connection's buffers that hold nothing right now and
// returns the bytes released: the receive buffer when it has no unread
// bytes, no out-of-order ranges and no reservation (Reserve) pending (or
// when a large buffer lent by the stack holds the data instead; the lent
// buffer itself stays until the pool takes it back), and the send buffer
// when it has no unsent and no unacknowledged bytes. The sequence numbers,
// windows and timers stay: a segment arriving later allocates the receive
// buffer again and is accepted exactly as if nothing had been shed. It
// never allocates; a second call returns 0.
func (c *Conn) Shed() int {
	rcv := c.rcv != nil && (c.big != 0 || c.rcvLen == 0 && c.nooo == 0 && c.need == 0)
	snd := c.snd != nil && c.sndLen == 0
	if c.s.pairBufs && !(rcv && snd) {
		return 0 // one allocation: both go, or neither
	}
	n := 0
	if rcv {
		n += int(c.s.cfg.SmallRecvBuf)
		c.rcv = nil
	}
	if snd {
		n += int(c.s.cfg.SendBuf)
		c.snd = nil
	}
	return n
}

// ShedRecv drops the connection's own receive buffer alone when it holds
// nothing (no unread bytes, no out-of-order ranges, no reservation) and
// returns the bytes released; 0 when the buffer is in use, is a large one
// lent by the stack, or is one allocation with the send buffer (the
// stack pairs them, see allocBufs). It is Shed for a reader that knows
// no data is due soon — a TLS server that has read the ClientHello and
// now sends its flight: the next segment lends the buffer again, as
// after Shed. It never allocates.
func (c *Conn) ShedRecv() int {
	if c.rcv == nil || c.s.pairBufs || c.big != 0 || c.rcvLen != 0 || c.nooo != 0 || c.need != 0 {
		return 0
	}
	n := int(c.s.cfg.SmallRecvBuf)
	c.rcv = nil
	return n
}

// allocBufs allocates the slot's receive buffer (rcv) or send buffer, or
// both at once when the stack pairs them.
func (c *Conn) allocBufs(rcv bool) {
	r, w := int(c.s.cfg.SmallRecvBuf), int(c.s.cfg.SendBuf)
	switch {
	case c.s.pairBufs:
		b := make([]byte, r+w)
		c.rcv, c.snd = unsafe.SliceData(b), unsafe.SliceData(b[r:]) // one allocation: both go together (Shed)
	case rcv:
		c.rcv = unsafe.SliceData(make([]byte, r))
	default:
		c.snd = unsafe.SliceData(make([]byte, w))
	}
}

// rcvBuf returns the slot's own receive buffer (nil while shed):
// Config.SmallRecvBuf bytes from rcv, in the allocation allocBufs made.
func (c *Conn) rcvBuf() []byte {
	if c.rcv == nil {
		return nil
	}
	return unsafe.Slice(c.rcv, c.s.cfg.SmallRecvBuf)
}

// sndBuf returns the slot's send buffer (nil while shed): Config.SendBuf
// bytes from snd.
func (c *Conn) sndBuf() []byte {
	if c.snd == nil {
		return nil
	}
	return unsafe.Slice(c.snd, c.s.cfg.SendBuf)
}

// allocSize is the heap a make([]byte, n) takes: n rounded up to the Go
// allocator's size class (whole 8 KiB pages above 32 KiB). It asks the
// runtime instead of copying its table: append rounds a new slice's
// capacity up to the size class it allocates. NewStack calls it once per
// buffer size, at start-up; the probe is garbage at once.
func allocSize(n int) int {
	if n <= 0 {
		return 0
	}
	return cap(append([]byte(nil), make([]byte, n)...))
}
