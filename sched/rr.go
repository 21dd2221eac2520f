package sched

import (
	"sync"

	"github.com/gdirector/gdirector/vs"
)

// rr is round robin (ip_vs_rr.c). It remembers the dest it picked last and
// walks the list circularly from the one after it, skipping dests that are
// overloaded or quiesced; the last pick itself is tried last. Before the
// first pick, and after the position was lost, the walk starts at the head
// of the list.
//
// When the dest it picked last is removed, the position moves to the dest
// that preceded it, so the walk goes on with the one that followed it, as
// ip_vs_rr_del_dest does. Adding a dest or changing a weight does not move
// the position.
type rr struct {
	mu   sync.Mutex
	last *vs.Dest   // the last pick; nil = the head of the list
	hint int        // index of last in the list it was found in
	list []*vs.Dest // the dest list of the last Update
}

func newRR() vs.Scheduler { return &rr{hint: -1} }

func (s *rr) Name() string { return "rr" }

// Schedule returns the next usable dest, or nil when none is usable.
func (s *rr) Schedule(svc *vs.Service, _ *vs.Flow) *vs.Dest {
	ds := svc.Dests
	n := len(ds)
	s.mu.Lock()
	start := indexOf(ds, s.last, s.hint) // -1 = head
	for k := 1; k <= n; k++ {
		i := start + k
		if i >= n {
			i -= n
		}
		if d := ds[i]; usable(d) {
			s.last, s.hint = d, i
			s.mu.Unlock()
			return d
		}
	}
	s.mu.Unlock()
	return nil
}

// Update takes the new dest list. If the last pick is no longer in it, the
// position moves back to the nearest dest before it (in the previous list)
// that is still present, or to the head.
func (s *rr) Update(svc *vs.Service) {
	ds := svc.Dests
	s.mu.Lock()
	defer s.mu.Unlock()
	old := s.list
	s.list = ds
	if s.last == nil {
		return
	}
	if i := indexOf(ds, s.last, s.hint); i >= 0 {
		s.hint = i
		return
	}
	at := indexOf(old, s.last, -1)
	s.last, s.hint = nil, -1
	if at <= 0 {
		return
	}
	present := make(map[*vs.Dest]int, len(ds))
	for i, d := range ds {
		present[d] = i
	}
	for j := at - 1; j >= 0; j-- {
		if i, ok := present[old[j]]; ok {
			s.last, s.hint = old[j], i
			return
		}
	}
}

// Inspect returns the position: the dest picked last.
func (s *rr) Inspect() State {
	s.mu.Lock()
	defer s.mu.Unlock()
	return State{Name: "rr", HasLast: true, Last: s.last}
}
