package e2e

// The card on an Ethernet link: a Linux TAP device inside a network
// namespace the test creates is the host's side of the link (what a USB
// CDC-ECM gadget looks like to the host). Real, unmodified peers: the
// kernel's ARP, IPv4, ICMP and TCP; busybox udhcpc as the host's DHCP
// client; curl and ping.

import (
	"context"
	"crypto/rand"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"netcard/card"
	"netcard/dhcp"
	"netcard/host/peers"
	"netcard/link"
	"netcard/store"
)

var tapSeq atomic.Int32

// ethRig is a card on a TAP device in a fresh namespace.
type ethRig struct {
	ns       *peers.Netns
	dev      string
	card     *card.Card
	runner   *card.Runner
	certFile string
	dir      string
}

// startEthCard builds a card image, opens a TAP device in a new namespace
// and runs the card on it with eth.
func startEthCard(t *testing.T, ec card.EthConfig) *ethRig {
	t.Helper()
	peers.Require(t, "ip")
	return startEthCardIn(t, peers.TestNetns(t), ec)
}

// startEthCardIn is startEthCard in an existing namespace.
func startEthCardIn(t *testing.T, ns *peers.Netns, ec card.EthConfig) *ethRig {
	t.Helper()
	return startEthCardProfile(t, ns, ec, card.CardProfile)
}

// startEthCardProfile is startEthCardIn with profile p.
func startEthCardProfile(t *testing.T, ns *peers.Netns, ec card.EthConfig, p card.Profile) *ethRig {
	t.Helper()
	dir := t.TempDir()
	img, certFile := cardImage(t, dir, nil)
	st, err := store.Open(img)
	if err != nil {
		t.Fatal(err)
	}
	st.SetClock(time.Now)
	c, err := card.New(card.Config{Profile: p, Store: st, Rand: rand.Reader, Clock: time.Now, Ethernet: &ec})
	if err != nil {
		st.Close()
		t.Fatal(err)
	}
	dev := fmt.Sprintf("nctap%d", tapSeq.Add(1))
	tap, err := link.OpenTAP(dev, ns.Name)
	if err != nil {
		st.Close()
		t.Fatal(err)
	}
	r := card.NewRunner(c, tap, nil)
	r.Do(func(now time.Time) { c.Start(now) })
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		tap.Close()
		<-done
		r.Stop()
		st.Close()
	})
	if _, err := ns.Run("ip", "link", "set", dev, "up"); err != nil {
		t.Fatal(err)
	}
	return &ethRig{ns: ns, dev: dev, card: c, runner: r, certFile: certFile, dir: dir}
}

// udhcpcScript configures the interface from udhcpc's environment and
// records it.
const udhcpcScript = `#!/bin/sh
env > "$0.$1.env"
case "$1" in
bound)
	ip -4 addr flush dev "$interface"
	ip addr add "$ip/$mask" dev "$interface"
	;;
renew)
	# replace, not flush and add: udhcpc logs "lease obtained" before it
	# runs the script, and a test looking then must not see no address.
	ip addr replace "$ip/$mask" dev "$interface"
	;;
esac
`

// TestTAPKernelDHCPClient: the host's own DHCP client (busybox udhcpc)
// configures the TAP interface from the card's DHCP server; then the
// kernel pings the card and curl fetches its page over verified HTTPS.
func TestTAPKernelDHCPClient(t *testing.T) {
	peers.Require(t, "ip", "busybox", "curl", "ping")
	rg := startEthCard(t, card.EthConfig{})
	udhcpc(t, rg)
	var leased bool
	rg.runner.Do(func(now time.Time) { _, leased = rg.card.DHCPServer().Leased(now) })
	if !leased {
		t.Fatal("card holds no lease")
	}
	if out, err := runCmd(t, 30*time.Second, "", nil, "ip", "netns", "exec", rg.ns.Name,
		"ping", "-c", "3", "-i", "0.2", "-W", "5", "10.0.3.1"); err != nil {
		t.Fatalf("ping: %v\n%s", err, out)
	}
	out, err := runCmd(t, 60*time.Second, "", nil, "ip", "netns", "exec", rg.ns.Name,
		"curl", "-sS", "--max-time", "50", "--cacert", rg.certFile,
		"--resolve", "netcard.local:443:10.0.3.1", "https://netcard.local/")
	if err != nil {
		t.Fatalf("curl: %v\n%s", err, out)
	}
	if !strings.Contains(strings.ToLower(out), "<html") {
		t.Fatalf("curl got:\n%s", out)
	}
	// The kernel resolved the card by ARP, and the card answered.
	neigh, _ := rg.ns.Run("ip", "neigh", "show", "dev", rg.dev)
	if mac := rg.card.Ethernet().MAC().String(); !strings.Contains(neigh, "10.0.3.1 lladdr "+mac) {
		t.Errorf("kernel neighbour table lacks the card (%s):\n%s", mac, neigh)
	}
}

