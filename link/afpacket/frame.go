package afpacket

import (
	"encoding/binary"

	"github.com/gdirector/gdirector/header"
)

const (
	etherTypeIPv4  = 0x0800
	etherTypeARP   = 0x0806
	etherTypeIPv6  = 0x86dd
	etherTypeVLAN  = 0x8100
	etherTypeQinQ  = 0x88a8
	ethHeaderLen   = 14
	vlanTagLen     = 4
	protoTCP       = 6
	protoUDP       = 17
	protoICMPv6    = 58
	maxIPv6ExtHdrs = 8
)

// InsertVLAN puts an 802.1Q tag (tpid, tci) back into the frame b[:n],
// right after the destination and source MAC addresses, shifting the rest
// of the frame 4 bytes towards the end of b. A tpid of 0 means 0x8100. It
// returns the new frame length n+4, or false if b has no room (len(b) <
// n+4) or the frame is shorter than the two addresses.
func InsertVLAN(b []byte, n int, tpid, tci uint16) (int, bool) {
	if n < 12 || n+vlanTagLen > len(b) {
		return n, false
	}
	if tpid == 0 {
		tpid = etherTypeVLAN
	}
	copy(b[12+vlanTagLen:n+vlanTagLen], b[12:n])
	binary.BigEndian.PutUint16(b[12:], tpid)
	binary.BigEndian.PutUint16(b[14:], tci)
	return n + vlanTagLen, true
}

// CompleteChecksum finishes the TCP or UDP checksum of an Ethernet frame
// whose checksum was left partial by a sender's offload
// (CHECKSUM_PARTIAL): the checksum field holds the folded, uncomplemented
// pseudo-header sum, and the final checksum is the complement of the
// folded sum over the whole transport segment with the field as it is.
// Frames may carry up to two 802.1Q/802.1ad tags. IPv4 and IPv6 (with
// hop-by-hop, routing and destination-options extension headers) are
// handled; a UDP result of 0 is written as 0xffff. It reports whether it
// changed the frame; it returns false, leaving the frame alone, for
// anything it cannot parse (other protocols, fragments, short frames).
func CompleteChecksum(frame []byte) bool {
	l4, proto := transport(frame)
	var field int
	switch {
	case proto == protoTCP && len(l4) >= 20:
		field = 16
	case proto == protoUDP && len(l4) >= 8:
		field = 6
	default:
		return false
	}
	c := header.Checksum(l4, 0)
	if proto == protoUDP && c == 0 {
		c = 0xffff
	}
	binary.BigEndian.PutUint16(l4[field:], c)
	return true
}

// transport returns the transport segment of an IPv4 or IPv6 frame (bounded
// by the IP length, not the frame length, so Ethernet padding is excluded)
// and its protocol number; proto is 0 when the frame is not usable.
func transport(frame []byte) (l4 []byte, proto uint8) {
	if len(frame) < ethHeaderLen {
		return nil, 0
	}
	off := 12
	et := binary.BigEndian.Uint16(frame[off:])
	for tags := 0; (et == etherTypeVLAN || et == etherTypeQinQ) && tags < 2; tags++ {
		off += vlanTagLen
		if len(frame) < off+2 {
			return nil, 0
		}
		et = binary.BigEndian.Uint16(frame[off:])
	}
	ip := frame[off+2:]
	switch et {
	case etherTypeIPv4:
		if len(ip) < 20 || ip[0]>>4 != 4 {
			return nil, 0
		}
		ihl := int(ip[0]&0x0f) * 4
		total := int(binary.BigEndian.Uint16(ip[2:]))
		if ihl < 20 || total < ihl || total > len(ip) {
			return nil, 0
		}
		if binary.BigEndian.Uint16(ip[6:])&0x3fff != 0 { // MF or offset: a fragment
			return nil, 0
		}
		return ip[ihl:total], ip[9]
	case etherTypeIPv6:
		if len(ip) < 40 || ip[0]>>4 != 6 {
			return nil, 0
		}
		end := 40 + int(binary.BigEndian.Uint16(ip[4:]))
		if end == 40 || end > len(ip) { // empty payload or jumbogram
			return nil, 0
		}
		next, p := ip[6], 40
		for i := 0; i < maxIPv6ExtHdrs; i++ {
			switch next {
			case 0, 43, 60: // hop-by-hop, routing, destination options
				if p+8 > end {
					return nil, 0
				}
				next = ip[p]
				p += (int(ip[p+1]) + 1) * 8
				continue
			}
			break
		}
		if p > end {
			return nil, 0
		}
		return ip[p:end], next
	}
	return nil, 0
}
