// Package ppp is the Point-to-Point Protocol for the card's serial line and
// for the host side of it: HDLC-like framing (RFC 1662) with ACCM, FCS-16
// and address/control and protocol field compression; the option negotiation
// automaton of RFC 1661 shared by LCP and IPCP (RFC 1332, with the DNS
// options of RFC 1877); PAP (RFC 1334) and CHAP-MD5 (RFC 1994) in both
// directions; Echo keepalive with dead-peer detection and re-establishment.
//
// A Link is event driven and owns no goroutines: feed it line bytes with
// Input, take line bytes with Output, run its timers with Poll. New
// allocates the Link and, with Config.VJSlots, the VJ tables (VJRAM); its
// buffers (two frame buffers of MRU+8 octets, the receive one with VJ
// headroom, a 256-octet control queue, a 32-octet option scratch, and 32
// octets per automaton for its Configure-Request's options while a reply
// can match them: RAM) are lent on first use at exactly that size and
// dropped by Shed while they hold nothing. Nothing is allocated per frame: a burst after a Shed lends
// each buffer once.
//
// Behaviour worth knowing:
//   - Octets outside flag-delimited frames (a modem or slirp banner) are
//     skipped; bad-FCS, runt, oversize and aborted frames are counted in
//     Stats and dropped.
//   - Control packets (LCP, IPCP, PAP, CHAP) are sent before IPv4; an IPv4
//     packet is pulled with Config.PullIP only when the frame buffer is free
//     and IPCP is Opened. A frame may span Output calls.
//   - LCP configuration packets always go out with the default ACCM and the
//     full address/control and protocol fields; other frames use the
//     negotiated ACCM, ACFC and PFC.
//   - Van Jacobson TCP/IP header compression (RFC 1144) is negotiated in
//     both directions when Config.VJSlots > 0 (see vj.go): the peer's
//     request is accepted and ours made with Max-Slot-Id VJSlots-1.
//   - Protocols we do not run (CCP, IPV6CP, VJ-compressed TCP when we did
//     not ask for it, ...) get an LCP Protocol-Reject; unknown codes a
//     Code-Reject; unknown IPCP or LCP options a Configure-Reject.
//   - While administratively open the link persists like pppd's "persist":
//     when LCP finishes (Max-Configure, peer Terminate, dead peer, failed
//     authentication, loopback) it is re-tried after a hold-off (3 s, 30 s
//     after an authentication failure), and a returning peer's
//     Configure-Request is answered at once.
//   - The 32-bit FCS is implemented in the framer but not negotiated
//     (RFC 1570 is not supported by pppd or Linux): the Link uses FCS-16.
package ppp

import (
	"io"
	"math"
	"sync/atomic"
	"time"
	"unsafe"

	"netcard/internal/count"
)

// PPP protocol numbers.
const (
	ProtoIP   = 0x0021 // Internet Protocol version 4 (VJ: ProtoVJComp, ProtoVJUncomp)
	ProtoIPCP = 0x8021 // IP Control Protocol (RFC 1332)
	ProtoLCP  = 0xc021 // Link Control Protocol (RFC 1661)
	ProtoPAP  = 0xc023 // Password Authentication Protocol (RFC 1334)
	ProtoCHAP = 0xc223 // Challenge Handshake Authentication Protocol (RFC 1994)
)

// Auth is an authentication protocol demanded of the peer.
type Auth uint8

// Authentication protocols.
const (
	AuthNone Auth = iota // no authentication
	AuthPAP              // Password Authentication Protocol
	AuthCHAP             // CHAP with MD5
)

func (a Auth) String() string {
	switch a {
	case AuthNone:
		return "none"
	case AuthPAP:
		return "PAP"
	case AuthCHAP:
		return "CHAP-MD5"
	}
	return "Auth(?)"
}

// Event reports a change of the link, for logging and for the layers above.
type Event uint8

// Link events.
const (
	EventLCPUp          Event = iota + 1 // LCP reached Opened
	EventLCPDown                         // LCP left Opened
	EventLCPFinished                     // LCP gave up or terminated; the link will be re-tried
	EventAuthOK                          // the peer accepted our credentials
	EventAuthFailed                      // the peer refused our credentials, or we had none to give
	EventPeerAuthOK                      // the peer authenticated itself to us
	EventPeerAuthFailed                  // the peer failed, refused or did not complete our authentication
	EventIPCPUp                          // IPCP reached Opened: Up() is true
	EventIPCPDown                        // IPCP left Opened
	EventEchoTimeout                     // EchoFailure Echo-Requests went unanswered: the peer is gone
	EventLoopback                        // our own Magic-Number came back: the line is looped
	EventTerminated                      // the peer sent a Terminate-Request
	EventIPV6CPUp                        // IPV6CP reached Opened: Up6() is true
	EventIPV6CPDown                      // IPV6CP left Opened
)

var eventNames = [...]string{"?", "LCP up", "LCP down", "LCP finished", "auth ok", "auth failed",
	"peer auth ok", "peer auth failed", "IPCP up", "IPCP down", "echo timeout", "loopback", "terminated by peer",
	"IPV6CP up", "IPV6CP down"}

func (e Event) String() string {
	if int(e) < len(eventNames) {
		return eventNames[e]
	}
	return "Event(?)"
}

