// Package tls is a compact, I/O-free TLS 1.3 engine (RFC 8446) for the card, server and client.
//
// The Engine consumes records (Unwrap, decrypting in place), produces records (Output for the
// handshake flight, alerts and KeyUpdate; Wrap to seal application data in place) and exposes its
// state. It owns no goroutines and performs no I/O; randomness and time are injected through Config.
// Buffers are allocated once in NewServer/NewClient; the record path allocates nothing.
//
// TLS 1.3 is preferred; TLS 1.2 (RFC 5246) is supported with ECDHE_ECDSA / ECDHE_RSA and AEAD suites only,
// extended master secret (RFC 7627) required, renegotiation refused (RFC 5746) and the RFC 8446
// §4.1.3 downgrade sentinel set and checked. Config.MinVersion/MaxVersion choose the range.
//
// Record ordering rule: records must reach the wire in the order the engine produced them. Output
// holds records sealed when they were queued, so drain Output completely before sending records made
// by a later Wrap (Wrap refuses to seal while Output has pending bytes).
package tls

import (
	"crypto"
	"crypto/x509"
	"io"
	"time"
)

// Protocol version numbers.
const (
	VersionTLS12 uint16 = 0x0303
	VersionTLS13 uint16 = 0x0304
)

// Cipher suites (TLS 1.3).
const (
	TLS_AES_128_GCM_SHA256       uint16 = 0x1301
	TLS_AES_256_GCM_SHA384       uint16 = 0x1302
	TLS_CHACHA20_POLY1305_SHA256 uint16 = 0x1303
)

// Cipher suites (TLS 1.2): ECDHE_ECDSA and ECDHE_RSA with AEADs only (RFC 5289, RFC 7905). A
// server offers the family of its own key; a client offers both.
const (
	TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256       uint16 = 0xc02b
	TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384       uint16 = 0xc02c
	TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256 uint16 = 0xcca9
	TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256         uint16 = 0xc02f
	TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384         uint16 = 0xc030
	TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256   uint16 = 0xcca8
)

// CurveID is a TLS named group.
type CurveID uint16

// Named groups supported for key exchange.
const (
	X25519         CurveID = 0x001d
	P256           CurveID = 0x0017
	X25519MLKEM768 CurveID = 0x11ec
)

// SignatureScheme is a TLS 1.3 signature algorithm.
type SignatureScheme uint16

// Signature schemes. The engine signs with ECDSAWithP256AndSHA256, Ed25519 or (an RSA key of 2048 to
// 4096 bits) PSSWithSHA256/384/512, and in TLS 1.2 also PKCS1WithSHA256/384/512 when the peer offers
// no RSA-PSS. It verifies all of them and PSSPSSWithSHA256/384/512 (pss.go), except that the PKCS1
// schemes are offered and accepted in TLS 1.2 only (RFC 8446 §4.2.3: rsa_pkcs1_* are not defined for
// TLS 1.3 handshake signatures).
const (
	ECDSAWithP256AndSHA256 SignatureScheme = 0x0403
	ECDSAWithP384AndSHA384 SignatureScheme = 0x0503
	ECDSAWithP521AndSHA512 SignatureScheme = 0x0603
	Ed25519                SignatureScheme = 0x0807
	PSSWithSHA256          SignatureScheme = 0x0804
	PSSWithSHA384          SignatureScheme = 0x0805
	PSSWithSHA512          SignatureScheme = 0x0806
	PKCS1WithSHA256        SignatureScheme = 0x0401
	PKCS1WithSHA384        SignatureScheme = 0x0501
	PKCS1WithSHA512        SignatureScheme = 0x0601
)

// ClientAuthType says whether a server requests and verifies a client certificate.
type ClientAuthType uint8

// Client authentication policies (same meaning as in crypto/tls).
const (
	NoClientCert ClientAuthType = iota
	RequestClientCert
	RequireAnyClientCert
	VerifyClientCertIfGiven
	RequireAndVerifyClientCert
)

