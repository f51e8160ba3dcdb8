package tcp

import (
	"bytes"
	"testing"
	"time"
)

// TestShedSynCookieInFlight: a SYN cookie's SYN-ACK has gone out (the
// cookie ring is empty and shed, the RST queue too, and every connection
// slot's buffers) when the client's ACK — carrying the first bytes of its
// request, as when the bare ACK was lost — arrives: the cookie is checked
// against what Shed keeps (the secret, the time of the last cookie), the
// connection opens with the data intact, and a half-open connection's
// SYN-ACK retransmission after the Shed is the same segment as before it.
func TestShedSynCookieInFlight(t *testing.T) {
	s := NewStack(testConfig(1))
	l, err := s.Listen(80, 2)
	if err != nil {
		t.Fatal(err)
	}
	now := t0
	for i := 0; i < 2; i++ {
		src := addrA
		src[3] = byte(100 + i)
		s.Input(src, addrB, craft(src, addrB, uint16(1000+i), 80, 1, 0, FlagSYN, 1000, nil), now)
	}
	first := drain(s, addrB, now)
	if len(first) != 2 || l.Pending() != 2 {
		t.Fatalf("%d SYN-ACKs, %d pending", len(first), l.Pending())
	}
	cl := addrA
	cl[3] = 7
	s.Input(cl, addrB, craft(cl, addrB, 5555, 80, 1000, 0, FlagSYN, 4000, nil), now)
	out := drain(s, addrB, now)
	if len(out) != 1 || out[0].Flags != FlagSYN|FlagACK {
		t.Fatalf("cookie SYN-ACK: %+v", out)
	}
	cookie := out[0].Seq
	if n := s.Shed(); n == 0 || s.cookies != nil || s.rst != nil {
		t.Fatalf("Shed released %d B; cookie ring %v, RST queue %v", n, s.cookies != nil, s.rst != nil)
	}
	// A half-open connection's SYN-ACK retransmission after the Shed.
	later := now.Add(1100 * time.Millisecond) // past the initial RTO (1 s)
	s.Poll(later)
	re := drain(s, addrB, later)
	if len(re) == 0 || re[0].Flags != FlagSYN|FlagACK || re[0].Seq != first[0].Seq && re[0].Seq != first[1].Seq {
		t.Fatalf("SYN-ACK retransmission after Shed: %+v (first %+v)", re, first)
	}
	s.Shed()
	s.Input(cl, addrB, craft(cl, addrB, 5555, 80, 1001, cookie+1, FlagACK|FlagPSH, 4000, []byte("GET / HTTP/1.1\r\n")), later)
	var c *Conn
	for c = l.Accept(); c != nil; c = l.Accept() {
		if r, _ := c.Remote(); r == m4(cl) {
			break
		}
	}
	if c == nil || c.State() != Established || string(c.Peek()) != "GET / HTTP/1.1\r\n" {
		t.Fatalf("cookie connection after Shed: %+v", c)
	}
	if st := s.Stats(); st.SynCookiesOK != 1 || st.SynCookiesBad != 0 {
		t.Fatalf("stats %+v", st)
	}
}

// TestShedZeroWindow: shedding between every call while the
// receiver's window is closed (the sender probing it, its unsent data kept),
// while the reader drains it (the receiver's empty buffer shed before the
// window update), and through the close sends exactly the segments of the same
// run without Shed, and the data arrives whole.
func TestShedZeroWindow(t *testing.T) {
	type result struct {
		sums   [2]string
		got    []byte
		probes int
		virt   time.Duration
		shed   int
	}
	data := pattern(40000, 5)
	run := func(shed bool) result {
		w := newWire(t, testConfig(1), testConfig(2), 3)
		w.shed = shed
		probes := 0
		w.drop = func(from int, _ Header, payload []byte) bool {
			if from == 0 && w.now.Sub(t0) > time.Second && w.now.Sub(t0) < 5*time.Second {
				probes++ // the window is closed then: the sender's probes
			}
			return false
		}
		c, sc, _ := w.connect(80)
		var got []byte
		sent := 0
		// The sender fills the 8 KiB window; the reader takes nothing for
		// 5 s (zero-window probes), then reads 1 KiB every 300 ms.
		readAt := w.now.Add(5 * time.Second)
		w.apps = append(w.apps, func() {
			if sent < len(data) {
				sent += c.Write(data[sent:])
				if sent == len(data) {
					c.Close()
				}
			}
			if !w.now.Before(readAt) {
				if p := sc.Peek(); len(p) > 0 {
					k := min(len(p), 1024)
					got = append(got, p[:k]...)
					sc.Consume(k)
					readAt = w.now.Add(300 * time.Millisecond)
				}
			}
		})
		w.wake = func() time.Time { return readAt }
		w.run(func() bool { return sc.EOF() && len(got) == len(data) }, 5*time.Minute)
		sc.Close()
		w.settle(5 * time.Second) // the close (FIN, LAST-ACK), shedding all along
		return result{w.sums(), got, probes, w.now.Sub(t0), w.shedBytes}
	}
	plain, shed := run(false), run(true)
	if !bytes.Equal(shed.got, data) || !bytes.Equal(plain.got, data) {
		t.Fatalf("data corrupted: %d/%d bytes", len(shed.got), len(plain.got))
	}
	if shed.shed == 0 || plain.shed != 0 {
		t.Fatalf("shed %d B", shed.shed)
	}
	if shed.probes == 0 {
		t.Fatal("no zero-window probe")
	}
	if shed.sums != plain.sums || shed.virt != plain.virt || shed.probes != plain.probes {
		t.Fatalf("shedding changed the exchange: %d probes in %v vs %d in %v", shed.probes, shed.virt, plain.probes, plain.virt)
	}
	t.Logf("%d zero-window probes, %v; identical with %d B shed along the way", shed.probes, shed.virt, shed.shed)
}

// TestShedPoisoned: TestShedEverywhereIdentical and TestPoolRandomShed
// with every buffer Shed drops overwritten at once (0xA5): a view of the
// stack's own kept across a Shed into a dropped buffer (an RST or a
// retransmission built from it, out-of-order data, a large buffer given
// back) would send or deliver those bytes. The same segments go out and
// the streams arrive intact.
func TestShedPoisoned(t *testing.T) {
	poisonShed = true
	defer func() { poisonShed = false }()
	for _, sz := range []struct{ buf, mss int }{{8192, 1460}, {1024, 536}, {4500, 1460}} {
		for seed := int64(1); seed <= 2; seed++ {
			plain := simulateRun(t, seed, 128<<10, 0.05, 0.02, 0.05, sz.buf, sz.mss, false)
			shed := simulateRun(t, seed, 128<<10, 0.05, 0.02, 0.05, sz.buf, sz.mss, true)
			if plain.sums != shed.sums || plain.segs != shed.segs || plain.virt != shed.virt || shed.shedBytes == 0 {
				t.Fatalf("%d/%d: poisoned shedding changed the exchange (%d B shed)", sz.buf, seed, shed.shedBytes)
			}
		}
	}
	for seed := int64(1); seed <= 3; seed++ {
		plain, shed := poolRandom(t, seed, false), poolRandom(t, seed, true)
		if plain.sums != shed.sums || plain.st != shed.st || plain.virt != shed.virt || shed.shed == 0 {
			t.Fatalf("pool seed %d: poisoned shedding changed the exchange", seed)
		}
	}
}
