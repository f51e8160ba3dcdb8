package tls

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/sha512"
	"errors"
	"fmt"
	"hash"
	"io"
	"os/exec"
	"runtime"
	"strings"
	"testing"
)

func TestHMACMatchesCryptoHMAC(t *testing.T) {
	for _, h := range []func() hash.Hash{sha256.New, sha512.New384} {
		sha384 := h().Size() == 48
		for _, klen := range []int{0, 1, 32, 48, 64, 127, 128, 129, 200} {
			key := bytes.Repeat([]byte{byte(klen)}, klen)
			msg := []byte(fmt.Sprintf("message %d", klen))
			ref := hmac.New(h, key)
			ref.Write(msg)
			want := ref.Sum(nil)
			if got := hmacSum(sha384, nil, key, msg); !bytes.Equal(got, want) {
				t.Fatalf("HMAC mismatch for key length %d", klen)
			}
			// split into parts, and with the output aliasing the key's buffer
			buf := append(make([]byte, 0, 256), key...)
			if got := hmacSum(sha384, buf[:0], buf[:klen], msg[:3], nil, msg[3:]); !bytes.Equal(got, want) {
				t.Fatalf("HMAC (parts, aliased) mismatch for key length %d", klen)
			}
		}
	}
	// HKDF-Expand-Label against crypto/hkdf
	k := newKeySchedule(false, nil)
	k.selectHash(false)
	secret := bytes.Repeat([]byte{7}, 32)
	out := make([]byte, 80)
	k.expandLabel(out, secret, "key", []byte("ctx"))
	info := append([]byte{0, 80, byte(len("tls13 key"))}, "tls13 key"...)
	info = append(info, 3, 'c', 't', 'x')
	want, err := hkdf.Expand(sha256.New, secret, string(info), 80)
	if err != nil || !bytes.Equal(out, want) {
		t.Fatal("HKDF-Expand-Label mismatch", err)
	}
	// HKDF-Extract against crypto/hkdf, both hashes
	for _, h := range []func() hash.Hash{sha256.New, sha512.New384} {
		k := newKeySchedule(false, nil)
		k.selectHash(h().Size() == 48)
		salt, ikm := bytes.Repeat([]byte{3}, int(k.hlen)), bytes.Repeat([]byte{5}, 32)
		prk, err := hkdf.Extract(h, ikm, salt)
		if k.extract(salt, ikm); err != nil || !bytes.Equal(k.secret[:k.hlen], prk) {
			t.Fatal("HKDF-Extract mismatch", err)
		}
		out := make([]byte, 100)
		k.expandLabel(out, prk, "c hs traffic", salt)
		info := append([]byte{0, 100, byte(len("tls13 c hs traffic"))}, "tls13 c hs traffic"...)
		info = append(append(info, byte(len(salt))), salt...)
		want, err := hkdf.Expand(h, prk, string(info), 100)
		if err != nil || !bytes.Equal(out, want) {
			t.Fatal("HKDF-Expand-Label (multi-block) mismatch", err)
		}
	}
}

// handshakePair runs our client against our server in memory.
func handshakePair(t testing.TB, sc, cc *Config) (*Engine, *Engine) {
	s := NewServer(sc, 0)
	c := NewClient(cc, 0)
	errC, errS := pump(t, c, s)
	if errC != nil || errS != nil {
		t.Fatalf("handshake: client %v, server %v", errC, errS)
	}
	if s.State() != Established || c.State() != Established {
		t.Fatalf("states %v %v", s.State(), c.State())
	}
	return s, c
}

// transfer wraps msg on a and unwraps it on b.
func transfer(t testing.TB, a, b *Engine, msg []byte) {
	hdr, tail := a.Overhead()
	rec := make([]byte, hdr+len(msg)+tail)
	copy(rec[hdr:], msg)
	n := a.Wrap(rec, len(msg))
	if n != len(rec) {
		t.Fatalf("Wrap returned %d", n)
	}
	c, plain, err := b.Unwrap(rec)
	if err != nil || c != n || !bytes.Equal(plain, msg) {
		t.Fatalf("Unwrap: %d %v %q", c, err, plain)
	}
}

