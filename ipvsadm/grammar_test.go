package ipvsadm

import (
	"fmt"
	"net/netip"
	"regexp"
	"strings"
	"testing"
)

// Messages of gdirector's own, for what the kernel would do and gdirector
// does not (yet): printed like the kernel's errors, status 255.
const (
	peSIP = "Persistence engine sip is not supported: gdirector has no persistence engines " +
		"(the kernel's SIP engine is not implemented yet)\n"
	noSync = "Connection synchronization is not supported yet: gdirector has no sync daemon, " +
		"so --start-daemon has nothing to start\n"
	noGUE = "Tunnel type gue is not supported: gdirector encapsulates in IPIP only " +
		"(GUE and GRE are not implemented yet)\n"
	noGRE = "Tunnel type gre is not supported: gdirector encapsulates in IPIP only " +
		"(GUE and GRE are not implemented yet)\n"

	svc80      = "TCP  192.0.2.10:80 rr\n"
	d11        = "  -> 203.0.113.11:80              Masq    1      0          0         \n"
	d12        = "  -> 203.0.113.12:80              Masq    2      0          0         \n"
	connsTitle = "IPVS connection entries\n" +
		"pro expire state       source             virtual            destination\n"
	statsTitle = "Prot LocalAddress:Port               Conns   InPkts  OutPkts  InBytes OutBytes\n" +
		"  -> RemoteAddress:Port\n"
)

