package conntrack

import (
	"errors"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gdirector/gdirector/internal/clock"
	"github.com/gdirector/gdirector/vs"
)

// TestConcurrent runs workers creating, looking up, updating and deleting
// connections over a small key space (so they collide), an expirer, a
// lister and a timeout setter at once; at the end the Dest counters must
// agree with the table exactly, and drop to zero after Flush. Run with -race.
func TestConcurrent(t *testing.T) {
	clk := clock.NewFake(0)
	tab := NewTable(Options{Capacity: 6000})
	dests := []*vs.Dest{
		vs.NewDest(v4(203, 0, 113, 10), 80, vs.Masq, 1),
		vs.NewDest(v4(203, 0, 113, 11), 80, vs.DirectRoute, 1),
		vs.NewDest(v4(203, 0, 113, 12), 80, vs.FullNAT, 1),
	}
	var stop atomic.Bool
	var wg sync.WaitGroup
	var created, full, exists atomic.Int64
	flags := []uint8{fSYN, fSYN | fACK, fACK, fPSH | fACK, fFIN | fACK, fRST, 0}
	dur := 300 * time.Millisecond
	if testing.Short() {
		dur = 50 * time.Millisecond
	}
	for w := range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(w), 7))
			for !stop.Load() {
				d := dests[r.IntN(len(dests))]
				p := natParams(uint16(r.IntN(4000)+1), d)
				p.Fwd = d.FwdMethod()
				if p.Fwd == vs.FullNAT {
					p.LAddr, p.LPort = vs.Addr16(v4(203, 0, 113, 1)), p.CPort
				}
				if r.IntN(4) == 0 {
					p.Proto = vs.UDP
				}
				now := clk.Now()
				k := inKey(p)
				c := tab.LookupIn(&k)
				if c == nil {
					var err error
					c, err = tab.New(now, p)
					switch {
					case errors.Is(err, ErrTableFull):
						full.Add(1)
						continue
					case errors.Is(err, ErrExists):
						exists.Add(1)
						continue
					case err != nil:
						panic(err)
					}
					created.Add(1)
				}
				c.Update(now, In, flags[r.IntN(len(flags))])
				ok := c.OutKey()
				if o := tab.LookupOut(&ok); o != nil {
					o.Update(now, Out, flags[r.IntN(len(flags))])
				}
				if r.IntN(10) == 0 {
					tab.Delete(c)
				}
			}
		}()
	}
	wg.Add(3)
	go func() { // expirer: time runs 100 s per iteration
		defer wg.Done()
		for !stop.Load() {
			clk.Advance(100 * time.Second)
			tab.Expire(clk.Now(), 64)
			time.Sleep(20 * time.Microsecond)
		}
	}()
	go func() { // lister
		defer wg.Done()
		for !stop.Load() {
			tab.Range(func(c *Conn) bool { _ = c.StateName(); _ = c.Expires(); return true })
		}
	}()
	go func() { // operator
		defer wg.Done()
		for i := 0; !stop.Load(); i++ {
			tab.SetTimeouts(900+i%2, 120, 300)
			tab.Timeouts()
			time.Sleep(time.Millisecond)
		}
	}()
	time.Sleep(dur)
	stop.Store(true)
	wg.Wait()
	t.Logf("created %d, table full %d, exists %d, left %d", created.Load(), full.Load(), exists.Load(), tab.Len())
	if created.Load() == 0 {
		t.Fatal("nothing created")
	}

	// Quiescent: the counters match the table's connections exactly.
	want := map[*vs.Dest][2]int32{}
	n := 0
	tab.Range(func(c *Conn) bool {
		n++
		v := want[c.Dest]
		if c.Flags()&FlagInactive != 0 {
			v[1]++
		} else {
			v[0]++
		}
		want[c.Dest] = v
		if c.Proto == vs.TCP && tcpActive[c.State()] == (c.Flags()&FlagInactive != 0) {
			t.Errorf("state %s with inactive=%v", c.StateName(), c.Flags()&FlagInactive != 0)
		}
		return true
	})
	if n != tab.Len() {
		t.Fatal("Range saw", n, "Len", tab.Len())
	}
	for _, d := range dests {
		if counts(d) != want[d] {
			t.Errorf("dest %v: counters %v, table %v", d.Addr, counts(d), want[d])
		}
	}
	tab.Flush()
	for _, d := range dests {
		wantCounts(t, "flush", d, 0, 0)
	}
	if tab.Len() != 0 {
		t.Fatal("len after flush", tab.Len())
	}
}

// Concurrent New of the same tuple: exactly one wins.
func TestConcurrentNewSameKey(t *testing.T) {
	tab := NewTable(Options{})
	d := vs.NewDest(v4(203, 0, 113, 10), 80, vs.Masq, 1)
	for round := range 200 {
		var wins atomic.Int32
		var wg sync.WaitGroup
		for range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, err := tab.New(0, natParams(uint16(round+1), d)); err == nil {
					wins.Add(1)
				}
			}()
		}
		wg.Wait()
		if wins.Load() != 1 {
			t.Fatal("winners", wins.Load())
		}
	}
	wantCounts(t, "same key", d, 0, 200)
}
