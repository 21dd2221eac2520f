package healthcheck

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gdirector/gdirector/config"
	"github.com/gdirector/gdirector/ctl"
	"github.com/gdirector/gdirector/vs"
)

var loopbackDest = netip.MustParseAddrPort("127.0.0.1:80")

// The configurations of these tests name documentation addresses; no
// check reaches them: Options.Probe stands in for the checkers, or the
// tests report results themselves.

func service(vip string, dests ...config.Dest) config.Service {
	ap := netip.MustParseAddrPort(vip)
	return config.Service{
		ServiceConfig: ctl.ServiceConfig{ServiceID: ctl.ServiceID{Proto: vs.TCP, Addr: ap.Addr(), Port: ap.Port()}, Scheduler: "wlc"},
		Dests:         dests,
	}
}

func dest(addr string, weight int32, checks ...config.Check) config.Dest {
	ap := netip.MustParseAddrPort(addr)
	return config.Dest{DestConfig: ctl.DestConfig{Addr: ap.Addr(), Port: ap.Port(), Fwd: vs.Masq, Weight: weight}, Checks: checks}
}

var tcpCheck = config.Check{Kind: config.CheckTCP, Interval: time.Second, Timeout: time.Second}

// lab is an engine on a real Manager with a fake clock, whose commands
// are recorded instead of run.
type lab struct {
	t   *testing.T
	mgr *ctl.Manager
	e   *Engine
	clk *fakeClock

	mu    sync.Mutex
	ran   []Command
	probe func(ctx context.Context, c *config.Check, target netip.AddrPort) Result
}

func newLab(t *testing.T, mc ctl.Config) *lab {
	l := &lab{t: t, clk: newFakeClock(), mgr: ctl.NewManager(mc)}
	l.e = New(l.mgr, Options{
		Clock: l.clk,
		Logf:  t.Logf,
		RunCommand: func(ctx context.Context, c Command) (int, error) {
			l.mu.Lock()
			defer l.mu.Unlock()
			l.ran = append(l.ran, c)
			return 0, nil
		},
		Probe: func(ctx context.Context, c *config.Check, target netip.AddrPort) Result {
			l.mu.Lock()
			p := l.probe
			l.mu.Unlock()
			if p == nil {
				return Result{Err: errors.New("no probe in this test")}
			}
			return p(ctx, c, target)
		},
	})
	return l
}

func (l *lab) apply(c *config.Config) ctl.Changes {
	l.t.Helper()
	ch, err := l.e.Apply(c)
	if err != nil {
		l.t.Fatalf("Apply: %v", err)
	}
	return ch
}

// checkers returns the checkers of real server addr of service i.
func (l *lab) checkers(i int, addr string) []*checker {
	l.t.Helper()
	ap := netip.MustParseAddrPort(addr)
	l.e.mu.Lock()
	defer l.e.mu.Unlock()
	for _, d := range l.e.svcs[i].dests {
		if addrPort(d) == ap {
			return slices.Clone(d.checks)
		}
	}
	l.t.Fatalf("no real server %s in service %d", addr, i)
	return nil
}

// set reports one attempt of every check of a real server, as if it had
// run: passed if ok.
func (l *lab) set(i int, addr string, ok bool) {
	l.t.Helper()
	for _, c := range l.checkers(i, addr) {
		l.report(c, ok)
	}
}

func (l *lab) report(c *checker, ok bool) {
	var r Result
	if !ok {
		r.Err = errors.New("connection refused")
	}
	l.e.report(context.Background(), c, r)
}

// table returns the real servers of a service in the Manager's table and
// their weights; nil if the service is not there.
func (l *lab) table(vip string) map[string]int32 {
	ap := netip.MustParseAddrPort(vip)
	s := l.mgr.Table().Get(ctl.ServiceID{Proto: vs.TCP, Addr: ap.Addr(), Port: ap.Port()}.Key())
	if s == nil {
		return nil
	}
	m := map[string]int32{}
	for _, d := range s.Dests {
		m[netip.AddrPortFrom(d.Addr, d.Port).String()] = d.Weight.Load()
	}
	return m
}

func (l *lab) wantTable(vip string, want map[string]int32) {
	l.t.Helper()
	if got := l.table(vip); !reflect.DeepEqual(got, want) {
		l.t.Fatalf("table of %s: %v, want %v", vip, got, want)
	}
}

