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
		d := vs.NewDest(a, 80, vs.Masq, cfg.Weights[i])
		srv[i] = &server{d: d, speed: cfg.Speeds[i], jobs: minHeap[job]{less: jobLess}}
		svc.Dests = append(svc.Dests, d)
		index[d] = i
	}
	sch.Update(svc)

	wl := rand.New(rand.NewPCG(cfg.Seed, streamWorkload^distSalt(dist)))
	pop := Population()
	rank := rand.New(rand.NewPCG(cfg.Seed, streamRanking))
	rank.Shuffle(len(pop), func(i, j int) { pop[i], pop[j] = pop[j], pop[i] })
	keys := make([][16]byte, len(pop))
	for i, a := range pop {
		keys[i] = a.As16()
	}
	var zipf *rand.Zipf
	if cfg.Zipf != 0 {
		zipf = rand.NewZipf(wl, cfg.Zipf, 1, uint64(len(pop)-1))
	}
	client := func() int {
		if zipf != nil {
			return int(zipf.Uint64())
		}
		return wl.IntN(len(pop))
	}
	var capacity float64
	for _, s := range cfg.Speeds {
		capacity += s
	}
	rate := cfg.Load * capacity / cfg.Mean
	xm := cfg.Mean * (cfg.Alpha - 1) / cfg.Alpha
	work := func() float64 {
		if dist == Pareto {
			return xm / math.Pow(1-wl.Float64(), 1/cfg.Alpha)
		}
		return wl.ExpFloat64() * cfg.Mean
	}

	res := &Result{Sched: name, Dist: dist, Fail: fail, Count: make([]uint64, n)}
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

	push(event{at: wl.ExpFloat64() / rate, kind: evArrival})
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
			push(event{at: now + wl.ExpFloat64()/rate, kind: evArrival})
			k := client()
			w := work()
			sport := uint16(32768 + wl.IntN(28232))
			res.Offered++
			flow.Src, flow.Dst, flow.SPort = keys[k], keys[k], sport
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
	res.Share = make([]float64, n)
	res.Util = make([]float64, n)
	for i, s := range srv {
		if scheduled > 0 {
			res.Share[i] = float64(res.Count[i]) / float64(scheduled)
		}
		res.Util[i] = s.busy / cfg.Duration
	}
	res.CVShare = cv(res.Share)
	res.CVUtil = cv(res.Util)
	if fail {
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
	return res, nil
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
