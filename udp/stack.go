package udp

import (
	"encoding/binary"
	"errors"
	"io"
	"time"

	"unsafe"

	"netcard/internal/count"
	"netcard/ipv4"
	"netcard/ipv6"
)

// Socket and stack errors.
var (
	ErrPortInUse = errors.New("udp: port in use")
	ErrNoSockets = errors.New("udp: all sockets in use")
	ErrNoPort    = errors.New("udp: no ephemeral port free")
	ErrQueueFull = errors.New("udp: send queue full")
	ErrTooBig    = errors.New("udp: datagram larger than the send queue")
	ErrClosed    = errors.New("udp: socket closed")
)

// Config sizes a Stack. Zero fields take the defaults given.
//
// The queues are not resident: a socket's receive queue is allocated by
// Bind and released by Close, and the shared send queue is allocated by
// the first SendTo and released once it is empty and no socket is bound.
// On the card UDP carries only the DNS stub resolver, which binds a socket
// for the life of one query, so a card that is not resolving holds no UDP
// queue at all; the cost is one or two allocations per query (per Bind),
// never one per datagram.
type Config struct {
	MaxSockets int       // default 4
	QueueBytes int       // receive queue per bound socket, including 8 bytes per datagram; default 1024
	SendBytes  int       // send queue shared by all sockets, 10 bytes per datagram; default 1024
	Rand       io.Reader // ephemeral ports; nil: sequential
}

// Stats counts the stack's datagrams and drops.
type Stats struct {
	InDatagrams   uint64 // given to Input
	InDelivered   uint64 // queued to a socket
	InShort       uint64 // shorter than 8 bytes
	InBadLength   uint64 // bad length field
	InBadChecksum uint64 // checksum wrong
	InNoPort      uint64 // no socket bound (the host answers port unreachable below the ephemeral range)
	InQueueFull   uint64 // receive queue of the socket full
	RecvTruncated uint64 // RecvFrom buffer shorter than the datagram
	OutDatagrams  uint64 // written by Output
	OutQueueFull  uint64 // SendTo refused: send queue full
	OutTooBig     uint64 // dropped at Output: larger than the MTU allows
}

// Queue records: the metadata, then the payload. An IPv6 record's length
// field has its top bit set (a datagram is shorter than 32 KiB: no queue
// holds more, see NewStack) and its metadata is followed by the addresses,
// so IPv4 records keep their size (a 512-byte DNS answer fits Tiny's
// 520-byte queue).
const (
	rxMeta  = 8  // remote addr (IPv4), remote port, length
	txMeta  = 10 // local port, remote addr (IPv4), remote port, length
	rxMeta6 = rxMeta + 16
	txMeta6 = txMeta + 32 // + local and remote IPv6 addresses
	flag6   = 0x8000
)

// ring is a byte FIFO over a fixed buffer; records may wrap.
type ring struct {
	buf   []byte
	r, n  uint16 // read position, bytes queued (a queue holds at most 1<<15 bytes, see NewStack)
	count uint16 // records (each at least rxMeta bytes)
}

func (q *ring) free() int { return len(q.buf) - int(q.n) }

func (q *ring) write(p []byte) {
	w := int(q.r) + int(q.n)
	if w >= len(q.buf) {
		w -= len(q.buf)
	}
	k := copy(q.buf[w:], p)
	copy(q.buf, p[k:])
	q.n += uint16(len(p))
}

// read copies len(p) bytes at offset off from the read position.
func (q *ring) read(p []byte, off int) {
	r := int(q.r) + off
	if r >= len(q.buf) {
		r -= len(q.buf)
	}
	k := copy(p, q.buf[r:])
	copy(p[k:], q.buf)
}

func (q *ring) skip(k int) {
	r := int(q.r) + k
	if r >= len(q.buf) {
		r -= len(q.buf)
	}
	q.r = uint16(r)
	q.n -= uint16(k)
	if q.n == 0 {
		q.r = 0
	}
}

// Socket is a bound UDP port with its receive queue.
type Socket struct {
	s     *Stack
	port  uint16
	bound bool
	rx    ring
}

