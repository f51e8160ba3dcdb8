package e2e

// Issue 13, item 7: the IP/TCP holes, probed from the kernel side of a TUN
// link in a namespace the test creates, against the real card binary
// (`netcard serve --link stdio`, our PPP host role in-process: see
// tunCard). The card is 10.64.0.2, the namespace's end 10.64.0.1. Packets
// are crafted by hand (gVisor's header code) and sent through a raw socket
// in the namespace, or sent by hping3 and ping; the card's reactions are
// read back from raw sockets there. Each test is bounded in time and waits
// on events (a reply, a later reply proving an earlier packet was dropped),
// never on sleeps.
//
//   - TestAttackFragmentsVsPing: a lone spoofed fragment every second
//     (hping3 -x) while ping runs: every echo request is answered.
//   - TestAttackBigPing: ping -s 1492 (Card profile: a 1,520-byte request
//     reassembled in its one 1,500-byte slot, the reply fragmented to the
//     MTU) and ping -s 3000 (Host profile) are answered; -s 1493 on the
//     Card profile cannot be reassembled and is not.
//   - TestAttackIPOptions: malformed options get an ICMP Parameter Problem
//     pointing at the bad octet; valid record-route and TTL 0 are answered;
//     IHL < 5 is dropped.
//   - TestAttackChallengeACK: CVE-2016-5696 — the challenge ACKs an
//     attacker counts on its own connection do not depend on whether its
//     spoofed RSTs hit another connection's window.

import (
	"context"
	"encoding/binary"
	"fmt"
	"net"
	"os"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/checksum"
	"gvisor.dev/gvisor/pkg/tcpip/header"

	"netcard/host"
	"netcard/host/peers"
)

var (
	nsAddr   = [4]byte{10, 64, 0, 1}
	cardAddr = [4]byte{10, 64, 0, 2}
)

// tunCardProfile is tunCard with a memory profile for the card.
func tunCardProfile(t *testing.T, ctx context.Context, profile string) (*peers.Netns, *proc) {
	t.Helper()
	bin := netcardBinary(t)
	img, _ := cardImage(t, t.TempDir(), nil)
	ns := peers.TestNetns(t)
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	cardEnd, hostEnd := os.NewFile(uintptr(fds[0]), "card-line"), os.NewFile(uintptr(fds[1]), "host-line")
	pr := startNetcard(t, "netcard serve", cardEnd, bin, "serve", "--link", "stdio", "--store", img, "--profile", profile)
	cardEnd.Close()
	conn, err := net.FileConn(hostEnd)
	hostEnd.Close()
	if err != nil {
		t.Fatal(err)
	}
	var cfg host.TUNConfig
	cfg.Netns = ns.Name
	cfg.PPP.LocalIP, cfg.PPP.PeerIP = nsAddr, cardAddr
	tun, err := host.NewTUN(conn, "nc0", cfg)
	if err != nil {
		conn.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() { tun.Close() })
	wctx, wcancel := context.WithTimeout(ctx, 20*time.Second)
	defer wcancel()
	if err := tun.WaitUp(wctx); err != nil {
		t.Fatal(err)
	}
	if _, err := pr.waitLog(wctx, "link up", 1); err != nil {
		t.Fatal(err)
	}
	return ns, pr
}

// rawPeer is a pair of raw sockets in the namespace: one sends hand-made
// IPv4 packets (IP_HDRINCL; the kernel refuses a header shorter than 20
// bytes), one receives copies of the incoming packets of one protocol
// (header included); and a packet socket on the TUN device that sends
// any bytes as an IPv4 packet, past the kernel's IP layer.
type rawPeer struct {
	t                *testing.T
	send, recv, link int
	ifindex          int
}

