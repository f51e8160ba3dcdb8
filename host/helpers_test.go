package host

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"math/rand"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"netcard/host/peers"
	"netcard/ppp"
)

// card is our PPP in card role, driven by a Driver, with a tiny
// hand-written IPv4 responder standing in for the card's IP stack: it
// answers ICMP echo requests and counts echo replies.
type card struct {
	link    *ppp.Link
	drv     *Driver
	q       *packetQueue
	mu      sync.Mutex
	events  []ppp.Event
	echoed  int // echo requests answered
	replies int // echo replies received
	tap     func(sent bool, frame []byte)
}

func startCard(t testing.TB, port io.ReadWriteCloser, cfg ppp.Config, tap func(sent bool, frame []byte)) *card {
	t.Helper()
	c := &card{q: newPacketQueue(64, 0), tap: tap}
	if cfg.Rand == nil {
		cfg.Rand = rand.New(rand.NewSource(1))
	}
	cfg.DeliverIP = c.deliver
	cfg.PullIP = c.q.pop
	cfg.Event = func(e ppp.Event) {
		c.mu.Lock()
		c.events = append(c.events, e)
		c.mu.Unlock()
		t.Logf("card event: %v", e)
	}
	if tap != nil {
		cfg.Tap = tap
	}
	c.link = ppp.New(cfg)
	c.drv = NewDriver(port, c.link, nil)
	c.drv.Do(func(now time.Time) { c.link.Open(now) })
	c.drv.Start()
	t.Cleanup(func() { c.drv.Close() })
	return c
}

// startCardOnData is startCard, but the link is opened only when the peer's
// first bytes arrive, and those bytes are held back until it is open. A
// peer that opens the line late (pppd) then gets our Configure-Request at
// once instead of after a 3 s restart timer.
func startCardOnData(t testing.TB, port io.ReadWriteCloser, cfg ppp.Config, tap func(sent bool, frame []byte)) *card {
	t.Helper()
	c := &card{q: newPacketQueue(64, 0), tap: tap}
	if cfg.Rand == nil {
		cfg.Rand = rand.New(rand.NewSource(1))
	}
	if cfg.DeliverIP == nil { // else: a real IP layer given by the test
		cfg.DeliverIP = c.deliver
		cfg.PullIP = c.q.pop
	}
	cfg.Event = func(e ppp.Event) {
		c.mu.Lock()
		c.events = append(c.events, e)
		c.mu.Unlock()
		t.Logf("card event: %v", e)
	}
	if tap != nil {
		cfg.Tap = tap
	}
	c.link = ppp.New(cfg)
	g := &openGate{ReadWriteCloser: port, opened: make(chan struct{})}
	c.drv = NewDriver(g, c.link, nil)
	g.open = func() { c.drv.Do(func(now time.Time) { c.link.Open(now) }) }
	c.drv.Start()
	t.Cleanup(func() { c.drv.Close() })
	return c
}

type openGate struct {
	io.ReadWriteCloser
	open   func()
	opened chan struct{}
	once   sync.Once
}

func (g *openGate) Read(p []byte) (int, error) {
	n, err := g.ReadWriteCloser.Read(p)
	if n > 0 {
		g.once.Do(func() { g.open(); close(g.opened) })
	}
	return n, err
}

func (c *card) hasEvent(e ppp.Event) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, x := range c.events {
		if x == e {
			return true
		}
	}
	return false
}

// hasEventOnly reports whether e occurred exactly n times.
func (c *card) hasEventOnly(e ppp.Event, n int) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	k := 0
	for _, x := range c.events {
		if x == e {
			k++
		}
	}
	return k == n
}

func (c *card) eventList() []ppp.Event {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]ppp.Event(nil), c.events...)
}

