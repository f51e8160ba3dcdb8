package apps

import (
	gotls "crypto/tls"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"netcard/tls"
)

// TestSessionLargeClientHelloBudget: as TestSessionLargeClientHello, with the card's
// tls.HandshakeBudget of one slot: crypto/tls's ≈ 16 KB ClientHello takes the slot, gets its page,
// and the slot is free again before the response.
func TestSessionLargeClientHelloBudget(t *testing.T) {
	app, s, _, pki := newTestApp(t)
	cfg := serverTLS(t, s, seeded(11))
	budget := tls.NewHandshakeBudget(1, 10*time.Second)
	cfg.HandshakeBudget = budget
	srv := NewServerSession(SessionConfig{TLS: cfg, RecordBuf: testRecvBuf, Handler: app.Serve})
	br := startBridge(t, srv)
	var protos []string
	for i := 0; i < 58; i++ {
		protos = append(protos, fmt.Sprintf("%03d%s", i, strings.Repeat("p", 247)))
	}
	gc := &gotls.Config{RootCAs: pki.cardPool, ServerName: "card.example", Time: func() time.Time { return testNow },
		NextProtos: append(protos, "http/1.1")}
	c := gotls.Client(br.conn, gc)
	if err := c.SetDeadline(time.Now().Add(20 * time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, err := io.WriteString(c, "GET /hello.txt HTTP/1.1\r\nHost: card.example\r\nConnection: close\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(c)
	if !strings.HasPrefix(string(b), "HTTP/1.1 200") || !strings.HasSuffix(string(b), "hello from the card\n") {
		t.Fatalf("response %q", b)
	}
	c.Close()
	select {
	case <-br.done:
	case <-time.After(20 * time.Second):
		t.Fatal("session did not end")
	}
	if budget.Granted() != 1 || budget.Refused() != 0 || budget.InUse() != 0 {
		t.Fatalf("budget: granted %d, refused %d, in use %d", budget.Granted(), budget.Refused(), budget.InUse())
	}
}
