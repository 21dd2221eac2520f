package keepalived

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/gdirector/gdirector/config"
	"github.com/gdirector/gdirector/ctl"
	"github.com/gdirector/gdirector/vs"
)

// keepalived's defaults (check_data.c alloc_vs, check_api.c
// queue_checker and the checkers' handlers).
const (
	defaultDelayLoop      = 60 * time.Second // KEEPALIVED_DEFAULT_DELAY
	defaultConnectTimeout = 5 * time.Second
	defaultRetry          = 1 // DNS_CHECK 3, MISC_CHECK 0
	defaultRetryDelay     = time.Second
	httpRetryDelay        = 3 * time.Second // HTTP_GET and SSL_GET; DNS_CHECK: delay_loop
	defaultHELO           = "smtpchecker.keepalived.org"
	defaultMaxReply       = 255 // UDP_CHECK max_reply_length
	persistentDefault     = 360 // IPVS_SVC_PERSISTENT_TIMEOUT
)

// Limits on what a configuration expands to.
const (
	maxServices = 1 << 16
	maxDests    = 1 << 20
)

// member is one IPVS service of a virtual_server: the virtual_server
// itself, or one address or firewall mark of its group.
type member struct {
	id ctl.ServiceID
	at pos // the line the service comes from (group entries: the entry)
}

// builder turns parsed blocks into a config.Config.
type builder struct {
	in     *parsed
	out    *config.Config
	warned map[string]bool
	keys   map[vs.ServiceKey]pos
	dests  int
}

// fileOf is the File of an item read at p: "" for the main file,
// else the included file's name.
func (b *builder) fileOf(p pos) string {
	if p.file == b.out.Path {
		return ""
	}
	return p.file
}

func (b *builder) warnf(at pos, format string, args ...any) {
	w := at.errf(format, args...).Error()
	if !b.warned[w] {
		b.warned[w] = true
		b.out.Warnings = append(b.out.Warnings, w)
	}
}

// build resolves every virtual_server.
func (b *builder) build() error {
	b.warned = map[string]bool{}
	b.keys = map[vs.ServiceKey]pos{}
	b.out.Timeouts = b.in.timeouts
	b.out.SyncDaemon = b.in.sync
	for _, w := range b.in.warnings {
		if !b.warned[w] {
			b.warned[w] = true
			b.out.Warnings = append(b.out.Warnings, w)
		}
	}
	for _, v := range b.in.servers {
		if err := b.virtualServer(v); err != nil {
			return err
		}
	}
	return b.buildVRRP()
}

// methodOf is the forwarding method of a real (or sorry) server.
func (b *builder) methodOf(v *virtualServer, own opt[vs.FwdMethod]) vs.FwdMethod {
	if own.set {
		return own.v
	}
	if v.method.set {
		return v.method.v
	}
	b.warnf(v.at, "virtual_server has no lvs_method: NAT, as keepalived defaults")
	return vs.Masq
}

// familyOf is the address family of a firewall-mark service without an
// explicit one: ip_family, else that of the real (then sorry) servers
// that are not tunnelled, else persistence_granularity's form, else that
// of the tunnelled real servers if they agree, else IPv4 (keepalived's
// order of inference).
func (b *builder) familyOf(v *virtualServer) int {
	if v.family.set {
		return v.family.v
	}
	for _, r := range v.reals {
		if b.methodOf(v, r.method) != vs.Tunnel {
			return family(r.addr)
		}
	}
	if v.sorry != nil && b.methodOf(v, v.sorryMethod) != vs.Tunnel {
		return family(v.sorry.addr)
	}
	if v.granularity.set {
		if strings.Contains(v.granularity.v, ".") {
			return 4
		}
		return 6
	}
	f := family(v.reals[0].addr)
	for _, r := range v.reals[1:] {
		if family(r.addr) != f {
			return 4
		}
	}
	return f
}

