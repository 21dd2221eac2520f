package vrrp

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"os/user"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// ScriptConfig is a script that instances track (keepalived's
// vrrp_script): run every Interval, its exit status (0: success) moves
// the priority of the instances tracking it, or puts them in FAULT.
type ScriptConfig struct {
	Name string
	// Command is a POSIX shell command line, run with sh -c in a process
	// group of its own.
	Command string
	// Interval is the time from the start of one run to the next (a run
	// still going is not started twice); Timeout the time after which a
	// run is stopped (SIGTERM to its process group, SIGKILL 2 s later)
	// and counts as a failure. 0: 1 s, and Timeout = Interval.
	Interval, Timeout time.Duration
	// Rise successes in a row make a failed script good, Fall failures
	// in a row a good one failed (0: 1).
	Rise, Fall int
	// InitFail: failed until it succeeds. Otherwise the script has no
	// state until its first run ends, and that run decides it (one
	// success is enough, as one failure).
	InitFail bool
	// User and Group run the script ("": the daemon's own; Group ""
	// with a User: the user's primary group).
	User, Group string
}

// TrackScript is a script an instance tracks (keepalived's track_script
// line). Weight 0: the instance is in FAULT while the script is failed
// (while it succeeds, with Reverse). Otherwise a positive weight is added
// to the priority while the script is good, a negative one while it is
// failed, and Reverse negates what is added.
type TrackScript struct {
	Script  ScriptConfig
	Weight  int // -253..253
	Reverse bool
}

// ScriptStatus is a script's state.
type ScriptStatus int8

const (
	// ScriptInit: no run has ended yet (and no init_fail).
	ScriptInit ScriptStatus = iota
	ScriptGood
	ScriptFailed
)

func (s ScriptStatus) String() string {
	switch s {
	case ScriptGood:
		return "good"
	case ScriptFailed:
		return "failed"
	}
	return "init"
}

// withDefaults fills the zero fields.
func (c ScriptConfig) withDefaults() ScriptConfig {
	if c.Interval <= 0 {
		c.Interval = time.Second
	}
	if c.Timeout <= 0 {
		c.Timeout = c.Interval
	}
	c.Rise, c.Fall = max(c.Rise, 1), max(c.Fall, 1)
	return c
}

// validate checks a script's configuration.
func (c ScriptConfig) validate() error {
	switch {
	case c.Name == "":
		return errors.New("script without a name")
	case c.Command == "":
		return fmt.Errorf("script %s: no command", c.Name)
	case c.Interval < 0 || c.Timeout < 0 || c.Rise < 0 || c.Fall < 0:
		return fmt.Errorf("script %s: negative interval, timeout, rise or fall", c.Name)
	case c.Group != "" && c.User == "":
		return fmt.Errorf("script %s: a group without a user", c.Name)
	}
	return nil
}

// credential resolves User and Group (nil: run as the daemon).
func (c ScriptConfig) credential() (*syscall.Credential, error) {
	if c.User == "" {
		return nil, nil
	}
	u, err := user.Lookup(c.User)
	if err != nil {
		return nil, fmt.Errorf("script %s: %w", c.Name, err)
	}
	gid := u.Gid
	if c.Group != "" {
		g, err := user.LookupGroup(c.Group)
		if err != nil {
			return nil, fmt.Errorf("script %s: %w", c.Name, err)
		}
		gid = g.Gid
	}
	uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
	g, err2 := strconv.ParseUint(gid, 10, 32)
	if err1 != nil || err2 != nil {
		return nil, fmt.Errorf("script %s: user %s: non-numeric uid or gid", c.Name, c.User)
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(g)}, nil
}

// scriptRunner runs one script for every loop that tracks it: loops with
// the same ScriptConfig share a runner (the registry below), so a script
// tracked by several instances runs once per interval, as in keepalived.
type scriptRunner struct {
	cfg   ScriptConfig // with defaults
	shell string
	logf  func(string, ...any)
	cred  *syscall.Credential

	mu     sync.Mutex
	status ScriptStatus
	// result counts toward a change, as keepalived's does: failed below
	// Rise, good from Rise to Rise+Fall-1; a success moves a failed
	// script up by one (to the top once it reaches Rise), a failure
	// moves a good one down by one (to 0 once it would drop below Rise).
	result  int
	subs    map[int]func(ScriptStatus)
	nextSub int
	first   chan struct{} // closed when the status is known
	refs    int
	runs    uint64

	// ctx ends with the last release (stop), which cancels a run that
	// is still going; done closes when run has returned.
	ctx  context.Context
	stop context.CancelFunc
	done chan struct{}
}

