// Package roottest decides whether a test that needs root and network
// namespaces may run: it runs as root; without root it is skipped, except
// under CI (the CI environment variable set), where it fails loudly so a
// green run can never hide tests that did not run.
package roottest

import (
	"os"
	"os/exec"
	"testing"
)

// Require skips or fails t unless it runs as root and every named program
// is on PATH.
func Require(t testing.TB, programs ...string) {
	t.Helper()
	ci := os.Getenv("CI") != ""
	fail := t.Skipf
	if ci {
		fail = t.Fatalf
	}
	if os.Geteuid() != 0 {
		fail("needs root for network namespaces (CI=%v)", ci)
		return
	}
	for _, p := range programs {
		if _, err := exec.LookPath(p); err != nil {
			fail("needs %s on PATH: %v", p, err)
			return
		}
	}
}
