package ctl

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"testing"

	"github.com/gdirector/gdirector/vs"
)

var (
	rip3 = netip.MustParseAddr("203.0.113.13")
	dns  = ServiceID{Proto: vs.UDP, Addr: vip, Port: 53}
	tls  = ServiceID{Proto: vs.TCP, Addr: vip, Port: 443}
)

// state is everything a failed batch must leave as it was: the published
// table, every service's value, settings, scheduler instance and counters,
// every dest's identity, settings, flags and counters, the trash, the
// firewall-mark rules and the timeouts.
func state(m *Manager) string {
	var b strings.Builder
	fmt.Fprintf(&b, "table %p\n", m.Table())
	m.mu.Lock()
	defer m.mu.Unlock()
	stats := func(s *vs.Stats) string {
		return fmt.Sprint(s.Conns.Load(), s.InPkts.Load(), s.OutPkts.Load(), s.InBytes.Load(), s.OutBytes.Load())
	}
	for _, s := range m.services {
		fmt.Fprintf(&b, "svc %p cur %p %+v sched %p/%s stats %p %s laddrs %v\n", s, s.cur, s.conf, s.sched, s.sched.Name(), s.stats, stats(s.stats), s.laddrs)
		for _, d := range s.dests {
			fmt.Fprintf(&b, "  dest %p %v:%d %+v flags %x conns %d/%d stats %s\n", d, d.Addr, d.Port, destSettings(d), d.Flags.Load(),
				d.ActiveConns.Load(), d.InactConns.Load(), stats(&d.Stats))
		}
	}
	for _, t := range m.trash {
		fmt.Fprintf(&b, "trash %p %p flags %x\n", t.owner, t.dest, t.dest.Flags.Load())
	}
	fmt.Fprintf(&b, "marks %v timeouts %v\n", m.marks, m.timeoutsLocked())
	return b.String()
}

// populated is a rig with two services: web (rr) with rip1 and rip2, and
// dns (wrr) with rip1; their counters are set so that a reset shows.
func populated(t *testing.T) *rig {
	t.Helper()
	r := newRig(t)
	must(t, r.m.AddService(rrService(web())))
	must(t, r.m.AddDest(web(), masq(rip1)))
	must(t, r.m.AddDest(web(), masq(rip2)))
	c := rrService(dns)
	c.Scheduler = "wrr"
	must(t, r.m.AddService(c))
	must(t, r.m.AddDest(dns, masq(rip1)))
	for _, s := range r.m.Table().Services {
		s.Stats.Conns.Store(100)
		for i, d := range s.Dests {
			d.Stats.Conns.Store(uint64(10 + i))
			d.Stats.InBytes.Store(1000)
			d.ActiveConns.Store(1)
		}
	}
	return r
}

// TestBatchKeepsIdentity: a batch that changes one weight stores it into
// the live dest and publishes one table; every dest keeps its pointer and
// counters, the service its scheduler instance and statistics, and the
// untouched service even its value.
func TestBatchKeepsIdentity(t *testing.T) {
	r := populated(t)
	before := r.m.Table()
	web0, dns0 := before.Get(web().Key()), before.Get(dns.Key())
	d1, d2 := destOf(t, web0, rip1, 80), destOf(t, web0, rip2, 80)
	n := r.changes
	ch, err := r.m.Batch(func(st *Manager) error {
		c := masq(rip2)
		c.Weight = 5
		if err := st.EditDest(web(), c); err != nil {
			return err
		}
		// An edit to the same values and an edit naming the same
		// scheduler change nothing.
		if err := st.EditDest(web(), masq(rip1)); err != nil {
			return err
		}
		return st.EditService(rrService(web()))
	})
	must(t, err)
	if r.changes != n+1 {
		t.Fatalf("%d publications, want 1", r.changes-n)
	}
	if ch != (Changes{DestsEdited: 1, Published: true}) {
		t.Fatalf("changes %+v", ch)
	}
	web1, dns1 := r.m.Table().Get(web().Key()), r.m.Table().Get(dns.Key())
	if dns1 != dns0 {
		t.Error("the untouched service got a new value")
	}
	if web1.Sched != web0.Sched || web1.Stats != web0.Stats || web1.Stats.Conns.Load() != 100 {
		t.Error("web lost its scheduler instance or statistics")
	}
	if destOf(t, web1, rip1, 80) != d1 || destOf(t, web1, rip2, 80) != d2 {
		t.Fatal("a dest lost its identity")
	}
	if d2.Weight.Load() != 5 || d1.Weight.Load() != 1 {
		t.Fatalf("weights %d %d", d1.Weight.Load(), d2.Weight.Load())
	}
	if d1.Stats.Conns.Load() != 11 || d2.Stats.Conns.Load() != 10 || d2.Stats.InBytes.Load() != 1000 || d2.ActiveConns.Load() != 1 {
		t.Fatal("counters reset")
	}
	// The scheduler saw the new weight before the table was published:
	// rr alternates over both dests.
	f := &vs.Flow{}
	if a, b := web1.Sched.Schedule(web1, f), web1.Sched.Schedule(web1, f); a == b || a == nil || b == nil {
		t.Fatalf("rr picks %v %v", a, b)
	}
}