// Config configures a Link. The zero value (plus Rand and the callbacks) is
// a card: MRU 1500, ACCM 0 requested, asks the peer for its address and DNS
// servers, no authentication demanded, active open.
type Config struct {
	Host        bool       // host role: assigns PeerIP, offers DNS; card role otherwise
	MRU         int        // our MRU (default 1500; 64..65535); also the largest frame we send
	ACCM        uint32     // receive ACCM we ask for (default 0)
	LocalIP     [4]byte    // 0.0.0.0 = ask the peer (take its Nak)
	PeerIP      [4]byte    // address to assign the peer (0 = none; card role: PlaceholderPeerIP if it asks)
	DNS         [2][4]byte // host role: offered via RFC 1877; card role: ignored (learned, see DNS)
	RequireAuth Auth       // AuthNone, AuthPAP, AuthCHAP: what we demand of the peer
	// Secrets looks up a peer's secret when we authenticate it.
	Secrets func(user string) (secret string, ok bool)
	// User and Secret are our credentials when the peer demands
	// authentication; User is also our CHAP name (default "netcard").
	User, Secret string
	// EchoInterval > 0 sends an LCP Echo-Request that often while LCP is
	// open; after EchoFailure (default 3) unanswered in a row the peer is
	// declared dead and the link is renegotiated. 0 disables keepalive.
	EchoInterval time.Duration
	EchoFailure  int
	// RenegotiateHold damps LCP renegotiation: a Configure-Request that
	// arrives while LCP is Opened, less than RenegotiateHold after LCP
	// (re)opened, is silently discarded instead of restarting the link
	// (RFC 1661's RCR event in Opened). A storm of Configure-Requests then
	// costs one renegotiation per RenegotiateHold, not one per frame, and
	// the link stays Opened most of the time; a peer that really restarted
	// retransmits its request after its restart timer (3 s) and is
	// answered then. Zero: DefaultRenegotiateHold; negative: no damping
	// (strict RFC 1661).
	RenegotiateHold time.Duration
	// VJSlots > 0 negotiates Van Jacobson TCP/IP header compression
	// (RFC 1144; IPCP option 2, RFC 1332 §3.2) in both directions, keeping
	// VJSlots connection states each way (at most MaxVJSlots): we compress
	// with at most VJSlots of the slots the peer offers, and offer it
	// MaxVJSlots slot ids (Max-Slot-Id 15, as pppd and slirp do), binding
	// them to our VJSlots states as they are used. The tables are
	// allocated in New (VJRAM bytes). 0: no compression; the peer's
	// request is rejected.
	VJSlots int
	// Rand supplies Magic-Numbers and CHAP challenges. If nil, a fixed-seed
	// generator is used: fine for tests, not for CHAP as authenticator.
	Rand io.Reader

	// The callbacks run inside Input, Output and Poll and must not call
	// back into the Link.
	DeliverIP func(pkt []byte)     // an IPv4 packet arrived (aliases the rx frame)
	PullIP    func(dst []byte) int // write the next IPv4 packet to send into dst; 0 = none
	// PendingIP, when set, reports whether PullIP has a packet to give. It
	// is asked only while the transmit buffer is shed (Shed), so that an
	// idle Output does not lend a frame buffer just to find nothing to
	// send; nil: the buffer is lent to ask PullIP and given back at once
	// when PullIP has nothing (one allocation per such Output). It must
	// not be false while PullIP has a packet.
	PendingIP func() bool
	Tap       func(sent bool, frame []byte) // every good frame, unescaped, no FCS (pcap)

	// IPv6, when set, runs IPV6CP (RFC 5072) beside IPCP; nil: IPV6CP
	// gets a Protocol-Reject. IPv6 packets (protocol 0x0057) then go
	// through DeliverIP and PullIP too: the version nibble tells them
	// apart (a packet PullIP writes with version 6 is sent as IPv6).
	IPv6  *IPv6Config
	Event func(e Event) // LCP/IPCP up/down, auth result, for logging

	// Upper, when set, is the layer above as one interface and replaces
	// DeliverIP, PullIP, PendingIP and Event (ignored then): a card passes
	// itself, where four method values would cost a 16-byte closure each.
	Upper Upper
}

// Upper is the layer above a Link: the callbacks of Config (DeliverIP,
// PullIP, PendingIP, Event; same rules) as methods of one value.
type Upper interface {
	DeliverIP(pkt []byte)
	PullIP(dst []byte) int
	PendingIP() bool
	Event(e Event)
}

// funcUpper is the Upper of a link configured with Config's callbacks.
type funcUpper struct {
	deliver func(pkt []byte)
	pull    func(dst []byte) int
	pending func() bool
	event   func(e Event)
}

func (u *funcUpper) DeliverIP(p []byte) {
	if u.deliver != nil {
		u.deliver(p)
	}
}
func (u *funcUpper) PullIP(dst []byte) int { return u.pull(dst) } // only called when set (linkParams.pull)
func (u *funcUpper) PendingIP() bool       { return u.pending() } // only called when set (linkParams.pending)
func (u *funcUpper) Event(e Event) {
	if u.event != nil {
		u.event(e)
	}
}

// Stats are the link's counters and states.
type Stats struct {
	FramesIn, FramesOut uint64 // good frames received, frames sent
	BytesIn, BytesOut   uint64 // line octets (escaped, flags included)
	IPIn, IPOut         uint64 // IPv4 packets delivered, sent
	BadFCS              uint64 // frames dropped for a bad FCS
	Runts               uint64 // frames too short for a protocol and an FCS
	Oversize            uint64 // frames longer than MRU + headers
	Aborts              uint64 // frames aborted by 7d 7e
	BadHeader           uint64 // good FCS, bad address/control/protocol field
	Discarded           uint64 // good frames for a protocol not running in this phase
	ProtoRejectsSent    uint64 // LCP Protocol-Rejects sent
	CodeRejectsRecv     uint64 // Code-Rejects received
	ProtoRejectsRecv    uint64 // Protocol-Rejects received
	EchoSent            uint64 // Echo-Requests sent
	EchoRecv            uint64 // Echo-Replies received
	EchoReqRecv         uint64 // Echo-Requests received (and answered)
	CtrlDropped         uint64 // control packets dropped for want of queue space
	ConfReqDamped       uint64 // LCP Configure-Requests discarded in Opened (Config.RenegotiateHold)
	LCPOpens            uint64 // times LCP reached Opened
	IPCPOpens           uint64 // times IPCP reached Opened
	LCPState, IPCPState State
}

