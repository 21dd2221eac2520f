package ipvsadm

import (
	"net/netip"
	"strings"
	"testing"
)

// fuzzBase is base with a FullNAT real server and local addresses.
var fuzzBase = append(append([]string(nil), base...),
	"-a -t 192.0.2.10:80 -r 203.0.113.13:8080 -b -w 3",
	"-P -t 192.0.2.10:80 -z 198.51.100.250 -F eth1",
	"-A -t [2001:db8::10]:443 -s wrr",
	"-P -t [2001:db8::10]:443 -z 2001:db8:5::250",
)

// FuzzRun feeds arbitrary command lines (words separated by spaces) to
// Run on a populated table (FullNAT included): it must not panic, and a
// command that fails must leave the configuration exactly as it was (no
// table published, same settings and counters).
func FuzzRun(f *testing.F) {
	for _, seed := range []string{
		"", "-Ln", "-L -n --stats --exact", "-S -n", "-Lnc", "-L --timeout",
		"-A -t 192.0.2.10:81 -s rr -p 60 -M 255.255.255.0",
		"-A -t [2001:db8::1]:80 -s wrr -p -M 64", "-A -f 9 -6 -s rr",
		"-E -t 192.0.2.10:80 -s wrr", "-D -t 192.0.2.10:80", "-C", "-Z",
		"-a -t 192.0.2.10:80 -r 203.0.113.13:80 -m -w 4 -x 10 -y 5",
		"-e -t 192.0.2.10:80 -r 203.0.113.11 -i", "-d -t 192.0.2.10:80 -r 203.0.113.12",
		"--set 1 2 3", "-A -t 192.0.2.10 -s rr", "-A -6 -f 1", "-At192.0.2.10:1 -srr -p=5",
		"--add-server --tcp-service=192.0.2.10:80 --real-server=[::1]:1 --ipip",
		"-a -t 192.0.2.10:80 -r 203.0.113.13 -i --tun-type gue --tun-port 1 --tun-csum",
		"-A -t 192.0.2.10:81 -b sh-port,flag-1 -s sh", "-L -- -A", "-R", "-h", "-v",
		"--start-daemon master --syncid 3 --mcast-group 224.0.0.81",
		"-a -t 192.0.2.10:80 -r 203.0.113.14 -b", "-ab -t 192.0.2.10:80 -r 203.0.113.14 -w 2",
		"-e -t 192.0.2.10:80 -r 203.0.113.13:8080 -m", "-a -t 192.0.2.10:80 -r 203.0.113.14 -b flag-1",
		"-A -t 192.0.2.10:82 -s rr -b flag-1", "-A -t 192.0.2.10:82 --fullnat",
		"-P -t 192.0.2.10:80 -z 198.51.100.251 -F eth2", "-P -t 192.0.2.10:80 -z 198.51.100.250",
		"--add-laddr --tcp-service=[2001:db8::10]:443 --laddr=2001:db8:5::251 --ifname=eth0",
		"-Q -t 192.0.2.10:80 -z 198.51.100.250", "--del-laddr -t 192.0.2.10:80 -z 198.51.100.9",
		"-P -t [2001:db8::10]:443 -z 198.51.100.251", "-P -f 7 -z 198.51.100.251 -F a/b",
		"-G", "-G -t 192.0.2.10:80", "--get-laddr -u 192.0.2.10:53", "-G -n",
		// Names, popt's "!#:+", the daemon and PE refusals.
		"-L", "-S", "-Lc", "-A -t 192.0.2.10:https -s rr", "-a -u 192.0.2.10:53 -r 203.0.113.9:domain -m",
		"-A -t 192.0.2.10:81 -s w!#:+ rr", "-A -t 192.0.2.10:!#:+ -srr 81", "-s !#:+",
		"--start-daemon master --syncid 9 --mcast-port 8848", "--stop-daemon backup",
		"-A -t 192.0.2.10:81 -s rr -p --pe sip", "-E -t 192.0.2.10:80 --sched-flags=",
		"-a -t 192.0.2.10:80 -r 203.0.113.13 -i --tun-type gre --tun-nocsum",
		"-L --numeric=", "-Lt", "--set -1 0 0", "-L -n --sort --sort",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, line string) {
		m, tbl := newManager(t, fuzzBase)
		before, beforeDump := tbl.Load(), dump(m)
		var argv []string
		if line != "" {
			argv = strings.Split(line, " ")
		}
		out, errOut, code := Run(m, argv)
		if code == 0 && errOut != "" {
			t.Fatalf("status 0 with an error message %q", errOut)
		}
		if code != 0 {
			if errOut == "" {
				t.Fatalf("status %d without a message", code)
			}
			if tbl.Load() != before || dump(m) != beforeDump {
				t.Fatalf("failed command %q (status %d, %q) changed the configuration", line, code, errOut)
			}
		}
		_ = out
	})
}

// FuzzRunNames is FuzzRun in an environment that names addresses and
// resolves host names: the command must not panic, must fail without
// changing anything, and a listing without -n must have as many lines as
// the same listing with -n (names change the text of a line, never the
// lines).
func FuzzRunNames(f *testing.F) {
	for _, seed := range []string{
		"-L", "-S", "-Lc", "-L --stats", "-L --thresholds -t www.example.com:http",
		"-A -t www.example.com:444 -s rr", "-a -t 192.0.2.10:80 -r rs.example.com:http-alt -m",
		"-A -t 192.0.2.10:81 -s rr -p -M mask.example.com", "-L -t 192.0.2.10:www",
	} {
		f.Add(seed)
	}
	env := Env{Names: &Names{
		HostName: func(a netip.Addr) string {
			switch a.String() {
			case "192.0.2.10":
				return "www.example.com"
			case "203.0.113.11":
				return "rs.example.com"
			case "2001:db8::10":
				return "a-rather-long-name-for-an-ipv6-service.example.com"
			}
			return ""
		},
		LookupHost: func(name string) (netip.Addr, bool) {
			switch name {
			case "www.example.com":
				return netip.MustParseAddr("192.0.2.10"), true
			case "rs.example.com":
				return netip.MustParseAddr("203.0.113.11"), true
			case "mask.example.com":
				return netip.MustParseAddr("255.255.255.0"), true
			}
			return netip.Addr{}, false
		},
	}}
	f.Fuzz(func(t *testing.T, line string) {
		m, tbl := newManager(t, fuzzBase)
		before, beforeDump := tbl.Load(), dump(m)
		var argv []string
		if line != "" {
			argv = strings.Split(line, " ")
		}
		_, errOut, code := RunEnv(m, argv, env)
		if code != 0 {
			if errOut == "" {
				t.Fatalf("status %d without a message", code)
			}
			if tbl.Load() != before || dump(m) != beforeDump {
				t.Fatalf("failed command %q (status %d, %q) changed the configuration", line, code, errOut)
			}
		}
		names, _, c1 := RunEnv(m, []string{"-L"}, env)
		numeric, _, c2 := RunEnv(m, []string{"-L", "-n"}, env)
		if c1 != 0 || c2 != 0 || strings.Count(names, "\n") != strings.Count(numeric, "\n") {
			t.Fatalf("-L and -L -n differ in lines after %q:\n%s\n%s", line, names, numeric)
		}
	})
}
