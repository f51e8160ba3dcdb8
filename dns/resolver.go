package dns

import (
	"encoding/binary"
	"errors"
	"io"
	"math"
	"reflect"
	"time"
	"unsafe"

	"netcard/internal/count"
	"netcard/ipv4"
	"netcard/ipv6"
	"netcard/udp"
)

// Resolver errors (Result's err).
var (
	ErrBusy          = errors.New("dns: a query is already outstanding")
	ErrNoServers     = errors.New("dns: no servers configured")
	ErrTimeout       = errors.New("dns: no answer from the servers")
	ErrNXDomain      = errors.New("dns: name does not exist")
	ErrNoAnswer      = errors.New("dns: no A (or AAAA) record for the name")
	ErrServerFailure = errors.New("dns: server failure")
	ErrTruncated     = errors.New("dns: response truncated")
	ErrCanceled      = errors.New("dns: query canceled")
)

// MaxServers is the number of servers a Resolver keeps.
const MaxServers = 3

// maxMsg is the largest message the resolver reads (no EDNS: RFC 1035's
// 512-byte UDP limit).
const maxMsg = 512

// ResolverConfig configures a Resolver. Zero fields take the defaults.
type ResolverConfig struct {
	Servers  []ipv4.Addr   // up to MaxServers, e.g. the DNS addresses learned via IPCP (RFC 1877)
	Timeout  time.Duration // per attempt; default 2s
	Attempts int           // total attempts over the servers in turn; default 4
	Rand     io.Reader     // query IDs and source ports; nil: the udp.Stack's (required then)
}

// ResolverStats counts the resolver's work.
type ResolverStats struct {
	Queries   uint64 // Resolve calls started
	Sent      uint64 // query datagrams sent (first tries and retries)
	Responses uint64 // datagrams received on the query socket
	Ignored   uint64 // datagrams rejected: wrong source, ID, question or malformed
}

// Resolver is a stub resolver for A records with one outstanding query,
// driven by the card's event loop: Resolve starts a query, Poll reads the
// responses and retransmits, Result reports the outcome.
//
// Only the configuration, the outcome and the counters are resident (80
// bytes: the generator is the udp.Stack's unless another is configured, the
// timeout in milliseconds). The working state of a query (the query message, the 512-byte
// response buffer, the names being compared and the parser: 2,232 bytes)
// is allocated by Resolve and released when the query ends, together with
// its UDP socket and queues, so a card that is not resolving holds none of
// it: one allocation per query (plus UDP's), never one per datagram.
type Resolver struct {
	u   *udp.Stack
	own *randBox // a generator other than u's (Config.Rand); nil: u's

	q *lookup // the outstanding query; nil when none runs

	addr     ipv6.Addr // the answer: IPv4-mapped for an A record
	servers  [MaxServers]ipv4.Addr
	stats    stats32
	timeout  uint32 // milliseconds, at least 1
	attempts int32
	nservers uint8
	done     bool
	errc     uint8 // the outcome's error: an index into outcomes
}

// randBox holds a Resolver's own generator: 8 bytes in the Resolver, the
// 16-byte interface only where it differs from the udp.Stack's.
type randBox struct{ r io.Reader }

// rng returns the generator for query IDs and source ports.
func (r *Resolver) rng() io.Reader {
	if r.own != nil {
		return r.own.r
	}
	return r.u.Rand()
}

// outcomes are the errors a query can end with, by Resolver.errc: a byte
// per resolver instead of a 16-byte interface value (read-only, shared).
var outcomes = [...]error{nil, ErrCanceled, ErrTimeout, ErrNXDomain, ErrServerFailure, ErrTruncated, ErrNoAnswer}

// outcome returns the index of err in outcomes. Only those errors end a
// query (finish's callers); another would be a programming error.
func outcome(err error) uint8 {
	for i, e := range outcomes {
		if e == err {
			return uint8(i)
		}
	}
	panic("dns: query ended with an unlisted error: " + err.Error())
}

// stats32 is what a Resolver keeps of its ResolverStats: the counters in
// 32 bits (16 bytes, not 32; they wrap after 2^32 queries or datagrams).
// Stats widens them.
type stats32 struct {
	Queries   uint32
	Sent      uint32
	Responses uint32
	Ignored   uint32
}

// export widens the counters into ResolverStats.
func (c *stats32) export() ResolverStats {
	var s ResolverStats
	count.Widen(&s, c)
	return s
}

// lookup is the working state of one query.
type lookup struct {
	sock     *udp.Socket
	id       uint16
	qtype    uint16 // TypeA or TypeAAAA
	attempt  int
	deadline time.Time
	qname    Name
	target   Name
	tmp      Name
	query    [HeaderLen + MaxNameLen + 4]byte
	qlen     int
	rbuf     [maxMsg]byte
	p        Parser
	q        Question
	r        Resource
}

