package sched

import (
	"sync/atomic"

	"github.com/gdirector/gdirector/vs"
)

// Bucket table of sh and dh (IP_VS_SH_TAB_BITS, IP_VS_DH_TAB_BITS).
const (
	hashTabBits = 8
	hashTabSize = 1 << hashTabBits
	hashTabMask = hashTabSize - 1
)

// bucketTable maps a hash value to a dest; nil buckets are empty.
type bucketTable [hashTabSize]*vs.Dest

// sh is source hashing (ip_vs_sh.c). Update fills a 256-bucket table from
// the dest list, as ip_vs_sh_reassign does: walking the list circularly
// from the head, each dest takes as many consecutive buckets as its weight
// (a dest of weight 0 still takes one), so with weights 3, 1, 2 the table
// reads A A A B C C A A A B C C … up to bucket 255. Quiesced and overloaded
// dests keep their buckets.
//
// Schedule hashes the client's address (folded to 32 bits, see foldKey)
// plus, with the sh-port flag (vs.SvcSchedFlag2), the client's port:
// bucket = hash_32(port + addr, 8). The dest there is used unless it is
// unavailable (weight ≤ 0 or overloaded), in which case the answer is nil;
// with the sh-fallback flag (vs.SvcSchedFlag1) the kernel instead probes
// bucket (offset + hash) mod 256 for offset = (k + hash) mod 256,
// k = 0, 1, …, 255, that is bucket (2·hash + k) mod 256, and takes the
// first available dest (the kernel's order, which starts at twice the hash
// rather than next to it).
//
// The table is built in Update and published through an atomic pointer,
// so Schedule takes no lock.
type sh struct {
	tab atomic.Pointer[bucketTable]
}

func newSH() vs.Scheduler { return &sh{} }

func (s *sh) Name() string { return "sh" }

// Update rebuilds the bucket table from the service's dests and weights.
func (s *sh) Update(svc *vs.Service) {
	s.tab.Store(shBuild(svc.Dests))
}

// shBuild fills the table as ip_vs_sh_reassign: a dest moves on to the
// next only once it has filled as many buckets as its weight.
func shBuild(ds []*vs.Dest) *bucketTable {
	t := new(bucketTable)
	if len(ds) == 0 {
		return t
	}
	p, count := 0, int32(0)
	for i := range t {
		d := ds[p]
		t[i] = d
		count++
		if count >= d.Weight.Load() {
			p++
			if p == len(ds) {
				p = 0
			}
			count = 0
		}
	}
	return t
}

// hashUnavailable is the is_unavailable test of sh and mh.
func hashUnavailable(d *vs.Dest) bool {
	return d.Weight.Load() <= 0 || d.Overloaded()
}

// shBucket is ip_vs_sh_hashkey.
func shBucket(addr, port, offset uint32) uint32 {
	return (offset + hash32(port+addr, hashTabBits)) & hashTabMask
}

// Schedule returns the dest of the client's bucket, or nil.
func (s *sh) Schedule(svc *vs.Service, f *vs.Flow) *vs.Dest {
	t := s.tab.Load()
	if t == nil {
		return nil
	}
	addr := foldKey(&f.Src, f.IPv6)
	var port uint32
	if svc.Flags&vs.SvcSchedFlag2 != 0 {
		port = flowPort(f)
	}
	h := shBucket(addr, port, 0)
	d := t[h]
	if d == nil {
		return nil
	}
	if !hashUnavailable(d) {
		return d
	}
	if svc.Flags&vs.SvcSchedFlag1 == 0 {
		return nil
	}
	for off := uint32(0); off < hashTabSize; off++ {
		d = t[shBucket(addr, port, (off+h)%hashTabSize)]
		if d == nil {
			return nil
		}
		if !hashUnavailable(d) {
			return d
		}
	}
	return nil
}

// Inspect returns a copy of the bucket table.
func (s *sh) Inspect() State {
	return State{Name: "sh", Table: tableCopy(s.tab.Load())}
}

// tableCopy copies a bucket table into a slice (all nil for none).
func tableCopy(t *bucketTable) []*vs.Dest {
	out := make([]*vs.Dest, hashTabSize)
	if t != nil {
		copy(out, t[:])
	}
	return out
}
