package vrrp

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Owner takes and gives back the virtual addresses: the daemon answers
// ARP/NDP for them (and accepts their traffic) only between Acquire and
// Release. A node calls Acquire on becoming master and Release on leaving
// master (and on Stop); calls never overlap for one node.
type Owner interface {
	Acquire(vips []netip.Prefix) error
	Release(vips []netip.Prefix) error
}

// Options are a Node's collaborators. All are optional.
type Options struct {
	// Owner takes the virtual addresses (nil: nobody; the node only
	// elects).
	Owner Owner
	// Logf logs (nil: silent).
	Logf func(format string, args ...any)
	// OnTransition is called after each transition, after the Owner and
	// the announcements, from the node's goroutine: it must not block.
	OnTransition func(Transition)
	// Announce is how many gratuitous ARPs / unsolicited NAs are sent for
	// every address on takeover (0: 5, keepalived's garp_master_repeat),
	// AnnounceGap the pause between them (0: 10 ms).
	Announce    int
	AnnounceGap time.Duration
	// Shell runs notify scripts (nil: /bin/sh).
	Shell string
}

// Stats are a node's counters.
type Stats struct {
	AdvertsSent, AdvertsReceived uint64
	// Dropped counts received datagrams refused by decoding or by the
	// receiver's checks; Errors failed sends and Owner calls.
	Dropped, Errors uint64
	Transitions     uint64
}

// Node runs one virtual router on one interface.
type Node struct {
	cfg    Config
	opt    Options
	expect Expect
	wire   uint16

	sock *rawSocket
	ann  *announcer
	src  netip.Addr
	m    *Machine
	// lp is the event loop the node runs in: its own, or its sync
	// group's.
	lp     *loop
	notify sync.WaitGroup
	// tracks are the interfaces the node tracks: its own (unless
	// DontTrackPrimary) and Config.Track.
	tracks []Track
	// scripts are the tracked scripts with their runners (shared by the
	// loop's nodes, and by every loop that tracks the same script).
	scripts []nodeScript
	// running is scripts, published once the node runs (for Scripts).
	running atomic.Pointer[[]nodeScript]
	// prio is the effective priority, published for status readers.
	prio atomic.Uint32

	state                              atomic.Int32
	sent, recv, dropped, errs, changes atomic.Uint64
	ipID                               uint16
	buf                                []byte
	started                            bool
}

type nodeScript struct {
	t TrackScript
	r *scriptRunner
}

type rxAdvert struct {
	n        *Node
	at       time.Time
	src      netip.Addr
	prio     uint8
	interval time.Duration
}

// NewNode checks cfg and returns a node that is not started.
func NewNode(cfg Config, opt Options) (*Node, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	wire, _ := WireInterval(cfg.Version, cfg.AdvertInt)
	n := &Node{cfg: cfg, opt: opt, wire: wire}
	n.prio.Store(uint32(cfg.Priority))
	if n.opt.Logf == nil {
		n.opt.Logf = func(string, ...any) {}
	}
	if n.opt.Announce <= 0 {
		n.opt.Announce = 5
	}
	if n.opt.AnnounceGap <= 0 {
		n.opt.AnnounceGap = 10 * time.Millisecond
	}
	if n.opt.Shell == "" {
		n.opt.Shell = "/bin/sh"
	}
	n.expect = Expect{Version: cfg.Version, VRID: cfg.VRID, NumAddrs: len(cfg.VIPs), Interval: wire, Unicast: len(cfg.Peers) > 0}
	if cfg.AuthPass != "" {
		n.expect.AuthType = AuthPass
		copy(n.expect.Password[:], cfg.AuthPass)
	}
	return n, nil
}

// Config returns the node's configuration.
func (n *Node) Config() Config { return n.cfg }

// Start opens the sockets in the calling goroutine's network namespace
// (run it on a thread switched into the namespace, e.g. with nsutil.Do, to
// serve another one), subscribes there to the links' state (its
// interface's and the tracked ones'), then runs the node in goroutines of
// its own: the Startup event happens before Start returns (in Fault if a
// tracked interface is down).
func (n *Node) Start() error {
	if n.started {
		return errors.New("vrrp: node already started")
	}
	return startLoop([]*Node{n}, nil)
}

