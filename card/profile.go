package card

import (
	"netcard/ipv6"
	"netcard/ppp"
	"netcard/store"
	"netcard/tls"
)

// Profile is the card's memory budget: every buffer the stack uses is sized
// from it once, when the card starts. Nothing grows afterwards.
type Profile struct {
	Name string

	// MRU is the PPP Maximum-Receive-Unit the card announces; the PPP
	// receive and transmit frame buffers are sized from it.
	MRU int

	// MaxConns is the number of TCP connection slots (listening backlog
	// included); each slot owns a receive and a send buffer.
	MaxConns int
	// RecvBuf is the largest TCP receive buffer a connection can have. It
	// is also the TLS record buffer (records are opened in place), so a
	// profile that must accept the 16 KiB records of mainstream clients
	// needs 16 KiB + record overhead — for AES-GCM: with SpillRecords a
	// ChaCha20-Poly1305 record larger than the slot's buffer is streamed
	// through the store instead.
	RecvBuf int
	// SmallRecvBuf, when non-zero and below RecvBuf, is the receive buffer
	// each slot owns; LargeRecvBufs buffers of RecvBuf + MSS bytes are then
	// shared by the slots, lent to a connection while a record larger than
	// its small buffer arrives (tcp.Config.SmallRecvBuf, tcp.Conn.Reserve)
	// and cannot be streamed (SpillRecords: an AES-GCM record).
	// Zero (or LargeRecvBufs > MaxConns): every slot owns RecvBuf bytes.
	SmallRecvBuf  int
	LargeRecvBufs int
	// SendBuf is a TCP connection's send buffer; TLS seals records in it.
	SendBuf int

	// RecordOut is the largest TLS plaintext the card puts in one record.
	RecordOut int
	// RecordSizeLimit, when non-zero, is announced to TLS peers (RFC 8449):
	// a record larger than this is answered with record_overflow.
	RecordSizeLimit int
	// MaxHandshakeMessage is the largest TLS handshake message, header
	// included, the card reassembles (tls.Config.MaxHandshakeMessage; 0:
	// tls.DefaultMaxHandshakeMessage, 16 KiB + 4); a bigger one gets
	// illegal_parameter. The engine's reassembly buffer is the ClientHello
	// area of its handshake slab (≈ 2.5 KB), then 80 bytes for the
	// client's second flight, and grows to a bigger message (a ClientHello,
	// a client certificate) only when one arrives, for that handshake.
	MaxHandshakeMessage int

	// HTTPIn holds one request head and body. HTTPOut is the room a
	// response head and a generated body are composed in (stored files are
	// sent from the store): the card composes responses in place, in the
	// TCP send buffer, so HTTPOut must fit in SendBuf after the TLS record
	// overheads (see HTTPOutFits); it allocates nothing itself.
	HTTPIn, HTTPOut int

	// UDPSockets and UDPQueue size the UDP layer (DNS stub). A socket's
	// receive queue (and the shared send queue) exist only while a socket
	// is bound, i.e. while a DNS lookup runs (udp.Config); an idle card
	// holds none. UDPQueue ≥ 520 holds one 512-byte DNS response.
	UDPSockets int
	UDPQueue   int

	// Reassembly bounds IPv4 fragment reassembly. RFC 1122 §3.3.2: a host
	// must reassemble 576-byte datagrams (556 payload bytes). A slot of at
	// least MRU bytes is also the echo-reply buffer every host needs
	// (ipv4.Host), so MRU-sized reassembly costs only its block bitmap.
	ReassemblySlots int
	ReassemblyBytes int

	// ARPEntries and ARPHold size the ARP cache of a card on Ethernet
	// (eth.Config): neighbours cached, and packets held (one per
	// neighbour) while a neighbour is resolved. Zero: 4 and 1. Bytes, so
	// that a Card stays in its size class (TestCardSize).
	ARPEntries uint8
	ARPHold    uint8

	// VJSlots is the number of Van Jacobson TCP/IP header compression
	// states (RFC 1144) the card keeps each way, at most MaxConns (the card
	// has no more TCP connections): it compresses with at most that many
	// connections and binds the peer's 16 slot ids to as many states; the
	// tables cost ppp.VJRAM(VJStates()). 0: no header compression.
	VJSlots uint8 // a byte, so that a Card stays in its size class (TestCardSize)
	// ChaChaFirst makes the card select ChaCha20-Poly1305 whenever a
	// client offers it (tls.Config.PreferChaCha; every mainstream client
	// does): its AEAD state is 32 bytes a direction (AES-GCM: 768) and its
	// records can be streamed (SpillRecords).
	ChaChaFirst bool // a byte beside VJSlots: the Card stays in its size class

	// ShedMs is how long, in milliseconds, the line must stay quiet (no
	// byte in or out) before the card sheds every buffer that holds no
	// data (the layers' Shed methods: TCP receive and send buffers, PPP
	// frames, reassembly, the HTTP head buffer, the TLS AEAD state). A
	// shed buffer is allocated again, at the same size, by the next burst:
	// an idle session holds only its control state, the hard bound is
	// unchanged, and a transfer in progress never sheds (nothing is
	// allocated per packet). 0: never shed. A uint16 so that a Card stays
	// in its size class (TestCardSize).
	ShedMs uint16

	// IPv6 runs IPv6 beside IPv4 (IPV6CP on PPP; `--ipv6`). IPv6 needs a
	// link MTU of at least 1280 (RFC 8200 §5), so the MRU is raised to
	// that (LinkMRU); the IPv6 layer adds one 1,500-byte reassembly slot
	// (RFC 8200 §5: a node must reassemble 1,500-byte packets) that is
	// also its echo buffer, ICMPv6 error and ND slots — see IPv6Bytes
	// (card/ipv6.go).
	IPv6 bool

	// SpillRecords streams a ChaCha20-Poly1305 record larger than a slot's
	// own receive buffer (SlotRecvBuf) through that slot's spill region of
	// the store (tls.SpillSize bytes after the image: store.Scratch) instead
	// of lending it a large receive buffer: the ciphertext is written there
	// and MACed as it arrives, and only once the tag verifies is it
	// decrypted back, a chunk at a time, to HTTP. Costs SpillRegion(ring) bytes
	// of non-volatile memory per slot and one NVM write of every byte of
	// such records. AES-GCM-only clients keep the large receive buffers
	// (LargeRecvBufs). Without room on the medium the card runs without.
	// The region is a ring of Config.SpillRing records (DefaultSpillRing)
	// that spreads the writes over its blocks (NVM wears per block; any
	// client may send such records before it authenticates): wear is
	// spread, not removed — the bytes written are the bytes received in
	// streamed records (Status spill_bytes_written, spill_block_writes).
	SpillRecords bool
}

