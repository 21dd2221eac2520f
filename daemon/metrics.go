package daemon

import (
	"context"
	"net"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/gdirector/gdirector/conntrack"
	"github.com/gdirector/gdirector/ctl"
	"github.com/gdirector/gdirector/datapath"
	"github.com/gdirector/gdirector/metrics"
)

// metricsSource is what the Prometheus collector reads at each scrape: the
// Manager's current table, the data plane's summed counters and the size
// of the connection table, and the health engine's verdicts (health; nil
// without a configuration file).
func metricsSource(mgr *ctl.Manager, dp *datapath.Director, conns *conntrack.Table, health metrics.HealthFunc) metrics.Source {
	return metrics.Source{
		Table: mgr.Table,
		Dataplane: func() metrics.Dataplane {
			c := dp.Counters()
			return metrics.Dataplane{
				RxFrames: c.RxFrames, TxFrames: c.TxFrames,
				In: c.In, Out: c.Out,
				NewConns: c.NewConns, Ignored: c.Ignored,
				ICMPSent: c.ICMPSent, Parked: c.Parked,
				Drops: c.Drops,
			}
		},
		Conntrack: func() (int, int) { return conns.Len(), conns.Capacity() },
		Health:    health,
	}
}

// startMetrics serves the Prometheus endpoint on ln (opened by Run before
// it changed anything on the host) until ctx ends or the returned stop is
// called; stop closes the listener and waits for the server to finish.
// With a nil ln it does nothing. extra are further collectors (VRRP and
// sync: ha_metrics.go).
func startMetrics(ctx context.Context, ln net.Listener, src metrics.Source, logf func(string, ...any), extra ...prometheus.Collector) (stop func(), err error) {
	if ln == nil {
		return func() {}, nil
	}
	reg, err := metrics.NewRegistry(src)
	if err != nil {
		return nil, err
	}
	for _, c := range extra {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := metrics.Serve(ctx, ln, metrics.Handler(reg)); err != nil {
			logf("gdirector: metrics endpoint: %v", err)
		}
	}()
	logf("gdirector: metrics at http://%s%s", ln.Addr(), metrics.Path)
	return func() { cancel(); <-done }, nil
}
