package healthcheck

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gdirector/gdirector/config"
	"github.com/gdirector/gdirector/config/keepalived"
	"github.com/gdirector/gdirector/ctl"
)

// groupConf is a virtual_server_group of three VIPs over two real servers
// with a TCP_CHECK each, as keepalived.conf writes it.
const groupConf = `
virtual_server_group web {
    192.0.2.1-3 80
}
virtual_server group web {
    delay_loop 10
    lb_algo rr
    lb_kind NAT
    protocol TCP
    real_server 203.0.113.1 80 {
        notify_down "rs1-down"
        TCP_CHECK {
            connect_timeout 1
            retry 0
        }
    }
    real_server 203.0.113.2 80 {
        TCP_CHECK {
            connect_timeout 1
            retry 0
        }
    }
}
`

var groupVIPs = []string{"192.0.2.1:80", "192.0.2.2:80", "192.0.2.3:80"}

// probeCounter counts the attempts per target; down lists the targets
// whose attempts fail.
type probeCounter struct {
	mu    sync.Mutex
	count map[netip.AddrPort]int
	down  map[netip.AddrPort]bool
}

func newProbeCounter() *probeCounter {
	return &probeCounter{count: map[netip.AddrPort]int{}, down: map[netip.AddrPort]bool{}}
}

func (p *probeCounter) probe(_ context.Context, _ *config.Check, target netip.AddrPort) Result {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.count[target]++
	if p.down[target] {
		return Result{Err: errors.New("connection refused")}
	}
	return Result{}
}

func (p *probeCounter) counts() map[netip.AddrPort]int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return maps.Clone(p.count)
}

func (p *probeCounter) setDown(target string, down bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down[netip.MustParseAddrPort(target)] = down
}

func wantCounts(t *testing.T, p *probeCounter, n int) {
	t.Helper()
	want := map[netip.AddrPort]int{
		netip.MustParseAddrPort("203.0.113.1:80"): n,
		netip.MustParseAddrPort("203.0.113.2:80"): n,
	}
	if got := p.counts(); !maps.Equal(got, want) {
		t.Fatalf("probes per target %v, want %v", got, want)
	}
}

// A virtual_server_group runs one probe per real server, as keepalived
// does, not one per real server of every VIP; the verdict counts in
// every service of the group.
func TestGroupSharesProbes(t *testing.T) {
	c, err := keepalived.Parse("group.conf", []byte(groupConf), nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Services) != 3 {
		t.Fatalf("%d services, want 3", len(c.Services))
	}
	l := newLab(t, ctl.Config{})
	l.e.opt.Warmup = func(time.Duration) time.Duration { return 0 }
	pc := newProbeCounter()
	l.setProbe(pc.probe)
	l.apply(c)
	both := map[string]int32{"203.0.113.1:80": 1, "203.0.113.2:80": 1}
	for _, v := range groupVIPs {
		l.wantTable(v, both)
	}
	l.e.mu.Lock()
	shared := l.e.svcs[0].dests[0].checks[0]
	for i := range 3 {
		if c := l.e.svcs[i].dests[0].checks[0]; c != shared {
			t.Errorf("service %d has a checker of its own for 203.0.113.1:80", i)
		}
	}
	if n := len(shared.dests); n != 3 {
		t.Errorf("the checker of 203.0.113.1:80 decides %d real servers, want 3", n)
	}
	l.e.mu.Unlock()

	l.start()
	l.clk.waiting(t, 2) // the first attempts are done: two, not six
	wantCounts(t, pc, 1)
	l.clk.Advance(10 * time.Second)
	l.clk.waiting(t, 2)
	wantCounts(t, pc, 2)

	// 203.0.113.1 fails: out of all three services at once, one
	// notification per service (keepalived notifies per virtual server).
	pc.setDown("203.0.113.1:80", true)
	l.clk.Advance(10 * time.Second)
	l.clk.waiting(t, 2)
	wantCounts(t, pc, 3)
	for _, v := range groupVIPs {
		l.wantTable(v, map[string]int32{"203.0.113.2:80": 1})
	}
	eventually(t, "the notify commands", func() bool { return len(l.commands()) == 3 })
	for _, cmd := range l.commands() {
		if cmd != "rs1-down down 203.0.113.1:80" {
			t.Errorf("command %q", cmd)
		}
	}
	downs := 0
	for _, h := range l.e.Health() {
		if h.Addr == netip.MustParseAddr("203.0.113.1") {
			if h.Up || h.LastError != "connection refused" {
				t.Errorf("health of %v in %v: %+v", h.Addr, h.Service, h)
			}
			downs++
		}
	}
	if downs != 3 {
		t.Errorf("203.0.113.1 is listed %d times, want once per service", downs)
	}

	// A reload of the same file keeps the shared checker and its state.
	c2, err := keepalived.Parse("group.conf", []byte(groupConf), nil)
	if err != nil {
		t.Fatal(err)
	}
	l.apply(c2)
	l.e.mu.Lock()
	for i := range 3 {
		if c := l.e.svcs[i].dests[0].checks[0]; c != shared || len(c.dests) != 3 || c.dests[i] != l.e.svcs[i].dests[0] {
			t.Errorf("after the reload, service %d: checker kept %v, deciding %d real servers", i, c == shared, len(c.dests))
		}
	}
	l.e.mu.Unlock()
	for _, v := range groupVIPs {
		l.wantTable(v, map[string]int32{"203.0.113.2:80": 1})
	}

	// Back up: in all three again, still with one probe per interval.
	pc.setDown("203.0.113.1:80", false)
	l.clk.Advance(10 * time.Second)
	l.clk.waiting(t, 2)
	wantCounts(t, pc, 4)
	for _, v := range groupVIPs {
		l.wantTable(v, both)
	}
}

