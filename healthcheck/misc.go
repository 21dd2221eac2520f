package healthcheck

import (
	"context"
	"errors"
	"fmt"
	"strings"
)

// miscProber is MISC_CHECK (ldirectord checktype=external): a command
// whose exit status 0 passes. With Dynamic (misc_dynamic) statuses
// 2..255 pass too and set the real server's weight to status - 2, and 0
// restores the configured weight; 1, or any failing status without
// Dynamic, fails.
type miscProber struct {
	cmd     Command
	dynamic bool
	run     RunFunc
}

func newMiscProber(s spec, run RunFunc, env []string) (*miscProber, error) {
	if strings.TrimSpace(s.check.Command) == "" {
		return nil, errors.New("no command to run")
	}
	return &miscProber{cmd: Command{Line: s.check.Command, Env: env, User: s.check.User},
		dynamic: s.check.Dynamic, run: run}, nil
}

func (p *miscProber) probe(ctx context.Context) Result {
	status, err := p.run(ctx, p.cmd)
	switch {
	case err != nil:
		return Result{Err: err}
	case status == 0:
		return Result{}
	case p.dynamic && status >= 2 && status <= 255:
		return Result{Weight: int32(status - 2), HasWeight: true}
	}
	return Result{Err: fmt.Errorf("exit status %d", status)}
}