func (l *lab) dest(vip, addr string) *vs.Dest {
	l.t.Helper()
	ap, rp := netip.MustParseAddrPort(vip), netip.MustParseAddrPort(addr)
	s := l.mgr.Table().Get(ctl.ServiceID{Proto: vs.TCP, Addr: ap.Addr(), Port: ap.Port()}.Key())
	if s != nil {
		for _, d := range s.Dests {
			if d.Addr == rp.Addr() && d.Port == rp.Port() {
				return d
			}
		}
	}
	l.t.Fatalf("no real server %s in %s", addr, vip)
	return nil
}

// notices takes the commands queued for the notifier (Run is not running).
func (l *lab) notices() []string {
	l.e.mu.Lock()
	defer l.e.mu.Unlock()
	var out []string
	for _, n := range l.e.queue {
		out = append(out, describe(n.cmd))
	}
	l.e.queue = nil
	return out
}

// describe shows a command and the event variables it gets.
func describe(c Command) string {
	env := map[string]string{}
	for _, kv := range c.Env {
		k, v, _ := strings.Cut(kv, "=")
		env[k] = v
	}
	s := c.Line + " " + env["GDIRECTOR_EVENT"]
	if r := env["GDIRECTOR_RIP"]; r != "" {
		s += " " + r + ":" + env["GDIRECTOR_RPORT"]
	}
	if q := env["GDIRECTOR_QUORUM"]; q != "" {
		s += fmt.Sprintf(" q=%s h=%s sum=%s", q, env["GDIRECTOR_HYSTERESIS"], env["GDIRECTOR_WEIGHT_SUM"])
	}
	return s
}

func (l *lab) wantNotices(want ...string) {
	l.t.Helper()
	if got := l.notices(); !slices.Equal(got, want) {
		l.t.Fatalf("commands:\n  %q\nwant\n  %q", got, want)
	}
}

const vip = "192.0.2.10:80"

func TestRemoveAndInhibit(t *testing.T) {
	l := newLab(t, ctl.Config{})
	a := dest("203.0.113.1:80", 3, tcpCheck)
	a.NotifyUp, a.NotifyDown = "a-up", "a-down"
	b := dest("203.0.113.2:80", 5, tcpCheck)
	b.Inhibit = true
	b.NotifyUp, b.NotifyDown = "b-up", "b-down"
	svc := service(vip, a, b)
	svc.Name = "web"
	l.apply(&config.Config{Services: []config.Service{svc}})
	l.wantTable(vip, map[string]int32{"203.0.113.1:80": 3, "203.0.113.2:80": 5})
	l.wantNotices()
	db := l.dest(vip, "203.0.113.2:80")

	l.set(0, "203.0.113.1:80", false)
	l.wantTable(vip, map[string]int32{"203.0.113.2:80": 5})
	l.wantNotices("a-down down 203.0.113.1:80")

	l.set(0, "203.0.113.2:80", false)
	l.wantTable(vip, map[string]int32{"203.0.113.2:80": 0})
	l.wantNotices("b-down down 203.0.113.2:80")
	if l.dest(vip, "203.0.113.2:80") != db {
		t.Error("inhibiting replaced the *vs.Dest")
	}

	l.set(0, "203.0.113.1:80", false) // still down: nothing new
	l.wantNotices()

	l.set(0, "203.0.113.1:80", true)
	l.set(0, "203.0.113.2:80", true)
	l.wantTable(vip, map[string]int32{"203.0.113.1:80": 3, "203.0.113.2:80": 5})
	l.wantNotices("a-up up 203.0.113.1:80", "b-up up 203.0.113.2:80")
	if l.dest(vip, "203.0.113.2:80") != db {
		t.Error("restoring replaced the *vs.Dest")
	}

	// The environment of a notification.
	l.set(0, "203.0.113.1:80", false)
	l.e.mu.Lock()
	env := l.e.queue[0].cmd.Env
	l.e.queue = nil
	l.e.mu.Unlock()
	for _, kv := range []string{"GDIRECTOR_SERVICE=web", "GDIRECTOR_PROTO=tcp", "GDIRECTOR_VIP=192.0.2.10",
		"GDIRECTOR_VPORT=80", "GDIRECTOR_RIP=203.0.113.1", "GDIRECTOR_RPORT=80", "GDIRECTOR_EVENT=down"} {
		if !slices.Contains(env, kv) {
			t.Errorf("notify environment %q lacks %s", env, kv)
		}
	}
}

