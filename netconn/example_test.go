package netconn_test

import (
	"io"
	"log"
	nethttp "net/http"

	"netcard/card"
	"netcard/ipv4"
	"netcard/netconn"
)

// Serve an unmodified net/http handler on port 8000 of a running card
// (beside the card's own services), and give the card a net/http client.
func Example() {
	var (
		c *card.Card   // built with card.New
		r *card.Runner // card.NewRunner(c, port, nil), running
	)
	l, err := netconn.Listen(r, c.TCP(), 8000, 2)
	if err != nil {
		log.Fatal(err)
	}
	go nethttp.Serve(l, nethttp.HandlerFunc(func(w nethttp.ResponseWriter, req *nethttp.Request) {
		io.WriteString(w, "hello from the card\n")
	}))

	d := &netconn.Dialer{Runner: r, Stack: c.TCP(), Local: func() ipv4.Addr { return c.Link().LocalIP() }}
	client := &nethttp.Client{Transport: &nethttp.Transport{DialContext: d.DialContext}}
	resp, err := client.Get("http://10.0.2.2:8080/")
	if err != nil {
		log.Fatal(err)
	}
	resp.Body.Close()
}