// NewResolver returns a resolver sending through u.
func NewResolver(u *udp.Stack, cfg ResolverConfig) *Resolver {
	if cfg.Timeout <= 0 {
		cfg.Timeout = 2 * time.Second
	}
	if cfg.Attempts <= 0 {
		cfg.Attempts = 4
	}
	ms := cfg.Timeout / time.Millisecond
	if cfg.Timeout%time.Millisecond > 0 {
		ms++ // rounded up without adding to the timeout (no overflow near the largest Duration)
	}
	ms = min(max(ms, 1), math.MaxUint32)
	r := &Resolver{u: u, timeout: uint32(ms), attempts: int32(min(cfg.Attempts, 1<<20))}
	if cfg.Rand != nil && !sameReader(cfg.Rand, u.Rand()) {
		r.own = &randBox{cfg.Rand}
	}
	r.SetServers(cfg.Servers)
	return r
}

// sameReader reports whether a and b are the same generator (never
// panicking on a non-comparable dynamic type: those are never the same).
func sameReader(a, b io.Reader) bool {
	if a == nil || b == nil {
		return a == b
	}
	ta, tb := reflect.TypeOf(a), reflect.TypeOf(b)
	return ta == tb && ta.Comparable() && a == b
}

// SetServers replaces the server list (the first MaxServers unicast
// addresses are kept). A query in progress uses the new list on its next
// attempt.
func (r *Resolver) SetServers(servers []ipv4.Addr) {
	r.nservers = 0
	for _, s := range servers {
		if s.IsUnicast() && r.nservers < MaxServers {
			r.servers[r.nservers] = s
			r.nservers++
		}
	}
}

// Stats returns the counters.
func (r *Resolver) Stats() ResolverStats { return r.stats.export() }

// LookupBytes is the working state Resolve lends for one query (released
// when it ends).
const LookupBytes = int(unsafe.Sizeof(lookup{}))

// Lent returns the bytes the resolver holds now (struct sizes, as asked of
// the allocator): itself (80 bytes: a holder that lends it per lookup, as
// the card does, counts it) and the
// working state of a query in progress (LookupBytes; its UDP socket is the
// udp.Stack's to count).
func (r *Resolver) Lent() int {
	n := int(unsafe.Sizeof(Resolver{}))
	if r.q != nil {
		n += LookupBytes
	}
	return n
}

// Resolve starts a query for the A record of name (a random ID and a
// random source port from Config.Rand). It fails with ErrBusy while a
// query is outstanding, ErrNoServers, ErrBadName or ErrNameTooLong, or a
// udp bind error.
func (r *Resolver) Resolve(name string, now time.Time) error {
	return r.resolve(name, TypeA, now)
}

// ResolveAAAA is Resolve for the AAAA record of name (RFC 3596): the
// address of an IPv6 peer, read with Result6. The query goes to the same
// servers (over IPv4: the servers PPP's IPCP gave).
func (r *Resolver) ResolveAAAA(name string, now time.Time) error {
	return r.resolve(name, TypeAAAA, now)
}

func (r *Resolver) resolve(name string, qtype uint16, now time.Time) error {
	if r.q != nil {
		return ErrBusy
	}
	if r.nservers == 0 {
		return ErrNoServers
	}
	q := &lookup{qtype: qtype}
	if err := q.qname.Set(name); err != nil {
		return err
	}
	rnd := q.rbuf[:4]
	if _, err := io.ReadFull(r.rng(), rnd); err != nil {
		return err
	}
	q.id = binary.BigEndian.Uint16(rnd[0:2])
	port := binary.BigEndian.Uint16(rnd[2:4])
	var err error
	q.sock, err = r.u.Bind(49152 + port%16384)
	if err == udp.ErrPortInUse {
		q.sock, err = r.u.Bind(0)
	}
	if err != nil {
		return err
	}
	q.qlen = len(AppendQuery(q.query[:0], q.id, &q.qname, qtype))
	r.q, r.done, r.addr, r.errc = q, false, ipv6.Addr{}, 0
	r.stats.Queries++
	r.send(now)
	return nil
}

func (r *Resolver) send(now time.Time) {
	q := r.q
	q.deadline = now.Add(time.Duration(r.timeout) * time.Millisecond)
	if r.nservers == 0 { // SetServers emptied the list: the attempt times out
		return
	}
	s := r.servers[q.attempt%int(r.nservers)]
	if q.sock.SendTo(s, 53, q.query[:q.qlen]) == nil {
		r.stats.Sent++
	}
}

// Cancel abandons an outstanding query (Result then reports ErrCanceled).
func (r *Resolver) Cancel() {
	if r.q != nil {
		r.finish(ipv6.Addr{}, ErrCanceled)
	}
}

