package lab

import (
	"fmt"
	"net/netip"
	"strings"
)

// BuildDR creates the classic LVS-DR teaching topology, one shared segment:
//
//	client ──┐
//	director ┼── bridge (one Ethernet segment)
//	rs1, rs2 ┘
//
// The client (198.51.100.2/24) reaches 192.0.2.0/24 on-link, so it ARPs for
// the VIP and only the director answers. The director has one interface,
// eth0, with 198.51.100.1/24 and 203.0.113.1/24; the VIP is on no kernel
// interface of it. Each real server has eth0 203.0.113.1N/24, the VIP on lo
// (/32) with arp_ignore=1 and arp_announce=2 so it accepts packets for the
// VIP but never answers ARP for it, and a route to the client network on
// the segment: its replies go straight to the client, bypassing the
// director. The director only rewrites the destination MAC.
//
// With Options.IPv6 the segment is dual-stack: client 2001:db8:1::2/64
// with 2001:db8:2::/64 on-link, director eth0 2001:db8:1::1/64 and
// 2001:db8:3::1/64, real servers 2001:db8:3::1N/64 with VIP6/128 on lo and
// 2001:db8:1::/64 on the segment. IPv6 needs no sysctl for the VIP: Linux
// answers a neighbour solicitation only for addresses of the interface that
// received it.
func BuildDR(opt Options) (t *Topology, err error) {
	b, err := newBuilder(&opt, MaxReals, "")
	if err != nil {
		return nil, err
	}
	defer undoFailedBuild(b, &t, &err)
	t = planDR(b, opt)
	if err := t.addNamespaces(nil, "client", "dir", "sw"); err != nil {
		return nil, err
	}
	if err := b.AddBridge(t.SwitchNS, t.Bridge); err != nil {
		return nil, err
	}
	join := func(ep Endpoint, port string) error {
		if err := b.AddVeth(ep, Endpoint{NS: t.SwitchNS, If: port}, opt.MTU); err != nil {
			return err
		}
		return b.AddBridgePort(t.SwitchNS, t.Bridge, port)
	}
	if err := join(Endpoint{NS: t.ClientNS, If: t.ClientIf, Addrs: addrs(t.CIP, clientNet, t.CIP6, clientNet6)}, "cl-eth0"); err != nil {
		return nil, err
	}
	dirAddrs := []netip.Prefix{netip.PrefixFrom(t.DIPClient, clientNet.Bits()), netip.PrefixFrom(t.DIPReal, realNet.Bits())}
	if opt.IPv6 {
		dirAddrs = append(dirAddrs, netip.PrefixFrom(t.DIP6Client, clientNet6.Bits()), netip.PrefixFrom(t.DIP6Real, realNet6.Bits()))
	}
	if err := join(Endpoint{NS: t.DirectorNS, If: "eth0", Addrs: dirAddrs}, t.DirSwitchPort); err != nil {
		return nil, err
	}
	for _, r := range t.Reals {
		if err := join(Endpoint{NS: r.NS, If: r.If, Addrs: addrs(r.RIP, realNet, r.RIP6, realNet6)}, r.SwitchPort); err != nil {
			return nil, err
		}
	}
	if err := t.addClientVIPRoutes(); err != nil {
		return nil, err
	}
	for _, r := range t.Reals {
		if err := b.AddRoute(r.NS, Route{Dst: clientNet, Dev: r.If}); err != nil {
			return nil, err
		}
		if err := realServerDR(b, r.NS, t.VIP, t.VIP6); err != nil {
			return nil, err
		}
		if opt.IPv6 {
			if err := b.AddRoute(r.NS, Route{Dst: clientNet6, Dev: r.If}); err != nil {
				return nil, err
			}
		}
	}
	return t, nil
}

