package header

import (
	"encoding/binary"
	"net/netip"
)

// EtherTypes the director understands.
const (
	EtherTypeIPv4 uint16 = 0x0800
	EtherTypeARP  uint16 = 0x0806
	EtherTypeVLAN uint16 = 0x8100
	EtherTypeQinQ uint16 = 0x88a8
	EtherTypeIPv6 uint16 = 0x86dd
)

// IP protocol numbers.
const (
	ProtoICMP   uint8 = 1
	ProtoIPIP   uint8 = 4
	ProtoTCP    uint8 = 6
	ProtoUDP    uint8 = 17
	ProtoIPv6   uint8 = 41
	ProtoICMPv6 uint8 = 58
	ProtoSCTP   uint8 = 132
)

// TCP flag bits as they appear in byte 13 of the TCP header.
const (
	TCPFin uint8 = 0x01
	TCPSyn uint8 = 0x02
	TCPRst uint8 = 0x04
	TCPPsh uint8 = 0x08
	TCPAck uint8 = 0x10
)

// Lengths of fixed headers.
const (
	EthernetLen = 14
	VLANLen     = 4
	ARPLen      = 28
	IPv4MinLen  = 20
	IPv6Len     = 40
	TCPMinLen   = 20
	UDPLen      = 8
	ICMPLen     = 8
)

// Fragment positions reported in Parsed.Frag.
const (
	FragNone  uint8 = iota // not a fragment
	FragFirst              // offset 0 with more fragments: has the L4 header
	FragLater              // offset > 0: no L4 header
)

// Status is the outcome of Decode. Anything but OK names why a frame was
// refused, so the data plane can count drops by reason.
type Status uint8

// Decode outcomes.
const (
	OK            Status = iota
	ErrShort             // frame shorter than a header claims
	ErrEtherType         // not IPv4, IPv6 or ARP
	ErrIPVersion         // version field disagrees with EtherType
	ErrIPHeader          // IHL or total length invalid
	ErrIPChecksum        // IPv4 header checksum wrong
	ErrL4Header          // transport header truncated or invalid
	ErrExtHeaders        // too many or malformed IPv6 extension headers
	numStatus
)

var statusNames = [...]string{
	OK: "ok", ErrShort: "short", ErrEtherType: "ethertype", ErrIPVersion: "ip_version",
	ErrIPHeader: "ip_header", ErrIPChecksum: "ip_checksum", ErrL4Header: "l4_header",
	ErrExtHeaders: "ipv6_ext_headers",
}

// String returns a short name for counters and traces.
func (s Status) String() string {
	if int(s) < len(statusNames) {
		return statusNames[s]
	}
	return "unknown"
}

// Parsed describes a decoded frame: offsets into the frame and the values the
// data plane keys and schedules on. Addresses are 16 bytes, IPv4 in
// IPv4-mapped form. Decode fills every field, so a Parsed can be reused.
type Parsed struct {
	EtherType uint16 // of the payload (after any VLAN tag)
	VLANs     uint8  // number of 802.1Q/802.1ad tags
	L3        int    // offset of the ARP/IP header
	L4        int    // offset of the transport header (0 for ARP, later fragments)
	Payload   int    // offset of the transport payload
	End       int    // end of the IP packet (frames may carry Ethernet padding)
	IPv6      bool
	Proto     uint8 // transport protocol (after IPv6 extension headers)
	TTL       uint8 // IPv4 TTL or IPv6 hop limit
	Frag      uint8 // FragNone, FragFirst, FragLater
	TCPFlags  uint8
	ICMPType  uint8
	ICMPCode  uint8
	Src, Dst  [16]byte
	SPort     uint16 // source port, or ICMP echo identifier
	DPort     uint16 // destination port, or ICMP echo identifier
}

var v4Prefix = [12]byte{10: 0xff, 11: 0xff}

// PutAddr4 stores a 4-byte address in 16-byte key form.
func PutAddr4(dst *[16]byte, a []byte) {
	*dst = [16]byte{10: 0xff, 11: 0xff, 12: a[0], 13: a[1], 14: a[2], 15: a[3]}
}

// Is4 reports whether a 16-byte key address is IPv4-mapped.
func Is4(a *[16]byte) bool { return [12]byte(a[:12]) == v4Prefix }

// Decode parses the Ethernet frame b into p without allocating. It checks
// lengths and the IPv4 header checksum but not transport checksums.
func Decode(b []byte, p *Parsed) Status {
	*p = Parsed{}
	if len(b) < EthernetLen {
		return ErrShort
	}
	off := 12
	et := binary.BigEndian.Uint16(b[off:])
	for et == EtherTypeVLAN || et == EtherTypeQinQ {
		if p.VLANs == 2 {
			return ErrEtherType
		}
		p.VLANs++
		off += VLANLen
		if len(b) < off+2 {
			return ErrShort
		}
		et = binary.BigEndian.Uint16(b[off:])
	}
	off += 2
	p.EtherType = et
	p.L3 = off
	switch et {
	case EtherTypeARP:
		if len(b) < off+ARPLen {
			return ErrShort
		}
		p.End = off + ARPLen
		return OK
	case EtherTypeIPv4:
		return decodeIPv4(b, off, p)
	case EtherTypeIPv6:
		return decodeIPv6(b, off, p)
	}
	return ErrEtherType
}

