package tun_test

import (
	"bytes"
	"encoding/binary"
	"net"
	"net/netip"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/gdirector/gdirector/forward"
	"github.com/gdirector/gdirector/forward/tun"
	"github.com/gdirector/gdirector/header"
	"github.com/gdirector/gdirector/internal/pkt"
)

// headroom mirrors link.Headroom, the space the data plane keeps in front
// of every frame.
const headroom = 64

var (
	cip   = netip.MustParseAddr("198.51.100.2")
	vip   = netip.MustParseAddr("192.0.2.10")
	dip   = netip.MustParseAddr("203.0.113.1") // director, tunnel source
	rip   = netip.MustParseAddr("203.0.113.11")
	cip6  = netip.MustParseAddr("2001:db8:1::2")
	vip6  = netip.MustParseAddr("2001:db8:2::10")
	dip6  = netip.MustParseAddr("2001:db8:3::1")
	rip6  = netip.MustParseAddr("2001:db8:3::11")
	macC  = pkt.MAC(1)
	web   = []byte("GET / HTTP/1.1\r\nHost: example\r\n\r\n")
	small = []byte("hi")
)

// refChecksum is the RFC 1071 checksum the slow, obvious way.
func refChecksum(b []byte, initial uint32) uint16 {
	s := initial
	for i := 0; i < len(b); i += 2 {
		w := uint32(b[i]) << 8
		if i+1 < len(b) {
			w |= uint32(b[i+1])
		}
		s += w
	}
	for s > 0xffff {
		s = s&0xffff + s>>16
	}
	return ^uint16(s)
}

// setTC sets the IPv4 TOS or IPv6 traffic class of the frame's packet.
func setTC(tc uint8) func(f []byte, l3 int) {
	return func(f []byte, l3 int) {
		if f[l3]>>4 == 4 {
			f[l3+1] = tc
			header.IPv4(f[l3:]).SetChecksum()
			return
		}
		f[l3] = 0x60 | tc>>4
		f[l3+1] = f[l3+1]&0x0f | tc<<4
	}
}

// setMF marks an IPv4 packet as the first of several fragments.
func setMF(f []byte, l3 int) {
	f[l3+6] |= 0x20
	header.IPv4(f[l3:]).SetChecksum()
}

type tcase struct {
	name    string
	spec    pkt.Spec
	mutate  func(f []byte, l3 int)
	pad     int   // Ethernet padding bytes appended to the frame
	wantTOS uint8 // outer TOS / traffic class
}

