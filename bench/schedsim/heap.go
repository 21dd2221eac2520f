package schedsim

// minHeap is a binary min-heap ordered by less. It is the simulator's
// event queue and each server's queue of connections in progress; ties
// are broken by the callers' sequence numbers so that the order of pops
// never depends on the heap's internal layout.
type minHeap[T any] struct {
	items []T
	less  func(a, b T) bool
}

func (h *minHeap[T]) Len() int { return len(h.items) }

// Peek returns the smallest item; the heap must not be empty.
func (h *minHeap[T]) Peek() T { return h.items[0] }

// Push adds x.
func (h *minHeap[T]) Push(x T) {
	h.items = append(h.items, x)
	i := len(h.items) - 1
	for i > 0 {
		p := (i - 1) / 2
		if !h.less(h.items[i], h.items[p]) {
			break
		}
		h.items[i], h.items[p] = h.items[p], h.items[i]
		i = p
	}
}

// Pop removes and returns the smallest item; the heap must not be empty.
func (h *minHeap[T]) Pop() T {
	top := h.items[0]
	n := len(h.items) - 1
	h.items[0] = h.items[n]
	var zero T
	h.items[n] = zero
	h.items = h.items[:n]
	i := 0
	for {
		l, r, m := 2*i+1, 2*i+2, i
		if l < n && h.less(h.items[l], h.items[m]) {
			m = l
		}
		if r < n && h.less(h.items[r], h.items[m]) {
			m = r
		}
		if m == i {
			break
		}
		h.items[i], h.items[m] = h.items[m], h.items[i]
		i = m
	}
	return top
}

// Clear empties the heap, keeping its storage.
func (h *minHeap[T]) Clear() {
	clear(h.items)
	h.items = h.items[:0]
}

// eventKind is what happens at an event.
type eventKind uint8

const (
	evArrival  eventKind = iota // a new connection
	evDepart                    // a server may have finished a connection
	evInactEnd                  // an inactive connection of a server expires
	evFail                      // the failure of a failure run
)

// event is one entry of the event queue.
type event struct {
	at   float64 // virtual seconds
	seq  uint64  // order of scheduling, breaks ties in at
	kind eventKind
	srv  int    // server index (evDepart, evInactEnd)
	gen  uint64 // server generation an evDepart was computed for
}

func eventLess(a, b event) bool {
	if a.at != b.at {
		return a.at < b.at
	}
	return a.seq < b.seq
}

// job is a connection in progress on a server: it is done when the
// server's attained-service clock reaches tag.
type job struct {
	tag     float64
	seq     uint64
	arrival float64
}

func jobLess(a, b job) bool {
	if a.tag != b.tag {
		return a.tag < b.tag
	}
	return a.seq < b.seq
}
