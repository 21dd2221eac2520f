package conntrack_test

// Performance figures of the connection table at scale (gdirector issue 7):
// heap per connection at 10 M entries, the new-connection path (lookup miss,
// scheduler pick, insert) on one core, and forwarding latency while a mass
// expiry runs. These are benchmarks, not timed tests; only TestMemoryPerConn
// asserts, loosely, so that a regression in the layout shows in go test.
//
//	go test -run XXX -bench 'Memory10M' -benchtime 1x ./conntrack
//	go test -run XXX -bench 'NewConn' -cpu 1 -benchtime 2000000x ./conntrack
//	go test -run XXX -bench 'MassExpiry' -benchtime 1x ./conntrack
//	go test -run XXX -bench 'LookupRandom' -cpu 1 -benchtime 3000000x ./conntrack

import (
	"flag"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/gdirector/gdirector/conntrack"
	"github.com/gdirector/gdirector/sched"
	"github.com/gdirector/gdirector/vs"
)

var massN = flag.Int("conntrack.massn", 10_000_000, "connections expired at once by BenchmarkMassExpiry")

var perfVIP = vs.Addr16(netip.AddrFrom4([4]byte{192, 0, 2, 1}))

// perfClient returns the i-th distinct client address and port: 384
// addresses (198.51.100.0/24 and 192.0.2.128/25) times 64511 ports, about
// 24.7 M clients.
func perfClient(i int) (a [16]byte, port uint16) {
	n := i % 384
	if n < 256 {
		a = vs.Addr16(netip.AddrFrom4([4]byte{198, 51, 100, byte(n)}))
	} else {
		a = vs.Addr16(netip.AddrFrom4([4]byte{192, 0, 2, byte(n - 128)}))
	}
	return a, uint16(1024 + i/384)
}

// perfService is a NAT service 192.0.2.1:80 with n real servers
// 203.0.113.10… :8080 scheduled by the named scheduler.
func perfService(tb testing.TB, name string, n int) *vs.Service {
	svc := &vs.Service{Proto: vs.TCP, Port: 80, SchedName: name, Stats: &vs.Stats{}}
	for i := range n {
		svc.Dests = append(svc.Dests, vs.NewDest(netip.AddrFrom4([4]byte{203, 0, 113, byte(10 + i)}), 8080, vs.Masq, int32(1+i%3)))
	}
	s, err := sched.New(name)
	if err != nil {
		tb.Fatal(err)
	}
	svc.Sched = s
	s.Update(svc)
	return svc
}

// perfFill creates n established connections of clients from..from+n-1
// spread over the service's dests round robin, at time now.
func perfFill(tb testing.TB, tab *conntrack.Table, svc *vs.Service, from, n int, now int64) {
	p := conntrack.Params{Proto: vs.TCP, VAddr: perfVIP, VPort: 80, Svc: svc}
	for i := from; i < from+n; i++ {
		d := svc.Dests[i%len(svc.Dests)]
		p.CAddr, p.CPort = perfClient(i)
		p.DAddr, p.DPort, p.Fwd, p.Dest = d.Addr16, d.Port, d.FwdMethod(), d
		c, err := tab.New(now, &p)
		if err != nil {
			tb.Fatal(err)
		}
		c.Update(now, conntrack.In, 0x02)  // SYN
		c.Update(now, conntrack.Out, 0x12) // SYN+ACK
		c.Update(now, conntrack.In, 0x10)  // ACK: ESTABLISHED, 900 s
	}
}

func perfKey(i int) conntrack.Key {
	a, port := perfClient(i)
	return conntrack.Key{Proto: vs.TCP, Src: a, Dst: perfVIP, SPort: port, DPort: 80}
}

// heapPerConn builds a table of n established connections and returns the
// live heap it added per connection (HeapAlloc after a full GC, before and
// after), keeping nothing else alive.
func heapPerConn(tb testing.TB, n int) float64 {
	svc := perfService(tb, "rr", 16)
	var m0, m1 runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&m0)
	tab := conntrack.NewTable(conntrack.Options{Capacity: n})
	perfFill(tb, tab, svc, 0, n, 0)
	runtime.GC()
	runtime.ReadMemStats(&m1)
	if tab.Len() != n {
		tb.Fatalf("table holds %d, want %d", tab.Len(), n)
	}
	runtime.KeepAlive(tab)
	return float64(int64(m1.HeapAlloc)-int64(m0.HeapAlloc)) / float64(n)
}

