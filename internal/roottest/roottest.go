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

// IP runs `ip -n ns args...` and fails t if it fails.
func IP(t testing.TB, ns string, args ...string) {
	t.Helper()
	if out, err := exec.Command("ip", append([]string{"-n", ns}, args...)...).CombinedOutput(); err != nil {
		t.Fatalf("ip -n %s %v: %v %s", ns, args, err, out)
	}
}

// TwoPairNetns creates the namespace name (deleted when the test ends)
// holding two veth pairs, all up: gdvrrp-c0/c1, the client side, with
// 198.51.100.1/24 on c0, and gdvrrp-r0/r1, the real-server side, with
// 203.0.113.1/24 on r0: two interfaces whose links a test can cut.
func TwoPairNetns(t testing.TB, name string) string {
	t.Helper()
	Require(t, "ip")
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add %s: %v %s", name, err, out)
	}
	t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", name).Run() })
	for _, c := range [][]string{
		{"link", "add", "gdvrrp-c0", "type", "veth", "peer", "name", "gdvrrp-c1"},
		{"link", "add", "gdvrrp-r0", "type", "veth", "peer", "name", "gdvrrp-r1"},
		{"addr", "add", "198.51.100.1/24", "dev", "gdvrrp-c0"},
		{"addr", "add", "203.0.113.1/24", "dev", "gdvrrp-r0"},
		{"link", "set", "gdvrrp-c0", "up"}, {"link", "set", "gdvrrp-c1", "up"},
		{"link", "set", "gdvrrp-r0", "up"}, {"link", "set", "gdvrrp-r1", "up"},
	} {
		IP(t, name, c...)
	}
	return name
}
