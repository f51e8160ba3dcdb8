package ipv4

import (
	"bytes"
	"math/rand"
	"testing"
	"time"
	"unsafe"

	"gvisor.dev/gvisor/pkg/tcpip/header"
)

// TestShedIdle: a new host has lent nothing; after a fragmented datagram,
// an echo reply and an ICMP error, an idle host sheds every buffer
// (Footprint: the hard bound) and a second Shed releases nothing.
func TestShedIdle(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Config
		want int
	}{
		{"card", cardConfig(), 2*96 + 1500 + 24},
		{"tiny", tinyConfig(), 2*96 + 556 + 9},
		{"own echo", Config{MTU: 1500, ReassemblySlots: 1, ReassemblyBytes: 556, ICMPErrorSlots: 1}, 1500 + 96 + 556 + 9},
	} {
		h := newHost(t, tc.cfg)
		if h.Lent() != 0 || h.Shed() != 0 {
			t.Fatalf("%s: a new host lent %d", tc.name, h.Lent())
		}
		u := &fakeT{accept: false}
		h.Register(ProtoUDP, u)
		p := datagram(500)
		h.Input(frag(1, p, 0, 248, ProtoUDP), t0)
		h.Input(frag(1, p, 248, 252, ProtoUDP), t0) // refused: port unreachable queued
		h.Input(gvPacket(peerIP, cardIP, 1, 2, 0, 0, gvEcho(1, 1, make([]byte, 100))), t0)
		for len(output(h, t0)) > 0 {
		}
		if st := h.Stats(); st.ICMPErrorsOut != 1 || st.ICMPEchoOut != 1 || st.FragReassembled != 1 {
			t.Fatalf("%s: %+v", tc.name, st)
		}
		if h.Lent() != tc.want || h.Footprint() != tc.want {
			t.Fatalf("%s: lent %d, footprint %d, want %d", tc.name, h.Lent(), h.Footprint(), tc.want)
		}
		if n := h.Shed(); n != tc.want {
			t.Fatalf("%s: Shed released %d, want %d", tc.name, n, tc.want)
		}
		if n := h.Shed(); n != 0 || h.Lent() != 0 {
			t.Fatalf("%s: second Shed released %d", tc.name, n)
		}
		t.Logf("%s: Shed releases %d bytes", tc.name, tc.want)
	}
}

// TestShedKeepsData: Shed keeps the reassembly arena while a datagram is
// partly reassembled, the error slots while an error is queued, and the
// echo buffer while a reply (or a fragment of it) is going out; each then
// completes.
func TestShedKeepsData(t *testing.T) {
	h := newHost(t, Config{MTU: 576, ReassemblySlots: 1, ReassemblyBytes: 556, ICMPRatePerSec: -1})
	u := &fakeT{accept: true}
	h.Register(ProtoUDP, u)
	p := datagram(500)
	h.Input(frag(1, p, 0, 248, ProtoUDP), t0)
	if n := h.Shed(); n != 0 {
		t.Fatalf("Shed during a reassembly released %d", n)
	}
	h.Input(frag(1, p, 248, 252, ProtoUDP), t0)
	if len(u.got) != 1 || !bytes.Equal(u.got[0], p) {
		t.Fatal("datagram lost to Shed")
	}
	if n := h.Shed(); n != 556+9 {
		t.Fatalf("Shed after the reassembly released %d", n)
	}
	// A queued error keeps the error slots.
	h.Input(gvPacket(peerIP, cardIP, 99, 3, 0, 0, make([]byte, 40)), t0) // protocol unreachable
	if n := h.Shed(); n != 0 {
		t.Fatalf("Shed with an error queued released %d", n)
	}
	if rep := output(h, t0); len(rep) == 0 || rep[20] != 3 || rep[21] != 2 {
		t.Fatalf("error lost: %x", rep)
	}
	// An echo reply larger than the MTU goes out in fragments: its
	// buffer (behind the error slots: the slot is smaller than the MTU)
	// stays until the last one.
	e := gvEcho(5, 6, make([]byte, 1000))
	big := gvPacket(peerIP, cardIP, 1, 4, 0, 0, e)
	h2 := newHost(t, Config{MTU: 1500, ReassemblySlots: 1, ReassemblyBytes: 556, ICMPRatePerSec: -1})
	h2.Input(big, t0)
	h2.SetMTU(576)
	var got []byte
	for {
		if h2.Stats().ICMPEchoOut == 0 {
			if n := h2.Shed(); n != 0 {
				t.Fatalf("Shed with a reply going out released %d", n)
			}
		}
		rep := output(h2, t0)
		if len(rep) == 0 {
			break
		}
		got = append(got, header.IPv4(rep).Payload()...)
	}
	if h2.Stats().ICMPEchoFrags != 2 {
		t.Fatalf("reply not fragmented: %+v", h2.Stats())
	}
	if len(got) != len(e) || got[0] != 0 || Checksum(got, 0) != 0 {
		t.Fatalf("fragmented reply: %d bytes", len(got))
	}
	if n := h2.Shed(); n != 2*96+1500 {
		t.Fatalf("Shed after the reply released %d", n)
	}
}

