package sim

import (
	"fmt"
	"strings"
	"time"

	"netcard/link"
	"netcard/ppp"
)

// Ledger accounts for every octet one direction of a serial line (the
// card's) carried while an HTTPS response crossed it, and for the line time
// in which nothing was sent: Feed it the line's raw octets with the time
// each chunk finished crossing, then ask Account. It parses the HDLC-like
// framing (RFC 1662), rebuilds VJ-compressed headers (RFC 1144), follows
// the card's first TCP connection and the TLS records in it. Any bytes are
// accepted; memory is bounded (maxLedgerFrames frames and records are
// remembered; beyond that Account reports Truncated).
type Ledger struct {
	// Baud, if set before the first Feed, is the line rate: a chunk fed
	// later than the previous one plus its line time while a frame was
	// being sent counts as the writer being late (Account's LateInFrame).
	Baud int

	lastAt   time.Time     // the previous Feed
	late     time.Duration // lateness within the current frame
	hdlcScan               // its flags: since the previous frame ended (its own closing flag is counted there)
	frames   []ledgerFrame
	vj       *ppp.VJDecoder
	trunc    bool
	peer     []time.Time // when frames of the other direction (the peer's ACKs) reached the card
	pflag    bool        // the other direction is inside a frame

	// The card's first TCP connection (from its SYN).
	started, hole bool
	sport, dport  uint16
	isn           uint32 // initial sequence number + 1: stream offset 0
	next          uint32 // next new stream offset
	recs          []ledgerRecord
	rhdr          [tlsRecordHeader]byte
	rhn           int    // record header bytes gathered
	rskip         int    // record body bytes still to skip
	roff          uint32 // stream offset of the record being gathered
}

// maxLedgerFrames bounds the frames and records a Ledger remembers (a 1 MiB
// download is about 1,500 frames and 1,000 records).
const maxLedgerFrames = 1 << 18

// Frame kinds.
const (
	lfOther uint8 = iota // not IPv4 (LCP, IPCP…), or a packet the VJ decoder dropped
	lfData               // TCP of the followed connection, with payload
	lfAck                // TCP without payload (pure ACK, FIN, RST)
	lfIP                 // another IPv4 packet
)

type ledgerFrame struct {
	end     time.Time // when the chunk holding the closing flag finished crossing
	line    int       // line octets: escaped content, escapes and flags
	escapes int
	flags   int
	ppp     int // address/control, protocol and FCS octets (unescaped)
	hdr     int // IPv4 + TCP header octets as carried (VJ-compressed or not)
	kind    uint8
	off     uint32 // stream offset of the first payload octet
	n       int    // payload octets
	resent  int    // payload octets sent before
	late    time.Duration
}

type ledgerRecord struct {
	off    uint32 // stream offset of the record header
	length int    // record body length (header field)
	typ    byte
}

// Feed takes octets the line carried; at is when the last of them finished
// crossing it.
func (l *Ledger) Feed(at time.Time, b []byte) {
	if l.Baud > 0 && len(b) > 0 {
		// Signed: a piece that comes early (the pacer catching up within
		// its slack) gives back what an earlier one lost.
		if d := at.Sub(l.lastAt) - link.WireTime(len(b), l.Baud); !l.lastAt.IsZero() && (len(l.frame) > 0 || l.fe > 0) {
			l.late += d
		}
		l.lastAt = at
	}
	for _, c := range b {
		if l.octet(c) {
			if len(l.frame) > 0 || l.fe > 0 {
				l.end(at)
			}
			l.restart()
		}
	}
}

// Peer takes octets of the other direction as the card received them; at
// is when it got them. Only the frame ends are kept (their times), to tell
// apart the idle gaps in which the card waited for the peer.
func (l *Ledger) Peer(at time.Time, b []byte) {
	for _, c := range b {
		if c != 0x7e {
			l.pflag = true
			continue
		}
		if l.pflag && len(l.peer) < maxLedgerFrames {
			l.peer = append(l.peer, at)
		}
		l.pflag = false
	}
}