// members lists the services of a virtual_server.
func (b *builder) members(v *virtualServer) ([]member, string, error) {
	switch v.kind {
	case vsAddr:
		return []member{{ctl.ServiceID{Addr: v.addr, Port: v.port}, v.at}}, addrPortString(v.addr, v.port), nil
	case vsFwmark:
		return []member{{ctl.ServiceID{FwMark: v.fwmark, IPv6: b.familyOf(v) == 6}, v.at}}, fmt.Sprintf("fwmark %d", v.fwmark), nil
	}
	g, ok := b.in.groups[v.group]
	if !ok {
		return nil, "", v.at.errf("virtual_server group %s: there is no virtual_server_group %s", v.group, v.group)
	}
	var ms []member
	for _, e := range g.entries {
		if e.isMark {
			f := e.family
			if f == 0 {
				f = b.familyOf(v)
			}
			ms = append(ms, member{ctl.ServiceID{FwMark: e.fwmark, IPv6: f == 6}, e.at})
			continue
		}
		for a := e.first; ; a = a.Next() {
			if len(ms) >= maxServices {
				return nil, "", e.at.errf("virtual_server_group %s expands to more than %d services", g.name, maxServices)
			}
			ms = append(ms, member{ctl.ServiceID{Addr: a, Port: e.port}, e.at})
			if a == e.last {
				break
			}
		}
	}
	return ms, v.group, nil
}

// addrPortString writes ADDR:PORT ([ADDR]:PORT for IPv6).
func addrPortString(a netip.Addr, port uint16) string {
	return netip.AddrPortFrom(a, port).String()
}

// virtualServer resolves one virtual_server into its services.
func (b *builder) virtualServer(v *virtualServer) error {
	if len(v.reals) == 0 {
		b.warnf(v.at, "virtual_server has no real_server: ignored, as keepalived does")
		return nil
	}
	sched := v.sched.or(ctl.DefaultScheduler)
	var flags uint32
	for _, f := range v.flags {
		bit, need, _ := vs.SchedFlagByName(f.kw) // the parser admits only known names
		flags |= bit
		if need != "" && need != sched {
			return f.errf("%s needs lvs_sched %s (the scheduler is %s)", f.kw, need, sched)
		}
	}
	if v.sorryInhibit.set && v.sorry == nil {
		return v.sorryInhibit.at.errf("sorry_server_inhibit without sorry_server")
	}
	if v.sorryMethod.set && v.sorry == nil {
		return v.sorryMethod.at.errf("sorry_server_lvs_method without sorry_server")
	}
	ms, name, err := b.members(v)
	if err != nil {
		return err
	}
	for _, m := range ms {
		if len(b.out.Services) >= maxServices {
			return m.at.errf("the configuration has more than %d services", maxServices)
		}
		s, err := b.service(v, m, name, sched, flags)
		if err != nil {
			return err
		}
		key := s.Key()
		if at, dup := b.keys[key]; dup {
			return m.at.errf("virtual service %s is already defined at %s:%d", serviceString(&s), at.file, at.line)
		}
		b.keys[key] = m.at
		if err := validate(v, &s); err != nil {
			return err
		}
		b.out.Services = append(b.out.Services, s)
	}
	return nil
}

// serviceString names a service in messages, like ipvsadm -L.
func serviceString(s *config.Service) string {
	if s.FwMark != 0 {
		if s.IPv6 {
			return fmt.Sprintf("FWM %d IPv6", s.FwMark)
		}
		return fmt.Sprintf("FWM %d", s.FwMark)
	}
	return fmt.Sprintf("%v %s", s.Proto, addrPortString(s.Addr, s.Port))
}

