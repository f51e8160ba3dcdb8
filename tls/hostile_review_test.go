package tls

import (
	"bytes"
	"testing"
	"time"
)

// The independent review run (issue #12): cases the first hostile suite did not have, written the
// way tlsfuzzer and BoGo probe an implementation — record-layer limits and framing, messages out
// of order in every state, malformed hello fields and key shares, TLS 1.2 change_cipher_spec and
// Finished handling, and resource bounds. Each asserts the exact alert and that nothing follows
// (hostile.expect). CONFORMANCE.md points at these names.

// sealInner seals inner (content, content type and any zero padding: a TLSInnerPlaintext) into a
// TLS 1.3 record with the peer's current write key, whatever its size.
func sealInner(p *Engine, inner []byte) []byte {
	clen := len(inner) + tagLen
	rec := []byte{recordAppData, 3, 3, byte(clen >> 8), byte(clen)}
	rec = p.wr.aead.Seal(rec, p.wr.makeNonce(), inner, rec[:5])
	p.wr.next()
	return rec
}

// chFields rewrites the fixed fields of a ClientHello: f gets the legacy_version, session id,
// cipher suites, compression methods and extension block and returns them.
func chFields(f func(ver, sid, suites, comp, exts []byte) ([]byte, []byte, []byte, []byte, []byte)) func(m []byte) []byte {
	return func(m []byte) []byte {
		r := reader{b: m[4:]}
		ver := append([]byte(nil), r.bytes(2)...)
		random := r.bytes(32)
		sid := append([]byte(nil), r.vec8()...)
		suites := append([]byte(nil), r.vec16()...)
		comp := append([]byte(nil), r.vec8()...)
		exts := append([]byte(nil), r.vec16()...)
		ver, sid, suites, comp, exts = f(ver, sid, suites, comp, exts)
		out := append([]byte{typeClientHello, 0, 0, 0}, ver...)
		out = append(out, random...)
		out = append(out, byte(len(sid)))
		out = append(out, sid...)
		out = append(out, byte(len(suites)>>8), byte(len(suites)))
		out = append(out, suites...)
		out = append(out, byte(len(comp)))
		out = append(out, comp...)
		if exts != nil {
			out = append(out, byte(len(exts)>>8), byte(len(exts)))
			out = append(out, exts...)
		}
		return fixLen(out)
	}
}

// insertBefore puts extra handshake messages in front of the first message of type mt (same record).
func insertBefore(mt byte, extra ...[]byte) script {
	return onMsg(mt, once(func(m []byte) []byte {
		var out []byte
		for _, x := range extra {
			out = append(out, x...)
		}
		return append(out, m...)
	}))
}

// replaceMsg replaces the first message of type mt by repl (nil: dropped).
func replaceMsg(mt byte, repl []byte) script {
	return onMsg(mt, once(func([]byte) []byte { return repl }))
}

// splitRecords sends every handshake record of the flight carrying message type mt as records of
// at most n bytes.
func splitRecords(mt byte, n int) script {
	return withRecords(recordHandshake, func(d []byte) []testRecord {
		if d[0] != mt {
			return []testRecord{{typ: recordHandshake, data: d}}
		}
		var out []testRecord
		for len(d) > 0 {
			k := min(n, len(d))
			out = append(out, testRecord{typ: recordHandshake, data: d[:k]})
			d = d[k:]
		}
		return out
	})
}

// around puts record r after the first k bytes of the handshake record starting with message mt.
func around(mt byte, k int, r testRecord) script {
	done := false
	return withRecords(recordHandshake, func(d []byte) []testRecord {
		if d[0] != mt || done || len(d) <= k {
			return []testRecord{{typ: recordHandshake, data: d}}
		}
		done = true
		return []testRecord{{typ: recordHandshake, data: d[:k]}, r, {typ: recordHandshake, data: d[k:]}}
	})
}

// chainOf is a certificate chain of n certificates: leaf, then ca repeated.
func chainOf(leaf, ca []byte, n int) [][]byte {
	chain := [][]byte{leaf}
	for len(chain) < n {
		chain = append(chain, ca)
	}
	return chain
}

// editShare rewrites the key_exchange of the first key share (ClientHello or ServerHello).
func editShare(f func(ke []byte) []byte) func(m []byte) []byte {
	return editExt(extKeyShare, func(b []byte) []byte {
		var hdr, ke, rest []byte
		if len(b) >= 6 && int(b[0])<<8|int(b[1]) == len(b)-2 { // ClientHello list
			g := b[2:4]
			l := int(b[4])<<8 | int(b[5])
			ke, rest = b[6:6+l], b[6+l:]
			ke = f(append([]byte(nil), ke...))
			hdr = append([]byte(nil), g...)
			entry := append(append(hdr, byte(len(ke)>>8), byte(len(ke))), ke...)
			list := append(entry, rest...)
			return append([]byte{byte(len(list) >> 8), byte(len(list))}, list...)
		}
		g := b[0:2]
		ke = f(append([]byte(nil), b[4:]...))
		return append(append(append([]byte(nil), g...), byte(len(ke)>>8), byte(len(ke))), ke...)
	})
}

