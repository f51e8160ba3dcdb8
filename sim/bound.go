package sim

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"math/big"
	"reflect"
	"runtime"
	"strings"
	"time"
	"unsafe"

	"netcard/apps"
	"netcard/card"
	"netcard/dns"
	"netcard/http"
	"netcard/store"
	"netcard/tls"
	"netcard/udp"
)

// BoundRAM is the hard bound of a card's RAM with profile p (RAMBound): what
// nothing the card does can make it exceed, by construction.
type BoundRAM struct {
	Bytes int64
	Parts []Part
	// TLSVariants is how many handshake variants TLSSession is the largest of.
	TLSVariants int
	// SecureClient is what the card's secure client holds at its largest
	// while the card fetches something for its administrator
	// (clientSessionPeak): not part of Bytes, as the profile does not
	// budget it (see RAMBound).
	SecureClient int64
}

// classOf is the bytes Go's allocator spends on an n-byte object: its size
// class, or whole 8 KiB pages above 32 KiB (append from nil rounds the
// capacity exactly as mallocgc rounds the object).
func classOf(n int) int {
	if n <= 0 {
		return 0
	}
	return cap(append([]byte(nil), make([]byte, n)...))
}

// bufferParts are the profile's reserved buffers (Profile.Budget, part by
// part), each rounded to its size class as if allocated alone; the TCP
// buffers are also rounded as the one arena tcp.NewStack allocates today,
// and the larger of the two counts (a layer may allocate its buffers either
// way, materialised at start or on first use: the bound is the same).
func bufferParts(p card.Profile) []Part {
	mru := p.LinkMRU()
	tcpParts := []int{}
	for i := 0; i < p.MaxConns; i++ {
		tcpParts = append(tcpParts, p.SlotRecvBuf(), p.SendBuf)
	}
	if p.LargeRecvBytes() > 0 {
		for i := 0; i < p.LargeRecvBufs; i++ {
			tcpParts = append(tcpParts, p.RecvBuf+p.MRU-40)
		}
	}
	sep, sum := 0, 0
	for _, n := range tcpParts {
		sep += classOf(n)
		sum += n
	}
	return []Part{
		{"PPP frame buffers (2 × (MRU+8)) and VJ tables", int64(2*classOf(mru+8) + classOf(p.Budget()-budgetNoPPP(p)-2*(mru+8)))},
		{"TCP buffers (slots' receive and send, shared large receive)", int64(max(sep, classOf(sum)))},
		{"HTTP input buffers", int64(p.MaxConns * classOf(p.HTTPIn))},
		{"UDP queues", int64(p.UDPSockets * classOf(p.UDPQueue))},
		{"IPv4 reassembly (and echo) buffer", int64(classOf(p.ReassemblyBytes))},
		{"IPv6 buffers", int64(classOf(p.IPv6Bytes()))},
	}
}

// budgetNoPPP is Budget without the PPP frame buffers and VJ tables.
func budgetNoPPP(p card.Profile) int {
	return p.MaxConns*(p.SlotRecvBuf()+p.SendBuf+p.HTTPIn+p.HTTPOutBuf()) + p.LargeRecvBytes() +
		p.UDPSockets*p.UDPQueue + p.ReassemblyBytes + p.IPv6Bytes()
}