func TestEnginePairVariants(t *testing.T) {
	p := getPKI(t)
	cases := []struct {
		name string
		mod  func(s, c *Config)
		chk  func(t *testing.T, s, c *Engine)
	}{
		{"default", func(s, c *Config) {}, nil},
		{"hrr-to-mlkem", func(s, c *Config) {
			s.Groups = []CurveID{X25519MLKEM768}
			c.Groups = []CurveID{X25519, X25519MLKEM768}
			s.HRRCookie = true
		}, func(t *testing.T, s, c *Engine) {
			if !c.ConnectionState().HelloRetry || c.ConnectionState().Group != X25519MLKEM768 {
				t.Fatal(c.ConnectionState())
			}
		}},
		{"ed25519-mtls", func(s, c *Config) {
			s.Certificate, s.Signer = p.edChain, p.edKey
			s.ClientAuth, s.ClientCAs = RequireAndVerifyClientCert, p.caPool
			c.Certificate, c.Signer = p.clChain, p.clKey
		}, func(t *testing.T, s, c *Engine) {
			if len(s.ConnectionState().PeerCertificates) != 1 || c.ConnectionState().SignatureScheme != Ed25519 {
				t.Fatal("mtls state")
			}
		}},
		{"record-size-limit", func(s, c *Config) {
			s.RecordSizeLimit = 256
			c.RecordSizeLimit = 512
			s.MaxRecordOut = 4096
			c.MaxRecordOut = 4096
		}, func(t *testing.T, s, c *Engine) {
			if s.MaxPlaintext() != 511 || c.MaxPlaintext() != 255 {
				t.Fatalf("limits %d %d", s.MaxPlaintext(), c.MaxPlaintext())
			}
		}},
		{"tiny-records-64", func(s, c *Config) {
			s.RecordSizeLimit = 64
			c.RecordSizeLimit = 64
			s.ClientAuth, s.ClientCAs = RequireAndVerifyClientCert, p.caPool
			c.Certificate, c.Signer = p.clChain, p.clKey
		}, func(t *testing.T, s, c *Engine) {
			if s.MaxPlaintext() != 63 || c.MaxPlaintext() != 63 {
				t.Fatalf("limits %d %d", s.MaxPlaintext(), c.MaxPlaintext())
			}
		}},
		{"max-fragment-length", func(s, c *Config) {
			c.Client.MaxFragmentLength = 512
			s.MaxRecordOut = 4096
			c.MaxRecordOut = 4096
		}, func(t *testing.T, s, c *Engine) {
			if s.MaxPlaintext() != 512 || c.MaxPlaintext() != 512 || c.ConnectionState().MaxFragment != 512 {
				t.Fatalf("limits %d %d", s.MaxPlaintext(), c.MaxPlaintext())
			}
		}},
		{"alpn-sha384", func(s, c *Config) {
			s.ALPN = []string{"http/1.1"}
			c.ALPN = []string{"h2", "http/1.1"}
			c.CipherSuites = []uint16{TLS_AES_256_GCM_SHA384}
		}, func(t *testing.T, s, c *Engine) {
			if c.ConnectionState().ALPN != "http/1.1" || s.ConnectionState().CipherSuite != TLS_AES_256_GCM_SHA384 {
				t.Fatal(c.ConnectionState())
			}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			sc, cc := serverConfig(t, false), clientConfig(t)
			tc.mod(sc, cc)
			s, c := handshakePair(t, sc, cc)
			if tc.chk != nil {
				tc.chk(t, s, c)
			}
			transfer(t, c, s, []byte("request"))
			transfer(t, s, c, bytes.Repeat([]byte("r"), s.MaxPlaintext()))
			// KeyUpdate both ways, with update_requested answered
			if err := c.KeyUpdate(true); err != nil {
				t.Fatal(err)
			}
			if e1, e2 := pump(t, c, s); e1 != nil || e2 != nil {
				t.Fatal(e1, e2)
			}
			transfer(t, c, s, []byte("after client update"))
			transfer(t, s, c, []byte("after server update"))
			if err := s.KeyUpdate(false); err != nil {
				t.Fatal(err)
			}
			if e1, e2 := pump(t, c, s); e1 != nil || e2 != nil {
				t.Fatal(e1, e2)
			}
			transfer(t, s, c, []byte("again"))
			// close_notify
			c.Close()
			_, errS := pump(t, c, s)
			if errS != io.EOF || s.State() != Closed || c.State() != Closed {
				t.Fatalf("close: %v %v %v", errS, s.State(), c.State())
			}
		})
	}
}

func expectAlert(t *testing.T, err error, code uint8, remote bool) {
	t.Helper()
	var ae *AlertError
	if !errors.As(err, &ae) || ae.Code != code || ae.Remote != remote {
		t.Fatalf("want alert %s (remote %v), got %v", AlertName(code), remote, err)
	}
}

// firstAlert returns the alert record (plaintext) queued by e, or 255.
func queuedPlainAlert(e *Engine) uint8 {
	buf := make([]byte, 4096)
	n := e.Output(buf)
	b := buf[:n]
	for len(b) >= 5 {
		l := int(b[3])<<8 | int(b[4])
		if b[0] == recordAlert && l == 2 {
			return b[6]
		}
		b = b[5+l:]
	}
	return 255
}

