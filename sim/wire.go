package sim

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
	content := float64(w.AddrCtrl + w.Proto + w.IPTCPHeader + w.MSS + w.FCS)
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
	esc       bool
	frame     []byte
	flags     int
	frames    int
	ipFrames  int
	escapes   int
	unescaped int
	fe        int // escapes in the current frame
	w         Wire
}

func (a *wireAnalyzer) feed(b []byte) {
	for _, c := range b {
		switch {
		case c == 0x7e:
			a.flags++
			if len(a.frame) > 0 {
				a.end()
			}
			a.frame, a.esc, a.fe = a.frame[:0], false, 0
		case c == 0x7d:
			a.esc = true
			a.fe++
		default:
			if a.esc {
				c ^= 0x20
				a.esc = false
			}
			if len(a.frame) < maxAnalyzedFrame {
				a.frame = append(a.frame, c)
			}
		}
	}
}

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
	ip := f[h+p:]
	if proto != 0x21 || len(ip) < 40 {
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
	a.w.AddrCtrl, a.w.Proto, a.w.FCS = h, p, len(ip)-total
	if payload > 0 {
		a.w.IPTCPHeader = ihl + tcphl
		a.w.MSS = max(a.w.MSS, payload)
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
	w.Record = record
	w.RecordOver = 5 + 1 + 16 // header, inner content type, AEAD tag
	return w
}
