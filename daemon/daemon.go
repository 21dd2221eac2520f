// Package daemon assembles a running director: it opens an AF_PACKET device
// per interface, switches off the host kernel's own forwarding for the
// daemon's lifetime (restoring it afterwards), creates the connection table
// and the control-plane Manager, runs the data plane, and serves ipvsadm
// commands on the control socket until its context ends.
//
// On every configuration change the Manager publishes a new table; the
// daemon then tells the data plane (gratuitous ARP for new VIPs, next hops
// of new dests resolved ahead of their first packet) and narrows each
// socket's BPF filter to the frames the director handles: ARP, packets to a
// VIP, and packets from a real server. On raw interfaces it also keeps a
// blackhole route in the host kernel for each owned address (VIPs, FullNAT
// local addresses, the addresses of VRRP instances, see ha.go), so that
// the kernel drops its own copy of their traffic
// silently instead of answering it (route.Blackholes); they are removed on
// exit. For IPv6 owned addresses it joins their solicited-node multicast
// groups on every interface, so NICs that filter multicast still deliver
// the Neighbor Solicitations gdirector answers.
//
// With Options.Config the daemon starts from a configuration file (ipvsadm
// rules, keepalived.conf, ldirectord.cf or gdirector's native YAML), runs
// it through the health engine (package healthcheck), and reloads it on
// Options.Reload, the control socket's "reload" command or, with
// Options.Autoreload, a change of the file, changing only what differs
// (see config.go).
package daemon

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/netip"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/gdirector/gdirector/config"
	"github.com/gdirector/gdirector/conntrack"
	"github.com/gdirector/gdirector/ctl"
	"github.com/gdirector/gdirector/datapath"
	"github.com/gdirector/gdirector/estimator"
	"github.com/gdirector/gdirector/header"
	"github.com/gdirector/gdirector/healthcheck"
	"github.com/gdirector/gdirector/httpapi"
	"github.com/gdirector/gdirector/internal/clock"
	"github.com/gdirector/gdirector/internal/sysctl"
	"github.com/gdirector/gdirector/ipvsadm"
	"github.com/gdirector/gdirector/ipvssync"
	"github.com/gdirector/gdirector/link"
	"github.com/gdirector/gdirector/link/afpacket"
	"github.com/gdirector/gdirector/link/tun"
	"github.com/gdirector/gdirector/markcmd"
	"github.com/gdirector/gdirector/metrics"
	"github.com/gdirector/gdirector/route"
	"github.com/gdirector/gdirector/schedcmd"
	"github.com/gdirector/gdirector/trace"
	"github.com/gdirector/gdirector/vs"
)

// Options configure Run.
type Options struct {
	Ifaces      []string
	Tun         string // feed the director from this TUN device instead of Ifaces
	CtlPath     string
	MaxConns    int                              // connection table capacity; 0 = default
	Logf        func(format string, args ...any) // nil = silent
	Ready       func()                           // called once the control socket accepts commands
	KeepForward bool                             // do not touch the host's forwarding sysctls
	// ExpireNodestConn is IPVS's expire_nodest_conn sysctl (see
	// datapath.Config.ExpireNodestConn).
	ExpireNodestConn bool
	// Workers is the number of data-plane workers (lanes): each interface
	// is read through that many sockets of one PACKET_FANOUT group, one
	// per worker (see datapath), whose receive rings share 8 MiB (at
	// least 2 MiB each). 0 = runtime.NumCPU(); at most MaxWorkers. A
	// TUN-fed director has one.
	Workers int
	// RX is how the sockets receive: afpacket.RXAuto (a TPACKET_V3 ring
	// if the kernel allows it, else recvmmsg), RXRing or RXRecvmmsg.
	RX afpacket.RXMode
	// NoOffload turns off reading and writing super-frames whole
	// (afpacket.Options.Offload, PACKET_VNET_HDR): frames longer than the
	// MTU that GRO, GSO or TSO make on the served interfaces are then
	// dropped, so those offloads must be turned off there (ethtool -K).
	NoOffload bool
	// Metrics is the listen address (HOST:PORT) of the Prometheus endpoint
	// /metrics; "" serves none. See package metrics.
	Metrics string
	// Status is the listen address (HOST:PORT) of the status page (a live
	// HTML view of services, real servers and connections; see package
	// status); "" serves none. Best kept on a loopback address.
	Status string
	// API enables the remote HTTPS API when any of its settings is given
	// (then all are required; see package httpapi); zero = off.
	API httpapi.Config
	// Config is a configuration file loaded at start: ipvsadm rules
	// (ipvsadm -S format), keepalived.conf, ldirectord.cf or native YAML
	// (see package config/load); anything wrong in it stops the start
	// with an error naming its line. "" starts with an empty table.
	Config string
	// Format is Config's format; config.FormatUnknown tells it from the
	// contents (config.Detect).
	Format config.Format
	// Reload, if set, makes the daemon read Config again and apply the
	// difference each time it receives (SIGHUP).
	Reload <-chan struct{}
	// Autoreload reloads Config whenever its contents change (keepalived's
	// and ldirectord's autoreload); an ldirectord.cf with autoreload=yes
	// asks for it too.
	Autoreload bool
}

