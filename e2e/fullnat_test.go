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

// toaAddr returns the client address and port of the TOA option (kind
// 254, DPVS's layout: port, then the IPv4 or IPv6 address) of a TCP
// packet.
func toaAddr(p gopacket.Packet) (netip.AddrPort, bool) {
	tcp, ok := p.Layer(layers.LayerTypeTCP).(*layers.TCP)
	if !ok {
		return netip.AddrPort{}, false
	}
	for _, o := range tcp.Options {
		if o.OptionType != 254 || (len(o.OptionData) != 6 && len(o.OptionData) != 18) {
			continue
		}
		a, _ := netip.AddrFromSlice(o.OptionData[2:])
		return netip.AddrPortFrom(a, uint16(o.OptionData[0])<<8|uint16(o.OptionData[1])), true
	}
	return netip.AddrPort{}, false
}

// TestFullNAT: the real servers have no route to the client at all; with
// FullNAT they only ever see the director's local address, the client only
// ever sees the VIP, and requests alternate between them; the handshake's
// ACK tells rs1 the client's address in a TOA option. TCP and UDP.
func TestFullNAT(t *testing.T) {
	e := newEnvMode(t, "fullnat")
	vip := e.VIP.String()
	laddr := lab.FullNATLocalAddr.String()
	for _, svc := range []string{"-t", "-u"} {
		port := map[string]string{"-t": ":80", "-u": ":53"}[svc]
		e.mustIpvsadm(t, "-A", svc, vip+port, "-s", "rr")
		e.mustIpvsadm(t, "--add-laddr", "-z", laddr, svc, vip+port)
		for _, r := range e.Reals {
			e.mustIpvsadm(t, "-a", svc, vip+port, "-r", r.RIP.String()+port, "-b")
		}
	}
	if out, _ := run2(e.Reals[0].NS, "ip", "route", "get", e.CIP.String()); !strings.Contains(out, "unreachable") && out != "" {
		t.Fatalf("real server has a route to the client: %s", out)
	}
	rsCap := startCapture(t, e.Reals[0].NS, e.Reals[0].If, "tcp or udp")
	clientCap := startCapture(t, e.ClientNS, e.ClientIf, "tcp or udp")
	var got []string
	for i := 0; i < 4; i++ {
		got = append(got, strings.TrimSpace(run(t, e.ClientNS, 10*time.Second, "curl", "-sS", "-m", "5", "http://"+vip+"/")))
	}
	for i := 0; i < 2; i++ {
		got = append(got, run(t, e.ClientNS, 10*time.Second, "sh", "-c", "printf q | socat -t 0.5 - UDP:"+vip+":53"))
	}
	if strings.Join(got, "|") != "served by rs2|served by rs1|served by rs2|served by rs1|rs2:q|rs1:q" {
		t.Fatalf("answers %q", got)
	}
	var atRS, atClient, toa int
	for _, p := range packets(t, rsCap.stop(t)) {
		ip := ipv4(p)
		if ip == nil {
			continue
		}
		if a, ok := toaAddr(p); ok {
			if a.Addr() != e.CIP {
				t.Errorf("TOA carries %v, want the client %v", a, e.CIP)
			}
			toa++
		}
		peer := ip.SrcIP
		if ip.DstIP.Equal(lab.FullNATLocalAddr.AsSlice()) || ip.SrcIP.Equal(lab.FullNATLocalAddr.AsSlice()) {
			atRS++
		} else {
			t.Errorf("rs1 saw a packet not to or from the local address: %v → %v", peer, ip.DstIP)
		}
		if ip.SrcIP.Equal(e.CIP.AsSlice()) || ip.DstIP.Equal(e.CIP.AsSlice()) {
			t.Errorf("rs1 saw the client's address")
		}
	}
	for _, p := range packets(t, clientCap.stop(t)) {
		ip := ipv4(p)
		if ip == nil || ip.SrcIP.Equal(e.CIP.AsSlice()) {
			continue
		}
		if src, _ := netip.AddrFromSlice(ip.SrcIP); src != e.VIP {
			t.Errorf("client received a packet from %v", ip.SrcIP)
		}
		if tcp, ok := p.Layer(layers.LayerTypeTCP).(*layers.TCP); ok && tcp.RST {
			t.Errorf("client received a RST")
		}
		atClient++
	}
	if atRS == 0 || atClient == 0 {
		t.Errorf("captures: %d packets at rs1, %d at the client", atRS, atClient)
	}
	// rs1 served two HTTP connections: the first ACK of each carries TOA.
	if toa != 2 {
		t.Errorf("%d packets at rs1 carried TOA, want 2 (the handshake's ACK of each connection)", toa)
	}
	getl := e.mustIpvsadm(t, "-G", "-t", vip+":80")
	t.Logf("FullNAT: rs1 saw %d packets, all between %s and itself (%d carried TOA with the client's address); the client saw %d, all from the VIP\nipvsadm -G:\n%s", atRS, laddr, toa, atClient, getl)
	e.stopDirector(t)
}
