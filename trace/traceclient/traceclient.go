// Package traceclient follows a director's packet trace (gdirector trace)
// over its control socket: it asks the daemon for a trace stream with a
// filter and hands each event, decoded into a trace.Record, to a callback.
// gdirector lab --explain uses it to narrate a request from the live
// trace; any other tool that wants the events as values can too.
//
// It is a package of its own, not part of trace, because trace is
// imported by the data plane, which must not depend on the control
// socket's package (ctl).
package traceclient

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/gdirector/gdirector/ctl"
	"github.com/gdirector/gdirector/trace"
)

// Option changes how Follow follows a trace.
type Option func(*follower)

// OnReady has Follow call ready once, when the daemon acknowledges the
// subscription (trace.Line.Subscribed): from then on the data plane
// traces, with the stream's filter, every packet it reads, so traffic
// started after ready returns is seen from its first packet. ready runs
// before any event is handed to each. A daemon older than the
// acknowledgement never calls it.
func OnReady(ready func()) Option {
	return func(f *follower) { f.ready = ready }
}

type follower struct {
	ready func()
}

// Follow asks the daemon listening at sock for the trace opt selects
// (its Filter, Count and Duration; the output options are ignored) and
// calls each with every event, in order, until the daemon ends the stream
// (Count or Duration reached), ctx ends, or each returns an error (which
// Follow returns). lost, when not nil, is called with the running number
// of events the daemon could not deliver whenever it grows. The returned
// Response is the daemon's end of the stream: its exit code and standard
// error (a usage error, or a note about lost events). Cancelling ctx
// closes the stream, which stops the daemon's tracing if no other
// subscriber remains, and returns ctx's error. Lines Follow does not
// know (a newer daemon's) are skipped.
func Follow(ctx context.Context, sock string, opt trace.Options, each func(*trace.Record) error, lost func(uint64), opts ...Option) (ctl.Response, error) {
	var f follower
	for _, o := range opts {
		o(&f)
	}
	return ctl.Stream(ctx, sock, ctl.Request{Cmd: "trace", Argv: opt.ServerArgs()}, func(data json.RawMessage) error {
		var l trace.Line
		if err := json.Unmarshal(data, &l); err != nil {
			return fmt.Errorf("traceclient: bad trace line: %w", err)
		}
		if l.Subscribed && f.ready != nil {
			ready := f.ready
			f.ready = nil // once, whatever the daemon sends
			ready()
		}
		if l.Dropped > 0 && lost != nil {
			lost(l.Dropped)
		}
		if l.Event == nil {
			return nil
		}
		return each(l.Event)
	})
}
