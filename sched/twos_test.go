package sched

import (
	"math"
	"math/bits"
	"math/rand/v2"
	"testing"

	"github.com/gdirector/gdirector/vs"
)

func seededTwos(t *testing.T, svc *vs.Service, seed uint64) vs.Scheduler {
	s := newSched(t, "twos", svc)
	s.(*twos).seed(seed)
	return s
}

// twosRef is ip_vs_twos_schedule written from its description, drawing
// its two numbers from the same SplitMix64 stream (state advanced by the
// golden gamma per number) so that picks can be compared one by one: each
// number r in [0, W] selects the first usable dest whose running weight
// sum reaches r, and the second choice wins if its load per weight is
// strictly lower.
type twosRef struct{ state uint64 }

func (m *twosRef) draw(n int64) int64 {
	m.state += 0x9e3779b97f4a7c15
	z := m.state
	z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
	z = (z ^ z>>27) * 0x94d049bb133111eb
	z ^= z >> 31
	hi, _ := bits.Mul64(z, uint64(n))
	return int64(hi)
}

func (m *twosRef) pick(ds []*vs.Dest) int {
	var total int64
	var usable []int
	for i, d := range ds {
		if !d.Overloaded() && d.Weight.Load() > 0 {
			usable = append(usable, i)
			total += int64(d.Weight.Load())
		}
	}
	if len(usable) == 0 {
		return -1
	}
	r1, r2 := m.draw(total+1), m.draw(total+1)
	choose := func(r int64) int {
		var sum int64
		for _, i := range usable {
			if sum += int64(ds[i].Weight.Load()); sum >= r {
				return i
			}
		}
		return usable[len(usable)-1]
	}
	c1, c2 := choose(r1), choose(r2)
	oh := func(i int) int64 { return int64(ds[i].ActiveConns.Load())*256 + int64(ds[i].InactConns.Load()) }
	w := func(i int) int64 { return int64(ds[i].Weight.Load()) }
	if w(c2)*oh(c1) > w(c1)*oh(c2) {
		return c2
	}
	return c1
}

func TestTwosMatchesReference(t *testing.T) {
	r := rand.New(rand.NewPCG(61, 62))
	for iter := range 300 {
		ls := make([]load, r.IntN(8))
		for i := range ls {
			ls[i] = load{w: int32(r.IntN(6)), act: int32(r.IntN(5)), inact: int32(r.IntN(300)), over: r.IntN(5) == 0}
		}
		ds := mkLoaded(ls)
		svc := mkSvc(ds)
		seed := r.Uint64()
		s := seededTwos(t, svc, seed)
		m := &twosRef{state: seed}
		for step := range 200 {
			want := m.pick(ds)
			got := s.Schedule(svc, &vs.Flow{})
			if (want < 0) != (got == nil) || (want >= 0 && got != ds[want]) {
				t.Fatalf("iter %d step %d %v: got %s want %d", iter, step, ls, nameOf(ds, got), want)
			}
			if got != nil {
				got.ActiveConns.Add(1)
			}
		}
	}
}

// TestTwosDistribution: with no load the first choice always stands, so
// the picks follow the draw: the first usable dest with probability
// (w+1)/(W+1), the others w/(W+1) (the kernel draws in [0, W]).
func TestTwosDistribution(t *testing.T) {
	ds := mkDests(3, 1, 2, 5, 4, 0)
	ds[3].Flags.Store(vs.DestAvailable | vs.DestOverload)
	svc := mkSvc(ds)
	s := seededTwos(t, svc, 12345)
	const n = 110000
	count := map[*vs.Dest]int{}
	for range n {
		count[s.Schedule(svc, &vs.Flow{})]++
	}
	want := []float64{4, 1, 2, 0, 4, 0} // elevenths
	chi := 0.0
	for i, d := range ds {
		e := want[i] * n / 11
		if e == 0 {
			if count[d] != 0 {
				t.Errorf("%s picked %d times", nameOf(ds, d), count[d])
			}
			continue
		}
		chi += math.Pow(float64(count[d])-e, 2) / e
	}
	if chi > 16.27 { // 3 degrees of freedom, p = 0.001
		t.Errorf("chi-square %.1f: counts %v", chi, count)
	}
}

// TestTwosPrefersLessLoaded: two dests of weight 1, A busy and B idle.
// Each draw gives A with probability 2/3; B is taken unless both draws
// give A, so A gets 4/9 of the picks.
func TestTwosPrefersLessLoaded(t *testing.T) {
	ds := mkDests(1, 1)
	ds[0].ActiveConns.Store(1)
	svc := mkSvc(ds)
	s := seededTwos(t, svc, 99)
	const n = 90000
	a := 0
	for range n {
		if s.Schedule(svc, &vs.Flow{}) == ds[0] {
			a++
		}
	}
	if p := float64(a) / n; math.Abs(p-4.0/9) > 0.01 {
		t.Errorf("A picked %.4f of the time, want 4/9", p)
	}
}

func TestTwosNoneUsable(t *testing.T) {
	ds := mkDests(0, 2)
	ds[1].Flags.Store(vs.DestAvailable | vs.DestOverload)
	svc := mkSvc(ds)
	s := newSched(t, "twos", svc)
	if d := s.Schedule(svc, &vs.Flow{}); d != nil {
		t.Fatal(nameOf(ds, d))
	}
	ds[1].Flags.Store(vs.DestAvailable)
	for range 100 {
		if d := s.Schedule(svc, &vs.Flow{}); d != ds[1] {
			t.Fatal(nameOf(ds, d))
		}
	}
}
