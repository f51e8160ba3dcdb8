package totp_test

import (
	"crypto/rand"
	"io"
	nethttp "net/http"
	"os/exec"
	"strings"
	"testing"
	"time"

	"netcard/applet"
	"netcard/applet/applettest"
	"netcard/examples/totp"
	"netcard/store"
)

const adminToken = "Zq3-vT8pL0xW_m4RkY7nB2cH"

func do(t *testing.T, method, url, user, pin, bearer, body string) (int, string) {
	t.Helper()
	req, _ := nethttp.NewRequest(method, url, strings.NewReader(body))
	if pin != "" {
		req.SetBasicAuth(user, pin)
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	res, err := nethttp.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

// TestTOTPOathtool: codes the card serves match oathtool's at several
// instants, for a seed the administrator enrolled; only the admin enrolls,
// only the PIN holder reads.
func TestTOTPOathtool(t *testing.T) {
	if _, err := exec.LookPath("oathtool"); err != nil {
		t.Fatal("oathtool not installed (Debian package oathtool, in .ci/run)")
	}
	st, err := store.CreateMedium(store.NewMemMedium(store.DefaultSize), store.DefaultSize, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	st.SetClock(func() time.Time { return now })
	st.InitPIN([]byte("4711"), []byte("31415926"))
	st.SetAdminSecret([]byte(adminToken))
	h := applet.NewHost(st, rand.Reader)
	if err := h.Add(&totp.App{}, totp.Manifest); err != nil {
		t.Fatal(err)
	}
	srv := applettest.Serve(t, h, func() time.Time { return now })
	const seed = "3132333435363738393031323334353637383930" // RFC 6238 Appendix B
	u := srv.URL + "/totp/bank"
	if c, m := do(t, "PUT", u, "", "4711", "", seed); c != 403 && c != 401 {
		t.Fatalf("the PIN holder enrolled: %d %s", c, m)
	}
	if c, m := do(t, "PUT", u, "", "", adminToken, seed); c != 201 {
		t.Fatalf("enroll: %d %s", c, m)
	}
	if c, m := do(t, "GET", u, "", "", adminToken, ""); c != 401 {
		t.Fatalf("the admin read a code without the PIN: %d %s", c, m)
	}
	for _, at := range []time.Time{now, time.Unix(59, 0).UTC(), time.Unix(1111111109, 0).UTC(), time.Unix(2000000000, 0).UTC()} {
		srv.Do(func() { now = at })
		c, got := do(t, "GET", u, "x", "4711", "", "")
		if c != 200 {
			t.Fatalf("%v: %d %s", at, c, got)
		}
		want, err := exec.Command("oathtool", "--totp", "--now", at.Format("2006-01-02 15:04:05 UTC"), seed).Output()
		if err != nil {
			t.Fatal(err)
		}
		if got != string(want) {
			t.Fatalf("%v: card %q, oathtool %q", at, got, want)
		}
	}
	if c, _ := do(t, "GET", srv.URL+"/totp/none", "x", "4711", "", ""); c != 404 {
		t.Fatalf("unknown seed: %d", c)
	}
}
