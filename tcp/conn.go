package tcp

import (
	"math"
	"time"

	"netcard/ipv6"
)

// tick is a point in time in Unix nanoseconds (8 bytes instead of
// time.Time's 24 in every control block); 0 means unset.
type tick int64

func tickOf(t time.Time) tick { return tick(t.UnixNano()) }

func (k tick) add(d time.Duration) tick { return k + tick(d) }

type oooRange struct{ start, end uint32 } // [start, end) in sequence space

// usec is a duration in microseconds, 32 bits: up to 35 minutes.
type usec int32

// usOf converts d, clamped to usec's range; a positive d shorter than a
// microsecond is one (0 means "no sample" to SRTT).
func usOf(d time.Duration) usec {
	switch {
	case d >= math.MaxInt32*time.Microsecond:
		return math.MaxInt32
	case d <= math.MinInt32*time.Microsecond:
		return math.MinInt32
	case d > 0 && d < time.Microsecond:
		return 1
	}
	return usec(d / time.Microsecond)
}

// d is u as a time.Duration.
func (u usec) d() time.Duration { return time.Duration(u) * time.Microsecond }

// inc16 adds one to a counter unless it is at its largest.
func inc16(c *int16) {
	if *c < math.MaxInt16 {
		*c++
	}
}

// Conn is one connection slot. Its buffers are linear and shared with the
// layer above: Peek returns the in-order received bytes (writable in place),
// Free the space after the queued send data. With Config.SmallRecvBuf the
// receive buffer is the slot's small one or a large one borrowed from the
// stack (see Reserve). Each buffer is allocated when first needed and
// dropped by Shed while empty (see shed.go). A Conn must not be used after Close or Abort: its slot
// is reused for a later connection.
type Conn struct {
	// Fields are grouped by size, widest first, so that the control block
	// has no padding (352 bytes, a Go size class; TestControlBlockSize).
	s   *Stack
	lst *Listener // set while waiting in a listener's backlog

	rttStart tick

	rtxAt, persistAt, delackAt, keepAt, timeWaitAt tick // deadlines; 0: off
	unackedSince                                   tick
	sendWaitFrom                                   tick // the peer last took output (SND.UNA advanced), or the send queue was last seen empty
	lastRecv                                       tick // last acceptable segment

	// Send side. sndBuf[:sndLen] holds unacknowledged and unsent data;
	// sndBuf[0] has sequence number sndBase. The FIN, once queued, follows
	// the last byte. sndBuf is nil while shed (then sndLen is 0). The
	// buffers are held by their first byte (snd, rcv; nil while shed),
	// their sizes being the stack's (Config.SendBuf, SmallRecvBuf): 16
	// bytes each less than a slice, which keeps the Conn in the 320-byte
	// size class.
	snd *byte

	// The RTT estimators in microseconds (RFC 6298 allows any clock
	// granularity; µs keeps a 300-baud segment's and a loopback's):
	// 12 bytes where three time.Durations take 24.
	srtt, rttvar, rto usec
	born              uint32 // creation order (Stack.born): the oldest half-open connection goes first
	// RFC 5961 §7 challenge-ACK budget of this connection: chalN sent in
	// the second that began at chalAt (milliseconds, mod 2^32; see
	// challengeOK).
	chalAt uint32

	iss, sndUna, sndNxt, sndMax uint32
	sndBase                     uint32
	sndLen                      int32
	rtxEnd                      uint32 // end of the highest sequence number retransmitted
	sndWnd, maxSndWnd           uint32
	sndWl1, sndWl2              uint32
	smallEnd                    uint32 // end of the last sub-MSS segment (Nagle, Minshall's variant)
	cwnd, ssthresh              uint32
	limitedTx                   uint32 // extra segments allowed by RFC 3042 limited transmit
	recover                     uint32
	rttSeq                      uint32

	// Receive side. buf()[:rcvLen] is in-order data; out-of-order ranges
	// lie beyond it at their offsets from rcvNxt.
	rcv                 *byte  // the slot's own receive buffer (small with a pool; nil while shed), rcvBuf; see buf
	irs, rcvNxt, rcvAdv uint32 // rcvAdv: right edge of the window last advertised
	waitSeq             uint32 // queue position for a large buffer (Stack.waitSeq)
	rcvLen              int32
	need                int32 // bytes reserved (Reserve) until the next Consume
	chalN               int32 // challenge ACKs sent in the second from chalAt
	ooo                 [oooRanges]oooRange

	laddr, raddr ipv6.Addr // IPv4 peers in the IPv4-mapped form (ipv6.From4)
	lport, rport uint16

	// Small counters, saturating (inc16) where a peer drives them: each is
	// compared with a bound or reset by progress.
	sndMSS      uint16 // ≤ 65535 (the MSS option's 16 bits)
	dupAcks     int16
	backoff     int16 // RTO backoffs; SynRetries past MaxInt16 means for ever (UserTimeout still ends it)
	keepProbes  int16 // KeepAliveCount past MaxInt16 means for ever
	unackedSegs int16

	inUse    bool
	released bool // the application gave the connection up (Close)
	passive  bool
	state    State
	errc     uint8 // why the connection failed: an index into connErrs (0: it did not)

	// Send-side flags.
	finQueued    bool
	synAcked     bool
	inRecovery   bool
	rtxOne       bool // retransmit the segment at sndUna (fast retransmit / partial ACK)
	forceSend    bool // persist timer expired with a small window open
	probeNow     bool // send a window or keepalive probe
	rttActive    bool
	persistShift uint8

	// Receive-side flags and small counters.
	nooo              uint8
	dupAcksOut        uint8 // duplicate ACKs owed (one per out-of-order segment)
	finRcvd           bool
	ackNow            bool
	big               uint8 // index+1 of the large buffer lent by the stack; 0: none
	waiting           bool  // queued for a large buffer
	grown             bool  // wants a large buffer without a reservation, until the next Consume
	probeSeen, probed bool  // the window closed or a probe came; a probe found the reader stuck (until the next Consume)
}

// connErrs are the errors Conn.Err reports, by Conn.errc.
var connErrs = [...]error{nil, ErrReset, ErrRefused, ErrTimeout}

// free returns the slot (and any large buffer it holds) to the pool. Its
// own buffers are dropped with it: the next connection in the slot
// allocates them when it first needs them.
func (c *Conn) free() {
	if c.big != 0 {
		c.release()
	}
	*c = Conn{s: c.s}
}

