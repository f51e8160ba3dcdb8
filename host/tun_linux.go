package host

import (
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"unsafe"

	"golang.org/x/sys/unix"
)

// TUNConfig configures a TUN bridge.
type TUNConfig struct {
	Config
	// Netns is the network namespace (a name under /var/run/netns, or a
	// path) to create the device in; "" = ours.
	Netns string
}

// TUN bridges our PPP host role to a Linux TUN device (IFF_TUN|IFF_NO_PI):
// the kernel's TCP/IP stack routes to the card. The device gets the PPP
// local address with the card's address as its point-to-point peer, and is
// up. Needs CAP_NET_ADMIN.
type TUN struct {
	*Bridge
	Name string
	f    *os.File
	wg   sync.WaitGroup
	once sync.Once
	v6   bool
}

// NewTUN creates TUN device name, configures it and starts the host side
// on port.
func NewTUN(port io.ReadWriteCloser, name string, cfg TUNConfig) (*TUN, error) {
	if err := cfg.fill(); err != nil {
		return nil, err
	}
	f, err := openTUN(name, cfg.Netns)
	if err != nil {
		return nil, err
	}
	local := netip.AddrFrom4(cfg.PPP.LocalIP).String()
	peer := netip.AddrFrom4(cfg.PPP.PeerIP).String()
	ipArgs := func(a ...string) []string {
		if cfg.Netns != "" {
			return append([]string{"-n", nsName(cfg.Netns)}, a...)
		}
		return a
	}
	cmds := [][]string{
		{"addr", "add", local + "/32", "peer", peer + "/32", "dev", name},
		{"link", "set", name, "mtu", strconv.Itoa(cfg.MTU), "up"},
	}
	if cfg.IPv6 {
		// The kernel's address on the card's prefix (announced to the card
		// by the bridge); nodad: the only other node is the card, whose
		// identifier IPV6CP made differ from ours.
		cmds = append(cmds, []string{"-6", "addr", "add", cfg.HostIP6().String() + "/64", "dev", name, "nodad"})
	}
	for _, a := range cmds {
		if out, err := exec.Command("ip", ipArgs(a...)...).CombinedOutput(); err != nil {
			f.Close()
			return nil, fmt.Errorf("ip %s: %v: %s", strings.Join(a, " "), err, strings.TrimSpace(string(out)))
		}
	}
	t := &TUN{Name: name, f: f, v6: cfg.IPv6}
	t.Bridge = newBridge(port, &cfg.Config, func(pkt []byte) { _, _ = f.Write(pkt) })
	t.wg.Add(1)
	go t.readLoop(cfg.MTU)
	t.start()
	return t, nil
}

func nsName(ns string) string {
	if i := strings.LastIndexByte(ns, '/'); i >= 0 {
		return ns[i+1:]
	}
	return ns
}

func nsPath(ns string) string {
	if strings.ContainsRune(ns, '/') {
		return ns
	}
	return "/var/run/netns/" + ns
}

// openTUN opens /dev/net/tun and attaches it to a new device, from a
// thread switched into netns (the device lives where it was created; the
// descriptor works from any thread).
func openTUN(name, netns string) (*os.File, error) {
	if len(name) >= unix.IFNAMSIZ {
		return nil, fmt.Errorf("host: TUN name %q too long", name)
	}
	if netns != "" {
		// A fresh goroutine locks its thread, enters netns and never
		// unlocks: the thread exits with the goroutine instead of serving
		// other goroutines in the wrong namespace.
		done := make(chan struct{})
		var f *os.File
		var err error
		go func() {
			defer close(done)
			runtime.LockOSThread()
			target, e := unix.Open(nsPath(netns), unix.O_RDONLY|unix.O_CLOEXEC, 0)
			if e != nil {
				err = fmt.Errorf("open netns %s: %w", netns, e)
				return
			}
			defer unix.Close(target)
			if e := unix.Setns(target, unix.CLONE_NEWNET); e != nil {
				err = fmt.Errorf("setns %s: %w", netns, e)
				return
			}
			f, err = tunAttach(name)
			// This thread stays locked and exits with the goroutine.
		}()
		<-done
		return f, err
	}
	return tunAttach(name)
}

func tunAttach(name string) (*os.File, error) {
	fd, err := unix.Open("/dev/net/tun", unix.O_RDWR|unix.O_CLOEXEC|unix.O_NONBLOCK, 0)
	if err != nil {
		return nil, fmt.Errorf("open /dev/net/tun: %w", err)
	}
	var ifr [unix.IFNAMSIZ + 24]byte
	copy(ifr[:], name)
	*(*uint16)(unsafe.Pointer(&ifr[unix.IFNAMSIZ])) = unix.IFF_TUN | unix.IFF_NO_PI
	if _, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), unix.TUNSETIFF, uintptr(unsafe.Pointer(&ifr[0]))); e != 0 {
		unix.Close(fd)
		return nil, fmt.Errorf("TUNSETIFF %s: %w", name, e)
	}
	// Non-blocking, so os.File uses the poller and Close unblocks Read.
	return os.NewFile(uintptr(fd), "/dev/net/tun"), nil
}

func (t *TUN) readLoop(mtu int) {
	defer t.wg.Done()
	buf := make([]byte, mtu+64)
	for {
		n, err := t.f.Read(buf)
		if err != nil {
			return // closed, or the device is gone
		}
		if n > 0 && (buf[0]>>4 == 4 || t.v6 && buf[0]>>4 == 6) {
			t.send(buf[:n])
		}
	}
}

// Close terminates the link, stops the driver (closing the port) and
// deletes the device (closing its descriptor).
func (t *TUN) Close() error {
	var err error
	t.once.Do(func() {
		err = t.close()
		t.f.Close()
		t.wg.Wait()
	})
	return err
}
