package tls

import (
	"bytes"
	"testing"
)

// The hostile-peer rules, one case per rule; CONFORMANCE.md points at these names.

// serverNeedsHRR: the dut server only takes P-256, the peer client's first share is X25519.
func serverNeedsHRR(c *Config)  { c.Groups = []CurveID{P256} }
func clientTwoGroups(c *Config) { c.Groups = []CurveID{X25519, P256} }

func mtlsServer(c *Config) {
	c.ClientAuth, c.ClientCAs = RequireAndVerifyClientCert, getPKI(nil).caPool
}
func mtlsClient(c *Config) { p := getPKI(nil); c.Certificate, c.Signer = p.clChain, p.clKey }

// TestHostileServer13: the engine as a TLS 1.3 server against a hostile client.
func TestHostileServer13(t *testing.T) {
	sc := serverConfig(t, false)
	sc.TicketKey = testTicketKey
	sess := firstSession(t, sc)
	runHostile(t, []hcase{
		{name: "baseline", rule: "-"},
		{name: "ClientHello+extra bytes in its record", rule: "8446 §5.1",
			script: onMsg(typeClientHello, tail(typeFinished, 0, 0)), want: AlertUnexpectedMessage},
		{name: "ClientHello1+start of ClientHello2 before HRR", rule: "8446 §5.1",
			dut: serverNeedsHRR, peer: clientTwoGroups,
			script: onMsg(typeClientHello, once(tail(typeClientHello, 0, 1, 0, 3, 3))), want: AlertUnexpectedMessage},
		{name: "client Finished+extra bytes in its record", rule: "8446 §5.1",
			script: onMsg(typeFinished, tail(typeKeyUpdate, 0)), want: AlertUnexpectedMessage},
		{name: "duplicate unknown extension in ClientHello", rule: "8446 §4.2",
			script: onMsg(typeClientHello, prependExt(ext(0xfafa), ext(0xfafa, 1))), want: AlertIllegalParameter},
		{name: "duplicate known extension in ClientHello", rule: "8446 §4.2",
			script: onMsg(typeClientHello, prependExt(ext(extALPN, 0, 3, 2, 'h', '2'), ext(extALPN, 0, 3, 2, 'h', '2'))),
			want:   AlertIllegalParameter},
		{name: "extension block overruns", rule: "8446 §4.2",
			script: onMsg(typeClientHello, prependExt([]byte{0xfa, 0xfa, 0xff, 0xff})), want: AlertDecodeError},
		{name: "oid_filters in ClientHello", rule: "8446 §4.2",
			script: onMsg(typeClientHello, prependExt(ext(extOIDFilters, 0, 0))), want: AlertIllegalParameter},
		{name: "certificate_authorities with trailing bytes", rule: "8446 §4.2.4",
			script: onMsg(typeClientHello, prependExt(ext(extCertAuthorities, 0, 3, 0, 1, 'x', 9))), want: AlertDecodeError},
		{name: "certificate_authorities empty", rule: "8446 §4.2.4",
			script: onMsg(typeClientHello, prependExt(ext(extCertAuthorities, 0, 0))), want: AlertDecodeError},
		// accepted (a ServerHello follows); the handshake then fails only because the hostile
		// peer's transcript lacks the extension it added
		{name: "certificate_authorities valid", rule: "8446 §4.2.4",
			script: onMsg(typeClientHello, prependExt(ext(extCertAuthorities, 0, 3, 0, 1, 'x'))),
			check: func(t *testing.T, h *hostile) {
				if h.dutOut[0] != recordHandshake || h.dutOut[5] != typeServerHello {
					t.Fatalf("no ServerHello: % x", h.dutOut[:10])
				}
				expectAlert(t, h.dutErr, AlertBadRecordMAC, false)
			}},
		{name: "server_name with two host_names", rule: "6066 §3",
			script: onMsg(typeClientHello, editExt(extServerName, func(b []byte) []byte {
				l := append(b[2:], b[2:]...)
				return append([]byte{byte(len(l) >> 8), byte(len(l))}, l...)
			})), want: AlertIllegalParameter},
		{name: "server_name with trailing bytes", rule: "6066 §3",
			script: onMsg(typeClientHello, editExt(extServerName, func(b []byte) []byte { return append(b, 0) })),
			want:   AlertDecodeError},
		{name: "key share for a group not in supported_groups", rule: "8446 §4.2.8",
			peer:   func(c *Config) { c.Groups = []CurveID{X25519} },
			script: onMsg(typeClientHello, editExt(extSupportedGroups, func(b []byte) []byte { return []byte{0, 2, 0, 0x17} })),
			want:   AlertIllegalParameter},
		{name: "post_handshake_auth not empty", rule: "8446 §4.2.6",
			script: onMsg(typeClientHello, prependExt(ext(extPostHandshakeAuth, 1))), want: AlertDecodeError},
		{name: "client CertificateEntry with OCSP extension", rule: "8446 §4.4.2, §4.2",
			dut: mtlsServer, peer: mtlsClient,
			script: onMsg(typeCertificate, addCertEntryExt(ext(extStatusRequest, 1, 0, 0, 0, 0))), want: AlertUnsupportedExtension},
		{name: "client CertificateEntry with duplicate extensions", rule: "8446 §4.2",
			dut: mtlsServer, peer: mtlsClient,
			script: onMsg(typeCertificate, addCertEntryExt(append(ext(0xfafa), ext(0xfafa)...))), want: AlertIllegalParameter},
		{name: "second change_cipher_spec", rule: "8446 §5 (one CCS)",
			script: withRecords(recordHandshake, func(d []byte) []testRecord {
				if d[0] != typeFinished && d[0] != typeCertificate {
					return []testRecord{{typ: recordHandshake, data: d}}
				}
				return []testRecord{{typ: recordCCS, data: []byte{1}, plain: true}, {typ: recordHandshake, data: d}}
			}), want: AlertUnexpectedMessage},
		{name: "change_cipher_spec of value 2", rule: "8446 §5",
			script: withRecords(recordHandshake, func(d []byte) []testRecord {
				if d[0] != typeFinished {
					return []testRecord{{typ: recordHandshake, data: d}}
				}
				return []testRecord{{typ: recordCCS, data: []byte{2}, plain: true}}
			}), want: AlertUnexpectedMessage},
		{name: "protected change_cipher_spec", rule: "8446 §5",
			script: withRecords(recordHandshake, func(d []byte) []testRecord {
				if d[0] != typeFinished {
					return []testRecord{{typ: recordHandshake, data: d}}
				}
				return []testRecord{{typ: recordCCS, data: []byte{1}}}
			}), want: AlertUnexpectedMessage},
		{name: "change_cipher_spec after Finished", rule: "8446 §5",
			post: func(h *hostile) { h.raw = plainRec(recordCCS, 1); h.run() }, want: AlertUnexpectedMessage},
		{name: "ClientHello with early_data not empty", rule: "8446 §4.2.10",
			script: onMsg(typeClientHello, prependExt(ext(extEarlyData, 0, 0, 0, 1))), want: AlertDecodeError},
		{name: "ClientHello compression methods not [0]", rule: "8446 §4.1.2",
			script: onMsg(typeClientHello, func(m []byte) []byte {
				at := extBlockAt(m) - 1
				return fixLen(append(append(append([]byte(nil), m[:at-1]...), 2, 1, 0), m[at+1:]...))
			}), want: AlertIllegalParameter},
		{name: "second ClientHello with another session id", rule: "8446 §4.1.2", dut: serverNeedsHRR, peer: clientTwoGroups,
			script: onMsg(typeClientHello, func(m []byte) []byte {
				if isCH2(m) {
					m[40] ^= 1
				}
				return m
			}), want: AlertIllegalParameter},
		{name: "second ClientHello without the requested share", rule: "8446 §4.1.2", dut: serverNeedsHRR, peer: clientTwoGroups,
			script: onMsg(typeClientHello, func(m []byte) []byte {
				return editExt(extKeyShare, func(b []byte) []byte {
					if b[3] == byte(P256) {
						b[3] = byte(X25519)
					}
					return b
				})(m)
			}), want: AlertIllegalParameter},
		{name: "second ClientHello with another random", rule: "8446 §4.1.2", dut: serverNeedsHRR, peer: clientTwoGroups,
			script: onMsg(typeClientHello, func(m []byte) []byte {
				if isCH2(m) {
					m[8] ^= 1
				}
				return m
			}), want: AlertIllegalParameter},
		{name: "second ClientHello with another extension", rule: "8446 §4.1.2", dut: serverNeedsHRR, peer: clientTwoGroups,
			script: onMsg(typeClientHello, func(m []byte) []byte {
				if isCH2(m) {
					return prependExt(ext(extALPN, 0, 3, 2, 'h', '2'))(m)
				}
				return m
			}), want: AlertIllegalParameter},
		{name: "second ClientHello with padding added", rule: "8446 §4.1.2", dut: serverNeedsHRR, peer: clientTwoGroups,
			script: onMsg(typeClientHello, func(m []byte) []byte {
				if isCH2(m) {
					return prependExt(ext(extPadding, 0, 0, 0))(m)
				}
				return m
			}), check: func(t *testing.T, h *hostile) {
				// accepted: the server answers with its ServerHello (the handshake then fails only
				// because the hostile peer's transcript lacks the padding)
				hellos := 0
				for b := h.dutOut; len(b) > 5; b = b[recordLen(b):] {
					if b[0] == recordHandshake && b[5] == typeServerHello {
						hellos++
					}
				}
				if hellos != 2 {
					t.Fatal("ClientHello2 with padding refused", h.dutErr)
				}
				expectAlert(t, h.dutErr, AlertBadRecordMAC, false)
			}},
		{name: "second ClientHello with early_data", rule: "8446 §4.1.2", dut: serverNeedsHRR, peer: clientTwoGroups,
			script: onMsg(typeClientHello, func(m []byte) []byte {
				if isCH2(m) {
					return prependExt(ext(extEarlyData))(m)
				}
				return m
			}), want: AlertIllegalParameter},
		{name: "PSK offered with psk_ke only is not used", rule: "8446 §4.2.9", dut: func(c *Config) { c.TicketKey = testTicketKey },
			peer:   func(c *Config) { c.Client.Session = sess },
			script: onMsg(typeClientHello, editExt(extPSKModes, func([]byte) []byte { return []byte{1, 0} })),
			check: func(t *testing.T, h *hostile) {
				if h.dut.resumed || h.dutOut[5] != typeServerHello {
					t.Fatal("resumed with a mode the client did not offer")
				}
			}},
		{name: "more binders than identities", rule: "8446 §4.2.11", dut: func(c *Config) { c.TicketKey = testTicketKey },
			peer: func(c *Config) { c.Client.Session = sess },
			script: onMsg(typeClientHello, editExt(extPreSharedKey, func(b []byte) []byte {
				r := reader{b: b}
				ids := r.vec16()
				bl := r.vec16()
				bl = append(append([]byte(nil), bl...), bl...)
				out := append([]byte{byte(len(ids) >> 8), byte(len(ids))}, ids...)
				return append(append(out, byte(len(bl)>>8), byte(len(bl))), bl...)
			})), want: AlertIllegalParameter},
		{name: "record_size_limit wins over max_fragment_length", rule: "8449 §5",
			peer: func(c *Config) { c.RecordSizeLimit, c.Client.MaxFragmentLength = 1024, 1024 },
			check: func(t *testing.T, h *hostile) {
				h.established()
				if h.dut.mfl != 0 || h.peer.mfl != 0 || h.dut.peerRSL == 0 {
					t.Fatalf("mfl %d/%d rsl %d", h.dut.mfl, h.peer.mfl, h.dut.peerRSL)
				}
			}},
		{name: "no common ALPN protocol", rule: "7301 §3.2", dut: func(c *Config) { c.ALPN = []string{"http/1.1"} },
			peer: func(c *Config) { c.ALPN = []string{"h2"} }, want: AlertNoApplicationProtocol},
		{name: "wrong PSK binder", rule: "8446 §4.2.11", dut: func(c *Config) { c.TicketKey = testTicketKey },
			peer:   func(c *Config) { c.Client.Session = sess },
			script: onMsg(typeClientHello, func(m []byte) []byte { m[len(m)-1] ^= 1; return m }), want: AlertDecryptError},
		{name: "X25519 share of a low-order point", rule: "8446 §7.4.2",
			script: onMsg(typeClientHello, editExt(extKeyShare, func(b []byte) []byte {
				clear(b[6:])
				return b
			})), want: AlertIllegalParameter},
		{name: "KeyUpdate before Finished", rule: "8446 §4.6.3",
			script: withRecords(recordHandshake, func(d []byte) []testRecord {
				if d[0] != typeFinished {
					return []testRecord{{typ: recordHandshake, data: d}}
				}
				return []testRecord{{typ: recordHandshake, data: keyUpdateMsg}, {typ: recordHandshake, data: d}}
			}), want: AlertUnexpectedMessage},
		{name: "alert between two fragments of Finished", rule: "8446 §5.1",
			script: withRecords(recordHandshake, func(d []byte) []testRecord {
				if d[0] != typeFinished {
					return []testRecord{{typ: recordHandshake, data: d}}
				}
				return []testRecord{{typ: recordHandshake, data: d[:3]}, {typ: recordAlert, data: []byte{1, AlertUserCanceled}},
					{typ: recordHandshake, data: d[3:]}}
			}), want: AlertUnexpectedMessage},
		{name: "application data between two fragments of KeyUpdate", rule: "8446 §5.1",
			post: func(h *hostile) {
				h.peer.queueRecords(recordHandshake, keyUpdateMsg[:2])
				h.peer.queueRecords(recordAppData, []byte("x"))
				h.send(recordHandshake, keyUpdateMsg[2:])
			}, want: AlertUnexpectedMessage},
		{name: "EndOfEarlyData when 0-RTT was not accepted", rule: "8446 §4.5",
			script: withRecords(recordHandshake, func(d []byte) []testRecord {
				if d[0] != typeFinished {
					return []testRecord{{typ: recordHandshake, data: d}}
				}
				return []testRecord{{typ: recordHandshake, data: []byte{typeEndOfEarlyData, 0, 0, 0}}, {typ: recordHandshake, data: d}}
			}), want: AlertUnexpectedMessage},
		{name: "record of zeros only (no content type)", rule: "8446 §5.4",
			post: func(h *hostile) { h.send(0, []byte{0, 0, 0}) }, want: AlertUnexpectedMessage},
		{name: "record of an unknown inner type", rule: "8446 §5",
			post: func(h *hostile) { h.send(30, []byte{1}) }, want: AlertUnexpectedMessage},
		{name: "application data before Finished", rule: "8446 §2",
			script: withRecords(recordHandshake, func(d []byte) []testRecord {
				if d[0] != typeFinished {
					return []testRecord{{typ: recordHandshake, data: d}}
				}
				return []testRecord{{typ: recordAppData, data: []byte("early")}, {typ: recordHandshake, data: d}}
			}), want: AlertUnexpectedMessage},
	})
}

