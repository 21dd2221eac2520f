package ldirectord

import (
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gdirector/gdirector/config"
	"github.com/gdirector/gdirector/ctl"
	"github.com/gdirector/gdirector/vs"
)

// ldirectord's defaults (set_defaults, read_config).
const (
	defaultCheckTimeout     = 5
	defaultNegotiateTimeout = 30
	defaultCheckInterval    = 10
	defaultScheduler        = "wrr"
	defaultCheckCommand     = "/bin/true"

	maxCombined = 366 * 86400 // seconds between the negotiate checks of checktype=N
)

// knownServices are the values ldirectord accepts for service=;
// serviceList is the same in its order, for messages.
var (
	serviceList = []string{"dns", "ftp", "http", "https", "http_proxy", "imap", "imaps",
		"ldap", "ldaps", "mysql", "nntp", "none", "oracle", "pop", "pops", "radius",
		"pgsql", "simpletcp", "sip", "smtp", "submission"}
	knownServices = func() map[string]bool {
		m := map[string]bool{}
		for _, s := range serviceList {
			m[s] = true
		}
		return m
	}()
)

// wellKnown is ldirectord's ld_port_to_service and ld_service_to_port.
var wellKnown = map[string]uint16{
	"ftp": 21, "smtp": 25, "dns": 53, "http": 80, "pop": 110, "nntp": 119,
	"imap": 143, "ldap": 389, "https": 443, "submission": 587, "ldaps": 636,
	"imaps": 993, "pops": 995, "oracle": 1521, "radius": 1812,
	"http_proxy": 3128, "mysql": 3306, "sip": 5060, "pgsql": 5432,
}

func serviceOfPort(port uint16) string {
	for s, p := range wellKnown {
		if p == port {
			return s
		}
	}
	return "none"
}

// negotiable are the services whose negotiate check gdirector has.
var negotiable = map[string]bool{
	"http": true, "https": true, "smtp": true, "submission": true, "dns": true, "none": true,
}

// build resolves the sections, with the globals, into a Config.
func (p *parser) build() (*config.Config, error) {
	c := &config.Config{Path: p.path, Format: config.FormatLdirectord, AutoReload: p.g.autoReload}
	seen := map[vs.ServiceKey]int{}
	for _, v := range p.virtuals {
		s, err := p.service(v)
		if err != nil {
			return nil, err
		}
		k := s.Key()
		if l, dup := seen[k]; dup {
			return nil, p.errorf(v.line, "duplicate virtual service %s (also at line %d)", v.name, l)
		}
		seen[k] = v.line
		c.Services = append(c.Services, *s)
	}
	c.Warnings = p.warnings
	// What the daemon would still refuse (the Manager's own rules) is
	// refused here, naming the line of the service or real server.
	if err := config.Validate(c, nil); err != nil {
		return nil, err
	}
	return c, nil
}

// env is a virtual section with every default resolved.
type env struct {
	v            *virtual
	proto        string // tcp, udp, fwm
	service      string
	checkType    string // connect, negotiate, ping, external, external-perl, on, off, combined
	checkLine    int
	connectTO    time.Duration // checktimeout as ld_setup computes it
	negotiateTO  time.Duration // negotiatetimeout, likewise
	interval     time.Duration
	failureCount int
	checkCount   int
}

// first returns the first setting that is set, else def.
func first(def int, ns ...num) int {
	for _, n := range ns {
		if n.line > 0 {
			return n.val
		}
	}
	return def
}

func seconds(n int) time.Duration { return time.Duration(n) * time.Second }

