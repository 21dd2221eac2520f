package e2e

import (
	"bytes"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket/layers"

	"github.com/gdirector/gdirector/header"
)

// The checks of the four forwarding methods, each written once for both
// address families: the caller builds the lab (newEnvMode, newEnv6) and
// picks the family (family4, family6) and the traffic.

// natCaptures are the captures a NAT check reads.
type natCaptures struct {
	client *capture // the client's link
	rs     *capture // rs1's link
	kernel *capture // ICMP errors and RSTs in the director namespace
}

func (e *env) startNATCaptures(t *testing.T, f family) natCaptures {
	t.Helper()
	return natCaptures{
		kernel: startCapture(t, e.DirectorNS, "any", f.errFilter+" or "+f.rstFilter),
		client: startCapture(t, e.ClientNS, e.ClientIf, f.clientFilter()),
		rs:     startCapture(t, e.Reals[0].NS, e.Reals[0].If, f.ipFilter+" and (tcp or udp)"),
	}
}

// verifyNAT proves NAT from the captures c, started before the traffic:
// every packet the client received comes from f's VIP (no RST, no ICMP);
// every packet rs1 saw is between the client's own address and its RIP
// (NAT keeps the source); the director's kernel, which drops its copy of
// VIP traffic by a blackhole route, emitted no ICMP error and no RST. It
// returns how many packets the client received.
func (e *env) verifyNAT(t *testing.T, f family, c natCaptures) int {
	t.Helper()
	if out := run(t, e.DirectorNS, 5*time.Second, "ip", f.route, "route", "show", "proto", "250"); !strings.Contains(out, "blackhole "+f.vip.String()) {
		t.Errorf("no blackhole route for %s on the director:\n%s", f.theVIP, out)
	}
	atClient := e.fromVIP(t, f, packets(t, c.client.stop(t)))
	rip := f.rip(e.Reals[0])
	var atRS int
	for _, p := range packets(t, c.rs.stop(t)) {
		ip, ok := f.ip(p)
		if !ok {
			continue
		}
		if !(ip.src == f.cip && ip.dst == rip) && !(ip.src == rip && ip.dst == f.cip) {
			t.Errorf("rs1 saw %v → %v, want only client ↔ %s", ip.src, ip.dst, f.ripName)
		}
		atRS++
	}
	if atClient == 0 || atRS == 0 {
		t.Fatalf("captures: %d packets at the client from %s, %d at rs1", atClient, f.theVIP, atRS)
	}
	kernel := packets(t, c.kernel.stop(t))
	for _, p := range kernel {
		t.Errorf("the director namespace emitted an ICMP error or a RST: %v", p)
	}
	t.Logf("NAT%s: the client received %d packets, all from %s; rs1 saw %d, all %s ↔ %s; director RST/ICMP: %d",
		f.tag, atClient, f.vip, atRS, f.cip, rip, len(kernel))
	return atClient
}

