package forward_test

import (
	"bytes"
	"encoding/binary"
	"net"
	"net/netip"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/gdirector/gdirector/forward"
	"github.com/gdirector/gdirector/header"
	"github.com/gdirector/gdirector/internal/pkt"
)

var (
	cip    = netip.MustParseAddr("198.51.100.2")
	vip    = netip.MustParseAddr("192.0.2.10")
	dip    = [4]byte{192, 0, 2, 1} // the director's address on the client side
	cip6   = netip.MustParseAddr("2001:db8:1::2")
	vip6   = netip.MustParseAddr("2001:db8:2::10")
	dip6   = netip.MustParseAddr("2001:db8:2::1").As16()
	macDir = pkt.MAC(0x10)
	macCli = pkt.MAC(0x20)
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

// refPseudo6 is the IPv6 pseudo-header sum (RFC 8200 8.1), the slow way.
func refPseudo6(src, dst []byte, length int, next uint8) uint32 {
	var ph [40]byte
	copy(ph[0:], src)
	copy(ph[16:], dst)
	binary.BigEndian.PutUint32(ph[32:], uint32(length))
	ph[39] = next
	return uint32(^refChecksum(ph[:], 0))
}

func l3of(f []byte) int {
	var p header.Parsed
	header.Decode(f, &p)
	return p.L3
}

// reframe recomputes the IPv4 header checksum after a test edited f.
func reframe(f []byte) []byte {
	header.IPv4(f[l3of(f):]).SetChecksum()
	return f
}

func pad(f []byte, n int) []byte {
	for range n {
		f = append(f, 0xee)
	}
	return f
}

// parse4 decodes an ICMPv4 error frame with gopacket and checks everything
// that does not depend on the case: Ethernet addresses, IPv4 header fields
// and checksums (gopacket's and the reference), and the layer-2 tags.
func parse4(t *testing.T, f, orig []byte) (*layers.IPv4, *layers.ICMPv4) {
	t.Helper()
	pk := gopacket.NewPacket(f, layers.LayerTypeEthernet, gopacket.Default)
	if el := pk.ErrorLayer(); el != nil {
		t.Fatalf("gopacket: %v", el.Error())
	}
	eth := pk.Layer(layers.LayerTypeEthernet).(*layers.Ethernet)
	if !bytes.Equal(eth.SrcMAC, macDir[:]) || !bytes.Equal(eth.DstMAC, macCli[:]) {
		t.Fatalf("ethernet %v > %v", eth.SrcMAC, eth.DstMAC)
	}
	l3 := l3of(orig)
	if !bytes.Equal(f[12:l3], orig[12:l3]) {
		t.Fatalf("802.1Q tags / EtherType not kept: % x", f[12:l3])
	}
	ip := pk.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
	osrc := orig[l3+12 : l3+16]
	if ip.Version != 4 || ip.IHL != 5 || ip.TOS != 0xc0 || int(ip.Length) != len(f)-l3 || ip.Flags != 0 ||
		ip.FragOffset != 0 || ip.TTL != 64 || ip.Protocol != layers.IPProtocolICMPv4 ||
		!ip.SrcIP.Equal(net.IP(dip[:])) || !ip.DstIP.Equal(net.IP(osrc)) {
		t.Fatalf("IPv4 header %+v", ip)
	}
	if err, res := ip.VerifyChecksum(); err != nil || !res.Valid {
		t.Fatalf("IPv4 checksum (gopacket) %v %+v", err, res)
	}
	if refChecksum(f[l3:l3+20], 0) != 0 {
		t.Fatal("IPv4 checksum (reference)")
	}
	if ip.Length > 576 {
		t.Fatalf("error is %d bytes of IP", ip.Length)
	}
	icmp := pk.Layer(layers.LayerTypeICMPv4).(*layers.ICMPv4)
	if err, res := icmp.VerifyChecksum(); err != nil || !res.Valid {
		t.Fatalf("ICMP checksum (gopacket) %v %+v", err, res)
	}
	if refChecksum(f[l3+20:], 0) != 0 {
		t.Fatal("ICMP checksum (reference)")
	}
	// The decoder of the data plane accepts it too.
	var p header.Parsed
	if st := header.Decode(f, &p); st != header.OK || p.Proto != header.ProtoICMP || p.End != len(f) {
		t.Fatalf("header.Decode: %v %+v", st, p)
	}
	return ip, icmp
}

func TestICMPv4Error(t *testing.T) {
	big := pkt.Build(pkt.Spec{Src: cip, Dst: vip, Proto: header.ProtoTCP, SPort: 40000, DPort: 80, DF: true, TCPFlags: header.TCPAck, Payload: make([]byte, 1460)})
	for i := range big[54:] {
		big[54+i] = byte(i)
	}
	big = reframe(big) // payload edited: the TCP checksum is stale, which errors do not care about
	cases := []struct {
		name      string
		orig      []byte
		typ, code uint8
		extra     uint32
		quote     int // bytes of the original IP packet quoted
	}{
		{"frag needed, 1500 bytes", big, 3, 4, 1480, 548},
		{"frag needed, vlan", pkt.Build(pkt.Spec{Src: cip, Dst: vip, Proto: header.ProtoTCP, SPort: 1, DPort: 80, DF: true, VLAN: 42, Payload: make([]byte, 1000)}), 3, 4, 1000, 548},
		{"time exceeded, udp padded", pad(pkt.Build(pkt.Spec{Src: cip, Dst: vip, Proto: header.ProtoUDP, SPort: 1, DPort: 5001, TTL: 1, Payload: []byte("x")}), 60-43), 11, 0, 0, 29},
		{"time exceeded, ip options", pkt.Build(pkt.Spec{Src: cip, Dst: vip, Proto: header.ProtoTCP, SPort: 1, DPort: 80, TTL: 1, IPOptions: []byte{1, 1, 1, 0}, Payload: []byte("hello")}), 11, 0, 0, 24 + 20 + 5},
		{"548 bytes: all quoted", pkt.Build(pkt.Spec{Src: cip, Dst: vip, Proto: header.ProtoUDP, SPort: 1, DPort: 5001, Payload: make([]byte, 548-28)}), 3, 4, 576, 548},
		{"549 bytes: truncated", pkt.Build(pkt.Spec{Src: cip, Dst: vip, Proto: header.ProtoUDP, SPort: 1, DPort: 5001, Payload: make([]byte, 549-28)}), 3, 4, 576, 548},
		{"about echo request", pkt.Build(pkt.Spec{Src: cip, Dst: vip, Proto: header.ProtoICMP, ICMPType: 8, SPort: 7, Payload: make([]byte, 56)}), 11, 0, 0, 84},
		{"about echo reply", pkt.Build(pkt.Spec{Src: cip, Dst: vip, Proto: header.ProtoICMP, ICMPType: 0, SPort: 7}), 11, 0, 0, 28},
		{"about timestamp", pkt.Build(pkt.Spec{Src: cip, Dst: vip, Proto: header.ProtoICMP, ICMPType: 13, Payload: make([]byte, 12)}), 11, 0, 0, 40},
		{"about first fragment", func() []byte {
			f := pkt.Build(pkt.Spec{Src: cip, Dst: vip, Proto: header.ProtoUDP, SPort: 1, DPort: 5001, Payload: make([]byte, 100)})
			f[14+6] |= 0x20
			return reframe(f)
		}(), 11, 1, 0, 128},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			l3 := l3of(c.orig)
			dst := make([]byte, 2048)
			for i := range dst {
				dst[i] = 0x55 // nothing stale may survive
			}
			n := forward.ICMPv4Error(dst, c.orig, c.typ, c.code, c.extra, dip, macDir, macCli)
			if want := l3 + 20 + 8 + c.quote; n != want {
				t.Fatalf("length %d, want %d", n, want)
			}
			ip, icmp := parse4(t, dst[:n], c.orig)
			if icmp.TypeCode != layers.CreateICMPv4TypeCode(c.typ, c.code) {
				t.Fatalf("type/code %v", icmp.TypeCode)
			}
			// gopacket splits the rest-of-header word into Id and Seq: for
			// frag needed the high half is unused, the low one the MTU.
			if icmp.Id != uint16(c.extra>>16) || icmp.Seq != uint16(c.extra) {
				t.Fatalf("rest of header %d %d, want %#x", icmp.Id, icmp.Seq, c.extra)
			}
			if !bytes.Equal(icmp.Payload, c.orig[l3:l3+c.quote]) {
				t.Fatal("quoted bytes differ from the original packet")
			}
			if int(ip.Length) != 28+c.quote {
				t.Fatalf("IP length %d", ip.Length)
			}
		})
	}
}