var cases = []tcase{
	{name: "v4 tcp", spec: pkt.Spec{Src: cip, Dst: vip, Proto: header.ProtoTCP, SPort: 40000, DPort: 80, TCPFlags: header.TCPSyn, TTL: 57, ID: 4321}},
	{name: "v4 tcp data df", spec: pkt.Spec{Src: cip, Dst: vip, Proto: header.ProtoTCP, SPort: 40000, DPort: 80, TCPFlags: header.TCPAck | header.TCPPsh, DF: true, TTL: 64, Payload: web}},
	{name: "v4 udp", spec: pkt.Spec{Src: cip, Dst: vip, Proto: header.ProtoUDP, SPort: 40001, DPort: 5001, TTL: 1, Payload: []byte("query")}},
	{name: "v4 udp no checksum", spec: pkt.Spec{Src: cip, Dst: vip, Proto: header.ProtoUDP, SPort: 40001, DPort: 5001, NoUDPCsum: true, Payload: web}},
	{name: "v4 vlan", spec: pkt.Spec{Src: cip, Dst: vip, Proto: header.ProtoTCP, SPort: 1, DPort: 443, VLAN: 100, DF: true, TTL: 200, Payload: web}},
	{name: "v4 ip options", spec: pkt.Spec{Src: cip, Dst: vip, Proto: header.ProtoTCP, SPort: 1, DPort: 80, IPOptions: []byte{1, 1, 1, 0}, Payload: web}},
	{name: "v4 padded", spec: pkt.Spec{Src: cip, Dst: vip, Proto: header.ProtoUDP, SPort: 9, DPort: 5001, Payload: small}, pad: 60 - (14 + 20 + 8 + 2)},
	{name: "v4 vlan padded", spec: pkt.Spec{Src: cip, Dst: vip, Proto: header.ProtoUDP, SPort: 9, DPort: 5001, VLAN: 7}, pad: 14},
	{name: "v4 tos ef", spec: pkt.Spec{Src: cip, Dst: vip, Proto: header.ProtoTCP, SPort: 1, DPort: 80}, mutate: setTC(0xb8), wantTOS: 0xb8},
	{name: "v4 tos ect1", spec: pkt.Spec{Src: cip, Dst: vip, Proto: header.ProtoTCP, SPort: 1, DPort: 80}, mutate: setTC(0x29), wantTOS: 0x29},
	{name: "v4 tos ce", spec: pkt.Spec{Src: cip, Dst: vip, Proto: header.ProtoTCP, SPort: 1, DPort: 80}, mutate: setTC(0xbb), wantTOS: 0xba},
	{name: "v4 first fragment", spec: pkt.Spec{Src: cip, Dst: vip, Proto: header.ProtoUDP, SPort: 1, DPort: 5001, Payload: web}, mutate: setMF},
	{name: "v6 tcp", spec: pkt.Spec{Src: cip6, Dst: vip6, Proto: header.ProtoTCP, SPort: 40000, DPort: 80, TCPFlags: header.TCPSyn, TTL: 33}},
	{name: "v6 tcp data", spec: pkt.Spec{Src: cip6, Dst: vip6, Proto: header.ProtoTCP, SPort: 40000, DPort: 80, TCPFlags: header.TCPAck, Payload: web}},
	{name: "v6 udp", spec: pkt.Spec{Src: cip6, Dst: vip6, Proto: header.ProtoUDP, SPort: 40001, DPort: 5001, TTL: 255, Payload: []byte("query")}},
	{name: "v6 vlan", spec: pkt.Spec{Src: cip6, Dst: vip6, Proto: header.ProtoUDP, SPort: 40001, DPort: 5001, VLAN: 0x2005, Payload: web}},
	{name: "v6 trailing bytes", spec: pkt.Spec{Src: cip6, Dst: vip6, Proto: header.ProtoUDP, SPort: 1, DPort: 5001}, pad: 6},
	{name: "v6 tc af41", spec: pkt.Spec{Src: cip6, Dst: vip6, Proto: header.ProtoTCP, SPort: 1, DPort: 80}, mutate: setTC(0x8a), wantTOS: 0x8a},
	{name: "v6 tc ce", spec: pkt.Spec{Src: cip6, Dst: vip6, Proto: header.ProtoTCP, SPort: 1, DPort: 80}, mutate: setTC(0x8b), wantTOS: 0x8a},
}

// frame builds the case's frame in a buffer with headroom (and slack at
// the end, as pooled buffers have), returning the buffer, the frame length
// and the decoded frame.
func (c tcase) frame(t testing.TB) (buf []byte, n int, p *header.Parsed) {
	f := pkt.Build(c.spec)
	l3 := header.EthernetLen
	if c.spec.VLAN != 0 {
		l3 += header.VLANLen
	}
	if c.mutate != nil {
		c.mutate(f, l3)
	}
	for range c.pad {
		f = append(f, 0xee)
	}
	buf = make([]byte, headroom+len(f)+32)
	copy(buf[headroom:], f)
	p = new(header.Parsed)
	if st := header.Decode(buf[headroom:headroom+len(f)], p); st != header.OK {
		t.Fatalf("decode input: %v", st)
	}
	return buf, len(f), p
}

func byName(t testing.TB, name string) tcase {
	for _, c := range cases {
		if c.name == name {
			return c
		}
	}
	t.Fatalf("no case %q", name)
	return tcase{}
}

func addrs(ipv6 bool) (src, dst [16]byte) {
	if ipv6 {
		return dip6.As16(), rip6.As16()
	}
	return netip.AddrFrom4(dip.As4()).As16(), netip.AddrFrom4(rip.As4()).As16()
}

