package ppp

import "time"

// IPCP configuration options (RFC 1332, RFC 1877).
const (
	optIPComp  = 2   // IP-Compression-Protocol (RFC 1332 §3.2): Van Jacobson only
	optIPAddr  = 3   // IP-Address
	optPriDNS  = 129 // Primary DNS Server Address
	optSecDNS  = 131 // Secondary DNS Server Address
	ipcpOptLen = 6
	// Everything else (IP-Addresses 1, NBNS 130/132, unknown options) is
	// rejected, and IP-Compression-Protocol when Config.VJSlots is 0.
)

// PlaceholderPeerIP is the address a card-role link (Config.PeerIP zero)
// assigns a peer that asks for one with 0.0.0.0, as slirp does; pppd uses
// the same default remote address.
var PlaceholderPeerIP = [4]byte{10, 64, 64, 64}

// ipcpOpts holds our wanted IPCP options and the peer's acknowledged address.
type ipcpOpts struct {
	addr    [4]byte
	addrNeg bool
	dns     [2][4]byte
	dnsNeg  [2]bool
	hisAddr [4]byte

	// Van Jacobson compression: what we ask for (the peer compresses)...
	vjNeg      bool
	vjMaxSlot  uint8
	vjCompSlot bool
	// ... and the peer's acknowledged request (we compress).
	hisVJ       bool
	hisMaxSlot  uint8
	hisCompSlot bool
}

// putVJOpt writes an IP-Compression-Protocol option for Van Jacobson
// compression: protocol 0x002d, Max-Slot-Id, Comp-Slot-Id (RFC 1332 §3.2).
func putVJOpt(dst []byte, maxSlot uint8, compSlot bool) int {
	dst[0], dst[1], dst[2], dst[3], dst[4], dst[5] = optIPComp, ipcpOptLen, 0, ProtoVJComp, maxSlot, 0
	if compSlot {
		dst[5] = 1
	}
	return ipcpOptLen
}

// ipcpHandler is the Link seen as IPCP's option handler.
type ipcpHandler Link

func dnsIndex(typ byte) int {
	switch typ {
	case optPriDNS:
		return 0
	case optSecDNS:
		return 1
	}
	return -1
}

func putAddrOpt(dst []byte, typ byte, a [4]byte) int {
	dst[0], dst[1] = typ, ipcpOptLen
	copy(dst[2:6], a[:])
	return ipcpOptLen
}

func (h *ipcpHandler) resetCI() {
	l := (*Link)(h)
	o := &l.ip
	o.addr = l.cfg.LocalIP
	o.addrNeg = !(l.cfg.Host && l.cfg.LocalIP == [4]byte{})
	o.dns = [2][4]byte{}
	o.dnsNeg = [2]bool{!l.cfg.Host, !l.cfg.Host}
	o.vjNeg = l.cfg.VJSlots > 0
	o.vjMaxSlot = MaxVJSlots - 1 // the id space; Config.VJSlots states are kept (vjDecomp)
	o.vjCompSlot = true
}

func (h *ipcpHandler) addCI(dst []byte) int {
	o := &(*Link)(h).ip
	n := 0
	if o.addrNeg {
		n += putAddrOpt(dst[n:], optIPAddr, o.addr)
	}
	if o.dnsNeg[0] {
		n += putAddrOpt(dst[n:], optPriDNS, o.dns[0])
	}
	if o.dnsNeg[1] {
		n += putAddrOpt(dst[n:], optSecDNS, o.dns[1])
	}
	if o.vjNeg {
		n += putVJOpt(dst[n:], o.vjMaxSlot, o.vjCompSlot)
	}
	return n
}

func (h *ipcpHandler) checkCI(typ byte, val []byte, nak []byte) (byte, int) {
	l := (*Link)(h)
	var zero [4]byte
	switch typ {
	case optIPAddr:
		if len(val) != 4 {
			return codeConfRej, 0
		}
		v := [4]byte(val)
		if l.cfg.PeerIP != zero && v != l.cfg.PeerIP {
			return codeConfNak, putAddrOpt(nak, optIPAddr, l.cfg.PeerIP)
		}
		if v == zero {
			if l.cfg.Host {
				return codeConfRej, 0 // the peer wants an address and we have none for it
			}
			// Card role: a peer like slirp asks for an address and closes
			// IPCP without one; give it the placeholder pppd uses.
			return codeConfNak, putAddrOpt(nak, optIPAddr, PlaceholderPeerIP)
		}
		return codeConfAck, 0
	case optPriDNS, optSecDNS:
		i := dnsIndex(typ)
		if len(val) != 4 || !l.cfg.Host || l.dns[i] == zero {
			return codeConfRej, 0
		}
		if [4]byte(val) != l.dns[i] {
			return codeConfNak, putAddrOpt(nak, typ, l.dns[i])
		}
		return codeConfAck, 0
	case optIPComp:
		if l.cfg.VJSlots == 0 {
			return codeConfRej, 0
		}
		// Any Max-Slot-Id will do (we use no more slots than we have);
		// another protocol, an old RFC 1172 form or a Comp-Slot-Id other
		// than 0 or 1 gets a Nak with what we do (RFC 1332 §3.2).
		if len(val) != 4 || get16(val) != ProtoVJComp || val[3] > 1 {
			return codeConfNak, putVJOpt(nak, MaxVJSlots-1, true)
		}
		return codeConfAck, 0
	}
	return codeConfRej, 0 // IP-Addresses, NBNS, unknown
}

