package store

import (
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"time"
)

// PIN errors.
var (
	ErrPINNotSet     = errors.New("store: PIN not initialised")
	ErrPINSet        = errors.New("store: PIN already initialised")
	ErrPINBlocked    = errors.New("store: PIN blocked")
	ErrPINNotBlocked = errors.New("store: PIN not blocked: nothing to unblock")
	ErrWrongPIN      = errors.New("store: wrong PIN")
	ErrBadPIN        = errors.New("store: PIN or PUK length out of range")
	ErrWeakPIN       = errors.New("store: PIN or PUK too easy to guess (all one digit or a run)")
	// ErrTooSoon is matched (errors.Is) by *WaitError.
	ErrTooSoon = errors.New("store: too soon after a wrong attempt")
)

// PIN and PUK length limits in bytes.
const (
	MinPINLen = 4
	MaxPINLen = 16
	MinPUKLen = 8
	MaxPUKLen = 16
)

// PINError reports a failed comparison. It matches ErrWrongPIN with
// errors.Is.
type PINError struct {
	PUK       bool          // the PUK, not the PIN, was wrong
	Remaining int           // PIN: tries left before blocking (PUK: 0, it never blocks)
	Failures  int           // consecutive wrong attempts, this one included
	Wait      time.Duration // no further attempt of this kind before this has passed
}

func (e *PINError) Error() string {
	if e.PUK {
		return fmt.Sprintf("store: wrong PUK (%d in a row), next try in %v", e.Failures, e.Wait)
	}
	return fmt.Sprintf("store: wrong PIN, %d tries left", e.Remaining)
}

// Is makes errors.Is(err, ErrWrongPIN) true.
func (e *PINError) Is(target error) bool { return target == ErrWrongPIN }

// WaitError refuses an attempt made during the backoff that follows a wrong
// one; no try was used and nothing was compared. It matches ErrTooSoon.
type WaitError struct {
	PUK   bool
	Until time.Time     // the earliest time of the next attempt
	Wait  time.Duration // Until minus the time of the refused attempt
}

func (e *WaitError) Error() string {
	what := "PIN"
	if e.PUK {
		what = "PUK"
	}
	return fmt.Sprintf("store: %s attempts are slowed after wrong ones: retry in %v", what, e.Wait)
}

// Is makes errors.Is(err, ErrTooSoon) true.
func (e *WaitError) Is(target error) bool { return target == ErrTooSoon }

// PINDelay is the wait imposed after the n-th consecutive wrong PIN
// (n ≥ 1): 2 s, 4 s (the third blocks the PIN).
func PINDelay(n int) time.Duration {
	if n <= 0 {
		return 0
	}
	return time.Second << min(n, 3)
}

// MaxPUKDelay caps the PUK backoff.
const MaxPUKDelay = 24 * time.Hour

// PUKDelay is the wait imposed after the n-th consecutive wrong PUK
// (n ≥ 1): 1 min, doubling with each further wrong one, at most
// MaxPUKDelay (from the 12th on). The n-th attempt of a run therefore
// comes at least 2^(n-1)-1 minutes after the first: 11 attempts in the
// first day (the 11th after 17 h 3 min, the 12th after 34 h 7 min), then
// one a day. The PUK never blocks for good: the owner with the right PUK
// can always recover, after at most MaxPUKDelay.
func PUKDelay(n int) time.Duration {
	if n <= 0 {
		return 0
	}
	if n > 11 {
		return MaxPUKDelay
	}
	return min(time.Minute<<(n-1), MaxPUKDelay)
}

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

// PUKFailures reports the consecutive wrong PUKs since the last right one
// (it sets the PUK backoff, PUKDelay).
func (s *Store) PUKFailures() int { return int(s.ss.pukFails) }

// WeakPIN reports whether a numeric PIN or PUK is one an attacker tries
// first: every digit the same (0000) or an ascending or descending run
// (1234, 87654321). Non-numeric secrets are not judged.
func WeakPIN(p []byte) bool {
	if len(p) < 2 {
		return true
	}
	same, up, down := true, true, true
	for i := 1; i < len(p); i++ {
		if p[i] < '0' || p[i] > '9' || p[0] < '0' || p[0] > '9' {
			return false
		}
		same = same && p[i] == p[0]
		up = up && p[i] == '0'+(p[i-1]-'0'+1)%10
		down = down && p[i] == '0'+(p[i-1]-'0'+9)%10
	}
	return same || up || down
}

