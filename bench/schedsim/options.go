package schedsim

import (
	"flag"
	"fmt"
	"io"
	"math"
	"net/netip"
	"strconv"
	"strings"

	"github.com/gdirector/gdirector/sched"
)

// Dist is a distribution of the work a connection brings.
type Dist string

// The service-time distributions.
const (
	Exp    Dist = "exp"    // exponential
	Pareto Dist = "pareto" // Pareto with shape Config.Alpha (heavy-tailed)
)

// FailMode is how a failure run takes its server out.
type FailMode string

// The failure modes.
const (
	Quiesce FailMode = "quiesce" // weight 0, the dest stays in the service
	Remove  FailMode = "remove"  // the dest is deleted from the service
)

// Config is a simulation: the servers, the workload and what to report.
type Config struct {
	Seed     uint64
	Duration float64   // virtual seconds per run, (0, 3600]
	Load     float64   // offered load as a fraction of total capacity, (0, 2]
	Mean     float64   // mean work of a connection, seconds on a speed-1 server
	Speeds   []float64 // server capacities, 1..64 servers, each (0, 1000]
	Weights  []int32   // scheduler weights, one per server, 0..65535
	Dists    []Dist    // steady runs, one per distribution
	Alpha    float64   // Pareto shape, (1, 10]
	Zipf     float64   // Zipf exponent of the client population; 0 = uniform, else (1, 10]
	Inact    float64   // seconds a finished connection stays inactive, [0, 3600]
	Scheds   []string  // schedulers, in sched.Names order
	Fail     int       // server (1-based) taken out in the failure run; 0 = no failure run
	FailMode FailMode
	FailAt   float64 // fraction of Duration at which it fails, (0, 1)
	Out      string  // directory for results.csv and the plots; "" = none

	// Clients replaces the population of 512 client addresses (nil:
	// Population()); the live mode sets it to the client namespace's
	// addresses so that both sides hash the same keys.
	Clients []netip.Addr
	// Dst, when valid, is every connection's destination address (the
	// live mode's VIP) instead of the client's own address.
	Dst netip.Addr
	// DestAddrs, when set, are the servers' addresses (one per server)
	// instead of 203.0.113.10, .11, …: the live mode sets the lab's RIPs,
	// which mh and the bucket tables hash.
	DestAddrs []netip.Addr

	Live LiveConfig // --live: replay through a netns lab (see live.go)
}

// Defaults returns the configuration of `gdirector bench sched` without
// arguments: four servers of speeds 1, 1, 2, 4 with matching weights, 80%
// load, 10 ms mean work, exponential and Pareto(1.5) work, Zipf(1.1)
// clients, 10 s inactive tail, 60 s per run, and s1 quiesced half-way in
// the failure run.
func Defaults() Config {
	return Config{
		Seed:     1,
		Duration: 60,
		Load:     0.8,
		Mean:     0.010,
		Speeds:   []float64{1, 1, 2, 4},
		Weights:  []int32{1, 1, 2, 4},
		Dists:    []Dist{Exp, Pareto},
		Alpha:    1.5,
		Zipf:     1.1,
		Inact:    10,
		Scheds:   sched.Names(),
		Fail:     1,
		FailMode: Quiesce,
		FailAt:   0.5,
	}
}

// Usage is the synopsis printed on a usage error.
const Usage = `usage: gdirector bench sched [--seed N] [--out DIR] [--duration SECONDS]
        [--load FRACTION] [--mean SECONDS] [--speeds S1,S2,...] [--weights W1,W2,...]
        [--dist exp,pareto] [--alpha A] [--zipf S] [--inact SECONDS]
        [--sched rr,wrr,...|all] [--fail N] [--fail-mode quiesce|remove] [--fail-at FRACTION]
        [--live [--clients N] [--max-conns N] [--conc N] [--rx recvmmsg|ring|auto] [--prefix P]]   (--live: root)`

