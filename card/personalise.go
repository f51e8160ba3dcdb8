package card

import (
	"encoding/base64"
	"errors"
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
	// PIN and PUK are the cardholder's secrets (empty: the vault stays
	// closed until they are set); AdminSecret the administrator's bearer
	// token (empty: none). There are no defaults: GenerateCredentials
	// makes them, and whoever issues the card shows them once.
	PIN, PUK    string
	AdminSecret string
	Validity    time.Duration // self-signed certificate lifetime
	// Key is the identity key type generated on the card (zero: ECDSA P-256).
	// An RSA-2048 identity needs an image of at least 8 KiB.
	Key store.KeyType
}

// DefaultPersonalisation names the card for the embedded demo and the usual
// PPP addressing: it is reachable as localhost, 127.0.0.1 (through the
// demo's forwarder) and the addresses slirp and pppd give it. It holds no
// PIN, PUK or admin secret: see GenerateCredentials.
func DefaultPersonalisation() Personalisation {
	return Personalisation{
		CN:       "netcard",
		IPs:      []net.IP{net.IPv4(127, 0, 0, 1), net.IPv4(10, 0, 2, 15), net.IPv4(10, 64, 0, 2)},
		DNSNames: []string{"localhost", "netcard.local"},
		Validity: 5 * 365 * 24 * time.Hour,
	}
}

// Generated credential lengths: a 6-digit PIN (10^6, 3 tries), a 10-digit
// PUK (10^10 against the backoff's one guess a day after the first 11,
// store.PUKDelay) and a 192-bit admin secret (32 base64url characters).
const (
	GenPINDigits = 6
	GenPUKDigits = 10
	genAdminLen  = 24 // random bytes
)

// GenerateCredentials draws a PIN, a PUK and an admin secret from the
// card's random source, as an issuer prints a PIN letter: decimal digits
// drawn without bias, never a weak PIN (store.WeakPIN).
func GenerateCredentials(rand io.Reader) (pin, puk, admin string, err error) {
	if pin, err = digits(rand, GenPINDigits); err != nil {
		return
	}
	if puk, err = digits(rand, GenPUKDigits); err != nil {
		return
	}
	// Redrawn in the (astronomically rare) case the entropy estimate
	// refuses a random secret, so that issuing never fails on it.
	for i := 0; admin == "" || store.SecretBits([]byte(admin)) < store.MinAdminSecretBits; i++ {
		if i == 8 {
			return "", "", "", errors.New("card: the random source gives no usable admin secret")
		}
		var b [genAdminLen]byte
		if _, err = io.ReadFull(rand, b[:]); err != nil {
			return
		}
		admin = base64.RawURLEncoding.EncodeToString(b[:])
	}
	return
}

// digits returns n random decimal digits, not a weak PIN.
func digits(rand io.Reader, n int) (string, error) {
	// A working source needs about n·1.03 bytes per draw and rarely a
	// second draw; a broken one (constant, or only bytes ≥ 250) ends with an
	// error after readBudget bytes instead of looping for ever.
	const readBudget = 1024
	reads := 0
	for {
		out := make([]byte, 0, n)
		var b [1]byte
		for len(out) < n {
			if reads++; reads > readBudget {
				return "", errors.New("card: the random source gives no usable digits")
			}
			if _, err := io.ReadFull(rand, b[:]); err != nil {
				return "", fmt.Errorf("card: reading randomness: %w", err)
			}
			if b[0] < 250 { // 250 = 25 × 10: no modulo bias
				out = append(out, '0'+b[0]%10)
			}
		}
		if !store.WeakPIN(out) {
			return string(out), nil
		}
	}
}

// ErrNoCredentials is returned by Issue for a personalisation without a
// PIN and PUK when no random source is given.
var ErrNoCredentials = errors.New("card: no PIN and PUK to issue")

// Issue fills in the credentials p lacks (PIN and PUK together, admin
// secret) from rand and personalises st with them (Personalise). The
// caller shows the returned personalisation's secrets to the owner once:
// the store keeps only salted hashes.
func Issue(st *store.Store, p Personalisation, rand io.Reader, now time.Time) (Personalisation, error) {
	pin, puk, admin, err := GenerateCredentials(rand)
	if err != nil {
		return p, err
	}
	if p.PIN == "" && p.PUK == "" {
		p.PIN, p.PUK = pin, puk
	}
	if p.AdminSecret == "" {
		p.AdminSecret = admin
	}
	return p, Personalise(st, p, rand, now)
}

// Personalise generates the card's key inside the store, self-signs its
// certificate and sets the PIN and PUK and the admin secret when given
// and not yet set: each step one store transaction.
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
	if !st.PINSet() && (p.PIN != "" || p.PUK != "") {
		if err := st.InitPIN([]byte(p.PIN), []byte(p.PUK)); err != nil {
			return fmt.Errorf("PIN: %w", err)
		}
	}
	if !st.HasAdminSecret() && p.AdminSecret != "" {
		if err := st.SetAdminSecret([]byte(p.AdminSecret)); err != nil {
			return fmt.Errorf("admin secret: %w", err)
		}
	}
	return nil
}
