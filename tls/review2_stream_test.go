package tls

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"testing"
)

// sealTyped returns data sealed by cl as one record of content type typ (TLS 1.3: the inner
// type; TLS 1.2: the header's).
func sealTyped(t testing.TB, cl *Engine, typ byte, data []byte) []byte {
	hdr, tail := cl.Overhead()
	rec := make([]byte, hdr+len(data)+tail)
	copy(rec[hdr:], data)
	if n := cl.seal(rec, typ, len(data)); n != len(rec) {
		t.Fatalf("seal %d, want %d", n, len(rec))
	}
	return rec
}

// verdict is what a server made of some bytes: the plaintext released, the alert it sent (255:
// none), whether the peer's close_notify ended its input, and the bytes it consumed.
type verdict struct {
	plain []byte
	alert uint8
	eof   bool
	state State
}

func (v verdict) String() string {
	return fmt.Sprintf("%d bytes released, alert %s, eof %v, state %v", len(v.plain), AlertName(v.alert), v.eof, v.state)
}

func verdictOf(srv *Engine, wire []byte, split int) verdict {
	got, err := streamFeed(srv, wire, split)
	v := verdict{plain: got, alert: 255, state: srv.State()}
	var ae *AlertError
	switch {
	case err == io.EOF:
		v.eof = true
	case errors.As(err, &ae) && !ae.Remote:
		v.alert = ae.Code
	case errors.As(err, &ae):
		v.alert, v.eof = 254, true // the peer's fatal alert
	case err != nil:
		v.alert = 253
	}
	return v
}

