package lab

import (
	"fmt"
	"net/netip"
	"strings"
	"text/tabwriter"
)

// Plan returns the topology Build, BuildDR, BuildTUN or BuildFullNAT
// would create for mode ("nat", "dr", "tun", "fullnat") and opt — names,
// interfaces and addresses — without creating anything: its Builder owns
// no namespace, and Close does nothing. It serves the --explain diagram's
// tests and anyone who wants to print a lab without root.
func Plan(mode string, opt Options) (*Topology, error) {
	maxReals, what := MaxReals, ""
	if mode == "tun" {
		maxReals, what = 50, " in the TUN lab"
	}
	b, err := newBuilder(&opt, maxReals, what)
	if err != nil {
		return nil, err
	}
	switch mode {
	case "nat":
		return planNAT(b, opt), nil
	case "dr":
		return planDR(b, opt), nil
	case "tun":
		return planTUN(b, opt), nil
	case "fullnat":
		t := planNAT(b, opt)
		t.Mode = "fullnat"
		return t, nil
	}
	return nil, fmt.Errorf("lab: unknown mode %q (want nat, dr, tun or fullnat)", mode)
}

// Title names the topology's method as the LVS documentation does.
func (t *Topology) Title() string {
	switch t.Mode {
	case "dr":
		return "LVS-DR"
	case "tun":
		return "LVS-TUN"
	case "fullnat":
		return "LVS-FullNAT"
	}
	return "LVS-NAT"
}

// box draws lines in a frame, indented by ind spaces.
func box(ind int, lines ...string) string { return boxAfter(strings.Repeat(" ", ind), lines...) }

// boxAfter draws lines in a frame, each line of it after pad.
func boxAfter(pad string, lines ...string) string {
	w := 0
	for _, l := range lines {
		w = max(w, len(l))
	}
	rule := pad + "+" + strings.Repeat("-", w+2) + "+\n"
	var s strings.Builder
	s.WriteString(rule)
	for _, l := range lines {
		fmt.Fprintf(&s, "%s| %-*s |\n", pad, w, l)
	}
	s.WriteString(rule)
	return s.String()
}

// link draws the wire between two boxes.
func link(label string) string {
	return "        |\n        |  " + label + "\n        |\n"
}

func pfx(a netip.Addr, n netip.Prefix) string { return netip.PrefixFrom(a, n.Bits()).String() }

// ifLine renders an interface with its addresses (the IPv6 one when
// valid) and a note.
func ifLine(name string, a4 netip.Addr, n4 netip.Prefix, a6 netip.Addr, n6 netip.Prefix, note string) string {
	s := fmt.Sprintf("%-5s %s", name, pfx(a4, n4))
	if a6.IsValid() {
		s += "  " + pfx(a6, n6)
	}
	if note != "" {
		s += "  " + note
	}
	return s
}

// v6 returns a in a dual-stack topology, the invalid address otherwise.
func (t *Topology) v6(a netip.Addr) netip.Addr {
	if t.DualStack() {
		return a
	}
	return netip.Addr{}
}

// route renders a route (and its IPv6 twin in a dual-stack lab).
func (t *Topology) route(r4, r6 string) string {
	if t.DualStack() && r6 != "" {
		return "route " + r4 + "; " + r6
	}
	return "route " + r4
}

// Diagram draws the topology for `gdirector lab --explain`: every
// namespace with its interfaces, addresses and routes, the wires between
// them, and the kernel settings the method depends on, with the reason
// for each.
func (t *Topology) Diagram() string {
	var s strings.Builder
	switch t.Mode {
	case "dr":
		t.diagramDR(&s)
	case "tun":
		t.diagramTUN(&s)
	default:
		t.diagramNAT(&s)
	}
	return s.String()
}

