package mdns

import (
	"testing"
	"time"

	"netcard/dns"
)

// FuzzResponder: any message, from port 5353 or a legacy port, while
// probing or running, never panics; everything the responder then sends
// is a valid DNS message.
func FuzzResponder(f *testing.F) {
	f.Add(query(0, [][2]any{{"netcard.local", dns.TypeA}}), uint16(Port))
	f.Add(query(7, [][2]any{{"_https._tcp.local", typePTR}}, [2]string{"_https._tcp.local", "netcard._https._tcp.local"}), uint16(40000))
	f.Add(query(0, [][2]any{{"netcard._https._tcp.local", typeANY}, {"netcard.local", dns.TypeAAAA}}), uint16(Port))
	f.Add(aResponse("netcard.local", [4]byte{10, 0, 3, 7}), uint16(Port))
	f.Fuzz(func(t *testing.T, msg []byte, sport uint16) {
		for _, running := range []bool{false, true} {
			r, _ := New(Config{})
			if running {
				run(t, r, cardA)
			} else {
				r.SetAddr(cardA, t0)
			}
			now := t0.Add(time.Minute)
			r.Input(hostIP, sport, msg, now)
			for i := 0; i < 8; i++ {
				b := make([]byte, 1500)
				n, _, _ := r.Output(b, now.Add(time.Second))
				if n == 0 {
					break
				}
				if _, err := dns.Validate(b[:n]); err != nil {
					t.Fatalf("sent an invalid message: %v", err)
				}
			}
			// The same over IPv6, with two AAAA records.
			r.SetAddr6(cardLL6, cardG6, now)
			r.Input6(hostLL6, sport, msg, now)
			for i := 0; i < 8; i++ {
				b := make([]byte, 1500)
				n, _ := r.Next(b, now.Add(2*time.Second))
				if n == 0 {
					break
				}
				if _, err := dns.Validate(b[:n]); err != nil {
					t.Fatalf("sent an invalid message over IPv6: %v", err)
				}
			}
		}
	})
}

var (
	cardLL6 = [16]byte{0: 0xfe, 1: 0x80, 15: 1}
	cardG6  = [16]byte{0: 0x20, 1: 0x01, 2: 0x0d, 3: 0xb8, 15: 1}
	hostLL6 = [16]byte{0: 0xfe, 1: 0x80, 15: 2}
)
