package ppp_test

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"

	"netcard/host"
	"netcard/host/peers"
	"netcard/ppp"
)

// TestSlirpShedEverywhere: our PPP (card role, the Card profile's 4 VJ
// states, gVisor as the IP stack above it) against slirp, an independent
// PPP and VJ implementation, while a shedder drops the link's idle buffers
// between the driver's calls as often as it can. VJ is negotiated both
// ways; 256 KiB go out through slirp's redir (our compressed headers,
// rebuilt by slirp) and 256 KiB come in twice (slirp's, rebuilt by us),
// intact, with no decompression error — and the buffers were shed and lent
// again all along.
func TestSlirpShedEverywhere(t *testing.T) {
	peers.Require(t, "ip", peers.SlirpProgram)
	netns := peers.TestNetns(t)
	const size = 256 << 10
	blob := make([]byte, size)
	for i := range blob {
		blob[i] = byte(i*7 + i>>8)
	}
	var hostLn net.Listener
	if err := netns.Do(func() (err error) { hostLn, err = net.Listen("tcp", "127.0.0.1:0"); return }); err != nil {
		t.Fatal(err)
	}
	defer hostLn.Close()
	go http.Serve(hostLn, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write(blob) }))
	s, err := peers.StartSlirp(netns, peers.SlirpConfig{Dir: t.TempDir(), Redirs: []peers.Redir{{HostPort: 18082, GuestPort: 80}}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	c, err := host.NewNetstack(s, host.Config{Card: true, PPP: ppp.Config{LocalIP: [4]byte{10, 0, 2, 15}, VJSlots: 4}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()

	// The shedder: Shed between the driver's calls until the test ends.
	var shedBytes, sheds atomic.Int64
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(100 * time.Microsecond) // pacing, not waiting for a state
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			c.Bridge.Do(func(l *ppp.Link, _ time.Time) {
				if n := l.Shed(); n > 0 {
					shedBytes.Add(int64(n))
					sheds.Add(1)
				}
			})
		}
	}()
	defer func() { close(stop); <-done }()

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := c.WaitUp(ctx); err != nil {
		t.Fatal(err)
	}
	vj := func() (v ppp.VJStats) {
		c.Bridge.Do(func(l *ppp.Link, _ time.Time) { v = l.VJStats() })
		return v
	}
	if v := vj(); !v.TxOn || !v.RxOn || v.TxSlots != 4 {
		t.Fatalf("VJ not negotiated both ways with slirp: %+v", v)
	}
	ln, err := c.Net().ListenTCPAddrPort(netip.MustParseAddrPort("10.0.2.15:80"))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go http.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write(blob) }))

	fetch := func(cl *http.Client, url string) []byte {
		t.Helper()
		req, _ := http.NewRequestWithContext(ctx, "GET", url, nil)
		resp, err := cl.Do(req)
		if err != nil {
			t.Fatalf("%s: %v (VJ %+v)", url, err, vj())
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatalf("%s: %v", url, err)
		}
		return b
	}
	var conn net.Conn
	if err := netns.Do(func() (err error) { conn, err = net.Dial("tcp", peers.HostAddr+":18082"); return }); err != nil {
		t.Fatal(err)
	}
	cl := &http.Client{Transport: &http.Transport{DialContext: func(context.Context, string, string) (net.Conn, error) { return conn, nil }}}
	if body := fetch(cl, "http://card/"); !bytes.Equal(body, blob) {
		t.Fatalf("download through slirp: %d bytes, want %d intact", len(body), size)
	}
	port := hostLn.Addr().(*net.TCPAddr).Port
	cl2 := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return c.Net().DialContextTCPAddrPort(ctx, netip.AddrPortFrom(netip.MustParseAddr("10.0.2.2"), uint16(port)))
	}}}
	for i := 0; i < 2; i++ {
		cl2.CloseIdleConnections()
		if body := fetch(cl2, "http://host/"); !bytes.Equal(body, blob) {
			t.Fatalf("fetch %d through slirp: %d bytes, want %d intact", i, len(body), size)
		}
	}
	v := vj()
	st, _ := c.Stats()
	t.Logf("shed %d times, %d bytes; VJ out %d compressed, in %d compressed; errors %d, tossed %d; bad FCS %d",
		sheds.Load(), shedBytes.Load(), v.CompOut, v.CompIn, v.Errors, v.Tossed, st.BadFCS)
	if v.CompOut < 100 || v.CompIn < 100 || v.Errors != 0 || v.Tossed != 0 || st.BadFCS != 0 {
		t.Fatalf("compression not used both ways, or errors: %+v, %+v", v, st)
	}
	if sheds.Load() < 10 {
		t.Fatalf("the shedder released buffers only %d times", sheds.Load())
	}
}
