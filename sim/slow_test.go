package sim

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"netcard/card"
	"netcard/http"
)

// slowFlood is a flood case of SlowClients.
func slowFlood(name string, window time.Duration, minRate float64, f *SlowClients) floodCase {
	return floodCase{
		name: name, window: window, minRate: minRate, timeout: 10 * time.Second,
		start: func(w *World) { f.W = w; w.AddActor(f) },
		stop:  func(w *World) { f.Stop(); w.RemoveActor(f) },
		report: func(w *World) string {
			return fmt.Sprintf("attacker: opened %d, answered %d %v, ended without answer %d %v",
				f.Opened, f.Answered, f.Statuses, f.Ended, f.Errors)
		},
	}
}

func on(fc floodCase, p card.Profile) floodCase {
	fc.name += "-" + p.Name
	fc.profile = p
	return fc
}

func plainLegit(fc floodCase) floodCase { fc.plain = true; return fc }

// TestSlowAttacks is issue 13's slow-client suite: attacks that hold the
// card's slots by being slow, from the legitimate client's own address
// (no per-source fairness helps), each connection replaced as soon as the
// card ends it. The legitimate client runs GETs back to back, each
// allowed 10 s (virtual time, 115200 baud); the goal is ≥ 4 of 5 served
// during every attack on every profile with ≥ 2 slots.
func TestSlowAttacks(t *testing.T) {
	hello := clientHello(t)
	slowBody := func(conns int) *SlowClients {
		return &SlowClients{Port: 443, Conns: conns, Method: "PUT", Path: "/upload", BodyLen: 4 << 20, DripFrom: -1, Drip: 20 * time.Second}
	}
	slowVault := func() *SlowClients {
		return &SlowClients{Port: 443, Conns: 4, Method: "PUT", Path: "/vault/x", BodyLen: 1024, DripFrom: -1, Drip: 20 * time.Second}
	}
	slowHead := func(conns int) *SlowClients {
		return &SlowClients{Port: 443, Conns: conns, Method: "GET", Path: "/", DripFrom: 0, Drip: 2 * time.Second}
	}
	cases := []floodCase{
		// Four PUT /upload with Content-Length 4 MiB, one body byte every 20 s.
		slowFlood("slow-body-upload", 120*time.Second, 0.8, slowBody(4)),
		// Four uploads at 300 B/s, just above the minimum rate (256 B/s):
		// nothing lags, so only LongRequestAfter (10 s) frees a slot.
		// The client pauses 5 s between requests (its slot goes back to
		// the attacker each time).
		paced(slowFlood("body-at-min-rate", 120*time.Second, 0.8, &SlowClients{Port: 443, Conns: 4, Method: "PUT", Path: "/upload",
			BodyLen: 4 << 20, DripFrom: -1, Drip: time.Second, DripN: 300}), 5*time.Second),
		// The same against the vault: the body is read before the PIN.
		slowFlood("slow-body-vault", 120*time.Second, 0.8, slowVault()),
		// A request head one byte every 2 s; when the card ends it (408 at
		// 10 s, or an eviction) the attacker reconnects at once.
		slowFlood("slow-headers-reconnect", 120*time.Second, 0.8, slowHead(4)),
		// TCP connections that never start their TLS handshake, replaced
		// at once when the card ends them.
		func() floodCase {
			fc := connFlood("idle-handshakes-reconnect", 120*time.Second, 0.8, &ConnFlood{Port: 443, Conns: 4})
			fc.timeout = 10 * time.Second
			return fc
		}(),
		func() floodCase {
			fc := connFlood("idle-handshakes-reconnect-12", 120*time.Second, 0.8, &ConnFlood{Port: 443, Conns: 12})
			fc.timeout = 10 * time.Second
			return fc
		}(),
		// A whole ClientHello, then silence (the handshake never completes),
		// replaced at once when the card ends it.
		func() floodCase {
			fc := connFlood("stalled-handshakes-reconnect", 120*time.Second, 0.8, &ConnFlood{Port: 443, Conns: 4,
				Payload: func(_ int, dst []byte) int { return copy(dst, hello) }})
			fc.timeout = 10 * time.Second
			return fc
		}(),
		// Idle connections to the plain-HTTP port; the legitimate client
		// uses that port too.
		func() floodCase {
			fc := plainLegit(connFlood("idle-port80-1", 120*time.Second, 0.8, &ConnFlood{Port: 80, Conns: 1}))
			fc.timeout = 10 * time.Second
			return fc
		}(),
		func() floodCase {
			fc := plainLegit(connFlood("idle-port80-4", 120*time.Second, 0.8, &ConnFlood{Port: 80, Conns: 4}))
			fc.timeout = 10 * time.Second
			return fc
		}(),
		// A slow body on the plain port (whose redirect needs no body).
		plainLegit(slowFlood("slow-body-port80", 120*time.Second, 0.8,
			&SlowClients{Port: 80, Conns: 4, Method: "PUT", Path: "/x", BodyLen: 1024, DripFrom: -1, Drip: 20 * time.Second})),
		// A slow body from another address (6 connections, port 80):
		// per-source fairness and the minimum rate.
		func() floodCase {
			const head = "PUT /x HTTP/1.1\r\nHost: netcard.local\r\nContent-Length: 1000\r\n\r\n"
			fc := plainLegit(connFlood("slow-body-port80-other-source", 120*time.Second, 0.8, &ConnFlood{Port: 80, Conns: 6,
				Src: attackerIP, Drip: 20 * time.Second, DripFrom: len(head),
				Payload: func(_ int, dst []byte) int { return copy(dst, head+strings.Repeat("x", 1000)) }}))
			fc.timeout = 10 * time.Second
			return fc
		}(),
		// Tiny has one slot: the attacker's one connection against the
		// client's.
		on(slowFlood("slow-body-upload", 120*time.Second, 0.8, slowBody(1)), card.TinyProfile),
		on(slowFlood("slow-headers-reconnect", 120*time.Second, 0.8, slowHead(1)), card.TinyProfile),
	}
	for _, fc := range cases {
		t.Run(fc.name, func(t *testing.T) {
			runFlood(t, fc)
		})
	}
}

