package lab

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/gdirector/gdirector/internal/nsutil"
)

// maxPrefix bounds a prefix so that "<prefix>-<role>" stays a short file
// name that is readable in `ip netns list`.
const maxPrefix = 40

var buildSeq atomic.Int64

// DefaultPrefix returns "gdl<pid>" for the first call in a process and
// "gdl<pid>b<n>" afterwards, so that several labs of one process (and labs
// of concurrent processes) never share names.
func DefaultPrefix() string {
	n := buildSeq.Add(1)
	if n == 1 {
		return fmt.Sprintf("gdl%d", os.Getpid())
	}
	return fmt.Sprintf("gdl%db%d", os.Getpid(), n)
}

// ValidPrefix reports whether p can prefix lab names: 1 to 40 characters
// from [A-Za-z0-9_.], starting with a letter. '-' is excluded because it
// separates the prefix from the role.
func ValidPrefix(p string) bool {
	if p == "" || len(p) > maxPrefix {
		return false
	}
	for i, c := range p {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z':
		case i > 0 && (c >= '0' && c <= '9' || c == '_' || c == '.'):
		default:
			return false
		}
	}
	return true
}

// Cleanup deletes every namespace of the lab with the given prefix
// ("<prefix>-*") and kills what runs in them: the remedy for a crashed run.
// Namespaces of other prefixes are not touched.
func Cleanup(prefix string) error {
	if !ValidPrefix(prefix) {
		return fmt.Errorf("lab: invalid prefix %q", prefix)
	}
	return nsutil.Cleanup(prefix + "-")
}

// Builder creates namespaces, links, addresses and routes for a lab and
// remembers what it created so that Close removes exactly that, also after a
// partial failure. Topologies (NAT now; DR, TUN, FullNAT later) are
// sequences of Builder calls. A Builder is safe for concurrent use, but a
// topology is normally built from one goroutine.
type Builder struct {
	prefix string

	mu         sync.Mutex
	namespaces []string // created, in order
	procs      []*nsutil.Proc
	closed     bool
	ipv6       bool // namespaces get IPv6 enabled (see SetIPv6)
}

// SetIPv6 selects how AddNamespace and AddBridge prepare what they create
// from now on. Off (the default) disables IPv6 in every namespace. On keeps
// IPv6 enabled, without duplicate address detection (addresses are usable
// at once), router solicitations or autoconfiguration, and creates bridges
// without multicast snooping, so neighbour solicitations reach every port
// whatever the multicast listener reports said.
func (b *Builder) SetIPv6(on bool) {
	b.mu.Lock()
	b.ipv6 = on
	b.mu.Unlock()
}

// IPv6 reports whether SetIPv6(true) is in effect.
func (b *Builder) IPv6() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.ipv6
}

// ipv6Sysctls are set, in order, in every namespace of a dual-stack lab:
// "default" before "all", so that interfaces created later inherit them.
var ipv6Sysctls = [][2]string{
	{"net.ipv6.conf.default.disable_ipv6", "0"}, {"net.ipv6.conf.all.disable_ipv6", "0"},
	{"net.ipv6.conf.default.accept_dad", "0"}, {"net.ipv6.conf.all.accept_dad", "0"},
	{"net.ipv6.conf.default.accept_ra", "0"}, {"net.ipv6.conf.all.accept_ra", "0"},
	{"net.ipv6.conf.default.autoconf", "0"}, {"net.ipv6.conf.all.autoconf", "0"},
}

// NewBuilder returns a Builder for names "<prefix>-<role>". An empty prefix
// selects DefaultPrefix().
func NewBuilder(prefix string) (*Builder, error) {
	if prefix == "" {
		prefix = DefaultPrefix()
	}
	if !ValidPrefix(prefix) {
		return nil, fmt.Errorf("lab: invalid prefix %q (1-%d of [A-Za-z0-9_.], starting with a letter)", prefix, maxPrefix)
	}
	return &Builder{prefix: prefix}, nil
}

// Prefix returns the name prefix.
func (b *Builder) Prefix() string { return b.prefix }