// isCH2 recognizes the second ClientHello of clientTwoGroups: its one key share is P-256's.
func isCH2(m []byte) bool { return bytes.Contains(m, []byte{0, byte(extKeyShare), 0, 71}) }

// earlyData puts n garbage application_data records of sz bytes on the wire right after the
// first ClientHello, as a client whose 0-RTT is refused sends them.
func earlyData(n, sz int) func(h *hostile) {
	return func(h *hostile) {
		for i := 0; i < n; i++ {
			h.raw = append(h.raw, plainRec(recordAppData, bytes.Repeat([]byte{byte(i + 1)}, sz)...)...)
		}
	}
}

// TestHostileEarlyData: RFC 8446 §4.2.10, the server skips refused early data (records that fail
// deprotection with the handshake key, up to maxEarlySkip bytes; after a HelloRetryRequest the
// application_data records before the second ClientHello) and fails past the bound.
func TestHostileEarlyData(t *testing.T) {
	early := func(c *Config) { c.setHooks().earlyData = true }
	runHostile(t, []hcase{
		{name: "skipped", peer: early, pre: earlyData(3, 500)},
		{name: "skipped up to 16 KiB", peer: early, pre: earlyData(16, 1024)},
		{name: "beyond 16 KiB", peer: early, pre: earlyData(17, 1024), want: AlertBadRecordMAC},
		{name: "without early_data offered", pre: earlyData(1, 100), want: AlertBadRecordMAC},
		{name: "skipped after HelloRetryRequest", dut: serverNeedsHRR,
			peer: func(c *Config) { early(c); clientTwoGroups(c) }, pre: earlyData(3, 500)},
		{name: "after HelloRetryRequest beyond 16 KiB", dut: serverNeedsHRR,
			peer: func(c *Config) { early(c); clientTwoGroups(c) }, pre: earlyData(17, 1024), want: AlertUnexpectedMessage},
	})
}

