package forward

import (
	"encoding/binary"

	"github.com/gdirector/gdirector/header"
)

// ICMP error types and codes the director originates.
const (
	ICMPv4DestUnreach    uint8 = 3
	ICMPv4CodeFragNeeded uint8 = 4 // code of ICMPv4DestUnreach; extra = next-hop MTU
	ICMPv4TimeExceeded   uint8 = 11

	ICMPv6PacketTooBig   uint8 = 2 // extra = MTU
	ICMPv6TimeExceeded   uint8 = 3
	ICMPv6ParamProblem   uint8 = 4
	icmp6ParamBadOption  uint8 = 2 // unrecognised IPv6 option
	icmp6InformationalLo uint8 = 128
)

// Size limits of the ICMP errors: an IPv4 error is at most 576 bytes of IP
// (RFC 1812 4.3.2.3, as Linux's icmp_send), an ICMPv6 error fits the IPv6
// minimum MTU of 1280 bytes (RFC 4443 2.4(c)).
const (
	ICMPv4ErrorMax = 576
	ICMPv6ErrorMax = 1280
)

// The IP header fields of generated errors.
const (
	icmpErrTTL = 64
	icmpErrTOS = 0xc0 // precedence "internetwork control" (CS6), as Linux
)

// icmp4Informational has bit t set for the ICMPv4 types that are queries
// or replies (Linux's icmp_pointers without .error): echo reply, echo,
// timestamp, information and address mask requests and replies. Anything
// else, including unknown types, is treated as an error and never answered.
const icmp4Informational uint32 = 1<<0 | 1<<8 | 1<<13 | 1<<14 | 1<<15 | 1<<16 | 1<<17 | 1<<18

// ICMPv4Error writes into dst a complete Ethernet frame carrying an ICMPv4
// error of type typ and code code about the offending frame orig (Ethernet,
// maybe 802.1Q tags, IPv4), and returns its length, or 0 when no error may
// or can be sent. extra is the 32-bit word after the checksum: the
// next-hop MTU in its low 16 bits for fragmentation needed (type 3 code 4),
// 0 for time exceeded (type 11 code 0). dst and orig must not overlap.
//
// The error goes from src to orig's source with TTL 64, DF clear and
// precedence 0xc0, and quotes orig's IP header and as much of the rest of
// its IP packet (never its Ethernet padding) as keeps the error within 576
// bytes of IP. The frame has ethSrc/ethDst and orig's VLAN tags, since the
// error returns the way orig came. The identification is the ICMP
// checksum: errors are never fragmented in practice (576 bytes), and no
// counter has to be shared between workers.
//
// As RFC 1122 3.2.2 and RFC 1812 4.3.2.7 require (and Linux's icmp_send
// does), no error is sent about an ICMP error (any ICMP type other than the
// query/reply ones) or a truncated ICMP header, a fragment other than the
// first, a datagram sent to an IP or link-layer broadcast or multicast
// address, or one whose source is not a single host (0/8, 127/8,
// multicast, 240/4, broadcast). It returns 0 too when orig does not decode
// as IPv4 or dst is too small. Nothing is allocated.
func ICMPv4Error(dst []byte, orig []byte, typ, code uint8, extra uint32, src [4]byte, ethSrc, ethDst [6]byte) int {
	var p header.Parsed
	switch header.Decode(orig, &p) {
	case header.OK:
	case header.ErrL4Header: // still worth an error, unless it might be ICMP
		if p.Proto == header.ProtoICMP {
			return 0
		}
	default:
		return 0
	}
	if p.EtherType != header.EtherTypeIPv4 || p.Frag == header.FragLater || orig[0]&1 != 0 {
		return 0
	}
	if p.Proto == header.ProtoICMP && icmp4Informational>>p.ICMPType&1 == 0 {
		return 0
	}
	oip := orig[p.L3:p.End]
	if !unicast4(oip[12:16]) || multicastOrBroadcast4(oip[16:20]) {
		return 0
	}
	quote := min(len(oip), ICMPv4ErrorMax-header.IPv4MinLen-header.ICMPLen)
	ipLen := header.IPv4MinLen + header.ICMPLen + quote
	n := p.L3 + ipLen
	if len(dst) < n {
		return 0
	}
	l2(dst, orig, p.L3, ethSrc, ethDst)

	ip := dst[p.L3:n]
	icmp := ip[header.IPv4MinLen:]
	icmp[0], icmp[1], icmp[2], icmp[3] = typ, code, 0, 0
	binary.BigEndian.PutUint32(icmp[4:], extra)
	copy(icmp[header.ICMPLen:], oip[:quote])
	csum := header.Checksum(icmp, 0)
	binary.BigEndian.PutUint16(icmp[2:], csum)

	ip[0] = 0x45
	ip[1] = icmpErrTOS
	binary.BigEndian.PutUint16(ip[2:], uint16(ipLen))
	binary.BigEndian.PutUint16(ip[4:], csum)
	ip[6], ip[7] = 0, 0
	ip[8] = icmpErrTTL
	ip[9] = header.ProtoICMP
	ip[10], ip[11] = 0, 0
	copy(ip[12:16], src[:])
	copy(ip[16:20], oip[12:16])
	binary.BigEndian.PutUint16(ip[10:], header.Checksum(ip[:header.IPv4MinLen], 0))
	return n
}

