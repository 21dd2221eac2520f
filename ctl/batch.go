package ctl

import (
	"fmt"
	"slices"
	"sync/atomic"

	"github.com/gdirector/gdirector/sched"
	"github.com/gdirector/gdirector/vs"
)

// Batches: many operations, one publication, all or nothing.
//
// Batch and Replace hand a function a stage: a private Manager with the
// ordinary methods (the same checks, errors and kernel semantics as one
// operation at a time), which publishes to nobody and builds a table only
// when one is read (ipvsadm -L inside -R input). The live Manager
// stays locked meanwhile, so no other writer interleaves. If the function
// fails, the stage is dropped and nothing live has changed: not a table,
// a weight, a counter or the trash. If it succeeds, the live Manager takes
// the stage's final configuration over in one pass and publishes one
// table.
//
// The stage never holds a live object it could change: it works on copies
// of the services and real servers (settings and counters copied), and a
// stand-in for each live scheduler instance that has its name and no
// state. The take-over maps the copies back, so identity survives:
//
//   - a real server that stays keeps its *vs.Dest, with its counters and
//     connections; only a changed setting is stored into it, as
//     EditDest does;
//   - a service that stays keeps its statistics and, while its scheduler's
//     name is unchanged, its scheduler instance and state; a service in
//     which nothing changed keeps even its *vs.Service value, and its
//     scheduler sees no Update;
//   - a real server the stage added comes back from the live trash when
//     the kernel would take it back (counters and all), and removed ones
//     go to the trash, so connections keep their *vs.Dest as ever;
//   - counters the stage zeroed (Zero, ZeroAll, a dest taken back into a
//     re-created service) are zeroed live.
//
// In a Batch a copy is the live object it was made from, so the stage
// follows the kernel exactly: a service deleted and added again in the
// same batch is a new service. In a Replace the stage starts empty and
// its services are matched to live ones by key, its real servers by
// address and port, its FullNAT local addresses by address and interface.

// Changes counts what a Batch or Replace changed.
type Changes struct {
	ServicesAdded, ServicesEdited, ServicesRemoved int
	DestsAdded, DestsEdited, DestsRemoved          int
	// Published is false when nothing changed and no table was
	// published.
	Published bool
}

// String summarizes the changes for a log line.
func (c Changes) String() string {
	if !c.Published {
		return "no change"
	}
	return fmt.Sprintf("services %d added, %d edited, %d removed; real servers %d added, %d edited, %d removed",
		c.ServicesAdded, c.ServicesEdited, c.ServicesRemoved, c.DestsAdded, c.DestsEdited, c.DestsRemoved)
}

// Batch runs fn on a stage that starts as a copy of m's configuration
// (services, real servers, FullNAT local addresses, firewall-mark rules
// and timeouts) and, if fn returns nil, makes the stage's final
// configuration m's in one publication. If fn returns an error, m is left
// exactly as it was and the error is returned. This is ipvsadm -R made
// atomic.
//
// fn must use only the stage, not m (m is locked while fn runs), and must
// not keep the stage after it returns.
func (m *Manager) Batch(fn func(stage *Manager) error) (Changes, error) {
	return m.runStage(true, fn)
}

// Replace is Batch with a stage that starts without services: fn builds
// the whole configuration of services, and m takes it over as its
// difference from the current one. Services are matched by key, real
// servers by address and port, local addresses by address and interface;
// matched ones keep their identity, counters and connections, and only
// changed settings are stored. Firewall-mark rules and timeouts start from
// their current values. This is a configuration reload.
func (m *Manager) Replace(fn func(stage *Manager) error) (Changes, error) {
	return m.runStage(false, fn)
}

