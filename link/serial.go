package link

import (
	"fmt"
	"io"

	"go.bug.st/serial"
)

// OpenSerial opens a serial device (for example /dev/ttyUSB0) at baud,
// 8 data bits, no parity, 1 stop bit, raw mode.
func OpenSerial(dev string, baud int) (Port, error) {
	if baud <= 0 {
		return nil, fmt.Errorf("link: bad baud rate %d", baud)
	}
	p, err := serial.Open(dev, &serial.Mode{
		BaudRate: baud,
		DataBits: 8,
		Parity:   serial.NoParity,
		StopBits: serial.OneStopBit,
	})
	if err != nil {
		return nil, fmt.Errorf("link: open %s: %w", dev, err)
	}
	return serialPort{p}, nil
}

// serialPort makes Write send all of p, as io.Writer requires.
type serialPort struct{ serial.Port }

func (s serialPort) Write(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		m, err := s.Port.Write(p[n:])
		n += m
		if err != nil {
			return n, err
		}
		if m == 0 {
			return n, io.ErrShortWrite
		}
	}
	return n, nil
}
