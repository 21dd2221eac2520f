package conntrack

import (
	"encoding/binary"
	"math/bits"
	"slices"
	"sync"
	"sync/atomic"
)

// The index is one hash table for both directions, split into 256 shards
// by the top byte of the hash. A connection has two entries, one under its
// in-key and one under its out-key (a template only the first). The
// direction is the lowest bit of an entry's hash fragment and plays no part
// in choosing its group, so both entries of one key share a group: the
// LookupOut that follows a missed LookupIn of the same packet (what a
// worker does for every reply, and for the first packet of a connection)
// finds the group in cache.
//
// Each shard is an open-addressing table of 64-bit slots in groups of 8 (one
// cache line), probed group after group. A slot holds no pointer and no copy
// of the key: the connection's 32-bit id in the table's registry (see
// registry.go) and a 32-bit fragment of its hash. So
//   - a lookup compares fragments within a group and resolves only the
//     (almost always single) candidate through the registry, confirming it
//     against the Conn's own fields;
//   - a resize moves slots without reading a single Conn (the fragment
//     gives the new group), and the slot arrays hold no pointers, so the
//     garbage collector neither scans them nor pays write barriers on them.
//
// Slot values: 0 is empty; a value whose id half is 0 is deleted (ids start
// at idBlock); anything else is fragment<<32 | id.
//
// Readers take no lock. Writers (insert, delete, resize) hold the shard's
// mutex. That is safe because:
//   - slots of a published array are read and written atomically, whole;
//   - within one array an empty slot never reappears where a probe might
//     have to pass it (delete writes "empty" only in a group that already
//     has an empty slot, which no probe sequence crosses, and "deleted"
//     otherwise), so a reader never stops short of a key that was present
//     when it started;
//   - a resize builds a new array with plain stores and publishes it with
//     one atomic store; readers still on the old array see a valid, merely
//     older, table, and the garbage collector frees it when the last of
//     them is done (the role RCU plays in the kernel);
//   - a connection is marked dead (under the shard locks) before it leaves
//     the index, and lookups skip dead entries; an id met in an old array
//     may since have been given to another connection, whose key then does
//     not match (or does, and it is then the right answer), so a reader
//     never returns a removed connection.

const (
	nShards    = 256
	groupSlots = 8
	dirIn      = 0 // the lowest bit of an entry's fragment
	dirOut     = 1
	slotDel    = 1 << 32 // a deleted slot: id 0
	// A shard array grows (or is cleaned of deleted slots) when 7/8 of its
	// slots are used, and is rebuilt for a load of 7/10 (growth ×1.25): the
	// load stays between 0.7 and 0.875, so a connection's two entries cost
	// 18.3 to 22.9 bytes. A resize reads no Conn, so small steps cost
	// little.
	maxLoadNum = 7
	maxLoadDen = 8
	rebuildNum = 7
	rebuildDen = 10
)

// slotArray is one shard's table. Slots of a published array are accessed
// with sync/atomic; rebuild fills a new one with plain stores before
// publishing it (an atomic store on x86 is a locked exchange, which would
// wait for each missing cache line in turn).
type slotArray struct {
	ngroups uint64
	slots   []uint64
}

func newSlotArray(ngroups uint64) *slotArray {
	return &slotArray{ngroups: ngroups, slots: make([]uint64, ngroups*groupSlots)}
}

// fragOf is the part of a hash kept in a slot: the 31 bits below the shard
// byte, and the direction (dirIn, dirOut) as the lowest bit. The hash bits
// pick the group (multiply-shift, the high end of the fragment) and tell
// keys apart within a group (its low end).
func fragOf(h uint64, dir uint32) uint32 { return uint32(h>>24)&^1 | dir }

func slotOf(frag, id uint32) uint64 { return uint64(frag)<<32 | uint64(id) }

// group is the home group of a fragment, the same for both directions.
func (a *slotArray) group(frag uint32) uint64 { return uint64(frag&^1) * a.ngroups >> 32 }

func (a *slotArray) next(g uint64) uint64 {
	g++
	if g == a.ngroups {
		g = 0
	}
	return g
}

// grp returns the 8 slots of group g.
func (a *slotArray) grp(g uint64) *[groupSlots]uint64 {
	return (*[groupSlots]uint64)(a.slots[g*groupSlots : g*groupSlots+groupSlots])
}

// shard is one cache line. A connection's id comes from, and returns to,
// the shard of its in-entry: free holds the ids its removals released,
// [next, end) a block of fresh ones; both are guarded by mu like the array
// (New and kill hold it).
type shard struct {
	mu   sync.Mutex
	arr  atomic.Pointer[slotArray]
	live int // entries in the shard (under mu)
	used int // live + deleted slots (under mu)

	free      []uint32
	next, end uint32
}

