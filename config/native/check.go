package native

import (
	"encoding/hex"
	"math"
	"net/netip"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gdirector/gdirector/config"
	"go.yaml.in/yaml/v3"
)

// Check defaults (docs/config.md).
const (
	DefaultInterval         = 5 * time.Second
	DefaultTimeout          = 3 * time.Second
	DefaultRetry            = 1
	DefaultDelayBeforeRetry = 1 * time.Second
	DefaultRise             = 1
	DefaultDNSType          = "SOA"
	DefaultDNSName          = "."
)

// Bounds of the check timings.
const (
	minInterval = 10 * time.Millisecond
	maxInterval = 24 * time.Hour
	maxTimeout  = time.Hour
	maxRetry    = 100
	maxPayload  = 65507 // one UDP datagram over IPv4
)

// checkKinds are the check types by name.
var checkKinds = map[string]config.CheckKind{
	"tcp": config.CheckTCP, "http": config.CheckHTTP, "https": config.CheckHTTPS,
	"udp": config.CheckUDP, "ping": config.CheckPing, "dns": config.CheckDNS,
	"smtp": config.CheckSMTP, "misc": config.CheckMisc, "on": config.CheckOn, "off": config.CheckOff,
}

var checkKindNames = []string{"tcp", "http", "https", "udp", "ping", "dns", "smtp", "misc", "on", "off"}

var (
	timingKeys = []string{"interval", "timeout", "retry", "delay_before_retry", "rise", "warmup"}
	targetKeys = []string{"address", "port", "bind_to"}
	// checkKeys are the keys each check type takes besides type.
	checkKeys = map[string][]string{
		"tcp":   concat(timingKeys, targetKeys),
		"http":  concat(timingKeys, targetKeys, []string{"urls", "virtual_host"}),
		"https": concat(timingKeys, targetKeys, []string{"urls", "virtual_host", "sni", "verify_tls"}),
		"udp":   concat(timingKeys, targetKeys, []string{"payload", "payload_hex", "require_reply"}),
		"ping":  concat(timingKeys, []string{"address", "bind_to"}),
		"dns":   concat(timingKeys, targetKeys, []string{"dns_type", "dns_name", "dns_answer"}),
		"smtp":  concat(timingKeys, targetKeys, []string{"helo"}),
		"misc":  concat(timingKeys, []string{"command", "dynamic", "user"}),
		"on":    nil,
		"off":   nil,
	}
	// allCheckKeys is every key of any check type.
	allCheckKeys = func() []string {
		keys := []string{"type"}
		for _, k := range checkKindNames {
			for _, key := range checkKeys[k] {
				if !slices.Contains(keys, key) {
					keys = append(keys, key)
				}
			}
		}
		return keys
	}()
	urlKeys  = []string{"path", "status", "digest", "contains", "regexp"}
	dnsTypes = []string{"A", "AAAA", "CNAME", "MX", "NS", "PTR", "SOA", "SRV", "TXT"}
)

func concat(lists ...[]string) []string {
	var out []string
	for _, l := range lists {
		out = append(out, l...)
	}
	return out
}

