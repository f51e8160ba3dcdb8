package applet

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
	"unsafe"

	"netcard/http"
	"netcard/store"
)

// slot is one registered application and what the host keeps for it: 24
// bytes, held by value in Host.slots (one allocation for all of them; five
// built-ins fit the 128-byte size class).
// What does not change after Add (the application, its routes and
// manifest: name and quota too) is in reg, which a built-in shares with
// every card (AddBuiltin: read-only, ROM on a card); its store space is
// made from them for each call (Host.sp), and a built-in's App from the
// host's owner (Builtin.Bind).
type slot struct {
	reg *Builtin // read-only: shared (AddBuiltin) or the host's own (Add)
	// x is the timer and the outbound request, allocated at the first
	// Ctx.After, Manifest.Tick or Ctx.Fetch and kept (nil for an
	// application that never uses them, as most built-ins)
	x        *slotX
	requests uint32 // wraps after 2^32 requests (a status counter only)

	started      bool
	fetchPending bool // queued, not yet taken by the client
	fetchRunning bool // taken by the client, result due
	own          bool // reg was allocated by Add (counted in ControlBytes)
}

// slotX is the part of a slot only an application with a timer or an
// outbound request uses (16 bytes, counted in ControlBytes).
type slotX struct {
	timer int64         // Unix ns when Tick is due (0: disarmed)
	fetch *FetchRequest // the application's, valid until FetchDone
}

// ext returns s's slotX, allocating it at the first use (once per
// application: nothing in steady state).
func (s *slot) ext() *slotX {
	if s.x == nil {
		s.x = new(slotX)
	}
	return s.x
}

// timer is when Tick is due in Unix ns (0: disarmed).
func (s *slot) timer() int64 {
	if s.x == nil {
		return 0
	}
	return s.x.timer
}

// Builtin is an application's registration fixed when the card is built:
// its manifest, its routes and how to reach it. AddBuiltin keeps a
// pointer to it, so a package-level Builtin is shared, read-only, by every
// card (ROM on a real card) instead of being copied into each.
type Builtin struct {
	Manifest Manifest
	Routes   []Route
	// Bind returns the application of the host's owner (the value given
	// to AddBuiltin): it is called for each call into the application, so
	// it must not allocate (return a pointer, or a struct holding one
	// pointer, as the App).
	Bind func(owner any) App

	app App // an application registered with Add (Bind is nil)
}

// Host holds the card's applications and routes requests to them. It is
// driven from the card's single thread.
type Host struct {
	st    *store.Store
	rand  io.Reader
	slots []slot // by value: pointers into it stay valid (Add before serving; Grow first)
	ctx   Ctx    // reused for every call (calls never nest): no allocation per request
	// sp is the store space of the application being called (ctx.Store),
	// made from its manifest for the call; between calls, one without
	// access (no name, no quota), so that a pointer an application kept
	// past its call reaches no one's records.
	sp store.Space
	// owner is what the built-ins' Bind gets (AddBuiltin).
	owner any
}

// NewHost returns a host over the card's store; rand feeds signatures.
func NewHost(st *store.Store, rand io.Reader) *Host {
	return &Host{st: st, rand: rand, sp: st.SpaceOf("", 0)}
}

// space is the store space of s's application, as a value (nothing
// allocated): its manifest's name and quota, checked by add.
func (h *Host) space(s *slot) store.Space {
	return h.st.SpaceOf(s.reg.Manifest.Name, s.reg.Manifest.Quota)
}

// enter sets h.sp to s's space for a call and returns it (Ctx.Store);
// leave ends the call.
func (h *Host) enter(s *slot) *store.Space { h.sp = h.space(s); return &h.sp }
func (h *Host) leave()                     { h.sp = h.st.SpaceOf("", 0) }

// ControlBytes returns the bytes of the host's own state: its struct, the
// application list and one registration per application (RAM reports).
func (h *Host) ControlBytes() int {
	n := int(unsafe.Sizeof(*h)) + cap(h.slots)*int(unsafe.Sizeof(slot{}))
	for i := range h.slots {
		if h.slots[i].own {
			n += int(unsafe.Sizeof(Builtin{}))
		}
		if h.slots[i].x != nil {
			n += int(unsafe.Sizeof(slotX{}))
		}
	}
	return n
}

