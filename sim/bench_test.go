package sim

import (
	"crypto/sha256"
	"encoding/json"
	"testing"
	"time"

	"netcard/card"
	"netcard/store"
)

func TestBenchQuick(t *testing.T) {
	r, err := Run(BenchOptions{Quick: true, Log: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.MarshalIndent(r, "", "  ")
	t.Logf("%s", b)
	if r.SerialEfficiency115200 < 0.9 || r.SerialEfficiency115200 > 1 {
		t.Errorf("serial efficiency at 115200 = %v", r.SerialEfficiency115200)
	}
	if r.TTFBRatio115200 < 0.5 || r.TTFBRatio115200 > 1.25 {
		t.Errorf("TTFB ratio = %v", r.TTFBRatio115200)
	}
}

// TestZeroAllocsPerPacket: a steady-state HTTPS download through the whole
// card (and the host peer, and the simulator) allocates nothing per frame.
func TestZeroAllocsPerPacket(t *testing.T) {
	st, err := NewStore(1, 0, map[string][]byte{"f": RandomFile(1, 128<<10)})
	if err != nil {
		t.Fatal(err)
	}
	// MemStats counts the whole process: goroutines other tests left behind
	// (gVisor's) may allocate meanwhile, so the best of three attempts counts.
	var a float64
	var frames uint64
	for try := 0; try < 3; try++ {
		var err error
		if a, frames, err = MeasureAllocsPerPacket(st, 128<<10); err != nil {
			t.Fatal(err)
		}
		if a == 0 {
			break
		}
	}
	if a != 0 {
		t.Fatalf("%.3f allocations per frame over %d frames", a, frames)
	}
}

func benchStore(b *testing.B, size int) *store.Store {
	b.Helper()
	st, err := NewStore(1, 0, map[string][]byte{"f": RandomFile(1, size)})
	if err != nil {
		b.Fatal(err)
	}
	return st
}

// BenchmarkCardRAM reports the live heap of one card with an established
// TLS session (B/card), per profile.
func BenchmarkCardRAM(b *testing.B) {
	for _, p := range []card.Profile{card.TinyProfile, OneConnCard(), card.CardProfile} {
		b.Run(p.Name, func(b *testing.B) {
			st := benchStore(b, 0)
			var per int64
			for i := 0; i < b.N; i++ {
				var err error
				if per, err = MeasureRAM(p, 20, st); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(per), "B/card")
			b.ReportMetric(float64(Accounted(p)), "accounted-B/card")
			b.ReportMetric(float64(1<<30)/float64(per), "cards/GiB")
		})
	}
}

// BenchmarkHandshakeServer: one TLS 1.3 server handshake, the card's engine
// and crypto/tls's server in the same run, server side only.
func BenchmarkHandshakeServer(b *testing.B) {
	h, err := MeasureHandshakes(max(b.N, 5))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(h.NsCard, "card-ns/op")
	b.ReportMetric(h.NsGo, "cryptotls-ns/op")
	b.ReportMetric(h.AllocsCard, "card-allocs/op")
	b.ReportMetric(h.AllocsGo, "cryptotls-allocs/op")
	b.ReportMetric(h.BytesCard, "card-B/op")
	b.ReportMetric(h.BytesGo, "cryptotls-B/op")
	b.ReportMetric(h.NsCard/h.NsGo, "cpu-ratio")
	b.ReportMetric(h.AllocsCard/h.AllocsGo, "allocs-ratio")
}

// BenchmarkSerial: an HTTPS download of 128 KiB over the simulated line;
// MB/s is simulator speed, the metrics are the line figures.
func BenchmarkSerial(b *testing.B) {
	const size = 128 << 10
	st := benchStore(b, size)
	for _, baud := range []int{115200, 12_000_000} {
		b.Run(itoa(baud), func(b *testing.B) {
			b.SetBytes(size)
			b.ReportAllocs()
			var t Throughput
			for i := 0; i < b.N; i++ {
				var err error
				if t, err = MeasureThroughput(st, baud, size, card.CardProfile); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(t.Efficiency, "efficiency")
			b.ReportMetric(t.Goodput, "goodput-B/s")
		})
	}
}

// BenchmarkTTFB115200: time to first byte of GET / ÷ the wire-time bound.
func BenchmarkTTFB115200(b *testing.B) {
	st := benchStore(b, 0)
	var ttfb, bound time.Duration
	for i := 0; i < b.N; i++ {
		var err error
		if ttfb, bound, err = MeasureTTFB(st, 115200); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(ttfb)/1e6, "ttfb-ms")
	b.ReportMetric(float64(ttfb)/float64(bound), "ratio")
}

// BenchmarkBulkUnlimited: an HTTPS download of 1 MiB over an unlimited
// in-memory line (card HostProfile and host peer, both this project's
// stacks); ns/op ÷ bytes is CPU per byte, allocs/op the whole transfer.
func BenchmarkBulkUnlimited(b *testing.B) {
	const size = 1 << 20
	st := benchStore(b, size)
	want := sha256.Sum256(RandomFile(1, size))
	b.SetBytes(size)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		w, err := New(Options{Store: st, Seed: uint64(i), Profile: card.HostProfile})
		if err != nil {
			b.Fatal(err)
		}
		if err := w.RunUntil(w.Up, time.Second); err != nil {
			b.Fatal(err)
		}
		c, _ := w.StartGet("/f", time.Minute)
		if err := w.Wait(c, time.Minute); err != nil || c.Sum != want {
			b.Fatal(err)
		}
	}
}

func itoa(n int) string {
	b, _ := json.Marshal(n)
	return string(b)
}

// BenchmarkBulkVsGvisor: CPU per byte of a 2 MiB HTTPS download, the card
// and our host peer vs two gVisor netstacks with net/http + crypto/tls.
func BenchmarkBulkVsGvisor(b *testing.B) {
	var r BulkCPU
	for i := 0; i < b.N; i++ {
		var err error
		if r, err = MeasureBulkVsGvisor(2<<20, 3); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(r.CardNsPerByte, "card-ns/B")
	b.ReportMetric(r.GvisorNsPerByte, "gvisor-ns/B")
	b.ReportMetric(r.Ratio, "ratio")
}

// BenchmarkAllocsPerPacket: heap allocations per PPP frame in the steady
// state of a download (process-wide: card, host peer and simulator).
func BenchmarkAllocsPerPacket(b *testing.B) {
	const size = 256 << 10
	st := benchStore(b, size)
	var a float64
	var frames uint64
	for i := 0; i < b.N; i++ {
		var err error
		if a, frames, err = MeasureAllocsPerPacket(st, size); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(a, "allocs/frame")
	b.ReportMetric(float64(frames), "frames")
}