// stats32 is what a Link keeps of its Stats: the line octet counts in 64
// bits (2^32 octets cross a 12 Mbit/s line in 48 minutes), the other
// counters in 32 (they wrap after 2^32 frames or events; a reader sampling
// them often enough sees every increment, deltas modulo 2^32): 96 bytes,
// not 184, and the Link fits the allocator's 512-byte class (with the
// other cuts: TestLinkSize) instead of
// 768. Stats widens them and adds the automata's states.
type stats32 struct {
	BytesIn, BytesOut uint64
	FramesIn          uint32
	FramesOut         uint32
	IPIn              uint32
	IPOut             uint32
	BadFCS            uint32
	Runts             uint32
	Oversize          uint32
	Aborts            uint32
	BadHeader         uint32
	Discarded         uint32
	ProtoRejectsSent  uint32
	CodeRejectsRecv   uint32
	ProtoRejectsRecv  uint32
	EchoSent          uint32
	EchoRecv          uint32
	EchoReqRecv       uint32
	CtrlDropped       uint32
	ConfReqDamped     uint32
	LCPOpens          uint32
	IPCPOpens         uint32
}

// export widens the counters into Stats.
func (c *stats32) export() Stats {
	var s Stats
	count.Widen(&s, c)
	return s
}

// DefaultRenegotiateHold is Config.RenegotiateHold's default: shorter than
// a peer's restart timer (3 s), so a genuine restart is answered at its
// first retransmission.
const DefaultRenegotiateHold = 2 * time.Second

const (
	ctrlQueueSize = 256 // bytes of queued control packets
	authTimeout   = maxConfigure * restartTime
	holdoff       = restartTime  // wait before re-trying a finished link
	authHoldoff   = 10 * holdoff // ... after an authentication failure
	defaultEcho   = 3
)

// Link is one end of a PPP link.
type Link struct {
	cfg linkParams

	rx deframer
	tx framer
	vj *vjState // nil without Config.VJSlots

	ctrlq *[ctrlQueueSize]byte // queued control packets: [len16][proto16][packet]; lent (see Shed)

	lcp  fsm
	ipcp fsm
	v6   *link6    // IPV6CP state; nil without Config.IPv6
	aup  *authPend // the Authentication phase's timers and challenge; lent while it runs

	// lcpAt is the LCP timer outside the automaton: while LCP is Opened
	// the next echo request (Config.EchoInterval), otherwise the re-try
	// of a finished link — never both at once (one 8-byte deadline, not
	// two: the Link stays in the 480-byte size class).
	lcpAt      deadline
	holdUntil  deadline         // Configure-Requests in Opened are damped until then
	optScratch *[maxOptLen]byte // an option reply being built (fsm.rcr; one at a time); lent, see Shed
	stats      stats32

	// The small fields, by alignment, with no padding at the end.
	lo lcpOpts

	// negotiated link parameters
	txACCM uint32

	echoPend int32
	loops    int8 // our own Configure-Requests seen coming back (saturates)
	pull     bool // up.PullIP may be called (Config.PullIP set, or Upper)
	pending  bool // up.PendingIP may be called (Config.PendingIP set, or Upper)

	localIP [4]byte // negotiated
	peerIP  [4]byte

	ctrlH   int16 // the queue is ctrlQueueSize (256) bytes
	ctrlT   int16
	ctrlCur int16 // start of the packet being built; -1 when none
	peerMRU uint16

	dns     [2][4]byte // negotiated (card role); offered, Config.DNS (host role)
	randBuf [4]byte
	au      authState

	echoID     uint8
	echoOff    bool
	adminOpen  bool
	network    bool // LCP open and authentication complete
	authFailed bool // the last LCP session ended in an authentication failure
	txPFC      bool
	txACFC     bool
	ipUp       bool

	ip ipcpOpts
}

// linkParams is what a Link keeps of its Config, in three parts: the
// card's own values (Rand, the upper layer, its addresses) in the Link;
// the profile's constants in a linkConsts that every link configured alike
// shares (interned, read-only: ROM on a card); and the rarely set ones
// (credentials, Tap, IPv6) in a linkExtras allocated only when one is set,
// else the shared empty noExtras. Fields are read as before (the pointers
// are embedded): 72 bytes, not 136 (176 before the counts went narrow).
type linkParams struct {
	*linkConsts
	*linkExtras
	Rand    io.Reader
	up      Upper // Config.Upper, or Config's callbacks as one
	LocalIP [4]byte
	PeerIP  [4]byte
}

// linkConsts is the per-profile part of a Link's Config: the counts narrow
// (MRU ≤ 65535 in 16 bits, VJSlots ≤ MaxVJSlots in 8, EchoFailure clamped
// to MaxInt32, which the int32 count of unanswered echoes could not pass
// anyway). Never written after internConsts: links share it.
type linkConsts struct {
	EchoInterval, RenegotiateHold time.Duration
	EchoFailure                   int32
	ACCM                          uint32
	MRU                           uint16
	VJSlots                       uint8
	Host                          bool
	RequireAuth                   Auth
}

// linkExtras are the Config fields most links leave unset. Never written
// after New (noExtras is shared).
type linkExtras struct {
	Secrets      func(user string) (secret string, ok bool)
	User, Secret string
	Tap          func(sent bool, frame []byte)
	IPv6         *IPv6Config
}

// noExtras is the linkExtras of every link that sets none (read-only).
var noExtras = &linkExtras{}

// consts holds the interned linkConsts: one per distinct configuration (a
// card has one per profile), read-only once published. A bounded table of
// atomic pointers, lock-free: a configuration past the first len(consts)
// gets a private copy instead.
var consts [16]atomic.Pointer[linkConsts]

