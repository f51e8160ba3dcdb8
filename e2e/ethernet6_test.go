package e2e

// IPv6 on the Ethernet link: the card on a TAP device in a fresh
// namespace, the Linux kernel's IPv6 (Neighbor Discovery, ICMPv6, TCP) and
// curl as the real peers.

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"netcard/card"
	"netcard/host/peers"
	"netcard/ipv6"
)

// startEthCard6 runs a card with IPv6 on a TAP device and waits until its
// link-local address passed DAD; it returns the address.
func startEthCard6(t *testing.T, ec card.EthConfig) (*ethRig, ipv6.Addr) {
	t.Helper()
	peers.Require(t, "ip")
	rg := startEthCardProfile(t, peers.TestNetns(t), ec, card.CardProfile.WithIPv6())
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var ll ipv6.Addr
	if err := rg.runner.WaitFor(ctx, func(time.Time) bool {
		ll = rg.card.IP6().LinkLocal()
		return ll != (ipv6.Addr{})
	}); err != nil {
		t.Fatalf("no link-local address: %v", err)
	}
	waitKernelLinkLocal(t, rg)
	return rg, ll
}

// waitKernelLinkLocal waits until the kernel's own link-local address on
// the TAP device passed its DAD (it is not "tentative"), so that the
// kernel can solicit the card.
func waitKernelLinkLocal(t *testing.T, rg *ethRig) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	var out string
	for time.Now().Before(deadline) {
		out, _ = rg.ns.Run("ip", "-6", "addr", "show", "dev", rg.dev, "scope", "link")
		if strings.Contains(out, "inet6 fe80") && !strings.Contains(out, "tentative") {
			return
		}
		time.Sleep(100 * time.Millisecond) // polling the kernel's state, not ours
	}
	t.Fatalf("the kernel's link-local address did not leave DAD:\n%s", out)
}

// TestTAPIPv6LinkLocal: the card's link-local address is the modified
// EUI-64 of its MAC (RFC 4291 App. A); the kernel resolves it by Neighbor
// Discovery and pings it (ping -6 to fe80::…%tap), and curl fetches
// https://netcard.local/ over IPv6 at that scoped address, verified
// against the card's certificate. The card resolved the kernel by ND in
// turn (its answers went out).
func TestTAPIPv6LinkLocal(t *testing.T) {
	peers.Require(t, "ip", "curl", "ping")
	rg, ll := startEthCard6(t, card.EthConfig{})
	mac := rg.card.Ethernet().MAC()
	want := ipv6.Addr{0: 0xfe, 1: 0x80, 8: mac[0] ^ 2, 9: mac[1], 10: mac[2], 11: 0xff, 12: 0xfe, 13: mac[3], 14: mac[4], 15: mac[5]}
	if ll != want {
		t.Fatalf("link-local %v, want the EUI-64 %v", ll, want)
	}
	scoped := ll.String() + "%" + rg.dev
	if out, err := runCmd(t, 60*time.Second, "", nil, "ip", "netns", "exec", rg.ns.Name,
		"ping", "-6", "-c", "3", "-i", "0.2", "-W", "5", scoped); err != nil {
		rg.runner.Do(func(time.Time) {
			t.Logf("ipv6 %+v\nnd %+v\neth %+v", rg.card.IP6().Stats(), rg.card.Neighbors().Stats(), rg.card.Ethernet().Stats())
		})
		t.Fatalf("ping -6: %v\n%s", err, out)
	}
	neigh, _ := rg.ns.Run("ip", "-6", "neigh", "show", "dev", rg.dev)
	if !strings.Contains(neigh, ll.String()+" lladdr "+mac.String()) {
		t.Errorf("kernel neighbour table lacks the card (%s):\n%s", mac, neigh)
	}
	// curl takes a scoped address in --connect-to (not in --resolve, in
	// 7.88): the URL's name, netcard.local, is what the certificate is
	// verified against.
	out, err := runCmd(t, 60*time.Second, "", nil, "ip", "netns", "exec", rg.ns.Name,
		"curl", "-6", "-sS", "--max-time", "50", "--cacert", rg.certFile,
		"--connect-to", "netcard.local:443:["+scoped+"]:443", "https://netcard.local/")
	if err != nil || !strings.Contains(strings.ToLower(out), "<html") {
		rg.runner.Do(func(time.Time) {
			t.Logf("ipv6 %+v\nnd %+v\neth %+v", rg.card.IP6().Stats(), rg.card.Neighbors().Stats(), rg.card.Ethernet().Stats())
		})
		t.Fatalf("curl -6: %v\n%s", err, out)
	}
}

