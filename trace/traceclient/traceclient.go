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

// Follow asks the daemon listening at sock for the trace opt selects
// (its Filter, Count and Duration; the output options are ignored) and
// calls each with every event, in order, until the daemon ends the stream
// (Count or Duration reached), ctx ends, or each returns an error (which
// Follow returns). lost, when not nil, is called with the running number
// of events the daemon could not deliver whenever it grows. The returned
// Response is the daemon's end of the stream: its exit code and standard
// error (a usage error, or a note about lost events). Cancelling ctx
// closes the stream, which stops the daemon's tracing if no other
// subscriber remains, and returns ctx's error.
func Follow(ctx context.Context, sock string, opt trace.Options, each func(*trace.Record) error, lost func(uint64)) (ctl.Response, error) {
	return ctl.Stream(ctx, sock, ctl.Request{Cmd: "trace", Argv: opt.ServerArgs()}, func(data json.RawMessage) error {
		var l trace.Line
		if err := json.Unmarshal(data, &l); err != nil {
			return fmt.Errorf("traceclient: bad trace line: %w", err)
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