// DefaultSpillRing is Config.SpillRing's default: each slot's spill region
// holds 8 records' worth of NVM (8 × 16,896 = 135,168 bytes a slot; the
// Card profile's four slots: 540,672 bytes after the image), so that a
// block is programmed once per 8 streamed records instead of once per
// record (SECURITY.md: the spill's wear).
const DefaultSpillRing = 8

// SpillRegion is the NVM a slot's spill region takes after the store's
// image with a ring of ring records (Config.SpillRing; < 1: one): ring
// times tls.SpillSize rounded up to whole 512-byte blocks
// (store.ScratchBlock), so that every record starts on a block.
func SpillRegion(ring int) int {
	const blk = store.ScratchBlock
	return max(ring, 1) * ((tls.SpillSize + blk - 1) / blk * blk)
}

// The built-in profiles.
var (
	// TinyProfile is a few KiB in all, for one connection at a time.
	// Unprotected handshake records are taken as they stream in (tls), so
	// a ClientHello record larger than the receive buffer — Chromium's,
	// with X25519MLKEM768 and GREASE shares, is 1.7–1.9 KB — reaches the
	// handshake reassembly (messages up to 8 KiB). Protected records must
	// fit the 1 KiB receive buffer whole: record_size_limit announces
	// exactly that (1,003 = 1,024 − 5-byte header − 16-byte tag; RFC 8449
	// §4), and a client that does not implement it (BoringSSL: Chromium;
	// Go's crypto/tls) is held to the same limit — a bigger record gets
	// record_overflow. Chromium sends its request head (≈ 640 bytes) in
	// one record: HTTPIn holds a head as large as one record's plaintext.
	// ChaCha20-Poly1305 is selected whenever offered (ChaChaFirst): its
	// AEAD state is 32 bytes a direction, AES-GCM's 768 (peak −1.5 KB).
	TinyProfile = Profile{
		Name: "tiny", MRU: 296, MaxConns: 1, VJSlots: 1,
		RecvBuf: 1024, SendBuf: 512, RecordOut: 256, RecordSizeLimit: 1024 - 5 - 16, MaxHandshakeMessage: 8192,
		HTTPIn: 1024, HTTPOut: 448,
		UDPSockets: 1, UDPQueue: 520, ReassemblySlots: 1, ReassemblyBytes: 556,
		ARPEntries: 2, ARPHold: 1, ShedMs: 250, ChaChaFirst: true,
	}
	// CardProfile accepts full 16 KiB TLS records from mainstream clients
	// and sends records of at most 2 KiB. It selects ChaCha20-Poly1305
	// whenever a client offers it (curl, OpenSSL, GnuTLS, Go, Chromium and
	// Firefox all do; ChaChaFirst) and streams such a record, when larger
	// than the slot's receive buffer, through the slot's spill region of
	// the store (SpillRecords; a ring of Config.SpillRing = 8 records,
	// 135,168 bytes of NVM a slot, 540,672 for the four, so that each
	// 512-byte block is programmed once per 8 records): every connection at once, no
	// large buffer, nothing released before the tag verifies. A client
	// offering only AES-GCM gets the one shared large receive buffer, one
	// connection at a time (others wait for it). Each slot's own
	// receive buffer holds a typical request or ClientHello record
	// (Chromium's, with X25519MLKEM768, is about 1.9 KB). The send buffer
	// holds two full 2 KiB records with the largest overhead (2 × 2,077
	// = 4,154 bytes; it was 3,835 with 1 KiB records): one is sealed while
	// the other crosses the line, so records stay full (on a slow path apps
	// seals a short one only when nothing is queued) and cost 1.1 % of a 115200-baud line
	// instead of 2.9 % (issue 14, sim.Ledger). TCP's buffers: 4 × (3,926 +
	// 4,154) + (16,645 + 1,460) = 50,425 bytes at most, each lent only
	// while it holds data (ShedMs); the large one only to AES-GCM-only
	// clients. A streamed record borrows 744 bytes of TLS state instead
	// (tls.StreamStateSize) and writes its ciphertext, ≈ 1 MiB of NVM
	// writes per MiB uploaded in such records, to the store. TLS handshake messages up
	// to 16 KiB + 4 are reassembled, so ClientHellos with ECH, GREASE and
	// post-quantum shares always pass.
	CardProfile = Profile{
		Name: "card", MRU: 1500, MaxConns: 4, VJSlots: 4,
		RecvBuf: 16384 + 256 + 5, SmallRecvBuf: 3926, LargeRecvBufs: 1, SendBuf: 2 * (2048 + 29), RecordOut: 2048,
		HTTPIn: 2048, HTTPOut: 3584, MaxHandshakeMessage: 16384 + 4,
		UDPSockets: 1, UDPQueue: 1024, ReassemblySlots: 1, ReassemblyBytes: 1500,
		ARPEntries: 4, ARPHold: 1, ShedMs: 250, ChaChaFirst: true, SpillRecords: true,
	}
	// HostProfile is a roomy profile for PC-side use and benchmarks.
	HostProfile = Profile{
		Name: "host", MRU: 1500, MaxConns: 16, VJSlots: ppp.MaxVJSlots,
		RecvBuf: 32768, SendBuf: 32768, RecordOut: 16384, MaxHandshakeMessage: 1 << 16,
		HTTPIn: 8192, HTTPOut: 16384,
		UDPSockets: 8, UDPQueue: 8192, ReassemblySlots: 4, ReassemblyBytes: 65535, ShedMs: 1000,
	}
)

