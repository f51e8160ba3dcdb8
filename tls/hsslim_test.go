package tls

import (
	"bytes"
	gotls "crypto/tls"
	"net"
	"testing"
	"time"
)

// goClientHello returns the first record a crypto/tls client sends (its ClientHello) with curve
// preferences groups: with X25519MLKEM768 first it carries a hybrid share and an X25519 share,
// about 1.4 KB, as Chromium's does.
func goClientHello(t *testing.T, groups ...gotls.CurveID) []byte {
	t.Helper()
	c1, c2 := net.Pipe()
	defer c1.Close()
	defer c2.Close()
	gc := goClientConfig(t)
	gc.CurvePreferences = groups
	gc.NextProtos = []string{"h2", "http/1.1"}
	go func() {
		c := gotls.Client(c1, gc)
		c.SetDeadline(time.Now().Add(20 * time.Second))
		c.Handshake() // fails once c2 is closed
	}()
	c2.SetDeadline(time.Now().Add(20 * time.Second))
	hdr := make([]byte, 5)
	if _, err := readFull(c2, hdr); err != nil {
		t.Fatal(err)
	}
	rec := make([]byte, 5+(int(hdr[3])<<8|int(hdr[4])))
	copy(rec, hdr)
	if _, err := readFull(c2, rec[5:]); err != nil {
		t.Fatal(err)
	}
	return rec
}

