// Package mdns is the card's Multicast DNS responder (RFC 6762) with
// DNS-Based Service Discovery (RFC 6763) for its HTTPS service: on the
// Ethernet link it answers "<name>.local" (A), "_https._tcp.local" (PTR),
// the service instance (SRV, TXT) and service enumeration, probes for its
// names at start and renames itself on a conflict (§9: netcard-2, ...).
//
// It is an event-driven machine like the other protocol packages: Input
// takes a UDP payload that arrived on port 5353, Output writes the next
// message and says where it goes, Poll runs the probe, announce and
// response timers. Messages are parsed with package dns (total, no
// allocation) and built in the caller's buffer.
package mdns

import (
	"encoding/binary"
	"errors"
	"io"
	"strconv"
	"time"

	"netcard/dns"
)

// Port is the mDNS port; Group the IPv4 link-local multicast group.
const Port = 5353

// Group is 224.0.0.251 (RFC 6762 §3).
var Group = [4]byte{224, 0, 0, 251}

// Group6 is ff02::fb, mDNS's IPv6 group (RFC 6762 §3).
var Group6 = [16]byte{0: 0xff, 1: 0x02, 15: 0xfb}

// Dest is where a message Next wrote goes: Port of To4, or with V6 of
// To6 (Group/Group6 for multicast, a legacy querier's address otherwise).
type Dest struct {
	V6   bool
	To4  [4]byte
	To6  [16]byte
	Port uint16
}

// Record types beyond package dns's.
const (
	typePTR  uint16 = 12
	typeTXT  uint16 = 16
	typeSRV  uint16 = 33
	typeNSEC uint16 = 47
	typeANY  uint16 = 255
)

// TTLs (RFC 6762 §10: 120 s for records with a host name, 75 min for others).
const (
	ttlHost   = 120
	ttlOther  = 4500
	ttlLegacy = 10 // §6.7: legacy unicast answers carry at most 10 s
)

// Class bits: the top bit of the class is cache-flush in a response and
// unicast-response (QU) in a question (§10.2, §5.4).
const (
	classIN    = 1
	cacheFlush = 0x8000
)

// Timings of §8.
const (
	probeWait     = 250 * time.Millisecond // between probes, and the random initial delay
	probes        = 3
	announceWait  = time.Second
	announcements = 2
	deferWait     = time.Second // lost a simultaneous-probe tie-break (§8.2)
)

// Config configures a responder.
type Config struct {
	Name string // host label, default "netcard": "netcard.local"
	Port uint16 // the HTTPS port advertised in SRV; default 443
	Rand io.Reader
}

// Stats counts what the responder did.
type Stats struct {
	In, Malformed, Answered, Ignored uint64
	Probes, Announcements, Responses uint64
	Conflicts                        uint64 // renames (§9)
	TieBreaksLost                    uint64 // simultaneous probes lost (§8.2)
	Suppressed                       uint64 // answers the querier already knew (§7.1)
}

type phase uint8

const (
	phaseIdle phase = iota // no address
	phaseProbing
	phaseAnnouncing
	phaseRunning
)

// What a response carries (bit set).
const (
	rrA uint8 = 1 << iota
	rrSvcPTR
	rrEnumPTR
	rrSRV
	rrTXT
	rrNSEC
	rrAAAA // one record per IPv6 address
)

