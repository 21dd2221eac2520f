package sched

import (
	"math/bits"
	"math/rand/v2"
	"sync/atomic"

	"github.com/gdirector/gdirector/vs"
)

// twos is power of two choices (ip_vs_twos.c). With W the sum of the
// weights of the dests that are not overloaded and have weight > 0, it
// draws two numbers r1, r2 uniformly in [0, W] (W + 1 values, as the
// kernel does) and walks those dests in list order subtracting each
// weight from both: the first dest at which r1 drops to 0 or below is
// choice 1, likewise choice 2 for r2. (So the first usable dest is chosen
// with probability (w+1)/(W+1), each other with w/(W+1).) Choice 2 wins
// when its weighted load is lower: weight2 × overhead1 > weight1 ×
// overhead2, the overhead being wlc's; otherwise choice 1.
//
// The random numbers come from a SplitMix64 sequence whose counter is
// advanced with one atomic add per pick, so Schedule takes no lock and
// allocates nothing; parity with the kernel (which uses its per-CPU
// random pool) is in the algorithm and the resulting distribution, not in
// the exact draws. The sequence starts at a random point; tests seed it.
type twos struct {
	ctr atomic.Uint64 // SplitMix64 state
}

func newTwos() vs.Scheduler {
	s := &twos{}
	s.ctr.Store(rand.Uint64())
	return s
}

func (s *twos) Name() string { return "twos" }

// Update does nothing: twos reads the list, weights and counters at each
// pick.
func (s *twos) Update(*vs.Service) {}

// seed restarts the random sequence (tests).
func (s *twos) seed(x uint64) { s.ctr.Store(x) }

// splitmixGamma is SplitMix64's increment (the golden ratio); a pick
// takes two steps.
const (
	splitmixGamma  = 0x9e3779b97f4a7c15
	splitmixGamma2 = splitmixGamma * 2 % (1 << 64)
)

// splitmix is SplitMix64's output function.
func splitmix(z uint64) uint64 {
	z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
	z = (z ^ z>>27) * 0x94d049bb133111eb
	return z ^ z>>31
}

// below maps a 64-bit random number to [0, n) by multiply-shift.
func below(r uint64, n uint64) int64 {
	hi, _ := bits.Mul64(r, n)
	return int64(hi)
}

// Schedule returns the less loaded of two weighted random dests, or nil.
func (s *twos) Schedule(svc *vs.Service, _ *vs.Flow) *vs.Dest {
	ds := svc.Dests
	var total int64
	var any *vs.Dest
	for _, d := range ds {
		if w := d.Weight.Load(); !d.Overloaded() && w > 0 {
			total += int64(w)
			any = d
		}
	}
	if any == nil {
		return nil
	}
	x := s.ctr.Add(splitmixGamma2)
	r1 := below(splitmix(x-splitmixGamma), uint64(total+1))
	r2 := below(splitmix(x), uint64(total+1))

	choice1, choice2 := any, (*vs.Dest)(nil)
	var w1, w2 int64 = -1, -1
	var oh1, oh2 int64
	for _, d := range ds {
		w := d.Weight.Load()
		if d.Overloaded() || w <= 0 {
			continue
		}
		r1 -= int64(w)
		r2 -= int64(w)
		if r1 <= 0 && w1 == -1 {
			choice1, w1, oh1 = d, int64(w), int64(connOverhead(d))
		}
		if r2 <= 0 && w2 == -1 {
			choice2, w2, oh2 = d, int64(w), int64(connOverhead(d))
		}
		if w1 != -1 && w2 != -1 {
			break
		}
	}
	if choice2 != nil && w2*oh1 > w1*oh2 {
		return choice2
	}
	return choice1
}
