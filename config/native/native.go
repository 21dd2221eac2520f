package native

import (
	"fmt"
	"math"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gdirector/gdirector/config"
	"github.com/gdirector/gdirector/ctl"
	"github.com/gdirector/gdirector/sched"
	"github.com/gdirector/gdirector/vs"
	"go.yaml.in/yaml/v3"
)

// Defaults of the format (docs/config.md).
const (
	DefaultWeight = 1
	DefaultQuorum = 1
	// MaxWeight is ipvsadm's largest weight.
	MaxWeight = 65535
	// maxPersist is ipvsadm's largest persistence timeout (31 days).
	maxPersist = 86400 * 31
)

// Keys of each section, in the order docs/config.md lists them.
var (
	topKeys     = []string{"timeouts", "marks", "services", extensionKeys}
	timeoutKeys = []string{"tcp", "tcp_fin", "udp"}
	markKeys    = []string{"dst", "src", "proto", "ports", "mark"}
	serviceKeys = []string{"name", "proto", "vip", "port", "fwmark", "family",
		"scheduler", "scheduler_flags", "persistent", "netmask", "pe", "one_packet",
		"laddrs", "method", "inhibit", "checks", "real_servers",
		"sorry_server", "sorry_inhibit", "quorum", "hysteresis", "quorum_up", "quorum_down",
		"alpha", "omega"}
	destKeys  = []string{"address", "port", "method", "weight", "upper_threshold", "lower_threshold", "inhibit", "notify_up", "notify_down", "checks"}
	sorryKeys = []string{"address", "port", "method", "weight"}
	laddrKeys = []string{"address", "iface"}
)

// Parse reads a native configuration. path names the file in errors ("" =
// none); every error names the line.
func Parse(path string, data []byte) (cfg *config.Config, err error) {
	// go-yaml is third-party code fed with outside input: a panic in it
	// is a refused file, not a dead daemon.
	defer func() {
		if r := recover(); r != nil {
			cfg, err = nil, config.Errorf(path, 0, "YAML: internal error: %v", r)
		}
	}()
	p := &parser{path: path, budget: maxNodes}
	root, err := p.decode(data)
	if err != nil {
		return nil, err
	}
	if isNull(root) {
		return nil, p.errf(root.Line, "empty configuration: a native configuration has a top-level services: key")
	}
	top, err := p.mapping(root, "the configuration", topKeys)
	if err != nil {
		return nil, err
	}
	if !top.has("services") {
		return nil, p.errf(root.Line, "no services: key (an empty list, services: [], is a configuration without services)")
	}
	cfg = &config.Config{Path: path, Format: config.FormatNative}
	if top.has("timeouts") {
		if cfg.Timeouts, err = p.timeouts(top.vals["timeouts"]); err != nil {
			return nil, err
		}
	}
	marks, err := top.list("marks")
	if err != nil {
		return nil, err
	}
	for _, n := range marks {
		r, err := p.mark(n)
		if err != nil {
			return nil, err
		}
		cfg.Marks = append(cfg.Marks, r)
	}
	svcs, err := top.list("services")
	if err != nil {
		return nil, err
	}
	seen := map[vs.ServiceKey]int{}
	for _, n := range svcs {
		s, err := p.service(n)
		if err != nil {
			return nil, err
		}
		if first, dup := seen[s.Key()]; dup {
			return nil, p.errf(s.Line, "service %s repeated (first at line %d)", s.Name, first)
		}
		seen[s.Key()] = s.Line
		cfg.Services = append(cfg.Services, s)
	}
	return cfg, nil
}

