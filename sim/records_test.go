package sim

import (
	"testing"

	"netcard/card"
	"netcard/ppp"
)

// TestFullRecordsOnTheLine: with the Card profile (a send buffer of two
// full 2 KiB records) every record of a 256 KiB download but the last is
// full, though the host acknowledges each segment (each ACK frees about
// 1,460 bytes), and the line never waits for it; the same download with a
// 3,835-byte send buffer (two full records do not fit) seals whatever
// room each ACK frees, records of a segment each, and pays 22 bytes of TLS
// overhead per segment: a lower line share.
func TestFullRecordsOnTheLine(t *testing.T) {
	const size = 256 << 10
	st, err := NewStore(1, 0, map[string][]byte{"f": RandomFile(1, size)})
	if err != nil {
		t.Fatal(err)
	}
	full, err := MeasureThroughputVJ(st, 115200, size, card.CardProfile, ppp.MaxVJSlots)
	if err != nil {
		t.Fatal(err)
	}
	small := card.CardProfile
	small.SendBuf = 3835
	short, err := MeasureThroughputVJ(st, 115200, size, small, ppp.MaxVJSlots)
	if err != nil {
		t.Fatal(err)
	}
	fa, sa := full.Account, short.Account
	t.Logf("send buffer %d: %d records (%.0f B mean), line share %.4f, idle %.0f octets", card.CardProfile.SendBuf, fa.Records, fa.MeanRecord, full.LineShare, fa.Idle)
	t.Logf("send buffer %d: %d records (%.0f B mean), line share %.4f, idle %.0f octets", small.SendBuf, sa.Records, sa.MeanRecord, short.LineShare, sa.Idle)
	rec := card.CardProfile.RecordOut
	if fa.Records > (size+fa.Head+rec-1)/rec+1 || fa.Idle > 100 || fa.Gaps > 0 {
		t.Errorf("Card profile: %d records for %d bytes, idle %.0f octets", fa.Records, size+fa.Head, fa.Idle)
	}
	if sa.MeanRecord > 1500 || short.LineShare > full.LineShare-0.003 {
		t.Errorf("short send buffer: %.0f B records, line share %.4f (full records %.4f)", sa.MeanRecord, short.LineShare, full.LineShare)
	}
}
