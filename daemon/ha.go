package daemon

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"reflect"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gdirector/gdirector/config"
	"github.com/gdirector/gdirector/datapath"
	"github.com/gdirector/gdirector/ipvssync"
	"github.com/gdirector/gdirector/vrrp"
)

// High availability: the configuration's VRRP instances (keepalived's
// vrrp_instance) run as vrrp.Nodes in the daemon, and its lvs_sync_daemon
// as the ipvssync daemons.
//
// Address ownership. A virtual address of a VRRP instance belongs to the
// data plane only while the instance is master: the node's Owner
// (haOwner) marks the instance's addresses owned on Acquire and held back
// on Release, and the daemon hands the data plane every VRRP address and
// the ones held back (datapath.Director.SetOwned), which neither answers
// ARP/NDP for them nor opens connections to them while they are held
// back. An address a virtual_server uses is owned as a service's VIP; any
// other (an LVS-NAT pair's floating gateway of the real servers, on the
// real-server interface) is owned as an extra address: while master the
// data plane answers ARP/NDP for it on the served interface it is placed
// on (the address's dev when that is a served interface, else the one
// whose subnet holds it, else every one) and ICMP echo to it, and the
// host kernel gets a blackhole route for it like for a VIP (daemon.go), so
// it never answers for it either. The node sends the gratuitous ARPs /
// unsolicited neighbour advertisements on takeover on the instance's
// interface; an address placed elsewhere is announced by the data plane
// on its own interfaces (Director.Announce, skipping the instance's), so
// nothing is sent twice. Before a configuration is applied, the addresses
// of the instances it adds are held back (prepare), so a starting backup
// never answers for, or announces, an address its instances carry.
//
// Reload: an instance whose settings did not change keeps running (and
// keeps its state); a changed one is stopped (a master sends priority 0,
// so its peer takes over after its skew time) and started again as a new
// node; a removed one is stopped. Exit stops every node the same way.
//
// Sync groups (vrrp_sync_group): the instances of a group run as one
// vrrp.NodeGroup, in one event loop, so that they change state together
// as keepalived's do (one in FAULT takes the others there, one becoming
// master takes the others along, a master stepping down takes the others
// to backup). A group is the unit of reload: it keeps running only if its
// settings, its members and every member's settings are unchanged;
// otherwise all its members restart. An instance joining or leaving a
// group restarts. The lvs_sync_daemon may follow any member. Each member
// still owns its own addresses through its haOwner; the group's notify
// scripts run with keepalived's GROUP NAME STATE 0 arguments.
//
// Connection synchronisation (lvs_sync_daemon IFACE INSTANCE ...):
// keepalived stops the backup sync daemon and starts the master one when
// the instance becomes master, and the other way round when it becomes
// backup. That loses the established connections on fail-back: the node
// coming back has missed everything sent while it was away, and its
// peer's established connections change no state that would send them
// again before the periodic refresh. gdirector therefore keeps the backup
// daemon running on every node whatever the state (the kernel, and
// ipvssync.Daemons, run master and backup at once; a master's multicast
// does not loop back to its own backup), runs the master daemon while the
// instance is master, has a new master send its whole table at once
// (ipvssync.Daemons.Resync), and has a master that steps down send its
// whole table again before stopping: the node that preempted it learns
// every established connection a few milliseconds after its takeover.
type ha struct {
	dp    haDataPlane
	syncd *ipvssync.Daemons
	logf  func(string, ...any)
	// place returns the served interface an address of a vrrp_instance
	// (with its dev, "" if none) is answered on, "" for every one; nil:
	// its dev. onOwned is called after the set of VRRP addresses handed
	// to the data plane changed (the daemon's blackhole routes and
	// socket filters follow it); nil: nothing. Both are set before the
	// first prepare.
	place   func(a netip.Addr, dev string) string
	onOwned func()

	// mu orders prepare/apply/abort/close (the configuration loader's
	// lock is held around them too).
	mu     sync.Mutex
	nodes  map[string]*haNode
	groups map[string]*haGroup
	syncdc *config.SyncDaemon // the applied lvs_sync_daemon, nil: none
	closed bool

	// pubMu orders SetStandby calls; nodes' Owner calls come from their
	// own goroutines and must not take mu (Stop waits for them).
	pubMu   sync.Mutex
	set     atomic.Pointer[[]*haNode] // the running nodes
	pending atomic.Pointer[[]netip.Addr]
	// placed maps every address of the configurations prepared so far
	// to its interface (place's answer); lastOwned is what publish last
	// handed over (pubMu).
	placed     atomic.Pointer[map[netip.Addr]string]
	lastOwned  []datapath.OwnedAddr
	announcing sync.WaitGroup // Acquire's repeated announcements

	kick     chan struct{} // the sync follower has work
	stopSync chan struct{}
	syncDone chan struct{}
	syncMu   sync.Mutex
	syncWant *config.SyncDaemon // what the follower runs
	syncInst *haNode            // the node whose state it follows
}

