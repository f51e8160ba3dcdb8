//go:build !unix

package link

import "os"

// dupStdio is not available here: Stdio uses the process's own files and
// Close only marks the port closed.
func dupStdio() (in, out *os.File, restore func(), ok bool) { return nil, nil, nil, false }
