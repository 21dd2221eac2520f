package lab

import (
	"fmt"
	"net/netip"

	"github.com/gdirector/gdirector/internal/nsutil"
)

// FullNATLocalAddr is the director's FullNAT local address in the lab: in
// the real servers' subnet, on no kernel interface (gdirector answers ARP
// for it, as for a VIP).
var FullNATLocalAddr = netip.MustParseAddr("203.0.113.100")

// FullNATLocalAddr6 is the IPv6 local address of a dual-stack FullNAT lab,
// in the real servers' IPv6 subnet and likewise on no kernel interface.
var FullNATLocalAddr6 = netip.MustParseAddr("2001:db8:3::100")

// BuildFullNAT builds the NAT topology and then removes the real servers'
// default routes: they know only their own subnet and have no route to the
// client at all. FullNAT makes that work: the director rewrites the client
// address to its local address (FullNATLocalAddr) on the way in, so the real
// servers answer a neighbour on their own segment. A dual-stack lab loses
// the IPv6 default routes too (FullNATLocalAddr6).
func BuildFullNAT(opt Options) (*Topology, error) {
	t, err := Build(opt)
	if err != nil {
		return nil, err
	}
	t.Mode = "fullnat"
	for _, r := range t.Reals {
		if out, err := nsutil.Run(r.NS, "ip", "route", "del", "default"); err != nil {
			t.Close()
			return nil, fmt.Errorf("lab: remove default route of %s: %v: %s", r.Name, err, out)
		}
		if !t.DualStack() {
			continue
		}
		if out, err := nsutil.Run(r.NS, "ip", "-6", "route", "del", "default"); err != nil {
			t.Close()
			return nil, fmt.Errorf("lab: remove IPv6 default route of %s: %v: %s", r.Name, err, out)
		}
	}
	return t, nil
}