// service builds one service of a virtual_server.
func (b *builder) service(v *virtualServer, m member, name, sched string, flags uint32) (config.Service, error) {
	id := m.id
	fwm := id.FwMark != 0
	fam := 4
	if fwm && id.IPv6 || !fwm && id.Addr.Is6() {
		fam = 6
	}
	if fwm {
		if v.proto.set && v.kind == vsFwmark {
			b.warnf(v.proto.at, "protocol is ignored for a firewall-mark virtual server")
		}
	} else {
		if !v.proto.set {
			b.warnf(v.at, "virtual_server has no protocol: UDP, as keepalived defaults (the kernel's default)")
		}
		id.Proto = v.proto.or(vs.UDP)
	}
	timeout := v.persistence.or(0)
	if timeout == 0 && v.granularity.set {
		timeout = persistentDefault
	}
	if timeout == 0 && !fwm && id.Port == 0 {
		b.warnf(m.at, "a service without a port must be persistent: persistence_timeout %d, as keepalived sets", persistentDefault)
		timeout = persistentDefault
	}
	if timeout > 0 {
		flags |= vs.SvcPersistent
	}
	if v.ops {
		if !fwm && id.Proto != vs.UDP {
			b.warnf(v.at, "ops (one-packet scheduling) needs UDP: cleared, as keepalived does")
		} else {
			flags |= vs.SvcOnePacket
		}
	}
	netmask := uint32(0xffffffff)
	if fam == 6 {
		netmask = 128
	}
	if g := v.granularity; g.set {
		if fam == 4 {
			a, err := parseAddr(g.v)
			if err != nil || !a.Is4() {
				return config.Service{}, g.at.errf("persistence_granularity %q: an IPv4 service needs a netmask such as 255.255.255.0", g.v)
			}
			bs := a.As4()
			netmask = uint32(bs[0])<<24 | uint32(bs[1])<<16 | uint32(bs[2])<<8 | uint32(bs[3])
		} else {
			n, err := parseUint(g.v, 1, 128)
			if err != nil {
				return config.Service{}, g.at.errf("persistence_granularity %q: an IPv6 service needs a prefix length 1..128", g.v)
			}
			netmask = uint32(n)
		}
	}
	s := config.Service{
		Line: v.at.line, File: b.fileOf(v.at),
		Name: name,
		ServiceConfig: ctl.ServiceConfig{
			ServiceID: id, Scheduler: sched, Flags: flags, Timeout: timeout, Netmask: netmask,
		},
		Quorum: v.quorum.or(1), Hysteresis: v.hysteresis.or(0),
		QuorumUp: v.quorumUp.v, QuorumDown: v.quorumDown.v,
		Alpha: v.alpha.or(false), Omega: v.omega,
	}
	where := map[[2]any]pos{}
	hasFNAT := false
	var weights int64
	for _, r := range v.reals {
		d, err := b.dest(v, r, &s, fam)
		if err != nil {
			return s, err
		}
		k := [2]any{d.Addr, d.Port}
		if at, dup := where[k]; dup {
			return s, r.at.errf("real server %s of %s is already defined at line %d", addrPortString(d.Addr, d.Port), serviceString(&s), at.line)
		}
		where[k] = r.at
		hasFNAT = hasFNAT || d.Fwd == vs.FullNAT
		weights += int64(d.Weight)
		s.Dests = append(s.Dests, d)
	}
	if b.dests += len(s.Dests); b.dests > maxDests {
		return s, v.at.errf("the configuration has more than %d real servers", maxDests)
	}
	if v.sorry != nil {
		r := *v.sorry
		r.method = v.sorryMethod
		r.checks = nil
		d, err := b.dest(v, &r, &s, fam)
		if err != nil {
			return s, err
		}
		d.Weight, d.Inhibit = 1, v.sorryInhibit.or(false)
		s.Sorry, s.SorryInhibit = &d, d.Inhibit
	}
	if int64(s.Quorum) > weights {
		b.warnf(v.at, "quorum %d is above the total weight %d of the real servers: lowered to %d, as keepalived does", s.Quorum, weights, weights)
		s.Quorum = int(weights)
	}
	if s.Hysteresis > 0 && s.Hysteresis >= s.Quorum {
		h := max(s.Quorum-1, 0)
		b.warnf(v.hysteresis.at, "hysteresis %d is not below quorum %d: lowered to %d, as keepalived does", s.Hysteresis, s.Quorum, h)
		s.Hysteresis = h
	}
	if g := v.laddrGroup; g.set {
		lg, ok := b.in.laddrs[g.v]
		if !ok {
			return s, g.at.errf("laddr_group_name %s: there is no local_address_group %s", g.v, g.v)
		}
		for _, la := range lg.addrs {
			if family(la.Addr) == fam {
				s.LAddrs = append(s.LAddrs, la)
			}
		}
		if len(s.LAddrs) == 0 {
			return s, g.at.errf("local_address_group %s has no IPv%d address for %s", g.v, fam, serviceString(&s))
		}
		if !hasFNAT {
			b.warnf(g.at, "laddr_group_name: the local addresses serve FNAT real servers only, and %s has none", serviceString(&s))
		}
	}
	return s, nil
}

