package tls

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	gotls "crypto/tls"
	"encoding/binary"
	"fmt"
	"io"
	"strings"
	"testing"
)

var suites12List = []uint16{TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
	TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256}

// TestTLS12ServerGoClient: Go's client limited to TLS 1.2 against our server, each suite × group ×
// certificate type, echo both ways, then close_notify.
func TestTLS12ServerGoClient(t *testing.T) {
	for _, ed := range []bool{false, true} {
		for _, s := range suites12List {
			for _, g := range []CurveID{X25519, P256} {
				t.Run(fmt.Sprintf("ed=%v/%04x/%04x", ed, s, uint16(g)), func(t *testing.T) {
					a, b := tcpPair(t)
					cfg := serverConfig(t, ed)
					cfg.ALPN = []string{"http/1.1"}
					srv := NewConn(a, NewServer(cfg, 0))
					msg := bytes.Repeat([]byte("card!"), 1000)
					wait := runPeer(func() error { return ourServerEcho(srv, len(msg)) })
					gc := goClientConfig(t)
					gc.MinVersion, gc.MaxVersion = gotls.VersionTLS12, gotls.VersionTLS12
					gc.CipherSuites = []uint16{s}
					// The ECDSA certificate's curve must be offered too (RFC 8422 §5.1); our
					// server prefers X25519.
					gc.CurvePreferences = []gotls.CurveID{gotls.CurveID(g), gotls.CurveP256}
					gc.NextProtos = []string{"http/1.1"}
					cl := gotls.Client(b, gc)
					if _, err := cl.Write(msg); err != nil {
						t.Fatal(err)
					}
					got := make([]byte, len(msg))
					if _, err := io.ReadFull(cl, got); err != nil || !bytes.Equal(got, msg) {
						t.Fatal("echo", err)
					}
					if err := wait(); err != nil {
						t.Fatal(err)
					}
					st := cl.ConnectionState()
					if st.Version != gotls.VersionTLS12 || st.CipherSuite != s || st.CurveID != gotls.CurveID(g) ||
						st.NegotiatedProtocol != "http/1.1" || st.DidResume {
						t.Fatalf("go state %+v", st)
					}
					cs := srv.Engine().ConnectionState()
					if cs.Version != VersionTLS12 || cs.CipherSuite != s || cs.Group != g || cs.ALPN != "http/1.1" ||
						cs.ServerName != "card.example" {
						t.Fatalf("our state %+v", cs)
					}
					hdr, tail := srv.Engine().Overhead()
					if want := 13; s == TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256 {
						want = 5
						if hdr != want || tail != 16 {
							t.Fatalf("overhead %d %d", hdr, tail)
						}
					} else if hdr != want || tail != 16 {
						t.Fatalf("overhead %d %d", hdr, tail)
					}
					srv.Close()
					if _, err := cl.Read(got); err != io.EOF {
						t.Fatalf("close_notify: %v", err)
					}
				})
			}
		}
	}
}

// TestTLS12ClientGoServer: our client against Go's server limited to TLS 1.2 (our client offers
// TLS 1.3 too: Go's server, whose maximum is 1.2, sets no downgrade sentinel), and against a default
// Go server with our client limited to TLS 1.2.
func TestTLS12ClientGoServer(t *testing.T) {
	p := getPKI(t)
	for _, s := range suites12List {
		for _, g := range []CurveID{X25519, P256} {
			for _, mode := range []string{"go-max12", "our-max12", "ed25519"} {
				t.Run(fmt.Sprintf("%04x/%04x/%s", s, uint16(g), mode), func(t *testing.T) {
					a, b := tcpPair(t)
					gs := goServerConfig(t)
					gs.MinVersion = gotls.VersionTLS12
					gs.CipherSuites = []uint16{s}
					gs.NextProtos = []string{"http/1.1"}
					cfg := clientConfig(t)
					cfg.Groups = []CurveID{g}
					cfg.ALPN = []string{"http/1.1"}
					switch mode {
					case "go-max12":
						gs.MaxVersion = gotls.VersionTLS12
					case "our-max12":
						cfg.MaxVersion = VersionTLS12
					case "ed25519":
						gs.MaxVersion = gotls.VersionTLS12
						gs.Certificates = []gotls.Certificate{{Certificate: p.edChain, PrivateKey: p.edKey}}
					}
					cfg.CipherSuites = []uint16{s}
					wait := runPeer(func() error { return goServerEcho(gotls.Server(b, gs), 3000) })
					c := NewConn(a, NewClient(cfg, 0))
					msg := bytes.Repeat([]byte("x"), 3000)
					if _, err := c.Write(msg); err != nil {
						t.Fatal(err)
					}
					got := make([]byte, len(msg))
					if _, err := io.ReadFull(c, got); err != nil || !bytes.Equal(got, msg) {
						t.Fatal(err)
					}
					if err := wait(); err != nil {
						t.Fatal(err)
					}
					cs := c.Engine().ConnectionState()
					if cs.Version != VersionTLS12 || cs.CipherSuite != s || cs.Group != g || cs.ALPN != "http/1.1" ||
						len(cs.PeerCertificates) == 0 {
						t.Fatalf("%+v", cs)
					}
				})
			}
		}
	}
}

