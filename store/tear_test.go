package store

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"math/big"
	"testing"
	"time"
)

var errTorn = errors.New("power cut")

// tearMedium persists only the first budget bytes written; the write that
// crosses the budget is cut at that byte, and every later write or sync fails.
type tearMedium struct {
	m       *MemMedium
	budget  int
	written int
	torn    bool
	garbage bool   // the cut write leaves garbage in the rest of its range
	onSync  func() // called after every successful sync (recording)
}

func (t *tearMedium) ReadAt(p []byte, off int64) (int, error) { return t.m.ReadAt(p, off) }
func (t *tearMedium) Size() (int64, error)                    { return t.m.Size() }
func (t *tearMedium) WriteAt(p []byte, off int64) (int, error) {
	if t.torn {
		return 0, errTorn
	}
	if left := t.budget - t.written; len(p) > left {
		t.m.WriteAt(p[:left], off)
		if t.garbage {
			g := make([]byte, len(p)-left)
			for i := range g {
				g[i] = byte(0xA5 ^ i*31 ^ int(off))
			}
			t.m.WriteAt(g, off+int64(left))
		}
		t.written, t.torn = t.budget, true
		return left, errTorn
	}
	t.written += len(p)
	return t.m.WriteAt(p, off)
}
func (t *tearMedium) Sync() error {
	if t.torn {
		return errTorn
	}
	if t.onSync != nil {
		t.onSync()
	}
	return nil
}

// snapshot is the canonical content of an image: both areas' states.
func snapshot(t testing.TB, img []byte) string {
	t.Helper()
	s, err := OpenMedium(&MemMedium{B: append([]byte(nil), img...)})
	if err != nil {
		t.Fatalf("reopen after tear: %v", err)
	}
	return string(s.ss.encode()) + "|" + string(s.ds.encode())
}

type txn struct {
	name string
	op   func(s *Store) error
	// check is called with the op's error and the reopened store after a tear.
	check func(t *testing.T, err error, before, after *Store)
}