// grammarTable walks ipvsadm 1.31's argument grammar on base: every option
// of its popt table in its long and short forms, clusters and attached
// arguments as popt reads them, every message ipvsadm prints for bad input
// with its status, and the commands gdirector refuses because their kernel
// counterpart does not exist here. runCases checks for every failing case
// that the configuration did not change.
var grammarTable = []runCase{
	// Clusters, attached arguments and long options with '='.
	{name: "-Lnt cluster takes the next word", argv: "-Lnt 192.0.2.10:80", stdout: title + svc80 + d11 + d12},
	{name: "-lnc", argv: "-lnc", stdout: connsTitle},
	{name: "-L -c -n", argv: "-L -c -n", stdout: connsTitle},
	{name: "--list --connection --numeric", argv: "--list --connection --numeric", stdout: connsTitle},
	{name: "-Lc without -n", argv: "-Lc", stdout: connsTitle},
	{name: "connections with --persistent-conn", argv: "-L -n -c --persistent-conn", stdout: "IPVS connection entries\n" +
		"pro expire state       source             virtual            destination        pe name          pe_data\n"},
	{name: "connections with --stats", argv: "-Lnc --stats", code: 2, stderr: "options conflicts in the list command\n"},
	{name: "attached service", argv: "-Lt192.0.2.10:80 -n", stdout: title + svc80 + d11 + d12},
	{name: "attached after =", argv: "-Lnt=192.0.2.10:80", stdout: title + svc80 + d11 + d12},
	{name: "long =", argv: "--list --tcp-service=192.0.2.10:80 --numeric", stdout: title + svc80 + d11 + d12},
	{name: "short = on a flag", argv: "-Ln=", code: 255, stderr: "-Ln=: option does not take an argument\n"},
	{name: "long = empty on a flag", argv: "-L --numeric=", code: 255, stderr: "--numeric=: option does not take an argument\n"},
	{name: "cluster ends before its argument", argv: "-Lt", code: 255, stderr: "-Lt: missing argument\n"},
	{name: "argument may start with -", argv: "-L -t -n", code: 2, stderr: "illegal virtual server address[:port] specified\n"},
	{name: "empty word is an argument", argv: "-A -t  -s rr", code: 2, stderr: "illegal virtual server address[:port] specified\n"},
	{name: "--sort is accepted, even twice", argv: "-L -n --sort --sort", stdout: baseList},
	{name: "--nosort", argv: "-L -n --nosort", stdout: hdr + title + svc80 + d12 + d11 +
		"UDP  192.0.2.10:53 wrr\nFWM  7 rr persistent 360\n"},
	{name: "--nosort twice", argv: "-L -n --nosort --nosort", code: 2, stderr: "multiple 'nosort' options specified\n"},
	{name: "--exact without --stats", argv: "-L -n --exact", stdout: baseList},
	{name: "-X is --exact", argv: "-L -n -X --stats -u 192.0.2.10:53", stdout: statsTitle +
		"UDP  192.0.2.10:53                       0        0        0        0        0\n"},
	{name: "--rate of one service", argv: "-L -n --rate -u 192.0.2.10:53", contains: "\nUDP  192.0.2.10:53    "},
	{name: "--thresholds wins over --persistent-conn", argv: "-L -n --thresholds --persistent-conn -t 192.0.2.10:80",
		contains: "Uthreshold Lthreshold ActiveConn InActConn \n"},
	{name: "--tun-info", argv: "-L -n --tun-info -t 192.0.2.10:80",
		contains: "  -> 203.0.113.11:80              Masq    n/a           1      0          0         \n"},
	{name: "-- ends the options", argv: "-A -t 192.0.2.10:81 -s rr -- -p", code: 2, stderr: "unexpected argument -p\n"},
	{name: "a lone - is a word", argv: "-A -t 192.0.2.10:81 -s rr -p -", code: 2, stderr: "unexpected argument -\n"},

	// No abbreviations, no other case, one dash only for clusters.
	{name: "abbreviated long option", argv: "-L --stat", code: 255, stderr: "--stat: unknown option\n"},
	{name: "abbreviated first option", argv: "--lis", code: 255, stderr: tryHelpMsg},
	{name: "long option in capitals", argv: "-L --Numeric", code: 255, stderr: "--Numeric: unknown option\n"},
	{name: "three dashes", argv: "-L ---numeric", code: 255, stderr: "---numeric: unknown option\n"},
	{name: "unknown short in a later cluster", argv: "-L -nq", code: 255, stderr: "-nq: unknown option\n"},
	{name: "negative number is a cluster", argv: "--set -1 0 0", code: 255, stderr: "-1: unknown option\n"},

	// popt's "!#:+": the next word that is not an option.
	{name: "!#:+ takes the next word", argv: "-A -t 192.0.2.10:81 -s w!#:+ rr",
		then: "-Ln -t 192.0.2.10:81", want: title + "TCP  192.0.2.10:81 wrr\n"},
	{name: "!#:+ skips options", argv: "-A -t 192.0.2.10:!#:+ -srr 81",
		then: "-Ln -t 192.0.2.10:81", want: title + "TCP  192.0.2.10:81 rr\n"},
	{name: "!#:+ with nothing to take", argv: "-A -t 192.0.2.10:81 -s !#:+", code: 255,
		stderr: "Scheduler or persistence engine not found\n"},

	// The optional argument of -p.
	{name: "-p before an option", argv: "-A -t 192.0.2.10:81 -p -s rr",
		then: "-Ln -t 192.0.2.10:81", want: title + "TCP  192.0.2.10:81 rr persistent 360\n"},
	{name: "--persistent=", argv: "-A -t 192.0.2.10:81 -s rr --persistent=", code: 2, stderr: "invalid timeout value `' specified\n"},
	{name: "--persistent=60", argv: "--add-service --tcp-service=192.0.2.10:81 --scheduler=rr --persistent=60",
		then: "-Ln -t 192.0.2.10:81", want: title + "TCP  192.0.2.10:81 rr persistent 60\n"},
	{name: "-p with garbage", argv: "-A -t 192.0.2.10:81 -s rr -p 60x", code: 2, stderr: "invalid timeout value `60x' specified\n"},
	{name: "-p largest", argv: "-A -t 192.0.2.10:81 -s rr -p 2678400",
		then: "-Ln -t 192.0.2.10:81", want: title + "TCP  192.0.2.10:81 rr persistent 2678400\n"},

	// Netmasks.
	{name: "-M inet_aton short form", argv: "-A -t 192.0.2.10:81 -s rr -p 60 -M 10.1",
		then: "-Ln -t 192.0.2.10:81", want: title + "TCP  192.0.2.10:81 rr persistent 60 mask 10.0.0.1\n"},
	{name: "-M host name without a resolver", argv: "-A -t 192.0.2.10:81 -s rr -p -M mask.example", code: 2,
		stderr: "illegal virtual server persistent mask specified\n"},
	{name: "-M zero ipv6", argv: "-A -t [2001:db8::10]:81 -s rr -p -M 0", code: 2, stderr: "illegal ipv6 netmask specified\n"},
	{name: "-M text ipv6", argv: "-A -t [2001:db8::10]:81 -s rr -p -M abc", code: 2, stderr: "illegal ipv6 netmask specified\n"},
	{name: "-M prefix ipv6 atoi", argv: "-A -t [2001:db8::10]:81 -s rr -p -M 48xyz",
		then: "-Ln -t [2001:db8::10]:81", want: title + "TCP  [2001:db8::10]:81 rr persistent 360 mask 48\n"},
	{name: "fwmark ipv6 mask", argv: "-A -f 8 -6 -p -M 64",
		then: "-Ln -f 8 -6", want: title + "FWM  8 IPv6 wlc persistent 360 mask 64\n"},
	{name: "-6 after -M resets the mask", argv: "-A -f 8 -M 64 -6 -p",
		then: "-Ln -f 8 -6", want: title + "FWM  8 IPv6 wlc persistent 360\n"},
	{name: "--ipv6 long", argv: "--add-service --fwmark-service 8 --ipv6 --scheduler rr",
		then: "-Ln -f 8 -6", want: title + "FWM  8 IPv6 rr\n"},
	{name: "-6 without -f", argv: "-L -n -6", code: 2, stderr: "-6 used before -f\n\n"},
	{name: "largest fwmark", argv: "-A -f 4294967295 -s rr",
		then: "-Sn", want: "--A -f 4294967295 -s rr\n"},
	{name: "fwmark too big", argv: "-A -f 4294967296 -s rr", code: 2, stderr: "invalid fwmark value `4294967296' specified\n"},
	{name: "negative fwmark", argv: "-A -f -1 -s rr", code: 2, stderr: "invalid fwmark value `-1' specified\n"},

	// Scheduler flags (-b after -A and -E).
	{name: "sh flags", argv: "-A -t 192.0.2.10:81 -s sh -b sh-fallback,sh-port",
		then: "-Ln -t 192.0.2.10:81", want: title + "TCP  192.0.2.10:81 sh (sh-fallback,sh-port)\n"},
	{name: "mh flag long", argv: "-A -t 192.0.2.10:81 --scheduler mh --sched-flags mh-port",
		then: "-Sn", want: "--A -t 192.0.2.10:81 -s mh -b mh-port\n"},
	{name: "sh flag needs sh, default wlc", argv: "-A -t 192.0.2.10:81 -b sh-port", code: 2,
		stderr: "incompatible scheduler flag `sh-port'\n"},
	{name: "mh flag on sh", argv: "-A -t 192.0.2.10:81 -s sh -b mh-fallback", code: 2,
		stderr: "incompatible scheduler flag `mh-fallback'\n"},
	{name: "empty -b sets nothing", argv: "-A -t 192.0.2.10:81 -s rr --sched-flags=",
		then: "-Ln -t 192.0.2.10:81", want: title + "TCP  192.0.2.10:81 rr\n"},
	{name: "-b of commas", argv: "-A -t 192.0.2.10:81 -s rr -b ,,", code: 2, stderr: "invalid scheduler flag `,,'\n"},
	{name: "edit flags", argv: "-E -t 192.0.2.10:80 -s rr -b flag-2",
		then: "-Ln -t 192.0.2.10:80", want: "-TCP  192.0.2.10:80 rr (flag-2)\n"},
	{name: "-b on delete", argv: "-D -t 192.0.2.10:80 -b flag-1", code: 2,
		stderr: "Illegal 'sched-flags' option with the 'delete-service' command\n"},
	{name: "flags checked before the option table", argv: "-D -t 192.0.2.10:80 -b flag-9", code: 2,
		stderr: "invalid scheduler flag `flag-9'\n"},

	// Real servers.
	{name: "real server port by name", argv: "-a -t 192.0.2.10:80 -r 203.0.113.13:http-alt -m",
		then: "-Ln -t 192.0.2.10:80", want: "-  -> 203.0.113.13:8080            Masq    1      0          0         \n"},
	{name: "udp port name", argv: "-a -u 192.0.2.10:53 -r 203.0.113.13:domain -m",
		then: "-Ln -u 192.0.2.10:53", want: "-  -> 203.0.113.13:53              Masq    1      0          0         \n"},
	{name: "tcp-only name on udp", argv: "-a -u 192.0.2.10:53 -r 203.0.113.13:http -m", code: 2,
		stderr: "illegal real server address[:port] specified\n"},
	{name: "-r before -t has no protocol for names", argv: "-a -r 203.0.113.13:http -t 192.0.2.10:80 -m", code: 2,
		stderr: "illegal real server address[:port] specified\n"},
	{name: "long real server options", argv: "--add-server --tcp-service 192.0.2.10:80 --real-server 203.0.113.13:8080 " +
		"--masquerading --weight 65535 --u-threshold 2147483647 --l-threshold 0",
		then: "-Ln -t 192.0.2.10:80 --thresholds", want: "-  -> 203.0.113.13:8080            2147483647 0          0          0         \n"},
	{name: "--gatewaying", argv: "-a -t 192.0.2.10:80 -r 203.0.113.13 --gatewaying",
		then: "-Sn", want: "--a -t 192.0.2.10:80 -r 203.0.113.13:80 -g -w 1\n"},
	{name: "--ipip with --tun-type ipip", argv: "-a -t 192.0.2.10:80 -r 203.0.113.13 --ipip --tun-type ipip",
		then: "-Sn", want: "--a -t 192.0.2.10:80 -r 203.0.113.13:80 -i -w 1 --tun-type ipip\n"},
	{name: "upper threshold too big", argv: "-a -t 192.0.2.10:80 -r 203.0.113.13 -x 2147483648", code: 2,
		stderr: "illegal u_threshold specified\n"},
	{name: "weight with sign", argv: "-a -t 192.0.2.10:80 -r 203.0.113.13 -w +3",
		then: "-Sn", want: "--a -t 192.0.2.10:80 -r 203.0.113.13:80 -g -w 3\n"},
	{name: "weight twice", argv: "-a -t 192.0.2.10:80 -r 203.0.113.13 -w 1 -w 2", code: 2,
		stderr: "multiple 'weight' options specified\n"},
	{name: "server twice", argv: "-a -t 192.0.2.10:80 -r 203.0.113.13 -r 203.0.113.14", code: 2,
		stderr: "multiple 'real-server' options specified\n"},
	{name: "-r on add-service", argv: "-A -t 192.0.2.10:81 -r 203.0.113.13", code: 2,
		stderr: "Illegal 'real-server' option with the 'add-service' command\n"},
	{name: "delete-server needs -r", argv: "-d -t 192.0.2.10:80", code: 2,
		stderr: "You need to supply the 'real-server' option for the 'delete-server' command\n"},
	{name: "edit-server needs a service", argv: "-e -r 203.0.113.11", code: 2,
		stderr: "You need to supply the 'service-address' option for the 'edit-server' command\n"},

	// Tunnel types: GUE and GRE are the kernel's only.
	{name: "gue", argv: "-a -t 192.0.2.10:80 -r 203.0.113.13 -i --tun-type gue --tun-port 6080", code: 255, stderr: noGUE},
	{name: "gue with checksum", argv: "-a -t 192.0.2.10:80 -r 203.0.113.13 -i --tun-type gue --tun-port 6080 --tun-remcsum",
		code: 255, stderr: noGUE},
	{name: "gue on edit", argv: "-e -t 192.0.2.10:80 -r 203.0.113.11 -i --tun-type gue --tun-port 6080 --tun-nocsum",
		code: 255, stderr: noGUE},
	{name: "gre", argv: "-a -t 192.0.2.10:80 -r 203.0.113.13 -i --tun-type gre --tun-csum", code: 255, stderr: noGRE},
	{name: "gre takes no port", argv: "-a -t 192.0.2.10:80 -r 203.0.113.13 -i --tun-type gre --tun-port 1", code: 2,
		stderr: "Illegal 'tun-port' option with the 'gre' tunnel type\n"},
	{name: "gue checksums exclusive", argv: "-a -t 192.0.2.10:80 -r 203.0.113.13 -i --tun-type gue --tun-port 1 --tun-csum --tun-remcsum",
		code: 2, stderr: "The option 'tun-remcsum' conflicts with the 'tun-csum' option in the 'gue' tunnel type\n"},
	{name: "ipip takes no checksum option", argv: "-a -t 192.0.2.10:80 -r 203.0.113.13 -i --tun-nocsum", code: 2,
		stderr: "Illegal 'tun-nocsum' option with the 'ipip' tunnel type\n"},
	{name: "tunnel port zero", argv: "-a -t 192.0.2.10:80 -r 203.0.113.13 -i --tun-type gue --tun-port 0", code: 2,
		stderr: "illegal tunnel port specified\n"},
	{name: "tunnel option on DR", argv: "-a -t 192.0.2.10:80 -r 203.0.113.13 --tun-csum", code: 2,
		stderr: "Tunnel options conflict with forward method\n"},
	{name: "tunnel option on delete", argv: "-d -t 192.0.2.10:80 -r 203.0.113.11 --tun-type ipip", code: 2,
		stderr: "Illegal 'tun-type' option with the 'delete-server' command\n"},

	// Persistence engines: the kernel's only.
	{name: "pe on edit", argv: "-E -t 192.0.2.10:80 -s rr -p --pe sip", code: 255,
		stderr: "Scheduler or persistence engine not found\n" + peSIP},
	{name: "pe with an unknown scheduler", argv: "-A -t 192.0.2.10:81 -s nosuch --pe sip", code: 255,
		stderr: "Scheduler or persistence engine not found\n"},
	{name: "pe on delete", argv: "-D -t 192.0.2.10:80 --pe sip", code: 2,
		stderr: "Illegal 'pe' option with the 'delete-service' command\n"},

	// The connection synchronization daemon: the kernel's only.
	{name: "start daemon", argv: "--start-daemon master", code: 255, stderr: noSync},
	{name: "start daemon =", argv: "--start-daemon=backup", code: 255, stderr: noSync},
	{name: "start daemon with every option", argv: "--start-daemon backup --mcast-interface eth1 --syncid 7 --sync-maxlen 65507 " +
		"--mcast-group ff02::12 --mcast-port 8848 --mcast-ttl 255", code: 255, stderr: noSync},
	{name: "start daemon missing state", argv: "--start-daemon", code: 255, stderr: tryHelpMsg},
	{name: "syncid range", argv: "--start-daemon master --syncid 256", code: 2, stderr: "illegal syncid specified\n"},
	{name: "syncid twice", argv: "--start-daemon master --syncid 1 --syncid 2", code: 2, stderr: "multiple 'syncid' options specified\n"},
	{name: "mcast group not multicast", argv: "--start-daemon master --mcast-group 192.0.2.1", code: 2,
		stderr: "invalid IPv4 mcast-group `192.0.2.1'\n"},
	{name: "mcast group inet_pton only", argv: "--start-daemon master --mcast-group 224.1", code: 2,
		stderr: "invalid IPv4 mcast-group `224.1'\n"},
	{name: "mcast group ipv6 unicast", argv: "--start-daemon master --mcast-group 2001:db8::1", code: 2,
		stderr: "invalid IPv6 mcast-group `2001:db8::1'\n"},
	{name: "mcast port zero", argv: "--start-daemon master --mcast-port 0", code: 2, stderr: "illegal mcast-port specified\n"},
	{name: "mcast ttl too big", argv: "--start-daemon master --mcast-ttl 256", code: 2, stderr: "illegal mcast-ttl specified\n"},
	{name: "sync maxlen too big", argv: "--start-daemon master --sync-maxlen 65508", code: 2, stderr: "illegal sync-maxlen specified\n"},
	{name: "stop daemon with syncid", argv: "--stop-daemon master --syncid 1", code: 255, stderr: "No daemon is running\n"},
	{name: "stop daemon with a start option", argv: "--stop-daemon master --mcast-port 1", code: 2,
		stderr: "Illegal 'mcast-port' option with the 'stop-daemon' command\n"},
	{name: "mcast interface on list", argv: "-L --mcast-interface eth0", code: 2,
		stderr: "Illegal 'mcast-interface' option with the 'list' command\n"},
	{name: "daemon listing is empty", argv: "-L --daemon", stdout: ""},

	// The list command's own checks.
	{name: "timeout and stats", argv: "-L --timeout --stats", code: 2, stderr: "options conflicts in the list command\n"},
	{name: "daemon and persistent-conn", argv: "-L --daemon --persistent-conn", code: 2, stderr: "options conflicts in the list command\n"},
	{name: "daemon and timeout", argv: "-L --daemon --timeout", code: 2,
		stderr: "The option 'daemon' conflicts with the 'timeout' option in the 'list' command\n"},
	{name: "service and connections", argv: "-L -t 192.0.2.10:80 -c", code: 2,
		stderr: "The option 'service-address' conflicts with the 'connection' option in the 'list' command\n"},
	{name: "scheduler on list", argv: "-L -s rr", code: 2, stderr: "Illegal 'scheduler' option with the 'list' command\n"},
	{name: "missing ipv6 fwmark service", argv: "-L -n -f 7 -6", code: 1, stderr: "No such service\n"},

	// Other commands.
	{name: "save with names", argv: "-S", stdout: "-A -t 192.0.2.10:http -s rr\n" +
		"-a -t 192.0.2.10:http -r 203.0.113.11:http -m -w 1\n" +
		"-a -t 192.0.2.10:http -r 203.0.113.12:http -m -w 2\n" +
		"-A -u 192.0.2.10:domain -s wrr\n" +
		"-A -f 7 -s rr -p 360\n"},
	{name: "--save --numeric", argv: "--save --numeric", stdout: "-A -t 192.0.2.10:80 -s rr\n" +
		"-a -t 192.0.2.10:80 -r 203.0.113.11:80 -m -w 1\n" +
		"-a -t 192.0.2.10:80 -r 203.0.113.12:80 -m -w 2\n" +
		"-A -u 192.0.2.10:53 -s wrr\n" +
		"-A -f 7 -s rr -p 360\n"},
	{name: "save takes no -c", argv: "-S -c", code: 2, stderr: "Illegal 'connection' option with the 'save' command\n"},
	{name: "zero takes no -n", argv: "-Z -n", code: 2, stderr: "Illegal 'numeric' option with the 'zero' command\n"},
	{name: "--zero --udp-service", argv: "--zero --udp-service 192.0.2.10:53"},
	{name: "--delete-service --fwmark-service", argv: "--delete-service --fwmark-service 7",
		then: "-Ln", want: hdr + title + svc80 + d11 + d12 + "UDP  192.0.2.10:53 wrr\n"},
	{name: "--edit-service --udp-service --ops", argv: "--edit-service --udp-service 192.0.2.10:53 --scheduler rr --ops",
		then: "-Ln -u 192.0.2.10:53", want: title + "UDP  192.0.2.10:53 rr ops\n"},
	{name: "--edit-server --real-server", argv: "--edit-server -t 192.0.2.10:80 --real-server 203.0.113.11 --masquerading --weight 4",
		then: "-Ln -t 192.0.2.10:80", want: "-  -> 203.0.113.11:80              Masq    4      0          0         \n"},
	{name: "--delete-server", argv: "--delete-server -t 192.0.2.10:80 --real-server 203.0.113.12",
		then: "-Ln -t 192.0.2.10:80", want: title + svc80 + d11},
	{name: "sctp service", argv: "-A --sctp-service [2001:db8::10]:amqp -s rr",
		then: "-L --sctp-service [2001:db8::10]:5672", want: title + "SCTP [2001:db8::10]:amqp rr\n"},
	{name: "--set long", argv: "--set 2678400 0 0", then: "-L --timeout", want: "Timeout (tcp tcpfin udp): 2678400 120 300\n"},
	{name: "--set with an option", argv: "--set 900 120 300 -n", code: 2, stderr: "Illegal 'numeric' option with the 'set' command\n"},
	{name: "clear with a word", argv: "-C extra", code: 2, stderr: "unexpected argument extra\n"},
	{name: "restore takes no -n", argv: "-R -n", code: 2, stderr: "Illegal 'numeric' option with the 'restore' command\n"},
	{name: "help wins", argv: "-h -Z", contains: "Usage:\n"},
	{name: "--help", argv: "--help", contains: "Usage:\n"},
	{name: "--restore without input", argv: "--restore"},
	{name: "--netmask", argv: "-E -f 7 -s rr -p 60 --netmask 255.255.255.0",
		then: "-Ln -f 7", want: title + "FWM  7 rr persistent 60 mask 255.255.255.0\n"},
	{name: "version ignores the rest", argv: "-v -Z extra", stdout: "ipvsadm v1.31 2019/12/24 (compiled with popt and IPVS v1.2.1)\n"},

	// A command after the first option: popt returns it, ipvsadm names
	// the word popt consumed last.
	{name: "second command in a cluster", argv: "-Lh", code: 2, stderr: "invalid option `-Lh'\n"},
	{name: "second command with an argument", argv: "-L --start-daemon master", code: 2, stderr: "invalid option `master'\n"},
	{name: "--set after a command", argv: "-L --set", code: 2, stderr: "invalid option `--set'\n"},
	{name: "-R after a command", argv: "-C -R", code: 2, stderr: "invalid option `-R'\n"},
}

