package forward

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/gdirector/gdirector/internal/nsutil"
)

// Programs the harness runs; Run checks they are on PATH first.
var Programs = []string{"ip", "ss", "taskset", "nft", "wrk", "iperf3", "haproxy", "ethtool"}

// Run measures every method of opt with every variant, opt.Runs times in
// A/B/A/B order, and returns the report. bin is the gdirector binary run in
// the namespaces; progress lines go to log (nil discards them). It needs
// root and at least two CPUs, and removes everything it created before
// returning, also on error or when ctx is cancelled.
func Run(ctx context.Context, opt Options, bin string, log io.Writer) (*Report, error) {
	if log == nil {
		log = io.Discard
	}
	logf := func(format string, args ...any) { fmt.Fprintf(log, format+"\n", args...) }
	if os.Geteuid() != 0 {
		return nil, errors.New("bench forward: needs root (network namespaces)")
	}
	for _, p := range Programs {
		if _, err := exec.LookPath(p); err != nil {
			return nil, fmt.Errorf("bench forward: needs %s on PATH (apt-get install nftables wrk iperf3 haproxy ethtool)", p)
		}
	}
	var online unix.CPUSet
	if err := unix.SchedGetaffinity(0, &online); err != nil {
		return nil, err
	}
	if !online.IsSet(cpuLoad) || !online.IsSet(cpuDirector) {
		return nil, fmt.Errorf("bench forward: needs CPUs %d and %d", cpuLoad, cpuDirector)
	}
	// The harness itself (its generator, sinks and children) stays on
	// the load CPU.
	old, err := pinProcess(cpuSet(cpuLoad))
	if err != nil {
		return nil, err
	}
	defer pinProcess(old)

	withWorkers := workersFlag(bin)
	vs := variants(withWorkers)
	rep := newReport(opt, withWorkers)
	if f := strings.Fields(rep.LoadAvg); len(f) > 0 {
		if l, err := strconv.ParseFloat(f[0], 64); err == nil && l > 1 {
			logf("warning: load average %s at start: other work on this machine skews every figure", rep.LoadAvg)
		}
	}
	prefix := opt.Prefix
	if prefix == "" {
		prefix = fmt.Sprintf("gdb%d", os.Getpid())
	}
	for _, name := range opt.Methods {
		m := methods[name]
		if err := runMethod(ctx, opt, m, prefix+name[:1], bin, vs, rep, logf); err != nil {
			return nil, err
		}
	}
	rep.finish()
	return rep, nil
}

// runMethod builds one method's lab and runs every variant on it.
func runMethod(ctx context.Context, opt Options, m method, prefix, bin string, vs []variant, rep *Report, logf func(string, ...any)) (err error) {
	logf("== %s: building the lab (%s)", m.name, prefix)
	s, err := newSession(ctx, opt, m, prefix, bin, logf)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := s.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("bench %s: cleanup: %w", m.name, cerr)
		}
	}()
	for run := 1; run <= opt.Runs; run++ {
		for _, v := range vs {
			if err := runVariant(ctx, s, v, run, rep, logf); err != nil {
				return fmt.Errorf("bench %s, %s, run %d: %w", m.name, v.name, run, err)
			}
		}
	}
	return nil
}

func runVariant(ctx context.Context, s *session, v variant, run int, rep *Report, logf func(string, ...any)) (err error) {
	tests := 0
	for _, t := range s.opt.Tests {
		if v.runs(t) {
			tests++
		}
	}
	if tests == 0 {
		return nil
	}
	p := &plumbing{}
	defer func() {
		if uerr := p.Undo(); uerr != nil && err == nil {
			err = fmt.Errorf("undo: %w", uerr)
		}
	}()
	proc, err := v.up(ctx, s, p)
	if err != nil {
		return err
	}
	targets := s.t.RIPs()
	if !v.toRIP {
		targets = targets[:0:0]
		targets = append(targets, s.t.VIP)
	}
	for _, t := range s.opt.Tests {
		if !v.runs(t) {
			continue
		}
		var best Sample
		for attempt := 1; attempt <= maxAttempts; attempt++ {
			if err := s.waitQuiet(ctx); err != nil {
				return err
			}
			smp, err := s.measure(ctx, t, proc, targets)
			if err != nil {
				return fmt.Errorf("%s: %w", t, err)
			}
			if attempt == 1 || smp.OtherShare() < best.OtherShare() {
				best = smp
			}
			if smp.OtherShare() <= s.opt.MaxOther {
				break
			}
			logf("%-8s run %d  %-9s %-13s other processes used %.0f%% of the CPUs: measuring again", s.m.name, run, t, v.name, smp.OtherShare()*100)
		}
		rep.add(s.m.name, t, v.name, best)
		logf("%-8s run %d  %-9s %-13s %-14s director CPU %3.0f%%  %s/pkt  other %2.0f%%%s", s.m.name, run, t, v.name,
			formatValue(t, best.Value), best.DirUtil*100, formatNS(best.DirNSPerPacket()), best.OtherShare()*100, noteSuffix(best.Note))
	}
	return nil
}

// maxAttempts bounds the measurements of one test in one run when other
// work disturbs them.
const maxAttempts = 3

// measure takes one sample of test t.
func (s *session) measure(ctx context.Context, t Test, proc *nsutil.Proc, targets []netip.Addr) (smp Sample, err error) {
	switch t {
	case TestUDP:
		return s.measureUDP(ctx, proc, targets)
	case TestCPS:
		return s.measureCPS(ctx, proc, targets[0])
	case TestBulk:
		return s.measureBulk(ctx, proc, targets[0])
	case TestBulkGSO:
		if err := s.setOffloads(true); err != nil {
			return Sample{}, err
		}
		smp, err = s.measureBulk(ctx, proc, targets[0])
		if oerr := s.setOffloads(false); oerr != nil && err == nil {
			err = oerr
		}
		return smp, err
	}
	return Sample{}, fmt.Errorf("unknown test %q", t)
}

// waitQuiet waits (up to opt.QuietWait, in 1 s probes) until processes
// outside the harness and its lab use at most opt.MaxOther of the CPUs.
func (s *session) waitQuiet(ctx context.Context) error {
	if s.opt.MaxOther >= 1 {
		return nil
	}
	deadline := time.Now().Add(s.opt.QuietWait)
	for {
		a := otherTicks(s.inodes)
		start := time.Now()
		if err := sleep(ctx, time.Second); err != nil {
			return err
		}
		d := otherDelta(a, otherTicks(s.inodes))
		el := time.Since(start).Seconds()
		share := float64(sum(d)) * tickNS / (el * 1e9 * float64(runtime.NumCPU()))
		if share <= s.opt.MaxOther {
			return nil
		}
		if time.Now().After(deadline) {
			s.logf("other processes still use %.0f%% of the CPUs after %v (%s): measuring anyway",
				share*100, s.opt.QuietWait, topOthers(d, el))
			return nil
		}
	}
}

func noteSuffix(n string) string {
	if n == "" {
		return ""
	}
	return "  (" + n + ")"
}

// kernelRelease returns uname -r.
func kernelRelease() string {
	var u unix.Utsname
	if unix.Uname(&u) != nil {
		return "?"
	}
	return strings.TrimRight(string(u.Release[:]), "\x00")
}

func today() string { return time.Now().Format("2006-01-02") }