// Grow makes room for n more applications, so that adding them allocates
// the list once, at its size (appending one by one leaves a list rounded
// up to the next power of two). Applications are added before the host
// serves: a request in progress holds a pointer into the list.
func (h *Host) Grow(n int) { h.slots = slices.Grow(h.slots, n) }

// Add registers an application. The host keeps a copy of m and of its
// routes (a.Routes(), called once); see AddBuiltin to share them.
func (h *Host) Add(a App, m Manifest) error {
	if a == nil {
		return fmt.Errorf("applet: %q: no application", m.Name)
	}
	return h.add(&Builtin{Manifest: m, Routes: a.Routes(), app: a}, true)
}

// AddBuiltin registers the application b.Bind(owner), whose manifest and
// routes are b's. The host keeps a pointer to b and never modifies it: b
// must stay unchanged while the host lives (a package-level table, shared
// by every card of the build). Its application's Routes is not called.
// Every built-in of a host has the same owner (a pointer).
func (h *Host) AddBuiltin(owner any, b *Builtin) error {
	if b.Bind == nil || owner == nil {
		return fmt.Errorf("applet: %q: a built-in needs Bind and an owner", b.Manifest.Name)
	}
	if h.owner != nil && h.owner != owner {
		return fmt.Errorf("applet: %q: another owner than the host's other built-ins", b.Manifest.Name)
	}
	h.owner = owner
	return h.add(b, false)
}

// app returns s's application.
func (h *Host) app(s *slot) App {
	if s.reg.Bind != nil {
		return s.reg.Bind(h.owner)
	}
	return s.reg.app
}

func (h *Host) add(b *Builtin, own bool) error {
	m := &b.Manifest
	for i := range h.slots {
		if h.slots[i].reg.Manifest.Name == m.Name {
			return fmt.Errorf("applet: %q registered twice", m.Name)
		}
	}
	if m.Policy < NoKey || m.Policy > SignAlways {
		return fmt.Errorf("applet: %q: unknown policy %d", m.Name, m.Policy)
	}
	if m.RAM < 0 || m.RAM > math.MaxInt32 {
		return fmt.Errorf("applet: %q: RAM %d out of range", m.Name, m.RAM)
	}
	if _, err := h.st.Space(m.Name, m.Quota); err != nil { // checks the name and quota (the space is made per call)
		return err
	}
	h.slots = append(h.slots, slot{reg: b, own: own})
	return nil
}

const disabledKey = "app.disabled." // store config key prefix: "1" disables

// Enabled reports whether application name is enabled (registered and not
// disabled by the administrator).
func (h *Host) Enabled(name string) bool {
	for i := range h.slots {
		s := &h.slots[i]
		if s.reg.Manifest.Name == name {
			return h.enabled(s)
		}
	}
	return false
}

func (h *Host) enabled(s *slot) bool {
	if s.reg.Manifest.Fixed {
		return true
	}
	var buf [len(disabledKey) + store.MaxAppName]byte
	n := copy(buf[:], disabledKey)
	n += copy(buf[n:], s.reg.Manifest.Name)
	v, _ := h.st.ConfigBytes(buf[:n])
	return v != "1"
}

// SetEnabled enables or disables an application (kept in the store's
// configuration, so it survives a restart). A Fixed application cannot be
// disabled.
func (h *Host) SetEnabled(name string, on bool) error {
	for i := range h.slots {
		s := &h.slots[i]
		if s.reg.Manifest.Name != name {
			continue
		}
		if s.reg.Manifest.Fixed && !on {
			return fmt.Errorf("applet: %s cannot be disabled", name)
		}
		if on {
			if err := h.st.DeleteConfig(disabledKey + name); err != nil && !errors.Is(err, store.ErrNotFound) {
				return err
			}
			return nil
		}
		return h.st.SetConfig(disabledKey+name, "1")
	}
	return fmt.Errorf("applet: no application %q", name)
}

