package daemon

import (
	"context"
	"net"

	"github.com/gdirector/gdirector/conntrack"
	"github.com/gdirector/gdirector/ctl"
	"github.com/gdirector/gdirector/metrics"
	"github.com/gdirector/gdirector/status"
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
// and connection table (on its clock), the connection table's size, and the
// health engine's verdicts (nil without a configuration file).
func statusConfig(mgr *ctl.Manager, conns *conntrack.Table, health metrics.HealthFunc) status.Config {
	cfg := status.Config{
		Table:     mgr.Table,
		ConnClock: mgr.Now,
		Conntrack: func() (int, int) { return conns.Len(), conns.Capacity() },
	}
	if cl := mgr.Conns(); cl != nil {
		cfg.Conns = cl
	}
	if health != nil {
		cfg.Health = status.HealthFunc(health)
	}
	return cfg
}

// startStatus serves the status page on ln until ctx ends or the returned
// stop is called; stop closes the listener and waits for the server to
// finish. With a nil ln it does nothing.
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
	return func() { cancel(); <-done }, nil
}
