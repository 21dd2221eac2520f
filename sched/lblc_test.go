package sched

import (
	"math/big"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gdirector/gdirector/internal/clock"
	"github.com/gdirector/gdirector/vs"
)

// The fake clock of the tests is internal/clock's, which fits timeSource.
var (
	_ timeSource = (*clock.Fake)(nil)
	_ timeSource = clock.Real{}
)

// newLoc returns an lblc or lblcr instance on the clock c, created (its
// expiry timer started) at c's current time.
func newLoc(t testing.TB, name string, svc *vs.Service, c timeSource, tweak func(*locTable)) (vs.Scheduler, *locTable) {
	t.Helper()
	s, err := New(name)
	if err != nil {
		t.Fatal(err)
	}
	var tab *locTable
	switch x := s.(type) {
	case *lblc:
		tab = &x.t
	case *lblcr:
		tab = &x.t
	default:
		t.Fatalf("%s is not a locality scheduler", name)
	}
	tab.clk = c
	if tweak != nil {
		tweak(tab)
	}
	s.Update(svc)
	return s, tab
}

func dstFlow(a string) *vs.Flow {
	ad := netip.MustParseAddr(a)
	return &vs.Flow{Proto: vs.TCP, IPv6: ad.Is6(), Src: vs.Addr16(netip.MustParseAddr("198.51.100.1")), Dst: vs.Addr16(ad), SPort: 1, DPort: 80}
}

func setActive(ds []*vs.Dest, act ...int32) {
	for i, a := range act {
		ds[i].ActiveConns.Store(a)
	}
}

// TestLBLCBehaviour walks through ip_vs_lblc_schedule case by case.
func TestLBLCBehaviour(t *testing.T) {
	fc := clock.NewFake(0)
	ds := mkDests(2, 2, 2)
	svc := mkSvc(ds)
	s, tab := newLoc(t, "lblc", svc, fc, nil)
	x := dstFlow("192.0.2.80")
	pick := func(f *vs.Flow) string { return nameOf(ds, s.Schedule(svc, f)) }

	if got := pick(x); got != "A" { // wlc: all idle, first
		t.Fatalf("first pick %s", got)
	}
	setActive(ds, 1, 0, 0)
	if got := pick(x); got != "A" { // cached, although B and C are idler
		t.Fatalf("cached pick %s", got)
	}
	// A has more active connections than its weight and B fewer than
	// half its weight: A is overloaded, wlc picks B.
	setActive(ds, 3, 0, 0)
	if got := pick(x); got != "B" {
		t.Fatalf("after A's overload %s", got)
	}
	// B over its weight but no dest under half its weight: B stays.
	setActive(ds, 10, 3, 1)
	if got := pick(x); got != "B" {
		t.Fatalf("B not overloaded: %s", got)
	}
	// The overload flag (upper threshold) does not evict a cached dest.
	ds[1].Flags.Store(vs.DestAvailable | vs.DestOverload)
	if got := pick(x); got != "B" {
		t.Fatalf("B flagged overloaded: %s", got)
	}
	// but wlc skips it for a new address: C (1/2) beats A (10/2).
	if got := pick(dstFlow("192.0.2.81")); got != "C" {
		t.Fatalf("new address: %s", got)
	}
	ds[1].Flags.Store(vs.DestAvailable)
	// Quiesced: rescheduled.
	ds[1].Weight.Store(0)
	if got := pick(x); got != "C" {
		t.Fatalf("B quiesced: %s", got)
	}
	// Removed (no longer available): rescheduled over the new list.
	ds[2].Flags.Store(0)
	svc = mkSvc(ds[:2])
	s.Update(svc)
	if got := pick(x); got != "A" {
		t.Fatalf("C removed: %s", got)
	}
	// Two addresses, and the kernel's count: 2 new entries plus 3
	// re-pointings counted as new.
	st := s.(Inspector).Inspect()
	if len(st.Cache) != 2 {
		t.Fatalf("%d entries", len(st.Cache))
	}
	if n, _ := st.Var("entries"); n != 5 || tab.entries != 5 {
		t.Fatalf("entries %d", n)
	}
	// Nothing usable: nil, and the entry stays.
	ds[0].Weight.Store(0)
	if got := pick(x); got != "-" {
		t.Fatalf("nothing usable: %s", got)
	}
	if len(s.(Inspector).Inspect().Cache) != 2 {
		t.Fatal("entry lost")
	}
}

