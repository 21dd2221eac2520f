package vrrp

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os/exec"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// loop is the event loop of one node, or of the nodes of a sync group:
// the only goroutine that touches their Machines (and the SyncGroup), fed
// by one reader per node, the links' state and control calls.
//
// Link state comes from an rtnetlink subscription (RTNLGRP_LINK) opened
// where Start runs, so it follows the interfaces of the namespace the
// sockets are in (polling /sys/class/net/IF/operstate would read the
// namespace sysfs was mounted in, not the calling thread's, and wake up
// ten times a second for nothing). An interface is up while it is
// administratively up and running (IFF_UP and IFF_RUNNING: its carrier is
// on), as keepalived judges it; one that does not exist is down.
type loop struct {
	nodes []*Node
	group *NodeGroup // nil: a node alone

	rx     chan rxAdvert
	ctl    chan func(time.Time)
	links  chan linkState
	done   chan struct{}
	closed chan struct{}
	wg     sync.WaitGroup
	once   sync.Once

	up map[string]bool // the loop goroutine's (and startLoop's) only

	// The tracked scripts: their runners (one reference each), the
	// status the loop last applied (the loop goroutine's and
	// startLoop's only), their changes, and the subscriptions.
	runners      []*scriptRunner
	scriptStatus map[*scriptRunner]ScriptStatus
	scriptEv     chan scriptEvent
	unsubscribe  []func()
}

type scriptEvent struct {
	r  *scriptRunner
	st ScriptStatus
}

type linkState struct {
	name string
	up   bool
}

// startLoop opens the nodes' sockets, subscribes to the links, makes the
// Machines (and the group's SyncGroup), applies the links' state, starts
// every Machine and runs the loop. Nothing stays open on error.
func startLoop(nodes []*Node, g *NodeGroup) (err error) {
	lp := &loop{nodes: nodes, group: g, rx: make(chan rxAdvert, 64), ctl: make(chan func(time.Time)),
		links: make(chan linkState, 16), done: make(chan struct{}), closed: make(chan struct{}), up: map[string]bool{},
		scriptStatus: map[*scriptRunner]ScriptStatus{}, scriptEv: make(chan scriptEvent, 16)}
	var opened []*Node
	defer func() {
		if err != nil {
			for _, n := range opened {
				n.closeSockets()
			}
			lp.releaseScripts()
		}
	}()
	for _, n := range nodes {
		if err = n.open(); err != nil {
			return err
		}
		opened = append(opened, n)
		n.lp = lp
		n.scripts = n.scripts[:0]
		for _, t := range n.cfg.Scripts {
			var r *scriptRunner
			if r, err = lp.script(t.Script, n.opt); err != nil {
				return fmt.Errorf("vrrp instance %s: %w", n.cfg.Name, err)
			}
			n.scripts = append(n.scripts, nodeScript{t: t, r: r})
		}
	}
	lp.firstResults()
	updates := make(chan netlink.LinkUpdate, 16)
	if err = netlink.LinkSubscribeWithOptions(updates, lp.done, netlink.LinkSubscribeOptions{}); err != nil {
		return fmt.Errorf("vrrp: subscribe to link changes: %w", err)
	}
	// Subscribed first, read second: a change in between comes again.
	for _, n := range nodes {
		for _, t := range n.tracks {
			if _, seen := lp.up[t.Interface]; !seen {
				lp.up[t.Interface] = linkUp(t.Interface)
			}
		}
	}
	var machines []*Machine
	for _, n := range nodes {
		if err = n.newMachine(lp.isUp); err != nil {
			close(lp.done)
			return err
		}
		machines = append(machines, n.m)
	}
	if g != nil {
		if g.sg, err = NewSyncGroup(g.cfg.Name, g.transition, machines...); err != nil {
			close(lp.done)
			return err
		}
		g.lp = lp
	}
	now := time.Now()
	for _, n := range nodes {
		run := slices.Clone(n.scripts)
		n.running.Store(&run)
		n.started = true
		n.opt.Logf("vrrp %s: starting on %s, VRID %d, priority %d, version %d, from %v", n.cfg.Name, n.cfg.Interface, n.cfg.VRID, n.m.Priority(), n.cfg.Version, n.src)
		n.track(now, lp.isUp)
	}
	for _, n := range nodes {
		n.m.Startup(now)
	}
	lp.wg.Add(2 + len(nodes))
	go lp.watch(updates)
	for _, n := range nodes {
		go n.readLoop()
	}
	go lp.run()
	return nil
}

func (lp *loop) isUp(name string) bool { return lp.up[name] }

