package lab

import (
	"context"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/gdirector/gdirector/internal/nsutil"
)

// Lab address plan (DESIGN.md §6).
var (
	clientNet = netip.MustParsePrefix("198.51.100.0/24")
	realNet   = netip.MustParsePrefix("203.0.113.0/24")
	vipNet    = netip.MustParsePrefix("192.0.2.0/24")
	cip       = netip.MustParseAddr("198.51.100.2")
	dipClient = netip.MustParseAddr("198.51.100.1")
	dipReal   = netip.MustParseAddr("203.0.113.1")
	vip       = netip.MustParseAddr("192.0.2.10")

	// The IPv6 plan of a dual-stack lab (Options.IPv6) mirrors the IPv4
	// one: client net 2001:db8:1::/64, VIPs in 2001:db8:2::/64, real
	// servers in 2001:db8:3::/64 with the IPv4 host numbers written as
	// the last group (203.0.113.11 ↔ 2001:db8:3::11).
	clientNet6 = netip.MustParsePrefix("2001:db8:1::/64")
	vipNet6    = netip.MustParsePrefix("2001:db8:2::/64")
	realNet6   = netip.MustParsePrefix("2001:db8:3::/64")
	cip6       = netip.MustParseAddr("2001:db8:1::2")
	dip6Client = netip.MustParseAddr("2001:db8:1::1")
	dip6Real   = netip.MustParseAddr("2001:db8:3::1")
	vip6       = netip.MustParseAddr("2001:db8:2::10")
)

// hostIn6 returns the address of net whose last group reads as the decimal
// host number n (net 2001:db8:3::/64, n 11: 2001:db8:3::11).
func hostIn6(net netip.Prefix, n int) netip.Addr {
	return netip.MustParseAddr(net.Masked().Addr().String() + strconv.Itoa(n))
}

// addrs returns a4/n4 and, when a6 is valid, a6/n6: an interface's
// addresses in a single- or dual-stack lab.
func addrs(a4 netip.Addr, n4 netip.Prefix, a6 netip.Addr, n6 netip.Prefix) []netip.Prefix {
	out := []netip.Prefix{netip.PrefixFrom(a4, n4.Bits())}
	if a6.IsValid() {
		out = append(out, netip.PrefixFrom(a6, n6.Bits()))
	}
	return out
}

const (
	// MaxReals is the largest number of real servers: RIPs run from
	// 203.0.113.11 to 203.0.113.254.
	MaxReals = 244
	// HTTPPort and UDPPort are where StartReals' servers listen on each RIP.
	HTTPPort = 80
	UDPPort  = 53

	firstRIPHost = 11
	readyTimeout = 10 * time.Second
)

// Options selects the topology's size and names.
type Options struct {
	// Prefix names every namespace "<Prefix>-<role>"; "" selects
	// DefaultPrefix() ("gdl<pid>").
	Prefix string
	// Reals is the number of real servers, 1..MaxReals; 0 means 2.
	Reals int
	// MTU of every veth; 0 keeps the kernel default (1500).
	MTU int
	// IPv6 builds a dual-stack lab: IPv6 enabled in every namespace
	// (without DAD, router advertisements or autoconfiguration) and
	// addresses from 2001:db8::/32 next to the IPv4 ones (VIP6, CIP6, …).
	// False disables IPv6 in every namespace.
	IPv6 bool

	// failAt makes Build fail just before the named step (tests).
	failAt string
}

// Real is one real server of a topology.
type Real struct {
	Name       string     // "rs1", "rs2", …: the name its servers report
	NS         string     // "<prefix>-rs1"
	If         string     // "eth0", its only interface
	SwitchPort string     // "rs1-eth0", the bridge port in the switch namespace
	RIP        netip.Addr // 203.0.113.11, .12, …
	RIP6       netip.Addr // dual-stack labs: 2001:db8:3::11, ::12, …; else invalid
	HTTP, UDP  *nsutil.Proc
	// HTTP6 and UDP6 are the servers on the IPv6 service address
	// (dual-stack labs only).
	HTTP6, UDP6 *nsutil.Proc
}

