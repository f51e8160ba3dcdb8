package main

import (
	"crypto/rand"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"strings"
	"time"

	"netcard/card"
	"netcard/store"
)

// listFlag collects a repeatable string flag.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(s string) error { *l = append(*l, s); return nil }

// openOrCreate opens the card image at path, creating and personalising it
// (key generated on the card, self-signed certificate, PIN, PUK and admin
// secret drawn from the card's random source) when it does not exist. The
// returned personalisation holds the new credentials when created: the
// caller shows them once.
func openOrCreate(path string, size int, p card.Personalisation) (*store.Store, *card.Personalisation, error) {
	st, err := store.Open(path)
	if err == nil {
		return st, nil, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, nil, fmt.Errorf("open card image %s: %w", path, err)
	}
	st, err = store.Create(path, size, rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	issued, err := card.Issue(st, p, rand.Reader, time.Now())
	if err != nil {
		st.Close()
		return nil, nil, err
	}
	return st, &issued, nil
}

// pinLetter prints the owner's credentials, the one time they are shown
// (the image keeps only salted hashes), as a card issuer's PIN letter.
func pinLetter(w io.Writer, path string, p *card.Personalisation) {
	fmt.Fprintf(w, "PIN letter for %s (shown this once; the card keeps only hashes — write them down):\n", path)
	if p.PIN != "" {
		fmt.Fprintf(w, "  PIN           %s   (vault: HTTP Basic password, any user name; 3 tries)\n", p.PIN)
		fmt.Fprintf(w, "  PUK           %s   (POST /vault/unblock puk=…&pin=NEW when the PIN is blocked)\n", p.PUK)
	}
	if p.AdminSecret != "" {
		fmt.Fprintf(w, "  admin secret  %s   (Authorization: Bearer …, for /admin/ and the full /status)\n", p.AdminSecret)
	}
}

// reusedNote says where the credentials of an existing image came from.
func reusedNote(w io.Writer, path string) {
	fmt.Fprintf(w, "card image %s reused: its PIN, PUK and admin secret were shown when it was created (netcard status shows the counters)\n", path)
}

func certPEM(st *store.Store) []byte {
	var out []byte
	for _, der := range st.Certificate() {
		out = append(out, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})...)
	}
	return out
}

func runInit(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("init", stderr)
	path := fs.String("store", "netcard.img", "card image `file` to create")
	size := fs.Int("size", store.DefaultSize, "image size in bytes (the card's EEPROM)")
	def := card.DefaultPersonalisation()
	pin := fs.String("pin", "", "cardholder PIN (4-16 characters, not 0000 or 1234-like; default: 6 random digits)")
	puk := fs.String("puk", "", "PIN unblocking key (8-16 characters; default: 10 random digits)")
	admin := fs.String("admin-secret", "", "administrator bearer token (at least 128 bits, e.g. 22 random base64url characters; default: 192 random bits)")
	noAdmin := fs.Bool("no-admin-secret", false, "set no admin bearer token (administer with a client certificate)")
	cn := fs.String("cn", def.CN, "certificate common name")
	var ips, names listFlag
	fs.Var(&ips, "ip", "IP address for the certificate (repeatable; default 127.0.0.1, 10.0.2.15, 10.64.0.2)")
	fs.Var(&names, "dns", "DNS name for the certificate (repeatable; default localhost, netcard.local)")
	csr := fs.String("csr", "", "write a PKCS#10 certificate request to `file` (import the issued certificate with import-cert)")
	selfSigned := fs.Bool("self-signed", true, "issue a self-signed certificate (ignored with --csr)")
	force := fs.Bool("force", false, "overwrite an existing image")
	keyType := fs.String("key", "p256", "identity key generated on the card: p256 (ECDSA) or rsa2048")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if (*pin == "") != (*puk == "") {
		return usageError{errors.New("give both --pin and --puk, or neither (both are then generated)")}
	}
	kt, err := store.ParseKeyType(*keyType)
	if err != nil {
		return usageError{err}
	}
	if *pin != "" {
		if err := store.CheckPINFormat([]byte(*pin), []byte(*puk)); err != nil {
			return usageError{fmt.Errorf("--pin/--puk: %w", err)}
		}
	}
	if *admin != "" && store.SecretBits([]byte(*admin)) < store.MinAdminSecretBits {
		return usageError{fmt.Errorf("--admin-secret: %w", store.ErrWeakSecret)}
	}
	p := card.Personalisation{CN: *cn, PIN: *pin, PUK: *puk, AdminSecret: *admin, Validity: def.Validity, IPs: def.IPs, DNSNames: def.DNSNames, Key: kt}
	if len(ips) > 0 {
		p.IPs = nil
		for _, s := range ips {
			ip := net.ParseIP(s)
			if ip == nil {
				return usageError{fmt.Errorf("bad --ip %q", s)}
			}
			p.IPs = append(p.IPs, ip)
		}
	}
	if len(names) > 0 {
		p.DNSNames = names
	}
	if _, err := os.Stat(*path); err == nil && !*force {
		return fmt.Errorf("%s exists (use --force to overwrite)", *path)
	}
	os.Remove(*path)
	st, err := store.Create(*path, *size, rand.Reader)
	if err != nil {
		return err
	}
	defer st.Close()
	gpin, gpuk, gadmin, err := card.GenerateCredentials(rand.Reader)
	if err != nil {
		return err
	}
	if p.PIN == "" {
		p.PIN, p.PUK = gpin, gpuk
	}
	if p.AdminSecret == "" && !*noAdmin {
		p.AdminSecret = gadmin
	}
	if *noAdmin {
		p.AdminSecret = ""
	}
	if *csr != "" || !*selfSigned {
		if err := st.GenerateKeyType(rand.Reader, kt); err != nil {
			return err
		}
		if err := st.InitPIN([]byte(p.PIN), []byte(p.PUK)); err != nil {
			return err
		}
		if p.AdminSecret != "" {
			if err := st.SetAdminSecret([]byte(p.AdminSecret)); err != nil {
				return err
			}
		}
		if *csr != "" {
			der, err := st.CSR(p.CN, p.IPs, p.DNSNames, rand.Reader)
			if err != nil {
				return err
			}
			if err := os.WriteFile(*csr, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}), 0o644); err != nil {
				return err
			}
			fmt.Fprintf(stdout, "card image %s created; key generated on the card; CSR written to %s\n", *path, *csr)
		}
		pinLetter(stdout, *path, &p)
		return nil
	}
	if err := card.Personalise(st, p, rand.Reader, time.Now()); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "card image %s created; %s key generated on the card; self-signed certificate for %s\n", *path, kt, p.CN)
	pinLetter(stdout, *path, &p)
	return nil
}

