package main

import (
	"bytes"
	"testing"

	"netcard/store"
)

func TestSelectApps(t *testing.T) {
	st, err := store.CreateMedium(store.NewMemMedium(store.DefaultSize), store.DefaultSize, bytes.NewReader(make([]byte, 64)))
	if err != nil {
		t.Fatal(err)
	}
	if b, x, err := selectApps("", st); b != nil || x != nil || err != nil {
		t.Fatalf("default: %v %v %v", b, x, err)
	}
	b, x, err := selectApps("home,status,sign,totp", st)
	if err != nil || len(b) != 2 || len(x) != 2 || x[0].Manifest.Name != "sign" {
		t.Fatalf("%v %v %v", b, x, err)
	}
	if _, _, err := selectApps("home,bogus", st); err == nil {
		t.Fatal("unknown application accepted")
	}
	st.SetConfig("card.apps", "vault,totp")
	if b, x, err := selectApps("", st); err != nil || len(b) != 1 || b[0] != "vault" || len(x) != 1 {
		t.Fatalf("from the store: %v %v %v", b, x, err)
	}
}
