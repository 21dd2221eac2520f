package afpacket

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"testing"
)

// segmentOK reports whether the transport checksum of f verifies (the sum
// over pseudo-header and segment folds to 0xffff), computed by refSum.
func segmentOK(t *testing.T, f []byte) bool {
	t.Helper()
	seg, proto := transport(f)
	if seg == nil {
		t.Fatalf("frame has no transport segment")
	}
	off := 12
	for et := binary.BigEndian.Uint16(f[off:]); et == etherTypeVLAN || et == etherTypeQinQ; et = binary.BigEndian.Uint16(f[off:]) {
		off += 4
	}
	ip := f[off+2:]
	var src, dst netip.Addr
	if ip[0]>>4 == 4 {
		src, _ = netip.AddrFromSlice(ip[12:16])
		dst, _ = netip.AddrFromSlice(ip[16:20])
	} else {
		src, _ = netip.AddrFromSlice(ip[8:24])
		dst, _ = netip.AddrFromSlice(ip[24:40])
	}
	return refSum(pseudo(src, dst, proto, len(seg)), seg) == 0xffff
}

func TestCompleteChecksum(t *testing.T) {
	s4, d4 := netip.MustParseAddr("198.51.100.7"), netip.MustParseAddr("192.0.2.10")
	s6, d6 := netip.MustParseAddr("2001:db8:1::7"), netip.MustParseAddr("2001:db8:2::10")
	payload := []byte("hello, partial checksum world")
	odd := []byte("odd")
	hopByHop := []byte{protoUDP, 0, 1, 4, 0, 0, 0, 0} // next=UDP, len 0, PadN
	dstOpts := []byte{protoTCP, 1, 1, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}
	ipOpts := []byte{1, 1, 1, 0} // NOP NOP NOP EOL
	padded := eth(macB, macA, etherTypeIPv4, ipv4(s4, d4, protoUDP, nil, l4(protoUDP, s4, d4, 1, 2, []byte{7})))
	padded = append(padded, make([]byte, 60-len(padded))...) // Ethernet padding

	cases := []struct {
		name  string
		frame []byte
	}{
		{"v4 udp", eth(macB, macA, etherTypeIPv4, ipv4(s4, d4, protoUDP, nil, l4(protoUDP, s4, d4, 40000, 53, payload)))},
		{"v4 tcp", eth(macB, macA, etherTypeIPv4, ipv4(s4, d4, protoTCP, nil, l4(protoTCP, s4, d4, 40000, 80, payload)))},
		{"v4 udp odd", eth(macB, macA, etherTypeIPv4, ipv4(s4, d4, protoUDP, nil, l4(protoUDP, s4, d4, 40000, 53, odd)))},
		{"v4 tcp options", eth(macB, macA, etherTypeIPv4, ipv4(s4, d4, protoTCP, ipOpts, l4(protoTCP, s4, d4, 1234, 80, odd)))},
		{"v4 udp padded", padded},
		{"v4 udp empty", eth(macB, macA, etherTypeIPv4, ipv4(s4, d4, protoUDP, nil, l4(protoUDP, s4, d4, 5, 6, nil)))},
		{"v6 udp", eth(macB, macA, etherTypeIPv6, ipv6(s6, d6, protoUDP, nil, l4(protoUDP, s6, d6, 40000, 53, payload)))},
		{"v6 tcp", eth(macB, macA, etherTypeIPv6, ipv6(s6, d6, protoTCP, nil, l4(protoTCP, s6, d6, 40000, 443, odd)))},
		{"v6 hbh udp", eth(macB, macA, etherTypeIPv6, ipv6(s6, d6, 0, hopByHop, l4(protoUDP, s6, d6, 40000, 53, payload)))},
		{"v6 dstopts tcp", eth(macB, macA, etherTypeIPv6, ipv6(s6, d6, 60, dstOpts, l4(protoTCP, s6, d6, 40000, 443, payload)))},
		{"vlan v4 udp", tagged(eth(macB, macA, etherTypeIPv4, ipv4(s4, d4, protoUDP, nil, l4(protoUDP, s4, d4, 40000, 53, payload))), etherTypeVLAN, 100)},
		{"vlan v6 tcp", tagged(eth(macB, macA, etherTypeIPv6, ipv6(s6, d6, protoTCP, nil, l4(protoTCP, s6, d6, 40000, 443, payload))), etherTypeVLAN, 0x2005)},
		{"qinq v4 tcp", tagged(tagged(eth(macB, macA, etherTypeIPv4, ipv4(s4, d4, protoTCP, nil, l4(protoTCP, s4, d4, 1, 2, payload))), etherTypeVLAN, 10), etherTypeQinQ, 20)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if !segmentOK(t, c.frame) {
				t.Fatal("test frame does not have a correct checksum")
			}
			partial := makePartial(c.frame)
			if bytes.Equal(partial, c.frame) {
				t.Fatal("makePartial changed nothing")
			}
			if !CompleteChecksum(partial) {
				t.Fatal("CompleteChecksum = false")
			}
			if !bytes.Equal(partial, c.frame) {
				t.Fatalf("completed frame differs:\n got %x\nwant %x", partial, c.frame)
			}
		})
	}
}

