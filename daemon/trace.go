package daemon

import (
	"context"
	"fmt"
	"time"

	"github.com/gdirector/gdirector/ctl"
	"github.com/gdirector/gdirector/trace"
)

// dropReportEvery is how often a trace stream reports newly lost events
// when no event carries the news.
const dropReportEvery = time.Second

// traceHandler serves gdirector trace on the control socket: it
// subscribes to hub with the request's filter and streams trace.Line
// values until --count events were sent, --duration passed or the client
// left. Its first line acknowledges the subscription (Line.Subscribed)
// once the tracer is live. The last subscriber leaving stops the data
// plane's tracing.
func traceHandler(hub *trace.Hub) ctl.StreamHandler {
	return func(ctx context.Context, argv []string, send func(any) error) (string, int) {
		opt, err := trace.ParseArgs(argv)
		if err != nil {
			return fmt.Sprintf("gdirector trace: %v\n%s\n", err, trace.Usage), 2
		}
		sub := hub.Subscribe(opt.Filter)
		defer sub.Close()
		// Subscribe returned: the tracer is installed with this filter,
		// so the data plane traces every packet it reads from now on.
		// Say so, for clients that must not start traffic before
		// (gdirector lab --explain).
		if send(trace.Line{Subscribed: true}) != nil {
			return "", 1
		}
		var deadline <-chan time.Time
		if opt.Duration > 0 {
			t := time.NewTimer(opt.Duration)
			defer t.Stop()
			deadline = t.C
		}
		tick := time.NewTicker(dropReportEvery)
		defer tick.Stop()
		var sent int
		var reported uint64
		report := func() error {
			if d := sub.Dropped(); d != reported {
				reported = d
				return send(trace.Line{Dropped: d})
			}
			return nil
		}
		for opt.Count == 0 || sent < opt.Count {
			select {
			case <-ctx.Done():
				return "", 0
			case <-deadline:
				return summary(sent, sub.Dropped()), 0
			case <-tick.C:
				if report() != nil {
					return "", 1
				}
			case rec, ok := <-sub.Events():
				if !ok {
					return summary(sent, sub.Dropped()), 0
				}
				if report() != nil || send(trace.Line{Event: rec}) != nil {
					return "", 1
				}
				sent++
			}
		}
		return summary(sent, sub.Dropped()), 0
	}
}

// summary is what a trace stream ends with on standard error: nothing,
// unless events were lost.
func summary(sent int, dropped uint64) string {
	if dropped == 0 {
		return ""
	}
	return fmt.Sprintf("gdirector trace: %d events shown, %d lost (the reader or the daemon's queue fell behind)\n", sent, dropped)
}
