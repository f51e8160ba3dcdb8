package sim

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	crand "crypto/rand"
	gotls "crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	nethttp "net/http"
	"net/netip"
	"sync"
	"syscall"
	"time"

	"golang.zx2c4.com/wireguard/tun"
	"golang.zx2c4.com/wireguard/tun/netstack"

	"netcard/card"
)

// cpuTime returns the process's user+system CPU time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BulkCPU compares the CPU per byte of a bulk HTTPS download over an
// unlimited in-memory link: the card (HostProfile, so that records and
// windows are not the card's small ones) with this project's host peer in
// the simulation, against two gVisor netstacks joined by an in-memory
// packet pipe with net/http + crypto/tls on both ends. Both are measured as
// process CPU time (user + system) per body byte, in the same run.
type BulkCPU struct {
	Bytes            int
	CardNsPerByte    float64
	GvisorNsPerByte  float64
	Ratio            float64
	CardWall, GvWall time.Duration
}

// MeasureBulkVsGvisor runs both downloads of size bytes, rounds times each,
// interleaved, and takes the median of each.
func MeasureBulkVsGvisor(size, rounds int) (BulkCPU, error) {
	data := RandomFile(9, size)
	st, err := NewStore(9, 0, map[string][]byte{"f": data})
	if err != nil {
		return BulkCPU{}, err
	}
	g, err := newGvisorPair(data)
	if err != nil {
		return BulkCPU{}, err
	}
	defer g.close()
	r := BulkCPU{Bytes: size}
	var cardNs, gvNs []int64
	for i := 0; i < rounds+1; i++ {
		w, err := New(Options{Store: st, Seed: uint64(100 + i), Profile: card.HostProfile})
		if err != nil {
			return r, err
		}
		if err := w.RunUntil(w.Up, time.Second); err != nil {
			return r, err
		}
		t0, c0 := time.Now(), cpuTime()
		c, err := w.StartGet("/f", time.Minute)
		if err != nil {
			return r, err
		}
		c.NoHash = true // the gVisor client discards the body too
		if err := w.Wait(c, time.Minute); err != nil {
			return r, err
		}
		cardCPU, cardWall := cpuTime()-c0, time.Since(t0)
		if int(c.Len) != size {
			return r, fmt.Errorf("sim: card bulk got %d of %d", c.Len, size)
		}
		t0, c0 = time.Now(), cpuTime()
		if err := g.get(size); err != nil {
			return r, fmt.Errorf("gvisor: %w", err)
		}
		gvCPU, gvWall := cpuTime()-c0, time.Since(t0)
		if i == 0 {
			continue // warm-up
		}
		cardNs, gvNs = append(cardNs, cardCPU.Nanoseconds()), append(gvNs, gvCPU.Nanoseconds())
		r.CardWall, r.GvWall = cardWall, gvWall
	}
	r.CardNsPerByte = median(cardNs) / float64(size)
	r.GvisorNsPerByte = median(gvNs) / float64(size)
	if r.GvisorNsPerByte > 0 {
		r.Ratio = r.CardNsPerByte / r.GvisorNsPerByte
	}
	return r, nil
}

// gvisorPair is two gVisor netstacks joined by goroutines that move packets
// between their TUN devices; an HTTPS server (net/http, crypto/tls) runs on
// one, a client on the other.
type gvisorPair struct {
	devs   [2]tun.Device
	nets   [2]*netstack.Net
	srv    *nethttp.Server
	client *nethttp.Client
	wg     sync.WaitGroup
	url    string
}

func newGvisorPair(body []byte) (*gvisorPair, error) {
	g := &gvisorPair{}
	addrs := [2]netip.Addr{netip.MustParseAddr("10.99.0.1"), netip.MustParseAddr("10.99.0.2")}
	for i := range 2 {
		d, n, err := netstack.CreateNetTUN([]netip.Addr{addrs[i]}, nil, 1500)
		if err != nil {
			return nil, err
		}
		g.devs[i], g.nets[i] = d, n
	}
	for i := range 2 {
		g.wg.Add(1)
		go g.pump(g.devs[i], g.devs[1-i])
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), crand.Reader)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "peer"},
		DNSNames: []string{"peer"}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(crand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	ln, err := g.nets[0].ListenTCPAddrPort(netip.AddrPortFrom(addrs[0], 443))
	if err != nil {
		return nil, err
	}
	g.srv = &nethttp.Server{
		Handler: nethttp.HandlerFunc(func(w nethttp.ResponseWriter, r *nethttp.Request) {
			w.Header().Set("Content-Type", "application/octet-stream")
			nethttp.ServeContent(w, r, "f", time.Time{}, bytes.NewReader(body))
		}),
		TLSConfig: &gotls.Config{Certificates: []gotls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}},
			MinVersion: gotls.VersionTLS13, NextProtos: []string{"http/1.1"}},
	}
	go func() { _ = g.srv.ServeTLS(ln, "", "") }()
	cli := g.nets[1]
	g.client = &nethttp.Client{Timeout: time.Minute, Transport: &nethttp.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			return cli.DialContext(ctx, network, addr)
		},
		TLSClientConfig:   &gotls.Config{InsecureSkipVerify: true, ServerName: "peer", MinVersion: gotls.VersionTLS13},
		DisableKeepAlives: true,
	}}
	g.url = "https://" + addrs[0].String() + "/f"
	return g, nil
}

func (g *gvisorPair) pump(from, to tun.Device) {
	defer g.wg.Done()
	bufs := [][]byte{make([]byte, 65536)}
	sizes := []int{0}
	out := [][]byte{nil}
	for {
		n, err := from.Read(bufs, sizes, 0)
		if err != nil {
			return
		}
		if n == 1 && sizes[0] > 0 {
			out[0] = bufs[0][:sizes[0]]
			if _, err := to.Write(out, 0); err != nil && errors.Is(err, net.ErrClosed) {
				return
			}
		}
	}
}

func (g *gvisorPair) get(size int) error {
	resp, err := g.client.Get(g.url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	n, err := io.Copy(io.Discard, resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != 200 || int(n) != size {
		return fmt.Errorf("status %d, %d of %d bytes", resp.StatusCode, n, size)
	}
	return nil
}

func (g *gvisorPair) close() {
	g.srv.Close()
	for _, d := range g.devs {
		d.Close()
	}
	g.wg.Wait()
}