// TestStreamSameVerdictAsWhole: the same hostile bytes get the same verdict from a server that
// streams records above 4 KB through a spill and from one that opens every record whole: the
// same plaintext released (none of a forged record), the same alert, the same end. The cases are
// what a hostile peer sends once the handshake is done: replayed, reordered and truncated-tag
// records; records whose inner plaintext is padded past the buffer around an alert (close_notify
// followed by more data, a warning, a fatal alert, a three-byte alert), a client's
// NewSessionTicket or Certificate, a KeyUpdate split across a small record and a big padded one
// (RFC 8446 §5.1: it ends its record, so the next record is under the new key), application data
// interleaved with a partial handshake message (§5.1), a content type that is not allowed
// (§5.4: change_cipher_spec or an unknown type inside a protected record); TLS 1.2: a
// 9 KB alert, a renegotiating ClientHello (no_renegotiation warning), replay.
func TestStreamSameVerdictAsWhole(t *testing.T) {
	big := func(seed byte) []byte { return pattern(9000, seed) }
	pad := func(b []byte, typ byte, n int) []byte {
		return append(append(append([]byte(nil), b...), typ), make([]byte, n)...)
	}
	type mk func(t *testing.T, cl *Engine) []byte
	cases13 := []struct {
		name string
		wire mk
	}{
		{"replay", func(t *testing.T, cl *Engine) []byte {
			r := wrapApp(t, cl, big(1))
			return append(append([]byte(nil), r...), r...)
		}},
		{"replay-whole-after-streamed", func(t *testing.T, cl *Engine) []byte {
			a, b := wrapApp(t, cl, big(1)), wrapApp(t, cl, []byte("small"))
			return append(append(a, b...), b...)
		}},
		{"reorder", func(t *testing.T, cl *Engine) []byte {
			a, b := wrapApp(t, cl, big(1)), wrapApp(t, cl, big(2))
			return append(b, a...)
		}},
		{"reorder-small-big", func(t *testing.T, cl *Engine) []byte {
			a, b := wrapApp(t, cl, []byte("x")), wrapApp(t, cl, big(2))
			return append(b, a...)
		}},
		{"interleaved-streamed-whole", func(t *testing.T, cl *Engine) []byte {
			var w []byte
			for i, n := range []int{9000, 1, 5000, 4000, 16384, 0, 9000} {
				w = append(w, wrapApp(t, cl, pattern(n, byte(i)))...)
			}
			return w
		}},
		{"close-notify-padded-then-data", func(t *testing.T, cl *Engine) []byte {
			w := sealInner(cl, pad([]byte{1, AlertCloseNotify}, recordAlert, 9000))
			return append(w, wrapApp(t, cl, big(3))...)
		}},
		{"user-canceled-padded-then-data", func(t *testing.T, cl *Engine) []byte {
			w := sealInner(cl, pad([]byte{1, AlertUserCanceled}, recordAlert, 9000))
			return append(w, wrapApp(t, cl, big(3))...)
		}},
		{"fatal-padded", func(t *testing.T, cl *Engine) []byte {
			return sealInner(cl, pad([]byte{2, AlertInternalError}, recordAlert, 9000))
		}},
		{"alert-bad-level-padded", func(t *testing.T, cl *Engine) []byte {
			return sealInner(cl, pad([]byte{7, AlertCloseNotify}, recordAlert, 9000))
		}},
		{"alert-9k", func(t *testing.T, cl *Engine) []byte {
			return sealInner(cl, pad(big(4), recordAlert, 0))
		}},
		{"client-ticket-big", func(t *testing.T, cl *Engine) []byte {
			m := append([]byte{typeNewSessionTicket, 0, 0x23, 0x24}, big(5)...)
			return sealInner(cl, pad(m[:4+9000], recordHandshake, 0))
		}},
		{"client-ticket-small-padded", func(t *testing.T, cl *Engine) []byte {
			m := []byte{typeNewSessionTicket, 0, 0, 13, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 1, 7, 0, 0}
			return sealInner(cl, pad(m[:17], recordHandshake, 9000))
		}},
		{"certificate-big", func(t *testing.T, cl *Engine) []byte {
			m := append([]byte{typeCertificate, 0, 0x23, 0x28}, big(6)...)
			return sealInner(cl, pad(m, recordHandshake, 0))
		}},
		{"finished-padded", func(t *testing.T, cl *Engine) []byte {
			m := append([]byte{typeFinished, 0, 0, 32}, make([]byte, 32)...)
			return sealInner(cl, pad(m, recordHandshake, 9000))
		}},
		{"keyupdate-split-small-then-big", func(t *testing.T, cl *Engine) []byte {
			w := sealInner(cl, pad([]byte{typeKeyUpdate, 0, 0}, recordHandshake, 0))
			w = append(w, sealInner(cl, pad([]byte{1, 0}, recordHandshake, 9000))...)
			if err := cl.wr.update(&cl.ks, cl.suite); err != nil {
				t.Fatal(err)
			}
			return append(w, wrapApp(t, cl, big(7))...)
		}},
		{"keyupdate-split-big-then-small", func(t *testing.T, cl *Engine) []byte {
			w := sealInner(cl, pad([]byte{typeKeyUpdate, 0}, recordHandshake, 9000))
			w = append(w, sealInner(cl, pad([]byte{0, 1, 0}, recordHandshake, 0))...)
			if err := cl.wr.update(&cl.ks, cl.suite); err != nil {
				t.Fatal(err)
			}
			return append(w, wrapApp(t, cl, big(7))...)
		}},
		{"keyupdate-old-key-after", func(t *testing.T, cl *Engine) []byte {
			w := sealInner(cl, pad([]byte{typeKeyUpdate, 0, 0, 1, 0}, recordHandshake, 9000))
			return append(w, wrapApp(t, cl, big(7))...) // not updated: bad_record_mac
		}},
		{"keyupdate-requested-padded", func(t *testing.T, cl *Engine) []byte {
			w := sealInner(cl, pad([]byte{typeKeyUpdate, 0, 0, 1, 1}, recordHandshake, 9000))
			if err := cl.wr.update(&cl.ks, cl.suite); err != nil {
				t.Fatal(err)
			}
			return append(w, wrapApp(t, cl, big(7))...)
		}},
		{"keyupdate-bad-value-padded", func(t *testing.T, cl *Engine) []byte {
			return sealInner(cl, pad([]byte{typeKeyUpdate, 0, 0, 1, 2}, recordHandshake, 9000))
		}},
		{"appdata-inside-partial-handshake", func(t *testing.T, cl *Engine) []byte {
			w := sealInner(cl, pad([]byte{typeKeyUpdate, 0}, recordHandshake, 0))
			return append(w, wrapApp(t, cl, big(8))...)
		}},
		{"ccs-inner-padded", func(t *testing.T, cl *Engine) []byte {
			return sealInner(cl, pad([]byte{1}, recordCCS, 9000))
		}},
		{"unknown-inner-type", func(t *testing.T, cl *Engine) []byte {
			return sealInner(cl, pad(big(9), 0x19, 0))
		}},
		{"empty-appdata-padded-many", func(t *testing.T, cl *Engine) []byte {
			var w []byte
			for range 40 {
				w = append(w, sealInner(cl, pad(nil, recordAppData, 5000))...)
			}
			return w
		}},
		{"tag-cut-then-next", func(t *testing.T, cl *Engine) []byte {
			r := wrapApp(t, cl, big(10))
			r[3], r[4] = byte((len(r)-6)>>8), byte(len(r)-6) // the header announces one byte less
			return append(r, wrapApp(t, cl, big(11))...)
		}},
		{"handshake-header-type", func(t *testing.T, cl *Engine) []byte {
			r := wrapApp(t, cl, big(12))
			r[0] = recordHandshake
			return r
		}},
		{"ccs-header-type", func(t *testing.T, cl *Engine) []byte {
			r := wrapApp(t, cl, big(12))
			r[0] = recordCCS
			return r
		}},
		{"alert-header-type", func(t *testing.T, cl *Engine) []byte {
			r := wrapApp(t, cl, big(12))
			r[0] = recordAlert
			return r
		}},
	}
	cases12 := []struct {
		name string
		wire mk
	}{
		{"replay", func(t *testing.T, cl *Engine) []byte {
			r := wrapApp(t, cl, big(1))
			return append(append([]byte(nil), r...), r...)
		}},
		{"reorder", func(t *testing.T, cl *Engine) []byte {
			a, b := wrapApp(t, cl, big(1)), wrapApp(t, cl, big(2))
			return append(b, a...)
		}},
		{"interleaved-streamed-whole", func(t *testing.T, cl *Engine) []byte {
			var w []byte
			for i, n := range []int{9000, 1, 5000, 4000, 16384, 0, 9000} {
				w = append(w, wrapApp(t, cl, pattern(n, byte(i)))...)
			}
			return w
		}},
		{"alert-9k", func(t *testing.T, cl *Engine) []byte { return sealTyped(t, cl, recordAlert, big(4)) }},
		{"close-notify-then-data", func(t *testing.T, cl *Engine) []byte {
			w := sealTyped(t, cl, recordAlert, []byte{1, AlertCloseNotify})
			return append(w, wrapApp(t, cl, big(3))...)
		}},
		{"renegotiation-hello-big", func(t *testing.T, cl *Engine) []byte {
			m := append([]byte{typeClientHello, 0, 0x23, 0x24}, big(5)...)
			w := sealTyped(t, cl, recordHandshake, m[:4+9000])
			return append(w, wrapApp(t, cl, big(3))...)
		}},
		{"renegotiation-hellos-many", func(t *testing.T, cl *Engine) []byte {
			return sealTyped(t, cl, recordHandshake, bytes.Repeat([]byte{typeClientHello, 0, 0, 0}, 2250))
		}},
		{"hello-request-big", func(t *testing.T, cl *Engine) []byte {
			m := append([]byte{typeHelloRequest, 0, 0x23, 0x24}, big(5)...)
			return sealTyped(t, cl, recordHandshake, m[:4+9000])
		}},
		{"finished-big", func(t *testing.T, cl *Engine) []byte {
			m := append([]byte{typeFinished, 0, 0x23, 0x24}, big(5)...)
			return sealTyped(t, cl, recordHandshake, m[:4+9000])
		}},
		{"ccs-sealed-big", func(t *testing.T, cl *Engine) []byte { return sealTyped(t, cl, recordCCS, big(6)) }},
		{"empty-appdata-many-then-big", func(t *testing.T, cl *Engine) []byte {
			var w []byte
			for range 40 {
				w = append(w, wrapApp(t, cl, nil)...)
			}
			return append(w, wrapApp(t, cl, big(2))...)
		}},
	}
	// The verdicts themselves (RFC 8446 §5.2 bad_record_mac for a replayed or reordered record,
	// §6.1 nothing taken after close_notify, §4.6.3 illegal_parameter for a KeyUpdate value,
	// §5.4/§4 unexpected_message for a message or type the server never receives, §6 decode_error
	// for an alert that is not two bytes; 254: the peer's fatal alert taken; 255: no alert).
	want := map[string]string{
		"tls13/replay":                           "9000 bytes released, alert bad_record_mac, eof false, state failed",
		"tls13/replay-whole-after-streamed":      "9005 bytes released, alert bad_record_mac, eof false, state failed",
		"tls13/reorder":                          "0 bytes released, alert bad_record_mac, eof false, state failed",
		"tls13/reorder-small-big":                "0 bytes released, alert bad_record_mac, eof false, state failed",
		"tls13/interleaved-streamed-whole":       "43385 bytes released, alert alert(255), eof false, state established",
		"tls13/close-notify-padded-then-data":    "0 bytes released, alert alert(255), eof true, state closed",
		"tls13/user-canceled-padded-then-data":   "9000 bytes released, alert alert(255), eof false, state established",
		"tls13/fatal-padded":                     "0 bytes released, alert alert(254), eof true, state failed",
		"tls13/alert-bad-level-padded":           "0 bytes released, alert illegal_parameter, eof false, state failed",
		"tls13/alert-9k":                         "0 bytes released, alert decode_error, eof false, state failed",
		"tls13/client-ticket-big":                "0 bytes released, alert unexpected_message, eof false, state failed",
		"tls13/client-ticket-small-padded":       "0 bytes released, alert unexpected_message, eof false, state failed",
		"tls13/certificate-big":                  "0 bytes released, alert unexpected_message, eof false, state failed",
		"tls13/finished-padded":                  "0 bytes released, alert unexpected_message, eof false, state failed",
		"tls13/keyupdate-split-small-then-big":   "9000 bytes released, alert alert(255), eof false, state established",
		"tls13/keyupdate-split-big-then-small":   "9000 bytes released, alert alert(255), eof false, state established",
		"tls13/keyupdate-old-key-after":          "0 bytes released, alert bad_record_mac, eof false, state failed",
		"tls13/keyupdate-requested-padded":       "9000 bytes released, alert alert(255), eof false, state established",
		"tls13/keyupdate-bad-value-padded":       "0 bytes released, alert illegal_parameter, eof false, state failed",
		"tls13/appdata-inside-partial-handshake": "0 bytes released, alert unexpected_message, eof false, state failed",
		"tls13/ccs-inner-padded":                 "0 bytes released, alert unexpected_message, eof false, state failed",
		"tls13/unknown-inner-type":               "0 bytes released, alert unexpected_message, eof false, state failed",
		"tls13/empty-appdata-padded-many":        "0 bytes released, alert unexpected_message, eof false, state failed",
		"tls13/tag-cut-then-next":                "0 bytes released, alert bad_record_mac, eof false, state failed",
		"tls13/handshake-header-type":            "0 bytes released, alert unexpected_message, eof false, state failed",
		"tls13/ccs-header-type":                  "0 bytes released, alert unexpected_message, eof false, state failed",
		"tls13/alert-header-type":                "0 bytes released, alert unexpected_message, eof false, state failed",
		"tls12/replay":                           "9000 bytes released, alert bad_record_mac, eof false, state failed",
		"tls12/renegotiation-hellos-many":        "0 bytes released, alert unexpected_message, eof false, state failed",
		"tls12/reorder":                          "0 bytes released, alert bad_record_mac, eof false, state failed",
		"tls12/interleaved-streamed-whole":       "43385 bytes released, alert alert(255), eof false, state established",
		"tls12/alert-9k":                         "0 bytes released, alert decode_error, eof false, state failed",
		"tls12/close-notify-then-data":           "0 bytes released, alert alert(255), eof true, state closed",
		"tls12/renegotiation-hello-big":          "9000 bytes released, alert alert(255), eof false, state established",
		"tls12/hello-request-big":                "0 bytes released, alert unexpected_message, eof false, state failed",
		"tls12/finished-big":                     "0 bytes released, alert unexpected_message, eof false, state failed",
		"tls12/ccs-sealed-big":                   "0 bytes released, alert unexpected_message, eof false, state failed",
		"tls12/empty-appdata-many-then-big":      "0 bytes released, alert unexpected_message, eof false, state failed",
	}
	run := func(t *testing.T, v12 bool, wire mk) {
		for _, split := range []int{0, 1, 1460} {
			// two connections (their keys differ: Go draws key shares from its own source), the
			// same operations on each client
			cl, srvS := streamPair(t, v12, NewMemSpill())
			clW, srvW := streamPair(t, v12, NewMemSpill())
			srvW.SetSpill(nil, 0)
			w, ww := wire(t, cl), wire(t, clW)
			if len(w) != len(ww) {
				t.Fatal("the two wires differ in length")
			}
			if split == 1 && len(w) > 40000 {
				continue
			}
			vs, vw := verdictOf(srvS, w, split), verdictOf(srvW, ww, split)
			if vs.alert != vw.alert || vs.eof != vw.eof || vs.state != vw.state || !bytes.Equal(vs.plain, vw.plain) {
				t.Fatalf("split %d: streamed: %v; whole: %v", split, vs, vw)
			}
			ps, pw := make([]byte, 1<<16), make([]byte, 1<<16)
			if ns, nw := srvS.Output(ps), srvW.Output(pw); ns != nw {
				t.Fatalf("split %d: the servers said different things (%d, %d bytes)", split, ns, nw)
			}
			if w := want[t.Name()[len("TestStreamSameVerdictAsWhole/"):]]; vs.String() != w {
				t.Fatalf("split %d: %v, want %s", split, vs, w)
			}
		}
	}
	for _, c := range cases13 {
		t.Run("tls13/"+c.name, func(t *testing.T) { run(t, false, c.wire) })
	}
	for _, c := range cases12 {
		t.Run("tls12/"+c.name, func(t *testing.T) { run(t, true, c.wire) })
	}
}

// TestStreamThresholdEdges: a record whose header and body are exactly the receive buffer
// (StreamAbove) is opened whole in place; one byte more is streamed; both deliver the same
// plaintext, alone or between other records, and a forged one of either size is bad_record_mac
// with nothing released.
func TestStreamThresholdEdges(t *testing.T) {
	for _, v12 := range []bool{false, true} {
		for _, d := range []int{-1, 0, 1, 2} {
			t.Run(fmt.Sprintf("v12=%v/%+d", v12, d), func(t *testing.T) {
				cl, srv := streamPair(t, v12, NewMemSpill())
				hdr, tail := cl.Overhead()
				n := streamAbove - hdr - tail + d // plaintext whose record is streamAbove+d bytes
				data := pattern(n, 1)
				rec := wrapApp(t, cl, data)
				if len(rec) != streamAbove+d {
					t.Fatalf("record %d", len(rec))
				}
				got, err := streamFeed(srv, append(rec, wrapApp(t, cl, []byte("next"))...), 1000)
				if err != nil || !bytes.Equal(got, append(data, "next"...)) {
					t.Fatal(err, len(got))
				}
				if streamed := srv.sp != nil; streamed != (d > 0) {
					t.Fatalf("streamed %v", streamed)
				}
				forged := wrapApp(t, cl, data)
				forged[len(forged)/2] ^= 4
				got, err = streamFeed(srv, forged, 1000)
				expectAlert(t, err, AlertBadRecordMAC, false)
				if len(got) != 0 {
					t.Fatal("released")
				}
			})
		}
	}
}

