package forward

import (
	"context"
	"fmt"
	"net/netip"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/gdirector/gdirector/internal/nsutil"
)

// Sample is one measurement of one variant.
type Sample struct {
	// Value is the figure: delivered packets/s (udp64), connections/s
	// (cps) or Mbit/s received (bulk, bulk-gso).
	Value float64 `json:"value"`
	// Offered is what the UDP generator sent, packets/s.
	Offered float64 `json:"offered,omitempty"`
	// Packets is the denominator of the CPU figures: frames the director
	// namespace sent (udp64, cps), or MSS-sized (1448-byte) segments of
	// payload delivered (bulk, bulk-gso), in the window.
	Packets float64 `json:"packets"`
	// DirBusyNS is the busy time of the director's CPU in the window: the
	// window less the CPU's idle and steal time.
	DirBusyNS float64 `json:"dir_busy_ns"`
	// DirUtil is DirBusyNS's share of the window on that CPU.
	DirUtil float64 `json:"dir_util"`
	// ProcNS is the CPU time of the director process (gdirector,
	// HAProxy) in the window, on any CPU.
	ProcNS float64 `json:"proc_ns,omitempty"`
	// OtherNS is CPU time that processes outside the harness and its lab
	// used in the window (on either CPU): other work on the machine,
	// which skews every figure when it is not near zero.
	OtherNS float64 `json:"other_ns"`
	// IPIs counts the function-call interrupts the director's CPU took
	// in the window (RPS handing it frames; a diagnostic).
	IPIs float64 `json:"ipis"`
	// Window is the measured window's length in seconds.
	Window float64 `json:"window_s"`
	// Errors counts the load generator's errors (wrk socket errors and
	// non-2xx answers, iperf3 retransmissions are not errors).
	Errors int64  `json:"errors,omitempty"`
	Note   string `json:"note,omitempty"`
}

// DirNSPerPacket is the director CPU's busy time per packet.
func (s Sample) DirNSPerPacket() float64 {
	if s.Packets <= 0 {
		return 0
	}
	return s.DirBusyNS / s.Packets
}

// OtherShare is OtherNS's share of the window's CPU time (all CPUs).
func (s Sample) OtherShare() float64 {
	if s.Window <= 0 {
		return 0
	}
	return s.OtherNS / (s.Window * 1e9 * float64(runtime.NumCPU()))
}

// ProcNSPerPacket is the director process's CPU time per packet.
func (s Sample) ProcNSPerPacket() float64 {
	if s.Packets <= 0 {
		return 0
	}
	return s.ProcNS / s.Packets
}

// counters are read at both ends of a window.
type counters struct {
	at    time.Time
	cpu   cpuTimes
	tx    uint64
	proc  uint64
	other others // CPU time of other processes
	ipis  uint64 // function-call interrupts of the director CPU
	rx    uint64 // UDP datagrams counted by the sinks
	sent  uint64 // UDP datagrams sent by the generator
}

func (s *session) read(proc *nsutil.Proc, g *generator) (counters, error) {
	c := counters{at: time.Now(), rx: s.delivered()}
	if g != nil {
		c.sent = g.Sent()
	}
	var err error
	c.other = otherTicks(s.inodes)
	c.ipis = callIPIs(cpuDirector)
	if c.cpu, err = readCPU(cpuDirector); err != nil {
		return c, err
	}
	if c.tx, err = txFrames(s.t.DirectorNS, s.t.DirIfaces); err != nil {
		return c, err
	}
	if proc != nil {
		if c.proc, err = procRuntime(proc.Pid()); err != nil {
			return c, fmt.Errorf("director process: %w", err)
		}
	}
	return c, nil
}

// fill sets the window's CPU figures of smp from counters a and b.
func fill(smp *Sample, a, b counters) {
	el := b.at.Sub(a.at)
	smp.Window = el.Seconds()
	// Busy is what the window leaves after exact idle time (see
	// cpuTimes); steal is the hypervisor's, not the director's.
	busy := float64(el.Nanoseconds()) - float64(b.cpu.Idle-a.cpu.Idle)*tickNS - float64(b.cpu.Steal-a.cpu.Steal)*tickNS
	smp.DirBusyNS = min(max(busy, 0), float64(el.Nanoseconds()))
	if el > 0 {
		smp.DirUtil = smp.DirBusyNS / float64(el.Nanoseconds())
	}
	smp.ProcNS = float64(b.proc - a.proc)
	smp.OtherNS = float64(sum(otherDelta(a.other, b.other))) * tickNS
	smp.IPIs = float64(b.ipis - a.ipis)
}

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// window runs the warm-up and the measured window and returns the
// counters at the window's two ends.
func (s *session) window(ctx context.Context, proc *nsutil.Proc, g *generator) (a, b counters, err error) {
	if err = sleep(ctx, s.opt.Warmup); err != nil {
		return
	}
	if a, err = s.read(proc, g); err != nil {
		return
	}
	if err = sleep(ctx, s.opt.Duration); err != nil {
		return
	}
	b, err = s.read(proc, g)
	return
}

