package schedsim

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/gdirector/gdirector/internal/nsutil"
	"github.com/gdirector/gdirector/lab"
)

// LiveConfig is the live mode (--live): every run of the simulation is
// replayed through a netns lab, with real TCP connections from the client
// namespace through the gdirector daemon (NAT) to real servers that serve
// each connection's work in a processor-sharing queue of their speed
// (`gdirector serve http --speed S`).
type LiveConfig struct {
	On       bool
	Clients  int // client addresses 198.51.100.10, .11, …: 1..MaxLiveClients
	MaxConns int // most connections per run, 1..100000
	Conc     int // most connections in progress at once, 1..1024
	// RX is the daemon's --rx: "recvmmsg" (default: no added wait),
	// "ring" (a lone frame may wait up to 1 ms in the TPACKET_V3 ring,
	// which adds about 4 ms to every short connection here) or "auto".
	RX string

	Bin    string // the gdirector binary; "" = this executable
	Prefix string // lab namespace prefix; "" = "gdss<pid>"
}

const (
	// MaxLiveClients: the client addresses run from 198.51.100.10 up to
	// 198.51.100.249.
	MaxLiveClients = 240
	// maxLiveServers bounds the lab.
	maxLiveServers = 32
	// liveDuration and liveInact are the defaults of --duration and
	// --inact with --live: a run takes as long in real time as it
	// simulates, and the daemon keeps a closed TCP connection inactive
	// for TIME_WAIT (120 s), longer than any short run.
	liveDuration = 10.0
	liveInact    = 120.0
	// liveGrace is how long after the end of a run the connections
	// still in progress may take to finish (they count as open).
	liveGrace = 5 * time.Second
	// livePortBase: run i uses the service VIP:livePortBase+i, so that
	// every scheduler starts with fresh dests (no counters of the
	// previous run's connections, as in the simulation).
	livePortBase = 8001
)

// LiveDefaults returns the defaults of the live flags.
func LiveDefaults() LiveConfig {
	return LiveConfig{Clients: 64, MaxConns: 3000, Conc: 128, RX: "recvmmsg"}
}

func (l *LiveConfig) validate(c *Config) error {
	bad := func(flag string, v any, want string) error {
		return fmt.Errorf("bench sched: --%s %v: want %s", flag, v, want)
	}
	switch {
	case l.Clients < 1 || l.Clients > MaxLiveClients:
		return bad("clients", l.Clients, fmt.Sprintf("1 to %d client addresses", MaxLiveClients))
	case l.MaxConns < 1 || l.MaxConns > 100000:
		return bad("max-conns", l.MaxConns, "1 to 100000 connections per run")
	case l.Conc < 1 || l.Conc > 1024:
		return bad("conc", l.Conc, "1 to 1024 connections at once")
	case len(c.Speeds) > maxLiveServers:
		return bad("speeds", len(c.Speeds), fmt.Sprintf("at most %d servers with --live", maxLiveServers))
	case l.Prefix != "" && (!lab.ValidPrefix(l.Prefix) || len(l.Prefix) > 12):
		return bad("prefix", l.Prefix, "1 to 12 characters [A-Za-z0-9_.] starting with a letter")
	case l.RX != "recvmmsg" && l.RX != "ring" && l.RX != "auto":
		return bad("rx", l.RX, "recvmmsg, ring or auto")
	case c.Duration > 600:
		return bad("duration", c.Duration, "at most 600 s per run with --live")
	}
	return nil
}

// LiveClients returns the live mode's n client addresses: 198.51.100.10,
// .11, … (the lab's client is .2, the director .1).
func LiveClients(n int) []netip.Addr {
	out := make([]netip.Addr, n)
	for i := range out {
		out[i] = netip.AddrFrom4([4]byte{198, 51, 100, byte(10 + i)})
	}
	return out
}

// liveVIP is the lab's virtual address (lab.Build's VIP).
var liveVIP = netip.MustParseAddr("192.0.2.10")

