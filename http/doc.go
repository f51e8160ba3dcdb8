// Package http is a minimal HTTP/1.1 (RFC 9110, RFC 9112) server and client
// for the card, I/O-free and parsing in place.
//
// Parsers take the bytes where they lie (the TLS plaintext) and fill a
// caller-owned Request or Response whose byte slices alias the input; header
// fields go into a fixed array inside the struct, so parsing allocates
// nothing. Appenders write status lines, headers and chunks into a caller's
// buffer. ServerConn (server) and ClientConn (client) tie them into
// per-connection state machines driven by bytes in, bytes out and, for the
// server's timeouts, an injected clock.
//
// A request body is buffered whole in the input buffer unless the route
// streams it (ServerConfig.Body): its pieces then go, decoded, from the
// bytes given to Input straight to a BodySink, so a body of any size
// (within the route's limit) passes through a buffer of a few KiB.
//
// A ServerConn allocates its input buffer and request state (parsed
// request, response writer, chunked decoder) when a request starts; Shed
// drops them between requests, so an idle connection holds only its
// 352-byte struct (and the output buffer unless InPlace).
//
// Framing is strict where parsers disagreeing would allow request
// smuggling: duplicate or malformed Content-Length, Transfer-Encoding with
// Content-Length or in HTTP/1.0, codings other than chunked, obs-fold, bare
// CR, and chunk lines not ending in CRLF are all rejected. Differential fuzz
// targets check that whatever is accepted, Go's net/http reads the same way.
//
// The package owns no goroutines, takes no locks and never reads the clock.
package http
