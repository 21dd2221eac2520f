package sched

import (
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/gdirector/gdirector/vs"
)

func TestInspectorImplemented(t *testing.T) {
	want := []string{"rr", "wrr", "lblc", "lblcr", "dh", "sh", "mh"}
	var got []string
	for _, name := range Names() {
		s, _ := New(name)
		if ins, ok := s.(Inspector); ok {
			got = append(got, name)
			if st := ins.Inspect(); st.Name != name {
				t.Errorf("%s: Inspect().Name = %q", name, st.Name)
			}
		}
	}
	if !slices.Equal(got, want) {
		t.Fatalf("Inspector implemented by %v, want %v", got, want)
	}
}

func TestInspectRR(t *testing.T) {
	ds := mkDests(1, 1, 1)
	svc := mkSvc(ds)
	s := newSched(t, "rr", svc)
	ins := s.(Inspector)
	if st := ins.Inspect(); !st.HasLast || st.Last != nil {
		t.Fatalf("fresh: %+v", st)
	}
	seq(s, svc, ds, 2)
	st := ins.Inspect()
	if st.Last != ds[1] {
		t.Fatalf("last %s", nameOf(ds, st.Last))
	}
	if got := st.String(); got != "scheduler rr\nlast 203.0.113.2:80\n" {
		t.Fatalf("String %q", got)
	}
}

func TestInspectWRR(t *testing.T) {
	ds := mkDests(4, 3, 2)
	svc := mkSvc(ds)
	s := newSched(t, "wrr", svc)
	seq(s, svc, ds, 3) // A A B: cw is 3
	st := s.(Inspector).Inspect()
	for name, want := range map[string]int64{"cw": 3, "mw": 4, "di": 1} {
		if v, ok := st.Var(name); !ok || v != want {
			t.Errorf("%s = %d, want %d", name, v, want)
		}
	}
	if st.Last != ds[1] {
		t.Errorf("last %s", nameOf(ds, st.Last))
	}
	if got, want := st.String(), "scheduler wrr\ncw 3\nmw 4\ndi 1\nlast 203.0.113.2:80\n"; got != want {
		t.Errorf("String %q", got)
	}
}

func TestInspectTables(t *testing.T) {
	ds := mkDests(2, 1)
	s := newSched(t, "sh", mkSvc(ds))
	out := s.(Inspector).Inspect().String()
	// Round A A B: 85 rounds, then bucket 255 is A: 171 and 85 buckets.
	for _, line := range []string{
		"scheduler sh\n", "table 256 slots\n", "  0-1 203.0.113.1:80\n", "  2 203.0.113.2:80\n",
		"  255 203.0.113.1:80\n", "share 203.0.113.1:80 171\n", "share 203.0.113.2:80 85\n",
	} {
		if !strings.Contains(out, line) {
			t.Errorf("sh String lacks %q:\n%.300s", line, out)
		}
	}
	m := newSched(t, "mh", mkSvc(ds))
	out = m.(Inspector).Inspect().String()
	for _, line := range []string{"scheduler mh\n", "gcd 1\n", "rshift 0\n", "table 4093 slots\n",
		"share 203.0.113.1:80 2729\n", "share 203.0.113.2:80 1364\n"} {
		if !strings.Contains(out, line) {
			t.Errorf("mh String lacks %q", line)
		}
	}
	empty := newSched(t, "dh", mkSvc(nil)).(Inspector).Inspect()
	if len(empty.Table) != 256 || !strings.Contains(empty.String(), "  0-255 -\n") {
		t.Errorf("empty dh: %s", empty)
	}
}

// TestNeverPicksUnusable: whatever the weights, flags and loads, no
// scheduler picks a dest of weight 0, and only lblc (whose cache check
// ignores the flag, as the kernel's) picks an overloaded one.
func TestNeverPicksUnusable(t *testing.T) {
	r := rand.New(rand.NewPCG(71, 72))
	for _, name := range Names() {
		for iter := range 40 {
			ds := mkDests(make([]int32, 1+r.IntN(6))...)
			svc := mkSvc(ds)
			svc.Flags = uint32(r.IntN(4)) * vs.SvcSchedFlag1
			s := newSched(t, name, svc)
			fs := testFlows(16)
			for step := range 200 {
				d := ds[r.IntN(len(ds))]
				switch r.IntN(4) {
				case 0:
					d.Flags.Store(d.Flags.Load() ^ vs.DestOverload)
				case 1:
					d.Weight.Store(int32(r.IntN(4)))
					s.Update(svc)
				case 2:
					d.ActiveConns.Store(int32(r.IntN(6)))
				}
				got := s.Schedule(svc, &fs[r.IntN(len(fs))])
				if got == nil {
					continue
				}
				if got.Weight.Load() <= 0 || (got.Overloaded() && name != "lblc") {
					t.Fatalf("%s iter %d step %d: picked %s (weight %d, overloaded %v)",
						name, iter, step, nameOf(ds, got), got.Weight.Load(), got.Overloaded())
				}
			}
		}
	}
}