// liveRIP is the address of the lab's real server i (0-based):
// 203.0.113.11, .12, …
func liveRIP(i int) netip.Addr { return netip.AddrFrom4([4]byte{203, 0, 113, byte(11 + i)}) }

// Client source ports: each client's connections take ports
// liveFirstPort, +1, … in turn over all the runs (wrapping after
// livePorts), never one the kernel picks at random. A random port may
// repeat one of the same client's connections a moment ago, which the
// real server still holds in TIME_WAIT (it closes first; every run's
// service maps to the same RIP:80, so the real server sees the same
// 4-tuple) and the director still tracks: the new SYN then meets the old
// connection and waits for a retransmission (1 s, 3 s), which showed as
// p99s of a second and as dial timeouts.
const (
	liveFirstPort = 10000
	livePorts     = 50000
)

// sourcePorts returns the source port of every arrival; next[k] counts
// client k's connections so far and is advanced.
func sourcePorts(arrivals []Arrival, next []int) []uint16 {
	out := make([]uint16, len(arrivals))
	for i, a := range arrivals {
		out[i] = uint16(liveFirstPort + next[a.K]%livePorts)
		next[a.K]++
	}
	return out
}

// PrepareLive turns cfg into the configuration both sides of a live
// comparison run: the population is the client namespace's addresses,
// every connection goes to the VIP, and the duration is cut so that a
// run's expected arrivals stay within 90% of --max-conns. It returns a
// note saying what was cut ("" if nothing).
func PrepareLive(cfg *Config) string {
	cfg.Clients = LiveClients(cfg.Live.Clients)
	cfg.Dst = liveVIP
	cfg.DestAddrs = make([]netip.Addr, len(cfg.Speeds))
	for i := range cfg.DestAddrs {
		cfg.DestAddrs[i] = liveRIP(i)
	}
	var capacity float64
	for _, s := range cfg.Speeds {
		capacity += s
	}
	rate := cfg.Load * capacity / cfg.Mean
	limit := 0.9 * float64(cfg.Live.MaxConns) / rate
	if cfg.Duration <= limit {
		return ""
	}
	was := cfg.Duration
	cfg.Duration = max(math.Floor(limit*10)/10, 0.1)
	return fmt.Sprintf("duration cut from %s s to %s s: %s connections/s would exceed --max-conns %d",
		fnum(was), fnum(cfg.Duration), strconv.FormatFloat(rate, 'f', 0, 64), cfg.Live.MaxConns)
}

// connRec is what one live connection measured.
type connRec struct {
	server int     // index of the real server that answered; -1 = none
	doneAt float64 // seconds after the start of the run when it completed
	lag    float64 // seconds from its arrival to its dial (client-side delay)
	err    error
}

// LiveResult is one run replayed live: the figures of Result (Util from
// the real servers' busy time), and what only a real run has.
type LiveResult struct {
	Result
	Errors uint64  // connections that failed (refused, reset, timed out, not 200)
	Capped uint64  // arrivals that waited for one of the --conc connection slots
	Agree  float64 // clients whose usual server is the simulation's (see agreement)
	Lag    float64 // mean seconds from an arrival to its dial (the client's own delay)
	Err    string  // first error, for the report
}

// agreement is the fraction of the clients seen in both a and b whose
// most frequent server (the lowest index on ties) is the same in both.
func agreement(a, b [][]uint64) float64 {
	var seen, same int
	for k := range min(len(a), len(b)) {
		ia, ib := argmax(a[k]), argmax(b[k])
		if ia < 0 || ib < 0 {
			continue
		}
		seen++
		if ia == ib {
			same++
		}
	}
	if seen == 0 {
		return 0
	}
	return float64(same) / float64(seen)
}

func argmax(xs []uint64) int {
	best := -1
	for i, x := range xs {
		if x > 0 && (best < 0 || x > xs[best]) {
			best = i
		}
	}
	return best
}

