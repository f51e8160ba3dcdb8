package apps

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	nethttp "net/http"
	"net/netip"
	"netcard/applet"
	"netcard/store"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
	"unsafe"

	"netcard/http"
)

// tinyStatus is a status with awkward values: every escaping path, an
// invalid UTF-8 byte, many counters, and a value that changes with every
// call (so two snapshots differ).
func tinyStatus(last *Status) StatusFunc {
	calls := uint64(0)
	return func(now time.Time) Status {
		calls++
		st := testStatus(now)
		st.Uptime = 3*time.Hour + 4*time.Minute + 5*time.Second + time.Duration(calls)*time.Second
		st.LinkState = `LCP "opened" <&> 'x' \ ` + "\x01\xff é"
		st.Conns = append(st.Conns, ConnStatus{Local: 80, Remote: netip.MustParseAddrPort("[fe80::1%a<b]:7"), State: "syn-received"},
			ConnStatus{Local: 443, State: "closing"})
		for i := 0; i < 30; i++ {
			st.Counters = append(st.Counters, Counter{"TCP", "counter " + itoa(i) + ` "q"`, calls*1000 + uint64(i)})
		}
		*last = st
		return st
	}
}

type tinyTestApp struct {
	*App
	last Status // what the StatusFunc returned last
}

func tinyApp(t testing.TB) *tinyTestApp {
	app, s, _, _ := newTestApp(t)
	ta := &tinyTestApp{App: app}
	app.cfg.Status = tinyStatus(&ta.last)
	for i := 0; i < 14; i++ {
		s.SetConfig("key<"+itoa(i)+">&\"", "v")
	}
	s.PutFile("vault/secret-name", "", []byte("x"))
	return ta
}

// lastSnap is the snapshot of the StatusFunc's last value and the current
// change log.
func (ta *tinyTestApp) lastSnap(js bool) *statusSnap {
	a := *ta.App
	a.cfg.Status = func(time.Time) Status { return ta.last }
	var s statusSnap
	a.capture(&s, testNow, js, true)
	return &s
}

// whole renders a snapshot's page into a big buffer.
func whole(s *statusSnap) []byte {
	b := make([]byte, s.size())
	if n := s.render(b); n != len(b) {
		panic("render length differs from size")
	}
	return b
}

// checkPage checks that a page is complete and well formed.
func checkPage(t *testing.T, js bool, b []byte) {
	t.Helper()
	if js {
		var v struct {
			Uptime      int64  `json:"uptime_s"`
			LinkState   string `json:"link_state"`
			Connections []struct{ Remote string }
			Counters    []struct{ Name string }
			Changes     []struct{ Subject string }
		}
		if err := json.Unmarshal(b, &v); err != nil {
			t.Fatalf("JSON: %v\n%s", err, b)
		}
		if len(v.Counters) != 33 || len(v.Changes) != maxLogShown || len(v.Connections) != 3 ||
			v.Connections[1].Remote != "[fe80::1%a<b]:7" || v.Connections[2].Remote != "invalid AddrPort" ||
			!strings.HasPrefix(v.LinkState, `LCP "opened" <&> 'x' \ `) {
			t.Fatalf("JSON content: %+v", v)
		}
		return
	}
	s := string(b)
	for _, want := range []string{"<!DOCTYPE html>", "</html>\n", "</body>", `id="changes"`, "counter 29 &quot;q&quot;",
		"[fe80::1%a&lt;b]:7", "LCP &quot;opened&quot; &lt;&amp;&gt; &#39;x&#39;", "vault/…"} {
		if !strings.Contains(s, want) {
			t.Fatalf("HTML lacks %q\n%s", want, s)
		}
	}
	if strings.Count(s, "<table") != 4 || strings.Count(s, "</table>") != 4 || strings.Contains(s, "secret-name") {
		t.Fatalf("HTML tables or vault name\n%s", s)
	}
}

