package ppp

import (
	"testing"
	"time"
)

// FuzzDeframe feeds arbitrary line bytes to the deframer and to links in
// several phases. Every frame reported good must carry a valid FCS and fit
// the buffer; nothing may panic; IP is delivered only when IPCP is up.
func FuzzDeframe(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		d := deframer{buf: make([]byte, 300), accm: 0xffffffff}
		for in := data; len(in) > 0; {
			n, r := d.next(in)
			if n <= 0 || n > len(in) {
				t.Fatalf("consumed %d of %d", n, len(in))
			}
			in = in[n:]
			if r == rxFrame {
				fr := d.frame()
				if len(fr) < 2 || len(fr) > 298 || FCS16(fcs16Init, d.buf[:len(fr)+2]) != fcs16Good {
					t.Fatalf("bad frame accepted: % x", fr)
				}
			}
		}
		// A fresh link, an opened one, and one that is fully up.
		l := New(Config{MRU: 128})
		l.Input(data, testNow)
		l.Open(testNow)
		l.Input(data, testNow)
		drain(l)
		up := fuzzUpLink(t)
		up.Input(data, testNow)
		drain(up)
		up.Poll(testNow.Add(time.Minute))
		drain(up)
		// The same input in pieces, shed between every piece.
		sh := fuzzUpLink(t)
		for in := data; len(in) > 0; {
			k := min(1+int(in[0]%16), len(in))
			sh.Input(in[:k], testNow)
			in = in[k:]
			sh.Shed()
			drain(sh)
			sh.Shed()
		}
	})
}

// drain takes everything the link has to send and checks it deframes cleanly.
func drain(l *Link) {
	var buf [512]byte
	d := deframer{buf: make([]byte, 2000), accm: 0}
	for i := 0; i < 1000; i++ {
		n := l.Output(buf[:], testNow)
		if n == 0 {
			return
		}
		for in := buf[:n]; len(in) > 0; {
			m, r := d.next(in)
			in = in[m:]
			if r != rxMore && r != rxFrame {
				panic("link sent a bad frame")
			}
		}
	}
	panic("link never stops sending")
}

// scriptLink brings a card-role link through LCP with a scripted peer
// whose Configure-Request carries peerOpts (hex). It returns the link in
// the Authentication or Network phase.
func scriptLink(t testing.TB, cfg Config, peerOpts string) *Link {
	l := New(cfg)
	l.Open(testNow)
	ackOwn(t, l, ProtoLCP)
	opts := unhex(peerOpts)
	pkt := append([]byte{0xff, 0x03, 0xc0, 0x21, codeConfReq, 0x77, 0, byte(4 + len(opts))}, opts...)
	l.Input(encodeFrame(pkt, 0xffffffff), testNow)
	if l.lcp.state != Opened {
		t.Fatalf("scripted LCP %v", l.lcp.state)
	}
	return l
}

// ackOwn acknowledges the link's pending Configure-Request of proto.
func ackOwn(t testing.TB, l *Link, proto uint16) {
	var buf [1024]byte
	d := deframer{buf: make([]byte, 2000), accm: 0}
	n := l.Output(buf[:], testNow)
	for in := buf[:n]; len(in) > 0; {
		m, r := d.next(in)
		in = in[m:]
		if r != rxFrame {
			continue
		}
		fr := d.frame()
		if len(fr) >= 2 && fr[0] == 0xff {
			fr = fr[2:]
		}
		var p uint16
		if fr[0]&1 != 0 {
			p, fr = uint16(fr[0]), fr[1:]
		} else {
			p, fr = uint16(fr[0])<<8|uint16(fr[1]), fr[2:]
		}
		if p == proto && fr[0] == codeConfReq {
			ack := append([]byte{0xff, 0x03, byte(proto >> 8), byte(proto)}, fr...)
			ack[4] = codeConfAck
			l.Input(encodeFrame(ack, 0xffffffff), testNow)
			return
		}
	}
	t.Fatalf("no Configure-Request of %04x", proto)
}