func TestNegativeRecords(t *testing.T) {
	s, c := handshakePair(t, serverConfig(t, false), clientConfig(t))
	hdr, tail := c.Overhead()
	rec := make([]byte, hdr+100+tail)
	n := c.Wrap(rec, 100)
	// incomplete: nothing consumed, no error
	if k, _, err := s.Unwrap(rec[:n-1]); k != 0 || err != nil {
		t.Fatal("incomplete record", k, err)
	}
	// tampered
	rec[hdr+3] ^= 1
	_, _, err := s.Unwrap(rec[:n])
	expectAlert(t, err, AlertBadRecordMAC, false)
	if s.State() != Failed || s.Alert() != AlertBadRecordMAC {
		t.Fatal(s.State())
	}
	// the alert is delivered encrypted to the peer
	if _, errC := pump(t, s, c); true {
		expectAlert(t, errC, AlertBadRecordMAC, true)
	}

	// truncated: the length field claims a shorter record
	s, c = handshakePair(t, serverConfig(t, false), clientConfig(t))
	n = c.Wrap(rec, 100)
	rec[4] -= 10
	_, _, err = s.Unwrap(rec[:n-10])
	expectAlert(t, err, AlertBadRecordMAC, false)

	// too short to hold a tag
	s, _ = handshakePair(t, serverConfig(t, false), clientConfig(t))
	_, _, err = s.Unwrap([]byte{23, 3, 3, 0, 5, 1, 2, 3, 4, 5})
	expectAlert(t, err, AlertBadRecordMAC, false)

	// plaintext handshake record after the keys are on
	s, _ = handshakePair(t, serverConfig(t, false), clientConfig(t))
	_, _, err = s.Unwrap([]byte{22, 3, 3, 0, 5, 24, 0, 0, 1, 0})
	expectAlert(t, err, AlertUnexpectedMessage, false)

	// change_cipher_spec after the handshake
	s, _ = handshakePair(t, serverConfig(t, false), clientConfig(t))
	_, _, err = s.Unwrap([]byte{20, 3, 3, 0, 1, 1})
	expectAlert(t, err, AlertUnexpectedMessage, false)

	// record longer than the receive buffer / 2^14+256 (unprotected handshake records are streamed,
	// so use another type)
	s = NewServer(serverConfig(t, false), 1000)
	_, _, err = s.Unwrap([]byte{21, 3, 1, 0x04, 0x00})
	expectAlert(t, err, AlertRecordOverflow, false)
	s = NewServer(serverConfig(t, false), 0)
	_, _, err = s.Unwrap([]byte{22, 3, 1, 0x40, 0x01})
	expectAlert(t, err, AlertRecordOverflow, false)
}

func TestNegativeBeforeClientHello(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   []byte
		want uint8
	}{
		{"http junk", []byte("GET / HTTP/1.1\r\nHost: card\r\n\r\n"), AlertUnexpectedMessage},
		{"bad version byte", []byte{22, 0xfe, 0xfd, 0, 4, 1, 0, 0, 0}, AlertDecodeError},
		{"ccs first", []byte{20, 3, 1, 0, 1, 1}, AlertUnexpectedMessage},
		{"app data first", []byte{23, 3, 3, 0, 1, 1}, AlertUnexpectedMessage},
		{"finished first", []byte{22, 3, 1, 0, 8, 20, 0, 0, 4, 1, 2, 3, 4}, AlertUnexpectedMessage},
		{"garbage hello", []byte{22, 3, 1, 0, 8, 1, 0, 0, 4, 1, 2, 3, 4}, AlertDecodeError},
		{"empty handshake record", []byte{22, 3, 1, 0, 0}, AlertDecodeError},
		{"hello too big", []byte{22, 3, 1, 0, 4, 1, 0xff, 0xff, 0xff}, AlertIllegalParameter},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := NewServer(serverConfig(t, false), 0)
			_, _, err := s.Unwrap(tc.in)
			expectAlert(t, err, tc.want, false)
			if a := queuedPlainAlert(s); a != tc.want {
				t.Fatalf("queued alert %d", a)
			}
		})
	}
}

// chOpts describes a hand-made ClientHello.
type chOpts struct {
	versions []uint16
	groups   []CurveID
	shares   map[CurveID][]byte
	order    []CurveID
	sigAlgs  []SignatureScheme
	suites   []uint16
	noExt    bool
	extra    []byte // raw extensions appended at the end
}

func buildCH(o chOpts) []byte {
	var ext []byte
	add := func(typ int, body []byte) {
		ext = append(ext, byte(typ>>8), byte(typ), byte(len(body)>>8), byte(len(body)))
		ext = append(ext, body...)
	}
	if o.versions != nil {
		b := []byte{byte(2 * len(o.versions))}
		for _, v := range o.versions {
			b = append(b, byte(v>>8), byte(v))
		}
		add(extSupportedVersions, b)
	}
	if o.groups != nil {
		b := []byte{0, byte(2 * len(o.groups))}
		for _, g := range o.groups {
			b = append(b, byte(g>>8), byte(g))
		}
		add(extSupportedGroups, b)
	}
	if o.sigAlgs != nil {
		b := []byte{0, byte(2 * len(o.sigAlgs))}
		for _, g := range o.sigAlgs {
			b = append(b, byte(g>>8), byte(g))
		}
		add(extSignatureAlgorithms, b)
	}
	if o.order != nil {
		var l []byte
		for _, g := range o.order {
			s := o.shares[g]
			l = append(l, byte(g>>8), byte(g), byte(len(s)>>8), byte(len(s)))
			l = append(l, s...)
		}
		add(extKeyShare, append([]byte{byte(len(l) >> 8), byte(len(l))}, l...))
	}
	ext = append(ext, o.extra...)
	body := []byte{3, 3}
	body = append(body, make([]byte, 32)...)
	body = append(body, 0)
	suites := o.suites
	if suites == nil {
		suites = []uint16{TLS_AES_128_GCM_SHA256}
	}
	body = append(body, 0, byte(2*len(suites)))
	for _, s := range suites {
		body = append(body, byte(s>>8), byte(s))
	}
	body = append(body, 1, 0)
	if !o.noExt {
		body = append(body, byte(len(ext)>>8), byte(len(ext)))
		body = append(body, ext...)
	}
	msg := append([]byte{typeClientHello, 0, byte(len(body) >> 8), byte(len(body))}, body...)
	return append([]byte{22, 3, 1, byte(len(msg) >> 8), byte(len(msg))}, msg...)
}

