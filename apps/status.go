package apps

import (
	"net/netip"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
	"unsafe"

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
	// RAMUsed is the part of the profile's buffer budget (RAMBudget) that
	// belongs to connection slots holding a connection, plus the rest of
	// the budget: a figure by construction, not bytes held (JSON
	// "ram_used", kept for clients). RAMLent is the RAM the card holds now
	// — control state and the buffers lent and not shed (card.Card.Lent;
	// JSON "ram_lent"). RAMBudget is the profile's buffer budget (JSON
	// "ram_budget"); the card's hard bound, control state and TLS sessions
	// included, is sim.RAMBound (netcard bench: card_bound_ram_bytes).
	RAMUsed   int
	RAMLent   int
	RAMBudget int
	// SpillBytesWritten and SpillBlockWrites are what the spill regions of
	// the store wrote since the card started (store.Store.ScratchStats):
	// the ciphertext of TLS records streamed through NVM, and the 512-byte
	// blocks programmed for it — the NVM's wear (JSON
	// "spill_bytes_written", "spill_block_writes"; JSON only, so that the
	// HTML page of a card without a spill keeps its length).
	SpillBytesWritten uint64
	SpillBlockWrites  uint64
	Conns             []ConnStatus
	Counters          []Counter
}

// StatusFunc returns the live status at now. The returned value is the
// snapshot a page is rendered from: a page too large for the response
// buffer is sent piece by piece from it, so the Conns and Counters slices
// it returns must not be modified afterwards (return fresh slices).
type StatusFunc func(now time.Time) Status

// AppCounterPrefix starts the layer of a per-application status counter
// ("app vault"): shown to the administrator only.
const AppCounterPrefix = "app "

// maxLogShown bounds the change-log entries on the status pages.
const maxLogShown = 10

// DefaultStatusStreams is the default Config.StatusStreams.
const DefaultStatusStreams = 4

// statusSnap is one consistent capture of what a status page shows, taken
// once per request: the Status (its strings and slices are immutable by
// StatusFunc's contract, so they are shared, not copied) and the newest
// change-log entries, copied with vault record names masked.
//
// A stranger's snapshot (public) keeps the card's health and the
// aggregate counters only: no connection's remote address or port, no
// link peer address, no change log (admin file paths, configuration keys,
// credential changes, vault activity); the number of open connections
// and of logged changes stand in for them.
type statusSnap struct {
	st     Status
	log    [maxLogShown]store.Change
	nlog   int
	js     bool
	public bool
	nconn  int    // open connections (public pages: instead of the list)
	nlogd  uint64 // changes logged since creation (public pages)
}

// statusPage streams one status page that does not fit the response
// buffer (an http.BodySource): the snapshot and the position reached.
// App keeps at most Config.StatusStreams of them, allocated at first need
// and reused; each belongs to the session (ConnInfo.owner: the session,
// whichever ConnInfo it lends) that used it last.
type statusPage struct {
	snap  statusSnap
	owner any
	busy  bool  // a body is being sent from it
	item  int32 // page item being sent
	off   int32 // bytes of that item already sent (in 32 bits: the page
	// fits 888 bytes and the allocator's header the 896-byte size class,
	// TestStatusPageSize)
}

// statusPageSize is the heap one statusPage holds.
const statusPageSize = int(unsafe.Sizeof(statusPage{}))

// Fill renders the next len(dst) bytes of the page. It returns 0 at the
// end, and the page is free again.
func (p *statusPage) Fill(dst []byte) int {
	n := 0
	for n < len(dst) {
		c := clip{dst: dst[n:], skip: int(p.off)}
		if !p.snap.item(&c, int(p.item)) {
			break
		}
		n += c.n
		if c.full {
			p.off += int32(c.n)
			break
		}
		p.item, p.off = p.item+1, 0
	}
	if n == 0 {
		p.release()
	}
	return n
}

// release ends the page's stream and drops its references to the snapshot.
func (p *statusPage) release() {
	p.busy, p.item, p.off = false, 0, 0
	p.snap = statusSnap{}
}

// held is the heap the snapshot of a page in progress keeps alive besides
// the page itself (the StatusFunc's slices and link state string).
func (p *statusPage) held() int {
	if !p.busy {
		return 0
	}
	s := &p.snap.st
	return cap(s.Conns)*int(unsafe.Sizeof(ConnStatus{})) + cap(s.Counters)*int(unsafe.Sizeof(Counter{})) + len(s.LinkState)
}