// TestReviewRecords: record-layer rules (RFC 8446 §5, RFC 5246 §6.2).
func TestReviewRecords(t *testing.T) {
	raw := func(b []byte) func(h *hostile) { return func(h *hostile) { h.raw = append(h.raw, b...); h.run() } }
	hdr := func(typ byte, n int) []byte { return []byte{typ, 3, 3, byte(n >> 8), byte(n)} }
	runHostile(t, []hcase{
		{name: "protected record of 2^14+257 bytes", rule: "8446 §5.2",
			post: raw(hdr(recordAppData, maxCiphertext+1)), want: AlertRecordOverflow},
		{name: "protected record of 2^14+256 bytes (no legal inner plaintext fits)", rule: "8446 §5.2, §5.4",
			post: raw(hdr(recordAppData, maxCiphertext)), want: AlertRecordOverflow},
		{name: "inner plaintext of 2^14+2 bytes with padding", rule: "8446 §5.4",
			post: func(h *hostile) {
				inner := append(make([]byte, maxPlaintext), recordAppData, 0)
				raw(sealInner(h.peer, inner))(h)
			}, want: AlertRecordOverflow},
		{name: "inner plaintext of 2^14+1 bytes accepted", rule: "8446 §5.4",
			post: func(h *hostile) {
				inner := append(bytes.Repeat([]byte{'x'}, maxPlaintext), recordAppData)
				raw(sealInner(h.peer, inner))(h)
			}, check: func(t *testing.T, h *hostile) {
				h.established()
				if len(h.dutData) != 1 || len(h.dutData[0]) != maxPlaintext {
					t.Fatalf("dut received %d records", len(h.dutData))
				}
			}},
		{name: "padding-only handshake record", rule: "8446 §5.4, §5.1",
			post: func(h *hostile) { raw(sealInner(h.peer, []byte{recordHandshake, 0, 0, 0}))(h) }, want: AlertUnexpectedMessage},
		{name: "plaintext alert record of 2^14+1 bytes", rule: "8446 §5.1",
			pre:  func(h *hostile) { h.raw = append(hdr(recordAlert, maxPlaintext+1), make([]byte, maxPlaintext+1)...) },
			want: AlertRecordOverflow},
		{name: "empty plaintext alert record", rule: "8446 §5.1",
			pre: func(h *hostile) { h.raw = plainRec(recordAlert) }, want: AlertDecodeError},
		{name: "plaintext alert record of 1 byte", rule: "8446 §5.1",
			pre: func(h *hostile) { h.raw = plainRec(recordAlert, 2) }, want: AlertDecodeError},
		{name: "plaintext alert record of 3 bytes", rule: "8446 §5.1",
			pre: func(h *hostile) { h.raw = plainRec(recordAlert, 2, AlertHandshakeFailure, 0) }, want: AlertDecodeError},
		{name: "empty encrypted alert record", rule: "8446 §5.1",
			post: func(h *hostile) { h.send(recordAlert, nil) }, want: AlertDecodeError},
		{name: "encrypted alert record of 1 byte", rule: "8446 §5.1",
			post: func(h *hostile) { h.send(recordAlert, []byte{1}) }, want: AlertDecodeError},
		{name: "encrypted alert record of 3 bytes", rule: "8446 §5.1",
			post: func(h *hostile) { h.send(recordAlert, []byte{1, 0, 0}) }, want: AlertDecodeError},
		{name: "empty encrypted handshake record", rule: "8446 §5.1",
			post: func(h *hostile) { h.send(recordHandshake, nil) }, want: AlertUnexpectedMessage},
		{name: "application data between two fragments of ClientHello", rule: "8446 §5.1",
			script: around(typeClientHello, 10, testRecord{typ: recordAppData, data: []byte("x"), plain: true}),
			want:   AlertUnexpectedMessage},
		{name: "change_cipher_spec between two fragments of ClientHello", rule: "8446 §5",
			script: around(typeClientHello, 10, testRecord{typ: recordCCS, data: []byte{1}, plain: true}),
			want:   AlertUnexpectedMessage},
		{name: "change_cipher_spec between two fragments of Finished", rule: "8446 §5.1",
			script: around(typeFinished, 3, testRecord{typ: recordCCS, data: []byte{1}, plain: true}),
			want:   AlertUnexpectedMessage},
		{name: "client Finished header claiming 16 KiB", rule: "8446 §4.4.4 (refused at the header)",
			dut:    func(c *Config) { c.HandshakeBudget = NewHandshakeBudget(1, 0) },
			script: replaceMsg(typeFinished, []byte{typeFinished, 0, 0x40, 0}), want: AlertDecodeError,
			check: nil},
		{name: "unknown handshake type of 8 KiB", rule: "8446 §4 (refused at the header)",
			script: insertBefore(typeFinished, []byte{99, 0, 0x20, 0}), want: AlertUnexpectedMessage},
		{name: "ClientHello in 1-byte records", rule: "8446 §5.1 (fragmentation allowed)",
			script: splitRecords(typeClientHello, 1)},
		{name: "Finished in 1-byte encrypted records", rule: "8446 §5.1 (fragmentation allowed)",
			script: splitRecords(typeFinished, 1)},
		{name: "TLS 1.2 application data between two fragments of Finished", rule: "5246 §7.4.9", v12: true,
			script: around(typeFinished, 3, testRecord{typ: recordAppData, data: []byte("x")}),
			want:   AlertUnexpectedMessage},
		{name: "TLS 1.2 ClientHello in 1-byte records", rule: "5246 §6.2.1", v12: true,
			script: splitRecords(typeClientHello, 1)},
	})
}