func x25519Share() []byte {
	var k kexState
	s, _ := k.generate(X25519, seeded(7), make([]byte, 64), nil)
	return s
}

func TestNegativeClientHellos(t *testing.T) {
	good := chOpts{versions: []uint16{VersionTLS13}, groups: []CurveID{X25519}, order: []CurveID{X25519},
		shares: map[CurveID][]byte{X25519: x25519Share(), 0x0018: make([]byte, 97)}, sigAlgs: []SignatureScheme{ECDSAWithP256AndSHA256}}
	mod := func(f func(o *chOpts)) chOpts { o := good; f(&o); return o }
	for _, tc := range []struct {
		name string
		o    chOpts
		want uint8 // 0: success (a ServerHello is queued), 255: HelloRetryRequest
	}{
		{"good", good, 0},
		{"tls12 without extended_master_secret", mod(func(o *chOpts) { o.versions = []uint16{VersionTLS12}; o.suites = []uint16{0xc02b} }), AlertHandshakeFailure},
		{"no extensions (tls12, no EMS)", mod(func(o *chOpts) { o.noExt = true }), AlertHandshakeFailure},
		{"unknown group only", mod(func(o *chOpts) { o.groups = []CurveID{0x0018}; o.order = []CurveID{0x0018} }), AlertHandshakeFailure},
		{"share for unknown group, X25519 supported", mod(func(o *chOpts) { o.groups = []CurveID{0x0018, X25519}; o.order = []CurveID{0x0018} }), 255},
		{"no common suite", mod(func(o *chOpts) { o.suites = []uint16{0xc02b} }), AlertHandshakeFailure},
		{"no signature_algorithms", mod(func(o *chOpts) { o.sigAlgs = nil }), AlertMissingExtension},
		{"only rsa signatures", mod(func(o *chOpts) { o.sigAlgs = []SignatureScheme{PSSWithSHA256} }), AlertHandshakeFailure},
		{"no key_share", mod(func(o *chOpts) { o.order = nil }), AlertMissingExtension},
		{"bad x25519 share", mod(func(o *chOpts) { o.shares = map[CurveID][]byte{X25519: make([]byte, 31)} }), AlertIllegalParameter},
		{"duplicate share", mod(func(o *chOpts) { o.order = []CurveID{X25519, X25519} }), AlertIllegalParameter},
		{"max_fragment_length 512", mod(func(o *chOpts) { o.extra = []byte{0, 1, 0, 1, 1} }), 0},
		{"bad max_fragment_length", mod(func(o *chOpts) { o.extra = []byte{0, 1, 0, 1, 5} }), AlertIllegalParameter},
		{"record_size_limit below 64", mod(func(o *chOpts) { o.extra = []byte{0, 28, 0, 2, 0, 63} }), AlertIllegalParameter},
		{"duplicate extension", mod(func(o *chOpts) { o.extra = []byte{0, 1, 0, 1, 1, 0, 1, 0, 1, 1} }), AlertIllegalParameter},
		{"psk without modes", mod(func(o *chOpts) {
			o.extra = append([]byte{0, 41, 0, 44, 0, 7, 0, 1, 9, 0, 0, 0, 0, 0, 33, 32}, make([]byte, 32)...)
		}), AlertMissingExtension},
		{"extension after pre_shared_key", mod(func(o *chOpts) {
			o.extra = append([]byte{0, 45, 0, 2, 1, 1, 0, 41, 0, 44, 0, 7, 0, 1, 9, 0, 0, 0, 0, 0, 33, 32}, make([]byte, 32)...)
			o.extra = append(o.extra, 0, 28, 0, 2, 1, 0)
		}), AlertIllegalParameter},
		{"browser-like GREASE", mod(func(o *chOpts) {
			o.versions = []uint16{0x7a7a, VersionTLS13, VersionTLS12}
			o.groups = []CurveID{0x2a2a, X25519MLKEM768, X25519, P256}
			o.shares = map[CurveID][]byte{0x2a2a: {0}, X25519: x25519Share()}
			o.order = []CurveID{0x2a2a, X25519}
			o.suites = []uint16{0x0a0a, TLS_AES_128_GCM_SHA256, 0xc02b}
			o.sigAlgs = []SignatureScheme{0x0403, 0x0804, 0x0401}
			o.extra = []byte{0xda, 0xda, 0, 0, 0, 21, 0, 3, 0, 0, 0, 0x1a, 0x1a, 0, 1, 0}
		}), 0},
		{"unknown ticket falls back", mod(func(o *chOpts) {
			o.extra = append([]byte{0, 45, 0, 2, 1, 1, 0, 41, 0, 44, 0, 7, 0, 1, 9, 0, 0, 0, 0, 0, 33, 32}, make([]byte, 32)...)
		}), 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := NewServer(serverConfig(t, false), 0)
			_, _, err := s.Unwrap(buildCH(tc.o))
			switch tc.want {
			case 0, 255:
				if err != nil {
					t.Fatal(err)
				}
				buf := make([]byte, 8192)
				n := s.Output(buf)
				isHRR := n > 43 && bytes.Equal(buf[11:43], hrrRandom[:])
				if isHRR != (tc.want == 255) {
					t.Fatalf("HRR %v", isHRR)
				}
			default:
				expectAlert(t, err, tc.want, false)
				if a := queuedPlainAlert(s); a != tc.want {
					t.Fatalf("queued alert %d", a)
				}
			}
		})
	}
}

