package mdns

import (
	"encoding/binary"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"netcard/dns"
)

type seeded struct{ r *rand.ChaCha8 }

func (s seeded) Read(p []byte) (int, error) { return s.r.Read(p) }

var (
	t0     = time.Unix(1_700_000_000, 0)
	cardA  = [4]byte{10, 0, 3, 1}
	hostIP = [4]byte{10, 0, 3, 2}
)

func newResp(t *testing.T, seed byte) *Responder {
	t.Helper()
	r, err := New(Config{Rand: seeded{rand.NewChaCha8([32]byte{seed})}})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func wire(name string) []byte {
	var n dns.Name
	if err := n.Set(name); err != nil {
		panic(err)
	}
	return append([]byte(nil), n.Wire()...)
}

// query builds a query: questions (name, type) and answers (known PTRs).
func query(id uint16, qs [][2]any, known ...[2]string) []byte {
	b := binary.BigEndian.AppendUint16(nil, id)
	b = binary.BigEndian.AppendUint16(b, 0)
	b = binary.BigEndian.AppendUint16(b, uint16(len(qs)))
	b = binary.BigEndian.AppendUint16(b, uint16(len(known)))
	b = binary.BigEndian.AppendUint16(b, 0)
	b = binary.BigEndian.AppendUint16(b, 0)
	for _, q := range qs {
		b = append(b, wire(q[0].(string))...)
		b = binary.BigEndian.AppendUint16(b, q[1].(uint16))
		b = binary.BigEndian.AppendUint16(b, classIN)
	}
	for _, k := range known {
		b = append(b, wire(k[0])...)
		b = binary.BigEndian.AppendUint16(b, typePTR)
		b = binary.BigEndian.AppendUint16(b, classIN)
		b = binary.BigEndian.AppendUint32(b, ttlOther)
		t := wire(k[1])
		b = binary.BigEndian.AppendUint16(b, uint16(len(t)))
		b = append(b, t...)
	}
	return b
}

// aResponse is another host's response claiming name at addr.
func aResponse(name string, addr [4]byte) []byte {
	b := []byte{0, 0, 0x84, 0, 0, 0, 0, 1, 0, 0, 0, 0}
	b = append(b, wire(name)...)
	b = binary.BigEndian.AppendUint16(b, dns.TypeA)
	b = binary.BigEndian.AppendUint16(b, classIN|cacheFlush)
	b = binary.BigEndian.AppendUint32(b, 120)
	b = binary.BigEndian.AppendUint16(b, 4)
	return append(b, addr[:]...)
}

type sent struct {
	msg  []byte
	to   [4]byte
	port uint16
}

func drain(r *Responder, now time.Time) []sent {
	var out []sent
	for {
		b := make([]byte, 1500)
		n, to, port := r.Output(b, now)
		if n == 0 {
			return out
		}
		out = append(out, sent{b[:n], to, port})
	}
}

// answers lists "name type rdata" of a message's records.
func answers(t *testing.T, msg []byte) []string {
	t.Helper()
	var p dns.Parser
	if _, err := dns.Validate(msg); err != nil {
		t.Fatalf("invalid message: %v", err)
	}
	p.Start(msg)
	var out []string
	var r dns.Resource
	for {
		sec, err := p.Resource(&r)
		if err != nil {
			return out
		}
		s := r.Name.String() + " " + map[uint16]string{1: "A", 12: "PTR", 16: "TXT", 33: "SRV", 47: "NSEC"}[r.Type]
		if sec == dns.SectionAdditional {
			s = "+" + s
		}
		out = append(out, s)
	}
}

// run brings a responder to Running, returning the times of its probes
// and announcements.
func run(t *testing.T, r *Responder, addr [4]byte) (probes, announces []time.Duration) {
	t.Helper()
	r.SetAddr(addr, t0)
	now := t0
	for i := 0; i < 20 && !r.Running(); i++ {
		now = r.Poll(now)
		for _, s := range drain(r, now) {
			var p dns.Parser
			h, _ := p.Start(s.msg)
			if h.Response() {
				announces = append(announces, now.Sub(t0))
			} else {
				probes = append(probes, now.Sub(t0))
			}
		}
	}
	return
}

func TestProbeThenAnnounce(t *testing.T) {
	r := newResp(t, 1)
	probes, ann := run(t, r, cardA)
	// §8.1: a random 0-250 ms, then three probes 250 ms apart; §8.3: two
	// announcements a second apart.
	if len(probes) != 3 || probes[0] >= probeWait || probes[1]-probes[0] != probeWait || probes[2]-probes[1] != probeWait {
		t.Fatalf("probes at %v", probes)
	}
	if len(ann) != 2 || ann[0]-probes[2] != probeWait || ann[1]-ann[0] != time.Second {
		t.Fatalf("announcements at %v", ann)
	}
	if !r.Running() || r.Name() != "netcard.local" {
		t.Fatal(r.Name())
	}
}

func TestAnswers(t *testing.T) {
	r := newResp(t, 1)
	run(t, r, cardA)
	now := t0.Add(10 * time.Second)
	cases := []struct {
		name string
		typ  uint16
		want string
	}{
		{"netcard.local", dns.TypeA, "netcard.local. A"},
		{"NetCard.Local", dns.TypeA, "netcard.local. A"}, // case-insensitive
		{"netcard.local", dns.TypeAAAA, "netcard.local. NSEC|+netcard.local. A"},
		{"_https._tcp.local", typePTR, "_https._tcp.local. PTR|+netcard.local. A|+netcard._https._tcp.local. SRV|+netcard._https._tcp.local. TXT"},
		{"netcard._https._tcp.local", typeSRV, "netcard._https._tcp.local. SRV|+netcard.local. A"},
		{"netcard._https._tcp.local", typeTXT, "netcard._https._tcp.local. TXT"},
		{"_services._dns-sd._udp.local", typePTR, "_services._dns-sd._udp.local. PTR"},
	}
	for i, c := range cases {
		now = now.Add(2 * time.Second) // past the once-a-second limit
		r.Input(hostIP, Port, query(0, [][2]any{{c.name, c.typ}}), now)
		out := drain(r, now.Add(200*time.Millisecond))
		if len(out) != 1 || out[0].to != Group || out[0].port != Port {
			t.Fatalf("%d %s: %d messages", i, c.name, len(out))
		}
		if got := strings.Join(answers(t, out[0].msg), "|"); got != c.want {
			t.Errorf("%s %d: %s, want %s", c.name, c.typ, got, c.want)
		}
	}
	// Names that are not ours, and malformed messages, get nothing.
	r.Input(hostIP, Port, query(0, [][2]any{{"other.local", dns.TypeA}}), now)
	r.Input(hostIP, Port, []byte{0, 0, 0, 0, 0, 9}, now)
	r.Input(hostIP, Port, query(0, [][2]any{{"netcard.local", dns.TypeA}})[:20], now)
	if out := drain(r, now.Add(3*time.Second)); len(out) != 0 {
		t.Fatalf("answered: %v", out)
	}
	if s := r.Stats(); s.Ignored != 1 || s.Malformed != 2 {
		t.Fatalf("%+v", s)
	}
}

func TestSRVContents(t *testing.T) {
	r := newResp(t, 1)
	run(t, r, cardA)
	now := t0.Add(10 * time.Second)
	r.Input(hostIP, Port, query(0, [][2]any{{"netcard._https._tcp.local", typeSRV}}), now)
	out := drain(r, now)
	var p dns.Parser
	p.Start(out[0].msg)
	var rr dns.Resource
	p.Resource(&rr)
	var target dns.Name
	p.NameAt(rr.DataOff+6, &target)
	if binary.BigEndian.Uint16(rr.Data[4:]) != 443 || target.String() != "netcard.local." || rr.Class != classIN|cacheFlush || rr.TTL != ttlHost {
		t.Fatalf("SRV %x target %s class %x ttl %d", rr.Data, target.String(), rr.Class, rr.TTL)
	}
}

func TestLegacyUnicast(t *testing.T) {
	r := newResp(t, 1)
	run(t, r, cardA)
	now := t0.Add(10 * time.Second)
	r.Input(hostIP, 40000, query(0x1234, [][2]any{{"netcard.local", dns.TypeA}}), now)
	out := drain(r, now)
	if len(out) != 1 || out[0].to != hostIP || out[0].port != 40000 {
		t.Fatalf("%+v", out)
	}
	var p dns.Parser
	h, _ := p.Start(out[0].msg)
	var q dns.Question
	var rr dns.Resource
	// §6.7: the query's ID, its question repeated, TTL at most 10, no cache-flush bit.
	if h.ID != 0x1234 || h.QDCount != 1 || p.Question(&q) != nil || q.Name.String() != "netcard.local." {
		t.Fatalf("header %+v", h)
	}
	if _, err := p.Resource(&rr); err != nil || rr.TTL != ttlLegacy || rr.Class != classIN || [4]byte(rr.Data) != cardA {
		t.Fatalf("answer %+v", rr)
	}
}

func TestKnownAnswerSuppression(t *testing.T) {
	r := newResp(t, 1)
	run(t, r, cardA)
	now := t0.Add(10 * time.Second)
	r.Input(hostIP, Port, query(0, [][2]any{{"_https._tcp.local", typePTR}}, [2]string{"_https._tcp.local", "netcard._https._tcp.local"}), now)
	if out := drain(r, now.Add(time.Second)); len(out) != 0 || r.Stats().Suppressed != 1 {
		t.Fatalf("answered a known answer: %d, %+v", len(out), r.Stats())
	}
}

func TestMulticastRateLimit(t *testing.T) {
	r := newResp(t, 1)
	run(t, r, cardA)
	now := t0.Add(10 * time.Second)
	q := query(0, [][2]any{{"netcard.local", dns.TypeA}})
	r.Input(hostIP, Port, q, now)
	if len(drain(r, now)) != 1 {
		t.Fatal("no answer")
	}
	r.Input(hostIP, Port, q, now.Add(500*time.Millisecond))
	if out := drain(r, now.Add(500*time.Millisecond)); len(out) != 0 {
		t.Fatal("the same record multicast twice within a second (RFC 6762 §6)")
	}
	r.Input(hostIP, Port, q, now.Add(1500*time.Millisecond))
	if len(drain(r, now.Add(1500*time.Millisecond))) != 1 {
		t.Fatal("no answer after a second")
	}
}

func TestConflictWhileProbingRenames(t *testing.T) {
	r := newResp(t, 1)
	r.SetAddr(cardA, t0)
	now := r.Poll(t0)
	drain(r, now) // first probe
	// Another host already owns netcard.local (§8.1: its response to our probe).
	r.Input([4]byte{10, 0, 3, 7}, Port, aResponse("netcard.local", [4]byte{10, 0, 3, 7}), now)
	if r.Name() != "netcard-2.local" || r.Stats().Conflicts != 1 {
		t.Fatal(r.Name())
	}
	_, _ = run(t, r, [4]byte{10, 0, 3, 9}) // new address: probes again as netcard-2
	if !r.Running() || r.Name() != "netcard-2.local" {
		t.Fatal(r.Name())
	}
	// Our own record seen again is no conflict.
	r.Input(hostIP, Port, aResponse("netcard-2.local", [4]byte{10, 0, 3, 9}), t0.Add(time.Minute))
	if r.Stats().Conflicts != 1 || !r.Running() {
		t.Fatal("own record taken for a conflict")
	}
}

// TestTwoCardsOneLAN: two responders with the same name start together on
// one LAN, each seeing every message of the other: they end with
// different names (RFC 6762 §8.2 tie-break, §9 conflict).
func TestTwoCardsOneLAN(t *testing.T) {
	a, b := newResp(t, 1), newResp(t, 2)
	ipA, ipB := [4]byte{10, 0, 3, 5}, [4]byte{10, 0, 3, 6}
	a.SetAddr(ipA, t0)
	b.SetAddr(ipB, t0)
	now := t0
	for i := 0; i < 200 && !(a.Running() && b.Running()); i++ {
		next := a.Poll(now)
		if nb := b.Poll(now); next.IsZero() || (!nb.IsZero() && nb.Before(next)) {
			next = nb
		}
		if next.IsZero() {
			break
		}
		now = next
		for _, s := range drain(a, now) {
			b.Input(ipA, Port, s.msg, now)
		}
		for _, s := range drain(b, now) {
			a.Input(ipB, Port, s.msg, now)
		}
	}
	if !a.Running() || !b.Running() || a.Name() == b.Name() {
		t.Fatalf("a %s %v, b %s %v", a.Name(), a.Running(), b.Name(), b.Running())
	}
	// The lower address loses the tie-break (§8.2) and renames.
	if a.Name() != "netcard-2.local" || b.Name() != "netcard.local" {
		t.Fatalf("a %s, b %s", a.Name(), b.Name())
	}
}

func TestBadNames(t *testing.T) {
	for _, n := range []string{"a.b", "x y", strings.Repeat("a", 61), "é"} {
		if _, err := New(Config{Name: n}); err == nil {
			t.Errorf("%q accepted", n)
		}
	}
}

func TestZeroAllocs(t *testing.T) {
	r := newResp(t, 1)
	run(t, r, cardA)
	q := query(0, [][2]any{{"_https._tcp.local", typePTR}})
	b := make([]byte, 1500)
	now := t0.Add(time.Minute)
	if n := testing.AllocsPerRun(100, func() {
		now = now.Add(2 * time.Second)
		r.Input(hostIP, 40000, q, now)
		r.Output(b, now)
	}); n != 0 {
		t.Fatalf("%v allocations", n)
	}
}

// TestManyConflicts: a neighbour claiming every name we try never makes a
// label overflow, and after 15 conflicts in 10 s probing slows to one try
// per 5 s (RFC 6762 §8.1).
func TestManyConflicts(t *testing.T) {
	r, err := New(Config{Name: strings.Repeat("n", 60), Rand: seeded{rand.NewChaCha8([32]byte{3})}})
	if err != nil {
		t.Fatal(err)
	}
	r.SetAddr(cardA, t0)
	now := t0
	for i := 0; i < 300; i++ {
		now = r.Poll(now)
		drain(r, now)
		r.Input(hostIP, Port, aResponse(r.Name(), [4]byte{10, 0, 3, 7}), now)
		if len(r.Name()) > 63+6 {
			t.Fatalf("name %q", r.Name())
		}
	}
	// Unthrottled, 300 conflicts take at most 300 × 250 ms = 75 s; with
	// 5-second waits after each 15 in 10 s, about 12 s per 17.
	if r.Stats().Conflicts != 300 || now.Sub(t0) < 150*time.Second {
		t.Fatalf("%d conflicts in %v", r.Stats().Conflicts, now.Sub(t0))
	}
}
