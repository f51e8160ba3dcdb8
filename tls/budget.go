package tls

import "time"

// HandshakeBudget bounds how many engines may hold a grown handshake reassembly buffer at once.
//
// An engine reassembles handshake messages in a buffer of the usual size (a server: about 2.5 KB
// for its ClientHello, then 80 bytes for the client's second flight, see serverMemory; a client:
// 16 KiB). A bigger message (a ClientHello with ECH, GREASE and several post-quantum shares; a
// client's certificate chain; a long server certificate chain) needs a buffer
// of its size, up to Config.MaxHandshakeMessage, allocated when its header arrives. Without a
// budget every engine may do so at the same time (a card with 4 connections: 4 × 16,388 B). With
// one, an engine takes a slot before it grows and gives it back — dropping the big buffer, its
// remaining bytes moved back into its own buffer — as soon as the big message is processed (or
// the engine fails or closes). When every slot is taken, the message is refused with
// internal_error: RFC 8446 §6.2 names "a memory allocation failure" as its cause; the peer did
// nothing wrong, and another attempt later succeeds.
//
// A slot held longer than the lease (a peer stalling in the middle of a big message, or an engine
// its owner dropped without a word) is taken back by the next engine that needs one; the engine
// that lost it fails with internal_error if it is ever given more bytes. So a budget never leaks.
//
// Engines sharing a budget must be driven from one goroutine (the card's event loop does): it
// has no lock, as no protocol package here does.
type HandshakeBudget struct {
	slots   []budgetSlot
	lease   time.Duration
	refused uint64
	granted uint64
}

type budgetSlot struct {
	owner *Engine
	since time.Time
	small []byte // the owner's own reassembly buffer, returned to it with the slot
}

// NewHandshakeBudget returns a budget of n slots (at least 1) whose slots may be taken back after
// lease (0: never; the card uses its TLS handshake timeout).
func NewHandshakeBudget(n int, lease time.Duration) *HandshakeBudget {
	return &HandshakeBudget{slots: make([]budgetSlot, max(n, 1)), lease: lease}
}

// Slots returns the number of slots.
func (b *HandshakeBudget) Slots() int { return len(b.slots) }

// InUse returns the slots held now.
func (b *HandshakeBudget) InUse() int {
	n := 0
	for i := range b.slots {
		if b.slots[i].owner != nil {
			n++
		}
	}
	return n
}

// Granted and Refused count the big handshake messages that got a slot and those refused.
func (b *HandshakeBudget) Granted() uint64 { return b.granted }

// Refused: see Granted.
func (b *HandshakeBudget) Refused() uint64 { return b.refused }

// acquire gives e a slot (small is its own buffer, kept for it), taking back expired leases.
func (b *HandshakeBudget) acquire(e *Engine, small []byte, now time.Time) bool {
	free := -1
	for i := range b.slots {
		s := &b.slots[i]
		if s.owner != nil && b.lease > 0 && !now.Before(s.since.Add(b.lease)) {
			// The owner is not running (one goroutine drives every engine sharing the budget): it
			// gets its own buffer back, so the big one is freed now, and fails if it runs again.
			o := s.owner
			o.bigLost, o.bigHeld = true, false
			o.hsBuf = s.small[:0]
			if o.hsState != nil {
				o.hsGrown = false
			}
			*s = budgetSlot{}
		}
		if s.owner == nil && free < 0 {
			free = i
		}
	}
	if free < 0 {
		b.refused++
		return false
	}
	b.slots[free] = budgetSlot{owner: e, since: now, small: small}
	b.granted++
	return true
}

// release gives e's slot back and returns e's own buffer (nil if e holds no slot).
func (b *HandshakeBudget) release(e *Engine) []byte {
	for i := range b.slots {
		if s := &b.slots[i]; s.owner == e {
			small := s.small
			*s = budgetSlot{}
			return small
		}
	}
	return nil
}

// small returns e's own buffer kept in its slot (nil if e holds none).
func (b *HandshakeBudget) small(e *Engine) []byte {
	for i := range b.slots {
		if b.slots[i].owner == e {
			return b.slots[i].small
		}
	}
	return nil
}
