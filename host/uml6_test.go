package host

import (
	"context"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"netcard/host/peers"
	"netcard/host/uml"
	"netcard/ipv4"
	"netcard/ipv6"
	"netcard/ppp"
)

// cardIID is the interface identifier the card proposes in the IPv6 tests:
// its link-local address is fe80::ca4d.
var cardIID = [8]byte{6: 0xca, 7: 0x4d}

// umlPing6 waits (in the guest) for pppd's ipv6-up and for the kernel's
// Duplicate Address Detection of its own link-local address to end, then
// pings the card's link-local address over ppp0.
const umlPing6 = `i=0; while [ ! -f /run/nc/ip6up ] && [ $i -lt 150 ]; do sleep 0.1; i=$((i+1)); done
cat /run/nc/ip6up || exit 20
i=0; while ip -6 addr show dev $IFNAME | grep -q tentative && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done
ip -6 addr show dev $IFNAME
ping -6 -c 3 -i 0.3 -W 3 -s 1200 fe80::ca4d%$IFNAME
`

// TestPPPDIPv6: pppd 2.4.9 with +ipv6 in user-mode Linux (its ipv6 module
// loaded) negotiates IPV6CP (RFC 5072) with our PPP in card role: the two
// interface identifiers agree and differ, and the Linux kernel pings the
// card's link-local address fe80::ca4d%ppp0 — 1,200-byte echoes
// answered by the ipv6 package (RFC 4443 §4.2) — while IPv4 runs beside it.
// Then our PPP in host role with IPv6 against pppd as the client
// (testPPPDHostRoleIPv6).
func TestPPPDIPv6(t *testing.T) {
	if testing.Short() {
		t.Skip("boots user-mode Linux")
	}
	peers.Require(t, uml.Kernel, "pppd")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	u, err := uml.Boot(ctx, uml.Config{Dir: filepath.Join(t.TempDir(), "uml")})
	if err != nil {
		t.Fatal(err)
	}
	defer u.Close()
	defer func() {
		if t.Failed() {
			t.Log(u.Diagnostics())
		}
	}()
	sess, err := u.Start(uml.Run{Options: []string{"10.0.2.2:10.0.2.15", "+ipv6"}, Cmd: umlPing6})
	if err != nil {
		t.Fatal(err)
	}
	ip := ipv4.NewHost(ipv4.Config{Local: ipv4.Addr(DefaultPeerIP)})
	ip6 := ipv6.NewHost(ipv6.Config{MTU: 1500})
	ip6.AddAddr(ipv6.LinkLocal(cardIID), false)
	cfg := ppp.Config{
		IPv6: &ppp.IPv6Config{LocalIID: cardIID},
		DeliverIP: func(p []byte) {
			if len(p) > 0 && p[0]>>4 == 6 {
				ip6.Input(p, time.Now())
				return
			}
			ip.Input(p, time.Now())
		},
	}
	turn := false
	cfg.PullIP = func(dst []byte) int {
		turn = !turn
		if turn {
			if n := ip6.Output(dst, time.Now()); n > 0 {
				return n
			}
		}
		if n := ip.Output(dst, time.Now()); n > 0 {
			return n
		}
		return ip6.Output(dst, time.Now())
	}
	c := startCardOnData(t, peers.Borrow(u.Line()), cfg, nil)
	defer func() {
		if rc, err := sess.Stop(ctx); err != nil {
			t.Errorf("stopping pppd: %v", err)
		} else if t.Failed() {
			t.Logf("pppd exit %s; log:\n%s", rc, sess.Log())
		}
		c.drv.Close()
	}()
	if _, err := sess.WaitUp(ctx); err != nil {
		t.Fatal(err)
	}
	rc, out, err := sess.CmdResult(ctx)
	if err != nil || rc != "0" {
		t.Fatalf("guest ping -6 of the card: rc=%s err=%v\n%s", rc, err, out)
	}
	var st ipv6.Stats
	var s6 ppp.Stats6
	var peer [8]byte
	c.drv.Do(func(time.Time) { st, s6, peer = ip6.Stats(), c.link.Stats6(), c.link.PeerIID() })
	if st.ICMPEchoOut < 3 || s6.IPV6CPOpens != 1 {
		t.Fatalf("echo replies %d, IPV6CP opens %d; stats %+v", st.ICMPEchoOut, s6.IPV6CPOpens, st)
	}
	// The guest kernel shows both link-local addresses: the card's must be
	// fe80::ca4d and the guest's the identifier the card acknowledged.
	if !strings.Contains(out, "peer fe80::ca4d/128") || !strings.Contains(out, ipv6.LinkLocal(peer).String()) {
		t.Fatalf("pppd's view %q, card's peer IID %x", out, peer)
	}
	t.Logf("IPV6CP up, card fe80::ca4d, guest %v; %d echo replies; %s", ipv6.LinkLocal(peer), st.ICMPEchoOut, lastLine(out))
	if rc, err := sess.Stop(ctx); err != nil {
		t.Fatalf("stopping pppd: %v (rc %s)", err, rc)
	}
	c.drv.Close()
	if !t.Failed() {
		t.Run("host role", func(t *testing.T) { testPPPDHostRoleIPv6(t, ctx, u) })
	}
}

// testPPPDHostRoleIPv6: our PPP in host role with IPv6 (bridged to gVisor)
// against pppd +ipv6 as the client: IPV6CP opens, the bridge's router
// advertisement reaches the Linux kernel, and the kernel (on a static
// address of the announced prefix) pings gVisor's address over the link.
func testPPPDHostRoleIPv6(t *testing.T, ctx context.Context, u *uml.UML) {
	cfg := Config{IPv6: true}
	hostIP := DefaultIPv6Prefix.Addr().As16()
	hostIP[15] = 1
	gv := netip.AddrFrom16(hostIP).String()
	cmd := `i=0; while [ ! -f /run/nc/ip6up ] && [ $i -lt 150 ]; do sleep 0.1; i=$((i+1)); done
. /run/nc/ip6up || exit 20
i=0; while ip -6 addr show dev $IFNAME | grep -q tentative && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done
ip -6 addr add fd00:6e63:6172:64::2/64 dev $IFNAME nodad
ping -6 -c 2 -i 0.3 -W 3 ` + gv + `
`
	sess, err := u.Start(uml.Run{Options: []string{"noipdefault", "+ipv6"}, Cmd: cmd})
	if err != nil {
		t.Fatal(err)
	}
	h, err := NewNetstack(peers.Borrow(u.Line()), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if _, err := sess.Stop(ctx); err != nil {
			t.Errorf("stopping pppd: %v", err)
		}
		h.Close()
	}()
	if _, err := sess.WaitUp(ctx); err != nil {
		t.Fatal(err)
	}
	rc, out, err := sess.CmdResult(ctx)
	if err != nil || rc != "0" || !strings.Contains(out, "2 packets transmitted, 2 received") {
		t.Fatalf("guest ping -6 of gVisor through our host role: rc=%s err=%v\n%s\npppd log:\n%s", rc, err, out, sess.Log())
	}
	if !h.Up6() {
		t.Fatal("host role: IPV6CP not up")
	}
	t.Logf("host role IPv6 up (the guest on the prefix would be %v by its IPV6CP identifier), Linux pinged gVisor %s: %s", h.PeerIP6(), gv, lastLine(out))
}

func lastLine(s string) string {
	l := strings.Split(strings.TrimSpace(s), "\n")
	return l[len(l)-1]
}
