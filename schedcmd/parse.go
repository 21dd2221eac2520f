// Package schedcmd is `gdirector sched`: it shows what a service's
// scheduler sees and would do, for teaching and debugging, and lists the
// schedulers with the rule each applies. It never changes anything.
//
//	gdirector sched show -t|-u|--sctp-service VIP:PORT [--client ADDR[:PORT]] [--full]
//	gdirector sched show -f MARK [-6] [--client ADDR[:PORT]] [--dst ADDR] [--full]
//	gdirector sched show VIP:PORT ...        (a bare VIP:PORT is a TCP service)
//	gdirector sched list
//
// The service is named as ipvsadm names it (-t, -u, --sctp-service, -f
// with -6 for an IPv6 firewall-mark service; IPv6 addresses as
// [ADDR]:PORT). show prints the service line, the real servers in the
// order the scheduler walks them (most recently added first) with their
// weight, connection counters, overhead (256 × active + inactive, the
// kernel's ip_vs_dest_conn_overhead), state (ok, quiesced for weight 0,
// overloaded past the upper threshold, unavailable once removed) and the
// load figure the scheduler compares (lc: overhead; wlc, and lblc, lblcr
// and twos whose picks use wlc's measure: overhead/weight; sed and nq:
// (active + 1)/weight; fo: weight; ovf: weight and whether the dest is
// full, active > weight).
//
// When picking has no side effects — lc, wlc, sed, nq, fo and ovf, and sh,
// dh and mh for a given client — show calls the scheduler's Schedule on
// the live service and prints where the next new connection would go; for
// sh, dh and mh it also prints the table entry the client's connection
// hashes to (sched.Slotter). sh and mh hash the client's address (and
// port with sh-port/mh-port); dh hashes the packet's destination address,
// the VIP (give --dst for a firewall-mark service). For rr, wrr, lblc and
// lblcr picking would move the scheduler's position or change its cache,
// and twos picks at random, so show says so instead of picking. Then, for
// the schedulers with state (sched.Inspector), it prints that state:
// wrr's current weight and position, rr's position, the share of sh's,
// dh's and mh's table each dest holds (every entry with --full), lblc's
// and lblcr's cache (the first entries; more with --full).
//
// The daemon runs Run for "sched" requests on its control socket, so the
// same command is reachable from Go with ctl.CallCmd(path, "sched", argv)
// and answers with the text and exit code the command line prints: 0, 1
// for a service that does not exist, 2 for a bad command line.
package schedcmd

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/gdirector/gdirector/ctl"
	"github.com/gdirector/gdirector/vs"
)

// Usage is the command's synopsis.
const Usage = `Usage:
  gdirector sched show -t|-u|--sctp-service VIP:PORT [--client ADDR[:PORT]] [--full]
  gdirector sched show -f MARK [-6] [--client ADDR[:PORT]] [--dst ADDR] [--full]
  gdirector sched list
show prints a service's real servers with the load figures its scheduler
compares, where the next new connection would go when picking has no side
effects (for sh and mh from the --client given; dh hashes the VIP, or
--dst for a firewall-mark service), and the scheduler's internal state.
A bare VIP:PORT is a TCP service; IPv6 addresses are written [ADDR]:PORT.
list names the schedulers and the rule each applies.
`

// Op is what a command line asks for.
type Op int

// Operations.
const (
	OpShow Op = iota + 1
	OpList
)

// Cmd is a parsed command line.
type Cmd struct {
	Op Op
	// Service names the service to show (OpShow). For a VIP service
	// IPv6 is the address's family.
	Service ctl.ServiceID
	// HasClient says a client was given: the connection from Client (port
	// 0 when none was given) is followed through sh, dh and mh.
	HasClient bool
	Client    netip.AddrPort
	// Dst is the packets' destination address for a firewall-mark
	// service (what dh hashes); invalid when not given. A VIP service's
	// packets go to its VIP.
	Dst netip.Addr
	// Full asks for the whole hash table and up to maxCacheFull cache
	// entries.
	Full bool
}

