package keepalived

import (
	"fmt"
	"math"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/gdirector/gdirector/config"
	"github.com/gdirector/gdirector/vs"
)

// opt is a setting that may be absent.
type opt[T any] struct {
	v   T
	set bool
	at  pos
}

func (o *opt[T]) put(v T, at pos) { o.v, o.set, o.at = v, true, at }

// or returns the value, or def when it is absent.
func (o opt[T]) or(def T) T {
	if o.set {
		return o.v
	}
	return def
}

// timing is what a virtual server passes on to its real servers as
// defaults, and a real server to its checkers.
type timing struct {
	delayLoop, connectTimeout, delayBeforeRetry, warmup opt[time.Duration]
	retry                                               opt[int]
	alpha                                               opt[bool]
}

// vsKind tells how a virtual_server names its service(s).
type vsKind int

const (
	vsAddr   vsKind = iota // virtual_server ADDR [PORT]
	vsFwmark               // virtual_server fwmark N
	vsGroup                // virtual_server group NAME
)

// virtualServer is a virtual_server block as written.
type virtualServer struct {
	at     pos
	kind   vsKind
	addr   netip.Addr
	port   uint16
	fwmark uint32
	group  string

	family      opt[int] // ip_family: 4 or 6
	sched       opt[string]
	flags       []stmt // flag-1 … mh-fallback
	ops         bool
	method      opt[vs.FwdMethod]
	persistence opt[uint32]
	granularity opt[string]
	proto       opt[vs.Proto]
	vhost       opt[string]
	omega       bool
	inhibit     bool
	quorum      opt[int]
	hysteresis  opt[int]
	quorumUp    opt[string]
	quorumDown  opt[string]
	weight      opt[int32]
	timing

	sorry        *realServer
	sorryInhibit opt[bool]
	sorryMethod  opt[vs.FwdMethod]
	laddrGroup   opt[string]
	reals        []*realServer
}

// realServer is a real_server block (or a sorry_server line).
type realServer struct {
	at         pos
	addr       netip.Addr
	port       uint16
	weight     opt[int32]
	method     opt[vs.FwdMethod]
	uthreshold uint32
	lthreshold uint32
	inhibit    opt[bool]
	notifyUp   opt[string]
	notifyDown opt[string]
	vhost      opt[string]
	timing
	checks []*checker
}

// checker is a checker block.
type checker struct {
	at      pos
	keyword string
	kind    config.CheckKind

	connectIP   opt[netip.Addr]
	connectPort opt[uint16]
	bindTo      opt[netip.Addr]
	timing

	urls      []*urlDef // HTTP_GET, SSL_GET
	vhost     opt[string]
	sni       opt[string]
	enableSNI bool

	payload      []byte // UDP_CHECK
	requireReply bool
	reply, mask  []byte
	minReply     opt[int]
	maxReply     opt[int]

	dnsType opt[string] // DNS_CHECK
	dnsName opt[string]

	helo  opt[string] // SMTP_CHECK
	hosts []*checker

	command     string // MISC_CHECK
	miscTimeout opt[time.Duration]
	dynamic     bool
	user        string
}

// urlDef is a url block.
type urlDef struct {
	at         pos
	path       opt[string]
	digest     string
	status     []int
	vhost      string
	regex      opt[string]
	regexFlags string
}

// group is a virtual_server_group.
type group struct {
	at      pos
	name    string
	entries []groupEntry
}

// groupEntry is an address (range) with a port, or a firewall mark.
type groupEntry struct {
	at          pos
	first, last netip.Addr // address entries; first == last for one
	port        uint16
	isMark      bool
	fwmark      uint32
	family      int // of a fwmark entry: 4, 6 or 0 (unspecified)
}

// laddrGroup is DPVS's local_address_group.
type laddrGroup struct {
	at    pos
	addrs []config.LocalAddr
}

// parsed is a configuration as written, before defaults and checks that
// need the whole file.
type parsed struct {
	timeouts *config.Timeouts
	sync     *config.SyncDaemon // global_defs lvs_sync_daemon (sync.go)
	groups   map[string]*group
	laddrs   map[string]*laddrGroup
	servers  []*virtualServer
	warnings []string

	vrrp        []*vrrpInstance
	vrrpGroups  []*vrrpSyncGroup // vrrpgroup.go
	vrrpScripts []*vrrpScriptDef // vrrpscript.go
	vrrpGlobal  vrrpGlobals
}

