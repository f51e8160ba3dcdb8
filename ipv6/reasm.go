package ipv6

import (
	"encoding/binary"
	"time"
)

// reassembly holds the fragment reassembly slots (RFC 8200 §4.5). Each
// slot's buffer holds the fragmentable part of one datagram followed, in
// its capacity, by a bitmap of the 8-byte blocks received. Overlapping or
// duplicate fragments drop the whole datagram (RFC 5722 §4); a datagram is
// keyed by source, destination and identification; a slot is free again
// after the timeout (60 s, RFC 8200 §4.5) or on completion.
type reassembly struct {
	slots   []reasmSlot
	slotCap int
	timeout time.Duration
}

type reasmSlot struct {
	state    uint8 // 0 free, 1 active, 2 dead (dropped: swallow the rest), slotEcho
	nh       uint8 // next header of the fragmentable part (from fragment 0)
	first    bool  // fragment 0 is in
	id       uint32
	src, dst Addr
	total    int32 // length once the last fragment is in; -1 before
	got      int32
	deadline time.Time
	buf      []byte
}

// slotEcho: the slot's buffer holds the echo reply going out (Host.echoSlot).
const slotEcho = 3

func (s *reasmSlot) bitmap() []byte { return s.buf[len(s.buf):cap(s.buf)] }

// size returns the slots and the bytes per slot cfg asks for.
func (r *reassembly) size(cfg Config) (n, slotCap int) {
	n = cfg.ReassemblySlots
	if n == 0 {
		n = 1
	}
	if n < 0 {
		return 0, 0
	}
	total := cfg.ReassemblyBytes
	if total <= 0 {
		total = n * 1500
	}
	return n, (total/n + 7) &^ 7
}

func (r *reassembly) init(cfg Config) {
	n, slotCap := r.size(cfg)
	if n == 0 {
		return
	}
	r.slotCap = slotCap
	r.timeout = cfg.ReassemblyTimeout
	if r.timeout <= 0 {
		r.timeout = 60 * time.Second
	}
	r.slots = make([]reasmSlot, n) // the arena is lent on first use (lend)
}

// lend materialises the arena (every slot's buffer and bitmap, one
// allocation) if it was shed.
func (r *reassembly) lend() {
	if !r.lent() && len(r.slots) > 0 {
		bm := (r.slotCap/8 + 7) / 8
		mem := make([]byte, len(r.slots)*(r.slotCap+bm))
		for i := range r.slots {
			off := i * (r.slotCap + bm)
			r.slots[i].buf = mem[off : off+r.slotCap : off+r.slotCap+bm]
		}
	}
}

func (r *reassembly) lent() bool { return len(r.slots) > 0 && r.slots[0].buf != nil }

// busy reports whether a slot holds data: a datagram being reassembled or
// an echo reply (a dropped datagram's slot only swallows fragments).
func (r *reassembly) busy() bool {
	for i := range r.slots {
		if st := r.slots[i].state; st == 1 || st == slotEcho {
			return true
		}
	}
	return false
}

// shed drops the arena.
func (r *reassembly) shed() {
	for i := range r.slots {
		r.slots[i].buf = nil
	}
}

func (r *reassembly) footprint() int {
	if len(r.slots) == 0 {
		return 0
	}
	return len(r.slots) * (r.slotCap + (r.slotCap/8+7)/8)
}

