package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gdirector/gdirector/internal/nsutil"
	rt "github.com/gdirector/gdirector/internal/roottest"
	"github.com/gdirector/gdirector/vrrp"
)

// The gdirector side of the VRRP tests runs a vrrp.Node in a process of
// its own (this test binary started again with GDVRRP_HELPER set, inside
// the namespace), so that it can die as a real process dies (SIGKILL) or
// stop cleanly (SIGTERM: priority 0).
func init() {
	cfg := os.Getenv("GDVRRP_HELPER")
	if cfg == "" {
		return
	}
	os.Exit(vrrpHelper(cfg))
}

// ipOwner puts the virtual addresses on the interface with ip(8), as
// keepalived does; the daemon will supply its own Owner.
type ipOwner struct{ dev string }

func (o ipOwner) Acquire(vips []netip.Prefix) error {
	for _, p := range vips {
		if out, err := exec.Command("ip", "addr", "replace", p.String(), "dev", o.dev).CombinedOutput(); err != nil {
			return fmt.Errorf("%v: %s", err, out)
		}
	}
	return nil
}

func (o ipOwner) Release(vips []netip.Prefix) error {
	for _, p := range vips {
		exec.Command("ip", "addr", "del", p.String(), "dev", o.dev).Run()
	}
	return nil
}

func vrrpHelper(js string) int {
	var cfg vrrp.Config
	if err := json.Unmarshal([]byte(js), &cfg); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	var mu sync.Mutex
	n, err := vrrp.NewNode(cfg, vrrp.Options{
		Owner: ipOwner{cfg.Interface},
		Logf:  func(f string, a ...any) { fmt.Fprintf(os.Stderr, f+"\n", a...) },
		OnTransition: func(t vrrp.Transition) {
			mu.Lock()
			fmt.Printf("STATE %v %d\n", t.To, t.At.UnixNano())
			mu.Unlock()
		},
	})
	if err == nil {
		err = n.Start()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	<-sig
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	n.Stop(ctx)
	return 0
}

// stateLog is the transitions one side reported, with their times.
type stateLog struct {
	mu     sync.Mutex
	states []string
	times  []time.Time
}

func (l *stateLog) add(state string, at time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.states = append(l.states, state)
	l.times = append(l.times, at)
}

// last returns the last state and when it was entered.
func (l *stateLog) last() (string, time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.states) == 0 {
		return "", time.Time{}
	}
	return l.states[len(l.states)-1], l.times[len(l.times)-1]
}

// waitState waits until the log's last state is want; it returns when it
// was entered.
func (l *stateLog) waitState(t *testing.T, who, want string, timeout time.Duration) time.Time {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if s, at := l.last(); s == want {
			return at
		}
		time.Sleep(10 * time.Millisecond)
	}
	s, _ := l.last()
	t.Fatalf("%s: state %q after %v, want %q", who, s, timeout, want)
	return time.Time{}
}

