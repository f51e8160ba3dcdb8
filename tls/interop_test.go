package tls

import (
	"bytes"
	gotls "crypto/tls"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"unsafe"
)

// echoServer runs our server on raw and echoes one message.
func ourServerEcho(c *Conn, n int) error {
	if err := c.Handshake(); err != nil {
		return err
	}
	buf := make([]byte, n)
	if _, err := io.ReadFull(c, buf); err != nil {
		return err
	}
	_, err := c.Write(buf)
	return err
}

func TestServerInteropGoClient(t *testing.T) {
	suitesList := []uint16{TLS_AES_128_GCM_SHA256, TLS_AES_256_GCM_SHA384, TLS_CHACHA20_POLY1305_SHA256}
	groups := []CurveID{X25519, P256, X25519MLKEM768}
	for _, ed := range []bool{false, true} {
		for _, s := range suitesList {
			for _, g := range groups {
				name := fmt.Sprintf("ed=%v/%04x/%04x", ed, s, uint16(g))
				t.Run(name, func(t *testing.T) {
					a, b := tcpPair(t)
					cfg := serverConfig(t, ed)
					cfg.CipherSuites = []uint16{s}
					cfg.ALPN = []string{"http/1.1"}
					srv := NewConn(a, NewServer(cfg, 0))
					msg := bytes.Repeat([]byte("card!"), 1000)
					wait := runPeer(func() error { return ourServerEcho(srv, len(msg)) })
					gc := goClientConfig(t)
					gc.CurvePreferences = []gotls.CurveID{gotls.CurveID(g)}
					gc.NextProtos = []string{"h2", "http/1.1"}
					cl := gotls.Client(b, gc)
					if _, err := cl.Write(msg); err != nil {
						t.Fatal(err)
					}
					got := make([]byte, len(msg))
					if _, err := io.ReadFull(cl, got); err != nil {
						t.Fatal(err)
					}
					if !bytes.Equal(got, msg) {
						t.Fatal("echo mismatch")
					}
					if err := wait(); err != nil {
						t.Fatal(err)
					}
					st := cl.ConnectionState()
					if st.CipherSuite != s || st.NegotiatedProtocol != "http/1.1" || st.CurveID != gotls.CurveID(g) {
						t.Fatalf("go state: suite %04x alpn %q curve %v", st.CipherSuite, st.NegotiatedProtocol, st.CurveID)
					}
					cs := srv.Engine().ConnectionState()
					if cs.CipherSuite != s || cs.Group != g || cs.ServerName != "card.example" || cs.ALPN != "http/1.1" || cs.HelloRetry {
						t.Fatalf("our state: %+v", cs)
					}
				})
			}
		}
	}
}

// TestServerHRR: the Go client sends an X25519 share; the server only accepts P-256 (or the
// hybrid), so it must ask with HelloRetryRequest (with and without cookie).
func TestServerHRR(t *testing.T) {
	for _, tc := range []struct {
		our    []CurveID
		client []gotls.CurveID
		cookie bool
	}{
		{[]CurveID{P256}, []gotls.CurveID{gotls.X25519, gotls.CurveP256}, false},
		{[]CurveID{P256}, []gotls.CurveID{gotls.X25519, gotls.CurveP256}, true},
	} {
		t.Run(fmt.Sprint(tc.our, tc.cookie), func(t *testing.T) {
			a, b := tcpPair(t)
			cfg := serverConfig(t, false)
			cfg.Groups = tc.our
			cfg.HRRCookie = tc.cookie
			srv := NewConn(a, NewServer(cfg, 0))
			wait := runPeer(func() error { return ourServerEcho(srv, 5) })
			gc := goClientConfig(t)
			gc.CurvePreferences = tc.client
			cl := gotls.Client(b, gc)
			if _, err := cl.Write([]byte("hello")); err != nil {
				t.Fatal(err)
			}
			got := make([]byte, 5)
			if _, err := io.ReadFull(cl, got); err != nil {
				t.Fatal(err)
			}
			if err := wait(); err != nil {
				t.Fatal(err)
			}
			if !srv.Engine().ConnectionState().HelloRetry || srv.Engine().ConnectionState().Group != tc.our[0] {
				t.Fatalf("no HRR: %+v", srv.Engine().ConnectionState())
			}
		})
	}
}

