package apps

import (
	"crypto/sha256"
	"encoding/hex"
	"hash"
	"strconv"

	"netcard/http"
)

// DefaultMaxUpload is the default largest body PUT /upload accepts.
const DefaultMaxUpload = 4 << 20

// StreamBody, called by a handler while ci.Head is set, has the request's
// body streamed to sink as it arrives, up to max bytes (see
// http.ServerConfig.Body), instead of being buffered whole; the handler is
// then called again to answer once the body has ended.
func (ci *ConnInfo) StreamBody(sink http.BodySink, max int64) {
	if ci.Head {
		ci.Sink, ci.Max = sink, max
	}
}

// upload is a connection's PUT /upload state: the body's length and
// running SHA-256. A session allocates it at its first upload and reuses
// it while its ConnInfo is lent (until a Shed finds the session idle, or
// Release).
type upload struct {
	h   hash.Hash
	n   int64
	sum [sha256.Size]byte
}

func newUpload() *upload { return &upload{h: sha256.New()} }

// uploadFootprint is the heap an upload holds: the struct (64-byte size
// class) and crypto/sha256's digest (128), as measured.
const uploadFootprint = 64 + 128

// UploadFootprint is the heap a session holds for PUT /upload once it was
// used (uploadFootprint): for RAM bounds.
const UploadFootprint = uploadFootprint

func (u *upload) reset() {
	u.h.Reset()
	u.n = 0
}

// WriteBody hashes the next piece of the body.
func (u *upload) WriteBody(p []byte) error {
	u.h.Write(p)
	u.n += int64(len(p))
	return nil
}

// answer writes {"length":n,"sha256":"<hex>"} for what was hashed.
func (u *upload) answer(w *http.ResponseWriter) {
	u.h.Sum(u.sum[:0])
	var buf [128]byte
	b := append(buf[:0], `{"length":`...)
	b = strconv.AppendInt(b, u.n, 10)
	b = append(b, `,"sha256":"`...)
	k := len(b)
	b = b[:k+hex.EncodedLen(len(u.sum))]
	hex.Encode(b[k:], u.sum[:])
	w.Write(append(b, "\"}\n"...))
}

// uploadHead decides, for a request head whose body is still to come,
// whether it goes to PUT/POST /upload's hasher.
func (a *App) uploadHead(ci *ConnInfo, r *http.Request) {
	m := string(r.Method)
	if !ci.TLS || a.cfg.MaxUpload <= 0 || string(r.Path) != "/upload" || m != "PUT" && m != "POST" {
		return
	}
	if ci.up == nil {
		ci.up = newUpload()
	}
	ci.up.reset()
	ci.StreamBody(ci.up, int64(a.cfg.MaxUpload))
}

// serveUpload answers PUT or POST /upload: the body, streamed through
// SHA-256 as it arrived (up to Config.MaxUpload bytes; more gets 413),
// is not kept; the answer is its length and hex digest as JSON.
func (a *App) serveUpload(ci *ConnInfo, r *http.Request, w *http.ResponseWriter) {
	m := string(r.Method)
	if m != "PUT" && m != "POST" {
		a.methodNotAllowed(w, "Allow: PUT, POST\r\n")
		return
	}
	if ci.up == nil {
		ci.up = newUpload()
	}
	u := ci.up
	if !r.BodyStreamed {
		// No body announced (or the connection does not stream): the
		// buffered body, usually empty.
		u.reset()
		u.WriteBody(r.Body)
	}
	w.Header.Status = 200
	w.Header.ContentType = "application/json"
	w.Header.CacheControl = "no-store"
	u.answer(w)
	u.reset()
}