// TestEncapGolden encapsulates each case and checks the result three ways:
// with header.Decode, field by field with gopacket, and byte for byte
// against the frame gopacket serialises from the expected layers.
func TestEncapGolden(t *testing.T) {
	const id = 0xbeef
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			buf, n, p := c.frame(t)
			orig := append([]byte(nil), buf[headroom:headroom+n]...)
			before := *p
			v6 := p.IPv6
			over := tun.Overhead4
			if v6 {
				over = tun.Overhead6
			}
			src, dst := addrs(v6)

			off, ln, r := tun.Encap(buf, headroom, n, p, src, dst, id, 1500)
			if r != forward.Pass {
				t.Fatalf("reason %v", r)
			}
			if off != headroom-over || ln != before.End+over {
				t.Fatalf("new frame [%d:+%d], want [%d:+%d]", off, ln, headroom-over, before.End+over)
			}
			if *p != before {
				t.Fatalf("Parsed changed: %+v", *p)
			}
			out := buf[off : off+ln]
			innerIP := orig[before.L3:before.End]

			// The inner packet is byte-identical and did not move; the
			// Ethernet header and tags are the original ones; no padding.
			if !bytes.Equal(out[before.L3+over:], innerIP) {
				t.Fatal("inner packet changed")
			}
			if &out[before.L3+over] != &buf[headroom+before.L3] {
				t.Fatal("inner packet moved")
			}
			if !bytes.Equal(out[:before.L3], orig[:before.L3]) {
				t.Fatalf("layer 2 header changed: % x", out[:before.L3])
			}

			checkHeaderDecode(t, out, &before, v6, src, dst, over)
			checkGopacket(t, out, orig, &before, v6, c.wantTOS, id)
			if !bytes.Equal(out, serialize(t, orig, &before, v6, c.wantTOS, id)) {
				t.Fatalf("frame differs from gopacket's\n got % x", out)
			}
		})
	}
}

func checkHeaderDecode(t *testing.T, out []byte, in *header.Parsed, v6 bool, src, dst [16]byte, over int) {
	t.Helper()
	var q header.Parsed
	if st := header.Decode(out, &q); st != header.OK {
		t.Fatalf("decode outer: %v", st)
	}
	wantProto := header.ProtoIPIP
	if v6 {
		wantProto = header.ProtoIPv6
	}
	if q.IPv6 != v6 || q.EtherType != in.EtherType || q.VLANs != in.VLANs || q.L3 != in.L3 ||
		q.Proto != wantProto || q.Src != src || q.Dst != dst || q.TTL != in.TTL || q.End != len(out) ||
		q.Frag != header.FragNone || q.End-q.L3 != in.End-in.L3+over {
		t.Fatalf("outer decodes as %+v", q)
	}
	if !v6 {
		o := out[q.L3 : q.L3+20]
		if refChecksum(o, 0) != 0 {
			t.Fatal("outer IPv4 checksum wrong (reference)")
		}
		// Decoding what follows the outer header gives the inner packet.
		var r header.Parsed
		inner := append(append([]byte(nil), out[:q.L3]...), out[q.L3+20:]...)
		if st := header.Decode(inner, &r); st != header.OK || r.Src != in.Src || r.Dst != in.Dst || r.SPort != in.SPort || r.DPort != in.DPort {
			t.Fatalf("inner decodes as %v %+v", st, r)
		}
	}
}