// TestTLS12MutualGo: client certificates in TLS 1.2 with Go in both roles.
func TestTLS12MutualGo(t *testing.T) {
	p := getPKI(t)
	for _, s := range []uint16{TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384} {
		t.Run(fmt.Sprintf("ourServer/%04x", s), func(t *testing.T) {
			a, b := tcpPair(t)
			cfg := serverConfig(t, false)
			cfg.ClientAuth, cfg.ClientCAs = RequireAndVerifyClientCert, p.caPool
			srv := NewConn(a, NewServer(cfg, 0))
			wait := runPeer(func() error { return ourServerEcho(srv, 100) })
			gc := goClientConfig(t)
			gc.MinVersion, gc.MaxVersion = gotls.VersionTLS12, gotls.VersionTLS12
			gc.CipherSuites = []uint16{s}
			gc.Certificates = []gotls.Certificate{{Certificate: p.clChain, PrivateKey: p.clKey}}
			cl := gotls.Client(b, gc)
			msg := bytes.Repeat([]byte("m"), 100)
			if _, err := cl.Write(msg); err != nil {
				t.Fatal(err)
			}
			if _, err := io.ReadFull(cl, msg); err != nil {
				t.Fatal(err)
			}
			if err := wait(); err != nil {
				t.Fatal(err)
			}
			cs := srv.Engine().ConnectionState()
			if len(cs.PeerCertificates) != 1 || cs.PeerCertificates[0].Subject.CommonName != "client" {
				t.Fatalf("%+v", cs)
			}
		})
		t.Run(fmt.Sprintf("ourClient/%04x", s), func(t *testing.T) {
			a, b := tcpPair(t)
			gs := goServerConfig(t)
			gs.MinVersion, gs.MaxVersion = gotls.VersionTLS12, gotls.VersionTLS12
			gs.CipherSuites = []uint16{s}
			gs.ClientAuth, gs.ClientCAs = gotls.RequireAndVerifyClientCert, p.caPool
			var peer string
			wait := runPeer(func() error {
				c := gotls.Server(b, gs)
				err := goServerEcho(c, 100)
				if st := c.ConnectionState(); len(st.PeerCertificates) > 0 {
					peer = st.PeerCertificates[0].Subject.CommonName
				}
				return err
			})
			cfg := clientConfig(t)
			cfg.Certificate, cfg.Signer = p.clChain, p.clKey
			c := NewConn(a, NewClient(cfg, 0))
			msg := bytes.Repeat([]byte("m"), 100)
			if _, err := c.Write(msg); err != nil {
				t.Fatal(err)
			}
			if _, err := io.ReadFull(c, msg); err != nil {
				t.Fatal(err)
			}
			if err := wait(); err != nil {
				t.Fatal(err)
			}
			if peer != "client" {
				t.Fatalf("go server saw client %q", peer)
			}
		})
	}
}

// pair12 runs an in-memory TLS 1.2 handshake between our client and our server.
func pair12(t *testing.T, suite uint16, g CurveID, mut func(s, c *Config)) (cl, srv *Engine) {
	t.Helper()
	sc := serverConfig(t, false)
	cc := clientConfig(t)
	cc.MaxVersion = VersionTLS12
	cc.CipherSuites = []uint16{suite}
	cc.Groups = groupsWithP256(g)
	if mut != nil {
		mut(sc, cc)
	}
	srv = NewServer(sc, 0)
	cl = NewClient(cc, 0)
	if ea, eb := pump(t, cl, srv); ea != nil || eb != nil {
		t.Fatalf("handshake: client %v, server %v", ea, eb)
	}
	if cl.State() != Established || srv.State() != Established {
		t.Fatalf("states %v %v", cl.State(), srv.State())
	}
	return cl, srv
}

