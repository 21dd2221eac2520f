package daemon

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"syscall"
	"time"

	"github.com/gdirector/gdirector/config"
	"github.com/gdirector/gdirector/config/load"
	"github.com/gdirector/gdirector/ctl"
	"github.com/gdirector/gdirector/healthcheck"
	"github.com/gdirector/gdirector/ipvsadm"
	"github.com/gdirector/gdirector/vs"
)

// The configuration file (gdirector run --config FILE) is in any format
// package config/load reads: ipvsadm rules (the format ipvsadm -S writes
// and ipvsadm -R reads), keepalived.conf, ldirectord.cf or gdirector's
// native YAML, told from its contents unless --format says. The daemon
// reads and validates it before it touches the host, down to what the
// health checks need, and refuses to start if anything is wrong, naming
// the line.
//
// The configuration then runs through the health engine (package
// healthcheck): the engine publishes the services with the real servers
// its checks find up, and changes the table as their health changes. A
// file without checks (every ipvsadm-rules file) has every real server up
// all the time, which is the plain table of the file.
//
// A reload (SIGHUP, `gdirector reload` on the control socket, or, with
// --autoreload, a change of the file) reads the file again and hands it
// to the engine, which applies only the difference in one publication:
// services and real servers that did not change keep their objects,
// counters, scheduler state, connections and health; checks that did not
// change go on without a restart. A file that does not parse or validate
// changes nothing; the failure is logged (and answered to `gdirector
// reload`) with the file and line.
//
// --autoreload polls the file every second (autoreloadInterval). When its
// size, modification time or inode changed, it waits until they hold
// still for one more poll (so that a file being written is not read half
// way: an in-place rewrite truncates it first, and a truncated file may
// well parse), then reads it, and reloads if its contents (SHA-256)
// differ from what was last read: a touch is no reload. Polling follows
// renames over the file (editors, configuration management, symbolic
// links swapped by Kubernetes) and needs no inotify instance. A change is
// applied one to two seconds after the writer is done. An empty file is
// not applied by autoreload (it is far more likely a file caught between
// truncation and writing than a wish to remove every service); SIGHUP or
// `gdirector reload` apply it.

// errNoConfig answers a reload of a daemon started without --config.
var errNoConfig = errors.New("the daemon was started without --config; nothing to reload")

// autoreloadInterval is how often --autoreload looks at the file.
var autoreloadInterval = time.Second

// stamp is what the daemon last saw of the configuration file.
type stamp struct {
	size  int64
	mtime time.Time
	ino   uint64
	sum   [sha256.Size]byte
}

// sameFile reports whether two stamps have the same size, time and inode.
func (s stamp) sameFile(o stamp) bool {
	return s.size == o.size && s.mtime.Equal(o.mtime) && s.ino == o.ino
}

func statStamp(fi os.FileInfo) stamp {
	s := stamp{size: fi.Size(), mtime: fi.ModTime()}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		s.ino = st.Ino
	}
	return s
}

// readFile reads the file and its stamp (taken before reading, so that a
// write during the read shows as a change at the next look).
func readFile(path string) ([]byte, stamp, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, stamp{}, err
	}
	st := statStamp(fi)
	if fi.Size() > load.MaxSize {
		return nil, st, fmt.Errorf("%s: larger than %d MiB", path, load.MaxSize>>20)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, st, err
	}
	st.sum = sha256.Sum256(data)
	return data, st, nil
}

// tunDestCheck is the data plane's restriction on real servers: no DR on
// a director fed by a TUN device.
func tunDestCheck(tunFed bool) func(ctl.DestConfig) error {
	return func(d ctl.DestConfig) error {
		if tunFed && d.Fwd == vs.DirectRoute {
			return errTunDR
		}
		return nil
	}
}

// CheckConfig reads and validates a configuration file as the daemon
// would at start, without changing anything: it parses it (format
// config.FormatUnknown = told from the contents), checks it on a scratch
// Manager with the data plane's restriction (tunFed: no DR), and has a
// scratch health engine accept it (every check's settings). It is
// `gdirector config check`.
func CheckConfig(path string, format config.Format, tunFed bool) (*config.Config, error) {
	data, _, err := readFile(path)
	if err != nil {
		return nil, err
	}
	return checkConfig(path, data, format, tunFed)
}

func checkConfig(path string, data []byte, format config.Format, tunFed bool) (*config.Config, error) {
	check := tunDestCheck(tunFed)
	cfg, err := load.Parse(path, data, load.Options{Format: format, CheckDest: check})
	if err != nil {
		return nil, err
	}
	scratch := healthcheck.New(ctl.NewManager(ctl.Config{CheckDest: check}), healthcheck.Options{})
	if _, err := scratch.Apply(cfg); err != nil {
		return nil, err
	}
	if _, err := haConfigs(cfg); err != nil { // vrrp_instance, lvs_sync_daemon
		return nil, err
	}
	return cfg, nil
}

// readConfig reads and checks the --config file before anything changes
// on the host. "" is no file.
func readConfig(path string, format config.Format, tunFed bool) (*config.Config, stamp, error) {
	if path == "" {
		return nil, stamp{}, nil
	}
	data, st, err := readFile(path)
	if err != nil {
		return nil, st, fmt.Errorf("--config: %w", err)
	}
	cfg, err := checkConfig(path, data, format, tunFed)
	if err != nil {
		return nil, st, fmt.Errorf("--config %w", err)
	}
	return cfg, st, nil
}

