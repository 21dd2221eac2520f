package datapath

import (
	"context"
	"fmt"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gdirector/gdirector/conntrack"
	"github.com/gdirector/gdirector/forward"
	"github.com/gdirector/gdirector/forward/fullnat"
	"github.com/gdirector/gdirector/internal/clock"
	"github.com/gdirector/gdirector/link"
	"github.com/gdirector/gdirector/trace"
	"github.com/gdirector/gdirector/vs"
)

// Config wires a Director.
type Config struct {
	// Devices are the interfaces the director serves, one device each;
	// they are also the first lane's (worker's) devices and the ones the
	// slow path (ARP, NDP, parked frames) writes to.
	Devices []link.Device
	// Queues are the devices of further lanes: Queues[k][i] is lane k+1's
	// device on the interface of Devices[i], typically another socket of
	// the PACKET_FANOUT group Devices[i] belongs to
	// (afpacket.OpenFanout). nil: one lane.
	Queues [][]link.Device
	Table  *atomic.Pointer[vs.Table] // published by the control plane
	Conns  *conntrack.Table
	Clock  clock.Clock
	Router Router
	Logf   func(format string, args ...any) // optional
	// ExpireNodestConn is IPVS's expire_nodest_conn sysctl: a client
	// packet of a connection whose real server was removed expires the
	// connection at once and is scheduled as a new one (a TCP packet
	// other than a SYN is then dropped as not_syn). Off (the kernel's
	// default), such packets are dropped (nodest_conn) until the
	// connection times out.
	ExpireNodestConn bool
}

// Director runs the data plane over a set of devices.
type Director struct {
	devs    []link.Device
	byIndex map[int]int // ifindex → position in devs
	table   *atomic.Pointer[vs.Table]
	conns   *conntrack.Table
	clock   clock.Clock
	logf    func(string, ...any)

	expireNodest bool // Config.ExpireNodestConn

	nh   atomic.Pointer[nhTable]
	vips atomic.Pointer[vipSet]
	// vipMu orders the writers of vips (TableChanged, SetStandby,
	// SetOwned); standby is the set held back (see standby.go), owned
	// the addresses owned besides the table's (see owned.go).
	vipMu   sync.Mutex
	standby atomic.Pointer[map[[16]byte]struct{}]
	owned   atomic.Pointer[ownedSet]

	tracer atomic.Pointer[trace.Tracer] // SetTracer; nil: no trace running

	resolveCh chan [16]byte
	parkCh    chan parked
	learnCh   chan learned
	res       *resolver

	// p2p is the index of a point-to-point device (a TUN device fed by the
	// host's routing), or -1. Packets whose route leaves by an interface
	// the director does not serve are written to it for the host to route.
	p2p int

	pool *fullnat.Pool // FullNAT local ports

	lanes   []*lane
	workers []*Worker // every lane's, lane by lane
	slow    counters  // drops and sends counted off the hot path
	// slowIPID numbers the outer headers of tunnel frames the resolver
	// encapsulates after parking them (its goroutine only).
	slowIPID uint16
	slowMu   sync.Mutex
}

// vipSet is the set of addresses the director owns with one table
// snapshot: the table's virtual (and FullNAT local) addresses and the
// extra owned addresses (SetOwned), less those held back (SetStandby).
type vipSet struct {
	src  *vs.Table
	addr map[[16]byte]struct{}
	// table is the table's own addresses, whether held back or not.
	table map[[16]byte]struct{}
	// only maps an owned address answered by ARP/NDP on one device
	// alone (an extra owned address placed on an interface) to that
	// device's index; the others are answered on every device.
	only map[[16]byte]int
}