// roundTrip wraps data on a and unwraps it on b.
func roundTrip(t *testing.T, a, b *Engine, data []byte) {
	t.Helper()
	hdr, tail := a.Overhead()
	rec := make([]byte, hdr+len(data)+tail)
	copy(rec[hdr:], data)
	n := a.Wrap(rec, len(data))
	if n != len(rec) {
		t.Fatalf("Wrap %d, want %d", n, len(rec))
	}
	c, pt, err := b.Unwrap(rec)
	if err != nil || c != n || !bytes.Equal(pt, data) {
		t.Fatalf("Unwrap %d %q %v", c, pt, err)
	}
}

// TestTLS12Pair: our client and server, each suite and group, with and without client
// certificates; record round trips, zero allocations per record, tampering detected.
func TestTLS12Pair(t *testing.T) {
	p := getPKI(t)
	for _, s := range suites12List {
		for _, g := range []CurveID{X25519, P256} {
			for _, mtls := range []bool{false, true} {
				t.Run(fmt.Sprintf("%04x/%04x/mtls=%v", s, uint16(g), mtls), func(t *testing.T) {
					cl, srv := pair12(t, s, g, func(sc, cc *Config) {
						if mtls {
							sc.ClientAuth, sc.ClientCAs = RequireAndVerifyClientCert, p.caPool
							cc.Certificate, cc.Signer = p.clChain, p.clKey
						}
					})
					if cs := srv.ConnectionState(); cs.Version != VersionTLS12 || cs.CipherSuite != s || cs.Group != g ||
						(len(cs.PeerCertificates) == 1) != mtls {
						t.Fatalf("%+v", cs)
					}
					roundTrip(t, cl, srv, []byte("hello"))
					roundTrip(t, srv, cl, bytes.Repeat([]byte("y"), 1000))
					hdr, tail := cl.Overhead()
					rec := make([]byte, hdr+100+tail)
					allocs := testing.AllocsPerRun(100, func() {
						n := cl.Wrap(rec, 100)
						if _, _, err := srv.Unwrap(rec[:n]); err != nil {
							t.Fatal(err)
						}
					})
					if allocs != 0 {
						t.Fatalf("%.1f allocs per record", allocs)
					}
					n := cl.Wrap(rec, 100)
					rec[n-1] ^= 1
					_, _, err := srv.Unwrap(rec[:n])
					expectAlert(t, err, AlertBadRecordMAC, false)
				})
			}
		}
	}
}

// TestTLS12Renegotiation: a HelloRequest (to our client) and a second ClientHello (to our server)
// after the handshake get a no_renegotiation warning; the connection keeps working.
func TestTLS12Renegotiation(t *testing.T) {
	cl, srv := pair12(t, TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, X25519, nil)
	buf := make([]byte, 4096)
	expectWarning := func(from, to *Engine) {
		t.Helper()
		n := from.Output(buf)
		if n == 0 || buf[0] != recordAlert {
			t.Fatalf("no alert record: %x", buf[:n])
		}
		pt, ok := to.open12ForTest(buf[:n])
		if !ok || len(pt) != 2 || pt[0] != 1 || pt[1] != AlertNoRenegotiation {
			t.Fatalf("alert %x ok=%v", pt, ok)
		}
	}
	// server → HelloRequest
	if !srv.queue(recordHandshake, []byte{typeHelloRequest, 0, 0, 0}) {
		t.Fatal("queue")
	}
	n := srv.Output(buf)
	if _, _, err := cl.Unwrap(buf[:n]); err != nil {
		t.Fatal(err)
	}
	expectWarning(cl, srv)
	// client → a second ClientHello
	ch := buildCH(chOpts{versions: []uint16{VersionTLS12}, groups: []CurveID{X25519, P256}, sigAlgs: []SignatureScheme{0x0403},
		suites: []uint16{0xc02b}, extra: []byte{0, 23, 0, 0, 0xff, 1, 0, 1, 0}})
	if !cl.queue(recordHandshake, ch[5:]) {
		t.Fatal("queue")
	}
	n = cl.Output(buf)
	if _, _, err := srv.Unwrap(buf[:n]); err != nil {
		t.Fatal(err)
	}
	expectWarning(srv, cl)
	if cl.State() != Established || srv.State() != Established {
		t.Fatal("state")
	}
	roundTrip(t, cl, srv, []byte("still here"))
}

