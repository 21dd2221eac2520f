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
	reg   registry
	to    timeouts
	plain connExt // the ext of every connection without a template
	seed  [4]uint64

	capacity int64
	onRemove func(*Conn)
	_        [64]byte
	count    atomic.Int64 // on its own cache line: every New and removal touches it
	_        [56]byte

	expMu sync.Mutex // one expirer at a time; others skip
	cur   uint32     // registry id where the next Expire starts
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
	t.reg.init()
	t.idx.init(&t.reg)
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
	Flags Flags        // FlagOnePacket (UDP only), FlagTemplate, FlagSynced; others ignored
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
// ErrExists when the in-key is in use (or a FullNAT connection's out-key,
// its local address and port); in both cases nothing changed. Other
// connections may share an out-key, as in the kernel: LookupOut returns
// the newest live one.
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
	if p.Flags&FlagSynced != 0 {
		c.fixed |= fixSynced
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
		reserve(is, 1)
		slot, found := t.idx.probe(is, &ik, ih, dirIn)
		if found {
			is.mu.Unlock()
			t.count.Add(-1)
			return nil, ErrExists
		}
		if !t.register(is, c) {
			is.mu.Unlock()
			t.count.Add(-1)
			return nil, ErrTableFull
		}
		c.bind(w)
		place(is, slot, c.id, ih, dirIn)
		is.mu.Unlock()
		if c.fixed&fixSynced == 0 {
			t.to.notify(c) // connection sync (sync.go)
		}
		return c, nil
	default:
		ik, ok := c.InKey(), c.OutKey()
		ih, oh := hashKey(&ik, &t.seed), hashKey(&ok, &t.seed)
		is, os := t.idx.lock2(ih, oh)
		// One walk per key finds a duplicate or the slot the entry takes.
		if is == os {
			reserve(is, 2)
		} else {
			reserve(is, 1)
			reserve(os, 1)
		}
		inSlot, found := t.idx.probe(is, &ik, ih, dirIn)
		var outSlot *uint64
		shadowOut := false
		if !found {
			outSlot, found = t.idx.probe(os, &ok, oh, dirOut)
			// A taken out-key is refused only for FullNAT, where it is
			// a local port the pool must not hand out twice. Otherwise
			// it is one client port reaching one real server through
			// two services (or a NAT connection whose predecessor still
			// lingers in TIME_WAIT): the kernel hashes both, the newest
			// answering replies, and so does this table.
			if found && p.Fwd != vs.FullNAT {
				found, shadowOut = false, true
			}
		}
		if found {
			unlock2(is, os)
			t.count.Add(-1)
			return nil, ErrExists
		}
		if !t.register(is, c) {
			unlock2(is, os)
			t.count.Add(-1)
			return nil, ErrTableFull
		}
		c.bind(w)
		place(is, inSlot, c.id, ih, dirIn)
		if shadowOut {
			t.idx.shadow(os, &ok, oh, c.id, dirOut)
		} else if is == os {
			// Both keys in one shard: the in entry may have taken the
			// slot probe found for the out one.
			insert(os, c.id, oh, dirOut)
		} else {
			place(os, outSlot, c.id, oh, dirOut)
		}
		unlock2(is, os)
	}
	if c.fixed&fixSynced != 0 {
		// Installed by connection sync: scheduled (and counted) on
		// the master, not here.
		return c, nil
	}
	if d := p.Dest; d != nil {
		d.Stats.Conns.Add(1)
	}
	if p.Svc != nil && p.Svc.Stats != nil {
		p.Svc.Stats.Conns.Add(1)
	}
	if c.fixed&fixOnePacket == 0 {
		t.to.notify(c) // connection sync (sync.go)
	}
	return c, nil
}

// register gives c an id, one its in-shard s released or a fresh one, and
// publishes it in the registry. Caller holds s.mu.
func (t *Table) register(s *shard, c *Conn) bool {
	if n := len(s.free); n > 0 {
		c.id = s.free[n-1]
		s.free = s.free[:n-1]
	} else {
		if s.next == s.end {
			base, ok := t.reg.grab()
			if !ok {
				return false
			}
			s.next, s.end = base, base+idBlock
		}
		c.id = s.next
		s.next++
	}
	t.reg.slot(c.id).Store(c)
	return true
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
		remove(is, c.id, ih, dirIn)
		if os != nil {
			remove(os, c.id, oh, dirOut)
		}
		t.reg.slot(c.id).Store(nil)
		is.free = append(is.free, c.id)
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
// of work: it examines at most budget connections (a run of 16 free ids
// counts as one), resuming where the previous call stopped, and stops
// early after one full pass. It walks the registry in id order without a
// lock, so lookups are never held up; each removal holds two shard locks
// for a few dozen nanoseconds. If another goroutine is expiring, Expire
// returns 0 at once. It returns the number of connections removed.
func (t *Table) Expire(now int64, budget int) (expired int) {
	if !t.expMu.TryLock() {
		return 0
	}
	top := t.reg.top.Load()
	d := *t.reg.dir.Load() // loaded after top: covers every id below it
	id := t.cur
	if id < idBlock || id >= top {
		id = idBlock
	}
	work, idle := 0, 0
	for n := top - idBlock; n > 0 && work < budget; n-- {
		c := d[id>>regBits][id&regMask].Load()
		if id++; id == top {
			id = idBlock
		}
		if c == nil {
			if idle++; idle == 16 {
				work, idle = work+1, 0
			}
			continue
		}
		work++
		if w := c.word.Load(); w&wDead == 0 && isExpired(w, now) && t.kill(c, &now) {
			expired++
		}
	}
	t.cur = id
	t.expMu.Unlock()
	return expired
}

// Range calls fn for every connection in the table until fn returns false,
// for ipvsadm -Lnc. It walks the registry without locking: connections
// added or removed during the walk may or may not be seen (a connection
// removed and another given its id may both be). fn may call Delete.
// One-packet connections are not listed.
func (t *Table) Range(fn func(*Conn) bool) {
	t.reg.each(func(c *Conn) bool { return !c.Alive() || fn(c) })
}

// Flush removes and unbinds every connection (one-packet connections in
// flight excepted, their owner deletes them). Connections created during a
// Flush may survive it.
func (t *Table) Flush() {
	t.reg.each(func(c *Conn) bool {
		t.kill(c, nil)
		return true
	})
}
