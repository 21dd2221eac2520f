package vs

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// PortRange is an inclusive range of destination ports.
type PortRange struct{ Lo, Hi uint16 }

// MarkRule assigns a firewall mark to the packets that open new
// connections, the director's own stand-in for the iptables MARK rules a
// kernel director relies on (`iptables -t mangle -A PREROUTING -d VIP -p
// tcp --dport 80 -j MARK --set-mark 10`): a userspace director never sees
// the kernel's skb mark, so it classifies packets itself. A firewall-mark
// service (ipvsadm -A -f MARK) then receives the packets whose mark is its
// own.
//
// A rule matches a packet to Dst, from a source within Src (any when Src
// is not valid), of protocol Proto (any when 0), to a port in one of Ports
// (any when empty).
type MarkRule struct {
	Dst   netip.Addr
	Src   netip.Prefix
	Proto Proto
	Ports []PortRange
	Mark  uint32

	dst16 [16]byte // Dst in key form, set by NewTable
}

// Match reports whether the rule matches a packet (addresses in key form).
func (r *MarkRule) Match(ipv6 bool, proto Proto, src, dst *[16]byte, dport uint16) bool {
	if r.Proto != 0 && r.Proto != proto || r.Dst.Is6() != ipv6 || r.dst16 != *dst {
		return false
	}
	if len(r.Ports) > 0 {
		in := false
		for _, p := range r.Ports {
			if dport >= p.Lo && dport <= p.Hi {
				in = true
				break
			}
		}
		if !in {
			return false
		}
	}
	return !r.Src.IsValid() || r.Src.Contains(AddrFrom16(*src))
}

// Equal reports whether two rules are the same rule.
func (r *MarkRule) Equal(o *MarkRule) bool {
	if r.Dst != o.Dst || r.Src != o.Src || r.Proto != o.Proto || r.Mark != o.Mark || len(r.Ports) != len(o.Ports) {
		return false
	}
	for i := range r.Ports {
		if r.Ports[i] != o.Ports[i] {
			return false
		}
	}
	return true
}

// String returns the rule as the `gdirector mark add` arguments that
// create it.
func (r *MarkRule) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "-d %s", r.Dst)
	if r.Src.IsValid() {
		fmt.Fprintf(&b, " -s %s", r.Src)
	}
	if r.Proto != 0 {
		fmt.Fprintf(&b, " -p %s", strings.ToLower(r.Proto.String()))
	}
	if len(r.Ports) > 0 {
		ps := make([]string, len(r.Ports))
		for i, p := range r.Ports {
			ps[i] = strconv.Itoa(int(p.Lo))
			if p.Hi != p.Lo {
				ps[i] += ":" + strconv.Itoa(int(p.Hi))
			}
		}
		fmt.Fprintf(&b, " --dports %s", strings.Join(ps, ","))
	}
	fmt.Fprintf(&b, " --set-mark %d", r.Mark)
	return b.String()
}
