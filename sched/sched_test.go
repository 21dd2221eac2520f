package sched

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/gdirector/gdirector/vs"
)

// names gives dests single-letter names so sequences read like the
// documentation of the algorithms ("AABABCABC").
const names = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"

func mkDests(weights ...int32) []*vs.Dest {
	ds := make([]*vs.Dest, len(weights))
	for i, w := range weights {
		ds[i] = vs.NewDest(netip.AddrFrom4([4]byte{203, 0, 113, byte(i + 1)}), 80, vs.Masq, w)
	}
	return ds
}

func mkSvc(ds []*vs.Dest) *vs.Service {
	return &vs.Service{Proto: vs.TCP, Port: 80, Dests: ds, Stats: &vs.Stats{}}
}

func nameOf(ds []*vs.Dest, d *vs.Dest) string {
	if d == nil {
		return "-"
	}
	for i, x := range ds {
		if x == d {
			return names[i : i+1]
		}
	}
	return "?"
}

// seq schedules n times and returns the picks as letters of the dests of
// the list named by ref (the original list, so letters stay stable when
// svc holds a subset).
func seq(s vs.Scheduler, svc *vs.Service, ref []*vs.Dest, n int) string {
	var b strings.Builder
	var f vs.Flow
	for range n {
		b.WriteString(nameOf(ref, s.Schedule(svc, &f)))
	}
	return b.String()
}

func newSched(t testing.TB, name string, svc *vs.Service) vs.Scheduler {
	t.Helper()
	s, err := New(name)
	if err != nil {
		t.Fatal(err)
	}
	if s.Name() != name {
		t.Fatalf("Name() = %q, want %q", s.Name(), name)
	}
	s.Update(svc)
	return s
}

func TestRegistry(t *testing.T) {
	all := []string{"rr", "wrr", "lc", "wlc", "lblc", "lblcr", "dh", "sh", "sed", "nq", "fo", "ovf", "mh", "twos"}
	if got := Names(); !slices.Equal(got, all) {
		t.Fatalf("Names() = %v", got)
	}
	if len(all) != len(registry) {
		t.Fatalf("order lists %d schedulers, registry has %d", len(all), len(registry))
	}
	for _, n := range all {
		s, err := New(n)
		if err != nil || s.Name() != n {
			t.Fatalf("New(%s) = %v, %v", n, s, err)
		}
	}
	_, err := New("wlcx")
	if !errors.Is(err, ErrUnknown) {
		t.Fatalf("New(wlcx) error %v, want ErrUnknown", err)
	}
	a, _ := New("rr")
	b, _ := New("rr")
	if a == b {
		t.Fatal("New returned a shared instance")
	}
}

func TestRRSequence(t *testing.T) {
	ds := mkDests(1, 5, 1) // weights do not matter to rr, only > 0
	svc := mkSvc(ds)
	s := newSched(t, "rr", svc)
	if got := seq(s, svc, ds, 7); got != "ABCABCA" {
		t.Fatalf("got %s", got)
	}
}

func TestRRSkipsQuiescedAndOverloaded(t *testing.T) {
	ds := mkDests(1, 0, 1, 1)
	svc := mkSvc(ds)
	s := newSched(t, "rr", svc)
	if got := seq(s, svc, ds, 4); got != "ACDA" {
		t.Fatalf("weight 0 not skipped: %s", got)
	}
	ds[2].Flags.Store(vs.DestAvailable | vs.DestOverload)
	if got := seq(s, svc, ds, 3); got != "DAD" {
		t.Fatalf("overloaded not skipped: %s", got)
	}
	ds[2].Flags.Store(vs.DestAvailable)
	ds[1].Weight.Store(2) // un-quiesced by an edit; rr needs no Update
	if got := seq(s, svc, ds, 4); got != "ABCD" {
		t.Fatalf("got %s", got)
	}
}

func TestRRNoneUsable(t *testing.T) {
	ds := mkDests(0, 1)
	ds[1].Flags.Store(vs.DestAvailable | vs.DestOverload)
	svc := mkSvc(ds)
	s := newSched(t, "rr", svc)
	if got := seq(s, svc, ds, 2); got != "--" {
		t.Fatalf("got %s", got)
	}
	ds[1].Flags.Store(vs.DestAvailable)
	if got := seq(s, svc, ds, 2); got != "BB" {
		t.Fatalf("got %s", got)
	}
	empty := mkSvc(nil)
	s2 := newSched(t, "rr", empty)
	if d := s2.Schedule(empty, &vs.Flow{}); d != nil {
		t.Fatal("empty service scheduled a dest")
	}
}

