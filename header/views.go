package header

import "encoding/binary"

// Ethernet is a view of an Ethernet header.
type Ethernet []byte

// Dst returns the destination MAC.
func (e Ethernet) Dst() [6]byte { return [6]byte(e[0:6]) }

// Src returns the source MAC.
func (e Ethernet) Src() [6]byte { return [6]byte(e[6:12]) }

// SetDst sets the destination MAC.
func (e Ethernet) SetDst(m [6]byte) { copy(e[0:6], m[:]) }

// SetSrc sets the source MAC.
func (e Ethernet) SetSrc(m [6]byte) { copy(e[6:12], m[:]) }

// ARP operations.
const (
	ARPRequest uint16 = 1
	ARPReply   uint16 = 2
)

// ARP is a view of an Ethernet/IPv4 ARP packet (28 bytes).
type ARP []byte

// Valid reports whether the packet is Ethernet/IPv4 ARP.
func (a ARP) Valid() bool {
	return len(a) >= ARPLen && binary.BigEndian.Uint16(a[0:]) == 1 &&
		binary.BigEndian.Uint16(a[2:]) == EtherTypeIPv4 && a[4] == 6 && a[5] == 4
}

// Op returns the operation (ARPRequest or ARPReply).
func (a ARP) Op() uint16 { return binary.BigEndian.Uint16(a[6:]) }

// SenderMAC returns the sender hardware address.
func (a ARP) SenderMAC() [6]byte { return [6]byte(a[8:14]) }

// SenderIP returns the sender protocol address.
func (a ARP) SenderIP() [4]byte { return [4]byte(a[14:18]) }

// TargetMAC returns the target hardware address.
func (a ARP) TargetMAC() [6]byte { return [6]byte(a[18:24]) }

// TargetIP returns the target protocol address.
func (a ARP) TargetIP() [4]byte { return [4]byte(a[24:28]) }

// PutARP writes a complete Ethernet+ARP frame into b (at least 42 bytes)
// and returns its length. Ethernet padding to 60 bytes is added when b has
// room, as some receivers expect minimum-size frames.
func PutARP(b []byte, ethDst, ethSrc [6]byte, op uint16, sha [6]byte, spa [4]byte, tha [6]byte, tpa [4]byte) int {
	e := Ethernet(b)
	e.SetDst(ethDst)
	e.SetSrc(ethSrc)
	binary.BigEndian.PutUint16(b[12:], EtherTypeARP)
	a := b[EthernetLen:]
	binary.BigEndian.PutUint16(a[0:], 1)
	binary.BigEndian.PutUint16(a[2:], EtherTypeIPv4)
	a[4], a[5] = 6, 4
	binary.BigEndian.PutUint16(a[6:], op)
	copy(a[8:14], sha[:])
	copy(a[14:18], spa[:])
	copy(a[18:24], tha[:])
	copy(a[24:28], tpa[:])
	n := EthernetLen + ARPLen
	if len(b) >= 60 {
		clear(b[n:60])
		n = 60
	}
	return n
}

// IPv4 is a view of an IPv4 header.
type IPv4 []byte

// HeaderLen returns the header length in bytes.
func (ip IPv4) HeaderLen() int { return int(ip[0]&0x0f) * 4 }

// TotalLen returns the total length field.
func (ip IPv4) TotalLen() int { return int(binary.BigEndian.Uint16(ip[2:])) }

// TTL returns the time to live.
func (ip IPv4) TTL() uint8 { return ip[8] }

// Protocol returns the protocol field.
func (ip IPv4) Protocol() uint8 { return ip[9] }

// Checksum returns the header checksum field.
func (ip IPv4) Checksum() uint16 { return binary.BigEndian.Uint16(ip[10:]) }

// Src returns the source address.
func (ip IPv4) Src() [4]byte { return [4]byte(ip[12:16]) }

// Dst returns the destination address.
func (ip IPv4) Dst() [4]byte { return [4]byte(ip[16:20]) }

// DF reports whether Don't Fragment is set.
func (ip IPv4) DF() bool { return ip[6]&0x40 != 0 }

// DecTTL decrements the TTL and updates the header checksum incrementally.
func (ip IPv4) DecTTL() {
	old := binary.BigEndian.Uint16(ip[8:])
	ip[8]--
	binary.BigEndian.PutUint16(ip[10:], Update16(ip.Checksum(), old, binary.BigEndian.Uint16(ip[8:])))
}

// SetChecksum computes and stores the header checksum.
func (ip IPv4) SetChecksum() {
	ip[10], ip[11] = 0, 0
	binary.BigEndian.PutUint16(ip[10:], Checksum(ip[:ip.HeaderLen()], 0))
}

// IPv6 is a view of an IPv6 header.
type IPv6 []byte

// HopLimit returns the hop limit.
func (ip IPv6) HopLimit() uint8 { return ip[7] }

// Src returns the source address.
func (ip IPv6) Src() [16]byte { return [16]byte(ip[8:24]) }

// Dst returns the destination address.
func (ip IPv6) Dst() [16]byte { return [16]byte(ip[24:40]) }

// Offsets of checksum fields within transport headers.
const (
	tcpCsumOff  = 16
	udpCsumOff  = 6
	sctpCsumOff = 8
)