// script returns the loop's runner of script cfg, acquiring it and
// subscribing to its changes the first time.
func (lp *loop) script(cfg ScriptConfig, opt Options) (*scriptRunner, error) {
	r, err := acquireScript(cfg, opt.Shell, opt.Logf)
	if err != nil {
		return nil, err
	}
	if slices.Contains(lp.runners, r) {
		releaseScript(r) // the loop holds one reference
		return r, nil
	}
	lp.runners = append(lp.runners, r)
	lp.unsubscribe = append(lp.unsubscribe, r.subscribe(func(st ScriptStatus) {
		select {
		case lp.scriptEv <- scriptEvent{r, st}:
		case <-lp.done:
		}
	}))
	return r, nil
}

// firstResults waits for the scripts without a status to end their first
// run (each within its timeout, and the 2 s a stopped run is given) and
// takes every script's status: the instances start with it, as
// keepalived's leave their INIT state only then. Changes from now on
// come as events.
func (lp *loop) firstResults() {
	for _, r := range lp.runners {
		t := time.NewTimer(r.cfg.Timeout + 3*time.Second)
		select {
		case <-r.first:
		case <-t.C:
		}
		t.Stop()
		lp.scriptStatus[r] = r.Status()
	}
}

// releaseScripts ends the loop's subscriptions and releases its runners
// (the last user's release stops a runner).
func (lp *loop) releaseScripts() {
	for _, u := range lp.unsubscribe {
		u()
	}
	for _, r := range lp.runners {
		releaseScript(r)
	}
	lp.unsubscribe, lp.runners = nil, nil
}

// linkUp reads an interface's state (in the calling thread's namespace).
func linkUp(name string) bool {
	ifi, err := net.InterfaceByName(name)
	return err == nil && ifi.Flags&net.FlagUp != 0 && ifi.Flags&net.FlagRunning != 0
}

// watch hands the subscription's link changes to run. It drains the
// subscription until it ends (the library's reader blocks otherwise).
func (lp *loop) watch(updates chan netlink.LinkUpdate) {
	defer lp.wg.Done()
	for u := range updates {
		if u.Link == nil || u.Link.Attrs() == nil {
			continue
		}
		st := linkState{name: u.Link.Attrs().Name,
			up: u.Header.Type == unix.RTM_NEWLINK && u.IfInfomsg.Flags&unix.IFF_UP != 0 && u.IfInfomsg.Flags&unix.IFF_RUNNING != 0}
		select {
		case lp.links <- st:
		case <-lp.done:
		}
	}
}

// run is the event loop.
func (lp *loop) run() {
	defer lp.wg.Done()
	defer close(lp.closed)
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		var next time.Time
		for _, n := range lp.nodes {
			if d := n.m.Deadline(); !d.IsZero() && (next.IsZero() || d.Before(next)) {
				next = d
			}
		}
		if !next.IsZero() {
			timer.Reset(time.Until(next))
		}
		select {
		case ad := <-lp.rx:
			ad.n.m.Advert(ad.at, ad.src, ad.prio, ad.interval)
		case <-timer.C:
			now := time.Now()
			for _, n := range lp.nodes {
				n.m.Tick(now)
			}
		case f := <-lp.ctl:
			f(time.Now())
		case ls := <-lp.links:
			if was, ok := lp.up[ls.name]; ok && was != ls.up {
				lp.up[ls.name] = ls.up
				now := time.Now()
				for _, n := range lp.nodes {
					if n.tracksLink(ls.name) {
						n.opt.Logf("vrrp %s: interface %s is %s", n.cfg.Name, ls.name, map[bool]string{true: "up", false: "down"}[ls.up])
						n.track(now, lp.isUp)
					}
				}
			}
		case ev := <-lp.scriptEv:
			if lp.scriptStatus[ev.r] != ev.st {
				lp.scriptStatus[ev.r] = ev.st
				now := time.Now()
				for _, n := range lp.nodes {
					if n.tracksScript(ev.r) {
						n.opt.Logf("vrrp %s: script %s is %s", n.cfg.Name, ev.r.cfg.Name, ev.st)
						n.track(now, lp.isUp)
					}
				}
			}
		case <-lp.done:
			now := time.Now()
			for _, n := range lp.nodes {
				n.m.Shutdown(now)
				n.sock.close()
			}
			lp.releaseScripts()
			return
		}
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
	}
}

// do runs f in the loop and returns its error.
func (lp *loop) do(f func(time.Time) error) error {
	errc := make(chan error, 1)
	select {
	case lp.ctl <- func(now time.Time) { errc <- f(now) }:
		return <-errc
	case <-lp.closed:
		return errors.New("vrrp: node stopped")
	}
}

// stop shuts every Machine down and waits for the loop's goroutines.
func (lp *loop) stop() {
	lp.once.Do(func() {
		close(lp.done)
		lp.wg.Wait()
		for _, n := range lp.nodes {
			n.ann.close()
		}
	})
}

