package sim

import (
	"fmt"
	"testing"
	"testing/cryptotest"
	"time"

	"netcard/card"
	"netcard/link"
)

// shedEveryCall makes the world shed the whole card before and after every
// Input, Poll and Output (Card.Shed's contract: safe between any two calls,
// whatever the line's quiet time) and returns a pointer to the bytes it
// released in total.
func shedEveryCall(w *World) *int {
	released := new(int)
	w.wrap = &cardCalls{
		input: func(b []byte, now time.Time) {
			*released += w.card.Shed()
			w.card.Input(b, now)
			*released += w.card.Shed()
		},
		poll: func(now time.Time) time.Time {
			*released += w.card.Shed()
			next := w.card.Poll(now)
			*released += w.card.Shed()
			return next
		},
		output: func(p []byte, now time.Time) int {
			*released += w.card.Shed()
			n := w.card.Output(p, now)
			*released += w.card.Shed()
			return n
		},
	}
	return released
}

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
					var released *int
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
						r.released = *released
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
				released := shed.released
				shed.released = 0
				if shed != never {
					t.Errorf("shedding between every call changed the exchange:\n shed  %+v\n never %+v", shed, never)
				}
				t.Logf("%d B down, %d B up in %v; identical while shedding %d B in total between calls",
					shed.down, shed.upB, shed.elapsed, released)
			})
		}
	}
}
