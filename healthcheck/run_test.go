package healthcheck

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gdirector/gdirector/config"
	"github.com/gdirector/gdirector/ctl"
	"github.com/gdirector/gdirector/vs"
)

// start runs the engine until the test ends (or stop is called).
func (l *lab) start() (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- l.e.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				l.t.Errorf("Run: %v", err)
			}
		})
	}
	l.t.Cleanup(stop)
	return stop
}

func (l *lab) setProbe(p func(ctx context.Context, c *config.Check, target netip.AddrPort) Result) {
	l.mu.Lock()
	l.probe = p
	l.mu.Unlock()
}

func (l *lab) commands() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, c := range l.ran {
		out = append(out, describe(c))
	}
	return out
}

// The attempts of a check as the clock sees them: retries DelayBeforeRetry
// apart while up, the interval otherwise, rise passes to come back; the
// table follows at the attempt that changes the state.
func TestRunTiming(t *testing.T) {
	l := newLab(t, ctl.Config{})
	check := config.Check{Kind: config.CheckTCP, Interval: 10 * time.Second, Retry: 2, DelayBeforeRetry: time.Second, Rise: 2}
	l.apply(&config.Config{Services: []config.Service{service(vip, dest("203.0.113.1:80", 1, check))}})

	script := "+---++-++"
	var mu sync.Mutex
	var times []time.Duration
	t0 := l.clk.Now()
	l.setProbe(func(ctx context.Context, c *config.Check, target netip.AddrPort) Result {
		mu.Lock()
		defer mu.Unlock()
		if target != netip.MustParseAddrPort("203.0.113.1:80") || c.Kind != config.CheckTCP {
			t.Errorf("probe of %v %v", c.Kind, target)
		}
		i := len(times)
		times = append(times, l.clk.Now().Sub(t0))
		if i < len(script) && script[i] == '+' {
			return Result{}
		}
		return Result{Err: errors.New("refused")}
	})
	l.start()
	wantIn := "yyynnyyyy"
	for i := range script {
		l.clk.waiting(t, 1) // attempt i is done and reported
		_, in := l.table(vip)["203.0.113.1:80"]
		if want := wantIn[i] == 'y'; in != want {
			t.Fatalf("after attempt %d (%c): in the table = %v, want %v", i, script[i], in, want)
		}
		l.clk.next(t)
	}
	l.clk.waiting(t, 1)
	mu.Lock()
	defer mu.Unlock()
	s := time.Second
	want := []time.Duration{0, 10 * s, 11 * s, 12 * s, 22 * s, 32 * s, 42 * s, 43 * s, 53 * s, 63 * s}
	if !slices.Equal(times, want) {
		t.Errorf("attempts at %v\nwant         %v", times, want)
	}
}

func TestRunWarmup(t *testing.T) {
	l := newLab(t, ctl.Config{})
	var asked []time.Duration
	l.e.opt.Warmup = func(max time.Duration) time.Duration { asked = append(asked, max); return max / 2 }
	check := config.Check{Kind: config.CheckTCP, Interval: 10 * time.Second, Warmup: 4 * time.Second}
	l.apply(&config.Config{Services: []config.Service{service(vip, dest("203.0.113.1:80", 1, check))}})
	attempts := make(chan time.Time, 10)
	l.setProbe(func(context.Context, *config.Check, netip.AddrPort) Result {
		attempts <- l.clk.Now()
		return Result{}
	})
	t0 := l.clk.Now()
	l.start()
	if d := l.clk.next(t); d != 2*time.Second {
		t.Errorf("first attempt after %v, want half the 4s warmup", d)
	}
	if at := <-attempts; at.Sub(t0) != 2*time.Second {
		t.Errorf("first attempt at %v", at.Sub(t0))
	}
	if !slices.Equal(asked, []time.Duration{4 * time.Second}) {
		t.Errorf("warmup asked with %v", asked)
	}
}