// TestAdmissionKeepsHealthyRequests is the negative of the slow-client
// rules: four uploads at 1,000 B/s (above MinRate) hold every slot; a
// newcomer's GET must not evict any of them before LongRequestAfter (none
// lags), and is served once one has been received for that long (at its
// next TCP retransmission after that: 18 s here, 15 s after it started).
func TestAdmissionKeepsHealthyRequests(t *testing.T) {
	w := newWorld(t, Options{Baud: 115200, Seed: 7, HostMaxConns: 16})
	if err := w.RunUntil(w.Up, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	up := &SlowClients{W: w, Port: 443, Conns: 4, Method: "PUT", Path: "/upload", BodyLen: 1 << 20,
		DripFrom: -1, Drip: time.Second, DripN: 1000}
	w.AddActor(up)
	t0 := w.Now()
	w.Run(3 * time.Second)
	if up.Opened != 4 || up.Ended+up.Answered != 0 {
		t.Fatalf("uploads: opened %d, ended %d, answered %d", up.Opened, up.Ended, up.Answered)
	}
	c, err := w.StartGet("/", 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.RunUntil(func() bool { return c.Done() || up.Ended > 0 }, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	evicted := w.Now().Sub(t0)
	if err := w.Wait(c, 30*time.Second); err != nil || c.Status != 200 {
		t.Fatalf("GET: %v, status %d", err, c.Status)
	}
	up.Stop()
	w.RemoveActor(up)
	t.Logf("first upload evicted %v after the uploads began; GET served after %v", evicted.Round(time.Millisecond), c.End.Sub(c.Start).Round(time.Millisecond))
	if evicted < card.LongRequestAfter {
		t.Errorf("an upload at 1,000 B/s was evicted after %v, before LongRequestAfter", evicted)
	}
	if up.Statuses[408] != 0 {
		t.Errorf("uploads at 1,000 B/s got 408: %v", up.Statuses)
	}
}

// TestUpload9600KeepsMinRate: a legitimate 48 KiB upload over a 9600-baud
// line (the slowest the card supports) completes: its rate through PPP,
// TCP and TLS stays well above http.DefaultMinRate, so neither the 408
// deadline nor the eviction rule (nobody else waits here) cuts it.
func TestUpload9600KeepsMinRate(t *testing.T) {
	w := newWorld(t, Options{Baud: 9600, Seed: 3})
	if err := w.RunUntil(w.Up, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	body := payload(3, 48<<10)
	c, err := w.StartPut("/upload", body, 10*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Wait(c, 11*time.Minute); err != nil || c.Status != 200 {
		t.Fatalf("upload: %v, status %d %q", err, c.Status, c.Body)
	}
	d := c.End.Sub(c.UploadStart) // to the answer: the card has read it all
	rate := float64(len(body)) / d.Seconds()
	t.Logf("48 KiB at 9600 baud: body received in %v, %.0f B/s (MinRate %d B/s)", d.Round(time.Millisecond), rate, http.DefaultMinRate)
	if rate < 2*http.DefaultMinRate {
		t.Errorf("upload rate %.0f B/s leaves less than a 2× margin over MinRate", rate)
	}
}
