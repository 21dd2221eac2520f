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
	plan    atomic.Pointer[Plan]
	devs    atomic.Pointer[[]string]
}

// Plan is what the workers read of a tracer, one atomic load per packet:
// how many packets to sample and which of the sampled ones to report.
type Plan struct {
	// Filters: a packet passing any is wanted; nil wants every packet.
	Filters []Filter
	// Every: a worker fills an event for one packet in Every it handles
	// (1: every packet), counting on its own (no shared counter).
	Every int
	// Gap: with Every > 1, a worker also takes a packet when it took
	// none for Gap ns of its clock; 0: never.
	Gap int64
}

// everyPacket is the plan of a tracer that wants every packet.
var everyPacket = &Plan{Every: 1}

// Wants reports whether an event with tuple tp passes a filter. It
// allocates nothing.
func (p *Plan) Wants(tp *Tuple) bool {
	if p.Filters == nil {
		return true
	}
	for i := range p.Filters {
		if p.Filters[i].Match(tp) {
			return true
		}
	}
	return false
}

// Sample decides, before anything is filled, whether a worker traces its
// next packet: left is the worker's count of packets still to skip and
// took the time (its clock, now) of the last one it took; both are the
// worker's own. It allocates nothing and touches no shared memory.
func (p *Plan) Sample(left *int, took *int64, now int64) bool {
	if p.Every <= 1 {
		return true
	}
	if *left > 0 && *left < p.Every && (p.Gap <= 0 || now-*took < p.Gap) {
		*left--
		return false
	}
	*left, *took = p.Every-1, now
	return true
}

// NewTracer returns a Tracer whose queue holds queue events (DefaultQueue
// if queue ≤ 0) and which wants every packet until SetFilters narrows it.
func NewTracer(queue int) *Tracer {
	if queue <= 0 {
		queue = DefaultQueue
	}
	t := &Tracer{ch: make(chan Event, queue)}
	t.plan.Store(everyPacket)
	return t
}

// SetFilters makes the tracer want the packets that pass any of fs; an
// empty fs, or one that holds a filter selecting every packet, wants
// every packet. The sampling is the densest of fs's (the smallest
// Sample, and the shortest SampleGap of the sampled filters): each
// filter's own, sparser sampling is the Hub's business.
func (t *Tracer) SetFilters(fs []Filter) {
	p := &Plan{Every: 1}
	if len(fs) > 0 {
		p.Every = fs[0].every()
	}
	all := len(fs) == 0
	for i := range fs {
		f := &fs[i]
		p.Every = min(p.Every, f.every())
		if g := int64(f.SampleGap); f.every() > 1 && g > 0 && (p.Gap == 0 || g < p.Gap) {
			p.Gap = g
		}
		all = all || f.SelectsAll()
	}
	if p.Every == 1 {
		p.Gap = 0
	}
	if !all {
		p.Filters = append([]Filter(nil), fs...)
	}
	t.plan.Store(p)
}

// Plan returns the tracer's current plan (never nil): the workers load it
// once per packet.
func (t *Tracer) Plan() *Plan { return t.plan.Load() }

// Wants reports whether an event with tuple tp passes a filter. It
// allocates nothing.
func (t *Tracer) Wants(tp *Tuple) bool { return t.Plan().Wants(tp) }

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
// the number of events this subscriber lost so far (sent when it grows),
// or, first of all, Subscribed: the acknowledgement that the
// subscription is live (the data plane traces, with the stream's filter,
// every packet it reads from then on). A reader that does not know
// Subscribed sees a line with neither an event nor a loss, and skips it.
type Line struct {
	Event      *Record `json:"event,omitempty"`
	Dropped    uint64  `json:"dropped,omitempty"`
	Subscribed bool    `json:"subscribed,omitempty"`
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
	// The subscriber's own sampling, when the tracer samples more densely
	// for another subscriber (under the hub's lock): events its filter
	// passed since the last one it got, and that one's time.
	skipped int
	took    int64
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

// PollEvery is how often a Hub takes the events queued in its tracer. It
// polls rather than waits on the queue: a worker whose Emit finds the
// reader waiting must wake it, a futex call of some microseconds on the
// data plane's thread, for each event of a sparse (sampled or filtered)
// trace; measured, that alone made a 1-in-64 sample cost 10-18% more
// than no tracer, against 0-5% with a polling reader (datapath's
// BenchmarkTraceSampleCost).
// The queue (DefaultQueue events) holds 1 ms of a trace of 2M events/s.
const PollEvery = time.Millisecond

// run hands the events of tr to the subscribers until stop is closed.
func (h *Hub) run(tr *Tracer, stop, done chan struct{}) {
	defer close(done)
	tick := time.NewTicker(PollEvery)
	defer tick.Stop()
	for {
		// The hub is the queue's only reader: what len counts is there.
		for n := len(tr.ch); n > 0; n-- {
			ev := <-tr.ch
			h.deliver(tr, &ev)
		}
		select {
		case <-stop:
			return
		case <-tick.C:
		}
	}
}

func (h *Hub) deliver(tr *Tracer, ev *Event) {
	h.mu.Lock()
	defer h.mu.Unlock()
	var rec *Record
	every := tr.Plan().Every
	for s := range h.subs {
		if s.tr != tr || !s.filter.Match(&ev.Tuple) || !s.sample(every, ev.Time) {
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

// sample thins the events the subscriber's filter passed, sampled 1 in
// every by the workers, to about 1 in its own Sample (and one at least
// every SampleGap).
func (s *Subscription) sample(every int, now int64) bool {
	k := s.filter.every() / max(every, 1)
	if k <= 1 {
		return true
	}
	gap := int64(s.filter.SampleGap)
	if s.skipped+1 < k && (gap <= 0 || now-s.took < gap) {
		s.skipped++
		return false
	}
	s.skipped, s.took = 0, now
	return true
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