// stmt is a statement split into words.
type stmt struct {
	pos
	raw  string
	kw   string
	args []string
}

// quotedKeywords re-read their line with the script quoting rules, as
// keepalived's install_keyword_quoted keywords do.
var quotedKeywords = map[string]bool{
	"notify_up": true, "notify_down": true, "quorum_up": true, "quorum_down": true,
	"misc_path": true, "regex": true, "script": true,
}

// parser walks the items.
type parser struct {
	items []item
	i     int
	out   parsed
}

func (p *parser) warnf(at pos, format string, args ...any) {
	p.out.warnings = append(p.out.warnings, at.errf(format, args...).Error())
}

// stmt splits an item into words.
func (p *parser) stmt(it item) (stmt, error) {
	w, err := words(it.text)
	if err != nil {
		first := it.text
		if i := strings.IndexAny(first, " \t"); i >= 0 {
			first = first[:i]
		}
		if !quotedKeywords[first] {
			return stmt{}, it.errf("%v", err)
		}
		w = []string{first}
	}
	return stmt{pos: it.pos, raw: it.text, kw: w[0], args: w[1:]}, nil
}

// nargs checks the number of arguments.
func (s stmt) nargs(lo, hi int) error {
	switch {
	case len(s.args) < lo && lo == 1:
		return s.errf("%s: missing value", s.kw)
	case len(s.args) < lo:
		return s.errf("%s: needs %d values", s.kw, lo)
	case len(s.args) > hi && hi == 0:
		return s.errf("%s takes no value (got %q)", s.kw, s.args[0])
	case len(s.args) > hi:
		return s.errf("%s: unexpected %q (write one directive per line)", s.kw, s.args[hi])
	}
	return nil
}

// unknown is the error for a keyword a block does not have.
func (s stmt) unknown(block string) error {
	if checkerKinds[s.kw] != 0 || s.kw == "FILE_CHECK" || s.kw == "BFD_CHECK" {
		return s.errf("%s belongs in a real_server block, not in %s", s.kw, block)
	}
	return s.errf("unknown keyword %q in %s", s.kw, block)
}

// value returns the only argument.
func (s stmt) value() (string, error) {
	if err := s.nargs(1, 1); err != nil {
		return "", err
	}
	return s.args[0], nil
}

// flag reads an optional <BOOL> (absent: true).
func (s stmt) flag() (bool, error) {
	if err := s.nargs(0, 1); err != nil {
		return false, err
	}
	if len(s.args) == 0 {
		return true, nil
	}
	b, err := parseBool(s.args[0])
	if err != nil {
		return false, s.errf("%s: %v", s.kw, err)
	}
	return b, nil
}

// uint reads the only argument as a number in [lo, hi].
func (s stmt) uint(lo, hi uint64) (uint64, error) {
	v, err := s.value()
	if err != nil {
		return 0, err
	}
	n, err := parseUint(v, lo, hi)
	if err != nil {
		return 0, s.errf("%s: %v", s.kw, err)
	}
	return n, nil
}

// timer reads the only argument as a <TIMER> in [lo, hi] (hi 0: none).
func (s stmt) timer(lo, hi time.Duration) (time.Duration, error) {
	v, err := s.value()
	if err != nil {
		return 0, err
	}
	d, err := parseTimer(v)
	if err == nil && d < lo {
		err = fmt.Errorf("%q is below the minimum of %v", v, lo)
	}
	if err == nil && hi > 0 && d > hi {
		err = fmt.Errorf("%q is above the maximum of %v", v, hi)
	}
	if err != nil {
		return 0, s.errf("%s: %v", s.kw, err)
	}
	return d, nil
}

// addr reads an address argument.
func (s stmt) addr(i int) (netip.Addr, error) {
	a, err := parseAddr(s.args[i])
	if err != nil {
		return a, s.errf("%s: %v", s.kw, err)
	}
	return a, nil
}

