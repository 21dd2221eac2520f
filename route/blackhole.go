package route

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// ProtoGdirector marks the routes gdirector installs (RTM_NEWROUTE's
// rtm_protocol; `ip route show proto 250` lists them).
const ProtoGdirector = 250

// Blackholes keeps a blackhole host route in the host kernel for every
// address the director owns in userspace (VIPs, FullNAT local addresses).
//
// The address is on no kernel interface, yet the kernel sees each frame
// gdirector takes from the raw socket too. With forwarding off it drops
// IPv4 packets for it silently, but an IPv6 packet for which it has no
// route at all is answered with ICMPv6 "no route to destination", which
// makes the client abort the connection gdirector is serving. A blackhole
// route (/32 or /128) makes the kernel drop its copy silently for both
// families, with or without forwarding; the cost is that programs on the
// director host itself cannot reach the VIPs.
//
// Sync installs and removes routes to match the owned set; Close removes
// everything Sync installed. Only routes this value installed are ever
// removed.
type Blackholes struct {
	mu        sync.Mutex
	installed map[netip.Addr]bool
	// add and del default to netlink.RouteReplace and RouteDel; tests
	// replace them.
	add, del func(*netlink.Route) error
}

// NewBlackholes returns an empty set working on the kernel of the current
// network namespace.
func NewBlackholes() *Blackholes {
	return &Blackholes{installed: map[netip.Addr]bool{}, add: netlink.RouteReplace, del: netlink.RouteDel}
}

func blackhole(a netip.Addr) *netlink.Route {
	a = a.Unmap()
	bits := 32
	fam := netlink.FAMILY_V4
	if a.Is6() {
		bits, fam = 128, netlink.FAMILY_V6
	}
	return &netlink.Route{
		Dst:      &net.IPNet{IP: net.IP(a.AsSlice()), Mask: net.CIDRMask(bits, bits)},
		Type:     unix.RTN_BLACKHOLE,
		Protocol: ProtoGdirector,
		Family:   fam,
		Table:    unix.RT_TABLE_MAIN,
	}
}

// Sync makes the installed set equal to addrs: new addresses get a
// blackhole route, addresses no longer owned lose theirs. Errors are
// joined; an address whose route could not be added is tried again on the
// next Sync.
func (b *Blackholes) Sync(addrs []netip.Addr) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	want := make(map[netip.Addr]bool, len(addrs))
	for _, a := range addrs {
		if a.IsValid() {
			want[a.Unmap()] = true
		}
	}
	var errs []error
	for a := range b.installed {
		if !want[a] {
			if err := b.del(blackhole(a)); err != nil && !errors.Is(err, unix.ESRCH) {
				errs = append(errs, fmt.Errorf("remove blackhole route %v: %w", a, err))
			}
			delete(b.installed, a)
		}
	}
	for a := range want {
		if b.installed[a] {
			continue
		}
		if err := b.add(blackhole(a)); err != nil {
			errs = append(errs, fmt.Errorf("blackhole route %v: %w", a, err))
			continue
		}
		b.installed[a] = true
	}
	return errors.Join(errs...)
}

// Close removes every route Sync installed.
func (b *Blackholes) Close() error { return b.Sync(nil) }
