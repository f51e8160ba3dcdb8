package tls

import (
	"bytes"
	gotls "crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"testing"
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
		})
	}
}