// TestRRUpdate follows ip_vs_rr_del_dest: when the last pick is removed,
// the walk continues with the dest that followed it; additions and other
// removals leave the position alone.
func TestRRUpdate(t *testing.T) {
	ds := mkDests(1, 1, 1, 1) // A B C D
	svc := mkSvc(ds)
	s := newSched(t, "rr", svc)
	if got := seq(s, svc, ds, 2); got != "AB" {
		t.Fatalf("got %s", got)
	}
	// Remove B (the last pick): continue with C.
	svc = mkSvc([]*vs.Dest{ds[0], ds[2], ds[3]})
	s.Update(svc)
	if got := seq(s, svc, ds, 4); got != "CDAC" {
		t.Fatalf("after removing the last pick: %s", got)
	}
	// Remove A (not the last pick, which is C): position unchanged.
	svc = mkSvc([]*vs.Dest{ds[2], ds[3]})
	s.Update(svc)
	if got := seq(s, svc, ds, 1); got != "D" {
		t.Fatalf("after removing another dest: %s", got)
	}
	// Add E at the end: picked in turn, position unchanged.
	e := mkDests(1, 1, 1, 1, 1)[4]
	ref := append(slices.Clone(ds), e)
	svc = mkSvc([]*vs.Dest{ds[2], ds[3], e})
	s.Update(svc)
	if got := seq(s, svc, ref, 4); got != "ECDE" {
		t.Fatalf("after adding: %s", got)
	}
	// Remove the first dest while it is the last pick: back to the head.
	if got := seq(s, svc, ref, 1); got != "C" {
		t.Fatalf("got %s", got)
	}
	svc = mkSvc([]*vs.Dest{ds[3], e})
	s.Update(svc)
	if got := seq(s, svc, ref, 3); got != "DED" {
		t.Fatalf("after removing the head pick: %s", got)
	}
	// Remove the last dest of the list while it is the last pick: its
	// predecessor becomes the position, so the walk wraps to the head.
	svc = mkSvc([]*vs.Dest{ds[3], e, ds[0]})
	s.Update(svc)
	if got := seq(s, svc, ref, 2); got != "EA" {
		t.Fatalf("got %s", got)
	}
	svc = mkSvc([]*vs.Dest{ds[3], e})
	s.Update(svc)
	if got := seq(s, svc, ref, 3); got != "DED" {
		t.Fatalf("after removing the tail pick: %s", got)
	}
}

// rrModel is a naive round robin over a list of usable flags.
type rrModel struct{ last int }

func (m *rrModel) next(ok []bool) int {
	n := len(ok)
	for k := 1; k <= n; k++ {
		i := ((m.last+k)%n + n) % n
		if m.last < 0 {
			i = k - 1
		}
		if ok[i] {
			m.last = i
			return i
		}
	}
	return -1
}

func TestRRMatchesModel(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for iter := range 200 {
		n := 1 + r.IntN(8)
		ws := make([]int32, n)
		for i := range ws {
			ws[i] = int32(r.IntN(3))
		}
		ds := mkDests(ws...)
		svc := mkSvc(ds)
		s := newSched(t, "rr", svc)
		m := rrModel{last: -1}
		for step := range 100 {
			if r.IntN(5) == 0 { // flip a flag or a weight now and then
				d := ds[r.IntN(n)]
				if r.IntN(2) == 0 {
					d.Flags.Store(d.Flags.Load() ^ vs.DestOverload)
				} else {
					d.Weight.Store(int32(r.IntN(3)))
				}
			}
			ok := make([]bool, n)
			for i, d := range ds {
				ok[i] = usable(d)
			}
			want := m.next(ok)
			got := s.Schedule(svc, &vs.Flow{})
			if (want < 0) != (got == nil) || (want >= 0 && got != ds[want]) {
				t.Fatalf("iter %d step %d: got %s want %d (ok %v)", iter, step, nameOf(ds, got), want, ok)
			}
		}
	}
}

