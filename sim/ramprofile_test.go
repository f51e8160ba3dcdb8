package sim

import (
	"bufio"
	"flag"
	"fmt"
	"os"
	"reflect"
	"regexp"
	"runtime"
	"sort"
	"strings"
	"testing"
	"time"

	"netcard/apps"
	"netcard/card"
	"netcard/dns"
	"netcard/http"
	"netcard/ipv4"
	"netcard/ppp"
	"netcard/store"
	"netcard/tcp"
	"netcard/tls"
	"netcard/udp"
)

var (
	ramProfile  = flag.Bool("ramprofile", false, "print the retained heap of one-slot cards by allocation site")
	ramProfileN = flag.Int("ramprofile.n", 50, "cards built by -ramprofile")
	ramProfileP = flag.String("ramprofile.profile", "card-1", "profile of -ramprofile: card-1 (one slot), card, tiny")
)

// ramSite is one allocation site of what the cards retain: the innermost
// frame outside the Go runtime, and the innermost frame of this module
// (the code that caused the allocation).
type ramSite struct {
	Func, File string
	Line       int
	Owner      string // innermost netcard/... frame ("" if none)
	Bytes      int64  // retained bytes (slot sizes: what the heap counts)
	Objects    int64
	Slot       int64 // bytes per object when all objects are the same size, else 0
}

// category classifies a site by its function and source line: Go crypto
// state, other Go library state, our buffers (make of a byte or word
// slice), our structs (a struct literal, new, or a slice of structs), or
// both on one line.
func (s *ramSite) category(src string) string {
	buf := strings.Contains(src, "make([]byte") || strings.Contains(src, "make([]uint")
	st := strings.Contains(src, "&") || strings.Contains(src, "new(") ||
		strings.Contains(src, "make(") && !buf || strings.Contains(src, "append(")
	switch {
	case strings.HasPrefix(s.Func, "crypto/") || strings.Contains(s.Func, "golang.org/x/crypto"):
		return "go-crypto"
	case !strings.HasPrefix(s.Func, "netcard/"):
		return "go-lib"
	case buf && strings.Contains(src, "&"):
		return "struct+buf"
	case buf:
		return "buffer"
	case st:
		return "struct"
	default:
		return "other" // a closure, a string: see the source column
	}
}

// profiled is the heap retained by n cards, per card, measured twice: the
// HeapAlloc delta (as MeasureRAM) and the heap profile's in-use bytes by
// allocation site (MemProfileRate = 1: every allocation is recorded).
type profiled struct {
	N         int
	HeapDelta int64 // per card
	Sites     []ramSite
	Total     int64 // sum of Sites (all cards)
}

// memProfile returns the heap profile by stack. The profile may lag up to
// two collections behind (runtime.MemProfile), so three run first.
func memProfile() map[[32]uintptr]runtime.MemProfileRecord {
	runtime.GC()
	runtime.GC()
	runtime.GC()
	var recs []runtime.MemProfileRecord
	n, _ := runtime.MemProfile(nil, true)
	for {
		recs = make([]runtime.MemProfileRecord, n+64)
		var ok bool
		if n, ok = runtime.MemProfile(recs, true); ok {
			recs = recs[:n]
			break
		}
	}
	m := make(map[[32]uintptr]runtime.MemProfileRecord, len(recs))
	for _, r := range recs {
		m[r.Stack0] = r
	}
	return m
}

