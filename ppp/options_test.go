package ppp

import (
	"encoding/hex"
	"testing"
)

// TestLCPOptions judges single options of a peer's LCP Configure-Request.
func TestLCPOptions(t *testing.T) {
	withCreds := New(Config{User: "u", Secret: "s"})
	noCreds := New(Config{})
	withCreds.lo.magic, withCreds.lo.magicNeg = 0x01020304, true
	cases := []struct {
		name    string
		l       *Link
		opt     string // type, length, value
		verdict byte
		nak     string // prefix of the suggested option
	}{
		{"MRU 1500", noCreds, "010405dc", codeConfAck, ""},
		{"MRU 296", noCreds, "01040128", codeConfAck, ""},
		{"MRU too small", noCreds, "01040010", codeConfNak, "01040040"},
		{"MRU bad length", noCreds, "0103" + "05", codeConfRej, ""},
		{"ACCM", noCreds, "020600000000", codeConfAck, ""},
		{"PAP with credentials", withCreds, "0304c023", codeConfAck, ""},
		{"CHAP-MD5 with credentials", withCreds, "0305c22305", codeConfAck, ""},
		{"MS-CHAPv2 gets CHAP-MD5", withCreds, "0305c22381", codeConfNak, "0305c22305"},
		{"EAP gets CHAP-MD5", withCreds, "0304c227", codeConfNak, "0305c22305"},
		{"auth without credentials", noCreds, "0305c22305", codeConfRej, ""},
		{"magic", withCreds, "0506a1b2c3d4", codeConfAck, ""},
		{"magic zero", withCreds, "050600000000", codeConfNak, "0506"},
		{"magic equal to ours", withCreds, "050601020304", codeConfNak, "0506"},
		{"PFC", noCreds, "0702", codeConfAck, ""},
		{"ACFC", noCreds, "0802", codeConfAck, ""},
		{"PFC with data", noCreds, "070300", codeConfRej, ""},
		{"Quality-Protocol", noCreds, "0408c02500000064", codeConfRej, ""},
		{"FCS-Alternatives", noCreds, "090304", codeConfRej, ""},
		{"Callback", noCreds, "0d0306", codeConfRej, ""},
		{"Multilink MRRU", noCreds, "110405dc", codeConfRej, ""},
	}
	for _, c := range cases {
		o := unhex(c.opt)
		var nak [64]byte
		v, n := (*lcpHandler)(c.l).checkCI(o[0], o[2:], nak[:])
		if v != c.verdict {
			t.Errorf("%s: verdict %d, want %d", c.name, v, c.verdict)
			continue
		}
		if got := hex.EncodeToString(nak[:n]); v == codeConfNak && (len(got) < len(c.nak) || got[:len(c.nak)] != c.nak) {
			t.Errorf("%s: nak %s, want %s…", c.name, got, c.nak)
		}
		if c.name == "magic equal to ours" && get32(nak[2:]) == 0x01020304 {
			t.Errorf("magic Nak suggests our own number")
		}
	}
}

// TestIPCPOptions judges single options of a peer's IPCP Configure-Request
// in both roles.
func TestIPCPOptions(t *testing.T) {
	card := New(Config{})
	host := New(Config{Host: true, LocalIP: [4]byte{10, 0, 2, 2}, PeerIP: [4]byte{10, 0, 2, 15},
		DNS: [2][4]byte{{10, 0, 2, 3}}})
	cases := []struct {
		name    string
		l       *Link
		opt     string
		verdict byte
		nak     string
	}{
		{"card: peer states its address", card, "03060a000202", codeConfAck, ""},
		{"card: peer asks for an address", card, "030600000000", codeConfNak, "03060a404040"},
		{"card: VJ", card, "0206002d0f01", codeConfRej, ""},
		{"card: IP-Addresses", card, "010a0a0002020a00020f", codeConfRej, ""},
		{"card: peer asks for DNS", card, "810600000000", codeConfRej, ""},
		{"card: NBNS", card, "820600000000", codeConfRej, ""},
		{"host: card asks for an address", host, "030600000000", codeConfNak, "03060a00020f"},
		{"host: card proposes another", host, "03060a000263", codeConfNak, "03060a00020f"},
		{"host: card takes the assigned one", host, "03060a00020f", codeConfAck, ""},
		{"host: card asks primary DNS", host, "810600000000", codeConfNak, "81060a000203"},
		{"host: card has primary DNS right", host, "81060a000203", codeConfAck, ""},
		{"host: secondary DNS not configured", host, "830600000000", codeConfRej, ""},
		{"host: address bad length", host, "03050a0002", codeConfRej, ""},
	}
	for _, c := range cases {
		o := unhex(c.opt)
		var nak [64]byte
		v, n := (*ipcpHandler)(c.l).checkCI(o[0], o[2:], nak[:])
		if v != c.verdict {
			t.Errorf("%s: verdict %d, want %d", c.name, v, c.verdict)
			continue
		}
		if got := hex.EncodeToString(nak[:n]); v == codeConfNak && got != c.nak {
			t.Errorf("%s: nak %s, want %s", c.name, got, c.nak)
		}
	}
	// Our requests: the card asks for an address and two DNS servers; the
	// host without a LocalIP states none.
	var buf [64]byte
	(*ipcpHandler)(card).resetCI()
	if got := hex.EncodeToString(buf[:(*ipcpHandler)(card).addCI(buf[:])]); got != "030600000000810600000000830600000000" {
		t.Errorf("card IPCP request %s", got)
	}
	h0 := New(Config{Host: true})
	(*ipcpHandler)(h0).resetCI()
	if n := (*ipcpHandler)(h0).addCI(buf[:]); n != 0 {
		t.Errorf("host without address requests % x", buf[:n])
	}
}

// TestLCPNakRej: how our own request adapts to the peer's Nak and Reject.
func TestLCPNakRej(t *testing.T) {
	l := New(Config{MRU: 1000, ACCM: 0, RequireAuth: AuthPAP})
	h := (*lcpHandler)(l)
	h.resetCI()
	var buf [64]byte
	req := func() string { return hex.EncodeToString(buf[:h.addCI(buf[:])]) }
	m := l.lo.magic
	h.nakCI(optMRU, unhex("0200"))      // 512 ≤ our buffer: adopted
	h.nakCI(optACCM, unhex("000a0000")) // more escaping: adopted
	h.nakCI(optAuth, unhex("c023"))     // PAP again: nothing to change
	h.nakCI(optAuth, unhex("c22305"))   // upgrade to CHAP-MD5: adopted
	h.nakCI(optMagic, unhex("01020304"))
	if l.lo.mru != 512 || l.lo.accm != 0x000a0000 || l.lo.auth != AuthCHAP || l.lo.magic == m || l.lo.magic == 0x01020304 {
		t.Errorf("after Naks: %+v", l.lo)
	}
	h.nakCI(optAuth, unhex("c023")) // never downgrade
	if l.lo.auth != AuthCHAP {
		t.Error("downgraded to PAP")
	}
	h.nakCI(optMRU, unhex("0800")) // 2048 > our buffer: give up asking
	if l.lo.mruNeg {
		t.Error("MRU still requested")
	}
	for _, typ := range []byte{optACCM, optAuth, optMagic, optPFC, optACFC} {
		h.rejCI(typ)
	}
	if got := req(); got != "" {
		t.Errorf("request after rejecting everything: %s", got)
	}
	if l.lo.myMagic() != 0 {
		t.Error("magic still in use")
	}
}
