package e2e

import (
	"crypto/rand"
	stdtls "crypto/tls"
	"encoding/json"
	"io"
	"log"
	"net"
	nethttp "net/http"
	"net/netip"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"netcard/apps"
	"netcard/examples/report"
	"netcard/store"
)

// collector is the test's HTTPS server for the reporting card: Go's
// net/http and crypto/tls on the host's netstack address, with a
// certificate from a CA in the card's trust anchors — or, while rogue is
// set, from a CA the card does not trust.
type collector struct {
	good, bad stdtls.Certificate
	rogue     atomic.Bool
	mu        sync.Mutex
	seqs      map[int]int // seq → times received
	max       int
}

func (co *collector) serve(t *testing.T, ar *appRig, port uint16) {
	t.Helper()
	ln, err := ar.ns.Net().ListenTCPAddrPort(netip.AddrPortFrom(hostIP, port))
	if err != nil {
		t.Fatal(err)
	}
	srv := &nethttp.Server{
		TLSConfig: &stdtls.Config{GetCertificate: func(*stdtls.ClientHelloInfo) (*stdtls.Certificate, error) {
			if co.rogue.Load() {
				return &co.bad, nil
			}
			return &co.good, nil
		}},
		Handler: nethttp.HandlerFunc(func(w nethttp.ResponseWriter, r *nethttp.Request) {
			var rd struct{ Seq, T, V int }
			b, _ := io.ReadAll(r.Body)
			if r.Method != "POST" || r.URL.Path != "/readings" || json.Unmarshal(b, &rd) != nil || rd.Seq < 1 {
				nethttp.Error(w, "bad reading", 400)
				return
			}
			co.mu.Lock()
			co.seqs[rd.Seq]++
			co.max = max(co.max, rd.Seq)
			co.mu.Unlock()
			w.WriteHeader(201)
		}),
		ErrorLog: log.New(io.Discard, "", 0), // the rogue phase's refused handshakes are the point
	}
	go srv.ServeTLS(ln, "", "")
	t.Cleanup(func() { srv.Close() })
}

// state returns the highest seq received and whether every seq up to it
// arrived.
func (co *collector) state() (maxSeq int, complete bool) {
	co.mu.Lock()
	defer co.mu.Unlock()
	for s := 1; s <= co.max; s++ {
		if co.seqs[s] == 0 {
			return co.max, false
		}
	}
	return co.max, true
}

// TestReportingCard: the card itself POSTs a JSON reading every second
// over HTTPS (the card as TLS client, the server's certificate verified
// against the store's anchors) to a Go server; while the server shows a
// certificate from an untrusted CA nothing is delivered and the readings
// stay queued in the store, across a restart of the card, and arrive
// (every seq, oldest first) once the trusted server is back.
func TestReportingCard(t *testing.T) {
	ca, rogueCA := newCA(t, "collector CA"), newCA(t, "rogue CA")
	ips := []net.IP{net.IP(hostIP.AsSlice())}
	co := &collector{good: ca.issue(t, ips, nil), bad: rogueCA.issue(t, ips, nil), seqs: map[int]int{}}
	const port = 8443
	setup := func(st *store.Store) error {
		for _, a := range st.Anchors() {
			if string(a) == string(ca.cert.Raw) {
				return nil
			}
		}
		return st.SetAnchors(append(st.Anchors(), ca.cert.Raw))
	}
	path := filepath.Join(t.TempDir(), "card.img")
	start := func() (*appRig, *report.App) {
		a, m, err := report.New(report.Config{URL: "https://10.0.2.2:8443/readings", Every: time.Second})
		if err != nil {
			t.Fatal(err)
		}
		st, err := openOrCreate(path)
		if err != nil {
			t.Fatal(err)
		}
		ar := startCardApps(t, st, path, cardProfile(), 0, setup, []apps.Registered{{App: a, Manifest: m}})
		co.serve(t, ar, port)
		return ar, a
	}
	wait := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(90 * time.Second)
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s", what)
			}
			<-tick.C
		}
	}

	// 1: trusted server, readings arrive.
	ar, a := start()
	wait("two readings", func() bool { m, ok := co.state(); return m >= 2 && ok })
	m1, _ := co.state()

	// 2: the server's certificate is not trusted: handshakes fail, the
	// readings queue in the store.
	failed := func(a *report.App) (n uint64) {
		ar.runner.Do(func(time.Time) { n = a.Failed })
		return n
	}
	f1 := failed(a)
	co.rogue.Store(true)
	wait("three refused deliveries", func() bool { return failed(a) >= f1+3 })
	var queued int
	ar.withStore(func(st *store.Store) {
		sp, _ := st.Space("report", 2048)
		queued = sp.Len() - 1 // less the "seq" record
	})
	if queued < 2 {
		t.Fatalf("%d readings queued while the server was untrusted", queued)
	}
	m2, _ := co.state()
	if m2 > m1+1 { // one delivery may have been in flight at the switch
		t.Fatalf("readings delivered to the untrusted server: max seq %d → %d", m1, m2)
	}

	// 3: restart the card with the queue in its store; the trusted
	// server is back: every reading arrives.
	ar.stop()
	co.rogue.Store(false)
	ar, a = start()
	target := m2 + queued
	wait("the queued readings after the restart", func() bool { m, ok := co.state(); return m >= target+1 && ok })
	var sent uint64
	ar.runner.Do(func(time.Time) { sent = a.Sent })
	if sent < uint64(queued) {
		t.Fatalf("after the restart the card sent %d of %d queued readings", sent, queued)
	}
	r := ar.do(t, "GET", "/report", nil)
	if r.status != 200 {
		t.Fatalf("GET /report: %d", r.status)
	}
}

func openOrCreate(path string) (*store.Store, error) {
	if st, err := store.Open(path); err == nil {
		return st, nil
	}
	return store.Create(path, 64<<10, rand.Reader)
}
