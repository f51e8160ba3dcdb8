package tls

import (
	gotls "crypto/tls"
	"fmt"
	"net"
	"strings"
	"testing"
)

func feedAll(b testing.TB, dst *Engine, in []byte) {
	for len(in) > 0 {
		k, _, err := dst.Unwrap(in)
		if err != nil {
			b.Fatal(err)
		}
		in = in[k:]
	}
}

// BenchmarkHandshakeCard: a full handshake, our client and our server in memory (ECDSA P-256
// certificate, X25519, AES-128-GCM; tls12: TLS 1.2 ECDHE-ECDSA-AES128-GCM-SHA256 with X25519).
// server-allocs/op counts only the server's allocations.
func BenchmarkHandshakeCard(b *testing.B) {
	for _, g := range []CurveID{X25519, X25519MLKEM768, 0, 1, 2, 3} {
		name := fmt.Sprintf("%04x", uint16(g))
		switch g {
		case 0:
			name, g = "tls12", X25519
		case 1, 2, 3: // the card's other key types, X25519 (rsa-tls12: ECDHE-RSA-AES128-GCM-SHA256)
			name, g = []string{"", "rsa", "rsa-tls12", "ed25519"}[g], X25519
		}
		b.Run(name, func(b *testing.B) {
			sc, cc := serverConfig(b, name == "ed25519"), clientConfig(b)
			if strings.HasPrefix(name, "rsa") {
				sc = rsaServerConfig(b)
			}
			cc.Groups = []CurveID{g}
			if strings.HasSuffix(name, "tls12") {
				cc.MaxVersion = VersionTLS12
				cc.Groups = groupsWithP256(g)
			}
			buf := make([]byte, 16384)
			b.ReportAllocs()
			var srvAllocs uint64
			for i := 0; i < b.N; i++ {
				srvAllocs += serverHandshakeAllocs(b, sc, cc, buf)
			}
			b.ReportMetric(float64(srvAllocs)/float64(b.N), "server-allocs/op")
		})
	}
}

// BenchmarkServerHandshakeCard measures the server side alone (client work excluded from the time).
func BenchmarkServerHandshakeCard(b *testing.B) {
	for _, mode := range []string{"ecdsa", "ed25519", "rsa", "ecdsa-resumed", "ecdsa-tls12", "ed25519-tls12", "rsa-tls12"} {
		b.Run(mode, func(b *testing.B) {
			sc, cc := serverConfig(b, strings.HasPrefix(mode, "ed25519")), clientConfig(b)
			if strings.HasPrefix(mode, "rsa") {
				sc = rsaServerConfig(b)
			}
			if strings.HasSuffix(mode, "-tls12") {
				cc.MaxVersion = VersionTLS12
			}
			if mode == "ecdsa-resumed" {
				sc.TicketKey = testTicketKey
				cc.Client.Session = firstSession(b, sc)
			}
			benchServerHandshake(b, sc, cc)
		})
	}
}

func benchServerHandshake(b *testing.B, sc, cc *Config) {
	buf := make([]byte, 16384)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		c := NewClient(cc, 0)
		n := c.Output(buf)
		b.StartTimer()
		s := NewServer(sc, 0)
		feedAll(b, s, buf[:n])
		n = s.Output(buf)
		b.StopTimer()
		feedAll(b, c, buf[:n])
		n = c.Output(buf)
		b.StartTimer()
		feedAll(b, s, buf[:n])
		if s.State() != Established {
			b.Fatal("not established")
		}
	}
}

// BenchmarkHandshakeCryptoTLS: the same handshake with crypto/tls on both sides over net.Pipe
// (tls12: both limited to TLS 1.2, ECDHE-ECDSA-AES128-GCM-SHA256).
func BenchmarkHandshakeCryptoTLS(b *testing.B) {
	for _, g := range []gotls.CurveID{gotls.X25519, gotls.X25519MLKEM768, 0, 1, 2, 3} {
		name := fmt.Sprintf("%04x", uint16(g))
		switch g {
		case 0:
			name, g = "tls12", gotls.X25519
		case 1, 2, 3:
			name, g = []string{"", "rsa", "rsa-tls12", "ed25519"}[g], gotls.X25519
		}
		b.Run(name, func(b *testing.B) {
			gs := goServerConfig(b)
			gs.SessionTicketsDisabled = true
			p := getPKI(b)
			switch {
			case strings.HasPrefix(name, "rsa"):
				gs.Certificates = []gotls.Certificate{{Certificate: p.rsaChain, PrivateKey: p.rsaKey}}
			case name == "ed25519":
				gs.Certificates = []gotls.Certificate{{Certificate: p.edChain, PrivateKey: p.edKey}}
			}
			gc := goClientConfig(b)
			if strings.HasSuffix(name, "tls12") {
				gc.MinVersion, gc.MaxVersion = gotls.VersionTLS12, gotls.VersionTLS12
				gs.MinVersion, gs.MaxVersion = gotls.VersionTLS12, gotls.VersionTLS12
			}
			gc.CurvePreferences = []gotls.CurveID{g}
			gs.CurvePreferences = []gotls.CurveID{g}
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				c1, c2 := net.Pipe()
				done := make(chan error, 1)
				go func() { done <- gotls.Server(c2, gs).Handshake() }()
				if err := gotls.Client(c1, gc).Handshake(); err != nil {
					b.Fatal(err)
				}
				if err := <-done; err != nil {
					b.Fatal(err)
				}
				c1.Close()
				c2.Close()
			}
		})
	}
}

