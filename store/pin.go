package store

import (
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
)

// PIN errors.
var (
	ErrPINNotSet  = errors.New("store: PIN not initialised")
	ErrPINSet     = errors.New("store: PIN already initialised")
	ErrPINBlocked = errors.New("store: PIN blocked")
	ErrPUKBlocked = errors.New("store: PUK blocked")
	ErrWrongPIN   = errors.New("store: wrong PIN")
	ErrBadPIN     = errors.New("store: PIN or PUK length out of range")
)

// PIN and PUK length limits in bytes.
const (
	MinPINLen = 4
	MaxPINLen = 16
	MinPUKLen = 8
	MaxPUKLen = 16
)

// PINError reports a failed comparison and the tries left. It matches
// ErrWrongPIN with errors.Is.
type PINError struct {
	PUK       bool // the PUK, not the PIN, was wrong
	Remaining int  // tries left before blocking
}

func (e *PINError) Error() string {
	what := "PIN"
	if e.PUK {
		what = "PUK"
	}
	return fmt.Sprintf("store: wrong %s, %d tries left", what, e.Remaining)
}

// Is makes errors.Is(err, ErrWrongPIN) true.
func (e *PINError) Is(target error) bool { return target == ErrWrongPIN }

func (s *Store) hashSecret(label string, secret []byte) [32]byte {
	h := sha256.New()
	h.Write(s.ss.salt[:])
	h.Write([]byte(label))
	h.Write(secret)
	var out [32]byte
	h.Sum(out[:0])
	return out
}

// PINSet reports whether the PIN and PUK have been initialised.
func (s *Store) PINSet() bool { return s.ss.pinSet }

// PINTriesLeft reports the PIN retry counter (0 = blocked).
func (s *Store) PINTriesLeft() int { return int(s.ss.pinTries) }

// PUKTriesLeft reports the PUK retry counter (0 = blocked).
func (s *Store) PUKTriesLeft() int { return int(s.ss.pukTries) }

// InitPIN sets the initial PIN and PUK (personalisation), once.
func (s *Store) InitPIN(pin, puk []byte) error {
	if s.ss.pinSet {
		return ErrPINSet
	}
	if len(pin) < MinPINLen || len(pin) > MaxPINLen || len(puk) < MinPUKLen || len(puk) > MaxPUKLen {
		return ErrBadPIN
	}
	ns := s.ss
	ns.pinSet = true
	ns.pinTries, ns.pukTries = PINTries, PUKTries
	ns.pinHash = s.hashSecret("pin", pin)
	ns.pukHash = s.hashSecret("puk", puk)
	return s.updateSec(ns)
}

// checkPIN is the guarded comparison: the counter is decremented and that
// state committed before the comparison; only success resets it.
// It returns the state to commit on success.
func (s *Store) checkPIN(pin []byte) (secState, error) {
	if s.err != nil {
		return s.ss, s.err
	}
	if !s.ss.pinSet {
		return s.ss, ErrPINNotSet
	}
	if s.ss.pinTries == 0 {
		return s.ss, ErrPINBlocked
	}
	ns := s.ss
	ns.pinTries--
	if err := s.updateSec(ns); err != nil {
		return s.ss, err
	}
	h := s.hashSecret("pin", pin)
	if subtle.ConstantTimeCompare(h[:], s.ss.pinHash[:]) != 1 {
		return s.ss, &PINError{Remaining: int(s.ss.pinTries)}
	}
	ns.pinTries = PINTries
	return ns, nil
}

// VerifyPIN checks the PIN. Each call costs one try, committed before the
// comparison; success restores all tries. Errors: ErrPINNotSet,
// ErrPINBlocked, *PINError (errors.Is ErrWrongPIN), or a write error.
func (s *Store) VerifyPIN(pin []byte) error {
	ns, err := s.checkPIN(pin)
	if err != nil {
		return err
	}
	return s.updateSec(ns)
}

// ChangePIN replaces the PIN after checking the old one (which costs a try
// as in VerifyPIN). The new PIN and the reset counter commit together.
func (s *Store) ChangePIN(old, pin []byte) error {
	if len(pin) < MinPINLen || len(pin) > MaxPINLen {
		return ErrBadPIN
	}
	ns, err := s.checkPIN(old)
	if err != nil {
		return err
	}
	ns.pinHash = s.hashSecret("pin", pin)
	return s.updateSec(ns)
}

// UnblockPIN checks the PUK (the PUK counter is decremented and committed
// first; PUKTries tries) and on success sets a new PIN and restores both
// counters in one transaction.
func (s *Store) UnblockPIN(puk, pin []byte) error {
	if s.err != nil {
		return s.err
	}
	if len(pin) < MinPINLen || len(pin) > MaxPINLen {
		return ErrBadPIN
	}
	if !s.ss.pinSet {
		return ErrPINNotSet
	}
	if s.ss.pukTries == 0 {
		return ErrPUKBlocked
	}
	ns := s.ss
	ns.pukTries--
	if err := s.updateSec(ns); err != nil {
		return err
	}
	h := s.hashSecret("puk", puk)
	if subtle.ConstantTimeCompare(h[:], s.ss.pukHash[:]) != 1 {
		return &PINError{PUK: true, Remaining: int(s.ss.pukTries)}
	}
	ns.pukTries, ns.pinTries = PUKTries, PINTries
	ns.pinHash = s.hashSecret("pin", pin)
	return s.updateSec(ns)
}
