package keepalived

import (
	"errors"
	"fmt"
	"math"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// maxTimerSeconds bounds a <TIMER>: time.Duration holds about 292 years.
const maxTimerSeconds = 9_000_000_000

// parseTimer reads keepalived's <TIMER>: seconds with up to six decimals
// ("3", "2.5", ".25"), as read_timer does (microsecond resolution).
func parseTimer(s string) (time.Duration, error) {
	intPart, frac, hasDot := strings.Cut(s, ".")
	if intPart == "" && frac == "" || !digits(intPart) || hasDot && !digits(frac) {
		return 0, fmt.Errorf("%q is not a number of seconds", s)
	}
	if len(frac) > 6 {
		return 0, fmt.Errorf("%q has more than 6 decimals (keepalived's timers count microseconds)", s)
	}
	var sec uint64
	if intPart != "" {
		var err error
		if sec, err = strconv.ParseUint(intPart, 10, 64); err != nil || sec > maxTimerSeconds {
			return 0, fmt.Errorf("%q seconds is too long", s)
		}
	}
	us := uint64(0)
	if frac != "" {
		f, _ := strconv.ParseUint(frac+strings.Repeat("0", 6-len(frac)), 10, 64)
		us = f
	}
	return time.Duration(sec)*time.Second + time.Duration(us)*time.Microsecond, nil
}

// digits reports whether s is made of decimal digits only ("" is).
func digits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// parseUint reads a decimal number in [lo, hi]. keepalived's
// read_unsigned also takes a leading '+' and blanks and, outside its
// strict mode, warns about trailing garbage and goes on; here anything
// but digits is an error.
func parseUint(s string, lo, hi uint64) (uint64, error) {
	if s == "" || !digits(s) {
		if strings.HasPrefix(s, "-") {
			return 0, fmt.Errorf("%q is negative", s)
		}
		return 0, fmt.Errorf("%q is not a number", s)
	}
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil || v < lo || v > hi {
		return 0, fmt.Errorf("%q is out of range [%d, %d]", s, lo, hi)
	}
	return v, nil
}

// parseBool reads keepalived's <BOOL>.
func parseBool(s string) (bool, error) {
	switch s {
	case "true", "on", "yes":
		return true, nil
	case "false", "off", "no":
		return false, nil
	}
	return false, fmt.Errorf("%q is not on|off|true|false|yes|no", s)
}

// parseAddr reads an IPv4 or IPv6 address as inet_pton does (no zone, no
// host name).
func parseAddr(s string) (netip.Addr, error) {
	a, err := netip.ParseAddr(s)
	if err != nil || a.Zone() != "" {
		return netip.Addr{}, fmt.Errorf("%q is not an IP address", s)
	}
	return a, nil
}

// parsePort reads the optional port of a server: "" and any string of
// zeros mean none (0), as keepalived has allowed since 2.0.7; otherwise
// 1..65535.
func parsePort(s string) (uint16, error) {
	if strings.Trim(s, "0") == "" {
		return 0, nil
	}
	v, err := parseUint(s, 1, 65535)
	if err != nil {
		return 0, fmt.Errorf("port %w", err)
	}
	return uint16(v), nil
}

// parseHex reads keepalived's free-form hex string (read_hex_str):
// blanks separate groups, each group is read two digits per byte, and a
// group of odd length ends with a one-digit byte ("Ab12f 3" is AB 12 0F
// 03). With wildcards, X or x stands for a nibble that matches anything;
// mask then has the bits to compare, 1 = compared (nil when there is no
// wildcard). A one-digit byte is compared whole: its high nibble is 0.
func parseHex(s string, wildcards bool) (data, mask []byte, err error) {
	nibble := func(c byte) (v, cmp byte, ok bool) {
		switch {
		case c >= '0' && c <= '9':
			return c - '0', 0xf, true
		case c >= 'a' && c <= 'f':
			return c - 'a' + 10, 0xf, true
		case c >= 'A' && c <= 'F':
			return c - 'A' + 10, 0xf, true
		case wildcards && (c == 'x' || c == 'X'):
			return 0, 0, true
		}
		return 0, 0, false
	}
	blank := func(c byte) bool { return c == ' ' || c == '\t' }
	wild := false
	for i := 0; i < len(s); {
		if blank(s[i]) {
			i++
			continue
		}
		v, m, ok := nibble(s[i])
		if !ok {
			return nil, nil, fmt.Errorf("%q is not a hex digit", s[i:i+1])
		}
		i++
		if i < len(s) && !blank(s[i]) {
			v2, m2, ok := nibble(s[i])
			if !ok {
				return nil, nil, fmt.Errorf("%q is not a hex digit", s[i:i+1])
			}
			i++
			v, m = v<<4|v2, m<<4|m2
		} else {
			m |= 0xf0
		}
		data = append(data, v)
		mask = append(mask, m)
		wild = wild || m != 0xff
	}
	if len(data) == 0 {
		return nil, nil, errors.New("empty hex string")
	}
	if !wild {
		mask = nil
	}
	return data, mask, nil
}

// fwmarkMax is IPVS's largest firewall mark.
const fwmarkMax = math.MaxUint32
