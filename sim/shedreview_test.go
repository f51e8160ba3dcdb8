package sim

import (
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"net"
	"runtime"
	"strings"
	"testing"
	"testing/cryptotest"
	"time"

	"netcard/card"
	"netcard/http"
	"netcard/ipv4"
	"netcard/link"
	"netcard/store"
	"netcard/tls"
)

// shedEveryCall makes the world shed the whole card before and after every
// Input, Poll and Output (Card.Shed's contract: safe between any two calls,
// whatever the line's quiet time) and returns what it did. Every TCP
// receive buffer a connection slot lets go — dropped by a Shed, or with
// its connection — is overwritten at once (0xA5): TLS opens records in
// place there and HTTP reads their plaintext from it, so a view kept by
// any layer above across the drop would read those bytes instead of the
// data: a different byte on the line or a failed exchange.
func shedEveryCall(w *World) *shedCount {
	r := new(shedCount)
	st := w.card.TCP()
	held := make([][]byte, st.Config().MaxConns) // each slot's receive buffer when last seen
	observe := func() {
		for i := range held {
			c, _ := st.Conn(i)
			b := c.Peek()
			switch {
			case cap(b) > 0:
				held[i] = b[:cap(b)]
			case held[i] != nil:
				for k := range held[i] {
					held[i][k] = 0xa5
				}
				held[i] = nil
				r.poisoned++
			}
		}
	}
	shed := func() {
		r.bytes += w.card.Shed()
		observe()
	}
	w.wrap = &cardCalls{
		input: func(b []byte, now time.Time) {
			shed()
			w.card.Input(b, now)
			observe()
			shed()
		},
		poll: func(now time.Time) time.Time {
			shed()
			next := w.card.Poll(now)
			observe()
			shed()
			return next
		},
		output: func(p []byte, now time.Time) int {
			shed()
			n := w.card.Output(p, now)
			observe()
			shed()
			return n
		},
	}
	return r
}

// shedCount is what shedEveryCall did: the bytes Shed released, and the
// receive buffers it overwrote once let go.
type shedCount struct{ bytes, poisoned int }

// TestShedEveryCallHostile: the card shed between every single call (not
// only after ShedMs of quiet) over a hostile line — frames lost, duplicated
// and hit by bit errors both ways, so TCP retransmits, holds out-of-order
// data, PPP drops half frames and TLS records arrive in pieces — with VJ
// compression, two HTTPS clients at once (a GET of 48 KiB and a PUT of
// 64 KiB in 1 KiB records) and then a third GET after both: every exchange
// completes with the same bodies, the same statuses, the same line bytes
// and the same virtual time as the same seeded run that never sheds. A
// slice kept across a Shed into a buffer that is lent again, or state
// reset by Shed, would show as a different byte on the line or a failed
// transfer.
func TestShedEveryCallHostile(t *testing.T) {
	st, err := NewStore(1, 0, map[string][]byte{"f": RandomFile(21, 48<<10)})
	if err != nil {
		t.Fatal(err)
	}
	up := payload(22, 64<<10)
	profiles := []card.Profile{OneConnCard(), card.CardProfile, card.TinyProfile}
	for _, p := range profiles {
		for _, seed := range []uint64{31, 32} {
			t.Run(fmt.Sprint(p.Name, "/", seed), func(t *testing.T) {
				type result struct {
					sums       [3][32]byte
					status     [3]int
					down, upB  uint64
					elapsed    time.Duration
					released   int
					poisoned   int
					clientErrs [3]string
				}
				run := func(shed bool) result {
					cryptotest.SetGlobalRandom(t, seed)
					detachStore(st)
					faults := func(s int64) *link.Faults {
						return &link.Faults{Seed: s, DropFrame: 0.02, Dup: 0.01, BER: 2e-6}
					}
					w := newWorld(t, Options{Profile: p, Store: st, Seed: seed, Baud: 115200,
						HostVJSlots: 4, Down: faults(int64(seed)), Up: faults(int64(seed) + 100)})
					var released *shedCount
					if shed {
						released = shedEveryCall(w)
					}
					if err := w.RunUntil(w.Up, 30*time.Second); err != nil {
						t.Fatal(err)
					}
					var r result
					body := up
					if p.RecordSizeLimit > 0 {
						body = up[:p.HTTPIn/2]
					}
					g, err := w.StartGet("/f", 5*time.Minute)
					if err != nil {
						t.Fatal(err)
					}
					var u *Client
					if p.MaxConns > 1 {
						// A second connection at once: the slots share the large buffer.
						if u, err = w.StartPut("/upload", body, 5*time.Minute); err != nil {
							t.Fatal(err)
						}
					}
					if err := w.RunUntil(func() bool { return g.Done() && (u == nil || u.Done()) }, 5*time.Minute); err != nil {
						t.Fatal(err)
					}
					if u == nil {
						if u, err = w.StartPut("/upload", body, 5*time.Minute); err != nil {
							t.Fatal(err)
						}
						if err := w.RunUntil(u.Done, 5*time.Minute); err != nil {
							t.Fatal(err)
						}
					}
					w.Run(2 * time.Second) // quiet: the card sheds by itself too
					g2, err := w.StartGet("/f", 5*time.Minute)
					if err != nil {
						t.Fatal(err)
					}
					if err := w.RunUntil(g2.Done, 5*time.Minute); err != nil {
						t.Fatal(err)
					}
					for i, c := range []*Client{g, u, g2} {
						r.sums[i], r.status[i] = c.Sum, c.Status
						if c.Err() != nil {
							r.clientErrs[i] = c.Err().Error()
						}
					}
					s := w.Stats()
					r.down, r.upB, r.elapsed = s.Down, s.Up, w.Elapsed()
					if released != nil {
						r.released, r.poisoned = released.bytes, released.poisoned
					}
					return r
				}
				never, shed := run(false), run(true)
				if never.status[0] != 200 || never.status[2] != 200 || never.status[1] < 200 || never.status[1] > 299 {
					t.Fatalf("without shedding: statuses %v, errors %q", never.status, never.clientErrs)
				}
				if shed.released == 0 {
					t.Fatal("nothing was shed")
				}
				released, poisoned := shed.released, shed.poisoned
				if poisoned == 0 {
					t.Fatal("no receive buffer was let go: nothing was overwritten")
				}
				shed.released, shed.poisoned = 0, 0
				if shed != never {
					t.Errorf("shedding between every call changed the exchange:\n shed  %+v\n never %+v", shed, never)
				}
				t.Logf("%d B down, %d B up in %v; identical while shedding %d B in total between calls (%d receive buffers overwritten once let go)",
					shed.down, shed.upB, shed.elapsed, released, poisoned)
			})
		}
	}
}