func TestICMPv4NoError(t *testing.T) {
	udp := func(src, dst netip.Addr) []byte {
		return pkt.Build(pkt.Spec{Src: src, Dst: dst, Proto: header.ProtoUDP, SPort: 1, DPort: 5001, Payload: []byte("data")})
	}
	icmpOf := func(typ uint8) []byte {
		return pkt.Build(pkt.Spec{Src: cip, Dst: vip, Proto: header.ProtoICMP, ICMPType: typ, Payload: make([]byte, 28)})
	}
	mustIP := netip.MustParseAddr
	cases := []struct {
		name string
		orig []byte
	}{
		{"dest unreachable", icmpOf(3)},
		{"source quench", icmpOf(4)},
		{"redirect", icmpOf(5)},
		{"time exceeded", icmpOf(11)},
		{"parameter problem", icmpOf(12)},
		{"obsolete type 1", icmpOf(1)},
		{"router advertisement", icmpOf(9)},
		{"unknown type 42", icmpOf(42)},
		{"truncated icmp header", func() []byte {
			f := icmpOf(8)[:14+24]
			binary.BigEndian.PutUint16(f[14+2:], 24)
			return reframe(f)
		}()},
		{"later fragment", func() []byte {
			f := udp(cip, vip)
			f[14+7] = 0x10
			return reframe(f)
		}()},
		{"later fragment of icmp", func() []byte {
			f := icmpOf(8)
			f[14+6], f[14+7] = 0x20, 0x01
			return reframe(f)
		}()},
		{"source multicast", udp(mustIP("224.0.0.5"), vip)},
		{"source broadcast", udp(mustIP("255.255.255.255"), vip)},
		{"source class e", udp(mustIP("240.0.0.1"), vip)},
		{"source zero", udp(mustIP("0.0.0.0"), vip)},
		{"source this network", udp(mustIP("0.1.2.3"), vip)},
		{"source loopback", udp(mustIP("127.0.0.1"), vip)},
		{"to multicast", udp(cip, mustIP("239.1.2.3"))},
		{"to broadcast", udp(cip, mustIP("255.255.255.255"))},
		{"link-layer broadcast", pkt.Build(pkt.Spec{DstMAC: [6]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, Src: cip, Dst: vip, Proto: header.ProtoUDP, SPort: 1, DPort: 5001})},
		{"link-layer multicast", pkt.Build(pkt.Spec{DstMAC: [6]byte{0x01, 0x00, 0x5e, 0, 0, 1}, Src: cip, Dst: vip, Proto: header.ProtoUDP, SPort: 1, DPort: 5001})},
		{"bad ip checksum", func() []byte {
			f := udp(cip, vip)
			f[14+10] ^= 0xff
			return f
		}()},
		{"truncated frame", udp(cip, vip)[:30]},
		{"ipv6", pkt.Build(pkt.Spec{Src: cip6, Dst: vip6, Proto: header.ProtoUDP, SPort: 1, DPort: 5001})},
		{"arp", func() []byte {
			b := make([]byte, 60)
			return b[:header.PutARP(b, macCli, macDir, header.ARPRequest, macDir, [4]byte{1, 2, 3, 4}, [6]byte{}, dip)]
		}()},
	}
	dst := make([]byte, 2048)
	for _, c := range cases {
		if n := forward.ICMPv4Error(dst, c.orig, 11, 0, 0, dip, macDir, macCli); n != 0 {
			t.Errorf("%s: sent a %d-byte error", c.name, n)
		}
	}
	// A buffer too small for the error gets none.
	f := udp(cip, vip)
	need := forward.ICMPv4Error(dst, f, 11, 0, 0, dip, macDir, macCli)
	if need == 0 {
		t.Fatal("no error for a plain datagram")
	}
	if n := forward.ICMPv4Error(dst[:need-1], f, 11, 0, 0, dip, macDir, macCli); n != 0 {
		t.Errorf("short buffer: %d", n)
	}
	if n := forward.ICMPv4Error(dst[:need], f, 11, 0, 0, dip, macDir, macCli); n != need {
		t.Errorf("exact buffer: %d", n)
	}
}

