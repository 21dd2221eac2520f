package e2e

import (
	"bytes"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/gdirector/gdirector/header"
	"github.com/gdirector/gdirector/lab"
)

// The IPv6 end-to-end tests run every forwarding method on a dual-stack lab
// (lab.Options.IPv6, addresses from 2001:db8::/32) with IPv6 services only:
// a TCP service on [VIP6]:80 and a UDP one on [VIP6]:53, two real servers,
// rr. Each proves the method's rewrite from captures, as the IPv4 tests do.

// ipv6Of returns the packet's outermost IPv6 header, or nil.
func ipv6Of(p gopacket.Packet) *layers.IPv6 {
	if l := p.Layer(layers.LayerTypeIPv6); l != nil {
		return l.(*layers.IPv6)
	}
	return nil
}

func addrOf(b []byte) netip.Addr { a, _ := netip.AddrFromSlice(b); return a.Unmap() }

// maskL4Checksum6 is maskL4Checksum for an IPv6 packet without extension
// headers.
func maskL4Checksum6(ip []byte) []byte {
	b := append([]byte(nil), ip...)
	if len(b) < 40 {
		return b
	}
	off := 40
	switch b[6] {
	case header.ProtoTCP:
		off += 16
	case header.ProtoUDP:
		off += 6
	default:
		return b
	}
	if len(b) >= off+2 {
		b[off], b[off+1] = 0, 0
	}
	return b
}

// newEnv6 builds a dual-stack lab of the given mode and starts the
// director, as newEnvMode does.
func newEnv6(t *testing.T, mode string) *env {
	t.Helper()
	return newEnvOpts(t, mode, lab.Options{IPv6: true})
}

// services6 configures rr services [VIP6]:80/tcp and [VIP6]:53/udp with
// the real servers' IPv6 addresses and the given method flag; FullNAT
// services get the lab's IPv6 local address first.
func (e *env) services6(t *testing.T, method string) {
	t.Helper()
	vip := "[" + e.VIP6.String() + "]"
	for _, svc := range []struct{ flag, port string }{{"-t", ":80"}, {"-u", ":53"}} {
		e.mustIpvsadm(t, "-A", svc.flag, vip+svc.port, "-s", "rr")
		if method == "-b" {
			e.mustIpvsadm(t, "--add-laddr", "-z", lab.FullNATLocalAddr6.String(), svc.flag, vip+svc.port)
		}
		for _, r := range e.Reals {
			e.mustIpvsadm(t, "-a", svc.flag, vip+svc.port, "-r", "["+r.RIP6.String()+"]"+svc.port, method)
		}
	}
}

// requests6 sends four HTTP requests and two UDP queries to the IPv6 VIP
// and checks the answers alternate between the real servers (rr starts
// with the one added last, as in the kernel).
func (e *env) requests6(t *testing.T) {
	t.Helper()
	vip := "[" + e.VIP6.String() + "]"
	var got []string
	for i := 0; i < 4; i++ {
		got = append(got, strings.TrimSpace(run(t, e.ClientNS, 10*time.Second, "curl", "-sS", "-m", "5", "http://"+vip+"/")))
	}
	for i := 0; i < 2; i++ {
		got = append(got, run(t, e.ClientNS, 10*time.Second, "sh", "-c", "printf q6 | socat -t 0.5 - UDP6:"+vip+":53"))
	}
	want := "served by rs2|served by rs1|served by rs2|served by rs1|rs2:q6|rs1:q6"
	if strings.Join(got, "|") != want {
		t.Fatalf("answers %q, want %q", got, want)
	}
}