// TestLBLCExpiry: the full check every 30 minutes drops entries unused
// for the expiration time (24 h); with more than max_size entries, the
// periodic runs drop entries unused for 6 minutes, bucket by bucket from
// the rover, until the goal is met.
func TestLBLCExpiry(t *testing.T) {
	fc := clock.NewFake(0)
	ds := mkDests(1, 1)
	svc := mkSvc(ds)
	s, _ := newLoc(t, "lblc", svc, fc, nil)
	ins := s.(Inspector)
	fc.Set(int64(time.Second))
	s.Schedule(svc, dstFlow("192.0.2.1"))
	s.Schedule(svc, dstFlow("192.0.2.2"))
	// Full checks run at 30 min, 1 h, …, 24 h (1 s too early) and 24 h 30.
	fc.Set(int64(24*time.Hour + 29*time.Minute))
	if n := len(ins.Inspect().Cache); n != 2 {
		t.Fatalf("%d entries at 24h29", n)
	}
	s.Schedule(svc, dstFlow("192.0.2.2")) // used: kept
	fc.Set(int64(24*time.Hour + 30*time.Minute))
	st := ins.Inspect()
	if len(st.Cache) != 1 || st.Cache[0].Addr != netip.MustParseAddr("192.0.2.2") {
		t.Fatalf("at 24h30: %+v", st.Cache)
	}
	if c, _ := st.Var("counter"); c != 1 {
		t.Fatalf("counter %d after a full check", c)
	}
	if !strings.Contains(st.String(), "192.0.2.2 -> 203.0.113.1:80 used 1m0s ago") {
		t.Fatalf("String:\n%s", st)
	}

	// Partial collection with max_size 2. Addresses in buckets 51, 200,
	// 203 and 684 (computed by hand).
	fc = clock.NewFake(0)
	s, _ = newLoc(t, "lblc", svc, fc, func(t *locTable) { t.maxSize = 2 })
	ins = s.(Inspector)
	fc.Set(int64(time.Second))
	for _, a := range []string{"198.51.100.8", "203.0.113.1", "192.0.2.1", "198.51.100.7"} {
		s.Schedule(svc, dstFlow(a))
	}
	buckets := func() []int {
		var b []int
		for _, e := range ins.Inspect().Cache {
			b = append(b, e.Bucket)
		}
		return b
	}
	if got := buckets(); !slices.Equal(got, []int{51, 200, 203, 684}) {
		t.Fatalf("buckets %v", got)
	}
	// Until 6 min of disuse nothing goes; the counter does not move
	// while the table is over max_size.
	fc.Set(int64(6*time.Minute + 30*time.Second))
	if got := buckets(); len(got) != 4 {
		t.Fatalf("at 6m30: %v", got)
	}
	// 7 min: goal (4-2)·4/3 = 2, capped at max_size/2 = 1: the walk from
	// bucket 1 stops after bucket 51; 8 min: from 52, bucket 200 goes;
	// then the table is at max_size and the counter moves again.
	fc.Set(int64(7 * time.Minute))
	if got := buckets(); !slices.Equal(got, []int{200, 203, 684}) {
		t.Fatalf("at 7m: %v", got)
	}
	if r, _ := ins.Inspect().Var("rover"); r != 51 {
		t.Fatalf("rover %d", r)
	}
	fc.Set(int64(9 * time.Minute))
	st = ins.Inspect()
	if got := buckets(); !slices.Equal(got, []int{203, 684}) {
		t.Fatalf("at 9m: %v", got)
	}
	if c, _ := st.Var("counter"); c != 2 {
		t.Fatalf("counter %d", c)
	}
	if r, _ := st.Var("rover"); r != 200 {
		t.Fatalf("rover %d", r)
	}
}