// TestReviewServer13: the TLS 1.3 server against messages out of order and malformed hellos.
func TestReviewServer13(t *testing.T) {
	p := getPKI(t)
	var ch []byte
	keepCH := onMsg(typeClientHello, func(m []byte) []byte { ch = append([]byte(nil), m...); return m })
	noCert := func(c *Config) { c.Certificate, c.Signer = nil, nil }
	p256 := func(c *Config) { c.Groups = []CurveID{P256} }
	mlkem := func(c *Config) { c.Groups = []CurveID{X25519MLKEM768} }
	runHostile(t, []hcase{
		{name: "second ClientHello instead of Finished", rule: "8446 §4.1.2",
			script: func(typ byte, d []byte) []testRecord {
				keepCH(typ, d)
				if typ == recordHandshake && d[0] == typeFinished {
					return []testRecord{{typ: recordHandshake, data: ch}}
				}
				return []testRecord{{typ: typ, data: d}}
			}, want: AlertUnexpectedMessage},
		{name: "second plaintext ClientHello without HelloRetryRequest", rule: "8446 §4.1.2, §5.1",
			script: func(typ byte, d []byte) []testRecord {
				if typ == recordHandshake && d[0] == typeClientHello {
					return []testRecord{{typ: typ, data: d}, {typ: typ, data: d}}
				}
				return []testRecord{{typ: typ, data: d}}
			}, want: AlertUnexpectedMessage},
		{name: "client Certificate without CertificateRequest", rule: "8446 §4.4.2",
			script: insertBefore(typeFinished, certMsg(p.clChain)), want: AlertUnexpectedMessage},
		{name: "client CertificateVerify without CertificateRequest", rule: "8446 §4.4.3",
			script: insertBefore(typeFinished, []byte{typeCertificateVerify, 0, 0, 4, 4, 3, 0, 0}), want: AlertUnexpectedMessage},
		{name: "client Finished of 31 bytes", rule: "8446 §4.4.4",
			script: onMsg(typeFinished, func(m []byte) []byte { return fixLen(m[:len(m)-1]) }), want: AlertDecodeError},
		{name: "client Finished of 33 bytes", rule: "8446 §4.4.4",
			script: onMsg(typeFinished, func(m []byte) []byte { return fixLen(append(m, 0)) }), want: AlertDecodeError},
		{name: "NewSessionTicket to a server", rule: "8446 §4.6.1",
			post: func(h *hostile) {
				h.send(recordHandshake, []byte{typeNewSessionTicket, 0, 0, 14, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 1, 1, 0, 0})
			}, want: AlertUnexpectedMessage},
		{name: "ServerHello to a server", rule: "8446 §4",
			post: func(h *hostile) { h.send(recordHandshake, []byte{typeServerHello, 0, 0, 0}) }, want: AlertUnexpectedMessage},
		{name: "legacy_session_id of 33 bytes", rule: "8446 §4.1.2",
			script: onMsg(typeClientHello, chFields(func(v, s, cs, c, x []byte) ([]byte, []byte, []byte, []byte, []byte) {
				return v, make([]byte, 33), cs, c, x
			})), want: AlertDecodeError},
		{name: "cipher_suites of odd length", rule: "8446 §4.1.2",
			script: onMsg(typeClientHello, chFields(func(v, s, cs, c, x []byte) ([]byte, []byte, []byte, []byte, []byte) {
				return v, s, append(cs, 0x13), c, x
			})), want: AlertDecodeError},
		{name: "empty cipher_suites", rule: "8446 §4.1.2",
			script: onMsg(typeClientHello, chFields(func(v, s, cs, c, x []byte) ([]byte, []byte, []byte, []byte, []byte) {
				return v, s, nil, c, x
			})), want: AlertDecodeError},
		{name: "empty compression methods", rule: "8446 §4.1.2",
			script: onMsg(typeClientHello, chFields(func(v, s, cs, c, x []byte) ([]byte, []byte, []byte, []byte, []byte) {
				return v, s, cs, nil, x
			})), want: AlertDecodeError},
		{name: "legacy_version 0x0302 without supported_versions", rule: "8446 §4.2.1, 5246 E.1",
			script: onMsg(typeClientHello, func(m []byte) []byte {
				m = editExt(extSupportedVersions, func([]byte) []byte { return nil })(m)
				m[5] = 2
				return m
			}), want: AlertProtocolVersion},
		{name: "supported_versions only TLS 1.3, server TLS 1.2 only", rule: "8446 §4.2.1",
			dut: func(c *Config) { c.MaxVersion = VersionTLS12 }, peer: func(c *Config) { c.MinVersion = VersionTLS13 },
			want: AlertProtocolVersion},
		{name: "P-256 share not on the curve", rule: "8446 §4.2.8.2", dut: p256, peer: p256,
			script: onMsg(typeClientHello, editShare(func(ke []byte) []byte { ke[64] ^= 1; return ke })), want: AlertIllegalParameter},
		{name: "P-256 share in compressed form", rule: "8446 §4.2.8.2", dut: p256, peer: p256,
			script: onMsg(typeClientHello, editShare(func(ke []byte) []byte { return append([]byte{2 | ke[64]&1}, ke[1:33]...) })),
			want:   AlertIllegalParameter},
		{name: "P-256 share of the point at infinity", rule: "8446 §4.2.8.2", dut: p256, peer: p256,
			script: onMsg(typeClientHello, editShare(func([]byte) []byte { return []byte{0} })), want: AlertIllegalParameter},
		{name: "X25519 share of 31 bytes", rule: "8446 §4.2.8.2",
			script: onMsg(typeClientHello, editShare(func(ke []byte) []byte { return ke[:31] })), want: AlertIllegalParameter},
		{name: "X25519 share of 33 bytes", rule: "8446 §4.2.8.2",
			script: onMsg(typeClientHello, editShare(func(ke []byte) []byte { return append(ke, 0) })), want: AlertIllegalParameter},
		{name: "X25519 share all zeros", rule: "8446 §7.4.2",
			script: onMsg(typeClientHello, editShare(func(ke []byte) []byte { clear(ke); return ke })), want: AlertIllegalParameter},
		{name: "X25519MLKEM768 share one byte short", rule: "8446 §4.2.8.2, draft-ietf-tls-ecdhe-mlkem", dut: mlkem, peer: mlkem,
			script: onMsg(typeClientHello, editShare(func(ke []byte) []byte { return ke[:len(ke)-1] })), want: AlertIllegalParameter},
		{name: "X25519MLKEM768 accepted", rule: "-", dut: mlkem, peer: mlkem},
		{name: "empty client Certificate when required", rule: "8446 §4.4.2.4",
			dut: mtlsServer, peer: noCert, want: AlertCertificateRequired},
		{name: "client CertificateVerify omitted", rule: "8446 §4.4.3",
			dut: mtlsServer, peer: mtlsClient, script: replaceMsg(typeCertificateVerify, nil), want: AlertUnexpectedMessage},
		{name: "client CertificateVerify rsa_pkcs1_sha256", rule: "8446 §4.4.3",
			dut: mtlsServer, peer: mtlsClient,
			script: onMsg(typeCertificateVerify, func(m []byte) []byte { m[4], m[5] = 4, 1; return m }), want: AlertIllegalParameter},
		{name: "client certificate from an untrusted CA", rule: "8446 §4.4.2.4",
			dut: func(c *Config) { c.ClientAuth, c.ClientCAs = RequireAndVerifyClientCert, p.otherPool }, peer: mtlsClient,
			want: AlertUnknownCA},
		{name: "client certificate expired", rule: "8446 §4.4.2.4",
			dut: func(c *Config) {
				mtlsServer(c)
				c.Time = func() time.Time { return time.Date(2041, 1, 1, 0, 0, 0, 0, time.UTC) }
			}, peer: mtlsClient, want: AlertCertificateExpired},
		{name: "TLS 1.2 client certificate from an untrusted CA", rule: "5246 §7.4.6", v12: true,
			dut: func(c *Config) { c.ClientAuth, c.ClientCAs = RequireAndVerifyClientCert, p.otherPool }, peer: mtlsClient,
			want: AlertUnknownCA},
		{name: "client chain of 11 certificates", rule: "bound (maxPeerCerts)",
			dut: mtlsServer, peer: func(c *Config) { mtlsClient(c); c.Certificate = chainOf(p.clChain[0], p.ecChain[1], 11) },
			want: AlertBadCertificate},
		{name: "client chain of 10 certificates accepted", rule: "bound (maxPeerCerts)",
			dut: mtlsServer, peer: func(c *Config) { mtlsClient(c); c.Certificate = chainOf(p.clChain[0], p.ecChain[1], 10) }},
	})
}