// New builds a Director; Run starts it.
func New(cfg Config) (*Director, error) {
	if len(cfg.Devices) == 0 {
		return nil, fmt.Errorf("datapath: no devices")
	}
	if cfg.Table == nil || cfg.Conns == nil || cfg.Clock == nil || cfg.Router == nil {
		return nil, fmt.Errorf("datapath: incomplete config")
	}
	for k, q := range cfg.Queues {
		if len(q) != len(cfg.Devices) {
			return nil, fmt.Errorf("datapath: lane %d has %d devices for %d interfaces", k+1, len(q), len(cfg.Devices))
		}
		for i, dv := range q {
			if dv == nil {
				return nil, fmt.Errorf("datapath: lane %d has no device for %s", k+1, cfg.Devices[i].Name())
			}
		}
	}
	d := &Director{
		devs:         cfg.Devices,
		byIndex:      map[int]int{},
		table:        cfg.Table,
		conns:        cfg.Conns,
		clock:        cfg.Clock,
		logf:         cfg.Logf,
		expireNodest: cfg.ExpireNodestConn,
		resolveCh:    make(chan [16]byte, resolveQueue),
		parkCh:       make(chan parked, parkTotal),
		learnCh:      make(chan learned, learnQueue),
	}
	if d.logf == nil {
		d.logf = func(string, ...any) {}
	}
	d.p2p = -1
	for i, dv := range d.devs {
		d.byIndex[dv.Index()] = i
		if pp, ok := dv.(interface{ PointToPoint() bool }); ok && pp.PointToPoint() && d.p2p < 0 {
			d.p2p = i
		}
	}
	empty := nhTable{}
	d.nh.Store(&empty)
	d.vips.Store(&vipSet{addr: map[[16]byte]struct{}{}, table: map[[16]byte]struct{}{}})
	d.owned.Store(&ownedSet{})
	d.res = newResolver(d, cfg.Router)
	pool, err := fullnat.NewPool(fullnat.PoolConfig{})
	if err != nil {
		return nil, err
	}
	d.pool = pool
	for k, devs := range append([][]link.Device{cfg.Devices}, cfg.Queues...) {
		l := newLane(d, k, devs)
		d.lanes = append(d.lanes, l)
		d.workers = append(d.workers, l.workers...)
	}
	d.TableChanged(cfg.Table.Load())
	return d, nil
}

func (d *Director) devIndex(ifindex int) int {
	if i, ok := d.byIndex[ifindex]; ok {
		return i
	}
	return -1
}

// TableChanged is called by the control plane after it published t: new
// VIPs are announced with a gratuitous ARP and every dest is resolved ahead
// of its first packet.
func (d *Director) TableChanged(t *vs.Table) {
	d.vipMu.Lock()
	defer d.vipMu.Unlock()
	old := d.vips.Load()
	tbl := map[[16]byte]struct{}{}
	if t != nil {
		// The destinations of firewall-mark rules are the VIPs of the
		// firewall-mark services.
		for i := range t.Marks {
			tbl[t.Marks[i].Dst.As16()] = struct{}{}
		}
		for _, s := range t.Services {
			if s.FwMark == 0 {
				tbl[s.Key.Addr] = struct{}{}
			}
			// FullNAT local addresses are the director's too: answered
			// by ARP/NDP and not configured on the host.
			for _, la := range s.LAddrs {
				tbl[la.Addr16] = struct{}{}
			}
			for _, dst := range s.Dests {
				select {
				case d.resolveCh <- dst.Addr16:
				default:
				}
			}
		}
	}
	ns := d.buildVIPs(t, tbl)
	d.vips.Store(ns)
	for a := range ns.addr {
		if _, had := old.addr[a]; had {
			continue
		}
		d.announce(a, ns.dev(a))
	}
}

// Run starts the lanes (one goroutine each, or one per device when the
// devices cannot be multiplexed), the resolver and the expiry, and blocks
// until ctx is done and every lane has stopped.
func (d *Director) Run(ctx context.Context) error {
	// A lane that fails stops the others.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); d.res.run(done) }()
	var runs []func(context.Context) error
	for _, l := range d.lanes {
		runs = append(runs, l.goroutines()...)
	}
	errs := make(chan error, len(runs))
	for _, run := range runs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := run(ctx); err != nil {
				errs <- err
			}
		}()
	}
	wg.Add(1)
	go func() { defer wg.Done(); d.expireLoop(ctx) }()
	var err error
	select {
	case <-ctx.Done():
	case err = <-errs:
	}
	cancel()
	close(done)
	wg.Wait()
	return err
}

// Lanes returns how many lanes (workers, each with its own device on every
// interface) the director runs.
func (d *Director) Lanes() int { return len(d.lanes) }

