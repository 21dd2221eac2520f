package lab

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
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
func BuildTUN(opt Options) (t *Topology, err error) {
	if opt.Reals == 0 {
		opt.Reals = 2
	}
	if opt.Reals < 1 || opt.Reals > 50 {
		return nil, fmt.Errorf("lab: %d real servers: want 1..50 in the TUN lab", opt.Reals)
	}
	b, err := NewBuilder(opt.Prefix)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			if cerr := b.Close(); cerr != nil {
				err = errors.Join(err, fmt.Errorf("lab: cleanup after failed build: %w", cerr))
			}
			t = nil
		}
	}()
	t = &Topology{
		Builder: b, Mode: "tun",
		ClientNS: b.NS("client"), DirectorNS: b.NS("dir"), SwitchNS: b.NS("rtr"),
		ClientIf: "eth0", DirClientIf: "eth0", DirRealIf: "eth0", DirSwitchPort: "dir", Bridge: "br0",
		CIP: cip, VIP: vip, DIPClient: tunDIP, DIPReal: tunDIP,
		ClientNet: clientNet, RealNet: tunRealNet, VIPNet: vipNet,
		DirIfaces: []string{"eth0"}, ServeOnVIP: true,
	}
	base := tunRealNet.Addr().As4()
	for i := 0; i < opt.Reals; i++ {
		name := "rs" + strconv.Itoa(i+1)
		a := base
		a[3] = byte(tunFirstRIPHost + i)
		t.Reals = append(t.Reals, Real{Name: name, NS: b.NS(name), If: "eth0", SwitchPort: name, RIP: netip.AddrFrom4(a)})
	}
	roles := []string{"client", "dir", "rtr"}
	for _, r := range t.Reals {
		roles = append(roles, r.Name)
	}
	for _, role := range roles {
		if _, err := b.AddNamespace(role); err != nil {
			return nil, err
		}
	}
	rtr := t.SwitchNS
	pfx := func(a netip.Addr, n netip.Prefix) []netip.Prefix {
		return []netip.Prefix{netip.PrefixFrom(a, n.Bits())}
	}
	if err := b.AddVeth(Endpoint{NS: t.ClientNS, If: "eth0", Addrs: pfx(t.CIP, clientNet)},
		Endpoint{NS: rtr, If: "client", Addrs: pfx(tunRouterC, clientNet)}, opt.MTU); err != nil {
		return nil, err
	}
	if err := b.AddVeth(Endpoint{NS: t.DirectorNS, If: "eth0", Addrs: pfx(tunDIP, tunDirNet)},
		Endpoint{NS: rtr, If: "dir", Addrs: pfx(tunRouterD, tunDirNet)}, opt.MTU); err != nil {
		return nil, err
	}
	if err := b.AddBridge(rtr, t.Bridge); err != nil {
		return nil, err
	}
	if err := b.AddAddr(rtr, t.Bridge, netip.PrefixFrom(tunRouterR, tunRealNet.Bits())); err != nil {
		return nil, err
	}
	for _, r := range t.Reals {
		if err := b.AddVeth(Endpoint{NS: r.NS, If: r.If, Addrs: pfx(r.RIP, tunRealNet)},
			Endpoint{NS: rtr, If: r.SwitchPort}, opt.MTU); err != nil {
			return nil, err
		}
		if err := b.AddBridgePort(rtr, t.Bridge, r.SwitchPort); err != nil {
			return nil, err
		}
	}
	// The router forwards between its three networks; VIP traffic goes to
	// the director.
	for _, kv := range [][2]string{{"net.ipv4.ip_forward", "1"}, {"net.ipv4.conf.all.rp_filter", "0"}} {
		if err := b.SetSysctl(rtr, kv[0], kv[1]); err != nil {
			return nil, err
		}
	}
	if err := b.AddRoute(rtr, Route{Dst: vipNet, Via: tunDIP}); err != nil {
		return nil, err
	}
	if err := b.AddRoute(t.ClientNS, Route{Via: tunRouterC}); err != nil {
		return nil, err
	}
	if err := b.AddRoute(t.DirectorNS, Route{Via: tunRouterD}); err != nil {
		return nil, err
	}
	for _, r := range t.Reals {
		if err := b.AddRoute(r.NS, Route{Via: tunRouterR}); err != nil {
			return nil, err
		}
		if err := realServerDR(b, r.NS, t.VIP); err != nil { // the VIP on lo, not ARPed
			return nil, err
		}
	}
	return t, nil
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
	fmt.Fprintf(&s, "\n  A request: client → router → director, which wraps it in IPIP (outer %s → RIP)\n", tunDIP)
	fmt.Fprintf(&s, "  → router → real server, which unwraps it and replies from the VIP → router → client.\n")
	return s.String()
}

// StartDecapsulators runs `bin realserver tun` in every real server of a
// TUN lab (this kernel has no ipip module, so the IPIP packets are
// unwrapped in userspace), logging to dir/<rs>-tun.log, and waits until
// each has its TUN device up.
func (t *Topology) StartDecapsulators(bin, dir string) error {
	for _, r := range t.Reals {
		if _, err := t.StartLogged(r.NS, filepath.Join(dir, r.Name+"-tun.log"), bin, "realserver", "tun",
			"--vip", t.VIP.String(), "--iface", r.If, "--tun", "gdtun0"); err != nil {
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
