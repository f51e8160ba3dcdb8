package tls

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"math"
	"unsafe"
)

// Record content types.
const (
	recordCCS       = 20
	recordAlert     = 21
	recordHandshake = 22
	recordAppData   = 23
)

const (
	recordHeaderLen = 5
	tagLen          = 16
	maxPlaintext    = 1 << 14
	maxCiphertext   = maxPlaintext + 256
	// DefaultRecordBuf is the receive buffer that holds any legal record (header included).
	DefaultRecordBuf = recordHeaderLen + maxCiphertext
	// maxSignature bounds our own ECDSA P-256 (DER) or Ed25519 signature; an RSA signature is as
	// long as the modulus (256 bytes for RSA-2048, at most maxOwnRSABits/8).
	maxSignature = 160
	// minOwnRSABits and maxOwnRSABits bound an RSA Signer's key.
	minOwnRSABits = 2048
	maxOwnRSABits = 4096
	// postHSLen is a server's handshake reassembly buffer after the handshake: a TLS 1.3 server
	// only accepts KeyUpdate (5 bytes); a TLS 1.2 renegotiation ClientHello is refused and skipped.
	postHSLen = 64
	// postOutLen is a server's output buffer after the handshake: room for four protected alerts
	// or KeyUpdates (24–31 bytes each) between two Output calls.
	postOutLen = 128
	// DefaultMaxHandshakeMessage is the largest handshake message (4-byte header included) an
	// engine reassembles unless Config.MaxHandshakeMessage says otherwise: 16 KiB of body and the
	// header, so that real ClientHellos (ECH, GREASE, post-quantum key shares) and certificate
	// chains up to 16 KiB always pass. A bigger message is answered with illegal_parameter (as
	// OpenSSL and BoringSSL do for an excessive message size), never internal_error.
	DefaultMaxHandshakeMessage = maxPlaintext + 4
	// maxUseless bounds the consecutive records that carry nothing for the application or the
	// handshake: empty application data records, ignored warning alerts (user_canceled; TLS 1.2
	// warnings), and post-handshake messages (KeyUpdate, NewSessionTicket, a refused TLS 1.2
	// renegotiation). One more is answered with unexpected_message. Go's crypto/tls uses the same
	// bound (maxUselessRecords = 16); OpenSSL allows 32 empty records and 5 warnings.
	maxUseless = 16
	// maxEarlySkip is the early data (0-RTT) a server that does not accept it skips (RFC 8446
	// §4.2.10: "up to the configured max_early_data_size"): 16 KiB of records, as BoringSSL.
	maxEarlySkip = 16384
)

// Internal handshake states.
const (
	hsStart = iota
	sWaitCH
	sWaitCH2
	sWaitCert
	sWaitCV
	sWaitFin
	cWaitSH
	cWaitSH2
	cWaitEE
	cWaitCertCR
	cWaitCert
	cWaitCV
	cWaitFin
	hsDone
)

// Engine is one TLS 1.3 or TLS 1.2 connection, server or client, without I/O.
type Engine struct {
	// Fields are grouped by alignment (pointers, then 32-bit sizes, then
	// byte arrays, then the small scalars) so the struct has little padding;
	// the allocation (the struct and the allocator's 8-byte header for an
	// object with pointers over 512 bytes) stays within the 384-byte size
	// class (TestEngineSize): the server name is its place in our own
	// certificate (or a string in engineRare: setServerName), what only a client keeps (its resumption
	// master secret and session) lives in hsState, which a client keeps, the
	// Signer is read from cfg, each direction keeps its next nonce (not the
	// IV: halfConn.next), and the TLS 1.2 AAD scratch lives in the unused
	// tail of a direction's secret (tail12).
	cfg *Config

	ks    keySchedule
	suite *suiteInfo
	rd    halfConn
	wr    halfConn

	// Sizes and offsets, all far below 2^31 (records, buffers and handshake messages are at most
	// a few tens of KiB; recordBuf is clamped), as int32: half the room of ints.
	hs        int32
	recordBuf int32
	inLimit   int32 // largest TLSInnerPlaintext accepted in a protected record
	plainLeft int32 // what remains of an unprotected handshake record being streamed
	outAt     int32
	stOff     int32 // where the staging region starts in out's array
	// Once a server's handshake is done, the handshake-time slab is dropped (see release) and
	// hsBuf and out are empty until a post-handshake message arrives or an alert or KeyUpdate is
	// queued: then they are lent the small arrays of post (lendPost), which Shed takes back once
	// both are empty. hsSkip counts the bytes still to be skipped of a post-handshake message too
	// big for post.hs (a refused TLS 1.2 renegotiation ClientHello).
	hsSkip int32
	alpn   int32 // index into cfg.ALPN, -1 if none
	// record sizes, all at most maxPlaintext+1 (16 bits)
	maxOut  uint16 // largest plaintext we put in one record
	cfgOut  uint16
	peerRSL uint16
	mfl     uint16

	hsBuf []byte // handshake reassembly (fixed capacity)
	out   []byte // records waiting for Output (fixed capacity)

	// rare holds what only some connections have: the peer's certificates (a client's, under
	// client authentication; the server's, in a client) and a configuration error (certs,
	// setCerts, Err); nil otherwise.
	rare *engineRare

	// spill and sp stream records larger than spill.Above (see SetSpill, stream.go); sp is lent
	// by the first such record and dropped by Shed.
	spill *SpillConfig
	sp    *streamState

	// *hsState holds what only the handshake needs; a server drops it once the handshake is done.
	*hsState

	// post is a server's post-handshake buffers, lent while a post-handshake message is
	// received or a record waits for Output (lendPost), nil otherwise.
	post *postBufs
	// the per-record nonce and TLS 1.2 additional data, for whichever direction seals or opens a
	// record (one at a time; in the struct, as the AEAD interface makes them escape)

	state       State
	errKind     uint8 // what Err returns: errNone, errLocal, errRemote or errConfig
	group       CurveID
	ownScheme   SignatureScheme
	peerScheme  SignatureScheme
	alert       uint8
	client      bool
	v12         bool // TLS 1.2 negotiated
	rdOn        bool
	wrOn        bool
	hrr         bool
	ccsSent     bool
	kuQueued    bool
	closeRx     bool
	closeTx     bool
	hsSmall     bool
	outSmall    bool
	ccsRx       bool  // TLS 1.3: the one middlebox-compatibility change_cipher_spec was received
	useless     uint8 // consecutive records without progress (see maxUseless)
	released    bool
	ownCert     bool
	certReq     bool // server: we asked for a client certificate; client: the server asked
	resumed     bool
	pskOffered  bool
	wantTickets bool
	bigHeld     bool   // hsBuf is a grown buffer under cfg.HandshakeBudget
	bigLost     bool   // the budget took the slot back (lease expired): fail if run again
	snLen       uint8  // the client's server name in our leaf certificate: length (0: none, or
	snOff       uint16 // in rare.serverName) and offset (setServerName)
}

// postBufs is a server's handshake reassembly and output buffers after the handshake (lendPost).
type postBufs struct {
	hs  [postHSLen]byte
	out [postOutLen]byte
}

// PostBufSize is the size of the post-handshake buffers a server engine lends itself while a
// post-handshake message is received or an alert or KeyUpdate waits for Output (Footprint counts
// them then).
const PostBufSize = int(unsafe.Sizeof(postBufs{}))

// hsState is the handshake-only part of an Engine (hellos, key exchange, signature scratch).
// What only a client needs is in clientOnly, which a server does not have.
type hsState struct {
	*clientOnly

	st []byte // staged outgoing handshake messages: in the tail of out's array (see stage)

	sessionID [32]byte
	random    [32]byte

	kex        kexState
	peerRandom [32]byte // TLS 1.2: the other side's hello random
	kb         [88]byte // TLS 1.2 key block
	ownRSA     bool     // the Signer's key is RSA (ownScheme is chosen per handshake)
	// server: a HelloRetryRequest cookie was sent (cookieSum is its SHA-256, compared in constant
	// time with that of the cookie ClientHello2 echoes)
	cookieSent bool
	helloArea  bool   // see chOff
	hsGrown    bool   // see chOff
	sidLen     uint8  // legacy_session_id length (at most 32)
	sigMax     uint16 // longest signature our Signer makes (at most maxOwnRSABits/8)
	// server: early data bytes still to skip (§4.2.10, at most maxEarlySkip), 0 when not skipping
	earlySkip  uint16
	ss         [64]byte
	scratch    [64]byte
	sigContent [160]byte
	digest     [64]byte
	verifyBuf  [64]byte
	cookieSum  [32]byte
	hsLimit    int32 // largest handshake message reassembled (hsBuf grows up to it on demand)

	ch1Sum uint64 // server: clientHelloSum of ClientHello1 when a HelloRetryRequest was sent
	// server (serverMemory): where the ClientHello is reassembled and its answer staged, and the
	// small reassembly area the buffer moves to once it is processed; until then hsBuf is the
	// ClientHello area (helloArea) or an allocation of its own (hsGrown, see growHS)
	helloGap int32 // the room hello records need before the staged hello
	chOff    int32 // where the ClientHello area starts in the output buffer's array
	small    []byte
	psk      [48]byte
	kss      ksSecrets // the key schedule's handshake secrets
}

