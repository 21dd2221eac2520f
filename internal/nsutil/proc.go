package nsutil

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

// StopTimeout is how long Proc.Stop waits after SIGTERM before SIGKILL.
const StopTimeout = 3 * time.Second

// RunTimeout bounds a command started by Run.
const RunTimeout = 30 * time.Second

// outputCap bounds each captured stream; older bytes are dropped first.
const outputCap = 1 << 20

// ipPath is the iproute2 binary used for `ip netns exec`, or "" to fork from
// a thread switched with setns. Tests may override it.
var ipPath = func() string {
	p, err := exec.LookPath("ip")
	if err != nil {
		return ""
	}
	return p
}()

// tailBuffer is a goroutine-safe writer that keeps the last outputCap bytes.
type tailBuffer struct {
	mu      sync.Mutex
	buf     []byte
	dropped int64
}

func (b *tailBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf = append(b.buf, p...)
	if over := len(b.buf) - outputCap; over > outputCap {
		// Trim rarely: only when twice the cap is held.
		n := copy(b.buf, b.buf[len(b.buf)-outputCap:])
		b.dropped += int64(len(b.buf) - n)
		b.buf = b.buf[:n]
	}
	return len(p), nil
}

func (b *tailBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	s := b.buf
	if len(s) > outputCap {
		s = s[len(s)-outputCap:]
	}
	if b.dropped > 0 || len(b.buf) > outputCap {
		return "[…earlier output dropped…]\n" + string(s)
	}
	return string(s)
}

// Proc is a process started inside a network namespace by Start.
type Proc struct {
	NS   string   // namespace name
	Args []string // argv as given to Start

	cmd      *exec.Cmd
	stdout   tailBuffer
	stderr   tailBuffer
	combined tailBuffer
	done     chan struct{}
	waitErr  error
	stopOnce sync.Once
}

// procs tracks the live processes started by this package, by pid, so that
// Cleanup can stop them.
var procs struct {
	sync.Mutex
	m map[int]*Proc
}

func track(p *Proc) {
	procs.Lock()
	defer procs.Unlock()
	if procs.m == nil {
		procs.m = make(map[int]*Proc)
	}
	procs.m[p.Pid()] = p
}

func untrack(p *Proc) {
	procs.Lock()
	defer procs.Unlock()
	if procs.m[p.Pid()] == p {
		delete(procs.m, p.Pid())
	}
}

func tracked(match func(*Proc) bool) []*Proc {
	procs.Lock()
	defer procs.Unlock()
	var out []*Proc
	for _, p := range procs.m {
		if match(p) {
			out = append(out, p)
		}
	}
	return out
}

// command builds the exec.Cmd that runs argv in ns and reports whether it
// must be started from a thread inside ns (the no-iproute2 fallback).
func command(ctx context.Context, ns string, argv []string) (*exec.Cmd, bool, error) {
	if err := checkName(ns); err != nil {
		return nil, false, err
	}
	if len(argv) == 0 {
		return nil, false, errors.New("nsutil: empty argv")
	}
	if !Exists(ns) {
		return nil, false, fmt.Errorf("nsutil: namespace %q: %w", ns, os.ErrNotExist)
	}
	var cmd *exec.Cmd
	inThread := ipPath == ""
	if inThread {
		cmd = exec.CommandContext(ctx, argv[0], argv[1:]...)
	} else {
		args := append([]string{"netns", "exec", ns}, argv...)
		cmd = exec.CommandContext(ctx, ipPath, args...)
	}
	// Own process group: signals reach the children of the command too.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return signalGroup(cmd.Process.Pid, syscall.SIGKILL) }
	// Do not hang on pipes inherited by stray grandchildren.
	cmd.WaitDelay = 2 * time.Second
	return cmd, inThread, nil
}

func startCmd(ns string, cmd *exec.Cmd, inThread bool) error {
	if inThread {
		return Do(ns, cmd.Start)
	}
	return cmd.Start()
}

func signalGroup(pid int, sig syscall.Signal) error {
	err := syscall.Kill(-pid, sig)
	if errors.Is(err, syscall.ESRCH) {
		// No group (or already gone): try the process itself.
		err = syscall.Kill(pid, sig)
		if errors.Is(err, syscall.ESRCH) {
			return nil
		}
	}
	return err
}

