package ipvsadm

import (
	"strings"
	"testing"

	"github.com/gdirector/gdirector/ctl"
	"github.com/gdirector/gdirector/vs"
)

// fnBase is the configuration the FullNAT grammar cases start from: a
// FullNAT real server with one local address, an IPv6 service, a fwmark
// service and a UDP service without local addresses.
var fnBase = []string{
	"-A -t 192.0.2.10:80 -s rr",
	"-a -t 192.0.2.10:80 -r 203.0.113.11:8080 -b",
	"-P -t 192.0.2.10:80 -z 198.51.100.250 -F eth1",
	"-A -t [2001:db8::10]:443 -s wrr",
	"-A -f 7 -s rr -p",
	"-A -u 192.0.2.10:53 -s rr",
}

// --get-laddr lines, in DPVS's printf layout: the title
// "%-20s %-8s %-20s %-10s %-10s", a service "%-20s %-8u " and a local
// address "%-20s %-8s %-20s %-10lu %-10u".
const (
	gTitle  = "VIP:VPORT            TOTAL    SNAT_IP              CONFLICTS  CONNS     \n"
	gWeb1   = "192.0.2.10:80        1        \n"
	gWeb2   = "192.0.2.10:80        2        \n"
	gWeb0   = "192.0.2.10:80        0        \n"
	gDNS    = "192.0.2.10:53        0        \n"
	gWeb6   = "[2001:db8::10]:443   0        \n"
	gWeb6x1 = "[2001:db8::10]:443   1        \n"
	gFwm    = "FWM  7               0        \n"
	gFwm1   = "FWM  7               1        \n"
	gL250   = "                              198.51.100.250       0          0         \n"
	gL251   = "                              198.51.100.251       0          0         \n"
	gL6     = "                              2001:db8:5::250      0          0         \n"

	fnWeb = "TCP  192.0.2.10:80 rr\n" +
		"  -> 203.0.113.11:8080            FullNat 1      0          0         \n"
)