// RAMBound returns the hard bound of the RAM of a card with profile p:
//
//   - the card at start without the profile's buffers: every object card.New
//     allocates (control structs, slices of slots, closures, keys, the random
//     source), exactly as the heap holds them (attributed by allocation
//     stack as in MeasurePeakRAM), less the objects that are the profile's
//     buffers (counted in the next term instead; see startBuffers);
//   - the profile's buffers (Profile.Budget), each rounded to its Go size
//     class (bufferParts);
//   - per connection slot, the most one TLS session holds at any point
//     between calls during and after its handshake: the engine, its
//     handshake state and buffers, and what Go's crypto packages allocate
//     for it (key shares, transcript hashes, AEAD states), measured on a
//     server engine with the card's TLS configuration over every handshake
//     variant our client can produce (TLS 1.3 and 1.2; X25519, P-256,
//     X25519MLKEM768; each suite), and after it with the post-handshake
//     buffers it lends itself for a KeyUpdate or an alert (tls.PostBufSize)
//     — the one term that is measured, as
//     Accounted's engine footprint is;
//   - the handshake reassembly buffers that may grow to MaxHandshakeMessage:
//     as many as the tls.HandshakeBudget has slots (one per large TCP
//     receive buffer), or one per slot without a budget;
//   - with client authentication on (the store holds an admin key), per
//     slot, what a session keeps of its client's certificate: only the
//     leaf's public key (tls.Config.PeerKeyOnly, tls.KeptPeerCertificate),
//     in the small object the engine lends itself for it (tls.RareSize),
//     at its largest over the key types and sizes the engine accepts
//     (peerKeyPart);
//   - the control buffers the layers lend on demand beside the profile's
//     (controlBuffers): PPP's control queue and option buffers, IPv4's
//     ICMP error buffer, TCP's RST queue and SYN-cookie ring, the DNS
//     resolver and UDP socket table of a lookup, and per slot
//     the HTTP request state and the upload hasher;
//   - what the applications allocate on demand: status pages streamed
//     piece by piece and the admin's fetch body (statusStreams);
//   - with Profile.SpillRecords, each slot's TLS record streaming state
//     (tls.StreamStateSize).
//
// Everything is in allocator slot sizes (Go's size-class rounding included).
// What it leaves out: transient objects inside one call (see
// PeakRAM.InCallBound), and the secure client, which exists only while the
// card fetches something for its administrator and which the profile does
// not budget: its 16 KiB response buffer, 2 KiB request buffer and client
// TLS engine (16 KiB handshake reassembly) whatever the profile, and the
// store's trust anchors parsed on every fetch. BoundRAM.SecureClient
// reports what it holds at its largest (clientSessionPeak), to be added
// while a fetch runs.
func RAMBound(p card.Profile, st *store.Store) (BoundRAM, error) {
	old := runtime.MemProfileRate
	runtime.MemProfileRate = 1
	defer func() { runtime.MemProfileRate = old }()

	// The card at start.
	if _, err := newCard(Options{Profile: p, Seed: 7}, st); err != nil { // warm-up
		return BoundRAM{}, err
	}
	detachStore(st)
	h := &cardHeap{kind: map[[32]uintptr]uint8{}, mark: cardFrame}
	h.base = h.snapshot()
	c, err := newCard(Options{Profile: p, Seed: 8}, st)
	if err != nil {
		return BoundRAM{}, err
	}
	static, _ := h.card()
	bufs := startBuffers(h, p)
	pages := statusStreams(c, p)
	control := controlBuffers(c, p)
	runtime.KeepAlive(c)

	tlsPeak, variants, err := tlsSessionPeak(p, st)
	if err != nil {
		return BoundRAM{}, err
	}
	client, err := clientSessionPeak(p, st)
	if err != nil {
		return BoundRAM{}, err
	}
	peerKey, err := peerKeyPart(p, st)
	if err != nil {
		return BoundRAM{}, err
	}
	b := BoundRAM{TLSVariants: variants, SecureClient: client}
	b.Parts = append(b.Parts, Part{"card at start without the profile's buffers (measured, allocator slots)", static - bufs})
	b.Parts = append(b.Parts, bufferParts(p)...)
	b.Parts = append(b.Parts,
		Part{fmt.Sprintf("TLS session at its largest × %d slots", p.MaxConns), int64(p.MaxConns) * tlsPeak},
		grownHandshakePart(p),
		peerKey,
		control,
		Part{fmt.Sprintf("status pages streamed piece by piece, with their snapshots × %d; the admin's fetch body", p.MaxConns), pages},
	)
	if p.SpillRecords {
		// A ChaCha20-Poly1305 record larger than a slot's receive buffer
		// is streamed through the store (tls.Engine.SetSpill): the engine
		// borrows its streaming state (MAC, chunk buffer) meanwhile. Only
		// after the handshake, when the handshake state counted above is
		// gone; counted on top all the same. AES-GCM-only clients borrow
		// the shared large receive buffers instead, counted in the TCP
		// buffers.
		b.Parts = append(b.Parts, Part{fmt.Sprintf("TLS record streaming state × %d slots", p.MaxConns),
			int64(p.MaxConns * tls.StreamStateSize)})
	}
	for _, part := range b.Parts {
		b.Bytes += part.Bytes
	}
	return b, nil
}

