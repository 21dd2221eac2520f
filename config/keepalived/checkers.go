package keepalived

import (
	"math"
	"net/netip"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/gdirector/gdirector/config"
)

// regexFlags maps keepalived's (PCRE2) regex_options to Go's flags; ""
// marks options that change nothing a health check can see.
var regexFlags = map[string]string{
	"caseless": "i", "multiline": "m", "dotall": "s", "ungreedy": "U",
	"no_auto_capture": "", "no_auto_possess": "", "no_dotstar_anchor": "", "no_start_optimize": "",
	"utf": "", "ucp": "", "never_backslash_c": "", "dupnames": "",
}

// checker reads a checker block.
func (p *parser) checker(s stmt, kind config.CheckKind) (*checker, error) {
	if err := s.nargs(0, 0); err != nil {
		return nil, err
	}
	c := &checker{at: s.pos, keyword: s.kw, kind: kind}
	err := p.body(s, func(st stmt) error { return p.checkerStmt(c, st) })
	if err != nil {
		return nil, err
	}
	switch kind {
	case config.CheckHTTP, config.CheckHTTPS:
		if len(c.urls) == 0 {
			return nil, s.errf("%s needs at least one url block", s.kw)
		}
	case config.CheckUDP:
		if c.minReply.or(0) > c.maxReply.or(255) {
			return nil, s.errf("UDP_CHECK: min_reply_length %d is above max_reply_length %d: the check could never pass", c.minReply.or(0), c.maxReply.or(255))
		}
	case config.CheckMisc:
		if c.command == "" {
			return nil, s.errf("MISC_CHECK needs misc_path")
		}
	}
	return c, nil
}

// connStmt reads the connection options of a checker (or of an SMTP
// host block).
func connStmt(c *checker, st stmt) (bool, error) {
	var err error
	switch st.kw {
	case "connect_ip", "bindto":
		if err = st.nargs(1, 1); err != nil {
			return true, err
		}
		var a netip.Addr
		if a, err = st.addr(0); err != nil {
			return true, err
		}
		other := c.bindTo
		if st.kw == "bindto" {
			other = c.connectIP
		}
		if other.set && family(other.v) != family(a) {
			return true, st.errf("%s %s: the address family differs from line %d's", st.kw, a, other.at.line)
		}
		if st.kw == "connect_ip" {
			if a.Is6() && a.IsLinkLocalUnicast() {
				return true, st.errf("connect_ip %s: a link-local address needs bind_if, which is not supported", a)
			}
			c.connectIP.put(a, st.pos)
		} else {
			c.bindTo.put(a, st.pos)
		}
	case "connect_port":
		var n uint64
		if n, err = st.uint(1, 65535); err == nil {
			c.connectPort.put(uint16(n), st.pos)
		}
	case "connect_timeout":
		var d time.Duration
		if d, err = st.timer(time.Microsecond, math.MaxUint32*time.Microsecond); err == nil {
			c.connectTimeout.put(d, st.pos)
		}
	case "bind_port", "bind_if", "fwmark":
		return true, st.errf("%s is not supported in a checker: checks use the system's choice of source port and interface, without a mark", st.kw)
	default:
		return false, nil
	}
	return true, err
}

// checkerStmt reads a statement of a checker block.
func (p *parser) checkerStmt(c *checker, st stmt) error {
	if c.kind != config.CheckMisc {
		if ok, err := connStmt(c, st); ok {
			return err
		}
	} else if st.kw == "connect_timeout" {
		return st.errf("connect_timeout is not valid in MISC_CHECK: use misc_timeout")
	}
	if st.kw != "connect_timeout" {
		if ok, err := timingStmt(&c.timing, st, 0); ok {
			return err
		}
	}
	var err error
	switch st.kw {
	case "alpha":
		var on bool
		if on, err = st.flag(); err == nil {
			c.alpha.put(on, st.pos)
		}
		return err
	case "log_all_failures":
		_, err = st.flag()
		return err
	}
	switch c.kind {
	case config.CheckHTTP, config.CheckHTTPS:
		return p.httpStmt(c, st)
	case config.CheckUDP:
		return udpStmt(c, st)
	case config.CheckDNS:
		return dnsStmt(c, st)
	case config.CheckSMTP:
		return p.smtpStmt(c, st)
	case config.CheckMisc:
		return miscStmt(c, st)
	}
	return st.unknown(c.keyword)
}

