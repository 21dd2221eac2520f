package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
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

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
	"golang.org/x/sys/unix"

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
		argv := []string{"addr", "replace", p.String(), "dev", o.dev}
		if p.Addr().Is6() {
			// As keepalived: a virtual address is not checked for
			// duplicates (the old master may still hold it).
			argv = append(argv, "nodad")
		}
		if out, err := exec.Command("ip", argv...).CombinedOutput(); err != nil {
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
	owner := ipOwner{cfg.Interface}
	// A helper killed while master left its addresses behind, as a
	// crashed keepalived does: give them back before starting.
	owner.Release(cfg.VIPs)
	n, err := vrrp.NewNode(cfg, vrrp.Options{
		Owner: owner,
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

// watchStates loads the notify script's state file into l every 10 ms
// (readStates) until stop is closed; wg counts the goroutine.
func watchStates(file string, l *stateLog, stop <-chan struct{}, wg *sync.WaitGroup) {
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			case <-time.After(10 * time.Millisecond):
			}
			readStates(file, l)
		}
	}()
}

// snapshot returns a copy of the states logged so far.
func (l *stateLog) snapshot() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.states...)
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
	watchStates(filepath.Join(dir, "states"), k.log, k.stopRead, &k.readerWG)
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

// The lab's link: fixed MAC addresses, so that a capture tells who sent
// a frame, and fixed link-local addresses added without duplicate address
// detection, so that IPv6 adverts can be sent at once.
const (
	gdVRRPMAC = "02:67:64:00:2a:01"
	kaVRRPMAC = "02:6b:61:00:2a:02"
)

var (
	gdVRRPAddr4 = netip.MustParseAddr("192.0.2.1")
	kaVRRPAddr4 = netip.MustParseAddr("192.0.2.2")
	gdVRRPLL    = netip.MustParseAddr("fe80::1")
	kaVRRPLL    = netip.MustParseAddr("fe80::2")
	gdVRRPAddr6 = netip.MustParseAddr("2001:db8:9::1")
	kaVRRPAddr6 = netip.MustParseAddr("2001:db8:9::2")
)

// vrrpLab builds two namespaces joined by a veth pair: gd (192.0.2.1,
// fe80::1, 2001:db8:9::1) and ka (192.0.2.2, fe80::2, 2001:db8:9::2),
// interface gdvrrp0 on both sides.
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
	if out, err := exec.Command("ip", "link", "add", "gdvrrp0", "netns", gdNS, "address", gdVRRPMAC, "type", "veth",
		"peer", "name", "gdvrrp0", "netns", kaNS, "address", kaVRRPMAC).CombinedOutput(); err != nil {
		t.Fatalf("veth: %v: %s", err, out)
	}
	for _, side := range []struct {
		ns         string
		v4, ll, v6 netip.Addr
	}{{gdNS, gdVRRPAddr4, gdVRRPLL, gdVRRPAddr6}, {kaNS, kaVRRPAddr4, kaVRRPLL, kaVRRPAddr6}} {
		// No link-local address of the kernel's making (it would be
		// tentative for a second or two): ours, without DAD.
		run(t, side.ns, 5*time.Second, "ip", "link", "set", "gdvrrp0", "addrgenmode", "none")
		run(t, side.ns, 5*time.Second, "ip", "addr", "add", side.v4.String()+"/24", "dev", "gdvrrp0")
		run(t, side.ns, 5*time.Second, "ip", "addr", "add", side.ll.String()+"/64", "dev", "gdvrrp0", "nodad")
		run(t, side.ns, 5*time.Second, "ip", "addr", "add", side.v6.String()+"/64", "dev", "gdvrrp0", "nodad")
		run(t, side.ns, 5*time.Second, "ip", "link", "set", "gdvrrp0", "up")
		run(t, side.ns, 5*time.Second, "ip", "link", "set", "lo", "up")
	}
	return gdNS, kaNS
}

// vrrpCase is one VRRP flavour the interoperability test runs.
type vrrpCase struct {
	name    string
	version int
	adv     time.Duration
	kaAdv   string // keepalived's advert_int
	vip     netip.Prefix
	// unicast: unicast_src_ip/unicast_peer between the two nodes' IPv4
	// or global IPv6 addresses.
	unicast bool
}

