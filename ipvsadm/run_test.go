package ipvsadm

import (
	"strings"
	"sync/atomic"
	"testing"

	"github.com/gdirector/gdirector/ctl"
	"github.com/gdirector/gdirector/vs"
)

// base is the configuration every grammar case starts from.
var base = []string{
	"-A -t 192.0.2.10:80 -s rr",
	"-a -t 192.0.2.10:80 -r 203.0.113.11:80 -m",
	"-a -t 192.0.2.10:80 -r 203.0.113.12:80 -m -w 2",
	"-A -u 192.0.2.10:53 -s wrr",
	"-A -f 7 -s rr -p",
}

func newManager(t testing.TB, setup []string) (*ctl.Manager, *atomic.Pointer[vs.Table]) {
	t.Helper()
	var tbl atomic.Pointer[vs.Table]
	m := ctl.NewManager(ctl.Config{Table: &tbl})
	for _, line := range setup {
		if o, e, c := Run(m, strings.Fields(line)); c != 0 {
			t.Fatalf("setup %q: code %d stdout %q stderr %q", line, c, o, e)
		}
	}
	return m, &tbl
}

// dump is a full textual view of the configuration, dest settings and
// counters included.
func dump(m *ctl.Manager) string {
	o1, _, _ := Run(m, []string{"-S", "-n"})
	o2, _, _ := Run(m, []string{"-L", "-n", "--thresholds"})
	o3, _, _ := Run(m, []string{"-L", "-n", "--stats", "--exact"})
	o4, _, _ := Run(m, []string{"-G"})
	return o1 + o2 + o3 + o4
}

const (
	hdr   = "IP Virtual Server version 1.2.1 (size=4096)\n"
	title = "Prot LocalAddress:Port Scheduler Flags\n" +
		"  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n"
	baseList = hdr + title +
		"TCP  192.0.2.10:80 rr\n" +
		"  -> 203.0.113.11:80              Masq    1      0          0         \n" +
		"  -> 203.0.113.12:80              Masq    2      0          0         \n" +
		"UDP  192.0.2.10:53 wrr\n" +
		"FWM  7 rr persistent 360\n"
	baseListNames = hdr + title +
		"TCP  192.0.2.10:http rr\n" +
		"  -> 203.0.113.11:http            Masq    1      0          0         \n" +
		"  -> 203.0.113.12:http            Masq    2      0          0         \n" +
		"UDP  192.0.2.10:domain wrr\n" +
		"FWM  7 rr persistent 360\n"
	tryHelpMsg = "Try `ipvsadm -h' or 'ipvsadm --help' for more information.\n"
)

type runCase struct {
	name   string
	argv   string // split on spaces; "" = no arguments
	code   int
	stderr string
	stdout string // checked when not empty
	// contains, when not empty, must be part of the standard output.
	contains string
	// then runs a listing after a successful command and compares it.
	then, want string
}

func split(s string) []string {
	if s == "" {
		return []string{}
	}
	return strings.Split(s, " ")
}

func TestRun(t *testing.T) { runCases(t, base, runTable) }