func TestSorryServer(t *testing.T) {
	for _, tc := range []struct {
		name                  string
		inhibit, sorryInhibit bool
		up, oneDown, allDown  map[string]int32
	}{
		{
			name:    "remove",
			up:      map[string]int32{"203.0.113.1:80": 1, "203.0.113.2:80": 2},
			oneDown: map[string]int32{"203.0.113.2:80": 2},
			allDown: map[string]int32{"203.0.113.9:80": 1},
		},
		{
			name: "inhibit", inhibit: true, sorryInhibit: true,
			up:      map[string]int32{"203.0.113.1:80": 1, "203.0.113.2:80": 2, "203.0.113.9:80": 0},
			oneDown: map[string]int32{"203.0.113.1:80": 0, "203.0.113.2:80": 2, "203.0.113.9:80": 0},
			allDown: map[string]int32{"203.0.113.1:80": 0, "203.0.113.2:80": 0, "203.0.113.9:80": 1},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := newLab(t, ctl.Config{})
			a, b := dest("203.0.113.1:80", 1, tcpCheck), dest("203.0.113.2:80", 2, tcpCheck)
			a.Inhibit, b.Inhibit = tc.inhibit, tc.inhibit
			svc := service(vip, a, b)
			sorry := dest("203.0.113.9:80", 0)
			sorry.Fwd = vs.DirectRoute
			svc.Sorry, svc.SorryInhibit = &sorry, tc.sorryInhibit
			svc.QuorumUp, svc.QuorumDown = "q-up", "q-down"
			l.apply(&config.Config{Services: []config.Service{svc}})
			l.wantTable(vip, tc.up)

			l.set(0, "203.0.113.1:80", false)
			l.wantTable(vip, tc.oneDown)
			l.set(0, "203.0.113.2:80", false)
			l.wantTable(vip, tc.allDown)
			if got := l.dest(vip, "203.0.113.9:80").FwdMethod(); got != vs.DirectRoute {
				t.Errorf("sorry server forwarding %v, want its own (Route)", got)
			}
			l.wantNotices("q-down down q=1 h=0 sum=0")

			l.set(0, "203.0.113.1:80", true)
			up := map[string]int32{"203.0.113.1:80": 1}
			if tc.inhibit {
				up = map[string]int32{"203.0.113.1:80": 1, "203.0.113.2:80": 0, "203.0.113.9:80": 0}
			}
			l.wantTable(vip, up)
			l.wantNotices("q-up up q=1 h=0 sum=1")
		})
	}
}

func TestQuorumHysteresis(t *testing.T) {
	l := newLab(t, ctl.Config{})
	var dests []config.Dest
	for i := 1; i <= 5; i++ {
		dests = append(dests, dest(fmt.Sprintf("203.0.113.%d:80", i), 1, tcpCheck))
	}
	svc := service(vip, dests...)
	sorry := dest("203.0.113.99:80", 7)
	svc.Sorry = &sorry
	svc.Quorum, svc.Hysteresis = 3, 1
	svc.QuorumUp, svc.QuorumDown = "q-up", "q-down"
	l.apply(&config.Config{Services: []config.Service{svc}})
	l.wantNotices() // 5 >= 3+1: starts with quorum

	sorryIn := func() bool { _, ok := l.table(vip)["203.0.113.99:80"]; return ok }
	// Down one by one: quorum holds while the sum is >= 3-1 = 2.
	for i, want := range []bool{false, false, false, true, true} {
		l.set(0, fmt.Sprintf("203.0.113.%d:80", i+1), false)
		if sum := 4 - i; sorryIn() != want {
			t.Fatalf("live weight %d: sorry server in = %v, want %v", sum, sorryIn(), want)
		}
		if i == 3 {
			l.wantNotices("q-down down q=3 h=1 sum=1")
			if w := l.table(vip)["203.0.113.99:80"]; w != 7 || len(l.table(vip)) != 1 {
				t.Fatalf("without quorum: %v, want the sorry server alone with its weight 7", l.table(vip))
			}
		} else {
			l.wantNotices()
		}
	}
	// Up one by one: quorum comes back at 3+1 = 4.
	for i, want := range []bool{true, true, true, false, false} {
		l.set(0, fmt.Sprintf("203.0.113.%d:80", i+1), true)
		if sum := i + 1; sorryIn() != want {
			t.Fatalf("live weight %d: sorry server in = %v, want %v", sum, sorryIn(), want)
		}
		if i == 3 {
			l.wantNotices("q-up up q=3 h=1 sum=4")
			if len(l.table(vip)) != 4 {
				t.Fatalf("with quorum back: %v", l.table(vip))
			}
		} else {
			l.wantNotices()
		}
	}
}