// parse6 decodes an ICMPv6 error frame with gopacket and checks the
// case-independent fields and the pseudo-header checksum.
func parse6(t *testing.T, f, orig []byte) (*layers.IPv6, *layers.ICMPv6) {
	t.Helper()
	pk := gopacket.NewPacket(f, layers.LayerTypeEthernet, gopacket.Default)
	if el := pk.ErrorLayer(); el != nil {
		t.Fatalf("gopacket: %v", el.Error())
	}
	eth := pk.Layer(layers.LayerTypeEthernet).(*layers.Ethernet)
	if !bytes.Equal(eth.SrcMAC, macDir[:]) || !bytes.Equal(eth.DstMAC, macCli[:]) {
		t.Fatalf("ethernet %v > %v", eth.SrcMAC, eth.DstMAC)
	}
	l3 := l3of(orig)
	if !bytes.Equal(f[12:l3], orig[12:l3]) {
		t.Fatalf("802.1Q tags / EtherType not kept: % x", f[12:l3])
	}
	ip := pk.Layer(layers.LayerTypeIPv6).(*layers.IPv6)
	if ip.Version != 6 || ip.TrafficClass != 0 || ip.FlowLabel != 0 || int(ip.Length) != len(f)-l3-40 ||
		ip.NextHeader != layers.IPProtocolICMPv6 || ip.HopLimit != 64 ||
		!ip.SrcIP.Equal(net.IP(dip6[:])) || !ip.DstIP.Equal(net.IP(orig[l3+8:l3+24])) {
		t.Fatalf("IPv6 header %+v", ip)
	}
	if len(f)-l3 > 1280 {
		t.Fatalf("error is %d bytes of IP", len(f)-l3)
	}
	icmp := pk.Layer(layers.LayerTypeICMPv6).(*layers.ICMPv6)
	if err := icmp.SetNetworkLayerForChecksum(ip); err != nil {
		t.Fatal(err)
	}
	if err, res := icmp.VerifyChecksum(); err != nil || !res.Valid {
		t.Fatalf("ICMPv6 checksum (gopacket) %v %+v", err, res)
	}
	body := f[l3+40:]
	if refChecksum(body, refPseudo6(f[l3+8:l3+24], f[l3+24:l3+40], len(body), 58)) != 0 {
		t.Fatal("ICMPv6 checksum (reference)")
	}
	var p header.Parsed
	if st := header.Decode(f, &p); st != header.OK || p.Proto != header.ProtoICMPv6 || p.End != len(f) {
		t.Fatalf("header.Decode: %v %+v", st, p)
	}
	return ip, icmp
}