// Topology is a built lab. It embeds the Builder that made it: Close stops
// its processes and deletes its namespaces, and the Builder methods can add
// to it (an extra route, a process).
type Topology struct {
	*Builder

	// Mode is the forwarding method the topology was built for ("nat").
	Mode string

	ClientNS, DirectorNS, SwitchNS string

	ClientIf      string // "eth0" in ClientNS
	DirClientIf   string // "eth0" in DirectorNS, the client's peer
	DirRealIf     string // "eth1" in DirectorNS, towards the bridge
	DirSwitchPort string // "dir-eth1", the bridge port in SwitchNS
	Bridge        string // "br0" in SwitchNS

	CIP       netip.Addr // client address, 198.51.100.2
	VIP       netip.Addr // virtual address, 192.0.2.10 (on no kernel)
	DIPClient netip.Addr // director, client side: 198.51.100.1
	DIPReal   netip.Addr // director, real-server side: 203.0.113.1 (their gateway)

	ClientNet, RealNet, VIPNet netip.Prefix

	// IPv6 addresses of a dual-stack lab (Options.IPv6); invalid (zero)
	// otherwise.
	VIP6       netip.Addr // 2001:db8:2::10 (on no kernel)
	CIP6       netip.Addr // 2001:db8:1::2
	DIP6Client netip.Addr // NAT, DR: 2001:db8:1::1
	DIP6Real   netip.Addr // NAT, DR: 2001:db8:3::1

	ClientNet6, RealNet6, VIPNet6 netip.Prefix

	Reals []Real

	// DirIfaces are the director interfaces gdirector serves.
	DirIfaces []string
	// ServeOnVIP: the real servers' own services listen on the VIP (DR,
	// TUN: packets reach them still addressed to the VIP), not the RIP.
	ServeOnVIP bool
}

// DualStack reports whether the lab has IPv6 addresses (Options.IPv6).
func (t *Topology) DualStack() bool { return t.VIP6.IsValid() }

// setIPv6 fills the IPv6 fields of a dual-stack lab.
func (t *Topology) setIPv6(cip, dipClient, dipReal netip.Addr, clientNet, realNet netip.Prefix) {
	t.VIP6, t.CIP6, t.DIP6Client, t.DIP6Real = vip6, cip, dipClient, dipReal
	t.ClientNet6, t.RealNet6, t.VIPNet6 = clientNet, realNet, vipNet6
}

// RIP6s returns the real servers' IPv6 addresses in order (dual-stack labs).
func (t *Topology) RIP6s() []netip.Addr {
	out := make([]netip.Addr, len(t.Reals))
	for i, r := range t.Reals {
		out[i] = r.RIP6
	}
	return out
}

// RIPs returns the real servers' addresses in order.
func (t *Topology) RIPs() []netip.Addr {
	out := make([]netip.Addr, len(t.Reals))
	for i, r := range t.Reals {
		out[i] = r.RIP
	}
	return out
}

