package sim

import (
	"crypto/sha256"
	"testing"
	"time"

	"netcard/card"
	"netcard/link"
	"netcard/ppp"
	"testing/cryptotest"
)

// TestSerialVJ: the 115200-baud download with Van Jacobson header
// compression negotiated both ways carries the same bytes with 3-octet
// headers instead of 40, so the line share (goodput ÷ baud/10) rises; the
// efficiency against the compressed framing's own maximum stays high. The
// record-size rows show the next lever (each record costs 22 octets).
func TestSerialVJ(t *testing.T) {
	const size = 128 << 10
	st, err := NewStore(1, 0, map[string][]byte{"f": RandomFile(1, size)})
	if err != nil {
		t.Fatal(err)
	}
	plain, err := MeasureThroughput(st, 115200, size, card.CardProfile)
	if err != nil {
		t.Fatal(err)
	}
	vj, err := MeasureThroughputVJ(st, 115200, size, card.CardProfile, ppp.MaxVJSlots)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("without VJ: line share %.4f, efficiency %.4f, header %d B; wire %+v", plain.LineShare, plain.Efficiency, plain.Wire.IPTCPHeader, plain.Wire)
	t.Logf("with VJ:    line share %.4f, efficiency %.4f, header %.2f B on the line; wire %+v", vj.LineShare, vj.Efficiency, vj.Wire.LineHeader, vj.Wire)
	if plain.Wire.VJ || !vj.Wire.VJ || vj.Wire.LineHeader <= 0 || vj.Wire.LineHeader > 8 || vj.Wire.Resent != 0 {
		t.Fatalf("VJ not used as expected: %+v", vj.Wire)
	}
	if vj.LineShare < plain.LineShare+0.015 || vj.Efficiency < 0.95 {
		t.Fatalf("line share %.4f → %.4f, efficiency with VJ %.4f", plain.LineShare, vj.LineShare, vj.Efficiency)
	}
	if testing.Short() {
		return
	}
	// Bigger records (what the sim says; the Card profile sends 1 KiB).
	for _, rec := range []struct{ out, send int }{{2048, 0}, {4096, 8192}} {
		p := card.CardProfile
		p.RecordOut = rec.out
		if rec.send > 0 {
			p.SendBuf = rec.send
		}
		r, err := MeasureThroughputVJ(st, 115200, size, p, ppp.MaxVJSlots)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("VJ and %d-byte records (send buffer %d): line share %.4f, efficiency %.4f, records seen %d", rec.out, p.SendBuf, r.LineShare, r.Efficiency, r.Wire.RecordMaxSeen)
	}
}

// TestLossyDownloadsVJ: TestLossyDownloads's line (10 % of frames dropped,
// 2 % duplicated, BER 1e-5, 20 ms jitter, both ways) with VJ header
// compression negotiated both ways: a lost or duplicated compressed frame
// leaves a decompressor's slot stale (RFC 1144 §4: the rebuilt segment
// fails TCP's checksum until an uncompressed packet resynchronises), the
// compressors hold a connection uncompressed after a retransmission or a
// duplicate ACK (vjHold), and still nothing is lost: as in
// TestLossyDownloads a failed attempt fails cleanly and a new connection
// succeeds, the download and the upload arrive intact. The same seeds
// without VJ, for comparison of the attempts and the time.
func TestLossyDownloadsVJ(t *testing.T) {
	seeds, size := 4, 256<<10
	if *long {
		seeds, size = *seedsFlag, 1<<20
	}
	cryptotest.SetGlobalRandom(t, 1)
	data := payload(4, size)
	sum := sha256.Sum256(data)
	updata := payload(40, size)
	upwant := uploadJSON(updata)
	st, err := NewStore(4, 0, map[string][]byte{"f.bin": data})
	if err != nil {
		t.Fatal(err)
	}
	f := link.Faults{DropFrame: 0.10, Dup: 0.02, BER: 1e-5}
	for _, vj := range []int{ppp.MaxVJSlots, 0} {
		retries := 0
		var virt time.Duration
		for s := 1; s <= seeds; s++ {
			w := newWorld(t, Options{Baud: 115200, Seed: uint64(s), Store: st, Down: &f, Up: &f,
				Jitter: 20 * time.Millisecond, MinRTO: 200 * time.Millisecond, HostVJSlots: vj})
			if err := w.RunUntil(w.Up, 60*time.Second); err != nil {
				t.Fatalf("seed %d: link: %v", s, err)
			}
			for _, up := range []bool{false, true} {
				for attempt := 0; ; attempt++ {
					var c *Client
					if up {
						c, err = w.StartPut("/upload", updata, 900*time.Second)
					} else {
						c, err = w.StartGet("/f.bin", 900*time.Second)
					}
					if err != nil {
						t.Fatalf("seed %d: %v", s, err)
					}
					err = w.Wait(c, 910*time.Second)
					if err == nil {
						if up && (c.Status != 200 || string(c.Body) != upwant) || !up && (c.Status != 200 || c.Sum != sum) {
							t.Fatalf("seed %d (VJ %d, upload %v): status %d, %d bytes, content differs", s, vj, up, c.Status, c.Len)
						}
						break
					}
					if attempt == 2 {
						t.Fatalf("seed %d (VJ %d, upload %v): three attempts failed, last: %v", s, vj, up, err)
					}
					retries++
					t.Logf("seed %d (VJ %d, upload %v): attempt %d failed cleanly at %v: %v", s, vj, up, attempt, w.Elapsed(), err)
				}
			}
			virt += w.Elapsed()
			if vj > 0 {
				cv, hv := w.Card().Link().VJStats(), w.Host().Link.VJStats()
				if !cv.TxOn || !cv.RxOn || !hv.TxOn {
					t.Fatalf("seed %d: VJ not negotiated: card %+v host %+v", s, cv, hv)
				}
				t.Logf("seed %d: card VJ out %d compressed / %d uncompressed (%d holds), in %d / %d, %d errors; host VJ out %d / %d (%d holds)",
					s, cv.CompOut, cv.UncompOut, cv.Holds, cv.CompIn, cv.UncompIn, cv.Errors, hv.CompOut, hv.UncompOut, hv.Holds)
			}
		}
		t.Logf("VJ slots %d: %d seeds of %d KiB down and up: %v virtual, %d attempts retried", vj, seeds, size>>10, virt, retries)
	}
}
