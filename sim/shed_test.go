package sim

import (
	"runtime"
	"testing"
	"testing/cryptotest"
	"time"

	"netcard/card"
)

// TestShedWhenQuiet: a card whose line has been quiet for Profile.ShedMs has
// shed every empty buffer by itself (a Shed then finds nothing), its idle
// heap is a fraction of the one of the same card that never sheds, and the
// request sent afterwards on the same TLS session is answered exactly as by
// that card (same status, same body hash, same bytes on the line).
func TestShedWhenQuiet(t *testing.T) {
	st, err := NewStore(1, 0, map[string][]byte{"f": RandomFile(3, 64<<10)})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []card.Profile{OneConnCard(), card.TinyProfile} {
		t.Run(p.Name, func(t *testing.T) {
			type result struct {
				shedAfter int
				status    int
				sum       [32]byte
				down, up  uint64
				heap      int64
			}
			run := func(shedMs uint16) result {
				cryptotest.SetGlobalRandom(t, 5) // the same signatures (lengths) in both runs
				q := p
				q.ShedMs = shedMs
				detachStore(st)
				w := newWorld(t, Options{Profile: q, Store: st, Seed: 5, Baud: 115200})
				c, err := w.HandshakeIdle(10 * time.Second)
				if err != nil {
					t.Fatal(err)
				}
				var r result
				r.shedAfter = w.Card().Shed()
				runtime.GC()
				r.heap = int64(heapInUse())
				c.SendRequest()
				if err := w.RunUntil(c.Done, time.Minute); err != nil {
					t.Fatal(err)
				}
				if c.Err() != nil {
					t.Fatal(c.Err())
				}
				r.status, r.sum = c.Status, c.Sum
				s := w.Stats()
				r.down, r.up = s.Down, s.Up
				return r
			}
			never := run(0)
			shed := run(p.ShedMs)
			if shed.shedAfter != 0 {
				t.Errorf("the quiet card had not shed everything by itself: Shed released %d B more", shed.shedAfter)
			}
			if never.shedAfter == 0 {
				t.Errorf("Shed on the card that never sheds released nothing")
			}
			if shed.status != 200 || shed.status != never.status || shed.sum != never.sum ||
				shed.down != never.down || shed.up != never.up {
				t.Errorf("after shedding: status %d, %d/%d line bytes; without: status %d, %d/%d (bodies equal: %v)",
					shed.status, shed.down, shed.up, never.status, never.down, never.up, shed.sum == never.sum)
			}
			t.Logf("%s: Shed released %d B on the card that never sheds; the quiet card had shed it all", p.Name, never.shedAfter)
		})
	}
}

// TestShedStress: with ShedMs at 1 ms, the card sheds in every pause of a
// download and an upload at 115200 baud (a round trip is longer than that),
// so buffers come and go many times mid-transfer; the transfers complete
// with the same bytes, the same line bytes and the same virtual time as with
// shedding off. The -16k runs upload in full 16 KiB records, which the
// card streams through its store (ChaCha20-Poly1305 larger than a slot's
// receive buffer): the card sheds in the middle of records being absorbed
// (the TLS engine keeps a record's streaming state until it is released)
// and every record still verifies and arrives.
func TestShedStress(t *testing.T) {
	up := payload(9, 200<<10)
	st, err := NewStore(1, 0, map[string][]byte{"f": RandomFile(4, 96<<10)})
	if err != nil {
		t.Fatal(err)
	}
	type variant struct {
		p         card.Profile
		recordOut int
	}
	for _, v := range []variant{{OneConnCard(), 0}, {card.CardProfile, 0}, {card.TinyProfile, 0},
		{OneConnCard(), 16384}, {card.CardProfile, 16384}} {
		p := v.p
		name := p.Name
		if v.recordOut > 0 {
			name += "-16k"
		}
		t.Run(name, func(t *testing.T) {
			type result struct {
				get, put [32]byte
				status   [2]int
				down, up uint64
				elapsed  time.Duration
				mallocs  uint64 // process-wide, during the transfers: buffers lent again after each shed
			}
			run := func(shedMs uint16) result {
				cryptotest.SetGlobalRandom(t, 8) // the same signatures (lengths) in both runs
				q := p
				q.ShedMs = shedMs
				detachStore(st)
				o := Options{Profile: q, Store: st, Seed: 8, Baud: 115200}
				if v.recordOut > 0 {
					o.ClientRecordOut, o.HostSendBuf = v.recordOut, 40000 // the host holds a whole record
				}
				w := newWorld(t, o)
				if err := w.RunUntil(w.Up, 10*time.Second); err != nil {
					t.Fatal(err)
				}
				var r result
				var m0, m1 runtime.MemStats
				runtime.ReadMemStats(&m0)
				g, err := w.StartGet("/f", 2*time.Minute)
				if err != nil {
					t.Fatal(err)
				}
				if err := w.RunUntil(g.Done, 2*time.Minute); err != nil || g.Err() != nil {
					t.Fatal(err, g.Err())
				}
				body := up
				if q.RecordSizeLimit > 0 {
					body = up[:q.HTTPIn/2] // the sim client's 1 KiB records exceed Tiny's limit: a small body in one record
				}
				u, err := w.StartPut("/upload", body, 2*time.Minute)
				if err != nil {
					t.Fatal(err)
				}
				if err := w.RunUntil(u.Done, 2*time.Minute); err != nil || u.Err() != nil {
					t.Fatal(err, u.Err())
				}
				runtime.ReadMemStats(&m1)
				r.mallocs = m1.Mallocs - m0.Mallocs
				r.get, r.put, r.status = g.Sum, u.Sum, [2]int{g.Status, u.Status}
				s := w.Stats()
				r.down, r.up, r.elapsed = s.Down, s.Up, w.Elapsed()
				return r
			}
			never, shed := run(0), run(1)
			// Buffers were shed and lent again mid-transfer many times.
			if shed.mallocs < never.mallocs+50 {
				t.Errorf("shedding every quiet millisecond allocated %d times, without %d: it hardly shed", shed.mallocs, never.mallocs)
			}
			extra := shed.mallocs - never.mallocs
			shed.mallocs, never.mallocs = 0, 0
			if never.status[0] != 200 || never.status[1] < 200 || never.status[1] > 299 {
				t.Fatalf("statuses without shedding: %v", never.status)
			}
			if shed != never {
				t.Errorf("shedding every millisecond changed the exchange:\n shed  %+v\n never %+v", shed, never)
			}
			t.Logf("%s: GET %d, PUT %d; %d B down, %d B up in %v, identical with shedding every quiet millisecond (%d more allocations: buffers lent again)",
				name, shed.status[0], shed.status[1], shed.down, shed.up, shed.elapsed, extra)
		})
	}
}

