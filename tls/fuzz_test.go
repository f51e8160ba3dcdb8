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
	c.InsecureSkipVerify = true
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
// (mid-handshake, waiting for the client Finished) and established.
func FuzzRecord(f *testing.F) {
	for _, s := range fuzzRecordSeeds(f) {
		f.Add(s)
	}
	sc := serverConfig(f, false)
	cc := fuzzClientConfig(f)
	cl := NewClient(cc, 0)
	buf := make([]byte, 16384)
	chRec := append([]byte(nil), buf[:cl.Output(buf)]...)
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
		parseServerHello(body, &sh)
		var ee encryptedExtensions
		parseEncryptedExtensions(body, &ee, true, true, true, true)
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
	f.Fuzz(func(t *testing.T, body []byte) {
		if _, list, a := parseCertificate(body); a == 0 {
			readPeerCertificates(list)
		}
		s, sig, _ := parseCertificateVerify(body)
		verifySignature(pub, s, body, sig)
	})
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
	return [][]byte{fin, {20, 3, 3, 0, 1, 1}, {21, 3, 3, 0, 2, 2, 40}, {23, 3, 3, 0, 17, 1},
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
	rc.Session = firstSession(t, sc)
	c := NewClient(rc, 0)
	buf := make([]byte, 8192)
	n := c.Output(buf)
	out = append(out, append([]byte(nil), buf[9:n]...))
	good := chOpts{versions: []uint16{VersionTLS13}, groups: []CurveID{X25519}, order: []CurveID{X25519},
		shares: map[CurveID][]byte{X25519: x25519Share()}, sigAlgs: []SignatureScheme{ECDSAWithP256AndSHA256}}
	out = append(out, buildCH(good)[9:])
	good.versions = []uint16{VersionTLS12}
	out = append(out, buildCH(good)[9:])
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
	ee := []byte{0, 20, 0, 16, 0, 11, 0, 9, 8, 'h', 't', 't', 'p', '/', '1', '.', '1', 0, 28, 0, 2, 1, 0}
	return append(out, ee, []byte{0, 0, 0, 10, 0, 13, 0, 6, 0, 4, 4, 3, 8, 7})
}

func fuzzCertSeeds(t testing.TB) [][]byte {
	e := NewServer(serverConfig(t, false), 0)
	m := e.appendCertificate(nil, nil, true)
	return [][]byte{m[4:], {0, 0, 0, 0}, {4, 3, 0, 4, 1, 2, 3, 4}, {8, 7, 0, 64}}
}

// TestWriteFuzzSeeds regenerates testdata/fuzz when NETCARD_WRITE_SEEDS=1.
func TestWriteFuzzSeeds(t *testing.T) {
	if os.Getenv("NETCARD_WRITE_SEEDS") != "1" {
		t.Skip("set NETCARD_WRITE_SEEDS=1 to regenerate the seed corpus")
	}
	for name, seeds := range map[string][][]byte{
		"FuzzRecord": fuzzRecordSeeds(t), "FuzzClientHello": fuzzCHSeeds(t),
		"FuzzServerHello": fuzzSHSeeds(t), "FuzzCertificate": fuzzCertSeeds(t),
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
