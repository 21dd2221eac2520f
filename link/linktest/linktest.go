// Package linktest provides in-memory link.Devices for tests that need no
// root and no network namespace.
//
// NewPair returns two devices joined like the ends of a veth pair: a frame
// written on one is copied into the other's bounded receive queue
// (QueueLen frames; frames arriving at a full queue are dropped and
// counted). New returns a device with no peer whose writes are recorded,
// to be collected with Sent or Drain. On any device, Inject makes a frame
// appear as received.
//
// Read blocks for at most ReadTimeout when nothing is queued and then
// returns 0, nil, like a packet socket with a receive timeout. Queue slots
// keep their buffers, so once warmed up Read and Write do not allocate,
// and data-path tests can check allocations through these devices. All
// methods are safe for concurrent use (Read by one goroutine at a time,
// as link.Device specifies).
//
// Devices are link.Multiplexers: TryRead never waits, and a Poller made by
// NewPoller over several devices wakes up when a frame is queued on any of
// them, so one goroutine can serve them all as a data-plane lane does with
// packet sockets. A device wakes the last Poller made over it.
package linktest

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/gdirector/gdirector/link"
)

// QueueLen is how many frames a receive queue (or a record of writes)
// holds before it drops.
const QueueLen = 1024

// ReadTimeout is the longest Read waits for a frame.
const ReadTimeout = 20 * time.Millisecond

// Defaults of a new device.
const (
	DefaultMTU       = 1500
	DefaultBatchSize = 64
)

var nextIndex atomic.Int32

// Stats are a device's counters.
type Stats struct {
	Read      uint64 // frames returned by Read
	Written   uint64 // frames Write queued at the peer or recorded
	Dropped   uint64 // frames this device's receive queue (or record of writes) dropped: full
	WriteLost uint64 // frames Write could not deliver: peer's queue full, or peer closed
	Truncated uint64 // frames dropped by Read because the buffer was too small
	Injected  uint64 // frames queued by Inject
}

// Device is an in-memory link.Device.
type Device struct {
	name  string
	index int
	mac   [6]byte
	mtu   atomic.Int32
	batch atomic.Int32

	peer *Device // nil: writes are recorded in sent
	rx   queue   // frames to Read
	sent queue   // recorded writes of an unpaired device

	closed    atomic.Bool
	done      chan struct{}
	closeOnce sync.Once

	readMu sync.Mutex // serialises Read (it owns timer)
	timer  *time.Timer

	read, written, writeLost, truncated, injected atomic.Uint64
}

var _ link.Multiplexer = (*Device)(nil)

// New returns an unpaired device: what is written on it is recorded (up
// to QueueLen frames) for Sent and Drain.
func New(name string, mac [6]byte) *Device {
	d := &Device{
		name:  name,
		index: int(nextIndex.Add(1)),
		mac:   mac,
		done:  make(chan struct{}),
		timer: time.NewTimer(time.Hour),
	}
	d.timer.Stop()
	d.mtu.Store(DefaultMTU)
	d.batch.Store(DefaultBatchSize)
	d.rx.init()
	d.sent.init()
	return d
}

// NewPair returns two devices joined to each other: a frame written on
// one is read on the other.
func NewPair(nameA, nameB string, macA, macB [6]byte) (*Device, *Device) {
	a, b := New(nameA, macA), New(nameB, macB)
	a.peer, b.peer = b, a
	return a, b
}

// Name returns the device name.
func (d *Device) Name() string { return d.name }

// Index returns a process-unique index.
func (d *Device) Index() int { return d.index }

// HardwareAddr returns the MAC address given at creation.
func (d *Device) HardwareAddr() [6]byte { return d.mac }

// MTU returns the MTU (DefaultMTU unless set with SetMTU). The device does
// not enforce it.
func (d *Device) MTU() int { return int(d.mtu.Load()) }

// SetMTU changes the MTU reported by MTU.
func (d *Device) SetMTU(mtu int) { d.mtu.Store(int32(mtu)) }

// BatchSize returns the most frames one Read returns.
func (d *Device) BatchSize() int { return int(d.batch.Load()) }

// SetBatchSize changes BatchSize (n >= 1).
func (d *Device) SetBatchSize(n int) {
	if n >= 1 {
		d.batch.Store(int32(n))
	}
}