// open12ForTest decrypts a record sealed by the peer of e (e's read direction) without
// processing its content.
func (e *Engine) open12ForTest(rec []byte) ([]byte, bool) {
	return e.openWith(&e.rd, append([]byte(nil), rec...))
}

// TestTLS12NegativeClientHellos: hand-built TLS 1.2 ClientHellos.
func TestTLS12NegativeClientHellos(t *testing.T) {
	ems := []byte{0, 23, 0, 0}
	reneg := []byte{0xff, 1, 0, 1, 0}
	good := chOpts{versions: []uint16{VersionTLS12}, groups: []CurveID{X25519, P256}, sigAlgs: []SignatureScheme{ECDSAWithP256AndSHA256},
		suites: []uint16{0xc02b}, extra: append(append([]byte(nil), ems...), reneg...)}
	mod := func(f func(o *chOpts)) chOpts { o := good; f(&o); return o }
	for _, tc := range []struct {
		name string
		o    chOpts
		min  uint16
		want uint8
	}{
		{"good", good, 0, 0},
		{"legacy version only (no supported_versions)", mod(func(o *chOpts) { o.versions = nil }), 0, 0},
		{"scsv instead of renegotiation_info", mod(func(o *chOpts) { o.suites = []uint16{0xc02b, 0x00ff}; o.extra = ems }), 0, 0},
		{"no extended_master_secret", mod(func(o *chOpts) { o.extra = reneg }), 0, AlertHandshakeFailure},
		{"no renegotiation signal", mod(func(o *chOpts) { o.extra = ems }), 0, AlertHandshakeFailure},
		{"non-empty renegotiation_info", mod(func(o *chOpts) { o.extra = append([]byte{0xff, 1, 0, 2, 1, 9}, ems...) }), 0, AlertHandshakeFailure},
		{"only cbc and rsa suites", mod(func(o *chOpts) { o.suites = []uint16{0xc009, 0x002f, 0xc02f} }), 0, AlertHandshakeFailure},
		{"no common group", mod(func(o *chOpts) { o.groups = []CurveID{0x0018} }), 0, AlertHandshakeFailure},
		{"certificate curve P-256 not offered", mod(func(o *chOpts) { o.groups = []CurveID{X25519} }), 0, AlertHandshakeFailure},
		{"compressed points only", mod(func(o *chOpts) { o.extra = append(append([]byte{0, 11, 0, 2, 1, 1}, ems...), reneg...) }), 0, AlertIllegalParameter},
		{"rsa signatures only", mod(func(o *chOpts) { o.sigAlgs = []SignatureScheme{0x0401} }), 0, AlertHandshakeFailure},
		{"server min 1.3", good, VersionTLS13, AlertProtocolVersion},
		{"tls 1.1", mod(func(o *chOpts) { o.versions = []uint16{0x0302} }), 0, AlertProtocolVersion},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := serverConfig(t, false)
			cfg.MinVersion = tc.min
			s := NewServer(cfg, 0)
			_, _, err := s.Unwrap(buildCH(tc.o))
			if tc.want == 0 {
				if err != nil {
					t.Fatal(err)
				}
				buf := make([]byte, 8192)
				n := s.Output(buf)
				if n < 50 || buf[5] != typeServerHello || !bytes.Equal(buf[11+24:11+32], downgradeTLS12[:]) {
					t.Fatalf("no TLS 1.2 ServerHello with the downgrade sentinel: %x", buf[:min(n, 50)])
				}
				return
			}
			expectAlert(t, err, tc.want, false)
			if a := queuedPlainAlert(s); a != tc.want {
				t.Fatalf("queued alert %d", a)
			}
		})
	}
}

