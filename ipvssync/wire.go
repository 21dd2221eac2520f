package ipvssync

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Wire constants of the kernel's sync protocol (ip_vs_sync.c and
// include/uapi/linux/ip_vs.h).
const (
	// DefaultGroup is the IPv4 multicast group, 224.0.0.81.
	DefaultGroup = "224.0.0.81"
	// DefaultPort is the UDP port, 8848.
	DefaultPort = 8848
	// ProtoVersion is the message version this package sends.
	ProtoVersion = 1

	headerLen   = 8  // version 1 message header
	headerLenV0 = 4  // version 0 message header
	recLenV4    = 36 // type 0 record without options
	recLenV6    = 72 // type 1 (IPv6) record without options
	recLenV0    = 24 // version 0 record without sequence options
	seqOptLen   = 24 // two struct ip_vs_seq of three 32-bit words
	maxRecSize  = 0x0fff
	maxConns    = 255 // nr_conns is one byte
	maxPELen    = 255 // IP_VS_PEDATA_MAXLEN
	maxPENameLn = 16  // IP_VS_PENAME_MAXLEN

	typeInet6 = 1 << 0 // STYPE_F_INET6

	// Parameter types (IPVS_OPT_*). optParam marks a parameter a
	// receiver may ignore when it does not know it.
	optSeqData = 1
	optPEData  = 2
	optPEName  = 3
	optParam   = 1 << 6
	// optLocal is gdirector's own optional parameter: a FullNAT
	// connection's local address and port (4 or 16 bytes, then 2). Its
	// type has optParam set and, without that bit, matches none of the
	// kernel's types, so a kernel backup skips it.
	optLocal = optParam | 0x20
)

// Connection flags as the kernel sends them (IP_VS_CONN_F_*).
const (
	FlagFwdMask  uint32 = 0x0007
	FlagMasq     uint32 = 0x0000
	FlagLocal    uint32 = 0x0001
	FlagTunnel   uint32 = 0x0002
	FlagDRoute   uint32 = 0x0003
	FlagSync     uint32 = 0x0020
	FlagHashed   uint32 = 0x0040
	FlagNoOutput uint32 = 0x0080
	FlagInactive uint32 = 0x0100
	FlagOutSeq   uint32 = 0x0200
	FlagInSeq    uint32 = 0x0400
	FlagSeqMask  uint32 = 0x0600
	FlagNoCPort  uint32 = 0x0800
	FlagTemplate uint32 = 0x1000
	FlagOnePkt   uint32 = 0x2000
	// FlagFullNAT is gdirector's forwarding code for FullNAT (5, unused
	// by the kernel within FlagFwdMask).
	FlagFullNAT uint32 = 0x0005
	// BackupMask is what a backup keeps of the flags it receives
	// (IP_VS_CONN_F_BACKUP_MASK).
	BackupMask = FlagFwdMask | FlagNoOutput | FlagInactive | FlagSeqMask | FlagNoCPort | FlagTemplate
)

// Decoding errors. Errors returned by Decode wrap one of them.
var (
	ErrShort      = errors.New("ipvssync: message shorter than its header")
	ErrSize       = errors.New("ipvssync: size field does not match the datagram length")
	ErrTruncated  = errors.New("ipvssync: connection record runs past the end of the message")
	ErrRecordVer  = errors.New("ipvssync: unknown connection record version")
	ErrRecordType = errors.New("ipvssync: unknown connection record type")
	ErrRecordSize = errors.New("ipvssync: connection record size smaller than its type")
	ErrOption     = errors.New("ipvssync: malformed connection parameter")
	ErrAlign      = errors.New("ipvssync: connection record not padded to 32-bit alignment")
	ErrTrailing   = errors.New("ipvssync: bytes after the last connection record")
)

// Encoding errors.
var (
	ErrNoRoom   = errors.New("ipvssync: connection record does not fit the message")
	ErrTooLarge = errors.New("ipvssync: connection record larger than 4095 bytes")
)

// Seq is one direction's TCP sequence adjustment (struct ip_vs_seq), which
// the kernel's FTP helper uses; gdirector never adjusts sequences but
// carries them.
type Seq struct {
	Init, Delta, PrevDelta uint32
}

