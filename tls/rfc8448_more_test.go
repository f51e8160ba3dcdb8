package tls

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdh"
	"crypto/sha256"
	"testing"
)

// rfcEq returns a comparison helper for a vector file.
func rfcEq(t *testing.T, v map[string][]byte) func(name string, got []byte) {
	return func(name string, got []byte) {
		t.Helper()
		want, ok := v[name]
		if !ok {
			t.Fatalf("vector %s missing", name)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s\n got %x\nwant %x", name, got, want)
		}
	}
}

// rfcOpen decrypts a TLS 1.3 record (sequence number 0) with an AES-128-GCM key and IV and
// returns the inner content (type byte and padding removed) and its type.
func rfcOpen(t *testing.T, key, iv, rec []byte) ([]byte, byte) {
	t.Helper()
	b, err := aes.NewCipher(key)
	if err != nil {
		t.Fatal(err)
	}
	g, err := cipher.NewGCM(b)
	if err != nil {
		t.Fatal(err)
	}
	pt, err := g.Open(nil, iv, rec[5:], rec[:5]) // sequence 0: the nonce is the IV
	if err != nil {
		t.Fatalf("record does not decrypt: %v", err)
	}
	i := len(pt) - 1
	for i >= 0 && pt[i] == 0 {
		i--
	}
	if i < 0 {
		t.Fatal("empty inner plaintext")
	}
	return pt[:i], pt[i]
}

// rfcSplit splits concatenated handshake messages (4-byte headers).
func rfcSplit(t *testing.T, b []byte) [][]byte {
	t.Helper()
	var out [][]byte
	for len(b) > 0 {
		if len(b) < 4 {
			t.Fatal("truncated handshake message")
		}
		n := 4 + (int(b[1])<<16 | int(b[2])<<8 | int(b[3]))
		if n > len(b) {
			t.Fatal("truncated handshake message")
		}
		out = append(out, b[:n])
		b = b[n:]
	}
	return out
}

// rfcKeys checks the AES-128-GCM key and IV our schedule derives from a traffic secret.
func rfcKeys(t *testing.T, eq func(string, []byte), k *keySchedule, secret []byte, key, iv string) {
	t.Helper()
	var hc halfConn
	if err := hc.setKey(k, suiteByID(0x1301), secret); err != nil {
		t.Fatal(err)
	}
	var kb [32]byte
	eq(key, hc.keyTo(k, suiteByID(0x1301), &kb)) // derived again from the secret (not kept)
	eq(iv, hc.nonce[:])
}

// rfcReseal encrypts inner content with the traffic keys of secret (sequence 0) using our halfConn
// and requires the exact record of the trace.
func rfcReseal(t *testing.T, k *keySchedule, secret, inner []byte, typ byte, rec []byte) {
	t.Helper()
	var hc halfConn
	if err := hc.setKey(k, suiteByID(0x1301), secret); err != nil {
		t.Fatal(err)
	}
	pt := append(append([]byte{}, inner...), typ)
	pt = append(pt, make([]byte, len(rec)-5-16-len(pt))...) // the trace's padding
	got := hc.aead.Seal(append([]byte{}, rec[:5]...), hc.makeNonce(), pt, rec[:5])
	if !bytes.Equal(got, rec) {
		t.Errorf("re-sealed record differs\n got %x\nwant %x", got, rec)
	}
}

func x25519Pair(t *testing.T, priv []byte) (*ecdh.PrivateKey, []byte) {
	t.Helper()
	k, err := ecdh.X25519().NewPrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	return k, k.PublicKey().Bytes()
}

