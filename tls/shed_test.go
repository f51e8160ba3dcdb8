package tls

import (
	"bytes"
	"fmt"
	"io"
	"runtime"
	"strings"
	"testing"
	"testing/cryptotest"
	"unsafe"
)

// shedCase is one protocol version and suite of the Shed tests, with the server's certificate.
type shedCase struct {
	name  string
	suite uint16
	v12   bool
	rsa   bool
}

func shedCases() []shedCase {
	var cs []shedCase
	for _, s := range []uint16{TLS_AES_128_GCM_SHA256, TLS_AES_256_GCM_SHA384, TLS_CHACHA20_POLY1305_SHA256} {
		cs = append(cs, shedCase{fmt.Sprintf("tls13/%04x", s), s, false, false})
	}
	for _, s := range suites12List {
		cs = append(cs, shedCase{fmt.Sprintf("tls12-ecdsa/%04x", s), s, true, false})
	}
	for _, s := range rsaSuites12 {
		cs = append(cs, shedCase{fmt.Sprintf("tls12-rsa/%04x", s), s, true, true})
	}
	return cs
}

// configs returns fresh seeded configurations for the case (a fresh Rand each time, so two runs
// draw the same bytes).
func (sc shedCase) configs(t testing.TB) (*Config, *Config) {
	s := serverConfig(t, false)
	if sc.rsa {
		s = rsaServerConfig(t)
	}
	c := clientConfig(t)
	c.CipherSuites = []uint16{sc.suite}
	if sc.v12 {
		c.MaxVersion = VersionTLS12
		c.Groups = groupsWithP256(X25519)
	}
	return s, c
}

// shedExchange is one seeded exchange between our client and our server, recorded: every byte
// both engines produced, in order. With shed set, both engines Shed before every call that seals
// or opens a record (handshake flights, application records, KeyUpdates, alerts).
type shedExchange struct {
	t        testing.TB
	c, s     *Engine
	shed     bool
	released int // bytes Shed released, in total
	sheds    int // Shed calls that released something
	wire     bytes.Buffer
}

func (x *shedExchange) maybeShed() {
	if !x.shed {
		return
	}
	for _, e := range []*Engine{x.c, x.s} {
		if n := e.Shed(); n > 0 {
			x.released += n
			x.sheds++
		}
		if n := e.Shed(); n != 0 {
			x.t.Fatalf("a second Shed released %d bytes", n)
		}
	}
}

// flush moves a's pending output to b record by record (b shed before each one) and returns
// b's last error.
func (x *shedExchange) flush(a, b *Engine) error {
	var buf [32 << 10]byte
	x.maybeShed()
	n := 0
	for {
		m := a.Output(buf[n:])
		if m == 0 {
			break
		}
		n += m
	}
	x.wire.Write(buf[:n])
	in := buf[:n]
	var err error
	for len(in) > 0 && err == nil {
		x.maybeShed()
		var k int
		k, _, err = b.Unwrap(in)
		if err == nil && k == 0 {
			x.t.Fatal("an incomplete record in a flight")
		}
		in = in[k:]
	}
	return err
}

// record sends msg from a to b as one application data record, given to b in two pieces: the
// first half alone (b must wait for the rest: consumed 0), a Shed (in shed mode), then the whole.
func (x *shedExchange) record(a, b *Engine, msg []byte) {
	hdr, tail := a.Overhead()
	rec := make([]byte, hdr+len(msg)+tail)
	copy(rec[hdr:], msg)
	x.maybeShed()
	n := a.Wrap(rec, len(msg))
	if n != len(rec) {
		x.t.Fatalf("Wrap of %d bytes returned %d", len(msg), n)
	}
	x.wire.Write(rec)
	k, pt, err := b.Unwrap(bytes.Clone(rec[:n/2]))
	if k != 0 || pt != nil || err != nil {
		x.t.Fatalf("half a record: %d %q %v", k, pt, err)
	}
	x.maybeShed()
	k, pt, err = b.Unwrap(rec)
	if err != nil || k != n || !bytes.Equal(pt, msg) {
		x.t.Fatalf("Unwrap: %d %v (%d bytes of %d)", k, err, len(pt), len(msg))
	}
}

