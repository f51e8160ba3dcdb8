package tls

import (
	"bytes"
	gotls "crypto/tls"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

// feedRest gives e the bytes in at once, as Unwrap takes them, and returns what it did not take
// and the first error.
func feedRest(e *Engine, in []byte) ([]byte, error) {
	for len(in) > 0 {
		n, _, err := e.Unwrap(in)
		if err != nil {
			return in, err
		}
		if n == 0 {
			break
		}
		in = in[n:]
	}
	return in, nil
}

// TestCloseDuringClientHello: an application that closes a server (or a client) while the
// handshake is in progress has sent close_notify: "the sender will not send any more messages on
// this connection" (RFC 8446 §6.1), so what arrives afterwards is not handshaken on — no
// ServerHello (or flight) follows the close_notify, and the rest of a ClientHello still being
// reassembled in the slab (whose area follows the output buffer's front, where close_notify was
// queued, by a record header's gap) is not parsed. Before the fix the server answered with a
// ServerHello after its close_notify.
func TestCloseDuringClientHello(t *testing.T) {
	ch := goClientHello(t, gotls.X25519MLKEM768, gotls.X25519)
	for _, cut := range []int{0, 3, 5, 9, 200, len(ch) - 1} {
		srv := NewServer(serverConfig(t, false), 0)
		rest, err := feedRest(srv, ch[:cut])
		if err != nil {
			t.Fatal(err)
		}
		srv.Close()
		_, err = feedRest(srv, append(rest, ch[cut:]...))
		out := drain(srv)
		if err != io.EOF || !bytes.Equal(out, []byte{recordAlert, 3, 3, 0, 2, 1, AlertCloseNotify}) || srv.State() != Closed {
			t.Fatalf("cut %d: err %v, state %v, %d bytes out: % x", cut, err, srv.State(), len(out), out[:min(len(out), 16)])
		}
	}
	// a client that closes before the ServerHello arrives does not answer it either
	s, c := NewServer(serverConfig(t, false), 0), NewClient(clientConfig(t), 0)
	if err := feed(t, s, drain(c)); err != nil {
		t.Fatal(err)
	}
	c.Close()
	_, err := feedRest(c, drain(s))
	if out := drain(c); err != io.EOF || len(out) != 7 || out[0] != recordAlert {
		t.Fatalf("client: %v, % x", err, out)
	}
}

// TestSlabGoClientMatrix: real crypto/tls clients against a server whose ServerHello is staged
// over the ClientHello it answers (and whose flight goes over the dead hello): everything the
// server keeps of the hello — the server_name (a 253-byte one), the ALPN choice, the PSK (a
// ticket found and its binder checked), the client's certificate request, record_size_limit —
// comes out right on both sides, for TLS 1.3 with and without a HelloRetryRequest (whose
// ClientHello2, with an X25519MLKEM768 share, is about 1.2 KB bigger than ClientHello1 and is
// reassembled behind the queued HelloRetryRequest), resumed and not, with client
// authentication, and for TLS 1.2, on a server configured as the card is (a HandshakeBudget of
// one grown buffer, records of 1 KB). A changed byte anywhere would show as a handshake failure
// (the transcripts differ) or a wrong state.
func TestSlabGoClientMatrix(t *testing.T) {
	p := getPKI(t)
	name := strings.Repeat("a", 61) + "." + strings.Repeat("b", 61) + "." + strings.Repeat("c", 61) + "." + strings.Repeat("d", 61) + ".examp"
	if len(name) != 253 {
		t.Fatal(len(name))
	}
	for _, v12 := range []bool{false, true} {
		for _, hrr := range []bool{false, true} {
			for _, auth := range []bool{false, true} {
				if v12 && hrr {
					continue
				}
				t.Run(fmt.Sprintf("v12=%v/hrr=%v/auth=%v", v12, hrr, auth), func(t *testing.T) {
					budget := NewHandshakeBudget(1, 0)
					cache := gotls.NewLRUClientSessionCache(4)
					for round, resume := range []bool{false, true} {
						cfg := serverConfig(t, false)
						cfg.TicketKey = testTicketKey
						cfg.ALPN = []string{"h2", "http/1.1"}
						cfg.HandshakeBudget = budget
						cfg.MaxRecordOut = 1024
						cfg.Groups = []CurveID{X25519MLKEM768, X25519, P256}
						if hrr {
							cfg.Groups = []CurveID{P256} // crypto/tls sends X25519MLKEM768 and X25519 shares
							cfg.HRRCookie = round == 1
						}
						if auth {
							cfg.ClientAuth = RequireAndVerifyClientCert
							cfg.ClientCAs = p.caPool
						}
						a, b := tcpPair(t)
						srv := NewConn(a, NewServer(cfg, 0))
						wait := runPeer(func() error { return ourServerEcho(srv, 5) })
						gc := goClientConfig(t)
						gc.ServerName = name
						gc.InsecureSkipVerify = true // the certificate is for card.example
						gc.NextProtos = []string{"spdy/3", "http/1.1", "h2"}
						gc.ClientSessionCache = cache
						gc.CurvePreferences = []gotls.CurveID{gotls.X25519MLKEM768, gotls.X25519, gotls.CurveP256}
						if auth {
							gc.Certificates = []gotls.Certificate{{Certificate: p.clChain, PrivateKey: p.clKey}}
						}
						if v12 {
							gc.MinVersion, gc.MaxVersion = gotls.VersionTLS12, gotls.VersionTLS12
							gc.CipherSuites = []uint16{gotls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305}
						}
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
						gs, cs := cl.ConnectionState(), srv.Engine().ConnectionState()
						wantResume := resume && !v12 // TLS 1.2 tickets are not issued
						if gs.NegotiatedProtocol != "h2" || cs.ALPN != "h2" || cs.ServerName != name ||
							gs.DidResume != wantResume || cs.DidResume != wantResume || cs.HelloRetry != (hrr && !v12) {
							t.Fatalf("round %d: go %q resumed %v; ours %+v", round, gs.NegotiatedProtocol, gs.DidResume, cs)
						}
						if auth && !cs.DidResume && (len(cs.PeerCertificates) == 0 || !bytes.Equal(cs.PeerCertificates[0].Raw, p.clChain[0])) {
							t.Fatalf("round %d: client certificate lost", round)
						}
						if hrr && gs.CurveID != gotls.CurveP256 {
							t.Fatalf("round %d: group %v", round, gs.CurveID)
						}
						if budget.InUse() != 0 {
							t.Fatalf("round %d: budget still in use", round)
						}
					}
				})
			}
		}
	}
}

// TestBiggerClientHello2: after a HelloRetryRequest for X25519MLKEM768, ClientHello2 carries a
// 1,184-byte encapsulation key where ClientHello1 had a 32-byte X25519 share: it is reassembled
// behind the queued HelloRetryRequest and change_cipher_spec (nextHelloArea). It must be
// answered like ClientHello1 of the same size would be: without a grown buffer when ClientHello1's
// area would have held it, so that a server whose HandshakeBudget is all in use (another
// connection holds the grown buffer) still completes the handshake.
func TestBiggerClientHello2(t *testing.T) {
	for _, cookie := range []bool{false, true} {
		for _, maxOut := range []int{0, 1024, 256} {
			t.Run(fmt.Sprintf("cookie=%v/maxOut=%d", cookie, maxOut), func(t *testing.T) {
				budget := NewHandshakeBudget(1, 0)
				sc := serverConfig(t, false)
				sc.Groups = []CurveID{X25519MLKEM768}
				sc.HRRCookie = cookie
				sc.MaxRecordOut = uint16(maxOut)
				sc.HandshakeBudget = budget
				sc.ALPN = []string{"http/1.1"}
				cc := clientConfig(t)
				cc.Groups = []CurveID{X25519, X25519MLKEM768}
				cc.ALPN = []string{"http/1.1"}
				s, c := NewServer(sc, 0), NewClient(cc, 0)
				area := cap(s.hsBuf)
				ch1 := drain(c)
				if err := feed(t, s, ch1); err != nil {
					t.Fatal(err)
				}
				hrr := drain(s) // the HelloRetryRequest waits for Output while ClientHello2 arrives
				if err := feed(t, c, hrr); err != nil {
					t.Fatal(err)
				}
				ch2 := drain(c)
				t.Logf("area %d, ClientHello1 record %d B, ClientHello2 %d B (area left %d)", area, len(ch1), len(ch2), cap(s.hsBuf))
				if err := feed(t, s, ch2); err != nil {
					t.Fatal(err)
				}
				if ea, eb := pump(t, c, s); ea != nil || eb != nil {
					t.Fatal(ea, eb)
				}
				if budget.Granted() != 0 {
					t.Fatal("ClientHello2 grew a buffer though its area held it")
				}
				if cs := s.ConnectionState(); !cs.HelloRetry || cs.Group != X25519MLKEM768 || cs.ALPN != "http/1.1" ||
					cs.ServerName != "card.example" || c.State() != Established {
					t.Fatalf("%+v", cs)
				}
				// the same with the budget held by another connection: no buffer is needed
				other := NewServer(sc, 0)
				if err := feed(t, other, append([]byte{recordHandshake, 3, 1, 0x20, 0x04, typeClientHello, 0, 0x20, 0}, make([]byte, 100)...)); err != nil || budget.InUse() != 1 {
					t.Fatal("the other connection does not hold the budget", err)
				}
				s, c = NewServer(sc, 0), NewClient(cc, 0)
				if ea, eb := pump(t, c, s); ea != nil || eb != nil || s.State() != Established {
					t.Fatal(ea, eb)
				}
			})
		}
	}
}

// TestClientHelloAtAreaSize: a ClientHello exactly as big as the ClientHello area is reassembled
// and answered in it (no grown buffer, nothing taken from the HandshakeBudget, even when the
// budget is all in use); one byte more needs a grown buffer: granted when the budget has room,
// internal_error when another connection holds it (RFC 8446 §6.2: the server cannot go on), and
// the other connection is not disturbed. Cut at every byte near the area's end, and with an
// X25519MLKEM768 share chosen (the ML-KEM ciphertext is written over the hello's encapsulation
// key once read).
func TestClientHelloAtAreaSize(t *testing.T) {
	for _, hybrid := range []bool{false, true} {
		for _, over := range []int{0, 1} {
			for _, held := range []bool{false, true} {
				t.Run(fmt.Sprintf("hybrid=%v/over=%d/budget-held=%v", hybrid, over, held), func(t *testing.T) {
					budget := NewHandshakeBudget(1, 0)
					cfg := func() *Config {
						c := serverConfig(t, true)
						c.HandshakeBudget = budget
						return c
					}
					o := chOpts{versions: []uint16{VersionTLS13}, groups: []CurveID{X25519}, order: []CurveID{X25519},
						shares: map[CurveID][]byte{X25519: x25519Share()}, sigAlgs: []SignatureScheme{Ed25519}}
					if hybrid {
						o.groups, o.order = []CurveID{X25519MLKEM768, X25519}, []CurveID{X25519MLKEM768, X25519}
						o.shares[X25519MLKEM768] = mlkemShare(t)
					}
					s := NewServer(cfg(), 0)
					area := cap(s.hsBuf)
					base := len(buildCH(o)) - recordHeaderLen // the message without padding
					pad := area + over - base - 4             // an unknown extension's body
					o.extra = append([]byte{0xfa, 0xfa, byte(pad >> 8), byte(pad)}, make([]byte, pad)...)
					rec := buildCH(o)
					if len(rec)-recordHeaderLen != area+over {
						t.Fatalf("hello %d, area %d", len(rec)-recordHeaderLen, area)
					}
					var other *Engine
					if held {
						other = NewServer(cfg(), 0)
						big := append([]byte{recordHandshake, 3, 1, 0x0c, 0x04, typeClientHello, 0, 0x0c, 0}, make([]byte, 100)...)
						if err := feed(t, other, big); err != nil || budget.InUse() != 1 {
							t.Fatal("the other connection does not hold the budget", err)
						}
					}
					granted := budget.Granted()
					for _, cut := range []int{len(rec), len(rec) - 1, len(rec) - 2, 6, 9} {
						s := NewServer(cfg(), 0)
						err := feedSplit(s, rec, cut)
						out := drain(s)
						if over == 1 && held {
							expectAlert(t, err, AlertInternalError, false)
							continue
						}
						if err != nil || len(out) < 100 || out[0] != recordHandshake || out[5] != typeServerHello {
							t.Fatalf("cut %d: %v, %d bytes out", cut, err, len(out))
						}
						if cg := s.ConnectionState().Group; hybrid != (cg == X25519MLKEM768) {
							t.Fatalf("group %v", cg)
						}
					}
					if over == 0 && budget.Granted() != granted {
						t.Fatal("a hello of the area's size took the budget")
					}
					if over == 1 && !held && budget.Granted() == granted {
						t.Fatal("a hello one byte over the area did not grow")
					}
					if held && other.State() != Handshaking {
						t.Fatal("the other connection was disturbed")
					}
				})
			}
		}
	}
}

// mlkemShare returns a client's X25519MLKEM768 key share (encapsulation key and X25519 point).
func mlkemShare(t *testing.T) []byte {
	var k kexState
	s, err := k.generate(X25519MLKEM768, seeded(8), make([]byte, 64), nil)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestClientFlightsCoalescedAnyCut: everything a client sends in its handshake — ClientHello,
// (after a HelloRetryRequest, ClientHello2,) change_cipher_spec, its second flight — arrives at a
// server that has not yet output anything, as one stream cut in two at every byte: the server's
// output, taken only at the end, is byte for byte that of a server drained after every flight,
// and the handshake completes. The records after a ClientHello are reassembled while its answer
// still sits staged over it in the slab (TLS 1.3, TLS 1.2, HelloRetryRequest with cookie, client
// certificate); in TLS 1.3 the NewSessionTicket is queued behind the flight not yet output.
func TestClientFlightsCoalescedAnyCut(t *testing.T) {
	p := getPKI(t)
	for _, tc := range []struct {
		name   string
		v      uint16
		groups []CurveID
		auth   bool
		out    int // the server's MaxRecordOut (256: the tiny profile's, a wider gap in the slab)
	}{
		{"TLS 1.3", VersionTLS13, []CurveID{P256}, false, 0},
		{"TLS 1.2", VersionTLS12, []CurveID{P256}, false, 0},
		{"TLS 1.3 HelloRetryRequest", VersionTLS13, []CurveID{X25519, P256}, false, 0},
		{"TLS 1.3 client certificate", VersionTLS13, []CurveID{P256}, true, 0},
		{"TLS 1.2 client certificate", VersionTLS12, []CurveID{P256}, true, 0},
		{"TLS 1.3 HelloRetryRequest 256-byte records", VersionTLS13, []CurveID{X25519, P256}, false, 256},
		{"TLS 1.2 256-byte records", VersionTLS12, []CurveID{P256}, true, 256},
	} {
		t.Run(tc.name, func(t *testing.T) {
			budget := NewHandshakeBudget(1, 0)
			ccfg := func() *Config {
				c := clientConfig(t)
				c.Groups = tc.groups
				c.MaxVersion = tc.v
				if tc.auth {
					c.Certificate, c.Signer = p.ecChain, p.ecKey
				}
				return c
			}
			scfg := func() *Config {
				c := serverConfig(t, true)
				c.Groups = []CurveID{P256}
				c.HRRCookie = true
				c.HandshakeBudget = budget
				c.TicketKey = testTicketKey // a NewSessionTicket queued behind the flight not yet output
				c.MaxRecordOut = uint16(tc.out)
				if tc.auth {
					c.ClientAuth = RequireAnyClientCert
				}
				return c
			}
			s, c := NewServer(scfg(), 0), NewClient(ccfg(), 0)
			var toServer, fromServer []byte
			for i := 0; i < 10 && (s.State() == Handshaking || c.State() == Handshaking); i++ {
				out := drain(c)
				toServer = append(toServer, out...)
				if err := feedSplit(s, out, len(out)); err != nil {
					t.Fatal(err)
				}
				in := drain(s)
				fromServer = append(fromServer, in...)
				if err := feedSplit(c, in, len(in)); err != nil {
					t.Fatal(err)
				}
			}
			if s.State() != Established || c.State() != Established || (tc.v == VersionTLS13) != (c.Session() != nil) {
				t.Fatalf("reference handshake: %v %v, ticket %v", s.State(), c.State(), c.Session() != nil)
			}
			// byte by byte
			s1 := NewServer(scfg(), 0)
			var held []byte
			for i := range toServer {
				held = append(held, toServer[i])
				rest, err := feedRest(s1, held)
				if err != nil {
					t.Fatalf("byte %d: %v", i, err)
				}
				held = append(held[:0], rest...)
			}
			if got := drain(s1); s1.State() != Established || !bytes.Equal(got, fromServer) {
				t.Fatalf("byte by byte: server %v; output %d bytes, want %d", s1.State(), len(got), len(fromServer))
			}
			step := 1
			if testing.Short() {
				step = 13
			}
			for k := 1; k < len(toServer); k += step {
				s2 := NewServer(scfg(), 0)
				if err := feedSplit(s2, toServer, k); err != nil {
					t.Fatalf("cut %d: %v", k, err)
				}
				if got := drain(s2); s2.State() != Established || !bytes.Equal(got, fromServer) {
					t.Fatalf("cut %d: server %v; output %d bytes, want %d", k, s2.State(), len(got), len(fromServer))
				}
				if budget.InUse() != 0 {
					t.Fatalf("cut %d: budget held", k)
				}
			}
		})
	}
}

// goHelloLen returns the length of the ClientHello message crypto/tls sends with gc.
func goHelloLen(t *testing.T, gc *gotls.Config) int {
	t.Helper()
	c1, c2 := net.Pipe()
	defer c1.Close()
	defer c2.Close()
	go func() {
		c := gotls.Client(c1, gc.Clone())
		c.SetDeadline(time.Now().Add(20 * time.Second))
		c.Handshake()
	}()
	c2.SetDeadline(time.Now().Add(20 * time.Second))
	hdr := make([]byte, 5+4)
	if _, err := readFull(c2, hdr); err != nil {
		t.Fatal(err)
	}
	return 4 + (int(hdr[6])<<16 | int(hdr[7])<<8 | int(hdr[8]))
}

// TestGoClientHelloAtAreaSize: crypto/tls clients whose ClientHello (padded by their ALPN list)
// is one byte short of the server's ClientHello area, exactly its size, or one byte over,
// complete the handshake — TLS 1.3 with an X25519MLKEM768 share (the ServerHello written over
// the hello from its first byte) and TLS 1.2 (the flight staged in the tail of the slab, which
// the end of such a hello fills) — and the state taken from the hello (ALPN, SNI) is right; only
// the hello over the area takes the HandshakeBudget's grown buffer.
func TestGoClientHelloAtAreaSize(t *testing.T) {
	for _, v12 := range []bool{false, true} {
		for _, d := range []int{-1, 0, 1} {
			t.Run(fmt.Sprintf("v12=%v/%+d", v12, d), func(t *testing.T) {
				budget := NewHandshakeBudget(1, 0)
				cfg := serverConfig(t, false)
				cfg.ALPN = []string{"http/1.1"}
				cfg.HandshakeBudget = budget
				area := cap(NewServer(cfg, 0).hsBuf)
				gc := goClientConfig(t)
				gc.CurvePreferences = []gotls.CurveID{gotls.X25519MLKEM768, gotls.X25519, gotls.CurveP256}
				if v12 {
					gc.MinVersion, gc.MaxVersion = gotls.VersionTLS12, gotls.VersionTLS12
				}
				gc.NextProtos = []string{"http/1.1", "x"}
				base := goHelloLen(t, gc)
				// pad: protocol names of up to 255 bytes, each costing its length and one byte
				need := area + d - base
				var protos []string
				for need > 0 {
					k := min(need, 256)
					if need-k == 1 { // a leftover of one byte cannot be a name: split differently
						k--
					}
					protos = append(protos, strings.Repeat("p", k-1))
					need -= k
				}
				gc.NextProtos = append(protos, "http/1.1", "x")
				if n := goHelloLen(t, gc); n != area+d {
					t.Fatalf("hello %d, want %d", n, area+d)
				}
				a, b := tcpPair(t)
				srv := NewConn(a, NewServer(cfg, 0))
				wait := runPeer(func() error { return ourServerEcho(srv, 5) })
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
				cs := srv.Engine().ConnectionState()
				if cs.ALPN != "http/1.1" || cs.ServerName != "card.example" || cl.ConnectionState().NegotiatedProtocol != "http/1.1" {
					t.Fatalf("%+v", cs)
				}
				if !v12 && cs.Group != X25519MLKEM768 {
					t.Fatalf("group %v", cs.Group)
				}
				if grew := budget.Granted() > 0; grew != (d > 0) {
					t.Fatalf("area %d, hello %d: grown %v", area, area+d, grew)
				}
			})
		}
	}
}

// TestEarlyAppDataBehindUnsentFlight: a client's Finished, a 9 KB ChaCha20-Poly1305 record
// (streamed through the spill: the handshake is done) and a KeyUpdate asking for the server's
// reach a server that has output nothing yet — its flight and NewSessionTicket still wait in its
// handshake slab. The record's plaintext is released whole, and the server's output, taken at the
// end, is byte for byte that of a server drained at every step: flight, ticket, then its own
// KeyUpdate (queued behind what waits, RFC 8446 §4.6.3).
func TestEarlyAppDataBehindUnsentFlight(t *testing.T) {
	scfg := func() *Config {
		c := serverConfig(t, true)
		c.Groups = []CurveID{P256}
		c.TicketKey = testTicketKey
		c.CipherSuites = []uint16{TLS_CHACHA20_POLY1305_SHA256}
		return c
	}
	cc := clientConfig(t)
	cc.Groups = []CurveID{P256}
	cc.MaxRecordOut = maxPlaintext
	s, c := NewServer(scfg(), 0), NewClient(cc, 0)
	s.SetSpill(NewMemSpill(), 4096)
	var toServer, fromServer []byte
	for i := 0; i < 10 && (s.State() == Handshaking || c.State() == Handshaking); i++ {
		out := drain(c)
		toServer = append(toServer, out...)
		if _, err := streamFeed(s, out, 0); err != nil {
			t.Fatal(err)
		}
		in := drain(s)
		fromServer = append(fromServer, in...)
		if err := feedSplit(c, in, len(in)); err != nil {
			t.Fatal(err)
		}
	}
	data := pattern(9000, 3)
	tail := wrapApp(t, c, data)
	if err := c.KeyUpdate(true); err != nil {
		t.Fatal(err)
	}
	tail = append(tail, drain(c)...)
	toServer = append(toServer, tail...)
	got, err := streamFeed(s, tail, 0)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatal(err, len(got))
	}
	ku := drain(s)
	if len(ku) == 0 || ku[0] != recordAppData {
		t.Fatal("no KeyUpdate in answer")
	}
	fromServer = append(fromServer, ku...)
	for _, split := range []int{0, 1, 100, 1460} {
		s2 := NewServer(scfg(), 0)
		s2.SetSpill(NewMemSpill(), 4096)
		got, err := streamFeed(s2, toServer, split)
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("split %d: %v, %d bytes", split, err, len(got))
		}
		if s2.sp == nil {
			t.Fatal("the record was not streamed")
		}
		if out := drain(s2); !bytes.Equal(out, fromServer) {
			t.Fatalf("split %d: output %d bytes, want %d", split, len(out), len(fromServer))
		}
	}
}
