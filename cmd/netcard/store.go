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
// (key generated on the card, self-signed certificate) when it does not exist.
func openOrCreate(path string, size int, p card.Personalisation) (*store.Store, bool, error) {
	st, err := store.Open(path)
	if err == nil {
		return st, false, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, false, fmt.Errorf("open card image %s: %w", path, err)
	}
	st, err = store.Create(path, size, rand.Reader)
	if err != nil {
		return nil, false, err
	}
	if err := card.Personalise(st, p, rand.Reader, time.Now()); err != nil {
		st.Close()
		return nil, false, err
	}
	return st, true, nil
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
	pin := fs.String("pin", def.PIN, "cardholder PIN")
	puk := fs.String("puk", def.PUK, "PIN unblocking key")
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
	if len(*pin) < 4 || len(*puk) < 8 {
		return usageError{errors.New("the PIN needs at least 4 characters and the PUK at least 8")}
	}
	kt, err := store.ParseKeyType(*keyType)
	if err != nil {
		return usageError{err}
	}
	p := card.Personalisation{CN: *cn, PIN: *pin, PUK: *puk, Validity: def.Validity, IPs: def.IPs, DNSNames: def.DNSNames, Key: kt}
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
	if *csr != "" || !*selfSigned {
		if err := st.GenerateKeyType(rand.Reader, kt); err != nil {
			return err
		}
		if err := st.InitPIN([]byte(p.PIN), []byte(p.PUK)); err != nil {
			return err
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
		return nil
	}
	if err := card.Personalise(st, p, rand.Reader, time.Now()); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "card image %s created; %s key generated on the card; self-signed certificate for %s\n", *path, kt, p.CN)
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
	fmt.Fprintf(stdout, "PIN        set=%v tries left %d, PUK tries left %d\n", st.PINSet(), st.PINTriesLeft(), st.PUKTriesLeft())
	fmt.Fprintf(stdout, "anchors    %d\n", len(st.Anchors()))
	fmt.Fprintf(stdout, "files      %d\n", len(st.Files()))
	for _, f := range st.Files() {
		fmt.Fprintf(stdout, "  %s\n", f)
	}
	return nil
}
