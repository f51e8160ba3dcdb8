package tls

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"testing"

	gotls "crypto/tls"
	"runtime"

	//lint:ignore SA1019 the building block is what streaming needs: the AEAD opens a record only whole (RFC 8439 §2.8 construction, verified against chacha20poly1305 in the tests)
	"golang.org/x/crypto/poly1305"

	"golang.org/x/crypto/chacha20poly1305"
)

// streamAbove is the receive buffer the streaming tests pretend the server has: records whose
// header and body exceed it are streamed.
const streamAbove = 4096

// streamPair returns a client and a server (TLS 1.3 or 1.2, ChaCha20-Poly1305) after the
// handshake; the server streams records above streamAbove through spill.
func streamPair(t testing.TB, v12 bool, spill Spill) (cl, srv *Engine) {
	sc, cc := serverConfig(t, false), clientConfig(t)
	sc.CipherSuites = []uint16{TLS_CHACHA20_POLY1305_SHA256, TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256}
	cc.MaxRecordOut = maxPlaintext
	if v12 {
		cc.MaxVersion = VersionTLS12
	}
	srv, cl = NewServer(sc, DefaultRecordBuf), NewClient(cc, 0)
	srv.SetSpill(spill, streamAbove)
	if ea, eb := pump(t, cl, srv); ea != nil || eb != nil {
		t.Fatal(ea, eb)
	}
	if srv.State() != Established || !srv.suite.chacha || srv.v12 != v12 {
		t.Fatalf("state %v suite %+v v12 %v", srv.State(), srv.suite, srv.v12)
	}
	return cl, srv
}

// wrapApp returns data sealed by cl into one application data record.
func wrapApp(t testing.TB, cl *Engine, data []byte) []byte {
	hdr, tail := cl.Overhead()
	rec := make([]byte, hdr+len(data)+tail)
	copy(rec[hdr:], data)
	if n := cl.Wrap(rec, len(data)); n != len(rec) {
		t.Fatalf("Wrap %d, want %d", n, len(rec))
	}
	return rec
}

// streamFeed gives the server the records in wire as a receive buffer would, pieces of split bytes
// arriving at a time (0: all at once), and takes every plaintext byte it releases. It returns
// the plaintext and the first error.
func streamFeed(srv *Engine, wire []byte, split int) ([]byte, error) {
	if split <= 0 {
		split = max(len(wire), 1)
	}
	return streamFeedBy(srv, wire, func(int) int { return split })
}

// streamFeedBy is streamFeed with the i-th piece of size(i) bytes (at least 1).
func streamFeedBy(srv *Engine, wire []byte, size func(i int) int) ([]byte, error) {
	var got, buf []byte
	for i := 0; len(wire) > 0; i++ {
		k := min(max(size(i), 1), len(wire))
		buf = append(buf, wire[:k]...)
		wire = wire[k:]
		for {
			for p := srv.StreamedPlain(); p != nil; p = srv.StreamedPlain() {
				got = append(got, p...)
				srv.TakeStreamed(len(p))
			}
			c, p, err := srv.Unwrap(buf)
			if err != nil {
				return got, err
			}
			got = append(got, p...)
			buf = buf[c:]
			if c == 0 {
				break
			}
		}
	}
	return got, nil
}

func pattern(n int, seed byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7) + seed
	}
	return b
}

// TestStreamOpen: records larger than the receive buffer (16 KiB, 5,000 bytes), sealed by our
// client, reach the application whole and in order when they arrive all at once, one byte at a
// time, or in segments; they went through the spill (a streaming state was lent), and a record
// that fits the buffer is opened in place as before.
func TestStreamOpen(t *testing.T) {
	for _, v12 := range []bool{false, true} {
		for _, split := range []int{0, 1, 7, 1460, 4000} {
			t.Run(fmt.Sprintf("v12=%v/split=%d", v12, split), func(t *testing.T) {
				spill := NewMemSpill()
				cl, srv := streamPair(t, v12, spill)
				var wire, want []byte
				for i, n := range []int{16384, 10, 5000, 100, 16384, 4000} {
					d := pattern(n, byte(i))
					want = append(want, d...)
					wire = append(wire, wrapApp(t, cl, d)...)
				}
				got, err := streamFeed(srv, wire, split)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(got, want) {
					t.Fatalf("got %d bytes, want %d (equal prefix %d)", len(got), len(want), commonPrefix(got, want))
				}
				if srv.sp == nil {
					t.Fatal("no record was streamed")
				}
				if bytes.Contains(spill, want[100:200]) {
					t.Fatal("the spill holds plaintext")
				}
			})
		}
	}
}

