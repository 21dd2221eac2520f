package e2e

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/gdirector/gdirector/lab"
)

// family is one address family of a lab as the end-to-end checks see it:
// its addresses, how tcpdump, socat and ip(8) name it, and how to read its
// IP header from a captured packet. The forwarding-method checks take one,
// so each is written once for IPv4 and IPv6.
type family struct {
	name    string // "IPv4", "IPv6"
	tag     string // after a method's name in logs: "" or "/IPv6"
	theVIP  string // the VIP in messages: "the VIP", "VIP6"
	ripName string // "RIP", "RIP6"

	vip, cip netip.Addr
	dipReal  netip.Addr // the director's address towards the real servers
	laddr    netip.Addr // the FullNAT local address
	rip      func(lab.Real) netip.Addr

	ipFilter   string // tcpdump: the family's packets
	dataFilter string // tcpdump: the same without neighbour discovery
	errFilter  string // tcpdump: its ICMP errors
	rstFilter  string // tcpdump: its TCP resets
	udp        string // socat's UDP address type
	route      string // ip(8)'s family option

	tunnel      string            // its tunnels: "IPIP", "ip6ip6"
	tunnelProto layers.IPProtocol // the outer header's protocol
	etherType   uint16
	icmp        gopacket.LayerType

	ip func(gopacket.Packet) (ipHdr, bool) // the packet's outermost header of the family
}

// ipHdr is the outermost IP header of a captured packet, either family.
type ipHdr struct {
	src, dst netip.Addr
	proto    layers.IPProtocol // protocol, next header
	ttl      uint8             // TTL, hop limit
	payload  []byte
}

// ipv6Of returns the packet's outermost IPv6 header, or nil (ipv4 is its
// IPv4 counterpart).
func ipv6Of(p gopacket.Packet) *layers.IPv6 {
	if l := p.Layer(layers.LayerTypeIPv6); l != nil {
		return l.(*layers.IPv6)
	}
	return nil
}

func addrOf(b []byte) netip.Addr { a, _ := netip.AddrFromSlice(b); return a.Unmap() }

func ipHdr4(p gopacket.Packet) (ipHdr, bool) {
	ip := ipv4(p)
	if ip == nil {
		return ipHdr{}, false
	}
	return ipHdr{addrOf(ip.SrcIP), addrOf(ip.DstIP), ip.Protocol, ip.TTL, ip.Payload}, true
}

func ipHdr6(p gopacket.Packet) (ipHdr, bool) {
	ip := ipv6Of(p)
	if ip == nil {
		return ipHdr{}, false
	}
	return ipHdr{addrOf(ip.SrcIP), addrOf(ip.DstIP), ip.NextHeader, ip.HopLimit, ip.Payload}, true
}

// family4 is IPv4 in e's lab.
func family4(e *env) family {
	return family{
		name: "IPv4", tag: "", theVIP: "the VIP", ripName: "RIP",
		vip: e.VIP, cip: e.CIP, dipReal: e.DIPReal, laddr: lab.FullNATLocalAddr,
		rip:        func(r lab.Real) netip.Addr { return r.RIP },
		ipFilter:   "ip",
		dataFilter: "ip",
		errFilter:  "icmp",
		rstFilter:  "tcp[tcpflags] & tcp-rst != 0",
		udp:        "UDP4", route: "-4",
		tunnel: "IPIP", tunnelProto: layers.IPProtocolIPv4, etherType: 0x0800,
		icmp: layers.LayerTypeICMPv4,
		ip:   ipHdr4,
	}
}

// family6 is IPv6 in e's lab, which must be dual-stack (lab.Options.IPv6).
func family6(e *env) family {
	return family{
		name: "IPv6", tag: "/IPv6", theVIP: "VIP6", ripName: "RIP6",
		vip: e.VIP6, cip: e.CIP6, dipReal: e.DIP6Real, laddr: lab.FullNATLocalAddr6,
		rip:        func(r lab.Real) netip.Addr { return r.RIP6 },
		ipFilter:   "ip6",
		dataFilter: "ip6 and not icmp6",
		// ICMPv6 errors are the types below 128; tcpdump cannot index
		// TCP over IPv6, so the flags are read at 40+13 (no extension
		// headers in the lab).
		errFilter: "(icmp6 and ip6[40] < 128)",
		rstFilter: "(ip6[6] == 6 and ip6[53] & 4 != 0)",
		udp:       "UDP6", route: "-6",
		tunnel: "ip6ip6", tunnelProto: layers.IPProtocolIPv6, etherType: 0x86dd,
		icmp: layers.LayerTypeICMPv6,
		ip:   ipHdr6,
	}
}

