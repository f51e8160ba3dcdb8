package link

import (
	"encoding/binary"
	"io"
	"sync"
	"time"
)

// LinkTypeEthernet is the pcap link type of Ethernet II frames
// (LINKTYPE_ETHERNET), without FCS.
const LinkTypeEthernet = 1

// EthPcapWriter writes a capture of an Ethernet link (eth.Config.Tap) in
// the classic pcap format, readable by tshark, Wireshark and tcpdump. It is
// safe for concurrent use and allocates nothing per frame.
type EthPcapWriter struct {
	mu  sync.Mutex
	w   io.Writer
	hdr [16]byte
	err error
}

// NewEthPcap writes the pcap global header (LINKTYPE_ETHERNET) to w.
func NewEthPcap(w io.Writer) (*EthPcapWriter, error) {
	var h [24]byte
	binary.LittleEndian.PutUint32(h[0:], 0xa1b2c3d4)
	binary.LittleEndian.PutUint16(h[4:], 2)
	binary.LittleEndian.PutUint16(h[6:], 4)
	binary.LittleEndian.PutUint32(h[16:], PcapSnapLen)
	binary.LittleEndian.PutUint32(h[20:], LinkTypeEthernet)
	if _, err := w.Write(h[:]); err != nil {
		return nil, err
	}
	return &EthPcapWriter{w: w}, nil
}

// WriteFrame writes one frame stamped ts (the direction is not recorded:
// LINKTYPE_ETHERNET has no field for it; the addresses tell).
func (pw *EthPcapWriter) WriteFrame(ts time.Time, frame []byte) error {
	pw.mu.Lock()
	defer pw.mu.Unlock()
	orig := len(frame)
	if len(frame) > PcapSnapLen {
		frame = frame[:PcapSnapLen]
	}
	sec, usec := ts.Unix(), ts.Nanosecond()/1000
	if sec < 0 {
		sec, usec = 0, 0
	}
	binary.LittleEndian.PutUint32(pw.hdr[0:], uint32(sec))
	binary.LittleEndian.PutUint32(pw.hdr[4:], uint32(usec))
	binary.LittleEndian.PutUint32(pw.hdr[8:], uint32(len(frame)))
	binary.LittleEndian.PutUint32(pw.hdr[12:], uint32(orig))
	if _, err := pw.w.Write(pw.hdr[:]); err != nil {
		return err
	}
	_, err := pw.w.Write(frame)
	return err
}

// Tap returns a function in the shape of eth.Config.Tap writing each frame
// with the wall clock; the first error is kept for Err.
func (pw *EthPcapWriter) Tap() func(sent bool, frame []byte) {
	return func(_ bool, frame []byte) {
		if pw.Err() != nil {
			return
		}
		if err := pw.WriteFrame(time.Now(), frame); err != nil {
			pw.mu.Lock()
			if pw.err == nil {
				pw.err = err
			}
			pw.mu.Unlock()
		}
	}
}

// Err returns the first error a Tap function met.
func (pw *EthPcapWriter) Err() error {
	pw.mu.Lock()
	defer pw.mu.Unlock()
	return pw.err
}