// Commands run in the order of the events; at the end, omega runs the
// notify-down commands of the real servers still up and quorum-down.
func TestRunCommandsAndOmega(t *testing.T) {
	l := newLab(t, ctl.Config{})
	mk := func(addr string) config.Dest {
		d := dest(addr, 1, tcpCheck)
		d.NotifyUp, d.NotifyDown = "up "+addr, "down "+addr
		return d
	}
	svc := service(vip, mk("203.0.113.1:80"), mk("203.0.113.2:80"), mk("203.0.113.3:80"))
	svc.QuorumUp, svc.QuorumDown, svc.Omega = "q-up", "q-down", true
	other := service("192.0.2.20:80", mk("203.0.113.4:80"))
	other.QuorumDown = "other q-down" // no omega: nothing at the end
	l.apply(&config.Config{Services: []config.Service{svc, other}})

	var mu sync.Mutex
	health := map[netip.AddrPort]bool{}
	for _, a := range []string{"203.0.113.1:80", "203.0.113.2:80", "203.0.113.3:80", "203.0.113.4:80"} {
		health[netip.MustParseAddrPort(a)] = true
	}
	setHealth := func(a string, ok bool) {
		mu.Lock()
		health[netip.MustParseAddrPort(a)] = ok
		mu.Unlock()
	}
	l.setProbe(func(_ context.Context, _ *config.Check, target netip.AddrPort) Result {
		mu.Lock()
		defer mu.Unlock()
		if health[target] {
			return Result{}
		}
		return Result{Err: errors.New("refused")}
	})
	stop := l.start()
	round := func() { // every check attempts once more
		l.clk.waiting(t, 4)
		l.clk.Advance(time.Second)
		l.clk.waiting(t, 4)
	}
	round()
	setHealth("203.0.113.1:80", false)
	setHealth("203.0.113.2:80", false)
	round()
	setHealth("203.0.113.2:80", true)
	round()
	want := []string{"down 203.0.113.1:80 down 203.0.113.1:80", "down 203.0.113.2:80 down 203.0.113.2:80",
		"up 203.0.113.2:80 up 203.0.113.2:80"}
	eventually(t, "the notify commands", func() bool { return len(l.commands()) >= len(want) })
	got := l.commands()[:3]
	slices.Sort(got[:2]) // the two failures of one round come in either order
	if !slices.Equal(got, want) {
		t.Fatalf("commands %q\nwant %q", got, want)
	}
	stop()
	got = l.commands()[3:]
	slices.Sort(got)
	wantEnd := []string{"down 203.0.113.2:80 down 203.0.113.2:80", "down 203.0.113.3:80 down 203.0.113.3:80", "q-down down q=1 h=0 sum=0"}
	if !slices.Equal(got, wantEnd) {
		t.Errorf("at the end: %q\nwant %q", got, wantEnd)
	}
}

// The default RunCommand runs notify commands with the shell, with the
// event in the environment.
func TestRunExecNotify(t *testing.T) {
	out := filepath.Join(t.TempDir(), "events")
	mgr := ctl.NewManager(ctl.Config{})
	clk := newFakeClock()
	e := New(mgr, Options{Clock: clk, Probe: func(context.Context, *config.Check, netip.AddrPort) Result {
		return Result{Err: errors.New("refused")}
	}})
	d := dest("203.0.113.1:80", 1, tcpCheck)
	d.NotifyDown = `echo "$GDIRECTOR_EVENT $GDIRECTOR_RIP:$GDIRECTOR_RPORT $GDIRECTOR_SERVICE" >> ` + out
	svc := service(vip, d)
	svc.Name = "web site"
	if _, err := e.Apply(&config.Config{Services: []config.Service{svc}}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- e.Run(ctx) }()
	eventually(t, "the notify command's output", func() bool {
		b, _ := os.ReadFile(out)
		return len(b) > 0
	})
	cancel()
	<-done
	b, _ := os.ReadFile(out)
	if got := string(b); got != "down 203.0.113.1:80 web site\n" {
		t.Errorf("the command wrote %q", got)
	}
}

