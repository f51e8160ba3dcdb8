package sim

import (
	"bytes"
	"container/heap"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	crand "crypto/rand"
	gotls "crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"io"
	"log"
	"math/big"
	"net"
	nethttp "net/http"
	"net/netip"
	"net/url"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.zx2c4.com/wireguard/tun"
	"golang.zx2c4.com/wireguard/tun/netstack"
	"gvisor.dev/gvisor/pkg/buffer"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/adapters/gonet"
	"gvisor.dev/gvisor/pkg/tcpip/header"
	"gvisor.dev/gvisor/pkg/tcpip/link/channel"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv4"
	"gvisor.dev/gvisor/pkg/tcpip/stack"
	"gvisor.dev/gvisor/pkg/tcpip/transport/tcp"

	"netcard/card"
	"netcard/ppp"
)

// cpuTime returns the process's user+system CPU time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BulkCPU compares the CPU per byte of a bulk HTTPS download over an
// unlimited in-memory link: the card (HostProfile, so that records and
// windows are not the card's small ones) with this project's host peer in
// the simulation, against two gVisor netstacks joined by an in-memory
// packet pipe with net/http + crypto/tls on both ends. Both are measured as
// process CPU time (user + system) per body byte, in the same run.
type BulkCPU struct {
	Bytes            int
	CardNsPerByte    float64
	GvisorNsPerByte  float64
	Ratio            float64
	CardWall, GvWall time.Duration
}

// MeasureBulkVsGvisor runs both downloads of size bytes, rounds times each,
// interleaved, and takes the median of each.
func MeasureBulkVsGvisor(size, rounds int) (BulkCPU, error) {
	data := RandomFile(9, size)
	st, err := NewStore(9, 0, map[string][]byte{"f": data})
	if err != nil {
		return BulkCPU{}, err
	}
	g, err := newGvisorPair(data)
	if err != nil {
		return BulkCPU{}, err
	}
	defer g.close()
	r := BulkCPU{Bytes: size}
	var cardNs, gvNs []int64
	for i := 0; i < rounds+1; i++ {
		w, err := New(Options{Store: st, Seed: uint64(100 + i), Profile: card.HostProfile})
		if err != nil {
			return r, err
		}
		if err := w.RunUntil(w.Up, time.Second); err != nil {
			return r, err
		}
		t0, c0 := time.Now(), cpuTime()
		c, err := w.StartGet("/f", time.Minute)
		if err != nil {
			return r, err
		}
		c.NoHash = true // the gVisor client discards the body too
		if err := w.Wait(c, time.Minute); err != nil {
			return r, err
		}
		cardCPU, cardWall := cpuTime()-c0, time.Since(t0)
		if int(c.Len) != size {
			return r, fmt.Errorf("sim: card bulk got %d of %d", c.Len, size)
		}
		t0, c0 = time.Now(), cpuTime()
		if err := g.get(size); err != nil {
			return r, fmt.Errorf("gvisor: %w", err)
		}
		gvCPU, gvWall := cpuTime()-c0, time.Since(t0)
		if i == 0 {
			continue // warm-up
		}
		cardNs, gvNs = append(cardNs, cardCPU.Nanoseconds()), append(gvNs, gvCPU.Nanoseconds())
		r.CardWall, r.GvWall = cardWall, gvWall
	}
	r.CardNsPerByte = median(cardNs) / float64(size)
	r.GvisorNsPerByte = median(gvNs) / float64(size)
	if r.GvisorNsPerByte > 0 {
		r.Ratio = r.CardNsPerByte / r.GvisorNsPerByte
	}
	return r, nil
}

// gvisorPair is two gVisor netstacks joined by goroutines that move packets
// between their TUN devices; an HTTPS server (net/http, crypto/tls) runs on
// one, a client on the other.
type gvisorPair struct {
	devs   [2]tun.Device
	nets   [2]*netstack.Net
	srv    *nethttp.Server
	client *nethttp.Client
	wg     sync.WaitGroup
	url    string
}