func TestServerClientAuth(t *testing.T) {
	p := getPKI(t)
	for _, send := range []bool{true, false} {
		t.Run(fmt.Sprint(send), func(t *testing.T) {
			a, b := tcpPair(t)
			cfg := serverConfig(t, false)
			cfg.ClientAuth = RequireAndVerifyClientCert
			cfg.ClientCAs = p.caPool
			srv := NewConn(a, NewServer(cfg, 0))
			wait := runPeer(func() error { return ourServerEcho(srv, 2) })
			gc := goClientConfig(t)
			if send {
				gc.Certificates = []gotls.Certificate{{Certificate: p.clChain, PrivateKey: p.clKey}}
			}
			cl := gotls.Client(b, gc)
			_, err := cl.Write([]byte("hi"))
			if err == nil {
				_, err = io.ReadFull(cl, make([]byte, 2))
			}
			serr := wait()
			if send {
				if err != nil || serr != nil {
					t.Fatal(err, serr)
				}
				pc := srv.Engine().ConnectionState().PeerCertificates
				if len(pc) != 1 || pc[0].Subject.CommonName != "client" {
					t.Fatal("peer certificates", pc)
				}
			} else {
				if srv.Engine().Alert() != AlertCertificateRequired {
					t.Fatalf("alert %v, errs %v %v", srv.Engine().Alert(), err, serr)
				}
			}
		})
	}
}

// TestServerRejectsTLS12 — a server limited to TLS 1.3 answers a TLS-1.2-only client with
// protocol_version (TLS 1.2 itself is tested in tls12_test.go).
func TestServerRejectsTLS12(t *testing.T) {
	a, b := tcpPair(t)
	cfg := serverConfig(t, false)
	cfg.MinVersion = VersionTLS13
	srv := NewConn(a, NewServer(cfg, 0))
	wait := runPeer(func() error { return srv.Handshake() })
	gc := goClientConfig(t)
	gc.MinVersion, gc.MaxVersion = gotls.VersionTLS12, gotls.VersionTLS12
	err := gotls.Client(b, gc).Handshake()
	if err == nil || !strings.Contains(err.Error(), "protocol version") {
		t.Fatalf("client error %v", err)
	}
	if wait() == nil || srv.Engine().Alert() != AlertProtocolVersion {
		t.Fatal("alert", srv.Engine().Alert())
	}
}

func TestServerRecordSizeLimitOverflow(t *testing.T) {
	a, b := tcpPair(t)
	cfg := serverConfig(t, false)
	cfg.RecordSizeLimit = 1024
	srv := NewConn(a, NewServer(cfg, 2048))
	wait := runPeer(func() error { return ourServerEcho(srv, 4000) })
	cl := gotls.Client(b, goClientConfig(t))
	if _, err := cl.Write(make([]byte, 4000)); err != nil {
		t.Fatal(err)
	}
	_, err := cl.Read(make([]byte, 10))
	if err == nil || !strings.Contains(err.Error(), "record overflow") {
		t.Fatalf("client got %v", err)
	}
	var ae *AlertError
	if err := wait(); !errors.As(err, &ae) || ae.Code != AlertRecordOverflow || ae.Remote {
		t.Fatalf("server got %v", err)
	}
}