// finish ends the query: its socket is closed and its state released.
func (r *Resolver) finish(a ipv6.Addr, err error) {
	r.done, r.addr, r.errc = true, a, outcome(err)
	r.q.sock.Close()
	r.q = nil
}

// Result returns the outcome of the last query: done is false while it is
// outstanding (or none was started); then addr or err.
func (r *Resolver) Result() (addr ipv4.Addr, done bool, err error) {
	return r.addr.As4(), r.done, outcomes[r.errc]
}

// Result6 is Result for either query: an A answer IPv4-mapped, an AAAA
// answer as it is.
func (r *Resolver) Result6() (addr ipv6.Addr, done bool, err error) {
	return r.addr, r.done, outcomes[r.errc]
}

// Poll reads the responses that arrived, retransmits on timeout (to the
// next server) and returns when it wants to be polled again (zero: no
// query outstanding).
func (r *Resolver) Poll(now time.Time) time.Time {
	for r.q != nil {
		q := r.q
		n, from, port, ok := q.sock.RecvFrom(q.rbuf[:])
		if !ok {
			break
		}
		r.stats.Responses++
		r.response(q, from, port, q.rbuf[:n], now)
	}
	if r.q != nil && !now.Before(r.q.deadline) {
		r.retry(now, ErrTimeout)
	}
	if r.q == nil {
		return time.Time{}
	}
	return r.q.deadline
}

// retry moves to the next attempt, or fails with err after the last.
func (r *Resolver) retry(now time.Time, err error) {
	r.q.attempt++
	if r.q.attempt >= int(r.attempts) {
		r.finish(ipv6.Addr{}, err)
		return
	}
	r.send(now)
}

// response checks one datagram: source (a configured server, port 53), ID,
// QR, opcode, the question echoed, then the answer.
func (r *Resolver) response(q *lookup, from ipv4.Addr, port uint16, msg []byte, now time.Time) {
	known := false
	for i := 0; i < int(r.nservers); i++ {
		known = known || r.servers[i] == from
	}
	p := &q.p
	h, err := p.Start(msg)
	if !known || port != 53 || err != nil || h.ID != q.id || !h.Response() || h.Opcode() != 0 || h.QDCount != 1 {
		r.stats.Ignored++
		return
	}
	if p.Question(&q.q) != nil || q.q.Type != q.qtype || q.q.Class != ClassINET || !q.q.Name.Equal(&q.qname) {
		r.stats.Ignored++
		return
	}
	switch h.RCode() {
	case RCodeSuccess:
	case RCodeNameError:
		r.finish(ipv6.Addr{}, ErrNXDomain)
		return
	case RCodeServerFailure, RCodeNotImplemented, RCodeRefused:
		r.retry(now, ErrServerFailure) // ask the next server now
		return
	default:
		r.finish(ipv6.Addr{}, ErrServerFailure)
		return
	}
	if h.Truncated() {
		r.finish(ipv6.Addr{}, ErrTruncated)
		return
	}
	a, err := q.answer(msg)
	if err == errMalformed {
		r.stats.Ignored++
		return
	}
	r.finish(a, err)
}

var errMalformed = errors.New("dns: malformed response")

// answer finds the A (or AAAA) record for the query name in the answer
// section, following CNAME records (in any order, at most 8 links).
func (r *lookup) answer(msg []byte) (ipv6.Addr, error) {
	if _, err := Validate(msg); err != nil {
		return ipv6.Addr{}, errMalformed
	}
	r.target = r.qname
	for link := 0; link < 8; link++ {
		p := &r.p
		p.Start(msg)
		moved := false
		for {
			sec, err := p.Resource(&r.r)
			if err != nil || sec != SectionAnswer {
				break
			}
			rr := &r.r
			if rr.Class != ClassINET || !rr.Name.Equal(&r.target) {
				continue
			}
			switch rr.Type {
			case TypeA:
				if r.qtype == TypeA && len(rr.Data) == 4 {
					return ipv6.From4(ipv4.Addr(rr.Data)), nil
				}
			case TypeAAAA:
				// RFC 3596 §2.2: 16 octets; an IPv4-mapped answer is not
				// an IPv6 peer (the card would treat it as IPv4).
				if r.qtype == TypeAAAA && len(rr.Data) == 16 && !ipv6.Addr(rr.Data).Is4() {
					return ipv6.Addr(rr.Data), nil
				}
			case TypeCNAME:
				if !moved && p.NameAt(rr.DataOff, &r.tmp) == nil {
					r.target = r.tmp
					moved = true
				}
			}
		}
		if !moved {
			break
		}
	}
	return ipv6.Addr{}, ErrNoAnswer
}