func readFull(c net.Conn, b []byte) (int, error) {
	n := 0
	for n < len(b) {
		m, err := c.Read(b[n:])
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// feedSplit gives e the bytes in as two writes cut at k (a TCP segment boundary anywhere), the
// way a session does: what Unwrap does not consume stays for the next call, with the new bytes
// after it. It returns the first error.
func feedSplit(e *Engine, in []byte, k int) error {
	var held []byte
	for _, part := range [][]byte{in[:k], in[k:]} {
		held = append(held, part...)
		for len(held) > 0 {
			n, _, err := e.Unwrap(held)
			if err != nil {
				return err
			}
			if n == 0 {
				break
			}
			held = held[n:]
		}
	}
	if len(held) > 0 {
		return errStuck
	}
	return nil
}

var errStuck = &AlertError{}

func drain(e *Engine) []byte {
	var out []byte
	buf := make([]byte, 700) // smaller than the flight: Output is called several times
	for {
		n := e.Output(buf)
		if n == 0 {
			return out
		}
		out = append(out, buf[:n]...)
	}
}

// TestClientHelloSplitAnywhere: a ClientHello cut at every byte boundary (two TCP segments) gives
// the server's answer byte for byte as the whole hello does — for a real hello with an
// X25519MLKEM768 share (Go's crypto/tls, ≈ 1.4 KB: in the ClientHello area of the server's slab)
// and for one bigger than that area (the buffer grows, under a HandshakeBudget, and the flight is
// still staged whole). The server signs with Ed25519 and answers X25519, so its answer is
// deterministic; with X25519MLKEM768 chosen (ML-KEM encapsulation draws its own randomness) the
// answer has the same length at every cut.
func TestClientHelloSplitAnywhere(t *testing.T) {
	goCH := goClientHello(t, gotls.X25519MLKEM768, gotls.X25519)
	o := chOpts{versions: []uint16{VersionTLS13}, groups: []CurveID{X25519}, order: []CurveID{X25519},
		shares: map[CurveID][]byte{X25519: x25519Share()}, sigAlgs: []SignatureScheme{Ed25519}}
	o.extra = append([]byte{0xfe, 0x0d, 0x0b, 0xb8}, make([]byte, 3000)...) // an ECH-sized extension
	big := buildCH(o)
	for _, tc := range []struct {
		name   string
		rec    []byte
		groups []CurveID
		exact  bool
	}{
		{"crypto/tls hello, X25519 chosen", goCH, []CurveID{X25519}, true},
		{"crypto/tls hello, X25519MLKEM768 chosen", goCH, nil, false},
		{"3 KB hello (grown buffer)", big, []CurveID{X25519}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := func() *Config {
				c := serverConfig(t, true)
				c.Groups = tc.groups
				c.ALPN = []string{"http/1.1"}
				c.HandshakeBudget = NewHandshakeBudget(1, 0)
				return c
			}
			whole := NewServer(cfg(), 0)
			if err := feedSplit(whole, tc.rec, len(tc.rec)); err != nil {
				t.Fatal(err)
			}
			want := drain(whole)
			if len(want) < 500 {
				t.Fatalf("answer of %d bytes", len(want))
			}
			step := 1
			if testing.Short() {
				step = 7
			}
			for k := 1; k < len(tc.rec); k += step {
				s := NewServer(cfg(), 0)
				if err := feedSplit(s, tc.rec, k); err != nil {
					t.Fatalf("cut at %d: %v", k, err)
				}
				got := drain(s)
				if tc.exact && !bytes.Equal(got, want) || len(got) != len(want) {
					t.Fatalf("cut at %d: %d bytes of answer, want %d", k, len(got), len(want))
				}
				if s.hsGrown || s.helloArea || cap(s.hsBuf) != smallHSLen || s.cfg.HandshakeBudget.InUse() != 0 {
					t.Fatalf("cut at %d: reassembly buffer not back in the small area (%d)", k, cap(s.hsBuf))
				}
			}
		})
	}
}

// TestServerFlightSurvivesEarlyInput: the client's second flight reaches the server before
// Output has taken any of the server's flight (a session that reads before it writes): the
// flight, staged over the ClientHello's bytes, is not touched by the reassembly of what follows
// (it goes to the small area), and the server's output is byte for byte that of a server
// drained at once. A TLS 1.2 handshake (its ClientKeyExchange is the biggest message the small
// area takes) too, and one with a HelloRetryRequest (with a cookie) still waiting for Output when
// ClientHello2 arrives (reassembled behind it, nextHelloArea).
func TestServerFlightSurvivesEarlyInput(t *testing.T) {
	for _, tc := range []struct {
		name    string
		v       uint16
		groups  []CurveID
		flights int
	}{
		{"TLS 1.3", VersionTLS13, []CurveID{P256}, 2},
		{"TLS 1.2", VersionTLS12, []CurveID{P256}, 2},
		{"TLS 1.3 HelloRetryRequest", VersionTLS13, []CurveID{X25519, P256}, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ccfg := func() *Config {
				c := clientConfig(t)
				c.Groups = tc.groups
				c.MaxVersion = tc.v
				return c
			}
			scfg := func() *Config {
				c := serverConfig(t, true)
				c.Groups = []CurveID{P256}
				c.HRRCookie = true
				return c
			}
			// the reference: every flight drained as soon as it is queued
			s, c := NewServer(scfg(), 0), NewClient(ccfg(), 0)
			var toServer [][]byte
			var fromServer []byte
			for i := 0; i < 10 && (s.State() == Handshaking || c.State() == Handshaking); i++ {
				out := drain(c)
				if len(out) > 0 {
					toServer = append(toServer, out)
					if err := feedSplit(s, out, len(out)); err != nil {
						t.Fatal(err)
					}
				}
				in := drain(s)
				fromServer = append(fromServer, in...)
				if err := feedSplit(c, in, len(in)); err != nil {
					t.Fatal(err)
				}
			}
			if s.State() != Established || len(toServer) != tc.flights || s.ConnectionState().HelloRetry != (tc.flights == 3) {
				t.Fatalf("reference handshake: %v, %d client flights", s.State(), len(toServer))
			}
			// the same handshake, the server's output taken only at the end
			s2 := NewServer(scfg(), 0)
			for _, f := range toServer {
				if err := feedSplit(s2, f, len(f)/2); err != nil {
					t.Fatal(err)
				}
			}
			if got := drain(s2); s2.State() != Established || !bytes.Equal(got, fromServer) {
				t.Fatalf("server %v; output %d bytes, want %d (equal %v)", s2.State(), len(got), len(fromServer), bytes.Equal(got, fromServer))
			}
		})
	}
}

