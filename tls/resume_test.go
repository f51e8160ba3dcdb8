package tls

import (
	gotls "crypto/tls"
	"io"
	"strings"
	"testing"
)

var testTicketKey = [32]byte([]byte("0123456789abcdef0123456789abcdef"))

// resumePair runs a full handshake with tickets and returns the client's session.
func firstSession(t testing.TB, sc *Config) *Session {
	t.Helper()
	s, c := handshakePair(t, sc, clientConfig(t))
	transfer(t, c, s, []byte("x"))
	sess := c.Session()
	if sess == nil {
		t.Fatal("no session ticket received")
	}
	if s.ConnectionState().DidResume || c.ConnectionState().DidResume {
		t.Fatal("first handshake resumed")
	}
	return sess
}

func TestResumptionPair(t *testing.T) {
	for _, suite := range []uint16{TLS_AES_128_GCM_SHA256, TLS_AES_256_GCM_SHA384} {
		sc := serverConfig(t, false)
		sc.TicketKey = testTicketKey
		sc.CipherSuites = []uint16{suite}
		sess := firstSession(t, sc)
		cc := clientConfig(t)
		cc.Client.Session = sess
		s, c := handshakePair(t, sc, cc)
		if !s.ConnectionState().DidResume || !c.ConnectionState().DidResume {
			t.Fatal("not resumed")
		}
		if len(c.ConnectionState().PeerCertificates) == 0 {
			t.Fatal("resumed client lost the peer certificates")
		}
		transfer(t, c, s, []byte("resumed request"))
		transfer(t, s, c, []byte("resumed response"))
		if c.Session() == nil || c.Session() == sess {
			t.Fatal("no fresh ticket after resumption")
		}

		// HelloRetryRequest plus PSK: the binder covers the rewritten transcript
		sc2 := *sc
		sc2.Groups = []CurveID{P256}
		cc2 := clientConfig(t)
		cc2.Client.Session = sess
		cc2.Groups = []CurveID{X25519, P256}
		s, c = handshakePair(t, &sc2, cc2)
		if !s.ConnectionState().DidResume || !c.ConnectionState().HelloRetry {
			t.Fatal("HRR resumption", s.ConnectionState())
		}

		// a server with another ticket key falls back to a full handshake
		sc3 := *sc
		sc3.TicketKey = [32]byte([]byte("another key, another key, 32byte"))
		s, c = handshakePair(t, &sc3, cc)
		if s.ConnectionState().DidResume || c.ConnectionState().DidResume {
			t.Fatal("resumed with a foreign ticket")
		}

		// a wrong PSK gives a wrong binder: decrypt_error
		bad := *sess
		bad.psk[0] ^= 1
		cc4 := clientConfig(t)
		cc4.Client.Session = &bad
		srv, cl := NewServer(sc, 0), NewClient(cc4, 0)
		errC, errS := pump(t, cl, srv)
		expectAlert(t, errS, AlertDecryptError, false)
		expectAlert(t, errC, AlertDecryptError, true)
	}
}

func TestResumptionGoClient(t *testing.T) {
	gc := goClientConfig(t)
	gc.ClientSessionCache = gotls.NewLRUClientSessionCache(4)
	for i := 0; i < 2; i++ {
		a, b := tcpPair(t)
		cfg := serverConfig(t, false)
		cfg.TicketKey = testTicketKey
		srv := NewConn(a, NewServer(cfg, 0))
		wait := runPeer(func() error { return ourServerEcho(srv, 4) })
		cl := gotls.Client(b, gc)
		if _, err := cl.Write([]byte("ping")); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(cl, make([]byte, 4)); err != nil {
			t.Fatal(err)
		}
		if err := wait(); err != nil {
			t.Fatal(err)
		}
		if got := cl.ConnectionState().DidResume; got != (i == 1) || srv.Engine().ConnectionState().DidResume != got {
			t.Fatalf("connection %d: resumed %v", i, got)
		}
	}
}

func TestResumptionGoServer(t *testing.T) {
	gs := goServerConfig(t)
	var sess *Session
	for i := 0; i < 2; i++ {
		a, b := tcpPair(t)
		var resumed bool
		wait := runPeer(func() error {
			s := gotls.Server(b, gs)
			err := goServerEcho(s, 4)
			resumed = s.ConnectionState().DidResume
			return err
		})
		cfg := clientConfig(t)
		cfg.Client.Session = sess
		c := NewConn(a, NewClient(cfg, 0))
		if _, err := c.Write([]byte("ping")); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(c, make([]byte, 4)); err != nil {
			t.Fatal(err)
		}
		if err := wait(); err != nil {
			t.Fatal(err)
		}
		if resumed != (i == 1) || c.Engine().ConnectionState().DidResume != resumed {
			t.Fatalf("connection %d: resumed %v", i, resumed)
		}
		sess = c.Engine().Session()
		if sess == nil {
			t.Fatal("no ticket from crypto/tls")
		}
	}
}

// TestZeroTicketKeyNoTickets: the zero TicketKey (the Config's zero value) disables tickets: a
// server without a key sends no NewSessionTicket, so the client has no session to offer.
func TestZeroTicketKeyNoTickets(t *testing.T) {
	sc := serverConfig(t, false) // TicketKey left all zero
	s, c := handshakePair(t, sc, clientConfig(t))
	transfer(t, s, c, []byte("response"))
	transfer(t, c, s, []byte("request"))
	if c.Session() != nil {
		t.Fatal("a server with an all-zero TicketKey issued a ticket")
	}
	sc.TicketKey = testTicketKey
	s, c = handshakePair(t, sc, clientConfig(t))
	transfer(t, s, c, []byte("response"))
	if c.Session() == nil {
		t.Fatal("a server with a TicketKey issued no ticket")
	}
}

// TestClientNeedsClientPart: NewClient without Config.Client (so neither ServerName nor
// InsecureSkipVerify) fails at once with a configuration error and sends nothing; NewServer
// ignores Client.
func TestClientNeedsClientPart(t *testing.T) {
	c := NewClient(&Config{Rand: seeded(1), Time: testTime}, 0)
	if c.State() != Failed || c.Err() == nil || !strings.Contains(c.Err().Error(), "ServerName") {
		t.Fatalf("client without Config.Client: state %v, err %v", c.State(), c.Err())
	}
	if c.Pending() != 0 {
		t.Fatalf("client without Config.Client queued %d bytes", c.Pending())
	}
	sc := serverConfig(t, false)
	sc.Client = &ClientConfig{ServerName: "ignored.example"}
	s, cl := handshakePair(t, sc, clientConfig(t))
	transfer(t, cl, s, []byte("x"))
}