// TestMemoryPerConn checks the per-connection heap loosely on 100 k
// connections (BenchmarkMemory10M measures the 10 M of the target).
func TestMemoryPerConn(t *testing.T) {
	if testing.Short() {
		t.Skip("builds 100 k connections")
	}
	const n = 100_000
	per := heapPerConn(t, n)
	t.Logf("%d connections: %.1f B/conn", n, per)
	if per > 160 {
		t.Fatalf("%.1f bytes per connection, want ≤ 160 (target 150 at 10 M)", per)
	}
}

// BenchmarkMemory10M reports the heap cost per connection of a table of
// 10 M established IPv4 TCP connections (the Conn and both index entries),
// and the table's total in MiB.
func BenchmarkMemory10M(b *testing.B) {
	const n = 10_000_000
	for b.Loop() {
		per := heapPerConn(b, n)
		b.ReportMetric(per, "B/conn")
		b.ReportMetric(per*n/(1<<20), "MiB")
	}
}

// cpuTime returns the process's user+system CPU time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkNewConn is the new-connection path of a worker, one connection
// per op: LookupIn and LookupOut miss, the scheduler picks one of 16 dests,
// New inserts the connection and Update accounts its SYN. The table holds
// 1 M connections at the start. "grow" only inserts (the table grows
// through its resizes); "steady" also deletes the connection made 1 M ops
// earlier, so the table stays at 1 M. conns/s is wall-clock; conns/cpu-s
// divides by the CPU time of the whole process (GC included), which a busy
// machine does not distort. Run with -cpu 1 for the per-core figure.
func BenchmarkNewConn(b *testing.B) {
	const prefill = 1 << 20
	for _, sn := range []string{"wlc", "rr"} {
		for _, mode := range []string{"grow", "steady"} {
			b.Run(sn+"/"+mode, func(b *testing.B) {
				svc := perfService(b, sn, 16)
				tab := conntrack.NewTable(conntrack.Options{Capacity: 1 << 26})
				perfFill(b, tab, svc, 0, prefill, 0)
				var ring []*conntrack.Conn
				if mode == "steady" {
					ring = make([]*conntrack.Conn, prefill)
					tab.Range(func(c *conntrack.Conn) bool {
						ring[(int(c.CPort)-1024)*384+clientIndex(c.CAddr)] = c
						return true
					})
				}
				var fl vs.Flow
				p := conntrack.Params{Proto: vs.TCP, VAddr: perfVIP, VPort: 80, Svc: svc}
				runtime.GC()
				b.ReportAllocs()
				i := prefill
				cpu0 := cpuTime()
				for b.Loop() {
					k := perfKey(i)
					now := int64(i) * 1000
					if tab.LookupIn(&k) != nil || tab.LookupOut(&k) != nil {
						b.Fatal("hit")
					}
					fl = vs.Flow{Proto: vs.TCP, Src: k.Src, Dst: k.Dst, SPort: k.SPort, DPort: k.DPort}
					d := svc.Sched.Schedule(svc, &fl)
					p.CAddr, p.CPort = k.Src, k.SPort
					p.DAddr, p.DPort, p.Fwd, p.Dest = d.Addr16, d.Port, d.FwdMethod(), d
					c, err := tab.New(now, &p)
					if err != nil {
						b.Fatal(err)
					}
					c.Update(now, conntrack.In, 0x02)
					if ring != nil {
						j := i % prefill
						tab.Delete(ring[j])
						ring[j] = c
					}
					i++
				}
				cpu := cpuTime() - cpu0
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "conns/s")
				if cpu > 0 {
					b.ReportMetric(float64(b.N)/cpu.Seconds(), "conns/cpu-s")
				}
			})
		}
	}
}

// BenchmarkLookupRandom is the established-flow path of a worker on tables
// of several sizes: LookupIn of a random live connection and Update with
// an ACK (keys in random order, so the caches help as little as they would
// with real traffic).
func BenchmarkLookupRandom(b *testing.B) {
	for _, n := range []int{100_000, 1_000_000, 10_000_000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			svc := perfService(b, "rr", 16)
			tab := conntrack.NewTable(conntrack.Options{Capacity: n})
			perfFill(b, tab, svc, 0, n, 0)
			r := rand.New(rand.NewPCG(7, 8))
			keys := make([]conntrack.Key, 1<<16)
			for i := range keys {
				keys[i] = perfKey(r.IntN(n))
			}
			runtime.GC()
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				c := tab.LookupIn(&keys[i&(1<<16-1)])
				if c == nil {
					b.Fatal("miss")
				}
				c.Update(int64(i), conntrack.In, 0x10)
				i++
			}
		})
	}
}