// TestBatchAllOrNothing: an error anywhere in a batch, after any number of
// successful operations of every kind, leaves everything as it was and
// publishes nothing.
func TestBatchAllOrNothing(t *testing.T) {
	for _, tc := range []struct {
		name string
		ops  func(st *Manager) error
		want error
	}{
		{"edit then bad dest", func(st *Manager) error {
			c := masq(rip2)
			c.Weight = 7
			must(t, st.EditDest(web(), c))
			return st.AddDest(web(), masq(rip1))
		}, ErrDestExists},
		{"flush then bad service", func(st *Manager) error {
			must(t, st.Flush())
			return st.EditService(rrService(web()))
		}, ErrNoSuchService},
		{"zero then error", func(st *Manager) error {
			st.ZeroAll()
			return st.DelDest(web(), rip3, 80)
		}, ErrNoSuchDest},
		{"everything then error", func(st *Manager) error {
			must(t, st.AddService(rrService(tls)))
			must(t, st.AddDest(tls, masq(rip3)))
			must(t, st.DelDest(web(), rip1, 80))
			must(t, st.AddDest(web(), masq(rip3)))
			must(t, st.DelService(dns))
			c := rrService(web())
			c.Scheduler = "wlc"
			must(t, st.EditService(c))
			must(t, st.AddLAddr(web(), netip.MustParseAddr("198.51.100.250"), ""))
			must(t, st.AddMark(vs.MarkRule{Dst: vip, Mark: 3}))
			must(t, st.SetTimeouts(1, 2, 3))
			must(t, st.Zero(web()))
			return st.AddService(ServiceConfig{ServiceID: tls, Scheduler: "nope"})
		}, ErrServiceExists},
		{"bad scheduler", func(st *Manager) error {
			return st.AddService(ServiceConfig{ServiceID: tls, Scheduler: "nope", Netmask: 0xffffffff})
		}, ErrSchedulerNotFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := populated(t)
			before, n := state(r.m), r.changes
			ch, err := r.m.Batch(tc.ops)
			if !errors.Is(err, tc.want) {
				t.Fatalf("error %v, want %v", err, tc.want)
			}
			if ch != (Changes{}) {
				t.Fatalf("changes %+v on error", ch)
			}
			if after := state(r.m); after != before || r.changes != n {
				t.Fatalf("a failed batch changed something (%d publications):\nbefore\n%s\nafter\n%s", r.changes-n, before, after)
			}
		})
	}
}