// frag6 builds an IPv6 packet with a fragment header at the given offset
// (in 8-byte units) carrying a UDP header and data.
func frag6(offset uint16, more bool) []byte {
	fh := make([]byte, 8+8+16)
	fh[0] = header.ProtoUDP
	fo := offset << 3
	if more {
		fo |= 1
	}
	binary.BigEndian.PutUint16(fh[2:], fo)
	binary.BigEndian.PutUint32(fh[4:], 0xabcdef)
	binary.BigEndian.PutUint16(fh[8:], 1)
	binary.BigEndian.PutUint16(fh[10:], 5001)
	binary.BigEndian.PutUint16(fh[12:], 8+64)
	return pkt.Build(pkt.Spec{Src: cip6, Dst: vip6, Proto: 44, Payload: fh})
}

func TestICMPv6Error(t *testing.T) {
	big := pkt.Build(pkt.Spec{Src: cip6, Dst: vip6, Proto: header.ProtoTCP, SPort: 40000, DPort: 80, TCPFlags: header.TCPAck, Payload: make([]byte, 1440)})
	for i := range big[74:] {
		big[74+i] = byte(i * 7)
	}
	mcast := pkt.Build(pkt.Spec{DstMAC: [6]byte{0x33, 0x33, 0, 0, 0, 1}, Src: cip6, Dst: netip.MustParseAddr("ff0e::1"), Proto: header.ProtoUDP, SPort: 1, DPort: 5001, Payload: make([]byte, 1400)})
	cases := []struct {
		name      string
		orig      []byte
		typ, code uint8
		extra     uint32
		quote     int
	}{
		{"packet too big, 1500 bytes", big, 2, 0, 1460, 1232},
		{"packet too big, vlan", pkt.Build(pkt.Spec{Src: cip6, Dst: vip6, Proto: header.ProtoTCP, SPort: 1, DPort: 80, VLAN: 0x2005, Payload: make([]byte, 1400)}), 2, 0, 1280, 1232},
		{"time exceeded, udp padded", pad(pkt.Build(pkt.Spec{Src: cip6, Dst: vip6, Proto: header.ProtoUDP, SPort: 1, DPort: 5001, TTL: 1}), 10), 3, 0, 0, 48},
		{"1232 bytes: all quoted", pkt.Build(pkt.Spec{Src: cip6, Dst: vip6, Proto: header.ProtoUDP, SPort: 1, DPort: 5001, Payload: make([]byte, 1232-48)}), 3, 0, 0, 1232},
		{"1233 bytes: truncated", pkt.Build(pkt.Spec{Src: cip6, Dst: vip6, Proto: header.ProtoUDP, SPort: 1, DPort: 5001, Payload: make([]byte, 1233-48)}), 3, 0, 0, 1232},
		{"about echo request", pkt.Build(pkt.Spec{Src: cip6, Dst: vip6, Proto: header.ProtoICMPv6, ICMPType: 128, SPort: 9, Payload: make([]byte, 56)}), 3, 0, 0, 104},
		{"about first fragment", frag6(0, true), 3, 1, 0, 72},
		{"packet too big to multicast", mcast, 2, 0, 1280, 1232},
		{"parameter problem option to multicast", mcast, 4, 2, 40, 1232},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			l3 := l3of(c.orig)
			dst := make([]byte, 2048)
			for i := range dst {
				dst[i] = 0x55
			}
			n := forward.ICMPv6Error(dst, c.orig, c.typ, c.code, c.extra, dip6, macDir, macCli)
			if want := l3 + 40 + 8 + c.quote; n != want {
				t.Fatalf("length %d, want %d", n, want)
			}
			ip, icmp := parse6(t, dst[:n], c.orig)
			if icmp.TypeCode != layers.CreateICMPv6TypeCode(c.typ, c.code) {
				t.Fatalf("type/code %v", icmp.TypeCode)
			}
			// gopacket leaves the rest-of-header word in the payload.
			if binary.BigEndian.Uint32(icmp.Payload) != c.extra {
				t.Fatalf("rest of header %#x, want %#x", binary.BigEndian.Uint32(icmp.Payload), c.extra)
			}
			if !bytes.Equal(icmp.Payload[4:], c.orig[l3:l3+c.quote]) {
				t.Fatal("quoted bytes differ from the original packet")
			}
			if int(ip.Length) != 8+c.quote {
				t.Fatalf("payload length %d", ip.Length)
			}
		})
	}
}