// dest builds a real (or sorry) server of a service.
func (b *builder) dest(v *virtualServer, r *realServer, s *config.Service, fam int) (config.Dest, error) {
	fwd := b.methodOf(v, r.method)
	if fwd != vs.Tunnel && family(r.addr) != fam {
		return config.Dest{}, r.at.errf("%s is IPv%d but %s is IPv%d (only TUN servers may differ)", r.addr, family(r.addr), serviceString(s), fam)
	}
	port := r.port
	switch {
	case s.FwMark != 0 && (fwd == vs.DirectRoute || fwd == vs.Tunnel):
		if port != 0 {
			b.warnf(r.at, "the port of %s is not used: a DR or TUN real server of a firewall-mark service takes the packet's port", r.addr)
		}
		port = 0
	case s.FwMark != 0:
	case fwd == vs.DirectRoute || fwd == vs.Tunnel:
		if port != 0 && port != s.Port {
			b.warnf(r.at, "port %d of DR/TUN real server %s differs from the virtual server's %d: %d is used, as keepalived does", port, r.addr, s.Port, s.Port)
		}
		port = s.Port
	case port == 0:
		port = s.Port
	}
	d := config.Dest{
		Line: r.at.line, File: b.fileOf(r.at),
		DestConfig: ctl.DestConfig{
			Addr: r.addr, Port: port, Fwd: fwd, Weight: r.weight.or(v.weight.or(1)),
			UThreshold: r.uthreshold, LThreshold: r.lthreshold,
		},
		Inhibit:  r.inhibit.or(v.inhibit),
		NotifyUp: r.notifyUp.v, NotifyDown: r.notifyDown.v,
	}
	for _, c := range r.checks {
		cs, err := b.checks(v, r, c, port)
		if err != nil {
			return d, err
		}
		for _, ck := range cs {
			if c.alpha.or(r.alpha.or(v.alpha.or(false))) {
				d.Alpha = true
			}
			d.Checks = append(d.Checks, ck)
		}
	}
	return d, nil
}

// needsPort tells the checks that connect to a port.
func needsPort(k config.CheckKind) bool {
	return k != config.CheckPing && k != config.CheckMisc
}

// checks resolves a checker: its settings, else the real server's, else
// the virtual server's, else keepalived's defaults for its kind. An
// SMTP_CHECK with host blocks gives one check per host. Target stays zero
// when the check goes to the real server's address and table port
// (destPort).
func (b *builder) checks(v *virtualServer, r *realServer, c *checker, destPort uint16) ([]config.Check, error) {
	interval := c.delayLoop.or(r.delayLoop.or(v.delayLoop.or(defaultDelayLoop)))
	retry, retryDelay := defaultRetry, defaultRetryDelay
	switch c.kind {
	case config.CheckHTTP, config.CheckHTTPS:
		retryDelay = httpRetryDelay
	case config.CheckDNS:
		retry, retryDelay = 3, interval
	case config.CheckMisc:
		retry = 0
	}
	base := config.Check{
		Line:             c.at.line,
		File:             b.fileOf(c.at),
		Kind:             c.kind,
		Interval:         interval,
		Retry:            c.retry.or(r.retry.or(v.retry.or(retry))),
		DelayBeforeRetry: c.delayBeforeRetry.or(r.delayBeforeRetry.or(v.delayBeforeRetry.or(retryDelay))),
		Rise:             1,
		Warmup:           c.warmup.or(r.warmup.or(v.warmup.or(interval))),
	}
	switch c.kind {
	case config.CheckHTTP, config.CheckHTTPS:
		if err := b.http(v, r, c, &base); err != nil {
			return nil, err
		}
	case config.CheckUDP:
		base.Payload = c.payload
		if c.requireReply {
			base.RequireReply = true
			base.Reply, base.ReplyMask = c.reply, c.mask
			base.MinReplyLen, base.MaxReplyLen = c.minReply.or(0), c.maxReply.or(defaultMaxReply)
		} else if c.minReply.set || c.maxReply.set {
			b.warnf(c.at, "min_reply_length and max_reply_length have no effect without require_reply")
		}
	case config.CheckDNS:
		base.DNSType, base.DNSName = c.dnsType.or("SOA"), c.dnsName.or(".")
	case config.CheckSMTP:
		base.HELO = c.helo.or(defaultHELO)
	case config.CheckMisc:
		base.Command, base.Dynamic, base.User = c.command, c.dynamic, c.user
		// keepalived: misc_timeout, else the virtual server's delay_loop.
		base.Timeout = c.miscTimeout.or(v.delayLoop.or(defaultDelayLoop))
		if base.Timeout == 0 {
			base.Timeout = v.delayLoop.or(defaultDelayLoop)
		}
		return []config.Check{base}, nil
	}
	targets := []*checker{c}
	if c.kind == config.CheckSMTP && len(c.hosts) > 0 {
		// The deprecated host blocks: each is a check of its own; without
		// connection options of its own, SMTP_CHECK is the first host.
		if c.connectIP.set || c.connectPort.set || c.bindTo.set || c.connectTimeout.set {
			targets = append(targets, c.hosts...)
		} else {
			targets = c.hosts
		}
	}
	var out []config.Check
	for _, t := range targets {
		ck := base
		ck.Line, ck.File = t.at.line, b.fileOf(t.at)
		ck.Timeout = t.connectTimeout.or(r.connectTimeout.or(v.connectTimeout.or(defaultConnectTimeout)))
		ck.BindTo = t.bindTo.v
		// keepalived checks the real server's port as written, even when
		// the table uses another one (DR/TUN); connect_port overrides it.
		port := t.connectPort.or(r.port)
		if needsPort(c.kind) && port == 0 {
			return nil, t.at.errf("%s: no port to check: real_server %s has none and there is no connect_port (keepalived would connect to port 0 and never succeed)", c.keyword, r.addr)
		}
		if !needsPort(c.kind) {
			port = 0
		}
		if t.connectIP.set || port != destPort && port != 0 {
			ck.Target = netip.AddrPortFrom(t.connectIP.v, port)
		}
		target := t.connectIP.or(r.addr)
		if t.bindTo.set && family(t.bindTo.v) != family(target) {
			return nil, t.bindTo.at.errf("bindto %s: the checked address %s is of the other family", t.bindTo.v, target)
		}
		out = append(out, ck)
	}
	return out, nil
}