// fuzzUpLink returns a card link with LCP and IPCP Opened.
func fuzzUpLink(t testing.TB) *Link {
	l := scriptLink(t, Config{EchoInterval: time.Second}, "020600000000050601020304")
	ackOwn(t, l, ProtoIPCP)
	l.Input(encodeFrame(unhex("ff038021010100"+"0a"+"03060a000202"), 0xffffffff), testNow)
	if !l.Up() {
		t.Fatal("scripted link not up")
	}
	drain(l)
	return l
}

// fuzzControl injects data as one packet of proto into links in the phases
// where it is parsed, then checks the links keep working.
func fuzzControl(t *testing.T, proto uint16, data []byte) {
	frame := append([]byte{0xff, 0x03, byte(proto >> 8), byte(proto)}, data...)
	wire := encodeFrame(frame, 0xffffffff)
	// Fully up (LCP and IPCP Opened).
	l := fuzzUpLink(t)
	l.Input(wire, testNow)
	drain(l)
	l.Poll(testNow.Add(10 * time.Second))
	drain(l)
	// Negotiating: LCP in Req-Sent.
	l = New(Config{})
	l.Open(testNow)
	drain(l)
	l.Input(wire, testNow)
	drain(l)
	// Authentication phase, both directions, PAP and CHAP.
	for _, c := range []struct {
		req  Auth
		opts string
	}{{AuthPAP, "0304c023"}, {AuthCHAP, "0305c22305"}} {
		l = scriptLink(t, Config{RequireAuth: c.req, User: "card", Secret: "pw",
			Secrets: secrets(map[string]string{"peer": "pw"})}, c.opts)
		drain(l)
		l.Input(wire, testNow)
		drain(l)
		l.Poll(testNow.Add(time.Minute))
		drain(l)
	}
}

var (
	seedSlirpLCP   = "01010012010405dc0506deadbeef07020802"
	seedPPPDLCP    = "010100120206000000000506a1b2c3d407020802"
	seedSlirpIPCP  = "010100100306000000000206002d0f01"
	seedCHAPChal   = "0101001c10101112131415161718191a1b1c1d1e1f756d6c00"
	seedCHAPResp   = "0201001510aacca27f54fb91502be69929e1f7613370"
	seedPAPRequest = "0101000c0470656572027077"
)

// FuzzLCP parses arbitrary LCP packets in every phase.
func FuzzLCP(f *testing.F) {
	for _, s := range []string{seedSlirpLCP, seedPPPDLCP, "09010008a1b2c3d4", "0702000801010004", "08030006802101"} {
		f.Add(unhex(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) { fuzzControl(t, ProtoLCP, data) })
}

// FuzzIPCP parses arbitrary IPCP packets.
func FuzzIPCP(f *testing.F) {
	for _, s := range []string{seedSlirpIPCP, "0300000a03060a00020f", "040100108106000000008306" + "00000000"} {
		f.Add(unhex(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) { fuzzControl(t, ProtoIPCP, data) })
}

// FuzzPAP parses arbitrary PAP packets.
func FuzzPAP(f *testing.F) {
	for _, s := range []string{seedPAPRequest, "0201000500", "030100080368690000"} {
		f.Add(unhex(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) { fuzzControl(t, ProtoPAP, data) })
}

// FuzzCHAP parses arbitrary CHAP packets.
func FuzzCHAP(f *testing.F) {
	for _, s := range []string{seedCHAPChal, seedCHAPResp, "03010004", "04010004"} {
		f.Add(unhex(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) { fuzzControl(t, ProtoCHAP, data) })
}

func TestFuzzSeedsParse(t *testing.T) {
	// The committed corpora run as part of go test; this checks the helpers.
	l := fuzzUpLink(t)
	if l.LocalIP() != [4]byte{} || l.PeerIP() != [4]byte{10, 0, 2, 2} {
		t.Errorf("scripted addresses %v %v", l.LocalIP(), l.PeerIP())
	}
}