// open resolves the interface and the source address and opens the
// sockets; the Machine is made by the loop.
func (n *Node) open() error {
	ifi, err := net.InterfaceByName(n.cfg.Interface)
	if err != nil {
		return fmt.Errorf("vrrp: interface %s: %w", n.cfg.Interface, err)
	}
	fam := n.cfg.Family()
	n.src = n.cfg.Source
	if !n.src.IsValid() {
		if n.src, err = primaryAddr(ifi, fam); err != nil {
			return err
		}
	}
	if n.sock, err = openRaw(ifi, fam, n.src, len(n.cfg.Peers) == 0); err != nil {
		return err
	}
	if n.ann, err = openAnnouncer(ifi, fam); err != nil {
		n.sock.close()
		return err
	}
	n.tracks = n.tracks[:0]
	if !n.cfg.DontTrackPrimary {
		n.tracks = append(n.tracks, Track{Interface: n.cfg.Interface})
	}
	n.tracks = append(n.tracks, n.cfg.Track...)
	return nil
}

// closeSockets closes what open opened.
func (n *Node) closeSockets() {
	n.sock.close()
	n.ann.close()
}

// trackers lists what the node tracks, as its loop sees it now (up
// tells which interfaces are up).
func (n *Node) trackers(up func(string) bool) []tracked {
	items := make([]tracked, 0, len(n.tracks)+len(n.scripts))
	for _, t := range n.tracks {
		items = append(items, tracked{what: "interface " + t.Interface, weight: t.Weight, reverse: t.Reverse, on: up(t.Interface), known: true})
	}
	for _, s := range n.scripts {
		st := n.lp.scriptStatus[s.r]
		items = append(items, tracked{what: "script " + s.t.Script.Name, script: true, weight: s.t.Weight, reverse: s.t.Reverse,
			on: st == ScriptGood, known: st != ScriptInit})
	}
	return items
}

// newMachine makes the node's Machine with the priority the tracked
// interfaces and scripts give (up tells which interfaces are up).
func (n *Node) newMachine(up func(string) bool) error {
	prio, _ := effective(n.cfg.Priority, n.trackers(up))
	n.prio.Store(uint32(prio))
	m, err := NewMachine(Params{
		Name: n.cfg.Name, Version: n.cfg.Version, Priority: prio, Interval: n.cfg.AdvertInt,
		Preempt: n.cfg.Preempt, PreemptDelay: n.cfg.PreemptDelay, Primary: n.src,
	}, Hooks{Advertise: n.advertise, Transition: n.transition})
	n.m = m
	return err
}

// track applies the state of the links and scripts to the Machine: its
// priority, then its fault condition.
func (n *Node) track(now time.Time, up func(string) bool) {
	prio, faulty := effective(n.cfg.Priority, n.trackers(up))
	if prio != n.m.Priority() {
		n.opt.Logf("vrrp %s: effective priority %d -> %d (tracked interfaces and scripts)", n.cfg.Name, n.m.Priority(), prio)
		_ = n.m.SetPriority(now, prio)
	}
	n.prio.Store(uint32(prio))
	why := "tracked interfaces and scripts good"
	if len(faulty) > 0 {
		why = "tracked " + strings.Join(faulty, ", ")
	}
	n.m.SetFault(now, len(faulty) > 0, why)
}

// tracksScript reports whether the node tracks the script of runner r.
func (n *Node) tracksScript(r *scriptRunner) bool {
	for _, s := range n.scripts {
		if s.r == r {
			return true
		}
	}
	return false
}

// Priority returns the effective priority: the configured one moved by
// the tracked interfaces and scripts (the configured one before Start).
func (n *Node) Priority() uint8 { return uint8(n.prio.Load()) }

// ScriptState is a tracked script as Scripts reports it.
type ScriptState struct {
	Name    string
	Status  ScriptStatus
	Weight  int
	Reverse bool
}

// Scripts returns the tracked scripts in configuration order with their
// current status (ScriptInit before Start). It may be called from any
// goroutine.
func (n *Node) Scripts() []ScriptState {
	if len(n.cfg.Scripts) == 0 {
		return nil
	}
	out := make([]ScriptState, len(n.cfg.Scripts))
	for i, t := range n.cfg.Scripts {
		out[i] = ScriptState{Name: t.Script.Name, Weight: t.Weight, Reverse: t.Reverse}
	}
	if run := n.running.Load(); run != nil {
		for i, s := range *run {
			out[i].Status = s.r.Status()
		}
	}
	return out
}