// errTunDR is ipvsadm's answer to -g on a director fed by a TUN device.
var errTunDR = errors.New("Direct routing (-g) needs a director on a raw interface; this one is fed by a TUN device: use -m, -i or -b")

// setting is a sysctl the daemon changes for its lifetime; optional ones
// may be missing (IPv6 disabled).
type setting struct {
	key, value string
	optional   bool
}

// rawSettings, on raw interfaces: the host kernel must neither forward nor
// answer the traffic gdirector handles.
var rawSettings = []setting{
	{"net.ipv4.ip_forward", "0", false},
	{"net.ipv6.conf.all.forwarding", "0", true},
}

// tunSettings, fed by a TUN device: the host routes packets into the
// device and the rewritten ones on, so it must forward, accept from the
// device packets whose sources it routes elsewhere (rp_filter), and accept
// the IPIP packets of the TUN method, whose outer source is one of its own
// addresses (accept_local; IPv6 has no such check).
func tunSettings(dev string) []setting {
	return []setting{
		{"net.ipv4.ip_forward", "1", false},
		{"net.ipv6.conf.all.forwarding", "1", true},
		{"net.ipv4.conf.all.rp_filter", "0", false},
		{"net.ipv4.conf." + dev + ".rp_filter", "0", false},
		{"net.ipv4.conf." + dev + ".accept_local", "1", false},
	}
}

