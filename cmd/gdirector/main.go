// Command gdirector is a userspace Linux Virtual Server director.
//
//	gdirector run --iface NAME [--iface NAME…] [--ctl PATH]   start the daemon
//	gdirector ipvsadm ARGS…                                    ipvsadm, talking to the daemon
//	gdirector reload                                           read the daemon's --config file again
//	gdirector config check FILE [--format F]                   validate a configuration file of any format
//	gdirector mark add|del|list|flush [RULE]                   firewall-mark rules for -f services
//	gdirector sched show SERVICE [--client ADDR] | sched list  what a service's scheduler sees and would do
//	gdirector trace [--client ADDR|PREFIX] [--vip ADDR] [--count N] [--json] [--pcap FILE]  live per-packet trace
//	gdirector lab [--mode nat|dr|tun|fullnat] [--ipv6] [--explain] [--keep]    build and demo an LVS lab (root)
//	gdirector bench forward [--mode M] [--runs N] [--out FILE]     data-plane benchmark against the kernel (root)
//	gdirector bench sched [--seed N] [--out DIR] [--live]           scheduler simulator, and its replay through a lab (--live: root)
//	gdirector serve http|udp --listen ADDR --name NAME         built-in real-server programs
//	gdirector version
//
// Invoked under the name "ipvsadm" (a symlink), it behaves as
// "gdirector ipvsadm". Every command finds the daemon's control socket at
// --ctl, else $GDIRECTOR_CTL, else /run/gdirector.sock.
package main

import (
	"fmt"
	"os"
	"path/filepath"
)

// Version is the gdirector release.
var Version = "0.1.0-dev"

const defaultCtl = "/run/gdirector.sock"

func ctlPath(flagValue string) string {
	if flagValue != "" {
		return flagValue
	}
	if p := os.Getenv("GDIRECTOR_CTL"); p != "" {
		return p
	}
	return defaultCtl
}

func usage() {
	fmt.Fprint(os.Stderr, `usage: gdirector COMMAND [ARGS]

commands:
  run --iface NAME [--iface NAME...] [--ctl PATH] [--metrics HOST:PORT]
        start the director on those interfaces with an empty table;
        --metrics serves Prometheus metrics at http://HOST:PORT/metrics
        --config FILE starts from a configuration file instead: ipvsadm rules
        (ipvsadm -S output), keepalived.conf, ldirectord.cf or native YAML
        (docs/config.md; --format F if its contents do not tell), with its
        health checks; re-read on SIGHUP, gdirector reload, and with
        --autoreload whenever the file changes;
        --api HOST:PORT --api-cert FILE --api-key FILE --api-token-file FILE
        serves the remote management API over HTTPS (off by default)
  ipvsadm ARGS...
        configure and list the running director with ipvsadm's syntax
        (ipvsadm -R sends standard input along and applies it all or nothing)
  reload
        make the daemon read its --config file again and apply what changed
        (as SIGHUP does); prints the changes, or the failing line
  config check FILE [--format ipvsadm|keepalived|ldirectord|native] [--tun]
        read and validate a configuration file as run --config would, without
        starting anything; prints a summary, or the error with file and line
        (exit 0 valid, 1 invalid, 2 usage)
  mark add|del -d ADDR [-s NET] [-p tcp|udp|sctp] [--dports P,P:Q] --set-mark N
  mark list|flush
        firewall-mark rules: new connections matching a rule get its mark,
        which a firewall-mark service (ipvsadm -A -f N) serves
  sched show -t|-u|--sctp-service VIP:PORT | -f MARK [-6] [--client ADDR[:PORT]] [--full]
  sched list
        show a service's real servers with the load figures its scheduler
        compares, where the next connection goes, and the scheduler's state
  trace [--socket PATH] [--client ADDR|PREFIX] [--vip ADDR] [--port N] [--proto tcp|udp|sctp]
        [--sample N] [--count N] [--duration D] [--json] [--pcap FILE]
        print every packet the running director handles that matches (with
        --sample N, one in N per worker, at about 1/N of the cost): worker,
        direction, method, the connection table's decision, the scheduler's
        choice and inputs for a new connection, and the headers it changed
        (--json: one JSON object per packet; --pcap: the frames as received
        and sent, for tcpdump/Wireshark); until --count, --duration or Ctrl-C
  bench forward [--mode nat|dr|tun|fullnat|all] [--runs N] [--duration D] [--out FILE.csv|.json]
        measure forwarding (64-byte UDP, connections/s, bulk TCP) through the
        director against plain kernel forwarding, nftables DNAT and HAProxy
        in a lab, and print a table of medians (root; gdirector bench -h)
  bench sched [--seed N] [--out DIR] [--sched LIST] [--live]
        simulate the schedulers on one workload (deterministic for a seed):
        response times, shares, imbalance, remapping on a failure, with a
        table, CSV/JSON and SVG/PNG plots; --live replays it through a lab
        with real servers of different speeds (root; gdirector bench sched -h)
  lab [--mode nat|dr|tun|fullnat] [--ipv6] [--explain] [--keep] [--requests N] [--clean PREFIX]
        build an LVS lab in network namespaces, send requests, show the table (root)
  serve http|udp --listen ADDR --name NAME
        run a small real server that names itself in every answer
  realserver dr|tun --vip VIP [...] [--undo]
        set up (or undo) a DR or TUN real server; tun decapsulates in userspace
  version
        print the version

The control socket is --ctl, else $GDIRECTOR_CTL, else /run/gdirector.sock.
`)
}

func main() {
	if filepath.Base(os.Args[0]) == "ipvsadm" {
		os.Exit(cmdIpvsadm(os.Args[1:]))
	}
	if len(os.Args) < 2 {
		usage()
		os.Exit(2)
	}
	var code int
	switch os.Args[1] {
	case "run":
		code = cmdRun(os.Args[2:])
	case "ipvsadm":
		code = cmdIpvsadm(os.Args[2:])
	case "mark":
		code = cmdCtl("mark", os.Args[2:])
	case "reload":
		code = cmdCtl("reload", os.Args[2:])
	case "config":
		code = cmdConfig(os.Args[2:])
	case "sched":
		code = cmdCtl("sched", os.Args[2:])
	case "trace":
		code = cmdTrace(os.Args[2:])
	case "bench":
		code = cmdBench(os.Args[2:])
	case "lab":
		code = cmdLab(os.Args[2:])
	case "serve":
		code = cmdServe(os.Args[2:])
	case "realserver":
		code = cmdRealserver(os.Args[2:])
	case "version", "--version", "-v":
		fmt.Printf("gdirector %s\n", Version)
	case "help", "-h", "--help":
		usage()
	default:
		fmt.Fprintf(os.Stderr, "gdirector: unknown command %q\n\n", os.Args[1])
		usage()
		code = 2
	}
	os.Exit(code)
}

// multiFlag collects a repeatable string flag.
type multiFlag []string

func (m *multiFlag) String() string     { return fmt.Sprint([]string(*m)) }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }
