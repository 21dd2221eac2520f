package ldirectord

import (
	"fmt"
	"net/netip"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/gdirector/gdirector/config"
	"github.com/gdirector/gdirector/sched"
)

// Parse reads the ldirectord.cf in data (path names it in errors and
// warnings; it is not opened) and returns the configuration it describes,
// or an error naming the line at fault.
func Parse(path string, data []byte) (*config.Config, error) {
	p := &parser{path: path}
	if err := p.scan(string(data)); err != nil {
		return nil, err
	}
	return p.build()
}

// Limits that keep a hostile file from costing much.
const (
	maxSeconds  = 31 * 86400 // any timeout or interval
	maxCount    = 1000       // failurecount, checkcount
	maxConnects = 1000000    // checktype=N
	maxPersist  = 31 * 86400 // ipvsadm's bound on -p
	maxReals    = 65536      // real servers in the whole file
	// maxServiceReals bounds the real servers of one virtual service,
	// and so the cost of applying it (the Manager's checks are linear
	// per real server); a range cannot be longer.
	maxServiceReals = 4096
	maxRange        = maxServiceReals
)

// num is a numeric setting and the line that set it (0: not set).
type num struct {
	val  int
	line int
}

// text is a string setting and the line that set it (0: not set).
type text struct {
	val  string
	line int
}

// yesNo is a yes/no setting and the line that set it (0: not set).
type yesNo struct {
	val  bool
	line int
}

// checkTiming are the check timing settings, global or of one virtual
// section (which overrides the global ones).
type checkTiming struct {
	checkTimeout, negotiateTimeout, checkInterval num
	failureCount, checkCount                      num
}

// globals are the settings outside virtual sections.
type globals struct {
	checkTiming
	fallback, fallback6 *fallbackSpec
	fallbackCommand     text
	quiescent           yesNo
	fork                yesNo
	autoReload          bool
}

// virtual is one virtual section as written.
type virtual struct {
	line  int
	name  string // the value of virtual=
	v6    bool   // virtual6=
	mark  uint32 // firewall mark, or 0
	addr  netip.Addr
	port  uint16
	reals []realSpec

	protocol         text // tcp, udp, fwm
	service          text
	checkType        text // connect, negotiate, ..., or "combined"
	numConnects      int  // checktype=N
	checkCommand     text
	request, receive text
	virtualHost      text
	httpMethod       text
	checkTiming
	checkPort       num
	scheduler       text
	persistent      num
	netmask         text
	schedFlags      text
	ops             yesNo
	fallback        *fallbackSpec
	fallbackCommand text
	quiescent       yesNo
}

// realSpec is one real= line: one real server, or a range of them.
type realSpec struct {
	line        int
	first, last netip.Addr // last == first without a range
	port        uint16     // as written; 0 if none
	fwd         string     // gate, masq, ipip
	weight      int32
	lower       uint32 // l:N (-y)
	upper       uint32 // u:N (-x)
	// request and receive override the section's when hasCheck.
	hasCheck         bool
	request, receive string
}

// fallbackSpec is a fallback= value.
type fallbackSpec struct {
	line    int
	addr    netip.Addr
	port    uint16
	hasPort bool
	fwd     string
}

type parser struct {
	path     string
	g        globals
	virtuals []*virtual
	warnings []string
	reals    int // real servers built so far
}

func (p *parser) errorf(line int, format string, args ...any) error {
	return config.Errorf(p.path, line, format, args...)
}

func (p *parser) warnf(line int, format string, args ...any) {
	p.warnings = append(p.warnings, config.Errorf(p.path, line, format, args...).Error())
}