// TestTLS12DowngradeSentinel: a man in the middle strips TLS 1.3 from our client's ClientHello;
// our TLS 1.3-capable server negotiates 1.2 and sets the sentinel, and our client (which offered
// 1.3) aborts with illegal_parameter. A server limited to 1.2 sets no sentinel.
func TestTLS12DowngradeSentinel(t *testing.T) {
	for _, srvMax := range []uint16{VersionTLS13, VersionTLS12} {
		t.Run(fmt.Sprintf("server max %04x", srvMax), func(t *testing.T) {
			sc := serverConfig(t, false)
			sc.MaxVersion = srvMax
			srv := NewServer(sc, 0)
			cl := NewClient(clientConfig(t), 0)
			buf := make([]byte, 16384)
			n := cl.Output(buf)
			ch := buf[:n]
			sv := []byte{0, extSupportedVersions, 0, 5, 4, 3, 4, 3, 3}
			i := bytes.Index(ch, sv)
			if i < 0 {
				t.Fatal("supported_versions not found")
			}
			ch[i+5], ch[i+6] = 3, 3 // offer 1.2 twice: 1.3 is gone
			if _, _, err := srv.Unwrap(ch); err != nil {
				t.Fatal(err)
			}
			out := make([]byte, 16384)
			m := srv.Output(out)
			in := out[:m]
			var err error
			for len(in) > 0 && err == nil {
				var c int
				c, _, err = cl.Unwrap(in)
				in = in[c:]
			}
			if srvMax == VersionTLS13 {
				expectAlert(t, err, AlertIllegalParameter, false)
				return
			}
			// No sentinel: the client goes on (the transcript differs, so Finished would fail later).
			if err != nil || cl.hs != c12WaitCCS {
				t.Fatalf("client: %v, state %d", err, cl.hs)
			}
		})
	}
}

// TestTLS12GoClientMax13OurServerMax12: Go's default client (TLS 1.3 capable) against our server
// limited to TLS 1.2 must succeed (no sentinel from a server whose maximum is 1.2).
func TestTLS12GoClientMax13OurServerMax12(t *testing.T) {
	a, b := tcpPair(t)
	cfg := serverConfig(t, false)
	cfg.MaxVersion = VersionTLS12
	srv := NewConn(a, NewServer(cfg, 0))
	wait := runPeer(func() error { return ourServerEcho(srv, 5) })
	gc := goClientConfig(t)
	gc.MinVersion = gotls.VersionTLS12
	cl := gotls.Client(b, gc)
	if _, err := cl.Write([]byte("hello")); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(cl, make([]byte, 5)); err != nil {
		t.Fatal(err)
	}
	if err := wait(); err != nil {
		t.Fatal(err)
	}
	if v := cl.ConnectionState().Version; v != gotls.VersionTLS12 {
		t.Fatalf("version %x", v)
	}
	// and Go's client limited to 1.2 against our default (1.3-capable) server sees the sentinel
	// but does not check it (it did not offer 1.3): success.
}

// TestTLS12ClientRefusesNoEMS: a ServerHello without extended_master_secret (or without
// renegotiation_info) gets handshake_failure from our client.
func TestTLS12ClientRefusesNoEMS(t *testing.T) {
	for _, strip := range [][]byte{{0, extEMS, 0, 0}, {0xff, 1, 0, 1, 0}} {
		t.Run(fmt.Sprintf("%x", strip), func(t *testing.T) {
			sc := serverConfig(t, false)
			sc.MaxVersion = VersionTLS12
			srv := NewServer(sc, 0)
			cc := clientConfig(t)
			cc.MaxVersion = VersionTLS12
			cl := NewClient(cc, 0)
			buf := make([]byte, 16384)
			n := cl.Output(buf)
			feedAll(t, srv, buf[:n])
			srv.Output(buf)
			// The flight is one record; cut the ServerHello out of it.
			shLen := int(buf[6])<<16 | int(buf[7])<<8 | int(buf[8])
			sh := append([]byte(nil), buf[9:9+shLen]...)
			i := bytes.Index(sh, strip)
			if i < 0 {
				t.Fatal("extension not found")
			}
			sh = append(sh[:i], sh[i+len(strip):]...)
			extAt := 2 + 32 + 1 + 2 + 1
			el := len(sh) - extAt - 2
			sh[extAt], sh[extAt+1] = byte(el>>8), byte(el)
			msg := append([]byte{typeServerHello, 0, 0, byte(len(sh))}, sh...)
			rec := append([]byte{22, 3, 3, 0, byte(len(msg))}, msg...)
			_, _, err := cl.Unwrap(rec)
			expectAlert(t, err, AlertHandshakeFailure, false)
		})
	}
}

