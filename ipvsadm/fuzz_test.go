package ipvsadm

import (
	"strings"
	"testing"
)

// FuzzRun feeds arbitrary command lines (words separated by spaces) to
// Run on a populated table (FullNAT included): it must not panic, and a command that fails
// must leave the configuration exactly as it was (no table published, same
// settings and counters).
// fuzzBase is base with a FullNAT real server and local addresses.
var fuzzBase = append(append([]string(nil), base...),
	"-a -t 192.0.2.10:80 -r 203.0.113.13:8080 -b -w 3",
	"-P -t 192.0.2.10:80 -z 198.51.100.250 -F eth1",
	"-A -t [2001:db8::10]:443 -s wrr",
	"-P -t [2001:db8::10]:443 -z 2001:db8:5::250",
)

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
