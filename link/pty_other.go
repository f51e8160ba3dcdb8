//go:build !linux

package link

import "errors"

// OpenPTY is only implemented on Linux.
func OpenPTY() (Port, string, error) {
	return nil, "", errors.New("link: pty ports are only supported on linux")
}
