package ipvsadm

import (
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gdirector/gdirector/ctl"
	"github.com/gdirector/gdirector/estimator"
	"github.com/gdirector/gdirector/vs"
)

// perSecond is a load in units per second: conns, in/out packets, in/out
// bytes.
type perSecond [5]uint64

// load adds 2 s worth of l to st, as the data plane would between two
// estimations.
func load(st *vs.Stats, l perSecond) {
	st.Conns.Add(2 * l[0])
	st.InPkts.Add(2 * l[1])
	st.OutPkts.Add(2 * l[2])
	st.InBytes.Add(2 * l[3])
	st.OutBytes.Add(2 * l[4])
}

// rateManager is goldenManager with its counters zeroed (-Z) and then 200
// estimation passes of steady traffic on 192.0.2.10:80 (two of its real
// servers) and on [2001:db8::10]:80 (one real server), and a burst of UDP
// to 192.0.2.10:53 in the second-to-last interval. Steady loads read back
// exactly (the averages settle 3 below their target); the burst reads as
// the kernel's smoothing leaves it after one busy and one idle pass.
func rateManager(t *testing.T) *ctl.Manager {
	t.Helper()
	m := goldenManager(t)
	if _, e, c := Run(m, []string{"-Z"}); c != 0 {
		t.Fatalf("-Z: %s", e)
	}
	tbl := m.Table()
	web := tbl.Get(ctl.ServiceID{Proto: vs.TCP, Addr: netip.MustParseAddr("192.0.2.10"), Port: 80}.Key())
	web6 := tbl.Get(ctl.ServiceID{Proto: vs.TCP, Addr: netip.MustParseAddr("2001:db8::10"), Port: 80}.Key())
	dns := tbl.Get(ctl.ServiceID{Proto: vs.UDP, Addr: netip.MustParseAddr("192.0.2.10"), Port: 53}.Key())
	steady := []struct {
		svc  *vs.Service
		dest string
		l    perSecond
	}{
		// Every magnitude print_largenum scales, and a 9-digit OutPPS
		// that overflows the real server's %8llu column as in ipvsadm.
		{web, "203.0.113.12:80", perSecond{100, 12345678, 123456789, 99999999, 100000000}},
		{web, "203.0.113.11:80", perSecond{1, 2, 3, 1000000000, 123456789012}},
		{web6, "[2001:db8:1::12]:80", perSecond{5, 1000, 2000, 80000, 2500000}},
	}
	const passes = 200
	for i := 1; i <= passes; i++ {
		for _, s := range steady {
			load(s.svc.Stats, s.l)
			load(&destOf(t, s.svc, s.dest).Stats, s.l)
		}
		if i == passes-1 {
			// 10 one-datagram connections, 100 bytes in and 500 out
			// each, all within one interval.
			for _, st := range []*vs.Stats{dns.Stats, &destOf(t, dns, "203.0.113.31:5353").Stats} {
				st.Conns.Add(10)
				st.InPkts.Add(10)
				st.OutPkts.Add(10)
				st.InBytes.Add(1000)
				st.OutBytes.Add(5000)
			}
		}
		estimator.Pass(m.Table())
	}
	return m
}

