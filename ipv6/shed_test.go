package ipv6

import (
	"bytes"
	"math/rand"
	"testing"
	"time"
)

// cardIPv6 is the card's IPv6 configuration (card/ipv6.go): one
// 1,500-byte reassembly slot that is also the echo buffer.
func cardIPv6(mtu int) Config {
	return Config{MTU: mtu, ReassemblySlots: 1, ReassemblyBytes: 1500}
}

// exercise makes h lend every buffer: a fragmented echo request, a
// Neighbor Solicitation and a datagram for an unknown protocol (Parameter
// Problem), all answered and drained.
func exercise(t *testing.T, h *Host) {
	data := make([]byte, 1200)
	m := icmp(peer, card, TypeEchoRequest, 0, append([]byte{0, 1, 0, 1}, data...))
	h.Input(frag(peer, card, 9, 0, true, m[:800]), t0)
	h.Input(frag(peer, card, 9, 800, false, m[800:]), t0)
	h.Input(ns(peer, SolicitedNode(card), card, 255), t0)
	h.Input(pkt(peer, card, 200, 64, make([]byte, 16)), t0)
	var types []uint8
	for p := out(t, h); p != nil; p = out(t, h) {
		_, m := checkICMP(t, p)
		types = append(types, m[0])
	}
	if !bytes.Equal(types, []uint8{TypeNeighborAdv, TypeParamProblem, TypeEchoReply}) {
		t.Fatalf("sent %v", types)
	}
}

// TestShedIdle: a new host has lent nothing; an idle host that has used
// every buffer sheds them all (Footprint, the hard bound), then nothing.
func TestShedIdle(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Config
		want int
	}{
		{"card", cardIPv6(1500), 1504 + 24 + 2*errMax + ctlMax},
		{"tiny", cardIPv6(1280), 1504 + 24 + 2*errMax + ctlMax},
		{"own echo", Config{MTU: 1500, ReassemblySlots: 1, ReassemblyBytes: 1280}, 1280 + 20 + 2*errMax + ctlMax + 1500},
	} {
		h := newTestHost(tc.cfg)
		h.SetLinkLayer([6]byte{2, 0, 0, 0, 0, 1})
		if h.Lent() != 0 || h.Shed() != 0 {
			t.Fatalf("%s: a new host lent %d", tc.name, h.Lent())
		}
		exercise(t, h)
		if h.Lent() != tc.want || h.Footprint() != tc.want || Footprint(tc.cfg) != tc.want {
			t.Fatalf("%s: lent %d, footprint %d, want %d", tc.name, h.Lent(), h.Footprint(), tc.want)
		}
		if n := h.Shed(); n != tc.want {
			t.Fatalf("%s: Shed released %d, want %d", tc.name, n, tc.want)
		}
		if n := h.Shed(); n != 0 || h.Lent() != 0 {
			t.Fatalf("%s: second Shed released %d", tc.name, n)
		}
		t.Logf("%s: Shed releases %d bytes", tc.name, tc.want)
		exercise(t, h) // works again after Shed
	}
}

// TestShedKeepsData: a partial reassembly, a queued ND message, a queued
// error and a queued echo reply keep their buffers through Shed, and each
// goes out or completes.
func TestShedKeepsData(t *testing.T) {
	h := newTestHost(Config{MTU: 1500, ReassemblySlots: 1, ReassemblyBytes: 1280, ICMPRatePerSec: -1})
	h.SetLinkLayer([6]byte{2, 0, 0, 0, 0, 1})
	data := make([]byte, 1000)
	for i := range data {
		data[i] = byte(i * 3)
	}
	m := icmp(peer, card, TypeEchoRequest, 0, append([]byte{0, 1, 0, 2}, data...))
	h.Input(frag(peer, card, 5, 0, true, m[:504]), t0)
	if n := h.Shed(); n != 0 {
		t.Fatalf("Shed during a reassembly released %d", n)
	}
	h.Input(frag(peer, card, 5, 504, false, m[504:]), t0)
	// The reassembled request's reply is queued in the echo buffer.
	if n := h.Shed(); n != 1280+20 {
		t.Fatalf("Shed with a reply queued released %d (the arena only: %d)", n, 1280+20)
	}
	h.Input(ns(peer, SolicitedNode(card), card, 255), t0)
	h.Input(pkt(peer, card, 200, 64, make([]byte, 16)), t0)
	if n := h.Shed(); n != 0 {
		t.Fatalf("Shed with an ND message, an error and a reply queued released %d", n)
	}
	var types []uint8
	for p := out(t, h); p != nil; p = out(t, h) {
		_, m := checkICMP(t, p)
		types = append(types, m[0])
		if m[0] == TypeEchoReply && !bytes.Equal(m[8:], data) {
			t.Fatal("echo reply data damaged")
		}
	}
	if !bytes.Equal(types, []uint8{TypeNeighborAdv, TypeParamProblem, TypeEchoReply}) {
		t.Fatalf("sent %v", types)
	}
	if n := h.Shed(); n != 1500+2*errMax+ctlMax {
		t.Fatalf("Shed after draining released %d", n)
	}
}