func (c vrrpCase) gdCfg(prio uint8, preempt bool) vrrp.Config {
	cfg := vrrp.Config{Name: "GDVRRP", Interface: "gdvrrp0", VRID: 42, Priority: prio, AdvertInt: c.adv,
		Version: c.version, Preempt: preempt, VIPs: []netip.Prefix{c.vip}}
	if c.version == 2 {
		cfg.AuthPass = "gdpass"
	}
	if c.unicast {
		src, peer := c.unicastPair("gd")
		cfg.Source, cfg.Peers = src, []netip.Addr{peer}
	}
	return cfg
}

// unicastPair is who's unicast source and its peer.
func (c vrrpCase) unicastPair(who string) (src, peer netip.Addr) {
	gd, ka := gdVRRPAddr4, kaVRRPAddr4
	if c.vip.Addr().Is6() {
		gd, ka = gdVRRPAddr6, kaVRRPAddr6
	}
	if who == "gd" {
		return gd, ka
	}
	return ka, gd
}

func (c vrrpCase) kaConf(prio int, nopreempt bool) string {
	var extra strings.Builder
	if nopreempt {
		extra.WriteString("    nopreempt\n")
	}
	if c.version == 2 {
		extra.WriteString("    authentication {\n        auth_type PASS\n        auth_pass gdpass\n    }\n")
	}
	if c.unicast {
		src, peer := c.unicastPair("ka")
		fmt.Fprintf(&extra, "    unicast_src_ip %v\n    unicast_peer {\n        %v\n    }\n", src, peer)
	}
	return fmt.Sprintf(`global_defs {
    router_id gdvrrp
    vrrp_version %d
}
vrrp_instance GDVRRP {
    state BACKUP
    interface gdvrrp0
    virtual_router_id 42
    priority %d
    advert_int %s
%s    virtual_ipaddress {
        %v
    }
    notify NOTIFY
}
`, c.version, prio, c.kaAdv, extra.String(), c.vip)
}

// announceBurst is ample time for a node's announcements on becoming
// master (vrrp.Options defaults: 5, 10 ms apart).
const announceBurst = 200 * time.Millisecond

// gdAnnounce is how many announcements a gdirector node sends per address
// on becoming master (vrrp.Options.Announce's default).
const gdAnnounce = 5

// takeover is one node becoming master, by the time its state log gives.
type takeover struct {
	who string // "gd" or "ka"
	at  time.Time
}

