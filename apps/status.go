package apps

import (
	"net/netip"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"netcard/http"
	"netcard/store"
)

// Counter is one named counter of a layer.
type Counter struct {
	Layer string // "PPP", "IP", "TCP", "TLS", "HTTP", ...
	Name  string
	Value uint64
}

// ConnStatus describes one open connection.
type ConnStatus struct {
	Local  uint16 // local port
	Remote netip.AddrPort
	State  string // e.g. "established"
	TLS    bool
}

// Status is the card's live state shown by /status and /status.json.
type Status struct {
	Uptime    time.Duration
	LinkUp    bool
	LinkState string // e.g. "IPCP opened"
	LocalIP   netip.Addr
	PeerIP    netip.Addr
	Profile   string
	RAMUsed   int // bytes of the memory budget in use
	RAMBudget int // bytes of the profile's budget
	Conns     []ConnStatus
	Counters  []Counter
}

// StatusFunc returns the live status at now.
type StatusFunc func(now time.Time) Status

// maxLogShown bounds the change-log entries on the status pages.
const maxLogShown = 10

func (a *App) serveStatus(ci *ConnInfo, r *http.Request, w *http.ResponseWriter, js bool) {
	if !isGetHead(r) {
		a.methodNotAllowed(w, "Allow: GET, HEAD\r\n")
		return
	}
	var st Status
	if a.cfg.Status != nil {
		st = a.cfg.Status(ci.Now)
	}
	log := a.st.Changes()
	if len(log) > maxLogShown {
		log = log[len(log)-maxLogShown:]
	}
	for i := range log { // the cardholder's record names are private
		if strings.HasPrefix(log[i].Subject, VaultPrefix) {
			log[i].Subject = VaultPrefix + "…"
		}
	}
	w.Header.Status = 200
	w.Header.CacheControl = "no-store"
	// The page is rendered straight into the response's body space (no
	// page buffer of its own). Change-log rows are dropped (oldest first)
	// to fit it; if the rest is still too big, append moves b elsewhere,
	// the write fails and the response becomes a 500.
	free := w.Free()
	var b []byte
	if js {
		w.Header.ContentType = "application/json"
		b = appendStatusJSON(free[:0], &st, log, len(free))
	} else {
		w.Header.ContentType = "text/html; charset=utf-8"
		b = appendStatusHTML(free[:0], &st, log, len(free))
	}
	if len(b) > 0 && len(free) > 0 && &b[0] == &free[0] {
		w.Commit(len(b))
		return
	}
	w.Write(b)
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