func TestICMPv6NoError(t *testing.T) {
	mustIP := netip.MustParseAddr
	icmpOf := func(typ uint8) []byte {
		return pkt.Build(pkt.Spec{Src: cip6, Dst: vip6, Proto: header.ProtoICMPv6, ICMPType: typ, Payload: make([]byte, 48)})
	}
	udp := func(src, dst netip.Addr) []byte {
		return pkt.Build(pkt.Spec{Src: src, Dst: dst, Proto: header.ProtoUDP, SPort: 1, DPort: 5001, Payload: []byte("data")})
	}
	cases := []struct {
		name      string
		orig      []byte
		typ, code uint8
	}{
		{"dest unreachable", icmpOf(1), 2, 0},
		{"packet too big", icmpOf(2), 2, 0},
		{"time exceeded", icmpOf(3), 3, 0},
		{"parameter problem", icmpOf(4), 2, 0},
		{"error type 127", icmpOf(127), 3, 0},
		{"truncated icmpv6 header", func() []byte {
			f := icmpOf(128)[:14+40+4]
			binary.BigEndian.PutUint16(f[14+4:], 4)
			return f
		}(), 3, 0},
		{"later fragment", frag6(8, false), 3, 1},
		{"later fragment, packet too big", frag6(8, true), 2, 0},
		{"source unspecified", udp(mustIP("::"), vip6), 3, 0},
		{"source multicast", udp(mustIP("ff02::1"), vip6), 2, 0},
		{"time exceeded to multicast", udp(cip6, mustIP("ff02::1")), 3, 0},
		{"parameter problem code 0 to multicast", udp(cip6, mustIP("ff0e::1")), 4, 0},
		{"time exceeded, link-layer multicast", pkt.Build(pkt.Spec{DstMAC: [6]byte{0x33, 0x33, 0, 0, 0, 1}, Src: cip6, Dst: vip6, Proto: header.ProtoUDP, SPort: 1, DPort: 5001}), 3, 0},
		{"truncated frame", udp(cip6, vip6)[:60], 3, 0},
		{"ipv4", pkt.Build(pkt.Spec{Src: cip, Dst: vip, Proto: header.ProtoUDP, SPort: 1, DPort: 5001}), 2, 0},
	}
	dst := make([]byte, 2048)
	for _, c := range cases {
		if n := forward.ICMPv6Error(dst, c.orig, c.typ, c.code, 1280, dip6, macDir, macCli); n != 0 {
			t.Errorf("%s: sent a %d-byte error", c.name, n)
		}
	}
	// Packet Too Big may answer a link-layer multicast (RFC 4443 2.4(e.3)).
	f := pkt.Build(pkt.Spec{DstMAC: [6]byte{0x33, 0x33, 0, 0, 0, 1}, Src: cip6, Dst: vip6, Proto: header.ProtoUDP, SPort: 1, DPort: 5001})
	need := forward.ICMPv6Error(dst, f, 2, 0, 1280, dip6, macDir, macCli)
	if need == 0 {
		t.Fatal("no Packet Too Big for a link-layer multicast")
	}
	if n := forward.ICMPv6Error(dst[:need-1], f, 2, 0, 1280, dip6, macDir, macCli); n != 0 {
		t.Errorf("short buffer: %d", n)
	}
}