func TestGrammar(t *testing.T) { runCases(t, base, grammarTable) }

// TestGrammarCoversOptions: the grammar tables use every option of
// ipvsadm 1.31's popt table under its long name and, where it has one,
// its short name.
func TestGrammarCoversOptions(t *testing.T) {
	used := map[string]bool{}
	for _, tab := range [][]runCase{runTable, grammarTable} {
		for _, tc := range tab {
			for _, w := range split(tc.argv) {
				switch {
				case strings.HasPrefix(w, "--"):
					name, _, _ := strings.Cut(w[2:], "=")
					used["--"+name] = true
				case len(w) > 1 && w[0] == '-':
					// A cluster: every letter up to the first that
					// takes an argument.
					for i := 1; i < len(w); i++ {
						used["-"+w[i:i+1]] = true
						if o := (&scanner{}).findShort(w[i]); o == nil || o.arg != argNone {
							break
						}
					}
				}
			}
		}
	}
	dpvs := map[string]bool{"add-laddr": true, "del-laddr": true, "get-laddr": true,
		"laddr": true, "ifname": true, "fullnat": true} // fullnat_test.go
	for _, o := range optionTable {
		if dpvs[o.long] {
			continue
		}
		if !used["--"+o.long] {
			t.Errorf("no case uses --%s", o.long)
		}
		if o.short != 0 && !used["-"+string(o.short)] {
			t.Errorf("no case uses -%c (--%s)", o.short, o.long)
		}
	}
}