// ICMPv6Error writes into dst a complete Ethernet frame carrying an ICMPv6
// error of type typ and code code about the offending frame orig (Ethernet,
// maybe 802.1Q tags, IPv6), and returns its length, or 0 when no error may
// or can be sent. extra is the 32-bit word after the checksum: the MTU for
// Packet Too Big (type 2), 0 for Time Exceeded (type 3), the pointer for
// Parameter Problem (type 4). dst and orig must not overlap.
//
// The error goes from src to orig's source with hop limit 64, traffic
// class and flow label 0, a checksum over the pseudo-header, and quotes as
// much of orig's IP packet (never its Ethernet padding) as fits the
// 1280-byte IPv6 minimum MTU. The frame has ethSrc/ethDst and orig's VLAN
// tags.
//
// As RFC 4443 2.4(e) requires (and Linux's icmp6_send does), no error is
// sent about an ICMPv6 error message (type below 128) or a truncated ICMPv6
// header, a packet whose source is unspecified or multicast, or — except
// for Packet Too Big and Parameter Problem code 2 — a packet sent to an
// IPv6 or link-layer multicast address. Like IPVS, it sends none about a
// fragment other than the first either (which carries no transport header
// and might be part of an ICMPv6 error). It returns 0 too when orig does
// not decode as IPv6 or dst is too small. Nothing is allocated.
func ICMPv6Error(dst, orig []byte, typ, code uint8, extra uint32, src [16]byte, ethSrc, ethDst [6]byte) int {
	var p header.Parsed
	switch header.Decode(orig, &p) {
	case header.OK:
	case header.ErrL4Header:
		if p.Proto == header.ProtoICMPv6 {
			return 0
		}
	default:
		return 0
	}
	if p.EtherType != header.EtherTypeIPv6 || p.Frag == header.FragLater {
		return 0
	}
	if p.Proto == header.ProtoICMPv6 && p.ICMPType < icmp6InformationalLo {
		return 0
	}
	oip := orig[p.L3:p.End]
	osrc := oip[8:24]
	if osrc[0] == 0xff || [16]byte(osrc) == ([16]byte{}) {
		return 0
	}
	toGroup := oip[24] == 0xff || orig[0]&1 != 0
	if toGroup && typ != ICMPv6PacketTooBig && (typ != ICMPv6ParamProblem || code != icmp6ParamBadOption) {
		return 0
	}
	quote := min(len(oip), ICMPv6ErrorMax-header.IPv6Len-header.ICMPLen)
	plen := header.ICMPLen + quote
	n := p.L3 + header.IPv6Len + plen
	if len(dst) < n {
		return 0
	}
	l2(dst, orig, p.L3, ethSrc, ethDst)

	ip := dst[p.L3:n]
	ip[0], ip[1], ip[2], ip[3] = 0x60, 0, 0, 0
	binary.BigEndian.PutUint16(ip[4:], uint16(plen))
	ip[6] = header.ProtoICMPv6
	ip[7] = icmpErrTTL
	copy(ip[8:24], src[:])
	copy(ip[24:40], osrc)

	icmp := ip[header.IPv6Len:]
	icmp[0], icmp[1], icmp[2], icmp[3] = typ, code, 0, 0
	binary.BigEndian.PutUint32(icmp[4:], extra)
	copy(icmp[header.ICMPLen:], oip[:quote])
	ps := header.PseudoSum(ip[8:24], ip[24:40], header.ProtoICMPv6, plen)
	binary.BigEndian.PutUint16(icmp[2:], header.Checksum(icmp, ps))
	return n
}

// l2 writes the Ethernet header (l3 bytes, tags copied from orig) into dst.
// The EtherType is orig's: errors are of the offending packet's family.
func l2(dst, orig []byte, l3 int, ethSrc, ethDst [6]byte) {
	copy(dst[12:l3], orig[12:l3])
	e := header.Ethernet(dst)
	e.SetDst(ethDst)
	e.SetSrc(ethSrc)
}

// unicast4 reports whether a names a single host: not in 0/8 ("this"
// network), 127/8 (loopback), 224/4 (multicast) or 240/4 (reserved, and
// the limited broadcast address).
func unicast4(a []byte) bool {
	return a[0] != 0 && a[0] != 127 && a[0] < 224
}

// multicastOrBroadcast4 reports whether a is a multicast address or the
// limited broadcast address. (Directed broadcasts cannot be told from
// unicast without the routing table.)
func multicastOrBroadcast4(a []byte) bool {
	return a[0]&0xf0 == 0xe0 || [4]byte(a) == [4]byte{255, 255, 255, 255}
}