// runTable is the grammar table on base: listings, every command, and the
// messages and statuses of bad input (grammar_test.go holds more).
var runTable = []runCase{
	// Listing.
	// Without -n ipvsadm prints port names (getservbyport) and host
	// names (gethostbyaddr; none here).
	{name: "no args lists", argv: "", stdout: baseListNames},
	{name: "-L -n", argv: "-L -n", stdout: baseList},
	{name: "-Ln", argv: "-Ln", stdout: baseList},
	{name: "-l", argv: "-l", stdout: baseListNames},
	{name: "long list", argv: "--list --numeric", stdout: baseList},
	{name: "list one service", argv: "-L -n -t 192.0.2.10:80", stdout: title +
		"TCP  192.0.2.10:80 rr\n" +
		"  -> 203.0.113.11:80              Masq    1      0          0         \n" +
		"  -> 203.0.113.12:80              Masq    2      0          0         \n"},
	{name: "list fwmark", argv: "-L -f 7", stdout: title + "FWM  7 rr persistent 360\n"},
	{name: "list missing service", argv: "-L -t 192.0.2.99:80", code: 1, stderr: "No such service\n"},
	{name: "timeouts", argv: "-L --timeout", stdout: "Timeout (tcp tcpfin udp): 900 120 300\n"},
	{name: "daemon", argv: "-L --daemon", stdout: "-"},
	{name: "connections", argv: "-Lnc", stdout: "IPVS connection entries\n" +
		"pro expire state       source             virtual            destination\n"},
	{name: "save", argv: "-S -n", stdout: "-A -t 192.0.2.10:80 -s rr\n" +
		"-a -t 192.0.2.10:80 -r 203.0.113.11:80 -m -w 1\n" +
		"-a -t 192.0.2.10:80 -r 203.0.113.12:80 -m -w 2\n" +
		"-A -u 192.0.2.10:53 -s wrr\n" +
		"-A -f 7 -s rr -p 360\n"},
	{name: "version", argv: "-v", stdout: "ipvsadm v1.31 2019/12/24 (compiled with popt and IPVS v1.2.1)\n"},
	{name: "long version", argv: "--version", stdout: "ipvsadm v1.31 2019/12/24 (compiled with popt and IPVS v1.2.1)\n"},
	{name: "list conflicts", argv: "-L -c --stats", code: 2, stderr: "options conflicts in the list command\n"},
	{name: "list exclusive", argv: "-L -c --timeout", code: 2,
		stderr: "The option 'timeout' conflicts with the 'connection' option in the 'list' command\n"},

	// Adding and editing services.
	{name: "add", argv: "-A -t 192.0.2.10:443 -s rr", then: "-L -n -t 192.0.2.10:443",
		want: title + "TCP  192.0.2.10:443 rr\n"},
	{name: "add long", argv: "--add-service --tcp-service 192.0.2.10:443 --scheduler rr",
		then: "-L -n -t 192.0.2.10:443", want: title + "TCP  192.0.2.10:443 rr\n"},
	{name: "add long =", argv: "--add-service --tcp-service=192.0.2.10:443 --scheduler=wrr",
		then: "-L -n -t 192.0.2.10:443", want: title + "TCP  192.0.2.10:443 wrr\n"},
	{name: "clustered and attached", argv: "-At 192.0.2.10:443 -srr",
		then: "-L -n -t 192.0.2.10:443", want: title + "TCP  192.0.2.10:443 rr\n"},
	{name: "attached with =", argv: "-At192.0.2.10:443 -s=wrr",
		then: "-L -n -t 192.0.2.10:443", want: title + "TCP  192.0.2.10:443 wrr\n"},
	{name: "port by name", argv: "-A -t 192.0.2.10:https -s rr",
		then: "-L -n -t 192.0.2.10:443", want: title + "TCP  192.0.2.10:443 rr\n"},
	{name: "persistent default", argv: "-A -t 192.0.2.10:443 -s rr -p",
		then: "-Ln -t 192.0.2.10:443", want: title + "TCP  192.0.2.10:443 rr persistent 360\n"},
	{name: "persistent and mask", argv: "-A -t 192.0.2.10:443 -s rr -p 600 -M 255.255.255.0",
		then: "-Ln -t 192.0.2.10:443", want: title + "TCP  192.0.2.10:443 rr persistent 600 mask 255.255.255.0\n"},
	{name: "optional arg not taken from an option", argv: "-A -t 192.0.2.10:443 -s rr -p -M 255.255.0.0",
		then: "-Ln -t 192.0.2.10:443", want: title + "TCP  192.0.2.10:443 rr persistent 360 mask 255.255.0.0\n"},
	{name: "attached optional arg", argv: "-A -t 192.0.2.10:443 -s rr -p1800",
		then: "-Ln -t 192.0.2.10:443", want: title + "TCP  192.0.2.10:443 rr persistent 1800\n"},
	{name: "port zero persistent", argv: "-A -t 192.0.2.11 -s rr -p",
		then: "-Ln -t 192.0.2.11:0", want: title + "TCP  192.0.2.11:0 rr persistent 360\n"},
	{name: "ops", argv: "-A -u 192.0.2.10:514 -s rr -o",
		then: "-Ln -u 192.0.2.10:514", want: title + "UDP  192.0.2.10:514 rr ops\n"},
	{name: "sched flags", argv: "-A -t 192.0.2.10:443 -s rr -b flag-1,flag-3",
		then: "-Ln -t 192.0.2.10:443", want: title + "TCP  192.0.2.10:443 rr (flag-1,flag-3)\n"},
	{name: "sctp", argv: "-A --sctp-service 192.0.2.10:9 -s rr",
		then: "-Ln --sctp-service 192.0.2.10:9", want: title + "SCTP 192.0.2.10:9 rr\n"},
	{name: "fwmark ipv6", argv: "-A -f 7 -6 -s wrr",
		then: "-Ln -f 7 -6", want: title + "FWM  7 IPv6 wrr\n"},
	{name: "ipv6", argv: "-A -t [2001:db8::10]:80 -s rr -p 60 -M 64",
		then: "-Ln -t [2001:db8::10]:80", want: title + "TCP  [2001:db8::10]:80 rr persistent 60 mask 64\n"},
	{name: "inet_aton number", argv: "-A -t 3221226250:80 -s rr",
		then: "-Ln -t 192.0.3.10:80", want: title + "TCP  192.0.3.10:80 rr\n"},
	{name: "inet_aton short form", argv: "-A -t 192.3.0x10:80 -s rr",
		then: "-Ln -t 192.3.0.16:80", want: title + "TCP  192.3.0.16:80 rr\n"},
	{name: "edit", argv: "-E -t 192.0.2.10:80 -s wrr -p 100",
		then: "-Ln -t 192.0.2.10:80", want: title + "TCP  192.0.2.10:80 wrr persistent 100\n" +
			"  -> 203.0.113.11:80              Masq    1      0          0         \n" +
			"  -> 203.0.113.12:80              Masq    2      0          0         \n"},
	{name: "delete service", argv: "-D -t 192.0.2.10:80", then: "-Ln",
		want: hdr + title + "UDP  192.0.2.10:53 wrr\nFWM  7 rr persistent 360\n"},
	{name: "clear", argv: "-C", then: "-Ln", want: hdr + title},
	{name: "long clear", argv: "--clear", then: "-Ln", want: hdr + title},

	// Real servers.
	{name: "add dest default route, port from service", argv: "-a -t 192.0.2.10:80 -r 203.0.113.13",
		then: "-Ln -t 192.0.2.10:80", want: title + "TCP  192.0.2.10:80 rr\n" +
			"  -> 203.0.113.11:80              Masq    1      0          0         \n" +
			"  -> 203.0.113.12:80              Masq    2      0          0         \n" +
			"  -> 203.0.113.13:80              Route   1      0          0         \n"},
	{name: "DR forces the service port", argv: "-a -t 192.0.2.10:80 -r 203.0.113.13:8080 -g -w 0",
		then: "-Ln -t 192.0.2.10:80", want: "-" + "  -> 203.0.113.13:80              Route   0      0          0         \n"},
	{name: "masq keeps its port", argv: "-a -t 192.0.2.10:80 -r 203.0.113.13:8080 -m -w 5 -x 100 -y 10",
		then: "-Ln -t 192.0.2.10:80 --thresholds", want: "-" +
			"  -> 203.0.113.13:8080            100        10         0          0         \n"},
	{name: "tunnel", argv: "--add-server --tcp-service 192.0.2.10:80 --real-server 203.0.113.13 --ipip --weight 3",
		then: "-Ln -t 192.0.2.10:80", want: "-" + "  -> 203.0.113.13:80              Tunnel  3      0          0         \n"},
	{name: "fwmark dest keeps its port", argv: "-a -f 7 -r 203.0.113.13:8080 -g",
		then: "-Ln -f 7", want: title + "FWM  7 rr persistent 360\n" +
			"  -> 203.0.113.13:8080            Route   1      0          0         \n"},
	{name: "fwmark dest without port", argv: "-a -f 7 -r 203.0.113.13",
		then: "-Sn", want: "-" + "-a -f 7 -r 203.0.113.13:0 -g -w 1\n"},
	{name: "edit dest", argv: "-e -t 192.0.2.10:80 -r 203.0.113.12:80 -i -w 9",
		then: "-Ln -t 192.0.2.10:80", want: "-" + "  -> 203.0.113.12:80              Tunnel  9      0          0         \n"},
	{name: "delete dest", argv: "-d -t 192.0.2.10:80 -r 203.0.113.11",
		then: "-Ln -t 192.0.2.10:80", want: title + "TCP  192.0.2.10:80 rr\n" +
			"  -> 203.0.113.12:80              Masq    2      0          0         \n"},
	{name: "zero all", argv: "-Z"},
	{name: "zero one", argv: "-Z -t 192.0.2.10:80"},
	{name: "zero any address is all", argv: "-Z -t 0.0.0.0:0"},
	{name: "set", argv: "--set 1000 60 30", then: "-L --timeout", want: "Timeout (tcp tcpfin udp): 1000 60 30\n"},
	{name: "set zero keeps", argv: "--set 0 0 7", then: "-L --timeout", want: "Timeout (tcp tcpfin udp): 900 120 7\n"},
	{name: "help", argv: "-h", stdout: "-"},

	// Kernel errors: status 255, message from ipvs_strerror.
	{name: "service exists", argv: "-A -t 192.0.2.10:80 -s rr", code: 255, stderr: "Service already exists\n"},
	{name: "unknown scheduler", argv: "-A -t 192.0.2.10:81 -s nope", code: 255,
		stderr: "Scheduler or persistence engine not found\n"},
	{name: "default scheduler wlc", argv: "-A -t 192.0.2.10:81", then: "-L -n -t 192.0.2.10:81",
		want: "-TCP  192.0.2.10:81 wlc\n"},
	{name: "edit without -s sets wlc", argv: "-E -t 192.0.2.10:80", then: "-L -n -t 192.0.2.10:80",
		want: "-TCP  192.0.2.10:80 wlc"},
	{name: "edit unknown scheduler", argv: "-E -t 192.0.2.10:80 -s nope", code: 255,
		stderr: "Scheduler or persistence engine not found\n"},
	{name: "persistence engine", argv: "-A -t 192.0.2.10:81 -s rr --pe sip", code: 255,
		stderr: "Scheduler or persistence engine not found\n" + peSIP},
	{name: "edit missing", argv: "-E -t 192.0.2.99:80 -s rr", code: 255, stderr: "No such service\n"},
	{name: "delete missing", argv: "-D -t 192.0.2.99:80", code: 255, stderr: "No such service\n"},
	{name: "delete other protocol", argv: "-D -u 192.0.2.10:80", code: 255, stderr: "No such service\n"},
	{name: "zero missing", argv: "-Z -t 192.0.2.99:80", code: 255, stderr: "No such service\n"},
	{name: "add dest missing service", argv: "-a -t 192.0.2.99:80 -r 203.0.113.11", code: 255, stderr: "Service not defined\n"},
	{name: "edit dest missing service", argv: "-e -t 192.0.2.99:80 -r 203.0.113.11", code: 255, stderr: "Service not defined\n"},
	{name: "delete dest missing service", argv: "-d -t 192.0.2.99:80 -r 203.0.113.11", code: 255, stderr: "Service not defined\n"},
	{name: "dest exists", argv: "-a -t 192.0.2.10:80 -r 203.0.113.11 -g", code: 255, stderr: "Destination already exists\n"},
	{name: "edit missing dest", argv: "-e -t 192.0.2.10:80 -r 203.0.113.19 -m", code: 255, stderr: "No such destination\n"},
	{name: "delete missing dest", argv: "-d -t 192.0.2.10:80 -r 203.0.113.11:81", code: 255, stderr: "No such destination\n"},
	{name: "lower above upper", argv: "-a -t 192.0.2.10:80 -r 203.0.113.13 -y 10", code: 255,
		stderr: "Numerical result out of range\n"},
	{name: "multicast dest", argv: "-a -t 192.0.2.10:80 -r 224.0.0.5", code: 255,
		stderr: "Invalid operation.  Possibly wrong module version, address not unicast, ...\n"},
	{name: "stop daemon", argv: "--stop-daemon master", code: 255, stderr: "No daemon is running\n"},

	// Argument errors: status 2.
	{name: "bad vip", argv: "-A -t 999.0.2.10:80 -s rr", code: 2, stderr: "illegal virtual server address[:port] specified\n"},
	{name: "bad port", argv: "-A -t 192.0.2.10:99999 -s rr", code: 2, stderr: "illegal virtual server address[:port] specified\n"},
	{name: "digits only", argv: "-A -t 80 -s rr", code: 2, stderr: "illegal virtual server address[:port] specified\n"},
	{name: "host name", argv: "-A -t www.example.com:80 -s rr", code: 2, stderr: "illegal virtual server address[:port] specified\n"},
	{name: "brackets need a port", argv: "-A -t [2001:db8::1] -s rr", code: 2, stderr: "illegal virtual server address[:port] specified\n"},
	{name: "bad rip", argv: "-a -t 192.0.2.10:80 -r nowhere", code: 2, stderr: "illegal real server address[:port] specified\n"},
	{name: "bad fwmark", argv: "-A -f 0 -s rr", code: 2, stderr: "invalid fwmark value `0' specified\n"},
	{name: "bad fwmark text", argv: "-A -f 7x -s rr", code: 2, stderr: "invalid fwmark value `7x' specified\n"},
	{name: "zero port", argv: "-A -t 192.0.2.10 -s rr", code: 2, stderr: "Zero port specified for non-persistent service\n"},
	{name: "ops tcp", argv: "-A -t 192.0.2.10:81 -s rr -o", code: 2, stderr: "One-Packet Scheduling is only for UDP virtual services\n"},
	{name: "bad timeout", argv: "-A -t 192.0.2.10:81 -s rr -p 0", code: 2, stderr: "invalid timeout value `0' specified\n"},
	{name: "timeout too big", argv: "-A -t 192.0.2.10:81 -s rr -p 2678401", code: 2, stderr: "invalid timeout value `2678401' specified\n"},
	{name: "bad mask", argv: "-A -t 192.0.2.10:81 -s rr -p -M 255.255.255.0x", code: 2,
		stderr: "illegal virtual server persistent mask specified\n"},
	{name: "bad ipv6 mask", argv: "-A -t [2001:db8::10]:80 -s rr -p -M 129", code: 2, stderr: "illegal ipv6 netmask specified\n"},
	{name: "bad weight", argv: "-a -t 192.0.2.10:80 -r 203.0.113.13 -w 65536", code: 2, stderr: "illegal weight specified\n"},
	{name: "negative weight", argv: "-a -t 192.0.2.10:80 -r 203.0.113.13 -w -1", code: 2, stderr: "illegal weight specified\n"},
	{name: "bad upper", argv: "-a -t 192.0.2.10:80 -r 203.0.113.13 -x many", code: 2, stderr: "illegal u_threshold specified\n"},
	{name: "bad lower", argv: "-a -t 192.0.2.10:80 -r 203.0.113.13 -y -5", code: 2, stderr: "illegal l_threshold specified\n"},
	{name: "mixed family", argv: "-a -t 192.0.2.10:80 -r [2001:db8::11]:80 -m", code: 2,
		stderr: "Different address family is allowed only for tunneling servers\n"},
	{name: "missing service", argv: "-A -s rr", code: 2,
		stderr: "You need to supply the 'service-address' option for the 'add-service' command\n"},
	{name: "missing real server", argv: "-a -t 192.0.2.10:80 -m", code: 2,
		stderr: "You need to supply the 'real-server' option for the 'add-server' command\n"},
	{name: "illegal option", argv: "-D -t 192.0.2.10:80 -s rr", code: 2,
		stderr: "Illegal 'scheduler' option with the 'delete-service' command\n"},
	{name: "illegal weight on delete", argv: "-d -t 192.0.2.10:80 -r 203.0.113.11 -w 1", code: 2,
		stderr: "Illegal 'weight' option with the 'delete-server' command\n"},
	{name: "illegal numeric on add", argv: "-A -n -t 192.0.2.10:81 -s rr", code: 2,
		stderr: "Illegal 'numeric' option with the 'add-service' command\n"},
	{name: "flush takes nothing", argv: "-C -t 192.0.2.10:80", code: 2,
		stderr: "Illegal 'service-address' option with the 'flush' command\n"},
	{name: "twice", argv: "-A -t 192.0.2.10:81 -u 192.0.2.10:81", code: 2,
		stderr: "multiple 'service-address' options specified\n"},
	{name: "two methods", argv: "-a -t 192.0.2.10:80 -r 203.0.113.13 -m -g", code: 2,
		stderr: "multiple 'forwarding-method' options specified\n"},
	{name: "second command", argv: "-L -A", code: 2, stderr: "invalid option `-A'\n"},
	{name: "help not first", argv: "-L -h", code: 2, stderr: "invalid option `-h'\n"},
	{name: "leftover", argv: "-A -t 192.0.2.10:81 -s rr extra", code: 2, stderr: "unexpected argument extra\n"},
	{name: "set needs three", argv: "--set 1 2", code: 2, stderr: "--set option requires 3 timeout values\n"},
	{name: "set bad value", argv: "--set 1 2 x", code: 2, stderr: "invalid timeout value `x' specified\n"},
	{name: "set too many", argv: "--set 1 2 3 4", code: 2, stderr: "unexpected argument 4\n"},
	{name: "set out of range", argv: "--set 1 2 2678401", code: 2, stderr: "invalid timeout value `2678401' specified\n"},
	{name: "-6 before -f", argv: "-A -6 -f 7 -s rr", code: 2, stderr: "-6 used before -f\n\n"},
	{name: "incompatible sched flag", argv: "-A -t 192.0.2.10:81 -s rr -b sh-port", code: 2,
		stderr: "incompatible scheduler flag `sh-port'\n"},
	{name: "bad sched flag", argv: "-A -t 192.0.2.10:81 -s rr -b fast", code: 2, stderr: "invalid scheduler flag `fast'\n"},
	{name: "start daemon arg", argv: "--start-daemon primary", code: 2, stderr: "illegal start-daemon parameter specified\n"},
	{name: "stop daemon arg", argv: "--stop-daemon primary", code: 2, stderr: "illegal start_daemon specified\n"},
	{name: "tunnel options need tunneling", argv: "-a -t 192.0.2.10:80 -r 203.0.113.13 -m --tun-type ipip", code: 2,
		stderr: "Tunnel options conflict with forward method\n"},
	{name: "gue needs a port", argv: "-a -t 192.0.2.10:80 -r 203.0.113.13 -i --tun-type gue", code: 2,
		stderr: "You need to supply the 'tun-port' option for the 'gue' tunnel type\n"},
	{name: "bad tunnel type", argv: "-a -t 192.0.2.10:80 -r 203.0.113.13 -i --tun-type vxlan", code: 2,
		stderr: "illegal tunnel type specified\n"},

	// popt errors and help requests: status 255.
	{name: "missing argument", argv: "-A -t", code: 255, stderr: "-t: missing argument\n"},
	{name: "missing argument later", argv: "-A -t 192.0.2.10:81 -s", code: 255, stderr: "-s: missing argument\n"},
	{name: "unknown long", argv: "-A --bogus", code: 255, stderr: "--bogus: unknown option\n"},
	{name: "unknown short", argv: "-A -t 192.0.2.10:81 -W", code: 255, stderr: "-W: unknown option\n"},
	{name: "unknown in cluster", argv: "-LnW", code: 255, stderr: "-LnW: unknown option\n"},
	{name: "no abbreviations", argv: "-L --num", code: 255, stderr: "--num: unknown option\n"},
	// One dash: a cluster of short options, here -n, then -u with
	// "meric" as its argument.
	{name: "single dash long", argv: "-L -numeric", code: 2, stderr: "illegal virtual server address[:port] specified\n"},
	{name: "unwanted argument", argv: "-L --numeric=yes", code: 255, stderr: "--numeric=yes: option does not take an argument\n"},
	{name: "unwanted argument short", argv: "-L -n=1", code: 255, stderr: "-n=1: option does not take an argument\n"},
	{name: "not a command", argv: "-t 192.0.2.10:80", code: 255, stderr: tryHelpMsg},
	{name: "options before command", argv: "-nL", code: 255, stderr: tryHelpMsg},
	{name: "word", argv: "list", code: 255, stderr: tryHelpMsg},
	{name: "bad first option", argv: "--frobnicate", code: 255, stderr: tryHelpMsg},
	{name: "dashdash", argv: "--", code: 255, stderr: tryHelpMsg},
}

