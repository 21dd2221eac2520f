// Package estimator drives the IPVS rate estimator of a running director:
// every vs.EstimationInterval (2 s) it runs one estimation (vs.Stats.Estimate)
// over the counters of every service and every real server of the current
// vs.Table, as the kernel's estimation timer (or, since Linux 6.2, its
// estimation kthreads) does for every registered stats object. The rates
// ipvsadm --rate prints are read from the same Stats (vs.Stats.Rates).
//
// What is estimated is whatever the current snapshot holds: a service or
// real server starts being estimated at the first pass after it was added,
// from zeroed state (the kernel's ip_vs_start_estimator), and stops when it
// leaves the table (ip_vs_stop_estimator); a real server taken back from
// the trash resumes with the state it had, as in the kernel. Nothing runs
// on the packet path: the data plane only adds to the counters.
//
// Passes are due at fixed times (start + k × 2 s). A pass that comes late
// runs once, and when the estimator fell more than one interval behind (the
// process was stopped), the schedule restarts from the late pass instead of
// running the missed ones back to back — like the kernel, whose timer and
// kthreads also estimate each object once per wake-up.
package estimator

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/gdirector/gdirector/internal/clock"
	"github.com/gdirector/gdirector/vs"
)

// Interval is the estimation period.
const Interval = vs.EstimationInterval

// Config configures an Estimator.
type Config struct {
	// Table holds the snapshot whose services and real servers are
	// estimated (the one the control plane publishes).
	Table *atomic.Pointer[vs.Table]
	// Clock gives the time; nil = clock.Real.
	Clock clock.Clock
	// After returns a channel that delivers after d; nil = time.After.
	// Tests substitute a channel they control (with a fake Clock).
	After func(d time.Duration) <-chan time.Time
}

// Estimator runs the estimation passes.
type Estimator struct {
	table  *atomic.Pointer[vs.Table]
	clock  clock.Clock
	after  func(time.Duration) <-chan time.Time
	next   int64 // when the next pass is due, on clock's scale
	passes atomic.Uint64
}

// New returns an Estimator whose first pass is due one Interval from now.
func New(cfg Config) *Estimator {
	e := &Estimator{table: cfg.Table, clock: cfg.Clock, after: cfg.After}
	if e.clock == nil {
		e.clock = clock.Real{}
	}
	if e.after == nil {
		e.after = time.After
	}
	e.next = e.clock.Now() + int64(Interval)
	return e
}

// Pass runs one estimation over every service and real server of t.
func Pass(t *vs.Table) {
	if t == nil {
		return
	}
	for _, s := range t.Services {
		if s.Stats != nil {
			s.Stats.Estimate()
		}
		for _, d := range s.Dests {
			d.Stats.Estimate()
		}
	}
}

// Poll runs the pass due at now, if any, and reports whether it ran. Run
// calls it; tests call it with a fake clock.
func (e *Estimator) Poll(now int64) bool {
	if now < e.next {
		return false
	}
	Pass(e.table.Load())
	e.passes.Add(1)
	e.next += int64(Interval)
	if e.next <= now {
		e.next = now + int64(Interval) // fell behind: restart the schedule
	}
	return true
}

// Passes returns how many passes have run.
func (e *Estimator) Passes() uint64 { return e.passes.Load() }

// Run runs the passes until ctx ends; it returns nil then. One Estimator
// must not be Run twice at once.
func (e *Estimator) Run(ctx context.Context) error {
	for {
		wait := time.Duration(e.next - e.clock.Now())
		if wait < 0 {
			wait = 0
		}
		select {
		case <-ctx.Done():
			return nil
		case <-e.after(wait):
		}
		e.Poll(e.clock.Now())
	}
}