// Stack is the UDP layer: it implements ipv4.Transport and ipv4.PortFilter.
//
// Only the configuration and the counters are resident (80 bytes): the
// socket table and the send queue's ring (table) are lent by the first Bind
// and released with the last socket once the send queue is empty, so a
// card that is not resolving holds neither.
type Stack struct {
	rand       io.Reader
	t          *table // nil when no socket is bound and nothing waits to be sent
	queueBytes uint16 // at most 1<<15 (NewStack)
	sendBytes  uint16
	next       uint16
	nsocks     uint16 // Config.MaxSockets (at most 1<<16-1)
	stats      stats32
}

// table is what a Stack lends while a socket is bound or a datagram waits
// to be sent: the sockets and the send queue.
type table struct {
	socks []Socket // one[:] for a stack of one socket (the card's), else its own slice
	tx    ring
	rb    [2]byte
	one   [1]Socket
}

// TableBytes returns the bytes a stack of MaxSockets n lends while in use,
// besides its queues (Footprint counts them): the table, with its socket
// inside for n = 1 (one allocation), and the socket slice for n > 1.
func TableBytes(n int) int {
	if n <= 1 {
		return int(unsafe.Sizeof(table{}))
	}
	return int(unsafe.Sizeof(table{})) + n*int(unsafe.Sizeof(Socket{}))
}

// stats32 is what a Stack keeps of its Stats: the counters in 32 bits
// (they wrap after 2^32 datagrams; a reader sampling them often enough
// sees every increment, deltas modulo 2^32): 44 bytes, not 88, and the
// Stack fits the allocator's 128-byte class instead of 192 (with the
// metadata scratch of output on the stack, not in the Stack). Stats widens
// them.
type stats32 struct {
	InDatagrams   uint32
	InDelivered   uint32
	InShort       uint32
	InBadLength   uint32
	InBadChecksum uint32
	InNoPort      uint32
	InQueueFull   uint32
	RecvTruncated uint32
	OutDatagrams  uint32
	OutQueueFull  uint32
	OutTooBig     uint32
}

// export widens the counters into Stats.
func (c *stats32) export() Stats {
	var s Stats
	count.Widen(&s, c)
	return s
}

// NewStack returns a stack with no socket table (Bind lends it, see Stack)
// and no queue (Bind and SendTo lend them, see Config).
func NewStack(cfg Config) *Stack {
	if cfg.MaxSockets <= 0 {
		cfg.MaxSockets = 4
	}
	if cfg.QueueBytes <= 0 {
		cfg.QueueBytes = 1024
	}
	if cfg.SendBytes <= 0 {
		cfg.SendBytes = 1024
	}
	if cfg.QueueBytes > 1<<15 {
		cfg.QueueBytes = 1 << 15 // record lengths stay below flag6
	}
	if cfg.SendBytes > 1<<15 {
		cfg.SendBytes = 1 << 15
	}
	cfg.MaxSockets = min(cfg.MaxSockets, 1<<16-1)
	return &Stack{rand: cfg.Rand, queueBytes: uint16(cfg.QueueBytes), sendBytes: uint16(cfg.SendBytes),
		nsocks: uint16(cfg.MaxSockets), next: 49152}
}

// lend returns the table, allocating it (and its sockets) if none is lent.
func (s *Stack) lend() *table {
	if s.t == nil {
		t := &table{}
		if t.socks = t.one[:]; s.nsocks > 1 {
			t.socks = make([]Socket, s.nsocks)
		}
		for i := range t.socks {
			t.socks[i].s = s
		}
		s.t = t
	}
	return s.t
}

// socks returns the socket table (nil when none is lent).
func (s *Stack) socks() []Socket {
	if s.t == nil {
		return nil
	}
	return s.t.socks
}

// Rand returns Config.Rand (the resolver above shares it).
func (s *Stack) Rand() io.Reader { return s.rand }

// Stats returns the counters.
func (s *Stack) Stats() Stats { return s.stats.export() }