// GroupConfig is a sync group (keepalived's vrrp_sync_group) as a
// NodeGroup runs it.
type GroupConfig struct {
	Name string
	// Notify are the group's scripts: Master, Backup, Fault on the
	// group entering that state, Stop when it stops, Any on every change
	// with keepalived's arguments GROUP NAME STATE 0 appended.
	Notify Notify
}

// GroupOptions are a NodeGroup's collaborators. All are optional.
type GroupOptions struct {
	Logf func(format string, args ...any)
	// OnTransition is called after each change of the group's state, from
	// the group's goroutine: it must not block.
	OnTransition func(GroupTransition)
	// Shell runs notify scripts (nil: /bin/sh).
	Shell string
}

// NodeGroup runs nodes as one sync group (SyncGroup): their Machines in
// one event loop, so that they change state together.
type NodeGroup struct {
	cfg    GroupConfig
	opt    GroupOptions
	nodes  []*Node
	sg     *SyncGroup
	lp     *loop
	notify sync.WaitGroup
	state  atomic.Int32 // State, as of the last transition
}

// State returns the group's state (Init before Start and after Stop).
func (g *NodeGroup) State() State { return State(g.state.Load()) }

// NewNodeGroup groups nodes that are not started (each in one group at
// most).
func NewNodeGroup(cfg GroupConfig, nodes []*Node, opt GroupOptions) (*NodeGroup, error) {
	if cfg.Name == "" {
		return nil, errors.New("vrrp: sync group without a name")
	}
	if len(nodes) == 0 {
		return nil, fmt.Errorf("vrrp: sync group %s has no instance", cfg.Name)
	}
	for i, n := range nodes {
		if n.started {
			return nil, fmt.Errorf("vrrp: sync group %s: instance %s is running", cfg.Name, n.cfg.Name)
		}
		for _, o := range nodes[:i] {
			if o == n || o.cfg.Name == n.cfg.Name {
				return nil, fmt.Errorf("vrrp: sync group %s: instance %s listed twice", cfg.Name, n.cfg.Name)
			}
		}
	}
	if opt.Logf == nil {
		opt.Logf = func(string, ...any) {}
	}
	if opt.Shell == "" {
		opt.Shell = "/bin/sh"
	}
	return &NodeGroup{cfg: cfg, opt: opt, nodes: nodes}, nil
}

// Start starts every node of the group, as Node.Start does, in one loop.
func (g *NodeGroup) Start() error {
	if g.lp != nil {
		return errors.New("vrrp: sync group already started")
	}
	return startLoop(g.nodes, g)
}

// Stop stops every node (masters send priority 0) and waits up to ctx
// for the notify scripts.
func (g *NodeGroup) Stop(ctx context.Context) error {
	if g.lp == nil {
		return nil
	}
	g.lp.stop()
	var errs []error
	for _, n := range g.nodes {
		errs = append(errs, waitGroupCtx(ctx, &n.notify))
	}
	errs = append(errs, waitGroupCtx(ctx, &g.notify))
	return errors.Join(errs...)
}

// Config returns the group's configuration.
func (g *NodeGroup) Config() GroupConfig { return g.cfg }

// Nodes returns the group's nodes.
func (g *NodeGroup) Nodes() []*Node { return g.nodes }

// transition is the SyncGroup's hook: the group's notify scripts.
func (g *NodeGroup) transition(t GroupTransition) {
	g.state.Store(int32(t.To))
	g.opt.Logf("vrrp sync group %s: %v -> %v (%s)", g.cfg.Name, t.From, t.To, t.Reason)
	state := t.To.String()
	var script string
	switch t.To {
	case StateMaster:
		script = g.cfg.Notify.Master
	case StateBackup:
		script = g.cfg.Notify.Backup
	case StateFault:
		script = g.cfg.Notify.Fault
	case StateInit:
		script, state = g.cfg.Notify.Stop, "STOP"
	}
	if script != "" {
		g.start(exec.Command(g.opt.Shell, "-c", script))
	}
	if g.cfg.Notify.Any != "" {
		g.start(exec.Command(g.opt.Shell, "-c", g.cfg.Notify.Any+` "$@"`, "notify", "GROUP", g.cfg.Name, state, "0"))
	}
	if g.opt.OnTransition != nil {
		g.opt.OnTransition(t)
	}
}

func (g *NodeGroup) start(cmd *exec.Cmd) {
	if err := cmd.Start(); err != nil {
		g.opt.Logf("vrrp sync group %s: notify script: %v", g.cfg.Name, err)
		return
	}
	g.notify.Add(1)
	go func() {
		defer g.notify.Done()
		if err := cmd.Wait(); err != nil {
			g.opt.Logf("vrrp sync group %s: notify script %q: %v", g.cfg.Name, cmd.Args, err)
		}
	}()
}
