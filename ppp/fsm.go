package ppp

import (
	"math"
	"time"
)

// State is a state of the RFC 1661 option negotiation automaton (section 4.2).
type State uint8

// The ten automaton states of RFC 1661.
const (
	Initial  State = iota // lower layer down, administratively closed
	Starting              // lower layer down, administratively open
	Closed                // lower layer up, administratively closed
	Stopped               // open, waiting for the peer after a failure or termination
	Closing               // Terminate-Request sent after an administrative Close
	Stopping              // Terminate-Request sent or received, still administratively open
	ReqSent               // Configure-Request sent
	AckRcvd               // Configure-Request sent and acknowledged
	AckSent               // Configure-Request sent, the peer's acknowledged
	Opened                // both requests acknowledged: the layer is up
)

var stateNames = [...]string{"Initial", "Starting", "Closed", "Stopped", "Closing", "Stopping", "Req-Sent", "Ack-Rcvd", "Ack-Sent", "Opened"}

func (s State) String() string {
	if int(s) < len(stateNames) {
		return stateNames[s]
	}
	return "State(?)"
}

// Control packet codes (RFC 1661 section 5).
const (
	codeConfReq   = 1
	codeConfAck   = 2
	codeConfNak   = 3
	codeConfRej   = 4
	codeTermReq   = 5
	codeTermAck   = 6
	codeCodeRej   = 7
	codeProtoRej  = 8
	codeEchoReq   = 9
	codeEchoReply = 10
	codeDiscard   = 11
)

// Automaton parameters (RFC 1661 section 4.6).
const (
	restartTime  = 3 * time.Second
	maxConfigure = 10
	maxTerminate = 2
	maxFailure   = 5
	maxOptLen    = 32 // room for our own Configure-Request options (LCP needs at most 25, IPCP 18) and for a Nak'd option
)

// optHandler is what parameterises the automaton for one control protocol:
// its configuration options and its layer actions.
type optHandler interface {
	// resetCI restores the options we want at the start of a negotiation.
	resetCI()
	// addCI writes our Configure-Request options into dst.
	addCI(dst []byte) int
	// checkCI judges one option of the peer's Configure-Request: codeConfAck,
	// codeConfNak (with the suggested option written into nak) or codeConfRej.
	checkCI(typ byte, val []byte, nak []byte) (verdict byte, n int)
	// resetPeerCI forgets the peer's options before an acknowledged request is applied.
	resetPeerCI()
	// applyCI records one option of a request we acknowledged.
	applyCI(typ byte, val []byte)
	// nakCI takes one option of a Configure-Nak of our request.
	nakCI(typ byte, val []byte)
	// rejCI stops sending a rejected option.
	rejCI(typ byte)
	// catastrophic reports whether a Code-Reject of code means the protocol cannot run.
	catastrophic(code byte) bool
	// extCode handles a code beyond Code-Reject; false makes it an unknown code.
	extCode(code, id byte, data []byte, now time.Time) bool

	up(now time.Time)       // this-layer-up
	down(now time.Time)     // this-layer-down
	started(now time.Time)  // this-layer-started
	finished(now time.Time) // this-layer-finished
}

// fsm is the option negotiation automaton of RFC 1661, shared by LCP and
// IPCP. Events are methods; actions send through the link's control queue.
type fsm struct {
	l       *Link
	reqOpts *[maxOptLen]byte // our outstanding Configure-Request's options: lent while reqLive (see Link.Shed)
	timer   deadline         // restart timer deadline; zero when stopped
	// The counters in 8 bits (the fsm is 40 bytes, not 48): each is
	// compared with a bound of at most maxConfigure, and saturates
	// (sat8) instead of wrapping; reqLen ≤ maxOptLen.
	restart  int8 // restart counter; stops at 0 (only restart > 0 is asked)
	failures int8 // Configure-Naks sent since the last Configure-Ack (Max-Failure)
	naksRcvd int8 // Configure-Naks/Rejects received without reaching Opened
	reqLen   uint8
	proto    uint16
	state    State
	reqID    uint8 // identifier of our outstanding Configure-Request
	reqLive  bool  // a reply to reqID is still acceptable
	nextID   uint8
	termID   uint8
}

// handler returns the automaton's option handler: the link's LCP, IPCP or
// IPV6CP code, by which of the link's automata f is (an automaton holds no
// interface value: 16 bytes less each). A free-standing automaton, which
// only this package's tests build, uses testOptHandler.
func (f *fsm) handler() optHandler {
	l := f.l
	switch {
	case f == &l.lcp:
		return (*lcpHandler)(l)
	case f == &l.ipcp:
		return (*ipcpHandler)(l)
	case l.v6 != nil && f == &l.v6.fsm:
		return (*ipv6cpHandler)(l)
	}
	return testOptHandler
}

