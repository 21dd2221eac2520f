package header

import "encoding/binary"

// ICMPv6 Neighbor Discovery (RFC 4861) message types and option types.
const (
	ICMPv6NeighborSolicit uint8 = 135
	ICMPv6NeighborAdvert  uint8 = 136

	NDPOptSourceLinkAddr uint8 = 1
	NDPOptTargetLinkAddr uint8 = 2

	// Neighbor Advertisement flags (first byte after the checksum).
	NAFlagRouter    uint8 = 0x80
	NAFlagSolicited uint8 = 0x40
	NAFlagOverride  uint8 = 0x20

	ndpLen = 24 // type, code, checksum, reserved/flags, target
)

// NDPTarget returns the target address of a Neighbor Solicitation or
// Advertisement (icmp is the ICMPv6 message).
func NDPTarget(icmp []byte) ([16]byte, bool) {
	if len(icmp) < ndpLen {
		return [16]byte{}, false
	}
	return [16]byte(icmp[8:24]), true
}

// NDPLinkAddr finds the link-layer address option of type opt (source or
// target) in an NS/NA message. A malformed option list (zero length,
// overrun) yields false, as RFC 4861 §7.1 requires such messages be
// discarded.
func NDPLinkAddr(icmp []byte, opt uint8) ([6]byte, bool) {
	if len(icmp) < ndpLen {
		return [6]byte{}, false
	}
	o := icmp[ndpLen:]
	for len(o) >= 2 {
		n := int(o[1]) * 8
		if n == 0 || n > len(o) {
			return [6]byte{}, false
		}
		if o[0] == opt && n >= 8 {
			return [6]byte(o[2:8]), true
		}
		o = o[n:]
	}
	return [6]byte{}, false
}

// SolicitedNode returns the solicited-node multicast address of a and its
// Ethernet multicast address (RFC 4291 §2.7.1, RFC 2464 §7).
func SolicitedNode(a [16]byte) (ip [16]byte, mac [6]byte) {
	ip = [16]byte{0: 0xff, 1: 0x02, 11: 0x01, 12: 0xff, 13: a[13], 14: a[14], 15: a[15]}
	mac = [6]byte{0x33, 0x33, 0xff, a[13], a[14], a[15]}
	return ip, mac
}

// AllNodes is ff02::1 and its Ethernet multicast address.
var (
	AllNodes    = [16]byte{0: 0xff, 1: 0x02, 15: 0x01}
	AllNodesMAC = [6]byte{0x33, 0x33, 0, 0, 0, 1}
)

// PutNDP writes, at b (where the IPv6 header starts), an IPv6 header and a
// Neighbor Solicitation (typ 135, option source link-layer address) or
// Advertisement (typ 136 with flags, option target link-layer address)
// about target, carrying mac, with hop limit 255 and a correct checksum.
// It returns the number of bytes written (IPv6 header included); b must
// have room for 72 bytes.
func PutNDP(b []byte, typ, flags uint8, src, dst, target [16]byte, mac [6]byte) int {
	const plen = ndpLen + 8
	ip := b[:IPv6Len+plen]
	clear(ip)
	ip[0] = 0x60
	binary.BigEndian.PutUint16(ip[4:], plen)
	ip[6] = ProtoICMPv6
	ip[7] = 255
	copy(ip[8:24], src[:])
	copy(ip[24:40], dst[:])
	m := ip[IPv6Len:]
	m[0] = typ
	opt := NDPOptSourceLinkAddr
	if typ == ICMPv6NeighborAdvert {
		m[4] = flags
		opt = NDPOptTargetLinkAddr
	}
	copy(m[8:24], target[:])
	m[24], m[25] = opt, 1
	copy(m[26:32], mac[:])
	binary.BigEndian.PutUint16(m[2:], Checksum(m, PseudoSum(src[:], dst[:], ProtoICMPv6, plen)))
	return IPv6Len + plen
}
