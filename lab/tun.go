package lab

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/gdirector/gdirector/internal/nsutil"
)

// Addresses of the TUN topology: three routed subnets carved from the
// real-server range, joined by a router namespace.
var (
	tunDirNet  = netip.MustParsePrefix("203.0.113.0/28")  // router .1, director .2
	tunRealNet = netip.MustParsePrefix("203.0.113.64/26") // router .65, reals .75…
	tunRouterD = netip.MustParseAddr("203.0.113.1")
	tunDIP     = netip.MustParseAddr("203.0.113.2")
	tunRouterR = netip.MustParseAddr("203.0.113.65")
	tunRouterC = netip.MustParseAddr("198.51.100.1")

	// IPv6 (Options.IPv6): subnets of 2001:db8:3::/48, the router ::1 on
	// each, the director ::2, the real servers ::75, ::76, … (the IPv4
	// host numbers).
	tunDirNet6  = netip.MustParsePrefix("2001:db8:3:1::/64")
	tunRealNet6 = netip.MustParsePrefix("2001:db8:3:2::/64")
	tunRouterD6 = netip.MustParseAddr("2001:db8:3:1::1")
	tunDIP6     = netip.MustParseAddr("2001:db8:3:1::2")
	tunRouterR6 = netip.MustParseAddr("2001:db8:3:2::1")
	tunRouterC6 = netip.MustParseAddr("2001:db8:1::1")
)

const tunFirstRIPHost = 75