// TestTAPCardDHCPClientOfDnsmasq: the card is the DHCP client of dnsmasq
// on the namespace's side of the TAP device: it gets an address from
// dnsmasq's range, renews at dnsmasq's T1 (unicast, seen in dnsmasq's log),
// and serves HTTPS at the leased address.
func TestTAPCardDHCPClientOfDnsmasq(t *testing.T) {
	peers.Require(t, "ip", "dnsmasq", "curl", "ping")
	rg := startEthCard(t, card.EthConfig{DHCP: card.DHCPClient})
	if _, err := rg.ns.Run("ip", "addr", "add", "192.168.77.1/24", "dev", rg.dev); err != nil {
		t.Fatal(err)
	}
	logFile := filepath.Join(rg.dir, "dnsmasq.log")
	// T1 8 s, T2 14 s, lease 2 min (dnsmasq's minimum).
	cmd := rg.ns.Command("dnsmasq", "--keep-in-foreground", "--no-daemon", "--port=0", "--no-resolv", "--no-hosts",
		"--interface="+rg.dev, "--bind-interfaces", "--dhcp-range=192.168.77.50,192.168.77.59,2m",
		"--dhcp-option=option:T1,8", "--dhcp-option=option:T2,14",
		"--dhcp-leasefile="+filepath.Join(rg.dir, "leases"), "--pid-file=", "--log-dhcp",
		"--log-facility="+logFile, "--conf-file=/dev/null", "--user=root")
	p, err := peers.StartProcess(cmd)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Stop(2*time.Second, false) })
	// Wait for the lease (the card's first DISCOVER goes out within 1 s;
	// retransmissions back off from 4 s).
	var addr [4]byte
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	err = rg.runner.WaitFor(ctx, func(now time.Time) bool {
		// Bound, and the address checked by ARP (1 s) and taken.
		addr = rg.card.IP().Local()
		return rg.card.DHCPClient().State() == dhcp.Bound && addr != [4]byte{}
	})
	if err != nil {
		log, _ := os.ReadFile(logFile)
		t.Fatalf("card not bound: %v\n%s", err, log)
	}
	if addr[0] != 192 || addr[1] != 168 || addr[2] != 77 || addr[3] < 50 || addr[3] > 59 {
		t.Fatalf("card got %v", addr)
	}
	ip := netip.AddrFrom4(addr).String()
	if out, err := runCmd(t, 30*time.Second, "", nil, "ip", "netns", "exec", rg.ns.Name,
		"ping", "-c", "3", "-i", "0.2", "-W", "5", ip); err != nil {
		t.Fatalf("ping: %v\n%s", err, out)
	}
	out, err := runCmd(t, 60*time.Second, "", nil, "ip", "netns", "exec", rg.ns.Name,
		"curl", "-sS", "--max-time", "50", "--cacert", rg.certFile,
		"--resolve", "netcard.local:443:"+ip, "https://netcard.local/")
	if err != nil || !strings.Contains(strings.ToLower(out), "<html") {
		t.Fatalf("curl: %v\n%s", err, out)
	}
	// Renewal at T1: a second ACK, the card still bound to the same address.
	ctx2, cancel2 := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel2()
	err = rg.runner.WaitFor(ctx2, func(now time.Time) bool { return rg.card.DHCPClient().Stats().Acks >= 2 })
	log, _ := os.ReadFile(logFile)
	if err != nil {
		t.Fatalf("no renewal: %v\n%s", err, log)
	}
	var state dhcp.ClientState
	var now4 [4]byte
	rg.runner.Do(func(time.Time) { state, now4 = rg.card.DHCPClient().State(), rg.card.IP().Local() })
	if state != dhcp.Bound || now4 != addr {
		t.Fatalf("after renewal: %v %v", state, now4)
	}
	if n := strings.Count(string(log), "DHCPACK("+rg.dev+") "+ip); n < 2 {
		t.Fatalf("dnsmasq acked %d times:\n%s", n, log)
	}
	// Stopping the card gives the lease back (RFC 2131 §4.4.6).
	rg.runner.Do(func(now time.Time) { rg.card.Stop(now) })
	if !waitFileContains(logFile, "DHCPRELEASE("+rg.dev+") "+ip, 30*time.Second) {
		log, _ := os.ReadFile(logFile)
		t.Fatalf("dnsmasq saw no release:\n%s", log)
	}
}