// Only the same check of the same target starting in the same state is
// shared.
func TestShareOnlySameChecks(t *testing.T) {
	misc := config.Check{Kind: config.CheckMisc, Command: "check", Interval: time.Second}
	slow := tcpCheck
	slow.Interval = 2 * time.Second
	other := tcpCheck
	other.Target = netip.MustParseAddrPort("203.0.113.1:8080")
	mk := func(vip string, checks ...config.Check) config.Service {
		s := service(vip, dest("203.0.113.1:80", 1, checks...))
		return s
	}
	lined := tcpCheck
	lined.Line, lined.File = 40, "other.conf"
	alpha := mk("192.0.2.6:80", tcpCheck)
	alpha.Alpha = true
	cfg := &config.Config{Services: []config.Service{
		mk("192.0.2.1:80", tcpCheck, misc),
		mk("192.0.2.2:80", lined, misc), // shares the TCP check (line and file differ), not the MISC_CHECK
		mk("192.0.2.3:80", slow),        // another interval
		mk("192.0.2.4:80", other),       // another target
		mk("192.0.2.5:80", tcpCheck, tcpCheck),
		alpha, // starts down: not shared with those that start up
	}}
	l := newLab(t, ctl.Config{})
	l.apply(cfg)
	cs := func(i int) []*checker { return l.checkers(i, "203.0.113.1:80") }
	if cs(0)[0] != cs(1)[0] || cs(0)[0] != cs(4)[0] {
		t.Error("the same TCP check of the same target is not shared")
	}
	if cs(0)[1] == cs(1)[1] {
		t.Error("MISC_CHECKs of two services (different environments) are shared")
	}
	if cs(2)[0] == cs(0)[0] || cs(3)[0] == cs(0)[0] || cs(5)[0] == cs(0)[0] {
		t.Error("a different check is shared")
	}
	if cs(4)[0] == cs(4)[1] {
		t.Error("two checks of one real server are one checker")
	}
	if n := len(cs(0)[0].dests); n != 3 {
		t.Errorf("the shared check decides %d real servers, want 3", n)
	}
	// One report is the verdict of all that share it.
	shared := cs(0)[0]
	l.report(shared, false)
	for _, v := range []string{"192.0.2.1:80", "192.0.2.2:80", "192.0.2.5:80"} {
		l.wantTable(v, map[string]int32{})
	}
	l.wantTable("192.0.2.3:80", map[string]int32{"203.0.113.1:80": 1})
	l.wantTable("192.0.2.4:80", map[string]int32{"203.0.113.1:80": 1})

	// A reload that moves the check to a new service adopts the running
	// checker: the new service starts with the real server down, as the
	// probe last found it.
	l.apply(&config.Config{Services: []config.Service{mk("192.0.2.7:80", tcpCheck)}})
	if c := l.checkers(0, "203.0.113.1:80")[0]; c != shared || c.up {
		t.Errorf("the moved check: same checker %v, up %v; want the running one, down", c == shared, c.up)
	}
	l.wantTable("192.0.2.7:80", map[string]int32{})
	l.report(shared, true)
	l.wantTable("192.0.2.7:80", map[string]int32{"203.0.113.1:80": 1})
}

