package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"netcard/card"
	"netcard/host"
	"netcard/link"
	"netcard/ppp"
	"netcard/store"
)

func parseIP4(s, name string) ([4]byte, error) {
	if s == "" {
		return [4]byte{}, nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil || !a.Is4() {
		return [4]byte{}, usageError{fmt.Errorf("bad %s %q: want an IPv4 address", name, s)}
	}
	return a.As4(), nil
}

// authFlags adds PPP authentication flags.
type authOpts struct {
	require      *string
	peerUser     *string
	peerSecret   *string
	user, secret *string
}

func addAuthFlags(fs interface {
	String(name, value, usage string) *string
}) authOpts {
	return authOpts{
		require:    fs.String("auth", "", "demand authentication of the peer: pap or chap"),
		peerUser:   fs.String("auth-user", "host", "the peer's user name when --auth is set"),
		peerSecret: fs.String("auth-secret", "", "the peer's secret when --auth is set"),
		user:       fs.String("user", "netcard", "our PAP/CHAP name when the peer demands authentication"),
		secret:     fs.String("secret", "", "our PAP/CHAP secret when the peer demands authentication"),
	}
}

func (a authOpts) apply(cfg *ppp.Config) error {
	switch strings.ToLower(*a.require) {
	case "":
	case "pap":
		cfg.RequireAuth = ppp.AuthPAP
	case "chap":
		cfg.RequireAuth = ppp.AuthCHAP
	default:
		return usageError{fmt.Errorf("bad --auth %q: want pap or chap", *a.require)}
	}
	if cfg.RequireAuth != ppp.AuthNone {
		if *a.peerSecret == "" {
			return usageError{errors.New("--auth needs --auth-secret")}
		}
		u, s := *a.peerUser, *a.peerSecret
		cfg.Secrets = func(name string) (string, bool) {
			if name == u {
				return s, true
			}
			return "", false
		}
	}
	cfg.User, cfg.Secret = *a.user, *a.secret
	return nil
}

func runServe(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("serve", stderr)
	spec := fs.String("link", "stdio", "serial link: stdio, pty, serial:/dev/ttyUSB0[@baud], tcp:HOST:PORT, tcp-listen:HOST:PORT; or tap:NAME (Ethernet)")
	path := storeFlag(fs)
	baud := fs.Int("baud", 0, "pace the line to this rate (8N1) in addition to the device's own; 0 = no pacing")
	pcapFile := fs.String("pcap", "", "write the link's frames (PPP, or Ethernet with LINKTYPE_ETHERNET) to this pcap `file`")
	localIP := fs.String("local-ip", "", "address the card proposes (default: take the host's)")
	peerIP := fs.String("peer-ip", "", "address the card assigns the host if asked")
	profName := fs.String("profile", "card", "memory profile: tiny, card or host")
	ip6 := fs.Bool("ipv6", false, "run IPv6 beside IPv4 (IPV6CP, SLAAC)")
	echo := fs.Duration("echo", 10*time.Second, "LCP keepalive interval (0 = off)")
	appList := fs.String("apps", "", "applications to run, comma-separated: built-ins home,status,vault,admin,upload and examples sign,totp (default: the store's card.apps, else all built-ins)")
	auth := addAuthFlags(fs)
	eo := addEthFlags(fs)
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
	var pc ppp.Config
	if err := auth.apply(&pc); err != nil {
		return err
	}
	lip, err := parseIP4(*localIP, "--local-ip")
	if err != nil {
		return err
	}
	pip, err := parseIP4(*peerIP, "--peer-ip")
	if err != nil {
		return err
	}
	ec, err := eo.config(*spec)
	if err != nil {
		return err
	}
	st, issued, err := openOrCreate(*path, store.DefaultSize, card.DefaultPersonalisation())
	if err != nil {
		return err
	}
	defer st.Close()
	if issued != nil {
		log.Info("card image created; key generated on the card", "store", *path)
		// stdout may be the serial line (stdio): the letter goes to stderr,
		// outside the log.
		pinLetter(stderr, *path, issued)
	}
	openCapture := openPcap
	if ec != nil {
		openCapture = openEthPcap
	}
	tap, closePcap, err := openCapture(*pcapFile)
	if err != nil {
		return err
	}
	defer closePcap()
	builtins, extra, err := selectApps(*appList, st)
	if err != nil {
		return usageError{err}
	}
	if ec != nil {
		ec.Tap, tap = tap, nil
	}
	c, err := card.New(card.Config{
		Builtins: builtins, Apps: extra,
		Profile: prof, Store: st, Rand: rand.Reader, Clock: time.Now,
		LocalIP: lip, PeerIP: pip, RequireAuth: pc.RequireAuth, Secrets: pc.Secrets,
		User: pc.User, Secret: pc.Secret, EchoInterval: *echo, Tap: tap, Log: log,
		Ethernet: ec,
	})
	if err != nil {
		return err
	}
	var port link.Port
	var info string
	if strings.HasPrefix(*spec, "tap:") {
		port, info, err = openTAP(*spec)
		if err != nil {
			return err
		}
		log.Info("ethernet on TAP device", "dev", info)
	} else {
		port, info, err = link.ParseSpec(*spec)
	}
	if err != nil {
		return usageError{err}
	}
	defer port.Close()
	if *baud > 0 {
		port = link.Pace(port, *baud)
	}
	switch {
	case *spec == "pty":
		// stdout may be the line itself only with stdio; here it is free.
		fmt.Fprintf(stdout, "card serial line: %s\n", info)
		fmt.Fprintf(stdout, "attach a Linux host: pppd %s 115200 nodetach noauth local nocrtscts 10.64.0.1:10.64.0.2\n", info)
	case strings.HasPrefix(*spec, "tcp-listen:"):
		log.Info("listening", "addr", info)
	}
	r := card.NewRunner(c, port, nil)
	r.Do(func(now time.Time) { c.Start(now) })
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// A write blocked on the line (a peer that stopped reading) does not
	// see ctx: close the port if the card has not stopped in time after a
	// signal, so that shutdown always finishes.
	defer context.AfterFunc(ctx, func() {
		time.AfterFunc(host.CloseTimeout, func() { port.Close() })
	})()
	err = r.Run(ctx)
	if err == nil {
		// Terminate the link politely: give LCP Terminate a moment on the line.
		r.Do(func(now time.Time) { c.Stop(now) })
		tctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		r.Run(tctx)
		cancel()
	}
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) {
		return err
	}
	return nil
}
