package tls

import (
	"bufio"
	"bytes"
	"context"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func needOpenSSL(t *testing.T) string {
	p, err := exec.LookPath("openssl")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("CI must run this real-peer test:", "openssl not installed")
		}
		t.Skip("openssl not installed")
	}
	return p
}

func writePEM(t *testing.T, dir, name, typ string, ders ...[]byte) string {
	var b bytes.Buffer
	for _, d := range ders {
		pem.Encode(&b, &pem.Block{Type: typ, Bytes: d})
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, b.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// caFile writes the test CA certificate (the last element of the ECDSA chain).
func caFile(t *testing.T, dir string) string {
	p := getPKI(t)
	return writePEM(t, dir, "ca.pem", "CERTIFICATE", p.ecChain[len(p.ecChain)-1])
}

// TestOpenSSLClient runs `openssl s_client` against our server for each suite and group, with
// full verification, plus max_fragment_length 512 and an Ed25519 certificate.
func TestOpenSSLClient(t *testing.T) {
	ossl := needOpenSSL(t)
	dir := t.TempDir()
	ca := caFile(t, dir)
	type tc struct {
		suite    uint16
		osSuite  string
		group    string
		ourGroup CurveID
		mfl      int
		ed       bool
	}
	var cases []tc
	for _, s := range []struct {
		id   uint16
		name string
	}{{TLS_AES_128_GCM_SHA256, "TLS_AES_128_GCM_SHA256"}, {TLS_AES_256_GCM_SHA384, "TLS_AES_256_GCM_SHA384"},
		{TLS_CHACHA20_POLY1305_SHA256, "TLS_CHACHA20_POLY1305_SHA256"}} {
		for _, g := range []struct {
			name string
			id   CurveID
		}{{"X25519", X25519}, {"P-256", P256}} {
			cases = append(cases, tc{s.id, s.name, g.name, g.id, 0, false})
		}
	}
	cases = append(cases, tc{TLS_AES_128_GCM_SHA256, "TLS_AES_128_GCM_SHA256", "X25519", X25519, 512, false})
	cases = append(cases, tc{TLS_AES_256_GCM_SHA384, "TLS_AES_256_GCM_SHA384", "X25519:P-256", P256, 0, false}) // HRR
	cases = append(cases, tc{TLS_CHACHA20_POLY1305_SHA256, "TLS_CHACHA20_POLY1305_SHA256", "X25519", X25519, 0, true})
	for _, c := range cases {
		t.Run(fmt.Sprintf("%s/%s/mfl=%d/ed=%v", c.osSuite, c.group, c.mfl, c.ed), func(t *testing.T) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			msg := strings.Repeat("0123456789", 150) // more than one 512-byte fragment
			var srv *Conn
			wait := runPeer(func() error {
				raw, err := ln.Accept()
				if err != nil {
					return err
				}
				raw.SetDeadline(time.Now().Add(20 * time.Second))
				cfg := serverConfig(t, c.ed)
				if c.group == "X25519:P-256" {
					cfg.Groups = []CurveID{P256}
				}
				srv = NewConn(raw, NewServer(cfg, 0))
				r := bufio.NewReader(srv)
				line, err := r.ReadString('\n')
				if err != nil {
					return err
				}
				if _, err := srv.Write([]byte("echo:" + line)); err != nil {
					return err
				}
				return srv.Close()
			})
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			args := []string{"s_client", "-connect", ln.Addr().String(), "-servername", "card.example",
				"-CAfile", ca, "-verify_return_error", "-verify_hostname", "card.example",
				"-attime", fmt.Sprint(testNow.Unix()), "-tls1_3", "-ciphersuites", c.osSuite, "-groups", c.group,
				"-ign_eof", "-quiet"}
			if c.mfl > 0 {
				args = append(args, "-maxfraglen", fmt.Sprint(c.mfl))
			}
			cmd := exec.CommandContext(ctx, ossl, args...)
			cmd.Stdin = strings.NewReader(msg + "\n")
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			out, err := cmd.Output()
			if werr := wait(); werr != nil {
				t.Fatalf("server: %v; openssl stderr: %s", werr, stderr.String())
			}
			if err != nil || !strings.Contains(string(out), "echo:"+msg) {
				t.Fatalf("openssl: %v\nstdout %q\nstderr %s", err, out, stderr.String())
			}
			cs := srv.Engine().ConnectionState()
			if cs.CipherSuite != c.suite || cs.Group != c.ourGroup || cs.MaxFragment != c.mfl || cs.HelloRetry != (c.ourGroup == P256 && strings.Contains(c.group, ":")) {
				t.Fatalf("state %+v", cs)
			}
			if c.mfl > 0 && srv.Engine().MaxPlaintext() > c.mfl {
				t.Fatalf("MaxPlaintext %d", srv.Engine().MaxPlaintext())
			}
		})
	}
}

// TestOpenSSLServer runs our client against `openssl s_server -www`, with mutual TLS.
func TestOpenSSLServer(t *testing.T) {
	ossl := needOpenSSL(t)
	p := getPKI(t)
	dir := t.TempDir()
	ca := caFile(t, dir)
	cert := writePEM(t, dir, "cert.pem", "CERTIFICATE", p.ecChain...)
	k8, err := x509.MarshalPKCS8PrivateKey(p.ecKey)
	if err != nil {
		t.Fatal(err)
	}
	key := writePEM(t, dir, "key.pem", "PRIVATE KEY", k8)
	for _, g := range []string{"X25519", "P-256", "X25519/mfl"} {
		t.Run(g, func(t *testing.T) {
			mfl := strings.HasSuffix(g, "/mfl")
			g = strings.TrimSuffix(g, "/mfl")
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			addr := ln.Addr().String()
			ln.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, ossl, "s_server", "-accept", addr, "-cert", cert, "-key", key,
				"-CAfile", ca, "-Verify", "1", "-verify_return_error", "-attime", fmt.Sprint(testNow.Unix()),
				"-tls1_3", "-groups", g, "-www", "-naccept", "1")
			stdout, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			defer func() { cancel(); cmd.Wait() }()
			br := bufio.NewReader(stdout)
			for {
				line, err := br.ReadString('\n')
				if err != nil {
					t.Fatalf("s_server did not start: %v %s", err, stderr.String())
				}
				if strings.HasPrefix(line, "ACCEPT") {
					break
				}
			}
			go io.Copy(io.Discard, br)
			raw, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			raw.SetDeadline(time.Now().Add(20 * time.Second))
			cfg := clientConfig(t)
			cfg.Certificate, cfg.Signer = p.clChain, p.clKey
			if mfl {
				cfg.Client.MaxFragmentLength = 512
			}
			c := NewConn(raw, NewClient(cfg, 0))
			defer c.Close()
			if _, err := c.Write([]byte("GET / HTTP/1.0\r\n\r\n")); err != nil {
				t.Fatalf("%v %s", err, stderr.String())
			}
			resp, err := io.ReadAll(c)
			if err != nil && err != io.EOF {
				t.Fatalf("%v %s", err, stderr.String())
			}
			if !strings.Contains(string(resp), "200 ok") || !strings.Contains(string(resp), "TLSv1.3") {
				t.Fatalf("response %q", resp)
			}
			if mfl && c.Engine().ConnectionState().MaxFragment != 512 {
				t.Fatalf("max_fragment_length not negotiated: %+v", c.Engine().ConnectionState())
			}
			if !strings.Contains(string(resp), "client certificate") && !strings.Contains(string(resp), "CN = client") &&
				!strings.Contains(string(resp), "CN=client") {
				t.Logf("response does not mention the client certificate: %q", resp)
			}
		})
	}
}

