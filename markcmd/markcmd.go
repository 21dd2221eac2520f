// Package markcmd is `gdirector mark`: the firewall-mark rules a userspace
// director applies itself where a kernel director relies on iptables MARK
// rules. It parses the command line, applies it to a ctl.Manager and
// prints the answer; the daemon runs it for commands that arrive on the
// control socket.
//
//	gdirector mark add  -d ADDR [-s NET] [-p tcp|udp|sctp] [--dports P[,P|P:Q]...] --set-mark N
//	gdirector mark del  (the same arguments)
//	gdirector mark list
//	gdirector mark flush
//
// The options follow iptables' spelling (-d/--destination, -s/--source,
// -p/--protocol, --dport/--dports as in the multiport match, --set-mark),
// so the classic LVS example translates line by line:
//
//	iptables -t mangle -A PREROUTING -d 192.0.2.10 -p tcp -m multiport --dports 80,443 -j MARK --set-mark 10
//	gdirector mark add -d 192.0.2.10 -p tcp --dports 80,443 --set-mark 10
package markcmd

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
  gdirector mark add -d ADDR [-s NET] [-p tcp|udp|sctp] [--dports P[,P|P:Q]...] --set-mark N
  gdirector mark del -d ADDR [-s NET] [-p tcp|udp|sctp] [--dports P[,P|P:Q]...] --set-mark N
  gdirector mark list
  gdirector mark flush
New connections to ADDR (from NET, of the protocol, to one of the ports)
get firewall mark N, which a service added with "ipvsadm -A -f N" serves.
When several rules match, the last one wins.
`

// maxPorts bounds the port list of one rule.
const maxPorts = 64

// Op is what a command line asks for.
type Op int

// Operations.
const (
	OpAdd Op = iota + 1
	OpDel
	OpList
	OpFlush
)

// Parse reads a command line (without "mark"). It returns a clear error
// for anything it does not understand, and then changes nothing.
func Parse(argv []string) (Op, vs.MarkRule, error) {
	var r vs.MarkRule
	if len(argv) == 0 {
		return 0, r, errors.New("missing operation (add, del, list or flush)")
	}
	var op Op
	switch argv[0] {
	case "add", "-A", "--append":
		op = OpAdd
	case "del", "delete", "-D", "--delete":
		op = OpDel
	case "list", "ls", "-L", "--list", "-S":
		op = OpList
	case "flush", "-F", "--flush":
		op = OpFlush
	default:
		return 0, r, fmt.Errorf("unknown operation %q (want add, del, list or flush)", argv[0])
	}
	args := argv[1:]
	if op == OpList || op == OpFlush {
		if len(args) > 0 {
			return 0, r, fmt.Errorf("%s takes no arguments", argv[0])
		}
		return op, r, nil
	}
	seen := map[string]bool{}
	var haveMark bool
	for i := 0; i < len(args); i++ {
		name, val, inline := strings.Cut(args[i], "=")
		if !inline {
			name = args[i]
		}
		key := map[string]string{
			"-d": "d", "--destination": "d", "--dst": "d",
			"-s": "s", "--source": "s", "--src": "s",
			"-p": "p", "--protocol": "p",
			"--dport": "ports", "--dports": "ports", "--destination-ports": "ports",
			"--set-mark": "mark",
		}[name]
		if key == "" {
			return 0, r, fmt.Errorf("unknown option %q", args[i])
		}
		if seen[key] {
			return 0, r, fmt.Errorf("option %s given twice", name)
		}
		seen[key] = true
		if !inline {
			if i+1 >= len(args) {
				return 0, r, fmt.Errorf("option %s needs a value", name)
			}
			i++
			val = args[i]
		}
		var err error
		switch key {
		case "d":
			r.Dst, err = netip.ParseAddr(val)
			if err != nil || r.Dst.Zone() != "" {
				return 0, r, fmt.Errorf("bad destination address %q", val)
			}
		case "s":
			r.Src, err = parseNet(val)
			if err != nil {
				return 0, r, err
			}
		case "p":
			switch strings.ToLower(val) {
			case "tcp", "6":
				r.Proto = vs.TCP
			case "udp", "17":
				r.Proto = vs.UDP
			case "sctp", "132":
				r.Proto = vs.SCTP
			default:
				return 0, r, fmt.Errorf("bad protocol %q (want tcp, udp or sctp)", val)
			}
		case "ports":
			r.Ports, err = parsePorts(val)
			if err != nil {
				return 0, r, err
			}
		case "mark":
			m, err := strconv.ParseUint(val, 0, 32)
			if err != nil || m == 0 {
				return 0, r, fmt.Errorf("bad mark %q (want 1..4294967295, decimal or 0x hex)", val)
			}
			r.Mark, haveMark = uint32(m), true
		}
	}
	switch {
	case !r.Dst.IsValid():
		return 0, r, errors.New("missing destination (-d ADDR)")
	case !haveMark:
		return 0, r, errors.New("missing mark (--set-mark N)")
	case len(r.Ports) > 0 && r.Proto == 0:
		return 0, r, errors.New("--dports needs a protocol (-p tcp, udp or sctp)")
	case r.Src.IsValid() && r.Src.Addr().Is4() != r.Dst.Unmap().Is4():
		return 0, r, errors.New("source and destination are of different address families")
	}
	return op, r, nil
}

// parseNet reads ADDR or ADDR/BITS.
func parseNet(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil || p.Addr().Zone() != "" {
			return netip.Prefix{}, fmt.Errorf("bad source network %q", s)
		}
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil || a.Zone() != "" {
		return netip.Prefix{}, fmt.Errorf("bad source address %q", s)
	}
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// parsePorts reads a multiport list: P or P:Q entries separated by commas.
func parsePorts(s string) ([]vs.PortRange, error) {
	parts := strings.Split(s, ",")
	if len(parts) > maxPorts {
		return nil, fmt.Errorf("too many ports (at most %d entries)", maxPorts)
	}
	out := make([]vs.PortRange, 0, len(parts))
	for _, part := range parts {
		lo, hi, isRange := strings.Cut(part, ":")
		l, err := strconv.ParseUint(lo, 10, 16)
		if err != nil || l == 0 {
			return nil, fmt.Errorf("bad port %q in %q (1..65535)", lo, s)
		}
		h := l
		if isRange {
			if h, err = strconv.ParseUint(hi, 10, 16); err != nil || h < l {
				return nil, fmt.Errorf("bad port range %q in %q", part, s)
			}
		}
		out = append(out, vs.PortRange{Lo: uint16(l), Hi: uint16(h)})
	}
	return out, nil
}

// Run executes a command line against m, as the control socket does: the
// output, error text and exit code (0, 1 for a refused change, 2 for a bad
// command line).
func Run(m *ctl.Manager, argv []string) (stdout, stderr string, code int) {
	op, r, err := Parse(argv)
	if err != nil {
		return "", "gdirector mark: " + err.Error() + "\n" + Usage, 2
	}
	switch op {
	case OpAdd:
		err = m.AddMark(r)
	case OpDel:
		err = m.DelMark(r)
	case OpFlush:
		m.FlushMarks()
	case OpList:
		var b strings.Builder
		for _, r := range m.Marks() {
			fmt.Fprintf(&b, "mark add %s\n", r.String())
		}
		return b.String(), "", 0
	}
	if err != nil {
		return "", "gdirector mark: " + err.Error() + "\n", 1
	}
	return "", "", 0
}