// run does the handshake, rounds records each way (a KeyUpdate with update_requested half way in
// TLS 1.3), then close_notify both ways.
func (x *shedExchange) run(sc shedCase, rounds int) {
	t := x.t
	// Since Go 1.26 a signature (ECDSA, RSA-PSS) draws from crypto's own source, not Config.Rand:
	// seeded here, the handshakes of two runs are the same bytes.
	cryptotest.SetGlobalRandom(t.(*testing.T), 14)
	scfg, ccfg := sc.configs(t)
	x.s, x.c = NewServer(scfg, 0), NewClient(ccfg, 0)
	for i := 0; i < 10 && (x.s.State() == Handshaking || x.c.Pending() > 0 || x.s.Pending() > 0); i++ {
		if err := x.flush(x.c, x.s); err != nil {
			t.Fatalf("server: %v", err)
		}
		if err := x.flush(x.s, x.c); err != nil {
			t.Fatalf("client: %v", err)
		}
	}
	if x.c.State() != Established || x.s.State() != Established {
		t.Fatalf("states %v %v", x.c.State(), x.s.State())
	}
	if cs := x.s.ConnectionState(); cs.CipherSuite != sc.suite || (cs.Version == VersionTLS12) != sc.v12 {
		t.Fatalf("negotiated %+v", cs)
	}
	msg := make([]byte, x.c.MaxPlaintext())
	for i := range msg {
		msg[i] = byte(i * 7)
	}
	for i := 0; i < rounds; i++ {
		if i == rounds/2 && !sc.v12 {
			x.maybeShed()
			if err := x.c.KeyUpdate(true); err != nil {
				t.Fatal(err)
			}
			if err := x.flush(x.c, x.s); err != nil {
				t.Fatal(err)
			}
			if err := x.flush(x.s, x.c); err != nil { // the server's own KeyUpdate (§4.6.3)
				t.Fatal(err)
			}
		}
		x.record(x.c, x.s, msg[:1+(i*397)%len(msg)])
		x.record(x.s, x.c, msg[:1+(i*211+50)%len(msg)])
	}
	x.maybeShed()
	x.c.Close()
	if err := x.flush(x.c, x.s); err != io.EOF {
		t.Fatalf("close_notify to the server: %v", err)
	}
	x.maybeShed()
	x.s.Close()
	if err := x.flush(x.s, x.c); err != io.EOF {
		t.Fatalf("close_notify to the client: %v", err)
	}
}

// TestShedIdenticalRecords: an exchange in which both engines Shed before every record (handshake,
// application data both ways, each record also given in two pieces with a Shed between them, a
// KeyUpdate in TLS 1.3, close_notify) produces exactly the bytes of the same seeded exchange
// without Shed, for every suite of both versions, in both roles.
func TestShedIdenticalRecords(t *testing.T) {
	// A first exchange pays for one-time state that draws randomness (the first run in a process
	// differs from the next ones).
	(&shedExchange{t: t}).run(shedCases()[0], 1)
	for _, sc := range shedCases() {
		t.Run(sc.name, func(t *testing.T) {
			plain := &shedExchange{t: t}
			plain.run(sc, 12)
			again := &shedExchange{t: t}
			again.run(sc, 12)
			if !bytes.Equal(plain.wire.Bytes(), again.wire.Bytes()) {
				t.Fatal("two runs without Shed differ: the exchange is not deterministic")
			}
			shed := &shedExchange{t: t, shed: true}
			shed.run(sc, 12)
			if shed.sheds == 0 {
				t.Fatal("nothing was shed")
			}
			a, b := plain.wire.Bytes(), shed.wire.Bytes()
			if !bytes.Equal(a, b) {
				i := 0
				for i < min(len(a), len(b)) && a[i] == b[i] {
					i++
				}
				t.Fatalf("with Shed the wire differs from byte %d (%d vs %d bytes)", i, len(a), len(b))
			}
			t.Logf("%d bytes on the wire, %d Sheds released %d bytes", len(a), shed.sheds, shed.released)
		})
	}
}

