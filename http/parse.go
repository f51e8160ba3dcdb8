package http

import (
	"errors"
)

// ErrIncomplete is returned by the parsers when more bytes are needed.
var ErrIncomplete = errors.New("http: incomplete message")

// Error is a protocol error carrying the status code a server should answer
// with (for request errors) before closing the connection.
type Error struct {
	Status int
	Reason string
}

func (e *Error) Error() string { return "http: " + e.Reason }

// Request errors. Each is a *Error.
var (
	ErrBadRequest       = &Error{400, "malformed request"}
	ErrBadHeader        = &Error{400, "malformed header field"}
	ErrObsFold          = &Error{400, "obsolete line folding"}
	ErrBadHost          = &Error{400, "missing or duplicate Host"}
	ErrBadLength        = &Error{400, "invalid or duplicate Content-Length"}
	ErrBadFraming       = &Error{400, "conflicting message framing"}
	ErrBadChunk         = &Error{400, "malformed chunked encoding"}
	ErrURITooLong       = &Error{414, "request-target too long"}
	ErrHeaderTooLarge   = &Error{431, "header section too large"}
	ErrTooManyHeaders   = &Error{431, "too many header fields"}
	ErrBodyTooLarge     = &Error{413, "content too large"}
	ErrUnsupportedCode  = &Error{501, "unsupported transfer coding"}
	ErrVersion          = &Error{505, "HTTP version not supported"}
	ErrBadResponse      = &Error{502, "malformed response"}
	ErrBadStatus        = &Error{502, "malformed status line"}
	ErrResponseFraming  = &Error{502, "conflicting response framing"}
	ErrTooManyRespHdrs  = &Error{502, "too many response header fields"}
	ErrResponseTooLarge = &Error{502, "response body too large"}
)

// MaxHeaders is the size of the header array inside Request and Response.
const MaxHeaders = 32

// Limits bound what a request may use. Zero fields take the defaults of
// DefaultLimits.
type Limits struct {
	MaxTarget      int   // request-target bytes (414); default 1024
	MaxHeaderBytes int   // request line plus header section bytes (431); default 4096
	MaxHeaders     int   // header fields, at most MaxHeaders (431); default MaxHeaders
	MaxBody        int64 // body bytes after decoding (413); default 16384
}

// DefaultLimits returns the default limits.
func DefaultLimits() Limits {
	return Limits{MaxTarget: 1024, MaxHeaderBytes: 4096, MaxHeaders: MaxHeaders, MaxBody: 16384}
}

func (l Limits) norm() Limits {
	d := DefaultLimits()
	if l.MaxTarget <= 0 {
		l.MaxTarget = d.MaxTarget
	}
	if l.MaxHeaderBytes <= 0 {
		l.MaxHeaderBytes = d.MaxHeaderBytes
	}
	if l.MaxHeaders <= 0 || l.MaxHeaders > MaxHeaders {
		l.MaxHeaders = MaxHeaders
	}
	if l.MaxBody <= 0 {
		l.MaxBody = d.MaxBody
	}
	return l
}

// Header is one header field; Name and Value alias the parsed bytes. Value
// has surrounding whitespace removed.
type Header struct {
	Name, Value []byte
}

// Headers is the fixed header array of a message. Each field is kept as
// four 16-bit offsets into the parsed bytes (8 bytes a field instead of
// two slices' 48), so a header section must lie within the first 64 KiB
// of what is parsed (ErrHeaderTooLarge otherwise).
type Headers struct {
	base []byte // the parsed bytes the offsets refer to
	list [MaxHeaders]span
	N    int // fields in use
}

// span locates one field in Headers.base: name base[ns:ne], value
// base[vs:ve].
type span struct{ ns, ne, vs, ve uint16 }

// maxSpanOff is the largest offset a span can hold.
const maxSpanOff = 1<<16 - 1

// Field returns field i (0 ≤ i < N) in the order received.
func (h *Headers) Field(i int) Header {
	s := h.list[i]
	return Header{Name: h.base[s.ns:s.ne:s.ne], Value: h.base[s.vs:s.ve:s.ve]}
}

