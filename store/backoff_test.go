package store

import (
	"errors"
	"math/rand/v2"
	"testing"
	"time"
)

// fakeClock is an injected clock the test moves by hand.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time { return c.t }

func timedStore(t *testing.T) (*Store, *MemMedium, *fakeClock) {
	t.Helper()
	m := NewMemMedium(4096)
	s, err := CreateMedium(m, 4096, seeded(1))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.InitPIN([]byte("4711"), []byte("31415926")); err != nil {
		t.Fatal(err)
	}
	c := &fakeClock{t: t0}
	s.SetClock(c.now)
	return s, m, c
}

// TestPINBackoff: a wrong PIN sets a wait (2 s, then 4 s) during which
// attempts are refused without using a try; the wait survives a restart;
// the right PIN after the wait restores everything.
func TestPINBackoff(t *testing.T) {
	s, m, c := timedStore(t)
	var pe *PINError
	if err := s.VerifyPIN([]byte("0000")); !errors.As(err, &pe) || pe.Remaining != 2 || pe.Wait != 2*time.Second {
		t.Fatal(err)
	}
	c.t = c.t.Add(1999 * time.Millisecond)
	var we *WaitError
	if err := s.VerifyPIN([]byte("4711")); !errors.As(err, &we) || !errors.Is(err, ErrTooSoon) || we.Wait != time.Millisecond || s.PINTriesLeft() != 2 {
		t.Fatalf("attempt during the backoff: %v, tries %d", err, s.PINTriesLeft())
	}
	// A restart does not end the wait.
	s2, err := OpenMedium(m)
	if err != nil {
		t.Fatal(err)
	}
	s2.SetClock(c.now)
	if err := s2.VerifyPIN([]byte("4711")); !errors.Is(err, ErrTooSoon) {
		t.Fatalf("restart skipped the backoff: %v", err)
	}
	c.t = c.t.Add(time.Millisecond)
	if err := s2.VerifyPIN([]byte("0000")); !errors.As(err, &pe) || pe.Remaining != 1 || pe.Wait != 4*time.Second {
		t.Fatal(err)
	}
	c.t = c.t.Add(4 * time.Second)
	if err := s2.VerifyPIN([]byte("4711")); err != nil || s2.PINTriesLeft() != PINTries || s2.PINReady() != nil {
		t.Fatalf("right PIN after the wait: %v", err)
	}
}

// TestUnblockOnlyWhenBlocked: unblocking a PIN that is not blocked is
// refused before any PUK comparison (no failure counted, wrong or right
// PUK alike), so nobody can spend PUK attempts while the PIN is fine.
func TestUnblockOnlyWhenBlocked(t *testing.T) {
	s, _, _ := timedStore(t)
	for _, puk := range []string{"00000000", "31415926"} {
		if err := s.UnblockPIN([]byte(puk), []byte("2580")); err != ErrPINNotBlocked || s.PUKFailures() != 0 || s.ss.pukWait != 0 {
			t.Fatalf("unblock of a PIN that is not blocked: %v, failures %d", err, s.PUKFailures())
		}
	}
	if err := s.UnblockReady(); err != ErrPINNotBlocked {
		t.Fatal(err)
	}
}