// TestShedIdle: an established idle engine releases both directions' AEAD state (768 bytes each
// for AES-GCM, 32 for ChaCha20-Poly1305), a second Shed releases nothing, and the next records
// rebuild it; a failed or closed engine sheds as well (a server also its drained post-handshake
// buffers), and one before its first key sheds nothing.
func TestShedIdle(t *testing.T) {
	for _, sc := range shedCases() {
		t.Run(sc.name, func(t *testing.T) {
			scfg, ccfg := sc.configs(t)
			s, c := NewServer(scfg, 0), NewClient(ccfg, 0)
			if n := s.Shed(); n != 0 {
				t.Fatalf("a new server shed %d", n)
			}
			if ea, eb := pump(t, c, s); ea != nil || eb != nil {
				t.Fatal(ea, eb)
			}
			want := 2 * 768
			if suiteInfoByID(sc.suite).chacha {
				want = 2 * 32
			}
			for _, e := range []*Engine{s, c} {
				if n := e.Shed(); n != want {
					t.Fatalf("Shed released %d, want %d", n, want)
				}
				if n := e.Shed(); n != 0 {
					t.Fatalf("second Shed released %d", n)
				}
			}
			transfer(t, c, s, []byte("after a shed"))
			if n := c.Shed(); n != want/2 {
				t.Fatalf("client: only its write state was rebuilt, Shed released %d", n)
			}
			if n := s.Shed(); n != want/2 {
				t.Fatalf("server: only its read state was rebuilt, Shed released %d", n)
			}
			transfer(t, s, c, []byte("the answer"))
			// A tampered record after a Shed is refused as before (the rebuilt key is the key).
			hdr, tail := c.Overhead()
			rec := make([]byte, hdr+10+tail)
			n := c.Wrap(rec, 10)
			rec[n-1] ^= 1
			s.Shed()
			_, _, err := s.Unwrap(rec[:n])
			expectAlert(t, err, AlertBadRecordMAC, false)
			s.Shed()
			// the alert's output buffer (lent post-handshake) goes back once drained, and only then
			if err := drainTo(s, c); err == nil || s.Shed() != PostBufSize || s.Shed() != 0 {
				t.Fatalf("the alert did not reach the client (%v), or Shed did not give back the post-handshake buffers once", err)
			}
		})
	}
}

// drainTo gives a's pending output to b and returns b's error.
func drainTo(a, b *Engine) error {
	buf := make([]byte, 4096)
	n := a.Output(buf)
	in := buf[:n]
	for len(in) > 0 {
		k, _, err := b.Unwrap(in)
		if err != nil {
			return err
		}
		in = in[k:]
	}
	return nil
}

// TestShedAllocs: without Shed a record costs no allocation (TestSteadyStateAllocs); after a Shed
// the first record of a burst rebuilds the state (AES-GCM: 2 allocations per direction, crypto/aes
// and crypto/cipher; ChaCha20-Poly1305: 1), and the rest of the burst allocates nothing.
func TestShedAllocs(t *testing.T) {
	for _, suite := range []uint16{TLS_AES_128_GCM_SHA256, TLS_AES_256_GCM_SHA384, TLS_CHACHA20_POLY1305_SHA256} {
		cc := clientConfig(t)
		cc.CipherSuites = []uint16{suite}
		s, c := handshakePair(t, serverConfig(t, false), cc)
		hdr, tail := c.Overhead()
		rec := make([]byte, hdr+1024+tail)
		round := func() {
			n := c.Wrap(rec, 1024)
			if _, _, err := s.Unwrap(rec[:n]); err != nil {
				t.Fatal(err)
			}
			n = s.Wrap(rec, 1024)
			if _, _, err := c.Unwrap(rec[:n]); err != nil {
				t.Fatal(err)
			}
		}
		want := 2.0
		if suite == TLS_CHACHA20_POLY1305_SHA256 {
			want = 1
		}
		// the server's burst: one request record in, one response record out
		burst := testing.AllocsPerRun(50, func() {
			s.Shed()
			for i := 0; i < 8; i++ {
				round()
			}
		})
		if burst != 2*want {
			t.Fatalf("suite %04x: a burst after the server's Shed allocates %v, want %v", suite, burst, 2*want)
		}
		if steady := testing.AllocsPerRun(50, round); steady != 0 {
			t.Fatalf("suite %04x: %v allocations per round without Shed", suite, steady)
		}
	}
}

