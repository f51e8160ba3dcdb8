package main

import (
	"bufio"
	"bytes"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"image/png"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"netcard/card"
	"netcard/store"
)

// buildBinary builds the netcard command once per test binary.
func buildBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "netcard")
	cmd := exec.Command("go", "build", "-o", bin, ".")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

var readyRE = regexp.MustCompile(`netcard ready: (https://[0-9.:]+/)`)

// startDemo runs `netcard` with no command in dir and waits for its ready line.
func startDemo(t *testing.T, bin, dir string, extra ...string) (*exec.Cmd, string, *bytes.Buffer) {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"--https", "127.0.0.1:0", "--http", "127.0.0.1:0", "--baud", "0"}, extra...)...)
	cmd.Dir = dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			cmd.Wait()
		}
	})
	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	deadline := time.After(60 * time.Second)
	for {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("netcard exited before it was ready; stderr:\n%s", stderr.String())
			}
			if m := readyRE.FindStringSubmatch(l); m != nil {
				go func() {
					for range lines {
					}
				}()
				return cmd, m[1], &stderr
			}
		case <-deadline:
			t.Fatalf("no ready line within 60 s; stderr:\n%s", stderr.String())
		}
	}
}

func TestDemoEndToEnd(t *testing.T) {
	bin := buildBinary(t)
	dir := t.TempDir()
	cmd, url, stderr := startDemo(t, bin, dir, "--pcap", "line.pcap")
	certFile := filepath.Join(dir, "netcard-cert.pem")
	pemBytes, err := os.ReadFile(certFile)
	if err != nil {
		t.Fatal(err)
	}

	// The system curl, verifying the card's certificate (no -k).
	if _, err := exec.LookPath("curl"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("curl is not installed")
		}
		t.Log("curl not installed: skipping the curl check")
	} else {
		out, err := exec.Command("curl", "-sS", "--fail", "--max-time", "60", "--cacert", certFile, url+"status").CombinedOutput()
		if err != nil {
			t.Fatalf("curl: %v\n%s", err, out)
		}
		if !strings.Contains(string(out), "netcard status") {
			t.Fatalf("curl got %q", out)
		}
	}

	// Go's net/http with crypto/tls.
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pemBytes)
	client := &http.Client{Timeout: 60 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	resp, err := client.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.TLS.Version != tls.VersionTLS13 {
		t.Fatalf("GET / = %d, TLS %x: %s", resp.StatusCode, resp.TLS.Version, body)
	}

	// Ctrl-C: a clean exit, the store intact.
	cmd.Process.Signal(syscall.SIGINT)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("exit after SIGINT: %v\n%s", err, stderr.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatal("netcard did not stop after SIGINT")
	}

	checkPcap(t, filepath.Join(dir, "line.pcap"))

	// A restart with the same image presents the same certificate.
	_, url2, _ := startDemo(t, bin, dir)
	pem2, err := os.ReadFile(certFile)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(pemBytes, pem2) {
		t.Fatal("the certificate changed across a restart")
	}
	resp, err = client.Get(url2)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
}

func TestHelpAndErrors(t *testing.T) {
	for _, c := range commands {
		var out, errb bytes.Buffer
		if code := mainArgs([]string{c.name, "-h"}, &out, &errb); code != exitOK {
			t.Errorf("%s -h: exit %d", c.name, code)
		}
		if !strings.Contains(errb.String(), "Usage of netcard "+c.name) {
			t.Errorf("%s -h printed %q", c.name, errb.String())
		}
	}
	var out, errb bytes.Buffer
	if code := mainArgs([]string{"serve", "--no-such-flag"}, &out, &errb); code != exitUsage {
		t.Errorf("bad flag: exit %d", code)
	}
	if code := mainArgs([]string{"frobnicate"}, &out, &errb); code != exitUsage {
		t.Errorf("unknown command: exit %d", code)
	}

	// A corrupt store: one clear line on stderr, a non-zero exit.
	dir := t.TempDir()
	img := filepath.Join(dir, "bad.img")
	os.WriteFile(img, bytes.Repeat([]byte{0xa5}, 65536), 0o600)
	errb.Reset()
	if code := mainArgs([]string{"status", "--store", img}, &out, &errb); code != exitFailure {
		t.Errorf("corrupt store: exit %d", code)
	}
	if n := strings.Count(errb.String(), "\n"); n != 1 {
		t.Errorf("corrupt store: want one line on stderr, got %q", errb.String())
	}
	if code := mainArgs([]string{"init", "--store", filepath.Join(dir, "ok.img")}, &out, &errb); code != exitOK {
		t.Fatalf("init: exit %d: %s", code, errb.String())
	}
	out.Reset()
	if code := mainArgs([]string{"cert", "--store", filepath.Join(dir, "ok.img")}, &out, &errb); code != exitOK || !strings.Contains(out.String(), "BEGIN CERTIFICATE") {
		t.Fatalf("cert: exit %d: %s", code, out.String())
	}
}

