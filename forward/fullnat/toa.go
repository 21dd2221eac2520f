package fullnat

import (
	"encoding/binary"

	"github.com/gdirector/gdirector/conntrack"
	"github.com/gdirector/gdirector/header"
)

// TOA (TCP Option Address) as DPVS and toa.ko define it: option kind 254,
// then the client's port and address in network order.
const (
	TOAKind = 254
	TOALen4 = 8  // kind, length, port, IPv4 address
	TOALen6 = 20 // kind, length, port, IPv6 address
)

// TCP option kinds walked here.
const (
	optEOL = 0
	optNOP = 1
	optMSS = 2

	maxTCPHeader = 60
)

// WantTOA reports whether a client→real-server TCP packet should carry
// TOA: a packet with ACK and without SYN or RST while the connection is in
// SYN_RECV, st being its state before the packet is accounted
// (conntrack.Conn.State before Update). That is the last packet of the
// three-way handshake, from which the real server's kernel creates the
// connected socket, and the only packet toa.ko reads.
func WantTOA(tcpFlags uint8, st conntrack.State) bool {
	return tcpFlags&(header.TCPAck|header.TCPSyn|header.TCPRst) == header.TCPAck && st == conntrack.StateSynRecv
}

// TOALen returns the length of the TOA option for a client address.
func TOALen(caddr [16]byte) int {
	if header.Is4(&caddr) {
		return TOALen4
	}
	return TOALen6
}

// keepOptions copies the TCP options of src into dst, leaving out TOA
// options (a client's own, which must not reach the real server) and,
// with dropNOP, NOP padding; it stops at EOL. It returns the length
// written and whether a TOA was left out, or n = -1 when the options are
// malformed (a length below 2 or past the end), which leaves the packet
// alone. dst must hold len(src) bytes.
func keepOptions(dst, src []byte, dropNOP bool) (n int, hadTOA bool) {
	for i := 0; i < len(src); {
		switch src[i] {
		case optEOL:
			return n, hadTOA
		case optNOP:
			if !dropNOP {
				dst[n] = optNOP
				n++
			}
			i++
			continue
		}
		if i+1 >= len(src) {
			return -1, false
		}
		l := int(src[i+1])
		if l < 2 || i+l > len(src) {
			return -1, false
		}
		if src[i] == TOAKind {
			hadTOA = true
		} else {
			n += copy(dst[n:], src[i:i+l])
		}
		i += l
	}
	return n, hadTOA
}

// blankTOA overwrites every TOA option of opts with NOPs, in place, and
// reports whether there was one. opts must be well formed.
func blankTOA(opts []byte) bool {
	found := false
	for i := 0; i < len(opts); {
		switch opts[i] {
		case optEOL:
			return found
		case optNOP:
			i++
			continue
		}
		l := int(opts[i+1])
		if opts[i] == TOAKind {
			for j := i; j < i+l; j++ {
				opts[j] = optNOP
			}
			found = true
		}
		i += l
	}
	return found
}

// blank overwrites the TOA options in opts, the well-formed options of
// the TCP header tcp, with NOPs and updates the checksum.
func blank(tcp, opts []byte) {
	before := header.Sum(opts, 0)
	blankTOA(opts)
	c := binary.BigEndian.Uint16(tcp[16:])
	binary.BigEndian.PutUint16(tcp[16:], adjust(c, before, header.Sum(opts, 0), 0, 0))
}

// StripTOA overwrites with NOPs, in place, any TOA option in the TCP
// packet decoded in b and p, updating the checksum, and reports whether it
// found one. The data plane applies it to the client's packets that do
// not get InsertTOA, so that no TOA a client wrote reaches a real server
// (toa.ko would believe it if the packet completed the handshake).
// Malformed options are left alone. It does not allocate.
func StripTOA(b []byte, p *header.Parsed) bool {
	if p.Proto != header.ProtoTCP || p.L4 == 0 || p.Frag == header.FragLater {
		return false
	}
	tcp := b[p.L4:p.End]
	thl := int(tcp[12]>>4) * 4
	if thl <= header.TCPMinLen || thl > len(tcp) {
		return false
	}
	opts := tcp[header.TCPMinLen:thl]
	var scratch [40]byte
	if n, had := keepOptions(scratch[:], opts, true); n < 0 || !had {
		return false
	}
	blank(tcp, opts)
	return true
}

// sumExceptCsum is the one's-complement sum of a TCP header without its
// checksum field.
func sumExceptCsum(tcp []byte) uint32 {
	return header.Sum(tcp[18:], header.Sum(tcp[:16], 0))
}

// adjust returns checksum c after a change that took oldSum out of the
// summed data and put newSum in, and changed a 16-bit length word from
// oldLen to newLen (RFC 1624, HC' = ~(~HC + ~m + m')).
func adjust(c uint16, oldSum, newSum uint32, oldLen, newLen uint16) uint16 {
	s := uint32(^c) + uint32(^header.Fold(oldSum)) + uint32(header.Fold(newSum)) +
		uint32(^oldLen) + uint32(newLen)
	return ^header.Fold(s)
}

// fits reports whether a TCP header of optLen option bytes (instead of
// thl bytes in all) stays within 60 bytes, the IP packet within mtu and
// the frame within max bytes.
func fits(p *header.Parsed, thl, optLen, mtu, max int) bool {
	d := header.TCPMinLen + optLen - thl
	return header.TCPMinLen+optLen <= maxTCPHeader && p.End-p.L3+d <= mtu && p.End+d <= max
}