// PointToPoint reports whether the director is fed by a point-to-point
// (TUN) device, where methods that need layer 2 (DR) cannot work.
func (d *Director) PointToPoint() bool { return d.p2p >= 0 }

// Counters sums the per-worker counters: drops by reason and the totals.
func (d *Director) Counters() Counters {
	var c Counters
	add := func(k *counters) {
		for i := range k.drop {
			c.Drops[forward.Reason(i).String()] += atomic.LoadUint64(&k.drop[i])
		}
		c.RxFrames += atomic.LoadUint64(&k.rx)
		c.TxFrames += atomic.LoadUint64(&k.tx)
		c.In += atomic.LoadUint64(&k.in)
		c.Out += atomic.LoadUint64(&k.out)
		c.Ignored += atomic.LoadUint64(&k.ignored)
		c.ARPReplies += atomic.LoadUint64(&k.arpReplies)
		c.Parked += atomic.LoadUint64(&k.parked)
		c.NewConns += atomic.LoadUint64(&k.newConns)
		c.ICMPSent += atomic.LoadUint64(&k.icmpSent)
	}
	c.Drops = map[string]uint64{}
	for _, l := range d.lanes {
		var rx uint64
		for _, w := range l.workers {
			rx += atomic.LoadUint64(&w.c.rx)
			add(&w.c)
		}
		c.LaneRx = append(c.LaneRx, rx)
	}
	add(&d.slow)
	delete(c.Drops, forward.Pass.String())
	return c
}

const expireEvery = 100 * time.Millisecond

// Counters is a snapshot of the data plane's counters.
type Counters struct {
	RxFrames, TxFrames uint64
	In, Out            uint64 // packets forwarded per direction
	NewConns           uint64
	Ignored            uint64 // frames that were not the director's business
	ARPReplies         uint64
	ICMPSent           uint64 // ICMP errors originated (frag needed, time exceeded)
	Parked             uint64 // frames that waited for neighbour resolution
	Drops              map[string]uint64
	LaneRx             []uint64 // frames read by each lane (worker)
}

// counters are one worker's; written with atomics so Counters can read
// them while the worker runs. Padded against false sharing.
type counters struct {
	_          [64]byte
	rx, tx     uint64
	in, out    uint64
	ignored    uint64
	arpReplies uint64
	parked     uint64
	newConns   uint64
	icmpSent   uint64
	drop       [forward.NumReasons]uint64
	_          [64]byte
}

func (d *Director) countSlow(r forward.Reason) { atomic.AddUint64(&d.slow.drop[r], 1) }
func (d *Director) countSlowTx()               { atomic.AddUint64(&d.slow.tx, 1) }

// expireLoop collects expired connections in bounded slices so that a mass
// expiry never holds the table for long.
func (d *Director) expireLoop(ctx context.Context) {
	// Every tick scans a slice of the table sized so that a full sweep
	// takes about five seconds, and never fewer than 8192 entries.
	t := time.NewTicker(expireEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			budget := max(8192, d.conns.Len()/50)
			d.conns.Expire(d.clock.Now(), budget)
		}
	}
}

// isVIP reports whether a is a virtual address of the current table.
func (d *Director) isVIP(a *[16]byte) bool {
	_, ok := d.vips.Load().addr[*a]
	return ok
}

// Route16 is a helper for tests and tools: the next hop currently used
// for dst, if resolved.
func (d *Director) NextHop(dst netip.Addr) (dev string, mac [6]byte, ok bool) {
	h, ok := d.nh.Load().get(dst.As16())
	if !ok {
		return "", mac, false
	}
	return d.devs[h.dev].Name(), h.mac, true
}

// ConnRemoved keeps the live connection count of FullNAT local addresses
// (ipvsadm -G's CONNS) right: give it to the connection table as
// conntrack.Options.OnRemove.
func ConnRemoved(c *conntrack.Conn) {
	if c.Fwd != vs.FullNAT || c.Svc == nil {
		return
	}
	for _, la := range c.Svc.LAddrs {
		if la.Addr16 == c.LAddr {
			la.Conns.Add(-1)
			return
		}
	}
}
