package ctl

import (
	"net/netip"
	"strings"

	"github.com/gdirector/gdirector/vs"
)

// MaxIfaceLen is the longest interface name AddLAddr accepts (Linux's
// IFNAMSIZ less the terminating NUL).
const MaxIfaceLen = 15

// validIface reports whether name could be a Linux interface name, as the
// kernel's dev_valid_name checks it: at most MaxIfaceLen bytes, not "." or
// "..", and no '/', ':' or white space. The empty name means "any".
func validIface(name string) bool {
	if name == "" {
		return true
	}
	if len(name) > MaxIfaceLen || name == "." || name == ".." {
		return false
	}
	return !strings.ContainsAny(name, "/: \t\n\v\f\r")
}

func lookupLAddr(s *service, addr netip.Addr) int {
	for i, la := range s.laddrs {
		if la.Addr == addr {
			return i
		}
	}
	return -1
}

// AddLAddr gives a service a FullNAT local address (DPVS's ipvsadm
// --add-laddr), bound to the interface iface ("" = any interface). The
// service's FullNAT real servers get connections from its local addresses
// in turn. Real servers may be added before any local address, as in DPVS;
// the data plane drops their new connections (counted) until one exists.
//
// Errors: ErrServiceNotDefined, ErrInvalid (an address that is not unicast,
// or a malformed interface name), ErrAddrFamily (not the service's
// family), ErrLAddrExists. The same address may serve several services:
// local ports are allocated against the connection table, which holds the
// tuples of every service.
func (m *Manager) AddLAddr(id ServiceID, addr netip.Addr, iface string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	_, s := m.find(id.Key())
	if s == nil {
		return ErrServiceNotDefined
	}
	addr = addr.WithZone("")
	if !addr.IsValid() || !unicast(addr) || !validIface(iface) {
		return ErrInvalid
	}
	if addr.Is6() != s.conf.isIPv6() {
		return ErrAddrFamily
	}
	if lookupLAddr(s, addr) >= 0 {
		return ErrLAddrExists
	}
	// A new slice: the published snapshot keeps its own.
	las := make([]*vs.LocalAddr, len(s.laddrs), len(s.laddrs)+1)
	copy(las, s.laddrs)
	s.laddrs = append(las, vs.NewLocalAddr(addr, iface))
	m.publish(s, false)
	return nil
}

// DelLAddr removes a local address from a service (DPVS's ipvsadm
// --del-laddr, which matches the address only, whatever interface it was
// bound to). Connections already using it keep it until they end; new
// connections no longer get it.
//
// Errors: ErrServiceNotDefined, ErrNoSuchLAddr.
func (m *Manager) DelLAddr(id ServiceID, addr netip.Addr) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	_, s := m.find(id.Key())
	if s == nil {
		return ErrServiceNotDefined
	}
	i := lookupLAddr(s, addr.WithZone(""))
	if i < 0 {
		return ErrNoSuchLAddr
	}
	las := make([]*vs.LocalAddr, 0, len(s.laddrs)-1)
	las = append(las, s.laddrs[:i]...)
	s.laddrs = append(las, s.laddrs[i+1:]...)
	m.publish(s, false)
	return nil
}

// LAddrs returns the local addresses of a service in the current snapshot,
// in the order they were added (a copy of the slice; the LocalAddr objects
// are shared), or ErrServiceNotDefined.
func (m *Manager) LAddrs(id ServiceID) ([]*vs.LocalAddr, error) {
	s := m.Table().Get(id.Key())
	if s == nil {
		return nil, ErrServiceNotDefined
	}
	return append([]*vs.LocalAddr(nil), s.LAddrs...), nil
}