// TestCompleteChecksumKnownFrame checks against a checksum computed by
// hand: UDP 192.0.2.1:1 -> 192.0.2.2:2, payload "ab".
// Pseudo: c000+0201+c000+0202+0011+000a = 0x1841e -> 0x841f; segment words
// 0001+0002+000a+6162 = 0x616f; total 0xe58e -> checksum 0x1a71.
func TestCompleteChecksumKnownFrame(t *testing.T) {
	s, d := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.2")
	f := eth(macB, macA, etherTypeIPv4, ipv4(s, d, protoUDP, nil, l4(protoUDP, s, d, 1, 2, []byte("ab"))))
	seg, _ := transport(f)
	if got := binary.BigEndian.Uint16(seg[6:]); got != 0x1a71 {
		t.Fatalf("builder checksum %#04x, want 0x1a71", got)
	}
	binary.BigEndian.PutUint16(seg[6:], 0x841f) // the partial value
	if !CompleteChecksum(f) {
		t.Fatal("CompleteChecksum = false")
	}
	if got := binary.BigEndian.Uint16(seg[6:]); got != 0x1a71 {
		t.Fatalf("completed checksum %#04x, want 0x1a71", got)
	}
}

func TestCompleteChecksumUDPZero(t *testing.T) {
	s, d := netip.MustParseAddr("198.51.100.1"), netip.MustParseAddr("203.0.113.9")
	// Choose the last payload word so that the sum folds to 0xffff, i.e.
	// the computed checksum is 0 and must go on the wire as 0xffff.
	payload := []byte{1, 2, 3, 4, 0, 0}
	seg := l4(protoUDP, s, d, 1000, 2000, payload)
	binary.BigEndian.PutUint16(seg[6:], 0)
	rest := refSum(pseudo(s, d, protoUDP, len(seg)), seg)
	binary.BigEndian.PutUint16(seg[12:], ^rest)
	f := eth(macB, macA, etherTypeIPv4, ipv4(s, d, protoUDP, nil, seg))
	p := makePartial(f)
	if !CompleteChecksum(p) {
		t.Fatal("CompleteChecksum = false")
	}
	got, _ := transport(p)
	if c := binary.BigEndian.Uint16(got[6:]); c != 0xffff {
		t.Fatalf("UDP checksum %#04x, want 0xffff", c)
	}
	if !segmentOK(t, p) {
		t.Fatal("completed frame does not verify")
	}
}

