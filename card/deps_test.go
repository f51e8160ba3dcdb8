package card

import (
	"os/exec"
	"strings"
	"testing"
)

// TestCardDoesNotLinkHost proves a card build links neither the host side
// nor gVisor: the card is the security boundary and stays small.
func TestCardDoesNotLinkHost(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "netcard/card").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for _, pkg := range strings.Fields(string(out)) {
		if pkg == "netcard/host" || strings.HasPrefix(pkg, "netcard/host/") ||
			strings.Contains(pkg, "gvisor") || strings.Contains(pkg, "wireguard") || pkg == "crypto/tls" {
			t.Errorf("the card links %s", pkg)
		}
	}
}