// clientOnly is the part of the handshake state only a client has (and keeps after the
// handshake: the resumption master secret and the latest session).
type clientOnly struct {
	cookie       [256]byte // the HelloRetryRequest cookie to echo
	cookieLen    int
	sh           serverHello
	ee           encryptedExtensions
	sentExt      uint32   // the extensions (extBit) of our ClientHello, for §4.2 checks
	peerShare    [65]byte // TLS 1.2: the server's ECDHE point
	peerShareLen int
	certReqAlgs  []byte // copy of requested schemes (points into reqAlgsBuf)
	reqAlgsBuf   [64]byte
	resMaster    [48]byte // the resumption master secret (NewSessionTicket)
	session      *Session // the latest resumable session received (Session)
	t384         transcript
}

// engineRare is the part of an Engine only some connections have (Engine.rare).
type engineRare struct {
	peerCerts []*x509.Certificate
	cfgErr    error
	// serverName is the server name a client sent that is not found in our own certificate
	// (setServerName).
	serverName string
}

// RareSize is the size of what an engine lends itself for the peer's certificate chain (a
// server with client authentication keeps the client's leaf there; see KeptPeerCertificate).
const RareSize = int(unsafe.Sizeof(engineRare{}))

// Kinds of the error that ended the connection (Err).
const (
	errNone   = iota
	errLocal  // the alert we sent: &localAlerts[alert]
	errRemote // the alert received: &remoteAlerts[alert]
	errConfig // rare.cfgErr
)

// certs returns the peer's certificates.
func (e *Engine) certs() []*x509.Certificate {
	if e.rare == nil {
		return nil
	}
	return e.rare.peerCerts
}

// setCerts keeps the peer's certificates.
func (e *Engine) setCerts(c []*x509.Certificate) {
	if e.rare == nil {
		if c == nil {
			return
		}
		e.rare = new(engineRare)
	}
	e.rare.peerCerts = c
}

// zeroBinder is the placeholder of a PSK binder, filled in once the ClientHello is hashed.
var zeroBinder [48]byte

// setServerName keeps the server name a ClientHello sent (server role), at most maxServerName
// bytes. The name a client sends is usually one in our own certificate (its subjectAltName,
// RFC 6066 §3): then the engine keeps only where those bytes are in the leaf (snOff, snLen), no
// allocation, and ConnectionState returns a string over them (Config.Certificate is not modified
// after use); another name is copied into engineRare, one allocation per handshake (none for a
// second ClientHello repeating it).
func (e *Engine) setServerName(name []byte) {
	name = name[:min(len(name), maxServerName)]
	e.snLen = 0
	if len(name) > 0 && len(e.cfg.Certificate) > 0 {
		if i := bytes.Index(e.cfg.Certificate[0], name); i >= 0 && i <= math.MaxUint16 {
			e.snOff, e.snLen = uint16(i), uint8(len(name))
			if e.rare != nil {
				e.rare.serverName = ""
			}
			return
		}
	}
	if e.rare == nil {
		if len(name) == 0 {
			return
		}
		e.rare = new(engineRare)
	}
	if string(name) != e.rare.serverName {
		e.rare.serverName = string(name)
	}
}

// serverName returns the server name the client sent (server role; see setServerName).
func (e *Engine) serverName() string {
	if e.snLen > 0 {
		leaf := e.cfg.Certificate[0]
		return unsafe.String(&leaf[e.snOff], int(e.snLen))
	}
	if e.rare != nil {
		return e.rare.serverName
	}
	return ""
}

// maxServerName is the longest server name kept (a DNS name has at most 255 bytes, RFC 1035 §3.1).
const maxServerName = 255

// NewServer returns a server engine. recordBuf is the size of the caller's receive buffer (the
// largest record, header included, that Unwrap can ever be given); 0 means DefaultRecordBuf.
func NewServer(cfg *Config, recordBuf int) *Engine {
	e := newEngine(cfg, recordBuf, false)
	e.hs = sWaitCH
	if e.state != Failed && !e.ownCert {
		e.failConfig(errors.New("tls: server needs Certificate and Signer"))
	}
	return e
}

// NewClient returns a client engine; its ClientHello is immediately available from Output.
func NewClient(cfg *Config, recordBuf int) *Engine {
	e := newEngine(cfg, recordBuf, true)
	if e.state == Failed {
		return e
	}
	if cfg.client().ServerName == "" && !cfg.client().InsecureSkipVerify {
		e.failConfig(errors.New("tls: a client needs ServerName (or InsecureSkipVerify)"))
		return e
	}
	e.hs = cWaitSH
	e.clientStart()
	return e
}

func newEngine(cfg *Config, recordBuf int, client bool) *Engine {
	e := &Engine{cfg: cfg, client: client, alpn: -1}
	if recordBuf <= 0 {
		recordBuf = DefaultRecordBuf
	}
	e.recordBuf = int32(min(recordBuf, 1<<30))
	cfgOut := int(cfg.MaxRecordOut)
	if cfgOut == 0 {
		cfgOut = 1024
	}
	e.cfgOut = uint16(min(cfgOut, maxPlaintext))
	e.maxOut = e.cfgOut
	e.inLimit = maxPlaintext + 1
	if l := cfg.RecordSizeLimit; l > 0 {
		e.inLimit = int32(min(max(l, 64), maxPlaintext+1))
	}
	certLen := 0
	for _, c := range cfg.Certificate {
		certLen += len(c) + 5
	}
	alpnLen := 0
	for _, p := range cfg.ALPN {
		alpnLen += len(p) + 1
	}
	sigMax, ownRSA := maxSignature, false
	var signerErr error
	if cfg.Signer != nil && len(cfg.Certificate) > 0 {
		var bits int
		e.ownScheme, bits, signerErr = signerScheme(cfg.Signer)
		if e.ownScheme == PSSWithSHA256 {
			ownRSA, sigMax = true, (bits+7)/8
		}
	}
	limit := int(cfg.MaxHandshakeMessage)
	if limit <= 0 {
		limit = DefaultMaxHandshakeMessage
	}
	limit = max(limit, 64)
	if client {
		e.clientMemory(cfg, alpnLen, certLen, sigMax)
	} else {
		e.serverMemory(cfg, alpnLen, certLen, sigMax, limit)
	}
	e.sigMax, e.ownRSA = uint16(sigMax), ownRSA
	e.hsLimit = int32(min(limit, 4+1<<24-1)) // a handshake message's length has 24 bits
	e.ks.init(!client, &e.hsState.kss)
	if cfg.Rand == nil {
		e.failConfig(errors.New("tls: Config.Rand is nil"))
		return e
	}
	if !cfg.allows(VersionTLS12) && !cfg.allows(VersionTLS13) {
		e.failConfig(errors.New("tls: MinVersion/MaxVersion enable neither TLS 1.2 nor TLS 1.3"))
		return e
	}
	if cfg.Signer != nil && len(cfg.Certificate) > 0 {
		if signerErr != nil {
			e.failConfig(signerErr)
			return e
		}
		e.ownCert = true
	}
	return e
}

// clientMemory lends a client its handshake state and buffers. Staging holds the larger of its
// ClientHello (an ML-KEM key share, SNI, ALPN and a cookie) and its own second flight (a client
// Certificate, CertificateVerify and Finished); the output buffer holds one hello record plus the
// flight sealed into records as small as 63 bytes. The staging region is the tail of the output
// buffer: queue turns staged messages into records front to back and never overtakes the staged
// bytes it has not read yet (see stage and queue). The 16 KiB reassembly buffer (the server's
// flight; NewSessionTicket later) is kept after the handshake, so it is an allocation of its own.
func (e *Engine) clientMemory(cfg *Config, alpnLen, certLen, sigMax int) {
	hello := 1800 + len(cfg.client().ServerName) + alpnLen + 2*len(cfg.Groups)
	flight := 400 + certLen + alpnLen + sigMax
	stLen := max(hello, flight)
	// While a flight is turned into records, the output buffer holds a hello record and a
	// change_cipher_spec before it, and the records gain their headers and tags on the staged
	// bytes still unread: so the staging region starts at least that far from the front.
	overhead := (flight/63 + 2) * (recordHeaderLen + 1 + tagLen)
	outLen := hello + recordHeaderLen + 6 + max(flight+64, stLen) + overhead
	e.stOff = int32(outLen - stLen)
	var slab []byte
	e.hsState, slab = clientHandshakeMemory(outLen)
	e.hsBuf = make([]byte, 0, 16384)
	e.out = slab[:0:outLen]
	e.st = e.out[e.stOff:e.stOff:outLen]
}

// Sizes of a server's handshake memory (serverMemory).
const (
	// chMin is the least room for a ClientHello in a server's handshake slab: Go's crypto/tls and
	// Chromium send 1.5–1.9 KB with an X25519MLKEM768 share and GREASE; a bigger hello grows the
	// reassembly buffer (growHS, under the HandshakeBudget).
	chMin = 1920
	// smallHSLen is a server's reassembly buffer once the ClientHello is processed: Finished (at
	// most 52 bytes), a TLS 1.2 ClientKeyExchange (70 for P-256), an empty client Certificate. A
	// bigger message (a client's certificate chain and CertificateVerify) grows it (growHS).
	smallHSLen = 80
	// serverHelloFixed is a ServerHello without its key share: header, legacy_version, random,
	// a 32-byte legacy_session_id_echo, cipher_suite, compression, extensions length, the
	// key_share extension's header and group, supported_versions, pre_shared_key.
	serverHelloFixed = 4 + 2 + 32 + 1 + 32 + 2 + 1 + 2 + 8 + 6 + 6
)