// addrPort reads "ADDR [PORT]".
func (s stmt) addrPort() (netip.Addr, uint16, error) {
	if err := s.nargs(1, 2); err != nil {
		return netip.Addr{}, 0, err
	}
	a, err := s.addr(0)
	if err != nil {
		return a, 0, err
	}
	var port uint16
	if len(s.args) == 2 {
		if port, err = parsePort(s.args[1]); err != nil {
			return a, 0, s.errf("%s: %v", s.kw, err)
		}
	}
	return a, port, nil
}

// script reads a command keyword (notify_up …, misc_path): the line is
// split with the script quoting rules; the first word after the keyword
// is the command line, itself split with escapes into argv as keepalived
// does before execve. The result is argv written as a shell command line
// (see shellJoin). extra returns the words after the command.
func (s stmt) script() (cmd string, extra []string, err error) {
	w, err := shellWords(s.raw, false)
	if err == nil && len(w) < 2 {
		err = fmt.Errorf("missing command")
	}
	if err != nil {
		return "", nil, s.errf("%s: %v", s.kw, err)
	}
	argv, err := shellWords(w[1], true)
	if err == nil && len(argv) == 0 {
		err = fmt.Errorf("empty command")
	}
	if err != nil {
		return "", nil, s.errf("%s: %v", s.kw, err)
	}
	return shellJoin(argv), w[2:], nil
}

// notifyScript reads notify_up, notify_down, quorum_up and quorum_down.
func (s stmt) notifyScript(o *opt[string]) error {
	if o.set {
		return s.errf("%s is already set at line %d", s.kw, o.at.line)
	}
	cmd, extra, err := s.script()
	if err != nil {
		return err
	}
	if len(extra) > 0 {
		return s.errf("%s: running the script as user %q is not supported: it runs as gdirector's user (use sudo or runuser in the script)", s.kw, extra[0])
	}
	o.put(cmd, s.pos)
	return nil
}

// next returns the next item.
func (p *parser) next() (item, bool) {
	if p.i >= len(p.items) {
		return item{}, false
	}
	p.i++
	return p.items[p.i-1], true
}

// body reads the block that must follow st, calling fn for each of its
// statements.
func (p *parser) body(st stmt, fn func(stmt) error) error {
	if p.i >= len(p.items) || p.items[p.i].text != "{" {
		return st.errf("%s: expected '{' to open its block", st.kw)
	}
	p.i++
	for {
		it, ok := p.next()
		if !ok {
			return st.errf("%s: the block opened here is not closed (missing '}')", st.kw)
		}
		switch it.text {
		case "}":
			return nil
		case "{":
			return it.errf("unexpected '{' in %s", st.kw)
		}
		s, err := p.stmt(it)
		if err != nil {
			return err
		}
		if err := fn(s); err != nil {
			return err
		}
	}
}

// skip skips the block following st, if it has one.
func (p *parser) skip(st stmt) error {
	if p.i >= len(p.items) || p.items[p.i].text != "{" {
		return nil
	}
	depth := 0
	for ; p.i < len(p.items); p.i++ {
		switch p.items[p.i].text {
		case "{":
			depth++
		case "}":
			depth--
			if depth == 0 {
				p.i++
				return nil
			}
		}
	}
	return st.errf("%s: the block opened here is not closed (missing '}')", st.kw)
}

// skippedRoot are keepalived's top-level keywords that configure
// something else than IPVS (VRRP, BFD, addresses and routes, the
// process), with the reason their blocks are skipped.
var skippedRoot = map[string]string{
	"vrrp_track_file": vrrpLater, "vrrp_track_process": vrrpLater, "garp_group": vrrpLater,
	"track_group": vrrpLater, "linkbeat_interfaces": vrrpLater, "interface_up_down_delays": vrrpLater,
	"static_ipaddress": "gdirector does not manage static addresses", "static_routes": "gdirector does not manage static routes",
	"static_rules": "gdirector does not manage static rules", "bfd_instance": "BFD is not supported",
	"track_file":    "FILE_CHECK is not supported",
	"net_namespace": processSetting, "net_namespace_ipvs": processSetting, "namespace_with_ipsets": processSetting,
	"instance": processSetting, "use_pid_dir": processSetting, "child_wait_time": processSetting, "linkbeat_use_polling": processSetting,
}

