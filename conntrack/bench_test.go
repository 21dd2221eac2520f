package conntrack

import (
	"runtime"
	"testing"

	"github.com/gdirector/gdirector/vs"
)

// fill creates n established NAT connections with distinct clients and
// returns their in-keys.
func fill(b testing.TB, tab *Table, d *vs.Dest, n int) []Key {
	keys := make([]Key, n)
	for i := range n {
		p := natParams(uint16(i%50000+1), d)
		p.CAddr[13], p.CAddr[14] = byte(i/50000>>8), byte(i/50000)
		c, err := tab.New(0, p)
		if err != nil {
			b.Fatal(err)
		}
		c.Update(0, In, fSYN)
		c.Update(0, In, fACK)
		keys[i] = inKey(p)
	}
	return keys
}

func BenchmarkLookupInHit(b *testing.B) {
	tab := NewTable(Options{})
	d := vs.NewDest(v4(203, 0, 113, 10), 80, vs.Masq, 1)
	keys := fill(b, tab, d, 100000)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		if tab.LookupIn(&keys[i%len(keys)]) == nil {
			b.Fatal("miss")
		}
	}
}

func BenchmarkLookupOutHit(b *testing.B) {
	tab := NewTable(Options{})
	d := vs.NewDest(v4(203, 0, 113, 10), 80, vs.Masq, 1)
	keys := fill(b, tab, d, 100000)
	out := make([]Key, len(keys))
	for i := range keys {
		out[i] = tab.LookupIn(&keys[i]).OutKey()
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		if tab.LookupOut(&out[i%len(out)]) == nil {
			b.Fatal("miss")
		}
	}
}

func BenchmarkLookupInMiss(b *testing.B) {
	tab := NewTable(Options{})
	d := vs.NewDest(v4(203, 0, 113, 10), 80, vs.Masq, 1)
	keys := fill(b, tab, d, 100000)
	for i := range keys {
		keys[i].DPort = 81
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		if tab.LookupIn(&keys[i%len(keys)]) != nil {
			b.Fatal("hit")
		}
	}
}

func BenchmarkLookupInHitParallel(b *testing.B) {
	tab := NewTable(Options{})
	d := vs.NewDest(v4(203, 0, 113, 10), 80, vs.Masq, 1)
	keys := fill(b, tab, d, 100000)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			if tab.LookupIn(&keys[i%len(keys)]) == nil {
				b.Fatal("miss")
			}
			i += 7
		}
	})
}

// Lookup plus state update per packet on established flows.
func BenchmarkLookupUpdate(b *testing.B) {
	tab := NewTable(Options{})
	d := vs.NewDest(v4(203, 0, 113, 10), 80, vs.Masq, 1)
	keys := fill(b, tab, d, 100000)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		tab.LookupIn(&keys[i%len(keys)]).Update(int64(i), In, fACK|fPSH)
	}
}

// Several workers updating the same connection (worst case for the CAS).
func BenchmarkUpdateSameConnParallel(b *testing.B) {
	tab := NewTable(Options{})
	d := vs.NewDest(v4(203, 0, 113, 10), 80, vs.Masq, 1)
	keys := fill(b, tab, d, 1)
	c := tab.LookupIn(&keys[0])
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		now := int64(0)
		for pb.Next() {
			now += 1000
			c.Update(now, In, fACK)
		}
	})
}

func BenchmarkNewDelete(b *testing.B) {
	tab := NewTable(Options{})
	d := vs.NewDest(v4(203, 0, 113, 10), 80, vs.Masq, 1)
	fill(b, tab, d, 100000) // a populated table
	p := natParams(1, d)
	p.CAddr = vs.Addr16(v4(198, 51, 100, 200))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		p.CPort = uint16(i)
		c, err := tab.New(0, p)
		if err != nil {
			b.Fatal(err)
		}
		tab.Delete(c)
	}
}

// Expire over a table where nothing is due: the cost of the scan per
// connection examined.
func BenchmarkExpireScan(b *testing.B) {
	tab := NewTable(Options{})
	d := vs.NewDest(v4(203, 0, 113, 10), 80, vs.Masq, 1)
	fill(b, tab, d, 100000)
	b.ResetTimer()
	for b.Loop() {
		tab.Expire(1, 1000)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/1000, "ns/conn")
}

// BenchmarkMemory reports the heap cost per connection of a table of 1 M
// established connections (Conn, both index entries, registry slot).
func BenchmarkMemory(b *testing.B) {
	const n = 1 << 20
	d := vs.NewDest(v4(203, 0, 113, 10), 80, vs.Masq, 1)
	for b.Loop() {
		var m0, m1 runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&m0)
		tab := NewTable(Options{Capacity: n})
		for i := range n {
			p := natParams(uint16(i%50000+1), d)
			p.CAddr[13], p.CAddr[14] = byte(i/50000>>8), byte(i/50000)
			if _, err := tab.New(0, p); err != nil {
				b.Fatal(err)
			}
		}
		runtime.GC()
		runtime.ReadMemStats(&m1)
		b.ReportMetric(float64(m1.HeapAlloc-m0.HeapAlloc)/n, "B/conn")
		runtime.KeepAlive(tab)
	}
}
