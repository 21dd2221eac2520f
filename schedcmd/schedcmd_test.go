package schedcmd

import (
	"context"
	"fmt"
	"net/netip"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/gdirector/gdirector/ctl"
	"github.com/gdirector/gdirector/ipvsadm"
	"github.com/gdirector/gdirector/sched"
	"github.com/gdirector/gdirector/vs"
)

func TestParse(t *testing.T) {
	v4 := netip.MustParseAddr("192.0.2.10")
	v6 := netip.MustParseAddr("2001:db8::10")
	for _, c := range []struct {
		args string
		want Cmd
		err  string
	}{
		{args: "list", want: Cmd{Op: OpList}},
		{args: "ls", want: Cmd{Op: OpList}},
		{args: "show -t 192.0.2.10:80", want: Cmd{Op: OpShow, Service: ctl.ServiceID{Proto: vs.TCP, Addr: v4, Port: 80}}},
		{args: "show --udp-service=192.0.2.10:53", want: Cmd{Op: OpShow, Service: ctl.ServiceID{Proto: vs.UDP, Addr: v4, Port: 53}}},
		{args: "show --sctp-service [2001:db8::10]:80 --client [2001:db8:1::2]:4000 --full", want: Cmd{Op: OpShow,
			Service:   ctl.ServiceID{Proto: vs.SCTP, Addr: v6, Port: 80, IPv6: true},
			HasClient: true, Client: netip.MustParseAddrPort("[2001:db8:1::2]:4000"), Full: true}},
		{args: "show 192.0.2.10:80", want: Cmd{Op: OpShow, Service: ctl.ServiceID{Proto: vs.TCP, Addr: v4, Port: 80}}},
		{args: "show 192.0.2.10", want: Cmd{Op: OpShow, Service: ctl.ServiceID{Proto: vs.TCP, Addr: v4}}},
		{args: "show -u 2001:db8::10", want: Cmd{Op: OpShow, Service: ctl.ServiceID{Proto: vs.UDP, Addr: v6, IPv6: true}}},
		{args: "show -t [2001:db8::10] -6", want: Cmd{Op: OpShow, Service: ctl.ServiceID{Proto: vs.TCP, Addr: v6, IPv6: true}}},
		{args: "show --client 198.51.100.2 -t 192.0.2.10:80", want: Cmd{Op: OpShow, Service: ctl.ServiceID{Proto: vs.TCP, Addr: v4, Port: 80},
			HasClient: true, Client: netip.MustParseAddrPort("198.51.100.2:0")}},
		{args: "show -t 192.0.2.10:80 --client=::ffff:198.51.100.2", want: Cmd{Op: OpShow, Service: ctl.ServiceID{Proto: vs.TCP, Addr: v4, Port: 80},
			HasClient: true, Client: netip.MustParseAddrPort("198.51.100.2:0")}},
		{args: "show -f 7", want: Cmd{Op: OpShow, Service: ctl.ServiceID{FwMark: 7}}},
		{args: "show --fwmark-service 0x10 -6 --dst 2001:db8::10", want: Cmd{Op: OpShow, Service: ctl.ServiceID{FwMark: 16, IPv6: true}, Dst: v6}},
		{args: "show -f 4294967295 --destination ::ffff:192.0.2.10", want: Cmd{Op: OpShow, Service: ctl.ServiceID{FwMark: 4294967295}, Dst: v4}},

		{args: "", err: "missing operation"},
		{args: "frob -t 192.0.2.10:80", err: "unknown operation"},
		{args: "list -t 192.0.2.10:80", err: "takes no arguments"},
		{args: "show", err: "missing service"},
		{args: "show --full", err: "missing service"},
		{args: "show -t 192.0.2.10:80 -x", err: `unknown option "-x"`},
		{args: "show -t 192.0.2.10:80 --fulll", err: "unknown option"},
		{args: "show -t", err: "needs a value"},
		{args: "show -t 192.0.2.10:80 --client", err: "needs a value"},
		{args: "show -t 192.0.2.10:80 --full=yes", err: "takes no value"},
		{args: "show -t 192.0.2.10:80 --ipv6=1", err: "takes no value"},
		{args: "show -t 192.0.2.10:80 -u 192.0.2.10:53", err: "more than one service"},
		{args: "show 192.0.2.10:80 192.0.2.10:81", err: "more than one service"},
		{args: "show -f 1 -t 192.0.2.10:80", err: "more than one service"},
		{args: "show -t 192.0.2.10:80 --client 198.51.100.2 --client 198.51.100.3", err: "given twice"},
		{args: "show -t 192.0.2.10:80 --full --full", err: "given twice"},
		{args: "show -f 1 -6 -6", err: "given twice"},
		{args: "show -t 192.0.2.300:80", err: "bad virtual service"},
		{args: "show -t 192.0.2.10:65536", err: "bad port"},
		{args: "show -t 192.0.2.10:http", err: "bad port"},
		{args: "show -t 192.0.2.10:-1", err: "bad port"},
		{args: "show -t 192.0.2.10:", err: "bad port"},
		{args: "show -t [2001:db8::10:80", err: "missing ]"},
		{args: "show -t [2001:db8::10]80", err: "unexpected"},
		{args: "show -t [192.0.2.10]:80", err: "IPv6 address in brackets"},
		{args: "show -t [fe80::1%eth0]:80", err: "zone"},
		{args: "show -t fe80::1%eth0", err: "zone"},
		{args: "show -t lvs.example:80", err: "want ADDR"},
		{args: "show -t a:b:c", err: "want ADDR"},
		{args: "show -t :80", err: "want ADDR"},
		{args: "show -f 0", err: "bad firewall mark"},
		{args: "show -f 4294967296", err: "bad firewall mark"},
		{args: "show -f 0xZZ", err: "bad firewall mark"},
		{args: "show -f -1", err: "bad firewall mark"},
		{args: "show -f 010x", err: "bad firewall mark"},
		{args: "show -t 192.0.2.10:80 -6", err: "-6 given with the IPv4 service"},
		{args: "show -t 192.0.2.10:80 --dst 192.0.2.11", err: "firewall-mark services only"},
		{args: "show -t 192.0.2.10:80 --client 2001:db8::2", err: "not of the service's family (IPv4)"},
		{args: "show -t [2001:db8::10]:80 --client 198.51.100.2", err: "not of the service's family (IPv6)"},
		{args: "show -f 5 -6 --client 198.51.100.2", err: "not of the service's family"},
		{args: "show -f 5 --dst 2001:db8::1", err: "destination 2001:db8::1 is not of the service's family"},
		{args: "show -f 5 --dst 192.0.2.300", err: "bad destination address"},
		{args: "show -f 5 --dst fe80::1%eth0", err: "bad destination address"},
		{args: "show -t 192.0.2.10:80 --client 198.51.100.2:99999", err: "bad client"},
		{args: "show -t 192.0.2.10:80 --client nobody", err: "bad client"},
	} {
		got, err := Parse(strings.Fields(c.args))
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%q: error %v, want %q", c.args, err, c.err)
			}
			if got != (Cmd{}) {
				t.Errorf("%q: refused line returned %+v", c.args, got)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("%q: %+v, %v; want %+v", c.args, got, err, c.want)
			continue
		}
		if back, err := Parse(got.Args()); err != nil || back != got {
			t.Errorf("%q: round trip through %q: %+v, %v", c.args, got.Args(), back, err)
		}
	}
}

