package http

import (
	"strconv"
	"time"
)

// StatusText returns the reason phrase of a status code ("" if unknown).
func StatusText(code int) string {
	switch code {
	case 100:
		return "Continue"
	case 101:
		return "Switching Protocols"
	case 200:
		return "OK"
	case 201:
		return "Created"
	case 202:
		return "Accepted"
	case 204:
		return "No Content"
	case 206:
		return "Partial Content"
	case 301:
		return "Moved Permanently"
	case 302:
		return "Found"
	case 303:
		return "See Other"
	case 304:
		return "Not Modified"
	case 307:
		return "Temporary Redirect"
	case 308:
		return "Permanent Redirect"
	case 400:
		return "Bad Request"
	case 401:
		return "Unauthorized"
	case 403:
		return "Forbidden"
	case 404:
		return "Not Found"
	case 405:
		return "Method Not Allowed"
	case 408:
		return "Request Timeout"
	case 409:
		return "Conflict"
	case 411:
		return "Length Required"
	case 412:
		return "Precondition Failed"
	case 413:
		return "Content Too Large"
	case 414:
		return "URI Too Long"
	case 415:
		return "Unsupported Media Type"
	case 416:
		return "Range Not Satisfiable"
	case 417:
		return "Expectation Failed"
	case 429:
		return "Too Many Requests"
	case 431:
		return "Request Header Fields Too Large"
	case 500:
		return "Internal Server Error"
	case 501:
		return "Not Implemented"
	case 502:
		return "Bad Gateway"
	case 503:
		return "Service Unavailable"
	case 505:
		return "HTTP Version Not Supported"
	}
	return ""
}

// AppendStatusLine appends "HTTP/1.1 <code> <reason>\r\n".
func AppendStatusLine(dst []byte, code int) []byte {
	dst = append(dst, "HTTP/1.1 "...)
	dst = strconv.AppendInt(dst, int64(code), 10)
	dst = append(dst, ' ')
	dst = append(dst, StatusText(code)...)
	return append(dst, "\r\n"...)
}

// AppendHeader appends "name: value\r\n". The caller guarantees that name
// is a token and value contains no CR or LF.
func AppendHeader(dst []byte, name, value string) []byte {
	dst = append(dst, name...)
	dst = append(dst, ": "...)
	dst = append(dst, value...)
	return append(dst, "\r\n"...)
}

// AppendHeaderBytes is AppendHeader with a byte-slice value.
func AppendHeaderBytes(dst []byte, name string, value []byte) []byte {
	dst = append(dst, name...)
	dst = append(dst, ": "...)
	dst = append(dst, value...)
	return append(dst, "\r\n"...)
}

// AppendHeaderInt appends "name: <decimal n>\r\n".
func AppendHeaderInt(dst []byte, name string, n int64) []byte {
	dst = append(dst, name...)
	dst = append(dst, ": "...)
	dst = strconv.AppendInt(dst, n, 10)
	return append(dst, "\r\n"...)
}

// AppendContentLength appends a Content-Length field.
func AppendContentLength(dst []byte, n int64) []byte {
	return AppendHeaderInt(dst, "Content-Length", n)
}

// AppendContentType appends a Content-Type field.
func AppendContentType(dst []byte, ct string) []byte { return AppendHeader(dst, "Content-Type", ct) }

// AppendETag appends an ETag field; etag is the quoted entity tag.
func AppendETag(dst []byte, etag string) []byte { return AppendHeader(dst, "ETag", etag) }

// AppendLocation appends a Location field.
func AppendLocation(dst []byte, url string) []byte { return AppendHeader(dst, "Location", url) }

// AppendConnection appends "Connection: close" or "Connection: keep-alive".
func AppendConnection(dst []byte, close bool) []byte {
	if close {
		return AppendHeader(dst, "Connection", "close")
	}
	return AppendHeader(dst, "Connection", "keep-alive")
}

// AppendContentRange appends "Content-Range: bytes first-last/size"
// (last inclusive), or "bytes */size" when first < 0 (for 416).
func AppendContentRange(dst []byte, first, last, size int64) []byte {
	dst = append(dst, "Content-Range: bytes "...)
	if first < 0 {
		dst = append(dst, '*')
	} else {
		dst = strconv.AppendInt(dst, first, 10)
		dst = append(dst, '-')
		dst = strconv.AppendInt(dst, last, 10)
	}
	dst = append(dst, '/')
	dst = strconv.AppendInt(dst, size, 10)
	return append(dst, "\r\n"...)
}

const days = "SunMonTueWedThuFriSat"
const months = "JanFebMarAprMayJunJulAugSepOctNovDec"

func append2(dst []byte, n int) []byte { return append(dst, byte('0'+n/10), byte('0'+n%10)) }