// Build creates the classic LVS-NAT teaching topology:
//
//	client ── director ══ bridge ══ rs1, rs2, …
//
// The client (198.51.100.2/24) reaches 192.0.2.0/24 on-link through its eth0,
// so it ARPs for the VIP and the director must answer in userspace. The
// director has eth0 198.51.100.1/24 facing the client and eth1 203.0.113.1/24
// facing a bridge in the switch namespace; the VIP is not configured on its
// kernel and ip_forward stays 0. Each real server has eth0 203.0.113.1N/24
// and a default route via the director, as NAT requires. If any step fails,
// Build removes everything it created before returning the error.
//
// With Options.IPv6 the same plan is mirrored in IPv6: client
// 2001:db8:1::2/64 with 2001:db8:2::/64 on-link (it sends neighbour
// solicitations for VIP6 2001:db8:2::10), director 2001:db8:1::1/64 and
// 2001:db8:3::1/64, real servers 2001:db8:3::1N/64 with a default route
// via 2001:db8:3::1.
func Build(opt Options) (t *Topology, err error) {
	b, err := newBuilder(&opt, MaxReals, "")
	if err != nil {
		return nil, err
	}
	defer undoFailedBuild(b, &t, &err)
	step := func(name string) error {
		if opt.failAt == name {
			return fmt.Errorf("lab: injected failure before %q", name)
		}
		return nil
	}

	t = planNAT(b, opt)

	// Namespaces.
	if err := t.addNamespaces(step, "client", "dir", "sw"); err != nil {
		return nil, err
	}

	// Client <-> director.
	if err := step("link client-dir"); err != nil {
		return nil, err
	}
	err = b.AddVeth(
		Endpoint{NS: t.ClientNS, If: t.ClientIf, Addrs: addrs(t.CIP, clientNet, t.CIP6, clientNet6)},
		Endpoint{NS: t.DirectorNS, If: t.DirClientIf, Addrs: addrs(t.DIPClient, clientNet, t.DIP6Client, clientNet6)},
		opt.MTU)
	if err != nil {
		return nil, err
	}

	// The switch, the director's leg and one leg per real server.
	if err := step("bridge"); err != nil {
		return nil, err
	}
	if err := b.AddBridge(t.SwitchNS, t.Bridge); err != nil {
		return nil, err
	}
	if err := step("link dir-sw"); err != nil {
		return nil, err
	}
	err = b.AddVeth(
		Endpoint{NS: t.DirectorNS, If: t.DirRealIf, Addrs: addrs(t.DIPReal, realNet, t.DIP6Real, realNet6)},
		Endpoint{NS: t.SwitchNS, If: t.DirSwitchPort},
		opt.MTU)
	if err != nil {
		return nil, err
	}
	if err := b.AddBridgePort(t.SwitchNS, t.Bridge, t.DirSwitchPort); err != nil {
		return nil, err
	}
	for _, r := range t.Reals {
		if err := step("link " + r.Name + "-sw"); err != nil {
			return nil, err
		}
		err = b.AddVeth(
			Endpoint{NS: r.NS, If: r.If, Addrs: addrs(r.RIP, realNet, r.RIP6, realNet6)},
			Endpoint{NS: t.SwitchNS, If: r.SwitchPort},
			opt.MTU)
		if err != nil {
			return nil, err
		}
		if err := b.AddBridgePort(t.SwitchNS, t.Bridge, r.SwitchPort); err != nil {
			return nil, err
		}
	}

	// Routes: the VIP network on-link for the client, the director as the
	// real servers' default gateway.
	if err := step("route client"); err != nil {
		return nil, err
	}
	if err := t.addClientVIPRoutes(); err != nil {
		return nil, err
	}
	for _, r := range t.Reals {
		if err := step("route " + r.Name); err != nil {
			return nil, err
		}
		if err := b.AddRoute(r.NS, Route{Via: t.DIPReal, Dev: r.If}); err != nil {
			return nil, err
		}
		if opt.IPv6 {
			if err := b.AddRoute(r.NS, Route{Via: t.DIP6Real, Dev: r.If}); err != nil {
				return nil, err
			}
		}
	}
	return t, nil
}

// planNAT returns the NAT topology's names and addresses for b and opt
// (checked by newBuilder), without creating anything.
func planNAT(b *Builder, opt Options) *Topology {
	t := &Topology{
		Builder:       b,
		Mode:          "nat",
		ClientNS:      b.NS("client"),
		DirectorNS:    b.NS("dir"),
		SwitchNS:      b.NS("sw"),
		ClientIf:      "eth0",
		DirClientIf:   "eth0",
		DirRealIf:     "eth1",
		DirSwitchPort: "dir-eth1",
		Bridge:        "br0",
		CIP:           cip,
		VIP:           vip,
		DIPClient:     dipClient,
		DIPReal:       dipReal,
		ClientNet:     clientNet,
		RealNet:       realNet,
		VIPNet:        vipNet,
		DirIfaces:     []string{"eth0", "eth1"},
	}
	if opt.IPv6 {
		t.setIPv6(cip6, dip6Client, dip6Real, clientNet6, realNet6)
	}
	t.addReals(opt.Reals, realNet, realNet6, firstRIPHost, "-eth0")
	return t
}

// StartReals starts, in every real server's namespace,
//
//	bin serve http --listen RIP:80 --name rsN
//	bin serve udp  --listen RIP:53 --name rsN
//
// and in a dual-stack lab also the same two on [RIP6]:80 and [RIP6]:53
// (bin is the gdirector binary, or anything with the same "serve" grammar,
// see RunServe; ServiceAddr and ServiceAddr6 say where they listen),
// records them in Reals[i].HTTP, .UDP, .HTTP6 and .UDP6, and waits up to
// 10 s until each answers from inside its own namespace. Close stops them.
func (t *Topology) StartReals(bin string) error {
	for i := range t.Reals {
		if err := t.startServers(&t.Reals[i], t.Start, bin); err != nil {
			return err
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), readyTimeout)
	defer cancel()
	return t.waitReals(ctx)
}

