package host

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"netcard/host/peers"
	"netcard/link"
	"netcard/ppp"
)

// vjStats reads a bridge's VJ counters under the driver's lock.
func vjStats(b *Bridge) (v ppp.VJStats) {
	b.Do(func(l *ppp.Link, _ time.Time) { v = l.VJStats() })
	return v
}

// TestSlirpVJ: Van Jacobson header compression (RFC 1144) against slirp's
// own implementation. Our PPP (card role, gVisor as the IP stack) accepts
// slirp's request (Max-Slot-Id 15, Comp-Slot-Id 1) and makes its own;
// 256 kB go each way over TCP: slirp must rebuild our compressed headers
// (the download through its redir arrives intact) and we must rebuild its
// (three fetches by the card from the namespace, one after the other,
// arrive intact), with compressed frames counted both ways and no
// decompression error. With 16 states, and with 2 states for slirp's 16
// slot ids (slirp's compressor takes a fresh id per connection and ignores
// a smaller Max-Slot-Id, which is why we always offer 16 ids). tshark
// decodes the capture.
func TestSlirpVJ(t *testing.T) {
	for _, slots := range []int{16, 2} {
		t.Run(fmt.Sprintf("%d slots", slots), func(t *testing.T) { testSlirpVJ(t, slots) })
	}
}

func testSlirpVJ(t *testing.T, slots int) {
	peers.Require(t, "ip", peers.SlirpProgram)
	t0 := time.Now()
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
	s, err := peers.StartSlirp(netns, peers.SlirpConfig{Dir: t.TempDir(), Redirs: []peers.Redir{{HostPort: 18081, GuestPort: 80}}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	pcapPath := filepath.Join(t.TempDir(), "slirp-vj.pcap")
	pf, err := os.Create(pcapPath)
	if err != nil {
		t.Fatal(err)
	}
	pw, err := link.NewPcap(pf)
	if err != nil {
		t.Fatal(err)
	}
	c, err := NewNetstack(s, Config{Card: true, PPP: ppp.Config{LocalIP: [4]byte{10, 0, 2, 15}, Tap: pw.Tap(), VJSlots: slots}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.WaitUp(ctxFor(t, 15*time.Second)); err != nil {
		t.Fatal(err)
	}
	if v := vjStats(c.Bridge); !v.TxOn || !v.RxOn || v.TxSlots != slots || v.RxSlots != 16 {
		t.Fatalf("VJ not negotiated both ways with slirp: %+v", v)
	}
	ln, err := c.Net().ListenTCPAddrPort(netip.MustParseAddrPort("10.0.2.15:80"))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go http.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write(blob) }))

	// Download from the card through slirp's redir: our compressed
	// headers, rebuilt by slirp.
	var conn net.Conn
	if err := netns.Do(func() (err error) { conn, err = net.Dial("tcp", peers.HostAddr+":18081"); return }); err != nil {
		t.Fatal(err)
	}
	cl := &http.Client{Transport: &http.Transport{DialContext: func(context.Context, string, string) (net.Conn, error) { return conn, nil }}}
	if body := get(t, cl, "http://card/"); !bytes.Equal([]byte(body), blob) {
		t.Fatalf("download through slirp: %d bytes, want %d intact", len(body), size)
	}
	down := vjStats(c.Bridge)
	// The card fetches from the namespace: slirp's compressed headers,
	// rebuilt by us.
	port := hostLn.Addr().(*net.TCPAddr).Port
	cl2 := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return c.Net().DialContextTCPAddrPort(ctx, netip.AddrPortFrom(netip.MustParseAddr("10.0.2.2"), uint16(port)))
	}}}
	// Three connections one after the other, each a new slot for slirp's
	// compressor: with 2 slots it must reuse ours (Max-Slot-Id 1).
	for i := 0; i < 3; i++ {
		cl2.CloseIdleConnections()
		if body, err := tryGet(t, cl2, "http://host/"); err != nil || !bytes.Equal([]byte(body), blob) {
			t.Fatalf("fetch %d (%v) through slirp: %d bytes, want %d intact; %+v", i, err, len(body), size, vjStats(c.Bridge))
		}
	}
	v := vjStats(c.Bridge)
	st, _ := c.Stats()
	t.Logf("VJ with slirp: out %d compressed / %d uncompressed / %d plain TCP, %d header octets saved; in %d compressed / %d uncompressed; errors %d, tossed %d; bad FCS %d; %v",
		v.CompOut, v.UncompOut, v.PlainOut, v.SavedOut, v.CompIn, v.UncompIn, v.Errors, v.Tossed, st.BadFCS, time.Since(t0))
	// The download is ~180 full frames from us; the fetch ~180 from slirp.
	if down.CompOut < 100 || v.CompIn < 100 || v.Errors != 0 || v.Tossed != 0 {
		t.Fatalf("compression not used both ways, or errors: download %+v, total %+v", down, v)
	}
	c.Close()
	pf.Close()
	checkPcap(t, pcapPath, "http")
}

func tryGet(t *testing.T, cl *http.Client, url string) (string, error) {
	ctx := ctxFor(t, 10*time.Second)
	req, _ := http.NewRequestWithContext(ctx, "GET", url, nil)
	resp, err := cl.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}