// TestRFC8448Resumption reproduces the key schedule of RFC 8448 §4 (resumed handshake with a
// ticket from §3): the ticket PSK from the §3 resumption master secret, the PSK binder inside the
// trace's ClientHello, the early secrets, the (EC)DHE handshake secret with the new X25519 shares,
// the server's encrypted flight (EncryptedExtensions + Finished, re-sealed byte for byte), the
// application secrets, and every client/server record of the trace (0-RTT data, EndOfEarlyData,
// client Finished, application data) decrypted and re-sealed with our keys. The engine cannot be driven end to end here: the ticket is the RFC
// server's opaque blob, sealed under a key the trace does not give.
func TestRFC8448Resumption(t *testing.T) {
	s3 := loadVectors(t, "testdata/rfc8448_simple.txt")
	v := loadVectors(t, "testdata/rfc8448_resumption.txt")
	eq := rfcEq(t, v)
	k := newKeySchedule(false, nil)
	k.selectHash(false)

	// §3 → §4: resumption master secret and the ticket PSK.
	var rms, psk [32]byte
	k.deriveSecret(rms[:], s3["master_secret"], "res master", v["s3_transcript_ch_cfin"])
	eq("s3_res_master", rms[:])
	k.expandLabel(psk[:], rms[:], "resumption", v["ticket_nonce"])
	eq("psk", psk[:])

	// The binder over the ClientHello truncated before the binders list (RFC 8446 §4.2.11.2).
	ch := v["client_hello"]
	if len(ch) < 35 || !bytes.Equal(ch[len(ch)-35:len(ch)-32], []byte{0, 33, 32}) {
		t.Fatal("ClientHello does not end with one 32-byte binder")
	}
	k.addMessage(ch[:len(ch)-35])
	bh := append([]byte{}, k.hash()...)
	eq("binder_hash", bh)
	binder := k.binder(nil, psk[:], bh)
	eq("binder", binder)
	if !bytes.Equal(binder, ch[len(ch)-32:]) {
		t.Errorf("binder is not the one in the trace's ClientHello")
	}
	eq("early_secret", k.secret[:32])
	eq("binder_key", k.derived[:32])
	eq("binder_finished_key", k.fk[:32])

	// Early traffic (0-RTT) secrets over the full ClientHello: schedule primitives only, the
	// engine does not accept early data.
	k.addMessage(ch[len(ch)-35:])
	chHash := append([]byte{}, k.hash()...)
	var early, sec [32]byte
	copy(early[:], k.secret[:32])
	k.deriveSecret(sec[:], early[:], "c e traffic", chHash)
	eq("c_e_traffic", sec[:])
	rfcKeys(t, eq, k, sec[:], "c_e_key", "c_e_iv")
	k.deriveSecret(sec[:], early[:], "e exp master", chHash)
	eq("e_exp_master", sec[:])

	// X25519 with the new shares: both sides agree and the public keys are those in the hellos.
	sh := v["server_hello"]
	cPriv, cPub := x25519Pair(t, v["client_x25519_private"])
	sPriv, sPub := x25519Pair(t, v["server_x25519_private"])
	if !bytes.Contains(ch, cPub) || !bytes.Contains(sh, sPub) {
		t.Fatal("key shares in the hellos are not the trace's keys")
	}
	if !bytes.Equal(sh[6:38], v["server_random"]) {
		t.Fatal("server random")
	}
	ss1, _ := cPriv.ECDH(sPriv.PublicKey())
	ss2, _ := sPriv.ECDH(cPriv.PublicKey())
	if !bytes.Equal(ss1, ss2) {
		t.Fatal("X25519 disagreement")
	}
	k.addMessage(sh)
	k.deriveSecret(sec[:], early[:], "derived", k.emptyHash())
	eq("derived_early", sec[:])
	k.extract(sec[:], ss1)
	eq("handshake_secret", k.secret[:32])
	// the engine's own path from PSK + shared secret
	k.handshakeSecrets(psk[:], ss1)
	eq("c_hs_traffic", k.cHS[:32])
	eq("s_hs_traffic", k.sHS[:32])
	rfcKeys(t, eq, k, k.sHS[:], "s_hs_key", "s_hs_iv")

	// The server flight: EncryptedExtensions + Finished. Our Finished must equal the trace's,
	// and re-encrypting with our keys must give the trace's record byte for byte.
	rec := v["server_flight_record"]
	inner, typ := rfcOpen(t, v["s_hs_key"], v["s_hs_iv"], rec)
	msgs := rfcSplit(t, inner)
	if typ != recordHandshake || len(msgs) != 2 || msgs[0][0] != typeEncryptedExtensions || msgs[1][0] != typeFinished {
		t.Fatalf("unexpected server flight %x", inner)
	}
	rfcReseal(t, k, k.sHS[:], inner, typ, rec)
	k.addMessage(msgs[0])
	fin := k.finished(nil, k.sHS[:])
	if !bytes.Equal(fin, msgs[1][4:]) {
		t.Errorf("server Finished\n got %x\nwant %x", fin, msgs[1][4:])
	}
	k.addMessage(msgs[1])
	k.appSecrets()
	eq("c_ap_traffic", k.cAP[:32])
	eq("s_ap_traffic", k.sAP[:32])
	k.deriveSecret(sec[:], k.secret[:32], "exp master", k.hash())
	eq("exp_master", sec[:])
	rfcKeys(t, eq, k, k.sAP[:], "s_ap_key", "s_ap_iv")

	// Client records: 0-RTT data and EndOfEarlyData under the early key, then the client Finished
	// under the handshake key (our value), then application data under the application keys.
	var cE [32]byte
	k.deriveSecret(cE[:], early[:], "c e traffic", chHash)
	edRec := v["client_early_data_record"]
	ed, typ := rfcOpen(t, v["c_e_key"], v["c_e_iv"], edRec)
	if typ != recordAppData || len(ed) != 6 {
		t.Errorf("0-RTT record: type %d, %d bytes", typ, len(ed))
	}
	rfcReseal(t, k, cE[:], ed, typ, edRec)
	eoedRec := v["client_eoed_record"]
	var hc halfConn
	if err := hc.setKey(k, suiteByID(0x1301), cE[:]); err != nil {
		t.Fatal(err)
	}
	hc.next() // after the 0-RTT data record (sequence 1)
	eoed, err := hc.aead.Open(nil, hc.makeNonce(), eoedRec[5:], eoedRec[:5])
	if err != nil || !bytes.Equal(eoed, []byte{typeEndOfEarlyData, 0, 0, 0, recordHandshake}) {
		t.Fatalf("EndOfEarlyData record: %v %x", err, eoed)
	}
	k.addMessage(eoed[:4])
	cfRec := v["client_finished_record"]
	if err := hc.setKey(k, suiteByID(0x1301), k.cHS[:]); err != nil {
		t.Fatal(err)
	}
	cf, err := hc.aead.Open(nil, hc.makeNonce(), cfRec[5:], cfRec[:5])
	if err != nil || len(cf) != 37 || cf[0] != typeFinished {
		t.Fatalf("client Finished record: %v %x", err, cf)
	}
	if fin := k.finished(nil, k.cHS[:]); !bytes.Equal(fin, cf[4:36]) {
		t.Errorf("client Finished\n got %x\nwant %x", fin, cf[4:36])
	}
	rfcReseal(t, k, k.cHS[:], cf[:36], cf[36], cfRec)
	for _, r := range []struct {
		name   string
		secret []byte
	}{{"client_app_record", k.cAP[:]}, {"server_app_record", k.sAP[:]}} {
		rec := v[r.name]
		if err := hc.setKey(k, suiteByID(0x1301), r.secret); err != nil {
			t.Fatal(err)
		}
		pt, err := hc.aead.Open(nil, hc.makeNonce(), rec[5:], rec[:5])
		if err != nil || len(pt) != 51 || pt[50] != recordAppData {
			t.Fatalf("%s: %v %x", r.name, err, pt)
		}
		rfcReseal(t, k, r.secret, pt[:50], pt[50], rec)
	}
}

