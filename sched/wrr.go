package sched

import (
	"sync"

	"github.com/gdirector/gdirector/vs"
)

// wrr is weighted round robin (ip_vs_wrr.c).
//
// Let g be the greatest common divisor of the positive weights and max the
// largest weight. The scheduler makes passes over the dest list with a
// current weight cw, picking every dest whose weight is at least cw, and
// lowers cw by g after each pass; a dest of weight w is thus picked w/g
// times per cycle of max/g passes. As in current kernels the top of the
// range is max-(g-1) rather than max, so that the last pass runs with cw = 1
// and still catches a dest whose weight was lowered below g without an
// Update. Overloaded dests are skipped; a dest of weight 0 is never picked.
//
// Update (the kernel's dest_changed, called on add, edit and delete)
// restarts the walk at the head of the list, recomputes g and the top
// weight, and keeps cw where it was when it is still in range, rounded to
// the step grid.
type wrr struct {
	mu   sync.Mutex
	cl   *vs.Dest // current position; nil = the head of the list
	hint int      // index of cl in the list it was found in
	cw   int32    // current weight
	mw   int32    // top weight: max - (di - 1); 0 = no dest has weight
	di   int32    // step: gcd of the positive weights, 1 if none
}

func newWRR() vs.Scheduler { return &wrr{hint: -1, di: 1} }

func (s *wrr) Name() string { return "wrr" }

func gcd(a, b int32) int32 {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

// Update recomputes the step and the top weight from the new dest list.
func (s *wrr) Update(svc *vs.Service) {
	var g, top int32
	for _, d := range svc.Dests {
		w := d.Weight.Load()
		if w > 0 {
			if g > 0 {
				g = gcd(w, g)
			} else {
				g = w
			}
		}
		if w > top {
			top = w
		}
	}
	if g == 0 {
		g = 1
	}
	s.mu.Lock()
	s.cl, s.hint = nil, -1
	s.di = g
	s.mw = top - (g - 1)
	if s.cw > s.mw || s.cw == 0 {
		s.cw = s.mw
	} else if s.di > 1 {
		s.cw = (s.cw/s.di)*s.di + 1
	}
	s.mu.Unlock()
}

// Schedule returns the next dest in weighted order, or nil when none is
// usable.
func (s *wrr) Schedule(svc *vs.Service, _ *vs.Flow) *vs.Dest {
	ds := svc.Dests
	n := len(ds)
	s.mu.Lock()
	if s.mw == 0 {
		s.mu.Unlock()
		return nil
	}
	last := indexOf(ds, s.cl, s.hint) // -1 = head
	stop := -2                        // none yet
	lastPass, restarted := false, false
	i := last
	for {
		for i++; i < n; i++ {
			d := ds[i]
			if !d.Overloaded() && d.Weight.Load() >= s.cw {
				s.cl, s.hint = d, i
				s.mu.Unlock()
				return d
			}
			if i == stop {
				// Every dest was tried with cw = 1: give up here.
				s.cl, s.hint = d, i
				s.mu.Unlock()
				return nil
			}
		}
		// End of the list: next pass with a lower weight.
		s.cw -= s.di
		if s.cw <= 0 {
			s.cw = s.mw
			// A pass with cw <= di already covered every dest, or the
			// walk started at the head so the pass with cw = 1 did.
			if lastPass || last < 0 {
				s.cl, s.hint = nil, -1
				s.mu.Unlock()
				return nil
			}
			restarted = true
		}
		lastPass = s.cw <= s.di
		if lastPass && restarted && last >= 0 {
			// The first pass ran with cw = 1 over the dests after the
			// start only; this one covers the rest up to the start.
			stop = last
		}
		i = -1
	}
}

// Inspect returns the position and the current weight, the top weight
// (max - (gcd - 1)) and the step (gcd).
func (s *wrr) Inspect() State {
	s.mu.Lock()
	defer s.mu.Unlock()
	return State{
		Name:    "wrr",
		Vars:    []Var{{"cw", int64(s.cw)}, {"mw", int64(s.mw)}, {"di", int64(s.di)}},
		HasLast: true,
		Last:    s.cl,
	}
}
