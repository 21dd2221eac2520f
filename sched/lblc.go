package sched

import (
	"net/netip"
	"sync"
	"time"

	"github.com/gdirector/gdirector/vs"
)

// timeSource is the clock of lblc and lblcr, in monotonic nanoseconds. It
// has the method set of internal/clock.Clock, so clock.Real and the tests'
// clock.Fake fit it; by default the schedulers read the monotonic clock
// through monoClock (the import allow-list keeps internal/clock out of
// this package).
type timeSource interface {
	Now() int64
}

// monoClock reads the process's monotonic clock (time.Since is a vDSO
// read, no syscall, no allocation).
type monoClock struct{}

var monoEpoch = time.Now()

func (monoClock) Now() int64 { return int64(time.Since(monoEpoch)) }

// The cache of lblc and lblcr (ip_vs_lblc.c, ip_vs_lblcr.c): 1024 hash
// buckets (IP_VS_LBLC_TAB_BITS, IP_VS_LBLCR_TAB_BITS) and the constants of
// their garbage collection.
const (
	locTabBits = 10
	locTabSize = 1 << locTabBits
	locTabMask = locTabSize - 1

	locCheckInterval = int64(60 * time.Second) // CHECK_EXPIRE_INTERVAL
	locEntryTimeout  = int64(6 * time.Minute)  // ENTRY_TIMEOUT
	locExpiration    = int64(24 * time.Hour)   // DEFAULT_EXPIRATION, the *_expiration sysctls
	locFullCount     = 30                      // COUNT_FOR_FULL_EXPIRATION
	locMaxSize       = locTabSize * 16         // max_size
	locChunk         = 64                      // entries allocated at a time
	locInline        = 2                       // dests an entry holds without allocating
)

// locEntry is a cache entry: a packet destination address and the dest
// (lblc) or dest set (lblcr) it is mapped to.
type locEntry struct {
	next    *locEntry // bucket chain
	addr    [16]byte
	lastuse int64
	lastmod int64      // lblcr: when the set last changed
	dests   []*vs.Dest // lblc: one; lblcr: the set, oldest first
	inline  [locInline]*vs.Dest
}

// locTable is the hash table with the kernel's periodic expiry, shared by
// lblc and lblcr.
//
// The kernel runs a timer every 60 s from the creation of the service.
// Every 30th run (counter reaching 30), it does a full check: every entry
// unused for the expiration time (24 h by default) is dropped. Other runs
// do nothing while the table holds at most max_size (16384) entries, and
// when it holds more they walk the buckets from the one after the rover,
// dropping entries unused for 6 minutes, until (entries - max_size) × 4/3
// of them (at most max_size/2) are gone, and leave the rover at the last
// bucket walked; such runs do not advance the counter.
//
// Here no timer runs: every operation first performs, in order, the runs
// that fell due since the last one, each with its due time as "now", which
// yields exactly the kernel's result since nothing else touched the table
// in between. Stretches of idle runs are skipped in O(1), and a full check
// followed by another one with only idle runs between them is skipped, the
// later check dropping every entry the earlier would have (the rover does
// not move in a full check), so catching up after a long idle period costs
// at most one full check.
type locTable struct {
	clk     timeSource
	expire  int64 // the lblc_expiration / lblcr_expiration sysctl
	maxSize int

	bucket  [locTabSize]*locEntry
	entries int // the kernel's tbl->entries (see lblc for its drift)
	rover   int
	counter int
	next    int64 // due time of the next periodic run
	started bool
	free    *locEntry // recycled entries
}

func (t *locTable) init() {
	t.clk = monoClock{}
	t.expire = locExpiration
	t.maxSize = locMaxSize
	t.counter = 1
}

// begin reads the clock, starts the timer on first use (the kernel starts
// it when the service is created, which is when the control plane calls
// Update first) and catches up with the runs due. Call with the lock held.
func (t *locTable) begin() int64 {
	now := t.clk.Now()
	if !t.started {
		t.started = true
		t.next = now + locCheckInterval
	}
	t.catchUp(now)
	return now
}

