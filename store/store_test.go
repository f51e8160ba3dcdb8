package store

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"io"
	"math/big"
	mrand "math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"
)

func seeded(seed uint64) io.Reader {
	var s [32]byte
	s[0] = byte(seed)
	s[1] = byte(seed >> 8)
	return mrand.NewChaCha8(s)
}

var t0 = time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)

// personalise fills a store with every kind of object.
func personalise(t testing.TB, s *Store) {
	t.Helper()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	r := seeded(7)
	must(s.GenerateKey(r))
	_, err := s.SelfSign("card", []net.IP{net.IPv4(10, 0, 0, 2)}, []string{"card.local"}, t0, t0.Add(24*time.Hour), r)
	must(err)
	must(s.InitPIN([]byte("4711"), []byte("31415926")))
	must(s.PutFile("/index.html", "text/html", []byte("<h1>hello</h1>")))
	must(s.PutFile("/a.txt", "text/plain", bytes.Repeat([]byte("a"), 200)))
	must(s.SetConfig("name", "netcard"))
	must(s.SetAdminSecret([]byte("Zq3-vT8pL0xW_m4RkY7nB2cH")))
}

func TestCreateOpenRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "card.img")
	s, err := Create(path, 0, seeded(1))
	if err != nil {
		t.Fatal(err)
	}
	s.SetClock(func() time.Time { return t0 })
	personalise(t, s)
	pub, _ := s.PublicKey()
	chain := s.Certificate()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := Create(path, 0, seeded(1)); err == nil {
		t.Fatal("Create over an existing file succeeded")
	}
	fi, _ := os.Stat(path)
	if fi.Size() != DefaultSize {
		t.Fatalf("image size %d", fi.Size())
	}
	s, err = Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	pub2, err := s.PublicKey()
	if err != nil || !pub.Equal(pub2) {
		t.Fatal("key not persisted")
	}
	if !reflect.DeepEqual(chain, s.Certificate()) || len(chain) != 1 {
		t.Fatal("certificate not persisted")
	}
	f, ok := s.File("/index.html")
	if !ok || string(f.Data) != "<h1>hello</h1>" || f.ContentType != "text/html" || len(f.ETag) != 18 || f.ETag[0] != '"' {
		t.Fatalf("file: %+v", f)
	}
	if v, ok := s.Config("name"); !ok || v != "netcard" {
		t.Fatal("config not persisted")
	}
	if !s.CheckAdminSecret([]byte("Zq3-vT8pL0xW_m4RkY7nB2cH")) || s.CheckAdminSecret([]byte("Zq3-vT8pL0xW_m4RkY7nB2cX")) {
		t.Fatal("admin secret")
	}
	if err := s.VerifyPIN([]byte("4711")); err != nil {
		t.Fatal(err)
	}
	if in := s.Info(); !in.HasKey || !in.HasCert || !in.PINSet || in.Files != 2 || in.PINTriesLeft != 3 || in.Changes != 6 || in.Used > in.Capacity {
		t.Fatalf("%+v", in)
	}
	if s.Used() != len(s.ds.encode()) {
		t.Fatal("Used out of date")
	}
	if a := testing.AllocsPerRun(10, func() { s.Info() }); a != 0 {
		t.Fatalf("Info allocates %v", a)
	}
	if got := s.Files(); !reflect.DeepEqual(got, []string{"/a.txt", "/index.html"}) {
		t.Fatal(got)
	}
	log := s.Changes()
	if len(log) != 6 || log[0].Op != "key" || log[5].Subject != "secret" || !log[2].Time.Equal(t0) {
		t.Fatalf("log %+v", log)
	}
}