// Start starts argv inside the named namespace with stdin from /dev/null and
// stdout and stderr captured (the last MiB of each). The process runs until
// it exits or Stop is called; it is also stopped by Cleanup for a matching
// prefix.
func Start(ns string, argv ...string) (*Proc, error) {
	cmd, inThread, err := command(context.Background(), ns, argv)
	if err != nil {
		return nil, err
	}
	p := &Proc{NS: ns, Args: append([]string(nil), argv...), cmd: cmd, done: make(chan struct{})}
	cmd.Stdout = multi{&p.stdout, &p.combined}
	cmd.Stderr = multi{&p.stderr, &p.combined}
	if err := startCmd(ns, cmd, inThread); err != nil {
		return nil, fmt.Errorf("nsutil: start %q in %q: %w", argv, ns, err)
	}
	track(p)
	go func() {
		p.waitErr = cmd.Wait()
		untrack(p)
		close(p.done)
	}()
	return p, nil
}

// multi duplicates writes to two tailBuffers (never fails).
type multi [2]*tailBuffer

func (m multi) Write(b []byte) (int, error) {
	m[0].Write(b)
	return m[1].Write(b)
}

// Pid returns the process id (that of the command itself, also with
// `ip netns exec`, which execs in place).
func (p *Proc) Pid() int { return p.cmd.Process.Pid }

// Done is closed when the process has exited and its output is complete.
func (p *Proc) Done() <-chan struct{} { return p.done }

// Exited reports whether the process has exited.
func (p *Proc) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Wait waits for the process to exit and returns its exit error (nil for
// status 0).
func (p *Proc) Wait() error {
	<-p.done
	return p.waitErr
}

// Stop sends SIGTERM to the process group, waits up to StopTimeout, then
// sends SIGKILL and waits for the exit. It returns nil once the process is
// gone (whatever its exit status; see Wait) and is safe to call repeatedly
// and concurrently.
func (p *Proc) Stop() error {
	var err error
	p.stopOnce.Do(func() {
		if p.Exited() {
			return
		}
		if e := signalGroup(p.Pid(), syscall.SIGTERM); e != nil {
			err = fmt.Errorf("nsutil: SIGTERM pid %d: %w", p.Pid(), e)
		}
		t := time.NewTimer(StopTimeout)
		defer t.Stop()
		select {
		case <-p.done:
			return
		case <-t.C:
		}
		if e := signalGroup(p.Pid(), syscall.SIGKILL); e != nil {
			err = errors.Join(err, fmt.Errorf("nsutil: SIGKILL pid %d: %w", p.Pid(), e))
		}
	})
	<-p.done
	return err
}

// Output returns stdout and stderr interleaved as they were written.
func (p *Proc) Output() string { return p.combined.String() }

// Stdout returns what the process wrote to stdout.
func (p *Proc) Stdout() string { return p.stdout.String() }

// Stderr returns what the process wrote to stderr.
func (p *Proc) Stderr() string { return p.stderr.String() }

// String describes the process for logs.
func (p *Proc) String() string {
	return fmt.Sprintf("[%s] pid %d: %s", p.NS, p.Pid(), strings.Join(p.Args, " "))
}

// Run runs a short command inside the namespace with RunTimeout and returns
// its combined output. The error (non-zero exit, timeout) includes the
// output.
func Run(ns string, argv ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), RunTimeout)
	defer cancel()
	return RunContext(ctx, ns, argv...)
}

// RunContext is Run with a caller-supplied context; the process group is
// killed when ctx is done.
func RunContext(ctx context.Context, ns string, argv ...string) (string, error) {
	cmd, inThread, err := command(ctx, ns, argv)
	if err != nil {
		return "", err
	}
	var out tailBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := startCmd(ns, cmd, inThread); err != nil {
		return "", fmt.Errorf("nsutil: run %q in %q: %w", argv, ns, err)
	}
	err = cmd.Wait()
	s := out.String()
	if err != nil {
		if ctx.Err() != nil {
			err = fmt.Errorf("%w (%w)", err, ctx.Err())
		}
		return s, fmt.Errorf("nsutil: run %q in %q: %w; output: %s", argv, ns, err, strings.TrimSpace(s))
	}
	return s, nil
}
