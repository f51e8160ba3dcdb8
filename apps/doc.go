// Package apps holds the card's applications and the glue that runs TLS and
// HTTP over one TCP connection.
//
// A ServerSession pumps one accepted connection (a Stream, which a *tcp.Conn
// satisfies) without I/O of its own: TLS records are opened in place in the
// stream's receive buffer, the plaintext goes to an http.ServerConn, and
// responses are written into the stream's send buffer and sealed there. A
// ClientSession does the reverse for the card's own outbound HTTPS requests.
//
// App is the single request handler behind every session: the redirect on
// port 80, the home page and static files, the live status page, the
// PIN-protected vault and remote administration.
//
// Like the protocol packages, nothing here starts goroutines, takes locks or
// reads the clock: the card passes now to Service.
package apps