func TestRunFullNAT(t *testing.T) {
	runCases(t, fnBase, []runCase{
		// -b on the real-server commands is DPVS's --fullnat.
		{name: "fullnat listed", argv: "-L -n -t 192.0.2.10:80", stdout: title + fnWeb},
		{name: "add -b keeps the port", argv: "-a -t 192.0.2.10:80 -r 203.0.113.12:8081 -b -w 3",
			then: "-Ln -t 192.0.2.10:80", want: title + fnWeb +
				"  -> 203.0.113.12:8081            FullNat 3      0          0         \n"},
		{name: "add --fullnat, port from service", argv: "--add-server --tcp-service 192.0.2.10:80 --real-server 203.0.113.12 --fullnat",
			then: "-Ln -t 192.0.2.10:80", want: "-" + "  -> 203.0.113.12:80              FullNat 1      0          0         \n"},
		{name: "-b clustered with -w", argv: "-a -t 192.0.2.10:80 -r 203.0.113.12:80 -bw 5",
			then: "-Ln -t 192.0.2.10:80", want: "-" + "  -> 203.0.113.12:80              FullNat 5      0          0         \n"},
		{name: "-b clustered after the command", argv: "-ab -t 192.0.2.10:80 -r 203.0.113.12:80",
			then: "-Ln -t 192.0.2.10:80", want: "-" + "  -> 203.0.113.12:80              FullNat 1      0          0         \n"},
		{name: "ipv6 fullnat", argv: "-a -t [2001:db8::10]:443 -r [2001:db8:1::11]:8443 -b",
			then: "-Ln -t [2001:db8::10]:443", want: title + "TCP  [2001:db8::10]:443 wrr\n" +
				"  -> [2001:db8:1::11]:8443        FullNat 1      0          0         \n"},
		{name: "fwmark fullnat", argv: "-a -f 7 -r 203.0.113.13:8080 -b",
			then: "-Ln -f 7", want: title + "FWM  7 rr persistent 360\n" +
				"  -> 203.0.113.13:8080            FullNat 1      0          0         \n"},
		{name: "edit to masq", argv: "-e -t 192.0.2.10:80 -r 203.0.113.11:8080 -m -w 2",
			then: "-Ln -t 192.0.2.10:80", want: "-" + "  -> 203.0.113.11:8080            Masq    2      0          0         \n"},
		{name: "edit -b", argv: "-e -t 192.0.2.10:80 -r 203.0.113.11:8080 -b -w 4",
			then: "-Ln -t 192.0.2.10:80", want: "-" + "  -> 203.0.113.11:8080            FullNat 4      0          0         \n"},
		{name: "save", argv: "-S -n", stdout: "-A -t 192.0.2.10:80 -s rr\n" +
			"-a -t 192.0.2.10:80 -r 203.0.113.11:8080 -b -w 1\n" +
			"-P -t 192.0.2.10:80 -z 198.51.100.250 -F eth1\n" +
			"-A -u 192.0.2.10:53 -s rr\n" +
			"-A -t [2001:db8::10]:443 -s wrr\n" +
			"-A -f 7 -s rr -p 360\n"},
		{name: "tun-info column", argv: "-L -n --tun-info -t 192.0.2.10:80", stdout: "Prot LocalAddress:Port Scheduler Flags\n" +
			"  -> RemoteAddress:Port           Forward TunnelInfo    Weight ActiveConn InActConn\n" +
			"TCP  192.0.2.10:80 rr\n" +
			"  -> 203.0.113.11:8080            FullNat n/a           1      0          0         \n"},

		// -b on -A/-E is still ipvsadm 1.31's --sched-flags FLAGS.
		{name: "-b on -A takes flags", argv: "-A -t 192.0.2.10:81 -s rr -b flag-1",
			then: "-Ln -t 192.0.2.10:81", want: title + "TCP  192.0.2.10:81 rr (flag-1)\n"},
		{name: "-b attached on -E", argv: "-E -t 192.0.2.10:80 -s wrr -bflag-2",
			then: "-Ln -t 192.0.2.10:80", want: "-TCP  192.0.2.10:80 wrr (flag-2)\n"},
		{name: "-b sh flag on -E", argv: "-E -t 192.0.2.10:80 -s rr -b sh-port", code: 2,
			stderr: "incompatible scheduler flag `sh-port'\n"},
		{name: "-b on -A needs flags", argv: "-A -t 192.0.2.10:81 -s rr -b", code: 255, stderr: "-b: missing argument\n"},
		{name: "-b on -A takes the next word", argv: "-A -t 192.0.2.10:81 -b -s rr", code: 2, stderr: "unexpected argument rr\n"},
		{name: "--fullnat on -A", argv: "-A -t 192.0.2.10:81 -s rr --fullnat", code: 2,
			stderr: "Illegal 'forwarding-method' option with the 'add-service' command\n"},
		{name: "--fullnat on -E", argv: "-E -t 192.0.2.10:80 --fullnat", code: 2,
			stderr: "Illegal 'forwarding-method' option with the 'edit-service' command\n"},
		{name: "-b on -a takes no flags", argv: "-a -t 192.0.2.10:80 -r 203.0.113.12 -b flag-1", code: 2,
			stderr: "unexpected argument flag-1\n"},
		{name: "-b= on -a", argv: "-a -t 192.0.2.10:80 -r 203.0.113.12 -b=flag-1", code: 255,
			stderr: "-b=flag-1: option does not take an argument\n"},
		{name: "--sched-flags on -a", argv: "-a -t 192.0.2.10:80 -r 203.0.113.12 --sched-flags flag-1", code: 2,
			stderr: "Illegal 'sched-flags' option with the 'add-server' command\n"},
		{name: "-b on -d", argv: "-d -t 192.0.2.10:80 -r 203.0.113.11:8080 -b", code: 2,
			stderr: "Illegal 'forwarding-method' option with the 'delete-server' command\n"},
		{name: "-b with -m", argv: "-a -t 192.0.2.10:80 -r 203.0.113.12 -m -b", code: 2,
			stderr: "multiple 'forwarding-method' options specified\n"},
		{name: "-b on -L", argv: "-L -b", code: 255, stderr: "-b: missing argument\n"},
		{name: "-b on -L with flags", argv: "-L -b flag-1", code: 2,
			stderr: "Illegal 'sched-flags' option with the 'list' command\n"},
		{name: "fullnat mixed family", argv: "-a -t [2001:db8::10]:443 -r 203.0.113.12 -b", code: 2,
			stderr: "Different address family is allowed only for tunneling servers\n"},
		{name: "fullnat dest exists", argv: "-a -t 192.0.2.10:80 -r 203.0.113.11:8080 -b", code: 255,
			stderr: "Destination already exists\n"},

		// Local addresses.
		{name: "add laddr", argv: "-P -t 192.0.2.10:80 -z 198.51.100.251",
			then: "-G -t 192.0.2.10:80", want: gTitle + gWeb2 + gL250 + gL251},
		{name: "add laddr long", argv: "--add-laddr --tcp-service 192.0.2.10:80 --laddr 198.51.100.251 --ifname eth2",
			then: "-S -n", want: "--P -t 192.0.2.10:80 -z 198.51.100.250 -F eth1\n-P -t 192.0.2.10:80 -z 198.51.100.251 -F eth2\n"},
		{name: "add laddr long =", argv: "--add-laddr --tcp-service=192.0.2.10:80 --laddr=198.51.100.251 --ifname=eth2",
			then: "-G -t 192.0.2.10:80", want: gTitle + gWeb2 + gL250 + gL251},
		{name: "add laddr clustered", argv: "-Pt 192.0.2.10:80 -z198.51.100.251 -Feth2",
			then: "-S -n", want: "--P -t 192.0.2.10:80 -z 198.51.100.251 -F eth2\n"},
		{name: "laddr port ignored", argv: "-P -t 192.0.2.10:80 -z 198.51.100.251:80",
			then: "-G -t 192.0.2.10:80", want: gTitle + gWeb2 + gL250 + gL251},
		{name: "laddr ifname truncated", argv: "-P -t 192.0.2.10:80 -z 198.51.100.251 -F abcdefghijklmnopq",
			then: "-S -n", want: "--P -t 192.0.2.10:80 -z 198.51.100.251 -F abcdefghijklmno\n"},
		{name: "ipv6 laddr", argv: "-P -t [2001:db8::10]:443 -z 2001:db8:5::250",
			then: "-G -t [2001:db8::10]:443", want: gTitle + gWeb6x1 + gL6},
		{name: "ipv6 laddr bracketed", argv: "-P -t [2001:db8::10]:443 -z [2001:db8:5::250]:0",
			then: "-G -t [2001:db8::10]:443", want: gTitle + gWeb6x1 + gL6},
		{name: "fwmark laddr", argv: "-P -f 7 -z 198.51.100.251",
			then: "-G -f 7", want: gTitle + gFwm1 + gL251},
		{name: "del laddr", argv: "-Q -t 192.0.2.10:80 -z 198.51.100.250",
			then: "-G -t 192.0.2.10:80", want: gTitle + gWeb0},
		{name: "del laddr long, other ifname", argv: "--del-laddr -t 192.0.2.10:80 --laddr 198.51.100.250 --ifname eth9",
			then: "-G -t 192.0.2.10:80", want: gTitle + gWeb0},
		{name: "get all", argv: "-G", stdout: gTitle + gWeb1 + gL250 + gDNS + gWeb6 + gFwm},
		{name: "get all long", argv: "--get-laddr", stdout: gTitle + gWeb1 + gL250 + gDNS + gWeb6 + gFwm},
		{name: "get one", argv: "-G -t 192.0.2.10:80", stdout: gTitle + gWeb1 + gL250},
		{name: "get one without", argv: "-G -u 192.0.2.10:53", stdout: gTitle + gDNS},
		{name: "get all after clear", argv: "-C", then: "-G", want: ""},

		{name: "laddr exists", argv: "-P -t 192.0.2.10:80 -z 198.51.100.250", code: 255, stderr: "Local address already exists\n"},
		{name: "laddr exists other ifname", argv: "-P -t 192.0.2.10:80 -z 198.51.100.250 -F eth2", code: 255, stderr: "Local address already exists\n"},
		{name: "no such laddr", argv: "-Q -t 192.0.2.10:80 -z 198.51.100.99", code: 255, stderr: "No such Local address\n"},
		{name: "add laddr no service", argv: "-P -t 192.0.2.99:80 -z 198.51.100.251", code: 255, stderr: "Service not defined\n"},
		{name: "del laddr no service", argv: "-Q -u 192.0.2.10:80 -z 198.51.100.250", code: 255, stderr: "Service not defined\n"},
		{name: "get laddr no service", argv: "-G -t 192.0.2.99:80", code: 1, stderr: "Service not defined\n"},
		{name: "laddr family", argv: "-P -t [2001:db8::10]:443 -z 198.51.100.251", code: 255,
			stderr: "Operation not supported with specified address family\n"},
		{name: "laddr family v6 on v4", argv: "-P -t 192.0.2.10:80 -z 2001:db8:5::250", code: 255,
			stderr: "Operation not supported with specified address family\n"},
		{name: "laddr multicast", argv: "-P -t 192.0.2.10:80 -z 224.0.0.1", code: 255, stderr: ctl.ErrInvalid.Error() + "\n"},
		{name: "laddr bad ifname", argv: "-P -t 192.0.2.10:80 -z 198.51.100.251 -F eth/1", code: 255, stderr: ctl.ErrInvalid.Error() + "\n"},
		{name: "laddr not an address", argv: "-P -t 192.0.2.10:80 -z gateway", code: 2, stderr: "illegal local address\n"},
		{name: "laddr digits", argv: "-P -t 192.0.2.10:80 -z 12345", code: 2, stderr: "illegal local address\n"},
		{name: "laddr bracket without port", argv: "-P -t 192.0.2.10:80 -z [2001:db8::1]", code: 2, stderr: "illegal local address\n"},
		{name: "laddr missing -z", argv: "-P -t 192.0.2.10:80 -F eth1", code: 2,
			stderr: "You need to supply the 'local-address' option for the 'add-laddr' command\n"},
		{name: "del laddr missing -z", argv: "-Q -t 192.0.2.10:80", code: 2,
			stderr: "You need to supply the 'local-address' option for the 'del-laddr' command\n"},
		{name: "laddr missing service", argv: "-P -z 198.51.100.251", code: 2,
			stderr: "You need to supply the 'service-address' option for the 'add-laddr' command\n"},
		{name: "laddr twice", argv: "-P -t 192.0.2.10:80 -z 198.51.100.251 -z 198.51.100.252", code: 2,
			stderr: "multiple 'local-address' options specified\n"},
		{name: "ifname twice", argv: "-P -t 192.0.2.10:80 -z 198.51.100.251 -F a -F b", code: 2,
			stderr: "multiple 'ifname' options specified\n"},
		{name: "laddr with weight", argv: "-P -t 192.0.2.10:80 -z 198.51.100.251 -w 1", code: 2,
			stderr: "Illegal 'weight' option with the 'add-laddr' command\n"},
		{name: "laddr with -b", argv: "-P -t 192.0.2.10:80 -z 198.51.100.251 -b flag-1", code: 2,
			stderr: "Illegal 'sched-flags' option with the 'add-laddr' command\n"},
		{name: "get with numeric", argv: "-G -n", code: 2, stderr: "Illegal 'numeric' option with the 'get-laddr' command\n"},
		{name: "get with laddr", argv: "-G -z 198.51.100.250", code: 2,
			stderr: "Illegal 'local-address' option with the 'get-laddr' command\n"},
		{name: "get with ifname", argv: "-G -F eth1", code: 2, stderr: "Illegal 'ifname' option with the 'get-laddr' command\n"},
		{name: "list with laddr", argv: "-L -z 198.51.100.250", code: 2,
			stderr: "Illegal 'local-address' option with the 'list' command\n"},
		{name: "add-server with laddr", argv: "-a -t 192.0.2.10:80 -r 203.0.113.12 -b -z 198.51.100.251", code: 2,
			stderr: "Illegal 'local-address' option with the 'add-server' command\n"},
		{name: "add-service with ifname", argv: "-A -t 192.0.2.10:81 -F eth1", code: 2,
			stderr: "Illegal 'ifname' option with the 'add-service' command\n"},
		{name: "laddr command not first", argv: "-L -P", code: 2, stderr: "invalid option `-P'\n"},
		{name: "get-laddr not first", argv: "-G -t 192.0.2.10:80 -G", code: 2, stderr: "invalid option `-G'\n"},
		{name: "-z missing argument", argv: "-P -t 192.0.2.10:80 -z", code: 255, stderr: "-z: missing argument\n"},
		{name: "-F missing argument", argv: "-P -t 192.0.2.10:80 -z 198.51.100.251 -F", code: 255, stderr: "-F: missing argument\n"},
		{name: "get leftover", argv: "-G extra", code: 2, stderr: "unexpected argument extra\n"},
	})
}

