package lab

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"

	"github.com/gdirector/gdirector/trace"
)

// Observation is what `gdirector lab --explain` gathers about one HTTP
// request: the trace records of its connection, taken live from the
// director's control socket, and what the client and the real server
// saw. Narrate turns it into text. It is JSON so that tests can replay
// recorded requests (lab/testdata/narrate-*.json).
type Observation struct {
	// Client is the client's socket (CIP and its port); VIP the service.
	Client netip.AddrPort `json:"client"`
	VIP    netip.AddrPort `json:"vip"`
	// NextHop is the address the client had to resolve to a MAC: the VIP
	// itself (on-link) or its gateway; NeighKnown says whether its
	// neighbour table already held it before the request.
	NextHop    netip.Addr `json:"next_hop"`
	NeighKnown bool       `json:"neigh_known"`
	// Server and Peer are the real server's HTTP answer: its name
	// (X-Real-Server) and the peer address its socket saw (X-Client-Addr).
	Server string `json:"server"`
	Peer   string `json:"peer"`
	// MACs names the lab's interfaces by MAC ("director eth1").
	MACs map[string]string `json:"macs"`
	// Records are the trace events of the connection, in order; Lost the
	// events the daemon could not deliver.
	Records []*trace.Record `json:"records"`
	Lost    uint64          `json:"lost,omitempty"`
}

// ErrNoFirstPacket is returned by Narrate when the trace lacks the
// connection's first packet (the trace started too late).
var ErrNoFirstPacket = errors.New("lab: the trace holds no new connection for the request")

// narrator writes the narration.
type narrator struct {
	t *Topology
	o *Observation
	s strings.Builder
	n int // step number
}

func (n *narrator) mac(m string) string {
	if name, ok := n.o.MACs[m]; ok {
		return m + " (" + name + ")"
	}
	return m
}

// para writes a numbered paragraph, wrapped.
func (n *narrator) para(title, text string) {
	n.n++
	lead := fmt.Sprintf("%d. %s. ", n.n, title)
	wrap(&n.s, lead+text, "  ", "     ")
}

// detail writes an indented literal line (a header from the trace).
func (n *narrator) detail(format string, args ...any) {
	fmt.Fprintf(&n.s, "       "+format+"\n", args...)
}

// wrap writes text wrapped at 78 columns, the first line after first,
// the others after rest.
func wrap(s *strings.Builder, text, first, rest string) {
	col := 0
	for i, w := range strings.Fields(text) {
		switch {
		case i == 0:
			s.WriteString(first)
			col = len(first)
		case col+1+len(w) > 78:
			s.WriteString("\n" + rest)
			col = len(rest)
		default:
			s.WriteString(" ")
			col++
		}
		s.WriteString(w)
		col += len(w)
	}
	s.WriteString("\n")
}

// flags renders TCP flags as tcpdump does ([S], [S.], [P.], [F.], [.]).
func flags(h *trace.Headers) string {
	if h == nil || h.Proto != 6 {
		return ""
	}
	f := h.TCPFlags
	s := "["
	for _, x := range []struct {
		bit uint8
		c   string
	}{{0x02, "S"}, {0x01, "F"}, {0x04, "R"}, {0x08, "P"}} {
		if f&x.bit != 0 {
			s += x.c
		}
	}
	if f&0x10 != 0 {
		s += "."
	}
	return s + "]"
}

// ends renders a packet's addresses and ports, "a:p > b:q".
func ends(h *trace.Headers) string {
	if h == nil || !h.Src.IsValid() {
		return "(not IP)"
	}
	if h.SPort != 0 || h.DPort != 0 {
		return netip.AddrPortFrom(h.Src, h.SPort).String() + " > " + netip.AddrPortFrom(h.Dst, h.DPort).String()
	}
	return h.Src.String() + " > " + h.Dst.String()
}

// changeLines writes the trace's header changes literally, then names
// the MACs the Ethernet header now carries.
func (n *narrator) changeLines(r *trace.Record) {
	defer func() {
		if r.After == nil {
			return
		}
		var named []string
		for _, m := range []string{r.After.SrcMAC, r.After.DstMAC} {
			if name, ok := n.o.MACs[m]; ok {
				named = append(named, m+" is "+name)
			}
		}
		if len(named) > 0 {
			n.detail("(%s)", strings.Join(named, ", "))
		}
	}()
	for _, c := range r.Changes {
		switch {
		case c.Before == "":
			n.detail("%-6s + %s", c.Header, c.After)
		case c.After == "untouched" || c.Before == c.After:
			n.detail("%-6s %s  (untouched)", c.Header, c.Before)
		default:
			n.detail("%-6s %s  =>  %s", c.Header, c.Before, c.After)
		}
	}
}

