package daemon

import (
	"context"
	"net"

	"github.com/gdirector/gdirector/conntrack"
	"github.com/gdirector/gdirector/ctl"
	"github.com/gdirector/gdirector/metrics"
	"github.com/gdirector/gdirector/status"
	"github.com/gdirector/gdirector/trace"
)

// listenStatus opens the --status listener (nil for ""), before Run
// changes anything on the host, so that a bad or busy address fails first.
func listenStatus(addr string, logf func(string, ...any)) (net.Listener, error) {
	if addr == "" {
		return nil, nil
	}
	_, loopback, err := status.ParseListenAddr(addr)
	if err != nil {
		return nil, err
	}
	ln, err := status.Listen(addr)
	if err != nil {
		return nil, err
	}
	if !loopback {
		logf("gdirector: the status page at %s is not on a loopback address: whoever reaches it sees the services, real servers and connections", ln.Addr())
	}
	return ln, nil
}

// statusConfig is what the status page reads: the Manager's current table
// and connection table (on its clock), the connection table's size, the
// health engine's verdicts (nil without a configuration file), and the
// packet trace hub it subscribes to while the page is viewed (the one
// gdirector trace uses; nil: no packets), and the VRRP instances and sync
// daemons of hav (nil: none).
func statusConfig(mgr *ctl.Manager, conns *conntrack.Table, health metrics.HealthFunc, hub *trace.Hub, hav *ha) status.Config {
	cfg := status.Config{
		Table:     mgr.Table,
		ConnClock: mgr.Now,
		Conntrack: func() (int, int) { return conns.Len(), conns.Capacity() },
	}
	if hub != nil {
		cfg.Trace = hubTrace(hub)
	}
	if cl := mgr.Conns(); cl != nil {
		cfg.Conns = cl
	}
	if health != nil {
		cfg.Health = status.HealthFunc(health)
	}
	if hav != nil {
		cfg.HA = hav
	}
	return cfg
}

// hubTrace is status.Config.Trace over hub: a subscription with the
// page's filter, shared with gdirector trace's subscribers (the data plane
// has one tracer whatever the number of subscribers, none without them).
func hubTrace(hub *trace.Hub) status.TraceFunc {
	return func(f trace.Filter) (<-chan *trace.Record, func() uint64, func()) {
		sub := hub.Subscribe(f)
		return sub.Events(), sub.Dropped, sub.Close
	}
}

// startStatus serves the status page on ln until ctx ends or the returned
// stop is called; stop closes the listener, waits for the server to finish
// and ends the page's packet trace. With a nil ln it does nothing.
func startStatus(ctx context.Context, ln net.Listener, cfg status.Config, logf func(string, ...any)) (stop func(), err error) {
	if ln == nil {
		return func() {}, nil
	}
	h, err := status.New(cfg)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := metrics.Serve(ctx, ln, h); err != nil {
			logf("gdirector: status page: %v", err)
		}
	}()
	logf("gdirector: status page at http://%s%s", ln.Addr(), status.PagePath)
	return func() { cancel(); <-done; h.Close() }, nil
}
