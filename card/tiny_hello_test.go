package card_test

import (
	"bytes"
	"encoding/binary"
	"strings"
	"testing"
	"time"

	"netcard/card"
	"netcard/sim"
	"netcard/tcp"
	"netcard/tls"
)

// rawConn is a TCP connection from the simulation's host peer that sends
// fixed bytes and keeps everything the card answers until it closes: a
// sim.Actor.
type rawConn struct {
	conn *tcp.Conn
	out  []byte
	got  []byte
	done bool
}

func (r *rawConn) Service(time.Time) (bool, time.Time) {
	if r.done {
		return false, time.Time{}
	}
	progress := false
	if len(r.out) > 0 {
		if f := r.conn.Free(); len(f) > 0 {
			n := copy(f, r.out)
			r.conn.Commit(n)
			r.out = r.out[n:]
			progress = true
		}
	}
	if in := r.conn.Peek(); len(in) > 0 {
		r.got = append(r.got, in...)
		r.conn.Consume(len(in))
		progress = true
	}
	if r.conn.Err() != nil || r.conn.EOF() {
		r.done = true
		r.conn.Close()
		progress = true
	}
	return progress, time.Time{}
}

// paddedHello is the ClientHello of our client engine grown with a
// padding extension (RFC 7685) to a handshake message of exactly size
// bytes, header included, in one plaintext record.
func paddedHello(t *testing.T, cfg *tls.Config, size int) []byte {
	t.Helper()
	e := tls.NewClient(cfg, 0)
	buf := make([]byte, 1<<15)
	rec := buf[:e.Output(buf)]
	if len(rec) < 9 || rec[0] != 22 || int(binary.BigEndian.Uint16(rec[3:])) != len(rec)-5 || rec[5] != 1 {
		t.Fatalf("our client's first flight is not one ClientHello record: % x", rec[:min(len(rec), 16)])
	}
	msg := rec[5:]
	// legacy_version, random, session id, cipher suites, compression: to the extensions
	at := 4 + 2 + 32
	at += 1 + int(msg[at])
	at += 2 + int(binary.BigEndian.Uint16(msg[at:]))
	at += 1 + int(msg[at])
	pad := size - len(msg) - 4 // the padding extension's own header is 4 bytes
	if pad < 0 {
		t.Fatalf("our ClientHello is %d bytes already", len(msg))
	}
	exts := int(binary.BigEndian.Uint16(msg[at:])) + 4 + pad
	out := append([]byte(nil), msg...)
	out = append(out, 0, 21, byte(pad>>8), byte(pad))
	out = append(out, make([]byte, pad)...)
	binary.BigEndian.PutUint16(out[at:], uint16(exts))
	out[1], out[2], out[3] = byte((len(out)-4)>>16), byte((len(out)-4)>>8), byte(len(out)-4)
	return append([]byte{22, 3, 1, byte(len(out) >> 8), byte(len(out))}, out...)
}

// TestTinyClientHelloLimits: a Tiny card takes a ClientHello record far
// larger than its 1 KiB receive buffer (it streams into the handshake
// reassembly) up to the profile's 8 KiB handshake message; a bigger
// ClientHello is answered with illegal_parameter (tls.Config.
// MaxHandshakeMessage), a record longer than 2^14 bytes with
// record_overflow (RFC 8446 §5.1); the card keeps serving afterwards.
func TestTinyClientHelloLimits(t *testing.T) {
	p := card.TinyProfile
	w, err := sim.New(sim.Options{Baud: 115200, Seed: 11, Profile: p})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.RunUntil(w.Up, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	cfg, err := w.ClientTLS()
	if err != nil {
		t.Fatal(err)
	}
	send := func(b []byte) []byte {
		t.Helper()
		conn, err := w.Host().TCP.Dial(sim.HostIP, sim.CardIP, 443, w.Now())
		if err != nil {
			t.Fatal(err)
		}
		r := &rawConn{conn: conn, out: b}
		w.AddActor(r)
		defer w.RemoveActor(r)
		// The card answers or closes; a ServerHello is enough (the client sends no more).
		if err := w.RunUntil(func() bool { return r.done || bytes.Contains(r.got, []byte{22, 3, 3}) }, 30*time.Second); err != nil {
			t.Fatalf("no answer to %d bytes: %v (got % x)", len(b), err, r.got)
		}
		if !r.done {
			conn.Abort()
		}
		return r.got
	}
	alert := func(code byte) []byte { return []byte{21, 3, 3, 0, 2, 2, code} }

	if got := send(paddedHello(t, cfg, p.MaxHandshakeMessage)); len(got) < 6 || got[0] != 22 || got[5] != 2 {
		t.Fatalf("a %d-byte ClientHello: the card answered % x, want a ServerHello", p.MaxHandshakeMessage, got[:min(len(got), 16)])
	}
	if got := send(paddedHello(t, cfg, p.MaxHandshakeMessage+1)); !bytes.HasPrefix(got, alert(47)) {
		t.Fatalf("a %d-byte ClientHello: the card answered % x, want illegal_parameter", p.MaxHandshakeMessage+1, got)
	}
	over := append([]byte{22, 3, 1, 0x40, 0x01}, make([]byte, 64)...) // a 16,385-byte record announced
	if got := send(over); !bytes.HasPrefix(got, alert(22)) {
		t.Fatalf("a record of 2^14+1 bytes: the card answered % x, want record_overflow", got)
	}

	// A client that announces record_size_limit learns Tiny's: its
	// records then fill the receive buffer at most; the card still serves.
	rsl := *cfg
	rsl.RecordSizeLimit = 16385
	conn, err := w.Host().TCP.Dial(sim.HostIP, sim.CardIP, 443, w.Now())
	if err != nil {
		t.Fatal(err)
	}
	head := "GET /status.json HTTP/1.1\r\nHost: netcard.local\r\nConnection: close\r\nX-Pad: "
	head += strings.Repeat("p", p.RecordSizeLimit-1-len(head)-4) + "\r\n\r\n"
	g := &rawGet{conn: conn, eng: tls.NewClient(&rsl, tls.DefaultRecordBuf), req: []byte(head)}
	w.AddActor(g)
	defer w.RemoveActor(g)
	if err := w.RunUntil(func() bool { return g.done }, 60*time.Second); err != nil || g.err != nil {
		t.Fatalf("GET after the refused hellos: %v %v", err, g.err)
	}
	if mp := g.eng.MaxPlaintext(); mp != p.RecordSizeLimit-1 {
		t.Fatalf("the client may send %d-byte records, want %d (Tiny's record_size_limit %d)", mp, p.RecordSizeLimit-1, p.RecordSizeLimit)
	}
	if !bytes.HasPrefix(g.got, []byte("HTTP/1.1 200")) {
		t.Fatalf("a %d-byte request head: %.200q", len(head), g.got)
	}
}
