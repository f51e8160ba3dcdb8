package link

import (
	"bytes"
	"errors"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"
)

// binaryBytes are bytes a terminal line discipline would mangle: flags and
// escapes, XON/XOFF, CR/LF, NUL, ^C ^D ^Z ^\\, DEL, 0xFF and 8-bit bytes.
var binaryBytes = func() []byte {
	b := []byte{0x7E, 0x7D, 0x11, 0x13, 0x00, 0xFF, 0x0D, 0x0A, 0x03, 0x04, 0x1A, 0x1C, 0x7F, 0x15, 0x17, 0x12, 0x16, 0x0F, 0x7E}
	for i := range 256 {
		b = append(b, byte(i))
	}
	return b
}()

func TestPTYRoundTrip(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("pty ports are linux-only")
	}
	m, path, err := OpenPTY()
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if !strings.HasPrefix(path, "/dev/pts/") {
		t.Fatalf("slave path %q", path)
	}
	s, err := os.OpenFile(path, os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()

	// slave → master
	go s.Write(binaryBytes)
	got := make([]byte, len(binaryBytes))
	readFull(t, m, got, 5*time.Second)
	if !bytes.Equal(got, binaryBytes) {
		t.Fatalf("slave→master changed bytes:\n% x\n% x", got, binaryBytes)
	}
	// master → slave; then slave → master again: the first bytes the
	// master reads must be the reply, not an echo of what it sent.
	go m.Write(binaryBytes)
	readFull(t, s, got, 5*time.Second)
	if !bytes.Equal(got, binaryBytes) {
		t.Fatalf("master→slave changed bytes:\n% x\n% x", got, binaryBytes)
	}
	reply := []byte{0x7E, 0xFF, 0x03, 0xC0, 0x21, 0x7E}
	go s.Write(reply)
	readFull(t, m, got[:len(reply)], 5*time.Second)
	if !bytes.Equal(got[:len(reply)], reply) {
		t.Fatalf("master read % x: echo is on", got[:len(reply)])
	}
}

// TestPTYPeerReconnects: the peer may close the slave and open it again;
// the master keeps working and a Close unblocks a pending Read.
func TestPTYPeerReconnects(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("pty ports are linux-only")
	}
	m, path, err := OpenPTY()
	if err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		s, err := os.OpenFile(path, os.O_RDWR|syscall.O_NOCTTY, 0)
		if err != nil {
			t.Fatal(err)
		}
		go s.Write([]byte{0x7E, byte(i), 0x7E})
		got := make([]byte, 3)
		readFull(t, m, got, 5*time.Second)
		if got[1] != byte(i) {
			t.Fatalf("round %d: % x", i, got)
		}
		s.Close()
	}
	errc := make(chan error, 1)
	go func() { _, err := m.Read(make([]byte, 1)); errc <- err }()
	m.Close()
	select {
	case err := <-errc:
		if err == nil {
			t.Fatal("Read after Close returned no error")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not unblock Read")
	}
}