// CheckPINFormat reports whether pin and puk are acceptable as new
// secrets: lengths within the limits and neither WeakPIN.
func CheckPINFormat(pin, puk []byte) error {
	if len(pin) < MinPINLen || len(pin) > MaxPINLen || len(puk) < MinPUKLen || len(puk) > MaxPUKLen {
		return ErrBadPIN
	}
	if WeakPIN(pin) || WeakPIN(puk) {
		return ErrWeakPIN
	}
	return nil
}

func checkNewPIN(pin []byte) error {
	if len(pin) < MinPINLen || len(pin) > MaxPINLen {
		return ErrBadPIN
	}
	if WeakPIN(pin) {
		return ErrWeakPIN
	}
	return nil
}

// InitPIN sets the initial PIN and PUK (personalisation), once.
func (s *Store) InitPIN(pin, puk []byte) error {
	if s.ss.pinSet {
		return ErrPINSet
	}
	if err := CheckPINFormat(pin, puk); err != nil {
		return err
	}
	ns := s.ss
	ns.pinSet = true
	ns.pinTries, ns.pukFails = PINTries, 0
	ns.pinWait, ns.pukWait = 0, 0
	ns.pinHash = s.hashSecret("pin", pin)
	ns.pukHash = s.hashSecret("puk", puk)
	return s.updateSec(ns)
}

// gate decides whether an attempt may be compared at now against the
// stored "not before" time *wait (Unix milliseconds, 0: none) of a run
// of fails wrong attempts, whose backoff is delay(fails). Without a clock
// (SetClock), or while it reads the zero time, attempts are counted but not
// timed. A stored time further
// ahead than the backoff itself means the clock went back: it is brought
// to now + the backoff, and that committed, so the owner never waits
// longer than the schedule says (whatever the host clock does).
func (s *Store) gate(puk bool, now time.Time, fails int, delay func(int) time.Duration) error {
	if now.IsZero() {
		return nil
	}
	wait := &s.ss.pinWait
	if puk {
		wait = &s.ss.pukWait
	}
	t := now.UnixMilli()
	if *wait <= t {
		return nil
	}
	if max := delay(fails).Milliseconds(); *wait-t > max {
		ns := s.ss
		if puk {
			ns.pukWait = t + max
		} else {
			ns.pinWait = t + max
		}
		if err := s.updateSec(ns); err != nil {
			return err
		}
	}
	until := time.UnixMilli(*wait)
	return &WaitError{PUK: puk, Until: until, Wait: until.Sub(now)}
}

// nextWait is the "not before" time (Unix ms) after a wrong attempt at now.
func (s *Store) nextWait(now time.Time, d time.Duration) int64 {
	if now.IsZero() {
		return 0
	}
	return now.Add(d).UnixMilli()
}

// PINReady reports whether a PIN comparison may be made now, without
// making one: nil, ErrPINNotSet, ErrPINBlocked or a *WaitError (it may
// commit a clamped backoff, see gate).
func (s *Store) PINReady() error {
	if s.err != nil {
		return s.err
	}
	if !s.ss.pinSet {
		return ErrPINNotSet
	}
	if s.ss.pinTries == 0 {
		return ErrPINBlocked
	}
	return s.gate(false, s.now(), PINTries-int(s.ss.pinTries), PINDelay)
}

// checkPIN is the guarded comparison: the counter is decremented and the
// backoff's "not before" time set, and that state committed, before the
// comparison; only success resets them. It returns the state to commit on
// success.
func (s *Store) checkPIN(pin []byte) (secState, error) {
	if err := s.PINReady(); err != nil {
		return s.ss, err
	}
	now := s.now()
	ns := s.ss
	ns.pinTries--
	fails := PINTries - int(ns.pinTries)
	ns.pinWait = s.nextWait(now, PINDelay(fails))
	if err := s.updateSec(ns); err != nil {
		return s.ss, err
	}
	h := s.hashSecret("pin", pin)
	if subtle.ConstantTimeCompare(h[:], s.ss.pinHash[:]) != 1 {
		return s.ss, &PINError{Remaining: int(s.ss.pinTries), Failures: fails, Wait: PINDelay(fails)}
	}
	ns.pinTries, ns.pinWait = PINTries, 0
	return ns, nil
}

