package eth

import (
	"testing"
	"time"
)

// FuzzFrame feeds arbitrary bytes to the frame and ARP parsers and to a
// link's stream input: never a panic, and the link keeps answering.
func FuzzFrame(f *testing.F) {
	f.Add(stream(arpFrame(ARPRequest, Broadcast, hostMAC, hostIP, MAC{}, cardIP)))
	f.Add(stream(arpFrame(ARPReply, cardMAC, hostMAC, hostIP, cardMAC, cardIP)))
	f.Add([]byte{0x00, 0x0e, 2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2, 0x08, 0x00})
	f.Add([]byte{0xff, 0xff, 0})
	f.Add(stream(ipv6Frame()))
	f.Fuzz(func(t *testing.T, b []byte) {
		if fr, err := Parse(b); err == nil {
			_ = fr.Dst()
			_ = fr.Src()
			if a, err := ParseARP(fr.Payload()); err == nil {
				_, _, _, _ = a.SenderMAC(), a.SenderIP(), a.TargetMAC(), a.TargetIP()
			}
		}
		l := New(Config{MAC: cardMAC, ARPEntries: 2, Deliver: func([]byte, time.Time) {},
			Deliver6: func([]byte, time.Time) {}, ND: &fakeND{}, Pull: echoPull(b)})
		l.SetAddr(cardIP, mask24, [4]byte{}, t0)
		l.Join(MAC{0x33, 0x33, 0, 0, 0, 1})
		l.Input(b, t0)
		l.InputFrame(b, t0)
		buf := make([]byte, 2+HeaderLen+1500)
		for i := 0; i < 16 && l.Output(buf, t0) > 0; i++ {
		}
		// After any input, a frame stream resynchronised by a fresh link
		// still gets an ARP reply.
		l2 := New(Config{MAC: cardMAC})
		l2.SetAddr(cardIP, mask24, [4]byte{}, t0)
		l2.Input(b, t0)
		// The stream in pieces, shed between every piece.
		l3 := New(Config{MAC: cardMAC, ARPEntries: 2, Deliver: func([]byte, time.Time) {},
			Deliver6: func([]byte, time.Time) {}, ND: &fakeND{}, Pull: echoPull(b)})
		l3.SetAddr(cardIP, mask24, [4]byte{}, t0)
		for in := b; len(in) > 0; {
			k := min(1+int(in[0]%32), len(in))
			l3.Input(in[:k], t0)
			in = in[k:]
			l3.Shed()
			l3.Output(buf, t0)
			l3.Shed()
		}
	})
}

// ipv6Frame is an IPv6 packet (an empty ICMPv6 message) to all-nodes.
func ipv6Frame() []byte {
	f := make([]byte, HeaderLen+48)
	PutHeader(f, MAC{0x33, 0x33, 0, 0, 0, 1}, hostMAC, TypeIPv6)
	p := f[HeaderLen:]
	p[0], p[5], p[6], p[7] = 0x60, 8, 58, 255
	p[24], p[25], p[39] = 0xff, 2, 1
	return f
}

// fakeND resolves every other packet; the rest wait.
type fakeND struct{ n int }

func (nd *fakeND) Resolve(pkt []byte, now time.Time) ([6]byte, bool) {
	nd.n++
	return [6]byte{2, 0, 0, 0, 0, 9}, nd.n%2 == 0
}

func (nd *fakeND) Lookup(pkt []byte, now time.Time) ([6]byte, bool, bool) {
	return [6]byte{2, 0, 0, 0, 0, 9}, nd.n%3 == 0, nd.n%5 != 0
}

// echoPull sends b back as a packet, a few times.
func echoPull(b []byte) func([]byte, time.Time) int {
	k := 0
	return func(dst []byte, now time.Time) int {
		if k++; k > 4 {
			return 0
		}
		return copy(dst, b)
	}
}
