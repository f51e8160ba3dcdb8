package sign_test

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/pem"
	"io"
	"net"
	nethttp "net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"netcard/applet"
	"netcard/applet/applettest"
	"netcard/examples/sign"
	"netcard/store"
)

var now = time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)

func card(t *testing.T, kt store.KeyType) (*applettest.Server, *store.Store) {
	t.Helper()
	st, err := store.CreateMedium(store.NewMemMedium(store.DefaultSize), store.DefaultSize, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	st.SetClock(func() time.Time { return now })
	if err := st.GenerateKeyType(rand.Reader, kt); err != nil {
		t.Fatal(err)
	}
	if _, err := st.SelfSign("card.example", []net.IP{net.IPv4(127, 0, 0, 1)}, nil, now.Add(-time.Hour), now.Add(time.Hour), rand.Reader); err != nil {
		t.Fatal(err)
	}
	if err := st.InitPIN([]byte("4711"), []byte("31415926")); err != nil {
		t.Fatal(err)
	}
	h := applet.NewHost(st, rand.Reader)
	if err := h.Add(sign.App{}, sign.Manifest); err != nil {
		t.Fatal(err)
	}
	return applettest.Serve(t, h, func() time.Time { return now }), st
}

func post(t *testing.T, url, pin string, body []byte) (int, []byte) {
	t.Helper()
	req, _ := nethttp.NewRequest("POST", url+"/sign", bytes.NewReader(body))
	req.SetBasicAuth("me", pin)
	res, err := nethttp.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, b
}

// verify checks sig over data with openssl and the card certificate's key.
func verify(t *testing.T, st *store.Store, data, sig []byte, pss bool) {
	t.Helper()
	dir := t.TempDir()
	cert := filepath.Join(dir, "card.pem")
	os.WriteFile(cert, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: st.Certificate()[0]}), 0o600)
	pub, err := exec.Command("openssl", "x509", "-in", cert, "-pubkey", "-noout").Output()
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "pub.pem"), pub, 0o600)
	os.WriteFile(filepath.Join(dir, "data"), data, 0o600)
	os.WriteFile(filepath.Join(dir, "sig"), sig, 0o600)
	args := []string{"dgst", "-sha256", "-verify", "pub.pem", "-signature", "sig"}
	if pss {
		args = append(args, "-sigopt", "rsa_padding_mode:pss", "-sigopt", "rsa_pss_saltlen:-1")
	}
	cmd := exec.Command("openssl", append(args, "data")...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "Verified OK") {
		t.Fatalf("openssl: %v %s", err, out)
	}
}

// TestSignECDSAOpenSSL: a signature made over HTTP with the PIN verifies
// with openssl dgst and the card certificate's public key.
func TestSignECDSAOpenSSL(t *testing.T) {
	srv, st := card(t, store.KeyECDSAP256)
	data := []byte("a document to sign\n")
	d := sha256.Sum256(data)
	code, sig := post(t, srv.URL, "4711", []byte(hex.EncodeToString(d[:])))
	if code != 200 {
		t.Fatalf("%d %s", code, sig)
	}
	verify(t, st, data, sig, false)
	// 32 raw bytes work as well.
	if code, sig = post(t, srv.URL, "4711", d[:]); code != 200 {
		t.Fatalf("%d %s", code, sig)
	}
	verify(t, st, data, sig, false)
}

// TestSignRSAPSSOpenSSL: on an RSA card the signature is RSA-PSS.
func TestSignRSAPSSOpenSSL(t *testing.T) {
	srv, st := card(t, store.KeyRSA2048)
	data := []byte("an RSA-signed document\n")
	d := sha256.Sum256(data)
	code, sig := post(t, srv.URL, "4711", d[:])
	if code != 200 || len(sig) != 256 {
		t.Fatalf("%d %d bytes", code, len(sig))
	}
	verify(t, st, data, sig, true)
}

// TestSignWrongPIN: a wrong PIN is refused before the body is read, counts
// down the tries, and the right one afterwards is subject to the backoff.
func TestSignWrongPIN(t *testing.T) {
	srv, st := card(t, store.KeyECDSAP256)
	d := sha256.Sum256([]byte("x"))
	left := st.PINTriesLeft()
	code, msg := post(t, srv.URL, "0000", d[:])
	if code != 401 || !strings.Contains(string(msg), "wrong PIN: "+itoa(left-1)+" tries left") {
		t.Fatalf("%d %q", code, msg)
	}
	if st.PINTriesLeft() != left-1 {
		t.Fatalf("tries %d → %d", left, st.PINTriesLeft())
	}
	// The clock did not move: the backoff refuses even the right PIN, and
	// no try is used.
	if code, msg = post(t, srv.URL, "4711", d[:]); code != 429 {
		t.Fatalf("during the backoff: %d %q", code, msg)
	}
	// No PIN at all: 401 with a Basic challenge, nothing signed.
	res, err := nethttp.Post(srv.URL+"/sign", "application/octet-stream", bytes.NewReader(d[:]))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 401 || !strings.HasPrefix(res.Header.Get("WWW-Authenticate"), "Basic") {
		t.Fatalf("no PIN: %d", res.StatusCode)
	}
}

func itoa(n int) string { return string(rune('0' + n)) }
