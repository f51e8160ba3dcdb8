// Package store is the card's non-volatile memory: a fixed-size image (like a
// card's EEPROM) kept on a byte-addressed Medium and updated only through
// tear-safe transactions.
//
// # Image format (version 1)
//
//	0      superblock, 64 bytes: magic "NCSTORE\x00", version, geometry, CRC-32C
//	64     secure area: two shadow slots of 128 bytes (PIN, PUK, retry
//	       counters, backoff times; body format 2, format 1 still read)
//	320    data area: two shadow slots (key, certificates, anchors, files,
//	       configuration, admin credential, change log)
//
// The identity key is a P-256 scalar (record 1, 32 bytes) or, since RSA
// identities, an RSA private key in PKCS #1 DER (record 11, ≈ 1.2 KB for
// RSA-2048, at most 2560 bytes; never both). Images without record 11 read
// exactly as before; a build without RSA support refuses an image that has
// one (unknown record type). An RSA-2048 identity with its self-signed
// certificate needs ≈ 2.1 KB of the data area, so images below 8 KiB cannot
// hold one (the transaction fails with ErrFull and changes nothing).
//
// Each slot starts with a 24-byte commit record: "SLOT", a 64-bit sequence
// number, the body length, the body's CRC-32C and the record's own CRC-32C.
// A transaction serialises the whole new state of one area into the slot that
// is not current: it writes the body, syncs, then writes the commit record
// and syncs again. On Open the valid slot with the highest sequence number
// wins, so a power cut at any byte of any write leaves either the old state
// (the new record is incomplete or its checksums fail) or the new one.
//
// The PIN retry counter is decremented, and the time before which no
// further attempt is compared (the backoff, PINDelay) set, and that
// committed before the PIN is compared, so tearing the card cannot buy
// extra guesses nor skip a wait. The PUK likewise: its failure count and
// backoff (PUKDelay: 1 min doubling to 24 h) are committed before the
// comparison; the PUK never blocks for good, so no attacker can lock the
// owner out, and unblocking is refused (nothing used) while the PIN is not
// blocked. The backoff uses the clock given with SetClock; a stored time
// further ahead than its backoff (the clock went back) is brought back to
// now plus the backoff.
//
// The identity private key (ECDSA P-256 or RSA-2048) is generated inside the
// package from an injected random source — RSA primes are drawn here, as
// Go's rsa.GenerateKey ignores its reader — and stored in the image; no
// exported API returns it: callers get a crypto.Signer.
//
// The package owns no goroutines, takes no locks and never reads the clock or
// crypto/rand: randomness is passed in and the clock is set with SetClock.
// A Store is not safe for concurrent use.
package store
