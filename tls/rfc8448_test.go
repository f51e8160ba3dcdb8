package tls

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"os"
	"strings"
	"testing"
)

func loadVectors(t *testing.T, path string) map[string][]byte {
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	v := map[string][]byte{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 8192), 8192)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		k, h, _ := strings.Cut(line, " ")
		b, err := hex.DecodeString(h)
		if err != nil {
			t.Fatal(k, err)
		}
		v[k] = b
	}
	return v
}

// TestRFC8448Simple drives our server with the RFC 8448 §3 ClientHello, server random and X25519
// private key: the ServerHello must be byte-exact and the key schedule must give the trace's values.
// (The rest of the RFC flight uses an RSA certificate, which the card does not sign with.)
func TestRFC8448Simple(t *testing.T) {
	v := loadVectors(t, "testdata/rfc8448_simple.txt")
	cfg := serverConfig(t, false)
	cfg.Rand = bytes.NewReader(append(append([]byte{}, v["server_random"]...), v["server_x25519_private"]...))
	s := NewServer(cfg, 0)
	ch := v["client_hello"]
	rec := append([]byte{22, 3, 1, byte(len(ch) >> 8), byte(len(ch))}, ch...)
	if _, _, err := s.Unwrap(rec); err != nil {
		t.Fatal(err)
	}
	out := make([]byte, 8192)
	n := s.Output(out)
	sh := v["server_hello"]
	if n < 5+len(sh) || !bytes.Equal(out[5:5+len(sh)], sh) {
		t.Fatalf("ServerHello\n got %x\nwant %x", out[5:5+len(sh)], sh)
	}
	eq := func(name string, got []byte) {
		t.Helper()
		if !bytes.Equal(got, v[name]) {
			t.Errorf("%s\n got %x\nwant %x", name, got, v[name])
		}
	}
	k := &s.ks
	eq("c_hs_traffic", k.cHS[:32])
	eq("s_hs_traffic", k.sHS[:32])
	eq("master_secret", k.secret[:32])
	// s.wr now holds the server application key; recompute the handshake keys independently
	var hc halfConn
	hc.setKey(k, s.suite, k.sHS[:])
	var kb [32]byte
	eq("s_hs_key", hc.keyTo(k, s.suite, &kb)) // derived again from the secret (not kept)
	eq("s_hs_iv", hc.nonce[:])
	eq("c_hs_key", s.rd.keyTo(k, s.suite, &kb)) // read key is still the client handshake key
	eq("c_hs_iv", s.rd.nonce[:])
	var fk [32]byte
	k.expandLabel(fk[:], k.sHS[:32], "finished", nil)
	eq("s_finished_key", fk[:])
	k.expandLabel(fk[:], k.cHS[:32], "finished", nil)
	eq("c_finished_key", fk[:])
	// application secrets and the client Finished from the trace's transcript hash
	th := v["transcript_ch_sfin"]
	var sec [48]byte
	k.deriveSecret(sec[:], k.secret[:32], "c ap traffic", th)
	eq("c_ap_traffic", sec[:32])
	k.deriveSecret(sec[:], k.secret[:32], "s ap traffic", th)
	eq("s_ap_traffic", sec[:32])
	hc.setKey(k, s.suite, sec[:])
	eq("s_ap_key", hc.keyTo(k, s.suite, &kb))
	eq("s_ap_iv", hc.nonce[:])
	eq("client_finished", k.hmac([]byte{typeFinished, 0, 0, 32}, fk[:], th))
}