// add files one fragment; when its datagram is complete it returns the
// fragmentable part and its next header (valid until the next Input).
func (r *reassembly) add(h *Host, hdr Header, ch Chain, now time.Time) ([]byte, uint8, bool) {
	data := hdr.Bytes()[ch.Off:]
	// RFC 8200 §4.5: a fragment other than the last whose length is not a
	// multiple of 8 gets a Parameter Problem code 0 pointing at the
	// Payload Length field; one that would end beyond 65,535 bytes gets
	// one pointing at the Fragment Offset field.
	if ch.MF && len(data)%8 != 0 {
		h.stats.FragBad++
		h.sendError(TypeParamProblem, CodeErroneousField, 4, hdr.Bytes(), now)
		return nil, 0, false
	}
	end := ch.FragOff + len(data)
	if end > 65535 {
		h.stats.FragBad++
		h.sendError(TypeParamProblem, CodeErroneousField, uint32(ch.Off-6), hdr.Bytes(), now)
		return nil, 0, false
	}
	src, dst := hdr.Src(), hdr.Dst()
	var s, free *reasmSlot
	for i := range r.slots {
		x := &r.slots[i]
		if x.state == slotEcho {
			continue
		}
		if x.state != 0 && !now.Before(x.deadline) {
			r.expire(h, x, now)
		}
		if x.state == 0 {
			if free == nil {
				free = x
			}
			continue
		}
		if x.id == ch.FragID && x.src == src && x.dst == dst {
			s = x
		}
	}
	if s == nil {
		if free == nil {
			h.stats.FragNoSlot++
			return nil, 0, false
		}
		s = free
		r.lend()
		*s = reasmSlot{state: 1, id: ch.FragID, src: src, dst: dst, total: -1, deadline: now.Add(r.timeout), buf: s.buf}
		clear(s.bitmap())
	}
	if s.state == 2 {
		return nil, 0, false
	}
	if end > r.slotCap {
		h.stats.FragTooBig++
		s.state = 2
		return nil, 0, false
	}
	if !ch.MF {
		if s.total >= 0 && int(s.total) != end || end < int(s.got) {
			h.stats.FragBad++
			s.state = 2
			return nil, 0, false
		}
		s.total = int32(end)
	} else if s.total >= 0 && end > int(s.total) {
		h.stats.FragBad++
		s.state = 2
		return nil, 0, false
	}
	bm := s.bitmap()
	for b := ch.FragOff / 8; b < (end+7)/8; b++ {
		if bm[b/8]&(1<<(b%8)) != 0 {
			h.stats.FragOverlap++
			s.state = 2
			return nil, 0, false
		}
	}
	for b := ch.FragOff / 8; b < (end+7)/8; b++ {
		bm[b/8] |= 1 << (b % 8)
	}
	copy(s.buf[ch.FragOff:], data)
	s.got += int32(len(data))
	if ch.FragOff == 0 {
		s.nh, s.first = ch.Proto, true
	}
	if s.total < 0 || s.got != s.total {
		return nil, 0, false
	}
	s.state = 0
	return s.buf[:s.total], s.nh, true
}

// expire abandons a datagram whose 60 s ran out. RFC 8200 §4.5: when its
// first fragment had arrived, a Time Exceeded (code 1, fragment reassembly
// time exceeded) goes to its source, quoting a rebuilt first fragment.
func (r *reassembly) expire(h *Host, s *reasmSlot, now time.Time) {
	if s.state == 1 {
		h.stats.FragTimeout++
		if s.first {
			var q [HeaderLen + 8 + 64]byte
			n := copy(q[HeaderLen+8:], s.buf[:min(s.prefix(), 64)])
			PutHeader(q[:], &Fields{PayloadLen: 8 + n, NextHeader: ProtoFragment, HopLimit: 64, Src: s.src, Dst: s.dst})
			q[HeaderLen] = s.nh
			q[HeaderLen+3] = 1 // offset 0, more fragments
			binary.BigEndian.PutUint32(q[HeaderLen+4:], s.id)
			h.sendError(TypeTimeExceeded, 1, 0, q[:HeaderLen+8+n], now)
		}
	}
	s.state = 0
}

// prefix returns how many bytes from offset 0 have arrived: the quote of a
// Time Exceeded holds only received bytes (got counts bytes anywhere in
// the datagram; beyond the first fragment the buffer may hold what an
// earlier datagram left there).
func (s *reasmSlot) prefix() int {
	bm, n := s.bitmap(), 0
	for n/8 < len(bm)*8 && bm[n/64]&(1<<(n/8%8)) != 0 {
		n += 8
	}
	if s.total >= 0 {
		n = min(n, int(s.total))
	}
	return min(n, len(s.buf))
}

func (r *reassembly) poll(h *Host, now time.Time) time.Time {
	var next time.Time
	for i := range r.slots {
		s := &r.slots[i]
		if s.state == 0 || s.state == slotEcho {
			continue
		}
		if !now.Before(s.deadline) {
			r.expire(h, s, now)
			continue
		}
		if next.IsZero() || s.deadline.Before(next) {
			next = s.deadline
		}
	}
	return next
}