// holdState checks that the state stays want for d.
func (l *stateLog) holdState(t *testing.T, who, want string, d time.Duration) {
	t.Helper()
	end := time.Now().Add(d)
	for time.Now().Before(end) {
		if s, _ := l.last(); s != want {
			t.Fatalf("%s: state %q, want it to stay %q", who, s, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// gdNode is a running helper process.
type gdNode struct {
	cmd *exec.Cmd
	log *stateLog
	err *strings.Builder
	wg  sync.WaitGroup
}

func startGD(t *testing.T, ns string, cfg vrrp.Config) *gdNode {
	t.Helper()
	js, _ := json.Marshal(cfg)
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	g := &gdNode{log: &stateLog{}, err: &strings.Builder{}}
	g.cmd = exec.Command("ip", "netns", "exec", ns, self)
	g.cmd.Env = append(os.Environ(), "GDVRRP_HELPER="+string(js))
	g.cmd.Stderr = g.err
	out, err := g.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := g.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	g.wg.Add(1)
	go func() {
		defer g.wg.Done()
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			f := strings.Fields(sc.Text())
			if len(f) == 3 && f[0] == "STATE" {
				ns, _ := strconv.ParseInt(f[2], 10, 64)
				g.log.add(f[1], time.Unix(0, ns))
			}
		}
	}()
	t.Cleanup(func() { g.stop(syscall.SIGKILL) })
	return g
}

// stop signals the helper and waits for it.
func (g *gdNode) stop(sig syscall.Signal) {
	if g.cmd.ProcessState != nil {
		return
	}
	g.cmd.Process.Signal(sig)
	g.wg.Wait()
	g.cmd.Wait()
}

// kaNode is a running keepalived.
type kaNode struct {
	dir      string
	log      *stateLog
	proc     *exec.Cmd
	stopRead chan struct{}
	readerWG sync.WaitGroup
}

const kaNotify = `#!/bin/sh
echo "$3 $(date +%s%N)" >> "$(dirname "$0")/states"
`

func startKA(t *testing.T, ns, conf string) *kaNode {
	t.Helper()
	dir := t.TempDir()
	k := &kaNode{dir: dir, log: &stateLog{}, stopRead: make(chan struct{})}
	if err := os.WriteFile(filepath.Join(dir, "notify.sh"), []byte(kaNotify), 0o755); err != nil {
		t.Fatal(err)
	}
	conf = strings.ReplaceAll(conf, "NOTIFY", filepath.Join(dir, "notify.sh"))
	if err := os.WriteFile(filepath.Join(dir, "keepalived.conf"), []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	logf, err := os.Create(filepath.Join(dir, "keepalived.log"))
	if err != nil {
		t.Fatal(err)
	}
	k.proc = exec.Command("ip", "netns", "exec", ns, "keepalived", "-n", "-l", "-D", "--vrrp",
		"-f", filepath.Join(dir, "keepalived.conf"), "-p", filepath.Join(dir, "keepalived.pid"),
		"-r", filepath.Join(dir, "vrrp.pid"))
	k.proc.Stdout, k.proc.Stderr = logf, logf
	if err := k.proc.Start(); err != nil {
		t.Fatal(err)
	}
	k.readerWG.Add(1)
	go func() {
		defer k.readerWG.Done()
		for {
			select {
			case <-k.stopRead:
				return
			case <-time.After(10 * time.Millisecond):
			}
			data, _ := os.ReadFile(filepath.Join(dir, "states"))
			var states []string
			var times []time.Time
			for _, line := range strings.Split(string(data), "\n") {
				f := strings.Fields(line)
				if len(f) == 2 {
					ns, _ := strconv.ParseInt(f[1], 10, 64)
					states, times = append(states, f[0]), append(times, time.Unix(0, ns))
				}
			}
			k.log.mu.Lock()
			k.log.states, k.log.times = states, times
			k.log.mu.Unlock()
		}
	}()
	t.Cleanup(func() { k.kill(t) })
	return k
}

func (k *kaNode) pid(name string) int {
	b, _ := os.ReadFile(filepath.Join(k.dir, name))
	p, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	return p
}

// freeze stops keepalived's VRRP process: to its peer it is dead.
func (k *kaNode) freeze(t *testing.T) {
	t.Helper()
	p := k.pid("vrrp.pid")
	if p <= 1 {
		t.Fatal("no keepalived VRRP pid")
	}
	if err := syscall.Kill(p, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
}

// kill ends keepalived by its pids, the VRRP child first.
func (k *kaNode) kill(t *testing.T) {
	if k.proc.ProcessState != nil {
		return
	}
	if p := k.pid("vrrp.pid"); p > 1 {
		syscall.Kill(p, syscall.SIGKILL)
	}
	if p := k.pid("keepalived.pid"); p > 1 {
		syscall.Kill(p, syscall.SIGKILL)
	}
	k.proc.Process.Kill()
	k.proc.Wait()
	close(k.stopRead)
	k.readerWG.Wait()
	if t.Failed() {
		b, _ := os.ReadFile(filepath.Join(k.dir, "keepalived.log"))
		t.Logf("keepalived log:\n%s", b)
	}
}

// vrrpLab builds two namespaces joined by a veth pair: gd (192.0.2.1) and
// ka (192.0.2.2), interface gdvrrp0 on both sides.
func vrrpLab(t *testing.T) (gdNS, kaNS string) {
	prefix := fmt.Sprintf("gdvrrp%d-", os.Getpid()%100000)
	gdNS, kaNS = prefix+"gd", prefix+"ka"
	t.Cleanup(func() {
		if err := nsutil.Cleanup(prefix); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	})
	for _, ns := range []string{gdNS, kaNS} {
		if err := nsutil.Create(ns); err != nil {
			t.Fatal(err)
		}
	}
	if out, err := exec.Command("ip", "link", "add", "gdvrrp0", "netns", gdNS, "type", "veth", "peer", "name", "gdvrrp0", "netns", kaNS).CombinedOutput(); err != nil {
		t.Fatalf("veth: %v: %s", err, out)
	}
	for ns, addr := range map[string]string{gdNS: "192.0.2.1/24", kaNS: "192.0.2.2/24"} {
		run(t, ns, 5*time.Second, "ip", "addr", "add", addr, "dev", "gdvrrp0")
		run(t, ns, 5*time.Second, "ip", "link", "set", "gdvrrp0", "up")
		run(t, ns, 5*time.Second, "ip", "link", "set", "lo", "up")
	}
	return gdNS, kaNS
}

func kaConf(version int, adv string, prio int, nopreempt bool) string {
	np := ""
	state := "BACKUP"
	if nopreempt {
		np = "    nopreempt\n"
	}
	auth := ""
	if version == 2 {
		auth = "    authentication {\n        auth_type PASS\n        auth_pass gdpass\n    }\n"
	}
	return fmt.Sprintf(`global_defs {
    router_id gdvrrp
    vrrp_version %d
}
vrrp_instance GDVRRP {
    state %s
    interface gdvrrp0
    virtual_router_id 42
    priority %d
    advert_int %s
%s%s    virtual_ipaddress {
        192.0.2.100/32
    }
    notify NOTIFY
}
`, version, state, prio, adv, np, auth)
}

// TestGdvrrpKeepalived runs a gdirector vrrp.Node against keepalived 2.2.7
// on one link: election, failover when the master dies (timed), fail-back
// with preemption and none with nopreempt, in both directions, for VRRP
// version 2 (PASS authentication, 1 s adverts) and version 3 (0.1 s).
func TestGdvrrpKeepalived(t *testing.T) {
	rt.Require(t, "ip", "keepalived")
	for _, tc := range []struct {
		version int
		adv     time.Duration
		kaAdv   string
	}{
		{3, 100 * time.Millisecond, "0.1"},
		{2, time.Second, "1"},
	} {
		t.Run(fmt.Sprintf("v%d", tc.version), func(t *testing.T) {
			gdNS, kaNS := vrrpLab(t)
			gdCfg := func(prio uint8, preempt bool) vrrp.Config {
				c := vrrp.Config{Name: "GDVRRP", Interface: "gdvrrp0", VRID: 42, Priority: prio, AdvertInt: tc.adv,
					Version: tc.version, Preempt: preempt, VIPs: []netip.Prefix{netip.MustParsePrefix("192.0.2.100/32")}}
				if tc.version == 2 {
					c.AuthPass = "gdpass"
				}
				return c
			}
			// Master_Down_Interval of a backup of priority p, plus a margin
			// for scheduling and keepalived's own timer granularity.
			down := func(p int) time.Duration {
				skew := time.Duration(256-p) * time.Second / 256
				if tc.version == 3 {
					skew = time.Duration((256-p)*int(tc.adv/(10*time.Millisecond))/256) * 10 * time.Millisecond
				}
				return 3*tc.adv + skew
			}
			margin := 300*time.Millisecond + tc.adv
			wait := 2*down(1) + 2*time.Second

			// 1. gdirector 150 against keepalived 100: gdirector wins.
			ka := startKA(t, kaNS, kaConf(tc.version, tc.kaAdv, 100, false))
			gd := startGD(t, gdNS, gdCfg(150, true))
			gd.log.waitState(t, "gdirector", "MASTER", wait)
			ka.log.waitState(t, "keepalived", "BACKUP", wait)
			ka.log.holdState(t, "keepalived", "BACKUP", 3*tc.adv)
			hasVIP(t, kaNS, false)

			// 2. gdirector dies: keepalived takes over in time.
			killed := time.Now()
			gd.stop(syscall.SIGKILL)
			at := ka.log.waitState(t, "keepalived", "MASTER", wait)
			took := at.Sub(killed)
			t.Logf("v%d: gdirector master killed, keepalived master after %v (bound %v + %v)", tc.version, took, down(100), margin)
			if took > down(100)+margin {
				t.Errorf("keepalived took over after %v, more than %v", took, down(100)+margin)
			}
			hasVIP(t, kaNS, true)

			// 3. gdirector comes back with nopreempt: no fail-back.
			gd = startGD(t, gdNS, gdCfg(150, false))
			gd.log.waitState(t, "gdirector", "BACKUP", wait)
			gd.log.holdState(t, "gdirector", "BACKUP", down(150)+3*tc.adv)
			s, _ := ka.log.last()
			if s != "MASTER" {
				t.Fatalf("keepalived %s, want MASTER", s)
			}
			// 4. ... and with preemption: fail-back.
			gd.stop(syscall.SIGTERM)
			gd = startGD(t, gdNS, gdCfg(150, true))
			gd.log.waitState(t, "gdirector", "MASTER", wait)
			ka.log.waitState(t, "keepalived", "BACKUP", wait)

			// 5. The other way round: keepalived 200 wins against gdirector 100.
			gd.stop(syscall.SIGKILL)
			ka.kill(t)
			ka = startKA(t, kaNS, kaConf(tc.version, tc.kaAdv, 200, false))
			ka.log.waitState(t, "keepalived", "MASTER", wait)
			gd = startGD(t, gdNS, gdCfg(100, true))
			gd.log.waitState(t, "gdirector", "BACKUP", wait)
			gd.log.holdState(t, "gdirector", "BACKUP", down(100)+3*tc.adv)

			// 6. keepalived dies (its VRRP process frozen): gdirector takes over in time.
			killed = time.Now()
			ka.freeze(t)
			at = gd.log.waitState(t, "gdirector", "MASTER", wait)
			took = at.Sub(killed)
			t.Logf("v%d: keepalived master frozen, gdirector master after %v (bound %v + %v)", tc.version, took, down(100), margin)
			if took > down(100)+margin {
				t.Errorf("gdirector took over after %v, more than %v", took, down(100)+margin)
			}
			hasVIP(t, gdNS, true)

			// 7. keepalived comes back with nopreempt: no fail-back.
			ka.kill(t)
			ka = startKA(t, kaNS, kaConf(tc.version, tc.kaAdv, 200, true))
			ka.log.waitState(t, "keepalived", "BACKUP", wait)
			ka.log.holdState(t, "keepalived", "BACKUP", down(200)+3*tc.adv)
			if s, _ := gd.log.last(); s != "MASTER" {
				t.Fatalf("gdirector %s, want MASTER", s)
			}
			// 8. ... and with preemption: fail-back to keepalived.
			ka.kill(t)
			ka = startKA(t, kaNS, kaConf(tc.version, tc.kaAdv, 200, false))
			ka.log.waitState(t, "keepalived", "MASTER", wait)
			gd.log.waitState(t, "gdirector", "BACKUP", wait)
			hasVIP(t, gdNS, false)

			// 9. keepalived stops cleanly (priority 0): gdirector takes over
			// after its skew time, well before Master_Down_Interval.
			stopped := time.Now()
			syscall.Kill(ka.pid("keepalived.pid"), syscall.SIGTERM)
			at = gd.log.waitState(t, "gdirector", "MASTER", wait)
			t.Logf("v%d: keepalived stopped (priority 0), gdirector master after %v", tc.version, at.Sub(stopped))
			if at.Sub(stopped) > down(100) {
				t.Errorf("takeover after priority 0 took %v, not faster than Master_Down_Interval %v", at.Sub(stopped), down(100))
			}
			gd.stop(syscall.SIGTERM)
		})
	}
}

// hasVIP checks whether 192.0.2.100 is on the namespace's interface.
func hasVIP(t *testing.T, ns string, want bool) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Second)
	for {
		out, _ := nsutil.Run(ns, "ip", "-4", "addr", "show", "dev", "gdvrrp0")
		if strings.Contains(out, "192.0.2.100/32") == want || time.Now().After(deadline) {
			if strings.Contains(out, "192.0.2.100/32") != want {
				t.Fatalf("%s: VIP present = %v, want %v:\n%s", ns, !want, want, out)
			}
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}
