package tls

import (
	"bytes"
	"errors"
	"testing"
)

// The hostile peer: a real engine of the other role (so it has its own record layer, transcript
// and key schedule) whose every queued record passes through a script (the Config's queue test hook) that may
// rewrite, drop, duplicate, reorder or re-split handshake messages — also inside the encrypted
// flight, since the script sees the plaintext before it is sealed — or replace them with any
// record (alerts, change_cipher_spec, empty records). After the handshake the test can seal any
// record with the peer's current keys (h.send) or put raw bytes on the wire (h.raw).
//
// Every case asserts the exact alert the engine under test (the "dut") sends, that the alert is
// the last record it produces (the peer decrypts it: nothing else follows, and a later Unwrap or
// Output produces nothing more), and for a TLS 1.3 client that its change_cipher_spec precedes
// its first encrypted record (RFC 8446 §D.4).

type hostile struct {
	t         *testing.T
	dut, peer *Engine
	dutClient bool
	dutOut    []byte // everything the dut sent
	dutErr    error
	peerErr   error
	peerErrAt int // offset in dutOut of the end of the record the peer failed on
	raw       []byte
	dutData   [][]byte // application data the dut received
}

type script func(typ byte, data []byte) []testRecord

// newHostile builds a dut and a hostile peer. v12 makes the client offer only TLS 1.2.
func newHostile(t *testing.T, dutClient, v12 bool, dutCfg, peerCfg func(c *Config), sc script) *hostile {
	t.Helper()
	scfg, ccfg := serverConfig(t, false), clientConfig(t)
	if v12 {
		ccfg.MaxVersion = VersionTLS12
	}
	dc, pc := scfg, ccfg
	if dutClient {
		dc, pc = ccfg, scfg
	}
	if dutCfg != nil {
		dutCfg(dc)
	}
	if peerCfg != nil {
		peerCfg(pc)
	}
	if sc != nil {
		pc.setHooks().queue = sc
	}
	h := &hostile{t: t, dutClient: dutClient}
	if dutClient {
		h.peer = NewServer(scfg, 0)
		h.dut = NewClient(ccfg, 0)
	} else {
		h.dut = NewServer(scfg, 0)
		h.peer = NewClient(ccfg, 0)
	}
	if h.dut.State() == Failed || h.peer.State() == Failed {
		t.Fatalf("config: %v %v", h.dut.Err(), h.peer.Err())
	}
	return h
}

// run moves records both ways until neither side has anything to say.
func (h *hostile) run() {
	buf := make([]byte, 1<<17)
	for round := 0; round < 400; round++ {
		moved := false
		n := drainOut(h.peer, buf)
		in := append(append([]byte(nil), buf[:n]...), h.raw...)
		h.raw = nil
		if len(in) > 0 {
			moved = true
			for len(in) > 0 && h.dutErr == nil {
				c, plain, err := h.dut.Unwrap(in)
				if err != nil {
					h.dutErr = err
					break
				}
				if c == 0 {
					h.t.Fatalf("dut: incomplete record (%d bytes left)", len(in))
				}
				if plain != nil {
					h.dutData = append(h.dutData, append([]byte(nil), plain...))
				}
				in = in[c:]
			}
		}
		n = drainOut(h.dut, buf)
		if n > 0 {
			moved = true
			start := len(h.dutOut)
			h.dutOut = append(h.dutOut, buf[:n]...)
			out := h.dutOut[start:]
			off := start
			for len(out) > 0 && h.peerErr == nil {
				rl := recordLen(out)
				rec := append([]byte(nil), out[:rl]...)
				c, _, err := h.peer.Unwrap(rec)
				if err != nil {
					h.peerErr, h.peerErrAt = err, off+rl
					break
				}
				if c != rl {
					h.t.Fatalf("peer consumed %d of a %d-byte record", c, rl)
				}
				out, off = out[rl:], off+rl
			}
		}
		if !moved {
			return
		}
	}
	h.t.Fatal("hostile: no quiescence")
}