// grownHandshakePart bounds the TLS handshake reassembly buffers grown
// beyond the engine's usual one to MaxHandshakeMessage: as many as the
// card's tls.HandshakeBudget has slots (card.handshakeBudget: one per large
// TCP receive buffer), or one per slot without a budget.
func grownHandshakePart(p card.Profile) Part {
	limit := p.MaxHandshakeMessage
	if limit <= 0 {
		limit = tls.DefaultMaxHandshakeMessage
	}
	grown := p.MaxConns
	if p.LargeRecvBufs > 0 {
		grown = min(p.LargeRecvBufs, p.MaxConns)
	}
	return Part{fmt.Sprintf("grown handshake reassembly buffers (MaxHandshakeMessage) × %d", grown), int64(grown * classOf(limit))}
}

// statusStreams bounds what the applications allocate on demand: the
// status pages sent piece by piece (apps keeps at most one per connection
// slot, card.New's StatusStreams, each holding a statusPage and a snapshot
// of the card's Status whose Conns and Counters slices are fresh per
// request), and the admin's fetch body (apps.Config.MaxFetchBody, 1 KiB by
// default; card.New sets none). The sizes come from the types (the page's
// through reflection on apps.App, its type being unexported) and from a
// Status of the card itself (its Counters' capacity; Conns at most one per
// slot), with a little for its strings.
func statusStreams(c *card.Card, p card.Profile) int64 {
	page := reflect.TypeFor[apps.App]()
	f, ok := page.FieldByName("pages")
	size := 0
	if ok && f.Type.Kind() == reflect.Slice && f.Type.Elem().Kind() == reflect.Pointer {
		size = int(f.Type.Elem().Elem().Size())
	} else {
		size = 4096 // apps changed: a generous stand-in (TestPeakRAMStatus checks the bound)
	}
	st := c.Status(Epoch)
	snap := classOf(cap(st.Counters)*int(unsafe.Sizeof(apps.Counter{}))) +
		classOf(p.MaxConns*int(unsafe.Sizeof(apps.ConnStatus{}))) + classOf(len(st.LinkState)+64) + 64
	return int64(p.MaxConns*(classOf(size)+snap) + classOf(1024))
}

// startBuffers returns the bytes of the objects a fresh card holds (h has
// just attributed them) that are the profile's buffers: byte slices made by
// the layers that own profile buffers (tcp, ppp, ipv4, ipv6, http, udp,
// eth) whose allocator slot is the size class of one of that layer's
// buffers (or of the TCP arena). A slice of structs that happens to match
// is subtracted too (a few hundred bytes at most: such slices are the
// layers' slot tables); a buffer that matches nothing is counted twice,
// which only makes the bound looser.
func startBuffers(h *cardHeap, p card.Profile) int64 {
	mru := p.LinkMRU()
	tcpSum := p.MaxConns*(p.SlotRecvBuf()+p.SendBuf) + p.LargeRecvBytes()
	sizes := map[string][]int{
		"tcp":  {p.SlotRecvBuf(), p.SendBuf, p.RecvBuf + p.MRU - 40, tcpSum},
		"ppp":  {mru + 8, p.Budget() - budgetNoPPP(p) - (mru + 8), p.Budget() - budgetNoPPP(p) - 2*(mru+8)},
		"ipv4": {p.ReassemblyBytes},
		"ipv6": {p.IPv6Bytes()},
		"http": {p.HTTPIn},
		"udp":  {p.UDPQueue, p.UDPSockets * p.UDPQueue},
		"eth":  {p.EthBudget()},
	}
	var n int64
	for i := range h.recs {
		rec := &h.recs[i]
		if h.kind[rec.Stack0] == kindOther || rec.InUseObjects() == 0 {
			continue
		}
		slot := int(rec.InUseBytes() / rec.InUseObjects())
		fr := runtime.CallersFrames(rec.Stack())
		slice, pkg := false, ""
		for {
			f, more := fr.Next()
			if f.Function == "runtime.makeslice" {
				slice = true
			}
			if strings.HasPrefix(f.Function, "netcard/") {
				pkg = strings.TrimPrefix(f.Function, "netcard/")
				pkg = pkg[:strings.IndexByte(pkg, '.')]
				break
			}
			if !more {
				break
			}
		}
		if !slice {
			continue
		}
		for _, s := range sizes[pkg] {
			if s > 0 && classOf(s) == slot {
				n += rec.InUseBytes() - h.base[rec.Stack0]
				break
			}
		}
	}
	return n
}

