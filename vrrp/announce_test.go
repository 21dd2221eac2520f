package vrrp

import (
	"bytes"
	"net"
	"net/netip"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

var testMAC = net.HardwareAddr{0x02, 0x67, 0x64, 0x00, 0x2a, 0x01}

// TestGARPFrame checks the gratuitous ARP against an independent decoder:
// a broadcast ARP request whose sender and target addresses are both the
// virtual address, from the node's MAC.
func TestGARPFrame(t *testing.T) {
	vip := netip.MustParseAddr("192.0.2.100")
	b := garpFrame(testMAC, vip)
	if len(b) != 42 {
		t.Fatalf("length %d, want 42", len(b))
	}
	pkt := gopacket.NewPacket(b, layers.LayerTypeEthernet, gopacket.Default)
	eth, _ := pkt.Layer(layers.LayerTypeEthernet).(*layers.Ethernet)
	arp, _ := pkt.Layer(layers.LayerTypeARP).(*layers.ARP)
	if eth == nil || arp == nil {
		t.Fatalf("not Ethernet/ARP: %v", pkt)
	}
	if eth.DstMAC.String() != "ff:ff:ff:ff:ff:ff" || !bytes.Equal(eth.SrcMAC, testMAC) {
		t.Errorf("Ethernet %v -> %v", eth.SrcMAC, eth.DstMAC)
	}
	if arp.AddrType != layers.LinkTypeEthernet || arp.Protocol != layers.EthernetTypeIPv4 || arp.HwAddressSize != 6 || arp.ProtAddressSize != 4 {
		t.Errorf("ARP header %+v", arp)
	}
	if arp.Operation != layers.ARPRequest || !bytes.Equal(arp.SourceHwAddress, testMAC) ||
		!bytes.Equal(arp.SourceProtAddress, vip.AsSlice()) || !bytes.Equal(arp.DstProtAddress, vip.AsSlice()) {
		t.Errorf("ARP %d from %v/%v for %v, want a request from %v/%v for itself",
			arp.Operation, net.HardwareAddr(arp.SourceHwAddress), net.IP(arp.SourceProtAddress), net.IP(arp.DstProtAddress), testMAC, vip)
	}
}

// TestUnsolicitedNA checks the neighbour advertisement the ICMPv6 socket
// sends: type 136 code 0, router and override flags set, solicited clear,
// the virtual address as target and the node's MAC in a target
// link-layer address option.
func TestUnsolicitedNA(t *testing.T) {
	vip := netip.MustParseAddr("2001:db8:9::10")
	b := unsolicitedNA(testMAC, vip)
	want := []byte{
		136, 0, 0, 0, 0xa0, 0, 0, 0,
		0x20, 0x01, 0x0d, 0xb8, 0, 9, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
		2, 1, 0x02, 0x67, 0x64, 0x00, 0x2a, 0x01,
	}
	if !bytes.Equal(b, want) {
		t.Fatalf("NA\n got % x\nwant % x", b, want)
	}
	// And as another decoder reads it.
	pkt := gopacket.NewPacket(b, layers.LayerTypeICMPv6, gopacket.Default)
	na, _ := pkt.Layer(layers.LayerTypeICMPv6NeighborAdvertisement).(*layers.ICMPv6NeighborAdvertisement)
	if na == nil {
		t.Fatalf("not a neighbour advertisement: %v", pkt)
	}
	if !na.Router() || !na.Override() || na.Solicited() {
		t.Errorf("flags %#x: want router and override, not solicited", na.Flags)
	}
	if !na.TargetAddress.Equal(net.IP(vip.AsSlice())) {
		t.Errorf("target %v, want %v", na.TargetAddress, vip)
	}
	if len(na.Options) != 1 || na.Options[0].Type != layers.ICMPv6OptTargetAddress || !bytes.Equal(na.Options[0].Data, testMAC) {
		t.Errorf("options %v, want the target link-layer address %v", na.Options, testMAC)
	}
}