// TestNATIPv6: NAT over IPv6, TCP and UDP. Every packet the client receives
// comes from VIP6; every packet a real server receives is addressed to its
// RIP6 and comes from the client's own address (NAT keeps the source).
func TestNATIPv6(t *testing.T) {
	e := newEnv6(t, "nat")
	e.services6(t, "-m")
	// The director's kernel drops its copy of VIP6 traffic silently: a
	// blackhole route, not "no route" (which would answer ICMPv6).
	if out := run(t, e.DirectorNS, 5*time.Second, "ip", "-6", "route", "show", "proto", "250"); !strings.Contains(out, "blackhole "+e.VIP6.String()) {
		t.Errorf("no blackhole route for VIP6 on the director:\n%s", out)
	}
	// It joined VIP6's solicited-node group (33:33:ff:00:00:10) on the
	// client side, for NICs that filter multicast.
	if out := run(t, e.DirectorNS, 5*time.Second, "ip", "maddr", "show", "dev", e.DirClientIf); !strings.Contains(out, "33:33:ff:00:00:10") {
		t.Errorf("the director did not join VIP6's solicited-node group:\n%s", out)
	}
	kernelCap := startCapture(t, e.DirectorNS, "any", "icmp6 and ip6[40] < 128")
	clientCap := startCapture(t, e.ClientNS, e.ClientIf, "ip6 and (tcp or udp)")
	rsCap := startCapture(t, e.Reals[0].NS, e.Reals[0].If, "ip6 and (tcp or udp)")
	e.requests6(t)

	var atClient, atRS int
	for _, p := range packets(t, clientCap.stop(t)) {
		ip := ipv6Of(p)
		if ip == nil || addrOf(ip.SrcIP) == e.CIP6 {
			continue
		}
		if src := addrOf(ip.SrcIP); src != e.VIP6 {
			t.Errorf("client received a packet from %v, not VIP6", src)
		}
		if tcp, ok := p.Layer(layers.LayerTypeTCP).(*layers.TCP); ok && tcp.RST {
			t.Errorf("client received a RST")
		}
		atClient++
	}
	for _, p := range packets(t, rsCap.stop(t)) {
		ip := ipv6Of(p)
		if ip == nil {
			continue
		}
		src, dst := addrOf(ip.SrcIP), addrOf(ip.DstIP)
		if !(src == e.CIP6 && dst == e.Reals[0].RIP6) && !(src == e.Reals[0].RIP6 && dst == e.CIP6) {
			t.Errorf("rs1 saw %v → %v, want only client ↔ RIP6", src, dst)
		}
		atRS++
	}
	if atClient == 0 || atRS == 0 {
		t.Fatalf("captures: %d packets at the client from the VIP, %d at rs1", atClient, atRS)
	}
	for _, p := range packets(t, kernelCap.stop(t)) {
		t.Errorf("the director namespace emitted an ICMPv6 error: %v", p)
	}
	t.Logf("NAT/IPv6: the client received %d packets, all from %s; rs1 saw %d, all %s ↔ %s",
		atClient, e.VIP6, atRS, e.CIP6, e.Reals[0].RIP6)
	e.stopDirector(t)
}

