package ipvssync

import (
	"sync/atomic"

	"github.com/gdirector/gdirector/conntrack"
)

// Queue carries connections from the data plane to the Sender. It is the
// cheap hook the kernel's ip_vs_sync_conn is on the packet path: Push is
// lock-free, never blocks and never allocates; when the queue is full the
// connection is dropped and counted (a later state change or the periodic
// refresh sends it again). Only the pointer travels: the Sender reads the
// connection's state when it drains the queue, a few milliseconds later,
// so a burst of changes of one connection costs one record with its latest
// state.
//
// It is a set of bounded multi-producer single-consumer rings (Vyukov's
// bounded queue: a sequence number per slot, producers claim a slot with
// one compare-and-swap on the tail), sharded by a hash of the client
// address and port so that workers rarely contend on one tail.
type Queue struct {
	shards  []ring
	dropped atomic.Uint64
	pushed  atomic.Uint64
}

type slot struct {
	seq atomic.Uint64
	c   atomic.Pointer[conntrack.Conn]
}

type ring struct {
	_    [64]byte
	tail atomic.Uint64 // next position a producer claims
	_    [56]byte
	head uint64 // consumer only
	mask uint64
	s    []slot
}

// Default queue geometry: 16 shards of 4096 slots (64 Ki pending records).
const (
	queueShards = 16
	queueSlots  = 4096
)

// NewQueue returns a queue of shards rings of slots entries each (rounded
// up to powers of two; ≤ 0 takes the defaults).
func NewQueue(shards, slots int) *Queue {
	if shards <= 0 {
		shards = queueShards
	}
	if slots <= 0 {
		slots = queueSlots
	}
	shards, slots = pow2(shards), pow2(slots)
	q := &Queue{shards: make([]ring, shards)}
	for i := range q.shards {
		r := &q.shards[i]
		r.mask = uint64(slots - 1)
		r.s = make([]slot, slots)
		for j := range r.s {
			r.s[j].seq.Store(uint64(j))
		}
	}
	return q
}

func pow2(n int) int {
	p := 1
	for p < n {
		p <<= 1
	}
	return p
}

// SyncConn implements conntrack.Syncer: it queues c if it is worth
// synchronising (see Worth).
func (q *Queue) SyncConn(c *conntrack.Conn) {
	if !Worth(c) {
		return
	}
	q.Push(c)
}

// Push queues c, or drops it (counted) when its ring is full.
func (q *Queue) Push(c *conntrack.Conn) {
	h := uint64(c.CPort) ^ uint64(c.CAddr[15])<<3 ^ uint64(c.CAddr[14])<<7 ^ uint64(c.VPort)
	r := &q.shards[h&uint64(len(q.shards)-1)]
	pos := r.tail.Load()
	for {
		s := &r.s[pos&r.mask]
		seq := s.seq.Load()
		switch d := int64(seq - pos); {
		case d == 0:
			if r.tail.CompareAndSwap(pos, pos+1) {
				s.c.Store(c)
				s.seq.Store(pos + 1)
				q.pushed.Add(1)
				return
			}
			pos = r.tail.Load()
		case d < 0:
			q.dropped.Add(1) // full
			return
		default:
			pos = r.tail.Load()
		}
	}
}

// Drain calls fn for every queued connection, ring by ring, and returns
// how many it took. Only one goroutine may drain.
func (q *Queue) Drain(fn func(*conntrack.Conn)) int {
	n := 0
	for i := range q.shards {
		r := &q.shards[i]
		for {
			s := &r.s[r.head&r.mask]
			if s.seq.Load() != r.head+1 {
				break // empty, or a producer is still writing this slot
			}
			c := s.c.Swap(nil)
			s.seq.Store(r.head + r.mask + 1)
			r.head++
			n++
			if c != nil {
				fn(c)
			}
		}
	}
	return n
}

// Dropped returns how many connections were dropped on a full queue.
func (q *Queue) Dropped() uint64 { return q.dropped.Load() }

// Pushed returns how many connections were queued.
func (q *Queue) Pushed() uint64 { return q.pushed.Load() }

// Worth reports whether a connection's present state is worth sending, as
// the kernel's ip_vs_sync_conn_needed decides without its packet-count
// rate limits: templates always; TCP connections in ESTABLISHED,
// FIN_WAIT, TIME_WAIT, CLOSE and CLOSE_WAIT (not the handshake states: a
// half-open connection is not worth a failover); UDP and other protocols
// always; never one-packet connections (not hashed) or dead ones.
func Worth(c *conntrack.Conn) bool {
	f := c.Flags()
	if f&conntrack.FlagOnePacket != 0 || !c.Alive() {
		return false
	}
	if f&conntrack.FlagTemplate != 0 || c.Proto != 6 {
		return true
	}
	switch c.State() {
	case conntrack.StateEstablished, conntrack.StateFinWait, conntrack.StateTimeWait,
		conntrack.StateClose, conntrack.StateCloseWait:
		return true
	}
	return false
}