// Info describes one application for the admin and status.
type Info struct {
	Name       string
	Enabled    bool
	Routes     []Route
	StoreUsed  int
	StoreQuota int
	Records    int
	RAM        int
	Requests   uint64
	Policy     Policy
}

// Apps describes the registered applications, in registration order.
func (h *Host) Apps() []Info {
	out := make([]Info, 0, len(h.slots))
	for i := range h.slots {
		s := &h.slots[i]
		out = append(out, h.info(s))
	}
	return out
}

func (h *Host) info(s *slot) Info {
	ram := s.reg.Manifest.RAM
	if f, ok := h.app(s).(Footprinter); ok {
		ram = f.Footprint()
	}
	sp := h.space(s)
	return Info{Name: s.reg.Manifest.Name, Enabled: h.enabled(s), Routes: s.reg.Routes, StoreUsed: sp.Used(),
		StoreQuota: sp.Quota(), Records: sp.Len(), RAM: ram, Requests: uint64(s.requests), Policy: s.reg.Manifest.Policy}
}

// lookup returns the enabled-or-not application whose route matches
// longest (nil: none).
func (h *Host) lookup(m, p []byte) *slot {
	var best *slot
	bl := -1
	for i := range h.slots {
		s := &h.slots[i]
		for _, rt := range s.reg.Routes {
			if len(rt.Path) > bl && rt.match(m, p) {
				best, bl = s, len(rt.Path)
			}
		}
	}
	return best
}

func (h *Host) newCtx(s *slot, c *Conn, head bool) *Ctx {
	x := &h.ctx
	*x = Ctx{Now: c.Now, TLS: c.TLS, Remote: c.Remote, Head: head, Store: h.enter(s), h: h, s: s, conn: c}
	return x
}

// clearVerdict forgets the head call's verdict.
func (c *Conn) clearVerdict() {
	c.checked, c.pin, c.slot = false, false, nil
	c.vStatus, c.vMsg, c.vExtra = 0, "", ""
}

// Serve routes one request: the same admission for every application.
// With c.Head set (a request announcing a body, before any of it), the
// application's Head decides; a refusal sets c.Sink to http.RefuseBody and
// the answer call sends it. It reports false when no application has a
// route for the request (the caller answers 404).
func (h *Host) Serve(c *Conn, r *http.Request, w *http.ResponseWriter) bool {
	if c.Head {
		c.clearVerdict()
		c.Sink, c.Max = nil, 0
		s := h.lookup(r.Method, r.Path)
		if s == nil || !h.enabled(s) {
			return s != nil
		}
		hc, ok := h.app(s).(HeadChecker)
		if !ok {
			return true
		}
		x := h.newCtx(s, c, true)
		ans := hc.Head(x, r)
		h.leave()
		c.checked, c.slot = true, s
		// (clamped, never truncated: a refusal never becomes 0, "go on")
		c.vStatus, c.vMsg, c.vExtra = int32(min(max(ans.Status, math.MinInt32), math.MaxInt32)), ans.Msg, ans.Extra
		if ans.Status != 0 {
			c.Sink, c.Max = http.RefuseBody, 0
		}
		return true
	}
	// The head's verdict belongs to this request only if it announced a
	// body (a request without one had no head call).
	checked, pin, hs := c.checked, c.pin, c.slot
	verdict := Answer{Status: int(c.vStatus), Msg: c.vMsg, Extra: c.vExtra}
	c.clearVerdict()
	if !(r.ContentLength > 0 || r.Chunked) {
		checked, pin = false, false
	}
	if r.BodyErr == http.ErrBodyRefused {
		verdict.Write(w)
		return true
	}
	s := h.lookup(r.Method, r.Path)
	if s == nil {
		return false
	}
	if !h.enabled(s) {
		Text(w, 503, "application "+s.reg.Manifest.Name+" is disabled\n")
		return true
	}
	s.requests++
	x := h.newCtx(s, c, false)
	if checked && hs == s {
		x.pin = pin
	} else if hc, ok := h.app(s).(HeadChecker); ok {
		if ans := hc.Head(x, r); ans.Status != 0 {
			h.leave()
			ans.Write(w)
			return true
		}
	}
	h.app(s).Serve(x, r, w)
	h.leave()
	*x = Ctx{}
	return true
}