// ipvsadmMessages are the messages ipvsadm 1.31 prints for bad input
// (fail(), popt's errors, tryhelp_exit, the list command's check) and the
// kernel's answers ipvs_strerror names, as regular expressions over the
// standard error of a case. Messages that cannot occur are left out: "Can't
// initialize ipvs" (the client reports an unreachable daemon instead),
// "multiple commands specified" (popt's first option is the only command
// ipvsadm reads), /proc read errors, "Daemon has already run" (no daemon
// starts) and the kernel errors of resources gdirector does not have.
var ipvsadmMessages = []string{
	`illegal start-daemon parameter specified`,
	`illegal start_daemon specified`,
	`illegal virtual server address\[:port\] specified`,
	`illegal virtual server persistent mask specified`,
	`illegal ipv6 netmask specified`,
	`illegal real server address\[:port\] specified`,
	`illegal weight specified`,
	`illegal u_threshold specified`,
	`illegal l_threshold specified`,
	`illegal syncid specified`,
	`-6 used before -f\n`,
	"invalid IPv6 mcast-group `.*'",
	"invalid IPv4 mcast-group `.*'",
	`illegal mcast-port specified`,
	`illegal mcast-ttl specified`,
	`illegal sync-maxlen specified`,
	`illegal tunnel type specified`,
	`illegal tunnel port specified`,
	"invalid option `.*'",
	`.*: missing argument`,
	`.*: unknown option`,
	`.*: option does not take an argument`,
	`--set option requires 3 timeout values`,
	`unexpected argument .*`,
	`Zero port specified for non-persistent service`,
	`One-Packet Scheduling is only for UDP virtual services`,
	`Different address family is allowed only for tunneling servers`,
	`Tunnel options conflict with forward method`,
	`options conflicts in the list command`,
	"invalid timeout value `.*' specified",
	"invalid fwmark value `.*' specified",
	"incompatible scheduler flag `.*'",
	"invalid scheduler flag `.*'",
	`You need to supply the '.*' option for the '.*' command`,
	`Illegal '.*' option with the '.*' command`,
	`The option '.*' conflicts with the '.*' option in the '.*' command`,
	`You need to supply the '.*' option for the '.*' tunnel type`,
	`Illegal '.*' option with the '.*' tunnel type`,
	`The option '.*' conflicts with the '.*' option in the '.*' tunnel type`,
	`multiple '.*' options specified`,
	"Try `ipvsadm -h' or 'ipvsadm --help' for more information.",
	`Service already exists`,
	`Scheduler or persistence engine not found`,
	`No such service`,
	`Service not defined`,
	`Destination already exists`,
	`No such destination`,
	`No daemon is running`,
	`Invalid operation.  Possibly wrong module version, address not unicast, \.\.\.`,
	`Numerical result out of range`,
}