func (l *Ledger) end(at time.Time) {
	f := l.frame
	fr := ledgerFrame{end: at, line: len(f) + l.fe + l.flags, escapes: l.fe, flags: l.flags, late: l.late}
	l.flags, l.late = 0, 0
	defer func() {
		if len(l.frames) < maxLedgerFrames {
			l.frames = append(l.frames, fr)
		} else {
			l.trunc = true
		}
	}()
	h := 0
	if len(f) >= 2 && f[0] == 0xff && f[1] == 0x03 {
		h = 2
	}
	if len(f) < h+1 {
		return
	}
	p := 2
	if f[h]&1 == 1 {
		p = 1
	}
	const fcs = 2 // the link runs FCS-16
	if len(f) < h+p+fcs {
		return
	}
	proto := uint16(f[h])
	if p == 2 {
		proto = proto<<8 | uint16(f[h+1])
	}
	fr.ppp = h + p + fcs
	info := f[h+p : len(f)-fcs]
	if proto != ppp.ProtoIP && proto != ppp.ProtoVJComp && proto != ppp.ProtoVJUncomp {
		return
	}
	if l.vj == nil {
		l.vj = ppp.NewVJDecoder()
	}
	ip, lineHdr, ok := l.vj.Decode(proto, info)
	if !ok || len(ip) < 20 {
		return
	}
	fr.kind, fr.hdr = lfIP, lineHdr
	total, ihl := int(ip[2])<<8|int(ip[3]), int(ip[0]&15)*4
	if ip[9] != 6 || total > len(ip) || ihl < 20 || total < ihl+20 {
		return
	}
	th := ip[ihl:total]
	thl := int(th[12]>>4) * 4
	if thl < 20 || thl > len(th) {
		return
	}
	fr.kind = lfAck
	payload := th[thl:]
	sport, dport := uint16(th[0])<<8|uint16(th[1]), uint16(th[2])<<8|uint16(th[3])
	seq := uint32(th[4])<<24 | uint32(th[5])<<16 | uint32(th[6])<<8 | uint32(th[7])
	if !l.started {
		if th[13]&0x02 != 0 {
			l.started, l.sport, l.dport, l.isn = true, sport, dport, seq+1
		}
		if len(payload) > 0 {
			fr.kind = lfIP
		}
		return
	}
	if sport != l.sport || dport != l.dport {
		fr.kind = lfIP
		return
	}
	if len(payload) == 0 {
		return
	}
	fr.kind, fr.off, fr.n = lfData, seq-l.isn, len(payload)
	d := int64(int32(fr.off - l.next))
	switch {
	case d > 0:
		l.hole = true // a segment the ledger did not see: records are lost
		l.next = fr.off + uint32(len(payload))
		return
	case d < 0:
		fr.resent = min(int(-d), len(payload))
	}
	if fr.resent == len(payload) {
		return
	}
	l.next += uint32(len(payload) - fr.resent)
	if !l.hole {
		l.parse(payload[fr.resent:], fr.off+uint32(fr.resent))
	}
}

// parse gathers the TLS record headers of new in-order stream octets that
// start at stream offset off.
func (l *Ledger) parse(b []byte, off uint32) {
	for len(b) > 0 {
		if l.rskip > 0 {
			n := min(l.rskip, len(b))
			l.rskip -= n
			b, off = b[n:], off+uint32(n)
			continue
		}
		if l.rhn == 0 {
			l.roff = off
		}
		n := copy(l.rhdr[l.rhn:], b)
		l.rhn += n
		b, off = b[n:], off+uint32(n)
		if l.rhn < tlsRecordHeader {
			return
		}
		l.rhn = 0
		r := ledgerRecord{off: l.roff, length: int(l.rhdr[3])<<8 | int(l.rhdr[4]), typ: l.rhdr[0]}
		l.rskip = r.length
		if len(l.recs) < maxLedgerFrames {
			l.recs = append(l.recs, r)
		} else {
			l.trunc = true
		}
	}
}