// checkDR sends tr through DR services and proves the method from
// captures: each real server receives exactly the IP packet the client
// sent (only the Ethernet header differs: director → real server), the
// replies reach the client from the real servers' MACs, and none passes
// the director.
func (e *env) checkDR(t *testing.T, f family, tr workload) {
	t.Helper()
	e.services(t, f, "-g", tr)
	dirMAC := macOf(t, e.DirectorNS, "eth0")
	rsMACs := map[string]bool{}
	var rsCaps []*capture
	filter := f.ipFilter + " and (" + tr.filter() + ")"
	for _, r := range e.Reals {
		rsMACs[macOf(t, r.NS, r.If).String()] = true
		rsCaps = append(rsCaps, startCapture(t, r.NS, r.If, filter))
	}
	clientCap := startCapture(t, e.ClientNS, e.ClientIf, filter)
	dirCap := startCapture(t, e.DirectorNS, "eth0", f.dataFilter+" and src "+f.vip.String())
	e.exchange(t, f, tr)

	// What the client sent toward the VIP, keyed by the IP packet bytes.
	sent := map[string]bool{}
	var fromRS, fromDir int
	for _, p := range packets(t, clientCap.stop(t)) {
		ip, ok := f.ip(p)
		eth, _ := p.Layer(layers.LayerTypeEthernet).(*layers.Ethernet)
		if !ok || eth == nil {
			continue
		}
		if ip.src == f.cip {
			sent[string(maskL4Checksum(eth.Payload))] = true
			continue
		}
		if ip.src != f.vip {
			t.Errorf("client received a packet from %v, not %s", ip.src, f.theVIP)
		}
		if rsMACs[eth.SrcMAC.String()] {
			fromRS++
		}
		if bytes.Equal(eth.SrcMAC, dirMAC) {
			fromDir++
		}
	}
	if fromRS == 0 || fromDir != 0 {
		t.Errorf("replies at the client: %d from real-server MACs, %d from the director (want all from real servers)", fromRS, fromDir)
	}
	var arrived, identical int
	for i, c := range rsCaps {
		rs := e.Reals[i]
		rsMAC := macOf(t, rs.NS, rs.If)
		for _, p := range packets(t, c.stop(t)) {
			eth, _ := p.Layer(layers.LayerTypeEthernet).(*layers.Ethernet)
			ip, ok := f.ip(p)
			if eth == nil || !ok || ip.dst != f.vip {
				continue
			}
			arrived++
			if !bytes.Equal(eth.SrcMAC, dirMAC) || !bytes.Equal(eth.DstMAC, rsMAC) {
				t.Errorf("%s got a frame %v → %v, want director → itself", rs.Name, eth.SrcMAC, eth.DstMAC)
			}
			var ph header.Parsed
			if st := header.Decode(p.Data(), &ph); st != header.OK || !header.L4ChecksumOK(p.Data(), &ph) {
				t.Errorf("%s received a packet with a bad checksum (%v)", rs.Name, st)
			}
			if sent[string(maskL4Checksum(eth.Payload))] {
				identical++
			} else {
				t.Errorf("%s received an %s packet the client never sent as is: %v", rs.Name, f.name, p)
			}
		}
	}
	if arrived == 0 || identical != arrived {
		t.Errorf("%d of %d packets at the real servers are byte-identical to the client's", identical, arrived)
	}
	if n := len(packets(t, dirCap.stop(t))); n != 0 {
		t.Errorf("the director saw %d reply packets: replies must bypass it", n)
	}
	t.Logf("DR%s: %d request packets arrived unchanged at the real servers; %d replies reached the client from real-server MACs; 0 via the director", f.tag, identical, fromRS)
	if list := e.mustIpvsadm(t, "-L", "-n"); !strings.Contains(list, "Route") {
		t.Errorf("listing:\n%s", list)
	}
}

