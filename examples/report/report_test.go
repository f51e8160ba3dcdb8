package report_test

import (
	"crypto/rand"
	"strings"
	"testing"
	"time"

	"netcard/applet"
	"netcard/examples/report"
	"netcard/store"
)

// TestQueueSurvivesRestart: readings the server did not take stay in the
// store across a reopen and go out oldest first, each once; a full quota
// drops the oldest. (The real HTTPS client and server: e2e TestReportingCard.)
func TestQueueSurvivesRestart(t *testing.T) {
	m := store.NewMemMedium(store.DefaultSize)
	st, err := store.CreateMedium(m, store.DefaultSize, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	start := func(st *store.Store) (*applet.Host, *report.App) {
		a, man, err := report.New(report.Config{URL: "https://collector.example/readings", Every: time.Second, Quota: 400})
		if err != nil {
			t.Fatal(err)
		}
		h := applet.NewHost(st, rand.Reader)
		if err := h.Add(a, man); err != nil {
			t.Fatal(err)
		}
		return h, a
	}
	h, a := start(st)
	h.Poll(t0)
	// Three ticks with the server failing: three readings queued.
	for i := 1; i <= 3; i++ {
		h.Poll(t0.Add(time.Duration(i) * time.Second))
		req, ok := h.NextFetch()
		if !ok || req.Method != "POST" || !strings.Contains(string(req.Body), `{"seq":1,`) {
			t.Fatalf("tick %d: %v %q", i, ok, req.Body)
		}
		h.SetFetchResult(t0, applet.FetchResult{Err: "connection refused"})
	}
	if a.Failed != 3 {
		t.Fatalf("failed %d", a.Failed)
	}
	// Restart: a new host on the reopened image.
	st2, err := store.OpenMedium(m)
	if err != nil {
		t.Fatal(err)
	}
	h, a = start(st2)
	h.Poll(t0.Add(10 * time.Second))
	h.Poll(t0.Add(11 * time.Second)) // reading 4, and the oldest goes out
	var got []string
	for range 10 {
		req, ok := h.NextFetch()
		if !ok {
			break
		}
		got = append(got, string(req.Body))
		h.SetFetchResult(t0, applet.FetchResult{Status: 201})
	}
	if len(got) != 4 {
		t.Fatalf("sent %d: %q", len(got), got)
	}
	for i, g := range got {
		if !strings.HasPrefix(g, `{"seq":`+string(rune('1'+i))+`,`) {
			t.Fatalf("reading %d is %q", i+1, g)
		}
	}
	if a.Sent != 4 || len(st2.Files()) != 1 { // only "seq" remains
		t.Fatalf("sent %d, files %q", a.Sent, st2.Files())
	}
	// Quota: with the server down, old readings make room for new ones.
	for i := 0; i < 20; i++ {
		h.Poll(t0.Add(time.Duration(20+i) * time.Second))
		if _, ok := h.NextFetch(); ok {
			h.SetFetchResult(t0, applet.FetchResult{Status: 503})
		}
	}
	if a.Dropped == 0 || h.Apps()[0].StoreUsed > 400 {
		t.Fatalf("dropped %d, used %d", a.Dropped, h.Apps()[0].StoreUsed)
	}
}