// checks reads the list of checks under key.
func (p *parser) checks(m *mapping, key string) ([]config.Check, error) {
	items, err := m.list(key)
	if err != nil {
		return nil, err
	}
	out := []config.Check{} // present but empty: no checks, the real server is always up
	for _, n := range items {
		c, err := p.check(n)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, nil
}

func (p *parser) check(n *yaml.Node) (config.Check, error) {
	var c config.Check
	m, err := p.mapping(n, "check", allCheckKeys)
	if err != nil {
		return c, err
	}
	c.Line = m.node.Line
	if !m.has("type") {
		return c, p.errf(c.Line, "a check needs type: (%s)", strings.Join(checkKindNames, ", "))
	}
	var kind string
	if err := m.word("type", &kind, checkKindNames...); err != nil {
		return c, err
	}
	c.Kind = checkKinds[kind]
	for key := range m.vals {
		if key != "type" && !slices.Contains(checkKeys[kind], key) {
			return c, p.errf(m.line(key), "key %q does not apply to a %s check (it takes: %s)", key, kind, strings.Join(checkKeys[kind], ", "))
		}
	}
	if kind == "on" || kind == "off" {
		return c, nil
	}

	// Timing.
	c.Interval, c.Timeout, c.Retry, c.DelayBeforeRetry, c.Rise =
		DefaultInterval, DefaultTimeout, DefaultRetry, DefaultDelayBeforeRetry, DefaultRise
	if err := m.duration("interval", minInterval, maxInterval, &c.Interval); err != nil {
		return c, err
	}
	if err := m.duration("timeout", minInterval, maxTimeout, &c.Timeout); err != nil {
		return c, err
	}
	if err := m.intField("retry", 0, maxRetry, &c.Retry); err != nil {
		return c, err
	}
	if err := m.duration("delay_before_retry", 0, maxInterval, &c.DelayBeforeRetry); err != nil {
		return c, err
	}
	if err := m.intField("rise", 1, maxRetry, &c.Rise); err != nil {
		return c, err
	}
	if err := m.duration("warmup", 0, maxInterval, &c.Warmup); err != nil {
		return c, err
	}

	// Target.
	var addr netip.Addr
	if err := m.addr("address", &addr); err != nil {
		return c, err
	}
	var port int64
	if err := m.integer("port", 1, math.MaxUint16, &port); err != nil {
		return c, err
	}
	if addr.IsValid() || port != 0 {
		c.Target = netip.AddrPortFrom(addr, uint16(port))
	}
	if err := m.addr("bind_to", &c.BindTo); err != nil {
		return c, err
	}

	switch kind {
	case "http", "https":
		if err := p.urls(m, &c); err != nil {
			return c, err
		}
		if err := m.str("virtual_host", &c.VirtualHost); err != nil {
			return c, err
		}
		if err := m.str("sni", &c.SNI); err != nil {
			return c, err
		}
		if err := m.boolean("verify_tls", &c.VerifyTLS); err != nil {
			return c, err
		}
	case "udp":
		if m.has("payload") && m.has("payload_hex") {
			return c, p.errf(m.line("payload_hex"), "payload_hex: a check takes payload: or payload_hex:, not both")
		}
		var s string
		if err := m.str("payload", &s); err != nil {
			return c, err
		}
		if s != "" {
			c.Payload = []byte(s)
		}
		if v, ok, err := m.scalar("payload_hex"); err != nil {
			return c, err
		} else if ok {
			b, err := hex.DecodeString(strings.ReplaceAll(v.Value, " ", ""))
			if err != nil {
				return c, p.errf(v.Line, "payload_hex: want hexadecimal bytes (\"0a1b2c\"), got %q", v.Value)
			}
			c.Payload = b
		}
		if len(c.Payload) > maxPayload {
			return c, p.errf(m.line("payload"), "payload: %d bytes, more than one UDP datagram carries (%d)", len(c.Payload), maxPayload)
		}
		if err := m.boolean("require_reply", &c.RequireReply); err != nil {
			return c, err
		}
	case "dns":
		c.DNSType, c.DNSName = DefaultDNSType, DefaultDNSName
		if v, ok, err := m.scalar("dns_type"); err != nil {
			return c, err
		} else if ok {
			t := strings.ToUpper(v.Value)
			if !slices.Contains(dnsTypes, t) {
				return c, p.errf(v.Line, "dns_type: want one of %s, got %q", strings.Join(dnsTypes, ", "), v.Value)
			}
			c.DNSType = t
		}
		if err := m.str("dns_name", &c.DNSName); err != nil {
			return c, err
		}
		if c.DNSName == "" || len(c.DNSName) > 253 {
			return c, p.errf(m.line("dns_name"), "dns_name: want a domain name, got %q", c.DNSName)
		}
		if v, ok, err := m.scalar("dns_answer"); err != nil {
			return c, err
		} else if ok {
			if _, err := regexp.Compile(v.Value); err != nil {
				return c, p.errf(v.Line, "dns_answer: %v", err)
			}
			c.DNSAnswer = v.Value
		}
	case "smtp":
		if err := m.str("helo", &c.HELO); err != nil {
			return c, err
		}
	case "misc":
		if !m.has("command") {
			return c, p.errf(c.Line, "a misc check needs command:")
		}
		if err := m.str("command", &c.Command); err != nil {
			return c, err
		}
		if strings.TrimSpace(c.Command) == "" {
			return c, p.errf(m.line("command"), "command: empty")
		}
		if err := m.boolean("dynamic", &c.Dynamic); err != nil {
			return c, err
		}
		if err := m.str("user", &c.User); err != nil {
			return c, err
		}
	}
	return c, nil
}

// urls reads the urls: of an HTTP check; without any, the check gets /
// with any 2xx status.
func (p *parser) urls(m *mapping, c *config.Check) error {
	items, err := m.list("urls")
	if err != nil {
		return err
	}
	for _, n := range items {
		u, err := p.url(n)
		if err != nil {
			return err
		}
		c.URLs = append(c.URLs, u)
	}
	if len(c.URLs) == 0 {
		if m.has("urls") {
			return p.errf(m.line("urls"), "urls: empty (leave it out to check /)")
		}
		c.URLs = []config.URLCheck{{Path: "/"}}
	}
	return nil
}

// url reads one URL: a path, or a mapping.
func (p *parser) url(n *yaml.Node) (config.URLCheck, error) {
	var u config.URLCheck
	n, err := p.resolve(n)
	if err != nil {
		return u, err
	}
	if n.Kind == yaml.ScalarNode && !isNull(n) {
		u.Path = n.Value
		if !strings.HasPrefix(u.Path, "/") {
			return u, p.errf(n.Line, "urls: a path starts with /, got %q", u.Path)
		}
		return u, nil
	}
	m, err := p.mapping(n, "URL", urlKeys)
	if err != nil {
		return u, err
	}
	if !m.has("path") {
		return u, p.errf(m.node.Line, "a URL needs path:")
	}
	if err := m.str("path", &u.Path); err != nil {
		return u, err
	}
	if !strings.HasPrefix(u.Path, "/") || strings.ContainsAny(u.Path, " \t\r\n") {
		return u, p.errf(m.line("path"), "path: want a path starting with / and without spaces, got %q", u.Path)
	}
	if m.has("status") {
		if u.Status, err = p.status(m.vals["status"]); err != nil {
			return u, err
		}
	}
	if v, ok, err := m.scalar("digest"); err != nil {
		return u, err
	} else if ok {
		d := strings.ToLower(v.Value)
		if b, err := hex.DecodeString(d); err != nil || len(b) != 16 {
			return u, p.errf(v.Line, "digest: want the 32 hex digits of an MD5 sum, got %q", v.Value)
		}
		u.Digest = d
	}
	if err := m.str("contains", &u.Substring); err != nil {
		return u, err
	}
	if v, ok, err := m.scalar("regexp"); err != nil {
		return u, err
	} else if ok {
		if _, err := regexp.Compile(v.Value); err != nil {
			return u, p.errf(v.Line, "regexp: %v", err)
		}
		u.Regexp = v.Value
	}
	return u, nil
}

// status reads accepted status codes: a code, a range "200-299", or a
// list of them.
func (p *parser) status(n *yaml.Node) ([]int, error) {
	n, err := p.resolve(n)
	if err != nil {
		return nil, err
	}
	items := []*yaml.Node{n}
	if n.Kind == yaml.SequenceNode {
		items = n.Content
	}
	var out []int
	for _, it := range items {
		it, err := p.resolve(it)
		if err != nil {
			return nil, err
		}
		if it.Kind != yaml.ScalarNode || isNull(it) {
			return nil, p.errf(it.Line, "status: want codes (200) or ranges (\"200-299\"), got %s", describe(it))
		}
		for _, s := range strings.Split(it.Value, ",") {
			s = strings.TrimSpace(s)
			lo, hi, isRange := strings.Cut(s, "-")
			a, errA := strconv.Atoi(lo)
			b := a
			var errB error
			if isRange {
				b, errB = strconv.Atoi(hi)
			}
			if errA != nil || errB != nil || a < 100 || b > 599 || b < a {
				return nil, p.errf(it.Line, "status: want HTTP status codes 100..599 or ranges LO-HI, got %q", s)
			}
			for c := a; c <= b; c++ {
				if !slices.Contains(out, c) {
					out = append(out, c)
				}
			}
		}
	}
	if len(out) == 0 {
		return nil, p.errf(n.Line, "status: empty")
	}
	return out, nil
}