// TestWRRKernelVectors checks sequences worked out by hand from
// ip_vs_wrr.c for a fixed list order.
func TestWRRKernelVectors(t *testing.T) {
	for _, tc := range []struct {
		weights []int32
		want    string
	}{
		{[]int32{4, 3, 2}, "AABABCABC" + "AABABCABC"},
		{[]int32{4, 2, 2}, "AABC" + "AABC"},
		{[]int32{1, 1, 1}, "ABCABC"},
		{[]int32{5, 0, 1}, "AAAAAC" + "AAAAAC"},
		{[]int32{2, 4}, "BAB" + "BAB"}, // g 2, top 3: cw 3 -> B; cw 1 -> A, B
		{[]int32{3, 6, 9}, "CBCABC" + "CBCABC"},
		{[]int32{0, 0}, "----"},
		{nil, "--"},
	} {
		ds := mkDests(tc.weights...)
		svc := mkSvc(ds)
		s := newSched(t, "wrr", svc)
		if got := seq(s, svc, ds, len(tc.want)); got != tc.want {
			t.Errorf("weights %v: got %s want %s", tc.weights, got, tc.want)
		}
	}
}

// wrrCycle is the reference model of weighted round robin: passes with the
// current weight going from the largest weight down to the gcd in steps of
// the gcd, each pass picking, in list order, every dest with at least that
// weight.
func wrrCycle(ws []int32) []int {
	var g, top int32
	for _, w := range ws {
		if w > 0 {
			g = gcd(w, g)
		}
		top = max(top, w)
	}
	var out []int
	for c := top; c > 0; c -= g {
		for i, w := range ws {
			if w >= c {
				out = append(out, i)
			}
		}
	}
	return out
}

func TestWRRMatchesReference(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for iter := range 500 {
		n := 1 + r.IntN(8)
		ws := make([]int32, n)
		mult := int32(1 + r.IntN(4)) // exercise gcd > 1
		for i := range ws {
			ws[i] = int32(r.IntN(7)) * mult
		}
		ds := mkDests(ws...)
		svc := mkSvc(ds)
		s := newSched(t, "wrr", svc)
		cycle := wrrCycle(ws)
		for rep := range 3 {
			for k, want := range cycle {
				if got := s.Schedule(svc, &vs.Flow{}); got != ds[want] {
					t.Fatalf("iter %d weights %v rep %d pick %d: got %s want %s",
						iter, ws, rep, k, nameOf(ds, got), names[want:want+1])
				}
			}
		}
		if len(cycle) == 0 && s.Schedule(svc, &vs.Flow{}) != nil {
			t.Fatalf("weights %v: picked a dest", ws)
		}
	}
}

func TestWRROverloaded(t *testing.T) {
	ds := mkDests(3, 1)
	svc := mkSvc(ds)
	s := newSched(t, "wrr", svc)
	if got := seq(s, svc, ds, 2); got != "AA" {
		t.Fatalf("got %s", got)
	}
	ds[0].Flags.Store(vs.DestAvailable | vs.DestOverload)
	if got := seq(s, svc, ds, 3); got != "BBB" {
		t.Fatalf("overloaded A: got %s", got)
	}
	ds[1].Flags.Store(vs.DestAvailable | vs.DestOverload)
	if got := seq(s, svc, ds, 3); got != "---" {
		t.Fatalf("all overloaded: got %s", got)
	}
	ds[0].Flags.Store(vs.DestAvailable)
	ds[1].Flags.Store(vs.DestAvailable)
	if got := seq(s, svc, ds, 8); got != "AAABAAAB" {
		t.Fatalf("after recovery: got %s", got)
	}
}

// TestWRRLoweredWeightWithoutUpdate: a weight lowered below the step
// before Update runs is still found by the pass with cw = 1.
func TestWRRLoweredWeightWithoutUpdate(t *testing.T) {
	ds := mkDests(4, 2)
	svc := mkSvc(ds)
	s := newSched(t, "wrr", svc)
	ds[1].Weight.Store(1)
	if got := seq(s, svc, ds, 6); got != "AABAAB" {
		t.Fatalf("got %s", got)
	}
}