// TestServerRefusesBigUnexpected: a server grows its reassembly buffer only for a message it
// waits for. A big message of another type is refused at its header with unexpected_message (what
// the state machine answers it anyway), before anything is allocated or a HandshakeBudget slot is
// taken: a Certificate instead of the ClientHello; after the hello, a ClientHello where the
// client's Certificate or Finished is due.
func TestServerRefusesBigUnexpected(t *testing.T) {
	b := NewHandshakeBudget(1, 0)
	cfg := serverConfig(t, false)
	cfg.HandshakeBudget = b
	s := NewServer(cfg, 0)
	own := cap(s.hsBuf)
	expectAlert(t, feed(t, s, plainRec(recordHandshake, typeCertificate, 0, 0x20, 0)), AlertUnexpectedMessage, false)
	if b.Granted() != 0 || cap(s.hsBuf) != own {
		t.Fatal("a buffer grew for a Certificate before the ClientHello")
	}
	// A (TLS 1.2) client whose second flight starts with a 300-byte ClientHello.
	cc := clientConfig(t)
	cc.MaxVersion = VersionTLS12
	c := NewClient(cc, 0)
	s = NewServer(cfg, 0)
	if err := feed(t, s, drain(c)); err != nil {
		t.Fatal(err)
	}
	if err := feed(t, c, drain(s)); err != nil {
		t.Fatal(err)
	}
	expectAlert(t, feed(t, s, plainRec(recordHandshake, typeClientHello, 0, 1, 0x2c)), AlertUnexpectedMessage, false)
	if b.Granted() != 0 || cap(s.hsBuf) > smallHSLen {
		t.Fatal("a buffer grew for a ClientHello after the hello")
	}
	// With client certificates asked for, the client's certificate chain does grow it.
	cfg.ClientAuth = RequireAnyClientCert
	p := getPKI(t)
	cc = clientConfig(t)
	cc.Certificate, cc.Signer = p.ecChain, p.ecKey
	s, c = handshakePair(t, cfg, cc)
	if len(s.ConnectionState().PeerCertificates) == 0 || b.Granted() == 0 || b.InUse() != 0 {
		t.Fatalf("client certificate: granted %d, in use %d", b.Granted(), b.InUse())
	}
	roundTrip(t, c, s, []byte("after client auth"))
}

// TestFlightSmallPeerRecords: a server plans its flight's records at its own record size
// (MaxRecordOut 2,048); a client whose record_size_limit asks for smaller ones gets them (each
// record at most that many bytes of TLSInnerPlaintext, RFC 8449 §4): the flight is queued in the
// slab when the room it was given is enough for the extra headers and tags, else it moves to an
// output buffer of its own (a long chain, 2.7 KB, in 63-byte records). Every record the server sends is checked.
func TestFlightSmallPeerRecords(t *testing.T) {
	p := getPKI(t)
	long := append([][]byte{}, p.ecChain...)
	for range maxPeerCerts - 2 {
		long = append(long, p.ecChain[1])
	}
	for _, tc := range []struct {
		rsl   int
		chain [][]byte
		moved int // 1: moves, 0: stays in the slab, -1: either
	}{{64, p.ecChain, -1}, {64, long, 1}, {200, long, -1}, {16385, long, 0}} {
		sc := serverConfig(t, false)
		sc.MaxRecordOut = 2048
		sc.Groups = []CurveID{X25519} // no room for an ML-KEM ServerHello to spare
		sc.Certificate = tc.chain
		cc := clientConfig(t)
		cc.RecordSizeLimit = uint16(tc.rsl)
		cc.Client.InsecureSkipVerify = true
		s, c := NewServer(sc, 0), NewClient(cc, 0)
		planned := cap(s.out)
		if err := feed(t, s, drain(c)); err != nil {
			t.Fatal(err)
		}
		flight := drain(s)
		moved := cap(s.out) != planned
		for in := flight; len(in) > 0; {
			n := 5 + (int(in[3])<<8 | int(in[4]))
			if in[0] == recordAppData && n-5 > min(tc.rsl, 2049)+tagLen {
				t.Fatalf("record_size_limit %d: a %d-byte protected record", tc.rsl, n-5)
			}
			in = in[n:]
		}
		if err := feed(t, c, flight); err != nil {
			t.Fatal(err)
		}
		if ea, eb := pump(t, c, s); ea != nil || eb != nil || s.State() != Established {
			t.Fatal(ea, eb)
		}
		if tc.moved >= 0 && moved != (tc.moved == 1) {
			t.Fatalf("record_size_limit %d, chain %d certificates: flight moved %v", tc.rsl, len(tc.chain), moved)
		}
	}
}