// TestHostileClient13: the engine as a TLS 1.3 client against a hostile server.
func TestHostileClient13(t *testing.T) {
	p := getPKI(t)
	sc := serverConfig(t, false)
	sc.TicketKey = testTicketKey
	sess := firstSession(t, sc)
	resumeDut := func(c *Config) { c.Client.Session = sess }
	resumePeer := func(c *Config) { c.TicketKey = testTicketKey }
	alpn := func(c *Config) { c.ALPN = []string{"http/1.1"} }
	tickets := func(c *Config) { c.TicketKey = testTicketKey }
	nst := func(f func(m []byte) []byte) script { return onMsg(typeNewSessionTicket, f) }
	shAfterHRR := func(f func(m []byte) []byte) script {
		n := 0
		return onMsg(typeServerHello, func(m []byte) []byte {
			if n++; n == 2 {
				return f(m)
			}
			return m
		})
	}
	runHostile(t, []hcase{
		{name: "baseline", client: true},
		{name: "ServerHello legacy_version 0x0301", rule: "8446 §4.1.3", client: true,
			script: onMsg(typeServerHello, func(m []byte) []byte { m[5] = 1; return m }), want: AlertProtocolVersion},
		{name: "ServerHello session id not echoed", rule: "8446 §4.1.3", client: true,
			script: onMsg(typeServerHello, func(m []byte) []byte { m[39] ^= 1; return m }), want: AlertIllegalParameter},
		{name: "ServerHello compression 1", rule: "8446 §4.1.3", client: true,
			script: onMsg(typeServerHello, func(m []byte) []byte { m[extBlockAt(m)-1] = 1; return m }), want: AlertIllegalParameter},
		{name: "ServerHello cipher suite not offered", rule: "8446 §4.1.3", client: true,
			script: onMsg(typeServerHello, func(m []byte) []byte {
				at := extBlockAt(m) - 3
				m[at], m[at+1] = 0x13, 0x05
				return m
			}), want: AlertIllegalParameter},
		{name: "ServerHello selects TLS 1.2 in supported_versions", rule: "8446 §4.2.1", client: true,
			script: onMsg(typeServerHello, editExt(extSupportedVersions, func([]byte) []byte { return []byte{3, 3} })),
			want:   AlertIllegalParameter},
		{name: "ServerHello key_share of another group", rule: "8446 §4.2.8", client: true,
			script: onMsg(typeServerHello, editExt(extKeyShare, func(b []byte) []byte { b[1] = 0x17; return b })),
			want:   AlertIllegalParameter},
		{name: "ServerHello without key_share", rule: "8446 §4.2.8, §9.2", client: true,
			script: onMsg(typeServerHello, editExt(extKeyShare, func([]byte) []byte { return nil })), want: AlertMissingExtension},
		{name: "ServerHello pre_shared_key not offered", rule: "8446 §4.2", client: true,
			script: onMsg(typeServerHello, addExt(ext(extPreSharedKey, 0, 0))), want: AlertUnsupportedExtension},
		{name: "ServerHello selected_identity out of range", rule: "8446 §4.2.11", client: true, dut: resumeDut, peer: resumePeer,
			script: onMsg(typeServerHello, editExt(extPreSharedKey, func([]byte) []byte { return []byte{0, 1} })),
			want:   AlertIllegalParameter},
		{name: "ServerHello without key_share when resuming", rule: "8446 §4.2.11", client: true, dut: resumeDut, peer: resumePeer,
			script: onMsg(typeServerHello, editExt(extKeyShare, func([]byte) []byte { return nil })), want: AlertIllegalParameter},
		{name: "TLS 1.2 ServerHello after HelloRetryRequest", rule: "8446 §4.1.4", client: true, dut: clientTwoGroups, peer: serverNeedsHRR,
			script: shAfterHRR(editExt(extSupportedVersions, func([]byte) []byte { return nil })), want: AlertIllegalParameter},
		{name: "ServerHello group differs from HelloRetryRequest", rule: "8446 §4.1.4", client: true, dut: clientTwoGroups, peer: serverNeedsHRR,
			script: shAfterHRR(editExt(extKeyShare, func(b []byte) []byte { b[1] = byte(X25519); return b })), want: AlertIllegalParameter},
		{name: "HelloRetryRequest legacy_version 0x0302", rule: "8446 §4.1.3", client: true, dut: clientTwoGroups, peer: serverNeedsHRR,
			script: onMsg(typeServerHello, once(func(m []byte) []byte { m[5] = 2; return m })), want: AlertProtocolVersion},
		{name: "EncryptedExtensions max_fragment_length differs", rule: "6066 §4", client: true,
			dut:    func(c *Config) { c.Client.MaxFragmentLength = 1024 },
			script: onMsg(typeEncryptedExtensions, editExt(extMaxFragmentLength, func([]byte) []byte { return []byte{3} })),
			want:   AlertIllegalParameter},
		{name: "NewSessionTicket lifetime over 7 days", rule: "8446 §4.6.1", client: true, peer: tickets,
			script: nst(func(m []byte) []byte { m[4], m[5], m[6], m[7] = 0, 9, 0x3a, 0x81; return m }), want: AlertIllegalParameter},
		{name: "CertificateRequest after the handshake", rule: "8446 §4.3.2, §4.6.2", client: true,
			post: func(h *hostile) {
				h.send(recordHandshake, []byte{typeCertificateRequest, 0, 0, 11, 1, 1, 0, 8, 0, 13, 0, 4, 0, 2, 4, 3})
			}, want: AlertUnexpectedMessage},
		{name: "EncryptedExtensions missing", rule: "8446 §4.3.1", client: true,
			script: onMsg(typeEncryptedExtensions, func([]byte) []byte { return nil }), want: AlertUnexpectedMessage},
		{name: "empty server Certificate", rule: "8446 §4.4.2.4", client: true,
			script: onMsg(typeCertificate, func([]byte) []byte { return []byte{typeCertificate, 0, 0, 4, 0, 0, 0, 0} }),
			want:   AlertDecodeError},
		{name: "server Certificate with a context", rule: "8446 §4.4.2", client: true,
			script: onMsg(typeCertificate, func(m []byte) []byte {
				return fixLen(append([]byte{typeCertificate, 0, 0, 0, 1, 7}, m[5:]...))
			}), want: AlertIllegalParameter},
		{name: "CertificateVerify with a scheme not offered", rule: "8446 §4.4.3", client: true,
			script: onMsg(typeCertificateVerify, func(m []byte) []byte { m[4], m[5] = 2, 1; return m }), want: AlertIllegalParameter},
		{name: "CertificateVerify bad signature", rule: "8446 §4.4.3", client: true,
			script: onMsg(typeCertificateVerify, func(m []byte) []byte { m[len(m)-1] ^= 1; return m }), want: AlertDecryptError},
		{name: "CertificateRequest without signature_algorithms", rule: "8446 §4.3.2", client: true, peer: mtlsServer, dut: mtlsClient,
			script: onMsg(typeCertificateRequest, editExt(extSignatureAlgorithms, func([]byte) []byte { return nil })),
			want:   AlertMissingExtension},
		{name: "ServerHello+extra bytes in its record", rule: "8446 §5.1", client: true,
			script: onMsg(typeServerHello, tail(typeEncryptedExtensions, 0)), want: AlertUnexpectedMessage},
		{name: "server Finished+extra bytes", rule: "8446 §5.1", client: true,
			script: onMsg(typeFinished, tail(typeNewSessionTicket, 0)), want: AlertUnexpectedMessage},
		{name: "ServerHello duplicate extension", rule: "8446 §4.2", client: true,
			script: onMsg(typeServerHello, addExt(ext(extSupportedVersions, 3, 4))), want: AlertIllegalParameter},
		{name: "ServerHello ALPN not offered", rule: "8446 §4.2", client: true,
			script: onMsg(typeServerHello, addExt(ext(extALPN, 0, 3, 2, 'h', '2'))), want: AlertUnsupportedExtension},
		{name: "ServerHello ALPN offered (EncryptedExtensions only)", rule: "8446 §4.2", client: true, dut: alpn,
			script: onMsg(typeServerHello, addExt(ext(extALPN, 0, 3, 2, 'h', '2'))), want: AlertIllegalParameter},
		{name: "ServerHello unknown extension", rule: "8446 §4.2", client: true,
			script: onMsg(typeServerHello, addExt(ext(0xfafa))), want: AlertUnsupportedExtension},
		{name: "ServerHello cookie", rule: "8446 §4.2", client: true,
			script: onMsg(typeServerHello, addExt(ext(extCookie, 0, 1, 1))), want: AlertUnsupportedExtension},
		{name: "cookie-only HelloRetryRequest", rule: "8446 §4.1.4", client: true,
			peer: func(c *Config) { c.setHooks().hrrAlways, c.HRRCookie = true, true },
			check: func(t *testing.T, h *hostile) {
				h.established()
				if !h.dut.ConnectionState().HelloRetry {
					t.Fatal("no HelloRetryRequest")
				}
			}},
		{name: "HelloRetryRequest that changes nothing", rule: "8446 §4.1.4", client: true,
			peer: func(c *Config) { c.setHooks().hrrAlways = true }, want: AlertIllegalParameter},
		{name: "second HelloRetryRequest", rule: "8446 §4.1.4", client: true, dut: clientTwoGroups, peer: serverNeedsHRR,
			script: shAfterHRR(func(m []byte) []byte {
				copy(m[6:], hrrRandom[:])
				return editExt(extKeyShare, func(b []byte) []byte { return b[:2] })(m)
			}), want: AlertUnexpectedMessage},
		{name: "HelloRetryRequest for a group not offered", rule: "8446 §4.1.4", client: true, dut: clientTwoGroups, peer: serverNeedsHRR,
			script: onMsg(typeServerHello, editExt(extKeyShare, func(b []byte) []byte { return []byte{0, 0x18} })),
			want:   AlertIllegalParameter},
		{name: "HelloRetryRequest for the group already shared", rule: "8446 §4.1.4", client: true, dut: clientTwoGroups, peer: serverNeedsHRR,
			script: onMsg(typeServerHello, editExt(extKeyShare, func(b []byte) []byte { return []byte{0, byte(X25519)} })),
			want:   AlertIllegalParameter},
		{name: "HelloRetryRequest duplicate extension", rule: "8446 §4.2", client: true, dut: clientTwoGroups, peer: serverNeedsHRR,
			script: onMsg(typeServerHello, addExt(ext(extSupportedVersions, 3, 4))), want: AlertIllegalParameter},
		{name: "HelloRetryRequest with pre_shared_key", rule: "8446 §4.2", client: true, dut: func(c *Config) { clientTwoGroups(c); c.Client.Session = sess },
			peer:   func(c *Config) { serverNeedsHRR(c); resumePeer(c) },
			script: onMsg(typeServerHello, once(addExt(ext(extPreSharedKey, 0, 0)))), want: AlertIllegalParameter},
		{name: "ServerHello suite differs from HelloRetryRequest", rule: "8446 §4.1.4", client: true, dut: clientTwoGroups, peer: serverNeedsHRR,
			script: shAfterHRR(func(m []byte) []byte {
				at := extBlockAt(m) - 3
				m[at], m[at+1] = 0x13, 0x03
				return m
			}), want: AlertIllegalParameter},
		{name: "EncryptedExtensions duplicate unknown extension", rule: "8446 §4.2", client: true,
			script: onMsg(typeEncryptedExtensions, addExt(ext(0xfafa), ext(0xfafa))), want: AlertIllegalParameter},
		{name: "EncryptedExtensions duplicate ALPN", rule: "8446 §4.2", client: true, dut: alpn, peer: alpn,
			script: onMsg(typeEncryptedExtensions, addExt(ext(extALPN, 0, 9, 8, 'h', 't', 't', 'p', '/', '1', '.', '1'))),
			want:   AlertIllegalParameter},
		{name: "EncryptedExtensions certificate_authorities", rule: "8446 §4.2", client: true,
			script: onMsg(typeEncryptedExtensions, addExt(ext(extCertAuthorities, 0, 3, 0, 1, 'x'))), want: AlertUnsupportedExtension},
		{name: "EncryptedExtensions key_share", rule: "8446 §4.2", client: true,
			script: onMsg(typeEncryptedExtensions, addExt(ext(extKeyShare, 0, 0x1d, 0, 0))), want: AlertIllegalParameter},
		{name: "EncryptedExtensions server_name without SNI", rule: "6066 §3, 8446 §4.2", client: true,
			dut:    func(c *Config) { c.Client.ServerName = "127.0.0.1" },
			script: onMsg(typeEncryptedExtensions, addExt(ext(extServerName))), want: AlertUnsupportedExtension},
		{name: "EncryptedExtensions server_name not empty", rule: "6066 §3", client: true,
			script: onMsg(typeEncryptedExtensions, editExt(extServerName, func([]byte) []byte { return []byte{0, 0} })),
			want:   AlertDecodeError},
		{name: "EncryptedExtensions ALPN not offered", rule: "7301 §3.2, 8446 §4.2", client: true,
			script: onMsg(typeEncryptedExtensions, addExt(ext(extALPN, 0, 3, 2, 'h', '2'))), want: AlertUnsupportedExtension},
		{name: "EncryptedExtensions early_data not offered", rule: "8446 §4.2", client: true,
			script: onMsg(typeEncryptedExtensions, addExt(ext(extEarlyData))), want: AlertUnsupportedExtension},
		{name: "EncryptedExtensions record_size_limit and max_fragment_length", rule: "8449 §5", client: true,
			dut:    func(c *Config) { c.RecordSizeLimit, c.Client.MaxFragmentLength = 1024, 1024 },
			script: onMsg(typeEncryptedExtensions, addExt(ext(extMaxFragmentLength, 2))), want: AlertIllegalParameter},
		{name: "server CertificateEntry with OCSP", rule: "8446 §4.4.2, §4.2", client: true,
			script: onMsg(typeCertificate, addCertEntryExt(ext(extStatusRequest, 1, 0, 0, 0, 0))), want: AlertUnsupportedExtension},
		{name: "server CertificateEntry with SCT", rule: "8446 §4.4.2, §4.2", client: true,
			script: onMsg(typeCertificate, addCertEntryExt(ext(extSCT, 0, 0))), want: AlertUnsupportedExtension},
		{name: "server CertificateEntry with unknown extension", rule: "8446 §4.2", client: true,
			script: onMsg(typeCertificate, addCertEntryExt(ext(0xfafa))), want: AlertUnsupportedExtension},
		{name: "server CertificateEntry with certificate_authorities", rule: "8446 §4.2", client: true,
			script: onMsg(typeCertificate, addCertEntryExt(ext(extCertAuthorities, 0, 3, 0, 1, 'x'))), want: AlertUnsupportedExtension},
		{name: "server CertificateEntry with server_name", rule: "8446 §4.2", client: true,
			script: onMsg(typeCertificate, addCertEntryExt(ext(extServerName))), want: AlertIllegalParameter},
		{name: "server CertificateEntry duplicate extensions", rule: "8446 §4.2", client: true,
			script: onMsg(typeCertificate, addCertEntryExt(append(ext(extSCT), ext(extSCT)...))), want: AlertIllegalParameter},
		{name: "CertificateRequest with a context", rule: "8446 §4.3.2", client: true, peer: mtlsServer, dut: mtlsClient,
			script: onMsg(typeCertificateRequest, func(m []byte) []byte {
				return fixLen(append([]byte{typeCertificateRequest, 0, 0, 0, 1, 7}, m[5:]...))
			}), want: AlertIllegalParameter},
		{name: "CertificateRequest certificate_authorities with trailing bytes", rule: "8446 §4.2.4", client: true, peer: mtlsServer, dut: mtlsClient,
			script: onMsg(typeCertificateRequest, addExt(ext(extCertAuthorities, 0, 3, 0, 1, 'x', 0))), want: AlertDecodeError},
		{name: "CertificateRequest certificate_authorities empty", rule: "8446 §4.2.4", client: true, peer: mtlsServer, dut: mtlsClient,
			script: onMsg(typeCertificateRequest, addExt(ext(extCertAuthorities, 0, 0))), want: AlertDecodeError},
		{name: "CertificateRequest certificate_authorities valid", rule: "8446 §4.2.4", client: true, peer: mtlsServer, dut: mtlsClient,
			script: onMsg(typeCertificateRequest, addExt(ext(extCertAuthorities, 0, 3, 0, 1, 'x'))), want: AlertDecryptError},
		{name: "CertificateRequest duplicate unknown extension", rule: "8446 §4.2", client: true, peer: mtlsServer, dut: mtlsClient,
			script: onMsg(typeCertificateRequest, addExt(ext(0xfafa), ext(0xfafa))), want: AlertIllegalParameter},
		{name: "CertificateRequest key_share", rule: "8446 §4.2", client: true, peer: mtlsServer, dut: mtlsClient,
			script: onMsg(typeCertificateRequest, addExt(ext(extKeyShare))), want: AlertIllegalParameter},
		{name: "Certificate when resuming with a PSK", rule: "8446 §4.4.2", client: true, dut: resumeDut, peer: resumePeer,
			script: onMsg(typeEncryptedExtensions, func(m []byte) []byte { return append(m, certMsg(p.ecChain)...) }),
			want:   AlertUnexpectedMessage},
		{name: "CertificateRequest when resuming with a PSK", rule: "8446 §4.3.2", client: true, dut: resumeDut, peer: resumePeer,
			script: onMsg(typeEncryptedExtensions, func(m []byte) []byte {
				return append(m, typeCertificateRequest, 0, 0, 11, 0, 0, 8, 0, 13, 0, 4, 0, 2, 4, 3)
			}), want: AlertUnexpectedMessage},
		{name: "NewSessionTicket duplicate early_data", rule: "8446 §4.2, §4.6.1", client: true, peer: tickets,
			script: nst(addExt(ext(extEarlyData, 0, 0, 4, 0), ext(extEarlyData, 0, 0, 4, 0))), want: AlertIllegalParameter},
		{name: "NewSessionTicket early_data of 3 bytes", rule: "8446 §4.2.10", client: true, peer: tickets,
			script: nst(addExt(ext(extEarlyData, 0, 4, 0))), want: AlertDecodeError},
		{name: "NewSessionTicket key_share", rule: "8446 §4.2", client: true, peer: tickets,
			script: nst(addExt(ext(extKeyShare))), want: AlertIllegalParameter},
		{name: "NewSessionTicket unknown extension ignored", rule: "8446 §4.6.1", client: true, peer: tickets,
			script: nst(addExt(ext(0xfafa, 1, 2))),
			check: func(t *testing.T, h *hostile) {
				h.established()
				if h.dut.Session() == nil {
					t.Fatal("ticket not kept")
				}
			}},
	})
}

