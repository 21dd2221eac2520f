package sched

import (
	"sync"

	"github.com/gdirector/gdirector/vs"
)

// lblcr is locality-based least connection with replication
// (ip_vs_lblcr.c): like lblc, but the packets' destination address maps to
// a set of dests that grows when its members are busy and shrinks when it
// has been stable for long.
//
// For an address in the cache (its last use refreshed), the candidate is
// the set's least loaded member by wlc's measure among those that are
// still in the service, have weight > 0 and are not overloaded (flag),
// scanning the set from its most recently added member, the first winning
// ties. Then, if the set has more than one member and has not changed for
// longer than the expiration time (the lblcr_expiration sysctl, 24 h by
// default), its most loaded member of weight > 0 is dropped (the dropped
// one may be the candidate, which is still used). The candidate is used
// unless there is none or it is overloaded in the lblc sense (see lblc);
// then wlc's pick over the whole service is used and added to the set if
// not in it. An address not in the cache gets wlc's pick and a new entry
// with a set of one. Each change of a set restarts its modification time.
//
// Entries expire as described at locTable. Schedule holds the scheduler's
// mutex throughout; it allocates nothing for an address already in the
// cache unless its set grows past the room it had.
type lblcr struct {
	mu sync.Mutex
	t  locTable
}

func newLBLCR() vs.Scheduler {
	s := &lblcr{}
	s.t.init()
	return s
}

func (s *lblcr) Name() string { return "lblcr" }

// Update starts the expiry clock on first use; lblcr has no other use for
// the dest list.
func (s *lblcr) Update(*vs.Service) {
	s.mu.Lock()
	s.t.begin()
	s.mu.Unlock()
}

// Schedule returns a member of the address's dest set, or a new wlc pick,
// or nil.
func (s *lblcr) Schedule(svc *vs.Service, f *vs.Flow) *vs.Dest {
	s.mu.Lock()
	now := s.t.begin()
	b := bucketOf(&f.Dst, f.IPv6)
	e := s.t.lookup(b, &f.Dst)
	if e == nil {
		d := leastWeighted(svc.Dests, false)
		if d != nil {
			e = s.t.alloc()
			e.addr = f.Dst
			e.dests = append(e.dests, d)
			e.lastuse, e.lastmod = now, now
			s.t.link(b, e)
			s.t.entries++
		}
		s.mu.Unlock()
		return d
	}
	e.lastuse = now
	d := setMin(e.dests)
	if len(e.dests) > 1 && now-e.lastmod > s.t.expire {
		if m := setMax(e.dests); m != nil {
			e.dests = setErase(e.dests, m)
			e.lastmod = now
		}
	}
	if d == nil || lblcOverloaded(d, svc.Dests) {
		d = leastWeighted(svc.Dests, false)
		if d != nil && !setHas(e.dests, d) {
			e.dests = append(e.dests, d)
			e.lastmod = now
		}
	}
	s.mu.Unlock()
	return d
}

// The set is kept oldest first, so the kernel's walk of its list (newest
// first, as list_add_rcu inserts at the head) is a walk from the end.

// setMin is ip_vs_dest_set_min.
func setMin(set []*vs.Dest) *vs.Dest {
	i := len(set) - 1
	for ; i >= 0; i-- {
		d := set[i]
		if !d.Overloaded() && d.Weight.Load() > 0 && d.Available() {
			break
		}
	}
	if i < 0 {
		return nil
	}
	least := set[i]
	loh := int64(connOverhead(least))
	for i--; i >= 0; i-- {
		d := set[i]
		if d.Overloaded() {
			continue
		}
		doh := int64(connOverhead(d))
		if loh*int64(d.Weight.Load()) > doh*int64(least.Weight.Load()) && d.Available() {
			least, loh = d, doh
		}
	}
	return least
}

// setMax is ip_vs_dest_set_max: the most loaded member of weight > 0,
// whether or not it is usable.
func setMax(set []*vs.Dest) *vs.Dest {
	i := len(set) - 1
	for ; i >= 0; i-- {
		if set[i].Weight.Load() > 0 {
			break
		}
	}
	if i < 0 {
		return nil
	}
	most := set[i]
	moh := int64(connOverhead(most))
	for i--; i >= 0; i-- {
		d := set[i]
		doh := int64(connOverhead(d))
		if w := d.Weight.Load(); moh*int64(w) < doh*int64(most.Weight.Load()) && w > 0 {
			most, moh = d, doh
		}
	}
	return most
}

// setErase removes d from the set, keeping the order of the others.
func setErase(set []*vs.Dest, d *vs.Dest) []*vs.Dest {
	for i, x := range set {
		if x == d {
			copy(set[i:], set[i+1:])
			set[len(set)-1] = nil
			return set[:len(set)-1]
		}
	}
	return set
}

func setHas(set []*vs.Dest, d *vs.Dest) bool {
	for _, x := range set {
		if x == d {
			return true
		}
	}
	return false
}

// Inspect returns the cache with its sets and the expiry state, after the
// periodic runs due.
func (s *lblcr) Inspect() State {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.t.begin()
	return s.t.inspect("lblcr", now)
}