// optKey maps an option to what it sets.
var optKey = map[string]string{
	"-t":               "tcp",
	"--tcp-service":    "tcp",
	"-u":               "udp",
	"--udp-service":    "udp",
	"--sctp-service":   "sctp",
	"-f":               "fwmark",
	"--fwmark-service": "fwmark",
	"-6":               "ipv6",
	"--ipv6":           "ipv6",
	"--client":         "client",
	"--dst":            "dst",
	"--destination":    "dst",
	"--full":           "full",
}

// flagOpts take no value.
var flagOpts = map[string]bool{"ipv6": true, "full": true}

// Parse reads a command line (without "sched"). It returns a clear error
// for anything it does not understand.
func Parse(argv []string) (Cmd, error) {
	var c Cmd
	if len(argv) == 0 {
		return c, errors.New("missing operation (show or list)")
	}
	switch argv[0] {
	case "show":
		c.Op = OpShow
	case "list", "ls":
		c.Op = OpList
		if len(argv) > 1 {
			return Cmd{}, fmt.Errorf("%s takes no arguments", argv[0])
		}
		return c, nil
	default:
		return Cmd{}, fmt.Errorf("unknown operation %q (want show or list)", argv[0])
	}
	args := argv[1:]
	seen := map[string]bool{}
	var haveSvc, v6Flag bool
	var svcArg string // the service as given, for messages
	for i := 0; i < len(args); i++ {
		arg := args[i]
		name, val, inline := arg, "", false
		if strings.HasPrefix(arg, "--") {
			name, val, inline = strings.Cut(arg, "=")
		}
		key := optKey[name]
		if !strings.HasPrefix(arg, "-") {
			key, val, inline = "tcp", arg, true // a bare VIP:PORT
		} else if key == "" {
			return Cmd{}, fmt.Errorf("unknown option %q", arg)
		}
		if flagOpts[key] {
			if inline {
				return Cmd{}, fmt.Errorf("option %s takes no value", name)
			}
		} else if !inline {
			if i+1 >= len(args) {
				return Cmd{}, fmt.Errorf("option %s needs a value", name)
			}
			i++
			val = args[i]
		}
		switch key {
		case "tcp", "udp", "sctp", "fwmark":
			if haveSvc {
				return Cmd{}, fmt.Errorf("more than one service given (%s and %s)", svcArg, val)
			}
			haveSvc, svcArg = true, val
		default:
			if seen[key] {
				return Cmd{}, fmt.Errorf("option %s given twice", name)
			}
			seen[key] = true
		}
		switch key {
		case "tcp", "udp", "sctp":
			a, port, _, err := parseAddrPort(val)
			if err != nil {
				return Cmd{}, fmt.Errorf("bad virtual service %q: %v", val, err)
			}
			c.Service = ctl.ServiceID{Proto: map[string]vs.Proto{"tcp": vs.TCP, "udp": vs.UDP, "sctp": vs.SCTP}[key],
				Addr: a, Port: port, IPv6: a.Is6()}
		case "fwmark":
			m, err := parseMark(val)
			if err != nil {
				return Cmd{}, err
			}
			c.Service = ctl.ServiceID{FwMark: m}
		case "ipv6":
			v6Flag = true
		case "client":
			a, port, _, err := parseAddrPort(val)
			if err != nil {
				return Cmd{}, fmt.Errorf("bad client %q: %v", val, err)
			}
			c.HasClient, c.Client = true, netip.AddrPortFrom(a.Unmap(), port)
		case "dst":
			a, err := netip.ParseAddr(val)
			if err != nil || a.Zone() != "" {
				return Cmd{}, fmt.Errorf("bad destination address %q", val)
			}
			c.Dst = a.Unmap()
		case "full":
			c.Full = true
		}
	}
	if !haveSvc {
		return Cmd{}, errors.New("missing service (-t|-u|--sctp-service VIP:PORT, or -f MARK)")
	}
	id := &c.Service
	if id.FwMark != 0 {
		id.IPv6 = v6Flag
	} else {
		if v6Flag && !id.IPv6 {
			return Cmd{}, fmt.Errorf("-6 given with the IPv4 service %s", svcArg)
		}
		if c.Dst.IsValid() {
			return Cmd{}, errors.New("--dst applies to firewall-mark services only (a VIP service's packets go to its VIP)")
		}
	}
	fam := func(v6 bool) string {
		if v6 {
			return "IPv6"
		}
		return "IPv4"
	}
	if c.HasClient && c.Client.Addr().Is6() != id.IPv6 {
		return Cmd{}, fmt.Errorf("client %s is not of the service's family (%s)", c.Client.Addr(), fam(id.IPv6))
	}
	if c.Dst.IsValid() && c.Dst.Is6() != id.IPv6 {
		return Cmd{}, fmt.Errorf("destination %s is not of the service's family (%s)", c.Dst, fam(id.IPv6))
	}
	return c, nil
}

