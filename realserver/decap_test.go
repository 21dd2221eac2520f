package realserver

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

var (
	rip     = netip.MustParseAddr("203.0.113.11")
	dirIP   = netip.MustParseAddr("203.0.113.1")
	client  = netip.MustParseAddr("198.51.100.2")
	vip     = netip.MustParseAddr("192.0.2.10")
	rip6    = netip.MustParseAddr("2001:db8:1::11")
	dirIP6  = netip.MustParseAddr("2001:db8:1::1")
	client6 = netip.MustParseAddr("2001:db8:c::2")
	vip6    = netip.MustParseAddr("2001:db8:f::10")
)

// csum is the plain RFC 1071 checksum, as a slow reference.
func csum(b []byte) uint16 {
	var s uint32
	for i := 0; i+1 < len(b); i += 2 {
		s += uint32(binary.BigEndian.Uint16(b[i:]))
	}
	if len(b)%2 == 1 {
		s += uint32(b[len(b)-1]) << 8
	}
	for s>>16 != 0 {
		s = s&0xffff + s>>16
	}
	return ^uint16(s)
}

// ip4 builds an IPv4 packet with options opts (a multiple of 4 bytes).
func ip4(src, dst netip.Addr, proto, tos byte, opts, payload []byte) []byte {
	ihl := 20 + len(opts)
	b := make([]byte, ihl+len(payload))
	b[0] = 0x40 | byte(ihl/4)
	b[1] = tos
	binary.BigEndian.PutUint16(b[2:], uint16(len(b)))
	b[8] = 64
	b[9] = proto
	s4, d4 := src.As4(), dst.As4()
	copy(b[12:], s4[:])
	copy(b[16:], d4[:])
	copy(b[20:], opts)
	binary.BigEndian.PutUint16(b[10:], csum(b[:ihl]))
	copy(b[ihl:], payload)
	return b
}

// ip6 builds an IPv6 packet.
func ip6(src, dst netip.Addr, next, tclass byte, payload []byte) []byte {
	b := make([]byte, 40+len(payload))
	b[0] = 0x60 | tclass>>4
	b[1] = tclass << 4
	binary.BigEndian.PutUint16(b[4:], uint16(len(payload)))
	b[6] = next
	b[7] = 64
	s, d := src.As16(), dst.As16()
	copy(b[8:], s[:])
	copy(b[24:], d[:])
	copy(b[40:], payload)
	return b
}

func udp(sport, dport uint16, data string) []byte {
	b := make([]byte, 8+len(data))
	binary.BigEndian.PutUint16(b[0:], sport)
	binary.BigEndian.PutUint16(b[2:], dport)
	binary.BigEndian.PutUint16(b[4:], uint16(len(b)))
	copy(b[8:], data)
	return b
}

func testDecapper() *decapper {
	d := newDecapper([]netip.Addr{vip, vip6}, nil)
	d.local = map[netip.Addr]struct{}{rip: {}, rip6: {}}
	return d
}