// runCases runs each case on a fresh Manager built from setup and checks its
// status, messages and output, that a failed command (or a listing) changes
// nothing, and the listing that follows a successful change.
func runCases(t *testing.T, setup []string, cases []runCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m, tbl := newManager(t, setup)
			before, beforeDump := tbl.Load(), dump(m)
			out, errOut, code := Run(m, split(tc.argv))
			if code != tc.code || errOut != tc.stderr {
				t.Fatalf("ipvsadm %s\ncode %d stderr %q\nwant %d %q", tc.argv, code, errOut, tc.code, tc.stderr)
			}
			switch {
			case tc.stdout == "-":
				if tc.name == "daemon" && out != "" {
					t.Fatalf("stdout %q", out)
				}
			case tc.stdout != "" && out != tc.stdout:
				t.Fatalf("ipvsadm %s\nstdout:\n%s\nwant:\n%s", tc.argv, out, tc.stdout)
			case tc.stdout == "" && tc.code != 0 && out != "":
				t.Fatalf("unexpected stdout %q", out)
			}
			if tc.contains != "" && !strings.Contains(out, tc.contains) {
				t.Fatalf("ipvsadm %s\nstdout:\n%s\ndoes not contain:\n%s", tc.argv, out, tc.contains)
			}
			if code != 0 || tc.then == "" && tc.stdout != "" {
				if tbl.Load() != before {
					t.Fatal("the table was published")
				}
				if d := dump(m); d != beforeDump {
					t.Fatalf("configuration changed:\n%s\nwas:\n%s", d, beforeDump)
				}
			}
			if tc.then != "" {
				got, e, c := Run(m, split(tc.then))
				if c != 0 {
					t.Fatalf("%s: %d %s", tc.then, c, e)
				}
				switch {
				case tc.want == "-":
				case strings.HasPrefix(tc.want, "-"):
					if !strings.Contains(got, tc.want[1:]) {
						t.Fatalf("ipvsadm %s\n%s\ndoes not contain\n%s", tc.then, got, tc.want[1:])
					}
				case got != tc.want:
					t.Fatalf("ipvsadm %s\n%s\nwant\n%s", tc.then, got, tc.want)
				}
			}
		})
	}
}

