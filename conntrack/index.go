package conntrack

import (
	"encoding/binary"
	"math/bits"
	"sync"
	"sync/atomic"
	"unsafe"
)

// The index is one hash table for both directions, split into 256 shards
// by the top byte of the hash. A connection has two entries, one under its
// in-key and one under its out-key (a template only the first). Both
// entries of one key land in the same group, so the LookupOut that follows
// a missed LookupIn of the same packet (what a worker does for every reply,
// and for the first packet of a connection) finds the group in cache.
//
// Each shard is an open-addressing table in the style of a Swiss table:
// groups of 8 slots probed one after the other, each group holding
//   - a control word: one byte per slot, a 7-bit tag of the hash (or empty,
//     or deleted), so that one load tells which slots may match;
//   - the slots' 16-bit hash fragments: the bits that chose the group, with
//     the entry's direction as the lowest bit; a resize places entries by
//     their fragment and never reads a Conn;
//   - the slots' *Conn.
//
// That is 11 bytes a slot (88 a group) and no copy of the key: a candidate
// is confirmed against the Conn's own fields.
//
// Readers take no lock. Writers (insert, delete, resize) hold the shard's
// mutex. That is safe because:
//   - control words, fragment words and slot pointers are read and written
//     atomically in a published array;
//   - within one array an empty control byte never reappears where a probe
//     might have to pass it (delete writes "empty" only in a group that
//     already has an empty byte, which no probe sequence crosses, and
//     "deleted" otherwise), so a reader never stops short of a key that was
//     present when it started;
//   - a resize builds a new array with plain stores and publishes it with
//     one atomic store; readers still on the old array see a valid, merely
//     older, table, and the garbage collector frees it when the last of
//     them is done (the role RCU plays in the kernel);
//   - a connection is marked dead (under the shard locks) before it leaves
//     the index, and lookups skip dead entries, so a reader on an old array
//     never returns a removed connection.

const (
	nShards    = 256
	groupSlots = 8
	ctrlEmpty  = 0x80
	ctrlDel    = 0xfe
	bytesLSB   = 0x0101010101010101
	bytesMSB   = 0x8080808080808080
	allEmpty   = bytesLSB * ctrlEmpty
	dirIn      = 0 // the lowest bit of a fragment
	dirOut     = 1
	// A shard array grows (or is cleaned of deleted slots) when 7/8 of its
	// slots are used, and is rebuilt for a load of 7/10 (growth ×1.25), so
	// the load stays between 0.7 and 0.875 and a connection's two entries
	// cost 25 to 31 bytes. Resizes read no Conn, so small steps are cheap.
	maxLoadNum = 7
	maxLoadDen = 8
	rebuildNum = 7
	rebuildDen = 10
)

type group struct {
	ctrl  uint64                     // atomic in a published array
	frags [2]uint64                  // 4 fragments a word; atomic in a published array
	slots [groupSlots]unsafe.Pointer // *Conn; atomic in a published array
}

type slotArray struct {
	ngroups uint64
	groups  []group
}

func newSlotArray(ngroups uint64) *slotArray {
	a := &slotArray{ngroups: ngroups, groups: make([]group, ngroups)}
	for i := range a.groups {
		a.groups[i].ctrl = allEmpty
	}
	return a
}

// fragOf is the part of a hash kept with an entry: the 15 bits below the
// shard byte, and the direction as the lowest bit.
func fragOf(h uint64, dir uint64) uint64 { return h>>40&0xfffe | dir }

// tagOf is the control byte of an entry: 7 low bits of the hash, different
// for the two directions so that a key's in-entry is no candidate for its
// out-lookup.
func tagOf(h uint64, dir uint64) uint64 { return (h ^ dir*0x55) & 0x7f }

// home is the first group probed for a fragment (the same for both
// directions): a multiply-shift range reduction of its 15 hash bits.
func (a *slotArray) home(frag uint64) uint64 { return frag >> 1 * a.ngroups >> 15 }

func (a *slotArray) next(g uint64) uint64 {
	g++
	if g == a.ngroups {
		g = 0
	}
	return g
}

// matchTag returns a mask with the top bit set in every byte equal to tag,
// and possibly in a few others (callers confirm each candidate).
func matchTag(ctrl, tag uint64) uint64 {
	x := ctrl ^ (bytesLSB * tag)
	return (x - bytesLSB) &^ x & bytesMSB
}

// matchEmpty marks the empty bytes (0x80; deleted is 0xfe, full < 0x80).
func matchEmpty(ctrl uint64) uint64 { return ctrl &^ (ctrl << 6) & bytesMSB }

// matchFree marks empty or deleted bytes.
func matchFree(ctrl uint64) uint64 { return ctrl & bytesMSB }

func byteIndex(m uint64) uint64 { return uint64(bits.TrailingZeros64(m) >> 3) }

func (g *group) loadCtrl() uint64 { return atomic.LoadUint64(&g.ctrl) }

func (g *group) load(i uint64) *Conn { return (*Conn)(atomic.LoadPointer(&g.slots[i])) }

// frag returns slot i's fragment (reads atomically: Expire and Range call
// it without the lock).
func (g *group) frag(i uint64) uint64 {
	return atomic.LoadUint64(&g.frags[i>>2]) >> (i & 3 * 16) & 0xffff
}

// shard is one cache line.
type shard struct {
	mu   sync.Mutex
	arr  atomic.Pointer[slotArray]
	live int      // entries in the shard (under mu)
	used int      // live + deleted slots (under mu)
	_    [32]byte // one shard per 64-byte line
}