// TestBatchKernelSemantics: inside a batch the operations mean what they
// mean one at a time. A dest deleted and added back is the same dest; a
// service deleted and added back is a new service whose dests come back
// from the trash with zeroed counters; Zero zeroes live counters.
func TestBatchKernelSemantics(t *testing.T) {
	r := populated(t)
	web0 := r.m.Table().Get(web().Key())
	d1, d2 := destOf(t, web0, rip1, 80), destOf(t, web0, rip2, 80)
	dns0 := r.m.Table().Get(dns.Key())
	dd := destOf(t, dns0, rip1, 80)

	ch, err := r.m.Batch(func(st *Manager) error {
		must(t, st.DelDest(web(), rip1, 80))
		must(t, st.AddDest(web(), masq(rip1)))
		must(t, st.DelService(dns))
		c := rrService(dns)
		c.Scheduler = "wrr"
		must(t, st.AddService(c))
		return st.AddDest(dns, masq(rip1))
	})
	must(t, err)
	if ch != (Changes{ServicesAdded: 1, ServicesRemoved: 1, Published: true}) {
		t.Fatalf("changes %+v", ch)
	}
	web1, dns1 := r.m.Table().Get(web().Key()), r.m.Table().Get(dns.Key())
	if destOf(t, web1, rip1, 80) != d1 || d1.Stats.Conns.Load() != 11 || !d1.Available() || destOf(t, web1, rip2, 80) != d2 {
		t.Fatal("a dest deleted and re-added in one batch lost its identity or counters")
	}
	// As the kernel: the re-added dest is at the head.
	if web1.Dests[0] != d1 || web1 == web0 {
		t.Fatalf("order %v", web1.Dests)
	}
	if dns1.Stats == dns0.Stats || dns1.Stats.Conns.Load() != 0 || dns1.Sched == dns0.Sched {
		t.Fatal("a re-created service kept its statistics or scheduler")
	}
	if destOf(t, dns1, rip1, 80) != dd || dd.Stats.Conns.Load() != 0 || dd.ActiveConns.Load() != 1 || !dd.Available() {
		t.Fatalf("dest of the re-created service: same %v conns %d", destOf(t, dns1, rip1, 80) == dd, dd.Stats.Conns.Load())
	}

	// Zero inside a batch reaches the live counters; marks and timeouts
	// are taken over too.
	d2.Stats.Conns.Store(5)
	_, err = r.m.Batch(func(st *Manager) error {
		must(t, st.Zero(web()))
		must(t, st.AddMark(vs.MarkRule{Dst: vip, Mark: 9}))
		return st.SetTimeouts(0, 33, 0)
	})
	must(t, err)
	if d2.Stats.Conns.Load() != 0 || web0.Stats.Conns.Load() != 0 {
		t.Fatal("Zero in a batch not applied")
	}
	if m := r.m.Table().Marks; len(m) != 1 || m[0].Mark != 9 {
		t.Fatalf("marks %v", m)
	}
	if _, fin, _ := r.m.Timeouts(); fin != 33 {
		t.Fatalf("timeouts: fin %d", fin)
	}
	// A dest removed before the batch comes back from the trash.
	d2.InactConns.Store(1)
	must(t, r.m.DelDest(web(), rip2, 80))
	_, err = r.m.Batch(func(st *Manager) error { return st.AddDest(web(), masq(rip2)) })
	must(t, err)
	if destOf(t, r.m.Table().Get(web().Key()), rip2, 80) != d2 || !d2.Available() {
		t.Fatal("a trashed dest was not taken back")
	}
	// A batch that changes nothing publishes nothing.
	n := r.changes
	tb := r.m.Table()
	ch, err = r.m.Batch(func(st *Manager) error { return nil })
	must(t, err)
	if ch.Published || r.changes != n || r.m.Table() != tb {
		t.Fatal("an empty batch published")
	}
}

