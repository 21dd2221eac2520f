package sched

import (
	"math/big"
	"math/rand/v2"
	"testing"

	"github.com/gdirector/gdirector/vs"
)

// load describes a dest for the table tests: weight, active and inactive
// connections, overload flag.
type load struct {
	w, act, inact int32
	over          bool
}

func mkLoaded(ls []load) []*vs.Dest {
	ws := make([]int32, len(ls))
	for i, l := range ls {
		ws[i] = l.w
	}
	ds := mkDests(ws...)
	for i, l := range ls {
		ds[i].ActiveConns.Store(l.act)
		ds[i].InactConns.Store(l.inact)
		if l.over {
			ds[i].Flags.Store(vs.DestAvailable | vs.DestOverload)
		}
	}
	return ds
}

// TestLeastConnKernelVectors checks picks worked out by hand from
// ip_vs_lc.c, ip_vs_wlc.c, ip_vs_sed.c, ip_vs_nq.c, ip_vs_fo.c and
// ip_vs_ovf.c.
func TestLeastConnKernelVectors(t *testing.T) {
	for _, tc := range []struct {
		sched string
		dests []load
		want  string // letter of the pick, "-" for nil
		why   string
	}{
		// lc: 256 × active + inactive, smallest wins, first on ties.
		{"lc", []load{{1, 2, 0, false}, {1, 1, 5, false}, {1, 1, 3, false}}, "C", "512, 261, 259"},
		{"lc", []load{{1, 0, 3, false}, {1, 0, 3, false}}, "A", "tie: first"},
		{"lc", []load{{9, 0, 300, false}, {1, 1, 0, false}}, "B", "weights ignored: 300 > 256"},
		{"lc", []load{{0, 0, 0, false}, {1, 5, 0, false}}, "B", "weight 0 skipped"},
		{"lc", []load{{1, 0, 0, true}, {1, 5, 0, false}}, "B", "overloaded skipped"},
		{"lc", []load{{0, 0, 0, false}, {1, 0, 0, true}}, "-", "none usable"},
		{"lc", nil, "-", "empty"},
		// wlc: overhead/weight by cross-multiplication.
		{"wlc", []load{{1, 1, 0, false}, {2, 1, 0, false}, {3, 1, 0, false}}, "C", "256, 128, 85.3"},
		{"wlc", []load{{1, 1, 0, false}, {2, 2, 0, false}}, "A", "256 = 256: first"},
		{"wlc", []load{{0, 0, 0, false}, {1, 3, 0, false}, {1, 2, 0, false}}, "C", "scan starts at B"},
		{"wlc", []load{{1, 5, 0, false}, {0, 0, 0, false}}, "A", "weight 0 never wins"},
		{"wlc", []load{{1, 1, 10, false}, {1, 1, 0, false}}, "B", "inactive counts"},
		{"wlc", []load{{3, 1, 0, true}, {1, 1, 0, false}}, "B", "overloaded skipped"},
		{"wlc", []load{{1, 0, 0, false}, {3, 1, 0, false}}, "A", "0 < 85.3"},
		// sed: (active + 1)/weight, inactive ignored.
		{"sed", []load{{1, 0, 0, false}, {3, 1, 0, false}}, "B", "1 > 2/3 (wlc says A)"},
		{"sed", []load{{1, 0, 0, false}, {2, 1, 0, false}}, "A", "1 = 1: first"},
		{"sed", []load{{1, 0, 0, false}, {1, 0, 99, false}}, "A", "inactive ignored"},
		{"sed", []load{{0, 0, 0, false}, {2, 4, 0, false}, {1, 1, 0, false}}, "C", "2.5 > 2"},
		// nq: the first idle dest at once, else sed.
		{"nq", []load{{5, 3, 0, false}, {1, 0, 0, false}}, "B", "idle B (sed says A)"},
		{"nq", []load{{1, 0, 50, false}, {9, 0, 0, false}}, "A", "first idle, inactive ignored"},
		{"nq", []load{{1, 3, 0, false}, {0, 0, 0, false}}, "A", "idle but quiesced"},
		{"nq", []load{{1, 0, 0, true}, {1, 3, 0, false}}, "B", "idle but overloaded"},
		{"nq", []load{{1, 1, 0, false}, {3, 2, 0, false}}, "B", "2 > 1"},
		{"nq", []load{{2, 1, 0, false}, {4, 3, 0, false}}, "A", "1 = 1: first"},
		{"nq", []load{{0, 0, 0, false}}, "-", "none"},
		// fo: highest weight, first on ties.
		{"fo", []load{{3, 0, 0, false}, {5, 9, 0, false}, {5, 0, 0, false}, {2, 0, 0, false}}, "B", "first of the heaviest"},
		{"fo", []load{{3, 0, 0, false}, {5, 0, 0, true}, {5, 0, 0, false}}, "C", "overloaded skipped"},
		{"fo", []load{{0, 0, 0, false}, {0, 0, 0, false}}, "-", "weight 0 never"},
		// ovf: highest weight whose active conns do not exceed it.
		{"ovf", []load{{3, 0, 0, false}, {5, 6, 0, false}, {5, 5, 0, false}, {2, 0, 0, false}}, "C", "B full, C at its weight"},
		{"ovf", []load{{3, 0, 0, false}, {5, 6, 0, false}, {5, 6, 0, false}, {2, 0, 0, false}}, "A", "overflow to A"},
		{"ovf", []load{{3, 4, 0, false}, {2, 3, 0, false}}, "-", "all full"},
		{"ovf", []load{{0, 0, 0, false}, {1, 0, 0, true}}, "-", "none usable"},
	} {
		ds := mkLoaded(tc.dests)
		svc := mkSvc(ds)
		s := newSched(t, tc.sched, svc)
		if got := nameOf(ds, s.Schedule(svc, &vs.Flow{})); got != tc.want {
			t.Errorf("%s %v (%s): got %s want %s", tc.sched, tc.dests, tc.why, got, tc.want)
		}
	}
}

