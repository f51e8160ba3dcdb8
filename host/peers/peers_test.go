package peers

import (
	"bytes"
	"io"
	"testing"
	"time"
)

func TestFCS16(t *testing.T) {
	// LCP Configure-Request with FCS appended must check to the good value.
	f := []byte{0xff, 0x03, 0xc0, 0x21, 0x01, 0x01, 0x00, 0x04}
	fcs := ^FCS16(f)
	f = append(f, byte(fcs), byte(fcs>>8))
	if FCS16(f) != 0xf0b8 {
		t.Fatalf("FCS16 = %#x", FCS16(f))
	}
	var got [][]byte
	d := Deframer{Frame: func(fr []byte, ok bool) {
		if ok {
			got = append(got, append([]byte(nil), fr...))
		}
	}}
	// Banner noise, then the frame with every byte escaped.
	stream := []byte("SLiRP Ready\r\n\x7e")
	for _, c := range f {
		stream = append(stream, 0x7d, c^0x20)
	}
	stream = append(stream, 0x7e)
	d.Write(stream)
	if len(got) != 1 || !bytes.Equal(got[0], f) {
		t.Fatalf("deframed %x, want %x", got, f)
	}
}

// TestSlirpStarts checks the slirp harness alone: slirp runs in a fresh
// namespace on a socketpair and sends an LCP Configure-Request.
func TestSlirpStarts(t *testing.T) {
	Require(t, "ip", SlirpProgram)
	ns := TestNetns(t)
	s, err := StartSlirp(ns, SlirpConfig{Dir: t.TempDir(), Redirs: []Redir{{18080, 80}}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	t.Logf("slirp: %s", s.CommandLine())
	gotLCP := make(chan struct{})
	d := Deframer{Frame: func(fr []byte, ok bool) {
		if ok && len(fr) >= 5 && bytes.HasPrefix(fr, []byte{0xff, 0x03, 0xc0, 0x21, 0x01}) {
			select {
			case <-gotLCP:
			default:
				close(gotLCP)
			}
		}
	}}
	go func() {
		buf := make([]byte, 1500)
		for {
			n, err := s.Read(buf)
			d.Write(buf[:n])
			if err != nil {
				return
			}
		}
	}()
	start := time.Now()
	// slirp stays silent until the peer speaks: send one LCP Configure-Request.
	if _, err := s.Write(EncodeFrame(nil, []byte{0xff, 0x03, 0xc0, 0x21, 0x01, 0x01, 0x00, 0x0a, 0x05, 0x06, 0x12, 0x34, 0x56, 0x78})); err != nil {
		t.Fatal(err)
	}
	select {
	case <-gotLCP:
		t.Logf("LCP Configure-Request from slirp after %v", time.Since(start))
	case <-time.After(10 * time.Second):
		t.Fatalf("no LCP Configure-Request from slirp in 10 s (exited: %v)", s.Exited())
	}
	// The redirection listens inside the namespace only.
	if _, err := ns.Run("bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/18080"); err != nil {
		t.Errorf("slirp redir port not listening in the namespace: %v", err)
	}
}

func TestFile(t *testing.T) {
	a, b, err := SocketPair()
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	defer b.Close()
	f, err := File(a)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write([]byte("via fd")); err != nil {
		t.Fatal(err)
	}
	f.Close()
	buf := make([]byte, 6)
	if _, err := io.ReadFull(b, buf); err != nil || string(buf) != "via fd" {
		t.Fatalf("%q %v", buf, err)
	}
}