// TestGrammarCoversMessages: every message of ipvsadm's is the whole
// standard error of some case of the grammar tables, with its status.
func TestGrammarCoversMessages(t *testing.T) {
	for _, msg := range ipvsadmMessages {
		re := regexp.MustCompile(`\A` + msg + `\n\z`)
		found := false
		for _, tab := range [][]runCase{runTable, grammarTable} {
			for _, tc := range tab {
				if tc.code != 0 && re.MatchString(tc.stderr) {
					found = true
				}
			}
		}
		if !found {
			t.Errorf("no case prints %q", msg)
		}
	}
}

// TestManPageExamples runs the examples of ipvsadm(8) (1.31's EXAMPLES
// section, with its addresses replaced by documentation ones) through one
// ipvsadm -R style sequence of commands: each must be accepted, except the
// GUE example, which is refused with gdirector's reason and changes
// nothing.
func TestManPageExamples(t *testing.T) {
	m, _ := newManager(t, nil)
	for _, line := range []string{
		// Example 1: simple virtual service.
		"-A -t 192.0.2.110:80 -s rr",
		"-a -t 192.0.2.110:80 -r 203.0.113.1:80 -m",
		"-a -t 192.0.2.110:80 -r 203.0.113.2:80 -m",
		"-a -t 192.0.2.110:80 -r 203.0.113.3:80 -m",
		"-a -t 192.0.2.110:80 -r 203.0.113.4:80 -m",
		"-a -t 192.0.2.110:80 -r 203.0.113.5:80 -m",
		// Example 2: firewall-mark virtual service.
		"-A -f 1 -s rr",
		"-a -f 1 -r 203.0.113.1:0 -m",
		"-a -f 1 -r 203.0.113.2:0 -m",
	} {
		if _, e, c := Run(m, split(line)); c != 0 {
			t.Fatalf("ipvsadm %s: %d %s", line, c, e)
		}
	}
	want := "-A -t 192.0.2.110:80 -s rr\n" +
		"-a -t 192.0.2.110:80 -r 203.0.113.1:80 -m -w 1\n" +
		"-a -t 192.0.2.110:80 -r 203.0.113.2:80 -m -w 1\n" +
		"-a -t 192.0.2.110:80 -r 203.0.113.3:80 -m -w 1\n" +
		"-a -t 192.0.2.110:80 -r 203.0.113.4:80 -m -w 1\n" +
		"-a -t 192.0.2.110:80 -r 203.0.113.5:80 -m -w 1\n" +
		"-A -f 1 -s rr\n" +
		"-a -f 1 -r 203.0.113.1:0 -m -w 1\n" +
		"-a -f 1 -r 203.0.113.2:0 -m -w 1\n"
	if got := listing(t, m, "-S -n"); got != want {
		t.Fatalf("after the examples:\n%s\nwant\n%s", got, want)
	}
	// Example 3: GUE tunneling (--tun-type gue --tun-port 6080
	// --tun-nocsum).
	_, e, c := Run(m, split("-a -t 192.0.2.110:80 -r 203.0.113.6:80 -i --tun-type gue --tun-port 6080 --tun-nocsum"))
	if c != 255 || e != noGUE {
		t.Fatalf("GUE example: %d %q", c, e)
	}
	if got := listing(t, m, "-S -n"); got != want {
		t.Fatalf("the refused GUE example changed the table:\n%s", got)
	}
}