// failAfterSpill is a spill whose writes fail once n bytes went in (a store that breaks
// mid-record), or whose reads fail (readFail).
type failAfterSpill struct {
	MemSpill
	n        int
	readFail bool
}

func (f *failAfterSpill) WriteAt(p []byte, off int64) (int, error) {
	if f.n -= len(p); f.n < 0 {
		return 0, errors.New("medium failed")
	}
	return f.MemSpill.WriteAt(p, off)
}

func (f *failAfterSpill) ReadAt(p []byte, off int64) (int, error) {
	if f.readFail {
		return 0, errors.New("medium failed")
	}
	return f.MemSpill.ReadAt(p, off)
}

// TestStreamSpillFailsMidRecord: the spill's medium fails in the middle of a record (after
// 1 byte, 5,000 bytes, or at the last ciphertext byte) or when the verified record is read
// back: the connection ends with internal_error (RFC 8446 §6.2), and no byte of the record
// whose ciphertext could not be kept is released; nothing more is taken afterwards.
func TestStreamSpillFailsMidRecord(t *testing.T) {
	for _, v12 := range []bool{false, true} {
		for _, after := range []int{1, 5000, 8999, -1} {
			t.Run(fmt.Sprintf("v12=%v/after=%d", v12, after), func(t *testing.T) {
				sp := &failAfterSpill{MemSpill: NewMemSpill(), n: after}
				if after < 0 {
					sp.n, sp.readFail = 1<<30, true
				}
				cl, srv := streamPair(t, v12, sp)
				wire := append(wrapApp(t, cl, pattern(9000, 1)), wrapApp(t, cl, []byte("next"))...)
				got, err := streamFeed(srv, wire, 1460)
				expectAlert(t, err, AlertInternalError, false)
				if len(got) != 0 {
					t.Fatalf("%d bytes released", len(got))
				}
				if c, _, err := srv.Unwrap(wire[len(wire)-30:]); c != 0 || err == nil {
					t.Fatal("input taken after the failure")
				}
			})
		}
	}
}