// Footprint returns the bytes of queue buffers the stack holds now: the
// receive queues of the bound sockets and the send queue, if allocated.
func (s *Stack) Footprint() int {
	if s.t == nil {
		return 0
	}
	n := len(s.t.tx.buf)
	for i := range s.t.socks {
		n += len(s.t.socks[i].rx.buf)
	}
	return n
}

// Lent returns everything the stack lends now: Footprint and, while lent,
// the socket table (TableBytes).
func (s *Stack) Lent() int {
	if s.t == nil {
		return 0
	}
	return TableBytes(int(s.nsocks)) + s.Footprint()
}

// MaxFootprint is the most Footprint can reach: every socket bound and the
// send queue allocated.
func (s *Stack) MaxFootprint() int { return int(s.nsocks)*int(s.queueBytes) + int(s.sendBytes) }

// Shed drops every queue that holds no datagram right now — the send queue
// and the receive queues of bound sockets — and returns the bytes released.
// A queue is lent again, at the same size, by the next datagram for it: a
// shed stack behaves byte for byte as one that was not. Shed never
// allocates; a second call returns 0.
func (s *Stack) Shed() int {
	t := s.t
	if t == nil {
		return 0
	}
	n := 0
	if t.tx.buf != nil && t.tx.n == 0 {
		n += cap(t.tx.buf)
		t.tx = ring{}
	}
	for i := range t.socks {
		if c := &t.socks[i]; c.rx.buf != nil && c.rx.n == 0 {
			n += cap(c.rx.buf)
			c.rx = ring{}
		}
	}
	return n
}

// release drops the send queue and the socket table when the queue is
// empty and no socket is bound (Close and Output call it: the table of a
// query's socket goes with the query).
func (s *Stack) release() {
	t := s.t
	if t == nil || t.tx.n != 0 {
		return
	}
	for i := range t.socks {
		if t.socks[i].bound {
			return
		}
	}
	s.t = nil
}

func (s *Stack) lookup(port uint16) *Socket {
	socks := s.socks()
	for i := range socks {
		if c := &socks[i]; c.bound && c.port == port {
			return c
		}
	}
	return nil
}

// Bind returns a socket bound to port; port 0 picks a random free ephemeral
// port (49152–65535) from Config.Rand.
func (s *Stack) Bind(port uint16) (*Socket, error) {
	t := s.lend()
	var c *Socket
	for i := range t.socks {
		if !t.socks[i].bound {
			c = &t.socks[i]
			break
		}
	}
	if c == nil {
		return nil, ErrNoSockets
	}
	if port == 0 {
		port = s.ephemeral()
		if port == 0 {
			s.release()
			return nil, ErrNoPort
		}
	} else if s.lookup(port) != nil {
		return nil, ErrPortInUse
	}
	c.port, c.bound = port, true
	c.rx = ring{buf: make([]byte, s.queueBytes)}
	return c, nil
}

func (s *Stack) ephemeral() uint16 {
	for try := 0; try < 8; try++ {
		var p uint16
		if s.rand != nil {
			rb := s.t.rb[:] // in the lent table: a local array would escape through the interface call
			if _, err := io.ReadFull(s.rand, rb); err != nil {
				break
			}
			p = 49152 + binary.BigEndian.Uint16(rb)%16384
		} else {
			p = s.next
			s.next++
			if s.next == 0 {
				s.next = 49152
			}
		}
		if s.lookup(p) == nil {
			return p
		}
	}
	for p := 49152; p <= 65535; p++ {
		if s.lookup(uint16(p)) == nil {
			return uint16(p)
		}
	}
	return 0
}

// Wants reports whether a socket is bound to port (the host's early filter).
func (s *Stack) Wants(port uint16) bool { return s.lookup(port) != nil }

// PortHidden implements ipv4.PortsHidden: a datagram to a closed port of
// the ephemeral range (49152–65535, where Bind(0) puts DNS queries) draws
// no ICMP port unreachable, so an attacker cannot find a query's port by
// counting ICMP replies (SADDNS, CVE-2020-25705; see ipv4.PortsHidden).
// Closed ports below the range are answered as RFC 1122 §4.1.3.1 asks.
func (s *Stack) PortHidden(port uint16) bool { return port >= 49152 }

