package sched

import "github.com/gdirector/gdirector/vs"

// nq is never queue (ip_vs_nq.c): the first dest in list order with no
// active connection (inactive ones do not count) is taken at once;
// when every dest is busy, the pick is sed's, the smallest
// (active + 1)/weight by cross-multiplication, first dest winning ties.
// Overloaded dests and dests of weight 0 are skipped.
//
// nq keeps no state: Update does nothing and Schedule takes no lock.
type nq struct{}

func newNQ() vs.Scheduler { return nq{} }

func (nq) Name() string { return "nq" }

// Update does nothing: nq reads the list and the counters at each pick.
func (nq) Update(*vs.Service) {}

// Schedule returns an idle dest if there is one, else the dest with the
// shortest expected delay, or nil.
func (nq) Schedule(svc *vs.Service, _ *vs.Flow) *vs.Dest {
	var least *vs.Dest
	var loh int64
	for _, d := range svc.Dests {
		w := d.Weight.Load()
		if d.Overloaded() || w == 0 {
			continue
		}
		active := d.ActiveConns.Load()
		if active == 0 {
			return d
		}
		doh := int64(active + 1)
		if least == nil || loh*int64(w) > doh*int64(least.Weight.Load()) {
			least, loh = d, doh
		}
	}
	return least
}