// serverHelloMax is the largest ServerHello or HelloRetryRequest a server with cfg can send.
func serverHelloMax(cfg *Config) int {
	n := 0
	for _, g := range cfg.groups(true) {
		if groupSupported(g) {
			n = max(n, serverHelloFixed+serverShareLen(g))
		}
	}
	cookie := 0
	if cfg.HRRCookie {
		cookie = 6 + max(32, len(cfg.hooks().hrrCookie))
	}
	return max(n, serverHelloFixed+cookie)
}

// serverMemory lends a server its handshake state and buffers, in one allocation (see
// handshakeMemory) laid out so that what is never needed at the same time shares bytes:
//
//	[ small reassembly | gap | ClientHello ...                                           ]
//	[                  | gap | ServerHello staged over it ...                             ]
//	[                  | hello records, CCS     | ...     flight staging (tail)           ]
//
// The ClientHello is reassembled at chOff, a gap after the front of the output buffer. Once it is
// parsed and checked, only its key share is still read: the ServerHello (or HelloRetryRequest) is
// staged over it, from its first byte (stageHello; serverClientHello shows why the bytes written
// never reach the share before it is read), and queued as records from the front (the gap is what
// their headers need not to overtake the staged bytes). Then the ClientHello's bytes are dead
// (what the flight needs of it was kept): the flight (TLS 1.3: EncryptedExtensions to Finished;
// TLS 1.2: the whole first flight, staged once the hello is hashed) is staged in the tail and
// queued behind the hello records. The reassembly buffer then moves to the small area
// (leaveHelloArea), as the client's second flight may arrive while the server's still waits for
// Output; after a HelloRetryRequest, to a new ClientHello area behind its records
// (nextHelloArea).
func (e *Engine) serverMemory(cfg *Config, alpnLen, certLen, sigMax, limit int) {
	cfgOut := int(e.cfgOut)
	helloMax := serverHelloMax(cfg)
	gap := recordHeaderLen * ((helloMax + cfgOut - 1) / cfgOut)
	hr := gap + helloMax + 6 // the hello records and a change_cipher_spec
	// The flight: EncryptedExtensions (≤ 23 bytes and the protocol name), CertificateRequest
	// (≤ 64), Certificate (8 and the chain with 5 bytes per entry), CertificateVerify (8 and the
	// signature), Finished (≤ 52); a TLS 1.2 flight (ServerHello, Certificate, ServerKeyExchange,
	// CertificateRequest, ServerHelloDone) is as long. 256 covers the fixed parts of either.
	flight := 256 + certLen + alpnLen + sigMax
	// Its records gain a header and a tag each. They are planned at our own record size: a peer
	// whose record_size_limit or max_fragment_length asks for smaller ones (down to 63 bytes) makes
	// the flight move to an output buffer of its own (fitFlight).
	overhead := (flight/cfgOut + 2) * (recordHeaderLen + 1 + tagLen)
	stOff := hr + overhead
	need := smallHSLen + max(gap+min(chMin, limit), stOff+flight+64)
	var slab []byte
	e.hsState, slab = handshakeMemory(need)
	// The slab takes the rest of its size class: the ClientHello gets it.
	outLen := len(slab) - smallHSLen
	e.out = slab[smallHSLen:smallHSLen:len(slab)]
	e.stOff = int32(outLen - (flight + 64))
	e.st = e.out[e.stOff:e.stOff:outLen]
	e.helloGap, e.chOff = int32(gap), int32(gap)
	e.small = slab[:0:smallHSLen]
	e.hsBuf = e.out[gap:gap:min(outLen, gap+limit)]
	e.helloArea = true
}

// hsSize is the size of an Engine's handshake state.
const hsSize = int(unsafe.Sizeof(hsState{}))

// coSize is the size of a client's clientOnly state.
const coSize = int(unsafe.Sizeof(clientOnly{}))

// mallocHeader is the header Go's allocator puts before an object with pointers bigger than 512
// bytes (runtime/mbitmap.go, mallocHeaderSize): it counts in the object's size class.
const mallocHeader = 8

// handshakeMemory returns the handshake state and a slab of at least n bytes in one allocation
// when both fit one of the Go allocator's size classes listed here (runtime/sizeclasses.go: the
// slab takes the rest of the class, less the allocator's header, so nothing is wasted to
// rounding); else in two allocations.
// Either way both become garbage together once the engine drops them.
func handshakeMemory(n int) (*hsState, []byte) {
	switch {
	case n <= 4096-mallocHeader-hsSize:
		m := new(struct {
			hs  hsState
			buf [4096 - mallocHeader - hsSize]byte
		})
		return &m.hs, m.buf[:]
	case n <= 4864-mallocHeader-hsSize:
		m := new(struct {
			hs  hsState
			buf [4864 - mallocHeader - hsSize]byte
		})
		return &m.hs, m.buf[:]
	case n <= 5376-mallocHeader-hsSize:
		m := new(struct {
			hs  hsState
			buf [5376 - mallocHeader - hsSize]byte
		})
		return &m.hs, m.buf[:]
	case n <= 6144-mallocHeader-hsSize:
		m := new(struct {
			hs  hsState
			buf [6144 - mallocHeader - hsSize]byte
		})
		return &m.hs, m.buf[:]
	case n <= 6528-mallocHeader-hsSize:
		m := new(struct {
			hs  hsState
			buf [6528 - mallocHeader - hsSize]byte
		})
		return &m.hs, m.buf[:]
	case n <= 6784-mallocHeader-hsSize:
		m := new(struct {
			hs  hsState
			buf [6784 - mallocHeader - hsSize]byte
		})
		return &m.hs, m.buf[:]
	case n <= 6912-mallocHeader-hsSize:
		m := new(struct {
			hs  hsState
			buf [6912 - mallocHeader - hsSize]byte
		})
		return &m.hs, m.buf[:]
	case n <= 8192-mallocHeader-hsSize:
		m := new(struct {
			hs  hsState
			buf [8192 - mallocHeader - hsSize]byte
		})
		return &m.hs, m.buf[:]
	case n <= 9472-mallocHeader-hsSize:
		m := new(struct {
			hs  hsState
			buf [9472 - mallocHeader - hsSize]byte
		})
		return &m.hs, m.buf[:]
	case n <= 9728-mallocHeader-hsSize:
		m := new(struct {
			hs  hsState
			buf [9728 - mallocHeader - hsSize]byte
		})
		return &m.hs, m.buf[:]
	case n <= 10240-mallocHeader-hsSize:
		m := new(struct {
			hs  hsState
			buf [10240 - mallocHeader - hsSize]byte
		})
		return &m.hs, m.buf[:]
	case n <= 10880-mallocHeader-hsSize:
		m := new(struct {
			hs  hsState
			buf [10880 - mallocHeader - hsSize]byte
		})
		return &m.hs, m.buf[:]
	case n <= 12288-mallocHeader-hsSize:
		m := new(struct {
			hs  hsState
			buf [12288 - mallocHeader - hsSize]byte
		})
		return &m.hs, m.buf[:]
	case n <= 13568-mallocHeader-hsSize:
		m := new(struct {
			hs  hsState
			buf [13568 - mallocHeader - hsSize]byte
		})
		return &m.hs, m.buf[:]
	case n <= 14336-mallocHeader-hsSize:
		m := new(struct {
			hs  hsState
			buf [14336 - mallocHeader - hsSize]byte
		})
		return &m.hs, m.buf[:]
	case n <= 16384-mallocHeader-hsSize:
		m := new(struct {
			hs  hsState
			buf [16384 - mallocHeader - hsSize]byte
		})
		return &m.hs, m.buf[:]
	}
	return new(hsState), make([]byte, n)
}

// clientHandshakeMemory is handshakeMemory for a client: the handshake state, its clientOnly
// part and a slab of at least n bytes in one allocation when they fit one of these size classes.
func clientHandshakeMemory(n int) (*hsState, []byte) {
	switch {
	case n <= 6784-mallocHeader-hsSize-coSize:
		m := new(struct {
			hs  hsState
			co  clientOnly
			buf [6784 - mallocHeader - hsSize - coSize]byte
		})
		m.hs.clientOnly, m.hs.kss.t384 = &m.co, &m.co.t384
		return &m.hs, m.buf[:]
	case n <= 8192-mallocHeader-hsSize-coSize:
		m := new(struct {
			hs  hsState
			co  clientOnly
			buf [8192 - mallocHeader - hsSize - coSize]byte
		})
		m.hs.clientOnly, m.hs.kss.t384 = &m.co, &m.co.t384
		return &m.hs, m.buf[:]
	case n <= 9472-mallocHeader-hsSize-coSize:
		m := new(struct {
			hs  hsState
			co  clientOnly
			buf [9472 - mallocHeader - hsSize - coSize]byte
		})
		m.hs.clientOnly, m.hs.kss.t384 = &m.co, &m.co.t384
		return &m.hs, m.buf[:]
	case n <= 10240-mallocHeader-hsSize-coSize:
		m := new(struct {
			hs  hsState
			co  clientOnly
			buf [10240 - mallocHeader - hsSize - coSize]byte
		})
		m.hs.clientOnly, m.hs.kss.t384 = &m.co, &m.co.t384
		return &m.hs, m.buf[:]
	case n <= 12288-mallocHeader-hsSize-coSize:
		m := new(struct {
			hs  hsState
			co  clientOnly
			buf [12288 - mallocHeader - hsSize - coSize]byte
		})
		m.hs.clientOnly, m.hs.kss.t384 = &m.co, &m.co.t384
		return &m.hs, m.buf[:]
	}
	hs := &hsState{clientOnly: new(clientOnly)}
	hs.kss.t384 = &hs.clientOnly.t384
	return hs, make([]byte, n)
}