type index struct {
	reg    *registry
	shards [nShards]shard
}

func (x *index) init(reg *registry) {
	x.reg = reg
	for i := range x.shards {
		x.shards[i].arr.Store(newSlotArray(1))
	}
}

func match(c *Conn, k *Key, dir uint32) bool {
	if dir == dirOut {
		return c.matchOut(k)
	}
	return c.matchIn(k)
}

func (x *index) shardOf(h uint64) *shard { return &x.shards[h>>56] }

// lock2 locks the shards of two hashes, in shard order (once if they are
// the same), and returns them.
func (x *index) lock2(h1, h2 uint64) (s1, s2 *shard) {
	i1, i2 := h1>>56, h2>>56
	s1, s2 = &x.shards[i1], &x.shards[i2]
	switch {
	case i1 == i2:
		s1.mu.Lock()
	case i1 < i2:
		s1.mu.Lock()
		s2.mu.Lock()
	default:
		s2.mu.Lock()
		s1.mu.Lock()
	}
	return s1, s2
}

func unlock2(s1, s2 *shard) {
	s1.mu.Unlock()
	if s2 != s1 {
		s2.mu.Unlock()
	}
}

// lookup finds the live connection with key k (hash h) in direction dir
// without locking.
func (x *index) lookup(k *Key, h uint64, dir uint32) *Conn {
	a := x.shardOf(h).arr.Load()
	frag := fragOf(h, dir)
	for g := a.group(frag); ; g = a.next(g) {
		grp := a.grp(g)
		empty := false
		for i := range grp {
			s := atomic.LoadUint64(&grp[i])
			if s == 0 {
				empty = true
				continue
			}
			if uint32(s>>32) != frag || uint32(s) == 0 {
				continue
			}
			if c := x.reg.get(uint32(s)); c != nil && match(c, k, dir) && c.word.Load()&wDead == 0 {
				return c
			}
		}
		if empty {
			return nil
		}
	}
}

// probe looks for the entry of k (hash h, direction dir) in s and, when
// there is none, returns the slot its entry would take: the first free
// (empty or deleted) slot of its probe sequence, as freeSlot picks it. It
// is has and freeSlot in one walk, for New. Caller holds s.mu and has made
// room with reserve, so that no rebuild moves the slot before place fills
// it.
func (x *index) probe(s *shard, k *Key, h uint64, dir uint32) (free *uint64, found bool) {
	a := s.arr.Load()
	frag := fragOf(h, dir)
	for g := a.group(frag); ; g = a.next(g) {
		grp := a.grp(g)
		empty := false
		for i := range grp {
			v := grp[i]
			switch {
			case v == 0:
				empty = true
				fallthrough
			case uint32(v) == 0: // empty or deleted
				if free == nil {
					free = &grp[i]
				}
				continue
			case uint32(v>>32) != frag:
				continue
			}
			if c := x.reg.get(uint32(v)); c != nil && match(c, k, dir) {
				return nil, true
			}
		}
		if empty {
			return free, false
		}
	}
}

// shadow adds the entry of connection id under key k (hash h, direction
// dir) in front of the entries k already has, so that lookups find the
// newest connection first and the older ones again once it is gone: the
// order of the kernel's hash chains, where a new connection goes to the
// head. It is for out-keys, which two connections can share (the same
// client port to the same real server through two virtual services). The
// entries of k between its first one and the first free slot after it
// move one place down the probe sequence, the last one first, so that a
// concurrent reader sees every entry at every moment (one, briefly,
// twice). Caller holds s.mu and has made room with reserve.
func (x *index) shadow(s *shard, k *Key, h uint64, id uint32, dir uint32) {
	a := s.arr.Load()
	frag := fragOf(h, dir)
	var buf [4]*uint64
	hits := buf[:0] // k's entries, in probe order
	for g := a.group(frag); ; g = a.next(g) {
		grp := a.grp(g)
		for i := range grp {
			v := grp[i]
			if v == 0 || uint32(v) == 0 { // empty or deleted: the entry goes here
				if v == 0 {
					s.used++
				}
				s.live++
				free := &grp[i]
				for j := len(hits) - 1; j >= 0; j-- {
					atomic.StoreUint64(free, *hits[j])
					free = hits[j]
				}
				atomic.StoreUint64(free, slotOf(frag, id))
				return
			}
			if uint32(v>>32) == frag {
				if c := x.reg.get(uint32(v)); c != nil && match(c, k, dir) {
					hits = append(hits, &grp[i])
				}
			}
		}
	}
}

// reserve rebuilds s if n more entries would load it past its limit.
// Caller holds s.mu.
func reserve(s *shard, n int) {
	if uint64(s.used+n)*maxLoadDen > uint64(len(s.arr.Load().slots))*maxLoadNum {
		rebuild(s, s.live+n)
	}
}

