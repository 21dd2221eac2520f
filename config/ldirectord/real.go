package ldirectord

import (
	"math"
	"net/netip"
	"strconv"
	"strings"

	"github.com/gdirector/gdirector/ipvsadm"
)

// servicePorts stands in for /etc/services when a port is given by name.
var servicePorts = ipvsadm.DefaultServices

// real reads the value of a real= (real6=) line:
//
//	ADDR[->ADDR2][:PORT] gate|masq|ipip [WEIGHT] ["REQUEST", "RECEIVE"] [l:N] [u:N]
func (p *parser) real(n int, key, val string, v6 bool) (realSpec, error) {
	r := realSpec{line: n, weight: 1}
	spec, rest := nextWord(val)
	if spec == "" {
		return r, p.errorf(n, "%s: no address given", key)
	}
	from, to, isRange := strings.Cut(spec, "->")
	last := from
	if isRange {
		last = to
	}
	if isRange && !v6 {
		// The first address, in the order of the line.
		if _, err := p.host(n, key, from, false); err != nil {
			return r, err
		}
	}
	host, port, hasPort, ok := splitOptPort(last)
	if !ok {
		return r, p.errorf(n, "%s: invalid address %q", key, clip(last))
	}
	a, err := p.host(n, key, host, v6)
	if err != nil {
		return r, err
	}
	r.first, r.last = a, a
	if hasPort {
		if r.port, err = p.portNumber(n, key, port, ""); err != nil {
			return r, err
		}
	}
	if isRange {
		if v6 {
			return r, p.errorf(n, "%s: address ranges are IPv4 only (as in ldirectord)", key)
		}
		if r.first, err = p.host(n, key, from, false); err != nil {
			return r, err
		}
		lo, hi := addrValue(r.first), addrValue(r.last)
		if lo > hi {
			return r, p.errorf(n, "%s: invalid range %s: the first address must not be above the last", key, clip(spec))
		}
		if hi-lo >= maxRange {
			return r, p.errorf(n, "%s: range %s has %d addresses, more than %d", key, clip(spec), hi-lo+1, maxRange)
		}
	}

	fwd, rest := nextWord(rest)
	switch fwd {
	case "gate", "masq", "ipip":
		r.fwd = fwd
	case "":
		return r, p.errorf(n, "%s: no forwarding method: add gate, masq or ipip after the address", key)
	default:
		return r, p.errorf(n, "%s: forwarding method must be gate, masq or ipip, not %q", key, clip(fwd))
	}
	if w, after := nextWord(rest); isDigits(w) {
		v, err := strconv.ParseUint(w, 10, 32)
		if err != nil || v > 65535 {
			return r, p.errorf(n, "%s: weight %s out of range 0..65535", key, clip(w))
		}
		r.weight, rest = int32(v), after
	}
	if strings.HasPrefix(rest, `"`) {
		req, after, ok := cutQuoted(rest)
		if ok {
			after = strings.TrimLeft(after, " \t")
			after = strings.TrimLeft(strings.TrimPrefix(after, ","), " \t")
			var recv string
			recv, after, ok = cutQuoted(after)
			r.request, r.receive, rest = slashed(req), recv, after
		}
		if !ok {
			return r, p.errorf(n, `%s: expected a quoted pair "REQUEST", "RECEIVE" after the weight`, key)
		}
		if r.receive != "" {
			if err := checkRegexp(r.receive); err != nil {
				return r, p.errorf(n, "%s: receive %v", key, err)
			}
		}
		r.hasCheck = true
	}
	for {
		w, after := nextWord(rest)
		if w == "" {
			break
		}
		th, v, ok := strings.Cut(w, ":")
		if !ok || (th != "l" && th != "u") || !isDigits(v) {
			return r, p.errorf(n, "%s: invalid real server line, around %q", key, clip(strings.TrimSpace(rest)))
		}
		c, err := strconv.ParseUint(v, 10, 32)
		if err != nil || c > math.MaxInt32 {
			return r, p.errorf(n, "%s: threshold %s out of range 0..%d", key, clip(w), math.MaxInt32)
		}
		if th == "l" {
			r.lower = uint32(c)
		} else {
			r.upper = uint32(c)
		}
		rest = after
	}
	if r.lower > r.upper {
		return r, p.errorf(n, "%s: l:%d needs u: at least as high (the kernel refuses a lower threshold above the upper one, and no u: is 0)", key, r.lower)
	}
	return r, nil
}

