package sim

import (
	"bytes"
	"runtime"
	"testing"
	"time"

	"netcard/card"
	"netcard/store"
	"netcard/tls"
)

// TestStreamedUpload: a 1 MiB PUT /upload in full 16 KiB records on the
// Card profile. A client offering ChaCha20-Poly1305 (after AES-GCM, as Go's
// and ours do) gets it (Profile.ChaChaFirst); its records, larger than a
// slot's 3,926-byte receive buffer, stream through the slot's spill region
// of the store: the digest comes back right, no large receive buffer is
// ever lent, and the region holds ciphertext, not the body. The negative
// control, a client offering only AES-GCM, gets the large receive buffer
// lent as before (crypto/cipher opens a record only whole) and the same
// digest.
func TestStreamedUpload(t *testing.T) {
	data := payload(77, 1<<20)
	for _, c := range []struct {
		name   string
		suites []uint16
		baud   int
	}{
		{"chacha", nil, 12_000_000},
		{"aes-only", []uint16{tls.TLS_AES_128_GCM_SHA256}, 12_000_000},
		{"chacha-115200", nil, 115200},
		{"aes-only-115200", []uint16{tls.TLS_AES_128_GCM_SHA256}, 115200},
	} {
		t.Run(c.name, func(t *testing.T) {
			if testing.Short() && c.baud == 115200 {
				t.Skip("a minute of virtual time")
			}
			w := newWorld(t, Options{Profile: card.CardProfile, Seed: 77, Baud: c.baud, ClientRecordOut: 16384,
				HostSendBuf: 40000, ClientSuites: c.suites})
			if err := w.RunUntil(w.Up, 10*time.Second); err != nil {
				t.Fatal(err)
			}
			u, err := w.StartPut("/upload", data, 5*time.Minute)
			if err != nil {
				t.Fatal(err)
			}
			if err := w.Wait(u, 5*time.Minute+time.Second); err != nil {
				t.Fatal(err)
			}
			if u.Status != 200 || string(u.Body) != uploadJSON(data) {
				t.Fatalf("upload answered %d %q", u.Status, u.Body)
			}
			up := float64(len(data)) / u.End.Sub(u.UploadStart).Seconds()
			borrows := w.Card().TCP().Stats().LargeBorrows
			ringLen := card.SpillRegion(card.DefaultSpillRing)
			region, err := w.Store().Scratch(0, ringLen)
			if err != nil {
				t.Fatal(err)
			}
			spill := make([]byte, ringLen)
			if _, err := region.ReadAt(spill, 0); err != nil {
				t.Fatal(err)
			}
			// The wear is counted and spread over the whole ring: 1 MiB in
			// full 16 KiB records is 64 records of 33 blocks, 8 times round
			// a ring of 264 blocks, so every block holds ciphertext and
			// took ≈ 8 writes (without the ring: its first 33 took 64).
			ws := w.Store().ScratchStats()
			if st := w.Card().Status(w.Now()); st.SpillBytesWritten != ws.BytesWritten || st.SpillBlockWrites != ws.BlockWrites {
				t.Fatalf("status %d B / %d blocks, store %+v", st.SpillBytesWritten, st.SpillBlockWrites, ws)
			}
			blocks := ringLen / store.ScratchBlock
			t.Logf("%s: spill wrote %d B in %d block writes, %.1f per block of the ring", c.name, ws.BytesWritten,
				ws.BlockWrites, float64(ws.BlockWrites)/float64(blocks))
			if c.suites == nil {
				// the head goes in a record of its own (not streamed); the body
				// in 64 records of 16,384 B + the content type = 33 blocks each
				records := uint64(len(data) / 16384)
				if ws.BytesWritten != records*16385 || ws.BlockWrites != records*33 {
					t.Fatalf("spill counters %+v for %d records of 16,385 B of ciphertext", ws, records)
				}
				// a record's last block holds one byte of ciphertext (16,385 =
				// 32 × 512 + 1), which is 0 one time in 256: up to 8 blocks
				// of the ring (one a record slot) may read all zero
				zero := 0
				for b := 0; b < blocks; b++ {
					if bytes.Equal(spill[b*store.ScratchBlock:(b+1)*store.ScratchBlock], make([]byte, store.ScratchBlock)) {
						zero++
					}
				}
				if zero > blocks/33 {
					t.Fatalf("%d of the ring's %d blocks never written: the records did not go round it", zero, blocks)
				}
			} else if ws != (store.ScratchStats{}) {
				t.Fatalf("AES-GCM upload wrote the spill: %+v", ws)
			}
			used := !bytes.Equal(spill, make([]byte, len(spill)))
			t.Logf("%s: %.0f B/s (%.3f of the line), %d large buffer loans, spill used %v", c.name, up,
				up/(float64(c.baud)/10), borrows, used)
			if c.suites == nil && (borrows != 0 || !used) {
				t.Fatalf("ChaCha20 upload: %d large buffer loans, spill used %v", borrows, used)
			}
			if c.suites != nil && (borrows == 0 || used) {
				t.Fatalf("AES-GCM upload: %d large buffer loans, spill used %v", borrows, used)
			}
			for i := 0; i+64 <= len(data); i += 4096 {
				if bytes.Contains(spill, data[i:i+64]) {
					t.Fatal("the spill holds plaintext")
				}
			}
		})
	}
}

// TestZeroAllocsPerPacketStreamedUpload: TestZeroAllocsPerPacketUpload with
// full 16 KiB records streamed through the store: the streaming state is
// lent once and reused record after record (the Poly1305 state reset in
// place), so a steady upload allocates nothing per frame.
func TestZeroAllocsPerPacketStreamedUpload(t *testing.T) {
	const size = 512 << 10
	data := payload(42, size)
	var a float64
	var frames uint64
	for try := 0; try < 10; try++ { // best of ten: see TestZeroAllocsPerPacket
		w := newWorld(t, Options{Seed: 42, Baud: 12_000_000, ClientRecordOut: 16384, HostSendBuf: 40000})
		if err := w.RunUntil(w.Up, 10*time.Second); err != nil {
			t.Fatal(err)
		}
		c, err := w.StartPut("/upload", data, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		if err := w.RunUntil(func() bool { return c.done || c.sent >= 64<<10 }, time.Minute); err != nil {
			t.Fatal(err)
		}
		var m0, m1 runtime.MemStats
		ps0 := w.card.Link().Stats()
		runtime.GC()
		runtime.ReadMemStats(&m0)
		err = w.RunUntil(func() bool { return c.done || !c.UploadEnd.IsZero() }, time.Minute)
		runtime.ReadMemStats(&m1)
		ps1 := w.card.Link().Stats()
		if err != nil {
			t.Fatal(err)
		}
		if err := w.Wait(c, time.Minute); err != nil || string(c.Body) != uploadJSON(data) {
			t.Fatalf("upload: %v %q", err, c.Body)
		}
		if w.Card().TCP().Stats().LargeBorrows != 0 {
			t.Fatal("a large receive buffer was lent: the records were not streamed")
		}
		frames = ps1.FramesIn + ps1.FramesOut - ps0.FramesIn - ps0.FramesOut
		a = float64(m1.Mallocs-m0.Mallocs) / float64(frames)
		if a == 0 {
			break
		}
	}
	if a != 0 || frames < 100 {
		t.Fatalf("%.3f allocations per frame over %d frames", a, frames)
	}
	t.Logf("0 allocations over %d frames of streamed upload", frames)
}