// TestWrongFinished corrupts the expected Finished key on each side: the verifier must send
// decrypt_error.
func TestWrongFinished(t *testing.T) {
	for _, side := range []string{"client", "server"} {
		t.Run(side, func(t *testing.T) {
			s := NewServer(serverConfig(t, false), 0)
			c := NewClient(clientConfig(t), 0)
			buf := make([]byte, 16384)
			n := c.Output(buf)
			if _, _, err := s.Unwrap(buf[:n]); err != nil {
				t.Fatal(err)
			}
			n = s.Output(buf)
			in := buf[:n]
			// client processes the ServerHello record first
			k, _, err := c.Unwrap(in)
			if err != nil {
				t.Fatal(err)
			}
			in = in[k:]
			if side == "client" {
				c.ks.sHS[0] ^= 1 // the key used to check the server Finished
			} else {
				s.ks.cHS[0] ^= 1
			}
			var cerr error
			for len(in) > 0 && cerr == nil {
				k, _, cerr = c.Unwrap(in)
				in = in[k:]
			}
			if side == "client" {
				expectAlert(t, cerr, AlertDecryptError, false)
				_, serr := pump(t, c, s)
				expectAlert(t, serr, AlertDecryptError, true)
				return
			}
			if cerr != nil {
				t.Fatal(cerr)
			}
			serr, cerr2 := pump(t, s, c)
			expectAlert(t, serr, AlertDecryptError, false)
			expectAlert(t, cerr2, AlertDecryptError, true)
		})
	}
}

func TestNoCommonGroupPair(t *testing.T) {
	sc, cc := serverConfig(t, false), clientConfig(t)
	sc.Groups = []CurveID{X25519}
	cc.Groups = []CurveID{P256}
	s, c := NewServer(sc, 0), NewClient(cc, 0)
	errC, errS := pump(t, c, s)
	expectAlert(t, errS, AlertHandshakeFailure, false)
	expectAlert(t, errC, AlertHandshakeFailure, true)
}

func TestSteadyStateAllocs(t *testing.T) {
	for _, suite := range []uint16{TLS_AES_128_GCM_SHA256, TLS_AES_256_GCM_SHA384, TLS_CHACHA20_POLY1305_SHA256} {
		cc := clientConfig(t)
		cc.CipherSuites = []uint16{suite}
		s, c := handshakePair(t, serverConfig(t, false), cc)
		hdr, tail := c.Overhead()
		rec := make([]byte, hdr+1024+tail)
		allocs := testing.AllocsPerRun(200, func() {
			n := c.Wrap(rec, 1024)
			if _, _, err := s.Unwrap(rec[:n]); err != nil {
				t.Fatal(err)
			}
		})
		if allocs != 0 {
			t.Fatalf("suite %04x: %v allocations per record", suite, allocs)
		}
	}
}

func TestHandshakeAllocs(t *testing.T) {
	sc := serverConfig(t, false)
	cc := clientConfig(t)
	buf := make([]byte, 16384)
	// server side only: count allocations of NewServer + processing the ClientHello and Finished
	allocs := testing.AllocsPerRun(20, func() {
		c := NewClient(cc, 0)
		n := c.Output(buf)
		ch := append([]byte(nil), buf[:n]...)
		var srvAllocs float64
		_ = srvAllocs
		s := NewServer(sc, 0)
		if _, _, err := s.Unwrap(ch); err != nil {
			t.Fatal(err)
		}
		n = s.Output(buf)
		in := buf[:n]
		for len(in) > 0 {
			k, _, err := c.Unwrap(in)
			if err != nil {
				t.Fatal(err)
			}
			in = in[k:]
		}
		n = c.Output(buf)
		in = buf[:n]
		for len(in) > 0 {
			k, _, err := s.Unwrap(in)
			if err != nil {
				t.Fatal(err)
			}
			in = in[k:]
		}
	})
	t.Logf("full handshake, both sides of our engine: %.0f allocations", allocs)
}