// Responder is the mDNS responder machine.
type Responder struct {
	cfg   Config
	base  string // the configured label
	label [63]byte
	nlab  int
	gen   int // rename count: "-2", "-3", ...

	// Wire forms of the four names, in one buffer: host (≤ 1+63+7 bytes),
	// instance (≤ 1+63+19), service type (19), service enumeration (30).
	names                 [208]byte
	host, inst, svc, enum []byte

	addr   [4]byte
	addr6  [2][16]byte // link-local, global (zero: none)
	n6     uint8       // IPv6 addresses held
	rep    uint8       // the multicast message to repeat on IPv6: repProbe or repResponse (0 none)
	repW   uint8       // ... its answers
	repA   uint8       // ... its additional records
	phase  phase
	nburst uint8     // conflicts in the window, counted up to 15
	burst  time.Time // start of the current 10-second window of conflicts
	count  int       // probes or announcements sent in this phase
	next   time.Time // next probe or announcement

	// The pending response: multicast (what bits) after due, and one
	// legacy unicast answer.
	mcast    uint8
	mcastAdd uint8 // additional records
	due      time.Time
	last     [7]time.Time // last multicast of each record (§6: at most once a second)

	uc struct {
		pending bool
		to      [4]byte
		to6     [16]byte
		v6      bool
		port    uint16
		id      uint16
		qname   uint8 // index into names
		qtype   uint16
		what    uint8
	}

	q     dns.Question
	r     dns.Resource
	p     dns.Parser
	rnd   [2]byte
	stats Stats
}

// ErrName is returned for a host label that is not 1–60 letters, digits
// or hyphens (room is kept for a "-NN" suffix).
var ErrName = errors.New("mdns: host name must be 1-60 letters, digits or '-'")

// New makes a responder; it starts probing when given an address.
func New(cfg Config) (*Responder, error) {
	if cfg.Name == "" {
		cfg.Name = "netcard"
	}
	if cfg.Port == 0 {
		cfg.Port = 443
	}
	if len(cfg.Name) > 60 {
		return nil, ErrName
	}
	for i := 0; i < len(cfg.Name); i++ {
		c := cfg.Name[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
			return nil, ErrName
		}
	}
	r := &Responder{cfg: cfg, base: cfg.Name}
	r.setLabel()
	return r, nil
}

// setLabel builds the names from the base label and the rename count.
func (r *Responder) setLabel() {
	r.nlab = copy(r.label[:], r.base)
	if r.gen > 0 {
		r.label[r.nlab] = '-'
		r.nlab++
		r.nlab += len(strconv.AppendInt(r.label[r.nlab:r.nlab], int64(r.gen+1), 10))
	}
	b := r.names[:0]
	lab := r.label[:r.nlab]
	b = append(append(append(b, byte(len(lab))), lab...), "\x05local\x00"...)
	r.host = b
	b = append(append(append(b[len(b):], byte(len(lab))), lab...), "\x06_https\x04_tcp\x05local\x00"...)
	r.inst = b
	b = append(b[len(b):], "\x06_https\x04_tcp\x05local\x00"...)
	r.svc = b
	b = append(b[len(b):], "\x09_services\x07_dns-sd\x04_udp\x05local\x00"...)
	r.enum = b
}

// Name is the host name in use, "netcard.local" or after a conflict
// "netcard-2.local".
func (r *Responder) Name() string { return string(r.label[:r.nlab]) + ".local" }

// Stats returns the counters.
func (r *Responder) Stats() Stats { return r.stats }

// Running reports whether the names are ours (probing and announcing done).
func (r *Responder) Running() bool { return r.phase == phaseRunning }

func (r *Responder) random(d time.Duration) time.Duration {
	if r.cfg.Rand == nil {
		return 0
	}
	if _, err := io.ReadFull(r.cfg.Rand, r.rnd[:]); err != nil {
		return 0
	}
	return time.Duration(binary.BigEndian.Uint16(r.rnd[:])) * d / 65536
}

// SetAddr gives the responder the card's address (zero: stop answering).
// A new address restarts probing (§8.1: "whenever a Multicast DNS responder
// starts up, wakes up from sleep, receives an indication of a network
// interface 'Link Change' event").
func (r *Responder) SetAddr(a [4]byte, now time.Time) {
	if a == r.addr {
		return
	}
	r.addr = a
	r.mcast, r.uc.pending = 0, false
	if a == ([4]byte{}) {
		r.phase = phaseIdle
		return
	}
	r.probe(now.Add(r.random(probeWait)))
}

