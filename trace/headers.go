package trace

import (
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
)

// Headers are the headers of a captured frame, read leniently: the frame
// may be cut at SnapLen, so lengths are not checked against it.
type Headers struct {
	SrcMAC string   `json:"src_mac"`
	DstMAC string   `json:"dst_mac"`
	VLANs  []uint16 `json:"vlans,omitempty"`
	// EtherType of the payload (0x0800, 0x86dd, 0x0806, …).
	EtherType uint16     `json:"ethertype"`
	IPv6      bool       `json:"ipv6,omitempty"`
	Src       netip.Addr `json:"src,omitzero"`
	Dst       netip.Addr `json:"dst,omitzero"`
	Proto     uint8      `json:"proto,omitempty"`
	TTL       uint8      `json:"ttl,omitempty"`
	// Len is the IP packet's length as its header says.
	Len      int    `json:"len,omitempty"`
	SPort    uint16 `json:"sport,omitempty"`
	DPort    uint16 `json:"dport,omitempty"`
	TCPFlags uint8  `json:"tcp_flags,omitempty"`
	// TOA is the client address a TCP option 254 (FullNAT) carries.
	TOA *TOA `json:"toa,omitempty"`
	// Inner is the encapsulated packet of an IPIP or ip6ip6 packet.
	Inner *Headers `json:"inner,omitempty"`

	ip []byte // the IP packet as captured
}

// TOA is the TCP option address: the client's address and port.
type TOA struct {
	Addr netip.Addr `json:"addr"`
	Port uint16     `json:"port"`
}

// TOA option kind and lengths (DPVS's layout: kind, length, port, address).
const (
	toaKind  = 254
	toaLen4  = 8
	toaLen16 = 20
)

// ParseFrame reads the headers of an Ethernet frame; nil if it is too
// short for an Ethernet header.
func ParseFrame(b []byte) *Headers {
	if len(b) < 14 {
		return nil
	}
	h := &Headers{DstMAC: net.HardwareAddr(b[0:6]).String(), SrcMAC: net.HardwareAddr(b[6:12]).String()}
	off := 12
	et := binary.BigEndian.Uint16(b[off:])
	for (et == 0x8100 || et == 0x88a8) && len(b) >= off+6 {
		h.VLANs = append(h.VLANs, binary.BigEndian.Uint16(b[off+2:])&0x0fff)
		off += 4
		et = binary.BigEndian.Uint16(b[off:])
	}
	h.EtherType = et
	parseIP(b[off+2:], h)
	return h
}

// parseIP reads an IP packet into h (which has its layer-2 fields).
func parseIP(b []byte, h *Headers) {
	if len(b) < 1 {
		return
	}
	var l4 []byte
	switch b[0] >> 4 {
	case 4:
		if len(b) < 20 {
			return
		}
		ihl := int(b[0]&0x0f) * 4
		h.Src = netip.AddrFrom4([4]byte(b[12:16]))
		h.Dst = netip.AddrFrom4([4]byte(b[16:20]))
		h.Proto, h.TTL = b[9], b[8]
		h.Len = int(binary.BigEndian.Uint16(b[2:]))
		if binary.BigEndian.Uint16(b[6:])&0x1fff == 0 && ihl >= 20 && len(b) >= ihl {
			l4 = b[ihl:]
		}
	case 6:
		if len(b) < 40 {
			return
		}
		h.IPv6 = true
		h.Src = netip.AddrFrom16([16]byte(b[8:24]))
		h.Dst = netip.AddrFrom16([16]byte(b[24:40]))
		h.TTL = b[7]
		h.Len = 40 + int(binary.BigEndian.Uint16(b[4:]))
		next, off := b[6], 40
		for {
			switch next {
			case 0, 43, 60: // hop-by-hop, routing, destination options
				if len(b) < off+2 {
					h.Proto = next
					return
				}
				next, off = b[off], off+8+int(b[off+1])*8
				continue
			case 44: // fragment
				if len(b) < off+8 {
					h.Proto = next
					return
				}
				frag := binary.BigEndian.Uint16(b[off+2:])&0xfff8 != 0
				next, off = b[off], off+8
				if frag {
					h.Proto = next
					h.ip = b
					return
				}
				continue
			}
			break
		}
		h.Proto = next
		if off <= len(b) {
			l4 = b[off:]
		}
	default:
		return
	}
	h.ip = b
	switch h.Proto {
	case 4, 41: // IPIP, ip6ip6
		if l4 != nil {
			h.Inner = &Headers{SrcMAC: h.SrcMAC, DstMAC: h.DstMAC}
			parseIP(l4, h.Inner)
		}
	case 6, 17, 132: // TCP, UDP, SCTP
		if len(l4) >= 4 {
			h.SPort, h.DPort = binary.BigEndian.Uint16(l4), binary.BigEndian.Uint16(l4[2:])
		}
		if h.Proto == 6 && len(l4) >= 20 {
			h.TCPFlags = l4[13]
			h.TOA = findTOA(l4)
		}
	}
}