func newGvisorPair(body []byte) (*gvisorPair, error) {
	g := &gvisorPair{}
	addrs := [2]netip.Addr{netip.MustParseAddr("10.99.0.1"), netip.MustParseAddr("10.99.0.2")}
	for i := range 2 {
		d, n, err := netstack.CreateNetTUN([]netip.Addr{addrs[i]}, nil, 1500)
		if err != nil {
			return nil, err
		}
		g.devs[i], g.nets[i] = d, n
	}
	for i := range 2 {
		g.wg.Add(1)
		go g.pump(g.devs[i], g.devs[1-i])
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), crand.Reader)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "peer"},
		DNSNames: []string{"peer"}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(crand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	ln, err := g.nets[0].ListenTCPAddrPort(netip.AddrPortFrom(addrs[0], 443))
	if err != nil {
		return nil, err
	}
	g.srv = &nethttp.Server{
		Handler: nethttp.HandlerFunc(func(w nethttp.ResponseWriter, r *nethttp.Request) {
			w.Header().Set("Content-Type", "application/octet-stream")
			nethttp.ServeContent(w, r, "f", time.Time{}, bytes.NewReader(body))
		}),
		TLSConfig: &gotls.Config{Certificates: []gotls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}},
			MinVersion: gotls.VersionTLS13, NextProtos: []string{"http/1.1"}},
	}
	go func() { _ = g.srv.ServeTLS(ln, "", "") }()
	cli := g.nets[1]
	g.client = &nethttp.Client{Timeout: time.Minute, Transport: &nethttp.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			return cli.DialContext(ctx, network, addr)
		},
		TLSClientConfig:   &gotls.Config{InsecureSkipVerify: true, ServerName: "peer", MinVersion: gotls.VersionTLS13},
		DisableKeepAlives: true,
	}}
	g.url = "https://" + addrs[0].String() + "/f"
	return g, nil
}

func (g *gvisorPair) pump(from, to tun.Device) {
	defer g.wg.Done()
	bufs := [][]byte{make([]byte, 65536)}
	sizes := []int{0}
	out := [][]byte{nil}
	for {
		n, err := from.Read(bufs, sizes, 0)
		if err != nil {
			return
		}
		if n == 1 && sizes[0] > 0 {
			out[0] = bufs[0][:sizes[0]]
			if _, err := to.Write(out, 0); err != nil && errors.Is(err, net.ErrClosed) {
				return
			}
		}
	}
}

func (g *gvisorPair) get(size int) error {
	resp, err := g.client.Get(g.url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	n, err := io.Copy(io.Discard, resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != 200 || int(n) != size {
		return fmt.Errorf("status %d, %d of %d bytes", resp.StatusCode, n, size)
	}
	return nil
}

func (g *gvisorPair) close() {
	g.srv.Close()
	for _, d := range g.devs {
		d.Close()
	}
	g.wg.Wait()
}

// PeerThroughput is the peer's HTTPS download over the serial line model
// (MeasurePeerThroughput).
type PeerThroughput struct {
	Baud       int
	Bytes      int64
	Goodput    float64 // body bytes/s from the first body byte to the last (virtual time)
	Max        float64 // theoretical maximum for the peer's own framing
	Efficiency float64
	Wire       Wire          // the peer's frames, as sent (server → client)
	Suite      string        // TLS version, cipher suite and group negotiated
	Virtual    time.Duration // virtual time of the download (connect to last byte)
	Wall       time.Duration // wall time of the whole run
	Settles    int           // times the driver waited for the goroutines to block
	Forced     int           // ... and gave up after a second (0 in a sound run)
	// The server stack's TCP counters: segments retransmitted, and the
	// retransmission timeouts, tail loss probes and fast retransmits that
	// caused them.
	Retransmits, Timeouts, TLPs, FastRetransmits uint64
}

// peerCert returns a self-signed ECDSA P-256 certificate (the card's key
// type) for the peer's HTTPS server.
func peerCert() (gotls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), crand.Reader)
	if err != nil {
		return gotls.Certificate{}, err
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "peer"},
		DNSNames: []string{"peer"}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(crand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return gotls.Certificate{}, err
	}
	return gotls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, nil
}