func TestLBLCRBehaviour(t *testing.T) {
	fc := clock.NewFake(0)
	ds := mkDests(2, 2, 2)
	svc := mkSvc(ds)
	s, _ := newLoc(t, "lblcr", svc, fc, func(t *locTable) { t.expire = int64(10 * time.Minute) })
	ins := s.(Inspector)
	x := dstFlow("192.0.2.80")
	pick := func() string { return nameOf(ds, s.Schedule(svc, x)) }
	set := func() string {
		var b strings.Builder
		for _, e := range ins.Inspect().Cache {
			for _, d := range e.Dests {
				b.WriteString(nameOf(ds, d))
			}
		}
		return b.String()
	}

	if got := pick(); got != "A" || set() != "A" {
		t.Fatalf("first pick %s set %s", got, set())
	}
	// A overloaded (lblc sense): wlc's pick B joins the set, newest first.
	setActive(ds, 3, 0, 0)
	fc.Set(int64(time.Minute))
	if got := pick(); got != "B" || set() != "BA" {
		t.Fatalf("growth: %s set %s", got, set())
	}
	// The least loaded member: B; with equal loads the newest, B.
	if got := pick(); got != "B" {
		t.Fatalf("%s", got)
	}
	setActive(ds, 1, 1, 0)
	if got := pick(); got != "B" {
		t.Fatalf("tie: %s", got)
	}
	setActive(ds, 0, 1, 0)
	if got := pick(); got != "A" {
		t.Fatalf("A idler: %s", got)
	}
	// Unchanged for more than the expiration (10 min here) since 1 min:
	// the busiest member, B, is dropped; A is picked.
	fc.Set(int64(11*time.Minute) + 1)
	if got := pick(); got != "A" || set() != "A" {
		t.Fatalf("shrink: %s set %s", got, set())
	}
	// Grow again, then let the set age with equal loads: the busiest is
	// the first of the maximum in list order, the newest (C), which is
	// also the pick: it is dropped and still returned.
	setActive(ds, 3, 2, 0)
	fc.Set(int64(12 * time.Minute))
	if got := pick(); got != "C" || set() != "CA" {
		t.Fatalf("regrowth: %s set %s", got, set())
	}
	setActive(ds, 1, 1, 1)
	fc.Set(int64(23 * time.Minute))
	if got := pick(); got != "C" || set() != "A" {
		t.Fatalf("drop the pick: %s set %s", got, set())
	}
	// A member that left the service is not a candidate.
	ds[0].Flags.Store(0)
	svc = mkSvc(ds[1:])
	s.Update(svc)
	if got := pick(); got != "B" || set() != "BA" {
		t.Fatalf("removed member: %s set %s", got, set())
	}
	if st := ins.Inspect(); !strings.Contains(st.String(), "-> 203.0.113.2:80,203.0.113.1:80 used 0s ago set changed 0s ago") {
		t.Fatalf("String:\n%s", st)
	}
}

// ---- Reference model of both caches: the kernel's code path by path,
// with a timer run for every minute. ----

type refEntry struct {
	addr             [16]byte
	dests            []*vs.Dest // lblcr's set newest first; lblc's dest
	lastuse, lastmod int64
}

type refLoc struct {
	lblcr          bool
	bucket         [locTabSize][]*refEntry // head first
	entries        int
	rover, counter int
	timer          int64
	expire         int64
	maxSize        int
	started        bool
}

func (m *refLoc) advance(now int64) {
	if !m.started {
		m.started, m.timer, m.counter = true, now+int64(time.Minute), 1
	}
	for m.timer <= now {
		m.run(m.timer)
		m.timer += int64(time.Minute)
	}
}

func (m *refLoc) drop(j int, keep func(*refEntry) bool) int {
	var kept []*refEntry
	n := 0
	for _, e := range m.bucket[j] {
		if keep(e) {
			kept = append(kept, e)
		} else {
			n++
		}
	}
	m.bucket[j] = kept
	return n
}

// run is the timer handler (ip_vs_lblc_check_expire).
func (m *refLoc) run(now int64) {
	if m.counter%30 == 0 {
		j := m.rover
		for range locTabSize {
			j = (j + 1) % locTabSize
			m.entries -= m.drop(j, func(e *refEntry) bool { return now < e.lastuse+m.expire })
		}
		m.rover = j
		m.counter = 1
		return
	}
	if m.entries <= m.maxSize {
		m.counter++
		return
	}
	goal := (m.entries - m.maxSize) * 4 / 3
	if goal > m.maxSize/2 {
		goal = m.maxSize / 2
	}
	j := m.rover
	for range locTabSize {
		j = (j + 1) % locTabSize
		n := m.drop(j, func(e *refEntry) bool { return now < e.lastuse+int64(6*time.Minute) })
		m.entries -= n
		goal -= n
		if goal <= 0 {
			break
		}
	}
	m.rover = j
}

func ratio(oh int64, w int32) *big.Rat { return big.NewRat(oh, int64(w)) }

func ohRef(d *vs.Dest) int64 { return int64(d.ActiveConns.Load())*256 + int64(d.InactConns.Load()) }

// wlcRef is the first dest with the least overhead/weight among those not
// overloaded with weight > 0.
func wlcRef(ds []*vs.Dest) *vs.Dest {
	var best *vs.Dest
	for _, d := range ds {
		if d.Overloaded() || d.Weight.Load() <= 0 {
			continue
		}
		if best == nil || ratio(ohRef(d), d.Weight.Load()).Cmp(ratio(ohRef(best), best.Weight.Load())) < 0 {
			best = d
		}
	}
	return best
}

