package lab

import (
	"context"
	"errors"
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
)

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
	HTTP, UDP  *nsutil.Proc
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

	Reals []Real

	// DirIfaces are the director interfaces gdirector serves.
	DirIfaces []string
	// ServeOnVIP: the real servers' own services listen on the VIP (DR,
	// TUN: packets reach them still addressed to the VIP), not the RIP.
	ServeOnVIP bool
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
func Build(opt Options) (t *Topology, err error) {
	if opt.Reals == 0 {
		opt.Reals = 2
	}
	if opt.Reals < 1 || opt.Reals > MaxReals {
		return nil, fmt.Errorf("lab: %d real servers: want 1..%d", opt.Reals, MaxReals)
	}
	if opt.MTU != 0 && (opt.MTU < 68 || opt.MTU > 65535) {
		return nil, fmt.Errorf("lab: MTU %d out of range 68..65535", opt.MTU)
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
	step := func(name string) error {
		if opt.failAt == name {
			return fmt.Errorf("lab: injected failure before %q", name)
		}
		return nil
	}

	t = &Topology{
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
	base := realNet.Addr().As4()
	for i := 0; i < opt.Reals; i++ {
		name := "rs" + strconv.Itoa(i+1)
		a := base
		a[3] = byte(firstRIPHost + i)
		t.Reals = append(t.Reals, Real{
			Name: name, NS: b.NS(name), If: "eth0", SwitchPort: name + "-eth0",
			RIP: netip.AddrFrom4(a),
		})
	}

	// Namespaces.
	roles := []string{"client", "dir", "sw"}
	for _, r := range t.Reals {
		roles = append(roles, r.Name)
	}
	for _, role := range roles {
		if err := step("ns " + role); err != nil {
			return nil, err
		}
		if _, err := b.AddNamespace(role); err != nil {
			return nil, err
		}
	}

	// Client <-> director.
	if err := step("link client-dir"); err != nil {
		return nil, err
	}
	err = b.AddVeth(
		Endpoint{NS: t.ClientNS, If: t.ClientIf, Addrs: []netip.Prefix{netip.PrefixFrom(t.CIP, clientNet.Bits())}},
		Endpoint{NS: t.DirectorNS, If: t.DirClientIf, Addrs: []netip.Prefix{netip.PrefixFrom(t.DIPClient, clientNet.Bits())}},
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
		Endpoint{NS: t.DirectorNS, If: t.DirRealIf, Addrs: []netip.Prefix{netip.PrefixFrom(t.DIPReal, realNet.Bits())}},
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
			Endpoint{NS: r.NS, If: r.If, Addrs: []netip.Prefix{netip.PrefixFrom(r.RIP, realNet.Bits())}},
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
	if err := b.AddRoute(t.ClientNS, Route{Dst: vipNet, Dev: t.ClientIf}); err != nil {
		return nil, err
	}
	for _, r := range t.Reals {
		if err := step("route " + r.Name); err != nil {
			return nil, err
		}
		if err := b.AddRoute(r.NS, Route{Via: t.DIPReal, Dev: r.If}); err != nil {
			return nil, err
		}
	}
	return t, nil
}

// StartReals starts, in every real server's namespace,
//
//	bin serve http --listen RIP:80 --name rsN
//	bin serve udp  --listen RIP:53 --name rsN
//
// (bin is the gdirector binary, or anything with the same "serve" grammar,
// see RunServe), records them in Reals[i].HTTP and .UDP, and waits up to
// 10 s until each answers from inside its own namespace. Close stops them.
func (t *Topology) StartReals(bin string) error {
	for i := range t.Reals {
		r := &t.Reals[i]
		var err error
		r.HTTP, err = t.Start(r.NS, bin, "serve", "http",
			"--listen", netip.AddrPortFrom(t.ServiceAddr(*r), HTTPPort).String(), "--name", r.Name)
		if err != nil {
			return err
		}
		r.UDP, err = t.Start(r.NS, bin, "serve", "udp",
			"--listen", netip.AddrPortFrom(t.ServiceAddr(*r), UDPPort).String(), "--name", r.Name)
		if err != nil {
			return err
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), readyTimeout)
	defer cancel()
	for _, r := range t.Reals {
		if err := waitReal(ctx, r, t.ServiceAddr(r)); err != nil {
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

// waitReal polls (every 50 ms, until ctx ends), from inside r's namespace,
// until its HTTP server on addr accepts a connection and its UDP server
// echoes a probe.
func waitReal(ctx context.Context, r Real, addr netip.Addr) error {
	httpAddr := netip.AddrPortFrom(addr, HTTPPort).String()
	udpAddr := netip.AddrPortFrom(addr, UDPPort).String()
	exited := func() error {
		for _, p := range []*nsutil.Proc{r.HTTP, r.UDP} {
			if p != nil && p.Exited() {
				return fmt.Errorf("%s exited: %v; output: %s", p, p.Wait(), strings.TrimSpace(p.Output()))
			}
		}
		return nil
	}
	probe := func() error {
		c, err := nsutil.DialContext(ctx, r.NS, "tcp", httpAddr)
		if err != nil {
			return err
		}
		c.Close()
		u, err := nsutil.DialContext(ctx, r.NS, "udp", udpAddr)
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
			return fmt.Errorf("udp probe answered %q, want %q", buf[:n], want)
		}
		return nil
	}
	var last error
	for attempt := 0; attempt < 1000; attempt++ {
		if err := exited(); err != nil {
			return fmt.Errorf("lab: servers of %s: %w", r.Name, err)
		}
		if last = probe(); last == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("lab: servers of %s not ready: %w", r.Name, last)
		case <-time.After(50 * time.Millisecond):
		}
	}
	return fmt.Errorf("lab: servers of %s not ready: %w", r.Name, last)
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
	fmt.Fprintf(&s, "gdirector lab %q: LVS-NAT, %d real server(s), VIP %s\n\n", t.Prefix(), len(t.Reals), t.VIP)
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
		fmt.Fprintf(&s, "    +- %-10s ---- %-5s %-18s %-5s [%s]  default via %s\n",
			r.SwitchPort, r.If, pfx(r.RIP, t.RealNet), r.Name, r.NS, t.DIPReal)
	}
	return s.String()
}

// String is a one-line summary of the topology.
func (t *Topology) String() string {
	rips := make([]string, len(t.Reals))
	for i, r := range t.Reals {
		rips[i] = r.RIP.String()
	}
	return fmt.Sprintf("lab %s (%s): CIP %s, VIP %s, DIP %s/%s, RIPs %s", t.Prefix(), t.Mode,
		t.CIP, t.VIP, t.DIPClient, t.DIPReal, strings.Join(rips, ","))
}
