package markcmd

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/gdirector/gdirector/ctl"
	"github.com/gdirector/gdirector/vs"
)

func TestParse(t *testing.T) {
	for _, c := range []struct {
		args string
		op   Op
		rule string // the rule's String(); "" for list/flush
		err  string
	}{
		{"add -d 192.0.2.10 -p tcp --dports 80,443 --set-mark 10", OpAdd, "-d 192.0.2.10 -p tcp --dports 80,443 --set-mark 10", ""},
		{"-A --destination=192.0.2.10 --protocol udp --dport 53 --set-mark 0x10", OpAdd, "-d 192.0.2.10 -p udp --dports 53 --set-mark 16", ""},
		{"del -d 2001:db8:2::10 -s 2001:db8:1::/48 -p sctp --dports 1000:2000,3000 --set-mark 7", OpDel, "-d 2001:db8:2::10 -s 2001:db8:1::/48 -p sctp --dports 1000:2000,3000 --set-mark 7", ""},
		{"add -d 192.0.2.10 -s 198.51.100.7 --set-mark 1", OpAdd, "-d 192.0.2.10 -s 198.51.100.7/32 --set-mark 1", ""},
		{"add -d 192.0.2.10 -s 198.51.100.77/24 --set-mark 1", OpAdd, "-d 192.0.2.10 -s 198.51.100.0/24 --set-mark 1", ""},
		{"list", OpList, "", ""},
		{"flush", OpFlush, "", ""},
		{"", 0, "", "missing operation"},
		{"insert -d 192.0.2.10 --set-mark 1", 0, "", "unknown operation"},
		{"list -d 192.0.2.10", 0, "", "takes no arguments"},
		{"add --set-mark 1", 0, "", "missing destination"},
		{"add -d 192.0.2.10", 0, "", "missing mark"},
		{"add -d 192.0.2.10 --set-mark 0", 0, "", "bad mark"},
		{"add -d 192.0.2.10 --set-mark 4294967296", 0, "", "bad mark"},
		{"add -d 192.0.2.10 --set-mark -1", 0, "", "bad mark"},
		{"add -d 192.0.2.300 --set-mark 1", 0, "", "bad destination"},
		{"add -d fe80::1%eth0 --set-mark 1", 0, "", "bad destination"},
		{"add -d 192.0.2.10 -p icmp --set-mark 1", 0, "", "bad protocol"},
		{"add -d 192.0.2.10 --dports 80 --set-mark 1", 0, "", "needs a protocol"},
		{"add -d 192.0.2.10 -p tcp --dports 0 --set-mark 1", 0, "", "bad port"},
		{"add -d 192.0.2.10 -p tcp --dports 90:80 --set-mark 1", 0, "", "bad port range"},
		{"add -d 192.0.2.10 -p tcp --dports 80, --set-mark 1", 0, "", "bad port"},
		{"add -d 192.0.2.10 -p tcp --dports 65536 --set-mark 1", 0, "", "bad port"},
		{"add -d 192.0.2.10 -s 2001:db8::/32 --set-mark 1", 0, "", "different address families"},
		{"add -d 192.0.2.10 -s 198.51.100.0/33 --set-mark 1", 0, "", "bad source network"},
		{"add -d 192.0.2.10 --set-mark 1 --set-mark 2", 0, "", "given twice"},
		{"add -d 192.0.2.10 --set-mark", 0, "", "needs a value"},
		{"add -d 192.0.2.10 --set-mark 1 -j MARK", 0, "", "unknown option"},
		{"add -d 192.0.2.10 -p tcp --dports " + strings.Repeat("1,", 64) + "2 --set-mark 1", 0, "", "too many ports"},
	} {
		op, r, err := Parse(strings.Fields(c.args))
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%q: error %v, want %q", c.args, err, c.err)
			}
			continue
		}
		if err != nil || op != c.op {
			t.Errorf("%q: op %v err %v", c.args, op, err)
			continue
		}
		if c.rule != "" && r.String() != c.rule {
			t.Errorf("%q: rule %q, want %q", c.args, r.String(), c.rule)
		}
		// The printed rule parses back to the same rule.
		if c.rule != "" {
			_, back, err := Parse(append([]string{"add"}, strings.Fields(r.String())...))
			if err != nil || !back.Equal(&r) {
				t.Errorf("%q: round trip %v %q", c.args, err, back.String())
			}
		}
	}
}