// InsertTOA puts the client's address caddr and port cport into the TCP
// packet decoded in p, as the first TCP option (toa.ko reads the first one
// it finds), growing the TCP header in place. The frame is buf[off:off+n]
// (p's offsets are relative to buf[off:]); it may grow up to len(buf).
// mtu is the egress link's IP MTU. On success it returns the frame's new
// length (Ethernet padding after the IP packet is not kept) and true, with
// the data offset, the IPv4 total length and header checksum or the IPv6
// payload length, the TCP checksum (incrementally: the payload moves by a
// multiple of 4 bytes, so its sum is unchanged) and p.Payload and p.End
// updated. The option is 8 bytes for an IPv4 client, 20 for IPv6.
//
// TOA options already in the packet were put there by the client, which
// must not choose the address the real server sees: they are removed. When
// the header (at most 60 bytes) or the MTU has no room even after also
// removing NOP padding, as DPVS's tcp_in_prune_options does first,
// InsertTOA leaves the options as they are except for any client TOA,
// which is overwritten with NOPs, and returns n and false: the packet goes
// on without TOA, and the real server sees the local address as its peer.
// Packets that are not TCP, fragments, frames whose options are malformed
// or that have no room in buf are left untouched (n, false).
//
// It does not allocate.
func InsertTOA(buf []byte, off, n int, p *header.Parsed, caddr [16]byte, cport uint16, mtu int) (newN int, ok bool) {
	if p.Proto != header.ProtoTCP || p.L4 == 0 || p.Frag != header.FragNone ||
		off < 0 || off > len(buf) || n < p.End || n > len(buf)-off {
		return n, false
	}
	f := buf[off:]
	tcp := f[p.L4:p.End]
	thl := int(tcp[12]>>4) * 4
	if thl < header.TCPMinLen || thl > len(tcp) {
		return n, false
	}
	toaLen := TOALen(caddr)
	var opts [64]byte
	opts[0], opts[1] = TOAKind, byte(toaLen)
	binary.BigEndian.PutUint16(opts[2:], cport)
	if toaLen == TOALen4 {
		copy(opts[4:8], caddr[12:16])
	} else {
		copy(opts[4:20], caddr[:])
	}
	old := tcp[header.TCPMinLen:thl]
	kept, hadTOA := keepOptions(opts[toaLen:], old, false)
	if kept < 0 {
		return n, false
	}
	optLen := (toaLen + kept + 3) &^ 3
	if !fits(p, thl, optLen, mtu, len(f)) {
		kept, _ = keepOptions(opts[toaLen:], old, true)
		optLen = (toaLen + kept + 3) &^ 3
	}
	if !fits(p, thl, optLen, mtu, len(f)) {
		if hadTOA {
			blank(tcp, old)
		}
		return n, false
	}
	clear(opts[toaLen+kept : optLen]) // EOL padding

	newThl := header.TCPMinLen + optLen
	delta := newThl - thl
	oldSum := sumExceptCsum(tcp[:thl])
	l4Len := p.End - p.L4
	copy(f[p.L4+newThl:p.End+delta], f[p.L4+thl:p.End])
	tcp = f[p.L4 : p.End+delta]
	copy(tcp[header.TCPMinLen:newThl], opts[:optLen])
	tcp[12] = byte(newThl/4)<<4 | tcp[12]&0x0f
	c := binary.BigEndian.Uint16(tcp[16:])
	binary.BigEndian.PutUint16(tcp[16:], adjust(c, oldSum, sumExceptCsum(tcp[:newThl]), uint16(l4Len), uint16(l4Len+delta)))

	if p.IPv6 {
		plen := binary.BigEndian.Uint16(f[p.L3+4:])
		binary.BigEndian.PutUint16(f[p.L3+4:], plen+uint16(delta))
	} else {
		ip := header.IPv4(f[p.L3:])
		tl := binary.BigEndian.Uint16(ip[2:])
		binary.BigEndian.PutUint16(ip[2:], tl+uint16(delta))
		binary.BigEndian.PutUint16(ip[10:], header.Update16(ip.Checksum(), tl, tl+uint16(delta)))
	}
	p.End += delta
	p.Payload += delta
	return p.End, true
}

// ReduceMSS lowers the MSS option of a TCP SYN decoded in p by by bytes,
// updating the checksum incrementally, and reports whether it did (a SYN
// with an MSS above by). Applied to the real server's SYN-ACK on its way
// to the client, with by = TOALen(client), it makes the client send
// segments that leave room for TOA within the path MTU, as DPVS's
// tcp_out_adjust_mss does.
func ReduceMSS(b []byte, p *header.Parsed, by uint16) bool {
	if p.Proto != header.ProtoTCP || p.L4 == 0 || p.Frag == header.FragLater || p.TCPFlags&header.TCPSyn == 0 {
		return false
	}
	tcp := b[p.L4:p.End]
	thl := int(tcp[12]>>4) * 4
	if thl < header.TCPMinLen || thl > len(tcp) {
		return false
	}
	opts := tcp[header.TCPMinLen:thl]
	for i := 0; i < len(opts); {
		switch opts[i] {
		case optEOL:
			return false
		case optNOP:
			i++
			continue
		}
		if i+1 >= len(opts) {
			return false
		}
		l := int(opts[i+1])
		if l < 2 || i+l > len(opts) {
			return false
		}
		if opts[i] == optMSS && l == 4 {
			mss := binary.BigEndian.Uint16(opts[i+2:])
			if mss <= by {
				return false
			}
			binary.BigEndian.PutUint16(opts[i+2:], mss-by)
			c := binary.BigEndian.Uint16(tcp[16:])
			binary.BigEndian.PutUint16(tcp[16:], header.Update16(c, mss, mss-by))
			return true
		}
		i += l
	}
	return false
}
