package ppp

import (
	"math"
	"slices"
	"strings"
	"testing"
	"time"
)

// stubHandler records the layer actions of an automaton under test.
type stubHandler struct {
	f    *fsm
	acts []string
}

// stubFSM returns a free-standing LCP automaton on l whose layer is stub
// (testOptHandler, reset when the test ends).
func stubFSM(t *testing.T, l *Link, stub *stubHandler) *fsm {
	testOptHandler = stub
	t.Cleanup(func() { testOptHandler = nil })
	return &fsm{l: l, proto: ProtoLCP}
}

func (s *stubHandler) resetCI()             {}
func (s *stubHandler) addCI(dst []byte) int { dst[0], dst[1] = 1, 2; return 2 }
func (s *stubHandler) checkCI(typ byte, val, nak []byte) (byte, int) {
	if typ == 99 {
		nak[0], nak[1] = 99, 2
		return codeConfNak, 2
	}
	return codeConfAck, 0
}
func (s *stubHandler) resetPeerCI()                {}
func (s *stubHandler) applyCI(byte, []byte)        {}
func (s *stubHandler) nakCI(byte, []byte)          {}
func (s *stubHandler) rejCI(byte)                  {}
func (s *stubHandler) catastrophic(code byte) bool { return code < 8 }
func (s *stubHandler) extCode(code, id byte, data []byte, now time.Time) bool {
	if code != codeEchoReq {
		return false
	}
	if s.f.state == Opened {
		s.f.l.ctrlBegin(ProtoLCP, codeEchoReply, id)
		s.f.l.ctrlCommit(0)
	}
	return true
}
func (s *stubHandler) up(time.Time)       { s.acts = append(s.acts, "tlu") }
func (s *stubHandler) down(time.Time)     { s.acts = append(s.acts, "tld") }
func (s *stubHandler) started(time.Time)  { s.acts = append(s.acts, "tls") }
func (s *stubHandler) finished(time.Time) { s.acts = append(s.acts, "tlf") }

// The state transition table of RFC 1661 section 4.1, transcribed. Cells are
// actions/new-state; "-" means the event cannot occur (nothing happens).
// irc/zrc are checked separately; the r, p and x flags are dropped.
var rfc1661Table = `
Up   |    2     irc,scr/6     -         -         -         -         -         -         -           -
Down |    -         -         0       tls/1       0         1         1         1         1         tld/1
Open |  tls/1       1     irc,scr/6     3r        5r        5r        6         7         8           9r
Close|    0       tlf/0       2         2         4         4     irc,str/4 irc,str/4 irc,str/4 tld,irc,str/4
TO+  |    -         -         -         -       str/4     str/5   scr/6     scr/6     scr/8         -
TO-  |    -         -         -         -       tlf/2     tlf/3   tlf/3p    tlf/3p    tlf/3p        -
RCR+ |    -         -       sta/2 irc,scr,sca/8   4         5       sca/8   sca,tlu/9   sca/8   tld,scr,sca/8
RCR- |    -         -       sta/2 irc,scr,scn/6   4         5       scn/6     scn/7     scn/6   tld,scr,scn/6
RCA  |    -         -       sta/2     sta/3       4         5       irc/7     scr/6x  irc,tlu/9   tld,scr/6x
RCN  |    -         -       sta/2     sta/3       4         5     irc,scr/6   scr/6x  irc,scr/8   tld,scr/6x
RTR  |    -         -       sta/2     sta/3     sta/4     sta/5     sta/6     sta/6     sta/6   tld,zrc,sta/5
RTA  |    -         -         2         3       tlf/2     tlf/3       6         6         8       tld,scr/6
RUC  |    -         -       scj/2     scj/3     scj/4     scj/5     scj/6     scj/7     scj/8       scj/9
RXJ+ |    -         -         2         3         4         5         6         6         8           9
RXJ- |    -         -       tlf/2     tlf/3     tlf/2     tlf/3     tlf/3     tlf/3     tlf/3   tld,irc,str/5
RXR  |    -         -         2         3         4         5         6         7         8         ser/9
`

