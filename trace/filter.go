package trace

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/gdirector/gdirector/vs"
)

// Filter selects packets by their connection's client, VIP, service port
// and protocol; a zero field matches anything. A packet without a
// connection (dropped before one existed) is matched by its source,
// destination, destination port and protocol, as a client's packet to
// the VIP; one that could not even be decoded matches only a filter
// that selects nothing in particular.
//
// Sample and SampleGap thin the trace out instead of selecting: each
// worker fills an event for only one packet in Sample it handles
// (counted per worker, decided before the event is filled, so a sampled
// trace costs the data plane about 1/Sample of a full one), and the
// filter then looks at those. SampleGap also takes a worker's next packet
// when it took none for that long (by the data plane's clock): a quiet
// director's few packets all show, a busy one's are thinned.
type Filter struct {
	Client netip.Prefix // the client's address or network
	VIP    netip.Addr
	Port   uint16 // the service (virtual) port
	Proto  vs.Proto
	// Sample: one packet in Sample per worker; 0 and 1 take every one.
	Sample int
	// SampleGap: with Sample, also take a packet after this long without
	// one; 0: never. Not carried by Args (in-process subscribers only).
	SampleGap time.Duration
}

// Match reports whether t passes the filter. It allocates nothing.
func (f *Filter) Match(t *Tuple) bool {
	if f.Proto != 0 && t.Proto != f.Proto {
		return false
	}
	if f.Client.IsValid() && (!t.Known || !f.Client.Contains(vs.AddrFrom16(t.Client))) {
		return false
	}
	if f.VIP.IsValid() && (!t.Known || vs.AddrFrom16(t.VIP) != f.VIP) {
		return false
	}
	if f.Port != 0 && (!t.Known || t.Port != f.Port) {
		return false
	}
	return true
}

// IsZero reports whether the filter selects every packet, unsampled.
func (f *Filter) IsZero() bool { return *f == Filter{} }

// SelectsAll reports whether the filter's Match passes every packet (it
// may still sample them).
func (f *Filter) SelectsAll() bool {
	return !f.Client.IsValid() && !f.VIP.IsValid() && f.Port == 0 && f.Proto == 0
}

// every is the filter's sampling period: 1 for every packet.
func (f *Filter) every() int { return max(f.Sample, 1) }

// Args returns the filter as gdirector trace arguments.
func (f *Filter) Args() []string {
	var a []string
	if f.Client.IsValid() {
		if f.Client.IsSingleIP() {
			a = append(a, "--client", f.Client.Addr().String())
		} else {
			a = append(a, "--client", f.Client.String())
		}
	}
	if f.VIP.IsValid() {
		a = append(a, "--vip", f.VIP.String())
	}
	if f.Port != 0 {
		a = append(a, "--port", strconv.Itoa(int(f.Port)))
	}
	if f.Proto != 0 {
		a = append(a, "--proto", strings.ToLower(f.Proto.String()))
	}
	if f.Sample > 1 {
		a = append(a, "--sample", strconv.Itoa(f.Sample))
	}
	return a
}

// Options are the arguments of gdirector trace.
type Options struct {
	Filter   Filter
	Count    int           // stop after this many events; 0: no limit
	Duration time.Duration // stop after this long; 0: no limit
	JSON     bool          // one JSON object per event instead of text
	Pcap     string        // also write the frames to this pcap file
	Socket   string        // the daemon's control socket ("" = the default)
}

// Usage is the synopsis of gdirector trace.
const Usage = "usage: gdirector trace [--socket PATH] [--client ADDR|PREFIX] [--vip ADDR] [--port N] [--proto tcp|udp|sctp] [--sample N] [--count N] [--duration D] [--json] [--pcap FILE]"

// ErrUsage is wrapped by every error ParseArgs returns.
var ErrUsage = errors.New("bad trace arguments")

// MaxCount bounds --count.
const MaxCount = 1 << 30

// MaxSample bounds --sample.
const MaxSample = 1 << 24

