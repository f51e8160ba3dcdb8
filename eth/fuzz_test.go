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
	f.Fuzz(func(t *testing.T, b []byte) {
		if fr, err := Parse(b); err == nil {
			_ = fr.Dst()
			_ = fr.Src()
			if a, err := ParseARP(fr.Payload()); err == nil {
				_, _, _, _ = a.SenderMAC(), a.SenderIP(), a.TargetMAC(), a.TargetIP()
			}
		}
		l := New(Config{MAC: cardMAC, ARPEntries: 2, Deliver: func([]byte, time.Time) {}})
		l.SetAddr(cardIP, mask24, [4]byte{}, t0)
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
	})
}