// checkPcap decodes the demo's capture with tshark: no malformed packet,
// and the TLS 1.3 handshake visible inside PPP.
func checkPcap(t *testing.T, file string) {
	t.Helper()
	if _, err := exec.LookPath("tshark"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("tshark is not installed")
		}
		t.Log("tshark not installed: skipping the pcap check")
		return
	}
	out, err := exec.Command("tshark", "-r", file, "-o", "tls.desegment_ssl_records:TRUE").CombinedOutput()
	if err != nil {
		t.Fatalf("tshark: %v\n%s", err, out)
	}
	text := string(out)
	if strings.Contains(text, "Malformed") {
		t.Fatalf("tshark reports malformed packets:\n%s", text)
	}
	for _, want := range []string{"LCP", "IPCP", "Client Hello", "Server Hello"} {
		if !strings.Contains(text, want) {
			t.Fatalf("tshark output lacks %q:\n%s", want, text)
		}
	}
	exp, _ := exec.Command("tshark", "-r", file, "-q", "-z", "expert,warn").CombinedOutput()
	if strings.Contains(string(exp), "Malformed") {
		t.Fatalf("tshark expert info:\n%s", exp)
	}
}

// TestBenchQuick: `netcard bench --quick --json --plot f` prints one JSON
// object with the keys of issue 7 and the peer's, and writes a PNG; the
// table form prints the peer's rows.
func TestBenchQuick(t *testing.T) {
	plot := filepath.Join(t.TempDir(), "goodput.png")
	var out, errb bytes.Buffer
	if err := runBench([]string{"--quick", "--json", "--plot", plot}, &out, &errb); err != nil {
		t.Fatalf("%v\n%s", err, errb.String())
	}
	var m map[string]any
	if err := json.Unmarshal(out.Bytes(), &m); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	for _, k := range []string{"card_ram_bytes", "tiny_ram_bytes", "allocs_per_packet", "handshake_allocs_ratio",
		"handshake_cpu_ratio", "serial_efficiency_115200", "serial_efficiency_12M", "ttfb_ratio_115200",
		"bulk_cpu_ratio_vs_gvisor", "cards_per_gib", "ttfb_ratio_115200_cpu", "peer_serial_efficiency_115200",
		"peer_serial_efficiency_12M", "serial_efficiency_ratio_vs_peer_115200", "tiny_chromium_ok",
		"card_peak_ram_bytes", "tiny_peak_ram_bytes", "card_bound_ram_bytes", "tiny_bound_ram_bytes"} {
		if _, ok := m[k]; !ok {
			t.Errorf("key %q missing", k)
		}
	}
	if v, ok := m["peer_serial_efficiency_115200"].(float64); !ok || v < 0.9 || v > 1.01 { // see sim's TestBenchQuick
		t.Errorf("peer_serial_efficiency_115200 = %v (%v)", m["peer_serial_efficiency_115200"], m["peer_note"])
	}
	f, err := os.Open(plot)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	if b := img.Bounds(); b.Dx() < 800 || b.Dy() < 500 {
		t.Errorf("plot is %v", b)
	}
	out.Reset()
	if err := runBench([]string{"--quick"}, &out, &errb); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"peer on the same line, 115200", "gVisor+crypto/tls", "same + card CPU time"} {
		if !strings.Contains(out.String(), s) {
			t.Errorf("table lacks %q:\n%s", s, out.String())
		}
	}
}

// TestInitRSA: `netcard init --key rsa2048` generates an RSA-2048 identity on the card and
// self-signs it; an unknown --key value is a usage error that creates nothing.
func TestInitRSA(t *testing.T) {
	dir := t.TempDir()
	var out, errb bytes.Buffer
	img := filepath.Join(dir, "rsa.img")
	if code := mainArgs([]string{"init", "--store", img, "--key", "rsa2048"}, &out, &errb); code != exitOK {
		t.Fatalf("init --key rsa2048: exit %d: %s", code, errb.String())
	}
	if !strings.Contains(out.String(), "rsa2048 key generated on the card") {
		t.Fatalf("init output %q", out.String())
	}
	st, err := store.Open(img)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	c, err := x509.ParseCertificate(st.Certificate()[0])
	if err != nil {
		t.Fatal(err)
	}
	if k, ok := c.PublicKey.(*rsa.PublicKey); !ok || k.N.BitLen() != 2048 || st.KeyType() != store.KeyRSA2048 {
		t.Fatalf("certificate key %T, store key %v", c.PublicKey, st.KeyType())
	}
	out.Reset()
	if code := mainArgs([]string{"status", "--store", img}, &out, &errb); code != exitOK || !strings.Contains(out.String(), "key        true (rsa2048)") {
		t.Fatalf("status: exit %d: %s", code, out.String())
	}
	bad := filepath.Join(dir, "bad.img")
	if code := mainArgs([]string{"init", "--store", bad, "--key", "rsa1024"}, &out, &errb); code != exitUsage {
		t.Fatalf("--key rsa1024: exit %d", code)
	}
	if _, err := os.Stat(bad); err == nil {
		t.Fatal("a refused init created an image")
	}
}

// TestBenchTinyChromium: the bench's tiny_chromium_ok measurement is true
// with Chromium installed (CI installs it), and its JSON keys are those
// documented.
func TestBenchTinyChromium(t *testing.T) {
	if _, err := exec.LookPath("chromium"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("chromium is not installed (.ci/run installs it)")
		}
		t.Skip("chromium is not installed")
	}
	tc := measureTinyChromium()
	if tc.OK == nil || !*tc.OK {
		t.Fatalf("tiny_chromium_ok: %v (%s)", tc.OK, tc.Note)
	}
	big := 0
	for _, n := range tc.HelloBytes {
		big = max(big, n)
	}
	if big <= card.TinyProfile.RecvBuf {
		t.Fatalf("ClientHello records %v fit Tiny's receive buffer", tc.HelloBytes)
	}
	b, _ := json.Marshal(tc)
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil || m["tiny_chromium_ok"] != true {
		t.Fatalf("%s", b)
	}
	t.Logf("%s", b)
}
