package sched

import (
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/gdirector/gdirector/vs"
)

func TestSlotterImplemented(t *testing.T) {
	var got []string
	for _, name := range Names() {
		s, _ := New(name)
		if sl, ok := s.(Slotter); ok {
			got = append(got, name)
			// No table before the first Update.
			if _, d, ok := sl.Slot(mkSvc(nil), flowFrom("198.51.100.7", 1)); ok || d != nil {
				t.Errorf("%s: Slot before Update = %v, %v", name, d, ok)
			}
		}
	}
	if want := []string{"dh", "sh", "mh"}; !slices.Equal(got, want) {
		t.Fatalf("Slotter implemented by %v, want %v", got, want)
	}
}

// TestSlotHandVectors: the buckets worked out by hand in TestSHSchedule.
func TestSlotHandVectors(t *testing.T) {
	ds := mkDests(1, 1, 1)
	svc := mkSvc(ds)
	s := newSched(t, "sh", svc).(Slotter)
	for _, c := range []struct {
		src   string
		sport uint16
		flags uint32
		slot  int
	}{
		{"192.0.2.1", 1000, 0, 50},
		{"198.51.100.7", 40000, 0, 171},
		{"198.51.100.7", 40000, vs.SvcSchedFlag2, 79},
	} {
		svc.Flags = c.flags
		slot, d, ok := s.Slot(svc, flowFrom(c.src, c.sport))
		if !ok || slot != c.slot || d != ds[c.slot%3] {
			t.Errorf("%s:%d flags %#x: slot %d dest %s, want %d", c.src, c.sport, c.flags, slot, nameOf(ds, d), c.slot)
		}
	}
}

// TestSlotAgreesWithSchedule: on random services and flows, the slot is
// the reference hash, the dest is the table's entry there, and Schedule
// picks it whenever it is usable (and, without fallback, nothing when it
// is not).
func TestSlotAgreesWithSchedule(t *testing.T) {
	r := rand.New(rand.NewPCG(51, 52))
	for _, name := range []string{"sh", "dh", "mh"} {
		for range 100 {
			ws := make([]int32, 1+r.IntN(6))
			for i := range ws {
				ws[i] = int32(r.IntN(4))
			}
			ds := mkDests(ws...)
			svc := mkSvc(ds)
			s := newSched(t, name, svc)
			for _, d := range ds {
				if r.IntN(4) == 0 {
					d.Flags.Store(vs.DestAvailable | vs.DestOverload)
				}
			}
			svc.Flags = []uint32{0, vs.SvcSchedFlag1, vs.SvcSchedFlag2, vs.SvcSchedFlag1 | vs.SvcSchedFlag2}[r.IntN(4)]
			table := s.(Inspector).Inspect().Table
			for range 40 {
				f := randFlow(r)
				slot, d, ok := s.(Slotter).Slot(svc, f)
				if !ok || slot < 0 || slot >= len(table) || table[slot] != d {
					t.Fatalf("%s: slot %d dest %s ok %v (table of %d)", name, slot, nameOf(ds, d), ok, len(table))
				}
				if want := refSlot(name, svc.Flags, f); slot != want {
					t.Fatalf("%s: slot %d, reference %d", name, slot, want)
				}
				got := s.Schedule(svc, f)
				usable := d != nil && d.Weight.Load() > 0 && !d.Overloaded() && d.Available()
				switch {
				case usable && got != d:
					t.Fatalf("%s: slot %d holds usable %s but Schedule picked %s", name, slot, nameOf(ds, d), nameOf(ds, got))
				case !usable && svc.Flags&vs.SvcSchedFlag1 == 0 && got != nil:
					t.Fatalf("%s: slot %d holds unusable %s but Schedule picked %s without fallback", name, slot, nameOf(ds, d), nameOf(ds, got))
				case !usable && got == d && d != nil:
					t.Fatalf("%s: Schedule picked the unusable %s", name, nameOf(ds, d))
				}
			}
		}
	}
}

// refSlot computes the first index with the reference hashes.
func refSlot(name string, flags uint32, f *vs.Flow) int {
	if name == "dh" {
		return hash32Ref(foldRef(vs.AddrFrom16(f.Dst)), 8)
	}
	addr := foldRef(vs.AddrFrom16(f.Src))
	var port uint32
	if flags&vs.SvcSchedFlag2 != 0 && (f.Proto == vs.TCP || f.Proto == vs.UDP || f.Proto == vs.SCTP) {
		port = uint32(f.SPort)
	}
	if name == "sh" {
		return hash32Ref(port+addr, 8)
	}
	return int(hsipRef(port+addr, refKey1) % refM)
}

func TestSlotAllocs(t *testing.T) {
	ds := mkDests(2, 1, 3)
	svc := mkSvc(ds)
	f := flowFrom("198.51.100.7", 40000)
	for _, name := range []string{"sh", "dh", "mh"} {
		s := newSched(t, name, svc).(Slotter)
		if n := testing.AllocsPerRun(100, func() { s.Slot(svc, f) }); n != 0 {
			t.Errorf("%s: %v allocations per Slot", name, n)
		}
	}
}