func drainOut(e *Engine, buf []byte) int {
	n := 0
	for {
		m := e.Output(buf[n:])
		if m == 0 {
			return n
		}
		n += m
	}
}

func recordLen(b []byte) int {
	if len(b) < 5 {
		return len(b)
	}
	return min(len(b), 5+(int(b[3])<<8|int(b[4])))
}

// send seals a record of type typ with the peer's current write key and delivers it.
func (h *hostile) send(typ byte, data []byte) {
	if !h.peer.queueRecords(typ, data) {
		h.t.Fatal("peer cannot queue")
	}
	h.run()
}

// established asserts both sides completed the handshake without an alert.
func (h *hostile) established() {
	h.t.Helper()
	if h.dutErr != nil || h.peerErr != nil || h.dut.State() != Established || h.peer.State() != Established {
		h.t.Fatalf("handshake: dut %v (%v), peer %v (%v)", h.dutErr, h.dut.State(), h.peerErr, h.peer.State())
	}
}

// expect asserts the dut failed with alert code, sent it as its last record, and stays silent.
func (h *hostile) expect(code uint8) {
	t := h.t
	t.Helper()
	var ae *AlertError
	if !errors.As(h.dutErr, &ae) || ae.Code != code || ae.Remote || h.dut.Alert() != code || h.dut.State() != Failed {
		t.Fatalf("dut: want to send %s, got %v (state %v)", AlertName(code), h.dutErr, h.dut.State())
	}
	var pe *AlertError
	switch {
	case errors.As(h.peerErr, &pe) && pe.Remote:
		if pe.Code != code {
			t.Fatalf("peer received %s, want %s", AlertName(pe.Code), AlertName(code))
		}
		if h.peerErrAt != len(h.dutOut) {
			t.Fatalf("%d bytes follow the alert", len(h.dutOut)-h.peerErrAt)
		}
	default:
		// the peer gave up first (it is hostile: its transcript no longer matches); the alert must
		// then be the last record, in the clear
		last := h.dutOut
		for len(last) > recordLen(last) {
			last = last[recordLen(last):]
		}
		if len(last) != 7 || last[0] != recordAlert || last[5] != 2 || last[6] != code {
			t.Fatalf("peer error %v; last dut record % x is not a plaintext %s alert", h.peerErr, last, AlertName(code))
		}
	}
	// nothing more: a further record changes nothing and queues nothing
	if _, _, err := h.dut.Unwrap([]byte{23, 3, 3, 0, 1, 0}); err == nil {
		t.Fatal("Unwrap after the alert returned no error")
	}
	if h.dut.Pending() != 0 || h.dut.Wrap(make([]byte, 64), 1) != 0 {
		t.Fatal("the dut sends after its alert")
	}
	h.checkCCSFirst()
}

// checkCCSFirst: a TLS 1.3 client in compatibility mode (it always sends a session id) sends its
// change_cipher_spec before its first protected record (RFC 8446 §D.4).
func (h *hostile) checkCCSFirst() {
	if !h.dutClient || h.dut.v12 {
		return
	}
	ccs := false
	for b := h.dutOut; len(b) >= 5; b = b[recordLen(b):] {
		switch b[0] {
		case recordCCS:
			ccs = true
		case recordAppData:
			if !ccs {
				h.t.Fatal("§D.4: a protected record before the client's change_cipher_spec")
			}
			return
		}
	}
}

// Script helpers.

// splitMsgs splits handshake bytes into messages (an incomplete tail is its own element).
func splitMsgs(b []byte) [][]byte {
	var out [][]byte
	for len(b) >= 4 {
		n := min(len(b), 4+(int(b[1])<<16|int(b[2])<<8|int(b[3])))
		out = append(out, b[:n:n])
		b = b[n:]
	}
	if len(b) > 0 {
		out = append(out, b)
	}
	return out
}