var scripts struct {
	mu      sync.Mutex
	running map[ScriptConfig]*scriptRunner
}

// acquireScript returns the running runner of cfg, starting it if none
// runs; release it with releaseScript.
func acquireScript(cfg ScriptConfig, shell string, logf func(string, ...any)) (*scriptRunner, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	scripts.mu.Lock()
	defer scripts.mu.Unlock()
	if r := scripts.running[cfg]; r != nil {
		r.refs++
		return r, nil
	}
	cred, err := cfg.credential()
	if err != nil {
		return nil, err
	}
	r := &scriptRunner{cfg: cfg, shell: shell, logf: logf, cred: cred, subs: map[int]func(ScriptStatus){},
		first: make(chan struct{}), refs: 1, done: make(chan struct{})}
	r.ctx, r.stop = context.WithCancel(context.Background())
	if cfg.InitFail {
		r.status = ScriptFailed
		close(r.first)
	} else {
		r.result = cfg.Rise - 1 // one success is enough
	}
	if scripts.running == nil {
		scripts.running = map[ScriptConfig]*scriptRunner{}
	}
	scripts.running[cfg] = r
	go r.run()
	return r, nil
}

// releaseScript drops a reference to r; the last one stops it and waits
// for its run to end.
func releaseScript(r *scriptRunner) {
	scripts.mu.Lock()
	r.refs--
	last := r.refs == 0
	if last {
		delete(scripts.running, r.cfg)
	}
	scripts.mu.Unlock()
	if last {
		r.stop()
		<-r.done
	}
}

// subscribe calls fn, from the runner's goroutine, with every change of
// status from now on; the returned func cancels.
func (r *scriptRunner) subscribe(fn func(ScriptStatus)) (cancel func()) {
	r.mu.Lock()
	id := r.nextSub
	r.nextSub++
	r.subs[id] = fn
	r.mu.Unlock()
	return func() {
		r.mu.Lock()
		delete(r.subs, id)
		r.mu.Unlock()
	}
}

// Status returns the script's current state.
func (r *scriptRunner) Status() ScriptStatus {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.status
}

// record applies one run's outcome and returns the new status and
// whether it changed.
func (r *scriptRunner) record(ok bool) (ScriptStatus, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.runs++
	was := r.status
	rise, top := r.cfg.Rise, r.cfg.Rise+r.cfg.Fall-1
	switch {
	case ok && r.result < rise-1:
		r.result++
	case ok:
		r.result, r.status = top, ScriptGood
	case r.result > rise:
		r.result--
	default:
		r.result, r.status = 0, ScriptFailed
	}
	if was == ScriptInit && r.status != ScriptInit { // (never with InitFail)
		close(r.first)
	}
	return r.status, r.status != was
}

// run runs the script every interval until stopped.
func (r *scriptRunner) run() {
	defer close(r.done)
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-r.ctx.Done():
			return
		case <-t.C:
		}
		start := time.Now()
		ok, why := r.once()
		if why == errStopped {
			return
		}
		st, changed := r.record(ok)
		if changed {
			r.logf("vrrp script %s: %s (%s)", r.cfg.Name, st, why)
			r.mu.Lock()
			subs := make([]func(ScriptStatus), 0, len(r.subs))
			for _, fn := range r.subs {
				subs = append(subs, fn)
			}
			r.mu.Unlock()
			for _, fn := range subs {
				fn(st)
			}
		}
		t.Reset(max(time.Until(start.Add(r.cfg.Interval)), 0))
	}
}

// errStopped is once's reason for a run cut short by the runner's stop:
// it is not recorded.
const errStopped = "stopped"

// once runs the script and reports whether it succeeded, and why not.
func (r *scriptRunner) once() (ok bool, why string) {
	ctx, cancel := context.WithTimeout(r.ctx, r.cfg.Timeout) // a stop ends a run still going
	defer cancel()
	cmd := exec.CommandContext(ctx, r.shell, "-c", r.cfg.Command)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Credential: r.cred}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM) }
	cmd.WaitDelay = 2 * time.Second // then SIGKILL (to the shell; the group below)
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return true, "exit status 0"
	case ctx.Err() != nil:
		if cmd.Process != nil {
			// What the script left behind in its group goes too
			// (the group id stays reserved while a member lives).
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		}
		if ctx.Err() == context.DeadlineExceeded {
			return false, fmt.Sprintf("timed out after %v", r.cfg.Timeout)
		}
		return false, errStopped
	case errors.As(err, &ee):
		return false, ee.ProcessState.String()
	}
	return false, err.Error()
}