// TestListNames: without -n, addresses are printed by name when the
// resolver has one, ports by the services database, for -L, -S and -c; a
// name is cut as ipvsadm's 60-byte buffer cuts it, and the service and
// real-server columns as -L cuts them.
func TestListNames(t *testing.T) {
	names := &Names{
		HostName: func(a netip.Addr) string {
			switch a.String() {
			case "192.0.2.10":
				return "www.example.com"
			case "203.0.113.11":
				return "rs1.example.com"
			case "2001:db8::10":
				return "v6.example.com"
			case "203.0.113.12":
				return "a-name-longer-than-fifty-nine-bytes-in-all.rs2.example.com"
			}
			return ""
		},
		LookupHost: func(name string) (netip.Addr, bool) {
			if name == "www.example.com" {
				return netip.MustParseAddr("192.0.2.10"), true
			}
			return netip.Addr{}, false
		},
	}
	m, _ := newManager(t, append(append([]string(nil), base...), "-A -t [2001:db8::10]:443 -s rr"))
	run := func(argv string) string {
		t.Helper()
		out, e, c := RunEnv(m, split(argv), Env{Names: names})
		if c != 0 || e != "" {
			t.Fatalf("ipvsadm %s: %d %q", argv, c, e)
		}
		return out
	}
	want := hdr + title +
		"TCP  www.example.com:http rr\n" +
		"  -> rs1.example.com:http         Masq    1      0          0         \n" +
		"  -> a-name-longer-than-fifty-nin Masq    2      0          0         \n" +
		"UDP  www.example.com:domain wrr\n" +
		"TCP  [v6.example.com]:https rr\n" +
		"FWM  7 rr persistent 360\n"
	if got := run("-L"); got != want {
		t.Errorf("ipvsadm -L:\n%q\nwant\n%q", got, want)
	}
	wantS := "-A -t www.example.com:http -s rr\n" +
		"-a -t www.example.com:http -r rs1.example.com:http -m -w 1\n" +
		"-a -t www.example.com:http -r a-name-longer-than-fifty-nine-bytes-in-all.rs2.example.com: -m -w 2\n" +
		"-A -u www.example.com:domain -s wrr\n" +
		"-A -t [v6.example.com]:https -s rr\n" +
		"-A -f 7 -s rr -p 360\n"
	if got := run("-S"); got != wantS {
		t.Errorf("ipvsadm -S:\n%q\nwant\n%q", got, wantS)
	}
	// Names are read back: the host through LookupHost.
	if got := run("-L -t www.example.com:http -n"); got != title+svc80+d11+d12 {
		t.Errorf("-L -t www.example.com:http -n:\n%s", got)
	}
	// With -n nothing is resolved.
	if got := run("-L -n"); !strings.Contains(got, "TCP  [2001:db8::10]:443 rr\n") {
		t.Errorf("ipvsadm -L -n:\n%s", got)
	}
}

