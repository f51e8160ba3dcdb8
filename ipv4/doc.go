// Package ipv4 is the card's IPv4 host layer (RFC 791, RFC 1122) with ICMP
// (RFC 792): header views and appenders, checksums, bounded reassembly, the
// early packet filter and the demultiplexer to the transports.
package ipv4
