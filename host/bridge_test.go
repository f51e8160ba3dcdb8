package host

import (
	"bytes"
	"context"
	"encoding/binary"
	"io"
	"math/rand"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	"netcard/host/peers"
	"netcard/ppp"
)

func TestPacketQueue(t *testing.T) {
	q := newPacketQueue(2, 0)
	if !q.push([]byte{1, 2, 3}) || !q.push([]byte{4}) || q.push([]byte{5}) {
		t.Fatal("push: want ok, ok, full")
	}
	dst := make([]byte, 8)
	if n := q.pop(dst); n != 3 || dst[2] != 3 {
		t.Fatalf("pop = %d % x", n, dst[:n])
	}
	if n := q.pop(dst); n != 1 || dst[0] != 4 {
		t.Fatalf("pop = %d % x", n, dst[:n])
	}
	if n := q.pop(dst); n != 0 {
		t.Fatalf("pop on empty = %d", n)
	}
	if _, dropped := q.stats(); dropped != 1 {
		t.Fatalf("dropped = %d", dropped)
	}
}

// TestPacketQueueBytes: with a byte bound, a packet that would exceed it is
// dropped, one packet is always accepted, and popping makes room again.
func TestPacketQueueBytes(t *testing.T) {
	q := newPacketQueue(8, 5)
	if !q.push(make([]byte, 3)) || q.push(make([]byte, 3)) || !q.push(make([]byte, 2)) || q.push([]byte{1}) {
		t.Fatal("push: want ok, dropped, ok, dropped")
	}
	dst := make([]byte, 8)
	if n := q.pop(dst); n != 3 {
		t.Fatalf("pop = %d", n)
	}
	if !q.push(make([]byte, 3)) {
		t.Fatal("push after pop: dropped")
	}
	if e := newPacketQueue(8, 5); !e.push(make([]byte, 9)) {
		t.Fatal("an empty queue refused a packet larger than its byte bound")
	}
	if _, dropped := q.stats(); dropped != 2 {
		t.Fatalf("dropped = %d", dropped)
	}
	if LineQueueBytes(0, 1500) != 0 || LineQueueBytes(115200, 1500) != 11520 || LineQueueBytes(9600, 1500) != 3000 {
		t.Fatal("LineQueueBytes")
	}
}