// service builds the Service of a virtual section.
func (p *parser) service(v *virtual) (*config.Service, error) {
	g := &p.g
	e := &env{v: v, proto: v.protocol.val, service: v.service.val, checkType: v.checkType.val}
	switch {
	case e.proto != "":
	case v.mark != 0:
		e.proto = "fwm"
	case v.port == 53:
		e.proto = "udp"
	default:
		e.proto = "tcp"
	}
	implicitService := e.service == ""
	if implicitService {
		e.service = "none"
		if v.mark == 0 {
			e.service = serviceOfPort(v.port)
		}
	}
	if e.checkType == "" || e.checkType == "combined" && v.numConnects == 0 {
		e.checkType = "negotiate"
	}
	e.checkLine = v.checkType.line
	if e.checkLine == 0 {
		e.checkLine = v.line
	}
	e.connectTO = seconds(first(defaultCheckTimeout, v.checkTimeout, v.negotiateTimeout, g.checkTimeout, g.negotiateTimeout))
	e.negotiateTO = seconds(first(defaultNegotiateTimeout, v.negotiateTimeout, v.checkTimeout, g.negotiateTimeout, g.checkTimeout))
	e.failureCount = first(1, v.failureCount, g.failureCount)
	e.checkCount = first(1, v.checkCount, g.checkCount)
	e.interval = seconds(first(defaultCheckInterval, g.checkInterval))
	if v.checkInterval.line > 0 {
		if g.fork.val {
			e.interval = seconds(v.checkInterval.val)
		} else {
			p.warnf(v.checkInterval.line, "checkinterval in a virtual section is ignored without fork=yes (as in ldirectord): %v is used", e.interval)
		}
	}

	negotiates := e.checkType == "negotiate" || e.checkType == "combined"
	if negotiates {
		if err := p.checkService(e, implicitService); err != nil {
			return nil, err
		}
	}
	if e.checkType == "external-perl" {
		p.warnf(e.checkLine, "checktype=external-perl: the script runs as \"perl SCRIPT ARGS\" in a process of its own")
	}

	s := &config.Service{Line: v.line, Name: v.name, Quorum: 1, Alpha: true}
	sc := &s.ServiceConfig
	if v.mark != 0 {
		sc.ServiceID = ctl.ServiceID{FwMark: v.mark, IPv6: v.v6}
	} else {
		sc.ServiceID = ctl.ServiceID{Proto: vs.TCP, Addr: v.addr, Port: v.port}
		if e.proto == "udp" {
			sc.Proto = vs.UDP
		}
	}
	sc.Scheduler = defaultScheduler
	if v.scheduler.line > 0 {
		sc.Scheduler = v.scheduler.val
	}
	sc.Netmask = 0xffffffff
	if v.v6 {
		sc.Netmask = 128
	}
	if v.persistent.line > 0 {
		sc.Flags |= vs.SvcPersistent
		sc.Timeout = uint32(v.persistent.val)
		if v.netmask.line > 0 {
			sc.Netmask = netmaskValue(v.netmask.val, v.v6)
		}
	} else {
		if v.netmask.line > 0 {
			p.warnf(v.netmask.line, "netmask has no effect without persistent (ldirectord passes it to ipvsadm only with -p)")
		}
		if v.mark == 0 && v.port == 0 {
			return nil, p.errorf(v.line, "%s: port 0 is for persistent services only (ipvsadm: Zero port specified for non-persistent service)", v.name)
		}
	}
	if v.schedFlags.line > 0 {
		f, err := schedFlags(sc.Scheduler, v.schedFlags.val)
		if err != nil {
			return nil, p.errorf(v.schedFlags.line, "schedflags: %v", err)
		}
		sc.Flags |= f
	}
	if v.ops.val {
		if e.proto == "udp" {
			sc.Flags |= vs.SvcOnePacket
		} else {
			p.warnf(v.ops.line, "ops=yes is for UDP services only: ignored (as by ldirectord)")
		}
	}

	quiescent := g.quiescent.val
	if v.quiescent.line > 0 {
		quiescent = v.quiescent.val
	}
	seen := map[netip.AddrPort]int{}
	for i := range v.reals {
		r := &v.reals[i]
		for a, end := r.first, false; !end; a = a.Next() {
			end = a == r.last
			if !unicast(a) {
				return nil, p.errorf(r.line, "real: %s is not an address a real server can have (not unicast)", a)
			}
			if p.reals++; p.reals > maxReals {
				return nil, p.errorf(r.line, "more than %d real servers in the file", maxReals)
			}
			if len(s.Dests) == maxServiceReals {
				return nil, p.errorf(r.line, "more than %d real servers in %s", maxServiceReals, v.name)
			}
			d := config.Dest{Line: r.line, Inhibit: quiescent, DestConfig: ctl.DestConfig{
				Addr: a, Port: p.tablePort(v, r.fwd, r.port), Fwd: fwdMethod(r.fwd),
				Weight: r.weight, UThreshold: r.upper, LThreshold: r.lower,
			}}
			ap := netip.AddrPortFrom(a, d.Port)
			if l, dup := seen[ap]; dup {
				return nil, p.errorf(r.line, "duplicate real server %s in %s (also at line %d)", ap, v.name, l)
			}
			seen[ap] = r.line
			checks, err := p.checks(e, r, a, d.Port)
			if err != nil {
				return nil, err
			}
			d.Checks = checks
			s.Dests = append(s.Dests, d)
		}
	}

	if e.checkType != "off" {
		f := v.fallback
		if f == nil {
			f = g.fallback
			if v.v6 {
				f = g.fallback6
			}
		}
		if f != nil {
			port := v.port
			if f.hasPort {
				port = f.port
			}
			s.Sorry = &config.Dest{Line: f.line, DestConfig: ctl.DestConfig{
				Addr: f.addr, Port: p.tablePort(v, f.fwd, port), Fwd: fwdMethod(f.fwd), Weight: 1,
			}}
		}
		cmd := v.fallbackCommand
		if cmd.line == 0 {
			cmd = g.fallbackCommand
		}
		if cmd.line > 0 {
			server := ""
			if v.mark == 0 {
				server = addrArg(v.addr)
			}
			tail := " " + shellQuote(server+":"+strconv.Itoa(int(v.port))) + " " + e.proto
			s.QuorumDown = cmd.val + " start" + tail
			s.QuorumUp = cmd.val + " stop" + tail
		}
	}
	return s, nil
}