// scan reads the lines into globals and virtual sections.
func (p *parser) scan(data string) error {
	var cur *virtual
	for i, raw := range strings.Split(data, "\n") {
		n := i + 1
		raw = strings.TrimSuffix(raw, "\r")
		indent, rest := splitIndent(raw)
		body := stripComment(rest)
		if body == "" {
			continue // blank or comment
		}
		key, val, hasEq := splitDirective(body)
		if key == "" {
			return p.errorf(n, "expected a directive name=value, not %q", clip(body))
		}
		switch {
		case indent == 0:
			cur = nil
			if !hasEq && key != "supervised" {
				return p.errorf(n, "%s: expected %s=value", key, key)
			}
			if key == "virtual" || key == "virtual6" {
				v, err := p.newVirtual(n, key, val)
				if err != nil {
					return err
				}
				cur = v
				continue
			}
			if err := p.global(n, key, val, hasEq); err != nil {
				return err
			}
		case indent < 4:
			return p.errorf(n, "%s= is indented by %d column(s): lines of a virtual section need 4 spaces or a tab, global directives none", key, indent)
		case cur == nil:
			if virtualOnly[key] {
				return p.errorf(n, "%s= is indented but there is no virtual= line before it", key)
			}
			return p.errorf(n, "indented line outside a virtual section (global directives are not indented)")
		default:
			if !hasEq {
				return p.errorf(n, "%s: expected %s=value", key, key)
			}
			if err := p.member(cur, n, key, val); err != nil {
				return err
			}
		}
	}
	return nil
}

// splitIndent returns the indentation of a line in columns (a tab is 4,
// as ldirectord replaces each tab with 4 spaces) and the rest.
func splitIndent(s string) (int, string) {
	n := 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case ' ':
			n++
		case '\t':
			n += 4
		default:
			return n, s[i:]
		}
	}
	return n, ""
}

// stripComment removes a '#' comment standing outside double quotes and
// the blanks around what is left.
func stripComment(s string) string {
	in := false
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '"':
			in = !in
		case '#':
			if !in {
				return strings.TrimSpace(s[:i])
			}
		}
	}
	return strings.TrimSpace(s)
}

// splitDirective splits "name = value". key is "" when the line does not
// start with a name.
func splitDirective(s string) (key, val string, hasEq bool) {
	i := 0
	for i < len(s) && (isAlnum(s[i]) || s[i] == '_' || s[i] == '-') {
		i++
	}
	if i == 0 {
		return "", "", false
	}
	key = s[:i]
	rest := strings.TrimLeft(s[i:], " \t")
	if rest == "" {
		return key, "", false
	}
	if rest[0] != '=' {
		return "", "", false
	}
	return key, strings.TrimSpace(rest[1:]), true
}