func TestWRRUpdate(t *testing.T) {
	ds := mkDests(4, 3, 2)
	svc := mkSvc(ds)
	s := newSched(t, "wrr", svc)
	if got := seq(s, svc, ds, 3); got != "AAB" { // cw is 3 now
		t.Fatalf("got %s", got)
	}
	// Remove C: g 1, top 4, cw stays 3, walk restarts at the head.
	svc = mkSvc(ds[:2])
	s.Update(svc)
	if got := seq(s, svc, ds, 13); got != "ABABAB"+"AAB"+"ABAB" {
		t.Fatalf("after removal: got %s", got)
	}

	// Step rounding: weights 4,2 (g 2, top 3); after one pick cw is 3.
	ds = mkDests(4, 2)
	svc = mkSvc(ds)
	s = newSched(t, "wrr", svc)
	if got := seq(s, svc, ds, 1); got != "A" {
		t.Fatalf("got %s", got)
	}
	// Edit to 6,4: g 2, top 5, cw 3 rounds to 3/2*2+1 = 3.
	ds[0].Weight.Store(6)
	ds[1].Weight.Store(4)
	s.Update(svc)
	if got := seq(s, svc, ds, 9); got != "ABAB"+"AABAB" {
		t.Fatalf("after edit: got %s", got)
	}

	// cw above the new top: back to the top.
	ds[0].Weight.Store(2)
	ds[1].Weight.Store(2)
	s.Update(svc) // g 2, top 1
	if got := seq(s, svc, ds, 4); got != "ABAB" {
		t.Fatalf("after lowering: got %s", got)
	}
	// No weights left: nothing, and nothing after weights come back
	// until Update.
	ds[0].Weight.Store(0)
	ds[1].Weight.Store(0)
	s.Update(svc)
	if got := seq(s, svc, ds, 2); got != "--" {
		t.Fatalf("zero weights: got %s", got)
	}
	ds[1].Weight.Store(1)
	s.Update(svc)
	if got := seq(s, svc, ds, 2); got != "BB" {
		t.Fatalf("got %s", got)
	}
}

// TestWRRNeverPicksUnusable: whatever the overload flags, wrr returns a
// usable dest whenever one exists and nil otherwise, given that every
// weight change is followed by Update (as the control plane does; a weight
// raised from an all-zero list without Update stays unused, as in the
// kernel).
func TestWRRNeverPicksUnusable(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for iter := range 300 {
		n := 1 + r.IntN(6)
		ws := make([]int32, n)
		for i := range ws {
			ws[i] = int32(r.IntN(5))
		}
		ds := mkDests(ws...)
		svc := mkSvc(ds)
		s := newSched(t, "wrr", svc)
		for step := range 60 {
			d := ds[r.IntN(n)]
			switch r.IntN(4) {
			case 0:
				d.Flags.Store(d.Flags.Load() ^ vs.DestOverload)
			case 1:
				d.Weight.Store(int32(r.IntN(5)))
				s.Update(svc)
			}
			someUsable := false
			for _, x := range ds {
				someUsable = someUsable || usable(x)
			}
			got := s.Schedule(svc, &vs.Flow{})
			if got != nil && !usable(got) {
				t.Fatalf("iter %d step %d: picked unusable %s", iter, step, nameOf(ds, got))
			}
			if someUsable && got == nil {
				t.Fatalf("iter %d step %d: nil with a usable dest", iter, step)
			}
		}
	}
}

// testFlows returns n flows from distinct clients (198.51.100.0/24 and
// beyond) to distinct destination addresses, TCP with varied ports.
func testFlows(n int) []vs.Flow {
	fs := make([]vs.Flow, n)
	for i := range fs {
		fs[i] = vs.Flow{
			Proto: vs.TCP,
			Src:   vs.Addr16(netip.AddrFrom4([4]byte{198, 51, byte(100 + i>>8), byte(i)})),
			Dst:   vs.Addr16(netip.AddrFrom4([4]byte{192, 0, byte(2 + i>>8), byte(i)})),
			SPort: uint16(1024 + i*7),
			DPort: 80,
		}
	}
	return fs
}

// TestZeroAllocs: no scheduler allocates to pick, with loads, quiesced and
// overloaded dests, the hash flags set, and flows of many clients and
// destinations (lblc and lblcr having seen each destination once, as
// creating a cache entry may allocate).
func TestZeroAllocs(t *testing.T) {
	for _, name := range Names() {
		for _, flags := range []uint32{0, vs.SvcSchedFlag1 | vs.SvcSchedFlag2} {
			ds := mkDests(5, 3, 1, 0, 2, 4)
			ds[2].Flags.Store(vs.DestAvailable | vs.DestOverload)
			for i, d := range ds {
				d.ActiveConns.Store(int32(i * 3 % 5))
				d.InactConns.Store(int32(i * 7 % 11))
			}
			svc := mkSvc(ds)
			svc.Flags = flags
			s := newSched(t, name, svc)
			fs := testFlows(64)
			for i := range fs {
				s.Schedule(svc, &fs[i])
			}
			i := 0
			if a := testing.AllocsPerRun(1000, func() {
				s.Schedule(svc, &fs[i%len(fs)])
				i++
			}); a != 0 {
				t.Errorf("%s flags %#x: %v allocs per Schedule", name, flags, a)
			}
		}
	}
}