// TestTAPIPv6MDNS: mDNS over IPv6 alone (RFC 6762 §3, ff02::fb): an
// avahi-daemon that speaks only IPv6 (use-ipv4=no) resolves netcard.local
// to the card's link-local address (AAAA) and to its IPv4 address (A, over
// the IPv6 transport), and browses its _https._tcp service; curl then
// fetches https://netcard.local/ at the resolved IPv6 address, verified.
func TestTAPIPv6MDNS(t *testing.T) {
	peers.Require(t, "ip", "busybox", "curl", "dig", "avahi-resolve", "avahi-browse")
	rg, ll := startEthCard6(t, card.EthConfig{})
	udhcpc(t, rg)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := rg.runner.WaitFor(ctx, func(time.Time) bool { return rg.card.MDNS().Running() }); err != nil {
		t.Fatalf("responder did not finish probing: %v", err)
	}
	env := startAvahiOn(t, rg, "no", "yes")
	out, err := runCmd(t, 30*time.Second, "", env, "ip", "netns", "exec", rg.ns.Name, "avahi-resolve", "-6", "-n", "netcard.local")
	if err != nil || !strings.Contains(out, "netcard.local\t"+ll.String()) {
		rg.runner.Do(func(time.Time) { t.Logf("mdns %+v\neth %+v", rg.card.MDNS().Stats(), rg.card.Ethernet().Stats()) })
		t.Fatalf("avahi-resolve -6: %v\n%s", err, out)
	}
	out, err = runCmd(t, 30*time.Second, "", env, "ip", "netns", "exec", rg.ns.Name, "avahi-resolve", "-4", "-n", "netcard.local")
	if err != nil || !strings.Contains(out, "netcard.local\t10.0.3.1") {
		t.Fatalf("avahi-resolve -4 over IPv6: %v\n%s", err, out)
	}
	out, err = runCmd(t, 30*time.Second, "", env, "ip", "netns", "exec", rg.ns.Name, "avahi-browse", "-r", "-t", "-p", "-k", "_https._tcp")
	if err != nil || !strings.Contains(out, "=;"+rg.dev+";IPv6;netcard;_https._tcp;local;netcard.local;") || !strings.Contains(out, ";443;\"path=/\"") {
		t.Fatalf("avahi-browse over IPv6: %v\n%s", err, out)
	}
	// dig: a one-shot query over IPv6 to the card's link-local address
	// (RFC 6762 §6.7) gets a unicast answer with the AAAA record.
	out, err = runCmd(t, 30*time.Second, "", nil, "ip", "netns", "exec", rg.ns.Name,
		"dig", "+time=5", "+tries=2", "-p", "5353", "@"+ll.String()+"%"+rg.dev, "netcard.local", "AAAA")
	if err != nil || !strings.Contains(out, "netcard.local.\t\t10\tIN\tAAAA\t"+ll.String()) {
		t.Fatalf("dig AAAA over IPv6: %v\n%s", err, out)
	}
	out, err = runCmd(t, 60*time.Second, "", nil, "ip", "netns", "exec", rg.ns.Name,
		"curl", "-6", "-sS", "--max-time", "50", "--cacert", rg.certFile,
		"--connect-to", "netcard.local:443:["+ll.String()+"%"+rg.dev+"]:443", "https://netcard.local/")
	if err != nil || !strings.Contains(strings.ToLower(out), "<html") {
		t.Fatalf("curl -6: %v\n%s", err, out)
	}
}

// radvdConf advertises 2001:db8:16::/64 on the TAP device, on-link and for
// autoconfiguration, every 3-4 s.
const radvdConf = `interface %s {
	AdvSendAdvert on;
	MinRtrAdvInterval 3;
	MaxRtrAdvInterval 4;
	AdvDefaultLifetime 0;
	prefix 2001:db8:16::/64 {
		AdvOnLink on;
		AdvAutonomous on;
	};
};
`