const (
	vrrpLater      = "only vrrp_instance, vrrp_sync_group and vrrp_script blocks of VRRP are read"
	processSetting = "keepalived's process settings do not apply to gdirector"
)

// root reads the top level.
func (p *parser) root() error {
	p.out.groups = map[string]*group{}
	p.out.laddrs = map[string]*laddrGroup{}
	for {
		it, ok := p.next()
		if !ok {
			return nil
		}
		switch it.text {
		case "{":
			return it.errf("unexpected '{' outside any block")
		case "}":
			return it.errf("unexpected '}': no block is open")
		}
		s, err := p.stmt(it)
		if err != nil {
			return err
		}
		switch s.kw {
		case "virtual_server":
			err = p.virtualServer(s)
		case "virtual_server_group":
			err = p.group(s)
		case "local_address_group":
			err = p.laddrGroup(s)
		case "global_defs":
			err = p.body(s, p.globalDefs)
		case "vrrp_instance":
			err = p.vrrpInstance(s)
		case "vrrp_sync_group":
			err = p.vrrpSyncGroup(s)
		case "vrrp_script":
			err = p.vrrpScriptDef(s)
		case "SSL":
			err = p.body(s, func(st stmt) error {
				switch st.kw {
				case "password", "ca", "certificate", "key":
					return st.errf("SSL %s: client certificates and private CAs for SSL_GET are not supported", st.kw)
				}
				return st.unknown("SSL")
			})
		case "include", "includer", "includem", "includew", "includeb", "includea":
			if len(s.args) == 0 {
				return s.errf("%s: missing file name", s.kw)
			}
			err = s.errf("%s must stand on a line of its own, not come from parameter substitution", s.kw)
		default:
			why, ok := skippedRoot[s.kw]
			if !ok && strings.HasPrefix(s.kw, "vrrp_") {
				why, ok = vrrpLater, true
			}
			if !ok {
				return s.unknown("the top level")
			}
			p.warnf(s.pos, "%s ignored: %s", s.kw, why)
			err = p.skip(s)
		}
		if err != nil {
			return err
		}
	}
}

// globalDefs reads global_defs: lvs_timeouts is applied, a few settings
// that change how scripts or connection sync behave get a warning, the
// rest (mail, router id, VRRP defaults, …) is skipped.
func (p *parser) globalDefs(s stmt) error {
	if ok, err := p.vrrpGlobalDef(s); ok {
		return err
	}
	switch s.kw {
	case "lvs_timeouts":
		if len(s.args) == 0 {
			return s.errf("lvs_timeouts: needs at least one of tcp SECS, tcpfin SECS, udp SECS")
		}
		t := config.Timeouts{}
		if p.out.timeouts != nil {
			t = *p.out.timeouts
		}
		for i := 0; i < len(s.args); i += 2 {
			var d *time.Duration
			switch s.args[i] {
			case "tcp":
				d = &t.TCP
			case "tcpfin":
				d = &t.TCPFin
			case "udp":
				d = &t.UDP
			default:
				return s.errf("lvs_timeouts: unknown option %q (tcp, tcpfin or udp)", s.args[i])
			}
			if i+1 == len(s.args) {
				return s.errf("lvs_timeouts: %s needs a number of seconds", s.args[i])
			}
			v, err := parseUint(s.args[i+1], 0, 31*86400)
			if err != nil {
				return s.errf("lvs_timeouts %s: %v", s.args[i], err)
			}
			*d = time.Duration(v) * time.Second
		}
		p.out.timeouts = &t
		return nil
	case "lvs_sync_daemon":
		sd, err := parseSyncDaemon(s)
		if err != nil {
			return err
		}
		p.out.sync = sd
		return nil
	case "script_user":
		p.warnf(s.pos, "script_user ignored: notify and MISC_CHECK scripts run as gdirector's user")
	case "net_namespace":
		p.warnf(s.pos, "net_namespace ignored: gdirector runs in its own namespace")
	}
	return p.skip(s)
}

// schedulers are the schedulers keepalived accepts (lvs_schedulers).
var schedulers = []string{"rr", "wrr", "lc", "wlc", "lblc", "sh", "mh", "dh", "fo", "ovf", "lblcr", "sed", "nq", "twos"}

