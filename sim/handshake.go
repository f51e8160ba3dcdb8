package sim

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	crand "crypto/rand"
	"crypto/rsa"
	gotls "crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"io"
	"math/big"
	"net"
	"runtime"
	"slices"
	"time"

	"netcard/tls"
)

// HandshakeCost compares one TLS 1.3 server handshake of the card's engine
// with crypto/tls's server, both driven by the same crypto/tls client
// (X25519, AES-128-GCM, the same certificate and key: ECDSA P-256 unless
// MeasureHandshakesWith says otherwise), averaged.
type HandshakeCost struct {
	N                    int
	AllocsCard, AllocsGo float64 // heap allocations per server handshake
	BytesCard, BytesGo   float64 // heap bytes allocated per server handshake
	NsCard, NsGo         float64 // server CPU time per handshake (median)
	// AllocsSign and BytesSign are what one CertificateVerify signature with
	// the key costs inside Go's crypto package (included in AllocsCard and
	// BytesCard; the engine cannot avoid it): the floor of a handshake.
	AllocsSign, BytesSign float64
}

// lockstep runs two goroutines one at a time over an in-memory connection
// pair and charges every interval of execution to the side that ran: so
// the server's allocations and time are measured without the client's,
// although runtime.MemStats is process-wide.
type lockstep struct {
	turn    [2]chan struct{}
	done    [2]bool
	mem     bool
	mark    time.Time
	mallocs uint64
	bytes   uint64
	ns      [2]int64
	allocs  [2]uint64
	abytes  [2]uint64
}

func (l *lockstep) charge(side int) {
	if l.mem {
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		l.allocs[side] += m.Mallocs - l.mallocs
		l.abytes[side] += m.TotalAlloc - l.bytes
		l.mallocs, l.bytes = m.Mallocs, m.TotalAlloc
		return
	}
	now := time.Now()
	l.ns[side] += now.Sub(l.mark).Nanoseconds()
	l.mark = now
}

func (l *lockstep) start() {
	if l.mem {
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		l.mallocs, l.bytes = m.Mallocs, m.TotalAlloc
	} else {
		l.mark = time.Now()
	}
}

// yield hands the turn to the other side and waits for it to come back.
// It reports false when the other side has finished (nothing more will come).
func (l *lockstep) yield(side int) bool {
	l.charge(side)
	if l.done[1-side] {
		l.start()
		return false
	}
	l.turn[1-side] <- struct{}{}
	<-l.turn[side]
	l.start()
	return true
}

func (l *lockstep) finish(side int) {
	l.charge(side)
	l.done[side] = true
	if !l.done[1-side] {
		l.turn[1-side] <- struct{}{}
	}
}

// stepConn is one end of the lockstep connection: writes append to the
// peer's inbox; a read of an empty inbox yields the turn.
type stepConn struct {
	l     *lockstep
	side  int
	inbox []byte
	peer  *stepConn
}

func (c *stepConn) Read(p []byte) (int, error) {
	for len(c.inbox) == 0 {
		if !c.l.yield(c.side) {
			return 0, io.EOF
		}
	}
	n := copy(p, c.inbox)
	c.inbox = c.inbox[n:]
	return n, nil
}

func (c *stepConn) Write(p []byte) (int, error) {
	c.peer.inbox = append(c.peer.inbox, p...)
	return len(p), nil
}

func (c *stepConn) Close() error                       { return nil }
func (c *stepConn) LocalAddr() net.Addr                { return &net.TCPAddr{} }
func (c *stepConn) RemoteAddr() net.Addr               { return &net.TCPAddr{} }
func (c *stepConn) SetDeadline(t time.Time) error      { return nil }
func (c *stepConn) SetReadDeadline(t time.Time) error  { return nil }
func (c *stepConn) SetWriteDeadline(t time.Time) error { return nil }

// runPair runs client on side 0 and server on side 1 in lockstep.
func runPair(mem bool, client, server func(net.Conn) error) (*lockstep, error) {
	l := &lockstep{mem: mem}
	l.turn[0], l.turn[1] = make(chan struct{}), make(chan struct{})
	a := &stepConn{l: l, side: 0, inbox: make([]byte, 0, 8192)}
	b := &stepConn{l: l, side: 1, inbox: make([]byte, 0, 8192)}
	a.peer, b.peer = b, a
	errs := make(chan error, 2)
	go func() {
		<-l.turn[1]
		l.start()
		err := server(b)
		l.finish(1)
		errs <- err
	}()
	l.start()
	err0 := client(a)
	l.finish(0)
	err1 := <-errs
	if err0 != nil {
		return l, err0
	}
	return l, err1
}

// ourServer runs the card's server engine the way the card does: records
// land in a fixed receive buffer (the TCP receive buffer on the card), are
// opened in place, and the flight is copied out.
func ourServer(cfg *tls.Config, rbuf, obuf []byte) func(net.Conn) error {
	return func(c net.Conn) error {
		e := tls.NewServer(cfg, len(rbuf))
		n := 0
		for {
			for n > 0 {
				k, _, err := e.Unwrap(rbuf[:n])
				if err != nil {
					return err
				}
				if k == 0 {
					break
				}
				n = copy(rbuf, rbuf[k:n])
			}
			for e.Pending() > 0 {
				k := e.Output(obuf)
				if _, err := c.Write(obuf[:k]); err != nil {
					return err
				}
			}
			switch e.State() {
			case tls.Established:
				return nil
			case tls.Failed:
				return e.Err()
			}
			m, err := c.Read(rbuf[n:])
			if err != nil {
				return err
			}
			n += m
		}
	}
}

