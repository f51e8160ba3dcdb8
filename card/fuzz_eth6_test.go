package card_test

import (
	"encoding/binary"
	"testing"
	"time"

	"netcard/card"
	"netcard/eth"
	"netcard/ipv6"
)

// FuzzEthernetIPv6 feeds arbitrary IPv6 packets (in a frame to the card's
// MAC, and to ff02::fb's group) to a card with IPv6 on Ethernet: the
// front's own parsers (mDNS over IPv6, MLD queries) and the IPv6 layer
// behind them never panic, and the card still answers an echo afterwards.
func FuzzEthernetIPv6(f *testing.F) {
	f.Add(frame6(cardMAC, hostMAC, hostLL, cardLL, ipv6.ProtoICMP, 64, echo6(1))[eth.HeaderLen:])
	q := make([]byte, 8+28)
	q[0], q[2], q[3], q[6], q[8] = ipv6.ProtoICMP, 5, 2, 1, 130
	f.Add(frame6(cardMAC, hostMAC, hostLL, ipv6.AllNodes, 0, 1, q)[eth.HeaderLen:])
	f.Add([]byte{0x60, 0, 0, 0, 0, 8, 17, 255})
	f.Fuzz(func(t *testing.T, pkt []byte) {
		e := newEthCard6(t, card.EthConfig{})
		e.advance(5 * time.Second)
		for _, dst := range []eth.MAC{cardMAC, {0x33, 0x33, 0, 0, 0, 0xfb}} {
			fr := make([]byte, eth.HeaderLen+len(pkt))
			eth.PutHeader(fr, dst, hostMAC, eth.TypeIPv6)
			copy(fr[eth.HeaderLen:], pkt)
			if len(fr) <= eth.HeaderLen+1500 {
				e.in(fr)
			}
			e.out()
		}
		// Let any resolution the input started fail and its held packet
		// go (one is held at a time).
		e.advance(10 * time.Second)
		// An echo (its reply may wait for Neighbor Discovery), the
		// neighbour's advertisement, and the reply must come.
		e.in(frame6(cardMAC, hostMAC, hostLL, cardLL, ipv6.ProtoICMP, 64, echo6(77)))
		sent := e.out()
		e.in(frame6(cardMAC, hostMAC, hostLL, cardLL, ipv6.ProtoICMP, 255, na(hostLL, hostMAC, true)))
		sent = append(sent, e.out()...)
		pkts, _ := ipv6Out(sent)
		for _, h := range pkts {
			if p := h.Payload(); h.NextHeader() == ipv6.ProtoICMP && len(p) >= 8 && p[0] == ipv6.TypeEchoReply && binary.BigEndian.Uint16(p[4:]) == 77 {
				return
			}
		}
		t.Fatal("no echo reply after the input")
	})
}