// Conn is one connection record (struct ip_vs_sync_v4 / ip_vs_sync_v6 and
// its parameters). Addresses are 16 bytes, IPv4 in IPv4-mapped form, as in
// package conntrack. Ports and the mark are host order.
type Conn struct {
	IPv6     bool
	Protocol uint8
	Flags    uint32 // IP_VS_CONN_F_*
	State    uint16
	CPort    uint16
	VPort    uint16
	DPort    uint16
	FwMark   uint32
	Timeout  uint32 // seconds; 0 in version 0 messages
	CAddr    [16]byte
	VAddr    [16]byte
	DAddr    [16]byte

	// Sequence data (IPVS_OPT_SEQ_DATA), present when HasSeq.
	HasSeq bool
	InSeq  Seq
	OutSeq Seq
	// Persistence-engine data and name (IPVS_OPT_PE_DATA, _PE_NAME).
	// After Decode they alias the decoded buffer.
	PEData []byte
	PEName []byte

	// Local address and port of a FullNAT connection (gdirector's
	// optional parameter), present when HasLocal.
	HasLocal bool
	LAddr    [16]byte
	LPort    uint16

	// BadParam is, after Decode, the type of an unknown mandatory
	// parameter the record carried (0: none). The kernel skips such a
	// record and goes on with the next; so does the receiver.
	BadParam uint8
}

// Message is a decoded sync message.
type Message struct {
	SyncID  uint8
	Version uint8 // 0 or 1
	Conns   []Conn
}

// recordLen returns the encoded length of c, without alignment padding.
func recordLen(c *Conn) int {
	n := recLenV4
	if c.IPv6 {
		n = recLenV6
	}
	if c.HasSeq {
		n += 2 + seqOptLen
	}
	if len(c.PEData) > 0 {
		n += 2 + len(c.PEData)
		if len(c.PEName) > 0 {
			n += 2 + len(c.PEName)
		}
	}
	if c.HasLocal {
		n += 2 + 2 + 4
		if c.IPv6 {
			n += 12
		}
	}
	return n
}

// Builder encodes a version 1 message into a buffer the caller owns,
// without allocating: Reset, then Add connections while they fit, then
// Bytes. The zero Builder is unusable; call Reset first.
type Builder struct {
	buf   []byte
	n     int // bytes used
	count int
}

// Reset starts a new message in buf (its full length is the room the
// message may take; the kernel's sync_maxlen) with the given syncid.
func (b *Builder) Reset(buf []byte, syncID uint8) {
	b.buf, b.n, b.count = buf, 0, 0
	if len(buf) < headerLen {
		return
	}
	buf[0] = 0 // reserved: a version 0 receiver sees zero connections
	buf[1] = syncID
	buf[4] = 0
	buf[5] = ProtoVersion
	buf[6], buf[7] = 0, 0
	b.n = headerLen
	b.setSize()
}

func (b *Builder) setSize() {
	binary.BigEndian.PutUint16(b.buf[2:], uint16(b.n))
	b.buf[4] = uint8(b.count)
}

// Count returns the number of connections in the message.
func (b *Builder) Count() int { return b.count }

// Len returns the message's length so far.
func (b *Builder) Len() int { return b.n }

// Fits reports whether c can still be added.
func (b *Builder) Fits(c *Conn) bool {
	if b.n < headerLen || b.count >= maxConns {
		return false
	}
	pad := (4 - b.n&3) & 3
	return b.n+pad+recordLen(c) <= len(b.buf)
}

// Add appends c to the message. It returns ErrNoRoom when the message is
// full (the caller sends it and starts another) and ErrTooLarge for a
// record no message can hold; then nothing was written.
func (b *Builder) Add(c *Conn) error {
	rl := recordLen(c)
	if rl > maxRecSize || len(c.PEData) > maxPELen || len(c.PEName) > maxPENameLn {
		return ErrTooLarge
	}
	if !b.Fits(c) {
		return ErrNoRoom
	}
	p := b.buf[b.n:]
	pad := (4 - b.n&3) & 3
	for i := 0; i < pad; i++ {
		p[i] = 0
	}
	p = p[pad:]
	if c.IPv6 {
		p[0] = typeInet6
	} else {
		p[0] = 0
	}
	p[1] = c.Protocol
	binary.BigEndian.PutUint16(p[2:], uint16(rl)&maxRecSize) // version 0 in the top 4 bits
	binary.BigEndian.PutUint32(p[4:], c.Flags&^FlagHashed)
	binary.BigEndian.PutUint16(p[8:], c.State)
	binary.BigEndian.PutUint16(p[10:], c.CPort)
	binary.BigEndian.PutUint16(p[12:], c.VPort)
	binary.BigEndian.PutUint16(p[14:], c.DPort)
	binary.BigEndian.PutUint32(p[16:], c.FwMark)
	binary.BigEndian.PutUint32(p[20:], c.Timeout)
	o := 24
	if c.IPv6 {
		copy(p[24:40], c.CAddr[:])
		copy(p[40:56], c.VAddr[:])
		copy(p[56:72], c.DAddr[:])
		o = recLenV6
	} else {
		copy(p[24:28], c.CAddr[12:])
		copy(p[28:32], c.VAddr[12:])
		copy(p[32:36], c.DAddr[12:])
		o = recLenV4
	}
	if c.HasSeq {
		p[o], p[o+1] = optSeqData, seqOptLen
		o += 2
		for _, s := range [2]*Seq{&c.InSeq, &c.OutSeq} {
			binary.BigEndian.PutUint32(p[o:], s.Init)
			binary.BigEndian.PutUint32(p[o+4:], s.Delta)
			binary.BigEndian.PutUint32(p[o+8:], s.PrevDelta)
			o += 12
		}
	}
	if len(c.PEData) > 0 {
		p[o], p[o+1] = optPEData, uint8(len(c.PEData))
		o += 2 + copy(p[o+2:], c.PEData)
		if len(c.PEName) > 0 {
			p[o], p[o+1] = optPEName, uint8(len(c.PEName))
			o += 2 + copy(p[o+2:], c.PEName)
		}
	}
	if c.HasLocal {
		al := 4
		if c.IPv6 {
			al = 16
		}
		p[o], p[o+1] = optLocal, uint8(al+2)
		o += 2
		copy(p[o:], c.LAddr[16-al:])
		binary.BigEndian.PutUint16(p[o+al:], c.LPort)
	}
	b.n += pad + rl
	b.count++
	b.setSize()
	return nil
}

