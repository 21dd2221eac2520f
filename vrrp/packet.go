package vrrp

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"time"
)

// Protocol is VRRP's IP protocol number (IPv4 protocol, IPv6 next header).
const Protocol = 112

// TTL is the IPv4 TTL and IPv6 hop limit every advert is sent with and
// must arrive with.
const TTL = 255

// TypeAdvert is the only VRRP packet type.
const TypeAdvert = 1

// Priorities with a meaning of their own.
const (
	PriorityStop  = 0   // the master is leaving: take over after Skew_Time
	PriorityOwner = 255 // the address owner
)

// Multicast groups adverts are sent to.
var (
	GroupIPv4 = netip.AddrFrom4([4]byte{224, 0, 0, 18})
	GroupIPv6 = netip.MustParseAddr("ff02::12")
)

// AuthType is a version 2 authentication type.
type AuthType uint8

// Authentication types of RFC 2338 (RFC 3768 keeps only None).
const (
	AuthNone AuthType = 0
	AuthPass AuthType = 1 // simple text password, 8 bytes (keepalived auth_type PASS)
	AuthAH   AuthType = 2 // IP Authentication Header: not supported
)

// Sizes of the fixed parts.
const (
	headerLen   = 8
	authDataLen = 8
	ipv4HdrLen  = 20
	// MaxAddrs is the most addresses an advert may carry (the count is
	// one byte).
	MaxAddrs = 255
	// MaxInterval3 is the longest version 3 interval: 12 bits of
	// centiseconds.
	MaxInterval3 = 4095 * 10 * time.Millisecond
)

// Decoding errors.
var (
	ErrShort    = errors.New("vrrp: packet too short")
	ErrLength   = errors.New("vrrp: length does not match the count of addresses")
	ErrVersion  = errors.New("vrrp: unsupported version")
	ErrType     = errors.New("vrrp: not an advertisement")
	ErrChecksum = errors.New("vrrp: bad checksum")
	ErrFamily   = errors.New("vrrp: address family does not match")
	ErrAuthType = errors.New("vrrp: unknown authentication type")
	ErrIPHeader = errors.New("vrrp: bad IPv4 header")
	ErrEncode   = errors.New("vrrp: cannot encode")
)

// Advert is a VRRP advertisement as carried on the wire.
type Advert struct {
	Version  int // 2 or 3
	VRID     uint8
	Priority uint8
	// Interval is the advert interval in wire units: seconds (version 2,
	// at most 255) or centiseconds (version 3, at most 4095).
	Interval uint16
	// Reserved is the top 4 bits of a version 3 interval field: sent as 0,
	// ignored on receipt, kept so that a decoded advert encodes back to
	// the same bytes.
	Reserved uint8
	// Addrs are the virtual addresses, all IPv4 or all IPv6 (version 2:
	// IPv4 only).
	Addrs []netip.Addr
	// AuthType and AuthData are version 2's authentication (AuthData is
	// the password, padded with zeros, for AuthPass).
	AuthType AuthType
	AuthData [authDataLen]byte
	// Checksum is the checksum read by Decode; Append computes its own.
	Checksum uint16
	// NoPseudoHeader leaves the IPv4 pseudo-header out of a version 3
	// checksum (RFC 9568, keepalived's v3_checksum_as_v2). Decode sets it
	// when only that checksum matches.
	NoPseudoHeader bool
}

// IntervalDuration is Interval as a time.Duration.
func (a *Advert) IntervalDuration() time.Duration {
	if a.Version == 2 {
		return time.Duration(a.Interval) * time.Second
	}
	return time.Duration(a.Interval) * 10 * time.Millisecond
}