// TestGnuTLSRecordSizeLimit runs gnutls-cli with --recordsize against a Tiny-style server that
// announces record_size_limit: both directions must respect the limits.
func TestGnuTLSRecordSizeLimit(t *testing.T) {
	gnutls, err := exec.LookPath("gnutls-cli")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("CI must run this real-peer test:", "gnutls-cli not installed")
		}
		t.Skip("gnutls-cli not installed")
	}
	dir := t.TempDir()
	ca := caFile(t, dir)
	for _, prio := range []string{"NORMAL:-VERS-ALL:+VERS-TLS1.3", "NORMAL:-VERS-ALL:+VERS-TLS1.2"} {
		t.Run(prio, func(t *testing.T) { gnutlsRecordSize(t, gnutls, ca, prio) })
	}
}

// gnutlsRecordSize: our Tiny-style server (receive buffer 533 bytes, limit 512) and gnutls-cli
// --recordsize 1024 with the priority string prio (TLS 1.3 or TLS 1.2).
func gnutlsRecordSize(t *testing.T, gnutls, ca, prio string) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	msg := strings.Repeat("abcdefghij", 40) // gnutls-cli does not fragment its stdin lines
	var srv *Conn
	wait := runPeer(func() error {
		raw, err := ln.Accept()
		if err != nil {
			return err
		}
		raw.SetDeadline(time.Now().Add(20 * time.Second))
		cfg := serverConfig(t, false)
		cfg.RecordSizeLimit = 512
		cfg.MaxRecordOut = 4096
		buf := 5 + 512 + 16 // the largest TLS 1.3 record under the limit
		if strings.Contains(prio, "1.2") {
			buf += explicitNonce // TLS 1.2 AES-GCM; GnuTLS accepts no 1.2 limit below 512
		}
		srv = NewConn(raw, NewServer(cfg, buf))
		r := bufio.NewReader(srv)
		line, err := r.ReadString('\n')
		if err != nil {
			return err
		}
		_, err = srv.Write([]byte("echo:" + strings.Repeat(line, 6))) // several records
		return err
	})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	cmd := exec.CommandContext(ctx, gnutls, "--port", port, "--x509cafile", ca, "--verify-hostname", "card.example",
		"--sni-hostname", "card.example", "--priority", prio, "--recordsize", "1024", "127.0.0.1")
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cancel(); cmd.Wait() }()
	io.WriteString(stdin, msg+"\n")
	br := bufio.NewReader(stdout)
	found := false
	for !found {
		line, err := br.ReadString('\n')
		if err != nil {
			break
		}
		found = strings.Contains(line, "echo:"+msg)
		if !found {
			t.Logf("gnutls: %s", strings.TrimSpace(line))
		}
	}
	stdin.Close()
	if werr := wait(); werr != nil || !found {
		t.Fatalf("server %v, echo found %v; gnutls stderr: %s", werr, found, stderr.String())
	}
	// gnutls announces 1025 for --recordsize 1024 in TLS 1.3 (the limit counts the content type
	// byte) and 1024 in TLS 1.2 (plaintext only): both mean 1024 bytes of data.
	if v := srv.Engine().ConnectionState().Version; (v == VersionTLS12) != strings.Contains(prio, "1.2") {
		t.Fatalf("version %04x", v)
	}
	if got := srv.Engine().MaxPlaintext(); got != 1024 || srv.Engine().peerRSL != 1025 {
		t.Fatalf("we send records of %d bytes (peer limit %d)", got, srv.Engine().peerRSL)
	}
}