// TestConcurrent runs many schedulers' callers against a writer that
// publishes new dest lists and edits weights and flags; run with -race.
func TestConcurrent(t *testing.T) {
	for _, name := range Names() {
		t.Run(name, func(t *testing.T) {
			all := mkDests(1, 2, 3, 4, 5, 6)
			var cur sync.Map // "svc" -> *vs.Service
			svc := mkSvc(all[:3])
			s := newSched(t, name, svc)
			cur.Store("svc", svc)
			var wg sync.WaitGroup
			stop := make(chan struct{})
			for range 8 {
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
						v, _ := cur.Load("svc")
						sv := v.(*vs.Service)
						if d := s.Schedule(sv, f); d != nil && !slices.Contains(all, d) {
							t.Error("foreign dest")
							return
						}
					}
				}()
			}
			r := rand.New(rand.NewPCG(7, 8))
			for range 2000 {
				n := 1 + r.IntN(len(all))
				list := slices.Clone(all[:n])
				r.Shuffle(len(list), func(i, j int) { list[i], list[j] = list[j], list[i] })
				d := list[r.IntN(n)]
				d.Weight.Store(int32(r.IntN(4)))
				d.Flags.Store(vs.DestAvailable | uint32(r.IntN(2))*vs.DestOverload)
				nsvc := mkSvc(list)
				s.Update(nsvc) // before publication, as the control plane does
				cur.Store("svc", nsvc)
				if ins, ok := s.(Inspector); ok && r.IntN(50) == 0 {
					_ = ins.Inspect().String()
				}
			}
			close(stop)
			wg.Wait()
		})
	}
}

// TestConcurrentFairness: picks serialized by the scheduler's lock spread
// exactly evenly over equal dests however many callers race (for the
// schedulers that rotate over the list).
func TestConcurrentFairness(t *testing.T) {
	for _, name := range []string{"rr", "wrr"} {
		ds := mkDests(2, 2, 2, 2)
		svc := mkSvc(ds)
		s := newSched(t, name, svc)
		var mu sync.Mutex
		count := map[*vs.Dest]int{}
		var wg sync.WaitGroup
		for range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				local := map[*vs.Dest]int{}
				for range 1000 {
					local[s.Schedule(svc, &vs.Flow{})]++
				}
				mu.Lock()
				for d, c := range local {
					count[d] += c
				}
				mu.Unlock()
			}()
		}
		wg.Wait()
		for _, d := range ds {
			if count[d] != 2000 {
				t.Errorf("%s: %s got %d picks, want 2000", name, nameOf(ds, d), count[d])
			}
		}
	}
}

// benchDests returns n dests with weights 1 to 5 and varied loads.
func benchDests(n int) []*vs.Dest {
	r := rand.New(rand.NewPCG(11, uint64(n)))
	ds := make([]*vs.Dest, n)
	for i := range ds {
		a := netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
		ds[i] = vs.NewDest(a, 80, vs.Masq, int32(1+r.IntN(5)))
		ds[i].ActiveConns.Store(int32(r.IntN(50)))
		ds[i].InactConns.Store(int32(r.IntN(500)))
	}
	return ds
}

// BenchmarkSchedule measures one pick per scheduler and list size, over
// 1024 flows of distinct clients and destinations (already in the caches
// of lblc and lblcr).
func BenchmarkSchedule(b *testing.B) {
	fs := testFlows(1024)
	for _, name := range Names() {
		for _, n := range []int{2, 16, 256, 1024} {
			svc := mkSvc(benchDests(n))
			s := newSched(b, name, svc)
			for i := range fs {
				s.Schedule(svc, &fs[i])
			}
			b.Run(fmt.Sprintf("%s/%d", name, n), func(b *testing.B) {
				b.ReportAllocs()
				i := 0
				for b.Loop() {
					s.Schedule(svc, &fs[i&1023])
					i++
				}
			})
		}
	}
}

// BenchmarkScheduleParallel measures picks from all CPUs at once on 16
// dests.
func BenchmarkScheduleParallel(b *testing.B) {
	fs := testFlows(1024)
	for _, name := range Names() {
		svc := mkSvc(benchDests(16))
		s := newSched(b, name, svc)
		for i := range fs {
			s.Schedule(svc, &fs[i])
		}
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				i := 0
				for pb.Next() {
					s.Schedule(svc, &fs[i&1023])
					i++
				}
			})
		})
	}
}