// TestReviewClient13: the TLS 1.3 client against a server that skips, repeats or malforms messages.
func TestReviewClient13(t *testing.T) {
	p := getPKI(t)
	runHostile(t, []hcase{
		{name: "server Certificate omitted", rule: "8446 §4.4.2", client: true,
			script: replaceMsg(typeCertificate, nil), want: AlertUnexpectedMessage},
		{name: "server CertificateVerify omitted", rule: "8446 §4.4.3", client: true,
			script: replaceMsg(typeCertificateVerify, nil), want: AlertUnexpectedMessage},
		{name: "server Finished of 33 bytes", rule: "8446 §4.4.4", client: true,
			script: onMsg(typeFinished, func(m []byte) []byte { return fixLen(append(m, 0)) }), want: AlertDecodeError},
		{name: "NewSessionTicket before the server Finished", rule: "8446 §4.6.1", client: true,
			script: insertBefore(typeFinished, []byte{typeNewSessionTicket, 0, 0, 14, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 1, 1, 0, 0}),
			want:   AlertUnexpectedMessage},
		{name: "KeyUpdate inside the server flight", rule: "8446 §4.6.3", client: true,
			script: insertBefore(typeCertificate, keyUpdateMsg), want: AlertUnexpectedMessage},
		{name: "second ServerHello after EncryptedExtensions", rule: "8446 §4", client: true,
			script: insertBefore(typeCertificate, []byte{typeServerHello, 0, 0, 0}), want: AlertUnexpectedMessage},
		{name: "EncryptedExtensions supported_versions", rule: "8446 §4.2", client: true,
			script: onMsg(typeEncryptedExtensions, addExt(ext(extSupportedVersions, 3, 4))), want: AlertIllegalParameter},
		{name: "ServerHello X25519 share of 31 bytes", rule: "8446 §4.2.8.2", client: true,
			script: onMsg(typeServerHello, editShare(func(ke []byte) []byte { return ke[:31] })), want: AlertIllegalParameter},
		{name: "ServerHello X25519 share all zeros", rule: "8446 §7.4.2", client: true,
			script: onMsg(typeServerHello, editShare(func(ke []byte) []byte { clear(ke); return ke })), want: AlertIllegalParameter},
		{name: "ServerHello P-256 share not on the curve", rule: "8446 §4.2.8.2", client: true,
			dut:    func(c *Config) { c.Groups = []CurveID{P256} },
			script: onMsg(typeServerHello, editShare(func(ke []byte) []byte { ke[64] ^= 1; return ke })), want: AlertIllegalParameter},
		{name: "ServerHello session id of 33 bytes", rule: "8446 §4.1.3", client: true,
			script: onMsg(typeServerHello, func(m []byte) []byte {
				out := append(append([]byte(nil), m[:38]...), 33)
				out = append(append(out, make([]byte, 33)...), m[39+int(m[38]):]...)
				return fixLen(out)
			}), want: AlertDecodeError},
		{name: "ClientHello to a client", rule: "8446 §4", client: true,
			post: func(h *hostile) { h.send(recordHandshake, []byte{typeClientHello, 0, 0, 0}) }, want: AlertUnexpectedMessage},
		{name: "CertificateRequest with empty signature_algorithms", rule: "8446 §4.2.3", client: true, peer: mtlsServer,
			dut:    mtlsClient,
			script: onMsg(typeCertificateRequest, editExt(extSignatureAlgorithms, func([]byte) []byte { return []byte{0, 0} })),
			want:   AlertDecodeError},
		{name: "server Certificate with trailing bytes", rule: "8446 §4.4.2", client: true,
			script: onMsg(typeCertificate, func(m []byte) []byte { return fixLen(append(m, 0)) }), want: AlertDecodeError},
		{name: "server chain of 11 certificates", rule: "bound (maxPeerCerts)", client: true,
			peer: func(c *Config) { c.Certificate = chainOf(p.ecChain[0], p.ecChain[1], 11) }, want: AlertBadCertificate},
		{name: "server chain of 10 certificates accepted", rule: "bound (maxPeerCerts)", client: true,
			peer: func(c *Config) { c.Certificate = chainOf(p.ecChain[0], p.ecChain[1], 10) }},
	})
}