func overloadedRef(d *vs.Dest, ds []*vs.Dest) bool {
	return d.ActiveConns.Load() > d.Weight.Load() && slices.ContainsFunc(ds, func(x *vs.Dest) bool {
		return 2*x.ActiveConns.Load() < x.Weight.Load()
	})
}

func (m *refLoc) find(addr [16]byte) (int, int) {
	j := hash32Ref(foldRef(vs.AddrFrom16(addr)), 10)
	for i, e := range m.bucket[j] {
		if e.addr == addr {
			return j, i
		}
	}
	return j, -1
}

func (m *refLoc) schedule(ds []*vs.Dest, addr [16]byte, now int64) *vs.Dest {
	m.advance(now)
	j, i := m.find(addr)
	if !m.lblcr {
		if i >= 0 {
			e := m.bucket[j][i]
			e.lastuse = now
			if d := e.dests[0]; d.Available() && d.Weight.Load() > 0 && !overloadedRef(d, ds) {
				return d
			}
		}
		d := wlcRef(ds)
		if d == nil {
			return nil
		}
		if i >= 0 {
			if m.bucket[j][i].dests[0] == d {
				return d
			}
			m.bucket[j] = slices.Delete(m.bucket[j], i, i+1)
		}
		m.bucket[j] = slices.Insert(m.bucket[j], 0, &refEntry{addr: addr, dests: []*vs.Dest{d}, lastuse: now})
		m.entries++
		return d
	}
	if i < 0 {
		d := wlcRef(ds)
		if d != nil {
			m.bucket[j] = slices.Insert(m.bucket[j], 0, &refEntry{addr: addr, dests: []*vs.Dest{d}, lastuse: now, lastmod: now})
			m.entries++
		}
		return d
	}
	e := m.bucket[j][i]
	e.lastuse = now
	// The set's least loaded usable member, newest first.
	var d *vs.Dest
	for _, x := range e.dests {
		if x.Overloaded() || x.Weight.Load() <= 0 || !x.Available() {
			continue
		}
		if d == nil || ratio(ohRef(x), x.Weight.Load()).Cmp(ratio(ohRef(d), d.Weight.Load())) < 0 {
			d = x
		}
	}
	if len(e.dests) > 1 && now > e.lastmod+m.expire {
		// The most loaded member of weight > 0.
		var most *vs.Dest
		for _, x := range e.dests {
			if x.Weight.Load() <= 0 {
				continue
			}
			if most == nil || ratio(ohRef(x), x.Weight.Load()).Cmp(ratio(ohRef(most), most.Weight.Load())) > 0 {
				most = x
			}
		}
		if most != nil {
			e.dests = slices.DeleteFunc(e.dests, func(x *vs.Dest) bool { return x == most })
			e.lastmod = now
		}
	}
	if d != nil && !overloadedRef(d, ds) {
		return d
	}
	d = wlcRef(ds)
	if d != nil && !slices.Contains(e.dests, d) {
		e.dests = slices.Insert(e.dests, 0, d)
		e.lastmod = now
	}
	return d
}

func (m *refLoc) cache() []CacheEntry {
	var out []CacheEntry
	for j := range m.bucket {
		for _, e := range m.bucket[j] {
			ce := CacheEntry{Bucket: j, Addr: vs.AddrFrom16(e.addr), Dests: e.dests, LastUse: e.lastuse}
			if m.lblcr {
				ce.LastMod = e.lastmod
			}
			out = append(out, ce)
		}
	}
	return out
}

func sameCache(a, b []CacheEntry) bool {
	return slices.EqualFunc(a, b, func(x, y CacheEntry) bool {
		return x.Bucket == y.Bucket && x.Addr == y.Addr && slices.Equal(x.Dests, y.Dests) &&
			x.LastUse == y.LastUse && x.LastMod == y.LastMod
	})
}

// collidingAddrs returns addresses of 192.0.2.0/24 and 192.0.3.0/24, some
// sharing buckets, so that chains are exercised.
func collidingAddrs() []netip.Addr {
	byBucket := map[int][]netip.Addr{}
	for i := range 1 << 16 {
		a := netip.AddrFrom4([4]byte{10, 1, byte(i >> 8), byte(i)})
		b := hash32Ref(foldRef(a), 10)
		byBucket[b] = append(byBucket[b], a)
	}
	var out []netip.Addr
	for b := 0; len(out) < 24; b += 97 {
		out = append(out, byBucket[b%locTabSize][:3]...)
	}
	for i := range 12 {
		out = append(out, netip.AddrFrom4([4]byte{192, 0, 2, byte(i)}))
	}
	return out
}