func TestDecapIPv4(t *testing.T) {
	inner := ip4(client, vip, unix.IPPROTO_UDP, 0, nil, udp(40000, 7777, "hello"))
	inner6 := ip6(client6, vip6, unix.IPPROTO_UDP, 0, udp(40000, 7777, "hello6"))
	other := ip4(client, netip.MustParseAddr("192.0.2.99"), unix.IPPROTO_UDP, 0, nil, udp(1, 2, "x"))
	opts := []byte{1, 1, 1, 1, 0x44, 8, 5, 0} // NOPs and an empty timestamp option
	cases := []struct {
		name string
		pkt  []byte
		want []byte
		why  DropReason
	}{
		{"plain", ip4(dirIP, rip, protoIPIP, 0, nil, inner), inner, dropNone},
		{"outer options", ip4(dirIP, rip, protoIPIP, 0, opts, inner), inner, dropNone},
		{"link padding", append(ip4(dirIP, rip, protoIPIP, 0, nil, inner), 0, 0, 0, 0), inner, dropNone},
		{"inner padding", ip4(dirIP, rip, protoIPIP, 0, nil, append(bytes.Clone(inner), 0xee, 0xee)), inner, dropNone},
		{"6in4", ip4(dirIP, rip, protoIPv6, 0, nil, inner6), inner6, dropNone},
		{"not local", ip4(dirIP, netip.MustParseAddr("203.0.113.99"), protoIPIP, 0, nil, inner), nil, DropNotLocal},
		{"broadcast", ip4(dirIP, netip.MustParseAddr("203.0.113.255"), protoIPIP, 0, nil, inner), nil, DropNotLocal},
		{"not a VIP", ip4(dirIP, rip, protoIPIP, 0, nil, other), nil, DropNotVIP},
		{"short", ip4(dirIP, rip, protoIPIP, 0, nil, inner)[:19], nil, DropTruncated},
		{"empty", nil, nil, DropTruncated},
		{"outer total beyond data", ip4(dirIP, rip, protoIPIP, 0, nil, inner)[:40], nil, DropTruncated},
		{"outer options cut", ip4(dirIP, rip, protoIPIP, 0, opts, nil)[:24], nil, DropTruncated},
		{"inner cut", ip4(dirIP, rip, protoIPIP, 0, nil, inner[:25]), nil, DropTruncated},
		{"inner shorter than IPv4 header", ip4(dirIP, rip, protoIPIP, 0, nil, inner[:12]), nil, DropTruncated},
		{"inner IPv6 in protocol 4", ip4(dirIP, rip, protoIPIP, 0, nil, inner6), nil, DropBadInner},
		{"inner IPv4 in protocol 41", ip4(dirIP, rip, protoIPv6, 0, nil, append(bytes.Clone(inner), make([]byte, 40)...)), nil, DropBadInner},
		{"other protocol", ip4(dirIP, rip, unix.IPPROTO_GRE, 0, nil, inner), nil, DropBadOuter},
		{"outer IPv6 version", func() []byte { b := ip4(dirIP, rip, protoIPIP, 0, nil, inner); b[0] = 0x65; return b }(), nil, DropBadOuter},
		{"outer IHL 4", func() []byte { b := ip4(dirIP, rip, protoIPIP, 0, nil, inner); b[0] = 0x44; return b }(), nil, DropBadOuter},
		{"inner IHL 3", ip4(dirIP, rip, protoIPIP, 0, nil, func() []byte { b := bytes.Clone(inner); b[0] = 0x43; return b }()), nil, DropBadInner},
		{"inner total < IHL", ip4(dirIP, rip, protoIPIP, 0, nil, func() []byte { b := bytes.Clone(inner); b[2], b[3] = 0, 10; return b }()), nil, DropBadInner},
	}
	d := testDecapper()
	for _, c := range cases {
		got, why := d.fromIPv4(bytes.Clone(c.pkt))
		if why != c.why || !bytes.Equal(got, c.want) {
			t.Errorf("%s: got %v %x, want %v %x", c.name, why, got, c.why, c.want)
		}
	}
}

func TestDecapIPv6(t *testing.T) {
	inner6 := ip6(client6, vip6, unix.IPPROTO_UDP, 0, udp(40000, 7777, "hello6"))
	inner4 := ip4(client, vip, unix.IPPROTO_UDP, 0, nil, udp(40000, 7777, "hello"))
	jumbo := bytes.Clone(inner6)
	jumbo[4], jumbo[5] = 0, 0
	cases := []struct {
		name     string
		payload  []byte
		dst      netip.Addr
		proto    uint8
		want     []byte
		why      DropReason
		director []netip.Prefix
	}{
		{"ip6ip6", inner6, rip6, protoIPv6, inner6, dropNone, nil},
		{"padding", append(bytes.Clone(inner6), 1, 2, 3), rip6, protoIPv6, inner6, dropNone, nil},
		{"4in6", inner4, rip6, protoIPIP, inner4, dropNone, nil},
		{"no pktinfo", inner6, netip.Addr{}, protoIPv6, nil, DropNotLocal, nil},
		{"not local", inner6, netip.MustParseAddr("2001:db8:1::99"), protoIPv6, nil, DropNotLocal, nil},
		{"short", inner6[:39], rip6, protoIPv6, nil, DropTruncated, nil},
		{"payload cut", inner6[:50], rip6, protoIPv6, nil, DropTruncated, nil},
		{"jumbogram", jumbo, rip6, protoIPv6, nil, DropBadInner, nil},
		{"IPv4 in 41", append(bytes.Clone(inner4), make([]byte, 40)...), rip6, protoIPv6, nil, DropBadInner, nil},
		{"director ok", inner6, rip6, protoIPv6, inner6, dropNone, []netip.Prefix{netip.MustParsePrefix("2001:db8:1::/64")}},
		{"not director", inner6, rip6, protoIPv6, nil, DropNotDirector, []netip.Prefix{netip.MustParsePrefix("2001:db8:2::/64")}},
	}
	for _, c := range cases {
		d := testDecapper()
		d.directors = c.director
		got, why := d.fromIPv6(bytes.Clone(c.payload), dirIP6, c.dst, c.proto, 0)
		if why != c.why || !bytes.Equal(got, c.want) {
			t.Errorf("%s: got %v %x, want %v %x", c.name, why, got, c.why, c.want)
		}
	}
}

func TestDecapDirectors(t *testing.T) {
	inner := ip4(client, vip, unix.IPPROTO_UDP, 0, nil, udp(1, 2, "x"))
	d := testDecapper()
	d.directors = []netip.Prefix{netip.MustParsePrefix("203.0.113.0/28")}
	if _, why := d.fromIPv4(ip4(dirIP, rip, protoIPIP, 0, nil, inner)); why != dropNone {
		t.Fatalf("director in prefix: %v", why)
	}
	if _, why := d.fromIPv4(ip4(netip.MustParseAddr("203.0.113.77"), rip, protoIPIP, 0, nil, inner)); why != DropNotDirector {
		t.Fatalf("outsider: %v", why)
	}
}

