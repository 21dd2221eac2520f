package ipvsadm

import (
	"math"
	"net/netip"
	"strconv"
	"strings"
)

// This file holds the C library behaviours ipvsadm's parsing relies on,
// reimplemented: strtol-style numbers, inet_aton's IPv4 forms, inet_pton's
// IPv6 form and inet_ntop's output.

func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r'
}

// strtol parses a base-10 number the way strtol does: leading white space,
// an optional sign, digits. It returns the value, the unparsed rest, whether
// any digit was read, and whether the value overflowed (it is then clamped).
func strtol(s string) (v int64, rest string, ok, overflow bool) {
	i := 0
	for i < len(s) && isSpace(s[i]) {
		i++
	}
	neg := false
	if i < len(s) && (s[i] == '+' || s[i] == '-') {
		neg = s[i] == '-'
		i++
	}
	start := i
	var u uint64
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		if u <= math.MaxInt64 {
			u = u*10 + uint64(s[i]-'0')
		}
		i++
	}
	if i == start {
		return 0, s, false, false
	}
	switch {
	case !neg && u > math.MaxInt64:
		return math.MaxInt64, s[i:], true, true
	case neg && u > math.MaxInt64:
		return math.MinInt64, s[i:], true, true
	case neg:
		return -int64(u), s[i:], true, false
	}
	return int64(u), s[i:], true, false
}

// stringToNumber is ipvsadm's string_to_number: the whole string must be a
// number within [min, max]; -1 otherwise.
func stringToNumber(s string, min, max int64) int64 {
	v, rest, ok, overflow := strtol(s)
	if !ok || rest != "" || overflow || v < min || v > max {
		return -1
	}
	return v
}

// atoi is C's atoi: strtol's value with trailing garbage ignored,
// truncated to int.
func atoi(s string) int32 {
	v, _, _, _ := strtol(s)
	return int32(v)
}

// inetAton parses the IPv4 forms inet_aton accepts: one to four parts
// separated by dots, each decimal, octal (leading 0) or hexadecimal (0x),
// the last part filling the remaining bytes; trailing white space ends the
// address.
func inetAton(s string) (uint32, bool) {
	var parts [4]uint64
	n := 0
	i := 0
	for {
		if i >= len(s) || s[i] < '0' || s[i] > '9' {
			return 0, false
		}
		base := uint64(10)
		if s[i] == '0' {
			base = 8
			if i+1 < len(s) && (s[i+1] == 'x' || s[i+1] == 'X') {
				base = 16
				i += 2
			}
		}
		start := i
		var v uint64
		for i < len(s) {
			d := digitVal(s[i])
			if d >= base {
				break
			}
			v = v*base + d
			if v > math.MaxUint32 {
				return 0, false
			}
			i++
		}
		if i == start && base != 8 {
			return 0, false // "0x" without digits
		}
		parts[n] = v
		n++
		if i < len(s) && s[i] == '.' {
			if n == 4 {
				return 0, false
			}
			i++
			continue
		}
		break
	}
	if i < len(s) && !isSpace(s[i]) {
		return 0, false
	}
	for k := 0; k < n-1; k++ {
		if parts[k] > 0xff {
			return 0, false
		}
	}
	last := parts[n-1]
	if last > math.MaxUint32>>(8*(n-1)) {
		return 0, false
	}
	var a uint64
	for k := 0; k < n-1; k++ {
		a |= parts[k] << (24 - 8*k)
	}
	return uint32(a | last), true
}

func digitVal(c byte) uint64 {
	switch {
	case c >= '0' && c <= '9':
		return uint64(c - '0')
	case c >= 'a' && c <= 'f':
		return uint64(c-'a') + 10
	case c >= 'A' && c <= 'F':
		return uint64(c-'A') + 10
	}
	return 99
}

// inetPton6 parses an IPv6 address in inet_pton's syntax (no zone).
func inetPton6(s string) (netip.Addr, bool) {
	if !strings.Contains(s, ":") || strings.ContainsAny(s, "%") {
		return netip.Addr{}, false
	}
	a, err := netip.ParseAddr(s)
	if err != nil || !a.Is6() {
		return netip.Addr{}, false
	}
	return a, true
}

func addrFrom32(v uint32) netip.Addr {
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}

// ntop formats an address as inet_ntop does: dotted quad for IPv4; for
// IPv6 the longest run of two or more zero groups (the first of equal
// runs) as "::", and the last 32 bits as a dotted quad for IPv4-mapped
// (::ffff:a.b.c.d) and IPv4-compatible (::a.b.c.d) addresses.
func ntop(a netip.Addr) string {
	if a.Is4() {
		return a.String()
	}
	b := a.As16()
	var w [8]uint16
	for i := range w {
		w[i] = uint16(b[2*i])<<8 | uint16(b[2*i+1])
	}
	bestBase, bestLen := -1, 0
	for i := 0; i < 8; {
		if w[i] != 0 {
			i++
			continue
		}
		j := i
		for j < 8 && w[j] == 0 {
			j++
		}
		if j-i > bestLen {
			bestBase, bestLen = i, j-i
		}
		i = j
	}
	if bestLen < 2 {
		bestBase = -1
	}
	var sb strings.Builder
	for i := 0; i < 8; i++ {
		if bestBase >= 0 && i >= bestBase && i < bestBase+bestLen {
			if i == bestBase {
				sb.WriteByte(':')
			}
			continue
		}
		if i != 0 {
			sb.WriteByte(':')
		}
		if i == 6 && bestBase == 0 && (bestLen == 6 || (bestLen == 5 && w[5] == 0xffff)) {
			sb.WriteString(netip.AddrFrom4([4]byte{b[12], b[13], b[14], b[15]}).String())
			break
		}
		sb.WriteString(strconv.FormatUint(uint64(w[i]), 16))
	}
	if bestBase >= 0 && bestBase+bestLen == 8 {
		sb.WriteByte(':')
	}
	return sb.String()
}

// addrPort formats address and port as ipvsadm's numeric output does,
// IPv6 in brackets.
func addrPort(a netip.Addr, port uint16) string {
	if a.Is4() {
		return ntop(a) + ":" + strconv.Itoa(int(port))
	}
	return "[" + ntop(a) + "]:" + strconv.Itoa(int(port))
}
