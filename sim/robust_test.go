package sim

import (
	"crypto/sha256"
	"flag"
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"strings"
	"testing"
	"testing/cryptotest"
	"time"

	"netcard/apps"
	"netcard/card"
	"netcard/ipv4"
	"netcard/tcp"
	"netcard/tls"
)

// The flood suite of issue 8: while an attacker floods the card, a
// legitimate client on the same host runs HTTPS GETs of / back to back.
// Each subtest states the legitimate client's success rate and latency
// (virtual time), the card's heap growth between the two halves of the
// flood (GC'ed HeapAlloc, process-wide) and the attacker's counters.
// Everything runs in virtual time on a 115200-baud line.

// legitStats are the legitimate client's results.
type legitStats struct {
	ok, fail int
	lat      []time.Duration
	errs     map[string]int
}

func (s *legitStats) rate() float64 {
	if s.ok+s.fail == 0 {
		return 0
	}
	return float64(s.ok) / float64(s.ok+s.fail)
}

func (s *legitStats) String() string {
	if len(s.lat) == 0 {
		return fmt.Sprintf("%d/%d GETs ok (%.1f%%); errors %v", s.ok, s.ok+s.fail, 100*s.rate(), s.errs)
	}
	l := slices.Clone(s.lat)
	slices.Sort(l)
	q := func(f float64) time.Duration { return l[min(len(l)-1, int(f*float64(len(l))))].Round(time.Millisecond) }
	e := ""
	if s.fail > 0 {
		e = fmt.Sprintf("; errors %v", s.errs)
	}
	return fmt.Sprintf("%d/%d GETs ok (%.1f%%), latency p50 %v p95 %v max %v%s",
		s.ok, s.ok+s.fail, 100*s.rate(), q(0.5), q(0.95), l[len(l)-1].Round(time.Millisecond), e)
}

// legitOn runs GET / back to back (with a pause of pace after each
// success) until stop returns true or window of virtual time has passed;
// each GET may take timeout. On the plain-HTTP port when plain (a GET is
// served when it gets the card's 301 redirect).
func legitOn(t *testing.T, w *World, s *legitStats, window, timeout, pace time.Duration, stop func() bool, plain bool) {
	t.Helper()
	if s.errs == nil {
		s.errs = map[string]int{}
	}
	end := w.Now().Add(window)
	for w.Now().Before(end) && (stop == nil || !stop()) {
		start := w.StartGet
		if plain {
			start = w.StartPlainGet
		}
		c, err := start("/", timeout)
		if err != nil { // no host TCP slot free: a host-side limit, not the card's
			s.errs["dial: "+err.Error()]++
			w.Run(100 * time.Millisecond)
			continue
		}
		err = w.Wait(c, timeout+time.Second)
		if err == nil && (c.Status == 200 && c.Len > 0 || plain && c.Status == 301) {
			s.ok++
			s.lat = append(s.lat, c.End.Sub(c.Start))
			if pace > 0 {
				w.RunUntil(stop, pace)
			}
			continue
		}
		s.fail++
		w.Run(time.Second) // a person (or a browser) retries after a moment
		msg := fmt.Sprint(err)
		if err == nil {
			msg = fmt.Sprintf("status %d", c.Status)
		}
		if i := strings.Index(msg, " at "); i > 0 && strings.HasPrefix(msg, "sim: GET stuck") {
			msg = "stuck: " + msg[i:]
		}
		if len(msg) > 60 {
			msg = msg[:60]
		}
		s.errs[msg]++
	}
}

func heapNow() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// floodCase is one attack: start installs it, stop removes it, done (if
// non-nil) ends the run early, report describes the attacker's side.
type floodCase struct {
	name    string
	window  time.Duration
	start   func(w *World)
	stop    func(w *World)
	done    func() bool
	report  func(w *World) string
	minRate float64 // the legitimate success rate asserted (the honest floor measured, rounded down)
	// gap: the card is known to miss the goal of issue 8 (minRate); the
	// shortfall is logged, and fails the test only with -bugs.
	gap string
	// pace is the legitimate client's pause between GETs (0: back to back).
	pace time.Duration
	// timeout bounds each legitimate GET (default 20 s); plain makes the
	// legitimate client use the plain-HTTP port (a 301 is a success).
	timeout time.Duration
	plain   bool
	// profile is the card's profile (zero: card.CardProfile).
	profile card.Profile
}

var bugs = flag.Bool("bugs", false, "fail the flood cases where the card has a known gap")

