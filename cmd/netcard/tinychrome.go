package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"time"

	"netcard/card"
	"netcard/host"
	"netcard/link"
	"netcard/store"
)

// tinyChromium is the bench's tiny_chromium_ok row, measured in the same
// run (not copied from a test): a card on the Tiny profile in this process
// (the line an unpaced pipe, the host gVisor's netstack, as in `netcard
// demo`), headless Chromium loading https://127.0.0.1:port/status through
// a loopback forwarder, trusting the card's key (SPKI pin). OK is true
// when the DOM Chromium dumps is the card's status page naming the Tiny
// profile, false when it is not (Note: Chromium's error code, the card's
// TLS failures), null when Chromium is not installed. The same check runs
// as e2e TestChromiumTiny.
type tinyChromium struct {
	OK *bool `json:"tiny_chromium_ok"`
	// HelloBytes are the ClientHello records Chromium sent (header
	// included), seen by the forwarder: larger than Tiny's receive buffer.
	HelloBytes []int  `json:"tiny_chromium_clienthello_record_bytes,omitempty"`
	Version    string `json:"tiny_chromium_version,omitempty"`
	Note       string `json:"tiny_chromium_note,omitempty"`
}

var chromiumErrRE = regexp.MustCompile(`"errorCode":"([A-Z_]+)"`)

// measureTinyChromium runs the tiny_chromium_ok check once.
func measureTinyChromium() tinyChromium {
	bin, err := exec.LookPath("chromium")
	if err != nil {
		return tinyChromium{Note: "not measured: chromium is not installed"}
	}
	var r tinyChromium
	fail := func(format string, a ...any) tinyChromium {
		no := false
		r.OK, r.Note = &no, fmt.Sprintf(format, a...)
		return r
	}
	if out, err := exec.Command(bin, "--version").Output(); err == nil {
		r.Version = strings.TrimSpace(string(out[bytes.LastIndexByte(bytes.TrimSpace(out), '\n')+1:]))
	}
	dir, err := os.MkdirTemp("", "netcard-tiny-chromium-")
	if err != nil {
		return fail("%v", err)
	}
	defer os.RemoveAll(dir)
	st, _, err := openOrCreate(filepath.Join(dir, "card.img"), store.DefaultSize, card.DefaultPersonalisation())
	if err != nil {
		return fail("%v", err)
	}
	defer st.Close()
	c, err := card.New(card.Config{Profile: card.TinyProfile, Store: st, Rand: rand.Reader, Clock: time.Now})
	if err != nil {
		return fail("%v", err)
	}
	cardEnd, hostEnd := link.Pipe(link.DefaultPipeBuf)
	run := card.NewRunner(c, cardEnd, nil)
	run.Do(func(now time.Time) { c.Start(now) })
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run.Run(ctx) }()
	defer func() { cancel(); cardEnd.Close(); <-done }()
	ns, err := host.NewNetstack(hostEnd, host.Config{})
	if err != nil {
		return fail("%v", err)
	}
	defer ns.Close()
	upCtx, upCancel := context.WithTimeout(ctx, 30*time.Second)
	err = ns.WaitUp(upCtx)
	upCancel()
	if err != nil {
		return fail("the link did not come up: %v", err)
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fail("%v", err)
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	defer ln.Close()
	var mu sync.Mutex
	life, endLife := context.WithCancel(ctx)
	defer endLife()
	wg.Add(1)
	go func() {
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
				defer context.AfterFunc(life, func() { conn.Close() })()
				hdr := make([]byte, 5)
				if _, err := io.ReadFull(conn, hdr); err != nil {
					return // a preconnected socket Chromium did not use
				}
				if hdr[0] == 22 {
					mu.Lock()
					r.HelloBytes = append(r.HelloBytes, 5+(int(hdr[3])<<8|int(hdr[4])))
					mu.Unlock()
				}
				dctx, dcancel := context.WithTimeout(life, 30*time.Second)
				cc, err := ns.Net().DialContextTCPAddrPort(dctx, netip.AddrPortFrom(ns.PeerIP(), 443))
				dcancel()
				if err != nil {
					return
				}
				defer cc.Close()
				defer context.AfterFunc(life, func() { cc.Close() })()
				if _, err := cc.Write(hdr); err == nil {
					splice(conn, cc)
				}
			}()
		}
	}()

	leaf, err := x509.ParseCertificate(st.Certificate()[0])
	if err != nil {
		return fail("%v", err)
	}
	spki := sha256.Sum256(leaf.RawSubjectPublicKeyInfo)
	url := "https://" + ln.Addr().String() + "/status"
	dom, stderr, err := runChromium(bin, dir, "--ignore-certificate-errors-spki-list="+base64.StdEncoding.EncodeToString(spki[:]), "--dump-dom", url)
	endLife()
	var failures uint64
	run.Do(func(now time.Time) {
		for _, k := range c.Status(now).Counters {
			if k.Layer == "TLS" && k.Name == "failures" {
				failures = k.Value
			}
		}
	})
	mu.Lock()
	defer mu.Unlock()
	switch {
	case err != nil:
		return fail("chromium: %v: %.300s", err, stderr)
	case strings.Contains(dom, "<title>netcard status</title>") && strings.Contains(dom, "<td>tiny</td>"):
		yes := true
		r.OK = &yes
		return r
	}
	code := "no error code"
	if m := chromiumErrRE.FindStringSubmatch(dom); m != nil {
		code = m[1]
	}
	return fail("Chromium did not render /status: %s; the card counted %d TLS failures", code, failures)
}

// runChromium runs headless Chromium once with a fresh profile under home;
// the browser and every process it spawned (its own process group) are
// killed when it returns or after 90 s.
func runChromium(bin, home string, extra ...string) (stdout, stderr string, err error) {
	args := []string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--disable-dev-shm-usage", "--user-data-dir=" + filepath.Join(home, "chromium")}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, append(args, extra...)...)
	cmd.Env = append(os.Environ(), "HOME="+home)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err = cmd.Run()
	if cmd.Process != nil {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) // helpers left behind, if any
	}
	return o.String(), e.String(), err
}