// internConsts returns the shared copy of c, publishing it if it is new.
func internConsts(c linkConsts) *linkConsts {
	for i := range consts {
		p := consts[i].Load()
		if p == nil {
			if consts[i].CompareAndSwap(nil, &c) {
				return &c
			}
			p = consts[i].Load() // another link published first
		}
		if *p == c {
			return p
		}
	}
	return &c
}

// New allocates a link and all its buffers.
func New(cfg Config) *Link {
	if cfg.MRU <= 0 {
		cfg.MRU = 1500
	}
	if cfg.MRU < 64 {
		cfg.MRU = 64
	}
	if cfg.MRU > 65535 {
		cfg.MRU = 65535
	}
	if cfg.EchoFailure <= 0 {
		cfg.EchoFailure = defaultEcho
	}
	cfg.VJSlots = min(max(cfg.VJSlots, 0), MaxVJSlots)
	if cfg.RenegotiateHold == 0 {
		cfg.RenegotiateHold = DefaultRenegotiateHold
	}
	l := &Link{cfg: linkParams{
		linkConsts: internConsts(linkConsts{
			MRU: uint16(cfg.MRU), EchoFailure: int32(min(cfg.EchoFailure, math.MaxInt32)), VJSlots: uint8(cfg.VJSlots),
			ACCM: cfg.ACCM, Host: cfg.Host, RequireAuth: cfg.RequireAuth,
			EchoInterval: cfg.EchoInterval, RenegotiateHold: cfg.RenegotiateHold,
		}),
		linkExtras: noExtras,
		LocalIP:    cfg.LocalIP, PeerIP: cfg.PeerIP, Rand: cfg.Rand, up: cfg.Upper,
	}, pull: cfg.Upper != nil || cfg.PullIP != nil, pending: cfg.Upper != nil || cfg.PendingIP != nil}
	if cfg.Host {
		l.dns = cfg.DNS // offered (RFC 1877); a card learns its own instead
	}
	if x := (linkExtras{Secrets: cfg.Secrets, User: cfg.User, Secret: cfg.Secret, Tap: cfg.Tap, IPv6: cfg.IPv6}); x.Secrets != nil || x.User != "" || x.Secret != "" || x.Tap != nil || x.IPv6 != nil {
		l.cfg.linkExtras = &x
	}
	if cfg.Rand == nil {
		l.cfg.Rand = newFallback()
	}
	if cfg.Upper == nil {
		l.cfg.up = &funcUpper{deliver: cfg.DeliverIP, pull: cfg.PullIP, pending: cfg.PendingIP, event: cfg.Event}
	}
	if cfg.VJSlots > 0 {
		l.vj = &vjState{}
		l.vj.c.slots = make([]vjTxSlot, cfg.VJSlots)
		l.vj.d.slots = make([]vjRxSlot, cfg.VJSlots)
	}
	// The frame buffers, the control queue and the option scratch are
	// lent on demand (see Shed).
	l.ctrlCur = -1
	l.lcp = fsm{l: l, proto: ProtoLCP}
	l.ipcp = fsm{l: l, proto: ProtoIPCP}
	if cfg.IPv6 != nil {
		l.v6 = &link6{}
		l.v6.fsm = fsm{l: l, proto: ProtoIPV6CP}
	}
	l.lcpDefaults()
	return l
}

// rxLent is the bytes of the receive frame buffer (with its VJ headroom),
// 0 while shed.
func (l *Link) rxLent() int {
	if l.rx.buf == nil {
		return 0
	}
	if l.vj != nil {
		return vjRxHdr + cap(l.rx.buf)
	}
	return cap(l.rx.buf)
}

// frameBuf is the size of a frame buffer: address, control, protocol,
// information (MRU) and FCS.
func (l *Link) frameBuf() int { return hdrRoom + int(l.cfg.MRU) + fcsRoom }

// lendRx materialises the receive frame buffer at its profile size (with
// VJ, behind vjRxHdr octets of headroom for rebuilding headers in place).
func (l *Link) lendRx() {
	if l.vj != nil {
		l.rx.buf = make([]byte, vjRxHdr+l.frameBuf())[vjRxHdr:]
		return
	}
	l.rx.buf = make([]byte, l.frameBuf())
}

// vjArea returns the receive frame buffer with the vjRxHdr octets of
// headroom in front of it that lendRx allocated with it (VJ on, rx.buf
// lent). It is found from rx.buf, in the same allocation (unsafe.Add
// within it), so that vjState need not keep a 24-byte slice of it: that
// keeps vjState in the 128-byte size class.
func (l *Link) vjArea() []byte {
	p := unsafe.Add(unsafe.Pointer(unsafe.SliceData(l.rx.buf)), -vjRxHdr)
	return unsafe.Slice((*byte)(p), vjRxHdr+cap(l.rx.buf))
}

// Shed drops every buffer that holds nothing right now and returns the
// bytes released (the buffers' capacities): the receive frame buffer (with
// its VJ headroom) between frames, the transmit frame buffer when no frame
// is being sent, the control queue when empty, the option scratch, and an
// automaton's Configure-Request options once no reply can match them.
// A buffer holding part of a frame stays. The next frame lends it again
// at the same size: a shed link behaves byte for byte as one that was not.
// Shed never allocates; a second call returns 0. VJ connection states are
// data and stay.
func (l *Link) Shed() int {
	n := 0
	if l.rx.buf != nil && l.rx.idle() {
		n += l.rxLent()
		l.rx.buf = nil
	}
	if l.tx.buf != nil && l.tx.phase == txIdle {
		n += cap(l.tx.buf)
		l.tx.buf = nil
	}
	if l.ctrlq != nil && l.ctrlH == l.ctrlT && l.ctrlCur < 0 {
		n += ctrlQueueSize
		l.ctrlq, l.ctrlH, l.ctrlT = nil, 0, 0
	}
	if l.optScratch != nil {
		n += len(l.optScratch)
		l.optScratch = nil
	}
	n += l.lcp.shedReq() + l.ipcp.shedReq()
	if l.v6 != nil {
		n += l.v6.fsm.shedReq()
	}
	return n
}

