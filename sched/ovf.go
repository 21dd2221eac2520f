package sched

import "github.com/gdirector/gdirector/vs"

// ovf is overflow connection (ip_vs_ovf.c): like fo it sends new
// connections to the dest of the highest weight, first in list order on a
// tie, but it passes over a dest whose active connections exceed its
// weight, so that connections overflow to the next heaviest dest. A dest
// with exactly as many active connections as its weight is still taken.
// Overloaded dests and dests of weight 0 are skipped.
//
// ovf keeps no state: Update does nothing and Schedule takes no lock.
type ovf struct{}

func newOVF() vs.Scheduler { return ovf{} }

func (ovf) Name() string { return "ovf" }

// Update does nothing: ovf reads the list and the counters at each pick.
func (ovf) Update(*vs.Service) {}

// Schedule returns the heaviest dest that still has room, or nil.
func (ovf) Schedule(svc *vs.Service, _ *vs.Flow) *vs.Dest {
	var best *vs.Dest
	var hw int32
	for _, d := range svc.Dests {
		w := d.Weight.Load()
		if d.Overloaded() || d.ActiveConns.Load() > w || w == 0 {
			continue
		}
		if best == nil || w > hw {
			best, hw = d, w
		}
	}
	return best
}