// TestHostileServer12 and TestHostileClient12: the TLS 1.2 roles.
func TestHostileServer12(t *testing.T) {
	runHostile(t, []hcase{
		{name: "baseline", v12: true},
		{name: "ClientHello+extra bytes", rule: "5246 §7.4, 8446 §5.1", v12: true,
			script: onMsg(typeClientHello, tail(typeClientKeyExchange, 0, 0, 1, 0)), want: AlertUnexpectedMessage},
		{name: "client Finished+start of a ClientHello", rule: "5246 §7.4.9", v12: true,
			script: onMsg(typeFinished, tail(typeClientHello, 0, 0, 10)), want: AlertUnexpectedMessage},
		{name: "ChangeCipherSpec inside a handshake message", rule: "5246 §7.1", v12: true,
			script: onMsg(typeClientKeyExchange, func(m []byte) []byte { return m[:len(m)-1] }), want: AlertUnexpectedMessage},
		{name: "duplicate unknown extension", rule: "8446 §4.2, 5246 §7.4.1.4", v12: true,
			script: onMsg(typeClientHello, prependExt(ext(0xfafa), ext(0xfafa))), want: AlertIllegalParameter},
		{name: "duplicate extended_master_secret", rule: "5246 §7.4.1.4", v12: true,
			script: onMsg(typeClientHello, prependExt(ext(extEMS))), want: AlertIllegalParameter},
		{name: "renegotiation refused, connection kept", rule: "5746 §4.2, 5246 §7.4.1.2", v12: true,
			post: func(h *hostile) {
				ch := buildCH(chOpts{versions: []uint16{VersionTLS12}})[5:]
				h.send(recordHandshake, ch)
				if h.dutErr != nil || h.peerErr != nil {
					h.t.Fatal(h.dutErr, h.peerErr)
				}
				roundTrip(h.t, h.peer, h.dut, []byte("still here"))
				roundTrip(h.t, h.dut, h.peer, []byte("and here"))
				// the peer got exactly the no_renegotiation warning
				last := h.dutOut[len(h.dutOut)-recordLen(h.dutOut[len(h.dutOut)-31:]):]
				if last[0] != recordAlert {
					h.t.Fatalf("last record type %d", last[0])
				}
			},
			check: func(t *testing.T, h *hostile) {}},
		{name: "warning user_canceled ignored", rule: "5246 §7.2", v12: true,
			post: func(h *hostile) {
				h.send(recordAlert, []byte{1, AlertUserCanceled})
				roundTrip(h.t, h.peer, h.dut, []byte("x"))
			}, check: func(t *testing.T, h *hostile) {}},
		{name: "warning-level unexpected_message is fatal", rule: "5246 §7.2.2", v12: true,
			post: func(h *hostile) { h.send(recordAlert, []byte{1, AlertUnexpectedMessage}) },
			check: func(t *testing.T, h *hostile) {
				expectAlert(t, h.dutErr, AlertUnexpectedMessage, true)
				if h.dut.Pending() != 0 {
					t.Fatal("answered a fatal alert")
				}
			}},
		{name: "17 warnings", rule: "flood bound", v12: true,
			post: repeat(17, recordAlert, []byte{1, AlertNoRenegotiation}), want: AlertUnexpectedMessage},
		{name: "17 empty records", rule: "flood bound", v12: true,
			post: repeat(17, recordAppData, nil), want: AlertUnexpectedMessage},
		{name: "alert level 3", rule: "5246 §7.2", v12: true,
			post: func(h *hostile) { h.send(recordAlert, []byte{3, 0}) }, want: AlertIllegalParameter},
	})
}