// checkTUN sends tr through TUN services and proves the method on the
// router's link to the director: every packet the director sends is an
// outer header DIP → RIP of the family, protocol IPIP or ip6ip6, carrying
// exactly the packet the client sent (checksum completed); no reply
// crosses that link, they go from the real servers to the client directly.
func (e *env) checkTUN(t *testing.T, f family, tr workload) {
	t.Helper()
	e.services(t, f, "-i", tr)
	rips := map[netip.Addr]bool{}
	for _, r := range e.Reals {
		rips[f.rip(r)] = true
	}
	link := startCapture(t, e.SwitchNS, "dir", f.dataFilter)
	e.exchange(t, f, tr)

	pk := packets(t, link.stop(t))
	toDirector := map[string]bool{}
	for _, p := range pk { // first pass: the client packets the router handed to the director
		ip, ok := f.ip(p)
		eth, _ := p.Layer(layers.LayerTypeEthernet).(*layers.Ethernet)
		if ok && eth != nil && ip.dst == f.vip {
			toDirector[string(maskL4Checksum(eth.Payload))] = true
		}
	}
	var tunnelled, matched, replies int
	for _, p := range pk {
		ip, ok := f.ip(p)
		if !ok {
			continue
		}
		if ip.src == f.vip {
			replies++
		}
		if ip.proto != f.tunnelProto {
			continue
		}
		tunnelled++
		if ip.src != f.dipReal || !rips[ip.dst] {
			t.Errorf("outer header %v → %v, want %v → a %s", ip.src, ip.dst, f.dipReal, f.ripName)
		}
		if ip.ttl == 0 {
			t.Errorf("outer TTL (hop limit) 0")
		}
		var ph header.Parsed
		eth := append(make([]byte, 12), byte(f.etherType>>8), byte(f.etherType))
		if st := header.Decode(append(eth, ip.payload...), &ph); st != header.OK {
			t.Errorf("inner packet undecodable: %v", st)
			continue
		}
		if toDirector[string(maskL4Checksum(ip.payload))] {
			matched++
		}
	}
	if tunnelled == 0 || matched != tunnelled {
		t.Errorf("%d tunnelled packets, %d of them carry a client packet unchanged", tunnelled, matched)
	}
	if replies != 0 {
		t.Errorf("%d replies from %s crossed the director's link; they must go straight to the client", replies, f.theVIP)
	}
	t.Logf("TUN%s: %d packets left the director as %s %v → %s carrying the client's packet unchanged; %d replies via the director",
		f.tag, tunnelled, f.tunnel, f.dipReal, f.ripName, replies)
}

// checkFullNAT sends tr through FullNAT services to real servers that have
// no route to the client of the family at all, and proves the method from
// captures: rs1 only ever sees the local address, the client only ever
// sees the VIP, and the handshake's ACK of each connection tells rs1 the
// client's address in a TOA option.
func (e *env) checkFullNAT(t *testing.T, f family, tr workload) {
	t.Helper()
	e.services(t, f, "-b", tr)
	if out, _ := run2(e.Reals[0].NS, "ip", f.route, "route", "get", f.cip.String()); !strings.Contains(out, "unreachable") && out != "" {
		t.Fatalf("real server has an %s route to the client: %s", f.name, out)
	}
	filter := f.ipFilter + " and (tcp or udp)"
	rsCap := startCapture(t, e.Reals[0].NS, e.Reals[0].If, filter)
	clientCap := startCapture(t, e.ClientNS, e.ClientIf, filter)
	e.exchange(t, f, tr)
	var atRS, toa int
	for _, p := range packets(t, rsCap.stop(t)) {
		ip, ok := f.ip(p)
		if !ok {
			continue
		}
		if a, ok := toaAddr(p); ok {
			if a.Addr() != f.cip {
				t.Errorf("TOA carries %v, want the client %v", a, f.cip)
			}
			toa++
		}
		if ip.src == f.laddr || ip.dst == f.laddr {
			atRS++
		} else {
			t.Errorf("rs1 saw a packet not to or from the local address: %v → %v", ip.src, ip.dst)
		}
		if ip.src == f.cip || ip.dst == f.cip {
			t.Errorf("rs1 saw the client's address")
		}
	}
	atClient := e.fromVIP(t, f, packets(t, clientCap.stop(t)))
	if atRS == 0 || atClient == 0 {
		t.Errorf("captures: %d packets at rs1, %d at the client", atRS, atClient)
	}
	// rr gives rs1 every other HTTP connection; the first ACK of each
	// carries TOA.
	if want := tr.http / len(e.Reals); toa != want {
		t.Errorf("%d packets at rs1 carried TOA, want %d (the handshake's ACK of each connection)", toa, want)
	}
	getl := e.mustIpvsadm(t, "-G", "-t", f.host(f.vip)+":80")
	t.Logf("FullNAT%s: rs1 saw %d packets, all between %s and itself (%d carried TOA with the client's address); the client saw %d, all from %s\nipvsadm -G:\n%s",
		f.tag, atRS, f.laddr, toa, atClient, f.theVIP, getl)
}
