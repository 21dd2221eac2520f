package schedsim

import (
	"math/rand/v2"
	"slices"
	"testing"
)

func TestHeapOrder(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 7))
	h := minHeap[int]{less: func(a, b int) bool { return a < b }}
	var want []int
	for range 1000 {
		x := r.IntN(100)
		h.Push(x)
		want = append(want, x)
		if r.IntN(3) == 0 { // interleave pops
			slices.Sort(want)
			if got := h.Pop(); got != want[0] {
				t.Fatalf("pop %d, want %d", got, want[0])
			}
			want = want[1:]
		}
	}
	slices.Sort(want)
	for _, w := range want {
		if h.Peek() != w {
			t.Fatalf("peek %d, want %d", h.Peek(), w)
		}
		if got := h.Pop(); got != w {
			t.Fatalf("pop %d, want %d", got, w)
		}
	}
	if h.Len() != 0 {
		t.Fatalf("len %d after popping everything", h.Len())
	}
}

// Events at the same time come out in the order they were scheduled.
func TestEventTies(t *testing.T) {
	h := minHeap[event]{less: eventLess}
	for i, at := range []float64{2, 1, 1, 3, 1, 2} {
		h.Push(event{at: at, seq: uint64(i + 1)})
	}
	var got []uint64
	for h.Len() > 0 {
		got = append(got, h.Pop().seq)
	}
	if want := []uint64{2, 3, 5, 1, 6, 4}; !slices.Equal(got, want) {
		t.Fatalf("order %v, want %v", got, want)
	}
}

func TestHeapClear(t *testing.T) {
	h := minHeap[job]{less: jobLess}
	h.Push(job{tag: 2, seq: 1})
	h.Push(job{tag: 1, seq: 2})
	h.Clear()
	if h.Len() != 0 {
		t.Fatal("not empty after Clear")
	}
	h.Push(job{tag: 5, seq: 3})
	h.Push(job{tag: 5, seq: 1})
	if j := h.Pop(); j.seq != 1 {
		t.Fatalf("tie on tag: popped seq %d, want 1", j.seq)
	}
}
