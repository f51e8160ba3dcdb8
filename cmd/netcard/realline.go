package main

import (
	"context"
	"crypto/rand"
	stdtls "crypto/tls"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"netcard/card"
	"netcard/host"
	"netcard/host/peers"
	"netcard/link"
	"netcard/ppp"
	"netcard/sim"
	"netcard/store"
)

// realLine is one download over the real kernel path.
type realLine struct {
	CPU        time.Duration // this process's CPU time (user + system) during the download: server and host bridge
	Share      float64       // goodput ÷ line byte rate (baud/10), from curl's times
	BytesShare float64       // body octets ÷ line octets the card sent meanwhile (handshake included)
	Goodput    float64       // body bytes/s
	LineBytes  uint64
	Frames     uint64
	VJFrames   uint64 // frames that arrived VJ-compressed
	Counters   string // both ends' PPP, VJ and TCP counters, for the log
	// Account is where the card's line time went while the response
	// crossed (sim.Ledger over the octets the card put on the line); OK
	// false if the ledger could not find the response.
	Account   sim.LineAccount
	AccountOK bool
}

// realNice is the scheduling priority (nice value) every thread of this
// process gets while a paced line runs, if it may (root): the paced line
// loses for good the time its writer sleeps past the pacer's 10 ms slack,
// and on a busy machine a timer at the default priority wakes 100–250 ms
// late (the ledger measured it: idle in the middle of frames). The process
// needs a few per cent of a core at 115200 baud. 0: leave it.
var realNice = -10

// raisePriority sets every thread of this process to nice value n and
// returns a function that puts them back to 0 (threads started meanwhile
// inherit the value from the thread that made them).
func raisePriority(n int) func() {
	set := func(v int) {
		tasks, err := os.ReadDir("/proc/self/task")
		if err != nil {
			return
		}
		for _, t := range tasks {
			if tid, err := strconv.Atoi(t.Name()); err == nil {
				_ = syscall.Setpriority(syscall.PRIO_PROCESS, tid, v)
			}
		}
	}
	if n == 0 || os.Geteuid() != 0 {
		return func() {}
	}
	set(n)
	return func() { set(0) }
}

// doublePace paces the reads of the rig's line too (as it did before the
// line got one clock per direction); for comparisons.
var doublePace = false

// writePaced is a port whose writes go through w (a paced port over the
// same port) and whose reads are not paced.
type writePaced struct {
	link.Port
	w link.Port
}

func (p writePaced) Write(b []byte) (int, error) { return p.w.Write(b) }

func (p writePaced) Close() error { return p.w.Close() }

// ledgerPort records the octets written to p, with the time each write
// returned, in a Ledger: under link.Pace a write returns when its chunk
// has crossed the line.
type ledgerPort struct {
	link.Port
	mu      sync.Mutex
	led     sim.Ledger
	blocked time.Duration // writes that waited for the pipe (the host not reading)
}

// peerTap records in lp's Ledger when the card receives octets: it wraps
// the paced port the card reads.
type peerTap struct {
	link.Port
	lp *ledgerPort
}

func (pt peerTap) Read(b []byte) (int, error) {
	n, err := pt.Port.Read(b)
	if pt.lp.led.Baud <= 0 {
		return n, err // unpaced: no ledger (its work would count as the card's CPU)
	}
	pt.lp.mu.Lock()
	pt.lp.led.Peer(time.Now(), b[:n])
	pt.lp.mu.Unlock()
	return n, err
}

func (lp *ledgerPort) Write(b []byte) (int, error) {
	if lp.led.Baud <= 0 {
		// Unpaced: no line to account for, and the ledger's work would be
		// charged to the card's CPU per byte (bulk_ns_per_byte_real_card).
		return lp.Port.Write(b)
	}
	t0 := time.Now()
	n, err := lp.Port.Write(b)
	if d := time.Since(t0); d > time.Millisecond {
		lp.blocked += d
	}
	lp.mu.Lock()
	lp.led.Feed(time.Now(), b[:n])
	lp.mu.Unlock()
	return n, err
}