// TestReviewTLS12: TLS 1.2 change_cipher_spec, Finished and message order, both roles.
func TestReviewTLS12(t *testing.T) {
	p := getPKI(t)
	ccsAs := func(d []byte) script {
		return withRecords(recordCCS, func([]byte) []testRecord { return []testRecord{{typ: recordCCS, data: d}} })
	}
	runHostile(t, []hcase{
		{name: "server: ChangeCipherSpec before ClientKeyExchange", rule: "5246 §7.1", v12: true,
			script: insertRecordBefore(typeClientKeyExchange, testRecord{typ: recordCCS, data: []byte{1}}), want: AlertUnexpectedMessage},
		{name: "server: ChangeCipherSpec of value 2", rule: "5246 §7.1", v12: true,
			script: ccsAs([]byte{2}), want: AlertUnexpectedMessage},
		{name: "server: empty ChangeCipherSpec", rule: "5246 §7.1", v12: true,
			script: ccsAs(nil), want: AlertUnexpectedMessage},
		{name: "server: ChangeCipherSpec of 2 bytes", rule: "5246 §7.1", v12: true,
			script: ccsAs([]byte{1, 1}), want: AlertUnexpectedMessage},
		{name: "server: two ChangeCipherSpecs", rule: "5246 §7.1", v12: true,
			script: withRecords(recordCCS, func(d []byte) []testRecord {
				return []testRecord{{typ: recordCCS, data: d}, {typ: recordCCS, data: d, plain: true}}
			}), want: AlertUnexpectedMessage},
		{name: "server: Finished without ChangeCipherSpec", rule: "5246 §7.4.9", v12: true,
			script: func(typ byte, d []byte) []testRecord {
				if typ == recordCCS {
					return nil
				}
				return []testRecord{{typ: typ, data: d}}
			}, want: AlertUnexpectedMessage},
		{name: "server: client Finished of 11 bytes", rule: "5246 §7.4.9", v12: true,
			script: onMsg(typeFinished, func(m []byte) []byte { return fixLen(m[:len(m)-1]) }), want: AlertDecodeError},
		{name: "server: client Finished of 13 bytes", rule: "5246 §7.4.9", v12: true,
			script: onMsg(typeFinished, func(m []byte) []byte { return fixLen(append(m, 0)) }), want: AlertDecodeError},
		{name: "server: application data before the client Finished", rule: "5246 §7.4.9", v12: true,
			script: withRecords(recordHandshake, func(d []byte) []testRecord {
				if d[0] != typeFinished {
					return []testRecord{{typ: recordHandshake, data: d}}
				}
				return []testRecord{{typ: recordAppData, data: []byte("x")}, {typ: recordHandshake, data: d}}
			}), want: AlertUnexpectedMessage},
		{name: "server: client Certificate without CertificateRequest", rule: "5246 §7.4.6", v12: true,
			script: insertBefore(typeClientKeyExchange, []byte{typeCertificate, 0, 0, 3, 0, 0, 0}), want: AlertUnexpectedMessage},
		{name: "server: second ClientHello before ClientKeyExchange", rule: "5246 §7.4", v12: true,
			script: insertBefore(typeClientKeyExchange, []byte{typeClientHello, 0, 0, 0}), want: AlertUnexpectedMessage},
		{name: "server: ClientHello without the null compression method", rule: "5246 §7.4.1.2", v12: true,
			script: onMsg(typeClientHello, chFields(func(v, s, cs, c, x []byte) ([]byte, []byte, []byte, []byte, []byte) {
				return v, s, cs, []byte{1}, x
			})), want: AlertIllegalParameter},
		{name: "server: supported_versions only TLS 1.3, server TLS 1.2 only", rule: "8446 §4.2.1",
			dut:    func(c *Config) { c.MaxVersion = VersionTLS12 },
			script: onMsg(typeClientHello, editExt(extSupportedVersions, func([]byte) []byte { return []byte{2, 3, 4} })),
			want:   AlertProtocolVersion},
		{name: "client: ServerHello renegotiation_info not empty", rule: "5746 §3.4", v12: true, client: true,
			script: onMsg(typeServerHello, editExt(extRenegotiationInfo, func([]byte) []byte { return []byte{1, 0} })),
			want:   AlertHandshakeFailure},
		{name: "client: ServerHello compression 1", rule: "5246 §7.4.1.3", v12: true, client: true,
			script: onMsg(typeServerHello, func(m []byte) []byte { m[extBlockAt(m)-1] = 1; return m }), want: AlertIllegalParameter},
		{name: "client: ServerHello session id of 33 bytes", rule: "5246 §7.4.1.3", v12: true, client: true,
			script: onMsg(typeServerHello, func(m []byte) []byte {
				out := append(append([]byte(nil), m[:38]...), 33)
				out = append(append(out, make([]byte, 33)...), m[39+int(m[38]):]...)
				return fixLen(out)
			}), want: AlertDecodeError},
		{name: "client: server Certificate omitted", rule: "5246 §7.4.2", v12: true, client: true,
			script: replaceMsg(typeCertificate, nil), want: AlertUnexpectedMessage},
		{name: "client: ServerKeyExchange omitted", rule: "5246 §7.4.3", v12: true, client: true,
			script: replaceMsg(typeServerKeyExchange, nil), want: AlertUnexpectedMessage},
		{name: "client: empty server Certificate", rule: "5246 §7.4.2", v12: true, client: true,
			script: replaceMsg(typeCertificate, []byte{typeCertificate, 0, 0, 3, 0, 0, 0}), want: AlertDecodeError},
		{name: "client: server Finished of 11 bytes", rule: "5246 §7.4.9", v12: true, client: true,
			script: onMsg(typeFinished, func(m []byte) []byte { return fixLen(m[:len(m)-1]) }), want: AlertDecodeError},
		{name: "client: ChangeCipherSpec of value 2", rule: "5246 §7.1", v12: true, client: true,
			script: ccsAs([]byte{2}), want: AlertUnexpectedMessage},
		{name: "client: NewSessionTicket not offered", rule: "5077 §3.2", v12: true, client: true,
			script: withRecords(recordCCS, func(d []byte) []testRecord {
				return []testRecord{{typ: recordHandshake, data: []byte{typeNewSessionTicket, 0, 0, 6, 0, 0, 0, 1, 0, 0}}, {typ: recordCCS, data: d}}
			}), want: AlertUnexpectedMessage},
		{name: "client: server chain of 11 certificates", rule: "bound (maxPeerCerts)", v12: true, client: true,
			peer: func(c *Config) { c.Certificate = chainOf(p.ecChain[0], p.ecChain[1], 11) }, want: AlertBadCertificate},
		{name: "client: server chain of 10 certificates accepted", rule: "bound (maxPeerCerts)", v12: true, client: true,
			peer: func(c *Config) { c.Certificate = chainOf(p.ecChain[0], p.ecChain[1], 10) }},
	})
}

