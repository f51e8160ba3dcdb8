// Package ipv4 is the card's IPv4 host layer (RFC 791, RFC 1122) with ICMP
// (RFC 792): header views and appenders, checksums, bounded reassembly, the
// early packet filter and the demultiplexer to the transports.
//
// Receive path of Host.Input, cheapest checks first, each drop counted in
// Stats: length and version; destination (the card is a host: only its own
// address, nothing is forwarded); the rest of the header (IHL, total
// length, checksum); source address (no TTL check: RFC 1122 §3.2.1.7);
// options (CheckOptions: malformed → Parameter Problem, incomplete source
// route → dropped); the early port filter of a transport implementing
// PortFilter (before any copy or reassembly); reassembly of fragments;
// then ICMP or the transport. ICMP errors are queued for protocol
// unreachable (no transport), port unreachable (UDP), parameter problem
// (options) and reassembly time exceeded; never about ICMP errors,
// non-initial fragments or non-unicast sources. All ICMP output passes one
// token bucket on the injected clock. Echo replies larger than the MTU go
// out as fragments; an echo never waits on a reassembly (see Host).
//
// Memory, allocated once by NewHost: ReassemblyBytes plus one bit per 8
// bytes for reassembly, 96 bytes per ICMP error slot, and MTU bytes for the
// echo reply unless the last reassembly slot holds an MTU (it then doubles
// as the echo buffer; see Host); see Host.Footprint.
package ipv4
