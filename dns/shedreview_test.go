package dns

import (
	"testing"
	"time"

	"golang.org/x/net/dns/dnsmessage"
	"netcard/ipv4"
)

// TestShedQueryOutstanding: the UDP stack shed between every step while a
// query is outstanding — after it went out (the send queue and the query
// socket's empty receive queue dropped), across the timeout and the retry
// to the second server, and with the late answer from the first server
// queued (kept) — resolves exactly as without shedding: the retry is the
// same query, the late answer is taken.
func TestShedQueryOutstanding(t *testing.T) {
	run := func(shed bool) (ipv4.Addr, int) {
		p := newPeer(t, ns1, ns2)
		released := 0
		sh := func() {
			if shed {
				released += p.s.Shed()
			}
		}
		sh()
		p.r.Resolve("example.com", t0)
		sh()
		q1 := p.sent(t0)
		sh()
		now := t0.Add(time.Second)
		p.r.Poll(now)
		sh()
		q2 := p.sent(now)
		sh()
		if q2.to != ns2 || q2.id != q1.id || q2.sport != q1.sport {
			t.Fatalf("shed %v: retry %+v after %+v", shed, q2, q1)
		}
		p.reply(q1, ns1, 53, buildResponse(t, q1.id, dnsmessage.RCodeSuccess, "example.com.", func(b *dnsmessage.Builder) {
			b.StartAnswers()
			b.AResource(rh("example.com.", dnsmessage.TypeA), dnsmessage.AResource{A: [4]byte{1, 2, 3, 4}})
		}), now)
		sh() // the answer waits in the query socket's receive queue: kept
		p.r.Poll(now)
		sh()
		a, done, err := p.r.Result()
		if !done || err != nil {
			t.Fatalf("shed %v: %v %v", shed, done, err)
		}
		return a, released
	}
	plain, _ := run(false)
	shed, released := run(true)
	if shed != plain || shed != (ipv4.Addr{1, 2, 3, 4}) || released == 0 {
		t.Fatalf("answer %v with shedding (%d B released), %v without", shed, released, plain)
	}
}