// TestShedChurnAttackerCost measures the lend/shed churn an attacker can
// drive: slow clients that fill every slot and send one byte of a request
// body (a TLS record of its own) every ShedMs+1 ms, so the line is quiet
// long enough for the card to shed before each byte and every byte lends
// the buffers again. The cost of shedding is the difference with the same
// seeded run on a card that never sheds (ShedMs 0: the exchange is the
// same, byte for byte): allocations and bytes allocated per attacker byte
// on the line and per second. The card sheds only when the whole line has
// been quiet ShedMs, so the churn is at most one cycle per quiet spell
// whatever the attacker does (the lever is the quiet time, not the
// attacker's byte count); the test reports the numbers and asserts that a
// spell costs no more than the burst's buffers.
func TestShedChurnAttackerCost(t *testing.T) {
	const span = 60 * time.Second
	for _, p := range []card.Profile{OneConnCard(), card.CardProfile, card.TinyProfile} {
		t.Run(p.Name, func(t *testing.T) {
			// One byte in its record, the card's delayed ACK 100 ms later
			// (~6 ms of line each at 115200 baud), then ShedMs of quiet,
			// then the next byte: the fastest an attacker can make the
			// card shed before each of its bytes.
			drip := time.Duration(p.ShedMs+120) * time.Millisecond
			type result struct {
				mallocs, bytes uint64
				up, down       uint64
				opened         int
			}
			run := func(shedMs uint16) result {
				cryptotest.SetGlobalRandom(t, 3)
				q := p
				q.ShedMs = shedMs
				w := newWorld(t, Options{Profile: q, Seed: 3, Baud: 115200})
				if err := w.RunUntil(w.Up, 10*time.Second); err != nil {
					t.Fatal(err)
				}
				a := &SlowClients{W: w, Port: 443, Conns: 1, Method: "PUT", Path: "/upload",
					BodyLen: 1 << 20, DripFrom: -1, Drip: drip}
				w.AddActor(a)
				w.Run(10 * time.Second) // handshakes done, dripping
				s0 := w.Stats()
				var m0, m1 runtime.MemStats
				runtime.ReadMemStats(&m0)
				w.Run(span)
				runtime.ReadMemStats(&m1)
				s1 := w.Stats()
				a.Stop()
				return result{m1.Mallocs - m0.Mallocs, m1.TotalAlloc - m0.TotalAlloc, s1.Up - s0.Up, s1.Down - s0.Down, a.Opened}
			}
			// MemStats counts the whole process: other goroutines can only
			// add to a run's count, so the least of three runs each way
			// counts.
			never, shed := run(0), run(p.ShedMs)
			for range 2 {
				if r := run(0); r.bytes < never.bytes {
					never = r
				}
				if r := run(p.ShedMs); r.bytes < shed.bytes {
					shed = r
				}
			}
			if shed.up != never.up || shed.down != never.down || shed.opened != never.opened {
				t.Fatalf("shedding changed the exchange: %+v vs %+v", shed, never)
			}
			extraN := int64(shed.mallocs) - int64(never.mallocs)
			extraB := int64(shed.bytes) - int64(never.bytes)
			secs := span.Seconds()
			cycles := secs / drip.Seconds()
			t.Logf("%s: attacker sent %d B up in %v (%d connections); shedding cost %d allocations, %d B (%.0f B per attacker byte, %.1f KB/s, %.0f B per quiet spell of ≤%.0f)",
				p.Name, shed.up, span, shed.opened, extraN, extraB, float64(extraB)/float64(shed.up), float64(extraB)/secs/1000,
				float64(extraB)/cycles, cycles)
			// Per quiet spell the card lends again what the byte needs (the
			// one-slot card: its 20,480-byte TCP block, the two frames and
			// the read key's AES-GCM state, ≈ 24 KB) and nothing per Poll:
			// 75.6 KB before the session stopped asking for send room while
			// receiving (TestShedMidBodyPollLendsNothing) and the card's
			// Polls stopped lending the transmit frame
			// (TestShedIdlePollAllocatesNothing); 27.2 KB after. The bound
			// leaves room for noise and catches either regression.
			if perSpell := float64(extraB) / cycles; perSpell > 40<<10 {
				t.Errorf("shedding costs %.0f B per quiet spell: more than the burst needs", perSpell)
			}
		})
	}
}

