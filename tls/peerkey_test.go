package tls

import (
	"bytes"
	gotls "crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"testing"
	"unsafe"
)

// TestPeerKeyOnly: a server with Config.PeerKeyOnly, whose client (Go's crypto/tls) sends a
// certificate chain, keeps only the leaf's public key (KeptPeerCertificate) after TLS 1.3 and
// TLS 1.2 handshakes: one certificate with the leaf's SubjectPublicKeyInfo and key, no name; the
// application data still flows. Without it the parsed chain is kept (TestServerClientAuth).
func TestPeerKeyOnly(t *testing.T) {
	p := getPKI(t)
	leaf, err := x509.ParseCertificate(p.clChain[0])
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range []uint16{gotls.VersionTLS13, gotls.VersionTLS12} {
		t.Run(fmt.Sprint(v), func(t *testing.T) {
			a, b := tcpPair(t)
			cfg := serverConfig(t, false)
			cfg.ClientAuth = RequestClientCert
			cfg.PeerKeyOnly = true
			srv := NewConn(a, NewServer(cfg, 0))
			wait := runPeer(func() error { return ourServerEcho(srv, 2) })
			gc := goClientConfig(t)
			gc.MinVersion, gc.MaxVersion = v, v
			gc.Certificates = []gotls.Certificate{{Certificate: append(p.clChain, p.clChain...), PrivateKey: p.clKey}}
			cl := gotls.Client(b, gc)
			_, err := cl.Write([]byte("hi"))
			if err == nil {
				_, err = io.ReadFull(cl, make([]byte, 2))
			}
			if serr := wait(); err != nil || serr != nil {
				t.Fatal(err, serr)
			}
			pc := srv.Engine().ConnectionState().PeerCertificates
			if len(pc) != 1 || !bytes.Equal(pc[0].RawSubjectPublicKeyInfo, leaf.RawSubjectPublicKeyInfo) ||
				pc[0].PublicKey == nil || pc[0].Raw != nil || pc[0].Subject.CommonName != "" {
				t.Fatalf("peer certificates %+v", pc)
			}
			// the leaf is in the engine's lent engineRare, which Footprint counts
			if e := srv.Engine(); e.rare == nil || e.Footprint() < int(unsafe.Sizeof(*e))+RareSize {
				t.Fatalf("footprint %d does not count the kept certificate", e.Footprint())
			}
		})
	}
}

// TestEngineRare: an engine whose peer sent no certificate holds no engineRare (its footprint is
// its struct once idle), and Err reports the configuration error, the alert sent or the alert
// received (the error kinds that replace a stored error value).
func TestEngineRare(t *testing.T) {
	s, c := handshakePair(t, serverConfig(t, false), clientConfig(t))
	if s.rare != nil || s.Err() != nil || s.Footprint() != int(unsafe.Sizeof(*s)) {
		t.Fatalf("server without a client certificate: rare %v err %v footprint %d", s.rare != nil, s.Err(), s.Footprint())
	}
	if c.rare == nil || len(c.ConnectionState().PeerCertificates) == 0 {
		t.Fatal("the client does not keep the server's chain")
	}
	cfg := serverConfig(t, false)
	cfg.Rand = nil
	if e := NewServer(cfg, 0); e.State() != Failed || e.Err() == nil || e.Err().Error() != "tls: Config.Rand is nil" {
		t.Fatalf("configuration error: %v", e.Err())
	}
	bad := make([]byte, 22)
	copy(bad, []byte{23, 3, 3, 0, 17}) // 17 zero bytes: bad_record_mac
	_, _, err := s.Unwrap(bad)
	expectAlert(t, err, AlertBadRecordMAC, false)
	if s.Err() != err {
		t.Fatalf("Err %v, Unwrap returned %v", s.Err(), err)
	}
	buf := make([]byte, 256)
	n := s.Output(buf)
	_, _, err = c.Unwrap(buf[:n])
	expectAlert(t, err, AlertBadRecordMAC, true)
	if c.Err() != err {
		t.Fatalf("Err %v, Unwrap returned %v", c.Err(), err)
	}
}

// TestServerNameInOwnCertificate: a server name that is in the server's own leaf certificate
// (RFC 6066 §3: the client names the server it wants) is kept as a place in that certificate, no
// allocation and no engineRare; another name is copied into engineRare (and counted in
// Footprint); a ClientHello without server_name keeps none. ConnectionState returns what the
// client sent in each case.
func TestServerNameInOwnCertificate(t *testing.T) {
	for _, tc := range []struct {
		name     string
		insecure bool
		rare     bool
	}{
		{"card.example", false, false}, // the certificate's dNSName
		{"other.example", true, true},  // not in the certificate
		{"", true, false},              // no server_name sent
	} {
		cc := clientConfig(t)
		cc.Client.ServerName, cc.Client.InsecureSkipVerify = tc.name, tc.insecure
		s, c := handshakePair(t, serverConfig(t, false), cc)
		transfer(t, c, s, []byte("x"))
		if got := s.ConnectionState().ServerName; got != tc.name {
			t.Errorf("%q: server's ConnectionState().ServerName = %q", tc.name, got)
		}
		if (s.rare != nil) != tc.rare {
			t.Errorf("%q: engineRare lent %v, want %v", tc.name, s.rare != nil, tc.rare)
		}
		want := int(unsafe.Sizeof(*s))
		if tc.rare {
			want += RareSize + len(tc.name)
		}
		if s.Shed(); s.Footprint() != want {
			t.Errorf("%q: server footprint %d, want %d", tc.name, s.Footprint(), want)
		}
	}
	// a name longer than the 255 bytes of a DNS name (RFC 1035 §3.1) is cut there
	s := NewServer(serverConfig(t, false), 0)
	long := bytes.Repeat([]byte("a"), 300)
	s.setServerName(long)
	if got := s.ConnectionState().ServerName; got != string(long[:maxServerName]) {
		t.Fatalf("long name kept as %d bytes", len(got))
	}
	s.setServerName([]byte("card.example")) // a second ClientHello (after HRR) naming the card
	if s.ConnectionState().ServerName != "card.example" || s.rare.serverName != "" {
		t.Fatalf("second name: %q (rare %q)", s.ConnectionState().ServerName, s.rare.serverName)
	}
}
