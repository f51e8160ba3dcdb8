package tls

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// fuzzClientConfig is deterministic: the same seed gives the same ClientHello and key share.
func fuzzClientConfig(t testing.TB) *Config {
	c := clientConfig(t)
	c.Rand = seeded(1000)
	c.Client.InsecureSkipVerify = true
	return c
}

func unwrapAll(e *Engine, data []byte) {
	for i := 0; i < 64 && len(data) > 0; i++ {
		n, _, err := e.Unwrap(data)
		if err != nil || n == 0 {
			return
		}
		if n > len(data) {
			panic("consumed more than given")
		}
		data = data[n:]
	}
}

// FuzzRecord feeds arbitrary records to a server in three states: fresh, after the ClientHello
// (mid-handshake, waiting for the client Finished; the ClientHello given whole, or cut where the
// input's length says, as by a TCP segment boundary) and established.
func FuzzRecord(f *testing.F) {
	for _, s := range fuzzRecordSeeds(f) {
		f.Add(s)
	}
	sc := serverConfig(f, false)
	cc := fuzzClientConfig(f)
	cl := NewClient(cc, 0)
	buf := make([]byte, 16384)
	chRec := append([]byte(nil), buf[:cl.Output(buf)]...)
	_, ch12Rec := tls12Prefix(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		in := append([]byte(nil), data...)
		s := NewServer(sc, 0)
		unwrapAll(s, in)
		s.Output(buf)
		s = NewServer(sc, 0)
		unwrapAll(s, append([]byte(nil), chRec...))
		s.Output(buf)
		copy(in, data)
		unwrapAll(s, in)
		s.Output(buf)
		// the same with the ClientHello cut in two, and the flight left in the output buffer
		// while the input is reassembled (serverMemory stages it over the hello's bytes)
		s = NewServer(sc, 0)
		if k := 1 + len(data)%(len(chRec)-1); feedSplit(s, append([]byte(nil), chRec...), k) == nil {
			copy(in, data)
			unwrapAll(s, in)
		}
		s.Output(buf)
		// a server that answered a TLS 1.2 ClientHello
		s = NewServer(sc, 0)
		unwrapAll(s, append([]byte(nil), ch12Rec...))
		s.Output(buf)
		copy(in, data)
		unwrapAll(s, in)
		s.Output(buf)
		// and a client waiting for the ServerHello
		c := NewClient(cc, 0)
		c.Output(buf)
		copy(in, data)
		unwrapAll(c, in)
		c.Output(buf)
	})
}

// FuzzClientHello runs the ClientHello parser and the server's negotiation on arbitrary messages.
func FuzzClientHello(f *testing.F) {
	for _, s := range fuzzCHSeeds(f) {
		f.Add(s)
	}
	sc := serverConfig(f, false)
	sc.ALPN = []string{"http/1.1"}
	sc.TicketKey = testTicketKey
	buf := make([]byte, 16384)
	f.Fuzz(func(t *testing.T, body []byte) {
		var ch clientHello
		parseClientHello(body, &ch)
		if len(body) > 3000 {
			return
		}
		msg := append([]byte{typeClientHello, 0, byte(len(body) >> 8), byte(len(body))}, body...)
		rec := append([]byte{22, 3, 1, byte(len(msg) >> 8), byte(len(msg))}, msg...)
		s := NewServer(sc, 0)
		unwrapAll(s, rec)
		s.Output(buf)
	})
}

// FuzzServerHello runs the client's ServerHello (and EncryptedExtensions) parsers and the client's
// processing of an arbitrary ServerHello.
func FuzzServerHello(f *testing.F) {
	for _, s := range fuzzSHSeeds(f) {
		f.Add(s)
	}
	cc := fuzzClientConfig(f)
	cc.ALPN = []string{"http/1.1"}
	buf := make([]byte, 16384)
	f.Fuzz(func(t *testing.T, body []byte) {
		var sh serverHello
		parseServerHello(body, &sh, 0xffffffff)
		var ee encryptedExtensions
		parseEncryptedExtensions(body, &ee, 0xffffffff)
		parseCertificateRequest(body)
		if len(body) > 3000 {
			return
		}
		c := NewClient(cc, 0)
		c.Output(buf)
		msg := append([]byte{typeServerHello, 0, byte(len(body) >> 8), byte(len(body))}, body...)
		rec := append([]byte{22, 3, 3, byte(len(msg) >> 8), byte(len(msg))}, msg...)
		unwrapAll(c, rec)
		c.Output(buf)
	})
}

