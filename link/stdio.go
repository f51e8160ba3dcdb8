package link

import (
	"errors"
	"io"
	"os"
	"sync"
	"sync/atomic"
)

// stdioPort reads the process's standard input and writes its standard
// output through duplicates of fds 0 and 1, so that Close can release (and
// unblock) them without closing the process's own descriptors.
type stdioPort struct {
	in, out  *os.File
	restore  func()
	closed   atomic.Bool
	closeOne sync.Once
}

// Stdio returns a Port on standard input and output, for running under
// `pppd pty "netcard ..."`, socat, slirp or an inetd-style parent. Close
// unblocks a pending Read but leaves fds 0 and 1 open for the rest of the
// process. While the port is open its input is in non-blocking mode (a
// flag shared with fd 0); Close restores it, so close the port before
// exiting when stdin is an interactive terminal.
func Stdio() Port {
	p := &stdioPort{in: os.Stdin, out: os.Stdout, restore: func() {}}
	if in, out, restore, ok := dupStdio(); ok {
		p.in, p.out, p.restore = in, out, restore
	}
	return p
}

func (p *stdioPort) Read(b []byte) (int, error) {
	if p.closed.Load() {
		return 0, ErrClosed
	}
	n, err := p.in.Read(b)
	if err != nil && p.closed.Load() {
		err = ErrClosed
	}
	return n, err
}

func (p *stdioPort) Write(b []byte) (int, error) {
	if p.closed.Load() {
		return 0, ErrClosed
	}
	n, err := p.out.Write(b)
	if err != nil && p.closed.Load() {
		err = ErrClosed
	}
	return n, err
}

func (p *stdioPort) Close() error {
	err := error(ErrClosed)
	p.closeOne.Do(func() {
		p.closed.Store(true)
		err = nil
		if p.in == os.Stdin {
			return
		}
		p.restore()
		err = errors.Join(p.in.Close(), p.out.Close())
	})
	return err
}

var _ io.ReadWriteCloser = (*stdioPort)(nil)