// catchUp performs the periodic runs due at or before now.
func (t *locTable) catchUp(now int64) {
	const cycle = locFullCount * locCheckInterval
	for t.next <= now {
		at := t.next
		switch {
		case t.counter%locFullCount == 0:
			if t.entries <= t.maxSize {
				// Another full check due a cycle later, with only
				// idle runs between, supersedes this one.
				at += (now - at) / cycle * cycle
			}
			t.sweepAll(at)
			t.counter = 1
			t.next = at + locCheckInterval
		case t.entries <= t.maxSize:
			k := int64(locFullCount - t.counter%locFullCount)
			if due := (now-at)/locCheckInterval + 1; k > due {
				k = due
			}
			t.counter += int(k)
			t.next = at + k*locCheckInterval
		default:
			t.sweepSome(at)
			t.next = at + locCheckInterval
		}
	}
}

// sweepAll is the full check (ip_vs_lblc_full_check): every bucket, from
// the one after the rover round to the rover, loses its entries unused
// for the expiration time.
func (t *locTable) sweepAll(now int64) {
	j := t.rover
	for range locTabSize {
		j = (j + 1) & locTabMask
		t.entries -= t.sweep(j, now, t.expire)
	}
	t.rover = j
}

// sweepSome is the garbage collection of a periodic run with too many
// entries.
func (t *locTable) sweepSome(now int64) {
	goal := (t.entries - t.maxSize) * 4 / 3
	goal = min(goal, t.maxSize/2)
	j := t.rover
	for range locTabSize {
		j = (j + 1) & locTabMask
		n := t.sweep(j, now, locEntryTimeout)
		t.entries -= n
		goal -= n
		if goal <= 0 {
			break
		}
	}
	t.rover = j
}

// sweep drops the entries of bucket j unused for idle or longer and
// returns how many it dropped.
func (t *locTable) sweep(j int, now, idle int64) int {
	n := 0
	for p := &t.bucket[j]; *p != nil; {
		e := *p
		if now-e.lastuse < idle {
			p = &e.next
			continue
		}
		*p = e.next
		t.release(e)
		n++
	}
	return n
}

// bucketOf is ip_vs_lblc_hashkey / ip_vs_lblcr_hashkey.
func bucketOf(a *[16]byte, v6 bool) int {
	return int(hash32(foldKey(a, v6), locTabBits))
}

// lookup returns the entry for addr in bucket b, or nil.
func (t *locTable) lookup(b int, addr *[16]byte) *locEntry {
	for e := t.bucket[b]; e != nil; e = e.next {
		if e.addr == *addr {
			return e
		}
	}
	return nil
}

// link puts e at the head of bucket b (hlist_add_head).
func (t *locTable) link(b int, e *locEntry) {
	e.next = t.bucket[b]
	t.bucket[b] = e
}

// unlink takes e out of bucket b.
func (t *locTable) unlink(b int, e *locEntry) {
	for p := &t.bucket[b]; *p != nil; p = &(*p).next {
		if *p == e {
			*p = e.next
			e.next = nil
			return
		}
	}
}

// alloc returns a blank entry, from the recycled ones when there are,
// else from a fresh chunk of locChunk entries (the one allocation of the
// cache, once per locChunk new addresses).
func (t *locTable) alloc() *locEntry {
	if t.free == nil {
		chunk := make([]locEntry, locChunk)
		for i := range chunk {
			chunk[i].next = t.free
			t.free = &chunk[i]
		}
	}
	e := t.free
	t.free = e.next
	e.next = nil
	if cap(e.dests) == 0 {
		e.dests = e.inline[:0]
	}
	return e
}

// release recycles e, keeping its dest slice's storage.
func (t *locTable) release(e *locEntry) {
	clear(e.dests)
	e.dests = e.dests[:0]
	e.next = t.free
	t.free = e
}

