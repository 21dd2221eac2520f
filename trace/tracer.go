package trace

import (
	"sync"
	"sync/atomic"
	"time"
)

// DefaultQueue is the default number of events a Tracer or a Subscription
// holds for a slow reader before it drops.
const DefaultQueue = 2048

// Tracer receives the events of the data plane. Workers call Wants and
// Emit; one reader takes the events from Events (a Hub does). Emit never
// blocks: an event that finds the queue full is dropped and counted.
type Tracer struct {
	ch      chan Event
	dropped atomic.Uint64
	seq     atomic.Uint64
	filters atomic.Pointer[[]Filter]
	devs    atomic.Pointer[[]string]
}

// NewTracer returns a Tracer whose queue holds queue events (DefaultQueue
// if queue ≤ 0) and which wants every packet until SetFilters narrows it.
func NewTracer(queue int) *Tracer {
	if queue <= 0 {
		queue = DefaultQueue
	}
	return &Tracer{ch: make(chan Event, queue)}
}

// SetFilters makes the tracer want the packets that pass any of fs; an
// empty fs, or one that holds a zero Filter, wants every packet.
func (t *Tracer) SetFilters(fs []Filter) {
	for i := range fs {
		if fs[i].IsZero() {
			fs = nil
			break
		}
	}
	if len(fs) == 0 {
		t.filters.Store(nil)
		return
	}
	cp := append([]Filter(nil), fs...)
	t.filters.Store(&cp)
}

// Wants reports whether an event with tuple tp passes a filter. It
// allocates nothing.
func (t *Tracer) Wants(tp *Tuple) bool {
	fs := t.filters.Load()
	if fs == nil {
		return true
	}
	for i := range *fs {
		if (*fs)[i].Match(tp) {
			return true
		}
	}
	return false
}

// Emit numbers ev and queues a copy of it, or drops it (counted) if the
// queue is full. It never blocks and allocates nothing.
func (t *Tracer) Emit(ev *Event) {
	ev.Seq = t.seq.Add(1)
	select {
	case t.ch <- *ev:
	default:
		t.dropped.Add(1)
	}
}

// Events is the queue of emitted events.
func (t *Tracer) Events() <-chan Event { return t.ch }

// Dropped returns how many events were dropped because the queue was full.
func (t *Tracer) Dropped() uint64 { return t.dropped.Load() }

// SetDevices names the interfaces, in the order of Event.In and Out; the
// data plane calls it when it installs the tracer.
func (t *Tracer) SetDevices(names []string) {
	cp := append([]string(nil), names...)
	t.devs.Store(&cp)
}

// Devices returns the interface names given to SetDevices.
func (t *Tracer) Devices() []string {
	if p := t.devs.Load(); p != nil {
		return *p
	}
	return nil
}

// Line is one line of a trace stream on the control socket: an event, or
// the number of events this subscriber lost so far (sent when it grows).
type Line struct {
	Event   *Record `json:"event,omitempty"`
	Dropped uint64  `json:"dropped,omitempty"`
}

// A Hub shares one Tracer among subscribers. It installs a Tracer with
// install when the first subscriber comes and install(nil) when the last
// one leaves; between, one goroutine turns the events into Records and
// hands each subscriber those its filter passes.
type Hub struct {
	install func(*Tracer)
	now     func() int64
	queue   int

	mu   sync.Mutex
	subs map[*Subscription]struct{}
	tr   *Tracer
	stop chan struct{}
	done chan struct{}
}

// NewHub returns a hub that installs tracers with install. now is the
// data plane's clock (Event.Time's), used to give the records wall-clock
// times; queue sizes the tracer's and each subscriber's queue (0:
// DefaultQueue).
func NewHub(install func(*Tracer), now func() int64, queue int) *Hub {
	if queue <= 0 {
		queue = DefaultQueue
	}
	return &Hub{install: install, now: now, queue: queue, subs: map[*Subscription]struct{}{}}
}

// Subscription is one subscriber's view of the trace.
type Subscription struct {
	h      *Hub
	filter Filter
	ch     chan *Record
	tr     *Tracer
	base   uint64 // the tracer's drops when the subscription began
	lost   atomic.Uint64
	once   sync.Once
}

// Subscribe starts (or joins) the trace with filter f.
func (h *Hub) Subscribe(f Filter) *Subscription {
	s := &Subscription{h: h, filter: f, ch: make(chan *Record, h.queue)}
	h.mu.Lock()
	defer h.mu.Unlock()
	first := h.tr == nil
	if first {
		h.tr = NewTracer(h.queue)
		h.stop, h.done = make(chan struct{}), make(chan struct{})
	}
	s.tr, s.base = h.tr, h.tr.Dropped()
	h.subs[s] = struct{}{}
	h.tr.SetFilters(h.filtersLocked())
	if first {
		go h.run(h.tr, h.stop, h.done)
		h.install(h.tr)
	}
	return s
}

// Active reports how many subscribers the hub has.
func (h *Hub) Active() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.subs)
}

func (h *Hub) filtersLocked() []Filter {
	fs := make([]Filter, 0, len(h.subs))
	for s := range h.subs {
		fs = append(fs, s.filter)
	}
	return fs
}

// run hands the events of tr to the subscribers until stop is closed.
func (h *Hub) run(tr *Tracer, stop, done chan struct{}) {
	defer close(done)
	for {
		select {
		case <-stop:
			return
		case ev := <-tr.Events():
			h.deliver(tr, &ev)
		}
	}
}

func (h *Hub) deliver(tr *Tracer, ev *Event) {
	h.mu.Lock()
	defer h.mu.Unlock()
	var rec *Record
	for s := range h.subs {
		if s.tr != tr || !s.filter.Match(&ev.Tuple) {
			continue
		}
		if rec == nil {
			at := time.Now().Add(time.Duration(ev.Time - h.now()))
			rec = NewRecord(ev, tr.Devices(), at)
		}
		select {
		case s.ch <- rec:
		default:
			s.lost.Add(1)
		}
	}
}

// Events returns the subscriber's records (shared with other subscribers:
// read them, do not change them). The channel is closed by Close.
func (s *Subscription) Events() <-chan *Record { return s.ch }

// Filter returns the subscription's filter.
func (s *Subscription) Filter() Filter { return s.filter }

// Dropped returns how many events this subscriber lost: those the data
// plane dropped since it subscribed (the tracer's queue was full; they
// may have been other subscribers' events) and those its own queue had
// no room for.
func (s *Subscription) Dropped() uint64 {
	return s.tr.Dropped() - s.base + s.lost.Load()
}

// Close ends the subscription; the last one stops the trace (the data
// plane's tracer is removed before Close returns).
func (s *Subscription) Close() {
	s.once.Do(func() {
		h := s.h
		h.mu.Lock()
		delete(h.subs, s)
		close(s.ch)
		if len(h.subs) > 0 {
			h.tr.SetFilters(h.filtersLocked())
			h.mu.Unlock()
			return
		}
		stop, done := h.stop, h.done
		h.tr = nil
		h.install(nil)
		h.mu.Unlock()
		close(stop)
		<-done
	})
}