// MeasurePeerThroughput is MeasureThroughput with the card replaced by the
// peer: a gVisor netstack (gvisor.dev/gvisor, the stack inside wireguard-go's
// netstack, built the same way) running net/http + crypto/tls (TLS 1.3,
// X25519, AES-128-GCM: the card's suite; ECDSA P-256 certificate), serving
// size random bytes to a net/http client on a second gVisor netstack. Each
// stack's IPv4 packets go through a ppp.Link with the card's configuration
// on the server side and the sim host peer's on the client side, so LCP
// negotiates the same ACCM, ACFC and PFC as in the card's run, over the
// sim's own line model (line: 10 bits per byte, a sender pulled only when
// its line is idle, 1 ms chunks, full duplex).
//
// It runs in virtual time: both stacks take a virtual clock (tcpip.Clock)
// for all their timers, and the driver moves the clock to the next event
// (a line delivery, a line going idle, a PPP or TCP timer) only when every
// other goroutine of the process is blocked (runtime.Stack, checked after
// each packet handed to a stack or taken from one and each timer that
// fired), or when the only ones still running are gVisor TCP processors
// spinning on an endpoint whose lock a writer holds while it waits for the
// line (waitBlocked). The stacks' CPU time is not charged, as the card's is
// not. Between a stack and its link is a 3-packet device queue that blocks
// the stack's writer when full (peerQueue). Goodput is measured like
// MeasureThroughput's, from the client's reads; the maximum is
// Wire.MaxGoodput of the peer's own frames (its MSS and TCP options, its
// largest TLS record). Goroutine scheduling can change the order of events
// due at the same virtual instant, so runs differ slightly (an occasional
// spurious fast retransmission at 12 Mbit/s: Retransmits, Wire.Resent).
func MeasurePeerThroughput(baud, size int, limit time.Duration) (PeerThroughput, error) {
	r := PeerThroughput{Baud: baud}
	t0 := time.Now()
	body := RandomFile(7, size)
	cert, err := peerCert()
	if err != nil {
		return r, err
	}
	p, err := newVPeer(baud)
	if err != nil {
		return r, err
	}
	defer p.close()
	ln, err := gonet.ListenTCP(p.stacks[0], tcpip.FullAddress{NIC: 1, Addr: tcpip.AddrFrom4(CardIP), Port: 443}, ipv4.ProtocolNumber)
	if err != nil {
		return r, err
	}
	srv := &nethttp.Server{
		Handler: nethttp.HandlerFunc(func(w nethttp.ResponseWriter, r *nethttp.Request) {
			w.Header().Set("Content-Type", "application/octet-stream")
			nethttp.ServeContent(w, r, "f", time.Time{}, bytes.NewReader(body))
		}),
		TLSConfig: &gotls.Config{Certificates: []gotls.Certificate{cert},
			MinVersion: gotls.VersionTLS13, NextProtos: []string{"http/1.1"}},
		ErrorLog: log.New(io.Discard, "", 0),
	}
	go func() { _ = srv.ServeTLS(ln, "", "") }()
	defer srv.Close()

	// The client runs in its own goroutine once the link is up; the driver
	// (this goroutine) runs the line, the links and the clock.
	var (
		done              = make(chan struct{})
		cerr              error
		start, first, end time.Time
		firstLen          int64
		suite             string
	)
	client := func() {
		defer close(done)
		start = p.clk.Now()
		tr := &nethttp.Transport{
			DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
				return gonet.DialContextTCP(ctx, p.stacks[1], tcpip.FullAddress{NIC: 1, Addr: tcpip.AddrFrom4(CardIP), Port: 443}, ipv4.ProtocolNumber)
			},
			TLSClientConfig: &gotls.Config{InsecureSkipVerify: true, ServerName: "peer", MinVersion: gotls.VersionTLS13,
				CurvePreferences: []gotls.CurveID{gotls.X25519}}, // the card's group (no 1.2 KB ML-KEM key share)
			DisableKeepAlives: true,
		}
		defer tr.CloseIdleConnections()
		resp, err := tr.RoundTrip(&nethttp.Request{Method: "GET", URL: &url.URL{Scheme: "https", Host: "10.64.0.2", Path: "/f"},
			Header: nethttp.Header{}, Host: "peer"})
		if err != nil {
			cerr = err
			return
		}
		defer resp.Body.Close()
		if resp.TLS != nil {
			suite = gotls.VersionName(resp.TLS.Version) + " " + gotls.CipherSuiteName(resp.TLS.CipherSuite) + " " + resp.TLS.CurveID.String()
		}
		buf := make([]byte, 32<<10)
		for {
			n, err := resp.Body.Read(buf)
			if n > 0 {
				// Everything read at the instant of the first body byte is
				// the first piece (MeasureThroughput's FirstBodyLen): the
				// client reads what has arrived before the clock moves.
				end = p.clk.Now()
				if first.IsZero() {
					first = end
				}
				if end.Equal(first) {
					firstLen += int64(n)
				}
				r.Bytes += int64(n)
			}
			if err == io.EOF {
				break
			}
			if err != nil {
				cerr = err
				return
			}
		}
		if resp.StatusCode != 200 || r.Bytes != int64(size) {
			cerr = fmt.Errorf("sim: peer: status %d, %d of %d bytes", resp.StatusCode, r.Bytes, size)
		}
	}
	if err := p.run(client, done, limit); err != nil {
		return r, err
	}
	if cerr != nil {
		return r, cerr
	}
	r.Suite, r.Virtual, r.Wall, r.Settles, r.Forced = suite, end.Sub(start), time.Since(t0), p.settles, p.forced
	if d := end.Sub(first); d > 0 {
		r.Goodput = float64(r.Bytes-firstLen) / d.Seconds()
	}
	ts := p.stacks[0].Stats().TCP
	r.Retransmits, r.Timeouts, r.TLPs, r.FastRetransmits = ts.Retransmits.Value(), ts.Timeouts.Value(),
		ts.TLPRecovery.Value(), ts.FastRetransmit.Value()
	r.Wire = p.wa.result(0)
	r.Max = r.Wire.MaxGoodput(baud)
	if r.Max > 0 {
		r.Efficiency = r.Goodput / r.Max
	}
	return r, nil
}

