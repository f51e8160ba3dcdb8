// Package ipv6 is the card's IPv6 node (RFC 8200) with ICMPv6 (RFC 4443),
// Neighbor Discovery (RFC 4861), stateless address autoconfiguration (RFC
// 4862) and the pieces of Path MTU discovery (RFC 8201) a host needs, and
// the 16-byte address type (Addr) the dual-stack transports use for both
// families: an IPv4 peer is held IPv4-mapped (::ffff:a.b.c.d), so one tcp
// and one udp Stack serve IPv4 and IPv6, with the pseudo-header chosen by
// the addresses' family (PseudoHeaderSum).
//
// Receive path of Host.Input, each drop counted in Stats: fixed header
// (Parse); destination (an assigned, non-tentative address, all-nodes, or
// the solicited-node group of an assigned address: the card forwards
// nothing); source (never multicast, loopback, IPv4-mapped or our own);
// the extension-header walk (Walk: hop-by-hop only first, options by their
// action bits, routing headers with segments left refused, at most six
// headers, a fragment header stopping the walk), answered with Parameter
// Problems where RFC 8200 asks; reassembly (bounded slots, RFC 5722
// overlap → the datagram is dropped, 60 s, then Time Exceeded when the
// first fragment came; the first fragment must hold the whole header
// chain, RFC 7112); then ICMPv6 (echo, errors up to the transport, ND) or
// the transport. ICMPv6 errors are never sent about ICMPv6 errors, to multicast (but for the RFC 4443 exceptions) or to
// unspecified/multicast sources, and pass one token bucket with echo
// replies (RFC 4443 §2.4).
//
// Links plug in with Host.Input/Output. On PPP the link-local address comes
// from IPV6CP's interface identifier (ppp.IPv6Config) and SLAAC (no DAD:
// IPV6CP made the identifiers differ) adds global addresses from router
// advertisements. On an Ethernet link, NewNeighbors gives the bounded
// neighbour cache (Resolve per packet out, NS/NA, router and on-link
// prefixes) with Next = the SLAAC, and SLAACConfig.DupAddrDetectTransmits
// = 1 runs DAD; Host.SetLinkLayer puts the MAC in ND messages.
//
// Memory, allocated once by NewHost (Footprint): the echo-reply buffer (the
// MTU), ICMPv6 error slots (176 bytes each), one ND message (72 bytes) and
// the reassembly slots with their block bitmaps; SLAAC and Neighbors have
// fixed tables. Nothing is allocated per packet (TestEchoAllocs).
package ipv6