func checkGopacket(t *testing.T, out, orig []byte, in *header.Parsed, v6 bool, tos uint8, id uint16) {
	t.Helper()
	pk := gopacket.NewPacket(out, layers.LayerTypeEthernet, gopacket.Default)
	if el := pk.ErrorLayer(); el != nil {
		t.Fatalf("gopacket: %v", el.Error())
	}
	eth := pk.Layer(layers.LayerTypeEthernet).(*layers.Ethernet)
	if !bytes.Equal(eth.DstMAC, orig[0:6]) || !bytes.Equal(eth.SrcMAC, orig[6:12]) {
		t.Fatalf("ethernet %v > %v", eth.SrcMAC, eth.DstMAC)
	}
	if in.VLANs != 0 {
		q, ok := pk.Layer(layers.LayerTypeDot1Q).(*layers.Dot1Q)
		if !ok || q.VLANIdentifier != binary.BigEndian.Uint16(orig[14:])&0x0fff {
			t.Fatalf("802.1Q tag lost: %v", pk)
		}
	}
	innerIP := orig[in.L3:in.End]
	if v6 {
		var ips []*layers.IPv6
		for _, l := range pk.Layers() {
			if ip, ok := l.(*layers.IPv6); ok {
				ips = append(ips, ip)
			}
		}
		if len(ips) != 2 {
			t.Fatalf("want 2 IPv6 layers: %v", pk)
		}
		o := ips[0]
		if o.Version != 6 || o.TrafficClass != tos || o.FlowLabel != 0 || int(o.Length) != len(innerIP) ||
			o.NextHeader != layers.IPProtocolIPv6 || o.HopLimit != in.TTL ||
			!o.SrcIP.Equal(net.IP(dip6.AsSlice())) || !o.DstIP.Equal(net.IP(rip6.AsSlice())) {
			t.Fatalf("outer IPv6 %+v", o)
		}
		if !bytes.Equal(o.Payload, innerIP) || !bytes.Equal(ips[1].Contents, innerIP[:40]) {
			t.Fatal("gopacket: inner packet differs")
		}
		checkL4(t, pk, ips[1])
		return
	}
	var ips []*layers.IPv4
	for _, l := range pk.Layers() {
		if ip, ok := l.(*layers.IPv4); ok {
			ips = append(ips, ip)
		}
	}
	if len(ips) != 2 {
		t.Fatalf("want 2 IPv4 layers: %v", pk)
	}
	o, i := ips[0], ips[1]
	if o.Version != 4 || o.IHL != 5 || o.TOS != tos || int(o.Length) != len(innerIP)+20 || o.Id != id ||
		o.Flags != i.Flags&layers.IPv4DontFragment || o.FragOffset != 0 || o.TTL != i.TTL ||
		o.Protocol != layers.IPProtocolIPv4 || len(o.Options) != 0 ||
		!o.SrcIP.Equal(net.IP(dip.AsSlice())) || !o.DstIP.Equal(net.IP(rip.AsSlice())) {
		t.Fatalf("outer IPv4 %+v (inner %+v)", o, i)
	}
	if err, res := o.VerifyChecksum(); err != nil || !res.Valid {
		t.Fatalf("gopacket: outer checksum %v %+v", err, res)
	}
	if err, res := i.VerifyChecksum(); err != nil || !res.Valid {
		t.Fatalf("gopacket: inner checksum %v %+v", err, res)
	}
	if !bytes.Equal(o.Payload, innerIP) {
		t.Fatal("gopacket: inner packet differs")
	}
	if i.Flags&layers.IPv4MoreFragments == 0 {
		checkL4(t, pk, i)
	}
}

// checkL4 verifies the inner transport checksum with gopacket against the
// inner network header.
func checkL4(t *testing.T, pk gopacket.Packet, ip gopacket.NetworkLayer) {
	t.Helper()
	type verifier interface {
		SetNetworkLayerForChecksum(gopacket.NetworkLayer) error
		VerifyChecksum() (error, gopacket.ChecksumVerificationResult)
	}
	var l verifier
	if tcp, ok := pk.Layer(layers.LayerTypeTCP).(*layers.TCP); ok {
		l = tcp
	} else if udp, ok := pk.Layer(layers.LayerTypeUDP).(*layers.UDP); ok {
		if udp.Checksum == 0 {
			return
		}
		l = udp
	} else {
		t.Fatal("gopacket: no inner transport layer")
	}
	if err := l.SetNetworkLayerForChecksum(ip); err != nil {
		t.Fatal(err)
	}
	if err, res := l.VerifyChecksum(); err != nil || !res.Valid {
		t.Fatalf("gopacket: inner transport checksum %v %+v", err, res)
	}
}

// serialize has gopacket build the expected frame: the original layer 2
// header, an outer header from the specified fields, the inner packet.
func serialize(t *testing.T, orig []byte, in *header.Parsed, v6 bool, tos uint8, id uint16) []byte {
	t.Helper()
	innerIP := orig[in.L3:in.End]
	ls := []gopacket.SerializableLayer{}
	et := layers.EthernetTypeIPv4
	if v6 {
		et = layers.EthernetTypeIPv6
	}
	eth := &layers.Ethernet{DstMAC: net.HardwareAddr(orig[0:6]), SrcMAC: net.HardwareAddr(orig[6:12]), EthernetType: et}
	ls = append(ls, eth)
	if in.VLANs != 0 {
		eth.EthernetType = layers.EthernetTypeDot1Q
		tci := binary.BigEndian.Uint16(orig[14:])
		ls = append(ls, &layers.Dot1Q{Priority: uint8(tci >> 13), DropEligible: tci&0x1000 != 0, VLANIdentifier: tci & 0x0fff, Type: et})
	}
	if v6 {
		ls = append(ls, &layers.IPv6{Version: 6, TrafficClass: tos, Length: uint16(len(innerIP)),
			NextHeader: layers.IPProtocolIPv6, HopLimit: in.TTL, SrcIP: dip6.AsSlice(), DstIP: rip6.AsSlice()})
	} else {
		var flags layers.IPv4Flag
		if header.IPv4(innerIP).DF() {
			flags = layers.IPv4DontFragment
		}
		ls = append(ls, &layers.IPv4{Version: 4, IHL: 5, TOS: tos, Length: uint16(len(innerIP) + 20), Id: id,
			Flags: flags, TTL: in.TTL, Protocol: layers.IPProtocolIPv4, SrcIP: dip.AsSlice(), DstIP: rip.AsSlice()})
	}
	ls = append(ls, gopacket.Payload(innerIP))
	sb := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(sb, gopacket.SerializeOptions{ComputeChecksums: true}, ls...); err != nil {
		t.Fatal(err)
	}
	return sb.Bytes()
}

