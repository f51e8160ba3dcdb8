package apps

import "time"

// Stream is the byte stream a session runs over: what a *tcp.Conn offers.
// Peek returns the in-order received bytes, writable in place (TLS opens
// records there); Consume drops the first n of them. Free returns the free
// space of the send buffer; Commit queues n bytes written at its start. EOF
// reports that the peer closed its side and every byte was consumed; Err is
// non-nil once the connection failed (reset, timeout). CloseWrite sends FIN
// after the queued data; Close releases the connection (the Stream must not be
// used afterwards).
//
// Queued is the number of bytes queued and not yet acknowledged;
// SendWaitSince tells since when queued output has waited with nothing
// acknowledged (waiting false: nothing queued, or no such notion); SRTT is
// the smoothed round-trip time (0: no sample, or no such notion); Reserve
// asks for room for n received bytes from the start of Peek (a whole TLS
// record; false: not now). They are methods of the interface, not optional
// ones asserted per call: a session consults them on every Service, and an
// interface type assertion there would cost a runtime call per packet.
type Stream interface {
	Peek() []byte
	Consume(n int)
	Free() []byte
	Commit(n int)
	EOF() bool
	Err() error
	CloseWrite()
	Close()
	Queued() int
	SendWaitSince() (since time.Time, waiting bool)
	SRTT() time.Duration
	Reserve(n int) bool
}
