package conntrack

import (
	"errors"
	"math/rand/v2"
	"sync"
	"sync/atomic"

	"github.com/gdirector/gdirector/vs"
)

// Errors returned by New.
var (
	ErrTableFull = errors.New("conntrack: connection table full")
	ErrExists    = errors.New("conntrack: connection exists")
)

// DefaultCapacity is the capacity of a Table when Options.Capacity is 0.
const DefaultCapacity = 1 << 20

// Options configure a Table.
type Options struct {
	// Capacity bounds the number of connections (hashed ones plus
	// one-packet connections not yet deleted); New fails with ErrTableFull
	// beyond it. 0 means DefaultCapacity.
	Capacity int
	// OnRemove, if set, is called once for every connection leaving the
	// table (expired, deleted or flushed), after it was unbound from its
	// Dest, outside any table lock. It must be quick and must not call
	// back into the table (the data plane keeps per-local-address counts
	// with it).
	OnRemove func(*Conn)
}

// Table is the connection table. All methods are safe for concurrent use.
type Table struct {
	idx   index
	to    timeouts
	plain connExt // the ext of every connection without a template
	seed  [4]uint64

	capacity int64
	onRemove func(*Conn)
	_        [64]byte
	count    atomic.Int64 // on its own cache line: every New and removal touches it
	_        [56]byte

	expMu sync.Mutex // one expirer at a time; others skip
	cur   struct{ shard, pos int }
}

// NewTable returns an empty table.
func NewTable(opt Options) *Table {
	t := &Table{capacity: int64(opt.Capacity), onRemove: opt.OnRemove}
	if t.capacity <= 0 {
		t.capacity = DefaultCapacity
	}
	for i := range t.seed {
		t.seed[i] = rand.Uint64()
	}
	t.idx.init()
	t.to.init()
	t.plain.to = &t.to
	return t
}

// Capacity returns the table's bound.
func (t *Table) Capacity() int { return int(t.capacity) }

// Len returns the number of connections in the table.
func (t *Table) Len() int { return int(t.count.Load()) }

// Params describe a new connection.
type Params struct {
	Proto vs.Proto
	IPv6  bool
	CAddr [16]byte
	CPort uint16
	VAddr [16]byte
	VPort uint16
	DAddr [16]byte
	DPort uint16
	// LAddr and LPort are the FullNAT local address and port; for other
	// methods they are ignored and set to CAddr and CPort.
	LAddr [16]byte
	LPort uint16
	Fwd   vs.FwdMethod // normally Dest.FwdMethod()
	Dest  *vs.Dest     // may be nil (no binding)
	Svc   *vs.Service  // stats only; may be nil
	Flags Flags        // FlagOnePacket (UDP only), FlagTemplate; others ignored
	// Timeout is a template's lifetime after its last use, in ns (the
	// service's persistence timeout); ignored for connections.
	Timeout int64
	// Control is the live template a persistent connection is created
	// under (ip_vs_control_add): while the connection lives, the template
	// does not expire. nil for none.
	Control *Conn
}

// LookupTemplate returns the persistence template with key k (its Template
// field is ignored and treated as set), or nil. Same properties as
// LookupIn.
func (t *Table) LookupTemplate(k *Key) *Conn {
	tk := *k
	tk.Template = true
	return t.idx.lookup(&tk, hashKey(&tk, &t.seed), dirIn)
}

// LookupIn returns the connection of a client → VIP packet with key k, or
// nil. It takes no lock and does not allocate. A connection whose expiry
// has passed but which Expire has not collected yet is still found.
func (t *Table) LookupIn(k *Key) *Conn {
	return t.idx.lookup(k, hashKey(k, &t.seed), dirIn)
}

// LookupOut returns the connection of a reply with key k (as received from
// the real server), or nil. Same properties as LookupIn.
func (t *Table) LookupOut(k *Key) *Conn {
	return t.idx.lookup(k, hashKey(k, &t.seed), dirOut)
}