// signerScheme returns the scheme a Signer signs TLS 1.3 CertificateVerify with (ECDSA P-256,
// Ed25519, or PSSWithSHA256 for an RSA key, whose scheme is then chosen per handshake) and, for
// RSA, the modulus size. Standard library keys are recognised by their type, so no Public call
// (which copies an Ed25519 public key, two allocations per engine) is made; other Signers are asked
// for their public key.
func signerScheme(s crypto.Signer) (SignatureScheme, int, error) {
	var pub crypto.PublicKey
	switch k := s.(type) {
	case *ecdsa.PrivateKey:
		pub = &k.PublicKey
	case *rsa.PrivateKey:
		pub = &k.PublicKey
	case ed25519.PrivateKey:
		if len(k) != ed25519.PrivateKeySize {
			return 0, 0, errors.New("tls: bad Ed25519 private key length")
		}
		return Ed25519, 0, nil
	default:
		pub = s.Public()
	}
	switch pub := pub.(type) {
	case *ecdsa.PublicKey:
		if pub.Curve != elliptic.P256() {
			return 0, 0, errors.New("tls: only P-256 ECDSA keys can sign")
		}
		return ECDSAWithP256AndSHA256, 0, nil
	case ed25519.PublicKey:
		return Ed25519, 0, nil
	case *rsa.PublicKey:
		if b := pub.N.BitLen(); b < minOwnRSABits || b > maxOwnRSABits {
			return 0, 0, fmt.Errorf("tls: RSA keys of %d to %d bits can sign, not %d", minOwnRSABits, maxOwnRSABits, b)
		}
		return PSSWithSHA256, pub.N.BitLen(), nil
	}
	return 0, 0, errors.New("tls: unsupported Signer key type")
}

func (e *Engine) failConfig(err error) {
	e.state, e.alert, e.errKind = Failed, AlertInternalError, errConfig
	if e.rare == nil {
		e.rare = new(engineRare)
	}
	e.rare.cfgErr = err
}

// State returns the coarse connection state.
func (e *Engine) State() State { return e.state }

// Alert returns the alert that ended the connection (sent or received), or 0.
func (e *Engine) Alert() uint8 { return e.alert }

// Err returns the error that ended the connection, or nil.
func (e *Engine) Err() error {
	switch e.errKind {
	case errLocal:
		return &localAlerts[e.alert]
	case errRemote:
		return &remoteAlerts[e.alert]
	case errConfig:
		return e.rare.cfgErr
	}
	return nil
}

// Footprint returns the bytes the engine itself holds now: its struct, the key schedule and its
// buffers (handshake reassembly, output with the staging area in its tail). A server's handshake
// buffers are released once the handshake is done and its flight has been drained by Output, so
// its footprint drops then.
// Objects owned by Go's crypto packages (hash and AEAD states, parsed peer certificates) are not
// included; the receive buffer is the caller's.
func (e *Engine) Footprint() int {
	n := int(unsafe.Sizeof(*e))
	if e.hsState != nil {
		n += int(unsafe.Sizeof(*e.hsState))
	}
	// a server's reassembly buffer is in its handshake slab unless grown (serverMemory)
	if !e.hsSmall && (e.client || e.hsState == nil || e.hsGrown) {
		n += cap(e.hsBuf)
	}
	if !e.outSmall {
		n += cap(e.out)
		if !e.client {
			n += smallHSLen
		}
	}
	if e.sp != nil {
		n += streamStateSize
	}
	if e.rare != nil {
		n += RareSize + len(e.rare.serverName)
	}
	if e.post != nil {
		n += PostBufSize
	}
	return n
}

// Shed drops the expanded AEAD state of both directions (crypto/cipher's AES-GCM: 768 bytes
// each; ChaCha20-Poly1305: 32) and returns the bytes released. The engine keeps what rebuilds
// it — the traffic secret (TLS 1.3; the key is derived from it again, RFC 8446 §7.3) or the key
// (TLS 1.2), the IV and the sequence numbers — and the next Wrap, Unwrap, queued alert or
// KeyUpdate builds the state again (AES-GCM: two allocations, ≈ 3–5 µs with the key derivation;
// ChaCha20-Poly1305: one, ≈ 0.6 µs; BenchmarkAEADRebuild on the loaded 2-core test machine), so the
// records are byte for byte those of an engine that never shed. Records are sealed and opened
// whole inside one call, so no record is ever half-processed when Shed runs: it is safe between
// any two calls, allocates nothing, and a second call returns 0. A server also gives back its
// post-handshake buffers (PostBufSize) when nothing is in them: they are lent again by the next
// post-handshake message, alert or KeyUpdate. The caller (the card) sheds when the link has been
// quiet, never per record.
func (e *Engine) Shed() int {
	return e.rd.shed(e.suite) + e.wr.shed(e.suite) + e.shedStream() + e.shedPost()
}

// lendPost gives a released server the post-handshake buffers where it has none (hsBuf in
// post.hs, out in post.out, each once the handshake's is dropped): one allocation, kept until
// Shed while the engine receives post-handshake messages or queues alerts, so a busy session does
// not allocate per message.
func (e *Engine) lendPost() {
	if e.post == nil {
		e.post = new(postBufs)
	}
	if e.hsSmall && cap(e.hsBuf) == 0 {
		e.hsBuf = e.post.hs[:0:postHSLen]
	}
	if e.outSmall && cap(e.out) == 0 {
		e.out, e.outAt = e.post.out[:0:postOutLen], 0
	}
}

// shedPost takes back the post-handshake buffers once nothing is in them (no message partly
// received, no record waiting for Output) and returns the bytes released.
func (e *Engine) shedPost() int {
	if e.post == nil || !e.hsSmall || !e.outSmall || len(e.hsBuf) > 0 || e.Pending() > 0 {
		return 0
	}
	e.post, e.hsBuf, e.out, e.outAt = nil, nil, nil, 0
	return PostBufSize
}

// release runs when the handshake is done: a server moves what its handshake reassembly buffer
// holds (nothing, unless a message follows Finished) into the lent post-handshake buffer and
// drops its staging buffer, and every engine drops the transcript
// hashes and the unused HMAC state. The output buffer follows in shrinkOut once it is drained.
func (e *Engine) release() {
	e.released = true
	// a client's parsed hellos alias the reassembly buffer: drop them so that it can be freed
	if e.clientOnly != nil {
		e.sh, e.ee = serverHello{}, encryptedExtensions{}
	}
	k := &e.ks
	k.th = nil
	k.t256.on = false
	if k.t384 != nil {
		k.t384.on = false
	}
	if e.client || e.hsSmall {
		return
	}
	if len(e.hsBuf) > postHSLen {
		return // keep the big buffer; handleHandshake fails on the leftover anyway
	}
	if len(e.hsBuf) == 0 {
		e.hsBuf = nil
	} else {
		e.post = new(postBufs) // lent here; out follows in shrinkOut
		n := copy(e.post.hs[:], e.hsBuf)
		e.hsBuf = e.post.hs[:n:postHSLen]
	}
	e.hsSmall = true
	e.hsState, k.ksSecrets = nil, nil // the staging buffer (hsState.st) with them
	e.shrinkOut()
}

// shrinkOut drops a server's drained output buffer after the handshake (the last reference to
// the handshake slab): its output buffer is then post.out if lent, else empty until lendPost.
func (e *Engine) shrinkOut() {
	if e.outSmall || !e.hsSmall || e.Pending() > 0 {
		return
	}
	e.out, e.outAt, e.outSmall, e.stOff = nil, 0, true, -1
	if e.post != nil {
		e.out = e.post.out[:0:postOutLen]
	}
}

// Pending returns the number of bytes waiting for Output.
func (e *Engine) Pending() int { return len(e.out) - int(e.outAt) }

// Overhead returns the room Wrap needs before (hdr) and after (tail) the plaintext. It depends on
// the negotiated version and suite: (5, 17) for TLS 1.3, (13, 16) for TLS 1.2 AES-GCM (explicit
// nonce), (5, 16) for TLS 1.2 ChaCha20-Poly1305. Ask again once the handshake is done.
func (e *Engine) Overhead() (hdr, tail int) {
	if e.v12 && e.suite != nil {
		return e.hdr12(), tagLen
	}
	return recordHeaderLen, 1 + tagLen
}

// MaxOverhead is the largest hdr+tail Overhead can ever report (TLS 1.2 AES-GCM: 5+8+16).
const MaxOverhead = recordHeaderLen + explicitNonce + tagLen

// MaxPlaintext returns the largest plaintext Wrap accepts in one record.
func (e *Engine) MaxPlaintext() int { return int(e.maxOut) }

