package sched

import "github.com/gdirector/gdirector/vs"

// lc is least connection (ip_vs_lc.c): the dest with the smallest
// connection overhead, 256 × active + inactive connections, wins. Weights
// only matter in that a dest of weight 0 (quiesced) is never picked; an
// overloaded dest is skipped too. On a tie the dest met first in the list
// wins. The comparison is the kernel's, on the overhead taken as an
// unsigned 32-bit number.
//
// lc keeps no state: Update does nothing and Schedule takes no lock.
type lc struct{}

func newLC() vs.Scheduler { return lc{} }

func (lc) Name() string { return "lc" }

// Update does nothing: lc reads the list and the counters at each pick.
func (lc) Update(*vs.Service) {}

// Schedule returns the least loaded usable dest, or nil.
func (lc) Schedule(svc *vs.Service, _ *vs.Flow) *vs.Dest {
	var least *vs.Dest
	var loh uint32
	for _, d := range svc.Dests {
		if d.Overloaded() || d.Weight.Load() == 0 {
			continue
		}
		doh := uint32(connOverhead(d))
		if least == nil || doh < loh {
			least, loh = d, doh
		}
	}
	return least
}