func TestHostileClient12(t *testing.T) {
	alpn := func(c *Config) { c.ALPN = []string{"http/1.1"} }
	runHostile(t, []hcase{
		{name: "baseline", v12: true, client: true},
		{name: "ServerHello ALPN not offered", rule: "7301 §3.2, 5246 §7.4.1.4", v12: true, client: true,
			script: onMsg(typeServerHello, addExt(ext(extALPN, 0, 3, 2, 'h', '2'))), want: AlertUnsupportedExtension},
		{name: "ServerHello ALPN offered, other protocol", rule: "7301 §3.2", v12: true, client: true, dut: alpn,
			script: onMsg(typeServerHello, addExt(ext(extALPN, 0, 3, 2, 'h', '2'))), want: AlertIllegalParameter},
		{name: "ServerHello max_fragment_length not offered", rule: "6066 §4, 5246 §7.4.1.4", v12: true, client: true,
			script: onMsg(typeServerHello, addExt(ext(extMaxFragmentLength, 2))), want: AlertUnsupportedExtension},
		{name: "ServerHello version 0x0302", rule: "5246 §7.4.1.3", v12: true, client: true,
			script: onMsg(typeServerHello, func(m []byte) []byte { m[5] = 2; return m }), want: AlertProtocolVersion},
		{name: "ServerHello cipher suite not offered", rule: "5246 §7.4.1.3", v12: true, client: true,
			script: onMsg(typeServerHello, func(m []byte) []byte {
				at := extBlockAt(m) - 3
				m[at], m[at+1] = 0x00, 0x9c // TLS_RSA_WITH_AES_128_GCM_SHA256: never offered (no ECDHE)
				return m
			}), want: AlertIllegalParameter},
		{name: "ServerHello duplicate extension", rule: "5246 §7.4.1.4", v12: true, client: true,
			script: onMsg(typeServerHello, addExt(ext(extEMS))), want: AlertIllegalParameter},
		{name: "ServerHello unknown extension", rule: "5246 §7.4.1.4", v12: true, client: true,
			script: onMsg(typeServerHello, addExt(ext(0xfafa))), want: AlertUnsupportedExtension},
		{name: "ServerHello key_share", rule: "8446 §4.2", v12: true, client: true,
			script: onMsg(typeServerHello, addExt(ext(extKeyShare, 0, 0x1d, 0, 0))), want: AlertUnsupportedExtension},
		{name: "ServerHello ec_point_formats without uncompressed", rule: "8422 §5.2", v12: true, client: true,
			script: onMsg(typeServerHello, editExt(extECPointFormats, func(b []byte) []byte { return []byte{1, 1} })),
			dut:    nil, peer: func(c *Config) {}, want: AlertIllegalParameter},
		{name: "ServerHelloDone+HelloRequest accepted", rule: "5246 §7.4.1.1", v12: true, client: true,
			script: onMsg(typeServerHelloDone, tail(typeHelloRequest, 0, 0, 0))},
		{name: "ServerHelloDone+Certificate", rule: "5246 §7.3", v12: true, client: true,
			script: onMsg(typeServerHelloDone, tail(typeCertificate, 0, 0, 3, 0, 0, 0)), want: AlertUnexpectedMessage},
		{name: "server Finished+HelloRequest: renegotiation refused", rule: "5246 §7.4.1.1, 5746 §4.2", v12: true, client: true,
			script: onMsg(typeFinished, tail(typeHelloRequest, 0, 0, 0)),
			check: func(t *testing.T, h *hostile) {
				h.established()
				last := h.dutOut[len(h.dutOut)-recordLen(h.dutOut[len(h.dutOut)-31:]):]
				if last[0] != recordAlert {
					t.Fatalf("no no_renegotiation warning: last record type %d", last[0])
				}
			}},
		{name: "CertificateRequest certificate_authorities with an empty name", rule: "5246 §7.4.4", v12: true, client: true,
			peer: mtlsServer, dut: mtlsClient,
			script: onMsg(typeCertificateRequest, func(m []byte) []byte {
				return fixLen(append(m[:len(m)-2], 0, 2, 0, 0))
			}), want: AlertDecodeError},
		{name: "HelloRequest after the handshake refused, connection kept", rule: "5746 §4.2", v12: true, client: true,
			post: func(h *hostile) {
				n := len(h.dutOut)
				h.send(recordHandshake, []byte{typeHelloRequest, 0, 0, 0})
				if h.dutErr != nil || h.peerErr != nil || len(h.dutOut) == n {
					h.t.Fatal("no answer", h.dutErr, h.peerErr)
				}
				roundTrip(h.t, h.peer, h.dut, []byte("still here"))
			}, check: func(t *testing.T, h *hostile) {}},
	})
}