// TestTLS12HandshakeAllocs counts the server's allocations in a TLS 1.2 handshake, beside TLS 1.3.
func TestTLS12HandshakeAllocs(t *testing.T) {
	buf := make([]byte, 16384)
	for _, g := range []CurveID{X25519, P256} {
		for _, ed := range []bool{false, true} {
			for _, v := range []uint16{VersionTLS12, VersionTLS13} {
				cc := clientConfig(t)
				cc.Groups = groupsWithP256(g)
				cc.MaxVersion = v
				sc := serverConfig(t, ed)
				sig := signAllocs(t, sc)
				serverHandshakeAllocs(t, sc, cc, buf) // warm up
				n := serverHandshakeAllocs(t, sc, cc, buf)
				budget := serverAllocBudget[g]
				if v == VersionTLS12 {
					budget -= 4 // two AES-GCM keys instead of four
				}
				for i := 0; i < 2 && n > budget+sig; i++ {
					n = minU64(n, serverHandshakeAllocs(t, sc, cc, buf))
				}
				t.Logf("server handshake %04x group %04x ed25519=%v: %d allocations (%d without the signature)",
					v, uint16(g), ed, n, n-sig)
				if n > budget+sig {
					t.Errorf("%d allocations besides the signature, budget %d", n-sig, budget)
				}
			}
		}
	}
}

// groupsWithP256 offers g and P-256: in TLS 1.2 supported_groups also names the curves of the
// ECDSA certificates the client accepts (RFC 8422 §5.1), and our server insists on it.
func groupsWithP256(g CurveID) []CurveID {
	if g == P256 {
		return []CurveID{P256}
	}
	return []CurveID{g, P256}
}

// TestTLS12RecordSizeLimit: record_size_limit in TLS 1.2 (plaintext limit, RFC 8449): the limits
// are announced so that the biggest record still fits a receive buffer of limit+21 bytes.
func TestTLS12RecordSizeLimit(t *testing.T) {
	sc := serverConfig(t, false)
	sc.RecordSizeLimit = 1024
	cc := clientConfig(t)
	cc.MaxVersion = VersionTLS12
	cc.RecordSizeLimit = 512
	cc.MaxRecordOut = 4096
	sc.MaxRecordOut = 4096
	srv := NewServer(sc, 1024+21)
	cl := NewClient(cc, 512+21)
	if ea, eb := pump(t, cl, srv); ea != nil || eb != nil {
		t.Fatal(ea, eb)
	}
	if cl.ConnectionState().Version != VersionTLS12 {
		t.Fatal("not TLS 1.2")
	}
	if cl.MaxPlaintext() != 1016 || srv.MaxPlaintext() != 504 {
		t.Fatalf("MaxPlaintext client %d server %d", cl.MaxPlaintext(), srv.MaxPlaintext())
	}
	for _, d := range [][2]*Engine{{cl, srv}, {srv, cl}} {
		n := d[0].MaxPlaintext()
		hdr, tail := d[0].Overhead()
		if hdr+n+tail > int(d[1].recordBuf) {
			t.Fatalf("record %d > buffer %d", hdr+n+tail, d[1].recordBuf)
		}
		roundTrip(t, d[0], d[1], bytes.Repeat([]byte("z"), n))
	}
	// A peer ignoring the limit gets record_overflow.
	cl.maxOut = 1100
	hdr, tail := cl.Overhead()
	rec := make([]byte, hdr+1100+tail)
	n := cl.Wrap(rec, 1100)
	_, _, err := srv.Unwrap(rec[:n])
	expectAlert(t, err, AlertRecordOverflow, false)
}

// TestTLS12SentinelSeenByGo: a man in the middle strips TLS 1.3 from Go's ClientHello; our
// 1.3-capable server negotiates 1.2 with the downgrade sentinel, and Go's client (which offered 1.3)
// detects the downgrade.
func TestTLS12SentinelSeenByGo(t *testing.T) {
	a, b := tcpPair(t)
	gc := goClientConfig(t)
	gc.MinVersion = gotls.VersionTLS12
	wait := runPeer(func() error { return gotls.Client(b, gc).Handshake() })
	hdr := make([]byte, 5)
	if _, err := io.ReadFull(a, hdr); err != nil {
		t.Fatal(err)
	}
	rec := make([]byte, 5+(int(hdr[3])<<8|int(hdr[4])))
	copy(rec, hdr)
	if _, err := io.ReadFull(a, rec[5:]); err != nil {
		t.Fatal(err)
	}
	i := bytes.Index(rec, []byte{0, extSupportedVersions})
	if i < 0 || !bytes.Contains(rec[i:i+12], []byte{3, 4}) {
		t.Fatal("supported_versions not found")
	}
	j := i + bytes.Index(rec[i:i+12], []byte{3, 4})
	rec[j+1] = 3 // 1.3 → 1.2
	srv := NewServer(serverConfig(t, false), 0)
	feedAll(t, srv, rec)
	out := make([]byte, 16384)
	n := srv.Output(out)
	if _, err := a.Write(out[:n]); err != nil {
		t.Fatal(err)
	}
	err := wait()
	if err == nil || !strings.Contains(err.Error(), "downgrade") {
		t.Fatalf("go client: %v", err)
	}
	t.Logf("go client: %v", err)
}