// shedRun6 feeds a seeded mix — echo requests whole, fragmented and too
// big, fragments lost, overlapping or timing out, solicitations, unknown
// next headers, MTU changes — and returns everything sent. With shed, the
// host is shed between every call.
func shedRun6(t *testing.T, cfg Config, seed int64, shed bool) ([]byte, Stats, int) {
	h := newTestHost(cfg)
	h.SetLinkLayer([6]byte{2, 0, 0, 0, 0, 1})
	h.Register(ProtoUDP, sink{})
	rng := rand.New(rand.NewSource(seed))
	var sent []byte
	shedBytes := 0
	sh := func() {
		if shed {
			shedBytes += h.Shed()
		}
	}
	now := t0
	var buf [2048]byte
	drain := func(k int) {
		for ; k > 0; k-- {
			sh()
			n := h.Output(buf[:], now)
			sent = append(sent, byte(n>>8), byte(n))
			sent = append(sent, buf[:n]...)
		}
	}
	for round := 0; round < 500; round++ {
		sh()
		switch rng.Intn(6) {
		case 0:
			data := make([]byte, rng.Intn(1500))
			rng.Read(data)
			h.Input(echoReq(peer, card, 1, uint16(round), data), now)
		case 1, 2:
			data := make([]byte, rng.Intn(1600))
			rng.Read(data)
			m := icmp(peer, card, TypeEchoRequest, 0, append([]byte{0, 2, byte(round >> 8), byte(round)}, data...))
			step := 8 * (1 + rng.Intn(100))
			var offs []int
			for off := 0; off < len(m); off += step {
				offs = append(offs, off)
			}
			rng.Shuffle(len(offs), func(i, j int) { offs[i], offs[j] = offs[j], offs[i] })
			for _, off := range offs {
				if rng.Intn(15) == 0 {
					continue
				}
				n := min(step, len(m)-off)
				if rng.Intn(20) == 0 {
					n = min(n+8, len(m)-off)
				}
				h.Input(frag(peer, card, uint32(round), off, off+n < len(m), m[off:off+n]), now)
				sh()
			}
		case 3:
			if rng.Intn(2) == 0 {
				h.Input(ns(peer, SolicitedNode(card), card, 255), now)
			} else {
				h.Input(pkt(peer, card, 200, 64, make([]byte, rng.Intn(300))), now)
			}
		case 4:
			now = now.Add(time.Duration(rng.Intn(40)) * time.Second)
			h.Poll(now)
		default:
			h.SetMTU(1280 + rng.Intn(300))
		}
		drain(rng.Intn(3))
	}
	drain(8)
	return sent, h.Stats(), shedBytes
}

// TestShedByteIdentical: the same seeded traffic gives byte-identical
// output and counters whether or not the host is shed between every call.
func TestShedByteIdentical(t *testing.T) {
	for _, cfg := range []Config{cardIPv6(1500), cardIPv6(1280), {MTU: 1500, ReassemblySlots: 2, ReassemblyBytes: 2000, ICMPRatePerSec: 50, ICMPBurst: 4}} {
		for seed := int64(1); seed <= 3; seed++ {
			o0, s0, _ := shedRun6(t, cfg, seed, false)
			o1, s1, shed := shedRun6(t, cfg, seed, true)
			if !bytes.Equal(o0, o1) || s0 != s1 {
				t.Fatalf("%+v seed %d: output differs (%d vs %d bytes)\n%+v\n%+v", cfg, seed, len(o0), len(o1), s0, s1)
			}
			if shed == 0 || s0.FragReassembled == 0 || s0.ICMPEchoOut == 0 || s0.ICMPErrorsOut == 0 || s0.ICMPNDOut == 0 {
				t.Fatalf("%+v seed %d: too little happened: shed %d, %+v", cfg, seed, shed, s0)
			}
		}
	}
}

// TestShedAllocsPerBurst: no allocation per echo in the steady state; one
// (the arena that is also the echo buffer) for an echo after a Shed.
func TestShedAllocsPerBurst(t *testing.T) {
	h := newTestHost(Config{MTU: 1500, ReassemblySlots: 1, ReassemblyBytes: 1500, ICMPRatePerSec: -1})
	req := echoReq(peer, card, 1, 1, make([]byte, 56))
	var buf [1500]byte
	echo := func() {
		h.Input(req, t0)
		if h.Output(buf[:], t0) != len(req) {
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
