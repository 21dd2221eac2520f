package e2e

import (
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/gdirector/gdirector/internal/nsutil"
)

// TestLabDemo runs the newcomer's command, `gdirector lab`, for every
// forwarding method on a dual-stack lab, as a user would: it must exit 0,
// show the answers alternating between the two real servers over IPv4 and
// IPv6, list the method in the table, and leave no namespace behind.
func TestLabDemo(t *testing.T) {
	roottest(t)
	for _, c := range []struct{ mode, forward string }{
		{"nat", "Masq"}, {"dr", "Route"}, {"tun", "Tunnel"}, {"fullnat", "FullNat"},
	} {
		t.Run(c.mode, func(t *testing.T) {
			prefix := labPrefix()
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			out, err := exec.CommandContext(ctx, bin, "lab", "--mode", c.mode, "--ipv6", "--requests", "4", "--prefix", prefix).CombinedOutput()
			defer func() {
				for _, role := range []string{"client", "dir", "sw", "rtr", "rs1", "rs2"} {
					if ns := prefix + "-" + role; nsutil.Exists(ns) {
						t.Errorf("namespace %s left behind", ns)
					}
				}
			}()
			if err != nil {
				t.Fatalf("gdirector lab --mode %s --ipv6: %v\n%s", c.mode, err, out)
			}
			s := string(out)
			// Two families × four requests, rr from the dest added last.
			if n := strings.Count(s, "answered by rs2\n  request"); n != 4 {
				t.Errorf("want requests 1 and 3 of each family answered by rs2, got %d:\n%s", n, s)
			}
			if n := strings.Count(s, "answered by rs1"); n != 4 {
				t.Errorf("%d answers from rs1, want 4:\n%s", n, s)
			}
			if strings.Contains(s, "FAILED") || strings.Count(s, c.forward) != 8 {
				t.Errorf("output:\n%s", s)
			}
			t.Logf("gdirector lab --mode %s --ipv6: 8 HTTP answers alternating rs2, rs1 over IPv4 and IPv6, 8 %s dests listed, namespaces removed", c.mode, c.forward)
		})
	}
}