// TestTAPIPv6SLAAC: radvd, the Linux router advertisement daemon, runs on
// the namespace's side of the TAP device; the card forms a global address
// from the advertised prefix and its EUI-64 identifier (SLAAC, RFC 4862
// §5.5.3) after DAD, and the kernel pings it and curl fetches
// https://netcard.local/ at that global address (no scope needed).
func TestTAPIPv6SLAAC(t *testing.T) {
	peers.Require(t, "ip", "curl", "ping", "radvd", "sysctl")
	rg, ll := startEthCard6(t, card.EthConfig{})
	if out, err := rg.ns.Run("sysctl", "-w", "net.ipv6.conf.all.forwarding=1"); err != nil {
		t.Fatalf("sysctl: %v\n%s", err, out)
	}
	if out, err := rg.ns.Run("ip", "-6", "addr", "add", "2001:db8:16::1/64", "dev", rg.dev, "nodad"); err != nil {
		t.Fatalf("ip addr: %v\n%s", err, out)
	}
	conf := filepath.Join(rg.dir, "radvd.conf")
	if err := os.WriteFile(conf, []byte(fmt.Sprintf(radvdConf, rg.dev)), 0o644); err != nil {
		t.Fatal(err)
	}
	rlog := &watchLog{want: "never", seen: make(chan struct{})}
	cmd := rg.ns.Command("radvd", "-C", conf, "-n", "-m", "stderr", "-p", filepath.Join(rg.dir, "radvd.pid"))
	cmd.Stdout, cmd.Stderr = rlog, rlog
	r, err := peers.StartProcess(cmd)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		r.Stop(2*time.Second, false)
		if t.Failed() {
			t.Logf("radvd:\n%s", rlog.String())
		}
	})
	mac := rg.card.Ethernet().MAC()
	want := ipv6.Addr{0: 0x20, 1: 0x01, 2: 0x0d, 3: 0xb8, 5: 0x16}
	copy(want[8:], ll[8:])
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var g ipv6.Addr
	if err := rg.runner.WaitFor(ctx, func(time.Time) bool {
		g = rg.card.IP6().Global()
		return g != (ipv6.Addr{})
	}); err != nil {
		rg.runner.Do(func(time.Time) { t.Logf("slaac %+v", rg.card.SLAAC().Stats()) })
		t.Fatalf("no global address: %v", err)
	}
	if g != want {
		t.Fatalf("global %v, want %v (prefix and the EUI-64 of %v)", g, want, mac)
	}
	if out, err := runCmd(t, 60*time.Second, "", nil, "ip", "netns", "exec", rg.ns.Name,
		"ping", "-6", "-c", "3", "-i", "0.2", "-W", "5", g.String()); err != nil {
		t.Fatalf("ping -6 %v: %v\n%s", g, err, out)
	}
	out, err := runCmd(t, 60*time.Second, "", nil, "ip", "netns", "exec", rg.ns.Name,
		"curl", "-6", "-sS", "--max-time", "50", "--cacert", rg.certFile,
		"--resolve", "netcard.local:443:["+g.String()+"]", "https://netcard.local/")
	if err != nil || !strings.Contains(strings.ToLower(out), "<html") {
		t.Fatalf("curl -6 %v: %v\n%s", g, err, out)
	}
}

