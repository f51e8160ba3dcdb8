package dns

import (
	"encoding/hex"
	"testing"

	"golang.org/x/net/dns/dnsmessage"
)

func dnsSeeds(t testing.TB) [][]byte {
	msg, _ := hex.DecodeString(capturedHex)
	return [][]byte{
		msg,
		buildResponse(t, 0x1234, dnsmessage.RCodeSuccess, "www.example.com.", cnameA),
		buildResponse(t, 0x1234, dnsmessage.RCodeNameError, "nx.example.", nil),
		{0, 1, 0x81, 0x80, 0, 1, 0, 0, 0, 0, 0, 0, 0xc0, 12, 0, 1, 0, 1},
		{0, 1, 0x81, 0x80, 0, 1, 0, 0, 0, 0, 0, 0, 1, 'a', 0xc0, 12, 0, 1, 0, 1},
	}
}

func TestWriteCorpus(t *testing.T) { writeCorpus(t, "FuzzDNS", dnsSeeds(t)) }

// FuzzDNS runs the message parser on arbitrary bytes (no panic, bounded
// work), checks that every name it returns fits the wire limits, and feeds
// the message to a resolver as the response to its outstanding query.
func FuzzDNS(f *testing.F) {
	for _, s := range dnsSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, msg []byte) {
		Validate(msg)
		var p Parser
		if _, err := p.Start(msg); err == nil {
			var q Question
			for p.Question(&q) == nil {
				if len(q.Name.Wire()) > MaxNameLen {
					t.Fatal("long name")
				}
				_ = q.Name.String()
			}
			var r Resource
			for i := 0; ; i++ {
				if _, err := p.Resource(&r); err != nil {
					break
				}
				if i > len(msg) {
					t.Fatal("more records than bytes")
				}
				var n Name
				p.NameAt(r.DataOff, &n)
			}
		}
		// As a response to the resolver's query (ID and question patched in
		// when the message is long enough to carry them).
		pr := newPeer(t, ns1)
		if pr.r.Resolve("www.example.com", t0) != nil {
			t.Fatal("resolve")
		}
		q := pr.sent(t0)
		m := append([]byte(nil), msg...)
		if len(m) >= 2 {
			m[0], m[1] = byte(q.id>>8), byte(q.id)
		}
		pr.reply(q, ns1, 53, m, t0)
		pr.r.Poll(t0)
		pr.r.Result()
	})
}