func goServer(cfg *gotls.Config) func(net.Conn) error {
	return func(c net.Conn) error { return gotls.Server(c, cfg).Handshake() }
}

// median is the median of v (robust against a shared, noisy machine).
func median(v []int64) float64 {
	slices.Sort(v)
	if len(v) == 0 {
		return 0
	}
	return float64(v[len(v)/2])
}

// MeasureHandshakes runs n handshakes of each server, interleaved, once
// counting allocations (means) and once timing (medians), with an ECDSA
// P-256 key (the card's own key type).
func MeasureHandshakes(n int) (HandshakeCost, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), crand.Reader)
	if err != nil {
		return HandshakeCost{}, err
	}
	return MeasureHandshakesWith(n, key)
}

// MeasureHandshakesEd25519 is MeasureHandshakes with an Ed25519 key for both
// servers (CertificateVerify signed with Ed25519 instead of ECDSA).
func MeasureHandshakesEd25519(n int) (HandshakeCost, error) {
	_, key, err := ed25519.GenerateKey(crand.Reader)
	if err != nil {
		return HandshakeCost{}, err
	}
	return MeasureHandshakesWith(n, key)
}

// MeasureHandshakesRSA is MeasureHandshakes with an RSA-2048 key for both
// servers (rsa_pss_rsae_sha256 CertificateVerify).
func MeasureHandshakesRSA(n int) (HandshakeCost, error) {
	key, err := rsa.GenerateKey(crand.Reader, 2048)
	if err != nil {
		return HandshakeCost{}, err
	}
	return MeasureHandshakesWith(n, key)
}

// MeasureHandshakesWith is MeasureHandshakes with the given key (ECDSA P-256,
// Ed25519 or RSA), used by both servers.
func MeasureHandshakesWith(n int, key crypto.Signer) (HandshakeCost, error) {
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "netcard"},
		DNSNames: []string{"netcard.local"}, NotBefore: Epoch.Add(-time.Hour), NotAfter: Epoch.Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(crand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return HandshakeCost{}, err
	}
	ours := &tls.Config{Rand: crand.Reader, Time: func() time.Time { return Epoch }, Certificate: [][]byte{der},
		Signer: key, ALPN: []string{"http/1.1"}}
	theirs := &gotls.Config{Certificates: []gotls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}},
		MinVersion: gotls.VersionTLS13, SessionTicketsDisabled: true, NextProtos: []string{"http/1.1"},
		Time: func() time.Time { return Epoch }}
	cli := &gotls.Config{InsecureSkipVerify: true, ServerName: "netcard.local", MinVersion: gotls.VersionTLS13,
		CurvePreferences: []gotls.CurveID{gotls.X25519}, CipherSuites: nil, NextProtos: []string{"http/1.1"}}
	client := func(c net.Conn) error {
		tc := gotls.Client(c, cli)
		if err := tc.Handshake(); err != nil {
			return err
		}
		if tc.ConnectionState().CipherSuite != gotls.TLS_AES_128_GCM_SHA256 {
			return errors.New("sim: unexpected cipher suite")
		}
		return nil
	}
	rbuf, obuf := make([]byte, tls.DefaultRecordBuf), make([]byte, 4096)
	h := HandshakeCost{N: n}
	var oa, ob, ga, gb uint64
	var ons, gns []int64
	for _, mem := range []bool{true, false} {
		for i := 0; i < n+1; i++ {
			lo, err := runPair(mem, client, ourServer(ours, rbuf, obuf))
			if err != nil {
				return h, err
			}
			lg, err := runPair(mem, client, goServer(theirs))
			if err != nil {
				return h, err
			}
			if i == 0 {
				continue // warm-up
			}
			if mem {
				oa, ob = oa+lo.allocs[1], ob+lo.abytes[1]
				ga, gb = ga+lg.allocs[1], gb+lg.abytes[1]
			} else {
				ons, gns = append(ons, lo.ns[1]), append(gns, lg.ns[1])
			}
		}
	}
	f := float64(n)
	h.AllocsCard, h.BytesCard, h.NsCard = float64(oa)/f, float64(ob)/f, median(ons)
	h.AllocsGo, h.BytesGo, h.NsGo = float64(ga)/f, float64(gb)/f, median(gns)
	h.AllocsSign, h.BytesSign, err = signCost(key, n)
	return h, err
}

// signCost measures one CertificateVerify signature with key the way the
// engine makes it (a SHA-256 digest for ECDSA, the 130-byte content for
// Ed25519), averaged over n signatures after a warm-up.
func signCost(key crypto.Signer, n int) (allocs, bytes float64, err error) {
	content, digest := make([]byte, 130), make([]byte, 32)
	var opts crypto.SignerOpts = crypto.SHA256
	msg := digest
	switch key.(type) {
	case ed25519.PrivateKey:
		opts, msg = crypto.Hash(0), content
	case *rsa.PrivateKey:
		opts = &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash, Hash: crypto.SHA256}
	}
	if _, err := key.Sign(crand.Reader, msg, opts); err != nil {
		return 0, 0, err
	}
	var a, b runtime.MemStats
	runtime.ReadMemStats(&a)
	for i := 0; i < n; i++ {
		if _, err := key.Sign(crand.Reader, msg, opts); err != nil {
			return 0, 0, err
		}
	}
	runtime.ReadMemStats(&b)
	return float64(b.Mallocs-a.Mallocs) / float64(n), float64(b.TotalAlloc-a.TotalAlloc) / float64(n), nil
}
