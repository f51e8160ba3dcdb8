package main

import (
	"testing"

	"netcard/card"
	"netcard/host/peers"
)

// TestRealLineLedger: a 128 KiB HTTPS download from a Card-profile card
// over the --real rig (a paced 115200-baud line to our PPP host role on a
// TUN device in a fresh namespace, curl there, VJ negotiated) is accounted
// octet by octet from the card's line: the whole body and the HTTP head
// are found in the TLS records, each record costs its TLS 1.3 overhead
// (22 bytes), and the records are full 2 KiB ones although Linux
// acknowledges segment by segment (the send buffer holds two full records:
// apps seals a short one only when nothing is queued). Only what the card
// controls is asserted; idle time and retransmissions depend on how busy
// the machine is and are logged.
func TestRealLineLedger(t *testing.T) {
	if testing.Short() {
		t.Skip("10 s of paced line")
	}
	peers.Require(t, "ip", "curl", "/dev/net/tun")
	const size = 128 << 10
	m, err := measureRealLine(size, 115200, true, nil)
	if err != nil {
		t.Fatal(err)
	}
	a := m.Account
	t.Logf("line share %.4f, ledger share %.4f, ceiling with full records %.4f\n%s\n%s", m.Share, a.Share,
		a.Ceiling(card.CardProfile.RecordOut, card.CardProfile.MRU-40), a.Table(), m.Counters)
	if !m.AccountOK || a.Truncated || a.Body != size || a.Head <= 0 || a.Head > 512 {
		t.Fatalf("response not accounted: ok %v, %+v", m.AccountOK, a)
	}
	if a.TLS != 22*a.Records {
		t.Errorf("%d records cost %d TLS octets, want 22 each", a.Records, a.TLS)
	}
	rec := card.CardProfile.RecordOut
	if max := (size+a.Head+rec-1)/rec + 1; a.Records > max || a.MeanRecord < float64(rec)-64 {
		t.Errorf("%d records (%.0f B mean) for %d octets: want full %d-byte records (at most %d)", a.Records, a.MeanRecord, size+a.Head, rec, max)
	}
	if hdr := float64(a.TCPIPHeader) / float64(a.DataFrames); hdr > 8 || m.VJFrames < uint64(a.DataFrames/2) {
		t.Errorf("VJ: %.2f header octets per data frame, %d compressed frames of %d", hdr, m.VJFrames, a.DataFrames)
	}
}