// tlsSessionPeak returns the largest live heap a server engine configured as
// the card configures it (card.New) holds between calls during and after a
// handshake with our client engine, over the variants the client can
// produce, and how many variants ran.
func tlsSessionPeak(p card.Profile, st *store.Store) (int64, int, error) {
	chain := st.Certificate()
	signer, err := st.Signer()
	if err != nil {
		return 0, 0, err
	}
	scfg := &tls.Config{
		TicketKey: [32]byte{1}, Rand: NewRand(3, "bound"), Time: func() time.Time { return Epoch },
		Certificate: chain, Signer: signer, ALPN: []string{"http/1.1"},
		MaxRecordOut: uint16(p.RecordOut), RecordSizeLimit: uint16(p.RecordSizeLimit), MaxHandshakeMessage: int32(p.MaxHandshakeMessage),
	}
	if st.AdminKey() != nil {
		scfg.ClientAuth, scfg.PeerKeyOnly = tls.RequestClientCert, true
	}
	type variant struct {
		max    uint16
		groups []tls.CurveID
		suites []uint16
	}
	var vs []variant
	for _, g := range [][]tls.CurveID{nil, {tls.X25519MLKEM768}, {tls.P256}} {
		for _, s := range [][]uint16{nil, {tls.TLS_AES_256_GCM_SHA384}, {tls.TLS_CHACHA20_POLY1305_SHA256}} {
			vs = append(vs, variant{0, g, s})
		}
	}
	for _, s := range [][]uint16{nil, {tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384}, {tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256}} {
		vs = append(vs, variant{tls.VersionTLS12, nil, s})
	}
	// one unobserved handshake first: process-wide state (crypto tables)
	if _, err := serverHandshake(scfg, &tls.Config{Rand: NewRand(4, "bound"), Client: &tls.ClientConfig{InsecureSkipVerify: true}, RecordSizeLimit: 16385}, p, nil); err != nil {
		return 0, 0, err
	}
	h := &cardHeap{kind: map[[32]uintptr]uint8{}, mark: serverFrame}
	h.base = h.snapshot()
	var peak int64
	for i, v := range vs {
		ccfg := &tls.Config{Rand: NewRand(uint64(10+i), "bound"), MaxVersion: v.max,
			Groups: v.groups, CipherSuites: v.suites, ALPN: []string{"http/1.1"}, RecordSizeLimit: 16385,
			// the engine keeps a copy of a server name of up to 255 bytes
			Client: &tls.ClientConfig{InsecureSkipVerify: true, ServerName: longServerName}}
		pk, err := serverHandshake(scfg, ccfg, p, h)
		if err != nil {
			return 0, 0, fmt.Errorf("sim: TLS variant %d: %w", i, err)
		}
		peak = max(peak, pk)
	}
	return peak, len(vs), nil
}

// longServerName is a 255-byte host name (RFC 1035 §2.3.4), the most of
// a client's server_name a server engine keeps.
var longServerName = strings.Repeat(strings.Repeat("a", 62)+".", 4) + "abc"