func TestQuorumStart(t *testing.T) {
	t.Run("short of quorum+hysteresis, no sorry server: no command", func(t *testing.T) {
		l := newLab(t, ctl.Config{})
		svc := service(vip, dest("203.0.113.1:80", 2, tcpCheck), dest("203.0.113.2:80", 1, tcpCheck))
		svc.Quorum, svc.Hysteresis, svc.QuorumDown, svc.QuorumUp = 3, 1, "q-down", "q-up"
		l.apply(&config.Config{Services: []config.Service{svc}})
		l.wantNotices()
		l.wantTable(vip, map[string]int32{"203.0.113.1:80": 2, "203.0.113.2:80": 1})
		// Going down from a state without quorum notifies nothing.
		l.set(0, "203.0.113.2:80", false)
		l.wantNotices()
	})
	t.Run("alpha with a sorry server", func(t *testing.T) {
		l := newLab(t, ctl.Config{})
		svc := service(vip, dest("203.0.113.1:80", 2, tcpCheck))
		sorry := dest("203.0.113.9:80", 0)
		svc.Sorry, svc.Alpha, svc.QuorumDown, svc.QuorumUp = &sorry, true, "q-down", "q-up"
		l.apply(&config.Config{Services: []config.Service{svc}})
		l.wantTable(vip, map[string]int32{"203.0.113.9:80": 1})
		l.wantNotices("q-down down q=1 h=0 sum=0")
		l.set(0, "203.0.113.1:80", true)
		l.wantTable(vip, map[string]int32{"203.0.113.1:80": 2})
		l.wantNotices("q-up up q=1 h=0 sum=2")
	})
	t.Run("weight 0 is no quorum", func(t *testing.T) {
		l := newLab(t, ctl.Config{})
		svc := service(vip, dest("203.0.113.1:80", 0, tcpCheck))
		sorry := dest("203.0.113.9:80", 0)
		svc.Sorry = &sorry
		l.apply(&config.Config{Services: []config.Service{svc}})
		l.wantTable(vip, map[string]int32{"203.0.113.9:80": 1})
	})
}

func TestAlpha(t *testing.T) {
	l := newLab(t, ctl.Config{})
	a := dest("203.0.113.1:80", 4, tcpCheck, config.Check{Kind: config.CheckHTTP, URLs: []config.URLCheck{{Path: "/"}}})
	a.NotifyUp, a.NotifyDown = "a-up", "a-down"
	b := dest("203.0.113.2:80", 5, tcpCheck)
	b.Inhibit = true
	c := dest("203.0.113.3:80", 6) // no checks: up
	svc := service(vip, a, b, c)
	svc.Alpha = true
	l.apply(&config.Config{Services: []config.Service{svc}})
	l.wantTable(vip, map[string]int32{"203.0.113.2:80": 0, "203.0.113.3:80": 6})
	l.wantNotices()

	ca := l.checkers(0, "203.0.113.1:80")
	l.report(ca[0], false) // the first verdict confirms down: notified once
	l.wantNotices("a-down down 203.0.113.1:80")
	l.report(ca[0], false)
	l.report(ca[1], false)
	l.wantNotices()

	l.report(ca[0], true) // one of two checks passes: still down
	l.wantTable(vip, map[string]int32{"203.0.113.2:80": 0, "203.0.113.3:80": 6})
	l.report(ca[1], true)
	l.wantTable(vip, map[string]int32{"203.0.113.1:80": 4, "203.0.113.2:80": 0, "203.0.113.3:80": 6})
	l.wantNotices("a-up up 203.0.113.1:80")

	// Either check failing takes it down again.
	l.report(ca[1], false)
	l.wantTable(vip, map[string]int32{"203.0.113.2:80": 0, "203.0.113.3:80": 6})
	l.wantNotices("a-down down 203.0.113.1:80")
}

func TestDynamicWeight(t *testing.T) {
	l := newLab(t, ctl.Config{})
	misc := config.Check{Kind: config.CheckMisc, Command: "check", Dynamic: true, Interval: time.Second}
	svc := service(vip, dest("203.0.113.1:80", 3, misc, misc))
	sorry := dest("203.0.113.9:80", 0)
	svc.Sorry = &sorry
	l.apply(&config.Config{Services: []config.Service{svc}})
	cs := l.checkers(0, "203.0.113.1:80")
	rip := "203.0.113.1:80"

	l.e.report(context.Background(), cs[0], Result{Weight: 7, HasWeight: true})
	l.wantTable(vip, map[string]int32{rip: 7})
	// Two dynamic checks: each moves the weight by its difference.
	l.e.report(context.Background(), cs[1], Result{Weight: 1, HasWeight: true})
	l.wantTable(vip, map[string]int32{rip: 5})
	l.e.report(context.Background(), cs[1], Result{}) // exit 0: configured weight
	l.wantTable(vip, map[string]int32{rip: 7})
	// Down forgets the dynamic weight; up again is the configured one.
	l.report(cs[0], false)
	l.wantTable(vip, map[string]int32{"203.0.113.9:80": 1})
	l.report(cs[0], true)
	l.wantTable(vip, map[string]int32{rip: 3})
	// A dynamic weight of 0 is up with nothing to give: quorum lost.
	l.e.report(context.Background(), cs[0], Result{Weight: 0, HasWeight: true})
	l.wantTable(vip, map[string]int32{"203.0.113.9:80": 1})
}

