package dns

import (
	"encoding/binary"
	"errors"
	"io"
	"time"

	"netcard/ipv4"
	"netcard/udp"
)

// Resolver errors (Result's err).
var (
	ErrBusy          = errors.New("dns: a query is already outstanding")
	ErrNoServers     = errors.New("dns: no servers configured")
	ErrTimeout       = errors.New("dns: no answer from the servers")
	ErrNXDomain      = errors.New("dns: name does not exist")
	ErrNoAnswer      = errors.New("dns: no A record for the name")
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
	Rand     io.Reader     // query IDs and source ports; required
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
type Resolver struct {
	u        *udp.Stack
	cfg      ResolverConfig
	servers  [MaxServers]ipv4.Addr
	nservers int

	sock     *udp.Socket
	running  bool
	done     bool
	id       uint16
	attempt  int
	deadline time.Time
	qname    Name
	target   Name
	tmp      Name
	query    [HeaderLen + MaxNameLen + 4]byte
	qlen     int
	rbuf     [maxMsg]byte
	rnd      [4]byte
	p        Parser
	q        Question
	r        Resource

	addr  ipv4.Addr
	err   error
	stats ResolverStats
}

// NewResolver returns a resolver sending through u.
func NewResolver(u *udp.Stack, cfg ResolverConfig) *Resolver {
	if cfg.Timeout <= 0 {
		cfg.Timeout = 2 * time.Second
	}
	if cfg.Attempts <= 0 {
		cfg.Attempts = 4
	}
	r := &Resolver{u: u, cfg: cfg}
	r.SetServers(cfg.Servers)
	return r
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
func (r *Resolver) Stats() ResolverStats { return r.stats }

// Resolve starts a query for the A record of name (a random ID and a
// random source port from Config.Rand). It fails with ErrBusy while a
// query is outstanding, ErrNoServers, ErrBadName or ErrNameTooLong, or a
// udp bind error.
func (r *Resolver) Resolve(name string, now time.Time) error {
	if r.running {
		return ErrBusy
	}
	if r.nservers == 0 {
		return ErrNoServers
	}
	if err := r.qname.Set(name); err != nil {
		return err
	}
	if _, err := io.ReadFull(r.cfg.Rand, r.rnd[:]); err != nil {
		return err
	}
	r.id = binary.BigEndian.Uint16(r.rnd[0:2])
	port := binary.BigEndian.Uint16(r.rnd[2:4])
	var err error
	r.sock, err = r.u.Bind(49152 + port%16384)
	if err == udp.ErrPortInUse {
		r.sock, err = r.u.Bind(0)
	}
	if err != nil {
		return err
	}
	r.qlen = len(AppendQuery(r.query[:0], r.id, &r.qname, TypeA))
	r.running, r.done, r.addr, r.err, r.attempt = true, false, ipv4.Addr{}, nil, 0
	r.stats.Queries++
	r.send(now)
	return nil
}

func (r *Resolver) send(now time.Time) {
	r.deadline = now.Add(r.cfg.Timeout)
	if r.nservers == 0 { // SetServers emptied the list: the attempt times out
		return
	}
	s := r.servers[r.attempt%r.nservers]
	if r.sock.SendTo(s, 53, r.query[:r.qlen]) == nil {
		r.stats.Sent++
	}
}

// Cancel abandons an outstanding query (Result then reports ErrCanceled).
func (r *Resolver) Cancel() {
	if r.running {
		r.finish(ipv4.Addr{}, ErrCanceled)
	}
}

func (r *Resolver) finish(a ipv4.Addr, err error) {
	r.running, r.done, r.addr, r.err = false, true, a, err
	r.sock.Close()
	r.sock = nil
}

// Result returns the outcome of the last query: done is false while it is
// outstanding (or none was started); then addr or err.
func (r *Resolver) Result() (addr ipv4.Addr, done bool, err error) {
	return r.addr, r.done, r.err
}

// Poll reads the responses that arrived, retransmits on timeout (to the
// next server) and returns when it wants to be polled again (zero: no
// query outstanding).
func (r *Resolver) Poll(now time.Time) time.Time {
	if !r.running {
		return time.Time{}
	}
	for r.running {
		n, from, port, ok := r.sock.RecvFrom(r.rbuf[:])
		if !ok {
			break
		}
		r.stats.Responses++
		r.response(from, port, r.rbuf[:n], now)
	}
	if r.running && !now.Before(r.deadline) {
		r.retry(now, ErrTimeout)
	}
	if !r.running {
		return time.Time{}
	}
	return r.deadline
}

// retry moves to the next attempt, or fails with err after the last.
func (r *Resolver) retry(now time.Time, err error) {
	r.attempt++
	if r.attempt >= r.cfg.Attempts {
		r.finish(ipv4.Addr{}, err)
		return
	}
	r.send(now)
}

// response checks one datagram: source (a configured server, port 53), ID,
// QR, opcode, the question echoed, then the answer.
func (r *Resolver) response(from ipv4.Addr, port uint16, msg []byte, now time.Time) {
	known := false
	for i := 0; i < r.nservers; i++ {
		known = known || r.servers[i] == from
	}
	p := &r.p
	h, err := p.Start(msg)
	if !known || port != 53 || err != nil || h.ID != r.id || !h.Response() || h.Opcode() != 0 || h.QDCount != 1 {
		r.stats.Ignored++
		return
	}
	if p.Question(&r.q) != nil || r.q.Type != TypeA || r.q.Class != ClassINET || !r.q.Name.Equal(&r.qname) {
		r.stats.Ignored++
		return
	}
	switch h.RCode() {
	case RCodeSuccess:
	case RCodeNameError:
		r.finish(ipv4.Addr{}, ErrNXDomain)
		return
	case RCodeServerFailure, RCodeNotImplemented, RCodeRefused:
		r.retry(now, ErrServerFailure) // ask the next server now
		return
	default:
		r.finish(ipv4.Addr{}, ErrServerFailure)
		return
	}
	if h.Truncated() {
		r.finish(ipv4.Addr{}, ErrTruncated)
		return
	}
	a, err := r.answer(msg)
	if err == errMalformed {
		r.stats.Ignored++
		return
	}
	r.finish(a, err)
}

var errMalformed = errors.New("dns: malformed response")

// answer finds the A record for the query name in the answer section,
// following CNAME records (in any order, at most 8 links).
func (r *Resolver) answer(msg []byte) (ipv4.Addr, error) {
	if _, err := Validate(msg); err != nil {
		return ipv4.Addr{}, errMalformed
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
				if len(rr.Data) == 4 {
					return ipv4.Addr(rr.Data), nil
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
	return ipv4.Addr{}, ErrNoAnswer
}