// shedRun feeds a seeded mix of packets built with gVisor's header code —
// pings whole, fragmented and too big, datagrams in fragments in random
// order (some overlapping, some never completed), datagrams to closed
// ports and unknown protocols — and collects everything the host sends.
// With shed, the host is shed between every call.
func shedRun(t *testing.T, cfg Config, seed int64, shed bool) ([]byte, Stats, int) {
	h := newHost(t, cfg)
	u := &fakeT{accept: true, ports: map[uint16]bool{53: true}}
	ft := &filterT{fakeT: *u}
	h.Register(ProtoUDP, ft)
	rng := rand.New(rand.NewSource(seed))
	var out []byte
	shedBytes := 0
	sh := func() {
		if shed {
			shedBytes += h.Shed()
		}
	}
	now := t0
	for round := 0; round < 600; round++ {
		sh()
		switch rng.Intn(6) {
		case 0: // ping
			data := make([]byte, rng.Intn(1600))
			rng.Read(data)
			h.Input(gvPacket(peerIP, cardIP, 1, uint16(round), 0, 0, gvEcho(1, uint16(round), data)), now)
		case 1, 2: // a fragmented datagram (UDP or ICMP echo), pieces shuffled, some lost
			var p []byte
			proto := uint8(ProtoUDP)
			if rng.Intn(2) == 0 {
				data := make([]byte, rng.Intn(1400))
				rng.Read(data)
				p, proto = gvEcho(2, uint16(round), data), 1
			} else {
				p = datagram(8 + rng.Intn(1400))
				if rng.Intn(3) == 0 {
					p[2], p[3] = 0, 99 // a closed port
				}
			}
			step := 8 * (1 + rng.Intn(60))
			var offs []int
			for off := 0; off < len(p); off += step {
				offs = append(offs, off)
			}
			rng.Shuffle(len(offs), func(i, j int) { offs[i], offs[j] = offs[j], offs[i] })
			for _, off := range offs {
				if rng.Intn(15) == 0 {
					continue // lost: the datagram times out
				}
				n := min(step, len(p)-off)
				if rng.Intn(20) == 0 {
					n = min(n+8, len(p)-off) // overlaps the next piece
				}
				h.Input(frag(uint16(round), p, off, n, proto), now)
				sh()
			}
		case 3: // unknown protocol, or a closed port
			if rng.Intn(2) == 0 {
				h.Input(gvPacket(peerIP, cardIP, 200, uint16(round), 0, 0, make([]byte, 30)), now)
			} else {
				d := datagram(20 + rng.Intn(200))
				d[2], d[3] = 0, 7
				h.Input(gvPacket(peerIP, cardIP, ProtoUDP, uint16(round), 0, 0, d), now)
			}
		case 4:
			now = now.Add(time.Duration(rng.Intn(20)) * time.Second)
			h.Poll(now)
		default:
			h.SetMTU(68 + rng.Intn(1500))
		}
		for k := rng.Intn(3); k > 0; k-- {
			sh()
			rep := output(h, now)
			out = append(out, byte(len(rep)>>8), byte(len(rep)))
			out = append(out, rep...)
		}
	}
	for {
		sh()
		rep := output(h, now)
		if len(rep) == 0 {
			break
		}
		out = append(out, rep...)
	}
	return out, h.Stats(), shedBytes
}

// TestShedByteIdentical: the same seeded traffic gives byte-identical
// output and counters whether or not the host is shed between every call,
// for the Card and Tiny profiles and a host with its own echo buffer.
func TestShedByteIdentical(t *testing.T) {
	for _, cfg := range []Config{cardConfig(), tinyConfig(), {ReassemblySlots: 2, ReassemblyBytes: 1024, ICMPRatePerSec: 50, ICMPBurst: 4}} {
		for seed := int64(1); seed <= 3; seed++ {
			o0, s0, _ := shedRun(t, cfg, seed, false)
			o1, s1, shed := shedRun(t, cfg, seed, true)
			if !bytes.Equal(o0, o1) || s0 != s1 {
				t.Fatalf("MTU %d seed %d: output differs (%d vs %d bytes)\n%+v\n%+v", cfg.MTU, seed, len(o0), len(o1), s0, s1)
			}
			if shed == 0 || s0.FragReassembled == 0 || s0.ICMPEchoOut == 0 || s0.ICMPErrorsOut == 0 {
				t.Fatalf("MTU %d seed %d: too little happened: shed %d, %+v", cfg.MTU, seed, shed, s0)
			}
		}
	}
}

