package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"netcard/card"
	"netcard/host"
	"netcard/ipv6"
	"netcard/link"
	"netcard/store"
)

func runDemo(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("demo", stderr)
	path := storeFlag(fs)
	baud := fs.Int("baud", 115200, "emulated serial line rate (8N1); 0 = unlimited")
	httpsAddr := fs.String("https", "127.0.0.1:8443", "loopback `address` forwarded to the card's HTTPS port 443")
	httpAddr := fs.String("http", "127.0.0.1:8080", "loopback `address` forwarded to the card's HTTP port 80")
	profName := fs.String("profile", "card", "memory profile: tiny, card or host")
	ip6 := fs.Bool("ipv6", false, "run IPv6 too: the card gets an address by SLAAC and is also reachable over IPv6")
	https6Addr := fs.String("https6", "[::1]:8443", "with --ipv6: loopback `address` forwarded to the card's HTTPS port over IPv6")
	pcapFile := fs.String("pcap", "", "write the serial line's PPP frames to this pcap `file`")
	statusLine := fs.Bool("status-line", true, "show a live one-line status when stderr is a terminal")
	framing := fs.String("framing", "ppp", "the emulated link: ppp, or eth (Ethernet frames; the host is gVisor on an Ethernet NIC, the card its DHCP server)")
	mkLog := logFlags(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	log, err := mkLog(stderr)
	if err != nil {
		return err
	}
	prof, ok := card.ProfileByName(*profName)
	if !ok {
		return usageError{fmt.Errorf("unknown profile %q", *profName)}
	}
	if *ip6 {
		prof = prof.WithIPv6()
	}
	st, issued, err := openOrCreate(*path, store.DefaultSize, card.DefaultPersonalisation())
	if err != nil {
		return err
	}
	defer st.Close()
	certPath := strings.TrimSuffix(*path, filepath.Ext(*path)) + "-cert.pem"
	if err := os.WriteFile(certPath, certPEM(st), 0o644); err != nil {
		return err
	}
	if issued != nil {
		log.Info("card image created; key generated on the card", "store", *path)
	}
	// The card's port-80 redirect must name the forwarded HTTPS address.
	if v, _ := st.Config("https.authority"); v != *httpsAddr {
		if err := st.SetConfig("https.authority", *httpsAddr); err != nil {
			return err
		}
	}

	// Listen first, so a busy port is reported before anything starts.
	lnS, err := net.Listen("tcp", *httpsAddr)
	if err != nil {
		return err
	}
	defer lnS.Close()
	lnH, err := net.Listen("tcp", *httpAddr)
	if err != nil {
		return err
	}
	defer lnH.Close()

	var ec *card.EthConfig
	openCapture := openPcap
	switch *framing {
	case "ppp":
	case "eth":
		ec, openCapture = &card.EthConfig{}, openEthPcap
	default:
		return usageError{fmt.Errorf("bad --framing %q: want ppp or eth", *framing)}
	}
	tap, closePcap, err := openCapture(*pcapFile)
	if err != nil {
		return err
	}
	defer closePcap()
	if ec != nil {
		ec.Tap, tap = tap, nil
	}

	c, err := card.New(card.Config{Profile: prof, Store: st, Rand: rand.Reader, Clock: time.Now, Tap: tap, Log: log.With("side", "card"),
		Ethernet: ec})
	if err != nil {
		return err
	}
	a, b := link.Pipe(link.DefaultPipeBuf)
	var cardEnd, hostEnd link.Port = a, b
	if *baud > 0 {
		cardEnd, hostEnd = link.Pace(a, *baud), link.Pace(b, *baud)
	}
	r := card.NewRunner(c, cardEnd, nil)
	r.Do(func(now time.Time) { c.Start(now) })
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	runCtx, cancelRun := context.WithCancel(context.Background())
	runDone := make(chan error, 1)
	go func() { runDone <- r.Run(runCtx) }()

	var (
		cardIP    netip.Addr
		dial      func(ctx context.Context, to netip.AddrPort) (net.Conn, error)
		closeHost func() error
		linkName  = "PPP"
	)
	if ec != nil {
		// The in-process host on Ethernet: gVisor with the address the
		// card's DHCP server leases (gVisor has no DHCP client).
		peer, err := host.NewEthPeer(hostEnd, host.EthPeerConfig{})
		if err != nil {
			cancelRun()
			return err
		}
		cardIP, dial, closeHost, linkName = netip.MustParseAddr("10.0.3.1"), peer.DialTCP, peer.Close, "Ethernet"
		log.Info("link up", "card", cardIP, "host", peer.Addr(), "baud", *baud)
	} else {
		// The host's queue toward the line holds about a second of line time:
		// a flood (retransmissions of junk, issue 13) must not sit for tens of
		// seconds ahead of a legitimate client's packets.
		ns, err := host.NewNetstack(hostEnd, host.Config{IPv6: *ip6, QueueBytes: host.LineQueueBytes(*baud, 1500)})
		if err != nil {
			cancelRun()
			return err
		}
		upCtx, cancelUp := context.WithTimeout(ctx, 30*time.Second)
		err = ns.WaitUp(upCtx)
		cancelUp()
		if err != nil {
			ns.Close()
			cancelRun()
			return fmt.Errorf("the link did not come up: %w", err)
		}
		cardIP, closeHost = ns.PeerIP(), ns.Close
		dial = func(ctx context.Context, to netip.AddrPort) (net.Conn, error) {
			return ns.Net().DialContextTCPAddrPort(ctx, to)
		}
		log.Info("link up", "card", cardIP, "host", ns.LocalIP(), "baud", *baud)
	}

	// life ends at shutdown: it cancels dials and closes every forwarded
	// connection, so that no client can hold the shutdown up.
	life, endLife := context.WithCancel(ctx)
	defer endLife()
	var wg sync.WaitGroup
	forward := func(ln net.Listener, cardIP netip.Addr, port uint16) {
		defer wg.Done()
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer conn.Close()
				dctx, cancel := context.WithTimeout(life, 30*time.Second)
				cc, err := dial(dctx, netip.AddrPortFrom(cardIP, port))
				cancel()
				if err != nil {
					log.Warn("cannot reach the card", "err", err)
					return
				}
				defer cc.Close()
				defer context.AfterFunc(life, func() { conn.Close(); cc.Close() })()
				splice(conn, cc)
			}()
		}
	}
	wg.Add(2)
	go forward(lnS, cardIP, 443)
	go forward(lnH, cardIP, 80)
	var url6 string
	if *ip6 {
		if url6, err = demoIPv6(ctx, r, c, *https6Addr, func(ln net.Listener, a netip.Addr) {
			wg.Add(1)
			go forward(ln, a, 443)
		}); err != nil {
			log.Warn("no IPv6", "err", err)
		}
	}

	abs, _ := filepath.Abs(certPath)
	fmt.Fprintf(stdout, "netcard ready: https://%s/ (card %s over %s at %s)\n", lnS.Addr(), cardIP, linkName, baudText(*baud))
	if url6 != "" {
		fmt.Fprintf(stdout, "netcard ready over IPv6: %s\n", url6)
	}
	fmt.Fprintf(stdout, "certificate: %s\n", abs)
	fmt.Fprintf(stdout, "try: curl --cacert %s https://%s/status\n", abs, lnS.Addr())
	if issued != nil {
		pinLetter(stdout, *path, issued)
	} else {
		reusedNote(stdout, *path)
	}
	fmt.Fprintf(stdout, "Ctrl-C stops the card.\n")

	if *statusLine && isTerminal(stderr) {
		go liveStatus(ctx, stderr, r, c)
	}
	select {
	case <-ctx.Done():
	case err = <-runDone:
		runDone <- err
	}
	log.Info("shutting down")
	endLife()
	lnS.Close()
	lnH.Close()
	closeHost()
	cancelRun()
	cardEnd.Close() // ends a write of the card's runner blocked on the line
	select {
	case rerr := <-runDone:
		if rerr != nil && !errors.Is(rerr, io.ErrClosedPipe) && err == nil {
			log.Debug("runner", "err", rerr)
		}
	case <-time.After(host.CloseTimeout):
		log.Warn("the card's runner did not stop; exiting anyway")
	}
	wg.Wait()
	return st.Close()
}