func commonPrefix(a, b []byte) int {
	i := 0
	for i < len(a) && i < len(b) && a[i] == b[i] {
		i++
	}
	return i
}

// TestStreamBadTag: a 16 KiB record with one ciphertext byte flipped (at the start, in the
// middle, at the end) or its tag flipped is answered with bad_record_mac, in TLS 1.3 and 1.2,
// whole or trickled, and not one byte of it reaches the application (RFC 8446 §5.2: "If the
// decryption fails, the receiver MUST terminate the connection with a bad_record_mac alert");
// the negative control, the same record unflipped, is released whole.
func TestStreamBadTag(t *testing.T) {
	for _, v12 := range []bool{false, true} {
		for _, where := range []string{"none", "start", "middle", "end", "tag"} {
			for _, split := range []int{0, 1000} {
				t.Run(fmt.Sprintf("v12=%v/%s/split=%d", v12, where, split), func(t *testing.T) {
					cl, srv := streamPair(t, v12, NewMemSpill())
					data := pattern(16384, 3)
					rec := wrapApp(t, cl, data)
					hdr, _ := cl.Overhead()
					switch where {
					case "start":
						rec[hdr] ^= 1
					case "middle":
						rec[hdr+8000] ^= 0x80
					case "end":
						rec[len(rec)-tagLen-1] ^= 1
					case "tag":
						rec[len(rec)-1] ^= 1
					}
					got, err := streamFeed(srv, rec, split)
					if where == "none" {
						if err != nil || !bytes.Equal(got, data) {
							t.Fatalf("%v, %d bytes", err, len(got))
						}
						return
					}
					expectAlert(t, err, AlertBadRecordMAC, false)
					if len(got) != 0 || srv.StreamedPlain() != nil || srv.StreamedPending() != 0 {
						t.Fatalf("%d bytes released from a forged record", len(got))
					}
				})
			}
		}
	}
}