// TestStatusUptimeFormat: the allocation-free uptime is Duration.String of
// whole seconds.
func TestStatusUptimeFormat(t *testing.T) {
	for _, d := range []time.Duration{0, 999 * time.Millisecond, time.Second, 59 * time.Second, time.Minute, 61 * time.Second,
		time.Hour, 90 * time.Minute, 100*time.Hour + 59*time.Second + time.Millisecond, -time.Second, -3725 * time.Second,
		-time.Millisecond} {
		c := clip{dst: make([]byte, 64)}
		c.uptime(d)
		if got, want := string(c.dst[:c.n]), d.Truncate(time.Second).String(); got != want {
			t.Errorf("%v: %q, want %q", d, got, want)
		}
	}
}

// TestStatusFillEverySize: a page streamed with Fill at every size from 1
// byte up is byte for byte the page rendered whole from the same snapshot,
// and Fill does not allocate.
func TestStatusFillEverySize(t *testing.T) {
	app := tinyApp(t)
	for _, js := range []bool{false, true} {
		var snap statusSnap
		app.capture(&snap, testNow, js, true)
		want := whole(&snap)
		checkPage(t, js, want)
		if old := legacyStatus(&snap); !bytes.Equal(old, want) {
			t.Fatalf("js=%v: page differs from the one-go rendering\n%s\n%s", js, old, want)
		}
		p := &statusPage{snap: snap, busy: true}
		buf := make([]byte, len(want)+1)
		for size := 1; size <= len(want)+1; size++ {
			var got []byte
			for {
				n := p.Fill(buf[:size])
				if n == 0 {
					break
				}
				if n > size {
					t.Fatalf("Fill returned %d > %d", n, size)
				}
				got = append(got, buf[:n]...)
				if len(got) > len(want) {
					t.Fatalf("size %d: page overruns", size)
				}
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("js=%v size %d: streamed page differs\n%s\n---\n%s", js, size, got, want)
			}
			if p.busy || p.snap.nlog != 0 {
				t.Fatal("page not released at its end")
			}
			p.snap, p.busy = snap, true
		}
		allocs := testing.AllocsPerRun(20, func() {
			p.snap, p.busy = snap, true
			for p.Fill(buf[:61]) > 0 {
			}
		})
		if allocs != 0 {
			t.Fatalf("js=%v: %v allocations per page", js, allocs)
		}
	}
}

// tinyHarness answers requests with Tiny's 448-byte response space.
func tinyHarness(app *tinyTestApp, ci *ConnInfo) *http.ServerConn {
	return http.NewServerConn(http.ServerConfig{OutBuf: 448, HeaderReserve: 200, Handler: func(r *http.Request, w *http.ResponseWriter) {
		app.Serve(ci, r, w)
	}})
}

// exchange sends one request and returns the raw response, read from
// Output in pieces of size bytes.
func exchange(t *testing.T, hc *http.ServerConn, req string, size int) []byte {
	t.Helper()
	hc.Reset()
	if n := hc.Input([]byte(req), testNow); n != len(req) {
		t.Fatalf("input %d of %d", n, len(req))
	}
	var out []byte
	buf := make([]byte, size)
	for {
		n := hc.Output(buf, testNow)
		if n == 0 {
			break
		}
		out = append(out, buf[:n]...)
	}
	return out
}