func (c *Conn) init(local, remote ipv6.Addr, lport, rport uint16, now time.Time) {
	cfg := &c.s.cfg
	c.s.born++
	c.born = c.s.born
	c.lastRecv = tickOf(now)
	c.laddr, c.raddr, c.lport, c.rport = local, remote, lport, rport
	c.iss = c.s.isn(local, remote, lport, rport, now)
	c.sndUna, c.sndNxt, c.sndMax = c.iss, c.iss, c.iss
	c.sndBase = c.iss + 1
	c.recover = c.iss
	c.rtxEnd = c.iss
	c.smallEnd = c.iss
	c.sndMSS = uint16(min(defaultMSS, c.s.familyMSS(remote)))
	c.rto = usOf(cfg.InitialRTO)
	c.ssthresh = 1 << 30
}

// maxWnd is the window of a new connection: its small buffer's size
// (allocated or not).
func (c *Conn) maxWnd() int { return min(int(c.s.cfg.SmallRecvBuf), 0xffff) }

// synOptions records the peer's SYN.
func (c *Conn) synOptions(h *Header) {
	c.irs = h.Seq
	c.rcvNxt = h.Seq + 1
	c.rcvAdv = c.rcvNxt + uint32(c.maxWnd())
	if h.MSS > 0 {
		// A peer announcing a tiny MSS would make every segment we send
		// mostly header (CVE-2019-11479: one byte of data per 40-byte
		// header costs the line and the CPU forty times over); like Linux
		// (net.ipv4.tcp_min_snd_mss), we send at least minSndMSS bytes per
		// segment — what the smallest IPv4 MTU (RFC 791: 68) leaves after
		// the headers, and far below the 536 every host accepts.
		c.sndMSS = uint16(max(min(int(h.MSS), c.mss()), minSndMSS))
	}
	c.sndWnd = uint32(h.Window)
	c.maxSndWnd = c.sndWnd
	c.sndWl1, c.sndWl2 = h.Seq, h.Ack
}

func (c *Conn) established(now time.Time) {
	c.sendWaitFrom = tickOf(now)
	c.state = Established
	if c.finQueued {
		c.state = FinWait1
	}
	mss := uint32(c.sndMSS)
	c.cwnd = min(4*mss, max(2*mss, 4380)) // RFC 5681 IW
	if c.backoff > 0 {
		c.cwnd = mss // SYN or SYN-ACK was lost (RFC 5681 §3.1)
		if c.srtt == 0 {
			c.rto = usOf(min(max(c.rto.d(), 3*c.s.cfg.InitialRTO), c.s.cfg.MaxRTO)) // RFC 6298 §5.7
		}
	}
	c.backoff = 0
	if c.passive {
		c.s.stats.ConnsAccepted++
	}
	if c.s.cfg.KeepAlive > 0 {
		c.keepAt = tickOf(now).add(c.s.cfg.KeepAlive)
	}
}

// setClosed moves to CLOSED and frees the slot when nobody holds it.
func (c *Conn) setClosed() {
	c.state = Closed
	c.rtxAt, c.persistAt, c.delackAt, c.keepAt, c.timeWaitAt = 0, 0, 0, 0, 0
	c.ackNow, c.probeNow, c.rtxOne = false, false, false
	c.dupAcksOut = 0
	c.waiting = false
	if c.lst != nil {
		c.lst.drop(c)
		c.free()
		return
	}
	if c.released {
		c.free()
	}
}

func (c *Conn) fail(err error) {
	for i := 1; c.errc == 0 && i < len(connErrs); i++ {
		if connErrs[i] == err {
			c.errc = uint8(i)
		}
	}
	c.setClosed()
}

func (c *Conn) synchronized() bool {
	return c.state >= SynReceived && c.state <= TimeWait
}

// ---- application interface ----

// State returns the connection state.
func (c *Conn) State() State { return c.state }

// Err returns why the connection failed (ErrReset, ErrRefused,
// ErrTimeout), or nil.
func (c *Conn) Err() error { return connErrs[c.errc] }

// Remote returns the peer's address and port; an IPv4 peer's address is in
// the IPv4-mapped form (Addr.Is4, Addr.As4).
func (c *Conn) Remote() (ipv6.Addr, uint16) { return c.raddr, c.rport }

// Local returns the local address and port (IPv4-mapped for IPv4).
func (c *Conn) Local() (ipv6.Addr, uint16) { return c.laddr, c.lport }

// mss is the largest MSS of the connection's family: Config.MSS is for
// IPv4 (MTU − 40); IPv6's header is 20 bytes longer (RFC 8200 §3).
func (c *Conn) mss() int { return c.s.familyMSS(c.raddr) }

// Peek returns the in-order received bytes not yet consumed. The slice
// aliases the receive buffer and may be modified in place (TLS opens
// records there); it is valid until the next Consume or Reserve, or the
// stack's next Input or Output (which may move the bytes, unchanged and at
// the same offsets, into a larger buffer). Shed never drops a buffer with
// unread bytes; with none, Peek is empty (nil while the buffer is shed).
func (c *Conn) Peek() []byte { return c.buf()[:c.rcvLen] }

// Consume drops the first n bytes of Peek, moving the rest to the front,
// and reopens the receive window.
func (c *Conn) Consume(n int) {
	if n <= 0 {
		return
	}
	if n > int(c.rcvLen) {
		n = int(c.rcvLen)
	}
	copy(c.buf(), c.buf()[n:c.dataEnd()])
	c.rcvLen -= int32(n)
	c.need, c.grown, c.probeSeen, c.probed = 0, false, false, false
	if c.s.largePool != nil {
		c.maybeGrow()
	}
	if c.big != 0 {
		c.giveBack()
	} else if c.waiting && !c.wantsLarge() {
		c.waiting = false // room again without a large buffer
	}
	// Window update when the peer's view of the window is small and it can
	// grow by at least min(MSS, buffer/2) (receiver-side SWS avoidance).
	if c.synchronized() && !c.finRcvd {
		lim := c.limit()
		old := int(c.rcvAdv - c.rcvNxt)
		if old < lim/2 && c.freeWnd()-old >= c.swsThresh() {
			c.ackNow = true
		}
	}
}

// Read copies received bytes into p and consumes them.
func (c *Conn) Read(p []byte) int {
	n := copy(p, c.buf()[:c.rcvLen])
	c.Consume(n)
	return n
}

// Readable reports whether Peek has data or the connection reached EOF or
// failed.
func (c *Conn) Readable() bool { return c.rcvLen > 0 || c.finRcvd || c.errc != 0 }

// EOF reports whether the peer closed its side and every byte was consumed.
func (c *Conn) EOF() bool { return c.finRcvd && c.rcvLen == 0 }

