package http

// MIMEType returns the media type for a file name by its extension
// (case-insensitive), or "application/octet-stream".
func MIMEType(name string) string {
	dot := -1
	for i := len(name) - 1; i >= 0 && name[i] != '/'; i-- {
		if name[i] == '.' {
			dot = i
			break
		}
	}
	if dot < 0 || len(name)-dot > 6 {
		return "application/octet-stream"
	}
	var e [5]byte
	n := copy(e[:], name[dot+1:])
	for i := 0; i < n; i++ {
		e[i] = lower(e[i])
	}
	switch string(e[:n]) {
	case "html", "htm":
		return "text/html; charset=utf-8"
	case "css":
		return "text/css; charset=utf-8"
	case "js", "mjs":
		return "text/javascript; charset=utf-8"
	case "json":
		return "application/json"
	case "txt":
		return "text/plain; charset=utf-8"
	case "xml":
		return "application/xml"
	case "svg":
		return "image/svg+xml"
	case "png":
		return "image/png"
	case "jpg", "jpeg":
		return "image/jpeg"
	case "gif":
		return "image/gif"
	case "webp":
		return "image/webp"
	case "ico":
		return "image/vnd.microsoft.icon"
	case "wasm":
		return "application/wasm"
	case "pdf":
		return "application/pdf"
	case "woff2":
		return "font/woff2"
	case "pem":
		return "application/x-pem-file"
	case "cer", "der", "crt":
		return "application/pkix-cert"
	}
	return "application/octet-stream"
}

// MatchETag reports whether an If-None-Match value matches etag (quoted),
// using the weak comparison of RFC 9110 §13.1.2: "*" matches any current
// representation; W/ prefixes are ignored.
func MatchETag(ifNoneMatch []byte, etag string) bool {
	if len(etag) >= 2 && etag[0] == 'W' && etag[1] == '/' {
		etag = etag[2:]
	}
	v := trimOWS(ifNoneMatch)
	if len(v) == 1 && v[0] == '*' {
		return etag != ""
	}
	for len(v) > 0 {
		v = trimOWS(v)
		if len(v) > 0 && v[0] == ',' {
			v = v[1:]
			continue
		}
		if len(v) >= 2 && v[0] == 'W' && v[1] == '/' {
			v = v[2:]
		}
		if len(v) == 0 || v[0] != '"' {
			return false // malformed list
		}
		end := 1
		for end < len(v) && v[end] != '"' {
			end++
		}
		if end == len(v) {
			return false
		}
		if string(v[:end+1]) == etag {
			return true
		}
		v = v[end+1:]
	}
	return false
}

// RangeResult is the outcome of ParseRange.
type RangeResult int

// Range outcomes.
const (
	RangeNone          RangeResult = iota // no usable Range: send the whole representation (200)
	RangeOK                               // one satisfiable range: 206
	RangeUnsatisfiable                    // 416 with Content-Range: bytes */size
)

func parseDec(b []byte) (int64, bool) {
	if len(b) == 0 || len(b) > 18 {
		return 0, false
	}
	var n int64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}

// ParseRange interprets a Range field value for a representation of size
// bytes (RFC 9110 §14.1.2): a single "bytes=a-b", "bytes=a-" or "bytes=-n".
// It returns the inclusive byte range. Malformed values, other units and
// multiple ranges give RangeNone (the field is ignored and the whole
// representation sent).
func ParseRange(h []byte, size int64) (first, last int64, res RangeResult) {
	v := trimOWS(h)
	if len(v) < 6 || !eqFold(v[:6], "bytes=") {
		return 0, 0, RangeNone
	}
	v = trimOWS(v[6:])
	for _, c := range v {
		if c == ',' {
			return 0, 0, RangeNone
		}
	}
	dash := -1
	for i, c := range v {
		if c == '-' {
			dash = i
			break
		}
	}
	if dash < 0 {
		return 0, 0, RangeNone
	}
	a, b := trimOWS(v[:dash]), trimOWS(v[dash+1:])
	if len(a) == 0 { // suffix range "-n"
		n, ok := parseDec(b)
		if !ok {
			return 0, 0, RangeNone
		}
		if n == 0 || size == 0 {
			return 0, 0, RangeUnsatisfiable
		}
		if n > size {
			n = size
		}
		return size - n, size - 1, RangeOK
	}
	f, ok := parseDec(a)
	if !ok {
		return 0, 0, RangeNone
	}
	l := size - 1
	if len(b) > 0 {
		if l2, ok := parseDec(b); !ok || l2 < f {
			return 0, 0, RangeNone
		} else if l2 < l {
			l = l2
		}
	}
	if f >= size {
		return 0, 0, RangeUnsatisfiable
	}
	return f, l, RangeOK
}