// TestHostileFloods: bounded no-progress records (maxUseless = 16) and KeyUpdate answers.
func TestHostileFloods(t *testing.T) {
	runHostile(t, []hcase{
		{name: "16 empty records", post: repeat(16, recordAppData, nil), check: func(t *testing.T, h *hostile) { h.established() }},
		{name: "17 empty records", rule: "flood bound", post: repeat(17, recordAppData, nil), want: AlertUnexpectedMessage},
		{name: "empty records reset by data", post: func(h *hostile) {
			for i := 0; i < 5; i++ {
				repeat(10, recordAppData, nil)(h)
				h.send(recordAppData, []byte("x"))
			}
		}, check: func(t *testing.T, h *hostile) { h.established() }},
		{name: "17 user_canceled", rule: "flood bound", post: repeat(17, recordAlert, []byte{1, AlertUserCanceled}), want: AlertUnexpectedMessage},
		{name: "16 KeyUpdates", post: keyUpdates(16, false), check: func(t *testing.T, h *hostile) { h.established() }},
		{name: "17 KeyUpdates", rule: "flood bound", post: keyUpdates(17, false), want: AlertUnexpectedMessage},
		{name: "17 user_canceled during the handshake", rule: "flood bound", client: true,
			script: withRecords(recordHandshake, func(d []byte) []testRecord {
				var out []testRecord
				if d[0] == typeEncryptedExtensions {
					for i := 0; i < 17; i++ {
						out = append(out, testRecord{typ: recordAlert, data: []byte{1, AlertUserCanceled}})
					}
				}
				return append(out, testRecord{typ: recordHandshake, data: d})
			}), want: AlertUnexpectedMessage},
		{name: "empty record during the handshake", rule: "8446 §5.1", client: true,
			script: withRecords(recordHandshake, func(d []byte) []testRecord {
				if d[0] != typeEncryptedExtensions {
					return []testRecord{{typ: recordHandshake, data: d}}
				}
				return []testRecord{{typ: recordHandshake}, {typ: recordHandshake, data: d}}
			}), want: AlertUnexpectedMessage},
		{name: "three update_requested answered once", rule: "8446 §4.6.3", post: func(h *hostile) {
			for i := 0; i < 3; i++ {
				n := len(h.dutOut)
				keyUpdates(1, true)(h)
				if got := len(h.dutOut) - n; (i == 0) != (got > 0) {
					h.t.Fatalf("KeyUpdate %d: %d bytes answered", i, got)
				}
			}
			roundTrip(h.t, h.dut, h.peer, []byte("data")) // we spoke: the next request is answered
			n := len(h.dutOut)
			keyUpdates(1, true)(h)
			if len(h.dutOut) == n {
				h.t.Fatal("request after data not answered")
			}
			roundTrip(h.t, h.peer, h.dut, []byte("both keys updated"))
			roundTrip(h.t, h.dut, h.peer, []byte("both keys updated"))
		}, check: func(t *testing.T, h *hostile) { h.established() }},
		{name: "KeyUpdate+extra bytes", rule: "8446 §5.1",
			post: func(h *hostile) { h.send(recordHandshake, append(append([]byte(nil), keyUpdateMsg...), typeKeyUpdate)) },
			want: AlertUnexpectedMessage},
		{name: "KeyUpdate request_update 2", rule: "8446 §4.6.3",
			post: func(h *hostile) { h.send(recordHandshake, []byte{typeKeyUpdate, 0, 0, 1, 2}) }, want: AlertIllegalParameter},
	})
}