// vpeer is two gVisor stacks joined by two ppp.Links over the sim's line
// model, driven in virtual time.
type vpeer struct {
	clk      *vclock
	stacks   [2]*stack.Stack // 0: the card side (server), 1: the host side (client)
	eps      [2]*channel.Endpoint
	links    [2]*ppp.Link
	fifo     [2]chan []byte // each stack's device queue, taken by its link
	in       [2]chan []byte // packets for each stack, injected by its own goroutine
	stop     chan struct{}
	wg       sync.WaitGroup
	down     *line // server → client
	up       *line // client → server
	wa       wireAnalyzer
	touched  bool // a goroutine may have been woken: wait for all to block
	stackBuf []byte
	settles  int
	forced   int
	writers  atomic.Int32 // stack writers waiting for room in a device queue
}

// peerQueue is the device queue between each gVisor stack and its PPP link,
// in packets: Linux's default txqueuelen for PPP. A full queue blocks the
// stack's writer (wireguard-go's netstack arrangement: the channel
// endpoint's WriteNotify hands each packet on, and waits while it cannot),
// so the stack feels the line's backpressure as it would from a serial
// driver, instead of filling a deep queue.
const peerQueue = 3

// notifier is a stack's channel.Notification: it moves each packet the
// stack writes into the device queue, in the order written (a lock keeps
// two writers from taking packets in one order and queueing them in the
// other, which the receiver would take for reordering).
type notifier struct {
	ep      *channel.Endpoint
	fifo    chan []byte
	stop    chan struct{}
	writers *atomic.Int32
	mu      sync.Mutex
}

// WriteNotify implements channel.Notification.
func (n *notifier) WriteNotify() {
	n.mu.Lock()
	defer n.mu.Unlock()
	pkt := n.ep.Read()
	if pkt == nil {
		return
	}
	v := pkt.ToView()
	b := append([]byte(nil), v.AsSlice()...)
	v.Release()
	pkt.DecRef()
	select {
	case n.fifo <- b:
		return
	default:
	}
	n.writers.Add(1)
	defer n.writers.Add(-1)
	select {
	case n.fifo <- b:
	case <-n.stop:
	}
}