func TestServerCloseNotifyAndKeyUpdate(t *testing.T) {
	a, b := tcpPair(t)
	srv := NewConn(a, NewServer(serverConfig(t, false), 0))
	wait := runPeer(func() error {
		if err := srv.Handshake(); err != nil {
			return err
		}
		buf := make([]byte, 100)
		for i := 0; i < 3; i++ {
			// our KeyUpdate asks the Go client to update as well
			if err := srv.KeyUpdate(true); err != nil {
				return err
			}
			if _, err := srv.Write([]byte("after update")); err != nil {
				return err
			}
			n, err := srv.Read(buf)
			if err != nil {
				return err
			}
			if string(buf[:n]) != "pong" {
				return fmt.Errorf("got %q", buf[:n])
			}
		}
		if _, err := srv.Read(buf); err != io.EOF {
			return fmt.Errorf("want EOF after close_notify, got %v", err)
		}
		return srv.Close()
	})
	cl := gotls.Client(b, goClientConfig(t))
	buf := make([]byte, 100)
	for i := 0; i < 3; i++ {
		n, err := cl.Read(buf)
		if err != nil || string(buf[:n]) != "after update" {
			t.Fatal(err, string(buf[:n]))
		}
		if _, err := cl.Write([]byte("pong")); err != nil {
			t.Fatal(err)
		}
	}
	if err := cl.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	if _, err := cl.Read(buf); err != io.EOF {
		t.Fatalf("want EOF from our close_notify, got %v", err)
	}
	if err := wait(); err != nil {
		t.Fatal(err)
	}
	// the engine updated its read key when the Go client answered update_requested
	if srv.Engine().rd.seq > 3 {
		t.Fatal("read key was not updated")
	}
}

// goServerEcho runs a crypto/tls server that echoes one message.
func goServerEcho(c *gotls.Conn, n int) error {
	if err := c.Handshake(); err != nil {
		return err
	}
	buf := make([]byte, n)
	if _, err := io.ReadFull(c, buf); err != nil {
		return err
	}
	_, err := c.Write(buf)
	return err
}

func TestClientInteropGoServer(t *testing.T) {
	p := getPKI(t)
	for _, s := range []uint16{TLS_AES_128_GCM_SHA256, TLS_AES_256_GCM_SHA384, TLS_CHACHA20_POLY1305_SHA256} {
		for _, g := range []CurveID{X25519, P256, X25519MLKEM768} {
			for _, ed := range []bool{false, true} {
				t.Run(fmt.Sprintf("%04x/%04x/ed=%v", s, uint16(g), ed), func(t *testing.T) {
					a, b := tcpPair(t)
					gs := goServerConfig(t)
					if ed {
						gs.Certificates = []gotls.Certificate{{Certificate: p.edChain, PrivateKey: p.edKey}}
					}
					gs.NextProtos = []string{"http/1.1"}
					wait := runPeer(func() error { return goServerEcho(gotls.Server(b, gs), 3000) })
					cfg := clientConfig(t)
					cfg.CipherSuites = []uint16{s}
					cfg.Groups = []CurveID{g}
					cfg.ALPN = []string{"http/1.1"}
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
					if cs.CipherSuite != s || cs.Group != g || cs.ALPN != "http/1.1" || len(cs.PeerCertificates) == 0 {
						t.Fatalf("%+v", cs)
					}
				})
			}
		}
	}
}

func TestClientHRRAndIPName(t *testing.T) {
	a, b := tcpPair(t)
	gs := goServerConfig(t)
	gs.CurvePreferences = []gotls.CurveID{gotls.CurveP256}
	wait := runPeer(func() error { return goServerEcho(gotls.Server(b, gs), 4) })
	cfg := clientConfig(t)
	cfg.Client.ServerName = "127.0.0.1"
	c := NewConn(a, NewClient(cfg, 0))
	if _, err := c.Write([]byte("ping")); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(c, make([]byte, 4)); err != nil {
		t.Fatal(err)
	}
	if err := wait(); err != nil {
		t.Fatal(err)
	}
	if cs := c.Engine().ConnectionState(); !cs.HelloRetry || cs.Group != P256 {
		t.Fatalf("%+v", cs)
	}
}