// lab is a Manager configured with ipvsadm command lines.
func lab(t testing.TB, lines ...string) *ctl.Manager {
	t.Helper()
	m := ctl.NewManager(ctl.Config{})
	for _, l := range lines {
		if _, e, c := ipvsadm.Run(m, strings.Fields(l)); c != 0 {
			t.Fatalf("%s: %d %s", l, c, e)
		}
	}
	return m
}

// svcOf returns the current value of a service.
func svcOf(t *testing.T, m *ctl.Manager, args string) *vs.Service {
	t.Helper()
	c, err := Parse(append([]string{"show"}, strings.Fields(args)...))
	if err != nil {
		t.Fatal(err)
	}
	s, err := m.Service(c.Service)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// show runs "sched show ARGS" and fails unless it succeeds.
func show(t *testing.T, m *ctl.Manager, args string) string {
	t.Helper()
	out, errOut, code := Run(m, append([]string{"show"}, strings.Fields(args)...))
	if code != 0 || errOut != "" {
		t.Fatalf("show %s: %d %q", args, code, errOut)
	}
	return out
}

func mustContain(t *testing.T, out string, lines ...string) {
	t.Helper()
	for _, l := range lines {
		if !strings.Contains(out, l) {
			t.Errorf("output lacks %q:\n%s", l, out)
		}
	}
}

// row returns the fields of the dest table row of addr.
func row(t *testing.T, out, addr string) []string {
	t.Helper()
	for _, l := range strings.Split(out, "\n") {
		if f := strings.Fields(l); len(f) > 1 && f[0] == "->" && f[1] == addr {
			return f[1:]
		}
	}
	t.Fatalf("no row for %s:\n%s", addr, out)
	return nil
}

// snapshot is everything show must not change: the configuration, the
// counters, the published table.
func snapshot(m *ctl.Manager) string {
	o1, _, _ := ipvsadm.Run(m, []string{"-S", "-n"})
	o2, _, _ := ipvsadm.Run(m, []string{"-L", "-n", "--thresholds", "--persistent-conn"})
	o3, _, _ := ipvsadm.Run(m, []string{"-L", "-n"})
	return fmt.Sprintf("%p\n%s%s%s", m.Table(), o1, o2, o3)
}

func TestShowRR(t *testing.T) {
	m := lab(t, "-A -t 192.0.2.10:80 -s rr",
		"-a -t 192.0.2.10:80 -r 203.0.113.11:80 -m",
		"-a -t 192.0.2.10:80 -r 203.0.113.12:80 -m",
		"-a -t 192.0.2.10:80 -r 203.0.113.13:80 -m")
	svc := svcOf(t, m, "-t 192.0.2.10:80")
	out := show(t, m, "-t 192.0.2.10:80")
	mustContain(t, out, "TCP  192.0.2.10:80 rr\n", "last - (head of the list)\n", "not computed (a pick moves rr's position)")
	// The list is 13, 12, 11 (most recently added first): two picks.
	var f vs.Flow
	for _, want := range []string{"203.0.113.13", "203.0.113.12"} {
		if d := svc.Sched.Schedule(svc, &f); d.Addr.String() != want {
			t.Fatalf("pick %s, want %s", d.Addr, want)
		}
	}
	before := snapshot(m)
	for range 5 {
		out = show(t, m, "-t 192.0.2.10:80 --client 198.51.100.2")
	}
	mustContain(t, out, "scheduler rr\nlast 203.0.113.12:80\n")
	if got := snapshot(m); got != before {
		t.Errorf("show changed the director:\n%s\nthen\n%s", before, got)
	}
	// Showing did not move the position: the next pick is 11.
	if d := svc.Sched.Schedule(svc, &f); d.Addr.String() != "203.0.113.11" {
		t.Errorf("after show, rr picked %s, want 203.0.113.11", d.Addr)
	}
	// The rows come in walk order.
	if i, j := strings.Index(out, "203.0.113.13:80"), strings.Index(out, "203.0.113.11:80"); i < 0 || j < i {
		t.Errorf("dests not in walk order:\n%s", out)
	}
}

func TestShowWRR(t *testing.T) {
	m := lab(t, "-A -t 192.0.2.10:80 -s wrr",
		"-a -t 192.0.2.10:80 -r 203.0.113.11:80 -m -w 3",
		"-a -t 192.0.2.10:80 -r 203.0.113.12:80 -m -w 1")
	svc := svcOf(t, m, "-t 192.0.2.10:80")
	var f vs.Flow
	var seq []string
	for range 3 {
		seq = append(seq, svc.Sched.Schedule(svc, &f).Addr.String())
	}
	// cw started at 1 (see e2e TestQuiesceAndWeights): 12, 11 in the pass
	// with cw 1, then cw 3: 11.
	if strings.Join(seq, " ") != "203.0.113.12 203.0.113.11 203.0.113.11" {
		t.Fatalf("picks %v", seq)
	}
	out := show(t, m, "-t 192.0.2.10:80")
	mustContain(t, out, "scheduler wrr\ncw 3\nmw 3\ndi 1\nlast 203.0.113.11:80\n")
	if r := row(t, out, "203.0.113.11:80"); strings.Join(r, " ") != "203.0.113.11:80 Masq 3 0 0 0 ok" {
		t.Errorf("row %v", r)
	}
	// Editing a weight restarts the walk at the head (the kernel's
	// dest_changed); show reflects it.
	if _, e, c := ipvsadm.Run(m, strings.Fields("-e -t 192.0.2.10:80 -r 203.0.113.12:80 -m -w 0")); c != 0 {
		t.Fatal(e)
	}
	out = show(t, m, "-t 192.0.2.10:80")
	mustContain(t, out, "cw 1\nmw 1\ndi 3\nlast - (head of the list)\n") // top weight 3 - (gcd 3 - 1)
	if r := row(t, out, "203.0.113.12:80"); r[len(r)-1] != "quiesced" {
		t.Errorf("quiesced row %v", r)
	}
}

// TestShowLeastConn: the stateless schedulers print their load figure per
// dest and the dest Schedule picks, with the live counters.
func TestShowLeastConn(t *testing.T) {
	type load struct{ w, act, inact int32 }
	// Walk order: D, C, B, A (added A first).
	loads := []load{{1, 0, 0}, {2, 1, 3}, {3, 2, 600}, {4, 5, 0}} // A B C D
	for _, c := range []struct {
		sched, head string
		vals        []string // A B C D
		next        string
	}{
		// overheads: A 0, B 259, C 1112, D 1280; A wins.
		{"lc", "Load=Overhead", []string{"0", "259", "1112", "1280"}, "A"},
		{"wlc", "Load=Overhead/Weight", []string{"0.00", "129.50", "370.67", "320.00"}, "A"},
		// (active+1)/weight: 1, 1, 1, 1.5: the first in walk order of
		// the tied ones is C.
		{"sed", "Load=(Active+1)/Weight", []string{"1.00", "1.00", "1.00", "1.50"}, "C"},
		// nq: A is idle (walk order D C B A: the first idle one).
		{"nq", "Load=(Active+1)/Weight", []string{"1.00 idle", "1.00", "1.00", "1.50"}, "A"},
		{"fo", "Load=Weight", []string{"1", "2", "3", "4"}, "D"},
		// ovf: D has 5 active > 4: full; C (3, 2 active) is next.
		{"ovf", "Load=Weight", []string{"1 open", "2 open", "3 open", "4 full"}, "C"},
		{"lblc", "Load=Overhead/Weight", []string{"0.00", "129.50", "370.67", "320.00"}, ""},
		{"twos", "Load=Overhead/Weight", []string{"0.00", "129.50", "370.67", "320.00"}, ""},
	} {
		t.Run(c.sched, func(t *testing.T) {
			lines := []string{"-A -t 192.0.2.10:80 -s " + c.sched}
			addr := map[string]string{}
			for i, l := range loads {
				a := fmt.Sprintf("203.0.113.%d:80", 11+i)
				addr[string(rune('A'+i))] = a
				lines = append(lines, fmt.Sprintf("-a -t 192.0.2.10:80 -r %s -m -w %d", a, l.w))
			}
			m := lab(t, lines...)
			svc := svcOf(t, m, "-t 192.0.2.10:80")
			for i, d := range svc.Dests {
				l := loads[len(loads)-1-i]
				d.ActiveConns.Store(l.act)
				d.InactConns.Store(l.inact)
			}
			before := snapshot(m)
			out := show(t, m, "192.0.2.10:80")
			if got := snapshot(m); got != before {
				t.Errorf("show changed the director")
			}
			mustContain(t, out, "State  "+c.head+"\n")
			for i, l := range loads {
				r := row(t, out, addr[string(rune('A'+i))])
				want := fmt.Sprintf("%d %d %d %d ok %s", l.w, l.act, l.inact, 256*l.act+l.inact, c.vals[i])
				if got := strings.Join(r[2:], " "); got != want {
					t.Errorf("row %s: %q, want %q", r[0], got, want)
				}
			}
			if c.next == "" {
				mustContain(t, out, "next new connection: not computed")
				return
			}
			mustContain(t, out, "next new connection -> "+addr[c.next]+"\n")
			var f vs.Flow
			if d := svc.Sched.Schedule(svc, &f); destName(d) != addr[c.next] {
				t.Errorf("Schedule picks %s, show said %s", destName(d), addr[c.next])
			}
		})
	}
}

// bucketRE reads the line show prints for a hashing scheduler.
var bucketRE = regexp.MustCompile(`(?m)^(client|destination) (\S+) -> (bucket|slot) (\d+) of (\d+) -> (\S+) \((\S+)\)$`)

func TestShowSH(t *testing.T) {
	m := lab(t, "-A -t 192.0.2.10:80 -s sh",
		"-a -t 192.0.2.10:80 -r 203.0.113.11:80 -m -w 2",
		"-a -t 192.0.2.10:80 -r 203.0.113.12:80 -m -w 1")
	svc := svcOf(t, m, "-t 192.0.2.10:80")
	out := show(t, m, "-t 192.0.2.10:80")
	mustContain(t, out, "sh hashes the client's address; give --client",
		"table 256 slots (--full lists them)\n",
		"share 203.0.113.12:80 86 (33.6%)\n", "share 203.0.113.11:80 170 (66.4%)\n")

	// --full lists the buckets as runs: in walk order 12 (weight 1)
	// takes one bucket, 11 (weight 2) two, and round again.
	full := show(t, m, "-t 192.0.2.10:80 --full")
	mustContain(t, full, "table 256 slots\n", "  0 203.0.113.12:80\n", "  1-2 203.0.113.11:80\n", "  3 203.0.113.12:80\n")

	table := svc.Sched.(sched.Inspector).Inspect().Table
	hits := map[string]int{}
	for i := range 40 {
		client := netip.AddrFrom4([4]byte{198, 51, 100, byte(i + 1)})
		out := show(t, m, "-t 192.0.2.10:80 --client "+client.String())
		g := bucketRE.FindStringSubmatch(out)
		if g == nil {
			t.Fatalf("no bucket line:\n%s", out)
		}
		b, _ := strconv.Atoi(g[4])
		f := vs.Flow{Proto: vs.TCP, Src: vs.Addr16(client), Dst: vs.Addr16(svc.Addr), DPort: 80}
		picked := destName(svc.Sched.Schedule(svc, &f))
		if g[1] != "client" || g[2] != client.String() || g[3] != "bucket" || g[5] != "256" ||
			g[6] != destName(table[b]) || g[6] != picked || g[7] != "ok" {
			t.Fatalf("%s: %q; the table holds %s there, Schedule picks %s", client, g[0], destName(table[b]), picked)
		}
		mustContain(t, out, "next new connection -> "+picked+"\n")
		hits[picked]++
	}
	if len(hits) != 2 {
		t.Errorf("40 clients all on one dest: %v", hits)
	}

	// The client's port counts only with sh-port.
	portOf := func(args string) string {
		g := bucketRE.FindStringSubmatch(show(t, m, args))
		return g[2] + " " + g[4]
	}
	if a, b := portOf("-t 192.0.2.10:80 --client 198.51.100.7:1000"), portOf("-t 192.0.2.10:80 --client 198.51.100.7:2000"); a != b || a != "198.51.100.7 171" {
		t.Errorf("without sh-port: %q and %q, want both 198.51.100.7 171", a, b)
	}
	if _, e, c := ipvsadm.Run(m, strings.Fields("-E -t 192.0.2.10:80 -s sh -b sh-port,sh-fallback")); c != 0 {
		t.Fatal(e)
	}
	out = show(t, m, "-t 192.0.2.10:80 --client 198.51.100.7:40000")
	mustContain(t, out, "TCP  192.0.2.10:80 sh (sh-fallback,sh-port)\n", "client 198.51.100.7:40000 -> bucket 79 of 256 -> ")

	// The bucket's dest quiesced: sh-fallback probes on, without it none.
	g := bucketRE.FindStringSubmatch(out)
	if _, e, c := ipvsadm.Run(m, strings.Fields("-e -t 192.0.2.10:80 -r "+g[6]+" -m -w 0")); c != 0 {
		t.Fatal(e)
	}
	out = show(t, m, "-t 192.0.2.10:80 --client 198.51.100.7:40000")
	mustContain(t, out, "-> bucket 79 of 256 -> "+g[6]+" (quiesced)\n", "(the bucket's dest is not usable; sh-fallback probed further)")
	if strings.Contains(out, "next new connection -> "+g[6]) || strings.Contains(out, "next new connection -> none") {
		t.Errorf("fallback pick wrong:\n%s", out)
	}
	if _, e, c := ipvsadm.Run(m, strings.Fields("-E -t 192.0.2.10:80 -s sh -b sh-port")); c != 0 {
		t.Fatal(e)
	}
	out = show(t, m, "-t 192.0.2.10:80 --client 198.51.100.7:40000")
	mustContain(t, out, "next new connection -> none (the bucket's dest is not usable and sh-fallback is not set)\n")

}

func TestShowMH(t *testing.T) {
	m := lab(t, "-A -t [2001:db8::10]:80 -s mh",
		"-a -t [2001:db8::10]:80 -r [2001:db8:1::11]:80 -m -w 3",
		"-a -t [2001:db8::10]:80 -r [2001:db8:1::12]:80 -m -w 1")
	svc := svcOf(t, m, "-t [2001:db8::10]:80")
	out := show(t, m, "-t [2001:db8::10]:80 --client 2001:db8:2::7")
	// The shares are read off the scheduler's own table.
	table := svc.Sched.(sched.Inspector).Inspect().Table
	n := map[string]int{}
	for _, d := range table {
		n[destName(d)]++
	}
	if n["[2001:db8:1::11]:80"]+n["[2001:db8:1::12]:80"] != 4093 {
		t.Fatalf("table %v", n)
	}
	for _, a := range []string{"[2001:db8:1::11]:80", "[2001:db8:1::12]:80"} {
		mustContain(t, out, fmt.Sprintf("share %s %d (%.1f%%)\n", a, n[a], 100*float64(n[a])/4093))
	}
	// Maglev shares follow the weights 3:1 to within a few percent.
	if s := float64(n["[2001:db8:1::11]:80"]) / 4093; s < 0.72 || s > 0.78 {
		t.Errorf("share of the weight-3 dest %.3f", s)
	}
	mustContain(t, out, "scheduler mh\ngcd 1\nrshift 0\ntable 4093 slots (--full lists them)\n")
	g := bucketRE.FindStringSubmatch(out)
	if g == nil || g[3] != "slot" || g[5] != "4093" {
		t.Fatalf("no slot line:\n%s", out)
	}
	i, _ := strconv.Atoi(g[4])
	client := netip.MustParseAddr("2001:db8:2::7")
	f := vs.Flow{Proto: vs.TCP, IPv6: true, Src: vs.Addr16(client), Dst: vs.Addr16(svc.Addr), DPort: 80}
	if d := svc.Sched.Schedule(svc, &f); destName(d) != g[6] || destName(table[i]) != g[6] {
		t.Errorf("slot %d: show says %s, table %s, Schedule %s", i, g[6], destName(table[i]), destName(d))
	}
	full := show(t, m, "-t [2001:db8::10]:80 --full")
	if !strings.Contains(full, "table 4093 slots\n") || strings.Count(full, "\n  ") < 100 {
		t.Errorf("--full does not list the table:\n%.400s", full)
	}
}

func TestShowDH(t *testing.T) {
	m := lab(t, "-A -t 192.0.2.10:80 -s dh",
		"-a -t 192.0.2.10:80 -r 203.0.113.11:80 -m",
		"-a -t 192.0.2.10:80 -r 203.0.113.12:80 -m",
		"-A -f 9 -s dh",
		"-a -f 9 -r 203.0.113.11 -m",
		"-a -f 9 -r 203.0.113.12 -m")
	// A VIP service: every client lands in the VIP's bucket.
	a := bucketRE.FindStringSubmatch(show(t, m, "-t 192.0.2.10:80 --client 198.51.100.2"))
	b := bucketRE.FindStringSubmatch(show(t, m, "-t 192.0.2.10:80"))
	if a == nil || b == nil || a[0] != b[0] || a[1] != "destination" || a[2] != "192.0.2.10" {
		t.Fatalf("dh lines %q %q", a, b)
	}
	// A firewall-mark service needs --dst; different destinations spread.
	mustContain(t, show(t, m, "-f 9"), "give --dst ADDR for a firewall-mark service")
	svc := svcOf(t, m, "-f 9")
	seen := map[string]bool{}
	for i := range 16 {
		dst := netip.AddrFrom4([4]byte{192, 0, 2, byte(100 + i)})
		g := bucketRE.FindStringSubmatch(show(t, m, "-f 9 --dst "+dst.String()))
		f := vs.Flow{Proto: vs.TCP, Dst: vs.Addr16(dst), Mark: 9}
		if g == nil || g[2] != dst.String() || g[6] != destName(svc.Sched.Schedule(svc, &f)) {
			t.Fatalf("%s: %q", dst, g)
		}
		seen[g[6]] = true
	}
	if len(seen) != 2 {
		t.Errorf("16 destinations on %v", seen)
	}
}

func TestShowLBLC(t *testing.T) {
	m := lab(t, "-A -f 5 -s lblc", "-a -f 5 -r 203.0.113.11 -m", "-a -f 5 -r 203.0.113.12 -m -w 2")
	svc := svcOf(t, m, "-f 5")
	out := show(t, m, "-f 5")
	mustContain(t, out, "FWM  5 lblc\n", "not computed (a pick updates lblc's cache)",
		"scheduler lblc\nentries 0\ncounter 1\nrover 0\ncache 0 entries\nnext expiry run in ")
	// 20 destination addresses: the first goes to wlc's pick (12, weight
	// 2, met first), which then has one active connection.
	for i := range 20 {
		f := vs.Flow{Proto: vs.TCP, Dst: vs.Addr16(netip.AddrFrom4([4]byte{192, 0, 2, byte(100 + i)})), Mark: 5}
		d := svc.Sched.Schedule(svc, &f)
		d.ActiveConns.Add(1)
	}
	before := snapshot(m)
	out = show(t, m, "-f 5")
	if snapshot(m) != before {
		t.Error("show changed the director")
	}
	mustContain(t, out, "entries 20\n", "cache 20 entries (the first 16 shown; --full shows more)\n")
	if n := strings.Count(out, "\n  ["); n != 16 {
		t.Errorf("%d cache entries shown, want 16", n)
	}
	full := show(t, m, "-f 5 --full")
	mustContain(t, full, "cache 20 entries\n", "] 192.0.2.100 -> 203.0.113.12:0 used ")
	if n := strings.Count(full, "\n  ["); n != 20 {
		t.Errorf("--full: %d cache entries, want 20", n)
	}
	// The dest rows show wlc's measure, lblc's fallback.
	mustContain(t, full, "Load=Overhead/Weight\n")
}

func TestShowServiceLine(t *testing.T) {
	m := lab(t, "-A -t 192.0.2.10:80 -s wlc -p 300 -M 255.255.255.0",
		"-A -u 192.0.2.10:53 -s rr -o -b flag-2",
		"-A -f 3 -6 -s mh -b mh-fallback -p",
		"-A -t 192.0.2.10:81 -s sed")
	for args, want := range map[string]string{
		"-t 192.0.2.10:80": "TCP  192.0.2.10:80 wlc persistent 300 mask 255.255.255.0\n",
		"-u 192.0.2.10:53": "UDP  192.0.2.10:53 rr (flag-2) ops\n",
		"-f 3 -6":          "FWM  3 IPv6 mh (mh-fallback) persistent 360\n",
		"-t 192.0.2.10:81": "TCP  192.0.2.10:81 sed\n",
	} {
		out := show(t, m, args)
		if !strings.HasPrefix(out, want) {
			t.Errorf("%s: %q, want %q", args, strings.SplitN(out, "\n", 2)[0], want)
		}
	}
	mustContain(t, show(t, m, "-t 192.0.2.10:80"), "persistent: a client with a connection template returns")
	mustContain(t, show(t, m, "-t 192.0.2.10:81"), "(no real servers: every new connection is dropped)\n", "next new connection -> none\n")
}

func TestRunErrors(t *testing.T) {
	m := lab(t, "-A -t 192.0.2.10:80 -s rr", "-A -f 3 -s rr")
	before := snapshot(m)
	for _, c := range []struct {
		args string
		code int
		err  string
	}{
		{"show -t 192.0.2.10:81", 1, "gdirector sched: No such service (-t 192.0.2.10:81)\n"},
		{"show -u 192.0.2.10:80", 1, "gdirector sched: No such service (-u 192.0.2.10:80)\n"},
		{"show -f 3 -6", 1, "gdirector sched: No such service (-f 3 -6)\n"},
		{"show -t 192.0.2.10:80 --bogus", 2, "gdirector sched: unknown option \"--bogus\"\n" + Usage},
		{"", 2, "gdirector sched: missing operation (show or list)\n" + Usage},
	} {
		out, errOut, code := Run(m, strings.Fields(c.args))
		if out != "" || errOut != c.err || code != c.code {
			t.Errorf("%q: %d %q %q; want %d %q", c.args, code, out, errOut, c.code, c.err)
		}
	}
	if snapshot(m) != before {
		t.Error("a refused command changed the director")
	}
}

func TestList(t *testing.T) {
	out, errOut, code := Run(ctl.NewManager(ctl.Config{}), []string{"list"})
	if code != 0 || errOut != "" {
		t.Fatal(code, errOut)
	}
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	names := sched.Names()
	if len(lines) != len(names) || len(names) != 14 {
		t.Fatalf("%d lines for %d schedulers:\n%s", len(lines), len(names), out)
	}
	for i, name := range names {
		f := strings.Fields(lines[i])
		if len(f) < 4 || f[0] != name || rules[name] == "" {
			t.Errorf("line %d: %q, want scheduler %s with its rule", i, lines[i], name)
		}
	}
	if len(rules) != len(names) {
		t.Errorf("rules for %d schedulers, registry has %d", len(rules), len(names))
	}
}

// TestControlSocket: the command is reachable over the control socket
// with ctl.CallCmd, as the daemon wires it.
func TestControlSocket(t *testing.T) {
	m := lab(t, "-A -t 192.0.2.10:80 -s wrr", "-a -t 192.0.2.10:80 -r 203.0.113.11:80 -m")
	path := filepath.Join(t.TempDir(), "ctl.sock")
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- ctl.ServeMux(ctx, path, map[string]ctl.Handler{
			"sched": func(argv []string) (string, string, int) { return Run(m, argv) },
		}, func() { close(ready) })
	}()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	select {
	case <-ready:
	case err := <-done:
		t.Fatal(err)
	}
	resp, err := ctl.CallCmd(path, "sched", []string{"show", "-t", "192.0.2.10:80"})
	if err != nil || resp.Code != 0 || !strings.HasPrefix(resp.Stdout, "TCP  192.0.2.10:80 wrr\n") {
		t.Fatalf("%+v %v", resp, err)
	}
	resp, err = ctl.CallCmd(path, "sched", []string{"show", "-t", "192.0.2.10:9"})
	if err != nil || resp.Code != 1 || !strings.Contains(resp.Stderr, "No such service") {
		t.Fatalf("%+v %v", resp, err)
	}
}