// New creates a connection, binds it to p.Dest as ip_vs_bind_dest does and
// inserts it in both indexes (templates in the in-index only, one-packet
// connections in neither). A new connection is in state NONE with the
// Inactive flag (and NoOutput unless the method is NAT or FullNAT), and
// expires 3 s after now unless a packet is accounted with Update, as in
// ip_vs_conn_new; the caller then passes its first packet to Update. New
// counts the connection in Dest.Stats.Conns and Svc.Stats.Conns (not for
// templates).
//
// It returns ErrTableFull when the table holds Capacity connections and
// ErrExists when either key is in use; in both cases nothing changed.
func (t *Table) New(now int64, p *Params) (*Conn, error) {
	if t.count.Add(1) > t.capacity {
		t.count.Add(-1)
		return nil, ErrTableFull
	}
	c := &Conn{
		CAddr: p.CAddr, VAddr: p.VAddr, DAddr: p.DAddr, LAddr: p.CAddr,
		CPort: p.CPort, VPort: p.VPort, DPort: p.DPort, LPort: p.CPort,
		Proto: p.Proto, IPv6: p.IPv6, Fwd: p.Fwd,
		Dest: p.Dest, Svc: p.Svc, ext: &t.plain,
	}
	if p.Fwd == vs.FullNAT {
		c.LAddr, c.LPort = p.LAddr, p.LPort
	}
	exp := now + newConnTimeout*sec
	if p.Flags&FlagTemplate != 0 {
		c.fixed |= fixTemplate
		c.ext = &connExt{to: &t.to, tpl: c, tmo: p.Timeout}
		exp = now + p.Timeout
	} else {
		if p.Flags&FlagOnePacket != 0 && p.Proto == vs.UDP {
			c.fixed |= fixOnePacket
		}
		if tp := p.Control; tp != nil && tp.fixed&fixTemplate != 0 {
			c.ext = tp.ext
		}
	}
	w := uint64(StateNone) | wInactive | expBits(exp)
	if !seesReplies(p.Fwd) {
		w |= wNoOutput
	}
	c.word.Store(w)

	switch {
	case c.fixed&fixOnePacket != 0:
		c.bind(w)
	case c.fixed&fixTemplate != 0:
		ik := c.InKey()
		ih := hashKey(&ik, &t.seed)
		is := t.idx.shardOf(ih)
		is.mu.Lock()
		if t.idx.has(is, &ik, ih, dirIn) {
			is.mu.Unlock()
			t.count.Add(-1)
			return nil, ErrExists
		}
		c.bind(w)
		insert(is, c, ih, dirIn)
		is.mu.Unlock()
		return c, nil
	default:
		ik, ok := c.InKey(), c.OutKey()
		ih, oh := hashKey(&ik, &t.seed), hashKey(&ok, &t.seed)
		is, os := t.idx.lock2(ih, oh)
		if t.idx.has(is, &ik, ih, dirIn) || t.idx.has(os, &ok, oh, dirOut) {
			unlock2(is, os)
			t.count.Add(-1)
			return nil, ErrExists
		}
		c.bind(w)
		insert(is, c, ih, dirIn)
		insert(os, c, oh, dirOut)
		unlock2(is, os)
	}
	if d := p.Dest; d != nil {
		d.Stats.Conns.Add(1)
	}
	if p.Svc != nil && p.Svc.Stats != nil {
		p.Svc.Stats.Conns.Add(1)
	}
	return c, nil
}

// kill removes c from the table and unbinds it if it is alive and, when
// onlyExpiredAt is not nil, expired at *onlyExpiredAt. It holds the shard
// locks of its two entries for a few dozen nanoseconds.
func (t *Table) kill(c *Conn, onlyExpiredAt *int64) bool {
	if c.fixed&fixOnePacket != 0 {
		for {
			w := c.word.Load()
			if w&wDead != 0 || onlyExpiredAt != nil && !isExpired(w, *onlyExpiredAt) {
				return false
			}
			if c.word.CompareAndSwap(w, w|wDead) {
				t.count.Add(-1)
				c.unbind(w)
				t.removed(c)
				return true
			}
		}
	}
	ik := c.InKey()
	ih := hashKey(&ik, &t.seed)
	var is, os *shard
	var oh uint64
	if c.fixed&fixTemplate == 0 {
		ok := c.OutKey()
		oh = hashKey(&ok, &t.seed)
		is, os = t.idx.lock2(ih, oh)
	} else {
		is = t.idx.shardOf(ih)
		is.mu.Lock()
	}
	var w uint64
	ok := false
	for {
		w = c.word.Load()
		if w&wDead != 0 || onlyExpiredAt != nil && !isExpired(w, *onlyExpiredAt) {
			break
		}
		if onlyExpiredAt != nil && c.controls() {
			// A template that still controls connections does not
			// expire: its timer starts again (the kernel's
			// expire_later).
			if c.word.CompareAndSwap(w, w&wLowMask|expBits(*onlyExpiredAt+c.ext.tmo)) {
				break
			}
			continue
		}
		if c.word.CompareAndSwap(w, w|wDead) {
			ok = true
			break
		}
	}
	if ok {
		remove(is, c, ih, dirIn)
		if os != nil {
			remove(os, c, oh, dirOut)
		}
	}
	if os != nil {
		unlock2(is, os)
	} else {
		is.mu.Unlock()
	}
	if ok {
		t.count.Add(-1)
		c.unbind(w)
		t.removed(c)
	}
	return ok
}

