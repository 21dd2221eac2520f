package datapath

import (
	"sync/atomic"

	"github.com/gdirector/gdirector/conntrack"
	"github.com/gdirector/gdirector/forward"
	"github.com/gdirector/gdirector/header"
	"github.com/gdirector/gdirector/link"
	"github.com/gdirector/gdirector/sched"
	"github.com/gdirector/gdirector/trace"
	"github.com/gdirector/gdirector/vs"
)

// tracing is a worker's part of gdirector trace (package trace): the
// tracer installed (loaded once per batch, nil when no trace runs), the
// event of the current packet and its connection.
//
// With no tracer the data plane pays the load per batch and a nil check
// per packet (handle, and the hooks in process). With one, handle loads
// the tracer's plan (one atomic load) and first decides on the worker's
// own counter whether this packet is sampled (trace.Plan.Sample: one in
// Every); a packet that is not goes through process exactly as without a
// tracer. A sampled packet fills ev (its frame copied up to
// trace.SnapLen bytes before and after) and, if a filter wants it, Emit
// copies it into the tracer's queue without blocking; nothing allocates.
type tracing struct {
	tr   *trace.Tracer
	plan *trace.Plan // the tracer's plan for the current packet
	lane int
	conn *conntrack.Conn
	peek sched.Peek // scratch of the scheduler's explanation
	ev   trace.Event
	// The sampler (trace.Plan.Sample): packets still to skip and the
	// worker's time of the last packet taken.
	skip int
	took int64
}

// SetTracer installs t: from their next batch the workers report the
// packets t wants to it. nil stops tracing.
func (d *Director) SetTracer(t *trace.Tracer) {
	if t != nil {
		names := make([]string, len(d.devs))
		for i, dv := range d.devs {
			names[i] = dv.Name()
		}
		t.SetDevices(names)
	}
	d.tracer.Store(t)
}

// handle is process, traced when a tracer is installed and its sampling
// takes this packet.
func (w *Worker) handle(frame []byte) (int, []byte, forward.Reason) {
	t := &w.t
	if t.tr == nil {
		return w.process(frame)
	}
	t.plan = t.tr.Plan()
	if !t.plan.Sample(&t.skip, &t.took, w.now) {
		// Not sampled: no tracer for this packet, so the hooks in
		// process (which test t.tr) skip too.
		tr := t.tr
		t.tr = nil
		dev, out, r := w.process(frame)
		t.tr = tr
		return dev, out, r
	}
	return w.traced(frame)
}

// traced runs process on frame and reports the packet to the tracer:
// every packet of a connection and every drop, not the frames that are
// none of the director's business nor its ARP/NDP/echo answers.
func (w *Worker) traced(frame []byte) (int, []byte, forward.Reason) {
	t := &w.t
	ev := &t.ev
	t.conn = nil
	ignored, parked := atomic.LoadUint64(&w.c.ignored), atomic.LoadUint64(&w.c.parked)
	ev.Start(w.now, t.lane, w.dev, frame[link.Headroom:])
	dev, out, r := w.process(frame)
	c := t.conn
	switch {
	case atomic.LoadUint64(&w.c.ignored) != ignored:
		return dev, out, r
	case c == nil && r == forward.Pass:
		return dev, out, r
	}
	ev.Reason = r
	ev.Parked = atomic.LoadUint64(&w.c.parked) != parked
	if r == forward.Pass && dev >= 0 && out != nil {
		ev.Out = dev
		ev.After.Set(out)
	}
	tp := &ev.Tuple
	if c != nil {
		ev.Conn.Finish(c, w.now)
		*tp = trace.Tuple{Proto: c.Proto, IPv6: c.IPv6, Known: true, Client: c.CAddr, VIP: c.VAddr, Port: c.VPort}
	} else if p := &w.p; p.EtherType == header.EtherTypeIPv4 || p.EtherType == header.EtherTypeIPv6 {
		// Dropped before it had a connection: a client's packet to a VIP,
		// not rewritten.
		*tp = trace.Tuple{Proto: vs.Proto(p.Proto), IPv6: p.IPv6, Known: true, Client: p.Src, VIP: p.Dst, Port: p.DPort}
	}
	if t.plan.Wants(tp) {
		t.tr.Emit(ev)
	}
	return dev, out, r
}

// traceHit notes that the packet belongs to the known connection c.
func (w *Worker) traceHit(c *conntrack.Conn, dir forward.Dir) {
	w.t.conn = c
	w.t.ev.Dir = dir
	w.t.ev.Conn.Set(trace.ConnHit, c)
}

// traceICMP notes an ICMP error about connection c.
func (w *Worker) traceICMP(c *conntrack.Conn, dir forward.Dir) {
	w.traceHit(c, dir)
	w.t.ev.ICMP = true
}

// traceNew notes the connection created for the packet.
func (w *Worker) traceNew(c *conntrack.Conn) {
	w.t.conn = c
	w.t.ev.Dir = forward.In
	w.t.ev.Conn.Set(trace.ConnNew, c)
}

// traceTemplate notes the persistence template that chose the real
// server (created: the scheduler chose and the template records it).
func (w *Worker) traceTemplate(ct *conntrack.Conn, created bool) {
	d := trace.TemplateHit
	if created {
		d = trace.TemplateNew
	}
	w.t.ev.Template.Set(d, ct, w.now)
}

// schedule returns svc's scheduler's pick for fl; while tracing it also
// records the scheduler's inputs (before the pick) and its choice. The
// inputs are read racily: see trace.SchedInfo.Capture.
func (w *Worker) schedule(svc *vs.Service, fl *vs.Flow) *vs.Dest {
	if w.t.tr == nil {
		return svc.Sched.Schedule(svc, fl)
	}
	w.t.ev.Sched.Capture(svc, fl, &w.t.peek)
	d := svc.Sched.Schedule(svc, fl)
	w.t.ev.Sched.Picked(svc, fl, d, &w.t.peek)
	return d
}
