package realserver

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"strings"
	"sync/atomic"
)

// IP protocol numbers of the two encapsulations.
const (
	protoIPIP = 4  // IPv4 inside (IPPROTO_IPIP)
	protoIPv6 = 41 // IPv6 inside (IPPROTO_IPV6)
)

// DropReason says why a tunnelled packet was not decapsulated.
type DropReason uint8

// Drop reasons; dropNone means the packet was decapsulated.
const (
	dropNone DropReason = iota
	// DropTruncated: shorter than its headers or lengths say, or cut by
	// the receive buffer.
	DropTruncated
	// DropBadOuter: the outer IPv4 header is malformed (version, IHL) or
	// carries another protocol.
	DropBadOuter
	// DropNotLocal: the outer destination is not an address of this host.
	DropNotLocal
	// DropNotDirector: the outer source is not in TunOptions.Directors.
	DropNotDirector
	// DropBadInner: the inner header is malformed, or its version does not
	// match the outer protocol number, or it is an IPv6 jumbogram.
	DropBadInner
	// DropNotVIP: the inner destination is not one of the VIPs.
	DropNotVIP
	// DropECN: outer CE over a not-ECN-capable inner packet (RFC 6040).
	DropECN
	// DropWrite: writing to the TUN device failed.
	DropWrite
	numDropReasons
)

var dropNames = [numDropReasons]string{
	dropNone:        "none",
	DropTruncated:   "truncated",
	DropBadOuter:    "bad-outer",
	DropNotLocal:    "not-local",
	DropNotDirector: "not-director",
	DropBadInner:    "bad-inner",
	DropNotVIP:      "not-vip",
	DropECN:         "ecn",
	DropWrite:       "write-error",
}

func (r DropReason) String() string {
	if r < numDropReasons {
		return dropNames[r]
	}
	return fmt.Sprintf("DropReason(%d)", uint8(r))
}

// TunStats counts what RunTun did. The counters may be read while it runs.
type TunStats struct {
	Received     atomic.Uint64 // tunnelled packets read from the raw sockets
	Decapsulated atomic.Uint64 // inner packets handed to the TUN device
	Bytes        atomic.Uint64 // bytes of those inner packets
	// Coalesced counts the inner TCP segments written as part of a
	// merged (GSO) packet, GSOPackets those packets (see gro.go).
	Coalesced, GSOPackets atomic.Uint64
	drops                 [numDropReasons]atomic.Uint64
}

// Dropped returns the count for one reason.
func (s *TunStats) Dropped(r DropReason) uint64 {
	if r >= numDropReasons {
		return 0
	}
	return s.drops[r].Load()
}

// DroppedTotal returns the sum of all drop counters.
func (s *TunStats) DroppedTotal() uint64 {
	var n uint64
	for r := DropReason(1); r < numDropReasons; r++ {
		n += s.drops[r].Load()
	}
	return n
}

func (s *TunStats) drop(r DropReason) { s.drops[r].Add(1) }

// String renders the counters on one line, drops by reason.
func (s *TunStats) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "received %d, decapsulated %d (%d bytes; %d TCP segments merged into %d packets), dropped %d",
		s.Received.Load(), s.Decapsulated.Load(), s.Bytes.Load(), s.Coalesced.Load(), s.GSOPackets.Load(), s.DroppedTotal())
	sep := " ("
	for r := DropReason(1); r < numDropReasons; r++ {
		if n := s.drops[r].Load(); n > 0 {
			fmt.Fprintf(&b, "%s%s %d", sep, r, n)
			sep = ", "
		}
	}
	if sep == ", " {
		b.WriteString(")")
	}
	return b.String()
}

// decapper holds what decapsulation checks against. It is used by one
// goroutine; the maps are replaced, never changed in place.
type decapper struct {
	vips      map[netip.Addr]struct{}
	local     map[netip.Addr]struct{}
	directors []netip.Prefix // empty: any source
}

func newDecapper(vips []netip.Addr, directors []netip.Prefix) *decapper {
	d := &decapper{vips: make(map[netip.Addr]struct{}, len(vips)), directors: directors}
	for _, v := range vips {
		d.vips[v.Unmap()] = struct{}{}
	}
	return d
}

func (d *decapper) fromDirector(src netip.Addr) bool {
	if len(d.directors) == 0 {
		return true
	}
	for _, p := range d.directors {
		if p.Contains(src) {
			return true
		}
	}
	return false
}

