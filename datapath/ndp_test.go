package datapath

import (
	"net/netip"
	"sync/atomic"
	"testing"

	"github.com/gdirector/gdirector/conntrack"
	"github.com/gdirector/gdirector/forward"
	"github.com/gdirector/gdirector/header"
	"github.com/gdirector/gdirector/internal/clock"
	"github.com/gdirector/gdirector/internal/pkt"
	"github.com/gdirector/gdirector/link"
	"github.com/gdirector/gdirector/vs"
)

var (
	cip6  = netip.MustParseAddr("2001:db8:1::2")
	dip61 = netip.MustParseAddr("2001:db8:1::1")
	dip63 = netip.MustParseAddr("2001:db8:3::1")
	vip6  = netip.MustParseAddr("2001:db8:2::10")
	rip61 = netip.MustParseAddr("2001:db8:3::11")
	rip62 = netip.MustParseAddr("2001:db8:3::12")
)

func newRig6(t *testing.T, neigh map[netip.Addr][6]byte) (*Director, *fakeDev, *fakeDev, *clock.Fake) {
	t.Helper()
	cdev := &fakeDev{name: "eth0", index: 1, mac: macDirC}
	rdev := &fakeDev{name: "eth1", index: 2, mac: macDirR}
	var tbl atomic.Pointer[vs.Table]
	rrService(t, &tbl, vs.TCP, vip6, 80, vs.NewDest(rip61, 80, vs.Masq, 1), vs.NewDest(rip62, 80, vs.Masq, 1))
	router := &staticRouter{routes: map[netip.Prefix]Route{
		netip.MustParsePrefix("2001:db8:1::/64"): {IfIndex: 1, Src: dip61},
		netip.MustParsePrefix("2001:db8:3::/64"): {IfIndex: 2, Src: dip63},
	}, neigh: neigh}
	clk := clock.NewFake(1)
	d, err := New(Config{Devices: []link.Device{cdev, rdev}, Table: &tbl, Conns: conntrack.NewTable(conntrack.Options{}), Clock: clk, Router: router})
	if err != nil {
		t.Fatal(err)
	}
	// The new IPv6 VIP was announced with an unsolicited advertisement.
	for _, dv := range []*fakeDev{cdev, rdev} {
		if len(dv.sent) != 1 {
			t.Fatalf("%s sent %d frames at start", dv.name, len(dv.sent))
		}
		var p header.Parsed
		if header.Decode(dv.sent[0], &p) != header.OK || p.ICMPType != header.ICMPv6NeighborAdvert || header.Ethernet(dv.sent[0]).Dst() != header.AllNodesMAC {
			t.Fatalf("%s: not an unsolicited NA: %x", dv.name, dv.sent[0])
		}
		dv.sent = nil
	}
	return d, cdev, rdev, clk
}

func TestNDPAnswersForVIP(t *testing.T) {
	d, _, _, clk := newRig6(t, nil)
	sn, smac := header.SolicitedNode(vip6.As16())
	ns := make([]byte, 14+72)
	e := header.Ethernet(ns)
	e.SetDst(smac)
	e.SetSrc(macClient)
	ns[12], ns[13] = 0x86, 0xdd
	header.PutNDP(ns[14:], header.ICMPv6NeighborSolicit, 0, cip6.As16(), sn, vip6.As16(), macClient)
	out := mustStep(t, d.workers[0], clk.Now(), ns, 0, forward.Pass)
	want := make([]byte, 14+72)
	e = header.Ethernet(want)
	e.SetDst(macClient)
	e.SetSrc(macDirC)
	want[12], want[13] = 0x86, 0xdd
	header.PutNDP(want[14:], header.ICMPv6NeighborAdvert, header.NAFlagSolicited|header.NAFlagOverride, vip6.As16(), cip6.As16(), vip6.As16(), macDirC)
	if string(out) != string(want) {
		t.Fatalf("NA\n got %x\nwant %x", out, want)
	}
	// A solicitation for another address, or with a hop limit other than
	// 255, is not answered.
	other := append([]byte(nil), ns...)
	other[14+7] = 64
	if dev, _, _ := step(t, d.workers[0], clk.Now(), other); dev != -1 {
		t.Fatal("answered an NS with hop limit 64")
	}
}

func TestNATIPv6AndNDPResolution(t *testing.T) {
	// The client is known; the real servers are not: the director must
	// solicit them.
	d, cdev, rdev, clk := newRig6(t, map[netip.Addr][6]byte{cip6: macClient})
	for _, a := range []netip.Addr{cip6, rip61, rip62} {
		d.res.want(a.As16())
	}
	if len(rdev.sent) != 2 {
		t.Fatalf("%d solicitations on the real-server side", len(rdev.sent))
	}
	var p header.Parsed
	header.Decode(rdev.sent[0], &p)
	if p.ICMPType != header.ICMPv6NeighborSolicit || header.AddrFrom16(p.Src) != dip63 || p.TTL != 255 {
		t.Fatalf("bad NS %+v", p)
	}
	// rs1 and rs2 advertise themselves.
	for _, rs := range []struct {
		ip  netip.Addr
		mac [6]byte
	}{{rip61, macRS1}, {rip62, macRS2}} {
		na := make([]byte, 14+72)
		e := header.Ethernet(na)
		e.SetDst(macDirR)
		e.SetSrc(rs.mac)
		na[12], na[13] = 0x86, 0xdd
		header.PutNDP(na[14:], header.ICMPv6NeighborAdvert, header.NAFlagSolicited, rs.ip.As16(), dip63.As16(), rs.ip.As16(), rs.mac)
		step(t, d.workers[1], clk.Now(), na)
		d.res.learn(<-d.learnCh)
	}
	syn := pkt.Spec{SrcMAC: macClient, DstMAC: macDirC, Src: cip6, Dst: vip6, Proto: header.ProtoTCP, SPort: 1234, DPort: 80, TCPFlags: header.TCPSyn}
	out := mustStep(t, d.workers[0], clk.Now(), pkt.Build(syn), 1, forward.Pass)
	want := syn
	want.SrcMAC, want.DstMAC, want.Dst = macDirR, macRS1, rip61
	expectFrame(t, out, want)
	synack := pkt.Spec{SrcMAC: macRS1, DstMAC: macDirR, Src: rip61, Dst: cip6, Proto: header.ProtoTCP, SPort: 80, DPort: 1234, TCPFlags: header.TCPSyn | header.TCPAck}
	dev, out, _ := step(t, d.workers[1], clk.Now(), pkt.Build(synack))
	want = synack
	want.SrcMAC, want.DstMAC, want.Src, want.TTL = macDirC, macClient, vip6, 63
	if dev != 0 {
		t.Fatalf("synack dev %d", dev)
	}
	expectFrame(t, out, want)
	_ = cdev
}