func TestCompleteChecksumRejects(t *testing.T) {
	s4, d4 := netip.MustParseAddr("198.51.100.7"), netip.MustParseAddr("192.0.2.10")
	s6, d6 := netip.MustParseAddr("2001:db8::1"), netip.MustParseAddr("2001:db8::2")
	udp := eth(macB, macA, etherTypeIPv4, ipv4(s4, d4, protoUDP, nil, l4(protoUDP, s4, d4, 1, 2, []byte("x"))))
	frag := append([]byte{}, udp...)
	binary.BigEndian.PutUint16(frag[14+6:], 0x2000) // MF
	laterFrag := append([]byte{}, udp...)
	binary.BigEndian.PutUint16(laterFrag[14+6:], 0x0010)
	fragHdr := []byte{protoUDP, 0, 0, 0, 0, 0, 0, 1}
	v6frag := eth(macB, macA, etherTypeIPv6, ipv6(s6, d6, 44, fragHdr, l4(protoUDP, s6, d6, 1, 2, []byte("x"))))
	badLen := append([]byte{}, udp...)
	binary.BigEndian.PutUint16(badLen[14+2:], 200)
	cases := map[string][]byte{
		"arp":          arpFrame(),
		"icmpv6":       icmp6Frame("2001:db8::1", "2001:db8::2", 128),
		"v4 fragment":  frag,
		"v4 later":     laterFrag,
		"v6 fragment":  v6frag,
		"bad length":   badLen,
		"short":        udp[:30],
		"tiny":         udp[:10],
		"empty":        nil,
		"short tcp":    eth(macB, macA, etherTypeIPv4, ipv4(s4, d4, protoTCP, nil, make([]byte, 10))),
		"ipv4 version": eth(macB, macA, etherTypeIPv4, append([]byte{0x65}, udp[15:]...)),
	}
	for name, f := range cases {
		before := append([]byte(nil), f...)
		if CompleteChecksum(f) {
			t.Errorf("%s: CompleteChecksum = true, want false", name)
		}
		if !bytes.Equal(before, f) {
			t.Errorf("%s: frame modified", name)
		}
	}
}

func TestInsertVLAN(t *testing.T) {
	f := udp4Frame("198.51.100.1", "192.0.2.1", []byte("payload"))
	want := tagged(f, etherTypeVLAN, 0x6064)
	buf := make([]byte, len(f)+4+10)
	copy(buf, f)
	n, ok := InsertVLAN(buf, len(f), 0, 0x6064)
	if !ok || n != len(f)+4 {
		t.Fatalf("InsertVLAN = %d, %v", n, ok)
	}
	if !bytes.Equal(buf[:n], want) {
		t.Fatalf("got  %x\nwant %x", buf[:n], want)
	}

	copy(buf, f)
	n, ok = InsertVLAN(buf, len(f), etherTypeQinQ, 7)
	if !ok || !bytes.Equal(buf[:n], tagged(f, etherTypeQinQ, 7)) {
		t.Fatalf("tpid 0x88a8: got %x", buf[:n])
	}

	// Exactly enough room.
	exact := make([]byte, len(f)+4)
	copy(exact, f)
	if n, ok = InsertVLAN(exact, len(f), 0, 1); !ok || !bytes.Equal(exact, tagged(f, etherTypeVLAN, 1)) {
		t.Fatal("exact room: wrong result")
	}
	// No room, or too short to hold the addresses.
	if _, ok = InsertVLAN(make([]byte, len(f)+3), len(f), 0, 1); ok {
		t.Fatal("InsertVLAN without room succeeded")
	}
	if _, ok = InsertVLAN(make([]byte, 64), 11, 0, 1); ok {
		t.Fatal("InsertVLAN on an 11-byte frame succeeded")
	}
	// Tag then complete a partial checksum: the order Read uses.
	copy(buf, makePartial(f))
	n, _ = InsertVLAN(buf, len(f), 0, 100)
	if !CompleteChecksum(buf[:n]) || !bytes.Equal(buf[:n], tagged(f, etherTypeVLAN, 100)) {
		t.Fatal("checksum completion after VLAN insertion failed")
	}
}

func TestZeroAllocPure(t *testing.T) {
	f := makePartial(udp6Frame("2001:db8::1", "2001:db8::2", make([]byte, 1000)))
	buf := make([]byte, len(f)+4)
	if a := testing.AllocsPerRun(100, func() {
		copy(buf, f)
		n, _ := InsertVLAN(buf, len(f), 0, 5)
		CompleteChecksum(buf[:n])
	}); a != 0 {
		t.Fatalf("allocs per run = %v, want 0", a)
	}
}
