package ipv6

import "testing"

// TestNoReplyFromRemovedAddress: an echo reply or ICMPv6 error still
// queued when its source address goes (IPV6CP down, SLAAC Stop clears the
// addresses) is dropped, not sent later from an address the card no longer
// has (RFC 4443 §2.2: the source of an ICMPv6 message is one of the
// node's unicast addresses).
func TestNoReplyFromRemovedAddress(t *testing.T) {
	h := newTestHost(Config{})
	h.Input(echoReq(peer, card, 7, 9, []byte("ping six")), t0)
	h.Input(pkt(peer, card, 200, 64, make([]byte, 8)), t0) // unknown next header: Parameter Problem queued
	h.ClearAddrs()
	other := LinkLocal([8]byte{7: 3})
	h.AddAddr(other, false)
	if p := out(t, h); p != nil {
		hd, _ := Parse(p)
		t.Fatalf("sent from %v after the address was removed: %x", hd.Src(), p)
	}
	if s := h.Stats(); s.OutBadSrc != 2 {
		t.Fatalf("OutBadSrc %d, want 2 (%+v)", s.OutBadSrc, s)
	}
}