// AppendHTTPDate appends t as an IMF-fixdate (RFC 9110 §5.6.7), e.g.
// "Sun, 06 Nov 1994 08:49:37 GMT".
func AppendHTTPDate(dst []byte, t time.Time) []byte {
	t = t.UTC()
	y, mo, d := t.Date()
	h, mi, s := t.Clock()
	wd := int(t.Weekday())
	dst = append(dst, days[3*wd:3*wd+3]...)
	dst = append(dst, ", "...)
	dst = append2(dst, d)
	dst = append(dst, ' ')
	dst = append(dst, months[3*(mo-1):3*mo]...)
	dst = append(dst, ' ')
	if y < 0 || y > 9999 {
		y = 0
	}
	dst = append2(dst, y/100)
	dst = append2(dst, y%100)
	dst = append(dst, ' ')
	dst = append2(dst, h)
	dst = append(dst, ':')
	dst = append2(dst, mi)
	dst = append(dst, ':')
	dst = append2(dst, s)
	return append(dst, " GMT"...)
}

// AppendDate appends a Date field for now.
func AppendDate(dst []byte, now time.Time) []byte {
	dst = append(dst, "Date: "...)
	dst = AppendHTTPDate(dst, now)
	return append(dst, "\r\n"...)
}

// ResponseHeader describes a response head for AppendResponseHeader.
type ResponseHeader struct {
	Status        int
	Date          time.Time // zero: no Date field
	ContentType   string
	ContentLength int64 // < 0: none (with Chunked: chunked body)
	ETag          string
	Location      string
	RangeFirst    int64 // Content-Range when RangeSize > 0: first-last/size;
	RangeLast     int64 // RangeFirst < 0 gives "*/size" (416)
	RangeSize     int64
	Chunked       bool   // Transfer-Encoding: chunked
	AcceptRanges  bool   // Accept-Ranges: bytes
	Close         bool   // Connection: close
	KeepAlive     bool   // Connection: keep-alive (for HTTP/1.0 clients)
	CacheControl  string // e.g. "no-store"
	Extra         string // preformatted extra field lines, each ending in CRLF
	ExtraBytes    []byte // more preformatted field lines
}

// AppendResponseHeader appends the status line and header fields of h and
// the empty line that ends the head. It does not allocate.
func AppendResponseHeader(dst []byte, h *ResponseHeader) []byte {
	dst = AppendStatusLine(dst, h.Status)
	if !h.Date.IsZero() {
		dst = AppendDate(dst, h.Date)
	}
	if h.ContentType != "" {
		dst = AppendContentType(dst, h.ContentType)
	}
	if h.Chunked {
		dst = AppendHeader(dst, "Transfer-Encoding", "chunked")
	} else if h.ContentLength >= 0 {
		dst = AppendContentLength(dst, h.ContentLength)
	}
	if h.ETag != "" {
		dst = AppendETag(dst, h.ETag)
	}
	if h.AcceptRanges {
		dst = AppendHeader(dst, "Accept-Ranges", "bytes")
	}
	if h.RangeSize > 0 || h.RangeFirst < 0 {
		dst = AppendContentRange(dst, h.RangeFirst, h.RangeLast, h.RangeSize)
	}
	if h.Location != "" {
		dst = AppendLocation(dst, h.Location)
	}
	if h.CacheControl != "" {
		dst = AppendHeader(dst, "Cache-Control", h.CacheControl)
	}
	if h.Close {
		dst = AppendConnection(dst, true)
	} else if h.KeepAlive {
		dst = AppendConnection(dst, false)
	}
	dst = append(dst, h.Extra...)
	dst = append(dst, h.ExtraBytes...)
	return append(dst, "\r\n"...)
}

// AppendChunkHeader appends the size line of a chunk of n bytes (n > 0).
func AppendChunkHeader(dst []byte, n int) []byte {
	dst = strconv.AppendUint(dst, uint64(n), 16)
	return append(dst, "\r\n"...)
}

// AppendChunk appends data as one chunk (nothing if data is empty: an empty
// chunk would end the body).
func AppendChunk(dst, data []byte) []byte {
	if len(data) == 0 {
		return dst
	}
	dst = AppendChunkHeader(dst, len(data))
	dst = append(dst, data...)
	return append(dst, "\r\n"...)
}

// AppendLastChunk appends the last chunk and an empty trailer section.
func AppendLastChunk(dst []byte) []byte { return append(dst, "0\r\n\r\n"...) }

// ChunkOverhead is the most bytes AppendChunk adds around n data bytes.
func ChunkOverhead(n int) int {
	k := 1
	for n >= 16 {
		n >>= 4
		k++
	}
	return k + 4
}