// TestAEADStateSize: the bytes Shed reports are what an AEAD of the suite keeps on the heap
// (measured over many AEADs; up to three times, as another goroutine of the test binary may
// allocate meanwhile).
func TestAEADStateSize(t *testing.T) {
	for _, id := range []uint16{TLS_AES_128_GCM_SHA256, TLS_AES_256_GCM_SHA384, TLS_CHACHA20_POLY1305_SHA256} {
		s := suiteInfoByID(id)
		key := make([]byte, s.keyLen)
		want := float64(s.aeadStateSize())
		var per float64
		for try := 0; try < 3; try++ {
			const n = 10000
			keep := make([]any, n)
			var a, b runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&a)
			for i := range keep {
				keep[i], _ = s.newAEAD(key)
			}
			runtime.GC()
			runtime.ReadMemStats(&b)
			per = float64(int64(b.HeapAlloc)-int64(a.HeapAlloc)) / n
			runtime.KeepAlive(keep)
			if per >= want*0.9 && per <= want*1.1+8 {
				break
			}
		}
		if per < want*0.9 || per > want*1.1+8 {
			t.Errorf("suite %04x: an AEAD keeps %.0f bytes, Shed reports %v", id, per, want)
		}
		t.Logf("suite %04x: %.0f bytes retained per AEAD", id, per)
	}
}

// TestEngineSize guards the Engine's size class: the struct and the allocator's 8-byte header
// (objects with pointers over 512 bytes; none under) within 384 bytes (the staging buffer lives in
// the handshake state, the spill configuration behind a pointer, the peer's certificates and a
// configuration error in engineRare, lent when there are any; the HKDF / PRF scratch lives on the
// stack, not in the engine; a server's post-handshake buffers are lent, postBufs; the traffic
// keys are derived from the secrets when an AEAD is built, not kept; each direction keeps its next
// nonce, not the IV, so no nonce scratch; the TLS 1.2 AAD scratch is in a direction's unused secret
// tail; a server name found in our own certificate is kept as its place there); the Config's within 224 bytes (client-only fields behind Config.Client, the ticket key
// inline, sizes narrowed); and the handshake state's size, on which
// the size classes of the handshake slab depend (handshakeMemory).
func TestEngineSize(t *testing.T) {
	if n := unsafe.Sizeof(Engine{}); n > 384 { // no allocator header at 512 bytes and under
		t.Errorf("Engine takes %d bytes, past the 384-byte size class", n)
	}
	if n := unsafe.Sizeof(Config{}); n > 224 { // one per card: the test hooks and the client part behind a pointer each
		t.Errorf("Config takes %d bytes, past the 224-byte size class", n)
	}
	if hsSize > 1432 {
		t.Errorf("hsState takes %d bytes: the handshake slabs of a card server move to a larger size class", hsSize)
	}
}

// BenchmarkAEADRebuild is what the first record of a burst after Shed pays per direction:
// deriving the key from the traffic secret (RFC 8446 §7.3) and building the AEAD from it.
func BenchmarkAEADRebuild(b *testing.B) {
	for _, id := range []uint16{TLS_AES_128_GCM_SHA256, TLS_AES_256_GCM_SHA384, TLS_CHACHA20_POLY1305_SHA256} {
		s := suiteInfoByID(id)
		b.Run(fmt.Sprintf("%04x", id), func(b *testing.B) {
			var hc halfConn
			k := &keySchedule{hlen: 32, sha384: s.sha384}
			if s.sha384 {
				k.hlen = 48
			}
			b.ReportAllocs()
			for b.Loop() {
				hc.aead = nil
				if hc.cipher(k, s) == nil {
					b.Fatal("no AEAD")
				}
			}
		})
	}
}

// TestServerNameKept: the server name a client sent (up to 255 bytes; a longer one is refused
// with decode_error, as before) is reported during and after the handshake, and ConnectionState
// allocates nothing for it.
func TestServerNameKept(t *testing.T) {
	long := strings.Repeat("a", 63) + "." + strings.Repeat("b", 63) + "." + strings.Repeat("c", 63) + "." +
		strings.Repeat("d", 63)
	for _, name := range []string{"card.example", long} {
		cc := clientConfig(t)
		cc.Client.ServerName, cc.Client.InsecureSkipVerify = name, true
		s, _ := handshakePair(t, serverConfig(t, false), cc)
		if got := s.ConnectionState().ServerName; got != name {
			t.Fatalf("server name %q, want %q", got, name)
		}
		if a := testing.AllocsPerRun(20, func() { _ = s.ConnectionState() }); a != 0 {
			t.Fatalf("ConnectionState allocates %v", a)
		}
	}
	cc := clientConfig(t)
	cc.Client.ServerName, cc.Client.InsecureSkipVerify = long+"e", true
	errC, errS := pump(t, NewClient(cc, 0), NewServer(serverConfig(t, false), 0))
	expectAlert(t, errS, AlertDecodeError, false)
	expectAlert(t, errC, AlertDecodeError, true)
}