func TestOnOff(t *testing.T) {
	l := newLab(t, ctl.Config{})
	svc := service(vip, dest("203.0.113.1:80", 1, config.Check{Kind: config.CheckOn}),
		dest("203.0.113.2:80", 1, config.Check{Kind: config.CheckOff}))
	l.apply(&config.Config{Services: []config.Service{svc}})
	l.wantTable(vip, map[string]int32{"203.0.113.1:80": 1})
	h := l.e.Health()
	if len(h) != 2 || !h[0].Up || h[1].Up || h[1].LastError != "checktype off" {
		t.Errorf("health: %+v", h)
	}
	// Run starts no goroutine for them: nothing to wait on.
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- l.e.Run(ctx) }()
	time.Sleep(10 * time.Millisecond)
	l.clk.mu.Lock()
	n := len(l.clk.waiters)
	l.clk.mu.Unlock()
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Errorf("%d checks wait on the clock, want none", n)
	}
}

func TestHealthAndVerdict(t *testing.T) {
	l := newLab(t, ctl.Config{})
	a := dest("203.0.113.1:80", 1, tcpCheck)
	a.Inhibit = true
	svc := service(vip, a, dest("203.0.113.2:80", 1))
	sorry := dest("203.0.113.9:80", 0)
	svc.Sorry, svc.SorryInhibit = &sorry, true
	l.apply(&config.Config{Services: []config.Service{svc}})
	start := l.clk.Now()
	l.clk.Advance(time.Minute)
	l.set(0, "203.0.113.1:80", false)

	h := l.e.Health()
	key := svc.Key()
	want := []DestHealth{
		{Service: key, Addr: netip.MustParseAddr("203.0.113.1"), Port: 80, Up: false, Since: start.Add(time.Minute), LastError: "connection refused", Checks: 1},
		{Service: key, Addr: netip.MustParseAddr("203.0.113.2"), Port: 80, Up: true, Since: start, Checks: 0},
	}
	if !reflect.DeepEqual(h, want) {
		t.Errorf("Health:\n %+v\nwant\n %+v", h, want)
	}

	s := l.mgr.Table().Get(key)
	for _, tc := range []struct {
		addr      string
		up, known bool
	}{
		{"203.0.113.1:80", false, true},  // checked, down (inhibited)
		{"203.0.113.2:80", false, false}, // no checks
		{"203.0.113.9:80", false, false}, // sorry server
	} {
		up, known := l.e.Verdict(s, l.dest(vip, tc.addr))
		if up != tc.up || known != tc.known {
			t.Errorf("Verdict(%s) = %v, %v; want %v, %v", tc.addr, up, known, tc.up, tc.known)
		}
	}
	l.set(0, "203.0.113.1:80", true)
	if up, known := l.e.Verdict(s, l.dest(vip, "203.0.113.1:80")); !up || !known {
		t.Errorf("Verdict after recovery = %v, %v", up, known)
	}
}