// Output copies pending records (handshake flight, alerts, KeyUpdate) to dst and returns the byte
// count. Partial copies are fine; call again until it returns 0.
func (e *Engine) Output(dst []byte) int {
	n := copy(dst, e.out[e.outAt:])
	e.outAt += int32(n)
	if int(e.outAt) == len(e.out) {
		e.out, e.outAt = e.out[:0], 0
		if !e.outSmall && e.hsSmall {
			e.shrinkOut()
		}
	}
	return n
}

// Wrap seals the plaintext rec[hdr:hdr+n] in place into an application_data record and returns the
// record length (hdr+n+tail), or 0 if the engine cannot send now (not established, closed, output
// pending, n > MaxPlaintext, or rec too short). In TLS 1.3 a peer's close_notify only closes its
// direction (RFC 8446 §6.1): State reports Closed, but Wrap still seals until Close is called. In
// TLS 1.2 (RFC 5246 §7.2.1) nothing can be sent after the peer's close_notify.
func (e *Engine) Wrap(rec []byte, n int) int {
	hdr, tail := e.Overhead()
	canSend := e.state == Established || (e.state == Closed && e.closeRx && !e.v12)
	if !canSend || e.closeTx || e.Pending() > 0 || n < 0 || n > int(e.maxOut) ||
		len(rec) < hdr+n+tail {
		return 0
	}
	e.kuQueued = false // the next update_requested is answered again (RFC 8446 §4.6.3)
	return e.seal(rec, recordAppData, n)
}

// seal protects rec[5:5+n] of content type typ in place with the write key.
func (e *Engine) seal(rec []byte, typ byte, n int) int {
	if e.v12 {
		return e.seal12(rec, typ, n)
	}
	rec[recordHeaderLen+n] = typ
	clen := n + 1 + tagLen
	rec[0], rec[1], rec[2], rec[3], rec[4] = recordAppData, 3, 3, byte(clen>>8), byte(clen)
	body := rec[recordHeaderLen : recordHeaderLen+n+1]
	a := e.wr.cipher(&e.ks, e.suite)
	if a == nil {
		return 0
	}
	a.Seal(body[:0], e.wr.nonceAt(), body, rec[:recordHeaderLen])
	e.wr.next()
	return recordHeaderLen + clen
}

// room makes sure n more bytes fit in the output buffer.
func (e *Engine) room(n int) bool { return e.roomBefore(n, cap(e.out)) }

// roomBefore makes sure n more bytes fit in the output buffer before offset end of its array,
// moving the pending output to the front if needed. The move only touches bytes below len(e.out).
func (e *Engine) roomBefore(n, end int) bool {
	if len(e.out)+n <= end {
		return true
	}
	e.compact()
	return len(e.out)+n <= end
}

// compact moves the pending output to the front of the output buffer.
func (e *Engine) compact() {
	if e.outAt > 0 {
		m := copy(e.out[:cap(e.out)], e.out[e.outAt:])
		e.out, e.outAt = e.out[:m], 0
	}
}

// stage returns the empty staging buffer for outgoing handshake messages: the tail of the output
// buffer's array, from stOff. Pending output is moved to the front first if it reaches into the
// tail; if it still does (no handshake flow stages a flight while that much output is pending),
// or once a server has released its handshake buffers, the messages go to a fresh buffer instead
// (correct, but an allocation).
func (e *Engine) stage() []byte { return e.stageAt(int(e.stOff)) }

// stageHello is stage for a server's ServerHello or HelloRetryRequest: over the ClientHello it
// answers, from the start of the ClientHello area (serverMemory).
func (e *Engine) stageHello() []byte {
	if e.client || e.hsState == nil || !e.helloArea {
		return e.stage()
	}
	return e.stageAt(int(e.chOff))
}

func (e *Engine) stageAt(off int) []byte {
	if e.outSmall || off < 0 || off > cap(e.out) {
		return nil
	}
	if len(e.out) > off {
		e.compact()
	}
	if len(e.out) > off {
		return make([]byte, 0, cap(e.out)-off)
	}
	return e.out[off:off:cap(e.out)]
}

// stageFloor is where the staging regions start in the output buffer's array.
func (e *Engine) stageFloor() int {
	if !e.client && e.hsState != nil && e.helloArea {
		return int(min(e.chOff, e.stOff))
	}
	return int(e.stOff)
}

// stagedAt returns where data starts in the output buffer's array when it lies in the staging
// tail (stage's buffers keep the array's end as their capacity), or -1.
func (e *Engine) stagedAt(data []byte) int {
	off := cap(e.out) - cap(data)
	if len(data) == 0 || e.outSmall || e.stOff < 0 || off < e.stageFloor() || off >= cap(e.out) ||
		&data[0] != &e.out[:cap(e.out)][off] {
		return -1
	}
	return off
}

// queue appends data of content type typ as records, sealed if the write key is on. When data is
// the staging buffer (in the tail of the output buffer), each record must end before the staged
// bytes not read yet: its header and tag are what it gains on the plaintext, so the gap between
// the records written and the staged bytes shrinks by that much per record (the buffer sizes in
// newEngine leave room for the worst case); if it would not fit, queue fails before writing.
func (e *Engine) queue(typ byte, data []byte) bool {
	if h := e.cfg.hooks().queue; h != nil {
		return e.queueHooked(h, typ, append([]byte(nil), data...)) // a copy: data must not escape
	}
	return e.queueRecords(typ, data)
}

// queueHooked queues what a test's queue hook makes of data.
func (e *Engine) queueHooked(h func(typ byte, data []byte) []testRecord, typ byte, data []byte) bool {
	if e.outSmall && cap(e.out) == 0 {
		e.lendPost()
	}
	for _, r := range h(typ, data) {
		// a rewritten flight may be bigger than the engine's own: the test grows the buffer
		if need := len(e.out) + len(r.data) + 32*(len(r.data)/max(int(e.maxOut), 1)+1); need > cap(e.out) {
			nb := make([]byte, len(e.out), need+cap(e.out))
			copy(nb, e.out)
			e.out = nb
		}
		if r.plain {
			if !e.room(recordHeaderLen + len(r.data)) {
				return false
			}
			e.out = append(e.out, r.typ, 3, 3, byte(len(r.data)>>8), byte(len(r.data)))
			e.out = append(e.out, r.data...)
		} else if !e.queueRecords(r.typ, r.data) {
			return false
		}
	}
	return true
}

// queueRecords is queue without the test hook.
func (e *Engine) queueRecords(typ byte, data []byte) bool {
	if e.outSmall && cap(e.out) == 0 {
		e.lendPost() // a released server's output buffer (alert, KeyUpdate)
	}
	unread := e.stagedAt(data) // offset in out's array of the first staged byte not read yet
	for first := true; first || len(data) > 0; first = false {
		n := min(len(data), int(e.maxOut))
		hdr, tail := recordHeaderLen, 0
		if e.wrOn {
			hdr, tail = e.Overhead()
		}
		need := hdr + n + tail
		end := cap(e.out)
		if unread >= 0 {
			end = unread + n
		}
		if !e.roomBefore(need, end) {
			return false
		}
		at := len(e.out)
		e.out = e.out[:at+need]
		copy(e.out[at+hdr:], data[:n])
		if e.wrOn {
			if e.seal(e.out[at:], typ, n) == 0 {
				e.out = e.out[:at] // never queue a record that is not sealed
				return false
			}
		} else {
			e.out[at], e.out[at+1], e.out[at+2], e.out[at+3], e.out[at+4] = typ, 3, 3, byte(n>>8), byte(n)
		}
		data = data[n:]
		if unread >= 0 {
			unread += n
		}
	}
	return true
}

// fitFlight makes sure a server's staged messages can become records in its output buffer
// without overtaking the staged bytes not read yet (queueRecords): serverMemory plans for records
// of our own size, so when a peer's record_size_limit or max_fragment_length asks for smaller ones,
// the headers and tags they gain would. Then the pending output moves to a buffer of its own,
// sized for the flight in such records: an allocation, for such a peer only.
func (e *Engine) fitFlight() {
	off := e.stagedAt(e.st)
	if off < 0 || e.cfg.hooks().queue != nil {
		return
	}
	ov := recordHeaderLen
	if e.wrOn {
		hdr, tail := e.Overhead()
		ov = hdr + tail
	}
	mo := max(int(e.maxOut), 1)
	grow := ov * ((len(e.st) + mo - 1) / mo)
	pending := e.Pending()
	if pending+grow <= off {
		return
	}
	nb := make([]byte, pending, pending+len(e.st)+grow+postOutLen)
	copy(nb, e.out[e.outAt:])
	e.out, e.outAt = nb, 0
}

// queueCCS queues the middlebox-compatibility change_cipher_spec once.
func (e *Engine) queueCCS() {
	if e.ccsSent || e.sidLen == 0 {
		return
	}
	e.ccsSent = true
	if h := e.cfg.hooks().queue; h != nil { // a hostile test peer may rewrite or drop it (in the clear)
		on := e.wrOn
		e.wrOn = false
		e.queueHooked(h, recordCCS, []byte{1})
		e.wrOn = on
		return
	}
	if e.room(6) {
		e.out = append(e.out, recordCCS, 3, 3, 0, 1, 1)
	}
}

