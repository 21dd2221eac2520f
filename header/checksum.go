package header

import "encoding/binary"

// Sum adds b to the running one's-complement sum initial, 16 bits at a time
// in network order, and returns the unfolded 32-bit accumulator. An odd
// trailing byte is padded with zero, as RFC 1071 specifies.
func Sum(b []byte, initial uint32) uint32 {
	s := uint64(initial)
	for len(b) >= 8 {
		s += uint64(binary.BigEndian.Uint32(b)) + uint64(binary.BigEndian.Uint32(b[4:]))
		b = b[8:]
	}
	if len(b) >= 4 {
		s += uint64(binary.BigEndian.Uint32(b))
		b = b[4:]
	}
	if len(b) >= 2 {
		s += uint64(binary.BigEndian.Uint16(b))
		b = b[2:]
	}
	if len(b) == 1 {
		s += uint64(b[0]) << 8
	}
	for s>>32 != 0 {
		s = (s & 0xffffffff) + (s >> 32)
	}
	return uint32(s)
}

// Fold reduces a 32-bit accumulator to 16 bits (without complementing).
func Fold(s uint32) uint16 {
	for s>>16 != 0 {
		s = (s & 0xffff) + (s >> 16)
	}
	return uint16(s)
}

// Checksum returns the Internet checksum (RFC 1071) of b with the partial
// sum initial already added: the complement of the folded sum.
func Checksum(b []byte, initial uint32) uint16 {
	return ^Fold(Sum(b, initial))
}

// PseudoSum returns the unfolded sum of the TCP/UDP pseudo-header. src and
// dst are 4 bytes (IPv4) or 16 bytes (IPv6); length is the transport
// length (header and payload).
func PseudoSum(src, dst []byte, proto uint8, length int) uint32 {
	s := Sum(src, 0)
	s = Sum(dst, s)
	return s + uint32(proto) + uint32(length)
}

// Update16 returns checksum sum adjusted for one 16-bit word changing from
// old to new (RFC 1624, equation 3: HC' = ~(~HC + ~m + m')).
func Update16(sum, old, new uint16) uint16 {
	s := uint32(^sum) + uint32(^old) + uint32(new)
	return ^Fold(s)
}

// Update32 adjusts sum for a 32-bit field (two words) changing.
func Update32(sum uint16, old, new uint32) uint16 {
	s := uint32(^sum) + uint32(^uint16(old>>16)) + uint32(^uint16(old)) +
		uint32(uint16(new>>16)) + uint32(uint16(new))
	return ^Fold(s)
}

// UpdateBytes adjusts sum for the bytes old changing to new; both must have
// the same even length (an address: 4 or 16 bytes).
func UpdateBytes(sum uint16, old, new []byte) uint16 {
	s := uint32(^sum)
	for i := 0; i+1 < len(old) && i+1 < len(new); i += 2 {
		s += uint32(^binary.BigEndian.Uint16(old[i:])) + uint32(binary.BigEndian.Uint16(new[i:]))
	}
	return ^Fold(s)
}