// TestOpenSSLClientTLS12 runs `openssl s_client -tls1_2` against our server for each TLS 1.2
// suite and group (ECDSA and Ed25519 certificates), with full verification.
func TestOpenSSLClientTLS12(t *testing.T) {
	ossl := needOpenSSL(t)
	dir := t.TempDir()
	ca := caFile(t, dir)
	type tc struct {
		suite    uint16
		osSuite  string
		group    string
		ourGroup CurveID
		ed       bool
	}
	var cases []tc
	for _, s := range []struct {
		id   uint16
		name string
	}{{TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, "ECDHE-ECDSA-AES128-GCM-SHA256"},
		{TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384, "ECDHE-ECDSA-AES256-GCM-SHA384"},
		{TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256, "ECDHE-ECDSA-CHACHA20-POLY1305"}} {
		for _, g := range []struct {
			name string
			id   CurveID
		}{{"X25519:P-256", X25519}, {"P-256", P256}} { // the certificate's curve P-256 must be offered
			cases = append(cases, tc{s.id, s.name, g.name, g.id, false})
		}
	}
	cases = append(cases, tc{TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, "ECDHE-ECDSA-AES128-GCM-SHA256", "X25519", X25519, true})
	for _, c := range cases {
		t.Run(fmt.Sprintf("%s/%s/ed=%v", c.osSuite, c.group, c.ed), func(t *testing.T) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			msg := strings.Repeat("0123456789", 150)
			var srv *Conn
			wait := runPeer(func() error {
				raw, err := ln.Accept()
				if err != nil {
					return err
				}
				raw.SetDeadline(time.Now().Add(20 * time.Second))
				srv = NewConn(raw, NewServer(serverConfig(t, c.ed), 0))
				r := bufio.NewReader(srv)
				line, err := r.ReadString('\n')
				if err != nil {
					return err
				}
				if _, err := srv.Write([]byte("echo:" + line)); err != nil {
					return err
				}
				return srv.Close()
			})
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			args := []string{"s_client", "-connect", ln.Addr().String(), "-servername", "card.example",
				"-CAfile", ca, "-verify_return_error", "-verify_hostname", "card.example",
				"-attime", fmt.Sprint(testNow.Unix()), "-tls1_2", "-cipher", c.osSuite, "-groups", c.group,
				"-ign_eof", "-quiet"}
			if c.ed {
				args = append(args, "-sigalgs", "ed25519")
			}
			cmd := exec.CommandContext(ctx, ossl, args...)
			cmd.Stdin = strings.NewReader(msg + "\n")
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			out, err := cmd.Output()
			if werr := wait(); werr != nil {
				t.Fatalf("server: %v; openssl stderr: %s", werr, stderr.String())
			}
			if err != nil || !strings.Contains(string(out), "echo:"+msg) {
				t.Fatalf("openssl: %v\nstdout %q\nstderr %s", err, out, stderr.String())
			}
			cs := srv.Engine().ConnectionState()
			if cs.Version != VersionTLS12 || cs.CipherSuite != c.suite || cs.Group != c.ourGroup {
				t.Fatalf("state %+v", cs)
			}
		})
	}
}