// Run runs the director until ctx is done, then tears everything down.
func Run(ctx context.Context, opt Options) (err error) {
	logf := opt.Logf
	if logf == nil {
		logf = func(string, ...any) {}
	}
	if len(opt.Ifaces) == 0 && opt.Tun == "" {
		return errors.New("no interfaces given (--iface NAME, or --tun NAME)")
	}
	if len(opt.Ifaces) > 0 && opt.Tun != "" {
		return errors.New("--iface and --tun exclude each other")
	}
	if opt.CtlPath == "" {
		return errors.New("no control socket path")
	}
	workers, err := workerCount(opt.Workers, opt.Tun != "")
	if err != nil {
		return err
	}

	// Refuse early if another daemon owns the socket, before touching
	// anything on the host.
	if _, err := ctl.Call(opt.CtlPath, []string{"-v"}); err == nil {
		return fmt.Errorf("another gdirector answers on %s", opt.CtlPath)
	}
	// The metrics address too: a bad or busy one fails here, with nothing
	// changed on the host.
	var metricsLn net.Listener
	if opt.Metrics != "" {
		if metricsLn, err = metrics.Listen(opt.Metrics); err != nil {
			return err
		}
		defer metricsLn.Close()
	}
	// And the status page's.
	statusLn, err := listenStatus(opt.Status, logf)
	if err != nil {
		return err
	}
	if statusLn != nil {
		defer statusLn.Close()
	}
	// And the remote API's files and address.
	api, err := listenAPI(opt, logf)
	if err != nil {
		return err
	}
	if api != nil {
		defer api.Close()
	}

	// The configuration file too: every rule and check is checked before
	// anything changes on the host.
	cfg, cfgStamp, err := readConfig(opt.Config, opt.Format, opt.Tun != "")
	if err != nil {
		return err
	}

	// devs holds each interface's first socket (or the TUN device),
	// queues[k] the sockets of worker k+1, sockets all of them.
	var devs []link.Device
	var queues [][]link.Device
	var sockets []*afpacket.Device
	defer func() {
		for _, d := range sockets {
			d.Close()
		}
		if opt.Tun != "" {
			for _, d := range devs {
				d.Close()
			}
		}
	}()
	filter, err := afpacket.BuildFilter(nil, nil)
	if err != nil {
		return err
	}
	queues = make([][]link.Device, workers-1)
	for _, name := range opt.Ifaces {
		socks, err := afpacket.OpenFanout(name, workers, afpacket.Options{Filter: filter, RX: opt.RX, RingBlocks: ringBlocks(workers), Offload: !opt.NoOffload})
		if err != nil {
			return fmt.Errorf("open %s: %w", name, err)
		}
		sockets = append(sockets, socks...)
		devs = append(devs, socks[0])
		for k := range queues {
			queues[k] = append(queues[k], socks[k+1])
		}
	}
	if len(sockets) > 0 {
		rx := "recvmmsg"
		if sockets[0].Ring() {
			rx = "TPACKET_V3 ring"
		}
		logf("gdirector: %d worker(s), one socket each per interface (PACKET_FANOUT), receiving with %s", workers, rx)
		switch {
		case sockets[0].Offloading():
			logf("gdirector: GRO/GSO/TSO super-frames are read and written whole (PACKET_VNET_HDR)")
		case !opt.NoOffload:
			logf("gdirector: the kernel refused PACKET_VNET_HDR: frames longer than the MTU (GRO/GSO/TSO) are dropped; turn those offloads off (ethtool -K IFACE gro off gso off tso off)")
		}
	}
	if opt.Tun != "" {
		d, err := tun.Open(opt.Tun, tun.Options{})
		if err != nil {
			return fmt.Errorf("open TUN device %s: %w", opt.Tun, err)
		}
		devs = append(devs, d)
	}

	var saved sysctl.Saved
	var settings []setting
	switch {
	case opt.Tun != "":
		settings = tunSettings(opt.Tun)
	case !opt.KeepForward:
		settings = rawSettings
	}
	for _, k := range settings {
		if err := saved.Set(k.key, k.value, k.optional); err != nil {
			saved.Restore()
			return err
		}
	}
	defer func() {
		if rerr := saved.Restore(); rerr != nil && err == nil {
			err = rerr
		}
	}()

	var table atomic.Pointer[vs.Table]
	table.Store(vs.NewTable(nil))
	conns := conntrack.NewTable(conntrack.Options{Capacity: opt.MaxConns, OnRemove: datapath.ConnRemoved})
	dp, err := datapath.New(datapath.Config{
		Devices: devs, Queues: queues, Table: &table, Conns: conns,
		Clock: clock.Real{}, Router: route.Netlink{}, Logf: logf,
		ExpireNodestConn: opt.ExpireNodestConn,
	})
	if err != nil {
		return err
	}

	// On raw interfaces the host kernel sees every frame gdirector takes;
	// blackhole routes for the owned addresses make it drop its copy
	// silently (see route.Blackholes). A TUN-fed director needs the
	// host's routes into the device instead.
	var holes *route.Blackholes
	if opt.Tun == "" {
		holes = route.NewBlackholes()
		defer func() {
			if herr := holes.Close(); herr != nil {
				logf("gdirector: %v", herr)
			}
		}()
	}

	var filterMu sync.Mutex
	warned := map[*vs.Dest]bool{}
	var syncHost func()
	onChange := func(t *vs.Table) {
		dp.TableChanged(t)
		for _, s := range t.Services {
			for _, d := range s.Dests {
				if m := d.FwdMethod(); m == vs.Local && !warned[d] {
					warned[d] = true
					logf("gdirector: warning: real server %v:%d uses forwarding method %s, which gdirector does not serve (the director is not a real server); its packets are dropped and counted as \"method\"", d.Addr, d.Port, m)
				}
			}
		}
		syncHost()
	}
	// syncHost makes the host follow the owned addresses, the table's and
	// the VRRP instances' (see ha.go): blackhole routes, socket filters,
	// multicast memberships.
	syncHost = func() {
		filterMu.Lock()
		defer filterMu.Unlock()
		vips, rips := Addresses(table.Load())
		vips = withOwned(vips, dp.Owned())
		if holes != nil {
			if err := holes.Sync(vips); err != nil {
				logf("gdirector: %v", err)
			}
		}
		f, err := afpacket.BuildFilter(vips, rips)
		if err != nil {
			logf("gdirector: BPF filter: %v; accepting all IP traffic", err)
			f = nil
		}
		groups := SolicitedNodeGroups(vips)
		for i, fd := range sockets {
			if err := fd.SetFilter(f); err != nil {
				logf("gdirector: set filter on %s: %v", fd.Name(), err)
			}
			// Memberships are per interface: its first socket's do.
			if i%workers != 0 {
				continue
			}
			if err := fd.SetMulticast(groups); err != nil {
				logf("gdirector: %v", err)
			}
		}
	}
	checkDest := func(d ctl.DestConfig) error {
		if dp.PointToPoint() && d.Fwd == vs.DirectRoute {
			return errTunDR
		}
		return nil
	}
	mgr := ctl.NewManager(ctl.Config{Table: &table, OnChange: onChange, Timeouts: conns, Conns: conns, CheckDest: checkDest})
	// Connection synchronisation (ipvsadm --start-daemon, lvs_sync_daemon)
	// and the VRRP instances of the configuration (see ha.go); both stop
	// before the data plane and the connection table go.
	syncd := &ipvssync.Daemons{Table: &table, Conns: conns, Clock: clock.Real{}, Logf: logf}
	defer syncd.Close()
	hav := newHA(dp, syncd, logf)
	hav.place, hav.onOwned = ifacePlacer(opt.Ifaces), syncHost
	defer hav.close()
	// The health engine keeps the table equal to the configuration as
	// the checks find its real servers (only with --config).
	loader := &configLoader{path: opt.Config, format: opt.Format, check: tunDestCheck(opt.Tun != ""), logf: logf, auto: opt.Autoreload, ha: hav}
	var health metrics.HealthFunc
	if opt.Config != "" {
		loader.engine = healthcheck.New(mgr, healthcheck.Options{Logf: logf})
		health = loader.engine.Verdict
	}
	if err := loader.load(cfg, cfgStamp); err != nil {
		return err
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// On the way out the VRRP masters send priority 0 at once, so their
	// peers take over after their skew time while this data plane stops.
	haDone := make(chan struct{})
	go func() { defer close(haDone); <-ctx.Done(); hav.close() }()
	defer func() { cancel(); <-haDone }()
	// Reloads and health changes publish (routes, filters): they stop
	// before the teardown.
	waitReload := loader.watch(ctx, opt.Reload)
	defer func() { cancel(); waitReload() }()
	if loader.engine != nil {
		engineDone := make(chan struct{})
		go func() {
			defer close(engineDone)
			_ = loader.engine.Run(ctx)
		}()
		defer func() { cancel(); <-engineDone }()
	}
	stopMetrics, err := startMetrics(ctx, metricsLn, metricsSource(mgr, dp, conns, health), logf, newHACollector(hav))
	if err != nil {
		return err
	}
	defer stopMetrics()
	// One packet trace hub: gdirector trace's streams and the status page
	// (while viewed) subscribe to it; the data plane has a tracer only
	// while someone does.
	traceHub := trace.NewHub(dp.SetTracer, clock.Real{}.Now, 0)
	stopStatus, err := startStatus(ctx, statusLn, statusConfig(mgr, conns, health, traceHub, hav), logf)
	if err != nil {
		return err
	}
	defer stopStatus()
	dpErr := make(chan error, 1)
	go func() { dpErr <- dp.Run(ctx) }()
	// The rate estimator (ipvsadm --rate): a pass over every service and
	// real server every 2 s, off the packet path.
	estDone := make(chan struct{})
	go func() {
		defer close(estDone)
		_ = estimator.New(estimator.Config{Table: &table}).Run(ctx)
	}()
	defer func() { cancel(); <-estDone }()

	var ready []func()
	if opt.Ready != nil {
		ready = append(ready, opt.Ready)
	}
	names := systemNames() // ipvsadm without -n: port and host names
	// The commands of the control socket, also served by the remote API.
	mux := &ctl.Mux{Handlers: map[string]ctl.Handler{
		"": func(argv []string) (string, string, int) {
			return ipvsadm.RunEnv(mgr, argv, ipvsadm.Env{Names: names, Sync: syncd})
		},
		"mark": func(argv []string) (string, string, int) {
			return markcmd.Run(mgr, argv)
		},
		"sched": func(argv []string) (string, string, int) {
			return schedcmd.Run(mgr, argv)
		},
		"reload": loader.handle, // gdirector reload: read --config again
	}, InputHandlers: map[string]ctl.InputHandler{
		// Every ipvsadm command (-R: with the rules the client sends
		// along). Names stay nil here, as before: the "" handler above,
		// which has them, is shadowed by this one (see ctl.Mux).
		"": ipvsadmInput(mgr, ipvsadm.Env{Sync: syncd}),
	}}
	// gdirector trace: a stream on the control socket only (not the API).
	mux.StreamHandlers = map[string]ctl.StreamHandler{
		"trace": traceHandler(traceHub),
	}
	srvErr := make(chan error, 1)
	go func() { srvErr <- mux.Serve(ctx, opt.CtlPath, ready...) }()
	waitAPI := serveAPI(ctx, cancel, api, mgr, mux, logf)
	defer func() {
		if aerr := waitAPI(); aerr != nil && err == nil {
			err = fmt.Errorf("remote API: %w", aerr)
		}
	}()

	// Run until asked to stop or until either half fails; then stop both
	// and wait for them, so the socket is gone and no worker touches a
	// device when the sysctls are restored.
	dpDone, srvDone := false, false
	select {
	case <-ctx.Done():
	case err = <-dpErr:
		dpDone = true
		if err != nil {
			err = fmt.Errorf("data plane: %w", err)
		}
	case err = <-srvErr:
		srvDone = true
		if err != nil {
			err = fmt.Errorf("control socket: %w", err)
		}
	}
	cancel()
	if !srvDone {
		if serr := <-srvErr; serr != nil && err == nil {
			err = fmt.Errorf("control socket: %w", serr)
		}
	}
	if !dpDone {
		if derr := <-dpErr; derr != nil && err == nil {
			err = fmt.Errorf("data plane: %w", derr)
		}
	}
	c := dp.Counters()
	if len(c.LaneRx) > 1 {
		logf("gdirector: frames read by each worker: %v", c.LaneRx)
	}
	if d := dropSummary(c.Drops); d != "" {
		logf("gdirector: packets dropped, by reason: %s", d)
	}
	logLinkStats(logf, opt.Ifaces, workers, sockets)
	return err
}

// dropSummary lists the non-zero drop counters as "reason=n" in reason
// order, or "" when nothing was dropped: the exit log's account of what
// the data plane refused, so that a failed run shows why without a
// control socket to ask.
func dropSummary(drops map[string]uint64) string {
	var parts []string
	for _, r := range slices.Sorted(maps.Keys(drops)) {
		if n := drops[r]; n > 0 {
			parts = append(parts, fmt.Sprintf("%s=%d", r, n))
		}
	}
	return strings.Join(parts, " ")
}

// MaxWorkers bounds Options.Workers (the kernel's PACKET_FANOUT_MAX).
const MaxWorkers = 256

// workerCount is the number of workers for Options.Workers: the CPUs by
// default, one for a TUN-fed director.
func workerCount(n int, tunFed bool) (int, error) {
	switch {
	case n < 0 || n > MaxWorkers:
		return 0, fmt.Errorf("%d workers: want 1..%d (0: one per CPU)", n, MaxWorkers)
	case tunFed:
		return 1, nil
	case n == 0:
		return min(runtime.NumCPU(), MaxWorkers), nil
	}
	return n, nil
}

// ringBlocks is the number of ring blocks of each socket: an interface's
// sockets share afpacket's default budget (8 MiB of 128 KiB blocks), but
// each keeps at least 2 MiB for bursts that hash to one worker.
func ringBlocks(workers int) int {
	return max(afpacket.DefaultRingBlocks/workers, 16)
}

// SolicitedNodeGroups returns the Ethernet multicast groups of the
// solicited-node addresses of the IPv6 addresses among addrs, without
// duplicates: what each interface must receive for gdirector to hear the
// Neighbor Solicitations for addresses the host kernel does not own.
func SolicitedNodeGroups(addrs []netip.Addr) [][6]byte {
	var out [][6]byte
	seen := map[[6]byte]bool{}
	for _, a := range addrs {
		if !a.Is6() || a.Is4In6() {
			continue
		}
		_, mac := header.SolicitedNode(a.As16())
		if !seen[mac] {
			seen[mac] = true
			out = append(out, mac)
		}
	}
	return out
}

// Addresses returns the VIPs (of services, of firewall-mark rules, and the
// FullNAT local addresses) and the real-server addresses of t, the frames
// the BPF filter must let through.
func Addresses(t *vs.Table) (vips, rips []netip.Addr) {
	if t == nil {
		return nil, nil
	}
	seenV := map[netip.Addr]bool{}
	seenR := map[netip.Addr]bool{}
	for _, m := range t.Marks { // the VIPs of firewall-mark services
		if !seenV[m.Dst] {
			seenV[m.Dst] = true
			vips = append(vips, m.Dst)
		}
	}
	for _, s := range t.Services {
		if s.FwMark == 0 && !seenV[s.Addr] {
			seenV[s.Addr] = true
			vips = append(vips, s.Addr)
		}
		for _, la := range s.LAddrs { // FullNAT replies come back to them
			if !seenV[la.Addr] {
				seenV[la.Addr] = true
				vips = append(vips, la.Addr)
			}
		}
		for _, d := range s.Dests {
			if !seenR[d.Addr] {
				seenR[d.Addr] = true
				rips = append(rips, d.Addr)
			}
		}
	}
	return vips, rips
}

// logLinkStats logs, at exit, each interface's packet-socket counters
// summed over its workers' sockets (sockets holds workers sockets per
// interface, in the order of ifaces).
func logLinkStats(logf func(string, ...any), ifaces []string, workers int, sockets []*afpacket.Device) {
	for i, name := range ifaces {
		if (i+1)*workers > len(sockets) {
			return
		}
		var t afpacket.Stats
		for _, d := range sockets[i*workers : (i+1)*workers] {
			s := d.Stats()
			t.FramesRead += s.FramesRead
			t.FramesWritten += s.FramesWritten
			t.SuperRead += s.SuperRead
			t.SuperWritten += s.SuperWritten
			t.WriteErrors += s.WriteErrors
			t.Truncated += s.Truncated
			t.KernelDrops += s.KernelDrops
		}
		logf("gdirector: %s: %d frames read (%d super-frames), %d written (%d super-frames), %d write errors, %d truncated, %d dropped by the kernel",
			name, t.FramesRead, t.SuperRead, t.FramesWritten, t.SuperWritten, t.WriteErrors, t.Truncated, t.KernelDrops)
	}
}