// TestTLS12WrongFinished: a Finished computed from another master secret gets decrypt_error; a
// Finished record before ChangeCipherSpec, or a second ChangeCipherSpec, gets unexpected_message.
func TestTLS12WrongFinished(t *testing.T) {
	for _, mode := range []string{"wrong verify_data", "no ccs", "two ccs"} {
		t.Run(mode, func(t *testing.T) {
			sc := serverConfig(t, false)
			cc := clientConfig(t)
			cc.MaxVersion = VersionTLS12
			srv, cl := NewServer(sc, 0), NewClient(cc, 0)
			buf := make([]byte, 16384)
			feedAll(t, srv, buf[:cl.Output(buf)])
			feedAll(t, cl, buf[:srv.Output(buf)])
			n := cl.Output(buf)
			in := buf[:n]
			recs := [][]byte{}
			for len(in) > 0 {
				l := 5 + (int(in[3])<<8 | int(in[4]))
				recs = append(recs, in[:l])
				in = in[l:]
			}
			if len(recs) != 3 || recs[1][0] != recordCCS {
				t.Fatalf("client flight: %d records", len(recs))
			}
			feedAll(t, srv, recs[0])
			var err error
			switch mode {
			case "wrong verify_data":
				srv.ks.secret[0] ^= 1
				feedAll(t, srv, recs[1])
				_, _, err = srv.Unwrap(recs[2])
				expectAlert(t, err, AlertDecryptError, false)
			case "no ccs":
				_, _, err = srv.Unwrap(recs[2])
				expectAlert(t, err, AlertUnexpectedMessage, false)
			case "two ccs":
				feedAll(t, srv, recs[1])
				_, _, err = srv.Unwrap(recs[1])
				expectAlert(t, err, AlertUnexpectedMessage, false)
			}
		})
	}
}

// TestTLS12BadServerKeyExchange: a ServerKeyExchange whose signature does not verify gets
// decrypt_error from our client; one naming a group we did not offer gets illegal_parameter.
func TestTLS12BadServerKeyExchange(t *testing.T) {
	for _, mode := range []string{"signature", "group"} {
		t.Run(mode, func(t *testing.T) {
			cc := clientConfig(t)
			cc.MaxVersion = VersionTLS12
			srv, cl := NewServer(serverConfig(t, false), 0), NewClient(cc, 0)
			buf := make([]byte, 16384)
			feedAll(t, srv, buf[:cl.Output(buf)])
			n := srv.Output(buf)
			// the flight is one record: ServerHello, Certificate, ServerKeyExchange, ServerHelloDone
			body := buf[5:n]
			at := 0
			for i := 0; i < 2; i++ {
				at += 4 + (int(body[at+1])<<16 | int(body[at+2])<<8 | int(body[at+3]))
			}
			if body[at] != typeServerKeyExchange {
				t.Fatal("no ServerKeyExchange")
			}
			want := AlertDecryptError
			if mode == "signature" {
				body[len(body)-5] ^= 1 // last byte of the signature
			} else {
				body[at+6] = 0x18 // secp384r1
				want = AlertIllegalParameter
			}
			_, _, err := cl.Unwrap(buf[:n])
			expectAlert(t, err, want, false)
		})
	}
}