func TestOpenErrors(t *testing.T) {
	m := NewMemMedium(4096)
	s, err := CreateMedium(m, 4096, seeded(1))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.PutFile("/x", "text/plain", []byte("x")); err != nil {
		t.Fatal(err)
	}
	good := append([]byte(nil), m.B...)
	try := func(name string, img []byte, want error) {
		t.Helper()
		_, err := OpenMedium(&MemMedium{B: img})
		if !errors.Is(err, want) {
			t.Errorf("%s: got %v, want %v", name, err, want)
		}
	}
	mod := func(f func(b []byte) []byte) []byte { return f(append([]byte(nil), good...)) }
	try("empty", nil, ErrTruncated)
	try("short superblock", good[:40], ErrTruncated)
	try("truncated", good[:3000], ErrTruncated)
	try("magic", mod(func(b []byte) []byte { b[0] = 'X'; return b }), ErrNotImage)
	try("zeros", make([]byte, 4096), ErrNotImage)
	try("version", mod(func(b []byte) []byte { b[9] = 2; return b }), ErrVersion)
	try("header crc", mod(func(b []byte) []byte { b[13] ^= 1; return b }), ErrCorrupt)
	try("both secure slots", mod(func(b []byte) []byte { b[secOff+30] ^= 1; b[secOff+secSlotSize+30] ^= 1; return b }), ErrCorrupt)
	g := newGeometry(4096)
	try("both data slots", mod(func(b []byte) []byte {
		b[g.dataOff+slotHdrLen+2] ^= 1
		b[g.dataOff+g.dataSlot+slotHdrLen+2] ^= 1
		return b
	}), ErrCorrupt)
	// One damaged data slot falls back to the other: the previous state.
	s2, err := OpenMedium(&MemMedium{B: mod(func(b []byte) []byte {
		b[int(g.dataOff)+s.data.cur*int(g.dataSlot)+slotHdrLen+2] ^= 1
		return b
	})})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := s2.File("/x"); ok {
		t.Error("damaged current slot did not fall back to the previous state")
	}
	if _, err := Open(filepath.Join(t.TempDir(), "nope")); err == nil {
		t.Error("Open of a missing file succeeded")
	}
}

func TestPIN(t *testing.T) {
	s, err := CreateMedium(NewMemMedium(4096), 4096, seeded(1))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.VerifyPIN([]byte("4711")); err != ErrPINNotSet {
		t.Fatal(err)
	}
	if err := s.InitPIN([]byte("12"), []byte("31415926")); err != ErrBadPIN {
		t.Fatal(err)
	}
	if err := s.InitPIN([]byte("4711"), []byte("31415926")); err != nil {
		t.Fatal(err)
	}
	if err := s.InitPIN([]byte("4711"), []byte("31415926")); err != ErrPINSet {
		t.Fatal(err)
	}
	for i := 2; i >= 1; i-- {
		err := s.VerifyPIN([]byte("0000"))
		var pe *PINError
		if !errors.As(err, &pe) || pe.Remaining != i || !errors.Is(err, ErrWrongPIN) {
			t.Fatalf("try: %v", err)
		}
	}
	if err := s.VerifyPIN([]byte("4711")); err != nil || s.PINTriesLeft() != 3 {
		t.Fatal("success must reset", err)
	}
	if err := s.ChangePIN([]byte("4711"), []byte("5150")); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		s.VerifyPIN([]byte("4711"))
	}
	if err := s.VerifyPIN([]byte("5150")); err != ErrPINBlocked {
		t.Fatal("blocked PIN accepted:", err)
	}
	if err := s.UnblockPIN([]byte("00000000"), []byte("7350")); !errors.Is(err, ErrWrongPIN) || s.PUKFailures() != 1 {
		t.Fatal(err)
	}
	if err := s.UnblockPIN([]byte("31415926"), []byte("7350")); err != nil {
		t.Fatal(err)
	}
	if s.PINTriesLeft() != 3 || s.PUKFailures() != 0 || s.VerifyPIN([]byte("7350")) != nil {
		t.Fatal("unblock did not reset")
	}
	// Without a clock nothing is timed, and the PUK never blocks for good.
	s.VerifyPIN([]byte("0000"))
	s.VerifyPIN([]byte("0000"))
	s.VerifyPIN([]byte("0000"))
	for i := 0; i < 2*PUKTries; i++ {
		s.UnblockPIN([]byte("00000000"), []byte("7350"))
	}
	if err := s.UnblockPIN([]byte("31415926"), []byte("7350")); err != nil {
		t.Fatal("the right PUK after many wrong ones:", err)
	}
}

