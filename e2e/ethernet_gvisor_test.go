package e2e

// The card on an Ethernet frame stream with gVisor's stack (its ARP, IPv4
// and TCP, on gVisor's ethernet link endpoint) as the host: no root needed.
// net/http and crypto/tls are the clients. Goodput over the same link is
// compared with gVisor serving gVisor.

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	crand "crypto/rand"
	stdtls "crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"io"
	"math/big"
	"net"
	nethttp "net/http"
	"net/netip"
	"testing"
	"time"

	"netcard/card"
	"netcard/host"
	"netcard/link"
	"netcard/store"
)

// gvEthRig is a card on Ethernet with an in-process gVisor host.
type gvEthRig struct {
	card   *card.Card
	runner *card.Runner
	peer   *host.EthPeer
	client *nethttp.Client
}

func startGvisorEth(tb testing.TB, prof card.Profile, files map[string][]byte) *gvEthRig {
	tb.Helper()
	st, err := store.Create(tb.TempDir()+"/card.img", 4<<20, crand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	if err := card.Personalise(st, card.DefaultPersonalisation(), crand.Reader, time.Now()); err != nil {
		tb.Fatal(err)
	}
	for p, d := range files {
		if err := st.PutFile(p, "application/octet-stream", d); err != nil {
			tb.Fatal(err)
		}
	}
	st.SetClock(time.Now)
	c, err := card.New(card.Config{Profile: prof, Store: st, Rand: crand.Reader, Clock: time.Now,
		Ethernet: &card.EthConfig{MAC: [6]byte{2, 0, 0, 0, 0, 1}}})
	if err != nil {
		tb.Fatal(err)
	}
	a, b := link.Pipe(64 << 10)
	r := card.NewRunner(c, a, nil)
	r.Do(func(now time.Time) { c.Start(now) })
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	peer, err := host.NewEthPeer(b, host.EthPeerConfig{})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		peer.Close()
		cancel()
		a.Close()
		<-done
		r.Stop()
		st.Close()
	})
	roots := x509.NewCertPool()
	leaf, err := x509.ParseCertificate(st.Certificate()[0])
	if err != nil {
		tb.Fatal(err)
	}
	roots.AddCert(leaf)
	cli := &nethttp.Client{Timeout: 60 * time.Second, Transport: &nethttp.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			return peer.DialTCP(ctx, netip.MustParseAddrPort("10.0.3.1:443"))
		},
		TLSClientConfig: &stdtls.Config{RootCAs: roots, ServerName: "netcard.local"},
	}}
	return &gvEthRig{card: c, runner: r, peer: peer, client: cli}
}

