package ctl

import (
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/gdirector/gdirector/vs"
)

var (
	lip1 = netip.MustParseAddr("198.51.100.250")
	lip2 = netip.MustParseAddr("198.51.100.251")
	lip6 = netip.MustParseAddr("2001:db8:5::250")
)

// laddrNames lists a snapshot's local addresses as "addr@iface".
func laddrNames(las []*vs.LocalAddr) []string {
	var out []string
	for _, la := range las {
		out = append(out, la.Addr.String()+"@"+la.Iface)
	}
	return out
}

func TestLAddrLifecycle(t *testing.T) {
	r := newRig(t)
	must(t, r.m.AddService(rrService(web())))
	// A FullNAT real server before any local address is fine (DPVS).
	must(t, r.m.AddDest(web(), DestConfig{Addr: rip1, Port: 8080, Fwd: vs.FullNAT, Weight: 1}))
	if las, err := r.m.LAddrs(web()); err != nil || len(las) != 0 {
		t.Fatalf("LAddrs = %v, %v", las, err)
	}

	n := r.changes
	must(t, r.m.AddLAddr(web(), lip1, "eth1"))
	if r.changes != n+1 {
		t.Fatal("AddLAddr did not publish")
	}
	first := r.m.Table().Get(web().Key())
	must(t, r.m.AddLAddr(web(), lip2, ""))
	s := r.m.Table().Get(web().Key())
	if got := laddrNames(s.LAddrs); !slices.Equal(got, []string{"198.51.100.250@eth1", "198.51.100.251@"}) {
		t.Fatalf("laddrs %v", got)
	}
	// The earlier snapshot is untouched, and the objects are shared.
	if len(first.LAddrs) != 1 || first.LAddrs[0] != s.LAddrs[0] {
		t.Fatalf("earlier snapshot changed: %v", laddrNames(first.LAddrs))
	}
	if s.LAddrs[0].Addr16 != lip1.As16() {
		t.Fatal("Addr16")
	}
	// Dests, stats and scheduler are kept.
	if s.Sched != first.Sched || s.Stats != first.Stats || len(s.Dests) != 1 || s.Dests[0] != first.Dests[0] {
		t.Fatal("service state not kept")
	}

	// Editing the service keeps its local addresses.
	c := rrService(web())
	c.Scheduler = "wrr"
	must(t, r.m.EditService(c))
	if got := laddrNames(r.m.Table().Get(web().Key()).LAddrs); len(got) != 2 {
		t.Fatalf("after edit: %v", got)
	}

	// LAddrs returns a copy.
	las, err := r.m.LAddrs(web())
	must(t, err)
	las[0] = nil
	if r.m.Table().Get(web().Key()).LAddrs[0] == nil {
		t.Fatal("LAddrs exposed the snapshot's slice")
	}

	// Delete matches the address whatever its interface.
	before := r.m.Table().Get(web().Key())
	must(t, r.m.DelLAddr(web(), lip1))
	if got := laddrNames(r.m.Table().Get(web().Key()).LAddrs); !slices.Equal(got, []string{"198.51.100.251@"}) {
		t.Fatalf("after delete: %v", got)
	}
	if len(before.LAddrs) != 2 {
		t.Fatal("delete changed the earlier snapshot")
	}
	// Re-added: at the end, a new object.
	must(t, r.m.AddLAddr(web(), lip1, "eth2"))
	got := r.m.Table().Get(web().Key()).LAddrs
	if !slices.Equal(laddrNames(got), []string{"198.51.100.251@", "198.51.100.250@eth2"}) || got[1] == before.LAddrs[0] {
		t.Fatalf("re-added: %v", laddrNames(got))
	}

	// Deleting the service drops them; a new service starts without.
	must(t, r.m.DelService(web()))
	must(t, r.m.AddService(rrService(web())))
	if len(r.m.Table().Get(web().Key()).LAddrs) != 0 {
		t.Fatal("laddrs survived the service")
	}
	must(t, r.m.AddLAddr(web(), lip1, ""))
	must(t, r.m.Flush())
	must(t, r.m.AddService(rrService(web())))
	if len(r.m.Table().Get(web().Key()).LAddrs) != 0 {
		t.Fatal("laddrs survived a flush")
	}
}

