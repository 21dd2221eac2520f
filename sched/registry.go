package sched

import (
	"errors"
	"fmt"
	"sort"

	"github.com/gdirector/gdirector/vs"
)

// ErrUnknown is wrapped by the error New returns for a name that is not in
// the registry.
var ErrUnknown = errors.New("unknown scheduler")

// registry maps an ipvsadm scheduler name to the constructor of a fresh,
// per-service instance. Adding a scheduler is one file and one line here.
var registry = map[string]func() vs.Scheduler{
	"rr":  newRR,
	"wrr": newWRR,
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

// Names returns the registered scheduler names in sorted order.
func Names() []string {
	names := make([]string, 0, len(registry))
	for n := range registry {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
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