// findTOA looks for the TOA option among the TCP options.
func findTOA(tcp []byte) *TOA {
	end := min(int(tcp[12]>>4)*4, len(tcp))
	for i := 20; i < end; {
		switch tcp[i] {
		case 0:
			return nil
		case 1:
			i++
			continue
		}
		if i+1 >= end || tcp[i+1] < 2 {
			return nil
		}
		n := int(tcp[i+1])
		if tcp[i] == toaKind && i+n <= end {
			switch n {
			case toaLen4:
				return &TOA{Port: binary.BigEndian.Uint16(tcp[i+2:]), Addr: netip.AddrFrom4([4]byte(tcp[i+4 : i+8]))}
			case toaLen16:
				return &TOA{Port: binary.BigEndian.Uint16(tcp[i+2:]), Addr: netip.AddrFrom16([16]byte(tcp[i+4 : i+20]))}
			}
		}
		i += n
	}
	return nil
}

// hasPorts reports whether the protocol has ports.
func hasPorts(proto uint8) bool { return proto == 6 || proto == 17 || proto == 132 }

// endpoints renders "src:sport > dst:dport" (or addresses alone).
func (h *Headers) endpoints() string {
	if !h.Src.IsValid() {
		return "(not IP)"
	}
	if hasPorts(h.Proto) {
		return fmt.Sprintf("%s > %s", netip.AddrPortFrom(h.Src, h.SPort), netip.AddrPortFrom(h.Dst, h.DPort))
	}
	return fmt.Sprintf("%s > %s %s", h.Src, h.Dst, protoName(h.Proto))
}

func (h *Headers) macs() string { return h.SrcMAC + " > " + h.DstMAC }

// protoName names an IP protocol number as tcpdump would.
func protoName(p uint8) string {
	switch p {
	case 1:
		return "ICMP"
	case 4:
		return "IPIP"
	case 6:
		return "TCP"
	case 17:
		return "UDP"
	case 41:
		return "IPv6"
	case 58:
		return "ICMPv6"
	case 132:
		return "SCTP"
	}
	return fmt.Sprintf("proto %d", p)
}

// tcpFlags renders TCP flags as tcpdump does: [S], [S.], [P.], [F.], [R.]…
// TCPFlags renders TCP flags as gdirector trace prints them: "[S]",
// "[S.]", "[P.]", "[F.]", "[none]".
func TCPFlags(f uint8) string { return tcpFlags(f) }

func tcpFlags(f uint8) string {
	s := "["
	for _, x := range []struct {
		bit uint8
		c   byte
	}{{0x02, 'S'}, {0x01, 'F'}, {0x04, 'R'}, {0x08, 'P'}, {0x20, 'U'}, {0x40, 'E'}, {0x80, 'W'}} {
		if f&x.bit != 0 {
			s += string(x.c)
		}
	}
	if f&0x10 != 0 {
		s += "."
	}
	if s == "[" {
		s += "none"
	}
	return s + "]"
}