// LineAccount is where the line time of one HTTPS response went, in line
// octets (an idle octet is one octet time without anything sent), from the
// start of the frame that carries the response's first record to the end
// of the frame that carries its last. The fields from Body to Idle add up
// to Capacity (up to the timing resolution of the feed, one pacing chunk).
type LineAccount struct {
	Window   time.Duration `json:"window_ns"`
	Capacity float64       `json:"capacity_octets"` // Window × the line's byte rate (baud/10)

	Body        int     `json:"body"`              // response body octets (HTTP payload)
	Head        int     `json:"http_head"`         // HTTP response head octets
	TLS         int     `json:"tls_overhead"`      // TLS record header, inner content type and AEAD tag of the response records
	TCPIPHeader int     `json:"tcp_ip_header"`     // IPv4 + TCP header octets of the data frames as carried (VJ-compressed or not)
	PPP         int     `json:"ppp_fields"`        // address/control, protocol and FCS of the data frames
	Flags       int     `json:"ppp_flags"`         // 0x7E flags of the data frames (one per frame when flags are shared)
	Escapes     int     `json:"ppp_escapes"`       // 0x7D escape octets of the data frames (RFC 1662 §4.2: 0x7E, 0x7D and ACCM characters)
	Retrans     int     `json:"retransmitted"`     // retransmitted payload octets, and the whole frames that only retransmit
	ACKs        int     `json:"ack_frames_octets"` // frames without payload the card sent (pure ACKs, FIN), whole
	Other       int     `json:"other"`             // other frames (LCP, other IP) and payload outside the response records, whole
	Idle        float64 `json:"idle_octets"`       // line octet times with nothing sent

	Records       int           `json:"records"`
	DataFrames    int           `json:"data_frames"`
	ACKFrames     int           `json:"ack_frames"`
	RetransFrames int           `json:"retransmitted_frames"`
	MeanRecord    float64       `json:"mean_record"`    // response plaintext per record
	MeanSegment   float64       `json:"mean_segment"`   // new payload per data frame
	Gaps          int           `json:"gaps_over_20ms"` // idle gaps of more than 20 ms between frames
	GapTime       time.Duration `json:"gap_time_ns"`
	MaxGap        time.Duration `json:"max_gap_ns"`
	// GapAckWait is the part of those gaps before the last peer frame
	// (an ACK) that reached the card before the line resumed, when one
	// did within the gap: the card had nothing it could send until then
	// (send buffer or window full). The rest of the gaps is the card
	// silent after that ACK: a retransmission timer, or the card, its
	// host process or the pacer being late (CPU contention).
	GapAckWait time.Duration `json:"gap_ack_wait_ns"`
	// LateInFrame is the idle time in the middle of frames (Ledger.Baud
	// set): the card had the frame and handed it to the line in pieces,
	// and a piece came late — the writer (the card's process, the pacer's
	// timer) was not scheduled in time. It is part of Idle, and of the
	// gaps.
	LateInFrame time.Duration `json:"late_in_frame_ns"`
	// LongGaps are the longest of those gaps (at most maxLongGaps), in
	// window order, for diagnosis.
	LongGaps  []Gap   `json:"long_gaps,omitempty"`
	Share     float64 `json:"share"` // Body ÷ Capacity
	Truncated bool    `json:"truncated"`
}

// Gap is one idle gap of a LineAccount.
type Gap struct {
	At      time.Duration `json:"at_ns"`       // from the window's start
	Len     time.Duration `json:"len_ns"`      // idle time
	AckWait time.Duration `json:"ack_wait_ns"` // until the last peer frame before the line resumed (0: none within the gap)
	Before  int           `json:"before"`      // payload octets of the frame before (0: no payload)
	After   int           `json:"after"`       // payload octets of the frame after
	Resent  bool          `json:"resent"`      // the frame after resends octets
	Late    time.Duration `json:"late_ns"`     // of Len, the writer late in the middle of the frame after
}

const maxLongGaps = 12

