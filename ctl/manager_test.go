package ctl

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gdirector/gdirector/sched"
	"github.com/gdirector/gdirector/vs"
)

var (
	vip  = netip.MustParseAddr("192.0.2.10")
	vip6 = netip.MustParseAddr("2001:db8::10")
	rip1 = netip.MustParseAddr("203.0.113.11")
	rip2 = netip.MustParseAddr("203.0.113.12")
	rip6 = netip.MustParseAddr("2001:db8:1::11")
)

func web() ServiceID { return ServiceID{Proto: vs.TCP, Addr: vip, Port: 80} }

func rrService(id ServiceID) ServiceConfig {
	nm := uint32(0xffffffff)
	if id.isIPv6() {
		nm = 128
	}
	return ServiceConfig{ServiceID: id, Scheduler: "rr", Netmask: nm}
}

func masq(a netip.Addr) DestConfig {
	return DestConfig{Addr: a, Port: 80, Fwd: vs.Masq, Weight: 1}
}

type rig struct {
	m       *Manager
	tbl     atomic.Pointer[vs.Table]
	changes int
}

func newRig(t *testing.T) *rig {
	t.Helper()
	r := &rig{}
	r.m = NewManager(Config{Table: &r.tbl, OnChange: func(tb *vs.Table) {
		if tb != r.tbl.Load() {
			t.Error("OnChange called with a table that is not the published one")
		}
		r.changes++
	}})
	if r.tbl.Load() == nil {
		t.Fatal("no initial table")
	}
	return r
}

