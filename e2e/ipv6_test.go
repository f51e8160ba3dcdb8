package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	stdtls "crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	nethttp "net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"netcard/card"
	"netcard/host"
	"netcard/host/peers"
	"netcard/host/uml"
	"netcard/ipv6"
	"netcard/link"
	"netcard/store"
)

// newRig6 is newRig with IPv6 on both ends: the card's profile WithIPv6,
// the gVisor host with IPV6CP, announcing its prefix; it returns once the
// card has its global address (SLAAC from the host's advertisement).
func newRig6(t *testing.T, prof card.Profile) (*rig, netip.Addr) {
	t.Helper()
	st, err := store.Create(filepath.Join(t.TempDir(), "card.img"), 64<<10, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	pers := card.DefaultPersonalisation()
	pers.AdminSecret = adminSecret // the status page shows connections to the admin only
	if err := card.Personalise(st, pers, rand.Reader, time.Now()); err != nil {
		t.Fatal(err)
	}
	c, err := card.New(card.Config{Profile: prof.WithIPv6(), Store: st, Rand: rand.Reader, Clock: time.Now})
	if err != nil {
		t.Fatal(err)
	}
	a, b := link.Pipe(8192)
	r := card.NewRunner(c, a, nil)
	r.Do(func(now time.Time) { c.Start(now) })
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	ns, err := host.NewNetstack(b, host.Config{IPv6: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ns.Close()
		cancel()
		a.Close()
		<-done
	})
	wctx, wcancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer wcancel()
	var global ipv6.Addr
	if err := r.WaitFor(wctx, func(time.Time) bool {
		global = c.IP6().Global()
		return c.Up() && global != (ipv6.Addr{})
	}); err != nil {
		t.Fatalf("the card got no global IPv6 address: %v", err)
	}
	if got := ns.PeerIP6(); got != global.Netip() {
		t.Fatalf("card %v, host expects %v", global, got)
	}
	roots := x509.NewCertPool()
	leaf, err := x509.ParseCertificate(st.Certificate()[0])
	if err != nil {
		t.Fatal(err)
	}
	roots.AddCert(leaf)
	rg := &rig{card: c, runner: r, ns: ns, store: st, roots: roots, cardIP: ns.PeerIP()}
	rg.client = &nethttp.Client{
		Timeout: 60 * time.Second,
		Transport: &nethttp.Transport{
			DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
				return ns.Net().DialContext(ctx, network, addr)
			},
			TLSClientConfig: &stdtls.Config{RootCAs: roots, ServerName: "netcard.local"},
		},
	}
	return rg, global.Netip()
}

// TestGvisorIPv6: gVisor's netstack over our PPP host side with IPV6CP,
// the card configured by SLAAC from the host's router advertisement: Go's
// net/http fetches pages over HTTPS from the card's global IPv6 address and
// over IPv4 from the same dual-stack listener; gVisor pings the card over
// ICMPv6; the card's status page shows the IPv6 peer.
func TestGvisorIPv6(t *testing.T) {
	rg, a6 := newRig6(t, card.CardProfile)
	u6 := "https://" + netip.AddrPortFrom(a6, 443).String()
	for _, u := range []string{u6 + "/", rg.url("/"), u6 + "/"} {
		resp, err := rg.client.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != 200 || !bytes.Contains(body, []byte("netcard")) || resp.TLS == nil {
			t.Fatalf("GET %s = %d %v %q", u, resp.StatusCode, err, body)
		}
	}
	sreq, _ := nethttp.NewRequest("GET", u6+"/status.json", nil)
	sreq.Header.Set("Authorization", "Bearer "+adminSecret)
	resp, err := rg.client.Do(sreq)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	// The administrator's status page lists the IPv6 peer's connection
	// (strangers see only counts), and so does the card's own status.
	host6 := host.DefaultIPv6Prefix.Addr().As16()
	host6[15] = 1
	if resp.StatusCode != 200 || !strings.Contains(string(body), netip.AddrFrom16(host6).String()) {
		t.Fatalf("status.json = %d %s", resp.StatusCode, body)
	}
	var conns string
	rg.runner.Do(func(now time.Time) { conns = fmt.Sprint(rg.card.Status(now).Conns) })
	if !strings.Contains(conns, netip.AddrFrom16(host6).String()) {
		t.Fatalf("the card's connections lack the IPv6 peer: %s", conns)
	}
	// ICMPv6 echo from gVisor.
	pc, err := rg.ns.Net().DialPingAddr(netip.Addr{}, a6)
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	req := []byte{128, 0, 0, 0, 0x12, 0x34, 0, 1, 'h', 'i'}
	if _, err := pc.Write(req); err != nil {
		t.Fatal(err)
	}
	pc.SetReadDeadline(time.Now().Add(10 * time.Second))
	var rb [64]byte
	n, err := pc.Read(rb[:])
	if err != nil || n < 10 || rb[0] != 129 || string(rb[8:n]) != "hi" {
		t.Fatalf("ping reply %x %v", rb[:n], err)
	}
	var st6 ipv6.Stats
	rg.runner.Do(func(time.Time) { st6 = rg.card.IP6().Stats() })
	t.Logf("card %v: %d IPv6 packets in, %d out, %d echo replies", a6, st6.InPackets, st6.OutPackets, st6.ICMPEchoOut)
}