type index struct {
	shards [nShards]shard
}

func (x *index) init() {
	for i := range x.shards {
		x.shards[i].arr.Store(newSlotArray(1))
	}
}

func match(c *Conn, k *Key, dir uint64) bool {
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
func (x *index) lookup(k *Key, h uint64, dir uint64) *Conn {
	a := x.shardOf(h).arr.Load()
	tag := tagOf(h, dir)
	for g := a.home(fragOf(h, dir)); ; g = a.next(g) {
		grp := &a.groups[g]
		ctrl := grp.loadCtrl()
		for m := matchTag(ctrl, tag); m != 0; m &= m - 1 {
			c := grp.load(byteIndex(m))
			if c != nil && match(c, k, dir) && c.word.Load()&wDead == 0 {
				return c
			}
		}
		if matchEmpty(ctrl) != 0 {
			return nil
		}
	}
}

// has reports whether a connection with key k is indexed in direction dir.
// Caller holds the shard's mutex, so every entry is live.
func (x *index) has(s *shard, k *Key, h uint64, dir uint64) bool {
	a := s.arr.Load()
	tag := tagOf(h, dir)
	for g := a.home(fragOf(h, dir)); ; g = a.next(g) {
		grp := &a.groups[g]
		ctrl := grp.ctrl
		for m := matchTag(ctrl, tag); m != 0; m &= m - 1 {
			if c := grp.load(byteIndex(m)); c != nil && match(c, k, dir) {
				return true
			}
		}
		if matchEmpty(ctrl) != 0 {
			return false
		}
	}
}

// insert adds c's entry for direction dir (hash h, known absent). Caller
// holds s.mu.
func insert(s *shard, c *Conn, h uint64, dir uint64) {
	a := s.arr.Load()
	if uint64(s.used+1)*maxLoadDen > a.ngroups*groupSlots*maxLoadNum {
		a = rebuild(s, s.live+1)
	}
	grp, i := freeSlot(a, fragOf(h, dir), &s.used)
	sh := i & 3 * 16
	atomic.StoreUint64(&grp.frags[i>>2], grp.frags[i>>2]&^(0xffff<<sh)|fragOf(h, dir)<<sh)
	atomic.StorePointer(&grp.slots[i], unsafe.Pointer(c))
	atomic.StoreUint64(&grp.ctrl, grp.ctrl&^(0xff<<(i*8))|tagOf(h, dir)<<(i*8))
	s.live++
}

// freeSlot finds the first free (empty or deleted) slot of the probe
// sequence of frag, counting a newly used empty slot in *used. Writers only.
func freeSlot(a *slotArray, frag uint64, used *int) (*group, uint64) {
	for g := a.home(frag); ; g = a.next(g) {
		grp := &a.groups[g]
		if m := matchFree(grp.ctrl); m != 0 {
			i := byteIndex(m)
			if grp.ctrl>>(i*8)&0xff == ctrlEmpty {
				*used++
			}
			return grp, i
		}
	}
}

// remove takes c's entry for direction dir (hash h) out of the shard.
// Caller holds s.mu.
func remove(s *shard, c *Conn, h uint64, dir uint64) bool {
	a := s.arr.Load()
	tag := tagOf(h, dir)
	for g := a.home(fragOf(h, dir)); ; g = a.next(g) {
		grp := &a.groups[g]
		ctrl := grp.ctrl
		for m := matchTag(ctrl, tag); m != 0; m &= m - 1 {
			i := byteIndex(m)
			if grp.slots[i] != unsafe.Pointer(c) || grp.frag(i)&1 != dir {
				continue
			}
			mark := uint64(ctrlDel)
			if matchEmpty(ctrl) != 0 {
				mark = ctrlEmpty
				s.used--
			}
			atomic.StoreUint64(&grp.ctrl, ctrl&^(0xff<<(i*8))|mark<<(i*8))
			atomic.StorePointer(&grp.slots[i], nil)
			s.live--
			// Shrink a table that has become mostly empty (load < 7/64).
			if a.ngroups > 1 && uint64(s.live)*maxLoadDen*maxLoadDen < a.ngroups*groupSlots*maxLoadNum {
				rebuild(s, s.live)
			}
			return true
		}
		if matchEmpty(ctrl) != 0 {
			return false
		}
	}
}

// rebuild moves the shard's live entries into a new array sized for n
// entries at a load of 7/10 and publishes it. Caller holds s.mu. No Conn
// is read (the fragment places each entry, the tag comes along), and the
// new array is filled with plain stores before it is published.
func rebuild(s *shard, n int) *slotArray {
	ng := (uint64(n)*rebuildDen + groupSlots*rebuildNum - 1) / (groupSlots * rebuildNum)
	if ng == 0 {
		ng = 1
	}
	old := s.arr.Load()
	a := newSlotArray(ng)
	used := 0
	for g := range old.groups {
		og := &old.groups[g]
		full := ^og.ctrl & bytesMSB // full bytes have the top bit clear
		for ; full != 0; full &= full - 1 {
			i := byteIndex(full)
			frag := og.frags[i>>2] >> (i & 3 * 16) & 0xffff
			grp, j := freeSlot(a, frag, &used)
			sh := j & 3 * 16
			grp.frags[j>>2] = grp.frags[j>>2]&^(0xffff<<sh) | frag<<sh
			grp.slots[j] = og.slots[i]
			grp.ctrl = grp.ctrl&^(0xff<<(j*8)) | (og.ctrl>>(i*8)&0xff)<<(j*8)
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