// TestShedIdleAllocatesNothing: once a card has shed, pulling its line for
// output while nothing is to be sent allocates nothing: the link does not
// lend its transmit frame to find nothing to send (ppp.Config.PendingIP,
// cleared by the first empty pull); only an event that may queue a packet
// (bytes in, a timer, a session's work) lends it again, once.
func TestShedIdleAllocatesNothing(t *testing.T) {
	w := newWorld(t, Options{Profile: OneConnCard(), Seed: 6, Baud: 115200})
	if _, err := w.HandshakeIdle(10 * time.Second); err != nil {
		t.Fatal(err)
	}
	c, now := w.Card(), w.now
	buf := make([]byte, 64)
	if n := c.Output(buf, now); n != 0 {
		t.Fatalf("an idle card had %d bytes to send", n)
	}
	if a := testing.AllocsPerRun(500, func() {
		now = now.Add(time.Millisecond)
		c.Output(buf, now)
	}); a != 0 {
		t.Errorf("%.2f allocations per idle Output after shedding", a)
	}
	if n := c.Shed(); n != 0 {
		t.Errorf("idle Output lent %d B again", n)
	}
}

// TestShedChurnDoesNotGrow: a peer that wakes the card after every quiet
// spell (here: a whole HTTPS GET each time, on a new connection, then quiet
// past ShedMs) makes it lend its buffers again each time — and give them
// back: every request is answered, every quiet spell ends shed, and a card
// that went through 30 such cycles retains what one that went through 3
// retains (the world around it dropped, as MeasureRAM does).
func TestShedChurnDoesNotGrow(t *testing.T) {
	st, err := NewStore(1, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	retained := func(cycles int) int64 {
		detachStore(st)
		before := heapInUse()
		w := newWorld(t, Options{Profile: OneConnCard(), Store: st, Seed: 12, Baud: 115200})
		if err := w.RunUntil(w.Up, 10*time.Second); err != nil {
			t.Fatal(err)
		}
		for i := 1; i <= cycles; i++ {
			c, err := w.StartGet("/", time.Minute)
			if err != nil {
				t.Fatal(err)
			}
			if err := w.RunUntil(c.Done, time.Minute); err != nil || c.Err() != nil || c.Status != 200 {
				t.Fatalf("request %d: %v %v status %d", i, err, c.Err(), c.Status)
			}
			w.Run(time.Duration(OneConnCard().ShedMs)*time.Millisecond + time.Second)
			if n := w.Card().Shed(); n != 0 {
				t.Fatalf("after quiet spell %d the card still held %d B of lendable buffers", i, n)
			}
		}
		c := w.Card()
		w = nil
		after := heapInUse()
		runtime.KeepAlive(c)
		return int64(after) - int64(before)
	}
	retained(3) // warm-up: one-time costs of the store and the runtime
	few, many := retained(3), retained(30)
	t.Logf("a card retains %d B after 3 shed-and-lend cycles, %d B after 30", few, many)
	if many > few+512 {
		t.Errorf("a card retains %d B after 30 cycles, %d B after 3: the churn accumulates", many, few)
	}
}