// inspect copies the entries for Inspect, listing the dests of a set
// newest first (the kernel's order).
func (t *locTable) inspect(name string, now int64) State {
	st := State{Name: name, Now: now, Cache: []CacheEntry{}}
	st.Vars = []Var{
		{"entries", int64(t.entries)},
		{"counter", int64(t.counter)},
		{"rover", int64(t.rover)},
		{"next_check", t.next},
	}
	for b := range t.bucket {
		for e := t.bucket[b]; e != nil; e = e.next {
			ce := CacheEntry{Bucket: b, LastUse: e.lastuse, LastMod: e.lastmod}
			ce.Addr = netip.AddrFrom16(e.addr).Unmap()
			for i := len(e.dests) - 1; i >= 0; i-- {
				ce.Dests = append(ce.Dests, e.dests[i])
			}
			st.Cache = append(st.Cache, ce)
		}
	}
	return st
}

// lblcOverloaded is the is_overloaded test of lblc and lblcr: the dest has
// more active connections than its weight while some dest of the service
// has fewer than half its weight.
func lblcOverloaded(d *vs.Dest, ds []*vs.Dest) bool {
	if d.ActiveConns.Load() <= d.Weight.Load() {
		return false
	}
	for _, x := range ds {
		if x.ActiveConns.Load()*2 < x.Weight.Load() {
			return true
		}
	}
	return false
}

// lblc is locality-based least connection (ip_vs_lblc.c), for caches: the
// packets' destination address is mapped to one dest in a cache, so that
// requests for one origin server go to the same cache server.
//
// A cached dest is used (and its entry's last use refreshed) as long as it
// is still in the service, has weight > 0 and is not overloaded in the
// lblc sense: more active connections than its weight while some dest of
// the service has fewer than half its weight. Like the kernel, the cache
// check does not look at the dest's overload flag (upper threshold). When
// the entry is missing or its dest unusable, the dest is wlc's pick (see
// wlc) and the entry is created or re-pointed.
//
// The kernel re-points an entry by freeing it and inserting a new one at
// the head of its bucket, and counts the new one without discounting the
// old, so its entry count drifts up by one at each re-pointing; the count
// decides when the periodic garbage collection runs (see locTable), and it
// is kept the same way here.
//
// Entries expire as described at locTable, on the clock in the table (the
// process's monotonic clock; tests substitute a fake one). Schedule holds
// the scheduler's mutex throughout. It allocates nothing for an address
// already in the cache; new addresses take entries from a free list filled
// locChunk at a time.
type lblc struct {
	mu sync.Mutex
	t  locTable
}

func newLBLC() vs.Scheduler {
	s := &lblc{}
	s.t.init()
	return s
}

func (s *lblc) Name() string { return "lblc" }

// Update starts the expiry clock on first use; lblc has no other use for
// the dest list (the kernel gives it no add/del/upd hooks).
func (s *lblc) Update(*vs.Service) {
	s.mu.Lock()
	s.t.begin()
	s.mu.Unlock()
}

// Schedule returns the cached dest for the packet's destination address,
// or a new wlc pick, or nil.
func (s *lblc) Schedule(svc *vs.Service, f *vs.Flow) *vs.Dest {
	s.mu.Lock()
	now := s.t.begin()
	b := bucketOf(&f.Dst, f.IPv6)
	e := s.t.lookup(b, &f.Dst)
	if e != nil {
		e.lastuse = now
		d := e.dests[0]
		if d.Available() && d.Weight.Load() > 0 && !lblcOverloaded(d, svc.Dests) {
			s.mu.Unlock()
			return d
		}
	}
	d := leastWeighted(svc.Dests, false)
	switch {
	case d == nil:
	case e == nil:
		e = s.t.alloc()
		e.addr = f.Dst
		e.dests = append(e.dests, d)
		e.lastuse = now
		s.t.link(b, e)
		s.t.entries++
	case e.dests[0] != d:
		s.t.unlink(b, e)
		e.dests[0] = d
		e.lastuse = now
		s.t.link(b, e)
		s.t.entries++ // the kernel's drift, see above
	}
	s.mu.Unlock()
	return d
}

// Inspect returns the cache and the expiry state, after the periodic runs
// due.
func (s *lblc) Inspect() State {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.t.begin()
	return s.t.inspect("lblc", now)
}