// startServers starts r's servers with start (Start or a logging variant).
func (t *Topology) startServers(r *Real, start func(ns string, argv ...string) (*nsutil.Proc, error), bin string) error {
	serve := func(proto string, at netip.Addr, port uint16) (*nsutil.Proc, error) {
		return start(r.NS, bin, "serve", proto, "--listen", netip.AddrPortFrom(at, port).String(), "--name", r.Name)
	}
	var err error
	if r.HTTP, err = serve("http", t.ServiceAddr(*r), HTTPPort); err != nil {
		return err
	}
	if r.UDP, err = serve("udp", t.ServiceAddr(*r), UDPPort); err != nil {
		return err
	}
	if !t.DualStack() {
		return nil
	}
	if r.HTTP6, err = serve("http", t.ServiceAddr6(*r), HTTPPort); err != nil {
		return err
	}
	r.UDP6, err = serve("udp", t.ServiceAddr6(*r), UDPPort)
	return err
}

// waitReals waits until every real server's servers answer (waitReal).
func (t *Topology) waitReals(ctx context.Context) error {
	for _, r := range t.Reals {
		at := []netip.Addr{t.ServiceAddr(r)}
		if t.DualStack() {
			at = append(at, t.ServiceAddr6(r))
		}
		if err := waitReal(ctx, r, at...); err != nil {
			return err
		}
	}
	return nil
}

// ServiceAddr is where r's servers listen: its RIP, or the VIP on
// topologies whose real servers receive packets still addressed to the VIP.
func (t *Topology) ServiceAddr(r Real) netip.Addr {
	if t.ServeOnVIP {
		return t.VIP
	}
	return r.RIP
}

// ServiceAddr6 is ServiceAddr for IPv6: RIP6, or VIP6 when ServeOnVIP.
// It is invalid in a lab without IPv6.
func (t *Topology) ServiceAddr6(r Real) netip.Addr {
	if t.ServeOnVIP {
		return t.VIP6
	}
	return r.RIP6
}

// waitReal polls (every 50 ms, until ctx ends), from inside r's namespace,
// until on every address its HTTP server accepts a connection and its UDP
// server echoes a probe.
func waitReal(ctx context.Context, r Real, at ...netip.Addr) error {
	exited := func() error {
		for _, p := range []*nsutil.Proc{r.HTTP, r.UDP, r.HTTP6, r.UDP6} {
			if p != nil && p.Exited() {
				return fmt.Errorf("%s exited: %v; output: %s", p, p.Wait(), strings.TrimSpace(p.Output()))
			}
		}
		return nil
	}
	probe := func(addr netip.Addr) error {
		c, err := nsutil.DialContext(ctx, r.NS, "tcp", netip.AddrPortFrom(addr, HTTPPort).String())
		if err != nil {
			return err
		}
		c.Close()
		u, err := nsutil.DialContext(ctx, r.NS, "udp", netip.AddrPortFrom(addr, UDPPort).String())
		if err != nil {
			return err
		}
		defer u.Close()
		if _, err := u.Write([]byte("ready?")); err != nil {
			return err
		}
		_ = u.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
		buf := make([]byte, 512)
		n, err := u.Read(buf)
		if err != nil {
			return err
		}
		if want := r.Name + ":ready?"; string(buf[:n]) != want {
			return fmt.Errorf("udp probe of %s answered %q, want %q", addr, buf[:n], want)
		}
		return nil
	}
	for _, addr := range at {
		var last error
		ready := false
		for attempt := 0; attempt < 1000 && !ready; attempt++ {
			if err := exited(); err != nil {
				return fmt.Errorf("lab: servers of %s: %w", r.Name, err)
			}
			if last = probe(addr); last == nil {
				ready = true
				break
			}
			select {
			case <-ctx.Done():
				return fmt.Errorf("lab: servers of %s on %s not ready: %w", r.Name, addr, last)
			case <-time.After(50 * time.Millisecond):
			}
		}
		if !ready {
			return fmt.Errorf("lab: servers of %s on %s not ready: %w", r.Name, addr, last)
		}
	}
	return nil
}