// TestShedAllocsPerBurst: the steady state allocates nothing per echo;
// after a Shed the next echo lends the echo buffer (the reassembly arena
// in the Card profile): one allocation.
func TestShedAllocsPerBurst(t *testing.T) {
	h := newHost(t, Config{MTU: 1500, ReassemblySlots: 1, ReassemblyBytes: 1500, ICMPRatePerSec: -1})
	req := gvPacket(peerIP, cardIP, 1, 1, 0, 0, gvEcho(1, 1, make([]byte, 56)))
	buf := make([]byte, 1500)
	in := make([]byte, len(req))
	echo := func() {
		copy(in, req)
		h.Input(in, t0)
		if h.Output(buf, t0) != len(req) {
			panic("no reply")
		}
	}
	if a := testing.AllocsPerRun(100, echo); a != 0 {
		t.Fatalf("steady state: %v allocations per echo", a)
	}
	if a := testing.AllocsPerRun(100, func() { h.Shed(); echo() }); a != 1 {
		t.Fatalf("after Shed: %v allocations per echo, want 1", a)
	}
	if a := testing.AllocsPerRun(100, func() { h.Shed() }); a != 0 {
		t.Fatalf("Shed allocates: %v", a)
	}
}

// TestTwoTransports: a Host keeps two transports (TCP and UDP, 16 bytes of
// interface each; the Host fits 320 bytes, not 352). A third protocol's
// Register is ignored: its transport sees nothing and its packets get
// protocol unreachable (RFC 1122 §3.2.2.1); registering a protocol again
// replaces it.
func TestTwoTransports(t *testing.T) {
	if n := unsafe.Sizeof(Host{}); n > 320 {
		t.Fatalf("Host is %d bytes, want ≤ 320", n)
	}
	h := newHost(t, Config{MTU: 576, ICMPRatePerSec: -1})
	u1, u2, tc, gre := &fakeT{accept: true}, &fakeT{accept: true}, &fakeT{accept: true}, &fakeT{accept: true}
	h.Register(ProtoUDP, u1)
	h.Register(ProtoTCP, tc)
	h.Register(47, gre)
	h.Input(gvPacket(peerIP, cardIP, 47, 3, 0, 0, make([]byte, 40)), t0)
	if len(gre.got) != 0 {
		t.Fatal("a third transport got a packet")
	}
	if rep := output(h, t0); len(rep) == 0 || rep[20] != 3 || rep[21] != 2 {
		t.Fatalf("no protocol unreachable for the third protocol: %x", rep)
	}
	h.Register(ProtoUDP, u2)
	h.Input(gvPacket(peerIP, cardIP, ProtoUDP, 3, 0, 0, datagram(20)), t0)
	if len(u1.got) != 0 || len(u2.got) != 1 {
		t.Fatalf("re-registered UDP: old got %d, new got %d", len(u1.got), len(u2.got))
	}
	if h.ntrans != 2 {
		t.Fatalf("%d transports", h.ntrans)
	}
}

// TestReasmSlotSize: a reassembly slot keeps its deadline in Unix
// nanoseconds, 64 bytes a slot, not 80; the deadline still expires the
// datagram at exactly ReassemblyTimeout (time exceeded, RFC 792 code 1),
// and Poll reports it until then.
func TestReasmSlotSize(t *testing.T) {
	if n := unsafe.Sizeof(reasmSlot{}); n > 64 {
		t.Fatalf("reasmSlot is %d bytes, want ≤ 64", n)
	}
	h := newHost(t, Config{MTU: 576, ReassemblySlots: 1, ReassemblyBytes: 556, ReassemblyTimeout: 7 * time.Second, ICMPRatePerSec: -1})
	u := &fakeT{accept: true}
	h.Register(ProtoUDP, u)
	p := datagram(500)
	h.Input(frag(1, p, 0, 248, ProtoUDP), t0)
	if next := h.Poll(t0.Add(7*time.Second - 1)); !next.Equal(t0.Add(7 * time.Second)) {
		t.Fatalf("Poll: next %v, want the deadline %v", next, t0.Add(7*time.Second))
	}
	if h.slots[0].state != slotActive {
		t.Fatal("expired before its deadline")
	}
	h.Poll(t0.Add(7 * time.Second))
	if h.slots[0].state != slotFree {
		t.Fatal("not expired at its deadline")
	}
	if rep := output(h, t0.Add(7*time.Second)); len(rep) == 0 || rep[20] != 11 || rep[21] != 1 {
		t.Fatalf("no time exceeded: %x", rep)
	}
}