// ParseArgs reads gdirector trace's arguments (without the command name).
// Each flag takes its value as the next argument or after '='; a flag
// given twice, an unknown flag, a stray argument or a bad value is an
// error wrapping ErrUsage that names it.
func ParseArgs(argv []string) (Options, error) {
	var o Options
	seen := map[string]bool{}
	for i := 0; i < len(argv); i++ {
		arg := argv[i]
		if !strings.HasPrefix(arg, "--") && !(strings.HasPrefix(arg, "-") && len(arg) > 1) {
			return Options{}, usageErr("unexpected argument %q", arg)
		}
		name, val, hasVal := strings.Cut(strings.TrimLeft(arg, "-"), "=")
		if name == "ctl" {
			name = "socket"
		}
		switch name {
		case "json":
			if hasVal {
				return Options{}, usageErr("--json takes no value")
			}
		case "socket", "client", "vip", "port", "proto", "sample", "count", "duration", "pcap":
			if !hasVal {
				if i+1 == len(argv) {
					return Options{}, usageErr("--%s needs a value", name)
				}
				i++
				val = argv[i]
			}
		default:
			return Options{}, usageErr("unknown flag %q", arg)
		}
		if seen[name] {
			return Options{}, usageErr("--%s given twice", name)
		}
		seen[name] = true
		if err := o.set(name, val); err != nil {
			return Options{}, err
		}
	}
	return o, nil
}

func usageErr(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrUsage, fmt.Sprintf(format, args...))
}

func (o *Options) set(name, val string) error {
	switch name {
	case "json":
		o.JSON = true
	case "socket":
		if val == "" {
			return usageErr("--socket: empty path")
		}
		o.Socket = val
	case "pcap":
		if val == "" {
			return usageErr("--pcap: empty file name")
		}
		o.Pcap = val
	case "client":
		p, err := ParseClient(val)
		if err != nil {
			return usageErr("--client %q: %v", val, err)
		}
		o.Filter.Client = p
	case "vip":
		a, err := netip.ParseAddr(val)
		if err != nil || a.Zone() != "" {
			return usageErr("--vip %q: not an IP address", val)
		}
		o.Filter.VIP = a.Unmap()
	case "port":
		n, err := strconv.ParseUint(val, 10, 16)
		if err != nil || n == 0 {
			return usageErr("--port %q: want 1..65535", val)
		}
		o.Filter.Port = uint16(n)
	case "proto":
		switch strings.ToLower(val) {
		case "tcp":
			o.Filter.Proto = vs.TCP
		case "udp":
			o.Filter.Proto = vs.UDP
		case "sctp":
			o.Filter.Proto = vs.SCTP
		default:
			return usageErr("--proto %q: want tcp, udp or sctp", val)
		}
	case "sample":
		n, err := strconv.Atoi(val)
		if err != nil || n < 1 || n > MaxSample {
			return usageErr("--sample %q: want 1..%d (1 in N packets per worker)", val, MaxSample)
		}
		if n > 1 { // 1: every packet, the zero value
			o.Filter.Sample = n
		}
	case "count":
		n, err := strconv.Atoi(val)
		if err != nil || n < 1 || n > MaxCount {
			return usageErr("--count %q: want 1..%d", val, MaxCount)
		}
		o.Count = n
	case "duration":
		d, err := time.ParseDuration(val)
		if err != nil || d <= 0 {
			return usageErr("--duration %q: want a positive duration such as 10s or 2m", val)
		}
		o.Duration = d
	}
	return nil
}

// ParseClient reads a client address (a single host) or a network in CIDR
// notation; IPv4-mapped IPv6 addresses are taken as IPv4, and a network's
// host bits are cleared.
func ParseClient(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, errors.New("not an address or CIDR network")
		}
		a, bits := p.Addr(), p.Bits()
		if a.Is4In6() {
			if bits < 96 {
				return netip.Prefix{}, errors.New("IPv4-mapped prefix shorter than /96")
			}
			a, bits = a.Unmap(), bits-96
		}
		return netip.PrefixFrom(a, bits).Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil || a.Zone() != "" {
		return netip.Prefix{}, errors.New("not an address or CIDR network")
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// ServerArgs returns what the daemon needs of the options: the filter,
// --count and --duration (the output format and the pcap file are the
// client's business).
func (o *Options) ServerArgs() []string {
	a := o.Filter.Args()
	if o.Count > 0 {
		a = append(a, "--count", strconv.Itoa(o.Count))
	}
	if o.Duration > 0 {
		a = append(a, "--duration", o.Duration.String())
	}
	if a == nil {
		a = []string{}
	}
	return a
}