// Config configures an Engine. It is read during NewServer/NewClient and the handshake and must not
// be modified afterwards. One Config may be shared by many engines.
type Config struct {
	// Rand is the source of randomness (required): randoms, key shares, cookies.
	Rand io.Reader
	// Time returns the current time for certificate validity checks and session tickets. Set it on
	// the card: when nil, crypto/x509 falls back to the wall clock and tickets are disabled.
	Time func() time.Time

	// Certificate is the DER chain, leaf first, presented by a server (or by a client when the
	// server asks). Signer signs with the leaf's key (ECDSA P-256, Ed25519, or RSA of 2048 to 4096
	// bits); the engine never sees the private key itself.
	Certificate [][]byte
	Signer      crypto.Signer

	// Client holds what only the client role uses (required by NewClient, ignored by NewServer):
	// one pointer here, so a server's Config does not carry it.
	Client *ClientConfig

	// ALPN lists application protocols in preference order.
	ALPN []string

	// ClientCAs verifies the client chain (see ClientAuth).
	ClientCAs *x509.CertPool

	// CipherSuites lists the enabled suites in preference order, TLS 1.3 and TLS 1.2 suites mixed.
	// For each version, when the list holds none of its suites, all of them are enabled (AES-128-GCM
	// first). A TLS 1.2 server only selects suites of its key's family (ECDHE_RSA for an RSA key,
	// ECDHE_ECDSA otherwise).
	CipherSuites []uint16
	// Groups lists the enabled key-exchange groups in preference order (nil: X25519MLKEM768, X25519,
	// P256 for a server; X25519, P256, X25519MLKEM768 for a client). A client sends a key share for
	// the first group only; a server asks with HelloRetryRequest when no share matches.
	Groups []CurveID
	// test holds hooks that only this package's tests set (nil otherwise: 8 bytes in every Config,
	// not 40; see testHooks).
	test *testHooks

	// TicketKey enables session tickets in the server role when it is not all zero: after each full
	// handshake the server sends one NewSessionTicket (AES-256-GCM sealed with this key, stateless)
	// and accepts it later for a psk_dhe_ke resumption, which skips the certificate and the
	// signature. Needs Time. Held inline (no separate allocation); fill it from a random source (an
	// all-zero key, the zero value, means no tickets).
	TicketKey [32]byte
	// TicketLifetime is the ticket lifetime (default 24h, at most 7 days).
	TicketLifetime time.Duration

	// HandshakeBudget, when set, bounds how many engines sharing it hold such a grown buffer at
	// once; a big message beyond the budget is refused with internal_error (see HandshakeBudget).
	// nil: no bound (each engine may grow once).
	HandshakeBudget *HandshakeBudget

	// MaxHandshakeMessage is the largest handshake message, 4-byte header included, the engine
	// reassembles (default DefaultMaxHandshakeMessage, 16 KiB + 4); a bigger one is answered with
	// illegal_parameter. The reassembly buffer starts smaller (a server: the ClientHello area of its
	// handshake slab, about 2.5 KB, then 80 bytes for the client's second flight; a client: 16384;
	// or this limit if smaller) and grows, by one allocation, to the size of a bigger message when
	// one arrives (a server: only a ClientHello, or the client's Certificate and CertificateVerify
	// when it asks for them).
	MaxHandshakeMessage int32

	// MaxRecordOut is the largest plaintext the engine puts in one record it sends (default 1024).
	MaxRecordOut uint16
	// RecordSizeLimit, when non-zero, is announced as record_size_limit (RFC 8449, 64..16385)
	// and enforced on every protected record received: bigger records get record_overflow.
	RecordSizeLimit uint16

	// MinVersion and MaxVersion bound the protocol versions (0: TLS 1.2 and TLS 1.3). TLS 1.3 is
	// chosen when both sides offer it.
	MinVersion, MaxVersion uint16

	// ClientAuth is the server's client-certificate policy (ClientCAs verifies the chain).
	ClientAuth ClientAuthType
	// PeerKeyOnly makes a server keep only the public key of the client's certificate chain once
	// the chain is checked (KeptPeerCertificate; ConnectionState.PeerCertificates then holds that
	// one stripped certificate): what a client sends then costs no RAM after the message that
	// carried it (the card sets it: its RAM has a hard bound).
	PeerKeyOnly bool
	// HRRCookie makes a server include a cookie in HelloRetryRequest and demand it back.
	HRRCookie bool
	// PreferChaCha makes a server select ChaCha20-Poly1305 (TLS_CHACHA20_POLY1305_SHA256, or the
	// TLS 1.2 ECDHE suite of its key's family) whenever the client offers it and it is enabled,
	// whatever the client's order (otherwise the client's order decides): its records can be
	// opened as they stream in (Engine.SetSpill) and its state is 32 bytes a direction against
	// AES-GCM's 768.
	PreferChaCha bool
}