// Account returns the ledger of the response whose body is body octets,
// on a line at baud (8N1); ok is false if the response's records could
// not be found in the stream.
func (l *Ledger) Account(body, baud int) (LineAccount, bool) {
	var a LineAccount
	a.Truncated = l.trunc || l.hole
	// The response: the last records (close_notify and other alerts, 19
	// octets with ChaCha20-Poly1305 or AES-GCM in TLS 1.3, left out) whose
	// plaintext adds up to the body and a head.
	last := len(l.recs) - 1
	for last >= 0 && (l.recs[last].typ != tlsAppData || l.recs[last].length <= 2+aeadTag+1) {
		last--
	}
	plain, first := 0, -1
	for i := last; i >= 0 && l.recs[i].typ == tlsAppData; i-- {
		plain += l.recs[i].length - aeadTag - 1
		if plain >= body {
			first = i
			break
		}
	}
	if first < 0 {
		return a, false
	}
	from := l.recs[first].off
	to := l.recs[last].off + tlsRecordHeader + uint32(l.recs[last].length)
	a.Records = last - first + 1
	a.Body, a.Head = body, plain-body
	a.TLS = int(to-from) - plain
	a.MeanRecord = float64(plain) / float64(a.Records)
	// The window: from the frame with the first response octet to the
	// frame with the last one, every frame in between included.
	fi, li := -1, -1
	for i, f := range l.frames {
		if f.kind != lfData || f.n == f.resent {
			continue
		}
		s, e := f.off+uint32(f.resent), f.off+uint32(f.n)
		if int32(e-from) > 0 && int32(to-s) > 0 {
			if fi < 0 {
				fi = i
			}
			li = i
		}
	}
	if fi < 0 {
		return a, false
	}
	rate := link.BytesPerSecond(baud)
	lineSum, newPayload := 0, 0
	for i := fi; i <= li; i++ {
		f := l.frames[i]
		lineSum += f.line
		if i > fi {
			a.LateInFrame += f.late
		}
		switch {
		case f.kind == lfData && f.resent == f.n:
			a.Retrans += f.line
			a.RetransFrames++
		case f.kind == lfData:
			a.DataFrames++
			a.Retrans += f.resent
			a.Flags += f.flags
			a.Escapes += f.escapes
			a.PPP += f.ppp
			a.TCPIPHeader += f.hdr
			s, e := f.off+uint32(f.resent), f.off+uint32(f.n)
			in := int(min32(e, to, from) - max32(s, from, to))
			a.Other += int(e-s) - in
			newPayload += in
		case f.kind == lfAck:
			a.ACKs += f.line
			a.ACKFrames++
		default:
			a.Other += f.line
		}
		if i > fi {
			gap := f.end.Sub(l.frames[i-1].end) - time.Duration(float64(f.line)/rate*float64(time.Second))
			if gap > 20*time.Millisecond {
				a.Gaps++
				a.GapTime += gap
				a.MaxGap = max(a.MaxGap, gap)
				from, to := l.frames[i-1].end, f.end.Add(-time.Duration(float64(f.line)/rate*float64(time.Second)))
				g := Gap{At: from.Sub(l.frames[fi].end), Len: gap, Before: l.frames[i-1].n, After: f.n, Resent: f.resent > 0, Late: f.late}
				if ack := l.lastPeer(to); ack.After(from) {
					g.AckWait = ack.Sub(from)
					a.GapAckWait += g.AckWait
				}
				a.LongGaps = keepLongest(a.LongGaps, g)
			}
		}
	}
	if newPayload != int(to-from) {
		a.Truncated = true // a response octet the ledger did not see
	}
	if a.DataFrames > 0 {
		a.MeanSegment = float64(newPayload) / float64(a.DataFrames)
	}
	start := l.frames[fi].end.Add(-time.Duration(float64(l.frames[fi].line) / rate * float64(time.Second)))
	a.Window = l.frames[li].end.Sub(start)
	a.Capacity = a.Window.Seconds() * rate
	a.Idle = a.Capacity - float64(lineSum)
	if a.Capacity > 0 {
		a.Share = float64(a.Body) / a.Capacity
	}
	return a, true
}

// keepLongest adds g to gs, which keeps the maxLongGaps longest gaps in
// window order.
func keepLongest(gs []Gap, g Gap) []Gap {
	if len(gs) < maxLongGaps {
		return append(gs, g)
	}
	k := 0
	for i := range gs {
		if gs[i].Len < gs[k].Len {
			k = i
		}
	}
	if g.Len <= gs[k].Len {
		return gs
	}
	copy(gs[k:], gs[k+1:])
	gs[len(gs)-1] = g
	return gs
}

// lastPeer returns the time of the last peer frame that reached the card
// at or before t (zero if none).
func (l *Ledger) lastPeer(t time.Time) time.Time {
	i, j := 0, len(l.peer)
	for i < j {
		h := (i + j) / 2
		if l.peer[h].After(t) {
			j = h
		} else {
			i = h + 1
		}
	}
	if i == 0 {
		return time.Time{}
	}
	return l.peer[i-1]
}