// countAllocs returns the heap allocations made by f.
func countAllocs(f func()) uint64 {
	var a, b runtime.MemStats
	runtime.ReadMemStats(&a)
	f()
	runtime.ReadMemStats(&b)
	return b.Mallocs - a.Mallocs
}

// serverHandshakeAllocs runs one handshake of our client against our server and returns the
// allocations made inside server calls only.
func serverHandshakeAllocs(t testing.TB, sc, cc *Config, buf []byte) uint64 {
	var total uint64
	var s *Engine
	total += countAllocs(func() { s = NewServer(sc, 0) })
	c := NewClient(cc, 0)
	feed := func(dst *Engine, in []byte) {
		for len(in) > 0 {
			k, _, err := dst.Unwrap(in)
			if err != nil {
				t.Fatal(err)
			}
			in = in[k:]
		}
	}
	n := c.Output(buf)
	total += countAllocs(func() { feed(s, buf[:n]) })
	total += countAllocs(func() { n = s.Output(buf) })
	feed(c, buf[:n])
	n = c.Output(buf)
	total += countAllocs(func() { feed(s, buf[:n]) })
	if s.State() != Established {
		t.Fatal("not established")
	}
	return total
}

// signAllocs returns the allocations of one CertificateVerify signature by cfg.Signer, made the
// way the engine makes it (SHA-256 digest for ECDSA, the 130-byte content for Ed25519).
func signAllocs(t testing.TB, cfg *Config) uint64 {
	content := make([]byte, 130) // on the heap, like the engine's own buffers
	digest := make([]byte, 32)
	sign := func() {
		var err error
		if _, ok := cfg.Signer.(ed25519.PrivateKey); ok {
			_, err = cfg.Signer.Sign(cfg.Rand, content, crypto.Hash(0))
		} else {
			d := sha256.Sum256(content)
			copy(digest, d[:])
			_, err = cfg.Signer.Sign(cfg.Rand, digest, crypto.SHA256)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	sign() // warm up (crypto/ecdsa caches the converted key)
	min := ^uint64(0)
	for i := 0; i < 3; i++ {
		min = minU64(min, countAllocs(sign))
	}
	return min
}

func minU64(a, b uint64) uint64 {
	if a < b {
		return a
	}
	return b
}

// serverAllocBudget is the most allocations a TLS 1.3 server handshake may make apart from the
// signature, per key-exchange group: the engine (its struct, and one block with the handshake
// state and buffers: 2), four AES-GCM keys (crypto/aes + crypto/cipher: 2 each) and the key
// exchange in crypto/ecdh (X25519: 7; P-256: 14; X25519MLKEM768: 7 + 4 in crypto/mlkem), and the
// server name the client sent, kept as a string (1: it is the string ConnectionState returns,
// which allocated one on every call before). HMAC, HKDF and the transcript allocate nothing.
var serverAllocBudget = map[CurveID]uint64{X25519: 18, P256: 25, X25519MLKEM768: 22}

// TestServerHandshakeAllocs fails when a server handshake allocates more than its budget, counted
// apart from the signature (whose allocations belong to crypto/ecdsa or crypto/ed25519 and are
// measured separately on the same key: ECDSA P-256 ≈ 59, Ed25519 1).
func TestServerHandshakeAllocs(t *testing.T) {
	buf := make([]byte, 16384)
	for _, g := range []CurveID{X25519, P256, X25519MLKEM768} {
		for _, ed := range []bool{false, true} {
			cc := clientConfig(t)
			cc.Groups = []CurveID{g}
			sc := serverConfig(t, ed)
			sig := signAllocs(t, sc)
			serverHandshakeAllocs(t, sc, cc, buf) // warm up
			n := serverHandshakeAllocs(t, sc, cc, buf)
			for i := 0; i < 2 && n > serverAllocBudget[g]+sig; i++ {
				n = minU64(n, serverHandshakeAllocs(t, sc, cc, buf)) // a stray runtime allocation
			}
			t.Logf("server handshake group %04x ed25519=%v: %d allocations (%d in the signature, %d without)",
				uint16(g), ed, n, sig, n-sig)
			if n > serverAllocBudget[g]+sig {
				t.Errorf("group %04x ed25519=%v: %d allocations besides the signature, budget %d",
					uint16(g), ed, n-sig, serverAllocBudget[g])
			}
		}
	}
}

func TestFootprint(t *testing.T) {
	card := serverConfig(t, false)
	tiny := serverConfig(t, false)
	tiny.RecordSizeLimit = 1024
	tiny.MaxHandshakeMessage = 2048
	for _, tc := range []struct {
		name string
		cfg  *Config
		buf  int
	}{{"card", card, DefaultRecordBuf}, {"tiny", tiny, 5 + 1024 + 16}} {
		e := NewServer(tc.cfg, tc.buf)
		during := e.Footprint()
		t.Logf("%s server: engine %d bytes (hs %d, staging %d, output %d) + receive buffer %d; chain %d bytes",
			tc.name, during, cap(e.hsBuf), cap(e.st), cap(e.out), tc.buf, len(tc.cfg.Certificate[0])+len(tc.cfg.Certificate[1]))
		c := NewClient(clientConfig(t), 0)
		if ea, eb := pump(t, c, e); ea != nil || eb != nil || e.State() != Established {
			t.Fatal(ea, eb)
		}
		if after := e.Footprint(); after > 3072 {
			t.Fatalf("%s server: %d bytes after the handshake", tc.name, after)
		} else {
			t.Logf("%s server after the handshake: engine %d bytes (was %d)", tc.name, after, during)
		}
	}
	c := NewClient(clientConfig(t), 0)
	t.Logf("client: engine %d bytes (hs %d, staging %d, output %d)", c.Footprint(), cap(c.hsBuf), cap(c.st), cap(c.out))
}

// TestFragmentedClientHello: a ClientHello split over many small records is reassembled.
func TestFragmentedClientHello(t *testing.T) {
	s := NewServer(serverConfig(t, false), 0)
	c := NewClient(clientConfig(t), 0)
	buf := make([]byte, 8192)
	n := c.Output(buf)
	msg := buf[5:n]
	for len(msg) > 0 {
		k := min(7, len(msg))
		rec := append([]byte{22, 3, 1, 0, byte(k)}, msg[:k]...)
		if m, _, err := s.Unwrap(rec); err != nil || m != len(rec) {
			t.Fatal(m, err)
		}
		msg = msg[k:]
	}
	if e1, e2 := pump(t, s, c); e1 != nil || e2 != nil || c.State() != Established || s.State() != Established {
		t.Fatal(e1, e2)
	}
}

// TestNoCryptoTLSDependency: the engine must not link crypto/tls (it is only the test peer).
func TestNoCryptoTLSDependency(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Skip("go list unavailable:", err)
	}
	for _, dep := range strings.Fields(string(out)) {
		if dep == "crypto/tls" {
			t.Fatal("netcard/tls depends on crypto/tls")
		}
	}
}

// TestStreamedHelloSmallBuffer: a Tiny server (300-byte receive buffer) takes a ClientHello with an
// ML-KEM share (one 1.4 KB record) in pieces, as the bytes arrive.
func TestStreamedHelloSmallBuffer(t *testing.T) {
	sc := serverConfig(t, false)
	sc.RecordSizeLimit = 256
	cc := clientConfig(t)
	cc.Groups = []CurveID{X25519MLKEM768}
	cc.RecordSizeLimit = 256
	cc.MaxHandshakeMessage = 4096
	s := NewServer(sc, 300)
	c := NewClient(cc, 300)
	buf := make([]byte, 8192)
	for round := 0; round < 10 && (s.State() == Handshaking || c.State() == Handshaking); round++ {
		for _, d := range [2][2]*Engine{{c, s}, {s, c}} {
			n := d[0].Output(buf)
			in := buf[:n]
			for len(in) > 0 {
				w := min(len(in), 300) // the receiver never holds more than 300 bytes
				k, _, err := d[1].Unwrap(in[:w])
				if err != nil {
					t.Fatal(err)
				}
				if k == 0 {
					t.Fatalf("stuck with %d bytes", w)
				}
				in = in[k:]
			}
		}
	}
	if s.State() != Established || c.State() != Established || s.ConnectionState().Group != X25519MLKEM768 {
		t.Fatal(s.State(), c.State())
	}
	transfer(t, c, s, bytes.Repeat([]byte("t"), 255))
}

// opaqueSigner hides the key type behind crypto.Signer (a key in a secure element, say).
type opaqueSigner struct{ crypto.Signer }

// TestServerSignerKinds: standard library keys are recognised by type, other Signers by their
// public key; unusable keys fail at construction with internal_error.
func TestServerSignerKinds(t *testing.T) {
	p := getPKI(t)
	p384, err := ecdsa.GenerateKey(elliptic.P384(), seeded(11))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		chain  [][]byte
		signer crypto.Signer
		scheme SignatureScheme // 0: construction must fail
	}{
		{"ecdsa", p.ecChain, p.ecKey, ECDSAWithP256AndSHA256},
		{"ed25519", p.edChain, p.edKey, Ed25519},
		{"opaque-ecdsa", p.ecChain, opaqueSigner{p.ecKey}, ECDSAWithP256AndSHA256},
		{"opaque-ed25519", p.edChain, opaqueSigner{p.edKey}, Ed25519},
		{"p384", p.ecChain, p384, 0},
		{"opaque-p384", p.ecChain, opaqueSigner{p384}, 0},
		{"short-ed25519", p.edChain, p.edKey[:32], 0},
	} {
		sc := serverConfig(t, false)
		sc.Certificate, sc.Signer = tc.chain, tc.signer
		s := NewServer(sc, 0)
		if tc.scheme == 0 {
			if s.State() != Failed || s.Alert() != AlertInternalError {
				t.Errorf("%s: state %v alert %d, want a configuration failure", tc.name, s.State(), s.Alert())
			}
			continue
		}
		c := NewClient(clientConfig(t), 0)
		if ea, eb := pump(t, c, s); ea != nil || eb != nil {
			t.Fatalf("%s: %v %v", tc.name, ea, eb)
		}
		if got := c.ConnectionState().SignatureScheme; got != tc.scheme {
			t.Errorf("%s: scheme %#x, want %#x", tc.name, got, tc.scheme)
		}
	}
}