// TestStreamNVMCost: what a peer can make the card write to its non-volatile spill (the card's
// EEPROM, written a page at a time: a write of one byte costs a page program as one of 64 does).
// Every ciphertext byte of a streamed record is written once (the tag is kept in RAM): at most
// one NVM byte per byte on the line. The writes are whole StreamChunk blocks (512 B, from the
// region's start), the last one excepted, however the peer cuts the record: 33 writes for a
// 16 KiB record whether it arrives in 1,460-byte segments or in 1-byte ones. Before the fix
// every arriving piece was a write of its own: 1-byte TCP segments (about 11 line bytes each with
// VJ-compressed headers) made 16,385 one-byte writes per record, a page program per 11 line
// bytes. Records of every size above the receive buffer rewrite the same region from its start.
func TestStreamNVMCost(t *testing.T) {
	for _, seg := range []int{1, 7, 64, 536, 1460} {
		al := &alignSpill{MemSpill: NewMemSpill()}
		sp := &countSpill{Spill: al}
		cl, srv := streamPair(t, false, sp)
		var wire, want []byte
		records := 4
		if seg < 64 {
			records = 1
		}
		for i := range records {
			d := pattern(maxPlaintext, byte(i))
			want = append(want, d...)
			wire = append(wire, wrapApp(t, cl, d)...)
		}
		got, err := streamFeed(srv, wire, seg)
		if err != nil || !bytes.Equal(got, want) {
			t.Fatal(err, len(got))
		}
		clen := maxPlaintext + 1 // the TLSInnerPlaintext of each record
		t.Logf("segments of %4d B: %d B on the record layer → %d B written to NVM in %d writes (%.4f B/B, one write per %.1f record bytes); %d B read back in %d reads",
			seg, len(wire), sp.wb, sp.wn, float64(sp.wb)/float64(len(wire)), float64(len(wire))/float64(sp.wn), sp.rb, sp.rn)
		if sp.wb != records*clen || sp.wn != records*((clen+StreamChunk-1)/StreamChunk) || al.odd != 0 {
			t.Fatalf("%d B in %d writes (%d not whole aligned blocks) for %d records of %d B", sp.wb, sp.wn, al.odd, records, clen)
		}
	}
}

// alignSpill counts the writes that are not whole StreamChunk blocks at a block boundary, but for
// a record's last one (shorter, at a boundary).
type alignSpill struct {
	MemSpill
	odd int
}

func (a *alignSpill) WriteAt(p []byte, off int64) (int, error) {
	if off%StreamChunk != 0 || len(p) > StreamChunk || (len(p) < StreamChunk && off+int64(len(p)) != maxPlaintext+1) {
		a.odd++
	}
	return a.MemSpill.WriteAt(p, off)
}