// aggregate computes a live run's figures from its arrivals and what each
// connection measured (recs[i] belongs to arrivals[i]), as Run computes
// the simulated ones: response times over the connections completed
// within cfg.Duration, shares over the connections a server answered,
// and in a failure run the remap over the clients last sent to a
// surviving server before cfg.FailAt and seen after it. busy[i] is the
// seconds server i was busy during the run (nil: no utilisation).
func aggregate(cfg *Config, name string, dist Dist, fail bool, nClients int, arrivals []Arrival, recs []connRec, busy []float64) *LiveResult {
	n := len(cfg.Speeds)
	res := &LiveResult{Result: Result{Sched: name, Dist: dist, Fail: fail, Count: make([]uint64, n),
		PerClient: make([][]uint64, nClients)}}
	for k := range res.PerClient {
		res.PerClient[k] = make([]uint64, n)
	}
	res.Offered = uint64(len(arrivals))
	failAt := cfg.FailAt * cfg.Duration
	failed := cfg.Fail - 1
	var before, after []int
	if fail {
		before = slices.Repeat([]int{-1}, nClients)
		after = slices.Repeat([]int{-1}, nClients)
	}
	var resp []float64
	var lag float64
	for i, a := range arrivals {
		r := recs[i]
		lag += r.lag
		if r.err != nil || r.server < 0 || r.server >= n {
			res.Errors++
			if res.Err == "" && r.err != nil {
				res.Err = r.err.Error()
			}
			continue
		}
		res.Count[r.server]++
		res.PerClient[a.K][r.server]++
		if r.doneAt <= cfg.Duration {
			resp = append(resp, r.doneAt-a.At)
		} else {
			res.Open++
		}
		if fail {
			if a.At < failAt {
				before[a.K] = r.server
			} else if after[a.K] < 0 {
				after[a.K] = r.server
			}
		}
	}
	if len(arrivals) > 0 {
		res.Lag = lag / float64(len(arrivals))
	}
	res.summarise(resp)
	if busy != nil {
		res.Util = make([]float64, n)
		for i, b := range busy {
			res.Util[i] = min(b/cfg.Duration, 1)
		}
		res.CVUtil = cv(res.Util)
	}
	if fail {
		res.remapped(before, after, failed)
	}
	return res
}

// LiveReport is a simulation and its live replay, run by run.
type LiveReport struct {
	Sim     *Report
	Steady  []*LiveResult // in the order of Sim.Steady
	Failure []*LiveResult // in the order of Sim.Failure
	Note    string        // what PrepareLive changed
}

// liveLab is the running lab of a live comparison.
type liveLab struct {
	t     *lab.Topology
	sock  string
	n     int
	log   io.Writer
	names map[string]int // "rs1" → 0
	next  []int          // connections of each client so far (sourcePorts)
}