// checkService refuses negotiate checks gdirector cannot make and warns
// about the ones it makes differently.
func (p *parser) checkService(e *env, implicit bool) error {
	v := e.v
	if !negotiable[e.service] {
		how := "gdirector has no " + e.service + " check; use checktype=connect for a TCP connect check, or checktype=external with a checkcommand"
		if implicit {
			return p.errorf(v.line, "unsupported: service=%s (ldirectord's default for port %d, as no service= is given): %s", e.service, v.port, how)
		}
		return p.errorf(v.service.line, "unsupported: service=%s: %s", e.service, how)
	}
	switch e.service {
	case "none":
		if implicit {
			why := "port " + strconv.Itoa(int(v.port)) + " has no default service"
			if v.mark != 0 {
				why = "a firewall-mark service has no default service"
			}
			p.warnf(v.line, "the real servers of %s are not checked: service none, as no service= is given and %s; set service= or checktype=", v.name, why)
		}
	case "http", "https":
		if v.httpMethod.val == "HEAD" {
			p.warnf(v.httpMethod.line, "httpmethod=HEAD: the check sends GET; its status decides as HEAD's would")
		}
	case "dns":
		if e.proto == "tcp" {
			p.warnf(v.line, "service=dns on a TCP service: the check queries over UDP")
		}
	}
	return nil
}

// tablePort is the port of a real (or fallback) server in the table:
// ipvsadm gives gate and ipip servers of an address:port service the
// service's port.
func (p *parser) tablePort(v *virtual, fwd string, port uint16) uint16 {
	if v.mark == 0 && fwd != "masq" {
		return v.port
	}
	return port
}

func fwdMethod(s string) vs.FwdMethod {
	switch s {
	case "masq":
		return vs.Masq
	case "ipip":
		return vs.Tunnel
	}
	return vs.DirectRoute
}

// checks builds the checks of one real server (address a, port dport in
// the table) of the section e.
func (p *parser) checks(e *env, r *realSpec, a netip.Addr, dport uint16) ([]config.Check, error) {
	base := config.Check{
		Line: e.checkLine, Interval: e.interval, Timeout: e.connectTO,
		Retry: e.failureCount - 1, DelayBeforeRetry: e.interval, Rise: 1,
	}
	switch e.checkType {
	case "on":
		base.Kind = config.CheckOn
	case "off":
		base.Kind = config.CheckOff
	case "ping":
		base = p.ping(e, base)
	case "connect":
		if e.proto == "udp" {
			base = p.ping(e, base)
			break
		}
		return p.connect(e, r, dport, base)
	case "external", "external-perl":
		base.Kind = config.CheckMisc
		base.Command = command(e, r, a)
	case "negotiate":
		c, err := p.negotiate(e, r, a, dport, base)
		if err != nil {
			return nil, err
		}
		return []config.Check{c}, nil
	case "combined":
		neg, err := p.negotiate(e, r, a, dport, base)
		if err != nil {
			return nil, err
		}
		every := int64(e.interval/time.Second) * int64(e.v.numConnects+1)
		if every > maxCombined {
			return nil, p.errorf(e.checkLine, "checktype=%d with checkinterval %v: negotiate checks would be more than a year apart", e.v.numConnects, e.interval)
		}
		neg.Interval = time.Duration(every) * time.Second
		if e.proto == "udp" {
			return []config.Check{neg}, nil
		}
		conn, err := p.connect(e, r, dport, base)
		if err != nil || neg.Kind == config.CheckOn {
			return conn, err
		}
		return append(conn, neg), nil
	}
	return []config.Check{base}, nil
}