func decodeIPv4(b []byte, off int, p *Parsed) Status {
	if len(b) < off+IPv4MinLen {
		return ErrShort
	}
	ip := b[off:]
	if ip[0]>>4 != 4 {
		return ErrIPVersion
	}
	ihl := int(ip[0]&0x0f) * 4
	total := int(binary.BigEndian.Uint16(ip[2:]))
	if ihl < IPv4MinLen || total < ihl {
		return ErrIPHeader
	}
	if len(ip) < total {
		return ErrShort
	}
	if Checksum(ip[:ihl], 0) != 0 {
		return ErrIPChecksum
	}
	p.End = off + total
	p.TTL = ip[8]
	p.Proto = ip[9]
	PutAddr4(&p.Src, ip[12:16])
	PutAddr4(&p.Dst, ip[16:20])
	fragOff := binary.BigEndian.Uint16(ip[6:]) & 0x1fff
	more := ip[6]&0x20 != 0
	switch {
	case fragOff != 0:
		p.Frag = FragLater
		return OK
	case more:
		p.Frag = FragFirst
	}
	return decodeL4(b, off+ihl, p)
}

// IPv6 extension headers Decode walks over.
const (
	ext6HopByHop = 0
	ext6Routing  = 43
	ext6Fragment = 44
	ext6DestOpts = 60
	ext6NoNext   = 59
	maxExt6      = 8
)

func decodeIPv6(b []byte, off int, p *Parsed) Status {
	if len(b) < off+IPv6Len {
		return ErrShort
	}
	ip := b[off:]
	if ip[0]>>4 != 6 {
		return ErrIPVersion
	}
	plen := int(binary.BigEndian.Uint16(ip[4:]))
	if len(ip) < IPv6Len+plen {
		return ErrShort
	}
	p.IPv6 = true
	p.End = off + IPv6Len + plen
	p.TTL = ip[7]
	copy(p.Src[:], ip[8:24])
	copy(p.Dst[:], ip[24:40])
	next := ip[6]
	pos := off + IPv6Len
	for i := 0; ; i++ {
		switch next {
		case ext6HopByHop, ext6Routing, ext6DestOpts:
			if i == maxExt6 || p.End < pos+8 {
				return ErrExtHeaders
			}
			next = b[pos]
			pos += (int(b[pos+1]) + 1) * 8
		case ext6Fragment:
			if i == maxExt6 || p.End < pos+8 {
				return ErrExtHeaders
			}
			fo := binary.BigEndian.Uint16(b[pos+2:])
			next = b[pos]
			pos += 8
			if fo&0xfff8 != 0 {
				p.Proto = next
				p.Frag = FragLater
				return OK
			}
			if fo&1 != 0 {
				p.Frag = FragFirst
			}
		default:
			if pos > p.End {
				return ErrExtHeaders
			}
			p.Proto = next
			return decodeL4(b, pos, p)
		}
	}
}

func decodeL4(b []byte, off int, p *Parsed) Status {
	p.L4 = off
	l4 := b[off:p.End]
	switch p.Proto {
	case ProtoTCP:
		if len(l4) < TCPMinLen {
			return ErrL4Header
		}
		doff := int(l4[12]>>4) * 4
		if doff < TCPMinLen || doff > len(l4) {
			return ErrL4Header
		}
		p.SPort = binary.BigEndian.Uint16(l4)
		p.DPort = binary.BigEndian.Uint16(l4[2:])
		p.TCPFlags = l4[13]
		p.Payload = off + doff
	case ProtoUDP:
		if len(l4) < UDPLen {
			return ErrL4Header
		}
		ulen := int(binary.BigEndian.Uint16(l4[4:]))
		if ulen < UDPLen || ulen > len(l4) {
			if p.Frag == FragNone || ulen < UDPLen {
				return ErrL4Header
			}
		}
		p.SPort = binary.BigEndian.Uint16(l4)
		p.DPort = binary.BigEndian.Uint16(l4[2:])
		p.Payload = off + UDPLen
	case ProtoSCTP:
		if len(l4) < 12 {
			return ErrL4Header
		}
		p.SPort = binary.BigEndian.Uint16(l4)
		p.DPort = binary.BigEndian.Uint16(l4[2:])
		p.Payload = off + 12
	case ProtoICMP, ProtoICMPv6:
		if len(l4) < ICMPLen {
			return ErrL4Header
		}
		p.ICMPType = l4[0]
		p.ICMPCode = l4[1]
		id := binary.BigEndian.Uint16(l4[4:])
		p.SPort, p.DPort = id, id
		p.Payload = off + ICMPLen
	default:
		p.Payload = off
	}
	return OK
}

// AddrFrom16 converts a 16-byte key address to netip.Addr (unmapping IPv4).
func AddrFrom16(a [16]byte) netip.Addr { return netip.AddrFrom16(a).Unmap() }