// clientFilter is the tcpdump expression for what a client capture
// checks (fromVIP): the family's TCP, UDP and ICMP errors; not neighbour
// discovery nor the multicast listener reports of its own interfaces.
func (f family) clientFilter() string {
	return f.ipFilter + " and (tcp or udp or " + f.errFilter + ")"
}

// host is a as the host part of a URL or socat address.
func (f family) host(a netip.Addr) string {
	if a.Is6() {
		return "[" + a.String() + "]"
	}
	return a.String()
}

// workload is what a check sends to a VIP: HTTP requests to port 80 and UDP
// queries to port 53, each a new connection.
type workload struct{ http, udp int }

// filter is the tcpdump expression for the traffic's ports.
func (tr workload) filter() string {
	var s []string
	if tr.http > 0 {
		s = append(s, "tcp port 80")
	}
	if tr.udp > 0 {
		s = append(s, "udp port 53")
	}
	return strings.Join(s, " or ")
}

// services adds rr services on f's VIP for tr (TCP :80, UDP :53) with
// every real server's f address and the method flag; FullNAT (-b)
// services get f.laddr first.
func (e *env) services(t *testing.T, f family, method string, tr workload) {
	t.Helper()
	vip := f.host(f.vip)
	for _, svc := range []struct {
		flag, port string
		n          int
	}{{"-t", ":80", tr.http}, {"-u", ":53", tr.udp}} {
		if svc.n == 0 {
			continue
		}
		e.mustIpvsadm(t, "-A", svc.flag, vip+svc.port, "-s", "rr")
		if method == "-b" {
			e.mustIpvsadm(t, "--add-laddr", "-z", f.laddr.String(), svc.flag, vip+svc.port)
		}
		for _, r := range e.Reals {
			e.mustIpvsadm(t, "-a", svc.flag, vip+svc.port, "-r", f.host(f.rip(r))+svc.port, method)
		}
	}
}

// exchange sends tr from the client to f's VIP (curl, then socat) and
// checks the answers of each service alternate between the real servers
// as rr does: as in the kernel, a new dest goes to the head of the
// service's list, so rr starts with the real server added last. It
// returns the answers and the HTTP responses with their headers.
func (e *env) exchange(t *testing.T, f family, tr workload) (answers, responses []string) {
	t.Helper()
	vip := f.host(f.vip)
	var want []string
	rr := func(i int) string { return e.Reals[len(e.Reals)-1-i%len(e.Reals)].Name }
	for i := 0; i < tr.http; i++ {
		out := run(t, e.ClientNS, 10*time.Second, "curl", "-sS", "-m", "5", "-D", "-", "http://"+vip+"/")
		responses = append(responses, out)
		if at := strings.LastIndex(out, "served by"); at >= 0 {
			out = out[at:]
		}
		answers = append(answers, strings.TrimSpace(out))
		want = append(want, "served by "+rr(i))
	}
	for i := 0; i < tr.udp; i++ {
		answers = append(answers, run(t, e.ClientNS, 10*time.Second, "sh", "-c", "printf q | socat -t 0.5 - "+f.udp+":"+vip+":53"))
		want = append(want, rr(i)+":q")
	}
	if strings.Join(answers, "|") != strings.Join(want, "|") {
		t.Fatalf("%s: answers %q, want %q", f.name, answers, want)
	}
	return answers, responses
}

// fromVIP checks the packets of a client capture: every one the client
// did not send itself comes from f's VIP and is neither a TCP reset nor an
// ICMP message. It returns how many there were.
func (e *env) fromVIP(t *testing.T, f family, pkts []gopacket.Packet) int {
	t.Helper()
	var n int
	for _, p := range pkts {
		ip, ok := f.ip(p)
		if !ok || ip.src == f.cip {
			continue
		}
		if ip.src != f.vip {
			t.Errorf("client received a packet from %v, not %s: %v", ip.src, f.theVIP, p)
		}
		if tcp, ok := p.Layer(layers.LayerTypeTCP).(*layers.TCP); ok && tcp.RST {
			t.Errorf("client received a RST: %v", p)
		}
		if p.Layer(f.icmp) != nil {
			t.Errorf("client received ICMP: %v", p)
		}
		n++
	}
	return n
}
