package vrrp

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// rawSocket is a raw IP socket of protocol 112 on one interface, in the
// Go poller so that Close ends a blocked read.
type rawSocket struct {
	f    *os.File
	rc   syscall.RawConn
	fam  int
	ifi  int
	src  netip.Addr
	oob  []byte
	from unix.Sockaddr
}

// received is one datagram read: the VRRP message, its source and
// destination and the TTL or hop limit it came with.
type received struct {
	msg      []byte
	src, dst netip.Addr
	ttl      int
	v4       *IPv4Header // IPv4: the header (msg starts after it)
}

// openRaw opens the socket in the calling thread's network namespace,
// bound to the device and, for multicast, joined to the group.
func openRaw(ifi *net.Interface, fam int, src netip.Addr, multicast bool) (*rawSocket, error) {
	domain := unix.AF_INET
	if fam == 6 {
		domain = unix.AF_INET6
	}
	fd, err := unix.Socket(domain, unix.SOCK_RAW|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, Protocol)
	if err != nil {
		return nil, fmt.Errorf("vrrp: raw socket: %w", err)
	}
	ok := false
	defer func() {
		if !ok {
			unix.Close(fd)
		}
	}()
	if err := unix.BindToDevice(fd, ifi.Name); err != nil {
		return nil, fmt.Errorf("vrrp: SO_BINDTODEVICE %s: %w", ifi.Name, err)
	}
	set := func(level, opt, v int, name string) error {
		if err := unix.SetsockoptInt(fd, level, opt, v); err != nil {
			return fmt.Errorf("vrrp: %s: %w", name, err)
		}
		return nil
	}
	if fam == 4 {
		if err := set(unix.IPPROTO_IP, unix.IP_HDRINCL, 1, "IP_HDRINCL"); err != nil {
			return nil, err
		}
		if err := set(unix.IPPROTO_IP, unix.IP_MULTICAST_LOOP, 0, "IP_MULTICAST_LOOP"); err != nil {
			return nil, err
		}
		mreq := &unix.IPMreqn{Multiaddr: GroupIPv4.As4(), Address: src.As4(), Ifindex: int32(ifi.Index)}
		if err := unix.SetsockoptIPMreqn(fd, unix.IPPROTO_IP, unix.IP_MULTICAST_IF, mreq); err != nil {
			return nil, fmt.Errorf("vrrp: IP_MULTICAST_IF: %w", err)
		}
		if multicast {
			if err := unix.SetsockoptIPMreqn(fd, unix.IPPROTO_IP, unix.IP_ADD_MEMBERSHIP, mreq); err != nil {
				return nil, fmt.Errorf("vrrp: join %v on %s: %w", GroupIPv4, ifi.Name, err)
			}
		}
	} else {
		for _, o := range []struct {
			opt, v int
			name   string
		}{
			{unix.IPV6_RECVHOPLIMIT, 1, "IPV6_RECVHOPLIMIT"},
			{unix.IPV6_RECVPKTINFO, 1, "IPV6_RECVPKTINFO"},
			{unix.IPV6_MULTICAST_HOPS, TTL, "IPV6_MULTICAST_HOPS"},
			{unix.IPV6_UNICAST_HOPS, TTL, "IPV6_UNICAST_HOPS"},
			{unix.IPV6_MULTICAST_LOOP, 0, "IPV6_MULTICAST_LOOP"},
			{unix.IPV6_MULTICAST_IF, ifi.Index, "IPV6_MULTICAST_IF"},
		} {
			if err := set(unix.IPPROTO_IPV6, o.opt, o.v, o.name); err != nil {
				return nil, err
			}
		}
		sa := &unix.SockaddrInet6{Addr: src.As16()}
		if src.IsLinkLocalUnicast() {
			sa.ZoneId = uint32(ifi.Index)
		}
		if err := unix.Bind(fd, sa); err != nil {
			return nil, fmt.Errorf("vrrp: bind %v: %w (is the address still tentative?)", src, err)
		}
		if multicast {
			mreq := &unix.IPv6Mreq{Multiaddr: GroupIPv6.As16(), Interface: uint32(ifi.Index)}
			if err := unix.SetsockoptIPv6Mreq(fd, unix.IPPROTO_IPV6, unix.IPV6_JOIN_GROUP, mreq); err != nil {
				return nil, fmt.Errorf("vrrp: join %v on %s: %w", GroupIPv6, ifi.Name, err)
			}
		}
	}
	f := os.NewFile(uintptr(fd), "vrrp-raw")
	rc, err := f.SyscallConn()
	if err != nil {
		f.Close()
		ok = true // f owns fd now
		return nil, err
	}
	ok = true
	return &rawSocket{f: f, rc: rc, fam: fam, ifi: ifi.Index, src: src, oob: make([]byte, 256)}, nil
}