// SetAddr6 gives the responder the card's IPv6 addresses (link-local and
// global; zero: none): its AAAA records. Over IPv6 the responder runs
// beside IPv4 — every multicast message goes to both groups — and needs
// the IPv4 address too (SetAddr). A change while running is announced
// (§8.4: "whenever ... rdata changes").
func (r *Responder) SetAddr6(ll, global [16]byte, now time.Time) {
	old := r.addr6
	r.addr6, r.n6 = [2][16]byte{}, 0
	for _, a := range [2][16]byte{ll, global} {
		if a != ([16]byte{}) {
			r.addr6[r.n6] = a
			r.n6++
		}
	}
	if r.addr6 != old && r.phase == phaseRunning {
		if r.mcast == 0 || now.Before(r.due) {
			r.due = now
		}
		r.mcast |= rrA | rrAAAA
		r.last[6] = time.Time{}
	}
}

// ours6 reports whether a is one of our IPv6 addresses.
func (r *Responder) ours6(a []byte) bool {
	for _, x := range r.addr6[:r.n6] {
		if [16]byte(a) == x {
			return true
		}
	}
	return false
}

func (r *Responder) probe(at time.Time) {
	r.phase, r.count, r.next = phaseProbing, 0, at
	r.mcast, r.uc.pending = 0, false
}

// Poll advances probing and announcing; it returns the next deadline.
func (r *Responder) Poll(now time.Time) time.Time {
	next := time.Time{}
	if r.phase == phaseProbing || r.phase == phaseAnnouncing {
		next = r.next
	}
	if r.mcast != 0 && (next.IsZero() || r.due.Before(next)) {
		next = r.due
	}
	return next
}

// conflict is §9: another host answered for a name we probe or own. Pick
// the next name and probe again.
// After 15 conflicts within 10 s the next probe waits 5 s (§8.1). Names
// run from -2 to -99 and then start again at -2, so a label stays within
// 63 bytes.
func (r *Responder) conflict(now time.Time) {
	r.stats.Conflicts++
	r.gen = r.gen%98 + 1
	r.setLabel()
	if r.burst.IsZero() || now.Sub(r.burst) > 10*time.Second {
		r.burst, r.nburst = now, 0
	}
	r.nburst = min(r.nburst+1, 15)
	wait := r.random(probeWait)
	if r.nburst >= 15 {
		wait = 5 * time.Second
	}
	r.probe(now.Add(wait))
}

func eqName(a, b []byte) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if lower(a[i]) != lower(b[i]) {
			return false
		}
	}
	return true
}