// parseAddrPort reads ADDR, ADDR:PORT (IPv4), [ADDR]:PORT or [ADDR]
// (IPv6), or a bare IPv6 ADDR; the port is 0 when not given.
func parseAddrPort(s string) (netip.Addr, uint16, bool, error) {
	host, port, hasPort := s, "", false
	if strings.HasPrefix(s, "[") {
		end := strings.IndexByte(s, ']')
		if end < 0 {
			return netip.Addr{}, 0, false, errors.New("missing ]")
		}
		host = s[1:end]
		switch rest := s[end+1:]; {
		case rest == "":
		case rest[0] == ':':
			port, hasPort = rest[1:], true
		default:
			return netip.Addr{}, 0, false, fmt.Errorf("unexpected %q after ]", rest)
		}
		if a, err := netip.ParseAddr(host); err != nil || !a.Is6() {
			return netip.Addr{}, 0, false, errors.New("want an IPv6 address in brackets")
		}
	} else if _, err := netip.ParseAddr(s); err != nil {
		// Not an address alone: IPv4 ADDR:PORT.
		i := strings.LastIndexByte(s, ':')
		if i < 0 || strings.Count(s, ":") > 1 {
			return netip.Addr{}, 0, false, errors.New("want ADDR, ADDR:PORT or [IPv6]:PORT")
		}
		host, port, hasPort = s[:i], s[i+1:], true
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}, 0, false, errors.New("want ADDR, ADDR:PORT or [IPv6]:PORT")
	}
	if a.Zone() != "" {
		return netip.Addr{}, 0, false, errors.New("an address with a zone")
	}
	var p uint64
	if hasPort {
		if p, err = strconv.ParseUint(port, 10, 16); err != nil {
			return netip.Addr{}, 0, false, fmt.Errorf("bad port %q (0..65535)", port)
		}
	}
	return a, uint16(p), hasPort, nil
}

// parseMark reads a firewall mark: 1..4294967295, decimal or 0x hex.
func parseMark(s string) (uint32, error) {
	v, err := strconv.ParseUint(s, 10, 32)
	if h, ok := strings.CutPrefix(strings.ToLower(s), "0x"); ok {
		v, err = strconv.ParseUint(h, 16, 32)
	}
	if err != nil || v == 0 {
		return 0, fmt.Errorf("bad firewall mark %q (want 1..4294967295, decimal or 0x hex)", s)
	}
	return uint32(v), nil
}

// Args returns the canonical command line of c, which Parse reads back
// as c.
func (c Cmd) Args() []string {
	if c.Op == OpList {
		return []string{"list"}
	}
	a := []string{"show"}
	id := c.Service
	switch {
	case id.FwMark != 0:
		a = append(a, "-f", strconv.FormatUint(uint64(id.FwMark), 10))
		if id.IPv6 {
			a = append(a, "-6")
		}
	default:
		opt := map[vs.Proto]string{vs.TCP: "-t", vs.UDP: "-u", vs.SCTP: "--sctp-service"}[id.Proto]
		a = append(a, opt, netip.AddrPortFrom(id.Addr, id.Port).String())
	}
	if c.HasClient {
		a = append(a, "--client", c.Client.String())
	}
	if c.Dst.IsValid() {
		a = append(a, "--dst", c.Dst.String())
	}
	if c.Full {
		a = append(a, "--full")
	}
	return a
}
