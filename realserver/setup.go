package realserver

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"slices"
	"strings"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// DROptions configures SetupDR (and the host part of RunTun).
type DROptions struct {
	// VIPs are the virtual addresses (IPv4 and/or IPv6) to accept.
	VIPs []netip.Addr
	// Dev holds the VIPs; "" means "lo".
	Dev string
	// Ifaces are the real interfaces that also get arp_ignore and
	// arp_announce; nil means every up, non-loopback interface with an IPv4
	// address.
	Ifaces []string
	// StateDir holds the state file; "" means DefaultStateDir.
	StateDir string
}

// ParseVIP parses a virtual address: a literal address, or one with a
// host-length prefix (/32, /128). Unspecified, loopback, multicast and
// link-local addresses are refused, as are zones.
func ParseVIP(s string) (netip.Addr, error) {
	s = strings.TrimSpace(s)
	var a netip.Addr
	var err error
	if strings.Contains(s, "/") {
		var p netip.Prefix
		p, err = netip.ParsePrefix(s)
		if err == nil && p.Bits() != p.Addr().BitLen() {
			return netip.Addr{}, fmt.Errorf("VIP %q: must be a single address (/%d)", s, p.Addr().BitLen())
		}
		a = p.Addr()
	} else {
		a, err = netip.ParseAddr(s)
	}
	if err != nil {
		return netip.Addr{}, fmt.Errorf("VIP %q: %w", s, err)
	}
	a = a.Unmap()
	switch {
	case a.Zone() != "":
		return netip.Addr{}, fmt.Errorf("VIP %q: zones are not allowed", s)
	case a.IsUnspecified(), a.IsLoopback(), a.IsMulticast(), a.IsLinkLocalUnicast(),
		a.Is4() && a == netip.AddrFrom4([4]byte{255, 255, 255, 255}):
		return netip.Addr{}, fmt.Errorf("VIP %q: not a usable unicast address", s)
	}
	return a, nil
}

func (o *DROptions) check() error {
	if len(o.VIPs) == 0 {
		return errors.New("realserver: no VIP given")
	}
	o.VIPs = slices.Clone(o.VIPs) // the caller's slice is left alone
	for i, v := range o.VIPs {
		if !v.IsValid() {
			return fmt.Errorf("realserver: VIP #%d is invalid", i+1)
		}
		o.VIPs[i] = v.Unmap()
	}
	if o.Dev == "" {
		o.Dev = "lo"
	}
	for _, n := range append([]string{o.Dev}, o.Ifaces...) {
		if n == "" || len(n) >= unix.IFNAMSIZ || strings.ContainsAny(n, "/ \x00") || n == "." || n == ".." {
			return fmt.Errorf("realserver: invalid interface name %q", n)
		}
	}
	return nil
}

func hostPrefix(a netip.Addr) netip.Prefix { return netip.PrefixFrom(a, a.BitLen()) }

func hasIPv4(vips []netip.Addr) bool {
	return slices.ContainsFunc(vips, netip.Addr.Is4)
}

func hasIPv6(vips []netip.Addr) bool {
	return slices.ContainsFunc(vips, netip.Addr.Is6)
}

// SetupDR configures this host as a DR real server for o.VIPs (see the
// package documentation), records what it changed in the "dr" state file
// and returns that state. Running it again changes nothing more; new VIPs
// are added to the same state.
func SetupDR(o DROptions) (*State, error) {
	return setup(ModeDR, o, nil)
}

// Undo loads the state file of mode from dir ("" for DefaultStateDir) and
// undoes it. Without a state file it returns an error wrapping ErrNoState.
func Undo(dir, mode string) (*State, error) {
	s, err := LoadState(dir, mode)
	if err != nil {
		return nil, err
	}
	return s, s.Undo()
}

