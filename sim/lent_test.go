package sim

import (
	"encoding/json"
	"runtime"
	"testing"
	"time"

	"netcard/card"
)

// TestLentMatchesHeap: Card.Lent (the status page's ram_lent), computed by
// the layers from what they hold, agrees with the card's live heap
// attributed by allocation stack (cardHeap, as MeasurePeakRAM) — idle
// after a handshake and IdleBeforeRAM of quiet (buffers shed), in the
// middle of a 64 KiB download and in the middle of an upload in 16 KiB
// records — within lentTolerance above and lentUncounted more below: Lent
// counts requested sizes where the
// heap holds size classes, and a few small objects of the layers' own.
func TestLentMatchesHeap(t *testing.T) {
	st, err := NewStore(5, 0, map[string][]byte{"f": RandomFile(5, PeakDownloadBytes)})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []card.Profile{OneConnCard(), card.TinyProfile, card.CardProfile} {
		t.Run(p.Name, func(t *testing.T) {
			old := runtime.MemProfileRate
			runtime.MemProfileRate = 1
			defer func() { runtime.MemProfileRate = old }()
			o := Options{Profile: p, Store: st, Seed: 5, Baud: 1_000_000, Chunk: time.Millisecond,
				HostSendBuf: 40 << 10, ClientRecordOut: 16384, ClientRecordSizeLimit: 16385}
			warm, err := New(o) // process-wide state (crypto tables) before the baseline
			if err != nil {
				t.Fatal(err)
			}
			if _, _, err := warm.Get("/f", time.Minute); err != nil {
				t.Fatal(err)
			}
			warm = nil
			detachStore(st)
			h := &cardHeap{kind: map[[32]uintptr]uint8{}, mark: cardFrame}
			h.base = h.snapshot()
			w, err := New(o)
			if err != nil {
				t.Fatal(err)
			}
			check := func(what string) {
				t.Helper()
				heap, _ := h.card()
				lent := int64(w.Card().Lent())
				tol := lentTolerance(heap)
				t.Logf("%s %s: Lent %d B, heap %d B (%+d, tolerance %d above, %d below)", p.Name, what, lent, heap, lent-heap, tol, tol+lentUncounted)
				if d := lent - heap; d > tol || d < -tol-lentUncounted {
					t.Errorf("%s %s: Lent %d B, live heap %d B", p.Name, what, lent, heap)
				}
			}
			if _, err := w.HandshakeIdle(10 * time.Second); err != nil {
				t.Fatal(err)
			}
			check("idle")
			c, err := w.StartGet("/f", time.Minute)
			if err != nil {
				t.Fatal(err)
			}
			if err := w.RunUntil(func() bool { return c.Len >= PeakDownloadBytes/2 || c.Done() }, time.Minute); err != nil || c.Done() {
				t.Fatalf("download: %v, done %v", err, c.Done())
			}
			check("mid-download")
			if err := w.Wait(c, time.Minute); err != nil {
				t.Fatal(err)
			}
			up, err := w.StartPut("/upload", RandomFile(6, 128<<10), time.Minute)
			if err != nil {
				t.Fatal(err)
			}
			if err := w.RunUntil(func() bool { return up.sent >= 64<<10 || up.Done() }, time.Minute); err != nil || up.Done() {
				t.Fatalf("upload: %v, done %v", err, up.Done())
			}
			check("mid-upload")
			if err := w.Wait(up, time.Minute); err != nil {
				t.Fatal(err)
			}
			w.Run(IdleBeforeRAM)
			check("idle after")
			// The status page reports it: ram_lent while the request for it
			// is served (its connection's buffers lent) is above the idle
			// figure, and ram_budget and ram_used are still there.
			idle := w.Card().Lent()
			code, body, err := w.Get("/status.json", time.Minute)
			if err != nil || code != 200 {
				t.Fatalf("GET /status.json: %d %v", code, err)
			}
			var st struct {
				Lent   int `json:"ram_lent"`
				Used   int `json:"ram_used"`
				Budget int `json:"ram_budget"`
			}
			if err := json.Unmarshal(body, &st); err != nil {
				t.Fatalf("%v: %s", err, body)
			}
			if st.Lent <= idle || st.Budget != p.Budget() || st.Used <= 0 {
				t.Errorf("status: ram_lent %d (idle %d), ram_used %d, ram_budget %d (profile %d)", st.Lent, idle, st.Used, st.Budget, p.Budget())
			}
			runtime.KeepAlive(w)
		})
	}
}

// lentTolerance is how far Lent may be from the live heap: 6 % (Go's size
// classes round an object up by at most 12.5 %, most far less) and 512 B.
func lentTolerance(heap int64) int64 { return heap*6/100 + 512 }

// lentUncounted is what Lent may further leave out below the heap: small
// objects no layer reports (the applet registry's route tables and timers,
// listeners, the handshake budget's slots, method-value closures, the
// runtime's interface tables a card call grows, the simulator's random
// source). Measured on the 4-slot Card profile after the transfers: Lent
// 1,216–1,504 B below the attributed heap, of which lentTolerance covers
// ≈ 1,240.
const lentUncounted = 768
