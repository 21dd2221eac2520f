package realserver

import (
	"bytes"
	"encoding/binary"
	"errors"

	"github.com/gdirector/gdirector/header"
)

// Receive offload for the TUN device.
//
// Without it every decapsulated segment of a bulk TCP transfer is one
// write(2) and one trip through the real server's IP and TCP receive path:
// a kernel tunnel device would have had GRO merge them first. The TUN
// device is therefore opened with IFF_VNET_HDR, and consecutive segments
// of one TCP flow within a batch are merged here into one GSO packet (a
// virtio_net_hdr with gso_type TCPV4/TCPV6 and the segment size, the
// checksum left partial for the stack), which the kernel takes as GRO's
// output would be. The rules are those of the kernel's TCP GRO: same
// addresses, ports, IP header fields (TOS/traffic class, TTL/hop limit,
// DF), TCP header length and options byte for byte, acknowledgment and
// window; sequence numbers following on; only ACK (and PSH, which ends a
// run) among the flags; every segment the size of the first but the last,
// which may be shorter and ends the run; at most 64 KiB. Each segment's
// TCP checksum is verified before it is merged (the merged packet's is
// left to the stack to trust), so a corrupted segment goes on alone and
// the kernel drops it as it would have.

// vnetHdrLen is the size of struct virtio_net_hdr, in front of every
// packet written to (and read from) a TUN device with IFF_VNET_HDR.
const vnetHdrLen = 10

// virtio_net_hdr values.
const (
	vnetNeedsCsum = 1 // flags: the checksum at csum_start+csum_offset is partial
	vnetGSOTCPv4  = 1 // gso_type
	vnetGSOTCPv6  = 4
)

// TCP flags.
const (
	tcpFIN = 0x01
	tcpSYN = 0x02
	tcpRST = 0x04
	tcpPSH = 0x08
	tcpACK = 0x10
)

// maxGSOLen is the largest IP packet a merge may produce.
const maxGSOLen = 65535

// segment is an inner packet seen as a TCP segment that could be merged.
type segment struct {
	ipLen, tcpLen int // header lengths
	payload       int // bytes of TCP payload
	seq           uint32
	flags         uint8
	v6            bool
}

// parseSegment reports whether the inner IP packet p is a TCP segment with
// data that the merge rules allow (no IP options or fragments, no IPv6
// extension headers, only ACK and PSH set), and describes it.
func parseSegment(p []byte) (s segment, ok bool) {
	if len(p) < 1 {
		return s, false
	}
	switch p[0] >> 4 {
	case 4:
		if len(p) < 20 || p[0]&0x0f != 5 || p[9] != 6 || int(binary.BigEndian.Uint16(p[2:])) != len(p) ||
			binary.BigEndian.Uint16(p[6:])&0x3fff != 0 { // MF or an offset: a fragment
			return s, false
		}
		s.ipLen = 20
	case 6:
		if len(p) < 40 || p[6] != 6 || int(binary.BigEndian.Uint16(p[4:]))+40 != len(p) {
			return s, false
		}
		s.ipLen, s.v6 = 40, true
	default:
		return s, false
	}
	t := p[s.ipLen:]
	if len(t) < 20 {
		return s, false
	}
	s.tcpLen = int(t[12]>>4) * 4
	s.flags = t[13]
	if s.tcpLen < 20 || s.tcpLen > len(t) || t[12]&0x0f != 0 || s.flags&^(tcpACK|tcpPSH) != 0 || s.flags&tcpACK == 0 {
		return s, false
	}
	s.payload = len(t) - s.tcpLen
	s.seq = binary.BigEndian.Uint32(t[4:])
	return s, s.payload > 0
}

// tcpChecksumOK verifies the TCP checksum of segment s of packet p.
func tcpChecksumOK(p []byte, s *segment) bool {
	var sum uint32
	if s.v6 {
		sum = header.PseudoSum(p[8:24], p[24:40], 6, len(p)-s.ipLen)
	} else {
		sum = header.PseudoSum(p[12:16], p[16:20], 6, len(p)-s.ipLen)
	}
	return header.Fold(header.Sum(p[s.ipLen:], sum)) == 0xffff
}