// Free returns the free space after the queued send data; the application
// writes there and calls Commit (no Shed in between: the buffer is empty
// until Commit, so Shed would drop it). It is empty once the write side is
// closed or the connection failed. It allocates the send buffer if it was
// shed (Shed): call it when there is something to write (Writable and
// FreeLen do not allocate).
func (c *Conn) Free() []byte {
	if c.freeLen() == 0 {
		return nil
	}
	return c.sendBuf()[c.sndLen:]
}

// FreeLen returns len(Free()) without allocating a shed send buffer.
func (c *Conn) FreeLen() int { return c.freeLen() }

// freeLen is the room Free offers, from the configured size.
func (c *Conn) freeLen() int {
	if c.finQueued || c.errc != 0 || !c.inUse {
		return 0
	}
	switch c.state {
	case SynSent, SynReceived, Established, CloseWait:
		return int(c.s.cfg.SendBuf - c.sndLen)
	}
	return 0
}

// sendBuf returns the send buffer, allocating it if it was shed.
func (c *Conn) sendBuf() []byte {
	if c.snd == nil {
		c.allocBufs(false)
	}
	return c.sndBuf()
}

// Commit queues n bytes written at the start of Free.
func (c *Conn) Commit(n int) {
	if f := c.freeLen(); n > f {
		n = f
	}
	if n > 0 {
		c.sendBuf() // written through Free, unless the caller skipped it
		c.sndLen += int32(n)
	}
}

// Write copies as much of p as fits into the send buffer and queues it.
func (c *Conn) Write(p []byte) int {
	if len(p) == 0 {
		return 0
	}
	n := copy(c.Free(), p)
	c.Commit(n)
	return n
}

// Writable reports whether Free has room.
func (c *Conn) Writable() bool { return c.freeLen() > 0 }

// Queued returns the bytes in the send buffer (unacknowledged or unsent).
func (c *Conn) Queued() int { return int(c.sndLen) }

// SRTT returns the smoothed round-trip time (RFC 6298), 0 before the first
// sample.
func (c *Conn) SRTT() time.Duration { return c.srtt.d() }

// SendWaitSince reports whether output is queued and, if so, since when
// the peer has acknowledged none of it: the last time SND.UNA advanced or
// the send queue was seen empty (by the stack's Poll or Output). A peer
// whose application stops reading keeps its window closed and answers
// the probes, and TCP must then wait indefinitely (RFC 1122 §4.2.2.17);
// deciding when to give up on such a reader is the application's.
func (c *Conn) SendWaitSince() (since time.Time, waiting bool) {
	if c.sndLen == 0 || c.sendWaitFrom == 0 || c.errc != 0 {
		return time.Time{}, false
	}
	return time.Unix(0, int64(c.sendWaitFrom)), true
}

// CloseWrite closes the sending side (half-close): a FIN follows the
// queued data.
func (c *Conn) CloseWrite() {
	if c.finQueued || c.errc != 0 {
		return
	}
	switch c.state {
	case SynSent, SynReceived:
		c.finQueued = true
	case Established:
		c.finQueued = true
		c.state = FinWait1
	case CloseWait:
		c.finQueued = true
		c.state = LastAck
	}
}

// Close closes the connection gracefully and gives the slot back once the
// closing handshake completes. Unread received data turns it into Abort
// (RFC 1122 §4.2.2.13). The Conn must not be used afterwards.
func (c *Conn) Close() {
	if !c.inUse || c.released {
		return
	}
	c.released = true
	if c.lst != nil {
		c.lst.drop(c)
	}
	switch {
	case c.state == Closed, c.state == SynSent:
		c.free()
		return
	case c.rcvLen > 0:
		c.Abort()
		return
	}
	// Nothing is read any more (receive discards): a large buffer goes
	// back to the pool at once.
	c.need, c.grown, c.waiting, c.nooo = 0, false, false, 0
	if c.big != 0 {
		c.release()
	}
	c.CloseWrite()
}

// Abort resets the connection (RST) and frees its slot at once. The Conn
// must not be used afterwards.
func (c *Conn) Abort() {
	if !c.inUse {
		return
	}
	if c.state >= SynReceived && c.state <= LastAck {
		c.s.queueRST(c.laddr, c.raddr, c.lport, c.rport, c.sndMax, 0, FlagRST)
	}
	if c.lst != nil {
		c.lst.drop(c)
	}
	c.free()
}

// ---- input ----

// acceptable is the RFC 9293 §3.10.7.4 segment acceptability test.
func acceptable(seq, seglen, rcvNxt, wnd uint32) bool {
	if seglen == 0 {
		if wnd == 0 {
			return seq == rcvNxt
		}
		return seqLE(rcvNxt, seq) && seqLT(seq, rcvNxt+wnd)
	}
	if wnd == 0 {
		return false
	}
	end := seq + seglen - 1
	return (seqLE(rcvNxt, seq) && seqLT(seq, rcvNxt+wnd)) ||
		(seqLE(rcvNxt, end) && seqLT(end, rcvNxt+wnd))
}