// flushStaging sends the staged handshake messages and empties the staging buffer.
func (e *Engine) flushStaging() uint8 {
	if !e.client && e.hsState != nil {
		e.fitFlight()
	}
	ok := e.queue(recordHandshake, e.st)
	e.st = e.st[:0]
	if !ok {
		return AlertInternalError
	}
	return 0
}

// fail ends the connection with a fatal alert, queues the alert and returns the error.
func (e *Engine) fail(code uint8) error {
	if e.state == Failed {
		return e.Err()
	}
	e.state, e.alert, e.errKind = Failed, code, errLocal
	e.shrinkHS(true)
	if e.client && e.wrOn && !e.v12 && e.hsState != nil {
		// RFC 8446 §D.4: a client in middlebox compatibility mode sends its change_cipher_spec
		// before its first encrypted record of any kind, an alert included.
		e.queueCCS()
	}
	a := [2]byte{2, code}
	if !e.queue(recordAlert, a[:]) && e.outAt == 0 {
		e.out = e.out[:0]
		e.queue(recordAlert, a[:])
	}
	return e.Err()
}

// Close queues close_notify; no record can be wrapped afterwards.
func (e *Engine) Close() {
	if e.state == Failed || e.closeTx {
		return
	}
	e.closeTx = true
	e.shrinkHS(true)
	a := [2]byte{1, AlertCloseNotify}
	e.queue(recordAlert, a[:])
	e.state = Closed
}

// KeyUpdate queues a KeyUpdate message and switches to the next write key; with requestPeer the
// peer is asked to update its keys too.
func (e *Engine) KeyUpdate(requestPeer bool) error {
	if e.state != Established {
		return errors.New("tls: KeyUpdate before the handshake completed")
	}
	if e.v12 {
		return errors.New("tls: no KeyUpdate in TLS 1.2")
	}
	var v byte
	if requestPeer {
		v = 1
	}
	return e.sendKeyUpdate(v)
}

func (e *Engine) sendKeyUpdate(v byte) error {
	m := [5]byte{typeKeyUpdate, 0, 0, 1, v}
	if !e.queue(recordHandshake, m[:]) {
		return e.fail(AlertInternalError)
	}
	if err := e.wr.update(&e.ks, e.suite); err != nil {
		return e.fail(AlertInternalError)
	}
	return nil
}

// ConnectionState returns the negotiated parameters.
func (e *Engine) ConnectionState() ConnectionState {
	cs := ConnectionState{Group: e.group, HelloRetry: e.hrr, PeerCertificates: e.certs(),
		SignatureScheme: e.peerScheme, PeerRecordLimit: int(e.maxOut), MaxFragment: int(e.mfl), DidResume: e.resumed}
	if e.suite != nil {
		cs.Version = VersionTLS13
		if e.v12 {
			cs.Version = VersionTLS12
		}
		cs.CipherSuite = e.suite.id
	}
	if e.client {
		cs.ServerName = e.cfg.client().ServerName
	} else {
		cs.ServerName = e.serverName()
	}
	if e.alpn >= 0 {
		cs.ALPN = e.cfg.ALPN[e.alpn]
	}
	return cs
}

// Unwrap processes at most one record from the start of in. It returns the bytes consumed (0 with a
// nil error when in does not yet hold a whole record) and, for application data, the plaintext,
// which aliases in (it is decrypted in place). Handshake records advance the handshake; check
// Pending/Output afterwards. A received close_notify returns io.EOF; fatal errors return an
// *AlertError and queue the alert.
func (e *Engine) Unwrap(in []byte) (consumed int, plain []byte, err error) {
	if e.state == Failed {
		return 0, nil, e.Err()
	}
	if e.closeRx {
		return 0, nil, io.EOF
	}
	if e.closeTx && e.hs != hsDone {
		// Closed during the handshake: close_notify said "the sender will not send any more
		// messages on this connection" (RFC 8446 §6.1), so the handshake cannot go on and nothing
		// more is taken (nor reassembled where a server's close_notify was queued, serverMemory).
		return 0, nil, io.EOF
	}
	if e.plainLeft > 0 {
		return e.streamPlain(in, 0, min(len(in), int(e.plainLeft)))
	}
	if st := e.sp; st != nil {
		if st.on {
			return e.absorb(in) // the rest of a streamed record (stream.go)
		}
		if st.off < st.end || st.at < st.n {
			return 0, nil, nil // its plaintext is still to be taken (StreamedPlain)
		}
	}
	if len(in) < recordHeaderLen {
		return 0, nil, nil
	}
	typ := in[0]
	n := int(in[3])<<8 | int(in[4])
	if typ < recordCCS || typ > recordAppData {
		return 0, nil, e.fail(AlertUnexpectedMessage)
	}
	if in[1] != 3 {
		return 0, nil, e.fail(AlertDecodeError)
	}
	if typ == recordHandshake && !e.rdOn && n > 0 && n <= maxPlaintext {
		// Unprotected handshake records (ClientHello, ServerHello) are taken as they arrive, so a
		// hello bigger than a small receive buffer (Tiny) still reaches the reassembly buffer.
		k := min(len(in)-recordHeaderLen, n)
		e.plainLeft = int32(n)
		return e.streamPlain(in, recordHeaderLen, k)
	}
	if e.v12 && e.rdOn && typ == recordCCS {
		return 0, nil, e.fail(AlertUnexpectedMessage)
	}
	protected := e.rdOn && (typ == recordAppData || e.v12)
	max := maxPlaintext
	if protected && e.v12 {
		max = min(maxCiphertext, e.inLimit12()+explicitNonce+tagLen)
		if e.mfl > 0 {
			max = min(max, int(e.mfl)+256)
		}
	} else if protected {
		max = min(maxCiphertext, int(e.inLimit)+tagLen)
		if e.mfl > 0 {
			max = min(max, int(e.mfl)+256)
		}
	}
	if n > max {
		return 0, nil, e.fail(AlertRecordOverflow)
	}
	if protected && e.streams(n) {
		return e.startStream(in, n) // taken as it arrives, released once verified (stream.go)
	}
	if recordHeaderLen+n > int(e.recordBuf) {
		return 0, nil, e.fail(AlertRecordOverflow)
	}
	if len(in) < recordHeaderLen+n {
		return 0, nil, nil
	}
	consumed = recordHeaderLen + n
	body := in[recordHeaderLen:consumed]
	if !protected {
		switch typ {
		case recordCCS:
			if e.v12 && n == 1 && body[0] == 1 {
				return consumed, nil, e.ccs12()
			}
			// RFC 8446 §5: one change_cipher_spec of value 1, between the first ClientHello and the
			// peer's Finished, is dropped; any other is unexpected_message. Only one is accepted
			// (a peer in compatibility mode sends one, §D.4): a second is a flood.
			if n != 1 || body[0] != 1 || !e.ccsAllowed() || e.ccsRx || e.interleaved() {
				return 0, nil, e.fail(AlertUnexpectedMessage)
			}
			e.ccsRx = true
			return consumed, nil, nil
		case recordAlert:
			if e.rdOn && e.state != Handshaking {
				return 0, nil, e.fail(AlertUnexpectedMessage)
			}
			return consumed, nil, e.handleAlert(body)
		case recordHandshake:
			if e.rdOn {
				return 0, nil, e.fail(AlertUnexpectedMessage)
			}
			if n == 0 {
				return 0, nil, e.fail(AlertDecodeError)
			}
			return consumed, nil, e.handleHandshake(body)
		default: // application data before keys
			if e.hs == sWaitCH2 && int(e.earlySkip) >= n {
				// §4.2.10: after a HelloRetryRequest the server skips the early data records
				// (application_data) until the second ClientHello.
				e.earlySkip -= uint16(n)
				return consumed, nil, nil
			}
			return 0, nil, e.fail(AlertUnexpectedMessage)
		}
	}
	if e.v12 {
		return e.unwrap12(in[:consumed])
	}
	if n < 1+tagLen {
		return 0, nil, e.fail(AlertBadRecordMAC)
	}
	a := e.rd.cipher(&e.ks, e.suite)
	if a == nil {
		return 0, nil, e.fail(AlertInternalError)
	}
	pt, aerr := a.Open(body[:0], e.rd.nonceAt(), body, in[:recordHeaderLen])
	if aerr != nil {
		if !e.client && e.hsState != nil && int(e.earlySkip) >= n && e.hs != hsDone {
			// §4.2.10: the server did not accept 0-RTT; records that fail deprotection with
			// the handshake key are the client's early data, skipped up to maxEarlySkip bytes.
			e.earlySkip -= uint16(n)
			return consumed, nil, nil
		}
		return 0, nil, e.fail(AlertBadRecordMAC)
	}
	if !e.client && e.hsState != nil {
		e.earlySkip = 0 // the first record that opens starts the client's second flight
	}
	e.rd.next()
	i := len(pt) - 1
	for i >= 0 && pt[i] == 0 {
		i--
	}
	if i < 0 {
		return 0, nil, e.fail(AlertUnexpectedMessage)
	}
	if len(pt) > int(e.inLimit) {
		return 0, nil, e.fail(AlertRecordOverflow)
	}
	ctype := pt[i]
	pt = pt[:i]
	if ctype == recordAppData && e.interleaved() {
		return 0, nil, e.fail(AlertUnexpectedMessage)
	}
	switch ctype {
	case recordAppData:
		if e.hs != hsDone {
			return 0, nil, e.fail(AlertUnexpectedMessage)
		}
		if err := e.progress(len(pt) > 0); err != nil {
			return 0, nil, err
		}
		return consumed, pt, nil
	case recordHandshake:
		if len(pt) == 0 {
			return 0, nil, e.fail(AlertUnexpectedMessage)
		}
		return consumed, nil, e.handleHandshake(pt)
	case recordAlert:
		return consumed, nil, e.handleAlert(pt)
	}
	return 0, nil, e.fail(AlertUnexpectedMessage)
}

