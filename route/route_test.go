package route

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/gdirector/gdirector/internal/nsutil"
	"github.com/gdirector/gdirector/internal/roottest"
)

func TestStatic(t *testing.T) {
	s := &Static{
		Routes: []StaticRoute{
			{Prefix: netip.MustParsePrefix("0.0.0.0/0"), IfIndex: 1, Gateway: netip.MustParseAddr("198.51.100.254")},
			{Prefix: netip.MustParsePrefix("203.0.113.0/24"), IfIndex: 2, Src: netip.MustParseAddr("203.0.113.1")},
		},
		Neighbors: map[netip.Addr][6]byte{netip.MustParseAddr("203.0.113.11"): {2, 0, 0, 0, 0, 0x11}},
	}
	r, err := s.Route(netip.MustParseAddr("203.0.113.11"))
	if err != nil || r.IfIndex != 2 || r.NextHop != netip.MustParseAddr("203.0.113.11") || r.Src != netip.MustParseAddr("203.0.113.1") {
		t.Fatalf("on-link: %+v %v", r, err)
	}
	r, err = s.Route(netip.MustParseAddr("192.0.2.99"))
	if err != nil || r.IfIndex != 1 || r.NextHop != netip.MustParseAddr("198.51.100.254") {
		t.Fatalf("default: %+v %v", r, err)
	}
	if _, ok := s.Neighbor(2, netip.MustParseAddr("203.0.113.11")); !ok {
		t.Fatal("neighbour")
	}
	if _, err := (&Static{}).Route(netip.MustParseAddr("192.0.2.1")); err == nil {
		t.Fatal("empty router routed")
	}
}

// TestNetlink asks a namespace's kernel: the on-link route, the gateway of
// the default route, the preferred source, and a permanent neighbour.
func TestNetlink(t *testing.T) {
	roottest.Require(t, "ip")
	ns := fmt.Sprintf("gdt-route-%d", os.Getpid())
	if err := nsutil.Create(ns); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nsutil.Delete(ns) })
	for _, c := range [][]string{
		{"ip", "link", "add", "v0", "type", "veth", "peer", "name", "v1"},
		{"ip", "link", "set", "v0", "up"},
		{"ip", "link", "set", "v1", "up"},
		{"ip", "addr", "add", "203.0.113.1/24", "dev", "v0"},
		{"ip", "route", "add", "default", "via", "203.0.113.254"},
		{"ip", "neigh", "add", "203.0.113.11", "lladdr", "02:00:00:00:00:11", "dev", "v0", "nud", "permanent"},
	} {
		if out, err := exec.Command("ip", append([]string{"-n", ns}, c[1:]...)...).CombinedOutput(); err != nil {
			t.Fatalf("%v: %v %s", c, err, out)
		}
	}
	err := nsutil.Do(ns, func() error {
		link, err := netlink.LinkByName("v0")
		if err != nil {
			return err
		}
		idx := link.Attrs().Index
		var n Netlink
		r, err := n.Route(netip.MustParseAddr("203.0.113.11"))
		if err != nil || r.IfIndex != idx || r.NextHop != netip.MustParseAddr("203.0.113.11") || r.Src != netip.MustParseAddr("203.0.113.1") {
			t.Errorf("on-link route: %+v %v", r, err)
		}
		r, err = n.Route(netip.MustParseAddr("198.51.100.7"))
		if err != nil || r.IfIndex != idx || r.NextHop != netip.MustParseAddr("203.0.113.254") {
			t.Errorf("default route: %+v %v", r, err)
		}
		mac, ok := n.Neighbor(idx, netip.MustParseAddr("203.0.113.11"))
		if !ok || net.HardwareAddr(mac[:]).String() != "02:00:00:00:00:11" {
			t.Errorf("neighbour: %v %v", mac, ok)
		}
		if _, ok := n.Neighbor(idx, netip.MustParseAddr("203.0.113.12")); ok {
			t.Error("unknown neighbour found")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestBlackholesSync(t *testing.T) {
	var added, removed []string
	b := NewBlackholes()
	b.add = func(r *netlink.Route) error {
		if r.Type != unix.RTN_BLACKHOLE || r.Protocol != ProtoGdirector {
			t.Errorf("route %+v is not a gdirector blackhole", r)
		}
		if r.Dst.IP.Equal(net.ParseIP("192.0.2.99")) {
			return errors.New("refused")
		}
		added = append(added, r.Dst.String())
		return nil
	}
	b.del = func(r *netlink.Route) error { removed = append(removed, r.Dst.String()); return nil }
	a := func(s string) netip.Addr { return netip.MustParseAddr(s) }

	if err := b.Sync([]netip.Addr{a("192.0.2.10"), a("2001:db8:2::10"), a("::ffff:192.0.2.10")}); err != nil {
		t.Fatal(err)
	}
	slices.Sort(added)
	if got := strings.Join(added, " "); got != "192.0.2.10/32 2001:db8:2::10/128" {
		t.Fatalf("added %q", got)
	}
	added = nil
	if err := b.Sync([]netip.Addr{a("2001:db8:2::10"), a("192.0.2.99")}); err == nil {
		t.Fatal("a refused route reported no error")
	}
	if len(added) != 0 || strings.Join(removed, " ") != "192.0.2.10/32" {
		t.Fatalf("second sync added %q removed %q", added, removed)
	}
	removed = nil
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	// 192.0.2.99 was never installed, so Close removes only the IPv6 one.
	if strings.Join(removed, " ") != "2001:db8:2::10/128" {
		t.Fatalf("close removed %q", removed)
	}
}