func (c *Conn) input(h *Header, data []byte, now time.Time) {
	if c.state == SynSent {
		c.inputSynSent(h, data, now)
		return
	}
	s := c.s
	syn := h.Flags&FlagSYN != 0
	fin := h.Flags&FlagFIN != 0
	rst := h.Flags&FlagRST != 0
	seq := h.Seq
	seglen := uint32(len(data))
	if syn {
		seglen++
	}
	if fin {
		seglen++
	}
	// 1. sequence number
	if !acceptable(seq, seglen, c.rcvNxt, c.rcvAdv-c.rcvNxt) {
		s.stats.DropWindow++
		if rst {
			return
		}
		if c.state == SynReceived && syn && h.Flags&FlagACK == 0 && seq == c.irs {
			c.sndNxt = c.iss // the peer's SYN again: our SYN-ACK was lost
			c.rttActive = false
			return
		}
		if c.state == TimeWait && fin {
			c.timeWaitAt = tickOf(now).add(s.cfg.TimeWait)
		}
		if c.rcvAdv == c.rcvNxt && c.rcvLen > 0 && !c.released && (c.need == 0 || c.rcvLen < c.need) {
			// A zero-window probe, and the reader has consumed nothing
			// since the window closed (or since the last probe), nor has
			// it all it reserved: it may wait for bytes that fit in less
			// room than the SWS threshold (see newEdge). A slow reader
			// that consumes between probes keeps SWS avoidance.
			c.probed = c.probeSeen
			c.probeSeen = true
			c.maybeGrow()
		}
		// A zero window accepts no data, but valid ACKs must still be
		// processed (RFC 9293 §3.10.7.4) or a full receive buffer would
		// stall our own sending: the pure ACKs and window probes of a
		// peer with data beyond our window carry sequence numbers other
		// than RCV.NXT (RCV.NXT-1 for probes, its SND.NXT or SND.MAX for
		// ACKs). The ACK itself is checked as usual (RFC 5961 §5).
		if c.rcvAdv == c.rcvNxt && seqGE(seq, c.rcvNxt-1) && seqLE(seq, c.rcvNxt+0xffff) &&
			!syn && h.Flags&FlagACK != 0 && c.state >= Established {
			if !c.processAck(h, len(data)+1, now) || c.state == Closed {
				return
			}
		}
		c.ackNow = true
		return
	}
	c.lastRecv = tickOf(now)
	if c.s.cfg.KeepAlive > 0 && c.keepAt != 0 {
		c.keepAt = tickOf(now).add(c.s.cfg.KeepAlive)
		c.keepProbes = 0
	}
	// 2. RST (RFC 5961 §3.2)
	if rst {
		if seq == c.rcvNxt {
			s.stats.ConnsReset++
			if c.state == SynReceived && c.passive {
				c.setClosed() // back to LISTEN: the listener simply forgets it
				return
			}
			c.fail(ErrReset)
		} else if c.challengeOK(now) {
			c.ackNow = true
		}
		return
	}
	// 4. SYN (RFC 5961 §4.2)
	if syn {
		if c.state == SynReceived && c.passive {
			c.setClosed()
			return
		}
		if c.challengeOK(now) {
			c.ackNow = true
		}
		return
	}
	// 5. ACK
	if h.Flags&FlagACK == 0 {
		s.stats.DropNoACK++
		return
	}
	if c.state == SynReceived {
		if !(seqLT(c.sndUna, h.Ack) && seqLE(h.Ack, c.sndMax)) {
			s.queueRST(c.laddr, c.raddr, c.lport, c.rport, h.Ack, 0, FlagRST)
			return
		}
		c.sndWnd = uint32(h.Window)
		c.maxSndWnd = max(c.maxSndWnd, c.sndWnd)
		c.sndWl1, c.sndWl2 = seq, h.Ack
		c.established(now)
	}
	if !c.processAck(h, len(data), now) || c.state == Closed {
		return
	}
	// 7. segment text, trimmed to the window
	if seqLT(seq, c.rcvNxt) {
		d := int(c.rcvNxt - seq)
		if d >= len(data) {
			if d > len(data) {
				fin = false
			}
			data = data[:0]
		} else {
			data = data[d:]
		}
		seq = c.rcvNxt
	}
	if lim := int(c.rcvAdv - seq); len(data) >= lim {
		if len(data) > lim {
			data = data[:lim]
		}
		fin = false // a FIN beyond the window
	}
	switch c.state {
	case Established, FinWait1, FinWait2:
		if len(data) > 0 {
			c.receive(seq, data, now)
		}
	default:
		data = data[:0]
	}
	// 8. FIN
	if fin && seq+uint32(len(data)) == c.rcvNxt {
		c.rcvNxt++
		c.rcvAdv = max32seq(c.rcvAdv, c.rcvNxt)
		c.finRcvd = true
		c.nooo = 0
		c.ackNow = true
		switch c.state {
		case Established:
			c.state = CloseWait
		case FinWait1:
			c.state = Closing
		case FinWait2:
			c.enterTimeWait(now)
		}
	}
}

// challengeOK applies the RFC 5961 §7 challenge-ACK rate limit: "An
// implementation SHOULD include an ACK throttling mechanism to be
// conservative", limiting the challenge ACKs sent within a time period.
// The limit is per connection: at most Config.ChallengeACKLimit in any
// one-second period that starts with the first challenge ACK after the
// last period.
//
// RFC 5961 does not say what the limit applies to. A budget shared by all
// connections, as the RFC's example and Linux before 4.7 had it (and this
// stack until issue #13), is the side channel of CVE-2016-5696 (Cao et
// al., "Off-Path TCP Exploits", USENIX Security 2016): an off-path
// attacker sends spoofed RSTs or SYNs to a guessed 4-tuple and sequence
// number, then draws challenge ACKs on its own connection and counts
// them; one fewer than the limit means the guess hit a live connection's
// window. Linux answered first by randomising the global limit each
// second (±50% around 1000) and later by disabling the global limit by
// default, keeping only a per-socket limit (net.ipv4.tcp_invalid_ratelimit).
// This stack keeps only the per-connection limit, with no global one:
// another connection's budget is invisible to an attacker, so the count it
// observes on its own connection carries no information about the others
// (TestChallengeACKSideChannel), and the total stays bounded by
// MaxConns × ChallengeACKLimit per second, which is what a global limit
// was for.
func (c *Conn) challengeOK(now time.Time) bool {
	// Milliseconds mod 2^32: a clock that went back shows as a huge
	// difference and starts a new second, as a second past does. A fresh
	// connection (chalAt 0) has its whole budget whichever second it is.
	t := uint32(now.UnixMilli())
	if t-c.chalAt >= 1000 {
		c.chalAt, c.chalN = t, 0
	}
	if c.chalN >= c.s.cfg.ChallengeACKLimit {
		c.s.stats.ChallengeThrottle++
		return false
	}
	c.chalN++
	c.s.stats.ChallengeACKs++
	return true
}

func max32seq(a, b uint32) uint32 {
	if seqGT(b, a) {
		return b
	}
	return a
}

func (c *Conn) enterTimeWait(now time.Time) {
	c.state = TimeWait
	c.rtxAt, c.persistAt, c.keepAt = 0, 0, 0
	c.timeWaitAt = tickOf(now).add(c.s.cfg.TimeWait)
}

// inputSynSent handles a segment in SYN-SENT (RFC 9293 §3.10.7.3).
func (c *Conn) inputSynSent(h *Header, data []byte, now time.Time) {
	ack := h.Flags&FlagACK != 0
	if ack && (seqLE(h.Ack, c.iss) || seqGT(h.Ack, c.sndMax)) {
		if h.Flags&FlagRST == 0 {
			c.s.queueRST(c.laddr, c.raddr, c.lport, c.rport, h.Ack, 0, FlagRST)
		}
		c.s.stats.DropState++
		return
	}
	if h.Flags&FlagRST != 0 {
		if ack {
			c.s.stats.ConnsReset++
			c.fail(ErrRefused)
		}
		return
	}
	if h.Flags&FlagSYN == 0 {
		c.s.stats.DropState++
		return
	}
	c.synOptions(h)
	c.ackNow = true
	if ack {
		c.newAck(h.Ack, now)
		c.established(now)
		return
	}
	// Simultaneous open: answer with SYN-ACK from the same ISS.
	c.state = SynReceived
	c.sndNxt = c.iss
	c.rttActive = false
}