// timerAt is t as a slot's timer: Unix nanoseconds, clamped to what an
// int64 holds (an instant past 2262, or before 1678, is kept as the
// largest or smallest, not as UnixNano's overflowed value, which could
// fall due at once), and never 0 (which means disarmed).
func timerAt(t time.Time) int64 {
	switch {
	case t.After(maxTimer):
		return math.MaxInt64
	case t.Before(minTimer):
		return math.MinInt64
	}
	if n := t.UnixNano(); n != 0 {
		return n
	}
	return 1
}

// maxTimer and minTimer are the instants a timer can hold.
var maxTimer, minTimer = time.Unix(0, math.MaxInt64), time.Unix(0, math.MinInt64)

// Poll runs the timers that are due and returns the earliest one still
// armed (zero: none).
func (h *Host) Poll(now time.Time) time.Time {
	var next time.Time
	for i := range h.slots {
		s := &h.slots[i]
		tk, ok := h.app(s).(Ticker)
		if !ok {
			continue
		}
		if !s.started {
			s.started = true
			if t := s.reg.Manifest.Tick; t > 0 {
				s.ext().timer = timerAt(now.Add(t))
			}
		}
		if tm := s.timer(); tm != 0 && timerAt(now) >= tm && h.enabled(s) {
			s.x.timer = 0
			x := &h.ctx
			*x = Ctx{Now: now, Store: h.enter(s), h: h, s: s}
			tk.Tick(x)
			h.leave()
			*x = Ctx{}
		}
		if tm := s.timer(); tm != 0 && (next.IsZero() || tm < timerAt(next)) {
			next = time.Unix(0, tm)
		}
	}
	return next
}

// NextFetch hands the card's secure client the next queued outbound
// request (one at a time: none while a result is due).
func (h *Host) NextFetch() (FetchRequest, bool) {
	if h.running() != nil {
		return FetchRequest{}, false
	}
	for i := range h.slots {
		s := &h.slots[i]
		if s.fetchPending {
			s.fetchPending, s.fetchRunning = false, true
			return *s.x.fetch, true
		}
	}
	return FetchRequest{}, false
}

// SetFetchResult delivers the outcome of the request NextFetch handed out
// to its application's FetchDone.
func (h *Host) SetFetchResult(now time.Time, res FetchResult) {
	s := h.running()
	if s == nil {
		return
	}
	s.fetchRunning = false
	s.x.fetch = nil
	if f, ok := h.app(s).(Fetcher); ok {
		x := &h.ctx
		*x = Ctx{Now: now, Store: h.enter(s), h: h, s: s}
		f.FetchDone(x, res)
		h.leave()
		*x = Ctx{}
	}
}

// ---- the PIN, checked for any application ----

// BasicPassword extracts the password of an HTTP Basic Authorization field
// (RFC 7617 §2) into buf (the user name is ignored).
func BasicPassword(h []byte, buf []byte) ([]byte, bool) {
	const pfx = "basic "
	if len(h) < len(pfx) || !strings.EqualFold(string(h[:len(pfx)]), pfx) {
		return nil, false
	}
	v := bytes.TrimSpace(h[len(pfx):])
	if base64.StdEncoding.DecodedLen(len(v)) > len(buf) {
		return nil, false
	}
	n, err := base64.StdEncoding.Decode(buf, v)
	if err != nil {
		return nil, false
	}
	d := buf[:n]
	i := bytes.IndexByte(d, ':')
	if i < 0 {
		return nil, false
	}
	return d[i+1:], true
}

// BasicChallenge is the WWW-Authenticate line asking for the PIN.
const BasicChallenge = "WWW-Authenticate: Basic realm=\"netcard vault\", charset=\"UTF-8\"\r\n"

