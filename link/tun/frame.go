package tun

import "encoding/binary"

// EthHeaderLen is the length of the synthetic Ethernet header in front of
// every packet Read returns and Write expects.
const EthHeaderLen = 14

// EtherTypes of the synthetic header.
const (
	EtherTypeIPv4 = 0x0800
	EtherTypeIPv6 = 0x86DD
)

// peerMAC is the source address of every frame Read returns: a fixed,
// locally administered unicast address ("\x02gdtun").
var peerMAC = [6]byte{0x02, 'g', 'd', 't', 'u', 'n'}

// PeerHardwareAddr returns the source MAC address of the frames Read
// returns, the device's imaginary neighbour.
func PeerHardwareAddr() [6]byte { return peerMAC }

// PseudoMAC returns the locally administered unicast MAC address that a
// TUN device called name presents as its own (the destination of the
// frames Read returns). It depends on the name only, so it is stable
// across restarts, and never equals PeerHardwareAddr.
func PseudoMAC(name string) [6]byte {
	// FNV-1a, 64 bits.
	h := uint64(14695981039346656037)
	for i := 0; i < len(name); i++ {
		h ^= uint64(name[i])
		h *= 1099511628211
	}
	var m [6]byte
	for i := range m {
		m[i] = byte(h >> (8 * i))
	}
	m[0] = m[0]&^0x01 | 0x02 // unicast, locally administered
	if m == peerMAC {
		m[5] ^= 0x01
	}
	return m
}

// etherType returns the EtherType for the IP packet p by its version
// nibble, or 0 if p is not IPv4 or IPv6.
func etherType(p []byte) uint16 {
	if len(p) == 0 {
		return 0
	}
	switch p[0] >> 4 {
	case 4:
		return EtherTypeIPv4
	case 6:
		return EtherTypeIPv6
	}
	return 0
}

// putEthHeader writes the synthetic Ethernet header into f[:14].
func putEthHeader(f []byte, dst [6]byte, etype uint16) {
	_ = f[EthHeaderLen-1]
	copy(f[0:6], dst[:])
	copy(f[6:12], peerMAC[:])
	binary.BigEndian.PutUint16(f[12:14], etype)
}
