package sim

import (
	"fmt"
	"time"
)

// SlowClients is an attacker with real clients from the host peer's own
// address (the legitimate client's, as behind one NAT): it keeps Conns
// connections to the card's Port (443: TLS, 80: plain HTTP), each sending
// Method Path with a body of BodyLen bytes (Content-Length), one byte every
// Drip after the first DripFrom bytes of the request (DripFrom < 0: after
// the whole head). Each byte goes in a TLS record of its own. A
// connection the card ends is replaced at once (an immediate reconnect),
// until Stop.
type SlowClients struct {
	W        *World
	Port     uint16
	Conns    int
	Method   string
	Path     string
	BodyLen  int
	DripFrom int
	Drip     time.Duration
	DripN    int // bytes sent every Drip (0: 1)

	// Counters: connections opened, answered (a status came back: 408,
	// 401, ...), ended without an answer.
	Opened, Answered, Ended int
	Statuses                map[int]int
	Errors                  map[string]int // why connections ended without an answer

	body    []byte
	live    []*Client
	stopped bool
}

// Service implements Actor.
func (f *SlowClients) Service(now time.Time) (bool, time.Time) {
	if f.stopped {
		return false, time.Time{}
	}
	w := f.W
	progress := false
	var next time.Time
	for i := 0; i < len(f.live); i++ {
		c := f.live[i]
		if c.service(now) {
			progress = true
		}
		if c.Done() {
			if c.Status != 0 {
				f.Answered++
				if f.Statuses == nil {
					f.Statuses = map[int]int{}
				}
				f.Statuses[c.Status]++
			} else {
				f.Ended++
				if f.Errors == nil {
					f.Errors = map[string]int{}
				}
				msg := fmt.Sprint(c.Err())
				if len(msg) > 50 {
					msg = msg[:50]
				}
				f.Errors[msg]++
			}
			w.forget(c)
			f.live = append(f.live[:i], f.live[i+1:]...)
			i--
			progress = true
			continue
		}
		if c.drip > 0 && !c.nextDrip.IsZero() {
			next = earliest(next, c.nextDrip)
		}
	}
	for len(f.live) < f.Conns {
		if f.body == nil && f.BodyLen > 0 {
			f.body = make([]byte, f.BodyLen)
		}
		var body []byte
		if f.Method != "GET" {
			body = f.body
		}
		c, err := w.startOn(f.Port, f.Method, f.Path, body, time.Hour)
		if err != nil {
			break
		}
		c.drip, c.dripFrom, c.dripN = f.Drip, f.DripFrom, f.DripN
		if f.DripFrom < 0 {
			c.dripFrom = len(c.req)
		}
		f.Opened++
		f.live = append(f.live, c)
		progress = true
	}
	return progress, next
}

// Stop aborts the attacker's connections and opens no more.
func (f *SlowClients) Stop() {
	f.stopped = true
	for _, c := range f.live {
		c.conn.Abort()
		f.W.forget(c)
	}
	f.live = nil
}
