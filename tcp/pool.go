package tcp

// Large receive buffers (Config.SmallRecvBuf, Config.LargeRecvBufs).
//
// Every slot has a small receive buffer; the stack has a few large ones
// (RecvBuf + MSS bytes). Each is allocated, at exactly that size, when it
// is first needed and dropped again by Shed while it holds nothing (see
// shed.go); the policy below is about which connection may use one, and
// is the same whether a buffer is allocated or not. The policy:
//
//   - A connection borrows a large buffer when the layer above reserves more
//     than its small buffer holds (Reserve: e.g. TLS has read a record header
//     announcing a record bigger than the small buffer), or, without a
//     reservation, when unread data fills the small buffer (the reader may
//     wait for a record it did not announce), or when a zero-window probe
//     found the reader stuck with a window that cannot reopen (see
//     Conn.newEdge). Its bytes (out-of-order ones included) are copied
//     across, at the same offsets, and a window update goes out at once.
//   - While it holds one, its window may reach need + small bytes from the
//     start of Peek for a reservation of need bytes, or small bytes beyond
//     the unread data when it grew without one; otherwise the window stays
//     within the small buffer. Either way, once the reader has consumed
//     what it was waiting for, the open window is at most small bytes, so
//     the buffer can go back even if the peer sends nothing more. A
//     reservation also lets the window grow by less than the SWS threshold
//     when the reader waits for those bytes.
//   - It gives the buffer back, in Consume, once it no longer wants it (the
//     reservation and growth end with each Consume), its data fits in the
//     small buffer AND the right edge of the window it has advertised does
//     too: the window never shrinks (RFC 9293 §3.8.6). A closed or aborted
//     connection gives it back at once.
//   - When none is free, the connection queues (first come, first served)
//     and keeps its small window, zero once full; the peer waits, probing
//     the zero window. The next Output of the stack lends a returned buffer
//     to the oldest waiter and sends it a window update. A connection that
//     found none free does not take one ahead of an older waiter.
//
// No deadlock: a holder gives its buffer back as soon as its own reader
// consumes the record it was borrowed for (and whatever followed it),
// which depends on its own peer only, never on another connection. A
// holder whose peer stalls in the middle of a record keeps the buffer until
// the layer above's timeouts (TLS handshake, HTTP idle) close the
// connection. Connections that all receive large records take turns record
// by record: with n of them one may wait n-1 record times between two of
// its records, which the layer above's timeouts must allow for.

// getLarge borrows a large buffer, or queues for one.
func (c *Conn) getLarge() {
	if c.big != 0 {
		return
	}
	s := c.s
	if s.nfree > 0 {
		if w := s.firstWaiter(); w == nil || w == c {
			c.take(s.freeIndex())
			return
		}
	}
	if !c.waiting {
		c.waiting = true
		s.waitSeq++
		c.waitSeq = s.waitSeq
		s.stats.LargeWaits++
	}
}

// take moves the connection's received bytes into free large buffer i,
// allocating it if it was shed.
func (c *Conn) take(i int) {
	s := c.s
	l := &s.large[i]
	if l.b == nil {
		l.b = make([]byte, s.largeSize())
	}
	copy(l.b, c.rcvBuf()[:c.dataEnd()])
	c.big = uint8(i + 1)
	c.waiting, c.probeSeen, c.probed = false, false, false
	l.owner = c
	s.nfree--
	s.stats.LargeBorrows++
	c.updateWindow()
}

// updateWindow sends a window update now if the window can move: the peer
// may be waiting on a zero window.
func (c *Conn) updateWindow() {
	if c.synchronized() && !c.finRcvd {
		if _, ok := c.newEdge(); ok {
			c.ackNow = true
		}
	}
}

// release returns the large buffer to the pool; the caller has moved the
// bytes that matter back to the small buffer.
func (c *Conn) release() {
	s := c.s
	s.large[c.big-1].owner = nil
	s.nfree++
	c.big = 0
}

// buf is the receive buffer in use: the large one lent by the stack, or
// the slot's own; nil when the slot's own was shed (it then holds no byte:
// see wbuf).
func (c *Conn) buf() []byte {
	if c.big != 0 {
		return c.s.large[c.big-1].b
	}
	return c.rcvBuf()
}

// wbuf is buf for writing: the slot's own buffer is allocated if it was
// shed.
func (c *Conn) wbuf() []byte {
	if c.big != 0 {
		return c.s.large[c.big-1].b
	}
	return c.ownBuf()
}

// ownBuf returns the slot's own receive buffer, allocating it if it was
// shed.
func (c *Conn) ownBuf() []byte {
	if c.rcv == nil {
		c.allocBufs(true)
	}
	return c.rcvBuf()
}

