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
				cfg.MaxFragmentLength = 512
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
		t.Skip("gnutls-cli not installed")
	}
	dir := t.TempDir()
	ca := caFile(t, dir)
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
		srv = NewConn(raw, NewServer(cfg, 5+512+16))
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
		"--sni-hostname", "card.example", "--priority", "NORMAL:-VERS-ALL:+VERS-TLS1.3", "--recordsize", "1024", "127.0.0.1")
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
	// gnutls announces 1025 for --recordsize 1024 (the limit counts the content type byte)
	if got := srv.Engine().MaxPlaintext(); got != 1024 || srv.Engine().peerRSL != 1025 {
		t.Fatalf("we send records of %d bytes (peer limit %d)", got, srv.Engine().peerRSL)
	}
}
