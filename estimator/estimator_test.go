package estimator

import (
	"context"
	"fmt"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gdirector/gdirector/internal/clock"
	"github.com/gdirector/gdirector/vs"
)

const sec = int64(time.Second)

func service(dests ...*vs.Dest) *vs.Service {
	return &vs.Service{Proto: vs.TCP, Addr: netip.MustParseAddr("192.0.2.10"), Port: 80, Stats: &vs.Stats{}, Dests: dests}
}

func dest(host int) *vs.Dest {
	return vs.NewDest(netip.AddrFrom4([4]byte{203, 0, 113, byte(host)}), 80, vs.Masq, 1)
}

// traffic counts n packets of size bytes in each direction on d and its
// service, as the data plane would.
func traffic(s *vs.Service, d *vs.Dest, conns, n, size uint64) {
	for _, st := range []*vs.Stats{s.Stats, &d.Stats} {
		st.Conns.Add(conns)
		st.InPkts.Add(n)
		st.OutPkts.Add(n)
		st.InBytes.Add(n * size)
		st.OutBytes.Add(n * size)
	}
}

// TestPollFakeClock: passes run every 2 s on the clock's schedule, late
// passes run once, a long stall restarts the schedule, new dests start from
// zero and removed ones stop being estimated.
func TestPollFakeClock(t *testing.T) {
	fake := clock.NewFake(100 * sec)
	d1, d2 := dest(11), dest(12)
	s := service(d1, d2)
	var tbl atomic.Pointer[vs.Table]
	tbl.Store(vs.NewTable([]*vs.Service{s}))
	e := New(Config{Table: &tbl, Clock: fake})

	traffic(s, d1, 5, 10, 100) // 5 conns, 10 packets each way, 1000 bytes
	if e.Poll(fake.Advance(2*time.Second - 1)) {
		t.Fatal("pass before 2 s")
	}
	if s.Stats.Rates() != (vs.Rates{}) {
		t.Fatal("rates before the first pass")
	}
	if !e.Poll(fake.Advance(1)) {
		t.Fatal("no pass at 2 s")
	}
	// One pass over 5 conns, 10 packets, 1000 bytes in 2 s: averages
	// 640, 1280, 1280, 4000, 4000 (a quarter of the rate, scaled), read
	// as 1 cps, 1 pps, 125 B/s.
	want := vs.Rates{CPS: 1, InPPS: 1, OutPPS: 1, InBPS: 125, OutBPS: 125}
	for name, st := range map[string]*vs.Stats{"service": s.Stats, "d1": &d1.Stats} {
		if got := st.Scaled(); got != (vs.ScaledRates{CPS: 640, InPPS: 1280, OutPPS: 1280, InBPS: 4000, OutBPS: 4000}) {
			t.Errorf("%s: scaled %+v", name, got)
		}
		if got := st.Rates(); got != want {
			t.Errorf("%s: rates %+v, want %+v", name, got, want)
		}
	}
	if d2.Stats.Rates() != (vs.Rates{}) {
		t.Errorf("idle dest has rates %+v", d2.Stats.Rates())
	}

	// A late pass (at 4.5 s) runs once; the next is still due at 6 s.
	if e.Poll(fake.Advance(time.Second)) {
		t.Fatal("pass at 3 s")
	}
	if !e.Poll(fake.Advance(1500*time.Millisecond)) || e.Poll(fake.Now()) {
		t.Fatal("late pass at 4.5 s should run exactly once")
	}
	if e.Poll(fake.Advance(1500*time.Millisecond-1)) || !e.Poll(fake.Advance(1)) {
		t.Fatal("schedule moved: want the pass at 6 s")
	}
	if e.Passes() != 3 {
		t.Fatalf("passes %d, want 3", e.Passes())
	}
	// Two idle passes decayed d1: 4000 → 3000 → 2250 bytes, 640 → 480
	// → 360 conns.
	if got := d1.Stats.Scaled(); got.InBPS != 2250 || got.CPS != 360 {
		t.Fatalf("decay: %+v", got)
	}

	// d2 leaves, d3 arrives: d3 starts from zero, d2 is no longer
	// estimated even if its counters move.
	d3 := dest(13)
	s2 := service(d1, d3)
	s2.Stats = s.Stats
	tbl.Store(vs.NewTable([]*vs.Service{s2}))
	traffic(s2, d3, 1, 2, 50)
	d2.Stats.InPkts.Add(1000)
	if !e.Poll(fake.Advance(2 * time.Second)) {
		t.Fatal("no pass at 8 s")
	}
	if got := d3.Stats.Scaled(); got != (vs.ScaledRates{CPS: 128, InPPS: 256, OutPPS: 256, InBPS: 400, OutBPS: 400}) {
		t.Errorf("new dest: %+v", got)
	}
	if got := d2.Stats.Scaled(); got != (vs.ScaledRates{}) {
		t.Errorf("removed dest estimated: %+v", got)
	}

	// Stopped for 30 s: one pass, then every 2 s from there.
	stall := fake.Advance(30 * time.Second)
	if !e.Poll(stall) || e.Poll(stall+2*sec-1) || !e.Poll(stall+2*sec) {
		t.Fatal("after a stall the schedule restarts from the late pass")
	}
}

// TestRun: Run waits for the due time with After, runs the pass, and
// returns nil when its context ends.
func TestRun(t *testing.T) {
	fake := clock.NewFake(0)
	d := dest(11)
	s := service(d)
	var tbl atomic.Pointer[vs.Table]
	tbl.Store(vs.NewTable([]*vs.Service{s}))
	waits := make(chan time.Duration, 1)
	fire := make(chan time.Time)
	e := New(Config{Table: &tbl, Clock: fake, After: func(dur time.Duration) <-chan time.Time {
		waits <- dur
		return fire
	}})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.Run(ctx) }()

	if w := <-waits; w != Interval {
		t.Fatalf("first wait %v, want %v", w, Interval)
	}
	traffic(s, d, 4, 8, 64)
	fake.Advance(Interval)
	fire <- time.Time{}
	// The next wait request comes after the pass.
	if w := <-waits; w != Interval {
		t.Fatalf("second wait %v, want %v", w, Interval)
	}
	if e.Passes() != 1 {
		t.Fatalf("passes %d", e.Passes())
	}
	if got := d.Stats.Scaled(); got != (vs.ScaledRates{CPS: 512, InPPS: 1024, OutPPS: 1024, InBPS: 2048, OutBPS: 2048}) {
		t.Fatalf("after Run's pass: %+v", got)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
}

// BenchmarkPass is one estimation pass over a service with 1000 real
// servers (1001 stats objects).
func BenchmarkPass(b *testing.B) {
	for _, n := range []int{10, 1000} {
		b.Run(fmt.Sprintf("dests=%d", n), func(b *testing.B) {
			dests := make([]*vs.Dest, n)
			for i := range dests {
				dests[i] = vs.NewDest(netip.AddrFrom4([4]byte{203, 0, byte(113 + i/250), byte(1 + i%250)}), 80, vs.Masq, 1)
			}
			s := service(dests...)
			t := vs.NewTable([]*vs.Service{s})
			b.ReportAllocs()
			for b.Loop() {
				Pass(t)
			}
		})
	}
}