// setup runs the host part shared by DR and TUN: ARP sysctls, then extra
// (more sysctls), then the VIPs. On failure it rolls back what this call
// changed and returns the error.
func setup(mode string, o DROptions, extra func(*State) error) (*State, error) {
	if err := o.check(); err != nil {
		return nil, err
	}
	s, err := LoadState(o.StateDir, mode)
	if errors.Is(err, ErrNoState) {
		s, err = &State{Mode: mode, path: StatePath(o.StateDir, mode)}, nil
	}
	if err != nil {
		return nil, err
	}
	s.Log, s.Notes = nil, nil
	h, err := netlink.NewHandle()
	if err != nil {
		return nil, fmt.Errorf("realserver: netlink: %w", err)
	}
	defer h.Close()
	link, err := h.LinkByName(o.Dev)
	if err != nil {
		return nil, fmt.Errorf("realserver: device %q: %w", o.Dev, err)
	}
	if link.Attrs().Flags&net.FlagUp == 0 {
		s.Notes = append(s.Notes, fmt.Sprintf("warning: %s is down", o.Dev))
	}
	nAdded, nSysctls := len(s.Added), len(s.Sysctls)
	fail := func(err error) (*State, error) {
		rb := errors.Join(s.removeAddrs(h, nAdded), s.restoreSysctls(nSysctls))
		if rb == nil {
			rb = s.save()
		}
		if rb != nil {
			return nil, fmt.Errorf("%w (rollback: %v)", err, rb)
		}
		return nil, err
	}

	if err := s.arpSysctls(h, o); err != nil {
		return fail(err)
	}
	if extra != nil {
		if err := extra(s); err != nil {
			return fail(err)
		}
	}
	if err := s.addVIPs(h, link, o.VIPs); err != nil {
		return fail(err)
	}
	s.Dev = o.Dev
	for _, v := range o.VIPs {
		if !slices.Contains(s.VIPs, v) {
			s.VIPs = append(s.VIPs, v)
		}
	}
	if err := s.save(); err != nil {
		return fail(err)
	}
	return s, nil
}

// arpSysctls sets arp_ignore=1 and arp_announce=2 on conf/all, the VIP
// device and the real interfaces, when there is an IPv4 VIP.
func (s *State) arpSysctls(h *netlink.Handle, o DROptions) error {
	if !hasIPv4(o.VIPs) {
		return nil
	}
	devs := []string{"all", o.Dev}
	if o.Ifaces != nil {
		devs = append(devs, o.Ifaces...)
	} else {
		real, err := realInterfaces(h)
		if err != nil {
			return err
		}
		devs = append(devs, real...)
	}
	seen := map[string]bool{}
	for _, d := range devs {
		if seen[d] {
			continue
		}
		seen[d] = true
		// conf/all and the named devices must exist.
		if err := s.ensureSysctl("net/ipv4/conf/"+d+"/arp_ignore", "1", false); err != nil {
			return err
		}
		if err := s.ensureSysctl("net/ipv4/conf/"+d+"/arp_announce", "2", false); err != nil {
			return err
		}
	}
	return nil
}

// realInterfaces lists the up, non-loopback interfaces with an IPv4
// address.
func realInterfaces(h *netlink.Handle) ([]string, error) {
	links, err := h.LinkList()
	if err != nil {
		return nil, fmt.Errorf("realserver: list links: %w", err)
	}
	var out []string
	for _, l := range links {
		a := l.Attrs()
		if a.Flags&net.FlagLoopback != 0 || a.Flags&net.FlagUp == 0 {
			continue
		}
		addrs, err := h.AddrList(l, netlink.FAMILY_V4)
		if err != nil {
			return nil, fmt.Errorf("realserver: addresses of %s: %w", a.Name, err)
		}
		if len(addrs) > 0 {
			out = append(out, a.Name)
		}
	}
	return out, nil
}

// addVIPs adds each VIP as a host address on link unless it is there
// already, recording only the ones it added.
func (s *State) addVIPs(h *netlink.Handle, link netlink.Link, vips []netip.Addr) error {
	dev := link.Attrs().Name
	where, err := localAddrs(h)
	if err != nil {
		return err
	}
	for _, v := range vips {
		p := hostPrefix(v)
		if devs := where[v]; len(devs) > 0 {
			switch {
			case slices.Contains(devs, dev) && s.added(dev, p):
				// Ours from an earlier run.
			case slices.Contains(devs, dev):
				s.Notes = append(s.Notes, fmt.Sprintf("%s already on %s: left alone", v, dev))
			default:
				s.Notes = append(s.Notes, fmt.Sprintf("warning: %s is already configured on %s (not %s): left alone; "+
					"on a real interface it is announced to the network", v, strings.Join(devs, ","), dev))
			}
			continue
		}
		a := &netlink.Addr{IPNet: &net.IPNet{IP: net.IP(v.AsSlice()), Mask: net.CIDRMask(p.Bits(), v.BitLen())}}
		if v.Is6() {
			a.Flags = unix.IFA_F_NODAD
		}
		if err := h.AddrAdd(link, a); err != nil {
			return fmt.Errorf("realserver: add %s on %s: %w", p, dev, err)
		}
		s.Added = append(s.Added, AddedAddr{Dev: dev, Prefix: p})
		s.Log = append(s.Log, fmt.Sprintf("added %s on %s", p, dev))
	}
	return nil
}