// insertRecordBefore puts record r in front of the handshake record that carries message mt.
func insertRecordBefore(mt byte, r testRecord) script {
	return withRecords(recordHandshake, func(d []byte) []testRecord {
		for _, m := range splitMsgs(d) {
			if m[0] == mt {
				return []testRecord{r, {typ: recordHandshake, data: d}}
			}
		}
		return []testRecord{{typ: recordHandshake, data: d}}
	})
}

// ske12 rewrites a TLS 1.2 ServerKeyExchange: f gets the curve type, group, point, scheme and
// signature and returns them.
func ske12(f func(ct byte, g, point, scheme, sig []byte) (byte, []byte, []byte, []byte, []byte)) func(m []byte) []byte {
	return func(m []byte) []byte {
		b := m[4:]
		ct, g := b[0], append([]byte(nil), b[1:3]...)
		pl := int(b[3])
		point := append([]byte(nil), b[4:4+pl]...)
		rest := b[4+pl:]
		scheme := append([]byte(nil), rest[:2]...)
		sig := append([]byte(nil), rest[4:]...)
		ct, g, point, scheme, sig = f(ct, g, point, scheme, sig)
		out := append([]byte{typeServerKeyExchange, 0, 0, 0, ct}, g...)
		out = append(append(out, byte(len(point))), point...)
		out = append(append(out, scheme...), byte(len(sig)>>8), byte(len(sig)))
		return fixLen(append(out, sig...))
	}
}