func (m *Manager) runStage(copyServices bool, fn func(*Manager) error) (Changes, error) {
	if fn == nil {
		return Changes{}, fmt.Errorf("ctl: nil batch function")
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	g := m.newStage(copyServices)
	if err := fn(g.st); err != nil {
		return Changes{}, err
	}
	return m.commit(g, !copyServices)
}

// keptSched stands in on a stage for a live service's scheduler: it has
// the instance's name, so that an edit naming the same scheduler keeps the
// instance (as EditService does), and no state the stage could change.
type keptSched string

func (k keptSched) Name() string                          { return string(k) }
func (keptSched) Schedule(*vs.Service, *vs.Flow) *vs.Dest { return nil }
func (keptSched) Update(*vs.Service)                      {}

// stage is a staged configuration and its way back to the live objects.
type stage struct {
	st       *Manager
	svc      map[*service]*service // a stage service → the live one it copies
	dest     map[*vs.Dest]*vs.Dest // a stage dest → the live one it copies
	nonZero  map[*vs.Stats]bool    // stage counters copied from non-zero live ones
	timeouts [3]int                // the timeouts the stage started with
}

// newStage builds a stage; m.mu is held.
func (m *Manager) newStage(copyServices bool) *stage {
	g := &stage{
		svc:      map[*service]*service{},
		dest:     map[*vs.Dest]*vs.Dest{},
		nonZero:  map[*vs.Stats]bool{},
		timeouts: m.timeoutsLocked(),
	}
	st := &Manager{
		stage:    true,
		table:    new(atomic.Pointer[vs.Table]),
		conns:    m.conns,
		clock:    m.clock,
		now:      m.now,
		check:    m.check,
		timeouts: g.timeouts,
	}
	for _, r := range m.marks {
		r.Ports = slices.Clone(r.Ports)
		st.marks = append(st.marks, r)
	}
	if copyServices {
		for _, s := range m.services {
			c := &service{id: s.id, key: s.key, conf: s.conf, sched: keptSched(s.sched.Name()),
				stats: new(vs.Stats), laddrs: s.laddrs}
			g.copyStats(c.stats, s.stats)
			c.dests = make([]*vs.Dest, len(s.dests))
			for i, d := range s.dests {
				c.dests[i] = g.copyDest(d)
			}
			g.svc[c] = s
			st.services = append(st.services, c)
		}
		st.reindex()
	}
	st.publish(nil, false)
	g.st = st
	return g
}

// copyStats copies the counters of from into to, remembering whether any
// was non-zero (so that a Zero on the stage can be told apart).
func (g *stage) copyStats(to, from *vs.Stats) {
	to.Conns.Store(from.Conns.Load())
	to.InPkts.Store(from.InPkts.Load())
	to.OutPkts.Store(from.OutPkts.Load())
	to.InBytes.Store(from.InBytes.Load())
	to.OutBytes.Store(from.OutBytes.Load())
	if !statsZero(to) {
		g.nonZero[to] = true
	}
}

// zeroed reports whether the stage zeroed counters it copied: only Zero
// turns a non-zero copy into zeros, since no traffic reaches a stage.
func (g *stage) zeroed(s *vs.Stats) bool { return g.nonZero[s] && statsZero(s) }

func statsZero(s *vs.Stats) bool {
	return s.Conns.Load() == 0 && s.InPkts.Load() == 0 && s.OutPkts.Load() == 0 &&
		s.InBytes.Load() == 0 && s.OutBytes.Load() == 0
}

// copyDest returns a stage copy of a live dest: settings, flags,
// connection counts (which the trash and the listings look at) and
// traffic counters.
func (g *stage) copyDest(d *vs.Dest) *vs.Dest {
	c := &vs.Dest{Addr: d.Addr, Port: d.Port, Addr16: d.Addr16}
	c.Weight.Store(d.Weight.Load())
	c.Fwd.Store(d.Fwd.Load())
	c.UThreshold.Store(d.UThreshold.Load())
	c.LThreshold.Store(d.LThreshold.Load())
	c.Flags.Store(d.Flags.Load())
	c.ActiveConns.Store(d.ActiveConns.Load())
	c.InactConns.Store(d.InactConns.Load())
	c.PersistConns.Store(d.PersistConns.Load())
	g.copyStats(&c.Stats, &d.Stats)
	g.dest[c] = d
	return c
}

// timeoutsLocked returns the timeouts; m.mu is held.
func (m *Manager) timeoutsLocked() [3]int {
	if m.store != nil {
		tcp, fin, udp := m.store.Timeouts()
		return [3]int{tcp, fin, udp}
	}
	return m.timeouts
}

// destSettings returns what an operator set on a dest.
func destSettings(d *vs.Dest) DestConfig {
	return DestConfig{Addr: d.Addr, Port: d.Port, Fwd: d.FwdMethod(), Weight: d.Weight.Load(),
		UThreshold: d.UThreshold.Load(), LThreshold: d.LThreshold.Load()}
}

// staged is one stage service on its way live.
type staged struct {
	ss    *service     // on the stage
	live  *service     // the live service it becomes; nil = a new one
	sched vs.Scheduler // a new instance it needs, or nil
}

// commit makes the stage's configuration m's; m.mu is held. byKey matches
// stage services to live ones by key (Replace). Everything that can fail
// is done before anything live changes.
func (m *Manager) commit(g *stage, byKey bool) (Changes, error) {
	st := g.st
	plan := make([]staged, len(st.services))
	for i, ss := range st.services {
		p := staged{ss: ss, live: g.svc[ss]}
		if p.live == nil && byKey {
			_, p.live = m.find(ss.key)
		}
		if p.live == nil || p.live.sched.Name() != ss.conf.Scheduler {
			sc, err := sched.New(ss.conf.Scheduler)
			if err != nil {
				return Changes{}, &opError{ErrSchedulerNotFound, err}
			}
			p.sched = sc
		}
		plan[i] = p
	}

	var ch Changes
	changed := false
	kept := map[*vs.Dest]bool{}
	inNext := map[*service]bool{}
	// The live dests before the commit: commitService replaces the list
	// of a service that stays, and those it dropped must still be
	// unlinked below.
	before := make(map[*service][]*vs.Dest, len(m.services))
	for _, s := range m.services {
		before[s] = s.dests
	}
	var next, added []*service
	for _, p := range plan {
		s, c := m.commitService(g, p, byKey, kept, &ch)
		changed = changed || c
		inNext[s] = true
		switch {
		case !byKey:
			next = append(next, s)
		case p.live == nil:
			added = append(added, s)
		}
	}
	if byKey {
		// Services that stay keep their place; new ones follow.
		for _, s := range m.services {
			if inNext[s] {
				next = append(next, s)
			}
		}
		next = append(next, added...)
	}
	for _, s := range m.services {
		if !inNext[s] {
			ch.ServicesRemoved++
			changed = true
		}
		for _, d := range before[s] {
			if !kept[d] {
				m.unlink(s, d)
				ch.DestsRemoved++
				changed = true
			}
		}
	}
	m.services = next
	m.reindex()

	if !slices.EqualFunc(m.marks, st.marks, func(a, b vs.MarkRule) bool { return a.Equal(&b) }) {
		m.marks = st.marks
		changed = true
	}
	if st.timeouts != g.timeouts {
		if m.store != nil {
			m.store.SetTimeouts(st.timeouts[0], st.timeouts[1], st.timeouts[2])
		} else {
			m.timeouts = st.timeouts
		}
	}
	if changed {
		m.publish(nil, false)
		ch.Published = true
	}
	return ch, nil
}

// commitService brings one stage service live and reports whether it
// changed. kept collects the live dests of the new configuration.
func (m *Manager) commitService(g *stage, p staged, byKey bool, kept map[*vs.Dest]bool, ch *Changes) (*service, bool) {
	ss, s := p.ss, p.live
	isNew := s == nil
	edited := false
	if isNew {
		s = &service{id: ss.id, key: ss.key, conf: ss.conf, sched: p.sched, stats: &vs.Stats{}}
		ch.ServicesAdded++
	} else {
		if s.conf != ss.conf {
			s.conf = ss.conf
			edited = true
		}
		if p.sched != nil {
			s.sched = p.sched
			edited = true
		}
		if g.zeroed(ss.stats) {
			s.stats.Zero()
		}
	}

	// Real servers. A Replace keeps the live order of those that stay
	// and puts new ones first, as AddDest would; a Batch has the stage's
	// order, which is the kernel's.
	dests := make([]*vs.Dest, 0, len(ss.dests))
	var fresh []*vs.Dest
	destsChanged := false
	for _, sd := range ss.dests {
		c := destSettings(sd)
		d := g.dest[sd]
		if d == nil && byKey && !isNew {
			_, d = lookupDest(s, sd.Addr, sd.Port)
		}
		switch {
		case d == nil:
			if d = m.fromTrash(s, sd.Addr, sd.Port); d == nil {
				d = vs.NewDest(c.Addr, c.Port, c.Fwd, c.Weight)
			}
			apply(d, c)
			ch.DestsAdded++
			fresh = append(fresh, d)
		case !d.Available() || destSettings(d) != c:
			apply(d, c)
			ch.DestsEdited++
			destsChanged = true
		}
		if g.zeroed(&sd.Stats) {
			d.Stats.Zero()
		}
		kept[d] = true
		dests = append(dests, d)
	}
	if byKey && !isNew {
		dests = append(dests[:0], fresh...)
		for _, d := range s.dests {
			if kept[d] {
				dests = append(dests, d)
			}
		}
	}
	destsChanged = destsChanged || !slices.Equal(dests, s.dests)

	las := ss.laddrs
	if byKey && !isNew {
		las = make([]*vs.LocalAddr, len(ss.laddrs))
		for i, la := range ss.laddrs {
			las[i] = la
			for _, have := range s.laddrs {
				if have.Addr == la.Addr && have.Iface == la.Iface {
					las[i] = have
					break
				}
			}
		}
	}
	lasChanged := !slices.Equal(las, s.laddrs)

	if !isNew && !edited && !destsChanged && !lasChanged {
		return s, false
	}
	if !isNew && (edited || lasChanged) {
		ch.ServicesEdited++
	}
	s.dests = dests
	s.laddrs = las
	s.cur = s.value()
	if isNew || p.sched != nil || destsChanged {
		s.sched.Update(s.cur)
	}
	return s, true
}

// stageTable returns a stage's table, built if an operation changed the
// stage since: a stage publishes to nobody, so its operations build no
// table (a batch of n operations would otherwise build n).
func (m *Manager) stageTable() *vs.Table {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.stale || m.table.Load() == nil {
		svcs := make([]*vs.Service, len(m.services))
		for i, s := range m.services {
			if s.cur == nil {
				s.cur = s.value()
			}
			svcs[i] = s.cur
		}
		m.table.Store(vs.NewTableMarks(svcs, m.marks))
		m.stale = false
	}
	return m.table.Load()
}
