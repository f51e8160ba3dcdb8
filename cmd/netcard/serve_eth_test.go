package main

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestServeEthFlags: Ethernet flags that make no sense are usage errors
// with a clear message, before anything starts.
func TestServeEthFlags(t *testing.T) {
	img := filepath.Join(t.TempDir(), "c.img")
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--framing", "atm"}, "bad --framing"},
		{[]string{"--dhcp", "client"}, "need Ethernet"},
		{[]string{"--framing", "eth", "--dhcp", "maybe"}, "bad --dhcp"},
		{[]string{"--framing", "eth", "--eth-addr", "10.1.1.1/31"}, "bad prefix"},
		{[]string{"--framing", "eth", "--eth-addr", "10.1.1.1/24"}, "needs --eth-peer"},
		{[]string{"--framing", "eth", "--eth-peer", "fe80::1"}, "bad --eth-peer"},
	} {
		var out, errb bytes.Buffer
		args := append([]string{"serve", "--store", img}, c.args...)
		if code := mainArgs(args, &out, &errb); code != exitUsage || !strings.Contains(errb.String(), c.want) {
			t.Errorf("%v: exit %d, %q", c.args, code, errb.String())
		}
	}
}

// TestDemoEthernet: `netcard --framing eth` runs the card on an Ethernet
// link with gVisor's stack as the in-process host; Go's net/http fetches
// the status page through the forwarded port, and the capture
// (LINKTYPE_ETHERNET) shows ARP and TLS inside Ethernet frames.
func TestDemoEthernet(t *testing.T) {
	bin := buildBinary(t)
	dir := t.TempDir()
	cmd, url, stderr := startDemo(t, bin, dir, "--framing", "eth", "--pcap", "eth.pcap")
	pemBytes, err := os.ReadFile(filepath.Join(dir, "netcard-cert.pem"))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pemBytes)
	client := &http.Client{Timeout: 60 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	resp, err := client.Get(url + "status")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), "Ethernet") {
		t.Fatalf("GET /status = %d:\n%.400s", resp.StatusCode, body)
	}
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
	if _, err := exec.LookPath("tshark"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("tshark is not installed")
		}
		t.Skip("tshark not installed")
	}
	out, err := exec.Command("tshark", "-r", filepath.Join(dir, "eth.pcap"), "-T", "fields", "-e", "frame.protocols").CombinedOutput()
	if err != nil {
		t.Fatalf("tshark: %v\n%s", err, out)
	}
	for _, want := range []string{"eth:ethertype:arp\n", "eth:ethertype:ip:tcp:tls"} {
		if !strings.Contains(string(out), want) {
			t.Fatalf("capture lacks %q:\n%s", want, out)
		}
	}
}

// TestDemoEthernetIPv6: `netcard --framing eth --ipv6` forwards its IPv6
// loopback port to the card's link-local address on the Ethernet link
// (gVisor's IPv6 and Neighbor Discovery in between); Go's net/http fetches
// the status page through it, verified.
func TestDemoEthernetIPv6(t *testing.T) {
	probe, err := net.Listen("tcp", "[::1]:0")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("CI must run this test: no IPv6 loopback:", err)
		}
		t.Skip("no IPv6 loopback:", err)
	}
	addr6 := probe.Addr().String()
	probe.Close()
	bin := buildBinary(t)
	dir := t.TempDir()
	startDemo(t, bin, dir, "--framing", "eth", "--ipv6", "--https6", addr6)
	pemBytes, err := os.ReadFile(filepath.Join(dir, "netcard-cert.pem"))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pemBytes)
	client := &http.Client{Timeout: 60 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: "netcard.local"}}}
	var resp *http.Response
	deadline := time.Now().Add(30 * time.Second)
	for {
		// The forwarder listens once the card's link-local address passed
		// DAD, after the ready line.
		if resp, err = client.Get("https://" + addr6 + "/status"); err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond) // waiting on another process's listener
	}
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), "Ethernet") {
		t.Fatalf("GET /status over IPv6 = %d:\n%.400s", resp.StatusCode, body)
	}
}