// TestRealTUNIPv6: the Linux kernel's IPv6 as the peer, over a TUN device
// in a namespace the test creates, with our PPP in host role (IPV6CP, the
// card's prefix announced) between it and the `netcard serve --ipv6`
// binary — the host side in-process (host.NewTUN) and as the `netcard host
// --tun --ipv6` binary. From inside the namespace ping -6 and curl -6 (full
// certificate verification) reach the card at its SLAAC address, and curl
// still reaches it over IPv4: the listeners are dual-stack.
func TestRealTUNIPv6(t *testing.T) {
	peers.Require(t, "ip", "curl", "ping", "/dev/net/tun")
	bin := netcardBinary(t)
	run := func(t *testing.T, binaryHost bool) {
		t0 := time.Now()
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		img, certFile := cardImage(t, t.TempDir(), adminSetup())
		ns := peers.TestNetns(t)
		fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
		if err != nil {
			t.Fatal(err)
		}
		cardEnd, hostEnd := os.NewFile(uintptr(fds[0]), "card-line"), os.NewFile(uintptr(fds[1]), "host-line")
		defer hostEnd.Close()
		pr := startNetcard(t, "netcard serve", cardEnd, bin, "serve", "--link", "stdio", "--store", img, "--ipv6")
		cardEnd.Close()
		var cfg host.TUNConfig
		cfg.Netns = ns.Name
		cfg.IPv6 = true
		cfg.IPv6Prefix = host.DefaultIPv6Prefix
		cfg.PPP.LocalIP, cfg.PPP.PeerIP = [4]byte{10, 64, 0, 1}, [4]byte{10, 64, 0, 2}
		if binaryHost {
			startNetcard(t, "netcard host", hostEnd, bin, "host", "--link", "stdio", "--tun", "nc6", "--netns", ns.Name, "--ipv6")
			hostEnd.Close()
		} else {
			conn, err := net.FileConn(hostEnd)
			hostEnd.Close()
			if err != nil {
				t.Fatal(err)
			}
			tun, err := host.NewTUN(conn, "nc6", cfg)
			if err != nil {
				conn.Close()
				t.Fatal(err)
			}
			t.Cleanup(func() { tun.Close() })
		}
		wctx, wcancel := context.WithTimeout(ctx, 20*time.Second)
		defer wcancel()
		line, err := pr.waitLog(wctx, "IPv6 address", 1)
		if err != nil {
			t.Fatal(err)
		}
		i := strings.Index(line, "global=")
		if i < 0 {
			t.Fatalf("no address in %q", line)
		}
		a6, err := netip.ParseAddr(strings.Fields(line[i+len("global="):])[0])
		if err != nil || !host.DefaultIPv6Prefix.Contains(a6) {
			t.Fatalf("the card's address %v (%v) is not on the announced prefix", a6, err)
		}
		t.Logf("card configured %v after %v", a6, time.Since(t0).Round(time.Millisecond))
		out, err := nsRun(ctx, ns, 15*time.Second, "ping", "-6", "-c", "3", "-i", "0.2", "-W", "3", "-s", "1200", a6.String())
		if err != nil || !strings.Contains(out, "3 packets transmitted, 3 received") {
			t.Fatalf("ping -6: %v\n%s", err, out)
		}
		res := []string{"-6", "--cacert", certFile, "--resolve", "netcard.local:443:[" + a6.String() + "]"}
		body, code := curlIn(t, ctx, ns, append(res, "https://netcard.local/")...)
		if code != "200" || !strings.Contains(body, "netcard") {
			t.Fatalf("GET https://[%v]/ = %s %q", a6, code, body)
		}
		body, code = curlIn(t, ctx, ns, append(res, "-H", "Authorization: Bearer "+adminSecret, "https://netcard.local/status")...)
		if code != "200" || !strings.Contains(body, cfg.HostIP6().String()) {
			t.Fatalf("status over IPv6 does not show the IPv6 peer: %s %q", code, body)
		}
		body, code = curlIn(t, ctx, ns, "--cacert", certFile, "https://10.64.0.2/")
		if code != "200" || !strings.Contains(body, "netcard") {
			t.Fatalf("GET https://10.64.0.2/ = %s %q", code, body)
		}
		t.Logf("variant total %v", time.Since(t0).Round(time.Millisecond))
	}
	t.Run("host-in-process", func(t *testing.T) { run(t, false) })
	t.Run("host-binary", func(t *testing.T) { run(t, true) })
}