func TestTearEveryByte(t *testing.T) {
	const size = 8192
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), seeded(60))
	caT := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "CA"}, NotBefore: t0,
		NotAfter: t0.Add(time.Hour), IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, _ := x509.CreateCertificate(seeded(61), caT, caT, &caKey.PublicKey, caKey)
	base := NewMemMedium(size)
	bs, err := CreateMedium(base, size, seeded(1))
	if err != nil {
		t.Fatal(err)
	}
	personalise(t, bs)
	bs.VerifyPIN([]byte("0000")) // 2 tries left: success must visibly reset
	// An issuer-signed certificate for the card's key, to import.
	csrDER, err := bs.CSR("card", nil, nil, seeded(62))
	if err != nil {
		t.Fatal(err)
	}
	csr, _ := x509.ParseCertificateRequest(csrDER)
	ca, _ := x509.ParseCertificate(caDER)
	leafT := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: csr.Subject, NotBefore: t0, NotAfter: t0.Add(time.Hour)}
	leafDER, err := x509.CreateCertificate(seeded(63), leafT, ca, csr.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	// A comparison result may only be revealed once the decrement is durable.
	pinCheck := func(t *testing.T, err error, before, after *Store) {
		if errors.Is(err, ErrWrongPIN) && after.PINTriesLeft() != before.PINTriesLeft()-1 {
			t.Fatalf("wrong PIN reported but counter %d (was %d)", after.PINTriesLeft(), before.PINTriesLeft())
		}
	}
	// With the clock: a wrong attempt's "not before" time is durable
	// before its result is known (no backoff is ever skipped).
	clock := func() time.Time { return t0.Add(time.Hour) }
	timed := func(op func(s *Store) error) func(s *Store) error {
		return func(s *Store) error { s.SetClock(clock); return op(s) }
	}
	pinTimed := func(t *testing.T, err error, before, after *Store) {
		pinCheck(t, err, before, after)
		var pe *PINError
		if errors.As(err, &pe) && after.ss.pinWait != clock().Add(PINDelay(PINTries-after.PINTriesLeft())).UnixMilli() {
			t.Fatalf("wrong PIN reported but the backoff is %d", after.ss.pinWait)
		}
	}
	pukCheck := func(t *testing.T, err error, before, after *Store) {
		if errors.Is(err, ErrWrongPIN) && (after.PUKFailures() != before.PUKFailures()+1 ||
			after.ss.pukWait != clock().Add(PUKDelay(after.PUKFailures())).UnixMilli()) {
			t.Fatalf("wrong PUK reported but failures %d (was %d), backoff %d", after.PUKFailures(), before.PUKFailures(), after.ss.pukWait)
		}
		if after.PUKFailures() < before.PUKFailures() && after.PINTriesLeft() == 0 {
			t.Fatal("a PUK failure regained without the PIN being reset")
		}
	}
	txns := []txn{
		{"pin-wrong", func(s *Store) error { return s.VerifyPIN([]byte("9999")) }, pinCheck},
		{"pin-right", func(s *Store) error { return s.VerifyPIN([]byte("4711")) }, pinCheck},
		{"pin-wrong-timed", timed(func(s *Store) error { return s.VerifyPIN([]byte("9999")) }), pinTimed},
		{"pin-right-timed", timed(func(s *Store) error { return s.VerifyPIN([]byte("4711")) }), pinTimed},
		{"pin-change", func(s *Store) error { return s.ChangePIN([]byte("4711"), []byte("4371")) }, pinCheck},
		{"puk-change", timed(func(s *Store) error { return s.ChangePUK([]byte("31415926"), []byte("27182818")) }), pukCheck},
		{"puk-change-wrong", timed(func(s *Store) error { return s.ChangePUK([]byte("00000000"), []byte("27182818")) }), pukCheck},
		{"put-new", func(s *Store) error { return s.PutFile("/new.css", "text/css", bytes.Repeat([]byte("b{}"), 50)) }, nil},
		{"put-replace", func(s *Store) error { return s.PutFile("/index.html", "text/html", []byte("<h1>v2</h1>")) }, nil},
		{"delete", func(s *Store) error { return s.DeleteFile("/a.txt") }, nil},
		{"keygen", func(s *Store) error { return s.GenerateKey(seeded(99)) }, nil},
		// RSA-2048: the key is drawn once (drawing it per tear point would take minutes); the
		// transaction that stores it (1.2 KB of PKCS #1) is torn at every byte.
		{"keygen-rsa", func(s *Store) error { return s.setRSAKey(testRSAKey(t)) }, nil},
		{"selfsign", func(s *Store) error {
			_, err := s.SelfSign("c2", nil, []string{"c2"}, t0, t0.Add(time.Hour), seeded(98))
			return err
		}, nil},
		{"import-cert", func(s *Store) error { return s.ImportCertificate(leafDER, [][]byte{caDER}) }, nil},
		{"Zq3-vT8pL0xW_m4RkY7nB2cH", func(s *Store) error { return s.SetAdminSecret([]byte("N3w-Adm1n_s3cr3t-9xQ7rTzL")) }, nil},
		{"anchors", func(s *Store) error { return s.SetAnchors([][]byte{caDER}) }, nil},
		{"config", func(s *Store) error { return s.SetConfig("name", "renamed") }, nil},
		{"batch", func(s *Store) error {
			return s.Update("upload", func(b *Batch) error {
				b.PutFile("/index.html", "text/html", []byte("<h1>v3</h1>"))
				b.DeleteFile("/a.txt")
				b.SetConfig("version", "3")
				return nil
			})
		}, nil},
	}
	// A second base where the other slot of each area is current: every
	// transaction is torn writing into each slot. Its tears also leave
	// garbage after the cut.
	base2 := &MemMedium{B: append([]byte(nil), base.B...)}
	bs2, _ := OpenMedium(base2)
	bs2.SetConfig("flip", "1")
	bs2.VerifyPIN([]byte("0000"))
	// Bases with the PIN blocked (and one wrong PUK behind), for unblocking.
	blocked := func(b *MemMedium) *MemMedium {
		m := &MemMedium{B: append([]byte(nil), b.B...)}
		s, _ := OpenMedium(m)
		for s.PINTriesLeft() > 0 {
			s.VerifyPIN([]byte("0000"))
		}
		s.UnblockPIN([]byte("00000000"), []byte("4371"))
		return m
	}
	bl, bl2 := blocked(base), blocked(base2)
	for _, tx := range []txn{
		{"puk-unblock", func(s *Store) error { return s.UnblockPIN([]byte("31415926"), []byte("4371")) }, pukCheck},
		{"puk-unblock-timed", timed(func(s *Store) error { return s.UnblockPIN([]byte("31415926"), []byte("4371")) }), pukCheck},
		{"puk-wrong-timed", timed(func(s *Store) error { return s.UnblockPIN([]byte("00000000"), []byte("4371")) }), pukCheck},
	} {
		for bi, base := range []*MemMedium{bl, bl2} {
			t.Run(fmt.Sprintf("%s/base%d", tx.name, bi), func(t *testing.T) {
				tearAll(t, base, tx, bi == 1)
			})
		}
	}
	for _, tx := range txns {
		for bi, base := range []*MemMedium{base, base2} {
			t.Run(fmt.Sprintf("%s/base%d", tx.name, bi), func(t *testing.T) {
				tearAll(t, base, tx, bi == 1)
			})
		}
	}
}