// onMsg rewrites every handshake message of type mt with f (nil result: dropped). The messages of
// one queued flight stay in one run of records.
func onMsg(mt byte, f func(m []byte) []byte) script {
	return func(typ byte, data []byte) []testRecord {
		if typ != recordHandshake {
			return []testRecord{{typ: typ, data: data}}
		}
		var out []byte
		for _, m := range splitMsgs(data) {
			if m[0] == mt {
				m = f(append([]byte(nil), m...))
			}
			out = append(out, m...)
		}
		return []testRecord{{typ: typ, data: out}}
	}
}

// once applies f to the first message only.
func once(f func(m []byte) []byte) func(m []byte) []byte {
	done := false
	return func(m []byte) []byte {
		if done {
			return m
		}
		done = true
		return f(m)
	}
}

func ext(typ uint16, body ...byte) []byte {
	return append([]byte{byte(typ >> 8), byte(typ), byte(len(body) >> 8), byte(len(body))}, body...)
}

// extBlockAt returns the offset (in msg, header included) of the extension block's length.
func extBlockAt(msg []byte) int {
	body := msg[4:]
	r := reader{b: body}
	switch msg[0] {
	case typeClientHello:
		r.u16()
		r.bytes(32)
		r.vec8()
		r.vec16()
		r.vec8()
	case typeServerHello:
		r.u16()
		r.bytes(32)
		r.vec8()
		r.u16()
		r.u8()
	case typeEncryptedExtensions:
	case typeCertificateRequest:
		r.vec8()
	case typeNewSessionTicket:
		r.u16()
		r.u16()
		r.u16()
		r.u16()
		r.vec8()
		r.vec16()
	default:
		panic("no extension block")
	}
	return 4 + len(body) - len(r.b)
}

func fixLen(msg []byte) []byte {
	n := len(msg) - 4
	msg[1], msg[2], msg[3] = byte(n>>16), byte(n>>8), byte(n)
	return msg
}

// addExt appends raw extensions at the end of msg's extension block.
func addExt(raw ...[]byte) func(m []byte) []byte {
	return func(msg []byte) []byte {
		at := extBlockAt(msg)
		if at == len(msg) {
			msg = append(msg, 0, 0)
		}
		for _, r := range raw {
			msg = append(msg, r...)
		}
		l := len(msg) - at - 2
		msg[at], msg[at+1] = byte(l>>8), byte(l)
		return fixLen(msg)
	}
}

// prependExt puts raw extensions at the front of msg's extension block (a ClientHello's
// pre_shared_key must stay last).
func prependExt(raw ...[]byte) func(m []byte) []byte {
	return func(msg []byte) []byte {
		at := extBlockAt(msg)
		var ins []byte
		for _, r := range raw {
			ins = append(ins, r...)
		}
		out := append(append(append([]byte(nil), msg[:at+2]...), ins...), msg[at+2:]...)
		l := len(out) - at - 2
		out[at], out[at+1] = byte(l>>8), byte(l)
		return fixLen(out)
	}
}

// editExt rewrites the body of extension typ in msg's extension block.
func editExt(typ uint16, f func(body []byte) []byte) func(m []byte) []byte {
	return func(msg []byte) []byte {
		at := extBlockAt(msg)
		out := append([]byte(nil), msg[:at+2]...)
		for x := msg[at+2:]; len(x) >= 4; {
			l := int(x[2])<<8 | int(x[3])
			body := x[4 : 4+l]
			if uint16(x[0])<<8|uint16(x[1]) == typ {
				body = f(append([]byte(nil), body...))
				if body == nil {
					x = x[4+l:]
					continue
				}
			}
			out = append(out, x[0], x[1], byte(len(body)>>8), byte(len(body)))
			out = append(out, body...)
			x = x[4+l:]
		}
		l := len(out) - at - 2
		out[at], out[at+1] = byte(l>>8), byte(l)
		return fixLen(out)
	}
}

