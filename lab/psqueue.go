package lab

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"sync"
	"time"
)

// A real server of a given speed, for `gdirector bench sched --live`: the
// HTTP server started with `serve http --speed S` answers GET /work?s=W
// after serving W seconds of work (seconds on a server of speed 1) in a
// processor-sharing queue of speed S, the model bench/schedsim simulates:
// its n requests in progress each advance at S/n. The queue is a state
// machine on explicit times (psState, tested without a clock) driven by
// one timer armed for the next completion.

// MaxWork bounds the work of one /work request: 60 s at speed 1.
const MaxWork = 60.0

// psDone is the work left below which a request counts as finished (one
// nanosecond at speed 1), absorbing floating-point residue.
const psDone = 1e-9

// ParseWork parses the s= value of /work?s=W: seconds of work at speed 1,
// a finite number in [0, MaxWork].
func ParseWork(s string) (float64, error) {
	w, err := strconv.ParseFloat(s, 64)
	if err != nil || !(w >= 0 && w <= MaxWork) {
		return 0, fmt.Errorf("lab: work %q: want seconds in [0, %g]", s, MaxWork)
	}
	return w, nil
}

// ParseSpeed parses serve http's --speed: 0 (no model, /work answers at
// once) or a finite speed in (0, 1000].
func ParseSpeed(s string) (float64, error) {
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || !(v >= 0 && v <= 1000) {
		return 0, fmt.Errorf("lab: --speed %q: want 0 or a speed in (0, 1000]", s)
	}
	return v, nil
}

// psJob is one request in a processor-sharing queue.
type psJob struct {
	left float64 // work left, seconds at speed 1
	done chan struct{}
}

// psState is a processor-sharing queue on explicit times: at reports the
// time its work figures are current for.
type psState struct {
	speed float64
	at    time.Time
	jobs  []*psJob
	busy  time.Duration // time with at least one job in progress
}

// advance brings every job's work left up to now.
func (q *psState) advance(now time.Time) {
	dt := now.Sub(q.at)
	if dt <= 0 {
		return
	}
	if n := len(q.jobs); n > 0 {
		served := dt.Seconds() * q.speed / float64(n)
		for _, j := range q.jobs {
			j.left -= served
		}
		q.busy += dt
	}
	q.at = now
}

// finish removes the jobs with no work left and returns them.
func (q *psState) finish() []*psJob {
	var out []*psJob
	keep := q.jobs[:0]
	for _, j := range q.jobs {
		if j.left <= psDone {
			out = append(out, j)
		} else {
			keep = append(keep, j)
		}
	}
	clear(q.jobs[len(keep):])
	q.jobs = keep
	return out
}

// next returns how long after q.at the next job finishes if nothing
// arrives; ok is false when the queue is empty.
func (q *psState) next() (d time.Duration, ok bool) {
	if len(q.jobs) == 0 {
		return 0, false
	}
	least := math.Inf(1)
	for _, j := range q.jobs {
		least = min(least, j.left)
	}
	secs := max(least, 0) * float64(len(q.jobs)) / q.speed
	return time.Duration(math.Ceil(secs * 1e9)), true
}

// remove takes j out of the queue (a request given up by its client).
func (q *psState) remove(j *psJob) {
	for i, x := range q.jobs {
		if x == j {
			q.jobs = append(q.jobs[:i], q.jobs[i+1:]...)
			q.jobs = q.jobs[:len(q.jobs):len(q.jobs)]
			return
		}
	}
}

// PSQueue is a processor-sharing server of one speed in real time.
type PSQueue struct {
	mu    sync.Mutex
	st    psState
	timer *time.Timer
}

// NewPSQueue returns an idle queue of the given speed (> 0).
func NewPSQueue(speed float64) *PSQueue {
	q := &PSQueue{st: psState{speed: speed, at: time.Now()}}
	q.timer = time.AfterFunc(time.Hour, q.tick)
	q.timer.Stop()
	return q
}

// tick completes the requests that are due and re-arms the timer.
func (q *PSQueue) tick() {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.settleLocked(time.Now())
}

// settleLocked advances to now, releases the finished jobs and arms the
// timer for the next completion.
func (q *PSQueue) settleLocked(now time.Time) {
	q.st.advance(now)
	for _, j := range q.st.finish() {
		close(j.done)
	}
	if d, ok := q.st.next(); ok {
		q.timer.Reset(d)
	} else {
		q.timer.Stop()
	}
}

// Serve blocks until work seconds (at speed 1) have been served to this
// request, sharing the server with the others in progress, or ctx ends.
func (q *PSQueue) Serve(ctx context.Context, work float64) error {
	if !(work >= 0 && work <= MaxWork) {
		return errors.New("lab: work out of range")
	}
	j := &psJob{left: work, done: make(chan struct{})}
	q.mu.Lock()
	now := time.Now()
	q.st.advance(now)
	q.st.jobs = append(q.st.jobs, j)
	q.settleLocked(now)
	q.mu.Unlock()
	select {
	case <-j.done:
		return nil
	case <-ctx.Done():
		q.mu.Lock()
		defer q.mu.Unlock()
		select {
		case <-j.done:
			return nil
		default:
		}
		q.st.advance(time.Now())
		q.st.remove(j)
		q.settleLocked(time.Now())
		return ctx.Err()
	}
}

// Busy returns for how long the queue has had requests in progress.
func (q *PSQueue) Busy() time.Duration {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.st.advance(time.Now())
	return q.st.busy
}