// processAck is step 5 of RFC 9293 §3.10.7.4 for synchronized states, with
// the RFC 5961 §5 ACK check. It returns false when the segment is dropped.
func (c *Conn) processAck(h *Header, dlen int, now time.Time) bool {
	ack := h.Ack
	if c.sndLen == 0 { // (a request arriving now may be answered at once)
		c.sendWaitFrom = tickOf(now)
	}
	if seqGT(ack, c.sndMax) {
		c.ackNow = true
		c.s.stats.DropState++
		return false
	}
	if seqLT(ack, c.sndUna-c.maxSndWnd) {
		if c.challengeOK(now) {
			c.ackNow = true
		}
		c.s.stats.DropState++
		return false
	}
	advanced := seqGT(ack, c.sndUna)
	if advanced {
		c.sendWaitFrom = tickOf(now)
		c.newAck(ack, now)
	} else if ack == c.sndUna && dlen == 0 && h.Flags&(FlagSYN|FlagFIN) == 0 &&
		uint32(h.Window) == c.sndWnd && c.sndMax != c.sndUna {
		c.dupAck()
	}
	// The window is taken from the newest segment (SND.WL1/WL2), and, as
	// Linux does, from any segment that acknowledges new data: a
	// retransmission (older sequence number) carrying a newer ACK would
	// otherwise leave the old window anchored at the new SND.UNA, moving
	// the right edge beyond what the peer offered.
	if advanced || seqLT(c.sndWl1, h.Seq) || (c.sndWl1 == h.Seq && seqLE(c.sndWl2, ack)) {
		c.sndWnd = uint32(h.Window)
		c.sndWl1, c.sndWl2 = h.Seq, ack
		if c.sndWnd > c.maxSndWnd {
			c.maxSndWnd = c.sndWnd
		}
		if c.sndWnd > 0 {
			c.persistShift = 0
			c.persistAt = 0
		}
	}
	finAcked := c.finQueued && seqGT(c.sndUna, c.sndBase+uint32(c.sndLen))
	if finAcked {
		switch c.state {
		case FinWait1:
			c.state = FinWait2
			if c.released {
				c.timeWaitAt = tickOf(now).add(c.s.cfg.TimeWait) // orphan FIN-WAIT-2 timeout
			}
		case Closing:
			c.enterTimeWait(now)
		case LastAck:
			c.setClosed()
			return false
		}
	}
	return true
}

// newAck handles an ACK that acknowledges new data (SND.UNA < ack ≤ SND.MAX).
func (c *Conn) newAck(ack uint32, now time.Time) {
	acked := ack - c.sndUna
	synOnly := !c.synAcked
	c.synAcked = true
	if seqGT(ack, c.sndBase) {
		k := int(ack - c.sndBase)
		if k > int(c.sndLen) {
			k = int(c.sndLen)
		}
		b := c.sndBuf()
		copy(b, b[k:c.sndLen])
		c.sndLen -= int32(k)
		c.sndBase += uint32(k)
	}
	c.sndUna = ack
	if seqLT(c.sndNxt, ack) {
		c.sndNxt = ack
	}
	if c.rttActive && seqGT(ack, c.rttSeq) {
		c.rttActive = false
		c.rttSample(time.Duration(tickOf(now) - c.rttStart))
	}
	mss := uint32(c.sndMSS)
	if !synOnly {
		if c.inRecovery {
			if seqGE(ack, c.recover) {
				c.inRecovery = false
				c.cwnd = max(min(c.ssthresh, c.sndMax-c.sndUna+mss), mss)
			} else { // partial ACK (RFC 6582)
				c.rtxOne = true
				if acked >= c.cwnd {
					c.cwnd = mss
				} else {
					c.cwnd -= acked
					if acked >= mss {
						c.cwnd += mss
					}
				}
			}
		} else if c.cwnd < c.ssthresh {
			c.cwnd += min(acked, mss)
		} else {
			c.cwnd += max(mss*mss/c.cwnd, 1)
		}
		if c.cwnd > 1<<24 {
			c.cwnd = 1 << 24
		}
	}
	c.dupAcks = 0
	c.limitedTx = 0
	c.ackAfterTimeout(ack)
	c.backoff = 0
	// Keep the markers compared with SND.UNA within 2^31 of it.
	if !c.inRecovery && seqGT(ack, c.recover) {
		c.recover = ack - 1
	}
	if seqLT(c.smallEnd, ack) {
		c.smallEnd = ack
	}
	if c.sndUna == c.sndMax {
		c.rtxAt = 0
	} else {
		c.rtxAt = tickOf(now).add(c.rto.d())
		c.unackedSince = tickOf(now)
	}
}

func (c *Conn) dupAck() {
	inc16(&c.dupAcks)
	mss := uint32(c.sndMSS)
	if c.inRecovery {
		c.cwnd += mss
		return
	}
	if c.dupAcks <= 2 {
		c.limitedTx = uint32(c.dupAcks) // RFC 3042: one new segment per early duplicate ACK
	}
	if int(c.dupAcks) < c.dupThresh() || !seqGE(c.sndUna, c.recover) {
		return
	}
	c.s.stats.FastRetransmits++
	c.ssthresh = max((c.sndMax-c.sndUna)/2, 2*mss)
	c.cwnd = c.ssthresh + 3*mss
	c.recover = c.sndMax
	c.inRecovery = true
	c.limitedTx = 0
	c.rtxOne = true
	c.rttActive = false
}

// rtoKeepMax bounds the backoff an ACK of retransmitted data keeps (see
// ackAfterTimeout), as a multiple of the estimate's RTO.
const rtoKeepMax = 8