// serverHandshake runs one handshake in memory and returns the server
// engine's peak attributed heap (h nil: not observed).
func serverHandshake(scfg, ccfg *tls.Config, p card.Profile, h *cardHeap) (int64, error) {
	var peak int64
	obs := func() {
		if h != nil {
			live, _ := h.card()
			peak = max(peak, live)
		}
	}
	srv := newServerEngine(scfg, p.RecvBuf)
	obs()
	cli := tls.NewClient(ccfg, 0)
	buf := make([]byte, 64<<10)
	for i := 0; i < 20 && (srv.State() == tls.Handshaking || srv.Pending() > 0 || cli.Pending() > 0); i++ {
		n := cli.Output(buf)
		for in := buf[:n]; len(in) > 0; {
			k, err := serverUnwrap(srv, in)
			if err != nil || k == 0 {
				break
			}
			in = in[k:]
		}
		obs()
		n = serverOutput(srv, buf)
		in := buf[:n]
		for len(in) > 0 {
			k, _, err := cli.Unwrap(in)
			if err != nil || k == 0 {
				break
			}
			in = in[k:]
		}
		obs()
	}
	if srv.State() != tls.Established {
		return 0, fmt.Errorf("server engine %v: %v", srv.State(), srv.Err())
	}
	// After the handshake: a KeyUpdate with update_requested (TLS 1.3) or
	// its own close_notify (TLS 1.2) makes the server lend itself its
	// post-handshake buffers (tls.PostBufSize), observed with the answer
	// still queued.
	if cli.ConnectionState().Version == tls.VersionTLS13 {
		if err := cli.KeyUpdate(true); err != nil {
			return 0, err
		}
		n := cli.Output(buf)
		for in := buf[:n]; len(in) > 0; {
			k, err := serverUnwrap(srv, in)
			if err != nil || k == 0 {
				break
			}
			in = in[k:]
		}
	} else {
		serverClose(srv)
	}
	obs()
	if srv.Pending() == 0 {
		return 0, fmt.Errorf("server engine queued nothing after the handshake: %v", srv.Err())
	}
	serverOutput(srv, buf)
	obs()
	runtime.KeepAlive(srv)
	return peak, nil
}

//go:noinline
func newServerEngine(cfg *tls.Config, recordBuf int) *tls.Engine {
	return tls.NewServer(cfg, recordBuf)
}

//go:noinline
func serverUnwrap(e *tls.Engine, in []byte) (int, error) {
	n, _, err := e.Unwrap(in)
	return n, err
}

//go:noinline
func serverClose(e *tls.Engine) { e.Close() }

//go:noinline
func serverOutput(e *tls.Engine, buf []byte) int { return e.Output(buf) }

// serverFrame marks the server engine's allocations in tlsSessionPeak.
func serverFrame(fn string) bool {
	return fn == "netcard/sim.newServerEngine" || fn == "netcard/sim.serverOutput" || fn == "netcard/sim.serverUnwrap" || fn == "netcard/sim.serverClose"
}

// clientSessionPeak returns the most the card's secure client holds between
// calls: the apps.ClientSession as card.connect makes it (request and 16 KiB
// response buffers) and a client engine configured by apps.ClientTLS (the
// store's trust anchors parsed; one more anchor, the card's own certificate,
// so that the handshake with our server engine verifies) at its largest
// during and after a handshake, with and without a client certificate.
func clientSessionPeak(p card.Profile, st *store.Store) (int64, error) {
	chain := st.Certificate()
	signer, err := st.Signer()
	if err != nil {
		return 0, err
	}
	var peak int64
	for i, mutual := range []bool{false, false, true} { // the first, unobserved: process-wide state
		scfg := &tls.Config{Rand: NewRand(uint64(20+i), "bound"), Time: func() time.Time { return Epoch },
			Certificate: chain, Signer: signer, ALPN: []string{"http/1.1"}}
		if mutual {
			scfg.ClientAuth = tls.RequestClientCert
		}
		var h *cardHeap
		if i > 0 {
			h = &cardHeap{kind: map[[32]uintptr]uint8{}, mark: clientFrame}
			h.base = h.snapshot()
		}
		pk, err := clientHandshake(p, st, scfg, mutual, h)
		if err != nil {
			return 0, fmt.Errorf("sim: secure client (client certificate %v): %w", mutual, err)
		}
		peak = max(peak, pk)
	}
	return peak, nil
}