// TestNetstackPing: our host role bridged to gVisor's netstack, our card
// role on the other end of a socketpair; gVisor pings the card.
func TestNetstackPing(t *testing.T) {
	a, b, err := peers.SocketPair()
	if err != nil {
		t.Fatal(err)
	}
	ns, err := NewNetstack(a, Config{PPP: ppp.Config{EchoInterval: time.Second}})
	if err != nil {
		t.Fatal(err)
	}
	defer ns.Close()
	c := startCard(t, b, ppp.Config{}, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := ns.WaitUp(ctx); err != nil {
		t.Fatal(err)
	}
	c.waitUp(t, 5*time.Second)
	if got := netip.AddrFrom4(c.localIP()); got != netip.MustParseAddr("10.0.2.15") {
		t.Fatalf("card address %v, want 10.0.2.15", got)
	}
	if ns.PeerIP() != netip.MustParseAddr("10.0.2.15") || ns.LocalIP() != netip.MustParseAddr("10.0.2.2") {
		t.Fatalf("host sees local %v peer %v", ns.LocalIP(), ns.PeerIP())
	}
	pc, err := ns.Net().DialPingAddr(netip.Addr{}, netip.MustParseAddr("10.0.2.15"))
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	// Like ping, a request whose reply does not come within 3 s is sent
	// again (at most twice): on a loaded machine the host side's goroutines
	// may not be scheduled in time. Every request must be answered in the
	// end, and the card must have answered each one it received.
	sent := 0
	for seq := uint16(1); seq <= 3; seq++ {
		req := make([]byte, 8+32)
		req[0] = 8
		binary.BigEndian.PutUint16(req[6:], seq)
		copy(req[8:], "ping from gVisor through PPP....")
		var err error
		for try := 0; try < 3; try++ {
			if _, err = pc.Write(req); err != nil {
				t.Fatal(err)
			}
			sent++
			pc.SetReadDeadline(time.Now().Add(3 * time.Second))
			buf := make([]byte, 1500)
			var n int
			if n, err = pc.Read(buf); err != nil {
				t.Logf("echo %d try %d: %v", seq, try, err)
				continue
			}
			if n < 8 || buf[0] != 0 || binary.BigEndian.Uint16(buf[6:]) != seq || !strings.HasPrefix(string(buf[8:n]), "ping from gVisor") {
				t.Fatalf("echo %d: bad reply % x", seq, buf[:n])
			}
			break
		}
		if err != nil {
			t.Fatalf("echo %d: %v", seq, err)
		}
	}
	if echoed, _ := c.counts(); echoed < 3 || echoed > sent {
		t.Fatalf("card answered %d echo requests of %d sent", echoed, sent)
	}
	st, drops := ns.Stats()
	t.Logf("host stats: IP in %d out %d, frames in %d out %d, queue drops %d", st.IPIn, st.IPOut, st.FramesIn, st.FramesOut, drops)
}

// TestTUNPing: our host role bridged to a Linux TUN device in a fresh
// namespace; the kernel's ping reaches our card role through PPP.
func TestTUNPing(t *testing.T) {
	peers.Require(t, "ip", "ping", "/dev/net/tun")
	netns := peers.TestNetns(t)
	a, b, err := peers.SocketPair()
	if err != nil {
		t.Fatal(err)
	}
	tun, err := NewTUN(a, "ncppp0", TUNConfig{Netns: netns.Name})
	if err != nil {
		t.Fatal(err)
	}
	defer tun.Close()
	c := startCard(t, b, ppp.Config{}, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := tun.WaitUp(ctx); err != nil {
		t.Fatal(err)
	}
	c.waitUp(t, 5*time.Second)
	out, err := netns.Run("ping", "-c", "3", "-i", "0.2", "-W", "2", "10.0.2.15")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "3 received") {
		t.Fatalf("ping: %s", out)
	}
	if echoed, _ := c.counts(); echoed != 3 {
		t.Fatalf("card answered %d echo requests, want 3", echoed)
	}
	// The card pings the kernel back.
	c.ping(c.localIP(), [4]byte{10, 0, 2, 2}, 1)
	if err := c.drv.WaitFor(ctx, func(time.Time) bool { _, r := c.counts(); return r >= 1 }); err != nil {
		t.Fatalf("no echo reply from the kernel: %v", err)
	}
}

// TestNetstackTCP: gVisor on both ends of our PPP (host role ⇄ card role)
// over a socketpair; 1 MiB of TCP each way arrives intact.
func TestNetstackTCP(t *testing.T) {
	a, b, err := peers.SocketPair()
	if err != nil {
		t.Fatal(err)
	}
	h, err := NewNetstack(a, Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	c, err := NewNetstack(b, Config{Card: true, PPP: ppp.Config{LocalIP: DefaultPeerIP}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := ctxFor(t, 20*time.Second)
	if err := h.WaitUp(ctx); err != nil {
		t.Fatal(err)
	}
	if err := c.WaitUp(ctx); err != nil {
		t.Fatal(err)
	}
	ln, err := c.Net().ListenTCPAddrPort(netip.MustParseAddrPort("10.0.2.15:80"))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	const size = 1 << 20
	data := make([]byte, size)
	rand.New(rand.NewSource(7)).Read(data)
	srvErr := make(chan error, 1)
	go func() {
		conn, err := ln.Accept()
		if err != nil {
			srvErr <- err
			return
		}
		defer conn.Close()
		got := make([]byte, size)
		if _, err := io.ReadFull(conn, got); err != nil {
			srvErr <- err
			return
		}
		_, err = conn.Write(got) // echo it back
		srvErr <- err
	}()
	start := time.Now()
	conn, err := h.Net().DialContextTCPAddrPort(ctx, netip.MustParseAddrPort("10.0.2.15:80"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	go conn.Write(data)
	back := make([]byte, size)
	conn.SetReadDeadline(time.Now().Add(15 * time.Second))
	if _, err := io.ReadFull(conn, back); err != nil {
		t.Fatal(err)
	}
	el := time.Since(start)
	if err := <-srvErr; err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(back, data) {
		t.Fatal("echoed data differs")
	}
	st, drops := h.Stats()
	t.Logf("2 MiB of TCP over PPP in %v (%.1f MB/s each way); host: %d frames in, %d out, bad FCS %d, queue drops %d",
		el, float64(size)/el.Seconds()/1e6, st.FramesIn, st.FramesOut, st.BadFCS, drops)
}

// TestTUNTCP: the kernel's TCP in a namespace reaches an HTTP server on a
// card-role gVisor through TUN and our PPP (both roles): 300 kB download.
func TestTUNTCP(t *testing.T) {
	peers.Require(t, "ip", "/dev/net/tun")
	netns := peers.TestNetns(t)
	a, b, err := peers.SocketPair()
	if err != nil {
		t.Fatal(err)
	}
	tun, err := NewTUN(a, "ncppp0", TUNConfig{Netns: netns.Name})
	if err != nil {
		t.Fatal(err)
	}
	defer tun.Close()
	c, err := NewNetstack(b, Config{Card: true, PPP: ppp.Config{LocalIP: DefaultPeerIP}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := ctxFor(t, 20*time.Second)
	if err := tun.WaitUp(ctx); err != nil {
		t.Fatal(err)
	}
	ln, err := c.Net().ListenTCPAddrPort(netip.MustParseAddrPort("10.0.2.15:80"))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	blob := make([]byte, 300000)
	rand.New(rand.NewSource(3)).Read(blob)
	go http.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write(blob) }))
	// A kernel socket created inside the namespace.
	var conn net.Conn
	if err := netns.Do(func() (err error) {
		conn, err = net.DialTimeout("tcp", "10.0.2.15:80", 5*time.Second)
		return
	}); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	cl := &http.Client{Transport: &http.Transport{DialContext: func(context.Context, string, string) (net.Conn, error) { return conn, nil }}}
	req, _ := http.NewRequestWithContext(ctx, "GET", "http://card/", nil)
	resp, err := cl.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || !bytes.Equal(got, blob) {
		t.Fatalf("download: %d bytes, err %v", len(got), err)
	}
	st, drops := tun.Stats()
	t.Logf("kernel TCP -> TUN -> PPP -> gVisor: 300 kB in %v; host link frames in %d out %d, bad FCS %d, queue drops %d",
		time.Since(start), st.FramesIn, st.FramesOut, st.BadFCS, drops)
}
