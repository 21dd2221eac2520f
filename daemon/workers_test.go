package daemon

import (
	"context"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

func TestWorkerCount(t *testing.T) {
	for _, c := range []struct {
		n      int
		tunFed bool
		want   int
		ok     bool
	}{
		{0, false, min(runtime.NumCPU(), MaxWorkers), true},
		{1, false, 1, true},
		{4, false, 4, true},
		{MaxWorkers, false, MaxWorkers, true},
		{0, true, 1, true},
		{8, true, 1, true},
		{-1, false, 0, false},
		{MaxWorkers + 1, false, 0, false},
		{-3, true, 0, false},
	} {
		got, err := workerCount(c.n, c.tunFed)
		if (err == nil) != c.ok || got != c.want {
			t.Errorf("workerCount(%d, tun %v) = %d, %v; want %d (ok %v)", c.n, c.tunFed, got, err, c.want, c.ok)
		}
	}
}

// TestRunRefusesBadWorkers: a bad worker count stops Run before it opens
// anything.
func TestRunRefusesBadWorkers(t *testing.T) {
	for _, n := range []int{-1, MaxWorkers + 1} {
		err := Run(context.Background(), Options{Ifaces: []string{"gdt-no-such-if"}, CtlPath: filepath.Join(t.TempDir(), "s"), Workers: n})
		if err == nil || !strings.Contains(err.Error(), "workers") {
			t.Errorf("Workers %d: %v", n, err)
		}
	}
}

func TestRingBlocks(t *testing.T) {
	for _, c := range []struct{ workers, want int }{{1, 64}, {2, 32}, {4, 16}, {8, 16}, {256, 16}} {
		if got := ringBlocks(c.workers); got != c.want {
			t.Errorf("ringBlocks(%d) = %d, want %d", c.workers, got, c.want)
		}
	}
}