// BuildTUN creates the LVS-TUN teaching topology: real servers on another
// routed subnet than the director, reached through IPIP tunnels.
//
//	client ── router ── director
//	            │
//	            └──── rs1, rs2 (another subnet)
//
// The client (198.51.100.2/24) uses the router (198.51.100.1) as its
// gateway; the router sends VIP traffic to the director (203.0.113.2, its
// only interface, default route via the router). The director encapsulates
// each packet in an outer IPv4 header, director → RIP, which the router
// forwards to the real servers' subnet (203.0.113.64/26). A real server
// decapsulates it (gdirector realserver tun: this kernel has no ipip
// module), accepts the inner packet for the VIP on its lo, and replies
// from the VIP straight to the client through the router, never through
// the director.
//
// With Options.IPv6 the routed plan is mirrored in IPv6 (forwarding=1 on
// the router): client 2001:db8:1::2/64 via 2001:db8:1::1, director
// 2001:db8:3:1::2/64 via 2001:db8:3:1::1, real servers 2001:db8:3:2::75/64
// … via 2001:db8:3:2::1 with VIP6/128 on lo, and the router sends
// 2001:db8:2::/64 to the director. The director then tunnels IPv6 in IPv6
// (next header 41) to RIP6.
func BuildTUN(opt Options) (t *Topology, err error) {
	b, err := newBuilder(&opt, 50, " in the TUN lab")
	if err != nil {
		return nil, err
	}
	defer undoFailedBuild(b, &t, &err)
	t = planTUN(b, opt)
	if err := t.addNamespaces(nil, "client", "dir", "rtr"); err != nil {
		return nil, err
	}
	rtr := t.SwitchNS
	// v6(a) is a in a dual-stack lab, else invalid (no IPv6 address).
	v6 := func(a netip.Addr) netip.Addr {
		if opt.IPv6 {
			return a
		}
		return netip.Addr{}
	}
	if err := b.AddVeth(Endpoint{NS: t.ClientNS, If: "eth0", Addrs: addrs(t.CIP, clientNet, t.CIP6, clientNet6)},
		Endpoint{NS: rtr, If: "client", Addrs: addrs(tunRouterC, clientNet, v6(tunRouterC6), clientNet6)}, opt.MTU); err != nil {
		return nil, err
	}
	if err := b.AddVeth(Endpoint{NS: t.DirectorNS, If: "eth0", Addrs: addrs(tunDIP, tunDirNet, t.DIP6Real, tunDirNet6)},
		Endpoint{NS: rtr, If: "dir", Addrs: addrs(tunRouterD, tunDirNet, v6(tunRouterD6), tunDirNet6)}, opt.MTU); err != nil {
		return nil, err
	}
	if err := b.AddBridge(rtr, t.Bridge); err != nil {
		return nil, err
	}
	for _, p := range addrs(tunRouterR, tunRealNet, v6(tunRouterR6), tunRealNet6) {
		if err := b.AddAddr(rtr, t.Bridge, p); err != nil {
			return nil, err
		}
	}
	for _, r := range t.Reals {
		if err := b.AddVeth(Endpoint{NS: r.NS, If: r.If, Addrs: addrs(r.RIP, tunRealNet, r.RIP6, tunRealNet6)},
			Endpoint{NS: rtr, If: r.SwitchPort}, opt.MTU); err != nil {
			return nil, err
		}
		if err := b.AddBridgePort(rtr, t.Bridge, r.SwitchPort); err != nil {
			return nil, err
		}
	}
	// The router forwards between its three networks; VIP traffic goes to
	// the director. Reverse-path filtering is off on every interface of
	// the router, not only in conf/all (the kernel applies the larger of
	// conf/all and conf/<dev>, and a new namespace's interfaces inherit
	// the host's conf/default, which is strict on some distributions): a
	// real server's reply comes from the VIP on br0 while the router's
	// route to the VIP points at the director, so a strict filter would
	// drop every reply.
	sysctls := [][2]string{{"net.ipv4.ip_forward", "1"}, {"net.ipv4.conf.all.rp_filter", "0"},
		{"net.ipv4.conf.default.rp_filter", "0"}, {"net.ipv4.conf.client.rp_filter", "0"},
		{"net.ipv4.conf.dir.rp_filter", "0"}, {"net.ipv4.conf." + t.Bridge + ".rp_filter", "0"}}
	if opt.IPv6 {
		sysctls = append(sysctls, [2]string{"net.ipv6.conf.all.forwarding", "1"})
	}
	for _, kv := range sysctls {
		if err := b.SetSysctl(rtr, kv[0], kv[1]); err != nil {
			return nil, err
		}
	}
	type nsRoute struct {
		ns string
		r  Route
	}
	routes := []nsRoute{
		{rtr, Route{Dst: vipNet, Via: tunDIP}},
		{t.ClientNS, Route{Via: tunRouterC}},
		{t.DirectorNS, Route{Via: tunRouterD}},
	}
	if opt.IPv6 {
		routes = append(routes,
			nsRoute{rtr, Route{Dst: vipNet6, Via: tunDIP6}},
			nsRoute{t.ClientNS, Route{Via: tunRouterC6}},
			nsRoute{t.DirectorNS, Route{Via: tunRouterD6}})
	}
	for _, r := range t.Reals {
		routes = append(routes, nsRoute{r.NS, Route{Via: tunRouterR}})
		if opt.IPv6 {
			routes = append(routes, nsRoute{r.NS, Route{Via: tunRouterR6}})
		}
	}
	for _, x := range routes {
		if err := b.AddRoute(x.ns, x.r); err != nil {
			return nil, err
		}
	}
	for _, r := range t.Reals {
		if err := realServerDR(b, r.NS, t.VIP, t.VIP6); err != nil { // the VIPs on lo, not ARPed
			return nil, err
		}
	}
	return t, nil
}

// planTUN returns the TUN topology's names and addresses for b and opt
// (checked by newBuilder), without creating anything.
func planTUN(b *Builder, opt Options) *Topology {
	t := &Topology{
		Builder: b, Mode: "tun",
		ClientNS: b.NS("client"), DirectorNS: b.NS("dir"), SwitchNS: b.NS("rtr"),
		ClientIf: "eth0", DirClientIf: "eth0", DirRealIf: "eth0", DirSwitchPort: "dir", Bridge: "br0",
		CIP: cip, VIP: vip, DIPClient: tunDIP, DIPReal: tunDIP,
		ClientNet: clientNet, RealNet: tunRealNet, VIPNet: vipNet,
		DirIfaces: []string{"eth0"}, ServeOnVIP: true,
	}
	if opt.IPv6 {
		t.setIPv6(cip6, tunDIP6, tunDIP6, clientNet6, tunRealNet6)
	}
	t.addReals(opt.Reals, tunRealNet, tunRealNet6, tunFirstRIPHost, "")
	return t
}