func TestApplyKeepsState(t *testing.T) {
	l := newLab(t, ctl.Config{})
	httpCheck := config.Check{Kind: config.CheckHTTP, Interval: time.Second, URLs: []config.URLCheck{{Path: "/"}}}
	cfg := func(mod func(s1, s2 *config.Service)) *config.Config {
		a := dest("203.0.113.1:80", 3, tcpCheck)
		b := dest("203.0.113.2:80", 5, tcpCheck)
		b.Inhibit, b.NotifyUp, b.NotifyDown = true, "b-up", "b-down"
		c := dest("203.0.113.3:80", 1, httpCheck)
		c.NotifyDown = "c-down"
		s1 := service(vip, a, b, c)
		s2 := service("192.0.2.20:443", dest("203.0.113.4:443", 1))
		mod(&s1, &s2)
		return &config.Config{Path: "test.conf", Services: []config.Service{s1, s2}}
	}
	l.apply(cfg(func(*config.Service, *config.Service) {}))
	l.set(0, "203.0.113.2:80", false)
	l.notices()
	da, db := l.dest(vip, "203.0.113.1:80"), l.dest(vip, "203.0.113.2:80")
	ca, cb := l.checkers(0, "203.0.113.1:80")[0], l.checkers(0, "203.0.113.2:80")[0]

	// a's weight changes, c goes, e comes; the second service changes
	// scheduler; a third one appears.
	ch := l.apply(cfg(func(s1, s2 *config.Service) {
		s1.Dests[0].Weight = 4
		s1.Dests[0].Line = 99 // lines do not matter
		s1.Dests = append(s1.Dests[:2], dest("203.0.113.5:80", 2, tcpCheck))
		s2.Scheduler = "rr"
	}))
	if ch.DestsAdded != 1 || ch.DestsRemoved != 1 || ch.DestsEdited != 1 || ch.ServicesEdited != 1 {
		t.Errorf("changes: %+v", ch)
	}
	l.wantTable(vip, map[string]int32{"203.0.113.1:80": 4, "203.0.113.2:80": 0, "203.0.113.5:80": 2})
	if l.dest(vip, "203.0.113.1:80") != da || l.dest(vip, "203.0.113.2:80") != db {
		t.Error("a real server that stayed lost its *vs.Dest")
	}
	if l.checkers(0, "203.0.113.1:80")[0] != ca || l.checkers(0, "203.0.113.2:80")[0] != cb {
		t.Error("an unchanged check was replaced")
	}
	if cb.up || !cb.hasRun {
		t.Error("the down check lost its state")
	}
	l.wantNotices("c-down down 203.0.113.3:80") // c was up and left; b did not flap

	// The kept checker reports into the new configuration.
	l.report(cb, true)
	l.wantTable(vip, map[string]int32{"203.0.113.1:80": 4, "203.0.113.2:80": 5, "203.0.113.5:80": 2})
	l.wantNotices("b-up up 203.0.113.2:80")
	l.report(cb, false)
	l.notices()

	// A changed check of the same kind and target takes over the state.
	l.apply(cfg(func(s1, _ *config.Service) {
		s1.Dests[1].Checks[0].Interval = 2 * time.Second
	}))
	if nb := l.checkers(0, "203.0.113.2:80")[0]; nb == cb || nb.up || !nb.hasRun {
		t.Errorf("changed check: same=%v up=%v hasRun=%v; want a new checker, still down", nb == cb, nb.up, nb.hasRun)
	}
	l.wantTable(vip, map[string]int32{"203.0.113.1:80": 3, "203.0.113.2:80": 0, "203.0.113.3:80": 1})
	l.wantNotices()

	// A check of another kind starts afresh: up without alpha.
	l.apply(cfg(func(s1, _ *config.Service) {
		s1.Dests[1].Checks[0] = httpCheck
	}))
	l.wantTable(vip, map[string]int32{"203.0.113.1:80": 3, "203.0.113.2:80": 5, "203.0.113.3:80": 1})
	l.wantNotices("b-up up 203.0.113.2:80")

	// Removing the service notifies its real servers that were up.
	l.apply(&config.Config{})
	l.wantNotices("b-down down 203.0.113.2:80", "c-down down 203.0.113.3:80")
	if n := len(l.mgr.Table().Services); n != 0 {
		t.Errorf("%d services left", n)
	}
}

func TestApplyAlphaNewCheck(t *testing.T) {
	l := newLab(t, ctl.Config{})
	mk := func(checks ...config.Check) *config.Config {
		s := service(vip, dest("203.0.113.1:80", 1, checks...))
		s.Alpha = true
		return &config.Config{Services: []config.Service{s}}
	}
	httpCheck := config.Check{Kind: config.CheckHTTP, URLs: []config.URLCheck{{Path: "/"}}}
	l.apply(mk(tcpCheck))
	l.set(0, "203.0.113.1:80", true)
	l.wantTable(vip, map[string]int32{"203.0.113.1:80": 1})
	// A new alpha check on a real server that is up keeps it up.
	l.apply(mk(tcpCheck, httpCheck))
	l.wantTable(vip, map[string]int32{"203.0.113.1:80": 1})
	// On one that is down, it starts down.
	l.set(0, "203.0.113.1:80", false)
	l.apply(mk(tcpCheck, httpCheck, config.Check{Kind: config.CheckSMTP}))
	cs := l.checkers(0, "203.0.113.1:80")
	l.report(cs[0], true)
	l.report(cs[1], true)
	l.wantTable(vip, map[string]int32{})
	l.report(cs[2], true)
	l.wantTable(vip, map[string]int32{"203.0.113.1:80": 1})
}

