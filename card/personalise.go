package card

import (
	"fmt"
	"io"
	"net"
	"time"

	"netcard/store"
)

// Personalisation is what a card is issued with.
type Personalisation struct {
	CN       string   // certificate subject common name
	IPs      []net.IP // IP subject alternative names
	DNSNames []string // DNS subject alternative names
	PIN, PUK string
	Validity time.Duration // self-signed certificate lifetime
	// Key is the identity key type generated on the card (zero: ECDSA P-256).
	// An RSA-2048 identity needs an image of at least 8 KiB.
	Key store.KeyType
}

// DefaultPersonalisation names the card for the embedded demo and the usual
// PPP addressing: it is reachable as localhost, 127.0.0.1 (through the
// demo's forwarder) and the addresses slirp and pppd give it.
func DefaultPersonalisation() Personalisation {
	return Personalisation{
		CN:       "netcard",
		IPs:      []net.IP{net.IPv4(127, 0, 0, 1), net.IPv4(10, 0, 2, 15), net.IPv4(10, 64, 0, 2)},
		DNSNames: []string{"localhost", "netcard.local"},
		PIN:      "1234",
		PUK:      "12345678",
		Validity: 5 * 365 * 24 * time.Hour,
	}
}

// Personalise generates the card's key inside the store, self-signs its
// certificate and sets the PIN and PUK: each step one store transaction.
func Personalise(st *store.Store, p Personalisation, rand io.Reader, now time.Time) error {
	if !st.HasKey() {
		kt := p.Key
		if kt == store.KeyNone {
			kt = store.KeyECDSAP256
		}
		if err := st.GenerateKeyType(rand, kt); err != nil {
			return fmt.Errorf("generate key: %w", err)
		}
	}
	if len(st.Certificate()) == 0 {
		if _, err := st.SelfSign(p.CN, p.IPs, p.DNSNames, now.Add(-time.Hour), now.Add(p.Validity), rand); err != nil {
			return fmt.Errorf("self-sign: %w", err)
		}
	}
	if !st.PINSet() && p.PIN != "" {
		if err := st.InitPIN([]byte(p.PIN), []byte(p.PUK)); err != nil {
			return fmt.Errorf("PIN: %w", err)
		}
	}
	return nil
}