func (t *Topology) describeTUN() string {
	var s strings.Builder
	fmt.Fprintf(&s, "gdirector lab %q: LVS-TUN, %d real server(s), VIP %s, real servers on another subnet\n\n", t.Prefix(), len(t.Reals), t.VIP)
	fmt.Fprintf(&s, "  client   [%s]  eth0 %s, default via %s\n", t.ClientNS, netip.PrefixFrom(t.CIP, clientNet.Bits()), tunRouterC)
	fmt.Fprintf(&s, "  router   [%s]  %s | %s | %s (bridge %s); route %s via %s\n", t.SwitchNS,
		netip.PrefixFrom(tunRouterC, clientNet.Bits()), netip.PrefixFrom(tunRouterD, tunDirNet.Bits()),
		netip.PrefixFrom(tunRouterR, tunRealNet.Bits()), t.Bridge, vipNet, tunDIP)
	fmt.Fprintf(&s, "  director [%s]  eth0 %s, default via %s; VIP in userspace only\n", t.DirectorNS, netip.PrefixFrom(tunDIP, tunDirNet.Bits()), tunRouterD)
	for _, r := range t.Reals {
		fmt.Fprintf(&s, "  %-8s [%s]  eth0 %s, default via %s, VIP %s/32 on lo, IPIP decapsulated in userspace\n",
			r.Name, r.NS, netip.PrefixFrom(r.RIP, tunRealNet.Bits()), tunRouterR, t.VIP)
	}
	if t.DualStack() {
		fmt.Fprintf(&s, "\n  IPv6 (no DAD, router forwarding=1): client %s via %s; router %s | %s | %s, route %s via %s;\n",
			netip.PrefixFrom(t.CIP6, clientNet6.Bits()), tunRouterC6, netip.PrefixFrom(tunRouterC6, clientNet6.Bits()),
			netip.PrefixFrom(tunRouterD6, tunDirNet6.Bits()), netip.PrefixFrom(tunRouterR6, tunRealNet6.Bits()), vipNet6, tunDIP6)
		fmt.Fprintf(&s, "  director %s via %s; real servers %s via %s, VIP6 %s/128 on lo (ip6ip6, next header 41)\n",
			netip.PrefixFrom(tunDIP6, tunDirNet6.Bits()), tunRouterD6, strings.Join(addrStrings(t.RIP6s()), ", "), tunRouterR6, t.VIP6)
	}
	fmt.Fprintf(&s, "\n  A request: client → router → director, which wraps it in IPIP (outer %s → RIP)\n", tunDIP)
	fmt.Fprintf(&s, "  → router → real server, which unwraps it and replies from the VIP → router → client.\n")
	return s.String()
}

// StartDecapsulators runs `bin realserver tun` in every real server of a
// TUN lab (this kernel has no ipip module, so the IPIP packets are
// unwrapped in userspace; in a dual-stack lab ip6ip6 for VIP6 too), logging to dir/<rs>-tun.log, and waits until
// each has its TUN device up.
func (t *Topology) StartDecapsulators(bin, dir string) error {
	for _, r := range t.Reals {
		vips := t.VIP.String()
		if t.DualStack() {
			vips += "," + t.VIP6.String()
		}
		if _, err := t.StartLogged(r.NS, filepath.Join(dir, r.Name+"-tun.log"), bin, "realserver", "tun",
			"--vip", vips, "--iface", r.If, "--tun", "gdtun0"); err != nil {
			return err
		}
	}
	deadline := time.Now().Add(readyTimeout)
	for _, r := range t.Reals {
		for {
			if _, err := nsutil.Run(r.NS, "ip", "link", "show", "gdtun0", "up"); err == nil {
				break
			}
			if time.Now().After(deadline) {
				log, _ := os.ReadFile(filepath.Join(dir, r.Name+"-tun.log"))
				return fmt.Errorf("lab: decapsulator of %s not up: %s", r.Name, log)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	return nil
}