// extensions parses a ServerHello-shaped message's extensions into a map.
func rfcExtensions(t *testing.T, m []byte) map[uint16][]byte {
	t.Helper()
	p := 4 + 2 + 32
	p += 1 + int(m[p]) + 2 + 1
	if p+2 > len(m) {
		t.Fatal("short hello")
	}
	end := p + 2 + (int(m[p])<<8 | int(m[p+1]))
	if end != len(m) {
		t.Fatal("extensions length")
	}
	out := map[uint16][]byte{}
	for p += 2; p < end; {
		typ, n := uint16(m[p])<<8|uint16(m[p+1]), int(m[p+2])<<8|int(m[p+3])
		out[typ] = m[p+4 : p+4+n]
		p += 4 + n
	}
	return out
}

// TestRFC8448HelloRetryRequest drives our server with the RFC 8448 §5 trace. Configured for P-256
// only, with a cookie, it answers the X25519-only ClientHello1 with the trace's HelloRetryRequest
// record byte for byte: the extensions in the trace's order, and the cookie bytes injected through
// the package-internal hrrCookie test hook (by default the cookie is 32 random bytes the server keeps;
// the RFC server's 114 bytes are its own opaque state). ClientHello2 echoes that cookie, so it is
// fed to the engine as is (the engine checks the cookie and the transcript message_hash(CH1) ||
// HRR || CH2 is the trace's), and its ServerHello (RFC server random, RFC P-256 private key) must
// be byte-exact, with the trace's handshake and master secrets. The rest of the schedule (server
// flight with an RSA CertificateVerify we do not generate, client Finished, application and
// resumption secrets) is checked with the schedule internals on the trace's decrypted messages.
func TestRFC8448HelloRetryRequest(t *testing.T) {
	v := loadVectors(t, "testdata/rfc8448_hrr.txt")
	eq := rfcEq(t, v)
	ch1, hrr, ch2, sh := v["client_hello1"], v["hello_retry_request"], v["client_hello2"], v["server_hello"]
	cookie := rfcExtensions(t, hrr)[extCookie]
	if len(cookie) != 2+0x72 {
		t.Fatalf("trace cookie %x", cookie)
	}
	cfg := serverConfig(t, false)
	cfg.Groups = []CurveID{P256}
	cfg.HRRCookie = true
	cfg.setHooks().hrrCookie = cookie[2:]
	cfg.Rand = bytes.NewReader(append(append([]byte{}, v["server_random"]...), v["server_p256_private"]...))
	s := NewServer(cfg, 0)
	feed := func(m []byte) {
		t.Helper()
		rec := append([]byte{22, 3, 3, byte(len(m) >> 8), byte(len(m))}, m...)
		if _, _, err := s.Unwrap(rec); err != nil {
			t.Fatal(err)
		}
	}
	feed(ch1)
	out := make([]byte, 16384)
	n := s.Output(out)
	wantRec := append([]byte{22, 3, 3, byte(len(hrr) >> 8), byte(len(hrr))}, hrr...)
	if !bytes.Equal(out[:n], wantRec) { // the whole output: no change_cipher_spec (empty session ID)
		t.Fatalf("HelloRetryRequest record\n got %x\nwant %x", out[:n], wantRec)
	}
	// The engine's transcript is message_hash(Hash(CH1)) || HRR (RFC 8446 §4.4.1).
	mh := sha256.Sum256(ch1)
	th := sha256.New()
	th.Write([]byte{typeMessageHash, 0, 0, 32})
	th.Write(mh[:])
	th.Write(hrr)
	if got := s.ks.hash(); !bytes.Equal(got, th.Sum(nil)) {
		t.Fatalf("transcript after HelloRetryRequest\n got %x\nwant %x", got, th.Sum(nil))
	}

	feed(ch2)
	n = s.Output(out)
	if n < 5+len(sh) || !bytes.Equal(out[5:5+len(sh)], sh) {
		t.Fatalf("ServerHello\n got %x\nwant %x", out[5:min(n, 5+len(sh))], sh)
	}
	eq("c_hs_traffic", s.ks.cHS[:32])
	eq("s_hs_traffic", s.ks.sHS[:32])
	eq("master_secret", s.ks.secret[:32])
	var kb [32]byte
	eq("c_hs_key", s.rd.keyTo(&s.ks, s.suite, &kb)) // read key is still the client handshake key
	eq("c_hs_iv", s.rd.nonce[:])

	// Independent schedule over the trace's messages.
	k := newKeySchedule(false, nil)
	k.selectHash(false)
	k.addMessage(ch1)
	k.restartForHRR()
	k.addMessage(hrr)
	k.addMessage(ch2)
	k.addMessage(sh)
	eq("transcript_ch1_sh", k.hash())
	cPriv, err := ecdh.P256().NewPrivateKey(v["client_p256_private"])
	if err != nil {
		t.Fatal(err)
	}
	sPriv, err := ecdh.P256().NewPrivateKey(v["server_p256_private"])
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(ch2, cPriv.PublicKey().Bytes()) || !bytes.Contains(sh, sPriv.PublicKey().Bytes()) {
		t.Fatal("key shares in the hellos are not the trace's keys")
	}
	ss, _ := cPriv.ECDH(sPriv.PublicKey())
	var early, sec [32]byte
	k.extract(zeroSecret[:32], nil)
	eq("early_secret", k.secret[:32])
	copy(early[:], k.secret[:32])
	k.deriveSecret(sec[:], early[:], "derived", k.emptyHash())
	eq("derived_early", sec[:])
	k.extract(sec[:], ss)
	eq("handshake_secret", k.secret[:32])
	k.handshakeSecrets(nil, ss)
	eq("c_hs_traffic", k.cHS[:32])
	eq("s_hs_traffic", k.sHS[:32])
	eq("derived_hs", k.derived[:32])
	eq("master_secret", k.secret[:32])
	rfcKeys(t, eq, k, k.sHS[:], "s_hs_key", "s_hs_iv")
	rfcKeys(t, eq, k, k.cHS[:], "c_hs_key", "c_hs_iv")

	rec := v["server_flight_record"]
	inner, typ := rfcOpen(t, v["s_hs_key"], v["s_hs_iv"], rec)
	msgs := rfcSplit(t, inner)
	if typ != recordHandshake || len(msgs) != 4 || msgs[3][0] != typeFinished {
		t.Fatalf("unexpected server flight %x", inner)
	}
	rfcReseal(t, k, k.sHS[:], inner, typ, rec)
	k.addMessage(msgs[0])
	// The RSA certificate and the RSA-PSS CertificateVerify: our client-side parser and verifier
	// accept the trace's signature over our transcript hash.
	_, list, a := parseCertificate(msgs[1][4:], 0xffffffff)
	if a != 0 {
		t.Fatalf("Certificate: alert %d", a)
	}
	certs, a := readPeerCertificates(list)
	if a != 0 || len(certs) != 1 {
		t.Fatalf("Certificate list: alert %d, %d certs", a, len(certs))
	}
	k.addMessage(msgs[1])
	ve := &Engine{ks: *k, hsState: &hsState{}} // a copy sharing k's transcripts (ksSecrets)
	ve.setCerts(certs)
	if a := ve.checkPeerVerify(msgs[2], serverSignatureContext); a != 0 || ve.peerScheme != PSSWithSHA256 {
		t.Errorf("CertificateVerify: alert %d, scheme %#x", a, ve.peerScheme)
	}
	k.addMessage(msgs[2])
	if fin := k.finished(nil, k.sHS[:]); !bytes.Equal(fin, msgs[3][4:]) {
		t.Errorf("server Finished\n got %x\nwant %x", fin, msgs[3][4:])
	}
	k.addMessage(msgs[3])
	k.appSecrets()
	eq("c_ap_traffic", k.cAP[:32])
	eq("s_ap_traffic", k.sAP[:32])
	k.deriveSecret(sec[:], k.secret[:32], "exp master", k.hash())
	eq("exp_master", sec[:])
	rfcKeys(t, eq, k, k.sAP[:], "s_ap_key", "s_ap_iv")
	rfcKeys(t, eq, k, k.cAP[:], "c_ap_key", "c_ap_iv")

	crec := v["client_finished_record"]
	cin, ctyp := rfcOpen(t, v["c_hs_key"], v["c_hs_iv"], crec)
	if ctyp != recordHandshake || len(cin) != 36 || cin[0] != typeFinished {
		t.Fatalf("unexpected client flight %x", cin)
	}
	rfcReseal(t, k, k.cHS[:], cin, ctyp, crec)
	if fin := k.finished(nil, k.cHS[:]); !bytes.Equal(fin, cin[4:]) {
		t.Errorf("client Finished\n got %x\nwant %x", fin, cin[4:])
	}
	k.addMessage(cin)
	k.resumptionMaster(sec[:])
	eq("res_master", sec[:])

	for _, r := range []struct {
		name   string
		secret []byte
	}{{"client_alert_record", k.cAP[:]}, {"server_alert_record", k.sAP[:]}} {
		var hc halfConn
		if err := hc.setKey(k, suiteByID(0x1301), r.secret); err != nil {
			t.Fatal(err)
		}
		rec := v[r.name]
		pt, err := hc.aead.Open(nil, hc.makeNonce(), rec[5:], rec[:5])
		if err != nil || !bytes.Equal(pt, []byte{1, 0, recordAlert}) {
			t.Errorf("%s: %v %x", r.name, err, pt)
		}
	}
}