// addCertEntryExt appends raw extensions to the first CertificateEntry of a TLS 1.3 Certificate.
func addCertEntryExt(raw []byte) func(m []byte) []byte {
	return func(msg []byte) []byte {
		r := reader{b: msg[4:]}
		ctx := r.vec8()
		r.u24()
		cert := r.vec24()
		exts := r.vec16()
		rest := r.b
		exts = append(append([]byte(nil), exts...), raw...)
		entry := append([]byte{byte(len(cert) >> 16), byte(len(cert) >> 8), byte(len(cert))}, cert...)
		entry = append(entry, byte(len(exts)>>8), byte(len(exts)))
		entry = append(entry, exts...)
		list := append(entry, rest...)
		out := append([]byte{typeCertificate, 0, 0, 0, byte(len(ctx))}, ctx...)
		out = append(out, byte(len(list)>>16), byte(len(list)>>8), byte(len(list)))
		return fixLen(append(out, list...))
	}
}

// tail appends bytes to a message (they land in the same record).
func tail(extra ...byte) func(m []byte) []byte {
	return func(m []byte) []byte { return append(m, extra...) }
}

// withRecords replaces each queued record of type typ by the records f returns.
func withRecords(typ byte, f func(data []byte) []testRecord) script {
	return func(t byte, data []byte) []testRecord {
		if t != typ {
			return []testRecord{{typ: t, data: data}}
		}
		return f(data)
	}
}

var keyUpdateMsg = []byte{typeKeyUpdate, 0, 0, 1, 0}

// hcase is one rule: the dut's role and version, config tweaks, the hostile script, what happens
// after the handshake, and the alert the dut must send (0: none; check runs instead).
type hcase struct {
	name      string
	rule      string
	client    bool
	v12       bool
	dut, peer func(c *Config)
	script    script
	pre       func(h *hostile) // before the first round (h.raw follows the peer's first flight)
	post      func(h *hostile)
	want      uint8
	check     func(t *testing.T, h *hostile)
}

func runHostile(t *testing.T, cases []hcase) {
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := newHostile(t, tc.client, tc.v12, tc.dut, tc.peer, tc.script)
			if tc.pre != nil {
				tc.pre(h)
			}
			h.run()
			if tc.post != nil {
				h.established()
				tc.post(h)
			}
			if tc.want != 0 {
				h.expect(tc.want)
				return
			}
			if tc.check != nil {
				tc.check(t, h)
			} else {
				h.established()
				h.checkCCSFirst()
			}
		})
	}
}

// repeat sends n records of type typ (sealed with the peer's keys) after the handshake.
func repeat(n int, typ byte, data []byte) func(h *hostile) {
	return func(h *hostile) {
		for i := 0; i < n && h.dutErr == nil; i++ {
			h.send(typ, data)
		}
	}
}

// plainRec is a record in the clear.
func plainRec(typ byte, body ...byte) []byte {
	return append([]byte{typ, 3, 3, byte(len(body) >> 8), byte(len(body))}, body...)
}

func certMsg(chain [][]byte) []byte {
	var list []byte
	for _, c := range chain {
		list = append(list, byte(len(c)>>16), byte(len(c)>>8), byte(len(c)))
		list = append(list, c...)
		list = append(list, 0, 0)
	}
	m := []byte{typeCertificate, 0, 0, 0, 0, byte(len(list) >> 16), byte(len(list) >> 8), byte(len(list))}
	return fixLen(append(m, list...))
}

var _ = bytes.Equal

// setHooks gives c test hooks of its own (a copy of any it had, so that a Config copied from
// another never changes the other's) and returns them for setting.
func (c *Config) setHooks() *testHooks {
	h := new(testHooks)
	if c.test != nil {
		*h = *c.test
	}
	c.test = h
	return h
}
