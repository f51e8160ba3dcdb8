package link

import (
	"encoding/binary"
	"io"
	"sync"
	"time"
)

// LinkTypePPPWithDir is the pcap link type of PPP frames preceded by a
// direction byte (0 = received by this host, 1 = sent by it).
const LinkTypePPPWithDir = 204

// PcapSnapLen is the snapshot length written in the pcap header; longer
// frames are truncated in the file (their original length is kept).
const PcapSnapLen = 65535

// PcapWriter writes a capture of a PPP link in the classic pcap format
// (microsecond timestamps, little endian), readable by tshark, Wireshark
// and tcpdump. It is safe for concurrent use.
type PcapWriter struct {
	mu  sync.Mutex
	w   io.Writer
	hdr [17]byte // record header + direction byte
	err error    // first error from Tap
}

// NewPcap writes the pcap global header (LINKTYPE_PPP_WITH_DIR) to w and
// returns a writer for the frames.
func NewPcap(w io.Writer) (*PcapWriter, error) {
	var h [24]byte
	binary.LittleEndian.PutUint32(h[0:], 0xa1b2c3d4) // magic: µs timestamps
	binary.LittleEndian.PutUint16(h[4:], 2)          // version 2.4
	binary.LittleEndian.PutUint16(h[6:], 4)
	// thiszone and sigfigs are 0
	binary.LittleEndian.PutUint32(h[16:], PcapSnapLen)
	binary.LittleEndian.PutUint32(h[20:], LinkTypePPPWithDir)
	if _, err := w.Write(h[:]); err != nil {
		return nil, err
	}
	return &PcapWriter{w: w}, nil
}

// WriteFrame writes one record: the direction (sent = true for a frame this
// side sent, false for one it received) and the frame as PPP carries it,
// unescaped and without FCS, starting at the FF 03 address and control
// fields or, if they were compressed away, at the protocol field. ts is the
// capture time. It allocates nothing.
func (pw *PcapWriter) WriteFrame(sent bool, ts time.Time, frame []byte) error {
	pw.mu.Lock()
	defer pw.mu.Unlock()
	orig := len(frame) + 1
	if len(frame) > PcapSnapLen-1 {
		frame = frame[:PcapSnapLen-1]
	}
	sec := ts.Unix()
	usec := ts.Nanosecond() / 1000
	if sec < 0 {
		sec, usec = 0, 0
	}
	h := &pw.hdr
	binary.LittleEndian.PutUint32(h[0:], uint32(sec))
	binary.LittleEndian.PutUint32(h[4:], uint32(usec))
	binary.LittleEndian.PutUint32(h[8:], uint32(len(frame)+1))
	binary.LittleEndian.PutUint32(h[12:], uint32(orig))
	h[16] = 0
	if sent {
		h[16] = 1
	}
	if _, err := pw.w.Write(h[:]); err != nil {
		return err
	}
	_, err := pw.w.Write(frame)
	return err
}

// Tap returns a function that writes each frame it is given, stamped with
// the wall clock, in the shape of ppp.Config.Tap. The first write error is
// kept for Err; frames after it are not written.
func (pw *PcapWriter) Tap() func(sent bool, frame []byte) {
	return func(sent bool, frame []byte) {
		if pw.Err() != nil {
			return
		}
		if err := pw.WriteFrame(sent, time.Now(), frame); err != nil {
			pw.mu.Lock()
			if pw.err == nil {
				pw.err = err
			}
			pw.mu.Unlock()
		}
	}
}

// Err returns the first error a Tap function met, if any.
func (pw *PcapWriter) Err() error {
	pw.mu.Lock()
	defer pw.mu.Unlock()
	return pw.err
}