// RunLive builds the lab, simulates cfg (after PrepareLive) and replays
// every run through the lab; it removes the lab (namespaces, processes)
// before returning, also on error or when ctx ends (Ctrl-C).
func RunLive(ctx context.Context, cfg Config, log io.Writer) (lr *LiveReport, err error) {
	if os.Geteuid() != 0 {
		return nil, errors.New("--live needs root (network namespaces)")
	}
	note := PrepareLive(&cfg)
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	sim, err := Simulate(cfg)
	if err != nil {
		return nil, err
	}
	bin := cfg.Live.Bin
	if bin == "" {
		if bin, err = os.Executable(); err != nil {
			return nil, err
		}
	}
	prefix := cfg.Live.Prefix
	if prefix == "" {
		prefix = fmt.Sprintf("gdss%d", os.Getpid())
	}
	dir, err := os.MkdirTemp("", "gdirector-bench-sched-")
	if err != nil {
		return nil, err
	}
	n := len(cfg.Speeds)
	fmt.Fprintf(log, "building lab %s: client, director (NAT), %d real servers\n", prefix, n)
	t, err := lab.Build(lab.Options{Prefix: prefix, Reals: n})
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	logFile := filepath.Join(dir, "director.log")
	defer func() {
		if cerr := t.Close(); cerr != nil {
			err = errors.Join(err, cerr)
		}
		if err != nil && !errors.Is(err, context.Canceled) {
			if l, rerr := os.ReadFile(logFile); rerr == nil && len(l) > 0 {
				err = fmt.Errorf("%w\ndirector log (tail):\n%s", err, tail(string(l), 2000))
			}
		}
		os.RemoveAll(dir)
		fmt.Fprintf(log, "removed lab %s\n", prefix)
	}()
	if t.VIP != liveVIP {
		return nil, fmt.Errorf("lab VIP %s, want %s", t.VIP, liveVIP)
	}
	for i, r := range t.Reals {
		if r.RIP != liveRIP(i) {
			return nil, fmt.Errorf("lab RIP %s, want %s", r.RIP, liveRIP(i))
		}
	}
	L := &liveLab{t: t, sock: filepath.Join(dir, "ctl.sock"), n: n, log: log, names: map[string]int{}}
	for _, a := range cfg.Clients {
		if err := t.AddAddr(t.ClientNS, t.ClientIf, netip.PrefixFrom(a, t.ClientNet.Bits())); err != nil {
			return nil, err
		}
	}
	for i := range t.Reals {
		r := &t.Reals[i]
		L.names[r.Name] = i
		listen := netip.AddrPortFrom(r.RIP, lab.HTTPPort).String()
		if r.HTTP, err = t.Start(r.NS, bin, "serve", "http", "--listen", listen, "--name", r.Name,
			"--speed", fnum(cfg.Speeds[i])); err != nil {
			return nil, err
		}
	}
	if err := L.waitServers(ctx); err != nil {
		return nil, err
	}
	if _, err := t.StartDirectorArgs(bin, L.sock, logFile, "--rx", cfg.Live.RX); err != nil {
		return nil, err
	}
	if err := L.warmUp(ctx, &cfg); err != nil {
		return nil, err
	}
	lr = &LiveReport{Sim: sim, Note: note}
	idx := 0
	for _, group := range [][]*Result{sim.Steady, sim.Failure} {
		for _, s := range group {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			fmt.Fprintf(log, "live run %s, %s work%s: %s s\n", s.Sched, s.Dist, map[bool]string{true: ", failure"}[s.Fail], fnum(cfg.Duration))
			r, err := L.run(ctx, &cfg, s, livePortBase+idx)
			if err != nil {
				return nil, fmt.Errorf("live run %s (%s): %w", s.Sched, s.Dist, err)
			}
			idx++
			if s.Fail {
				lr.Failure = append(lr.Failure, r)
			} else {
				lr.Steady = append(lr.Steady, r)
			}
		}
	}
	return lr, nil
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "…" + s[len(s)-n:]
}

// waitServers waits until every real server accepts a connection.
func (L *liveLab) waitServers(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	for _, r := range L.t.Reals {
		addr := netip.AddrPortFrom(r.RIP, lab.HTTPPort).String()
		for {
			c, err := nsutil.DialContext(ctx, r.NS, "tcp", addr)
			if err == nil {
				c.Close()
				break
			}
			if r.HTTP.Exited() {
				return fmt.Errorf("server %s exited: %s", r.Name, strings.TrimSpace(r.HTTP.Output()))
			}
			select {
			case <-ctx.Done():
				return fmt.Errorf("server %s not ready: %w", r.Name, err)
			case <-time.After(20 * time.Millisecond):
			}
		}
	}
	return nil
}

