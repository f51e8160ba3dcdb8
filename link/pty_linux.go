//go:build linux

package link

import (
	"errors"
	"os"
	"sync"

	"github.com/creack/pty"
	"golang.org/x/sys/unix"
)

// ptyPort is the master side of a pseudo-terminal. It keeps its own handle
// on the slave open so that the master never reads EIO while no peer has
// the slave open (the peer may attach, leave and come back), and so that
// the raw termios settings persist between peers.
type ptyPort struct {
	master *os.File
	slave  *os.File
	once   sync.Once
}

// OpenPTY creates a pseudo-terminal and returns its master side as a Port
// and the path of its slave side (for example /dev/pts/3) for the peer to
// open (pppd, slirp, socat, QEMU). The slave is put in raw mode: 8-bit
// clean, no echo, no line editing, no signals, no XON/XOFF, no output
// processing, so PPP frames pass untouched. Close closes both sides.
func OpenPTY() (Port, string, error) {
	m, s, err := pty.Open()
	if err != nil {
		return nil, "", err
	}
	if err := makeRaw(s); err != nil {
		m.Close()
		s.Close()
		return nil, "", err
	}
	return &ptyPort{master: m, slave: s}, s.Name(), nil
}

// makeRaw applies cfmakeraw(3) to the terminal f without switching f to
// blocking mode (f.Fd would).
func makeRaw(f *os.File) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var ioErr error
	err = rc.Control(func(fd uintptr) {
		t, err := unix.IoctlGetTermios(int(fd), unix.TCGETS)
		if err != nil {
			ioErr = err
			return
		}
		rawTermios(t)
		ioErr = unix.IoctlSetTermios(int(fd), unix.TCSETS, t)
	})
	return errors.Join(err, ioErr)
}

// rawTermios is cfmakeraw: 8N1, byte-at-a-time reads, nothing translated.
func rawTermios(t *unix.Termios) {
	t.Iflag &^= unix.IGNBRK | unix.BRKINT | unix.PARMRK | unix.ISTRIP | unix.INLCR |
		unix.IGNCR | unix.ICRNL | unix.IXON | unix.IXOFF | unix.IXANY | unix.IMAXBEL | unix.IUCLC
	t.Oflag &^= unix.OPOST
	t.Lflag &^= unix.ECHO | unix.ECHONL | unix.ICANON | unix.ISIG | unix.IEXTEN
	t.Cflag &^= unix.CSIZE | unix.PARENB | unix.CSTOPB | unix.CRTSCTS
	t.Cflag |= unix.CS8 | unix.CREAD | unix.CLOCAL
	t.Cc[unix.VMIN] = 1
	t.Cc[unix.VTIME] = 0
}

func (p *ptyPort) Read(b []byte) (int, error) {
	n, err := p.master.Read(b)
	if errors.Is(err, os.ErrClosed) {
		err = ErrClosed
	}
	return n, err
}

func (p *ptyPort) Write(b []byte) (int, error) {
	n, err := p.master.Write(b)
	if errors.Is(err, os.ErrClosed) {
		err = ErrClosed
	}
	return n, err
}

func (p *ptyPort) Close() error {
	err := ErrClosed
	p.once.Do(func() {
		err = errors.Join(p.master.Close(), p.slave.Close())
	})
	return err
}