// TestMTU checks the boundary: an encapsulated packet of exactly mtu bytes
// passes, one byte more is refused with the frame untouched, for IPv4 with
// and without DF and for IPv6.
func TestMTU(t *testing.T) {
	for _, c := range []struct {
		name string
		spec pkt.Spec
	}{
		{"v4 df", pkt.Spec{Src: cip, Dst: vip, Proto: header.ProtoTCP, SPort: 1, DPort: 80, DF: true, Payload: make([]byte, 1440)}},
		{"v4 no df", pkt.Spec{Src: cip, Dst: vip, Proto: header.ProtoUDP, SPort: 1, DPort: 5001, Payload: make([]byte, 1000)}},
		{"v4 vlan", pkt.Spec{Src: cip, Dst: vip, Proto: header.ProtoTCP, SPort: 1, DPort: 80, DF: true, VLAN: 9, Payload: make([]byte, 1440)}},
		{"v6", pkt.Spec{Src: cip6, Dst: vip6, Proto: header.ProtoTCP, SPort: 1, DPort: 80, Payload: make([]byte, 1400)}},
		{"v6 jumbo", pkt.Spec{Src: cip6, Dst: vip6, Proto: header.ProtoUDP, SPort: 1, DPort: 5001, Payload: make([]byte, 8000)}},
	} {
		t.Run(c.name, func(t *testing.T) {
			tc := tcase{spec: c.spec}
			buf, n, p := tc.frame(t)
			src, dst := addrs(p.IPv6)
			over := tun.Overhead4
			if p.IPv6 {
				over = tun.Overhead6
			}
			exact := p.End - p.L3 + over
			if got := tun.InnerMTU(exact, p.IPv6); got != p.End-p.L3 {
				t.Fatalf("InnerMTU(%d) = %d, want %d", exact, got, p.End-p.L3)
			}
			saved := append([]byte(nil), buf...)
			if off, ln, r := tun.Encap(buf, headroom, n, p, src, dst, 1, exact-1); r != forward.DropMTU || off != headroom || ln != n {
				t.Fatalf("mtu-1: %d %d %v", off, ln, r)
			}
			if !bytes.Equal(buf, saved) {
				t.Fatal("refused frame was modified")
			}
			if _, ln, r := tun.Encap(buf, headroom, n, p, src, dst, 1, exact); r != forward.Pass || ln-p.L3 != exact {
				t.Fatalf("exact mtu: %v, IP length %d", r, ln-p.L3)
			}
		})
	}
}

func TestInnerMTU(t *testing.T) {
	for _, c := range []struct {
		mtu  int
		v6   bool
		want int
	}{
		{1500, false, 1480}, {1500, true, 1460}, {9000, false, 8980}, {9000, true, 8960},
		{88, false, 68}, {87, false, 0}, {20, false, 0}, {0, false, 0},
		{1320, true, 1280}, {1319, true, 0}, {576, true, 0},
	} {
		if got := tun.InnerMTU(c.mtu, c.v6); got != c.want {
			t.Errorf("InnerMTU(%d, %v) = %d, want %d", c.mtu, c.v6, got, c.want)
		}
	}
}

// TestTunnelMinimum: below the family's minimum tunnel MTU the kernel
// refuses the route, so even small packets are dropped.
func TestTunnelMinimum(t *testing.T) {
	buf, n, p := byName(t, "v6 tcp").frame(t) // 60 bytes
	src, dst := addrs(true)
	if _, _, r := tun.Encap(buf, headroom, n, p, src, dst, 0, 1319); r != forward.DropMTU {
		t.Fatalf("v6 link 1319: %v", r)
	}
	if _, _, r := tun.Encap(buf, headroom, n, p, src, dst, 0, 1320); r != forward.Pass {
		t.Fatalf("v6 link 1320: %v", r)
	}
	buf, n, p = byName(t, "v4 tcp").frame(t) // 40 bytes
	src, dst = addrs(false)
	if _, _, r := tun.Encap(buf, headroom, n, p, src, dst, 0, 87); r != forward.DropMTU {
		t.Fatalf("v4 link 87: %v", r)
	}
	if _, _, r := tun.Encap(buf, headroom, n, p, src, dst, 0, 88); r != forward.Pass {
		t.Fatalf("v4 link 88: %v", r)
	}
}