// waitFileContains waits for a daemon's log file to contain s, polling.
func waitFileContains(path, s string, d time.Duration) bool {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if b, err := os.ReadFile(path); err == nil && strings.Contains(string(b), s) {
			return true
		}
		time.Sleep(50 * time.Millisecond) // polling a file system, not a state of ours
	}
	return false
}

// udhcpc configures the namespace's side of the link with busybox udhcpc
// from the card's DHCP server and checks what it was given.
func udhcpc(t *testing.T, rg *ethRig) {
	t.Helper()
	script := filepath.Join(rg.dir, "udhcpc.sh")
	if err := os.WriteFile(script, []byte(udhcpcScript), 0o755); err != nil {
		t.Fatal(err)
	}
	// -q: exit once bound; -n: fail if no lease; -t/-T: 10 discovers a second apart.
	out, err := runCmd(t, 60*time.Second, "", nil, "ip", "netns", "exec", rg.ns.Name,
		"busybox", "udhcpc", "-i", rg.dev, "-f", "-q", "-n", "-t", "10", "-T", "1", "-s", script)
	if err != nil {
		t.Fatalf("udhcpc: %v\n%s", err, out)
	}
	env, err := os.ReadFile(script + ".bound.env")
	if err != nil {
		t.Fatalf("udhcpc never bound: %v\n%s", err, out)
	}
	for _, want := range []string{"ip=10.0.3.2", "serverid=10.0.3.1", "lease=3600", "mask=24"} {
		if !strings.Contains(string(env), want+"\n") {
			t.Errorf("udhcpc environment lacks %s:\n%s", want, env)
		}
	}
	addrs, _ := rg.ns.Run("ip", "-4", "addr", "show", "dev", rg.dev)
	if !strings.Contains(addrs, "10.0.3.2/24") {
		t.Fatalf("interface not configured:\n%s", addrs)
	}
}

// dbusConf is a private system bus for avahi-daemon and its clients in the
// test's namespace (the machine's own bus, if any, is not touched).
const dbusConf = `<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>unix:path=%s</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <allow own="*"/>
    <allow send_destination="*" eavesdrop="true"/>
    <allow receive_sender="*"/>
  </policy>
</busconfig>
`

const avahiConf = `[server]
host-name=nshost
use-ipv4=%s
use-ipv6=%s
allow-interfaces=%s
enable-dbus=yes
ratelimit-interval-usec=0
[wide-area]
enable-wide-area=no
[publish]
publish-addresses=no
publish-hinfo=no
publish-workstation=no
publish-domain=no
[reflector]
[rlimits]
`

// startAvahi runs a private dbus-daemon and avahi-daemon inside the
// namespace, both stopped by PID at the end of the test, and returns the
// environment their clients need.
func startAvahi(t *testing.T, rg *ethRig) []string {
	t.Helper()
	return startAvahiOn(t, rg, "yes", "no")
}

