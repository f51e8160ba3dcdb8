package link

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strings"
	"sync"
	"unsafe"

	"golang.org/x/sys/unix"
)

// TAP is a Linux TAP device (IFF_TAP|IFF_NO_PI) as a Port carrying the
// frame stream of package eth: each frame the kernel sends is read as a
// 2-byte big-endian length and the frame; what is written is cut at the
// same prefixes and each frame written to the device whole. The card runs
// on it exactly as on a socket or a USB gadget's endpoint carrying that
// stream; the kernel side is the host's network interface (what a USB
// CDC-ECM gadget looks like to the host).
type TAP struct {
	Name string
	f    *os.File

	rmu  sync.Mutex
	rbuf []byte // the frame being read, prefixed
	roff int    // bytes of rbuf already returned
	rlen int

	wmu  sync.Mutex
	wbuf []byte // the frame being written, without its prefix
	whdr [2]byte
	wh   int // prefix bytes seen
	want int // frame length
	wn   int // frame bytes seen
}

// tapMaxFrame bounds a frame through the TAP port: 14 + a 9000-byte jumbo
// MTU; the card's link skips any frame longer than its own maximum.
const tapMaxFrame = 14 + 9000

// OpenTAP creates (or attaches to) TAP device name, inside the network
// namespace netns (a name under /var/run/netns or a path; "" = ours). The
// device is left down and unconfigured: the caller (or the host's own
// network configuration) sets it up. Needs CAP_NET_ADMIN.
func OpenTAP(name, netns string) (*TAP, error) {
	if len(name) == 0 || len(name) >= unix.IFNAMSIZ {
		return nil, fmt.Errorf("link: bad TAP name %q", name)
	}
	var f *os.File
	var err error
	if netns == "" {
		f, err = tapAttach(name)
	} else {
		done := make(chan struct{})
		go func() {
			defer close(done)
			// This thread enters netns and is never unlocked: it exits
			// with the goroutine instead of serving others in netns.
			runtime.LockOSThread()
			path := netns
			if !strings.ContainsRune(path, '/') {
				path = "/var/run/netns/" + netns
			}
			target, e := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
			if e != nil {
				err = fmt.Errorf("open netns %s: %w", netns, e)
				return
			}
			defer unix.Close(target)
			if e := unix.Setns(target, unix.CLONE_NEWNET); e != nil {
				err = fmt.Errorf("setns %s: %w", netns, e)
				return
			}
			f, err = tapAttach(name)
		}()
		<-done
	}
	if err != nil {
		return nil, err
	}
	return &TAP{Name: name, f: f, rbuf: make([]byte, 2+tapMaxFrame), wbuf: make([]byte, tapMaxFrame)}, nil
}

func tapAttach(name string) (*os.File, error) {
	fd, err := unix.Open("/dev/net/tun", unix.O_RDWR|unix.O_CLOEXEC|unix.O_NONBLOCK, 0)
	if err != nil {
		return nil, fmt.Errorf("open /dev/net/tun: %w", err)
	}
	var ifr [unix.IFNAMSIZ + 24]byte
	copy(ifr[:], name)
	*(*uint16)(unsafe.Pointer(&ifr[unix.IFNAMSIZ])) = unix.IFF_TAP | unix.IFF_NO_PI
	if _, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), unix.TUNSETIFF, uintptr(unsafe.Pointer(&ifr[0]))); e != 0 {
		unix.Close(fd)
		return nil, fmt.Errorf("TUNSETIFF %s: %w", name, e)
	}
	// Non-blocking, so os.File uses the poller and Close unblocks Read.
	return os.NewFile(uintptr(fd), "/dev/net/tun"), nil
}

// Read returns the frame stream of what the kernel sends: whole prefixed
// frames when p is large enough (2 + 14 + MTU), else in pieces.
func (t *TAP) Read(p []byte) (int, error) {
	t.rmu.Lock()
	defer t.rmu.Unlock()
	for t.roff == t.rlen {
		n, err := t.f.Read(t.rbuf[2:])
		if err != nil {
			return 0, err
		}
		if n == 0 {
			continue
		}
		binary.BigEndian.PutUint16(t.rbuf, uint16(n))
		t.roff, t.rlen = 0, 2+n
	}
	n := copy(p, t.rbuf[t.roff:t.rlen])
	t.roff += n
	return n, nil
}

// Write takes frame-stream bytes and writes each complete frame to the
// device. A frame the device refuses is dropped (as a NIC drops it); only
// a closed device is an error.
func (t *TAP) Write(p []byte) (int, error) {
	t.wmu.Lock()
	defer t.wmu.Unlock()
	total := len(p)
	for len(p) > 0 {
		if t.wh < 2 {
			t.whdr[t.wh] = p[0]
			t.wh++
			p = p[1:]
			if t.wh == 2 {
				t.want, t.wn = int(binary.BigEndian.Uint16(t.whdr[:])), 0
			}
			continue
		}
		k := min(len(p), t.want-t.wn)
		if t.wn+k <= len(t.wbuf) {
			copy(t.wbuf[t.wn:], p[:k])
		}
		t.wn += k
		p = p[k:]
		if t.wn == t.want {
			t.wh = 0
			if t.want <= len(t.wbuf) && t.want > 0 {
				if _, err := t.f.Write(t.wbuf[:t.want]); err != nil && isClosed(err) {
					return total - len(p), err
				}
			}
		}
	}
	return total, nil
}

func isClosed(err error) bool { return errors.Is(err, os.ErrClosed) }

// Close releases the device (a device we created disappears with it).
func (t *TAP) Close() error { return t.f.Close() }

// SetUp brings the device up (IFF_UP), from the calling thread's network
// namespace: what a host does when a USB network gadget appears.
func (t *TAP) SetUp() error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq(t.Name)
	if err != nil {
		return err
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, ifr); err != nil {
		return fmt.Errorf("SIOCGIFFLAGS %s: %w", t.Name, err)
	}
	ifr.SetUint16(ifr.Uint16() | unix.IFF_UP)
	if err := unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, ifr); err != nil {
		return fmt.Errorf("SIOCSIFFLAGS %s: %w", t.Name, err)
	}
	return nil
}