// TestOpenSSLRenegotiationRefused: `openssl s_client -tls1_2` asked to renegotiate ("R") gets
// our no_renegotiation warning; OpenSSL then gives up with a fatal alert. The server never runs a
// second handshake.
func TestOpenSSLRenegotiationRefused(t *testing.T) {
	ossl := needOpenSSL(t)
	dir := t.TempDir()
	ca := caFile(t, dir)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var srv *Conn
	wait := runPeer(func() error {
		raw, err := ln.Accept()
		if err != nil {
			return err
		}
		raw.SetDeadline(time.Now().Add(20 * time.Second))
		srv = NewConn(raw, NewServer(serverConfig(t, false), 0))
		_, err = io.ReadAll(srv)
		return err
	})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, ossl, "s_client", "-connect", ln.Addr().String(), "-servername", "card.example",
		"-CAfile", ca, "-attime", fmt.Sprint(testNow.Unix()), "-tls1_2")
	cmd.Stdin = strings.NewReader("R\n")
	out, _ := cmd.CombinedOutput()
	werr := wait()
	if !strings.Contains(string(out), "RENEGOTIATING") {
		t.Fatalf("openssl did not try to renegotiate: %s", out)
	}
	e := srv.Engine()
	t.Logf("server: %v (state %v); openssl tail: %q", werr, e.State(), lastLines(string(out), 3))
	if e.State() == Failed && (e.Alert() != AlertHandshakeFailure && e.Alert() != AlertNoRenegotiation) {
		t.Fatalf("server ended with %v", werr)
	}
}

func lastLines(s string, n int) string {
	l := strings.Split(strings.TrimSpace(s), "\n")
	if len(l) > n {
		l = l[len(l)-n:]
	}
	return strings.Join(l, "\n")
}