// startAvahiOn is startAvahi with avahi's use-ipv4 and use-ipv6 settings.
func startAvahiOn(t *testing.T, rg *ethRig, v4, v6 string) []string {
	t.Helper()
	peers.Require(t, "dbus-daemon", "avahi-daemon")
	bus := filepath.Join(rg.dir, "bus")
	dconf := filepath.Join(rg.dir, "dbus.conf")
	aconf := filepath.Join(rg.dir, "avahi.conf")
	if err := os.WriteFile(dconf, []byte(fmt.Sprintf(dbusConf, bus)), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(aconf, []byte(fmt.Sprintf(avahiConf, v4, v6, rg.dev)), 0o644); err != nil {
		t.Fatal(err)
	}
	d, err := peers.StartProcess(rg.ns.Command("dbus-daemon", "--config-file="+dconf, "--nofork", "--nopidfile"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Stop(2*time.Second, false) })
	env := []string{"DBUS_SYSTEM_BUS_ADDRESS=unix:path=" + bus}
	if !waitFile(bus, 20*time.Second) {
		t.Fatal("dbus-daemon did not create its socket")
	}
	acmd := rg.ns.Command("avahi-daemon", "-f", aconf, "--no-drop-root", "--no-chroot", "--no-rlimits", "--no-proc-title")
	acmd.Env = append(os.Environ(), env...)
	alog := &watchLog{want: "Server startup complete", seen: make(chan struct{})}
	acmd.Stdout, acmd.Stderr = alog, alog
	a, err := peers.StartProcess(acmd)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		a.Stop(2*time.Second, false)
		if t.Failed() {
			t.Logf("avahi-daemon:\n%s", alog.String())
		}
	})
	select {
	case <-alog.seen:
	case <-a.Done():
		t.Fatalf("avahi-daemon exited:\n%s", alog.String())
	case <-time.After(30 * time.Second):
		t.Fatalf("avahi-daemon did not start:\n%s", alog.String())
	}
	return env
}

// watchLog collects a daemon's output and closes seen when want appears
// (n times, if n > 1).
type watchLog struct {
	mu   sync.Mutex
	b    strings.Builder
	want string
	n    int
	seen chan struct{}
	done bool
}

func (w *watchLog) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.b.Write(p)
	if !w.done && strings.Count(w.b.String(), w.want) >= max(w.n, 1) {
		w.done = true
		close(w.seen)
	}
	return len(p), nil
}

func (w *watchLog) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.String()
}

// waitFile waits for path to exist (a daemon's socket), polling.
func waitFile(path string, d time.Duration) bool {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if _, err := os.Stat(path); err == nil {
			return true
		}
		time.Sleep(50 * time.Millisecond) // polling a file system, not a state of ours
	}
	return false
}

// TestTAPMDNS: the host configured by its own DHCP client finds the card by
// name with no further configuration: avahi-daemon (the Linux mDNS
// resolver) resolves netcard.local and browses its _https._tcp service; dig
// sends a one-shot (legacy unicast) mDNS query; curl fetches
// https://netcard.local/ at the resolved address, verified against the
// card's certificate, which names netcard.local.
func TestTAPMDNS(t *testing.T) {
	peers.Require(t, "ip", "busybox", "curl", "dig", "avahi-resolve", "avahi-browse")
	rg := startEthCard(t, card.EthConfig{})
	udhcpc(t, rg)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := rg.runner.WaitFor(ctx, func(time.Time) bool { return rg.card.MDNS().Running() }); err != nil {
		t.Fatalf("responder did not finish probing: %v", err)
	}
	env := startAvahi(t, rg)
	out, err := runCmd(t, 30*time.Second, "", env, "ip", "netns", "exec", rg.ns.Name, "avahi-resolve", "-4", "-n", "netcard.local")
	if err != nil || !strings.Contains(out, "netcard.local\t10.0.3.1") {
		t.Fatalf("avahi-resolve: %v\n%s", err, out)
	}
	resolved := strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(out), "netcard.local\t"))
	out, err = runCmd(t, 30*time.Second, "", env, "ip", "netns", "exec", rg.ns.Name, "avahi-browse", "-r", "-t", "-p", "-k", "_https._tcp")
	if err != nil || !strings.Contains(out, "=;"+rg.dev+";IPv4;netcard;_https._tcp;local;netcard.local;10.0.3.1;443;\"path=/\"") {
		t.Fatalf("avahi-browse: %v\n%s", err, out)
	}
	// dig: a one-shot query from an ephemeral port, sent to the card's
	// address (RFC 6762 §5.5, §6.7), gets a unicast answer with its ID, its
	// question and a TTL of 10 s. (dig ignores answers to a query it sent to
	// 224.0.0.251, since they come from the responder's own address.)
	out, err = runCmd(t, 30*time.Second, "", nil, "ip", "netns", "exec", rg.ns.Name,
		"dig", "+time=5", "+tries=2", "-p", "5353", "@10.0.3.1", "netcard.local", "A")
	if err != nil || !strings.Contains(out, "netcard.local.\t\t10\tIN\tA\t10.0.3.1") {
		rg.runner.Do(func(time.Time) { t.Logf("mdns %+v\neth %+v", rg.card.MDNS().Stats(), rg.card.Ethernet().Stats()) })
		t.Fatalf("dig: %v\n%s", err, out)
	}
	// curl connects to the address avahi resolved (nss-mdns would need the
	// machine's nsswitch.conf changed), verifying the certificate's
	// netcard.local.
	out, err = runCmd(t, 60*time.Second, "", nil, "ip", "netns", "exec", rg.ns.Name,
		"curl", "-sS", "--max-time", "50", "--cacert", rg.certFile,
		"--resolve", "netcard.local:443:"+resolved, "https://netcard.local/")
	if err != nil || !strings.Contains(strings.ToLower(out), "<html") {
		t.Fatalf("curl: %v\n%s", err, out)
	}
}