// warmUp makes one connection from every client address through a
// throwaway service VIP:livePortBase-1, so that the neighbour entries of
// the client addresses, the director and the real servers are in place
// before the first measured run.
func (L *liveLab) warmUp(ctx context.Context, cfg *Config) error {
	t := L.t
	svc := netip.AddrPortFrom(t.VIP, livePortBase-1).String()
	if err := L.ipvsadm("-A", "-t", svc, "-s", "rr"); err != nil {
		return err
	}
	defer func() { _ = L.ipvsadm("-D", "-t", svc) }()
	for _, r := range t.Reals {
		if err := L.ipvsadm("-a", "-t", svc, "-r", netip.AddrPortFrom(r.RIP, lab.HTTPPort).String(), "-m"); err != nil {
			return err
		}
	}
	arr := make([]Arrival, len(cfg.Clients))
	for k := range arr {
		arr[k].K = k
	}
	L.next = make([]int, len(cfg.Clients))
	ports := sourcePorts(arr, L.next)
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	errs := make([]error, len(arr))
	var wg sync.WaitGroup
	for k := range arr {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[k] = nsutil.Do(t.ClientNS, func() error {
				_, err := L.conn(ctx, netip.AddrPortFrom(cfg.Clients[k], ports[k]), svc, 0)
				return err
			})
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("warming up: %w", err)
	}
	return nil
}

// busy returns each real server's busy seconds (GET /busy from inside its
// namespace).
func (L *liveLab) busy(ctx context.Context) ([]float64, error) {
	out := make([]float64, L.n)
	for i, r := range L.t.Reals {
		c := nsutil.HTTPClient(r.NS)
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+netip.AddrPortFrom(r.RIP, lab.HTTPPort).String()+"/busy", nil)
		if err != nil {
			return nil, err
		}
		resp, err := c.Do(req)
		if err != nil {
			return nil, fmt.Errorf("busy time of %s: %w", r.Name, err)
		}
		body, err := io.ReadAll(io.LimitReader(resp.Body, 256))
		resp.Body.Close()
		if err != nil {
			return nil, err
		}
		if _, err := fmt.Sscanf(string(body), "busy %g", &out[i]); err != nil {
			return nil, fmt.Errorf("busy time of %s: %q: %w", r.Name, body, err)
		}
	}
	return out, nil
}

// ipvsadm runs one ipvsadm command against the daemon.
func (L *liveLab) ipvsadm(args ...string) error {
	_, err := lab.Ipvsadm(L.sock, args...)
	return err
}

// run replays the workload of the simulated run s through a fresh service
// VIP:port with s's scheduler and returns the live figures.
func (L *liveLab) run(ctx context.Context, cfg *Config, s *Result, port int) (*LiveResult, error) {
	t := L.t
	svc := netip.AddrPortFrom(t.VIP, uint16(port)).String()
	// The simulator's service: its scheduler, the sh-fallback/mh-fallback
	// flag, the dests with their weights. The daemon walks its dests
	// newest first, so they are added last to first to be walked s1, s2,
	// … as the simulator's list is: the hashing schedulers then build the
	// same tables on both sides.
	if err := L.ipvsadm("-A", "-t", svc, "-s", s.Sched, "-b", "flag-1"); err != nil {
		return nil, err
	}
	defer func() { _ = L.ipvsadm("-D", "-t", svc) }()
	rip := func(i int) string { return netip.AddrPortFrom(t.Reals[i].RIP, lab.HTTPPort).String() }
	for i := L.n - 1; i >= 0; i-- {
		if err := L.ipvsadm("-a", "-t", svc, "-r", rip(i), "-m", "-w", strconv.Itoa(int(cfg.Weights[i]))); err != nil {
			return nil, err
		}
	}
	wl := NewWorkload(cfg, s.Dist)
	var arrivals []Arrival
	for len(arrivals) < cfg.Live.MaxConns && wl.Peek() <= cfg.Duration {
		arrivals = append(arrivals, wl.Next())
	}
	if L.next == nil {
		L.next = make([]int, len(wl.Clients))
	}
	ports := sourcePorts(arrivals, L.next)
	busy0, err := L.busy(ctx)
	if err != nil {
		return nil, err
	}

	recs := make([]connRec, len(arrivals))
	start := time.Now()
	end := start.Add(time.Duration(cfg.Duration*float64(time.Second)) + liveGrace)
	rctx, cancel := context.WithDeadline(ctx, end)
	defer cancel()

	jobs := make(chan int)
	var wg sync.WaitGroup
	var dialErr error
	var dialOnce sync.Once
	for range min(cfg.Live.Conc, len(arrivals)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Every socket the worker opens is created on its thread,
			// switched into the client namespace.
			err := nsutil.Do(t.ClientNS, func() error {
				for i := range jobs {
					a := arrivals[i]
					lag := time.Since(start).Seconds() - a.At
					srv, err := L.conn(rctx, netip.AddrPortFrom(wl.Clients[a.K], ports[i]), svc, a.Work)
					recs[i] = connRec{server: srv, doneAt: time.Since(start).Seconds(), lag: lag, err: err}
				}
				return nil
			})
			if err != nil {
				dialOnce.Do(func() { dialErr = err })
				for i := range jobs { // keep draining: the run goes on
					recs[i] = connRec{server: -1, err: err}
				}
			}
		}()
	}

	failErr := make(chan error, 1)
	if s.Fail {
		at := time.Duration(cfg.FailAt * cfg.Duration * float64(time.Second))
		timer := time.AfterFunc(at, func() {
			i := cfg.Fail - 1
			if cfg.FailMode == Remove {
				failErr <- L.ipvsadm("-d", "-t", svc, "-r", rip(i))
			} else {
				failErr <- L.ipvsadm("-e", "-t", svc, "-r", rip(i), "-m", "-w", "0")
			}
		})
		defer timer.Stop()
	}

	var capped uint64
	sent := 0