func isAlnum(b byte) bool {
	return b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= '0' && b <= '9'
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// clip shortens a value quoted in a message.
func clip(s string) string {
	if len(s) > 60 {
		return s[:57] + "..."
	}
	return s
}

// globalOnly and virtualOnly name the directives that belong to one place,
// for the messages about the other.
var (
	globalOnly = map[string]bool{
		"autoreload": true, "callback": true, "logfile": true, "execute": true,
		"fork": true, "supervised": true, "readdquiescent": true,
		"emailalertfrom": true, "maintenancedir": true,
	}
	virtualOnly = map[string]bool{
		"real": true, "real6": true, "request": true, "receive": true,
		"checktype": true, "checkcommand": true, "checkport": true,
		"login": true, "passwd": true, "database": true, "secret": true,
		"load": true, "scheduler": true, "persistent": true, "schedflags": true,
		"netmask": true, "protocol": true, "ops": true, "service": true,
		"httpmethod": true, "virtualhost": true, "monitorfile": true,
		"servicename": true, "comment": true,
	}
)

// timing handles the check timing directives, which are allowed both
// globally and in a virtual section; handled is false for other keys.
func (p *parser) timing(t *checkTiming, n int, key, val string) (handled bool, err error) {
	switch key {
	case "checktimeout":
		return true, p.seconds(&t.checkTimeout, n, key, val)
	case "connecttimeout":
		p.warnf(n, "connecttimeout is deprecated (ldirectord refuses it): read as checktimeout")
		return true, p.seconds(&t.checkTimeout, n, key, val)
	case "negotiatetimeout":
		return true, p.seconds(&t.negotiateTimeout, n, key, val)
	case "checkinterval":
		return true, p.seconds(&t.checkInterval, n, key, val)
	case "failurecount":
		return true, p.count(&t.failureCount, n, key, val)
	case "checkcount":
		p.warnf(n, "checkcount is deprecated in ldirectord (see failurecount); it only counts ping attempts")
		return true, p.count(&t.checkCount, n, key, val)
	}
	return false, nil
}

// global handles a directive outside virtual sections.
func (p *parser) global(n int, key, val string, hasEq bool) error {
	g := &p.g
	if ok, err := p.timing(&g.checkTiming, n, key, val); ok {
		return err
	}
	switch key {
	case "fallback", "fallback6":
		f, err := p.fallback(n, key, val, key == "fallback6", nil)
		if err != nil {
			return err
		}
		if key == "fallback" {
			g.fallback = f
		} else {
			g.fallback6 = f
		}
	case "fallbackcommand":
		return p.command(&g.fallbackCommand, n, key, val)
	case "autoreload":
		var b yesNo
		if err := p.yesNo(&b, n, key, val); err != nil {
			return err
		}
		g.autoReload = b.val
	case "fork":
		return p.yesNo(&g.fork, n, key, val)
	case "supervised":
		if !hasEq {
			return nil // a bare "supervised" is yes in ldirectord
		}
		var b yesNo
		return p.yesNo(&b, n, key, val)
	case "quiescent":
		return p.yesNo(&g.quiescent, n, key, val)
	case "readdquiescent":
		var b yesNo
		return p.yesNo(&b, n, key, val)
	case "cleanstop":
		return p.cleanstop(n, val)
	case "callback":
		if _, err := p.quoted(n, key, val); err != nil {
			return err
		}
		p.warnf(n, "callback is ignored: gdirector runs no command when the file changes")
	case "logfile":
		if unquote(val) == "" {
			return p.errorf(n, "logfile: no file or syslog facility given")
		}
		p.warnf(n, "logfile is ignored: gdirector logs through its own log")
	case "emailalert", "emailalertfreq", "emailalertstatus", "emailalertfrom", "smtp":
		return p.notification(n, key, val)
	case "execute":
		return p.errorf(n, "unsupported: execute=%s starts ldirectord for another configuration file; load that file on its own", clip(val))
	case "maintenancedir":
		return p.errorf(n, "unsupported: maintenancedir: gdirector has no maintenance directory, so real servers put in maintenance there would still get traffic; remove the directive and set their weight to 0 instead (ipvsadm -e ... -w 0)")
	case "timeout":
		return p.errorf(n, "timeout is obsolete in ldirectord: use checktimeout and negotiatetimeout")
	default:
		if virtualOnly[key] {
			return p.errorf(n, "%s= belongs to a virtual section: indent it under a virtual= line", key)
		}
		return p.unknown(n, key)
	}
	return nil
}

func (p *parser) unknown(n int, key string) error {
	if l := strings.ToLower(key); l != key && (globalOnly[l] || virtualOnly[l] || l == "virtual" || l == "checktimeout") {
		return p.errorf(n, "unknown directive %q (directive names are lower case: %s)", key, l)
	}
	return p.errorf(n, "unknown directive %q", key)
}

// newVirtual opens a virtual section.
func (p *parser) newVirtual(n int, key, val string) (*virtual, error) {
	v := &virtual{line: n, name: val, v6: key == "virtual6"}
	switch {
	case val == "":
		return nil, p.errorf(n, "%s: no address given", key)
	case isDigits(val):
		m, err := strconv.ParseUint(val, 10, 32)
		if err != nil || m == 0 {
			return nil, p.errorf(n, "%s=%s: a firewall mark is a number from 1 to 4294967295", key, clip(val))
		}
		v.mark = uint32(m)
	default:
		host, port, ok := splitPort(val)
		if !ok {
			return nil, p.errorf(n, "%s=%s: expected ADDRESS:PORT or a firewall mark", key, clip(val))
		}
		a, err := p.host(n, key, host, v.v6)
		if err != nil {
			return nil, err
		}
		v.addr = a
		proto := "tcp"
		if port == "53" || port == "domain" {
			proto = "udp"
		}
		pn, err := p.portNumber(n, key, port, proto)
		if err != nil {
			return nil, err
		}
		v.port = pn
	}
	p.virtuals = append(p.virtuals, v)
	return v, nil
}

// splitPort splits HOST:PORT, where HOST may be an IPv6 address in
// brackets; ok is false without a port.
func splitPort(s string) (host, port string, ok bool) {
	if strings.HasPrefix(s, "[") {
		end := strings.IndexByte(s, ']')
		if end < 0 || end+1 >= len(s) || s[end+1] != ':' {
			return "", "", false
		}
		return s[:end+1], s[end+2:], end+2 < len(s)
	}
	i := strings.LastIndexByte(s, ':')
	if i <= 0 || i == len(s)-1 {
		return "", "", false
	}
	return s[:i], s[i+1:], true
}

// host reads an address: IPv4 for virtual=, real=, fallback=; IPv6 in
// brackets for their "6" forms.
func (p *parser) host(n int, key, s string, v6 bool) (netip.Addr, error) {
	if strings.HasPrefix(s, "[") && strings.HasSuffix(s, "]") {
		a, err := netip.ParseAddr(s[1 : len(s)-1])
		if err != nil || !a.Is6() || a.Zone() != "" || a.Is4In6() {
			return netip.Addr{}, p.errorf(n, "%s: invalid IPv6 address %s", key, clip(s))
		}
		if !v6 {
			return netip.Addr{}, p.errorf(n, "%s: cannot take an IPv6 address; use %s6", key, key)
		}
		return a, nil
	}
	a, err := netip.ParseAddr(s)
	switch {
	case err == nil && a.Is4():
		if v6 {
			return netip.Addr{}, p.errorf(n, "%s: %s is an IPv4 address; use %s", key, s, strings.TrimSuffix(key, "6"))
		}
		return a, nil
	case err == nil:
		return netip.Addr{}, p.errorf(n, "%s: IPv6 addresses go in brackets ([%s])", key, s)
	}
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-") == "" {
		return netip.Addr{}, p.errorf(n, "%s: host name %q is not resolved (gdirector reads its configuration without DNS): write the address", key, clip(s))
	}
	return netip.Addr{}, p.errorf(n, "%s: invalid address %q", key, clip(s))
}

