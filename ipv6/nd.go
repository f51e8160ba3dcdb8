package ipv6

import (
	"encoding/binary"
	"time"

	"netcard/ipv4"
)

// ndInput handles the Neighbor Discovery messages (RFC 4861). Every one
// must arrive with hop limit 255 (it was not forwarded, §6.1, §7.1) and
// code 0; the host itself answers a Neighbor Solicitation for one of its
// addresses and runs the DAD side of solicitations and advertisements
// (RFC 4862 §5.4.3, §5.4.4); everything (cache entries, router
// advertisements) also goes to the ND hook when one is set.
func (h *Host) ndInput(hdr Header, p []byte, now time.Time) {
	if hdr.HopLimit() != 255 || p[1] != 0 {
		h.stats.ICMPNDBad++
		return
	}
	typ := p[0]
	src := hdr.Src()
	switch typ {
	case TypeNeighborSol:
		// RFC 4861 §7.1.1: at least 24 bytes, target not multicast; from
		// the unspecified source only to a solicited-node group.
		if len(p) < 24 {
			h.stats.ICMPNDBad++
			return
		}
		target := Addr(p[8:24])
		if target.IsMulticast() || src == (Addr{}) && !hdr.Dst().IsMulticast() {
			h.stats.ICMPNDBad++
			return
		}
		if i := h.addrIndex(target); i >= 0 {
			if h.tent[i] {
				if src == (Addr{}) {
					// RFC 4862 §5.4.3: another node is doing DAD for
					// our tentative address: it is a duplicate.
					h.duplicate(target)
				}
				return
			}
			h.advertise(target, src, now)
		}
	case TypeNeighborAdv:
		if len(p) < 24 {
			h.stats.ICMPNDBad++
			return
		}
		target := Addr(p[8:24])
		if i := h.addrIndex(target); i >= 0 {
			// RFC 4862 §5.4.4: an advertisement for our address, tentative
			// or not, means another node has it.
			h.duplicate(target)
			return
		}
	}
	if h.ND != nil {
		h.ND.NDInput(typ, src, hdr.Dst(), p, now)
	}
}

// Duplicates counts addresses given up because DAD found them in use.
func (h *Host) Duplicates() int { return h.dups }

func (h *Host) duplicate(a Addr) {
	h.dups++
	h.RemoveAddr(a)
	if d, ok := h.ND.(interface{ Duplicate(Addr) }); ok {
		d.Duplicate(a)
	}
}

func (h *Host) addrIndex(a Addr) int {
	for i := range h.addrs {
		if a != (Addr{}) && h.addrs[i] == a {
			return i
		}
	}
	return -1
}

// advertise queues a solicited Neighbor Advertisement for target (RFC 4861
// §7.2.4): to the solicitation's source, or to all-nodes when that was
// unspecified (unsolicited flag off then); Override set; with our
// link-layer address when we have one (Ethernet).
func (h *Host) advertise(target, to Addr, now time.Time) {
	solicited := true
	if to == (Addr{}) {
		to, solicited = AllNodes, false
	}
	m := h.lendCtl()[HeaderLen:]
	clear(m[:32])
	m[0] = TypeNeighborAdv
	flags := byte(0x20) // O
	if solicited {
		flags |= 0x40 // S
	}
	m[4] = flags
	copy(m[8:24], target[:])
	n := 24
	if h.lladdr != nil {
		m[24], m[25] = 2, 1 // Target Link-Layer Address option, 8 bytes
		copy(m[26:32], h.lladdr[:])
		n = 32
	}
	h.putNDIP(n, target, to)
}

// putNDIP finishes the ND message of n bytes at ctl[40:]: hop limit 255
// (RFC 4861 §7.1), checksum, queued.
func (h *Host) putNDIP(n int, src, dst Addr) {
	m := h.ctl[HeaderLen : HeaderLen+n]
	PutHeader(h.ctl[:HeaderLen], &Fields{PayloadLen: n, NextHeader: ProtoICMP, HopLimit: 255, Src: src, Dst: dst})
	m[2], m[3] = 0, 0
	binary.BigEndian.PutUint16(m[2:4], ipv4.Checksum(m, PseudoHeaderSum(src, dst, ProtoICMP, n)))
	h.ctlN = HeaderLen + n
}

// SetLinkLayer gives the host its link-layer (Ethernet) address for the
// options of its ND messages.
func (h *Host) SetLinkLayer(mac [6]byte) { h.lladdr = &mac }

// SendDADProbe queues the Neighbor Solicitation of Duplicate Address
// Detection for the tentative address a (RFC 4862 §5.4.2): from the
// unspecified address to a's solicited-node group, no link-layer option.
func (h *Host) SendDADProbe(a Addr) {
	h.solicit(Addr{}, SolicitedNode(a), a)
}

// SendSolicit queues a Neighbor Solicitation for target (address
// resolution, RFC 4861 §7.2.2) from src to the target's solicited-node
// group, with our link-layer address.
func (h *Host) SendSolicit(src, target Addr) { h.solicit(src, SolicitedNode(target), target) }

func (h *Host) solicit(src, dst, target Addr) {
	m := h.lendCtl()[HeaderLen:]
	clear(m[:32])
	m[0] = TypeNeighborSol
	copy(m[8:24], target[:])
	n := 24
	if src != (Addr{}) && h.lladdr != nil {
		m[24], m[25] = 1, 1 // Source Link-Layer Address option
		copy(m[26:32], h.lladdr[:])
		n = 32
	}
	h.putNDIP(n, src, dst)
}

// SendRouterSolicit queues a Router Solicitation to all-routers (RFC 4861
// §6.3.7), from src (the unspecified address before we have one).
func (h *Host) SendRouterSolicit(src Addr) {
	m := h.lendCtl()[HeaderLen:]
	clear(m[:16])
	m[0] = TypeRouterSol
	n := 8
	if src != (Addr{}) && h.lladdr != nil {
		m[8], m[9] = 1, 1
		copy(m[10:16], h.lladdr[:])
		n = 16
	}
	h.putNDIP(n, src, AllRouters)
}