// FuzzParse: any command line is either refused with an error (and a zero
// Cmd) or parsed into a Cmd whose canonical form parses back to it; it
// never panics.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"list",
		"show -t 192.0.2.10:80",
		"show 192.0.2.10:80 --client 198.51.100.2:4000 --full",
		"show --sctp-service [2001:db8::10]:80 --client [2001:db8:1::2]:4000",
		"show -f 0x10 -6 --dst 2001:db8::10",
		"show --udp-service=192.0.2.10:53 --client=198.51.100.2",
		"show -t [fe80::1%eth0]:80",
		"show -f 5 --dst 192.0.2.1 --client ::ffff:198.51.100.9",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		c, err := Parse(strings.Fields(line))
		if err != nil {
			if c != (Cmd{}) {
				t.Fatalf("%q refused (%v) but returned %+v", line, err, c)
			}
			return
		}
		back, err := Parse(c.Args())
		if err != nil || back != c {
			t.Fatalf("%q → %q → %+v, %v", line, c.Args(), back, err)
		}
	})
}

// FuzzRun: whatever the command line, Run answers without panicking and
// changes nothing.
func FuzzRun(f *testing.F) {
	for _, s := range []string{
		"show -t 192.0.2.10:80 --client 198.51.100.2:4000",
		"show -t 192.0.2.10:81 --full",
		"show -f 5 --dst 192.0.2.77 --client 198.51.100.2",
		"show -u 192.0.2.10:53",
		"list",
	} {
		f.Add(s)
	}
	m := lab(f, "-A -t 192.0.2.10:80 -s sh -b sh-port,sh-fallback",
		"-a -t 192.0.2.10:80 -r 203.0.113.11:80 -m -w 2", "-a -t 192.0.2.10:80 -r 203.0.113.12:80 -m -w 0",
		"-A -t 192.0.2.10:81 -s mh", "-a -t 192.0.2.10:81 -r 203.0.113.11:81 -m",
		"-A -f 5 -s dh", "-a -f 5 -r 203.0.113.11 -m", "-A -u 192.0.2.10:53 -s ovf")
	before := snapshot(m)
	f.Fuzz(func(t *testing.T, line string) {
		out, errOut, code := Run(m, strings.Fields(line))
		switch code {
		case 0:
			if out == "" || errOut != "" {
				t.Fatalf("%q: code 0 with %q %q", line, out, errOut)
			}
		case 1, 2:
			if out != "" || !strings.HasPrefix(errOut, "gdirector sched: ") {
				t.Fatalf("%q: code %d with %q %q", line, code, out, errOut)
			}
		default:
			t.Fatalf("%q: code %d", line, code)
		}
		if snapshot(m) != before {
			t.Fatalf("%q changed the director", line)
		}
	})
}