// tracks reports whether the node tracks the interface ifname.
func (n *Node) tracksLink(ifname string) bool {
	for _, t := range n.tracks {
		if t.Interface == ifname {
			return true
		}
	}
	return false
}

// State returns the node's current state.
func (n *Node) State() State { return State(n.state.Load()) }

// Source returns the node's primary address (valid once started).
func (n *Node) Source() netip.Addr { return n.src }

// Stats returns the counters.
func (n *Node) Stats() Stats {
	return Stats{AdvertsSent: n.sent.Load(), AdvertsReceived: n.recv.Load(), Dropped: n.dropped.Load(),
		Errors: n.errs.Load(), Transitions: n.changes.Load()}
}

// SetPriority changes the base priority (1..255) of a running node; the
// tracked interfaces' weights still apply to it.
func (n *Node) SetPriority(prio uint8) error {
	if !n.started {
		return errors.New("vrrp: node not started")
	}
	if prio == PriorityStop {
		return errors.New("vrrp: priority 0 is reserved for a master that stops")
	}
	return n.lp.do(func(now time.Time) error {
		n.cfg.Priority = prio
		n.track(now, n.lp.isUp)
		return nil
	})
}

// Stop shuts the node down: a master sends an advert of priority 0 (so a
// backup takes over after its skew time) and releases the addresses; the
// stop script runs; the sockets are closed. It waits up to ctx for
// running notify scripts. A node of a sync group is stopped with its
// group (NodeGroup.Stop): Stop refuses it.
func (n *Node) Stop(ctx context.Context) error {
	if !n.started {
		return nil
	}
	if n.lp.group != nil {
		return fmt.Errorf("vrrp: instance %s is a member of sync group %s: stop the group", n.cfg.Name, n.lp.group.cfg.Name)
	}
	n.lp.stop()
	return waitGroupCtx(ctx, &n.notify)
}

// waitGroupCtx waits for wg up to ctx.
func waitGroupCtx(ctx context.Context, wg *sync.WaitGroup) error {
	waited := make(chan struct{})
	go func() { wg.Wait(); close(waited) }()
	select {
	case <-waited:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("vrrp: notify scripts still running: %w", ctx.Err())
	}
}

// readLoop reads, decodes and checks datagrams and hands valid adverts to
// run.
func (n *Node) readLoop() {
	defer n.lp.wg.Done()
	buf := make([]byte, 2048)
	for {
		r, err := n.sock.read(buf)
		if err != nil {
			select {
			case <-n.lp.done:
				return
			default:
			}
			if errors.Is(err, net.ErrClosed) {
				return
			}
			n.dropped.Add(1)
			continue
		}
		at := time.Now()
		var ad Advert
		if n.sock.fam == 4 {
			var h IPv4Header
			ad, h, err = DecodeIPv4(r.msg)
			r.src, r.dst, r.ttl = h.Src, h.Dst, int(h.TTL)
		} else {
			ad, err = Decode(r.msg, r.src, r.dst)
		}
		if err == nil && r.src == n.src {
			continue // our own
		}
		if err == nil && len(n.cfg.Peers) > 0 && !n.isPeer(r.src) {
			err = fmt.Errorf("vrrp: advert from %v, not a unicast peer", r.src)
		}
		if err == nil {
			err = n.expect.Check(&ad, r.ttl)
		}
		if err != nil {
			if !errors.Is(err, ErrOtherVRID) {
				n.dropped.Add(1)
				n.opt.Logf("vrrp %s: dropped a datagram from %v: %v", n.cfg.Name, r.src, err)
			}
			continue
		}
		n.recv.Add(1)
		select {
		case n.lp.rx <- rxAdvert{n: n, at: at, src: r.src, prio: ad.Priority, interval: ad.IntervalDuration()}:
		case <-n.lp.done:
			return
		}
	}
}

func (n *Node) isPeer(a netip.Addr) bool {
	for _, p := range n.cfg.Peers {
		if p == a {
			return true
		}
	}
	return false
}

