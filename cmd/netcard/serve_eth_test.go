package main

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"
)

// TestServeEthFlags: Ethernet flags that make no sense are usage errors
// with a clear message, before anything starts.
func TestServeEthFlags(t *testing.T) {
	img := filepath.Join(t.TempDir(), "c.img")
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--framing", "atm"}, "bad --framing"},
		{[]string{"--dhcp", "client"}, "need Ethernet"},
		{[]string{"--framing", "eth", "--dhcp", "maybe"}, "bad --dhcp"},
		{[]string{"--framing", "eth", "--eth-addr", "10.1.1.1/31"}, "bad prefix"},
		{[]string{"--framing", "eth", "--eth-addr", "10.1.1.1/24"}, "needs --eth-peer"},
		{[]string{"--framing", "eth", "--eth-peer", "fe80::1"}, "bad --eth-peer"},
	} {
		var out, errb bytes.Buffer
		args := append([]string{"serve", "--store", img}, c.args...)
		if code := mainArgs(args, &out, &errb); code != exitUsage || !strings.Contains(errb.String(), c.want) {
			t.Errorf("%v: exit %d, %q", c.args, code, errb.String())
		}
	}
}