func lower(c byte) byte {
	if c >= 'A' && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// which returns the index of name among ours (0 host, 1 instance, 2
// service, 3 enumeration), -1 if none.
func (r *Responder) which(name []byte) int {
	for i, n := range [4][]byte{r.host, r.inst, r.svc, r.enum} {
		if eqName(name, n) {
			return i
		}
	}
	return -1
}

// Input handles one message received on port 5353 from src:sport (the
// caller checked that src is on the link, §11).
func (r *Responder) Input(src [4]byte, sport uint16, msg []byte, now time.Time) {
	r.input(src, [16]byte{}, false, sport, msg, now)
}

// Input6 is Input for a message that came over IPv6 from src:sport (the
// caller checked that src is on the link, §11).
func (r *Responder) Input6(src [16]byte, sport uint16, msg []byte, now time.Time) {
	r.input([4]byte{}, src, true, sport, msg, now)
}

func (r *Responder) input(src [4]byte, src6 [16]byte, v6 bool, sport uint16, msg []byte, now time.Time) {
	r.stats.In++
	if r.phase == phaseIdle {
		return
	}
	if _, err := dns.Validate(msg); err != nil {
		r.stats.Malformed++
		return
	}
	h, _ := r.p.Start(msg)
	// §18.3: opcode must be 0 (query) and, for a message to act on, rcode 0.
	if h.Opcode() != 0 || h.RCode() != 0 {
		r.stats.Ignored++
		return
	}
	if h.Response() {
		r.response(now)
		return
	}
	r.query(h, src, src6, v6, sport, now)
}

// response checks another responder's answers for conflicts with our
// unique records (A, SRV, TXT): §8.1 while probing, §9 afterwards.
func (r *Responder) response(now time.Time) {
	for {
		sec, err := r.p.Resource(&r.r)
		if err != nil {
			return
		}
		if sec == dns.SectionAuthority {
			continue
		}
		i := r.which(r.r.Name.Wire())
		if i != 0 && i != 1 {
			continue
		}
		if i == 0 && r.r.Type == dns.TypeA && len(r.r.Data) == 4 && [4]byte(r.r.Data) == r.addr {
			continue // our own record, looped back or repeated: no conflict (§9)
		}
		if i == 0 && r.r.Type == dns.TypeAAAA && len(r.r.Data) == 16 && r.ours6(r.r.Data) {
			continue
		}
		if i == 0 && r.r.Type != dns.TypeA && r.r.Type != typeNSEC && r.r.Type != dns.TypeAAAA {
			continue
		}
		if r.phase == phaseProbing {
			r.conflict(now)
		} else {
			// §9: a conflicting record after probing: probe again; the
			// other host's defence then makes us rename.
			r.stats.Conflicts++
			r.probe(now)
		}
		return
	}
}

// query answers a question for our names; while probing it only looks for
// a simultaneous probe (§8.2).
func (r *Responder) query(h dns.Header, src [4]byte, src6 [16]byte, v6 bool, sport uint16, now time.Time) {
	legacy := sport != Port
	var what, add uint8
	var qn uint8
	var qt uint16
	probing := h.NSCount > 0
	for {
		if err := r.p.Question(&r.q); err != nil {
			break
		}
		if r.q.Class&^cacheFlush != classIN && r.q.Class&^cacheFlush != typeANY {
			continue
		}
		i := r.which(r.q.Name.Wire())
		t := r.q.Type
		w, a := uint8(0), uint8(0)
		switch {
		case i == 0 && t == typeANY && r.n6 > 0:
			w = rrA | rrAAAA
		case i == 0 && (t == dns.TypeA || t == typeANY):
			w = rrA
			if r.n6 > 0 {
				a = rrAAAA // §6.2: the other family's addresses as additional records
			}
		case i == 0 && t == dns.TypeAAAA && r.n6 > 0:
			w, a = rrAAAA, rrA
		case i == 0 && t == dns.TypeAAAA:
			w, a = rrNSEC, rrA // §6.1: we have no AAAA: say so with NSEC
		case i == 1 && (t == typeSRV || t == typeANY):
			w, a = rrSRV, rrA|r.aaaa()
			if t == typeANY {
				w |= rrTXT
			}
		case i == 1 && t == typeTXT:
			w = rrTXT
		case i == 2 && t == typePTR:
			w, a = rrSvcPTR, rrSRV|rrTXT|rrA|r.aaaa() // RFC 6763 §12.1
		case i == 3 && t == typePTR:
			w = rrEnumPTR
		}
		if w != 0 && what == 0 {
			qn, qt = uint8(i), t
		}
		what |= w
		add |= a
	}
	if r.phase == phaseProbing {
		if probing && what&(rrA|rrSRV|rrTXT) != 0 {
			r.tieBreak(now)
		}
		return
	}
	if what == 0 {
		r.stats.Ignored++
		return
	}
	what &^= r.known()
	if what == 0 {
		r.stats.Suppressed++
		return
	}
	r.stats.Answered++
	if legacy {
		// §6.7: a one-shot querier (source port not 5353) gets a unicast
		// answer with its ID and question.
		r.uc.pending, r.uc.to, r.uc.port, r.uc.id = true, src, sport, h.ID
		r.uc.to6, r.uc.v6 = src6, v6
		r.uc.qname, r.uc.qtype, r.uc.what = qn, qt, what|add
		return
	}
	// §6: unique records are answered at once, a shared PTR after 20-120 ms.
	due := now
	if what&(rrSvcPTR|rrEnumPTR) != 0 {
		due = now.Add(20*time.Millisecond + r.random(100*time.Millisecond))
	}
	if r.mcast == 0 || due.Before(r.due) {
		r.due = due
	}
	r.mcast |= what
	r.mcastAdd |= add
}

// aaaa is rrAAAA when the responder has IPv6 addresses.
func (r *Responder) aaaa() uint8 {
	if r.n6 > 0 {
		return rrAAAA
	}
	return 0
}

// known is §7.1 known-answer suppression for our shared PTR: the query's
// answer section lists it with at least half its TTL left.
func (r *Responder) known() uint8 {
	var k uint8
	for {
		sec, err := r.p.Resource(&r.r)
		if err != nil || sec != dns.SectionAnswer {
			return k
		}
		if r.r.Type != typePTR || r.r.TTL < ttlOther/2 {
			continue
		}
		var target dns.Name
		if r.p.NameAt(r.r.DataOff, &target) != nil {
			continue
		}
		switch i := r.which(r.r.Name.Wire()); {
		case i == 2 && eqName(target.Wire(), r.inst):
			k |= rrSvcPTR
		case i == 3 && eqName(target.Wire(), r.svc):
			k |= rrEnumPTR
		}
	}
}

// tieBreak is §8.2: another host probes for our name at the same time.
// Compare its proposed A record in the authority section with ours: if
// ours is lexicographically earlier we lose and probe again in a second.
func (r *Responder) tieBreak(now time.Time) {
	for {
		sec, err := r.p.Resource(&r.r)
		if err != nil {
			return
		}
		if sec != dns.SectionAuthority || r.r.Type != dns.TypeA || len(r.r.Data) != 4 || r.which(r.r.Name.Wire()) != 0 {
			continue
		}
		theirs := [4]byte(r.r.Data)
		for i := 0; i < 4; i++ {
			if r.addr[i] != theirs[i] {
				if r.addr[i] < theirs[i] {
					r.stats.TieBreaksLost++
					r.probe(now.Add(deferWait))
				}
				return
			}
		}
		return
	}
}

// Output writes the next message into b (at least 512 bytes) and returns
// its length and destination (Group:5353 or a legacy querier); n is 0 when
// nothing is due.
func (r *Responder) Output(b []byte, now time.Time) (n int, to [4]byte, port uint16) {
	n, d := r.Next(b, now)
	if d.V6 {
		return 0, to, 0 // an IPv4-only caller: the IPv6 copy is not sent
	}
	return n, d.To4, d.Port
}

// Next writes the next message into b (at least 512 bytes) and returns its
// length and destination; n is 0 when nothing is due. With IPv6 addresses
// every multicast message goes out twice, to Group then to Group6 (§3:
// the responder answers on each family it runs).
func (r *Responder) Next(b []byte, now time.Time) (int, Dest) {
	if r.phase == phaseIdle || len(b) < 512 {
		r.rep = 0
		return 0, Dest{}
	}
	if r.rep != 0 {
		k := r.rep
		r.rep = 0
		if r.n6 > 0 {
			d := Dest{V6: true, To6: Group6, Port: Port}
			if k == repProbe {
				return r.probeMsg(b), d
			}
			return r.responseMsg(b, 0, r.repW, r.repA, ttlHost, true), d
		}
	}
	if r.uc.pending {
		r.uc.pending = false
		return r.legacyAnswer(b), Dest{V6: r.uc.v6, To4: r.uc.to, To6: r.uc.to6, Port: r.uc.port}
	}
	n, what, add := r.multicast(b, now)
	if n == 0 {
		return 0, Dest{}
	}
	if r.n6 > 0 {
		r.rep, r.repW, r.repA = repResponse, what, add
		if what == 0 {
			r.rep = repProbe
		}
	}
	return n, Dest{To4: Group, Port: Port}
}

const (
	repProbe uint8 = 1 + iota
	repResponse
)

// multicast writes the next multicast message due: a probe (what 0) or a
// response with answers what and additional records add.
func (r *Responder) multicast(b []byte, now time.Time) (n int, what, add uint8) {
	switch {
	case r.phase == phaseProbing && !now.Before(r.next):
		r.stats.Probes++
		r.count++
		if r.count >= probes {
			r.phase, r.count = phaseAnnouncing, 0
		}
		r.next = now.Add(probeWait)
		return r.probeMsg(b), 0, 0
	case r.phase == phaseAnnouncing && !now.Before(r.next):
		r.stats.Announcements++
		r.count++
		r.next = now.Add(announceWait)
		if r.count >= announcements {
			r.phase = phaseRunning
		}
		what := rrA | rrSvcPTR | rrEnumPTR | rrSRV | rrTXT | r.aaaa()
		return r.responseMsg(b, 0, what, 0, ttlHost, true), what, 0
	case r.phase == phaseRunning && r.mcast != 0 && !now.Before(r.due):
		// §6: a record is multicast at most once per second.
		what := r.mcast
		for i := range r.last {
			if what&(1<<i) != 0 && !r.last[i].IsZero() && now.Sub(r.last[i]) < time.Second {
				what &^= 1 << i
			}
		}
		add := r.mcastAdd &^ what
		r.mcast, r.mcastAdd = 0, 0
		if what == 0 {
			return 0, 0, 0
		}
		for i := range r.last {
			if what&(1<<i) != 0 {
				r.last[i] = now
			}
		}
		r.stats.Responses++
		return r.responseMsg(b, 0, what, add, ttlHost, true), what, add
	}
	return 0, 0, 0
}

// probeMsg is §8.1's probe: a query of type ANY for each unique name, with
// the proposed records in the authority section.
func (r *Responder) probeMsg(b []byte) int {
	b = b[:0]
	b = binary.BigEndian.AppendUint16(b, 0)
	b = binary.BigEndian.AppendUint16(b, 0)
	b = binary.BigEndian.AppendUint16(b, 2) // questions
	b = binary.BigEndian.AppendUint16(b, 0)
	b = binary.BigEndian.AppendUint16(b, 3) // authority: A, SRV, TXT
	b = binary.BigEndian.AppendUint16(b, 0)
	for _, n := range [][]byte{r.host, r.inst} {
		b = append(b, n...)
		b = binary.BigEndian.AppendUint16(b, typeANY)
		b = binary.BigEndian.AppendUint16(b, classIN)
	}
	b = r.appendRR(b, rrA, ttlHost, false)
	b = r.appendRR(b, rrSRV, ttlHost, false)
	b = r.appendRR(b, rrTXT, ttlOther, false)
	return len(b)
}

// responseMsg writes a response (ID id, authoritative) with the records in
// what as answers and those in add as additional records. A legacy answer
// echoes its question and caps TTLs.
func (r *Responder) responseMsg(b []byte, id uint16, what, add uint8, ttl uint32, flush bool) int {
	b = b[:0]
	b = binary.BigEndian.AppendUint16(b, id)
	b = binary.BigEndian.AppendUint16(b, 0x8400) // QR, AA (§18.4)
	qd := 0
	if !flush {
		qd = 1
	}
	b = binary.BigEndian.AppendUint16(b, uint16(qd))
	b = binary.BigEndian.AppendUint16(b, uint16(r.records(what)))
	b = binary.BigEndian.AppendUint16(b, 0)
	b = binary.BigEndian.AppendUint16(b, uint16(r.records(add)))
	if !flush {
		b = append(b, [4][]byte{r.host, r.inst, r.svc, r.enum}[r.uc.qname]...)
		b = binary.BigEndian.AppendUint16(b, r.uc.qtype)
		b = binary.BigEndian.AppendUint16(b, classIN)
	}
	for _, set := range []uint8{what, add} {
		for bit := uint8(1); bit != 0 && bit <= rrAAAA; bit <<= 1 {
			if set&bit != 0 {
				t := ttl
				if ttl != ttlLegacy && bit&(rrSvcPTR|rrEnumPTR|rrTXT) != 0 {
					t = ttlOther
				}
				if bit == rrAAAA {
					for i := range r.n6 {
						b = r.appendAAAA(b, i, t, flush)
					}
					continue
				}
				b = r.appendRR(b, bit, t, flush)
			}
		}
	}
	return len(b)
}

func (r *Responder) legacyAnswer(b []byte) int {
	what := r.uc.what
	// Answers: the records for the question; the rest additional.
	var ans uint8
	switch {
	case r.uc.qname == 0 && r.uc.qtype == dns.TypeAAAA && r.n6 > 0:
		ans = rrAAAA
	case r.uc.qname == 0 && r.uc.qtype == dns.TypeAAAA:
		ans = rrNSEC
	case r.uc.qname == 0:
		ans = rrA
	case r.uc.qname == 1 && r.uc.qtype == typeTXT:
		ans = rrTXT
	case r.uc.qname == 1:
		ans = what & (rrSRV | rrTXT)
	case r.uc.qname == 2:
		ans = rrSvcPTR
	case r.uc.qname == 3:
		ans = rrEnumPTR
	}
	r.stats.Responses++
	return r.responseMsg(b, r.uc.id, ans, what&^ans, ttlLegacy, false)
}

// records is the number of records the set what stands for.
func (r *Responder) records(what uint8) int {
	n := popcount(what &^ rrAAAA)
	if what&rrAAAA != 0 {
		n += int(r.n6)
	}
	return n
}

// appendAAAA appends the AAAA record of our i-th IPv6 address.
func (r *Responder) appendAAAA(b []byte, i uint8, ttl uint32, flush bool) []byte {
	class := uint16(classIN)
	if flush {
		class |= cacheFlush
	}
	b = append(b, r.host...)
	b = binary.BigEndian.AppendUint16(b, dns.TypeAAAA)
	b = binary.BigEndian.AppendUint16(b, class)
	b = binary.BigEndian.AppendUint32(b, ttl)
	b = binary.BigEndian.AppendUint16(b, 16)
	return append(b, r.addr6[i][:]...)
}

func popcount(x uint8) int {
	n := 0
	for ; x != 0; x &= x - 1 {
		n++
	}
	return n
}

// appendRR appends one of our records. flush sets the cache-flush bit on
// unique records (§10.2; never in legacy answers or probes).
func (r *Responder) appendRR(b []byte, which uint8, ttl uint32, flush bool) []byte {
	var name []byte
	var typ uint16
	unique := true
	switch which {
	case rrA:
		name, typ = r.host, dns.TypeA
	case rrSvcPTR:
		name, typ, unique = r.svc, typePTR, false
	case rrEnumPTR:
		name, typ, unique = r.enum, typePTR, false
	case rrSRV:
		name, typ = r.inst, typeSRV
	case rrTXT:
		name, typ = r.inst, typeTXT
	case rrNSEC:
		name, typ = r.host, typeNSEC
	}
	class := uint16(classIN)
	if flush && unique {
		class |= cacheFlush
	}
	b = append(b, name...)
	b = binary.BigEndian.AppendUint16(b, typ)
	b = binary.BigEndian.AppendUint16(b, class)
	b = binary.BigEndian.AppendUint32(b, ttl)
	at := len(b)
	b = append(b, 0, 0) // rdlength, patched below
	switch which {
	case rrA:
		b = append(b, r.addr[:]...)
	case rrSvcPTR:
		b = append(b, r.inst...)
	case rrEnumPTR:
		b = append(b, r.svc...)
	case rrSRV:
		b = append(b, 0, 0, 0, 0) // priority, weight
		b = binary.BigEndian.AppendUint16(b, r.cfg.Port)
		b = append(b, r.host...)
	case rrTXT:
		b = append(b, 6)
		b = append(b, "path=/"...) // RFC 6763 §6: key=value; where the service lives
	case rrNSEC:
		// RFC 6762 §6.1: next domain name is the record's own name; the
		// bitmap (window 0, one byte) lists A only.
		b = append(b, r.host...)
		if r.n6 > 0 {
			b = append(b, 0, 4, 0x40, 0, 0, 0x08) // A (1) and AAAA (28)
		} else {
			b = append(b, 0, 1, 0x40)
		}
	}
	binary.BigEndian.PutUint16(b[at:], uint16(len(b)-at-2))
	return b
}