// ClientConfig is the client-role part of a Config (Config.Client).
type ClientConfig struct {
	// ServerName is the name the client sends (SNI, unless it is an IP address) and verifies.
	ServerName string
	// Roots are the trust anchors a client verifies the server chain against.
	Roots *x509.CertPool
	// Session is a session from an earlier Engine.Session to offer for resumption.
	Session *Session
	// MaxFragmentLength (512, 1024, 2048 or 4096) offers max_fragment_length (RFC 6066); when the
	// server accepts, records are limited to that size both ways. A server always honours the
	// extension when a client offers it (unless record_size_limit is offered too).
	MaxFragmentLength int
	// InsecureSkipVerify disables chain and name verification (tests only).
	InsecureSkipVerify bool
}

// noClient is what client() returns for a Config without a Client part (a server's).
var noClient ClientConfig

// client returns the client-role part of c, or a zero one.
func (c *Config) client() *ClientConfig {
	if c.Client == nil {
		return &noClient
	}
	return c.Client
}

// State is the coarse state of an Engine.
type State uint8

// Engine states.
const (
	Handshaking State = iota // handshake in progress
	Established              // application data may flow
	Closed                   // close_notify sent or received
	Failed                   // a fatal alert was sent or received; see Alert and Err
)

// String returns the state name.
func (s State) String() string {
	switch s {
	case Handshaking:
		return "handshaking"
	case Established:
		return "established"
	case Closed:
		return "closed"
	case Failed:
		return "failed"
	}
	return "state?"
}

// ConnectionState describes a negotiated connection.
type ConnectionState struct {
	Version          uint16
	CipherSuite      uint16
	Group            CurveID
	SignatureScheme  SignatureScheme // scheme of the peer's CertificateVerify (0 if none)
	ServerName       string          // SNI received (server) or sent (client)
	ALPN             string          // negotiated protocol, "" if none
	HelloRetry       bool            // a HelloRetryRequest was used
	PeerCertificates []*x509.Certificate
	PeerRecordLimit  int // largest plaintext per record we may send (peer limit and MaxRecordOut)
	MaxFragment      int // negotiated max_fragment_length in bytes, 0 if none
	DidResume        bool
}

// suites returns the enabled TLS 1.3 suites.
func (c *Config) suites() []uint16 { return c.filterSuites(false, defaultSuites) }

// suites12 returns the enabled TLS 1.2 suites.
func (c *Config) suites12() []uint16 { return c.filterSuites(true, defaultSuites12) }

func (c *Config) filterSuites(tls12 bool, def []uint16) []uint16 {
	n := 0
	for _, s := range c.CipherSuites {
		if si := suiteInfoByID(s); si != nil && si.tls12 == tls12 {
			n++
		}
	}
	if n == 0 {
		return def
	}
	if n == len(c.CipherSuites) {
		return c.CipherSuites
	}
	out := make([]uint16, 0, n)
	for _, s := range c.CipherSuites {
		if si := suiteInfoByID(s); si != nil && si.tls12 == tls12 {
			out = append(out, s)
		}
	}
	return out
}

// pickSuite returns the suite a server selects from the client's offer (2-byte ids): ChaCha20-
// Poly1305 first with PreferChaCha, then the client's order (RFC 8446 §4.1.1 leaves the choice to
// the server); ok reports whether take accepted one. take says whether a suite id may be used.
func (c *Config) pickSuite(offer []byte, enabled []uint16, take func(id uint16) bool) bool {
	for pass := 0; pass < 2; pass++ {
		if pass == 0 && !c.PreferChaCha {
			continue
		}
		for i := 0; i+1 < len(offer); i += 2 {
			id := uint16(offer[i])<<8 | uint16(offer[i+1])
			if si := suiteInfoByID(id); pass == 0 && (si == nil || !si.chacha) {
				continue
			}
			for _, s := range enabled {
				if s == id && take(id) {
					return true
				}
			}
		}
	}
	return false
}