// TestStreamLimits: what the record layer refuses, streamed as it would be whole. A record
// announcing more than 2^14+256 bytes is record_overflow at its header (RFC 8446 §5.2); a
// record whose inner plaintext is all padding is unexpected_message (§5.4); a record cut short
// by the end of the stream releases nothing; a record carrying a KeyUpdate with padding is
// taken (the next record opens under the new key), as is an alert (close_notify: io.EOF);
// an alert of three bytes is decode_error, and a KeyUpdate followed by more handshake bytes in
// its record is unexpected_message (§5.1).
func TestStreamLimits(t *testing.T) {
	t.Run("overflow", func(t *testing.T) {
		_, srv := streamPair(t, false, NewMemSpill())
		n := maxCiphertext + 1
		_, _, err := srv.Unwrap([]byte{recordAppData, 3, 3, byte(n >> 8), byte(n), 0, 0, 0})
		expectAlert(t, err, AlertRecordOverflow, false)
		_, srv = streamPair(t, false, NewMemSpill())
		n = maxPlaintext + 1 + tagLen // the largest record the engine takes (its inLimit) is taken
		if c, _, err := srv.Unwrap([]byte{recordAppData, 3, 3, byte(n >> 8), byte(n), 0, 0, 0}); c != 8 || err != nil {
			t.Fatal(c, err)
		}
	})
	t.Run("overflow-tls12", func(t *testing.T) {
		// TLS 1.2 ChaCha20-Poly1305 has no explicit nonce: a header may announce up to 8 bytes
		// of plaintext more than 2^14 (the room of AES-GCM's nonce); the plaintext itself is
		// record_overflow, streamed as whole (RFC 5246 §6.2.3).
		for _, split := range []int{0, 1460} {
			cl, srv := streamPair(t, true, NewMemSpill())
			cl.maxOut = maxPlaintext + 8
			got, err := streamFeed(srv, wrapApp(t, cl, pattern(maxPlaintext+1, 1)), split)
			expectAlert(t, err, AlertRecordOverflow, false)
			if len(got) != 0 {
				t.Fatal("released")
			}
		}
		cl, srv := streamPair(t, true, NewMemSpill())
		srv.SetSpill(nil, 0) // the whole-record path agrees
		cl.maxOut = maxPlaintext + 8
		_, _, err := srv.Unwrap(wrapApp(t, cl, pattern(maxPlaintext+1, 1)))
		expectAlert(t, err, AlertRecordOverflow, false)
	})
	t.Run("padding-only", func(t *testing.T) {
		cl, srv := streamPair(t, false, NewMemSpill())
		got, err := streamFeed(srv, sealInner(cl, make([]byte, 9000)), 1460)
		expectAlert(t, err, AlertUnexpectedMessage, false)
		if len(got) != 0 {
			t.Fatal("released")
		}
	})
	t.Run("inner-overflow", func(t *testing.T) {
		cl, srv := streamPair(t, false, NewMemSpill())
		inner := append(pattern(maxPlaintext+1, 1), recordAppData) // 2^14+2 bytes: one too many
		got, err := streamFeed(srv, sealInner(cl, inner), 1460)
		expectAlert(t, err, AlertRecordOverflow, false)
		if len(got) != 0 {
			t.Fatal("released")
		}
	})
	t.Run("truncated", func(t *testing.T) {
		cl, srv := streamPair(t, false, NewMemSpill())
		rec := wrapApp(t, cl, pattern(16384, 1))
		got, err := streamFeed(srv, rec[:len(rec)-1], 1000)
		if err != nil || len(got) != 0 || srv.StreamedPending() != len(rec)-recordHeaderLen-1 {
			t.Fatalf("%v, %d released, %d pending", err, len(got), srv.StreamedPending())
		}
	})
	t.Run("keyupdate-padded", func(t *testing.T) {
		cl, srv := streamPair(t, false, NewMemSpill())
		inner := append([]byte{typeKeyUpdate, 0, 0, 1, 0, recordHandshake}, make([]byte, 9000)...)
		wire := sealInner(cl, inner)
		if err := cl.wr.update(&cl.ks, cl.suite); err != nil {
			t.Fatal(err)
		}
		data := pattern(16384, 9)
		wire = append(wire, wrapApp(t, cl, data)...)
		got, err := streamFeed(srv, wire, 1460)
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("%v, %d bytes", err, len(got))
		}
	})
	t.Run("keyupdate-then-more", func(t *testing.T) {
		cl, srv := streamPair(t, false, NewMemSpill())
		inner := append([]byte{typeKeyUpdate, 0, 0, 1, 0}, make([]byte, 9000)...)
		inner[5] = typeKeyUpdate
		inner = append(inner, recordHandshake)
		_, err := streamFeed(srv, sealInner(cl, inner), 1460)
		if err == nil {
			t.Fatal("a KeyUpdate not ending its record was taken")
		}
		expectAlert(t, err, AlertUnexpectedMessage, false)
	})
	t.Run("alert-padded", func(t *testing.T) {
		cl, srv := streamPair(t, false, NewMemSpill())
		inner := append([]byte{1, AlertCloseNotify, recordAlert}, make([]byte, 9000)...)
		_, err := streamFeed(srv, sealInner(cl, inner), 1460)
		if err != io.EOF {
			t.Fatal(err)
		}
	})
	t.Run("alert-3-bytes", func(t *testing.T) {
		cl, srv := streamPair(t, false, NewMemSpill())
		inner := append([]byte{1, AlertCloseNotify, 0, recordAlert}, make([]byte, 9000)...)
		_, err := streamFeed(srv, sealInner(cl, inner), 1460)
		expectAlert(t, err, AlertDecodeError, false)
	})
}

// TestStreamBackPressure: the application may take a chunk piece by piece; no further record is
// processed until the streamed plaintext is all taken, so records keep their order.
func TestStreamBackPressure(t *testing.T) {
	cl, srv := streamPair(t, false, NewMemSpill())
	a, b := pattern(9000, 1), pattern(50, 2)
	wire := append(wrapApp(t, cl, a), wrapApp(t, cl, b)...)
	c, p, err := srv.Unwrap(wire)
	if err != nil || p != nil || c != len(a)+recordHeaderLen+1+tagLen {
		t.Fatal(c, p, err)
	}
	wire = wire[c:]
	var got []byte
	for {
		p := srv.StreamedPlain()
		if p == nil {
			break
		}
		if c, _, _ := srv.Unwrap(wire); c != 0 {
			t.Fatal("a record was processed while streamed plaintext waits")
		}
		got = append(got, p[:min(len(p), 3)]...)
		srv.TakeStreamed(min(len(p), 3))
	}
	_, p, err = srv.Unwrap(wire)
	if err != nil || !bytes.Equal(got, a) || !bytes.Equal(p, b) {
		t.Fatal(err, len(got), len(p))
	}
}

