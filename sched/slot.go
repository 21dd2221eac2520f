package sched

import "github.com/gdirector/gdirector/vs"

// Slotter is implemented by the schedulers whose pick starts with a table
// lookup by hash: sh and dh (256 buckets) and mh (4093 slots). Slot tells
// where a flow lands, for teaching and debugging: the index of the entry
// Schedule looks at first, with the same hash of the same flow fields, and
// the dest the table holds there (nil for an empty entry). The index is
// also the index into the Table of Inspect's State.
//
// Schedule takes that dest when it is available; otherwise it answers nil
// or, with the fallback flag (vs.SvcSchedFlag1, sh and mh only), probes
// further entries, so the dest Slot names is not always the one picked.
// Slot changes nothing, takes no lock and allocates nothing; ok is false
// when there is no table yet (before the first Update).
type Slotter interface {
	Slot(svc *vs.Service, f *vs.Flow) (slot int, d *vs.Dest, ok bool)
}

// hashInput is the client part of sh's and mh's hash: the folded source
// address and, with the -port flag, the source port.
func hashInput(svc *vs.Service, f *vs.Flow) (addr, port uint32) {
	addr = foldKey(&f.Src, f.IPv6)
	if svc.Flags&vs.SvcSchedFlag2 != 0 {
		port = flowPort(f)
	}
	return addr, port
}

// Slot returns the bucket of the client's address (and port with
// sh-port), as Schedule computes it.
func (s *sh) Slot(svc *vs.Service, f *vs.Flow) (int, *vs.Dest, bool) {
	t := s.tab.Load()
	if t == nil {
		return 0, nil, false
	}
	addr, port := hashInput(svc, f)
	h := shBucket(addr, port, 0)
	return int(h), t[h], true
}

// Slot returns the bucket of the packet's destination address, as
// Schedule computes it.
func (s *dh) Slot(_ *vs.Service, f *vs.Flow) (int, *vs.Dest, bool) {
	t := s.tab.Load()
	if t == nil {
		return 0, nil, false
	}
	h := hash32(foldKey(&f.Dst, f.IPv6), hashTabBits)
	return int(h), t[h], true
}

// Slot returns the lookup-table slot of the client's address (and port
// with mh-port), as Schedule computes it.
func (s *mh) Slot(svc *vs.Service, f *vs.Flow) (int, *vs.Dest, bool) {
	t := s.tab.Load()
	if t == nil {
		return 0, nil, false
	}
	addr, port := hashInput(svc, f)
	h := mhSlot(addr, port, 0)
	return int(h), t.look[h], true
}