// TestStatusTinyStreams: with Tiny's 448-byte response space /status and
// /status.json answer 200, chunked, the complete page of the request's
// snapshot (HTTP/1.0: delimited by the close); HEAD answers the same
// head without a body.
func TestStatusTinyStreams(t *testing.T) {
	for _, js := range []bool{false, true} {
		path := "/status"
		if js {
			path = "/status.json"
		}
		app := tinyApp(t)
		ci := &ConnInfo{Conn: applet.Conn{TLS: true, Now: testNow}}
		hc := tinyHarness(app, ci)
		for _, size := range []int{64, 100, 448, 4096} {
			raw := exchange(t, hc, "GET "+path+" HTTP/1.1\r\nHost: card.example\r\n"+adminAuthz+"\r\n", size)
			resp, err := nethttp.ReadResponse(bufio.NewReader(bytes.NewReader(raw)), nil)
			if err != nil {
				t.Fatal(err)
			}
			body, err := io.ReadAll(resp.Body)
			if err != nil || resp.StatusCode != 200 || len(resp.TransferEncoding) != 1 || resp.Header.Get("Cache-Control") != "no-store" {
				t.Fatalf("%s: %v %d %v\n%q", path, err, resp.StatusCode, resp.TransferEncoding, raw)
			}
			checkPage(t, js, body)
			if want := whole(app.lastSnap(js)); !bytes.Equal(body, want) {
				t.Fatalf("%s size %d: page is not its snapshot's\n%s\n---\n%s", path, size, body, want)
			}
		}
		raw := exchange(t, hc, "HEAD "+path+" HTTP/1.1\r\nHost: card.example\r\n"+adminAuthz+"\r\n", 4096)
		if !bytes.HasPrefix(raw, []byte("HTTP/1.1 200 OK\r\n")) || !bytes.Contains(raw, []byte("Transfer-Encoding: chunked\r\n")) ||
			!bytes.HasSuffix(raw, []byte("\r\n\r\n")) {
			t.Fatalf("HEAD %s: %q", path, raw)
		}
		raw = exchange(t, hc, "GET "+path+" HTTP/1.0\r\n"+adminAuthz+"\r\n", 4096)
		j := bytes.Index(raw, []byte("\r\n\r\n"))
		if j < 0 || !bytes.HasPrefix(raw, []byte("HTTP/1.1 200 OK\r\n")) || !hc.Closed() {
			t.Fatalf("HTTP/1.0 %s: %q", path, raw)
		}
		checkPage(t, js, raw[j+4:])
		if n := len(app.pageList()); n != 1 || app.Footprint() != statusPageSize {
			t.Fatalf("%d pages, footprint %d", n, app.Footprint())
		}
	}
}

// TestStatusStreamsInterleaved: pages streamed at once on several sessions
// each stay their own snapshot; beyond Config.StatusStreams a session gets
// 503; a session reuses its page even if its last stream was cut off; the
// footprint counts pages and the snapshots in progress.
func TestStatusStreamsInterleaved(t *testing.T) {
	app := tinyApp(t)
	app.cfg.StatusStreams = 2
	cis := []*ConnInfo{{Conn: applet.Conn{TLS: true, Now: testNow}}, {Conn: applet.Conn{TLS: true, Now: testNow}}, {Conn: applet.Conn{TLS: true, Now: testNow}}}
	var hcs []*http.ServerConn
	for i, ci := range cis {
		hc := tinyHarness(app, ci)
		hcs = append(hcs, hc)
		req := "GET /status.json HTTP/1.1\r\nHost: card.example\r\n" + adminAuthz + "\r\n"
		if i == 1 {
			req = "GET /status HTTP/1.1\r\nHost: card.example\r\n" + adminAuthz + "\r\n"
		}
		hc.Input([]byte(req), testNow)
	}
	outs := make([][]byte, 3)
	buf := make([]byte, 70)
	peak := 0
	for moved := true; moved; {
		moved = false
		for i, hc := range hcs {
			if n := hc.Output(buf, testNow); n > 0 {
				outs[i] = append(outs[i], buf[:n]...)
				moved = true
			}
			peak = max(peak, app.Footprint())
		}
	}
	if peak <= 2*statusPageSize+2*30*int(unsafe.Sizeof(Counter{})) {
		t.Fatalf("footprint peaked at %d: the snapshots in progress are not counted", peak)
	}
	bodies := make([][]byte, 2)
	for i := range 2 {
		resp, err := nethttp.ReadResponse(bufio.NewReader(bytes.NewReader(outs[i])), nil)
		if err != nil {
			t.Fatal(err)
		}
		bodies[i], err = io.ReadAll(resp.Body)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("session %d: %v %d", i, err, resp.StatusCode)
		}
		checkPage(t, i == 0, bodies[i])
	}
	if !bytes.Contains(bodies[0], []byte(`"uptime_s":11046,`)) || !bytes.Contains(bodies[1], []byte("3h4m7s")) ||
		!bytes.Contains(bodies[0], []byte(`"value":1029`)) || !bytes.Contains(bodies[1], []byte("<td>2029</td>")) {
		t.Fatal("a page mixes snapshots")
	}
	if !bytes.HasPrefix(outs[2], []byte("HTTP/1.1 503 ")) || !bytes.Contains(outs[2], []byte("Retry-After: 1\r\n")) {
		t.Fatalf("third stream: %q", outs[2])
	}
	if app.Footprint() != 2*statusPageSize {
		t.Fatalf("footprint %d after the pages, want %d", app.Footprint(), 2*statusPageSize)
	}
	// Session 0 starts a page and is cut off (reset); session 1 holds the
	// other page; session 0's next request reuses its own page.
	hcs[0].Reset()
	hcs[0].Input([]byte("GET /status HTTP/1.1\r\nHost: card.example\r\n"+adminAuthz+"\r\n"), testNow)
	hcs[0].Output(buf, testNow)
	hcs[1].Reset()
	hcs[1].Input([]byte("GET /status HTTP/1.1\r\nHost: card.example\r\n"+adminAuthz+"\r\n"), testNow)
	hcs[1].Output(buf, testNow)
	if out := exchange(t, hcs[2], "GET /status HTTP/1.1\r\nHost: card.example\r\n"+adminAuthz+"\r\n", 4096); !bytes.HasPrefix(out, []byte("HTTP/1.1 503 ")) {
		t.Fatalf("both pages busy: %.40q", out)
	}
	out := exchange(t, hcs[0], "GET /status HTTP/1.1\r\nHost: card.example\r\n"+adminAuthz+"\r\n", 4096)
	if !bytes.HasPrefix(out, []byte("HTTP/1.1 200 OK\r\n")) || !bytes.HasSuffix(out, []byte("</html>\n\r\n0\r\n\r\n")) || len(app.pageList()) != 2 {
		t.Fatalf("own page not reused: %d pages %.40q", len(app.pageList()), out)
	}
}

