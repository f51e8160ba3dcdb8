package apps

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"netcard/store"
	"netcard/tls"
)

// TestStreamedPutBadTag: an administrator's PUT /admin/files/... in one
// ChaCha20-Poly1305 record larger than the session's receive threshold
// (StreamAbove) is streamed through a spill region of the card's store
// (store.Scratch, after the image). With one ciphertext byte flipped (at the
// start, in the middle, at the end) or the tag flipped, the card answers
// bad_record_mac (RFC 8446 §5.2), HTTP never sees a byte of the record (no
// request, no plaintext counted), and the store keeps no trace: no file,
// no transaction, the image's bytes unchanged. The negative control, the
// same record intact, creates the file. A record cut short by the peer's
// FIN ("truncated") releases nothing either: no alert is owed (the
// connection ends dirty), HTTP saw nothing, the store is unchanged.
//
// "wrap/…": the spill is a ring (store.Scratch.NextRecord) of 4 blocks whose
// first 3 a previous record used, so this one starts at block 3 and
// straddles the region's end: intact it opens byte-identically, forged it
// gets bad_record_mac and releases nothing all the same; the wear counters
// (Store.ScratchStats) grow by exactly its ciphertext bytes, in whole
// aligned blocks.
func TestStreamedPutBadTag(t *testing.T) {
	for _, name := range []string{"none", "start", "middle", "end", "tag", "truncated",
		"wrap/none", "wrap/start", "wrap/middle", "wrap/end", "wrap/tag", "wrap/truncated"} {
		where, wrap := strings.CutPrefix(name, "wrap/")
		t.Run(name, func(t *testing.T) {
			app, s, m, pki := newTestApp(t)
			imageLen := len(m.B)
			region := tls.SpillSize
			if wrap {
				region = 4 * store.ScratchBlock
			}
			m.B = append(m.B, make([]byte, region)...) // room for one slot's spill after the image
			spill, err := s.Scratch(0, region)
			if err != nil {
				t.Fatal(err)
			}
			if wrap {
				if imageLen%store.ScratchBlock != 0 {
					t.Fatalf("image of %d bytes", imageLen)
				}
				spill.NextRecord()
				if _, err := spill.WriteAt(bytes.Repeat([]byte{0xaa}, 3*store.ScratchBlock), 0); err != nil {
					t.Fatal(err)
				}
			}
			ws0 := s.ScratchStats()
			image := append([]byte(nil), m.B[:imageLen]...)
			seq := s.Seq()
			tcfg := serverTLS(t, s, seeded(10))
			tcfg.PreferChaCha = true
			p := newPairCfg(SessionConfig{TLS: tcfg, RecordBuf: testRecvBuf, Handler: app.Serve, HTTP: cardHTTP,
				Spill: spill, StreamAbove: 512}, testRecvBuf, testSendBuf)
			cl := tls.NewClient(&tls.Config{Rand: seeded(11), Time: func() time.Time { return testNow },
				Client: &tls.ClientConfig{ServerName: "card.example", Roots: pki.cardPool}, MaxRecordOut: 16384}, 0)
			var resp []byte
			var clientErr error
			drive := func() {
				for i := 0; i < 10000; i++ {
					prog := false
					if f := p.cst.Free(); len(f) > 0 {
						if n := cl.Output(f); n > 0 {
							p.cst.Commit(n)
							prog = true
						}
					}
					prog = transfer(p.cst, p.sst) || prog
					prog = p.srv.Service(p.now) || prog
					prog = transfer(p.sst, p.cst) || prog
					for len(p.cst.rx) > 0 && clientErr == nil {
						c, pt, err := cl.Unwrap(p.cst.rx)
						if err != nil {
							clientErr = err
							break
						}
						if c == 0 {
							break
						}
						resp = append(resp, pt...)
						p.cst.Consume(c)
						prog = true
					}
					if !prog {
						return
					}
				}
				t.Fatal("no quiescence")
			}
			drive()
			if cl.State() != tls.Established || clientErr != nil {
				t.Fatalf("handshake: %v %v", cl.State(), clientErr)
			}
			if cs := cl.ConnectionState(); cs.CipherSuite != tls.TLS_CHACHA20_POLY1305_SHA256 {
				t.Fatalf("suite %04x", cs.CipherSuite)
			}
			body := bytes.Repeat([]byte("top secret "), 130)
			req := fmt.Sprintf("PUT /admin/files/secret.txt HTTP/1.1\r\nHost: card.example\r\n%sContent-Length: %d\r\n\r\n%s",
				adminAuthz, len(body), body)
			hdr, tail := cl.Overhead()
			rec := make([]byte, hdr+len(req)+tail)
			copy(rec[hdr:], req)
			if n := cl.Wrap(rec, len(req)); n != len(rec) {
				t.Fatalf("Wrap %d", n)
			}
			switch where {
			case "start":
				rec[hdr] ^= 1
			case "middle":
				rec[len(rec)/2] ^= 0x40
			case "end":
				rec[len(rec)-tail-1] ^= 1
			case "tag":
				rec[len(rec)-1] ^= 0x80
			case "truncated":
				rec = rec[:len(rec)-5]
			}
			in0 := p.srv.Stats().BytesIn
			p.cst.tx = append(p.cst.tx, rec...)
			if where == "truncated" {
				p.cst.CloseWrite() // the FIN follows the cut record
			}
			drive()
			st := p.srv.Stats()
			f, exists := s.File("secret.txt")
			clen := len(rec) - hdr - 16 // the TLSInnerPlaintext, content type included; the tag excluded
			if where == "truncated" {
				clen += 5 // the cut took tag bytes only
			}
			if ws := s.ScratchStats(); ws.BytesWritten-ws0.BytesWritten != uint64(clen) ||
				ws.BlockWrites-ws0.BlockWrites != uint64((clen+store.ScratchBlock-1)/store.ScratchBlock) {
				t.Fatalf("spill counters %+v → %+v for %d ciphertext bytes", ws0, ws, clen)
			}
			// The first block was filled with 0xaa; a wrapped record's ciphertext
			// overwrote it (16 bytes: one byte is 0xaa once in 256 records).
			if wrap && bytes.Equal(m.B[imageLen:imageLen+16], bytes.Repeat([]byte{0xaa}, 16)) {
				t.Fatal("the record did not wrap around the ring")
			}
			if where == "none" {
				if !exists || !bytes.Equal(f.Data, body) || !strings.HasPrefix(string(resp), "HTTP/1.1 201") {
					t.Fatalf("intact record: file %v, response %q", exists, resp)
				}
				if bytes.Equal(m.B[imageLen:], make([]byte, region)) || bytes.Contains(m.B[imageLen:], body[:64]) {
					t.Fatal("the record did not go through the spill as ciphertext")
				}
				return
			}
			if where == "truncated" {
				if st.ClosesDirty != 1 || st.TLSFailures != 0 || st.BytesIn != in0 || exists || s.Seq() != seq ||
					!bytes.Equal(m.B[:imageLen], image) {
					t.Fatalf("truncated record: %+v, file %v, seq %d → %d", st, exists, seq, s.Seq())
				}
				return
			}
			var ae *tls.AlertError
			if !errors.As(clientErr, &ae) || ae.Code != tls.AlertBadRecordMAC || !ae.Remote {
				t.Fatalf("client got %v, want the card's bad_record_mac", clientErr)
			}
			if st.BytesIn != in0 || st.TLSFailures != 1 || len(resp) != 0 {
				t.Fatalf("HTTP saw %d bytes of the forged record; %d TLS failures; response %q", st.BytesIn-in0, st.TLSFailures, resp)
			}
			if exists || s.Seq() != seq || !bytes.Equal(m.B[:imageLen], image) {
				t.Fatalf("the store changed: file %v, seq %d → %d, image equal %v", exists, seq, s.Seq(),
					bytes.Equal(m.B[:imageLen], image))
			}
		})
	}
}