var codeActs = map[byte]string{codeConfReq: "scr", codeConfAck: "sca", codeConfNak: "scn", codeConfRej: "scn",
	codeTermReq: "str", codeTermAck: "sta", codeCodeRej: "scj", codeEchoReply: "ser"}

func ctrlPacket(code, id byte, data ...byte) []byte {
	return append([]byte{code, id, 0, byte(4 + len(data))}, data...)
}

func TestAutomatonTable(t *testing.T) {
	for _, line := range strings.Split(strings.TrimSpace(rfc1661Table), "\n") {
		ev, cells, _ := strings.Cut(line, "|")
		ev = strings.TrimSpace(ev)
		for st, cell := range strings.Fields(cells) {
			l := New(Config{})
			stub := &stubHandler{}
			f := stubFSM(t, l, stub)
			stub.f = f
			f.state = State(st)
			f.restart = 5
			now := testNow
			// Our outstanding request, so that Ack/Nak match it.
			f.reqOpts = new([maxOptLen]byte)
			f.reqID, f.reqLive, f.reqLen = 9, true, uint8(stub.addCI(f.reqOpts[:]))
			switch ev {
			case "Up":
				f.up(now)
			case "Down":
				f.down(now)
			case "Open":
				f.open(now)
			case "Close":
				f.close(now)
			case "TO+":
				f.restart = 2
				f.timeout(now)
			case "TO-":
				f.restart = 0
				f.timeout(now)
			case "RCR+":
				f.input(ctrlPacket(codeConfReq, 1, 1, 2), now)
			case "RCR-":
				f.input(ctrlPacket(codeConfReq, 1, 99, 2), now)
			case "RCA":
				f.input(ctrlPacket(codeConfAck, 9, 1, 2), now)
			case "RCN":
				f.input(ctrlPacket(codeConfNak, 9, 1, 2), now)
			case "RTR":
				f.input(ctrlPacket(codeTermReq, 3), now)
			case "RTA":
				f.input(ctrlPacket(codeTermAck, 3), now)
			case "RUC":
				f.input(ctrlPacket(42, 3), now)
			case "RXJ+":
				f.input(ctrlPacket(codeCodeRej, 3, ctrlPacket(codeEchoReq, 1, 0, 0, 0, 0)...), now)
			case "RXJ-":
				f.input(ctrlPacket(codeCodeRej, 3, ctrlPacket(codeConfReq, 1)...), now)
			case "RXR":
				f.input(ctrlPacket(codeEchoReq, 3, 0, 0, 0, 0), now)
			}
			// Expected.
			want := State(st)
			var wantActs []string
			irc, zrc := false, false
			if cell != "-" {
				acts, ns, found := strings.Cut(cell, "/")
				if !found {
					acts, ns = "", cell
				}
				want = State(ns[0] - '0')
				for _, a := range strings.Split(acts, ",") {
					switch a {
					case "":
					case "irc":
						irc = true
					case "zrc":
						zrc = true
					default:
						wantActs = append(wantActs, a)
					}
				}
			}
			got := append([]string(nil), stub.acts...)
			for q := l.queued(); len(q) > 0; {
				n := int(q[0])<<8 | int(q[1])
				got = append(got, codeActs[q[4]])
				q = q[n:]
			}
			slices.Sort(got)
			slices.Sort(wantActs)
			name := ev + " in " + State(st).String()
			if f.state != want || !slices.Equal(got, wantActs) {
				t.Errorf("%s: state %v actions %v, want %v %v (cell %q)", name, f.state, got, want, wantActs, cell)
			}
			sent := slices.Contains(wantActs, "scr") || slices.Contains(wantActs, "str")
			if irc && slices.Contains(wantActs, "scr") && f.restart != maxConfigure-1 {
				t.Errorf("%s: restart counter %d after irc,scr", name, f.restart)
			}
			if irc && slices.Contains(wantActs, "str") && f.restart != maxTerminate-1 {
				t.Errorf("%s: restart counter %d after irc,str", name, f.restart)
			}
			if zrc && (f.restart != 0 || f.timer.IsZero()) {
				t.Errorf("%s: zrc: counter %d timer %v", name, f.restart, f.timer)
			}
			// The restart timer runs exactly in the states that need it.
			running := !f.timer.IsZero()
			needs := f.state == Closing || f.state == Stopping || f.state == ReqSent || f.state == AckRcvd || f.state == AckSent
			if sent && !running {
				t.Errorf("%s: timer not started", name)
			}
			if running && !needs {
				t.Errorf("%s: timer running in %v", name, f.state)
			}
		}
	}
}