// portNumber reads a port: a number 0..65535 or a name of the services
// table for proto ("" = tcp, then udp).
func (p *parser) portNumber(n int, key, s, proto string) (uint16, error) {
	if isDigits(s) {
		v, err := strconv.ParseUint(s, 10, 16)
		if err != nil {
			return 0, p.errorf(n, "%s: port %s out of range 0..65535", key, clip(s))
		}
		return uint16(v), nil
	}
	for _, pr := range []string{"tcp", "udp"} {
		if proto != "" && pr != proto {
			continue
		}
		if v, ok := servicePorts.Port(s, pr); ok {
			return v, nil
		}
	}
	return 0, p.errorf(n, "%s: unknown port name %q (use a number)", key, clip(s))
}

// member handles a directive of a virtual section.
func (p *parser) member(v *virtual, n int, key, val string) error {
	if ok, err := p.timing(&v.checkTiming, n, key, val); ok {
		return err
	}
	switch key {
	case "real", "real6":
		if (key == "real6") != v.v6 {
			return p.errorf(n, "cannot use %s= in a %s section: use %s=", key, familyKey("virtual", v.v6), familyKey("real", v.v6))
		}
		r, err := p.real(n, key, val, v.v6)
		if err != nil {
			return err
		}
		v.reals = append(v.reals, r)
	case "fallback", "fallback6":
		if (key == "fallback6") != v.v6 {
			return p.errorf(n, "cannot use %s= in a %s section: use %s=", key, familyKey("virtual", v.v6), familyKey("fallback", v.v6))
		}
		f, err := p.fallback(n, key, val, v.v6, v)
		if err != nil {
			return err
		}
		v.fallback = f
	case "request":
		s, err := p.quoted(n, key, val)
		if err != nil {
			return err
		}
		if s == "" {
			return p.errorf(n, "request: no request string given")
		}
		v.request = text{slashed(s), n}
	case "receive":
		s, err := p.quoted(n, key, val)
		if err != nil {
			return err
		}
		if s == "" {
			return p.errorf(n, "receive: no receive expression given")
		}
		if err := checkRegexp(s); err != nil {
			return p.errorf(n, "receive: %v", err)
		}
		v.receive = text{s, n}
	case "checktype":
		switch val {
		case "connect", "negotiate", "ping", "off", "on", "external", "external-perl":
			v.checkType, v.numConnects = text{val, n}, 0
		default:
			if !isDigits(val) {
				return p.errorf(n, "checktype must be connect, negotiate, on, off, ping, external, external-perl or a number, not %q", clip(val))
			}
			c, err := strconv.Atoi(val)
			if err != nil || c > maxConnects {
				return p.errorf(n, "checktype=%s: at most %d connect checks between negotiate checks", clip(val), maxConnects)
			}
			v.checkType, v.numConnects = text{"combined", n}, c
		}
	case "checkcommand":
		return p.command(&v.checkCommand, n, key, val)
	case "checkport":
		c, err := strconv.Atoi(val)
		if err != nil || !isDigits(val) || c < 1 || c > 65535 {
			return p.errorf(n, "checkport must be a port from 1 to 65535, not %q", clip(val))
		}
		v.checkPort = num{c, n}
	case "login", "passwd", "database", "secret":
		s, err := p.quoted(n, key, val)
		if err != nil {
			return err
		}
		if s == "" {
			return p.errorf(n, "%s: empty value", key)
		}
	case "load":
		if _, err := p.quoted(n, key, val); err != nil {
			return err
		}
		p.warnf(n, "load is ignored (ldirectord does not use it either)")
	case "scheduler":
		if val == "" || strings.Trim(val, "abcdefghijklmnopqrstuvwxyz") != "" {
			return p.errorf(n, "invalid scheduler %q: lower-case letters only", clip(val))
		}
		if !slices.Contains(sched.Names(), val) {
			return p.errorf(n, "unknown scheduler %q (%s)", clip(val), strings.Join(sched.Names(), " "))
		}
		v.scheduler = text{val, n}
	case "persistent":
		c, err := strconv.Atoi(val)
		if err != nil || !isDigits(val) || c < 1 || c > maxPersist {
			return p.errorf(n, "persistent must be a timeout from 1 to %d seconds, not %q", maxPersist, clip(val))
		}
		v.persistent = num{c, n}
	case "schedflags":
		if val == "" {
			return p.errorf(n, "schedflags: no flags given")
		}
		v.schedFlags = text{val, n}
	case "netmask":
		if v.v6 {
			c, err := strconv.Atoi(val)
			if err != nil || !isDigits(val) || c < 1 || c > 128 {
				return p.errorf(n, "invalid netmask %q: a prefix length between 1 and 128 is required", clip(val))
			}
		} else if a, err := netip.ParseAddr(val); err != nil || !a.Is4() {
			return p.errorf(n, "invalid netmask %q: dotted quad notation is required", clip(val))
		}
		v.netmask = text{val, n}
	case "protocol":
		switch {
		case v.mark != 0 && val != "fwm":
			return p.errorf(n, "protocol must be fwm when the virtual service is a firewall mark, not %q", clip(val))
		case v.mark == 0 && val != "tcp" && val != "udp":
			return p.errorf(n, "protocol must be tcp or udp when the virtual service is an address and port, not %q", clip(val))
		}
		v.protocol = text{val, n}
	case "ops":
		return p.yesNo(&v.ops, n, key, val)
	case "service":
		if !knownServices[val] {
			return p.errorf(n, "unknown service %q: ldirectord knows %s", clip(val), strings.Join(serviceList, ", "))
		}
		v.service = text{val, n}
	case "httpmethod":
		m := strings.ToUpper(val)
		if m != "GET" && m != "HEAD" {
			return p.errorf(n, "httpmethod must be GET or HEAD, not %q", clip(val))
		}
		v.httpMethod = text{m, n}
	case "virtualhost":
		h := val
		if strings.HasPrefix(h, `"`) {
			h = strings.TrimPrefix(h, `"`)
			h, _, _ = strings.Cut(h, `"`)
		}
		if strings.ContainsAny(h, " \t\r\n") {
			return p.errorf(n, "virtualhost %q: a host name has no blanks", clip(h))
		}
		v.virtualHost = text{h, n}
	case "fallbackcommand":
		return p.command(&v.fallbackCommand, n, key, val)
	case "quiescent":
		return p.yesNo(&v.quiescent, n, key, val)
	case "cleanstop":
		return p.cleanstop(n, val)
	case "emailalert", "emailalertfreq", "emailalertstatus", "smtp":
		return p.notification(n, key, val)
	case "monitorfile":
		if unquote(val) == "" {
			return p.errorf(n, "monitorfile: no file given")
		}
		p.warnf(n, "monitorfile is ignored: gdirector logs check results through its own log")
	case "servicename", "comment":
		// Labels for e-mail alerts.
	case "virtual", "virtual6":
		return p.errorf(n, "%s= must not be indented", key)
	default:
		if globalOnly[key] {
			return p.errorf(n, "%s is a global directive: it cannot be inside a virtual section", key)
		}
		return p.unknown(n, key)
	}
	return nil
}

