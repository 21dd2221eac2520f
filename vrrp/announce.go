package vrrp

import (
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"

	"golang.org/x/sys/unix"
)

// announcer sends gratuitous ARP requests (IPv4) or unsolicited neighbour
// advertisements (IPv6) for the virtual addresses, so that switches and
// neighbours learn the new master's MAC address.
type announcer struct {
	fd  int
	fam int
	ifi int
	mac net.HardwareAddr
}

const ethPARP = 0x0806

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// openAnnouncer opens the socket in the calling thread's namespace.
func openAnnouncer(ifi *net.Interface, fam int) (*announcer, error) {
	if len(ifi.HardwareAddr) != 6 {
		return nil, fmt.Errorf("vrrp: %s has no Ethernet address", ifi.Name)
	}
	a := &announcer{fam: fam, ifi: ifi.Index, mac: ifi.HardwareAddr}
	var err error
	if fam == 4 {
		a.fd, err = unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, int(htons(ethPARP)))
		if err != nil {
			return nil, fmt.Errorf("vrrp: packet socket: %w", err)
		}
		// Receive nothing: the socket only sends.
		if err = unix.Bind(a.fd, &unix.SockaddrLinklayer{Protocol: 0, Ifindex: ifi.Index}); err != nil {
			unix.Close(a.fd)
			return nil, fmt.Errorf("vrrp: bind packet socket to %s: %w", ifi.Name, err)
		}
		return a, nil
	}
	a.fd, err = unix.Socket(unix.AF_INET6, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.IPPROTO_ICMPV6)
	if err != nil {
		return nil, fmt.Errorf("vrrp: ICMPv6 socket: %w", err)
	}
	for _, o := range [][2]int{{unix.IPV6_MULTICAST_HOPS, 255}, {unix.IPV6_MULTICAST_IF, ifi.Index}} {
		if err = unix.SetsockoptInt(a.fd, unix.IPPROTO_IPV6, o[0], o[1]); err != nil {
			unix.Close(a.fd)
			return nil, fmt.Errorf("vrrp: ICMPv6 socket option: %w", err)
		}
	}
	// Receive nothing on it.
	var filt unix.ICMPv6Filter
	for i := range filt.Data {
		filt.Data[i] = 0xffffffff
	}
	_ = unix.SetsockoptICMPv6Filter(a.fd, unix.SOL_ICMPV6, unix.ICMPV6_FILTER, &filt)
	if err = unix.BindToDevice(a.fd, ifi.Name); err != nil {
		unix.Close(a.fd)
		return nil, fmt.Errorf("vrrp: SO_BINDTODEVICE %s: %w", ifi.Name, err)
	}
	return a, nil
}

// garpFrame is a gratuitous ARP request for ip from mac (sender and
// target address both ip, to the broadcast address).
func garpFrame(mac net.HardwareAddr, ip netip.Addr) []byte {
	b := make([]byte, 0, 42)
	b = append(b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff)
	b = append(b, mac...)
	b = binary.BigEndian.AppendUint16(b, ethPARP)
	b = append(b, 0, 1, 8, 0, 6, 4, 0, 1) // Ethernet, IPv4, request
	b = append(b, mac...)
	b = append(b, ip.AsSlice()...)
	b = append(b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff)
	b = append(b, ip.AsSlice()...)
	return b
}

// Neighbour advertisement flags (RFC 4861 §4.4).
const (
	naRouter    = 0x80
	naSolicited = 0x40
	naOverride  = 0x20
)

// unsolicitedNA is a neighbour advertisement for target with the router
// and override flags and the target link-layer address option (the kernel
// adds the checksum). RFC 5798 §6.4.1 asks for the router flag: a virtual
// router's address is a router's, and a host that saw a neighbour
// advertisement without it for its default gateway would drop the
// gateway from its default router list (RFC 4861 §7.2.5). keepalived sets
// it only when the interface forwards; a director is the real servers'
// router in NAT mode, and a client does not mind the flag on a service
// address.
func unsolicitedNA(mac net.HardwareAddr, target netip.Addr) []byte {
	b := make([]byte, 0, 32)
	b = append(b, 136, 0, 0, 0, naRouter|naOverride, 0, 0, 0) // type NA, code 0, checksum, flags, reserved
	b = append(b, target.AsSlice()...)
	b = append(b, 2, 1) // target link-layer address, 8 bytes
	b = append(b, mac...)
	return b
}

var allNodes = netip.MustParseAddr("ff02::1")

// announce sends one announcement per address.
func (a *announcer) announce(vips []netip.Prefix) error {
	var first error
	for _, p := range vips {
		var err error
		if a.fam == 4 {
			sa := &unix.SockaddrLinklayer{Protocol: htons(ethPARP), Ifindex: a.ifi, Halen: 6}
			copy(sa.Addr[:], []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
			err = unix.Sendto(a.fd, garpFrame(a.mac, p.Addr()), 0, sa)
		} else {
			err = unix.Sendto(a.fd, unsolicitedNA(a.mac, p.Addr()), 0,
				&unix.SockaddrInet6{Addr: allNodes.As16(), ZoneId: uint32(a.ifi)})
		}
		if err != nil && first == nil {
			first = fmt.Errorf("vrrp: announce %v: %w", p.Addr(), err)
		}
	}
	return first
}

func (a *announcer) close() error { return unix.Close(a.fd) }