// emptySource is a body with nothing in it.
type emptySource struct{}

func (*emptySource) Fill([]byte) int { return 0 }

// headSource is the body source of a HEAD answer whose GET would be
// streamed: the head says chunked like GET's (ServerConn sends no body for
// HEAD), and no page is taken for it.
var headSource emptySource

// Footprint returns the bytes the applications hold besides the App
// itself: the fetch body buffer once a fetch ran, and for status pages
// sent piece by piece (pages larger than the response space) every page
// allocated so far (at most Config.StatusStreams) and the snapshots of
// pages in progress.
func (a *App) Footprint() int {
	return a.fetchBodyCap() + len(a.pageList())*statusPageSize + a.pagesHeld()
}

// pageList is the status pages allocated so far (in a.x: an App that
// never streams one nor fetches holds no slice header, TestAppSize).
func (a *App) pageList() []*statusPage {
	if a.x == nil {
		return nil
	}
	return a.x.pages
}

// pagesHeld is what the snapshots of status pages in progress hold.
func (a *App) pagesHeld() int {
	n := 0
	for _, p := range a.pageList() {
		n += p.held()
	}
	return n
}

// capture takes the snapshot of a request at now; admin selects the full
// page, else the public one.
func (a *App) capture(s *statusSnap, now time.Time, js, admin bool) {
	s.js, s.public = js, !admin
	s.st = Status{}
	if a.cfg.Status != nil {
		s.st = a.cfg.Status(now)
	}
	s.nlog = 0
	if s.public {
		s.nconn = len(s.st.Conns)
		s.st.Conns = nil
		s.st.PeerIP = netip.Addr{}
		// The link's state without hardware identifiers: on Ethernet the
		// card's MAC address is the administrator's.
		if i := strings.IndexByte(s.st.LinkState, ' '); i > 0 && strings.HasPrefix(s.st.LinkState, "Ethernet ") {
			s.st.LinkState = s.st.LinkState[:i]
		}
		s.nlogd = a.cfg.Store.Info().Changes
		// Per-application rows (RAM, store use: how much the vault holds)
		// are the administrator's; card.Status appends them last.
		for i, c := range s.st.Counters {
			if strings.HasPrefix(c.Layer, AppCounterPrefix) {
				s.st.Counters = s.st.Counters[:i:i]
				break
			}
		}
		return
	}
	log := a.cfg.Store.Changes()
	if len(log) > maxLogShown {
		log = log[len(log)-maxLogShown:]
	}
	s.nlog = copy(s.log[:], log)
	for i := range s.log[:s.nlog] { // the cardholder's record names are private
		if strings.HasPrefix(s.log[i].Subject, VaultPrefix) {
			s.log[i].Subject = VaultPrefix + "…"
		}
	}
}

// statusPageFor returns a free page for ci: its own from an earlier
// request (whatever it was sending then is over: the session serves one
// request at a time), else one nobody is sending from, else a new one
// within Config.StatusStreams; nil when all are busy.
func (a *App) statusPageFor(ci *ConnInfo) *statusPage {
	var free *statusPage
	own := ci.owner()
	for _, p := range a.pageList() {
		if p.owner == own {
			free = p
			break
		}
		if !p.busy && free == nil {
			free = p
		}
	}
	if free == nil && len(a.pageList()) < int(a.cfg.StatusStreams) {
		free = new(statusPage)
		x := a.ext()
		x.pages = append(x.pages, free)
	}
	if free != nil {
		free.release()
		free.owner = own
	}
	return free
}