// FuzzCertificate runs the Certificate / CertificateVerify parsers and DER certificate parsing.
func FuzzCertificate(f *testing.F) {
	for _, s := range fuzzCertSeeds(f) {
		f.Add(s)
	}
	pub := &getPKI(f).ecKey.PublicKey
	rsaPub := &getPKI(f).rsaKey.PublicKey
	f.Fuzz(func(t *testing.T, body []byte) {
		if _, list, a := parseCertificate(body, 0xffffffff); a == 0 {
			readPeerCertificates(list)
		}
		s, sig, _ := parseCertificateVerify(body)
		var buf [64]byte
		verifySignature(pub, s, body, sig, false, buf[:])
		verifySignature(pub, s, body, sig, true, buf[:])
		verifySignature(rsaPub, s, body, sig, true, buf[:])
	})
}

// FuzzHandshake12 drives TLS 1.2 engines mid-handshake with arbitrary messages: a client that
// has the server's ServerHello and Certificate gets the input as ServerKeyExchange, as
// CertificateRequest and as a whole record; a server that answered a TLS 1.2 ClientHello gets it
// as ClientKeyExchange and as a record. It also runs the TLS 1.2 Certificate parser.
func FuzzHandshake12(f *testing.F) {
	for _, s := range fuzz12Seeds(f) {
		f.Add(s)
	}
	cc := fuzzClientConfig(f)
	cc.MaxVersion = VersionTLS12
	sc := serverConfig(f, false)
	shCert, chRec := tls12Prefix(f)
	buf := make([]byte, 16384)
	f.Fuzz(func(t *testing.T, data []byte) {
		if list, a := parseCertificate12(data); a == 0 {
			readCertList(list, false)
		}
		if len(data) > 3000 {
			return
		}
		for _, typ := range []byte{typeServerKeyExchange, typeCertificateRequest, 0} {
			c := NewClient(cc, 0)
			c.Output(buf)
			unwrapAll(c, append([]byte(nil), shCert...))
			in := append([]byte(nil), data...)
			if typ != 0 {
				msg := append([]byte{typ, 0, byte(len(data) >> 8), byte(len(data))}, data...)
				in = append([]byte{22, 3, 3, byte(len(msg) >> 8), byte(len(msg))}, msg...)
			}
			unwrapAll(c, in)
			c.Output(buf)
		}
		for _, typ := range []byte{typeClientKeyExchange, 0} {
			s := NewServer(sc, 0)
			unwrapAll(s, append([]byte(nil), chRec...))
			s.Output(buf)
			in := append([]byte(nil), data...)
			if typ != 0 {
				msg := append([]byte{typ, 0, byte(len(data) >> 8), byte(len(data))}, data...)
				in = append([]byte{22, 3, 3, byte(len(msg) >> 8), byte(len(msg))}, msg...)
			}
			unwrapAll(s, in)
			s.Output(buf)
		}
	})
}

// tls12Prefix returns a record with a TLS 1.2 ServerHello and Certificate (for a client) and a
// TLS 1.2 ClientHello record (for a server).
func tls12Prefix(t testing.TB) (shCert, chRec []byte) {
	cc := fuzzClientConfig(t)
	cc.MaxVersion = VersionTLS12
	c := NewClient(cc, 0)
	s := NewServer(serverConfig(t, false), 0)
	buf := make([]byte, 16384)
	n := c.Output(buf)
	chRec = append([]byte(nil), buf[:n]...)
	feedAll(t, s, buf[:n])
	n = s.Output(buf)
	body := buf[5:n] // the flight is one record
	end := 0
	for i := 0; i < 2; i++ {
		end += 4 + (int(body[end+1])<<16 | int(body[end+2])<<8 | int(body[end+3]))
	}
	shCert = append([]byte{22, 3, 3, byte(end >> 8), byte(end)}, body[:end]...)
	return shCert, chRec
}