// mergeable reports whether segment s of packet p may follow the run
// whose first packet's headers are head (first segment f) and whose next
// sequence number is next.
func mergeable(head []byte, f *segment, next uint32, p []byte, s *segment) bool {
	if s.v6 != f.v6 || s.ipLen != f.ipLen || s.tcpLen != f.tcpLen || s.seq != next || s.payload > f.payload {
		return false
	}
	if s.v6 {
		// Version, traffic class, flow label; next header, hop limit;
		// addresses.
		if !bytes.Equal(head[:4], p[:4]) || !bytes.Equal(head[6:40], p[6:40]) {
			return false
		}
	} else {
		// TOS; DF (no fragments here); TTL, protocol; addresses.
		if head[1] != p[1] || head[6] != p[6] || !bytes.Equal(head[8:10], p[8:10]) || !bytes.Equal(head[12:20], p[12:20]) {
			return false
		}
	}
	ht, pt := head[f.ipLen:f.ipLen+f.tcpLen], p[s.ipLen:s.ipLen+s.tcpLen]
	// Ports; acknowledgment; data offset; window; options. The flags
	// (byte 13) may differ by PSH only, which parseSegment ensures.
	return bytes.Equal(ht[0:4], pt[0:4]) && bytes.Equal(ht[8:13], pt[8:13]) && bytes.Equal(ht[14:16], pt[14:16]) &&
		bytes.Equal(ht[20:], pt[20:])
}

// coalescer merges runs of segments and hands each packet to write with
// its virtio_net_hdr in front. It is used by one goroutine and does not
// allocate once made.
type coalescer struct {
	write func(b []byte) error
	// buf holds the pending run: virtio header, the first packet's
	// headers, the payloads.
	buf  []byte
	n    int // segments in buf (0: no run)
	f    segment
	next uint32 // sequence number the next segment must have
	// Merged counts segments written as part of a merged packet, GSO
	// those packets.
	merged, gso uint64
}

func newCoalescer(write func([]byte) error) *coalescer {
	return &coalescer{write: write, buf: make([]byte, 0, vnetHdrLen+maxGSOLen)}
}

// add takes one inner packet; it may be written now or later (flush).
// The error is a write's: of p, or of the run p ended.
func (c *coalescer) add(p []byte) error {
	s, ok := parseSegment(p)
	ok = ok && tcpChecksumOK(p, &s) // a candidate, to merge or to start a run
	if ok && c.n > 0 && len(c.buf)-vnetHdrLen+s.payload <= maxGSOLen && mergeable(c.buf[vnetHdrLen:], &c.f, c.next, p, &s) {
		c.buf = append(c.buf, p[s.ipLen+s.tcpLen:]...)
		c.buf[vnetHdrLen+c.f.ipLen+13] |= s.flags & tcpPSH
		c.n++
		c.next += uint32(s.payload)
		if s.payload < c.f.payload || s.flags&tcpPSH != 0 {
			return c.flush() // a short segment or PSH ends the run
		}
		return nil
	}
	err := c.flush()
	if ok {
		// The first of a possible run.
		c.buf = append(c.buf[:vnetHdrLen], p...)
		c.n, c.f, c.next = 1, s, s.seq+uint32(s.payload)
		if s.flags&tcpPSH != 0 {
			return errors.Join(err, c.flush())
		}
		return err
	}
	// Not a candidate: alone, with an empty header.
	c.buf = append(c.buf[:0], make([]byte, vnetHdrLen)...)
	c.buf = append(c.buf, p...)
	return errors.Join(err, c.writeBuf())
}

// flush writes the pending run, if any: one segment as it is, several as
// one GSO packet.
func (c *coalescer) flush() error {
	if c.n == 0 {
		return nil
	}
	h := c.buf[:vnetHdrLen]
	clear(h)
	if c.n > 1 {
		p := c.buf[vnetHdrLen:]
		f := &c.f
		if f.v6 {
			binary.BigEndian.PutUint16(p[4:], uint16(len(p)-40))
		} else {
			binary.BigEndian.PutUint16(p[2:], uint16(len(p)))
			p[10], p[11] = 0, 0
			binary.BigEndian.PutUint16(p[10:], header.Checksum(p[:20], 0))
		}
		// The TCP checksum field holds the pseudo-header's sum, not
		// complemented: the stack completes it if it ever needs it.
		var sum uint32
		if f.v6 {
			sum = header.PseudoSum(p[8:24], p[24:40], 6, len(p)-f.ipLen)
		} else {
			sum = header.PseudoSum(p[12:16], p[16:20], 6, len(p)-f.ipLen)
		}
		binary.BigEndian.PutUint16(p[f.ipLen+16:], header.Fold(sum))
		h[0] = vnetNeedsCsum
		h[1] = vnetGSOTCPv4
		if f.v6 {
			h[1] = vnetGSOTCPv6
		}
		binary.NativeEndian.PutUint16(h[2:], uint16(f.ipLen+f.tcpLen)) // hdr_len
		binary.NativeEndian.PutUint16(h[4:], uint16(f.payload))        // gso_size
		binary.NativeEndian.PutUint16(h[6:], uint16(f.ipLen))          // csum_start
		binary.NativeEndian.PutUint16(h[8:], 16)                       // csum_offset
		c.merged += uint64(c.n)
		c.gso++
	}
	c.n = 0
	return c.writeBuf()
}

func (c *coalescer) writeBuf() error {
	err := c.write(c.buf)
	c.buf = c.buf[:0]
	return err
}