// testOptHandler is the option handler of free-standing automata (set by
// this package's tests only; nil otherwise).
var testOptHandler optHandler

// sat8 adds one to a counter unless it is at its largest: a peer that
// refuses for ever leaves it there, not wrapped to a negative count.
func sat8(c *int8) {
	if *c < math.MaxInt8 {
		*c++
	}
}

// tick8 counts a restart down to 0, where it stays (TO+ asks restart > 0;
// RFC 1661 §4.1 lets scr run without irc in Opened).
func tick8(c *int8) {
	if *c > 0 {
		*c--
	}
}

// shedReq drops the options of a request no reply can match any more and
// returns the bytes released.
func (f *fsm) shedReq() int {
	if f.reqOpts == nil || f.reqLive {
		return 0
	}
	f.reqOpts = nil
	return maxOptLen
}

func (f *fsm) setState(s State) {
	f.state = s
	switch s {
	case Closing, Stopping, ReqSent, AckRcvd, AckSent:
	default:
		f.timer = 0
	}
}

// startNeg begins a fresh negotiation: our wanted options, counters reset.
func (f *fsm) startNeg() {
	f.naksRcvd, f.failures = 0, 0
	f.handler().resetCI()
}

// --- actions ---

func (f *fsm) irc(term bool) {
	if term {
		f.restart = maxTerminate
	} else {
		f.restart = maxConfigure
	}
}

func (f *fsm) zrc(now time.Time) {
	f.restart = 0
	f.timer = at(now.Add(restartTime))
}

// scr sends a Configure-Request; a retransmission keeps the identifier.
func (f *fsm) scr(now time.Time, retransmit bool) {
	if !retransmit || !f.reqLive {
		f.reqID = f.nextID
		f.nextID++
	}
	if f.reqOpts == nil {
		f.reqOpts = new([maxOptLen]byte) // lent while reqLive (see Link.Shed)
	}
	f.reqLen = uint8(f.handler().addCI(f.reqOpts[:]))
	f.reqLive = true
	if d := f.l.ctrlBegin(f.proto, codeConfReq, f.reqID); d != nil && len(d) >= int(f.reqLen) {
		f.l.ctrlCommit(copy(d, f.reqOpts[:f.reqLen]))
	}
	tick8(&f.restart)
	f.timer = at(now.Add(restartTime))
}

func (f *fsm) str(now time.Time) {
	f.termID = f.nextID
	f.nextID++
	if f.l.ctrlBegin(f.proto, codeTermReq, f.termID) != nil {
		f.l.ctrlCommit(0)
	}
	tick8(&f.restart)
	f.timer = at(now.Add(restartTime))
}

func (f *fsm) sta(id byte) {
	if f.l.ctrlBegin(f.proto, codeTermAck, id) != nil {
		f.l.ctrlCommit(0)
	}
}

// scj sends a Code-Reject carrying the rejected packet (truncated to fit).
func (f *fsm) scj(pkt []byte) {
	id := f.nextID
	f.nextID++
	if d := f.l.ctrlBegin(f.proto, codeCodeRej, id); d != nil {
		f.l.ctrlCommit(copy(d, pkt))
	}
}

// --- events ---

func (f *fsm) up(now time.Time) {
	switch f.state {
	case Initial:
		f.setState(Closed)
	case Starting:
		f.startNeg()
		f.irc(false)
		f.scr(now, false)
		f.setState(ReqSent)
	}
}

func (f *fsm) down(now time.Time) {
	switch f.state {
	case Closed, Closing:
		f.setState(Initial)
	case Stopped:
		f.setState(Starting)
		f.handler().started(now)
	case Stopping, ReqSent, AckRcvd, AckSent:
		f.setState(Starting)
	case Opened:
		f.setState(Starting)
		f.handler().down(now)
	}
}

func (f *fsm) open(now time.Time) {
	switch f.state {
	case Initial:
		f.setState(Starting)
		f.handler().started(now)
	case Closed:
		f.startNeg()
		f.irc(false)
		f.scr(now, false)
		f.setState(ReqSent)
	case Closing:
		f.setState(Stopping)
	}
}

func (f *fsm) close(now time.Time) {
	switch f.state {
	case Starting:
		f.setState(Initial)
		f.handler().finished(now)
	case Stopped:
		f.setState(Closed)
	case Stopping:
		f.setState(Closing)
	case ReqSent, AckRcvd, AckSent:
		f.irc(true)
		f.str(now)
		f.setState(Closing)
	case Opened:
		f.setState(Closing) // before tld, so the upper layers see the link going
		f.handler().down(now)
		f.irc(true)
		f.str(now)
	}
}