func baudText(b int) string {
	if b <= 0 {
		return "unlimited speed"
	}
	return fmt.Sprintf("%d baud", b)
}

// splice copies both ways until either side ends.
func splice(a, b net.Conn) {
	done := make(chan struct{}, 2)
	cp := func(dst, src net.Conn) {
		io.Copy(dst, src)
		if cw, ok := dst.(interface{ CloseWrite() error }); ok {
			cw.CloseWrite()
		} else {
			dst.Close()
		}
		done <- struct{}{}
	}
	go cp(a, b)
	go cp(b, a)
	<-done
	<-done
}

func openPcap(path string) (func(bool, []byte), func(), error) {
	if path == "" {
		return nil, func() {}, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, nil, err
	}
	w, err := link.NewPcap(f)
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	var mu sync.Mutex
	tap := w.Tap()
	return func(sent bool, frame []byte) {
			mu.Lock()
			tap(sent, frame)
			mu.Unlock()
		}, func() {
			mu.Lock()
			f.Close()
			mu.Unlock()
		}, nil
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// liveStatus rewrites one terminal line every second.
func liveStatus(ctx context.Context, w io.Writer, r *card.Runner, c *card.Card) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			fmt.Fprint(w, "\r\033[K")
			return
		case <-t.C:
		}
		var line string
		r.Do(func(now time.Time) {
			ts := c.TCP().Stats()
			state := "down"
			if c.Up() {
				state = "up"
			}
			if e := c.Ethernet(); e != nil {
				s := e.Stats()
				line = fmt.Sprintf("link %s  frames %d/%d  ARP answered %d  tcp accepted %d", state, s.InFrames, s.OutFrames, s.ARPRepliesOut, ts.ConnsAccepted)
				return
			}
			s := c.Link().Stats()
			line = fmt.Sprintf("link %s  line in %d B  out %d B  frames %d/%d  tcp accepted %d", state, s.BytesIn, s.BytesOut, s.FramesIn, s.FramesOut, ts.ConnsAccepted)
		})
		fmt.Fprintf(w, "\r\033[K%s", line)
	}
}

var _ = slog.Default

// demoIPv6 waits for the card's global IPv6 address (SLAAC from the
// in-process host's advertisement; on Ethernet its link-local one), listens on addr and starts forwarding
// it to the card over IPv6; it returns the URL to print.
func demoIPv6(ctx context.Context, r *card.Runner, c *card.Card, addr string, start func(net.Listener, netip.Addr)) (string, error) {
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	var a netip.Addr
	if err := r.WaitFor(wctx, func(time.Time) bool {
		if g := c.IP6().Global(); g != (ipv6.Addr{}) {
			a = g.Netip()
		} else if ll := c.IP6().LinkLocal(); ll != (ipv6.Addr{}) && c.Ethernet() != nil {
			// On Ethernet the in-process host sends no router
			// advertisement: the link-local address (after DAD) it is.
			a = ll.Netip()
		}
		return a.IsValid()
	}); err != nil {
		return "", fmt.Errorf("the card got no IPv6 address: %w", err)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", err
	}
	start(ln, a)
	go func() { <-ctx.Done(); ln.Close() }()
	return fmt.Sprintf("https://%s/ (card %s)", ln.Addr(), a), nil
}
