package sim

import (
	"cmp"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"time"
	"unsafe"

	"netcard/apps"
	"netcard/card"
	"netcard/http"
	"netcard/ipv4"
	"netcard/link"
	"netcard/ppp"
	"netcard/store"
	"netcard/tcp"
	"netcard/tls"
	"netcard/udp"
)

// Results are the figures of issue 7, all from one run. The JSON keys of
// the goals table are exactly those of the issue; the others are details.
type Results struct {
	CardRAMBytes           int64    `json:"card_ram_bytes"`
	TinyRAMBytes           int64    `json:"tiny_ram_bytes"`
	AllocsPerPacket        float64  `json:"allocs_per_packet"`
	HandshakeAllocsRatio   float64  `json:"handshake_allocs_ratio"`
	HandshakeCPURatio      float64  `json:"handshake_cpu_ratio"`
	SerialEfficiency115200 float64  `json:"serial_efficiency_115200"`
	SerialEfficiency12M    float64  `json:"serial_efficiency_12M"`
	TTFBRatio115200        float64  `json:"ttfb_ratio_115200"`
	BulkCPURatioVsGvisor   *float64 `json:"bulk_cpu_ratio_vs_gvisor"`
	CardsPerGiB            float64  `json:"cards_per_gib"`

	// Issue 14: the peak live heap of one card (one-slot Card profile;
	// Tiny) over handshake, GET /, a 64 KiB download and a 1 MiB upload in
	// full records (MeasurePeakRAM), and the hard bound (RAMBound).
	CardPeakRAMBytes  int64 `json:"card_peak_ram_bytes"`
	TinyPeakRAMBytes  int64 `json:"tiny_peak_ram_bytes"`
	CardBoundRAMBytes int64 `json:"card_bound_ram_bytes"`
	TinyBoundRAMBytes int64 `json:"tiny_bound_ram_bytes"`

	// Details.
	CardRAMAccounted int64  `json:"card_ram_accounted_bytes"` // Budget + unsafe.Sizeof, one-slot Card profile
	CardRAMStatic    int64  `json:"card_ram_static_bytes"`    // one-slot card after card.New, no session
	CardRAMBreakdown []Part `json:"card_ram_breakdown"`
	// Details of the peak and the bound: the part of the scenario the peak
	// was reached in, the bound on the heap inside one call (transient
	// objects included: PeakRAM.InCallBound), the card's heap after the
	// handshake and after the scenario (each after 2 s of quiet, attributed
	// as the peak is), the plaintext bytes of each upload record (Tiny: its
	// record_size_limit of 512 less the content-type byte, RFC 8449 §4),
	// the bound's parts, and the wall time of the peak and bound
	// measurements together.
	CardPeakRAMPhase       string  `json:"card_peak_ram_phase"`
	TinyPeakRAMPhase       string  `json:"tiny_peak_ram_phase"`
	CardPeakRAMInCallBytes int64   `json:"card_peak_ram_in_call_bytes"`
	TinyPeakRAMInCallBytes int64   `json:"tiny_peak_ram_in_call_bytes"`
	CardPeakRAMIdleBytes   int64   `json:"card_peak_ram_idle_bytes"`
	CardPeakRAMEndBytes    int64   `json:"card_peak_ram_end_bytes"`
	TinyPeakRAMIdleBytes   int64   `json:"tiny_peak_ram_idle_bytes"`
	TinyPeakRAMEndBytes    int64   `json:"tiny_peak_ram_end_bytes"`
	CardPeakRecordBytes    int     `json:"card_peak_upload_record_bytes"`
	TinyPeakRecordBytes    int     `json:"tiny_peak_upload_record_bytes"`
	CardBoundRAMBreakdown  []Part  `json:"card_bound_ram_breakdown"`
	TinyBoundRAMBreakdown  []Part  `json:"tiny_bound_ram_breakdown"`
	PeakRAMSeconds         float64 `json:"peak_ram_seconds"`
	// SecureClientRAMBytes is what the card's secure client (a fetch for
	// the administrator, apps.ClientSession) holds at its largest, outside
	// the bounds above: the profile does not budget it (the same for every
	// profile; BoundRAM.SecureClient).
	SecureClientRAMBytes    int64   `json:"secure_client_ram_bytes"`
	CardProfileRAMBytes     int64   `json:"card_profile_ram_bytes"`           // the Card profile as shipped (4 slots), measured
	CardProfileRAMAccounted int64   `json:"card_profile_ram_accounted_bytes"` // same, accounted
	TinyRAMAccounted        int64   `json:"tiny_ram_accounted_bytes"`
	AllocsPerPacketFrames   uint64  `json:"allocs_per_packet_frames"`
	HandshakeAllocsCard     float64 `json:"handshake_allocs_card"`
	HandshakeAllocsGo       float64 `json:"handshake_allocs_crypto_tls"`
	HandshakeBytesCard      float64 `json:"handshake_bytes_card"`
	HandshakeBytesGo        float64 `json:"handshake_bytes_crypto_tls"`
	HandshakeBytesRatio     float64 `json:"handshake_bytes_ratio"`
	HandshakeNsCard         float64 `json:"handshake_ns_card"`
	HandshakeNsGo           float64 `json:"handshake_ns_crypto_tls"`
	// HandshakeAllocsSign is what the ECDSA P-256 signature alone costs
	// inside Go's crypto/ecdsa (included in HandshakeAllocsCard): the floor.
	HandshakeAllocsSign float64 `json:"handshake_allocs_ecdsa_sign"`
	// HandshakeAllocsRatioEd25519 is handshake_allocs_ratio with the same
	// certificate as an Ed25519 key for both servers.
	HandshakeAllocsRatioEd25519 float64 `json:"handshake_allocs_ratio_ed25519"`
	// The same TLS 1.3 server handshake with an RSA-2048 key for both servers
	// (rsa_pss_rsae_sha256): ours ÷ crypto/tls CPU (median) and allocations,
	// and our RSA handshake's CPU ÷ our ECDSA P-256 one.
	RSAHandshakeCPURatio     float64 `json:"rsa_handshake_cpu_ratio"`
	RSAHandshakeAllocsRatio  float64 `json:"rsa_handshake_allocs_ratio"`
	RSAHandshakeNsCard       float64 `json:"rsa_handshake_ns_card"`
	RSAHandshakeAllocsCard   float64 `json:"rsa_handshake_allocs_card"`
	RSAHandshakeBytesCard    float64 `json:"rsa_handshake_bytes_card"`
	RSAHandshakeAllocsSign   float64 `json:"rsa_handshake_allocs_rsa_sign"`
	RSAOverECDSAHandshakeCPU float64 `json:"rsa_over_ecdsa_handshake_cpu"`
	Goodput115200            float64 `json:"goodput_115200_Bps"`
	MaxGoodput115200         float64 `json:"max_goodput_115200_Bps"`
	Goodput12M               float64 `json:"goodput_12M_Bps"`
	MaxGoodput12M            float64 `json:"max_goodput_12M_Bps"`
	Wire115200               Wire    `json:"wire_115200"`
	// SerialEfficiency115200Tiny is the same download from a Tiny-profile
	// card (MRU 296, 256-byte records), against its own theoretical maximum.
	SerialEfficiency115200Tiny float64 `json:"serial_efficiency_115200_tiny"`
	WireTiny                   Wire    `json:"wire_115200_tiny"`
	TTFB115200Ms               float64 `json:"ttfb_115200_ms"`
	TTFBBound115200Ms          float64 `json:"ttfb_bound_115200_ms"`
	// TTFBRatio115200Latency20ms is the TTFB ratio with 20 ms one-way latency.
	TTFBRatio115200Latency20ms float64 `json:"ttfb_ratio_115200_latency_20ms"`
	BulkNsPerByteCard          float64 `json:"bulk_ns_per_byte_card"`   // card + our host peer, process CPU
	BulkNsPerByteGvisor        float64 `json:"bulk_ns_per_byte_gvisor"` // two gVisor stacks, net/http + crypto/tls
	BulkNote                   string  `json:"bulk_note,omitempty"`
	CardsMeasured              int     `json:"cards_measured"`
	CardsPerGiBOneSlot         float64 `json:"cards_per_gib_one_slot"`
	SimSpeedup                 float64 `json:"sim_speedup_115200"` // virtual ÷ wall time of the 115200 download

	// TTFBRatio115200CPU is ttfb_ratio_115200 with the card's processing
	// time of the handshake and request (wall clock on this machine, median
	// of 3 runs) added to the virtual TTFB (MeasureTTFBCPU).
	TTFBRatio115200CPU  float64 `json:"ttfb_ratio_115200_cpu"`
	TTFBCardCPU115200Ms float64 `json:"ttfb_card_cpu_115200_ms"`

	// The peer on the same serial line model (MeasurePeerThroughput):
	// gVisor's netstack + crypto/tls + net/http, framed by this project's
	// ppp with the card's negotiated options, run in virtual time.
	// Null when the peer could not be measured (PeerNote says why).
	PeerSerialEfficiency115200 *float64 `json:"peer_serial_efficiency_115200"`
	PeerSerialEfficiency12M    *float64 `json:"peer_serial_efficiency_12M"`
	// Card ÷ peer: efficiencies (each against its own framing's maximum)
	// and goodputs (bytes/s on the same line).
	SerialEfficiencyRatioVsPeer115200 *float64 `json:"serial_efficiency_ratio_vs_peer_115200"`
	SerialEfficiencyRatioVsPeer12M    *float64 `json:"serial_efficiency_ratio_vs_peer_12M"`
	GoodputRatioVsPeer115200          *float64 `json:"goodput_ratio_vs_peer_115200"`
	GoodputRatioVsPeer12M             *float64 `json:"goodput_ratio_vs_peer_12M"`
	PeerGoodput115200                 float64  `json:"peer_goodput_115200_Bps"`
	PeerMaxGoodput115200              float64  `json:"peer_max_goodput_115200_Bps"`
	PeerGoodput12M                    float64  `json:"peer_goodput_12M_Bps"`
	PeerMaxGoodput12M                 float64  `json:"peer_max_goodput_12M_Bps"`
	PeerBytes115200                   int      `json:"peer_bytes_115200"`
	PeerBytes12M                      int      `json:"peer_bytes_12M"`
	PeerWire115200                    Wire     `json:"peer_wire_115200"`
	PeerTLS                           string   `json:"peer_tls"`
	PeerNote                          string   `json:"peer_note,omitempty"`

	// The same 115200-baud download with Van Jacobson header compression
	// (RFC 1144) negotiated both ways, against its own maximum; and the
	// line share of both runs: goodput ÷ line byte rate (baud/10).
	SerialEfficiency115200VJ float64 `json:"serial_efficiency_115200_vj"`
	Goodput115200VJ          float64 `json:"goodput_115200_vj_Bps"`
	Wire115200VJ             Wire    `json:"wire_115200_vj"`
	LineShare115200          float64 `json:"line_share_115200"`
	LineShare115200VJ        float64 `json:"line_share_115200_vj"`

	// The real kernel path (`netcard bench --real`, root): an HTTPS
	// download from a Card-profile card over a paced 115200-baud line to
	// our PPP host role on a TUN device in a fresh namespace, curl there;
	// goodput ÷ baud/10, with VJ (the default) and without; and the body
	// octets ÷ the line octets the card sent meanwhile. null without
	// --real (RealNote says why).
	RealLineShare115200      *float64 `json:"real_line_share_115200"`
	RealLineShare115200NoVJ  *float64 `json:"real_line_share_115200_novj"`
	RealLineBytesShare115200 *float64 `json:"real_line_bytes_share_115200"`
	RealLineBytesShareNoVJ   *float64 `json:"real_line_bytes_share_115200_novj"`
	RealLineBytes            int      `json:"real_line_download_bytes,omitempty"`
	// With --real-runs N the paced download runs N times each way; the
	// keys above are then the medians, these every run in order, and
	// RealLineAccount115200 is the line ledger (Ledger) of the VJ run
	// closest to the median.
	RealLineShare115200Runs     []float64    `json:"real_line_share_115200_runs,omitempty"`
	RealLineShare115200NoVJRuns []float64    `json:"real_line_share_115200_novj_runs,omitempty"`
	RealLineAccount115200       *LineAccount `json:"real_line_account_115200,omitempty"`
	// RealLineCeiling115200 is the best line share that run's framing
	// allows (LineAccount.Ceiling: full records of the Card profile's
	// RecordOut, full 1,460-byte segments, nothing idle or resent).
	RealLineCeiling115200 *float64 `json:"real_line_ceiling_115200,omitempty"`
	RealNote              string   `json:"real_note,omitempty"`
	// Unpaced on the same path (--real): goodput and this process's CPU
	// time (server and our host bridge) per body byte, the card and the
	// peer the issue compares with (gVisor netstack + crypto/tls +
	// net/http behind our PPP) in the same run; medians of 3 runs each.
	GoodputRealMiBs       *float64 `json:"goodput_real_mib_s"`
	PeerGoodputRealMiBs   *float64 `json:"peer_goodput_real_mib_s"`
	BulkCPURatioReal      *float64 `json:"bulk_cpu_ratio_real"`
	BulkNsPerByteRealCard *float64 `json:"bulk_ns_per_byte_real_card"`
	BulkNsPerByteRealPeer *float64 `json:"bulk_ns_per_byte_real_peer"`

	// Apps is each application's RAM and store use on a fresh one-slot
	// card (the built-ins; see package applet).
	Apps []AppUse `json:"apps"`
}

