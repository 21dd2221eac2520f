package header_test

import (
	"net/netip"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/gdirector/gdirector/header"
)

func TestPutNDPAgainstGopacket(t *testing.T) {
	src := netip.MustParseAddr("2001:db8:2::10").As16()
	dst := netip.MustParseAddr("2001:db8:1::2").As16()
	mac := [6]byte{2, 0, 0, 0, 0, 0x10}
	f := make([]byte, 14+72)
	header.Ethernet(f).SetDst([6]byte{2, 0, 0, 0, 0, 1})
	header.Ethernet(f).SetSrc(mac)
	f[12], f[13] = 0x86, 0xdd
	n := header.PutNDP(f[14:], header.ICMPv6NeighborAdvert, header.NAFlagSolicited|header.NAFlagOverride, src, dst, src, mac)
	if n != 72 {
		t.Fatalf("wrote %d bytes", n)
	}
	p := gopacket.NewPacket(f, layers.LayerTypeEthernet, gopacket.Default)
	na, ok := p.Layer(layers.LayerTypeICMPv6NeighborAdvertisement).(*layers.ICMPv6NeighborAdvertisement)
	if !ok {
		t.Fatalf("gopacket sees no NA: %v", p)
	}
	if !na.Solicited() || !na.Override() || na.Router() || netip.AddrFrom16([16]byte(na.TargetAddress.To16())) != netip.AddrFrom16(src) {
		t.Fatalf("NA fields %+v", na)
	}
	var ph header.Parsed
	if header.Decode(f, &ph) != header.OK || !header.L4ChecksumOK(f, &ph) || ph.TTL != 255 {
		t.Fatalf("checksum or hop limit wrong: %+v", ph)
	}
	got, ok := header.NDPLinkAddr(f[ph.L4:ph.End], header.NDPOptTargetLinkAddr)
	if !ok || got != mac {
		t.Fatalf("TLLA %x %v", got, ok)
	}
	if tg, _ := header.NDPTarget(f[ph.L4:ph.End]); tg != src {
		t.Fatal("target")
	}
	sn, smac := header.SolicitedNode(netip.MustParseAddr("2001:db8:3::11").As16())
	if netip.AddrFrom16(sn).String() != "ff02::1:ff00:11" || smac != [6]byte{0x33, 0x33, 0xff, 0, 0, 0x11} {
		t.Fatalf("solicited node %v %x", netip.AddrFrom16(sn), smac)
	}
	// Malformed options are refused.
	bad := append([]byte(nil), f[ph.L4:ph.End]...)
	bad[25] = 0
	if _, ok := header.NDPLinkAddr(bad, header.NDPOptTargetLinkAddr); ok {
		t.Fatal("zero-length option accepted")
	}
}