// Peer returns the other end of a pair, or nil.
func (d *Device) Peer() *Device { return d.peer }

// Read copies up to min(len(bufs), len(sizes), BatchSize()) queued frames
// into bufs[i][offset:], their lengths into sizes[i]. If none is queued it
// waits up to ReadTimeout and may return 0, nil. A frame longer than the
// room in its buffer is dropped and counted as truncated.
func (d *Device) Read(bufs [][]byte, sizes []int, offset int) (int, error) {
	if d.closed.Load() {
		return 0, link.ErrClosed
	}
	d.readMu.Lock()
	defer d.readMu.Unlock()
	k := min(len(bufs), len(sizes), d.BatchSize())
	if k == 0 {
		return 0, nil
	}
	n, trunc := d.rx.popInto(bufs[:k], sizes[:k], offset)
	if n == 0 && trunc == 0 {
		d.timer.Reset(ReadTimeout)
		select {
		case <-d.rx.notify:
		case <-d.timer.C:
		case <-d.done:
		}
		d.timer.Stop()
		if d.closed.Load() {
			return 0, link.ErrClosed
		}
		n, trunc = d.rx.popInto(bufs[:k], sizes[:k], offset)
	}
	if n > 0 {
		d.read.Add(uint64(n))
	}
	if trunc > 0 {
		d.truncated.Add(uint64(trunc))
	}
	return n, nil
}

// TryRead is Read without waiting: it returns 0, nil at once when no frame
// is queued.
func (d *Device) TryRead(bufs [][]byte, sizes []int, offset int) (int, error) {
	if d.closed.Load() {
		return 0, link.ErrClosed
	}
	d.readMu.Lock()
	defer d.readMu.Unlock()
	k := min(len(bufs), len(sizes), d.BatchSize())
	if k == 0 {
		return 0, nil
	}
	n, trunc := d.rx.popInto(bufs[:k], sizes[:k], offset)
	if n > 0 {
		d.read.Add(uint64(n))
	}
	if trunc > 0 {
		d.truncated.Add(uint64(trunc))
	}
	return n, nil
}

// NewPoller returns a link.Poller over devs if they are all devices of
// this package, else nil. From then on each of them wakes this Poller
// (instead of any made before) when a frame is queued or it is closed.
func (d *Device) NewPoller(devs []link.Device) link.Poller {
	p := &poller{wake: make(chan struct{}, 1), timer: time.NewTimer(time.Hour)}
	p.timer.Stop()
	var ours []*Device
	for _, x := range devs {
		ld, ok := x.(*Device)
		if !ok {
			return nil
		}
		ours = append(ours, ld)
	}
	for _, ld := range ours {
		ld.rx.wake.Store(&p.wake)
		if ld.closed.Load() || ld.rx.len() > 0 {
			p.poke()
		}
	}
	return p
}

// poller waits on a channel that its devices' queues poke.
type poller struct {
	wake  chan struct{} // 1-buffered
	timer *time.Timer
}

