package apps

// Stream is the byte stream a session runs over: what a *tcp.Conn offers.
// Peek returns the in-order received bytes, writable in place (TLS opens
// records there); Consume drops the first n of them. Free returns the free
// space of the send buffer; Commit queues n bytes written at its start. EOF
// reports that the peer closed its side and every byte was consumed; Err is
// non-nil once the connection failed (reset, timeout). CloseWrite sends FIN
// after the queued data; Close releases the connection (the Stream must not be
// used afterwards).
type Stream interface {
	Peek() []byte
	Consume(n int)
	Free() []byte
	Commit(n int)
	EOF() bool
	Err() error
	CloseWrite()
	Close()
}