// planDR returns the DR topology's names and addresses for b and opt
// (checked by newBuilder), without creating anything.
func planDR(b *Builder, opt Options) *Topology {
	t := &Topology{
		Builder: b, Mode: "dr",
		ClientNS: b.NS("client"), DirectorNS: b.NS("dir"), SwitchNS: b.NS("sw"),
		ClientIf: "eth0", DirClientIf: "eth0", DirRealIf: "eth0", DirSwitchPort: "dir-eth0", Bridge: "br0",
		CIP: cip, VIP: vip, DIPClient: dipClient, DIPReal: dipReal,
		ClientNet: clientNet, RealNet: realNet, VIPNet: vipNet,
		DirIfaces: []string{"eth0"}, ServeOnVIP: true,
	}
	if opt.IPv6 {
		t.setIPv6(cip6, dip6Client, dip6Real, clientNet6, realNet6)
	}
	t.addReals(opt.Reals, realNet, realNet6, firstRIPHost, "-eth0")
	return t
}

// realServerDR prepares a DR real server: the VIP on lo, and the ARP
// settings that keep it from answering for the VIP (arp_ignore=1: answer
// only for addresses of the receiving interface; arp_announce=2: use the
// best local source in own ARP requests, never the VIP). A valid vip6 goes
// on lo as a /128 too; IPv6 needs no sysctl.
func realServerDR(b *Builder, ns string, vip, vip6 netip.Addr) error {
	for _, kv := range [][2]string{
		{"net.ipv4.conf.all.arp_ignore", "1"}, {"net.ipv4.conf.all.arp_announce", "2"},
		{"net.ipv4.conf.eth0.arp_ignore", "1"}, {"net.ipv4.conf.eth0.arp_announce", "2"},
	} {
		if err := b.SetSysctl(ns, kv[0], kv[1]); err != nil {
			return err
		}
	}
	if err := b.AddAddr(ns, "lo", netip.PrefixFrom(vip, 32)); err != nil {
		return err
	}
	if vip6.IsValid() {
		return b.AddAddr(ns, "lo", netip.PrefixFrom(vip6, 128))
	}
	return nil
}

func (t *Topology) describeDR() string {
	var s strings.Builder
	fmt.Fprintf(&s, "gdirector lab %q: LVS-DR, %d real server(s), VIP %s, one shared segment\n\n", t.Prefix(), len(t.Reals), t.VIP)
	fmt.Fprintf(&s, "  switch [%s] bridge %s: every host below is on this one Ethernet segment\n", t.SwitchNS, t.Bridge)
	fmt.Fprintf(&s, "    +- client   [%s]  eth0 %s, route %s dev eth0 (ARPs for the VIP)\n",
		t.ClientNS, netip.PrefixFrom(t.CIP, t.ClientNet.Bits()), t.VIPNet)
	fmt.Fprintf(&s, "    +- director [%s]  eth0 %s + %s; VIP %s answered in userspace only\n",
		t.DirectorNS, netip.PrefixFrom(t.DIPClient, t.ClientNet.Bits()), netip.PrefixFrom(t.DIPReal, t.RealNet.Bits()), t.VIP)
	for _, r := range t.Reals {
		fmt.Fprintf(&s, "    +- %-8s [%s]  eth0 %s, VIP %s/32 on lo (arp_ignore=1, arp_announce=2)\n",
			r.Name, r.NS, netip.PrefixFrom(r.RIP, t.RealNet.Bits()), t.VIP)
	}
	if t.DualStack() {
		fmt.Fprintf(&s, "\n  IPv6 (no DAD): client %s, route %s dev eth0; director %s + %s;\n",
			netip.PrefixFrom(t.CIP6, t.ClientNet6.Bits()), t.VIPNet6,
			netip.PrefixFrom(t.DIP6Client, t.ClientNet6.Bits()), netip.PrefixFrom(t.DIP6Real, t.RealNet6.Bits()))
		fmt.Fprintf(&s, "  real servers %s with VIP6 %s/128 on lo and %s dev eth0\n",
			strings.Join(addrStrings(t.RIP6s()), ", "), t.VIP6, t.ClientNet6)
	}
	fmt.Fprintf(&s, "\n  A request: client → director (VIP's MAC is the director's) → the director\n")
	fmt.Fprintf(&s, "  rewrites only the destination MAC → real server (packet still to the VIP).\n")
	fmt.Fprintf(&s, "  The reply goes from the real server, source VIP, straight to the client.\n")
	return s.String()
}

func addrStrings(as []netip.Addr) []string {
	out := make([]string, len(as))
	for i, a := range as {
		out[i] = a.String()
	}
	return out
}