func (p *poller) poke() {
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// Wait returns when a frame was queued on (or a close happened to) one of
// its devices since the last Wait, or after timeout.
func (p *poller) Wait(timeout time.Duration) {
	p.timer.Reset(timeout)
	select {
	case <-p.wake:
	case <-p.timer.C:
	}
	p.timer.Stop()
}

// Write copies bufs[i][offset:] for every i into the peer's receive queue
// (or, unpaired, into the record of writes). It returns how many frames
// were queued; frames that find the queue full or the peer closed are
// dropped and counted.
func (d *Device) Write(bufs [][]byte, offset int) (int, error) {
	if d.closed.Load() {
		return 0, link.ErrClosed
	}
	q := &d.sent
	if d.peer != nil {
		if d.peer.closed.Load() {
			d.writeLost.Add(uint64(len(bufs)))
			return 0, nil
		}
		q = &d.peer.rx
	}
	n := 0
	for _, b := range bufs {
		var f []byte
		if len(b) > offset {
			f = b[offset:]
		}
		if q.push(f) {
			n++
		}
	}
	if n > 0 {
		d.written.Add(uint64(n))
	}
	if n < len(bufs) {
		d.writeLost.Add(uint64(len(bufs) - n))
	}
	return n, nil
}

// Inject makes a copy of frame appear as received on d: the next Read
// returns it. A full queue drops it (counted).
func (d *Device) Inject(frame []byte) {
	if d.rx.push(frame) {
		d.injected.Add(1)
	}
}

// Sent returns copies of the frames written on an unpaired device that
// have not been drained yet, oldest first, without removing them. It
// returns nil for a paired device.
func (d *Device) Sent() [][]byte { return d.sent.snapshot(false) }

// Drain removes and returns the frames written on an unpaired device,
// oldest first. If none has been written yet it waits up to timeout for
// the first one.
func (d *Device) Drain(timeout time.Duration) [][]byte {
	if out := d.sent.snapshot(true); len(out) > 0 || timeout <= 0 {
		return out
	}
	t := time.NewTimer(timeout)
	defer t.Stop()
	for {
		select {
		case <-d.sent.notify:
		case <-t.C:
			return d.sent.snapshot(true)
		case <-d.done:
			return d.sent.snapshot(true)
		}
		// A token may be stale (its frames already taken): wait on.
		if out := d.sent.snapshot(true); len(out) > 0 {
			return out
		}
	}
}

// Pending returns how many frames wait to be read on d.
func (d *Device) Pending() int { return d.rx.len() }

// Stats returns the counters.
func (d *Device) Stats() Stats {
	return Stats{
		Read:      d.read.Load(),
		Written:   d.written.Load(),
		Dropped:   d.rx.dropped.Load() + d.sent.dropped.Load(),
		WriteLost: d.writeLost.Load(),
		Truncated: d.truncated.Load(),
		Injected:  d.injected.Load(),
	}
}

// Close closes the device; it is idempotent. A Read waiting on d returns
// link.ErrClosed; Read and Write afterwards return link.ErrClosed; frames
// written to it by its peer are dropped.
func (d *Device) Close() error {
	d.closeOnce.Do(func() {
		d.closed.Store(true)
		close(d.done)
		d.rx.poke()
	})
	return nil
}

// queue is a bounded FIFO of frames whose slots keep their buffers.
type queue struct {
	mu      sync.Mutex
	slots   [][]byte
	head, n int
	notify  chan struct{}                 // 1-buffered: something was pushed
	wake    atomic.Pointer[chan struct{}] // a Poller's channel, also poked
	dropped atomic.Uint64
}

// poke wakes the queue's Poller, if any.
func (q *queue) poke() {
	if w := q.wake.Load(); w != nil {
		select {
		case *w <- struct{}{}:
		default:
		}
	}
}

func (q *queue) init() {
	q.slots = make([][]byte, QueueLen)
	q.notify = make(chan struct{}, 1)
}

func (q *queue) push(f []byte) bool {
	q.mu.Lock()
	if q.n == len(q.slots) {
		q.mu.Unlock()
		q.dropped.Add(1)
		return false
	}
	i := (q.head + q.n) % len(q.slots)
	q.slots[i] = append(q.slots[i][:0], f...)
	q.n++
	q.mu.Unlock()
	select {
	case q.notify <- struct{}{}:
	default:
	}
	q.poke()
	return true
}

// popInto moves up to len(bufs) frames into bufs[i][offset:]. Frames that
// do not fit are consumed and counted in trunc.
func (q *queue) popInto(bufs [][]byte, sizes []int, offset int) (n, trunc int) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for n < len(bufs) && q.n > 0 {
		f := q.slots[q.head]
		q.head = (q.head + 1) % len(q.slots)
		q.n--
		if offset < 0 || len(bufs[n])-offset < len(f) {
			trunc++
			continue
		}
		sizes[n] = copy(bufs[n][offset:], f)
		n++
	}
	if q.n > 0 {
		// Frames remain: keep the next Read from waiting.
		select {
		case q.notify <- struct{}{}:
		default:
		}
	}
	return n, trunc
}

func (q *queue) snapshot(remove bool) [][]byte {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.n == 0 {
		return nil
	}
	out := make([][]byte, q.n)
	for i := range out {
		out[i] = append([]byte(nil), q.slots[(q.head+i)%len(q.slots)]...)
	}
	if remove {
		q.head, q.n = 0, 0
	}
	return out
}

func (q *queue) len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.n
}