func fuzz12Seeds(t testing.TB) [][]byte {
	// the real messages of a TLS 1.2 handshake, headers stripped, and the records
	cc := fuzzClientConfig(t)
	cc.MaxVersion = VersionTLS12
	sc := serverConfig(t, false)
	sc.ClientAuth = RequestClientCert
	c := NewClient(cc, 0)
	s := NewServer(sc, 0)
	buf := make([]byte, 16384)
	n := c.Output(buf)
	feedAll(t, s, buf[:n])
	n = s.Output(buf)
	var out [][]byte
	body := buf[5:n]
	for len(body) >= 4 {
		l := 4 + (int(body[1])<<16 | int(body[2])<<8 | int(body[3]))
		out = append(out, append([]byte(nil), body[4:l]...))
		body = body[l:]
	}
	feedAll(t, c, buf[:n])
	n = c.Output(buf)
	out = append(out, append([]byte(nil), buf[:n]...))
	return append(out, []byte{0x20, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07}, []byte{3, 0, 0x1d, 32})
}

// --- seeds -------------------------------------------------------------------------------------

func fuzzRecordSeeds(t testing.TB) [][]byte {
	s := NewServer(serverConfig(t, false), 0)
	c := NewClient(fuzzClientConfig(t), 0)
	buf := make([]byte, 16384)
	n := c.Output(buf)
	feedAll(t, s, buf[:n])
	n = s.Output(buf)
	feedAll(t, c, buf[:n])
	n = c.Output(buf)
	fin := append([]byte(nil), buf[:n]...)
	cc := fuzzClientConfig(t)
	cc.MaxVersion = VersionTLS12
	c12 := NewClient(cc, 0)
	s12 := NewServer(serverConfig(t, false), 0)
	n = c12.Output(buf)
	ch12 := append([]byte(nil), buf[:n]...)
	feedAll(t, s12, buf[:n])
	n = s12.Output(buf)
	feedAll(t, c12, buf[:n])
	n = c12.Output(buf)
	fin12 := append([]byte(nil), buf[:n]...)
	return [][]byte{fin, ch12, fin12, {20, 3, 3, 0, 1, 1}, {21, 3, 3, 0, 2, 2, 40}, {23, 3, 3, 0, 17, 1},
		[]byte("GET / HTTP/1.1\r\n\r\n"), {22, 3, 3, 0, 5, 24, 0, 0, 1, 1}}
}

func fuzzCHSeeds(t testing.TB) [][]byte {
	var out [][]byte
	for _, g := range []CurveID{X25519, P256, X25519MLKEM768} {
		cc := fuzzClientConfig(t)
		cc.Groups = []CurveID{g, X25519}
		cc.ALPN = []string{"http/1.1"}
		cc.RecordSizeLimit = 512
		c := NewClient(cc, 0)
		buf := make([]byte, 8192)
		n := c.Output(buf)
		out = append(out, append([]byte(nil), buf[9:n]...)) // record header + message header stripped
	}
	sc := serverConfig(t, false)
	sc.TicketKey = testTicketKey
	rc := fuzzClientConfig(t)
	rc.Client.Session = firstSession(t, sc)
	c := NewClient(rc, 0)
	buf := make([]byte, 8192)
	n := c.Output(buf)
	out = append(out, append([]byte(nil), buf[9:n]...))
	good := chOpts{versions: []uint16{VersionTLS13}, groups: []CurveID{X25519}, order: []CurveID{X25519},
		shares: map[CurveID][]byte{X25519: x25519Share()}, sigAlgs: []SignatureScheme{ECDSAWithP256AndSHA256}}
	out = append(out, buildCH(good)[9:])
	good.versions = []uint16{VersionTLS12}
	out = append(out, buildCH(good)[9:])
	good.suites = []uint16{0xc02b, 0xcca9, 0xc02c, 0x00ff}
	good.groups = []CurveID{X25519, P256}
	good.extra = []byte{0, 23, 0, 0, 0, 11, 0, 2, 1, 0}
	out = append(out, buildCH(good)[9:])
	cc := fuzzClientConfig(t)
	cc.MaxVersion = VersionTLS12
	cc.ALPN = []string{"http/1.1"}
	cc.Client.MaxFragmentLength = 1024
	c = NewClient(cc, 0)
	n = c.Output(buf)
	out = append(out, append([]byte(nil), buf[9:n]...))
	return out
}