// TestStreamShed: Shed in the middle of a streamed record (a quiet line) keeps what was
// absorbed — the record completes and verifies afterwards — and drops the streaming state once
// the record is released; the next record lends it again. A forged record after a Shed is
// still refused.
func TestStreamShed(t *testing.T) {
	cl, srv := streamPair(t, false, NewMemSpill())
	data := pattern(16384, 5)
	rec := wrapApp(t, cl, data)
	got, err := streamFeed(srv, rec[:8000], 0)
	if err != nil || len(got) != 0 {
		t.Fatal(err, len(got))
	}
	fp := srv.Footprint()
	srv.Shed()
	if srv.sp == nil || srv.Footprint() != fp {
		t.Fatalf("Shed dropped a record in progress (footprint %d → %d)", fp, srv.Footprint())
	}
	got, err = streamFeed(srv, rec[8000:], 0)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatal(err, len(got))
	}
	if n := srv.Shed(); n < streamStateSize || srv.sp != nil || srv.Footprint() != fp-streamStateSize {
		t.Fatalf("Shed after the record released %d", n)
	}
	if n := srv.Shed(); n != 0 {
		t.Fatalf("second Shed released %d", n)
	}
	rec = wrapApp(t, cl, data)
	rec[100] ^= 1
	_, err = streamFeed(srv, rec, 3000)
	expectAlert(t, err, AlertBadRecordMAC, false)
}

// TestStreamAllocs: once the streaming state is lent, a 16 KiB record streamed in 1,460-byte
// segments allocates nothing (the Poly1305 state is reset in place: resetMAC).
func TestStreamAllocs(t *testing.T) {
	if macPlain == 0 {
		t.Fatal("poly1305.MAC's layout changed: resetMAC allocates")
	}
	cl, srv := streamPair(t, false, NewMemSpill())
	data := pattern(16384, 5)
	const recs = 20
	var wire [][]byte
	for i := 0; i < recs+2; i++ {
		wire = append(wire, wrapApp(t, cl, data))
	}
	i := 0
	open := func() {
		rec := wire[i]
		i++
		for off := 0; off < len(rec); {
			c, _, err := srv.Unwrap(rec[off:min(off+1460, len(rec))])
			if err != nil {
				panic(err)
			}
			off += c
		}
		for p := srv.StreamedPlain(); p != nil; p = srv.StreamedPlain() {
			srv.TakeStreamed(len(p))
		}
	}
	open() // lends the state
	if a := testing.AllocsPerRun(recs, open); a != 0 {
		t.Fatalf("%.1f allocations per streamed record", a)
	}
}

// TestStreamAESWhole: an AES-GCM connection never streams (crypto/cipher opens a record only
// whole): a record above the threshold still needs the whole receive buffer.
func TestStreamAESWhole(t *testing.T) {
	sc, cc := serverConfig(t, false), clientConfig(t)
	sc.CipherSuites = []uint16{TLS_AES_128_GCM_SHA256}
	cc.MaxRecordOut = maxPlaintext
	srv, cl := NewServer(sc, DefaultRecordBuf), NewClient(cc, 0)
	srv.SetSpill(NewMemSpill(), streamAbove)
	if ea, eb := pump(t, cl, srv); ea != nil || eb != nil {
		t.Fatal(ea, eb)
	}
	rec := wrapApp(t, cl, pattern(9000, 1))
	if c, p, err := srv.Unwrap(rec[:5000]); c != 0 || p != nil || err != nil {
		t.Fatal(c, p, err)
	}
	if c, p, err := srv.Unwrap(rec); c != len(rec) || len(p) != 9000 || err != nil || srv.sp != nil {
		t.Fatal(c, len(p), err)
	}
}

// errSpill fails every write.
type errSpill struct{}

func (errSpill) ReadAt(p []byte, off int64) (int, error)  { return 0, errors.New("read") }
func (errSpill) WriteAt(p []byte, off int64) (int, error) { return 0, errors.New("write") }

// TestStreamSpillFails: a spill that cannot be written ends the connection with internal_error
// (RFC 8446 §6.2), releasing nothing.
func TestStreamSpillFails(t *testing.T) {
	cl, srv := streamPair(t, false, errSpill{})
	got, err := streamFeed(srv, wrapApp(t, cl, pattern(9000, 1)), 1460)
	expectAlert(t, err, AlertInternalError, false)
	if len(got) != 0 {
		t.Fatal("released")
	}
}

