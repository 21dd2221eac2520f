package forward

import (
	"encoding/binary"

	"github.com/gdirector/gdirector/header"
)

// Inner describes the packet quoted inside an ICMP error: where its
// headers are in the frame and the tuple it carries. The quote is usually
// truncated (an IP header and at least 8 bytes of transport header), so it
// is parsed leniently: only what is present is read.
type Inner struct {
	L3, L4   int // offsets in the frame
	IPv6     bool
	Proto    uint8
	Src, Dst [16]byte
	SPort    uint16
	DPort    uint16
}

// IsICMPError reports whether an ICMP (ICMPv6) type is an error message
// that quotes the packet it is about.
func IsICMPError(ipv6 bool, typ uint8) bool {
	if ipv6 {
		return typ >= 1 && typ <= 4 // unreachable, too big, time exceeded, parameter problem
	}
	switch typ {
	case 3, 4, 5, 11, 12: // unreachable, source quench, redirect, time exceeded, parameter problem
		return true
	}
	return false
}

// DecodeInner parses the packet quoted by the ICMP error in f (decoded in
// p). It needs the inner IP header and the 4 bytes of ports.
func DecodeInner(f []byte, p *header.Parsed, in *Inner) bool {
	off := p.L4 + 8
	if off >= p.End {
		return false
	}
	q := f[off:p.End]
	*in = Inner{L3: off}
	if p.IPv6 {
		if len(q) < header.IPv6Len+4 || q[0]>>4 != 6 {
			return false
		}
		in.IPv6 = true
		in.Proto = q[6]
		copy(in.Src[:], q[8:24])
		copy(in.Dst[:], q[24:40])
		in.L4 = off + header.IPv6Len
	} else {
		if len(q) < header.IPv4MinLen || q[0]>>4 != 4 {
			return false
		}
		ihl := int(q[0]&0x0f) * 4
		if ihl < header.IPv4MinLen || len(q) < ihl+4 || binary.BigEndian.Uint16(q[6:])&0x1fff != 0 {
			return false // no ports in a later fragment
		}
		in.Proto = q[9]
		header.PutAddr4(&in.Src, q[12:16])
		header.PutAddr4(&in.Dst, q[16:20])
		in.L4 = off + ihl
	}
	switch in.Proto {
	case header.ProtoTCP, header.ProtoUDP, header.ProtoSCTP:
	default:
		return false
	}
	in.SPort = binary.BigEndian.Uint16(f[in.L4:])
	in.DPort = binary.BigEndian.Uint16(f[in.L4+2:])
	return true
}

// RewriteInner changes the quoted packet's source (src=true) or
// destination address and port, keeping its IPv4 header checksum and, when
// the quote includes it, its transport checksum consistent, then
// recomputes the ICMP checksum over the whole message. The outer header is
// the caller's (header.RewriteAddrPort).
func RewriteInner(f []byte, p *header.Parsed, in *Inner, src bool, addr [16]byte, port uint16) {
	aoff, alen := in.L3+16, 4
	if in.IPv6 {
		aoff, alen = in.L3+24, 16
		if src {
			aoff = in.L3 + 8
		}
	} else if src {
		aoff = in.L3 + 12
	}
	old := make4or16(f[aoff:aoff+alen], alen)
	nw := addr[16-alen:]
	if !in.IPv6 {
		sum := binary.BigEndian.Uint16(f[in.L3+10:])
		binary.BigEndian.PutUint16(f[in.L3+10:], header.UpdateBytes(sum, old[:alen], nw))
	}
	poff := in.L4 + 2
	if src {
		poff = in.L4
	}
	oldPort := binary.BigEndian.Uint16(f[poff:])
	// The quoted transport checksum covers the (inner) pseudo-header and
	// ports; adjust it when it was quoted.
	csum := -1
	switch in.Proto {
	case header.ProtoTCP:
		csum = in.L4 + 16
	case header.ProtoUDP:
		csum = in.L4 + 6
	}
	if csum >= 0 && csum+2 <= p.End {
		c := binary.BigEndian.Uint16(f[csum:])
		if !(in.Proto == header.ProtoUDP && c == 0) {
			c = header.UpdateBytes(c, old[:alen], nw)
			c = header.Update16(c, oldPort, port)
			binary.BigEndian.PutUint16(f[csum:], c)
		}
	}
	copy(f[aoff:aoff+alen], nw)
	binary.BigEndian.PutUint16(f[poff:], port)
	if src {
		in.Src, in.SPort = addr, port
	} else {
		in.Dst, in.DPort = addr, port
	}
	header.SetL4Checksum(f, p)
}

// make4or16 copies an address so it survives the in-place write.
func make4or16(b []byte, n int) (out [16]byte) {
	copy(out[:n], b)
	return out
}