// TooSoon is the answer to an attempt during the backoff after a wrong PIN
// or PUK: 429 with Retry-After in whole seconds, rounded up (RFC 6585 §4,
// RFC 9110 §10.2.3). Nothing was compared and no try was used.
func TooSoon(we *store.WaitError) Answer {
	what := "PIN"
	if we.PUK {
		what = "PUK"
	}
	s := int((we.Wait + time.Second - 1) / time.Second)
	return Answer{429, "too soon after a wrong " + what + ": retry in " + strconv.Itoa(s) + " s (no try was used)\n",
		"Retry-After: " + strconv.Itoa(s) + "\r\n"}
}

// Answers about the PIN's state.
var (
	AnsNoPIN   = Answer{403, "vault not initialised: no PIN set\n", ""}
	AnsBlocked = Answer{403, "card blocked: PIN tries exhausted; unblock with the PUK (POST /vault/unblock)\n", ""}
)

// CredentialBuf is the size of the scratch buffer credentials are decoded
// into (PINAnswer, BasicPassword). The callers keep it on their stack (the
// store does not retain the PIN), so an idle host holds none.
const CredentialBuf = 128

// pinAnswer checks the PIN given as the Basic password: status 0 when it
// was right.
func (h *Host) pinAnswer(r *http.Request) Answer {
	var buf [CredentialBuf]byte // cleared by PINAnswer
	return PINAnswer(h.st, r, buf[:])
}

// PINAnswer checks the PIN of st given as r's Basic password, using buf
// (cleared after) for the decoded credentials: status 0 when it was right;
// a wrong one is counted and slowed by the store.
func PINAnswer(st *store.Store, r *http.Request, buf []byte) Answer {
	var we *store.WaitError
	err := st.PINReady()
	switch {
	case errors.Is(err, store.ErrPINNotSet):
		return AnsNoPIN
	case errors.Is(err, store.ErrPINBlocked):
		return AnsBlocked
	}
	pin, ok := BasicPassword(r.Get("authorization"), buf)
	if !ok {
		return Answer{401, "PIN required (HTTP Basic, any user name, password = PIN)\n", BasicChallenge}
	}
	switch {
	case err == nil:
	case errors.As(err, &we):
		clear(buf)
		return TooSoon(we)
	default:
		clear(buf)
		return Answer{503, "card memory failure\n", ""}
	}
	err = st.VerifyPIN(pin)
	clear(buf)
	var pe *store.PINError
	switch {
	case err == nil:
		return Answer{}
	case errors.As(err, &pe):
		if pe.Remaining == 0 {
			return Answer{403, "wrong PIN: card blocked; unblock with the PUK (POST /vault/unblock)\n", ""}
		}
		return Answer{401, "wrong PIN: " + strconv.Itoa(pe.Remaining) + " tries left; next try in " +
			strconv.Itoa(int(pe.Wait/time.Second)) + " s\n", BasicChallenge}
	case errors.Is(err, store.ErrPINBlocked):
		return AnsBlocked
	case errors.As(err, &we):
		return TooSoon(we)
	}
	return Answer{503, "card memory failure\n", ""}
}

// FetchOwner names the application whose outbound request the client runs
// ("" when none).
func (h *Host) FetchOwner() string {
	if s := h.running(); s != nil {
		return s.reg.Manifest.Name
	}
	return ""
}

// running returns the application whose outbound request the client runs
// (at most one: NextFetch hands out none while one runs), or nil.
func (h *Host) running() *slot {
	for i := range h.slots {
		s := &h.slots[i]
		if s.fetchRunning {
			return s
		}
	}
	return nil
}

// Use calls f with each application's RAM and store bytes, in
// registration order, without allocating, and returns their number.
func (h *Host) Use(f func(i int, name string, ram, store int)) int {
	for i := range h.slots {
		s := &h.slots[i]
		ram := s.reg.Manifest.RAM
		if fp, ok := h.app(s).(Footprinter); ok {
			ram = fp.Footprint()
		}
		sp := h.space(s)
		f(i, s.reg.Manifest.Name, ram, sp.Used())
	}
	return len(h.slots)
}