// TestTLS12RequestClientCertNone: the card asks every client for an optional certificate
// (RequestClientCert); a TLS 1.2 client without one answers with an empty Certificate.
func TestTLS12RequestClientCertNone(t *testing.T) {
	for _, s := range suites12List {
		t.Run(fmt.Sprintf("%04x", s), func(t *testing.T) {
			a, b := tcpPair(t)
			cfg := serverConfig(t, false)
			cfg.ClientAuth = RequestClientCert
			srv := NewConn(a, NewServer(cfg, 0))
			wait := runPeer(func() error { return ourServerEcho(srv, 5) })
			gc := goClientConfig(t)
			gc.MinVersion, gc.MaxVersion = gotls.VersionTLS12, gotls.VersionTLS12
			gc.CipherSuites = []uint16{s}
			cl := gotls.Client(b, gc)
			if _, err := cl.Write([]byte("hello")); err != nil {
				t.Fatal(err)
			}
			if _, err := io.ReadFull(cl, make([]byte, 5)); err != nil {
				t.Fatal(err)
			}
			if err := wait(); err != nil {
				t.Fatal(err)
			}
			if cs := srv.Engine().ConnectionState(); cs.Version != VersionTLS12 || len(cs.PeerCertificates) != 0 {
				t.Fatalf("%+v", cs)
			}
		})
	}
}

// TestTLS12GCMAnyExplicitNonce: RFC 5288 §3 lets a TLS 1.2 AES-GCM sender choose the explicit
// nonce (only uniqueness is required): a record whose explicit nonce is not its sequence number
// opens, and the running nonce of the direction (halfConn.next) is not disturbed by it: the next
// records, sealed by the engine, open too. The same record with its explicit nonce changed after
// sealing gets bad_record_mac.
func TestTLS12GCMAnyExplicitNonce(t *testing.T) {
	cl, srv := pair12(t, TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, X25519, nil)
	// seal as the client would, with Go's AES-GCM (an independent implementation)
	b, err := aes.NewCipher(cl.wr.secret[:16])
	if err != nil {
		t.Fatal(err)
	}
	g, _ := cipher.NewGCM(b)
	seal := func(explicit [8]byte, pt []byte) []byte {
		var aad [13]byte
		binary.BigEndian.PutUint64(aad[:8], cl.wr.seq)
		aad[8], aad[9], aad[10], aad[11], aad[12] = recordAppData, 3, 3, byte(len(pt)>>8), byte(len(pt))
		nonce := append(append([]byte(nil), cl.wr.nonce[:4]...), explicit[:]...)
		clen := 8 + len(pt) + tagLen
		rec := append([]byte{recordAppData, 3, 3, byte(clen >> 8), byte(clen)}, explicit[:]...)
		return g.Seal(rec, nonce, pt, aad[:])
	}
	rec := seal([8]byte{0xde, 0xad, 0xbe, 0xef, 1, 2, 3, 4}, []byte("chosen nonce"))
	bad := append([]byte(nil), rec...)
	bad[5] ^= 1
	if _, pt, err := srv.Unwrap(rec); err != nil || string(pt) != "chosen nonce" {
		t.Fatalf("record with a chosen explicit nonce: %q %v", pt, err)
	}
	cl.wr.next() // the client's sequence number was used by the hand-sealed record
	roundTrip(t, cl, srv, []byte("sealed by the engine after it"))
	roundTrip(t, cl, srv, []byte("and the next one"))
	_, _, err = srv.Unwrap(bad)
	expectAlert(t, err, AlertBadRecordMAC, false)
}

// TestNonceFollowsSequence: the nonce a direction keeps is always its IV XOR the padded sequence
// number (RFC 8446 §5.3), also across the carries of the sequence number.
func TestNonceFollowsSequence(t *testing.T) {
	iv := [12]byte{0x5a, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0xa, 0xb}
	hc := halfConn{nonce: iv}
	check := func() {
		t.Helper()
		want := iv
		for i := 0; i < 8; i++ {
			want[4+i] ^= byte(hc.seq >> (56 - 8*i))
		}
		if hc.nonce != want {
			t.Fatalf("seq %#x: nonce %x, want %x", hc.seq, hc.nonce, want)
		}
	}
	for range 600 {
		hc.next()
		check()
	}
	for _, at := range []uint64{0xffff, 0xffffffff, 0xffffffffffff} {
		// jump: set the nonce for seq at-1 directly, then step over the carry
		hc.seq, hc.nonce = at-1, iv
		for i := 0; i < 8; i++ {
			hc.nonce[4+i] ^= byte((at - 1) >> (56 - 8*i))
		}
		for range 3 {
			hc.next()
			check()
		}
	}
}