// fromIPv4 decapsulates a packet read from an AF_INET raw socket: the whole
// outer IPv4 header (options included) followed by the inner packet. It
// returns the inner packet, a subslice of pkt that may have been edited in
// place (ECN), or the reason to drop it.
func (d *decapper) fromIPv4(pkt []byte) ([]byte, DropReason) {
	if len(pkt) < 20 {
		return nil, DropTruncated
	}
	if pkt[0]>>4 != 4 {
		return nil, DropBadOuter
	}
	ihl := int(pkt[0]&0x0f) * 4
	if ihl < 20 {
		return nil, DropBadOuter
	}
	total := int(binary.BigEndian.Uint16(pkt[2:4]))
	if total < ihl {
		return nil, DropBadOuter
	}
	if len(pkt) < ihl || len(pkt) < total {
		return nil, DropTruncated
	}
	proto := pkt[9]
	if proto != protoIPIP && proto != protoIPv6 {
		return nil, DropBadOuter
	}
	src := netip.AddrFrom4([4]byte(pkt[12:16]))
	dst := netip.AddrFrom4([4]byte(pkt[16:20]))
	return d.inner(pkt[ihl:total], src, dst, proto, pkt[1]&3)
}

// fromIPv6 decapsulates the payload of an AF_INET6 raw socket, which is the
// inner packet; src and dst are the outer addresses, proto the socket's
// protocol (the outer next header) and tclass the outer traffic class (for
// ECN; pass 0 when unknown).
func (d *decapper) fromIPv6(payload []byte, src, dst netip.Addr, proto, tclass uint8) ([]byte, DropReason) {
	return d.inner(payload, src.Unmap(), dst.Unmap(), proto, tclass&3)
}

// inner checks the outer addresses and the inner packet, trims link padding
// off it and applies the outer ECN mark.
func (d *decapper) inner(in []byte, src, dst netip.Addr, proto, outerECN uint8) ([]byte, DropReason) {
	if _, ok := d.local[dst]; !ok {
		return nil, DropNotLocal
	}
	if !d.fromDirector(src) {
		return nil, DropNotDirector
	}
	var idst netip.Addr
	switch proto {
	case protoIPIP:
		if len(in) < 20 {
			return nil, DropTruncated
		}
		ihl := int(in[0]&0x0f) * 4
		if in[0]>>4 != 4 || ihl < 20 {
			return nil, DropBadInner
		}
		total := int(binary.BigEndian.Uint16(in[2:4]))
		if total < ihl {
			return nil, DropBadInner
		}
		if len(in) < total || len(in) < ihl {
			return nil, DropTruncated
		}
		in = in[:total]
		idst = netip.AddrFrom4([4]byte(in[16:20]))
	case protoIPv6:
		if len(in) < 40 {
			return nil, DropTruncated
		}
		if in[0]>>4 != 6 {
			return nil, DropBadInner
		}
		plen := int(binary.BigEndian.Uint16(in[4:6]))
		if plen == 0 {
			return nil, DropBadInner // jumbogram (or nonsense): not here
		}
		if len(in) < 40+plen {
			return nil, DropTruncated
		}
		in = in[:40+plen]
		idst = netip.AddrFrom16([16]byte(in[24:40]))
	default:
		return nil, DropBadOuter
	}
	if _, ok := d.vips[idst]; !ok {
		return nil, DropNotVIP
	}
	if outerECN == 3 && !decapECN(in, proto) {
		return nil, DropECN
	}
	return in, dropNone
}

// decapECN applies an outer CE mark to the inner packet as RFC 6040 says:
// an ECN-capable inner packet becomes CE, a CE one stays, a not-ECT one must
// be dropped (false).
func decapECN(in []byte, proto uint8) bool {
	if proto == protoIPIP {
		switch in[1] & 3 {
		case 0:
			return false
		case 3:
			return true
		}
		old := binary.BigEndian.Uint16(in[0:2])
		in[1] |= 3
		// RFC 1624 incremental update of the header checksum: the only
		// changed 16-bit word is the first one.
		sum := uint32(^binary.BigEndian.Uint16(in[10:12])) + uint32(^old) + uint32(binary.BigEndian.Uint16(in[0:2]))
		sum = (sum & 0xffff) + sum>>16
		sum = (sum & 0xffff) + sum>>16
		binary.BigEndian.PutUint16(in[10:12], ^uint16(sum))
		return true
	}
	// IPv6: the traffic class is the low nibble of byte 0 and the high
	// nibble of byte 1; ECN is its two low bits, (in[1]>>4)&3.
	switch (in[1] >> 4) & 3 {
	case 0:
		return false
	case 3:
		return true
	}
	in[1] |= 3 << 4
	return true
}