func (h *Headers) name(i int) []byte {
	s := h.list[i]
	return h.base[s.ns:s.ne:s.ne]
}

func (h *Headers) value(i int) []byte {
	s := h.list[i]
	return h.base[s.vs:s.ve:s.ve]
}

// Get returns the value of the first field named name (case-insensitive;
// name in lower case), or nil.
func (h *Headers) Get(name string) []byte {
	for i := 0; i < h.N; i++ {
		if eqFold(h.name(i), name) {
			return h.value(i)
		}
	}
	return nil
}

// Has reports whether a field named name (lower case) is present.
func (h *Headers) Has(name string) bool {
	for i := 0; i < h.N; i++ {
		if eqFold(h.name(i), name) {
			return true
		}
	}
	return false
}

// Request is a parsed request. Byte slices alias the parsed buffer.
type Request struct {
	Method []byte
	Target []byte // request-target as sent
	Path   []byte // origin-form path (absolute-form: its path; "*" for asterisk-form)
	Query  []byte // after '?', without it; nil if none
	Minor  int    // HTTP/1.Minor (0 or 1)
	Headers
	Host          []byte
	ContentLength int64 // -1 if the request has no Content-Length
	Chunked       bool  // Transfer-Encoding: chunked
	Close         bool  // the connection closes after the response (Connection, version)
	KeepAlive10   bool  // an HTTP/1.0 request asked for keep-alive
	Expect100     bool  // Expect: 100-continue
	// BodyStreamed reports that the body was handed to a BodySink as it
	// arrived (see ServerConfig.Body) instead of being collected in Body.
	BodyStreamed bool
	HeadLen      int // bytes of request line and header section (set once the head is complete)
	// Body is the whole body (empty when streamed).
	Body []byte
	// BodyErr is the error with which the BodySink stopped a streamed body
	// early: the rest was not read and the connection closes after the
	// response.
	BodyErr error
}

// IsHEAD reports whether the method is HEAD.
func (r *Request) IsHEAD() bool { return string(r.Method) == "HEAD" }

// Response is a parsed response. Byte slices alias the parsed buffer.
type Response struct {
	Minor  int
	Status int
	Reason []byte
	Headers
	ContentLength int64 // -1 if absent
	Chunked       bool
	Close         bool // the server will close the connection
	UntilClose    bool // the body is delimited by connection close: Body is what has arrived so far
	HeadLen       int
	Body          []byte
}

func lower(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// eqFold compares b with the lower-case ASCII string s, ignoring case.
func eqFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := 0; i < len(b); i++ {
		if lower(b[i]) != s[i] {
			return false
		}
	}
	return true
}

// tchar per RFC 9110 §5.6.2.
var tchar = func() (t [256]bool) {
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c] = true
		t[c-'a'+'A'] = true
	}
	for _, c := range "!#$%&'*+-.^_`|~" {
		t[c] = true
	}
	return
}()

func isToken(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	for _, c := range b {
		if !tchar[c] {
			return false
		}
	}
	return true
}

// nextLine finds the line starting at i: it returns the line without its
// terminator (CRLF or a bare LF) and the index after it, or ok=false if no
// LF is present yet. A CR not followed by LF is an error.
func nextLine(b []byte, i int) (line []byte, next int, ok bool, bad bool) {
	for j := i; j < len(b); j++ {
		switch b[j] {
		case '\n':
			e := j
			if e > i && b[e-1] == '\r' {
				e--
			}
			return b[i:e], j + 1, true, false
		case '\r':
			if j+1 < len(b) && b[j+1] != '\n' {
				return nil, 0, false, true
			}
		}
	}
	return nil, 0, false, false
}

func trimOWS(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t') {
		b = b[:len(b)-1]
	}
	return b
}

// framing collects what the header fields say about message framing.
type framing struct {
	cl        int64
	clSeen    bool
	chunked   bool
	teSeen    bool
	teOther   bool // a coding other than chunked, or chunked not last
	teBad     bool // chunked applied twice / empty
	hosts     int
	host      []byte
	close     bool
	keepAlive bool
	expect100 bool
}

