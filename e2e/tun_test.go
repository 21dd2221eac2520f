package e2e

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket/layers"

	"github.com/gdirector/gdirector/header"
)

// TestTUN: with IPIP tunnelling the real servers sit on another routed
// subnet. On the router's link to the director, every packet the director
// sends is an outer IPv4 header DIP → RIP, protocol 4, carrying exactly the
// packet the client sent (checksum completed); no reply crosses that link,
// they go from the real servers to the client directly. TCP and UDP.
func TestTUN(t *testing.T) {
	e := newEnvMode(t, "tun")
	vip := e.VIP.String()
	e.mustIpvsadm(t, "-A", "-t", vip+":80", "-s", "rr")
	e.mustIpvsadm(t, "-A", "-u", vip+":53", "-s", "rr")
	rips := map[netip.Addr]bool{}
	for _, r := range e.Reals {
		rips[r.RIP] = true
		e.mustIpvsadm(t, "-a", "-t", vip+":80", "-r", r.RIP.String()+":80", "-i")
		e.mustIpvsadm(t, "-a", "-u", vip+":53", "-r", r.RIP.String()+":53", "-i")
	}
	link := startCapture(t, e.SwitchNS, "dir", "ip")

	var got []string
	for i := 0; i < 4; i++ {
		got = append(got, strings.TrimSpace(run(t, e.ClientNS, 10*time.Second, "curl", "-sS", "-m", "5", "http://"+vip+"/")))
	}
	for i := 0; i < 2; i++ {
		got = append(got, run(t, e.ClientNS, 10*time.Second, "sh", "-c", "printf q | socat -t 0.5 - UDP:"+vip+":53"))
	}
	want := "served by rs2|served by rs1|served by rs2|served by rs1|rs2:q|rs1:q"
	if strings.Join(got, "|") != want {
		t.Fatalf("answers %q, want %q", got, want)
	}

	toDirector := map[string]bool{}
	var tunnelled, matched, replies int
	pk := packets(t, link.stop(t))
	for _, p := range pk { // first pass: the client packets the router handed to the director
		ip := ipv4(p)
		eth, _ := p.Layer(layers.LayerTypeEthernet).(*layers.Ethernet)
		if ip != nil && eth != nil && ip.DstIP.Equal(e.VIP.AsSlice()) {
			toDirector[string(maskL4Checksum(eth.Payload))] = true
		}
	}
	for _, p := range pk {
		ip := ipv4(p)
		if ip == nil {
			continue
		}
		if ip.SrcIP.Equal(e.VIP.AsSlice()) {
			replies++
		}
		if ip.Protocol != layers.IPProtocolIPv4 {
			continue
		}
		tunnelled++
		src, _ := netip.AddrFromSlice(ip.SrcIP)
		dst, _ := netip.AddrFromSlice(ip.DstIP)
		if src != e.DIPReal || !rips[dst] {
			t.Errorf("outer header %v → %v, want %v → a RIP", src, dst, e.DIPReal)
		}
		inner := ip.Payload
		var ph header.Parsed
		eth := append(make([]byte, 12), 0x08, 0x00)
		if st := header.Decode(append(eth, inner...), &ph); st != header.OK {
			t.Errorf("inner packet undecodable: %v", st)
			continue
		}
		if toDirector[string(maskL4Checksum(inner))] {
			matched++
		}
	}
	if tunnelled == 0 || matched != tunnelled {
		t.Errorf("%d tunnelled packets, %d of them carry a client packet unchanged", tunnelled, matched)
	}
	if replies != 0 {
		t.Errorf("%d replies from the VIP crossed the director's link; they must go straight to the client", replies)
	}
	t.Logf("TUN: %d packets left the director as IPIP %v → RIP carrying the client's packet unchanged; %d replies via the director", tunnelled, e.DIPReal, replies)
	e.stopDirector(t)
}
