// Package pkt builds Ethernet frames for tests: IPv4/IPv6 with TCP, UDP or
// ICMP, with correct checksums computed in full (the slow, obvious way), so
// that tests of in-place rewriting have an independent expectation.
package pkt

import (
	"encoding/binary"
	"net/netip"

	"github.com/gdirector/gdirector/header"
)

// Spec describes one frame.
type Spec struct {
	SrcMAC, DstMAC [6]byte
	VLAN           uint16 // 0 = untagged; else 802.1Q TCI
	Src, Dst       netip.Addr
	Proto          uint8 // header.ProtoTCP, ProtoUDP, ProtoICMP
	SPort, DPort   uint16
	TCPFlags       uint8
	Seq, Ack       uint32
	TTL            uint8 // default 64
	DF             bool
	ID             uint16
	Payload        []byte
	NoUDPCsum      bool // IPv4 UDP with a zero checksum
	ICMPType       uint8
	ICMPCode       uint8
	IPOptions      []byte // IPv4 options, padded to 4 bytes by the caller
}

// Build returns the frame.
func Build(s Spec) []byte {
	if s.TTL == 0 {
		s.TTL = 64
	}
	var l4 []byte
	switch s.Proto {
	case header.ProtoTCP:
		l4 = make([]byte, 20+len(s.Payload))
		binary.BigEndian.PutUint16(l4[0:], s.SPort)
		binary.BigEndian.PutUint16(l4[2:], s.DPort)
		binary.BigEndian.PutUint32(l4[4:], s.Seq)
		binary.BigEndian.PutUint32(l4[8:], s.Ack)
		l4[12] = 5 << 4
		l4[13] = s.TCPFlags
		binary.BigEndian.PutUint16(l4[14:], 65535)
		copy(l4[20:], s.Payload)
	case header.ProtoUDP:
		l4 = make([]byte, 8+len(s.Payload))
		binary.BigEndian.PutUint16(l4[0:], s.SPort)
		binary.BigEndian.PutUint16(l4[2:], s.DPort)
		binary.BigEndian.PutUint16(l4[4:], uint16(len(l4)))
		copy(l4[8:], s.Payload)
	case header.ProtoICMP, header.ProtoICMPv6:
		l4 = make([]byte, 8+len(s.Payload))
		l4[0], l4[1] = s.ICMPType, s.ICMPCode
		binary.BigEndian.PutUint16(l4[4:], s.SPort)
		copy(l4[8:], s.Payload)
	default:
		l4 = append([]byte(nil), s.Payload...)
	}
	var ip []byte
	if s.Src.Is4() {
		hl := 20 + len(s.IPOptions)
		ip = make([]byte, hl+len(l4))
		ip[0] = 0x40 | byte(hl/4)
		binary.BigEndian.PutUint16(ip[2:], uint16(len(ip)))
		binary.BigEndian.PutUint16(ip[4:], s.ID)
		if s.DF {
			ip[6] = 0x40
		}
		ip[8] = s.TTL
		ip[9] = s.Proto
		a, b := s.Src.As4(), s.Dst.As4()
		copy(ip[12:], a[:])
		copy(ip[16:], b[:])
		copy(ip[20:], s.IPOptions)
		binary.BigEndian.PutUint16(ip[10:], header.Checksum(ip[:hl], 0))
		copy(ip[hl:], l4)
		l4 = ip[hl:]
		ps := header.PseudoSum(a[:], b[:], s.Proto, len(l4))
		fillL4Csum(s, l4, ps)
	} else {
		ip = make([]byte, 40+len(l4))
		ip[0] = 0x60
		binary.BigEndian.PutUint16(ip[4:], uint16(len(l4)))
		ip[6] = s.Proto
		ip[7] = s.TTL
		a, b := s.Src.As16(), s.Dst.As16()
		copy(ip[8:], a[:])
		copy(ip[24:], b[:])
		copy(ip[40:], l4)
		l4 = ip[40:]
		ps := header.PseudoSum(a[:], b[:], s.Proto, len(l4))
		fillL4Csum(s, l4, ps)
	}
	et := header.EtherTypeIPv4
	if s.Src.Is6() {
		et = header.EtherTypeIPv6
	}
	hdr := 14
	if s.VLAN != 0 {
		hdr += 4
	}
	f := make([]byte, hdr+len(ip))
	copy(f[0:6], s.DstMAC[:])
	copy(f[6:12], s.SrcMAC[:])
	if s.VLAN != 0 {
		binary.BigEndian.PutUint16(f[12:], header.EtherTypeVLAN)
		binary.BigEndian.PutUint16(f[14:], s.VLAN)
		binary.BigEndian.PutUint16(f[16:], et)
	} else {
		binary.BigEndian.PutUint16(f[12:], et)
	}
	copy(f[hdr:], ip)
	return f
}

func fillL4Csum(s Spec, l4 []byte, pseudo uint32) {
	switch s.Proto {
	case header.ProtoTCP:
		binary.BigEndian.PutUint16(l4[16:], header.Checksum(l4, pseudo))
	case header.ProtoUDP:
		if s.NoUDPCsum && s.Src.Is4() {
			return
		}
		c := header.Checksum(l4, pseudo)
		if c == 0 {
			c = 0xffff
		}
		binary.BigEndian.PutUint16(l4[6:], c)
	case header.ProtoICMP:
		binary.BigEndian.PutUint16(l4[2:], header.Checksum(l4, 0))
	case header.ProtoICMPv6:
		binary.BigEndian.PutUint16(l4[2:], header.Checksum(l4, pseudo))
	}
}

// MAC returns a locally administered test MAC ending in n.
func MAC(n byte) [6]byte { return [6]byte{0x02, 0, 0, 0, 0, n} }