// http fills the HTTP_GET and SSL_GET parts of a check.
func (b *builder) http(v *virtualServer, r *realServer, c *checker, ck *config.Check) error {
	ck.VirtualHost = c.vhost.or(r.vhost.or(v.vhost.v))
	for _, u := range c.urls {
		uc := config.URLCheck{Path: u.path.v, Status: u.status, Digest: u.digest, VirtualHost: u.vhost}
		if u.regex.set {
			uc.Regexp = u.regex.v
			if u.regexFlags != "" {
				uc.Regexp = "(?" + u.regexFlags + ")" + uc.Regexp
			}
		}
		ck.URLs = append(ck.URLs, uc)
	}
	if !c.enableSNI || c.kind != config.CheckHTTPS {
		return nil
	}
	if c.sni.set {
		ck.SNI = c.sni.v
		return nil
	}
	// keepalived sends the url's virtualhost, else the checker's, else
	// the virtual server's (not the real server's).
	names := map[string]bool{}
	for _, u := range c.urls {
		n := u.vhost
		if n == "" {
			n = c.vhost.or(v.vhost.v)
		}
		names[n] = true
	}
	if len(names) > 1 {
		var list []string
		for n := range names {
			list = append(list, fmt.Sprintf("%q", n))
		}
		slices.Sort(list)
		return c.at.errf("enable_sni: the urls have different virtualhosts (%s), so keepalived sends a different server name for each: set sni_name", strings.Join(list, ", "))
	}
	for n := range names {
		ck.SNI = n
	}
	return nil
}

// validate adds the service to scratch Managers as the daemon will, so
// that what the kernel (and ipvsadm) would refuse is an error naming its
// line: the service, its local addresses and real servers together, and
// the sorry server as the only real server.
func validate(v *virtualServer, s *config.Service) error {
	m := ctl.NewManager(ctl.Config{})
	if err := m.AddService(s.ServiceConfig); err != nil {
		return v.at.errf("%s: %v", serviceString(s), err)
	}
	for _, la := range s.LAddrs {
		if err := m.AddLAddr(s.ServiceID, la.Addr, la.Iface); err != nil {
			return v.laddrGroup.at.errf("%s: local address %s: %v", serviceString(s), la.Addr, err)
		}
	}
	for i := range s.Dests {
		d := &s.Dests[i]
		if err := m.AddDest(s.ServiceID, d.DestConfig); err != nil {
			return v.reals[i].at.errf("real server %s of %s: %v", addrPortString(d.Addr, d.Port), serviceString(s), err)
		}
	}
	if s.Sorry != nil {
		alone := ctl.NewManager(ctl.Config{})
		err := alone.AddService(s.ServiceConfig)
		if err == nil {
			err = alone.AddDest(s.ServiceID, s.Sorry.DestConfig)
		}
		if err != nil {
			return v.sorry.at.errf("sorry server %s of %s: %v", addrPortString(s.Sorry.Addr, s.Sorry.Port), serviceString(s), err)
		}
	}
	return nil
}