// ParseArgs parses the arguments of `gdirector bench sched` (after
// "sched"). Errors name the flag; flag.ErrHelp is returned for -h.
func ParseArgs(args []string, stderr io.Writer) (Config, error) {
	c := Defaults()
	fs := flag.NewFlagSet("bench sched", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprintln(stderr, Usage) }
	var speeds, weights, dists, scheds, mode string
	fs.Uint64Var(&c.Seed, "seed", c.Seed, "random seed")
	fs.StringVar(&c.Out, "out", "", "directory for results.csv and the plots")
	fs.Float64Var(&c.Duration, "duration", c.Duration, "virtual seconds per run")
	fs.Float64Var(&c.Load, "load", c.Load, "offered load, fraction of total capacity")
	fs.Float64Var(&c.Mean, "mean", c.Mean, "mean work per connection, seconds at speed 1")
	fs.StringVar(&speeds, "speeds", "1,1,2,4", "server speeds")
	fs.StringVar(&weights, "weights", "", "server weights (default: the speeds)")
	fs.StringVar(&dists, "dist", "exp,pareto", "work distributions")
	fs.Float64Var(&c.Alpha, "alpha", c.Alpha, "Pareto shape")
	fs.Float64Var(&c.Zipf, "zipf", c.Zipf, "Zipf exponent of the clients, 0 = uniform")
	fs.Float64Var(&c.Inact, "inact", c.Inact, "seconds a finished connection stays inactive")
	fs.StringVar(&scheds, "sched", "all", "schedulers")
	fs.IntVar(&c.Fail, "fail", c.Fail, "server taken out in the failure run, 0 = none")
	fs.StringVar(&mode, "fail-mode", string(c.FailMode), "quiesce or remove")
	fs.Float64Var(&c.FailAt, "fail-at", c.FailAt, "fraction of the run at which it fails")
	fs.BoolVar(&c.Live.On, "live", false, "also replay every run through a netns lab with real connections (root)")
	fs.IntVar(&c.Live.Clients, "clients", LiveDefaults().Clients, "live: client addresses in the client namespace (the population of both sides)")
	fs.IntVar(&c.Live.MaxConns, "max-conns", LiveDefaults().MaxConns, "live: most connections per run")
	fs.IntVar(&c.Live.Conc, "conc", LiveDefaults().Conc, "live: most connections in progress at once")
	fs.StringVar(&c.Live.RX, "rx", LiveDefaults().RX, "live: the director's --rx (recvmmsg, ring or auto)")
	fs.StringVar(&c.Live.Prefix, "prefix", "", "live: lab namespace prefix (default gdss<pid>)")
	if err := fs.Parse(args); err != nil {
		return Config{}, err
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if !c.Live.On {
		for _, f := range []string{"clients", "max-conns", "conc", "rx", "prefix"} {
			if set[f] {
				return Config{}, fmt.Errorf("bench sched: --%s needs --live", f)
			}
		}
	} else {
		// A live run lasts as long as it simulates; the daemon keeps a
		// closed connection inactive for TIME_WAIT, 120 s.
		if !set["duration"] {
			c.Duration = liveDuration
		}
		if !set["inact"] {
			c.Inact = liveInact
		}
	}
	if fs.NArg() > 0 {
		return Config{}, fmt.Errorf("bench sched: unexpected argument %q", fs.Arg(0))
	}
	var err error
	if c.Speeds, err = parseSpeeds(speeds); err != nil {
		return Config{}, err
	}
	if weights == "" {
		c.Weights = make([]int32, len(c.Speeds))
		for i, s := range c.Speeds {
			if s != math.Trunc(s) || s < 1 || s > 65535 {
				return Config{}, fmt.Errorf("bench sched: --speeds %v are not whole numbers 1..65535; give --weights", speeds)
			}
			c.Weights[i] = int32(s)
		}
	} else if c.Weights, err = parseWeights(weights); err != nil {
		return Config{}, err
	}
	if c.Dists, err = parseDists(dists); err != nil {
		return Config{}, err
	}
	if c.Scheds, err = parseScheds(scheds); err != nil {
		return Config{}, err
	}
	c.FailMode = FailMode(mode)
	if err := c.Validate(); err != nil {
		return Config{}, err
	}
	return c, nil
}

// Validate checks the ranges documented at Config.
func (c *Config) Validate() error {
	bad := func(flag string, v any, want string) error {
		return fmt.Errorf("bench sched: --%s %v: want %s", flag, v, want)
	}
	in := func(x, lo, hi float64) bool { return x > lo && x <= hi } // NaN fails
	switch {
	case !in(c.Duration, 0, 3600):
		return bad("duration", c.Duration, "seconds in (0, 3600]")
	case !in(c.Load, 0, 2):
		return bad("load", c.Load, "a fraction in (0, 2]")
	case !in(c.Mean, 0, 60):
		return bad("mean", c.Mean, "seconds in (0, 60]")
	case len(c.Speeds) < 1 || len(c.Speeds) > 64:
		return bad("speeds", len(c.Speeds), "1 to 64 servers")
	case len(c.Weights) != len(c.Speeds):
		return bad("weights", len(c.Weights), fmt.Sprintf("one weight per server (%d)", len(c.Speeds)))
	case len(c.Dists) == 0:
		return bad("dist", "", "exp, pareto or both")
	case !in(c.Alpha, 1, 10):
		return bad("alpha", c.Alpha, "a shape in (1, 10]")
	case c.Zipf != 0 && !in(c.Zipf, 1, 10):
		return bad("zipf", c.Zipf, "0 (uniform) or an exponent in (1, 10]")
	case !(c.Inact >= 0 && c.Inact <= 3600):
		return bad("inact", c.Inact, "seconds in [0, 3600]")
	case len(c.Scheds) == 0:
		return bad("sched", "", "at least one scheduler")
	case c.Fail < 0 || c.Fail > len(c.Speeds):
		return bad("fail", c.Fail, fmt.Sprintf("a server 1..%d or 0", len(c.Speeds)))
	case c.FailMode != Quiesce && c.FailMode != Remove:
		return bad("fail-mode", c.FailMode, "quiesce or remove")
	case !(c.FailAt > 0 && c.FailAt < 1):
		return bad("fail-at", c.FailAt, "a fraction in (0, 1)")
	case c.DestAddrs != nil && len(c.DestAddrs) != len(c.Speeds):
		return bad("speeds", len(c.Speeds), fmt.Sprintf("one server per address (%d)", len(c.DestAddrs)))
	case c.Clients != nil && (len(c.Clients) < 1 || len(c.Clients) > 65536):
		return bad("clients", len(c.Clients), "1 to 65536 client addresses")
	}
	if c.Live.On {
		if err := c.Live.validate(c); err != nil {
			return err
		}
	}
	for i, s := range c.Speeds {
		if !in(s, 0, 1000) {
			return bad("speeds", s, fmt.Sprintf("server %d's speed in (0, 1000]", i+1))
		}
	}
	for i, w := range c.Weights {
		if w < 0 || w > 65535 {
			return bad("weights", w, fmt.Sprintf("server %d's weight in 0..65535", i+1))
		}
	}
	return nil
}

// splitList splits a comma-separated list, refusing empty items.
func splitList(flag, s string) ([]string, error) {
	if s == "" {
		return nil, fmt.Errorf("bench sched: --%s is empty", flag)
	}
	items := strings.Split(s, ",")
	for i, it := range items {
		items[i] = strings.TrimSpace(it)
		if items[i] == "" {
			return nil, fmt.Errorf("bench sched: --%s %q has an empty item", flag, s)
		}
	}
	return items, nil
}

func parseSpeeds(s string) ([]float64, error) {
	items, err := splitList("speeds", s)
	if err != nil {
		return nil, err
	}
	out := make([]float64, len(items))
	for i, it := range items {
		if out[i], err = strconv.ParseFloat(it, 64); err != nil {
			return nil, fmt.Errorf("bench sched: --speeds %q: %q is not a number", s, it)
		}
	}
	return out, nil
}

func parseWeights(s string) ([]int32, error) {
	items, err := splitList("weights", s)
	if err != nil {
		return nil, err
	}
	out := make([]int32, len(items))
	for i, it := range items {
		w, err := strconv.ParseInt(it, 10, 32)
		if err != nil || w < 0 || w > 65535 {
			return nil, fmt.Errorf("bench sched: --weights %q: %q is not a weight 0..65535", s, it)
		}
		out[i] = int32(w)
	}
	return out, nil
}

func parseDists(s string) ([]Dist, error) {
	items, err := splitList("dist", s)
	if err != nil {
		return nil, err
	}
	var exp, par bool
	for _, it := range items {
		switch Dist(it) {
		case Exp:
			exp = true
		case Pareto:
			par = true
		default:
			return nil, fmt.Errorf("bench sched: --dist %q: unknown distribution %q (exp, pareto)", s, it)
		}
	}
	var out []Dist
	if exp {
		out = append(out, Exp)
	}
	if par {
		out = append(out, Pareto)
	}
	return out, nil
}

// parseScheds returns the named schedulers (or all) in sched.Names order,
// without duplicates.
func parseScheds(s string) ([]string, error) {
	if s == "all" {
		return sched.Names(), nil
	}
	items, err := splitList("sched", s)
	if err != nil {
		return nil, err
	}
	want := map[string]bool{}
	for _, it := range items {
		if _, err := sched.New(it); err != nil {
			return nil, fmt.Errorf("bench sched: --sched %q: unknown scheduler %q", s, it)
		}
		want[it] = true
	}
	var out []string
	for _, n := range sched.Names() {
		if want[n] {
			out = append(out, n)
		}
	}
	return out, nil
}