func TestZeroCounters(t *testing.T) {
	m, _ := newManager(t, base)
	s, _ := m.Service(ctl.ServiceID{Proto: vs.TCP, Addr: mustAddr("192.0.2.10"), Port: 80})
	u, _ := m.Service(ctl.ServiceID{Proto: vs.UDP, Addr: mustAddr("192.0.2.10"), Port: 53})
	s.Stats.InPkts.Store(10)
	s.Dests[0].Stats.OutBytes.Store(20)
	u.Stats.Conns.Store(30)
	if _, e, c := Run(m, split("-Z -t 192.0.2.10:80")); c != 0 {
		t.Fatal(e)
	}
	if s.Stats.InPkts.Load() != 0 || s.Dests[0].Stats.OutBytes.Load() != 0 || u.Stats.Conns.Load() != 30 {
		t.Fatal("-Z service")
	}
	if _, e, c := Run(m, split("-Z")); c != 0 {
		t.Fatal(e)
	}
	if u.Stats.Conns.Load() != 0 {
		t.Fatal("-Z")
	}
}

// TestListNoSortNewestFirst: --nosort lists the real servers of a service
// in the kernel's order, most recently added first (a new dest goes to the
// head of the list), while the sorted listing orders them by address.
func TestListNoSortNewestFirst(t *testing.T) {
	m, _ := newManager(t, []string{
		"-A -t 192.0.2.10:80 -s rr",
		"-a -t 192.0.2.10:80 -r 203.0.113.11:80 -m",
		"-a -t 192.0.2.10:80 -r 203.0.113.13:80 -m -w 3",
		"-a -t 192.0.2.10:80 -r 203.0.113.12:80 -m -w 2",
	})
	const (
		d11 = "  -> 203.0.113.11:80              Masq    1      0          0         \n"
		d12 = "  -> 203.0.113.12:80              Masq    2      0          0         \n"
		d13 = "  -> 203.0.113.13:80              Masq    3      0          0         \n"
		svc = "TCP  192.0.2.10:80 rr\n"
	)
	for _, tc := range []struct{ argv, want string }{
		{"-L -n --nosort", hdr + title + svc + d12 + d13 + d11},
		{"-L -n", hdr + title + svc + d11 + d12 + d13},
	} {
		if got := listing(t, m, tc.argv); got != tc.want {
			t.Fatalf("ipvsadm %s:\n%s\nwant\n%s", tc.argv, got, tc.want)
		}
	}
	// Deleted and added again, a real server is back at the head.
	for _, line := range []string{
		"-d -t 192.0.2.10:80 -r 203.0.113.13:80",
		"-a -t 192.0.2.10:80 -r 203.0.113.13:80 -m -w 3",
	} {
		if _, e, c := Run(m, split(line)); c != 0 {
			t.Fatalf("%s: %s", line, e)
		}
	}
	if got, want := listing(t, m, "-L -n --nosort"), hdr+title+svc+d13+d12+d11; got != want {
		t.Fatalf("after re-adding 203.0.113.13:80:\n%s\nwant\n%s", got, want)
	}
}

func TestHelp(t *testing.T) {
	m, _ := newManager(t, nil)
	out, errOut, code := Run(m, []string{"--help"})
	if code != 0 || errOut != "" {
		t.Fatal(code, errOut)
	}
	for _, want := range []string{
		"ipvsadm v1.31 2019/12/24 (compiled with popt and IPVS v1.2.1)\nUsage:\n",
		"  ipvsadm -A|E virtual-service [-s scheduler] [-p [timeout]] [-M netmask] [--pe persistence_engine] [-b sched-flags]\n",
		"  ipvsadm --set tcp tcpfin udp\n", "rr|wrr|lc|wlc|lblc|lblcr|dh|sh|sed|nq|fo|ovf|mh|twos", "--tun-remcsum",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("help lacks %q", want)
		}
	}
}
