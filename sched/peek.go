package sched

import "github.com/gdirector/gdirector/vs"

// Peeker is implemented by the schedulers whose state between picks
// explains a pick (rr, wrr, lblc, lblcr, twos). Peek fills p with what
// the next pick of f will look at (rr and wrr's position and current
// weight, the lblc/lblcr cache entry of f's destination address) or, for
// twos, with the two weighted random draws of the most recent pick.
//
// It is the allocation-free counterpart of Inspector, meant for package
// trace, which calls it around one pick of a traced packet: it takes the
// scheduler's lock for a few loads (or none), changes nothing (lblc's
// expiry is not run) and never allocates. The dests' counters and
// weights it reads are read racily: other workers may pick and connections
// may change state in between, so a peek explains the pick it accompanies
// only as well as a snapshot taken a moment apart can.
type Peeker interface {
	Peek(svc *vs.Service, f *vs.Flow, p *Peek)
}

// PeekEntryMax is how many dests of an lblcr dest set Peek copies.
const PeekEntryMax = 4

// Peek is a copy of the scheduler state that explains one pick. Only the
// fields of the scheduler peeked at are set.
type Peek struct {
	// HasLast: rr and wrr. Last is the dest picked last (nil: the head of
	// the list, the walk starts at the first dest).
	HasLast bool
	Last    *vs.Dest
	// CW, MW and DI are wrr's current weight, top weight and step (the
	// gcd of the weights).
	CW, MW, DI int32

	// HasEntry: lblc and lblcr have a cache entry for the flow's
	// destination address. Entry holds its dest (lblc) or dest set
	// (lblcr, oldest first, at most PeekEntryMax of EntryLen); Age is the
	// time since it was last used (ns).
	HasEntry bool
	Entry    [PeekEntryMax]*vs.Dest
	EntryLen int
	Age      int64

	// HasDraws: twos. Draw[i] is the dest the i-th weighted random draw
	// R[i] (in 0..Total, Total being the sum of the usable weights) fell
	// on.
	HasDraws bool
	Draw     [2]*vs.Dest
	R        [2]int64
	Total    int64
}

// Peek reports the position: the next pick starts after Last.
func (s *rr) Peek(_ *vs.Service, _ *vs.Flow, p *Peek) {
	s.mu.Lock()
	p.HasLast, p.Last = true, s.last
	s.mu.Unlock()
}

// Peek reports the position and the current weight.
func (s *wrr) Peek(_ *vs.Service, _ *vs.Flow, p *Peek) {
	s.mu.Lock()
	p.HasLast, p.Last = true, s.cl
	p.CW, p.MW, p.DI = s.cw, s.mw, s.di
	s.mu.Unlock()
}

// peekEntry copies the cache entry of f's destination address.
func (t *locTable) peekEntry(f *vs.Flow, p *Peek) {
	e := t.lookup(bucketOf(&f.Dst, f.IPv6), &f.Dst)
	if e == nil {
		return
	}
	p.HasEntry = true
	p.EntryLen = len(e.dests)
	copy(p.Entry[:], e.dests)
	p.Age = t.clk.Now() - e.lastuse
}

// Peek reports the cache entry of the flow's destination address.
func (s *lblc) Peek(_ *vs.Service, f *vs.Flow, p *Peek) {
	s.mu.Lock()
	s.t.peekEntry(f, p)
	s.mu.Unlock()
}

// Peek reports the dest set of the flow's destination address.
func (s *lblcr) Peek(_ *vs.Service, f *vs.Flow, p *Peek) {
	s.mu.Lock()
	s.t.peekEntry(f, p)
	s.mu.Unlock()
}

// Peek recomputes the two draws of the most recent pick from the
// generator's state, which that pick advanced. Another worker's pick in
// between (the state is shared and read racily) shows its draws instead;
// the dests' weights are read again, so a weight changed in between can
// shift them.
func (s *twos) Peek(svc *vs.Service, _ *vs.Flow, p *Peek) {
	var total int64
	for _, d := range svc.Dests {
		if w := d.Weight.Load(); !d.Overloaded() && w > 0 {
			total += int64(w)
		}
	}
	if total == 0 {
		return
	}
	x := s.ctr.Load()
	p.HasDraws, p.Total = true, total
	p.R[0] = below(splitmix(x-splitmixGamma), uint64(total+1))
	p.R[1] = below(splitmix(x), uint64(total+1))
	r := p.R
	for _, d := range svc.Dests {
		w := d.Weight.Load()
		if d.Overloaded() || w <= 0 {
			continue
		}
		for i := range r {
			r[i] -= int64(w)
			if r[i] <= 0 && p.Draw[i] == nil {
				p.Draw[i] = d
			}
		}
	}
}
