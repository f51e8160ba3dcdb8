package sim

import (
	"testing"

	"netcard/card"
	"netcard/ppp"
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