// OneConnCard is the Card profile reduced to one connection slot: the
// configuration of the "card RAM serving one HTTPS connection" row. Its
// slot owns the Card's small receive buffer (3,926 bytes) and the one large
// buffer (RecvBuf + MSS) is lent only to a client that offers no
// ChaCha20-Poly1305 (whose 16 KiB records the card streams through the
// store: Profile.SpillRecords).
func OneConnCard() card.Profile {
	p := card.CardProfile
	p.Name = "card-1"
	p.MaxConns = 1
	return p
}

// Accounted is the RAM of a card with profile p by construction: the
// profile's buffers (Budget) plus the size of every control structure
// (unsafe.Sizeof of the real types) and the TLS engine's own footprint for
// the one established session. The secure client (apps.ClientSession and
// its buffers) exists only while a fetch runs and is not counted. It
// leaves out objects Go's crypto packages allocate during a handshake
// (counted by the heap measurement).
func Accounted(p card.Profile) int64 {
	var (
		c   card.Card
		l   ppp.Link
		h   ipv4.Host
		s   tcp.Stack
		tc  tcp.Conn
		u   udp.Stack
		ss  apps.ServerSession
		hc  http.ServerConn
		a   apps.App
		cfg tls.Config
	)
	n := int64(p.Budget())
	n += int64(unsafe.Sizeof(c) + unsafe.Sizeof(l) + unsafe.Sizeof(h) + unsafe.Sizeof(s) + unsafe.Sizeof(u) +
		unsafe.Sizeof(a) + unsafe.Sizeof(cfg))
	// One session (and its HTTP connection) per TCP slot, whichever port.
	n += int64(p.MaxConns) * int64(unsafe.Sizeof(tc)+unsafe.Sizeof(ss)+unsafe.Sizeof(hc))
	// One TLS engine per established connection: measured on a real one.
	n += int64(engineFootprint(p))
	return n
}