// timeout is the TO event; poll calls it when the restart timer expires.
func (f *fsm) timeout(now time.Time) {
	f.timer = 0
	if f.restart > 0 { // TO+
		switch f.state {
		case Closing, Stopping:
			f.str(now)
		case ReqSent, AckRcvd:
			f.scr(now, true)
			f.setState(ReqSent)
		case AckSent:
			f.scr(now, true)
		}
		return
	}
	switch f.state { // TO-
	case Closing:
		f.setState(Closed)
		f.handler().finished(now)
	case Stopping, ReqSent, AckRcvd, AckSent:
		f.setState(Stopped)
		f.handler().finished(now)
	}
}

// poll runs the restart timer.
func (f *fsm) poll(now time.Time) {
	if f.timer.due(now) {
		f.timeout(now)
	}
}

// input handles one received control packet (code, identifier, data after
// the length field); pkt is the whole packet for Code-Reject.
func (f *fsm) input(pkt []byte, now time.Time) {
	if len(pkt) < 4 {
		return
	}
	code, id := pkt[0], pkt[1]
	n := int(pkt[2])<<8 | int(pkt[3])
	if n < 4 || n > len(pkt) {
		return // malformed: silently discarded
	}
	pkt = pkt[:n] // octets past Length are padding
	data := pkt[4:]
	if f.state == Initial || f.state == Starting {
		return // lower layer not up: nothing can arrive
	}
	switch code {
	case codeConfReq:
		f.rcr(id, data, now)
	case codeConfAck:
		f.rca(id, data, now)
	case codeConfNak, codeConfRej:
		f.rcn(code, id, data, now)
	case codeTermReq:
		f.rtr(id, now)
	case codeTermAck:
		f.rta(now)
	case codeCodeRej:
		f.l.stats.CodeRejectsRecv++
		if len(data) > 0 && f.handler().catastrophic(data[0]) {
			f.rxjMinus(now)
		} else if f.state == AckRcvd { // RXJ+
			f.setState(ReqSent)
		}
	default:
		if !f.handler().extCode(code, id, data, now) {
			f.scj(pkt) // RUC; the state does not change
		}
	}
}

// parseOpts walks options; it reports false if they are malformed.
func walkOpts(opts []byte, fn func(typ byte, val, whole []byte)) bool {
	for len(opts) > 0 {
		if len(opts) < 2 || opts[1] < 2 || int(opts[1]) > len(opts) {
			return false
		}
		n := int(opts[1])
		if fn != nil {
			fn(opts[0], opts[2:n], opts[:n])
		}
		opts = opts[n:]
	}
	return true
}

// verdict judges one option of a peer's request, applying Max-Failure.
func (f *fsm) verdict(typ byte, val []byte) (byte, int) {
	if f.l.optScratch == nil {
		f.l.optScratch = new([maxOptLen]byte) // lent (see Link.Shed)
	}
	v, n := f.handler().checkCI(typ, val, f.l.optScratch[:])
	if v == codeConfNak && (f.failures >= maxFailure || n < 2 || n > len(f.l.optScratch)) {
		v = codeConfRej
	}
	return v, n
}

// rcr handles a Configure-Request: RCR+ if every option is acceptable.
func (f *fsm) rcr(id byte, opts []byte, now time.Time) {
	switch f.state {
	case Closed:
		f.sta(id)
		return
	case Closing, Stopping:
		return
	}
	// First pass: the worst verdict.
	worst := byte(codeConfAck)
	var ok = true
	for o := opts; len(o) > 0; {
		if len(o) < 2 || o[1] < 2 || int(o[1]) > len(o) {
			ok = false
			break
		}
		v, _ := f.verdict(o[0], o[2:o[1]])
		if v > worst {
			worst = v
		}
		o = o[o[1]:]
	}
	if !ok {
		return // malformed request: silently discarded
	}
	good := worst == codeConfAck
	// Transitions that send our own request first.
	switch f.state {
	case Stopped:
		f.startNeg()
		f.irc(false)
		f.scr(now, false)
	case Opened:
		f.handler().down(now)
		f.naksRcvd = 0
		f.irc(false)
		f.scr(now, false)
	}
	// Second pass: the reply.
	if d := f.l.ctrlBegin(f.proto, worst, id); d != nil {
		w := 0
		for o := opts; len(o) > 0; o = o[o[1]:] {
			v, n := f.verdict(o[0], o[2:o[1]])
			if v != worst {
				continue
			}
			src := o[:o[1]]
			if v == codeConfNak {
				src = f.l.optScratch[:n]
			}
			if w+len(src) > len(d) {
				if worst == codeConfAck {
					// An Ack must repeat the whole request: send none
					// rather than a truncated one.
					w = -1
				}
				break
			}
			w += copy(d[w:], src)
		}
		if w < 0 {
			f.l.ctrlAbort()
			f.l.stats.CtrlDropped++
		} else {
			f.l.ctrlCommit(w)
		}
	}
	if good {
		f.failures = 0
		f.handler().resetPeerCI()
		walkOpts(opts, func(typ byte, val, _ []byte) { f.handler().applyCI(typ, val) })
	} else if worst == codeConfNak {
		sat8(&f.failures)
	}
	switch f.state {
	case Stopped, ReqSent, AckSent, Opened:
		if good {
			f.setState(AckSent)
		} else {
			f.setState(ReqSent)
		}
	case AckRcvd:
		if good {
			f.setState(Opened)
			f.naksRcvd = 0
			f.handler().up(now)
		}
	}
}