// TestDRIPv6: direct routing over IPv6. Each real server receives exactly
// the IPv6 packet the client sent (only the Ethernet header differs), and
// the replies reach the client from the real servers' MACs.
func TestDRIPv6(t *testing.T) {
	e := newEnv6(t, "dr")
	e.services6(t, "-g")
	dirMAC := macOf(t, e.DirectorNS, "eth0")
	rsMACs := map[string]bool{}
	var rsCaps []*capture
	for _, r := range e.Reals {
		rsMACs[macOf(t, r.NS, r.If).String()] = true
		rsCaps = append(rsCaps, startCapture(t, r.NS, r.If, "ip6 and (tcp port 80 or udp port 53)"))
	}
	clientCap := startCapture(t, e.ClientNS, e.ClientIf, "ip6 and (tcp port 80 or udp port 53)")
	e.requests6(t)

	sent := map[string]bool{}
	var fromRS, fromDir int
	for _, p := range packets(t, clientCap.stop(t)) {
		ip := ipv6Of(p)
		eth, _ := p.Layer(layers.LayerTypeEthernet).(*layers.Ethernet)
		if ip == nil || eth == nil {
			continue
		}
		if addrOf(ip.SrcIP) == e.CIP6 {
			sent[string(maskL4Checksum6(eth.Payload))] = true
			continue
		}
		if src := addrOf(ip.SrcIP); src != e.VIP6 {
			t.Errorf("client received a packet from %v", src)
		}
		if rsMACs[eth.SrcMAC.String()] {
			fromRS++
		}
		if bytes.Equal(eth.SrcMAC, dirMAC) {
			fromDir++
		}
	}
	if fromRS == 0 || fromDir != 0 {
		t.Errorf("replies at the client: %d from real-server MACs, %d from the director", fromRS, fromDir)
	}
	var arrived, identical int
	for i, c := range rsCaps {
		rsMAC := macOf(t, e.Reals[i].NS, e.Reals[i].If)
		for _, p := range packets(t, c.stop(t)) {
			eth, _ := p.Layer(layers.LayerTypeEthernet).(*layers.Ethernet)
			ip := ipv6Of(p)
			if eth == nil || ip == nil || addrOf(ip.DstIP) != e.VIP6 {
				continue
			}
			arrived++
			if !bytes.Equal(eth.SrcMAC, dirMAC) || !bytes.Equal(eth.DstMAC, rsMAC) {
				t.Errorf("%s got a frame %v → %v, want director → itself", e.Reals[i].Name, eth.SrcMAC, eth.DstMAC)
			}
			var ph header.Parsed
			if st := header.Decode(p.Data(), &ph); st != header.OK || !header.L4ChecksumOK(p.Data(), &ph) {
				t.Errorf("%s received a packet with a bad checksum (%v)", e.Reals[i].Name, st)
			}
			if sent[string(maskL4Checksum6(eth.Payload))] {
				identical++
			} else {
				t.Errorf("%s received an IPv6 packet the client never sent as is: %v", e.Reals[i].Name, p)
			}
		}
	}
	if arrived == 0 || identical != arrived {
		t.Errorf("%d of %d packets at the real servers are byte-identical to the client's", identical, arrived)
	}
	t.Logf("DR/IPv6: %d request packets arrived unchanged at the real servers; %d replies reached the client from real-server MACs; 0 via the director", identical, fromRS)
	e.stopDirector(t)
}

// TestTUNIPv6: ip6ip6. On the router's link to the director, every packet
// the director sends is an outer IPv6 header DIP6 → RIP6 with next header
// 41 carrying exactly the packet the client sent; no reply crosses that
// link.
func TestTUNIPv6(t *testing.T) {
	e := newEnv6(t, "tun")
	e.services6(t, "-i")
	rips := map[netip.Addr]bool{}
	for _, r := range e.Reals {
		rips[r.RIP6] = true
	}
	link := startCapture(t, e.SwitchNS, "dir", "ip6 and not icmp6")
	e.requests6(t)

	pk := packets(t, link.stop(t))
	toDirector := map[string]bool{}
	for _, p := range pk {
		ip := ipv6Of(p)
		eth, _ := p.Layer(layers.LayerTypeEthernet).(*layers.Ethernet)
		if ip != nil && eth != nil && addrOf(ip.DstIP) == e.VIP6 {
			toDirector[string(maskL4Checksum6(eth.Payload))] = true
		}
	}
	var tunnelled, matched, replies int
	for _, p := range pk {
		ip := ipv6Of(p)
		if ip == nil {
			continue
		}
		if addrOf(ip.SrcIP) == e.VIP6 {
			replies++
		}
		if ip.NextHeader != layers.IPProtocolIPv6 {
			continue
		}
		tunnelled++
		if src, dst := addrOf(ip.SrcIP), addrOf(ip.DstIP); src != e.DIP6Real || !rips[dst] {
			t.Errorf("outer header %v → %v, want %v → a RIP6", src, dst, e.DIP6Real)
		}
		if ip.HopLimit == 0 {
			t.Errorf("outer hop limit 0")
		}
		inner := ip.Payload
		var ph header.Parsed
		eth := append(make([]byte, 12), 0x86, 0xdd)
		if st := header.Decode(append(eth, inner...), &ph); st != header.OK {
			t.Errorf("inner packet undecodable: %v", st)
			continue
		}
		if toDirector[string(maskL4Checksum6(inner))] {
			matched++
		}
	}
	if tunnelled == 0 || matched != tunnelled {
		t.Errorf("%d tunnelled packets, %d of them carry a client packet unchanged", tunnelled, matched)
	}
	if replies != 0 {
		t.Errorf("%d replies from VIP6 crossed the director's link", replies)
	}
	t.Logf("TUN/IPv6: %d packets left the director as ip6ip6 %v → RIP6 carrying the client's packet unchanged; %d replies via the director", tunnelled, e.DIP6Real, replies)
	e.stopDirector(t)
}