// Dest.Alpha starts one real server down until its checks pass, as
// Service.Alpha does for all of them.
func TestDestAlpha(t *testing.T) {
	const conf = `
virtual_server 192.0.2.10 80 {
    lb_kind NAT
    protocol TCP
    real_server 203.0.113.1 80 {
        alpha
        notify_down "a-down"
        notify_up "a-up"
        TCP_CHECK {
            connect_timeout 1
        }
    }
    real_server 203.0.113.2 80 {
        TCP_CHECK {
            connect_timeout 1
        }
    }
    real_server 203.0.113.3 80 {
        TCP_CHECK {
            alpha
            connect_timeout 1
        }
    }
}
`
	c, err := keepalived.Parse("alpha.conf", []byte(conf), nil)
	if err != nil {
		t.Fatal(err)
	}
	if d := c.Services[0].Dests; c.Services[0].Alpha || !d[0].Alpha || d[1].Alpha || !d[2].Alpha {
		t.Fatalf("parsed alpha: service %v, real servers %v %v %v", c.Services[0].Alpha, d[0].Alpha, d[1].Alpha, d[2].Alpha)
	}
	l := newLab(t, ctl.Config{})
	l.apply(c)
	l.wantTable(vip, map[string]int32{"203.0.113.2:80": 1})
	l.wantNotices()

	// The first verdict that confirms an alpha real server down is
	// notified; a pass brings it in.
	l.set(0, "203.0.113.1:80", false)
	l.wantNotices("a-down down 203.0.113.1:80")
	l.set(0, "203.0.113.1:80", true)
	l.set(0, "203.0.113.3:80", true)
	l.wantTable(vip, map[string]int32{"203.0.113.1:80": 1, "203.0.113.2:80": 1, "203.0.113.3:80": 1})
	l.wantNotices("a-up up 203.0.113.1:80")

	// A new check of an alpha real server that is down starts down; of
	// one that is up, up.
	l.set(0, "203.0.113.1:80", false) // keepalived's retry 1: one more
	l.set(0, "203.0.113.1:80", false)
	l.wantNotices("a-down down 203.0.113.1:80")
	httpCheck := config.Check{Kind: config.CheckHTTP, URLs: []config.URLCheck{{Path: "/"}}}
	c2 := *c
	c2.Services = []config.Service{c.Services[0]}
	c2.Services[0].Dests = append([]config.Dest(nil), c.Services[0].Dests...)
	for i := range c2.Services[0].Dests {
		d := &c2.Services[0].Dests[i]
		d.Checks = append(append([]config.Check(nil), d.Checks...), httpCheck)
	}
	l.apply(&c2)
	cs := l.checkers(0, "203.0.113.1:80")
	l.report(cs[0], true)
	l.wantTable(vip, map[string]int32{"203.0.113.2:80": 1, "203.0.113.3:80": 1})
	l.report(cs[1], true)
	l.wantTable(vip, map[string]int32{"203.0.113.1:80": 1, "203.0.113.2:80": 1, "203.0.113.3:80": 1})
}

// Errors found when a configuration is applied name the file an item was
// read from.
func TestApplyErrorsNameIncludedFiles(t *testing.T) {
	l := newLab(t, ctl.Config{})
	mk := func() *config.Config {
		s := service(vip, dest("203.0.113.1:80", 1, tcpCheck), dest("203.0.113.2:80", 1, tcpCheck))
		s.Line, s.File = 3, "/etc/keepalived/conf.d/web.conf"
		s.Dests[0].Line, s.Dests[0].File = 5, "/etc/keepalived/conf.d/web.conf"
		s.Dests[0].Checks[0].Line, s.Dests[0].Checks[0].File = 6, "/etc/keepalived/conf.d/web.conf"
		s.Dests[1].Line = 9 // in the main file
		return &config.Config{Path: "/etc/keepalived/keepalived.conf", Services: []config.Service{s}}
	}
	for _, tc := range []struct {
		name string
		mod  func(c *config.Config)
		want string
	}{
		{"service", func(c *config.Config) { c.Services[0].Scheduler = "nope" }, "/etc/keepalived/conf.d/web.conf:3: virtual server"},
		{"real server", func(c *config.Config) { c.Services[0].Dests[0].Weight = -1 }, "/etc/keepalived/conf.d/web.conf:5: real server 203.0.113.1:80"},
		{"real server of the main file", func(c *config.Config) { c.Services[0].Dests[1].Weight = -1 }, "/etc/keepalived/keepalived.conf:9: real server 203.0.113.2:80"},
		{"check", func(c *config.Config) { c.Services[0].Dests[0].Checks[0].Retry = -1 }, "/etc/keepalived/conf.d/web.conf:6: TCP_CHECK check"},
		{"check without a line", func(c *config.Config) {
			c.Services[0].Dests[0].Checks[0].Line = 0
			c.Services[0].Dests[0].Checks[0].Kind = config.CheckMisc
		}, "/etc/keepalived/conf.d/web.conf:5: MISC_CHECK check"},
		{"quorum", func(c *config.Config) { c.Services[0].Quorum = -1 }, "/etc/keepalived/conf.d/web.conf:3: virtual server"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := mk()
			tc.mod(c)
			_, err := l.e.Apply(c)
			if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
				t.Fatalf("Apply: %v\nwant an error starting %q", err, tc.want)
			}
		})
	}
}