// Bytes returns the message: a slice of the buffer given to Reset.
func (b *Builder) Bytes() []byte { return b.buf[:b.n] }

// Encode writes a version 1 message holding conns into dst and returns its
// length; ErrNoRoom if they do not all fit (or exceed 255).
func Encode(dst []byte, syncID uint8, conns []Conn) (int, error) {
	var b Builder
	b.Reset(dst, syncID)
	if b.Len() == 0 {
		return 0, ErrNoRoom
	}
	for i := range conns {
		if err := b.Add(&conns[i]); err != nil {
			return 0, fmt.Errorf("connection %d: %w", i, err)
		}
	}
	return b.Len(), nil
}

// IsV1 reports whether a datagram's header is that of a version 1 message
// (reserved byte 0, version 1, spare 0), as the kernel decides; anything
// else is taken for version 0.
func IsV1(b []byte) bool {
	return len(b) >= headerLen && b[0] == 0 && b[5] == ProtoVersion && b[6] == 0 && b[7] == 0
}

// Decode parses a sync message of either version into m, reusing
// m.Conns's storage. It checks the structure as the kernel does (size
// field equal to the datagram length, records within the message, record
// version 0, known record type, parameters within their record) and more
// strictly (zero alignment padding, nothing after the last record); on
// error m.Conns holds the records decoded before it. PEData and PEName
// alias b.
func Decode(b []byte, m *Message) error {
	m.Conns = m.Conns[:0]
	if len(b) < headerLenV0 {
		return ErrShort
	}
	if int(binary.BigEndian.Uint16(b[2:])) != len(b) {
		return ErrSize
	}
	m.SyncID = b[1]
	if !IsV1(b) {
		m.Version = 0
		return decodeV0(b, m)
	}
	m.Version = 1
	n := int(b[4])
	p := headerLen
	for i := 0; i < n; i++ {
		if i > 0 {
			// The previous record was padded to 32 bits.
			for ; p&3 != 0; p++ {
				if p >= len(b) {
					return fmt.Errorf("record %d: %w", i, ErrTruncated)
				}
				if b[p] != 0 {
					return fmt.Errorf("record %d: %w", i, ErrAlign)
				}
			}
		}
		if p+recLenV4 > len(b) {
			return fmt.Errorf("record %d: %w", i, ErrTruncated)
		}
		vs := binary.BigEndian.Uint16(b[p+2:])
		size := int(vs & maxRecSize)
		if p+size > len(b) {
			return fmt.Errorf("record %d: %w", i, ErrTruncated)
		}
		if vs>>12 != 0 {
			return fmt.Errorf("record %d: %w %d", i, ErrRecordVer, vs>>12)
		}
		m.Conns = append(m.Conns, Conn{})
		if err := decodeRecord(b[p:p+size], &m.Conns[len(m.Conns)-1]); err != nil {
			m.Conns = m.Conns[:len(m.Conns)-1]
			return fmt.Errorf("record %d: %w", i, err)
		}
		p += size
	}
	if p != len(b) {
		return ErrTrailing
	}
	return nil
}