// TestGdvrrpKeepalived runs a gdirector vrrp.Node against keepalived 2.2.7
// on one link: election, failover when the master dies (timed), fail-back
// with preemption and none with nopreempt, in both directions, for VRRP
// version 2 (PASS authentication, 1 s adverts), version 3 (0.1 s) over
// IPv4 multicast, IPv6 multicast (ff02::12 from link-local addresses) and
// IPv4 and IPv6 unicast peers. Both namespaces capture the link: every takeover
// must be announced on the wire (gratuitous ARP or unsolicited neighbour
// advertisement for the VIP from the new master's MAC), gdirector must
// announce nothing while backup, and every advert must go where the mode
// says (the group with TTL 255, or the unicast peer only), decode and
// carry a valid checksum.
func TestGdvrrpKeepalived(t *testing.T) {
	rt.Require(t, "ip", "keepalived", "tcpdump")
	for _, tc := range []vrrpCase{
		{"v3", 3, 100 * time.Millisecond, "0.1", netip.MustParsePrefix("192.0.2.100/32"), false},
		{"v3-ipv6", 3, 100 * time.Millisecond, "0.1", netip.MustParsePrefix("2001:db8:9::10/64"), false},
		{"v3-unicast", 3, 100 * time.Millisecond, "0.1", netip.MustParsePrefix("192.0.2.100/32"), true},
		{"v3-ipv6-unicast", 3, 100 * time.Millisecond, "0.1", netip.MustParsePrefix("2001:db8:9::10/64"), true},
		{"v2", 2, time.Second, "1", netip.MustParsePrefix("192.0.2.100/32"), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			gdNS, kaNS := vrrpLab(t)
			const filter = "arp or (ip proto 112) or (ip6 proto 112) or (icmp6 and ip6[40] == 136)"
			gdCap := startCapture(t, gdNS, "gdvrrp0", filter)
			kaCap := startCapture(t, kaNS, "gdvrrp0", filter)
			var takeovers []takeover
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
			ka := startKA(t, kaNS, tc.kaConf(100, false))
			gd := startGD(t, gdNS, tc.gdCfg(150, true))
			at := gd.log.waitState(t, "gdirector", "MASTER", wait)
			takeovers = append(takeovers, takeover{"gd", at})
			ka.log.waitState(t, "keepalived", "BACKUP", wait)
			ka.log.holdState(t, "keepalived", "BACKUP", 3*tc.adv)
			vipOnly(t, tc.vip, gdNS, kaNS)

			// 2. gdirector dies: keepalived takes over in time.
			killed := time.Now()
			gd.stop(syscall.SIGKILL)
			at = ka.log.waitState(t, "keepalived", "MASTER", wait)
			takeovers = append(takeovers, takeover{"ka", at})
			took := at.Sub(killed)
			t.Logf("%s: gdirector master killed, keepalived master after %v (bound %v + %v)", tc.name, took, down(100), margin)
			if took > down(100)+margin {
				t.Errorf("keepalived took over after %v, more than %v", took, down(100)+margin)
			}
			hasVIP(t, kaNS, tc.vip, true)

			// 3. gdirector comes back with nopreempt: no fail-back.
			gd = startGD(t, gdNS, tc.gdCfg(150, false))
			gd.log.waitState(t, "gdirector", "BACKUP", wait)
			gd.log.holdState(t, "gdirector", "BACKUP", down(150)+3*tc.adv)
			s, _ := ka.log.last()
			if s != "MASTER" {
				t.Fatalf("keepalived %s, want MASTER", s)
			}
			vipOnly(t, tc.vip, kaNS, gdNS)
			// 4. ... and with preemption: fail-back.
			gd.stop(syscall.SIGTERM)
			gd = startGD(t, gdNS, tc.gdCfg(150, true))
			at = gd.log.waitState(t, "gdirector", "MASTER", wait)
			takeovers = append(takeovers, takeover{"gd", at})
			ka.log.waitState(t, "keepalived", "BACKUP", wait)
			vipOnly(t, tc.vip, gdNS, kaNS)

			// 5. The other way round: keepalived 200 wins against gdirector 100.
			time.Sleep(announceBurst) // the rest of gdirector's announcements
			gd.stop(syscall.SIGKILL)
			ka.kill(t)
			ka = startKA(t, kaNS, tc.kaConf(200, false))
			at = ka.log.waitState(t, "keepalived", "MASTER", wait)
			takeovers = append(takeovers, takeover{"ka", at})
			gd = startGD(t, gdNS, tc.gdCfg(100, true))
			gd.log.waitState(t, "gdirector", "BACKUP", wait)
			gd.log.holdState(t, "gdirector", "BACKUP", down(100)+3*tc.adv)
			vipOnly(t, tc.vip, kaNS, gdNS)

			// 6. keepalived dies (its VRRP process frozen): gdirector takes over in time.
			killed = time.Now()
			ka.freeze(t)
			at = gd.log.waitState(t, "gdirector", "MASTER", wait)
			takeovers = append(takeovers, takeover{"gd", at})
			took = at.Sub(killed)
			t.Logf("%s: keepalived master frozen, gdirector master after %v (bound %v + %v)", tc.name, took, down(100), margin)
			if took > down(100)+margin {
				t.Errorf("gdirector took over after %v, more than %v", took, down(100)+margin)
			}
			hasVIP(t, gdNS, tc.vip, true)

			// 7. keepalived comes back with nopreempt: no fail-back.
			ka.kill(t)
			ka = startKA(t, kaNS, tc.kaConf(200, true))
			ka.log.waitState(t, "keepalived", "BACKUP", wait)
			ka.log.holdState(t, "keepalived", "BACKUP", down(200)+3*tc.adv)
			if s, _ := gd.log.last(); s != "MASTER" {
				t.Fatalf("gdirector %s, want MASTER", s)
			}
			vipOnly(t, tc.vip, gdNS, kaNS)
			// 8. ... and with preemption: fail-back to keepalived.
			ka.kill(t)
			ka = startKA(t, kaNS, tc.kaConf(200, false))
			at = ka.log.waitState(t, "keepalived", "MASTER", wait)
			takeovers = append(takeovers, takeover{"ka", at})
			gd.log.waitState(t, "gdirector", "BACKUP", wait)
			vipOnly(t, tc.vip, kaNS, gdNS)

			// 9. keepalived stops cleanly (priority 0): gdirector takes over
			// after its skew time, well before Master_Down_Interval.
			stopped := time.Now()
			syscall.Kill(ka.pid("keepalived.pid"), syscall.SIGTERM)
			at = gd.log.waitState(t, "gdirector", "MASTER", wait)
			takeovers = append(takeovers, takeover{"gd", at})
			t.Logf("%s: keepalived stopped (priority 0), gdirector master after %v", tc.name, at.Sub(stopped))
			if at.Sub(stopped) > down(100) {
				t.Errorf("takeover after priority 0 took %v, not faster than Master_Down_Interval %v", at.Sub(stopped), down(100))
			}
			hasVIP(t, gdNS, tc.vip, true)
			time.Sleep(announceBurst)

			if tc.vip.Addr().Is6() && !tc.unicast {
				// 10. The receiver's hop-limit check on the wire: adverts
				// of a higher priority that arrive with hop limit 64 are
				// dropped (the master stays), the same with 255 are obeyed.
				injectAdverts6(t, kaNS, tc.vip.Addr(), 64, 8)
				if s, last := gd.log.last(); s != "MASTER" || !last.Equal(at) {
					t.Fatalf("gdirector went %s at %v on adverts with hop limit 64", s, last)
				}
				injectAdverts6(t, kaNS, tc.vip.Addr(), vrrp.TTL, 3)
				gd.log.waitState(t, "gdirector", "BACKUP", wait)
				at = gd.log.waitState(t, "gdirector", "MASTER", wait)
				takeovers = append(takeovers, takeover{"gd", at})
				time.Sleep(announceBurst)
			}
			gd.stop(syscall.SIGTERM)

			// What went over the wire: each side's capture shows the other's frames.
			gdSeen := readVRRPCapture(t, gdCap.stop(t), tc.vip.Addr())
			kaSeen := readVRRPCapture(t, kaCap.stop(t), tc.vip.Addr())
			checkAnnouncements(t, tc, takeovers, "gd", gdVRRPMAC, kaSeen)
			checkAnnouncements(t, tc, takeovers, "ka", kaVRRPMAC, gdSeen)
			checkAdverts(t, tc, "gdirector", gdVRRPMAC, kaSeen)
			checkAdverts(t, tc, "keepalived", kaVRRPMAC, gdSeen)
		})
	}
}