func TestRefused(t *testing.T) {
	s4, d4 := addrs(false)
	s6, d6 := addrs(true)

	buf, n, p := byName(t, "v4 tcp").frame(t)
	if _, _, r := tun.Encap(buf, 19, n, p, s4, d4, 0, 1500); r != forward.DropMethod {
		t.Errorf("no headroom: %v", r)
	}
	if _, _, r := tun.Encap(buf, headroom, n, p, s6, d6, 0, 1500); r != forward.DropMethod {
		t.Errorf("IPv4 packet, IPv6 tunnel: %v", r)
	}
	buf6, n6, p6 := byName(t, "v6 tcp").frame(t)
	if _, _, r := tun.Encap(buf6, 39, n6, p6, s6, d6, 0, 1500); r != forward.DropMethod {
		t.Errorf("no headroom v6: %v", r)
	}
	if _, _, r := tun.Encap(buf6, headroom, n6, p6, s4, d4, 0, 1500); r != forward.DropMethod {
		t.Errorf("IPv6 packet, IPv4 tunnel: %v", r)
	}

	arp := make([]byte, headroom+60)
	an := header.PutARP(arp[headroom:], pkt.MAC(0xff), macC, header.ARPRequest, macC, [4]byte{198, 51, 100, 2}, [6]byte{}, [4]byte{192, 0, 2, 10})
	var pa header.Parsed
	if st := header.Decode(arp[headroom:headroom+an], &pa); st != header.OK {
		t.Fatal(st)
	}
	if _, _, r := tun.Encap(arp, headroom, an, &pa, s4, d4, 0, 1500); r != forward.DropMethod {
		t.Errorf("ARP: %v", r)
	}
	// Exactly enough headroom is enough.
	if off, _, r := tun.Encap(buf, 20+headroom-20, n, p, s4, d4, 0, 1500); r != forward.Pass || off != headroom-20 {
		t.Errorf("exact headroom: %d %v", off, r)
	}
}

func TestNoAlloc(t *testing.T) {
	for _, name := range []string{"v4 tcp data df", "v6 vlan"} {
		buf, n, p := byName(t, name).frame(t)
		l2 := append([]byte(nil), buf[headroom:headroom+p.L3]...)
		src, dst := addrs(p.IPv6)
		allocs := testing.AllocsPerRun(200, func() {
			copy(buf[headroom:], l2)
			if _, _, r := tun.Encap(buf, headroom, n, p, src, dst, 7, 1500); r != forward.Pass {
				t.Fatal(r)
			}
		})
		if allocs != 0 {
			t.Fatalf("%s: %v allocs", name, allocs)
		}
	}
}

func benchEncap(b *testing.B, s pkt.Spec) {
	buf, n, p := tcase{spec: s}.frame(b)
	l2 := append([]byte(nil), buf[headroom:headroom+p.L3]...)
	src, dst := addrs(p.IPv6)
	b.SetBytes(int64(n))
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		copy(buf[headroom:], l2) // undo the layer-2 move
		if _, _, r := tun.Encap(buf, headroom, n, p, src, dst, uint16(i), 1500); r != forward.Pass {
			b.Fatal(r)
		}
	}
}

func BenchmarkEncap4(b *testing.B) {
	benchEncap(b, pkt.Spec{Src: cip, Dst: vip, Proto: header.ProtoTCP, SPort: 40000, DPort: 80, DF: true, Payload: make([]byte, 1400)})
}

func BenchmarkEncap4VLAN(b *testing.B) {
	benchEncap(b, pkt.Spec{Src: cip, Dst: vip, Proto: header.ProtoTCP, SPort: 40000, DPort: 80, VLAN: 100, Payload: make([]byte, 64)})
}

func BenchmarkEncap6(b *testing.B) {
	benchEncap(b, pkt.Spec{Src: cip6, Dst: vip6, Proto: header.ProtoTCP, SPort: 40000, DPort: 80, Payload: make([]byte, 1400)})
}
