package host

import (
	"io"
	"net/netip"
	"testing"
	"time"

	"netcard/host/peers"
	"netcard/ppp"
)

// BenchmarkNetstackTCP: bulk TCP from the host-role netstack to a
// card-role netstack over our PPP on a socketpair (no line-rate limit):
// the throughput ceiling of the host bridge and the ppp package together.
func BenchmarkNetstackTCP(b *testing.B) {
	x, y, err := peers.SocketPair()
	if err != nil {
		b.Fatal(err)
	}
	h, err := NewNetstack(x, Config{})
	if err != nil {
		b.Fatal(err)
	}
	defer h.Close()
	c, err := NewNetstack(y, Config{Card: true, PPP: ppp.Config{LocalIP: DefaultPeerIP}})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	ctx := ctxFor(b, 20*time.Second)
	if err := h.WaitUp(ctx); err != nil {
		b.Fatal(err)
	}
	ln, err := c.Net().ListenTCPAddrPort(netip.MustParseAddrPort("10.0.2.15:9"))
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	const chunk = 64 << 10
	done := make(chan int64, 1)
	go func() {
		conn, err := ln.Accept()
		if err != nil {
			done <- -1
			return
		}
		n, _ := io.Copy(io.Discard, conn)
		done <- n
	}()
	conn, err := h.Net().DialContextTCPAddrPort(ctx, netip.MustParseAddrPort("10.0.2.15:9"))
	if err != nil {
		b.Fatal(err)
	}
	buf := make([]byte, chunk)
	b.SetBytes(chunk)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := conn.Write(buf); err != nil {
			b.Fatal(err)
		}
	}
	conn.Close()
	if n := <-done; n != int64(b.N)*chunk {
		b.Fatalf("received %d of %d bytes", n, int64(b.N)*chunk)
	}
}
