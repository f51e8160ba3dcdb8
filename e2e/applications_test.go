package e2e

import (
	"crypto/sha256"
	"encoding/pem"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"netcard/apps"
	"netcard/examples/sign"
	"netcard/examples/totp"
	"netcard/store"
)

// TestExampleAppsOnCard runs the signing and TOTP examples on a whole card
// (PPP, gVisor, TLS 1.3 with Go's client): a signature openssl verifies
// with the card certificate's key, a wrong PIN counted, TOTP codes equal
// to oathtool's, and both listed by GET /admin/apps.
func TestExampleAppsOnCard(t *testing.T) {
	for _, tool := range []string{"openssl", "oathtool"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s not installed (see .ci/run)", tool)
		}
	}
	path := filepath.Join(t.TempDir(), "card.img")
	st, err := openOrCreate(path)
	if err != nil {
		t.Fatal(err)
	}
	ar := startCardApps(t, st, path, cardProfile(), 0, func(st *store.Store) error { return st.SetAdminSecret([]byte(adminSecret)) }, []apps.Registered{
		{App: sign.App{}, Manifest: sign.Manifest},
		{App: &totp.App{}, Manifest: totp.Manifest},
	})

	// Signing.
	data := []byte("a contract, signed by the card\n")
	d := sha256.Sum256(data)
	r := ar.do(t, "POST", "/sign", d[:], pinAuth(rightPIN))
	if r.status != 200 {
		t.Fatalf("POST /sign: %d %q", r.status, r.body)
	}
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "card.pem"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: st.Certificate()[0]}), 0o600)
	os.WriteFile(filepath.Join(dir, "data"), data, 0o600)
	os.WriteFile(filepath.Join(dir, "sig"), r.body, 0o600)
	if out, err := runCmd(t, 30*time.Second, dir, nil, "sh", "-c",
		"openssl x509 -in card.pem -pubkey -noout > pub.pem && openssl dgst -sha256 -verify pub.pem -signature sig data"); err != nil || !strings.Contains(out, "Verified OK") {
		t.Fatalf("openssl: %v %s", err, out)
	}
	var before, after int
	ar.withStore(func(s *store.Store) { before = s.PINTriesLeft() })
	if r := ar.do(t, "POST", "/sign", d[:], pinAuth("0000")); r.status != 401 || !strings.Contains(string(r.body), "tries left") {
		t.Fatalf("wrong PIN: %d %q", r.status, r.body)
	}
	ar.withStore(func(s *store.Store) { after = s.PINTriesLeft() })
	if after != before-1 {
		t.Fatalf("PIN tries %d → %d", before, after)
	}
	ar.advance(time.Hour) // past the backoff

	// TOTP.
	const seed = "3132333435363738393031323334353637383930"
	if r := ar.do(t, "PUT", "/totp/bank", []byte(seed), bearer(adminSecret)); r.status != 201 {
		t.Fatalf("enroll: %d %q", r.status, r.body)
	}
	if r := ar.do(t, "PUT", "/totp/bank", []byte(seed), pinAuth(rightPIN)); r.status != 401 && r.status != 403 {
		t.Fatalf("the PIN holder enrolled: %d", r.status)
	}
	code := func(at time.Time) string {
		out, err := exec.Command("oathtool", "--totp", "--now", at.UTC().Format("2006-01-02 15:04:05 UTC"), seed).Output()
		if err != nil {
			t.Fatal(err)
		}
		return string(out)
	}
	var t0, t1 time.Time
	ar.runner.Do(func(now time.Time) { t0 = now })
	r = ar.do(t, "GET", "/totp/bank", nil, pinAuth(rightPIN))
	ar.runner.Do(func(now time.Time) { t1 = now })
	if r.status != 200 || (string(r.body) != code(t0) && string(r.body) != code(t1)) {
		t.Fatalf("GET /totp/bank: %d %q, oathtool %q / %q", r.status, r.body, code(t0), code(t1))
	}

	// The admin sees both, with the seed's store use.
	r = ar.do(t, "GET", "/admin/apps", nil, bearer(adminSecret))
	if r.status != 200 || !strings.Contains(string(r.body), "sign\ttrue\t0\t") ||
		!strings.Contains(string(r.body), "totp\ttrue\t"+strconv.Itoa(len("bank")+len(seed)/2)+"\t") {
		t.Fatalf("GET /admin/apps: %d\n%s", r.status, r.body)
	}
}