// clientIndex inverts perfClient's address choice.
func clientIndex(a [16]byte) int {
	if a[12] == 198 {
		return int(a[15])
	}
	return int(a[15]) + 128
}

// BenchmarkMassExpiry fills the table with -conntrack.massn (10 M)
// connections plus 64 k live ones, moves the clock past the timeout of the
// former, and measures a forwarding loop (batches of 64 LookupIn + Update
// on random live connections, as a worker does per read) first alone, then
// while one goroutine expires the 10 M. "flat" calls Expire back to back
// (the worst case); "paced" does what the director's expiry loop does,
// one call with budget max(8192, Len/50) every 100 ms. It reports the
// batch latency percentiles of both phases and their p99 ratio, the
// expiry rate and the GC cycles during the expiry. Needs GOMAXPROCS ≥ 2.
func BenchmarkMassExpiry(b *testing.B) {
	b.Run("flat", func(b *testing.B) { massExpiry(b, 0) })
	b.Run("paced", func(b *testing.B) { massExpiry(b, 100*time.Millisecond) })
}

func massExpiry(b *testing.B, every time.Duration) {
	const live = 1 << 16
	const batch = 64
	n := *massN
	for b.Loop() {
		svc := perfService(b, "rr", 16)
		tab := conntrack.NewTable(conntrack.Options{Capacity: n + live})
		perfFill(b, tab, svc, 0, n, 0)
		perfFill(b, tab, svc, n, live, 0)
		keys := make([]conntrack.Key, live)
		for i := range keys {
			keys[i] = perfKey(n + i)
		}
		const t1 = 1000 * int64(time.Second) // the 10 M expired at 900 s
		for i := range keys {
			tab.LookupIn(&keys[i]).Update(t1, conntrack.In, 0x10)
		}
		runtime.GC()

		var now atomic.Int64
		now.Store(t1)
		forward := func(stop *atomic.Bool, maxBatches int) []time.Duration {
			lat := make([]time.Duration, 0, 1<<22)
			r := rand.New(rand.NewPCG(1, 2))
			for j := 0; !stop.Load() && j < maxBatches && j < cap(lat); j++ {
				t := now.Add(1000)
				start := time.Now()
				for range batch {
					k := &keys[r.IntN(live)]
					c := tab.LookupIn(k)
					if c == nil {
						panic("live connection lost")
					}
					c.Update(t, conntrack.In, 0x10)
				}
				lat = append(lat, time.Since(start))
			}
			return lat
		}
		var never atomic.Bool
		forward(&never, 50_000) // warm up: caches, lazy sweeping after the fill
		base := forward(&never, 200_000)

		var stop atomic.Bool
		var wg sync.WaitGroup
		var during []time.Duration
		wg.Add(1)
		go func() {
			defer wg.Done()
			during = forward(&stop, 1<<30)
		}()
		var ms0, ms1 runtime.MemStats
		runtime.ReadMemStats(&ms0)
		start := time.Now()
		calls := 0
		for tab.Len() > live {
			tab.Expire(now.Load(), max(8192, tab.Len()/50))
			calls++
			if every > 0 {
				time.Sleep(every)
			}
		}
		took := time.Since(start)
		stop.Store(true)
		wg.Wait()
		runtime.ReadMemStats(&ms1)
		if tab.Len() != live {
			b.Fatalf("table holds %d after expiry, want %d", tab.Len(), live)
		}

		pct := func(l []time.Duration, q float64) float64 {
			return float64(l[int(q*float64(len(l)-1))].Nanoseconds())
		}
		slices.Sort(base)
		slices.Sort(during)
		b.ReportMetric(pct(base, 0.5), "base-p50-ns")
		b.ReportMetric(pct(base, 0.99), "base-p99-ns")
		b.ReportMetric(pct(during, 0.5), "exp-p50-ns")
		b.ReportMetric(pct(during, 0.99), "exp-p99-ns")
		b.ReportMetric(pct(during, 0.999), "exp-p999-ns")
		b.ReportMetric(float64(during[len(during)-1].Nanoseconds()), "exp-max-ns")
		b.ReportMetric(pct(during, 0.99)/pct(base, 0.99), "p99-ratio")
		b.ReportMetric(float64(n)/took.Seconds(), "expired/s")
		b.ReportMetric(float64(ms1.NumGC-ms0.NumGC), "gc-cycles")
		b.Logf("%d expired in %v (%d Expire calls); %d batches alone, %d during expiry", n, took, calls, len(base), len(during))
	}
}
