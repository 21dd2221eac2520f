package schedsim

import (
	"fmt"
	"math"
	"math/rand/v2"
	"net/netip"
	"slices"

	"github.com/gdirector/gdirector/sched"
	"github.com/gdirector/gdirector/vs"
)

// Result is what one run of one scheduler measured.
type Result struct {
	Sched string
	Dist  Dist
	Fail  bool // a failure run

	Offered uint64   // connections that arrived
	Dropped uint64   // Schedule returned nil
	Count   []uint64 // connections scheduled to each server
	Done    uint64   // connections completed within the run
	Open    uint64   // connections still in progress at the end
	Lost    uint64   // connections in progress on the failed server

	MeanResp float64 // seconds, over the completed connections
	P99Resp  float64 // seconds (nearest rank)

	Share   []float64 // fraction of the scheduled connections per server
	Util    []float64 // fraction of the run each server was busy
	CVShare float64   // coefficient of variation of Share
	CVUtil  float64   // coefficient of variation of Util

	// Failure runs: client addresses last sent to a surviving server
	// before the failure and seen after it (Seen), and how many of them
	// went elsewhere the first time after it (Moved).
	Seen, Moved int

	// PerClient[k][i] counts the connections of client k (an index into
	// the run's population, see Workload.Clients) scheduled to server i.
	PerClient [][]uint64
}

// Sticky is the fraction of the clients with at least two connections
// whose connections all went to one server (0 when there are none).
func (r *Result) Sticky() float64 {
	var multi, one int
	for _, row := range r.PerClient {
		var total uint64
		servers := 0
		for _, c := range row {
			total += c
			if c > 0 {
				servers++
			}
		}
		if total >= 2 {
			multi++
			if servers == 1 {
				one++
			}
		}
	}
	if multi == 0 {
		return 0
	}
	return float64(one) / float64(multi)
}

// Remap is Moved/Seen (0 when nothing was seen).
func (r *Result) Remap() float64 {
	if r.Seen == 0 {
		return 0
	}
	return float64(r.Moved) / float64(r.Seen)
}

// server is one real server: a processor-sharing queue.
type server struct {
	d     *vs.Dest
	speed float64
	v     float64 // attained service of each connection in progress
	last  float64 // time v and busy were brought up to
	busy  float64
	jobs  minHeap[job]
	gen   uint64 // bumped whenever the next completion time changes
}

// advance brings the server's clocks up to now.
func (s *server) advance(now float64) {
	if n := s.jobs.Len(); n > 0 {
		dt := now - s.last
		s.v += dt * s.speed / float64(n)
		s.busy += dt
	}
	s.last = now
}

// Population is the client address population: 198.51.100.0/24 then
// 203.0.113.0/24.
func Population() []netip.Addr {
	out := make([]netip.Addr, 0, 512)
	for _, p := range [][3]byte{{198, 51, 100}, {203, 0, 113}} {
		for i := range 256 {
			out = append(out, netip.AddrFrom4([4]byte{p[0], p[1], p[2], byte(i)}))
		}
	}
	return out
}

// PCG stream numbers of the random sources of a run.
const (
	streamWorkload = 1 // arrivals, work, clients
	streamRanking  = 2 // shuffles the population into Zipf ranks
	streamTwos     = 3 // twos's seed
)

// distSalt keeps the workloads of the distributions apart.
func distSalt(d Dist) uint64 {
	if d == Pareto {
		return 0x9e3779b97f4a7c15
	}
	return 0
}

// Arrival is one connection of a workload.
type Arrival struct {
	At    float64 // seconds from the start of the run
	Seq   uint64  // 1, 2, … in order of arrival
	K     int     // client: index into Workload.Clients
	Work  float64 // seconds of work at speed 1
	SPort uint16  // source port
}

// Workload is the arrival process of one run: the same for every
// scheduler of a distribution, and what the live mode replays.
type Workload struct {
	Clients []netip.Addr // the population after the Zipf ranking shuffle
	wl      *rand.Rand
	zipf    *rand.Zipf
	rate    float64
	xm      float64
	dist    Dist
	cfg     *Config
	nextAt  float64
	seq     uint64
}

// NewWorkload returns the arrival process of cfg with work distribution
// dist: the population (cfg.Clients, else Population()) shuffled into
// Zipf ranks, then Poisson arrivals.
func NewWorkload(cfg *Config, dist Dist) *Workload {
	w := &Workload{cfg: cfg, dist: dist}
	w.wl = rand.New(rand.NewPCG(cfg.Seed, streamWorkload^distSalt(dist)))
	if cfg.Clients != nil {
		w.Clients = slices.Clone(cfg.Clients)
	} else {
		w.Clients = Population()
	}
	pop := w.Clients
	rank := rand.New(rand.NewPCG(cfg.Seed, streamRanking))
	rank.Shuffle(len(pop), func(i, j int) { pop[i], pop[j] = pop[j], pop[i] })
	if cfg.Zipf != 0 && len(pop) > 1 {
		w.zipf = rand.NewZipf(w.wl, cfg.Zipf, 1, uint64(len(pop)-1))
	}
	var capacity float64
	for _, s := range cfg.Speeds {
		capacity += s
	}
	w.rate = cfg.Load * capacity / cfg.Mean
	w.xm = cfg.Mean * (cfg.Alpha - 1) / cfg.Alpha
	w.nextAt = w.wl.ExpFloat64() / w.rate
	return w
}