// TestGvisorEthernetHTTPS: gVisor resolves the card by ARP and fetches
// pages over verified TLS, several in parallel; the card's link counters
// show ARP answered and no frame refused.
func TestGvisorEthernetHTTPS(t *testing.T) {
	body := bytes.Repeat([]byte("0123456789abcdef"), 8192) // 128 KiB
	rg := startGvisorEth(t, card.CardProfile, map[string][]byte{"big": body})
	errs := make(chan error, 3)
	for i := 0; i < 3; i++ {
		go func() {
			resp, err := rg.client.Get("https://netcard.local/big")
			if err != nil {
				errs <- err
				return
			}
			got, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err == nil && !bytes.Equal(got, body) {
				err = fmt.Errorf("status %d, %d bytes: %.200q", resp.StatusCode, len(got), got)
			}
			errs <- err
		}()
	}
	for i := 0; i < 3; i++ {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if mac, ok := rg.peer.Neighbor(netip.MustParseAddr("10.0.3.1")); !ok || mac != "\x02\x00\x00\x00\x00\x01" {
		t.Fatalf("gVisor's ARP: %q %v", mac, ok)
	}
	rg.runner.Do(func(time.Time) {
		s := rg.card.Ethernet().Stats()
		if s.ARPRequestsIn == 0 || s.ARPRepliesOut == 0 || s.ARPMalformed != 0 || s.InStreamBadLength != 0 || s.InShort != 0 {
			t.Errorf("link stats %+v", s)
		}
	})
}

// BenchmarkEthGoodput downloads 1 MiB over HTTPS on the Ethernet frame
// stream (an in-memory pipe, no line rate): from the card (Card and Host
// profiles) and, on the same kind of link, from gVisor's stack serving
// net/http + crypto/tls; the client is gVisor with net/http in all cases.
func BenchmarkEthGoodput(b *testing.B) {
	body := make([]byte, 1<<20)
	crand.Read(body)
	get := func(b *testing.B, cli *nethttp.Client, url string) {
		for i := 0; i < b.N; i++ {
			resp, err := cli.Get(url)
			if err != nil {
				b.Fatal(err)
			}
			n, err := io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if err != nil || n != int64(len(body)) {
				b.Fatalf("got %d bytes: %v", n, err)
			}
		}
	}
	for _, prof := range []card.Profile{card.CardProfile, card.HostProfile} {
		b.Run("card-"+prof.Name, func(b *testing.B) {
			rg := startGvisorEth(b, prof, map[string][]byte{"f": body})
			b.SetBytes(int64(len(body)))
			b.ResetTimer()
			get(b, rg.client, "https://netcard.local/f")
		})
	}
	// The Card profile over IPv6 on the same link (gVisor's IPv6 to the
	// card's link-local address).
	b.Run("card-"+card.CardProfile.WithIPv6().Name+"-over-ipv6", func(b *testing.B) {
		rg := startGvisorEth(b, card.CardProfile.WithIPv6(), map[string][]byte{"f": body})
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		var ll netip.Addr
		if err := rg.runner.WaitFor(ctx, func(time.Time) bool {
			ll = rg.card.IP6().LinkLocal().Netip()
			return rg.card.IP6().LinkLocal() != [16]byte{}
		}); err != nil {
			b.Fatal(err)
		}
		rg.client.Transport.(*nethttp.Transport).DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
			return rg.peer.DialTCP(ctx, netip.AddrPortFrom(ll, 443))
		}
		b.SetBytes(int64(len(body)))
		b.ResetTimer()
		get(b, rg.client, "https://netcard.local/f")
	})
	b.Run("gvisor", func(b *testing.B) {
		x, y := link.Pipe(64 << 10)
		srv, err := host.NewEthPeer(x, host.EthPeerConfig{MAC: [6]byte{2, 0, 0, 0, 0, 1}, Addr: netip.MustParsePrefix("10.0.3.1/24"), Queued: 4096})
		if err != nil {
			b.Fatal(err)
		}
		defer srv.Close()
		cl, err := host.NewEthPeer(y, host.EthPeerConfig{})
		if err != nil {
			b.Fatal(err)
		}
		defer cl.Close()
		ln, err := srv.ListenTCP(443)
		if err != nil {
			b.Fatal(err)
		}
		key, _ := ecdsa.GenerateKey(elliptic.P256(), crand.Reader)
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "peer"},
			DNSNames: []string{"peer"}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
		der, _ := x509.CreateCertificate(crand.Reader, tmpl, tmpl, &key.PublicKey, key)
		hs := &nethttp.Server{Handler: nethttp.HandlerFunc(func(w nethttp.ResponseWriter, r *nethttp.Request) {
			w.Write(body)
		}), TLSConfig: &stdtls.Config{Certificates: []stdtls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}}
		go hs.ServeTLS(ln, "", "")
		defer hs.Close()
		cli := &nethttp.Client{Timeout: time.Minute, Transport: &nethttp.Transport{
			DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
				return cl.DialTCP(ctx, netip.MustParseAddrPort("10.0.3.1:443"))
			},
			TLSClientConfig: &stdtls.Config{InsecureSkipVerify: true},
		}}
		b.SetBytes(int64(len(body)))
		b.ResetTimer()
		get(b, cli, "https://10.0.3.1/f")
	})
}

// TestGvisorEthernetIPv6: the card with IPv6 on the Ethernet frame stream
// and gVisor's IPv6 (its own link-local address and DAD, its Neighbor
// Discovery): gVisor resolves the card's link-local address by ND and
// fetches a page over verified TLS on IPv6; the card resolved gVisor by ND
// in turn.
func TestGvisorEthernetIPv6(t *testing.T) {
	body := bytes.Repeat([]byte("fedcba9876543210"), 4096) // 64 KiB
	rg := startGvisorEth(t, card.CardProfile.WithIPv6(), map[string][]byte{"big": body})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var ll netip.Addr
	if err := rg.runner.WaitFor(ctx, func(time.Time) bool {
		ll = rg.card.IP6().LinkLocal().Netip()
		return rg.card.IP6().LinkLocal() != [16]byte{}
	}); err != nil {
		t.Fatalf("no link-local address: %v", err)
	}
	tr := rg.client.Transport.(*nethttp.Transport)
	tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		return rg.peer.DialTCP(ctx, netip.AddrPortFrom(ll, 443))
	}
	resp, err := rg.client.Get("https://netcard.local/big")
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || !bytes.Equal(got, body) {
		t.Fatalf("status %d, %d bytes: %v", resp.StatusCode, len(got), err)
	}
	rg.runner.Do(func(time.Time) {
		if s := rg.card.Neighbors().Stats(); s.Resolved == 0 {
			t.Errorf("card's neighbour cache %+v", s)
		}
		if s := rg.card.Ethernet().Stats(); s.InIPv6 == 0 || s.OutIPv6 == 0 {
			t.Errorf("link stats %+v", s)
		}
	})
}
