package datapath

import (
	"context"
	"errors"
	"time"

	"github.com/gdirector/gdirector/link"
)

// idleWait bounds how long a lane waits for frames before it looks at its
// context again: the time Run may take to stop.
const idleWait = 100 * time.Millisecond

// A lane is one worker of the data plane: one device (queue) per
// interface, one Worker per device, and, when its devices can be
// multiplexed (link.Multiplexer), one goroutine that serves them all: it
// takes a batch from each device in turn without waiting, and waits on all
// of them at once (link.Poller) only when none had anything. With several
// lanes each interface is read through as many sockets of one
// PACKET_FANOUT group, so the kernel spreads the frames over the lanes and
// the whole pipeline (read, lookup, rewrite, write) runs in parallel. A
// lane writes through its own sockets, so lanes share no lock on the send
// path either.
//
// Devices that cannot be multiplexed are served by one goroutine per
// Worker, blocking in Read, as is a lane of a single device.
type lane struct {
	workers []*Worker          // one per interface, in Director.devs' order
	mux     []link.Multiplexer // workers[i]'s device, when multiplexed
	poller  link.Poller        // nil: one goroutine per Worker
}

// newLane builds lane number k over devs (one device per interface).
func newLane(d *Director, k int, devs []link.Device) *lane {
	l := &lane{}
	if len(devs) > 1 {
		for _, dv := range devs {
			m, ok := dv.(link.Multiplexer)
			if !ok {
				l.mux = nil
				break
			}
			l.mux = append(l.mux, m)
		}
		if l.mux != nil {
			l.poller = l.mux[0].NewPoller(devs)
		}
		if l.poller == nil {
			l.mux = nil
		}
	}
	var share *Worker
	for i := range devs {
		w := newWorker(d, k, i, devs, share)
		if l.poller != nil && share == nil {
			share = w
		}
		l.workers = append(l.workers, w)
	}
	return l
}

// goroutines returns the functions that run the lane, one per goroutine.
func (l *lane) goroutines() []func(context.Context) error {
	if l.poller != nil {
		return []func(context.Context) error{l.run}
	}
	var fs []func(context.Context) error
	for _, w := range l.workers {
		fs = append(fs, w.run)
	}
	return fs
}

// run serves every device of the lane from one goroutine.
func (l *lane) run(ctx context.Context) error {
	for ctx.Err() == nil {
		busy := false
		for i, w := range l.workers {
			n, err := l.mux[i].TryRead(w.bufs, w.sizes, link.Headroom)
			if err != nil {
				if errors.Is(err, link.ErrClosed) {
					return nil
				}
				return err
			}
			if n > 0 {
				w.readOffloads(l.mux[i])
				w.batch(n)
				busy = true
			}
		}
		if !busy {
			l.poller.Wait(idleWait)
		}
	}
	return nil
}