func (p *parser) ping(e *env, c config.Check) config.Check {
	c.Kind = config.CheckPing
	c.Retry = e.failureCount*e.checkCount - 1
	if e.failureCount == 1 && e.checkCount > 1 {
		c.DelayBeforeRetry = 0 // ldirectord's ping attempts follow each other
	}
	return c
}

func (p *parser) connect(e *env, r *realSpec, dport uint16, c config.Check) ([]config.Check, error) {
	c.Kind = config.CheckTCP
	port := checkPort(e, r)
	if port == 0 {
		return nil, p.errorf(r.line, "%s: no port to check: give the real server a port or set checkport", e.v.name)
	}
	c.Target = target(port, dport)
	return []config.Check{c}, nil
}

// checkPort is ldirectord's ld_checkport: checkport, else the real
// server's port as written, else the service's well-known port (0: none).
func checkPort(e *env, r *realSpec) uint16 {
	switch {
	case e.v.checkPort.line > 0:
		return uint16(e.v.checkPort.val)
	case r.port > 0:
		return r.port
	}
	return wellKnown[e.service]
}

// target overrides the port checked when it is not the table's.
func target(port, dport uint16) netip.AddrPort {
	if port == dport {
		return netip.AddrPort{}
	}
	return netip.AddrPortFrom(netip.Addr{}, port)
}

// negotiate builds the negotiate check of the section's service.
func (p *parser) negotiate(e *env, r *realSpec, a netip.Addr, dport uint16, c config.Check) (config.Check, error) {
	v := e.v
	if e.service == "none" {
		c.Kind = config.CheckOn
		return c, nil
	}
	c.Timeout = e.negotiateTO
	port := checkPort(e, r)
	c.Target = target(port, dport)
	request, receive, line := "/", v.receive.val, v.line
	if v.request.line > 0 {
		request, line = v.request.val, v.request.line
	}
	if r.hasCheck {
		request, receive, line = r.request, r.receive, r.line
	}
	switch e.service {
	case "http", "https":
		c.Kind = config.CheckHTTP
		if e.service == "https" {
			c.Kind = config.CheckHTTPS
		}
		c.VirtualHost = v.virtualHost.val
		path := request
		if r.hasCheck && strings.Contains(request, e.service+"://") {
			u, err := url.Parse(strings.TrimPrefix(request, "/"))
			if err != nil || u.Scheme != e.service || u.Host == "" {
				return c, p.errorf(r.line, "request %q: not an absolute %s:// URL", clip(request), e.service)
			}
			host, err := netip.ParseAddr(strings.Trim(u.Hostname(), "[]"))
			if err != nil || host.Zone() != "" {
				return c, p.errorf(r.line, "request %q: the URL's host must be an address (host names are not resolved)", clip(request))
			}
			tport := wellKnown[e.service]
			if u.Port() != "" {
				pn, err := strconv.ParseUint(u.Port(), 10, 16)
				if err != nil {
					return c, p.errorf(r.line, "request %q: invalid port", clip(request))
				}
				tport = uint16(pn)
			}
			c.Target = netip.AddrPortFrom(host.Unmap(), tport)
			path = u.RequestURI()
			if c.VirtualHost == "" {
				c.VirtualHost = addrArg(a) // ldirectord's Host header stays the real server's address
			}
		}
		c.URLs = []config.URLCheck{{Path: path, Regexp: receive}}
	case "smtp", "submission":
		c.Kind = config.CheckSMTP
	case "dns":
		c.Kind = config.CheckDNS
		name := strings.TrimPrefix(request, "/")
		if name == "" {
			if !r.hasCheck && v.request.line == 0 && v.service.line > 0 {
				line = v.service.line
			}
			return c, p.errorf(line, "%s: service=dns needs request=\"NAME\", the name to look up", v.name)
		}
		if receive == "" {
			if !r.hasCheck {
				line = v.line
				if v.service.line > 0 {
					line = v.service.line
				}
			}
			return c, p.errorf(line, "%s: service=dns needs receive=\"REGEXP\" for the answer: without it ldirectord's DNS check never passes", v.name)
		}
		if !validDNSName(name) {
			if r.hasCheck {
				line = r.line
			}
			return c, p.errorf(line, "%s: request %q is not a DNS name to look up", v.name, clip(name))
		}
		c.DNSType, c.DNSName, c.DNSAnswer = "A", name, receive
		if ip, err := netip.ParseAddr(name); err == nil && ip.Zone() == "" {
			c.DNSType, c.DNSName = "PTR", reverseName(ip)
		}
	}
	return c, nil
}