// TestTranscriptMatchesHash: the marshalled-state transcript equals SHA-256 / SHA-384 over the
// concatenated messages, across many writes (partial blocks included) and a restart.
func TestTranscriptMatchesHash(t *testing.T) {
	msgs := [][]byte{nil, {1}, bytes.Repeat([]byte{2}, 63), bytes.Repeat([]byte{3}, 129), bytes.Repeat([]byte{4}, 1000)}
	for _, sha384 := range []bool{false, true} {
		var tr transcript
		tr.start(sha384)
		var all []byte
		for round := 0; round < 3; round++ {
			for _, m := range msgs {
				tr.write(m)
				all = append(all, m...)
				var want []byte
				if sha384 {
					d := sha512.Sum384(all)
					want = d[:]
				} else {
					d := sha256.Sum256(all)
					want = d[:]
				}
				if got := tr.sum(nil); !bytes.Equal(got, want) {
					t.Fatalf("sha384=%v after %d bytes: %x, want %x", sha384, len(all), got, want)
				}
			}
		}
		tr.start(sha384)
		tr.write(msgs[3])
		want := sha256.Sum256(msgs[3])
		want384 := sha512.Sum384(msgs[3])
		if got := tr.sum(nil); !bytes.Equal(got, want[:]) && !bytes.Equal(got, want384[:]) {
			t.Fatal("restarted transcript")
		}
	}
}

