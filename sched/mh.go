package sched

import (
	"math/bits"
	"sync"
	"sync/atomic"

	"github.com/gdirector/gdirector/vs"
)

// Maglev lookup table of mh: the kernel's default size is primes[4] of its
// prime list, 4093 (CONFIG_IP_VS_MH_TAB_INDEX 12, minus 8), and weights
// are scaled down to at most IP_VS_MH_TAB_BITS = 12/2 = 6 bits.
const (
	mhTabSize = 4093
	mhTabBits = 6
)

// The fixed hsiphash keys of ip_vs_mh (generate_hash_secret): both words
// of the first key are 2654435761, both words of the second 2654446892.
const (
	mhKey1 = 2654435761
	mhKey2 = 2654446892
)

// mhTable is a published lookup table with the weight scaling it was built
// with.
type mhTable struct {
	look   [mhTabSize]*vs.Dest
	gcd    int32
	rshift int32
}

// mh is Maglev hashing (ip_vs_mh.c), the consistent hash of Google's
// Maglev paper as the kernel implements it.
//
// Each dest gets a preference order of the table's slots from two hashes
// of its address folded to 32 bits plus its port (see foldDest):
// offset = h1 mod 4093 and skip = h2 mod 4092 + 1, where h1 and h2 are
// hsiphash (see hsiphash32) with the fixed keys above. Update fills the
// table in rounds: in each round every dest, in list order, claims its
// next free preferred slot "turns" times, until all 4093 slots are taken.
// A dest's turns are its weight divided by the gcd of the weights and
// shifted right by rshift = max(0, bits(max weight/gcd) - 6), at least 1
// for a non-zero weight, 0 for weight 0.
//
// The weight used is the kernel's last_weight: a dest's latest non-zero
// weight (its weight when it was added, even 0). Quiescing a dest
// (weight 0) thus leaves the table as it was, and its flows get nil (or a
// fallback) instead of moving. mh tracks last_weight itself from the
// weights Update sees: the control plane calls Update after every add,
// edit and removal, as the kernel calls add_dest, upd_dest and del_dest.
// A list longer than the table is refused, as the kernel does (-EINVAL):
// the previous table stays.
//
// Schedule hashes the client's address (plus, with the mh-port flag
// vs.SvcSchedFlag2, the client's port) with the first key: slot = h1 mod
// 4093. The dest there is used unless it is unavailable (weight ≤ 0 or
// overloaded); then the answer is nil, or, with the mh-fallback flag
// vs.SvcSchedFlag1, the first available dest at slots hash(offset + port +
// addr) mod 4093 for offset = (k + slot) mod 4093, k = 0 … 4092.
//
// The table is built in Update and published through an atomic pointer,
// so Schedule takes no lock.
type mh struct {
	tab atomic.Pointer[mhTable]

	mu   sync.Mutex         // serializes Update
	last map[*vs.Dest]int32 // last_weight of the dests of the last Update
}

func newMH() vs.Scheduler { return &mh{} }

func (s *mh) Name() string { return "mh" }

// mhDestSetup is a dest's place in the permutation (ip_vs_mh_dest_setup).
type mhDestSetup struct {
	perm  uint32 // next preferred slot
	skip  uint32
	turns int32
}

// Update records the dests' last weights and rebuilds the lookup table.
func (s *mh) Update(svc *vs.Service) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ds := svc.Dests
	last := make(map[*vs.Dest]int32, len(ds))
	for _, d := range ds {
		w := d.Weight.Load()
		if prev, ok := s.last[d]; ok && w == 0 {
			w = prev // quiesced: keep the last non-zero weight
		}
		last[d] = w
	}
	s.last = last
	if len(ds) > mhTabSize {
		return
	}
	s.tab.Store(mhBuild(ds, last, svc.IPv6))
}

// mhBuild computes the scaling, the permutations and the table.
func mhBuild(ds []*vs.Dest, last map[*vs.Dest]int32, svc6 bool) *mhTable {
	t := new(mhTable)
	var g, maxw int32
	for _, d := range ds {
		w := last[d]
		if w > 0 {
			if g > 0 {
				g = gcd(w, g)
			} else {
				g = w
			}
		}
		maxw = max(maxw, w)
	}
	if g < 1 {
		return t // no weight at all: an empty table
	}
	t.gcd = g
	t.rshift = max(0, int32(bits.Len32(uint32(maxw/g)))-mhTabBits)

	setup := make([]mhDestSetup, len(ds))
	for i, d := range ds {
		key := foldDest(d, svc6) + uint32(d.Port)
		setup[i].perm = hsiphash32(key, mhKey1, mhKey1) % mhTabSize
		setup[i].skip = hsiphash32(key, mhKey2, mhKey2)%(mhTabSize-1) + 1
		lw := last[d]
		setup[i].turns = (lw / g) >> t.rshift
		if setup[i].turns == 0 && lw != 0 {
			setup[i].turns = 1
		}
	}

	var taken [mhTabSize]bool
	n, count := 0, int32(0)
	for {
		for i := 0; i < len(ds); {
			ds1 := &setup[i]
			if ds1.turns < 1 {
				i++
				continue
			}
			c := ds1.perm
			for taken[c] {
				ds1.perm += ds1.skip
				if ds1.perm >= mhTabSize {
					ds1.perm -= mhTabSize
				}
				c = ds1.perm
			}
			taken[c] = true
			t.look[c] = ds[i]
			if n++; n == mhTabSize {
				return t
			}
			if count++; count >= ds1.turns {
				count = 0
				i++
			}
		}
	}
}

// mhSlot is ip_vs_mh_hashkey reduced to a slot.
func mhSlot(addr, port, offset uint32) uint32 {
	return hsiphash32(offset+port+addr, mhKey1, mhKey1) % mhTabSize
}

// Schedule returns the dest of the client's slot, or nil.
func (s *mh) Schedule(svc *vs.Service, f *vs.Flow) *vs.Dest {
	t := s.tab.Load()
	if t == nil {
		return nil
	}
	addr := foldKey(&f.Src, f.IPv6)
	var port uint32
	if svc.Flags&vs.SvcSchedFlag2 != 0 {
		port = flowPort(f)
	}
	h := mhSlot(addr, port, 0)
	d := t.look[h]
	if d == nil {
		return nil
	}
	if !hashUnavailable(d) {
		return d
	}
	if svc.Flags&vs.SvcSchedFlag1 == 0 {
		return nil
	}
	for off := uint32(0); off < mhTabSize; off++ {
		d = t.look[mhSlot(addr, port, (off+h)%mhTabSize)]
		if d == nil {
			return nil
		}
		if !hashUnavailable(d) {
			return d
		}
	}
	return nil
}

// Inspect returns a copy of the lookup table with its gcd and rshift.
func (s *mh) Inspect() State {
	st := State{Name: "mh", Table: make([]*vs.Dest, mhTabSize)}
	if t := s.tab.Load(); t != nil {
		copy(st.Table, t.look[:])
		st.Vars = []Var{{"gcd", int64(t.gcd)}, {"rshift", int64(t.rshift)}}
	} else {
		st.Vars = []Var{{"gcd", 0}, {"rshift", 0}}
	}
	return st
}