func (t *Topology) diagramNAT(s *strings.Builder) {
	fullnat := t.Mode == "fullnat"
	if fullnat {
		fmt.Fprintf(s, "%s lab %q: the director sits between the client's network and the real\n", t.Title(), t.Prefix())
		fmt.Fprintf(s, "servers' network; the real servers have no route to the client at all.\n\n")
	} else {
		fmt.Fprintf(s, "%s lab %q: the director has two NICs, one on the client's network and one\n", t.Title(), t.Prefix())
		fmt.Fprintf(s, "on the real servers' network, and is the real servers' default gateway.\n\n")
	}
	s.WriteString(box(2, "client   ["+t.ClientNS+"]",
		"  "+ifLine(t.ClientIf, t.CIP, t.ClientNet, t.CIP6, t.ClientNet6, "CIP"),
		"  "+t.route(t.VIPNet.String()+" dev "+t.ClientIf+" (on-link: ARPs for the VIP)", t.VIPNet6.String()+" dev "+t.ClientIf)))
	s.WriteString(link("veth  " + t.ClientNet.String()))
	dir := []string{"director [" + t.DirectorNS + "]",
		"  " + ifLine(t.DirClientIf, t.DIPClient, t.ClientNet, t.DIP6Client, t.ClientNet6, "DIP, client side"),
		"  " + ifLine(t.DirRealIf, t.DIPReal, t.RealNet, t.DIP6Real, t.RealNet6, "DIP, real-server side"),
		"  VIP " + t.vips() + " on no interface: gdirector answers for it"}
	if fullnat {
		la := FullNATLocalAddr.String()
		if t.DualStack() {
			la += ", " + FullNATLocalAddr6.String()
		}
		dir = append(dir, "  local address "+la+" (LADDR), likewise")
	}
	dir = append(dir, "  ip_forward=0: gdirector forwards, not the kernel")
	s.WriteString(box(2, dir...))
	s.WriteString(link("veth  " + t.RealNet.String()))
	s.WriteString(box(2, "switch   ["+t.SwitchNS+"]  bridge "+t.Bridge+" (STP off, forward delay 0)"))
	for i, r := range t.Reals {
		branch := "|--"
		if i == len(t.Reals)-1 {
			branch = "`--"
		}
		gw := "no default route: only " + t.RealNet.String() + " on eth0"
		if !fullnat {
			gw = "default via " + t.DIPReal.String()
		}
		fmt.Fprintf(s, "        %s %-4s [%s]  %s, %s\n", branch, r.Name, r.NS,
			ifLine(r.If, r.RIP, t.RealNet, r.RIP6, t.RealNet6, "RIP"), gw)
	}
	s.WriteString("\nKernel settings that matter:\n")
	t.directorSettings(s)
	if fullnat {
		bullet(s, "real servers: no default route and no route to "+t.ClientNet.String()+". FullNAT rewrites the source too (client -> local address and port), so a real server answers the local address, a neighbour on its own segment, and the reply comes back to the director for the reverse rewrite. The client's address travels in TCP option 254 (TOA) for servers that read it.")
	} else {
		bullet(s, "real servers: default route via the director's "+t.DIPReal.String()+". NAT rewrites only the destination (VIP -> RIP), so a reply is addressed to the client; it must go back through the director to get the VIP back as its source. Sent any other way, it would reach the client from the RIP, which the client does not know, and it would answer with a reset.")
	}
	bullet(s, "rp_filter: any setting works here; every packet arrives on the interface its source is routed through.")
}

func (t *Topology) diagramDR(s *strings.Builder) {
	fmt.Fprintf(s, "%s lab %q: the client, the director and the real servers share one\n", t.Title(), t.Prefix())
	fmt.Fprintf(s, "Ethernet segment; the real servers hold the VIP themselves, on lo.\n\n")
	s.WriteString(box(2, "switch   ["+t.SwitchNS+"]  bridge "+t.Bridge+" (STP off, forward delay 0): one segment"))
	fmt.Fprintf(s, "        |-- client   [%s]  %s\n", t.ClientNS, ifLine(t.ClientIf, t.CIP, t.ClientNet, t.CIP6, t.ClientNet6, "CIP"))
	fmt.Fprintf(s, "        |       %s\n", t.route(t.VIPNet.String()+" dev "+t.ClientIf+" (on-link: ARPs for the VIP)", t.VIPNet6.String()+" dev "+t.ClientIf))
	fmt.Fprintf(s, "        |-- director [%s]  %s\n", t.DirectorNS, ifLine(t.DirClientIf, t.DIPClient, t.ClientNet, t.DIP6Client, t.ClientNet6, "DIP"))
	fmt.Fprintf(s, "        |                    %s\n", ifLine("", t.DIPReal, t.RealNet, t.DIP6Real, t.RealNet6, "DIP")[6:])
	fmt.Fprintf(s, "        |       VIP %s on no interface: gdirector answers for it; ip_forward=0\n", t.vips())
	for i, r := range t.Reals {
		branch, cont := "|--", "|"
		if i == len(t.Reals)-1 {
			branch, cont = "`--", " "
		}
		fmt.Fprintf(s, "        %s %-8s [%s]  %s\n", branch, r.Name, r.NS, ifLine(r.If, r.RIP, t.RealNet, r.RIP6, t.RealNet6, "RIP"))
		fmt.Fprintf(s, "        %s       lo %s, arp_ignore=1, arp_announce=2\n", cont, t.vipHosts())
		fmt.Fprintf(s, "        %s       %s\n", cont, t.route(t.ClientNet.String()+" dev "+r.If+" (replies go straight to the client)", t.ClientNet6.String()+" dev "+r.If))
	}
	s.WriteString("\nKernel settings that matter:\n")
	t.directorSettings(s)
	bullet(s, "real servers: the VIP on lo, so that their kernels accept packets addressed to it and their services can listen on it. The director forwards a packet by changing only its destination MAC; it still carries the VIP as destination.")
	bullet(s, "arp_ignore=1 on the real servers: answer an ARP request only when the address asked for is configured on the interface the request came in on. The VIP is on lo, not eth0, so a real server stays silent when the client asks who has the VIP, and only the director answers. Otherwise any real server could answer, the client would send to that one directly and the director would never see the traffic.")
	bullet(s, "arp_announce=2 on the real servers: in the ARP requests a real server sends itself (to find the client's MAC for a reply, whose source is the VIP), use the interface's own address as the sender, never the VIP. A request with the VIP as sender would teach the neighbours that the VIP lives at this real server's MAC.")
	bullet(s, "both are set in conf/all and conf/eth0 (the kernel applies the larger of the two). IPv6 needs no such setting: Linux answers a neighbour solicitation only for addresses of the interface that received it.")
	bullet(s, "rp_filter: any setting works here; every packet arrives on the interface its source is routed through.")
}