// decodeRecord parses one version 1 record of exactly len(r) bytes.
func decodeRecord(r []byte, c *Conn) error {
	if len(r) < recLenV4 {
		return ErrRecordSize
	}
	var fixed int
	switch r[0] {
	case 0:
		fixed = recLenV4
	case typeInet6:
		fixed = recLenV6
		c.IPv6 = true
	default:
		return fmt.Errorf("%w %d", ErrRecordType, r[0])
	}
	if len(r) < fixed {
		return ErrRecordSize
	}
	c.Protocol = r[1]
	c.Flags = binary.BigEndian.Uint32(r[4:])
	c.State = binary.BigEndian.Uint16(r[8:])
	c.CPort = binary.BigEndian.Uint16(r[10:])
	c.VPort = binary.BigEndian.Uint16(r[12:])
	c.DPort = binary.BigEndian.Uint16(r[14:])
	c.FwMark = binary.BigEndian.Uint32(r[16:])
	c.Timeout = binary.BigEndian.Uint32(r[20:])
	if c.IPv6 {
		copy(c.CAddr[:], r[24:40])
		copy(c.VAddr[:], r[40:56])
		copy(c.DAddr[:], r[56:72])
	} else {
		put4(&c.CAddr, r[24:28])
		put4(&c.VAddr, r[28:32])
		put4(&c.DAddr, r[32:36])
	}
	var seen uint8 // bit per known parameter type, to refuse repeats
	for p := fixed; p < len(r); {
		if p+2 > len(r) {
			return fmt.Errorf("%w: parameter header cut", ErrOption)
		}
		typ, plen := r[p], int(r[p+1])
		p += 2
		if plen == 0 || p+plen > len(r) {
			return fmt.Errorf("%w: parameter %d of length %d", ErrOption, typ, plen)
		}
		d := r[p : p+plen]
		p += plen
		bit := uint8(0)
		switch {
		case typ == optLocal:
			al := 4
			if c.IPv6 {
				al = 16
			}
			if plen != al+2 || c.HasLocal {
				return fmt.Errorf("%w: local address parameter", ErrOption)
			}
			c.HasLocal = true
			if c.IPv6 {
				copy(c.LAddr[:], d[:16])
			} else {
				put4(&c.LAddr, d[:4])
			}
			c.LPort = binary.BigEndian.Uint16(d[al:])
			continue
		case typ&^optParam == optSeqData:
			bit = 1
			if plen != seqOptLen || seen&bit != 0 {
				return fmt.Errorf("%w: sequence data", ErrOption)
			}
			c.HasSeq = true
			for i, s := range [2]*Seq{&c.InSeq, &c.OutSeq} {
				q := d[12*i:]
				s.Init = binary.BigEndian.Uint32(q)
				s.Delta = binary.BigEndian.Uint32(q[4:])
				s.PrevDelta = binary.BigEndian.Uint32(q[8:])
			}
		case typ&^optParam == optPEData:
			bit = 2
			if seen&bit != 0 {
				return fmt.Errorf("%w: persistence-engine data twice", ErrOption)
			}
			c.PEData = d
		case typ&^optParam == optPEName:
			bit = 4
			if plen > maxPENameLn || seen&bit != 0 {
				return fmt.Errorf("%w: persistence-engine name", ErrOption)
			}
			c.PEName = d
		default:
			if typ&optParam == 0 && c.BadParam == 0 {
				c.BadParam = typ
			}
		}
		seen |= bit
	}
	return nil
}

// decodeV0 parses a version 0 message (IPv4 only, no timeout or mark).
func decodeV0(b []byte, m *Message) error {
	n := int(b[0])
	p := headerLenV0
	for i := 0; i < n; i++ {
		if p+recLenV0 > len(b) {
			return fmt.Errorf("record %d: %w", i, ErrTruncated)
		}
		r := b[p:]
		c := Conn{Protocol: r[1]}
		c.CPort = binary.BigEndian.Uint16(r[2:])
		c.VPort = binary.BigEndian.Uint16(r[4:])
		c.DPort = binary.BigEndian.Uint16(r[6:])
		put4(&c.CAddr, r[8:12])
		put4(&c.VAddr, r[12:16])
		put4(&c.DAddr, r[16:20])
		c.Flags = uint32(binary.BigEndian.Uint16(r[20:]))
		c.State = binary.BigEndian.Uint16(r[22:])
		p += recLenV0
		if c.Flags&FlagSeqMask != 0 {
			if p+seqOptLen > len(b) {
				return fmt.Errorf("record %d: %w", i, ErrTruncated)
			}
			c.HasSeq = true
			// Version 0 copies the kernel's structure as it is in
			// memory: host order; read as big-endian here (both
			// ends of a version 0 link must share the byte order).
			for k, s := range [2]*Seq{&c.InSeq, &c.OutSeq} {
				q := b[p+12*k:]
				s.Init = binary.BigEndian.Uint32(q)
				s.Delta = binary.BigEndian.Uint32(q[4:])
				s.PrevDelta = binary.BigEndian.Uint32(q[8:])
			}
			p += seqOptLen
		}
		m.Conns = append(m.Conns, c)
	}
	if p != len(b) {
		return ErrTrailing
	}
	return nil
}

func put4(a *[16]byte, b []byte) {
	*a = [16]byte{10: 0xff, 11: 0xff}
	copy(a[12:], b[:4])
}