// ProfileByName returns a built-in profile.
func ProfileByName(name string) (Profile, bool) {
	for _, p := range []Profile{TinyProfile, CardProfile, HostProfile} {
		if p.Name == name {
			return p, true
		}
	}
	return Profile{}, false
}

// HTTPOutBuf is what each connection slot allocates for HTTP output:
// nothing. Responses, heads included, are composed in the TCP send buffer
// (http.ServerConfig.InPlace); so is an error response, and 100 Continue
// is sent from a constant.
func (p Profile) HTTPOutBuf() int { return 0 }

// HTTPOutFits reports whether HTTPOut fits in an empty send buffer as TLS
// records of RecordOut bytes with the largest record overhead (TLS 1.2
// AES-GCM: 29 bytes), i.e. whether a response can always be composed in
// full.
func (p Profile) HTTPOutFits() bool {
	const ovh = 29
	full := p.RecordOut + ovh
	k := p.SendBuf / full
	return k*p.RecordOut+max(p.SendBuf-k*full-ovh, 0) >= p.HTTPOut
}

// VJStates is the number of VJ compression states the card keeps each
// way: VJSlots, capped by MaxConns.
func (p Profile) VJStates() int { return min(int(p.VJSlots), p.MaxConns) }

// slotBytes is the budget of one connection slot: TCP receive and send
// buffers and the HTTP buffers.
func (p Profile) slotBytes() int { return p.SlotRecvBuf() + p.SendBuf + p.HTTPIn + p.HTTPOutBuf() }