func ctxFor(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func (c *card) waitUp(t testing.TB, d time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	if err := c.drv.WaitFor(ctx, func(time.Time) bool { return c.link.Up() }); err != nil {
		var st ppp.Stats
		c.drv.Do(func(time.Time) { st = c.link.Stats() })
		t.Fatalf("card link not up: %v (stats %+v)", err, st)
	}
}

func (c *card) stats() (s ppp.Stats) {
	c.drv.Do(func(time.Time) { s = c.link.Stats() })
	return s
}

// deliver answers ICMP echo requests addressed to the card and counts
// echo replies (runs on the driver goroutine).
func (c *card) deliver(p []byte) {
	if len(p) < 28 || p[0]>>4 != 4 || p[9] != 1 {
		return
	}
	ihl := int(p[0]&15) * 4
	if len(p) < ihl+8 {
		return
	}
	switch p[ihl] {
	case 0:
		c.mu.Lock()
		c.replies++
		c.mu.Unlock()
	case 8:
		r := make([]byte, len(p))
		copy(r, p)
		copy(r[12:16], p[16:20])
		copy(r[16:20], p[12:16])
		r[8] = 64
		r[ihl] = 0
		putChecksum(r[10:12], r[:ihl])
		putChecksum(r[ihl+2:ihl+4], r[ihl:])
		c.q.push(r)
		c.mu.Lock()
		c.echoed++
		c.mu.Unlock()
		c.drv.Kick()
	}
}

// ping queues an ICMP echo request from the card's address to dst.
func (c *card) ping(src, dst [4]byte, seq uint16) {
	p := make([]byte, 20+8+16)
	p[0], p[8], p[9] = 0x45, 64, 1
	binary.BigEndian.PutUint16(p[2:], uint16(len(p)))
	copy(p[12:16], src[:])
	copy(p[16:20], dst[:])
	putChecksum(p[10:12], p[:20])
	p[20] = 8
	binary.BigEndian.PutUint16(p[24:], 0x4e43)
	binary.BigEndian.PutUint16(p[26:], seq)
	copy(p[28:], "netcard ping....")
	putChecksum(p[22:24], p[20:])
	c.q.push(p)
	c.drv.Kick()
}

func (c *card) localIP() (a [4]byte) {
	c.drv.Do(func(time.Time) { a = c.link.LocalIP() })
	return a
}

func (c *card) counts() (echoed, replies int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.echoed, c.replies
}

func putChecksum(dst, b []byte) {
	dst[0], dst[1] = 0, 0
	var s uint32
	for i := 0; i+1 < len(b); i += 2 {
		s += uint32(b[i])<<8 | uint32(b[i+1])
	}
	if len(b)%2 == 1 {
		s += uint32(b[len(b)-1]) << 8
	}
	for s>>16 != 0 {
		s = s&0xffff + s>>16
	}
	binary.BigEndian.PutUint16(dst, ^uint16(s))
}

// seeds collects control frames seen in a real session, one per
// (peer, protocol, code), and writes them as FuzzDeframe seeds (escaped wire
// frames) when NETCARD_WRITE_SEEDS=1 and ../ppp/testdata/fuzz/FuzzDeframe
// exists. File names start with "host_" so they never collide with the ppp
// package's own seeds.
type seeds struct {
	peer string
	mu   sync.Mutex
	seen map[string][]byte
}

func newSeeds(peer string) *seeds { return &seeds{peer: peer, seen: map[string][]byte{}} }

func (s *seeds) tap(sent bool, frame []byte) {
	if sent || len(frame) < 4 || len(frame) > 290 {
		return
	}
	f := frame
	if f[0] == 0xff && len(f) > 2 && f[1] == 0x03 {
		f = f[2:]
	}
	var proto uint16
	var rest []byte
	if f[0]&1 == 1 {
		proto, rest = uint16(f[0]), f[1:]
	} else {
		proto, rest = binary.BigEndian.Uint16(f), f[2:]
	}
	names := map[uint16]string{0xc021: "lcp", 0x8021: "ipcp", 0x80fd: "ccp", 0xc023: "pap", 0xc223: "chap", 0x8057: "ipv6cp"}
	name, ok := names[proto]
	if !ok || len(rest) == 0 {
		return
	}
	key := fmt.Sprintf("host_%s_%s_code%d", s.peer, name, rest[0])
	s.mu.Lock()
	if _, dup := s.seen[key]; !dup {
		s.seen[key] = append([]byte(nil), frame...)
	}
	s.mu.Unlock()
}

func (s *seeds) write(t testing.TB) {
	dir := filepath.Join("..", "ppp", "testdata", "fuzz", "FuzzDeframe")
	if os.Getenv("NETCARD_WRITE_SEEDS") != "1" {
		return
	}
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for name, f := range s.seen {
		wire := peers.EncodeFrame(nil, f)
		body := "go test fuzz v1\n[]byte(" + goQuote(wire) + ")\n"
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Error(err)
		}
		t.Logf("wrote seed %s", name)
	}
}

func goQuote(b []byte) string {
	out := []byte{'"'}
	for _, c := range b {
		out = append(out, fmt.Sprintf("\\x%02x", c)...)
	}
	return string(append(out, '"'))
}
