// Package route answers the data plane's next-hop questions from the host's
// own routing and neighbour tables over netlink, so gdirector chooses the
// egress interface, gateway and source address exactly as the kernel of
// the namespace it runs in would, with no address layout of its own.
package route

import (
	"fmt"
	"net"
	"net/netip"

	"github.com/vishvananda/netlink"

	"github.com/gdirector/gdirector/datapath"
)

// Netlink implements datapath.Router with the host's tables.
type Netlink struct{}

// Route asks the kernel which route it would use to reach dst.
func (Netlink) Route(dst netip.Addr) (datapath.Route, error) {
	rs, err := netlink.RouteGet(net.IP(dst.AsSlice()))
	if err != nil {
		return datapath.Route{}, fmt.Errorf("route get %v: %w", dst, err)
	}
	if len(rs) == 0 {
		return datapath.Route{}, datapath.ErrNoRoute
	}
	r := rs[0]
	out := datapath.Route{IfIndex: r.LinkIndex, NextHop: dst}
	if gw, ok := netip.AddrFromSlice(r.Gw); ok && r.Gw != nil && !gw.IsUnspecified() {
		out.NextHop = gw.Unmap()
	}
	if src, ok := netip.AddrFromSlice(r.Src); ok && r.Src != nil {
		out.Src = src.Unmap()
	}
	return out, nil
}

// Neighbor looks addr up in the kernel's neighbour table of ifindex and
// returns its MAC when the entry is usable (reachable, stale, delay,
// probe or permanent).
func (Netlink) Neighbor(ifindex int, addr netip.Addr) ([6]byte, bool) {
	fam := netlink.FAMILY_V4
	if addr.Is6() && !addr.Is4In6() {
		fam = netlink.FAMILY_V6
	}
	ns, err := netlink.NeighList(ifindex, fam)
	if err != nil {
		return [6]byte{}, false
	}
	const usable = netlink.NUD_REACHABLE | netlink.NUD_STALE | netlink.NUD_DELAY | netlink.NUD_PROBE | netlink.NUD_PERMANENT
	for _, n := range ns {
		a, ok := netip.AddrFromSlice(n.IP)
		if !ok || a.Unmap() != addr || n.State&usable == 0 || len(n.HardwareAddr) != 6 {
			continue
		}
		return [6]byte(n.HardwareAddr), true
	}
	return [6]byte{}, false
}

// Static is a fixed Router for tests and for hosts where netlink is not
// wanted: routes by prefix (longest match) and a static neighbour table.
type Static struct {
	Routes    []StaticRoute
	Neighbors map[netip.Addr][6]byte
}

// StaticRoute is one entry of a Static router.
type StaticRoute struct {
	Prefix  netip.Prefix
	IfIndex int
	Gateway netip.Addr // zero for on-link
	Src     netip.Addr
}

// Route returns the longest-prefix match.
func (s *Static) Route(dst netip.Addr) (datapath.Route, error) {
	best := -1
	for i, r := range s.Routes {
		if r.Prefix.Contains(dst) && (best < 0 || r.Prefix.Bits() > s.Routes[best].Prefix.Bits()) {
			best = i
		}
	}
	if best < 0 {
		return datapath.Route{}, datapath.ErrNoRoute
	}
	r := s.Routes[best]
	hop := dst
	if r.Gateway.IsValid() {
		hop = r.Gateway
	}
	return datapath.Route{IfIndex: r.IfIndex, NextHop: hop, Src: r.Src}, nil
}

// Neighbor returns the static entry.
func (s *Static) Neighbor(_ int, addr netip.Addr) ([6]byte, bool) {
	m, ok := s.Neighbors[addr]
	return m, ok
}
