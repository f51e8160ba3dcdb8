//go:build linux

package dns

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"netcard/ipv4"
)

// The Linux kernel as the peer: a TUN device inside a network namespace
// this test creates carries raw IPv4 between the kernel and the card's
// ipv4.Host + udp.Stack + Resolver. The kernel pings the card (also with
// requests it fragments itself), exchanges UDP datagrams with it (checking
// our checksums), gets an ICMP port unreachable as ECONNREFUSED, and serves
// the card's DNS query from a UDP socket. Needs root; skipped otherwise.

const kernelPy = "/usr/bin/python3"

// dnsServerPy answers every A query with 10.1.2.3 (a 1035-style response
// with a compression pointer to the question).
const dnsServerPy = `
import socket, struct, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("10.77.0.1", 53))
print("ready", flush=True)
while True:
    q, peer = s.recvfrom(512)
    end = 12
    while q[end] != 0:
        end += q[end] + 1
    question = q[12:end + 5]
    r = q[:2] + b"\x81\x80" + struct.pack(">HHHH", 1, 1, 0, 0) + question
    r += b"\xc0\x0c" + struct.pack(">HHIH", 1, 1, 60, 4) + bytes([10, 1, 2, 3])
    s.sendto(r, peer)
`

type kernelLab struct {
	t   *testing.T
	ns  string
	dev string
	tun *os.File
}

func (l *kernelLab) run(args ...string) string {
	l.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, args[0], args[1:]...).CombinedOutput()
	if err != nil {
		l.t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

func (l *kernelLab) inNS(args ...string) string {
	return l.run(append([]string{"ip", "netns", "exec", l.ns}, args...)...)
}

func newKernelLab(t *testing.T) *kernelLab {
	if testing.Short() {
		t.Skip("kernel interop skipped in -short mode")
	}
	if os.Geteuid() != 0 {
		if os.Getenv("CI") != "" {
			t.Fatal("CI must run this real-peer test:", "needs root for a network namespace and TUN")
		}
		t.Skip("needs root for a network namespace and TUN")
	}
	for _, p := range []string{"/dev/net/tun", kernelPy} {
		if _, err := os.Stat(p); err != nil {
			if os.Getenv("CI") != "" {
				t.Fatal("CI must run this real-peer test:", p, "not available")
			}
			t.Skip(p, "not available")
		}
	}
	if _, err := exec.LookPath("ip"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("CI must run this real-peer test:", "ip not available")
		}
		t.Skip("ip not available")
	}
	l := &kernelLab{t: t, ns: fmt.Sprintf("ncdns-%d", os.Getpid()), dev: fmt.Sprintf("ncdns%d", os.Getpid()%100000)}
	l.run("ip", "netns", "add", l.ns)
	t.Cleanup(func() { exec.Command("ip", "netns", "del", l.ns).Run() })

	fd, err := unix.Open("/dev/net/tun", unix.O_RDWR|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("CI must run this real-peer test:", "cannot open /dev/net/tun:", err)
		}
		t.Skip("cannot open /dev/net/tun:", err)
	}
	ifr, err := unix.NewIfreq(l.dev)
	if err != nil {
		t.Fatal(err)
	}
	ifr.SetUint16(unix.IFF_TUN | unix.IFF_NO_PI)
	if err := unix.IoctlIfreq(fd, unix.TUNSETIFF, ifr); err != nil {
		unix.Close(fd)
		if os.Getenv("CI") != "" {
			t.Fatal("CI must run this real-peer test:", "TUNSETIFF:", err)
		}
		t.Skip("TUNSETIFF:", err)
	}
	l.tun = os.NewFile(uintptr(fd), "tun")
	t.Cleanup(func() { l.tun.Close() })
	l.run("ip", "link", "set", l.dev, "netns", l.ns)
	l.run("ip", "-n", l.ns, "link", "set", "lo", "up")
	l.run("ip", "-n", l.ns, "addr", "add", "10.77.0.1", "peer", "10.77.0.2", "dev", l.dev)
	l.run("ip", "-n", l.ns, "link", "set", l.dev, "up", "mtu", "576")
	return l
}

func TestKernelInterop(t *testing.T) {
	l := newKernelLab(t)
	cardIP := ipv4.Addr{10, 77, 0, 2}
	kernIP := ipv4.Addr{10, 77, 0, 1}

	pkts := make(chan []byte, 64)
	go func() {
		defer close(pkts)
		for {
			b := make([]byte, 2048)
			n, err := l.tun.Read(b)
			if err != nil {
				return
			}
			select {
			case pkts <- b[:n]:
			default: // the card stopped or lags: a lost packet
			}
		}
	}()
	card := startCard(t, cardIP, kernIP, pkts, func(p []byte) error { _, err := l.tun.Write(p); return err })

	// 1. ping, small and fragmented by the kernel (MTU 576 on its side).
	if out := l.inNS("ping", "-c", "3", "-i", "0.2", "-W", "2", "10.77.0.2"); !strings.Contains(out, " 0% packet loss") {
		t.Fatalf("ping:\n%s", out)
	}
	if out := l.inNS("ping", "-c", "2", "-i", "0.2", "-W", "2", "-s", "1400", "10.77.0.2"); !strings.Contains(out, " 0% packet loss") {
		t.Fatalf("fragmented ping:\n%s", out)
	}

	// 2. UDP echo through the kernel's sockets (it verifies our checksums),
	// and port unreachable delivered as ECONNREFUSED.
	py := `
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(3)
s.connect(("10.77.0.2", 7))
for m in (b"hello card", bytes(range(256)) * 2, b"x"):
    s.send(m)
    assert s.recv(2048) == m, "echo mismatch"
c = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); c.settimeout(3)
c.connect(("10.77.0.2", 9))
c.send(b"anyone?")
try:
    c.recv(100)
    print("no error")
except ConnectionRefusedError:
    print("refused")
print("udp ok")
`
	if out := l.inNS(kernelPy, "-c", py); !strings.Contains(out, "refused") || !strings.Contains(out, "udp ok") {
		t.Fatalf("udp:\n%s", out)
	}

	// 3. DNS: the card resolves through a server on the kernel's socket.
	ctx, cancel := context.WithCancel(context.Background())
	srv := exec.CommandContext(ctx, "ip", "netns", "exec", l.ns, kernelPy, "-c", dnsServerPy)
	var srvOut bytes.Buffer
	stdout, _ := srv.StdoutPipe()
	srv.Stderr = &srvOut
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cancel(); srv.Wait() }()
	ready, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || ready != "ready\n" {
		t.Fatalf("dns server: %q %v %s", ready, err, srvOut.String())
	}
	if res := card.resolve(t, "card.kernel.test"); res != "[10 1 2 3] <nil>" {
		t.Fatalf("resolve: %s", res)
	}
}