// realByAddr returns the real server with address a (RIP or RIP6).
func (t *Topology) realByAddr(a netip.Addr) (Real, bool) {
	for _, r := range t.Reals {
		if r.RIP == a || (r.RIP6.IsValid() && r.RIP6 == a) {
			return r, true
		}
	}
	return Real{}, false
}

// Narrate tells the path of the observed request hop by hop: how the
// client found the next hop, the first packet's arrival at the director,
// the connection table's decision, the scheduler's inputs and choice, the
// exact rewrite, what the real server received, how the reply travelled,
// and the later packets meeting the connection table. Every address,
// port, MAC and figure comes from o (the live trace, the client's and the
// real server's view) or from the topology. It returns ErrNoFirstPacket
// when o holds no new connection.
func (t *Topology) Narrate(o *Observation) (string, error) {
	var first *trace.Record
	for _, r := range o.Records {
		if r.Direction == "in" && r.Conn != nil && r.Conn.Decision == "new" {
			first = r
			break
		}
	}
	if first == nil || first.Before == nil || first.After == nil || first.Conn == nil {
		return "", ErrNoFirstPacket
	}
	n := &narrator{t: t, o: o}
	six := o.Client.Addr().Is6()
	arp, who := "ARP", "an ARP request (who has %s? tell %s)"
	if six {
		arp, who = "neighbour", "a neighbour solicitation (who has %s? from %s)"
	}
	rip := first.After.Dst // NAT, FullNAT; TUN: the outer destination
	if ap, err := netip.ParseAddrPort(first.Conn.RealServer); err == nil {
		rip = ap.Addr()
	}
	rs, _ := t.realByAddr(rip)
	rsName := rs.Name
	if rsName == "" {
		rsName = "the real server"
	}
	fmt.Fprintf(&n.s, "One request, narrated from the live trace (gdirector trace --client %s):\n", o.Client.Addr())
	wrap(&n.s, fmt.Sprintf("The client opens a TCP connection from %s to the VIP %s and sends GET /; %s answered it.",
		o.Client, o.VIP, o.Server), "  ", "  ")
	n.s.WriteString("\n")

	// 1. The next hop.
	synMAC := n.mac(first.Before.DstMAC)
	if o.NextHop == o.VIP.Addr() {
		text := fmt.Sprintf("The client's route to %s is on-link on %s, so it needs the VIP's own MAC.", t.vipNetOf(six), t.ClientIf)
		if o.NeighKnown {
			text += fmt.Sprintf(" Its %s table already held the VIP: %s.", arp, synMAC)
		} else {
			text += " It had no " + arp + " entry for it, so it sent " + fmt.Sprintf(who, o.VIP.Addr(), o.Client.Addr()) + "."
			text += fmt.Sprintf(" No kernel holds the VIP; gdirector answered from userspace with %s, and the SYN below arrives addressed to that MAC.", synMAC)
		}
		n.para("The next hop", text)
	} else {
		text := fmt.Sprintf("The VIP is not on the client's subnet: the client sends the SYN to its gateway %s", o.NextHop)
		if o.NeighKnown {
			text += fmt.Sprintf(", whose MAC its %s table already held.", arp)
		} else {
			text += fmt.Sprintf(", first resolving it with %s, which the router's kernel answers.", fmt.Sprintf(who, o.NextHop, o.Client.Addr()))
		}
		text += fmt.Sprintf(" The router's route for %s points at the director's %s, an ordinary address of the director's kernel (which answers the router's %s request for it), so the router forwards the SYN there, from %s.",
			t.vipNetOf(six), t.dipOf(six), arp, n.mac(first.Before.SrcMAC))
		n.para("The next hop", text)
	}

	// 2. Arrival.
	n.para("The director receives the SYN", fmt.Sprintf("It arrives on %s: %s %s, ttl %d, from %s to %s.",
		first.In, ends(first.Before), flags(first.Before), first.Before.TTL, n.mac(first.Before.SrcMAC), synMAC))

	// 3. The connection table.
	c := first.Conn
	n.para("Connection table", fmt.Sprintf("No entry matches %s -> %s, so this packet makes a new %s connection, in state %s, expiring in %s unless more packets come.",
		c.Client, c.VIP, first.Method, c.State, c.ExpiresIn))

	// 4. The scheduler.
	if s := first.Sched; s != nil {
		var in []string
		for _, d := range s.Dests {
			x := fmt.Sprintf("%s weight %d, %d active, %d inactive", d.Addr, d.Weight, d.Active, d.Inact)
			if d.Overloaded {
				x += ", overloaded"
			}
			in = append(in, x)
		}
		text := fmt.Sprintf("The service's scheduler is %s. It saw %d real server(s): %s. Its decision, in the kernel's terms: %q. Chosen: %s.",
			s.Name, len(s.Dests), strings.Join(in, "; "), s.Explain, s.Chosen)
		if tp := first.Template; tp != nil {
			text += fmt.Sprintf(" Persistence: template %s for %s -> %s -> %s.", tp.Decision, tp.Client, tp.VIP, tp.RealServer)
		}
		n.para("The scheduler", text)
	} else if tp := first.Template; tp != nil {
		n.para("Persistence", fmt.Sprintf("The client's persistence template (%s) chose %s; the scheduler was not asked.", tp.VIP, tp.RealServer))
	}

	// 5. The rewrite.
	b, a := first.Before, first.After
	var text string
	switch t.Mode {
	case "nat":
		text = fmt.Sprintf("NAT changes the destination: %s becomes %s, the real server's address and port; the source, the client, stays. Checksums are updated, and the MACs are set for the next hop.",
			netip.AddrPortFrom(b.Dst, b.DPort), netip.AddrPortFrom(a.Dst, a.DPort))
	case "fullnat":
		text = fmt.Sprintf("FullNAT changes both ends: the destination %s becomes %s, and the source %s becomes the director's local address and port %s. Checksums are updated, and the MACs are set for the next hop.",
			netip.AddrPortFrom(b.Dst, b.DPort), netip.AddrPortFrom(a.Dst, a.DPort), netip.AddrPortFrom(b.Src, b.SPort), netip.AddrPortFrom(a.Src, a.SPort))
	case "dr":
		text = fmt.Sprintf("DR changes only the Ethernet header: the destination MAC becomes %s's, %s, and the source MAC the director's own; the IP packet, %s, leaves untouched.",
			rsName, n.mac(a.DstMAC), ends(b))
	case "tun":
		text = fmt.Sprintf("TUN puts a new outer %s header in front of the untouched packet: %s > %s, protocol %d (%s), so that routers carry it to the real server whatever the inner destination; the MACs are set for the next hop, %s.",
			ipName(a.IPv6), a.Src, a.Dst, a.Proto, encapName(a.Proto), n.mac(a.DstMAC))
	}
	n.para("The rewrite", text+fmt.Sprintf(" It leaves by %s. The trace's record of the change:", first.Out))
	n.changeLines(first)

	// 6. The real server.
	switch t.Mode {
	case "nat":
		text = fmt.Sprintf("%s (%s) receives %s on %s: it sees the client's own address as the source. Its HTTP server reported the peer %s.", rsName, rip, ends(a), rs.If, o.Peer)
	case "fullnat":
		text = fmt.Sprintf("%s (%s) receives %s on %s: it sees the director's local address, not the client, and needs no route to the client. Its HTTP server reported the peer %s.", rsName, rip, ends(a), rs.If, o.Peer)
	case "dr":
		text = fmt.Sprintf("%s receives the frame on %s, addressed to its MAC; the packet is still %s, and its kernel accepts it because the VIP is on its lo. Its HTTP server reported the peer %s.", rsName, rs.If, ends(b), o.Peer)
	case "tun":
		text = fmt.Sprintf("The router forwards the tunnelled packet to %s (%s). There `gdirector realserver tun` takes it from %s, strips the outer header and writes the inner packet, %s, into the TUN device gdtun0; the kernel accepts it because the VIP is on lo. Its HTTP server reported the peer %s.", rsName, rip, rs.If, ends(b), o.Peer)
	}
	n.para("The real server", text)

	// 7. The reply.
	var firstOut, parked *trace.Record // the first reply forwarded; one parked before it
	ins := 0
	for _, r := range o.Records {
		switch {
		case r.Direction != "out":
			ins++
		case firstOut != nil:
		case r.Verdict == "forwarded" && len(r.Changes) > 0:
			firstOut = r
		case r.Verdict == "parked" && parked == nil:
			parked = r
		}
	}
	switch {
	case firstOut != nil && firstOut.Before != nil && firstOut.Conn != nil:
		via := fmt.Sprintf("to its default gateway, the director's %s", t.dipRealOf(six))
		if t.Mode == "fullnat" {
			via = "to the local address, a neighbour on its own segment, which gdirector answers for"
		}
		first := firstOut
		if parked != nil && parked.Before != nil {
			first = parked
		}
		text = fmt.Sprintf("%s answers %s %s and sends it %s. The director receives it on %s and finds the connection (a hit, state %s).",
			rsName, ends(first.Before), flags(first.Before), via, first.In, first.Conn.State)
		if parked != nil {
			text += fmt.Sprintf(" It did not know the client's MAC yet, so it parked this reply (#%d), resolved %s with its own %s request on %s, and sent the reply once answered; the trace records the packet as parked.",
				parked.Seq, o.Client.Addr(), arp, t.DirClientIf)
			text += fmt.Sprintf(" The next reply, #%d %s, shows the reverse rewrite every reply gets,", firstOut.Seq, flags(firstOut.Before))
		} else {
			text += " It rewrites the reply back,"
		}
		text += fmt.Sprintf(" so that the client sees an answer from the address it connected to; it leaves by %s:", firstOut.Out)
		n.para("The reply", text)
		n.changeLines(firstOut)
	case t.Mode == "dr":
		resolve := "resolves the client's MAC itself when it must (its ARP request names its own address as the sender, not the VIP: arp_announce=2)"
		if six {
			resolve = "resolves the client's MAC itself when it must, with a neighbour solicitation"
		}
		text = fmt.Sprintf("%s answers from the VIP, %s > %s, straight to the client: %s is on-link on its %s, so it %s and sends the frame across the segment. The director never sees the reply: the trace holds %d packet(s) of this connection, all from the client, none from the real server.",
			rsName, o.VIP, o.Client, t.clientNetOf(six), rs.If, resolve, ins)
		n.para("The reply", text)
	case t.Mode == "tun":
		text = fmt.Sprintf("%s answers from the VIP, %s > %s, without any tunnel, through its default gateway, the router, which routes it to the client. The director never sees the reply: the trace holds %d packet(s) of this connection, all from the client, none from the real server.",
			rsName, o.VIP, o.Client, ins)
		n.para("The reply", text)
	default:
		n.para("The reply", fmt.Sprintf("The trace holds no reply of this connection (%d packet(s) from the client).", ins))
	}

	// 8. The rest of the connection.
	var rest []*trace.Record
	for _, r := range o.Records {
		if r != first && r != firstOut && r != parked {
			rest = append(rest, r)
		}
	}
	if len(rest) > 0 {
		hits := 0
		for _, r := range rest {
			if r.Conn != nil && r.Conn.Decision == "hit" {
				hits++
			}
		}
		n.para("The rest of the connection", fmt.Sprintf("%d more packet(s), %d of them found in the connection table; the scheduler is not asked again, every packet goes to %s and is rewritten as above:",
			len(rest), hits, first.Conn.RealServer))
		for _, r := range rest {
			dir := "client -> rs"
			if r.Direction == "out" {
				dir = "rs -> client"
			}
			what := r.Verdict
			if r.Conn != nil {
				state := r.Conn.State
				if r.Conn.StateBefore != r.Conn.State {
					state = r.Conn.StateBefore + " -> " + r.Conn.State
				}
				what = fmt.Sprintf("%s %s, expires in %s", r.Conn.Decision, state, r.Conn.ExpiresIn)
			}
			if r.Verdict == "dropped" {
				what += ", dropped: " + r.Reason
			}
			toa := ""
			if r.After != nil && r.After.TOA != nil && (r.Before == nil || r.Before.TOA == nil) {
				toa = fmt.Sprintf("; TOA %s added", netip.AddrPortFrom(r.After.TOA.Addr, r.After.TOA.Port))
			}
			n.detail("#%-4d %s %-6s %s%s", r.Seq, dir, flags(r.Before), what, toa)
		}
	}
	if o.Lost > 0 {
		fmt.Fprintf(&n.s, "\n  (The daemon lost %d trace event(s) meanwhile; the list may be incomplete.)\n", o.Lost)
	}
	return n.s.String(), nil
}

func ipName(six bool) string {
	if six {
		return "IPv6"
	}
	return "IPv4"
}

func encapName(p uint8) string {
	switch p {
	case 4:
		return "IPIP"
	case 41:
		return "IPv6 in IP"
	}
	return "encapsulated"
}

func (t *Topology) vipNetOf(six bool) netip.Prefix {
	if six {
		return t.VIPNet6
	}
	return t.VIPNet
}

func (t *Topology) clientNetOf(six bool) netip.Prefix {
	if six {
		return t.ClientNet6
	}
	return t.ClientNet
}

func (t *Topology) dipRealOf(six bool) netip.Addr {
	if six {
		return t.DIP6Real
	}
	return t.DIPReal
}

func (t *Topology) dipOf(six bool) netip.Addr {
	if six {
		return t.DIP6Client
	}
	return t.DIPClient
}
