package realserver

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"strings"
)

// Usage describes `gdirector realserver`.
const Usage = `usage:
  gdirector realserver dr --vip VIP [--vip VIP...] [--dev lo] [--iface IF...] [--state-dir DIR]
  gdirector realserver dr --undo [--state-dir DIR]
        configure this host as an LVS-DR real server: the VIPs on --dev as
        host addresses, arp_ignore=1 and arp_announce=2; --undo reverts
        exactly what was changed (recorded in DIR/dr.json)
  gdirector realserver tun --vip VIP [--vip VIP...] [--iface IF] [--tun NAME]
        [--director CIDR...] [--batch N] [--state-dir DIR]
  gdirector realserver tun --undo [--state-dir DIR]
        decapsulate IPIP / ip6ip6 from an LVS-TUN director in userspace into
        a TUN device until SIGTERM or SIGINT, with the VIPs on lo; --undo
        cleans up after a crash (DIR/tun.json)

VIPs may be repeated or comma-separated. DIR defaults to ` + DefaultStateDir + `.
`

// Command is a parsed `gdirector realserver` command line.
type Command struct {
	Mode string // ModeDR or ModeTun
	Undo bool
	DR   DROptions  // for ModeDR
	Tun  TunOptions // for ModeTun
	// StateDir is the state directory of either mode.
	StateDir string
}

// listFlag collects a repeatable, comma-separable flag.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error {
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			*l = append(*l, s)
		}
	}
	return nil
}

// ParseArgs parses the arguments after "realserver". It prints nothing:
// errors are returned, and -h yields flag.ErrHelp (show Usage).
func ParseArgs(args []string) (*Command, error) {
	if len(args) == 0 {
		return nil, errors.New("missing mode: dr or tun")
	}
	c := &Command{Mode: args[0]}
	if c.Mode != ModeDR && c.Mode != ModeTun {
		if c.Mode == "-h" || c.Mode == "--help" || c.Mode == "help" {
			return nil, flag.ErrHelp
		}
		return nil, fmt.Errorf("unknown mode %q: want dr or tun", c.Mode)
	}
	fs := flag.NewFlagSet("realserver "+c.Mode, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	var vips, ifaces, directors listFlag
	fs.Var(&vips, "vip", "virtual IP (repeatable, comma-separated)")
	fs.StringVar(&c.StateDir, "state-dir", "", "state directory (default "+DefaultStateDir+")")
	fs.BoolVar(&c.Undo, "undo", false, "revert what the last setup changed")
	var dev, iface, tun string
	var batch int
	if c.Mode == ModeDR {
		fs.StringVar(&dev, "dev", "lo", "device that holds the VIPs")
		fs.Var(&ifaces, "iface", "real interface that gets the ARP sysctls (repeatable; default: all up ones with IPv4)")
	} else {
		fs.StringVar(&iface, "iface", "", "accept tunnelled packets only on this interface")
		fs.StringVar(&tun, "tun", DefaultTunName, "TUN device to create")
		fs.Var(&directors, "director", "accepted outer source address or CIDR (repeatable; default any)")
		fs.IntVar(&batch, "batch", defaultBatch, "packets per recvmmsg")
	}
	if err := fs.Parse(args[1:]); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	var addrs []netip.Addr
	for _, v := range vips {
		a, err := ParseVIP(v)
		if err != nil {
			return nil, err
		}
		if !containsAddr(addrs, a) {
			addrs = append(addrs, a)
		}
	}
	switch {
	case c.Undo && len(addrs) > 0:
		return nil, errors.New("--undo takes no --vip: it reverts what the state file records")
	case !c.Undo && len(addrs) == 0:
		return nil, errors.New("at least one --vip is required")
	}
	if c.Mode == ModeDR {
		c.DR = DROptions{VIPs: addrs, Dev: dev, StateDir: c.StateDir}
		if len(ifaces) > 0 {
			c.DR.Ifaces = ifaces
		}
		if !c.Undo {
			if err := (&DROptions{VIPs: addrs, Dev: dev, Ifaces: ifaces}).check(); err != nil {
				return nil, err
			}
		}
		return c, nil
	}
	if batch < 1 || batch > 1024 {
		return nil, fmt.Errorf("--batch %d: want 1..1024", batch)
	}
	var dirs []netip.Prefix
	for _, d := range directors {
		p, err := parsePrefixOrAddr(d)
		if err != nil {
			return nil, err
		}
		dirs = append(dirs, p)
	}
	c.Tun = TunOptions{VIPs: addrs, Iface: iface, TunName: tun, Directors: dirs, StateDir: c.StateDir, BatchSize: batch}
	if !c.Undo {
		names := []string{tun}
		if iface != "" {
			names = append(names, iface)
		}
		if err := (&DROptions{VIPs: addrs, Ifaces: names}).check(); err != nil {
			return nil, err
		}
	}
	return c, nil
}

func containsAddr(list []netip.Addr, a netip.Addr) bool {
	for _, x := range list {
		if x == a {
			return true
		}
	}
	return false
}

// parsePrefixOrAddr accepts "203.0.113.1" or "203.0.113.0/24".
func parsePrefixOrAddr(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("--director %q: %w", s, err)
		}
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("--director %q: %w", s, err)
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}
