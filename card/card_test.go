package card_test

import (
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
	if p := card.CardProfile; p.RecvBuf+p.SendBuf != 20480 || p.RecvBuf < 16384+256+5 {
		t.Errorf("card profile slot buffers %d + %d: want one full TLS record and 20,480 bytes in all", p.RecvBuf, p.SendBuf)
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
	slot := p.RecvBuf + p.SendBuf + p.HTTPIn + p.HTTPOutBuf()
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
