package sched

import (
	"sync/atomic"

	"github.com/gdirector/gdirector/vs"
)

// dh is destination hashing (ip_vs_dh.c). Update fills a 256-bucket table
// with the dests in list order, one bucket each, round and round
// (bucket i holds dest i mod n); weights play no part in the table, as in
// ip_vs_dh_reassign.
//
// Schedule hashes the packet's destination address (folded to 32 bits,
// see foldKey): bucket = hash_32(addr, 8). The dest there is used unless
// it has left the service, is quiesced (weight ≤ 0) or is overloaded;
// then the answer is nil (dh has no fallback).
//
// The table is built in Update and published through an atomic pointer,
// so Schedule takes no lock.
type dh struct {
	tab atomic.Pointer[bucketTable]
}

func newDH() vs.Scheduler { return &dh{} }

func (s *dh) Name() string { return "dh" }

// Update rebuilds the bucket table from the service's dest list.
func (s *dh) Update(svc *vs.Service) {
	ds := svc.Dests
	t := new(bucketTable)
	if len(ds) > 0 {
		for i := range t {
			t[i] = ds[i%len(ds)]
		}
	}
	s.tab.Store(t)
}

// Schedule returns the dest of the destination address's bucket, or nil.
func (s *dh) Schedule(_ *vs.Service, f *vs.Flow) *vs.Dest {
	t := s.tab.Load()
	if t == nil {
		return nil
	}
	d := t[hash32(foldKey(&f.Dst, f.IPv6), hashTabBits)]
	if d == nil || !d.Available() || d.Weight.Load() <= 0 || d.Overloaded() {
		return nil
	}
	return d
}

// Inspect returns a copy of the bucket table.
func (s *dh) Inspect() State {
	return State{Name: "dh", Table: tableCopy(s.tab.Load())}
}