// haNode is one running VRRP instance.
type haNode struct {
	cfg   vrrp.Config
	group string          // its sync group, "" for none
	ng    *vrrp.NodeGroup // that group's, set before the node is listed
	node  *vrrp.Node
	owned atomic.Bool
	state atomic.Int32 // vrrp.State, as of the last transition
	since atomic.Int64 // when it entered state, Unix nanoseconds
}

// haGroupCfg is a sync group as the configuration wants it.
type haGroupCfg struct {
	cfg     vrrp.GroupConfig
	members []string
}

// haGroup is one running sync group; its members are in ha.nodes too.
type haGroup struct {
	cfg haGroupCfg
	ng  *vrrp.NodeGroup
}

// haDataPlane is what the VRRP instances drive of the data plane
// (datapath.Director).
type haDataPlane interface {
	SetOwned(extra []datapath.OwnedAddr, standby []netip.Addr)
	Announce(addrs []netip.Addr, skip string)
}

func newHA(dp haDataPlane, syncd *ipvssync.Daemons, logf func(string, ...any)) *ha {
	h := &ha{dp: dp, syncd: syncd, logf: logf, nodes: map[string]*haNode{}, groups: map[string]*haGroup{},
		kick: make(chan struct{}, 1), stopSync: make(chan struct{}), syncDone: make(chan struct{})}
	go h.follow()
	return h
}

// haConfigs returns the node configurations of cfg's VRRP instances and
// checks its lvs_sync_daemon.
func haConfigs(cfg *config.Config) (map[string]vrrp.Config, error) {
	out := map[string]vrrp.Config{}
	if cfg == nil {
		return out, nil
	}
	var errs []error
	for i := range cfg.VRRP {
		in := &cfg.VRRP[i]
		c, err := vrrp.FromConfig(in, cfg.VRRPScripts)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if _, dup := out[c.Name]; dup {
			errs = append(errs, config.Errorf(cmp.Or(in.File, cfg.Path), in.Line, "vrrp_instance %s defined twice", c.Name))
			continue
		}
		out[c.Name] = c
	}
	if sd := cfg.SyncDaemon; sd != nil {
		if _, ok := out[sd.Instance]; !ok {
			errs = append(errs, config.Errorf(cfg.Path, sd.Line, "lvs_sync_daemon: no vrrp_instance %q", sd.Instance))
		}
	}
	if _, err := haGroupConfigs(cfg); err != nil {
		errs = append(errs, err)
	}
	return out, errors.Join(errs...)
}

// haGroupConfigs returns cfg's sync groups, checked: every member is a
// vrrp_instance of cfg and in one group only.
func haGroupConfigs(cfg *config.Config) (map[string]haGroupCfg, error) {
	out := map[string]haGroupCfg{}
	if cfg == nil {
		return out, nil
	}
	inst := map[string]bool{}
	for i := range cfg.VRRP {
		inst[cfg.VRRP[i].Name] = true
	}
	var errs []error
	groupOf := map[string]string{}
	for i := range cfg.VRRPSyncGroups {
		g := &cfg.VRRPSyncGroups[i]
		file := cmp.Or(g.File, cfg.Path)
		bad := func(format string, args ...any) {
			errs = append(errs, config.Errorf(file, g.Line, "vrrp_sync_group %s: "+format, append([]any{g.Name}, args...)...))
		}
		if _, dup := out[g.Name]; dup {
			bad("defined twice")
			continue
		}
		if len(g.Instances) == 0 {
			bad("no instances")
			continue
		}
		ok := true
		for _, m := range g.Instances {
			switch {
			case !inst[m]:
				bad("no vrrp_instance %s", m)
				ok = false
			case groupOf[m] != "":
				bad("vrrp_instance %s is already in vrrp_sync_group %s", m, groupOf[m])
				ok = false
			default:
				groupOf[m] = g.Name
			}
		}
		if ok {
			out[g.Name] = haGroupCfg{cfg: vrrp.GroupFromConfig(g), members: slices.Clone(g.Instances)}
		}
	}
	return out, errors.Join(errs...)
}