// TestStreamGoClient: Go's crypto/tls client (an independent implementation) sends 1 MiB in full
// 16 KiB ChaCha20-Poly1305 records over loopback TCP; our server, reading into a 4 KiB buffer and
// streaming every record through the spill, receives every byte.
func TestStreamGoClient(t *testing.T) {
	for _, v12 := range []bool{false, true} {
		t.Run(fmt.Sprintf("v12=%v", v12), func(t *testing.T) {
			a, b := tcpPair(t)
			gc := goClientConfig(t)
			if v12 {
				gc.MinVersion, gc.MaxVersion = 0x0303, 0x0303
			}
			data := pattern(1<<20, 7)
			wait := runPeer(func() error {
				c := gotls.Client(a, gc)
				if _, err := c.Write(data); err != nil {
					return err
				}
				return c.Close()
			})
			sc := serverConfig(t, false)
			sc.CipherSuites = []uint16{TLS_CHACHA20_POLY1305_SHA256, TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256}
			srv := NewServer(sc, streamAbove)
			spill := &countSpill{Spill: NewMemSpill()}
			srv.SetSpill(spill, streamAbove)
			got, err := serveSmallBuffer(srv, b, streamAbove)
			if err != io.EOF {
				t.Fatal(err)
			}
			if !bytes.Equal(got, data) {
				t.Fatalf("got %d bytes, want %d", len(got), len(data))
			}
			if err := wait(); err != nil {
				t.Fatal(err)
			}
			// the NVM cost of streaming: every ciphertext byte of a streamed record written once
			// (flash wear); Go's first records are small (opened whole)
			t.Logf("1 MiB: spill written %d B in %d writes, read %d B in %d reads", spill.wb, spill.wn, spill.rb, spill.rn)
			if spill.wb < len(data)*9/10 || spill.wb > len(data)+len(data)/1000 {
				t.Fatalf("spill written %d B for %d B of data", spill.wb, len(data))
			}
			if cs := srv.ConnectionState(); cs.CipherSuite != TLS_CHACHA20_POLY1305_SHA256 &&
				cs.CipherSuite != TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256 {
				t.Fatalf("suite %04x", cs.CipherSuite)
			}
		})
	}
}

// countSpill counts what goes through a Spill.
type countSpill struct {
	Spill
	wb, wn, rb, rn int
}

func (c *countSpill) WriteAt(p []byte, off int64) (int, error) {
	c.wb, c.wn = c.wb+len(p), c.wn+1
	return c.Spill.WriteAt(p, off)
}

func (c *countSpill) ReadAt(p []byte, off int64) (int, error) {
	c.rb, c.rn = c.rb+len(p), c.rn+1
	return c.Spill.ReadAt(p, off)
}

// serveSmallBuffer runs srv over conn with a receive buffer of size bytes, writing its output
// and collecting the application data until an error (io.EOF at close_notify).
func serveSmallBuffer(srv *Engine, conn io.ReadWriter, size int) ([]byte, error) {
	buf := make([]byte, size)
	out := make([]byte, 4096)
	var got []byte
	have := 0
	for {
		for {
			n := srv.Output(out)
			if n == 0 {
				break
			}
			if _, err := conn.Write(out[:n]); err != nil {
				return got, err
			}
		}
		for p := srv.StreamedPlain(); p != nil; p = srv.StreamedPlain() {
			got = append(got, p...)
			srv.TakeStreamed(len(p))
		}
		c, p, err := srv.Unwrap(buf[:have])
		if err != nil {
			for n := srv.Output(out); n > 0; n = srv.Output(out) {
				conn.Write(out[:n])
			}
			return got, err
		}
		got = append(got, p...)
		if c > 0 {
			have = copy(buf, buf[c:have])
			continue
		}
		if have == len(buf) {
			return got, errors.New("receive buffer full")
		}
		n, err := conn.Read(buf[have:])
		if err != nil {
			return got, err
		}
		have += n
	}
}

