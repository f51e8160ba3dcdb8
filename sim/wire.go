package sim

import "netcard/ppp"

// Wire describes the framing the card actually used on the line, measured
// from its bytes: what the theoretical maximum goodput is computed from.
type Wire struct {
	Frames        int     `json:"frames"`          // IPv4 frames seen
	FlagsPerFrame float64 `json:"flags_per_frame"` // 0x7E per frame (1 when flags are shared)
	AddrCtrl      int     `json:"addr_ctrl"`       // 2, or 0 with ACFC
	Proto         int     `json:"proto"`           // 2, or 1 with PFC
	FCS           int     `json:"fcs"`             // 2 (FCS-16) or 4 (FCS-32)
	IPTCPHeader   int     `json:"ip_tcp_header"`   // IPv4 + TCP header bytes of a data segment
	MSS           int     `json:"mss"`             // largest TCP payload seen
	EscapeRate    float64 `json:"escape_rate"`     // escapes per unescaped byte under the negotiated ACCM
	Record        int     `json:"record"`          // TLS plaintext per record
	RecordOver    int     `json:"record_overhead"` // TLS bytes per record beyond the plaintext
	// RecordMaxSeen is the largest TLS 1.3 application_data record seen in
	// the sender's TCP stream, as plaintext (record length − tag − inner
	// content type); 0 if the stream could not be followed.
	RecordMaxSeen int `json:"record_max_seen"`
	// Resent counts TCP payload bytes of that stream sent more than once.
	Resent int `json:"resent_bytes"`
	// VJ reports that the sender used Van Jacobson header compression
	// (RFC 1144; IPTCPHeader is then the rebuilt header); LineHeader is
	// the mean IPv4 + TCP header octets a data frame carried on the line,
	// compressed or not.
	VJ         bool    `json:"vj"`
	LineHeader float64 `json:"line_header"`
}

// MaxGoodput is the best goodput (application bytes/s) the line can carry
// with this framing: one shared flag per frame, every segment a full MSS of
// full TLS records, the
// per-frame PPP, IPv4 and TCP overhead as negotiated, escaping at the
// measured rate. ACKs travel the other direction of the full-duplex line.
func (w Wire) MaxGoodput(baud int) float64 {
	if w.MSS == 0 || baud == 0 {
		return 0
	}
	hdr := float64(w.IPTCPHeader)
	if w.LineHeader > 0 {
		hdr = w.LineHeader
	}
	content := float64(w.AddrCtrl+w.Proto+w.MSS+w.FCS) + hdr
	line := 1 + content*(1+w.EscapeRate) // one shared flag per frame at best
	payload := float64(w.MSS) * float64(w.Record) / float64(w.Record+w.RecordOver)
	return float64(baud) / 10 * payload / line
}

// maxAnalyzedFrame bounds the analyzer's frame buffer (longer frames are
// truncated, and then fail the length checks).
const maxAnalyzedFrame = 1 << 16

// wireAnalyzer parses the card's raw HDLC byte stream. Any bytes are
// accepted; memory is bounded.
type wireAnalyzer struct {
	hdlcScan
	frames    int
	ipFrames  int
	escapes   int
	unescaped int
	w         Wire
	tcp       streamFollower
	vj        *ppp.VJDecoder
	hdrSum    int // line header octets of data frames
	dataFr    int // data frames
}

func (a *wireAnalyzer) feed(b []byte) {
	for _, c := range b {
		if a.octet(c) {
			if len(a.frame) > 0 {
				a.end()
			}
			a.restart()
		}
	}
}

// hdlcScan un-escapes a raw HDLC octet stream (RFC 1662 §4.2) into frames:
// the line analyzers of this package (wireAnalyzer, Ledger) feed it octet
// by octet. Memory is bounded (maxAnalyzedFrame).
type hdlcScan struct {
	esc   bool
	frame []byte // the current frame, un-escaped
	fe    int    // escapes in the current frame
	flags int    // flags seen (each analyzer resets it as it needs)
}

// octet takes one line octet and reports a flag: the frame in h.frame (with
// h.fe escapes) ends there. The caller reads it, then calls restart.
func (h *hdlcScan) octet(c byte) (flag bool) {
	switch {
	case c == 0x7e:
		h.flags++
		return true
	case c == 0x7d:
		h.esc = true
		h.fe++
	default:
		if h.esc {
			c ^= 0x20
			h.esc = false
		}
		if len(h.frame) < maxAnalyzedFrame {
			h.frame = append(h.frame, c)
		}
	}
	return false
}

// restart starts a new frame after a flag.
func (h *hdlcScan) restart() { h.frame, h.esc, h.fe = h.frame[:0], false, 0 }