// fallback reads the value of a fallback= (fallback6=) line:
// ADDR[:PORT] [gate|masq|ipip].
func (p *parser) fallback(n int, key, val string, v6 bool, v *virtual) (*fallbackSpec, error) {
	f := fallbackSpec{line: n, fwd: "gate"}
	fields := strings.Fields(val)
	if len(fields) == 0 || len(fields) > 2 {
		return nil, p.errorf(n, "%s: expected ADDRESS[:PORT] [gate|masq|ipip], not %q", key, clip(val))
	}
	host, port, hasPort, ok := splitOptPort(fields[0])
	if !ok {
		return nil, p.errorf(n, "%s: invalid address %q", key, clip(fields[0]))
	}
	a, err := p.host(n, key, host, v6)
	if err != nil {
		return nil, err
	}
	if !unicast(a) {
		return nil, p.errorf(n, "%s: %s is not an address a real server can have (not unicast)", key, a)
	}
	f.addr = a
	if hasPort {
		proto := ""
		if v != nil && v.protocol.val != "fwm" {
			proto = v.protocol.val
		}
		if f.port, err = p.portNumber(n, key, port, proto); err != nil {
			return nil, err
		}
		f.hasPort = true
	}
	if len(fields) == 2 {
		switch fields[1] {
		case "gate", "masq", "ipip":
			f.fwd = fields[1]
		default:
			return nil, p.errorf(n, "%s: forwarding method must be gate, masq or ipip, not %q", key, clip(fields[1]))
		}
	}
	return &f, nil
}

// splitOptPort splits HOST[:PORT], HOST an IPv4 address, a name or an
// IPv6 address in brackets.
func splitOptPort(s string) (host, port string, hasPort, ok bool) {
	if strings.HasPrefix(s, "[") {
		end := strings.IndexByte(s, ']')
		if end < 0 {
			return "", "", false, false
		}
		host, rest := s[:end+1], s[end+1:]
		switch {
		case rest == "":
			return host, "", false, true
		case len(rest) > 1 && rest[0] == ':':
			return host, rest[1:], true, true
		}
		return "", "", false, false
	}
	if strings.Count(s, ":") > 1 {
		return s, "", false, true // an unbracketed IPv6 address: host says so
	}
	h, pt, found := strings.Cut(s, ":")
	if !found {
		return s, "", false, true
	}
	if pt == "" || h == "" {
		return "", "", false, false
	}
	return h, pt, true, true
}

// nextWord returns the first blank-separated word of s and what follows
// it, without leading blanks.
func nextWord(s string) (string, string) {
	s = strings.TrimLeft(s, " \t")
	i := strings.IndexAny(s, " \t")
	if i < 0 {
		return s, ""
	}
	return s[:i], strings.TrimLeft(s[i:], " \t")
}

// cutQuoted reads a double-quoted string at the start of s.
func cutQuoted(s string) (val, rest string, ok bool) {
	if !strings.HasPrefix(s, `"`) {
		return "", s, false
	}
	end := strings.IndexByte(s[1:], '"')
	if end < 0 {
		return "", s, false
	}
	return s[1 : 1+end], s[end+2:], true
}

// addrValue is an IPv4 address as a number.
func addrValue(a netip.Addr) uint32 {
	b := a.As4()
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
}

func addrFromValue(v uint32) netip.Addr {
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}

// unicast reports whether the kernel takes a as a real server's address:
// for IPv4 not 0.0.0.0/8, multicast or the limited broadcast; for IPv6
// not unspecified, multicast, link-local or IPv4-mapped.
func unicast(a netip.Addr) bool {
	if a.Is4() {
		return a.As4()[0] != 0 && !a.IsMulticast() && a != netip.AddrFrom4([4]byte{255, 255, 255, 255})
	}
	return !a.IsUnspecified() && !a.IsMulticast() && !a.IsLinkLocalUnicast() && !a.Is4In6()
}