// keeps returns the running instances that keep running under want and
// groups (the rest is stopped and started again): a lone instance whose
// settings did not change and that joined no group; every member of a
// group whose settings, members and members' settings did not change.
// h.mu is held.
func (h *ha) keeps(want map[string]vrrp.Config, groups map[string]haGroupCfg) (nodes, keptGroups map[string]bool) {
	nodes, keptGroups = map[string]bool{}, map[string]bool{}
	inGroup := map[string]bool{}
	for _, g := range groups {
		for _, m := range g.members {
			inGroup[m] = true
		}
	}
	for name, n := range h.nodes {
		if c, ok := want[name]; ok && n.group == "" && !inGroup[name] && reflect.DeepEqual(n.cfg, c) {
			nodes[name] = true
		}
	}
	for name, g := range h.groups {
		wg, ok := groups[name]
		if !ok || !reflect.DeepEqual(g.cfg, wg) {
			continue
		}
		same := true
		for _, m := range g.cfg.members {
			if c, ok := want[m]; !ok || h.nodes[m] == nil || !reflect.DeepEqual(h.nodes[m].cfg, c) {
				same = false
			}
		}
		if same {
			keptGroups[name] = true
			for _, m := range g.cfg.members {
				nodes[m] = true
			}
		}
	}
	return nodes, keptGroups
}

// prepare checks cfg's VRRP instances and holds back the addresses of
// those it will start, before the services of cfg are published. Nothing
// changes on error.
func (h *ha) prepare(cfg *config.Config) error {
	want, err := haConfigs(cfg)
	if err != nil {
		return err
	}
	groups, _ := haGroupConfigs(cfg)
	h.mu.Lock()
	defer h.mu.Unlock()
	h.placeAddrs(cfg, true)
	kept, _ := h.keeps(want, groups)
	var held []netip.Addr
	for name, c := range want {
		if kept[name] {
			continue // keeps running, owning what it owns
		}
		for _, p := range c.VIPs {
			held = append(held, p.Addr())
		}
	}
	h.pending.Store(&held)
	h.publish()
	return nil
}

// abort undoes prepare after the configuration was refused.
func (h *ha) abort() {
	h.pending.Store(nil)
	h.publish()
}

// apply makes the running instances and sync daemon those of cfg
// (prepare came first). Errors are the instances that did not start.
func (h *ha) apply(cfg *config.Config) error {
	want, err := haConfigs(cfg)
	h.mu.Lock()
	defer h.mu.Unlock()
	defer func() { h.pending.Store(nil); h.publish() }()
	if h.closed {
		return nil
	}
	h.placeAddrs(cfg, false)
	var errs []error
	if err != nil {
		errs = append(errs, err)
	}
	groups, gerr := haGroupConfigs(cfg)
	if gerr != nil {
		groups = map[string]haGroupCfg{} // already in err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	kept, keptGroups := h.keeps(want, groups)
	for name, g := range h.groups {
		if !keptGroups[name] {
			h.logf("gdirector: vrrp sync group %s removed or changed; stopping it", name)
			h.stopGroup(ctx, name, g)
		}
	}
	for name, n := range h.nodes {
		if !kept[name] && n.group == "" {
			h.logf("gdirector: vrrp instance %s removed or changed; stopping it", name)
			h.stopNode(ctx, name, n)
		}
	}
	gnames := make([]string, 0, len(groups))
	for name := range groups {
		gnames = append(gnames, name)
	}
	slices.Sort(gnames)
	inGroup := map[string]bool{}
	for _, gname := range gnames {
		g := groups[gname]
		for _, m := range g.members {
			inGroup[m] = true
		}
		if h.groups[gname] != nil {
			continue
		}
		if err := h.startGroup(gname, g, want); err != nil {
			errs = append(errs, fmt.Errorf("vrrp sync group %s: %w", gname, err))
		}
	}
	names := make([]string, 0, len(want))
	for name := range want {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		if h.nodes[name] != nil || inGroup[name] {
			continue
		}
		n, err := h.newNode(want[name], "")
		if err == nil {
			// Listed before Start: the node may acquire at once.
			h.nodes[name] = n
			h.storeSet()
			if err = n.node.Start(); err != nil {
				delete(h.nodes, name)
				h.storeSet()
			}
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("vrrp instance %s: %w", name, err))
		}
	}
	var sd *config.SyncDaemon
	if cfg != nil && cfg.SyncDaemon != nil {
		cp := *cfg.SyncDaemon
		cp.Line = 0
		sd = &cp
	}
	h.syncMu.Lock()
	h.syncWant = sd
	h.syncInst = nil
	if sd != nil {
		h.syncInst = h.nodes[sd.Instance]
	}
	h.syncMu.Unlock()
	h.poke()
	return errors.Join(errs...)
}

