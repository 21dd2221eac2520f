package conntrack

import (
	"encoding/binary"
	"math/bits"
	"sync"
	"sync/atomic"
)

// The index is a hash table split into shards by the top 8 bits of the
// hash. Each shard is an open-addressing table in the style of a Swiss
// table: slots in groups of 8, one control byte per slot (a 7-bit hash tag,
// or empty, or deleted) packed in one uint64 per group, and one pointer per
// slot. A slot costs 9 bytes and holds no copy of the key: a candidate is
// confirmed against the Conn's own fields.
//
// Readers take no lock. Writers (insert, delete, resize) hold the shard's
// mutex. That is safe because:
//   - control words and slot pointers are read and written atomically;
//   - within one slot array an empty control byte never reappears where a
//     probe might have to pass it (delete writes "empty" only in a group that
//     already has an empty byte, which no probe sequence crosses, and
//     "deleted" otherwise), so a reader never stops short of a key that was
//     present when it started;
//   - a resize builds a new array and publishes it with one atomic store;
//     readers still on the old array see a valid, merely older, table, and
//     the garbage collector frees it when the last of them is done (the role
//     RCU plays in the kernel);
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
	// A table grows when 7/8 of its slots are used (live or deleted), and is
	// rebuilt for a load of about 7/12 (growth ×1.5), so the average load is
	// about 0.7 and a connection costs ~2×9/0.7 ≈ 26 bytes of index.
	maxLoadNum = 7
	maxLoadDen = 8
)

type slotArray struct {
	ngroups uint64
	ctrl    []atomic.Uint64
	slots   []atomic.Pointer[Conn]
}

func newSlotArray(ngroups uint64) *slotArray {
	a := &slotArray{
		ngroups: ngroups,
		ctrl:    make([]atomic.Uint64, ngroups),
		slots:   make([]atomic.Pointer[Conn], ngroups*groupSlots),
	}
	for i := range a.ctrl {
		a.ctrl[i].Store(allEmpty)
	}
	return a
}

// group picks the home group: a multiply-shift range reduction of the hash
// bits below the shard byte.
func (a *slotArray) group(h uint64) uint64 {
	hi, _ := bits.Mul64(h<<8, a.ngroups)
	return hi
}

func (a *slotArray) next(g uint64) uint64 {
	g++
	if g == a.ngroups {
		g = 0
	}
	return g
}

func tagOf(h uint64) uint64 { return h & 0x7f }

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

type shard struct {
	mu   sync.Mutex
	arr  atomic.Pointer[slotArray]
	live int      // connections in the shard (under mu)
	used int      // live + deleted slots (under mu)
	_    [32]byte // one shard per 64-byte line
}

type index struct {
	out    bool
	seed   *[4]uint64
	shards [nShards]shard
}

func (x *index) init(out bool, seed *[4]uint64) {
	x.out = out
	x.seed = seed
	for i := range x.shards {
		x.shards[i].arr.Store(newSlotArray(1))
	}
}

func (x *index) match(c *Conn, k *Key) bool {
	if x.out {
		return c.matchOut(k)
	}
	return c.matchIn(k)
}

func (x *index) hashConn(c *Conn) uint64 {
	var k Key
	if x.out {
		k = c.OutKey()
	} else {
		k = c.InKey()
	}
	return hashKey(&k, x.seed)
}

func (x *index) shardOf(h uint64) *shard { return &x.shards[h>>56] }

// lookup finds the live connection with key k (hash h) without locking.
func (x *index) lookup(k *Key, h uint64) *Conn {
	a := x.shardOf(h).arr.Load()
	tag := tagOf(h)
	for g := a.group(h); ; g = a.next(g) {
		ctrl := a.ctrl[g].Load()
		for m := matchTag(ctrl, tag); m != 0; m &= m - 1 {
			c := a.slots[g*groupSlots+byteIndex(m)].Load()
			if c != nil && x.match(c, k) && c.word.Load()&wDead == 0 {
				return c
			}
		}
		if matchEmpty(ctrl) != 0 {
			return nil
		}
	}
}

// has reports whether a connection with key k is indexed. Caller holds
// the shard's mutex, so every entry is live.
func (x *index) has(s *shard, k *Key, h uint64) bool {
	a := s.arr.Load()
	tag := tagOf(h)
	for g := a.group(h); ; g = a.next(g) {
		ctrl := a.ctrl[g].Load()
		for m := matchTag(ctrl, tag); m != 0; m &= m - 1 {
			if c := a.slots[g*groupSlots+byteIndex(m)].Load(); c != nil && x.match(c, k) {
				return true
			}
		}
		if matchEmpty(ctrl) != 0 {
			return false
		}
	}
}

// insert adds c (hash h, known absent). Caller holds s.mu.
func (x *index) insert(s *shard, c *Conn, h uint64) {
	a := s.arr.Load()
	if uint64(s.used+1)*maxLoadDen > a.ngroups*groupSlots*maxLoadNum {
		a = x.rebuild(s, s.live+1)
	}
	putSlot(a, c, h, &s.used)
	s.live++
}

func putSlot(a *slotArray, c *Conn, h uint64, used *int) {
	for g := a.group(h); ; g = a.next(g) {
		ctrl := a.ctrl[g].Load()
		if m := matchFree(ctrl); m != 0 {
			b := byteIndex(m)
			sh := b * 8
			if (ctrl>>sh)&0xff == ctrlEmpty {
				*used++
			}
			a.slots[g*groupSlots+b].Store(c)
			a.ctrl[g].Store(ctrl&^(0xff<<sh) | tagOf(h)<<sh)
			return
		}
	}
}

// remove takes c (hash h) out of the shard. Caller holds s.mu.
func (x *index) remove(s *shard, c *Conn, h uint64) bool {
	a := s.arr.Load()
	tag := tagOf(h)
	for g := a.group(h); ; g = a.next(g) {
		ctrl := a.ctrl[g].Load()
		for m := matchTag(ctrl, tag); m != 0; m &= m - 1 {
			b := byteIndex(m)
			i := g*groupSlots + b
			if a.slots[i].Load() != c {
				continue
			}
			sh := b * 8
			mark := uint64(ctrlDel)
			if matchEmpty(ctrl) != 0 {
				mark = ctrlEmpty
				s.used--
			}
			a.ctrl[g].Store(ctrl&^(0xff<<sh) | mark<<sh)
			a.slots[i].Store(nil)
			s.live--
			// Shrink a table that has become mostly empty (load < 7/64).
			if a.ngroups > 1 && uint64(s.live)*maxLoadDen*maxLoadDen < a.ngroups*groupSlots*maxLoadNum {
				x.rebuild(s, s.live)
			}
			return true
		}
		if matchEmpty(ctrl) != 0 {
			return false
		}
	}
}

// rebuild moves the shard's live entries into a new array sized for n
// entries at a load of 7/12 and publishes it. Caller holds s.mu.
func (x *index) rebuild(s *shard, n int) *slotArray {
	ng := (uint64(n)*3*maxLoadDen + 2*groupSlots*maxLoadNum - 1) / (2 * groupSlots * maxLoadNum)
	if ng == 0 {
		ng = 1
	}
	old := s.arr.Load()
	a := newSlotArray(ng)
	used := 0
	for i := range old.slots {
		if c := old.slots[i].Load(); c != nil {
			putSlot(a, c, x.hashConn(c), &used)
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