// NS returns the namespace name for a role: "<prefix>-<role>".
func (b *Builder) NS(role string) string { return b.prefix + "-" + role }

// Namespaces returns the namespaces created so far, in creation order.
func (b *Builder) Namespaces() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.namespaces...)
}

// AddNamespace creates the namespace "<prefix>-<role>", brings lo up and
// disables IPv6 in it (no DAD, router solicitations or MLD reports in
// captures; the lab is IPv4), or, after SetIPv6(true), keeps IPv6 with DAD,
// router advertisements and autoconfiguration off. It returns the
// namespace name.
func (b *Builder) AddNamespace(role string) (string, error) {
	if role == "" || strings.ContainsAny(role, "/\x00") {
		return "", fmt.Errorf("lab: invalid role %q", role)
	}
	name := b.NS(role)
	b.mu.Lock()
	closed, v6 := b.closed, b.ipv6
	b.mu.Unlock()
	if closed {
		return "", errors.New("lab: builder closed")
	}
	if err := nsutil.Create(name); err != nil {
		return "", fmt.Errorf("lab: %w", err)
	}
	b.mu.Lock()
	b.namespaces = append(b.namespaces, name)
	b.mu.Unlock()

	if v6 {
		for _, kv := range ipv6Sysctls {
			if _, err := nsutil.SetSysctl(name, kv[0], kv[1]); err != nil {
				return name, fmt.Errorf("lab: IPv6 in %s: %w", name, err)
			}
		}
	} else {
		for _, key := range []string{"net.ipv6.conf.all.disable_ipv6", "net.ipv6.conf.default.disable_ipv6"} {
			if _, err := nsutil.SetSysctl(name, key, "1"); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return name, fmt.Errorf("lab: %w", err) // ErrNotExist: kernel without IPv6
			}
		}
	}
	err := withHandle(name, func(h *netlink.Handle) error {
		lo, err := h.LinkByName("lo")
		if err != nil {
			return err
		}
		return h.LinkSetUp(lo)
	})
	if err != nil {
		return name, fmt.Errorf("lab: lo up in %s: %w", name, err)
	}
	return name, nil
}

// withHandle runs fn with a netlink handle whose sockets live in ns.
func withHandle(ns string, fn func(h *netlink.Handle) error) error {
	nsh, err := netns.GetFromName(ns)
	if err != nil {
		return fmt.Errorf("open namespace %s: %w", ns, err)
	}
	defer nsh.Close()
	h, err := netlink.NewHandleAt(nsh)
	if err != nil {
		return fmt.Errorf("netlink in %s: %w", ns, err)
	}
	defer h.Close()
	return fn(h)
}

// Endpoint is one end of a veth pair: the namespace, the interface name
// (at most 15 bytes) and the addresses to give it (host address with the
// subnet's length, e.g. 198.51.100.2/24).
type Endpoint struct {
	NS    string
	If    string
	Addrs []netip.Prefix
}

func ipNet(p netip.Prefix) *net.IPNet {
	return &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
}

// AddVeth creates a veth pair between two namespaces (created directly in
// them, so names like eth0 never collide with the host's), sets the MTU
// (0 keeps the default), adds the addresses, disables TSO/GSO/GRO on both
// ends and brings both up.
func (b *Builder) AddVeth(a, z Endpoint, mtu int) error {
	for _, e := range []Endpoint{a, z} {
		if e.If == "" || len(e.If) >= unix.IFNAMSIZ {
			return fmt.Errorf("lab: invalid interface name %q", e.If)
		}
	}
	peer, err := netns.GetFromName(z.NS)
	if err != nil {
		return fmt.Errorf("lab: open namespace %s: %w", z.NS, err)
	}
	defer peer.Close()
	err = withHandle(a.NS, func(h *netlink.Handle) error {
		v := &netlink.Veth{
			LinkAttrs:     netlink.LinkAttrs{Name: a.If, MTU: mtu, TxQLen: -1},
			PeerName:      z.If,
			PeerNamespace: netlink.NsFd(peer),
			PeerTxQLen:    -1, // -1: kernel default queue length (0 would mean none)
		}
		if mtu > 0 {
			v.PeerMTU = uint32(mtu)
		}
		return h.LinkAdd(v)
	})
	if err != nil {
		return fmt.Errorf("lab: veth %s/%s <-> %s/%s: %w", a.NS, a.If, z.NS, z.If, err)
	}
	for _, e := range []Endpoint{a, z} {
		if err := nsutil.DisableOffloads(e.NS, e.If); err != nil {
			return fmt.Errorf("lab: %w", err)
		}
		for _, p := range e.Addrs {
			if err := b.AddAddr(e.NS, e.If, p); err != nil {
				return err
			}
		}
		if err := b.LinkUp(e.NS, e.If); err != nil {
			return err
		}
	}
	return nil
}