// TestServicesDatabase: ParseServices reads the services(5) format as the
// C library does, and lookups return the first match.
func TestServicesDatabase(t *testing.T) {
	db := ParseServices("# comment\n" +
		"http\t80/tcp\twww  # web\n" +
		"  alt   80/tcp  other\n" +
		"dns 53/udp\n" +
		"dns 54/udp\n" +
		"big 65616/tcp\n" +
		"noproto 99\n" +
		"hex 0x50/tcp\n" +
		"neg -1/tcp\n" +
		"lonely\n" +
		"\n" +
		"sctpsvc 2905/sctp  m3ua\n")
	for _, tc := range []struct {
		name, proto string
		port        uint16
		ok          bool
	}{
		{"http", "tcp", 80, true},
		{"www", "tcp", 80, true},
		{"alt", "tcp", 80, true},
		{"other", "tcp", 80, true},
		{"http", "udp", 0, false},
		{"dns", "udp", 53, true},
		{"big", "tcp", 80, true}, // 65616 modulo 65536
		{"noproto", "tcp", 0, false},
		{"hex", "tcp", 0, false},
		{"neg", "tcp", 0, false},
		{"lonely", "tcp", 0, false},
		{"m3ua", "sctp", 2905, true},
		{"#", "tcp", 0, false},
		{"web", "tcp", 0, false},
	} {
		port, ok := db.Port(tc.name, tc.proto)
		if port != tc.port || ok != tc.ok {
			t.Errorf("Port(%q, %q) = %d %v, want %d %v", tc.name, tc.proto, port, ok, tc.port, tc.ok)
		}
	}
	for _, tc := range []struct {
		port  uint16
		proto string
		name  string
	}{
		{80, "tcp", "http"}, // the first of three
		{53, "udp", "dns"},
		{54, "udp", "dns"},
		{53, "tcp", ""},
		{2905, "sctp", "sctpsvc"},
	} {
		if name, _ := db.Name(tc.port, tc.proto); name != tc.name {
			t.Errorf("Name(%d, %q) = %q, want %q", tc.port, tc.proto, name, tc.name)
		}
	}
	// The built-in database has the names the public samples of
	// testdata/public print.
	for _, tc := range []struct {
		port  uint16
		proto string
		name  string
	}{
		{80, "tcp", "http"}, {443, "tcp", "https"}, {53, "udp", "domain"}, {53, "tcp", "domain"},
		{8080, "tcp", "http-alt"}, {9102, "tcp", "bacula-fd"}, {9090, "tcp", ""}, {5353, "udp", "mdns"},
		{80, "udp", ""},
	} {
		if name, _ := DefaultServices.Name(tc.port, tc.proto); name != tc.name {
			t.Errorf("DefaultServices.Name(%d, %q) = %q, want %q", tc.port, tc.proto, name, tc.name)
		}
	}
}

func FuzzParseServices(f *testing.F) {
	f.Add(builtinServices)
	f.Add("http 80/tcp www\n# c\nx 1/udp\n")
	f.Add("a 99999999999999999999/tcp\n")
	f.Add("\t\t\n#\n a  /tcp")
	f.Fuzz(func(t *testing.T, text string) {
		db := ParseServices(text)
		for _, e := range db.entries {
			if e.name == "" || strings.ContainsAny(e.name, " \t\n#") {
				t.Fatalf("entry with name %q", e.name)
			}
			// Every entry is found by its name (unless an earlier one
			// has the name) and its port gives a name of that port.
			if p, ok := db.Port(e.name, e.proto); !ok {
				t.Fatalf("%q/%q not found", e.name, e.proto)
			} else if n, _ := db.Name(p, e.proto); n == "" {
				t.Fatalf("port %d/%s has no name", p, e.proto)
			}
		}
		_ = fmt.Sprint(db.Name(0, "tcp"))
	})
}
