package http_test

import (
	"fmt"
	"strings"
	"time"

	"netcard/http"
)

// A card web server: static files with ETag/Range/HEAD support through
// ServeContent, driven by bytes in and bytes out.
func ExampleServerConn() {
	files := map[string][]byte{"/index.html": []byte("<h1>card</h1>")}
	c := http.NewServerConn(http.ServerConfig{
		Handler: func(r *http.Request, w *http.ResponseWriter) {
			data, ok := files[string(r.Path)]
			if !ok {
				w.Header.Status = 404
				return
			}
			http.ServeContent(w, r, http.MIMEType(string(r.Path)), `"v1"`, data)
		},
	})
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	c.Input([]byte("GET /index.html HTTP/1.1\r\nHost: card\r\nRange: bytes=4-7\r\n\r\n"), now)
	out := make([]byte, 512)
	n := c.Output(out, now)
	fmt.Print(strings.ReplaceAll(string(out[:n]), "\r\n", "\n"))
	// Output:
	// HTTP/1.1 206 Partial Content
	// Date: Fri, 27 Nov 2026 12:00:00 GMT
	// Content-Type: text/html; charset=utf-8
	// Content-Length: 4
	// ETag: "v1"
	// Accept-Ranges: bytes
	// Content-Range: bytes 4-7/13
	//
	// card
}
