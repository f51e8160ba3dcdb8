package apps

import (
	gotls "crypto/tls"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"
)

// TestSessionLargeClientHello: crypto/tls, through the card's session, with a ClientHello of
// ≈ 16 KB (58 long ALPN names before http/1.1, beside an X25519MLKEM768 share: bigger than any
// ECH + GREASE + post-quantum hello) gets its page; the TLS engine reassembles handshake messages
// up to 16 KiB + 4 (tls.DefaultMaxHandshakeMessage).
func TestSessionLargeClientHello(t *testing.T) {
	app, s, _, pki := newTestApp(t)
	srv := NewServerSession(SessionConfig{TLS: serverTLS(t, s, seeded(10)), RecordBuf: testRecvBuf, Handler: app.Serve})
	br := startBridge(t, srv)
	var protos []string
	for i := 0; i < 58; i++ {
		protos = append(protos, fmt.Sprintf("%03d%s", i, strings.Repeat("p", 247)))
	}
	cfg := &gotls.Config{RootCAs: pki.cardPool, ServerName: "card.example", Time: func() time.Time { return testNow },
		NextProtos: append(protos, "http/1.1")}
	c := gotls.Client(br.conn, cfg)
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
}
