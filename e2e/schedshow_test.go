package e2e

import (
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestSchedShow: `gdirector sched show` on a running director tells what
// the scheduler did and will do. wrr (rs1 weight 3, rs2 weight 1) serves
// five connections, and show reports the current weight and position the
// kernel's algorithm leaves; sh on another port sends each of two clients
// to one real server, and show's bucket for each client names the real
// server that actually served it. Refused lines exit 1 and 2.
func TestSchedShow(t *testing.T) {
	e := newEnv(t)
	e.serveExtra(t, 8080)
	vip := e.VIP.String()
	rs1, rs2 := realOf(e, "rs1"), realOf(e, "rs2")
	if !rs1.RIP.IsValid() || !rs2.RIP.IsValid() {
		t.Fatalf("lab without rs1 and rs2: %+v", e.Reals)
	}
	nameOf := map[string]string{}
	for _, r := range e.Reals {
		nameOf[r.RIP.String()+":80"] = r.Name
		nameOf[r.RIP.String()+":8080"] = r.Name
	}
	cip2 := netip.MustParseAddr("198.51.100.3")
	run(t, e.ClientNS, 5*time.Second, "ip", "addr", "add", cip2.String()+"/24", "dev", e.ClientIf)

	e.mustIpvsadm(t, "-A", "-t", vip+":80", "-s", "wrr")
	e.mustIpvsadm(t, "-a", "-t", vip+":80", "-r", rs1.RIP.String()+":80", "-m", "-w", "3")
	e.mustIpvsadm(t, "-a", "-t", vip+":80", "-r", rs2.RIP.String()+":80", "-m", "-w", "1")
	e.mustIpvsadm(t, "-A", "-t", vip+":8080", "-s", "sh")
	e.mustIpvsadm(t, "-a", "-t", vip+":8080", "-r", rs1.RIP.String()+":8080", "-m")
	e.mustIpvsadm(t, "-a", "-t", vip+":8080", "-r", rs2.RIP.String()+":8080", "-m")

	show := func(args ...string) string {
		t.Helper()
		out, errOut, code := e.gdirector(t, append([]string{"sched", "show"}, args...)...)
		if code != 0 || errOut != "" {
			t.Fatalf("sched show %v: exit %d: %s", args, code, errOut)
		}
		return out
	}

	// wrr before any connection: the current weight is 1 (see
	// TestQuiesceAndWeights), the walk at the head.
	out := show("-t", vip+":80")
	t.Logf("before:\n%s", out)
	if !strings.Contains(out, "scheduler wrr\ncw 1\nmw 3\ndi 1\nlast - (head of the list)\n") {
		t.Errorf("fresh wrr state wrong:\n%s", out)
	}
	var seq []string
	for range 5 {
		seq = append(seq, e.curlFrom(t, e.CIP, "http://"+vip+"/"))
	}
	// Pass cw 1: rs2, rs1; cw 3: rs1; cw 2: rs1; cw 1: rs2, where it stops.
	if strings.Join(seq, " ") != "rs2 rs1 rs1 rs1 rs2" {
		t.Errorf("wrr sequence %v, want rs2 rs1 rs1 rs1 rs2", seq)
	}
	out = show("-t", vip+":80")
	t.Logf("after %v:\n%s", seq, out)
	if want := "scheduler wrr\ncw 1\nmw 3\ndi 1\nlast " + rs2.RIP.String() + ":80\n"; !strings.Contains(out, want) {
		t.Errorf("wrr state after five picks: want %q in\n%s", want, out)
	}
	if !strings.HasPrefix(out, "TCP  "+vip+":80 wrr\n") || !strings.Contains(out, "not computed (a pick moves wrr's position)") {
		t.Errorf("service line or next-pick note wrong:\n%s", out)
	}
	// Every connection was counted on its real server (active while
	// open, inactive after): rs1 three, rs2 two.
	for r, n := range map[string]int{rs1.RIP.String() + ":80": 3, rs2.RIP.String() + ":80": 2} {
		f := destRow(out, r)
		var act, inact int
		if len(f) >= 5 {
			act, _ = strconv.Atoi(f[3])
			inact, _ = strconv.Atoi(f[4])
		}
		if act+inact != n {
			t.Errorf("row %s: %v, want %d connections", r, f, n)
		}
	}

	// sh: each client sticks to one real server, the one its bucket holds.
	bucket := regexp.MustCompile(`(?m)^client (\S+) -> bucket (\d+) of 256 -> (\S+) \(ok\)$`)
	servedBy := map[netip.Addr]string{}
	for _, c := range []netip.Addr{e.CIP, cip2} {
		var got []string
		for range 3 {
			got = append(got, e.curlFrom(t, c, "http://"+vip+":8080/"))
		}
		for _, n := range got {
			if n != got[0] {
				t.Fatalf("sh sent client %s to several real servers: %v", c, got)
			}
		}
		servedBy[c] = got[0]
		out := show("-t", vip+":8080", "--client", c.String())
		t.Logf("client %s served by %v:\n%s", c, got, out)
		g := bucket.FindStringSubmatch(out)
		if g == nil || g[1] != c.String() {
			t.Fatalf("no bucket line for %s:\n%s", c, out)
		}
		if nameOf[g[3]] != got[0] {
			t.Errorf("client %s: bucket %s holds %s (%s), but %s served it", c, g[2], g[3], nameOf[g[3]], got[0])
		}
		if !strings.Contains(out, "next new connection -> "+g[3]+"\n") {
			t.Errorf("next pick for %s is not the bucket's dest:\n%s", c, out)
		}
		if !strings.Contains(out, "share "+rs1.RIP.String()+":8080 128 (50.0%)\n") {
			t.Errorf("sh with equal weights does not split the table 128:128:\n%s", out)
		}
	}
	t.Logf("sh: %s → %s, %s → %s", e.CIP, servedBy[e.CIP], cip2, servedBy[cip2])

	// Refused lines: no such service (1), bad command line (2).
	if _, errOut, code := e.gdirector(t, "sched", "show", "-t", vip+":81"); code != 1 || !strings.Contains(errOut, "No such service") {
		t.Errorf("unknown service: exit %d %q", code, errOut)
	}
	if _, errOut, code := e.gdirector(t, "sched", "show", "-t", vip+":80", "--client", "2001:db8::1"); code != 2 || !strings.Contains(errOut, "Usage") {
		t.Errorf("bad line: exit %d %q", code, errOut)
	}
	list, _, code := e.gdirector(t, "sched", "list")
	if code != 0 || strings.Count(list, "\n") != 14 || !strings.HasPrefix(list, "rr ") {
		t.Errorf("sched list: exit %d\n%s", code, list)
	}
	e.stopDirector(t)
}

// destRow returns the fields of the dest table row of addr ("ADDR:PORT",
// then forward, weight, active, inactive, …), or nil.
func destRow(out, addr string) []string {
	for _, l := range strings.Split(out, "\n") {
		if f := strings.Fields(l); len(f) > 1 && f[0] == "->" && f[1] == addr {
			return f[1:]
		}
	}
	return nil
}