// localAddrs maps every address configured on this host to the devices
// holding it.
func localAddrs(h *netlink.Handle) (map[netip.Addr][]string, error) {
	links, err := h.LinkList()
	if err != nil {
		return nil, fmt.Errorf("realserver: list links: %w", err)
	}
	names := make(map[int]string, len(links))
	for _, l := range links {
		names[l.Attrs().Index] = l.Attrs().Name
	}
	addrs, err := h.AddrList(nil, netlink.FAMILY_ALL)
	if err != nil {
		return nil, fmt.Errorf("realserver: list addresses: %w", err)
	}
	out := make(map[netip.Addr][]string, len(addrs))
	for _, a := range addrs {
		ip, ok := netip.AddrFromSlice(a.IP)
		if !ok {
			continue
		}
		ip = ip.Unmap()
		out[ip] = append(out[ip], names[a.LinkIndex])
	}
	return out, nil
}

// removeAddrs removes the recorded addresses from index from on, newest
// first, and drops them from the state. An address or device that is
// already gone counts as removed.
func (s *State) removeAddrs(h *netlink.Handle, from int) error {
	var errs []error
	for i := len(s.Added) - 1; i >= from; i-- {
		a := s.Added[i]
		link, err := h.LinkByName(a.Dev)
		var nf netlink.LinkNotFoundError
		switch {
		case errors.As(err, &nf):
			s.Notes = append(s.Notes, fmt.Sprintf("skipped %s: device %s is gone", a.Prefix, a.Dev))
		case err != nil:
			errs = append(errs, fmt.Errorf("realserver: device %s: %w", a.Dev, err))
			continue
		default:
			na := &netlink.Addr{IPNet: &net.IPNet{IP: net.IP(a.Prefix.Addr().AsSlice()),
				Mask: net.CIDRMask(a.Prefix.Bits(), a.Prefix.Addr().BitLen())}}
			err := h.AddrDel(link, na)
			switch {
			case err == nil:
				s.Log = append(s.Log, fmt.Sprintf("removed %s from %s", a.Prefix, a.Dev))
			case errors.Is(err, unix.EADDRNOTAVAIL), errors.Is(err, unix.ENOENT), errors.Is(err, unix.ENODEV):
				s.Notes = append(s.Notes, fmt.Sprintf("skipped %s: no longer on %s", a.Prefix, a.Dev))
			default:
				errs = append(errs, fmt.Errorf("realserver: remove %s from %s: %w", a.Prefix, a.Dev, err))
				continue
			}
		}
		s.Added = append(s.Added[:i], s.Added[i+1:]...)
	}
	return errors.Join(errs...)
}

// Undo removes the addresses the setup added, then restores the sysctls
// it changed (newest first) and deletes the state file. What could not be
// undone stays recorded, and the error says why.
func (s *State) Undo() error {
	s.Log, s.Notes = nil, nil
	h, err := netlink.NewHandle()
	if err != nil {
		return fmt.Errorf("realserver: netlink: %w", err)
	}
	defer h.Close()
	err = errors.Join(s.removeAddrs(h, 0), s.restoreSysctls(0))
	if s.path != "" {
		if serr := s.save(); serr != nil {
			err = errors.Join(err, serr)
		}
	}
	return err
}

// sysctlDevices lists the interfaces under /proc/sys/net/ipv4/conf, without
// "all" and "default".
func sysctlDevices() ([]string, error) {
	dir, err := sysctlFile("net/ipv4/conf")
	if err != nil {
		return nil, err
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("realserver: %w", err)
	}
	var out []string
	for _, e := range ents {
		if n := e.Name(); n != "all" && n != "default" {
			out = append(out, n)
		}
	}
	return out, nil
}

// relaxRPFilter makes reverse-path filtering accept packets from clients
// arriving on the TUN device (whose own rp_filter is set to 0 when it is
// created) without weakening any existing interface: when conf/all is
// strict (1), every interface whose own value is 0 is raised to 1 first,
// then conf/all is lowered to 0; the effective value max(all, dev) of every
// existing interface stays the same. skip names the TUN device.
func (s *State) relaxRPFilter(skip string) error {
	const allKey = "net/ipv4/conf/all/rp_filter"
	cur, err := getSysctl(allKey)
	if err != nil {
		return err
	}
	rec := s.sysctl(allKey)
	if cur != "1" && (rec == nil || rec.Old != "1") {
		return nil // 0 (off) or 2 (loose) accept the tunnelled packets
	}
	devs, err := sysctlDevices()
	if err != nil {
		return err
	}
	for _, d := range devs {
		if d == skip {
			continue
		}
		key := "net/ipv4/conf/" + d + "/rp_filter"
		v, err := getSysctl(key)
		if errors.Is(err, os.ErrNotExist) {
			continue // went away meanwhile
		}
		if err != nil {
			return err
		}
		if v == "0" || s.sysctl(key) != nil {
			if err := s.ensureSysctl(key, "1", true); err != nil {
				return err
			}
		}
	}
	return s.ensureSysctl(allKey, "0", false)
}