// SlotRecvBuf is the receive buffer each TCP slot owns.
func (p Profile) SlotRecvBuf() int {
	if p.SmallRecvBuf > 0 && p.SmallRecvBuf < p.RecvBuf && p.LargeRecvBufs <= p.MaxConns {
		return p.SmallRecvBuf
	}
	return p.RecvBuf
}

// LargeRecvBytes is the RAM of the shared large receive buffers.
func (p Profile) LargeRecvBytes() int {
	if p.SlotRecvBuf() == p.RecvBuf {
		return 0
	}
	return max(p.LargeRecvBufs, 0) * (p.RecvBuf + p.MRU - 40) // tcp adds an MSS
}

// Budget is the RAM the profile reserves for buffers: PPP frames and VJ
// compression tables, TCP connection buffers (the shared large receive
// buffers included), HTTP buffers and UDP queues (control blocks and TLS
// state are counted separately by the benchmarks).
func (p Profile) Budget() int {
	return 2*(p.LinkMRU()+8) + ppp.VJRAM(p.VJStates()) + p.MaxConns*p.slotBytes() + p.LargeRecvBytes() +
		p.UDPSockets*p.UDPQueue + p.ReassemblyBytes + p.IPv6Bytes()
}

// EthBudget is what the profile reserves for buffers on an Ethernet link
// instead of PPP's two frame buffers (see Budget): the receive frame
// (14 + MRU), the ARP hold buffers (MRU each) and the ARP cache (40 bytes
// an entry, eth.Link.Footprint). Frames are sent from the caller's buffer.
//
// With IPv6 the frames carry LinkMRU bytes, and the link adds one IPv6
// hold buffer (LinkMRU) and the neighbour cache (ipv6.NeighborBytes an
// entry, ARPEntries entries).
func (p Profile) EthBudget() int {
	entries, hold := p.arpEntries(), int(p.ARPHold)
	if hold == 0 {
		hold = 1
	}
	mtu := p.LinkMRU()
	n := 14 + mtu + hold*mtu + 40*entries
	if p.IPv6 {
		n += mtu + entries*ipv6.NeighborBytes
	}
	return n
}

// arpEntries is the size of the ARP cache, and of the IPv6 neighbour cache.
func (p Profile) arpEntries() int {
	if p.ARPEntries == 0 {
		return 4
	}
	return int(p.ARPEntries)
}