// TestRateListing: --rate prints the estimates in ipvsadm's layout; the
// lines below are worked out by hand.
func TestRateListing(t *testing.T) {
	m := rateManager(t)
	out, errOut, code := Run(m, []string{"-L", "-n", "--rate"})
	if code != 0 || errOut != "" {
		t.Fatalf("--rate: %d %s", code, errOut)
	}
	exact, errOut, code := Run(m, []string{"-L", "-n", "--rate", "--exact"})
	if code != 0 || errOut != "" {
		t.Fatalf("--rate --exact: %d %s", code, errOut)
	}
	for _, want := range []string{
		// The service carries the sum of its two loaded real servers:
		// 101 cps, 12345680 in (%9d), 123456792 out (≥ 10^8: 123456K),
		// 1099999999 B/s in (≥ 10^9: 1099M), 123556789012 out (≥ 10^11:
		// 123G).
		"TCP  192.0.2.10:80                     101 12345680  123456K    1099M     123G\n",
		// Real servers: CPS, InPPS, OutPPS with %8llu (never scaled,
		// the 9-digit value pushes the line), the byte rates scaled.
		"  -> 203.0.113.11:80                     1        2        3    1000M     123G\n",
		"  -> 203.0.113.12:80                   100 12345678 123456789 99999999  100000K\n",
		"  -> 203.0.113.11:8080                   0        0        0        0        0\n",
		"TCP  [2001:db8::10]:80                   5     1000     2000    80000  2500000\n",
		"  -> [2001:db8:1::12]:80                 5     1000     2000    80000  2500000\n",
		// The burst, one busy pass then one idle one: 10 conns → avg
		// 10<<9>>2 = 1280, then 1280-320 = 960: (960+511)>>10 = 1; the
		// same for packets; 1000 bytes → 4000 → 3000: (3000+15)>>5 =
		// 94; 5000 bytes → 20000 → 15000: 15015>>5 = 469.
		"UDP  192.0.2.10:53                       1        1        1       94      469\n",
		"  -> 203.0.113.31:5353                   1        1        1       94      469\n",
		// Untouched services read 0.
		"TCP  192.0.2.2:443                       0        0        0        0        0\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("--rate lacks %q:\n%s", want, out)
		}
	}
	for _, want := range []string{
		// --exact: print_largenum widths (digits + 1 past 8 digits).
		"TCP  192.0.2.10:80                     101 12345680 123456792 1099999999 123556789012\n",
		"  -> 203.0.113.11:80                     1        2        3 1000000000 123456789012\n",
		"  -> 203.0.113.12:80                   100 12345678 123456789 99999999 100000000\n",
	} {
		if !strings.Contains(exact, want) {
			t.Errorf("--rate --exact lacks %q:\n%s", want, exact)
		}
	}
}

// TestRateGolden: the whole --rate listings with non-zero rates, byte for
// byte (testdata/rate_nonzero*.golden; -update rewrites them).
func TestRateGolden(t *testing.T) {
	for _, tc := range []struct{ file, argv string }{
		{"rate_nonzero.golden", "-L -n --rate"},
		{"rate_nonzero_exact.golden", "-L -n --rate --exact"},
		{"rate_nonzero_service.golden", "-L -n --rate -t 192.0.2.10:80"},
	} {
		t.Run(tc.file, func(t *testing.T) {
			out, errOut, code := Run(rateManager(t), strings.Fields(tc.argv))
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

// TestZeroZeroesRates: -Z zeroes the rates with the counters, for every
// service or for the one named.
func TestZeroZeroesRates(t *testing.T) {
	m := rateManager(t)
	if _, e, c := Run(m, strings.Fields("-Z -t 192.0.2.10:80")); c != 0 {
		t.Fatal(e)
	}
	out, _, _ := Run(m, strings.Fields("-L -n --rate"))
	for _, want := range []string{
		"TCP  192.0.2.10:80                       0        0        0        0        0\n",
		"  -> 203.0.113.12:80                     0        0        0        0        0\n",
		"TCP  [2001:db8::10]:80                   5     1000     2000    80000  2500000\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("after -Z -t: lacks %q:\n%s", want, out)
		}
	}
	if _, e, c := Run(m, []string{"-Z"}); c != 0 {
		t.Fatal(e)
	}
	zero, _, _ := Run(m, strings.Fields("-L -n --rate"))
	if want, _ := os.ReadFile(filepath.Join("testdata", "rate.golden")); zero != string(want) {
		t.Errorf("after -Z the rates are not all 0:\n%s", zero)
	}
	// The next pass starts from the zeroed counters: still 0.
	estimator.Pass(m.Table())
	if again, _, _ := Run(m, strings.Fields("-L -n --rate")); again != zero {
		t.Errorf("a pass after -Z shows rates:\n%s", again)
	}
}
