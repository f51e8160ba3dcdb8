// Package link is the card's hardware interface: serial byte streams (a pty,
// a real serial device, stdin/stdout, a TCP "virtual UART", an in-memory
// line), line-rate emulation at N baud (8N1, 10 bits per byte), seeded fault
// injection on an HDLC byte stream, and pcap capture of PPP frames
// (LINKTYPE_PPP_WITH_DIR).
//
// Unlike the protocol packages, link is the real-time runner layer: its
// drivers may use goroutines, locks, timers and sleeps.
package link

import (
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
)

// Port is a serial line: a full-duplex byte stream. Read returns the bytes
// that have arrived (at least one, blocking until then); Write sends all of
// p; Close releases the line and unblocks pending Read and Write calls.
type Port interface {
	io.ReadWriteCloser
}

// ErrClosed is returned by operations on a Port that was closed locally.
var ErrClosed = errors.New("link: port closed")

// DefaultBaud is the serial rate used when a spec names none.
const DefaultBaud = 115200

// DialTCP connects to a TCP "virtual UART" (for example QEMU's
// -serial tcp:HOST:PORT,server) and returns the connection as a Port.
func DialTCP(addr string) (Port, error) {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	setNoDelay(c)
	return c, nil
}

// ListenTCP listens on addr, accepts exactly one peer, stops listening and
// returns the connection as a Port, like QEMU's serial tcp server mode.
// It blocks until a peer connects. Use NewTCPServer to learn the bound
// address (for example with port 0) before a peer connects.
func ListenTCP(addr string) (Port, error) {
	s, err := NewTCPServer(addr)
	if err != nil {
		return nil, err
	}
	if err := s.Accept(); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// TCPServer is a Port that listens on a TCP address and serves exactly one
// peer. Read and Write wait until the peer has connected; the listener is
// closed as soon as the peer is accepted.
type TCPServer struct {
	ln    net.Listener
	ready chan struct{} // closed once conn or err is set
	conn  net.Conn
	err   error
	mu    sync.Mutex
	close bool
}

// NewTCPServer starts listening on addr ("HOST:PORT"; port 0 picks a free
// port) and accepts the single peer in the background.
func NewTCPServer(addr string) (*TCPServer, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	s := &TCPServer{ln: ln, ready: make(chan struct{})}
	go s.acceptOne()
	return s, nil
}

func (s *TCPServer) acceptOne() {
	c, err := s.ln.Accept()
	s.ln.Close()
	s.mu.Lock()
	if err == nil && s.close {
		c.Close()
		err = ErrClosed
	}
	if err == nil {
		setNoDelay(c)
		s.conn = c
	} else {
		s.err = err
	}
	s.mu.Unlock()
	close(s.ready)
}

// Addr is the address the server listens on.
func (s *TCPServer) Addr() net.Addr { return s.ln.Addr() }

// Accept waits until the peer has connected (or the server was closed).
func (s *TCPServer) Accept() error {
	<-s.ready
	return s.err
}

// Read waits for the peer, then reads from it.
func (s *TCPServer) Read(p []byte) (int, error) {
	if err := s.Accept(); err != nil {
		return 0, err
	}
	return s.conn.Read(p)
}

// Write waits for the peer, then writes to it.
func (s *TCPServer) Write(p []byte) (int, error) {
	if err := s.Accept(); err != nil {
		return 0, err
	}
	return s.conn.Write(p)
}

// Close stops listening and closes the peer connection, if any.
func (s *TCPServer) Close() error {
	s.mu.Lock()
	s.close = true
	c := s.conn
	s.mu.Unlock()
	s.ln.Close() // unblocks acceptOne
	if c != nil {
		return c.Close()
	}
	return nil
}

func setNoDelay(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		tc.SetNoDelay(true)
	}
}

// ParseSpec opens the Port named by a command-line spec:
//
//	stdio                    stdin/stdout (pppd pty "netcard ...", socat, slirp)
//	pty                      a new pseudo-terminal; info is its slave path
//	serial:/dev/ttyUSB0      a serial device at DefaultBaud, 8N1
//	serial:/dev/ttyS0@9600   ... at the given baud
//	tcp:HOST:PORT            connect to a TCP virtual UART
//	tcp-listen:HOST:PORT     serve one TCP peer (info is the bound address);
//	                         returns at once, I/O waits for the peer
//
// info is a human-readable description to print (the pty path, the
// listening address, ...).
func ParseSpec(spec string) (p Port, info string, err error) {
	kind, arg, _ := strings.Cut(spec, ":")
	switch kind {
	case "stdio":
		if arg != "" {
			break
		}
		return Stdio(), "stdio", nil
	case "pty":
		if arg != "" {
			break
		}
		p, path, err := OpenPTY()
		if err != nil {
			return nil, "", err
		}
		return p, path, nil
	case "serial":
		dev, b, hasBaud := strings.Cut(arg, "@")
		baud := DefaultBaud
		if hasBaud {
			baud, err = strconv.Atoi(b)
			if err != nil || baud <= 0 {
				return nil, "", fmt.Errorf("link: bad baud rate in %q", spec)
			}
		}
		if dev == "" {
			break
		}
		p, err := OpenSerial(dev, baud)
		if err != nil {
			return nil, "", err
		}
		return p, fmt.Sprintf("%s %d 8N1", dev, baud), nil
	case "tcp":
		if arg == "" {
			break
		}
		p, err := DialTCP(arg)
		if err != nil {
			return nil, "", err
		}
		return p, "tcp " + arg, nil
	case "tcp-listen":
		if arg == "" {
			break
		}
		s, err := NewTCPServer(arg)
		if err != nil {
			return nil, "", err
		}
		return s, "tcp-listen " + s.Addr().String(), nil
	}
	return nil, "", fmt.Errorf("link: bad port spec %q (want stdio, pty, serial:DEV[@BAUD], tcp:HOST:PORT or tcp-listen:HOST:PORT)", spec)
}
