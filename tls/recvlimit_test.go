package tls

import (
	"bytes"
	"testing"
)

// TestRecordLimitIsReceiveBuffer: a server whose record_size_limit is what
// its receive buffer holds (the card's Tiny profile: 1,024-byte buffer,
// limit 1,003 = 1,024 − 5 − 16) takes a record that fills the buffer, from
// a client that announced record_size_limit (RFC 8449) and from one that
// did not (BoringSSL, Go's crypto/tls), and answers one byte more with
// record_overflow (RFC 8449 §4; RFC 8446 §5.2), in TLS 1.3 and 1.2.
func TestRecordLimitIsReceiveBuffer(t *testing.T) {
	const buf = 1024
	for _, v12 := range []bool{false, true} {
		for _, rsl := range []int{16385, 0} {
			sc, cc := serverConfig(t, false), clientConfig(t)
			sc.RecordSizeLimit, sc.MaxRecordOut = buf-recordHeaderLen-tagLen, 256
			cc.RecordSizeLimit, cc.MaxRecordOut = uint16(rsl), 4096
			if v12 {
				cc.MaxVersion = VersionTLS12
			}
			srv, cl := NewServer(sc, buf), NewClient(cc, 0)
			if ea, eb := pump(t, cl, srv); ea != nil || eb != nil {
				t.Fatal(ea, eb)
			}
			hdr, tail := cl.Overhead()
			most := buf - hdr - tail // the largest plaintext whose record fits the buffer
			if v12 != (cl.ConnectionState().Version == VersionTLS12) {
				t.Fatalf("version %x", cl.ConnectionState().Version)
			}
			if rsl != 0 && cl.MaxPlaintext() != most {
				t.Fatalf("v12 %v: the client may send %d-byte records, want %d", v12, cl.MaxPlaintext(), most)
			}
			roundTrip(t, cl, srv, bytes.Repeat([]byte("a"), most))
			cl.maxOut = uint16(most + 1) // a client ignoring the limit (or not told it)
			rec := make([]byte, hdr+most+1+tail)
			n := cl.Wrap(rec, most+1)
			if n != buf+1 {
				t.Fatalf("record of %d bytes", n)
			}
			_, _, err := srv.Unwrap(rec[:n])
			expectAlert(t, err, AlertRecordOverflow, false)
		}
	}
}