func (p *parser) timeouts(n *yaml.Node) (*config.Timeouts, error) {
	m, err := p.mapping(n, "timeouts", timeoutKeys)
	if err != nil {
		return nil, err
	}
	var t config.Timeouts
	for _, f := range []struct {
		key string
		dst *int64
	}{{"tcp", new(int64)}, {"tcp_fin", new(int64)}, {"udp", new(int64)}} {
		if err := m.seconds(f.key, ctl.MaxTimeout, f.dst); err != nil {
			return nil, err
		}
		d := seconds(*f.dst)
		switch f.key {
		case "tcp":
			t.TCP = d
		case "tcp_fin":
			t.TCPFin = d
		case "udp":
			t.UDP = d
		}
	}
	return &t, nil
}

// proto reads tcp, udp or sctp.
func (m *mapping) proto(key string, dst *vs.Proto) error {
	var w string
	if err := m.word(key, &w, "tcp", "udp", "sctp"); err != nil || w == "" {
		return err
	}
	*dst = map[string]vs.Proto{"tcp": vs.TCP, "udp": vs.UDP, "sctp": vs.SCTP}[w]
	return nil
}

func (p *parser) mark(n *yaml.Node) (vs.MarkRule, error) {
	var r vs.MarkRule
	m, err := p.mapping(n, "mark rule", markKeys)
	if err != nil {
		return r, err
	}
	if !m.has("dst") || !m.has("mark") {
		return r, p.errf(m.node.Line, "a mark rule needs dst: (the VIP) and mark:")
	}
	if err := m.addr("dst", &r.Dst); err != nil {
		return r, err
	}
	if v, ok, err := m.scalar("src"); err != nil {
		return r, err
	} else if ok {
		if r.Src, err = parsePrefix(v.Value); err != nil || r.Src.Addr().Is6() != r.Dst.Is6() {
			return r, p.errf(v.Line, "src: want an address or network (198.51.100.0/24) of the family of dst, got %q", v.Value)
		}
	}
	if err := m.proto("proto", &r.Proto); err != nil {
		return r, err
	}
	if m.has("ports") {
		if r.Ports, err = p.ports(m.vals["ports"]); err != nil {
			return r, err
		}
	}
	var mark int64
	if err := m.integer("mark", 1, math.MaxUint32, &mark); err != nil {
		return r, err
	}
	r.Mark = uint32(mark)
	return r, nil
}