func (a *wireAnalyzer) end() {
	a.frames++
	f := a.frame
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
	if len(f) < h+p {
		return
	}
	proto := int(f[h])
	if p == 2 {
		proto = proto<<8 | int(f[h+1])
	}
	const fcs = 2 // the link runs FCS-16
	info := f[h+p:]
	if (proto != ppp.ProtoIP && proto != ppp.ProtoVJComp && proto != ppp.ProtoVJUncomp) || len(info) < fcs {
		return
	}
	if a.vj == nil {
		a.vj = ppp.NewVJDecoder()
	}
	ip, lineHdr, ok := a.vj.Decode(uint16(proto), info[:len(info)-fcs])
	if !ok || len(ip) < 40 {
		return
	}
	total := int(ip[2])<<8 | int(ip[3])
	ihl := int(ip[0]&15) * 4
	if total > len(ip) || ihl < 20 || total < ihl+20 {
		return
	}
	tcphl := int(ip[ihl+12]>>4) * 4
	payload := total - ihl - tcphl
	a.ipFrames++
	a.escapes += a.fe
	a.unescaped += len(f)
	a.w.AddrCtrl, a.w.Proto, a.w.FCS = h, p, fcs
	if proto != ppp.ProtoIP {
		a.w.VJ = true
	}
	if payload > 0 {
		a.w.IPTCPHeader = ihl + tcphl
		a.w.MSS = max(a.w.MSS, payload)
		a.hdrSum += lineHdr
		a.dataFr++
	}
	if ihl+tcphl <= total && tcphl >= 20 {
		a.tcp.segment(ip[ihl:ihl+tcphl], ip[ihl+tcphl:total])
	}
}

func (a *wireAnalyzer) result(record int) Wire {
	w := a.w
	w.Frames = a.ipFrames
	if a.frames > 0 {
		w.FlagsPerFrame = float64(a.flags) / float64(a.frames)
	}
	if a.unescaped > 0 {
		w.EscapeRate = float64(a.escapes) / float64(a.unescaped)
	}
	if w.VJ && a.dataFr > 0 {
		w.LineHeader = float64(a.hdrSum) / float64(a.dataFr)
	}
	w.RecordMaxSeen = a.tcp.recMax
	w.Resent = a.tcp.resent
	if record <= 0 {
		record = w.RecordMaxSeen
	}
	w.Record = record
	w.RecordOver = tlsRecordHeader + 1 + aeadTag // header, inner content type, AEAD tag
	return w
}

const (
	tlsRecordHeader = 5
	aeadTag         = 16
	tlsAppData      = 23
)

// streamFollower follows the sender's first TCP connection (from its SYN)
// in sequence order and parses the TLS record headers in it. A gap in the
// sequence (a segment the analyzer did not see) stops it; retransmitted
// bytes are skipped.
type streamFollower struct {
	started, lost   bool
	sport, dport    uint16
	next            uint32 // next expected sequence number
	hdr             [tlsRecordHeader]byte
	hn              int // header bytes gathered
	skip            int // record body bytes still to skip
	records, recMax int
	resent          int // payload bytes sent again
}

// segment takes one TCP segment (header, payload) of the sender.
func (f *streamFollower) segment(h, payload []byte) {
	sport, dport := uint16(h[0])<<8|uint16(h[1]), uint16(h[2])<<8|uint16(h[3])
	seq := uint32(h[4])<<24 | uint32(h[5])<<16 | uint32(h[6])<<8 | uint32(h[7])
	syn := h[13]&0x02 != 0
	if !f.started {
		if !syn {
			return
		}
		f.started, f.sport, f.dport, f.next = true, sport, dport, seq+1
		return
	}
	if f.lost || sport != f.sport || dport != f.dport || syn {
		return
	}
	d := int32(seq - f.next)
	if d > 0 {
		f.lost = true // a hole: the record boundaries are lost
		return
	}
	if d < 0 {
		f.resent += min(int(-d), len(payload))
	}
	if -d >= int32(len(payload)) {
		return // all seen before
	}
	payload = payload[-d:]
	f.next += uint32(len(payload))
	f.parse(payload)
}

// parse parses record headers out of in-order stream bytes.
func (f *streamFollower) parse(b []byte) {
	for len(b) > 0 {
		if f.skip > 0 {
			n := min(f.skip, len(b))
			f.skip -= n
			b = b[n:]
			continue
		}
		n := copy(f.hdr[f.hn:], b)
		f.hn += n
		b = b[n:]
		if f.hn < tlsRecordHeader {
			return
		}
		f.hn = 0
		length := int(f.hdr[3])<<8 | int(f.hdr[4])
		f.skip = length
		if f.hdr[0] == tlsAppData && length > aeadTag+1 {
			f.records++
			f.recMax = max(f.recMax, length-aeadTag-1)
		}
	}
}
