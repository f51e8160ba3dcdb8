package card

import "testing"

// TestShowsProgressRecordLength: the record length is read as 5 + the
// 16-bit length field (a precedence slip once made it (5 + hi<<8) | lo),
// and a record too short for any real ClientHello shows no progress.
func TestShowsProgressRecordLength(t *testing.T) {
	c := &Card{}
	c.cfg.HTTPSPort = 443
	data := make([]byte, 255) // a record of 255 body bytes: 260 in all, 256 needed
	copy(data, []byte{22, 3, 1, 0x00, 0xff, 1})
	if c.showsProgress(443, data) {
		t.Error("255 bytes of a 260-byte ClientHello record count as progress")
	}
	if !c.showsProgress(443, append(data, 0)) {
		t.Error("256 bytes of a 260-byte ClientHello record do not count")
	}
	tiny := []byte{22, 3, 1, 0, 4, 1, 0, 0, 0} // a whole 4-byte "ClientHello"
	if c.showsProgress(443, tiny) {
		t.Error("a 9-byte record counts as progress")
	}
}