// Input implements ipv4.Transport: it validates the datagram and queues it
// on the socket bound to its destination port. It returns false only when
// no socket is bound (so the host answers port unreachable, except in the
// ephemeral range: see PortHidden).
func (s *Stack) Input(src, dst ipv4.Addr, payload []byte, now time.Time) bool {
	return s.Input6(ipv6.From4(src), ipv6.From4(dst), payload, now)
}

// Input6 is Input for either family (ipv6.Transport): the sockets are
// dual-stack.
func (s *Stack) Input6(src, dst ipv6.Addr, payload []byte, now time.Time) bool {
	s.stats.InDatagrams++
	h, err := Parse(payload)
	if err != nil {
		if err == ErrShort {
			s.stats.InShort++
		} else {
			s.stats.InBadLength++
		}
		return true
	}
	if !h.VerifyChecksum6(src, dst) {
		s.stats.InBadChecksum++
		return true
	}
	c := s.lookup(h.DstPort())
	if c == nil {
		s.stats.InNoPort++
		return false
	}
	p := h.Payload()
	meta := rxMeta
	if !src.Is4() {
		meta = rxMeta6
	}
	if c.rx.buf == nil {
		if meta+len(p) > int(s.queueBytes) {
			s.stats.InQueueFull++
			return true
		}
		c.rx = ring{buf: make([]byte, s.queueBytes)} // lent again after Shed
	}
	if meta+len(p) > c.rx.free() {
		s.stats.InQueueFull++
		return true
	}
	var m [rxMeta6]byte
	copy(m[0:4], src[12:])
	binary.BigEndian.PutUint16(m[4:6], h.SrcPort())
	binary.BigEndian.PutUint16(m[6:8], uint16(len(p)))
	if meta == rxMeta6 {
		m[6] |= flag6 >> 8
		copy(m[rxMeta:], src[:])
	}
	c.rx.write(m[:meta])
	c.rx.write(p)
	c.rx.count++
	s.stats.InDelivered++
	return true
}

// Output implements ipv4.Transport: it writes the oldest queued datagram,
// with its checksum for source address local. An IPv6 datagram at the head
// of the queue waits for Output6 (the card alternates the two).
func (s *Stack) Output(dst []byte, local ipv4.Addr, now time.Time) (int, ipv4.Addr) {
	n, _, r := s.output(dst, false, ipv6.From4(local))
	return n, r.As4()
}

// Output6 implements ipv6.Transport: Output for a queued IPv6 datagram.
func (s *Stack) Output6(dst []byte, now time.Time) (int, ipv6.Addr, ipv6.Addr) {
	return s.output(dst, true, ipv6.Addr{})
}

func (s *Stack) output(dst []byte, v6 bool, local ipv6.Addr) (int, ipv6.Addr, ipv6.Addr) {
	if s.t == nil {
		return 0, ipv6.Addr{}, ipv6.Addr{}
	}
	tx := &s.t.tx
	for tx.count > 0 {
		var mb [txMeta]byte // on the stack: ring.read is no interface call
		m := mb[:]
		tx.read(m, 0)
		lport := binary.BigEndian.Uint16(m[0:2])
		remote := ipv6.From4(ipv4.Addr(m[2:6]))
		rport := binary.BigEndian.Uint16(m[6:8])
		plen := int(binary.BigEndian.Uint16(m[8:10]))
		meta := txMeta
		if plen&flag6 != 0 {
			plen &^= flag6
			meta = txMeta6
			var a [32]byte
			tx.read(a[:], txMeta)
			local, remote = ipv6.Addr(a[:16]), ipv6.Addr(a[16:])
		}
		if (meta == txMeta6) != v6 {
			break
		}
		if HeaderLen+plen > len(dst) {
			tx.skip(meta + plen)
			tx.count--
			s.stats.OutTooBig++
			continue
		}
		seg := dst[:HeaderLen+plen]
		tx.read(seg[HeaderLen:], meta)
		tx.skip(meta + plen)
		tx.count--
		PutHeader6(seg, local, remote, lport, rport)
		s.stats.OutDatagrams++
		s.release()
		return len(seg), local, remote
	}
	s.release()
	return 0, ipv6.Addr{}, ipv6.Addr{}
}

