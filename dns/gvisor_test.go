package dns

import (
	"bytes"
	"errors"
	"net"
	"net/netip"
	"syscall"
	"testing"
	"time"

	"golang.org/x/net/dns/dnsmessage"
	"golang.zx2c4.com/wireguard/tun/netstack"

	"netcard/ipv4"
)

// TestGVisorInterop puts gVisor's netstack (through wireguard's
// CreateNetTUN, raw IPv4 both ways) in front of the card: gVisor
// exchanges UDP with the card's echo socket (also datagrams it fragments
// at its MTU of 576), sees the card's port unreachable as
// ECONNREFUSED, and serves the card's DNS query.
func TestGVisorInterop(t *testing.T) {
	gvIP := netip.MustParseAddr("10.78.0.1")
	cardIP := ipv4.Addr{10, 78, 0, 2}
	cardAddr := netip.AddrFrom4(cardIP)
	dev, tnet, err := netstack.CreateNetTUN([]netip.Addr{gvIP}, nil, 576)
	if err != nil {
		t.Fatal(err)
	}
	pkts := make(chan []byte, 64)
	go func() {
		bufs, sizes := [][]byte{make([]byte, 2048)}, []int{0}
		for {
			if _, err := dev.Read(bufs, sizes, 0); err != nil {
				return
			}
			select {
			case pkts <- append([]byte(nil), bufs[0][:sizes[0]]...):
			default:
			}
		}
	}()
	t.Cleanup(func() { dev.Close() })
	card := startCard(t, cardIP, ipv4.Addr(gvIP.As4()), pkts, func(p []byte) error {
		_, err := dev.Write([][]byte{append([]byte(nil), p...)}, 0)
		return err
	})

	// (No ping here: wireguard's PingConn.Read waits for a wake-up that gVisor
	// only sends when its queue was empty, so a reply arriving before Read
	// is never returned. Echo replies are checked against gVisor's header
	// code in package ipv4 and against Linux's ping in TestKernelInterop.)

	// 1. UDP echo (gVisor fragments the 1200-byte datagram at MTU 576),
	// and port unreachable.
	uc, err := tnet.DialUDPAddrPort(netip.AddrPortFrom(gvIP, 40000), netip.AddrPortFrom(cardAddr, 7))
	if err != nil {
		t.Fatal(err)
	}
	defer uc.Close()
	for _, m := range [][]byte{[]byte("hello card"), bytes.Repeat([]byte{0xa5}, 500), bytes.Repeat([]byte{0x5a}, 1200), {0}} {
		uc.SetReadDeadline(time.Now().Add(3 * time.Second))
		if _, err := uc.Write(m); err != nil {
			t.Fatal(err)
		}
		got := make([]byte, 2048)
		n, err := uc.Read(got)
		if err != nil || !bytes.Equal(got[:n], m) {
			t.Fatalf("udp echo: %v", err)
		}
	}
	closed, err := tnet.DialUDPAddrPort(netip.AddrPortFrom(gvIP, 40001), netip.AddrPortFrom(cardAddr, 9))
	if err != nil {
		t.Fatal(err)
	}
	defer closed.Close()
	closed.Write([]byte("anyone?"))
	// gVisor wakes a blocked reader on readable events only, not on the
	// error an ICMP message sets; the next Read reports it. So read with
	// short deadlines, for at most 3 s.
	for i := 0; ; i++ {
		closed.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
		_, err := closed.Read(make([]byte, 10))
		if errors.Is(err, syscall.ECONNREFUSED) || isRefused(err) {
			break
		}
		if i == 30 {
			t.Fatalf("closed port: %v", err)
		}
	}

	// 2. DNS served from gVisor's UDP socket.
	srv, err := tnet.ListenUDPAddrPort(netip.AddrPortFrom(gvIP, 53))
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	go func() {
		buf := make([]byte, 512)
		for {
			n, from, err := srv.ReadFrom(buf)
			if err != nil {
				return
			}
			var p dnsmessage.Parser
			h, err := p.Start(buf[:n])
			if err != nil {
				continue
			}
			q, err := p.Question()
			if err != nil {
				continue
			}
			b := dnsmessage.NewBuilder(nil, dnsmessage.Header{ID: h.ID, Response: true, RecursionDesired: h.RecursionDesired, RecursionAvailable: true})
			b.EnableCompression()
			b.StartQuestions()
			b.Question(q)
			b.StartAnswers()
			b.AResource(dnsmessage.ResourceHeader{Name: q.Name, Type: dnsmessage.TypeA, Class: dnsmessage.ClassINET, TTL: 60}, dnsmessage.AResource{A: [4]byte{10, 5, 6, 7}})
			msg, _ := b.Finish()
			srv.WriteTo(msg, from)
		}
	}()
	if res := card.resolve(t, "card.gvisor.test"); res != "[10 5 6 7] <nil>" {
		t.Fatalf("resolve: %s", res)
	}
}

func isRefused(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Err != nil && bytes.Contains([]byte(op.Err.Error()), []byte("refused"))
}