// Describe returns an ASCII diagram of the topology with its names and
// addresses.
func (t *Topology) Describe() string {
	switch t.Mode {
	case "dr":
		return t.describeDR()
	case "tun":
		return t.describeTUN()
	}
	var s strings.Builder
	pfx := func(a netip.Addr, n netip.Prefix) string { return netip.PrefixFrom(a, n.Bits()).String() }
	fullnat := t.Mode == "fullnat"
	title, gw, gw6 := "LVS-NAT", "default via "+t.DIPReal.String(), "default via "+t.DIP6Real.String()
	if fullnat {
		title, gw, gw6 = "LVS-FullNAT", "no default route", "no default route"
	}
	fmt.Fprintf(&s, "gdirector lab %q: %s, %d real server(s), VIP %s\n\n", t.Prefix(), title, len(t.Reals), t.VIP)
	fmt.Fprintf(&s, "  client    [%s]\n", t.ClientNS)
	fmt.Fprintf(&s, "    %-5s %-18s route %s dev %s (on-link: ARPs for the VIP)\n",
		t.ClientIf, pfx(t.CIP, t.ClientNet), t.VIPNet, t.ClientIf)
	fmt.Fprintf(&s, "      |\n      |  %s (veth)\n      |\n", t.ClientNet)
	fmt.Fprintf(&s, "    %-5s %s\n", t.DirClientIf, pfx(t.DIPClient, t.ClientNet))
	fmt.Fprintf(&s, "  director  [%s]   VIP %s answered in userspace, not on the kernel; ip_forward=0\n",
		t.DirectorNS, t.VIP)
	fmt.Fprintf(&s, "    %-5s %s\n", t.DirRealIf, pfx(t.DIPReal, t.RealNet))
	fmt.Fprintf(&s, "      |\n      |  %s (veth)\n      |\n", t.RealNet)
	fmt.Fprintf(&s, "  switch    [%s]   bridge %s (STP off, forward delay 0)\n", t.SwitchNS, t.Bridge)
	fmt.Fprintf(&s, "    +- %s\n", t.DirSwitchPort)
	for _, r := range t.Reals {
		fmt.Fprintf(&s, "    +- %-10s ---- %-5s %-18s %-5s [%s]  %s\n",
			r.SwitchPort, r.If, pfx(r.RIP, t.RealNet), r.Name, r.NS, gw)
	}
	if fullnat {
		fmt.Fprintf(&s, "\n  FullNAT local address %s (answered in userspace): the real servers see it\n", FullNATLocalAddr)
		fmt.Fprintf(&s, "  instead of the client, and answer it on their own segment.\n")
		if t.DualStack() {
			fmt.Fprintf(&s, "  IPv6 local address %s.\n", FullNATLocalAddr6)
		}
	}
	if t.DualStack() {
		fmt.Fprintf(&s, "\n  IPv6 (no DAD): VIP6 %s (neighbour solicitations answered in userspace)\n", t.VIP6)
		fmt.Fprintf(&s, "    client   %s %s, route %s dev %s\n", t.ClientIf, pfx(t.CIP6, t.ClientNet6), t.VIPNet6, t.ClientIf)
		fmt.Fprintf(&s, "    director %s %s, %s %s\n", t.DirClientIf, pfx(t.DIP6Client, t.ClientNet6), t.DirRealIf, pfx(t.DIP6Real, t.RealNet6))
		for _, r := range t.Reals {
			fmt.Fprintf(&s, "    %-8s %s %s, %s\n", r.Name, r.If, pfx(r.RIP6, t.RealNet6), gw6)
		}
	}
	return s.String()
}

// String is a one-line summary of the topology.
func (t *Topology) String() string {
	rips := make([]string, len(t.Reals))
	for i, r := range t.Reals {
		rips[i] = r.RIP.String()
	}
	out := fmt.Sprintf("lab %s (%s): CIP %s, VIP %s, DIP %s/%s, RIPs %s", t.Prefix(), t.Mode,
		t.CIP, t.VIP, t.DIPClient, t.DIPReal, strings.Join(rips, ","))
	if t.DualStack() {
		for i, r := range t.Reals {
			rips[i] = r.RIP6.String()
		}
		out += fmt.Sprintf("; CIP6 %s, VIP6 %s, DIP6 %s/%s, RIP6s %s",
			t.CIP6, t.VIP6, t.DIP6Client, t.DIP6Real, strings.Join(rips, ","))
	}
	return out
}