// shedSettled drops the control queue, the option scratch and the
// automata's Configure-Request options as soon as no control packet is
// queued (the last one is in the transmit buffer, or a received frame
// queued none) and negotiation is over — LCP and IPCP
// Opened and IPV6CP, if configured, Opened too — instead of after
// Profile.ShedMs of quiet: the link's data follows negotiation at once
// (the TLS handshake, the Tiny profile's RAM peak, came while they were
// still held). A later control packet (an Echo-Reply, a renegotiation)
// lends them again, as after Shed: one allocation per control packet,
// none per data packet.
func (l *Link) shedSettled() {
	if !l.ipUp || l.v6 != nil && !l.v6.up || l.ctrlCur >= 0 {
		return
	}
	l.ctrlq, l.ctrlH, l.ctrlT = nil, 0, 0
	l.optScratch = nil
	l.lcp.shedReq()
	l.ipcp.shedReq()
	if l.v6 != nil {
		l.v6.fsm.shedReq()
	}
}

// Lent returns the bytes of buffers the link holds now (what Shed would
// release at most); RAM returns the most it can hold: the hard bound.
func (l *Link) Lent() int {
	n := cap(l.tx.buf)
	if l.ctrlq != nil { // cap of a nil array pointer is the array's length
		n += ctrlQueueSize
	}
	n += l.rxLent()
	if l.optScratch != nil {
		n += len(l.optScratch)
	}
	for _, f := range [...]*fsm{&l.lcp, &l.ipcp} {
		if f.reqOpts != nil {
			n += maxOptLen
		}
	}
	if l.v6 != nil && l.v6.fsm.reqOpts != nil {
		n += maxOptLen
	}
	if l.aup != nil {
		n += authPendSize // the Authentication phase's state, lent while it runs
	}
	return n
}

// OwnParams returns the bytes the link holds of its Config beside its
// struct (card.Card counts them with its control bytes): its own
// linkExtras (credentials, Tap or IPv6 set; else the shared empty one) and
// its own copy of the profile's constants when the process-wide table was
// full (else the shared entry: ROM on a card). 0 for what it shares.
func (l *Link) OwnParams() (extras, constants int) {
	if l.cfg.linkExtras != noExtras {
		extras = int(unsafe.Sizeof(linkExtras{}))
	}
	for i := range consts {
		if consts[i].Load() == l.cfg.linkConsts {
			return extras, 0
		}
	}
	return extras, int(unsafe.Sizeof(linkConsts{}))
}

// mayAuth reports whether the link can ever enter an Authentication phase
// that lends it an authPend: it demands authentication, or it has
// credentials to answer a peer that demands it (else it refuses the
// Authentication-Protocol option, RFC 1661 §6.2).
func (l *Link) mayAuth() bool {
	return l.cfg.RequireAuth != AuthNone || l.cfg.User != "" || l.cfg.Secret != ""
}

// RAM is the most the link's lent buffers take at once: two frame buffers
// (the receive one with its VJ headroom), the control queue and the option
// scratch. VJ tables are counted by VJRAM.
func (l *Link) RAM() int {
	n := 2*l.frameBuf() + ctrlQueueSize + 3*maxOptLen // option scratch, LCP and IPCP requests
	if l.v6 != nil {
		n += maxOptLen // IPV6CP request
	}
	if l.vj != nil {
		n += vjRxHdr
	}
	if l.mayAuth() {
		n += authPendSize
	}
	return n
}

// ControlRAM is the part of RAM lent for control packets, each an
// allocation of its own: the control queue and the option buffers (scratch,
// LCP, IPCP and, with IPv6, IPV6CP requests). ControlBufs lists them.
func (l *Link) ControlRAM() int {
	n := 0
	for _, b := range l.ControlBufs() {
		n += b
	}
	return n
}

// ControlBufs returns the sizes of the control buffers the link may lend
// at once (see ControlRAM).
func (l *Link) ControlBufs() []int {
	b := []int{ctrlQueueSize, maxOptLen, maxOptLen, maxOptLen}
	if l.v6 != nil {
		b = append(b, maxOptLen)
	}
	if l.mayAuth() {
		b = append(b, authPendSize) // lent for the Authentication phase
	}
	return b
}

// VJRAM is the RAM Config.VJSlots costs a link: both slot tables and the
// receive headroom a compressed header is rebuilt in.
func VJRAM(slots int) int {
	slots = min(max(slots, 0), MaxVJSlots)
	if slots == 0 {
		return 0
	}
	return slots*int(unsafe.Sizeof(vjTxSlot{})+unsafe.Sizeof(vjRxSlot{})) + vjRxHdr + int(unsafe.Sizeof(vjState{}))
}

// VJStats returns the compression counters (zero without Config.VJSlots).
func (l *Link) VJStats() VJStats {
	if l.vj == nil {
		return VJStats{}
	}
	s := l.vj.st.export()
	s.TxOn, s.RxOn = l.vj.tx, l.vj.rx
	s.TxSlots, s.RxSlots = int(l.vj.c.n), int(l.vj.d.max)+1
	return s
}

// lcpDefaults sets the link parameters in force before LCP is Opened.
func (l *Link) lcpDefaults() {
	l.txACCM = 0xffffffff
	l.rx.accm = 0xffffffff
	l.txPFC, l.txACFC = false, false
	l.peerMRU = 1500
}

func (l *Link) event(e Event) { l.cfg.up.Event(e) }

