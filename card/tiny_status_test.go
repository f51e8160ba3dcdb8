package card_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	nethttp "net/http"
	"strings"
	"testing"
	"time"

	"netcard/card"
	"netcard/sim"
	"netcard/tcp"
	"netcard/tls"
)

// rawGet is an HTTPS GET from the simulation's host peer that keeps the
// raw response (sim.Client does not decode chunked bodies): a sim.Actor.
type rawGet struct {
	conn *tcp.Conn
	eng  *tls.Engine
	req  []byte
	sent bool
	got  []byte
	done bool
	err  error
}

func (g *rawGet) Service(now time.Time) (bool, time.Time) {
	if g.done {
		return false, time.Time{}
	}
	if err := g.conn.Err(); err != nil {
		g.done, g.err = true, err
		return true, time.Time{}
	}
	progress := false
	for i := 0; i < 256; i++ {
		p := false
		for g.eng.Pending() > 0 {
			f := g.conn.Free()
			if len(f) == 0 {
				break
			}
			g.conn.Commit(g.eng.Output(f))
			p = true
		}
		if !g.sent && g.eng.State() == tls.Established {
			hdr, tail := g.eng.Overhead()
			f := g.conn.Free()
			if len(f) >= hdr+len(g.req)+tail {
				copy(f[hdr:], g.req)
				g.conn.Commit(g.eng.Wrap(f, len(g.req)))
				g.sent, p = true, true
			}
		}
		if in := g.conn.Peek(); len(in) > 0 {
			n, plain, err := g.eng.Unwrap(in)
			if err == nil {
				g.got = append(g.got, plain...)
			}
			if n > 0 {
				g.conn.Consume(n)
				p = true
			}
			if err != nil {
				g.done = true
				if !errors.Is(err, io.EOF) {
					g.err = err
				}
				g.conn.Close()
				return true, time.Time{}
			}
		} else if g.conn.EOF() {
			g.done = true
			g.conn.Close()
			return true, time.Time{}
		}
		if !p {
			break
		}
		progress = true
	}
	return progress, time.Time{}
}

// TestTinyStatus: a card on the Tiny profile (448-byte response space,
// 512-byte send buffer) serves /status and /status.json whole: chunked,
// complete, the JSON valid and the HTML closed; HEAD answers the head.
func TestTinyStatus(t *testing.T) {
	w, err := sim.New(sim.Options{Baud: 115200, Seed: 7, Profile: card.TinyProfile, ClientRecordSizeLimit: 16385})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.RunUntil(w.Up, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	cfg, err := w.ClientTLS()
	if err != nil {
		t.Fatal(err)
	}
	get := func(method, path string) (*nethttp.Response, []byte) {
		t.Helper()
		conn, err := w.Host().TCP.Dial(sim.HostIP, sim.CardIP, 443, w.Now())
		if err != nil {
			t.Fatal(err)
		}
		g := &rawGet{conn: conn, eng: tls.NewClient(cfg, tls.DefaultRecordBuf),
			req: []byte(method + " " + path + " HTTP/1.1\r\nHost: netcard.local\r\nConnection: close\r\n\r\n")}
		w.AddActor(g)
		defer w.RemoveActor(g)
		if err := w.RunUntil(func() bool { return g.done }, 60*time.Second); err != nil || g.err != nil {
			t.Fatalf("%s %s: %v %v after %d bytes", method, path, err, g.err, len(g.got))
		}
		req, _ := nethttp.NewRequest(method, "https://netcard.local"+path, nil)
		resp, err := nethttp.ReadResponse(bufio.NewReader(bytes.NewReader(g.got)), req)
		if err != nil {
			t.Fatalf("%s %s: %v\n%q", method, path, err, g.got)
		}
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatalf("%s %s: body: %v\n%q", method, path, err, g.got)
		}
		return resp, body
	}
	resp, body := get("GET", "/status.json")
	var js struct {
		Profile  string
		LinkUp   bool `json:"link_up"`
		Counters []struct{ Layer, Name string }
	}
	if err := json.Unmarshal(body, &js); resp.StatusCode != 200 || err != nil || js.Profile != "tiny" || !js.LinkUp || len(js.Counters) < 20 {
		t.Fatalf("status.json: %d %v %+v\n%s", resp.StatusCode, err, js, body)
	}
	if len(body) <= card.TinyProfile.HTTPOut {
		t.Fatalf("status.json of %d bytes fits the response space: the test proves nothing", len(body))
	}
	jsonLen := len(body)
	resp, body = get("GET", "/status")
	s := string(body)
	if resp.StatusCode != 200 || !strings.HasPrefix(s, "<!DOCTYPE html>") || !strings.HasSuffix(s, "</body></html>\n") ||
		strings.Count(s, "</table>") != 4 || !strings.Contains(s, "<td>tiny</td>") {
		t.Fatalf("status: %d\n%s", resp.StatusCode, s)
	}
	resp, body = get("HEAD", "/status")
	if resp.StatusCode != 200 || len(body) != 0 || resp.Header.Get("Content-Type") != "text/html; charset=utf-8" {
		t.Fatalf("HEAD status: %d %q", resp.StatusCode, body)
	}
	t.Logf("tiny: status.json %d B and status %d B served whole, chunked (%d-byte response space)", jsonLen, len(s), card.TinyProfile.HTTPOut)
}