func newVPeer(baud int) (*vpeer, error) {
	p := &vpeer{clk: &vclock{now: Epoch, fq: make(chan func(), 4096)}, stackBuf: make([]byte, 64<<10), stop: make(chan struct{})}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		p.clk.run()
	}()
	addrs := [2][4]byte{CardIP, HostIP}
	for i := range 2 {
		s := stack.New(stack.Options{
			NetworkProtocols:   []stack.NetworkProtocolFactory{ipv4.NewProtocol},
			TransportProtocols: []stack.TransportProtocolFactory{tcp.NewProtocol},
			Clock:              p.clk,
		})
		p.stacks[i] = s
		sack := tcpip.TCPSACKEnabled(true) // as wireguard-go's netstack
		if err := s.SetTransportProtocolOption(tcp.ProtocolNumber, &sack); err != nil {
			p.close()
			return nil, fmt.Errorf("gvisor: %v", err)
		}
		ep := channel.New(1024, 1500, "") // wireguard-go's netstack: 1024, MTU 1500
		p.eps[i], p.fifo[i], p.in[i] = ep, make(chan []byte, peerQueue), make(chan []byte, 4096)
		ep.AddNotify(&notifier{ep: ep, fifo: p.fifo[i], stop: p.stop, writers: &p.writers})
		if err := s.CreateNIC(1, ep); err != nil {
			p.close()
			return nil, fmt.Errorf("gvisor: %v", err)
		}
		pa := tcpip.ProtocolAddress{Protocol: ipv4.ProtocolNumber, AddressWithPrefix: tcpip.AddrFrom4(addrs[i]).WithPrefix()}
		if err := s.AddProtocolAddress(1, pa, stack.AddressProperties{}); err != nil {
			p.close()
			return nil, fmt.Errorf("gvisor: %v", err)
		}
		s.AddRoute(tcpip.Route{Destination: header.IPv4EmptySubnet, NIC: 1})
		p.wg.Add(1)
		go func() { // injects in order, off the driver: a stack may answer inline
			defer p.wg.Done()
			for b := range p.in[i] {
				pkt := stack.NewPacketBuffer(stack.PacketBufferOptions{Payload: buffer.MakeWithData(b)})
				ep.InjectInbound(ipv4.ProtocolNumber, pkt)
				pkt.DecRef()
			}
		}()
	}
	for i := range 2 {
		pull := func(dst []byte) int {
			select {
			case b := <-p.fifo[i]:
				p.touched = true // a writer waiting on the queue may go on
				return copy(dst, b)
			default:
				return 0
			}
		}
		deliver := func(b []byte) {
			p.in[i] <- append([]byte(nil), b...)
			p.touched = true
		}
		// The card's PPP configuration (card.New with sim.New's options) and
		// the sim host peer's.
		cfg := ppp.Config{MRU: card.CardProfile.MRU, PeerIP: HostIP, Rand: NewRand(uint64(baud), "peerppp"),
			DeliverIP: deliver, PullIP: pull}
		if i == 1 {
			cfg = ppp.Config{Host: true, LocalIP: HostIP, PeerIP: CardIP, Rand: NewRand(uint64(baud), "peerhostppp"),
				DeliverIP: deliver, PullIP: pull}
		}
		p.links[i] = ppp.New(cfg)
	}
	o := Options{Baud: baud, Chunk: time.Millisecond}
	p.down, p.up = newLine(o, nil, 1), newLine(o, nil, 2)
	p.down.tap = func(_ time.Time, b []byte) { p.wa.feed(b) }
	return p, nil
}

// run drives the peer until done is closed: it starts client in its own
// goroutine when both links are up. limit bounds the virtual time.
func (p *vpeer) run(client func(), done chan struct{}, limit time.Duration) error {
	now := p.clk.Now()
	end := now.Add(limit)
	p.links[0].Open(now)
	p.links[1].Open(now)
	started := false
	idle := 0 // consecutive settles that found nothing scheduled
	for {
		next := p.settle(now)
		if !started && p.links[0].Up() && p.links[1].Up() {
			started, p.touched = true, true
			go client()
			continue
		}
		select {
		case <-done:
			return nil
		default:
		}
		next = earliest(next, p.clk.next())
		next = earliest(next, p.down.next(now))
		next = earliest(next, p.up.next(now))
		if next.IsZero() {
			// Nothing is scheduled: either the peer is stuck or one of
			// its goroutines is still running on a loaded machine
			// (settle gives up waiting for them after a second). Give
			// them real time before calling it stuck.
			if idle++; idle <= 100 {
				time.Sleep(20 * time.Millisecond)
				p.touched = true
				continue
			}
			return fmt.Errorf("sim: peer stuck at %v", now.Sub(Epoch))
		}
		idle = 0
		if next.After(end) {
			return fmt.Errorf("sim: peer: %w (%v)", ErrLimit, limit)
		}
		if next.After(now) {
			now = next
		}
	}
}