// measureRealLine downloads size bytes over HTTPS from a Card-profile card
// (in this process; tune, if not nil, adjusts its profile) on a line paced at baud
// both ways (each direction by its writer: see doublePace), through the
// real kernel path: our PPP in host role on a TUN device in a fresh
// network namespace (what `netcard host --tun` does), curl in the
// namespace; the process runs at nice realNice meanwhile, and a Ledger
// accounts for the card's line octets and idle time (Account). vj false turns VJ header compression off on the
// host side (the card then compresses nothing and is sent nothing
// compressed). Needs root, ip and curl.
func measureRealLine(size, baud int, vj bool, tune func(*card.Profile)) (realLine, error) {
	return measureReal(size, baud, vj, tune, false)
}

// measureReal is measureRealLine; gvisor replaces the card by the peer the
// issue compares with: gVisor's netstack behind our PPP (card role) serving
// the same file with crypto/tls and net/http, on the same path.
func measureReal(size, baud int, vj bool, tune func(*card.Profile), gvisor bool) (realLine, error) {
	var res realLine
	for _, prog := range []string{"ip", "curl"} {
		if _, err := exec.LookPath(prog); err != nil {
			return res, fmt.Errorf("%s is needed: %w", prog, err)
		}
	}
	if baud > 0 {
		defer raisePriority(realNice)()
	}
	lineTime := 10 * time.Second
	if baud > 0 {
		lineTime = time.Duration(size/(baud/10)) * time.Second
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*lineTime+time.Minute)
	defer cancel()
	dir, err := os.MkdirTemp("", "netcard-realline-")
	if err != nil {
		return res, err
	}
	defer os.RemoveAll(dir)
	img, certFile := filepath.Join(dir, "card.img"), filepath.Join(dir, "card.pem")
	st, err := store.Create(img, 2*size+128<<10, rand.Reader)
	if err != nil {
		return res, err
	}
	defer st.Close()
	if err := card.Personalise(st, card.DefaultPersonalisation(), rand.Reader, time.Now()); err != nil {
		return res, err
	}
	body := make([]byte, size)
	rand.Read(body)
	if err := st.PutFile("f", "application/octet-stream", body); err != nil {
		return res, err
	}
	var pemData []byte
	for _, der := range st.Certificate() {
		pemData = append(pemData, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})...)
	}
	if err := os.WriteFile(certFile, pemData, 0o644); err != nil {
		return res, err
	}
	st.SetClock(time.Now)
	prof := card.CardProfile
	if tune != nil {
		tune(&prof)
	}
	a, b := link.Pipe(8192)
	lp := &ledgerPort{Port: a}
	lp.led.Baud = baud
	// Each direction of the line has one clock: its writer's. A write
	// returns when its bytes have crossed; the reader then finds them in
	// the pipe (its UART's buffer) at once. Pacing the reads as well
	// (link.Pace paces both ways of a port) would pace every direction
	// twice: a reader late by more than the pacer's 10 ms slack (a busy
	// machine) could then never catch up while the writer keeps the line
	// busy, and the line time it lost would count against the card.
	var ca, hb link.Port = lp, b
	if doublePace {
		ca, hb = link.Pace(lp, baud), link.Pace(b, baud)
	} else if baud > 0 {
		ca = writePaced{Port: lp, w: link.Pace(lp, baud)}
		hb = writePaced{Port: b, w: link.Pace(b, baud)}
	}
	cardCounters := func() string { return "" }
	if gvisor {
		signer, err := st.Signer()
		if err != nil {
			return res, err
		}
		pc := ppp.Config{LocalIP: [4]byte{10, 64, 0, 2}}
		if !vj {
			pc.VJSlots = -1
		}
		gn, err := host.NewNetstack(ca, host.Config{Card: true, PPP: pc})
		if err != nil {
			return res, err
		}
		defer gn.Close()
		ln, err := gn.Net().ListenTCPAddrPort(netip.MustParseAddrPort("10.64.0.2:443"))
		if err != nil {
			return res, err
		}
		defer ln.Close()
		tl := stdtls.NewListener(ln, &stdtls.Config{Certificates: []stdtls.Certificate{{Certificate: st.Certificate(), PrivateKey: signer}}})
		go http.Serve(tl, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/octet-stream")
			w.Write(body)
		}))
	} else {
		c, err := card.New(card.Config{Profile: prof, Store: st, Rand: rand.Reader, Clock: time.Now})
		if err != nil {
			return res, err
		}
		r := card.NewRunner(c, peerTap{ca, lp}, nil)
		cardCounters = func() (s string) {
			r.Do(func(time.Time) {
				ts, ls := c.TCP().Stats(), c.Link().Stats()
				s = fmt.Sprintf("card: TCP retransmits %d, timeouts %d, fast retransmits %d, checksum drops %d; PPP bad FCS %d; VJ %+v",
					ts.Retransmits, ts.Timeouts, ts.FastRetransmits, ts.DropChecksum, ls.BadFCS, c.Link().VJStats())
			})
			return s
		}
		r.Do(func(now time.Time) { c.Start(now) })
		rctx, rcancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- r.Run(rctx) }()
		defer func() { rcancel(); ca.Close(); <-done }()
	}

	ns, err := peers.NewNetns()
	if err != nil {
		return res, err
	}
	defer ns.Close()
	var cfg host.TUNConfig
	cfg.Netns = ns.Name
	cfg.PPP.LocalIP, cfg.PPP.PeerIP = [4]byte{10, 64, 0, 1}, [4]byte{10, 64, 0, 2}
	if !vj {
		cfg.PPP.VJSlots = -1
	}
	tun, err := host.NewTUN(hb, "nc0", cfg)
	if err != nil {
		return res, err
	}
	defer tun.Close()
	wctx, wcancel := context.WithTimeout(ctx, 30*time.Second)
	defer wcancel()
	if err := tun.WaitUp(wctx); err != nil {
		return res, err
	}
	vjIn := func() (n uint64) {
		tun.Do(func(l *ppp.Link, _ time.Time) { n = l.VJStats().CompIn })
		return n
	}
	// Cut the line first when done (deferred last, runs first): a side
	// blocked writing to it then returns, and each side closes cleanly.
	defer func() { a.Close(); b.Close() }()
	st0, _ := tun.Stats()
	vj0 := vjIn()
	cpu0 := processCPU()
	cmd := exec.CommandContext(ctx, "ip", "netns", "exec", ns.Name, "curl", "-sS", "--cacert", certFile,
		"-o", "/dev/null", "-w", "%{http_code} %{size_download} %{time_starttransfer} %{time_total}", "https://10.64.0.2/f")
	cmd.WaitDelay = 2 * time.Second
	out, err := cmd.CombinedOutput()
	if err != nil {
		return res, fmt.Errorf("curl: %v: %s", err, out)
	}
	res.CPU = processCPU() - cpu0
	st1, _ := tun.Stats()
	f := strings.Fields(string(out))
	if len(f) != 4 || f[0] != "200" || f[1] != strconv.Itoa(size) {
		return res, fmt.Errorf("curl: %q", out)
	}
	tStart, err1 := strconv.ParseFloat(f[2], 64)
	tEnd, err2 := strconv.ParseFloat(f[3], 64)
	if err := errors.Join(err1, err2); err != nil || tEnd <= tStart {
		return res, fmt.Errorf("curl times %q: %v", out, err)
	}
	// The first byte comes with the first record, which holds at most
	// RecordOut plaintext octets: counting the body after it as
	// size − RecordOut under-states the goodput by at most the head.
	res.Goodput = float64(size-prof.RecordOut) / (tEnd - tStart)
	if baud > 0 {
		res.Share = res.Goodput / link.BytesPerSecond(baud)
	}
	res.LineBytes = st1.BytesIn - st0.BytesIn
	res.BytesShare = float64(size) / float64(res.LineBytes)
	res.Frames = st1.FramesIn - st0.FramesIn
	res.VJFrames = vjIn() - vj0
	var hv ppp.VJStats
	tun.Do(func(l *ppp.Link, _ time.Time) { hv = l.VJStats() })
	hs, drops := tun.Stats()
	if baud > 0 {
		lp.mu.Lock()
		res.Account, res.AccountOK = lp.led.Account(size, baud)
		lp.mu.Unlock()
	}
	res.Counters = fmt.Sprintf("line writes blocked on the pipe %v; %s; host: PPP bad FCS %d, queue drops %d, VJ %+v", lp.blocked, cardCounters(), hs.BadFCS, drops, hv)
	return res, nil
}

// processCPU is this process's CPU time so far, user and system.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
