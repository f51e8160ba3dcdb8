package tcp

import (
	"testing"
	"time"

	"netcard/ipv4"
)

// TestDialUnspecifiedLocal: a connection dialled before the link had an
// address (local 0.0.0.0) takes the address its SYN leaves from, so the
// SYN-ACK finds it instead of drawing a RST.
func TestDialUnspecifiedLocal(t *testing.T) {
	a, b := NewStack(testConfig(1)), NewStack(testConfig(2))
	if _, err := b.Listen(80, 1); err != nil {
		t.Fatal(err)
	}
	now := time.Unix(1_700_000_000, 0)
	c, err := a.Dial(ipv4.Addr{}, addrB, 80, now)
	if err != nil {
		t.Fatal(err)
	}
	var buf [1500]byte
	for i := 0; i < 8; i++ {
		for {
			n, _ := a.Output(buf[:], addrA, now)
			if n == 0 {
				break
			}
			b.Input(addrA, addrB, buf[:n], now)
		}
		for {
			n, _ := b.Output(buf[:], addrB, now)
			if n == 0 {
				break
			}
			a.Input(addrB, addrA, buf[:n], now)
		}
	}
	if c.State() != Established {
		t.Fatalf("state %v, RSTs out %d", c.State(), a.Stats().RSTsOut)
	}
	if l, _ := c.Local(); l != m4(addrA) {
		t.Fatalf("local address %v, want %v", l, addrA)
	}
}
