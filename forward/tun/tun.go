// Package tun implements IPVS tunnelling (ipvsadm -i): the client's packet
// is left untouched and carried to the real server inside an outer IP
// header addressed to the real server (IPv4 in IPv4, protocol 4, for an
// IPv4 packet; IPv6 in IPv6, next header 41, for an IPv6 packet). The real
// server decapsulates it, answers from the VIP it holds on a tunnel or
// loopback interface, and replies to the client directly.
//
// The outer header is built as the kernel's ip_vs_tunnel_xmit and
// ip_vs_tunnel_xmit_v6 build it (with the default sysctl
// net.ipv4.vs.pmtu_disc=1):
//
//   - DSCP copied from the inner packet; ECN copied too, except that
//     Congestion Experienced becomes ECT(0) in the outer header (the
//     "full-functionality" ECN encapsulation of RFC 3168 §9.1.1, the
//     kernel's INET_ECN_encapsulate);
//   - TTL / hop limit copied from the inner packet (IPVS delivers locally,
//     so neither header is decremented);
//   - IPv4: DF copied from the inner packet, MF and fragment offset zero,
//     no options, identification from the caller's counter. (The kernel's
//     ip_select_ident writes 0 for DF packets, which RFC 6864 allows for
//     atomic datagrams; a caller wanting that byte-for-byte passes id 0
//     when the inner DF is set.)
//   - IPv6: flow label zero.
//
// Encap works in place: the inner IP packet is neither moved nor copied.
// Only the Ethernet header (and any 802.1Q tags) moves back into the
// headroom by the size of the outer header, which is written in the gap.
// Nothing is allocated.
//
// Packets that would exceed the egress MTU once encapsulated are refused
// with forward.DropMTU and the frame left unchanged; the caller answers
// with ICMP "fragmentation needed" (IPv4) or "Packet Too Big" (IPv6)
// carrying InnerMTU. The kernel fragments the outer IPv4 packet when the
// inner one has DF clear; that is future work here, and such packets are
// dropped too (the caller must then send no ICMP error, as the client did
// not ask for path MTU discovery).
package tun

import (
	"encoding/binary"

	"github.com/gdirector/gdirector/forward"
	"github.com/gdirector/gdirector/header"
)

// Overheads of the outer headers.
const (
	Overhead4 = header.IPv4MinLen // IPv4 in IPv4
	Overhead6 = header.IPv6Len    // IPv6 in IPv6
)

// Smallest tunnel MTUs (inner packet sizes) the kernel accepts: below them
// it refuses the route to the real server and drops every packet.
const (
	minInnerMTU4 = 68
	minInnerMTU6 = 1280
)

// ECN codepoints (the two low bits of the traffic class).
const (
	ecnMask = 0x03
	ecnECT0 = 0x02
	ecnCE   = 0x03
)

// InnerMTU returns the largest inner IP packet an egress link of mtu bytes
// carries once encapsulated: mtu-20 for IPv4 in IPv4, mtu-40 for IPv6 in
// IPv6. This is the next-hop MTU to report to the client in ICMP
// fragmentation-needed (type 3 code 4) or ICMPv6 Packet Too Big.
//
// It returns 0 when the result is below the family's minimum (68 bytes for
// IPv4, 1280 for IPv6): like the kernel, which refuses such a route, Encap
// then drops every packet of that family, and the caller should send no
// ICMP error (an MTU below the minimum is meaningless to the client).
func InnerMTU(mtu int, ipv6 bool) int {
	if ipv6 {
		if m := mtu - Overhead6; m >= minInnerMTU6 {
			return m
		}
		return 0
	}
	if m := mtu - Overhead4; m >= minInnerMTU4 {
		return m
	}
	return 0
}

// Encap encapsulates, in place, the frame buf[off:off+n] whose IP packet is
// decoded in p (offsets relative to buf[off:]), toward the real server dst
// from the director's address src (16-byte key form, IPv4-mapped for an
// IPv4 packet). id is the outer IPv4 identification (ignored for IPv6);
// mtu is the egress link MTU in IP bytes.
//
// On success the new frame is buf[newOff:newOff+newLen]: the Ethernet header
// and tags, the outer IP header, then the inner IP packet where it was (p
// still describes it relative to buf[off:]). Ethernet padding after p.End
// is dropped, never carried in the tunnel. The Ethernet addresses are left
// for the caller's layer-2 rewrite.
//
// It returns forward.DropMTU (frame unchanged) when the encapsulated packet
// would exceed mtu or the link is below the tunnel minimum (see InnerMTU),
// and forward.DropMethod when p is not an IP packet, the headroom before
// off is smaller than the outer header, or src/dst are of the wrong family.
func Encap(buf []byte, off, n int, p *header.Parsed, src, dst [16]byte, id uint16, mtu int) (newOff, newLen int, r forward.Reason) {
	var over int
	switch {
	case p.EtherType == header.EtherTypeIPv4 && !p.IPv6:
		over = Overhead4
		if !header.Is4(&src) || !header.Is4(&dst) {
			return off, n, forward.DropMethod
		}
	case p.EtherType == header.EtherTypeIPv6 && p.IPv6:
		over = Overhead6
		if header.Is4(&src) || header.Is4(&dst) {
			return off, n, forward.DropMethod
		}
	default:
		return off, n, forward.DropMethod
	}
	if off < over || p.L3 < header.EthernetLen || p.End > n || off+n > len(buf) || p.End-p.L3 < header.IPv4MinLen {
		return off, n, forward.DropMethod
	}
	inner := p.End - p.L3
	if limit := InnerMTU(mtu, p.IPv6); limit == 0 || inner > limit {
		return off, n, forward.DropMTU
	}

	l3 := off + p.L3 // absolute offset of the inner IP header; stays put
	ip := buf[l3:]
	newOff = off - over
	copy(buf[newOff:newOff+p.L3], buf[off:l3]) // memmove: regions overlap
	o := buf[newOff+p.L3 : l3]                 // the gap for the outer header
	if p.IPv6 {
		binary.BigEndian.PutUint16(buf[newOff+p.L3-2:], header.EtherTypeIPv6)
		tc := ecnEncap(ip[0]<<4 | ip[1]>>4)
		o[0] = 0x60 | tc>>4
		o[1] = tc << 4 // flow label 0
		o[2], o[3] = 0, 0
		binary.BigEndian.PutUint16(o[4:], uint16(inner))
		o[6] = header.ProtoIPv6
		o[7] = ip[7]
		copy(o[8:24], src[:])
		copy(o[24:40], dst[:])
	} else {
		binary.BigEndian.PutUint16(buf[newOff+p.L3-2:], header.EtherTypeIPv4)
		o[0] = 0x45
		o[1] = ecnEncap(ip[1])
		binary.BigEndian.PutUint16(o[2:], uint16(inner+Overhead4))
		binary.BigEndian.PutUint16(o[4:], id)
		o[6] = ip[6] & 0x40 // DF only: MF and offset zero
		o[7] = 0
		o[8] = ip[8]
		o[9] = header.ProtoIPIP
		o[10], o[11] = 0, 0
		copy(o[12:16], src[12:])
		copy(o[16:20], dst[12:])
		binary.BigEndian.PutUint16(o[10:], header.Checksum(o[:Overhead4], 0))
	}
	return newOff, p.End + over, forward.Pass
}

// ecnEncap returns the outer traffic class for an inner one: DSCP and ECN
// copied, but CE (congestion experienced) becomes ECT(0).
func ecnEncap(tc uint8) uint8 {
	if tc&ecnMask == ecnCE {
		return tc&^ecnMask | ecnECT0
	}
	return tc
}