// profileCards builds n cards of profile p exactly as MeasureRAM does (each
// with one TLS session established through the simulation, everything but
// the cards dropped) and attributes the heap they retain.
func profileCards(t testing.TB, p card.Profile, n int, st *store.Store) profiled {
	t.Helper()
	old := runtime.MemProfileRate
	runtime.MemProfileRate = 1
	defer func() { runtime.MemProfileRate = old }()

	// A first card pays for one-time process state (crypto tables, caches)
	// outside the measurement, as the 20 cards of MeasureRAM spread it.
	warm, err := New(Options{Profile: p, Store: st, Seed: 1000})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := warm.Handshake(10 * time.Second); err != nil {
		t.Fatal(err)
	}
	warmCard := warm.card
	warm = nil

	cards := make([]*card.Card, n)
	detachStore(st)
	base := memProfile()
	before := heapInUse()
	for i := range cards {
		w, err := New(Options{Profile: p, Store: st, Seed: uint64(i + 1)})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.HandshakeIdle(10 * time.Second); err != nil {
			t.Fatalf("card %d: %v", i, err)
		}
		cards[i] = w.card
	}
	after := heapInUse()
	now := memProfile()
	runtime.KeepAlive(cards)
	runtime.KeepAlive(warmCard)

	type key struct {
		fn, owner, file string
		line            int
	}
	agg := map[key]*ramSite{}
	var total int64
	for stk, r := range now {
		b := r.InUseBytes()
		o := r.InUseObjects()
		if r0, ok := base[stk]; ok {
			b -= r0.InUseBytes()
			o -= r0.InUseObjects()
		}
		if b == 0 {
			continue
		}
		var k key
		if profilerStack(r.Stack()) {
			continue // the snapshot maps themselves
		}
		frames := runtime.CallersFrames(r.Stack())
		for {
			f, more := frames.Next()
			fn := f.Function
			internal := strings.HasPrefix(fn, "runtime.") || strings.HasPrefix(fn, "internal/runtime") ||
				strings.HasPrefix(fn, "internal/abi")
			if !internal && k.fn == "" {
				k.fn, k.file, k.line = fn, f.File, f.Line
			}
			if strings.HasPrefix(fn, "netcard/") {
				k.owner = fn
				break
			}
			if !more {
				break
			}
		}
		if k.fn == "" {
			k.fn = "(runtime)"
		}
		s := agg[k]
		if s == nil {
			s = &ramSite{Func: k.fn, File: k.file, Line: k.line, Owner: k.owner}
			if o != 0 {
				s.Slot = b / o
			}
			agg[k] = s
		}
		if o != 0 && s.Slot != b/o {
			s.Slot = 0
		}
		s.Bytes += b
		s.Objects += o
		total += b
	}
	pr := profiled{N: n, HeapDelta: (int64(after) - int64(before)) / int64(n), Total: total}
	for _, s := range agg {
		pr.Sites = append(pr.Sites, *s)
	}
	sort.Slice(pr.Sites, func(i, j int) bool {
		if pr.Sites[i].Bytes != pr.Sites[j].Bytes {
			return pr.Sites[i].Bytes > pr.Sites[j].Bytes
		}
		return pr.Sites[i].Func+pr.Sites[i].Owner < pr.Sites[j].Func+pr.Sites[j].Owner
	})
	return pr
}

// profilerStack reports whether an allocation was made by memProfile.
func profilerStack(stk []uintptr) bool {
	frames := runtime.CallersFrames(stk)
	for {
		f, more := frames.Next()
		if f.Function == "netcard/sim.memProfile" {
			return true
		}
		if !more {
			return false
		}
	}
}

// sourceLine returns the trimmed text of file:line ("" if unreadable).
func sourceLine(file string, line int) string {
	f, err := os.Open(file)
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for i := 1; sc.Scan(); i++ {
		if i == line {
			return strings.TrimSpace(sc.Text())
		}
	}
	return ""
}

func shortFunc(fn string) string {
	fn = strings.TrimPrefix(fn, "netcard/")
	if i := strings.LastIndex(fn, "/"); i >= 0 && !strings.HasPrefix(fn, "crypto/") {
		fn = fn[i+1:]
	}
	return fn
}

// prevClass returns the size class below slot: an object in slot asked for
// more than that.
func prevClass(slot int) int {
	lo, hi := 0, slot // classOf(lo) < slot ≤ classOf(hi)
	for hi-lo > 1 {
		m := (lo + hi) / 2
		if classOf(m) < slot {
			lo = m
		} else {
			hi = m
		}
	}
	return lo
}

// structSizes are the sizes of the control structures the cards allocate
// with &T{...}, by "package.Type" (the allocating function's package).
var structSizes = func() map[string]uintptr {
	m := map[string]uintptr{}
	for _, v := range []any{card.Card{}, ppp.Link{}, ipv4.Host{}, tcp.Stack{}, udp.Stack{}, dns.Resolver{},
		apps.ServerSession{}, apps.App{}, http.ServerConn{}, tls.Engine{}, tls.Config{}} {
		t := reflect.TypeOf(v)
		m[t.String()] = t.Size()
	}
	return m
}()

var structLit = regexp.MustCompile(`&([A-Z]\w*)\{`)

// rounding returns the bytes of site s that are size-class rounding (and
// the 8-byte malloc header of objects with pointers above 512 bytes),
// exact=true when the requested size is known (a struct from
// structSizes); otherwise an upper bound: the object asked for more than
// the class below its slot.
func (s *ramSite) rounding(src string) (n int64, exact bool) {
	if s.Slot == 0 || s.Objects == 0 {
		return 0, false
	}
	if m := structLit.FindStringSubmatch(src); m != nil {
		pkg := strings.TrimPrefix(s.Func, "netcard/")
		pkg = pkg[:strings.IndexByte(pkg, '.')]
		if size, ok := structSizes[pkg+"."+m[1]]; ok && int64(size) <= s.Slot {
			return (s.Slot - int64(size)) * s.Objects, true
		}
	}
	return (s.Slot - int64(prevClass(int(s.Slot))) - 1) * s.Objects, false
}

