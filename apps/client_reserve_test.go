package apps

import (
	"bytes"
	"testing"
	"time"

	"netcard/ipv4"
	"netcard/tcp"
	"netcard/tls"
)

// tcpWire joins two tcp.Stacks (0: the card, 1: the server) with a lossless
// zero-delay link, on a virtual clock.
type tcpWire struct {
	s   [2]*tcp.Stack
	ip  [2]ipv4.Addr
	now time.Time
	buf []byte
}

// step moves every segment either stack has to send; it reports progress.
func (w *tcpWire) step() bool {
	moved := false
	for i := range 2 {
		for {
			n, dst := w.s[i].Output(w.buf, w.ip[i], w.now)
			if n == 0 {
				break
			}
			if dst == w.ip[1-i] {
				w.s[1-i].Input(w.ip[i], dst, w.buf[:n], w.now)
			}
			moved = true
		}
	}
	return moved
}

// bigServer answers one HTTP request over TLS with a body of len(body)
// bytes in full 16 KiB records (netcard's own server engine).
type bigServer struct {
	conn *tcp.Conn
	eng  *tls.Engine
	req  []byte
	resp []byte
	sent int

	closed bool
}

func (b *bigServer) service() bool {
	p := false
	for b.eng.Pending() > 0 {
		f := b.conn.Free()
		if len(f) == 0 {
			break
		}
		b.conn.Commit(b.eng.Output(f))
		p = true
	}
	if in := b.conn.Peek(); len(in) > 0 {
		n, plain, err := b.eng.Unwrap(in)
		if err == nil {
			b.req = append(b.req, plain...)
		}
		if n > 0 {
			b.conn.Consume(n)
			p = true
		}
	}
	if b.eng.State() != tls.Established || !bytes.Contains(b.req, []byte("\r\n\r\n")) {
		return p
	}
	for b.sent < len(b.resp) {
		hdr, tail := b.eng.Overhead()
		f := b.conn.Free()
		n := min(len(f)-hdr-tail, b.eng.MaxPlaintext(), len(b.resp)-b.sent)
		if n < min(b.eng.MaxPlaintext(), len(b.resp)-b.sent) {
			break // whole records only
		}
		copy(f[hdr:], b.resp[b.sent:b.sent+n])
		b.conn.Commit(b.eng.Wrap(f, n))
		b.sent += n
		p = true
	}
	if b.sent == len(b.resp) && !b.closed {
		b.closed = true
		b.eng.Close() // close_notify, flushed above on the next call
		p = true
	}
	return p
}

// fetchBig fetches a 64 KiB body with the card's secure client over a
// card-profile TCP stack (3,926-byte slot buffers, one shared 16 KiB
// buffer) from a server sending 16 KiB records; it returns the card
// stack's stats and the virtual time taken.
func fetchBig(t *testing.T) (tcp.Stats, time.Duration) {
	s, _, _ := newCard(t)
	body := pattern64k()
	head := "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: 65536\r\nConnection: close\r\n\r\n"
	const recvBuf = 16384 + 256 + 5
	w := &tcpWire{now: testNow, buf: make([]byte, 1500), ip: [2]ipv4.Addr{{10, 0, 0, 2}, {10, 0, 0, 1}}}
	w.s[0] = tcp.NewStack(tcp.Config{MaxConns: 4, RecvBuf: recvBuf, SmallRecvBuf: 3926, LargeRecvBufs: 1, SendBuf: 3835,
		MSS: 1460, Rand: seeded(20), MinRTO: time.Second})
	w.s[1] = tcp.NewStack(tcp.Config{MaxConns: 2, RecvBuf: 32768, SendBuf: 40000, MSS: 1460, Rand: seeded(21), MinRTO: time.Second})
	ln, err := w.s[1].Listen(443, 1)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := w.s[0].Dial(w.ip[0], w.ip[1], 443, w.now)
	if err != nil {
		t.Fatal(err)
	}
	req, err := ParseURL("https://card.example/big")
	if err != nil {
		t.Fatal(err)
	}
	tcfg, err := ClientTLS(s, seeded(22), func() time.Time { return w.now }, "card.example", false)
	if err != nil {
		t.Fatal(err)
	}
	cs := NewClientSession(ClientConfig{RecordBuf: recvBuf, Buf: make([]byte, 80<<10)})
	if err := cs.Start(conn, &req, tcfg, w.now); err != nil {
		t.Fatal(err)
	}
	scfg := serverTLS(t, s, seeded(23))
	scfg.MaxRecordOut = 16384
	var srv *bigServer
	start := w.now
	for !cs.Done() {
		if w.now.Sub(start) > 5*time.Minute {
			t.Fatal("fetch did not finish")
		}
		moved := true
		for i := 0; moved && i < 10000; i++ {
			moved = w.step()
			if srv == nil {
				if c := ln.Accept(); c != nil {
					srv = &bigServer{conn: c, eng: tls.NewServer(scfg, 32768), resp: append([]byte(head), body...)}
				}
			}
			if srv != nil && srv.service() {
				moved = true
			}
			if cs.Service(w.now) {
				moved = true
			}
		}
		next := w.s[0].Poll(w.now)
		if n1 := w.s[1].Poll(w.now); next.IsZero() || !n1.IsZero() && n1.Before(next) {
			next = n1
		}
		if n2 := cs.Next(); !n2.IsZero() && (next.IsZero() || n2.Before(next)) {
			next = n2
		}
		if next.IsZero() || !next.After(w.now) {
			next = w.now.Add(time.Millisecond)
		}
		w.now = next
	}
	if err := cs.Err(); err != nil {
		t.Fatal(err)
	}
	if res := cs.Result(); res.Status != 200 || !bytes.Equal(res.Body, body) {
		t.Fatalf("fetched %d, %d bytes", res.Status, len(res.Body))
	}
	return w.s[0].Stats(), w.now.Sub(start)
}

func pattern64k() []byte {
	b := make([]byte, 65536)
	for i := range b {
		b[i] = byte(i*31 + i>>8)
	}
	return b
}

// TestClientReservesRecords: the secure client reserves room for each TLS
// record it sees the header of, so a 64 KiB body in 16 KiB records
// reaches a card-profile stack (small slot buffers, one shared large one)
// through the large buffer borrowed at once, without the fill-and-grow
// fallback and its retransmission-timeout stalls.
func TestClientReservesRecords(t *testing.T) {
	st, took := fetchBig(t)
	t.Logf("64 KiB in 16 KiB records: %v virtual, borrows %d, waits %d, growths %d, retransmits %d",
		took, st.LargeBorrows, st.LargeWaits, st.LargeGrowths, st.Retransmits)
	if st.LargeGrowths != 0 || st.LargeBorrows < 4 {
		t.Fatalf("large buffer borrowed %d times, grown without a reservation %d times", st.LargeBorrows, st.LargeGrowths)
	}
	if took > 2*time.Second {
		t.Fatalf("fetch took %v: stalls", took)
	}
}
