package sched

import "github.com/gdirector/gdirector/vs"

// sed is shortest expected delay (ip_vs_sed.c): wlc's scan and tie rules
// (see wlc) with the expected delay (active + 1)/weight as the load,
// counting the connection about to be placed; inactive connections do not
// count.
//
// sed keeps no state: Update does nothing and Schedule takes no lock.
type sed struct{}

func newSED() vs.Scheduler { return sed{} }

func (sed) Name() string { return "sed" }

// Update does nothing: sed reads the list and the counters at each pick.
func (sed) Update(*vs.Service) {}

// Schedule returns the dest with the shortest expected delay, or nil.
func (sed) Schedule(svc *vs.Service, _ *vs.Flow) *vs.Dest {
	return leastWeighted(svc.Dests, true)
}
