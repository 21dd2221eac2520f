package e2e

import (
	"context"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gdirector/gdirector/internal/nsutil"
)

// TestLabExplain runs `gdirector lab --mode M --explain` for every
// forwarding method: it must exit 0 and print the diagram, the address
// table and a narration of one real request built from the live trace —
// the scheduler's choice, the real server that answered, the method's
// rewrite as the trace recorded it and the reply's path — and leave no
// namespace behind.
func TestLabExplain(t *testing.T) {
	roottest(t)
	rewrite := map[string][]string{
		"nat":     {"NAT changes the destination", "shows the reverse rewrite"},
		"dr":      {"DR changes only the Ethernet header", "(untouched)", "The director never sees the reply"},
		"tun":     {"TUN puts a new outer IPv4 header", "outer + IPv4 203.0.113.2 > 203.0.113.7", "The director never sees the reply"},
		"fullnat": {"FullNAT changes both ends", "local address and port 203.0.113.100:", "shows the reverse rewrite"},
	}
	chosen := regexp.MustCompile(`Chosen: (\S+):80\.`)
	for _, mode := range []string{"nat", "dr", "tun", "fullnat"} {
		t.Run(mode, func(t *testing.T) {
			prefix := labPrefix()
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			start := time.Now()
			out, err := exec.CommandContext(ctx, bin, "lab", "--mode", mode, "--explain", "--requests", "1", "--prefix", prefix).CombinedOutput()
			defer func() {
				for _, role := range []string{"client", "dir", "sw", "rtr", "rs1", "rs2"} {
					if ns := prefix + "-" + role; nsutil.Exists(ns) {
						t.Errorf("namespace %s left behind", ns)
					}
				}
			}()
			if err != nil {
				t.Fatalf("gdirector lab --mode %s --explain: %v\n%s", mode, err, out)
			}
			// The narration has its own paragraphs; the address table is
			// printed once, before it.
			s := strings.Join(strings.Fields(string(out)), " ")
			for _, w := range append([]string{
				"Kernel settings that matter:", "Addresses:", "CIP 198.51.100.2", "VIP 192.0.2.10",
				"One request, narrated from the live trace", "1. The next hop.", "The director receives the SYN",
				"makes a new", "The scheduler. The service's scheduler is rr.", "The rewrite.", "The real server.",
				"The reply.", "The rest of the connection.", "Removed the lab",
			}, rewrite[mode]...) {
				if !strings.Contains(s, w) {
					t.Errorf("output lacks %q", w)
				}
			}
			m := chosen.FindStringSubmatch(s)
			if m == nil {
				t.Fatalf("no scheduler choice in:\n%s", out)
			}
			rip := m[1]
			// The server that answered is the chosen one, by name and address.
			if !strings.Contains(s, "rs2 ("+rip+")") && !strings.Contains(s, "becomes rs2's") {
				t.Errorf("the narration does not follow the chosen %s to rs2:\n%s", rip, out)
			}
			if !strings.Contains(s, "; rs2 answered it.") || !strings.Contains(s, "RIP "+rip+" rs2 eth0") {
				t.Errorf("rr's first choice %s is not rs2's address in the table:\n%s", rip, out)
			}
			if mode == "tun" && !strings.Contains(s, "outer + IPv4 203.0.113.2 > "+rip+" IPIP") {
				t.Errorf("no outer header to the chosen %s:\n%s", rip, out)
			}
			if strings.Contains(s, "FAILED") {
				t.Errorf("a request failed:\n%s", out)
			}
			t.Logf("gdirector lab --mode %s --explain: %.1fs, scheduler chose %s (rs2), %s rewrite narrated, namespaces removed",
				mode, time.Since(start).Seconds(), rip, mode)
		})
	}
}