// command is the external check's command line: the command and
// ldirectord's four arguments, quoted for a shell.
func command(e *env, r *realSpec, a netip.Addr) string {
	v := e.v
	cmd := defaultCheckCommand
	if v.checkCommand.line > 0 {
		cmd = v.checkCommand.val
	}
	cmd = shellQuote(cmd)
	if e.checkType == "external-perl" {
		cmd = "perl " + cmd
	}
	vip := strconv.FormatUint(uint64(v.mark), 10)
	if v.mark == 0 {
		vip = addrArg(v.addr)
	}
	return strings.Join([]string{cmd, shellQuote(vip), strconv.Itoa(int(v.port)),
		shellQuote(addrArg(a)), strconv.Itoa(int(r.port))}, " ")
}

// addrArg writes an address as ldirectord passes it on: IPv6 in
// brackets.
func addrArg(a netip.Addr) string {
	if a.Is6() {
		return "[" + a.String() + "]"
	}
	return a.String()
}

// shellQuote quotes a word for a POSIX shell when it needs it.
func shellQuote(s string) string {
	safe := s != ""
	for i := 0; i < len(s) && safe; i++ {
		b := s[i]
		safe = isAlnum(b) || strings.IndexByte("@%+=:,./_-", b) >= 0
	}
	if safe {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// reverseName is the PTR name of an address, as Net::DNS queries it for
// a name that is an address.
func reverseName(a netip.Addr) string {
	a = a.Unmap()
	var b strings.Builder
	if a.Is4() {
		o := a.As4()
		for i := 3; i >= 0; i-- {
			b.WriteString(strconv.Itoa(int(o[i])))
			b.WriteByte('.')
		}
		b.WriteString("in-addr.arpa")
		return b.String()
	}
	o := a.As16()
	const hex = "0123456789abcdef"
	for i := 15; i >= 0; i-- {
		b.WriteByte(hex[o[i]&0xf])
		b.WriteByte('.')
		b.WriteByte(hex[o[i]>>4])
		b.WriteByte('.')
	}
	b.WriteString("ip6.arpa")
	return b.String()
}

// netmaskValue is a netmask= value as ServiceConfig.Netmask holds it.
func netmaskValue(s string, v6 bool) uint32 {
	if v6 {
		n, _ := strconv.Atoi(s)
		return uint32(n)
	}
	return addrValue(netip.MustParseAddr(s))
}

// schedFlags reads ipvsadm's -b flags, checked against the scheduler.
func schedFlags(scheduler, s string) (uint32, error) {
	var flags uint32
	n := 0
	for w := range strings.SplitSeq(s, ",") {
		if w == "" {
			continue
		}
		n++
		f, need, ok := vs.SchedFlagByName(w)
		if !ok {
			return 0, fmt.Errorf("invalid scheduler flag %q", clip(w))
		}
		flags |= f
		if need != "" && need != scheduler {
			return 0, fmt.Errorf("scheduler flag %s needs scheduler %s, not %s", w, need, scheduler)
		}
	}
	if n == 0 {
		return 0, errors.New("no flags given")
	}
	return flags, nil
}

// validDNSName reports whether s can be sent as a query name: at most 253
// characters in labels of 1 to 63 printable characters without blanks.
func validDNSName(s string) bool {
	s = strings.TrimSuffix(s, ".")
	if s == "" || len(s) > 253 {
		return false
	}
	for l := range strings.SplitSeq(s, ".") {
		if l == "" || len(l) > 63 {
			return false
		}
		for i := 0; i < len(l); i++ {
			if l[i] <= ' ' || l[i] >= 0x7f {
				return false
			}
		}
	}
	return true
}
