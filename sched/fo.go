package sched

import "github.com/gdirector/gdirector/vs"

// fo is weighted failover (ip_vs_fo.c): every new connection goes to the
// dest of the highest weight that is not overloaded; a dest of weight 0
// is never picked, and on a tie the dest met first in the list wins.
//
// fo keeps no state: Update does nothing and Schedule takes no lock.
type fo struct{}

func newFO() vs.Scheduler { return fo{} }

func (fo) Name() string { return "fo" }

// Update does nothing: fo reads the list and the weights at each pick.
func (fo) Update(*vs.Service) {}

// Schedule returns the heaviest usable dest, or nil.
func (fo) Schedule(svc *vs.Service, _ *vs.Flow) *vs.Dest {
	var best *vs.Dest
	var hw int32
	for _, d := range svc.Dests {
		if w := d.Weight.Load(); !d.Overloaded() && w > hw {
			best, hw = d, w
		}
	}
	return best
}