// TestServeTAP: the command, `netcard serve --link tap:NAME` started in a
// fresh namespace, makes the TAP device, brings it up and serves DHCP,
// HTTPS and mDNS on it; its --pcap capture (LINKTYPE_ETHERNET) is read by
// tshark.
func TestServeTAP(t *testing.T) {
	peers.Require(t, "ip", "busybox", "curl", "tshark")
	bin := netcardBinary(t)
	dir := t.TempDir()
	img, certFile := cardImage(t, dir, nil)
	ns := peers.TestNetns(t)
	dev := fmt.Sprintf("nctap%d", tapSeq.Add(1))
	pcap := filepath.Join(dir, "eth.pcap")
	cmd := ns.Command(bin, "serve", "--link", "tap:"+dev, "--store", img, "--pcap", pcap)
	logw := &watchLog{want: "ethernet up", seen: make(chan struct{})}
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
		t.Fatalf("netcard serve did not start:\n%s", logw.String())
	}
	rg := &ethRig{ns: ns, dev: dev, certFile: certFile, dir: dir}
	udhcpc(t, rg)
	out, err := runCmd(t, 60*time.Second, "", nil, "ip", "netns", "exec", ns.Name,
		"curl", "-sS", "--max-time", "50", "--cacert", certFile,
		"--resolve", "netcard.local:443:10.0.3.1", "https://netcard.local/")
	if err != nil || !strings.Contains(strings.ToLower(out), "<html") {
		t.Fatalf("curl: %v\n%s", err, out)
	}
	p.Stop(5*time.Second, false) // SIGTERM: the card stops and closes the capture
	stopped = true
	out, err = runCmd(t, 60*time.Second, "", nil, "tshark", "-n", "-r", pcap, "-T", "fields", "-e", "frame.protocols")
	if err != nil {
		t.Fatalf("tshark: %v\n%s", err, out)
	}
	for _, want := range []string{"eth:ethertype:arp", "eth:ethertype:ip:udp:dhcp", "eth:ethertype:ip:udp:mdns", "eth:ethertype:ip:tcp:tls"} {
		if !strings.Contains(out, want+"\n") {
			t.Errorf("capture lacks %s:\n%s", want, out)
		}
	}
}

