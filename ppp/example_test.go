package ppp_test

import (
	"fmt"
	"math/rand"
	"time"

	"netcard/ppp"
)

// A card and a host Link wired back to back in memory: the card learns its
// address and DNS servers from the host.
func Example() {
	now := time.Unix(0, 0)
	card := ppp.New(ppp.Config{Rand: rand.New(rand.NewSource(1))})
	host := ppp.New(ppp.Config{
		Host:    true,
		LocalIP: [4]byte{10, 0, 2, 2},
		PeerIP:  [4]byte{10, 0, 2, 15},
		DNS:     [2][4]byte{{10, 0, 2, 3}},
		Rand:    rand.New(rand.NewSource(2)),
	})
	card.Open(now)
	host.Open(now)
	buf := make([]byte, 512)
	for i := 0; i < 50 && !(card.Up() && host.Up()); i++ {
		host.Input(buf[:card.Output(buf, now)], now)
		card.Input(buf[:host.Output(buf, now)], now)
	}
	fmt.Println(card.Up(), card.LocalIP(), card.PeerIP(), card.DNS()[0], card.MTU())
	// Output: true [10 0 2 15] [10 0 2 2] [10 0 2 3] 1500
}
