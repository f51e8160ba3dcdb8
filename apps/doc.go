// Package apps holds the card's applications and the glue that runs TLS and
// HTTP over one TCP connection.
//
// A ServerSession pumps one accepted connection (a Stream, which a *tcp.Conn
// satisfies) without I/O of its own: TLS records are opened in place in the
// stream's receive buffer, the plaintext goes to an http.ServerConn, and
// responses are written into the stream's send buffer and sealed there. A
// ClientSession does the reverse for the card's own outbound HTTP(S) requests.
//
// App is the single request handler behind every session: the redirect on
// port 80, then an application host (package applet) that routes each
// HTTPS request to an application. The built-in applications are
// applet.Apps like any other (BuiltinNames; Config.Builtins selects them,
// Config.Apps adds more): the home page and static files, the live status page, the
// PIN-protected vault and remote administration (including the queue of
// outbound fetches the administrator asks for), and PUT/POST /upload, whose
// body (up to Config.MaxUpload) streams through SHA-256 as it arrives and is
// answered with its length and digest. A session asks the handler about
// each request body before reading it (a call with ConnInfo.Head set):
// StreamBody then routes the body to a sink, piece by piece from the TLS
// plaintext, so uploads far larger than the HTTP input buffer pass. In the
// same call the vault's PIN and the administrator's credential are checked:
// a request they do not authorise is answered from its head, its body never
// read (http.RefuseBody).
//
// The status pages show strangers the card's health and aggregate counters
// only; connections (remote addresses and ports) and the change log are
// shown to the administrator (bearer token or admin certificate).
//
// Like the protocol packages, nothing here starts goroutines, takes locks or
// reads the clock: the card passes now to Service.
//
// Wiring in the card's event loop (one session per TCP slot, preallocated,
// serving whichever port the connection arrived on):
//
//	app := apps.New(apps.Config{Store: st, Status: card.status})
//	sess := apps.NewServerSession(apps.SessionConfig{TLS: tlsCfg, RecordBuf: p.RecvBuf,
//		HTTP: http.ServerConfig{InBuf: .., OutBuf: .., InPlace: true}, Handler: app.Serve})
//	// on accept: if sess.Done() { sess.Reset(conn) } (port 443) or sess.ResetPlain(conn) (port 80)
//	// after every event: for each busy session, sess.Service(now); deadline = sess.Next()
//	// when a session is Done: sess.Release() drops its TLS engine
//	// outbound: if req, ok := app.NextFetch(); ok { resolve req.Host, conn := tcp.Dial(..);
//	//   cs := apps.NewClientSession(..) (only while the fetch runs);
//	//   cs.StartFetch(conn, &req, st, rand, clock, now) } ... when cs.Done(): app.SetFetchResult(cs.Result())
//
// With http.ServerConfig.InPlace, responses are composed directly in the
// stream's send buffer: HTTP writes one run of plaintext behind the TLS
// header room and the session cuts it into records in place.
//
// For administrator mutual TLS the server configuration asks for a client
// certificate: tls.Config.ClientAuth = tls.RequestClientCert (the engine then
// checks the CertificateVerify; App compares the key with the store's admin
// key).
package apps
