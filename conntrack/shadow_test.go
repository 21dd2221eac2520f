package conntrack

import (
	"errors"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gdirector/gdirector/vs"
)

// TestSharedOutKey: one client port reaching one real server through
// several virtual services gives connections with one out-key. The kernel
// hashes them all and its reply lookup finds the newest (new connections go
// to the head of their chain); so must LookupOut, through growth and
// shrinkage of the table and removals in any order. Before, New refused
// the second connection (ErrExists) and the datapath dropped its SYN for as
// long as the first one lingered (FIN_WAIT, TIME_WAIT: minutes).
func TestSharedOutKey(t *testing.T) {
	// (DR and TUN out-keys are VIP:port → client: shared only with the
	// in-key, which stays exclusive.)
	tab := NewTable(Options{})
	d := vs.NewDest(v4(203, 0, 113, 10), 80, vs.Masq, 1)
	r := rand.New(rand.NewPCG(1, 2))
	shared := func(i int) *Params { // client :40000 → VIP:8000+i → d:80
		p := natParams(40000, d)
		p.VPort = uint16(8000 + i)
		return p
	}
	ok := natOutKey(shared(0))
	var live []*Conn // oldest first
	check := func(step string) {
		t.Helper()
		var want *Conn
		if len(live) > 0 {
			want = live[len(live)-1]
		}
		if got := tab.LookupOut(&ok); got != want {
			t.Fatalf("%s: LookupOut = %v, want the newest of %d", step, got, len(live))
		}
	}
	filler := 0
	fill := func(n int) {
		for range n {
			filler++
			p := natParams(uint16(filler), d)
			p.VAddr = vs.Addr16(v4(192, 0, 2, 200))
			if _, err := tab.New(0, p); err != nil {
				t.Fatal(err)
			}
		}
	}
	for i := range 12 {
		c, err := tab.New(0, shared(i))
		if err != nil {
			t.Fatalf("connection %d: %v", i, err)
		}
		live = append(live, c)
		check("new")
		fill(r.IntN(400)) // grows the shard arrays
	}
	if d.Stats.Conns.Load() != uint64(12+filler) {
		t.Fatal("conns counted", d.Stats.Conns.Load())
	}
	// Remove the fillers (shrinks the arrays), then the shared
	// connections in random order.
	tab.Range(func(c *Conn) bool {
		if c.VAddr == vs.Addr16(v4(192, 0, 2, 200)) {
			tab.Delete(c)
		}
		return true
	})
	check("after shrinking")
	for len(live) > 0 {
		i := r.IntN(len(live))
		if !tab.Delete(live[i]) {
			t.Fatal("delete")
		}
		live = append(live[:i], live[i+1:]...)
		check("delete")
		fill(r.IntN(50))
		check("fill")
	}
	// A dead entry is passed over, even while still indexed.
	a, _ := tab.New(0, shared(0))
	b, _ := tab.New(0, shared(1))
	b.word.Or(wDead)
	if tab.LookupOut(&ok) != a {
		t.Fatal("a dead newest connection hides the older one")
	}
	t.Run("fullnat", func(t *testing.T) {
		// A FullNAT out-key is a local port: still exclusive.
		tab := NewTable(Options{})
		d := vs.NewDest(v4(203, 0, 113, 11), 80, vs.FullNAT, 1)
		p := natParams(1, d)
		p.LAddr, p.LPort = vs.Addr16(v4(203, 0, 113, 1)), 30000
		if _, err := tab.New(0, p); err != nil {
			t.Fatal(err)
		}
		p.VPort = 81
		if _, err := tab.New(0, p); !errors.Is(err, ErrExists) {
			t.Fatal(err)
		}
	})
}

