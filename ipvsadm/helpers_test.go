package ipvsadm

import (
	"net/netip"
	"testing"

	"github.com/gdirector/gdirector/ctl"
	"github.com/gdirector/gdirector/vs"
)

func mustAddr(s string) netip.Addr { return netip.MustParseAddr(s) }

// destOf returns the real server addrPort ("a.b.c.d:port" or "[v6]:port")
// of s, failing the test when s has none.
func destOf(t testing.TB, s *vs.Service, addrPort string) *vs.Dest {
	t.Helper()
	ap := netip.MustParseAddrPort(addrPort)
	for _, d := range s.Dests {
		if d.Addr == ap.Addr() && d.Port == ap.Port() {
			return d
		}
	}
	t.Fatalf("no real server %s in %v", addrPort, s.Dests)
	return nil
}

// listing runs a listing command, which must succeed silently on stderr,
// and returns its standard output.
func listing(t testing.TB, m *ctl.Manager, argv string) string {
	t.Helper()
	out, errOut, code := Run(m, split(argv))
	if code != 0 || errOut != "" {
		t.Fatalf("ipvsadm %s: code %d stderr %q", argv, code, errOut)
	}
	return out
}