// newNode makes the node of the instance c (of the sync group group, ""
// for none), not started.
func (h *ha) newNode(c vrrp.Config, group string) (*haNode, error) {
	n := &haNode{cfg: c, group: group}
	n.state.Store(int32(vrrp.StateInit))
	n.since.Store(time.Now().UnixNano())
	node, err := vrrp.NewNode(c, vrrp.Options{
		Owner: haOwner{h, n},
		Logf:  h.logf,
		OnTransition: func(t vrrp.Transition) {
			n.since.Store(t.At.UnixNano())
			n.state.Store(int32(t.To))
			h.poke()
		},
	})
	n.node = node
	return n, err
}

// startGroup starts the sync group name with its members (of want); h.mu
// is held.
func (h *ha) startGroup(name string, g haGroupCfg, want map[string]vrrp.Config) error {
	var members []*haNode
	var nodes []*vrrp.Node
	for _, m := range g.members {
		c, ok := want[m]
		if !ok {
			return fmt.Errorf("no vrrp_instance %s", m)
		}
		n, err := h.newNode(c, name)
		if err != nil {
			return fmt.Errorf("vrrp instance %s: %w", m, err)
		}
		members = append(members, n)
		nodes = append(nodes, n.node)
	}
	ng, err := vrrp.NewNodeGroup(g.cfg, nodes, vrrp.GroupOptions{Logf: h.logf})
	if err != nil {
		return err
	}
	// Listed before Start: the members may acquire at once.
	for _, n := range members {
		n.ng = ng
		h.nodes[n.cfg.Name] = n
	}
	h.storeSet()
	if err := ng.Start(); err != nil {
		for _, n := range members {
			delete(h.nodes, n.cfg.Name)
		}
		h.storeSet()
		return err
	}
	h.groups[name] = &haGroup{cfg: g, ng: ng}
	return nil
}

// stopGroup stops the group g and its members and forgets them; h.mu is
// held.
func (h *ha) stopGroup(ctx context.Context, name string, g *haGroup) {
	if err := g.ng.Stop(ctx); err != nil {
		h.logf("gdirector: vrrp sync group %s: %v", name, err)
	}
	for _, m := range g.cfg.members {
		delete(h.nodes, m)
	}
	delete(h.groups, name)
	h.storeSet()
}

// stopNode stops n and forgets it; h.mu is held.
func (h *ha) stopNode(ctx context.Context, name string, n *haNode) {
	if err := n.node.Stop(ctx); err != nil {
		h.logf("gdirector: vrrp instance %s: %v", name, err)
	}
	delete(h.nodes, name)
	h.storeSet()
}

func (h *ha) storeSet() {
	set := make([]*haNode, 0, len(h.nodes))
	for _, n := range h.nodes {
		set = append(set, n)
	}
	h.set.Store(&set)
}

// close stops every node (masters send priority 0 and give their
// addresses back) and the sync daemons the configuration started.
func (h *ha) close() {
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return
	}
	h.closed = true
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	for name, n := range h.nodes {
		if n.group != "" {
			continue
		}
		wg.Add(1)
		go func() { defer wg.Done(); _ = n.node.Stop(ctx) }()
		h.logf("gdirector: vrrp instance %s stopping", name)
	}
	for name, g := range h.groups {
		wg.Add(1)
		go func() { defer wg.Done(); _ = g.ng.Stop(ctx) }()
		h.logf("gdirector: vrrp sync group %s stopping", name)
	}
	wg.Wait()
	h.announcing.Wait()
	h.nodes = map[string]*haNode{}
	h.groups = map[string]*haGroup{}
	h.storeSet()
	h.mu.Unlock()
	close(h.stopSync)
	<-h.syncDone
}