// TestRealUMLPPPDIPv6: pppd with +ipv6 (the Linux PPP driver and IPv6
// stack, a module in the UML kernel) and the `netcard serve --ipv6` binary
// on the serial line. IPV6CP gives both ends their link-local addresses;
// the guest pings the card's; then the guest announces a /64 (a Router
// Advertisement, as radvd would), the card configures its global address
// by SLAAC, and the guest pings it and fetches https://netcard.local/ with
// curl -6, the certificate verified.
func TestRealUMLPPPDIPv6(t *testing.T) {
	if testing.Short() {
		t.Skip("boots user-mode Linux")
	}
	peers.Require(t, "ip", uml.Kernel, "pppd", "curl", "ping")
	if !uml.HelperAvailable() {
		t.Skip("the guest cannot run a race-enabled helper to send the router advertisement")
	}
	t0 := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	dir := t.TempDir()
	bin := netcardBinary(t)
	img, certFile := cardImage(t, dir, nil)
	ns := peers.TestNetns(t)
	u, err := uml.Boot(ctx, uml.Config{Dir: filepath.Join(dir, "uml"), NS: ns})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Log(u.Diagnostics())
		}
		u.Close()
	})
	line, err := peers.File(u.Line())
	if err != nil {
		t.Fatal(err)
	}
	pr := startNetcard(t, "netcard serve", line, bin, "serve", "--link", "stdio", "--store", img, "--ipv6")
	line.Close()
	prefix := "fd00:6e63:6172:64"
	cmd := `set -e
i=0; while [ ! -f /run/nc/ip6up ] && [ $i -lt 150 ]; do sleep 0.1; i=$((i+1)); done
. /run/nc/ip6up
echo "card link-local $LLREMOTE"
i=0; while ip -6 addr show dev $IFNAME | grep -q tentative && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done
ping -6 -c 2 -i 0.3 -W 3 $LLREMOTE%$IFNAME
ip -6 addr add ` + prefix + `::1/64 dev $IFNAME nodad
NETCARD_UML_RA=1 $NC_INSMOD $IFNAME ` + prefix + `::
CARD=` + prefix + `:${LLREMOTE#fe80::}
echo "card global $CARD"
ping -6 -c 3 -i 0.3 -w 10 $CARD
curl -6 -sS --max-time 20 --cacert ` + certFile + ` --resolve "netcard.local:443:[$CARD]" -w 'got %{http_code} %{ssl_verify_result} %{remote_ip}\n' -o /dev/null https://netcard.local/
`
	sess, err := u.Start(uml.Run{Options: []string{"10.0.2.2:10.0.2.15", "+ipv6"}, Cmd: cmd})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sess.WaitUp(ctx); err != nil {
		t.Fatal(err)
	}
	rc, out, err := sess.CmdResult(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("guest:\n%s", out)
	if rc != "0" || !strings.Contains(out, "2 packets transmitted, 2 received") ||
		!strings.Contains(out, "3 packets transmitted, 3 received") || !strings.Contains(out, "got 200 0 "+prefix) {
		t.Errorf("guest commands exited %s; pppd log:\n%s", rc, sess.Log())
	}
	if _, err := pr.waitLog(ctx, "IPv6 address", 1); err != nil {
		t.Error(err)
	}
	if rc, err := sess.Stop(ctx); err != nil || (rc != "0" && rc != "5") {
		t.Errorf("pppd stop: rc=%q err=%v", rc, err)
	}
	pr.stop()
	t.Logf("TestRealUMLPPPDIPv6: %v", time.Since(t0).Round(time.Millisecond))
}

// TestGvisorIPv6Tiny: the Tiny profile with IPv6 (its PPP MRU raised to
// IPv6's 1,280) over gVisor: a 1,200-byte ICMPv6 echo is answered whole,
// and plain HTTP on port 80 (the redirect to HTTPS) is served over IPv6
// (Tiny's MSS: 256 bytes over IPv4, 236 over IPv6).
func TestGvisorIPv6Tiny(t *testing.T) {
	rg, a6 := newRig6(t, card.TinyProfile)
	pc, err := rg.ns.Net().DialPingAddr(netip.Addr{}, a6)
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	req := append([]byte{128, 0, 0, 0, 0x12, 0x34, 0, 1}, bytes.Repeat([]byte{0xa5}, 1200)...)
	if _, err := pc.Write(req); err != nil {
		t.Fatal(err)
	}
	pc.SetReadDeadline(time.Now().Add(10 * time.Second))
	rb := make([]byte, 1500)
	n, err := pc.Read(rb)
	if err != nil || n != len(req) || rb[0] != 129 || !bytes.Equal(rb[8:n], req[8:]) {
		t.Fatalf("1,200-byte echo: %d bytes, %v", n, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, err := rg.ns.Net().DialContext(ctx, "tcp", netip.AddrPortFrom(a6, 80).String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(20 * time.Second))
	if _, err := c.Write([]byte("GET /status HTTP/1.1\r\nHost: netcard.local\r\nConnection: close\r\n\r\n")); err != nil {
		t.Fatal(err)
	}
	resp, err := io.ReadAll(c)
	if err != nil || !bytes.HasPrefix(resp, []byte("HTTP/1.1 30")) || !bytes.Contains(resp, []byte("https://")) {
		t.Fatalf("port 80 over IPv6: %v %q", err, resp)
	}
	t.Logf("Tiny over IPv6: echo of %d bytes, %q", n, bytes.SplitN(resp, []byte("\r\n"), 2)[0])
}
