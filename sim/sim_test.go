package sim

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"fmt"
	"math/rand/v2"
	"runtime"
	"strings"
	"testing"
	"testing/cryptotest"
	"time"

	"netcard/card"
	"netcard/link"
)

var (
	long      = flag.Bool("long", false, "run the long simulations (1,000 lossy seeds, 10,000 ClientHellos)")
	seedsFlag = flag.Int("seeds", 1000, "seeds of the long lossy run")
)

func newWorld(t testing.TB, o Options) *World {
	t.Helper()
	w, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

func payload(seed uint64, n int) []byte {
	r := rand.New(rand.NewPCG(seed, 7))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func TestLinkUp(t *testing.T) {
	w := newWorld(t, Options{Baud: 115200, Seed: 1})
	if err := w.RunUntil(w.Up, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	// LCP + IPCP is a handful of small frames: well under a second at 115200.
	if w.Elapsed() > time.Second {
		t.Fatalf("link took %v of virtual time", w.Elapsed())
	}
	st := w.Stats()
	if st.Down == 0 || st.Up == 0 {
		t.Fatalf("no line bytes: %+v", st)
	}
	t.Logf("link up after %v, %d bytes down, %d up", w.Elapsed(), st.Down, st.Up)
}

func TestGetIndexAndStatus(t *testing.T) {
	w := newWorld(t, Options{Baud: 115200, Seed: 2})
	if err := w.RunUntil(w.Up, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	t0 := w.Now()
	code, body, err := w.Get("/", 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if code != 200 || !bytes.Contains(body, []byte("netcard")) {
		t.Fatalf("GET / = %d %q", code, body)
	}
	t.Logf("GET / took %v virtual (%d body bytes)", w.Now().Sub(t0), len(body))
	code, body, err = w.Get("/status.json", 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if code != 200 || !strings.Contains(string(body), `"link_up":true`) {
		t.Fatalf("GET /status.json = %d %s", code, body)
	}
	code, _, err = w.Get("/nope", 30*time.Second)
	if err != nil || code != 404 {
		t.Fatalf("GET /nope = %d, %v", code, err)
	}
}

func TestDownload115200(t *testing.T) {
	data := payload(3, 48<<10)
	w := newWorld(t, Options{Baud: 115200, Seed: 3, Files: map[string][]byte{"big.bin": data}})
	if err := w.RunUntil(w.Up, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	c, err := w.StartGet("/big.bin", 60*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Wait(c, 70*time.Second); err != nil {
		t.Fatal(err)
	}
	if c.Status != 200 || c.Sum != sha256.Sum256(data) {
		t.Fatalf("status %d, %d bytes, sum mismatch", c.Status, c.Len)
	}
	took := c.End.Sub(c.Start)
	// 48 KiB at 11520 bytes/s is 4.27 s of pure payload; framing, TLS,
	// TCP/IP and the handshake add some. Anything below the payload time is
	// impossible; more than twice it is a stall.
	min := link.WireTime(len(data), 115200)
	if took < min || took > 2*min {
		t.Fatalf("download took %v of virtual time; payload alone needs %v", took, min)
	}
	t.Logf("48 KiB at 115200: %v virtual (payload-only bound %v, ratio %.3f); %d line bytes down",
		took, min, float64(took)/float64(min), w.Stats().Down)
}

// TestLossyDownloads: 10% frame loss, duplication, 1e-5 BER and 20 ms of
// jitter on both directions; every seed downloads 1 MiB and then uploads
// 1 MiB (PUT /upload, streamed through the card's SHA-256); each must
// complete byte-exact, the card reporting the upload's length and digest
// (or fail with a reason, which fails the test).
func TestLossyDownloads(t *testing.T) {
	seeds, size := 20, 1<<20
	if *long {
		seeds, size = *seedsFlag, 1<<20
	}
	cryptotest.SetGlobalRandom(t, 1) // pin Go's crypto randomness: a failing seed replays exactly
	data := payload(4, size)
	sum := sha256.Sum256(data)
	updata := payload(40, size)
	upwant := uploadJSON(updata)
	failed := 0
	st, err := NewStore(4, 0, map[string][]byte{"f.bin": data})
	if err != nil {
		t.Fatal(err)
	}
	f := link.Faults{DropFrame: 0.10, Dup: 0.02, BER: 1e-5}
	var virt, upVirt time.Duration
	wall := time.Now()
	for s := 1; s <= seeds; s++ {
		w := newWorld(t, Options{Baud: 115200, Seed: uint64(s), Store: st, Down: &f, Up: &f,
			Jitter: 20 * time.Millisecond, MinRTO: 200 * time.Millisecond})
		if err := w.RunUntil(w.Up, 60*time.Second); err != nil {
			t.Fatalf("seed %d: link: %v", s, err)
		}
		var c *Client
		for attempt := 0; ; attempt++ {
			c, err = w.StartGet("/f.bin", 900*time.Second)
			if err != nil {
				t.Fatalf("seed %d: %v", s, err)
			}
			err = w.Wait(c, 910*time.Second)
			if err == nil || attempt == 2 {
				break
			}
			// A failure must be clean and explained; a new connection then succeeds.
			t.Logf("seed %d: attempt %d failed cleanly at %v: %v; card TCP %+v; card status counters %v", s, attempt, w.Elapsed(), err,
				w.Card().TCP().Stats(), w.Card().Status(w.Now()).Counters)
		}
		if err != nil {
			t.Errorf("seed %d: three attempts failed, last: %v", s, err)
			failed++
			continue
		}
		if c.Status != 200 || c.Sum != sum {
			t.Fatalf("seed %d: status %d, %d bytes, SHA-256 differs", s, c.Status, c.Len)
		}
		down := w.Elapsed()
		for attempt := 0; ; attempt++ {
			c, err = w.StartPut("/upload", updata, 900*time.Second)
			if err != nil {
				t.Fatalf("seed %d: %v", s, err)
			}
			err = w.Wait(c, 910*time.Second)
			if err == nil || attempt == 2 {
				break
			}
			t.Logf("seed %d: upload attempt %d failed cleanly at %v: %v; card TCP %+v; card status counters %v", s, attempt, w.Elapsed(), err,
				w.Card().TCP().Stats(), w.Card().Status(w.Now()).Counters)
		}
		if err != nil {
			t.Errorf("seed %d: three upload attempts failed, last: %v", s, err)
			failed++
			continue
		}
		if c.Status != 200 || string(c.Body) != upwant {
			t.Fatalf("seed %d: upload answered %d %q, want %q", s, c.Status, c.Body, upwant)
		}
		upVirt += w.Elapsed() - down
		virt += w.Elapsed()
		ls := w.Stats()
		if s <= 3 {
			t.Logf("seed %d: %v virtual; faults down %+v up %+v", s, w.Elapsed(), ls.DownFaults, ls.UpFaults)
		}
	}
	if failed > 0 {
		t.Errorf("%d of %d seeds failed", failed, seeds)
	}
	t.Logf("%d seeds, %d KiB down and up each: %v virtual (uploads %v) in %v wall (%.0fx real time)", seeds, size>>10, virt,
		upVirt, time.Since(wall).Round(time.Millisecond), float64(virt)/float64(time.Since(wall)))
}

// uploadJSON is the card's answer to PUT /upload of b.
func uploadJSON(b []byte) string {
	s := sha256.Sum256(b)
	return fmt.Sprintf("{\"length\":%d,\"sha256\":\"%s\"}\n", len(b), hex.EncodeToString(s[:]))
}

// TestUpload115200: a 128 KiB upload (PUT /upload) and a 128 KiB download on
// a clean 115200 line; the upload's goodput (first body byte queued to the
// answer) is close to the download's (first body byte to the last) and to
// the line's payload rate.
func TestUpload115200(t *testing.T) {
	const size = 128 << 10
	data := payload(41, size)
	w := newWorld(t, Options{Baud: 115200, Seed: 41, Files: map[string][]byte{"f": data}})
	if err := w.RunUntil(w.Up, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	c, err := w.StartGet("/f", 60*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Wait(c, 61*time.Second); err != nil || c.Sum != sha256.Sum256(data) {
		t.Fatal("download", err)
	}
	down := float64(size) / c.End.Sub(c.FirstBody).Seconds()
	u, err := w.StartPut("/upload", data, 60*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Wait(u, 61*time.Second); err != nil {
		t.Fatal(err)
	}
	if u.Status != 200 || string(u.Body) != uploadJSON(data) {
		t.Fatalf("upload answered %d %q", u.Status, u.Body)
	}
	up := float64(size) / u.End.Sub(u.UploadStart).Seconds()
	line := 115200.0 / 10
	t.Logf("128 KiB at 115200: upload %.0f B/s (%.3f of the line), download %.0f B/s (%.3f); upload/download %.3f",
		up, up/line, down, down/line, up/down)
	if up > line || up < 0.85*down {
		t.Fatalf("upload goodput %.0f B/s vs download %.0f B/s, line %.0f B/s", up, down, line)
	}
}

// TestZeroAllocsPerPacketUpload: a steady-state HTTPS upload through the
// whole card (and the host peer, and the simulator) allocates nothing per
// frame: TLS records are opened in place and their plaintext streamed to
// the route's SHA-256.
func TestZeroAllocsPerPacketUpload(t *testing.T) {
	const size = 512 << 10
	data := payload(42, size)
	var a float64
	var frames uint64
	for try := 0; try < 10; try++ { // best of ten: see TestZeroAllocsPerPacket
		w := newWorld(t, Options{Seed: 42, Baud: 12_000_000})
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
		// A GC cycle first: the process's first cycle starts the runtime's
		// background mark workers (goroutines: counted as allocations) and
		// must not land inside the measured window.
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
		frames = ps1.FramesIn + ps1.FramesOut - ps0.FramesIn - ps0.FramesOut
		a = float64(m1.Mallocs-m0.Mallocs) / float64(frames)
		if a == 0 {
			break
		}
	}
	if a != 0 || frames < 100 {
		t.Fatalf("%.3f allocations per frame over %d frames", a, frames)
	}
	t.Logf("0 allocations over %d frames of upload", frames)
}

func TestUnlimitedLine(t *testing.T) {
	data := payload(5, 256<<10)
	w := newWorld(t, Options{Seed: 5, Files: map[string][]byte{"f": data}})
	if err := w.RunUntil(w.Up, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	c, _ := w.StartGet("/f", 60*time.Second)
	if err := w.Wait(c, 61*time.Second); err != nil {
		t.Fatal(err)
	}
	if c.Sum != sha256.Sum256(data) {
		t.Fatal("sum mismatch")
	}
	t.Logf("256 KiB over an unlimited line: %v virtual", c.End.Sub(c.Start))
}

// TestDeterministic: with Go's crypto randomness pinned too, the same seed
// gives the same run, byte for byte and nanosecond for nanosecond.
func TestDeterministic(t *testing.T) {
	data := payload(6, 32<<10)
	f := link.Faults{DropFrame: 0.10, Dup: 0.02, BER: 1e-5}
	run := func() (time.Duration, LineStats) {
		cryptotest.SetGlobalRandom(t, 42)
		w := newWorld(t, Options{Baud: 115200, Seed: 9, Files: map[string][]byte{"f": data}, Down: &f, Up: &f,
			MinRTO: 200 * time.Millisecond})
		if err := w.RunUntil(w.Up, 60*time.Second); err != nil {
			t.Fatal(err)
		}
		c, err := w.StartGet("/f", 600*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if err := w.Wait(c, 601*time.Second); err != nil {
			t.Fatal(err)
		}
		if c.Sum != sha256.Sum256(data) {
			t.Fatal("sum mismatch")
		}
		s := w.Stats()
		s.Steps = 0
		return w.Elapsed(), s
	}
	d1, s1 := run()
	d2, s2 := run()
	if d1 != d2 || s1 != s2 {
		t.Fatalf("runs differ: %v %+v vs %v %+v", d1, s1, d2, s2)
	}
	t.Logf("two runs: %v virtual, %d bytes down, %d up", d1, s1.Down, s1.Up)
}

// TestLineLossAndReturn: the line goes dead for 30 s or 150 s (virtual) in the
// middle of a download and comes back. The download either resumes and
// completes or fails with a reason; LCP/IPCP stay or come back up, and the
// card serves a new connection afterwards.
func TestLineLossAndReturn(t *testing.T) {
	for _, outage := range []time.Duration{30 * time.Second, 150 * time.Second} {
		t.Run(outage.String(), func(t *testing.T) { lineLoss(t, outage) })
	}
}

func lineLoss(t *testing.T, outage time.Duration) {
	data := payload(7, 64<<10)
	w := newWorld(t, Options{Baud: 115200, Seed: 7, Files: map[string][]byte{"f": data}})
	if err := w.RunUntil(w.Up, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	c, err := w.StartGet("/f", 300*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.RunUntil(func() bool { return c.Len >= 16<<10 }, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	w.SetLineUp(false)
	w.Run(outage)
	w.SetLineUp(true)
	err = w.Wait(c, 301*time.Second)
	switch {
	case err == nil && c.Sum == sha256.Sum256(data):
		t.Logf("download resumed and completed at %v", w.Elapsed())
	case err != nil:
		ts := w.Card().TCP().Stats()
		t.Logf("download failed cleanly at %v: %v (card TCP: %d timed out, %d RSTs out, %d retransmits)",
			w.Elapsed(), err, ts.ConnsTimedOut, ts.RSTsOut, ts.Retransmits)
	default:
		t.Fatal("download completed with the wrong bytes")
	}
	if err := w.RunUntil(w.Up, 60*time.Second); err != nil {
		t.Fatalf("link did not come back: %v", err)
	}
	code, body, err := w.Get("/", 60*time.Second)
	if err != nil || code != 200 || !bytes.Contains(body, []byte("netcard")) {
		t.Fatalf("new GET after the outage: %d %v", code, err)
	}
}

// TestConcurrentDownloads: four HTTPS downloads at once (the Card profile's
// four slots) share the line and all complete byte-exact.
func TestConcurrentDownloads(t *testing.T) {
	files := map[string][]byte{}
	for i := range 4 {
		files[string(rune('a'+i))] = payload(uint64(10+i), 24<<10)
	}
	w := newWorld(t, Options{Baud: 115200, Seed: 8, Files: files})
	if err := w.RunUntil(w.Up, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	var cs []*Client
	for i := range 4 {
		c, err := w.StartGet("/"+string(rune('a'+i)), 120*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		cs = append(cs, c)
	}
	all := func() bool {
		for _, c := range cs {
			if !c.Done() {
				return false
			}
		}
		return true
	}
	if err := w.RunUntil(all, 130*time.Second); err != nil {
		t.Fatal(err)
	}
	var total int64
	for i, c := range cs {
		if c.Err() != nil || c.Sum != sha256.Sum256(files[string(rune('a'+i))]) {
			t.Fatalf("download %d: %v", i, c.Err())
		}
		total += c.Len
	}
	// The four share one 11,520 B/s line: together they cannot beat it.
	if min := link.WireTime(int(total), 115200); w.Elapsed() < min {
		t.Fatalf("4 × 24 KiB in %v, faster than the line (%v)", w.Elapsed(), min)
	}
	t.Logf("4 concurrent downloads of 24 KiB: %v virtual", w.Elapsed())
}

// TestUploadTinyProfile: the tiny profile (1 KiB HTTP input buffer,
// 1 KiB TCP receive buffer, TLS records of at most 1,003 bytes of inner
// plaintext, its record_size_limit) takes a 256 KiB upload: the body never
// needs a buffer of its size.
func TestUploadTinyProfile(t *testing.T) {
	data := payload(43, 256<<10)
	w := newWorld(t, Options{Baud: 115200, Seed: 43, Profile: card.TinyProfile, ClientRecordSizeLimit: 16385})
	if err := w.RunUntil(w.Up, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	c, err := w.StartPut("/upload", data, 120*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Wait(c, 121*time.Second); err != nil {
		t.Fatal(err)
	}
	if c.Status != 200 || string(c.Body) != uploadJSON(data) {
		t.Fatalf("upload answered %d %q", c.Status, c.Body)
	}
	up := float64(len(data)) / c.End.Sub(c.UploadStart).Seconds()
	t.Logf("256 KiB upload to the tiny profile at 115200: %.0f B/s (%.3f of the line)", up, up/11520)
}
