package ipv4

import "time"

// Addr is an IPv4 address in network byte order.
type Addr [4]byte

// Transport is a protocol above IPv4 (TCP, UDP) as the IPv4 host layer sees it.
// Implementations own no goroutines and take no locks; the card's event loop
// calls them.
type Transport interface {
	// Input delivers one datagram's transport payload (the bytes after the IP
	// header, already reassembled). payload aliases the receive frame and is
	// valid only during the call; Input may modify it in place. It returns
	// false when no endpoint wants the datagram, so the host may answer with
	// an ICMP unreachable (UDP) — TCP answers with RST itself and returns true.
	Input(src, dst Addr, payload []byte, now time.Time) bool

	// Output writes the next transport segment to send into dst (the space
	// after the IP header, at most the link MTU minus 20 bytes), computing its
	// checksum with local as source address. It returns the length written and
	// the remote address; n == 0 means nothing to send now.
	Output(dst []byte, local Addr, now time.Time) (n int, remote Addr)

	// Poll runs timers and returns when it next wants to be polled
	// (zero time: no timer pending).
	Poll(now time.Time) time.Time
}
