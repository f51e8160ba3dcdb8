// Package report is an example card application: a card that reports.
// Every Every, it takes a reading (Config.Read, the "sensor"), stores it
// in its namespace, and POSTs the oldest unsent reading as a small JSON
// object to Config.URL with the card's secure client (over HTTPS the
// server's certificate is verified against the store's trust anchors). A
// reading leaves the store only once the server answered 2xx, so
// readings taken while the server is unreachable (or untrusted) survive a
// restart and are sent, oldest first, when it is back. When the quota is
// full the oldest reading is dropped for the new one.
//
// GET /report shows the queue.
package report

import (
	"strconv"
	"time"

	"netcard/applet"
	"netcard/apps"
	"netcard/http"
	"netcard/store"
)

// Config configures the reporter.
type Config struct {
	URL   string                  // where readings go (https://…)
	Every time.Duration           // reading interval (default 10 s)
	Read  func(now time.Time) int // the sensor (default: seconds of the minute)
	Quota int                     // store bytes for queued readings (default 2048)
}

// App is the reporter.
type App struct {
	cfg     Config
	req     applet.FetchRequest // the template (from Config.URL)
	fly     applet.FetchRequest // the request in flight
	body    [96]byte            // the reading in flight (valid until FetchDone)
	key     [16]byte
	keyN    int
	seqBuf  [24]byte
	busy    bool
	Sent    uint64 // readings the server took
	Failed  uint64 // attempts that failed (kept for a retry)
	Dropped uint64 // readings dropped for lack of quota
}

// New returns a reporter and its manifest.
func New(cfg Config) (*App, applet.Manifest, error) {
	if cfg.Every <= 0 {
		cfg.Every = 10 * time.Second
	}
	if cfg.Read == nil {
		cfg.Read = func(now time.Time) int { return now.Second() }
	}
	if cfg.Quota <= 0 {
		cfg.Quota = 2048
	}
	req, err := apps.ParseURL(cfg.URL)
	if err != nil {
		return nil, applet.Manifest{}, err
	}
	req.Method, req.ContentType = "POST", "application/json"
	a := &App{cfg: cfg, req: req}
	return a, applet.Manifest{Name: "report", Quota: cfg.Quota, Tick: cfg.Every, RAM: 256}, nil
}

// Routes implements applet.App.
func (*App) Routes() []applet.Route { return []applet.Route{{Method: "GET", Path: "/report"}} }

// Serve shows the queue.
func (a *App) Serve(c *applet.Ctx, r *http.Request, w *http.ResponseWriter) {
	applet.Text(w, 200, "")
	w.WriteString("queued " + strconv.Itoa(a.queued(c)) + "\nsent " + strconv.FormatUint(a.Sent, 10) +
		"\nfailed " + strconv.FormatUint(a.Failed, 10) + "\ndropped " + strconv.FormatUint(a.Dropped, 10) + "\n")
}

func (a *App) queued(c *applet.Ctx) int {
	n := 0
	for _, k := range c.Store.Keys() {
		if len(k) > 2 && k[:2] == "r/" {
			n++
		}
	}
	return n
}

// Tick takes a reading, queues it, and sends the oldest one.
func (a *App) Tick(c *applet.Ctx) {
	c.After(a.cfg.Every)
	v, _ := c.Store.Get("seq", a.seqBuf[:0])
	seq, _ := strconv.ParseUint(string(v), 10, 64)
	seq++
	rec := strconv.AppendUint(append(a.body[:0], `{"seq":`...), seq, 10)
	rec = strconv.AppendInt(append(rec, `,"t":`...), c.Now.Unix(), 10)
	rec = strconv.AppendInt(append(rec, `,"v":`...), int64(a.cfg.Read(c.Now)), 10)
	rec = append(rec, "}\n"...)
	key := recKey(seq)
	err := c.Store.Update(func(b *store.SpaceBatch) error {
		b.Put(key, rec)
		b.Put("seq", strconv.AppendUint(a.seqBuf[:0], seq, 10))
		return nil
	})
	for err != nil && !a.busy && a.dropOldest(c) {
		// Quota full: the oldest reading goes (never the one in flight).
		a.Dropped++
		err = c.Store.Update(func(b *store.SpaceBatch) error {
			b.Put(key, rec)
			b.Put("seq", strconv.AppendUint(a.seqBuf[:0], seq, 10))
			return nil
		})
	}
	if !a.busy {
		a.sendOldest(c)
	}
}

// recKey names reading seq so that keys sort in sequence order.
func recKey(seq uint64) string {
	s := strconv.FormatUint(seq, 10)
	for len(s) < 10 {
		s = "0" + s
	}
	return "r/" + s
}

func (a *App) oldest(c *applet.Ctx) (string, bool) {
	for _, k := range c.Store.Keys() { // sorted
		if len(k) > 2 && k[:2] == "r/" {
			return k, true
		}
	}
	return "", false
}

func (a *App) dropOldest(c *applet.Ctx) bool {
	k, ok := a.oldest(c)
	return ok && c.Store.Delete(k) == nil
}

func (a *App) sendOldest(c *applet.Ctx) {
	k, ok := a.oldest(c)
	if !ok {
		return
	}
	data, ok := c.Store.Get(k, a.body[:0])
	if !ok {
		return
	}
	a.keyN = copy(a.key[:], k[2:])
	a.fly = a.req
	a.fly.Body = data
	if c.Fetch(&a.fly) == nil {
		a.busy = true
	}
}

// FetchDone removes a reading the server took and sends the next one.
func (a *App) FetchDone(c *applet.Ctx, res applet.FetchResult) {
	a.busy = false
	if res.Err != "" || res.Status/100 != 2 {
		a.Failed++
		return
	}
	a.Sent++
	_ = c.Store.Delete("r/" + string(a.key[:a.keyN]))
	a.sendOldest(c)
}
