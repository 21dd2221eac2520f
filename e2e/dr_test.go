package e2e

import (
	"bytes"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket/layers"

	"github.com/gdirector/gdirector/header"
	"github.com/gdirector/gdirector/internal/nsutil"
)

func macOf(t *testing.T, ns, ifname string) net.HardwareAddr {
	t.Helper()
	var mac net.HardwareAddr
	err := nsutil.Do(ns, func() error {
		ifc, err := net.InterfaceByName(ifname)
		if err == nil {
			mac = ifc.HardwareAddr
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return mac
}

// TestDRTCP: with direct routing, requests alternate between the real
// servers; each real server receives exactly the IP packet the client sent
// (only the Ethernet header differs: director → real server), and the
// replies reach the client from the real servers' MACs, never through the
// director.
func TestDRTCP(t *testing.T) {
	e := newEnvMode(t, "dr")
	vip := e.VIP.String()
	e.mustIpvsadm(t, "-A", "-t", vip+":80", "-s", "rr")
	for _, r := range e.Reals {
		e.mustIpvsadm(t, "-a", "-t", vip+":80", "-r", r.RIP.String()+":80", "-g")
	}
	dirMAC := macOf(t, e.DirectorNS, "eth0")
	rsMACs := map[string]string{}
	var rsCaps []*capture
	for _, r := range e.Reals {
		rsMACs[macOf(t, r.NS, r.If).String()] = r.Name
		rsCaps = append(rsCaps, startCapture(t, r.NS, r.If, "tcp port 80"))
	}
	clientCap := startCapture(t, e.ClientNS, e.ClientIf, "tcp port 80")
	dirCap := startCapture(t, e.DirectorNS, "eth0", "ip src "+vip)

	var got []string
	for i := 0; i < 4; i++ {
		got = append(got, strings.TrimSpace(run(t, e.ClientNS, 10*time.Second, "curl", "-sS", "-m", "5", "http://"+vip+"/")))
	}
	if strings.Join(got, "|") != "served by rs2|served by rs1|served by rs2|served by rs1" {
		t.Fatalf("answers %q", got)
	}

	// What the client sent toward the VIP, keyed by the IP packet bytes.
	cf := clientCap.stop(t)
	sent := map[string]bool{}
	var fromRS, fromDir int
	for _, p := range packets(t, cf) {
		ip := ipv4(p)
		eth, _ := p.Layer(layers.LayerTypeEthernet).(*layers.Ethernet)
		if ip == nil || eth == nil {
			continue
		}
		if src, _ := netip.AddrFromSlice(ip.SrcIP); src == e.CIP {
			sent[string(maskL4Checksum(eth.Payload))] = true
			continue
		}
		if src, _ := netip.AddrFromSlice(ip.SrcIP); src != e.VIP {
			t.Errorf("client received a packet from %v", ip.SrcIP)
		}
		if _, ok := rsMACs[eth.SrcMAC.String()]; ok {
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
		rsMAC := macOf(t, e.Reals[i].NS, e.Reals[i].If)
		for _, p := range packets(t, c.stop(t)) {
			eth, _ := p.Layer(layers.LayerTypeEthernet).(*layers.Ethernet)
			ip := ipv4(p)
			if eth == nil || ip == nil || !ip.DstIP.Equal(e.VIP.AsSlice()) {
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
			if sent[string(maskL4Checksum(eth.Payload))] {
				identical++
			} else {
				t.Errorf("%s received an IP packet the client never sent as is: %v", e.Reals[i].Name, p)
			}
		}
	}
	if arrived == 0 || identical != arrived {
		t.Errorf("%d of %d packets at the real servers are byte-identical to the client's", identical, arrived)
	}
	if n := len(packets(t, dirCap.stop(t))); n != 0 {
		t.Errorf("the director saw %d reply packets: replies must bypass it", n)
	}
	t.Logf("DR: %d request packets arrived unchanged at the real servers; %d replies reached the client from real-server MACs; 0 via the director", identical, fromRS)
	list := e.mustIpvsadm(t, "-L", "-n")
	if !strings.Contains(list, "Route") {
		t.Errorf("listing:\n%s", list)
	}
	e.stopDirector(t)
}

// maskL4Checksum returns a copy of an IPv4 TCP or UDP packet with the
// transport checksum zeroed. A capture on the client shows the partial
// checksum its TX offload leaves for the NIC; the director completes it (as
// the NIC would) before forwarding, so that field legitimately differs.
func maskL4Checksum(ip []byte) []byte {
	b := append([]byte(nil), ip...)
	if len(b) < 20 {
		return b
	}
	off := int(b[0]&0x0f) * 4
	switch b[9] {
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

// TestDRUDP: DNS-like queries through the VIP with direct routing; the
// answers come from the VIP, sent by the real servers themselves.
func TestDRUDP(t *testing.T) {
	e := newEnvMode(t, "dr")
	vip := e.VIP.String()
	e.mustIpvsadm(t, "-A", "-u", vip+":53", "-s", "rr")
	for _, r := range e.Reals {
		e.mustIpvsadm(t, "-a", "-u", vip+":53", "-r", r.RIP.String()+":53", "-g")
	}
	var got []string
	for i := 0; i < 4; i++ {
		got = append(got, run(t, e.ClientNS, 10*time.Second, "sh", "-c", "printf q | socat -t 0.5 - UDP:"+vip+":53"))
	}
	if strings.Join(got, "|") != "rs2:q|rs1:q|rs2:q|rs1:q" {
		t.Fatalf("answers %q", got)
	}
	e.stopDirector(t)
}