// FuzzStreamOpen: any record body (a sealed record, forged or not, or random bytes) split at any
// points gives the streaming opener the verdict and plaintext the whole-record opener gives. mode
// picks the record: 0, TLS 1.3 with body as the TLSInnerPlaintext sealed; 1, TLS 1.3 with body as
// the raw ciphertext; 2–4, TLS 1.2 with body sealed as an alert, handshake or application data.
func FuzzStreamOpen(f *testing.F) {
	f.Add([]byte("hello"), uint16(0), uint8(0), []byte{1, 2, 3})
	f.Add(bytes.Repeat([]byte{0xab}, 9000), uint16(4000), uint8(1), []byte{200, 1})
	f.Add(bytes.Repeat([]byte{0}, 6000), uint16(0), uint8(0), []byte{0})
	f.Add(append([]byte{typeKeyUpdate, 0, 0, 1, 1, recordHandshake}, make([]byte, 5000)...), uint16(0), uint8(0), []byte{7})
	f.Add(append([]byte{1, 0, recordAlert}, make([]byte, 5000)...), uint16(0), uint8(0), []byte{})
	f.Add(bytes.Repeat([]byte{1}, 16385), uint16(0), uint8(0), []byte{255, 255})
	f.Add(bytes.Repeat([]byte{2}, 5000), uint16(1), uint8(0), []byte{13})
	f.Add(bytes.Repeat([]byte{3}, 16390), uint16(0), uint8(4), []byte{40})
	f.Add([]byte{1, 0}, uint16(0), uint8(2), []byte{1})
	f.Add(append([]byte{typeClientHello, 0, 0x10, 0}, make([]byte, 4096)...), uint16(0), uint8(3), []byte{9, 9})
	// a zero plaintext but for its first byte, which equals the last ciphertext byte: the spill's
	// ciphertext followed by unwritten zeros contains the plaintext's first 64 bytes (the old
	// "plaintext in the spill" check failed CI on such an input)
	f.Add(append([]byte{238}, make([]byte, 80)...), uint16(0), uint8(0), []byte{})
	f.Fuzz(checkStreamOpen)
}

// checkStreamOpen is FuzzStreamOpen's property: a record (sealed or raw, TLS 1.3 or 1.2, one byte
// perhaps flipped) fed whole and streamed in pieces gives the same plaintext and the same error,
// and no plaintext reaches the spill.
func checkStreamOpen(t *testing.T, body []byte, flip uint16, mode uint8, splits []byte) {
	{
		if len(body) > maxCiphertext {
			return
		}
		mode %= 5
		v12 := mode >= 2
		whole, _, sealer := fakePair(t, nil, v12)
		strm, spill, sealer2 := fakePair(t, NewMemSpill(), v12)
		var rec []byte
		switch mode {
		case 0:
			rec = sealRaw(sealer, body)
			sealRaw(sealer2, body)
		case 1:
			rec = append([]byte{recordAppData, 3, 3, byte(len(body) >> 8), byte(len(body))}, body...)
		default:
			typ := recordAlert + mode - 2
			rec = sealRaw12(sealer, typ, body)
			sealRaw12(sealer2, typ, body)
		}
		if flip != 0 {
			rec[int(flip)%len(rec)] ^= 0x10
		}
		pw, ew := streamFeed(whole, rec, 0)
		var ps []byte
		var es error
		if len(splits) == 0 {
			ps, es = streamFeed(strm, rec, 1)
		} else {
			ps, es = feedSplits(strm, rec, splits)
		}
		if !bytes.Equal(pw, ps) || fmt.Sprint(ew) != fmt.Sprint(es) {
			t.Fatalf("whole: %d bytes, %v; streamed: %d bytes, %v", len(pw), ew, len(ps), es)
		}
		// The spill holds ciphertext only. A record sealed and left whole is spilled from offset 0: what
		// was written there is its ciphertext. Otherwise (a flip may have moved the record's bounds)
		// the plaintext's first 64 bytes appear nowhere in the spill — checked only when they hold at
		// least 8 non-zero bytes: a prefix of zeros and one byte matched the end of some ciphertext
		// followed by unwritten zeros once in 256 runs (it failed CI).
		ms := spill.(MemSpill)
		if clen := min(len(rec)-recordHeaderLen-tagLen, len(ms)); mode != 1 && flip == 0 && clen > 0 &&
			!bytes.Equal(ms[:clen], make([]byte, clen)) && !bytes.Equal(ms[:clen], rec[recordHeaderLen:recordHeaderLen+clen]) {
			t.Fatal("the spill holds other bytes than the record's ciphertext")
		}
		if mode != 1 && len(body) > 64 && bytes.Count(body[:64], []byte{0}) <= 56 && bytes.Contains(ms, body[:64]) {
			t.Fatal("plaintext in the spill")
		}
	}
}

// feedSplits is streamFeed with pieces of sizes drawn from splits.
func feedSplits(srv *Engine, wire []byte, splits []byte) ([]byte, error) {
	return streamFeedBy(srv, wire, func(i int) int {
		return int(splits[i%len(splits)]) * int(splits[(i+1)%len(splits)]) % 2000
	})
}

