// Package e2e runs the whole card against independent peers: gVisor's
// netstack and Go's net/http and crypto/tls over our PPP host side.
package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	stdtls "crypto/tls"
	"crypto/x509"
	"io"
	"net"
	nethttp "net/http"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"netcard/card"
	"netcard/host"
	"netcard/link"
	"netcard/store"
)

// rig is a card on an in-memory serial line to a gVisor host.
type rig struct {
	card   *card.Card
	runner *card.Runner
	ns     *host.Netstack
	store  *store.Store
	roots  *x509.CertPool
	cardIP netip.Addr
	client *nethttp.Client
}

func newRig(t *testing.T, prof card.Profile, baud int) *rig {
	t.Helper()
	dir := t.TempDir()
	st, err := store.Create(filepath.Join(dir, "card.img"), 64<<10, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := card.Personalise(st, card.DefaultPersonalisation(), rand.Reader, time.Now()); err != nil {
		t.Fatal(err)
	}
	c, err := card.New(card.Config{Profile: prof, Store: st, Rand: rand.Reader, Clock: time.Now})
	if err != nil {
		t.Fatal(err)
	}
	a, b := link.Pipe(8192)
	var ca, hb link.Port = a, b
	if baud > 0 {
		ca, hb = link.Pace(a, baud), link.Pace(b, baud)
	}
	r := card.NewRunner(c, ca, nil)
	r.Do(func(now time.Time) { c.Start(now) })
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	ns, err := host.NewNetstack(hb, host.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ns.Close()
		cancel()
		ca.Close()
		<-done
	})
	wctx, wcancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer wcancel()
	if err := ns.WaitUp(wctx); err != nil {
		t.Fatalf("link did not come up: %v", err)
	}
	// The host's IPCP may open a moment before the card's.
	if err := r.WaitFor(wctx, func(time.Time) bool { return c.Up() }); err != nil {
		t.Fatalf("the card's link did not come up: %v", err)
	}
	roots := x509.NewCertPool()
	leaf, err := x509.ParseCertificate(st.Certificate()[0])
	if err != nil {
		t.Fatal(err)
	}
	roots.AddCert(leaf)
	rg := &rig{card: c, runner: r, ns: ns, store: st, roots: roots, cardIP: ns.PeerIP()}
	rg.client = &nethttp.Client{
		Timeout: 60 * time.Second,
		Transport: &nethttp.Transport{
			DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
				return ns.Net().DialContext(ctx, network, addr)
			},
			TLSClientConfig: &stdtls.Config{RootCAs: roots, ServerName: "netcard.local"},
		},
	}
	return rg
}

func (rg *rig) url(path string) string { return "https://" + rg.cardIP.String() + path }

func TestGvisorHTTPS(t *testing.T) {
	rg := newRig(t, cardProfile(), 0)
	for i := 0; i < 3; i++ {
		resp, err := rg.client.Get(rg.url("/"))
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != 200 || !bytes.Contains(body, []byte("netcard")) {
			t.Fatalf("GET / = %d %q", resp.StatusCode, body)
		}
		if resp.TLS == nil || resp.TLS.Version != stdtls.VersionTLS13 {
			t.Fatalf("not TLS 1.3: %+v", resp.TLS)
		}
	}
	resp, err := rg.client.Get(rg.url("/status.json"))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), `"link_up":true`) {
		t.Fatalf("status.json = %d %s", resp.StatusCode, body)
	}
}

func cardProfile() card.Profile { return card.CardProfile }

func tinyProfile() card.Profile { return card.TinyProfile }
