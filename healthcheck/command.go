package healthcheck

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"strconv"
	"syscall"
	"time"
)

// Command is a shell command the engine runs: a MISC_CHECK, or a notify
// or quorum command.
type Command struct {
	// Line is run as /bin/sh -c Line, with no further arguments.
	Line string
	// Env is added to the daemon's environment (KEY=value); see the
	// package documentation for the variables.
	Env []string
	// User runs the command as that user; "" = the daemon's user.
	User string
}

// RunFunc runs a command until it exits or ctx ends, and returns its exit
// status. An error means it did not run to an exit status: it could not
// start, or was killed (ctx ended, or a signal).
type RunFunc func(ctx context.Context, c Command) (status int, err error)

// ExecCommand is the default RunFunc: /bin/sh -c c.Line in a process
// group of its own, with standard input, output and error on /dev/null.
// When ctx ends the whole group is killed (SIGKILL), so that a hung
// script's children go too.
func ExecCommand(ctx context.Context, c Command) (int, error) {
	cmd := exec.CommandContext(ctx, "/bin/sh", "-c", c.Line)
	cmd.Env = append(os.Environ(), c.Env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if c.User != "" {
		cred, err := credential(c.User)
		if err != nil {
			return -1, err
		}
		cmd.SysProcAttr.Credential = cred
	}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = time.Second
	err := cmd.Run()
	if err == nil {
		return 0, nil
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Exited() {
			return ws.ExitStatus(), nil
		}
		if ctx.Err() != nil {
			return -1, fmt.Errorf("killed after %w", ctx.Err())
		}
	}
	return -1, err
}

// credential looks a user up for ExecCommand.
func credential(name string) (*syscall.Credential, error) {
	u, err := user.Lookup(name)
	if err != nil {
		return nil, err
	}
	uid, err := strconv.ParseUint(u.Uid, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("user %s: uid %q", name, u.Uid)
	}
	gid, err := strconv.ParseUint(u.Gid, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("user %s: gid %q", name, u.Gid)
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
}
