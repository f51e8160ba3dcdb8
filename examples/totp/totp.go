// Package totp is an example card application: a TOTP authenticator
// (RFC 6238). The administrator enrolls seeds (PUT /totp/NAME, the bearer
// token, the secret as hex in the body; DELETE removes one); the PIN
// holder gets the current code (GET /totp/NAME, the PIN as the HTTP Basic
// password). Seeds live in the application's store namespace and never
// leave the card.
package totp

import (
	"crypto/hmac"
	"crypto/sha1"
	"encoding/binary"
	"encoding/hex"

	"netcard/applet"
	"netcard/http"
)

// Step and Digits are RFC 6238's defaults (§4.1, §5.3): 30 s, 6 digits,
// HMAC-SHA-1.
const (
	Step   = 30
	Digits = 6
)

// App is the authenticator.
type App struct {
	seed [64]byte // the seed being used (cleared after)
}

// Manifest: 2 KiB of seeds, no key.
var Manifest = applet.Manifest{Name: "totp", Quota: 2048, RAM: 64}

// Routes implements applet.App.
func (*App) Routes() []applet.Route { return []applet.Route{{Path: "/totp/"}} }

// Head authorises from the head: the admin to enroll, the PIN to read.
func (*App) Head(c *applet.Ctx, r *http.Request) applet.Answer {
	name := string(r.Path[len("/totp/"):])
	if name == "" || len(name) > 64 {
		return applet.Answer{Status: 404, Msg: "no such seed\n"}
	}
	switch string(r.Method) {
	case "PUT", "DELETE":
		return c.CheckAdmin(r)
	case "GET":
		return c.CheckPIN(r)
	}
	return applet.Answer{Status: 405, Msg: "method not allowed\n", Extra: "Allow: GET, PUT, DELETE\r\n"}
}

// Code is the RFC 6238 code of seed at Unix time t (RFC 4226 §5.3
// dynamic truncation).
func Code(seed []byte, t int64) uint32 {
	var msg [8]byte
	binary.BigEndian.PutUint64(msg[:], uint64(t/Step))
	m := hmac.New(sha1.New, seed)
	m.Write(msg[:])
	sum := m.Sum(nil)
	off := sum[len(sum)-1] & 0xf
	v := binary.BigEndian.Uint32(sum[off:]) & 0x7fffffff
	return v % 1000000
}

// Serve enrolls, removes or answers a code.
func (a *App) Serve(c *applet.Ctx, r *http.Request, w *http.ResponseWriter) {
	name := string(r.Path[len("/totp/"):])
	switch string(r.Method) {
	case "PUT":
		b := r.Body
		for len(b) > 0 && (b[len(b)-1] == '\n' || b[len(b)-1] == '\r') {
			b = b[:len(b)-1]
		}
		n, err := hex.Decode(a.seed[:], b)
		if err != nil || n < 10 || len(b) > 2*len(a.seed) {
			applet.Text(w, 400, "body: the seed in hex, 10 to 64 bytes\n")
			return
		}
		err = c.Store.Put(name, a.seed[:n])
		clear(a.seed[:])
		if err != nil {
			applet.Text(w, 507, err.Error()+"\n")
			return
		}
		applet.Text(w, 201, "enrolled\n")
	case "DELETE":
		if c.Store.Delete(name) != nil {
			applet.Text(w, 404, "no such seed\n")
			return
		}
		applet.Text(w, 200, "deleted\n")
	case "GET":
		seed, ok := c.Store.Get(name, a.seed[:0])
		if !ok {
			applet.Text(w, 404, "no such seed\n")
			return
		}
		v := Code(seed, c.Now.Unix())
		clear(a.seed[:])
		var out [Digits + 1]byte
		for i := Digits - 1; i >= 0; i-- {
			out[i] = byte('0' + v%10)
			v /= 10
		}
		out[Digits] = '\n'
		w.Header.Status = 200
		w.Header.ContentType = "text/plain"
		w.Header.CacheControl = "no-store"
		w.Write(out[:])
	}
}
