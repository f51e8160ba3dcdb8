package udp

import (
	"testing"
)

func udpSeeds() [][]byte {
	return [][]byte{
		Append(nil, a1, a2, 1000, 53, []byte("hi")),
		Append(nil, a1, a2, 1000, 53, make([]byte, 70)),
		{0, 1, 0, 53, 0, 8, 0, 0},
		{0, 1, 0, 53, 0, 7, 0, 0},
		{0, 1},
	}
}

func TestWriteCorpus(t *testing.T) { writeCorpus(t, "FuzzUDP", udpSeeds()) }

// FuzzUDP feeds arbitrary transport payloads to the stack (raw, and with a
// repaired checksum) and reads them back: no panic, queue invariants hold.
func FuzzUDP(f *testing.F) {
	for _, s := range udpSeeds() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, d []byte) {
		s := NewStack(Config{MaxSockets: 1, QueueBytes: 64})
		c, _ := s.Bind(53)
		s.Input(a1, a2, d, t0)
		if len(d) >= 8 {
			q := append([]byte(nil), d...)
			q[2], q[3] = 0, 53
			if h, err := Parse(q); err == nil {
				PutHeader(h.Bytes(), a1, a2, h.SrcPort(), 53)
				if !s.Input(a1, a2, q, t0) {
					t.Fatal("bound port refused")
				}
			}
		}
		buf := make([]byte, 100)
		for c.Pending() > 0 {
			if _, _, _, ok := c.RecvFrom(buf); !ok {
				t.Fatal("pending but empty")
			}
		}
		if c.rx.n != 0 {
			t.Fatal("ring not empty")
		}
	})
}