// settle processes everything due at now until nothing moves, waiting for
// the goroutines to block after each hand-over; it returns the links'
// earliest timer.
func (p *vpeer) settle(now time.Time) time.Time {
	var next time.Time
	for i := 0; i < 100000; i++ {
		moved := p.clk.fire(now)
		if moved {
			p.touched = true
		}
		if p.down.deliver(now, p.links[1].Input) {
			moved = true
		}
		if p.up.deliver(now, p.links[0].Input) {
			moved = true
		}
		next = earliest(p.links[0].Poll(now), p.links[1].Poll(now))
		if p.down.pull(now, p.links[0].Output) {
			moved = true
		}
		if p.up.pull(now, p.links[1].Output) {
			moved = true
		}
		if p.touched {
			p.touched, moved = false, true
			p.settles++
			if !waitBlocked(&p.stackBuf, func() int { return int(p.writers.Load()) }) {
				p.forced++
			}
		}
		if !moved {
			break
		}
	}
	return next
}

func (p *vpeer) close() {
	close(p.stop)
	for i, s := range p.stacks {
		if s == nil {
			continue
		}
		s.RemoveNIC(1)
		s.Close()
		p.eps[i].Close()
		close(p.in[i])
	}
	close(p.clk.fq)
	p.wg.Wait()
}

// waitBlocked returns true once every goroutine but the caller is blocked
// (none running, runnable or in a system call), as runtime.Stack reports
// them, or once the only ones that are not are gVisor TCP processors that
// stay so while a stack's writer waits for the line (writers() > 0): a
// processor that finds an endpoint locked by a goroutine other than its
// user re-queues it and spins until the lock is free, which here means
// until the line takes a packet. It returns false if neither happened
// within a second of wall time.
func waitBlocked(buf *[]byte, writers func() int) bool {
	deadline := time.Now().Add(time.Second)
	spinning := 0
	for spin := 0; ; spin++ {
		runtime.Gosched()
		blocked, procs := othersBlocked(buf)
		if blocked {
			return true
		}
		if procs && writers() > 0 {
			if spinning++; spinning >= 20 {
				return true
			}
		} else {
			spinning = 0
		}
		if time.Now().After(deadline) {
			return false
		}
		if spin > 50 {
			time.Sleep(20 * time.Microsecond)
		}
	}
}

var (
	processorFrame = []byte("tcp.(*processor).start(")
	signalLoop     = []byte("os/signal.signal_recv(")
)

// processorWork are frames of a TCP processor doing work on an endpoint it
// has locked (a spinning one only re-queues an endpoint it could not lock).
var processorWork = [][]byte{[]byte("handleSegmentsLocked"), []byte("handleListen"), []byte("handleConnecting"),
	[]byte("handleTimeWait"), []byte("drainClosingSegmentQueue"), []byte("resetConnectionLocked"), []byte("WriteNotify")}

// spinning reports whether goroutine dump g is a gVisor TCP processor that
// is only re-queueing a locked endpoint.
func spinning(g []byte) bool {
	if !bytes.Contains(g, processorFrame) {
		return false
	}
	for _, w := range processorWork {
		if bytes.Contains(g, w) {
			return false
		}
	}
	return true
}