func TestClientVerifyFailures(t *testing.T) {
	for _, tc := range []struct {
		name  string
		mod   func(*Config)
		alert uint8
	}{
		{"name mismatch", func(c *Config) { c.Client.ServerName = "other.example" }, AlertBadCertificate},
		{"untrusted root", func(c *Config) { c.Client.Roots = getPKI(t).otherPool }, AlertUnknownCA},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, b := tcpPair(t)
			wait := runPeer(func() error { return gotls.Server(b, goServerConfig(t)).Handshake() })
			cfg := clientConfig(t)
			tc.mod(cfg)
			c := NewConn(a, NewClient(cfg, 0))
			err := c.Handshake()
			var ae *AlertError
			if !errors.As(err, &ae) || ae.Code != tc.alert || ae.Remote {
				t.Fatalf("got %v", err)
			}
			if werr := wait(); werr == nil {
				t.Fatal("go server accepted")
			}
		})
	}
}

func TestClientMutualTLS(t *testing.T) {
	p := getPKI(t)
	a, b := tcpPair(t)
	gs := goServerConfig(t)
	gs.ClientAuth = gotls.RequireAndVerifyClientCert
	gs.ClientCAs = p.caPool
	var peerCN string
	wait := runPeer(func() error {
		s := gotls.Server(b, gs)
		if err := goServerEcho(s, 4); err != nil {
			return err
		}
		peerCN = s.ConnectionState().PeerCertificates[0].Subject.CommonName
		return nil
	})
	cfg := clientConfig(t)
	cfg.Certificate, cfg.Signer = p.clChain, p.clKey
	c := NewConn(a, NewClient(cfg, 0))
	if _, err := c.Write([]byte("mtls")); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(c, make([]byte, 4)); err != nil {
		t.Fatal(err)
	}
	if err := wait(); err != nil {
		t.Fatal(err)
	}
	if peerCN != "client" {
		t.Fatal(peerCN)
	}
}

func TestClientKeyUpdateGoServer(t *testing.T) {
	a, b := tcpPair(t)
	wait := runPeer(func() error {
		s := gotls.Server(b, goServerConfig(t))
		buf := make([]byte, 100)
		for {
			n, err := s.Read(buf)
			if err == io.EOF {
				return s.Close()
			}
			if err != nil {
				return err
			}
			if _, err := s.Write(buf[:n]); err != nil {
				return err
			}
		}
	})
	c := NewConn(a, NewClient(clientConfig(t), 0))
	buf := make([]byte, 100)
	for i := 0; i < 4; i++ {
		if err := c.Handshake(); err != nil {
			t.Fatal(err)
		}
		if err := c.KeyUpdate(i%2 == 0); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Write([]byte("k")); err != nil {
			t.Fatal(err)
		}
		if n, err := c.Read(buf); err != nil || n != 1 {
			t.Fatal(err)
		}
	}
	if err := c.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Read(buf); err != io.EOF {
		t.Fatalf("want EOF, got %v", err)
	}
	if err := wait(); err != nil {
		t.Fatal(err)
	}
}

// TestServerGoDefaults: with its default configuration the Go client offers X25519MLKEM768 and
// X25519 shares; the server takes the hybrid.
func TestServerGoDefaults(t *testing.T) {
	a, b := tcpPair(t)
	srv := NewConn(a, NewServer(serverConfig(t, false), 0))
	wait := runPeer(func() error { return ourServerEcho(srv, 2) })
	gc := &gotls.Config{RootCAs: getPKI(t).caPool, ServerName: "card.example", Time: testTime}
	cl := gotls.Client(b, gc)
	if _, err := cl.Write([]byte("hi")); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(cl, make([]byte, 2)); err != nil {
		t.Fatal(err)
	}
	if err := wait(); err != nil {
		t.Fatal(err)
	}
	if cs := srv.Engine().ConnectionState(); cs.Group != X25519MLKEM768 || cs.HelloRetry {
		t.Fatalf("%+v", cs)
	}
}