func TestRun(t *testing.T) {
	m := ctl.NewManager(ctl.Config{})
	run := func(args string) (string, string, int) { return Run(m, strings.Fields(args)) }
	if _, e, code := run("add -d 192.0.2.10 -p tcp --dports 80,443 --set-mark 10"); code != 0 {
		t.Fatalf("add: %d %s", code, e)
	}
	if _, e, code := run("add -d 192.0.2.10 -p tcp --dports 80,443 --set-mark 10"); code != 1 || !strings.Contains(e, "already exists") {
		t.Fatalf("duplicate: %d %s", code, e)
	}
	if _, e, code := run("add -d 192.0.2.10 -p udp --dports 53 --set-mark 11"); code != 0 {
		t.Fatalf("add: %d %s", code, e)
	}
	if _, e, code := run("add -d 224.0.0.1 --set-mark 3"); code != 1 || !strings.Contains(e, "unicast") {
		t.Fatalf("multicast destination: %d %s", code, e)
	}
	if _, e, code := run("add -d 192.0.2.10 --dports"); code != 2 || !strings.Contains(e, "Usage") {
		t.Fatalf("bad line: %d %s", code, e)
	}
	out, _, _ := run("list")
	want := "mark add -d 192.0.2.10 -p tcp --dports 80,443 --set-mark 10\nmark add -d 192.0.2.10 -p udp --dports 53 --set-mark 11\n"
	if out != want {
		t.Fatalf("list:\n%s\nwant:\n%s", out, want)
	}
	tb := m.Table()
	src, dst := vs.Addr16(netip.MustParseAddr("198.51.100.2")), vs.Addr16(netip.MustParseAddr("192.0.2.10"))
	if tb.Classify(false, vs.TCP, &src, &dst, 443) != 10 || tb.Classify(false, vs.UDP, &src, &dst, 53) != 11 || tb.Classify(false, vs.TCP, &src, &dst, 53) != 0 {
		t.Fatal("published table does not classify")
	}
	if _, e, code := run("del -d 192.0.2.10 -p tcp --dports 80 --set-mark 10"); code != 1 || !strings.Contains(e, "no such") {
		t.Fatalf("del of a different rule: %d %s", code, e)
	}
	if _, _, code := run("del -d 192.0.2.10 -p tcp --dports 80,443 --set-mark 10"); code != 0 {
		t.Fatal("del")
	}
	run("flush")
	if out, _, _ := run("list"); out != "" || len(m.Table().Marks) != 0 {
		t.Fatalf("after flush: %q", out)
	}
}

// FuzzParse: any command line either parses into a rule that prints and
// parses back to itself, or is refused with an error; it never panics.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"add -d 192.0.2.10 -p tcp --dports 80,443 --set-mark 10",
		"del -d 2001:db8::1 -s 2001:db8::/32 -p udp --dports 1:65535 --set-mark 0xffffffff",
		"list", "flush", "add --dports=80:81 -p=sctp -d=192.0.2.1 --set-mark=5",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		op, r, err := Parse(strings.Fields(line))
		if err != nil || (op != OpAdd && op != OpDel) {
			return
		}
		_, back, err := Parse(append([]string{"add"}, strings.Fields(r.String())...))
		if err != nil || !back.Equal(&r) {
			t.Fatalf("%q → %q → %v %q", line, r.String(), err, back.String())
		}
	})
}