// measureUDP blasts 64-byte frames at targets:9000 and counts what the
// real servers receive.
func (s *session) measureUDP(ctx context.Context, proc *nsutil.Proc, targets []netip.Addr) (Sample, error) {
	dsts := make([]netip.AddrPort, len(targets))
	for i, a := range targets {
		dsts[i] = netip.AddrPortFrom(a, udpPort)
	}
	g, err := startGenerator(s.t.ClientNS, dsts, s.opt.Flows, cpuLoad)
	if err != nil {
		return Sample{}, err
	}
	a, b, err := s.window(ctx, proc, g)
	g.Stop()
	if err != nil {
		return Sample{}, err
	}
	el := b.at.Sub(a.at).Seconds()
	smp := Sample{
		Value:   float64(b.rx-a.rx) / el,
		Offered: float64(b.sent-a.sent) / el,
		Packets: float64(b.tx - a.tx),
		Errors:  int64(g.errs.Load()),
	}
	fill(&smp, a, b)
	if smp.Value == 0 {
		smp.Note = "no datagram reached the real servers"
	}
	return smp, nil
}

// toolGrace bounds how long a load tool may outlive its nominal run.
const toolGrace = 15 * time.Second

// measureCPS runs one wrk against http://target/ with Connection: close,
// so that every request is a new TCP connection. (The fwd anchor's target
// is the first RIP: one wrk in every variant, the same load-side cost.)
func (s *session) measureCPS(ctx context.Context, proc *nsutil.Proc, target netip.Addr) (Sample, error) {
	secs := strconv.Itoa(int((s.opt.Warmup + s.opt.Duration) / time.Second))
	wrk, err := s.t.Start(s.t.ClientNS, "taskset", "-c", strconv.Itoa(cpuLoad), "wrk", "-t1",
		"-c", strconv.Itoa(s.opt.Conns), "-d", secs+"s", "--timeout", "2s", "-H", "Connection: close",
		"http://"+netip.AddrPortFrom(target, httpPort).String()+"/")
	if err != nil {
		return Sample{}, err
	}
	defer wrk.Stop()
	procs := []*nsutil.Proc{wrk}
	a, b, err := s.window(ctx, proc, nil)
	if err != nil {
		return Sample{}, err
	}
	smp := Sample{Packets: float64(b.tx - a.tx)}
	fill(&smp, a, b)
	deadline := time.NewTimer(toolGrace)
	defer deadline.Stop()
	var notes []string
	for _, p := range procs {
		select {
		case <-p.Done():
		case <-deadline.C:
			return Sample{}, fmt.Errorf("wrk did not finish within %v of its run", toolGrace)
		case <-ctx.Done():
			return Sample{}, ctx.Err()
		}
		if err := p.Wait(); err != nil {
			notes = append(notes, fmt.Sprintf("wrk: %v: %s", err, clip(strings.TrimSpace(p.Output()), 200)))
			continue
		}
		r, err := parseWrk(p.Stdout())
		if err != nil {
			notes = append(notes, err.Error())
			continue
		}
		smp.Value += r.RequestsSec
		smp.Errors += r.SocketErrs + r.Non2xx
	}
	if smp.Errors > 0 {
		notes = append(notes, fmt.Sprintf("%d wrk errors", smp.Errors))
	}
	smp.Note = strings.Join(notes, "; ")
	return smp, nil
}

// measureBulk runs one iperf3 TCP stream from the client to target:5201
// for warm-up + window seconds, the warm-up omitted from its total.
func (s *session) measureBulk(ctx context.Context, proc *nsutil.Proc, target netip.Addr) (Sample, error) {
	total := int((s.opt.Warmup + s.opt.Duration) / time.Second)
	rctx, cancel := context.WithTimeout(ctx, time.Duration(total)*time.Second+toolGrace)
	defer cancel()
	type result struct {
		out string
		err error
	}
	done := make(chan result, 1)
	go func() {
		out, err := nsutil.RunContext(rctx, s.t.ClientNS, "taskset", "-c", strconv.Itoa(cpuLoad), "iperf3",
			"--client", target.String(), "--port", strconv.Itoa(iperfPort), "--time", strconv.Itoa(total),
			"--omit", strconv.Itoa(int(s.opt.Warmup/time.Second)), "--json", "--connect-timeout", "3000")
		done <- result{out, err}
	}()
	a, b, werr := s.window(ctx, proc, nil)
	res := <-done // bounded by rctx
	if werr != nil {
		return Sample{}, werr
	}
	smp := Sample{}
	fill(&smp, a, b)
	// iperf3 -J prints its report (with an "error" member) also when it
	// fails: read it first.
	out := res.out
	if i := strings.IndexByte(out, '{'); i > 0 {
		out = out[i:]
	}
	r, perr := parseIperf3(out)
	switch {
	case perr != nil:
		smp.Note = perr.Error()
	case res.err != nil:
		smp.Note = clip(res.err.Error(), 300)
	default:
		smp.Value = r.BitsPerSecond / 1e6
		smp.Packets = r.BitsPerSecond / 8 / mss * b.at.Sub(a.at).Seconds()
	}
	return smp, nil
}