// read reads one datagram into buf (blocking; an error once closed).
func (s *rawSocket) read(buf []byte) (received, error) {
	var r received
	var n, oobn int
	var from unix.Sockaddr
	var rerr error
	err := s.rc.Read(func(fd uintptr) bool {
		n, oobn, _, from, rerr = unix.Recvmsg(int(fd), buf, s.oob, 0)
		return rerr != unix.EAGAIN
	})
	if err == nil {
		err = rerr
	}
	if err != nil {
		return r, err
	}
	if s.fam == 4 {
		if n < ipv4HdrLen {
			return r, ErrShort
		}
		r.msg = buf[:n]
		r.src = netip.AddrFrom4([4]byte(buf[12:16]))
		r.dst = netip.AddrFrom4([4]byte(buf[16:20]))
		r.ttl = int(buf[8])
		return r, nil
	}
	sa, ok := from.(*unix.SockaddrInet6)
	if !ok {
		return r, errors.New("vrrp: datagram without an IPv6 source")
	}
	r.msg = buf[:n]
	r.src = netip.AddrFrom16(sa.Addr)
	r.ttl = -1
	cmsgs, err := unix.ParseSocketControlMessage(s.oob[:oobn])
	if err != nil {
		return r, err
	}
	for _, c := range cmsgs {
		if c.Header.Level != unix.IPPROTO_IPV6 {
			continue
		}
		switch c.Header.Type {
		case unix.IPV6_HOPLIMIT:
			if len(c.Data) >= 4 {
				r.ttl = int(int32(nativeUint32(c.Data)))
			}
		case unix.IPV6_PKTINFO:
			if len(c.Data) >= 16 {
				r.dst = netip.AddrFrom16([16]byte(c.Data[:16]))
			}
		}
	}
	if !r.dst.IsValid() {
		return r, errors.New("vrrp: datagram without IPV6_PKTINFO")
	}
	return r, nil
}

// write sends a datagram: for IPv4 the whole datagram (IP_HDRINCL), for
// IPv6 the VRRP message.
func (s *rawSocket) write(b []byte, dst netip.Addr) error {
	var sa unix.Sockaddr
	if s.fam == 4 {
		sa = &unix.SockaddrInet4{Addr: dst.As4()}
	} else {
		s6 := &unix.SockaddrInet6{Addr: dst.As16()}
		if dst.IsLinkLocalUnicast() || dst.IsLinkLocalMulticast() || dst.IsInterfaceLocalMulticast() {
			s6.ZoneId = uint32(s.ifi)
		}
		sa = s6
	}
	var werr error
	err := s.rc.Write(func(fd uintptr) bool {
		werr = unix.Sendto(int(fd), b, 0, sa)
		return werr != unix.EAGAIN
	})
	if err == nil {
		err = werr
	}
	return err
}

func (s *rawSocket) close() error { return s.f.Close() }

// nativeUint32 reads a host-order uint32 (control message data).
func nativeUint32(b []byte) uint32 { return binary.NativeEndian.Uint32(b) }

// primaryAddr picks the interface's address of the family: the first
// IPv4 address, or the first link-local IPv6 address.
func primaryAddr(ifi *net.Interface, fam int) (netip.Addr, error) {
	addrs, err := ifi.Addrs()
	if err != nil {
		return netip.Addr{}, fmt.Errorf("vrrp: addresses of %s: %w", ifi.Name, err)
	}
	for _, a := range addrs {
		n, ok := a.(*net.IPNet)
		if !ok {
			continue
		}
		ip, ok := netip.AddrFromSlice(n.IP)
		if !ok {
			continue
		}
		ip = ip.Unmap()
		if fam == 4 && ip.Is4() {
			return ip, nil
		}
		if fam == 6 && ip.Is6() && ip.IsLinkLocalUnicast() {
			return ip, nil
		}
	}
	return netip.Addr{}, fmt.Errorf("vrrp: %s has no IPv%d address to send adverts from", ifi.Name, fam)
}