func TestApplyBadConfigChangesNothing(t *testing.T) {
	l := newLab(t, ctl.Config{CheckDest: func(d ctl.DestConfig) error {
		if d.Fwd == vs.DirectRoute {
			return errors.New("DR refused here")
		}
		return nil
	}})
	good := func() *config.Config {
		s := service(vip, dest("203.0.113.1:80", 1, tcpCheck), dest("203.0.113.2:80", 1, tcpCheck))
		s.Line = 10
		s.Dests[0].Line, s.Dests[1].Line = 12, 14
		s.Dests[0].Checks[0].Line = 13
		s.Dests[0].NotifyDown = "down"
		return &config.Config{Path: "/etc/gd.conf", Services: []config.Service{s}}
	}
	l.apply(good())
	l.mgr.AddMark(vs.MarkRule{Dst: netip.MustParseAddr("192.0.2.10"), Mark: 9})
	l.set(0, "203.0.113.2:80", false)
	l.notices()
	table := l.mgr.Table()
	health := l.e.Health()
	tcp, fin, udp := l.mgr.Timeouts()

	for _, tc := range []struct {
		name string
		mod  func(c *config.Config)
		want string
	}{
		{"scheduler", func(c *config.Config) { c.Services[0].Scheduler = "nope" },
			"/etc/gd.conf:10: virtual server TCP 192.0.2.10:80: Scheduler or persistence engine not found"},
		{"weight", func(c *config.Config) { c.Services[0].Dests[1].Weight = -1 },
			"/etc/gd.conf:14: real server 203.0.113.2:80 of virtual server TCP 192.0.2.10:80: Numerical result out of range"},
		{"manager's restriction", func(c *config.Config) { c.Services[0].Dests[1].Fwd = vs.DirectRoute },
			"/etc/gd.conf:14: real server 203.0.113.2:80 of virtual server TCP 192.0.2.10:80: DR refused here"},
		{"check", func(c *config.Config) {
			c.Services[0].Dests[0].Checks[0] = config.Check{Line: 13, Kind: config.CheckHTTP, URLs: []config.URLCheck{{Path: "/", Regexp: "("}}}
		}, "/etc/gd.conf:13: HTTP_GET check of real server 203.0.113.1:80 in virtual server TCP 192.0.2.10:80: url /: error parsing regexp"},
		{"check without line", func(c *config.Config) {
			c.Services[0].Dests[1].Checks[0] = config.Check{Kind: config.CheckMisc}
		}, "/etc/gd.conf:14: MISC_CHECK check of real server 203.0.113.2:80"},
		{"duplicate service", func(c *config.Config) {
			s := service(vip)
			s.Line = 30
			c.Services = append(c.Services, s)
		}, "/etc/gd.conf:30: virtual server TCP 192.0.2.10:80: Service already exists"},
		{"sorry server", func(c *config.Config) {
			sorry := dest("192.0.2.99:80", 1)
			sorry.Line, sorry.Fwd = 20, 77
			c.Services[0].Sorry = &sorry
		}, "/etc/gd.conf:20: sorry server 192.0.2.99:80 of virtual server TCP 192.0.2.10:80: Invalid operation"},
		{"quorum", func(c *config.Config) { c.Services[0].Quorum = -1 }, "/etc/gd.conf:10: virtual server TCP 192.0.2.10:80: negative quorum"},
		{"timeouts", func(c *config.Config) { c.Timeouts = &config.Timeouts{TCP: -time.Second} }, "/etc/gd.conf: timeouts"},
		{"mark", func(c *config.Config) { c.Marks = []vs.MarkRule{{Dst: netip.MustParseAddr("192.0.2.1")}} }, "/etc/gd.conf: mark rule 1: mark rule: mark 0"},
		{"local address", func(c *config.Config) {
			c.Services[0].LAddrs = []config.LocalAddr{{Addr: netip.MustParseAddr("2001:db8::1")}}
		}, "/etc/gd.conf:10: virtual server TCP 192.0.2.10:80: local address 2001:db8::1: Operation not supported"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := good()
			tc.mod(c)
			_, err := l.e.Apply(c)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Apply: %v\nwant an error containing %q", err, tc.want)
			}
			if l.mgr.Table() != table {
				t.Error("the Manager published a table")
			}
			if got := l.e.Health(); !reflect.DeepEqual(got, health) {
				t.Errorf("health changed: %+v", got)
			}
			if a, b, c := l.mgr.Timeouts(); a != tcp || b != fin || c != udp {
				t.Error("timeouts changed")
			}
			if len(l.mgr.Marks()) != 1 {
				t.Error("mark rules changed")
			}
			l.wantNotices()
		})
	}
	if _, err := l.e.Apply(nil); err == nil {
		t.Error("Apply(nil) succeeded")
	}
}