// TestHRRCookieChecked: with the RFC 8448 §5 hellos, a ClientHello2 whose cookie differs in one
// bit gets illegal_parameter, and one without the cookie missing_extension; the trace's own
// ClientHello2 passes (TestRFC8448HelloRetryRequest).
func TestHRRCookieChecked(t *testing.T) {
	v := loadVectors(t, "testdata/rfc8448_hrr.txt")
	ch1, hrr, ch2 := v["client_hello1"], v["hello_retry_request"], v["client_hello2"]
	cookie := rfcExtensions(t, hrr)[extCookie]
	at := bytes.Index(ch2, cookie)
	if at < 4 {
		t.Fatal("ClientHello2 does not carry the cookie")
	}
	flipped := append([]byte{}, ch2...)
	flipped[at+len(cookie)-1] ^= 1
	// Without the cookie: rename the extension to an unknown type (lengths stay valid).
	renamed := append([]byte{}, ch2...)
	renamed[at-4], renamed[at-3] = 0xfe, 0xfe
	for _, tc := range []struct {
		name  string
		ch2   []byte
		alert uint8
	}{{"flipped", flipped, AlertIllegalParameter}, {"missing", renamed, AlertMissingExtension}} {
		cfg := serverConfig(t, false)
		cfg.Groups = []CurveID{P256}
		cfg.HRRCookie = true
		cfg.setHooks().hrrCookie = cookie[2:]
		cfg.Rand = seeded(7)
		s := NewServer(cfg, 0)
		for _, m := range [][]byte{ch1, tc.ch2} {
			rec := append([]byte{22, 3, 3, byte(len(m) >> 8), byte(len(m))}, m...)
			s.Unwrap(rec)
		}
		if s.State() != Failed || s.Alert() != tc.alert {
			t.Errorf("%s cookie: state %v alert %d, want alert %d", tc.name, s.State(), s.Alert(), tc.alert)
		}
	}
}