func engineFootprint(p card.Profile) int {
	// What an established connection holds: the server engine after a full
	// handshake with our client engine, both driven in memory.
	st, err := NewStore(1, 16<<10, nil)
	if err != nil {
		panic(err)
	}
	signer, err := st.Signer()
	if err != nil {
		panic(err)
	}
	srv := tls.NewServer(&tls.Config{Rand: NewRand(1, "fp"), Time: func() time.Time { return Epoch },
		Certificate: st.Certificate(), Signer: signer, MaxRecordOut: uint16(p.RecordOut), RecordSizeLimit: uint16(p.RecordSizeLimit)}, p.RecvBuf)
	cli := tls.NewClient(&tls.Config{Rand: NewRand(2, "fp"), Client: &tls.ClientConfig{InsecureSkipVerify: true}}, 0)
	buf := make([]byte, 32<<10)
	for i := 0; i < 20 && (srv.State() == tls.Handshaking || srv.Pending() > 0 || cli.Pending() > 0); i++ {
		shuttle(cli, srv, buf)
		shuttle(srv, cli, buf)
	}
	return srv.Footprint()
}

// shuttle moves every pending record from one engine to the other.
func shuttle(from, to *tls.Engine, buf []byte) {
	n := from.Output(buf)
	in := buf[:n]
	for len(in) > 0 {
		k, _, err := to.Unwrap(in)
		if err != nil || k == 0 {
			return
		}
		in = in[k:]
	}
}

