package sched

import "github.com/gdirector/gdirector/vs"

// wlc is weighted least connection (ip_vs_wlc.c): the dest with the
// smallest overhead/weight ratio wins, the overhead being 256 × active +
// inactive connections. Ratios are compared without division, as the
// kernel does: dest d beats the current best b when
// overhead(b) × weight(d) > overhead(d) × weight(b), in 64-bit arithmetic.
//
// The scan starts at the first dest, in list order, that is neither
// overloaded nor of weight ≤ 0; later dests are only skipped when
// overloaded (a later dest of weight 0 can never win the comparison). Only
// a strictly smaller ratio displaces the best so far, so on a tie the dest
// met first wins.
//
// wlc keeps no state: Update does nothing and Schedule takes no lock.
type wlc struct{}

func newWLC() vs.Scheduler { return wlc{} }

func (wlc) Name() string { return "wlc" }

// Update does nothing: wlc reads the list and the counters at each pick.
func (wlc) Update(*vs.Service) {}

// Schedule returns the dest with the least weighted load, or nil.
func (wlc) Schedule(svc *vs.Service, _ *vs.Flow) *vs.Dest {
	return leastWeighted(svc.Dests, false)
}

// leastWeighted is the scan shared by wlc, sed and the fallback pick of
// lblc and lblcr (__ip_vs_lblc_schedule, __ip_vs_lblcr_schedule), which is
// wlc's: the first usable dest starts as the best, then every later dest
// that is not overloaded is compared by cross-multiplication.
//
// With sedCost the load is sed's (active + 1) instead of connOverhead.
func leastWeighted(ds []*vs.Dest, sedCost bool) *vs.Dest {
	i := 0
	for ; i < len(ds); i++ {
		if !ds[i].Overloaded() && ds[i].Weight.Load() > 0 {
			break
		}
	}
	if i == len(ds) {
		return nil
	}
	least := ds[i]
	loh := int64(cost(least, sedCost))
	for _, d := range ds[i+1:] {
		if d.Overloaded() {
			continue
		}
		doh := int64(cost(d, sedCost))
		if loh*int64(d.Weight.Load()) > doh*int64(least.Weight.Load()) {
			least, loh = d, doh
		}
	}
	return least
}

// cost is the load numerator of wlc (sedCost false) or sed (true).
func cost(d *vs.Dest, sedCost bool) int32 {
	if sedCost {
		return d.ActiveConns.Load() + 1
	}
	return connOverhead(d)
}
