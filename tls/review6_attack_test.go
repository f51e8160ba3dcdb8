package tls

import (
	"testing"
)

// TestTLS12RenegotiationAcrossShed: the refused renegotiation ClientHello of
// TestTLS12RenegotiationFragmented with a Shed after every record (the
// post-handshake buffers given back while the rest is skipped), three times:
// refused each time, the buffers shed once it is skipped, data still flows.
func TestTLS12RenegotiationAcrossShed(t *testing.T) {
	cl, srv := pair12(t, TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, X25519, nil)
	ch := buildCH(chOpts{versions: []uint16{VersionTLS12}, groups: []CurveID{X25519, P256}, sigAlgs: []SignatureScheme{0x0403},
		suites: []uint16{0xc02b}, extra: append([]byte{0, 23, 0, 0, 0xff, 1, 0, 1, 0, 0, 21, 1, 0x2c}, make([]byte, 300)...)})
	msg := ch[5:]
	buf := make([]byte, 4096)
	for round := 0; round < 3; round++ {
		srv.Shed()
		for _, part := range [][]byte{msg[:2], msg[2:3], msg[3:100], msg[100:]} {
			if !cl.queue(recordHandshake, part) {
				t.Fatal("queue")
			}
			n := cl.Output(buf)
			if _, _, err := srv.Unwrap(buf[:n]); err != nil {
				t.Fatalf("round %d: %v", round, err)
			}
			srv.Shed()
		}
		n := srv.Output(buf)
		pt, ok := cl.open12ForTest(buf[:n])
		if !ok || len(pt) != 2 || pt[0] != 1 || pt[1] != AlertNoRenegotiation {
			t.Fatalf("round %d: alert %x ok=%v", round, pt, ok)
		}
		if srv.hsSkip != 0 || srv.State() != Established {
			t.Fatalf("round %d: skip %d state %v", round, srv.hsSkip, srv.State())
		}
		srv.Shed()
		if srv.post != nil {
			t.Fatalf("round %d: post-handshake buffers kept after the skip", round)
		}
		roundTrip(t, cl, srv, []byte("still here"))
	}
}

// TestShedServerHostileRecords: a server that has shed everything (AEAD
// states and post-handshake buffers) meets, in turn, a record that fails
// deprotection (bad_record_mac queued in lent buffers, Err kept after a
// Shed), and on a fresh pair a fatal alert from the peer and a KeyUpdate
// flood with update_requested that it answers once (RFC 8446 §4.6.3).
func TestShedServerHostileRecords(t *testing.T) {
	s, c := handshakePair(t, serverConfig(t, false), clientConfig(t))
	s.Shed()
	rec := make([]byte, 64+MaxOverhead)
	hdr, _ := c.Overhead()
	copy(rec[hdr:], "ping")
	n := c.Wrap(rec, 4)
	rec[n-1] ^= 1
	_, _, err := s.Unwrap(rec[:n])
	expectAlert(t, err, AlertBadRecordMAC, false)
	if s.post == nil || s.Pending() == 0 {
		t.Fatal("no alert queued")
	}
	s.Shed()
	if s.post == nil {
		t.Fatal("Shed dropped a queued alert")
	}
	_, errC := pump(t, s, c)
	expectAlert(t, errC, AlertBadRecordMAC, true)
	s.Shed()
	if s.post != nil || s.Err() == nil || s.State() != Failed {
		t.Fatalf("after the alert went: post %v err %v state %v", s.post != nil, s.Err(), s.State())
	}
	expectAlert(t, s.Err(), AlertBadRecordMAC, false)

	// a fatal alert from the peer while shed
	s, c = handshakePair(t, serverConfig(t, false), clientConfig(t))
	s.Shed()
	c.fail(AlertHandshakeFailure)
	_, errS := pump(t, c, s)
	expectAlert(t, errS, AlertHandshakeFailure, true)
	s.Shed()
	expectAlert(t, s.Err(), AlertHandshakeFailure, true)
	if s.post != nil {
		t.Fatal("post-handshake buffers kept after a received alert")
	}

	// a KeyUpdate flood, each in its own record, shed after each: one answer
	// (below the limit of records that move nothing, maxUseless)
	s, c = handshakePair(t, serverConfig(t, false), clientConfig(t))
	buf := make([]byte, 256)
	for i := 0; i < maxUseless-1; i++ {
		s.Shed()
		if err := c.KeyUpdate(true); err != nil {
			t.Fatal(err)
		}
		c.kuQueued = false // a hostile client asks again without sending data
		n := c.Output(buf)
		if k, _, err := s.Unwrap(buf[:n]); err != nil || k != n {
			t.Fatalf("update %d: %d %v", i, k, err)
		}
	}
	if p := s.Pending(); p == 0 || p > 64 {
		t.Fatalf("answers queued: %d bytes, want one KeyUpdate", p)
	}
	if ea, eb := pump(t, s, c); ea != nil || eb != nil {
		t.Fatal(ea, eb)
	}
	roundTrip(t, c, s, []byte("after the flood"))
	roundTrip(t, s, c, []byte("and back"))
	s.Shed()
	if s.post != nil {
		t.Fatal("post-handshake buffers kept after the flood")
	}
}
