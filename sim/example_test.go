package sim_test

import (
	"fmt"
	"time"

	"netcard/link"
	"netcard/sim"
)

// A card on a 115200-baud line with 5% frame loss each way serves a stored
// file over HTTPS to the host peer, in virtual time.
func Example() {
	faults := link.Faults{DropFrame: 0.05}
	w, err := sim.New(sim.Options{
		Baud: 115200, Seed: 1, Down: &faults, Up: &faults,
		Files: map[string][]byte{"hello.txt": []byte("hello from the card\n")},
	})
	if err != nil {
		panic(err)
	}
	if err := w.RunUntil(w.Up, 30*time.Second); err != nil {
		panic(err)
	}
	status, body, err := w.Get("/hello.txt", time.Minute)
	fmt.Println(status, string(body), err)
	// Output: 200 hello from the card
	//  <nil>
}