// WireInterval converts an advert interval to wire units for version:
// whole seconds (1..255) for version 2, centiseconds (1..4095) for
// version 3.
func WireInterval(version int, d time.Duration) (uint16, error) {
	switch version {
	case 2:
		if d%time.Second != 0 || d < time.Second || d > 255*time.Second {
			return 0, fmt.Errorf("vrrp: version 2 advert interval %v is not a whole number of seconds from 1 to 255", d)
		}
		return uint16(d / time.Second), nil
	case 3:
		cs := d / (10 * time.Millisecond)
		if d%(10*time.Millisecond) != 0 || cs < 1 || cs > 4095 {
			return 0, fmt.Errorf("vrrp: version 3 advert interval %v is not a whole number of centiseconds from 0.01 to 40.95 s", d)
		}
		return uint16(cs), nil
	}
	return 0, fmt.Errorf("%w %d", ErrVersion, version)
}

// Password returns the version 2 password: AuthData up to its first zero.
func (a *Advert) Password() string {
	for i, c := range a.AuthData {
		if c == 0 {
			return string(a.AuthData[:i])
		}
	}
	return string(a.AuthData[:])
}

// SetPassword sets AuthPass and the password (keepalived keeps the first 8
// bytes of a longer one).
func (a *Advert) SetPassword(pw string) {
	a.AuthType = AuthPass
	a.AuthData = [authDataLen]byte{}
	copy(a.AuthData[:], pw)
}

// is6 reports whether the advert carries IPv6 addresses.
func (a *Advert) is6() bool { return len(a.Addrs) > 0 && a.Addrs[0].Is6() }

// Len is the length of the encoded advert (without IP header) for
// version and family (4 or 6) carrying n addresses.
func Len(version, family, n int) int {
	size := 4
	if family == 6 {
		size = 16
	}
	l := headerLen + n*size
	if version == 2 {
		l += authDataLen
	}
	return l
}

// Append encodes the advert, with its checksum, after b. src and dst are
// the IP source and destination the advert is sent with (the version 3
// pseudo-header); they are ignored for version 2. The addresses must all
// be of src's family.
func (a *Advert) Append(b []byte, src, dst netip.Addr) ([]byte, error) {
	if err := a.valid(src, dst); err != nil {
		return b, err
	}
	fam := 4
	if src.Is6() {
		fam = 6
	}
	start := len(b)
	b = append(b, byte(a.Version)<<4|TypeAdvert, a.VRID, a.Priority, byte(len(a.Addrs)))
	if a.Version == 2 {
		b = append(b, byte(a.AuthType), byte(a.Interval))
	} else {
		b = binary.BigEndian.AppendUint16(b, uint16(a.Reserved&0xf)<<12|a.Interval)
	}
	b = append(b, 0, 0)
	for _, ad := range a.Addrs {
		b = append(b, ad.AsSlice()...)
	}
	if a.Version == 2 {
		b = append(b, a.AuthData[:]...)
	}
	msg := b[start:]
	if len(msg) != Len(a.Version, fam, len(a.Addrs)) {
		return b[:start], fmt.Errorf("%w: internal length error", ErrEncode)
	}
	binary.BigEndian.PutUint16(msg[6:], checksum(msg, a.Version, src, dst, a.NoPseudoHeader))
	return b, nil
}

// valid checks what Append needs.
func (a *Advert) valid(src, dst netip.Addr) error {
	switch a.Version {
	case 2:
		if a.Interval > 255 {
			return fmt.Errorf("%w: version 2 interval %d above 255", ErrEncode, a.Interval)
		}
		if a.AuthType > AuthAH {
			return fmt.Errorf("%w: authentication type %d", ErrEncode, a.AuthType)
		}
	case 3:
		if a.Interval > 4095 {
			return fmt.Errorf("%w: version 3 interval %d above 4095", ErrEncode, a.Interval)
		}
	default:
		return fmt.Errorf("%w %d", ErrVersion, a.Version)
	}
	if len(a.Addrs) > MaxAddrs {
		return fmt.Errorf("%w: %d addresses (at most %d)", ErrEncode, len(a.Addrs), MaxAddrs)
	}
	if !src.IsValid() || (a.Version == 3 && !dst.IsValid()) {
		return fmt.Errorf("%w: no source or destination address", ErrEncode)
	}
	if dst.IsValid() && dst.Is4() != src.Is4() {
		return fmt.Errorf("%w: source %v and destination %v", ErrFamily, src, dst)
	}
	if a.Version == 2 && !src.Is4() {
		return fmt.Errorf("%w: version 2 is IPv4 only", ErrFamily)
	}
	for _, ad := range a.Addrs {
		if ad.Is4() != src.Is4() || ad.Zone() != "" {
			return fmt.Errorf("%w: address %v in an advert from %v", ErrFamily, ad, src)
		}
	}
	return nil
}