// l4CsumOff returns where p's transport checksum lives, or -1 when the
// frame carries no transport header or its checksum does not cover the IP
// pseudo-header.
func l4CsumOff(p *Parsed) int {
	if p.L4 == 0 || p.Frag == FragLater {
		return -1
	}
	switch p.Proto {
	case ProtoTCP:
		return p.L4 + tcpCsumOff
	case ProtoUDP:
		return p.L4 + udpCsumOff
	case ProtoICMPv6:
		return p.L4 + 2
	}
	return -1
}

// RewriteAddrPort replaces the source (src=true) or destination address and
// port of the decoded IP packet in b, in place, keeping the IPv4 header and
// transport checksums valid by incremental update (RFC 1624). addr is in
// 16-byte key form; the port is only written for TCP, UDP and SCTP. p is
// updated to match. It does not allocate.
func RewriteAddrPort(b []byte, p *Parsed, src bool, addr [16]byte, port uint16) {
	var aoff int // offset of the address in the IP header
	var old, nw []byte
	cur := &p.Dst
	if src {
		cur = &p.Src
	}
	if p.IPv6 {
		aoff = p.L3 + 24
		if src {
			aoff = p.L3 + 8
		}
		old, nw = b[aoff:aoff+16], addr[:]
	} else {
		aoff = p.L3 + 16
		if src {
			aoff = p.L3 + 12
		}
		old, nw = b[aoff:aoff+4], addr[12:16]
		ip := IPv4(b[p.L3:])
		binary.BigEndian.PutUint16(ip[10:], UpdateBytes(ip.Checksum(), old, nw))
	}
	csum := l4CsumOff(p)
	switch {
	case csum >= 0:
		c := binary.BigEndian.Uint16(b[csum:])
		noCsum := p.Proto == ProtoUDP && c == 0 && !p.IPv6 // IPv4 UDP without checksum stays so
		c = UpdateBytes(c, old, nw)
		c = updatePort(b, p, src, port, c)
		if p.Proto == ProtoUDP && c == 0 {
			c = 0xffff
		}
		if !noCsum {
			binary.BigEndian.PutUint16(b[csum:], c)
		}
	case p.Proto == ProtoSCTP && p.L4 != 0 && p.Frag != FragLater:
		// SCTP's CRC32c does not cover addresses; a port change needs it recomputed.
		if setPort(b, p, src, port) {
			SetSCTPChecksum(b[p.L4:p.End])
		}
	}
	copy(old, nw)
	*cur = addr
}

func updatePort(b []byte, p *Parsed, src bool, port uint16, c uint16) uint16 {
	if p.Proto != ProtoTCP && p.Proto != ProtoUDP {
		return c
	}
	off := p.L4 + 2
	if src {
		off = p.L4
	}
	old := binary.BigEndian.Uint16(b[off:])
	if old == port {
		return c
	}
	binary.BigEndian.PutUint16(b[off:], port)
	if src {
		p.SPort = port
	} else {
		p.DPort = port
	}
	return Update16(c, old, port)
}

func setPort(b []byte, p *Parsed, src bool, port uint16) (changed bool) {
	off := p.L4 + 2
	if src {
		off = p.L4
		p.SPort = port
	} else {
		p.DPort = port
	}
	changed = binary.BigEndian.Uint16(b[off:]) != port
	binary.BigEndian.PutUint16(b[off:], port)
	return changed
}

// SetL4Checksum recomputes the TCP/UDP/ICMPv6 checksum of p in full (slow;
// for tests, generated packets and checksum completion).
func SetL4Checksum(b []byte, p *Parsed) {
	off := l4CsumOff(p)
	if off < 0 {
		if p.Proto == ProtoICMP && p.L4 != 0 {
			b[p.L4+2], b[p.L4+3] = 0, 0
			binary.BigEndian.PutUint16(b[p.L4+2:], Checksum(b[p.L4:p.End], 0))
		}
		return
	}
	b[off], b[off+1] = 0, 0
	var s uint32
	if p.IPv6 {
		s = PseudoSum(p.Src[:], p.Dst[:], p.Proto, p.End-p.L4)
	} else {
		s = PseudoSum(p.Src[12:], p.Dst[12:], p.Proto, p.End-p.L4)
	}
	c := Checksum(b[p.L4:p.End], s)
	if p.Proto == ProtoUDP && c == 0 {
		c = 0xffff
	}
	binary.BigEndian.PutUint16(b[off:], c)
}

// L4ChecksumOK verifies the transport checksum of p in full (slow; tests).
func L4ChecksumOK(b []byte, p *Parsed) bool {
	off := l4CsumOff(p)
	if off < 0 {
		return true
	}
	if p.Proto == ProtoUDP && !p.IPv6 && binary.BigEndian.Uint16(b[off:]) == 0 {
		return true
	}
	var s uint32
	if p.IPv6 {
		s = PseudoSum(p.Src[:], p.Dst[:], p.Proto, p.End-p.L4)
	} else {
		s = PseudoSum(p.Src[12:], p.Dst[12:], p.Proto, p.End-p.L4)
	}
	return Fold(Sum(b[p.L4:p.End], s)) == 0xffff
}