// TestRAMProfile (-ramprofile) prints the heap one card retains (one
// established TLS session, as MeasureRAM) by allocation site, per card,
// with the allocating source line, grouped into Go crypto state, other Go
// library state, our buffers and our structs, and checks that the sites
// add up to the heap delta.
func TestRAMProfile(t *testing.T) {
	if !*ramProfile {
		t.Skip("use -ramprofile to print the attribution")
	}
	p := OneConnCard()
	switch *ramProfileP {
	case "card":
		p = card.CardProfile
	case "tiny":
		p = card.TinyProfile
	}
	st, err := NewStore(1, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	n := *ramProfileN
	pr := profileCards(t, p, n, st)
	var b strings.Builder
	fmt.Fprintf(&b, "profile %s, %d cards: heap delta %d B/card, profiled sites %d B/card (Accounted %d B)\n",
		p.Name, n, pr.HeapDelta, pr.Total/int64(n), Accounted(p))
	fmt.Fprintf(&b, "%8s %7s %6s %6s  %-10s %-40s %-36s %s\n", "B/card", "obj/crd", "slot", "round", "kind", "site", "caused by", "source")
	cats := map[string]int64{}
	var exactRound, boundRound int64
	for _, s := range pr.Sites {
		src := sourceLine(s.File, s.Line)
		c := s.category(src)
		cats[c] += s.Bytes
		per := float64(s.Bytes) / float64(n)
		if per < 1 && per > -1 {
			continue
		}
		slot, round := "mixed", "?"
		if s.Slot != 0 {
			slot = fmt.Sprint(s.Slot)
			r, exact := s.rounding(src)
			if exact {
				exactRound += r
				round = fmt.Sprint(r / int64(n))
			} else {
				boundRound += r
				round = fmt.Sprintf("≤%d", r/int64(n))
			}
		}
		if len(src) > 56 {
			src = src[:56] + "…"
		}
		fmt.Fprintf(&b, "%8.0f %7.2f %6s %6s  %-10s %-40s %-36s %s\n", per, float64(s.Objects)/float64(n), slot, round, c,
			shortFunc(s.Func), shortFunc(s.Owner), src)
	}
	for _, c := range []string{"buffer", "struct", "struct+buf", "other", "go-crypto", "go-lib"} {
		fmt.Fprintf(&b, "%-10s %8.0f B/card\n", c, float64(cats[c])/float64(n))
	}
	fmt.Fprintf(&b, "size-class rounding: %d B/card exact (structs of known type) + at most %d B/card elsewhere\n",
		exactRound/int64(n), boundRound/int64(n))
	t.Log("\n" + b.String())
	if d := pr.Total/int64(n) - pr.HeapDelta; d > pr.HeapDelta/50 || d < -pr.HeapDelta/50 {
		t.Errorf("sites add up to %d B/card, heap delta %d B/card", pr.Total/int64(n), pr.HeapDelta)
	}
}

// TestRAMAttribution is the always-on check of the attribution (4 one-slot
// cards, as MeasureRAM builds them): the heap profile's sites account for
// the whole heap delta, and the IPv4, UDP and DNS layers retain at most
// their budget (no UDP queue and no DNS lookup state: they exist only
// while a lookup runs, see the udp and dns tests).
func TestRAMAttribution(t *testing.T) {
	st, err := NewStore(1, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	const n = 4
	// The heap delta is process-wide: whatever else allocates or frees
	// between the two readings (the runtime, finishing goroutines of other
	// tests) moves it, while the profile's sites are exact. So the check
	// passes when one of up to three measurements agrees within 1 %.
	var pr profiled
	var misses []string
	for try := 0; try < 3; try++ {
		pr = profileCards(t, OneConnCard(), n, st)
		d := pr.Total - pr.HeapDelta*n
		if d <= pr.Total/100 && d >= -pr.Total/100 {
			misses = nil
			break
		}
		misses = append(misses, fmt.Sprintf("sites %d B/card, heap delta %d B/card", pr.Total/n, pr.HeapDelta))
	}
	if misses != nil {
		t.Errorf("the profile's sites and the heap delta disagree by more than 1 %% in every try: %s", strings.Join(misses, "; "))
	}
	layers := map[string]int64{}
	for _, s := range pr.Sites {
		for _, l := range []string{"ipv4", "udp", "dns"} {
			if strings.HasPrefix(s.Owner, "netcard/"+l+".") {
				layers[l] += s.Bytes / n
			}
		}
	}
	// Budget per card (one-slot Card profile, MTU 1500): ipv4 = Host struct
	// (512) + the 1,500-byte reassembly slot that is also the echo buffer
	// (1,536) + two ICMP error slots (192) + the slot array (80); udp =
	// Stack (192) and its one socket (64); dns = the resident Resolver (128).
	budget := map[string]int64{"ipv4": 2320, "udp": 256, "dns": 128}
	for l, max := range budget {
		if layers[l] > max {
			t.Errorf("%s retains %d B/card, budget %d", l, layers[l], max)
		}
	}
	t.Logf("heap delta %d B/card, sites %d B/card; ipv4 %d, udp %d, dns %d B/card",
		pr.HeapDelta, pr.Total/n, layers["ipv4"], layers["udp"], layers["dns"])
}