// midBodyShed brings a one-slot card to a quiet spell in the middle of a
// request body — a client that sent the head of a PUT and one body byte,
// then waits (a slow but legitimate uploader, or an attacker) — after
// which the card has shed by itself.
func midBodyShed(t *testing.T) (*World, *SlowClients) {
	w := newWorld(t, Options{Profile: OneConnCard(), Seed: 4, Baud: 115200})
	if err := w.RunUntil(w.Up, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	a := &SlowClients{W: w, Port: 443, Conns: 1, Method: "PUT", Path: "/upload",
		BodyLen: 1 << 20, DripFrom: -1, Drip: time.Hour}
	w.AddActor(a)
	if err := w.RunUntil(func() bool { return len(a.live) == 1 && a.live[0].sent > len(a.live[0].req) }, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	w.Run(2 * time.Second) // the ACK, then quiet: the card sheds
	return w, a
}

// TestShedMidBodyPollLendsNothing: a card that shed in the middle of a
// request body has nothing to send, so its timers (Poll, which services
// the sessions) must not lend a buffer again: observed before the fix,
// every Poll lent the slot's TCP buffers (the 20,480-byte receive+send
// block of the one-slot Card profile) because the session asked TCP for
// send room (Free) while HTTP, receiving the body, had nothing to say;
// the next quiet Poll shed it again — 20 KB of churn per timer, three to
// five times per quiet spell of a dripping client.
func TestShedMidBodyPollLendsNothing(t *testing.T) {
	w, _ := midBodyShed(t)
	c, now := w.Card(), w.Now()
	if n := c.Shed(); n != 0 {
		t.Errorf("after 2 s of quiet the card still held %d B of lendable buffers", n)
	}
	lent := 0
	// Best of ten (MemStats counts other goroutines too; see
	// TestZeroAllocsPerPacket).
	a := 1.0
	for try := 0; try < 10 && a != 0; try++ {
		a = testing.AllocsPerRun(100, func() {
			now = now.Add(time.Millisecond)
			c.Poll(now)
			lent += c.Shed()
		})
	}
	if a != 0 || lent != 0 {
		t.Errorf("%.1f allocations per Poll in the middle of a body, %d B lent again", a, lent)
	}
}

// TestShedIdlePollAllocatesNothing: TestShedIdleAllocatesNothing with the
// card's timers running between the Outputs, as a driver runs them (Poll,
// then Output). Observed before the fix: one allocation per Poll+Output —
// every Poll said a timer may have queued a packet (ppp.Config.PendingIP),
// so the next Output lent the link's 1.6 KB transmit frame to ask for it,
// found nothing and dropped it again (five or six such frames of garbage
// per quiet spell of a dripping client in TestShedChurnAttackerCost). A
// Poll now says so only when a deadline it returned has come (timerDue).
func TestShedIdlePollAllocatesNothing(t *testing.T) {
	w := newWorld(t, Options{Profile: OneConnCard(), Seed: 6, Baud: 115200})
	if _, err := w.HandshakeIdle(10 * time.Second); err != nil {
		t.Fatal(err)
	}
	c, now := w.Card(), w.Now()
	buf := make([]byte, 64)
	if n := c.Output(buf, now); n != 0 {
		t.Fatalf("an idle card had %d bytes to send", n)
	}
	a := 1.0
	for try := 0; try < 10 && a != 0; try++ { // best of ten, as above
		a = testing.AllocsPerRun(500, func() {
			now = now.Add(time.Millisecond)
			c.Poll(now)
			if n := c.Output(buf, now); n != 0 {
				t.Fatalf("an idle card sent %d bytes", n)
			}
		})
	}
	if a != 0 {
		t.Errorf("%.2f allocations per idle Poll and Output after shedding", a)
	}
	if n := c.Shed(); n != 0 {
		t.Errorf("idle Poll and Output lent %d B again", n)
	}
}

// TestZeroAllocsAfterMidTransferShed: TestZeroAllocsPerPacket with the
// card shed in the middle of the download (Card.Shed between two calls:
// the AEAD states and every empty buffer go). The buffers the transfer
// needs are lent again once, within a few frames; from then on the
// steady state allocates nothing per frame, as without the shed.
func TestZeroAllocsAfterMidTransferShed(t *testing.T) {
	const size = 256 << 10
	st, err := NewStore(1, 0, map[string][]byte{"f": RandomFile(1, size)})
	if err != nil {
		t.Fatal(err)
	}
	attempt := func() (float64, uint64, int) {
		w := newWorld(t, Options{Store: st, Seed: 11, Baud: 12_000_000, HostVJSlots: 16})
		if err := w.RunUntil(w.Up, 10*time.Second); err != nil {
			t.Fatal(err)
		}
		c, err := w.StartGet("/f", time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		if err := w.RunUntil(func() bool { return c.done || c.Len >= 64<<10 }, time.Minute); err != nil {
			t.Fatal(err)
		}
		shed := w.Card().Shed()
		// A few records to lend everything again, then the window.
		if err := w.RunUntil(func() bool { return c.done || c.Len >= 80<<10 }, time.Minute); err != nil {
			t.Fatal(err)
		}
		var m0, m1 runtime.MemStats
		ps0 := w.card.Link().Stats()
		runtime.GC()
		runtime.ReadMemStats(&m0)
		err = w.RunUntil(func() bool { return c.done || int(c.Len) >= size-8<<10 }, time.Minute)
		runtime.ReadMemStats(&m1)
		ps1 := w.card.Link().Stats()
		if err == nil {
			err = w.RunUntil(c.Done, time.Minute)
		}
		if err != nil || c.err != nil || int(c.Len) != size {
			t.Fatalf("%v %v: %d of %d bytes", err, c.err, c.Len, size)
		}
		frames := ps1.FramesIn + ps1.FramesOut - ps0.FramesIn - ps0.FramesOut
		return float64(m1.Mallocs-m0.Mallocs) / float64(frames), frames, shed
	}
	// Best of ten attempts, as TestZeroAllocsPerPacket (other goroutines,
	// the runtime's type-assertion caches).
	var a float64
	var frames uint64
	var shed int
	for try := 0; try < 10; try++ {
		if a, frames, shed = attempt(); a == 0 {
			break
		}
	}
	if shed == 0 {
		t.Fatal("the mid-transfer Shed released nothing")
	}
	if a != 0 {
		t.Fatalf("%.3f allocations per frame over %d frames after a mid-transfer Shed of %d B", a, frames, shed)
	}
	t.Logf("a Shed mid-transfer released %d B; then 0 allocations over %d frames", shed, frames)
}

// fragmentedPings returns a source of echo requests of msgLen bytes from
// HostIP in two fragments (first bytes, then the rest; every third
// datagram the last fragment first): each reassembled in the card's slot
// and answered from it.
func fragmentedPings(seed uint64, msgLen, first int) PacketSource {
	r := rand.New(rand.NewPCG(seed, 0x4650))
	msg := make([]byte, msgLen)
	id, part := uint16(0), 0
	return func(dst []byte, _ time.Time) int {
		if len(dst) < ipv4.HeaderLen+max(first, msgLen-first) {
			return 0
		}
		if part == 0 {
			id++
			msg[0], msg[1], msg[2], msg[3] = 8, 0, 0, 0
			binary.BigEndian.PutUint32(msg[4:], uint32(id))
			for i := 8; i < len(msg); i++ {
				msg[i] = byte(r.Uint32())
			}
			binary.BigEndian.PutUint16(msg[2:], ipv4.Checksum(msg, 0))
		}
		off, n, mf := 0, first, true
		if (part == 1) != (id%3 == 0) { // every third datagram: the last fragment first
			off, n, mf = first, len(msg)-first, false
		}
		part ^= 1
		copy(dst[ipv4.HeaderLen:], msg[off:off+n])
		ipv4.PutHeader(dst, &ipv4.Fields{TotalLen: ipv4.HeaderLen + n, ID: id, MF: mf, FragOff: off,
			TTL: 64, Protocol: 1, Src: HostIP, Dst: CardIP})
		return ipv4.HeaderLen + n
	}
}

// limited passes at most n packets of src, one every every-th call.
func limited(src PacketSource, n, every int) PacketSource {
	calls := 0
	return func(dst []byte, now time.Time) int {
		calls++
		if n == 0 || calls%every != 0 {
			return 0
		}
		k := src(dst, now)
		if k > 0 {
			n--
		}
		return k
	}
}

// TestShedEveryCallUnderFloods: TestShedEveryCallHostile's comparison with
// hostile packets between the host's own — SYN floods (SYN cookies, the
// RST queue), spoofed pings, fragments that never complete, fragmented
// pings answered from the reassembly slot, an LCP Configure-Request storm
// (renegotiations) — while a GET of a streamed status page, a plain-HTTP
// GET on port 80 and an HTTPS PUT with a client KeyUpdate in its middle
// run: the card shed between every call sends exactly the line bytes of
// the card that never sheds, and its clients see the same outcomes.
func TestShedEveryCallUnderFloods(t *testing.T) {
	st, err := NewStore(1, 0, map[string][]byte{"f": RandomFile(23, 16<<10)})
	if err != nil {
		t.Fatal(err)
	}
	up := payload(24, 24<<10)
	for _, p := range []card.Profile{OneConnCard(), card.CardProfile, card.TinyProfile} {
		mtu := min(p.MRU, 1500) // Tiny: 296
		floods := []struct {
			name string
			src  func() PacketSource
		}{
			{"syn", func() PacketSource { return limited(SYNFlood(5, 443), 300, 2) }},
			{"ping", func() PacketSource { return limited(ICMPFlood(6, mtu*2/5), 200, 3) }},
			{"fragments", func() PacketSource { return limited(FragmentFlood(7, mtu/4), 200, 3) }},
			// 2/3 of the MTU in two fragments of 1/3 (8-byte multiples).
			{"fragmented-pings", func() PacketSource {
				return limited(fragmentedPings(8, (mtu-20)*2/3&^7, (mtu-20)/3&^7), 200, 6)
			}},
			{"lcp", func() PacketSource { return limited(LCPStorm(9), 6, 40) }},
		}
		for _, f := range floods {
			t.Run(p.Name+"/"+f.name, func(t *testing.T) {
				type result struct {
					sums      [4][32]byte
					status    [4]int
					errs      [4]string
					down, upB uint64
					elapsed   time.Duration
					ip        ipv4.Stats
					cookies   uint64
					lcpFrames uint64
				}
				run := func(shed bool) (result, int) {
					cryptotest.SetGlobalRandom(t, 40)
					detachStore(st)
					w := newWorld(t, Options{Profile: p, Store: st, Seed: 40, Baud: 115200, HostVJSlots: 4})
					var released *shedCount
					if shed {
						released = shedEveryCall(w)
					}
					if err := w.RunUntil(w.Up, 30*time.Second); err != nil {
						t.Fatal(err)
					}
					src := f.src()
					if f.name == "lcp" {
						w.InjectFrames(src)
					} else {
						w.InjectIP(src)
					}
					body := up
					if p.RecordSizeLimit > 0 {
						body = up[:p.HTTPIn/2]
					}
					var cs [4]*Client
					start := func(i int, c *Client, err error) {
						if err != nil {
							t.Fatal(err)
						}
						cs[i] = c
						if err := w.RunUntil(c.Done, 5*time.Minute); err != nil {
							t.Fatal(err)
						}
					}
					g, err := w.StartGet("/status", 5*time.Minute)
					start(0, g, err)
					pg, err := w.StartPlainGet("/f", 5*time.Minute)
					start(1, pg, err)
					u, err := w.StartPut("/upload", body, 5*time.Minute)
					if err != nil {
						t.Fatal(err)
					}
					// The client updates its keys half way (RFC 8446 §4.6.3: update_requested).
					if err := w.RunUntil(func() bool { return u.Done() || u.sent > len(u.req)+len(body)/2 }, 5*time.Minute); err != nil {
						t.Fatal(err)
					}
					if !u.Done() && u.eng.State() == tls.Established {
						u.eng.KeyUpdate(true)
					}
					start(2, u, nil)
					g2, err := w.StartGet("/f", 5*time.Minute)
					start(3, g2, err)
					var r result
					for i, c := range cs {
						r.sums[i], r.status[i] = c.Sum, c.Status
						if c.Err() != nil {
							r.errs[i] = c.Err().Error()
						}
					}
					s := w.Stats()
					r.down, r.upB, r.elapsed = s.Down, s.Up, w.Elapsed()
					r.ip, r.cookies, r.lcpFrames = w.Card().IP().Stats(), w.Card().TCP().Stats().SynCookiesSent, w.Card().Link().Stats().FramesIn
					if released != nil {
						return r, released.bytes
					}
					return r, 0
				}
				never, _ := run(false)
				shed, released := run(true)
				if released == 0 {
					t.Fatal("nothing was shed")
				}
				if shed != never {
					t.Errorf("shedding between every call changed the exchange:\n shed  %+v\n never %+v", shed, never)
				}
				t.Logf("statuses %v %q; %d B down, %d B up in %v; %d echo replies (%d fragments reassembled), %d SYN cookies; identical while shedding %d B between calls",
					shed.status, shed.errs, shed.down, shed.upB, shed.elapsed, shed.ip.ICMPEchoOut, shed.ip.FragReassembled, shed.cookies, released)
			})
		}
	}
}

// TestShedWhileReceiverStalls: a client stops reading in the middle of a
// download (its TCP window closes; the card's response waits for send
// room, its unacknowledged data and the rest of the file queued, zero-
// window probes backing off) for 20 s, then reads again. The card sheds
// in the quiet spells between its probes — only what holds nothing — and
// the download completes exactly as on a card that never sheds (same
// body, line bytes and virtual time).
func TestShedWhileReceiverStalls(t *testing.T) {
	st, err := NewStore(1, 0, map[string][]byte{"f": RandomFile(25, 48<<10)})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []card.Profile{OneConnCard(), card.CardProfile, card.TinyProfile} {
		t.Run(p.Name, func(t *testing.T) {
			type result struct {
				sum       [32]byte
				status    int
				down, up  uint64
				elapsed   time.Duration
				heldAfter int
			}
			run := func(shedMs uint16) result {
				cryptotest.SetGlobalRandom(t, 26)
				detachStore(st)
				q := p
				q.ShedMs = shedMs
				w := newWorld(t, Options{Profile: q, Store: st, Seed: 26, Baud: 115200, HostRecvBuf: 4096})
				if err := w.RunUntil(w.Up, 30*time.Second); err != nil {
					t.Fatal(err)
				}
				c, err := w.StartGet("/f", 5*time.Minute)
				if err != nil {
					t.Fatal(err)
				}
				if err := w.RunUntil(func() bool { return c.Done() || c.Len >= 8<<10 }, time.Minute); err != nil {
					t.Fatal(err)
				}
				w.forget(c) // stops reading: the host's window closes
				w.Run(20 * time.Second)
				var r result
				r.heldAfter = w.Card().Shed()
				w.clients = append(w.clients, c)
				if err := w.RunUntil(c.Done, 5*time.Minute); err != nil {
					t.Fatal(err)
				}
				if c.Err() != nil {
					t.Fatal(c.Err())
				}
				s := w.Stats()
				r.sum, r.status, r.down, r.up, r.elapsed = c.Sum, c.Status, s.Down, s.Up, w.Elapsed()
				return r
			}
			never, shed := run(0), run(p.ShedMs)
			if never.heldAfter == 0 {
				t.Fatal("the stalled card that never sheds held nothing sheddable: the test sheds nothing")
			}
			if shed.heldAfter != 0 {
				t.Errorf("after 20 s of stall the card had not shed what it could: %d B", shed.heldAfter)
			}
			never.heldAfter, shed.heldAfter = 0, 0
			if shed != never || shed.status != 200 {
				t.Errorf("shedding during the stall changed the download:\n shed  %+v\n never %+v", shed, never)
			}
			t.Logf("%d B down in %v, identical with shedding during a 20 s stall", shed.down, shed.elapsed)
		})
	}
}

// TestShedEveryCallSuites: the card shed between every call over a lossy
// line, with clients that negotiate each TLS 1.3 suite and TLS 1.2
// (ECDHE-ECDSA with AES-128-GCM, AES-256-GCM, ChaCha20-Poly1305): a
// download and an upload each answer exactly as on a card that never
// sheds — the AEAD state rebuilt from the key and IV after every Shed,
// in both versions, mid-record and mid-flight.
func TestShedEveryCallSuites(t *testing.T) {
	st, err := NewStore(1, 0, map[string][]byte{"f": RandomFile(27, 24<<10)})
	if err != nil {
		t.Fatal(err)
	}
	up := payload(28, 16<<10)
	type suite struct {
		id  uint16
		v12 bool
	}
	for _, s := range []suite{
		{tls.TLS_AES_128_GCM_SHA256, false}, {tls.TLS_AES_256_GCM_SHA384, false}, {tls.TLS_CHACHA20_POLY1305_SHA256, false},
		{tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, true}, {tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384, true},
		{tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256, true},
	} {
		t.Run(fmt.Sprintf("%04x", s.id), func(t *testing.T) {
			type result struct {
				sums      [2][32]byte
				status    [2]int
				errs      [2]string
				suite     uint16
				down, upB uint64
				elapsed   time.Duration
			}
			run := func(shed bool) (result, int) {
				cryptotest.SetGlobalRandom(t, 29)
				detachStore(st)
				faults := func(s int64) *link.Faults { return &link.Faults{Seed: s, DropFrame: 0.02} }
				w := newWorld(t, Options{Profile: OneConnCard(), Store: st, Seed: 29, Baud: 115200,
					Down: faults(29), Up: faults(30)})
				var released *shedCount
				if shed {
					released = shedEveryCall(w)
				}
				if err := w.RunUntil(w.Up, 30*time.Second); err != nil {
					t.Fatal(err)
				}
				var r result
				for i := range 2 {
					var c *Client
					var err error
					if i == 0 {
						c, err = w.StartGet("/f", 5*time.Minute)
					} else {
						c, err = w.StartPut("/upload", up, 5*time.Minute)
					}
					if err != nil {
						t.Fatal(err)
					}
					cfg, err := w.ClientTLS()
					if err != nil {
						t.Fatal(err)
					}
					cfg.CipherSuites = []uint16{s.id}
					if s.v12 {
						cfg.MaxVersion = tls.VersionTLS12
						cfg.Groups = []tls.CurveID{tls.X25519, tls.P256}
					}
					c.eng = tls.NewClient(cfg, tls.DefaultRecordBuf) // before its ClientHello
					if err := w.RunUntil(c.Done, 5*time.Minute); err != nil {
						t.Fatal(err)
					}
					r.sums[i], r.status[i] = c.Sum, c.Status
					if c.Err() != nil {
						r.errs[i] = c.Err().Error()
					}
					r.suite = c.eng.ConnectionState().CipherSuite
				}
				ls := w.Stats()
				r.down, r.upB, r.elapsed = ls.Down, ls.Up, w.Elapsed()
				if released != nil {
					return r, released.bytes
				}
				return r, 0
			}
			never, _ := run(false)
			shed, released := run(true)
			if never.status != [2]int{200, 200} || never.suite != s.id {
				t.Fatalf("without shedding: %+v", never)
			}
			if released == 0 {
				t.Fatal("nothing was shed")
			}
			if shed != never {
				t.Errorf("shedding between every call changed the exchange:\n shed  %+v\n never %+v", shed, never)
			}
			t.Logf("%d B down, %d B up in %v; identical while shedding %d B", shed.down, shed.upB, shed.elapsed, released)
		})
	}
}

// vaultStore is a store like NewStore's with the cardholder's PIN set.
func vaultStore(t *testing.T, seed uint64, pin string) *store.Store {
	const size = 256 << 10
	r := NewRand(seed, "store")
	st, err := store.CreateMedium(store.NewMemMedium(size), size, r)
	if err != nil {
		t.Fatal(err)
	}
	p := card.DefaultPersonalisation()
	p.IPs = append(p.IPs, net.IP(CardIP[:]))
	p.PIN, p.PUK = pin, "4082716395"
	if err := card.Personalise(st, p, r, Epoch); err != nil {
		t.Fatal(err)
	}
	return st
}

// TestShedEveryCallVault: the cardholder's credentials through a card shed
// between every call — a wrong PIN (401, a try spent), a record written
// with the right one (the PIN in the request head, the record in the body,
// both decrypted into buffers shed right after), read back, and a wrong
// PIN again — give the same statuses, the same record and the same line
// bytes as on a card that never sheds: nothing of a request is lost or
// mixed with another's when the buffers that held it are dropped.
func TestShedEveryCallVault(t *testing.T) {
	const pin = "739215"
	record := payload(31, 700)
	basic := func(pw string) string {
		return "Authorization: Basic " + base64.StdEncoding.EncodeToString([]byte("owner:"+pw)) + "\r\n"
	}
	for _, p := range []card.Profile{OneConnCard(), card.TinyProfile} {
		t.Run(p.Name, func(t *testing.T) {
			type result struct {
				status    [4]int
				bodies    [4]string
				down, upB uint64
			}
			run := func(shed bool) result {
				cryptotest.SetGlobalRandom(t, 32)
				st := vaultStore(t, 33, pin)
				w := newWorld(t, Options{Profile: p, Store: st, Seed: 32, Baud: 115200})
				if shed {
					shedEveryCall(w)
				}
				if err := w.RunUntil(w.Up, 30*time.Second); err != nil {
					t.Fatal(err)
				}
				var r result
				for i, q := range []struct {
					method, pw string
					body       []byte
				}{{"PUT", "000000", record}, {"PUT", pin, record}, {"GET", pin, nil}, {"GET", "111111", nil}} {
					c, err := w.start(q.method, "/vault/note", q.body, time.Minute)
					if err != nil {
						t.Fatal(err)
					}
					h := http.RequestHeader{Method: q.method, Target: "/vault/note", Host: "netcard.local", ContentLength: -1,
						Close: true, UserAgent: "netcard-sim", Extra: basic(q.pw)}
					if q.body != nil {
						h.ContentLength = int64(len(q.body))
					}
					c.req = http.AppendRequestHeader(nil, &h)
					c.KeepBody = true
					if err := w.RunUntil(c.Done, time.Minute); err != nil || c.Err() != nil {
						t.Fatal(err, c.Err())
					}
					r.status[i], r.bodies[i] = c.Status, string(c.Body)
					// Past the backoff after a wrong PIN (an idle world has no
					// event to run to: the clock is moved), the card quiet.
					w.now = w.now.Add(3 * time.Second)
					w.Run(time.Second)
				}
				s := w.Stats()
				r.down, r.upB = s.Down, s.Up
				return r
			}
			never, shed := run(false), run(true)
			if never.status != [4]int{401, 201, 200, 401} || never.bodies[2] != string(record) {
				t.Fatalf("without shedding: statuses %v %q", never.status, never.bodies)
			}
			if shed != never {
				t.Errorf("shedding between every call changed the vault exchange: statuses %v vs %v, line %d/%d vs %d/%d",
					shed.status, never.status, shed.down, shed.upB, never.down, never.upB)
			}
		})
	}
}

// TestShedEveryCallKeepAlive: a TLS session that goes idle after its
// handshake (the card drops the slot's buffers, which held the
// ClientHello and the client's Finished; they are overwritten at once),
// then sends a PUT and gets the answer, on a card shed between every call:
// the same answer and line bytes as on a card that never sheds.
func TestShedEveryCallKeepAlive(t *testing.T) {
	up := payload(34, 6000)
	for _, p := range []card.Profile{OneConnCard(), card.CardProfile, card.TinyProfile} {
		t.Run(p.Name, func(t *testing.T) {
			type result struct {
				status   int
				body     string
				down, up uint64
				elapsed  time.Duration
			}
			run := func(shed bool) (result, int) {
				cryptotest.SetGlobalRandom(t, 35)
				w := newWorld(t, Options{Profile: p, Seed: 35, Baud: 115200})
				var sc *shedCount
				if shed {
					sc = shedEveryCall(w)
				}
				c, err := w.HandshakeIdle(10 * time.Second)
				if err != nil {
					t.Fatal(err)
				}
				body := up
				if p.RecordSizeLimit > 0 {
					body = up[:p.HTTPIn/2]
				}
				h := http.RequestHeader{Method: "PUT", Target: "/upload", Host: "netcard.local", ContentLength: int64(len(body)),
					Close: true, UserAgent: "netcard-sim"}
				c.held, c.upload, c.KeepBody = http.AppendRequestHeader(nil, &h), body, true
				c.SendRequest()
				if err := w.RunUntil(c.Done, time.Minute); err != nil || c.Err() != nil {
					t.Fatal(err, c.Err())
				}
				s := w.Stats()
				r := result{c.Status, string(c.Body), s.Down, s.Up, w.Elapsed()}
				if sc != nil {
					return r, sc.poisoned
				}
				return r, 0
			}
			never, _ := run(false)
			shed, poisoned := run(true)
			if never.status != 200 {
				t.Fatalf("without shedding: %+v", never)
			}
			if poisoned == 0 {
				t.Fatal("no receive buffer was let go")
			}
			if shed != never {
				t.Errorf("shedding between every call changed the exchange:\n shed  %+v\n never %+v", shed, never)
			}
			t.Logf("%q; identical with %d receive buffers overwritten once let go", shed.body, poisoned)
		})
	}
}

// TestTinyCredentialAnswers: on the Tiny profile (448 bytes of response
// room, a 224-byte head reserve) every answer of the cardholder's PIN
// check reaches a client that sends Connection: close with its own status
// and text — PIN required, wrong PIN with the tries left, too soon, card
// blocked — and an administrator route without credentials gets its 401;
// observed before the http fix: 500 for each 401 with its challenge (its
// head, 238 bytes, outgrew the reserve), so the cardholder was not told
// the tries left.
func TestTinyCredentialAnswers(t *testing.T) {
	st := vaultStore(t, 36, "739215")
	w := newWorld(t, Options{Profile: card.TinyProfile, Store: st, Seed: 36, Baud: 115200})
	if err := w.RunUntil(w.Up, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	do := func(target, extra string) (int, string) {
		c, err := w.start("GET", target, nil, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		h := http.RequestHeader{Method: "GET", Target: target, Host: "netcard.local", ContentLength: -1,
			Close: true, UserAgent: "netcard-sim", Extra: extra}
		c.req, c.KeepBody = http.AppendRequestHeader(nil, &h), true
		if err := w.RunUntil(c.Done, time.Minute); err != nil || c.Err() != nil {
			t.Fatal(err, c.Err())
		}
		return c.Status, string(c.Body)
	}
	wrong := "Authorization: Basic " + base64.StdEncoding.EncodeToString([]byte("owner:000000")) + "\r\n"
	later := func() { w.now = w.now.Add(5 * time.Second); w.Run(time.Second) } // past the backoff
	for i, step := range []struct {
		target, extra string
		status        int
		text          string
		then          func()
	}{
		{"/vault/note", "", 401, "PIN required", nil},
		{"/vault/note", wrong, 401, "wrong PIN: 2 tries left", nil},
		{"/vault/note", wrong, 429, "too soon after a wrong PIN", later},
		{"/vault/note", wrong, 401, "wrong PIN: 1 tries left", later},
		{"/vault/note", wrong, 403, "card blocked", nil},
		{"/vault/note", wrong, 0, "", nil}, // blocked: no try is spent (any 4xx but 500)
		{"/admin/fetch", "", 401, "administrator credentials required", nil},
	} {
		status, body := do(step.target, step.extra)
		if status == 500 || step.status != 0 && (status != step.status || !strings.Contains(body, step.text)) {
			t.Fatalf("step %d (%s): %d %q, want %d %q", i, step.target, status, body, step.status, step.text)
		}
		if step.then != nil {
			step.then()
		}
	}
}