// ackAfterTimeout decides whether an ACK of new data ends the RTO backoff
// (RFC 6298 §5.5) when no valid RTT sample came with it: Karn's algorithm
// takes none from retransmitted segments (RFC 6298 §3), and keeps the
// backed-off RTO until a segment sent once is timed. Without timestamps an
// ACK of retransmitted data is ambiguous: it may be the late ACK of the
// original, the timeout spurious. On a slow line one full segment takes
// longer to send than the RTO learnt from the handshake's small segments
// (1.56 s at 9600 baud against 1 s): collapsing the RTO on that ACK timed
// every next segment out again, sending each twice and never getting a
// sample. The RTO collapses to the estimate's only when
//   - the ACK covers data sent once and never retransmitted (RFC 8961
//     §4 (3a)): sent after the timeout, or beyond a repaired hole;
//   - or the backoff has gone beyond rtoKeepMax times the estimate's RTO
//     (a deviation from RFC 6298). Under heavy loss a segment sent once
//     rarely survives a round trip, and keeping the doubled RTO until one
//     does ratchets it up to MaxRTO (the user timeout then aborts a
//     connection still making progress). A segment longer on the line
//     than rtoKeepMax times the 1 s minimum RTO (below about 2000 baud)
//     needs a larger MinRTO.
func (c *Conn) ackAfterTimeout(ack uint32) {
	beyond := seqGT(ack, c.rtxEnd)
	if beyond {
		c.rtxEnd = ack // keep it within 2^31 of SND.UNA
	}
	if c.srtt == 0 {
		return
	}
	if est := c.rtoEstimate(); beyond || c.rto.d() > rtoKeepMax*est {
		c.rto = usOf(est)
	}
}

// noteRetransmit records a retransmission of sequence space up to end.
func (c *Conn) noteRetransmit(end uint32) {
	if seqGT(end, c.rtxEnd) {
		c.rtxEnd = end
	}
}

// dupThresh is the duplicate ACK threshold for fast retransmit: 3, or 1
// with two segments outstanding and no new segment allowed out (RFC 5827
// early retransmit, for two segments only: three tolerate the reordering
// of one).
func (c *Conn) dupThresh() int {
	mss := uint32(c.sndMSS)
	dataEnd := c.sndBase + uint32(c.sndLen)
	end := c.sndMax
	if seqGT(end, dataEnd) {
		end = dataEnd // a FIN is no segment of its own here
	}
	if !seqGT(end, c.sndUna) || end-c.sndUna <= mss || end-c.sndUna > 2*mss {
		return 3
	}
	if seqLT(c.sndMax, dataEnd) && min(c.sndWnd, c.cwnd+c.limitedTx*mss) >= c.sndMax-c.sndUna+mss {
		return 3 // new data may go out (RFC 5827 §3.1)
	}
	return 1
}

// rttSample updates SRTT, RTTVAR and RTO (RFC 6298 §2).
func (c *Conn) rttSample(r time.Duration) {
	if r <= 0 {
		r = time.Microsecond
	}
	if c.srtt == 0 {
		c.srtt = usOf(r)
		c.rttvar = usOf(r / 2)
	} else {
		srtt, rttvar := c.srtt.d(), c.rttvar.d()
		d := srtt - r
		if d < 0 {
			d = -d
		}
		c.rttvar = usOf((3*rttvar + d) / 4)
		c.srtt = usOf((7*srtt + r) / 8) // ≥ 1 µs: r is
	}
	c.rto = usOf(c.rtoEstimate())
}

// rtoEstimate is RTO computed from SRTT and RTTVAR (RFC 6298 §2.3, §2.4).
func (c *Conn) rtoEstimate() time.Duration {
	return min(max(c.srtt.d()+max(time.Millisecond, 4*c.rttvar.d()), c.s.cfg.MinRTO), c.s.cfg.MaxRTO)
}

// receive stores in-window data (seq ≥ RCV.NXT).
func (c *Conn) receive(seq uint32, data []byte, now time.Time) {
	if c.released { // nobody reads any more: acknowledge and discard in-order data
		if seq == c.rcvNxt {
			c.rcvNxt += uint32(len(data))
		}
		c.ackNow = true
		return
	}
	if seq != c.rcvNxt {
		c.storeOOO(seq, data)
		c.ackNow = true
		if c.dupAcksOut < 4 {
			c.dupAcksOut++ // a pure duplicate ACK each, for the sender's fast retransmit
		}
		return
	}
	n := copy(c.wbuf()[c.rcvLen:], data)
	c.rcvLen += int32(n)
	c.rcvNxt += uint32(n)
	c.dupAcksOut = 0
	if c.nooo > 0 {
		c.mergeOOO()
		c.ackNow = true
	}
	if c.rcvAdv == c.rcvNxt {
		c.probeSeen = true // the window closed (see the zero-window probe in input)
	}
	if c.s.largePool != nil {
		c.maybeGrow()
	}
	inc16(&c.unackedSegs)
	if c.unackedSegs >= 2 || c.s.cfg.DelayedACK < 0 {
		c.ackNow = true
	} else if c.delackAt == 0 {
		c.delackAt = tickOf(now).add(c.s.cfg.DelayedACK)
	}
}

func (c *Conn) storeOOO(seq uint32, data []byte) {
	off := int(c.rcvLen) + int(seq-c.rcvNxt)
	if off+len(data) > c.bufSize() {
		c.s.stats.DropOOO++
		return
	}
	r := oooRange{seq, seq + uint32(len(data))}
	var keep [oooRanges]oooRange
	nk := 0
	for i := 0; i < int(c.nooo); i++ {
		x := c.ooo[i]
		if seqLT(x.end, r.start) || seqGT(x.start, r.end) {
			keep[nk] = x
			nk++
			continue
		}
		if seqLT(x.start, r.start) {
			r.start = x.start
		}
		if seqGT(x.end, r.end) {
			r.end = x.end
		}
	}
	if nk == oooRanges {
		c.s.stats.DropOOO++
		return
	}
	copy(c.wbuf()[off:], data)
	// insert r keeping the table sorted by start
	i := nk
	for i > 0 && seqGT(keep[i-1].start, r.start) {
		i--
	}
	copy(c.ooo[:i], keep[:i])
	c.ooo[i] = r
	copy(c.ooo[i+1:nk+1], keep[i:nk])
	c.nooo = uint8(nk + 1)
}

// mergeOOO moves ranges that became in-order into the in-order data.
func (c *Conn) mergeOOO() {
	for c.nooo > 0 && seqLE(c.ooo[0].start, c.rcvNxt) {
		if e := c.ooo[0].end; seqGT(e, c.rcvNxt) {
			c.rcvLen += int32(e - c.rcvNxt)
			c.rcvNxt = e
		}
		copy(c.ooo[:], c.ooo[1:c.nooo])
		c.nooo--
	}
}

// ---- output ----

func (c *Conn) swsThresh() int { return max(min(c.limit()/2, int(c.s.cfg.MSS)), 1) }

// freeWnd is the window the receive buffer (within limit) allows now.
func (c *Conn) freeWnd() int { return min(max(c.limit()-int(c.rcvLen), 0), 0xffff) }