func storeFlag(fs *flag.FlagSet) *string {
	return fs.String("store", "netcard.img", "card image `file`")
}

func runCert(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("cert", stderr)
	path := storeFlag(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	st, err := store.Open(*path)
	if err != nil {
		return err
	}
	defer st.Close()
	if len(st.Certificate()) == 0 {
		return errors.New("the card holds no certificate")
	}
	_, err = stdout.Write(certPEM(st))
	return err
}

func runImportCert(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("import-cert", stderr)
	path := storeFlag(fs)
	certFile := fs.String("cert", "", "PEM `file`: the certificate, then its issuer chain")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *certFile == "" {
		return usageError{errors.New("--cert is required")}
	}
	data, err := os.ReadFile(*certFile)
	if err != nil {
		return err
	}
	var ders [][]byte
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			break
		}
		if b.Type == "CERTIFICATE" {
			ders = append(ders, b.Bytes)
		}
	}
	if len(ders) == 0 {
		return errors.New("no PEM certificate in " + *certFile)
	}
	st, err := store.Open(*path)
	if err != nil {
		return err
	}
	defer st.Close()
	if err := st.ImportCertificate(ders[0], ders[1:]); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "certificate imported into %s (%d issuer certificates)\n", *path, len(ders)-1)
	return nil
}

func runStatus(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("status", stderr)
	path := storeFlag(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	st, err := store.Open(*path)
	if err != nil {
		return err
	}
	defer st.Close()
	fmt.Fprintf(stdout, "image      %s (%d bytes, %d used of %d)\n", *path, st.Size(), st.Used(), st.Capacity())
	fmt.Fprintf(stdout, "key        %v (%v)\n", st.HasKey(), st.KeyType())
	if chain := st.Certificate(); len(chain) > 0 {
		fmt.Fprintf(stdout, "certificate %d bytes, chain of %d\n", len(chain[0]), len(chain))
	} else {
		fmt.Fprintf(stdout, "certificate none\n")
	}
	fmt.Fprintf(stdout, "PIN        set=%v tries left %d, wrong PUKs in a row %d (the PUK never blocks; each wrong one doubles the wait, 1 min to 24 h)\n",
		st.PINSet(), st.PINTriesLeft(), st.PUKFailures())
	fmt.Fprintf(stdout, "admin      secret set=%v, certificate key set=%v\n", st.HasAdminSecret(), st.AdminKey() != nil)
	fmt.Fprintf(stdout, "anchors    %d\n", len(st.Anchors()))
	fmt.Fprintf(stdout, "files      %d\n", len(st.Files()))
	for _, f := range st.Files() {
		fmt.Fprintf(stdout, "  %s\n", f)
	}
	return nil
}

// runUnblock is the owner's recovery at the card itself: with the image
// offline (the card stopped), the PUK unblocks the PIN without the network
// backoff, which only slows remote guessing (whoever holds the image file
// holds the hashes anyway: see SECURITY.md). A wrong PUK still counts.
func runUnblock(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("unblock", stderr)
	path := storeFlag(fs)
	puk := fs.String("puk", "", "the PUK from the PIN letter (required)")
	pin := fs.String("pin", "", "the new PIN (4-16 characters; default: 6 random digits, shown once)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *puk == "" {
		return usageError{errors.New("--puk is required")}
	}
	newPIN := *pin
	if newPIN == "" {
		gpin, _, _, err := card.GenerateCredentials(rand.Reader)
		if err != nil {
			return err
		}
		newPIN = gpin
	}
	st, err := store.Open(*path)
	if err != nil {
		return err
	}
	defer st.Close()
	if err := st.UnblockPIN([]byte(*puk), []byte(newPIN)); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "PIN unblocked on %s\n", *path)
	if *pin == "" {
		fmt.Fprintf(stdout, "  new PIN       %s   (shown this once)\n", newPIN)
	}
	return nil
}

// runAdminSecret replaces the admin bearer token with a new random one
// (image offline), printed once: the owner's way back to /admin/ when the
// old one is lost or leaked.
func runAdminSecret(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("admin-secret", stderr)
	path := storeFlag(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	_, _, secret, err := card.GenerateCredentials(rand.Reader)
	if err != nil {
		return err
	}
	st, err := store.Open(*path)
	if err != nil {
		return err
	}
	defer st.Close()
	if err := st.SetAdminSecret([]byte(secret)); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "new admin secret for %s (shown this once; the old one no longer works):\n  admin secret  %s\n", *path, secret)
	return nil
}