func TestTCPRoundTrip(t *testing.T) {
	srv, err := NewTCPServer("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	cli, err := DialTCP(srv.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	go cli.Write(binaryBytes)
	got := make([]byte, len(binaryBytes))
	readFull(t, srv, got, 5*time.Second)
	if !bytes.Equal(got, binaryBytes) {
		t.Fatal("client→server changed bytes")
	}
	go srv.Write(binaryBytes)
	readFull(t, cli, got, 5*time.Second)
	if !bytes.Equal(got, binaryBytes) {
		t.Fatal("server→client changed bytes")
	}
	// One peer only: the listener is gone.
	if c, err := DialTCP(srv.Addr().String()); err == nil {
		c.Close()
		t.Fatal("a second peer could connect")
	}
	cli.Close()
	if _, err := srv.Read(got); err != io.EOF {
		t.Fatalf("Read after peer closed: %v", err)
	}
}

func TestListenTCP(t *testing.T) {
	// ListenTCP blocks until the peer connects: find a free port first.
	srv, err := NewTCPServer("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := srv.Addr().String()
	srv.Close()
	if err := srv.Accept(); err == nil {
		t.Fatal("Accept on a closed server succeeded")
	}
	type res struct {
		p   Port
		err error
	}
	c := make(chan res, 1)
	go func() { p, err := ListenTCP(addr); c <- res{p, err} }()
	var cli Port
	deadline := time.Now().Add(5 * time.Second)
	for cli == nil {
		cli, err = DialTCP(addr) // the listener may not be up yet
		if err != nil {
			if time.Now().After(deadline) {
				t.Fatal(err)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	defer cli.Close()
	r := <-c
	if r.err != nil {
		t.Fatal(r.err)
	}
	defer r.p.Close()
	go r.p.Write([]byte("ok"))
	got := make([]byte, 2)
	readFull(t, cli, got, 5*time.Second)
	if string(got) != "ok" {
		t.Fatalf("got %q", got)
	}
}

func TestTCPServerCloseUnblocks(t *testing.T) {
	srv, err := NewTCPServer("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() { _, err := srv.Read(make([]byte, 1)); errc <- err }()
	srv.Close()
	select {
	case err := <-errc:
		if err == nil {
			t.Fatal("Read on a closed server returned no error")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not unblock a Read waiting for the peer")
	}
}

func TestParseSpec(t *testing.T) {
	for _, bad := range []string{"", "foo", "stdio:x", "pty:x", "serial:", "serial:/dev/x@", "serial:/dev/x@-5",
		"serial:/dev/x@fast", "tcp:", "tcp-listen:", "tcp-listen:256.0.0.1:1"} {
		if p, _, err := ParseSpec(bad); err == nil {
			p.Close()
			t.Errorf("ParseSpec(%q) succeeded", bad)
		}
	}
	if _, _, err := ParseSpec("serial:/dev/netcard-no-such-device@9600"); err == nil {
		t.Error("opened a missing serial device")
	}

	p, info, err := ParseSpec("tcp-listen:127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	addr := strings.TrimPrefix(info, "tcp-listen ")
	q, info2, err := ParseSpec("tcp:" + addr)
	if err != nil {
		t.Fatalf("%v (info %q)", err, info)
	}
	defer q.Close()
	if info2 != "tcp "+addr {
		t.Errorf("info %q", info2)
	}
	go q.Write([]byte{0x7E})
	got := make([]byte, 1)
	readFull(t, p, got, 5*time.Second)

	if runtime.GOOS == "linux" {
		p, info, err := ParseSpec("pty")
		if err != nil {
			t.Fatal(err)
		}
		p.Close()
		if !strings.HasPrefix(info, "/dev/pts/") {
			t.Errorf("pty info %q", info)
		}
	}
}

// TestStdio runs this test binary as a child whose stdin and stdout are
// pipes: the child echoes through a Stdio port, closes it, and checks that
// its fds 0 and 1 are still open.
func TestStdio(t *testing.T) {
	if os.Getenv("LINK_STDIO_CHILD") == "1" {
		stdioChild()
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestStdio$")
	cmd.Env = append(os.Environ(), "LINK_STDIO_CHILD=1")
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	go in.Write(binaryBytes)
	got := make([]byte, len(binaryBytes))
	readFull(t, out, got, 10*time.Second)
	if !bytes.Equal(got, binaryBytes) {
		t.Fatal("stdio echo changed bytes")
	}
	// The child now closes its port while a Read is pending, then writes
	// a trailer directly to fd 1.
	rest, err := io.ReadAll(out)
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("child: %v\n%s", err, stderr.String())
	}
	if !strings.Contains(string(rest), "fds still open") {
		t.Fatalf("child output %q, stderr %q", rest, stderr.String())
	}
	in.Close()
}

func stdioChild() {
	p := Stdio()
	buf := make([]byte, len(binaryBytes))
	if _, err := io.ReadFull(p, buf); err != nil {
		os.Exit(3)
	}
	if _, err := p.Write(buf); err != nil {
		os.Exit(4)
	}
	errc := make(chan error, 1)
	go func() { _, err := p.Read(buf); errc <- err }()
	p.Close()
	select {
	case err := <-errc:
		if !errors.Is(err, ErrClosed) {
			os.Stderr.WriteString("pending Read returned " + err.Error())
			os.Exit(5)
		}
	case <-time.After(5 * time.Second):
		os.Stderr.WriteString("Close did not unblock Read")
		os.Exit(6)
	}
	if _, err := os.Stdout.WriteString("fds still open\n"); err != nil {
		os.Exit(7)
	}
	os.Stdout.Close()
	os.Exit(0)
}
