package daemon

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/gdirector/gdirector/ctl"
	"github.com/gdirector/gdirector/ipvsadm"
	"github.com/gdirector/gdirector/vs"
)

// The configuration file (gdirector run --config FILE) holds ipvsadm
// rules, in the format ipvsadm -S writes and ipvsadm -R reads. The daemon
// checks it before it touches the host and refuses to start if a rule
// fails, naming the line; it then loads it as its first configuration.
//
// A reload (SIGHUP, or `gdirector reload` on the control socket) reads the
// file again and makes it the whole configuration of services in one
// publication (ipvsadm.Replace, ctl.Manager.Replace): services and real
// servers that did not change keep their objects, counters, scheduler
// state and connections, changed settings are stored in place, and the
// rest is added or removed; changes made with ipvsadm since are undone
// where the file says otherwise. A file with a bad rule changes nothing;
// the failure is logged (and answered to `gdirector reload`).

// errNoConfig answers a reload of a daemon started without --config.
var errNoConfig = errors.New("the daemon was started without --config; nothing to reload")

// readConfig reads the configuration file and checks every rule on a
// private Manager, with the restriction the data plane will add (no DR on
// a TUN-fed director), so that a bad file fails before anything changes
// on the host. "" is no file.
func readConfig(path string, tunFed bool) ([]byte, error) {
	if path == "" {
		return nil, nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("--config: %w", err)
	}
	check := ctl.NewManager(ctl.Config{CheckDest: func(d ctl.DestConfig) error {
		if tunFed && d.Fwd == vs.DirectRoute {
			return errTunDR
		}
		return nil
	}})
	if _, err := ipvsadm.Replace(check, bytes.NewReader(data)); err != nil {
		return nil, fmt.Errorf("--config %s: %w", path, err)
	}
	return data, nil
}

// configLoader loads and reloads the configuration file into the Manager.
type configLoader struct {
	path string
	mgr  *ctl.Manager
	logf func(format string, args ...any)
}

// load applies the file's contents read at start.
func (c *configLoader) load(data []byte) error {
	if c.path == "" {
		return nil
	}
	if _, err := ipvsadm.Replace(c.mgr, bytes.NewReader(data)); err != nil {
		return fmt.Errorf("--config %s: %w", c.path, err)
	}
	t := c.mgr.Table()
	dests := 0
	for _, s := range t.Services {
		dests += len(s.Dests)
	}
	c.logf("gdirector: loaded %s: %d services, %d real servers", c.path, len(t.Services), dests)
	return nil
}

// reload reads the file again and applies it; the result is logged.
func (c *configLoader) reload() (ctl.Changes, error) {
	ch, err := c.apply()
	if err != nil {
		c.logf("gdirector: reload failed, configuration unchanged: %v", err)
		return ch, err
	}
	c.logf("gdirector: reloaded %s: %v", c.path, ch)
	return ch, nil
}

func (c *configLoader) apply() (ctl.Changes, error) {
	if c.path == "" {
		return ctl.Changes{}, errNoConfig
	}
	data, err := os.ReadFile(c.path)
	if err != nil {
		return ctl.Changes{}, err
	}
	ch, err := ipvsadm.Replace(c.mgr, bytes.NewReader(data))
	if err != nil {
		return ctl.Changes{}, fmt.Errorf("%s: %w", c.path, err)
	}
	return ch, nil
}

// handle is the control socket's "reload" command (gdirector reload).
func (c *configLoader) handle(argv []string) (stdout, stderr string, code int) {
	if len(argv) != 0 {
		return "", "usage: gdirector reload   (reads the daemon's --config file again)\n", 2
	}
	ch, err := c.reload()
	if err != nil {
		return "", fmt.Sprintf("gdirector reload: %v; nothing changed\n", err), 1
	}
	return fmt.Sprintf("reloaded %s: %v\n", c.path, ch), "", 0
}

// watch reloads on every signal from reload until ctx ends; the returned
// function waits for it to stop (call it after ctx is cancelled, before
// tearing down what a publication reaches).
func (c *configLoader) watch(ctx context.Context, reload <-chan struct{}) (wait func()) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-ctx.Done():
				return
			case _, ok := <-reload:
				if !ok {
					<-ctx.Done()
					return
				}
				c.reload()
			}
		}
	}()
	return func() { <-done }
}

// ipvsadmInput runs ipvsadm command lines with the standard input a client
// sent along (the rules of ipvsadm -R).
func ipvsadmInput(mgr *ctl.Manager) ctl.InputHandler {
	return func(argv []string, stdin io.Reader) (string, string, int) {
		return ipvsadm.RunInput(mgr, argv, stdin)
	}
}
