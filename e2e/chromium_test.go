package e2e

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"image"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// chromium runs headless Chromium once with a fresh profile under home and
// returns its standard output. The browser and everything it spawned (its
// own process group) are killed when the deadline passes or it returns.
func chromium(t *testing.T, bin, home string, extra ...string) (stdout, stderr string, err error) {
	t.Helper()
	args := []string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--disable-dev-shm-usage", "--user-data-dir=" + filepath.Join(home, "profile")}
	args = append(args, extra...)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = append(os.Environ(), "HOME="+home)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err = cmd.Run()
	if cmd.Process != nil {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) // helpers left behind, if any
	}
	return o.String(), e.String(), err
}

var handshakesRE = regexp.MustCompile(`<td>TLS</td><td>handshakes</td><td>(\d+)</td>`)

// TestChromiumStatus: headless Chromium, trusting the card's certificate,
// loads the status page over HTTPS; the DOM shows the live counters and a
// screenshot shows the page rendered.
func TestChromiumStatus(t *testing.T) {
	bin := need(t, "chromium")
	ar := newAppRig(t, nil)
	addr := ar.forward(t, 443)
	ca := ar.certFile(t)
	url := "https://127.0.0.1:" + strconv.Itoa(port(t, addr)) + "/status"
	leaf, err := x509.ParseCertificate(ar.store.Certificate()[0])
	if err != nil {
		t.Fatal(err)
	}
	spki := sha256.Sum256(leaf.RawSubjectPublicKeyInfo)

	trusts := map[string]func(t *testing.T, home string) []string{
		// The card's certificate as a trust anchor in the profile's NSS database.
		"nssdb": func(t *testing.T, home string) []string {
			certutil := need(t, "certutil")
			db := "sql:" + filepath.Join(home, ".pki", "nssdb")
			if err := os.MkdirAll(filepath.Join(home, ".pki", "nssdb"), 0o700); err != nil {
				t.Fatal(err)
			}
			if out, err := runCmd(t, 30*time.Second, "", nil, certutil, "-d", db, "-N", "--empty-password"); err != nil {
				t.Fatalf("certutil -N: %v\n%s", err, out)
			}
			if out, err := runCmd(t, 30*time.Second, "", nil, certutil, "-d", db, "-A", "-t", "C,,", "-n", "netcard", "-i", ca); err != nil {
				t.Fatalf("certutil -A: %v\n%s", err, out)
			}
			return nil
		},
		// Trust exactly the card's public key.
		"spki": func(t *testing.T, home string) []string {
			return []string{"--ignore-certificate-errors-spki-list=" + base64.StdEncoding.EncodeToString(spki[:])}
		},
	}
	for _, name := range []string{"nssdb", "spki"} {
		t.Run(name, func(t *testing.T) {
			home := t.TempDir()
			flags := trusts[name](t, home)
			var before uint64
			ar.runner.Do(func(time.Time) {
				for _, c := range ar.card.Status(time.Now()).Counters {
					if c.Layer == "TLS" && c.Name == "handshakes" {
						before = c.Value
					}
				}
			})
			dom, stderr, err := chromium(t, bin, home, append(flags, "--dump-dom", url)...)
			if err != nil {
				t.Fatalf("chromium --dump-dom: %v\n%s", err, stderr)
			}
			m := handshakesRE.FindStringSubmatch(dom)
			if m == nil {
				t.Fatalf("no TLS handshakes counter in the DOM:\n%.3000s\nstderr:\n%.2000s", dom, stderr)
			}
			n, _ := strconv.ParseUint(m[1], 10, 64)
			if n <= before {
				t.Fatalf("the DOM shows %d TLS handshakes; the card had done %d before Chromium connected", n, before)
			}
			for _, want := range []string{"netcard status", "connections accepted", "segments in", "uptime"} {
				if !bytes.Contains([]byte(dom), []byte(want)) {
					t.Errorf("DOM lacks %q", want)
				}
			}

			shot := filepath.Join(home, "status.png")
			_, stderr, err = chromium(t, bin, home, append(flags, "--screenshot="+shot, "--window-size=1024,768", "--hide-scrollbars", url)...)
			if err != nil {
				t.Fatalf("chromium --screenshot: %v\n%s", err, stderr)
			}
			f, err := os.Open(shot)
			if err != nil {
				t.Fatalf("no screenshot: %v\n%s", err, stderr)
			}
			defer f.Close()
			img, err := png.Decode(f)
			if err != nil {
				t.Fatalf("screenshot does not decode as PNG: %v", err)
			}
			if b := img.Bounds(); b.Dx() != 1024 || b.Dy() != 768 {
				t.Errorf("screenshot is %dx%d, want 1024x768", b.Dx(), b.Dy())
			}
			ink, colours := inked(img)
			if ink < 0.005 || colours < 2 {
				t.Fatalf("screenshot looks blank: %.2f%% of pixels differ from the background, %d colours", ink*100, colours)
			}
			t.Logf("DOM shows %d TLS handshakes; screenshot %.1f%% inked, %d colours", n, ink*100, colours)
			if d := os.Getenv("NETCARD_SCREENSHOT_DIR"); d != "" {
				if b, err := os.ReadFile(shot); err == nil {
					_ = os.WriteFile(filepath.Join(d, "chromium-status-"+name+".png"), b, 0o644)
				}
			}
		})
	}
	// Without trust, the page must not load: verification is really on.
	t.Run("untrusted", func(t *testing.T) {
		dom, _, _ := chromium(t, bin, t.TempDir(), "--dump-dom", url)
		if bytes.Contains([]byte(dom), []byte("netcard status")) {
			t.Fatalf("Chromium loaded the status page without trusting the card's certificate")
		}
	})
}

// inked reports the fraction of pixels that differ from the top-left
// (background) pixel and the number of distinct colours.
func inked(img image.Image) (float64, int) {
	b := img.Bounds()
	bg := img.At(b.Min.X, b.Min.Y)
	br, bgG, bb, _ := bg.RGBA()
	diff, total := 0, 0
	colours := map[[3]uint32]bool{}
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bl, _ := img.At(x, y).RGBA()
			total++
			if r != br || g != bgG || bl != bb {
				diff++
			}
			if len(colours) < 1000 {
				colours[[3]uint32{r, g, bl}] = true
			}
		}
	}
	return float64(diff) / float64(total), len(colours)
}