func familyKey(k string, v6 bool) string {
	if v6 {
		return k + "6"
	}
	return k
}

// slashed prefixes a request with '/' as ldirectord does.
func slashed(s string) string {
	if strings.HasPrefix(s, "/") {
		return s
	}
	return "/" + s
}

func checkRegexp(s string) error {
	if _, err := regexp.Compile(s); err != nil {
		return fmt.Errorf("%q is not a regular expression gdirector can use (Go RE2 syntax): %v", clip(s), err)
	}
	return nil
}

// quoted reads a value that must be in double quotes.
func (p *parser) quoted(n int, key, val string) (string, error) {
	if len(val) < 2 || val[0] != '"' || val[len(val)-1] != '"' {
		return "", p.errorf(n, "%s needs a value in double quotes: %s=\"...\"", key, key)
	}
	return val[1 : len(val)-1], nil
}

// unquote strips the double quotes of an optionally quoted value.
func unquote(val string) string {
	if len(val) >= 2 && val[0] == '"' && val[len(val)-1] == '"' {
		return val[1 : len(val)-1]
	}
	return val
}

func (p *parser) command(t *text, n int, key, val string) error {
	s := unquote(val)
	if s == "" {
		return p.errorf(n, "%s: no command given", key)
	}
	*t = text{s, n}
	return nil
}