// TestMaxFailure: a peer that never accepts our Nak gets a Reject after
// Max-Failure Naks, so negotiation converges.
func TestMaxFailure(t *testing.T) {
	l := New(Config{})
	stub := &stubHandler{}
	f := stubFSM(t, l, stub)
	stub.f = f
	f.state = ReqSent
	var codes []byte
	for i := 0; i < maxFailure+2; i++ {
		l.ctrlH, l.ctrlT = 0, 0
		f.input(ctrlPacket(codeConfReq, byte(i), 99, 2), testNow)
		codes = append(codes, l.ctrlq[4])
	}
	want := []byte{3, 3, 3, 3, 3, 4, 4}
	if !slices.Equal(codes, want) {
		t.Errorf("replies %v, want %v", codes, want)
	}
}

// TestNakBound: a peer that Naks forever makes us give up (like TO-).
func TestNakBound(t *testing.T) {
	l := New(Config{})
	stub := &stubHandler{}
	f := stubFSM(t, l, stub)
	stub.f = f
	f.open(testNow)
	f.up(testNow)
	for i := 0; i < 20 && f.state == ReqSent; i++ {
		f.input(ctrlPacket(codeConfNak, f.reqID, 1, 2), testNow)
	}
	if f.state != Stopped || !slices.Contains(stub.acts, "tlf") {
		t.Errorf("state %v acts %v", f.state, stub.acts)
	}
}

// TestCountersSaturate: the automaton's 8-bit counters stop at their
// bounds instead of wrapping. A peer sending 300 unacceptable requests
// gets Naks for the first Max-Failure, then Rejects for ever; restarts in Opened
// (scr without irc, RFC 1661 §4.1) leave the restart counter at 0, so a
// timeout is TO-.
func TestCountersSaturate(t *testing.T) {
	l := New(Config{})
	stub := &stubHandler{}
	f := stubFSM(t, l, stub)
	stub.f = f
	f.state = ReqSent
	for i := 0; i < 300; i++ {
		l.ctrlH, l.ctrlT = 0, 0
		f.input(ctrlPacket(codeConfReq, byte(i), 99, 2), testNow)
		want := byte(codeConfNak)
		if i >= maxFailure {
			want = codeConfRej
		}
		if l.ctrlq[4] != want {
			t.Fatalf("request %d: reply code %d, want %d", i, l.ctrlq[4], want)
		}
	}
	if f.failures != maxFailure {
		t.Errorf("failures %d after 300 requests, want %d", f.failures, maxFailure)
	}
	for i := 0; i < 300; i++ {
		l.ctrlH, l.ctrlT = 0, 0
		f.scr(testNow, false)
	}
	if f.restart != 0 {
		t.Errorf("restart %d after 300 requests, want 0", f.restart)
	}
	for i := 0; i < 300; i++ {
		sat8(&f.naksRcvd)
	}
	if f.naksRcvd != math.MaxInt8 {
		t.Errorf("naksRcvd %d, want %d", f.naksRcvd, math.MaxInt8)
	}
}
