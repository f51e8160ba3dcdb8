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
	pcapFile := fs.String("pcap", "", "write the serial line's PPP frames to this pcap `file`")
	statusLine := fs.Bool("status-line", true, "show a live one-line status when stderr is a terminal")
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

	tap, closePcap, err := openPcap(*pcapFile)
	if err != nil {
		return err
	}
	defer closePcap()

	c, err := card.New(card.Config{Profile: prof, Store: st, Rand: rand.Reader, Clock: time.Now, Tap: tap, Log: log.With("side", "card")})
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

	ns, err := host.NewNetstack(hostEnd, host.Config{})
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
	cardIP := ns.PeerIP()
	log.Info("link up", "card", cardIP, "host", ns.LocalIP(), "baud", *baud)

	// shutCtx ends at shutdown: it closes every forwarded connection, so
	// that no client holding one open (a stranger's idle connection, a
	// half-sent request) keeps the demo from stopping (issue 13 review).
	shutCtx, shut := context.WithCancel(ctx)
	defer shut()
	var wg sync.WaitGroup
	forward := func(ln net.Listener, port uint16) {
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
				defer context.AfterFunc(shutCtx, func() { conn.Close() })()
				dctx, cancel := context.WithTimeout(shutCtx, 30*time.Second)
				cc, err := ns.Net().DialContextTCPAddrPort(dctx, netip.AddrPortFrom(cardIP, port))
				cancel()
				if err != nil {
					log.Warn("cannot reach the card", "err", err)
					return
				}
				defer cc.Close()
				defer context.AfterFunc(shutCtx, func() { cc.Close() })()
				splice(conn, cc)
			}()
		}
	}
	wg.Add(2)
	go forward(lnS, 443)
	go forward(lnH, 80)

	abs, _ := filepath.Abs(certPath)
	fmt.Fprintf(stdout, "netcard ready: https://%s/ (card %s over PPP at %s)\n", lnS.Addr(), cardIP, baudText(*baud))
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
	shut()
	lnS.Close()
	lnH.Close()
	ns.Close()
	cancelRun()
	cardEnd.Close()
	if rerr := <-runDone; rerr != nil && !errors.Is(rerr, io.ErrClosedPipe) && err == nil {
		log.Debug("runner", "err", rerr)
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
			s := c.Link().Stats()
			ts := c.TCP().Stats()
			state := "down"
			if c.Up() {
				state = "up"
			}
			line = fmt.Sprintf("link %s  line in %d B  out %d B  frames %d/%d  tcp accepted %d", state, s.BytesIn, s.BytesOut, s.FramesIn, s.FramesOut, ts.ConnsAccepted)
		})
		fmt.Fprintf(w, "\r\033[K%s", line)
	}
}

var _ = slog.Default