func TestRunTwice(t *testing.T) {
	l := newLab(t, ctl.Config{})
	stop := l.start()
	eventually(t, "Run to start", func() bool { l.e.mu.Lock(); defer l.e.mu.Unlock(); return l.e.running })
	if err := l.e.Run(context.Background()); err == nil || !strings.Contains(err.Error(), "already running") {
		t.Errorf("second Run: %v", err)
	}
	stop()
	// Run may start again.
	l.start()
}

// A reload keeps unchanged checks running (no new attempt), starts new
// ones at once and stops removed ones.
func TestApplyWhileRunning(t *testing.T) {
	l := newLab(t, ctl.Config{})
	var mu sync.Mutex
	count := map[netip.AddrPort]int{}
	l.setProbe(func(_ context.Context, _ *config.Check, target netip.AddrPort) Result {
		mu.Lock()
		defer mu.Unlock()
		count[target]++
		return Result{}
	})
	counts := func() map[netip.AddrPort]int {
		mu.Lock()
		defer mu.Unlock()
		m := map[netip.AddrPort]int{}
		for k, v := range count {
			m[k] = v
		}
		return m
	}
	a, b, c := netip.MustParseAddrPort("203.0.113.1:80"), netip.MustParseAddrPort("203.0.113.2:80"), netip.MustParseAddrPort("203.0.113.3:80")
	l.apply(&config.Config{Services: []config.Service{service(vip, dest(a.String(), 1, tcpCheck), dest(b.String(), 1, tcpCheck))}})
	l.start()
	l.clk.waiting(t, 2)
	if n := counts(); n[a] != 1 || n[b] != 1 {
		t.Fatalf("first attempts: %v", n)
	}
	l.apply(&config.Config{Services: []config.Service{service(vip, dest(a.String(), 2, tcpCheck), dest(c.String(), 1, tcpCheck))}})
	l.clk.waiting(t, 3) // b's old wait stays registered in the fake clock; c's is new
	eventually(t, "c's first attempt", func() bool { return counts()[c] == 1 })
	if n := counts(); n[a] != 1 {
		t.Errorf("the unchanged check of a ran again on reload: %v", n)
	}
	l.clk.Advance(time.Second)
	eventually(t, "the next round", func() bool { n := counts(); return n[a] == 2 && n[c] == 2 })
	time.Sleep(20 * time.Millisecond)
	if n := counts(); n[b] != 1 {
		t.Errorf("the removed check of b still runs: %v", n)
	}
}

// End to end on loopback, with the real clock and the TCP checker: a real
// server whose listener closes leaves the table; listening again brings it
// back.
func TestRunTCPEndToEnd(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := addrPortOf(t, l.Addr())
	mgr := ctl.NewManager(ctl.Config{})
	e := New(mgr, Options{Logf: t.Logf})
	check := config.Check{Kind: config.CheckTCP, Interval: 20 * time.Millisecond, Timeout: 500 * time.Millisecond}
	if _, err := e.Apply(&config.Config{Services: []config.Service{service(vip, dest(addr.String(), 1, check))}}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- e.Run(ctx) }()
	defer func() { cancel(); <-done }()

	key := ctl.ServiceID{Proto: vs.TCP, Addr: netip.MustParseAddr("192.0.2.10"), Port: 80}.Key()
	inTable := func() bool { return len(mgr.Table().Get(key).Dests) == 1 }
	if !inTable() {
		t.Fatal("the real server is not in the table at the start")
	}
	l.Close()
	eventually(t, "the real server to leave the table", func() bool { return !inTable() })
	if h := e.Health(); h[0].Up || !strings.Contains(h[0].LastError, "refused") {
		t.Errorf("health %+v", h)
	}
	l, err = net.Listen("tcp", addr.String())
	if err != nil {
		t.Skipf("cannot listen on %v again: %v", addr, err)
	}
	defer l.Close()
	eventually(t, "the real server to come back", inTable)
	if h := e.Health(); !h[0].Up || h[0].LastError != "" {
		t.Errorf("health %+v", h)
	}
}
