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
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
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
	checkPcapVJ(t, pcapPath, "http", checkVJPcap(t, pcapPath))
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

// vjFrames counts the VJ frames (protocols 0x002d and 0x002f) a link's
// Tap sees in each direction, passing every frame on to tap.
type vjFrames struct {
	tap             func(sent bool, frame []byte)
	mu              sync.Mutex
	compIn, compOut int
	uncIn, uncOut   int
}

func (v *vjFrames) count(sent bool, f []byte) {
	if v.tap != nil {
		v.tap(sent, f)
	}
	f = bytes.TrimPrefix(f, []byte{0xff, 0x03})
	var proto uint16
	switch {
	case len(f) >= 1 && f[0]&1 == 1:
		proto = uint16(f[0])
	case len(f) >= 2:
		proto = uint16(f[0])<<8 | uint16(f[1])
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	switch {
	case proto == ppp.ProtoVJComp && sent:
		v.compOut++
	case proto == ppp.ProtoVJComp:
		v.compIn++
	case proto == ppp.ProtoVJUncomp && sent:
		v.uncOut++
	case proto == ppp.ProtoVJUncomp:
		v.uncIn++
	}
}

// checkVJ asserts compression ran both ways on b's link without a
// decompression error, the frames on the line agreeing with the counters.
func checkVJ(t *testing.T, b *Bridge, frames *vjFrames) {
	t.Helper()
	v := vjStats(b)
	frames.mu.Lock()
	defer frames.mu.Unlock()
	t.Logf("VJ: negotiated tx %v (%d slots) rx %v (%d ids); frames on the line: %d compressed / %d uncompressed out, %d / %d in; %d header octets saved; errors %d, tossed %d",
		v.TxOn, v.TxSlots, v.RxOn, v.RxSlots, frames.compOut, frames.uncOut, frames.compIn, frames.uncIn, v.SavedOut, v.Errors, v.Tossed)
	if !v.TxOn || !v.RxOn || frames.compOut == 0 || frames.compIn == 0 || v.Errors != 0 ||
		uint64(frames.compOut) != v.CompOut || uint64(frames.compIn) != v.CompIn+v.Tossed {
		t.Fatalf("VJ not used both ways, or the counters disagree with the line: %+v", v)
	}
}

// vjPcapFrame is one record of a link capture, rebuilt.
type vjPcapFrame struct {
	proto   uint16
	tcpOpts bool // the rebuilt TCP header carries options
}

// checkVJPcap reads a link capture (PPP with direction), rebuilds every
// IPv4 packet of both directions with ppp.VJDecoder and checks each TCP
// packet's IP and TCP checksums, proving the compressed headers on the
// line rebuild exactly. It returns the frames by record number (1-based,
// as tshark numbers them).
func checkVJPcap(t *testing.T, path string) map[int]vjPcapFrame {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) < 24 {
		t.Fatal("short pcap")
	}
	dec := [2]*ppp.VJDecoder{ppp.NewVJDecoder(), ppp.NewVJDecoder()}
	frames := map[int]vjPcapFrame{}
	comp, good := 0, 0
	for i, rest := 1, b[24:]; len(rest) >= 16; i++ {
		n := int(rest[8]) | int(rest[9])<<8 | int(rest[10])<<16 | int(rest[11])<<24
		if n > len(rest)-16 || n < 1 {
			t.Fatalf("pcap record %d truncated", i)
		}
		rec := rest[16 : 16+n]
		rest = rest[16+n:]
		f := bytes.TrimPrefix(rec[1:], []byte{0xff, 0x03})
		var proto uint16
		switch {
		case len(f) >= 1 && f[0]&1 == 1:
			proto, f = uint16(f[0]), f[1:]
		case len(f) >= 2:
			proto, f = uint16(f[0])<<8|uint16(f[1]), f[2:]
		}
		pkt, _, ok := dec[rec[0]&1].Decode(proto, f)
		if proto == ppp.ProtoVJComp || proto == ppp.ProtoVJUncomp {
			if !ok {
				t.Fatalf("pcap record %d: VJ frame %#04x does not rebuild", i, proto)
			}
			comp++
		}
		if !ok || len(pkt) < 40 || pkt[9] != 6 {
			continue
		}
		ihl := int(pkt[0]&15) * 4
		th := pkt[ihl:]
		if ipSum(pkt[:ihl]) != 0xffff {
			t.Fatalf("pcap record %d (%#04x): bad IP checksum", i, proto)
		}
		ph := append(append([]byte{}, pkt[12:20]...), 0, 6, byte(len(th)>>8), byte(len(th)))
		if ipSum(append(ph, th...)) != 0xffff {
			t.Fatalf("pcap record %d (%#04x): rebuilt TCP checksum fails", i, proto)
		}
		good++
		frames[i] = vjPcapFrame{proto: proto, tcpOpts: th[12]>>4 > 5}
		if data := th[int(th[12]>>4)*4:]; bytes.HasPrefix(data, []byte("GET ")) || bytes.HasPrefix(data, []byte("HTTP/1.1 ")) {
			frames[0] = vjPcapFrame{proto: proto} // record 0: HTTP seen
		}
	}
	t.Logf("pcap: %d TCP packets rebuilt with good checksums, %d of them VJ frames", good, comp)
	if _, ok := frames[0]; !ok {
		t.Fatal("pcap: no HTTP request or response in the rebuilt TCP packets")
	}
	return frames
}

// ipSum is the ones' complement sum (0xffff over data with a right checksum).
func ipSum(b []byte) uint16 {
	var s uint32
	for i := 0; i+1 < len(b); i += 2 {
		s += uint32(b[i])<<8 | uint32(b[i+1])
	}
	if len(b)%2 == 1 {
		s += uint32(b[len(b)-1]) << 8
	}
	for s > 0xffff {
		s = s>>16 + s&0xffff
	}
	return uint16(s)
}

// checkPcapVJ is checkPcap for a capture with VJ compression. tshark 4.0's
// VJ dissector does not follow every compressed frame (those with TCP
// options come out "Malformed", and a stream it mis-rebuilds can trip its
// HTTP dissector), so tshark decodes the capture with VJ dissection off
// (compressed frames are then opaque PPP data) and must find nothing
// malformed and no expert error; the compressed frames are checked by
// checkVJPcap instead, whose result is frames (it found the HTTP exchange).
func checkPcapVJ(t *testing.T, path, want string, frames map[int]vjPcapFrame) {
	t.Helper()
	if _, err := exec.LookPath("tshark"); err != nil {
		checkPcap(t, path, want) // says why it is skipped
		return
	}
	out, err := exec.Command("tshark", "-n", "-r", path, "--disable-protocol", "vjc", "-z", "expert,error").CombinedOutput()
	if err != nil {
		t.Fatalf("tshark: %v\n%s", err, out)
	}
	text := string(out)
	if strings.Contains(text, "Malformed") || strings.Contains(text, "Errors (") {
		t.Fatalf("tshark reports problems in %s:\n%s", path, text)
	}
	vj := 0
	for _, f := range frames {
		if f.proto == ppp.ProtoVJComp {
			vj++
		}
	}
	t.Logf("tshark decodes the capture with VJ dissection off (%s seen by tshark: %v); our decoder rebuilt %d compressed frames with good checksums",
		want, strings.Contains(strings.ToLower(text), want), vj)
}