// TestStatusFitsInOneGo: where the page fits the response space it is
// written whole with a Content-Length, as before, and no page is kept.
func TestStatusFitsInOneGo(t *testing.T) {
	app := tinyApp(t)
	ci := &ConnInfo{Conn: applet.Conn{TLS: true, Now: testNow}}
	hc := http.NewServerConn(http.ServerConfig{OutBuf: 16384, Handler: func(r *http.Request, w *http.ResponseWriter) { app.Serve(ci, r, w) }})
	for _, p := range []string{"/status", "/status.json"} {
		raw := exchange(t, hc, "GET "+p+" HTTP/1.1\r\nHost: card.example\r\n"+adminAuthz+"\r\n", 4096)
		resp, err := nethttp.ReadResponse(bufio.NewReader(bytes.NewReader(raw)), nil)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		if resp.ContentLength != int64(len(body)) || resp.ContentLength < 448 {
			t.Fatalf("%s: content-length %d, %d bytes", p, resp.ContentLength, len(body))
		}
		checkPage(t, p == "/status.json", body)
	}
	if len(app.pageList()) != 0 || app.Footprint() != 0 {
		t.Fatal("a page was kept for a response that fits")
	}
}

// The one-go renderer the streamed page replaced (change rows never dropped
// here): the page must not have changed.
func legacyStatus(s *statusSnap) []byte {
	if s.js {
		return appendStatusJSON(nil, &s.st, s.log[:s.nlog], 1<<30)
	}
	return appendStatusHTML(nil, &s.st, s.log[:s.nlog], 1<<30)
}

func appendHTML(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '<':
			b = append(b, "&lt;"...)
		case '>':
			b = append(b, "&gt;"...)
		case '&':
			b = append(b, "&amp;"...)
		case '"':
			b = append(b, "&quot;"...)
		case '\'':
			b = append(b, "&#39;"...)
		default:
			b = append(b, c)
		}
	}
	return b
}

func appendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				b = append(b, '\\', c)
			case c < 0x20 || c == '<' || c == '>' || c == '&':
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&15])
			default:
				b = append(b, c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, `\ufffd`...)
		} else {
			b = append(b, s[i:i+size]...)
		}
		i += size
	}
	return append(b, '"')
}

func addrString(a netip.Addr) string {
	if !a.IsValid() {
		return ""
	}
	return a.String()
}

// statusTail is room kept for the end of a page after the change rows.
const statusTail = 128

