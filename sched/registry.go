package sched

import (
	"errors"
	"fmt"

	"github.com/gdirector/gdirector/vs"
)

// ErrUnknown is wrapped by the error New returns for a name that is not in
// the registry.
var ErrUnknown = errors.New("unknown scheduler")

// registry maps an ipvsadm scheduler name to the constructor of a fresh,
// per-service instance. Adding a scheduler is one file and one line here.
var registry = map[string]func() vs.Scheduler{
	"rr":    newRR,
	"wrr":   newWRR,
	"lc":    newLC,
	"wlc":   newWLC,
	"sed":   newSED,
	"nq":    newNQ,
	"sh":    newSH,
	"dh":    newDH,
	"lblc":  newLBLC,
	"lblcr": newLBLCR,
	"mh":    newMH,
	"fo":    newFO,
	"ovf":   newOVF,
	"twos":  newTwos,
}

// New returns a new instance of the named scheduler for one service. Call
// its Update with the service before the first Schedule.
func New(name string) (vs.Scheduler, error) {
	mk, ok := registry[name]
	if !ok {
		return nil, fmt.Errorf("sched: %w %q", ErrUnknown, name)
	}
	return mk(), nil
}

// order is the order in which ipvsadm's help lists the schedulers, the
// order the kernel gained them (twos last); users know the list this way.
var order = []string{"rr", "wrr", "lc", "wlc", "lblc", "lblcr", "dh", "sh",
	"sed", "nq", "fo", "ovf", "mh", "twos"}

// Names returns the registered scheduler names in ipvsadm's order.
func Names() []string {
	return append([]string(nil), order...)
}

// usable reports whether a dest may receive a new connection from rr-like
// schedulers: not overloaded and not quiesced (weight 0).
func usable(d *vs.Dest) bool {
	return !d.Overloaded() && d.Weight.Load() > 0
}

// indexOf returns the index of d in ds, trying the hint first, or -1.
func indexOf(ds []*vs.Dest, d *vs.Dest, hint int) int {
	if d == nil {
		return -1
	}
	if hint >= 0 && hint < len(ds) && ds[hint] == d {
		return hint
	}
	for i, x := range ds {
		if x == d {
			return i
		}
	}
	return -1
}

// connOverhead is the kernel's ip_vs_dest_conn_overhead: an active
// connection is reckoned 256 times as costly as an inactive one. The
// arithmetic is the kernel's 32-bit int arithmetic (which wraps: the kernel
// builds with -fno-strict-overflow).
func connOverhead(d *vs.Dest) int32 {
	return d.ActiveConns.Load()<<8 + d.InactConns.Load()
}