// checkerKinds maps checker keywords to kinds.
var checkerKinds = map[string]config.CheckKind{
	"TCP_CHECK": config.CheckTCP, "HTTP_GET": config.CheckHTTP, "SSL_GET": config.CheckHTTPS,
	"UDP_CHECK": config.CheckUDP, "PING_CHECK": config.CheckPing, "DNS_CHECK": config.CheckDNS,
	"SMTP_CHECK": config.CheckSMTP, "MISC_CHECK": config.CheckMisc,
}

// maxRetry bounds retry counts (keepalived's are unsigned ints; Go's int
// may be 32 bits).
const maxRetry = math.MaxInt32

// virtualServer reads a virtual_server block.
func (p *parser) virtualServer(s stmt) error {
	v := &virtualServer{at: s.pos}
	switch {
	case len(s.args) == 0:
		return s.errf("virtual_server: missing address, \"fwmark N\" or \"group NAME\"")
	case s.args[0] == "fwmark":
		if err := s.nargs(2, 2); err != nil {
			return err
		}
		m, err := parseUint(s.args[1], 1, fwmarkMax)
		if err != nil {
			return s.errf("virtual_server fwmark: %v", err)
		}
		v.kind, v.fwmark = vsFwmark, uint32(m)
	case s.args[0] == "group":
		if err := s.nargs(2, 2); err != nil {
			return err
		}
		v.kind, v.group = vsGroup, s.args[1]
	default:
		a, port, err := s.addrPort()
		if err != nil {
			return err
		}
		v.kind, v.addr, v.port = vsAddr, a, port
	}
	if err := p.body(s, func(st stmt) error { return p.vsStmt(v, st) }); err != nil {
		return err
	}
	p.out.servers = append(p.out.servers, v)
	return nil
}

// timingStmt reads the settings shared by the three levels (the checker
// level also takes retry 0).
func timingStmt(t *timing, s stmt, minRetry uint64) (bool, error) {
	var err error
	var d time.Duration
	switch s.kw {
	case "delay_loop":
		d, err = s.timer(time.Microsecond, 0)
		t.delayLoop.put(d, s.pos)
	case "connect_timeout":
		d, err = s.timer(time.Microsecond, math.MaxUint32*time.Microsecond)
		t.connectTimeout.put(d, s.pos)
	case "delay_before_retry":
		d, err = s.timer(0, 0)
		t.delayBeforeRetry.put(d, s.pos)
	case "warmup":
		d, err = s.timer(0, 0)
		t.warmup.put(d, s.pos)
	case "retry":
		var n uint64
		n, err = s.uint(minRetry, maxRetry)
		t.retry.put(int(n), s.pos)
	default:
		return false, nil
	}
	return true, err
}

// method reads lb_kind, lvs_method and sorry_server_lvs_method: NAT, DR,
// TUN (IPIP only) and DPVS's FNAT.
func method(s stmt) (vs.FwdMethod, error) {
	if len(s.args) == 0 {
		return 0, s.errf("%s: missing value (NAT, DR or TUN)", s.kw)
	}
	var m vs.FwdMethod
	switch s.args[0] {
	case "NAT":
		m = vs.Masq
	case "DR":
		m = vs.DirectRoute
	case "TUN":
		m = vs.Tunnel
	case "FNAT":
		m = vs.FullNAT
	case "SNAT":
		return 0, s.errf("%s SNAT (DPVS's source NAT) is not supported", s.kw)
	default:
		return 0, s.errf("%s: unknown forwarding method %q (NAT, DR, TUN or FNAT)", s.kw, s.args[0])
	}
	rest := s.args[1:]
	if m != vs.Tunnel {
		if len(rest) > 0 {
			return 0, s.errf("%s: unexpected %q", s.kw, rest[0])
		}
		return m, nil
	}
	for i := 0; i < len(rest); i++ {
		switch rest[i] {
		case "type":
			if i+1 == len(rest) {
				return 0, s.errf("%s: missing tunnel type", s.kw)
			}
			i++
			switch rest[i] {
			case "ipip":
			case "gue", "gre":
				return 0, s.errf("%s: tunnel type %s is not supported: gdirector encapsulates in IPIP only", s.kw, rest[i])
			default:
				return 0, s.errf("%s: unknown tunnel type %q", s.kw, rest[i])
			}
		case "nocsum":
		case "csum", "remcsum":
			return 0, s.errf("%s: %s needs a GUE or GRE tunnel, which is not supported", s.kw, rest[i])
		case "port":
			return 0, s.errf("%s: a tunnel port needs a GUE tunnel, which is not supported", s.kw)
		default:
			return 0, s.errf("%s: invalid tunnel option %q", s.kw, rest[i])
		}
	}
	return m, nil
}

