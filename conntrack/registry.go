package conntrack

import (
	"sync"
	"sync/atomic"
)

// The registry maps a connection's 32-bit id to its *Conn: the index stores
// ids (so that its arrays hold no pointers and a slot has room for hash
// bits), and Expire, Range and Flush walk the registry in id order. It is a
// directory of fixed chunks of 4096 atomic pointers; a chunk never moves
// once made, and a larger directory is published atomically, so readers
// take no lock.
//
// An id is released when its connection is removed and may be given to the
// next connection at once: a reader that still resolves the old id gets the
// new connection, whose key does not match (or matches, and is then the
// right answer), or nil. The Conn itself is an ordinary heap object, freed
// by the garbage collector once nothing refers to it, so a *Conn held after
// its removal stays what it was and using it is harmless.
//
// Ids are handed to the shards in blocks of idBlock; each shard keeps the
// ids its removals release and reuses them first (see shard).

const (
	regBits     = 12
	regChunkLen = 1 << regBits
	regMask     = regChunkLen - 1
	idBlock     = 32 // ids a shard takes at a time; ids below the first block are not used
	maxID       = 1<<32 - 1 - idBlock
)

type regChunk [regChunkLen]atomic.Pointer[Conn]

type registry struct {
	dir atomic.Pointer[[]*regChunk]
	top atomic.Uint32 // ids below top exist (their chunk is in dir)
	mu  sync.Mutex    // serialises grab
}

func (r *registry) init() {
	d := []*regChunk{}
	r.dir.Store(&d)
	r.top.Store(idBlock)
}

// slot returns the registry entry of id, which must have been handed out.
func (r *registry) slot(id uint32) *atomic.Pointer[Conn] {
	return &(*r.dir.Load())[id>>regBits][id&regMask]
}

// get returns the connection registered under id, or nil.
func (r *registry) get(id uint32) *Conn { return r.slot(id).Load() }

// grab hands out a fresh block of idBlock ids, making their chunk if it is
// new. It fails only when the 32-bit id space is exhausted.
func (r *registry) grab() (base uint32, ok bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	base = r.top.Load()
	if base > maxID {
		return 0, false
	}
	d := *r.dir.Load()
	if ci := int(base >> regBits); ci >= len(d) {
		// Readers hold the old header, which never reaches the new
		// element, so spare capacity may be filled in place.
		if len(d) < cap(d) {
			d = d[:len(d)+1]
		} else {
			nd := make([]*regChunk, len(d)+1, 2*len(d)+1)
			copy(nd, d)
			d = nd
		}
		d[ci] = new(regChunk)
		r.dir.Store(&d)
	}
	r.top.Store(base + idBlock)
	return base, true
}

// each calls fn for every registered connection, in id order, until fn
// returns false. Ids registered during the walk may or may not be seen.
func (r *registry) each(fn func(c *Conn) bool) {
	top := r.top.Load()
	d := *r.dir.Load() // loaded after top: covers every id below it
	for id := uint32(idBlock); id < top; id++ {
		if c := d[id>>regBits][id&regMask].Load(); c != nil && !fn(c) {
			return
		}
	}
}