// TestShadowOrderAcrossWrap drives the index directly: a key whose home is
// the last group of a nearly full shard array has its entries wrap to
// group 0.
// shadow must put a new entry in front, and rebuild (which reads the old
// array from after a group with an empty slot) must keep the order.
func TestShadowOrderAcrossWrap(t *testing.T) {
	var reg registry
	reg.init()
	var x index
	x.init(&reg)
	s := &x.shards[0]
	s.arr.Store(newSlotArray(2))
	base, _ := reg.grab()
	h := uint64(0xF0000000) << 24 // shard 0, fragment 0xF0000000: group 1 of 2
	other := slotOf(0xE0000000|dirOut, 1<<20)
	for i := range groupSlots - 1 { // group 1 gets one free slot
		g := x.shards[0].arr.Load().grp(1)
		g[i] = other + uint64(i)
		s.used++
		s.live++
	}
	mk := func(i int) *Conn {
		c := &Conn{Proto: vs.TCP, CAddr: cip, CPort: 40000, LAddr: cip, LPort: 40000,
			VAddr: vip, VPort: uint16(8000 + i), DAddr: vs.Addr16(v4(203, 0, 113, 10)), DPort: 80, Fwd: vs.Masq}
		c.id = base + uint32(i)
		reg.slot(c.id).Store(c)
		return c
	}
	conns := []*Conn{mk(0), mk(1), mk(2)}
	k := conns[0].OutKey()
	want := func(step string, c *Conn) {
		t.Helper()
		if got := x.lookup(&k, h, dirOut); got != c {
			t.Fatalf("%s: lookup found %v, want %v", step, got, c)
		}
	}
	for _, c := range conns {
		x.shadow(s, &k, h, c.id, dirOut)
		want("shadow", c)
	}
	// In probe order: group 1's last slot, then group 0's first two.
	a := s.arr.Load()
	if a.grp(1)[7] != slotOf(fragOf(h, dirOut), conns[2].id) || a.grp(0)[0] != slotOf(fragOf(h, dirOut), conns[1].id) ||
		a.grp(0)[1] != slotOf(fragOf(h, dirOut), conns[0].id) {
		t.Fatalf("entries not wrapped newest first: %x %x", a.grp(1), a.grp(0))
	}
	if s.live != groupSlots+2 || s.used != groupSlots+2 {
		t.Fatal("counts", s.live, s.used)
	}
	rebuild(s, 64)
	want("rebuilt", conns[2])
	conns[2].word.Or(wDead)
	want("newest dead", conns[1])
	conns[1].word.Or(wDead)
	want("two dead", conns[0])
	// And back to a small array, where the key wraps again.
	rebuild(s, s.live)
	want("rebuilt small", conns[0])
	conns[1].word.And(^uint64(wDead))
	want("order kept", conns[1])
}

// TestSharedOutKeyConcurrent: writers create and delete NAT connections
// that share out-keys (one client port, four service ports, two real
// servers) while readers look the out-keys up without locks: a reader
// must only ever get a live connection of the key it asked for, and at
// the end the index must hold exactly the live connections. Run with
// -race.
func TestSharedOutKeyConcurrent(t *testing.T) {
	tab := NewTable(Options{})
	dests := []*vs.Dest{vs.NewDest(v4(203, 0, 113, 10), 80, vs.Masq, 1), vs.NewDest(v4(203, 0, 113, 11), 80, vs.Masq, 1)}
	var stop atomic.Bool
	var wg sync.WaitGroup
	var created, found atomic.Int64
	for w := range 3 {
		wg.Add(1)
		go func() { // writer
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(w), 3))
			for !stop.Load() {
				d := dests[r.IntN(2)]
				p := natParams(uint16(40000+r.IntN(3)), d)
				p.VPort = uint16(8000 + r.IntN(4))
				if c, err := tab.New(0, p); err == nil {
					created.Add(1)
					if r.IntN(2) == 0 {
						tab.Delete(c)
					}
				} else if k := inKey(p); r.IntN(2) == 0 {
					if c := tab.LookupIn(&k); c != nil {
						tab.Delete(c)
					}
				}
			}
		}()
	}
	for w := range 2 {
		wg.Add(1)
		go func() { // reader
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(w), 4))
			for !stop.Load() {
				p := natParams(uint16(40000+r.IntN(3)), dests[r.IntN(2)])
				k := natOutKey(p)
				if c := tab.LookupOut(&k); c != nil {
					found.Add(1)
					if !c.matchOut(&k) {
						t.Errorf("LookupOut returned a connection of another key")
						return
					}
				}
			}
		}()
	}
	time.Sleep(300 * time.Millisecond)
	stop.Store(true)
	wg.Wait()
	t.Logf("created %d, out lookups answered %d, left %d", created.Load(), found.Load(), tab.Len())
	if created.Load() == 0 || found.Load() == 0 {
		t.Fatal("nothing happened")
	}
	// Quiescent: every live connection is found under its in-key, its
	// out-key finds a live connection of that key, and the index holds
	// two entries per connection, no more.
	tab.Range(func(c *Conn) bool {
		ik, ok := c.InKey(), c.OutKey()
		if tab.LookupIn(&ik) != c {
			t.Errorf("a live connection is not found under its in-key")
		}
		if o := tab.LookupOut(&ok); o == nil || !o.matchOut(&ok) {
			t.Errorf("a live connection's out-key finds %v", o)
		}
		return true
	})
	n := 0
	for i := range tab.idx.shards {
		n += tab.idx.shards[i].live
	}
	if n != 2*tab.Len() {
		t.Errorf("%d index entries for %d connections", n, tab.Len())
	}
	tab.Flush()
	if tab.Len() != 0 {
		t.Fatal("left after flush", tab.Len())
	}
	for _, d := range dests {
		wantCounts(t, "flush", d, 0, 0)
	}
}