// newEdge returns the right edge the receive buffer allows now and
// whether the window may move there: by at least min(MSS, buffer/2)
// (receiver SWS avoidance, RFC 9293 §3.8.6.2.2), or by any amount while a
// reservation (Reserve) reaches beyond the edge advertised, or after a
// zero-window probe found the reader stuck on unread data (no Consume
// since the window closed or since the previous probe). A reader that
// parses records in place cannot consume before the rest of its record
// arrives: waiting for SWS-sized room would deadlock.
func (c *Conn) newEdge() (uint32, bool) {
	lim := c.limit()
	edge := c.rcvNxt + uint32(min(max(lim-int(c.rcvLen), 0), 0xffff))
	if !seqGT(edge, c.rcvAdv) {
		return edge, false
	}
	sws := max(min(lim/2, int(c.s.cfg.MSS)), 1) // swsThresh
	return edge, int(edge-c.rcvAdv) >= sws || c.probed || int(c.rcvLen)+int(c.rcvAdv-c.rcvNxt) < int(c.need)
}

// advertise returns the window to put in a segment, moving the advertised
// right edge as newEdge allows.
func (c *Conn) advertise() uint16 {
	if edge, ok := c.newEdge(); ok {
		c.rcvAdv = edge
	}
	if seqLT(c.rcvAdv, c.rcvNxt) {
		c.rcvAdv = c.rcvNxt
	}
	return uint16(c.rcvAdv - c.rcvNxt)
}

func (c *Conn) ackSent() {
	c.ackNow = false
	c.delackAt = 0
	c.unackedSegs = 0
}

// sendSeq books a transmission of seqlen sequence numbers from seq.
func (c *Conn) sendSeq(now time.Time, seq uint32, seqlen int, retx bool) {
	if c.sndUna == c.sndMax {
		c.unackedSince = tickOf(now)
	}
	end := seq + uint32(seqlen)
	if seqGT(end, c.sndMax) {
		c.sndMax = end
	}
	if retx {
		c.s.stats.Retransmits++
		c.noteRetransmit(end)
	} else if !c.rttActive {
		c.rttActive = true
		c.rttSeq = seq
		c.rttStart = tickOf(now)
	}
	if c.rtxAt == 0 {
		c.rtxAt = tickOf(now).add(c.rto.d())
	}
	c.persistAt = 0
}

// emit writes an ACK segment with payload p (a slice of sndBuf) at seq.
func (c *Conn) emit(dst []byte, seq uint32, flags uint8, p []byte) int {
	hl := putHeader(dst, c.lport, c.rport, seq, c.rcvNxt, flags|FlagACK, c.advertise(), 0)
	n := copy(dst[hl:], p)
	c.ackSent()
	return hl + n
}

func (c *Conn) output(dst []byte, now time.Time) int {
	if c.state == Closed || c.state == Listen {
		return 0
	}
	if c.sndLen == 0 {
		c.sendWaitFrom = tickOf(now)
	}
	if (c.state == SynSent || c.state == SynReceived) && c.sndNxt == c.iss {
		flags := uint8(FlagSYN)
		var ack uint32
		if c.state == SynReceived {
			flags |= FlagACK
			ack = c.rcvNxt
		}
		hl := putHeader(dst, c.lport, c.rport, c.iss, ack, flags, c.advertise(), c.mss())
		retx := c.sndMax != c.iss
		c.sndNxt = c.iss + 1
		c.sendSeq(now, c.iss, 1, retx)
		c.ackSent()
		return hl
	}
	if c.state == SynSent {
		return 0
	}
	if c.rtxOne {
		c.rtxOne = false
		if n := c.retransmitOne(dst, now); n > 0 {
			return n
		}
	}
	if c.probeNow {
		c.probeNow = false
		return c.emit(dst, c.sndUna-1, 0, nil)
	}
	if c.dupAcksOut > 0 {
		c.dupAcksOut--
		return c.emit(dst, c.sndMax, 0, nil)
	}
	if c.state != SynReceived && c.state != TimeWait {
		if n := c.sendData(dst, now); n > 0 {
			return n
		}
		c.maybePersist(now)
	}
	if c.ackNow {
		return c.emit(dst, c.sndMax, 0, nil)
	}
	return 0
}

// sendData sends the next segment of new (or go-back-N) data and/or FIN
// when the windows, Nagle and sender-side SWS avoidance allow.
func (c *Conn) sendData(dst []byte, now time.Time) int {
	dataEnd := c.sndBase + uint32(c.sndLen)
	if seqGT(c.sndNxt, dataEnd) || !c.synAcked {
		return 0 // FIN already sent, or SYN not acknowledged
	}
	off := int(c.sndNxt - c.sndBase)
	avail := int(c.sndLen) - off
	flight := c.sndNxt - c.sndUna
	wnd := min(c.sndWnd, c.cwnd+c.limitedTx*uint32(c.sndMSS))
	usable := 0
	if wnd > flight {
		usable = int(wnd - flight)
	}
	n := min(avail, int(c.sndMSS), len(dst)-HeaderLen, usable)
	fin := c.finQueued && n == avail
	if n == 0 && !fin {
		return 0
	}
	retx := seqLT(c.sndNxt, c.sndMax)
	if n > 0 && !retx && !fin && n < int(c.sndMSS) && !c.forceSend {
		ok := n == avail && (c.s.cfg.NoDelay || !seqGT(c.smallEnd, c.sndUna)) // Nagle, Minshall
		ok = ok || (c.maxSndWnd > 0 && n >= int(c.maxSndWnd/2))               // SWS: half the max window
		if !ok {
			return 0
		}
	}
	c.forceSend = false
	flags := uint8(0)
	if n == avail {
		flags |= FlagPSH
	}
	seqlen := n
	if fin {
		flags |= FlagFIN
		seqlen++
	}
	seq := c.sndNxt
	k := c.emit(dst, seq, flags, c.sndData(off, n))
	if n > 0 && n < int(c.sndMSS) {
		c.smallEnd = seq + uint32(n)
	}
	c.sndNxt = seq + uint32(seqlen)
	c.sendSeq(now, seq, seqlen, retx)
	return k
}

// sndData is the n bytes of queued data from offset off (none when n is
// 0: the buffer may have been shed).
func (c *Conn) sndData(off, n int) []byte {
	if n == 0 {
		return nil
	}
	return c.sndBuf()[off : off+n]
}