func TestLAddrErrors(t *testing.T) {
	r := newRig(t)
	must(t, r.m.AddService(rrService(web())))
	v6 := ServiceID{Proto: vs.TCP, Addr: vip6, Port: 80}
	must(t, r.m.AddService(rrService(v6)))
	fwm6 := ServiceID{FwMark: 9, IPv6: true}
	must(t, r.m.AddService(rrService(fwm6)))
	must(t, r.m.AddLAddr(web(), lip1, "eth1"))
	missing := ServiceID{Proto: vs.UDP, Addr: vip, Port: 53}

	for _, tc := range []struct {
		name  string
		id    ServiceID
		addr  netip.Addr
		iface string
		want  error
	}{
		{"no service", missing, lip2, "", ErrServiceNotDefined},
		{"no service, bad address too", missing, netip.Addr{}, "", ErrServiceNotDefined},
		{"duplicate", web(), lip1, "eth1", ErrLAddrExists},
		{"duplicate other iface", web(), lip1, "eth2", ErrLAddrExists},
		{"zero address", web(), netip.Addr{}, "", ErrInvalid},
		{"unspecified", web(), netip.MustParseAddr("0.0.0.0"), "", ErrInvalid},
		{"this network", web(), netip.MustParseAddr("0.1.2.3"), "", ErrInvalid},
		{"multicast", web(), netip.MustParseAddr("224.0.0.1"), "", ErrInvalid},
		{"broadcast", web(), netip.MustParseAddr("255.255.255.255"), "", ErrInvalid},
		{"v4-mapped", v6, netip.MustParseAddr("::ffff:198.51.100.9"), "", ErrInvalid},
		{"v6 link-local", v6, netip.MustParseAddr("fe80::1"), "", ErrInvalid},
		{"iface too long", web(), lip2, strings.Repeat("e", MaxIfaceLen+1), ErrInvalid},
		{"iface slash", web(), lip2, "eth/1", ErrInvalid},
		{"iface colon", web(), lip2, "eth0:1", ErrInvalid},
		{"iface space", web(), lip2, "eth 1", ErrInvalid},
		{"iface dot", web(), lip2, ".", ErrInvalid},
		{"iface dotdot", web(), lip2, "..", ErrInvalid},
		{"v6 on v4 service", web(), lip6, "", ErrAddrFamily},
		{"v4 on v6 service", v6, lip1, "", ErrAddrFamily},
		{"v4 on v6 fwmark", fwm6, lip1, "", ErrAddrFamily},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r.unchanged(t, tc.want, func() error { return r.m.AddLAddr(tc.id, tc.addr, tc.iface) })
		})
	}
	t.Run("longest iface", func(t *testing.T) {
		must(t, r.m.AddLAddr(web(), lip2, strings.Repeat("e", MaxIfaceLen)))
	})
	t.Run("ipv6 and fwmark", func(t *testing.T) {
		must(t, r.m.AddLAddr(v6, lip6, ""))
		must(t, r.m.AddLAddr(fwm6, lip6, "eth0"))
		// The same address may serve several services.
		must(t, r.m.AddLAddr(ServiceID{FwMark: 9, IPv6: true}, netip.MustParseAddr("2001:db8:5::251%eth0"), ""))
		las, err := r.m.LAddrs(fwm6)
		must(t, err)
		if got := laddrNames(las); !slices.Equal(got, []string{"2001:db8:5::250@eth0", "2001:db8:5::251@"}) {
			t.Fatalf("%v", got)
		}
	})
	t.Run("del errors", func(t *testing.T) {
		r.unchanged(t, ErrServiceNotDefined, func() error { return r.m.DelLAddr(missing, lip1) })
		r.unchanged(t, ErrNoSuchLAddr, func() error { return r.m.DelLAddr(web(), lip6) })
		r.unchanged(t, ErrNoSuchLAddr, func() error { return r.m.DelLAddr(v6, lip1) })
		r.unchanged(t, ErrNoSuchLAddr, func() error { return r.m.DelLAddr(web(), netip.Addr{}) })
	})
	t.Run("list errors", func(t *testing.T) {
		if _, err := r.m.LAddrs(missing); err != ErrServiceNotDefined {
			t.Fatalf("LAddrs of a missing service: %v", err)
		}
	})
}

// TestLAddrConcurrent: adding and deleting local addresses while readers
// walk the published snapshots (run with -race).
func TestLAddrConcurrent(t *testing.T) {
	r := newRig(t)
	must(t, r.m.AddService(rrService(web())))
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				s := r.tbl.Load().Get(web().Key())
				for _, la := range s.LAddrs {
					la.Conflicts.Add(1)
					_ = la.Addr16
				}
			}
		}()
	}
	for i := range 200 {
		a := netip.AddrFrom4([4]byte{198, 51, 100, byte(i%8 + 1)})
		if i%16 < 8 {
			must(t, r.m.AddLAddr(web(), a, ""))
		} else {
			must(t, r.m.DelLAddr(web(), a))
		}
	}
	close(stop)
	wg.Wait()
}