func (t *Topology) diagramTUN(s *strings.Builder) {
	fmt.Fprintf(s, "%s lab %q: the real servers are on another subnet, behind a router; the\n", t.Title(), t.Prefix())
	fmt.Fprintf(s, "director reaches them by wrapping each packet in an IPIP header.\n\n")
	s.WriteString(box(2, "client   ["+t.ClientNS+"]",
		"  "+ifLine(t.ClientIf, t.CIP, t.ClientNet, t.CIP6, t.ClientNet6, "CIP"),
		"  "+t.route("default via "+tunRouterC.String(), "default via "+tunRouterC6.String())))
	s.WriteString(link("veth  " + t.ClientNet.String()))
	rtr := []string{"router   [" + t.SwitchNS + "]  ip_forward=1, rp_filter=0 on every interface",
		"  " + ifLine("client", tunRouterC, t.ClientNet, t.v6(tunRouterC6), t.ClientNet6, ""),
		"  " + ifLine("dir", tunRouterD, tunDirNet, t.v6(tunRouterD6), tunDirNet6, ""),
		"  " + ifLine(t.Bridge, tunRouterR, tunRealNet, t.v6(tunRouterR6), tunRealNet6, "(bridge of the real servers' ports)"),
		"  " + t.route(vipNet.String()+" via "+tunDIP.String()+" (the VIPs are the director's)", vipNet6.String()+" via "+tunDIP6.String())}
	s.WriteString(box(2, rtr...))
	fmt.Fprintf(s, "        |\n        |-- dir: veth %s to the director\n", tunDirNet)
	s.WriteString(boxAfter("        |     ", "director ["+t.DirectorNS+"]",
		"  "+ifLine(t.DirClientIf, tunDIP, tunDirNet, t.v6(tunDIP6), tunDirNet6, "DIP"),
		"  "+t.route("default via "+tunRouterD.String(), "default via "+tunRouterD6.String()),
		"  VIP "+t.vips()+" on no interface: gdirector answers for it",
		"  ip_forward=0: gdirector forwards, not the kernel"))
	fmt.Fprintf(s, "        |\n        `-- %s: bridge of the real servers' ports, %s\n", t.Bridge, tunRealNet)
	for i, r := range t.Reals {
		branch, cont := "|--", "|"
		if i == len(t.Reals)-1 {
			branch, cont = "`--", " "
		}
		fmt.Fprintf(s, "              %s %-4s [%s]  %s\n", branch, r.Name, r.NS, ifLine(r.If, r.RIP, tunRealNet, r.RIP6, tunRealNet6, "RIP"))
		fmt.Fprintf(s, "              %s       %s\n", cont, t.route("default via "+tunRouterR.String(), "default via "+tunRouterR6.String()))
		fmt.Fprintf(s, "              %s       lo %s, arp_ignore=1, arp_announce=2\n", cont, t.vipHosts())
		fmt.Fprintf(s, "              %s       gdirector realserver tun: IPIP unwrapped into TUN device gdtun0\n", cont)
	}
	s.WriteString("\nKernel settings that matter:\n")
	t.directorSettings(s)
	bullet(s, "router: ip_forward=1 (and IPv6 forwarding=1) to route between its three networks, and rp_filter=0 on all of its interfaces: a real server's reply arrives on "+t.Bridge+" from the VIP, while the router's route to the VIP points at the director, so strict reverse-path filtering would drop every reply.")
	bullet(s, "real servers: the VIP on lo, so that they accept the inner packet, which is still addressed to the VIP, and reply from it; arp_ignore=1 and arp_announce=2 as on DR real servers, so that they never answer ARP for the VIP nor announce it.")
	bullet(s, "decapsulation: this kernel has no ipip module (no tunl0, no ip6tnl). `gdirector realserver tun` reads the IPIP (protocol 4) and ip6ip6 (next header 41) packets addressed to the real server with a packet socket on eth0, checks that the inner destination is a VIP, strips the outer header and writes the inner packet to the TUN device gdtun0, where the kernel receives it as if tunl0 had unwrapped it. rp_filter=0 on gdtun0: the inner source, the client, is routed via eth0, so strict reverse-path filtering would drop it.")
	bullet(s, "MTU: the outer header adds 20 bytes (40 for ip6ip6) to every packet the director forwards.")
}