// parseCL parses a Content-Length value: 1*DIGIT, bounded.
func parseCL(v []byte) (int64, bool) {
	if len(v) == 0 || len(v) > 18 {
		return 0, false
	}
	var n int64
	for _, c := range v {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}

// forList calls f for each non-empty, OWS-trimmed element of a list value.
func forList(v []byte, f func(e []byte)) {
	for len(v) > 0 {
		i := 0
		for i < len(v) && v[i] != ',' {
			i++
		}
		if e := trimOWS(v[:i]); len(e) > 0 {
			f(e)
		}
		if i == len(v) {
			return
		}
		v = v[i+1:]
	}
}

// parseFields parses header field lines starting at i up to and including
// the empty line. It returns the index after the empty line.
func parseFields(b []byte, i int, h *Headers, maxN, maxBytes int, fr *framing, errMany *Error) (int, error) {
	h.N, h.base = 0, b
	fr.cl = -1
	for {
		line, next, ok, bad := nextLine(b, i)
		if bad {
			return 0, ErrBadHeader
		}
		if !ok {
			if len(b) >= maxBytes {
				return 0, ErrHeaderTooLarge
			}
			return 0, ErrIncomplete
		}
		if next > maxBytes || next > maxSpanOff {
			return 0, ErrHeaderTooLarge
		}
		ls := i // offset of line in b
		i = next
		if len(line) == 0 {
			return i, nil
		}
		if line[0] == ' ' || line[0] == '\t' {
			return 0, ErrObsFold
		}
		c := 0
		for c < len(line) && line[c] != ':' {
			c++
		}
		if c == len(line) || !isToken(line[:c]) {
			return 0, ErrBadHeader
		}
		name, value := line[:c], trimOWS(line[c+1:])
		for _, ch := range value {
			if ch < 0x20 && ch != '\t' || ch == 0x7f {
				return 0, ErrBadHeader
			}
		}
		if h.N >= maxN {
			return 0, errMany
		}
		vs := ls + c + 1
		for vs < ls+len(line) && (b[vs] == ' ' || b[vs] == '\t') {
			vs++ // the OWS trimOWS dropped in front of value
		}
		h.list[h.N] = span{uint16(ls), uint16(ls + c), uint16(vs), uint16(vs + len(value))}
		h.N++
		switch lower(name[0]) {
		case 'c':
			if eqFold(name, "content-length") {
				n, ok := parseCL(value)
				if fr.clSeen || !ok {
					fr.cl, fr.clSeen = -2, true // poisoned
					continue
				}
				fr.cl, fr.clSeen = n, true
			} else if eqFold(name, "connection") {
				forList(value, func(e []byte) {
					if eqFold(e, "close") {
						fr.close = true
					} else if eqFold(e, "keep-alive") {
						fr.keepAlive = true
					}
				})
			}
		case 't':
			if eqFold(name, "transfer-encoding") {
				fr.teSeen = true
				empty := true
				forList(value, func(e []byte) {
					empty = false
					if fr.chunked {
						fr.teOther = true // something after chunked
					}
					if eqFold(e, "chunked") {
						fr.chunked = true
					} else {
						fr.teOther = true
					}
				})
				if empty {
					fr.teBad = true
				}
			}
		case 'h':
			if eqFold(name, "host") {
				fr.hosts++
				fr.host = value
			}
		case 'e':
			if eqFold(name, "expect") && eqFold(value, "100-continue") {
				fr.expect100 = true
			}
		}
	}
}

// parseVersion parses "HTTP/d.d".
func parseVersion(v []byte) (minor int, err error) {
	if len(v) != 8 || string(v[:5]) != "HTTP/" || v[6] != '.' ||
		v[5] < '0' || v[5] > '9' || v[7] < '0' || v[7] > '9' {
		return 0, ErrBadRequest
	}
	if v[5] != '1' {
		return 0, ErrVersion
	}
	if v[7] > '1' {
		return 1, nil // a higher 1.x minor is answered as 1.1
	}
	return int(v[7] - '0'), nil
}

// ParseRequestHead parses the request line and header section of the
// request at the start of b (RFC 9112 §2-§6) and returns its length. It
// does not read the body: r.ContentLength and r.Chunked say what follows.
func ParseRequestHead(b []byte, lim Limits, r *Request) (int, error) {
	lim = lim.norm()
	r.Method, r.Target, r.Path, r.Query, r.Host, r.Body = nil, nil, nil, nil, nil, nil
	r.BodyStreamed, r.BodyErr = false, nil
	r.N, r.Minor, r.ContentLength, r.HeadLen = 0, 0, -1, 0
	r.Chunked, r.Close, r.KeepAlive10, r.Expect100 = false, false, false, false
	// RFC 9112 §2.2: ignore empty lines before the request line.
	i := 0
	for i < len(b) && (b[i] == '\r' || b[i] == '\n') {
		if b[i] == '\r' && i+1 < len(b) && b[i+1] != '\n' {
			return 0, ErrBadRequest
		}
		i++
		if i > 64 {
			return 0, ErrBadRequest
		}
	}
	line, next, ok, bad := nextLine(b, i)
	if bad {
		return 0, ErrBadRequest
	}
	if !ok {
		// The method and the target make up a long first line.
		if len(b)-i > lim.MaxTarget+32 {
			return 0, ErrURITooLong
		}
		if len(b) >= lim.MaxHeaderBytes {
			return 0, ErrHeaderTooLarge
		}
		return 0, ErrIncomplete
	}
	sp1 := 0
	for sp1 < len(line) && line[sp1] != ' ' {
		sp1++
	}
	if sp1 == len(line) || sp1 > 32 || !isToken(line[:sp1]) {
		return 0, ErrBadRequest
	}
	rest := line[sp1+1:]
	sp2 := 0
	for sp2 < len(rest) && rest[sp2] != ' ' {
		if c := rest[sp2]; c <= 0x20 || c >= 0x7f || c == '#' {
			return 0, ErrBadRequest
		} else if c == '%' { // pct-encoded = "%" HEXDIG HEXDIG
			if sp2+2 >= len(rest) {
				return 0, ErrBadRequest
			}
			if _, ok := unhex(rest[sp2+1]); !ok {
				return 0, ErrBadRequest
			}
			if _, ok := unhex(rest[sp2+2]); !ok {
				return 0, ErrBadRequest
			}
		}
		sp2++
	}
	if sp2 > lim.MaxTarget {
		return 0, ErrURITooLong
	}
	if sp2 == 0 || sp2 == len(rest) {
		return 0, ErrBadRequest
	}
	minor, err := parseVersion(rest[sp2+1:])
	if err != nil {
		return 0, err
	}
	if next > lim.MaxHeaderBytes {
		return 0, ErrHeaderTooLarge
	}
	r.Method, r.Target, r.Minor = line[:sp1], rest[:sp2], minor
	auth, ok := splitTarget(r)
	if !ok {
		return 0, ErrBadRequest
	}
	var fr framing
	end, err := parseFields(b, next, &r.Headers, lim.MaxHeaders, lim.MaxHeaderBytes, &fr, ErrTooManyHeaders)
	if err != nil {
		return 0, err
	}
	if fr.hosts > 1 || fr.hosts == 0 && minor == 1 {
		return 0, ErrBadHost
	}
	if fr.hosts == 1 && !validHost(fr.host) {
		return 0, ErrBadHost
	}
	r.Host = fr.host
	if auth != nil {
		// RFC 9112 §3.2.2: with an absolute-form target the server MUST ignore the Host field
		// (still required and checked above, §3.2) and use the target's authority.
		r.Host = auth
	}
	switch {
	case fr.teSeen && minor == 0:
		return 0, ErrBadFraming // RFC 9112 §6.1: faulty framing
	case fr.teSeen && fr.clSeen:
		return 0, ErrBadFraming
	case fr.teBad:
		return 0, ErrBadRequest
	case fr.teOther:
		return 0, ErrUnsupportedCode
	case fr.cl == -2:
		return 0, ErrBadLength
	}
	if fr.cl > lim.MaxBody {
		return 0, ErrBodyTooLarge
	}
	r.ContentLength, r.Chunked, r.Expect100 = fr.cl, fr.chunked, fr.expect100
	if minor == 0 {
		r.KeepAlive10 = fr.keepAlive && !fr.close
		r.Close = !r.KeepAlive10
	} else {
		r.Close = fr.close
	}
	r.HeadLen = end
	return end, nil
}

// hostChar: characters of uri-host [":" port] (RFC 3986 reg-name,
// IP-literal, IPv4 address, port).
var hostChar = func() (t [256]bool) {
	for c := range t {
		t[c] = tchar[c] && c != '|' && c != '`' && c != '^' && c != '#'
	}
	for _, c := range ":[]%;=,()" {
		t[c] = true
	}
	return
}()

// validHost checks a Host field value. HTTP/1.1 allows it to be empty when
// the target has no authority.
func validHost(h []byte) bool {
	for _, c := range h {
		if !hostChar[c] {
			return false
		}
	}
	return true
}

// splitTarget sets Path and Query from Target (RFC 9112 §3.2) and returns the authority of an
// absolute-form target (nil for the other forms); false when the target is malformed.
func splitTarget(r *Request) (auth []byte, ok bool) {
	t := r.Target
	if t[0] == '*' {
		r.Path = t
		return nil, len(t) == 1
	}
	if t[0] != '/' {
		// absolute-form "scheme://authority[/path][?query]", else authority-form.
		k := 0
		for k+2 < len(t) && !(t[k] == ':' && t[k+1] == '/' && t[k+2] == '/') {
			k++
		}
		if k == 0 || k+2 >= len(t) || !isScheme(t[:k]) {
			// authority-form, CONNECT only (RFC 9112 §3.2.3)
			return nil, string(r.Method) == "CONNECT" && validAuthority(t)
		}
		t = t[k+3:]
		k = 0
		for k < len(t) && t[k] != '/' && t[k] != '?' {
			k++
		}
		if k == 0 || !validAuthority(t[:k]) {
			return nil, false
		}
		auth, t = t[:k], t[k:]
	}
	q := 0
	for q < len(t) && t[q] != '?' {
		q++
	}
	if q < len(t) {
		r.Query = t[q+1:]
	}
	if q == 0 {
		r.Path = rootPath
	} else {
		r.Path = t[:q]
	}
	return auth, true
}

// validAuthority checks the authority of an absolute-form target: host [":" port] (RFC 3986
// §3.2). A userinfo ("user@") is an error (RFC 9110 §4.2.4: a recipient SHOULD treat it as one);
// the host is an IPv6 literal in brackets or a reg-name / IPv4 address of unreserved and
// sub-delims characters — percent-encoding is refused (RFC 3986 allows it; no client sends it
// in a host, and Go's net/http refuses most of it); the port is digits.
func validAuthority(a []byte) bool {
	h := a
	if len(a) > 0 && a[0] == '[' {
		e := 1
		for e < len(a) && a[e] != ']' {
			c := a[e]
			if !('0' <= c && c <= '9' || 'a' <= c|0x20 && c|0x20 <= 'f' || c == ':' || c == '.') {
				return false
			}
			e++
		}
		if e == len(a) || e == 1 {
			return false
		}
		h, a = a[:e+1], a[e+1:]
		if !validIPv6Literal(h[1 : len(h)-1]) {
			return false
		}
	} else {
		e := 0
		for e < len(a) && a[e] != ':' {
			if !regNameChar(a[e]) {
				return false
			}
			e++
		}
		a = a[e:]
	}
	if len(a) == 0 {
		return true
	}
	if a[0] != ':' {
		return false
	}
	for _, c := range a[1:] {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// regNameChar: unreserved / sub-delims (RFC 3986 §2.2, §2.3, §3.2.2).
func regNameChar(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	switch c {
	case '-', '.', '_', '~', '!', '$', '&', '\'', '(', ')', '*', '+', ',', ';', '=':
		return true
	}
	return false
}

// validIPv6Literal checks the text between the brackets of an IP-literal: eight groups of one
// to four hex digits, "::" once for a run of zero groups, the last 32 bits perhaps a dotted IPv4
// address (RFC 3986 §3.2.2; IPvFuture and zones are refused).
func validIPv6Literal(s []byte) bool {
	groups, gap := 0, false
	if len(s) >= 2 && s[0] == ':' && s[1] == ':' {
		gap, s = true, s[2:]
		if len(s) == 0 {
			return true
		}
	} else if len(s) > 0 && s[0] == ':' {
		return false
	}
	for len(s) > 0 {
		n := 0
		for n < len(s) && n < 5 && (s[n] >= '0' && s[n] <= '9' || 'a' <= s[n]|0x20 && s[n]|0x20 <= 'f') {
			n++
		}
		if n < len(s) && s[n] == '.' {
			// dotted IPv4 in the last 32 bits
			if !validIPv4(s) {
				return false
			}
			groups += 2
			s = nil
			break
		}
		if n == 0 || n > 4 {
			return false
		}
		groups++
		s = s[n:]
		if len(s) == 0 {
			break
		}
		if s[0] != ':' {
			return false
		}
		s = s[1:]
		if len(s) > 0 && s[0] == ':' {
			if gap {
				return false
			}
			gap, s = true, s[1:]
			if len(s) == 0 {
				break
			}
		} else if len(s) == 0 {
			return false // a trailing single colon
		}
	}
	if gap {
		return groups < 8
	}
	return groups == 8
}

// validIPv4 checks a dotted-decimal IPv4 address: four decimal octets, no leading zeros.
func validIPv4(s []byte) bool {
	for part := 0; part < 4; part++ {
		n, v := 0, 0
		for n < len(s) && s[n] >= '0' && s[n] <= '9' {
			v = v*10 + int(s[n]-'0')
			n++
			if n > 3 {
				return false
			}
		}
		if n == 0 || v > 255 || n > 1 && s[0] == '0' {
			return false
		}
		s = s[n:]
		if part < 3 {
			if len(s) == 0 || s[0] != '.' {
				return false
			}
			s = s[1:]
		}
	}
	return len(s) == 0
}

var rootPath = []byte("/")

// ParseRequest parses one complete request (head and body) at the start of
// b and returns the bytes it occupies, so a pipelined request follows at
// b[n:]. It returns ErrIncomplete until the whole message is present, or a
// *Error with the status to answer. A chunked body is decoded in place: on
// success the body bytes are moved together (b is modified) and r.Body
// aliases them.
func ParseRequest(b []byte, lim Limits, r *Request) (int, error) {
	lim = lim.norm()
	n, err := ParseRequestHead(b, lim, r)
	if err != nil {
		return 0, err
	}
	switch {
	case r.Chunked:
		body, used, err := decodeChunkedBody(b[n:], lim.MaxBody, lim.MaxHeaderBytes, ErrBadChunk, ErrBodyTooLarge)
		if err != nil {
			return 0, err
		}
		r.Body = body
		return n + used, nil
	case r.ContentLength > 0:
		if int64(len(b)-n) < r.ContentLength {
			return 0, ErrIncomplete
		}
		end := n + int(r.ContentLength)
		r.Body = b[n:end:end]
		return end, nil
	}
	r.Body = b[n:n:n]
	return n, nil
}

// decodeChunkedBody checks that a complete chunked body is present (first
// pass, no writes) and then decodes it in place.
func decodeChunkedBody(b []byte, maxBody int64, maxTrailer int, errBad, errBig *Error) (body []byte, used int, err error) {
	var d ChunkedDecoder
	d.Max, d.MaxTrailer = maxBody, maxTrailer
	d.errBad, d.errBig = errBad, errBig
	_, _, done, err := d.scan(b, scanCheck)
	if err != nil {
		return nil, 0, err
	}
	if !done {
		return nil, 0, ErrIncomplete
	}
	d.Reset()
	out, used, _, _ := d.scan(b, scanWrite)
	return b[:out:out], used, nil
}

// ParseResponseHead parses the status line and header section of the
// response at the start of b. head tells whether the request was HEAD.
func ParseResponseHead(b []byte, head bool, r *Response) (int, error) {
	r.Reason, r.Body, r.N, r.HeadLen, r.ContentLength = nil, nil, 0, 0, -1
	r.Chunked, r.Close, r.UntilClose = false, false, false
	line, next, ok, bad := nextLine(b, 0)
	if bad {
		return 0, ErrBadStatus
	}
	if !ok {
		return 0, ErrIncomplete
	}
	if len(line) < 12 || line[8] != ' ' {
		return 0, ErrBadStatus
	}
	minor, err := parseVersion(line[:8])
	if err != nil {
		return 0, ErrBadStatus
	}
	st := 0
	for _, c := range line[9:12] {
		if c < '0' || c > '9' {
			return 0, ErrBadStatus
		}
		st = st*10 + int(c-'0')
	}
	if st < 100 || st > 599 || len(line) > 12 && line[12] != ' ' {
		return 0, ErrBadStatus
	}
	r.Minor, r.Status = minor, st
	if len(line) > 13 {
		r.Reason = line[13:]
	}
	var fr framing
	end, err := parseFields(b, next, &r.Headers, MaxHeaders, 1<<30, &fr, ErrTooManyRespHdrs)
	if err != nil {
		if err == ErrBadHeader || err == ErrObsFold || err == ErrHeaderTooLarge {
			return 0, ErrBadResponse
		}
		return 0, err
	}
	r.HeadLen = end
	r.Close = fr.close || minor == 0 && !fr.keepAlive
	// RFC 9112 §6.1: Transfer-Encoding in HTTP/1.0, or in a 1xx or 204
	// response, is faulty framing.
	if fr.cl == -2 || fr.teSeen && (minor == 0 || st < 200 || st == 204) {
		return 0, ErrResponseFraming
	}
	if head || st < 200 || st == 204 || st == 304 {
		return end, nil
	}
	switch {
	case fr.teSeen && fr.clSeen:
		return 0, ErrResponseFraming
	case fr.teSeen && (fr.teOther || fr.teBad || !fr.chunked):
		r.UntilClose, r.Close = true, true // RFC 9112 §6.3 rule 4
	case fr.chunked:
		r.Chunked = true
	case fr.cl == -2:
		return 0, ErrResponseFraming
	case fr.cl >= 0:
		r.ContentLength = fr.cl
	default:
		r.UntilClose, r.Close = true, true
	}
	return end, nil
}

// ParseResponse parses one response to a non-HEAD request at the start of b
// (see ParseResponseFor).
func ParseResponse(b []byte, r *Response) (int, error) { return ParseResponseFor(b, false, r) }

// ParseResponseFor parses one complete response at the start of b and
// returns the bytes it occupies. head tells whether it answers a HEAD
// request (no body). Content-Length and chunked bodies must be complete
// (ErrIncomplete otherwise; chunked bodies are decoded in place, modifying
// b). A close-delimited body (r.UntilClose) is everything after the head:
// n = len(b), and the caller parses again when the connection closes.
func ParseResponseFor(b []byte, head bool, r *Response) (int, error) {
	n, err := ParseResponseHead(b, head, r)
	if err != nil {
		return 0, err
	}
	switch {
	case r.Chunked:
		body, used, err := decodeChunkedBody(b[n:], 1<<62, 1<<20, ErrBadResponse, ErrResponseTooLarge)
		if err != nil {
			return 0, err
		}
		r.Body = body
		return n + used, nil
	case r.UntilClose:
		r.Body = b[n:len(b):len(b)]
		return len(b), nil
	case r.ContentLength > 0:
		if int64(len(b)-n) < r.ContentLength {
			return 0, ErrIncomplete
		}
		end := n + int(r.ContentLength)
		r.Body = b[n:end:end]
		return end, nil
	}
	r.Body = b[n:n:n]
	return n, nil
}