// tearAll runs tx on base torn at every byte it writes and checks that each
// reopened image holds a state the untorn transaction passed through.
func tearAll(t *testing.T, base *MemMedium, tx txn, garbage bool) {
	// Record every durable state the untorn operation passes through.
	img := append([]byte(nil), base.B...)
	rec := &tearMedium{m: &MemMedium{B: img}, budget: 1 << 30}
	allowed := map[string]bool{snapshot(t, img): true}
	rec.onSync = func() { allowed[snapshot(t, img)] = true }
	s, err := OpenMedium(rec)
	if err != nil {
		t.Fatal(err)
	}
	if err := tx.op(s); err != nil && !errors.Is(err, ErrWrongPIN) {
		t.Fatal(err)
	}
	total := rec.written
	final := snapshot(t, img)
	if len(allowed) < 2 {
		t.Fatal("operation changed nothing")
	}
	before, _ := OpenMedium(&MemMedium{B: append([]byte(nil), base.B...)})
	newCount, step := 0, 1
	if testing.Short() {
		step = 13 // -short samples the tear points
	}
	for n := 0; n < total; n += step {
		img := append([]byte(nil), base.B...)
		tm := &tearMedium{m: &MemMedium{B: img}, budget: n, garbage: garbage}
		s, err := OpenMedium(tm)
		if err != nil {
			t.Fatal(err)
		}
		opErr := tx.op(s)
		if opErr == nil {
			t.Fatalf("tear at %d/%d: no error", n, total)
		}
		if err := s.PutFile("/after", "x", nil); !errors.Is(err, ErrBroken) && !errors.Is(err, errTorn) {
			t.Fatalf("store usable after a failed write: %v", err)
		}
		got := snapshot(t, img)
		if !allowed[got] {
			t.Fatalf("tear at byte %d of %d (garbage %v): state is neither old nor new", n, total, garbage)
		}
		if got == final {
			newCount++
		}
		after, _ := OpenMedium(&MemMedium{B: img})
		if tx.check != nil {
			tx.check(t, opErr, before, after)
		}
		// The recovered image takes further transactions.
		if err := after.SetConfig("recovered", "yes"); err != nil {
			t.Fatal(err)
		}
		if _, err := OpenMedium(&MemMedium{B: img}); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("%d tear points, %d states, %d tears landed on the final state", total, len(allowed), newCount)
}

// Tearing during Create never yields an image that opens.
func TestTearCreate(t *testing.T) {
	const size = 4096
	rec := &tearMedium{m: NewMemMedium(size), budget: 1 << 30}
	CreateMedium(rec, size, seeded(1))
	for n := 0; n < rec.written; n += 7 {
		tm := &tearMedium{m: NewMemMedium(size), budget: n}
		if _, err := CreateMedium(tm, size, seeded(1)); err == nil {
			t.Fatal("torn create succeeded")
		}
		if _, err := OpenMedium(tm.m); err == nil {
			t.Fatalf("torn create at %d opens", n)
		}
	}
}