// random fills p from cfg.Rand. Without one (New) or once it fails, a
// fixed-seed generator takes its place for good (an 8-byte allocation on
// such links only, instead of the generator's state in every Link).
func (l *Link) random(p []byte) {
	if _, err := io.ReadFull(l.cfg.Rand, p); err != nil {
		l.cfg.Rand = newFallback()
		l.cfg.Rand.Read(p)
	}
}

func (l *Link) random32() uint32 {
	for i := 0; ; i++ {
		if i == 4 {
			l.cfg.Rand = newFallback() // a source that only gives zeros: use the fallback
		}
		l.random(l.randBuf[:4])
		if v := get32(l.randBuf[:4]); v != 0 {
			return v
		}
	}
}

// fallback is the fixed-seed generator of a link without a working
// Config.Rand (xorshift64): fine for tests, not for CHAP as authenticator.
type fallback uint64

func newFallback() *fallback {
	x := fallback(0x9e3779b97f4a7c15)
	return &x
}

func (x *fallback) Read(p []byte) (int, error) {
	for i := range p {
		*x ^= *x << 13
		*x ^= *x >> 7
		*x ^= *x << 17
		p[i] = byte(*x >> 32)
	}
	return len(p), nil
}

// Open administratively opens the link and signals the lower layer up: LCP
// sends its Configure-Request (the next Output carries it).
func (l *Link) Open(now time.Time) {
	l.adminOpen = true
	if l.lcp.state != Opened {
		l.lcpAt = 0 // no re-try pending any more (an Opened link's is its echo timer)
	}
	l.ipcp.open(now)
	if l.v6 != nil {
		l.v6.fsm.open(now)
	}
	l.lcp.open(now)
	l.lcp.up(now)
}

// Close administratively closes the link: LCP sends Terminate-Request and
// the link is not re-tried until the next Open.
func (l *Link) Close(now time.Time) {
	l.adminOpen = false
	l.lcpAt = 0
	l.lcp.close(now)
	l.ipcp.close(now)
	if l.v6 != nil {
		l.v6.fsm.close(now)
	}
}

// Up reports whether IPCP is Opened: IPv4 packets flow.
func (l *Link) Up() bool { return l.ipUp }

// LocalIP is our negotiated IPv4 address (meaningful while Up).
func (l *Link) LocalIP() [4]byte { return l.localIP }

// PeerIP is the peer's negotiated IPv4 address (zero if it did not say;
// meaningful while Up).
func (l *Link) PeerIP() [4]byte { return l.peerIP }

// DNS returns the DNS servers learned from the peer (card role) or offered
// to it (host role).
func (l *Link) DNS() [2][4]byte {
	return l.dns
}

// MTU is the largest IPv4 packet we may send: the peer's MRU, capped by our
// own frame buffer (Config.MRU).
func (l *Link) MTU() int {
	if l.peerMRU < l.cfg.MRU {
		return int(l.peerMRU)
	}
	return int(l.cfg.MRU)
}

// Stats returns a copy of the counters.
func (l *Link) Stats() Stats {
	s := l.stats.export()
	s.LCPState, s.IPCPState = l.lcp.state, l.ipcp.state
	return s
}

// Input takes raw octets received from the line. Complete good frames are
// handled at once; IPv4 packets go to cfg.DeliverIP.
func (l *Link) Input(b []byte, now time.Time) {
	l.stats.BytesIn += uint64(len(b))
	for len(b) > 0 {
		n, r := l.rx.next(b)
		b = b[n:]
		switch r {
		case rxNeedBuf:
			l.lendRx()
		case rxFrame:
			l.receive(l.rx.frame(), now)
			if l.ctrlH == l.ctrlT {
				l.shedSettled() // the frame may have ended negotiation
			}
		case rxBadFCS:
			l.stats.BadFCS++
			l.vjError() // RFC 1144 §4: a lost frame may have changed a slot
		case rxRunt:
			l.stats.Runts++
			l.vjError()
		case rxOversize:
			l.stats.Oversize++
			l.vjError()
		case rxAbort:
			l.stats.Aborts++
			l.vjError()
		}
	}
}

// receive dispatches one good frame (no FCS).
func (l *Link) receive(fr []byte, now time.Time) {
	l.stats.FramesIn++
	if l.cfg.Tap != nil {
		l.cfg.Tap(false, fr)
	}
	p := fr
	if len(p) >= 2 && p[0] == 0xff {
		if p[1] != 0x03 {
			l.stats.BadHeader++
			return
		}
		p = p[2:]
	}
	var proto uint16
	switch {
	case len(p) >= 1 && p[0]&1 != 0:
		proto = uint16(p[0])
		p = p[1:]
	case len(p) >= 2 && p[1]&1 != 0:
		proto = uint16(p[0])<<8 | uint16(p[1])
		p = p[2:]
	default:
		l.stats.BadHeader++
		return
	}
	switch proto {
	case ProtoLCP:
		l.lcpInput(p, now)
		return
	case ProtoIP:
		// An IPv6 packet in an IPv4 frame is discarded: the card hands
		// packets to a stack by their version nibble, and IPv6 gets only
		// what came in 0x0057 frames with IPV6CP Opened (RFC 5072 §3).
		if l.ipUp && (len(p) == 0 || p[0]>>4 != 6) {
			l.stats.IPIn++
			l.cfg.up.DeliverIP(p)
			return
		}
	case ProtoVJComp, ProtoVJUncomp:
		if l.vj == nil || !l.vj.rx {
			if l.lcp.state == Opened {
				l.protoReject(proto, p) // we did not ask for compression
				return
			}
			break
		}
		if l.ipUp {
			l.vjInput(proto, fr, p)
			return
		}
	case ProtoIPCP:
		if l.network {
			l.ipcp.input(p, now)
			return
		}
	case ProtoIPv6, ProtoIPV6CP:
		if l.v6 == nil {
			if l.lcp.state == Opened {
				l.protoReject(proto, p)
				return
			}
		} else if l.ip6Input(proto, p, now) {
			return
		}
	case ProtoPAP:
		if l.lcp.state == Opened {
			l.papInput(p, now)
			return
		}
	case ProtoCHAP:
		if l.lcp.state == Opened {
			l.chapInput(p, now)
			return
		}
	default:
		if l.lcp.state == Opened {
			l.protoReject(proto, p)
			return
		}
	}
	l.stats.Discarded++
}

