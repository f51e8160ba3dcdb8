package card_test

import (
	"testing"
	"time"

	"netcard/apps"
	"netcard/card"
	"netcard/sim"
)

// TestStatusAfterParams: with only a few of its profile's values kept
// (cardParams) and the built-ins registered from the shared table, a
// Tiny card's status still names its profile, reports its RAM budget
// (the profile's) and lists every built-in application's RAM and store
// counters; the PPP card's Budget and the Ethernet one differ as before.
func TestStatusAfterParams(t *testing.T) {
	st, err := sim.NewStore(3, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Unix(1_800_000_000, 0)
	c, err := card.New(card.Config{Profile: card.TinyProfile, Store: st, Rand: sim.NewRand(9, "params"),
		Clock: func() time.Time { return t0 }})
	if err != nil {
		t.Fatal(err)
	}
	c.Start(t0)
	s := c.Status(t0)
	if s.Profile != card.TinyProfile.Name || s.RAMBudget != card.TinyProfile.Budget() || s.RAMUsed <= 0 || s.RAMUsed > s.RAMBudget {
		t.Fatalf("profile %q budget %d used %d (Tiny budget %d)", s.Profile, s.RAMBudget, s.RAMUsed, card.TinyProfile.Budget())
	}
	for _, name := range apps.BuiltinNames {
		var ram, store bool
		for _, k := range s.Counters {
			if k.Layer == apps.AppCounterPrefix+name {
				ram = ram || k.Name == "RAM bytes"
				store = store || k.Name == "store bytes"
			}
		}
		if !ram || !store {
			t.Fatalf("status lacks %s's counters: %+v", name, s.Counters)
		}
	}
	if in := c.App().Host().Apps(); len(in) != len(apps.BuiltinNames) {
		t.Fatalf("%d applications, want %d", len(in), len(apps.BuiltinNames))
	}
}