// TestReplaceDiff: Replace with a new full configuration keeps whatever
// stays, edits in place what changed, and adds and removes the rest, in
// one publication.
func TestReplaceDiff(t *testing.T) {
	r := populated(t)
	must(t, r.m.AddLAddr(web(), netip.MustParseAddr("198.51.100.250"), "eth1"))
	web0 := r.m.Table().Get(web().Key())
	d1, d2 := destOf(t, web0, rip1, 80), destOf(t, web0, rip2, 80)
	la := web0.LAddrs[0]
	dd := destOf(t, r.m.Table().Get(dns.Key()), rip1, 80)
	n := r.changes

	ch, err := r.m.Replace(func(st *Manager) error {
		// The file order differs from the order the live dests were
		// added in: that alone changes nothing.
		must(t, st.AddService(rrService(web())))
		must(t, st.AddDest(web(), masq(rip2)))
		c := masq(rip1)
		c.Weight = 4
		must(t, st.AddDest(web(), c))
		must(t, st.AddDest(web(), masq(rip3)))
		must(t, st.AddLAddr(web(), netip.MustParseAddr("198.51.100.250"), "eth1"))
		must(t, st.AddService(rrService(tls)))
		return st.AddDest(tls, masq(rip3))
	})
	must(t, err)
	if r.changes != n+1 {
		t.Fatalf("%d publications", r.changes-n)
	}
	want := Changes{ServicesAdded: 1, ServicesRemoved: 1, DestsAdded: 2, DestsEdited: 1, DestsRemoved: 1, Published: true}
	if ch != want {
		t.Fatalf("changes %+v, want %+v", ch, want)
	}
	tb := r.m.Table()
	web1 := tb.Get(web().Key())
	if tb.Get(dns.Key()) != nil || dd.Available() {
		t.Fatal("dns not removed")
	}
	if len(tb.Services) != 2 || tb.Services[0] != web1 || tb.Services[1].Key != tls.Key() {
		t.Fatalf("service order %v", tb.Services)
	}
	if web1.Sched != web0.Sched || web1.Stats != web0.Stats || web1.Stats.Conns.Load() != 100 {
		t.Fatal("web lost its scheduler or statistics")
	}
	if destOf(t, web1, rip1, 80) != d1 || destOf(t, web1, rip2, 80) != d2 || d1.Weight.Load() != 4 || d2.Weight.Load() != 1 {
		t.Fatal("dests not kept and edited in place")
	}
	if d1.Stats.Conns.Load() != 11 || d2.Stats.Conns.Load() != 10 {
		t.Fatal("counters reset")
	}
	// New dests first, the kept ones in their live order.
	if len(web1.Dests) != 3 || web1.Dests[0].Addr != rip3 || web1.Dests[1] != web0.Dests[0] || web1.Dests[2] != web0.Dests[1] {
		t.Fatalf("order %v", web1.Dests)
	}
	if len(web1.LAddrs) != 1 || web1.LAddrs[0] != la {
		t.Fatal("the local address lost its identity")
	}

	// The same configuration again: nothing changes, nothing is published.
	n, tb = r.changes, r.m.Table()
	ch, err = r.m.Replace(func(st *Manager) error {
		must(t, st.AddService(rrService(tls)))
		must(t, st.AddDest(tls, masq(rip3)))
		must(t, st.AddService(rrService(web())))
		c := masq(rip1)
		c.Weight = 4
		must(t, st.AddDest(web(), c))
		must(t, st.AddDest(web(), masq(rip2)))
		must(t, st.AddDest(web(), masq(rip3)))
		return st.AddLAddr(web(), netip.MustParseAddr("198.51.100.250"), "eth1")
	})
	must(t, err)
	if ch.Published || r.changes != n || r.m.Table() != tb {
		t.Fatalf("an identical configuration published: %+v", ch)
	}
}

// TestReplaceAllOrNothing: a Replace that fails after building most of a
// different configuration changes nothing.
func TestReplaceAllOrNothing(t *testing.T) {
	r := populated(t)
	before, n := state(r.m), r.changes
	ch, err := r.m.Replace(func(st *Manager) error {
		c := rrService(web())
		c.Scheduler = "wlc"
		must(t, st.AddService(c))
		w := masq(rip1)
		w.Weight = 9
		must(t, st.AddDest(web(), w))
		must(t, st.AddDest(web(), masq(rip3)))
		must(t, st.AddService(rrService(tls)))
		must(t, st.SetTimeouts(5, 5, 5))
		return st.AddDest(tls, DestConfig{Addr: rip1, Port: 80, Fwd: vs.Masq, Weight: -1})
	})
	if !errors.Is(err, ErrRange) || ch != (Changes{}) {
		t.Fatalf("error %v, changes %+v", err, ch)
	}
	if after := state(r.m); after != before || r.changes != n {
		t.Fatalf("a failed replace changed something:\nbefore\n%s\nafter\n%s", before, after)
	}
}

// TestReplaceScheduler: a service keeps its scheduler instance (and its
// state) when only other settings change, and gets a new one when the
// scheduler's name changes.
func TestReplaceScheduler(t *testing.T) {
	r := populated(t)
	web0 := r.m.Table().Get(web().Key())
	// Advance rr's position: its state must survive a reload that does
	// not change the scheduler.
	f := &vs.Flow{}
	first := web0.Sched.Schedule(web0, f)
	_, err := r.m.Replace(func(st *Manager) error {
		c := rrService(web())
		c.Flags = vs.SvcPersistent
		c.Timeout = 60
		must(t, st.AddService(c))
		must(t, st.AddDest(web(), masq(rip1)))
		return st.AddDest(web(), masq(rip2))
	})
	must(t, err)
	web1 := r.m.Table().Get(web().Key())
	if web1.Sched != web0.Sched || web1 == web0 || !web1.Persistent() || web1.Timeout != 60 {
		t.Fatalf("flags edit: same scheduler %v", web1.Sched == web0.Sched)
	}
	if next := web1.Sched.Schedule(web1, f); next == first {
		t.Fatal("rr state lost: the same dest again")
	}
	ch, err := r.m.Replace(func(st *Manager) error {
		c := rrService(web())
		c.Scheduler = "wrr"
		must(t, st.AddService(c))
		must(t, st.AddDest(web(), masq(rip1)))
		return st.AddDest(web(), masq(rip2))
	})
	must(t, err)
	web2 := r.m.Table().Get(web().Key())
	if web2.Sched == web0.Sched || web2.Sched.Name() != "wrr" || web2.Stats != web0.Stats {
		t.Fatal("scheduler change")
	}
	if ch != (Changes{ServicesEdited: 1, Published: true}) {
		t.Fatalf("changes %+v", ch)
	}
	if d := web2.Sched.Schedule(web2, f); d == nil {
		t.Fatal("the new scheduler instance was not updated before publication")
	}
}