// vjError tells the decompressor a frame was lost.
func (l *Link) vjError() {
	if l.vj != nil {
		l.vj.d.toss = true
	}
}

// vjInput rebuilds and delivers a VJ packet; p is the information field
// of the frame fr, which lies in rx.buf after the headroom.
func (l *Link) vjInput(proto uint16, fr, p []byte) {
	v := l.vj
	if proto == ProtoVJUncomp {
		if !v.d.uncompressed(p) {
			v.st.Errors++
			return
		}
		v.st.UncompIn++
	} else {
		start := vjRxHdr + len(fr) - len(p)
		end := start + len(p)
		area := l.vjArea()
		i := v.d.decompress(area, start, end)
		switch {
		case i == errToss:
			v.st.Tossed++
			return
		case i < 0:
			v.st.Errors++
			return
		}
		p = area[i:end]
		v.st.CompIn++
	}
	l.stats.IPIn++
	l.cfg.up.DeliverIP(p)
}

// protoReject sends an LCP Protocol-Reject for a protocol we do not run.
func (l *Link) protoReject(proto uint16, info []byte) {
	id := l.lcp.nextID
	l.lcp.nextID++
	d := l.ctrlBegin(ProtoLCP, codeProtoRej, id)
	if len(d) < 2 {
		l.ctrlAbort()
		return
	}
	d[0], d[1] = byte(proto>>8), byte(proto)
	l.ctrlCommit(2 + copy(d[2:], info))
	l.stats.ProtoRejectsSent++
}

// --- control packet queue ---

// ctrlBegin starts a control packet (code, id) of protocol proto in the
// queue and returns the room for its data, or nil if the queue is full.
// ctrlCommit(n) finishes it with n data octets; ctrlAbort drops it.
func (l *Link) ctrlBegin(proto uint16, code, id byte) []byte {
	const hdr = 2 + 2 + 4 // queue length, protocol, code/id/length
	if l.ctrlq == nil {
		l.ctrlq = new([ctrlQueueSize]byte) // lent (see Shed)
	}
	if l.ctrlH == l.ctrlT {
		l.ctrlH, l.ctrlT = 0, 0
	}
	if l.ctrlH > 0 {
		l.ctrlT = int16(copy(l.ctrlq[:], l.ctrlq[l.ctrlH:l.ctrlT]))
		l.ctrlH = 0
	}
	room := len(l.ctrlq) - int(l.ctrlT) - hdr
	if room < 0 {
		l.stats.CtrlDropped++
		return nil
	}
	if m := l.MTU() - 4; room > m {
		room = m
	}
	q := l.ctrlq[l.ctrlT:]
	q[2], q[3] = byte(proto>>8), byte(proto)
	q[4], q[5] = code, id
	l.ctrlCur = l.ctrlT
	return q[hdr : hdr+room]
}

func (l *Link) ctrlCommit(n int) {
	if l.ctrlCur < 0 {
		return
	}
	q := l.ctrlq[l.ctrlCur:]
	plen := 4 + n
	q[6], q[7] = byte(plen>>8), byte(plen)
	total := 2 + 2 + plen // queue length field, protocol, packet
	q[0], q[1] = byte(total>>8), byte(total)
	l.ctrlT = l.ctrlCur + int16(total)
	l.ctrlCur = -1
}

func (l *Link) ctrlAbort() { l.ctrlCur = -1 }

// --- transmit ---

// Output writes escaped line octets into p and returns how many. Control
// packets go first; IPv4 packets are pulled with cfg.PullIP only when the
// frame buffer is free and IPCP is Opened. A frame may span calls.
func (l *Link) Output(p []byte, now time.Time) int {
	n := 0
	shared := false // the last octet written closed a frame: it can open the next
	for n < len(p) {
		if l.tx.phase == txIdle {
			if !l.loadNext() {
				break
			}
			if shared {
				l.tx.phase = txBody
			}
		}
		m := l.tx.emit(p[n:])
		n += m
		shared = false
		if l.tx.phase == txIdle {
			l.stats.FramesOut++
			shared = true
		}
	}
	l.stats.BytesOut += uint64(n)
	return n
}

