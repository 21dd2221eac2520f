package afpacket

import (
	"encoding/binary"
	"net/netip"
)

// Test frame builders. Checksums here use refSum, a deliberately naive
// byte-pair loop independent of package header.

var (
	macA = [6]byte{0x02, 0, 0, 0, 0, 0x0a}
	macB = [6]byte{0x02, 0, 0, 0, 0, 0x0b}
)

// refSum is the folded (not complemented) one's-complement sum of the
// pseudo-header parts and data.
func refSum(parts ...[]byte) uint16 {
	var s uint64
	for _, p := range parts {
		for i := 0; i < len(p); i += 2 {
			w := uint64(p[i]) << 8
			if i+1 < len(p) {
				w |= uint64(p[i+1])
			}
			s += w
		}
	}
	for s > 0xffff {
		s = s&0xffff + s>>16
	}
	return uint16(s)
}

func pseudo(src, dst netip.Addr, proto uint8, length int) []byte {
	var p []byte
	p = append(p, src.AsSlice()...)
	p = append(p, dst.AsSlice()...)
	if src.Is4() {
		return append(p, 0, proto, byte(length>>8), byte(length))
	}
	return append(p, byte(length>>24), byte(length>>16), byte(length>>8), byte(length), 0, 0, 0, proto)
}

func eth(dst, src [6]byte, etype uint16, payload []byte) []byte {
	f := append(append([]byte{}, dst[:]...), src[:]...)
	f = binary.BigEndian.AppendUint16(f, etype)
	return append(f, payload...)
}

// tagged inserts an 802.1Q (or other tpid) tag into an untagged frame.
func tagged(f []byte, tpid, tci uint16) []byte {
	out := append([]byte{}, f[:12]...)
	out = binary.BigEndian.AppendUint16(out, tpid)
	out = binary.BigEndian.AppendUint16(out, tci)
	return append(out, f[12:]...)
}

// l4 builds a UDP (17) or TCP (6) segment with a correct checksum.
func l4(proto uint8, src, dst netip.Addr, sport, dport uint16, payload []byte) []byte {
	var seg []byte
	field := 6
	if proto == protoUDP {
		seg = make([]byte, 8)
		binary.BigEndian.PutUint16(seg[4:], uint16(8+len(payload)))
	} else {
		seg = make([]byte, 20)
		binary.BigEndian.PutUint32(seg[4:], 0x01020304) // seq
		seg[12] = 5 << 4
		seg[13] = 0x18 // PSH|ACK
		binary.BigEndian.PutUint16(seg[14:], 65535)
		field = 16
	}
	binary.BigEndian.PutUint16(seg[0:], sport)
	binary.BigEndian.PutUint16(seg[2:], dport)
	seg = append(seg, payload...)
	c := ^refSum(pseudo(src, dst, proto, len(seg)), seg)
	if proto == protoUDP && c == 0 {
		c = 0xffff
	}
	binary.BigEndian.PutUint16(seg[field:], c)
	return seg
}

func ipv4(src, dst netip.Addr, proto uint8, options, seg []byte) []byte {
	ihl := 20 + len(options)
	h := make([]byte, 20, ihl+len(seg))
	h[0] = 0x40 | byte(ihl/4)
	binary.BigEndian.PutUint16(h[2:], uint16(ihl+len(seg)))
	binary.BigEndian.PutUint16(h[4:], 0x1234)
	h[6] = 0x40 // DF
	h[8] = 64
	h[9] = proto
	copy(h[12:], src.AsSlice())
	copy(h[16:], dst.AsSlice())
	h = append(h, options...)
	binary.BigEndian.PutUint16(h[10:], ^refSum(h))
	return append(h, seg...)
}

// ipv6 builds an IPv6 packet; ext is a chain of extension headers already
// encoded, whose first next-header is firstNext (proto if ext is empty).
func ipv6(src, dst netip.Addr, firstNext uint8, ext, seg []byte) []byte {
	h := make([]byte, 40, 40+len(ext)+len(seg))
	h[0] = 0x60
	binary.BigEndian.PutUint16(h[4:], uint16(len(ext)+len(seg)))
	h[6] = firstNext
	h[7] = 64
	copy(h[8:], src.AsSlice())
	copy(h[24:], dst.AsSlice())
	h = append(h, ext...)
	return append(h, seg...)
}

func udp4Frame(src, dst string, payload []byte) []byte {
	s, d := netip.MustParseAddr(src), netip.MustParseAddr(dst)
	return eth(macB, macA, etherTypeIPv4, ipv4(s, d, protoUDP, nil, l4(protoUDP, s, d, 40000, 9, payload)))
}

func udp6Frame(src, dst string, payload []byte) []byte {
	s, d := netip.MustParseAddr(src), netip.MustParseAddr(dst)
	return eth(macB, macA, etherTypeIPv6, ipv6(s, d, protoUDP, nil, l4(protoUDP, s, d, 40000, 9, payload)))
}

func arpFrame() []byte {
	p := []byte{0, 1, 8, 0, 6, 4, 0, 1}
	p = append(p, macA[:]...)
	p = append(p, 192, 0, 2, 1)
	p = append(p, 0, 0, 0, 0, 0, 0)
	p = append(p, 192, 0, 2, 2)
	return eth([6]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, macA, etherTypeARP, p)
}

func icmp6Frame(src, dst string, typ uint8) []byte {
	s, d := netip.MustParseAddr(src), netip.MustParseAddr(dst)
	msg := make([]byte, 24)
	msg[0] = typ
	copy(msg[8:], d.AsSlice())
	binary.BigEndian.PutUint16(msg[2:], ^refSum(pseudo(s, d, protoICMPv6, len(msg)), msg))
	return eth(macB, macA, etherTypeIPv6, ipv6(s, d, protoICMPv6, nil, msg))
}

// makePartial turns a frame with a correct TCP/UDP checksum into what a
// CHECKSUM_PARTIAL sender leaves: the field holds the folded pseudo-header
// sum, uncomplemented.
func makePartial(f []byte) []byte {
	p := append([]byte{}, f...)
	seg, proto := transport(p)
	field := 6
	if proto == protoTCP {
		field = 16
	}
	// Recover the addresses from the IP header in front of the segment.
	var src, dst netip.Addr
	off := 12
	for et := binary.BigEndian.Uint16(p[off:]); et == etherTypeVLAN || et == etherTypeQinQ; et = binary.BigEndian.Uint16(p[off:]) {
		off += 4
	}
	ip := p[off+2:]
	if ip[0]>>4 == 4 {
		src, _ = netip.AddrFromSlice(ip[12:16])
		dst, _ = netip.AddrFromSlice(ip[16:20])
	} else {
		src, _ = netip.AddrFromSlice(ip[8:24])
		dst, _ = netip.AddrFromSlice(ip[24:40])
	}
	binary.BigEndian.PutUint16(seg[field:], refSum(pseudo(src, dst, proto, len(seg))))
	return p
}