func TestICMPNoAlloc(t *testing.T) {
	f4 := pkt.Build(pkt.Spec{Src: cip, Dst: vip, Proto: header.ProtoTCP, SPort: 1, DPort: 80, DF: true, Payload: make([]byte, 1400)})
	f6 := pkt.Build(pkt.Spec{Src: cip6, Dst: vip6, Proto: header.ProtoTCP, SPort: 1, DPort: 80, VLAN: 3, Payload: make([]byte, 1400)})
	dst := make([]byte, 2048)
	n := testing.AllocsPerRun(200, func() {
		if forward.ICMPv4Error(dst, f4, 3, 4, 1480, dip, macDir, macCli) == 0 ||
			forward.ICMPv6Error(dst, f6, 2, 0, 1460, dip6, macDir, macCli) == 0 {
			t.Fatal("no error built")
		}
	})
	if n != 0 {
		t.Fatalf("%v allocs", n)
	}
}

func BenchmarkICMPv4Error(b *testing.B) {
	f := pkt.Build(pkt.Spec{Src: cip, Dst: vip, Proto: header.ProtoTCP, SPort: 1, DPort: 80, DF: true, Payload: make([]byte, 1400)})
	dst := make([]byte, 2048)
	b.ReportAllocs()
	for b.Loop() {
		forward.ICMPv4Error(dst, f, 3, 4, 1480, dip, macDir, macCli)
	}
}
