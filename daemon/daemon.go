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
// VIP, and packets from a real server.
package daemon

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"sync/atomic"

	"github.com/gdirector/gdirector/conntrack"
	"github.com/gdirector/gdirector/ctl"
	"github.com/gdirector/gdirector/datapath"
	"github.com/gdirector/gdirector/internal/clock"
	"github.com/gdirector/gdirector/internal/sysctl"
	"github.com/gdirector/gdirector/ipvsadm"
	"github.com/gdirector/gdirector/link"
	"github.com/gdirector/gdirector/link/afpacket"
	"github.com/gdirector/gdirector/route"
	"github.com/gdirector/gdirector/vs"
)

// Options configure Run.
type Options struct {
	Ifaces      []string
	CtlPath     string
	MaxConns    int                              // connection table capacity; 0 = default
	Logf        func(format string, args ...any) // nil = silent
	Ready       func()                           // called once the control socket accepts commands
	KeepForward bool                             // do not touch the host's forwarding sysctls
}

// forwardingKeys are switched off while the daemon runs so that the host
// kernel neither forwards nor answers the traffic gdirector handles.
var forwardingKeys = []struct {
	key      string
	optional bool
}{
	{"net.ipv4.ip_forward", false},
	{"net.ipv6.conf.all.forwarding", true},
}

// Run runs the director until ctx is done, then tears everything down.
func Run(ctx context.Context, opt Options) (err error) {
	logf := opt.Logf
	if logf == nil {
		logf = func(string, ...any) {}
	}
	if len(opt.Ifaces) == 0 {
		return errors.New("no interfaces given (--iface NAME)")
	}
	if opt.CtlPath == "" {
		return errors.New("no control socket path")
	}

	// Refuse early if another daemon owns the socket, before touching
	// anything on the host.
	if _, err := ctl.Call(opt.CtlPath, []string{"-v"}); err == nil {
		return fmt.Errorf("another gdirector answers on %s", opt.CtlPath)
	}

	var devs []link.Device
	defer func() {
		for _, d := range devs {
			d.Close()
		}
	}()
	filter, err := afpacket.BuildFilter(nil, nil)
	if err != nil {
		return err
	}
	for _, name := range opt.Ifaces {
		d, err := afpacket.Open(name, afpacket.Options{Filter: filter})
		if err != nil {
			return fmt.Errorf("open %s: %w", name, err)
		}
		devs = append(devs, d)
	}

	var saved sysctl.Saved
	if !opt.KeepForward {
		for _, k := range forwardingKeys {
			if err := saved.Set(k.key, "0", k.optional); err != nil {
				saved.Restore()
				return err
			}
		}
	}
	defer func() {
		if rerr := saved.Restore(); rerr != nil && err == nil {
			err = rerr
		}
	}()

	var table atomic.Pointer[vs.Table]
	table.Store(vs.NewTable(nil))
	conns := conntrack.NewTable(conntrack.Options{Capacity: opt.MaxConns})
	dp, err := datapath.New(datapath.Config{
		Devices: devs, Table: &table, Conns: conns,
		Clock: clock.Real{}, Router: route.Netlink{}, Logf: logf,
	})
	if err != nil {
		return err
	}

	var filterMu sync.Mutex
	warned := map[*vs.Dest]bool{}
	onChange := func(t *vs.Table) {
		dp.TableChanged(t)
		for _, s := range t.Services {
			for _, d := range s.Dests {
				if m := d.FwdMethod(); m != vs.Masq && m != vs.DirectRoute && m != vs.Tunnel && !warned[d] {
					warned[d] = true
					logf("gdirector: warning: real server %v:%d uses forwarding method %s, which this build does not forward yet (only Masq -m, Route -g and Tunnel -i); its packets are dropped and counted as \"method\"", d.Addr, d.Port, m)
				}
			}
		}
		filterMu.Lock()
		defer filterMu.Unlock()
		vips, rips := Addresses(t)
		f, err := afpacket.BuildFilter(vips, rips)
		if err != nil {
			logf("gdirector: BPF filter: %v; accepting all IP traffic", err)
			f = nil
		}
		for _, d := range devs {
			if err := d.(*afpacket.Device).SetFilter(f); err != nil {
				logf("gdirector: set filter on %s: %v", d.Name(), err)
			}
		}
	}
	mgr := ctl.NewManager(ctl.Config{Table: &table, OnChange: onChange, Timeouts: conns, Conns: conns})

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	dpErr := make(chan error, 1)
	go func() { dpErr <- dp.Run(ctx) }()

	var ready []func()
	if opt.Ready != nil {
		ready = append(ready, opt.Ready)
	}
	srvErr := make(chan error, 1)
	go func() {
		srvErr <- ctl.Serve(ctx, opt.CtlPath, func(argv []string) (string, string, int) {
			return ipvsadm.Run(mgr, argv)
		}, ready...)
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
	return err
}

// Addresses returns the VIPs and the real-server addresses of t, the
// frames the BPF filter must let through.
func Addresses(t *vs.Table) (vips, rips []netip.Addr) {
	if t == nil {
		return nil, nil
	}
	seenV := map[netip.Addr]bool{}
	seenR := map[netip.Addr]bool{}
	for _, s := range t.Services {
		if s.FwMark == 0 && !seenV[s.Addr] {
			seenV[s.Addr] = true
			vips = append(vips, s.Addr)
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