// configLoader loads and reloads the configuration file into the health
// engine.
type configLoader struct {
	path   string
	format config.Format
	check  func(ctl.DestConfig) error
	engine *healthcheck.Engine // nil without --config
	logf   func(format string, args ...any)
	// ha runs the configuration's VRRP instances and lvs_sync_daemon
	// (nil: none, as in tests).
	ha *ha

	// auto is --autoreload; fileAuto is the applied file's own wish
	// (ldirectord autoreload=yes). Either makes the watcher poll.
	auto bool

	mu       sync.Mutex // one load at a time
	fileAuto bool
	seen     stamp  // the file as last read
	pending  *stamp // a change seen by the last look, not yet read
	lookErr  string // the last error of an autoreload look, logged once
}

// applied records what the daemon needs of a configuration it applied,
// and logs the parser's warnings; c.mu is held.
func (c *configLoader) applied(cfg *config.Config) {
	c.fileAuto = cfg.AutoReload
	for _, w := range cfg.Warnings {
		c.logf("gdirector: warning: %s", w)
	}
}

// load applies the configuration read at start.
func (c *configLoader) load(cfg *config.Config, st stamp) error {
	if c.path == "" {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.haPrepare(cfg); err != nil {
		return fmt.Errorf("--config %w", err)
	}
	if _, err := c.engine.Apply(cfg); err != nil {
		c.haAbort()
		return fmt.Errorf("--config %w", err)
	}
	c.seen = st
	c.applied(cfg)
	if c.ha != nil {
		if err := c.ha.apply(cfg); err != nil {
			return fmt.Errorf("--config %w", err)
		}
	}
	sum := cfg.Summarize()
	c.logf("gdirector: loaded %s: %d services, %d real servers, %d health checks (%v format)",
		c.path, sum.Services, sum.RealServers, sum.Checks, cfg.Format)
	if c.auto || c.fileAuto {
		c.logf("gdirector: reloading %s whenever it changes (autoreload)", c.path)
	}
	return nil
}

// reload reads the file again and applies it; the result is logged.
func (c *configLoader) reload() (ctl.Changes, error) {
	if c.path == "" {
		return ctl.Changes{}, errNoConfig
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	data, st, err := readFile(c.path)
	if err != nil {
		c.logf("gdirector: reload failed, configuration unchanged: %v", err)
		return ctl.Changes{}, err
	}
	c.seen = st
	return c.applyLocked(data)
}

// applyLocked parses data and applies it; c.mu is held.
func (c *configLoader) applyLocked(data []byte) (ctl.Changes, error) {
	cfg, err := load.Parse(c.path, data, load.Options{Format: c.format, CheckDest: c.check})
	var ch ctl.Changes
	if err == nil {
		err = c.haPrepare(cfg)
		if err == nil {
			if ch, err = c.engine.Apply(cfg); err != nil {
				c.haAbort()
			}
		}
	}
	if err != nil {
		c.logf("gdirector: reload failed, configuration unchanged: %v", err)
		return ctl.Changes{}, err
	}
	c.applied(cfg)
	if c.ha != nil {
		if herr := c.ha.apply(cfg); herr != nil {
			c.logf("gdirector: reload: %v", herr)
		}
	}
	c.logf("gdirector: reloaded %s: %v", c.path, ch)
	return ch, nil
}

// look is one autoreload poll: it reloads the file if its contents
// changed since it was last read and it has not changed since the
// previous look.
func (c *configLoader) look() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.auto && !c.fileAuto {
		return
	}
	fi, err := os.Stat(c.path)
	if err != nil {
		if msg := err.Error(); msg != c.lookErr {
			c.lookErr = msg
			c.logf("gdirector: autoreload: %v; keeping the configuration", err)
		}
		return
	}
	c.lookErr = ""
	now := statStamp(fi)
	if now.sameFile(c.seen) {
		c.pending = nil
		return
	}
	if c.pending == nil || !now.sameFile(*c.pending) {
		c.pending = &now // changed: read it once it holds still
		return
	}
	c.pending = nil
	data, st, err := readFile(c.path)
	if err != nil {
		c.logf("gdirector: autoreload: %v; keeping the configuration", err)
		return
	}
	changed := st.sum != c.seen.sum
	c.seen = st
	if !changed {
		return // touched, or written with the same contents
	}
	if len(data) == 0 {
		c.logf("gdirector: autoreload: %s is empty; not applied (SIGHUP or gdirector reload would apply it)", c.path)
		return
	}
	c.logf("gdirector: %s changed; reloading", c.path)
	c.applyLocked(data)
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

// watch reloads on every signal from reload and, with --autoreload or a
// file that asks for it (ldirectord autoreload=yes), when the file
// changes, until ctx ends; the returned function waits for it to stop
// (call it after ctx is cancelled, before tearing down what a publication
// reaches).
func (c *configLoader) watch(ctx context.Context, reload <-chan struct{}) (wait func()) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		var tick <-chan time.Time
		if c.path != "" {
			t := time.NewTicker(autoreloadInterval)
			defer t.Stop()
			tick = t.C
		}
		for {
			select {
			case <-ctx.Done():
				return
			case _, ok := <-reload:
				if !ok {
					reload = nil // no more signals; the ticker may go on
					continue
				}
				c.reload()
			case <-tick:
				c.look()
			}
		}
	}()
	return func() { <-done }
}

// ipvsadmInput runs ipvsadm command lines with the standard input a client
// sent along (the rules of ipvsadm -R) in env (names, sync daemons). It
// serves every ipvsadm command of the control socket, with or without
// input.
func ipvsadmInput(mgr *ctl.Manager, env ipvsadm.Env) ctl.InputHandler {
	return func(argv []string, stdin io.Reader) (string, string, int) {
		e := env
		e.Stdin = stdin
		return ipvsadm.RunEnv(mgr, argv, e)
	}
}