// TestGetLAddrCounters: the CONFLICTS and CONNS columns show the local
// address's counters, wide values pushing the columns as printf does.
func TestGetLAddrCounters(t *testing.T) {
	m, _ := newManager(t, fnBase)
	las, err := m.LAddrs(ctl.ServiceID{Proto: vs.TCP, Addr: mustAddr("192.0.2.10"), Port: 80})
	if err != nil || len(las) != 1 {
		t.Fatal(las, err)
	}
	las[0].Conflicts.Store(12345678901)
	las[0].Conns.Store(42)
	want := gTitle + gWeb1 + "                              198.51.100.250       12345678901 42        \n"
	if got := listing(t, m, "-G -t 192.0.2.10:80"); got != want {
		t.Fatalf("got\n%q\nwant\n%q", got, want)
	}
}

// TestFullNATSaveRestore: -S output, laddr lines included, rebuilds the
// same configuration through -R, and -R reads DPVS's commands.
func TestFullNATSaveRestore(t *testing.T) {
	m, _ := newManager(t, append(fnBase,
		"-P -t 192.0.2.10:80 -z 198.51.100.251",
		"-P -t [2001:db8::10]:443 -z 2001:db8:5::250 -F eth1",
		"-a -t [2001:db8::10]:443 -r [2001:db8:1::11]:8443 -b -w 7",
		"-P -f 7 -z 198.51.100.252",
	))
	save := listing(t, m, "-S -n")
	for _, line := range []string{
		"-P -t 192.0.2.10:80 -z 198.51.100.251\n",
		"-P -t [2001:db8::10]:443 -z 2001:db8:5::250 -F eth1\n",
		"-a -t [2001:db8::10]:443 -r [2001:db8:1::11]:8443 -b -w 7\n",
		"-P -f 7 -z 198.51.100.252\n",
	} {
		if !strings.Contains(save, line) {
			t.Errorf("save lacks %q:\n%s", line, save)
		}
	}
	m2, _ := newManager(t, nil)
	if _, e, c := RunInput(m2, []string{"-R"}, strings.NewReader(save)); c != 0 {
		t.Fatal(e)
	}
	if again := listing(t, m2, "-S -n"); again != save {
		t.Fatalf("restore of save differs:\n%s\nwant\n%s", again, save)
	}
	if g1, g2 := listing(t, m, "-G"), listing(t, m2, "-G"); g1 != g2 {
		t.Fatalf("-G differs:\n%s\n%s", g1, g2)
	}
}

func TestHelpFullNAT(t *testing.T) {
	m, _ := newManager(t, nil)
	out := listing(t, m, "-h")
	for _, want := range []string{
		"  ipvsadm -P|Q virtual-service -z local-address [-F ifname]\n",
		"  ipvsadm -G [virtual-service]\n",
		"  --add-laddr       -P", "  --del-laddr       -Q", "  --get-laddr       -G",
		"  --fullnat      -b", "  --laddr        -z local-address", "  --ifname       -F ifname",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("help lacks %q", want)
		}
	}
}
