package schedsim

import (
	"bytes"
	"math"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// small is a configuration that runs fast under -race.
func small(scheds ...string) Config {
	c := Defaults()
	c.Duration = 5
	c.Scheds = scheds
	return c
}

func output(t *testing.T, c Config) []byte {
	t.Helper()
	rep, err := Simulate(c)
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := rep.WriteTable(&b); err != nil {
		t.Fatal(err)
	}
	if err := rep.WriteCSV(&b); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestDeterministic(t *testing.T) {
	t.Parallel()
	c := small("rr", "wlc", "lblc", "mh", "twos", "ovf")
	c.Duration = 1
	a, b := output(t, c), output(t, c)
	if !bytes.Equal(a, b) {
		t.Fatal("same seed, different output")
	}
	c.Seed = 2
	if d := output(t, c); bytes.Equal(a, d) {
		t.Fatal("seeds 1 and 2 gave the same output")
	}
}

func TestDeterministicFiles(t *testing.T) {
	t.Parallel()
	c := small("rr", "twos")
	c.Duration = 0.5
	var outs [2]map[string][]byte
	for k := range outs {
		rep, err := Simulate(c)
		if err != nil {
			t.Fatal(err)
		}
		dir := t.TempDir()
		if err := writeOut(rep, dir, []byte("t"), new(bytes.Buffer)); err != nil {
			t.Fatal(err)
		}
		outs[k] = map[string][]byte{}
		for _, f := range []string{"results.csv", "p99.svg", "p99.png", "share.svg", "share.png"} {
			b, err := os.ReadFile(filepath.Join(dir, f))
			if err != nil {
				t.Fatal(err)
			}
			if len(b) == 0 {
				t.Fatalf("%s is empty", f)
			}
			outs[k][f] = b
		}
	}
	for f, b := range outs[0] {
		if !bytes.Equal(b, outs[1][f]) {
			t.Errorf("%s differs between two runs of one seed", f)
		}
	}
}

func run(t *testing.T, c *Config, name string, dist Dist, fail bool) *Result {
	t.Helper()
	r, err := Run(c, name, dist, fail)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func total(r *Result) uint64 {
	var n uint64
	for _, c := range r.Count {
		n += c
	}
	return n
}

// rr on equal servers hands out connections in turn: counts differ by at
// most one.
func TestRREqualShares(t *testing.T) {
	c := small()
	c.Speeds, c.Weights = []float64{1, 1, 1, 1}, []int32{1, 1, 1, 1}
	r := run(t, &c, "rr", Exp, false)
	if r.Dropped != 0 || total(r) < 1000 {
		t.Fatalf("dropped %d, scheduled %d", r.Dropped, total(r))
	}
	lo, hi := slices.Min(r.Count), slices.Max(r.Count)
	if hi-lo > 1 {
		t.Fatalf("rr counts %v differ by more than 1", r.Count)
	}
	for _, s := range r.Share {
		if math.Abs(s-0.25) > 1/float64(total(r)) {
			t.Fatalf("rr shares %v not 25%% within one connection", r.Share)
		}
	}
}

// wrr with weights 1:2:3:4 gives each server its weight's part, off by at
// most one cycle's worth of its weight.
func TestWRRProportional(t *testing.T) {
	c := small()
	c.Speeds, c.Weights = []float64{1, 2, 3, 4}, []int32{1, 2, 3, 4}
	r := run(t, &c, "wrr", Exp, false)
	n := float64(total(r))
	if r.Dropped != 0 || n < 1000 {
		t.Fatalf("dropped %d, scheduled %v", r.Dropped, n)
	}
	for i, w := range c.Weights {
		want := n * float64(w) / 10
		if d := math.Abs(float64(r.Count[i]) - want); d > float64(w) {
			t.Errorf("s%d: %d connections, want %.1f ± %d", i+1, r.Count[i], want, w)
		}
	}
}

// Quiescing a server: sh (table unchanged with equal weights) and mh
// (last_weight keeps its table) move none of the other servers' clients.
func TestFailureQuiesceHashing(t *testing.T) {
	c := small()
	c.Speeds, c.Weights = []float64{1, 1, 1, 1}, []int32{1, 1, 1, 1}
	c.Load, c.Zipf = 0.6, 0
	c.Fail, c.FailMode = 2, Quiesce
	for _, name := range []string{"sh", "mh"} {
		r := run(t, &c, name, Exp, true)
		if r.Seen < 100 {
			t.Fatalf("%s: only %d clients seen on both sides", name, r.Seen)
		}
		if r.Moved != 0 {
			t.Errorf("%s: %d of %d clients of surviving servers moved", name, r.Moved, r.Seen)
		}
		if r.Dropped != 0 {
			t.Errorf("%s: %d dropped despite the fallback flag", name, r.Dropped)
		}
	}
	// rr spreads clients anew: most move.
	if r := run(t, &c, "rr", Exp, true); r.Remap() < 0.3 {
		t.Errorf("rr remap %.3f, want most clients moved", r.Remap())
	}
}

// Removing a server: mh (consistent) moves few of the others' clients, sh
// rebuilds its table and moves many.
func TestFailureRemoveHashing(t *testing.T) {
	c := small()
	c.Speeds, c.Weights = []float64{1, 1, 1, 1}, []int32{1, 1, 1, 1}
	c.Load, c.Zipf = 0.6, 0
	c.Fail, c.FailMode = 2, Remove
	mh := run(t, &c, "mh", Exp, true)
	sh := run(t, &c, "sh", Exp, true)
	if mh.Seen < 100 || sh.Seen < 100 {
		t.Fatalf("seen: mh %d sh %d", mh.Seen, sh.Seen)
	}
	if mh.Remap() > 0.05 {
		t.Errorf("mh remap %.3f (%d/%d), want ≤ 5%%", mh.Remap(), mh.Moved, mh.Seen)
	}
	if sh.Remap() < 0.2 {
		t.Errorf("sh remap %.3f, want its rebuilt table to move many clients", sh.Remap())
	}
	if mh.Dropped != 0 || sh.Dropped != 0 {
		t.Errorf("dropped: mh %d sh %d", mh.Dropped, sh.Dropped)
	}
}

// lc and wlc on equal servers keep the tail short; rr on unequal servers
// overloads the slow ones.
func TestLeastConnBeatsRROnUnequal(t *testing.T) {
	eq := small()
	eq.Speeds, eq.Weights = []float64{2, 2, 2, 2}, []int32{1, 1, 1, 1}
	uneq := small()
	uneq.Speeds, uneq.Weights = []float64{1, 1, 2, 4}, []int32{1, 1, 1, 1}
	rr := run(t, &uneq, "rr", Exp, false)
	for _, name := range []string{"lc", "wlc"} {
		r := run(t, &eq, name, Exp, false)
		if !(r.P99Resp < rr.P99Resp) {
			t.Errorf("%s p99 %.4f s on equal servers, not below rr's %.4f s on unequal ones", name, r.P99Resp, rr.P99Resp)
		}
	}
}

// Processor sharing on one server: M/M/1-PS has mean response time
// E[S]/(1-ρ).
func TestProcessorSharingMean(t *testing.T) {
	c := small("rr")
	c.Speeds, c.Weights = []float64{1}, []int32{1}
	c.Load, c.Duration, c.Zipf = 0.5, 200, 0
	r := run(t, &c, "rr", Exp, false)
	want := c.Mean / (1 - c.Load)
	if math.Abs(r.MeanResp-want)/want > 0.1 {
		t.Errorf("mean response %.5f s, want %.5f ± 10%%", r.MeanResp, want)
	}
	if math.Abs(r.Util[0]-c.Load) > 0.03 {
		t.Errorf("utilisation %.3f, want %.2f", r.Util[0], c.Load)
	}
}

// The counters the schedulers read go back to zero once every connection
// is done and its inactive tail is over.
func TestAllSchedulersRun(t *testing.T) {
	t.Parallel()
	c := small()
	c.Duration = 0.5
	c.Scheds = Defaults().Scheds
	rep, err := Simulate(c)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Steady) != 14*2 || len(rep.Failure) != 14 {
		t.Fatalf("%d steady and %d failure results", len(rep.Steady), len(rep.Failure))
	}
	for _, r := range append(rep.Steady, rep.Failure...) {
		if r.Offered == 0 || r.Dropped+total(r) != r.Offered {
			t.Errorf("%s/%s: offered %d, dropped %d, scheduled %d", r.Sched, r.Dist, r.Offered, r.Dropped, total(r))
		}
		if r.Done+r.Open+r.Lost != total(r) {
			t.Errorf("%s/%s: done %d + open %d + lost %d != scheduled %d", r.Sched, r.Dist, r.Done, r.Open, r.Lost, total(r))
		}
	}
}

func TestCV(t *testing.T) {
	if got := cv([]float64{0.25, 0.25, 0.25, 0.25}); got != 0 {
		t.Errorf("cv of equal values = %v", got)
	}
	if got := cv([]float64{0, 0, 0, 1}); math.Abs(got-math.Sqrt(3)) > 1e-12 {
		t.Errorf("cv(0,0,0,1) = %v, want √3", got)
	}
	if got := cv([]float64{0, 0}); got != 0 {
		t.Errorf("cv of zeros = %v", got)
	}
}