// TestStagedFlightsSmallRecords: handshake messages are staged in the tail of the output buffer and
// turned into records front to back; with records as small as the protocol allows (64-byte
// record_size_limit, 512-byte max_fragment_length), the biggest hellos (X25519MLKEM768 after a
// HelloRetryRequest with a cookie), client certificates, ALPN and TLS 1.2, every flight must still
// come out intact, drained by Output in small pieces.
func TestStagedFlightsSmallRecords(t *testing.T) {
	p := getPKI(t)
	for _, v := range []uint16{VersionTLS13, VersionTLS12} {
		for _, limit := range []int{0, 64} {
			for _, ed := range []bool{false, true} {
				name := fmt.Sprintf("%04x/limit%d/ed%v", v, limit, ed)
				sc, cc := serverConfig(t, ed), clientConfig(t)
				sc.ClientAuth, sc.ClientCAs = RequireAndVerifyClientCert, p.caPool
				cc.Certificate, cc.Signer = p.clChain, p.clKey
				sc.ALPN, cc.ALPN = []string{"h2", "http/1.1"}, []string{"http/1.1"}
				sc.RecordSizeLimit, cc.RecordSizeLimit = uint16(limit), uint16(limit)
				cc.MaxVersion = v
				if limit == 0 {
					cc.Client.MaxFragmentLength = 512
				}
				if v == VersionTLS13 {
					sc.Groups, cc.Groups = []CurveID{X25519MLKEM768}, []CurveID{X25519, X25519MLKEM768}
					sc.HRRCookie = true
				} else {
					cc.Groups = groupsWithP256(X25519)
				}
				s, c := NewServer(sc, 0), NewClient(cc, 0)
				buf := make([]byte, 64<<10)
				for round := 0; round < 200 && (s.State() == Handshaking || c.State() == Handshaking); round++ {
					for _, dir := range [2][2]*Engine{{c, s}, {s, c}} {
						n := 0
						for m := dir[0].Output(buf[n : n+7]); m > 0; m = dir[0].Output(buf[n : n+7]) {
							n += m
						}
						for in := buf[:n]; len(in) > 0; {
							k, _, err := dir[1].Unwrap(in)
							if err != nil || k == 0 {
								t.Fatalf("%s: %v (consumed %d)", name, err, k)
							}
							in = in[k:]
						}
					}
				}
				if s.State() != Established || c.State() != Established {
					t.Fatalf("%s: states %v %v", name, s.State(), c.State())
				}
				if v == VersionTLS13 && !c.ConnectionState().HelloRetry {
					t.Fatalf("%s: no HelloRetryRequest", name)
				}
				roundTrip(t, c, s, []byte("staged"))
				roundTrip(t, s, c, []byte("flights"))
			}
		}
	}
}
