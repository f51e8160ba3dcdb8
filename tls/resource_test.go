package tls

import (
	"testing"
	"time"
)

// Resource attacks: ClientHellos built to make the server's parsing as expensive as a 16 KiB
// message allows. Each must end the way the RFC says (a handshake or an alert) and cost little:
// TestHostileHelloCost checks the outcome, BenchmarkHostileHello measures the cost.

func u16s(vals []int) []byte {
	b := []byte{byte(2 * len(vals) >> 8), byte(2 * len(vals))}
	for _, v := range vals {
		b = append(b, byte(v>>8), byte(v))
	}
	return b
}

func rawExt(typ int, body []byte) []byte {
	return append([]byte{byte(typ >> 8), byte(typ), byte(len(body) >> 8), byte(len(body))}, body...)
}

// helloWith is a TLS 1.3 ClientHello record (one record, up to 16 KiB) with the given extensions
// beside a valid X25519 share, supported_groups and signature_algorithms; groups are extra groups
// listed in supported_groups (before X25519), shares extra key share entries (before X25519's).
func helloWith(groups []int, shares []byte, exts ...[]byte) []byte {
	var x []byte
	x = append(x, rawExt(extSupportedVersions, []byte{2, 3, 4})...)
	x = append(x, rawExt(extSupportedGroups, u16s(append(groups, int(X25519))))...)
	x = append(x, rawExt(extSignatureAlgorithms, u16s([]int{int(ECDSAWithP256AndSHA256)}))...)
	ks := append(append([]byte(nil), shares...), byte(X25519>>8), byte(X25519), 0, 32)
	ks = append(ks, x25519Share()...)
	x = append(x, rawExt(extKeyShare, append([]byte{byte(len(ks) >> 8), byte(len(ks))}, ks...))...)
	for _, e := range exts {
		x = append(x, e...)
	}
	body := append([]byte{3, 3}, make([]byte, 32)...)
	body = append(body, 0, 0, 2, 0x13, 0x01, 1, 0, byte(len(x)>>8), byte(len(x)))
	body = append(body, x...)
	msg := append([]byte{typeClientHello, 0, byte(len(body) >> 8), byte(len(body))}, body...)
	return records(msg)
}

type hostileHello struct {
	name string
	in   []byte
	want uint8 // 0: the server answers with its flight
}

func hostileHellos() []hostileHello {
	// 2,000 key shares for distinct unknown groups, all listed in supported_groups: the duplicate
	// check and the supported_groups check are quadratic in the count.
	var groups []int
	var shares []byte
	for i := 0; i < 2000; i++ {
		g := 0x6000 + i
		groups = append(groups, g)
		shares = append(shares, byte(g>>8), byte(g), 0, 1, 0)
	}
	// 3,900 empty unknown extensions (the duplicate check's worst case is in bench_test.go)
	var many [][]byte
	for i := 0; i < 3900; i++ {
		many = append(many, rawExt(0x7000+i, nil))
	}
	// 8,000 unknown signature schemes before ours; 8,000 one-byte ALPN names
	var algs []int
	for i := 0; i < 7900; i++ {
		algs = append(algs, 0x7700+i)
	}
	algs = append(algs, int(ECDSAWithP256AndSHA256))
	alpn := []byte{}
	for i := 0; i < 7900; i++ {
		alpn = append(alpn, 1, byte('a'+i%26))
	}
	// the 3,900-extension hello again, one byte per record (5 bytes of header each)
	var tiny []byte
	m := helloWith(nil, nil, many...)[5:]
	for _, c := range m {
		tiny = append(tiny, recordHandshake, 3, 3, 0, 1, c)
	}
	return []hostileHello{
		{"2000 key shares", helloWith(groups, shares), 0},
		{"3900 unknown extensions", helloWith(nil, nil, many...), 0},
		{"7900 signature schemes", helloWith(nil, nil, rawExt(extSigAlgsCert, u16s(algs))), 0},
		{"7900 ALPN names, none ours", helloWith(nil, nil, rawExt(extALPN, append([]byte{byte(len(alpn) >> 8), byte(len(alpn))}, alpn...))),
			AlertNoApplicationProtocol},
		{"15.7 KB hello in 1-byte records", tiny, 0},
	}
}

func runHello(t testing.TB, in []byte, alpn bool) (*Engine, error) {
	cfg := serverConfig(t, false)
	if alpn {
		cfg.ALPN = []string{"http/1.1"}
	}
	s := NewServer(cfg, 0)
	var err error
	for len(in) > 0 && err == nil {
		var n int
		n, _, err = s.Unwrap(in)
		in = in[n:]
	}
	return s, err
}

// TestHostileHelloCost: each hostile ClientHello ends as it should; the time each takes is logged
// (BenchmarkHostileHello for numbers).
func TestHostileHelloCost(t *testing.T) {
	for _, h := range hostileHellos() {
		t.Run(h.name, func(t *testing.T) {
			if len(h.in) > 6*DefaultRecordBuf {
				t.Fatalf("hello of %d bytes", len(h.in))
			}
			start := time.Now()
			s, err := runHello(t, h.in, h.want != 0)
			t.Logf("%d bytes, %v", len(h.in), time.Since(start))
			if h.want != 0 {
				expectAlert(t, err, h.want, false)
				return
			}
			if err != nil || s.Pending() == 0 {
				t.Fatalf("%v, pending %d", err, s.Pending())
			}
		})
	}
}

func BenchmarkHostileHello(b *testing.B) {
	for _, h := range hostileHellos() {
		b.Run(h.name, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				runHello(b, h.in, h.want != 0)
			}
		})
	}
}

// FuzzSharesListed: sharesListed against the obvious pairwise search, and checkExtensions on a
// key share list against a map of the groups (the duplicate-share check of parseClientHello).
func FuzzSharesListed(f *testing.F) {
	f.Add([]byte{0, 29, 0, 1, 7, 0, 23, 0, 1, 9}, []byte{0, 23, 0, 29})
	f.Add([]byte{0, 29, 0, 1, 7, 0, 29, 0, 1, 9}, []byte{0, 29})
	f.Add([]byte{0x11, 0xec, 0, 1, 7}, []byte{0, 29, 0x11})
	f.Fuzz(func(t *testing.T, shares, groups []byte) {
		if checkFraming(shares) {
			return
		}
		want := true
		seen := map[int]bool{}
		dup := false
		for x := shares; len(x) >= 4; x = x[4+(int(x[2])<<8|int(x[3])):] {
			g := int(x[0])<<8 | int(x[1])
			dup = dup || seen[g]
			seen[g] = true
			if !containsU16(groups[:len(groups)&^1], uint16(g)) {
				want = false
			}
		}
		if got := sharesListed(shares, groups); got != want {
			t.Fatalf("sharesListed = %v, want %v", got, want)
		}
		if got := checkExtensions(shares) == AlertIllegalParameter; got != dup {
			t.Fatalf("duplicate found %v, want %v", got, dup)
		}
	})
}

// checkFraming reports whether b is not a well-framed list of (u16, vec16) entries.
func checkFraming(b []byte) bool {
	for len(b) > 0 {
		if len(b) < 4 || len(b) < 4+(int(b[2])<<8|int(b[3])) {
			return true
		}
		b = b[4+(int(b[2])<<8|int(b[3])):]
	}
	return false
}