// httpStmt reads HTTP_GET and SSL_GET settings.
func (p *parser) httpStmt(c *checker, st stmt) error {
	var err error
	switch st.kw {
	case "nb_get_retry":
		var n uint64
		if n, err = st.uint(0, maxRetry); err == nil {
			c.retry.put(int(n), st.pos)
		}
	case "virtualhost":
		var h string
		if h, err = st.value(); err == nil {
			c.vhost.put(h, st.pos)
		}
	case "http_protocol":
		var v string
		if v, err = st.value(); err == nil && !slices.Contains([]string{"1.0", "1.1", "1.0C", "1.0c"}, v) {
			err = st.errf("http_protocol: unknown version %q (1.0, 1.0C or 1.1)", v)
		}
	case "enable_sni":
		c.enableSNI, err = st.flag()
	case "sni_name":
		if err = st.nargs(0, 1); err == nil {
			if len(st.args) == 1 {
				c.sni.put(st.args[0], st.pos)
			}
			c.enableSNI = true
		}
	case "fast_recovery":
		_, err = st.flag()
	case "tls_compliant":
		if c.kind != config.CheckHTTPS {
			return st.unknown(c.keyword)
		}
		_, err = st.flag()
	case "url":
		if err = st.nargs(0, 0); err != nil {
			return err
		}
		u := &urlDef{at: st.pos}
		if err = p.body(st, func(s stmt) error { return urlStmt(c, u, s) }); err != nil {
			return err
		}
		if !u.path.set {
			return st.errf("url: missing path")
		}
		if u.regex.set {
			re := u.regex.v
			if u.regexFlags != "" {
				re = "(?" + u.regexFlags + ")" + re
			}
			if _, err := regexp.Compile(re); err != nil {
				return u.regex.at.errf("regex %q: %v (Go's RE2 syntax has no backreferences or lookaround)", u.regex.v, err)
			}
		} else if u.regexFlags != "" {
			return st.errf("url: regex_options without regex")
		}
		c.urls = append(c.urls, u)
	default:
		return st.unknown(c.keyword)
	}
	return err
}

// urlStmt reads a statement of a url block.
func urlStmt(c *checker, u *urlDef, st stmt) error {
	var err error
	switch st.kw {
	case "path":
		var v string
		if v, err = st.value(); err == nil {
			u.path.put(v, st.pos)
		}
	case "digest":
		var v string
		if v, err = st.value(); err != nil {
			return err
		}
		if len(v) != 32 || strings.Trim(strings.ToLower(v), "0123456789abcdef") != "" {
			return st.errf("digest %q is not an MD5 sum (32 hex digits)", v)
		}
		u.digest = strings.ToLower(v)
	case "status_code":
		if len(st.args) == 0 {
			return st.errf("status_code: missing value")
		}
		for _, a := range st.args {
			lo, hi, isRange := strings.Cut(a, "-")
			if !isRange {
				hi = lo
			}
			l, e1 := parseUint(lo, 100, 599)
			h, e2 := parseUint(hi, 100, 599)
			if e1 != nil || e2 != nil || l > h {
				return st.errf("status_code: %q is not a status code or range in 100-599", a)
			}
			for code := int(l); code <= int(h); code++ {
				u.status = append(u.status, code)
			}
		}
		slices.Sort(u.status)
		u.status = slices.Compact(u.status)
	case "virtualhost":
		u.vhost, err = st.value()
	case "regex":
		w, err := shellWords(st.raw, true)
		if err != nil {
			return st.errf("regex: %v", err)
		}
		if len(w) != 2 {
			return st.errf("regex: needs exactly one (quoted) pattern")
		}
		u.regex.put(w[1], st.pos)
		return nil
	case "regex_options":
		for _, o := range st.args {
			f, ok := regexFlags[o]
			if !ok {
				return st.errf("regex_options: %q is not supported (caseless, multiline, dotall, ungreedy and options that do not change the match are)", o)
			}
			if !strings.Contains(u.regexFlags, f) {
				u.regexFlags += f
			}
		}
	case "regex_stack":
		err = st.nargs(2, 2)
	case "regex_no_match", "regex_min_offset", "regex_max_offset":
		return st.errf("%s is not supported", st.kw)
	case "tls_compliant":
		if c.kind != config.CheckHTTPS {
			return st.unknown("url")
		}
		_, err = st.flag()
	default:
		return st.unknown("url")
	}
	return err
}

