package header

import "encoding/binary"

// Super-frames (GSO and GRO).
//
// With segmentation offloads on, a frame read from a packet socket may be
// a super-frame: one TCP segment (or a train of UDP datagrams of one
// size) far longer than the MTU, that the kernel or the NIC cuts into
// segments of at most GSO-size payload bytes when it finally leaves a
// device that cannot carry it whole. Its transport checksum is partial
// (CHECKSUM_PARTIAL): the field holds the folded pseudo-header sum, not
// complemented, and whoever segments completes each segment's checksum.
// The director rewrites such a frame's headers like any other and hands
// it back to the kernel still whole (SetPartialChecksum), or cuts it
// itself when the frame must be encapsulated (PutSegment): no kernel
// segmentation type describes an IPIP packet that a packet socket may
// send.

// SuperPayload returns the offset in b of the payload of p's TCP or UDP
// super-frame (the end of its transport header), or -1 if p is neither,
// is a fragment, or its TCP header length is invalid.
func SuperPayload(b []byte, p *Parsed) int {
	if p.L4 == 0 || p.Frag != FragNone {
		return -1
	}
	switch p.Proto {
	case ProtoTCP:
		thl := int(b[p.L4+12]>>4) * 4
		if thl < TCPMinLen || p.L4+thl > p.End {
			return -1
		}
		return p.L4 + thl
	case ProtoUDP:
		return p.L4 + UDPLen
	}
	return -1
}

// Segments returns how many segments of at most size payload bytes the
// super-frame b (decoded in p) makes, 0 if it cannot be cut (see
// SuperPayload) or size is 0.
func Segments(b []byte, p *Parsed, size int) int {
	return segments(SuperPayload(b, p), p.End, size)
}

// segments is Segments for a payload from h to end.
func segments(h, end, size int) int {
	if h < 0 || size <= 0 {
		return 0
	}
	return max((end-h+size-1)/size, 1)
}

// SegmentLen returns the IP length (header included) of the longest
// segment the super-frame b makes when cut at size payload bytes: what has
// to fit the MTU. It returns the frame's own IP length if it cannot be
// cut.
func SegmentLen(b []byte, p *Parsed, size int) int {
	h := SuperPayload(b, p)
	if h < 0 || size <= 0 {
		return p.End - p.L3
	}
	return h - p.L3 + min(size, p.End-h)
}

// SetPartialChecksum writes into the TCP or UDP checksum field of p the
// folded pseudo-header sum, not complemented, over the addresses and the
// transport length as they now are: the form of a partial checksum that
// the kernel completes. It is what a rewritten super-frame is sent with
// (an incremental update of a partial field would count the ports, which
// the pseudo-header does not hold). It reports false, changing nothing,
// for other frames.
func SetPartialChecksum(b []byte, p *Parsed) bool {
	if p.L4 == 0 || p.Frag != FragNone {
		return false
	}
	off := p.L4 + tcpCsumOff
	switch p.Proto {
	case ProtoTCP:
	case ProtoUDP:
		off = p.L4 + udpCsumOff
	default:
		return false
	}
	var s uint32
	if p.IPv6 {
		s = PseudoSum(p.Src[:], p.Dst[:], p.Proto, p.End-p.L4)
	} else {
		s = PseudoSum(p.Src[12:], p.Dst[12:], p.Proto, p.End-p.L4)
	}
	binary.BigEndian.PutUint16(b[off:], Fold(s))
	return true
}

// PutSegment writes segment i (from 0) of the super-frame b, decoded in
// p and cut at size payload bytes, into dst as a complete frame: the
// headers of b up to the payload (link layer included), then that part of
// the payload, with the IP lengths, the IPv4 ID (the super-frame's plus
// i) and header checksum, the TCP sequence number and flags (FIN and PSH
// only on the last segment, CWR only on the first) or the UDP length, and
// a full transport checksum. It returns the frame length, or 0 if b cannot
// be cut, i is out of range, or dst is too short. It does not allocate.
func PutSegment(dst, b []byte, p *Parsed, size, i int) int {
	h := SuperPayload(b, p)
	n := segments(h, p.End, size)
	if h < 0 || i < 0 || i >= n {
		return 0
	}
	start := h + i*size
	chunk := min(size, p.End-start)
	total := h + chunk
	if len(dst) < total {
		return 0
	}
	copy(dst, b[:h])
	copy(dst[h:total], b[start:start+chunk])
	if p.IPv6 {
		binary.BigEndian.PutUint16(dst[p.L3+4:], uint16(total-p.L3-IPv6Len))
	} else {
		ip := IPv4(dst[p.L3:])
		binary.BigEndian.PutUint16(ip[2:], uint16(total-p.L3))
		binary.BigEndian.PutUint16(ip[4:], binary.BigEndian.Uint16(b[p.L3+4:])+uint16(i))
		ip.SetChecksum()
	}
	l4 := dst[p.L4:]
	if p.Proto == ProtoTCP {
		binary.BigEndian.PutUint32(l4[4:], binary.BigEndian.Uint32(b[p.L4+4:])+uint32(i*size))
		const cwr = 0x80
		if i != n-1 {
			l4[13] &^= TCPFin | TCPPsh
		}
		if i != 0 {
			l4[13] &^= cwr
		}
	} else {
		binary.BigEndian.PutUint16(l4[4:], uint16(total-p.L4))
	}
	q := *p
	q.End = total
	SetL4Checksum(dst, &q)
	return total
}