// TestPUKBackoffDay plays a patient attacker for 30 days against a
// blocked PIN, trying a wrong PUK the moment each wait ends, and counts
// the comparisons the card made: 11 in the first day, then one a day.
// The owner's right PUK then works after at most MaxPUKDelay.
func TestPUKBackoffDay(t *testing.T) {
	s, m, c := timedStore(t)
	for s.PINTriesLeft() > 0 {
		s.VerifyPIN([]byte("0000"))
		c.t = c.t.Add(10 * time.Second)
	}
	start := c.t
	perDay := map[int]int{}
	refused := 0
	for c.t.Sub(start) < 30*24*time.Hour {
		err := s.UnblockPIN([]byte("00000000"), []byte("2580"))
		var we *WaitError
		switch {
		case errors.Is(err, ErrWrongPIN):
			perDay[int(c.t.Sub(start)/(24*time.Hour))]++
		case errors.As(err, &we):
			refused++
			if we.Wait <= 0 || we.Wait > MaxPUKDelay {
				t.Fatalf("wait %v", we.Wait)
			}
			if refused%3 == 0 { // now and then a restart, and an early retry
				s, _ = OpenMedium(m)
				s.SetClock(c.now)
				c.t = c.t.Add(we.Wait / 2)
				continue
			}
			c.t = we.Until
		default:
			t.Fatal(err)
		}
	}
	if perDay[0] != 11 {
		t.Fatalf("PUK comparisons in the first day: %d, want 11 (%v)", perDay[0], perDay)
	}
	for d := 2; d < 30; d++ {
		if perDay[d] > 1 {
			t.Fatalf("day %d: %d PUK comparisons", d, perDay[d])
		}
	}
	// The owner, just after the attacker's latest try: refused while the
	// wait runs, then recovers.
	for {
		var we *WaitError
		err := s.UnblockPIN([]byte("00000000"), []byte("2580"))
		if !errors.As(err, &we) {
			break
		}
		c.t = we.Until
	}
	err := s.UnblockPIN([]byte("31415926"), []byte("2580"))
	var we *WaitError
	if !errors.As(err, &we) || we.Wait > MaxPUKDelay {
		t.Fatalf("owner during the wait: %v", err)
	}
	c.t = we.Until
	if err := s.UnblockPIN([]byte("31415926"), []byte("2580")); err != nil || s.PUKFailures() != 0 || s.VerifyPIN([]byte("2580")) != nil {
		t.Fatalf("owner's right PUK after the wait: %v", err)
	}
	t.Logf("PUK comparisons per day: %v", perDay)
}

// TestBackoffClockBack: a host clock set back (or a stored time from a
// clock that ran ahead) never makes the owner wait longer than the
// schedule: the stored time is brought back to now + the backoff.
func TestBackoffClockBack(t *testing.T) {
	s, m, c := timedStore(t)
	for s.PINTriesLeft() > 0 {
		s.VerifyPIN([]byte("0000"))
		c.t = c.t.Add(10 * time.Second)
	}
	s.UnblockPIN([]byte("00000000"), []byte("2580")) // 1 min
	c.t = c.t.Add(-365 * 24 * time.Hour)
	var we *WaitError
	if err := s.UnblockPIN([]byte("31415926"), []byte("2580")); !errors.As(err, &we) || we.Wait != time.Minute {
		t.Fatalf("after the clock went back a year: %v", err)
	}
	s2, _ := OpenMedium(m) // the clamp was committed
	s2.SetClock(c.now)
	c.t = c.t.Add(time.Minute)
	if err := s2.UnblockPIN([]byte("31415926"), []byte("2580")); err != nil {
		t.Fatal(err)
	}
}

// TestChangePUK: the old PUK is checked (counted, slowed) and the new one
// must be acceptable.
func TestChangePUK(t *testing.T) {
	s, _, c := timedStore(t)
	if err := s.ChangePUK([]byte("31415926"), []byte("11111111")); err != ErrWeakPIN {
		t.Fatal(err)
	}
	if err := s.ChangePUK([]byte("00000000"), []byte("27182818")); !errors.Is(err, ErrWrongPIN) || s.PUKFailures() != 1 {
		t.Fatal(err)
	}
	if err := s.ChangePUK([]byte("31415926"), []byte("27182818")); !errors.Is(err, ErrTooSoon) || s.PUKFailures() != 1 {
		t.Fatal(err)
	}
	c.t = c.t.Add(time.Minute)
	if err := s.ChangePUK([]byte("31415926"), []byte("27182818")); err != nil || s.PUKFailures() != 0 {
		t.Fatal(err)
	}
	for s.PINTriesLeft() > 0 {
		s.VerifyPIN([]byte("0000"))
		c.t = c.t.Add(10 * time.Second)
	}
	if err := s.UnblockPIN([]byte("31415926"), []byte("2580")); !errors.Is(err, ErrWrongPIN) {
		t.Fatal("the old PUK still works:", err)
	}
	c.t = c.t.Add(time.Minute)
	if err := s.UnblockPIN([]byte("27182818"), []byte("2580")); err != nil {
		t.Fatal(err)
	}
}