// rca handles a Configure-Ack; it must echo our request exactly.
func (f *fsm) rca(id byte, opts []byte, now time.Time) {
	switch f.state {
	case Closed, Stopped:
		f.sta(id)
		return
	case Closing, Stopping:
		return
	}
	if !f.reqLive || id != f.reqID || string(opts) != string(f.reqOpts[:f.reqLen]) {
		return // not a reply to our current request
	}
	f.reqLive = false
	switch f.state {
	case ReqSent:
		f.irc(false)
		f.setState(AckRcvd)
	case AckRcvd: // crossed connection
		f.scr(now, false)
		f.setState(ReqSent)
	case AckSent:
		f.irc(false)
		f.setState(Opened)
		f.naksRcvd = 0
		f.handler().up(now)
	case Opened:
		f.handler().down(now)
		f.scr(now, false)
		f.setState(ReqSent)
	}
}

// rcn handles a Configure-Nak or Configure-Reject of our request.
func (f *fsm) rcn(code, id byte, opts []byte, now time.Time) {
	switch f.state {
	case Closed, Stopped:
		f.sta(id)
		return
	case Closing, Stopping:
		return
	}
	if !f.reqLive || id != f.reqID {
		return
	}
	if !walkOpts(opts, nil) {
		return
	}
	if code == codeConfRej {
		// The rejected options must be ones we sent, unmodified.
		ok := true
		walkOpts(opts, func(_ byte, _, whole []byte) {
			if !containsOpt(f.reqOpts[:f.reqLen], whole) {
				ok = false
			}
		})
		if !ok {
			return
		}
		walkOpts(opts, func(typ byte, _, _ []byte) { f.handler().rejCI(typ) })
	} else {
		walkOpts(opts, func(typ byte, val, _ []byte) { f.handler().nakCI(typ, val) })
	}
	f.reqLive = false
	sat8(&f.naksRcvd)
	if f.naksRcvd > maxConfigure && f.state != Opened {
		// The peer keeps refusing what we can live with: give up like TO-.
		f.setState(Stopped)
		f.handler().finished(now)
		return
	}
	switch f.state {
	case ReqSent:
		f.irc(false)
		f.scr(now, false)
	case AckRcvd:
		f.scr(now, false)
		f.setState(ReqSent)
	case AckSent:
		f.irc(false)
		f.scr(now, false)
	case Opened:
		f.handler().down(now)
		f.scr(now, false)
		f.setState(ReqSent)
	}
}

func containsOpt(opts, o []byte) bool {
	for len(opts) >= 2 && int(opts[1]) >= 2 && int(opts[1]) <= len(opts) {
		if string(opts[:opts[1]]) == string(o) {
			return true
		}
		opts = opts[opts[1]:]
	}
	return false
}

func (f *fsm) rtr(id byte, now time.Time) {
	switch f.state {
	case Closed, Stopped, Closing, Stopping:
		f.sta(id)
	case ReqSent, AckRcvd, AckSent:
		f.sta(id)
		f.setState(ReqSent)
	case Opened:
		f.setState(Stopping)
		f.handler().down(now)
		f.zrc(now)
		f.sta(id)
	}
}

func (f *fsm) rta(now time.Time) {
	switch f.state {
	case Closing:
		f.setState(Closed)
		f.handler().finished(now)
	case Stopping:
		f.setState(Stopped)
		f.handler().finished(now)
	case AckRcvd:
		f.setState(ReqSent)
	case Opened:
		f.handler().down(now)
		f.scr(now, false)
		f.setState(ReqSent)
	}
}

// rxjMinus is the RXJ- event: the peer rejected something we cannot do without.
func (f *fsm) rxjMinus(now time.Time) {
	switch f.state {
	case Closed, Closing:
		f.setState(Closed)
		f.handler().finished(now)
	case Stopped, Stopping, ReqSent, AckRcvd, AckSent:
		f.setState(Stopped)
		f.handler().finished(now)
	case Opened:
		f.setState(Stopping)
		f.handler().down(now)
		f.irc(true)
		f.str(now)
	}
}