// Reference models: the plain statement of each algorithm, with exact
// rational loads rather than the kernel's cross-multiplication.

// firstMin returns the first index with the least value among those for
// which ok holds, or -1.
func firstMin(n int, ok func(int) bool, val func(int) *big.Rat) int {
	best := -1
	var bv *big.Rat
	for i := range n {
		if !ok(i) {
			continue
		}
		if v := val(i); best < 0 || v.Cmp(bv) < 0 {
			best, bv = i, v
		}
	}
	return best
}

func refPick(name string, ls []load) int {
	n := len(ls)
	usable := func(i int) bool { return !ls[i].over && ls[i].w > 0 }
	oh := func(i int) int64 { return int64(ls[i].act)*256 + int64(ls[i].inact) }
	switch name {
	case "lc":
		return firstMin(n, usable, func(i int) *big.Rat { return big.NewRat(oh(i), 1) })
	case "wlc":
		return firstMin(n, usable, func(i int) *big.Rat { return big.NewRat(oh(i), int64(ls[i].w)) })
	case "sed":
		return firstMin(n, usable, func(i int) *big.Rat { return big.NewRat(int64(ls[i].act)+1, int64(ls[i].w)) })
	case "nq":
		for i := range n {
			if usable(i) && ls[i].act == 0 {
				return i
			}
		}
		return refPick("sed", ls)
	case "fo", "ovf":
		best := -1
		for i := range n {
			if !usable(i) || (name == "ovf" && ls[i].act > ls[i].w) {
				continue
			}
			if best < 0 || ls[i].w > ls[best].w {
				best = i
			}
		}
		return best
	}
	panic(name)
}

func TestLeastConnMatchesReference(t *testing.T) {
	r := rand.New(rand.NewPCG(21, 22))
	for _, name := range []string{"lc", "wlc", "sed", "nq", "fo", "ovf"} {
		for iter := range 2000 {
			ls := make([]load, r.IntN(9))
			for i := range ls {
				ls[i] = load{
					w:     int32(r.IntN(6)),
					act:   int32(r.IntN(8)),
					inact: int32(r.IntN(600)),
					over:  r.IntN(6) == 0,
				}
				if r.IntN(3) == 0 {
					ls[i].w *= 100 // wide ratios
				}
			}
			ds := mkLoaded(ls)
			svc := mkSvc(ds)
			s := newSched(t, name, svc)
			want := refPick(name, ls)
			got := s.Schedule(svc, &vs.Flow{})
			if (want < 0) != (got == nil) || (want >= 0 && got != ds[want]) {
				t.Fatalf("%s iter %d %v: got %s want %d", name, iter, ls, nameOf(ds, got), want)
			}
		}
	}
}

// TestWLCDrivesLoadEvenly: placing connections one by one with wlc (each
// pick adds an active connection) spreads them in proportion to the
// weights, as expected of the kernel's scheduler.
func TestWLCDrivesLoadEvenly(t *testing.T) {
	ds := mkDests(1, 2, 3)
	svc := mkSvc(ds)
	for _, name := range []string{"wlc", "sed"} {
		for _, d := range ds {
			d.ActiveConns.Store(0)
		}
		s := newSched(t, name, svc)
		for range 600 {
			s.Schedule(svc, &vs.Flow{}).ActiveConns.Add(1)
		}
		for i, d := range ds {
			if got, want := d.ActiveConns.Load(), int32(100*(i+1)); got < want-1 || got > want+1 {
				t.Errorf("%s: %s has %d connections, want about %d", name, nameOf(ds, d), got, want)
			}
		}
	}
}

// TestNQSequence: nq fills idle servers in list order first, then
// behaves as sed.
func TestNQSequence(t *testing.T) {
	ds := mkDests(1, 3, 1)
	svc := mkSvc(ds)
	s := newSched(t, "nq", svc)
	var b []byte
	for range 8 {
		d := s.Schedule(svc, &vs.Flow{})
		d.ActiveConns.Add(1)
		b = append(b, nameOf(ds, d)[0])
	}
	// A, B, C idle in turn; then sed: (1+1)/1, (1+1)/3, (1+1)/1 -> B;
	// B: 3/3 = 1 < 2 -> B; B: 4/3 < 2 -> B; B: 5/3 < 2 -> B; 6/3 = 2 = 2: A first.
	if got := string(b); got != "ABCBBBBA" {
		t.Fatalf("got %s", got)
	}
}
