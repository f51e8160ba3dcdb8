//go:build unix

package link

import (
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// dupStdio duplicates fds 0 and 1. The input is made non-blocking so that
// it joins Go's poller and closing the duplicate interrupts a Read; the
// flag lives in the open file description shared with fd 0, so restore
// puts it back.
func dupStdio() (in, out *os.File, restore func(), ok bool) {
	ifd, err1 := syscall.Dup(0)
	ofd, err2 := syscall.Dup(1)
	if err1 != nil || err2 != nil {
		if err1 == nil {
			syscall.Close(ifd)
		}
		if err2 == nil {
			syscall.Close(ofd)
		}
		return nil, nil, nil, false
	}
	syscall.CloseOnExec(ifd)
	syscall.CloseOnExec(ofd)
	restore = func() {}
	if fl, err := unix.FcntlInt(uintptr(ifd), unix.F_GETFL, 0); err == nil && fl&unix.O_NONBLOCK == 0 {
		if syscall.SetNonblock(ifd, true) == nil {
			restore = func() { syscall.SetNonblock(ifd, false) }
		}
	}
	return os.NewFile(uintptr(ifd), "stdin"), os.NewFile(uintptr(ofd), "stdout"), restore, true
}