// placeAddrs records where cfg's VRRP addresses are answered (keeping
// the earlier placements when merge: a prepared configuration may still be
// refused); h.mu is held.
func (h *ha) placeAddrs(cfg *config.Config, merge bool) {
	m := map[netip.Addr]string{}
	if old := h.placed.Load(); merge && old != nil {
		for a, dev := range *old {
			m[a] = dev
		}
	}
	if cfg != nil {
		for i := range cfg.VRRP {
			for _, v := range cfg.VRRP[i].VIPs {
				a := v.Prefix.Addr()
				if h.place != nil {
					m[a] = h.place(a, v.Dev)
				} else {
					m[a] = v.Dev
				}
			}
		}
	}
	h.placed.Store(&m)
}

// publish hands the data plane every address of the running (and
// prepared) instances, and those held back: the addresses of the
// instances that are not master and those prepare reserved, less those of
// the masters.
func (h *ha) publish() {
	h.pubMu.Lock()
	defer h.pubMu.Unlock()
	owned := map[netip.Addr]bool{}
	held := map[netip.Addr]bool{}
	all := map[netip.Addr]bool{}
	if p := h.pending.Load(); p != nil {
		for _, a := range *p {
			held[a] = true
			all[a] = true
		}
	}
	if s := h.set.Load(); s != nil {
		for _, n := range *s {
			for _, p := range n.cfg.VIPs {
				all[p.Addr()] = true
				if n.owned.Load() {
					owned[p.Addr()] = true
				} else {
					held[p.Addr()] = true
				}
			}
		}
	}
	var out []netip.Addr
	for a := range held {
		if !owned[a] {
			out = append(out, a)
		}
	}
	slices.SortFunc(out, func(a, b netip.Addr) int { return a.Compare(b) })
	var placed map[netip.Addr]string
	if p := h.placed.Load(); p != nil {
		placed = *p
	}
	extra := make([]datapath.OwnedAddr, 0, len(all))
	for a := range all {
		extra = append(extra, datapath.OwnedAddr{Addr: a, Dev: placed[a]})
	}
	slices.SortFunc(extra, func(a, b datapath.OwnedAddr) int { return a.Addr.Compare(b.Addr) })
	h.dp.SetOwned(extra, out)
	if !slices.Equal(extra, h.lastOwned) {
		h.lastOwned = extra
		if h.onOwned != nil {
			h.onOwned()
		}
	}
}

// haOwner is a node's vrrp.Owner: the data plane's standby set.
type haOwner struct {
	h *ha
	n *haNode
}

// haAnnounce and haAnnounceGap repeat the data plane's announcements of
// the addresses the node does not announce, as the node repeats its own
// (vrrp.Options.Announce).
const (
	haAnnounce    = 5
	haAnnounceGap = 10 * time.Millisecond
)

func (o haOwner) Acquire(vips []netip.Prefix) error {
	o.n.owned.Store(true)
	o.h.publish()
	// The node announces on its interface; addresses answered on other
	// interfaces (the real servers' gateway of a NAT pair) are
	// announced there by the data plane.
	addrs := make([]netip.Addr, len(vips))
	for i, p := range vips {
		addrs[i] = p.Addr()
	}
	skip := o.n.cfg.Interface
	o.h.dp.Announce(addrs, skip)
	o.h.announcing.Add(1)
	go func() {
		defer o.h.announcing.Done()
		for i := 1; i < haAnnounce; i++ {
			time.Sleep(haAnnounceGap)
			if !o.n.owned.Load() {
				return
			}
			o.h.dp.Announce(addrs, skip)
		}
	}()
	return nil
}

func (o haOwner) Release([]netip.Prefix) error {
	o.n.owned.Store(false)
	o.h.publish()
	return nil
}

// States returns each instance's state, by name.
func (h *ha) States() map[string]vrrp.State {
	out := map[string]vrrp.State{}
	if s := h.set.Load(); s != nil {
		for _, n := range *s {
			out[n.cfg.Name] = vrrp.State(n.state.Load())
		}
	}
	return out
}

func (h *ha) poke() {
	select {
	case h.kick <- struct{}{}:
	default:
	}
}