func TestMarksAndTimeouts(t *testing.T) {
	l := newLab(t, ctl.Config{})
	operator := vs.MarkRule{Dst: netip.MustParseAddr("192.0.2.50"), Mark: 50}
	if err := l.mgr.AddMark(operator); err != nil {
		t.Fatal(err)
	}
	svc := service(vip, dest("203.0.113.1:80", 1, tcpCheck))
	l.apply(&config.Config{Services: []config.Service{svc}})
	if m := l.mgr.Marks(); len(m) != 1 || m[0].Mark != 50 {
		t.Fatalf("a configuration without marks changed the operator's: %v", m)
	}

	mine := vs.MarkRule{Dst: netip.MustParseAddr("192.0.2.60"), Proto: vs.TCP, Ports: []vs.PortRange{{Lo: 80, Hi: 81}}, Mark: 60}
	l.apply(&config.Config{Services: []config.Service{svc}, Marks: []vs.MarkRule{mine},
		Timeouts: &config.Timeouts{TCP: 100 * time.Second, UDP: 1500 * time.Millisecond}})
	if m := l.mgr.Marks(); len(m) != 1 || m[0].Mark != 60 {
		t.Fatalf("marks %v, want the configuration's", m)
	}
	if tcp, fin, udp := l.mgr.Timeouts(); tcp != 100 || fin != ctl.DefaultTCPFinTimeout || udp != 2 {
		t.Errorf("timeouts %d %d %d, want 100 %d 2", tcp, fin, udp, ctl.DefaultTCPFinTimeout)
	}

	// Health changes leave marks and timeouts alone.
	l.mgr.AddMark(operator)
	l.mgr.SetTimeouts(0, 30, 0)
	l.set(0, "203.0.113.1:80", false)
	if m := l.mgr.Marks(); len(m) != 2 {
		t.Errorf("a health change touched the marks: %v", m)
	}
	if _, fin, _ := l.mgr.Timeouts(); fin != 30 {
		t.Errorf("a health change touched the timeouts")
	}

	// The configuration's marks gone from the file: gone from the table.
	l.apply(&config.Config{Services: []config.Service{svc}})
	if m := l.mgr.Marks(); len(m) != 0 {
		t.Errorf("marks %v after the configuration dropped its rules", m)
	}
}

func TestSeconds(t *testing.T) {
	for d, want := range map[time.Duration]int{0: 0, time.Nanosecond: 1, time.Second: 1, 1001 * time.Millisecond: 2, -time.Second: -1} {
		if got := seconds(d); got != want {
			t.Errorf("seconds(%v) = %d, want %d", d, got, want)
		}
	}
}

// A sorry server that is also a real server: while the service has no
// quorum it is in with the sorry server's settings; otherwise it is a
// real server like the others.
func TestSorryIsARealServer(t *testing.T) {
	l := newLab(t, ctl.Config{})
	svc := service(vip, dest("203.0.113.1:80", 5, tcpCheck), dest("203.0.113.2:80", 5, tcpCheck))
	sorry := dest("203.0.113.2:80", 0)
	svc.Sorry, svc.Quorum = &sorry, 10
	l.apply(&config.Config{Services: []config.Service{svc}})
	l.wantTable(vip, map[string]int32{"203.0.113.1:80": 5, "203.0.113.2:80": 5})
	l.set(0, "203.0.113.1:80", false) // 5 < 10: no quorum
	l.wantTable(vip, map[string]int32{"203.0.113.2:80": 1})
	l.set(0, "203.0.113.1:80", true)
	l.wantTable(vip, map[string]int32{"203.0.113.1:80": 5, "203.0.113.2:80": 5})
}

// A MISC_CHECK whose environment changes (the service was renamed) is a
// new checker, which takes over its predecessor's state.
func TestApplyMiscEnvironment(t *testing.T) {
	l := newLab(t, ctl.Config{})
	mk := func(name string) *config.Config {
		s := service(vip, dest("203.0.113.1:80", 1, config.Check{Kind: config.CheckMisc, Command: "check"}))
		s.Name = name
		return &config.Config{Services: []config.Service{s}}
	}
	l.apply(mk("one"))
	l.set(0, "203.0.113.1:80", false)
	old := l.checkers(0, "203.0.113.1:80")[0]
	l.apply(mk("one"))
	if l.checkers(0, "203.0.113.1:80")[0] != old {
		t.Error("an unchanged MISC_CHECK was replaced")
	}
	l.apply(mk("two"))
	c := l.checkers(0, "203.0.113.1:80")[0]
	if c == old || c.up || !slices.Contains(c.spec.env, "GDIRECTOR_SERVICE=two") {
		t.Errorf("renamed service: same=%v up=%v env=%q", c == old, c.up, c.spec.env)
	}
	l.wantTable(vip, map[string]int32{})
	l.wantNotices()
}