// TestServeTAPIPv6: `netcard serve --link tap:NAME --ipv6` in a fresh
// namespace: the kernel pings the card's link-local address and curl
// fetches https://netcard.local/ over IPv6; the capture shows ICMPv6
// (Neighbor Discovery, echo) and TLS over IPv6 in Ethernet frames.
func TestServeTAPIPv6(t *testing.T) {
	peers.Require(t, "ip", "curl", "ping", "tshark")
	bin := netcardBinary(t)
	dir := t.TempDir()
	img, certFile := cardImage(t, dir, nil)
	ns := peers.TestNetns(t)
	dev := fmt.Sprintf("nctap%d", tapSeq.Add(1))
	pcap := filepath.Join(dir, "eth.pcap")
	cmd := ns.Command(bin, "serve", "--link", "tap:"+dev, "--store", img, "--pcap", pcap, "--ipv6")
	logw := &watchLog{want: "IPv6 addresses", seen: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = logw, logw
	p, err := peers.StartProcess(cmd)
	if err != nil {
		t.Fatal(err)
	}
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			p.Stop(5*time.Second, false)
		}
		if t.Failed() {
			t.Logf("netcard serve:\n%s", logw.String())
		}
	})
	select {
	case <-logw.seen:
	case <-p.Done():
		t.Fatalf("netcard serve exited:\n%s", logw.String())
	case <-time.After(60 * time.Second):
		t.Fatalf("netcard serve got no IPv6 address:\n%s", logw.String())
	}
	m := regexp.MustCompile(`link-local=(fe80::[0-9a-f:]+)`).FindStringSubmatch(logw.String())
	if m == nil {
		t.Fatalf("no link-local address logged:\n%s", logw.String())
	}
	ll := m[1]
	rg := &ethRig{ns: ns, dev: dev, certFile: certFile, dir: dir}
	waitKernelLinkLocal(t, rg)
	if out, err := runCmd(t, 60*time.Second, "", nil, "ip", "netns", "exec", ns.Name,
		"ping", "-6", "-c", "2", "-i", "0.2", "-W", "5", ll+"%"+dev); err != nil {
		t.Fatalf("ping -6: %v\n%s", err, out)
	}
	out, err := runCmd(t, 60*time.Second, "", nil, "ip", "netns", "exec", ns.Name,
		"curl", "-6", "-sS", "--max-time", "50", "--cacert", certFile,
		"--connect-to", "netcard.local:443:["+ll+"%"+dev+"]:443", "https://netcard.local/")
	if err != nil || !strings.Contains(strings.ToLower(out), "<html") {
		t.Fatalf("curl -6: %v\n%s", err, out)
	}
	p.Stop(5*time.Second, false) // SIGTERM: the card stops and closes the capture
	stopped = true
	out, err = runCmd(t, 60*time.Second, "", nil, "tshark", "-n", "-r", pcap, "-T", "fields", "-e", "frame.protocols")
	if err != nil {
		t.Fatalf("tshark: %v\n%s", err, out)
	}
	for _, want := range []string{"eth:ethertype:ipv6:icmpv6", "eth:ethertype:ipv6:tcp:tls"} {
		if !strings.Contains(out, want+"\n") {
			t.Errorf("capture lacks %s:\n%s", want, out)
		}
	}
}

// TestTAPIPv6MLDSnooping: the card's TAP device is a port of a Linux
// bridge that snoops MLD and is itself the querier; the bridge's general
// query is answered by the card's MLDv2 report, and the bridge's
// multicast database then lists the card's groups (ff02::fb and its
// solicited-node group) on the card's port — so mDNS and Neighbor
// Discovery reach it through a snooping switch.
func TestTAPIPv6MLDSnooping(t *testing.T) {
	peers.Require(t, "ip", "bridge")
	ns := peers.TestNetns(t)
	if out, err := ns.Run("ip", "link", "add", "br0", "type", "bridge", "mcast_snooping", "1", "mcast_querier", "1",
		"mcast_mld_version", "2", "mcast_query_response_interval", "200"); err != nil {
		t.Fatalf("bridge: %v\n%s", err, out)
	}
	rg := startEthCardProfile(t, ns, card.EthConfig{}, card.CardProfile.WithIPv6())
	for _, args := range [][]string{{"link", "set", rg.dev, "master", "br0"}, {"link", "set", "br0", "up"}} {
		if out, err := ns.Run("ip", args...); err != nil {
			t.Fatalf("ip %v: %v\n%s", args, err, out)
		}
	}
	ll := ipv6.LinkLocal([8]byte{})
	mac := rg.card.Ethernet().MAC()
	ll[8], ll[9], ll[10], ll[11], ll[12], ll[13], ll[14], ll[15] = mac[0]^2, mac[1], mac[2], 0xff, 0xfe, mac[3], mac[4], mac[5]
	want := []string{"grp ff02::fb", "grp " + ipv6.SolicitedNode(ll).String()}
	deadline := time.Now().Add(90 * time.Second)
	var out string
	for time.Now().Before(deadline) {
		out, _ = ns.Run("bridge", "mdb", "show", "dev", "br0")
		ok := true
		for _, w := range want {
			ok = ok && strings.Contains(out, "port "+rg.dev+" "+w+" ")
		}
		if ok {
			return
		}
		time.Sleep(200 * time.Millisecond) // polling the kernel's table, not a state of ours
	}
	rg.runner.Do(func(time.Time) { t.Logf("status %+v", rg.card.Status(time.Now()).Counters) })
	t.Fatalf("bridge mdb lacks the card's groups %v:\n%s", want, out)
}