// directorSettings explains the director's own kernel settings.
func (t *Topology) directorSettings(s *strings.Builder) {
	bullet(s, "director: ip_forward=0 (IPv6 forwarding=0). gdirector reads and sends the frames itself with packet sockets; the director's kernel sees the same frames and must neither route them (each packet would leave a second time, unrewritten) nor answer for the VIP. The VIP is on no interface of any kernel in this lab: gdirector answers ARP (and IPv6 neighbour solicitations) for it.")
}

// bullet writes text as a "  - " item wrapped at 78 columns.
func bullet(s *strings.Builder, text string) { wrap(s, text, "  - ", "    ") }

// vips renders the VIP (and VIP6).
func (t *Topology) vips() string {
	if t.DualStack() {
		return t.VIP.String() + ", " + t.VIP6.String()
	}
	return t.VIP.String()
}

// vipHosts renders the VIP as a host route (and VIP6).
func (t *Topology) vipHosts() string {
	if t.DualStack() {
		return netip.PrefixFrom(t.VIP, 32).String() + ", " + netip.PrefixFrom(t.VIP6, 128).String()
	}
	return netip.PrefixFrom(t.VIP, 32).String()
}

// AddressTable lists the roles of the LVS vocabulary — CIP, VIP, DIP,
// RIP, and FullNAT's local address (LADDR) or TUN's router — with the
// lab's addresses and where each lives.
func (t *Topology) AddressTable() string {
	var s strings.Builder
	w := tabwriter.NewWriter(&s, 0, 0, 2, ' ', 0)
	six := t.DualStack()
	row := func(role string, a4, a6 netip.Addr, where string) {
		if six {
			v6 := "-"
			if a6.IsValid() {
				v6 = a6.String()
			}
			fmt.Fprintf(w, "  %s\t%s\t%s\t%s\n", role, a4, v6, where)
			return
		}
		fmt.Fprintf(w, "  %s\t%s\t%s\n", role, a4, where)
	}
	if six {
		fmt.Fprintf(w, "  role\tIPv4\tIPv6\twhere\n")
	} else {
		fmt.Fprintf(w, "  role\taddress\twhere\n")
	}
	row("CIP", t.CIP, t.CIP6, "client "+t.ClientIf+": the client")
	row("VIP", t.VIP, t.VIP6, "the service address; on no kernel interface, answered by gdirector")
	switch t.Mode {
	case "dr":
		row("DIP", t.DIPClient, t.DIP6Client, "director "+t.DirClientIf+" (its address in the client's subnet)")
		row("DIP", t.DIPReal, t.DIP6Real, "director "+t.DirRealIf+" (its address in the real servers' subnet)")
	case "tun":
		row("DIP", tunDIP, t.v6(tunDIP6), "director "+t.DirClientIf+": the outer source of the tunnel")
		row("GW", tunRouterC, t.v6(tunRouterC6), "router client: the client's gateway")
		row("GW", tunRouterD, t.v6(tunRouterD6), "router dir: the director's gateway")
		row("GW", tunRouterR, t.v6(tunRouterR6), "router "+t.Bridge+": the real servers' gateway")
	default:
		row("DIP", t.DIPClient, t.DIP6Client, "director "+t.DirClientIf+", client side")
		gw := "director " + t.DirRealIf + ", real-server side: the real servers' gateway"
		if t.Mode == "fullnat" {
			gw = "director " + t.DirRealIf + ", real-server side"
		}
		row("DIP", t.DIPReal, t.DIP6Real, gw)
	}
	for _, r := range t.Reals {
		row("RIP", r.RIP, r.RIP6, r.Name+" "+r.If)
	}
	if t.Mode == "fullnat" {
		row("LADDR", FullNATLocalAddr, t.v6(FullNATLocalAddr6), "FullNAT local address: the source the real servers see; answered by gdirector")
	}
	w.Flush()
	return s.String()
}

// Explain is the static part of `gdirector lab --explain`: the diagram
// with the kernel settings, then the address table.
func (t *Topology) Explain() string {
	return t.Diagram() + "\nAddresses:\n" + t.AddressTable()
}
