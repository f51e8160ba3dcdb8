package link

import (
	"bytes"
	"encoding/binary"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// ipv4ICMPEcho builds an IPv4 ICMP echo (request if typ 8, reply if 0)
// with correct header and ICMP checksums.
func ipv4ICMPEcho(typ byte, src, dst [4]byte, id, seq uint16, payload []byte) []byte {
	p := make([]byte, 20+8+len(payload))
	p[0] = 0x45
	binary.BigEndian.PutUint16(p[2:], uint16(len(p)))
	binary.BigEndian.PutUint16(p[4:], 0x1234) // identification
	binary.BigEndian.PutUint16(p[6:], 0x4000) // DF
	p[8] = 64                                 // TTL
	p[9] = 1                                  // ICMP
	copy(p[12:], src[:])
	copy(p[16:], dst[:])
	binary.BigEndian.PutUint16(p[10:], checksum(p[:20]))
	icmp := p[20:]
	icmp[0] = typ
	binary.BigEndian.PutUint16(icmp[4:], id)
	binary.BigEndian.PutUint16(icmp[6:], seq)
	copy(icmp[8:], payload)
	binary.BigEndian.PutUint16(icmp[2:], checksum(icmp))
	return p
}

// cp builds a PPP control-protocol frame (LCP, IPCP) with FF 03.
func cp(proto uint16, code, id byte, data []byte) []byte {
	f := []byte{0xFF, 0x03, byte(proto >> 8), byte(proto), code, id, 0, 0}
	binary.BigEndian.PutUint16(f[6:], uint16(4+len(data)))
	return append(f, data...)
}

// samplePPP is a plausible link start-up and ping, as (sent, frame).
func samplePPP() []struct {
	sent  bool
	frame []byte
} {
	lcpOpts := []byte{
		1, 4, 0x05, 0xDC, // MRU 1500
		2, 6, 0, 0, 0, 0, // ACCM 0
		5, 6, 0x12, 0x34, 0x56, 0x78, // Magic-Number
		7, 2, // PFC
		8, 2, // ACFC
	}
	peerLCP := []byte{1, 4, 0x05, 0xDC, 2, 6, 0, 0, 0, 0, 3, 5, 0xC2, 0x23, 0x05, 5, 6, 0x9A, 0xBC, 0xDE, 0xF0}
	card := [4]byte{10, 0, 2, 15}
	host := [4]byte{10, 0, 2, 2}
	payload := []byte("netcard ping 0123456789abcdefghij")
	return []struct {
		sent  bool
		frame []byte
	}{
		{true, cp(0xC021, 1, 1, lcpOpts)},  // LCP Configure-Request
		{false, cp(0xC021, 1, 7, peerLCP)}, // peer's Configure-Request (CHAP-MD5)
		{true, cp(0xC021, 2, 7, peerLCP)},  // Configure-Ack
		{false, cp(0xC021, 2, 1, lcpOpts)}, // Configure-Ack
		{true, cp(0x8021, 1, 1, []byte{3, 6, 0, 0, 0, 0, 129, 6, 0, 0, 0, 0, 131, 6, 0, 0, 0, 0})},      // IPCP Configure-Request
		{false, cp(0x8021, 3, 1, []byte{3, 6, 10, 0, 2, 15, 129, 6, 10, 0, 2, 3, 131, 6, 10, 0, 2, 3})}, // IPCP Configure-Nak
		{false, cp(0x8021, 1, 2, []byte{3, 6, 10, 0, 2, 2})},                                            // host's IPCP Configure-Request
		{true, cp(0x8021, 2, 2, []byte{3, 6, 10, 0, 2, 2})},                                             // Configure-Ack
		{true, cp(0xC021, 9, 3, []byte{0x12, 0x34, 0x56, 0x78})},                                        // LCP Echo-Request
		{false, cp(0xC021, 10, 3, []byte{0x9A, 0xBC, 0xDE, 0xF0})},                                      // LCP Echo-Reply
		{true, append([]byte{0xFF, 0x03, 0x00, 0x21}, ipv4ICMPEcho(8, card, host, 0x4e43, 1, payload)...)},
		{false, append([]byte{0x00, 0x21}, ipv4ICMPEcho(0, host, card, 0x4e43, 1, payload)...)}, // ACFC
		{true, append([]byte{0x21}, ipv4ICMPEcho(8, card, host, 0x4e43, 2, payload)...)},        // ACFC+PFC
	}
}

func TestPcapFormat(t *testing.T) {
	var buf bytes.Buffer
	w, err := NewPcap(&buf)
	if err != nil {
		t.Fatal(err)
	}
	ts := time.Unix(1700000000, 123456789)
	if err := w.WriteFrame(true, ts, []byte{0xFF, 0x03, 0xC0, 0x21}); err != nil {
		t.Fatal(err)
	}
	b := buf.Bytes()
	if len(b) != 24+16+5 {
		t.Fatalf("len %d", len(b))
	}
	le := binary.LittleEndian
	if le.Uint32(b) != 0xa1b2c3d4 || le.Uint16(b[4:]) != 2 || le.Uint16(b[6:]) != 4 || le.Uint32(b[20:]) != 204 {
		t.Fatalf("bad global header % x", b[:24])
	}
	r := b[24:]
	if le.Uint32(r) != 1700000000 || le.Uint32(r[4:]) != 123456 || le.Uint32(r[8:]) != 5 || le.Uint32(r[12:]) != 5 {
		t.Fatalf("bad record header % x", r[:16])
	}
	if !bytes.Equal(r[16:], []byte{1, 0xFF, 0x03, 0xC0, 0x21}) {
		t.Fatalf("bad record % x", r[16:])
	}
}

func TestPcapTap(t *testing.T) {
	var buf bytes.Buffer
	w, err := NewPcap(&buf)
	if err != nil {
		t.Fatal(err)
	}
	tap := w.Tap()
	before := time.Now().Unix()
	tap(false, []byte{0xC0, 0x21, 1, 1, 0, 4})
	if w.Err() != nil || buf.Len() != 24+16+7 {
		t.Fatalf("Tap wrote %d bytes, err %v", buf.Len(), w.Err())
	}
	rec := buf.Bytes()[24:]
	if sec := int64(binary.LittleEndian.Uint32(rec)); sec < before || sec > before+5 || rec[16] != 0 {
		t.Fatalf("record % x", rec)
	}

	fw := &failWriter{}
	w, err = NewPcap(fw)
	if err != nil {
		t.Fatal(err)
	}
	fw.fail = true
	tap = w.Tap()
	tap(true, []byte{1})
	tap(true, []byte{2})
	if w.Err() == nil || fw.calls != 2 { // one failed header write, then nothing
		t.Fatalf("Err %v after %d writes", w.Err(), fw.calls)
	}
}

type failWriter struct {
	fail  bool
	calls int
}

func (f *failWriter) Write(p []byte) (int, error) {
	f.calls++
	if f.fail {
		return 0, io.ErrShortWrite
	}
	return len(p), nil
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

func TestPcapNoAllocs(t *testing.T) {
	w, err := NewPcap(discard{})
	if err != nil {
		t.Fatal(err)
	}
	frame := samplePPP()[10].frame
	ts := time.Unix(1700000000, 0)
	allocs := testing.AllocsPerRun(1000, func() {
		if err := w.WriteFrame(true, ts, frame); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Fatalf("WriteFrame allocates %.1f times per frame", allocs)
	}
}

// TestPcapTshark writes a capture of a PPP start-up and a ping and has
// tshark decode it: every frame must dissect with no malformed packet and
// no warning or error expert info (IP checksum validation turned on).
func TestPcapTshark(t *testing.T) {
	tshark, err := exec.LookPath("tshark")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("tshark not found: install it (apt-get install -y tshark); CI must run this test")
		}
		t.Skip("tshark not installed")
	}
	path := filepath.Join(t.TempDir(), "ppp.pcap")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w, err := NewPcap(f)
	if err != nil {
		t.Fatal(err)
	}
	ts := time.Unix(1700000000, 0)
	frames := samplePPP()
	for i, fr := range frames {
		if err := w.WriteFrame(fr.sent, ts.Add(time.Duration(i)*time.Millisecond), fr.frame); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(tshark, "-n", "-r", path, "-V", "-o", "ip.check_checksum:TRUE")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("tshark: %v\n%s", err, out)
	}
	text := string(out)
	for _, bad := range []string{"Malformed", "Expert Info (Warning", "Expert Info (Error", "[Checksum Status: Bad]"} {
		if strings.Contains(text, bad) {
			t.Errorf("tshark output contains %q:\n%s", bad, text)
		}
	}
	for _, want := range []string{
		"Frame 13:",
		"PPP Link Control Protocol",
		"Configuration Request",
		"Magic Number: 0x12345678",
		"Address and Control Field Compression",
		"PPP IP Control Protocol",
		"Primary DNS Address: 10.0.2.3",
		"Internet Control Message Protocol",
		"Echo (ping) request",
		"Echo (ping) reply",
		"[Checksum Status: Good]",
		"[Header checksum status: Good]",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("tshark output lacks %q", want)
		}
	}
	if n := strings.Count(text, "Type: 8 (Echo (ping) request)"); n != 2 {
		t.Errorf("tshark decoded %d echo requests, want 2 (one with compressed address/control and protocol)", n)
	}
	if t.Failed() {
		t.Logf("tshark output:\n%s", text)
	}
	// The direction byte must come through (Wireshark: 0 = sent, 1 = received).
	sum, err := exec.Command(tshark, "-n", "-r", path, "-T", "fields", "-e", "frame.p2p_dir").Output()
	if err != nil {
		t.Fatalf("tshark fields: %v", err)
	}
	dirs := strings.Fields(string(sum))
	if len(dirs) != len(frames) {
		t.Fatalf("tshark dirs %q", dirs)
	}
	for i, d := range dirs {
		want := "0"
		if !frames[i].sent {
			want = "1"
		}
		if d != want {
			t.Errorf("frame %d: p2p_dir %s, want %s", i+1, d, want)
		}
	}
}

func BenchmarkPcapWriteFrame(b *testing.B) {
	w, err := NewPcap(discard{})
	if err != nil {
		b.Fatal(err)
	}
	frame := samplePPP()[10].frame
	ts := time.Unix(1700000000, 0)
	b.SetBytes(int64(len(frame)))
	b.ReportAllocs()
	for b.Loop() {
		w.WriteFrame(true, ts, frame)
	}
}