// TestOpenSSLServerTLS12 runs our client against `openssl s_server -tls1_2 -www` with mutual TLS,
// for each suite.
func TestOpenSSLServerTLS12(t *testing.T) {
	ossl := needOpenSSL(t)
	p := getPKI(t)
	dir := t.TempDir()
	ca := caFile(t, dir)
	cert := writePEM(t, dir, "cert.pem", "CERTIFICATE", p.ecChain...)
	k8, err := x509.MarshalPKCS8PrivateKey(p.ecKey)
	if err != nil {
		t.Fatal(err)
	}
	key := writePEM(t, dir, "key.pem", "PRIVATE KEY", k8)
	for _, s := range []struct {
		id    uint16
		name  string
		group string
	}{{TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, "ECDHE-ECDSA-AES128-GCM-SHA256", "X25519:P-256"},
		{TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384, "ECDHE-ECDSA-AES256-GCM-SHA384", "P-256"},
		{TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256, "ECDHE-ECDSA-CHACHA20-POLY1305", "X25519:P-256"}} {
		t.Run(s.name, func(t *testing.T) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			addr := ln.Addr().String()
			ln.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, ossl, "s_server", "-accept", addr, "-cert", cert, "-key", key,
				"-CAfile", ca, "-Verify", "1", "-verify_return_error", "-attime", fmt.Sprint(testNow.Unix()),
				"-tls1_2", "-cipher", s.name, "-groups", s.group, "-www", "-naccept", "1")
			stdout, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			defer func() { cancel(); cmd.Wait() }()
			br := bufio.NewReader(stdout)
			for {
				line, err := br.ReadString('\n')
				if err != nil {
					t.Fatalf("s_server did not start: %v %s", err, stderr.String())
				}
				if strings.HasPrefix(line, "ACCEPT") {
					break
				}
			}
			go io.Copy(io.Discard, br)
			raw, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			raw.SetDeadline(time.Now().Add(20 * time.Second))
			cfg := clientConfig(t)
			cfg.Certificate, cfg.Signer = p.clChain, p.clKey
			c := NewConn(raw, NewClient(cfg, 0))
			defer c.Close()
			if _, err := c.Write([]byte("GET / HTTP/1.0\r\n\r\n")); err != nil {
				t.Fatalf("%v %s", err, stderr.String())
			}
			resp, err := io.ReadAll(c)
			if err != nil && err != io.EOF {
				t.Fatalf("%v %s", err, stderr.String())
			}
			if !strings.Contains(string(resp), "200 ok") || !strings.Contains(string(resp), "TLSv1.2") ||
				!strings.Contains(string(resp), s.name) {
				t.Fatalf("response %q", resp)
			}
			cs := c.Engine().ConnectionState()
			if cs.Version != VersionTLS12 || cs.CipherSuite != s.id {
				t.Fatalf("%+v", cs)
			}
			if !strings.Contains(string(resp), "CN = client") && !strings.Contains(string(resp), "CN=client") {
				t.Logf("response does not mention the client certificate: %q", resp)
			}
		})
	}
}

// TestCurlTLS12: `curl --tls-max 1.2` (OpenSSL) fetches a page from our server with full
// verification; ALPN http/1.1 and the card's optional client-certificate request included.
func TestCurlTLS12(t *testing.T) {
	curl, err := exec.LookPath("curl")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("CI must run this real-peer test:", "curl not installed")
		}
		t.Skip("curl not installed")
	}
	dir := t.TempDir()
	ca := caFile(t, dir)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var srv *Conn
	wait := runPeer(func() error {
		raw, err := ln.Accept()
		if err != nil {
			return err
		}
		raw.SetDeadline(time.Now().Add(20 * time.Second))
		cfg := serverConfig(t, false)
		cfg.ALPN = []string{"http/1.1"}
		cfg.ClientAuth = RequestClientCert
		srv = NewConn(raw, NewServer(cfg, 0))
		r := bufio.NewReader(srv)
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				return err
			}
			if line == "\r\n" {
				break
			}
		}
		if _, err := srv.Write([]byte("HTTP/1.1 200 OK\r\nContent-Length: 10\r\nConnection: close\r\n\r\ncard tls12")); err != nil {
			return err
		}
		return srv.Close()
	})
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, curl, "-sS", "--tlsv1.2", "--tls-max", "1.2", "--cacert", ca,
		"--resolve", "card.example:"+port+":127.0.0.1", "https://card.example:"+port+"/").CombinedOutput()
	if werr := wait(); werr != nil {
		t.Fatalf("server: %v; curl: %s", werr, out)
	}
	if err != nil || string(out) != "card tls12" {
		t.Fatalf("curl: %v %q", err, out)
	}
	if cs := srv.Engine().ConnectionState(); cs.Version != VersionTLS12 || cs.ALPN != "http/1.1" {
		t.Fatalf("%+v", cs)
	}
}