// TestFullNATIPv6: FullNAT over IPv6 with real servers that have no IPv6
// route to the client: rs1 sees only the IPv6 local address, the client
// only VIP6.
func TestFullNATIPv6(t *testing.T) {
	e := newEnv6(t, "fullnat")
	e.services6(t, "-b")
	laddr := lab.FullNATLocalAddr6
	if out, _ := run2(e.Reals[0].NS, "ip", "-6", "route", "get", e.CIP6.String()); !strings.Contains(out, "unreachable") && out != "" {
		t.Fatalf("real server has an IPv6 route to the client: %s", out)
	}
	rsCap := startCapture(t, e.Reals[0].NS, e.Reals[0].If, "ip6 and (tcp or udp)")
	clientCap := startCapture(t, e.ClientNS, e.ClientIf, "ip6 and (tcp or udp)")
	e.requests6(t)
	var atRS, atClient, toa int
	for _, p := range packets(t, rsCap.stop(t)) {
		ip := ipv6Of(p)
		if ip == nil {
			continue
		}
		if a, ok := toaAddr(p); ok {
			if a.Addr() != e.CIP6 {
				t.Errorf("TOA carries %v, want the client %v", a, e.CIP6)
			}
			toa++
		}
		src, dst := addrOf(ip.SrcIP), addrOf(ip.DstIP)
		if src != laddr && dst != laddr {
			t.Errorf("rs1 saw a packet not to or from the local address: %v → %v", src, dst)
		}
		if src == e.CIP6 || dst == e.CIP6 {
			t.Errorf("rs1 saw the client's address")
		}
		atRS++
	}
	for _, p := range packets(t, clientCap.stop(t)) {
		ip := ipv6Of(p)
		if ip == nil || addrOf(ip.SrcIP) == e.CIP6 {
			continue
		}
		if src := addrOf(ip.SrcIP); src != e.VIP6 {
			t.Errorf("client received a packet from %v", src)
		}
		if tcp, ok := p.Layer(layers.LayerTypeTCP).(*layers.TCP); ok && tcp.RST {
			t.Errorf("client received a RST")
		}
		atClient++
	}
	if atRS == 0 || atClient == 0 {
		t.Errorf("captures: %d packets at rs1, %d at the client", atRS, atClient)
	}
	if toa != 2 {
		t.Errorf("%d packets at rs1 carried TOA, want 2 (the handshake's ACK of each connection)", toa)
	}
	getl := e.mustIpvsadm(t, "-G", "-t", "["+e.VIP6.String()+"]:80")
	t.Logf("FullNAT/IPv6: rs1 saw %d packets, all between %s and itself (%d carried TOA with the client's address); the client saw %d, all from VIP6\nipvsadm -G:\n%s", atRS, laddr, toa, atClient, getl)
	e.stopDirector(t)
}