func appendStatusHTML(b []byte, st *Status, log []store.Change, limit int) []byte {
	b = append(b, `<!DOCTYPE html>
<html><head><meta charset="utf-8"><meta http-equiv="refresh" content="5"><title>netcard status</title>
<style>body{font-family:sans-serif}td,th{padding:0 .6em;text-align:left}</style></head>
<body><h1>netcard status</h1><table id="card">`...)
	row := func(b []byte, k, v string) []byte {
		b = append(b, "<tr><th>"...)
		b = append(b, k...)
		b = append(b, "</th><td>"...)
		b = appendHTML(b, v)
		return append(b, "</td></tr>\n"...)
	}
	b = row(b, "uptime", st.Uptime.Truncate(time.Second).String())
	link := "down"
	if st.LinkUp {
		link = "up"
	}
	if st.LinkState != "" {
		link += " (" + st.LinkState + ")"
	}
	b = row(b, "link", link)
	b = row(b, "local IP", addrString(st.LocalIP))
	b = row(b, "peer IP", addrString(st.PeerIP))
	b = row(b, "profile", st.Profile)
	b = row(b, "RAM", strconv.Itoa(st.RAMUsed)+" / "+strconv.Itoa(st.RAMBudget)+" bytes")
	b = append(b, "</table>\n<h2>Connections</h2><table id=\"conns\"><tr><th>local</th><th>remote</th><th>state</th></tr>\n"...)
	for _, c := range st.Conns {
		b = append(b, "<tr><td>"...)
		b = strconv.AppendUint(b, uint64(c.Local), 10)
		if c.TLS {
			b = append(b, " (TLS)"...)
		}
		b = append(b, "</td><td>"...)
		b = appendHTML(b, c.Remote.String())
		b = append(b, "</td><td>"...)
		b = appendHTML(b, c.State)
		b = append(b, "</td></tr>\n"...)
	}
	b = append(b, "</table>\n<h2>Counters</h2><table id=\"counters\"><tr><th>layer</th><th>counter</th><th>value</th></tr>\n"...)
	for _, c := range st.Counters {
		b = append(b, "<tr><td>"...)
		b = appendHTML(b, c.Layer)
		b = append(b, "</td><td>"...)
		b = appendHTML(b, c.Name)
		b = append(b, "</td><td>"...)
		b = strconv.AppendUint(b, c.Value, 10)
		b = append(b, "</td></tr>\n"...)
	}
	b = append(b, "</table>\n<h2>Changes</h2><table id=\"changes\"><tr><th>#</th><th>time</th><th>op</th><th>subject</th></tr>\n"...)
	for i := len(log) - 1; i >= 0; i-- {
		c := &log[i]
		mark := len(b)
		b = append(b, "<tr><td>"...)
		b = strconv.AppendUint(b, c.Seq, 10)
		b = append(b, "</td><td>"...)
		if !c.Time.IsZero() {
			b = c.Time.UTC().AppendFormat(b, time.RFC3339)
		}
		b = append(b, "</td><td>"...)
		b = appendHTML(b, c.Op)
		b = append(b, "</td><td>"...)
		b = appendHTML(b, c.Subject)
		b = append(b, "</td></tr>\n"...)
		if len(b)+statusTail > limit {
			b = b[:mark]
			break
		}
	}
	return append(b, "</table>\n<p><a href=\"/status.json\">JSON</a> · <a href=\"/\">home</a></p></body></html>\n"...)
}