// Peek returns when the next connection arrives.
func (w *Workload) Peek() float64 { return w.nextAt }

// Next draws the next connection.
func (w *Workload) Next() Arrival {
	a := Arrival{At: w.nextAt}
	w.seq++
	a.Seq = w.seq
	w.nextAt += w.wl.ExpFloat64() / w.rate
	switch {
	case w.zipf != nil:
		a.K = int(w.zipf.Uint64())
	default:
		a.K = w.wl.IntN(len(w.Clients))
	}
	if w.dist == Pareto {
		a.Work = w.xm / math.Pow(1-w.wl.Float64(), 1/w.cfg.Alpha)
	} else {
		a.Work = w.wl.ExpFloat64() * w.cfg.Mean
	}
	a.SPort = uint16(32768 + w.wl.IntN(28232))
	return a
}

// Run simulates one scheduler for cfg.Duration with work distribution
// dist; fail adds the failure of server cfg.Fail (which must be set).
func Run(cfg *Config, name string, dist Dist, fail bool) (*Result, error) {
	sch, err := sched.New(name)
	if err != nil {
		return nil, err
	}
	if sd, ok := sch.(interface{ Seed(uint64) }); ok {
		sd.Seed(rand.New(rand.NewPCG(cfg.Seed, streamTwos)).Uint64())
	}
	n := len(cfg.Speeds)
	svc := &vs.Service{
		Addr:      netip.MustParseAddr("192.0.2.1"),
		Port:      80,
		Proto:     vs.TCP,
		SchedName: name,
		Sched:     sch,
		Flags:     vs.SvcSchedFlag1, // sh-fallback, mh-fallback
		Stats:     new(vs.Stats),
	}
	svc.Key = vs.ServiceKey{Proto: vs.TCP, Port: 80, Addr: svc.Addr.As16()}
	srv := make([]*server, n)
	index := make(map[*vs.Dest]int, n)
	for i := range n {
		a := netip.AddrFrom4([4]byte{203, 0, 113, byte(10 + i)})
		if cfg.DestAddrs != nil {
			a = cfg.DestAddrs[i]
		}
		d := vs.NewDest(a, 80, vs.Masq, cfg.Weights[i])
		srv[i] = &server{d: d, speed: cfg.Speeds[i], jobs: minHeap[job]{less: jobLess}}
		svc.Dests = append(svc.Dests, d)
		index[d] = i
	}
	sch.Update(svc)

	wl := NewWorkload(cfg, dist)
	pop := wl.Clients
	keys := make([][16]byte, len(pop))
	for i, a := range pop {
		keys[i] = a.As16()
	}
	var dst [16]byte
	if cfg.Dst.IsValid() {
		dst = cfg.Dst.As16()
	}

	res := &Result{Sched: name, Dist: dist, Fail: fail, Count: make([]uint64, n), PerClient: make([][]uint64, len(pop))}
	for k := range res.PerClient {
		res.PerClient[k] = make([]uint64, n)
	}
	var resp []float64
	failAt := cfg.FailAt * cfg.Duration
	failed := -1
	var before, after []int
	if fail {
		before = slices.Repeat([]int{-1}, len(pop))
		after = slices.Repeat([]int{-1}, len(pop))
	}

	events := minHeap[event]{less: eventLess}
	var seq uint64
	push := func(e event) {
		seq++
		e.seq = seq
		events.Push(e)
	}
	// reschedule computes when s finishes its next connection.
	reschedule := func(i int) {
		s := srv[i]
		s.gen++
		if k := s.jobs.Len(); k > 0 {
			dt := (s.jobs.Peek().tag - s.v) * float64(k) / s.speed
			push(event{at: s.last + max(dt, 0), kind: evDepart, srv: i, gen: s.gen})
		}
	}

	push(event{at: wl.Peek(), kind: evArrival})
	if fail {
		push(event{at: failAt, kind: evFail})
	}
	flow := vs.Flow{Proto: vs.TCP, DPort: 80}
	for events.Len() > 0 {
		e := events.Pop()
		if e.at > cfg.Duration {
			break
		}
		now := e.at
		switch e.kind {
		case evArrival:
			a := wl.Next()
			push(event{at: wl.Peek(), kind: evArrival})
			k, w := a.K, a.Work
			res.Offered++
			flow.Src, flow.Dst, flow.SPort = keys[k], keys[k], a.SPort
			if cfg.Dst.IsValid() {
				flow.Dst = dst
			}
			d := sch.Schedule(svc, &flow)
			if d == nil {
				res.Dropped++
				continue
			}
			i, ok := index[d]
			if !ok {
				return nil, fmt.Errorf("schedsim: %s picked a dest that is not in the service", name)
			}
			d.ActiveConns.Add(1)
			d.Stats.Conns.Add(1)
			res.Count[i]++
			res.PerClient[k][i]++
			if fail {
				if now < failAt {
					before[k] = i
				} else if after[k] < 0 {
					after[k] = i
				}
			}
			s := srv[i]
			s.advance(now)
			s.jobs.Push(job{tag: s.v + w, seq: seq, arrival: now})
			reschedule(i)
		case evDepart:
			s := srv[e.srv]
			if e.gen != s.gen {
				continue // superseded
			}
			s.advance(now)
			j := s.jobs.Pop()
			s.v = max(s.v, j.tag)
			resp = append(resp, now-j.arrival)
			s.d.ActiveConns.Add(-1)
			s.d.InactConns.Add(1)
			push(event{at: now + cfg.Inact, kind: evInactEnd, srv: e.srv})
			reschedule(e.srv)
		case evInactEnd:
			srv[e.srv].d.InactConns.Add(-1)
		case evFail:
			failed = cfg.Fail - 1
			s := srv[failed]
			s.advance(now)
			k := s.jobs.Len()
			res.Lost += uint64(k)
			s.d.ActiveConns.Add(int32(-k))
			s.jobs.Clear()
			reschedule(failed)
			switch cfg.FailMode {
			case Quiesce:
				s.d.Weight.Store(0)
				sch.Update(svc)
			case Remove:
				s.d.Flags.And(^vs.DestAvailable)
				next := *svc
				next.Dests = slices.DeleteFunc(slices.Clone(svc.Dests), func(d *vs.Dest) bool { return d == s.d })
				svc = &next
				sch.Update(svc)
			}
		}
	}
	for _, s := range srv {
		s.advance(cfg.Duration)
		res.Open += uint64(s.jobs.Len())
	}

	res.summarise(resp)
	res.Util = make([]float64, n)
	for i, s := range srv {
		res.Util[i] = s.busy / cfg.Duration
	}
	res.CVUtil = cv(res.Util)
	if fail {
		res.remapped(before, after, failed)
	}
	return res, nil
}