// othersBlocked reports whether no goroutine but the caller (the first in
// runtime.Stack's dump) is running, runnable or in a system call, and
// whether those that are all look like spinning gVisor TCP processors.
func othersBlocked(buf *[]byte) (blocked, procs bool) {
	var n int
	for {
		n = runtime.Stack(*buf, true)
		if n < len(*buf) {
			break
		}
		*buf = make([]byte, 2*len(*buf))
	}
	blocked, procs = true, true
	for i, g := range bytes.Split((*buf)[:n], []byte("\n\n")) {
		if i == 0 || !bytes.HasPrefix(g, []byte("goroutine ")) {
			continue // the caller
		}
		k := bytes.IndexByte(g, '[')
		if k < 0 {
			continue
		}
		st := g[k+1:]
		if bytes.Contains(g, signalLoop) {
			continue // os/signal's receiver: "syscall" for the life of the process
		}
		if bytes.HasPrefix(st, []byte("running")) || bytes.HasPrefix(st, []byte("runnable")) || bytes.HasPrefix(st, []byte("syscall")) {
			blocked = false
			if !spinning(g) {
				procs = false
			}
		}
	}
	return blocked, procs && !blocked
}

// vclock is the peer's virtual clock: gVisor's stacks take it as their
// tcpip.Clock, and its timers fire only when the driver calls fire.
type vclock struct {
	mu     sync.Mutex
	now    time.Time
	timers vtimers
	seq    uint64
	fq     chan func() // callbacks due, for run
}

// Now implements tcpip.Clock.
func (c *vclock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// NowMonotonic implements tcpip.Clock.
func (c *vclock) NowMonotonic() tcpip.MonotonicTime {
	var m tcpip.MonotonicTime
	return m.Add(c.Now().Sub(Epoch) + time.Hour)
}

// AfterFunc implements tcpip.Clock: f runs when the driver fires the clock
// at or after now + d.
func (c *vclock) AfterFunc(d time.Duration, f func()) tcpip.Timer {
	t := &vtimer{c: c, f: f, idx: -1}
	t.Reset(d)
	return t
}

// next is the earliest pending timer (zero if none).
func (c *vclock) next() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.timers) == 0 {
		return time.Time{}
	}
	return c.timers[0].at
}

// fire sets the clock to now and hands the callbacks of the timers due, in
// order, to the clock's goroutine (run); it reports whether any were due.
// The callbacks do not run on the driver: a TCP timer may wait for a lock
// that a stack's writer holds while it waits for the line.
func (c *vclock) fire(now time.Time) bool {
	c.mu.Lock()
	if now.After(c.now) {
		c.now = now
	}
	var due []func()
	for len(c.timers) > 0 && !c.timers[0].at.After(c.now) {
		due = append(due, heap.Pop(&c.timers).(*vtimer).f)
	}
	c.mu.Unlock()
	for _, f := range due {
		c.fq <- f
	}
	return len(due) > 0
}

// run calls the timer callbacks handed over by fire, in order, until fq is
// closed.
func (c *vclock) run() {
	for f := range c.fq {
		f()
	}
}

type vtimer struct {
	c   *vclock
	f   func()
	at  time.Time
	seq uint64
	idx int // in the heap; -1 when not pending
}

// Stop implements tcpip.Timer.
func (t *vtimer) Stop() bool {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	if t.idx < 0 {
		return false
	}
	heap.Remove(&t.c.timers, t.idx)
	return true
}

// Reset implements tcpip.Timer.
func (t *vtimer) Reset(d time.Duration) {
	c := t.c
	c.mu.Lock()
	defer c.mu.Unlock()
	if t.idx >= 0 {
		heap.Remove(&c.timers, t.idx)
	}
	t.at = c.now.Add(max(d, 0))
	c.seq++
	t.seq = c.seq
	heap.Push(&c.timers, t)
}

// vtimers is a min-heap of timers by time, then by order of setting.
type vtimers []*vtimer

func (h vtimers) Len() int { return len(h) }
func (h vtimers) Less(i, j int) bool {
	if !h[i].at.Equal(h[j].at) {
		return h[i].at.Before(h[j].at)
	}
	return h[i].seq < h[j].seq
}
func (h vtimers) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].idx, h[j].idx = i, j
}
func (h *vtimers) Push(x any) {
	t := x.(*vtimer)
	t.idx = len(*h)
	*h = append(*h, t)
}
func (h *vtimers) Pop() any {
	old := *h
	t := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	t.idx = -1
	return t
}