// injectedPrio is the priority of adverts injectAdverts6 forges.
const injectedPrio = 254

// injectAdverts6 sends count version 3 adverts of priority injectedPrio
// for vip, 50 ms apart, from the ka namespace's link-local address to
// ff02::12 with the given hop limit.
func injectAdverts6(t *testing.T, ns string, vip netip.Addr, hops, count int) {
	t.Helper()
	ad := vrrp.Advert{Version: 3, VRID: 42, Priority: injectedPrio, Interval: 10, Addrs: []netip.Addr{vip}}
	msg, err := ad.Append(nil, kaVRRPLL, vrrp.GroupIPv6)
	if err != nil {
		t.Fatal(err)
	}
	err = nsutil.Do(ns, func() error {
		ifi, err := net.InterfaceByName("gdvrrp0")
		if err != nil {
			return err
		}
		fd, err := unix.Socket(unix.AF_INET6, unix.SOCK_RAW|unix.SOCK_CLOEXEC, vrrp.Protocol)
		if err != nil {
			return err
		}
		defer unix.Close(fd)
		for _, o := range [][2]int{{unix.IPV6_MULTICAST_HOPS, hops}, {unix.IPV6_MULTICAST_IF, ifi.Index}, {unix.IPV6_MULTICAST_LOOP, 0}} {
			if err := unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, o[0], o[1]); err != nil {
				return err
			}
		}
		if err := unix.Bind(fd, &unix.SockaddrInet6{Addr: kaVRRPLL.As16(), ZoneId: uint32(ifi.Index)}); err != nil {
			return err
		}
		to := &unix.SockaddrInet6{Addr: vrrp.GroupIPv6.As16(), ZoneId: uint32(ifi.Index)}
		for i := range count {
			if i > 0 {
				time.Sleep(50 * time.Millisecond)
			}
			if err := unix.Sendto(fd, msg, 0, to); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("inject adverts: %v", err)
	}
}

// hasVIP checks whether vip is on the namespace's interface.
func hasVIP(t *testing.T, ns string, vip netip.Prefix, want bool) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Second)
	for {
		out, _ := nsutil.Run(ns, "ip", "addr", "show", "dev", "gdvrrp0")
		has := strings.Contains(out, " "+vip.String()+" ")
		if has == want || time.Now().After(deadline) {
			if has != want {
				t.Fatalf("%s: VIP %v present = %v, want %v:\n%s", ns, vip, has, want, out)
			}
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// vipOnly checks that the VIP is on the master's interface and not on the
// backup's.
func vipOnly(t *testing.T, vip netip.Prefix, masterNS, backupNS string) {
	t.Helper()
	hasVIP(t, masterNS, vip, true)
	hasVIP(t, backupNS, vip, false)
}

// wireFrame is a frame of interest in a capture.
type wireFrame struct {
	at  time.Time
	mac string // Ethernet source
	// announce: a gratuitous ARP (request, sender = target = VIP, sender
	// MAC = Ethernet source) or an unsolicited neighbour advertisement
	// (to ff02::1, override flag, target = VIP, target link-layer
	// address = Ethernet source) for the VIP.
	announce bool
	router   bool // a neighbour advertisement's router flag
	// advert: a VRRP advert, with its IP header's fields and its decoding.
	advert   bool
	src, dst netip.Addr
	ttl      int
	decoded  vrrp.Advert
	err      error
}

func readVRRPCapture(t *testing.T, file string, vip netip.Addr) []wireFrame {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, err := pcapgo.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	var out []wireFrame
	for {
		data, ci, err := r.ReadPacketData()
		if err != nil {
			break
		}
		pkt := gopacket.NewPacket(data, layers.LayerTypeEthernet, gopacket.Default)
		eth, _ := pkt.Layer(layers.LayerTypeEthernet).(*layers.Ethernet)
		if eth == nil {
			continue
		}
		w := wireFrame{at: ci.Timestamp, mac: eth.SrcMAC.String()}
		if arp, _ := pkt.Layer(layers.LayerTypeARP).(*layers.ARP); arp != nil {
			spa, _ := netip.AddrFromSlice(arp.SourceProtAddress)
			tpa, _ := netip.AddrFromSlice(arp.DstProtAddress)
			w.announce = arp.Operation == layers.ARPRequest && spa == vip && tpa == vip &&
				net.HardwareAddr(arp.SourceHwAddress).String() == w.mac
		}
		if na, _ := pkt.Layer(layers.LayerTypeICMPv6NeighborAdvertisement).(*layers.ICMPv6NeighborAdvertisement); na != nil {
			ip6, _ := pkt.Layer(layers.LayerTypeIPv6).(*layers.IPv6)
			target, _ := netip.AddrFromSlice(na.TargetAddress)
			lladdr := ""
			for _, o := range na.Options {
				if o.Type == layers.ICMPv6OptTargetAddress && len(o.Data) >= 6 {
					lladdr = net.HardwareAddr(o.Data[:6]).String()
				}
			}
			w.announce = ip6 != nil && ip6.DstIP.Equal(net.ParseIP("ff02::1")) && ip6.HopLimit == 255 &&
				na.Override() && !na.Solicited() && target == vip && lladdr == w.mac
			w.router = na.Router()
		}
		var payload []byte
		if ip4, _ := pkt.Layer(layers.LayerTypeIPv4).(*layers.IPv4); ip4 != nil && ip4.Protocol == vrrp.Protocol {
			w.advert, w.ttl, payload = true, int(ip4.TTL), ip4.Payload
			w.src, _ = netip.AddrFromSlice(ip4.SrcIP.To4())
			w.dst, _ = netip.AddrFromSlice(ip4.DstIP.To4())
		}
		if ip6, _ := pkt.Layer(layers.LayerTypeIPv6).(*layers.IPv6); ip6 != nil && ip6.NextHeader == vrrp.Protocol {
			w.advert, w.ttl, payload = true, int(ip6.HopLimit), ip6.Payload
			w.src, _ = netip.AddrFromSlice(ip6.SrcIP)
			w.dst, _ = netip.AddrFromSlice(ip6.DstIP)
		}
		if w.advert {
			w.decoded, w.err = vrrp.Decode(payload, w.src, w.dst)
		}
		if w.announce || w.advert {
			out = append(out, w)
		}
	}
	return out
}

// checkAnnouncements checks that who announced the VIP from mac after
// each of its takeovers, and (for gdirector) that it sent the whole burst
// each time (neighbour advertisements with the router flag, RFC 5798
// §6.4.1) and never announced at another time.
func checkAnnouncements(t *testing.T, tc vrrpCase, takeovers []takeover, who, mac string, seen []wireFrame) {
	t.Helper()
	kind := "gratuitous ARP"
	if tc.vip.Addr().Is6() {
		kind = "unsolicited NA"
	}
	// gdirector stamps the transition before it announces; keepalived's
	// notify script runs after its announcements.
	before, after := 10*time.Millisecond, time.Second
	if who == "ka" {
		before = 500 * time.Millisecond
	}
	inWindow := func(at time.Time) bool {
		for _, to := range takeovers {
			if to.who == who && !at.Before(to.at.Add(-before)) && at.Before(to.at.Add(after)) {
				return true
			}
		}
		return false
	}
	for _, to := range takeovers {
		if to.who != who {
			continue
		}
		n, first := 0, time.Duration(0)
		for _, w := range seen {
			if w.announce && w.mac == mac && !w.at.Before(to.at.Add(-before)) && w.at.Before(to.at.Add(after)) {
				if n == 0 {
					first = w.at.Sub(to.at)
				}
				n++
			}
		}
		t.Logf("%s: %s master at %s: %d %s for %v from %s on the wire, the first %v after the transition",
			tc.name, who, to.at.Format("15:04:05.000"), n, kind, tc.vip.Addr(), mac, first)
		if os.Getenv("GDVRRP_DEBUG") != "" {
			for _, w := range seen {
				if w.mac == mac && w.at.After(to.at.Add(-time.Second)) && w.at.Before(to.at.Add(time.Second)) {
					t.Logf("  %s announce=%v advert=%v prio=%d %v->%v", w.at.Format("15:04:05.000000"), w.announce, w.advert, w.decoded.Priority, w.src, w.dst)
				}
			}
		}
		if n == 0 {
			t.Errorf("%s became master at %s but sent no %s for %v", who, to.at.Format("15:04:05.000"), kind, tc.vip.Addr())
		}
		if who == "gd" && n != gdAnnounce {
			t.Errorf("gdirector became master at %s and sent %d %s, want %d", to.at.Format("15:04:05.000"), n, kind, gdAnnounce)
		}
	}
	if who != "gd" {
		return
	}
	for _, w := range seen {
		if w.announce && w.mac == mac && !inWindow(w.at) {
			t.Errorf("gdirector sent a %s at %s, not right after becoming master", kind, w.at.Format("15:04:05.000"))
		}
		if w.announce && w.mac == mac && tc.vip.Addr().Is6() && !w.router {
			t.Errorf("gdirector sent an unsolicited NA at %s without the router flag", w.at.Format("15:04:05.000"))
		}
	}
}

// checkAdverts checks the adverts sent from mac: some were seen, all
// decode with a valid checksum, and they went to the group with TTL or
// hop limit 255 from the expected source, or (unicast) to the peer only.
func checkAdverts(t *testing.T, tc vrrpCase, who, mac string, seen []wireFrame) {
	t.Helper()
	wantSrc, wantDst := gdVRRPAddr4, vrrp.GroupIPv4
	if mac == kaVRRPMAC {
		wantSrc = kaVRRPAddr4
	}
	switch {
	case tc.unicast && mac == gdVRRPMAC:
		wantSrc, wantDst = tc.unicastPair("gd")
	case tc.unicast:
		wantSrc, wantDst = tc.unicastPair("ka")
	case tc.vip.Addr().Is6():
		wantSrc, wantDst = gdVRRPLL, vrrp.GroupIPv6
		if mac == kaVRRPMAC {
			wantSrc = kaVRRPLL
		}
	}
	// keepalived sends IPv6 unicast adverts with the default hop limit
	// (64), as its peers do not check it; gdirector always sends 255.
	wantTTL := vrrp.TTL
	if tc.unicast && tc.vip.Addr().Is6() && mac == kaVRRPMAC {
		wantTTL = -1
	}
	n, bad := 0, 0
	for _, w := range seen {
		if !w.advert || w.mac != mac || w.decoded.Priority == injectedPrio {
			continue
		}
		n++
		if w.err != nil || w.src != wantSrc || w.dst != wantDst || (wantTTL > 0 && w.ttl != wantTTL) ||
			w.decoded.Version != tc.version || w.decoded.VRID != 42 ||
			len(w.decoded.Addrs) != 1 || w.decoded.Addrs[0] != tc.vip.Addr() {
			if bad++; bad <= 5 {
				t.Errorf("%s advert %v -> %v TTL %d: %+v, %v; want %v -> %v TTL 255, version %d, VRID 42, address %v",
					who, w.src, w.dst, w.ttl, w.decoded, w.err, wantSrc, wantDst, tc.version, tc.vip.Addr())
			}
		}
	}
	t.Logf("%s: %d adverts from %s (%s) on the wire, %d wrong; all %v -> %v", tc.name, n, who, mac, bad, wantSrc, wantDst)
	if n == 0 {
		t.Errorf("no advert from %s on the wire", who)
	}
}