// Decode decodes a VRRP message (the IP payload) that came from src to
// dst (the version 3 pseudo-header; family decides the address size and
// is taken from src). It checks the syntax and the checksum, not the
// receiver's rules (see Expect.Check). The advert's Addrs are freshly
// allocated.
func Decode(b []byte, src, dst netip.Addr) (Advert, error) {
	var a Advert
	if len(b) < headerLen {
		return a, ErrShort
	}
	if !src.IsValid() || !dst.IsValid() || src.Is4() != dst.Is4() {
		return a, fmt.Errorf("%w: source %v, destination %v", ErrFamily, src, dst)
	}
	a.Version = int(b[0] >> 4)
	if a.Version != 2 && a.Version != 3 {
		return a, fmt.Errorf("%w %d", ErrVersion, a.Version)
	}
	if b[0]&0xf != TypeAdvert {
		return a, fmt.Errorf("%w: type %d", ErrType, b[0]&0xf)
	}
	fam := 4
	if src.Is6() {
		fam = 6
		if a.Version == 2 {
			return a, fmt.Errorf("%w: version 2 over IPv6", ErrFamily)
		}
	}
	n := int(b[3])
	if len(b) != Len(a.Version, fam, n) {
		if len(b) < Len(a.Version, fam, n) {
			return a, fmt.Errorf("%w: %d bytes for %d addresses", ErrShort, len(b), n)
		}
		return a, fmt.Errorf("%w: %d bytes for %d addresses", ErrLength, len(b), n)
	}
	a.VRID, a.Priority = b[1], b[2]
	if a.Version == 2 {
		a.AuthType, a.Interval = AuthType(b[4]), uint16(b[5])
		if a.AuthType > AuthAH {
			return a, fmt.Errorf("%w %d", ErrAuthType, a.AuthType)
		}
		copy(a.AuthData[:], b[len(b)-authDataLen:])
	} else {
		v := binary.BigEndian.Uint16(b[4:])
		a.Reserved, a.Interval = uint8(v>>12), v&0xfff
	}
	a.Checksum = binary.BigEndian.Uint16(b[6:])
	if checksum(b, a.Version, src, dst, false) != a.Checksum {
		if a.Version != 3 || fam != 4 || checksum(b, a.Version, src, dst, true) != a.Checksum {
			return a, ErrChecksum
		}
		a.NoPseudoHeader = true
	}
	size := 4
	if fam == 6 {
		size = 16
	}
	if n > 0 {
		a.Addrs = make([]netip.Addr, n)
		for i := range n {
			p := b[headerLen+i*size : headerLen+(i+1)*size]
			if fam == 4 {
				a.Addrs[i] = netip.AddrFrom4([4]byte(p))
			} else {
				a.Addrs[i] = netip.AddrFrom16([16]byte(p))
			}
		}
	}
	return a, nil
}

// checksum computes the checksum msg must carry (its own checksum field
// taken as zero).
func checksum(msg []byte, version int, src, dst netip.Addr, noPseudo bool) uint16 {
	var sum uint32
	if version == 3 && !(noPseudo && src.Is4()) {
		sum = sumBytes(sum, src.AsSlice())
		sum = sumBytes(sum, dst.AsSlice())
		if src.Is4() {
			sum += Protocol + uint32(len(msg))
		} else {
			sum += uint32(len(msg)>>16) + uint32(len(msg)&0xffff) + Protocol
		}
	}
	sum = sumBytes(sum, msg[:6])
	sum = sumBytes(sum, msg[8:])
	for sum>>16 != 0 {
		sum = sum&0xffff + sum>>16
	}
	return ^uint16(sum)
}