func fuzzSHSeeds(t testing.TB) [][]byte {
	var out [][]byte
	for _, hrr := range []bool{false, true} {
		sc := serverConfig(t, false)
		if hrr {
			sc.Groups = []CurveID{P256}
			sc.HRRCookie = true
		}
		s := NewServer(sc, 0)
		cc := fuzzClientConfig(t)
		cc.Groups = []CurveID{X25519, P256}
		c := NewClient(cc, 0)
		buf := make([]byte, 16384)
		n := c.Output(buf)
		feedAll(t, s, buf[:n])
		s.Output(buf)
		l := int(buf[3])<<8 | int(buf[4])
		out = append(out, append([]byte(nil), buf[9:5+l]...))
	}
	sc := serverConfig(t, false)
	s := NewServer(sc, 0)
	cc := fuzzClientConfig(t)
	cc.ALPN = []string{"http/1.1"}
	cc.Groups = []CurveID{X25519, P256}
	cc.MaxVersion = VersionTLS12
	sc.ALPN = cc.ALPN
	c := NewClient(cc, 0)
	buf := make([]byte, 16384)
	feedAll(t, s, buf[:c.Output(buf)])
	s.Output(buf)
	shLen := int(buf[7])<<8 | int(buf[8])
	out = append(out, append([]byte(nil), buf[9:9+shLen]...))
	ee := []byte{0, 20, 0, 16, 0, 11, 0, 9, 8, 'h', 't', 't', 'p', '/', '1', '.', '1', 0, 28, 0, 2, 1, 0}
	return append(out, ee, []byte{0, 0, 0, 10, 0, 13, 0, 6, 0, 4, 4, 3, 8, 7})
}

func fuzzCertSeeds(t testing.TB) [][]byte {
	e := NewServer(serverConfig(t, false), 0)
	m := e.appendCertificate(nil, nil, true)
	return [][]byte{m[4:], {0, 0, 0, 0}, {4, 3, 0, 4, 1, 2, 3, 4}, {8, 7, 0, 64}}
}

// FuzzExtensions runs the extension-block checker (against a map-based oracle for duplicates and
// framing) and the parsers built on it: EncryptedExtensions, CertificateRequest, Certificate
// entries, NewSessionTicket, oid_filters and certificate_authorities.
func FuzzExtensions(f *testing.F) {
	for _, s := range fuzzExtSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		a := checkExtensions(b)
		seen := map[uint16]bool{}
		want := uint8(0)
		for x := b; len(x) > 0; {
			if len(x) < 4 || len(x) < 4+(int(x[2])<<8|int(x[3])) {
				want = AlertDecodeError
				break
			}
			typ := uint16(x[0])<<8 | uint16(x[1])
			if seen[typ] && want == 0 {
				want = AlertIllegalParameter
			}
			seen[typ] = true
			x = x[4+(int(x[2])<<8|int(x[3])):]
		}
		if want == AlertIllegalParameter && a == AlertDecodeError {
			want = AlertDecodeError // a duplicate before bad framing: either alert is right
		}
		if (a == 0) != (want == 0) {
			t.Fatalf("checkExtensions = %d, oracle %d", a, want)
		}
		var ee encryptedExtensions
		parseEncryptedExtensions(b, &ee, 0xffffffff)
		parseCertificateRequest(b)
		parseCertificate(b, 0xffffffff)
		parseCertificate(b, 0)
		parseNewSessionTicket(b)
		checkOIDFilters(b)
		checkDNList(b)
	})
}

func fuzzExtSeeds(t testing.TB) [][]byte {
	return [][]byte{
		{0, 0, 0, 0, 0, 0x10, 0, 3, 2, 'h', '2'},                     // two extensions
		{0xfa, 0xfa, 0, 0, 0xfa, 0xfa, 0, 0},                         // duplicate
		{0xfa, 0xfa, 0, 5, 1},                                        // overrun
		{0, 6, 0, 2, 1, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0}, // ticket shaped
		{0, 0, 6, 0, 0x2a, 0, 4, 0, 0, 4, 0},                         // NewSessionTicket-like
		{0, 0, 8, 0, 13, 0, 4, 0, 2, 4, 3},                           // CertificateRequest
		{0, 0, 7, 0, 0, 2, 0x30, 0, 0, 0},                            // Certificate entry
		{0, 5, 3, 0x55, 0x1d, 0x25, 0, 0},                            // oid_filters
		{0, 3, 0, 1, 'x'},                                            // certificate_authorities
	}
}