// TestReplaceFromTrash: a real server removed earlier and named again by
// a reload comes back from the trash, as ipvsadm -a would bring it.
func TestReplaceFromTrash(t *testing.T) {
	r := populated(t)
	d2 := destOf(t, r.m.Table().Get(web().Key()), rip2, 80)
	must(t, r.m.DelDest(web(), rip2, 80))
	_, err := r.m.Replace(func(st *Manager) error {
		must(t, st.AddService(rrService(web())))
		must(t, st.AddDest(web(), masq(rip1)))
		return st.AddDest(web(), masq(rip2))
	})
	must(t, err)
	if destOf(t, r.m.Table().Get(web().Key()), rip2, 80) != d2 || !d2.Available() || d2.Stats.Conns.Load() != 10 {
		t.Fatal("not taken back from the trash")
	}
}

// TestBatchConcurrent: readers of the table and other writers run while
// batches commit (go test -race).
func TestBatchConcurrent(t *testing.T) {
	r := populated(t)
	var wg sync.WaitGroup
	stop := make(chan struct{})
	wg.Add(2)
	go func() {
		defer wg.Done()
		f := &vs.Flow{}
		for {
			select {
			case <-stop:
				return
			default:
			}
			for _, s := range r.m.Table().Services {
				for _, d := range s.Dests {
					d.Stats.InPkts.Add(1)
					_ = d.Weight.Load()
				}
				s.Sched.Schedule(s, f)
			}
		}
	}()
	go func() {
		defer wg.Done()
		for i := 0; i < 200; i++ {
			c := masq(rip2)
			c.Weight = int32(i % 3)
			r.m.EditDest(web(), c)
			r.m.Timeouts()
		}
	}()
	for i := 0; i < 200; i++ {
		_, err := r.m.Replace(func(st *Manager) error {
			must(t, st.AddService(rrService(web())))
			c := masq(rip1)
			c.Weight = int32(1 + i%2)
			must(t, st.AddDest(web(), c))
			return st.AddDest(web(), masq(rip2))
		})
		must(t, err)
		_, err = r.m.Batch(func(st *Manager) error { return st.AddDest(web(), masq(rip3)) })
		must(t, err)
	}
	close(stop)
	wg.Wait()
}

// BenchmarkReplace: reloading a configuration of 500 services with 4 real
// servers each, one weight changed (each stage operation publishes to the
// stage, so the cost grows with the square of the number of services).
func BenchmarkReplace(b *testing.B) {
	const services, dests = 500, 4
	build := func(st *Manager, w int32) error {
		for i := 0; i < services; i++ {
			id := ServiceID{Proto: vs.TCP, Addr: vip, Port: uint16(1000 + i)}
			if err := st.AddService(rrService(id)); err != nil {
				return err
			}
			for j := 0; j < dests; j++ {
				c := DestConfig{Addr: netip.AddrFrom4([4]byte{203, 0, 113, byte(10 + j)}), Port: 80, Fwd: vs.Masq, Weight: 1}
				if i == 0 && j == 0 {
					c.Weight = w
				}
				if err := st.AddDest(id, c); err != nil {
					return err
				}
			}
		}
		return nil
	}
	m := NewManager(Config{})
	if _, err := m.Replace(func(st *Manager) error { return build(st, 1) }); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := m.Replace(func(st *Manager) error { return build(st, int32(2+i%2)) }); err != nil {
			b.Fatal(err)
		}
	}
}