// TestServerLargeClientHelloGo: a real client (crypto/tls) whose ClientHello is just under the
// 16 KiB + 4 limit (59 ALPN names of 250 bytes beside an X25519MLKEM768 share: ≈ 16.2 KB, bigger
// than any ECH + GREASE + post-quantum hello) completes a handshake with our server; one more name
// puts it over MaxHandshakeMessage and the client gets illegal_parameter, not internal_error.
func TestServerLargeClientHelloGo(t *testing.T) {
	for _, tc := range []struct {
		protos int
		ok     bool
	}{{10, true}, {59, true}, {60, false}, {70, false}} {
		t.Run(fmt.Sprint(tc.protos), func(t *testing.T) {
			a, b := tcpPair(t)
			srv := NewConn(a, NewServer(serverConfig(t, false), 0))
			wait := runPeer(func() error { return ourServerEcho(srv, 5) })
			gc := goClientConfig(t)
			for i := 0; i < tc.protos; i++ {
				gc.NextProtos = append(gc.NextProtos, fmt.Sprintf("%03d%s", i, bytes.Repeat([]byte{'p'}, 247)))
			}
			cl := gotls.Client(b, gc)
			_, err := cl.Write([]byte("hello"))
			if tc.ok {
				if err != nil {
					t.Fatal(err)
				}
				got := make([]byte, 5)
				if _, err := io.ReadFull(cl, got); err != nil {
					t.Fatal(err)
				}
				if err := wait(); err != nil {
					t.Fatal(err)
				}
				return
			}
			werr := wait()
			if srv.Engine().Alert() != AlertIllegalParameter || err == nil {
				t.Fatalf("server %v (alert %d), client %v", werr, srv.Engine().Alert(), err)
			}
			if !strings.Contains(err.Error(), "illegal parameter") {
				t.Fatalf("go client saw %v", err)
			}
		})
	}
}

// TestServerPostBuffersAfterShedGo: against Go's crypto/tls client, a server that sheds while idle
// (its AEAD states and its post-handshake buffers given back) still sends and answers KeyUpdates
// (RFC 8446 §4.6.3) and closes cleanly: the buffers are lent again for each, and given back by the
// next Shed.
func TestServerPostBuffersAfterShedGo(t *testing.T) {
	a, b := tcpPair(t)
	srv := NewConn(a, NewServer(serverConfig(t, false), 0))
	wait := runPeer(func() error {
		if err := srv.Handshake(); err != nil {
			return err
		}
		e := srv.Engine()
		buf := make([]byte, 100)
		for i := 0; i < 3; i++ {
			e.Shed()
			if e.post != nil || e.Footprint() != int(unsafe.Sizeof(*e)) {
				return fmt.Errorf("round %d: idle server holds post-handshake buffers (footprint %d)", i, e.Footprint())
			}
			// our KeyUpdate asks the Go client to update as well: its KeyUpdate arrives before "pong"
			if err := srv.KeyUpdate(true); err != nil {
				return err
			}
			if _, err := srv.Write([]byte("after update")); err != nil {
				return err
			}
			n, err := srv.Read(buf)
			if err != nil {
				return err
			}
			if string(buf[:n]) != "pong" {
				return fmt.Errorf("got %q", buf[:n])
			}
		}
		e.Shed()
		if e.post != nil {
			return errors.New("post-handshake buffers kept after Shed")
		}
		if _, err := srv.Read(buf); err != io.EOF {
			return fmt.Errorf("want EOF after close_notify, got %v", err)
		}
		e.Shed()
		return srv.Close()
	})
	cl := gotls.Client(b, goClientConfig(t))
	buf := make([]byte, 100)
	for i := 0; i < 3; i++ {
		n, err := cl.Read(buf)
		if err != nil || string(buf[:n]) != "after update" {
			t.Fatal(err, string(buf[:n]))
		}
		if _, err := cl.Write([]byte("pong")); err != nil {
			t.Fatal(err)
		}
	}
	if err := cl.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	if _, err := cl.Read(buf); err != io.EOF {
		t.Fatalf("want EOF from our close_notify, got %v", err)
	}
	if err := wait(); err != nil {
		t.Fatal(err)
	}
	if srv.Engine().rd.seq > 3 {
		t.Fatal("read key was not updated")
	}
}
