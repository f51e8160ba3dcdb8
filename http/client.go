package http

// RequestHeader describes a request head for AppendRequestHeader.
type RequestHeader struct {
	Method        string // "GET", "POST", ...
	Target        string // origin-form, e.g. "/path?q"
	Host          string
	ContentType   string
	ContentLength int64 // < 0: none (with Chunked: chunked body)
	Chunked       bool
	Close         bool   // Connection: close
	Accept        string // optional
	UserAgent     string // optional
	Extra         string // preformatted extra field lines, each ending in CRLF
}

// AppendRequestLine appends "METHOD target HTTP/1.1\r\n".
func AppendRequestLine(dst []byte, method, target string) []byte {
	dst = append(dst, method...)
	dst = append(dst, ' ')
	dst = append(dst, target...)
	return append(dst, " HTTP/1.1\r\n"...)
}

// AppendRequestHeader appends an HTTP/1.1 request head (request line,
// Host and the described fields, and the empty line). Body bytes follow:
// ContentLength bytes, or chunks made with AppendChunk and AppendLastChunk.
func AppendRequestHeader(dst []byte, h *RequestHeader) []byte {
	dst = AppendRequestLine(dst, h.Method, h.Target)
	dst = AppendHeader(dst, "Host", h.Host)
	if h.UserAgent != "" {
		dst = AppendHeader(dst, "User-Agent", h.UserAgent)
	}
	if h.Accept != "" {
		dst = AppendHeader(dst, "Accept", h.Accept)
	}
	if h.ContentType != "" {
		dst = AppendContentType(dst, h.ContentType)
	}
	if h.Chunked {
		dst = AppendHeader(dst, "Transfer-Encoding", "chunked")
	} else if h.ContentLength >= 0 {
		dst = AppendContentLength(dst, h.ContentLength)
	}
	if h.Close {
		dst = AppendConnection(dst, true)
	}
	dst = append(dst, h.Extra...)
	return append(dst, "\r\n"...)
}

// IsRedirect reports whether status is a redirection that carries a
// Location to follow (301, 302, 303, 307, 308).
func IsRedirect(status int) bool {
	switch status {
	case 301, 302, 303, 307, 308:
		return true
	}
	return false
}

// RedirectMethod returns the method to use for the redirected request
// (RFC 9110 §15.4): 303 turns anything but HEAD into GET, 301/302 turn POST
// into GET, 307/308 keep the method (and body).
func RedirectMethod(status int, method string) string {
	switch {
	case status == 303 && method != "HEAD":
		return "GET"
	case (status == 301 || status == 302) && method == "POST":
		return "GET"
	}
	return method
}

// Location is a redirect target split into parts. A relative reference
// leaves Scheme and Host empty (same origin).
type Location struct {
	Scheme []byte // "http" or "https", lower-case as sent
	Host   []byte // authority (host[:port])
	Path   []byte // origin-form target: path and query (always starts with '/')
}

// ParseLocation splits a Location field value. Absolute URLs
// ("https://host/p"), network-path references ("//host/p") and absolute
// paths ("/p") are resolved without copying; a relative path ("p", "../p")
// is resolved against the directory of basePath into buf (RFC 3986 §5.2,
// dot segments removed) and Path aliases buf. Fragments are dropped.
func ParseLocation(loc []byte, basePath string, buf []byte) (Location, bool) {
	var l Location
	loc = trimOWS(loc)
	for i, c := range loc {
		if c == '#' {
			loc = loc[:i]
			break
		}
		if c <= 0x20 || c >= 0x7f {
			return l, false
		}
	}
	if len(loc) == 0 {
		return l, false
	}
	// scheme ":" ?
	if loc[0] != '/' {
		for i, c := range loc {
			if c == ':' {
				if i == 0 || !isScheme(loc[:i]) {
					break
				}
				if len(loc) < i+3 || loc[i+1] != '/' || loc[i+2] != '/' {
					return l, false
				}
				l.Scheme = loc[:i]
				loc = loc[i+1:]
				break
			}
			if c == '/' || c == '?' {
				break
			}
		}
	}
	if len(loc) >= 2 && loc[0] == '/' && loc[1] == '/' {
		loc = loc[2:]
		k := 0
		for k < len(loc) && loc[k] != '/' && loc[k] != '?' {
			k++
		}
		if k == 0 {
			return l, false
		}
		l.Host, loc = loc[:k], loc[k:]
		if len(loc) == 0 || loc[0] == '?' {
			buf = append(buf[:0], '/')
			buf = append(buf, loc...)
			l.Path = buf
			return l, true
		}
	} else if l.Scheme != nil {
		return l, false
	}
	if loc[0] == '/' {
		l.Path = loc
		return l, true
	}
	// Relative path: base directory + loc, then remove dot segments.
	dir := basePath
	for len(dir) > 0 && dir[len(dir)-1] != '/' {
		dir = dir[:len(dir)-1]
	}
	if dir == "" {
		dir = "/"
	}
	buf = append(buf[:0], dir...)
	buf = append(buf, loc...)
	l.Path = removeDots(buf)
	return l, true
}

func isScheme(b []byte) bool {
	for i, c := range b {
		ok := 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' ||
			i > 0 && ('0' <= c && c <= '9' || c == '+' || c == '-' || c == '.')
		if !ok {
			return false
		}
	}
	return true
}

// removeDots removes "." and ".." segments from an absolute path in place
// (the query, if any, is kept as is).
func removeDots(p []byte) []byte {
	q := len(p)
	for i, c := range p {
		if c == '?' {
			q = i
			break
		}
	}
	path, query := p[:q], p[q:]
	out := 0 // write index; out path always starts with '/'
	i := 0
	for i < len(path) {
		// path[i] == '/'
		j := i + 1
		for j < len(path) && path[j] != '/' {
			j++
		}
		seg := path[i+1 : j]
		switch string(seg) {
		case ".":
			if j == len(path) {
				path[out] = '/'
				out++
			}
		case "..":
			for out > 0 {
				out--
				if path[out] == '/' {
					break
				}
			}
			if j == len(path) {
				path[out] = '/'
				out++
			}
		default:
			out += copy(path[out:], path[i:j])
		}
		i = j
	}
	if out == 0 {
		path[0] = '/'
		out = 1
	}
	n := out + copy(p[out:], query)
	return p[:n]
}
