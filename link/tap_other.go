//go:build !linux

package link

import "errors"

// TAP is a Linux TAP device; elsewhere OpenTAP fails.
type TAP struct{ Name string }

// OpenTAP is Linux only.
func OpenTAP(name, netns string) (*TAP, error) {
	return nil, errors.New("link: TAP devices need Linux")
}

func (t *TAP) Read(p []byte) (int, error)  { return 0, ErrClosed }
func (t *TAP) Write(p []byte) (int, error) { return 0, ErrClosed }
func (t *TAP) Close() error                { return nil }
func (t *TAP) SetUp() error                { return ErrClosed }