func (p *parser) seconds(t *num, n int, key, val string) error {
	c, err := strconv.Atoi(val)
	if err != nil || !isDigits(val) || c < 1 || c > maxSeconds {
		return p.errorf(n, "%s must be a number of seconds from 1 to %d, not %q", key, maxSeconds, clip(val))
	}
	*t = num{c, n}
	return nil
}

func (p *parser) count(t *num, n int, key, val string) error {
	c, err := strconv.Atoi(val)
	if err != nil || !isDigits(val) || c < 1 || c > maxCount {
		return p.errorf(n, "%s must be a number from 1 to %d, not %q", key, maxCount, clip(val))
	}
	*t = num{c, n}
	return nil
}

func (p *parser) yesNo(b *yesNo, n int, key, val string) error {
	switch val {
	case "yes":
		*b = yesNo{true, n}
	case "no":
		*b = yesNo{false, n}
	default:
		return p.errorf(n, "%s must be 'yes' or 'no', not %q", key, clip(val))
	}
	return nil
}

func (p *parser) cleanstop(n int, val string) error {
	var b yesNo
	if err := p.yesNo(&b, n, "cleanstop", val); err != nil {
		return err
	}
	if !b.val {
		p.warnf(n, "cleanstop=no cannot be honoured: gdirector's virtual services live in the daemon and end with it")
	}
	return nil
}

func (p *parser) notification(n int, key, val string) error {
	switch key {
	case "emailalertfreq":
		if !isDigits(val) {
			return p.errorf(n, "emailalertfreq must be a number of seconds, not %q", clip(val))
		}
	case "emailalertstatus":
		for w := range strings.SplitSeq(val, ",") {
			switch strings.TrimSpace(w) {
			case "all", "none", "starting", "running", "stopping", "reloading":
			default:
				return p.errorf(n, "emailalertstatus: unknown status %q (all, none, starting, running, stopping, reloading)", clip(strings.TrimSpace(w)))
			}
		}
	default:
		if unquote(val) == "" {
			return p.errorf(n, "%s: no value given", key)
		}
	}
	p.warnf(n, "%s is ignored: gdirector sends no e-mail alerts", key)
	return nil
}
