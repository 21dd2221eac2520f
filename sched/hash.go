package sched

import (
	"encoding/binary"
	"math/bits"

	"github.com/gdirector/gdirector/vs"
)

// The hashing schedulers (sh, dh, mh, lblc, lblcr) reduce an address to 32
// bits before hashing it, as the kernel does: an IPv4 address is read as a
// host-order integer, an IPv6 address as the XOR of its four 32-bit words
// (the same word-wise XOR read in network order, then converted). Flow
// addresses are in vs's 16-byte key form, IPv4 in the last four bytes.

// foldKey folds an address in key form; v6 tells the family.
func foldKey(a *[16]byte, v6 bool) uint32 {
	if !v6 {
		return binary.BigEndian.Uint32(a[12:])
	}
	return binary.BigEndian.Uint32(a[0:]) ^ binary.BigEndian.Uint32(a[4:]) ^
		binary.BigEndian.Uint32(a[8:]) ^ binary.BigEndian.Uint32(a[12:])
}

// foldDest folds a dest's address the way the kernel folds dest->addr with
// the service's family: an IPv4 dest is its address whatever the family
// (the kernel stores it in the first word of a zeroed union); an IPv6 dest
// of an IPv4 service contributes only its first word.
func foldDest(d *vs.Dest, svc6 bool) uint32 {
	if d.Addr.Is4() {
		a := d.Addr.As4()
		return binary.BigEndian.Uint32(a[:])
	}
	a := d.Addr.As16()
	if !svc6 {
		return binary.BigEndian.Uint32(a[:4])
	}
	return foldKey(&a, true)
}

// goldenRatio32 is the multiplier of the kernel's hash_32 (GOLDEN_RATIO_32).
const goldenRatio32 = 0x61C88647

// hash32 is the kernel's hash_32: the top bits of a multiplicative hash.
func hash32(v uint32, nbits uint) uint32 {
	return (v * goldenRatio32) >> (32 - nbits)
}

// flowPort is the port sh and mh mix into the hash when the service has
// the sh-port/mh-port flag: the client's (source) port for TCP, UDP and
// SCTP, 0 for anything else.
func flowPort(f *vs.Flow) uint32 {
	switch f.Proto {
	case vs.TCP, vs.UDP, vs.SCTP:
		return uint32(f.SPort)
	}
	return 0
}

// hsiphash32 is the kernel's hsiphash() of one 32-bit value as built on
// 64-bit machines, where HalfSipHash-1-3 is SipHash-1-3 truncated to 32
// bits: the value is the little-endian four-byte message (the kernel hashes
// an unsigned int in memory; x86-64 and arm64 are little-endian) and the
// key is two 64-bit words.
func hsiphash32(m uint32, k0, k1 uint64) uint32 {
	v0 := 0x736f6d6570736575 ^ k0
	v1 := 0x646f72616e646f6d ^ k1
	v2 := 0x6c7967656e657261 ^ k0
	v3 := 0x7465646279746573 ^ k1
	b := uint64(4)<<56 | uint64(m) // length in the top byte, then the message

	v3 ^= b
	v0, v1, v2, v3 = sipRound(v0, v1, v2, v3) // one compression round
	v0 ^= b
	v2 ^= 0xff
	v0, v1, v2, v3 = sipRound(v0, v1, v2, v3) // three finalization rounds
	v0, v1, v2, v3 = sipRound(v0, v1, v2, v3)
	v0, v1, v2, v3 = sipRound(v0, v1, v2, v3)
	return uint32(v0 ^ v1 ^ v2 ^ v3)
}

// sipRound is one SipRound of SipHash over the four state words.
func sipRound(v0, v1, v2, v3 uint64) (uint64, uint64, uint64, uint64) {
	v0 += v1
	v1 = bits.RotateLeft64(v1, 13) ^ v0
	v0 = bits.RotateLeft64(v0, 32)
	v2 += v3
	v3 = bits.RotateLeft64(v3, 16) ^ v2
	v0 += v3
	v3 = bits.RotateLeft64(v3, 21) ^ v0
	v2 += v1
	v1 = bits.RotateLeft64(v1, 17) ^ v2
	v2 = bits.RotateLeft64(v2, 32)
	return v0, v1, v2, v3
}
