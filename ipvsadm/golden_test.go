package ipvsadm

import (
	"flag"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/gdirector/gdirector/conntrack"
	"github.com/gdirector/gdirector/ctl"
	"github.com/gdirector/gdirector/vs"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// goldenSetup builds a table that exercises every column and flag: added
// out of order so that sorting shows, IPv4 and IPv6, TCP, UDP, SCTP and
// fwmark services, persistence with masks, one-packet scheduling,
// scheduler flags, the three forwarding methods, and counters of every
// magnitude print_largenum scales; and DPVS's FullNAT real servers and
// local addresses.
var goldenSetup = []string{
	"-A -t 192.0.2.10:80 -s rr",
	"-a -t 192.0.2.10:80 -r 203.0.113.12:80 -m -w 2",
	"-a -t 192.0.2.10:80 -r 203.0.113.11:80 -m",
	"-a -t 192.0.2.10:80 -r 203.0.113.11:8080 -m -w 0",
	"-A -t 192.0.2.2:443 -s wrr -p 300 -M 255.255.255.0",
	"-a -t 192.0.2.2:443 -r 203.0.113.21 -g -w 10 -x 1000 -y 100",
	"-a -t 192.0.2.2:443 -r 203.0.113.20 -i -w 5",
	"-A -u 192.0.2.10:53 -s rr -o",
	"-a -u 192.0.2.10:53 -r 203.0.113.31:5353 -m",
	"-A --sctp-service 192.0.2.10:3868 -s wrr -b flag-2",
	"-A -f 42 -s rr -p",
	"-a -f 42 -r 203.0.113.41 -g",
	"-A -f 42 -6 -s wrr",
	"-A -t [2001:db8::10]:80 -s rr -p 120 -M 64",
	"-a -t [2001:db8::10]:80 -r [2001:db8:1::12]:80 -m -w 3",
	"-a -t [2001:db8::10]:80 -r [2001:db8:1::11]:8080 -m",
	"-a -t [2001:db8::10]:80 -r 203.0.113.50 -i",
	// FullNAT (DPVS): real servers with -b, local addresses with -P.
	"-A -t 192.0.2.20:8443 -s rr",
	"-a -t 192.0.2.20:8443 -r 203.0.113.61:443 -b",
	"-a -t 192.0.2.20:8443 -r 203.0.113.60:443 -b -w 4",
	"-P -t 192.0.2.20:8443 -z 198.51.100.251",
	"-P -t 192.0.2.20:8443 -z 198.51.100.250 -F eth1",
	"-a -t [2001:db8::10]:80 -r [2001:db8:1::13]:8080 -b",
	"-P -t [2001:db8::10]:80 -z 2001:db8:5::250 -F eth1",
}

func goldenManager(t *testing.T) *ctl.Manager {
	t.Helper()
	m, _ := newManager(t, goldenSetup)
	tbl := m.Table()
	s := tbl.Get(ctl.ServiceID{Proto: vs.TCP, Addr: netip.MustParseAddr("192.0.2.10"), Port: 80}.Key())
	s.Stats.Conns.Store(12345)
	s.Stats.InPkts.Store(123456789)
	s.Stats.OutPkts.Store(98765432101)
	s.Stats.InBytes.Store(12345678901234)
	s.Stats.OutBytes.Store(987654321098765)
	// Counters by real server, in the order goldenSetup adds them (the
	// listings must not depend on the order of s.Dests).
	servers := []string{"203.0.113.12:80", "203.0.113.11:80", "203.0.113.11:8080"}
	if len(s.Dests) != len(servers) {
		t.Fatalf("dests %v, want %v", s.Dests, servers)
	}
	for i, ap := range servers {
		d := destOf(t, s, ap)
		d.ActiveConns.Store(int32(100 * (i + 1)))
		d.InactConns.Store(int32(7 * i))
		d.PersistConns.Store(int32(i))
		d.Stats.Conns.Store(uint64(1000 * (i + 1)))
		d.Stats.InPkts.Store(99999999)
		d.Stats.OutPkts.Store(100000000)
		d.Stats.InBytes.Store(999999999)
		d.Stats.OutBytes.Store(1000000000)
	}
	// Local address counters, in the order they were added.
	fn := tbl.Get(ctl.ServiceID{Proto: vs.TCP, Addr: netip.MustParseAddr("192.0.2.20"), Port: 8443}.Key())
	if len(fn.LAddrs) != 2 {
		t.Fatalf("laddrs %v", fn.LAddrs)
	}
	fn.LAddrs[0].Conflicts.Store(3)
	fn.LAddrs[0].Conns.Store(1200)
	fn.LAddrs[1].Conflicts.Store(4294967296)
	fn.LAddrs[1].Conns.Store(7)
	return m
}

func TestGolden(t *testing.T) {
	for _, tc := range []struct{ file, argv string }{
		{"list.golden", "-L -n"},
		{"list_nosort.golden", "-L -n --nosort"},
		{"stats.golden", "-L -n --stats"},
		{"stats_exact.golden", "-L -n --stats --exact"},
		{"rate.golden", "-L -n --rate"},
		{"thresholds.golden", "-L -n --thresholds"},
		{"persistent_conn.golden", "-L -n --persistent-conn"},
		{"tun_info.golden", "-L -n --tun-info"},
		{"service.golden", "-L -n -t [2001:db8::10]:80"},
		{"save.golden", "-S -n"},
		{"get_laddr.golden", "-G"},
		{"get_laddr_service.golden", "-G -t 192.0.2.20:8443"},
	} {
		t.Run(tc.file, func(t *testing.T) {
			m := goldenManager(t)
			out, errOut, code := Run(m, strings.Fields(tc.argv))
			if code != 0 || errOut != "" {
				t.Fatalf("%s: %d %s", tc.argv, code, errOut)
			}
			path := filepath.Join("testdata", tc.file)
			if *update {
				if err := os.WriteFile(path, []byte(out), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if out != string(want) {
				t.Errorf("ipvsadm %s:\n%s\nwant (%s):\n%s", tc.argv, out, path, want)
			}
		})
	}
}

// TestSaveRestoresSame: -S output fed to -R rebuilds the same table.
func TestSaveRestoresSame(t *testing.T) {
	m := goldenManager(t)
	save, _, _ := Run(m, []string{"-S", "-n"})
	m2, _ := newManager(t, nil)
	if _, e, c := RunInput(m2, []string{"-R"}, strings.NewReader(save)); c != 0 {
		t.Fatal(e)
	}
	if again, _, _ := Run(m2, []string{"-S", "-n"}); again != save {
		t.Fatalf("restore of save differs:\n%s\n%s", again, save)
	}
}

// TestListConnections: -c prints the connection table like
// /proc/net/ip_vs_conn through ipvsadm, expiry as mm:ss.
func TestListConnections(t *testing.T) {
	conns := conntrack.NewTable(conntrack.Options{Capacity: 16})
	now := int64(1e12)
	var tbl = ctl.NewManager(ctl.Config{Conns: conns, Now: func() int64 { return now }})
	m := tbl
	for _, line := range goldenSetup[:3] {
		if _, e, c := Run(m, strings.Fields(line)); c != 0 {
			t.Fatal(e)
		}
	}
	s := m.Table().Services[0]
	a16 := func(s string) [16]byte { return netip.MustParseAddr(s).As16() }
	c1, err := conns.New(now, &conntrack.Params{Proto: vs.TCP, CAddr: a16("198.51.100.7"), CPort: 40000,
		VAddr: a16("192.0.2.10"), VPort: 80, DAddr: a16("203.0.113.11"), DPort: 80,
		Fwd: vs.Masq, Dest: destOf(t, s, "203.0.113.11:80"), Svc: s})
	if err != nil {
		t.Fatal(err)
	}
	c1.Update(now, conntrack.In, 0x02)  // SYN
	c1.Update(now, conntrack.Out, 0x12) // SYN+ACK
	c1.Update(now, conntrack.In, 0x10)  // ACK: established, 15 min
	if _, err := conns.New(now, &conntrack.Params{Proto: vs.UDP, CAddr: a16("198.51.100.8"), CPort: 5353,
		VAddr: a16("192.0.2.10"), VPort: 53, DAddr: a16("203.0.113.31"), DPort: 5353,
		Fwd: vs.Masq}); err != nil {
		t.Fatal(err)
	}
	now += 61e9 // a minute and a second later
	out, _, code := Run(m, []string{"-L", "-n", "-c"})
	if code != 0 {
		t.Fatal(code)
	}
	lines := strings.Split(out, "\n")
	want := []string{
		"IPVS connection entries",
		"pro expire state       source             virtual            destination",
	}
	if !slices.Equal(lines[:2], want) {
		t.Fatalf("header:\n%s", out)
	}
	body := slices.Sorted(slices.Values(lines[2:]))
	wantBody := []string{
		"",
		"TCP 13:59  ESTABLISHED 198.51.100.7:40000 192.0.2.10:80      203.0.113.11:80",
		"UDP 00:00  UDP         198.51.100.8:5353  192.0.2.10:53      203.0.113.31:5353",
	}
	if !slices.Equal(body, wantBody) {
		t.Fatalf("connections:\n%q\nwant\n%q", body, wantBody)
	}
}