// heapInUse returns the live heap after two collections.
func heapInUse() uint64 {
	var m runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// Handshake runs the link up and one TLS handshake from the host peer
// (the request is held back: Client.SendRequest sends it), leaving the card
// with an established session.
func (w *World) Handshake(limit time.Duration) (*Client, error) {
	if err := w.RunUntil(w.Up, limit); err != nil {
		return nil, fmt.Errorf("link: %w", err)
	}
	c, err := w.StartGet("/", limit)
	if err != nil {
		return nil, err
	}
	c.held, c.req = c.req, nil // handshake only
	err = w.RunUntil(func() bool {
		return c.done || c.eng.State() == tls.Established && w.down.idle(w.now) && w.up.idle(w.now)
	}, limit)
	if err == nil && c.done {
		err = c.err
	}
	if err == nil && c.eng.State() != tls.Established {
		err = errors.New("sim: handshake did not complete")
	}
	return c, err
}

// IdleBeforeRAM is how long a card's link stays quiet, its timers polled as
// the world polls them, between the end of a handshake and a measurement of
// its idle heap: a card that sheds its buffers when quiet is measured shed.
const IdleBeforeRAM = 2 * time.Second

// HandshakeIdle is Handshake followed by IdleBeforeRAM of quiet (virtual
// time); the session must still be established then.
func (w *World) HandshakeIdle(limit time.Duration) (*Client, error) {
	c, err := w.Handshake(limit)
	if err != nil {
		return c, err
	}
	w.Run(IdleBeforeRAM)
	if c.done || c.eng.State() != tls.Established || c.conn.State() != tcp.Established {
		return c, fmt.Errorf("sim: the session did not stay established for %v (tls %v, tcp %v, %v)",
			IdleBeforeRAM, c.eng.State(), c.conn.State(), c.err)
	}
	return c, nil
}

func (l *line) idle(now time.Time) bool { return !l.busyUntil.After(now) && l.qh == len(l.q) }

// MeasureRAM builds n cards with profile p, each with one TLS session
// established through the simulation and then idle for IdleBeforeRAM
// (HandshakeIdle: "an established idle HTTPS session"), drops everything but
// the cards and returns the live heap per card (GC before and after). The store is shared
// (it is the card's non-volatile memory, not RAM).
func MeasureRAM(p card.Profile, n int, st *store.Store) (perCard int64, err error) {
	cards := make([]*card.Card, n)
	detachStore(st)
	before := heapInUse()
	for i := range cards {
		w, err := New(Options{Profile: p, Store: st, Seed: uint64(i + 1)})
		if err != nil {
			return 0, err
		}
		if _, err := w.HandshakeIdle(10 * time.Second); err != nil {
			return 0, fmt.Errorf("card %d: %w", i, err)
		}
		cards[i] = w.card
	}
	after := heapInUse()
	runtime.KeepAlive(cards)
	return int64(after-before) / int64(n), nil
}

// detachStore lets go of the last card built on st. apps.New points the
// store's clock at its card (store.SetClock), so a store shared by the
// cards of a measurement keeps the card built last alive; that card would be
// freed during the next measurement on the store (when the first new card
// takes the clock over) and the freed bytes taken off the new cards' heap
// (one card's worth ÷ the cards measured: ≈ 2 KB per Tiny card after a
// one-slot Card measurement of 20). Every measurement calls it before its
// baseline; the constant clock allocates nothing.
func detachStore(st *store.Store) { st.SetClock(epochClock) }

func epochClock() time.Time { return Epoch }

// MeasureRAMStatic returns the live heap per card of n cards built with
// card.New (link not started, no session): the profile's allocation at
// start, without per-session state.
func MeasureRAMStatic(p card.Profile, n int, st *store.Store) (int64, error) {
	cards := make([]*card.Card, n)
	detachStore(st)
	before := heapInUse()
	for i := range cards {
		c, err := card.New(card.Config{Profile: p, Store: st, Rand: NewRand(uint64(i), "card")})
		if err != nil {
			return 0, err
		}
		cards[i] = c
	}
	after := heapInUse()
	runtime.KeepAlive(cards)
	return int64(after-before) / int64(n), nil
}

// Breakdown lists the accounted RAM of profile p by part.
func Breakdown(p card.Profile) []Part {
	var (
		c   card.Card
		l   ppp.Link
		h   ipv4.Host
		s   tcp.Stack
		tc  tcp.Conn
		u   udp.Stack
		ss  apps.ServerSession
		hc  http.ServerConn
		a   apps.App
		cfg tls.Config
	)
	return []Part{
		{"PPP frame buffers (2 × (MRU+8))", int64(2 * (p.MRU + 8))},
		{"TCP receive buffers (= TLS record buffers)", int64(p.MaxConns * p.RecvBuf)},
		{"TCP send buffers (= HTTP response room, in place)", int64(p.MaxConns * p.SendBuf)},
		{"HTTP input + error/header buffers", int64(p.MaxConns * (p.HTTPIn + p.HTTPOutBuf()))},
		{"UDP queues + IPv4 reassembly", int64(p.UDPSockets*p.UDPQueue + p.ReassemblyBytes)},
		{"control structs (card, ppp, ipv4, tcp, udp, apps, tls.Config)", int64(unsafe.Sizeof(c) + unsafe.Sizeof(l) + unsafe.Sizeof(h) +
			unsafe.Sizeof(s) + unsafe.Sizeof(u) + unsafe.Sizeof(a) + unsafe.Sizeof(cfg))},
		{"per slot: tcp.Conn + apps.ServerSession + http.ServerConn", int64(p.MaxConns) * int64(unsafe.Sizeof(tc)+unsafe.Sizeof(ss)+unsafe.Sizeof(hc))},
		{"TLS engine footprint (one session)", int64(engineFootprint(p))},
	}
}

// AppUse is one application's RAM and store bytes.
type AppUse struct {
	Name       string `json:"name"`
	RAMBytes   int    `json:"ram_bytes"`
	StoreBytes int    `json:"store_bytes"`
}

// AppsUse builds a card of profile p on st and reports its applications'
// use (nil if the card cannot be built).
func AppsUse(p card.Profile, st *store.Store) []AppUse {
	c, err := card.New(card.Config{Profile: p, Store: st, Rand: NewRand(99, "card")})
	if err != nil {
		return nil
	}
	var out []AppUse
	c.App().Host().Use(func(i int, name string, ram, store int) {
		out = append(out, AppUse{name, ram, store})
	})
	return out
}

// Part is one line of a RAM breakdown.
type Part struct {
	Name  string `json:"name"`
	Bytes int64  `json:"bytes"`
}

// MeasureAllocsPerPacket downloads size bytes over a 12 Mbit/s line and
// counts heap allocations per PPP frame (card frames in + out) in the steady
// state (after the first 16 KiB of the body). The count is process-wide: it
// includes the host peer and the simulator, so it is an upper bound for the
// card.
func MeasureAllocsPerPacket(st *store.Store, size int) (float64, uint64, error) {
	// VJ header compression both ways, as the host bridge negotiates it.
	w, err := New(Options{Store: st, Seed: 11, Baud: 12_000_000, HostVJSlots: ppp.MaxVJSlots})
	if err != nil {
		return 0, 0, err
	}
	if err := w.RunUntil(w.Up, 10*time.Second); err != nil {
		return 0, 0, err
	}
	c, err := w.StartGet("/f", time.Minute)
	if err != nil {
		return 0, 0, err
	}
	warm := func() bool { return c.done || c.Len >= 16<<10 }
	if err := w.RunUntil(warm, time.Minute); err != nil {
		return 0, 0, err
	}
	// The window ends 8 KiB before the last byte: the steady state, not
	// the end of the connection (the host client's close then lends its
	// TCP stack's RST queue once, which the process-wide count would see).
	steady := func() bool { return c.done || int(c.Len) >= size-8<<10 }
	var m0, m1 runtime.MemStats
	ps0 := w.card.Link().Stats()
	// A GC cycle first: the process's first cycle starts the runtime's
	// background mark workers (goroutines: counted as allocations) and
	// must not land inside the measured window.
	runtime.GC()
	runtime.ReadMemStats(&m0)
	err = w.RunUntil(steady, time.Minute)
	runtime.ReadMemStats(&m1)
	ps1 := w.card.Link().Stats()
	if err == nil {
		err = w.RunUntil(c.Done, time.Minute)
	}
	if err == nil {
		err = c.err
	}
	if err != nil {
		return 0, 0, err
	}
	frames := ps1.FramesIn + ps1.FramesOut - ps0.FramesIn - ps0.FramesOut
	if int(c.Len) != size || frames == 0 {
		return 0, 0, fmt.Errorf("sim: got %d of %d bytes, %d frames", c.Len, size, frames)
	}
	return float64(m1.Mallocs-m0.Mallocs) / float64(frames), frames, nil
}

// Throughput is the result of one download over the simulated line.
type Throughput struct {
	Baud       int
	Bytes      int64
	Goodput    float64 // body bytes/s from the first body byte to the last
	Max        float64 // theoretical maximum for the negotiated framing
	Efficiency float64
	LineShare  float64 // Goodput ÷ the line's byte rate (baud/10)
	Virtual    time.Duration
	Wall       time.Duration
	Wire       Wire
	// Account is where the line time of the response went (Ledger).
	Account LineAccount
}

// MeasureThroughput downloads the store file "f" (size bytes) at baud and
// compares the goodput with the theoretical maximum computed from the
// frames the card actually sent (see Wire.MaxGoodput).
func MeasureThroughput(st *store.Store, baud int, size int, p card.Profile) (Throughput, error) {
	return MeasureThroughputVJ(st, baud, size, p, 0)
}

// MeasureThroughputVJ is MeasureThroughput with the host peer offering Van
// Jacobson header compression with hostVJ slots (the card's side is its
// profile's VJSlots); 0: the peer rejects it, as before VJ existed.
func MeasureThroughputVJ(st *store.Store, baud int, size int, p card.Profile, hostVJ int) (Throughput, error) {
	var wa wireAnalyzer
	var led Ledger
	w, err := New(Options{Store: st, Seed: 12, Baud: baud, Profile: p, Chunk: time.Millisecond, HostVJSlots: hostVJ})
	if err != nil {
		return Throughput{}, err
	}
	if err := w.RunUntil(w.Up, 10*time.Second); err != nil {
		return Throughput{}, err
	}
	w.DownTap(func(at time.Time, b []byte) { wa.feed(b); led.Feed(at.Add(link.WireTime(len(b), baud)), b) })
	w.UpTap(func(at time.Time, b []byte) { led.Peer(at.Add(link.WireTime(len(b), baud)), b) })
	start := time.Now()
	c, err := w.StartGet("/f", time.Hour)
	if err != nil {
		return Throughput{}, err
	}
	if err := w.Wait(c, time.Hour); err != nil {
		return Throughput{}, err
	}
	t := Throughput{Baud: baud, Bytes: c.Len, Wall: time.Since(start), Virtual: c.End.Sub(c.Start)}
	if int(c.Len) != size {
		return t, fmt.Errorf("sim: got %d of %d bytes", c.Len, size)
	}
	if d := c.End.Sub(c.FirstBody); d > 0 {
		t.Goodput = float64(c.Len-c.FirstBodyLen) / d.Seconds()
	}
	// The card's records: RecordOut, or less if the client limited them
	// (record_size_limit); the client's own PeerRecordLimit is the limit of
	// what the client sends, not of what the card sends.
	rec := p.RecordOut
	if rec == 0 {
		rec = 1024
	}
	if seen := wa.tcp.recMax; seen > 0 && seen < rec {
		rec = seen
	}
	t.Wire = wa.result(rec)
	t.Account, _ = led.Account(size, baud)
	t.Max = t.Wire.MaxGoodput(baud)
	if baud > 0 {
		t.LineShare = t.Goodput / (float64(baud) / 10)
	}
	if t.Max > 0 {
		t.Efficiency = t.Goodput / t.Max
	}
	return t, nil
}

// MeasureTTFB runs one HTTPS GET of / at baud on an idle, open link and
// returns the time to the first response byte and the wire-time lower
// bound: every byte of the exchange up to then (both directions, as if one
// after the other: the exchange is ping-pong) at line rate. Latency is zero.
func MeasureTTFB(st *store.Store, baud int) (ttfb, bound time.Duration, err error) {
	return MeasureTTFBLatency(st, baud, 0)
}

// MeasureTTFBLatency is MeasureTTFB with a one-way line latency; the bound
// then adds the six one-way crossings of the minimal exchange (TCP SYN and
// SYN-ACK, ClientHello and the server flight, the client's Finished with
// the request and the response).
func MeasureTTFBLatency(st *store.Store, baud int, latency time.Duration) (ttfb, bound time.Duration, err error) {
	w, err := New(Options{Store: st, Seed: 13, Baud: baud, Chunk: time.Millisecond, Latency: latency})
	if err != nil {
		return 0, 0, err
	}
	if err := w.RunUntil(w.Up, 10*time.Second); err != nil {
		return 0, 0, err
	}
	w.Run(time.Second) // let the link go quiet
	c, err := w.StartGet("/", time.Minute)
	if err != nil {
		return 0, 0, err
	}
	if err := w.Wait(c, time.Minute); err != nil {
		return 0, 0, err
	}
	bytes := (c.LineAtFirstByte[0] - c.LineAtStart[0]) + (c.LineAtFirstByte[1] - c.LineAtStart[1])
	return c.FirstByte.Sub(c.Start), link.WireTime(int(bytes), baud) + 6*latency, nil
}

// RandomFile returns n seeded random bytes.
func RandomFile(seed uint64, n int) []byte {
	r := rand.New(rand.NewPCG(seed, 99))
	b := make([]byte, n)
	for i := 0; i+8 <= n; i += 8 {
		v := r.Uint64()
		for k := 0; k < 8; k++ {
			b[i+k] = byte(v >> (8 * k))
		}
	}
	return b
}

// BenchOptions configures Run.
type BenchOptions struct {
	Quick bool // smaller downloads and fewer cards (tests)
	Log   func(format string, args ...any)
}

// Run measures every row of issue 7 and returns the results.
func Run(o BenchOptions) (*Results, error) {
	logf := o.Log
	if logf == nil {
		logf = func(string, ...any) {}
	}
	size, big, ncards, hs, rounds := 256<<10, 2<<20, 300, 100, 9
	if o.Quick {
		size, big, ncards, hs, rounds = 64<<10, 256<<10, 20, 10, 3
	}
	r := &Results{}
	st, err := NewStore(1, 0, map[string][]byte{"f": RandomFile(1, size)})
	if err != nil {
		return nil, err
	}
	shared, err := NewStore(2, 0, nil)
	if err != nil {
		return nil, err
	}

	logf("RAM: one-slot Card profile, Tiny profile, Card profile")
	if r.CardRAMBytes, err = MeasureRAM(OneConnCard(), 20, shared); err != nil {
		return nil, err
	}
	r.CardRAMAccounted = Accounted(OneConnCard())
	if r.CardRAMStatic, err = MeasureRAMStatic(OneConnCard(), 20, shared); err != nil {
		return nil, err
	}
	r.CardRAMBreakdown = Breakdown(OneConnCard())
	r.Apps = AppsUse(OneConnCard(), shared)
	if r.TinyRAMBytes, err = MeasureRAM(card.TinyProfile, 20, shared); err != nil {
		return nil, err
	}
	r.TinyRAMAccounted = Accounted(card.TinyProfile)
	r.CardProfileRAMAccounted = Accounted(card.CardProfile)

	logf("peak RAM and its bound: one-slot Card profile, Tiny profile")
	t0 := time.Now()
	for _, x := range []struct {
		p                   card.Profile
		peak, bound, inCall *int64
		idle, end           *int64
		phase               *string
		record              *int
		parts               *[]Part
	}{
		{OneConnCard(), &r.CardPeakRAMBytes, &r.CardBoundRAMBytes, &r.CardPeakRAMInCallBytes, &r.CardPeakRAMIdleBytes,
			&r.CardPeakRAMEndBytes, &r.CardPeakRAMPhase, &r.CardPeakRecordBytes, &r.CardBoundRAMBreakdown},
		{card.TinyProfile, &r.TinyPeakRAMBytes, &r.TinyBoundRAMBytes, &r.TinyPeakRAMInCallBytes, &r.TinyPeakRAMIdleBytes,
			&r.TinyPeakRAMEndBytes, &r.TinyPeakRAMPhase, &r.TinyPeakRecordBytes, &r.TinyBoundRAMBreakdown},
	} {
		pk, err := MeasurePeakRAM(x.p, 1)
		if err != nil {
			return nil, fmt.Errorf("peak RAM, %s: %w", x.p.Name, err)
		}
		b, err := RAMBound(x.p, shared)
		if err != nil {
			return nil, fmt.Errorf("RAM bound, %s: %w", x.p.Name, err)
		}
		*x.peak, *x.bound, *x.inCall, *x.idle, *x.end = pk.Bytes, b.Bytes, pk.InCallBound, pk.Idle, pk.End
		*x.phase, *x.record, *x.parts = pk.Phase, pk.Record, b.Parts
		r.SecureClientRAMBytes = max(r.SecureClientRAMBytes, b.SecureClient)
	}
	r.PeakRAMSeconds = time.Since(t0).Seconds()

	logf("cards per GiB: %d cards", ncards)
	per, err := MeasureRAM(card.CardProfile, ncards, shared)
	if err != nil {
		return nil, err
	}
	r.CardProfileRAMBytes = per
	r.CardsMeasured = ncards
	r.CardsPerGiB = float64(1<<30) / float64(per)
	r.CardsPerGiBOneSlot = float64(1<<30) / float64(r.CardRAMBytes)

	logf("allocations per packet")
	if r.AllocsPerPacket, r.AllocsPerPacketFrames, err = MeasureAllocsPerPacket(st, size); err != nil {
		return nil, err
	}

	logf("TLS handshakes: %d each", hs)
	h, err := MeasureHandshakes(hs)
	if err != nil {
		return nil, err
	}
	r.HandshakeAllocsCard, r.HandshakeAllocsGo = h.AllocsCard, h.AllocsGo
	r.HandshakeBytesCard, r.HandshakeBytesGo = h.BytesCard, h.BytesGo
	r.HandshakeNsCard, r.HandshakeNsGo = h.NsCard, h.NsGo
	r.HandshakeAllocsRatio = h.AllocsCard / h.AllocsGo
	r.HandshakeBytesRatio = h.BytesCard / h.BytesGo
	r.HandshakeCPURatio = h.NsCard / h.NsGo
	r.HandshakeAllocsSign = h.AllocsSign
	he, err := MeasureHandshakesEd25519(max(hs/4, 5))
	if err != nil {
		return nil, err
	}
	r.HandshakeAllocsRatioEd25519 = he.AllocsCard / he.AllocsGo
	hr, err := MeasureHandshakesRSA(max(hs/4, 5))
	if err != nil {
		return nil, err
	}
	r.RSAHandshakeCPURatio, r.RSAHandshakeAllocsRatio = hr.NsCard/hr.NsGo, hr.AllocsCard/hr.AllocsGo
	r.RSAHandshakeNsCard, r.RSAHandshakeAllocsCard, r.RSAHandshakeBytesCard = hr.NsCard, hr.AllocsCard, hr.BytesCard
	r.RSAHandshakeAllocsSign = hr.AllocsSign
	r.RSAOverECDSAHandshakeCPU = hr.NsCard / h.NsCard

	logf("serial line 115200")
	t, err := MeasureThroughput(st, 115200, size, card.CardProfile)
	if err != nil {
		return nil, err
	}
	r.SerialEfficiency115200, r.Goodput115200, r.MaxGoodput115200, r.Wire115200 = t.Efficiency, t.Goodput, t.Max, t.Wire
	r.LineShare115200 = t.LineShare
	r.SimSpeedup = float64(t.Virtual) / float64(t.Wall)
	logf("serial line 115200, VJ header compression")
	if t, err = MeasureThroughputVJ(st, 115200, size, card.CardProfile, ppp.MaxVJSlots); err != nil {
		return nil, err
	}
	r.SerialEfficiency115200VJ, r.Goodput115200VJ, r.Wire115200VJ, r.LineShare115200VJ = t.Efficiency, t.Goodput, t.Wire, t.LineShare
	logf("serial line 12 Mbit/s")
	stBig, err := NewStore(3, 0, map[string][]byte{"f": RandomFile(3, big)})
	if err != nil {
		return nil, err
	}
	if t, err = MeasureThroughput(stBig, 12_000_000, big, card.CardProfile); err != nil {
		return nil, err
	}
	r.SerialEfficiency12M, r.Goodput12M, r.MaxGoodput12M = t.Efficiency, t.Goodput, t.Max
	logf("serial line 115200, Tiny profile")
	if t, err = MeasureThroughput(st, 115200, size, card.TinyProfile); err != nil {
		return nil, err
	}
	r.SerialEfficiency115200Tiny, r.WireTiny = t.Efficiency, t.Wire

	logf("time to first byte")
	ttfb, bound, err := MeasureTTFB(st, 115200)
	if err != nil {
		return nil, err
	}
	r.TTFB115200Ms = float64(ttfb) / 1e6
	r.TTFBBound115200Ms = float64(bound) / 1e6
	r.TTFBRatio115200 = float64(ttfb) / float64(bound)
	if ttfb, bound, err = MeasureTTFBLatency(st, 115200, 20*time.Millisecond); err != nil {
		return nil, err
	}
	r.TTFBRatio115200Latency20ms = float64(ttfb) / float64(bound)

	logf("time to first byte with the card's CPU time")
	var tc []TTFBCPU
	for i := 0; i < 3; i++ {
		t, err := MeasureTTFBCPU(st, 115200)
		if err != nil {
			return nil, err
		}
		tc = append(tc, t)
	}
	slices.SortFunc(tc, func(a, b TTFBCPU) int { return cmp.Compare(a.CardCPU, b.CardCPU) })
	r.TTFBRatio115200CPU = tc[1].Ratio()
	r.TTFBCardCPU115200Ms = float64(tc[1].CardCPU) / 1e6

	logf("bulk CPU: card vs gVisor + crypto/tls")
	bulk, err := MeasureBulkVsGvisor(big, rounds)
	if err != nil {
		r.BulkNote = "gVisor comparison failed: " + err.Error()
	} else {
		r.BulkCPURatioVsGvisor = &bulk.Ratio
		r.BulkNsPerByteCard, r.BulkNsPerByteGvisor = bulk.CardNsPerByte, bulk.GvisorNsPerByte
	}

	// Last: the peer runs goroutines (nothing after it measures CPU time
	// or the heap).
	logf("peer on the serial line: gVisor + crypto/tls at 115200 and 12 Mbit/s")
	peerSmall, peerBig := size, 512<<10
	if o.Quick {
		peerBig = 128 << 10
	}
	ratio := func(a, b float64) *float64 {
		if b <= 0 {
			return nil
		}
		v := a / b
		return &v
	}
	forced := func(rate string, p PeerThroughput) {
		if p.Forced > 0 {
			r.PeerNote += fmt.Sprintf("peer at %s: %d of %d waits for the goroutines to block gave up (the virtual clock may have run ahead); ",
				rate, p.Forced, p.Settles)
		}
	}
	if p, err := MeasurePeerThroughput(115200, peerSmall, time.Hour); err != nil {
		r.PeerNote = "peer at 115200 failed: " + err.Error() + "; "
	} else {
		forced("115200", p)
		r.PeerSerialEfficiency115200 = &p.Efficiency
		r.PeerGoodput115200, r.PeerMaxGoodput115200, r.PeerWire115200, r.PeerTLS = p.Goodput, p.Max, p.Wire, p.Suite
		r.PeerBytes115200 = int(p.Bytes)
		r.SerialEfficiencyRatioVsPeer115200 = ratio(r.SerialEfficiency115200, p.Efficiency)
		r.GoodputRatioVsPeer115200 = ratio(r.Goodput115200, p.Goodput)
	}
	if p, err := MeasurePeerThroughput(12_000_000, peerBig, time.Hour); err != nil {
		r.PeerNote += "peer at 12 Mbit/s failed: " + err.Error()
	} else {
		forced("12M", p)
		r.PeerSerialEfficiency12M = &p.Efficiency
		r.PeerGoodput12M, r.PeerMaxGoodput12M, r.PeerBytes12M = p.Goodput, p.Max, int(p.Bytes)
		r.SerialEfficiencyRatioVsPeer12M = ratio(r.SerialEfficiency12M, p.Efficiency)
		r.GoodputRatioVsPeer12M = ratio(r.Goodput12M, p.Goodput)
	}
	return r, nil
}

// TTFBCPU is a TTFB measurement with the card's processing time charged:
// the virtual TTFB and its wire-time bound, and the wall-clock time the
// card spent in its own code (Input, Poll, Output) between the client's
// connect and its first response byte, on this machine.
type TTFBCPU struct {
	TTFB, Bound, CardCPU time.Duration
	CardCalls            int
}

// Ratio is (virtual TTFB + the card's processing time) ÷ the wire bound:
// the card's CPU time is added as if none of it overlapped the line (the
// exchange is ping-pong: the card computes its flight after the client's
// has arrived), an upper bound for this machine.
func (t TTFBCPU) Ratio() float64 {
	if t.Bound <= 0 {
		return 0
	}
	return float64(t.TTFB+t.CardCPU) / float64(t.Bound)
}

// MeasureTTFBCPU is MeasureTTFB with every call into the card timed by the
// wall clock from the connect to the first response byte (the handshake and
// the request); the cost of reading the clock is subtracted.
func MeasureTTFBCPU(st *store.Store, baud int) (TTFBCPU, error) {
	w, err := New(Options{Store: st, Seed: 13, Baud: baud, Chunk: time.Millisecond})
	if err != nil {
		return TTFBCPU{}, err
	}
	if err := w.RunUntil(w.Up, 10*time.Second); err != nil {
		return TTFBCPU{}, err
	}
	w.Run(time.Second) // let the link go quiet
	c, err := w.StartGet("/", time.Minute)
	if err != nil {
		return TTFBCPU{}, err
	}
	var cc cardClock
	if err := w.runUntilTimed(func() bool { return c.done || !c.FirstByte.IsZero() }, time.Minute, &cc); err != nil {
		return TTFBCPU{}, err
	}
	if err := w.Wait(c, time.Minute); err != nil {
		return TTFBCPU{}, err
	}
	bytes := (c.LineAtFirstByte[0] - c.LineAtStart[0]) + (c.LineAtFirstByte[1] - c.LineAtStart[1])
	r := TTFBCPU{TTFB: c.FirstByte.Sub(c.Start), Bound: link.WireTime(int(bytes), baud), CardCalls: cc.calls}
	r.CardCPU = max(0, cc.d-time.Duration(cc.calls)*clockCost())
	return r, nil
}

// clockCost is the mean wall-clock time between two back-to-back readings
// of the clock: what timing one call adds to it.
func clockCost() time.Duration {
	const n = 1000
	var sum time.Duration
	for i := 0; i < n; i++ {
		t0 := time.Now()
		sum += time.Since(t0)
	}
	return sum / n
}

// cardClock accumulates the wall-clock time spent inside the card's calls.
type cardClock struct {
	d     time.Duration
	calls int
}

func (cc *cardClock) since(t0 time.Time) {
	cc.d += time.Since(t0)
	cc.calls++
}

// runUntilTimed is RunUntil with the card's calls timed (settleTimed). It
// must stay in step with RunUntil and settle in sim.go:
// TestTTFBTimedLoopMatchesRunUntil checks that both reach the first
// response byte at the same virtual time over the same line bytes.
func (w *World) runUntilTimed(cond func() bool, limit time.Duration, cc *cardClock) error {
	end := w.now.Add(limit)
	spins := 0
	for {
		w.settleTimed(cc)
		if cond() {
			return nil
		}
		next := w.nextEvent()
		if next.IsZero() {
			return ErrStuck
		}
		if next.After(end) {
			return fmt.Errorf("%w (%v)", ErrLimit, limit)
		}
		if next.After(w.now) {
			w.now, spins = next, 0
		} else if spins++; spins > 100000 {
			return fmt.Errorf("%w at %v", ErrLivelock, w.Elapsed())
		}
	}
}

// settleTimed is settle with the card's Input, Poll and Output timed.
func (w *World) settleTimed(cc *cardClock) {
	input := func(b []byte, now time.Time) {
		t0 := time.Now()
		w.card.Input(b, now)
		cc.since(t0)
	}
	output := func(p []byte, now time.Time) int {
		t0 := time.Now()
		n := w.card.Output(p, now)
		cc.since(t0)
		return n
	}
	poll := func(now time.Time) time.Time {
		t0 := time.Now()
		next := w.card.Poll(now)
		cc.since(t0)
		return next
	}
	w.settleWith(input, poll, output)
}

// cardCalls are replacements of the card's Input, Poll and Output that
// call them (World.wrap).
type cardCalls struct {
	input  func(b []byte, now time.Time)
	poll   func(now time.Time) time.Time
	output func(p []byte, now time.Time) int
}

// settleWith is settle with the card's Input, Poll and Output replaced by
// input, poll and output (which must call them).
func (w *World) settleWith(input func([]byte, time.Time), poll func(time.Time) time.Time, output func([]byte, time.Time) int) {
	for i := 0; ; i++ {
		w.steps++
		moved := false
		if w.up.deliver(w.now, input) {
			moved = true
		}
		if w.down.deliver(w.now, w.host.Input) {
			moved = true
		}
		w.cardNext = poll(w.now)
		w.hostNext = w.host.Poll(w.now)
		for _, c := range w.clients {
			if c.service(w.now) {
				moved = true
			}
		}
		for i := range w.actors {
			p, next := w.actors[i].a.Service(w.now)
			w.actors[i].next = next
			if p {
				moved = true
			}
		}
		if w.down.pull(w.now, output) {
			moved = true
		}
		if w.up.pull(w.now, w.upOutput) {
			moved = true
		}
		if !moved || i > 10000 {
			return
		}
	}
}