// fakePair returns an established TLS 1.3 (or 1.2) ChaCha20-Poly1305 server engine (keys set by hand, no
// handshake: the fuzzer runs it per input) and a halfConn sealing with its read key. With spill
// the server streams records above 64 bytes.
func fakePair(t testing.TB, spill Spill, v12 bool) (*Engine, Spill, *halfConn) {
	e := NewServer(serverConfig(t, false), DefaultRecordBuf)
	e.suite = suiteByID(TLS_CHACHA20_POLY1305_SHA256)
	if v12 {
		e.v12, e.suite = true, suite12ByID(TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256)
	}
	e.ks.hlen = 32
	e.hs, e.state, e.rdOn, e.wrOn = hsDone, Established, true, true
	e.release()
	var hc halfConn
	for i := range hc.secret[:32] {
		hc.secret[i] = byte(i) // the traffic secret (TLS 1.3) or the key (TLS 1.2)
	}
	hc.nonce = [12]byte{1, 2, 3} // the IV (sequence 0)
	e.rd.secret, e.rd.nonce = hc.secret, hc.nonce
	e.wr.secret, e.wr.nonce = hc.secret, hc.nonce
	if spill != nil {
		e.SetSpill(spill, 64)
	}
	return e, spill, &hc
}

// sealRaw seals inner as a TLS 1.3 record with x/crypto's chacha20poly1305 (an independent AEAD)
// under hc's key and next nonce.
func sealRaw(hc *halfConn, inner []byte) []byte {
	var key [32]byte
	(&keySchedule{hlen: 32}).expandLabel(key[:], hc.secret[:32], "key", nil) // RFC 8446 §7.3
	a, _ := chacha20poly1305.New(key[:])
	n := len(inner) + tagLen
	rec := []byte{recordAppData, 3, 3, byte(n >> 8), byte(n)}
	rec = a.Seal(rec, hc.makeNonce(), inner, rec[:recordHeaderLen])
	hc.next()
	return rec
}

// sealRaw12 seals pt as a TLS 1.2 ChaCha20-Poly1305 record of type typ (RFC 7905: the nonce is
// the IV XOR the sequence number; the additional data seq || type || version || length).
func sealRaw12(hc *halfConn, typ byte, pt []byte) []byte {
	a, _ := chacha20poly1305.New(hc.secret[:32]) // a TLS 1.2 key takes the secret's place
	aad := append([]byte(nil), hc.setAAD12(typ, len(pt))...)
	n := len(pt) + tagLen
	rec := []byte{typ, 3, 3, byte(n >> 8), byte(n)}
	rec = a.Seal(rec, hc.makeNonce(), pt, aad[:])
	hc.next()
	return rec
}

// BenchmarkOpen16K: opening a 16 KiB record whole (in place) against streaming it in 1,460-byte
// segments through an in-memory spill (the CPU of the streamed path: MAC as it arrives, then
// decrypt from the spill in 512-byte chunks).
func BenchmarkOpen16K(b *testing.B) {
	for _, streamed := range []bool{false, true} {
		b.Run(map[bool]string{false: "whole", true: "streamed"}[streamed], func(b *testing.B) {
			var spill Spill
			if streamed {
				spill = NewMemSpill()
			}
			srv, _, hc := fakePair(b, spill, false)
			data := pattern(maxPlaintext, 1)
			inner := append(data, recordAppData)
			recs := make([][]byte, 64)
			buf := make([]byte, DefaultRecordBuf)
			b.SetBytes(maxPlaintext)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if i%len(recs) == 0 {
					b.StopTimer()
					for j := range recs {
						recs[j] = sealRaw(hc, inner)
					}
					b.StartTimer()
				}
				rec := recs[i%len(recs)]
				if !streamed {
					copy(buf, rec)
					if _, p, err := srv.Unwrap(buf[:len(rec)]); err != nil || len(p) != maxPlaintext {
						b.Fatal(err)
					}
					continue
				}
				for off := 0; off < len(rec); {
					c, _, err := srv.Unwrap(rec[off:min(off+1460, len(rec))])
					if err != nil {
						b.Fatal(err)
					}
					off += c
				}
				for p := srv.StreamedPlain(); p != nil; p = srv.StreamedPlain() {
					srv.TakeStreamed(len(p))
				}
			}
		})
	}
}