func newRawPeer(t *testing.T, ns *peers.Netns, proto int) *rawPeer {
	t.Helper()
	r := &rawPeer{t: t, send: -1, recv: -1, link: -1}
	err := ns.Do(func() (err error) {
		if r.send, err = syscall.Socket(syscall.AF_INET, syscall.SOCK_RAW|syscall.SOCK_CLOEXEC, syscall.IPPROTO_RAW); err != nil {
			return err
		}
		if r.recv, err = syscall.Socket(syscall.AF_INET, syscall.SOCK_RAW|syscall.SOCK_CLOEXEC, proto); err != nil {
			return err
		}
		ifc, err := net.InterfaceByName("nc0")
		if err != nil {
			return err
		}
		r.ifindex = ifc.Index
		r.link, err = syscall.Socket(syscall.AF_PACKET, syscall.SOCK_DGRAM|syscall.SOCK_CLOEXEC, int(htons(syscall.ETH_P_IP)))
		return err
	})
	t.Cleanup(func() {
		for _, fd := range []int{r.send, r.recv, r.link} {
			if fd >= 0 {
				syscall.Close(fd)
			}
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	tv := syscall.NsecToTimeval(int64(50 * time.Millisecond))
	if err := syscall.SetsockoptTimeval(r.recv, syscall.SOL_SOCKET, syscall.SO_RCVTIMEO, &tv); err != nil {
		t.Fatal(err)
	}
	return r
}

func (r *rawPeer) write(pkt []byte) {
	r.t.Helper()
	if err := syscall.Sendto(r.send, pkt, 0, &syscall.SockaddrInet4{Addr: cardAddr}); err != nil {
		r.t.Fatalf("raw send of % x: %v", pkt, err)
	}
}

// writeLink sends pkt as is on the TUN device.
func (r *rawPeer) writeLink(pkt []byte) {
	r.t.Helper()
	sa := &syscall.SockaddrLinklayer{Protocol: htons(syscall.ETH_P_IP), Ifindex: r.ifindex}
	if err := syscall.Sendto(r.link, pkt, 0, sa); err != nil {
		r.t.Fatalf("packet socket send: %v", err)
	}
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// read returns the next packet from the card, nil at the deadline.
func (r *rawPeer) read(deadline time.Time) []byte {
	buf := make([]byte, 65536)
	for time.Now().Before(deadline) {
		n, _, err := syscall.Recvfrom(r.recv, buf, 0)
		if err != nil {
			continue // EAGAIN at the receive timeout, EINTR
		}
		ip := header.IPv4(buf[:n])
		if n >= 20 && ip.SourceAddress().As4() == cardAddr {
			return append([]byte(nil), buf[:n]...)
		}
	}
	return nil
}

// ipPacket builds an IPv4 packet to the card with the given options
// (padded to a multiple of 4), TTL and payload, checksum included.
func ipPacket(proto uint8, id uint16, ttl uint8, opts, payload []byte) []byte {
	ol := (len(opts) + 3) &^ 3
	b := make([]byte, 20+ol+len(payload))
	b[0] = 0x40 | byte((20+ol)/4)
	binary.BigEndian.PutUint16(b[2:], uint16(len(b)))
	binary.BigEndian.PutUint16(b[4:], id)
	b[8], b[9] = ttl, proto
	copy(b[12:16], nsAddr[:])
	copy(b[16:20], cardAddr[:])
	copy(b[20:], opts)
	copy(b[20+ol:], payload)
	binary.BigEndian.PutUint16(b[10:], ^checksum.Checksum(b[:20+ol], 0))
	return b
}

// echoRequest builds an ICMP echo request.
func echoRequest(ident, seq uint16, data []byte) []byte {
	b := make([]byte, 8+len(data))
	ic := header.ICMPv4(b)
	ic.SetType(header.ICMPv4Echo)
	ic.SetIdent(ident)
	ic.SetSequence(seq)
	copy(b[8:], data)
	ic.SetChecksum(^checksum.Checksum(b, 0))
	return b
}

// pingStats parses ping's summary line.
var pingSummary = regexp.MustCompile(`(\d+) packets transmitted, (\d+) received`)

func pingCount(out string) (sent, got int) {
	m := pingSummary.FindStringSubmatch(out)
	if m == nil {
		return -1, -1
	}
	sent, _ = strconv.Atoi(m[1])
	got, _ = strconv.Atoi(m[2])
	return sent, got
}

// TestAttackFragmentsVsPing: one lone fragment from a spoofed source used to
// take the Card profile's only reassembly slot, which was also the echo
// buffer, for the 15 s reassembly timeout. With hping3 sending such a
// fragment every second, ping must get every reply.
func TestAttackFragmentsVsPing(t *testing.T) {
	peers.Require(t, "ip", "/dev/net/tun", "hping3", "ping")
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	ns, _ := tunCardProfile(t, ctx, "card")
	// An ICMP echo request with MF set and offset 0: a first fragment
	// whose rest never comes; a new IP identification each second; -c
	// bounds it. (ICMP: a UDP or TCP fragment to a port nobody listens on
	// is dropped by the early port filter before reassembly.)
	cmd := ns.Command("hping3", "-q", "-1", "-x", "-a", "10.64.0.77", "-d", "64", "-i", "u1000000", "-c", "30", "10.64.0.2")
	var hout strings.Builder
	cmd.Stdout, cmd.Stderr = &hout, &hout
	p, err := peers.StartProcess(cmd)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Stop(2*time.Second, false) })
	out, err := nsRun(ctx, ns, 60*time.Second, "ping", "-c", "15", "-i", "1", "-W", "5", "10.64.0.2")
	sent, got := pingCount(out)
	t.Logf("ping during a fragment a second: %d/%d answered", got, sent)
	if err != nil || sent != 15 || got != 15 {
		t.Fatalf("ping during the fragment attack: %v\n%s\nhping3: %s", err, out, hout.String())
	}
	if p.Exited() {
		t.Fatalf("hping3 stopped before ping ended:\n%s", hout.String())
	}
}

// TestAttackBigPing: RFC 1122 §3.2.2.6 — an echo request that can be
// reassembled is answered, the reply fragmented to the MTU (RFC 791). The
// kernel fragments the request and reassembles the reply.
func TestAttackBigPing(t *testing.T) {
	peers.Require(t, "ip", "/dev/net/tun", "ping")
	cases := []struct {
		profile string
		size    int
		answer  bool
	}{
		{"card", 1492, true},  // 1,520-byte datagram: the largest the Card profile reassembles
		{"card", 1493, false}, // one byte more than its 1,500-byte slot
		{"host", 3000, true},  // ping -s 3000: three fragments each way
	}
	for _, c := range cases {
		t.Run(fmt.Sprintf("%s-%d", c.profile, c.size), func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			ns, _ := tunCardProfile(t, ctx, c.profile)
			n := 3
			if !c.answer {
				n = 1
			}
			out, err := nsRun(ctx, ns, 30*time.Second, "ping", "-c", strconv.Itoa(n), "-i", "0.3", "-W", "3", "-s", strconv.Itoa(c.size), "10.64.0.2")
			sent, got := pingCount(out)
			t.Logf("ping -s %d (%s): %d/%d answered", c.size, c.profile, got, sent)
			if c.answer && (err != nil || got != n) {
				t.Fatalf("ping -s %d: %v\n%s", c.size, err, out)
			}
			if !c.answer && (sent != 1 || got != 0) {
				t.Fatalf("ping -s %d answered though it cannot be reassembled:\n%s", c.size, out)
			}
			// A normal ping still works afterwards.
			if out, err := nsRun(ctx, ns, 20*time.Second, "ping", "-c", "1", "-W", "5", "10.64.0.2"); err != nil {
				t.Fatalf("ping after: %v\n%s", err, out)
			}
		})
	}
}

// TestAttackIPOptions sends echo requests with hand-made IP headers: each
// malformed option draws an ICMP Parameter Problem (type 12, code 0) whose
// pointer is the octet at fault (RFC 791/792, RFC 1122 §3.2.2.5) and no
// echo reply; valid options and TTL 0 are answered (RFC 1122 §3.2.1.8,
// §3.2.1.7); a header with IHL < 5 is dropped silently. A packet that
// draws nothing is followed by a valid echo request: its reply, arriving
// first, proves the card dropped the earlier one.
func TestAttackIPOptions(t *testing.T) {
	peers.Require(t, "ip", "/dev/net/tun")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	ns, _ := tunCardProfile(t, ctx, "card")
	r := newRawPeer(t, ns, syscall.IPPROTO_ICMP)
	data := []byte("netcard option probe")
	rr := func(l, p byte, room int) []byte { return append([]byte{7, l, p}, make([]byte, room)...) }
	cases := []struct {
		name string
		ttl  uint8
		opts []byte
		want int // -1: echo reply; 0: nothing; > 0: Parameter Problem pointer
	}{
		{"record route length 0", 64, rr(0, 4, 5), 21},
		{"record route length 1", 64, rr(1, 4, 5), 21},
		{"record route past the header", 64, rr(39, 4, 5), 21},
		{"record route pointer 2", 64, rr(7, 2, 4), 22},
		{"timestamp flag 2", 64, []byte{68, 8, 5, 2, 0, 0, 0, 0}, 23},
		{"option without length", 64, []byte{1, 1, 1, 7}, 23},
		{"record route valid", 64, rr(39, 4, 36), -1},
		{"ttl 0", 0, nil, -1},
		{"incomplete source route", 64, []byte{131, 11, 4, 10, 64, 0, 9, 10, 64, 0, 8}, 0},
	}
	seq := uint16(0)
	deadline := func() time.Time { return time.Now().Add(10 * time.Second) }
	for _, c := range cases {
		seq++
		r.write(ipPacket(1, 1000+seq, c.ttl, c.opts, echoRequest(0x4e43, seq, data)))
		if c.want == 0 {
			seq++
			r.write(ipPacket(1, 1000+seq, 64, nil, echoRequest(0x4e43, seq, data)))
		}
		rep := r.read(deadline())
		if rep == nil {
			t.Errorf("%s: no answer (or no answer to the follow-up) within 10 s", c.name)
			continue
		}
		ip := header.IPv4(rep)
		ic := header.ICMPv4(ip.Payload())
		switch {
		case c.want == -1 || c.want == 0:
			if ic.Type() != header.ICMPv4EchoReply || ic.Sequence() != seq {
				t.Errorf("%s: got ICMP type %d seq %d, want the echo reply %d", c.name, ic.Type(), ic.Sequence(), seq)
			}
		default:
			quoted := ic[8:]
			if ic.Type() != header.ICMPv4ParamProblem || ic.Code() != 0 || int(ic[4]) != c.want ||
				len(quoted) < 20 || binary.BigEndian.Uint16(quoted[4:]) != 1000+seq {
				t.Errorf("%s: got ICMP type %d code %d pointer %d (% x), want Parameter Problem pointer %d",
					c.name, ic.Type(), ic.Code(), ic[4], ic, c.want)
			} else {
				t.Logf("%s: Parameter Problem, pointer %d", c.name, ic[4])
			}
		}
	}
	// IHL 4 (sent on the link: the kernel's raw socket refuses it); the
	// card drops it; the valid request after it is answered first.
	bad := ipPacket(1, 2000, 64, nil, echoRequest(0x4e43, 900, data))
	bad[0] = 0x44
	r.writeLink(bad)
	r.write(ipPacket(1, 2001, 64, nil, echoRequest(0x4e43, 901, data)))
	rep := r.read(deadline())
	if rep == nil {
		t.Fatal("IHL 4: no answer to the follow-up")
	}
	if ic := header.ICMPv4(header.IPv4(rep).Payload()); ic.Type() != header.ICMPv4EchoReply || ic.Sequence() != 901 {
		t.Fatalf("IHL 4: got ICMP type %d seq %d first", ic.Type(), ic.Sequence())
	}
}

// tcpSeg builds a TCP segment from the namespace to the card.
func tcpSeg(sport, dport uint16, seq, ack uint32, flags uint8) []byte {
	b := make([]byte, 20)
	h := header.TCP(b)
	h.Encode(&header.TCPFields{SrcPort: sport, DstPort: dport, SeqNum: seq, AckNum: ack,
		DataOffset: 20, Flags: header.TCPFlags(flags), WindowSize: 1000})
	sum := header.PseudoHeaderChecksum(header.TCPProtocolNumber, tcpip.AddrFrom4(nsAddr), tcpip.AddrFrom4(cardAddr), 20)
	h.SetChecksum(^checksum.Checksum(b, sum))
	return ipPacket(6, 0, 64, nil, b)
}

// TestAttackChallengeACK replays CVE-2016-5696 against the card: the
// attacker holds its own TCP connection and knows another one's 4-tuple
// (both are the kernel's, from the namespace, to port 443). Within one
// second it sends 5 spoofed RSTs to the other connection — inside its
// receive window ("hit", each would draw a challenge ACK) or far outside
// it ("miss") — and 20 in-window, inexact RSTs on its own, and counts the
// challenge ACKs it receives. With the old stack-wide budget of 10 per
// second it saw 10 − 5 = 5 on a hit and 10 on a miss; with per-connection
// budgets it sees 10 either way.
func TestAttackChallengeACK(t *testing.T) {
	peers.Require(t, "ip", "/dev/net/tun")
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	ns, _ := tunCardProfile(t, ctx, "card")
	r := newRawPeer(t, ns, syscall.IPPROTO_TCP)
	// Two kernel connections; their SYN-ACKs give the card's RCV.NXT for
	// each (nothing is sent on them afterwards).
	dial := func() (net.Conn, uint16, uint32) {
		var c net.Conn
		if err := ns.Do(func() (err error) {
			c, err = net.DialTimeout("tcp", "10.64.0.2:443", 20*time.Second)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		port := uint16(c.LocalAddr().(*net.TCPAddr).Port)
		end := time.Now().Add(10 * time.Second)
		for {
			seg := r.read(end)
			if seg == nil {
				t.Fatal("no SYN-ACK seen")
			}
			h := header.TCP(header.IPv4(seg).Payload())
			if h.DestinationPort() == port && h.Flags() == header.TCPFlagSyn|header.TCPFlagAck {
				return c, port, h.AckNumber()
			}
		}
	}
	_, atk, atkNxt := dial()
	_, vic, vicNxt := dial()
	// round plays one attack. The attacker paces its own RSTs, each after
	// the previous one's challenge ACK (the card answers a burst read at
	// once with one ACK), and stops at the first left unanswered for a
	// second: its budget is spent.
	round := func(hit bool) (own, victim int) {
		classify := func(seg []byte) {
			h := header.TCP(header.IPv4(seg).Payload())
			if h.Flags() != header.TCPFlagAck || len(h.Payload()) != 0 {
				return
			}
			switch h.DestinationPort() {
			case atk:
				own++
			case vic:
				victim++
			}
		}
		wait := func(d time.Duration, done func() bool) {
			end := time.Now().Add(d)
			for !done() {
				seg := r.read(end)
				if seg == nil {
					return
				}
				classify(seg)
			}
		}
		never := func() bool { return false }
		for i := 0; i < 5; i++ {
			seq := vicNxt + 1000 + uint32(i)*10
			if !hit {
				seq = vicNxt + 1<<31 + uint32(i)*10
			}
			r.write(tcpSeg(vic, 443, seq, 0, uint8(header.TCPFlagRst)))
			wait(20*time.Millisecond, never)
		}
		for i := 0; i < 12; i++ {
			before := own
			r.write(tcpSeg(atk, 443, atkNxt+100+uint32(i), 0, uint8(header.TCPFlagRst)))
			wait(time.Second, func() bool { return own > before })
			if own == before {
				break
			}
		}
		// Stragglers; the next round starts in a new rate-limit period.
		wait(1200*time.Millisecond, never)
		return own, victim
	}
	for i := 0; i < 2; i++ {
		ownHit, vicHit := round(true)
		ownMiss, vicMiss := round(false)
		t.Logf("round %d: attacker counts %d challenge ACKs when its probes hit (victim drew %d), %d when they miss (victim drew %d)",
			i, ownHit, vicHit, ownMiss, vicMiss)
		if vicHit == 0 || vicMiss != 0 {
			t.Fatalf("the probes did not behave as hit/miss: victim drew %d and %d challenge ACKs", vicHit, vicMiss)
		}
		// 10 a second per connection; up to 12 if the card's period
		// rolled over while a loaded machine delayed the round. The old
		// stack-wide budget gave 5 on a hit.
		if ownHit < 10 || ownMiss < 10 || ownHit > 12 || ownMiss > 12 {
			t.Fatalf("side channel: attacker sees %d challenge ACKs on a hit, %d on a miss (want 10 and 10)", ownHit, ownMiss)
		}
	}
}