// retransmitOne resends the segment at SND.UNA without moving SND.NXT.
func (c *Conn) retransmitOne(dst []byte, now time.Time) int {
	if c.sndUna == c.sndMax || !c.synAcked {
		return 0
	}
	dataEnd := c.sndBase + uint32(c.sndLen)
	seq := c.sndUna
	n := 0
	if seqLT(seq, dataEnd) {
		n = min(int(dataEnd-seq), int(c.sndMSS), len(dst)-HeaderLen)
	}
	fin := c.finQueued && seq+uint32(n) == dataEnd && seqGT(c.sndMax, dataEnd)
	if n == 0 && !fin {
		return 0
	}
	flags := uint8(0)
	if fin {
		flags |= FlagFIN
	}
	k := c.emit(dst, seq, flags, c.sndData(int(seq-c.sndBase), n))
	c.rttActive = false
	c.s.stats.Retransmits++
	end := seq + uint32(n)
	if fin {
		end++
	}
	c.noteRetransmit(end)
	if c.rtxAt == 0 {
		c.rtxAt = tickOf(now).add(c.rto.d())
	}
	return k
}

// maybePersist arms the persist timer when data waits, nothing is in
// flight, and the window does not let it go.
func (c *Conn) maybePersist(now time.Time) {
	if c.persistAt != 0 || c.rtxAt != 0 || c.sndNxt != c.sndUna || !c.synAcked {
		return
	}
	dataEnd := c.sndBase + uint32(c.sndLen)
	if !seqLT(c.sndNxt, dataEnd) && !(c.finQueued && c.sndNxt == dataEnd) {
		return
	}
	d := c.rto.d() << c.persistShift
	if d > c.s.cfg.MaxRTO || d <= 0 {
		d = c.s.cfg.MaxRTO
	}
	c.persistAt = tickOf(now).add(d)
}

// ---- timers ----

func (c *Conn) poll(now time.Time) tick {
	cfg := &c.s.cfg
	if c.sndLen == 0 {
		c.sendWaitFrom = tickOf(now)
	}
	if c.released && c.state == FinWait2 && c.timeWaitAt == 0 {
		c.timeWaitAt = tickOf(now).add(cfg.TimeWait)
	}
	if c.timeWaitAt != 0 && tickOf(now) >= c.timeWaitAt {
		c.timeWaitAt = 0
		if c.state == TimeWait || c.state == FinWait2 {
			c.setClosed()
			return 0
		}
	}
	if c.rtxAt != 0 && tickOf(now) >= c.rtxAt {
		c.onRTO(now)
		if c.state == Closed {
			return 0
		}
	}
	if c.persistAt != 0 && tickOf(now) >= c.persistAt {
		c.persistAt = 0
		if time.Duration(tickOf(now)-c.lastRecv) >= cfg.UserTimeout { // probes unanswered
			c.s.stats.ConnsTimedOut++
			c.s.queueRST(c.laddr, c.raddr, c.lport, c.rport, c.sndMax, 0, FlagRST)
			c.fail(ErrTimeout)
			return 0
		}
		if c.sndWnd == 0 {
			c.probeNow = true
		} else {
			c.forceSend = true
		}
		if c.persistShift < 16 {
			c.persistShift++
		}
	}
	if c.delackAt != 0 && tickOf(now) >= c.delackAt {
		c.delackAt = 0
		c.ackNow = true
	}
	if c.keepAt != 0 && tickOf(now) >= c.keepAt {
		switch {
		case c.state != Established && c.state != CloseWait:
			c.keepAt = 0
		case c.sndUna != c.sndMax:
			c.keepAt = tickOf(now).add(cfg.KeepAlive) // the retransmission timer watches the peer
		case int32(c.keepProbes) >= cfg.KeepAliveCount:
			c.s.stats.ConnsTimedOut++
			c.s.queueRST(c.laddr, c.raddr, c.lport, c.rport, c.sndMax, 0, FlagRST)
			c.fail(ErrTimeout)
			return 0
		default:
			inc16(&c.keepProbes)
			c.probeNow = true
			c.keepAt = tickOf(now).add(cfg.KeepAliveInterval)
		}
	}
	// Sequence space waiting to go out arms the retransmission (or persist)
	// timer when Output sends it, possibly after this Poll: announce a
	// deadline no later than that one, so a caller that computes its sleep
	// before draining Output still wakes in time.
	var predicted tick
	if c.rtxAt == 0 && c.persistAt == 0 && c.unsentSeq() {
		predicted = tickOf(now).add(c.rto.d())
	}
	var next tick
	for _, t := range [...]tick{c.rtxAt, c.persistAt, c.delackAt, c.keepAt, c.timeWaitAt, predicted} {
		if t != 0 && (next == 0 || t < next) {
			next = t
		}
	}
	return next
}

// unsentSeq reports whether a SYN, data or a FIN waits to be sent.
func (c *Conn) unsentSeq() bool {
	switch c.state {
	case SynSent, SynReceived:
		return c.sndNxt == c.iss
	case Closed, Listen, TimeWait:
		return false
	}
	if !c.synAcked {
		return false
	}
	dataEnd := c.sndBase + uint32(c.sndLen)
	return c.rtxOne || seqLT(c.sndNxt, dataEnd) || (c.finQueued && c.sndNxt == dataEnd)
}

// onRTO handles the retransmission timer (RFC 6298 §5, RFC 5681 §3.1).
func (c *Conn) onRTO(now time.Time) {
	cfg := &c.s.cfg
	c.rtxAt = 0
	if c.sndUna == c.sndMax {
		return
	}
	if time.Duration(tickOf(now)-c.unackedSince) >= cfg.UserTimeout ||
		(c.state == SynReceived && c.passive && int32(c.backoff) >= cfg.SynRetries) {
		c.s.stats.ConnsTimedOut++
		if c.state != SynSent {
			c.s.queueRST(c.laddr, c.raddr, c.lport, c.rport, c.sndMax, 0, FlagRST)
		}
		c.fail(ErrTimeout)
		return
	}
	c.s.stats.Timeouts++
	mss := uint32(c.sndMSS)
	if c.backoff == 0 {
		c.ssthresh = max((c.sndMax-c.sndUna)/2, 2*mss)
	}
	c.cwnd = mss
	inc16(&c.backoff)
	c.rto = usOf(min(2*c.rto.d(), cfg.MaxRTO))
	// The segment at SND.UNA counts as retransmitted from now on, though
	// it may still wait for the line: an ACK that covers no more than it
	// may be the original's late ACK (see ackAfterTimeout).
	end := c.sndUna + mss
	if seqGT(end, c.sndMax) {
		end = c.sndMax
	}
	c.noteRetransmit(end)
	c.sndNxt = c.sndUna // go back N
	c.smallEnd = c.sndUna
	c.rttActive = false
	c.recover = c.sndMax
	c.inRecovery = false
	c.dupAcks = 0
	c.limitedTx = 0
	c.rtxOne = false
}
