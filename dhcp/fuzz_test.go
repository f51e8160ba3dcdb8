package dhcp

import (
	"testing"
	"time"
)

// FuzzMessage: any bytes give a Message or an error, and the server and
// client machines take them without panicking; what they send parses.
func FuzzMessage(f *testing.F) {
	f.Add(msg(Discover, macA, 1, 0, noAddr))
	f.Add(msg(Request, macA, 2, FlagBroadcast, noAddr, OptServerID, srvIP, OptRequestedIP, cliIP))
	f.Add(msg(Request, macA, 3, 0, cliIP))
	f.Add(msg(Release, macA, 4, 0, cliIP, OptServerID, srvIP))
	f.Add(msg(Inform, macA, 5, 0, cliIP))
	f.Add(msg(Offer, macA, 6, 0, noAddr, OptServerID, srvIP, OptSubnetMask, mask, OptRouter, srvIP))
	f.Fuzz(func(t *testing.T, b []byte) {
		if m, err := Parse(b); err == nil {
			for c := 0; c < 256; c++ {
				m.Option(uint8(c))
			}
			_, _ = m.Seconds(OptLeaseTime)
		}
		s := newSrv()
		s.Input(b, t0)
		buf := make([]byte, MaxMessage)
		if r := s.Output(buf, t0); r.N > 0 {
			if _, err := Parse(buf[:r.N]); err != nil {
				t.Fatalf("server sent an invalid message: %v", err)
			}
		}
		fuzzClient(t, b)
	})
}

var _ = time.Second