// destOf returns the dest addr:port of s, failing the test when s has none.
func destOf(t *testing.T, s *vs.Service, addr netip.Addr, port uint16) *vs.Dest {
	t.Helper()
	for _, d := range s.Dests {
		if d.Addr == addr && d.Port == port {
			return d
		}
	}
	t.Fatalf("no dest %v in %v", netip.AddrPortFrom(addr, port), s.Dests)
	return nil
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// unchanged runs op, expects err, and checks that nothing was published.
func (r *rig) unchanged(t *testing.T, want error, op func() error) {
	t.Helper()
	before, n := r.tbl.Load(), r.changes
	err := op()
	if !errors.Is(err, want) {
		t.Fatalf("error %v, want %v", err, want)
	}
	if err != nil && err.Error() != want.Error() {
		t.Fatalf("error text %q, want %q", err, want)
	}
	if r.tbl.Load() != before || r.changes != n {
		t.Fatal("a failed operation published a table")
	}
}

func TestServiceLifecycle(t *testing.T) {
	r := newRig(t)
	must(t, r.m.AddService(rrService(web())))
	if r.changes != 1 {
		t.Fatalf("%d changes", r.changes)
	}
	s := r.m.Table().Get(web().Key())
	if s == nil || s.SchedName != "rr" || s.Sched == nil || s.Stats == nil || s.Addr != vip || s.IPv6 {
		t.Fatalf("bad service %+v", s)
	}
	if got, err := r.m.Service(web()); err != nil || got != s {
		t.Fatalf("Service() = %v, %v", got, err)
	}
	r.unchanged(t, ErrServiceExists, func() error { return r.m.AddService(rrService(web())) })

	// Edit with the same scheduler keeps the instance.
	c := rrService(web())
	c.Flags = vs.SvcPersistent | vs.SvcHashed
	c.Timeout = 600
	must(t, r.m.EditService(c))
	s2 := r.m.Table().Get(web().Key())
	if s2 == s || s2.Sched != s.Sched || s2.Stats != s.Stats || s2.Flags != vs.SvcPersistent || s2.Timeout != 600 {
		t.Fatalf("edit: %+v", s2)
	}
	// Another scheduler: a new instance.
	c.Scheduler = "wrr"
	must(t, r.m.EditService(c))
	s3 := r.m.Table().Get(web().Key())
	if s3.Sched == s.Sched || s3.SchedName != "wrr" || s3.Sched.Name() != "wrr" {
		t.Fatalf("edit scheduler: %+v", s3)
	}
	c.Scheduler = "nope"
	r.unchanged(t, ErrSchedulerNotFound, func() error { return r.m.EditService(c) })
	missing := rrService(ServiceID{Proto: vs.UDP, Addr: vip, Port: 53})
	r.unchanged(t, ErrNoSuchService, func() error { return r.m.EditService(missing) })

	must(t, r.m.DelService(web()))
	if len(r.m.Table().Services) != 0 {
		t.Fatal("service not deleted")
	}
	r.unchanged(t, ErrNoSuchService, func() error { return r.m.DelService(web()) })
}

func TestAddServiceErrors(t *testing.T) {
	r := newRig(t)
	c := rrService(web())
	c.Scheduler = "nope"
	r.unchanged(t, ErrSchedulerNotFound, func() error { return r.m.AddService(c) })
	if err := r.m.AddService(c); !errors.Is(err, sched.ErrUnknown) {
		t.Fatalf("error %v does not wrap sched.ErrUnknown", err)
	}
	c = rrService(web())
	c.PE = "sip"
	r.unchanged(t, ErrSchedulerNotFound, func() error { return r.m.AddService(c) })
	for _, nm := range []uint32{0, 129} {
		c = rrService(ServiceID{Proto: vs.TCP, Addr: vip6, Port: 80})
		c.Netmask = nm
		r.unchanged(t, ErrInvalid, func() error { return r.m.AddService(c) })
	}
	c = rrService(ServiceID{Proto: 1, Addr: vip, Port: 80})
	r.unchanged(t, ErrInvalid, func() error { return r.m.AddService(c) })
	c = rrService(ServiceID{Proto: vs.TCP, Port: 80})
	r.unchanged(t, ErrInvalid, func() error { return r.m.AddService(c) })
}

func TestFwmarkService(t *testing.T) {
	r := newRig(t)
	id := ServiceID{FwMark: 7, Proto: vs.UDP, Addr: vip, Port: 5}
	must(t, r.m.AddService(rrService(id)))
	s := r.m.Table().Lookup(7, false, vs.TCP, vip.As16(), 1234)
	if s == nil || s.Proto != 0 || s.Addr.IsValid() || s.Port != 0 || s.FwMark != 7 {
		t.Fatalf("fwmark service %+v", s)
	}
	id6 := ServiceID{FwMark: 7, IPv6: true}
	must(t, r.m.AddService(rrService(id6)))
	if s := r.m.Table().Get(id6.Key()); s == nil || !s.IPv6 || s.Netmask != 128 {
		t.Fatalf("IPv6 fwmark service %+v", s)
	}
	// Dests of a fwmark service may have any port.
	must(t, r.m.AddDest(id, DestConfig{Addr: rip1, Port: 0, Fwd: vs.DirectRoute, Weight: 1}))
	r.unchanged(t, ErrInvalid, func() error { return r.m.AddDest(id6, masq(rip1)) })
	must(t, r.m.AddDest(id6, DestConfig{Addr: rip6, Fwd: vs.DirectRoute, Weight: 1}))
}

func TestDestLifecycle(t *testing.T) {
	r := newRig(t)
	must(t, r.m.AddService(rrService(web())))
	r.unchanged(t, ErrServiceNotDefined, func() error {
		return r.m.AddDest(ServiceID{Proto: vs.UDP, Addr: vip, Port: 80}, masq(rip1))
	})
	must(t, r.m.AddDest(web(), masq(rip1)))
	t1 := r.m.Table()
	d1 := destOf(t, t1.Get(web().Key()), rip1, 80)
	must(t, r.m.AddDest(web(), masq(rip2)))
	t2 := r.m.Table()
	s2 := t2.Get(web().Key())
	// The new dest goes to the head, as in the kernel.
	if len(s2.Dests) != 2 || s2.Dests[0].Addr != rip2 || s2.Dests[1] != d1 {
		t.Fatalf("dests %v", s2.Dests)
	}
	if s1 := t1.Get(web().Key()); len(s1.Dests) != 1 || s1.Dests[0] != d1 {
		t.Fatal("an old snapshot changed")
	}
	if s2.Stats != t1.Get(web().Key()).Stats {
		t.Fatal("service stats not shared")
	}
	r.unchanged(t, ErrDestExists, func() error { return r.m.AddDest(web(), masq(rip1)) })

	// The scheduler saw both dests.
	f := &vs.Flow{}
	if a, b := s2.Sched.Schedule(s2, f), s2.Sched.Schedule(s2, f); a == b {
		t.Fatal("rr did not alternate")
	}

	// Edit in place.
	e := masq(rip2)
	e.Weight, e.Fwd, e.UThreshold, e.LThreshold = 5, vs.Tunnel, 100, 10
	d2 := destOf(t, s2, rip2, 80)
	d2.Flags.Store(vs.DestAvailable | vs.DestOverload)
	must(t, r.m.EditDest(web(), e))
	if d2.Weight.Load() != 5 || d2.FwdMethod() != vs.Tunnel || d2.UThreshold.Load() != 100 ||
		d2.LThreshold.Load() != 10 || d2.Overloaded() {
		t.Fatalf("edit not applied: w %d fwd %v u %d l %d flags %x", d2.Weight.Load(), d2.FwdMethod(),
			d2.UThreshold.Load(), d2.LThreshold.Load(), d2.Flags.Load())
	}
	// Lowering the upper threshold keeps an overload mark.
	d2.Flags.Store(vs.DestAvailable | vs.DestOverload)
	e.UThreshold = 50
	must(t, r.m.EditDest(web(), e))
	if !d2.Overloaded() {
		t.Fatal("overload cleared on a lower threshold")
	}
	e.UThreshold, e.LThreshold = 0, 0
	must(t, r.m.EditDest(web(), e))
	if d2.Overloaded() {
		t.Fatal("overload kept without threshold")
	}
	r.unchanged(t, ErrNoSuchDest, func() error { return r.m.EditDest(web(), masq(netip.MustParseAddr("203.0.113.99"))) })
	r.unchanged(t, ErrServiceNotDefined, func() error {
		return r.m.EditDest(ServiceID{Proto: vs.TCP, Addr: vip, Port: 81}, e)
	})

	// Delete.
	must(t, r.m.DelDest(web(), rip1, 80))
	if d1.Available() {
		t.Fatal("removed dest still available")
	}
	if s := r.m.Table().Get(web().Key()); len(s.Dests) != 1 || s.Dests[0] != d2 {
		t.Fatalf("after delete: %v", s.Dests)
	}
	r.unchanged(t, ErrNoSuchDest, func() error { return r.m.DelDest(web(), rip1, 80) })
	r.unchanged(t, ErrNoSuchDest, func() error { return r.m.DelDest(web(), rip2, 81) })
	r.unchanged(t, ErrServiceNotDefined, func() error { return r.m.DelDest(ServiceID{Proto: vs.SCTP, Addr: vip, Port: 80}, rip2, 80) })

	// Deleting the service removes its dests.
	must(t, r.m.DelService(web()))
	if d2.Available() {
		t.Fatal("dest of a deleted service still available")
	}
}

// TestDestOrder: like the kernel (list_add_rcu in __ip_vs_update_dest),
// AddDest puts a new dest at the head of Dests, so the list is most
// recently added first; a dest taken back from the trash is no exception.
func TestDestOrder(t *testing.T) {
	r := newRig(t)
	must(t, r.m.AddService(rrService(web())))
	a, b, c := rip1, rip2, netip.MustParseAddr("203.0.113.13")
	must(t, r.m.AddDest(web(), masq(a)))
	must(t, r.m.AddDest(web(), masq(b)))
	t2 := r.m.Table()
	must(t, r.m.AddDest(web(), masq(c)))
	addrs := func(s *vs.Service) []netip.Addr {
		var out []netip.Addr
		for _, d := range s.Dests {
			out = append(out, d.Addr)
		}
		return out
	}
	s := r.m.Table().Get(web().Key())
	if got, want := addrs(s), []netip.Addr{c, b, a}; !slices.Equal(got, want) {
		t.Fatalf("dests %v, want %v", got, want)
	}
	if got, want := addrs(t2.Get(web().Key())), []netip.Addr{b, a}; !slices.Equal(got, want) {
		t.Fatalf("older snapshot changed: %v, want %v", got, want)
	}
	// rr, like the kernel's, meets the most recently added dest first.
	if d := s.Sched.Schedule(s, &vs.Flow{}); d == nil || d.Addr != c {
		t.Fatalf("first rr pick %v, want %v", d, c)
	}

	// Removed and added again (from the trash): back at the head.
	old := destOf(t, s, b, 80)
	must(t, r.m.DelDest(web(), b, 80))
	must(t, r.m.AddDest(web(), masq(b)))
	s = r.m.Table().Get(web().Key())
	if got, want := addrs(s), []netip.Addr{b, c, a}; !slices.Equal(got, want) {
		t.Fatalf("after re-adding %v: dests %v, want %v", b, got, want)
	}
	if s.Dests[0] != old {
		t.Fatal("re-added dest not taken back from the trash")
	}
}

func TestDestValidation(t *testing.T) {
	r := newRig(t)
	must(t, r.m.AddService(rrService(web())))
	for _, tc := range []struct {
		d    DestConfig
		want error
	}{
		{DestConfig{Addr: rip1, Port: 80, Weight: -1}, ErrRange},
		{DestConfig{Addr: rip1, Port: 80, Weight: 1, LThreshold: 5}, ErrRange},
		{DestConfig{Addr: rip1, Port: 80, Weight: 1, UThreshold: 5, LThreshold: 6}, ErrRange},
		{masq(netip.MustParseAddr("0.0.0.0")), ErrInvalid},
		{masq(netip.MustParseAddr("0.1.2.3")), ErrInvalid},
		{masq(netip.MustParseAddr("224.0.0.1")), ErrInvalid},
		{masq(netip.MustParseAddr("255.255.255.255")), ErrInvalid},
		{masq(rip6), ErrInvalid}, // another family without tunneling
		{DestConfig{Addr: rip1, Port: 80, Fwd: 4, Weight: 1}, ErrInvalid},
		{DestConfig{}, ErrInvalid},
	} {
		r.unchanged(t, tc.want, func() error { return r.m.AddDest(web(), tc.d) })
	}
	must(t, r.m.AddDest(web(), DestConfig{Addr: rip6, Port: 80, Fwd: vs.Tunnel, Weight: 1}))
	must(t, r.m.AddDest(web(), DestConfig{Addr: rip1, Port: 80, Weight: 0, UThreshold: 5, LThreshold: 5}))

	id6 := ServiceID{Proto: vs.TCP, Addr: vip6, Port: 80}
	must(t, r.m.AddService(rrService(id6)))
	for _, a := range []string{"::", "ff02::1", "fe80::1", "::ffff:203.0.113.1"} {
		r.unchanged(t, ErrInvalid, func() error { return r.m.AddDest(id6, masq(netip.MustParseAddr(a))) })
	}
	must(t, r.m.AddDest(id6, masq(rip6)))
}

func TestTrash(t *testing.T) {
	r := newRig(t)
	now := time.Unix(1000, 0)
	r.m.now = func() time.Time { return now }
	must(t, r.m.AddService(rrService(web())))
	must(t, r.m.AddDest(web(), masq(rip1)))
	must(t, r.m.AddDest(web(), masq(rip2)))
	d1 := destOf(t, r.m.Table().Get(web().Key()), rip1, 80)
	d1.InactConns.Store(1) // a connection still points at it
	d1.Stats.Conns.Store(42)
	must(t, r.m.DelDest(web(), rip1, 80))
	now = now.Add(time.Hour)
	must(t, r.m.EditDest(web(), masq(rip2))) // a change runs the purge
	c := masq(rip1)
	c.Weight = 3
	must(t, r.m.AddDest(web(), c))
	s := r.m.Table().Get(web().Key())
	if got := destOf(t, s, rip1, 80); got != d1 || !d1.Available() || d1.Weight.Load() != 3 || d1.Stats.Conns.Load() != 42 {
		t.Fatalf("dest not taken back from the trash: same %v", got == d1)
	}
	// Taken back from the trash, it is added like any new dest: at the head.
	if len(s.Dests) != 2 || s.Dests[0] != d1 || s.Dests[1].Addr != rip2 {
		t.Fatalf("dest from the trash not at the head: %v", s.Dests)
	}

	// Service re-created: same dest, counters zeroed.
	must(t, r.m.DelService(web()))
	must(t, r.m.AddService(rrService(web())))
	must(t, r.m.AddDest(web(), masq(rip1)))
	if got := r.m.Table().Get(web().Key()).Dests[0]; got != d1 || d1.Stats.Conns.Load() != 0 || d1.InactConns.Load() != 1 {
		t.Fatalf("re-created service: same %v conns %d", got == d1, d1.Stats.Conns.Load())
	}

	// Without connections a dest is kept for a minute only.
	d1.InactConns.Store(0)
	must(t, r.m.DelDest(web(), rip1, 80))
	now = now.Add(30 * time.Second)
	must(t, r.m.AddDest(web(), masq(rip1)))
	if r.m.Table().Get(web().Key()).Dests[0] != d1 {
		t.Fatal("idle dest forgotten within the grace period")
	}
	must(t, r.m.DelDest(web(), rip1, 80))
	now = now.Add(30 * time.Second)
	must(t, r.m.AddDest(web(), masq(rip2))) // purge sees it idle
	now = now.Add(61 * time.Second)
	must(t, r.m.AddDest(web(), masq(rip1)))
	if destOf(t, r.m.Table().Get(web().Key()), rip1, 80) == d1 {
		t.Fatal("idle dest kept after the grace period")
	}
	// A trashed dest is only reused by the same service.
	must(t, r.m.AddService(rrService(ServiceID{Proto: vs.TCP, Addr: vip, Port: 443})))
	d := destOf(t, r.m.Table().Get(web().Key()), rip1, 80)
	d.ActiveConns.Store(1)
	must(t, r.m.DelDest(web(), rip1, 80))
	c = masq(rip1)
	must(t, r.m.AddDest(ServiceID{Proto: vs.TCP, Addr: vip, Port: 443}, c))
	if r.m.Table().Get(ServiceID{Proto: vs.TCP, Addr: vip, Port: 443}.Key()).Dests[0] == d {
		t.Fatal("dest moved to another service")
	}
}

func TestFlushAndZero(t *testing.T) {
	r := newRig(t)
	must(t, r.m.AddService(rrService(web())))
	must(t, r.m.AddDest(web(), masq(rip1)))
	other := ServiceID{Proto: vs.UDP, Addr: vip, Port: 53}
	must(t, r.m.AddService(rrService(other)))
	s := r.m.Table().Get(web().Key())
	o := r.m.Table().Get(other.Key())
	s.Stats.InPkts.Store(5)
	s.Dests[0].Stats.OutBytes.Store(7)
	o.Stats.Conns.Store(3)
	s.Dests[0].ActiveConns.Store(2)
	must(t, r.m.Zero(web()))
	if s.Stats.InPkts.Load() != 0 || s.Dests[0].Stats.OutBytes.Load() != 0 || o.Stats.Conns.Load() != 3 {
		t.Fatal("Zero")
	}
	if s.Dests[0].ActiveConns.Load() != 2 {
		t.Fatal("Zero touched connection counts")
	}
	r.unchanged(t, ErrNoSuchService, func() error { return r.m.Zero(ServiceID{Proto: vs.TCP, Addr: vip, Port: 1}) })
	r.m.ZeroAll()
	if o.Stats.Conns.Load() != 0 {
		t.Fatal("ZeroAll")
	}
	d := s.Dests[0]
	must(t, r.m.Flush())
	if len(r.m.Table().Services) != 0 || d.Available() {
		t.Fatal("Flush")
	}
}

type fakeStore struct{ v [3]int }

func (f *fakeStore) SetTimeouts(a, b, c int) {
	for i, x := range []int{a, b, c} {
		if x > 0 {
			f.v[i] = x
		}
	}
}
func (f *fakeStore) Timeouts() (int, int, int) { return f.v[0], f.v[1], f.v[2] }

func TestTimeouts(t *testing.T) {
	m := NewManager(Config{})
	if a, b, c := m.Timeouts(); a != 900 || b != 120 || c != 300 {
		t.Fatalf("defaults %d %d %d", a, b, c)
	}
	must(t, m.SetTimeouts(0, 60, 0))
	if a, b, c := m.Timeouts(); a != 900 || b != 60 || c != 300 {
		t.Fatalf("after set %d %d %d", a, b, c)
	}
	for _, v := range [][3]int{{-1, 0, 0}, {0, 0, MaxTimeout + 1}} {
		if err := m.SetTimeouts(v[0], v[1], v[2]); !errors.Is(err, ErrInvalid) {
			t.Fatalf("SetTimeouts%v: %v", v, err)
		}
	}
	st := &fakeStore{v: [3]int{1, 2, 3}}
	m = NewManager(Config{Timeouts: st})
	must(t, m.SetTimeouts(10, 0, 30))
	if st.v != [3]int{10, 2, 30} {
		t.Fatalf("store %v", st.v)
	}
	if a, b, c := m.Timeouts(); a != 10 || b != 2 || c != 30 {
		t.Fatal("Timeouts from store")
	}
}

func TestPrivateTableAndInitial(t *testing.T) {
	m := NewManager(Config{})
	if m.Table() == nil || len(m.Table().Services) != 0 {
		t.Fatal("no empty initial table")
	}
	var p atomic.Pointer[vs.Table]
	pre := vs.NewTable(nil)
	p.Store(pre)
	m = NewManager(Config{Table: &p})
	if m.Table() != pre {
		t.Fatal("NewManager replaced the given table")
	}
}

// TestConcurrentUse schedules on published snapshots while writers change
// the configuration; run with -race.
func TestConcurrentUse(t *testing.T) {
	var tbl atomic.Pointer[vs.Table]
	m := NewManager(Config{Table: &tbl})
	c := rrService(web())
	c.Scheduler = "wrr"
	must(t, m.AddService(c))
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			f := &vs.Flow{}
			for {
				select {
				case <-stop:
					return
				default:
				}
				if s := tbl.Load().Lookup(0, false, vs.TCP, vip.As16(), 80); s != nil {
					if d := s.Sched.Schedule(s, f); d != nil {
						d.InactConns.Add(1)
						d.InactConns.Add(-1)
					}
				}
			}
		}()
	}
	for i := range 300 {
		a := netip.AddrFrom4([4]byte{203, 0, 113, byte(1 + i%20)})
		d := masq(a)
		d.Weight = int32(i % 4)
		if err := m.AddDest(web(), d); errors.Is(err, ErrDestExists) {
			if i%3 == 0 {
				must(t, m.DelDest(web(), a, 80))
			} else {
				must(t, m.EditDest(web(), d))
			}
		} else {
			must(t, err)
		}
		if i%50 == 0 {
			m.ZeroAll()
			_, _ = m.Service(web())
			_ = fmt.Sprint(m.Timeouts())
		}
	}
	close(stop)
	wg.Wait()
}
