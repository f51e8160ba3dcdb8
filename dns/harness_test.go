package dns

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"netcard/ipv4"
	"netcard/udp"
)

// cardHarness runs the card's ipv4.Host + udp.Stack (with a UDP echo
// socket on port 7) + Resolver on one goroutine, the way the card's event
// loop does, against a peer that exchanges raw IPv4 packets: in delivers
// the peer's packets, write sends the card's. The real clock drives it.
type cardHarness struct {
	h     *ipv4.Host
	s     *udp.Stack
	r     *Resolver
	jobs  chan harnessJob
	stop  chan struct{}
	done  chan struct{}
	stats ipv4.Stats
}

type harnessJob struct {
	name string
	res  chan string
}

func startCard(t *testing.T, local, dnsServer ipv4.Addr, in <-chan []byte, write func([]byte) error) *cardHarness {
	c := &cardHarness{
		h:    ipv4.NewHost(ipv4.Config{Local: local, ReassemblyBytes: 2 * 1600, Rand: strings.NewReader("seed")}),
		s:    udp.NewStack(udp.Config{QueueBytes: 4096, SendBytes: 4096}),
		jobs: make(chan harnessJob),
		stop: make(chan struct{}),
		done: make(chan struct{}),
	}
	c.h.Register(ipv4.ProtoUDP, c.s)
	echo, err := c.s.Bind(7)
	if err != nil {
		t.Fatal(err)
	}
	c.r = NewResolver(c.s, ResolverConfig{Servers: []ipv4.Addr{dnsServer}, Timeout: 500 * time.Millisecond, Rand: strings.NewReader("0123456789abcdef")})
	go func() {
		defer close(c.done)
		out := make([]byte, 2048)
		buf := make([]byte, 2048)
		var pending *harnessJob
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case p, ok := <-in:
				if !ok {
					in = nil
					continue
				}
				c.h.Input(p, time.Now())
			case j := <-c.jobs:
				if err := c.r.Resolve(j.name, time.Now()); err != nil {
					j.res <- "error " + err.Error()
				} else {
					pending = &j
				}
			case <-tick.C:
			case <-c.stop:
				c.stats = c.h.Stats()
				return
			}
			now := time.Now()
			for {
				n, from, port, ok := echo.RecvFrom(buf)
				if !ok {
					break
				}
				echo.SendTo(from, port, buf[:n])
			}
			c.h.Poll(now)
			c.r.Poll(now)
			if pending != nil {
				if a, done, err := c.r.Result(); done {
					pending.res <- fmt.Sprint(a, err)
					pending = nil
				}
			}
			for {
				n := c.h.Output(out, now)
				if n == 0 {
					break
				}
				if err := write(out[:n]); err != nil {
					t.Errorf("link write: %v", err)
				}
			}
		}
	}()
	t.Cleanup(func() {
		close(c.stop)
		<-c.done
		t.Logf("host stats: %+v", c.stats)
	})
	return c
}

// resolve asks the card's resolver for name and waits for the outcome.
func (c *cardHarness) resolve(t *testing.T, name string) string {
	j := harnessJob{name: name, res: make(chan string, 1)}
	c.jobs <- j
	select {
	case res := <-j.res:
		return res
	case <-time.After(10 * time.Second):
		t.Fatal("resolve timed out")
		return ""
	}
}