// bufSize is the size of the receive buffer in use, allocated or not: the
// window and every room check are computed from it, never from len(buf()),
// so that shedding changes nothing a peer can see.
func (c *Conn) bufSize() int {
	if c.big != 0 {
		return c.s.largeSize()
	}
	return int(c.s.cfg.SmallRecvBuf)
}

// largeSize is the size of the stack's large receive buffers: RecvBuf + MSS
// (see Config.SmallRecvBuf).
func (s *Stack) largeSize() int { return int(s.cfg.RecvBuf) + int(s.cfg.MSS) }

// wantsLarge reports whether the connection needs more than its small
// buffer: a reservation above its size, or growth without one.
func (c *Conn) wantsLarge() bool { return c.grown || c.need > c.s.cfg.SmallRecvBuf }

// maybeGrow starts growth without a reservation (or beyond it) when the
// unread data fills the small buffer and nothing was reserved, or when a
// zero-window probe found the reader stuck and the window cannot reopen:
// the reader may be waiting for more than fits.
func (c *Conn) maybeGrow() {
	if c.s.largePool == nil || c.grown || c.waiting || c.rcvLen == 0 || c.released {
		return
	}
	stuck := false
	if c.probed && c.rcvAdv == c.rcvNxt {
		_, ok := c.newEdge()
		stuck = !ok
	}
	if !stuck && (c.need > 0 || c.rcvLen < c.s.cfg.SmallRecvBuf) {
		return
	}
	c.grown = true
	c.s.stats.LargeGrowths++
	c.getLarge()
}

// limit is how far from the start of Peek the window may reach.
func (c *Conn) limit() int {
	small := int(c.s.cfg.SmallRecvBuf)
	if c.big == 0 {
		return small
	}
	lim := small
	if int(c.need) > small {
		lim = int(c.need) + small
	}
	if c.grown {
		lim = max(lim, int(c.rcvLen)+small)
	}
	return min(lim, c.bufSize())
}

// giveBack returns the large buffer if neither the data nor the advertised
// window need it any more.
func (c *Conn) giveBack() {
	small := int(c.s.cfg.SmallRecvBuf)
	hi := c.dataEnd()
	if c.wantsLarge() || hi > small || int(c.rcvLen)+int(int32(c.rcvAdv-c.rcvNxt)) > small {
		return
	}
	if hi > 0 {
		copy(c.ownBuf(), c.buf()[:hi])
	}
	c.release()
}

// dataEnd is the end of the received bytes in the buffer, out-of-order
// ranges included.
func (c *Conn) dataEnd() int {
	hi := int(c.rcvLen)
	for i := 0; i < int(c.nooo); i++ {
		if e := int(c.rcvLen) + int(c.ooo[i].end-c.rcvNxt); e > hi {
			hi = e
		}
	}
	return hi
}

// Reserve asks for room for n received bytes from the start of Peek, e.g. a
// whole TLS record whose header Peek shows; it reports whether the receive
// buffer can hold them now. When n is more than the slot's small buffer
// (Config.SmallRecvBuf), the connection borrows one of the stack's large
// buffers and widens its window; when none is free it queues for one and
// gets it, with a window update, on a later Output of the stack, after the
// connection holding it gave it back (see the policy above). The request
// lasts until the next Consume. It is false for n above Config.RecvBuf,
// which no buffer can ever hold.
func (c *Conn) Reserve(n int) bool {
	if n > int(c.s.cfg.RecvBuf) || !c.inUse || c.released || c.state == Closed {
		return n <= c.bufSize()
	}
	if n <= int(c.need) {
		return n <= c.bufSize()
	}
	c.need = int32(n)
	if n > c.bufSize() && c.s.largePool != nil {
		c.getLarge()
	}
	c.updateWindow()
	return n <= c.bufSize()
}

// firstWaiter returns the connection queued longest for a large buffer.
func (s *Stack) firstWaiter() *Conn {
	var w *Conn
	for i := range s.conns {
		c := &s.conns[i]
		if c.waiting && (w == nil || int32(c.waitSeq-w.waitSeq) < 0) {
			w = c
		}
	}
	return w
}

func (s *Stack) freeIndex() int {
	for i := range s.large {
		if s.large[i].owner == nil {
			return i
		}
	}
	return -1
}

// grant lends free large buffers to the waiting connections, oldest first.
func (s *Stack) grant() {
	for s.nfree > 0 {
		c := s.firstWaiter()
		if c == nil {
			return
		}
		c.take(s.freeIndex())
	}
}