// keyUpdates makes the peer send n KeyUpdates (updating its own write key each time).
func keyUpdates(n int, req bool) func(h *hostile) {
	return func(h *hostile) {
		for i := 0; i < n && h.dutErr == nil; i++ {
			if err := h.peer.KeyUpdate(req); err != nil {
				h.t.Fatal(err)
			}
			h.run()
		}
	}
}

// TestHostileAlerts: RFC 8446 §6 alert handling.
func TestHostileAlerts(t *testing.T) {
	fatal := func(code uint8) func(t *testing.T, h *hostile) {
		return func(t *testing.T, h *hostile) {
			expectAlert(t, h.dutErr, code, true)
			if h.dut.State() != Failed || h.dut.Pending() != 0 {
				t.Fatal("not failed, or answered", h.dut.State())
			}
		}
	}
	runHostile(t, []hcase{
		{name: "warning handshake_failure is fatal", rule: "8446 §6",
			post: func(h *hostile) { h.send(recordAlert, []byte{1, AlertHandshakeFailure}) }, check: fatal(AlertHandshakeFailure)},
		{name: "warning unknown alert is fatal", rule: "8446 §6",
			post: func(h *hostile) { h.send(recordAlert, []byte{1, 200}) }, check: fatal(200)},
		{name: "warning unknown alert during the handshake is fatal", rule: "8446 §6", client: true,
			peer: func(c *Config) {
				c.setHooks().queue = withRecords(recordHandshake, func(d []byte) []testRecord {
					return []testRecord{{typ: recordAlert, data: []byte{1, 201}}}
				})
			}, check: fatal(201)},
		{name: "fatal user_canceled is fatal", rule: "8446 §6.1",
			post: func(h *hostile) { h.send(recordAlert, []byte{2, AlertUserCanceled}) }, check: fatal(AlertUserCanceled)},
		{name: "warning user_canceled ignored", rule: "8446 §6.1",
			post: func(h *hostile) {
				h.send(recordAlert, []byte{1, AlertUserCanceled})
				roundTrip(h.t, h.peer, h.dut, []byte("x"))
			}, check: func(t *testing.T, h *hostile) { h.established() }},
		{name: "alert level 0", rule: "8446 §6",
			post: func(h *hostile) { h.send(recordAlert, []byte{0, AlertCloseNotify}) }, want: AlertIllegalParameter},
		{name: "alert level 3", rule: "8446 §6", client: true,
			post: func(h *hostile) { h.send(recordAlert, []byte{3, AlertHandshakeFailure}) }, want: AlertIllegalParameter},
		{name: "two alerts in one record", rule: "8446 §5.1",
			post: func(h *hostile) { h.send(recordAlert, []byte{1, AlertUserCanceled, 1, AlertUserCanceled}) }, want: AlertDecodeError},
		{name: "encrypted alert from a failing client follows its CCS", rule: "8446 §D.4", client: true,
			script: onMsg(typeEncryptedExtensions, addExt(ext(0xfafa))), want: AlertUnsupportedExtension},
	})
}

// bigCH is a TLS 1.3 ClientHello message (header included) of exactly size bytes, padded with an
// unknown extension (as an ECH extension would be).
func bigCH(t *testing.T, size int) []byte {
	o := chOpts{versions: []uint16{VersionTLS13}, groups: []CurveID{X25519}, order: []CurveID{X25519},
		shares: map[CurveID][]byte{X25519: x25519Share()}, sigAlgs: []SignatureScheme{ECDSAWithP256AndSHA256}}
	base := len(buildCH(o)) - 5
	pad := size - base - 4
	if pad < 0 {
		t.Fatal("too small")
	}
	o.extra = append([]byte{0xfe, 0x0d, byte(pad >> 8), byte(pad)}, make([]byte, pad)...)
	m := buildCH(o)[5:]
	if len(m) != size {
		t.Fatalf("built %d bytes", len(m))
	}
	return m
}

// records cuts a handshake message into plaintext records of at most 2^14 bytes.
func records(m []byte) []byte {
	var out []byte
	for len(m) > 0 {
		n := min(len(m), maxPlaintext)
		out = append(out, plainRec(recordHandshake, m[:n]...)...)
		m = m[n:]
	}
	return out
}