func appendStatusJSON(b []byte, st *Status, log []store.Change, limit int) []byte {
	b = append(b, `{"uptime_s":`...)
	b = strconv.AppendInt(b, int64(st.Uptime/time.Second), 10)
	b = append(b, `,"link_up":`...)
	b = strconv.AppendBool(b, st.LinkUp)
	b = append(b, `,"link_state":`...)
	b = appendJSONString(b, st.LinkState)
	b = append(b, `,"local_ip":`...)
	b = appendJSONString(b, addrString(st.LocalIP))
	b = append(b, `,"peer_ip":`...)
	b = appendJSONString(b, addrString(st.PeerIP))
	b = append(b, `,"profile":`...)
	b = appendJSONString(b, st.Profile)
	b = append(b, `,"ram_used":`...)
	b = strconv.AppendInt(b, int64(st.RAMUsed), 10)
	b = append(b, `,"ram_budget":`...)
	b = strconv.AppendInt(b, int64(st.RAMBudget), 10)
	b = append(b, `,"ram_lent":`...)
	b = strconv.AppendInt(b, int64(st.RAMLent), 10)
	b = append(b, `,"spill_bytes_written":`...)
	b = strconv.AppendUint(b, st.SpillBytesWritten, 10)
	b = append(b, `,"spill_block_writes":`...)
	b = strconv.AppendUint(b, st.SpillBlockWrites, 10)
	b = append(b, `,"connections":[`...)
	for i, c := range st.Conns {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"local_port":`...)
		b = strconv.AppendUint(b, uint64(c.Local), 10)
		b = append(b, `,"remote":`...)
		b = appendJSONString(b, c.Remote.String())
		b = append(b, `,"state":`...)
		b = appendJSONString(b, c.State)
		b = append(b, `,"tls":`...)
		b = strconv.AppendBool(b, c.TLS)
		b = append(b, '}')
	}
	b = append(b, `],"counters":[`...)
	for i, c := range st.Counters {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"layer":`...)
		b = appendJSONString(b, c.Layer)
		b = append(b, `,"name":`...)
		b = appendJSONString(b, c.Name)
		b = append(b, `,"value":`...)
		b = strconv.AppendUint(b, c.Value, 10)
		b = append(b, '}')
	}
	b = append(b, `],"changes":[`...)
	// Newest entries are kept when the buffer is short.
	for len(log) > 0 && len(b)+len(log)*statusTail > limit {
		log = log[1:]
	}
	for i := range log {
		c := &log[i]
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"seq":`...)
		b = strconv.AppendUint(b, c.Seq, 10)
		b = append(b, `,"time":`...)
		t := ""
		if !c.Time.IsZero() {
			t = c.Time.UTC().Format(time.RFC3339)
		}
		b = appendJSONString(b, t)
		b = append(b, `,"op":`...)
		b = appendJSONString(b, c.Op)
		b = append(b, `,"subject":`...)
		b = appendJSONString(b, c.Subject)
		b = append(b, '}')
	}
	return append(b, "]}\n"...)
}

// FuzzStatusPage: for any strings in the status and the change log, both
// pages equal the one-go rendering, stream identically at any Fill size,
// and the JSON page is valid JSON that decodes to the strings (invalid
// UTF-8 replaced).
func FuzzStatusPage(f *testing.F) {
	f.Add("IPCP opened", "frames in", "index.html", uint8(1))
	f.Add(`"<&>'\`, "\x00\x1f\x7f", "vault/x", uint8(63))
	f.Add("\xff\xfe é \u2028", "日本", "a\xc3", uint8(200))
	f.Fuzz(func(t *testing.T, state, name, subject string, size uint8) {
		for _, js := range []bool{false, true} {
			s := statusSnap{js: js, nlog: 2, st: Status{LinkState: state, Profile: name,
				Conns:    []ConnStatus{{Local: 1, State: state}},
				Counters: []Counter{{Layer: name, Name: subject, Value: 1}, {Layer: state, Name: name}}}}
			s.log[0] = store.Change{Seq: 1, Op: name, Subject: subject}
			s.log[1] = store.Change{Seq: 2, Op: state, Subject: subject, Time: testNow}
			want := whole(&s)
			if old := legacyStatus(&s); !bytes.Equal(old, want) {
				t.Fatalf("page differs from the one-go rendering\n%q\n%q", old, want)
			}
			p := &statusPage{snap: s, busy: true}
			buf := make([]byte, int(size)+1)
			var got []byte
			for {
				n := p.Fill(buf)
				if n == 0 {
					break
				}
				got = append(got, buf[:n]...)
				if len(got) > len(want) {
					t.Fatal("page overruns")
				}
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("streamed page differs\n%q\n%q", got, want)
			}
			if !js {
				continue
			}
			var v struct {
				LinkState string `json:"link_state"`
				Counters  []struct{ Name string }
			}
			if err := json.Unmarshal(want, &v); err != nil {
				t.Fatalf("%v\n%s", err, want)
			}
			if utf8.ValidString(state) && v.LinkState != state {
				t.Fatalf("link state %q decodes to %q", state, v.LinkState)
			}
		}
	})
}
