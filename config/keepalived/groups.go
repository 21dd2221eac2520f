package keepalived

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/gdirector/gdirector/config"
)

// group reads a virtual_server_group.
func (p *parser) group(s stmt) error {
	name, err := s.value()
	if err != nil {
		return s.errf("virtual_server_group: missing name")
	}
	if g, ok := p.out.groups[name]; ok {
		return s.errf("virtual_server_group %s is already defined at line %d", name, g.at.line)
	}
	g := &group{at: s.pos, name: name}
	err = p.body(s, func(st stmt) error {
		e, err := groupEntryOf(st)
		if err == nil {
			g.entries = append(g.entries, e)
		}
		return err
	})
	if err != nil {
		return err
	}
	if len(g.entries) == 0 {
		p.warnf(s.pos, "virtual_server_group %s has no entries", name)
	}
	p.out.groups[name] = g
	return nil
}

// groupEntryOf reads "ADDR|RANGE [PORT]" or "fwmark N [inet|inet6]".
func groupEntryOf(st stmt) (groupEntry, error) {
	e := groupEntry{at: st.pos}
	all := append([]string{st.kw}, st.args...)
	if st.kw == "fwmark" {
		if len(all) < 2 || len(all) > 3 {
			return e, st.errf("virtual_server_group: write fwmark entries as \"fwmark N [inet|inet6]\"")
		}
		m, err := parseUint(all[1], 1, fwmarkMax)
		if err != nil {
			return e, st.errf("fwmark: %v", err)
		}
		e.isMark, e.fwmark = true, uint32(m)
		if len(all) == 3 {
			e.family = map[string]int{"inet": 4, "inet6": 6}[all[2]]
			if e.family == 0 {
				return e, st.errf("fwmark %d: unknown address family %q (inet or inet6)", m, all[2])
			}
		}
		return e, nil
	}
	if len(all) > 2 {
		return e, st.errf("virtual_server_group: unexpected %q (entries are \"ADDRESS [PORT]\", one per line)", all[2])
	}
	var err error
	if e.first, e.last, err = addrRange(all[0]); err != nil {
		return e, st.errf("virtual_server_group: %v", err)
	}
	if len(all) == 2 {
		if e.port, err = parsePort(all[1]); err != nil {
			return e, st.errf("virtual_server_group %s: %v", all[0], err)
		}
	}
	return e, nil
}

// addrRange reads an address, a range A.B.C.D-E (last byte; for IPv6 the
// last 16 bits, in hex), a range ADDR-ADDR or a prefix ADDR/LEN whose
// host bits are zero, as keepalived's virtual_server_group takes them.
func addrRange(s string) (first, last netip.Addr, err error) {
	if strings.Contains(s, "/") {
		pfx, err := netip.ParsePrefix(s)
		if err != nil || pfx.Addr().Zone() != "" || pfx.Bits() == 0 {
			return first, last, fmt.Errorf("%q is not an address prefix with a length of 1 or more", s)
		}
		if pfx.Masked() != pfx {
			return first, last, fmt.Errorf("%q has host bits set (the prefix is %s)", s, pfx.Masked())
		}
		return pfx.Addr(), lastOf(pfx), nil
	}
	a, end, isRange := strings.Cut(s, "-")
	if first, err = parseAddr(a); err != nil {
		return first, last, err
	}
	if !isRange {
		return first, first, nil
	}
	if first.Is4() && strings.Contains(end, ".") || first.Is6() && strings.Contains(end, ":") {
		if last, err = parseAddr(end); err != nil {
			return first, last, fmt.Errorf("range end: %v", err)
		}
		if last.Is4() != first.Is4() {
			return first, last, fmt.Errorf("%q mixes IPv4 and IPv6", s)
		}
		if last.Less(first) {
			return first, last, fmt.Errorf("%q ends before it starts", s)
		}
		return first, last, nil
	}
	b := first.AsSlice()
	if first.Is4() {
		v, err := parseUint(end, 0, 255)
		if err != nil || byte(v) <= b[3] {
			return first, last, fmt.Errorf("%q: the range end must be a last byte above %d and at most 255", s, b[3])
		}
		b[3] = byte(v)
	} else {
		var v uint64
		ok := end != "" && len(end) <= 4
		for i := 0; ok && i < len(end); i++ {
			d := strings.IndexByte("0123456789abcdef", end[i]|0x20)
			ok = d >= 0
			v = v<<4 | uint64(d)
		}
		cur := uint64(b[14])<<8 | uint64(b[15])
		if !ok || v <= cur {
			return first, last, fmt.Errorf("%q: the range end must be a last group (hex) above %x", s, cur)
		}
		b[14], b[15] = byte(v>>8), byte(v)
	}
	last, _ = netip.AddrFromSlice(b)
	return first, last, nil
}

// lastOf is the last address of a prefix.
func lastOf(p netip.Prefix) netip.Addr {
	b := p.Addr().AsSlice()
	for i := p.Bits(); i < len(b)*8; i++ {
		b[i/8] |= 0x80 >> (i % 8)
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}

// laddrGroup reads DPVS's local_address_group: "ADDR[-LAST] [IFACE]"
// lines, the FullNAT local addresses a virtual_server takes with
// laddr_group_name.
func (p *parser) laddrGroup(s stmt) error {
	name, err := s.value()
	if err != nil {
		return s.errf("local_address_group: missing name")
	}
	if g, ok := p.out.laddrs[name]; ok {
		return s.errf("local_address_group %s is already defined at line %d", name, g.at.line)
	}
	g := &laddrGroup{at: s.pos}
	err = p.body(s, func(st stmt) error {
		if len(st.args) > 1 {
			return st.errf("local_address_group: unexpected %q (entries are \"ADDRESS [INTERFACE]\")", st.args[1])
		}
		first, last, err := addrRange(st.kw)
		if err != nil || strings.Contains(st.kw, "/") {
			return st.errf("local_address_group: %q is not an address or a range", st.kw)
		}
		iface := ""
		if len(st.args) == 1 {
			iface = st.args[0]
		}
		for a := first; ; a = a.Next() {
			if len(g.addrs) >= 65536 {
				return st.errf("local_address_group %s has more than 65536 addresses", name)
			}
			g.addrs = append(g.addrs, config.LocalAddr{Addr: a, Iface: iface})
			if a == last {
				break
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	p.out.laddrs[name] = g
	return nil
}