// udpStmt reads UDP_CHECK settings.
func udpStmt(c *checker, st stmt) error {
	var err error
	switch st.kw {
	case "payload":
		if len(st.args) == 0 {
			return st.errf("payload: missing hex string")
		}
		if c.payload, _, err = parseHex(strings.Join(st.args, " "), false); err != nil {
			return st.errf("payload: %v", err)
		}
	case "require_reply":
		c.requireReply = true
		if len(st.args) > 0 {
			if c.reply, c.mask, err = parseHex(strings.Join(st.args, " "), true); err != nil {
				return st.errf("require_reply: %v", err)
			}
		}
	case "min_reply_length", "max_reply_length":
		var n uint64
		if n, err = st.uint(0, math.MaxUint16); err == nil {
			if st.kw == "min_reply_length" {
				c.minReply.put(int(n), st.pos)
			} else {
				c.maxReply.put(int(n), st.pos)
			}
		}
	default:
		return st.unknown(c.keyword)
	}
	return err
}

// dnsTypes are the query types of DNS_CHECK.
var dnsTypes = []string{"A", "NS", "CNAME", "SOA", "MX", "TXT", "AAAA", "RRSIG", "DNSKEY"}

// dnsStmt reads DNS_CHECK settings.
func dnsStmt(c *checker, st stmt) error {
	switch st.kw {
	case "type":
		t, err := st.value()
		if err != nil {
			return err
		}
		if !slices.Contains(dnsTypes, strings.ToUpper(t)) {
			return st.errf("type: unknown DNS query type %q (one of %s)", t, strings.Join(dnsTypes, " "))
		}
		c.dnsType.put(strings.ToUpper(t), st.pos)
	case "name":
		n, err := st.value()
		if err != nil {
			return err
		}
		if c.dnsName.set {
			return st.errf("name is already set at line %d", c.dnsName.at.line)
		}
		if n != "." && (strings.HasPrefix(n, ".") || strings.Contains(n, "..")) {
			return st.errf("name %q has an empty label", n)
		}
		c.dnsName.put(n, st.pos)
	default:
		return st.unknown(c.keyword)
	}
	return nil
}

// smtpStmt reads SMTP_CHECK settings, including the deprecated host
// blocks (each an extra check with its own connection options).
func (p *parser) smtpStmt(c *checker, st stmt) error {
	switch st.kw {
	case "helo_name":
		h, err := st.value()
		if err == nil {
			c.helo.put(h, st.pos)
		}
		return err
	case "host":
		if err := st.nargs(0, 0); err != nil {
			return err
		}
		h := &checker{at: st.pos, keyword: "host", kind: config.CheckSMTP}
		err := p.body(st, func(s stmt) error {
			if ok, err := connStmt(h, s); ok {
				return err
			}
			switch s.kw {
			case "retry", "delay_before_retry", "warmup", "delay_loop", "alpha", "log_all_failures":
				return s.errf("%s is not valid in a host block: set it in SMTP_CHECK", s.kw)
			}
			return s.unknown("host")
		})
		if err == nil {
			c.hosts = append(c.hosts, h)
		}
		return err
	}
	return st.unknown(c.keyword)
}

// miscStmt reads MISC_CHECK settings.
func miscStmt(c *checker, st stmt) error {
	var err error
	switch st.kw {
	case "misc_path":
		var extra []string
		if c.command, extra, err = st.script(); err == nil && len(extra) > 0 {
			err = st.errf("misc_path: unexpected %q after the command (quote the whole command line: misc_path \"%s %s\")", extra[0], c.command, strings.Join(extra, " "))
		}
	case "misc_timeout":
		var n uint64
		if n, err = st.uint(0, math.MaxUint32/1000000); err == nil {
			c.miscTimeout.put(time.Duration(n)*time.Second, st.pos)
		}
	case "misc_dynamic":
		if err = st.nargs(0, 0); err == nil {
			c.dynamic = true
		}
	case "user":
		if err = st.nargs(1, 2); err != nil {
			return err
		}
		if len(st.args) == 2 {
			return st.errf("user: a group for the script is not supported (%q)", st.args[1])
		}
		c.user = st.args[0]
	default:
		return st.unknown(c.keyword)
	}
	return err
}