// TestPreferChaCha: a server with PreferChaCha selects ChaCha20-Poly1305 when the client offers
// it after AES-GCM (our client's and Go's order on AES hardware), in TLS 1.3 and 1.2; without
// the option the client's first suite wins, and a client offering only AES-GCM still connects
// with AES-GCM.
func TestPreferChaCha(t *testing.T) {
	for _, c := range []struct {
		prefer, v12, aesOnly bool
		want                 uint16
	}{
		{true, false, false, TLS_CHACHA20_POLY1305_SHA256},
		{true, true, false, TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256},
		{false, false, false, TLS_AES_128_GCM_SHA256},
		{false, true, false, TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256},
		{true, false, true, TLS_AES_256_GCM_SHA384},
		{true, true, true, TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384},
	} {
		sc, cc := serverConfig(t, false), clientConfig(t)
		sc.PreferChaCha = c.prefer
		if c.v12 {
			cc.MaxVersion = VersionTLS12
		}
		if c.aesOnly {
			cc.CipherSuites = []uint16{TLS_AES_256_GCM_SHA384, TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384}
		}
		srv, cl := NewServer(sc, 0), NewClient(cc, 0)
		if ea, eb := pump(t, cl, srv); ea != nil || eb != nil {
			t.Fatal(ea, eb)
		}
		if got := srv.ConnectionState().CipherSuite; got != c.want {
			t.Errorf("%+v: suite %04x", c, got)
		}
	}
	// Go's client (an independent implementation) puts AES-GCM first on AES hardware.
	for _, v12 := range []bool{false, true} {
		a, b := tcpPair(t)
		gc := goClientConfig(t)
		if v12 {
			gc.MinVersion, gc.MaxVersion = 0x0303, 0x0303
		}
		wait := runPeer(func() error {
			c := gotls.Client(a, gc)
			if err := c.Handshake(); err != nil {
				return err
			}
			if s := c.ConnectionState().CipherSuite; s != gotls.TLS_CHACHA20_POLY1305_SHA256 &&
				s != gotls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256 {
				return fmt.Errorf("suite %04x", s)
			}
			return c.Close()
		})
		sc := serverConfig(t, false)
		sc.PreferChaCha = true
		srv := NewServer(sc, 0)
		if _, err := serveSmallBuffer(srv, b, DefaultRecordBuf); err != io.EOF {
			t.Fatal(err)
		}
		if err := wait(); err != nil {
			t.Fatal(err)
		}
	}
}

// TestStreamStateSize: streamStateSize is what lending the streaming state allocates (the state,
// the Poly1305 state and its wrapper, in their size classes).
var streamSink *streamState

func TestStreamStateSize(t *testing.T) {
	var m0, m1 runtime.MemStats
	runtime.ReadMemStats(&m0)
	streamSink = &streamState{mac: poly1305.New(new([32]byte))}
	runtime.ReadMemStats(&m1)
	if got := int(m1.TotalAlloc - m0.TotalAlloc); got != streamStateSize {
		t.Fatalf("the streaming state takes %d bytes, streamStateSize says %d", got, streamStateSize)
	}
}

// TestSpillConfigShared: SetSpillConfig refers to the caller's SpillConfig (no copy, no
// allocation), streams records as SetSpill does, and a config without a Spill (or nil) streams
// nothing: a big record is then taken whole.
func TestSpillConfigShared(t *testing.T) {
	spill := NewMemSpill()
	cfg := &SpillConfig{Spill: spill, Above: streamAbove}
	for _, on := range []bool{true, false} {
		sc, cc := serverConfig(t, false), clientConfig(t)
		sc.CipherSuites = []uint16{TLS_CHACHA20_POLY1305_SHA256}
		cc.MaxRecordOut = maxPlaintext
		srv, cl := NewServer(sc, DefaultRecordBuf), NewClient(cc, 0)
		if a := testing.AllocsPerRun(10, func() { srv.SetSpillConfig(cfg) }); a != 0 || srv.spill != cfg {
			t.Fatalf("SetSpillConfig: %v allocations, kept %p (want %p)", a, srv.spill, cfg)
		}
		if !on {
			srv.SetSpillConfig(&SpillConfig{Above: streamAbove})
		}
		if ea, eb := pump(t, cl, srv); ea != nil || eb != nil {
			t.Fatal(ea, eb)
		}
		d := pattern(16384, 7)
		got, err := streamFeed(srv, wrapApp(t, cl, d), 1460)
		if err != nil || !bytes.Equal(got, d) || (srv.sp != nil) != on {
			t.Fatalf("on=%v: %d bytes, %v, streamed %v", on, len(got), err, srv.sp != nil)
		}
	}
}