// summarise fills in res's response-time figures from resp (the response
// times of the connections done; sorted on return) and each server's
// share of the connections scheduled (res.Count).
func (res *Result) summarise(resp []float64) {
	res.Done = uint64(len(resp))
	if len(resp) > 0 {
		var sum float64
		for _, r := range resp {
			sum += r
		}
		res.MeanResp = sum / float64(len(resp))
		slices.Sort(resp)
		res.P99Resp = resp[int(math.Ceil(0.99*float64(len(resp))))-1]
	}
	var scheduled uint64
	for _, c := range res.Count {
		scheduled += c
	}
	res.Share = make([]float64, len(res.Count))
	for i, c := range res.Count {
		if scheduled > 0 {
			res.Share[i] = float64(c) / float64(scheduled)
		}
	}
	res.CVShare = cv(res.Share)
}

// remapped counts, over the clients of the servers that did not fail
// (before[k]: client k's server before the failure, after[k] after it; -1
// unknown), those seen on both sides and those that moved.
func (res *Result) remapped(before, after []int, failed int) {
	for k := range before {
		if before[k] < 0 || before[k] == failed || after[k] < 0 {
			continue
		}
		res.Seen++
		if after[k] != before[k] {
			res.Moved++
		}
	}
}

// cv is the coefficient of variation (population standard deviation over
// mean) of xs, 0 for a zero mean.
func cv(xs []float64) float64 {
	var sum float64
	for _, x := range xs {
		sum += x
	}
	mean := sum / float64(len(xs))
	if mean == 0 {
		return 0
	}
	var ss float64
	for _, x := range xs {
		ss += (x - mean) * (x - mean)
	}
	return math.Sqrt(ss/float64(len(xs))) / mean
}

// Report is every run of a simulation.
type Report struct {
	Config  Config
	Steady  []*Result // per distribution, per scheduler
	Failure []*Result // per scheduler (exponential work); nil without a failure run
}

// Simulate runs every configured scheduler over each distribution, and
// the failure run when cfg.Fail is set.
func Simulate(cfg Config) (*Report, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	rep := &Report{Config: cfg}
	for _, d := range cfg.Dists {
		for _, name := range cfg.Scheds {
			r, err := Run(&cfg, name, d, false)
			if err != nil {
				return nil, err
			}
			rep.Steady = append(rep.Steady, r)
		}
	}
	if cfg.Fail > 0 {
		for _, name := range cfg.Scheds {
			r, err := Run(&cfg, name, Exp, true)
			if err != nil {
				return nil, err
			}
			rep.Failure = append(rep.Failure, r)
		}
	}
	return rep, nil
}