dispatch:
	for i, a := range arrivals {
		if d := time.Until(start.Add(time.Duration(a.At * float64(time.Second)))); d > 0 {
			select {
			case <-rctx.Done():
				break dispatch
			case <-time.After(d):
			}
		}
		select {
		case jobs <- i:
		default:
			capped++
			select {
			case jobs <- i:
			case <-rctx.Done():
				break dispatch
			}
		}
		sent = i + 1
	}
	close(jobs)
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	for i := sent; i < len(arrivals); i++ {
		recs[i] = connRec{server: -1, err: errors.New("not sent before the end of the run")}
	}
	if dialErr != nil {
		return nil, dialErr
	}
	if s.Fail {
		select {
		case err := <-failErr:
			if err != nil {
				return nil, fmt.Errorf("taking s%d out: %w", cfg.Fail, err)
			}
		default:
			return nil, fmt.Errorf("s%d was not taken out", cfg.Fail)
		}
	}
	busy1, err := L.busy(ctx)
	if err != nil {
		return nil, err
	}
	busy := make([]float64, L.n)
	for i := range busy {
		busy[i] = busy1[i] - busy0[i]
	}
	res := aggregate(cfg, s.Sched, s.Dist, s.Fail, len(wl.Clients), arrivals, recs, busy)
	res.Capped = capped
	res.Agree = agreement(s.PerClient, res.PerClient)
	return res, nil
}

func reuseAddr(_, _ string, rc syscall.RawConn) error {
	var serr error
	err := rc.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEADDR, 1)
	})
	return errors.Join(err, serr)
}

// conn makes one connection from the client address and port src to svc, asks
// for work seconds of service and returns the index of the real server
// that answered. It runs on a thread in the client namespace.
func (L *liveLab) conn(ctx context.Context, src netip.AddrPort, svc string, work float64) (int, error) {
	// SO_REUSEADDR: the port may still be held by this client's
	// connection to another run's service (a different 4-tuple).
	d := net.Dialer{LocalAddr: net.TCPAddrFromAddrPort(src), Control: reuseAddr}
	c, err := d.DialContext(ctx, "tcp", svc)
	if err != nil {
		return -1, err
	}
	defer c.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = c.SetDeadline(dl)
	}
	if _, err := fmt.Fprintf(c, "GET /work?s=%.9f HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n", work, svc); err != nil {
		return -1, err
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return -1, err
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if err != nil {
		return -1, err
	}
	if resp.StatusCode != http.StatusOK {
		return -1, fmt.Errorf("status %s", resp.Status)
	}
	name := resp.Header.Get("X-Real-Server")
	i, ok := L.names[name]
	if !ok {
		return -1, fmt.Errorf("answered by unknown real server %q", name)
	}
	return i, nil
}