// loadNext puts the next frame into the transmit buffer.
func (l *Link) loadNext() bool {
	buf := l.tx.buf
	if l.ctrlH < l.ctrlT {
		if buf == nil {
			buf = l.lendTx()
		}
		q := l.ctrlq[l.ctrlH:]
		total := int(q[0])<<8 | int(q[1])
		pkt := q[2:total] // protocol, then the control packet
		l.ctrlH += int16(total)
		proto := uint16(pkt[0])<<8 | uint16(pkt[1])
		body := pkt[2:]
		accm, acfc, pfc := l.txACCM, l.txACFC, l.txPFC
		if proto == ProtoLCP {
			acfc, pfc = false, false
			if body[0] >= codeConfReq && body[0] <= codeCodeRej {
				accm = 0xffffffff
			}
		}
		end := hdrRoom + copy(buf[hdrRoom:], body)
		start := l.putHeader(hdrRoom, proto, acfc, pfc)
		l.loadFrame(start, end, accm)
		if l.ctrlH == l.ctrlT {
			l.shedSettled()
		}
		return true
	}
	// Either NCP Opened lets packets be pulled; each family goes out only
	// while its own NCP is Opened (RFC 1661 §3.4; RFC 5072 does not
	// depend on IPCP: an IPv6-only link sends IPv6). A packet of a family
	// whose NCP is not Opened is discarded and the next one pulled (a few
	// at most per frame).
	lent := false // the buffer was lent to ask PullIP: given back if it has nothing
	for try := 0; try < 4 && (l.ipUp || l.Up6()) && l.pull; try++ {
		if buf == nil {
			// Shed: lend the buffer only for a packet (Config.PendingIP).
			if l.pending && !l.cfg.up.PendingIP() {
				return false
			}
			buf, lent = l.lendTx(), true
		}
		m := l.MTU()
		n := l.cfg.up.PullIP(buf[hdrRoom : hdrRoom+m])
		if n <= 0 {
			if lent {
				l.tx.buf = nil
			}
			return false
		}
		if n > m {
			n = m
		}
		proto, off := uint16(ProtoIP), 0
		if v6 := buf[hdrRoom]>>4 == 6; v6 && !l.Up6() || !v6 && !l.ipUp {
			l.stats.Discarded++
			continue
		}
		if buf[hdrRoom]>>4 == 6 {
			proto = ProtoIPv6 // VJ compresses IPv4 TCP only (RFC 1144)
			l.v6.stats.IP6Out++
		} else {
			if l.vj != nil && l.vj.tx {
				proto, off = l.vj.c.compress(buf[hdrRoom:hdrRoom+n], &l.vj.st)
			}
			l.stats.IPOut++
		}
		start := l.putHeader(hdrRoom+off, proto, l.txACFC, l.txPFC)
		l.loadFrame(start, hdrRoom+n, l.txACCM)
		return true
	}
	return false
}

// lendTx materialises the transmit frame buffer at its profile size.
func (l *Link) lendTx() []byte {
	l.tx.buf = make([]byte, l.frameBuf())
	return l.tx.buf
}

// putHeader writes the address/control and protocol fields in front of
// buf[at:] and returns where the frame starts.
func (l *Link) putHeader(at int, proto uint16, acfc, pfc bool) int {
	buf := l.tx.buf
	i := at
	if pfc && proto < 0x100 {
		i--
		buf[i] = byte(proto)
	} else {
		i -= 2
		buf[i], buf[i+1] = byte(proto>>8), byte(proto)
	}
	if !acfc {
		i -= 2
		buf[i], buf[i+1] = 0xff, 0x03
	}
	return i
}

func (l *Link) loadFrame(start, end int, accm uint32) {
	if l.cfg.Tap != nil {
		l.cfg.Tap(true, l.tx.buf[start:end])
	}
	l.tx.load(start, end, accm)
}

// --- timers ---

// Poll runs the timers and returns the next deadline (zero if none).
func (l *Link) Poll(now time.Time) time.Time {
	l.lcp.poll(now)
	l.ipcp.poll(now)
	if l.v6 != nil {
		l.v6.fsm.poll(now)
	}
	l.authPoll(now)
	if l.lcp.state != Opened && l.lcpAt.due(now) {
		l.lcpAt = 0
		l.retry(now)
	}
	if l.lcp.state == Opened && l.cfg.EchoInterval > 0 && !l.echoOff && l.lcpAt.due(now) {
		if l.echoPend >= l.cfg.EchoFailure {
			l.event(EventEchoTimeout)
			l.lcpAt = 0
			// The peer is gone: renegotiate, and keep trying until it is back.
			l.lcp.down(now)
			l.lcp.up(now)
		} else {
			l.sendEcho(now)
		}
	}
	var next, t6 deadline
	if l.v6 != nil {
		t6 = l.v6.fsm.timer
	}
	srvAt, cliAt := l.authTimers()
	for _, t := range [...]deadline{l.lcp.timer, l.ipcp.timer, t6, srvAt, cliAt, l.lcpAt} {
		if t != 0 && (next == 0 || t < next) {
			next = t
		}
	}
	return next.time()
}

// deadline is a timer's expiry in Unix nanoseconds, 0 when stopped: 8
// bytes where a time.Time takes 24 (ten timers in a Link).
type deadline int64

// at is the deadline of time t.
func at(t time.Time) deadline {
	if n := t.UnixNano(); n != 0 {
		return deadline(n)
	}
	return 1 // 1970-01-01 exactly: one nanosecond later, not "stopped"
}

// IsZero reports whether the timer is stopped.
func (d deadline) IsZero() bool { return d == 0 }

// due reports whether the timer runs and has expired at now.
func (d deadline) due(now time.Time) bool { return d != 0 && now.UnixNano() >= int64(d) }

// after reports whether the timer runs and expires after now.
func (d deadline) after(now time.Time) bool { return d != 0 && int64(d) > now.UnixNano() }

// time returns the deadline as a time (zero when stopped).
func (d deadline) time() time.Time {
	if d == 0 {
		return time.Time{}
	}
	return time.Unix(0, int64(d))
}

// retry re-establishes a link that finished while administratively open.
func (l *Link) retry(now time.Time) {
	if !l.adminOpen {
		return
	}
	switch l.lcp.state {
	case Closed:
		l.lcp.open(now)
	case Stopped:
		l.lcp.down(now)
		l.lcp.up(now)
	}
}

func (l *Link) sendEcho(now time.Time) {
	l.lcpAt = at(now.Add(l.cfg.EchoInterval))
	l.echoID++
	d := l.ctrlBegin(ProtoLCP, codeEchoReq, l.echoID)
	if len(d) < 4 {
		l.ctrlAbort()
		return
	}
	put32(d, l.lo.myMagic())
	l.ctrlCommit(4)
	l.echoPend++
	l.stats.EchoSent++
}

func put32(b []byte, v uint32) {
	b[0], b[1], b[2], b[3] = byte(v>>24), byte(v>>16), byte(v>>8), byte(v)
}
func get32(b []byte) uint32 {
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
}