func (t *Table) removed(c *Conn) {
	if t.onRemove != nil {
		t.onRemove(c)
	}
}

// Delete removes c now, whatever its expiry, and unbinds it from its Dest.
// It reports whether c was still alive. One-packet connections must be
// deleted this way once their packet is sent (the kernel frees them in
// ip_vs_conn_put).
func (t *Table) Delete(c *Conn) bool { return t.kill(c, nil) }

// Expire collects connections whose expiry is ≤ now, doing a bounded amount
// of work: it examines at most budget connections (an empty group of 8
// slots counts as one), resuming where the previous call stopped, and stops
// early after one full pass. Each removal holds two shard locks for a few
// dozen nanoseconds; the scan itself takes no lock, so lookups are never
// held up. If another goroutine is expiring, Expire returns 0 at once. It
// returns the number of connections removed.
func (t *Table) Expire(now int64, budget int) (expired int) {
	if !t.expMu.TryLock() {
		return 0
	}
	s, pos := t.cur.shard, t.cur.pos
	work, wrapped := 0, 0
	for work < budget && wrapped <= nShards {
		a := t.idx.shards[s].arr.Load()
		if pos >= len(a.groups)*groupSlots {
			s, pos = (s+1)%nShards, 0
			wrapped++
			continue
		}
		grp := &a.groups[pos/groupSlots]
		i := uint64(pos % groupSlots)
		if i == 0 && grp.loadCtrl() == allEmpty {
			pos += groupSlots
			work++
			continue
		}
		pos++
		c := grp.load(i)
		if c == nil || grp.frag(i)&1 != dirIn {
			continue
		}
		work++
		if w := c.word.Load(); w&wDead == 0 && isExpired(w, now) && t.kill(c, &now) {
			expired++
		}
	}
	t.cur.shard, t.cur.pos = s, pos
	t.expMu.Unlock()
	return expired
}

// eachIn calls fn for every connection with an in-entry in the current
// array of shard s (every connection and template of the shard) until fn
// returns false, and reports whether it did.
func (t *Table) eachIn(s int, fn func(*Conn) bool) bool {
	a := t.idx.shards[s].arr.Load()
	for g := range a.groups {
		grp := &a.groups[g]
		if grp.loadCtrl() == allEmpty {
			continue
		}
		for i := range uint64(groupSlots) {
			if c := grp.load(i); c != nil && grp.frag(i)&1 == dirIn && !fn(c) {
				return false
			}
		}
	}
	return true
}

// Range calls fn for every connection in the table until fn returns false,
// for ipvsadm -Lnc. It walks each shard's current array without locking:
// connections added or removed during the walk may or may not be seen, and
// one moved by a concurrent resize may be seen twice or missed. fn may call
// Delete. One-packet connections are not listed.
func (t *Table) Range(fn func(*Conn) bool) {
	for s := range nShards {
		if !t.eachIn(s, func(c *Conn) bool { return !c.Alive() || fn(c) }) {
			return
		}
	}
}

// Flush removes and unbinds every connection (one-packet connections in
// flight excepted, their owner deletes them). Connections created during a
// Flush may survive it.
func (t *Table) Flush() {
	for s := range nShards {
		for pass := 0; pass < 64; pass++ {
			removed := false
			t.eachIn(s, func(c *Conn) bool {
				removed = t.kill(c, nil) || removed
				return true
			})
			// A removal may have shrunk the array under the walk; walk
			// again until a pass removes nothing.
			if !removed {
				break
			}
		}
	}
}