// follow runs the sync daemons as the configuration and the followed
// instance's state want, off the nodes' goroutines (starting and stopping
// a daemon opens and closes sockets and waits for its goroutine).
func (h *ha) follow() {
	defer close(h.syncDone)
	var running *config.SyncDaemon // the configuration the daemons run with
	master := false
	stop := func() {
		if running == nil {
			return
		}
		if master {
			h.syncd.Resync()
			_ = h.syncd.StopDaemon(ipvssync.Master)
		}
		_ = h.syncd.StopDaemon(ipvssync.Backup)
		h.logf("gdirector: lvs_sync_daemon on %s stopped", running.Interface)
		running, master = nil, false
	}
	for {
		select {
		case <-h.stopSync:
			stop()
			return
		case <-h.kick:
		}
		h.syncMu.Lock()
		want, inst := h.syncWant, h.syncInst
		h.syncMu.Unlock()
		if running != nil && (want == nil || *want != *running) {
			stop()
		}
		if want == nil {
			continue
		}
		dc := ipvssync.DaemonConfig{Interface: want.Interface, SyncID: want.SyncID, MaxLen: want.MaxLen,
			Group: want.Group, Port: want.Port, TTL: want.TTL}
		if running == nil {
			dc.State = ipvssync.Backup
			if err := h.syncd.StartDaemon(dc); err != nil {
				h.logf("gdirector: lvs_sync_daemon: backup: %v", err)
				continue // retried at the next transition or reload
			}
			running = want
		}
		wantMaster := inst != nil && vrrp.State(inst.state.Load()) == vrrp.StateMaster
		switch {
		case wantMaster && !master:
			dc.State = ipvssync.Master
			if err := h.syncd.StartDaemon(dc); err != nil {
				h.logf("gdirector: lvs_sync_daemon: master: %v", err)
				continue
			}
			master = true
			h.syncd.Resync()
			h.logf("gdirector: lvs_sync_daemon: %s is master: sending connections on %s (syncid %d)", want.Instance, want.Interface, want.SyncID)
		case !wantMaster && master:
			h.syncd.Resync()
			if err := h.syncd.StopDaemon(ipvssync.Master); err != nil {
				h.logf("gdirector: lvs_sync_daemon: stop master: %v", err)
			}
			master = false
			h.logf("gdirector: lvs_sync_daemon: %s is not master: receiving only", want.Instance)
		}
	}
}

// haPrepare and haAbort are the loader's calls of prepare and abort
// (nothing without HA, as in tests).
func (c *configLoader) haPrepare(cfg *config.Config) error {
	if c.ha == nil {
		_, err := haConfigs(cfg)
		return err
	}
	return c.ha.prepare(cfg)
}

func (c *configLoader) haAbort() {
	if c.ha != nil {
		c.ha.abort()
	}
}

// ifacePlacer places VRRP addresses among the served interfaces ifaces:
// the address's dev when it names one of them, else the first whose
// kernel addresses' subnet holds it, else "" (every interface).
func ifacePlacer(ifaces []string) func(a netip.Addr, dev string) string {
	return func(a netip.Addr, dev string) string {
		if dev != "" && slices.Contains(ifaces, dev) {
			return dev
		}
		for _, name := range ifaces {
			ifi, err := net.InterfaceByName(name)
			if err != nil {
				continue
			}
			addrs, err := ifi.Addrs()
			if err != nil {
				continue
			}
			var subnets []netip.Prefix
			for _, ad := range addrs {
				if ipn, ok := ad.(*net.IPNet); ok {
					ip, _ := netip.AddrFromSlice(ipn.IP)
					ones, _ := ipn.Mask.Size()
					subnets = append(subnets, netip.PrefixFrom(ip.Unmap(), ones))
				}
			}
			if subnetHolds(subnets, a) {
				return name
			}
		}
		return ""
	}
}

// subnetHolds reports whether one of subnets (an interface's addresses
// with their prefix lengths) holds a; host routes (/32, /128) hold
// nothing else.
func subnetHolds(subnets []netip.Prefix, a netip.Addr) bool {
	a = a.Unmap()
	for _, p := range subnets {
		if p.IsValid() && p.Bits() < a.BitLen() && p.Masked().Contains(a) {
			return true
		}
	}
	return false
}

// withOwned adds to vips (the table's addresses) the VRRP addresses the
// data plane owns besides them, once each: the host's blackhole routes,
// socket filters and multicast memberships cover both.
func withOwned(vips []netip.Addr, extra []datapath.OwnedAddr) []netip.Addr {
	if len(extra) == 0 {
		return vips
	}
	seen := make(map[netip.Addr]bool, len(vips)+len(extra))
	for _, a := range vips {
		seen[a] = true
	}
	for _, o := range extra {
		if !seen[o.Addr] {
			seen[o.Addr] = true
			vips = append(vips, o.Addr)
		}
	}
	return vips
}
