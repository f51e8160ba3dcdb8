package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"netcard/host"
	"netcard/link"
)

func runHost(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("host", stderr)
	spec := fs.String("link", "", "serial link to the card: pty, serial:/dev/ttyUSB0[@baud], tcp:HOST:PORT, tcp-listen:HOST:PORT, stdio")
	tunName := fs.String("tun", "netcard0", "TUN device to create (needs root)")
	netns := fs.String("netns", "", "create the TUN device in this network namespace")
	localIP := fs.String("local-ip", "10.64.0.1", "the host's address on the link")
	peerIP := fs.String("peer-ip", "10.64.0.2", "the address assigned to the card")
	baud := fs.Int("baud", 0, "pace the line (8N1); 0 = no pacing")
	ip6 := fs.Bool("ipv6", false, "bridge IPv6 too (IPV6CP; the card is announced "+host.DefaultIPv6Prefix.String()+")")
	vj := fs.Bool("vj", true, "negotiate Van Jacobson TCP/IP header compression (RFC 1144)")
	auth := addAuthFlags(fs)
	mkLog := logFlags(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *spec == "" {
		return usageError{errors.New("--link is required")}
	}
	log, err := mkLog(stderr)
	if err != nil {
		return err
	}
	var cfg host.TUNConfig
	if cfg.PPP.LocalIP, err = parseIP4(*localIP, "--local-ip"); err != nil {
		return err
	}
	if cfg.PPP.PeerIP, err = parseIP4(*peerIP, "--peer-ip"); err != nil {
		return err
	}
	if err := auth.apply(&cfg.PPP); err != nil {
		return err
	}
	if !*vj {
		cfg.PPP.VJSlots = -1
	}
	cfg.Netns = *netns
	cfg.IPv6 = *ip6
	port, info, err := link.ParseSpec(*spec)
	if err != nil {
		return usageError{err}
	}
	if *spec == "pty" {
		fmt.Fprintf(stdout, "host serial line: %s\n", info)
	}
	if *baud > 0 {
		port = link.Pace(port, *baud)
	}
	t, err := host.NewTUN(port, *tunName, cfg)
	if err != nil {
		port.Close()
		return err
	}
	defer t.Close()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	upCtx, cancel := context.WithTimeout(ctx, 60*time.Second)
	err = t.WaitUp(upCtx)
	cancel()
	if err != nil {
		return fmt.Errorf("the link did not come up: %w", err)
	}
	// With --link stdio, stdout is the serial line itself: never write text on it.
	msgOut := stdout
	if *spec == "stdio" {
		msgOut = stderr
	}
	fmt.Fprintf(msgOut, "link up: %s is the card (via %s); host %s\n", t.PeerIP(), *tunName, t.LocalIP())
	log.Info("link up", "card", t.PeerIP(), "tun", *tunName)
	<-ctx.Done()
	return nil
}