// The counter survives a restart: blocking across reopenings.
func TestPINPersistsAcrossReopen(t *testing.T) {
	m := NewMemMedium(4096)
	s, _ := CreateMedium(m, 4096, seeded(1))
	s.InitPIN([]byte("4711"), []byte("31415926"))
	for i := 0; i < 3; i++ {
		s.VerifyPIN([]byte("9999"))
		var err error
		if s, err = OpenMedium(m); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.VerifyPIN([]byte("4711")); err != ErrPINBlocked {
		t.Fatal(err)
	}
}

func TestKeysAndCertificates(t *testing.T) {
	s, _ := CreateMedium(NewMemMedium(8192), 8192, seeded(1))
	if _, err := s.Signer(); err != ErrNoKey {
		t.Fatal(err)
	}
	s.GenerateKey(seeded(3))
	pubA, _ := s.PublicKey()
	s2, _ := CreateMedium(NewMemMedium(8192), 8192, seeded(1))
	s2.GenerateKey(seeded(3))
	pubB, _ := s2.PublicKey()
	if !pubA.Equal(pubB) {
		t.Fatal("key generation not deterministic in the injected reader")
	}
	sg, _ := s.Signer()
	d := sha256.Sum256([]byte("msg"))
	sig, err := sg.Sign(seeded(4), d[:], crypto.SHA256)
	if err != nil || !ecdsa.VerifyASN1(sg.Public().(*ecdsa.PublicKey), d[:], sig) {
		t.Fatal("signature does not verify", err)
	}
	// CSR, signed by a test CA, imported with its chain.
	csrDER, err := s.CSR("card.example", nil, []string{"card.example"}, seeded(5))
	if err != nil {
		t.Fatal(err)
	}
	csr, err := x509.ParseCertificateRequest(csrDER)
	if err != nil || csr.CheckSignature() != nil || csr.Subject.CommonName != "card.example" {
		t.Fatal("bad CSR", err)
	}
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), seeded(6))
	caT := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "CA"}, NotBefore: t0, NotAfter: t0.Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, _ := x509.CreateCertificate(seeded(6), caT, caT, &caKey.PublicKey, caKey)
	ca, _ := x509.ParseCertificate(caDER)
	leafT := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: csr.Subject, DNSNames: csr.DNSNames, NotBefore: t0, NotAfter: t0.Add(time.Hour)}
	leafDER, err := x509.CreateCertificate(seeded(6), leafT, ca, csr.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.ImportCertificate(caDER, nil); err != ErrKeyMismatch {
		t.Fatal("imported a certificate for another key:", err)
	}
	if err := s.ImportCertificate([]byte("junk"), nil); err == nil {
		t.Fatal("imported junk")
	}
	if err := s.ImportCertificate(leafDER, [][]byte{caDER}); err != nil {
		t.Fatal(err)
	}
	if c := s.Certificate(); len(c) != 2 || !bytes.Equal(c[0], leafDER) {
		t.Fatal("chain")
	}
	if err := s.SetAnchors([][]byte{caDER}); err != nil || len(s.Anchors()) != 1 {
		t.Fatal(err)
	}
	// Self-signed certificate verifies against itself.
	der, err := s.SelfSign("card", []net.IP{net.IPv4(10, 0, 0, 2)}, nil, t0, t0.Add(time.Hour), seeded(8))
	if err != nil {
		t.Fatal(err)
	}
	der2, _ := s.SelfSign("card", []net.IP{net.IPv4(10, 0, 0, 2)}, nil, t0, t0.Add(time.Hour), seeded(8))
	if !bytes.Equal(der, der2) {
		t.Fatal("SelfSign is not a function of the key and the injected randomness")
	}
	c, _ := x509.ParseCertificate(der)
	if err := c.CheckSignatureFrom(c); err != nil || !c.PublicKey.(*ecdsa.PublicKey).Equal(pubA) {
		t.Fatal("self-signed", err)
	}
	// Admin key.
	spki, _ := x509.MarshalPKIXPublicKey(&caKey.PublicKey)
	if err := s.SetAdminKey(spki); err != nil || !bytes.Equal(s.AdminKey(), spki) {
		t.Fatal(err)
	}
	if s.SetAdminKey([]byte{1, 2}) == nil {
		t.Fatal("junk admin key accepted")
	}
}

// No exported method returns the private key: no result type can hold an
// *ecdsa.PrivateKey, and no byte-returning method returns the scalar.
func TestNoKeyExport(t *testing.T) {
	s, _ := CreateMedium(NewMemMedium(8192), 8192, seeded(1))
	personalise(t, s)
	noKeyExport(t, s, [][]byte{s.ds.key})
}