// VerifyPIN checks the PIN. Each call costs one try and sets the backoff
// (PINDelay), committed before the comparison; success restores all tries
// and clears the backoff. Errors: ErrPINNotSet, ErrPINBlocked, *WaitError
// (errors.Is ErrTooSoon; no try used), *PINError (errors.Is ErrWrongPIN),
// or a write error.
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
	if err := checkNewPIN(pin); err != nil {
		return err
	}
	ns, err := s.checkPIN(old)
	if err != nil {
		return err
	}
	ns.pinHash = s.hashSecret("pin", pin)
	return s.updateSec(ns)
}

// PUKReady reports whether a PUK comparison may be made now, without
// making one: nil, ErrPINNotSet or a *WaitError.
func (s *Store) PUKReady() error {
	if s.err != nil {
		return s.err
	}
	if !s.ss.pinSet {
		return ErrPINNotSet
	}
	return s.gate(true, s.now(), int(s.ss.pukFails), PUKDelay)
}

// UnblockReady reports whether UnblockPIN may compare a PUK now: nil,
// ErrPINNotSet, ErrPINNotBlocked or a *WaitError. Nothing is used.
func (s *Store) UnblockReady() error {
	if s.err != nil {
		return s.err
	}
	if s.ss.pinSet && s.ss.pinTries != 0 {
		return ErrPINNotBlocked
	}
	return s.PUKReady()
}

// checkPUK is the guarded PUK comparison: the failure count is raised and
// the backoff's "not before" time set, and that committed, before the
// comparison. It returns the state to commit on success (count and
// backoff cleared).
func (s *Store) checkPUK(puk []byte) (secState, error) {
	if err := s.PUKReady(); err != nil {
		return s.ss, err
	}
	now := s.now()
	ns := s.ss
	if ns.pukFails < 255 {
		ns.pukFails++
	}
	fails := int(ns.pukFails)
	ns.pukWait = s.nextWait(now, PUKDelay(fails))
	if err := s.updateSec(ns); err != nil {
		return s.ss, err
	}
	h := s.hashSecret("puk", puk)
	if subtle.ConstantTimeCompare(h[:], s.ss.pukHash[:]) != 1 {
		return s.ss, &PINError{PUK: true, Failures: fails, Wait: PUKDelay(fails)}
	}
	ns.pukFails, ns.pukWait = 0, 0
	return ns, nil
}

// UnblockPIN, only when the PIN is blocked (else ErrPINNotBlocked, and
// nothing is used), checks the PUK (the failure count raised and the
// backoff, PUKDelay, committed first) and on success sets a new PIN and
// restores the PIN tries and clears the PUK backoff in one transaction.
func (s *Store) UnblockPIN(puk, pin []byte) error {
	if err := checkNewPIN(pin); err != nil {
		return err
	}
	if err := s.UnblockReady(); err != nil {
		return err
	}
	ns, err := s.checkPUK(puk)
	if err != nil {
		return err
	}
	ns.pinTries, ns.pinWait = PINTries, 0
	ns.pinHash = s.hashSecret("pin", pin)
	return s.updateSec(ns)
}

// ChangePUK replaces the PUK after checking the old one (as UnblockPIN
// does: counted, slowed). Callers should have checked the PIN first, so
// that only the cardholder can spend PUK attempts (apps does).
func (s *Store) ChangePUK(old, puk []byte) error {
	if len(puk) < MinPUKLen || len(puk) > MaxPUKLen {
		return ErrBadPIN
	}
	if WeakPIN(puk) {
		return ErrWeakPIN
	}
	ns, err := s.checkPUK(old)
	if err != nil {
		return err
	}
	ns.pukHash = s.hashSecret("puk", puk)
	return s.updateSec(ns)
}
