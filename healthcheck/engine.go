package healthcheck

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"reflect"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gdirector/gdirector/config"
	"github.com/gdirector/gdirector/ctl"
	"github.com/gdirector/gdirector/vs"
)

// Clock is the engine's time source: when a real server's state changed,
// and the waits between attempts. Tests substitute a fake.
type Clock interface {
	Now() time.Time
	After(d time.Duration) <-chan time.Time
}

type realClock struct{}

func (realClock) Now() time.Time                         { return time.Now() }
func (realClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

// Options configures an Engine. Every field may be left zero.
type Options struct {
	// Logf receives one line per state change and failure; nil = silent.
	Logf func(format string, args ...any)
	// RunCommand runs MISC_CHECK commands and the notify and quorum
	// commands; nil = ExecCommand.
	RunCommand RunFunc
	// NotifyTimeout bounds a notify or quorum command; 0 =
	// DefaultNotifyTimeout.
	NotifyTimeout time.Duration
	// ShutdownTimeout bounds the commands Run still runs after its
	// context ends; 0 = DefaultShutdownTimeout.
	ShutdownTimeout time.Duration

	// Test hooks.

	// Clock replaces the system clock.
	Clock Clock
	// Probe, if set, replaces the built-in checkers: it runs one attempt
	// of check c against target. The checks are still validated.
	Probe func(ctx context.Context, c *config.Check, target netip.AddrPort) Result
	// Warmup returns the random delay of a check's first attempt, below
	// max (Check.Warmup); nil = uniform.
	Warmup func(max time.Duration) time.Duration
}

// DestHealth is the health of one real server, for metrics and status.
type DestHealth struct {
	Service vs.ServiceKey
	Addr    netip.Addr
	Port    uint16
	// Up is the checks' verdict: every check passes (no checks: up).
	Up bool
	// Since is when Up last changed (or when the engine first had the
	// real server).
	Since time.Time
	// LastError is the error of a check whose latest attempt failed (the
	// first such check, in configuration order), "" if none did.
	LastError string
	// Checks is how many checks the real server has.
	Checks int
}

// destKey identifies a real server of a service.
type destKey struct {
	svc  vs.ServiceKey
	addr netip.Addr
	port uint16
}

// Engine runs the health checks of a configuration and keeps a
// ctl.Manager's table equal to the configuration as the checks' verdicts
// shape it. It is safe for concurrent use.
type Engine struct {
	mgr   *ctl.Manager
	opt   Options
	clock Clock

	mu        sync.Mutex
	cfg       *config.Config
	svcs      []*svcState
	ownsMarks bool // the applied configuration had mark rules
	running   bool
	runCtx    context.Context
	wg        sync.WaitGroup
	queue     []notice
	kick      chan struct{}

	verdicts atomic.Pointer[map[destKey]bool]
}

// svcState is a service of the applied configuration and its quorum.
type svcState struct {
	conf     *config.Service
	key      vs.ServiceKey
	label    string
	quorumUp bool
	dests    []*destState
}

// destState is a real server and its checks.
type destState struct {
	svc       *svcState
	conf      *config.Dest
	key       destKey
	up        bool
	since     time.Time
	announced bool // a first verdict of down was notified (alpha)
	checks    []*checker
}

// checker is one check of a target: its settings, its prober, its
// dampened state and, while Run runs, its goroutine. Identical checks of
// the same target (see probeKey) are one checker whose verdict every real
// server that has the check shares (dests), as keepalived runs one
// checker per real server of a virtual_server_group, whatever the number
// of virtual addresses.
type checker struct {
	spec  spec
	pr    prober
	dests []*destState // the real servers it decides, in configuration order
	alpha bool         // started down (alpha): only alpha checks share it
	damper
	dyn     int32 // weight set by a dynamic MISC_CHECK
	hasDyn  bool
	lastErr string
	fixed   bool // checktype on/off: no attempts
	cancel  context.CancelFunc
}

// notice is a command to run for a state change.
type notice struct {
	what string
	cmd  Command
}

// New returns an engine that applies configurations to mgr. It checks
// nothing until Run.
func New(mgr *ctl.Manager, opt Options) *Engine {
	if opt.RunCommand == nil {
		opt.RunCommand = ExecCommand
	}
	if opt.NotifyTimeout <= 0 {
		opt.NotifyTimeout = DefaultNotifyTimeout
	}
	if opt.ShutdownTimeout <= 0 {
		opt.ShutdownTimeout = DefaultShutdownTimeout
	}
	if opt.Warmup == nil {
		opt.Warmup = func(m time.Duration) time.Duration { return rand.N(m) }
	}
	e := &Engine{mgr: mgr, opt: opt, clock: opt.Clock, kick: make(chan struct{}, 1)}
	if e.clock == nil {
		e.clock = realClock{}
	}
	e.verdicts.Store(&map[destKey]bool{})
	return e
}

func (e *Engine) logf(format string, args ...any) {
	if e.opt.Logf != nil {
		e.opt.Logf(format, args...)
	}
}

// errAbort ends the validation stage (nothing of it is kept).
var errAbort = errors.New("validated")

// Apply makes c the desired configuration. It first validates all of it:
// every service, real server, sorry server, local address, mark rule and
// timeout on a stage of the Manager that is then dropped (so the
// Manager's own restrictions apply and nothing changes), and every check.
// A bad configuration changes nothing, and the error names its line.
// Then, in one ctl.Manager.Replace, the services are published with the
// current health of each real server: unchanged services and real
// servers keep their identity, counters and connections. Checks that did
// not change (same settings, same target) keep running with their state;
// removed ones stop; new ones start, down with alpha and up without it
// (a changed check of the same kind and target takes over its
// predecessor's state, as keepalived migrates checkers on reload).
//
// c must not be modified after Apply.
func (e *Engine) Apply(c *config.Config) (ctl.Changes, error) {
	if c == nil {
		return ctl.Changes{}, errors.New("healthcheck: no configuration")
	}
	fresh, err := e.prepare(c)
	if err != nil {
		return ctl.Changes{}, err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	marks := len(c.Marks) > 0 || e.ownsMarks
	if _, err := e.mgr.Replace(func(st *ctl.Manager) error {
		if err := buildFull(st, c, marks); err != nil {
			return err
		}
		return errAbort
	}); !errors.Is(err, errAbort) {
		return ctl.Changes{}, err
	}

	var notes []notice
	adopt := e.reconcile(fresh, &notes)
	ch, err := e.mgr.Replace(func(st *ctl.Manager) error {
		if err := buildExtras(st, c, marks); err != nil {
			return err
		}
		return buildEffective(st, fresh, c.Path)
	})
	if err != nil {
		return ctl.Changes{}, err
	}

	// Commit: the new state becomes the engine's.
	keep := map[*checker]bool{}
	for c, fc := range adopt {
		c.dests, c.alpha = fc.dests, fc.alpha
		keep[c] = true
	}
	for _, s := range e.svcs {
		for _, d := range s.dests {
			for _, c := range d.checks {
				if !keep[c] && c.cancel != nil {
					c.cancel()
					c.cancel = nil
				}
			}
		}
	}
	e.cfg, e.svcs, e.ownsMarks = c, fresh, len(c.Marks) > 0
	if e.running {
		for _, s := range e.svcs {
			for _, d := range s.dests {
				for _, c := range d.checks {
					if !keep[c] {
						e.startLocked(c, true)
					}
				}
			}
		}
	}
	e.updateVerdicts()
	e.enqueue(notes)
	e.logf("healthcheck: applied %s: %v", configName(c), ch)
	return ch, nil
}

func configName(c *config.Config) string {
	if c.Path != "" {
		return c.Path
	}
	return "configuration"
}

// probeKey buckets checks that may be one checker: same target, same
// kind; sameCheck decides.
type probeKey struct {
	target netip.AddrPort
	kind   config.CheckKind
}

func keyOf(c *checker) probeKey { return probeKey{c.spec.target, c.spec.check.Kind} }

// shareKey buckets the checks of a configuration that are merged into one
// checker: the same probe starting in the same state.
type shareKey struct {
	probeKey
	alpha bool
}

// prepare builds the state of a configuration from scratch, validating
// every check (the errors name the check's line). Checks that are the
// same check of the same target (sameCheck: everything but Line and File
// equal, the same environment) and start in the same state (alpha or
// not) become one checker shared by their real servers. A MISC_CHECK's
// environment names its service and real server, so MISC_CHECKs are
// shared only within one real server of one service.
func (e *Engine) prepare(c *config.Config) ([]*svcState, error) {
	now := e.clock.Now()
	var svcs []*svcState
	shared := map[shareKey][]*checker{}
	for i := range c.Services {
		sc := &c.Services[i]
		if sc.Quorum < 0 || sc.Hysteresis < 0 {
			return nil, config.Locate(c.Path, sc.Pos()).Errorf("virtual server %s: negative quorum or hysteresis", serviceLabel(sc))
		}
		s := &svcState{conf: sc, key: sc.Key(), label: serviceLabel(sc)}
		for j := range sc.Dests {
			dc := &sc.Dests[j]
			d := &destState{svc: s, conf: dc, since: now,
				key: destKey{svc: s.key, addr: dc.Addr.Unmap().WithZone(""), port: dc.Port}}
			dap := netip.AddrPortFrom(d.key.addr, d.key.port)
			alpha := d.alpha()
		checks:
			for k := range dc.Checks {
				ck := &dc.Checks[k]
				sp := resolve(*ck, dap)
				if ck.Kind == config.CheckMisc {
					sp.env = destEnv(s, d)
				}
				sk := shareKey{probeKey{sp.target, ck.Kind}, alpha}
				for _, ch := range shared[sk] {
					if ch.dests[len(ch.dests)-1] != d && sameCheck(&ch.spec, &sp) {
						ch.dests = append(ch.dests, d)
						d.checks = append(d.checks, ch)
						continue checks
					}
				}
				pr, err := newProber(sp, e.opt.RunCommand, sp.env)
				if err != nil {
					return nil, config.Locate(c.Path, ck.Pos(), dc.Pos(), sc.Pos()).Errorf("%v check of real server %v in virtual server %s: %v",
						ck.Kind, dap, s.label, err)
				}
				ch := &checker{spec: sp, pr: pr, dests: []*destState{d}, alpha: alpha}
				ch.up = !alpha
				switch ck.Kind {
				case config.CheckOn:
					ch.up, ch.hasRun, ch.fixed = true, true, true
				case config.CheckOff:
					ch.up, ch.hasRun, ch.fixed = false, true, true
					ch.lastErr = "checktype off"
				}
				shared[sk] = append(shared[sk], ch)
				d.checks = append(d.checks, ch)
			}
			d.up = d.allUp()
			s.dests = append(s.dests, d)
		}
		svcs = append(svcs, s)
	}
	return svcs, nil
}

// alpha reports whether the real server starts down until its checks pass
// (keepalived alpha, on its virtual server or on itself).
func (d *destState) alpha() bool { return d.svc.conf.Alpha || d.conf.Alpha }

// reconcile carries the state of the running configuration over to
// fresh (built by prepare): checks by settings and target, services by
// key, real servers by address and port. It returns the running checkers
// fresh adopts, each with the fresh checker it stands for: the caller
// gives them that checker's real servers once the configuration is
// published. Notifications of the changes go to notes. e.mu is held; nothing of e's state changes.
func (e *Engine) reconcile(fresh []*svcState, notes *[]notice) map[*checker]*checker {
	adopt := e.adoptCheckers(fresh)

	// The real servers that stay: fresh → running.
	prev := map[*destState]*destState{}
	oldSvc := map[vs.ServiceKey]*svcState{}
	for _, s := range e.svcs {
		oldSvc[s.key] = s
	}
	pairs := make([]*svcState, len(fresh)) // the running service of each fresh one
	seenSvc := map[*svcState]bool{}
	for i, s := range fresh {
		os := oldSvc[s.key]
		if os == nil || seenSvc[os] {
			continue
		}
		seenSvc[os] = true
		pairs[i] = os
		oldDest := map[destKey]*destState{}
		for _, d := range os.dests {
			oldDest[d.key] = d
		}
		seenDest := map[*destState]bool{}
		for _, d := range s.dests {
			if od := oldDest[d.key]; od != nil && !seenDest[od] {
				seenDest[od] = true
				prev[d] = od
			}
		}
	}

	// Changed checks of the same kind and target take over the state of
	// their predecessor in the same real server.
	carried := map[*checker]bool{}
	for _, s := range fresh {
		for _, d := range s.dests {
			if od := prev[d]; od != nil {
				carryChecks(od, d, adopt, carried)
			}
		}
	}
	// New checks: alpha ones start down unless each of their real servers
	// was up with no failing check (keepalived's migrate_checkers); a
	// real server that is up with passing checks stays up.
	decided := map[*checker]bool{}
	for _, s := range fresh {
		for _, d := range s.dests {
			for _, c := range d.checks {
				if adopt[c] != nil || c.hasRun || c.fixed || decided[c] {
					continue
				}
				decided[c] = true
				c.up = true
				if !c.alpha {
					continue
				}
				for _, cd := range c.dests {
					od := prev[cd]
					if od == nil || !od.up || failing(cd, adopt) {
						c.up = false
						break
					}
				}
			}
		}
	}

	for i, s := range fresh {
		os := pairs[i]
		if os == nil {
			for _, d := range s.dests {
				d.up = d.allUp() // its checks may be running ones
			}
			e.initQuorum(s, notes)
			continue
		}
		s.quorumUp = os.quorumUp
		kept := map[*destState]bool{}
		for _, d := range s.dests {
			od := prev[d]
			if od == nil {
				d.up = d.allUp()
				continue
			}
			kept[od] = true
			d.since, d.announced, d.up = od.since, od.announced, od.up
			e.settleDest(d, notes)
		}
		for _, od := range os.dests {
			if !kept[od] && od.up {
				e.logf("healthcheck: real server %v removed from virtual server %s", addrPort(od), os.label)
				*notes = append(*notes, destNotice(od, false))
			}
		}
		e.updateQuorum(s, notes)
	}
	for _, os := range e.svcs {
		if seenSvc[os] {
			continue
		}
		for _, od := range os.dests {
			if od.up {
				*notes = append(*notes, destNotice(od, false))
			}
		}
		if os.quorumUp {
			*notes = append(*notes, quorumNotice(os, false, 0))
		}
	}
	return adopt
}

// adoptCheckers replaces every checker of fresh that a running checker
// already is (the same check of the same target, sameCheck) by the
// running one, which goes on with its state and takes over the real
// servers of the fresh one; a running checker is adopted once, by
// preference by a checker that starts in its state (alpha or not).
func (e *Engine) adoptCheckers(fresh []*svcState) map[*checker]*checker {
	running := map[probeKey][]*checker{}
	indexed := map[*checker]bool{}
	for _, s := range e.svcs {
		for _, d := range s.dests {
			for _, c := range d.checks {
				if !indexed[c] {
					indexed[c] = true
					running[keyOf(c)] = append(running[keyOf(c)], c)
				}
			}
		}
	}
	adopt := map[*checker]*checker{}
	by := map[*checker]*checker{} // fresh → running; nil: none
	for _, s := range fresh {
		for _, d := range s.dests {
			for i, fc := range d.checks {
				oc, done := by[fc]
				if !done {
					oc = pickRunning(running[keyOf(fc)], fc, adopt)
					by[fc] = oc
					if oc != nil {
						adopt[oc] = fc
					}
				}
				if oc != nil {
					d.checks[i] = oc
				}
			}
		}
	}
	return adopt
}

// pickRunning returns the running checker fc can be, or nil.
func pickRunning(cands []*checker, fc *checker, adopt map[*checker]*checker) *checker {
	var other *checker
	for _, oc := range cands {
		if adopt[oc] != nil || !sameCheck(&oc.spec, &fc.spec) {
			continue
		}
		if oc.alpha == fc.alpha {
			return oc
		}
		if other == nil {
			other = oc
		}
	}
	return other
}

// carryChecks gives the changed checks of d (fresh) the state of a check
// of the same kind and target that od, the same real server in the
// running configuration, had. carried collects the checks given a state
// (a check shared by several real servers takes the first).
func carryChecks(od, d *destState, adopt map[*checker]*checker, carried map[*checker]bool) {
	used := map[*checker]bool{}
	for _, c := range d.checks {
		used[c] = true // running checkers d goes on with
	}
	for _, c := range d.checks {
		if adopt[c] != nil || c.fixed || carried[c] {
			continue
		}
		for _, oc := range od.checks {
			if !used[oc] && !oc.fixed && oc.spec.check.Kind == c.spec.check.Kind && oc.spec.target == c.spec.target {
				used[oc] = true
				c.up, c.hasRun, c.lastErr = oc.up, oc.hasRun, oc.lastErr
				c.dyn, c.hasDyn = oc.dyn, oc.hasDyn
				carried[c] = true
				break
			}
		}
	}
}

// failing reports whether d has a check with a verdict of down (a running
// one, or one that took a running one's state).
func failing(d *destState, adopt map[*checker]*checker) bool {
	for _, c := range d.checks {
		if (adopt[c] != nil || c.hasRun) && !c.up {
			return true
		}
	}
	return false
}

// sameCheck reports whether two checks are the same check of the same
// target (their lines and files may differ) with the same environment.
func sameCheck(a, b *spec) bool {
	if a.target != b.target || !slices.Equal(a.env, b.env) {
		return false
	}
	x, y := a.check, b.check
	x.Line, y.Line, x.File, y.File = 0, 0, "", ""
	return reflect.DeepEqual(x, y)
}

// settleDest brings d's state in line with its checks: up when all pass.
// A change is logged and notified; the caller updates the quorum.
func (e *Engine) settleDest(d *destState, notes *[]notice) {
	up := d.allUp()
	if up != d.up {
		d.up, d.since, d.announced = up, e.clock.Now(), true
		state := "down"
		if up {
			state = "up"
		}
		e.logf("healthcheck: real server %v of virtual server %s is %s", addrPort(d), d.svc.label, state)
		*notes = append(*notes, destNotice(d, up))
	}
}

func (d *destState) allUp() bool {
	for _, c := range d.checks {
		if !c.up {
			return false
		}
	}
	return true
}

// weight is the real server's weight while up: the configured one, moved
// by what dynamic MISC_CHECKs set (keepalived adds each one's difference).
func (d *destState) weight() int32 {
	w := int64(d.conf.Weight)
	for _, c := range d.checks {
		if c.hasDyn {
			w += int64(c.dyn) - int64(d.conf.Weight)
		}
	}
	return int32(min(max(w, 0), 1<<31-1))
}

// liveWeight is the sum of the weights of the real servers that are up.
func (s *svcState) liveWeight() int64 {
	var sum int64
	for _, d := range s.dests {
		if d.up {
			sum += int64(d.weight())
		}
	}
	return sum
}

// quorum returns the service's quorum (at least 1) and hysteresis.
func (s *svcState) quorum() (q, h int64) {
	return int64(max(s.conf.Quorum, 1)), int64(max(s.conf.Hysteresis, 0))
}

// initQuorum sets the quorum state of a service new to the engine, as
// keepalived does at start: up when the live weight reaches Quorum +
// Hysteresis. A service that starts down with a sorry server runs its
// QuorumDown command (keepalived's "starting with quorum down" as it puts
// the sorry server in); otherwise the start notifies nothing.
func (e *Engine) initQuorum(s *svcState, notes *[]notice) {
	q, h := s.quorum()
	sum := s.liveWeight()
	s.quorumUp = sum >= q+h
	if !s.quorumUp && s.conf.Sorry != nil {
		e.logf("healthcheck: virtual server %s starts with quorum down (%d < %d+%d): sorry server %v in",
			s.label, sum, q, h, sorryAddr(s))
		*notes = append(*notes, quorumNotice(s, false, sum))
	}
}

// updateQuorum is keepalived's update_quorum_state: a service without
// quorum gains it when the live weight reaches Quorum + Hysteresis, and
// one with quorum loses it when the weight falls below Quorum -
// Hysteresis or to zero.
func (e *Engine) updateQuorum(s *svcState, notes *[]notice) {
	q, h := s.quorum()
	sum := s.liveWeight()
	switch {
	case !s.quorumUp && sum >= q+h:
		s.quorumUp = true
		e.logf("healthcheck: virtual server %s gained quorum (%d >= %d+%d)", s.label, sum, q, h)
		*notes = append(*notes, quorumNotice(s, true, sum))
	case s.quorumUp && (sum == 0 || sum < q-h):
		s.quorumUp = false
		e.logf("healthcheck: virtual server %s lost quorum (%d < %d-%d)", s.label, sum, q, h)
		*notes = append(*notes, quorumNotice(s, false, sum))
	}
}

// Run runs the checks until ctx ends, applying what they find to the
// Manager, and runs the notify and quorum commands in order. When ctx
// ends it stops the checks, runs the commands still pending and, for
// services with Omega, the notify-down commands of the real servers that
// are up and the quorum-down command of those with quorum (keepalived at
// shutdown), all within ShutdownTimeout, and returns nil. Apply may be
// called before and while Run runs; Run may be called again after it
// returned, but not twice at once.
func (e *Engine) Run(ctx context.Context) error {
	e.mu.Lock()
	if e.running {
		e.mu.Unlock()
		return errors.New("healthcheck: Run is already running")
	}
	e.running, e.runCtx = true, ctx
	for _, s := range e.svcs {
		for _, d := range s.dests {
			for _, c := range d.checks {
				e.startLocked(c, true)
			}
		}
	}
	base, cancelBase := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelBase()
	stop := make(chan struct{})
	e.wg.Add(1)
	go e.notifier(base, stop)
	e.mu.Unlock()

	<-ctx.Done()

	e.mu.Lock()
	e.running = false
	var notes []notice
	for _, s := range e.svcs {
		for _, d := range s.dests {
			for _, c := range d.checks {
				if c.cancel != nil {
					c.cancel()
					c.cancel = nil
				}
			}
			if s.conf.Omega && d.up {
				notes = append(notes, destNotice(d, false))
			}
		}
		if s.conf.Omega && s.quorumUp {
			notes = append(notes, quorumNotice(s, false, 0))
		}
	}
	e.enqueue(notes)
	e.mu.Unlock()
	close(stop)
	t := time.AfterFunc(e.opt.ShutdownTimeout, cancelBase)
	e.wg.Wait()
	t.Stop()
	return nil
}

// startLocked starts c's goroutine; e.mu is held and Run runs. warm
// delays the first attempt by the check's random warmup.
func (e *Engine) startLocked(c *checker, warm bool) {
	if c.fixed || c.cancel != nil {
		return
	}
	ctx, cancel := context.WithCancel(e.runCtx)
	c.cancel = cancel
	var delay time.Duration
	if warm && c.spec.check.Warmup > 0 {
		delay = e.opt.Warmup(c.spec.check.Warmup)
	}
	e.wg.Add(1)
	go e.loop(ctx, c, delay)
}

// loop runs c's attempts until ctx ends.
func (e *Engine) loop(ctx context.Context, c *checker, delay time.Duration) {
	defer e.wg.Done()
	for {
		if delay > 0 {
			select {
			case <-ctx.Done():
				return
			case <-e.clock.After(delay):
			}
		}
		if ctx.Err() != nil {
			return
		}
		actx, cancel := context.WithTimeout(ctx, c.spec.timeout)
		var res Result
		if e.opt.Probe != nil {
			res = e.opt.Probe(actx, &c.spec.check, c.spec.target)
		} else {
			res = c.pr.probe(actx)
		}
		cancel()
		delay = e.report(ctx, c, res)
	}
}

// report records an attempt's result and returns the delay before the
// next one.
func (e *Engine) report(ctx context.Context, c *checker, res Result) time.Duration {
	e.mu.Lock()
	defer e.mu.Unlock()
	if ctx.Err() != nil {
		return 0 // stopped meanwhile: the result is of no use
	}
	ok := res.Err == nil
	first := !c.hasRun
	changed, retrying := c.step(ok, c.spec.check.Retry, c.spec.rise)
	weightChanged := false
	if ok {
		c.lastErr = ""
		if res.HasWeight != c.hasDyn || res.HasWeight && res.Weight != c.dyn {
			c.hasDyn, c.dyn = res.HasWeight, res.Weight
			weightChanged = true
		}
	} else {
		c.lastErr = res.Err.Error()
		if changed && c.hasDyn {
			c.hasDyn, c.dyn = false, 0
			weightChanged = true
		}
	}
	switch {
	case changed && ok:
		e.logf("healthcheck: %v of %s passes", c.spec.check.Kind, c.where())
	case changed || !ok && first:
		e.logf("healthcheck: %v of %s fails: %v", c.spec.check.Kind, c.where(), res.Err)
	case retrying:
		e.logf("healthcheck: %v of %s fails (retry %d of %d): %v",
			c.spec.check.Kind, c.where(), c.retries, c.spec.check.Retry, res.Err)
	}
	var notes []notice
	if changed || weightChanged {
		for _, d := range c.dests {
			e.settleDest(d, &notes)
			e.updateQuorum(d.svc, &notes)
		}
		e.publishLocked()
		e.updateVerdicts()
	}
	for _, d := range c.dests {
		if first && !ok && !d.up && !d.announced && d.alpha() {
			// keepalived notifies the first verdict of an alpha checker
			// that confirms the real server down.
			d.announced = true
			notes = append(notes, destNotice(d, false))
		}
	}
	e.enqueue(notes)
	return next(retrying, &c.spec)
}

// where names the real servers a checker decides, for logs.
func (c *checker) where() string {
	d := c.dests[0]
	w := fmt.Sprintf("real server %v in virtual server %s", addrPort(d), d.svc.label)
	if n := len(c.dests) - 1; n > 0 {
		w += fmt.Sprintf(" and %d more", n)
	}
	return w
}

// publishLocked makes the Manager's table the configuration with the
// current health; e.mu is held.
func (e *Engine) publishLocked() {
	path := ""
	if e.cfg != nil {
		path = e.cfg.Path
	}
	ch, err := e.mgr.Replace(func(st *ctl.Manager) error { return buildEffective(st, e.svcs, path) })
	if err != nil {
		e.logf("healthcheck: publishing the health of the real servers failed: %v", err)
		return
	}
	if ch.Published {
		e.logf("healthcheck: %v", ch)
	}
}

// updateVerdicts publishes the verdicts Verdict reads; e.mu is held.
func (e *Engine) updateVerdicts() {
	m := map[destKey]bool{}
	for _, s := range e.svcs {
		for _, d := range s.dests {
			if len(d.checks) > 0 {
				m[d.key] = d.up
			}
		}
	}
	e.verdicts.Store(&m)
}

// Verdict reports the checks' verdict on real server d of service svc:
// known is false when no check watches it (a real server without checks,
// a sorry server, one the configuration does not have). Its signature is
// metrics.HealthFunc's; it is safe for concurrent use and takes no lock.
func (e *Engine) Verdict(svc *vs.Service, d *vs.Dest) (up, known bool) {
	up, known = (*e.verdicts.Load())[destKey{svc: svc.Key, addr: d.Addr, port: d.Port}]
	return up, known
}

// Health returns the health of every real server of the applied
// configuration, in configuration order (sorry servers are not listed).
func (e *Engine) Health() []DestHealth {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []DestHealth
	for _, s := range e.svcs {
		for _, d := range s.dests {
			h := DestHealth{Service: s.key, Addr: d.key.addr, Port: d.key.port, Up: d.up,
				Since: d.since, Checks: len(d.checks)}
			for _, c := range d.checks {
				if c.lastErr != "" {
					h.LastError = c.lastErr
					break
				}
			}
			out = append(out, h)
		}
	}
	return out
}

// enqueue queues notices for the notifier; e.mu is held.
func (e *Engine) enqueue(notes []notice) {
	added := false
	for _, n := range notes {
		if n.cmd.Line != "" {
			e.queue = append(e.queue, n)
			added = true
		}
	}
	if added {
		select {
		case e.kick <- struct{}{}:
		default:
		}
	}
}

// notifier runs queued commands in order until stop is closed and the
// queue is empty. base bounds them all (it ends ShutdownTimeout after
// shutdown began).
func (e *Engine) notifier(base context.Context, stop <-chan struct{}) {
	defer e.wg.Done()
	for {
		e.mu.Lock()
		var n notice
		have := len(e.queue) > 0
		if have {
			n = e.queue[0]
			e.queue[0] = notice{}
			e.queue = e.queue[1:]
		}
		e.mu.Unlock()
		if !have {
			select {
			case <-e.kick:
				continue
			case <-stop:
			}
			e.mu.Lock()
			empty := len(e.queue) == 0
			e.mu.Unlock()
			if empty {
				return
			}
			continue
		}
		if base.Err() != nil {
			e.logf("healthcheck: %s: not run, shutdown timeout passed", n.what)
			continue
		}
		ctx, cancel := context.WithTimeout(base, e.opt.NotifyTimeout)
		status, err := e.opt.RunCommand(ctx, n.cmd)
		cancel()
		switch {
		case err != nil:
			e.logf("healthcheck: %s: %v", n.what, err)
		case status != 0:
			e.logf("healthcheck: %s: exit status %d", n.what, status)
		}
	}
}

// Notices and their environment.

func destNotice(d *destState, up bool) notice {
	cmd, ev := d.conf.NotifyDown, "down"
	if up {
		cmd, ev = d.conf.NotifyUp, "up"
	}
	return notice{what: fmt.Sprintf("notify_%s of real server %v in virtual server %s", ev, addrPort(d), d.svc.label),
		cmd: Command{Line: cmd, Env: append(destEnv(d.svc, d), "GDIRECTOR_EVENT="+ev)}}
}

func quorumNotice(s *svcState, up bool, sum int64) notice {
	cmd, ev := s.conf.QuorumDown, "down"
	if up {
		cmd, ev = s.conf.QuorumUp, "up"
	}
	q, h := s.quorum()
	env := append(serviceEnv(s), "GDIRECTOR_EVENT="+ev,
		fmt.Sprintf("GDIRECTOR_QUORUM=%d", q), fmt.Sprintf("GDIRECTOR_HYSTERESIS=%d", h),
		fmt.Sprintf("GDIRECTOR_WEIGHT_SUM=%d", sum))
	return notice{what: fmt.Sprintf("quorum_%s of virtual server %s", ev, s.label), cmd: Command{Line: cmd, Env: env}}
}

func serviceEnv(s *svcState) []string {
	env := []string{"GDIRECTOR_SERVICE=" + s.label}
	sc := s.conf
	if sc.FwMark != 0 {
		return append(env, "GDIRECTOR_PROTO=fwm", fmt.Sprintf("GDIRECTOR_FWMARK=%d", sc.FwMark))
	}
	proto := map[vs.Proto]string{vs.TCP: "tcp", vs.UDP: "udp", vs.SCTP: "sctp"}[sc.Proto]
	return append(env, "GDIRECTOR_PROTO="+proto, "GDIRECTOR_VIP="+sc.Addr.String(), fmt.Sprintf("GDIRECTOR_VPORT=%d", sc.Port))
}

func destEnv(s *svcState, d *destState) []string {
	return append(serviceEnv(s), "GDIRECTOR_RIP="+d.key.addr.String(), fmt.Sprintf("GDIRECTOR_RPORT=%d", d.key.port))
}

// serviceLabel names a service in logs and notifications.
func serviceLabel(s *config.Service) string {
	if s.Name != "" {
		return s.Name
	}
	if s.FwMark != 0 {
		return fmt.Sprintf("FWM %d", s.FwMark)
	}
	return fmt.Sprintf("%v %v", s.Proto, netip.AddrPortFrom(s.Addr, s.Port))
}

func addrPort(d *destState) netip.AddrPort { return netip.AddrPortFrom(d.key.addr, d.key.port) }

func sorryAddr(s *svcState) netip.AddrPort {
	return netip.AddrPortFrom(s.conf.Sorry.Addr.Unmap(), s.conf.Sorry.Port)
}