func (a *App) serveStatus(ci *ConnInfo, r *http.Request, w *http.ResponseWriter, js bool) {
	if !isGetHead(r) {
		a.methodNotAllowed(w, "Allow: GET, HEAD\r\n")
		return
	}
	// The full page (connections, change log) is the administrator's;
	// a wrong credential gets 403 rather than the public page, so that
	// the administrator notices.
	// (A Basic header, e.g. a browser's vault credentials, is no admin
	// attempt: the public page.)
	admin := false
	h := r.Get("authorization")
	bearer := len(h) > 7 && strings.EqualFold(string(h[:7]), "bearer ")
	if bearer || len(ci.PeerCertificates) > 0 {
		ans := a.adminAuth(ci, r)
		if ans.status != 0 && bearer {
			a.send(w, ans)
			return
		}
		admin = ans.status == 0
	}
	var snap statusSnap
	a.capture(&snap, ci.Now, js, admin)
	w.Header.Status = 200
	w.Header.CacheControl = "no-store"
	w.Header.ContentType = "text/html; charset=utf-8"
	if js {
		w.Header.ContentType = "application/json"
	}
	// A page that fits is rendered straight into the response's body space
	// (Content-Length); a larger one is sent chunked from a statusPage, piece
	// by piece as the connection has room, from this snapshot.
	free := w.Free()
	if snap.size() <= len(free) {
		w.Commit(snap.render(free))
		return
	}
	if r.IsHEAD() {
		w.SetBodySource(&headSource)
		return
	}
	p := a.statusPageFor(ci)
	if p == nil {
		a.text(w, 503, "status page busy, retry\n")
		w.Header.Extra = "Retry-After: 1\r\n"
		return
	}
	p.snap, p.busy = snap, true
	w.SetBodySource(p)
}

// size returns the length of the whole page.
func (s *statusSnap) size() int {
	n := 0
	for i := 0; ; i++ {
		c := clip{}
		if !s.item(&c, i) {
			return n
		}
		n += c.total
	}
}

// render writes the whole page into dst (which must hold size bytes) and
// returns its length.
func (s *statusSnap) render(dst []byte) int {
	n := 0
	for i := 0; ; i++ {
		c := clip{dst: dst[n:]}
		if !s.item(&c, i) {
			return n
		}
		n += c.n
	}
}

// clip receives one page item: it drops the first skip bytes, keeps what
// fits in dst and counts the rest.
type clip struct {
	dst   []byte
	n     int  // bytes stored in dst
	skip  int  // bytes still to drop
	total int  // bytes of the item so far
	full  bool // bytes were lost for want of room
}

func put[T string | []byte](c *clip, s T) {
	c.total += len(s)
	if c.skip >= len(s) {
		c.skip -= len(s)
		return
	}
	s = s[c.skip:]
	c.skip = 0
	k := copy(c.dst[c.n:], s)
	c.n += k
	if k < len(s) {
		c.full = true
	}
}

func (c *clip) str(s string) { put(c, s) }

func (c *clip) uint(v uint64) {
	var b [20]byte
	put(c, strconv.AppendUint(b[:0], v, 10))
}

func (c *clip) int(v int64) {
	var b [20]byte
	put(c, strconv.AppendInt(b[:0], v, 10))
}

func (c *clip) bool(v bool) {
	if v {
		c.str("true")
	} else {
		c.str("false")
	}
}

// bytesOf views s as bytes (read only), so strings and formatted values
// share one escaping path without copies.
func bytesOf(s string) []byte { return unsafe.Slice(unsafe.StringData(s), len(s)) }

// html writes s escaped for HTML text and attribute values.
func (c *clip) html(s string) { c.htmlBytes(bytesOf(s)) }

func (c *clip) htmlBytes(s []byte) {
	j := 0
	for i := 0; i < len(s); i++ {
		var e string
		switch s[i] {
		case '<':
			e = "&lt;"
		case '>':
			e = "&gt;"
		case '&':
			e = "&amp;"
		case '"':
			e = "&quot;"
		case '\'':
			e = "&#39;"
		default:
			continue
		}
		put(c, s[j:i])
		c.str(e)
		j = i + 1
	}
	put(c, s[j:])
}

// json writes s as a JSON string (invalid UTF-8 becomes U+FFFD; <, > and &
// are escaped as encoding/json does).
func (c *clip) json(s string) { c.jsonBytes(bytesOf(s)) }