func runFlood(t *testing.T, fc floodCase) {
	cryptotest.SetGlobalRandom(t, 81) // pin Go's crypto randomness (signature lengths): each case replays exactly
	w := newWorld(t, Options{Baud: 115200, Seed: 81, HostMaxConns: 16, Profile: fc.profile})
	if err := w.RunUntil(w.Up, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	var base legitStats
	legitOn(t, w, &base, 5*time.Second, 20*time.Second, 0, nil, fc.plain)
	if base.fail > 0 {
		t.Fatalf("baseline before the flood: %v", &base)
	}
	ts0 := w.Card().TCP().Stats()
	timeout := fc.timeout
	if timeout == 0 {
		timeout = 20 * time.Second
	}
	fc.start(w)
	var s legitStats
	half := fc.window / 2
	legitOn(t, w, &s, half, timeout, fc.pace, fc.done, fc.plain)
	h1 := heapNow()
	legitOn(t, w, &s, fc.window-half, timeout, fc.pace, fc.done, fc.plain)
	h2 := heapNow()
	fc.stop(w)
	w.Run(2 * time.Second) // the attacker's last RSTs reach the card
	growth := int64(h2) - int64(h1)
	ts := w.Card().TCP().Stats()
	is := w.Card().IP().Stats()
	ps := w.Card().Link().Stats()
	t.Logf("%s: legitimate client during %v of flood: %v", fc.name, w.Elapsed().Round(time.Second), &s)
	t.Logf("%s: baseline %v", fc.name, &base)
	t.Logf("%s: heap growth over the second half %+d B; %s", fc.name, growth, fc.report(w))
	t.Logf("%s: card TCP: segs in %d, SYN refused %d, recycled %d, accepted %d, RSTs out %d; IP: in %d, filtered %d, ICMP echo out %d, rate-limited %d; PPP frames in %d, bad FCS %d; LCP %v IPCP %v",
		fc.name, ts.SegsIn-ts0.SegsIn, ts.ConnsRefused-ts0.ConnsRefused, ts.SlotsRecycled-ts0.SlotsRecycled,
		ts.ConnsAccepted-ts0.ConnsAccepted, ts.RSTsOut-ts0.RSTsOut, is.InPackets, is.InFiltered, is.ICMPEchoOut,
		is.ICMPRateLimited, ps.FramesIn, ps.BadFCS, ps.LCPState, ps.IPCPState)
	if growth > 64<<10 {
		t.Errorf("%s: heap grew by %d B while flooding", fc.name, growth)
	}
	// After the flood the card serves again at once.
	if err := w.RunUntil(w.Up, 60*time.Second); err != nil {
		t.Fatalf("%s: link not up after the flood: %v", fc.name, err)
	}
	var after legitStats
	legitOn(t, w, &after, 10*time.Second, 30*time.Second, 0, nil, fc.plain)
	if after.fail > 0 || after.ok == 0 {
		t.Errorf("%s: after the flood: %v", fc.name, &after)
	}
	if s.rate() < fc.minRate && fc.gap != "" && !*bugs {
		t.Logf("KNOWN GAP %s: legitimate success rate %.1f%% < %.0f%%: %s", fc.name, 100*s.rate(), 100*fc.minRate, fc.gap)
	} else if s.rate() < fc.minRate {
		t.Errorf("%s: legitimate success rate %.1f%% < %.0f%%", fc.name, 100*s.rate(), 100*fc.minRate)
	}
}

// ipFlood is a flood case of injected IPv4 packets at line rate.
func ipFlood(name string, window time.Duration, minRate float64, src func() PacketSource) floodCase {
	var n uint64
	return floodCase{
		name: name, window: window, minRate: minRate,
		start:  func(w *World) { w.InjectIP(Counted(src(), &n)) },
		stop:   func(w *World) { w.InjectIP(nil) },
		report: func(w *World) string { return fmt.Sprintf("%d packets injected", n) },
	}
}

func connFlood(name string, window time.Duration, minRate float64, f *ConnFlood) floodCase {
	return floodCase{
		name: name, window: window, minRate: minRate,
		start: func(w *World) { f.W = w; w.AddActor(f) },
		stop:  func(w *World) { f.Stop(); w.RemoveActor(f) },
		done: func() bool {
			return f.Done()
		},
		report: func(w *World) string {
			return fmt.Sprintf("attacker: opened %d, refused %d, closed by card %d, reset by card %d, expired %d, dial errors %d, %d B from the card",
				f.Opened, f.Refused, f.ClosedByCard, f.ResetByCard, f.Expired, f.DialErrors, f.BytesFromCard)
		},
	}
}

// attackerIP is the source address of the attacks that do not come from
// the legitimate client's address (TEST-NET-2, behind the host).
var attackerIP = ipv4.Addr{198, 51, 100, 7}

func paced(fc floodCase, pace time.Duration) floodCase { fc.pace = pace; return fc }

// clientHello returns a real ClientHello record of the sim's TLS client.
func clientHello(t *testing.T) []byte {
	w := newWorld(t, Options{Seed: 99, NoStart: true})
	cfg, err := w.ClientTLS()
	if err != nil {
		t.Fatal(err)
	}
	e := tls.NewClient(cfg, tls.DefaultRecordBuf)
	b := make([]byte, 4096)
	n := e.Output(b)
	if n < 100 || b[0] != 22 {
		t.Fatalf("no ClientHello: %d bytes", n)
	}
	return b[:n]
}

// mutateHello writes a random mutation of hello into dst.
func mutateHello(r *rand.Rand, hello, dst []byte) int {
	b := append(dst[:0], hello...)
	for k := 1 + r.IntN(4); k > 0; k-- {
		switch r.IntN(8) {
		case 0, 1: // flip bytes
			for j := 1 + r.IntN(8); j > 0; j-- {
				b[5+r.IntN(len(b)-5)] ^= byte(1 + r.IntN(255))
			}
		case 2: // an interesting value
			v := []byte{0, 1, 0x7f, 0x80, 0xfe, 0xff}[r.IntN(6)]
			b[r.IntN(len(b))] = v
		case 3: // truncate
			b = b[:1+r.IntN(len(b))]
		case 4: // insert junk
			i := r.IntN(len(b))
			junk := make([]byte, 1+r.IntN(32))
			for j := range junk {
				junk[j] = byte(r.Uint32())
			}
			b = slices.Insert(b, i, junk...)
		case 5: // a length field: record, handshake, or somewhere inside
			i := []int{3, 6, 7, 8, 43, 44, 5 + r.IntN(len(b)-5)}[r.IntN(7)]
			if i < len(b) {
				b[i] = byte(r.Uint32())
			}
		case 6: // cut a slice out
			if len(b) > 10 {
				i := r.IntN(len(b) - 5)
				j := i + r.IntN(len(b)-i)
				b = append(b[:i], b[j:]...)
			}
		case 7: // duplicate a slice (extensions twice)
			i := r.IntN(len(b))
			j := i + r.IntN(min(64, len(b)-i))
			b = slices.Insert(b, j, slices.Clone(b[i:j])...)
		}
		if len(b) < 6 {
			b = append(b, hello[len(b):6]...)
		}
	}
	if r.IntN(2) == 0 && len(b) >= 5 && len(b)-5 < 1<<14 { // keep the record length consistent half of the time
		b[3], b[4] = byte((len(b)-5)>>8), byte(len(b)-5)
	}
	if len(b) > len(dst) {
		b = b[:len(dst)]
	}
	return copy(dst, b)
}

func TestFloods(t *testing.T) {
	hellos := 1000
	if *long {
		hellos = 10000
	}
	hello := clientHello(t)
	r := rand.New(rand.NewPCG(8, 8))
	cases := []floodCase{
		ipFlood("syn-flood", 60*time.Second, 0.99, func() PacketSource { return SYNFlood(1, 443) }),
		ipFlood("syn-flood-port80", 60*time.Second, 0.99, func() PacketSource { return SYNFlood(2, 80) }),
		ipFlood("icmp-echo-flood", 60*time.Second, 0.99, func() PacketSource { return ICMPFlood(3, 1000) }),
		ipFlood("icmp-echo-flood-small", 60*time.Second, 0.99, func() PacketSource { return ICMPFlood(4, 64) }),
		ipFlood("fragments-never-complete", 60*time.Second, 0.99, func() PacketSource { return FragmentFlood(5, 512) }),
		connFlood("conn-exhaustion-idle", 120*time.Second, 0.99, &ConnFlood{Port: 443, Conns: 6}),
		connFlood("conn-exhaustion-idle-other-source", 120*time.Second, 0.99, &ConnFlood{Port: 443, Conns: 6, Src: attackerIP}),
		connFlood("slowloris-tls-hello", 120*time.Second, 0.99, &ConnFlood{Port: 443, Conns: 6, Drip: 3 * time.Second,
			Payload: func(_ int, dst []byte) int { return copy(dst, hello) }}),
		connFlood("slowloris-tls-hello-other-source", 120*time.Second, 0.99, &ConnFlood{Port: 443, Conns: 6, Drip: 3 * time.Second,
			Src: attackerIP, Payload: func(_ int, dst []byte) int { return copy(dst, hello) }}),
		// A whole ClientHello at once, then silence: the attacker shows
		// the same progress as the client and stalls in the handshake.
		connFlood("stalled-tls-handshake", 120*time.Second, 0.99, &ConnFlood{Port: 443, Conns: 6,
			Payload: func(_ int, dst []byte) int { return copy(dst, hello) }}),
		connFlood("stalled-tls-handshake-other-source", 120*time.Second, 0.99, &ConnFlood{Port: 443, Conns: 6, Src: attackerIP,
			Payload: func(_ int, dst []byte) int { return copy(dst, hello) }}),
		connFlood("slowloris-http-port80", 120*time.Second, 0.99, &ConnFlood{Port: 80, Conns: 6, Drip: 3 * time.Second,
			Payload: func(_ int, dst []byte) int {
				return copy(dst, "GET / HTTP/1.1\r\nHost: netcard.local\r\nUser-Agent: slowloris\r\nX-a: b\r\n\r\n")
			}}),
		paced(connFlood(fmt.Sprintf("malformed-clienthellos-%d", hellos), 24*time.Hour, 0.99, &ConnFlood{Port: 443, Conns: 2, Total: hellos,
			MaxLife: 15 * time.Second, Payload: func(_ int, dst []byte) int { return mutateHello(r, hello, dst) }}), 5*time.Second),
		{
			// Every Configure-Request in Opened restarts LCP (RFC 1661), and
			// the storm brings ≈ 190 a second. The card damps renegotiation
			// (ppp.Config.RenegotiateHold, 2 s): one restart per hold, each
			// ≈ 80 ms of LCP and IPCP with the same addresses, so TCP
			// connections survive and retransmit across the gap.
			name: "lcp-configure-request-storm", window: 30 * time.Second, minRate: 0.99,
			start: func(w *World) { w.InjectFrames(LCPStorm(6)) },
			stop:  func(w *World) { w.InjectFrames(nil) },
			report: func(w *World) string {
				ps := w.Card().Link().Stats()
				return fmt.Sprintf("%d LCP Configure-Requests injected; card LCP opened %d times, IPCP %d, %d requests damped",
					w.FramesInjected, ps.LCPOpens, ps.IPCPOpens, ps.ConfReqDamped)
			},
		},
	}
	var echoID byte
	cases = append(cases, floodCase{
		name: "lcp-echo-request-storm", window: 60 * time.Second, minRate: 0.99,
		start: func(w *World) {
			w.InjectFrames(func(dst []byte, _ time.Time) int {
				echoID++
				return copy(dst, []byte{0xc0, 0x21, 9, echoID, 0, 12, 0, 0, 0, 0, 'x', 'y'})
			})
		},
		stop:   func(w *World) { w.InjectFrames(nil) },
		report: func(w *World) string { return fmt.Sprintf("%d LCP Echo-Requests injected", w.FramesInjected) },
	})
	for _, fc := range cases {
		t.Run(fc.name, func(t *testing.T) { runFlood(t, fc) })
	}
}

// TestLineLossRenegotiates: with LCP keepalive on (5 s), a 30 s cut of the
// serial line in the middle of a 1 MiB download makes both ends declare the
// peer dead; when the line returns LCP and IPCP negotiate again, the
// download resumes (same addresses, TCP retransmits) or fails with a
// reason, and a new HTTPS GET succeeds.
func TestLineLossRenegotiates(t *testing.T) {
	for _, seed := range []uint64{1, 2, 3} {
		data := payload(seed, 1<<20)
		w := newWorld(t, Options{Baud: 115200, Seed: seed, Files: map[string][]byte{"f": data}, EchoInterval: 5 * time.Second})
		if err := w.RunUntil(w.Up, 10*time.Second); err != nil {
			t.Fatal(err)
		}
		c, err := w.StartGet("/f", 600*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if err := w.RunUntil(func() bool { return c.Len >= 256<<10 }, 120*time.Second); err != nil {
			t.Fatal(err)
		}
		cut := w.Now()
		w.SetLineUp(false)
		downs := 0
		wasUp := true
		w.RunUntil(func() bool {
			if up := w.Card().Up(); up != wasUp {
				wasUp = up
				if !up {
					downs++
				}
			}
			return false
		}, 30*time.Second)
		w.SetLineUp(true)
		back := w.Now()
		if err := w.RunUntil(w.Up, 60*time.Second); err != nil {
			t.Fatalf("seed %d: link did not come back: %v", seed, err)
		}
		relink := w.Now().Sub(back)
		err = w.Wait(c, 601*time.Second)
		switch {
		case err == nil && c.Sum == sha256.Sum256(data):
			t.Logf("seed %d: card link went down %d time(s) during the 30 s cut; LCP+IPCP up %v after the line returned; download resumed and completed %v after the cut (%v in all)",
				seed, downs, relink.Round(time.Millisecond), c.End.Sub(cut).Round(time.Millisecond), c.End.Sub(c.Start).Round(time.Millisecond))
		case err != nil:
			t.Logf("seed %d: link down %d time(s), up again %v after the line returned; download failed cleanly: %v", seed, downs, relink, err)
		default:
			t.Fatalf("seed %d: download completed with the wrong bytes", seed)
		}
		if downs == 0 {
			t.Errorf("seed %d: keepalive did not notice a 30 s dead line", seed)
		}
		code, _, err := w.Get("/", 60*time.Second)
		if err != nil || code != 200 {
			t.Fatalf("seed %d: new GET after the outage: %d %v", seed, code, err)
		}
	}
}

// TestStalledReaders: four HTTPS clients fetch a large file and stop
// reading (their TCP keeps the window closed and answers the card's
// probes, as a kernel does for an application that does not read). TCP
// must keep such connections open (RFC 1122 §4.2.2.17), so they would hold
// all four slots forever. The session counts one as idle once its output
// has waited apps.StallIdleAfter with nothing acknowledged (a newcomer may
// then evict it), and resets it after SendStallTimeout (60 s).
func TestStalledReaders(t *testing.T) {
	cryptotest.SetGlobalRandom(t, 5)
	st, err := NewStore(4, 0, map[string][]byte{"f.bin": payload(4, 256<<10)})
	if err != nil {
		t.Fatal(err)
	}
	w := newWorld(t, Options{Baud: 115200, Seed: 1, Store: st})
	if err := w.RunUntil(w.Up, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	stall := func() {
		for i := 0; i < 4; i++ {
			c, err := w.StartGet("/f.bin", time.Hour)
			if err != nil {
				t.Fatal(err)
			}
			if err := w.RunUntil(func() bool { return !c.FirstBody.IsZero() }, 60*time.Second); err != nil {
				t.Fatalf("reader %d: %v", i, err)
			}
			w.forget(c) // the application stops reading; its TCP keeps answering
		}
	}
	counter := func(name string) uint64 {
		for _, c := range w.Card().Status(w.Now()).Counters {
			if c.Layer == "TCP" && c.Name == name {
				return c.Value
			}
		}
		t.Fatalf("no TCP counter %q", name)
		return 0
	}
	// Contention: all four slots held by stalled readers; a new client gets
	// a slot since they have stalled for StallIdleAfter + EvictAfter (without
	// the policy the GET times out).
	stall()
	// Let the readers' windows fill (4 × their receive buffer at 115200
	// baud) and the stall age past StallIdleAfter + EvictAfter.
	w.Run(40 * time.Second)
	start := w.Now()
	for i := 0; i < 4; i++ {
		x, ok := w.Card().TCP().Conn(i)
		if !ok {
			t.Fatalf("slot %d empty", i)
		}
		since, waiting := x.SendWaitSince()
		t.Logf("slot %d: %v, %d B queued, nothing acknowledged for %v", i, x.State(), x.Queued(), start.Sub(since))
		if !waiting || start.Sub(since) < apps.StallIdleAfter+card.EvictAfter {
			t.Fatalf("slot %d: waiting %v since %v", i, waiting, start.Sub(since))
		}
	}
	code, _, err := w.Get("/", 60*time.Second)
	if err != nil || code != 200 {
		t.Fatalf("GET / with four stalled readers: %d %v", code, err)
	}
	took := w.Now().Sub(start)
	t.Logf("GET / with four stalled readers answered after %v; evicted %d", took, counter("connections evicted (no slot free)"))
	if took > 5*time.Second || counter("connections evicted (no slot free)") == 0 {
		t.Errorf("GET took %v, evictions %d", took, counter("connections evicted (no slot free)"))
	}
	// No contention: the stalled readers are reset after SendStallTimeout.
	w.Run(70 * time.Second)
	if n := counter("stalled readers reset"); n < 3 {
		t.Errorf("stalled readers reset: %d, want the 3 left", n)
	}
	for i := 0; i < 4; i++ {
		if x, ok := w.Card().TCP().Conn(i); ok && x.Queued() > 0 && x.State() == tcp.Established {
			t.Errorf("slot %d still established with %d B queued", i, x.Queued())
		}
	}
}