// AddAddr adds an address (host address and prefix length) to an
// interface. IPv6 addresses get IFA_F_NODAD: usable at once.
func (b *Builder) AddAddr(ns, ifname string, p netip.Prefix) error {
	err := withHandle(ns, func(h *netlink.Handle) error {
		l, err := h.LinkByName(ifname)
		if err != nil {
			return err
		}
		a := &netlink.Addr{IPNet: ipNet(p)}
		if p.Addr().Is6() && !p.Addr().Is4In6() {
			a.Flags = unix.IFA_F_NODAD
		}
		return h.AddrAdd(l, a)
	})
	if err != nil {
		return fmt.Errorf("lab: address %s on %s/%s: %w", p, ns, ifname, err)
	}
	return nil
}

// LinkUp sets an interface up.
func (b *Builder) LinkUp(ns, ifname string) error {
	err := withHandle(ns, func(h *netlink.Handle) error {
		l, err := h.LinkByName(ifname)
		if err != nil {
			return err
		}
		return h.LinkSetUp(l)
	})
	if err != nil {
		return fmt.Errorf("lab: up %s/%s: %w", ns, ifname, err)
	}
	return nil
}

// AddBridge creates a Linux bridge in ns with STP off and a forward delay of
// 0 (ports forward at once), enslaves the given ports (interfaces already in
// ns) and brings everything up. After SetIPv6(true) multicast snooping is
// off too: the director answers neighbour solicitations for addresses no
// kernel joined the solicited-node group of.
func (b *Builder) AddBridge(ns, name string, ports ...string) error {
	if name == "" || len(name) >= unix.IFNAMSIZ {
		return fmt.Errorf("lab: invalid bridge name %q", name)
	}
	// vishvananda/netlink's Bridge type has no forward-delay or STP field,
	// so the RTM_NEWLINK request is written out here, sent from a thread
	// inside ns.
	err := nsutil.Do(ns, func() error {
		req := nl.NewNetlinkRequest(unix.RTM_NEWLINK, unix.NLM_F_CREATE|unix.NLM_F_EXCL|unix.NLM_F_ACK)
		req.AddData(nl.NewIfInfomsg(unix.AF_UNSPEC))
		req.AddData(nl.NewRtAttr(unix.IFLA_IFNAME, nl.ZeroTerminated(name)))
		info := nl.NewRtAttr(unix.IFLA_LINKINFO, nil)
		info.AddRtAttr(nl.IFLA_INFO_KIND, nl.NonZeroTerminated("bridge"))
		data := info.AddRtAttr(nl.IFLA_INFO_DATA, nil)
		data.AddRtAttr(nl.IFLA_BR_STP_STATE, nl.Uint32Attr(0))
		data.AddRtAttr(nl.IFLA_BR_FORWARD_DELAY, nl.Uint32Attr(0))
		if b.IPv6() {
			data.AddRtAttr(nl.IFLA_BR_MCAST_SNOOPING, nl.Uint8Attr(0))
		}
		req.AddData(info)
		_, err := req.Execute(unix.NETLINK_ROUTE, 0)
		return err
	})
	if err != nil {
		return fmt.Errorf("lab: bridge %s/%s: %w", ns, name, err)
	}
	for _, p := range ports {
		if err := b.AddBridgePort(ns, name, p); err != nil {
			return err
		}
	}
	return b.LinkUp(ns, name)
}