// TestLargeHandshakeMessages: handshake messages are reassembled up to MaxHandshakeMessage
// (default 16 KiB + 4: a real ClientHello with ECH, GREASE and post-quantum shares always
// passes); a bigger one gets illegal_parameter, never internal_error. The buffer grows only for
// such a message.
func TestLargeHandshakeMessages(t *testing.T) {
	for _, tc := range []struct {
		name string
		size int
		rbuf int // receive buffer (Tiny streams hellos through a small one)
		want uint8
	}{
		{"6.8 KB (ECH)", 6800, 0, 0},
		{"16 KiB + 4", DefaultMaxHandshakeMessage, 0, 0},
		{"16 KiB + 4, small receive buffer", DefaultMaxHandshakeMessage, 300, 0},
		{"16 KiB + 5", DefaultMaxHandshakeMessage + 1, 0, AlertIllegalParameter},
		{"64 KiB", 65536, 0, AlertIllegalParameter},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := NewServer(serverConfig(t, false), tc.rbuf)
			in := records(bigCH(t, tc.size))
			var err error
			for len(in) > 0 && err == nil {
				var n int
				n, _, err = s.Unwrap(in[:min(len(in), max(tc.rbuf, DefaultRecordBuf))])
				if n == 0 && err == nil {
					t.Fatal("stuck")
				}
				in = in[n:]
			}
			if tc.want != 0 {
				expectAlert(t, err, tc.want, false)
				if a := queuedPlainAlert(s); a != tc.want {
					t.Fatalf("queued alert %d", a)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			buf := make([]byte, 8192)
			if n := s.Output(buf); n < 6 || buf[5] != typeServerHello {
				t.Fatal("no ServerHello")
			}
		})
	}
	// a limit below the default, as a Tiny profile may choose
	cfg := serverConfig(t, false)
	cfg.MaxHandshakeMessage = 2048
	s := NewServer(cfg, 0)
	_, _, err := s.Unwrap(records(bigCH(t, 2049)))
	expectAlert(t, err, AlertIllegalParameter, false)
	// a client reassembles a certificate chain up to the limit, and refuses a bigger one
	p := getPKI(t)
	for _, tc := range []struct {
		pad  int
		want uint8
	}{{16384 - 1400, AlertBadCertificate}, {16400, AlertIllegalParameter}} {
		junk := make([]byte, tc.pad)
		h := newHostile(t, true, false, nil, nil, onMsg(typeCertificate, func(m []byte) []byte {
			return certMsg(append([][]byte{junk}, p.ecChain...))
		}))
		h.run()
		if tc.want == AlertIllegalParameter {
			h.expect(tc.want)
		} else {
			expectAlert(t, h.dutErr, tc.want, false) // reassembled, then parsed
		}
	}
}

// TestTLS12OnlyClientHello: a client that cannot negotiate TLS 1.3 offers neither
// X25519MLKEM768 (TLS 1.3 only) nor psk_key_exchange_modes or key_share.
func TestTLS12OnlyClientHello(t *testing.T) {
	cc := clientConfig(t)
	cc.MaxVersion = VersionTLS12
	cc.Groups = []CurveID{X25519MLKEM768, X25519, P256}
	c := NewClient(cc, 0)
	buf := make([]byte, 8192)
	n := c.Output(buf)
	var ch clientHello
	if a := parseClientHello(buf[9:n], &ch); a != 0 {
		t.Fatal(a)
	}
	if containsU16(ch.groups, uint16(X25519MLKEM768)) || !containsU16(ch.groups, uint16(X25519)) {
		t.Fatalf("groups % x", ch.groups)
	}
	if ch.has(extPSKModes) || ch.has(extKeyShare) || ch.has(extEarlyData) {
		t.Fatal("TLS 1.3 extension in a TLS 1.2-only ClientHello")
	}
}

// TestSessionOnlyForItsServerName: RFC 8446 §4.6.1, "Clients MUST only resume if the new SNI value
// is valid for the server certificate presented in the original session": a session is offered
// only to the server name it was made with.
func TestSessionOnlyForItsServerName(t *testing.T) {
	sc := serverConfig(t, false)
	sc.TicketKey = testTicketKey
	sess := firstSession(t, sc)
	for _, tc := range []struct {
		name  string
		offer bool
	}{{"card.example", true}, {"other.example", false}} {
		cc := clientConfig(t)
		cc.Client.ServerName, cc.Client.Session = tc.name, sess
		c := NewClient(cc, 0)
		buf := make([]byte, 8192)
		n := c.Output(buf)
		var ch clientHello
		if a := parseClientHello(buf[9:n], &ch); a != 0 {
			t.Fatal(a)
		}
		if ch.has(extPreSharedKey) != tc.offer {
			t.Fatalf("%s: pre_shared_key offered %v", tc.name, !tc.offer)
		}
	}
}

// TestControlRecordsAllocs: the records the engine makes itself after the handshake — close_notify,
// a fatal alert, a KeyUpdate and its answer — allocate nothing but the new AEADs of a KeyUpdate and,
// on an idle server that has none, the post-handshake buffers it lends itself once (lendPost; a
// record path that lets its small arrays escape would allocate per record).
func TestControlRecordsAllocs(t *testing.T) {
	buf := make([]byte, 4096)
	s, c := handshakePair(t, serverConfig(t, false), clientConfig(t))
	rec := make([]byte, 64)
	allocs := testing.AllocsPerRun(50, func() {
		if err := c.KeyUpdate(true); err != nil {
			t.Fatal(err)
		}
		m := c.Output(buf)
		if _, _, err := s.Unwrap(buf[:m]); err != nil {
			t.Fatal(err)
		}
		m = s.Output(buf)
		if _, _, err := c.Unwrap(buf[:m]); err != nil {
			t.Fatal(err)
		}
		hdr, _ := c.Overhead()
		copy(rec[hdr:], "x")
		n := c.Wrap(rec, 1) // data from the client: its next request is answered again
		if _, _, err := s.Unwrap(rec[:n]); err != nil {
			t.Fatal(err)
		}
		hdr, _ = s.Overhead()
		copy(rec[hdr:], "x")
		n = s.Wrap(rec, 1) // and from the server
		if _, _, err := c.Unwrap(rec[:n]); err != nil {
			t.Fatal(err)
		}
	})
	// four new traffic keys (each side's read and write): crypto/cipher's AEAD constructors, 2 each
	// for AES-GCM in Go 1.26; nothing else
	if allocs > 8 {
		t.Fatalf("KeyUpdate round: %v allocations, want ≤ 8 (the new AEADs)", allocs)
	}
	allocs = testing.AllocsPerRun(20, func() {
		s, _ := handshakePairNoAlloc(t)
		s.Close()
		s.Output(buf)
	})
	if allocs != 1 {
		t.Fatalf("close_notify: %v allocations, want 1 (the post-handshake buffers)", allocs)
	}
	for _, s := range pairPool {
		s.lendPost() // as after an earlier post-handshake record
	}
	allocs = testing.AllocsPerRun(20, func() {
		s, _ := handshakePairNoAlloc(t)
		s.Close()
		s.Output(buf)
	})
	if allocs != 0 {
		t.Fatalf("close_notify with the post-handshake buffers lent: %v allocations", allocs)
	}
	bad := make([]byte, 22)
	allocs = testing.AllocsPerRun(20, func() {
		s, _ := handshakePairNoAlloc(t)
		copy(bad, []byte{23, 3, 3, 0, 17}) // 17 zero bytes: bad_record_mac
		clear(bad[5:])
		s.Unwrap(bad)
		s.Output(buf)
	})
	if allocs != 0 {
		t.Fatalf("fatal alert: %v allocations", allocs)
	}
}

var pairPool []*Engine

// handshakePairNoAlloc hands out established servers made beforehand (AllocsPerRun counts only
// what Close and the alert path allocate).
func handshakePairNoAlloc(t *testing.T) (*Engine, *Engine) {
	if len(pairPool) == 0 {
		for i := 0; i < 64; i++ {
			s, _ := handshakePair(t, serverConfig(t, false), clientConfig(t))
			pairPool = append(pairPool, s)
		}
	}
	s := pairPool[len(pairPool)-1]
	pairPool = pairPool[:len(pairPool)-1]
	return s, nil
}
