package tls

import (
	"io"
	"testing"
	"unsafe"
)

// TestReleaseAfterHandshake: once the handshake is done and the flight drained, a server (TLS 1.3
// and 1.2) drops its handshake buffers and transcript hashes; KeyUpdate, tickets and data still work.
func TestReleaseAfterHandshake(t *testing.T) {
	check := func(name string, srv, cl *Engine, before int) {
		t.Helper()
		after := srv.Footprint()
		t.Logf("%s server: footprint %d bytes during the handshake, %d after", name, before, after)
		if !srv.hsSmall || !srv.outSmall || srv.hsState != nil || after > before/2 { // (hsState holds the staging buffer)
			t.Fatalf("%s: buffers not released (hs %v out %v hsState %v) footprint %d", name, srv.hsSmall, srv.outSmall, srv.hsState != nil, after)
		}
		if srv.ks.th != nil || srv.ks.ksSecrets != nil || cl.ks.th != nil || cl.ks.t256.on || cl.ks.t384.on {
			t.Fatalf("%s: transcript hashes kept", name)
		}
		roundTrip(t, cl, srv, []byte("after release"))
		roundTrip(t, srv, cl, []byte("and back"))
	}
	sc, cc := serverConfig(t, false), clientConfig(t)
	cc.Groups = []CurveID{X25519}
	s := NewServer(sc, 0)
	before := s.Footprint()
	c := NewClient(cc, 0)
	if ea, eb := pump(t, c, s); ea != nil || eb != nil {
		t.Fatal(ea, eb)
	}
	check("TLS 1.3", s, c, before)
	for _, req := range []bool{true, false} {
		if err := c.KeyUpdate(req); err != nil {
			t.Fatal(err)
		}
		if ea, eb := pump(t, c, s); ea != nil || eb != nil {
			t.Fatal(ea, eb)
		}
		if err := s.KeyUpdate(req); err != nil {
			t.Fatal(err)
		}
		if ea, eb := pump(t, c, s); ea != nil || eb != nil {
			t.Fatal(ea, eb)
		}
		roundTrip(t, c, s, []byte("after KeyUpdate"))
		roundTrip(t, s, c, []byte("after KeyUpdate"))
	}
	// maxUseless (16) requested KeyUpdates reach the server before it drains its (small) output
	// buffer; it answers once (RFC 8446 §4.6.3; one more would be a flood, see TestHostile)
	for i := 0; i < maxUseless; i++ {
		if err := c.KeyUpdate(true); err != nil {
			t.Fatal(err)
		}
	}
	if ea, eb := pump(t, c, s); ea != nil || eb != nil {
		t.Fatal(ea, eb)
	}
	roundTrip(t, c, s, []byte("after 16 KeyUpdates"))

	cl, srv := pair12(t, TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, X25519, nil)
	check("TLS 1.2", srv, cl, before)
}

// TestPostHandshakeTooBig13: a TLS 1.3 server's small post-handshake buffer answers a big message
// with the alert the message would get anyway.
func TestPostHandshakeTooBig13(t *testing.T) {
	for _, tc := range []struct {
		typ  byte
		want uint8
	}{{typeKeyUpdate, AlertDecodeError}, {typeNewSessionTicket, AlertUnexpectedMessage}, {typeClientHello, AlertUnexpectedMessage}} {
		s, c := handshakePair(t, serverConfig(t, false), clientConfig(t))
		msg := make([]byte, 4+300)
		msg[0], msg[2], msg[3] = tc.typ, 1, 44
		if !c.queue(recordHandshake, msg) {
			t.Fatal("queue")
		}
		errS, _ := pump(t, s, c)
		expectAlert(t, errS, tc.want, false)
	}
}

// TestTLS12RenegotiationFragmented: a renegotiation ClientHello far bigger than the server's small
// post-handshake buffer, split over several records, is refused once and skipped.
func TestTLS12RenegotiationFragmented(t *testing.T) {
	cl, srv := pair12(t, TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, X25519, nil)
	ch := buildCH(chOpts{versions: []uint16{VersionTLS12}, groups: []CurveID{X25519, P256}, sigAlgs: []SignatureScheme{0x0403},
		suites: []uint16{0xc02b}, extra: append([]byte{0, 23, 0, 0, 0xff, 1, 0, 1, 0, 0, 21, 1, 0x2c}, make([]byte, 300)...)})
	msg := ch[5:]
	if len(msg) < 3*postHSLen {
		t.Fatalf("ClientHello of %d bytes is too small for this test", len(msg))
	}
	buf := make([]byte, 4096)
	for _, part := range [][]byte{msg[:2], msg[2:100], msg[100:]} {
		if !cl.queue(recordHandshake, part) {
			t.Fatal("queue")
		}
		n := cl.Output(buf)
		if _, _, err := srv.Unwrap(buf[:n]); err != nil {
			t.Fatal(err)
		}
	}
	n := srv.Output(buf)
	pt, ok := cl.open12ForTest(buf[:n])
	if !ok || len(pt) != 2 || pt[0] != 1 || pt[1] != AlertNoRenegotiation {
		t.Fatalf("alert %x ok=%v", pt, ok)
	}
	if srv.hsSkip != 0 || srv.State() != Established {
		t.Fatalf("skip %d state %v", srv.hsSkip, srv.State())
	}
	roundTrip(t, cl, srv, []byte("still here"))
}