// Poll implements ipv4.Transport; UDP has no timers.
func (s *Stack) Poll(now time.Time) time.Time { return time.Time{} }

// LocalPort returns the port the socket is bound to.
func (c *Socket) LocalPort() uint16 { return c.port }

// SendTo queues payload for remote:port in the stack's send queue (copied;
// the caller may reuse payload). The IPv4 host sends it on a later Output.
func (c *Socket) SendTo(remote ipv4.Addr, port uint16, payload []byte) error {
	return c.SendTo6(ipv6.Addr{}, ipv6.From4(remote), port, payload)
}

// SendTo6 is SendTo for either family: to an IPv6 remote from the IPv6
// address local (the caller selects it, ipv6.Host.Source); to an
// IPv4-mapped remote as SendTo (local ignored).
func (c *Socket) SendTo6(local, remote ipv6.Addr, port uint16, payload []byte) error {
	if !c.bound {
		return ErrClosed
	}
	s := c.s
	tx := &s.t.tx // lent while c is bound
	meta := txMeta
	if !remote.Is4() {
		meta = txMeta6
	}
	need := meta + len(payload)
	if need > int(s.sendBytes) || len(payload) > 65535-HeaderLen-ipv4.HeaderLen {
		return ErrTooBig
	}
	if tx.buf == nil {
		tx.buf = make([]byte, s.sendBytes)
	}
	if need > tx.free() {
		s.stats.OutQueueFull++
		return ErrQueueFull
	}
	var mb [txMeta6]byte
	m := mb[:meta]
	binary.BigEndian.PutUint16(m[0:2], c.port)
	copy(m[2:6], remote[12:])
	binary.BigEndian.PutUint16(m[6:8], port)
	binary.BigEndian.PutUint16(m[8:10], uint16(len(payload)))
	if meta == txMeta6 {
		m[8] |= flag6 >> 8
		copy(m[txMeta:], local[:])
		copy(m[txMeta+16:], remote[:])
	}
	tx.write(m)
	tx.write(payload)
	tx.count++
	return nil
}

// RecvFrom dequeues the oldest received datagram into buf. It returns the
// number of bytes copied (a datagram longer than buf is truncated and its
// rest discarded), the sender, and ok=false when the queue is empty.
func (c *Socket) RecvFrom(buf []byte) (n int, from ipv4.Addr, port uint16, ok bool) {
	n, f, port, ok := c.RecvFrom6(buf)
	return n, f.As4(), port, ok
}

// RecvFrom6 is RecvFrom for either family: the sender's address is
// IPv4-mapped for IPv4.
func (c *Socket) RecvFrom6(buf []byte) (n int, from ipv6.Addr, port uint16, ok bool) {
	if c.rx.count == 0 {
		return 0, ipv6.Addr{}, 0, false
	}
	var m [rxMeta6]byte
	c.rx.read(m[:rxMeta], 0)
	from = ipv6.From4(ipv4.Addr(m[0:4]))
	port = binary.BigEndian.Uint16(m[4:6])
	plen := int(binary.BigEndian.Uint16(m[6:8]))
	meta := rxMeta
	if plen&flag6 != 0 {
		plen &^= flag6
		meta = rxMeta6
		c.rx.read(m[rxMeta:], rxMeta)
		from = ipv6.Addr(m[rxMeta:])
	}
	n = min(plen, len(buf))
	c.rx.read(buf[:n], meta)
	c.rx.skip(meta + plen)
	c.rx.count--
	if n < plen {
		c.s.stats.RecvTruncated++
	}
	return n, from, port, true
}

// Pending returns the number of datagrams waiting in the receive queue.
func (c *Socket) Pending() int { return int(c.rx.count) }

// Close unbinds the socket and releases its receive queue. Datagrams
// already in the send queue are still sent. The Socket must not be used
// after Close: its slot is reused by a later Bind.
func (c *Socket) Close() {
	c.bound = false
	c.rx = ring{}
	c.s.release()
}