func TestLocalityMatchesModel(t *testing.T) {
	addrs := collidingAddrs()
	r := rand.New(rand.NewPCG(51, 52))
	for _, name := range []string{"lblc", "lblcr"} {
		for iter := range 12 {
			fc := clock.NewFake(int64(r.IntN(1000)) * int64(time.Second))
			ds := mkDests(1, 2, 3, 2)
			svc := mkSvc(ds)
			maxSize := 4 + r.IntN(12)
			expire := int64(time.Duration(5+r.IntN(60)) * time.Minute)
			if iter%4 == 0 {
				expire = locExpiration
			}
			s, _ := newLoc(t, name, svc, fc, func(t *locTable) { t.maxSize, t.expire = maxSize, expire })
			m := &refLoc{lblcr: name == "lblcr", expire: expire, maxSize: maxSize}
			m.advance(fc.Now())
			for step := range 1500 {
				switch k := r.IntN(100); {
				case k < 50:
					fc.Advance(time.Duration(r.IntN(20)) * time.Second)
				case k < 65:
					fc.Advance(time.Duration(r.IntN(10)) * time.Minute)
				case k == 65:
					fc.Advance(time.Duration(r.IntN(72)) * time.Hour)
				case k < 80:
					d := ds[r.IntN(len(ds))]
					d.ActiveConns.Store(int32(r.IntN(8)))
					d.InactConns.Store(int32(r.IntN(50)))
				case k < 83:
					ds[r.IntN(len(ds))].Weight.Store(int32(r.IntN(4)))
				case k < 86:
					d := ds[r.IntN(len(ds))]
					d.Flags.Store(d.Flags.Load() ^ vs.DestOverload)
				case k < 88: // remove or bring back a dest
					d := ds[r.IntN(len(ds))]
					d.Flags.Store(d.Flags.Load() ^ vs.DestAvailable)
					var list []*vs.Dest
					for _, x := range ds {
						if x.Available() {
							list = append(list, x)
						}
					}
					svc = mkSvc(list)
					s.Update(svc)
				}
				a := vs.Addr16(addrs[r.IntN(len(addrs))])
				f := &vs.Flow{Proto: vs.TCP, Dst: a}
				want := m.schedule(svc.Dests, a, fc.Now())
				got := s.Schedule(svc, f)
				if got != want {
					t.Fatalf("%s iter %d step %d: got %s want %s", name, iter, step, nameOf(ds, got), nameOf(ds, want))
				}
				if step%10 == 0 || step == 1499 {
					st := s.(Inspector).Inspect()
					m.advance(st.Now)
					if !sameCache(st.Cache, m.cache()) {
						t.Fatalf("%s iter %d step %d: cache\n%+v\nwant\n%+v", name, iter, step, st.Cache, m.cache())
					}
					for _, v := range []struct {
						name string
						want int
					}{{"entries", m.entries}, {"counter", m.counter}, {"rover", m.rover}} {
						if got, _ := st.Var(v.name); got != int64(v.want) {
							t.Fatalf("%s iter %d step %d: %s %d want %d", name, iter, step, v.name, got, v.want)
						}
					}
				}
			}
		}
	}
}

// TestLocalityAllocs: picks for cached addresses allocate nothing; new
// addresses allocate one chunk of entries per locChunk.
func TestLocalityAllocs(t *testing.T) {
	for _, name := range []string{"lblc", "lblcr"} {
		ds := mkDests(1, 1, 1)
		svc := mkSvc(ds)
		s, _ := newLoc(t, name, svc, clock.NewFake(0), nil)
		fs := testFlows(1024)
		i := 0
		a := testing.AllocsPerRun(10*locChunk-1, func() {
			s.Schedule(svc, &fs[i])
			i++
		})
		if a >= 1 {
			t.Errorf("%s: %v allocs per new address", name, a)
		}
		// A cached address whose dest must be replaced (lblc) or added
		// (lblcr, within the entry's inline room) allocates nothing.
		ds[0].ActiveConns.Store(5)
		i = 0
		if a := testing.AllocsPerRun(100, func() {
			s.Schedule(svc, &fs[i%16])
			i++
		}); a != 0 {
			t.Errorf("%s: %v allocs per re-pick", name, a)
		}
	}
}