func clientHandshake(p card.Profile, st *store.Store, scfg *tls.Config, mutual bool, h *cardHeap) (int64, error) {
	var peak int64
	obs := func() {
		if h != nil {
			live, _ := h.card()
			peak = max(peak, live)
		}
	}
	cs, cli, err := newClientSide(p, st, mutual)
	if err != nil {
		return 0, err
	}
	obs()
	srv := tls.NewServer(scfg, 0)
	buf := make([]byte, 64<<10)
	for i := 0; i < 20 && (cli.State() == tls.Handshaking || srv.Pending() > 0 || cli.Pending() > 0); i++ {
		n := clientOutput(cli, buf)
		for in := buf[:n]; len(in) > 0; {
			k, _, err := srv.Unwrap(in)
			if err != nil || k == 0 {
				break
			}
			in = in[k:]
		}
		obs()
		n = srv.Output(buf)
		for in := buf[:n]; len(in) > 0; {
			k, err := clientUnwrap(cli, in)
			if err != nil || k == 0 {
				break
			}
			in = in[k:]
		}
		obs()
	}
	if cli.State() != tls.Established {
		return 0, fmt.Errorf("client engine %v: %v", cli.State(), cli.Err())
	}
	runtime.KeepAlive(cs)
	return peak, nil
}

// newClientSide makes what card.connect makes for a fetch.
//
//go:noinline
func newClientSide(p card.Profile, st *store.Store, mutual bool) (*apps.ClientSession, *tls.Engine, error) {
	cfg, err := apps.ClientTLS(st, NewRand(5, "bound"), func() time.Time { return Epoch }, "netcard.local", mutual)
	if err != nil {
		return nil, nil, err
	}
	leaf, err := x509.ParseCertificate(st.Certificate()[0])
	if err != nil {
		return nil, nil, err
	}
	cfg.Client.Roots.AddCert(leaf)
	cs := apps.NewClientSession(apps.ClientConfig{RecordBuf: p.RecvBuf})
	return cs, tls.NewClient(cfg, p.RecvBuf), nil
}

//go:noinline
func clientUnwrap(e *tls.Engine, in []byte) (int, error) {
	n, _, err := e.Unwrap(in)
	return n, err
}

//go:noinline
func clientOutput(e *tls.Engine, buf []byte) int { return e.Output(buf) }

// clientFrame marks the secure client's allocations in clientSessionPeak.
func clientFrame(fn string) bool {
	return fn == "netcard/sim.newClientSide" || fn == "netcard/sim.clientOutput" || fn == "netcard/sim.clientUnwrap"
}

// peerKeyPart bounds what the card's sessions keep of their clients'
// certificates when client authentication is on (card.New asks every
// client for one when the store holds an admin key): with
// tls.Config.PeerKeyOnly a session keeps only the leaf's public key
// (tls.KeptPeerCertificate: a stripped certificate, a copy of the
// SubjectPublicKeyInfo and the parsed key), whatever chain the client sent.
// Its size depends only on the key, which the engine accepts of a few types
// and sizes (ECDSA, Ed25519, RSA and RSA-PSS up to 8,192 bits): measured,
// attributed by allocation stack, on the largest of each (an RSA modulus
// need not be a product of primes to be parsed), × MaxConns.
func peerKeyPart(p card.Profile, st *store.Store) (Part, error) {
	name := fmt.Sprintf("client's public key kept (client authentication) × %d slots", p.MaxConns)
	if st.AdminKey() == nil {
		return Part{name + ": off", 0}, nil
	}
	ca, err := ecdsa.GenerateKey(elliptic.P256(), NewRand(6, "bound"))
	if err != nil {
		return Part{}, err
	}
	p521, err := ecdsa.GenerateKey(elliptic.P521(), NewRand(7, "bound"))
	if err != nil {
		return Part{}, err
	}
	edPub, _, err := ed25519.GenerateKey(NewRand(8, "bound"))
	if err != nil {
		return Part{}, err
	}
	n := new(big.Int).Lsh(big.NewInt(1), 8191)
	n.Or(n, big.NewInt(1))
	var ders [][]byte
	for _, pub := range []any{&p521.PublicKey, edPub, &rsa.PublicKey{N: n, E: 65537}} {
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "client"},
			NotBefore: Epoch, NotAfter: Epoch.Add(time.Hour), KeyUsage: x509.KeyUsageDigitalSignature}
		der, err := x509.CreateCertificate(NewRand(9, "bound"), tmpl, tmpl, pub, ca)
		if err != nil {
			return Part{}, fmt.Errorf("sim: client certificate: %w", err)
		}
		ders = append(ders, der)
	}
	old := runtime.MemProfileRate
	runtime.MemProfileRate = 1
	defer func() { runtime.MemProfileRate = old }()
	var peak int64
	for i, der := range append(ders[:1:1], ders...) { // the first, unobserved: process-wide state
		h := &cardHeap{kind: map[[32]uintptr]uint8{}, mark: func(fn string) bool { return fn == "netcard/sim.keepPeerKey" }}
		h.base = h.snapshot()
		kept, err := keepPeerKey(der)
		if err != nil {
			return Part{}, err
		}
		if live, _ := h.card(); i > 0 {
			peak = max(peak, live)
		}
		runtime.KeepAlive(kept)
	}
	// the engine keeps the leaf in a small object of its own, lent when a
	// client presents a certificate (tls.RareSize)
	return Part{name, int64(p.MaxConns) * (peak + int64(classOf(tls.RareSize)))}, nil
}