func (h *ipcpHandler) resetPeerCI() {
	o := &(*Link)(h).ip
	o.hisAddr = [4]byte{}
	o.hisVJ = false
}

func (h *ipcpHandler) applyCI(typ byte, val []byte) {
	o := &(*Link)(h).ip
	switch typ {
	case optIPAddr:
		o.hisAddr = [4]byte(val)
	case optIPComp:
		o.hisVJ, o.hisMaxSlot, o.hisCompSlot = true, val[2], val[3] == 1
	}
}

func (h *ipcpHandler) nakCI(typ byte, val []byte) {
	l := (*Link)(h)
	o := &l.ip
	if len(val) != 4 {
		return
	}
	switch typ {
	case optIPAddr:
		// Take the peer's suggestion only if we asked for one.
		if o.addrNeg && l.cfg.LocalIP == [4]byte{} {
			o.addr = [4]byte(val)
		}
	case optPriDNS, optSecDNS:
		if i := dnsIndex(typ); o.dnsNeg[i] {
			o.dns[i] = [4]byte(val)
		}
	case optIPComp:
		// The peer wants fewer slots or explicit slot ids: fine. Another
		// protocol: stop asking (we do Van Jacobson only).
		if !o.vjNeg {
			return
		}
		if get16(val) != ProtoVJComp {
			o.vjNeg = false
			return
		}
		o.vjMaxSlot = min(o.vjMaxSlot, val[2])
		o.vjCompSlot = o.vjCompSlot && val[3] == 1
	}
}

func (h *ipcpHandler) rejCI(typ byte) {
	o := &(*Link)(h).ip
	switch typ {
	case optIPAddr:
		o.addrNeg = false
	case optPriDNS, optSecDNS:
		i := dnsIndex(typ)
		o.dnsNeg[i] = false
		o.dns[i] = [4]byte{}
	case optIPComp:
		o.vjNeg = false
	}
}

func (h *ipcpHandler) catastrophic(code byte) bool {
	return code >= codeConfReq && code <= codeCodeRej
}

func (h *ipcpHandler) extCode(byte, byte, []byte, time.Time) bool { return false }

func (h *ipcpHandler) up(time.Time) {
	l := (*Link)(h)
	o := &l.ip
	l.localIP = l.cfg.LocalIP
	if o.addrNeg {
		l.localIP = o.addr
	}
	l.peerIP = o.hisAddr
	if l.peerIP == [4]byte{} {
		l.peerIP = l.cfg.PeerIP
	}
	if !l.cfg.Host { // a host keeps the addresses it offers (Config.DNS)
		l.dns = o.dns
	}
	// Compression starts afresh with each negotiation (RFC 1144 §4: the
	// decompressor tosses until the first slot id).
	if v := l.vj; v != nil {
		v.tx, v.rx = o.hisVJ, o.vjNeg
		if v.tx {
			v.c.reset(int(o.hisMaxSlot), o.hisCompSlot)
		}
		if v.rx {
			v.d.reset(int(o.vjMaxSlot))
		}
	}
	l.ipUp = true
	l.stats.IPCPOpens++
	l.event(EventIPCPUp)
}

func (h *ipcpHandler) down(time.Time) {
	l := (*Link)(h)
	l.ipUp = false
	if l.vj != nil {
		l.vj.tx, l.vj.rx = false, false
	}
	l.event(EventIPCPDown)
}

func (h *ipcpHandler) started(time.Time) {}

func (h *ipcpHandler) finished(now time.Time) {
	l := (*Link)(h)
	if l.lcp.state == Opened && (l.v6 == nil || l.v6.fsm.state <= Stopped) {
		// No network protocol left: close the link (it is re-tried).
		l.lcp.close(now)
	}
}