// place fills slot, which probe returned, with the entry of connection id
// for direction dir (hash h). Caller holds s.mu.
func place(s *shard, slot *uint64, id uint32, h uint64, dir uint32) {
	if *slot == 0 {
		s.used++
	}
	atomic.StoreUint64(slot, slotOf(fragOf(h, dir), id))
	s.live++
}

// insert adds the entry of connection id for direction dir (hash h, known
// absent). Caller holds s.mu.
func insert(s *shard, id uint32, h uint64, dir uint32) {
	a := s.arr.Load()
	if uint64(s.used+1)*maxLoadDen > uint64(len(a.slots))*maxLoadNum {
		a = rebuild(s, s.live+1)
	}
	v := slotOf(fragOf(h, dir), id)
	atomic.StoreUint64(freeSlot(a, v, &s.used), v)
	s.live++
}

// freeSlot returns the first free (empty or deleted) slot of v's probe
// sequence, counting a newly used empty slot in *used. Only writers call
// it, so it reads plainly.
func freeSlot(a *slotArray, v uint64, used *int) *uint64 {
	for g := a.group(uint32(v >> 32)); ; g = a.next(g) {
		grp := a.grp(g)
		for i := range grp {
			switch s := grp[i]; {
			case s == 0:
				*used++
				return &grp[i]
			case uint32(s) == 0:
				return &grp[i]
			}
		}
	}
}

// remove takes the entry of connection id for direction dir (hash h) out
// of the shard. Caller holds s.mu.
func remove(s *shard, id uint32, h uint64, dir uint32) bool {
	a := s.arr.Load()
	frag := fragOf(h, dir)
	v := slotOf(frag, id)
	for g := a.group(frag); ; g = a.next(g) {
		grp := a.grp(g)
		hit, empty := -1, false
		for i := range grp {
			switch grp[i] {
			case v:
				hit = i
			case 0:
				empty = true
			}
		}
		if hit >= 0 {
			if empty {
				atomic.StoreUint64(&grp[hit], 0)
				s.used--
			} else {
				atomic.StoreUint64(&grp[hit], slotDel)
			}
			s.live--
			// Shrink a table that has become mostly empty (load < 7/64).
			if a.ngroups > 1 && uint64(s.live)*maxLoadDen*maxLoadDen < uint64(len(a.slots))*maxLoadNum {
				rebuild(s, s.live)
			}
			return true
		}
		if empty {
			return false
		}
	}
}

// rebuild moves the shard's live entries into a new array sized for n
// entries at a load of 7/10 and publishes it. Caller holds s.mu. No Conn
// is read: each slot carries the hash bits that place it.
func rebuild(s *shard, n int) *slotArray {
	ng := (uint64(n)*rebuildDen + groupSlots*rebuildNum - 1) / (groupSlots * rebuildNum)
	if ng == 0 {
		ng = 1
	}
	old := s.arr.Load()
	a := newSlotArray(ng)
	used := 0
	// The old array is read in probe order, from the group after one
	// with an empty slot (no probe sequence crosses it; the load limit
	// leaves one), so that entries sharing a key (see shadow) keep their
	// order in the new array.
	start := uint64(0)
	for g := range old.ngroups {
		if slices.Contains(old.grp(g)[:], 0) {
			start = old.next(g)
			break
		}
	}
	for n, g := uint64(0), start; n < old.ngroups; n, g = n+1, old.next(g) {
		for _, v := range old.grp(g) {
			if uint32(v) != 0 {
				*freeSlot(a, v, &used) = v
			}
		}
	}
	s.used = used
	s.arr.Store(a)
	return a
}

// hashKey is a seeded 64-bit hash of a key: the 38 bytes read as five words
// folded with 64×64→128-bit multiplications (the wyhash construction). The
// seed is random per Table, so a client cannot aim packets at one chain.
func hashKey(k *Key, s *[4]uint64) uint64 {
	le := binary.LittleEndian
	s0 := le.Uint64(k.Src[0:8])
	s1 := le.Uint64(k.Src[8:16])
	d0 := le.Uint64(k.Dst[0:8])
	d1 := le.Uint64(k.Dst[8:16])
	var v6, tpl uint64
	if k.IPv6 {
		v6 = 1
	}
	if k.Template {
		tpl = 1
	}
	t := uint64(k.SPort) | uint64(k.DPort)<<16 | uint64(k.Proto)<<32 | v6<<40 | tpl<<41
	h := mum(s0^s[0], s1^s[1])
	h = mum(h^d0^s[2], d1^s[3])
	return mum(h^t^s[1], 0x9e3779b97f4a7c15^s[2])
}

func mum(a, b uint64) uint64 {
	hi, lo := bits.Mul64(a, b)
	return hi ^ lo
}