func (c *Config) minVersion() uint16 {
	if c.MinVersion == 0 {
		return VersionTLS12
	}
	return c.MinVersion
}

func (c *Config) maxVersion() uint16 {
	if c.MaxVersion == 0 {
		return VersionTLS13
	}
	return c.MaxVersion
}

// allows reports whether version v is inside the configured range.
func (c *Config) allows(v uint16) bool { return v >= c.minVersion() && v <= c.maxVersion() }

var defaultSuites = []uint16{TLS_AES_128_GCM_SHA256, TLS_CHACHA20_POLY1305_SHA256, TLS_AES_256_GCM_SHA384}
var defaultSuites12 = []uint16{TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
	TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384, TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
	TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256, TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384}
var defaultServerGroups = []CurveID{X25519MLKEM768, X25519, P256}
var defaultClientGroups = []CurveID{X25519, P256, X25519MLKEM768}

func (c *Config) groups(server bool) []CurveID {
	if len(c.Groups) > 0 {
		return c.Groups
	}
	if server {
		return defaultServerGroups
	}
	return defaultClientGroups
}

// verifySchemes are the schemes we accept from a peer in TLS 1.3, in the order we advertise them.
var verifySchemes = []SignatureScheme{ECDSAWithP256AndSHA256, Ed25519, PSSWithSHA256, PSSWithSHA384,
	PSSWithSHA512, ECDSAWithP384AndSHA384, ECDSAWithP521AndSHA512, PSSPSSWithSHA256, PSSPSSWithSHA384,
	PSSPSSWithSHA512}

// verifySchemes12 are the schemes we accept in TLS 1.2: those of TLS 1.3 and, last, RSASSA-PKCS1-v1_5
// (RFC 5246 §7.4.1.4.1). A ClientHello that offers TLS 1.2 lists them too (RFC 8446 §4.2.3 allows
// this for backward compatibility); a TLS 1.3-only ClientHello and a TLS 1.3 CertificateRequest do
// not, and a TLS 1.3 CertificateVerify with one of them gets illegal_parameter.
var verifySchemes12 = []SignatureScheme{ECDSAWithP256AndSHA256, Ed25519, PSSWithSHA256, PSSWithSHA384,
	PSSWithSHA512, ECDSAWithP384AndSHA384, ECDSAWithP521AndSHA512, PSSPSSWithSHA256, PSSPSSWithSHA384,
	PSSPSSWithSHA512, PKCS1WithSHA256, PKCS1WithSHA384, PKCS1WithSHA512}

// testHooks are the Config hooks that only this package's tests set.
type testHooks struct {
	// hrrCookie replaces the random HelloRetryRequest cookie (at most 256 bytes) so that a trace
	// can be reproduced byte for byte.
	hrrCookie []byte
	// queue (the hostile peer) rewrites every record the engine is about to queue: it receives
	// the content type and plaintext and returns the records to send instead (sealed with the
	// current write key when it is on).
	queue func(typ byte, data []byte) []testRecord
	// ownScheme replaces the scheme our handshake signature uses (signed correctly with the
	// Signer), so that tests can make a peer break the scheme rules.
	ownScheme SignatureScheme
	// hrrAlways makes a server send a HelloRetryRequest even when the client's key share is
	// usable: with HRRCookie a cookie-only HelloRetryRequest, else one that would change nothing
	// (both exercise the client's RFC 8446 §4.1.4 rules).
	hrrAlways bool
	// earlyData makes a client put an (empty) early_data extension in its first ClientHello, as
	// a 0-RTT client does, without sending early data itself (the hostile peer injects the
	// records).
	earlyData bool
}

// noHooks is the hooks of every Config that has none (never written).
var noHooks testHooks

// hooks returns c's test hooks (all zero outside this package's tests).
func (c *Config) hooks() *testHooks {
	if c.test != nil {
		return c.test
	}
	return &noHooks
}

// testRecord is one record a test's queue hook asks the engine to send instead of what it
// queued: plain bypasses the record protection (a change_cipher_spec or a plaintext alert).
type testRecord struct {
	typ   byte
	data  []byte
	plain bool
}