// vsStmt reads a statement of a virtual_server block.
func (p *parser) vsStmt(v *virtualServer, s stmt) error {
	if ok, err := timingStmt(&v.timing, s, 1); ok {
		return err
	}
	var err error
	switch s.kw {
	case "ip_family":
		var f string
		if f, err = s.value(); err != nil {
			return err
		}
		fam := map[string]int{"inet": 4, "inet6": 6}[f]
		if fam == 0 {
			return s.errf("ip_family: unknown address family %q (inet or inet6)", f)
		}
		if v.kind == vsAddr && fam != family(v.addr) {
			return s.errf("ip_family %s conflicts with the address %s of the virtual server", f, v.addr)
		}
		v.family.put(fam, s.pos)
	case "inhibit_on_failure", "alpha", "omega", "ops", "hashed", "ha_suspend", "sorry_server_inhibit":
		if err = s.nargs(0, 0); err != nil {
			return err
		}
		switch s.kw {
		case "inhibit_on_failure":
			v.inhibit = true
		case "alpha":
			v.alpha.put(true, s.pos)
		case "omega":
			v.omega = true
		case "ops":
			v.ops = true
		case "ha_suspend":
			p.warnf(s.pos, "ha_suspend ignored: without VRRP the virtual address is always taken as present, so checks are never suspended")
		case "sorry_server_inhibit":
			v.sorryInhibit.put(true, s.pos)
		}
	case "flag-1", "flag-2", "flag-3", "sh-port", "sh-fallback", "mh-port", "mh-fallback":
		if err = s.nargs(0, 0); err != nil {
			return err
		}
		v.flags = append(v.flags, s)
	case "lb_algo", "lvs_sched":
		var name string
		if name, err = s.value(); err != nil {
			return err
		}
		if !slices.Contains(schedulers, name) {
			return s.errf("%s: unknown scheduler %q (one of %s)", s.kw, name, strings.Join(schedulers, " "))
		}
		v.sched.put(name, s.pos)
	case "lb_kind", "lvs_method":
		var m vs.FwdMethod
		if m, err = method(s); err != nil {
			return err
		}
		v.method.put(m, s.pos)
	case "sorry_server_lvs_method":
		var m vs.FwdMethod
		if m, err = method(s); err != nil {
			return err
		}
		v.sorryMethod.put(m, s.pos)
	case "persistence_engine":
		return s.errf("persistence_engine is not supported: gdirector has no persistence engines")
	case "persistence_timeout":
		if err = s.nargs(0, 1); err != nil {
			return err
		}
		t := uint64(360) // ipvsadm's and keepalived's default
		if len(s.args) == 1 {
			if t, err = parseUint(s.args[0], 1, 31*86400); err != nil {
				return s.errf("persistence_timeout: %v", err)
			}
		}
		v.persistence.put(uint32(t), s.pos)
	case "persistence_granularity":
		var g string
		if g, err = s.value(); err != nil {
			return err
		}
		v.granularity.put(g, s.pos)
	case "protocol":
		var pr string
		if pr, err = s.value(); err != nil {
			return err
		}
		switch strings.ToUpper(pr) {
		case "TCP":
			v.proto.put(vs.TCP, s.pos)
		case "UDP":
			v.proto.put(vs.UDP, s.pos)
		case "SCTP":
			v.proto.put(vs.SCTP, s.pos)
		default:
			return s.errf("protocol: unknown protocol %q (TCP, UDP or SCTP)", pr)
		}
	case "smtp_alert":
		var on bool
		if on, err = s.flag(); err == nil && on {
			p.warnf(s.pos, "smtp_alert ignored: gdirector sends no mail")
		}
	case "snmp_name":
		_, err = s.value()
	case "virtualhost":
		var h string
		if h, err = s.value(); err == nil {
			v.vhost.put(h, s.pos)
		}
	case "quorum_up":
		err = s.notifyScript(&v.quorumUp)
	case "quorum_down":
		err = s.notifyScript(&v.quorumDown)
	case "quorum":
		var n uint64
		if n, err = s.uint(1, math.MaxInt32); err == nil {
			v.quorum.put(int(n), s.pos)
		}
	case "hysteresis":
		var n uint64
		if n, err = s.uint(0, math.MaxInt32); err == nil {
			v.hysteresis.put(int(n), s.pos)
		}
	case "weight":
		var n uint64
		if n, err = s.uint(1, math.MaxInt32); err == nil {
			v.weight.put(int32(n), s.pos)
		}
	case "sorry_server":
		var a netip.Addr
		var port uint16
		if a, port, err = s.addrPort(); err == nil {
			v.sorry = &realServer{at: s.pos, addr: a, port: port}
		}
	case "laddr_group_name":
		var name string
		if name, err = s.value(); err == nil {
			v.laddrGroup.put(name, s.pos)
		}
	case "real_server":
		var r *realServer
		if r, err = p.realServer(s); err == nil {
			v.reals = append(v.reals, r)
		}
	default:
		return s.unknown("virtual_server")
	}
	return err
}

