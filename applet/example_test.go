package applet_test

import (
	"crypto/rand"
	"fmt"
	"strconv"
	"time"

	"netcard/applet"
	"netcard/http"
	"netcard/store"
)

// Counter is a complete card application: GET /count answers how many
// times it was called, kept in the application's store namespace (so it
// survives a restart). It answers in the response space it is given and
// allocates nothing of its own per request.
type Counter struct{ buf [8]byte }

// Routes: the requests it answers.
func (*Counter) Routes() []applet.Route { return []applet.Route{{Method: "GET", Path: "/count"}} }

// Serve answers one request.
func (a *Counter) Serve(c *applet.Ctx, r *http.Request, w *http.ResponseWriter) {
	v, _ := c.Store.Get("n", a.buf[:0])
	n, _ := strconv.Atoi(string(v))
	n++
	if err := c.Store.Put("n", strconv.AppendInt(a.buf[:0], int64(n), 10)); err != nil {
		applet.Text(w, 507, "store full\n")
		return
	}
	w.Header.Status = 200
	w.Header.ContentType = "text/plain"
	w.WriteString("called ")
	w.WriteString(strconv.Itoa(n))
	w.WriteString(" times\n")
}

// Register an application with a host (on a card: card.Config.Apps, or
// apps.Config.Apps) and serve a request with it.
func ExampleHost() {
	st, _ := store.CreateMedium(store.NewMemMedium(store.DefaultSize), store.DefaultSize, rand.Reader)
	h := applet.NewHost(st, rand.Reader)
	if err := h.Add(&Counter{}, applet.Manifest{Name: "counter", Quota: 64}); err != nil {
		panic(err)
	}
	var conn applet.Conn // one per connection, kept by the transport
	conn.TLS, conn.Now = true, time.Now()
	var w http.ResponseWriter
	r := &http.Request{Method: []byte("GET"), Path: []byte("/count")}
	h.Serve(&conn, r, &w)
	fmt.Println(w.Header.Status, h.Apps()[0].StoreUsed)
	// Output: 200 2
}
