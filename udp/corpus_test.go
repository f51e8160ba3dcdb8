package udp

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// writeCorpus writes seeds as go fuzz corpus files under
// testdata/fuzz/<target>/ when NETCARD_WRITE_CORPUS=1 (they are committed).
func writeCorpus(t *testing.T, target string, seeds [][]byte) {
	if os.Getenv("NETCARD_WRITE_CORPUS") != "1" {
		t.Skip("set NETCARD_WRITE_CORPUS=1 to regenerate the seed corpus")
	}
	dir := filepath.Join("testdata", "fuzz", target)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for i, s := range seeds {
		data := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", s)
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("seed%02d", i)), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