// min32 and max32 clamp stream offsets (modulo 2^32) to [lo, hi].
func min32(e, hi, lo uint32) uint32 {
	if int32(e-hi) > 0 {
		return hi
	}
	if int32(e-lo) < 0 {
		return lo
	}
	return e
}

func max32(s, lo, hi uint32) uint32 {
	if int32(s-lo) < 0 {
		return lo
	}
	if int32(s-hi) > 0 {
		return hi
	}
	return s
}

// Table formats the account as a Markdown table: octets and share of the
// line's capacity in the window.
func (a LineAccount) Table() string {
	var b strings.Builder
	c := a.Capacity
	if c <= 0 {
		c = 1
	}
	row := func(name string, v float64, note string) {
		fmt.Fprintf(&b, "| %s | %.0f | %.4f | %s |\n", name, v, v/c, note)
	}
	fmt.Fprintf(&b, "| line octets in %.2f s (baud/10 × window) | %.0f | 1 | %d records (%.0f B plaintext mean), %d data frames (%.0f B new payload mean) |\n",
		a.Window.Seconds(), a.Capacity, a.Records, a.MeanRecord, a.DataFrames, a.MeanSegment)
	fmt.Fprintf(&b, "|---|---|---|---|\n")
	row("HTTP body (goodput)", float64(a.Body), "")
	row("HTTP response head", float64(a.Head), "")
	row("TLS record header + content type + tag", float64(a.TLS), fmt.Sprintf("%d records", a.Records))
	row("IPv4 + TCP headers as carried", float64(a.TCPIPHeader), fmt.Sprintf("%.2f B per data frame", float64(a.TCPIPHeader)/float64(max(a.DataFrames, 1))))
	row("PPP address/control, protocol, FCS", float64(a.PPP), "")
	row("PPP flags", float64(a.Flags), "")
	row("PPP escapes", float64(a.Escapes), "")
	row("retransmissions", float64(a.Retrans), fmt.Sprintf("%d whole frames", a.RetransFrames))
	row("pure ACK / FIN frames from the card", float64(a.ACKs), fmt.Sprintf("%d frames", a.ACKFrames))
	row("other frames and octets", float64(a.Other), "session ticket / close_notify records sharing the response's frames; LCP, other IP")
	row("idle line", a.Idle, fmt.Sprintf("%.0f ms in the middle of frames (writer late); %d gaps > 20 ms, %.0f ms in them (%.0f ms of it until the last ACK before the line resumed), longest %.0f ms",
		a.LateInFrame.Seconds()*1000, a.Gaps, a.GapTime.Seconds()*1000, a.GapAckWait.Seconds()*1000, a.MaxGap.Seconds()*1000))
	for i, g := range a.LongGaps {
		if i == 0 {
			b.WriteString("\n")
		}
		fmt.Fprintf(&b, "gap at %.3f s: %.0f ms idle (%.0f ms of it mid-frame, %.0f ms until the last ACK), payload before %d, after %d, resent %v\n",
			g.At.Seconds(), g.Len.Seconds()*1000, g.Late.Seconds()*1000, g.AckWait.Seconds()*1000, g.Before, g.After, g.Resent)
	}
	return b.String()
}

// Ceiling is the best line share the measured framing allows: every data
// frame a full mss segment, every record record plaintext octets with the
// measured TLS overhead per record, the measured header, PPP and flag
// octets per frame and escape rate, and nothing idle, resent or sent
// besides. 0 without data frames.
func (a LineAccount) Ceiling(record, mss int) float64 {
	if a.DataFrames == 0 || a.Records == 0 || record <= 0 || mss <= 0 {
		return 0
	}
	fr := float64(a.DataFrames)
	content := float64(a.Body + a.Head + a.TLS + a.TCPIPHeader + a.PPP) // data frames' payload, headers and PPP fields
	esc := float64(a.Escapes) / content
	perFrame := float64(a.TCPIPHeader+a.PPP) / fr
	line := (float64(mss)+perFrame)*(1+esc) + float64(a.Flags)/fr
	tls := float64(a.TLS) / float64(a.Records)
	return float64(mss) / line * float64(record) / (float64(record) + tls)
}
