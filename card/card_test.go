package card_test

import (
	"strings"
	"testing"
	"time"

	"netcard/card"
	"netcard/sim"
)

// TestProfilesComposeInPlace: every built-in profile's HTTPOut fits in its
// empty send buffer as TLS records (responses are composed there).
func TestProfilesComposeInPlace(t *testing.T) {
	for _, p := range []card.Profile{card.TinyProfile, card.CardProfile, card.HostProfile} {
		if !p.HTTPOutFits() {
			t.Errorf("%s: HTTPOut %d does not fit SendBuf %d with %d-byte records", p.Name, p.HTTPOut, p.SendBuf, p.RecordOut)
		}
	}
	// The send buffer holds two full records with the largest overhead
	// (TLS 1.2 AES-GCM, 29 bytes), so that records stay full while the
	// line is busy (issue 14: 2 KiB records, +319 bytes a slot).
	if p := card.CardProfile; p.RecvBuf+p.SendBuf != 20799 || p.RecvBuf < 16384+256+5 || p.SendBuf < 2*(p.RecordOut+29) {
		t.Errorf("card profile slot buffers %d + %d: want one full TLS record in, two full %d-byte records out and 20,799 bytes in all",
			p.RecvBuf, p.SendBuf, p.RecordOut)
	}
}

// TestRAMUsed: the status page counts the buffers of open connections
// only; a secure-client fetch allocates its buffers while it runs.
func TestRAMUsed(t *testing.T) {
	st, err := sim.NewStore(2, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	p := card.CardProfile
	w, err := sim.New(sim.Options{Profile: p, Store: st, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.RunUntil(w.Up, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	slot := p.SlotRecvBuf() + p.SendBuf + p.HTTPIn + p.HTTPOutBuf()
	s := w.Card().Status(w.Now())
	if s.RAMBudget != p.Budget() || s.RAMUsed != p.Budget()-p.MaxConns*slot {
		t.Fatalf("idle: used %d of %d, slot %d", s.RAMUsed, s.RAMBudget, slot)
	}
	if _, err := w.Handshake(10 * time.Second); err != nil {
		t.Fatal(err)
	}
	s = w.Card().Status(w.Now())
	if len(s.Conns) != 1 || s.RAMUsed != p.Budget()-(p.MaxConns-1)*slot {
		t.Fatalf("one connection: used %d of %d, %d conns", s.RAMUsed, s.RAMBudget, len(s.Conns))
	}
	code, body, err := w.Get("/status.json", time.Minute)
	if err != nil || code != 200 || len(body) == 0 {
		t.Fatalf("status.json: %d %v", code, err)
	}
}

// counter returns a status counter of the card.
func counter(c *card.Card, now time.Time, name string) uint64 {
	for _, x := range c.Status(now).Counters {
		if x.Name == name {
			return x.Value
		}
	}
	return 0
}

// TestAdmission: connections that hold every slot without sending anything
// are never displaced by attempts that show no progress (the extra idle
// connections' handshakes are deferred, nothing is evicted), but a client
// that comes with its ClientHello evicts one of them and is served.
func TestAdmission(t *testing.T) {
	w, err := sim.New(sim.Options{Baud: 115200, Seed: 3, HostMaxConns: 16})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.RunUntil(w.Up, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	f := &sim.ConnFlood{W: w, Port: 443, Conns: card.CardProfile.MaxConns + 2}
	w.AddActor(f)
	w.Run(5 * time.Second)
	c := w.Card()
	if n := len(c.Status(w.Now()).Conns); n != card.CardProfile.MaxConns {
		t.Fatalf("%d connections hold slots, want all %d", n, card.CardProfile.MaxConns)
	}
	if ev, def := counter(c, w.Now(), "connections evicted (no slot free)"), counter(c, w.Now(), "handshakes deferred (no slot)"); ev != 0 || def == 0 {
		t.Fatalf("idle attempts: %d evicted, %d deferred; want 0 evicted, some deferred", ev, def)
	}
	code, _, err := w.Get("/", 20*time.Second)
	if err != nil || code != 200 {
		t.Fatalf("GET with every slot held: %d %v", code, err)
	}
	if ev := counter(c, w.Now(), "connections evicted (no slot free)"); ev == 0 {
		t.Fatal("the client was served without an eviction")
	}
	if f.Refused+f.ResetByCard > 1 {
		t.Errorf("idle attacker: %d refused, %d reset: only the evicted one should be", f.Refused, f.ResetByCard)
	}
}

// TestStatusListsApps: the card's status reports each application's RAM and
// store use (issue 15); the public page leaves them out.
func TestStatusListsApps(t *testing.T) {
	st, err := sim.NewStore(3, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	w, err := sim.New(sim.Options{Profile: card.CardProfile, Store: st, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.RunUntil(w.Up, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, x := range w.Card().Status(w.Now()).Counters {
		if strings.HasPrefix(x.Layer, "app ") && (x.Name == "RAM bytes" || x.Name == "store bytes") {
			seen[x.Layer+"/"+x.Name] = true
		}
	}
	for _, app := range []string{"home", "status", "vault", "admin", "upload"} {
		for _, k := range []string{"RAM bytes", "store bytes"} {
			if !seen["app "+app+"/"+k] {
				t.Errorf("status lacks %q of app %s; has %v", k, app, seen)
			}
		}
	}
	// A stranger's page leaves them out (how much the vault holds is the
	// owner's business).
	code, body, err := w.Get("/status.json", time.Minute)
	if err != nil || code != 200 || strings.Contains(string(body), `"layer":"app `) || !strings.Contains(string(body), `"layer":"HTTP"`) {
		t.Fatalf("public status.json: %d %v %s", code, err, body)
	}
}

// TestGenerateCredentialsBrokenSource: a random source that repeats itself
// gives an error, not a weak admin secret nor an endless loop.
func TestGenerateCredentialsBrokenSource(t *testing.T) {
	if _, _, _, err := card.GenerateCredentials(zeroReader{}); err == nil {
		t.Fatal("an all-zero source issued credentials")
	}
}

type zeroReader struct{}

func (zeroReader) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = 0
	}
	return len(p), nil
}

// TestLentShedsAndAllocatesNothing: Card.Lent (the status page's ram_lent)
// allocates nothing; it grows while a connection holds buffers and falls
// back once the line has been quiet for ShedMs (the buffers shed), and
// Status reports it. sim.TestLentMatchesHeap compares it with the heap.
func TestLentShedsAndAllocatesNothing(t *testing.T) {
	st, err := sim.NewStore(2, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	p := card.CardProfile
	w, err := sim.New(sim.Options{Profile: p, Store: st, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.RunUntil(w.Up, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	w.Run(time.Second)
	idle := w.Card().Lent()
	if a := testing.AllocsPerRun(100, func() { _ = w.Card().Lent() }); a != 0 {
		t.Fatalf("Lent allocates %v", a)
	}
	if _, err := w.Handshake(10 * time.Second); err != nil {
		t.Fatal(err)
	}
	busy := w.Card().Lent()
	if s := w.Card().Status(w.Now()); s.RAMLent != busy {
		t.Fatalf("status ram_lent %d, Lent %d", s.RAMLent, busy)
	}
	w.Run(time.Duration(p.ShedMs)*time.Millisecond + time.Second)
	shed := w.Card().Lent()
	if !(idle < shed && shed < busy) {
		t.Fatalf("Lent: idle link %d, handshake done %d, after ShedMs of quiet %d", idle, busy, shed)
	}
}
