// Package clock provides the monotonic time source of the data plane.
//
// Time is an int64 count of nanoseconds on a monotonic scale whose origin is
// arbitrary (it is not wall-clock time). Workers read it once per batch and
// pass the value down, so that nothing on the per-packet path makes a time
// call; tests substitute Fake to move time by hand.
package clock

import (
	"sync/atomic"
	"time"
)

// Clock returns monotonic nanoseconds.
type Clock interface {
	Now() int64
}

// epoch anchors Real; time.Since uses the monotonic reading carried by it.
var epoch = time.Now()

// Real reads the system's monotonic clock (through the vDSO, no syscall).
// Its values start near zero when the process starts and only grow.
type Real struct{}

// Now returns nanoseconds since the process started.
func (Real) Now() int64 { return int64(time.Since(epoch)) }

// Fake is a clock for tests: it stands still until told to move. It is safe
// for concurrent use.
type Fake struct {
	ns atomic.Int64
}

// NewFake returns a fake clock reading start.
func NewFake(start int64) *Fake {
	f := &Fake{}
	f.ns.Store(start)
	return f
}

// Now returns the current fake time.
func (f *Fake) Now() int64 { return f.ns.Load() }

// Set moves the clock to ns.
func (f *Fake) Set(ns int64) { f.ns.Store(ns) }

// Advance moves the clock forward by d and returns the new time.
func (f *Fake) Advance(d time.Duration) int64 { return f.ns.Add(int64(d)) }