// family is 4 or 6.
func family(a netip.Addr) int {
	if a.Is4() {
		return 4
	}
	return 6
}

// realServer reads a real_server block.
func (p *parser) realServer(s stmt) (*realServer, error) {
	a, port, err := s.addrPort()
	if err != nil {
		return nil, err
	}
	r := &realServer{at: s.pos, addr: a, port: port}
	lthr := opt[uint32]{}
	err = p.body(s, func(st stmt) error {
		if ok, err := timingStmt(&r.timing, st, 1); ok {
			return err
		}
		var err error
		switch st.kw {
		case "weight":
			var n uint64
			if n, err = st.uint(0, math.MaxInt32); err == nil {
				r.weight.put(int32(n), st.pos)
			}
		case "lvs_method":
			var m vs.FwdMethod
			if m, err = method(st); err == nil {
				r.method.put(m, st.pos)
			}
		case "uthreshold", "lthreshold":
			var n uint64
			if n, err = st.uint(0, math.MaxUint32); err == nil {
				if st.kw == "uthreshold" {
					r.uthreshold = uint32(n)
				} else {
					r.lthreshold = uint32(n)
					lthr.put(uint32(n), st.pos)
				}
			}
		case "inhibit_on_failure":
			var on bool
			if on, err = st.flag(); err == nil {
				r.inhibit.put(on, st.pos)
			}
		case "alpha":
			var on bool
			if on, err = st.flag(); err == nil {
				r.alpha.put(on, st.pos)
			}
		case "notify_up":
			err = st.notifyScript(&r.notifyUp)
		case "notify_down":
			err = st.notifyScript(&r.notifyDown)
		case "smtp_alert":
			var on bool
			if on, err = st.flag(); err == nil && on {
				p.warnf(st.pos, "smtp_alert ignored: gdirector sends no mail")
			}
		case "snmp_name":
			_, err = st.value()
		case "virtualhost":
			var h string
			if h, err = st.value(); err == nil {
				r.vhost.put(h, st.pos)
			}
		case "FILE_CHECK", "BFD_CHECK":
			return st.errf("%s is not supported (only TCP_CHECK, HTTP_GET, SSL_GET, UDP_CHECK, PING_CHECK, DNS_CHECK, SMTP_CHECK and MISC_CHECK are)", st.kw)
		default:
			kind := checkerKinds[st.kw]
			if kind == 0 {
				return st.unknown("real_server")
			}
			var c *checker
			if c, err = p.checker(st, kind); err == nil {
				r.checks = append(r.checks, c)
			}
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	if r.lthreshold > r.uthreshold {
		return nil, lthr.at.errf("lthreshold %d is above uthreshold %d (the kernel refuses it)", r.lthreshold, r.uthreshold)
	}
	return r, nil
}
