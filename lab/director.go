package lab

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/gdirector/gdirector/ctl"
	"github.com/gdirector/gdirector/internal/nsutil"
)

// StateDir returns the directory where a lab keeps its control socket and
// logs: /run/gdirector-lab/<prefix>.
func StateDir(prefix string) string { return filepath.Join("/run/gdirector-lab", prefix) }

// StartLogged starts argv in ns with its output appended to logFile rather
// than to pipes held by this process, so that the process survives this
// one (gdirector lab --keep) without dying of SIGPIPE.
func (b *Builder) StartLogged(ns, logFile string, argv ...string) (*nsutil.Proc, error) {
	script := `log="$1"; shift; exec "$@" >>"$log" 2>&1`
	return b.Start(ns, append([]string{"/bin/sh", "-c", script, "sh", logFile}, argv...)...)
}

// StartDirector runs `bin run` in the director namespace on both of its
// interfaces with the control socket at sock, logging to logFile, and waits
// until the socket answers.
func (t *Topology) StartDirector(bin, sock, logFile string) (*nsutil.Proc, error) {
	return t.StartDirectorArgs(bin, sock, logFile)
}

// StartDirectorArgs is StartDirector with extra `gdirector run` flags
// (e.g. "--metrics", "127.0.0.1:9102").
func (t *Topology) StartDirectorArgs(bin, sock, logFile string, extra ...string) (*nsutil.Proc, error) {
	argv := []string{bin, "run"}
	for _, ifc := range t.DirIfaces {
		argv = append(argv, "--iface", ifc)
	}
	argv = append(append(argv, "--ctl", sock), extra...)
	p, err := t.StartLogged(t.DirectorNS, logFile, argv...)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), readyTimeout)
	defer cancel()
	if err := WaitReady(ctx, sock, p); err != nil {
		log, _ := os.ReadFile(logFile)
		return nil, fmt.Errorf("%w; director log:\n%s", err, log)
	}
	return p, nil
}

// WaitReady polls the control socket until the daemon answers, the process
// exits, or ctx ends.
func WaitReady(ctx context.Context, sock string, p *nsutil.Proc) error {
	for {
		if _, err := ctl.Call(sock, []string{"--version"}); err == nil {
			return nil
		}
		if p != nil && p.Exited() {
			return fmt.Errorf("lab: director exited: %v", p.Wait())
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("lab: control socket %s not ready: %w", sock, ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// Ipvsadm runs one ipvsadm command against the daemon at sock and returns
// its output; a non-zero exit code is an error carrying the message.
func Ipvsadm(sock string, args ...string) (string, error) {
	r, err := ctl.Call(sock, args)
	if err != nil {
		return "", err
	}
	if r.Code != 0 {
		return r.Stdout, fmt.Errorf("ipvsadm %s: exit %d: %s", strings.Join(args, " "), r.Code, strings.TrimSpace(r.Stderr))
	}
	return r.Stdout, nil
}
