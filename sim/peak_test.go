package sim

import (
	"testing"
	"time"

	"netcard/card"
)

// TestPeakRAM: the peak measurement of issue 14 for the one-slot Card
// profile and Tiny — the upload goes in full records (16 KiB; Tiny: its
// record_size_limit less TLS 1.3's content-type byte), the peak is at least the idle
// heap at both ends of the scenario, at most the hard bound (RAMBound), and
// a second run (another seed) finds the same peak within 3 %; no stack was
// cut before its card frame. The attributed idle heap agrees with the
// process-wide heap delta of MeasureRAM (GC twice and divide) within 3 %:
// the attribution misses nothing of the card. -short: one run each.
func TestPeakRAM(t *testing.T) {
	st, err := NewStore(2, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		p      card.Profile
		record int
	}{{OneConnCard(), 16384}, {card.TinyProfile, card.TinyProfile.RecordSizeLimit - 1}} {
		t.Run(c.p.Name, func(t *testing.T) {
			t0 := time.Now()
			r, err := MeasurePeakRAM(c.p, 1)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%s: peak %d B in %s (in a call ≤ %d), idle %d, end %d, upload %d; %d calls, %d samples, %v",
				c.p.Name, r.Bytes, r.Phase, r.InCallBound, r.Idle, r.End, r.Upload, r.Calls, r.Samples, r.Wall)
			if r.Record != c.record {
				t.Errorf("upload records of %d bytes, want %d", r.Record, c.record)
			}
			if r.Bytes < r.Idle || r.Bytes < r.End || r.Idle <= 0 || r.InCallBound < r.Bytes {
				t.Errorf("peak %d, idle %d, end %d, in-call bound %d", r.Bytes, r.Idle, r.End, r.InCallBound)
			}
			// Regression guards (lower them only): where the peaks stand
			// (session 6: card-1 19,944 B, Tiny 9,176 B) plus 1 KiB for the
			// runtime's own allocations that land in a card call now and then
			// (an itab table growing: 144 B) — below issue 14's goals (24 KiB,
			// 12 KiB).
			if limit := map[string]int64{"card-1": 21504, "tiny": 10240}[c.p.Name]; r.Bytes > limit {
				t.Errorf("%s: peak %d B, past its %d B guard", c.p.Name, r.Bytes, limit)
			}
			if r.Truncated != 0 {
				t.Errorf("%d B of the peak from stacks cut before their card frame", r.Truncated)
			}
			b, err := RAMBound(c.p, st)
			if err != nil {
				t.Fatal(err)
			}
			var sum int64
			for _, p := range b.Parts {
				sum += p.Bytes
				t.Logf("  bound part %7d B  %s", p.Bytes, p.Name)
			}
			if sum != b.Bytes || r.Bytes > b.Bytes || int64(c.p.Budget()) > b.Bytes {
				t.Errorf("peak %d B, bound %d B (parts %d, budget %d)", r.Bytes, b.Bytes, sum, c.p.Budget())
			}
			// The attribution against the process-wide heap delta per card of
			// MeasureRAM (GC twice and divide): within 3 %. The delta moves with
			// whatever else the process allocates or frees meanwhile, so one of
			// three tries must agree.
			var deltas []int64
			for try := 0; try < 3; try++ {
				d, err := MeasureRAM(c.p, 4, st)
				if err != nil {
					t.Fatal(err)
				}
				deltas = append(deltas, d)
				if diff := r.Idle - d; diff <= d*3/100 && diff >= -d*3/100 {
					deltas = nil
					break
				}
			}
			if deltas != nil {
				t.Errorf("attributed idle heap %d B, heap deltas %v B per card", r.Idle, deltas)
			}
			if !testing.Short() {
				r2, err := MeasurePeakRAM(c.p, 2)
				if err != nil {
					t.Fatal(err)
				}
				if d := r2.Bytes - r.Bytes; d > r.Bytes*3/100 || d < -r.Bytes*3/100 {
					t.Errorf("peak %d B with seed 1, %d B with seed 2", r.Bytes, r2.Bytes)
				}
			}
			if b.SecureClient <= 16384 {
				t.Errorf("secure client %d B: less than its response buffer", b.SecureClient)
			}
			t.Logf("%s: bound %d B (%d TLS variants), secure client %d B; %v in all", c.p.Name, b.Bytes, b.TLSVariants,
				b.SecureClient, time.Since(t0))
		})
	}
}

// TestPeakRAMStatus: the card's status pages (for Tiny sent piece by piece,
// chunked, from a page the applications allocate on demand) after the
// scenario keep the peak within RAMBound, whose applications term counts
// them.
func TestPeakRAMStatus(t *testing.T) {
	st, err := NewStore(2, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []card.Profile{OneConnCard(), card.TinyProfile} {
		r, err := measurePeakRAM(p, 3, "/status", "/status.json")
		if err != nil {
			t.Fatal(err)
		}
		b, err := RAMBound(p, st)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%s: peak %d B in %s, end %d B; bound %d B", p.Name, r.Bytes, r.Phase, r.End, b.Bytes)
		if r.Bytes > b.Bytes {
			t.Errorf("%s: peak %d B > bound %d B", p.Name, r.Bytes, b.Bytes)
		}
	}
}

// TestIdleRAMGoals: issue 14's idle goals as regression guards — one
// established idle HTTPS session holds at most 4 KiB on a Tiny card and
// 8 KiB on a one-slot Card-profile card (sim.MeasureRAM, the bench's
// tiny_ram_bytes and card_ram_bytes: session 6 measured 3,720 and 3,968 B).
// The heap delta also catches the runtime's own allocations now and then (a
// new thread: ≈ 280 B a card over 20 cards), so the least of three
// measurements counts.
func TestIdleRAMGoals(t *testing.T) {
	st, err := NewStore(2, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		p     card.Profile
		limit int64
	}{{card.TinyProfile, 4096}, {OneConnCard(), 8192}} {
		best := int64(1 << 62)
		for try := 0; try < 3; try++ {
			n, err := MeasureRAM(c.p, 20, st)
			if err != nil {
				t.Fatal(err)
			}
			best = min(best, n)
		}
		t.Logf("%s: %d B idle", c.p.Name, best)
		if best > c.limit {
			t.Errorf("%s: %d B idle, past issue 14's %d B", c.p.Name, best, c.limit)
		}
	}
}