// noKeyExport calls every argument-less method of s and checks that no result type can hold a
// private key and no returned bytes or string contain one of the secrets.
func noKeyExport(t *testing.T, s *Store, secrets [][]byte) {
	bad := []reflect.Type{reflect.TypeOf(&ecdsa.PrivateKey{}), reflect.TypeOf(ecdsa.PrivateKey{}),
		reflect.TypeOf(&rsa.PrivateKey{}), reflect.TypeOf(rsa.PrivateKey{}), reflect.TypeOf((*crypto.PrivateKey)(nil)).Elem()}
	contains := func(b []byte) bool {
		for _, sec := range secrets {
			if bytes.Contains(b, sec) {
				return true
			}
		}
		return false
	}
	v := reflect.ValueOf(s)
	for i := 0; i < v.NumMethod(); i++ {
		m := v.Type().Method(i)
		for j := 0; j < m.Type.NumOut(); j++ {
			for _, b := range bad {
				if m.Type.Out(j) == b {
					t.Errorf("%s returns %v", m.Name, b)
				}
			}
		}
		if m.Type.NumIn() != 1 { // receiver only
			continue
		}
		for _, out := range v.Method(i).Call(nil) {
			var check func(reflect.Value)
			check = func(o reflect.Value) {
				switch o.Kind() {
				case reflect.Slice:
					if o.Type().Elem().Kind() == reflect.Uint8 {
						if contains(o.Bytes()) {
							t.Errorf("%s returns the private key", m.Name)
						}
						return
					}
					for k := 0; k < o.Len(); k++ {
						check(o.Index(k))
					}
				case reflect.String:
					if contains([]byte(o.String())) {
						t.Errorf("%s returns the private key", m.Name)
					}
				case reflect.Interface, reflect.Pointer:
					if !o.IsNil() {
						for _, b := range bad {
							if o.Type() == b || (o.Kind() == reflect.Interface && o.Elem().Type() == b) {
								t.Errorf("%s returns a %v", m.Name, b)
							}
						}
					}
				}
			}
			check(out)
		}
	}
	sg, _ := s.Signer()
	switch sg.(type) {
	case *ecdsa.PrivateKey, *rsa.PrivateKey:
		t.Error("Signer is the private key")
	}
}

func TestChangeLogBoundedAndFull(t *testing.T) {
	s, _ := CreateMedium(NewMemMedium(4096), 4096, seeded(1))
	for i := 0; i < 40; i++ {
		if err := s.SetConfig("k", string(rune('a'+i%26))); err != nil {
			t.Fatal(err)
		}
	}
	log := s.Changes()
	if len(log) != MaxChanges || log[len(log)-1].Seq != 40 || log[0].Seq != 40-MaxChanges+1 {
		t.Fatalf("log %+v", log)
	}
	before := s.Seq()
	if err := s.PutFile("/big", "x", make([]byte, 4096)); !errors.Is(err, ErrFull) {
		t.Fatal(err)
	}
	if s.Seq() != before || s.Used() > s.Capacity() {
		t.Fatal("failed update changed state")
	}
	if err := s.DeleteFile("/none"); err != ErrNotFound {
		t.Fatal(err)
	}
}

func TestBatch(t *testing.T) {
	s, _ := CreateMedium(NewMemMedium(4096), 4096, seeded(1))
	s.PutFile("/old", "text/plain", []byte("x"))
	seq := s.Seq()
	err := s.Update("deploy", func(b *Batch) error {
		b.PutFile("/a", "text/plain", []byte("a"))
		b.DeleteFile("/old")
		b.SetConfig("v", "2")
		return nil
	})
	if err != nil || s.Seq() != seq+1 {
		t.Fatal(err)
	}
	if _, ok := s.File("/old"); ok {
		t.Fatal("delete lost")
	}
	if v, _ := s.Config("v"); v != "2" {
		t.Fatal("config lost")
	}
	if l := s.Changes(); l[len(l)-1].Op != "batch" || l[len(l)-1].Subject != "deploy" {
		t.Fatal(l)
	}
	// A failing batch changes nothing.
	err = s.Update("x", func(b *Batch) error {
		b.PutFile("/b", "", nil)
		return errors.New("abort")
	})
	if _, ok := s.File("/b"); err == nil || ok || s.Seq() != seq+1 {
		t.Fatal("aborted batch applied")
	}
	if err := s.Update("x", func(b *Batch) error { b.PutFile("", "", nil); return nil }); err == nil {
		t.Fatal("bad path accepted")
	}
}