// parsePrefix reads a network, or an address as a one-address network.
func parsePrefix(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		pf, err := netip.ParsePrefix(s)
		if err != nil {
			return pf, err
		}
		return netip.PrefixFrom(pf.Addr().Unmap(), pf.Bits()).Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil || a.Zone() != "" {
		return netip.Prefix{}, fmt.Errorf("bad address")
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// ports reads a list of ports and ranges ("8000:8080" or "8000-8080"),
// or one such item, or a comma-separated string of them.
func (p *parser) ports(n *yaml.Node) ([]vs.PortRange, error) {
	n, err := p.resolve(n)
	if err != nil {
		return nil, err
	}
	items := []*yaml.Node{n}
	if n.Kind == yaml.SequenceNode {
		items = n.Content
	}
	var out []vs.PortRange
	for _, it := range items {
		it, err := p.resolve(it)
		if err != nil {
			return nil, err
		}
		if it.Kind != yaml.ScalarNode || isNull(it) {
			return nil, p.errf(it.Line, "ports: want ports and ranges (80, \"8000:8080\"), got %s", describe(it))
		}
		for _, s := range strings.Split(it.Value, ",") {
			r, ok := parsePortRange(strings.TrimSpace(s))
			if !ok {
				return nil, p.errf(it.Line, "ports: want a port 1..65535 or a range LO:HI, got %q", s)
			}
			out = append(out, r)
		}
	}
	return out, nil
}

func parsePortRange(s string) (vs.PortRange, bool) {
	lo, hi, isRange := strings.Cut(s, ":")
	if !isRange {
		lo, hi, isRange = strings.Cut(s, "-")
	}
	a, err := strconv.ParseUint(lo, 10, 16)
	if err != nil || a == 0 {
		return vs.PortRange{}, false
	}
	b := a
	if isRange {
		if b, err = strconv.ParseUint(hi, 10, 16); err != nil || b < a {
			return vs.PortRange{}, false
		}
	}
	return vs.PortRange{Lo: uint16(a), Hi: uint16(b)}, true
}

// methods are the forwarding methods by the names the format accepts.
var methods = map[string]vs.FwdMethod{
	"nat": vs.Masq, "masq": vs.Masq,
	"dr": vs.DirectRoute, "route": vs.DirectRoute, "gate": vs.DirectRoute,
	"tun": vs.Tunnel, "ipip": vs.Tunnel,
	"fullnat": vs.FullNAT,
}

var methodNames = []string{"nat", "masq", "dr", "route", "gate", "tun", "ipip", "fullnat"}

// method reads a forwarding method; ok reports whether the key is there.
func (m *mapping) method(key string) (f vs.FwdMethod, ok bool, err error) {
	var w string
	if err := m.word(key, &w, methodNames...); err != nil || w == "" {
		return 0, false, err
	}
	return methods[w], true, nil
}

func (p *parser) service(n *yaml.Node) (config.Service, error) {
	var s config.Service
	m, err := p.mapping(n, "service", serviceKeys)
	if err != nil {
		return s, err
	}
	s.Line = m.node.Line
	id := &s.ServiceID

	// What the service is: proto + vip + port, or fwmark (+ family).
	switch {
	case m.has("fwmark") && (m.has("vip") || m.has("port") || m.has("proto")):
		k := "vip"
		if !m.has(k) {
			k = "port"
			if !m.has(k) {
				k = "proto"
			}
		}
		return s, p.errf(m.line(k), "%s: a service is either fwmark: or proto:/vip:/port:, not both", k)
	case m.has("fwmark"):
		var mark int64
		if err := m.integer("fwmark", 1, math.MaxUint32, &mark); err != nil {
			return s, err
		}
		id.FwMark = uint32(mark)
		var fam string
		if err := m.word("family", &fam, "ipv4", "ipv6"); err != nil {
			return s, err
		}
		id.IPv6 = fam == "ipv6"
		s.Name = fmt.Sprintf("fwmark %d", id.FwMark)
		if id.IPv6 {
			s.Name += " ipv6"
		}
	case m.has("vip"):
		if m.has("family") {
			return s, p.errf(m.line("family"), "family: only a fwmark service takes it (the VIP's address says the family)")
		}
		if !m.has("port") {
			return s, p.errf(m.line("vip"), "vip: a service needs port: too (0 = every port, persistent services only)")
		}
		if err := m.addr("vip", &id.Addr); err != nil {
			return s, err
		}
		id.Proto = vs.TCP
		if err := m.proto("proto", &id.Proto); err != nil {
			return s, err
		}
		var port int64
		if err := m.integer("port", 0, math.MaxUint16, &port); err != nil {
			return s, err
		}
		id.Port = uint16(port)
		s.Name = strings.ToLower(id.Proto.String()) + "/" + netip.AddrPortFrom(id.Addr, id.Port).String()
	default:
		return s, p.errf(s.Line, "a service needs vip: and port: (with proto:, default tcp), or fwmark:")
	}
	if err := m.str("name", &s.Name); err != nil {
		return s, err
	}
	ipv6 := id.IPv6 || id.Addr.Is6()

	// Scheduling and persistence.
	s.Scheduler = ctl.DefaultScheduler
	if v, ok, err := m.scalar("scheduler"); err != nil {
		return s, err
	} else if ok {
		if !slices.Contains(sched.Names(), v.Value) {
			return s, p.errf(v.Line, "scheduler: unknown scheduler %q (one of %s)", v.Value, strings.Join(sched.Names(), ", "))
		}
		s.Scheduler = v.Value
	}
	if m.has("scheduler_flags") {
		if err := p.schedFlags(m, &s); err != nil {
			return s, err
		}
	}
	if v, ok, err := m.scalar("persistent"); err != nil {
		return s, err
	} else if ok {
		if b, isBool := parseBool(v.Value); isBool {
			if b {
				s.Flags |= vs.SvcPersistent
				s.Timeout = ctl.DefaultPersistTimeout
			}
		} else {
			var sec int64
			if err := m.seconds("persistent", maxPersist, &sec); err != nil || sec == 0 {
				return s, p.errf(v.Line, "persistent: want true, false or a timeout 1s..744h in whole seconds, got %q", v.Value)
			}
			s.Flags |= vs.SvcPersistent
			s.Timeout = uint32(sec)
		}
	}
	s.Netmask = 0xffffffff
	if ipv6 {
		s.Netmask = 128
	}
	if v, ok, err := m.scalar("netmask"); err != nil {
		return s, err
	} else if ok {
		mask, good := parseNetmask(v.Value, ipv6)
		if !good {
			if ipv6 {
				return s, p.errf(v.Line, "netmask: want a prefix length 1..128 for an IPv6 service, got %q", v.Value)
			}
			return s, p.errf(v.Line, "netmask: want a mask (255.255.255.0) or a prefix length 0..32, got %q", v.Value)
		}
		s.Netmask = mask
	}
	if id.FwMark == 0 && id.Port == 0 && s.Flags&vs.SvcPersistent == 0 {
		return s, p.errf(m.line("port"), "port: 0 (every port) is for persistent services only (as ipvsadm's \"Zero port specified for non-persistent service\")")
	}
	if err := m.str("pe", &s.PE); err != nil {
		return s, err
	}
	var onePacket bool
	if err := m.boolean("one_packet", &onePacket); err != nil {
		return s, err
	}
	if onePacket {
		s.Flags |= vs.SvcOnePacket
	}

	// FullNAT local addresses.
	las, err := m.list("laddrs")
	if err != nil {
		return s, err
	}
	for _, n := range las {
		la, err := p.laddr(n)
		if err != nil {
			return s, err
		}
		s.LAddrs = append(s.LAddrs, la)
	}

	// Defaults of the real servers.
	def := destDefaults{port: id.Port, weight: DefaultWeight}
	if def.method, def.hasMethod, err = m.method("method"); err != nil {
		return s, err
	}
	if err := m.boolean("inhibit", &def.inhibit); err != nil {
		return s, err
	}
	if m.has("checks") {
		def.hasChecks = true
		if def.checks, err = p.checks(m, "checks"); err != nil {
			return s, err
		}
	}

	dests, err := m.list("real_servers")
	if err != nil {
		return s, err
	}
	seen := map[netip.AddrPort]int{}
	for _, n := range dests {
		d, err := p.dest(n, def)
		if err != nil {
			return s, err
		}
		ap := netip.AddrPortFrom(d.Addr, d.Port)
		if first, dup := seen[ap]; dup {
			return s, p.errf(d.Line, "real server %s repeated (first at line %d)", ap, first)
		}
		seen[ap] = d.Line
		s.Dests = append(s.Dests, d)
	}

	// Reactions.
	if m.has("sorry_server") {
		sorry, err := p.sorry(m.vals["sorry_server"], def)
		if err != nil {
			return s, err
		}
		s.Sorry = &sorry
	}
	if err := m.boolean("sorry_inhibit", &s.SorryInhibit); err != nil {
		return s, err
	}
	s.Quorum = DefaultQuorum
	if err := m.intField("quorum", 0, math.MaxInt32, &s.Quorum); err != nil {
		return s, err
	}
	if err := m.intField("hysteresis", 0, math.MaxInt32, &s.Hysteresis); err != nil {
		return s, err
	}
	for _, f := range []struct {
		key string
		dst *string
	}{{"quorum_up", &s.QuorumUp}, {"quorum_down", &s.QuorumDown}} {
		if err := m.str(f.key, f.dst); err != nil {
			return s, err
		}
	}
	if err := m.boolean("alpha", &s.Alpha); err != nil {
		return s, err
	}
	if err := m.boolean("omega", &s.Omega); err != nil {
		return s, err
	}
	return s, nil
}

// schedFlags reads scheduler_flags: a list of names, or one string of
// comma-separated names.
func (p *parser) schedFlags(m *mapping, s *config.Service) error {
	n, err := p.resolve(m.vals["scheduler_flags"])
	if err != nil {
		return err
	}
	items := []*yaml.Node{n}
	if n.Kind == yaml.SequenceNode {
		items = n.Content
	}
	for _, it := range items {
		it, err := p.resolve(it)
		if err != nil {
			return err
		}
		if it.Kind != yaml.ScalarNode || isNull(it) {
			return p.errf(it.Line, "scheduler_flags: want flag names (sh-fallback, sh-port, mh-fallback, mh-port, flag-1..3), got %s", describe(it))
		}
		for _, w := range strings.Split(it.Value, ",") {
			w = strings.TrimSpace(w)
			flag, sched, ok := vs.SchedFlagByName(w)
			if !ok {
				return p.errf(it.Line, "scheduler_flags: unknown flag %q (sh-fallback, sh-port, mh-fallback, mh-port, flag-1, flag-2, flag-3)", w)
			}
			if sched != "" && sched != s.Scheduler {
				return p.errf(it.Line, "scheduler_flags: %s needs scheduler %s, not %s", w, sched, s.Scheduler)
			}
			s.Flags |= flag
		}
	}
	return nil
}

// parseNetmask reads a persistence netmask: for IPv4 a dotted mask or a
// prefix length, for IPv6 a prefix length 1..128.
func parseNetmask(v string, ipv6 bool) (uint32, bool) {
	if n, err := strconv.ParseUint(strings.TrimPrefix(v, "/"), 10, 8); err == nil {
		if ipv6 {
			return uint32(n), n >= 1 && n <= 128
		}
		if n > 32 {
			return 0, false
		}
		return uint32(uint64(0xffffffff) << (32 - n)), true
	}
	if ipv6 {
		return 0, false
	}
	a, err := netip.ParseAddr(v)
	if err != nil || !a.Is4() {
		return 0, false
	}
	b := a.As4()
	mask := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
	// A mask is ones then zeros.
	if inv := ^mask; inv&(inv+1) != 0 {
		return 0, false
	}
	return mask, true
}

func (p *parser) laddr(n *yaml.Node) (config.LocalAddr, error) {
	var la config.LocalAddr
	n, err := p.resolve(n)
	if err != nil {
		return la, err
	}
	if n.Kind == yaml.ScalarNode && !isNull(n) {
		a, err := netip.ParseAddr(n.Value)
		if err != nil || a.Zone() != "" {
			return la, p.errf(n.Line, "laddrs: want an address, or address: and iface:, got %q", n.Value)
		}
		la.Addr = a.Unmap()
		return la, nil
	}
	m, err := p.mapping(n, "local address", laddrKeys)
	if err != nil {
		return la, err
	}
	if !m.has("address") {
		return la, p.errf(m.node.Line, "a local address needs address:")
	}
	if err := m.addr("address", &la.Addr); err != nil {
		return la, err
	}
	if err := m.str("iface", &la.Iface); err != nil {
		return la, err
	}
	return la, nil
}

// destDefaults are what a service gives its real servers.
type destDefaults struct {
	port      uint16
	method    vs.FwdMethod
	hasMethod bool
	weight    int32
	inhibit   bool
	checks    []config.Check
	hasChecks bool
}

// destConfig reads the ipvsadm settings shared by real and sorry servers.
func (p *parser) destConfig(m *mapping, def destDefaults, what string) (ctl.DestConfig, error) {
	c := ctl.DestConfig{Port: def.port, Fwd: def.method, Weight: def.weight}
	if !m.has("address") {
		return c, p.errf(m.node.Line, "a %s needs address:", what)
	}
	if err := m.addr("address", &c.Addr); err != nil {
		return c, err
	}
	var port int64 = int64(c.Port)
	if err := m.integer("port", 0, math.MaxUint16, &port); err != nil {
		return c, err
	}
	c.Port = uint16(port)
	f, ok, err := m.method("method")
	if err != nil {
		return c, err
	}
	if ok {
		c.Fwd = f
	} else if !def.hasMethod {
		return c, p.errf(m.node.Line, "%s %s has no forwarding method: set method: (nat, dr, tun or fullnat) on it or on its service", what, c.Addr)
	}
	var w int64 = int64(c.Weight)
	if err := m.integer("weight", 0, MaxWeight, &w); err != nil {
		return c, err
	}
	c.Weight = int32(w)
	return c, nil
}

func (p *parser) dest(n *yaml.Node, def destDefaults) (config.Dest, error) {
	var d config.Dest
	m, err := p.mapping(n, "real server", destKeys)
	if err != nil {
		return d, err
	}
	d.Line = m.node.Line
	if d.DestConfig, err = p.destConfig(m, def, "real server"); err != nil {
		return d, err
	}
	for _, f := range []struct {
		key string
		dst *uint32
	}{{"upper_threshold", &d.UThreshold}, {"lower_threshold", &d.LThreshold}} {
		var v int64
		if err := m.integer(f.key, 0, math.MaxInt32, &v); err != nil {
			return d, err
		}
		*f.dst = uint32(v)
	}
	d.Inhibit = def.inhibit
	if err := m.boolean("inhibit", &d.Inhibit); err != nil {
		return d, err
	}
	if err := m.str("notify_up", &d.NotifyUp); err != nil {
		return d, err
	}
	if err := m.str("notify_down", &d.NotifyDown); err != nil {
		return d, err
	}
	if m.has("checks") {
		if d.Checks, err = p.checks(m, "checks"); err != nil {
			return d, err
		}
	} else if def.hasChecks {
		d.Checks = slices.Clone(def.checks)
		for i := range d.Checks {
			d.Checks[i].URLs = slices.Clone(d.Checks[i].URLs)
		}
	}
	return d, nil
}

// sorry reads sorry_server: a mapping, or ADDR / ADDR:PORT.
func (p *parser) sorry(n *yaml.Node, def destDefaults) (config.Dest, error) {
	var d config.Dest
	n, err := p.resolve(n)
	if err != nil {
		return d, err
	}
	d.Line = n.Line
	if n.Kind == yaml.ScalarNode && !isNull(n) {
		d.DestConfig = ctl.DestConfig{Port: def.port, Fwd: def.method, Weight: def.weight}
		if ap, err := netip.ParseAddrPort(n.Value); err == nil && ap.Addr().Zone() == "" {
			d.Addr, d.Port = ap.Addr().Unmap(), ap.Port()
		} else if a, err := netip.ParseAddr(n.Value); err == nil && a.Zone() == "" {
			d.Addr = a.Unmap()
		} else {
			return d, p.errf(n.Line, "sorry_server: want ADDRESS, ADDRESS:PORT ([IPv6]:PORT) or a mapping, got %q", n.Value)
		}
		if !def.hasMethod {
			return d, p.errf(n.Line, "sorry_server: no forwarding method: set method: on the service, or write the sorry server as a mapping with method:")
		}
		return d, nil
	}
	m, err := p.mapping(n, "sorry server", sorryKeys)
	if err != nil {
		return d, err
	}
	d.DestConfig, err = p.destConfig(m, def, "sorry server")
	return d, err
}

// seconds converts whole seconds to a duration.
func seconds(s int64) time.Duration { return time.Duration(s) * time.Second }
