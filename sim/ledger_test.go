package sim

import (
	"math"
	"testing"
	"time"

	"netcard/card"
	"netcard/link"
	"netcard/ppp"
)

// checkAccount asserts that a line account adds up: every category
// non-negative, and body, head, TLS, headers, PPP framing, escapes,
// retransmissions, ACKs, other frames and idle time together equal the
// line's capacity in the window (to within slack octets).
func checkAccount(t *testing.T, a LineAccount, size int, slack float64) {
	t.Helper()
	if a.Truncated || a.Body != size || a.Head <= 0 || a.Head > 512 || a.Records == 0 || a.DataFrames == 0 {
		t.Fatalf("account %+v", a)
	}
	for _, v := range []int{a.TLS, a.TCPIPHeader, a.PPP, a.Flags, a.Escapes, a.Retrans, a.ACKs, a.Other} {
		if v < 0 {
			t.Fatalf("negative category: %+v", a)
		}
	}
	sum := float64(a.Body+a.Head+a.TLS+a.TCPIPHeader+a.PPP+a.Flags+a.Escapes+a.Retrans+a.ACKs+a.Other) + a.Idle
	if math.Abs(sum-a.Capacity) > 0.5 || a.Idle < -slack {
		t.Fatalf("categories add up to %.0f of %.0f (idle %.0f): %+v", sum, a.Capacity, a.Idle, a)
	}
}

// TestLedgerAccount: the ledger of a 256 KiB download at 115200 baud
// (Card profile, with and without VJ) explains every line octet of the
// response: the body share it computes is the download's line share
// (goodput ÷ baud/10) to within the first record, each record costs its
// TLS 1.3 overhead (5-byte header, content type, 16-byte tag: 22), the
// headers are 40 octets per data frame without VJ and about 3 with it,
// nothing is resent and the line is never idle (the simulation's host
// ACKs every segment; the send buffer always holds the next one). The
// table is logged (-v): the rows BENCHMARKS.md quotes.
func TestLedgerAccount(t *testing.T) {
	const size = 256 << 10
	st, err := NewStore(1, 0, map[string][]byte{"f": RandomFile(1, size)})
	if err != nil {
		t.Fatal(err)
	}
	for _, vj := range []int{0, ppp.MaxVJSlots} {
		r, err := MeasureThroughputVJ(st, 115200, size, card.CardProfile, vj)
		if err != nil {
			t.Fatal(err)
		}
		a := r.Account
		t.Logf("VJ %v: line share %.4f, ledger body share %.4f, ceiling with full %d-byte records %.4f\n%s", vj > 0, r.LineShare, a.Share,
			card.CardProfile.RecordOut, a.Ceiling(card.CardProfile.RecordOut, 1460), a.Table())
		checkAccount(t, a, size, 60)
		if a.TLS != 22*a.Records || a.Retrans != 0 || a.RetransFrames != 0 || a.Idle > 200 || a.Gaps != 0 {
			t.Errorf("records %d, TLS %d, retransmitted %d, idle %.0f", a.Records, a.TLS, a.Retrans, a.Idle)
		}
		hdr := float64(a.TCPIPHeader) / float64(a.DataFrames)
		if vj == 0 && hdr != 40 || vj > 0 && (hdr < 3 || hdr > 5) {
			t.Errorf("header %.2f octets per data frame (VJ %v)", hdr, vj > 0)
		}
		if er := float64(a.Escapes) / float64(a.Body); er < 0.005 || er > 0.011 {
			t.Errorf("escape rate %.4f (random data, ACCM 0: 2/256)", er)
		}
		// The line share's goodput leaves out the first record (it starts
		// at the first body byte); the ledger's window includes it.
		if math.Abs(a.Share-r.LineShare) > 0.006 {
			t.Errorf("ledger share %.4f, line share %.4f", a.Share, r.LineShare)
		}
		if c := a.Ceiling(card.CardProfile.RecordOut, 1460); c < a.Share || c > 0.99 {
			t.Errorf("ceiling %.4f below the measured share %.4f", c, a.Share)
		}
	}
}

// TestLedgerLossy: on a line that drops 3 % of the card's frames the
// ledger counts the resent segments as retransmissions, whole, and the
// waits for the retransmission timer as idle gaps; the categories still
// add up to the window's capacity.
func TestLedgerLossy(t *testing.T) {
	const size = 64 << 10
	st, err := NewStore(1, 0, map[string][]byte{"f": RandomFile(1, size)})
	if err != nil {
		t.Fatal(err)
	}
	var led Ledger
	w, err := New(Options{Store: st, Seed: 5, Baud: 115200, Chunk: time.Millisecond, MinRTO: 300 * time.Millisecond,
		Down: &link.Faults{DropFrame: 0.03}})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.RunUntil(w.Up, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	w.DownTap(func(at time.Time, b []byte) { led.Feed(at.Add(link.WireTime(len(b), 115200)), b) })
	w.UpTap(func(at time.Time, b []byte) { led.Peer(at.Add(link.WireTime(len(b), 115200)), b) })
	c, err := w.StartGet("/f", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Wait(c, time.Hour); err != nil {
		t.Fatal(err)
	}
	a, ok := led.Account(size, 115200)
	if !ok {
		t.Fatal("response not found")
	}
	t.Logf("\n%s", a.Table())
	checkAccount(t, a, size, 60)
	if a.Retrans == 0 || a.RetransFrames == 0 || a.Gaps == 0 || a.Idle <= 0 || a.Share > 0.95 {
		t.Errorf("lossy line: %+v", a)
	}
}

// FuzzLedger: the ledger takes any byte stream without panicking, its
// memory stays bounded and Account's results stay in range.
func FuzzLedger(f *testing.F) {
	f.Add([]byte{0x7e, 0x21, 0x45, 0x00, 0x00, 0x28, 0x7e})
	f.Add([]byte{0x7e, 0xff, 0x7d, 0x23, 0x00, 0x21, 0x45, 0x7d, 0x5e, 0x7e, 0x7e})
	f.Add([]byte{0x7e, 0x2d, 0x0f, 0x12, 0x34, 0xaa, 0xbb, 0x7e})
	f.Fuzz(func(t *testing.T, b []byte) {
		var l Ledger
		at := time.Unix(0, 0)
		l.Feed(at, b)
		l.Feed(at.Add(time.Second), b)
		a, ok := l.Account(1, 115200)
		if len(l.frame) > maxAnalyzedFrame || len(l.frames) > maxLedgerFrames || len(l.recs) > maxLedgerFrames {
			t.Fatalf("unbounded: frame %d, frames %d, records %d", len(l.frame), len(l.frames), len(l.recs))
		}
		if ok && (a.Records <= 0 || a.Window < 0 || math.IsNaN(a.Share)) {
			t.Fatalf("out of range: %+v", a)
		}
		_ = a.Table()
		_ = a.Ceiling(1024, 1460)
	})
}