// AddBridgePort enslaves an interface of ns to the bridge and sets it up.
func (b *Builder) AddBridgePort(ns, bridge, port string) error {
	err := withHandle(ns, func(h *netlink.Handle) error {
		br, err := h.LinkByName(bridge)
		if err != nil {
			return err
		}
		l, err := h.LinkByName(port)
		if err != nil {
			return err
		}
		if err := h.LinkSetMaster(l, br); err != nil {
			return err
		}
		return h.LinkSetUp(l)
	})
	if err != nil {
		return fmt.Errorf("lab: port %s of bridge %s/%s: %w", port, ns, bridge, err)
	}
	return nil
}

// Route is a route to add with AddRoute. A zero Dst means the default route.
// Without Via the route is on-link (scope link) through Dev; Dev is then
// required.
type Route struct {
	Dst netip.Prefix
	Via netip.Addr
	Dev string
}

func (r Route) String() string {
	s := "default"
	if r.Dst.IsValid() {
		s = r.Dst.String()
	}
	if r.Via.IsValid() {
		s += " via " + r.Via.String()
	}
	if r.Dev != "" {
		s += " dev " + r.Dev
	}
	return s
}

// AddRoute adds a route in ns.
func (b *Builder) AddRoute(ns string, r Route) error {
	if !r.Via.IsValid() && r.Dev == "" {
		return fmt.Errorf("lab: route %s: needs a gateway or a device", r)
	}
	err := withHandle(ns, func(h *netlink.Handle) error {
		rt := netlink.Route{Scope: netlink.SCOPE_UNIVERSE}
		if r.Dst.IsValid() {
			rt.Dst = ipNet(r.Dst.Masked())
		} else if r.Via.Is4() {
			rt.Dst = ipNet(netip.PrefixFrom(netip.IPv4Unspecified(), 0))
		} else {
			rt.Dst = ipNet(netip.PrefixFrom(netip.IPv6Unspecified(), 0))
		}
		if r.Dev != "" {
			l, err := h.LinkByName(r.Dev)
			if err != nil {
				return err
			}
			rt.LinkIndex = l.Attrs().Index
		}
		if r.Via.IsValid() {
			rt.Gw = r.Via.AsSlice()
		} else {
			rt.Scope = netlink.SCOPE_LINK
		}
		return h.RouteAdd(&rt)
	})
	if err != nil {
		return fmt.Errorf("lab: route %s in %s: %w", r, ns, err)
	}
	return nil
}

// SetSysctl sets a sysctl in ns.
func (b *Builder) SetSysctl(ns, key, value string) error {
	if _, err := nsutil.SetSysctl(ns, key, value); err != nil {
		return fmt.Errorf("lab: %w", err)
	}
	return nil
}

// Start starts a process in ns (see nsutil.Start) that Close will stop.
func (b *Builder) Start(ns string, argv ...string) (*nsutil.Proc, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil, errors.New("lab: builder closed")
	}
	p, err := nsutil.Start(ns, argv...)
	if err != nil {
		return nil, fmt.Errorf("lab: %w", err)
	}
	b.procs = append(b.procs, p)
	return p, nil
}

// Procs returns the processes started through Start.
func (b *Builder) Procs() []*nsutil.Proc {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]*nsutil.Proc(nil), b.procs...)
}

// Close stops every process started through the Builder (SIGTERM, SIGKILL
// after 3 s, in parallel), then deletes every namespace it created, newest
// first, which also destroys their interfaces. Namespaces it did not create
// are left alone. Close is idempotent; later calls return nil.
func (b *Builder) Close() error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil
	}
	b.closed = true
	procs, names := b.procs, b.namespaces
	b.procs, b.namespaces = nil, nil
	b.mu.Unlock()

	errs := make([]error, len(procs))
	var wg sync.WaitGroup
	for i, p := range procs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = p.Stop()
		}()
	}
	wg.Wait()
	for i := len(names) - 1; i >= 0; i-- {
		if err := nsutil.Delete(names[i]); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