// Random reloads and verdicts of configurations whose services share real
// servers and checks keep the engine's bookkeeping whole: every checker
// knows exactly the real servers that have it, every real server's state
// is its checks' verdict, and the table shows it.
func TestShareRandomReloads(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	pool := []config.Check{tcpCheck, {Kind: config.CheckHTTP, Interval: time.Second, URLs: []config.URLCheck{{Path: "/"}}},
		{Kind: config.CheckTCP, Interval: 3 * time.Second}, {Kind: config.CheckMisc, Command: "check"}}
	random := func() *config.Config {
		c := &config.Config{}
		for i := range 1 + rng.IntN(5) {
			s := service(fmt.Sprintf("192.0.2.%d:80", i+1))
			s.Alpha = rng.IntN(4) == 0
			for j := range 1 + rng.IntN(3) {
				d := dest(fmt.Sprintf("203.0.113.%d:80", j+1), int32(1+rng.IntN(3)))
				d.Alpha = rng.IntN(4) == 0
				for range rng.IntN(3) {
					d.Checks = append(d.Checks, pool[rng.IntN(len(pool))])
				}
				s.Dests = append(s.Dests, d)
			}
			c.Services = append(c.Services, s)
		}
		return c
	}
	l := newLab(t, ctl.Config{})
	l.e.opt.Logf = nil
	for round := range 300 {
		l.apply(random())
		l.e.mu.Lock()
		var all []*checker
		seen := map[*checker]bool{}
		for _, s := range l.e.svcs {
			for _, d := range s.dests {
				if d.up != d.allUp() {
					t.Fatalf("round %d: real server %v of %s is up=%v, its checks say %v", round, addrPort(d), s.label, d.up, d.allUp())
				}
				for _, c := range d.checks {
					if !seen[c] {
						seen[c] = true
						all = append(all, c)
					}
				}
			}
		}
		for _, c := range all {
			var want []*destState
			for _, s := range l.e.svcs {
				for _, d := range s.dests {
					if slices.Contains(d.checks, c) {
						want = append(want, d)
					}
				}
			}
			if !slices.Equal(c.dests, want) {
				t.Fatalf("round %d: a %v checker decides %d real servers, %d have it", round, c.spec.check.Kind, len(c.dests), len(want))
			}
		}
		for _, s := range l.e.svcs {
			want := map[string]int32{}
			for _, d := range s.dests {
				if d.up {
					want[addrPort(d).String()] = d.weight()
				}
			}
			if got := l.table(netip.AddrPortFrom(s.conf.Addr, s.conf.Port).String()); !maps.Equal(got, want) {
				t.Fatalf("round %d: table of %s %v, want %v", round, s.label, got, want)
			}
		}
		l.e.mu.Unlock()
		for range rng.IntN(4) {
			if len(all) > 0 {
				l.report(all[rng.IntN(len(all))], rng.IntN(2) == 0)
			}
		}
		l.notices()
	}
}

// The same with keepalived's include testdata: services read from
// included files are refused naming those files.
func TestApplyErrorsNameKeepalivedIncludes(t *testing.T) {
	dir := filepath.Join("..", "config", "keepalived", "testdata", "include")
	path := filepath.Join(dir, "keepalived.conf")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	c, err := keepalived.Parse(path, data, nil)
	if err != nil {
		t.Fatal(err)
	}
	l := newLab(t, ctl.Config{})
	l.apply(c)
	dns := filepath.Join(dir, "services", "dns.conf")
	c.Services[1].Dests[0].Weight = -1
	_, err = l.e.Apply(c)
	if want := dns + ":6: real server 203.0.113.53:53 of virtual server 192.0.2.30:53: "; err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Fatalf("Apply: %v\nwant an error starting %q", err, want)
	}
	c.Services[1].Dests[0].Weight = 1
	c.Services[1].Dests[0].Checks[0].DNSType = "WKS"
	_, err = l.e.Apply(c)
	if want := dns + ":7: DNS_CHECK check of real server 203.0.113.53:53"; err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Fatalf("Apply: %v\nwant an error starting %q", err, want)
	}
}