func BenchmarkWrapUnwrap(b *testing.B) {
	for _, suite := range []uint16{TLS_AES_128_GCM_SHA256, TLS_AES_256_GCM_SHA384, TLS_CHACHA20_POLY1305_SHA256,
		TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256} {
		for _, size := range []int{1024, 16384} {
			b.Run(fmt.Sprintf("%04x/%d", suite, size), func(b *testing.B) {
				sc, cc := serverConfig(b, false), clientConfig(b)
				cc.CipherSuites = []uint16{suite}
				if suite12ByID(suite) != nil {
					cc.MaxVersion = VersionTLS12
				}
				cc.MaxRecordOut = uint16(size)
				s, c := handshakePair(b, sc, cc)
				hdr, tail := c.Overhead()
				rec := make([]byte, hdr+size+tail)
				b.SetBytes(int64(size))
				b.ReportAllocs()
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					n := c.Wrap(rec, size)
					if _, _, err := s.Unwrap(rec[:n]); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// BenchmarkHandshakeOurClientGoServer: our client (driven on this goroutine over net.Pipe) against a
// crypto/tls server. Subtracting our client's allocations (BenchmarkHandshakeCard allocs/op minus
// server-allocs/op) estimates what the crypto/tls server alone allocates.
func BenchmarkHandshakeOurClientGoServer(b *testing.B) {
	b.Run("tls13", func(b *testing.B) { benchOurClientGoServer(b, false) })
	b.Run("tls12", func(b *testing.B) { benchOurClientGoServer(b, true) })
}

func benchOurClientGoServer(b *testing.B, tls12 bool) {
	gs := goServerConfig(b)
	gs.SessionTicketsDisabled = true
	gs.CurvePreferences = []gotls.CurveID{gotls.X25519}
	cc := clientConfig(b)
	if tls12 {
		gs.MinVersion, gs.MaxVersion = gotls.VersionTLS12, gotls.VersionTLS12
		cc.Groups = groupsWithP256(X25519)
	}
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		c1, c2 := net.Pipe()
		done := make(chan error, 1)
		go func() { done <- gotls.Server(c2, gs).Handshake() }()
		if err := NewConn(c1, NewClient(cc, 0)).Handshake(); err != nil {
			b.Fatal(err)
		}
		if err := <-done; err != nil {
			b.Fatal(err)
		}
		c1.Close()
		c2.Close()
	}
}

// BenchmarkCheckExtensionsWorst: the duplicate check of a hostile 16 KiB extension block (4,096
// empty extensions of distinct types spread over all 16 high nibbles: 16 passes).
func BenchmarkCheckExtensionsWorst(b *testing.B) {
	blk := make([]byte, 0, 4*4096)
	for i := 0; i < 4096; i++ {
		t := i*16 + i>>8 // distinct, every high nibble
		blk = append(blk, byte(t>>8), byte(t), 0, 0)
	}
	b.SetBytes(int64(len(blk)))
	for i := 0; i < b.N; i++ {
		if checkExtensions(blk) != 0 {
			b.Fatal("duplicate reported")
		}
	}
}

// BenchmarkCheckExtensionsTypical: a browser-sized block (18 extensions).
func BenchmarkCheckExtensionsTypical(b *testing.B) {
	var blk []byte
	for _, t := range []int{0x0a0a, 0, 23, 0xff01, 10, 11, 35, 16, 5, 13, 18, 51, 45, 43, 27, 17513, 0xfe0d, 0x1a1a} {
		blk = append(blk, byte(t>>8), byte(t), 0, 0)
	}
	for i := 0; i < b.N; i++ {
		checkExtensions(blk)
	}
}