// TestReviewMore: the second batch — HRR and ClientHello2 details, client certificates, TLS 1.2
// key exchange messages and extensions, post-handshake messages.
func TestReviewMore(t *testing.T) {
	p := getPKI(t)
	noSNI := func(c *Config) { c.Client.ServerName, c.Client.InsecureSkipVerify = "", true }
	tickets := func(c *Config) { c.TicketKey = testTicketKey }
	sc := serverConfig(t, false)
	sc.TicketKey = testTicketKey
	sess := firstSession(t, sc)
	runHostile(t, []hcase{
		{name: "ServerHello selects the PSK with a suite of another hash", rule: "8446 §4.2.11", client: true,
			dut:  func(c *Config) { c.Client.Session = sess },
			peer: func(c *Config) { c.CipherSuites = []uint16{TLS_AES_256_GCM_SHA384} },
			script: onMsg(typeServerHello, func(m []byte) []byte {
				if sess.suite == TLS_AES_256_GCM_SHA384 {
					t.Fatal("session of the SHA-384 suite")
				}
				return addExt(ext(extPreSharedKey, 0, 0))(m)
			}), want: AlertIllegalParameter},
		{name: "ServerHello pre_shared_key selected_identity of 3 bytes", rule: "8446 §4.2.11", client: true,
			dut: func(c *Config) { c.Client.Session = sess }, peer: tickets,
			script: onMsg(typeServerHello, editExt(extPreSharedKey, func([]byte) []byte { return []byte{0, 0, 0} })),
			want:   AlertDecodeError},
		// ClientHello2 and HelloRetryRequest
		{name: "second ClientHello with two key shares", rule: "8446 §4.2.8", dut: serverNeedsHRR, peer: clientTwoGroups,
			script: onMsg(typeClientHello, func(m []byte) []byte {
				if !isCH2(m) {
					return m
				}
				return editExt(extKeyShare, func(b []byte) []byte {
					x := append([]byte{0, byte(X25519 >> 8), byte(X25519), 0, 32}, make([]byte, 32)...)
					x[5+31] = 9
					l := append(b[2:], x[1:]...)
					return append([]byte{byte(len(l) >> 8), byte(len(l))}, l...)
				})(m)
			}), want: AlertIllegalParameter},
		{name: "HelloRetryRequest with a cipher suite not offered", rule: "8446 §4.1.4", client: true,
			peer: serverNeedsHRR, dut: clientTwoGroups,
			script: onMsg(typeServerHello, once(func(m []byte) []byte {
				at := extBlockAt(m) - 3
				m[at], m[at+1] = 0x13, 0x05
				return m
			})), want: AlertIllegalParameter},
		{name: "HelloRetryRequest with an empty cookie", rule: "8446 §4.2.2", client: true,
			peer: serverNeedsHRR, dut: clientTwoGroups,
			script: onMsg(typeServerHello, once(addExt(ext(extCookie, 0, 0)))), want: AlertDecodeError},
		// client certificates (TLS 1.3)
		{name: "client Finished instead of the requested Certificate", rule: "8446 §4.4.2", dut: mtlsServer,
			peer: func(c *Config) { mtlsClient(c) }, script: func(typ byte, d []byte) []testRecord {
				if typ != recordHandshake {
					return []testRecord{{typ: typ, data: d}}
				}
				var out []byte
				for _, m := range splitMsgs(d) {
					if m[0] != typeCertificate && m[0] != typeCertificateVerify {
						out = append(out, m...)
					}
				}
				return []testRecord{{typ: typ, data: out}}
			}, want: AlertUnexpectedMessage},
		{name: "client Certificate with a context", rule: "8446 §4.4.2", dut: mtlsServer, peer: mtlsClient,
			script: onMsg(typeCertificate, func(m []byte) []byte {
				return fixLen(append([]byte{typeCertificate, 0, 0, 0, 1, 7}, m[5:]...))
			}), want: AlertIllegalParameter},
		{name: "client CertificateEntry of zero length", rule: "8446 §4.4.2", dut: mtlsServer, peer: mtlsClient,
			script: replaceMsg(typeCertificate, []byte{typeCertificate, 0, 0, 9, 0, 0, 0, 5, 0, 0, 0, 0, 0}), want: AlertDecodeError},
		{name: "client CertificateVerify after an empty Certificate", rule: "8446 §4.4.3",
			dut:    func(c *Config) { c.ClientAuth, c.ClientCAs = RequestClientCert, p.caPool },
			script: insertBefore(typeFinished, []byte{typeCertificateVerify, 0, 0, 4, 4, 3, 0, 0}), want: AlertUnexpectedMessage},
		// TLS 1.3 client: extensions and tickets
		{name: "EncryptedExtensions record_size_limit 63", rule: "8449 §4", client: true,
			dut:    func(c *Config) { c.RecordSizeLimit = 1024 },
			script: onMsg(typeEncryptedExtensions, editExt(extRecordSizeLimit, func([]byte) []byte { return []byte{0, 63} })),
			want:   AlertIllegalParameter},
		{name: "EncryptedExtensions ALPN with an empty name", rule: "7301 §3.1", client: true,
			dut: func(c *Config) { c.ALPN = []string{"h2"} }, peer: func(c *Config) { c.ALPN = []string{"h2"} },
			script: onMsg(typeEncryptedExtensions, editExt(extALPN, func([]byte) []byte { return []byte{0, 1, 0} })),
			want:   AlertDecodeError},
		{name: "NewSessionTicket with an empty ticket", rule: "8446 §4.6.1", client: true, peer: tickets,
			script: onMsg(typeNewSessionTicket, func(m []byte) []byte {
				return fixLen([]byte{typeNewSessionTicket, 0, 0, 0, 0, 0, 0, 60, 0, 0, 0, 0, 0, 0, 0, 0, 0})
			}), want: AlertDecodeError},
		{name: "NewSessionTicket with trailing bytes", rule: "8446 §4.6.1", client: true, peer: tickets,
			script: onMsg(typeNewSessionTicket, func(m []byte) []byte { return fixLen(append(m, 0)) }), want: AlertDecodeError},
		{name: "KeyUpdate of 2 bytes", rule: "8446 §4.6.3",
			post: func(h *hostile) { h.send(recordHandshake, []byte{typeKeyUpdate, 0, 0, 2, 0, 0}) }, want: AlertDecodeError},
		{name: "HelloRetryRequest after the handshake", rule: "8446 §4", client: true,
			post: func(h *hostile) {
				h.send(recordHandshake, append([]byte{typeServerHello, 0, 0, 34, 3, 3}, hrrRandom[:]...))
			},
			want: AlertUnexpectedMessage},
		// TLS 1.2 client
		{name: "client: ServerHello server_name acknowledgement without SNI", rule: "6066 §3, 5246 §7.4.1.4", v12: true,
			client: true, dut: noSNI,
			script: onMsg(typeServerHello, addExt(ext(extServerName))), want: AlertUnsupportedExtension},
		{name: "client: ServerHello extended_master_secret not empty", rule: "7627 §5.1", v12: true, client: true,
			script: onMsg(typeServerHello, editExt(extEMS, func([]byte) []byte { return []byte{0} })), want: AlertDecodeError},
		{name: "client: ServerHello renegotiation_info with a bad length", rule: "5746 §3.2", v12: true, client: true,
			script: onMsg(typeServerHello, editExt(extRenegotiationInfo, func([]byte) []byte { return []byte{2, 0} })),
			want:   AlertDecodeError},
		{name: "client: ServerKeyExchange explicit curve", rule: "8422 §5.4", v12: true, client: true,
			script: onMsg(typeServerKeyExchange, ske12(func(ct byte, g, pt, sc, sig []byte) (byte, []byte, []byte, []byte, []byte) {
				return 1, g, pt, sc, sig
			})), want: AlertIllegalParameter},
		{name: "client: ServerKeyExchange X25519 point all zeros (signature checked first)", rule: "8422 §5.4", v12: true, client: true,
			script: onMsg(typeServerKeyExchange, ske12(func(ct byte, g, pt, sc, sig []byte) (byte, []byte, []byte, []byte, []byte) {
				return ct, g, make([]byte, len(pt)), sc, sig
			})), want: AlertDecryptError},
		{name: "client: ServerKeyExchange point of 31 bytes", rule: "8422 §5.4", v12: true, client: true,
			script: onMsg(typeServerKeyExchange, ske12(func(ct byte, g, pt, sc, sig []byte) (byte, []byte, []byte, []byte, []byte) {
				return ct, g, pt[:31], sc, sig
			})), want: AlertIllegalParameter},
		{name: "client: ServerKeyExchange scheme not offered (ecdsa_sha1)", rule: "5246 §7.4.1.4.1", v12: true, client: true,
			script: onMsg(typeServerKeyExchange, ske12(func(ct byte, g, pt, sc, sig []byte) (byte, []byte, []byte, []byte, []byte) {
				return ct, g, pt, []byte{2, 3}, sig
			})), want: AlertIllegalParameter},
		{name: "client: ServerKeyExchange with trailing bytes", rule: "5246 §7.4.3", v12: true, client: true,
			script: onMsg(typeServerKeyExchange, func(m []byte) []byte { return fixLen(append(m, 0)) }), want: AlertDecodeError},
		{name: "client: ServerHelloDone not empty", rule: "5246 §7.4.5", v12: true, client: true,
			script: onMsg(typeServerHelloDone, func(m []byte) []byte { return fixLen(append(m, 0)) }), want: AlertDecodeError},
		{name: "server change_cipher_spec right after ServerHello", rule: "8446 §D.4", check: serverCCS(1)},
		{name: "server change_cipher_spec right after HelloRetryRequest, once", rule: "8446 §D.4",
			dut: serverNeedsHRR, peer: clientTwoGroups, check: serverCCS(2)},
		{name: "key_share without supported_groups", rule: "8446 §9.2",
			script: onMsg(typeClientHello, editExt(extSupportedGroups, func([]byte) []byte { return nil })), want: AlertMissingExtension},
		{name: "change_cipher_spec to a client after the server Finished", rule: "8446 §5", client: true,
			post: func(h *hostile) { h.raw = plainRec(recordCCS, 1); h.run() }, want: AlertUnexpectedMessage},
		{name: "client: application data before the server Finished", rule: "5246 §7.4.9", v12: true, client: true,
			script: withRecords(recordHandshake, func(d []byte) []testRecord {
				if d[0] != typeFinished {
					return []testRecord{{typ: recordHandshake, data: d}}
				}
				return []testRecord{{typ: recordAppData, data: []byte("x")}, {typ: recordHandshake, data: d}}
			}), want: AlertUnexpectedMessage},
		{name: "client: server Finished without ChangeCipherSpec", rule: "5246 §7.4.9", v12: true, client: true,
			script: func(typ byte, d []byte) []testRecord {
				if typ == recordCCS {
					return nil
				}
				return []testRecord{{typ: typ, data: d}}
			}, check: func(t *testing.T, h *hostile) {
				// the encrypted Finished reads as handshake bytes in the clear: its first bytes are
				// the explicit nonce (a HelloRequest, ignored while negotiating) or ciphertext (the
				// keys come from fresh randomness), so the alert depends on them
				for _, a := range []uint8{AlertUnexpectedMessage, AlertDecodeError, AlertIllegalParameter} {
					if h.dut.Alert() == a {
						h.expect(a)
						return
					}
				}
				t.Fatalf("dut: %v", h.dutErr)
			}},
		{name: "server: empty client Certificate when required", rule: "5246 §7.4.6", v12: true,
			dut: mtlsServer, want: AlertHandshakeFailure},
		{name: "client: 16 HelloRequests while negotiating ignored", rule: "5246 §7.4.1.1, flood bound", v12: true, client: true,
			script: insertBefore(typeServerHello, bytes.Repeat([]byte{typeHelloRequest, 0, 0, 0}, 16))},
		{name: "client: 17 HelloRequests while negotiating", rule: "flood bound (maxUseless)", v12: true, client: true,
			script: insertBefore(typeServerHello, bytes.Repeat([]byte{typeHelloRequest, 0, 0, 0}, 17)), want: AlertUnexpectedMessage},
		{name: "client: CertificateRequest with no certificate_types", rule: "5246 §7.4.4", v12: true, client: true,
			dut: mtlsClient, peer: mtlsServer,
			script: onMsg(typeCertificateRequest, func(m []byte) []byte {
				return fixLen(append([]byte{typeCertificateRequest, 0, 0, 0, 0}, m[5+int(m[4]):]...))
			}), want: AlertDecodeError},
		{name: "client: CertificateRequest with empty supported_signature_algorithms", rule: "5246 §7.4.4", v12: true, client: true,
			dut: mtlsClient, peer: mtlsServer,
			script: onMsg(typeCertificateRequest, func(m []byte) []byte {
				at := 5 + int(m[4])
				l := int(m[at])<<8 | int(m[at+1])
				out := append(append([]byte(nil), m[:at]...), 0, 0)
				return fixLen(append(out, m[at+2+l:]...))
			}), want: AlertDecodeError},
		// TLS 1.2 server
		{name: "server: ClientKeyExchange X25519 point all zeros", rule: "8422 §5.11, 7748 §6.1", v12: true,
			script: onMsg(typeClientKeyExchange, func(m []byte) []byte { clear(m[5:]); return m }), want: AlertIllegalParameter},
		{name: "server: ClientKeyExchange point of 31 bytes", rule: "8422 §5.7", v12: true,
			script: onMsg(typeClientKeyExchange, func(m []byte) []byte { m[4] = 31; return fixLen(m[:len(m)-1]) }),
			want:   AlertIllegalParameter},
		{name: "server: ClientKeyExchange with trailing bytes", rule: "5246 §7.4.7", v12: true,
			script: onMsg(typeClientKeyExchange, func(m []byte) []byte { return fixLen(append(m, 0)) }), want: AlertDecodeError},
		{name: "server: ClientKeyExchange P-256 point not on the curve", rule: "8422 §5.7", v12: true,
			dut:    func(c *Config) { c.Groups = []CurveID{P256} },
			script: onMsg(typeClientKeyExchange, func(m []byte) []byte { m[len(m)-1] ^= 1; return m }), want: AlertIllegalParameter},
		{name: "server: protected record shorter than nonce and tag", rule: "5246 §6.2.3.3", v12: true,
			post: func(h *hostile) { h.raw = plainRec(recordAppData, make([]byte, 20)...); h.run() }, want: AlertBadRecordMAC},
		{name: "server: protected record of 2^14+2049 bytes", rule: "5246 §6.2.3", v12: true,
			post: func(h *hostile) { n := maxPlaintext + 2049; h.raw = []byte{23, 3, 3, byte(n >> 8), byte(n)}; h.run() },
			want: AlertRecordOverflow},
		{name: "server: client CertificateVerify after an empty Certificate", rule: "5246 §7.4.8", v12: true,
			dut:    func(c *Config) { c.ClientAuth, c.ClientCAs = RequestClientCert, p.caPool },
			script: onMsg(typeClientKeyExchange, tail(typeCertificateVerify, 0, 0, 4, 4, 3, 0, 0)), want: AlertUnexpectedMessage},
	})
}

// serverCCS checks a TLS 1.3 server in middlebox compatibility mode (the client sent a session
// id): its records are hellos (hellos of them: HelloRetryRequest and ServerHello), exactly one
// change_cipher_spec right after the first hello, then only protected records (RFC 8446 §D.4).
func serverCCS(hellos int) func(t *testing.T, h *hostile) {
	return func(t *testing.T, h *hostile) {
		h.established()
		var types []byte
		for b := h.dutOut; len(b) >= 5; b = b[recordLen(b):] {
			types = append(types, b[0])
		}
		want := []byte{recordHandshake, recordCCS}
		for i := 1; i < hellos; i++ {
			want = append(want, recordHandshake)
		}
		if len(types) <= len(want) || !bytes.Equal(types[:len(want)], want) {
			t.Fatalf("record types % x, want % x then application_data", types, want)
		}
		for _, ty := range types[len(want):] {
			if ty != recordAppData {
				t.Fatalf("record types % x", types)
			}
		}
	}
}
