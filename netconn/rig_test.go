package netconn

import (
	"context"
	"encoding/binary"
	"math/rand/v2"
	"testing"
	"time"

	"netcard/card"
	"netcard/ipv4"
	"netcard/link"
	"netcard/tcp"
)

// ipMachine is a minimal card.Machine for these tests: the card's IPv4 host
// and TCP stack, with IP packets framed on the byte stream by a two-byte
// length (no PPP, no store): two of them on a link.Pipe are two hosts.
type ipMachine struct {
	ip  *ipv4.Host
	tcp *tcp.Stack

	in   []byte // partial frame received
	out  []byte // frame being sent
	outN int    // bytes of out already given to Output
	pkt  []byte
}

func newIPMachine(local ipv4.Addr, seed uint64, cfg tcp.Config) *ipMachine {
	rnd := rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8)})
	cfg.Rand = rnd
	m := &ipMachine{
		ip:  ipv4.NewHost(ipv4.Config{Local: local, MTU: 1500, Rand: rnd}),
		tcp: tcp.NewStack(cfg),
		pkt: make([]byte, 1500),
		out: make([]byte, 0, 1502),
	}
	m.ip.Register(6, m.tcp)
	return m
}

func (m *ipMachine) Input(b []byte, now time.Time) {
	for len(b) > 0 {
		if len(m.in) < 2 {
			k := min(2-len(m.in), len(b))
			m.in = append(m.in, b[:k]...)
			b = b[k:]
			continue
		}
		want := int(binary.BigEndian.Uint16(m.in)) + 2
		k := min(want-len(m.in), len(b))
		m.in = append(m.in, b[:k]...)
		b = b[k:]
		if len(m.in) == want {
			m.ip.Input(m.in[2:], now)
			m.in = m.in[:0]
		}
	}
}

func (m *ipMachine) Output(p []byte, now time.Time) int {
	if m.outN == len(m.out) {
		n := m.ip.Output(m.pkt, now)
		if n == 0 {
			return 0
		}
		m.out = binary.BigEndian.AppendUint16(m.out[:0], uint16(n))
		m.out = append(m.out, m.pkt[:n]...)
		m.outN = 0
	}
	k := copy(p, m.out[m.outN:])
	m.outN += k
	return k
}

func (m *ipMachine) Poll(now time.Time) time.Time { return m.ip.Poll(now) }

// pair is two hosts on an unlimited in-memory line, each driven by a
// Runner: a (10.0.0.1) and b (10.0.0.2).
type pair struct {
	a, b   *ipMachine
	ra, rb *card.Runner
}

var addrA, addrB = ipv4.Addr{10, 0, 0, 1}, ipv4.Addr{10, 0, 0, 2}

func newPair(t testing.TB, cfg tcp.Config) *pair {
	t.Helper()
	if cfg.MinRTO == 0 {
		cfg.MinRTO = 200 * time.Millisecond
	}
	p := &pair{a: newIPMachine(addrA, 1, cfg), b: newIPMachine(addrB, 2, cfg)}
	// The demo's line buffer, smaller than the windows: both directions
	// fill, which must not wedge the two runners (issue 13).
	pa, pb := link.Pipe(link.DefaultPipeBuf)
	p.ra = card.NewRunner(p.a, pa, nil)
	p.rb = card.NewRunner(p.b, pb, nil)
	ctx, cancel := context.WithCancel(context.Background())
	da, db := make(chan error, 1), make(chan error, 1)
	go func() { da <- p.ra.Run(ctx) }()
	go func() { db <- p.rb.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		pa.Close()
		pb.Close()
		<-da
		<-db
	})
	return p
}