// TestTAPTwoCardsOneLAN: two cards named netcard on one Ethernet segment (a
// Linux bridge joining their TAP devices, with avahi-daemon on it): RFC
// 6762 §8.2/§9 leave one netcard.local and one netcard-2.local, and avahi
// resolves each name to its own card.
func TestTAPTwoCardsOneLAN(t *testing.T) {
	peers.Require(t, "ip", "avahi-resolve")
	ns := peers.TestNetns(t)
	if _, err := ns.Run("ip", "link", "add", "br0", "type", "bridge"); err != nil {
		t.Fatal(err)
	}
	mask := [4]byte{255, 255, 255, 0}
	a := startEthCardIn(t, ns, card.EthConfig{DHCP: card.DHCPOff, Addr: [4]byte{192, 168, 88, 10}, Mask: mask})
	b := startEthCardIn(t, ns, card.EthConfig{DHCP: card.DHCPOff, Addr: [4]byte{192, 168, 88, 11}, Mask: mask})
	for _, args := range [][]string{
		{"link", "set", a.dev, "master", "br0"}, {"link", "set", b.dev, "master", "br0"},
		{"addr", "add", "192.168.88.1/24", "dev", "br0"}, {"link", "set", "br0", "up"},
	} {
		if _, err := ns.Run("ip", args...); err != nil {
			t.Fatal(err)
		}
	}
	// The cards probed before the bridge forwarded anything; a link change
	// restarts probing (RFC 6762 §8.1): give each its address again.
	for _, rg := range []*ethRig{a, b} {
		rg.runner.Do(func(now time.Time) { rg.card.MDNS().SetAddr([4]byte{}, now) })
	}
	for _, rg := range []*ethRig{a, b} {
		addr := [4]byte{192, 168, 88, 10}
		if rg == b {
			addr[3] = 11
		}
		rg.runner.Do(func(now time.Time) { rg.card.MDNS().SetAddr(addr, now) })
	}
	names := map[string]string{}
	for _, rg := range []*ethRig{a, b} {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		var name string
		err := rg.runner.WaitFor(ctx, func(time.Time) bool {
			name = rg.card.MDNS().Name()
			return rg.card.MDNS().Running()
		})
		cancel()
		if err != nil {
			t.Fatalf("responder not running: %v", err)
		}
		names[name] = netip.AddrFrom4(rg.card.IP().Local()).String()
	}
	if len(names) != 2 || names["netcard.local"] == "" || names["netcard-2.local"] == "" {
		t.Fatalf("names %v", names)
	}
	rg := &ethRig{ns: ns, dev: "br0", dir: t.TempDir()}
	env := startAvahi(t, rg)
	for name, addr := range names {
		out, err := runCmd(t, 30*time.Second, "", env, "ip", "netns", "exec", ns.Name, "avahi-resolve", "-4", "-n", name)
		if err != nil || !strings.Contains(out, name+"\t"+addr) {
			t.Fatalf("avahi-resolve %s: %v\n%s", name, err, out)
		}
	}
}

// TestTAPKernelDHCPRenew: udhcpc stays running with a short lease (the
// card offers 8 s; busybox raises it to 30 s) and renews it at T1 by
// unicast to the card (RFC 2131 §4.4.5; busybox falls back to a broadcast
// renew when its unicast socket fails); the card acks every renewal and
// the host keeps its address.
func TestTAPKernelDHCPRenew(t *testing.T) {
	peers.Require(t, "ip", "busybox")
	rg := startEthCard(t, card.EthConfig{Lease: 8 * time.Second})
	script := filepath.Join(rg.dir, "udhcpc.sh")
	if err := os.WriteFile(script, []byte(udhcpcScript), 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := rg.ns.Command("busybox", "udhcpc", "-i", rg.dev, "-f", "-t", "10", "-T", "1", "-s", script)
	logw := &watchLog{want: "lease of 10.0.3.2 obtained", n: 2, seen: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = logw, logw
	p, err := peers.StartProcess(cmd)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Stop(2*time.Second, false) })
	select {
	case <-logw.seen:
	case <-p.Done():
		t.Fatalf("udhcpc exited:\n%s", logw.String())
	case <-time.After(90 * time.Second):
		t.Fatalf("no renewal:\n%s", logw.String())
	}
	var st dhcp.ServerStats
	rg.runner.Do(func(time.Time) { st = rg.card.DHCPServer().Stats() })
	if st.Naks != 0 || st.Discovers != 1 || st.Acks < 2 {
		t.Fatalf("%+v\n%s", st, logw.String())
	}
	addrs, _ := rg.ns.Run("ip", "-4", "addr", "show", "dev", rg.dev)
	if !strings.Contains(addrs, "10.0.3.2/24") {
		t.Fatalf("address lost:\n%s", addrs)
	}
}