// advertise is the Machine's Advertise hook.
func (n *Node) advertise(prio uint8) {
	ad := Advert{Version: n.cfg.Version, VRID: n.cfg.VRID, Priority: prio, Interval: n.wire,
		NoPseudoHeader: n.cfg.V3ChecksumAsV2}
	for _, p := range n.cfg.VIPs {
		ad.Addrs = append(ad.Addrs, p.Addr())
	}
	if n.cfg.AuthPass != "" {
		ad.SetPassword(n.cfg.AuthPass)
	}
	dsts := n.cfg.Peers
	if len(dsts) == 0 {
		dsts = []netip.Addr{GroupIPv4}
		if n.sock.fam == 6 {
			dsts = []netip.Addr{GroupIPv6}
		}
	}
	n.ipID++
	for _, dst := range dsts {
		var err error
		if n.sock.fam == 4 {
			n.buf, err = AppendIPv4(n.buf[:0], &ad, IPv4Header{Src: n.src, Dst: dst, TTL: TTL, ID: n.ipID})
		} else {
			n.buf, err = ad.Append(n.buf[:0], n.src, dst)
		}
		if err == nil {
			err = n.sock.write(n.buf, dst)
		}
		if err != nil {
			n.errs.Add(1)
			n.opt.Logf("vrrp %s: advert to %v: %v", n.cfg.Name, dst, err)
			continue
		}
		n.sent.Add(1)
	}
}

// transition is the Machine's Transition hook.
func (n *Node) transition(t Transition) {
	n.state.Store(int32(t.To))
	n.changes.Add(1)
	n.opt.Logf("vrrp %s: %v -> %v (%s)", n.cfg.Name, t.From, t.To, t.Reason)
	if t.From == StateMaster && n.opt.Owner != nil {
		if err := n.opt.Owner.Release(n.cfg.VIPs); err != nil {
			n.errs.Add(1)
			n.opt.Logf("vrrp %s: release addresses: %v", n.cfg.Name, err)
		}
	}
	if t.To == StateMaster {
		if n.opt.Owner != nil {
			if err := n.opt.Owner.Acquire(n.cfg.VIPs); err != nil {
				n.errs.Add(1)
				n.opt.Logf("vrrp %s: acquire addresses: %v", n.cfg.Name, err)
			}
		}
		n.announceBurst()
	}
	switch t.To {
	case StateMaster:
		n.runScript(n.cfg.Notify.Master, "MASTER")
	case StateBackup:
		n.runScript(n.cfg.Notify.Backup, "BACKUP")
	case StateFault:
		n.runScript(n.cfg.Notify.Fault, "FAULT")
	case StateInit:
		n.runScript(n.cfg.Notify.Stop, "STOP")
	}
	if n.opt.OnTransition != nil {
		n.opt.OnTransition(t)
	}
}

// announceBurst sends the first announcement now and the repeats from a
// goroutine (bounded by Announce).
func (n *Node) announceBurst() {
	if err := n.ann.announce(n.cfg.VIPs); err != nil {
		n.errs.Add(1)
		n.opt.Logf("vrrp %s: %v", n.cfg.Name, err)
	}
	if n.opt.Announce <= 1 {
		return
	}
	n.notify.Add(1)
	go func() {
		defer n.notify.Done()
		for i := 1; i < n.opt.Announce; i++ {
			select {
			case <-time.After(n.opt.AnnounceGap):
			case <-n.lp.done:
				return
			}
			if n.State() != StateMaster {
				return
			}
			_ = n.ann.announce(n.cfg.VIPs)
		}
	}()
}

// runScript starts the state's script, then the generic one with
// keepalived's arguments; it does not wait for them.
func (n *Node) runScript(script, state string) {
	prio := strconv.Itoa(int(n.m.Priority()))
	if script != "" {
		n.start(exec.Command(n.opt.Shell, "-c", script))
	}
	if n.cfg.Notify.Any != "" {
		n.start(exec.Command(n.opt.Shell, "-c", n.cfg.Notify.Any+` "$@"`, "notify", "INSTANCE", n.cfg.Name, state, prio))
	}
}

func (n *Node) start(cmd *exec.Cmd) {
	if err := cmd.Start(); err != nil {
		n.errs.Add(1)
		n.opt.Logf("vrrp %s: notify script: %v", n.cfg.Name, err)
		return
	}
	n.notify.Add(1)
	go func() {
		defer n.notify.Done()
		if err := cmd.Wait(); err != nil {
			n.opt.Logf("vrrp %s: notify script %q: %v", n.cfg.Name, cmd.Args, err)
		}
	}()
}