// unwrap12 opens a protected TLS 1.2 record and dispatches its content.
func (e *Engine) unwrap12(rec []byte) (int, []byte, error) {
	pt, ok := e.open12(rec)
	if !ok {
		return 0, nil, e.fail(AlertBadRecordMAC)
	}
	if len(pt) > e.inLimit12() || (e.mfl > 0 && len(pt) > int(e.mfl)) {
		return 0, nil, e.fail(AlertRecordOverflow)
	}
	switch rec[0] {
	case recordAppData:
		if e.hs != hsDone {
			return 0, nil, e.fail(AlertUnexpectedMessage)
		}
		if err := e.progress(len(pt) > 0); err != nil {
			return 0, nil, err
		}
		return len(rec), pt, nil
	case recordHandshake:
		if len(pt) == 0 {
			return 0, nil, e.fail(AlertUnexpectedMessage)
		}
		return len(rec), nil, e.handleHandshake(pt)
	case recordAlert:
		return len(rec), nil, e.handleAlert(pt)
	}
	return 0, nil, e.fail(AlertUnexpectedMessage)
}

// streamPlain passes in[at:at+k], part of an unprotected handshake record, to the handshake layer.
func (e *Engine) streamPlain(in []byte, at, k int) (int, []byte, error) {
	e.plainLeft -= int32(k)
	if k > 0 {
		if err := e.handleHandshake(in[at : at+k]); err != nil {
			return 0, nil, err
		}
	}
	if e.plainLeft > 0 && e.rdOn {
		return 0, nil, e.fail(AlertUnexpectedMessage) // the record runs across a key change
	}
	return at + k, nil, nil
}

// ccsAllowed reports whether a middlebox-compatibility change_cipher_spec may arrive now.
func (e *Engine) ccsAllowed() bool {
	if e.hs == hsDone {
		return false
	}
	if e.client {
		return true
	}
	return e.hs != sWaitCH
}

// interleaved reports whether a record of another type arrives while a TLS 1.3 handshake message
// is only partly received: RFC 8446 §5.1 "Handshake messages MUST NOT be interleaved with other
// record types" (TLS 1.2 does not forbid it, except for ChangeCipherSpec: see ccs12).
func (e *Engine) interleaved() bool { return !e.v12 && (len(e.hsBuf) > 0 || e.hsSkip > 0) }

// progress counts a record that moved nothing (useful false: an empty application data record,
// an ignored warning, a post-handshake message) and fails with unexpected_message after
// maxUseless of them in a row; a useful record resets the count.
func (e *Engine) progress(useful bool) error {
	if useful {
		e.useless = 0
		return nil
	}
	if e.useless++; e.useless > maxUseless {
		return e.fail(AlertUnexpectedMessage)
	}
	return nil
}

// handleAlert handles a received alert (RFC 8446 §6, RFC 5246 §7.2). An alert is exactly two
// bytes (one alert per record, §5.1). A level other than warning(1) or fatal(2) is answered with
// illegal_parameter (as OpenSSL and BoringSSL do). close_notify closes the peer's direction;
// user_canceled at warning level is ignored (§6.1: a close_notify should follow). In TLS 1.3 every
// other alert, known or not, is an error alert whatever its level (§6); in TLS 1.2 a warning is
// ignored unless RFC 5246 §7.2.2 says its description is always fatal. Ignored alerts count
// towards maxUseless.
func (e *Engine) handleAlert(b []byte) error {
	if len(b) != 2 {
		return e.fail(AlertDecodeError)
	}
	level, desc := b[0], b[1]
	if level != 1 && level != 2 {
		return e.fail(AlertIllegalParameter)
	}
	switch {
	case desc == AlertCloseNotify:
		e.closeRx = true
		e.shrinkHS(true)
		if e.state == Established || e.state == Closed {
			e.state = Closed
			return io.EOF
		}
		e.state, e.alert, e.errKind = Failed, AlertCloseNotify, errRemote
		return e.Err()
	case level == 1 && (desc == AlertUserCanceled || (e.v12 && !alwaysFatal12(desc))):
		if e.interleaved() {
			return e.fail(AlertUnexpectedMessage) // §5.1; a fatal alert is taken as it is
		}
		return e.progress(false)
	}
	e.state, e.alert, e.errKind = Failed, desc, errRemote
	e.shrinkHS(true)
	return e.Err()
}

// alwaysFatal12 reports whether RFC 5246 §7.2.2 says an alert is always fatal (so a TLS 1.2
// warning with it still ends the connection).
func alwaysFatal12(desc uint8) bool {
	switch desc {
	case AlertUnexpectedMessage, AlertBadRecordMAC, 21 /* decryption_failed */, AlertRecordOverflow,
		30 /* decompression_failure */, AlertHandshakeFailure, AlertIllegalParameter, AlertUnknownCA,
		49 /* access_denied */, AlertDecodeError, AlertDecryptError, AlertProtocolVersion,
		71 /* insufficient_security */, AlertInternalError, AlertUnsupportedExtension:
		return true
	}
	return false
}

// endsRecord reports whether a handshake message of type t must be the last bytes of its record:
// RFC 8446 §5.1 "Handshake messages MUST NOT span key changes ... Because the ClientHello,
// EndOfEarlyData, ServerHello, Finished, and KeyUpdate messages can immediately precede a key
// change, implementations MUST align these messages with a record boundary". A TLS 1.2 server
// applies the same to the client's ClientHello and Finished, which end the client's flights
// (nothing may follow them; a ChangeCipherSpec with pending handshake bytes is refused in ccs12).
// A TLS 1.2 client does not: RFC 5246 §7.4.1.1 lets a server send HelloRequest at any time.
func (e *Engine) endsRecord(t byte) bool {
	switch t {
	case typeClientHello:
		return true
	case typeFinished:
		return !e.v12 || !e.client
	case typeServerHello, typeEndOfEarlyData, typeKeyUpdate:
		return !e.v12
	}
	return false
}

// bigMessageType decides, from its header, about a handshake message bigger than the reassembly
// buffer (a server's ClientHello area, about 2.5 KB, or its 80-byte area after the hello; a
// client's 16 KiB): only hellos, EncryptedExtensions, Certificate, CertificateRequest,
// CertificateVerify, ServerKeyExchange and NewSessionTicket can be that big. The fixed-size ones
// (Finished, KeyUpdate, EndOfEarlyData, ServerHelloDone, HelloRequest, ClientKeyExchange) are
// malformed (decode_error); a type the engine does not know at all cannot be in order
// (RFC 8446 §4, RFC 5246 §7.4: unexpected_message). Either way no buffer grows for it.
func bigMessageType(t byte) uint8 {
	switch t {
	case typeClientHello, typeServerHello, typeEncryptedExtensions, typeCertificate, typeCertificateRequest,
		typeCertificateVerify, typeServerKeyExchange, typeNewSessionTicket:
		return 0
	case typeFinished, typeKeyUpdate, typeEndOfEarlyData, typeServerHelloDone, typeHelloRequest, typeClientKeyExchange:
		return AlertDecodeError
	}
	return AlertUnexpectedMessage
}

// serverMayGrow reports whether a server may grow its reassembly buffer for a message of type t
// (a client may for any type bigMessageType lets through): while it waits for a ClientHello, for
// that; after it, for the client's Certificate and CertificateVerify if it asked for them. Any
// other message would be refused by the state machine anyway (unexpected_message): it is refused
// at its header, before anything is allocated for it.
func (e *Engine) serverMayGrow(t byte) bool {
	if e.client || e.hsState == nil {
		return true
	}
	if e.helloArea {
		return t == typeClientHello
	}
	return e.cfg.ClientAuth != NoClientCert && (t == typeCertificate || t == typeCertificateVerify)
}

// growHS replaces the reassembly buffer by one of n bytes (at most hsLimit) holding what it held:
// a handshake message bigger than the usual ones (a ClientHello with ECH, a long certificate
// chain). The allocation happens only for such a message.
func (e *Engine) growHS(n int) bool {
	if b := e.cfg.HandshakeBudget; b != nil {
		if !b.acquire(e, e.hsBuf[:0], e.now()) {
			return false
		}
		e.bigHeld = true
	}
	nb := make([]byte, len(e.hsBuf), n)
	copy(nb, e.hsBuf)
	e.hsBuf = nb
	if e.hsState != nil {
		e.hsGrown = true
	}
	return true
}

// helloDone reports whether a server has just processed a ClientHello (of type t) reassembled in
// the ClientHello area of its handshake slab (or in a buffer grown from it).
func (e *Engine) helloDone(t byte) bool {
	return !e.client && e.hsState != nil && e.helloArea && t == typeClientHello && e.state != Failed
}

