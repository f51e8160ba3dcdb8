package store_test

import (
	"fmt"
	mrand "math/rand/v2"
	"net"
	"time"

	"netcard/store"
)

// Personalising a card: format the image, generate the key on the card,
// self-sign its certificate, set PIN and PUK, load content.
func Example() {
	rng := mrand.NewChaCha8([32]byte{1}) // a real card passes its TRNG
	s, err := store.CreateMedium(store.NewMemMedium(store.DefaultSize), 0, rng)
	if err != nil {
		panic(err)
	}
	must := func(err error) {
		if err != nil {
			panic(err)
		}
	}
	must(s.GenerateKey(rng))
	now := time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC)
	_, err = s.SelfSign("card", []net.IP{net.IPv4(10, 0, 0, 2)}, nil, now, now.AddDate(1, 0, 0), rng)
	must(err)
	must(s.InitPIN([]byte("4711"), []byte("31415926")))
	must(s.PutFile("/index.html", "text/html", []byte("<h1>card</h1>")))

	err = s.VerifyPIN([]byte("0000"))
	fmt.Println(err, s.PINTriesLeft())
	fmt.Println(s.VerifyPIN([]byte("4711")), s.PINTriesLeft())
	fmt.Println(len(s.Certificate()), s.Files())
	// Output:
	// store: wrong PIN, 2 tries left 2
	// <nil> 3
	// 1 [/index.html]
}