func TestWeakPIN(t *testing.T) {
	for _, p := range []string{"0000", "1234", "4321", "12345678", "87654321", "7890123", "99999999", "9012"} {
		if !WeakPIN([]byte(p)) {
			t.Errorf("%s not weak", p)
		}
	}
	for _, p := range []string{"4711", "31415926", "1235", "abcd", "2580", "12345679"} {
		if WeakPIN([]byte(p)) {
			t.Errorf("%s weak", p)
		}
	}
	if err := CheckPINFormat([]byte("1234"), []byte("31415926")); err != ErrWeakPIN {
		t.Fatal(err)
	}
	if err := CheckPINFormat([]byte("4711"), []byte("3141592")); err != ErrBadPIN {
		t.Fatal(err)
	}
}

// TestAdminSecretEntropy: weak secrets are refused, generated-looking ones
// accepted.
func TestAdminSecretEntropy(t *testing.T) {
	s, _, _ := timedStore(t)
	for _, w := range []string{"", "s3cret-admin", "correcthorsebatterystaple", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
		"0123456789abcdef", "abababababababababababababababababab",
		// Periodic and sequential secrets (issue 13 review: these scored
		// 133-237 bits and were accepted).
		"abcdefghabcdefghabcdefghabcdefgh", "0123456789012345678901234567890123456789",
		"abcdefghijklmnopqrstuvwxyzabcdef", "ABCDabcd1234ABCDabcd1234ABCDabcd1234",
		"Passw0rd!Passw0rd!Passw0rd!Passw0rd!", "correcthorsebatterystaplecorrecthorse"} {
		if err := s.SetAdminSecret([]byte(w)); err != ErrWeakSecret {
			t.Errorf("%q accepted: %v", w, err)
		}
	}
	for _, g := range []string{"Zq3-vT8pL0xW_m4RkY7nB2cH", "0f3a9c1be84d7265a0c3e91f5b7d2846", "kT2vQ9xL4mN7pR1sW8yZ3bC6dF0gH5jA"} {
		if err := s.SetAdminSecret([]byte(g)); err != nil {
			t.Errorf("%q (%.0f bits) refused: %v", g, SecretBits([]byte(g)), err)
		}
	}
	if err := s.SetAdminSecret(nil); err != nil {
		t.Fatal(err)
	}
}

// TestAdminSecretRandomKept: the repeat and run rules of SecretBits cost
// random secrets (almost) nothing: of 20,000 random base64url secrets of
// the documented minimum (22 characters) at most 0.1 % are refused for a
// repeat or a run (some more are, as before, for using few character
// classes), and none of the generator's length (32).
func TestAdminSecretRandomKept(t *testing.T) {
	const b64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	rng := rand.New(rand.NewPCG(13, 13))
	refused := map[int]int{}
	for i := 0; i < 20000; i++ {
		for _, n := range []int{22, 32} {
			b := make([]byte, n)
			for k := range b {
				b[k] = b64[rng.IntN(64)]
			}
			bits := SecretBits(b)
			if bits < MinAdminSecretBits && bits*float64(n)/float64(effectiveLen(b)) >= MinAdminSecretBits {
				refused[n]++ // refused for a repeat or a run alone
			}
		}
	}
	t.Logf("refused of 20000: %v", refused)
	if refused[22] > 20 || refused[32] != 0 {
		t.Fatalf("random secrets refused: %v", refused)
	}
}

// TestSecureAreaFormat1: an image written before the backoff (format 1:
// PUK tries left) still opens; its tries become failures.
func TestSecureAreaFormat1(t *testing.T) {
	m := NewMemMedium(4096)
	s, _ := CreateMedium(m, 4096, seeded(1))
	s.InitPIN([]byte("4711"), []byte("31415926"))
	ss := s.ss
	v1 := ss.encode()[:secBodyLen1]
	v1[0], v1[3] = 1, PUKTries-3
	if err := s.sec.commit(m, v1); err != nil {
		t.Fatal(err)
	}
	s2, err := OpenMedium(m)
	if err != nil {
		t.Fatal(err)
	}
	if s2.PUKFailures() != 3 || s2.PINTriesLeft() != PINTries || s2.VerifyPIN([]byte("4711")) != nil {
		t.Fatalf("format 1: failures %d", s2.PUKFailures())
	}
	v1[3] = PUKTries + 1
	s2.sec.commit(m, v1)
	if _, err := OpenMedium(m); !errors.Is(err, ErrCorrupt) {
		t.Fatal("format 1 counter out of range accepted:", err)
	}
}