func TestDecapECN(t *testing.T) {
	d := testDecapper()
	for _, c := range []struct {
		outer, inner, want byte
		why                DropReason
	}{
		{0, 2, 2, dropNone}, // no mark: inner untouched
		{2, 0, 0, dropNone}, // outer ECT, inner not-ECT: untouched
		{3, 2, 3, dropNone}, // CE over ECT(0): CE
		{3, 1, 3, dropNone}, // CE over ECT(1): CE
		{3, 3, 3, dropNone},
		{3, 0, 0, DropECN}, // CE over not-ECT: drop
	} {
		inner := ip4(client, vip, unix.IPPROTO_UDP, 0xb8|c.inner, nil, udp(1, 2, "ecn"))
		got, why := d.fromIPv4(ip4(dirIP, rip, protoIPIP, c.outer, nil, inner))
		if why != c.why {
			t.Errorf("v4 outer %d inner %d: %v, want %v", c.outer, c.inner, why, c.why)
			continue
		}
		if why == dropNone {
			if got[1] != 0xb8|c.want {
				t.Errorf("v4 outer %d inner %d: tos %#x, want %#x", c.outer, c.inner, got[1], 0xb8|c.want)
			}
			if csum(got[:20]) != 0 {
				t.Errorf("v4 outer %d inner %d: bad header checksum after ECN update", c.outer, c.inner)
			}
		}
		inner6 := ip6(client6, vip6, unix.IPPROTO_UDP, 0xb8|c.inner, udp(1, 2, "ecn"))
		got, why = d.fromIPv6(inner6, dirIP6, rip6, protoIPv6, c.outer)
		if why != c.why {
			t.Errorf("v6 outer %d inner %d: %v, want %v", c.outer, c.inner, why, c.why)
			continue
		}
		if why == dropNone {
			tc := got[0]<<4 | got[1]>>4
			if tc != 0xb8|c.want || got[0]>>4 != 6 || got[1]&0x0f != 0 {
				t.Errorf("v6 outer %d inner %d: header %x", c.outer, c.inner, got[:4])
			}
		}
	}
}

func TestDecapAllocs(t *testing.T) {
	d := testDecapper()
	pkt := ip4(dirIP, rip, protoIPIP, 0, nil, ip4(client, vip, unix.IPPROTO_UDP, 0, nil, udp(1, 2, "x")))
	pkt6 := ip6(client6, vip6, unix.IPPROTO_UDP, 0, udp(1, 2, "x"))
	if n := testing.AllocsPerRun(100, func() {
		if _, why := d.fromIPv4(pkt); why != dropNone {
			t.Fatal(why)
		}
		if _, why := d.fromIPv6(pkt6, dirIP6, rip6, protoIPv6, 0); why != dropNone {
			t.Fatal(why)
		}
	}); n != 0 {
		t.Fatalf("%v allocations per packet", n)
	}
}

func TestParseCmsg6(t *testing.T) {
	b := make([]byte, ctrlSize)
	put := func(off int, typ int32, data []byte) int {
		h := (*unix.Cmsghdr)(unsafe.Pointer(&b[off]))
		h.Level = unix.IPPROTO_IPV6
		h.Type = typ
		h.SetLen(unix.CmsgLen(len(data)))
		copy(b[off+unix.CmsgLen(0):], data)
		return off + unix.CmsgSpace(len(data))
	}
	tc := make([]byte, 4)
	binary.NativeEndian.PutUint32(tc, 0xbb)
	pi := make([]byte, unix.SizeofInet6Pktinfo)
	a := rip6.As16()
	copy(pi, a[:])
	n := put(0, unix.IPV6_TCLASS, tc)
	n = put(n, unix.IPV6_PKTINFO, pi)
	dst, tclass := parseCmsg6(b[:n])
	if dst != rip6 || tclass != 0xbb {
		t.Fatalf("got %v %#x", dst, tclass)
	}
	if dst, _ := parseCmsg6(b[:10]); dst.IsValid() {
		t.Fatal("found an address in a cut buffer")
	}
	if dst, _ := parseCmsg6(nil); dst.IsValid() {
		t.Fatal("found an address in nothing")
	}
}

func TestTunStatsString(t *testing.T) {
	var s TunStats
	s.Received.Add(5)
	s.Decapsulated.Add(3)
	s.Bytes.Add(300)
	s.drop(DropNotVIP)
	s.drop(DropTruncated)
	want := "received 5, decapsulated 3 (300 bytes; 0 TCP segments merged into 0 packets), dropped 2 (truncated 1, not-vip 1)"
	if got := s.String(); got != want {
		t.Fatalf("got %q\nwant %q", got, want)
	}
	if s.Dropped(DropNotVIP) != 1 || s.Dropped(numDropReasons) != 0 || DropReason(200).String() != "DropReason(200)" {
		t.Fatal("Dropped or String")
	}
}
