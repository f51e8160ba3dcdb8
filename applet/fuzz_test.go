package applet_test

import (
	"crypto/rand"
	"testing"

	"netcard/applet"
	"netcard/http"
	"netcard/store"
)

// FuzzServe: any method, path and Authorization field routes to an answer
// (or to "no route") without a panic, and a refusal from the head always
// carries a status.
func FuzzServe(f *testing.F) {
	f.Add([]byte("GET"), []byte("/count"), []byte(""), true)
	f.Add([]byte("POST"), []byte("/keeper/x"), []byte("Basic dTo0NzEx"), true)
	f.Add([]byte("PUT"), []byte("/probe"), []byte("Basic !!!"), false)
	f.Add([]byte(""), []byte(""), []byte("Bearer "), true)
	st, err := store.CreateMedium(store.NewMemMedium(store.MinSize), store.MinSize, rand.Reader)
	if err != nil {
		f.Fatal(err)
	}
	st.InitPIN([]byte("4711"), []byte("31415926"))
	h := applet.NewHost(st, rand.Reader)
	h.Add(&Counter{}, applet.Manifest{Name: "counter", Quota: 64})
	h.Add(keeper{}, applet.Manifest{Name: "keeper", Quota: 64})
	h.Add(pinGate{}, applet.Manifest{Name: "gate", Policy: applet.SignWithPIN})
	var r http.Request
	f.Fuzz(func(t *testing.T, method, path, auth []byte, head bool) {
		raw := append(append(append(append(append([]byte(nil), method...), ' '), path...), " HTTP/1.1\r\nHost: c\r\nAuthorization: "...), auth...)
		raw = append(raw, "\r\nContent-Length: 1\r\n\r\nx"...)
		r = http.Request{}
		if _, err := http.ParseRequest(raw, http.Limits{}, &r); err != nil {
			r = http.Request{Method: method, Path: path, ContentLength: 1}
		}
		r := &r
		var c applet.Conn
		c.TLS, c.Head = true, head
		var w http.ResponseWriter
		h.Serve(&c, r, &w)
		if head && c.Sink == http.RefuseBody && c.Max != 0 {
			t.Fatal("a refused body with a limit")
		}
	})
}

// pinGate refuses without the PIN from the head.
type pinGate struct{}

func (pinGate) Routes() []applet.Route { return []applet.Route{{Path: "/gate"}} }
func (pinGate) Head(c *applet.Ctx, r *http.Request) applet.Answer {
	return c.CheckPIN(r)
}
func (pinGate) Serve(c *applet.Ctx, r *http.Request, w *http.ResponseWriter) {
	applet.Text(w, 200, "in\n")
}