// keepPeerKey parses a client's leaf certificate and keeps what a server
// engine with PeerKeyOnly keeps of it.
//
//go:noinline
func keepPeerKey(der []byte) (*x509.Certificate, error) {
	leaf, err := x509.ParseCertificate(append([]byte(nil), der...))
	if err != nil {
		return nil, err
	}
	return tls.KeptPeerCertificate(leaf), nil
}

// controlBuffers bounds the control buffers the layers lend on demand and
// shed when empty, which the profile's Budget does not list: PPP's control
// queue and option buffers (ppp.Link.ControlBufs), IPv4's ICMP error (and
// echo) buffer, and the rounding of its reassembly arena's bitmap beyond
// the reassembly bytes counted with the profile's buffers
// (ipv4.Host.Buffers), TCP's RST queue and SYN-cookie ring
// (tcp.Stack.ControlBufs), and per connection slot the HTTP request state
// (http.RequestStateSize), the session's ConnInfo (apps.ConnInfoSize) and
// the PUT /upload hasher (apps.UploadFootprint): each one allocation, rounded to its size class;
// with IPv6, the rounding of the IPv6 layer's buffers one by one beyond the
// class of their sum that bufferParts counts (ipv6.Host.Buffers).
// (Found missing by TestHostileRAMBound, which makes the card lend all of
// them at once.)
func controlBuffers(c *card.Card, p card.Profile) Part {
	n := 0
	if l := c.Link(); l != nil {
		for _, b := range l.ControlBufs() {
			n += classOf(b)
		}
	}
	errBuf, arena := c.IP().Buffers()
	n += classOf(errBuf) + max(0, classOf(arena)-classOf(p.ReassemblyBytes))
	rst, cookies := c.TCP().ControlBufs()
	n += classOf(rst) + classOf(cookies)
	if h := c.IP6(); h != nil { // each IPv6 buffer in its own size class, beyond the class of their sum
		sum := 0
		for _, b := range h.Buffers() {
			n += classOf(b)
			sum += b
		}
		n -= classOf(sum)
	}
	// The resolver and UDP's socket table, lent by a DNS lookup of the
	// secure client (card.startFetch) and released when it ends.
	n += classOf(int(unsafe.Sizeof(dns.Resolver{}))) + classOf(udp.TableBytes(p.UDPSockets))
	n += p.MaxConns * (classOf(http.RequestStateSize) + classOf(apps.ConnInfoSize) + apps.UploadFootprint)
	return Part{fmt.Sprintf("control buffers lent on demand (PPP, ICMP, TCP RST and SYN-cookie queues; DNS resolver and UDP socket table; HTTP request state, ConnInfo and upload hasher × %d)", p.MaxConns), int64(n)}
}
