package main

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"netcard/store"
)

var (
	letterPIN   = regexp.MustCompile(`(?m)^  PIN +(\S+) `)
	letterPUK   = regexp.MustCompile(`(?m)^  PUK +(\S+) `)
	letterAdmin = regexp.MustCompile(`(?m)^  admin secret +(\S+) `)
)

// TestInitPINLetter: init without credential flags draws a 6-digit PIN, a
// 10-digit PUK and a 192-bit admin secret on the card and prints them
// once; the image holds exactly those; no two cards get the same; weak or
// half-given flags are refused (exit 2) and no default PIN exists.
func TestInitPINLetter(t *testing.T) {
	dir := t.TempDir()
	seen := map[string]bool{}
	for i := 0; i < 2; i++ {
		var out, errb bytes.Buffer
		img := filepath.Join(dir, "card"+itoa(i)+".img")
		if code := mainArgs([]string{"init", "--store", img}, &out, &errb); code != exitOK {
			t.Fatalf("init: exit %d: %s", code, errb.String())
		}
		pin, puk, admin := letterPIN.FindStringSubmatch(out.String()), letterPUK.FindStringSubmatch(out.String()), letterAdmin.FindStringSubmatch(out.String())
		if pin == nil || puk == nil || admin == nil || !regexp.MustCompile(`^\d{6}$`).MatchString(pin[1]) ||
			!regexp.MustCompile(`^\d{10}$`).MatchString(puk[1]) || len(admin[1]) != 32 {
			t.Fatalf("PIN letter:\n%s", out.String())
		}
		if seen[pin[1]+puk[1]] || seen[admin[1]] {
			t.Fatal("two cards got the same credentials")
		}
		seen[pin[1]+puk[1]], seen[admin[1]] = true, true
		st, err := store.Open(img)
		if err != nil {
			t.Fatal(err)
		}
		if !st.CheckAdminSecret([]byte(admin[1])) || st.VerifyPIN([]byte(pin[1])) != nil ||
			!errors.Is(st.VerifyPIN([]byte("1234")), store.ErrWrongPIN) {
			t.Fatal("the image does not hold the printed credentials (or takes 1234)")
		}
		// At the card: the PUK unblocks offline, with no backoff.
		st.VerifyPIN([]byte("0000"))
		st.Close()
		out.Reset()
		if code := mainArgs([]string{"unblock", "--store", img, "--puk", puk[1], "--pin", "2580"}, &out, &errb); code != exitFailure ||
			!strings.Contains(errb.String(), "not blocked") {
			t.Fatalf("unblock of a PIN that is not blocked: exit %d %s", code, errb.String())
		}
		st, _ = store.Open(img)
		st.VerifyPIN([]byte("0000"))
		st.Close()
		errb.Reset()
		if code := mainArgs([]string{"unblock", "--store", img, "--puk", puk[1], "--pin", "2580"}, &out, &errb); code != exitOK {
			t.Fatalf("unblock: exit %d %s", code, errb.String())
		}
		out.Reset()
		if code := mainArgs([]string{"admin-secret", "--store", img}, &out, &errb); code != exitOK || !regexp.MustCompile(`admin secret +\S{32}\n`).MatchString(out.String()) {
			t.Fatalf("admin-secret: exit %d %s", code, out.String())
		}
	}
	for _, args := range [][]string{
		{"--pin", "1234", "--puk", "31415926"},
		{"--pin", "4711", "--puk", "12345678"},
		{"--pin", "4711"},
		{"--pin", "47", "--puk", "31415926"},
		{"--admin-secret", "s3cret-admin"},
	} {
		var out, errb bytes.Buffer
		img := filepath.Join(dir, "bad.img")
		if code := mainArgs(append([]string{"init", "--store", img}, args...), &out, &errb); code != exitUsage {
			t.Errorf("init %v: exit %d, want %d", args, code, exitUsage)
		}
		if _, err := os.Stat(img); err == nil {
			t.Errorf("init %v created an image", args)
		}
	}
	var out, errb bytes.Buffer
	img := filepath.Join(dir, "given.img")
	if code := mainArgs([]string{"init", "--store", img, "--pin", "4711", "--puk", "31415926", "--no-admin-secret"}, &out, &errb); code != exitOK ||
		!strings.Contains(out.String(), "4711") || strings.Contains(out.String(), "admin secret") {
		t.Fatalf("init with given credentials: exit %d\n%s", code, out.String())
	}
}

func itoa(i int) string { return string(rune('0' + i)) }