// TestClientHelloSplitRules: the ClientHello's rules hold at every cut too (the hello is
// reassembled in the slab and its answer staged over it): a resumption hello is accepted
// (the binder covers the transcript up to the binders list, RFC 8446 §4.2.11.2); with its
// binder changed it gets decrypt_error; an extension after pre_shared_key gets
// illegal_parameter (§4.2.11); a second ClientHello that changes a field after a
// HelloRetryRequest gets illegal_parameter (§4.1.2).
func TestClientHelloSplitRules(t *testing.T) {
	sc := func() *Config {
		c := serverConfig(t, false)
		c.TicketKey = testTicketKey
		return c
	}
	cc := clientConfig(t)
	cc.Client.Session = firstSession(t, sc())
	resume := drain(NewClient(cc, 0))
	badBinder := append([]byte(nil), resume...)
	badBinder[len(badBinder)-1] ^= 1
	pskNotLast := buildCH(chOpts{versions: []uint16{VersionTLS13}, groups: []CurveID{X25519}, order: []CurveID{X25519},
		shares: map[CurveID][]byte{X25519: x25519Share()}, sigAlgs: []SignatureScheme{ECDSAWithP256AndSHA256},
		extra: append(append([]byte{0, 45, 0, 2, 1, 1, 0, 41, 0, 44, 0, 7, 0, 1, 9, 0, 0, 0, 0, 0, 33, 32},
			make([]byte, 32)...), 0, 28, 0, 2, 1, 0)})
	step := 3
	if testing.Short() {
		step = 17
	}
	for _, tc := range []struct {
		name string
		rec  []byte
		want uint8
	}{
		{"resumption", resume, 0},
		{"wrong binder", badBinder, AlertDecryptError},
		{"extension after pre_shared_key", pskNotLast, AlertIllegalParameter},
	} {
		for k := 1; k < len(tc.rec); k += step {
			s := NewServer(sc(), 0)
			err := feedSplit(s, tc.rec, k)
			if tc.want == 0 {
				if err != nil || s.Pending() == 0 || !s.resumed {
					t.Fatalf("%s, cut at %d: %v (resumed %v)", tc.name, k, err, s.resumed)
				}
				continue
			}
			expectAlert(t, err, tc.want, false)
		}
	}
	// ClientHello2 with another cipher suite list than ClientHello1, cut anywhere
	hrrCfg := func() *Config {
		c := serverConfig(t, false)
		c.Groups = []CurveID{P256}
		return c
	}
	c := clientConfig(t)
	c.Groups = []CurveID{X25519, P256}
	cl := NewClient(c, 0)
	ch1 := drain(cl)
	ref := NewServer(hrrCfg(), 0)
	if err := feedSplit(ref, ch1, len(ch1)); err != nil {
		t.Fatal(err)
	}
	if err := feedSplit(cl, drain(ref), 0); err != nil {
		t.Fatal(err)
	}
	ch2 := drain(cl)
	ch2 = ch2[bytes.Index(ch2, []byte{recordHandshake, 3, 3}):] // after the client's change_cipher_spec
	suites := 5 + 4 + 2 + 32 + 1 + int(ch2[5+4+2+32]) + 2       // record and message headers, version, random, session ID, length
	i := bytes.Index(ch2[suites:], []byte{0x13, 0x01})
	if i < 0 {
		t.Fatal("no TLS_AES_128_GCM_SHA256 in ClientHello2")
	}
	bad := append([]byte(nil), ch2...)
	bad[suites+i+1] = 0x04 // TLS_AES_128_CCM_SHA256: not offered in ClientHello1
	for k := 1; k < len(bad); k += step {
		s := NewServer(hrrCfg(), 0)
		if err := feedSplit(s, ch1, len(ch1)); err != nil || !s.hrr {
			t.Fatal(err)
		}
		drain(s)
		expectAlert(t, feedSplit(s, bad, k), AlertIllegalParameter, false)
	}
}