// FuzzEncryptedFlight runs a real handshake in which the hostile peer replaces its encrypted
// flight by the input, sealed with the right handshake keys: the server's EncryptedExtensions …
// Finished as seen by a client (first byte even), or the client's Certificate … Finished as seen
// by a server asking for a client certificate (first byte odd). It reaches the parsers and state
// machine behind the record protection, which FuzzRecord cannot.
func FuzzEncryptedFlight(f *testing.F) {
	for _, s := range fuzzFlightSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		if len(in) == 0 || len(in) > 20000 {
			return
		}
		client := in[0]%2 == 0
		flight := in[1:]
		first := byte(typeEncryptedExtensions)
		dutCfg, peerCfg := flightConfigs(client)
		if !client {
			first = typeCertificate
		}
		h := newHostile(t, client, false, dutCfg, peerCfg, func(typ byte, data []byte) []testRecord {
			if typ == recordHandshake && len(data) > 0 && data[0] == first {
				return []testRecord{{typ: typ, data: flight}}
			}
			return []testRecord{{typ: typ, data: data}}
		})
		h.run()
	})
}

// flightConfigs keeps FuzzEncryptedFlight cheap: Ed25519 keys on both sides (ECDSA signing and
// verification dominate a handshake under the fuzzer's coverage instrumentation).
func flightConfigs(client bool) (dut, peer func(c *Config)) {
	ed := func(c *Config) {
		p := getPKI(nil)
		c.Certificate, c.Signer = p.edChain, p.edKey
	}
	if client {
		return nil, ed
	}
	return func(c *Config) { ed(c); mtlsServer(c) }, func(c *Config) {
		p := getPKI(nil)
		c.Certificate, c.Signer = p.edChain, p.edKey
	}
}

func fuzzFlightSeeds(t testing.TB) [][]byte {
	var seeds [][]byte
	for _, client := range []bool{true, false} {
		var flight []byte
		first := byte(typeEncryptedExtensions)
		dutCfg, peerCfg := flightConfigs(client)
		if !client {
			first = typeCertificate
		}
		tt := &testing.T{} // newHostile wants a *testing.T; the seed handshakes do not fail
		h := newHostile(tt, client, false, dutCfg, peerCfg, func(typ byte, data []byte) []testRecord {
			if typ == recordHandshake && len(data) > 0 && data[0] == first && flight == nil {
				flight = append([]byte(nil), data...)
			}
			return []testRecord{{typ: typ, data: data}}
		})
		h.run()
		tag := byte(0)
		if !client {
			tag = 1
		}
		seeds = append(seeds, append([]byte{tag}, flight...))
	}
	return append(seeds, []byte{0, typeEncryptedExtensions, 0, 0, 2, 0, 0}, []byte{1, typeCertificate, 0, 0, 4, 0, 0, 0, 0})
}

// TestWriteFuzzSeeds regenerates testdata/fuzz when NETCARD_WRITE_SEEDS=1.
func TestWriteFuzzSeeds(t *testing.T) {
	if os.Getenv("NETCARD_WRITE_SEEDS") != "1" {
		t.Skip("set NETCARD_WRITE_SEEDS=1 to regenerate the seed corpus")
	}
	for name, seeds := range map[string][][]byte{
		"FuzzRecord": fuzzRecordSeeds(t), "FuzzClientHello": fuzzCHSeeds(t),
		"FuzzServerHello": fuzzSHSeeds(t), "FuzzCertificate": fuzzCertSeeds(t), "FuzzHandshake12": fuzz12Seeds(t),
		"FuzzExtensions": fuzzExtSeeds(t), "FuzzEncryptedFlight": fuzzFlightSeeds(t),
	} {
		dir := filepath.Join("testdata", "fuzz", name)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for i, s := range seeds {
			body := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", s)
			if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("seed%02d", i)), []byte(body), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
}