func (c *clip) jsonBytes(s []byte) {
	const hex = "0123456789abcdef"
	c.str(`"`)
	j := 0
	for i := 0; i < len(s); {
		x := s[i]
		if x < utf8.RuneSelf {
			if x == '"' || x == '\\' {
				put(c, s[j:i])
				c.str(`\`)
				j = i // the character itself follows
			} else if x < 0x20 || x == '<' || x == '>' || x == '&' {
				put(c, s[j:i])
				e := [6]byte{'\\', 'u', '0', '0', hex[x>>4], hex[x&15]}
				put(c, e[:])
				j = i + 1
			}
			i++
			continue
		}
		r, size := utf8.DecodeRune(s[i:])
		if r == utf8.RuneError && size == 1 {
			put(c, s[j:i])
			c.str(`\ufffd`)
			j = i + 1
		}
		i += size
	}
	put(c, s[j:])
	c.str(`"`)
}

// addr writes an IP address's text ("" when unset) through esc.
func (c *clip) addr(a netip.Addr, js bool) {
	var b [64]byte
	c.esc(a.AppendTo(b[:0]), js)
}

// addrPort writes what netip.AddrPort.String returns through esc.
func (c *clip) addrPort(a netip.AddrPort, js bool) {
	var b [72]byte
	t := a.AppendTo(b[:0])
	if !a.Addr().IsValid() {
		t = append(t, "invalid AddrPort"...)
	}
	c.esc(t, js)
}

// esc writes s as a JSON string or as HTML text.
func (c *clip) esc(s []byte, js bool) {
	if js {
		c.jsonBytes(s)
	} else {
		c.htmlBytes(s)
	}
}

// uptime writes d.Truncate(time.Second).String() without allocating.
func (c *clip) uptime(d time.Duration) {
	s := int64(d / time.Second)
	if s == 0 {
		c.str("0s")
		return
	}
	var u uint64
	if s < 0 {
		c.str("-")
		u = uint64(-s)
	} else {
		u = uint64(s)
	}
	h, m := u/3600, u/60%60
	if h > 0 {
		c.uint(h)
		c.str("h")
	}
	if h > 0 || m > 0 {
		c.uint(m)
		c.str("m")
	}
	c.uint(u % 60)
	c.str("s")
}

// rfc3339 writes t in UTC as RFC 3339 (nothing for the zero time).
func (c *clip) rfc3339(t time.Time) {
	if t.IsZero() {
		return
	}
	var b [40]byte
	put(c, t.UTC().AppendFormat(b[:0], time.RFC3339))
}

// item writes page item i into c and reports whether there is one. A page
// is a head, one item per connection, a separator, one per counter, a
// separator, one per change-log entry and a tail; each item is rendered
// on its own, so a page can be sent from any byte on without a buffer.
func (s *statusSnap) item(c *clip, i int) bool {
	nc, nk := len(s.st.Conns), len(s.st.Counters)
	switch {
	case i == 0:
		s.head(c)
	case i <= nc:
		s.conn(c, i-1)
	case i == nc+1:
		s.sep(c, 0)
	case i <= nc+1+nk:
		s.counter(c, i-nc-2)
	case i == nc+nk+2:
		s.sep(c, 1)
	case i <= nc+nk+2+s.nlog:
		s.change(c, i-nc-nk-3)
	case i == nc+nk+s.nlog+3:
		s.tail(c)
	default:
		return false
	}
	return true
}

func (s *statusSnap) head(c *clip) {
	st := &s.st
	if s.js {
		c.str(`{"uptime_s":`)
		c.int(int64(st.Uptime / time.Second))
		c.str(`,"link_up":`)
		c.bool(st.LinkUp)
		c.str(`,"link_state":`)
		c.json(st.LinkState)
		c.str(`,"local_ip":`)
		c.addr(st.LocalIP, true)
		c.str(`,"peer_ip":`)
		c.addr(st.PeerIP, true)
		c.str(`,"profile":`)
		c.json(st.Profile)
		c.str(`,"ram_used":`)
		c.int(int64(st.RAMUsed))
		c.str(`,"ram_budget":`)
		c.int(int64(st.RAMBudget))
		c.str(`,"ram_lent":`)
		c.int(int64(st.RAMLent))
		c.str(`,"spill_bytes_written":`)
		c.uint(st.SpillBytesWritten)
		c.str(`,"spill_block_writes":`)
		c.uint(st.SpillBlockWrites)
		if s.public {
			c.str(`,"connections_open":`)
			c.int(int64(s.nconn))
			c.str(`,"changes_logged":`)
			c.uint(s.nlogd)
		}
		c.str(`,"connections":[`)
		return
	}
	c.str(`<!DOCTYPE html>
<html><head><meta charset="utf-8"><meta http-equiv="refresh" content="5"><title>netcard status</title>
<style>body{font-family:sans-serif}td,th{padding:0 .6em;text-align:left}</style></head>
<body><h1>netcard status</h1><table id="card">`)
	c.str("<tr><th>uptime</th><td>")
	c.uptime(st.Uptime)
	c.str("</td></tr>\n<tr><th>link</th><td>")
	if st.LinkUp {
		c.str("up")
	} else {
		c.str("down")
	}
	if st.LinkState != "" {
		c.str(" (")
		c.html(st.LinkState)
		c.str(")")
	}
	c.str("</td></tr>\n<tr><th>local IP</th><td>")
	c.addr(st.LocalIP, false)
	c.str("</td></tr>\n<tr><th>peer IP</th><td>")
	c.addr(st.PeerIP, false)
	c.str("</td></tr>\n<tr><th>profile</th><td>")
	c.html(st.Profile)
	c.str("</td></tr>\n<tr><th>RAM</th><td>")
	c.int(int64(st.RAMUsed))
	c.str(" / ")
	c.int(int64(st.RAMBudget))
	// The bytes lent now (RAMLent) are in /status.json only: the page
	// stays byte-identical whether or not the card has shed its buffers.
	c.str(" bytes</td></tr>\n")
	if s.public {
		c.str("<tr><th>connections open</th><td>")
		c.int(int64(s.nconn))
		c.str("</td></tr>\n<tr><th>changes logged</th><td>")
		c.uint(s.nlogd)
		c.str("</td></tr>\n</table>\n<p>Connections and the change log are shown to the administrator only.</p>\n")
		c.str("<table id=\"conns\"><tr><th>local</th><th>remote</th><th>state</th></tr>\n")
		return
	}
	c.str("</table>\n<h2>Connections</h2><table id=\"conns\"><tr><th>local</th><th>remote</th><th>state</th></tr>\n")
}

func (s *statusSnap) conn(c *clip, i int) {
	x := &s.st.Conns[i]
	if s.js {
		if i > 0 {
			c.str(",")
		}
		c.str(`{"local_port":`)
		c.uint(uint64(x.Local))
		c.str(`,"remote":`)
		c.addrPort(x.Remote, true)
		c.str(`,"state":`)
		c.json(x.State)
		c.str(`,"tls":`)
		c.bool(x.TLS)
		c.str("}")
		return
	}
	c.str("<tr><td>")
	c.uint(uint64(x.Local))
	if x.TLS {
		c.str(" (TLS)")
	}
	c.str("</td><td>")
	c.addrPort(x.Remote, false)
	c.str("</td><td>")
	c.html(x.State)
	c.str("</td></tr>\n")
}

func (s *statusSnap) sep(c *clip, k int) {
	switch {
	case s.js && k == 0:
		c.str(`],"counters":[`)
	case s.js:
		c.str(`],"changes":[`)
	case k == 0:
		c.str("</table>\n<h2>Counters</h2><table id=\"counters\"><tr><th>layer</th><th>counter</th><th>value</th></tr>\n")
	default:
		c.str("</table>\n<h2>Changes</h2><table id=\"changes\"><tr><th>#</th><th>time</th><th>op</th><th>subject</th></tr>\n")
	}
}

func (s *statusSnap) counter(c *clip, i int) {
	x := &s.st.Counters[i]
	if s.js {
		if i > 0 {
			c.str(",")
		}
		c.str(`{"layer":`)
		c.json(x.Layer)
		c.str(`,"name":`)
		c.json(x.Name)
		c.str(`,"value":`)
		c.uint(x.Value)
		c.str("}")
		return
	}
	c.str("<tr><td>")
	c.html(x.Layer)
	c.str("</td><td>")
	c.html(x.Name)
	c.str("</td><td>")
	c.uint(x.Value)
	c.str("</td></tr>\n")
}

// change writes entry i of the page's list: oldest first in JSON, newest
// first in HTML.
func (s *statusSnap) change(c *clip, i int) {
	if s.js {
		x := &s.log[i]
		if i > 0 {
			c.str(",")
		}
		c.str(`{"seq":`)
		c.uint(x.Seq)
		c.str(`,"time":"`)
		c.rfc3339(x.Time)
		c.str(`","op":`)
		c.json(x.Op)
		c.str(`,"subject":`)
		c.json(x.Subject)
		c.str("}")
		return
	}
	x := &s.log[s.nlog-1-i]
	c.str("<tr><td>")
	c.uint(x.Seq)
	c.str("</td><td>")
	c.rfc3339(x.Time)
	c.str("</td><td>")
	c.html(x.Op)
	c.str("</td><td>")
	c.html(x.Subject)
	c.str("</td></tr>\n")
}

func (s *statusSnap) tail(c *clip) {
	if s.js {
		c.str("]}\n")
		return
	}
	c.str("</table>\n<p><a href=\"/status.json\">JSON</a> · <a href=\"/\">home</a></p></body></html>\n")
}