// sumBytes adds b as big-endian 16-bit words (an odd last byte padded)
// to sum.
func sumBytes(sum uint32, b []byte) uint32 {
	for len(b) >= 2 {
		sum += uint32(b[0])<<8 | uint32(b[1])
		b = b[2:]
	}
	if len(b) == 1 {
		sum += uint32(b[0]) << 8
	}
	for sum>>16 != 0 {
		sum = sum&0xffff + sum>>16
	}
	return sum
}

// IPv4Header is what the receiver needs of an advert's IPv4 header.
type IPv4Header struct {
	Src, Dst netip.Addr
	TTL      uint8
	ID       uint16
}

// DecodeIPv4 decodes an IPv4 datagram carrying an advert, as a raw IPv4
// socket delivers it: the header must be a valid IPv4 header of protocol
// 112 with a correct header checksum, not a fragment, and its total length
// must be the datagram's.
func DecodeIPv4(b []byte) (Advert, IPv4Header, error) {
	var h IPv4Header
	if len(b) < ipv4HdrLen {
		return Advert{}, h, ErrShort
	}
	ihl := int(b[0]&0xf) * 4
	switch {
	case b[0]>>4 != 4 || ihl < ipv4HdrLen:
		return Advert{}, h, fmt.Errorf("%w: version %d, header length %d", ErrIPHeader, b[0]>>4, ihl)
	case len(b) < ihl:
		return Advert{}, h, ErrShort
	case int(binary.BigEndian.Uint16(b[2:])) != len(b):
		return Advert{}, h, fmt.Errorf("%w: total length %d for %d bytes", ErrIPHeader, binary.BigEndian.Uint16(b[2:]), len(b))
	case b[9] != Protocol:
		return Advert{}, h, fmt.Errorf("%w: protocol %d", ErrIPHeader, b[9])
	case binary.BigEndian.Uint16(b[6:])&0x3fff != 0:
		return Advert{}, h, fmt.Errorf("%w: fragment", ErrIPHeader)
	case ^uint16(fold(sumBytes(0, b[:ihl]))) != 0:
		return Advert{}, h, fmt.Errorf("%w: header checksum", ErrIPHeader)
	}
	h.Src = netip.AddrFrom4([4]byte(b[12:16]))
	h.Dst = netip.AddrFrom4([4]byte(b[16:20]))
	h.TTL = b[8]
	h.ID = binary.BigEndian.Uint16(b[4:])
	a, err := Decode(b[ihl:], h.Src, h.Dst)
	return a, h, err
}

func fold(s uint32) uint32 {
	for s>>16 != 0 {
		s = s&0xffff + s>>16
	}
	return s
}

// AppendIPv4 appends an IPv4 datagram carrying the advert: a 20-byte
// header (TTL 255, protocol 112, the given ID, TOS 0xc0 "network control"
// as keepalived sends, no fragmentation flags) followed by the advert.
func AppendIPv4(b []byte, a *Advert, h IPv4Header) ([]byte, error) {
	if !h.Src.Is4() || !h.Dst.Is4() {
		return b, fmt.Errorf("%w: IPv4 header from %v to %v", ErrFamily, h.Src, h.Dst)
	}
	start := len(b)
	b = append(b, 0x45, 0xc0, 0, 0, byte(h.ID>>8), byte(h.ID), 0, 0, h.TTL, Protocol, 0, 0)
	b = append(b, h.Src.AsSlice()...)
	b = append(b, h.Dst.AsSlice()...)
	b, err := a.Append(b, h.Src, h.Dst)
	if err != nil {
		return b[:start], err
	}
	ip := b[start:]
	binary.BigEndian.PutUint16(ip[2:], uint16(len(ip)))
	binary.BigEndian.PutUint16(ip[10:], ^uint16(fold(sumBytes(0, ip[:ipv4HdrLen]))))
	return b, nil
}