// TestHalfClose13: after the client's close_notify a TLS 1.3 server can still send its response
// until it closes too (RFC 8446 §6.1); a TLS 1.2 server cannot (RFC 5246 §7.2.1).
func TestHalfClose13(t *testing.T) {
	s, c := handshakePair(t, serverConfig(t, false), clientConfig(t))
	c.Close()
	if _, errS := pump(t, c, s); errS != io.EOF || s.State() != Closed {
		t.Fatalf("close: %v %v", errS, s.State())
	}
	resp := []byte("the response after the request's close_notify")
	roundTrip(t, s, c, resp)
	s.Close()
	hdr, tail := s.Overhead()
	rec := make([]byte, hdr+len(resp)+tail)
	if s.Output(make([]byte, 64)) == 0 {
		t.Fatal("no close_notify queued")
	}
	if n := s.Wrap(rec, len(resp)); n != 0 {
		t.Fatal("Wrap after our own close_notify")
	}

	cl, srv := pair12(t, TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, X25519, nil)
	cl.Close()
	if _, errS := pump(t, cl, srv); errS != io.EOF {
		t.Fatal(errS)
	}
	hdr, tail = srv.Overhead()
	rec = make([]byte, hdr+len(resp)+tail)
	if n := srv.Wrap(rec, len(resp)); n != 0 {
		t.Fatal("TLS 1.2 Wrap after the peer's close_notify")
	}
}

// TestPostBuffersLent: an established idle server holds no post-handshake buffers (its footprint
// is its struct); a post-handshake message received or a record queued (KeyUpdate, alert) lends
// them (PostBufSize, counted by Footprint) until a Shed with nothing in them takes them back, and
// KeyUpdates both ways, a refused big message and close_notify work the same before and after.
func TestPostBuffersLent(t *testing.T) {
	s, c := handshakePair(t, serverConfig(t, false), clientConfig(t))
	idle := int(unsafe.Sizeof(*s))
	if s.post != nil || s.Footprint() != idle || cap(s.hsBuf) != 0 || cap(s.out) != 0 {
		t.Fatalf("idle server: post %v footprint %d (struct %d) hsBuf %d out %d", s.post != nil, s.Footprint(), idle, cap(s.hsBuf), cap(s.out))
	}
	lent := func(want bool) {
		t.Helper()
		if got := s.post != nil; got != want || s.Footprint() != idle+map[bool]int{true: PostBufSize}[want] {
			t.Fatalf("post lent %v, want %v; footprint %d", got, want, s.Footprint())
		}
	}
	for round := 0; round < 3; round++ {
		// the client's update_requested is received (post.hs) and answered (post.out)
		if err := c.KeyUpdate(true); err != nil {
			t.Fatal(err)
		}
		if ea, eb := pump(t, c, s); ea != nil || eb != nil {
			t.Fatal(ea, eb)
		}
		lent(true)
		roundTrip(t, c, s, []byte("after the client's KeyUpdate"))
		roundTrip(t, s, c, []byte("and back"))
		// a Shed with the buffers empty gives them back (with both AEAD states)
		if n := s.Shed(); n < PostBufSize {
			t.Fatalf("Shed released %d", n)
		}
		lent(false)
		if n := s.Shed(); n != 0 {
			t.Fatalf("second Shed released %d", n)
		}
		// the server's own KeyUpdate lends post.out only
		if err := s.KeyUpdate(false); err != nil {
			t.Fatal(err)
		}
		lent(true)
		if n := s.Shed(); n < 768 || s.post == nil {
			t.Fatalf("Shed with a KeyUpdate pending: released %d, post %v", n, s.post != nil)
		}
		if ea, eb := pump(t, c, s); ea != nil || eb != nil {
			t.Fatal(ea, eb)
		}
		roundTrip(t, s, c, []byte("after the server's KeyUpdate"))
		s.Shed()
		lent(false)
	}
	// half a KeyUpdate is kept in post.hs across a Shed
	m := []byte{typeKeyUpdate, 0, 0, 1, 0}
	buf := make([]byte, 256)
	for i, part := range [][]byte{m[:2], m[2:]} {
		if !c.queue(recordHandshake, part) {
			t.Fatal("queue")
		}
		n := c.Output(buf)
		if k, _, err := s.Unwrap(buf[:n]); err != nil || k != n {
			t.Fatal(k, err)
		}
		if i == 0 {
			if s.Shed(); s.post == nil || len(s.hsBuf) != 2 {
				t.Fatalf("a partly received message was dropped by Shed: %d bytes", len(s.hsBuf))
			}
		}
	}
	if err := c.wr.update(&c.ks, c.suite); err != nil { // the client's side of its hand-made KeyUpdate
		t.Fatal(err)
	}
	roundTrip(t, c, s, []byte("after a fragmented KeyUpdate"))
	s.Shed()
	lent(false)
	// close_notify after an idle shed
	s.Close()
	lent(true)
	if _, errC := pump(t, s, c); errC != io.EOF {
		t.Fatalf("client: %v, want EOF", errC)
	}
}

// TestPostBuffersSteadyState: data both ways on an idle server that has given its post-handshake
// buffers back allocates nothing (the buffers are lent only for post-handshake records).
func TestPostBuffersSteadyState(t *testing.T) {
	s, c := handshakePair(t, serverConfig(t, false), clientConfig(t))
	rec := make([]byte, 64+MaxOverhead)
	allocs := testing.AllocsPerRun(100, func() {
		hdr, _ := c.Overhead()
		copy(rec[hdr:], "ping")
		n := c.Wrap(rec, 4)
		if k, pt, err := s.Unwrap(rec[:n]); err != nil || k != n || string(pt) != "ping" {
			t.Fatal(k, err)
		}
		hdr, _ = s.Overhead()
		copy(rec[hdr:], "pong")
		n = s.Wrap(rec, 4)
		if k, pt, err := c.Unwrap(rec[:n]); err != nil || k != n || string(pt) != "pong" {
			t.Fatal(k, err)
		}
	})
	if allocs != 0 || s.post != nil {
		t.Fatalf("%v allocations per exchange; post lent %v", allocs, s.post != nil)
	}
}