// nextHelloArea makes the ClientHello area, after a HelloRetryRequest, start a gap behind the
// records queued (the HelloRetryRequest and a change_cipher_spec, which may still wait for
// Output), so that ClientHello2 is reassembled, and its answer staged, as the first one was.
func (e *Engine) nextHelloArea() {
	if e.bigHeld {
		e.cfg.HandshakeBudget.release(e)
		e.bigHeld = false
	}
	e.hsGrown = false
	end := cap(e.out)
	off := min(len(e.out)+int(e.helloGap), end)
	e.chOff = int32(off)
	e.hsBuf = e.out[off:off:min(end, off+int(e.hsLimit))]
}

// leaveHelloArea moves a server's reassembly buffer from the ClientHello area (or the buffer grown
// for a big ClientHello, whose HandshakeBudget slot is given back) to the small area that takes
// the client's second flight (serverMemory). The parsed ClientHello lived on the stack of its
// processing (serverClientHello): nothing refers to the old buffer any more.
func (e *Engine) leaveHelloArea() {
	if e.bigHeld {
		e.cfg.HandshakeBudget.release(e)
		e.bigHeld = false
	}
	e.helloArea, e.hsGrown = false, false
	e.hsBuf = e.small[:0]
}

// shrinkHS gives a grown buffer back to the budget once what it holds fits the engine's own
// buffer again (force: at once, its content dropped, when the engine fails or closes). Nothing
// else refers to the big buffer (a parsed ClientHello lives only on the stack of its processing),
// so it is really freed.
func (e *Engine) shrinkHS(force bool) {
	if !e.bigHeld {
		return
	}
	b := e.cfg.HandshakeBudget
	if !force {
		// keep it while the next message, or the bytes already here, need it
		small := b.small(e)
		if len(e.hsBuf) > cap(small) {
			return
		}
		if len(e.hsBuf) >= 4 && 4+(int(e.hsBuf[1])<<16|int(e.hsBuf[2])<<8|int(e.hsBuf[3])) > cap(small) {
			return
		}
	}
	small := b.release(e)
	e.bigHeld = false
	if e.hsState != nil {
		e.hsGrown = false
	}
	if force || small == nil {
		e.hsBuf = small
	} else {
		e.hsBuf = append(small[:0], e.hsBuf...)
	}
}

// handleHandshake reassembles handshake messages and processes every complete one.
func (e *Engine) handleHandshake(p []byte) error {
	if e.bigLost {
		return e.fail(AlertInternalError) // its HandshakeBudget slot was taken back (lease)
	}
	for len(p) > 0 {
		if e.hsSkip > 0 { // the rest of a refused post-handshake message
			k := min(len(p), int(e.hsSkip))
			e.hsSkip -= int32(k)
			p = p[k:]
			continue
		}
		if e.hsSmall && cap(e.hsBuf) == 0 {
			e.lendPost()
		}
		// append what fits, process, repeat (the buffer grows for a big message, see below)
		k := min(len(p), cap(e.hsBuf)-len(e.hsBuf))
		if k == 0 {
			return e.fail(AlertInternalError) // unreachable: a message never exceeds the buffer
		}
		e.hsBuf = append(e.hsBuf, p[:k]...)
		p = p[k:]
		for len(e.hsBuf) >= 4 {
			mlen := int(e.hsBuf[1])<<16 | int(e.hsBuf[2])<<8 | int(e.hsBuf[3])
			if 4+mlen > cap(e.hsBuf) {
				if !e.hsSmall {
					if a := bigMessageType(e.hsBuf[0]); a != 0 {
						return e.fail(a) // refused at its header: nothing is allocated for it
					}
					if !e.serverMayGrow(e.hsBuf[0]) {
						return e.fail(AlertUnexpectedMessage) // not one the server waits for
					}
					if 4+mlen > int(e.hsLimit) {
						return e.fail(AlertIllegalParameter) // see DefaultMaxHandshakeMessage
					}
					if !e.growHS(4 + mlen) {
						return e.fail(AlertInternalError) // HandshakeBudget exhausted (§6.2)
					}
					break
				}
				if a := e.postHandshakeBig(e.hsBuf[0]); a != 0 {
					return e.fail(a)
				}
				if err := e.progress(false); err != nil {
					return err
				}
				e.hsSkip = int32(4 + mlen - len(e.hsBuf))
				e.hsBuf = e.hsBuf[:0]
				break
			}
			if len(e.hsBuf) < 4+mlen {
				break
			}
			msg := e.hsBuf[:4+mlen]
			t := msg[0]
			rdBefore := e.rd.aead
			post := e.hs == hsDone
			var a uint8
			if post {
				a = e.postHandshake(msg)
			} else if e.v12 && e.client {
				a = e.client12Message(msg)
			} else if e.v12 {
				a = e.server12Message(msg)
			} else if e.client {
				a = e.clientMessage(msg)
			} else {
				a = e.serverMessage(msg)
			}
			if a != 0 {
				return e.fail(a)
			}
			if e.helloDone(t) {
				// The ClientHello's bytes are dead (its answer is staged over them): the
				// reassembly buffer moves to the small area, or, after a HelloRetryRequest, to a
				// new ClientHello area behind the records. Nothing may follow the hello in its
				// record (§5.1, see endsRecord).
				extra := len(e.hsBuf) > 4+mlen
				if e.hs == sWaitCH2 {
					e.nextHelloArea()
				} else {
					e.leaveHelloArea()
				}
				if extra {
					return e.fail(AlertUnexpectedMessage)
				}
			} else {
				rest := copy(e.hsBuf, e.hsBuf[4+mlen:])
				e.hsBuf = e.hsBuf[:rest]
				if e.bigHeld {
					e.shrinkHS(false)
				}
			}
			if (e.rd.aead != rdBefore || e.endsRecord(t)) && (len(e.hsBuf) > 0 || len(p) > 0 || e.plainLeft > 0) {
				return e.fail(AlertUnexpectedMessage) // data across a (possible) key change, §5.1
			}
			if e.state == Failed {
				return e.Err()
			}
			// an ignored HelloRequest (RFC 5246 §7.4.1.1) moves nothing either: it counts
			if err := e.progress(!post && t != typeHelloRequest); err != nil {
				return err
			}
			if e.hs == hsDone && !e.released {
				e.release()
			}
		}
	}
	return nil
}

// postHandshakeBig decides about a post-handshake message too big for a server's small buffer: a
// TLS 1.2 renegotiation ClientHello is refused with a no_renegotiation warning and skipped; in
// TLS 1.3 only KeyUpdate (5 bytes) may arrive, so anything else is fatal.
func (e *Engine) postHandshakeBig(typ byte) uint8 {
	if e.v12 {
		if typ == typeClientHello {
			return e.postHandshake12([]byte{typeClientHello, 0, 0, 0})
		}
		return AlertUnexpectedMessage
	}
	if typ == typeKeyUpdate {
		return AlertDecodeError
	}
	return AlertUnexpectedMessage
}

// postHandshake handles KeyUpdate and NewSessionTicket after the handshake.
func (e *Engine) postHandshake(msg []byte) uint8 {
	if e.v12 {
		return e.postHandshake12(msg)
	}
	switch msg[0] {
	case typeKeyUpdate:
		if len(msg) != 5 {
			return AlertDecodeError
		}
		if msg[4] > 1 {
			return AlertIllegalParameter
		}
		if err := e.rd.update(&e.ks, e.suite); err != nil {
			return AlertInternalError
		}
		// §4.6.3: several update_requested while we are silent are answered with one KeyUpdate;
		// kuQueued is cleared when we send application data (Wrap).
		if msg[4] == 1 && !e.kuQueued && !e.closeTx {
			e.kuQueued = true
			if e.sendKeyUpdate(0) != nil {
				return AlertInternalError
			}
		}
		return 0
	case typeNewSessionTicket:
		if e.client {
			return e.clientTicket(msg)
		}
	}
	return AlertUnexpectedMessage
}

// installKeys sets a traffic secret for reading or writing.
func (e *Engine) installRead(secret []byte) uint8 {
	if e.rd.setKey(&e.ks, e.suite, secret) != nil {
		return AlertInternalError
	}
	e.rdOn = true
	return 0
}

func (e *Engine) installWrite(secret []byte) uint8 {
	if e.wr.setKey(&e.ks, e.suite, secret) != nil {
		return AlertInternalError
	}
	e.wrOn = true
	return 0
}

// wipeHandshakeSecrets clears the secrets that are no longer needed once the traffic keys are
// installed (the traffic secrets stay in the halfConns for KeyUpdate; a client keeps the resumption
// master secret for tickets).
func (e *Engine) wipeHandshakeSecrets() {
	k := &e.ks
	clear(e.ss[:])
	clear(e.psk[:])
	clear(k.secret[:])
	clear(k.cHS[:])
	clear(k.sHS[:])
	clear(k.cAP[:])
	clear(k.sAP[:])
	clear(k.fk[:])
	clear(k.derived[:])
	clear(e.sigContent[:])
	e.kex = kexState{}
}

// applyLimits recomputes the largest plaintext we send per record.
func (e *Engine) applyLimits() {
	m := e.cfgOut
	if e.peerRSL > 0 {
		m = min(m, e.peerRSL-1)
	}
	if e.mfl > 0 {
		m = min(m, e.mfl)
	}
	e.maxOut = m
}
